"""A big folder's columns are coded once and kept in it (``distinct.column_distinct``): the same codes as coding
them afresh, read back without coding, and never trusted when the books or the file changed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bookembed import crossfilter as cf
from bookembed import distinct as distinct_module
from bookembed import mapviz
from bookembed.distinct import book_years, code_years, column_distinct, column_years, distinct_stripped
from bookembed.graph import LinkGraph
from bookembed.store import load_model_folder, save_model_folder
from test_store import make_inputs

GENRES = ["fantasy", " fantasy", "", None, "science fiction", "Fantasy", "horror ", "horror"]
YEARS = [1851, None, 1605, 1851, 2001, None, 1999]
COUNTRIES = ["Russia", "", "France", None]


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setattr(distinct_module, "KEEP_FROM_BOOKS", 10)  # the tiny folder counts as big
    inputs = make_inputs(n_books=40, n_links=9)
    books = inputs.graph.books.assign(primary_genre=[GENRES[i % len(GENRES)] for i in range(40)],
                                      country=[COUNTRIES[i % 3] for i in range(40)],
                                      year=pd.array([YEARS[i % len(YEARS)] for i in range(40)], dtype="Int64"))
    g = inputs.graph
    inputs = type(inputs)(**{**inputs.__dict__, "graph": LinkGraph(
        books=books, links=g.links, link_counts=g.link_counts, pair_books=g.pair_books, pair_links=g.pair_links)})
    return save_model_folder(tmp_path / "m", inputs)


def same(a, b) -> None:
    assert np.array_equal(np.asarray(a[0]), np.asarray(b[0])) and list(a[1]) == list(b[1])
    pd.testing.assert_series_equal(a[2], b[2])


def test_codes_kept_in_the_folder_are_the_columns_own_and_are_read_back_without_coding(folder, monkeypatch):
    model = load_model_folder(folder)
    first = column_distinct(model, "primary_genre")
    same(first, distinct_stripped(model.books["primary_genre"]))
    assert column_distinct(model, "primary_genre") is first  # once per model object
    kept = sorted(p.name for p in (folder / "columns").iterdir())
    assert len(kept) == 2 and kept[0].startswith("primary_genre-") and {p.rsplit(".", 1)[1] for p in kept} == {"json", "npy"}

    def refuse(values):
        raise AssertionError("the column was coded again")

    monkeypatch.setattr(distinct_module, "distinct_stripped", refuse)
    again = column_distinct(load_model_folder(folder), "primary_genre")
    same(again, first)
    assert isinstance(again[0].base, np.memmap) and not again[0].flags.writeable  # mapped, not read whole


def test_a_damaged_or_foreign_codes_file_is_coded_again(folder):
    model = load_model_folder(folder)
    truth = column_distinct(model, "primary_genre")
    (path,) = (folder / "columns").glob("*.npy")
    codes = np.load(path)
    with open(path, "wb") as fh:  # codes past the distinct values
        np.save(fh, np.full_like(codes, 99))
    same(column_distinct(load_model_folder(folder), "primary_genre"), truth)
    with open(path, "wb") as fh:  # another table's length
        np.save(fh, codes[:-1])
    same(column_distinct(load_model_folder(folder), "primary_genre"), truth)
    path.write_bytes(b"not numpy")
    same(column_distinct(load_model_folder(folder), "primary_genre"), truth)


def test_codes_of_other_books_are_not_trusted(folder):
    model = load_model_folder(folder)
    column_distinct(model, "primary_genre")
    sidecar = next((folder / "columns").glob("*.json"))
    text = sidecar.read_text()
    sidecar.write_text(text.replace(model.manifest["checksums"]["books.parquet"]["sha256"], "0" * 64))
    fresh = load_model_folder(folder)
    same(column_distinct(fresh, "primary_genre"), distinct_stripped(fresh.books["primary_genre"]))
    assert model.manifest["checksums"]["books.parquet"]["sha256"] in sidecar.read_text()  # written again


def test_the_map_and_its_charts_group_the_books_the_same_from_kept_codes(folder):
    model = load_model_folder(folder)
    coded = lambda column: column_distinct(model, column)  # noqa: E731
    for top_n, only in ((2, None), (10, None), (10, "horror"), (10, "nobody")):
        plain = mapviz.point_groups(model.books, color_by="genre", top_n=top_n, only=only)
        kept = mapviz.point_groups(model.books, color_by="genre", top_n=top_n, only=only,
                                   distinct=coded("primary_genre"))
        assert np.array_equal(plain[0], kept[0]) and plain[1] == kept[1] and np.array_equal(plain[2], kept[2])
    pd.testing.assert_series_equal(mapviz.group_sizes(model.books["primary_genre"]),
                                   mapviz.group_sizes(None, distinct=coded("primary_genre")))
    a, b = cf.facet_columns(model.books), cf.facet_columns(model.books, distinct=coded)
    assert a.codes.keys() == b.codes.keys()
    for facet in a.codes:
        assert np.array_equal(a.codes[facet], b.codes[facet]) and list(a.names[facet]) == list(b.names[facet]), facet


def test_a_small_folder_codes_its_columns_in_memory_only(tmp_path):
    folder = save_model_folder(tmp_path / "small", make_inputs(n_books=12))
    model = load_model_folder(folder)
    same(column_distinct(model, "author"), distinct_stripped(model.books["author"]))
    assert not (folder / "columns").exists()


def test_bookembed_index_codes_the_columns_of_the_maps_charts(folder, capsys):
    from bookembed.cli import main

    assert main(["index", "--model", str(folder), "-q"]) == 0
    assert "the map's primary_genre, country and year columns are coded" in capsys.readouterr().out
    kept = {p.name.split("-")[0] for p in (folder / "columns").glob("*.npy")}
    assert kept == {"primary_genre", "country", "_years_"}


def test_years_kept_in_the_folder_are_the_books_own_and_are_read_back_without_coding(folder, monkeypatch):
    model = load_model_folder(folder)
    codes, values = column_years(model)
    decoded = [None if c < 0 else float(values[c]) for c in codes]
    assert decoded == [None if YEARS[i % len(YEARS)] is None else float(YEARS[i % len(YEARS)]) for i in range(40)]
    assert column_years(model)[0] is codes  # once per model object

    def refuse(years):
        raise AssertionError("the years were coded again")

    monkeypatch.setattr(distinct_module, "code_years", refuse)
    again = column_years(load_model_folder(folder))
    assert isinstance(again[0].base, np.memmap) and np.array_equal(again[0], codes) and np.array_equal(again[1], values)
    assert column_distinct(load_model_folder(folder), "primary_genre")[1]  # a column's codes beside the years'


def test_damaged_year_codes_are_coded_again(folder):
    model = load_model_folder(folder)
    truth = code_years(book_years(model.books))
    column_years(model)
    (path,) = (folder / "columns").glob("_years_*.npy")
    with open(path, "wb") as fh:  # a code below "none"
        np.save(fh, np.full(40, -2, dtype=np.int32))
    codes, values = column_years(load_model_folder(folder))
    assert np.array_equal(codes, truth[0]) and np.array_equal(values, truth[1])


def test_the_charts_from_kept_years_and_counts_are_those_of_every_book_one_by_one(folder):
    """The linked charts of a map nothing filters are counted from each value's count, with the years read
    from the folder: the same bars and counts as a bar index of every book."""
    model = load_model_folder(folder)
    plain = cf.facet_columns(model.books)
    kept = cf.facet_columns(model.books, distinct=lambda column: column_distinct(model, column),
                            years=lambda: column_years(model))
    np.testing.assert_array_equal(plain.years, kept.years)  # NaN where a book has no year
    for facet in cf.FACETS:
        chart = cf.bars(kept, facet.name)
        assert chart == cf.bars(plain, facet.name) and chart
        by_book = cf.count_bars(cf.bar_index(plain, chart), len(chart))
        assert cf.bar_totals(kept, chart).tolist() == by_book.tolist(), facet.name
        assert cf.bar_totals(plain, chart).tolist() == by_book.tolist(), facet.name
    fresh = cf.facet_columns(model.books, distinct=lambda column: column_distinct(model, column),
                             years=lambda: column_years(model))
    for facet in cf.FACETS:  # a map nothing filters: its charts need no facet's code for each book
        cf.bar_totals(fresh, cf.bars(fresh, facet.name))
    assert fresh.codes.made == []
    assert fresh.codes["genre"].tolist() == plain.codes["genre"].tolist() and fresh.codes.made == ["genre"]
