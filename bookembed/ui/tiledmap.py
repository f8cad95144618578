"""The point renderer for maps of millions of books: a view at a time, from the map's tiles (``bookembed.tiles``).

Above ``tiles.tiled_above()`` books, sending every point would pass
Streamlit's message limit. So the renderer gets the books of its view, at
most ``tiles.point_budget()`` of them, with their labels, over a density
raster of every book (drawn while the view holds more books than are drawn).
When the user zooms or pans, the renderer reports its view as its value;
that reruns the map's fragment, which sends the books of the new view. A
view holding no more books than the budget gets every one of them, so every
book can be reached by zooming in. A box selects every book inside it, from
the full coordinates (not only the drawn ones); the located book and its
neighbours are always drawn.

Per rerun the cost is that of ``tiles.view_points`` (bounded by the budget
and the tiles met), the labels of the drawn books, and O(n) vectorised
passes for a box (``tiles.in_box``, cached per box) or a filter's legend
counts. The tiles are built once per map and kept in the model folder.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from bookembed.counting import bincount
from bookembed.store import ModelFolder


@st.cache_resource(max_entries=2, show_spinner=False)
def _map_tiles(path: str, stamp: int | None, projection: str, _model: ModelFolder, _coords: np.ndarray):  # noqa: ARG001
    from bookembed.mapviz import full_range
    from bookembed.tiles import tiles_for

    found = tiles_for(_model, projection, _coords)
    return found, [full_range(_coords[:, 0]), full_range(_coords[:, 1])]


@st.cache_resource(max_entries=4, show_spinner=False)
def _colours(path: str, stamp: int | None, color_by: str, top_n: int, only: str | None, _model: ModelFolder):  # noqa: ARG001
    from bookembed.mapviz import point_groups

    return point_groups(_model.books, color_by=color_by, top_n=top_n, only=only, distinct=coded(_model, color_by))


def coded(model: ModelFolder, color_by: str) -> tuple | None:
    """The colouring's column coded once per model (``distinct.column_distinct``), or None (year, or no column)."""
    from bookembed.distinct import column_distinct
    from bookembed.mapviz import COLOR_BY

    column = COLOR_BY.get(color_by)
    return column_distinct(model, column) if column not in (None, "year") and column in model.books.columns else None


@st.cache_resource(max_entries=4, show_spinner=False)
def _in_box(sig: str, box: tuple, _coords: np.ndarray, _keep: np.ndarray | None) -> list[int]:  # noqa: ARG001
    from bookembed.tiles import in_box

    return in_box(_coords, box, _keep).tolist()


def _rect(value) -> tuple[float, float, float, float] | None:
    """Four finite numbers x0, y0, x1, y1 with x0 < x1 and y0 < y1 out of a component's value, or None."""
    try:
        x0, y0, x1, y1 = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return (x0, y0, x1, y1) if np.isfinite([x0, y0, x1, y1]).all() and x0 < x1 and y0 < y1 else None


def is_tiled(model: ModelFolder) -> bool:
    """Whether this model's point map is drawn a view at a time (more books than ``tiles.tiled_above()``)."""
    from bookembed.tiles import tiled_above

    return model.n_books > tiled_above()


def tiled_point_map(component, model: ModelFolder, coords: np.ndarray, projection: str, *, sig: str, color_by: str,
                    top_n: int, query_ids=(), neighbour_ids=(), located: int | None = None, height: int = 720,
                    key: str = "pointmap", only: str | None = None, labels: list[dict] | None = None,
                    selected=None, keep: np.ndarray | None = None, fit_kept: bool = False) -> list[int] | None:
    """``ui.map.point_map`` for a big map (arguments as there; ``component`` the declared renderer, ``sig`` names
    the map): draws the books of the renderer's view; returns the ids of every book in the box last selected."""
    from bookembed.mapviz import full_range, label_rows, marker_style, point_labels
    from bookembed.tiles import DENSITY_SIZE, draw_order, point_budget, view_payload, view_points

    # 1. the map's tiles and colours, built once; the view the renderer reported (else the whole map)
    path = str(model.path.resolve())
    coords = np.asarray(coords)
    found, home = _map_tiles(path, model.stamp, projection, model, coords)
    codes, groups, grey = _colours(path, model.stamp, color_by, int(top_n), only, model)
    if keep is not None:
        kept = bincount(codes[keep], len(groups))
        groups = [{**g, "count": int(k)} for g, k in zip(groups, kept)]
        if fit_kept and keep.any():
            home = [full_range(coords[keep, 0]), full_range(coords[keep, 1])]
    value = st.session_state.get(key)
    value = value if isinstance(value, dict) and value.get("sig") == sig else {}
    view = _rect(value.get("view")) or (home[0][0], home[1][0], home[0][1], home[1][1])
    # 2. the books of that view within the budget, the located book and its neighbours whatever the zoom
    budget = point_budget()
    ids, complete = view_points(found.tiles, coords, view, budget, keep=keep)
    marked = np.array([int(i) for i in (*query_ids, *neighbour_ids) if 0 <= int(i) < len(coords)], dtype=np.int64)
    if len(marked):  # the located book and its neighbours, where the view's books lack them
        ids = np.concatenate([ids, np.setdiff1d(marked, ids)])
    ids = draw_order(ids, grey)
    # 3. drawn with their labels (every detail fits: the budget keeps the message small)
    size, opacity = marker_style(min(budget, model.n_books))
    shown = None
    if selected is not None:  # the page's selection, as far as it is drawn
        shown = np.intersect1d(np.asarray(selected, dtype=np.int64), ids).tolist()
    result = component(
        **view_payload(coords, codes, ids), groups=groups, range=home, size=size, opacity=opacity, sig=sig,
        texts=point_labels(label_rows(model.books, ids)), texts_drawn=True,
        density=None if keep is not None else found.density.tobytes(),
        tiled={"key": repr(view), "complete": bool(complete), "extent": found.tiles.extent.tolist(),
               "size": DENSITY_SIZE, "total": int(model.n_books if keep is None else keep.sum())},
        legend_title=color_by, query=[int(i) for i in query_ids], neighbours=[int(i) for i in neighbour_ids],
        located=None if located is None else int(located), height=height, key=key, default=None,
        cluster_labels=labels or [], selected=shown,
    )
    # 4. a box selects every book inside it, drawn or not
    box = _rect(result.get("box")) if isinstance(result, dict) and result.get("sig") == sig else None
    return None if box is None else _in_box(sig, box, coords, keep)
