"""Streamlit helpers shared by ``app.py`` and the pages: the one place in the library that imports streamlit.

A package along the app's seams: ``frame`` (page settings, navigation and
sidebar), ``folders`` (where model folders live), ``model`` (the chosen model folder), ``pickers`` (book and link
pickers), ``tables`` (result tables), ``jobs`` (background work with
progress), ``map`` (the Map page's state and controls), ``exports``
(Projector downloads), ``train`` (the training form), ``widgets`` (a
widget per declared setting) and ``text`` (data shown as text). Computation stays in the other ``bookembed`` modules; the
names pages use are gathered here.
"""

from bookembed.ui.exports import large_export, projector_export, projector_zip, spreadsheet_metadata
from bookembed.ui.frame import PAGES, frame
from bookembed.ui.jobs import Job, get_job, start_job, watch_job
from bookembed.ui.map import SELECTED, selected_books
from bookembed.ui.folders import DEFAULT_MODEL, MODELS_ENV, model_names, models_root, select_model
from bookembed.ui.model import MODEL_KEY, current_model_path, load_model, require_model
from bookembed.ui.pickers import QUERY, book_query, genre_options, link_query, set_query
from bookembed.ui.tables import book_table, link_table
from bookembed.ui.text import escape_markdown, show_error
from bookembed.ui.train import FULL_DATASET, import_panel, training_panel, valid_model_name

__all__ = [
    "DEFAULT_MODEL", "FULL_DATASET", "MODELS_ENV", "MODEL_KEY", "PAGES", "QUERY", "SELECTED", "Job",
    "book_query", "book_table", "current_model_path", "escape_markdown", "frame", "genre_options", "get_job",
    "import_panel", "link_query", "link_table", "load_model", "model_names", "models_root", "projector_export", "projector_zip",
    "large_export", "require_model", "select_model", "selected_books", "set_query", "show_error", "spreadsheet_metadata", "start_job", "training_panel", "valid_model_name",
    "watch_job",
]
