"""Projector export: TSV files, config, bookmarks, Parquet, the command (no TensorBoard needed)."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bookembed import export as ex
from bookembed import projector as pj
from bookembed.cli import export_lines


def export_command(*args, **kwargs) -> list[str]:
    """The lines `bookembed export` prints."""
    return export_lines(ex.export_folder(*args, **kwargs))
from bookembed.errors import BookembedError
from bookembed.store import load_model_folder
from conftest import WAIT_CEILING_S

ROOT = Path(__file__).resolve().parents[1]


def tsv_clean(text: str) -> str:
    """What a value must look like in a TSV field (independent of the exporter's own helper)."""
    # Tabs and every line break Python's str.splitlines knows (a superset of "\n" and "\r").
    return re.sub(r"[\t\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]", " ", text)


def metadata_rows(data: bytes) -> list[list[str]]:
    text = data.decode("utf-8")
    assert text.endswith("\n")
    return [line.split("\t") for line in text[:-1].split("\n")]


def vectors_from_tsv(data: bytes) -> np.ndarray:
    text = data.decode("ascii")
    assert text.endswith("\n") and "\r" not in text
    rows = [[float(v) for v in line.split("\t")] for line in text[:-1].split("\n")]
    return np.array(rows, dtype=np.float64).astype(np.float32)


def add_projection(model_dir: Path, key: str, coords: np.ndarray, method: str | None, **info) -> None:
    folder = model_dir / "projections"
    folder.mkdir(exist_ok=True)
    np.save(folder / f"{key}.npy", coords)
    # A usable projection names the vectors it was made from; "vectors" in ``info`` overrides that.
    checksum = load_model_folder(model_dir).vectors_checksum
    params = {"dims": int(coords.shape[1]), **info.pop("params", {})}
    sidecar = {"key": key, "method": method, "dims": int(coords.shape[1]), "params": params,
               "n_books": int(coords.shape[0]), "created": "2024-01-01T00:00:00Z", "faithfulness": None,
               "vectors": checksum, **info}
    (folder / f"{key}.json").write_text(json.dumps(sidecar), encoding="utf-8")


@pytest.fixture
def views_model(fake_model) -> Path:
    """The fake model with cached projections (good and bad) and saved map views."""
    rng = np.random.default_rng(7)
    n = 60
    umap_params = {"n_neighbors": 12, "min_dist": 0.2}
    add_projection(fake_model, "umap-2d-aaa", rng.normal(size=(n, 2)).astype(np.float32), "umap", params=umap_params)
    tsne_params = {"perplexity": 25}
    add_projection(fake_model, "tsne-3d-bbb", rng.normal(size=(n, 3)).astype(np.float32), "tsne", params=tsne_params)
    add_projection(fake_model, "pca-2d-ccc", rng.normal(size=(n, 2)).astype(np.float32), "pca")
    add_projection(fake_model, "short-rows", rng.normal(size=(n - 1, 2)).astype(np.float32), "umap")
    add_projection(fake_model, "stale", rng.normal(size=(n, 2)).astype(np.float32), "umap", vectors="0" * 40)
    views = [
        {"name": "Tolkien corner", "projection": "umap-2d-aaa", "selected": [0, 4, 9], "query": None,
         "color_by": "genre", "created": "2024-01-01T00:00:00Z"},
        {"name": "t-SNE 3-D", "projection": "tsne-3d-bbb", "selected": [1], "query": ["Война и мир"],
         "color_by": "country", "created": "2024-01-01T00:00:00Z"},
        {"name": "pca", "projection": "pca-2d-ccc", "selected": [], "query": None, "color_by": "nothing"},
        {"name": "no map", "projection": None, "selected": [2, 3, 99], "query": None, "color_by": "genre"},
        {"name": "gone", "projection": "umap-2d-deleted", "selected": [5], "query": None, "color_by": "genre"},
        {"name": "stale map", "projection": "stale", "selected": [], "query": None, "color_by": "genre"},
        "not a view",
    ]
    (fake_model / "views.json").write_text(json.dumps({"views": views}, ensure_ascii=False), encoding="utf-8")
    return fake_model


# ---------------------------------------------------------------- vectors.tsv


def test_vectors_tsv_round_trips_float32_exactly(fake_model):
    model = load_model_folder(fake_model)
    files = pj.projector_files(model)
    data = files["vectors.tsv"]
    lines = data.decode("ascii").split("\n")
    assert lines[-1] == "" and len(lines) - 1 == model.n_books  # LF after every row, nothing else
    assert b"\r" not in data
    assert all(len(line.split("\t")) == model.dim for line in lines[:-1])  # no header, no label column
    np.testing.assert_array_equal(vectors_from_tsv(data), model.book_vectors)


def test_format_rows_keeps_awkward_float32_values():
    info = np.finfo(np.float32)
    values = np.array(
        [[info.max, -info.max, info.tiny, info.smallest_subnormal],
         [-0.0, 0.0, 1e-8, 123456789.0],
         [np.float32(0.1), np.float32(1 / 3), -np.float32(2 / 3), 7.0]],
        dtype=np.float32,
    )
    rng = np.random.default_rng(3)
    spread = rng.standard_cauchy(size=(500, 4)) * 10.0 ** rng.integers(-30, 30, size=(500, 4))
    values = np.vstack([values, spread.astype(np.float32)])
    back = vectors_from_tsv(pj.format_rows(values).encode("ascii"))
    assert back.view(np.uint32).tolist() == values.view(np.uint32).tolist()  # bit for bit, -0.0 included


@pytest.mark.parametrize("what", ["books", "links"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_is_refused_naming_the_row(fake_model, what, bad):
    model = load_model_folder(fake_model)
    attr = "book_vectors" if what == "books" else "link_vectors"
    vectors = getattr(model, attr).copy()
    vectors[3, 1] = bad
    model = dataclasses.replace(model, **{attr: vectors})
    with pytest.raises(BookembedError) as err:
        pj.projector_files(model, what)
    message = str(err.value)
    assert "\n" not in message and "NaN or Inf" in message and " 3 " in message
    name = model.titles[3] if what == "books" else model.links[3]
    assert repr(name) in message
    # Rows without the bad value export fine.
    assert pj.projector_files(model, what, ids=[0, 1, 2])["vectors.tsv"].count(b"\n") == 3


# ---------------------------------------------------------------- metadata.tsv


def test_book_metadata_has_header_and_one_row_per_vector(fake_model):
    model = load_model_folder(fake_model)
    rows = metadata_rows(pj.projector_files(model)["metadata.tsv"])
    header, body = rows[0], rows[1:]
    for column in ("title", "author", "genre", "year", "country", "publisher"):
        assert column in header
    assert len(body) == model.n_books
    assert all(len(row) == len(header) for row in body)
    col = {name: i for i, name in enumerate(header)}
    books = model.books
    for i, row in enumerate(body):
        assert row[col["title"]] == tsv_clean(books["title"][i])
        assert row[col["author"]] == books["author"][i]
        year = books["year"][i]
        assert row[col["year"]] == str(int(year))  # "1869", not "1869.0"
        pages = books["pages"][i]
        assert row[col["pages"]] == ("" if pd.isna(pages) else str(int(pages)))


def test_nasty_titles_stay_text(fake_model):
    model = load_model_folder(fake_model)
    text = pj.projector_files(model)["metadata.tsv"].decode("utf-8")
    for title in ["<b>Bold</b> & <script>alert(1)</script>", "=1+1", "Война и мир", "红楼梦", "Emoji 📚 book", '"Quoted"',
                  "  Leading spaces", "Tab here", "Line break"]:
        assert "\n" + title + "\t" in text  # verbatim at the start of a row: no quoting, no escaping, no trimming


def test_single_column_has_no_header_and_no_blank_lines(fake_model):
    model = load_model_folder(fake_model)
    books = model.books.copy()
    books.loc[20, "title"] = ""
    books.loc[21, "title"] = "   "
    books.loc[22, "title"] = "\t\r\n"
    books.loc[23, "title"] = "\u3000\ufeff"  # blank to JavaScript's trim()
    model = dataclasses.replace(model, books=books)
    data = pj.projector_files(model, columns=["title"])["metadata.tsv"]
    text = data.decode("utf-8")
    lines = text[:-1].split("\n")
    assert len(lines) == model.n_books
    assert "\t" not in text
    assert lines[0] == tsv_clean(books["title"][0])  # the first line is data, not a header
    assert all(line.strip() and line.strip("\u3000\ufeff ") for line in lines)
    assert [lines[i] for i in (20, 21, 22, 23)] == [pj.PLACEHOLDER] * 4
    assert lines[24] == books["title"][24]


def test_every_line_break_becomes_a_space(fake_model):
    model = load_model_folder(fake_model)
    books = model.books.copy()
    books.loc[30, "title"] = "a\u2028b\x85c\x0bd\re"
    books.loc[31, "author"] = "x\ny\tz"
    model = dataclasses.replace(model, books=books)
    text = pj.projector_files(model)["metadata.tsv"].decode("utf-8")
    assert len(text.splitlines()) == model.n_books + 1  # Python's notion of lines agrees too
    assert "\na b c d e\t" in text and "\tx y z\t" in text


def test_link_metadata_counts_books(fake_model):
    model = load_model_folder(fake_model)
    files = pj.projector_files(model, "links")
    rows = metadata_rows(files["metadata.tsv"])
    assert rows[0] == ["link", "books"]
    assert [r[0] for r in rows[1:]] == list(model.links)
    assert [int(r[1]) for r in rows[1:]] == model.link_counts.tolist()
    np.testing.assert_array_equal(vectors_from_tsv(files["vectors.tsv"]), model.link_vectors)
    assert "bookmarks.json" not in files  # saved views are about books


def test_unknown_column_is_an_error(fake_model):
    with pytest.raises(BookembedError, match="no metadata column 'rating'"):
        pj.projector_files(fake_model, columns=["title", "rating"])


# ---------------------------------------------------------------- config, ids, zip


def test_projector_config_points_at_the_files(views_model):
    files = pj.projector_files(views_model)
    (embedding,) = json.loads(files["projector_config.json"])["embeddings"]
    model = load_model_folder(views_model)
    assert embedding["tensorShape"] == [model.n_books, model.dim]
    refs = [embedding[k] for k in ("tensorPath", "metadataPath", "bookmarksPath")]
    for ref in refs:
        assert not Path(ref).is_absolute() and ".." not in Path(ref).parts and ref in files
    assert set(files) == set(refs) | {"projector_config.json"}


def test_no_views_means_no_bookmarks(fake_model):
    files = pj.projector_files(fake_model)
    assert set(files) == {"vectors.tsv", "metadata.tsv", "projector_config.json"}
    assert "bookmarksPath" not in json.loads(files["projector_config.json"])["embeddings"][0]


def test_ids_select_rows_in_order(views_model):
    model = load_model_folder(views_model)
    ids = [9, 4, 9, 33]
    files = pj.projector_files(model, ids=ids)
    kept = [9, 4, 33]
    np.testing.assert_array_equal(vectors_from_tsv(files["vectors.tsv"]), model.book_vectors[kept])
    titles = [r[0] for r in metadata_rows(files["metadata.tsv"])[1:]]
    assert titles == [tsv_clean(model.titles[i]) for i in kept]
    assert json.loads(files["projector_config.json"])["embeddings"][0]["tensorShape"] == [3, model.dim]
    states = json.loads(files["bookmarks.json"])
    tolkien = next(s for s in states if s["label"] == "Tolkien corner")  # selected [0, 4, 9]
    assert sorted(kept[p] for p in tolkien["selectedPoints"]) == [4, 9]
    assert all(len(s["projections"]) == 3 and s["dataSetDimensions"] == [3, model.dim] for s in states)
    coords = np.load(views_model / "projections" / "umap-2d-aaa.npy")
    got = np.array([[p["umap-0"], p["umap-1"]] for p in tolkien["projections"]], dtype=np.float32)
    np.testing.assert_array_equal(got, coords[kept])


@pytest.mark.parametrize(
    "ids, needle", [([0, 60], "book id 60"), ([-1], "book id -1"), ([], "empty"), ([1.5], "integer")]
)
def test_bad_ids_are_one_line_errors(fake_model, ids, needle):
    with pytest.raises(BookembedError) as err:
        pj.projector_files(fake_model, ids=ids)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_zip_bytes_round_trip_and_is_reproducible(fake_model):
    files = pj.projector_files(fake_model)
    data = ex.zip_bytes(files)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert {name: archive.read(name) for name in archive.namelist()} == files
    assert ex.zip_bytes(files) == data


# ---------------------------------------------------------------- bookmarks


def accessor_dimensions(state: dict) -> list:
    """The Projector's stateGetAccessorDimensions (vz_projector/data.ts), ported."""
    kind = state["selectedProjection"]
    if kind == "pca":
        return list(state["pcaComponentDimensions"])
    if kind == "tsne":
        return [0, 1, 2] if state["tSNEis3d"] else [0, 1]
    if kind == "umap":
        return [0, 1, 2] if state["umapIs3d"] else [0, 1]
    if kind == "custom":
        return ["x", "y"]
    raise AssertionError(f"the Projector throws 'Unexpected fallthrough' for {kind!r}")


def projection_components(kind: str, dims: list) -> list[str]:
    """The Projector's getProjectionComponents."""
    prefix = "linear" if kind == "custom" else kind
    return [f"{prefix}-{d}" for d in dims]


def points(state: dict, keys: list[str]) -> np.ndarray:
    """The coordinates a state stores under ``keys``, shape (n_points, len(keys))."""
    return np.array([[p[k] for k in keys] for p in state["projections"]], dtype=np.float32)


def test_bookmarks_are_states_the_projector_can_load(views_model):
    model = load_model_folder(views_model)
    states = json.loads(pj.projector_files(model)["bookmarks.json"])
    raw_views = json.loads((views_model / "views.json").read_text(encoding="utf-8"))["views"]
    names = [v["name"] for v in raw_views if isinstance(v, dict)]
    assert [s["label"] for s in states] == names  # one state per view, in order
    for state in states:
        assert state["dataSetDimensions"] == [model.n_books, model.dim]
        assert len(state["projections"]) == model.n_books
        components = projection_components(state["selectedProjection"], accessor_dimensions(state))
        assert 2 <= len(components) <= 3
        for point in state["projections"]:
            assert all(isinstance(point[c], float) and np.isfinite(point[c]) for c in components)
            assert {f"pca-{j}" for j in range(min(10, model.dim))} <= set(point)  # the PCA tab keeps working
        # restoreUIFromBookmark calls .toString() on these and reads pcaComponentDimensions[0..1]
        for key in ("tSNEPerplexity", "tSNELearningRate", "tSNEIteration", "umapNeighbors", "umapMinDist"):
            assert isinstance(state[key], (int, float))
        assert len(state["pcaComponentDimensions"]) >= 2
        assert all(0 <= p < model.n_books for p in state["selectedPoints"])
        assert state["selectedLabelOption"] == "title"
        camera = state["cameraDef"]
        assert camera["orthographic"] == (len(components) == 2) and len(camera["position"]) == 3

    by_label = {s["label"]: s for s in states}
    umap = by_label["Tolkien corner"]
    assert umap["selectedProjection"] == "umap" and not umap["umapIs3d"]
    assert umap["selectedPoints"] == [0, 4, 9] and umap["umapNeighbors"] == 12
    assert umap["selectedColorOptionName"] == "genre"
    coords = np.load(views_model / "projections" / "umap-2d-aaa.npy")
    np.testing.assert_array_equal(points(umap, ["umap-0", "umap-1"]), coords)

    tsne = by_label["t-SNE 3-D"]
    assert tsne["selectedProjection"] == "tsne" and tsne["tSNEis3d"] and tsne["tSNEIteration"] > 0
    # The Projector's own slider values: its default perplexity for 60 points, learning rate 10^1.
    assert tsne["tSNEPerplexity"] == max(5, np.ceil(np.sqrt(model.n_books) / 4)) and tsne["tSNELearningRate"] == 1
    coords = np.load(views_model / "projections" / "tsne-3d-bbb.npy")
    np.testing.assert_array_equal(points(tsne, ["tsne-0", "tsne-1", "tsne-2"]), coords)

    pca = by_label["pca"]
    assert pca["selectedProjection"] == "pca" and pca["pcaComponentDimensions"] == [0, 1]
    assert pca["selectedColorOptionName"] == "No color map"  # "nothing" is no metadata column
    coords = np.load(views_model / "projections" / "pca-2d-ccc.npy")
    np.testing.assert_array_equal(points(pca, ["pca-0", "pca-1"]), coords)

    for label in ("no map", "gone", "stale map"):  # nothing usable cached: the Projector's own PCA view
        assert by_label[label]["selectedProjection"] == "pca"
    assert by_label["no map"]["selectedPoints"] == [2, 3]  # 99 is not a book of this model


def test_projector_pca_matches_the_leading_directions(fake_model):
    model = load_model_folder(fake_model)
    pcs = pj.projector_pca(model.book_vectors)
    assert pcs.shape == (model.n_books, min(10, model.dim))
    # Like the Projector: rows centred and scaled to unit length, then the right
    # singular vectors, so the components are orthogonal and in decreasing order.
    gram = pcs.astype(np.float64).T @ pcs.astype(np.float64)
    power = np.diag(gram)
    assert np.all(np.diff(power) <= 1e-4 * power[0])
    np.testing.assert_allclose(gram - np.diag(power), 0, atol=1e-4 * power[0])
    assert power.sum() == pytest.approx(model.n_books, rel=1e-4)  # unit rows: all of the power is kept


# ---------------------------------------------------------------- Parquet


def test_parquet_holds_vectors_metadata_and_projections(views_model, tmp_path):
    import pyarrow.parquet as pq

    model = load_model_folder(views_model)
    path = ex.export_parquet(model, tmp_path / "sub" / "books.parquet", ids=[5, 0, 7])
    table = pq.read_table(path)
    rows = [5, 0, 7]
    assert table.column("id").to_pylist() == rows
    vectors = table.column("vector").combine_chunks().flatten().to_numpy().reshape(len(rows), -1)
    np.testing.assert_array_equal(vectors, model.book_vectors[rows])
    assert table.column("title").to_pylist() == [model.titles[i] for i in rows]  # original text, tabs and all
    assert table.column("year").to_pylist() == [int(model.books["year"][i]) for i in rows]
    for key in ("umap-2d-aaa", "tsne-3d-bbb", "pca-2d-ccc"):
        coords = np.load(views_model / "projections" / f"{key}.npy")
        for j, axis in enumerate("xyz"[: coords.shape[1]]):
            np.testing.assert_array_equal(table.column(f"{key}_{axis}").to_numpy(), coords[rows, j])
    names = set(table.column_names)
    assert not any(n.startswith(("short-rows", "stale")) for n in names)  # rows do not match / other vectors
    assert "tsne-3d-bbb_z" in names and "umap-2d-aaa_z" not in names
    info = json.loads(table.schema.metadata[b"bookembed"])
    assert info["what"] == "books" and info["dim"] == model.dim
    assert set(info["projections"]) == {"umap-2d-aaa", "tsne-3d-bbb", "pca-2d-ccc"}


def test_links_parquet(fake_model, tmp_path):
    import pyarrow.parquet as pq

    model = load_model_folder(fake_model)
    table = pq.read_table(ex.export_parquet(model, tmp_path / "links.parquet", what="links"))
    assert table.column("link").to_pylist() == list(model.links)
    assert table.column("books").to_pylist() == model.link_counts.tolist()
    assert table.num_rows == model.n_links


# ---------------------------------------------------------------- the command


def test_export_command_writes_everything(views_model, tmp_path):
    out = tmp_path / "export"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    lines = export_command(views_model, out)
    names = {"vectors.tsv", "metadata.tsv", "projector_config.json", "bookmarks.json", "books.parquet"}
    assert names <= {p.name for p in out.iterdir()}
    assert (out / "keep.txt").read_text() == "mine"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary leftovers
    for name in names:
        assert any(str(out / name) in line for line in lines)
    assert any("short-rows" in line for line in lines) and any("stale" in line for line in lines)
    assert all("\n" not in line for line in lines)
    # The same bytes as the download buttons get.
    for name, data in pj.projector_files(views_model).items():
        assert (out / name).read_bytes() == data
    export_command(views_model, out)  # a second run replaces the files


def test_export_command_links(fake_model, tmp_path):
    out = tmp_path / "links"
    export_command(fake_model, out, what="links")
    assert {p.name for p in out.iterdir()} == {"vectors.tsv", "metadata.tsv", "projector_config.json", "links.parquet"}


def test_titles_file_selects_rows(fake_model, tmp_path):
    titles = tmp_path / "titles.txt"
    # The exact title, a blank line, how metadata.tsv writes "Line\nbreak", leading
    # spaces, a CRLF line ending and "Tab\there" with the tab as a space.
    titles.write_bytes("Война и мир\n\nLine break\n  Leading spaces\r\n红楼梦\r\nTab here\nВойна и мир\n".encode("utf-8"))
    out = tmp_path / "out"
    export_command(fake_model, out, titles=titles)
    model = load_model_folder(fake_model)
    expected = [model.title_index[t] for t in ("Война и мир", "Line\nbreak", "  Leading spaces", "红楼梦", "Tab\there")]
    np.testing.assert_array_equal(vectors_from_tsv((out / "vectors.tsv").read_bytes()), model.book_vectors[expected])
    meta = metadata_rows((out / "metadata.tsv").read_bytes())
    assert [r[0] for r in meta[1:]] == [tsv_clean(model.titles[i]) for i in expected]


def test_unknown_title_names_file_and_line(fake_model, tmp_path):
    titles = tmp_path / "titles.txt"
    titles.write_text("Book 12\nBook 13\n\nThe Book That Is Not There\n", encoding="utf-8")
    with pytest.raises(BookembedError) as err:
        export_command(fake_model, tmp_path / "out", titles=titles)
    message = str(err.value)
    assert str(titles) in message and "line 4" in message and "The Book That Is Not There" in message
    assert "\n" not in message
    assert not (tmp_path / "out").exists()  # nothing written


def test_unreadable_titles_file(fake_model, tmp_path):
    with pytest.raises(BookembedError, match="no such titles file"):
        export_command(fake_model, tmp_path / "out", titles=tmp_path / "missing.txt")
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("Caf\xe9\n".encode("latin-1"))
    with pytest.raises(BookembedError, match="not UTF-8"):
        export_command(fake_model, tmp_path / "out", titles=latin)


def test_out_that_is_a_file(fake_model, tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(BookembedError) as err:
        export_command(fake_model, target)
    assert str(target) in str(err.value) and "\n" not in str(err.value)


def test_bad_model_folder_is_a_bookembed_error(tmp_path):
    with pytest.raises(BookembedError):
        export_command(tmp_path / "nope", tmp_path / "out")


def test_more_rows_than_tensorboard_shows_warns(views_model, tmp_path, monkeypatch):
    monkeypatch.setattr(ex, "TENSORBOARD_MAX_POINTS", 50)
    monkeypatch.setattr(pj, "TENSORBOARD_MAX_POINTS", 50)
    lines = export_command(views_model, tmp_path / "out", tensorboard=tmp_path / "tb")
    warnings = [line for line in lines if line.startswith("warning")]
    assert warnings and all("50" in w for w in warnings)
    # The files hold every row; the TensorBoard bookmarks only points it will load.
    assert (tmp_path / "tb" / "books" / "vectors.tsv").read_bytes().count(b"\n") == 60
    states = json.loads((tmp_path / "tb" / "books" / "bookmarks.json").read_bytes())
    assert all(s["dataSetDimensions"][0] == 50 and len(s["projections"]) == 50 for s in states)
    assert all(p < 50 for s in states for p in s["selectedPoints"])
    monkeypatch.setattr(ex, "TENSORBOARD_MAX_POINTS", 100_000)
    monkeypatch.setattr(pj, "TENSORBOARD_MAX_POINTS", 100_000)
    assert not [line for line in export_command(views_model, tmp_path / "out") if line.startswith("warning")]


def test_tensorboard_logdir_layout(views_model, tmp_path):
    logdir = tmp_path / "logs"
    (logdir / "run1").mkdir(parents=True)
    (logdir / "run1" / "events.out.tfevents.1").write_bytes(b"not touched")
    written = ex.export_tensorboard(views_model, logdir)
    assert written[-1] == logdir / "projector_config.pbtxt"
    assert (logdir / "run1" / "events.out.tfevents.1").read_bytes() == b"not touched"
    config = (logdir / "projector_config.pbtxt").read_text()
    paths = re.findall(r'_path: "([^"]+)"', config)
    expected = [f"books/{name}" for name in ("vectors.tsv", "metadata.tsv", "bookmarks.json")]
    expected += [f"links/{name}" for name in ("vectors.tsv", "metadata.tsv")]
    assert sorted(paths) == sorted(expected)
    for rel in paths:  # every path resolves inside the log directory
        resolved = (logdir / rel).resolve()
        assert resolved.is_file() and resolved.is_relative_to(logdir.resolve())
    assert "model_checkpoint_path" not in config


def test_library_imports_no_tensorboard_or_streamlit(fake_model, tmp_path):
    code = (
        "import sys\n"
        "from bookembed.export import export_folder\n"
        f"export_folder({str(fake_model)!r}, {str(tmp_path / 'o')!r}, tensorboard={str(tmp_path / 'tb')!r})\n"
        "print(sorted(m for m in ('tensorboard', 'tensorflow', 'streamlit', 'keras') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=WAIT_CEILING_S)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# ---------------------------------------------------------------- more rows than the Projector shows


def test_shards_hold_every_row_once_in_order(fake_model, tmp_path):
    out = tmp_path / "shards"
    result = ex.export_folder(fake_model, out, shard_rows=25)
    model = load_model_folder(fake_model)
    config = json.loads((out / "projector_config.json").read_text(encoding="utf-8"))
    assert [e["tensorShape"][0] for e in config["embeddings"]] == [25, 25, 10]
    parts = [vectors_from_tsv((out / e["tensorPath"]).read_bytes()) for e in config["embeddings"]]
    np.testing.assert_array_equal(np.vstack(parts), model.book_vectors)
    titles = [row[0] for e in config["embeddings"] for row in metadata_rows((out / e["metadataPath"]).read_bytes())[1:]]
    assert titles == [tsv_clean(t) for t in model.titles]
    assert not (out / "vectors.tsv").exists() and (out / "books.parquet").is_file()
    assert not [n for n in result.notes if n.startswith("warning")]


def test_a_sample_keeps_every_genre_and_the_parquet_keeps_every_book(fake_model, tmp_path):
    import pyarrow.parquet as pq

    out = tmp_path / "sample"
    result = ex.export_folder(fake_model, out, sample=20)
    model = load_model_folder(fake_model)
    rows = metadata_rows((out / "metadata.tsv").read_bytes())
    assert 15 <= len(rows) - 1 <= 20 and result.rows == len(rows) - 1
    header = rows[0]
    sampled = {row[header.index("primary_genre")] for row in rows[1:]}
    assert sampled == set(model.books["primary_genre"])  # every genre (and "no genre") is there
    assert pq.read_table(out / "books.parquet").num_rows == model.n_books
    assert any("sample of" in n for n in result.notes)
    with pytest.raises(BookembedError, match="sample"):
        ex.export_folder(fake_model, out, what="links", sample=5)


# ---------------------------------------------------------------- written a chunk of rows at a time


def test_files_written_a_chunk_at_a_time_are_the_same_bytes(views_model, tmp_path, monkeypatch):
    """The export folder's TSVs are formatted STREAM_ROWS rows at a time and its Parquet file is written a row
    group at a time: byte for byte the files made whole (one header, no row lost or repeated at a seam), and
    the same table, in as many row groups as the chunks."""
    import pyarrow.parquet as pq

    model = load_model_folder(views_model)
    whole = pj.standalone_files(model, pj.prepare(model, "books"))
    shards = pj.sharded_files(model, pj.prepare(model, "books"), 25)
    links = pj.standalone_files(model, pj.prepare(model, "links"))
    one_column = pj.prepare(model, "books", columns=["title"])
    single = pj.standalone_files(model, one_column)
    whole_table = pq.read_table(io.BytesIO(ex.parquet_bytes(model)))
    monkeypatch.setattr(pj, "STREAM_ROWS", 7)
    monkeypatch.setattr(ex, "PARQUET_ROWS", 16)
    ex.export_folder(views_model, tmp_path / "whole")
    ex.export_folder(views_model, tmp_path / "shards", shard_rows=25)
    ex.export_folder(views_model, tmp_path / "links", what="links")
    for name, data in whole.items():
        assert (tmp_path / "whole" / name).read_bytes() == data, name
    for name, data in shards.items():
        assert (tmp_path / "shards" / name).read_bytes() == data, name
    for name in ("vectors.tsv", "metadata.tsv"):
        assert (tmp_path / "links" / name).read_bytes() == links[name], name
    lazy = pj.standalone_files(model, one_column, lazy=True)
    lazy["metadata.tsv"](tmp_path / "single.tsv")
    assert (tmp_path / "single.tsv").read_bytes() == single["metadata.tsv"]  # no header, none added at a seam
    written = pq.ParquetFile(tmp_path / "whole" / "books.parquet")
    assert written.metadata.num_row_groups == 4  # 60 rows, 16 a group
    table = written.read()
    assert table.equals(whole_table) and table.schema.metadata == whole_table.schema.metadata
    assert table.column("id").to_pylist() == list(range(model.n_books))
