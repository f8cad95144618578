"""Pages that answer at once: what a rerun recomputes, and what the Map page says while it computes.

Behaviour only (no timings): a selection-only change reuses the cached map
figure, a small model's map is SVG rather than WebGL, and the progress box
speaks of the model's own size.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from bookembed import mapviz
from bookembed import projection as proj
from test_app_pages import app, charts, fake_demo, ok, page, plain  # noqa: F401 - fixtures


@pytest.fixture
def figure_builds(monkeypatch) -> list[int]:
    """Counts calls of ``mapviz.map_figure`` (the map's figure builder)."""
    calls: list[int] = []
    real = mapviz.map_figure

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(mapviz, "map_figure", counted)
    return calls


def test_a_selection_change_does_not_rebuild_the_map_figure(fake_demo, figure_builds):
    at = ok(app().run())
    at.session_state["map_method"] = "pca"
    page(at, "map")
    assert len(figure_builds) == 1
    ok(at.selectbox(key="map_color").select("country").run())
    assert len(figure_builds) == 2  # a new colouring is a new figure
    ok(at.selectbox(key="map_color").select("genre").run())
    assert len(figure_builds) == 2  # and the first one is still cached
    first = charts(at)[0]
    at.session_state["selected_ids"] = [0, 3, 5]  # as a box selection leaves it
    ok(at.run())
    assert any("3 books selected" in c.value for c in at.caption)
    assert len(figure_builds) == 2  # the same figure, from the cache
    assert charts(at)[0] == first
    ok([b for b in at.button if b.label == "Clear selection"][0].click().run())
    assert at.session_state["selected_ids"] == []
    assert not any("books selected" in c.value for c in at.caption)


def test_a_small_models_map_is_svg_and_keeps_every_point(fake_demo):
    at = ok(app().run())
    at.session_state["map_method"] = "pca"
    page(at, "map")
    ok(at.toggle(key="map_density").set_value(True).run())
    spec = charts(at)[0]
    assert not any(t["type"] == "scattergl" for t in spec["data"])
    books = [t for t in spec["data"] if t.get("meta") == "books"]
    assert books and all(t["type"] == "scatter" for t in books)


def test_svg_traces_changes_only_the_trace_type():
    from bookembed.ui.map import svg_traces

    import pandas as pd

    rng = np.random.default_rng(0)
    books = pd.DataFrame({"title": [f"b{i}" for i in range(30)], "primary_genre": ["x", "y", "z"] * 10})
    figure = mapviz.map_figure(rng.normal(size=(30, 2)), books, query_ids=[1], neighbour_ids=[2, 3], selected_ids=[4])
    svg = svg_traces(figure)
    assert [t.type for t in figure.data] == ["scattergl"] * len(figure.data)  # the original is left as it was
    assert [t.type for t in svg.data] == ["scatter"] * len(figure.data)
    for a, b in zip(figure.data, svg.data):
        left, right = a.to_plotly_json(), b.to_plotly_json()
        left.pop("type"), right.pop("type")
        assert left.keys() == right.keys()
        assert np.array_equal(np.asarray(a.customdata), np.asarray(b.customdata))
    assert svg.layout == figure.layout


def test_the_progress_box_speaks_of_this_models_size(fake_demo, monkeypatch):
    gate = threading.Event()
    real = proj.project

    def held(*args, **kwargs):
        gate.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(proj, "project", held)
    try:
        at = ok(app().run())
        page(at, "map")  # UMAP, not cached: computed in the background
        heading = " ".join(plain(m.value) for m in at.markdown)
        assert "for 60 books" in heading
        assert "37,020" not in heading
        assert at.get("progress")
    finally:
        gate.set()


# ---------------------------------------------------------------- Search: several books, and what explains a result


def test_several_books_each_have_a_column_and_close_to_all_is_a_choice(fake_demo):
    from bookembed.neighbors import similar_books
    from bookembed.store import load_model_folder

    query = ["Book 12", "Book 30", "Book 45"]
    model = load_model_folder(fake_demo)
    unit = model.unit_vectors("book")
    at = ok(app(book=query).run())
    assert at.segmented_control(key="combine").value == "mean"
    for combine in ("mean", "min", "rrf"):
        if combine != "mean":
            ok(at.segmented_control(key="combine").set_value(combine).run())
        table = at.dataframe[0].value
        expected = similar_books(model, query, 10, combine=combine)
        assert table["title"].tolist() == expected["title"].tolist()
        columns = ["to 1", "to 2", "to 3"]
        assert set(columns) <= set(table.columns)
        # each column is the exact cosine to its query book
        ids = [model.title_index[t] for t in table["title"]]
        cosines = unit[ids] @ unit[[model.title_index[t] for t in query]].T
        np.testing.assert_allclose(table[columns].to_numpy(dtype=float), cosines, atol=1e-5)
        if combine == "min":
            np.testing.assert_allclose(table["similarity"], cosines.min(axis=1), atol=1e-5)
            assert any("lowest similarity" in plain(c.value) for c in at.caption)
    # a link keeps the choice (the browser keeps the bound widget in the URL, by the name on the screen)
    again = ok(app(book=query, combine="Close to all").run())
    assert again.segmented_control(key="combine").value == "min"
    expected = similar_books(model, query, 10, combine="min")
    assert again.dataframe[0].value["title"].tolist() == expected["title"].tolist()


def test_one_book_has_no_combine_choice_and_no_columns_per_book(fake_demo):
    at = ok(app(book="Book 12").run())
    assert not at.segmented_control
    assert not [c for c in at.dataframe[0].value.columns if c.startswith("to ")]


@pytest.fixture
def real_demo(models):
    """models/demo: the shipped demo model (478 classic books)."""
    import shutil

    from test_app_pages import ROOT

    return shutil.copytree(ROOT / "models" / "demo", models / "demo")


def test_the_explanation_leads_with_rare_links_and_counts_common_ones_apart(real_demo):
    from bookembed.neighbors import similar_books, split_common
    from bookembed.store import load_model_folder

    at = ok(app(book="War and Peace").run())
    table = at.dataframe[0].value
    model = load_model_folder(real_demo)
    frame = similar_books(model, "War and Peace", 10)
    assert table["title"].tolist() == frame["title"].tolist()
    for (_, row), shared in zip(table.iterrows(), frame["shared_links"]):
        informative, common = split_common(model, list(shared))
        assert row["shared links"] == " · ".join(informative)
        assert row["common links"] == (f"+ {len(common)} such as {common[0]}" if common else "")
        assert row["shared"] == len(shared)
    first = table.iloc[0]
    assert first["title"] == "Anna Karenina"
    assert not first["shared links"].startswith("novel") and first["common links"].endswith("such as novel")
