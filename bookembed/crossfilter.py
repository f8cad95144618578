"""Linked charts of the map: genre, country and year counted over a set of books, filters that combine.

Pure functions, no Streamlit: the Map page (``bookembed/ui/crossfilter.py``) draws them beside the map.

Each chart is a *facet* of the books table. ``facet_columns`` turns the table
into small integer codes once per model (a code per distinct value, -1 for
none), so everything a rerun needs is O(n) array work: ``bars`` chooses a
chart's bars over the books in play (the ten largest values, "other" and
"(unknown)"; for years, bins of a decade or wider), ``bar_index`` places every
book in a bar, ``count_bars`` counts a mask of books per bar, ``choice_mask`` is
one bar's books (a filter), ``view_mask`` the books every filter keeps (AND).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from bookembed.counting import bincount
from bookembed.distinct import book_years, code_years, distinct_stripped
from bookembed.mapviz import OTHER, UNKNOWN, escape_label, full_range


@dataclass(frozen=True)
class Facet:
    """One linked chart: its name (the key of its filter), its heading and the books table's column."""

    name: str
    title: str
    column: str


FACETS = (Facet("genre", "Genre", "primary_genre"), Facet("country", "Country", "country"),
          Facet("year", "Year", "year"))
FACET_BY_NAME = {f.name: f for f in FACETS}
TOP_BARS = 10
YEAR_WIDTHS = (10, 20, 25, 50, 100, 200, 250, 500, 1000)
MAX_YEAR_BARS = 24
MEMO_CHARTS = 6  # bar_index answers kept with a Columns (int8: n bytes each)


@dataclass(frozen=True)
class Choice:
    """A bar of a chart, and the filter made by clicking it.

    ``values`` are the category values it holds (``""``: books without one);
    ``other`` turns it into every known value except ``values``; ``span``
    is a ``[lo, hi)`` range of years instead. ``label`` is plain text (escape it
    where it is drawn).
    """

    facet: str
    label: str
    values: tuple[str, ...] = ()
    other: bool = False
    span: tuple[float, float] | None = None

    def chip(self) -> str:
        """The filter as a reader names it: "Genre: science fiction" (plain text)."""
        return f"{FACET_BY_NAME[self.facet].title}: {self.label}"


class Columns:
    """The facets of a books table as codes: ``codes[f][i]`` is book i's value (``names[f][code]``), -1 for none;
    ``years`` is float, NaN for none: given, or made on first use from ``year_codes`` and ``year_values`` (n
    floats that a map nothing filters never needs). ``memo`` keeps answers for reruns (``bar_index``)."""

    def __init__(self, codes: Mapping[str, np.ndarray], names: Mapping[str, np.ndarray],
                 years: np.ndarray | None = None, memo: dict | None = None, year_codes: np.ndarray | None = None,
                 year_values: np.ndarray | None = None):
        if years is None and (year_codes is None or year_values is None):
            raise ValueError("the years, or their codes and values, are needed")
        self.codes, self.names, self._years = codes, names, years
        self.memo = {} if memo is None else memo
        self.year_codes, self.year_values = year_codes, year_values  # each book's year as a code (-1: none)
        self.n = len(years) if years is not None else len(year_codes)

    @property
    def years(self) -> np.ndarray:
        if self._years is None:
            self._years = np.append(self.year_values, np.nan)[self.year_codes]  # code -1 (none) takes NaN
        return self._years


def facet_columns(books: pd.DataFrame, distinct: Callable[[str], tuple] | None = None,
                  years: Callable[[], tuple] | None = None) -> Columns:
    """Code the books table's facets once (values stripped; empty and missing are none).

    Parameters
    ----------
    books : DataFrame, shape (n_books, k)
    distinct : callable, optional
        ``distinct(column)`` gives a column of strings already coded, as ``distinct_stripped`` does
        (``distinct.column_distinct`` of the model the books are of).
    years : callable, optional
        ``years()`` gives the years already coded, as ``distinct.code_years`` does (``distinct.column_years``).

    Returns
    -------
    Columns
    """
    n = len(books)
    makers, names, memo = {}, {}, {}
    for facet in FACETS:
        if facet.column == "year":
            continue
        if facet.column not in books.columns:  # every book without a value: no column of n empty strings
            makers[facet.name], names[facet.name] = (lambda: np.full(n, -1, np.int32)), np.zeros(0, dtype=object)
            memo[("counts", facet.name)] = np.array([n], dtype=np.int64)
            continue
        # the few distinct values, not every book's
        by_value, stripped, _ = (distinct or (lambda c: distinct_stripped(books[c])))(facet.column)
        code, uniques = pd.factorize(np.array([v or None for v in stripped], dtype=object), use_na_sentinel=True)
        code = code.astype(np.int32)
        makers[facet.name] = lambda by_value=by_value, code=code: np.take(code, by_value) if len(by_value) \
            else np.zeros(0, np.int32)
        names[facet.name] = np.asarray(uniques, dtype=object)
        each = bincount(by_value, len(stripped))  # books per distinct value, then per facet code (none first)
        memo[("counts", facet.name)] = bincount(code, len(uniques) + 1, shift=1, weights=each).astype(np.int64)
    every = book_years(books) if years is None else None
    year_codes, year_values = code_years(every) if years is None else years()
    memo[("counts", "year")] = bincount(year_codes, len(year_values) + 1, shift=1)
    return Columns(codes=Coded(makers), names=names, years=every, memo=memo, year_codes=year_codes,
                   year_values=year_values)


class Coded(Mapping):
    """Each facet's code by book (``Columns.codes``), made on first use: one gather of n from a code per distinct
    value. A map that nothing filters counts its charts from the values' counts and never needs them."""

    def __init__(self, makers: Mapping[str, Callable[[], np.ndarray]]):
        self._makers, self._made = dict(makers), {}

    def __getitem__(self, facet: str) -> np.ndarray:
        if facet not in self._made:
            self._made[facet] = self._makers[facet]()
        return self._made[facet]

    def __iter__(self):
        return iter(self._makers)

    def __len__(self) -> int:
        return len(self._makers)

    @property
    def made(self) -> list[str]:
        """The facets whose codes by book were made so far."""
        return list(self._made)


def year_bins(years: np.ndarray, widths: Sequence[int] = YEAR_WIDTHS, most: int = MAX_YEAR_BARS, *,
              weights: np.ndarray | None = None) -> list[Choice]:
    """Bars of years: decades where ``most`` of them span the years (from the 5th percentile to the last), else
    the narrowest wider bins that do; the earliest few years in one bar "before …". Missing years get no bar.

    ``weights``: how many books have each of ``years`` (distinct, known), for the same bars as the books'
    years one by one."""
    if weights is not None:
        order = np.argsort(years, kind="stable")
        known, weights = np.asarray(years, dtype=np.float64)[order], np.asarray(weights)[order]
        if not len(known):
            return []
        lo, hi = _weighted_percentile(known, weights, 5), float(known.max())
        return _year_bars_between(lo, hi, float(known.min()), widths, most)
    known = years[~np.isnan(years)]
    if not len(known):
        return []
    lo, hi = float(np.percentile(known, 5)), float(known.max())
    return _year_bars_between(lo, hi, float(known.min()), widths, most)


def _weighted_percentile(values: np.ndarray, counts: np.ndarray, q: float) -> float:
    """``np.percentile`` (linear) of ``values`` (sorted, distinct) each repeated ``counts`` times."""
    ends = np.cumsum(counts)  # the rank after each value's last copy
    position = q / 100 * (ends[-1] - 1)
    below, above = int(np.floor(position)), int(np.ceil(position))
    at = np.searchsorted(ends, [below, above], side="right")  # the value holding each rank
    return float(values[at[0]] + (values[at[1]] - values[at[0]]) * (position - below))


def _year_bars_between(lo: float, hi: float, first: float, widths: Sequence[int], most: int) -> list[Choice]:
    width = next((w for w in widths if math.floor(hi / w) - math.floor(lo / w) + 1 <= most), widths[-1])
    start, end = math.floor(lo / width) * width, (math.floor(hi / width) + 1) * width
    bars = []
    if first < start:
        bars.append(Choice("year", f"before {start}", span=(-math.inf, float(start))))
    for a in range(start, end, width):
        label = f"{a}s" if width == 10 else f"{a}–{a + width - 1}"
        bars.append(Choice("year", label, span=(float(a), float(a + width))))
    return bars


def bars(columns: Columns, facet: str, base: np.ndarray | None = None, top: int = TOP_BARS) -> list[Choice]:
    """The bars of one chart, over the books in ``base`` (a boolean mask; None: every book).

    A category's ``top`` largest values (ties by name), then "other" and
    "(unknown)" where books fall there; years in ``year_bins``.
    """
    if base is not None:
        return _bars(columns, facet, base, top)
    if ("bars", facet, top) not in columns.memo:  # every book's bars: the same on every rerun
        columns.memo[("bars", facet, top)] = tuple(_bars(columns, facet, None, top))
    return list(columns.memo[("bars", facet, top)])


def _bars(columns: Columns, facet: str, base: np.ndarray | None, top: int) -> list[Choice]:
    if facet == "year":
        if base is None and columns.year_codes is not None:  # from each distinct year's count: no sort of n
            counts = _value_counts(columns, "year")[1:]
            return year_bins(columns.year_values[counts > 0], weights=counts[counts > 0])
        return year_bins(columns.years if base is None else columns.years[base])
    names = columns.names[facet]
    counts = _value_counts(columns, facet) if base is None else \
        bincount(columns.codes[facet][base], len(names) + 1, shift=1)
    known = pd.Series(counts[1:], index=names)
    known = known[known > 0].sort_index(kind="stable").sort_values(ascending=False, kind="stable")
    kept = tuple(str(v) for v in known.index[:top])
    out = [Choice(facet, v, values=(v,)) for v in kept]
    if len(known) > top:
        out.append(Choice(facet, OTHER, values=kept, other=True))
    if counts[0]:
        out.append(Choice(facet, UNKNOWN, values=("",)))
    return out


def choice_mask(columns: Columns, choice: Choice) -> np.ndarray:
    """The books of one bar (or filter): a boolean mask, shape (n_books,)."""
    if choice.span is not None:
        with np.errstate(invalid="ignore"):
            return (columns.years >= choice.span[0]) & (columns.years < choice.span[1])
    if choice.facet == "year":
        return np.isnan(columns.years)
    code, names = columns.codes[choice.facet], columns.names[choice.facet]
    wanted = np.isin(names, [v for v in choice.values if v])
    lookup = np.append(wanted, "" in choice.values)  # code -1 (none) looks up the last entry
    inside = lookup[code]
    if choice.other:
        return ~inside & (code >= 0)
    return inside


def bar_index(columns: Columns, chart: Sequence[Choice]) -> np.ndarray:
    """Which bar of ``chart`` each book falls in (-1: none), shape (n_books,): the first bar holding it.

    A category's bars depend on a book's code alone: they are found for each distinct code, then looked up
    once per book (one pass over the books, not one a bar). The last ``MEMO_CHARTS`` charts' answers are kept
    with ``columns`` (int8 where the bars allow: n bytes each), so a rerun of an unchanged chart is a lookup."""
    key = tuple(chart)
    if key in columns.memo:
        return columns.memo[key]
    found = _bar_index(columns, chart)
    if len(chart) < 127:
        found = found.astype(np.int8)
    found.flags.writeable = False
    charts = [k for k in list(columns.memo) if k[:1] not in (("bars",), ("counts",))]  # a snapshot: pages share it
    for old in charts[:max(0, len(charts) - MEMO_CHARTS + 1)]:
        columns.memo.pop(old, None)
    columns.memo[key] = found
    return found


def _bar_index(columns: Columns, chart: Sequence[Choice]) -> np.ndarray:
    facets = {c.facet for c in chart}
    if chart and len(facets) == 1 and "year" not in facets and all(c.span is None for c in chart):
        (facet,) = facets
        names = columns.names[facet]
        each = np.arange(-1, len(names), dtype=np.int64)  # every code once, -1 (none) first
        per_code = _bar_index(Columns({facet: each}, {facet: names}, np.zeros(len(each))), chart) \
            if len(each) < columns.n else None
        if per_code is not None:
            return per_code[columns.codes[facet] + 1]
    if chart and facets == {"year"} and columns.year_codes is not None and len(columns.year_values) + 1 < columns.n:
        each = np.concatenate([[np.nan], columns.year_values])  # every distinct year once, none first
        return _bar_index(Columns({}, {}, each), chart)[columns.year_codes + 1]
    out = np.full(columns.n, -1, dtype=np.int32)
    for i in range(len(chart) - 1, -1, -1):  # backwards, so the first bar holding a book wins
        out[choice_mask(columns, chart[i])] = i
    return out


def bar_totals(columns: Columns, chart: Sequence[Choice]) -> np.ndarray:
    """Every book's count per bar of ``chart`` (``count_bars`` of ``bar_index`` with no mask), shape (n_bars,).

    A chart of one facet is counted from each distinct value's count (one ``bincount`` of the codes, kept with
    ``columns``): no bar index of n books is built, so the charts of a map nothing filters cost a pass each."""
    facets = {c.facet for c in chart}
    if len(facets) != 1:
        return count_bars(bar_index(columns, chart), len(chart))
    (facet,) = facets
    if facet == "year":
        if columns.year_codes is None:
            return count_bars(bar_index(columns, chart), len(chart))
        each = Columns({}, {}, np.concatenate([[np.nan], columns.year_values]))  # none first, then every year
    else:
        names = columns.names[facet]
        each = Columns({facet: np.arange(-1, len(names), dtype=np.int64)}, {facet: names}, np.zeros(len(names) + 1))
    per_value = _bar_index(each, chart)
    return np.bincount(per_value + 1, weights=_value_counts(columns, facet),
                       minlength=len(chart) + 1)[1:len(chart) + 1].astype(np.int64)


def _value_counts(columns: Columns, facet: str) -> np.ndarray:
    """How many books have each code of a facet, none (-1) first: one pass over the books, kept with ``columns``."""
    if ("counts", facet) not in columns.memo:
        if facet == "year":
            code, distinct = columns.year_codes, len(columns.year_values)
        else:
            code, distinct = columns.codes[facet], len(columns.names[facet])
        columns.memo[("counts", facet)] = bincount(code, distinct + 1, shift=1)
    return columns.memo[("counts", facet)]


def count_bars(index: np.ndarray, n_bars: int, mask: np.ndarray | None = None) -> np.ndarray:
    """Books per bar (``bar_index``), of every book or of those in ``mask``; shape (n_bars,)."""
    chosen = index if mask is None else index[mask]
    return bincount(chosen, n_bars + 1, shift=1)[1:n_bars + 1]  # -1 (none) counted apart


def view_mask(columns: Columns, filters: Sequence[Choice] = (),
              isolated: Sequence[int] | None = None) -> np.ndarray | None:
    """The books the map shows: those of ``isolated`` (every book when None) that every filter keeps.

    None when there is nothing to restrict (no filter, nothing isolated), so the map draws as before.
    """
    if not filters and isolated is None:
        return None
    keep = np.ones(columns.n, dtype=bool)
    if isolated is not None:
        keep[:] = False
        ids = np.asarray(list(isolated), dtype=np.int64)
        keep[ids[(ids >= 0) & (ids < columns.n)]] = True
    for choice in filters:
        keep &= choice_mask(columns, choice)
    return keep


def choice_from_event(event, chart: Sequence[Choice]) -> Choice | None:
    """The bar a click on a chart chose: the selection event's first point's index (``customdata`` holds it)."""
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    for p in points:
        index = p.get("customdata", p.get("point_index"))
        if isinstance(index, list):
            index = index[0] if index else None
        if index is not None and 0 <= int(index) < len(chart):
            return chart[int(index)]
    return None


def short(text: str, limit: int = 26) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


ALL_COLOUR, SHOWN_COLOUR, ACTIVE_COLOUR = "#d3d8de", "#4c78a8", "#e45756"


def facet_height(chart: Sequence[Choice]) -> int:
    """Pixels for a chart of these bars: about 19 a bar across (genre, country), a fixed height upright (years)."""
    if chart and chart[0].facet == "year":
        return 210
    return 56 + 19 * max(len(chart), 2)


def facet_figure(chart: Sequence[Choice], totals: np.ndarray, shown: np.ndarray | None, *, title: str,
                 active: Choice | None = None, height: int = 300):
    """A chart of one facet: every book's count per bar in grey, the selection's (``shown``) in colour over it;
    with no ``shown`` (every book shown), every book's count in colour.

    Genre and country are horizontal bars (their names read across), the
    largest on top; years stand upright in time order. Each bar carries its
    index in ``customdata`` (``choice_from_event``). The active filter's bar
    is drawn in another colour. Labels are escaped (``escape_label``). The
    layout's ``meta`` names the facet (``facet-genre``), so a page can find the chart.
    """
    import plotly.graph_objects as go

    upright = bool(chart) and chart[0].facet == "year"
    labels = [escape_label(short(c.label)) for c in chart]
    full = [escape_label(c.label) for c in chart]
    index = np.arange(len(chart))
    colours = [ACTIVE_COLOUR if c == active else SHOWN_COLOUR for c in chart]

    def trace(counts, name, colour, text):
        axis = {"x": labels, "y": counts} if upright else {"x": counts, "y": labels, "orientation": "h"}
        return go.Bar(**axis, name=name, marker={"color": colour}, customdata=index, hovertext=full,
                      hovertemplate="%{hovertext}: " + text + "<extra></extra>", showlegend=False)

    data = [trace(totals, "all books", ALL_COLOUR if shown is not None else colours,
                  "%{" + ("y" if upright else "x") + ":,} books")]
    if shown is not None:
        data.append(trace(shown, "selection", colours, "%{" + ("y" if upright else "x") + ":,} shown"))
    figure = go.Figure(data=data)
    figure.update_layout(
        barmode="overlay", height=height, margin={"l": 6, "r": 6, "t": 28, "b": 6}, bargap=0.15,
        meta=f"facet-{chart[0].facet}" if chart else "facet",
        title={"text": escape_label(title), "font": {"size": 14}, "x": 0, "xanchor": "left"},
        plot_bgcolor="#ffffff", dragmode=False, clickmode="event+select",
    )
    if upright:
        figure.update_xaxes(type="category", tickangle=-45, tickfont={"size": 10})
    else:
        figure.update_yaxes(type="category", autorange="reversed", tickfont={"size": 11})
    figure.update_traces(selected={"marker": {"opacity": 1}}, unselected={"marker": {"opacity": 1}})
    return figure


def subset_payload(payload: dict, keep: np.ndarray, fit: bool = False) -> dict:
    """A point renderer's payload (``mapviz.point_payload``) with only the books of ``keep`` (a mask by book id).

    The colours stay those of every book; the legend counts the books left
    (a group with none left is not listed). ``fit`` fits the home view to them.
    """
    ids = np.frombuffer(payload["ids"], dtype=np.int32)
    kept = np.asarray(keep, dtype=bool)[ids]
    xy = np.frombuffer(payload["xy"], dtype=np.float32).reshape(-1, 2)[kept]
    codes = np.frombuffer(payload["codes"], dtype=np.uint8)[kept]
    counts = bincount(codes, len(payload["groups"]))
    return {
        **payload,
        "xy": np.ascontiguousarray(xy).tobytes(),
        "ids": ids[kept].tobytes(),
        "codes": codes.tobytes(),
        "groups": [{**g, "count": int(k)} for g, k in zip(payload["groups"], counts)],
        "range": [full_range(xy[:, 0]), full_range(xy[:, 1])] if fit and len(xy) else payload["range"],
    }
