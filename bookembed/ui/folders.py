"""Where the app's model folders live and which one the sidebar picks next: shared by the picker (``model``)
and the training and import forms (``train``), which depend on it and not on each other."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from bookembed.errors import ModelFolderError
from bookembed.store import folder_in_root, list_model_folders

MODELS_ENV = "BOOKEMBED_MODELS_DIR"
DEFAULT_MODEL = "demo"
PENDING = "_pending_model"  # a folder to pick from the next run on (a model just trained or imported)


def models_root() -> Path:
    """Where model folders live: ``$BOOKEMBED_MODELS_DIR``, else ``models`` (relative to the working directory)."""
    return Path(os.environ.get(MODELS_ENV) or "models")


def model_names() -> list[str]:
    """The picker's choices: ``demo`` first (even before it is trained), then every model folder by name;
    entries that lead outside the models root are left out (``store.folder_in_root``)."""
    names = [p.name for p in list_model_folders(models_root())]
    first = [] if refused_name(DEFAULT_MODEL) else [DEFAULT_MODEL]
    return first + [n for n in names if n != DEFAULT_MODEL]


def refused_name(name: str) -> str | None:
    """None when ``name`` can be opened as a folder of the models root, else why not (one line)."""
    try:
        folder_in_root(models_root(), name)
    except ModelFolderError as err:
        return str(err)
    return None


def shown_name(path: str | Path) -> str:
    """How a page names a folder or file: relative to the models root (a model folder by its name) or to the
    working directory; never the server's absolute path."""
    return without_server_paths(Path(path).absolute())


def without_server_paths(text: object) -> str:
    """``text`` with the server's own paths written relative: a file of a model folder under the folder's name,
    another file relative to the working directory (``data/books.ndjson``), the models root itself as its name.

    Every message a page shows that may name a file (an error, a report line) goes through this: where the
    server keeps its files is none of a reader's business.
    """
    text = "" if text is None else str(text)
    root = models_root()
    bases = {str(root.resolve()): root.name, str(root.absolute()): root.name,
             str(Path.cwd().resolve()): "", str(Path.cwd()): ""}
    for base in sorted(bases, key=len, reverse=True):  # the models root before the directory it may lie in
        if len(base) > 1:
            text = text.replace(base + os.sep, "").replace(base, bases[base] or ".")
    return text


def select_model(name: str) -> None:
    """Make ``name`` the chosen model from the next run on (the picker may already be drawn in this one)."""
    st.session_state[PENDING] = name
