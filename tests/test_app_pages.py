"""Every page of the dashboard under streamlit.testing.v1.AppTest, on small models in a temporary models folder."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from bookembed import projection as proj
from bookembed.store import load_model_folder
from conftest import TINY_BOOKS, WAIT_CEILING_S, make_fake_model, write_ndjson

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
NASTY = "<b>Bold</b> & <script>alert(1)</script>"


@pytest.fixture
def fake_demo(models) -> Path:
    """models/demo: the 60-book fake model with nasty titles."""
    return make_fake_model(models / "demo")


@pytest.fixture
def tiny_demo(models, tiny_trained_model) -> Path:
    """models/demo: a real (briefly trained) model of the tiny records, War and Peace among them."""
    shutil.copytree(tiny_trained_model, models / "demo")
    return models / "demo"


def app(**query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=WAIT_CEILING_S)
    for key, value in query.items():
        at.query_params[key] = value
    return at


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def page(at: AppTest, name: str) -> AppTest:
    return ok(at.switch_page(f"pages/{name}.py").run())


def plain(markdown: str) -> str:
    """Markdown text as shown: backslash escapes removed."""
    return re.sub(r"\\(.)", r"\1", markdown)


def texts(at: AppTest) -> list[str]:
    return [t.value for t in at.text]


def run_until(at: AppTest, done, timeout: float = WAIT_CEILING_S) -> AppTest:
    """Rerun (as the page's progress fragment would) until ``done(at)``."""
    deadline = time.time() + timeout
    while not done(at):
        assert time.time() < deadline, "timed out waiting for the page"
        time.sleep(0.5)
        ok(at.run())
    return at


def charts(at: AppTest) -> list[dict]:
    return [json.loads(e.proto.spec) for e in at.get("plotly_chart")]


def book_points(spec: dict) -> list[int]:
    """Book ids drawn by the map's "books" traces (base64 typed arrays or lists)."""
    import base64

    import numpy as np

    ids = []
    for trace in spec["data"]:
        if trace.get("meta") != "books":
            continue
        data = trace["customdata"]
        if isinstance(data, dict):
            data = np.frombuffer(base64.b64decode(data["bdata"]), dtype=np.dtype(data["dtype"])).tolist()
        ids.extend(int(i) for i in data)
    return ids


# ---------------------------------------------------------------- frame and picker


def test_every_page_runs(fake_demo):
    at = ok(app().run())
    at.session_state["map_method"] = "pca"  # UMAP has its own test
    assert [t.value for t in at.title] == ["Search"]
    for name, title in [("map", "Map"), ("export", "Export"), ("model", "Model"), ("train", "Train a model"),
                        ("search", "Search")]:
        page(at, name)
        assert title in [t.value for t in at.title], name
        assert at.sidebar.selectbox(key="model").value == "demo"


def test_picker_lists_model_folders_and_new_ones_without_restart(fake_demo, models):
    at = ok(app().run())
    assert at.selectbox(key="model").options == ["demo"]
    make_fake_model(models / "second", n_books=30)
    (models / "not-a-model").mkdir()
    ok(at.run())
    assert at.selectbox(key="model").options == ["demo", "second"]
    ok(at.selectbox(key="model").select("second").run())
    assert "30 books" in " ".join(c.value for c in at.sidebar.caption)
    page(at, "model")
    assert at.metric[0].label == "Held-out AUC"
    assert "The model in the folder **second**" in at.caption[0].value


def test_the_model_can_be_chosen_in_the_url(fake_demo, models):
    make_fake_model(models / "other", n_books=25)
    at = ok(app(model="other").run())
    assert at.selectbox(key="model").value == "other"
    assert "25 books" in " ".join(c.value for c in at.sidebar.caption)


def test_a_damaged_model_folder_is_explained(models):
    path = make_fake_model(models / "demo")
    (path / "book_vectors.npy").write_bytes(b"garbage")
    at = ok(app().run())
    assert at.error and "book_vectors.npy" in plain(at.error[0].value)


# ---------------------------------------------------------------- search


def test_the_query_is_shared_between_pages(tiny_demo):
    from bookembed import ui

    at = ok(app(book="War and Peace").run())
    at.session_state["map_method"] = "pca"
    page(at, "map")
    assert at.text_input(key="map_text").value == "War and Peace"
    ok(at.text_input(key="map_text").input("The Two Towers").run())
    page(at, "search")
    assert at.text_input(key="search_text").value == "The Two Towers"
    # a clicked result row (or anything else) that sets the query is shown on the next run
    at.session_state[ui.QUERY] = ["I, Robot"]
    ok(at.run())
    assert at.text_input(key="search_text").value == "I, Robot"
    assert "I, Robot" in texts(at)


def test_search_from_the_url_finds_anna_karenina(tiny_demo):
    at = ok(app(book="War and Peace").run())
    assert at.text_input(key="search_text").value == "War and Peace"
    assert "War and Peace" in texts(at)
    table = at.dataframe[0].value
    assert list(table.columns[:6]) == ["rank", "title", "similarity", "author", "genre", "year"]
    assert "shared links" in table.columns
    # Tolstoy's other books come first; Anna Karenina shares all six of War and Peace's links
    tolstoy = {"Anna Karenina", "Resurrection (novel)", "The Death of Ivan Ilyich"}
    assert set(table["title"].iloc[:3]) == tolstoy
    assert "leo tolstoy" in table["shared links"].iloc[0]
    assert table["similarity"].is_monotonic_decreasing
    assert at.query_params["book"] == "War and Peace"


def test_typing_a_title_is_fuzzy_and_accent_insensitive_and_goes_to_the_url(tiny_demo):
    at = ok(app().run())
    assert [plain(i.value) for i in at.info] == [  # the hint when nothing is typed
        "Type part of a title above. Several books can be combined: their average is searched, "
        "as if asking what readers of all of them would read next."]
    ok(at.text_input(key="search_text").input("anna karénina").run())
    assert "Anna Karenina" in texts(at)
    assert at.query_params["book"] == "Anna Karenina"
    ok(at.text_input(key="search_text").input("the hobit").run())  # typo
    assert "The Hobbit" in texts(at)
    ok(at.text_input(key="search_text").input("zzzz qqqq").run())
    assert [plain(w.value) for w in at.warning] == ["No title matches that; try fewer or other words."]
    assert not at.dataframe


def test_several_books_are_averaged(tiny_demo):
    at = ok(app(book=["The Hobbit", "Foundation (Asimov novel)"]).run())
    assert at.multiselect[0].value == ["The Hobbit"]
    assert "The Hobbit\nFoundation (Asimov novel)" in texts(at)
    assert any("average of these 2" in c.value for c in at.caption)
    titles = set(at.dataframe[0].value["title"])
    assert not titles & {"The Hobbit", "Foundation (Asimov novel)"}
    # "Add another book" keeps the current one and clears the box
    ok(at.text_input(key="search_text").input("I, Robot").run())
    ok(at.button(key="search_add").click().run())
    assert at.text_input(key="search_text").value == ""
    assert at.multiselect[0].value == ["The Hobbit", "I, Robot"]
    assert at.query_params["book"] == ["The Hobbit", "I, Robot"]


def test_least_similar_and_genre_filter(tiny_demo):
    at = ok(app(book="War and Peace").run())
    most = at.dataframe[0].value
    ok(at.toggle(key="least").set_value(True).run())
    least = at.dataframe[0].value
    assert least["similarity"].iloc[0] < most["similarity"].iloc[0]
    assert "Least similar to" in [s.value for s in at.subheader]
    ok(at.toggle(key="least").set_value(False).run())
    genres = at.selectbox(key="genre").options
    assert genres[0] == "All genres" and "fantasy" in genres
    ok(at.selectbox(key="genre").select("fantasy").run())
    model = load_model_folder(tiny_demo)
    found = at.dataframe[0].value["title"]
    assert len(found) and all(model.books.set_index("title").loc[t, "primary_genre"] == "fantasy" for t in found)
    # a link with the filter reproduces the view (the browser keeps the bound widgets in the URL)
    again = ok(app(book="War and Peace", genre="fantasy", k="5").run())
    assert again.selectbox(key="genre").value == "fantasy" and again.slider(key="k").value == 5
    assert again.dataframe[0].value["title"].tolist() == found.tolist()[:5]


def test_links_modes(tiny_demo):
    at = ok(app(mode="Links").run())
    ok(at.text_input(key="link").input("middle-earth").run())
    assert at.dataframe[0].value["link"].iloc[0] != "middle-earth"
    assert "link" in at.dataframe[0].value.columns
    ok(at.radio(key="links_mode").set_value("Books for a link").run())
    assert "title" in at.dataframe[0].value.columns
    assert set(at.dataframe[0].value["title"].head(3)) <= {"The Fellowship of the Ring", "The Two Towers",
                                                           "The Return of the King", "The Hobbit"}
    ok(at.radio(key="links_mode").set_value("Links for a book").run())
    ok(at.text_input(key="search_text").input("Foundation and Empire").run())
    table = at.dataframe[0].value
    assert "linked" in table.columns and table["linked"].iloc[:3].any()


def test_markup_in_titles_stays_text(fake_demo):
    at = ok(app(book=NASTY).run())
    assert NASTY in texts(at)
    assert not at.markdown or all("<script>" not in m.value for m in at.markdown)
    assert NASTY not in " ".join(m.value for m in at.markdown)


# ---------------------------------------------------------------- map


def test_map_draws_every_book_and_highlights_the_query(tiny_demo):
    at = ok(app(book="War and Peace").run())
    at.session_state["map_method"] = "pca"
    page(at, "map")
    spec = charts(at)[0]
    model = load_model_folder(tiny_demo)
    assert sorted(book_points(spec)) == list(range(model.n_books))
    metas = [t.get("meta") for t in spec["data"]]
    assert "query" in metas and "neighbours" in metas
    assert all(t["type"] == "scatter" for t in spec["data"])  # SVG: a small model (see ui.map.SVG_UP_TO)
    assert any("faithfulness" in c.value for c in at.caption)
    assert proj.load_projection(model, proj.PCASettings()) is not None  # cached in the folder
    assert at.text_input(key="map_text").value == "War and Peace"


def test_map_computes_umap_in_the_background_then_draws(fake_demo):
    at = ok(app().run())
    page(at, "map")
    run_until(at, lambda a: bool(a.get("plotly_chart")))
    assert sorted(book_points(charts(at)[0])) == list(range(60))
    assert proj.cached_projections(load_model_folder(fake_demo))[0].method == "umap"


def test_map_options_colour_3d_and_tsne(fake_demo):
    at = ok(app().run())
    at.session_state["map_method"] = "pca"
    page(at, "map")
    ok(at.selectbox(key="map_color").select("year").run())
    assert any(t.get("name") == "year" for t in charts(at)[0]["data"])
    ok(at.radio(key="map_dims").set_value(3).run())
    assert {t["type"] for t in charts(at)[0]["data"]} == {"scatter3d"}
    ok(at.radio(key="map_method").set_value("tsne").run())
    run_until(at, lambda a: bool(a.get("plotly_chart")))
    assert sorted(book_points(charts(at)[0])) == list(range(60))


def test_map_selection_is_listed_exported_and_saved_as_a_view(fake_demo):
    at = ok(app().run())
    at.session_state["map_method"] = "pca"
    at.session_state["selected_ids"] = [0, 3, 5]
    page(at, "map")
    assert any("3 books selected" in c.value for c in at.caption)
    table = at.dataframe[0].value
    assert table["title"].tolist()[0] == NASTY and len(table) == 3
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Selection for the Projector (zip)" in labels and "Selection as CSV" in labels
    form_input = [t for t in at.text_input if t.label == "Save the current view as"][0]
    form_input.input("three books")
    ok([b for b in at.button if b.label == "Save view"][0].click().run())
    views = proj.load_views(load_model_folder(fake_demo))
    assert views[0].name == "three books" and views[0].selected == (0, 3, 5)
    assert views[0].projection == proj.projection_key(proj.PCASettings())
    assert views[0].color_by == "genre"
    ok([b for b in at.button if b.label == "Clear selection"][0].click().run())
    assert at.session_state["selected_ids"] == []
    ok([b for b in at.button if b.label == "Open"][0].click().run())
    assert at.session_state["selected_ids"] == [0, 3, 5]


# ---------------------------------------------------------------- export and model


def test_export_offers_projector_files_and_the_selection(fake_demo):
    at = ok(app().run())
    page(at, "export")
    labels = [b.proto.label for b in at.get("download_button")]
    assert {"vectors.tsv", "metadata.tsv", "projector_config.json", "All as zip"} <= set(labels)
    assert [plain(i.value) for i in at.info] == [  # nothing selected yet
        "Nothing selected. Select books on the Map page with the box or lasso tool to export only those."]
    at.session_state["selected_ids"] = [1, 2]
    ok(at.run())
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Selection for the Projector (zip)" in labels
    assert len(at.dataframe[0].value) == 2
    ok(at.radio(key="export_what").set_value("links").run())
    assert any("40 links" in c.value for c in at.caption)


def test_model_page_shows_metrics_loss_and_corpus(tiny_demo):
    at = ok(app().run())
    page(at, "model")
    labels = [m.label for m in at.metric]
    assert labels[0] == "Held-out AUC" and labels[1].startswith("Genre purity")
    assert {"Books", "Links", "Pairs"} <= set(labels)
    assert charts(at) and any(t["name"] == "epoch mean" for t in charts(at)[0]["data"])
    links = at.dataframe[0].value
    assert links["books"].is_monotonic_decreasing


# ---------------------------------------------------------------- training


def _train_form(at: AppTest):
    return [b for b in at.button if b.label == "Train"][0]


def test_without_a_model_the_app_offers_training_and_a_bad_upload_is_harmless(models):
    make_fake_model(models / "keep")
    before = sorted(p.name for p in models.iterdir())
    at = ok(app().run())
    assert [t.value for t in at.title] == ["No model yet"]
    ok(at.radio(key="training_source").set_value("upload").run())  # the upload boxes show once it is chosen
    at.file_uploader[0].set_value(("bad.ndjson", b'["only a title"]\nnot json\n', "application/json"))
    at.number_input[1].set_value(2)  # epochs
    ok(_train_form(at).click().run())
    run_until(at, lambda a: bool(a.error))
    assert "line 1 of bad.ndjson" in plain(at.error[0].value)
    assert "nothing was saved" in plain(at.error[0].value)
    assert sorted(p.name for p in models.iterdir()) == before
    assert (models / "keep" / "manifest.json").is_file()


def test_training_an_uploaded_file_shows_progress_and_selects_the_new_model(models, tmp_path, monkeypatch):
    import threading

    from bookembed import pipeline

    # a tiny corpus trains in a blink: hold the job at its first progress report until the page has shown it
    gate, reached = threading.Event(), threading.Event()
    real = pipeline.train_model_folder

    def held(*args, progress=None, **kwargs):
        def report(p):
            reached.set()
            gate.wait(60)
            progress(p)
        return real(*args, progress=report, **kwargs)

    monkeypatch.setattr(pipeline, "train_model_folder", held)
    records = write_ndjson(tmp_path / "tiny.ndjson", TINY_BOOKS).read_bytes()
    at = ok(app().run())
    page(at, "train")
    ok(at.radio(key="training_source").set_value("upload").run())
    at.text_input[0].input("mine")
    at.file_uploader[0].set_value(("tiny.ndjson", records, "application/x-ndjson"))
    at.number_input[0].set_value(8)  # vector length
    at.number_input[1].set_value(5)  # epochs
    ok(_train_form(at).click().run())
    assert "Training" in [s.value for s in at.subheader] and at.get("progress")
    # held inside training: the running stage by name with its own clock, and the stages already
    # done with their times
    assert reached.wait(WAIT_CEILING_S)
    at.run()
    assert at.get("progress")[0].proto.text.startswith("training ")
    assert any(c.value.startswith("Done: reading ") and "cleaning " in c.value for c in at.caption)
    gate.set()
    run_until(at, lambda a: a.session_state["model"] == "mine" if "model" in a.session_state else False)
    assert (models / "mine" / "manifest.json").is_file()
    assert at.selectbox(key="model").options == ["demo (not trained yet)", "mine"]
    assert at.selectbox(key="model").value == "mine"
    assert any("Trained and selected" in s.value for s in at.success)
    page(at, "search")
    assert [t.value for t in at.title] == ["Search"]


def test_training_refuses_to_overwrite_without_asking(fake_demo):
    at = ok(app().run())
    page(at, "train")
    at.text_input[0].input("demo")
    ok(_train_form(at).click().run())
    assert at.error and "already exists" in plain(at.error[0].value)
    at.text_input[0].input("../escape")
    ok(_train_form(at).click().run())
    assert at.error and "folder name" in plain(at.error[0].value)


def test_export_above_the_projectors_limit_offers_a_sample_shards_and_parquet(fake_demo, monkeypatch):
    import io
    import zipfile

    import pyarrow.parquet as pq

    from bookembed import projector, ui

    monkeypatch.setattr(projector, "TENSORBOARD_MAX_POINTS", 25)
    at = ok(app().run())
    page(at, "export")
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Sample of 25 books by genre (zip)" in labels and "All 60 in shards (zip)" in labels
    assert "All as Parquet" in labels and "All as zip" not in labels  # nothing made before a click
    model = load_model_folder(fake_demo)
    sample = zipfile.ZipFile(io.BytesIO(ui.large_export(model, "books", "sample")))
    assert 20 <= sample.read("vectors.tsv").count(b"\n") <= 25
    shards = zipfile.ZipFile(io.BytesIO(ui.large_export(model, "books", "shards")))
    assert sorted(n for n in shards.namelist() if n.startswith("vectors")) == [f"vectors-0000{i}.tsv" for i in range(3)]
    table = pq.read_table(io.BytesIO(ui.large_export(model, "books", "parquet")))
    assert table.num_rows == 60


def test_model_page_puts_a_sampled_figures_error_under_it(tiny_demo):
    """Sampled purity and Hits@10 read "0.412" with "± 0.007" under it, not one line cut short."""
    manifest = json.loads((tiny_demo / "manifest.json").read_text())
    metrics = manifest["metrics"]
    metrics["genre_purity"] = {**metrics["genre_purity"], "purity": 0.412, "stderr": 0.007, "queries": 5,
                               "books": metrics["genre_purity"]["books"] + 100}
    (tiny_demo / "manifest.json").write_text(json.dumps(manifest))
    at = ok(app().run())
    page(at, "model")
    purity = next(m for m in at.metric if m.label.startswith("Genre purity"))
    assert purity.value == "0.412" and purity.delta == "± 0.007"
    assert at.metric[0].label == "Held-out AUC" and not at.metric[0].delta  # exact figures have none


def test_the_sidebar_prefetches_plotly_except_on_the_page_that_draws_its_own_charts(fake_demo):
    """The invisible chart makes the browser fetch Plotly before the first map; the Map page draws Plotly
    charts itself, so it leaves that chart out (a chart more only delays its picture). Both prefetch the table."""
    model_first = ok(app().run())
    assert len(model_first.sidebar.get("plotly_chart")) == 1 and len(model_first.sidebar.dataframe) == 1
    map_first = page(app(), "map")
    assert len(map_first.sidebar.get("plotly_chart")) == 0 and len(map_first.sidebar.dataframe) == 1
    assert "Map" in [t.value for t in map_first.title]


@pytest.mark.parametrize("points_above, expected", [(10_000, "scattergl"), (10, "scatter")])
def test_the_prefetched_chart_is_webgl_only_where_the_first_map_will_be(fake_demo, monkeypatch, points_above,
                                                                        expected):
    """Above ``SVG_UP_TO`` books Plotly's map is WebGL, so the prefetch sets WebGL up; above ``POINTS_ABOVE`` the
    point renderer draws the map instead, and setting up WebGL would only be a wait."""
    from bookembed import mapviz
    from bookembed.ui import map as ui_map

    monkeypatch.setattr(ui_map, "SVG_UP_TO", 5)  # the demo's 30 books: a WebGL map for Plotly
    monkeypatch.setattr(mapviz, "POINTS_ABOVE", points_above)
    at = ok(app().run())
    (chart,) = at.sidebar.get("plotly_chart")
    assert json.loads(chart.proto.spec)["data"][0]["type"] == expected
