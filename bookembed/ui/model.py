"""The chosen model folder: the sidebar's picker, loading with a cache keyed by path and stamp."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import streamlit as st

from bookembed.errors import BookembedError
from bookembed.names import TABLE_MIN_NAMES, name_table
from bookembed.neighbors import search_names
from bookembed.store import ModelFolder, folder_in_root, folder_stamp, is_model_folder, load_model_folder
from bookembed.ui.folders import (  # noqa: F401  (MODELS_ENV and select_model re-exported: their home was here)
    DEFAULT_MODEL,
    MODELS_ENV,
    PENDING,
    model_names,
    models_root,
    refused_name,
    select_model,
    shown_name,
    without_server_paths,
)
from bookembed.ui.text import escape_markdown, show_error

log = logging.getLogger("bookembed.ui")

MODEL_KEY = "model"  # the sidebar picker's key and URL parameter
_CHOICE = "_model_choice"  # the chosen folder's name, for the whole session
_URL_SEEN = "_model_in_url"  # the ?model= value already applied (a new one in the URL wins once)


def model_picker() -> Path:
    """The sidebar's model folder picker; returns the chosen folder (it may hold no model yet).

    The choice lasts the whole session, across pages, and is mirrored in the
    URL as ``?model=NAME`` (left out for the default), so a link reopens it.
    """
    names = model_names()
    pending = st.session_state.pop(PENDING, None)
    url = st.query_params.get(MODEL_KEY)
    if url is not None and url not in names and url != st.session_state.get(_URL_SEEN):
        why = refused_name(url)  # first: a name that leads elsewhere is not looked at
        if why is None:
            why = f"{url}: " + ("holds no trained model" if (models_root() / url).is_dir() else "no such model folder")
        with st.sidebar:
            show_error("The model in the address cannot be opened:", without_server_paths(why))
    if pending in names:
        st.session_state[MODEL_KEY] = pending
    elif url in names and url != st.session_state.get(_URL_SEEN):
        st.session_state[MODEL_KEY] = url  # a link, or an edited address
    else:
        # Each page draws its own picker, and a widget's state ends with its
        # page: the choice is also kept under a key of our own and handed to
        # the picker on every run (a change made in this run wins).
        current = st.session_state.get(MODEL_KEY)
        choice = current if current in names else st.session_state.get(_CHOICE)
        if choice in names:
            st.session_state[MODEL_KEY] = choice
        elif MODEL_KEY in st.session_state:
            del st.session_state[MODEL_KEY]  # a folder that is gone
    root = models_root()

    def label(name: str) -> str:
        return name if is_model_folder(root / name) else f"{name} (not trained yet)"

    with st.sidebar:
        name = st.selectbox(
            "Model folder",
            names,
            format_func=label,
            key=MODEL_KEY,
            help=f"Folders under {escape_markdown(shown_name(root))}/ that hold a trained model. Train another on the "
                 "Train page.",
        )
    name = name or DEFAULT_MODEL
    st.session_state[_CHOICE] = st.session_state[_URL_SEEN] = name
    if name != DEFAULT_MODEL:
        if url != name:
            st.query_params[MODEL_KEY] = name
    elif MODEL_KEY in st.query_params:
        del st.query_params[MODEL_KEY]
    return root / name


def current_model_path() -> Path:
    return models_root() / (st.session_state.get(_CHOICE) or st.session_state.get(MODEL_KEY) or DEFAULT_MODEL)


@st.cache_resource(max_entries=4, show_spinner=False)
def _load_model(path: str, stamp: int) -> ModelFolder:  # noqa: ARG001 - stamp is the cache key
    model = load_model_folder(path)
    threading.Thread(target=_warm_up, args=(model,), name="bookembed-warm-up", daemon=True).start()
    return model


def _warm_up(model: ModelFolder) -> None:
    """Compute what a first search needs (folded names, unit vectors, pairs by book) off its path.

    A model searched through its index needs only the rows it ranks (``ModelFolder.unit_rows``): its whole
    unit matrix waits for a search that needs it (least similar, one genre), not to compete with the first.
    """
    try:
        for kind, count in (("book", model.n_books), ("link", model.n_links)):
            if count > TABLE_MIN_NAMES:
                name_table(model, kind)  # from the folder (``bookembed index`` keeps it there), else built
            else:
                search_names(model, "a", kind, limit=1)
        for kind in ("book", "link"):
            if model.ann_index(kind) is None:
                model.unit_vectors(kind)
        model.book_links(0)
    except Exception:  # noqa: BLE001 - only a head start; the query computes what is missing
        log.debug("warm-up failed", exc_info=True)


def load_model(path: Path | None = None) -> ModelFolder | None:
    """The model in ``path`` (default: the chosen one), cached by path and modification stamp; None if none."""
    path = Path(path or current_model_path())
    root = models_root()
    if path.parent.resolve() == root.resolve():
        path = folder_in_root(root, path.name)  # a link that leads outside the root: refused, one line
    stamp = folder_stamp(path)
    if stamp is None:
        return None
    with st.spinner("Loading the model…"):
        return _load_model(str(path.resolve()), stamp)


def require_model() -> ModelFolder:
    """The chosen model, or (when the folder holds none, or a damaged one) an explanation and the training form."""
    from bookembed.ui.train import training_panel

    path = current_model_path()
    try:
        model = load_model(path)
    except BookembedError as err:
        show_error("This model folder cannot be read:", without_server_paths(err))
        st.caption("Pick another folder in the sidebar, or train a new model into this one on the Train page.")
        st.page_link("pages/train.py", label="Train a model into this folder", icon=":material/model_training:")
        st.stop()
    if model is None:
        st.title("No model yet")
        st.info(
            f"The folder {escape_markdown(shown_name(path))} holds no trained model. Train one now "
            "(the demo corpus takes a few seconds), or pick another folder in the sidebar.",
            icon=":material/info:",
        )
        training_panel(default_name=path.name)
        st.stop()
    return model


def sidebar_summary() -> None:
    """A line under the picker: the size of the chosen model (nothing when there is none or it is damaged)."""
    try:
        model = load_model()
    except BookembedError:
        return
    if model is not None:
        st.sidebar.caption(f"{model.n_books:,} books · {model.n_links:,} links · {model.dim}-d vectors")
