"""Where a map opens when a book is located: a 2-D window around it, or a 3-D camera moved in on it."""

from __future__ import annotations

from typing import Sequence

import numpy as np

ZOOM_SHARES = (0.25, 0.6)
"""A located book's window spans at least the first and at most the second share of the whole map, per axis."""


def zoom_window(coords: np.ndarray, centre: int, around: Sequence[int] = (), full: Sequence | None = None,
                shares: tuple[float, float] = ZOOM_SHARES, pad: float = 0.15) -> list[list[float]]:
    """x and y ranges of a window centred on one book, wide enough for the books ``around`` it.

    Each axis spans what the farthest of ``around`` needs (plus ``pad``), but
    at least ``shares[0]`` and at most ``shares[1]`` of that axis's full
    range: a map zoomed in on the book, its near neighbours in view; a
    neighbour placed far away on the map stays out rather than undo the zoom.

    Parameters
    ----------
    coords : ndarray, shape (n_books, 2)
    centre : int
        The book the window is centred on.
    around : sequence of int
        Books to keep in view where the bounds allow (its neighbours).
    full : [[x0, x1], [y0, y1]], optional
        The whole map's ranges; by default ``robust_range`` of each axis.
    shares : (float, float)
    pad : float

    Returns
    -------
    [[x0, x1], [y0, y1]]
    """
    coords = np.asarray(coords, dtype=np.float64)
    if full is None:
        full = [robust_range(coords[:, 0]), robust_range(coords[:, 1])]
    here = coords[int(centre)]
    others = coords[np.asarray(list(around), dtype=np.int64)] if len(around) else np.empty((0, 2))
    window = []
    for axis in range(2):
        span = float(full[axis][1] - full[axis][0])
        need = float(np.abs(others[:, axis] - here[axis]).max()) * (1 + pad) if len(others) else 0.0
        half = min(max(need, shares[0] * span / 2), shares[1] * span / 2)
        window.append([float(here[axis] - half), float(here[axis] + half)])
    return window


def robust_range(values: np.ndarray, share: float = 0.01, pad: float = 0.08) -> list[float]:
    """An axis range that shows all but the farthest ``share`` of points at each end, padded.

    UMAP places books with almost no links far away from the rest; fitting the
    axes to them would squash everything else into a corner. Zooming out (or
    the toolbar's autoscale) still shows them.
    """
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return [-1.0, 1.0]
    vmin, vmax = float(values.min()), float(values.max())
    lo, hi = np.quantile(values, [share, 1 - share]) if len(values) >= 200 else (vmin, vmax)
    span = max(float(hi - lo), 1e-6)
    return [max(lo - pad * span, vmin - 0.02 * span), min(hi + pad * span, vmax + 0.02 * span)]


EYE = 1.25
"""Plotly's default eye distance along each axis, in the scene's box units: the whole box in view."""

CAMERA_SHARES = (0.45, 0.8)
"""The 3-D camera's bounds, as shares of the default eye distance: less zoom than ``ZOOM_SHARES`` in 2-D,
since perspective already brings the near books closer."""


def scene_camera(coords: np.ndarray, centre: int, around: Sequence[int] = (), scene: dict | None = None,
                 shares: tuple[float, float] = CAMERA_SHARES, pad: float = 0.04) -> dict:
    """A 3-D scene whose camera looks at one book from close by, its near neighbours in view.

    Plotly places the camera in the scene's box units: the box spans
    ``aspectratio`` along each axis, centred on 0. So the axes get explicit
    ranges (every book inside, padded) and a manual aspect ratio in proportion
    to them (the map's shape kept), which makes a point's box position
    ``(p - mid) / largest span``. The camera's centre is the book; its eye sits
    where the default eye would, scaled by the share of the map to show: what
    the farthest of ``around`` needs, within ``shares`` (as ``zoom_window``).

    Returns
    -------
    dict
        ``scene`` with ``xaxis/yaxis/zaxis.range``, ``aspectmode``, ``aspectratio`` and ``camera`` set.
    """
    coords = np.asarray(coords, dtype=np.float64)[:, :3]
    lo, hi = coords.min(axis=0), coords.max(axis=0)
    span = np.maximum(hi - lo, 1e-6)
    lo, hi = lo - pad * span, hi + pad * span
    span = hi - lo
    largest = float(span.max())
    here = (coords[int(centre)] - (lo + hi) / 2) / largest
    others = coords[np.asarray(list(around), dtype=np.int64)] if len(around) else np.empty((0, 3))
    need = float(np.abs(others - coords[int(centre)]).max()) * 2 / largest if len(others) else 0.0
    share = min(max(need * 1.15, shares[0]), shares[1])
    scene = dict(scene or {})
    for name, a, b in zip(("xaxis", "yaxis", "zaxis"), lo, hi):
        scene[name] = {**scene.get(name, {}), "range": [float(a), float(b)]}
    scene["aspectmode"] = "manual"
    scene["aspectratio"] = {k: float(v / largest) for k, v in zip("xyz", span)}
    scene["camera"] = {"center": {k: float(v) for k, v in zip("xyz", here)},
                       "eye": {k: float(v + EYE * share) for k, v in zip("xyz", here)}}
    return scene
