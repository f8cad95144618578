"""The Train page's forms: training (one entry point: ``pipeline.train_model_folder``) with live progress,
and importing a Keras model or a Projector export (``importer``)."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import streamlit as st

from bookembed.errors import BookembedError
from bookembed.settings import from_values, offered
from bookembed.store import is_model_folder
from bookembed.ui.folders import models_root, refused_name, select_model, without_server_paths
from bookembed.ui.jobs import Job, get_job, session_id, start_job, watch_job
from bookembed.ui.text import escape_markdown, show_error
from bookembed.ui.widgets import setting_widget

FULL_DATASET = Path("data") / "found_books_filtered.ndjson"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
TRAIN_JOB = "train"
SOURCES = {"demo": "Demo corpus (classic books, shipped)", "full": "Full dataset (37,020 books)", "upload": "Upload a file"}
SOURCE_KEY = "training_source"  # the "Train on" radio (outside the form: a choice shows its own controls at once)
UPLOAD_TYPES = ["ndjson", "jsonl", "json", "gz", "csv", "tsv", "parquet", "pq"]


def _target_folder(name: str, overwrite: bool) -> Path | None:
    """The model folder a form writes to, or None (with the reason shown) when the name or an existing model forbids it."""
    problem = valid_model_name(name) or refused_name(name)
    if problem:
        show_error("Choose another folder name:", without_server_paths(problem))
        return None
    out = models_root() / name
    if is_model_folder(out) and not overwrite:
        show_error("A model already exists there:", f"{name}. Tick “Replace an existing model” or choose another name.")
        return None
    return out


def valid_model_name(name: str) -> str | None:
    """None if ``name`` can be a model folder name, else why not."""
    if not _NAME.fullmatch(name or ""):
        return "use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
    return None


def _safe_filename(name: str) -> str:
    base = Path(name or "upload").name
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._") or "upload"
    return base[-100:]


def user_message(err: object, names: dict[str, str]) -> str:
    """``str(err)`` with the server's temporary upload paths replaced by the names the user uploaded.

    Parameters
    ----------
    names : dict
        ``{temporary path: the user's file name}``.
    """
    text = str(err)
    for path, name in sorted(names.items(), key=lambda item: -len(item[0])):  # longest first: files before folders
        text = text.replace(path, name)
    return text


def empty_upload(*uploads) -> str | None:
    """The one message for an upload of 0 bytes (``"NAME: empty file (0 bytes)"``), for the first such upload;
    None when every upload given holds something. Checked before any reader sees the file, so the message does
    not depend on what kind of file it claims to be."""
    for upload in uploads:
        if upload is not None and upload.size == 0:
            return f"{upload.name}: empty file (0 bytes)"
    return None


def save_upload(folder: Path, upload, prefix: str = "") -> tuple[Path, dict[str, str]]:
    """Write an uploaded file into ``folder`` under a safe name; returns the path and ``{path: user's name}``."""
    path = folder / (prefix + _safe_filename(upload.name))
    path.write_bytes(upload.getvalue())
    # messages name a file by its path or, for records, by its base name
    return path, {str(path): upload.name, path.name: upload.name}


def _train(job: Job, source, out: Path, config, cleaning, skip_bad_lines: bool, metadata, cleanup: Path | None,
           names: dict[str, str] | None = None):
    from bookembed.pipeline import train_model_folder
    from bookembed.stages import StageLog, format_rate

    log = job.stages = StageLog()
    share = {"reading": 0.0, "cleaning": 0.01, "training": 0.02, "evaluating": 0.9, "baselines": 0.93, "saving": 0.98}

    def progress(p) -> None:
        log.note = f"epoch {p.epoch} of {p.epochs}, loss {p.loss:.4f}, {format_rate(p.examples_per_s)}"
        job.report(0.02 + p.fraction * 0.88, log.line())
        job.points.append({"epoch": p.epoch - 1 + p.step / max(1, p.steps), "loss": float(p.loss)})

    def on_stage(stage: str, detail: str) -> None:
        log.start(stage, detail)
        job.report(max(job.fraction, share[stage]), log.line())

    try:
        path, metrics, corpus = train_model_folder(
            source, out, config, cleaning, skip_bad_lines=skip_bad_lines, metadata=metadata,
            progress=progress, on_stage=on_stage,
        )
        log.finish()
        job.report(1.0, "done: " + log.summary())
        return {"name": out.name, "path": str(path), "metrics": metrics,
                "report": [user_message(line, names or {}) for line in corpus.report.lines()],
                "books": corpus.n_books, "links": corpus.n_links, "pairs": corpus.n_pairs}
    except BookembedError as err:
        if not names:
            raise
        raise type(err)(user_message(err, names)) from None  # the user's file name, not the server's temp path
    finally:
        if cleanup is not None:
            shutil.rmtree(cleanup, ignore_errors=True)


def training_panel(default_name: str = "new-model", *, heading: bool = True, replace: bool = False) -> None:
    """The training form, or the running training's live progress, or how the last one ended.

    ``replace`` ticks "Replace an existing model" (for a damaged folder the user is told to train over).
    """
    job = get_job(TRAIN_JOB)
    mine = job is not None and job.owner == session_id()
    if job is not None and not job.done:
        st.subheader("Training")
        if not mine:
            st.caption("Another session is training a model; it will appear in the picker when done.")
        st.text(f"into {job.label}")
        watch_job(job, chart="loss")
        return
    if job is not None and mine and not st.session_state.get("_train_seen") == job.started:
        st.session_state["_train_seen"] = job.started
        if job.error:
            st.session_state["_train_message"] = ("error", job.error)
        else:
            result = job.result or {}
            st.session_state["_train_message"] = ("ok", result)
            select_model(result.get("name", ""))
            st.rerun()
    message = st.session_state.get("_train_message")
    if message and message[0] == "error":
        show_error("Training failed; nothing was saved and the existing models are untouched.",
                   without_server_paths(message[1]))
    _training_form(default_name, heading, replace)


def training_result_banner() -> None:
    """After a training run this session started: a one-time success note with the new model's metrics."""
    from bookembed.evaluate import summary

    message = st.session_state.get("_train_message")
    if not message or message[0] != "ok":
        return
    st.session_state.pop("_train_message", None)
    result = message[1]
    facts = [f"{result.get('books', 0):,} books", f"{result.get('links', 0):,} links"]
    facts += [f"{line.label} {line.value}" for line in summary(result.get("metrics", {}))[:2] if line.value != "n/a"]
    st.success(f"Trained and selected {escape_markdown(result.get('name', ''))}: {escape_markdown(', '.join(facts))}.",
               icon=":material/check_circle:")
    for line in result.get("report", []):
        st.caption(escape_markdown(without_server_paths(line)))


SETTING_KEY = "train_"  # a setting's widget key: this and the field's name


def settings_widgets(classes: tuple[type, ...], columns: int = 4) -> dict[type, dict[str, Any]]:
    """A widget for every setting the CLI offers of each config class, in rows of ``columns``; advanced ones in
    an expander. Returns ``{class: {field name: value}}`` for ``settings.from_values``."""
    values: dict[type, dict[str, Any]] = {cls: {} for cls in classes}
    chosen = [(cls, s) for cls in classes for s in offered(cls)]

    def grid(items) -> None:
        for start in range(0, len(items), columns):
            for column, (cls, s) in zip(st.columns(columns), items[start:start + columns]):
                values[cls][s.name] = setting_widget(s, column, key=SETTING_KEY + s.name)

    grid([item for item in chosen if not item[1].advanced])
    advanced = [item for item in chosen if item[1].advanced]
    if advanced:
        with st.expander("Advanced settings"):
            grid(advanced)
    return values


def _training_form(default_name: str, heading: bool = True, replace: bool = False) -> None:
    from bookembed.corpus import DEMO_PATH, CleaningConfig
    from bookembed.training import TrainConfig

    if heading:
        st.subheader("Train a model")
    available = {"demo": DEMO_PATH.is_file(), "full": FULL_DATASET.is_file(), "upload": True}
    choices = [k for k in SOURCES if available[k]] or ["upload"]
    # Outside the form, so that choosing a source shows its own controls at once (a form's widgets rerun nothing).
    source = st.radio("Train on", choices, format_func=SOURCES.get, horizontal=True, key=SOURCE_KEY)
    if not available["full"]:
        st.caption("“Full dataset” is offered here once it is downloaded: “Get data” on the Train page, or "
                   "`bookembed download`.")
    upload = metadata = None
    with st.form("train_form"):
        name = st.text_input("Save as models/…", value=default_name, max_chars=64)
        if source == "upload":
            upload = st.file_uploader(
                "Records file",
                type=UPLOAD_TYPES,
                help="Wikipedia-books NDJSON: one JSON list per line, [title, infobox, wikilinks, external_links, "
                "last_edit, text_length], plain or .gz; or a CSV/TSV/Parquet table of (item, link) pairs.",
            )
            metadata = st.file_uploader("Metadata table for a pairs table (optional, keyed by item)",
                                        type=["csv", "tsv", "parquet", "pq"])
        elif source == "demo":
            st.caption("The demo corpus ships with bookembed: classic books, trained in seconds.")
        else:
            st.caption(f"The full dataset, downloaded to {escape_markdown(FULL_DATASET)}.")
        values = settings_widgets((TrainConfig, CleaningConfig))
        row = st.container(horizontal=True)
        skip_bad = source != "demo" and row.checkbox(  # the shipped corpus has none
            "Skip malformed lines", value=False,
            help="Skip (and report) bad NDJSON lines instead of stopping at the first one.")
        overwrite = row.checkbox("Replace an existing model", value=replace)
        submitted = st.form_submit_button("Train", type="primary", icon=":material/model_training:")
    if not submitted:
        return
    st.session_state.pop("_train_message", None)
    out = _target_folder(name, overwrite)
    if out is None:
        return
    try:
        config = from_values(TrainConfig, values[TrainConfig])
        cleaning = from_values(CleaningConfig, values[CleaningConfig])
    except BookembedError as err:
        show_error("Check the settings:", err)
        return
    cleanup = None
    meta_path = None
    names: dict[str, str] = {}
    if source == "upload":
        if upload is None:
            show_error("No file uploaded:", "choose a records file or pairs table first.")
            return
        empty = empty_upload(upload, metadata)
        if empty:
            show_error("Nothing to train on:", empty)
            return
        cleanup = Path(tempfile.mkdtemp(prefix="bookembed-upload-"))
        records, names = save_upload(cleanup, upload)
        if metadata is not None:
            meta_path, more = save_upload(cleanup, metadata, "meta-")
            names.update(more)
        records_source: object = records
    elif source == "full":
        records_source = FULL_DATASET
    else:
        records_source = "demo"
    out.parent.mkdir(parents=True, exist_ok=True)
    start_job(TRAIN_JOB, name,
              lambda job: _train(job, records_source, out, config, cleaning, skip_bad, meta_path, cleanup, names),
              owner=session_id())
    st.rerun()


IMPORT_KINDS = {"keras": "A Keras model (.keras or .h5) and its records", "projector": "A Projector export"}
RECORD_TYPES = ["ndjson", "jsonl", "json", "gz"]


def import_panel(default_name: str = "imported") -> None:
    """Import a Keras model trained by the article's notebook, or a Projector export, as a model folder."""
    message = st.session_state.pop("_import_message", None)
    if message:
        st.success(escape_markdown(without_server_paths(message[0])), icon=":material/check_circle:")
        for line in message[1:]:
            st.caption(escape_markdown(without_server_paths(line)))
    with st.form("import_form"):
        name = st.text_input("Save as models/…", value=default_name, max_chars=64, key="import_name")
        kind = st.radio("Import", list(IMPORT_KINDS), format_func=IMPORT_KINDS.get, horizontal=True,
                        key="import_kind")
        left, right = st.columns(2)
        with left:
            st.caption("A Keras model: layers book_embedding and link_embedding, as the article's notebook makes "
                       "them. Its rows are matched to books and links by the notebook's rules on its records.")
            model_file = st.file_uploader("Keras model", type=["keras", "h5", "hdf5"], key="import_keras")
            records = st.file_uploader("The records it was trained on (NDJSON, plain or .gz)", type=RECORD_TYPES,
                                       key="import_records",
                                       help="Empty: the downloaded full dataset, when there is one.")
            link_order = st.file_uploader("The notebook's link order (optional: one link per line)",
                                          type=["txt", "tsv"], key="import_link_order",
                                          help="Where links of equal count tie, the notebook's order came from a "
                                               "Python set; without this file only the book vectors are imported.")
        with right:
            st.caption("A Projector export: vectors.tsv and metadata.tsv, from this app or another tool.")
            vectors = st.file_uploader("vectors.tsv", type=["tsv", "txt"], key="import_vectors")
            metadata = st.file_uploader("metadata.tsv", type=["tsv", "txt"], key="import_metadata")
        overwrite = st.checkbox("Replace an existing model", value=False, key="import_overwrite")
        submitted = st.form_submit_button("Import", icon=":material/upload:")
    if not submitted:
        return
    out = _target_folder(name, overwrite)
    if out is None:
        return
    needed = [model_file] if kind == "keras" else [vectors, metadata]
    if any(upload is None for upload in needed):
        show_error("Missing files:", "upload the Keras model and its records" if kind == "keras"
                   else "upload both vectors.tsv and metadata.tsv")
        return
    if kind == "keras" and records is None and not FULL_DATASET.is_file():
        show_error("Missing files:", "upload the records the model was trained on")
        return
    empty = empty_upload(*([model_file, records, link_order] if kind == "keras" else [vectors, metadata]))
    if empty:
        show_error("Import failed; nothing was saved:", empty)
        return
    folder = Path(tempfile.mkdtemp(prefix="bookembed-import-"))
    names: dict[str, str] = {}
    try:
        def saved(upload, prefix: str = "") -> Path:
            path, more = save_upload(folder, upload, prefix)
            names.update(more)
            return path

        from bookembed import importer

        with st.spinner("Importing…"):
            if kind == "keras":
                result = importer.import_keras(
                    saved(model_file, "model-"), saved(records, "records-") if records is not None else FULL_DATASET,
                    out, link_order=saved(link_order, "order-") if link_order is not None else None,
                    overwrite=overwrite)
            else:
                result = importer.import_projector(saved(vectors, "vectors-"), saved(metadata, "metadata-"), out,
                                                   overwrite=overwrite)
    except BookembedError as err:
        show_error("Import failed; nothing was saved:", without_server_paths(user_message(err, names)))
        return
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    st.session_state["_import_message"] = [user_message(line, names) for line in result.lines()]
    select_model(out.name)
    st.rerun()
