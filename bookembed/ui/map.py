"""The Map page's state and controls: session keys, projection jobs, hover labels, the cached Plotly figure,
the point renderer, selection, saved views.

Every session-state key the Map page uses is named here, once.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import streamlit as st

from bookembed.store import ModelFolder
from bookembed.ui.jobs import forget_job, get_job, start_job, watch_job
from bookembed.ui.model import load_model
from bookembed.ui.pickers import set_query
from bookembed.ui.text import escape_markdown, show_error
from bookembed.ui.widgets import setting_widget

# Session-state keys of the Map page (widgets and the page's own state).
METHOD = "map_method"  # radio: umap / tsne / pca
DIMS = "map_dims"  # radio: 2 or 3
COLOR = "map_color"  # selectbox: what colours the points
GROUPS = "map_groups"  # slider: how many colour groups
ONLY = "map_only"  # selectbox: one value of the colouring's column, coloured alone (one key per column)
NEIGHBOURS = "map_neighbours"  # slider: neighbours highlighted around the query
PARAMS = "map_params"  # {method: applied parameters}
CHART = "map_chart"  # the Plotly chart's selection state
POINTS = "map_points"  # toggle: the point renderer instead of Plotly (one key per default, so a big model starts on)
VIEW_PICK = "map_view"  # selectbox of saved views
SELECTED = "selected_ids"  # book ids selected on the map, shared with the Export page
GENERATION = "_map_generation"  # bumped to redraw the chart from scratch (a view opened, selection cleared)
SELECTION_STATE = "_map_sel"  # what the drawn figure carries of the selection
VIEW_PROBLEM = "_view_problem"  # a saved view whose projection is gone
WHOLE_PAGE = "_map_whole_page"  # a callback inside the map's fragment changed what the whole page draws


def cached_projection_keys(model: ModelFolder | None) -> list[str]:
    """Keys of the model's usable cached projections."""
    from bookembed import projection as proj

    return [] if model is None else [p.key for p in proj.cached_projections(model)]


def projection_or_progress(model: ModelFolder, settings) -> np.ndarray:
    """Coordinates from the model folder's cache, or a background computation with progress (page stops)."""
    from bookembed import projection as proj

    coords = proj.load_projection(model, settings)
    if coords is not None:
        return coords
    key = f"projection:{model.path.resolve()}:{proj.projection_key(settings)}"
    job = get_job(key)
    if job is None or (job.done and job.error is None):
        job = start_job(key, proj.describe(settings), lambda job: proj.project(model, settings, progress=job.report))
    job.wait(4.0)  # PCA and small models finish here (sklearn's first import included), without a progress bar flashing by
    if job.done and job.error is None:
        forget_job(key)
        coords = proj.load_projection(model, settings)
        if coords is not None:
            return coords
        job.error = "the projection was computed but could not be read back from the model folder"
    if job.error:
        show_error(f"Could not compute {escape_markdown(proj.describe(settings))}:", job.error)
        if st.button("Try again", icon=":material/refresh:"):
            forget_job(key)
            st.rerun()
        st.stop()
    with st.container(border=True):
        st.markdown(progress_heading(model, settings))
        st.write(
            "This happens once for this model: the coordinates are saved in the model folder and reused after a "
            "restart. You can keep using the other pages; the computation goes on."
        )
        watch_job(job)
    st.stop()


def progress_heading(model: ModelFolder, settings) -> str:
    """The progress box's heading: the method and this model's own number of books (the bar names the stage)."""
    from bookembed import projection as proj

    return (f":material/hourglass_top: **Computing {escape_markdown(proj.describe(settings))} "
            f"for {model.n_books:,} books**")


@st.cache_resource(max_entries=4, show_spinner=False)
def _hover(path: str, stamp: int | None, limit: int, _model: ModelFolder):  # noqa: ARG001 - the key
    from bookembed.mapviz import fit_hover, hover_texts

    return fit_hover(hover_texts(_model.books), limit)


def message_limit() -> int:
    """Bytes one map may send: 80% of Streamlit's ``server.maxMessageSize`` (set on purpose in
    ``.streamlit/config.toml``); the rest of the page needs room too."""
    return int(0.8 * st.get_option("server.maxMessageSize") * 1e6)


def hover_labels(model: ModelFolder) -> tuple[np.ndarray, np.ndarray]:
    """Escaped hover labels of every book, cached per model folder (path and stamp).

    They are sized to Streamlit's message limit (``message_limit``): when
    every label would not fit, the details (author, genre, year, country) are
    left out, titles kept, and the page says so (``hover_trimmed``).
    """
    return _hover(str(model.path.resolve()), model.stamp, message_limit(), model)[0]


def hover_trimmed(model: ModelFolder) -> bool:
    """Whether this model's map shows titles only on hover (see ``hover_labels``)."""
    return _hover(str(model.path.resolve()), model.stamp, message_limit(), model)[1]


# ---------------------------------------------------------------- the Plotly map
SVG_UP_TO = 2_000
"""Up to this many books the Plotly map is drawn in SVG (``scatter``) instead of WebGL (``scattergl``).

A WebGL chart sets up a graphics context and compiles its shaders each time
Streamlit mounts it, and it is mounted afresh whenever the figure changes
(a new colouring, a highlight): a wait the user sees at each change in a
browser that draws WebGL in software (docs/performance.md). A few thousand SVG
markers draw in a fraction of that;
above this size WebGL's speed pays for its set-up."""


def svg_traces(figure):
    """A copy of ``figure`` with its ``scattergl`` traces turned into SVG ``scatter`` traces (the same properties).

    All or none: Plotly sets up WebGL for a plot as soon as one trace needs it.
    """
    import plotly.graph_objects as go

    traces = []
    for trace in figure.data:
        if trace.type == "scattergl":
            spec = trace.to_plotly_json()
            spec.pop("type", None)
            trace = go.Scatter(spec)
        traces.append(trace)
    return go.Figure(data=traces, layout=figure.layout)


@st.cache_resource(max_entries=6, show_spinner=False)
def _book_map(path: str, stamp: int | None, coords: np.ndarray, color_by: str, top_n: int, query_ids: tuple,
              neighbour_ids: tuple, selected_ids: tuple | None, uirevision: str, density: bool, show: str,
              axes: str | None, labels: bool, predicted: str | None, only: str | None, view: str, fit_kept: bool,
              *, _model: ModelFolder, _prediction=None, _axes=None, _clustering=None, _keep=None):  # noqa: ARG001
    from bookembed.mapviz import map_figure
    from bookembed.overlays import decorate, set_axis_titles

    figure = map_figure(
        coords,
        _model.books if _prediction is None else _prediction.filled_books(_model.books),
        color_by=color_by,
        top_n=top_n,
        hover=hover_labels(_model),
        query_ids=query_ids,
        neighbour_ids=neighbour_ids,
        located=query_ids[-1] if query_ids else None,
        selected_ids=selected_ids,
        uirevision=uirevision,
        only=only,
        keep=_keep,
        fit_kept=fit_kept,
    )
    decorate(figure, _model, coords, clustering=_clustering, density=density, show=show,
             link_coords=None if _axes is None else _axes.links,
             predicted_ids=() if _prediction is None else _prediction.predicted["id"].to_numpy())
    if _axes is not None:
        set_axis_titles(figure, _axes.x_title, _axes.y_title)
    return svg_traces(figure) if _model.n_books <= SVG_UP_TO else figure


def book_map(model: ModelFolder, coords: np.ndarray, *, color_by: str, top_n: int, query_ids=(), neighbour_ids=(),
             selected_ids=None, uirevision: str, layers, prediction=None, axes=None, clustering=None,
             only: str | None = None, keep: np.ndarray | None = None, view: str = "", fit_kept: bool = False):
    """The Map page's Plotly figure: ``mapviz.map_figure`` with the chosen layers (``overlays.decorate``).

    Built once for each set of inputs and cached (keyed by the model folder's
    path and stamp, the coordinates and every choice), so a rerun that only
    changes the selection sends the very same figure and the chart stays as
    it is. ``layers`` is ``explain.Layers``; ``prediction`` a
    ``predict.Prediction`` of ``color_by``; ``axes`` the custom axes whose
    ``books`` are ``coords``; ``clustering`` the cluster labels to draw;
    ``only`` the one value of ``color_by`` coloured alone (``one_value_picker``);
    ``keep`` the books drawn (filters, an isolated selection: ``crossfilter.view_mask``), named by ``view``
    in the cache's key, and ``fit_kept`` fits the axes to them.
    The returned figure is shared: draw it, do not change it.
    """
    return _book_map(
        str(model.path.resolve()), model.stamp, np.asarray(coords), color_by, int(top_n),
        tuple(int(i) for i in query_ids), tuple(int(i) for i in neighbour_ids),
        None if selected_ids is None else tuple(int(i) for i in selected_ids), uirevision,
        bool(layers.density), layers.show, None if axes is None else repr(layers.axes), clustering is not None,
        None if prediction is None else prediction.column, only, view if keep is not None else "", bool(fit_kept),
        _model=model, _prediction=prediction, _axes=axes, _clustering=clustering, _keep=keep,
    )


# ---------------------------------------------------------------- the point renderer
# Plotly's WebGL scatter needs many seconds to draw a million points in a browser
# without a GPU, before Streamlit's share (docs/scale.md has the figures). The point renderer is a component of
# our own (``static/pointmap``): it receives the points as bytes (x, y as
# float32, a group code and a book id each), writes them into one canvas's
# pixels, answers hover from a grid of 8-pixel cells, zooms, pans and selects
# boxes. Labels travel once, as UTF-8 text.


@functools.cache
def _point_component():
    import streamlit.components.v1 as components

    return components.declare_component("bookembed_pointmap", path=str(Path(__file__).parent / "static" / "pointmap"))


@st.cache_resource(max_entries=2, show_spinner=False)
def _point_labels(path: str, stamp: int | None, limit: int, _model: ModelFolder) -> tuple[bytes, bool]:  # noqa: ARG001
    from bookembed.mapviz import point_labels

    labels = point_labels(_model.books)
    if len(labels) + 13 * _model.n_books <= limit:
        return labels, False
    return point_labels(_model.books, details=False), True


def point_labels_trimmed(model: ModelFolder) -> bool:
    """Whether the point renderer shows titles only (every label with its details would pass ``message_limit``);
    never for a map drawn a view at a time (``tiledmap``), whose labels are those of the drawn books."""
    from bookembed.ui.tiledmap import is_tiled

    if is_tiled(model):
        return False
    return _point_labels(str(model.path.resolve()), model.stamp, message_limit(), model)[1]


@st.cache_resource(max_entries=4, show_spinner=False)
def _point_payload(sig: str, _coords: np.ndarray, _model: ModelFolder, color_by: str, top_n: int,
                   only: str | None) -> dict:  # noqa: ARG001
    from bookembed.mapviz import point_payload

    from bookembed.ui.tiledmap import coded

    return point_payload(_coords, _model.books, color_by=color_by, top_n=top_n, only=only,
                         distinct=coded(_model, color_by))


def point_map(model: ModelFolder, coords: np.ndarray, projection: str, *, color_by: str, top_n: int,
              query_ids=(), neighbour_ids=(), located: int | None = None, height: int = 720,
              key: str = "pointmap", only: str | None = None, labels: list[dict] | None = None,
              selected=None, keep: np.ndarray | None = None, view: str = "", fit_kept: bool = False) -> list[int] | None:
    """Draw every book of a 2-D map; returns the book ids of the box last selected on it, or None.

    ``projection`` names the coordinates (the projection's cache key): with
    the model's folder and stamp, the colouring and the group count, it keys
    the cached payload, so a rerun sends the same bytes without rebuilding them.
    ``labels`` are cluster labels drawn as text over the points (see
    ``label_args``; the renderer picks the level by zoom and leaves out any
    that would overlap). ``selected`` is the page's selection (book ids):
    when it differs from the one passed last time the renderer shows it,
    the rest faded (an empty list clears it); None leaves the renderer's own.
    ``keep``, ``view`` and ``fit_kept`` restrict the books drawn as on ``book_map``.
    A map of more books than ``tiles.tiled_above()`` is drawn a view at a time (``tiledmap.tiled_point_map``).
    """
    from bookembed.crossfilter import subset_payload
    from bookembed.ui.tiledmap import is_tiled, tiled_point_map

    path = str(model.path.resolve())
    if is_tiled(model):  # too many books for one message: a view at a time, from the map's tiles
        return tiled_point_map(
            _point_component(), model, coords, projection, color_by=color_by, top_n=top_n, query_ids=query_ids,
            neighbour_ids=neighbour_ids, located=located, height=height, key=key, only=only,
            labels=label_args(labels), selected=selected, keep=keep, fit_kept=fit_kept,
            sig=repr((path, model.stamp, projection, color_by, top_n, only, view if keep is not None else "", "tiled")))
    payload = _point_payload(repr((path, model.stamp, projection, color_by, top_n, only)), coords, model, color_by,
                             top_n, only)
    sig = repr((path, model.stamp, projection, color_by, top_n, only, view if keep is not None else ""))
    if keep is not None:
        payload = subset_payload(payload, keep, fit=fit_kept)
    value = _point_component()(
        **payload, sig=sig,
        texts=_point_labels(path, model.stamp, message_limit(), model)[0], legend_title=color_by,
        query=[int(i) for i in query_ids], neighbours=[int(i) for i in neighbour_ids],
        located=None if located is None else int(located), height=height, key=key, default=None,
        cluster_labels=label_args(labels), selected=None if selected is None else [int(i) for i in selected],
    )
    if isinstance(value, dict) and value.get("sig") == sig and isinstance(value.get("selected"), list):
        return [int(i) for i in value["selected"]]
    return None


@st.cache_resource(max_entries=4, show_spinner=False)
def _point_cluster_labels(path: str, stamp: int | None, projection: str, _model: ModelFolder, _coords: np.ndarray,
                          _clustering) -> list[dict]:  # noqa: ARG001 - the key
    from bookembed.labels import as_payload, label_levels

    return as_payload(label_levels(_model, _coords, _clustering))


def point_cluster_labels(model: ModelFolder, coords: np.ndarray, projection: str, clustering) -> list[dict]:
    """The broad and fine cluster labels of a map for the point renderer (``labels.as_payload``), computed once
    per model folder and projection (``projection`` is its cache key)."""
    return _point_cluster_labels(str(model.path.resolve()), model.stamp, projection, model, np.asarray(coords),
                                 clustering)


def label_args(labels: list[dict] | None) -> list[dict]:
    """Cluster labels as the point renderer reads them: ``level`` (int, 0 the broadest), ``x`` and ``y``
    (data coordinates), ``text`` (lines split by "\\n") and ``weight`` (the heavier placed first).

    Labels with an empty text or a place that is not a finite number are left out.
    """
    out = []
    for label in labels or []:
        x, y, weight = float(label["x"]), float(label["y"]), float(label.get("weight", 1.0))
        text = str(label["text"]).replace("\r", "")
        if text.strip() and np.isfinite([x, y]).all():
            out.append({"level": max(0, int(label.get("level", 0))), "x": x, "y": y, "text": text,
                        "weight": weight if np.isfinite(weight) else 0.0})
    return out


@st.cache_resource(max_entries=8, show_spinner=False)
def _group_sizes(path: str, stamp: int | None, column: str, _model: ModelFolder):  # noqa: ARG001 - the key
    from bookembed.distinct import column_distinct
    from bookembed.mapviz import group_sizes

    return group_sizes(None, distinct=column_distinct(_model, column))


def one_value_picker(model: ModelFolder, color_by: str, where=None) -> str | None:
    """A select box of every value of the colouring's column (largest first, with its number of books);
    returns the one chosen, to colour alone with the rest grey, or None for the largest groups.

    One choice per column (a key each), so going back to author finds the author picked before. None for
    year, which is a colour scale.
    """
    from bookembed.mapviz import COLOR_BY

    where = st if where is None else where
    column = COLOR_BY[color_by]
    if column == "year":
        where.selectbox(f"Show one {color_by}", ["—"], disabled=True, key=f"{ONLY}-{color_by}",
                        help="Year is a colour scale.")
        return None
    sizes = _group_sizes(str(model.path.resolve()), model.stamp, column, model) if column in model.books.columns else None
    options = [None] + ([] if sizes is None else list(sizes.index))
    return where.selectbox(
        f"Show one {color_by}", options, key=f"{ONLY}-{color_by}",
        format_func=lambda v: "All" if v is None else f"{v} ({int(sizes[v]):,})",
        help=f"Colour the books of one {color_by} and grey the rest, to see where they lie (All: the largest "
             "groups, each in its colour). Type to find one.",
    )


def map_selection_snapshot(figure_sig: str) -> list[int] | None:
    """Which selection to draw into the figure (before drawing it).

    A live box/lasso selection is shown by Plotly itself; putting it into the
    figure would change the figure, remount the chart and lose the zoom. So
    the figure carries the selection only when it is redrawn for another
    reason (other colours, another projection, a saved view opened): then the
    current selection is drawn as Plotly's selection so it stays visible.
    """
    state = st.session_state.setdefault(SELECTION_STATE, {"fig": None, "event": (), "drawn": None})
    if state["fig"] != figure_sig:
        state["fig"], state["event"] = figure_sig, ()
        state["drawn"] = list(st.session_state.get(SELECTED, [])) or None
    return state["drawn"]


def map_selection_update(event) -> list[int]:
    """Apply the chart's selection event; returns the selected book ids (kept in the session)."""
    state = st.session_state.setdefault(SELECTION_STATE, {"fig": None, "event": (), "drawn": None})
    ids: set[int] = set()
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    for p in points:
        value = p.get("customdata")
        if isinstance(value, list):
            value = value[0] if value else None
        if value is not None:
            ids.add(int(value))
    current = tuple(sorted(ids))
    if current != state["event"]:
        state["event"] = current
        st.session_state[SELECTED] = list(current)
    return list(st.session_state.get(SELECTED, []))


def point_selection_update(box: list[int] | None) -> list[int]:
    """Apply the point renderer's last box (book ids, or None when none was drawn); returns the selection."""
    state = st.session_state.setdefault(SELECTION_STATE, {"fig": None, "event": (), "drawn": None})
    if box is not None and tuple(box) != state.get("box"):
        state["box"] = tuple(box)
        st.session_state[SELECTED] = list(box)
    return list(st.session_state.get(SELECTED, []))


def clear_map_selection() -> None:
    st.session_state[SELECTED] = []
    st.session_state[GENERATION] = st.session_state.get(GENERATION, 0) + 1
    st.session_state.pop(SELECTION_STATE, None)
    st.session_state[WHOLE_PAGE] = True


def rerun_page_if_asked() -> None:
    """Rerun the whole page when a callback inside the map's fragment asked for it (a view opened, the
    selection cleared: the figure above the fragment changes too); the first thing the fragment does."""
    if st.session_state.pop(WHOLE_PAGE, False):
        st.rerun(scope="app")




def projection_params(method: str) -> dict:
    """An expander with the method's parameters (applied with a button); returns the applied ones.

    The widgets are made from the settings class's declarations (``projection.parameters``: label, help,
    default, bounds and slider span), side by side.
    """
    from bookembed import projection as proj

    store = st.session_state.setdefault(PARAMS, {})
    current = dict(store.get(method, {}))
    params = proj.parameters(proj.SETTINGS[method])
    with st.expander(f"{proj.METHOD_NAMES[method]} parameters", icon=":material/tune:"):
        with st.form(f"params_{method}", border=False):
            places = st.columns(len(params)) if len(params) > 1 else [st]
            new = {s.name: setting_widget(s, where, value=current.get(s.name, s.default))
                   for s, where in zip(params, places)}
            if st.form_submit_button("Apply"):
                store[method] = new
                current = new
        st.caption("Each combination is computed once and saved in the model folder; "
                   f"{len(cached_projection_keys(load_model()))} projection(s) saved so far.")
    return current


def open_view(view) -> None:
    """Callback: restore a saved map view (``projection.View``: projection, colouring, query, selection)."""
    from bookembed import projection as proj
    from bookembed.mapviz import COLOR_BY

    model = load_model()
    settings = proj.settings_for_key(model, view.projection or "") if model is not None else None
    if settings is None:
        st.session_state[VIEW_PROBLEM] = view.name
        return
    params = {k: v for k, v in proj.settings_params(settings).items() if k != "dims"}
    st.session_state[METHOD] = settings.method
    st.session_state[DIMS] = settings.dims
    st.session_state.setdefault(PARAMS, {})[settings.method] = params
    if view.color_by in COLOR_BY:
        st.session_state[COLOR] = view.color_by
    set_query([t for t in view.query if model.book_id(t) is not None])
    st.session_state[SELECTED] = [i for i in view.selected if 0 <= i < model.n_books]
    st.session_state[GENERATION] = st.session_state.get(GENERATION, 0) + 1
    st.session_state.pop(SELECTION_STATE, None)
    st.session_state[WHOLE_PAGE] = True




def selected_books(model: ModelFolder) -> list[int]:
    """The book ids selected on the Map page (shared with the Export page), checked against the model."""
    return [int(i) for i in st.session_state.get(SELECTED, []) if 0 <= int(i) < model.n_books]


def selection_csv(model: ModelFolder, ids) -> bytes:
    """The selected books' metadata as CSV that a spreadsheet opens safely."""
    from bookembed.export import spreadsheet_csv
    from bookembed.report import books_frame

    return spreadsheet_csv(books_frame(model, ids))
