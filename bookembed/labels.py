"""Map labels on two levels, and a placement in which no two label boxes overlap.

Embedding Atlas, datamapplot and WizMap name a map's regions with few broad
labels when it is seen whole and more, finer ones when zoomed in. Here the
levels come from the clusters the map already has (``clusters.cluster_books``,
k-means on the unit vectors):

- level 1, the fine one: each k-means cluster, named by its characteristic links;
- level 0, the broad one: the fine clusters grouped again (Ward's agglomeration
  of their mean directions), each group named by the links *its* books share
  far more often than the rest do (``clusters.describe_clusters`` on the
  grouped labels). A group is a union of fine clusters, so the levels nest.

``place`` then keeps, heaviest first, each label whose box (in screen pixels,
for a given view and plot size) overlaps none already kept. Zooming in only
moves label centres apart while their boxes keep their size in pixels, so a
placement without overlap at a view stays without overlap at every zoom into it.

Costs, for n books, k fine clusters and P (book, link) pairs: grouping O(k^2 d)
(k is at most ``clusters.MAX_CLUSTERS``); naming the groups one sparse product,
O(P + g * n_links); centres O(n); placing m labels O(m^2) with m at most k.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

BROAD, FINE = 0, 1
CHAR_EM = 0.62
"""An upper estimate of a character's mean width, in font sizes (Plotly's Open Sans is about 0.55)."""
LINE_EM = 1.3
"""A label line's height, in font sizes."""
PAD_PX = 5.0
"""Padding, border and a hair of air round each box, in pixels (each side)."""


@dataclass(frozen=True)
class MapLabel:
    """One label: where it is drawn, what it says, how much it weighs.

    Attributes
    ----------
    level : int
        ``BROAD`` (0) or ``FINE`` (1).
    group : int
        The cluster id (fine) or the group id (broad), 0 the largest.
    x, y : float
        The label's centre in map coordinates: the median of its books' positions.
    lines : tuple of str
        The text, one line each, unescaped (the caller escapes for its renderer).
    weight : float
        The number of books it names; heavier labels are placed first.
    members : ndarray of int64
        Its books, the most typical first.
    centre : tuple of float
        The median of its books' positions on every axis of the map (x, y and, in 3-D, z).
    """

    level: int
    group: int
    x: float
    y: float
    lines: tuple[str, ...]
    weight: float
    members: np.ndarray
    centre: tuple[float, ...] = ()


def default_n_groups(n_clusters: int) -> int:
    """Broad groups for ``n_clusters`` fine ones: about their square root, at least 2 (6 for the demo's 31)."""
    return int(max(2, min(n_clusters - 1, round(np.sqrt(n_clusters)))))


def group_clusters(model, clustering, n_groups: int | None = None) -> np.ndarray:
    """The broad group of each fine cluster: Ward's agglomeration of the clusters' mean unit vectors.

    Returns
    -------
    ndarray of int64, shape (n_clusters,)
        Group ids renumbered so that 0 holds the most books. With fewer than
        three clusters each cluster is its own group.
    """
    k = len(clustering.clusters)
    if k < 3:
        return np.arange(k, dtype=np.int64)
    unit = model.unit_vectors("book")
    centres = np.stack([unit[c.members].mean(axis=0) for c in clustering.clusters])
    centres /= np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)
    from sklearn.cluster import AgglomerativeClustering

    g = default_n_groups(k) if n_groups is None else int(n_groups)
    raw = AgglomerativeClustering(n_clusters=max(1, min(g, k)), linkage="ward").fit_predict(centres)
    sizes = np.zeros(raw.max() + 1)
    np.add.at(sizes, raw, [c.size for c in clustering.clusters])
    order = np.argsort(-sizes, kind="stable")
    renumber = np.empty_like(order)
    renumber[order] = np.arange(len(order))
    return renumber[raw].astype(np.int64)


def label_levels(model, coords: np.ndarray, clustering, *, n_terms: int = 2,
                 n_groups: int | None = None) -> list[MapLabel]:
    """The broad and the fine labels of a 2-D (or the first two axes of a 3-D) map.

    Parameters
    ----------
    model : ModelFolder
    coords : ndarray, shape (n_books, >= 2)
    clustering : clusters.Clustering
        The fine level.
    n_terms : int
        Links per label, one line each.
    n_groups : int, optional
        Broad groups; ``default_n_groups`` of the clusters when not given.

    Returns
    -------
    list of MapLabel
        Broad labels first, each level heaviest first.
    """
    from bookembed.clusters import describe_clusters

    coords = np.asarray(coords, dtype=np.float64)
    out: list[MapLabel] = []
    groups = group_clusters(model, clustering, n_groups)
    fine = np.asarray(clustering.labels, dtype=np.int64)
    broad = np.where(fine >= 0, groups[np.maximum(fine, 0)], -1) if len(groups) else fine
    for level, described in ((BROAD, describe_clusters(model, broad, n_terms, 0)), (FINE, clustering.clusters)):
        for c in described:
            if c.size == 0:
                continue
            centre = tuple(float(v) for v in np.median(coords[c.members], axis=0))
            lines = tuple(c.terms[:n_terms]) or (f"cluster {c.id + 1}",)
            out.append(MapLabel(level, c.id, centre[0], centre[1], lines, float(c.size), c.members, centre))
    out.sort(key=lambda lab: (lab.level, -lab.weight, lab.group))
    return out


def text_box(lines: Sequence[str], font_px: float = 10.0) -> tuple[float, float]:
    """An upper estimate of a label box's (width, height) in pixels, padding included."""
    chars = max((len(s) for s in lines), default=0)
    return chars * font_px * CHAR_EM + 2 * PAD_PX, max(1, len(lines)) * font_px * LINE_EM + 2 * PAD_PX


def to_pixels(x, y, view, plot_px) -> tuple[np.ndarray, np.ndarray]:
    """Map coordinates to screen pixels of a plot ``plot_px = (width, height)`` showing ``view = [[x0, x1], [y0, y1]]``
    (screen y grows downwards)."""
    (x0, x1), (y0, y1) = view
    w, h = plot_px
    px = (np.asarray(x, dtype=np.float64) - x0) / (x1 - x0) * w
    py = (y1 - np.asarray(y, dtype=np.float64)) / (y1 - y0) * h
    return px, py


def overlaps(a, b) -> bool:
    """Whether two boxes ``(left, top, right, bottom)`` share any area."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place(boxes: Sequence[tuple[float, float, float, float]], plot_px, taken: Sequence = (),
          inside: bool = True, limit: int | None = None) -> list[int]:
    """Greedy placement: the indices of the boxes kept, in the order given (put the heaviest first).

    Parameters
    ----------
    boxes : sequence of (left, top, right, bottom), screen pixels
    plot_px : (width, height)
        With ``inside``, a box whose centre is outside the plot is left out (one at the edge may hang over it).
    taken : sequence of boxes
        Already on the plot (the located book's title): nothing may overlap them.
    limit : int, optional
        Keep at most this many.
    """
    kept: list[int] = []
    placed = [tuple(t) for t in taken]
    w, h = plot_px
    for i, b in enumerate(boxes):
        if limit is not None and len(kept) >= limit:
            break
        if inside and not (0 <= (b[0] + b[2]) / 2 <= w and 0 <= (b[1] + b[3]) / 2 <= h):
            continue
        if any(overlaps(b, p) for p in placed):
            continue
        placed.append(tuple(b))
        kept.append(i)
    return kept


def centred_boxes(px: np.ndarray, py: np.ndarray, sizes: Sequence[tuple[float, float]]) -> list[tuple]:
    """Boxes of the given pixel sizes centred on each point."""
    return [(float(x - w / 2), float(y - h / 2), float(x + w / 2), float(y + h / 2))
            for x, y, (w, h) in zip(px, py, sizes)]


def as_payload(levels: Sequence[MapLabel], n_terms: int = 2, chars: int = 30) -> list[dict]:
    """The labels as the point renderer takes them: ``{"level", "x", "y", "text", "weight"}``, the text's lines
    joined by a line break, each shortened to ``chars`` (plain text: the renderer writes it with ``fillText``)."""
    def short(term: str) -> str:
        term = term[len("category:"):] if term.lower().startswith("category:") else term
        return term if len(term) <= chars else term[: chars - 1].rstrip() + "…"

    return [{"level": int(lab.level), "x": float(lab.x), "y": float(lab.y),
             "text": "\n".join(short(t) for t in lab.lines[:n_terms]), "weight": float(lab.weight)}
            for lab in levels]
