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
LINK_TEXTS = 15
"""Link names written on the map at most (the most used links first); every link's name is in its hover."""
LINK_MARKER_PX = 8
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


def label_text(label, n_terms: int = LABEL_TERMS) -> str:
    """A label as drawn: the first links of a ``labels.MapLabel`` (its ``lines``) or of a
    ``clusters.Cluster`` (its ``terms``), shortened and escaped, one per line."""
    terms = getattr(label, "lines", None) or getattr(label, "terms", ())
    shown = [escape_label(_short(_display_term(t))) for t in terms[:n_terms]]
    return "<br>".join(shown) if shown else f"cluster {getattr(label, 'group', getattr(label, 'id', 0)) + 1}"


PLOT_PX = (640.0, 680.0)
"""The plot area assumed when placing labels, in pixels: the map's 720 less its margins, and a width below
the page's (its legend takes the rest). A wider plot only spreads the labels further apart."""


def _as_labels(coords: np.ndarray, labels, n_terms: int) -> list:
    """``labels`` as a list of ``labels.MapLabel``: a ``Clustering`` gives its clusters (the fine level)."""
    from bookembed.labels import FINE, MapLabel

    if not hasattr(labels, "clusters"):
        return list(labels)
    out = []
    for cluster, centre in zip(labels.clusters, cluster_centres(coords, labels.labels, len(labels.clusters))):
        if np.isnan(centre).any():
            continue
        lines = tuple(cluster.terms[:n_terms]) or (f"cluster {cluster.id + 1}",)
        out.append(MapLabel(FINE, cluster.id, float(centre[0]), float(centre[1]), lines, float(cluster.size),
                            cluster.members, tuple(float(v) for v in centre)))
    return out


def _view(fig, coords: np.ndarray) -> list[list[float]]:
    """The 2-D figure's x and y ranges as drawn first (``map_figure`` sets them), else the robust ranges."""
    ranges = []
    for i, axis in enumerate((fig.layout.xaxis, fig.layout.yaxis)):
        r = axis.range
        ranges.append([float(r[0]), float(r[1])] if r is not None else robust_range(coords[:, i]))
    return ranges


def label_box(lines: Sequence[str], x: float, y: float, view, plot_px=PLOT_PX, font_px: float = 10.0) -> tuple:
    """The pixel box (left, top, right, bottom) of a label drawn centred on map point (x, y)."""
    from bookembed.labels import centred_boxes, text_box, to_pixels

    px, py = to_pixels([x], [y], view, plot_px)
    return centred_boxes(px, py, [text_box(lines, font_px)])[0]


def located_box(fig, view, plot_px=PLOT_PX) -> tuple | None:
    """The pixel box of the located book's title (the arrowed annotation ``map_figure`` adds), or None."""
    import re

    from bookembed.labels import text_box, to_pixels

    for note in fig.layout.annotations or ():
        if note.showarrow and note.x is not None:
            text = re.sub(r"<[^>]+>", "", note.text or "")
            w, h = text_box([text], 12.0 * 1.1)  # bold, 12 px
            px, py = to_pixels([note.x], [note.y], view, plot_px)
            cx, cy = float(px[0]) + (note.ax or 0), float(py[0]) + (note.ay or 0)
            return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    return None


def add_cluster_labels(fig, coords: np.ndarray, labels, titles: Sequence[str], *, n_terms: int = LABEL_TERMS,
                       hover_titles: int = HOVER_TITLES, spacing: bool = True, plot_px=PLOT_PX,
                       taken: Sequence = ()):
    """Write labels at their centres, none covering another; hovering one lists its books.

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
        From ``mapviz.map_figure``.
    coords : ndarray, shape (n_books, 2 or 3)
        The map's coordinates, row i is book i.
    labels : bookembed.clusters.Clustering or sequence of bookembed.labels.MapLabel
        A clustering draws its clusters; labels are drawn in the order given (heaviest first).
    titles : sequence of str, length n_books
    n_terms : int
        Links shown per label (the hover shows all of them).
    hover_titles : int
        Books listed in the hover, the most typical first.
    spacing : bool
        On a 2-D map, a label is left out when its box (its text's size in
        pixels, for the figure's first view on a plot of ``plot_px``) would
        overlap one already drawn, or a box of ``taken``; a label whose box
        leaves the view is left out too. False draws every label.
    plot_px : (float, float)
    taken : sequence of (left, top, right, bottom)
        Pixel boxes already on the map (the located book's title).

    Returns
    -------
    plotly.graph_objects.Figure
        The same figure, with one annotation per drawn label (``name="cluster N"``, ``"group N"`` for a
        broad one); ``drawn_label_boxes`` gives their pixel boxes.
    """
    from bookembed.labels import BROAD, place

    coords = np.asarray(coords)
    dims = coords.shape[1]
    drawn = _as_labels(coords, labels, n_terms)
    if spacing and dims == 2 and drawn:
        view = _view(fig, coords)
        candidates = [label_box([_short(_display_term(t)) for t in lab.lines[:n_terms]], lab.x, lab.y, view, plot_px)
                      for lab in drawn]
        kept = place(candidates, plot_px, taken=taken)
        drawn = [drawn[i] for i in kept]
    notes = []
    for lab in drawn:
        listed = [escape_label(_short(titles[i], 60)) for i in lab.members[:hover_titles]]
        more = len(lab.members) - len(listed)
        hover = (f"<b>{escape_label(' · '.join(lab.lines))}</b><br>{len(lab.members):,} books<br>"
                 + "<br>".join(listed) + (f"<br>… and {more:,} more" if more > 0 else ""))
        note = {
            "text": label_text(lab, n_terms),
            "hovertext": hover,
            "name": f"{'group' if lab.level == BROAD else 'cluster'} {lab.group}",
            "showarrow": False,
            "font": {"size": 10, "color": "#1b1f24"},
            "bgcolor": "rgba(255,255,255,0.62)",
            "bordercolor": "rgba(60,60,60,0.45)",
            "borderwidth": 1,
            "borderpad": 2,
            "captureevents": True,
            "x": lab.x,
            "y": lab.y,
        }
        if dims == 3:
            note["z"] = lab.centre[2] if len(lab.centre) > 2 else float(np.median(coords[lab.members, 2]))
        notes.append(note)
    if dims == 3:
        existing = list(fig.layout.scene.annotations or [])
        fig.update_layout(scene={"annotations": existing + notes})
    else:
        existing = list(fig.layout.annotations or [])
        fig.update_layout(annotations=existing + notes)
    return fig


def drawn_label_boxes(fig, coords: np.ndarray, plot_px=PLOT_PX) -> list[tuple]:
    """The pixel boxes of a 2-D figure's labels as placed: the located title's, then every cluster or group label's."""
    import re

    coords = np.asarray(coords)
    view = _view(fig, coords)
    out = []
    title = located_box(fig, view, plot_px)
    if title is not None:
        out.append(title)
    for note in fig.layout.annotations or ():
        if (note.name or "").split(" ")[0] in ("cluster", "group"):
            lines = [re.sub(r"<[^>]+>", "", line) for line in (note.text or "").split("<br>")]
            lines = [line.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") for line in lines]
            out.append(label_box(lines, note.x, note.y, view, plot_px))
    return out


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
                    show: str = "both", n_text: int = LINK_TEXTS, labelled: Sequence[bool] | None = None):
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
    labelled : sequence of bool, optional
        Which links carry a text label instead (``link_label_mask``).

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
    labelled = [i < n_text for i in range(len(names))] if labelled is None else list(labelled)
    text = [escape_label(_short(str(n), 28)) if labelled[i] else "" for i, n in enumerate(names)]
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
        "marker": {"symbol": "diamond", "size": LINK_MARKER_PX if dims == 2 else 4, "color": "#e07b00",
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
             n_links: int = 60, link_coords: np.ndarray | None = None, predicted_ids: Sequence[int] = (),
             level: int | None = None):
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
    level : int, optional
        Which labels (``labels.BROAD`` or ``labels.FINE``): by default the
        broad ones, and the fine ones on a 2-D map that opens zoomed in on a
        located book. Labels and link names are placed so that no two boxes
        overlap, nor the located book's title (``add_cluster_labels``).

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
    flat = coords.shape[1] == 2
    if clustering is not None:
        from bookembed.labels import BROAD, FINE, label_levels

        if level is None:  # a map opened zoomed in on a located book gets the finer labels
            level = FINE if flat and located_box(fig, _view(fig, coords)) is not None else BROAD
        chosen = [lab for lab in label_levels(model, coords, clustering, n_terms=LABEL_TERMS)
                  if lab.level == (level if flat else BROAD)]
        title = located_box(fig, _view(fig, coords)) if flat else None
        add_cluster_labels(fig, coords, chosen, model.titles, taken=() if title is None else [title])
    if show != "books":
        ids = top_links(model, n_links)
        where = np.asarray(link_coords)[ids] if link_coords is not None else link_positions(model, coords, ids)
        names = [model.links[j] for j in ids]
        labelled = link_label_mask(fig, coords, where, names) if flat else None
        add_link_points(fig, where, names, np.asarray(model.link_counts)[ids], show=show, labelled=labelled)
    return fig


def link_label_mask(fig, coords: np.ndarray, where: np.ndarray, names: Sequence[str], plot_px=PLOT_PX,
                    n_text: int = LINK_TEXTS) -> list[bool]:
    """Which of the links (most used first) get their name written above their marker: at most ``n_text``,
    each only where its text overlaps no label already on the figure and no other link's text."""
    from bookembed.labels import place, text_box, to_pixels

    view = _view(fig, np.asarray(coords))
    px, py = to_pixels(np.asarray(where)[:, 0], np.asarray(where)[:, 1], view, plot_px)
    boxes = []
    for x, y, name in zip(px, py, names):
        w, h = text_box([_short(str(name), 28)], 10.0)
        bottom = y - LINK_MARKER_PX / 2  # "top center": the text sits on the marker
        boxes.append((float(x - w / 2), float(bottom - h), float(x + w / 2), float(bottom)))
    kept = set(place(boxes, plot_px, taken=drawn_label_boxes(fig, coords, plot_px), limit=n_text))
    return [i in kept for i in range(len(names))]
