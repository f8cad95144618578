"""Plotly figures for the app, built by pure functions (no Streamlit, no files).

The map draws every book: one WebGL trace (``Scattergl``, or ``Scatter3d`` in
3-D) per colour group, each point carrying its book id in ``customdata`` so a
box or lasso selection maps back to books. Trace ``meta`` says what a trace
holds: ``"books"`` for the points themselves (each book exactly once),
``"query"``, ``"neighbours"`` and ``"selection"`` for the highlights on top.

Every string from the data (titles, infobox values) is escaped before it
reaches Plotly, whose labels understand a little HTML: ``<b>`` in a title must
show as ``<b>``, not turn the text bold.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from bookembed.counting import bincount
from bookembed.distinct import book_years, distinct_stripped
from bookembed.zoom import ZOOM_SHARES, robust_range, scene_camera, zoom_window  # noqa: F401  (re-exported)

COLOR_BY = {
    "genre": "primary_genre",
    "author": "author",
    "country": "country",
    "language": "language",
    "publisher": "publisher",
    "year": "year",
}
OTHER = "other"
UNKNOWN = "(unknown)"
GREY_OTHER = "#b8bec6"
GREY_UNKNOWN = "#dde1e6"
# Plotly's default ten, then Dark24 without near-duplicates of them.
PALETTE = (
    "#636efa", "#EF553B", "#00cc96", "#ab63fa", "#FFA15A", "#19d3f3", "#FF6692", "#B6E880", "#FF97FF", "#FECB52",
    "#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#B68100", "#750D86", "#EB663B", "#511CFB", "#00A08B",
    "#FB00D1", "#FC0080", "#B2828D", "#6C7C32", "#862A16", "#A777F1", "#620042", "#1616A7", "#DA60CA", "#6C4516",
)
MAX_GROUPS = len(PALETTE)
MIXED_ABOVE = 20_000
"""Above this many books a categorical map is one trace with the points in random order and a
colour per point, so no group is drawn over all the others; the legend comes from empty traces."""


def marker_style(n: int) -> tuple[float, float]:
    """Point size and opacity for a map of ``n`` books: smaller and fainter as the map fills.

    7 px at full opacity 0.75 up to 500 books; about 2.5 px at 0.35 for a million, so dense
    regions still show their structure instead of one solid blot.
    """
    scale = max(0.0, np.log10(max(n, 1) / 500))
    return float(max(2.0, 7.0 - 1.5 * scale)), float(max(0.3, 0.75 - 0.12 * scale))


def escape_label(text: object) -> str:
    """Text for a Plotly label: ``& < >`` as entities, line breaks as spaces."""
    s = "" if text is None or (isinstance(text, float) and np.isnan(text)) else str(text)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return s.replace("\r", " ").replace("\n", " ")


def hover_texts(books: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Hover labels: the escaped title, and a line "author<br>genre, year, country".

    Two arrays, joined by the traces' ``hovertemplate`` (the title in bold):
    fewer angle brackets per point, which Plotly's JSON writes as six-byte
    escapes, keeps the 37k-book map's payload noticeably smaller (docs/app.md).

    Returns
    -------
    titles, details : ndarray of object (str), shape (n_books,)
    """

    def column(name: str) -> list[str]:
        if name not in books.columns:
            return [""] * len(books)
        values = books[name]
        if name == "year":
            return ["" if pd.isna(v) else str(int(v)) for v in values]
        return [escape_label(_shorten(v)) for v in values.fillna("")]

    titles = np.array([escape_label(t) for t in books["title"]], dtype=object)
    authors, genres, years, countries = column("author"), column("genre"), column("year"), column("country")
    details = np.empty(len(books), dtype=object)
    for i in range(len(books)):
        facts = ", ".join(x for x in (genres[i], years[i], countries[i]) if x)
        details[i] = f"{authors[i]}<br>{facts}" if authors[i] and facts else authors[i] or facts
    return titles, details


def fit_hover(hover: tuple[np.ndarray, np.ndarray], limit_bytes: int) -> tuple[tuple[np.ndarray, np.ndarray], bool]:
    """Hover labels that keep the map's message under ``limit_bytes``: the details go first, then nothing.

    A map message carries every label as JSON text, plus about 25 bytes of
    binary coordinates, ids and colour per point; the estimate counts both
    (with a margin for JSON escapes) before anything is sent.

    Returns
    -------
    hover : (titles, details)
        As given, or with empty details when the whole would not fit.
    trimmed : bool
        Whether the details were left out.
    """
    titles, details = hover
    n = len(titles)
    text = sum(map(len, titles)) + sum(map(len, details))
    if 1.3 * text + 40 * n <= limit_bytes:
        return hover, False
    return (titles, np.full(n, "", dtype=object)), True


def _shorten(value: object, limit: int = 60) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def group_sizes(values: Sequence | None, *, distinct: tuple | None = None) -> pd.Series:
    """How many books hold each value, most common first (ties by name); empty and missing values left out.

    Parameters
    ----------
    values : sequence of str
        One per book.
    distinct : tuple, optional
        The column already coded, ``distinct_stripped(values)`` (``distinct.column_distinct``): values unused.

    Returns
    -------
    Series of int
        Indexed by value.
    """
    counts = (distinct or distinct_stripped(values))[2]
    counts = counts[counts.index != ""].rename("count")
    return counts.sort_index(kind="stable").sort_values(ascending=False, kind="stable")


def category_codes(values: Sequence | None, top_n: int, only: str | None = None, *,
                   distinct: tuple | None = None) -> tuple[np.ndarray, list[str]]:
    """``category_labels`` as codes: each book's group as its position in ``groups`` (shape (n,); uint8 for
    fewer than 256 groups, else int64). ``distinct``: the column already coded, as ``group_sizes`` takes it.
    One pass over the books: which groups hold a book is read from the values' counts."""
    codes, cleaned, counts = distinct or distinct_stripped(values)
    if only is not None:
        top = [str(only).strip()] if counts.get(str(only).strip(), 0) > 0 else []
    else:
        known = counts[counts.index != ""]
        top = list(known.sort_index(kind="stable").sort_values(ascending=False, kind="stable").index[: max(0, top_n)])
    order = {g: i for i, g in enumerate(top)}
    per_value = np.array([-2 if v == "" else order.get(v, -1) for v in cleaned], dtype=np.int64)  # -1: other
    held_values = set(counts.index[counts.to_numpy() > 0])  # a value's group depends on the value alone
    held = np.array([v in held_values for v in cleaned], dtype=bool)
    groups = list(top)
    for code, name in ((-1, OTHER), (-2, UNKNOWN)):  # each group some book is in, after the kept values
        if (held & (per_value == code)).any():
            per_value[per_value == code] = len(groups)
            groups.append(name)
    dtype = np.uint8 if len(groups) < 256 else np.int64
    per_value = np.where(per_value < 0, 0, per_value).astype(dtype)  # the unheld -1, -2: no book looks them up
    book = per_value[codes] if len(codes) else np.zeros(0, dtype)
    return book, groups


def category_labels(values: Sequence, top_n: int, only: str | None = None) -> tuple[np.ndarray, list[str]]:
    """Group values into the ``top_n`` most common, ``"other"`` and ``"(unknown)"``.

    Parameters
    ----------
    values : sequence of str
        One per book; empty or missing means unknown.
    top_n : int
    only : str, optional
        Keep this one value alone (whatever its size): every other book is
        ``"other"`` (or ``"(unknown)"``), e.g. to see where one author's books lie.

    Returns
    -------
    labels : ndarray of object, shape (n,)
        The group of each book.
    groups : list of str
        The kept values, most common first (ties by name), then ``"other"``
        and ``"(unknown)"`` where present.
    """
    codes, groups = category_codes(values, top_n, only)
    return np.array(groups, dtype=object)[codes] if len(codes) else np.array([], dtype=object), groups


def _trace(coords: np.ndarray, ids: np.ndarray, dims: int, *, name: str, marker: dict, meta: str, hover=None, **extra) -> dict:
    trace = {
        "type": "scattergl" if dims == 2 else "scatter3d",
        "mode": "markers",
        "name": escape_label(name),
        "x": coords[ids, 0],
        "y": coords[ids, 1],
        "customdata": ids,
        "marker": marker,
        "meta": meta,
        **extra,
    }
    if dims == 3:
        trace["z"] = coords[ids, 2]
    if hover is not None:
        trace["text"] = hover[0][ids]
        trace["hovertext"] = hover[1][ids]
        trace["hovertemplate"] = "<b>%{text}</b><br>%{hovertext}<extra></extra>"
    else:
        trace["hoverinfo"] = "skip"
    return trace


def _mixed_traces(coords, labels, groups, colours, dims, base_marker, hover, drawn) -> list[dict]:
    """Every book in one trace, in a seeded random order, coloured per point; legend entries as empty traces.

    Grey groups (other, unknown) go first so they stay underneath; the
    coloured groups are interleaved, so none hides the others.
    """
    code_of = {g: i for i, g in enumerate(groups)}
    codes = np.fromiter((code_of[g] for g in labels), dtype=np.int16, count=len(labels))
    grey = np.isin(codes, [code_of[g] for g in (OTHER, UNKNOWN) if g in code_of])
    rng = np.random.default_rng(0)
    order = np.concatenate([rng.permutation(np.flatnonzero(grey)), rng.permutation(np.flatnonzero(~grey))])
    order = order[drawn[order]]
    g = len(groups)
    # a stepped colour scale: code i maps to groups[i]'s colour
    scale = []
    for i, name in enumerate(groups):
        scale += [[i / g, colours[name]], [(i + 1) / g, colours[name]]]
    marker = {**base_marker, "color": codes[order].astype(np.uint8), "colorscale": scale, "cmin": -0.5, "cmax": g - 0.5,
              "showscale": False}
    traces = [_trace(coords, order, dims, name="books", meta="books", hover=hover, marker=marker, showlegend=False)]
    counts = bincount(codes[drawn], g)
    for i, name in enumerate(groups):
        if not counts[i]:
            continue
        empty = {"type": "scattergl" if dims == 2 else "scatter3d", "mode": "markers", "x": [None], "y": [None],
                 "name": escape_label(f"{name} ({counts[i]:,})"), "meta": "legend", "hoverinfo": "skip",
                 "marker": {"size": 8, "color": colours[name]}, "legendrank": 1000 + i, "showlegend": True}
        if dims == 3:
            empty["z"] = [None]
        traces.append(empty)
    return traces


def map_figure(
    coords: np.ndarray,
    books: pd.DataFrame,
    *,
    color_by: str = "genre",
    top_n: int = 10,
    hover: tuple[np.ndarray, np.ndarray] | None = None,
    query_ids: Sequence[int] = (),
    neighbour_ids: Sequence[int] = (),
    located: int | None = None,
    selected_ids: Sequence[int] | None = None,
    point_size: float | None = None,
    opacity: float | None = None,
    height: int = 720,
    uirevision: str | None = None,
    only: str | None = None,
    keep: np.ndarray | None = None,
    fit_kept: bool = False,
):
    """The book map: every book once, coloured by a metadata column, with highlights on top.

    Parameters
    ----------
    coords : ndarray, shape (n_books, 2 or 3)
        Row i is book id i.
    books : DataFrame, shape (n_books, k)
        The model's books table.
    color_by : str
        A key of ``COLOR_BY``: ``genre`` (the primary genre), ``author``,
        ``country``, ``language``, ``publisher`` or ``year`` (a colour scale).
    top_n : int
        Categorical colourings keep the ``top_n`` largest groups; the rest are
        ``other``, books without a value ``(unknown)``.
    hover : (ndarray, ndarray), optional
        Precomputed ``hover_texts(books)``.
    query_ids, neighbour_ids : sequence of int
        Drawn as stars, and rings over them (a neighbour next to the query stays visible).
    located : int, optional
        A book to point at with an arrow and its title; a 2-D map opens
        zoomed in around it (``zoom_window``), its neighbours in view where
        they are near.
    selected_ids : sequence of int, optional
        Shown as Plotly's selection (others dimmed) in 2-D.
    point_size, opacity : float, optional
        Marker size and opacity; by default ``marker_style(n_books)``.
    height : int
    uirevision : str, optional
        Keeps zoom and legend state across redraws with the same value (the
        zoom of a 2-D map also with the same located book).
    only : str, optional
        Colour the books holding this one value of the ``color_by`` column
        and grey the rest (``category_labels``); ``top_n`` is then unused.
    keep : ndarray of bool, shape (n_books,), optional
        Draw only these books (filters, an isolated selection); colours and
        groups stay those of every book. ``fit_kept`` fits a 2-D map's axes to them.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    import plotly.graph_objects as go

    coords = np.asarray(coords, dtype=np.float32)
    n, dims = coords.shape
    if len(books) != n:
        raise ValueError(f"{n} coordinates for {len(books)} books")
    if color_by not in COLOR_BY:
        raise ValueError(f"cannot colour by {color_by!r}; use one of {', '.join(COLOR_BY)}")
    if hover is None:
        hover = hover_texts(books)
    column = COLOR_BY[color_by]
    drawn = np.ones(n, dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
    size, alpha = marker_style(n)
    point_size = size if point_size is None else point_size
    opacity = alpha if opacity is None else opacity
    traces: list[dict] = []
    # 3-D markers are drawn larger for the same size.
    base_marker = {"size": point_size if dims == 2 else point_size * 0.6, "opacity": opacity, "line": {"width": 0}}

    if column == "year":
        years = books["year"] if "year" in books.columns else pd.Series([pd.NA] * n)
        known = ~years.isna().to_numpy()
        ids = np.flatnonzero(~known & drawn)
        if len(ids):
            traces.append(_trace(coords, ids, dims, name="(no year)", meta="books", hover=hover,
                                 marker={**base_marker, "color": GREY_UNKNOWN}))
        ids = np.flatnonzero(known & drawn)
        if len(ids):
            values = years.to_numpy(dtype="float64", na_value=np.nan)
            lo, hi = np.nanpercentile(values[known], [2, 98])
            values = values[ids]
            traces.append(_trace(coords, ids, dims, name="year", meta="books", hover=hover, marker={
                **base_marker, "color": values, "colorscale": "Viridis", "cmin": float(lo), "cmax": float(max(hi, lo + 1)),
                "colorbar": {"title": {"text": "year"}, "thickness": 14}, "showscale": True,
            }))
    else:
        values = books[column] if column in books.columns else pd.Series([""] * n)
        labels, groups = category_labels(values, min(top_n, MAX_GROUPS), only=only)
        colours = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(groups) if g not in (OTHER, UNKNOWN)}
        colours[OTHER], colours[UNKNOWN] = GREY_OTHER, GREY_UNKNOWN
        if n > MIXED_ABOVE:
            traces += _mixed_traces(coords, labels, groups, colours, dims, base_marker, hover, drawn)
        else:
            # Grey groups first (underneath), then the coloured ones, smallest on top.
            draw = [g for g in (UNKNOWN, OTHER) if g in groups] + [g for g in groups if g not in (OTHER, UNKNOWN)][::-1]
            for g in draw:
                ids = np.flatnonzero((labels == g) & drawn)
                if not len(ids):
                    continue
                marker = {**base_marker, "color": colours[g]}
                if only is not None and g not in (OTHER, UNKNOWN):  # the one value asked for stands out of the grey
                    marker.update(size=base_marker["size"] * 1.6, opacity=1.0, line={"width": 1, "color": "#1b1f24"})
                traces.append(_trace(coords, ids, dims, name=f"{g} ({len(ids):,})", meta="books", hover=hover,
                                     marker=marker, legendrank=1000 + groups.index(g)))

    if selected_ids is not None and dims == 2:
        chosen = np.asarray(list(selected_ids), dtype=np.int64)
        for t in traces:
            if t.get("meta") == "books":
                t["selectedpoints"] = np.flatnonzero(np.isin(t["customdata"], chosen))

    if len(query_ids):
        star = {"size": max(16.0, point_size * 4), "color": "#ffd400", "symbol": "star",
                "line": {"width": 1.5, "color": "#000000"}}
        if dims == 3:
            star = {"size": max(8.0, point_size * 2.5), "color": "#ffd400", "symbol": "diamond",
                    "line": {"width": 1, "color": "#000000"}}
        traces.append(_trace(coords, np.asarray(query_ids, dtype=np.int64), dims, name="query",
                             meta="query", hover=hover, marker=star, legendrank=0))
    # The rings come after the star: drawn over it, a neighbour lying next to the query is not hidden by it.
    ring = {"size": max(9.0, point_size * 2.5), "color": "rgba(0,0,0,0)", "line": {"width": 2, "color": "#d62728"}}
    if dims == 3:
        ring = {"size": max(5.0, point_size * 1.6), "color": "#d62728", "symbol": "circle-open"}
    if len(neighbour_ids):
        traces.append(_trace(coords, np.asarray(neighbour_ids, dtype=np.int64), dims, name="neighbours",
                             meta="neighbours", hover=hover, marker=ring, legendrank=1))

    layout: dict = {
        "height": height,
        "margin": {"l": 10, "r": 10, "t": 30, "b": 10},
        "legend": {"itemsizing": "constant",
                   "title": {"text": color_by if only is None or column == "year" else
                             f"{color_by}: {escape_label(_shorten(only, 40))}"}},
        "hoverlabel": {"align": "left"},
        "uirevision": uirevision,
        "plot_bgcolor": "#ffffff",
    }
    axis = {"showticklabels": False, "title": {"text": ""}, "zeroline": False, "showgrid": False}
    if dims == 2:
        fitted = coords[drawn] if fit_kept and drawn.any() else coords
        ranges = [robust_range(fitted[:, 0]), robust_range(fitted[:, 1])]
        zoom: dict = {}
        if located is not None:
            ranges = zoom_window(coords, int(located), neighbour_ids, ranges)
            # A new located book zooms again, even after the reader zoomed by hand (same uirevision otherwise).
            zoom = {"uirevision": f"{uirevision}-located-{int(located)}"}
        layout.update(xaxis={**axis, "range": ranges[0], **zoom}, yaxis={**axis, "range": ranges[1], **zoom},
                      dragmode="select")
    else:
        layout["scene"] = {"xaxis": {**axis, "showbackground": False}, "yaxis": {**axis, "showbackground": False},
                           "zaxis": {**axis, "showbackground": False}}
        if located is not None:  # the camera moves in on the book; a new located book moves it again
            layout["scene"] = scene_camera(coords, int(located), neighbour_ids, layout["scene"])
            layout["scene"]["uirevision"] = f"{uirevision}-located-{int(located)}"
    if located is not None:
        note = {"text": f"<b>{escape_label(books['title'].iloc[int(located)])}</b>", "showarrow": True,
                "arrowhead": 2, "arrowwidth": 1.5, "bgcolor": "rgba(255,255,255,0.85)", "bordercolor": "#444"}
        x, y = float(coords[located, 0]), float(coords[located, 1])
        if dims == 2:
            layout["annotations"] = [{**note, "x": x, "y": y, "ax": 40, "ay": -40}]
        else:
            layout["scene"]["annotations"] = [{**note, "x": x, "y": y, "z": float(coords[located, 2]), "ax": 40, "ay": -40}]
    return go.Figure(data=traces, layout=layout)


def full_range(values: np.ndarray, pad: float = 0.04) -> list[float]:
    """An axis range from the smallest value to the largest, padded by ``pad`` of the span at each end:
    the point renderer's home view, where every book, outliers included, is on the picture."""
    values = np.asarray(values)
    vmin, vmax = (float(values.min()), float(values.max())) if len(values) else (np.nan, np.nan)
    if not (np.isfinite(vmin) and np.isfinite(vmax)):  # a NaN or an infinity: the finite values' range
        values = values[np.isfinite(values)]
        if len(values) == 0:
            return [-1.0, 1.0]
        vmin, vmax = float(values.min()), float(values.max())
    span = max(vmax - vmin, 1e-6)
    return [vmin - pad * span, vmax + pad * span]


def legend_figure(figure, height: int | None = None, per_row: int = 4):
    """The legend (or the year's colour bar) of a map, alone in one row: one legend under maps drawn side by
    side, which then draw none (``without_legend``).

    Parameters
    ----------
    figure : plotly.graph_objects.Figure
        From ``map_figure``.
    height : int, optional
        By default, room for every entry at about ``per_row`` a row.
    per_row : int

    Returns
    -------
    plotly.graph_objects.Figure
        A trace per legend entry of ``figure`` (its name and colour, no points), in the legend's order; for a
        colour scale, its bar laid flat.
    """
    import plotly.graph_objects as go

    traces = []
    for t in figure.data:
        marker = t.marker.to_plotly_json() if t.marker is not None else {}
        if marker.get("showscale"):
            bar = {**marker.get("colorbar", {}), "orientation": "h", "y": 0.5, "yanchor": "middle", "thickness": 14,
                   "len": 0.9}
            traces.append({"type": "scatter", "mode": "markers", "x": [None], "y": [None], "hoverinfo": "skip",
                           "showlegend": False, "marker": {**marker, "color": [marker.get("cmin", 0)],
                                                           "colorbar": bar, "size": 1}})
        elif t.showlegend is not False and t.meta in ("books", "legend") and isinstance(marker.get("color"), str):
            traces.append({"type": "scatter", "mode": "markers", "x": [None], "y": [None], "name": t.name,
                           "hoverinfo": "skip", "legendrank": t.legendrank, "showlegend": True,
                           "marker": {"size": 8, "color": marker["color"]}})
    entries = sum(1 for t in traces if t["showlegend"])
    if height is None:
        height = 60 if entries == 0 else 16 + 24 * -(-entries // per_row)
    layout = {"height": height, "margin": {"l": 10, "r": 10, "t": 0, "b": 0}, "plot_bgcolor": "#ffffff",
              "legend": {"orientation": "h", "x": 0, "y": 1, "yanchor": "top", "itemsizing": "constant", "maxheight": 1,
                         "title": figure.layout.legend.title.to_plotly_json() if figure.layout.legend else None},
              "xaxis": {"visible": False}, "yaxis": {"visible": False}}
    return go.Figure(data=traces, layout=layout)


def without_legend(figure):
    """``figure`` with no legend and no colour bar (drawn once beside it by ``legend_figure``); returned."""
    figure.update_layout(showlegend=False)
    figure.for_each_trace(lambda t: t.update(marker_showscale=False) if t.marker is not None and t.marker.showscale
                          else None)
    return figure


def book_ids_in(figure, meta: str = "books") -> np.ndarray:
    """The book ids drawn by the figure's traces of one kind (``customdata``), in trace order."""
    parts = [np.asarray(t.customdata, dtype=np.int64) for t in figure.data if t.meta == meta and t.customdata is not None]
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)


def loss_figure(history: dict, height: int = 320):
    """Training loss: per epoch (line and markers) and per chunk of steps (thin line), when recorded.

    ``history`` is the model folder's ``{"epochs": [{epoch, loss, ...}], "steps": [...]}``;
    step entries with ``epoch``/``step``/``steps`` are placed at fractional epochs.
    """
    import plotly.graph_objects as go

    fig = go.Figure()
    steps = [s for s in history.get("steps", []) if isinstance(s, dict) and "loss" in s]
    if steps:
        x = [_fractional_epoch(s) for s in steps]
        fig.add_trace(go.Scatter(x=x, y=[s["loss"] for s in steps], mode="lines", name="per chunk",
                                 line={"width": 1, "color": "#9db4d8"}))
    epochs = [e for e in history.get("epochs", []) if isinstance(e, dict) and "loss" in e]
    if epochs:
        fig.add_trace(go.Scatter(x=[e.get("epoch", i + 1) for i, e in enumerate(epochs)], y=[e["loss"] for e in epochs],
                                 mode="lines+markers", name="epoch mean", line={"width": 2, "color": "#1f4e9c"}))
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 10, "b": 10}, xaxis_title="epoch",
                      yaxis_title="loss", legend={"orientation": "h", "y": 1.1})
    return fig


def _fractional_epoch(step: dict) -> float:
    if "epoch" in step and "step" in step and step.get("steps"):
        return float(step["epoch"]) - 1 + float(step["step"]) / float(step["steps"])
    return float(step.get("epoch", step.get("step", 0)))


POINTS_ABOVE = 200_000
"""Above this many books the 2-D map is drawn by ``bookembed/ui/static/pointmap`` (a canvas of
pixels written directly) instead of Plotly, whose WebGL scatter takes many seconds for a million
points in a browser without a GPU (``benchmarks/bench_plotly.py``; docs/scale.md has the figures)."""

LABEL_SEP, RECORD_SEP = "\x1f", "\x1e"
"""Between a book's label fields, and between books, in ``point_payload``'s labels."""


def _arrow_text(books: pd.DataFrame, name: str, shorten: int | None = None):
    """A column as an Arrow string array: missing as "", separators as spaces, longer than ``shorten`` cut with "…"."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(books)
    if name not in books.columns:
        return pa.array([""] * n, type=pa.large_string())
    values = books[name]
    if name == "year":
        arr = pc.cast(pa.array(values.astype("Int64"), from_pandas=True), pa.large_string())
    elif pd.api.types.is_string_dtype(values.dtype) and not pd.api.types.is_object_dtype(values.dtype):
        arr = pc.cast(pa.array(values), pa.large_string())  # Arrow-backed already: no Python object per book
    else:
        arr = pc.cast(pa.array(values.astype(object).where(values.notna(), None), type=pa.large_string(),
                               from_pandas=True), pa.large_string())
    arr = pc.fill_null(arr, "")
    for sep in (LABEL_SEP, RECORD_SEP):
        arr = pc.replace_substring(arr, sep, " ")
    if shorten is not None:
        cut = pc.binary_join_element_wise(pc.utf8_rtrim_whitespace(pc.utf8_slice_codeunits(arr, 0, shorten - 1)),
                                          pa.scalar("…", pa.large_string()), pa.scalar("", pa.large_string()))
        arr = pc.if_else(pc.greater(pc.utf8_length(arr), shorten), cut, arr)
    return arr


LABEL_COLUMNS = ("title", "author", "genre", "year", "country")
"""The books table's columns a hover label is made of (``point_labels``)."""


def label_rows(books: pd.DataFrame, ids) -> pd.DataFrame:
    """The rows ``ids`` of the books table, only the columns a label needs: O(len(ids)) per column."""
    return pd.DataFrame({c: books[c].take(ids).reset_index(drop=True) for c in LABEL_COLUMNS if c in books.columns})


def point_labels(books: pd.DataFrame, details: bool = True) -> bytes:
    """Every book's hover label as UTF-8: title, author and "genre, year, country", plain text.

    Fields are separated by ``LABEL_SEP`` and books by ``RECORD_SEP`` (neither
    kept in the text); author, genre and country are cut at 60 characters as
    on Plotly's maps. The renderer shows them as text, never as HTML.
    ``details=False`` gives titles only. Built with Arrow's string kernels,
    several times faster than a Python loop at a million books (docs/scale.md).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    labels = _arrow_text(books, "title")
    if details:
        def text(value: str):
            return pa.scalar(value, pa.large_string())

        def followed(f):  # "f, ", or "" for an empty f
            return pc.if_else(pc.equal(f, ""), f, pc.binary_join_element_wise(f, text(", "), text("")))

        genre, year, country = _arrow_text(books, "genre", 60), _arrow_text(books, "year"), _arrow_text(books, "country", 60)
        before = pc.binary_join_element_wise(followed(genre), followed(year), text(""))
        joined = pc.if_else(pc.equal(country, ""), pc.replace_substring_regex(before, ", $", ""),
                            pc.binary_join_element_wise(before, country, text("")))
        labels = pc.binary_join_element_wise(labels, _arrow_text(books, "author", 60), joined, text(LABEL_SEP))
    whole = pc.binary_join(pa.LargeListArray.from_arrays(pa.array([0, len(labels)], pa.int64()), labels),
                           pa.scalar(RECORD_SEP, pa.large_string()))
    return whole[0].as_py().encode() if len(labels) else b""


def point_groups(books: pd.DataFrame, *, color_by: str = "genre", top_n: int = 10,
                 only: str | None = None, distinct: tuple | None = None) -> tuple[np.ndarray, list[dict], np.ndarray]:
    """The point renderer's colours: each book's group code (uint8, by book id), the groups (name, colour and
    count, for the legend) and which books are grey (other, unknown). See ``point_payload``; ``distinct``, the
    colouring's column already coded (``distinct.column_distinct``), for a column of strings."""
    n = len(books)
    if color_by not in COLOR_BY:
        raise ValueError(f"cannot colour by {color_by!r}; use one of {', '.join(COLOR_BY)}")
    column = COLOR_BY[color_by]
    if column == "year":
        years = book_years(books)
        known = ~np.isnan(years)
        lo, hi = np.nanpercentile(years, [2, 98]) if known.any() else (0.0, 1.0)
        edges = np.linspace(lo, max(hi, lo + 1), 11)
        band = np.clip(np.searchsorted(edges, np.where(known, years, lo), side="right") - 1, 0, 9)
        labels = np.where(known, band, 10)
        viridis = ("#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58",
                   "#b5de2b", "#fde725")
        groups = [f"{edges[i]:.0f}–{edges[i + 1]:.0f}" for i in range(10)] + [UNKNOWN]
        colours = list(viridis) + [GREY_UNKNOWN]
        codes = labels.astype(np.uint8)
        grey = codes == 10
    else:
        values = books[column] if column in books.columns else pd.Series([""] * n)
        book, groups = category_codes(values, min(top_n, MAX_GROUPS), only=only,
                                      distinct=distinct if column in books.columns else None)
        colours = [GREY_OTHER if g == OTHER else GREY_UNKNOWN if g == UNKNOWN else PALETTE[i % len(PALETTE)]
                   for i, g in enumerate(groups)]
        codes = book.astype(np.uint8)
        greys = np.zeros(256, dtype=bool)  # by code: one lookup a book, not np.isin's search
        greys[[i for i, g in enumerate(groups) if g in (OTHER, UNKNOWN)]] = True
        grey = greys[codes]
    counts = bincount(codes, len(groups))
    return codes, [{"name": str(g), "colour": c, "count": int(k)} for g, c, k in zip(groups, colours, counts)], grey


def point_payload(coords: np.ndarray, books: pd.DataFrame, *, color_by: str = "genre", top_n: int = 10,
                  seed: int = 0, only: str | None = None, distinct: tuple | None = None) -> dict:
    """What the point renderer draws: every book once, in a seeded random order, coloured by group.

    Returns
    -------
    dict
        ``xy`` (float32 x, y pairs in drawing order, as bytes), ``ids``
        (int32 book id of each drawn point, bytes), ``codes`` (uint8 group
        of each drawn point, bytes), ``groups`` (name, colour and count of
        each group, for the legend), ``range`` (``full_range`` of x and
        y: the home view holds every book, far outliers too), ``size`` and
        ``opacity`` (``marker_style``).

    Grey groups (other, unknown) are drawn first, the coloured ones
    interleaved after them, so no group hides the others. Year is drawn in
    ten bands of the 2nd to 98th percentile. ``only`` colours one value
    alone, as on ``map_figure``. ``distinct`` as on ``point_groups``.
    """
    coords = np.asarray(coords, dtype=np.float32)
    n = len(coords)
    if coords.ndim != 2 or coords.shape[1] != 2 or len(books) != n:
        raise ValueError(f"the point renderer draws 2-D maps of every book; got {coords.shape} for {len(books)} books")
    codes, groups, grey = point_groups(books, color_by=color_by, top_n=top_n, only=only, distinct=distinct)
    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(np.flatnonzero(grey)), rng.permutation(np.flatnonzero(~grey))])
    size, opacity = marker_style(n)
    return {
        "xy": np.ascontiguousarray(coords[order]).tobytes(),
        "ids": order.astype(np.int32).tobytes(),
        "codes": codes[order].tobytes(),
        "groups": groups,
        "range": [full_range(coords[:, 0]), full_range(coords[:, 1])],
        "size": size,
        "opacity": opacity,
    }
