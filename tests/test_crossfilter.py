"""The Map page's linked charts: counting facets, filters that combine, isolating a selection.

Pure functions of ``bookembed.crossfilter`` on tiny hand-written books first, then the map's figure and point
payload restricted to a view, then the Map page under ``AppTest`` on the fake model.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bookembed import crossfilter as cf
from bookembed import mapviz
from test_app_pages import app, book_points, charts, ok, page, plain

NASTY = "<b>Bold</b> & <script>alert(1)</script>"


def tiny_books() -> pd.DataFrame:
    return pd.DataFrame({
        "title": [f"Book {i}" for i in range(8)],
        "primary_genre": ["fantasy", "fantasy", "drama", " fantasy ", None, "drama", "poetry", ""],
        "country": ["France", "Russia", "France", "", "France", "Russia", None, "France"],
        "year": pd.array([1851, 1859, 1860, None, 1905, 1999, 1200, 1861], dtype="Int64"),
    })


@pytest.fixture
def columns() -> cf.Columns:
    return cf.facet_columns(tiny_books())


# ---------------------------------------------------------------- counting


def test_category_bars_are_the_largest_values_then_other_and_unknown(columns):
    bars = cf.bars(columns, "genre", top=2)
    assert [b.label for b in bars] == ["fantasy", "drama", mapviz.OTHER, mapviz.UNKNOWN]
    index = cf.bar_index(columns, bars)
    # " fantasy " is fantasy; None and "" are unknown; poetry is the only other value
    assert index.tolist() == [0, 0, 1, 0, 3, 1, 2, 3]
    assert cf.count_bars(index, len(bars)).tolist() == [3, 2, 1, 2]
    mask = np.array([True, False, True, False, False, False, True, True])
    assert cf.count_bars(index, len(bars), mask).tolist() == [1, 1, 1, 1]


def test_without_more_values_than_bars_there_is_no_other_bar(columns):
    bars = cf.bars(columns, "country")
    assert [b.label for b in bars] == ["France", "Russia", mapviz.UNKNOWN]
    assert cf.count_bars(cf.bar_index(columns, bars), len(bars)).tolist() == [4, 2, 2]


def test_the_bars_count_only_the_books_in_play(columns):
    base = np.array([False, False, True, False, False, True, True, False])  # an isolated selection
    assert [b.label for b in cf.bars(columns, "genre", base)] == ["drama", "poetry"]


def test_years_fall_in_decades_with_the_earliest_few_in_one_bar():
    years = np.array([1200.0] + [1850.0 + i for i in range(0, 160, 3)] + [np.nan])
    bars = cf.year_bins(years)
    assert bars[0].label == "before 1850" and bars[0].span == (-math.inf, 1850.0)
    assert [b.label for b in bars[1:3]] == ["1850s", "1860s"] and bars[-1].label == "2000s"
    columns = cf.Columns(codes={}, names={}, years=years)
    index = cf.bar_index(columns, bars)
    assert index[0] == 0 and index[-1] == -1  # the medieval book in the first bar; no year, no bar
    assert cf.count_bars(index, len(bars)).sum() == len(years) - 1


def test_a_long_span_of_years_gets_wider_bins():
    bars = cf.year_bins(np.arange(1000.0, 2020.0, 7))
    assert bars[0].label.startswith("before ") and len(bars) <= cf.MAX_YEAR_BARS + 1
    widths = {b.span[1] - b.span[0] for b in bars[1:]}
    assert len(widths) == 1 and widths.pop() > 10
    assert bars[1].label == f"{bars[1].span[0]:.0f}–{bars[1].span[1] - 1:.0f}"


# ---------------------------------------------------------------- filters


def test_filters_combine_with_and(columns):
    fantasy = cf.Choice("genre", "fantasy", values=("fantasy",))
    france = cf.Choice("country", "France", values=("France",))
    fifties = cf.Choice("year", "1850s", span=(1850.0, 1860.0))
    assert cf.view_mask(columns) is None  # nothing restricts the map
    assert np.flatnonzero(cf.view_mask(columns, [fantasy])).tolist() == [0, 1, 3]
    assert np.flatnonzero(cf.view_mask(columns, [fantasy, france])).tolist() == [0]
    assert np.flatnonzero(cf.view_mask(columns, [fantasy, fifties])).tolist() == [0, 1]
    assert np.flatnonzero(cf.view_mask(columns, [france], isolated=[2, 3, 4, 99])).tolist() == [2, 4]
    assert np.flatnonzero(cf.view_mask(columns, [], isolated=[5, 6])).tolist() == [5, 6]


def test_other_and_unknown_filter_what_their_bars_count(columns):
    bars = cf.bars(columns, "genre", top=2)
    other, unknown = bars[2], bars[3]
    assert np.flatnonzero(cf.choice_mask(columns, other)).tolist() == [6]
    assert np.flatnonzero(cf.choice_mask(columns, unknown)).tolist() == [4, 7]
    no_year = cf.Choice("year", mapviz.UNKNOWN, values=("",))
    assert np.flatnonzero(cf.choice_mask(columns, no_year)).tolist() == [3]


def test_a_click_event_names_its_bar(columns):
    bars = cf.bars(columns, "country")
    assert cf.choice_from_event({"selection": {"points": [{"customdata": 1, "point_index": 1}]}}, bars) == bars[1]
    assert cf.choice_from_event({"selection": {"points": [{"point_index": 0}]}}, bars) == bars[0]
    assert cf.choice_from_event({"selection": {"points": []}}, bars) is None
    assert cf.choice_from_event({"selection": {"points": [{"customdata": 7}]}}, bars) is None
    assert cf.choice_from_event(None, bars) is None


def test_the_chart_escapes_labels_and_draws_the_selection_over_every_book():
    books = pd.DataFrame({"primary_genre": [NASTY, NASTY, "drama"], "country": ["", "", ""], "year": [1, 2, 3]})
    columns = cf.facet_columns(books)
    bars = cf.bars(columns, "genre")
    totals = cf.count_bars(cf.bar_index(columns, bars), len(bars))
    figure = cf.facet_figure(bars, totals, np.array([1, 0]), title="Genre", active=bars[1])
    grey, shown = figure.data
    assert list(grey.x) == [2, 1] and list(shown.x) == [1, 0] and grey.orientation == "h"
    assert "<b>" not in " ".join(grey.y) and "&lt;b&gt;" in grey.y[0]
    assert list(shown.customdata) == [0, 1]
    assert shown.marker.color[1] == cf.ACTIVE_COLOUR and shown.marker.color[0] == cf.SHOWN_COLOUR
    assert bars[0].chip() == f"Genre: {NASTY}"  # plain text: the page escapes it where it is drawn


# ---------------------------------------------------------------- the map restricted to a view


def _map(n: int = 300):
    rng = np.random.default_rng(0)
    books = pd.DataFrame({"title": [f"Book {i}" for i in range(n)],
                          "primary_genre": rng.choice(["novel", "drama", "poetry", ""], n),
                          "year": pd.array(rng.integers(1800, 2000, n), dtype="Int64")})
    return rng.normal(size=(n, 2)), books


@pytest.mark.parametrize("color_by", ["genre", "year"])
def test_the_map_draws_only_the_kept_books_with_their_ids(color_by):
    coords, books = _map()
    keep = (books["primary_genre"] == "drama").to_numpy()
    figure = mapviz.map_figure(coords, books, color_by=color_by, keep=keep)
    assert sorted(mapviz.book_ids_in(figure).tolist()) == np.flatnonzero(keep).tolist()
    whole = mapviz.map_figure(coords, books, color_by=color_by)
    assert sorted(mapviz.book_ids_in(whole).tolist()) == list(range(len(books)))


def test_a_mixed_map_keeps_only_the_kept_books_and_their_legend(monkeypatch):
    coords, books = _map()
    monkeypatch.setattr(mapviz, "MIXED_ABOVE", 10)
    keep = (books["primary_genre"] == "drama").to_numpy()
    figure = mapviz.map_figure(coords, books, keep=keep)
    assert sorted(mapviz.book_ids_in(figure).tolist()) == np.flatnonzero(keep).tolist()
    assert [t.name for t in figure.data if t.meta == "legend"] == [f"drama ({keep.sum():,})"]


def test_an_isolated_map_fits_its_axes_to_the_kept_books():
    coords, books = _map()
    keep = np.zeros(len(books), dtype=bool)
    keep[:5] = True
    fitted = mapviz.map_figure(coords, books, keep=keep, fit_kept=True).layout.xaxis.range
    filtered = mapviz.map_figure(coords, books, keep=keep).layout.xaxis.range
    assert fitted[1] - fitted[0] < filtered[1] - filtered[0]
    assert np.allclose(filtered, mapviz.robust_range(coords[:, 0].astype(np.float32)))  # filters keep the whole map in view


def test_the_point_payload_keeps_only_the_kept_books():
    coords, books = _map()
    payload = mapviz.point_payload(coords, books)
    keep = (books["primary_genre"] == "poetry").to_numpy()
    sub = cf.subset_payload(payload, keep, fit=True)
    ids = np.frombuffer(sub["ids"], dtype=np.int32)
    assert sorted(ids.tolist()) == np.flatnonzero(keep).tolist()
    xy = np.frombuffer(sub["xy"], dtype=np.float32).reshape(-1, 2)
    assert np.allclose(xy, coords[ids].astype(np.float32))
    assert {g["name"]: g["count"] for g in sub["groups"] if g["count"]} == {"poetry": int(keep.sum())}
    assert [g["colour"] for g in sub["groups"]] == [g["colour"] for g in payload["groups"]]
    assert np.allclose(sub["range"], [mapviz.full_range(coords[keep, 0]), mapviz.full_range(coords[keep, 1])])
    assert cf.subset_payload(payload, keep)["range"] == payload["range"]  # filters keep the whole map in view


# ---------------------------------------------------------------- the Map page


@pytest.fixture
def fake_demo(models):
    from conftest import make_fake_model

    return make_fake_model(models / "demo")


def _numbers(values) -> list:
    """A Plotly array as sent: a list, or base64 typed data."""
    import base64

    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=np.dtype(values["dtype"])).tolist()
    return list(values)


def _books_drawn(at) -> list[int]:
    """The book ids the map draws (the one chart without a title: the linked charts have theirs)."""
    (spec,) = [s for s in charts(at) if not (s["layout"].get("title") or {}).get("text")]
    return sorted(book_points(spec))


def _facet_charts(at) -> dict[str, dict]:
    out = {}
    for spec in charts(at):
        title = (spec["layout"].get("title") or {}).get("text") or ""
        if title:
            out[title.split(" · ")[0]] = spec
    return out


def test_map_page_draws_the_three_charts_and_a_filter_restricts_the_map(fake_demo):
    at = ok(app().run())
    at.session_state["map_method"] = "pca"
    page(at, "map")
    facets = _facet_charts(at)
    assert set(facets) == {"Genre", "Country", "Year"}
    genre = facets["Genre"]
    assert len(genre["data"]) == 1  # nothing selected nor filtered: every book, in one colour
    assert dict(zip(genre["data"][0]["y"], _numbers(genre["data"][0]["x"]))) == {
        "fantasy": 15, "science fiction": 15, "historical novel": 15, mapviz.UNKNOWN: 15}
    assert _books_drawn(at) == list(range(60))
    at.session_state[cf_ui().FILTERS] = {"genre": cf.Choice("genre", "fantasy", values=("fantasy",))}
    ok(at.run())
    assert _books_drawn(at) == list(range(0, 60, 4))  # make_fake_model: book i's genre is genres[i % 4]
    assert any(c.value == "Showing 15 of 60 books" for c in at.caption)
    country = _facet_charts(at)["Country"]["data"]
    assert len(country) == 2 and sum(_numbers(country[1]["x"])) == 15  # the books shown, over every book
    # a second filter combines with the first
    at.session_state[cf_ui().FILTERS]["country"] = cf.Choice("country", "Russia", values=("Russia",))
    ok(at.run())
    assert _books_drawn(at) == list(range(0, 60, 4))  # books 0, 4, 8, ... are all Russian (even ids)
    at.session_state[cf_ui().FILTERS]["country"] = cf.Choice("country", "United Kingdom", values=("United Kingdom",))
    ok(at.run())
    assert _books_drawn(at) == [] and any("No book passes these filters" in c.value for c in at.caption)
    # the chips remove their filter
    chip = next(b for b in at.button if plain(b.label) == "Country: United Kingdom")
    ok(chip.click().run())
    assert _books_drawn(at) == list(range(0, 60, 4))
    ok(next(b for b in at.button if plain(b.label) == "Genre: fantasy").click().run())
    assert _books_drawn(at) == list(range(60))
    assert not any(c.value.startswith("Showing") for c in at.caption)


def test_map_page_isolates_the_selection_and_shows_all_again(fake_demo):
    at = ok(app().run())
    at.session_state["map_method"] = "pca"
    at.session_state["selected_ids"] = [3, 5, 7, 11]
    page(at, "map")
    assert _books_drawn(at) == list(range(60))
    genre = _facet_charts(at)["Genre"]["data"]
    assert len(genre) == 2 and sum(_numbers(genre[1]["x"])) == 4  # the selection in colour over every book
    ok(next(b for b in at.button if b.label == "Isolate selection").click().run())
    assert _books_drawn(at) == [3, 5, 7, 11]
    assert at.session_state["selected_ids"] == []
    genre = _facet_charts(at)["Genre"]["data"]
    assert sum(_numbers(genre[0]["x"])) == 4  # the charts count the isolated books
    # a filter within the isolated books
    at.session_state[cf_ui().FILTERS] = {"genre": cf.Choice("genre", "science fiction", values=("science fiction",))}
    ok(at.run())
    assert _books_drawn(at) == [5]
    ok(next(b for b in at.button if b.label == "Show all books").click().run())
    assert _books_drawn(at) == list(range(1, 60, 4))


def test_the_point_renderer_honours_the_view(fake_demo, monkeypatch):
    from bookembed.ui import map as m

    sent = {}
    real = m.point_map

    def spy(*args, **kwargs):
        sent.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(m, "point_map", spy)
    at = ok(app().run())
    at.session_state["map_method"] = "pca"
    at.session_state[cf_ui().ISOLATED] = (1, 2, 3)
    page(at, "map")
    ok(at.toggle(key="map_points-False").set_value(True).run())
    assert np.flatnonzero(sent["keep"]).tolist() == [1, 2, 3] and sent["fit_kept"]


def cf_ui():
    from bookembed.ui import crossfilter

    return crossfilter


def test_one_value_coloured_alone_works_within_a_filter(fake_demo):
    """Colour by one author (the rest grey) and filter on a genre: the map draws the genre's books, and only
    that author's books among them stand out."""
    at = ok(app().run())
    at.session_state["map_method"] = "pca"
    page(at, "map")
    at.selectbox(key="map_color").set_value("author")
    ok(at.run())
    at.selectbox(key="map_only-author").set_value("Author 3")
    at.session_state[cf_ui().FILTERS] = {"genre": cf.Choice("genre", "fantasy", values=("fantasy",))}
    ok(at.run())
    assert _books_drawn(at) == list(range(0, 60, 4))  # make_fake_model: book i's genre is genres[i % 4]
    (spec,) = [s for s in charts(at) if not (s["layout"].get("title") or {}).get("text")]
    alone = [t for t in spec["data"] if t.get("meta") == "books" and t["name"].startswith("Author 3")]
    assert len(alone) == 1 and sorted(_numbers(alone[0]["customdata"])) == [24, 52]  # author i % 7, genre i % 4
    assert alone[0]["name"] == "Author 3 (2)"


@settings(max_examples=120, deadline=None)
@given(genres=st.lists(st.one_of(st.none(), st.sampled_from(["a", " a", "a ", "b", "", "  ", "c d", "é"])), max_size=30))
def test_facets_of_a_string_column_are_coded_as_each_books_value_stripped_on_its_own(genres):
    def facets(dtype):
        books = pd.DataFrame({"primary_genre": pd.Series(genres, dtype=dtype), "country": pd.Series(genres, dtype=dtype)})
        return cf.facet_columns(books)

    fast, one_by_one = facets("str"), facets(object)  # a string column: its distinct values stripped
    for name in ("genre", "country"):
        assert fast.codes[name].tolist() == one_by_one.codes[name].tolist()
        assert fast.names[name].tolist() == one_by_one.names[name].tolist()
    stripped = ["" if g is None else g.strip() for g in genres]
    assert [None if c < 0 else fast.names["genre"][c] for c in fast.codes["genre"]] == [s or None for s in stripped]


@pytest.mark.parametrize("n", [0, 1, 5])
def test_a_missing_facet_column_is_every_book_without_a_value_as_an_empty_one_is(n):
    missing = cf.facet_columns(pd.DataFrame({"primary_genre": pd.Series(["a", " b", ""] * n, dtype="str")}))
    empty = cf.facet_columns(pd.DataFrame({"primary_genre": pd.Series(["a", " b", ""] * n, dtype="str"),
                                           "country": pd.Series([""] * 3 * n, dtype="str")}))
    assert missing.codes["country"].tolist() == empty.codes["country"].tolist() == [-1] * 3 * n
    assert missing.names["country"].tolist() == empty.names["country"].tolist() == []
    assert missing.codes["country"].dtype == empty.codes["country"].dtype
    assert cf.bars(missing, "country") == cf.bars(empty, "country")


@settings(max_examples=80, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d", "e", " "])), max_size=60),
       top=st.integers(1, 5))
def test_the_bar_of_each_book_is_the_first_bar_whose_mask_holds_it(values, top):
    """``bar_index`` finds a category's bars per distinct value: the same as each bar's mask over every book,
    "other" and "(unknown)" included."""
    columns = cf.facet_columns(pd.DataFrame({"primary_genre": pd.Series(values, dtype="str")}))
    chart = cf.bars(columns, "genre", top=top)
    expected = np.full(columns.n, -1, dtype=np.int32)
    for i in range(len(chart) - 1, -1, -1):
        expected[cf.choice_mask(columns, chart[i])] = i
    assert cf.bar_index(columns, chart).tolist() == expected.tolist()


@settings(max_examples=80, deadline=None)
@given(years=st.lists(st.one_of(st.none(), st.integers(1500, 2030), st.sampled_from([1800, 1955, 1960, 2001])),
                      max_size=80))
def test_the_year_bar_of_each_book_is_the_first_bar_whose_mask_holds_it(years):
    """Each book's year bar, found once per distinct year, is the one the bars' masks give, unknown years too."""
    columns = cf.facet_columns(pd.DataFrame({"year": pd.array(years, dtype="Int64")}))
    chart = cf.bars(columns, "year")
    expected = np.full(columns.n, -1, dtype=np.int32)
    for i in range(len(chart) - 1, -1, -1):
        expected[cf.choice_mask(columns, chart[i])] = i
    assert cf.bar_index(columns, chart).tolist() == expected.tolist()
    assert cf.bar_index(columns, chart) is cf.bar_index(columns, chart)  # kept: a rerun looks it up
    if len(chart) > 1:  # another chart of the same books: its own answer, not the kept one
        assert cf.bar_index(columns, chart[1:]).tolist() == [-1 if b < 1 else b - 1 for b in expected.tolist()]


@settings(max_examples=60, deadline=None)
@given(years=st.lists(st.one_of(st.none(), st.sampled_from([1800.0, 1955.5, 1960.0, -44.0, 2001.25, 1e9])),
                      max_size=40))
def test_year_codes_name_each_books_year_whole_or_not(years):
    """Whole years over a short span are coded by offset, others hashed: either way a code names the year."""
    columns = cf.facet_columns(pd.DataFrame({"year": pd.array(years, dtype="Float64")}))
    decoded = [None if c < 0 else float(columns.year_values[c]) for c in columns.year_codes]
    assert decoded == [None if y is None else float(y) for y in years]


def test_the_range_of_coordinates_with_an_infinity_or_a_nan_is_that_of_the_finite_ones():
    from bookembed import mapviz

    assert mapviz.full_range(np.array([1.0, np.inf, 3.0, np.nan])) == mapviz.full_range(np.array([1.0, 3.0]))
    assert mapviz.full_range(np.array([np.nan, -np.inf])) == [-1.0, 1.0]


@settings(max_examples=150, deadline=None)
@given(years=st.lists(st.one_of(st.none(), st.integers(-500, 2030), st.sampled_from([1800, 1955, 2001])),
                      max_size=60))
def test_year_bars_from_each_years_count_are_those_of_the_years_one_by_one(years):
    """Every book's year bars come from the distinct years' counts (no sort of every book): the same bars,
    the 5th percentile's interpolation included."""
    columns = cf.facet_columns(pd.DataFrame({"year": pd.array(years, dtype="Int64")}))
    assert cf.bars(columns, "year") == cf.year_bins(columns.years)
    if len(years) > 1:
        assert cf.bars(columns, "year", np.arange(len(years)) % 2 == 0) == cf.year_bins(columns.years[::2])


def test_with_nothing_restricting_the_map_its_mask_needs_no_facet_codes(fake_demo, monkeypatch):
    """The facets' codes are an O(n) pass: a map that every book is drawn on is not kept waiting for them."""
    from bookembed.store import load_model_folder

    ui_cf = cf_ui()
    model = load_model_folder(fake_demo)
    ui_cf._columns.clear()  # nothing kept from another test
    calls = []
    monkeypatch.setattr(cf, "facet_columns", lambda books: calls.append(len(books)))
    monkeypatch.setattr(ui_cf, "filters", lambda: [])
    monkeypatch.setattr(ui_cf, "isolated", lambda model: None)
    assert ui_cf.view_mask(model) is None and calls == []
    monkeypatch.undo()
    monkeypatch.setattr(ui_cf, "filters", lambda: [cf.Choice("genre", "fantasy", values=("fantasy",))])
    monkeypatch.setattr(ui_cf, "isolated", lambda model: None)
    keep = ui_cf.view_mask(model)
    assert keep.tolist() == [i % 4 == 0 for i in range(model.n_books)]  # make_fake_model: genres[i % 4]


@settings(max_examples=80, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d", "e", " "])), max_size=60),
       years=st.lists(st.one_of(st.none(), st.integers(1500, 2030), st.sampled_from([1800, 1955, 2001])),
                      min_size=60, max_size=60),
       top=st.integers(1, 5), drop=st.integers(0, 3))
def test_every_books_count_per_bar_from_each_values_count_is_that_of_a_bar_for_each_book(values, years, top, drop):
    """``bar_totals`` counts a chart from the distinct values' counts: the same counts as placing every book in
    a bar, for any chart of the facet (its bars, part of them, "other" and "(unknown)" included)."""
    n = len(values)
    columns = cf.facet_columns(pd.DataFrame({"primary_genre": pd.Series(values, dtype="str"),
                                             "year": pd.array(years[:n], dtype="Int64")}))
    for facet in ("genre", "year"):
        chart = cf.bars(columns, facet, top=top)[drop:]
        by_book = np.zeros(len(chart), np.int64)
        for i, bar in enumerate(cf.bar_index(columns, chart)):
            if bar >= 0:
                by_book[bar] += 1
        assert cf.bar_totals(columns, chart).tolist() == by_book.tolist()
    mixed = cf.bars(columns, "genre", top=top)[:1] + cf.bars(columns, "year")[:1]  # two facets: book by book
    assert cf.bar_totals(columns, mixed).tolist() == cf.count_bars(cf.bar_index(columns, mixed), len(mixed)).tolist()


# ---------------------------------------------------------------- counting from each value's count: edge cases


def hand_built() -> cf.Columns:
    """Columns made by hand, without the counts ``facet_columns`` keeps: a genre named but held by no book
    (the last code), years given as codes and values."""
    names = np.array(["fantasy", "drama", "poetry", "unread"], dtype=object)
    codes = np.array([0, 0, 1, -1, 2, 1, 0, -1], dtype=np.int32)
    year_codes = np.array([0, 2, 2, -1, 5, 5, 0, 1], dtype=np.int32)
    return cf.Columns({"genre": codes, "country": np.full(8, -1, np.int32)},
                      {"genre": names, "country": np.zeros(0, dtype=object)},
                      year_codes=year_codes, year_values=np.arange(1850.0, 1856.0))


def by_book(columns: cf.Columns, chart) -> list[int]:
    counts = [0] * len(chart)
    for bar in cf.bar_index(columns, chart).tolist():
        if bar >= 0:
            counts[bar] += 1
    return counts


def test_charts_of_columns_made_by_hand_are_counted_from_their_codes():
    """Without kept counts, each value's count is made from the codes (a value no book holds counted 0), and
    the bars and totals are those of every book placed one by one; years given only as floats too."""
    columns = hand_built()
    assert columns.years.tolist()[:3] == [1850.0, 1852.0, 1852.0] and np.isnan(columns.years[3])
    for facet in ("genre", "year"):
        chart = cf.bars(columns, facet)
        totals = cf.bar_totals(columns, chart)
        assert totals.dtype == np.int64 and totals.tolist() == by_book(columns, chart), facet
    assert [b.label for b in cf.bars(columns, "genre")] == ["fantasy", "drama", "poetry", mapviz.UNKNOWN]
    floats = cf.Columns({}, {}, columns.years)  # years as floats alone: no codes
    chart = cf.bars(floats, "year")
    assert cf.bar_totals(floats, chart).tolist() == by_book(floats, chart) == by_book(columns, chart)
    with pytest.raises(ValueError):
        cf.Columns({}, {})


def test_a_chart_whose_last_bars_hold_no_book_counts_them_zero():
    columns = cf.facet_columns(tiny_books())
    for facet, empty in (("year", cf.Choice("year", "3000s", span=(3000.0, 3010.0))),
                         ("genre", cf.Choice("genre", "nobody", values=("nobody",)))):
        chart = cf.bars(columns, facet) + [empty, empty]
        expected = by_book(columns, chart)
        assert expected[-2:] == [0, 0]
        assert cf.bar_totals(columns, chart).tolist() == expected, facet
        assert cf.count_bars(cf.bar_index(columns, chart), len(chart)).tolist() == expected, facet


def test_the_bars_of_a_part_leave_out_values_it_does_not_hold_and_exactly_top_values_get_no_other_bar():
    columns = hand_built()
    base = np.array([True, True, True, True, False, True, False, False])  # no book of "poetry" or "unread"
    assert [b.label for b in cf.bars(columns, "genre", base)] == ["drama", "fantasy", mapviz.UNKNOWN]
    ten = [f"g{i:02d}" for i in range(10)]
    exact = cf.facet_columns(pd.DataFrame({"primary_genre": pd.Series(ten * 2, dtype="str")}))
    assert [b.label for b in cf.bars(exact, "genre", top=10)] == ten  # ten values, ten bars, no "other"


def test_ties_beyond_a_few_values_are_ordered_by_name():
    """Thirty values held by as many books each: the ten bars are the first ten names (a stable sort)."""
    values = [f"v{i:02d}" for i in range(30)][::-1] * 3
    columns = cf.facet_columns(pd.DataFrame({"primary_genre": pd.Series(values, dtype="str")}))
    assert [b.label for b in cf.bars(columns, "genre")][:10] == [f"v{i:02d}" for i in range(10)]
    base = np.ones(len(values), dtype=bool)
    assert [b.label for b in cf.bars(columns, "genre", base)][:10] == [f"v{i:02d}" for i in range(10)]


def test_the_coded_facets_are_genre_and_country_whichever_columns_the_table_lacks():
    """Years are coded apart; a table without a genre or a country column still has both facets, every book
    without a value, and counting them makes no code for each book."""
    full = cf.facet_columns(tiny_books())
    assert set(full.codes) == {"genre", "country"}
    for missing in ("primary_genre", "country"):
        columns = cf.facet_columns(tiny_books().drop(columns=[missing]))
        assert set(columns.codes) == {"genre", "country"}, missing
        facet = "genre" if missing == "primary_genre" else "country"
        chart = cf.bars(columns, facet)
        assert [b.label for b in chart] == [mapviz.UNKNOWN] and cf.bar_totals(columns, chart).tolist() == [8]
        assert columns.codes.made == [], missing
        assert columns.codes[facet].tolist() == [-1] * 8
