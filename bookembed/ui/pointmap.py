"""The point renderer for big 2-D maps: a Streamlit component of our own (``static/pointmap``).

Plotly's WebGL scatter needs over 12 s to draw a million points in a browser
without a GPU, before Streamlit's share. This component receives the points
as bytes (x, y as float32, a group code and a book id each) and writes them
into one canvas's pixels, then answers hover from a grid of 8-pixel cells,
zooms, pans and selects boxes. Labels travel once, as UTF-8 text.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st
import streamlit.components.v1 as components

from bookembed.mapviz import point_labels, point_payload
from bookembed.store import ModelFolder

_component = components.declare_component("bookembed_pointmap", path=str(Path(__file__).parent / "static" / "pointmap"))


@st.cache_resource(max_entries=2, show_spinner=False)
def _labels(path: str, stamp: int | None, limit: int, _model: ModelFolder) -> tuple[bytes, bool]:  # noqa: ARG001
    labels = point_labels(_model.books)
    if len(labels) + 13 * _model.n_books <= limit:
        return labels, False
    return point_labels(_model.books, details=False), True


def labels_trimmed(model: ModelFolder) -> bool:
    """Whether the point renderer shows titles only (every label with its details would pass the message limit)."""
    return _labels(str(model.path.resolve()), model.stamp, _limit(), model)[1]


def _limit() -> int:
    # Streamlit's message limit (set on purpose in .streamlit/config.toml); the rest of the page needs room too
    return int(0.8 * st.get_option("server.maxMessageSize") * 1e6)


@st.cache_resource(max_entries=4, show_spinner=False)
def _payload(sig: str, _coords: np.ndarray, _model: ModelFolder, color_by: str, top_n: int) -> dict:  # noqa: ARG001
    return point_payload(_coords, _model.books, color_by=color_by, top_n=top_n)


def point_map(model: ModelFolder, coords: np.ndarray, projection: str, *, color_by: str, top_n: int,
              query_ids=(), neighbour_ids=(), located: int | None = None, height: int = 720,
              key: str = "pointmap") -> list[int] | None:
    """Draw every book of a 2-D map; returns the book ids of the box last selected on it, or None.

    ``projection`` names the coordinates (the projection's cache key): with
    the model's folder and stamp, the colouring and the group count, it keys
    the cached payload, so a rerun sends the same bytes without rebuilding them.
    """
    sig = repr((str(model.path.resolve()), model.stamp, projection, color_by, top_n))
    payload = _payload(sig, coords, model, color_by, top_n)
    value = _component(
        **payload, sig=sig, labels=_labels(str(model.path.resolve()), model.stamp, _limit(), model)[0], legend_title=color_by,
        query=[int(i) for i in query_ids], neighbours=[int(i) for i in neighbour_ids],
        located=None if located is None else int(located), height=height, key=key, default=None,
    )
    if isinstance(value, dict) and value.get("sig") == sig and isinstance(value.get("selected"), list):
        return [int(i) for i in value["selected"]]
    return None
