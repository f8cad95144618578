"""Where the app's model folders live and which one the sidebar picks next: shared by the picker (``model``)
and the training and import forms (``train``), which depend on it and not on each other."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from bookembed.store import list_model_folders

MODELS_ENV = "BOOKEMBED_MODELS_DIR"
DEFAULT_MODEL = "demo"
PENDING = "_pending_model"  # a folder to pick from the next run on (a model just trained or imported)


def models_root() -> Path:
    """Where model folders live: ``$BOOKEMBED_MODELS_DIR``, else ``models`` (relative to the working directory)."""
    return Path(os.environ.get(MODELS_ENV) or "models")


def model_names() -> list[str]:
    """The picker's choices: ``demo`` first (even before it is trained), then every model folder by name."""
    names = [p.name for p in list_model_folders(models_root())]
    return [DEFAULT_MODEL] + [n for n in names if n != DEFAULT_MODEL]


def select_model(name: str) -> None:
    """Make ``name`` the chosen model from the next run on (the picker may already be drawn in this one)."""
    st.session_state[PENDING] = name
