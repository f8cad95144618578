"""Additions to the book map: cluster labels, density, link markers, custom axes.

Each ``add_*`` function takes the ``plotly.graph_objects.Figure`` that
``mapviz.map_figure`` built and adds to it (and returns it): the map itself is
left as it was, so every overlay can be turned on or off alone. Trace ``meta``
names what a trace holds, as in ``mapviz``: ``"density"``, ``"links"``,
``"predicted"``; cluster labels are layout annotations named ``cluster N``.
``axis_coordinates`` computes the coordinates of a custom projection.

Strings from the data are escaped with ``mapviz.escape_label`` before they
reach Plotly.

Costs, for n books on the map: cluster centres O(n); density O(n) to bin into
a fixed grid, so its payload does not grow with n; placing m links on a map
O(m n dim) (one matrix product, in blocks); custom axes O((n_books + n_links) dim).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from bookembed.errors import BookembedError
from bookembed.mapviz import escape_label, robust_range

LABEL_TERMS = 2
LABEL_CHARS = 30
HOVER_TITLES = 15
LABEL_SPACING = (0.16, 0.045)
DENSITY_BINS = 90


class AxisError(BookembedError):
    """A custom axis that cannot be built; the message names the axis and the link."""


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _display_term(term: str) -> str:
    # "category:novels by isaac asimov" reads as well without its prefix on the map.
    return term[len("category:"):] if term.lower().startswith("category:") else term


def cluster_centres(coords: np.ndarray, labels: np.ndarray, n_clusters: int) -> np.ndarray:
    """Per cluster, the median of its books' map coordinates (robust to UMAP's stragglers).

    Parameters
    ----------
    coords : ndarray, shape (n_books, dims)
    labels : ndarray of int, shape (n_books,)
        Cluster ids 0..n_clusters-1, ``-1`` for none.
    n_clusters : int

    Returns
    -------
    ndarray of float64, shape (n_clusters, dims)
        NaN rows for empty clusters.
    """
    coords = np.asarray(coords, dtype=np.float64)
    labels = np.asarray(labels)
    out = np.full((n_clusters, coords.shape[1]), np.nan)
    for c in range(n_clusters):
        members = labels == c
        if members.any():
            out[c] = np.median(coords[members], axis=0)
    return out


def label_text(cluster, n_terms: int = LABEL_TERMS) -> str:
    """A cluster's label as drawn: its first links, shortened and escaped, one per line."""
    terms = [escape_label(_short(_display_term(t))) for t in cluster.terms[:n_terms]]
    return "<br>".join(terms) if terms else f"cluster {cluster.id + 1}"


def add_cluster_labels(fig, coords: np.ndarray, clustering, titles: Sequence[str], *, n_terms: int = LABEL_TERMS,
                       hover_titles: int = HOVER_TITLES, spacing: tuple[float, float] | None = LABEL_SPACING):
    """Write each cluster's characteristic links at its centre; hovering lists its books.

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
        From ``mapviz.map_figure``.
    coords : ndarray, shape (n_books, 2 or 3)
        The map's coordinates, row i is book i.
    clustering : bookembed.clusters.Clustering
    titles : sequence of str, length n_books
    n_terms : int
        Links shown per label (the hover shows all of them).
    hover_titles : int
        Books listed in the hover, the most typical first.
    spacing : (float, float) or None
        On a 2-D map, a label is left out when its centre is closer than these
        shares of the axis ranges (x, y) to a larger cluster's label, so that
        labels do not cover each other; None draws every label.

    Returns
    -------
    plotly.graph_objects.Figure
        The same figure, with one annotation per drawn cluster (``name="cluster N"``).
    """
    coords = np.asarray(coords)
    dims = coords.shape[1]
    centres = cluster_centres(coords, clustering.labels, len(clustering.clusters))
    gap = None
    if spacing is not None and dims == 2:
        # Shares of the whole map's ranges, not of the figure's: a map zoomed in on a book zooms out to these.
        spans = [np.subtract(*reversed(robust_range(coords[:, i]))) or 1.0 for i in range(2)]
        gap = (spacing[0] * float(spans[0]), spacing[1] * float(spans[1]))
    placed: list[np.ndarray] = []
    notes = []
    for cluster, centre in zip(clustering.clusters, centres):  # largest first
        if np.isnan(centre).any():
            continue
        if gap is not None and any(abs(centre[0] - p[0]) < gap[0] and abs(centre[1] - p[1]) < gap[1] for p in placed):
            continue
        placed.append(centre)
        listed = [escape_label(_short(titles[i], 60)) for i in cluster.members[:hover_titles]]
        more = cluster.size - len(listed)
        hover = (f"<b>{escape_label(cluster.label)}</b><br>{cluster.size:,} books<br>" + "<br>".join(listed)
                 + (f"<br>… and {more:,} more" if more > 0 else ""))
        note = {
            "text": label_text(cluster, n_terms),
            "hovertext": hover,
            "name": f"cluster {cluster.id}",
            "showarrow": False,
            "font": {"size": 10, "color": "#1b1f24"},
            "bgcolor": "rgba(255,255,255,0.62)",
            "bordercolor": "rgba(60,60,60,0.45)",
            "borderwidth": 1,
            "borderpad": 2,
            "captureevents": True,
            "x": float(centre[0]),
            "y": float(centre[1]),
        }
        if dims == 3:
            note["z"] = float(centre[2])
        notes.append(note)
    if dims == 3:
        existing = list(fig.layout.scene.annotations or [])
        fig.update_layout(scene={"annotations": existing + notes})
    else:
        existing = list(fig.layout.annotations or [])
        fig.update_layout(annotations=existing + notes)
    return fig


def density_grid(coords: np.ndarray, bins: int = DENSITY_BINS, x_range=None, y_range=None, smooth: float = 1.5):
    """Smoothed 2-D histogram of the points: O(n) to bin, then a fixed-size grid.

    Returns
    -------
    x : ndarray, shape (bins,)
    y : ndarray, shape (bins,)
    z : ndarray, shape (bins, bins)
        Row = y, column = x; scaled so the densest cell is 1.
    """
    from scipy.ndimage import gaussian_filter

    coords = np.asarray(coords, dtype=np.float64)
    if x_range is None:
        x_range = (coords[:, 0].min(), coords[:, 0].max())
    if y_range is None:
        y_range = (coords[:, 1].min(), coords[:, 1].max())
    hist, xe, ye = np.histogram2d(coords[:, 0], coords[:, 1], bins=bins, range=[list(x_range), list(y_range)])
    z = gaussian_filter(hist.T, smooth)
    z = z / max(float(z.max()), 1e-12)
    return (xe[:-1] + xe[1:]) / 2, (ye[:-1] + ye[1:]) / 2, z


def add_density(fig, coords: np.ndarray, *, levels: int = 8, bins: int = DENSITY_BINS):
    """Density contours drawn under the points (2-D maps only).

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
    coords : ndarray, shape (n_books, 2)
    levels : int
        Number of contour levels.
    bins : int
        Grid cells per axis; the payload is ``bins**2`` numbers whatever n is.

    Returns
    -------
    plotly.graph_objects.Figure
        With a ``meta="density"`` contour trace first, so the points are drawn over it.
    """
    import plotly.graph_objects as go

    coords = np.asarray(coords)
    if coords.shape[1] != 2:
        raise ValueError("the density layer is drawn on 2-D maps only")
    # Over the whole map (``mapviz.robust_range``), whatever part of it the figure opens on (a located book).
    x, y, z = density_grid(coords, bins, tuple(robust_range(coords[:, 0])), tuple(robust_range(coords[:, 1])))
    trace = go.Contour(
        x=x, y=y, z=z, meta="density", name="density", showscale=False, hoverinfo="skip", showlegend=False,
        contours={"coloring": "fill", "start": 1.0 / levels, "end": 1.0, "size": 1.0 / levels, "showlines": True},
        line={"width": 0.6, "color": "rgba(40,70,140,0.5)"},
        colorscale=[[0.0, "rgba(255,255,255,0)"], [0.15, "rgba(214,226,244,0.55)"], [1.0, "rgba(46,90,170,0.6)"]],
        zmin=0.0, zmax=1.0,
    )
    fig.add_trace(trace)
    fig.data = (fig.data[-1],) + tuple(fig.data[:-1])
    return fig


def link_positions(model, coords: np.ndarray, link_ids: Sequence[int], k: int = 10, block: int = 512) -> np.ndarray:
    """Where links sit on a book map: the similarity-weighted mean position of each link's k nearest books.

    A UMAP or t-SNE map has no formula for new points; a link is placed among
    the books its vector is nearest to (cosine, book and link vectors share
    one space: the model scores pairs by that cosine). O(m n dim) for m links.

    Parameters
    ----------
    model : ModelFolder
    coords : ndarray, shape (n_books, dims)
    link_ids : sequence of int, length m
    k : int

    Returns
    -------
    ndarray of float64, shape (m, dims)
    """
    coords = np.asarray(coords, dtype=np.float64)
    ids = np.asarray(link_ids, dtype=np.int64)
    books = model.unit_vectors("book")
    links = model.unit_vectors("link")
    k = max(1, min(k, model.n_books))
    out = np.empty((len(ids), coords.shape[1]))
    for start in range(0, len(ids), block):
        sims = links[ids[start : start + block]] @ books.T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        w = np.maximum(np.take_along_axis(sims, top, axis=1), 0.0) + 1e-6
        out[start : start + block] = (w[:, :, None] * coords[top]).sum(axis=1) / w.sum(axis=1, keepdims=True)
    return out


def top_links(model, n: int) -> np.ndarray:
    """Ids of the ``n`` links used by most books (ties by id), shape (<= n,)."""
    return np.argsort(-np.asarray(model.link_counts), kind="stable")[: max(0, n)].astype(np.int64)


def add_link_points(fig, link_coords: np.ndarray, names: Sequence[str], counts: Sequence[int] | None = None, *,
                    show: str = "both", n_text: int = 15):
    """Link vectors as diamonds on the map, the first ``n_text`` with their names.

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
    link_coords : ndarray, shape (m, 2 or 3)
    names : sequence of str, length m
        Link names (escaped here).
    counts : sequence of int, optional
        Books linking to each, shown in the hover.
    show : {"both", "links"}
        ``"links"`` hides the book traces (``meta="books"``) as well.
    n_text : int
        How many links (the first ones given) carry a text label.

    Returns
    -------
    plotly.graph_objects.Figure
        With a ``meta="links"`` trace; its points carry no ``customdata``, so a
        selection of them selects no book.
    """
    if show not in ("both", "links"):
        raise ValueError(f"show must be 'both' or 'links', got {show!r}")
    link_coords = np.asarray(link_coords, dtype=np.float64)
    dims = link_coords.shape[1]
    escaped = [escape_label(n) for n in names]
    # Shortened before escaping, so an entity is never cut in half.
    text = [escape_label(_short(str(n), 28)) if i < n_text else "" for i, n in enumerate(names)]
    hover = [f"<b>{e}</b><br>link" + (f", {int(counts[i]):,} books" if counts is not None else "")
             for i, e in enumerate(escaped)]
    trace = {
        "type": "scattergl" if dims == 2 else "scatter3d",
        "mode": "markers+text",
        "name": f"links ({len(names):,})",
        "meta": "links",
        "x": link_coords[:, 0],
        "y": link_coords[:, 1],
        "text": text,
        "textposition": "top center",
        "textfont": {"size": 10, "color": "#5a2d0c"},
        "hovertext": hover,
        "hovertemplate": "%{hovertext}<extra></extra>",
        "marker": {"symbol": "diamond", "size": 8 if dims == 2 else 4, "color": "#e07b00",
                   "line": {"width": 1, "color": "#5a2d0c"}},
        "legendrank": 2,
    }
    if dims == 3:
        trace["z"] = link_coords[:, 2]
    fig.add_trace(trace)
    if show == "links":
        fig.for_each_trace(lambda t: t.update(visible=False), selector={"meta": "books"})
    return fig


def add_predicted_marks(fig, coords: np.ndarray, ids: Sequence[int], probabilities: Sequence[float] | None = None):
    """Rings around books whose colour is a predicted value (``meta="predicted"``), 2-D or 3-D."""
    coords = np.asarray(coords)
    ids = np.asarray(ids, dtype=np.int64)
    dims = coords.shape[1]
    trace = {
        "type": "scattergl" if dims == 2 else "scatter3d",
        "mode": "markers",
        "name": f"predicted ({len(ids):,})",
        "meta": "predicted",
        "x": coords[ids, 0],
        "y": coords[ids, 1],
        "hoverinfo": "skip",
        "marker": {"symbol": "circle-open", "size": 11 if dims == 2 else 5, "color": "#222222",
                   "line": {"width": 1}},
        "legendrank": 3,
    }
    if dims == 3:
        trace["z"] = coords[ids, 2]
    fig.add_trace(trace)
    return fig


@dataclass(frozen=True)
class CustomAxes:
    """Coordinates of a custom projection.

    Attributes
    ----------
    books : ndarray of float32, shape (n_books, 2)
    links : ndarray of float32, shape (n_links, 2)
    x_title, y_title : str
        Plain text (escape before drawing).
    """

    books: np.ndarray
    links: np.ndarray
    x_title: str
    y_title: str


def _end_vector(model, names: Sequence[str] | str, axis: str) -> tuple[np.ndarray, list[str]]:
    from bookembed.neighbors import resolve

    if isinstance(names, str):
        names = [names]
    names = [n for n in (str(x).strip() for x in names) if n]
    if not names:
        raise AxisError(f"{axis}: no link given for one end")
    ids = [resolve(model, n, "link") for n in names]
    unit = model.unit_vectors("link")[ids].mean(axis=0)
    norm = float(np.linalg.norm(unit))
    if norm < 1e-9:
        raise AxisError(f"{axis}: the links {', '.join(names)} cancel out; choose others")
    return unit / norm, [model.links[i] for i in ids]


def _pair_axis(model, ends, axis: str) -> tuple[np.ndarray, np.ndarray, str]:
    if len(ends) != 2:
        raise AxisError(f"{axis}: give two ends (links or lists of links), got {len(ends)}")
    left, left_names = _end_vector(model, ends[0], axis)
    right, right_names = _end_vector(model, ends[1], axis)
    if set(left_names) == set(right_names):
        raise AxisError(f"{axis}: both ends are {', '.join(left_names)}; choose two different ends")
    books, links = model.unit_vectors("book"), model.unit_vectors("link")
    # Left end to the left: x = cos(v, right) - cos(v, left).
    title = f"{' + '.join(left_names)}  ←  →  {' + '.join(right_names)}"
    return books @ right - books @ left, links @ right - links @ left, title


def axis_coordinates(model, x_ends, y_ends=None) -> CustomAxes:
    """A custom projection, as the Embedding Projector's: each axis runs from one link (or set) to another.

    A book's x is ``cos(v, right) - cos(v, left)``, where each end is the
    normalised mean of its links' unit vectors. The y axis is a second pair,
    or the first principal component of the book vectors. Links are placed by
    the same formulas, exactly. O((n_books + n_links) dim).

    Parameters
    ----------
    model : ModelFolder
    x_ends : (str or sequence of str, str or sequence of str)
        Left and right ends, e.g. ``("fantasy", "science fiction")``.
    y_ends : same, optional
        Bottom and top; PCA when not given.

    Returns
    -------
    CustomAxes

    Raises
    ------
    AxisError, neighbors.UnknownName
        An empty end, the same end twice, or a link not in the model.
    """
    bx, lx, x_title = _pair_axis(model, x_ends, "x axis")
    if y_ends is not None:
        by, ly, y_title = _pair_axis(model, y_ends, "y axis")
    else:
        books, links = model.unit_vectors("book"), model.unit_vectors("link")
        mean = books.mean(axis=0)
        # First right-singular vector of the centred books: the first principal axis.
        _, _, vt = np.linalg.svd(books - mean, full_matrices=False)
        axis = vt[0]
        by, ly, y_title = (books - mean) @ axis, (links - mean) @ axis, "first principal component"
    return CustomAxes(
        books=np.column_stack([bx, by]).astype(np.float32),
        links=np.column_stack([lx, ly]).astype(np.float32),
        x_title=x_title,
        y_title=y_title,
    )


def set_axis_titles(fig, x_title: str, y_title: str):
    """Show the custom axes' titles and ticks (``map_figure`` hides them for learned maps)."""
    fig.update_layout(
        xaxis={"title": {"text": escape_label(x_title)}, "showticklabels": True, "zeroline": True},
        yaxis={"title": {"text": escape_label(y_title)}, "showticklabels": True, "zeroline": True},
    )
    return fig


def decorate(fig, model, coords: np.ndarray, *, clustering=None, density: bool = False, show: str = "books",
             n_links: int = 60, link_coords: np.ndarray | None = None, predicted_ids: Sequence[int] = ()):
    """Every optional layer of the map at once, in drawing order.

    Density under the points, rings round predicted values, link markers,
    then cluster labels on top.

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
        From ``mapviz.map_figure(coords, ...)``.
    model : ModelFolder
    coords : ndarray, shape (n_books, 2 or 3)
    clustering : bookembed.clusters.Clustering, optional
        Labels drawn when given.
    density : bool
        Contours under the points (2-D only; ignored in 3-D).
    show : {"books", "links", "both"}
    n_links : int
        The most-linked links drawn when links are shown.
    link_coords : ndarray, shape (n_links, 2 or 3), optional
        Exact link positions (custom axes); otherwise each is placed among
        its nearest books (``link_positions``).
    predicted_ids : sequence of int
        Books whose colour is a predicted value.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    if show not in ("books", "links", "both"):
        raise ValueError(f"show must be 'books', 'links' or 'both', got {show!r}")
    coords = np.asarray(coords)
    if density and coords.shape[1] == 2:
        add_density(fig, coords)
    if len(predicted_ids):
        add_predicted_marks(fig, coords, predicted_ids)
    if show != "books":
        ids = top_links(model, n_links)
        where = np.asarray(link_coords)[ids] if link_coords is not None else link_positions(model, coords, ids)
        add_link_points(fig, where, [model.links[j] for j in ids], np.asarray(model.link_counts)[ids], show=show)
    if clustering is not None:
        add_cluster_labels(fig, coords, clustering, model.titles)
    return fig
