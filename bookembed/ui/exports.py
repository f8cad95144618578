"""Projector downloads for the pages, made once per model folder, selection and set of saved views."""

from __future__ import annotations

import numpy as np
import streamlit as st

from bookembed.store import ModelFolder
from bookembed.views import views_stamp


@st.cache_resource(max_entries=4, show_spinner=False)
def _projector_files(path: str, stamp: int | None, views: int | None, what: str, ids: tuple | None,
                     _model: ModelFolder) -> dict[str, bytes]:  # noqa: ARG001 - the first five are the cache key
    from bookembed import projector

    return projector.projector_files(_model, what=what, ids=None if ids is None else list(ids))


def projector_export(model: ModelFolder, what: str = "books", ids=None) -> dict[str, bytes]:
    """``projector.projector_files``, cached by folder, stamp, saved views, kind and selection."""
    key_ids = None if ids is None else tuple(int(i) for i in ids)
    return _projector_files(str(model.path.resolve()), model.stamp, views_stamp(model), what, key_ids, model)


def spreadsheet_metadata(model: ModelFolder, what: str = "books", ids=None) -> bytes:
    """The metadata of all (or some) rows as CSV that a spreadsheet opens safely (``export.spreadsheet_csv``)."""
    from bookembed.export import spreadsheet_csv
    from bookembed.projector import metadata_frame

    rows = None if ids is None else np.asarray(list(ids), dtype=np.int64)
    return spreadsheet_csv(metadata_frame(model, what, rows))


def projector_zip(model: ModelFolder, what: str = "books", ids=None) -> bytes:
    """The Projector files of ``projector_export`` as one ZIP archive."""
    from bookembed.export import zip_bytes

    return zip_bytes(projector_export(model, what, ids))


def large_export(model: ModelFolder, what: str, form: str) -> bytes:
    """Downloads for more rows than the Projector shows at once (made when clicked, not cached).

    ``form`` is ``"sample"`` (about 100,000 books drawn per genre, Projector
    files in a zip), ``"shards"`` (every row, Projector files in shards of
    100,000, in a zip) or ``"parquet"`` (every row, vectors and metadata).
    """
    from bookembed import export, projector

    if form == "sample":
        ids = projector.stratified_sample(model, projector.TENSORBOARD_MAX_POINTS)
        return export.zip_bytes(projector.projector_files(model, what="books", ids=ids))
    if form == "shards":
        prepared = projector.prepare(model, what)
        return export.zip_bytes(projector.sharded_files(model, prepared, projector.TENSORBOARD_MAX_POINTS))
    return export.parquet_bytes(model, what)
