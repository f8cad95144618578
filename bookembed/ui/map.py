"""The Map page's state and controls: session keys, projection jobs, hover labels, the point renderer, selection,
saved views.

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

# Session-state keys of the Map page (widgets and the page's own state).
METHOD = "map_method"  # radio: umap / tsne / pca
DIMS = "map_dims"  # radio: 2 or 3
COLOR = "map_color"  # selectbox: what colours the points
GROUPS = "map_groups"  # slider: how many colour groups
NEIGHBOURS = "map_neighbours"  # slider: neighbours highlighted around the query
PARAMS = "map_params"  # {method: applied parameters}
CHART = "map_chart"  # the Plotly chart's selection state
POINTS = "map_points"  # toggle: the point renderer instead of Plotly (one key per default, so a big model starts on)
VIEW_PICK = "map_view"  # selectbox of saved views
SELECTED = "selected_ids"  # book ids selected on the map, shared with the Export page
GENERATION = "_map_generation"  # bumped to redraw the chart from scratch (a view opened, selection cleared)
SELECTION_STATE = "_map_sel"  # what the drawn figure carries of the selection
VIEW_PROBLEM = "_view_problem"  # a saved view whose projection is gone


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
        st.markdown(f":material/hourglass_top: **Computing {escape_markdown(proj.describe(settings))} "
                    f"for {model.n_books:,} books**")
        st.write(
            "This happens once: the coordinates are saved in the model folder and reused after a restart. "
            "For the full dataset (37,020 books) on 2 CPU cores, allow about half a minute for UMAP "
            "(plus 10–20 s while numba compiles on first use), about a minute for t-SNE, and seconds for PCA. "
            "You can keep using the other pages; the computation goes on."
        )
        watch_job(job)
    st.stop()


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


# ---------------------------------------------------------------- the point renderer
# Plotly's WebGL scatter needs over 12 s to draw a million points in a browser
# without a GPU, before Streamlit's share. The point renderer is a component of
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
    """Whether the point renderer shows titles only (every label with its details would pass ``message_limit``)."""
    return _point_labels(str(model.path.resolve()), model.stamp, message_limit(), model)[1]


@st.cache_resource(max_entries=4, show_spinner=False)
def _point_payload(sig: str, _coords: np.ndarray, _model: ModelFolder, color_by: str, top_n: int) -> dict:  # noqa: ARG001
    from bookembed.mapviz import point_payload

    return point_payload(_coords, _model.books, color_by=color_by, top_n=top_n)


def point_map(model: ModelFolder, coords: np.ndarray, projection: str, *, color_by: str, top_n: int,
              query_ids=(), neighbour_ids=(), located: int | None = None, height: int = 720,
              key: str = "pointmap") -> list[int] | None:
    """Draw every book of a 2-D map; returns the book ids of the box last selected on it, or None.

    ``projection`` names the coordinates (the projection's cache key): with
    the model's folder and stamp, the colouring and the group count, it keys
    the cached payload, so a rerun sends the same bytes without rebuilding them.
    """
    path = str(model.path.resolve())
    sig = repr((path, model.stamp, projection, color_by, top_n))
    value = _point_component()(
        **_point_payload(sig, coords, model, color_by, top_n), sig=sig,
        labels=_point_labels(path, model.stamp, message_limit(), model)[0], legend_title=color_by,
        query=[int(i) for i in query_ids], neighbours=[int(i) for i in neighbour_ids],
        located=None if located is None else int(located), height=height, key=key, default=None,
    )
    if isinstance(value, dict) and value.get("sig") == sig and isinstance(value.get("selected"), list):
        return [int(i) for i in value["selected"]]
    return None


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




def projection_params(method: str) -> dict:
    """An expander with the method's main parameters (applied with a button); returns the applied ones."""
    from bookembed import projection as proj

    store = st.session_state.setdefault(PARAMS, {})
    current = dict(store.get(method, {}))
    d = proj.SETTINGS[method]()
    with st.expander(f"{proj.METHOD_NAMES[method]} parameters", icon=":material/tune:"):
        with st.form(f"params_{method}", border=False):
            new: dict = {}
            if method == "umap":
                c = st.columns(3)
                new["n_neighbors"] = c[0].slider("Neighbours (n_neighbors)", 2, 200, current.get("n_neighbors", d.n_neighbors),
                                                 help="Small: fine local clusters. Large: more of the global layout.")
                new["min_dist"] = c[1].slider("Minimum distance (min_dist)", 0.0, 0.99, current.get("min_dist", d.min_dist),
                                              step=0.01, help="How tightly points may pack.")
                new["seed"] = c[2].number_input("Seed", 0, 2**31 - 1, current.get("seed", d.seed))
            elif method == "tsne":
                c = st.columns(4)
                new["perplexity"] = c[0].slider("Perplexity", 2.0, 100.0, float(current.get("perplexity", d.perplexity)),
                                                step=1.0, help="Roughly the number of neighbours each book attends to.")
                new["early_exaggeration"] = c[1].slider("Early exaggeration", 1.0, 50.0,
                                                        float(current.get("early_exaggeration", d.early_exaggeration)),
                                                        step=1.0, help="Higher separates clusters more.")
                new["n_iter"] = c[2].slider("Iterations", 100, 2000, current.get("n_iter", d.n_iter), step=50)
                new["seed"] = c[3].number_input("Seed", 0, 2**31 - 1, current.get("seed", d.seed))
            else:
                new["normalize"] = st.checkbox("Use unit-length vectors (the geometry cosine similarity sees)",
                                               value=current.get("normalize", d.normalize))
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
    set_query([t for t in view.query if t in model.title_index])
    st.session_state[SELECTED] = [i for i in view.selected if 0 <= i < model.n_books]
    st.session_state[GENERATION] = st.session_state.get(GENERATION, 0) + 1
    st.session_state.pop(SELECTION_STATE, None)




def selected_books(model: ModelFolder) -> list[int]:
    """The book ids selected on the Map page (shared with the Export page), checked against the model."""
    return [int(i) for i in st.session_state.get(SELECTED, []) if 0 <= int(i) < model.n_books]


def selection_csv(model: ModelFolder, ids) -> bytes:
    """The selected books' metadata as CSV that a spreadsheet opens safely."""
    from bookembed.export import spreadsheet_csv
    from bookembed.report import books_frame

    return spreadsheet_csv(books_frame(model, ids))
