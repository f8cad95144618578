"""The Train page's form and the running training's live progress (one entry point: ``pipeline.train_model_folder``)."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import streamlit as st

from bookembed.errors import BookembedError
from bookembed.store import is_model_folder
from bookembed.ui.jobs import Job, get_job, session_id, start_job, watch_job
from bookembed.ui.model import models_root, select_model
from bookembed.ui.text import escape_markdown, show_error

FULL_DATASET = Path("data") / "found_books_filtered.ndjson"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
TRAIN_JOB = "train"
SOURCES = {"demo": "Demo corpus (classic books, shipped)", "full": "Full dataset (37,020 books)", "upload": "Upload a file"}
UPLOAD_TYPES = ["ndjson", "jsonl", "json", "gz", "csv", "tsv", "parquet", "pq"]


def valid_model_name(name: str) -> str | None:
    """None if ``name`` can be a model folder name, else why not."""
    if not _NAME.fullmatch(name or ""):
        return "use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
    return None


def _safe_filename(name: str) -> str:
    base = Path(name or "upload").name
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._") or "upload"
    return base[-100:]


def _train(job: Job, source, out: Path, config, cleaning, skip_bad_lines: bool, metadata, cleanup: Path | None):
    from bookembed.pipeline import train_model_folder

    def progress(p) -> None:
        job.report(0.02 + p.fraction * 0.95, f"epoch {p.epoch} of {p.epochs}, step {p.step} of {p.steps}: "
                   f"loss {p.loss:.4f}, {p.examples_per_s:,.0f} examples/s")
        job.points.append({"epoch": p.epoch - 1 + p.step / max(1, p.steps), "loss": float(p.loss)})

    def on_stage(stage: str) -> None:
        job.report(job.fraction, stage)

    try:
        path, metrics, corpus = train_model_folder(
            source, out, config, cleaning, skip_bad_lines=skip_bad_lines, metadata=metadata,
            progress=progress, on_stage=on_stage,
        )
        job.report(1.0, "done")
        return {"name": out.name, "path": str(path), "metrics": metrics, "report": corpus.report.lines(),
                "books": corpus.n_books, "links": corpus.n_links, "pairs": corpus.n_pairs}
    finally:
        if cleanup is not None:
            shutil.rmtree(cleanup, ignore_errors=True)


def training_panel(default_name: str = "new-model", *, heading: bool = True) -> None:
    """The training form, or the running training's live progress, or how the last one ended."""
    job = get_job(TRAIN_JOB)
    mine = job is not None and job.owner == session_id()
    if job is not None and not job.done:
        st.subheader("Training")
        if not mine:
            st.caption("Another session is training a model; it will appear in the picker when done.")
        st.text(str(models_root() / job.label))
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
        show_error("Training failed; nothing was saved and the existing models are untouched.", message[1])
    _training_form(default_name, heading)


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
        st.caption(escape_markdown(line))


def _training_form(default_name: str, heading: bool = True) -> None:
    from bookembed.corpus import DEMO_PATH, CleaningConfig
    from bookembed.training import DEFAULT_LR, TASKS, TrainConfig

    defaults = TrainConfig()
    with st.form("train_form"):
        if heading:
            st.subheader("Train a model")
        name = st.text_input("Save as models/…", value=default_name, max_chars=64)
        available = {
            "demo": DEMO_PATH.is_file(),
            "full": FULL_DATASET.is_file(),
            "upload": True,
        }
        choices = [k for k in SOURCES if available[k]] or ["upload"]
        source = st.radio("Train on", choices, format_func=SOURCES.get, horizontal=True)
        if not available["full"]:
            st.caption(f"The full dataset is not downloaded ({FULL_DATASET}); run `bookembed download` to fetch it.")
        upload = st.file_uploader(
            "Records file (for “Upload a file”)",
            type=UPLOAD_TYPES,
            help="Wikipedia-books NDJSON: one JSON list per line, [title, infobox, wikilinks, external_links, "
            "last_edit, text_length], plain or .gz; or a CSV/TSV/Parquet table of (item, link) pairs.",
        )
        metadata = st.file_uploader("Metadata table for a pairs table (optional, keyed by item)",
                                    type=["csv", "tsv", "parquet", "pq"])
        c = st.columns(4)
        dim = c[0].number_input("Vector length", 2, 512, defaults.dim, step=1)
        epochs = c[1].number_input("Epochs", 1, 500, defaults.epochs, step=1)
        batch = c[2].number_input("Batch size", 1, 65536, defaults.batch_size, step=128, placeholder="automatic",
                                  help="True pairs per step; empty picks a size from the number of pairs.")
        negatives = c[3].number_input("Negatives per positive", 0, 20, defaults.negative_ratio, step=1)
        c = st.columns(4)
        optimizer = c[0].selectbox("Optimizer", list(DEFAULT_LR), index=list(DEFAULT_LR).index(defaults.optimizer))
        rate = c[1].number_input("Learning rate", 0.0001, 10.0, None, step=0.001, format="%.4f",
                                 placeholder="optimizer's default",
                                 help="Empty: " + ", ".join(f"{k} {v}" for k, v in DEFAULT_LR.items()))
        task = c[2].selectbox("Task", TASKS, index=TASKS.index(defaults.task),
                              help="regression: cosine against ±1 (MSE); classification: sigmoid and cross-entropy")
        heldout = c[3].number_input("Held-out share (for AUC)", 0.0, 0.45, defaults.heldout_share, step=0.01)
        c = st.columns(4)
        seed = c[0].number_input("Seed", 0, 2**31 - 1, defaults.seed, step=1)
        min_links = c[1].number_input("Keep links in at least … books", 1, 1000, CleaningConfig().min_link_count,
                                      step=1)
        skip_bad = c[2].checkbox("Skip malformed lines", value=False,
                                 help="Skip (and report) bad NDJSON lines instead of stopping at the first one.")
        overwrite = c[3].checkbox("Replace an existing model", value=False)
        submitted = st.form_submit_button("Train", type="primary", icon=":material/model_training:")
    if not submitted:
        return
    st.session_state.pop("_train_message", None)
    problem = valid_model_name(name)
    if problem:
        show_error("Choose another folder name:", problem)
        return
    out = models_root() / name
    if is_model_folder(out) and not overwrite:
        show_error("A model already exists there:", f"{out}. Tick “Replace an existing model” or choose another name.")
        return
    try:
        def value(x, default):  # an emptied number box means "the default"
            return default if x is None else x

        config = TrainConfig(
            dim=int(value(dim, defaults.dim)), epochs=int(value(epochs, defaults.epochs)),
            batch_size=None if batch is None else int(batch),
            negative_ratio=int(value(negatives, defaults.negative_ratio)), task=task or defaults.task,
            optimizer=optimizer or defaults.optimizer, learning_rate=None if rate is None else float(rate),
            heldout_share=float(value(heldout, defaults.heldout_share)), seed=int(value(seed, defaults.seed)))
        cleaning = CleaningConfig(min_link_count=int(value(min_links, CleaningConfig().min_link_count)))
    except BookembedError as err:
        show_error("Check the settings:", err)
        return
    cleanup = None
    meta_path = None
    if source == "upload":
        if upload is None:
            show_error("No file uploaded:", "choose a records file or pairs table first.")
            return
        cleanup = Path(tempfile.mkdtemp(prefix="bookembed-upload-"))
        records = cleanup / _safe_filename(upload.name)
        records.write_bytes(upload.getvalue())
        if metadata is not None:
            meta_path = cleanup / ("meta-" + _safe_filename(metadata.name))
            meta_path.write_bytes(metadata.getvalue())
        records_source: object = records
    elif source == "full":
        records_source = FULL_DATASET
    else:
        records_source = "demo"
    out.parent.mkdir(parents=True, exist_ok=True)
    start_job(TRAIN_JOB, name,
              lambda job: _train(job, records_source, out, config, cleaning, skip_bad, meta_path, cleanup),
              owner=session_id())
    st.rerun()


