"""Streamlit helpers shared by ``app.py`` and the pages: the one library module that imports streamlit.

What lives here is the glue a page would otherwise repeat: choosing and
loading the model folder, the book and link pickers (fuzzy, accent-insensitive,
mirrored in the URL), safe text, result tables, background jobs with live
progress (training, projections) and the training form. Computation stays in
the other ``bookembed`` modules.

Background jobs run in threads owned by the server process, not by a script
run: a widget click reruns the page but does not abort a training run or a
UMAP layout, and every session asking for the same projection shares one job.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import streamlit as st

from bookembed.errors import BookembedError
from bookembed.neighbors import fold, search_names
from bookembed.store import ModelFolder, is_model_folder, list_model_folders, load_model_folder

log = logging.getLogger("bookembed.ui")

MODELS_ENV = "BOOKEMBED_MODELS_DIR"
DEFAULT_MODEL = "demo"
FULL_DATASET = Path("data") / "found_books_filtered.ndjson"
MODEL_KEY = "model"  # the sidebar picker's key and URL parameter
QUERY = "query"  # session: titles of the current book query, shared by the pages
SELECTED = "selected_ids"  # session: book ids selected on the map, shared with Export
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


# ---------------------------------------------------------------- safe text

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=&^\"'%@])")


def escape_markdown(text: object) -> str:
    """Text that Streamlit's Markdown shows literally: punctuation backslash-escaped, one line.

    Use it wherever data (titles, file names, error messages) must go through
    a Markdown element; prefer ``st.text`` or ``st.code`` where they fit.
    """
    s = re.sub(r"\s+", " ", "" if text is None else str(text)).strip()
    return _MD_SPECIAL.sub(r"\\\1", s)


def show_error(message: str, detail: object) -> None:
    """An error box: our own sentence, then the detail (from the data) escaped."""
    st.error(f"{message} {escape_markdown(detail)}", icon=":material/error:")


# ---------------------------------------------------------------- the frame (app.py) around every page


def mark_frame() -> None:
    """Called by app.py before it runs the chosen page."""
    st.session_state["_frame"] = True


def ensure_frame() -> None:
    """Make sure the page runs inside app.py (sidebar, picker, navigation).

    With a ``pages/`` folder next to it, a fresh Streamlit server runs pages
    the legacy way (without app.py) until app.py has called ``st.navigation``
    once; a first visit straight to ``/map`` would miss the sidebar. Such a
    run switches Streamlit to ``st.navigation`` mode and reruns.
    """
    if st.session_state.pop("_frame", False):
        st.session_state.pop("_frame_retries", None)
        return
    retries = st.session_state.get("_frame_retries", 0)
    if retries >= 2:
        return
    st.session_state["_frame_retries"] = retries + 1
    from streamlit.runtime.pages_manager import PagesManager

    PagesManager.uses_pages_directory = False
    st.rerun()


# ---------------------------------------------------------------- model folder


def models_root() -> Path:
    """Where model folders live: ``$BOOKEMBED_MODELS_DIR``, else ``models`` (relative to the working directory)."""
    return Path(os.environ.get(MODELS_ENV) or "models")


def model_names() -> list[str]:
    """The picker's choices: ``demo`` first (even before it is trained), then every model folder by name."""
    names = [p.name for p in list_model_folders(models_root())]
    return [DEFAULT_MODEL] + [n for n in names if n != DEFAULT_MODEL]


def select_model(name: str) -> None:
    """Make ``name`` the chosen model from the next run on (the picker may already be drawn in this one)."""
    st.session_state["_pending_model"] = name


def model_picker() -> Path:
    """The sidebar's model folder picker; returns the chosen folder (it may hold no model yet)."""
    names = model_names()
    pending = st.session_state.pop("_pending_model", None)
    if pending in names:
        st.session_state[MODEL_KEY] = pending
    elif st.session_state.get(MODEL_KEY) not in names:
        st.session_state.pop(MODEL_KEY, None)
    root = models_root()

    def label(name: str) -> str:
        return name if is_model_folder(root / name) else f"{name} (not trained yet)"

    with st.sidebar:
        name = st.selectbox(
            "Model folder",
            names,
            format_func=label,
            key=MODEL_KEY,
            bind="query-params",
            help=f"Folders under {escape_markdown(root)}/ that hold a trained model. Train another on the Train page.",
        )
    return root / (name or DEFAULT_MODEL)


def current_model_path() -> Path:
    return models_root() / (st.session_state.get(MODEL_KEY) or DEFAULT_MODEL)


def _stamp(path: Path) -> int | None:
    """Changes whenever the folder is rewritten (the manifest is written last, in a new folder)."""
    try:
        return (path / "manifest.json").stat().st_mtime_ns
    except OSError:
        return None


@st.cache_resource(max_entries=4, show_spinner=False)
def _load_model(path: str, stamp: int) -> ModelFolder:  # noqa: ARG001 - stamp is the cache key
    model = load_model_folder(path)
    threading.Thread(target=_warm_up, args=(model,), name="bookembed-warm-up", daemon=True).start()
    return model


def _warm_up(model: ModelFolder) -> None:
    """Fill the search caches (folded titles and links, unit vectors, pairs by book) off the first query's path."""
    try:
        search_names(model, "a", "book", limit=1)
        search_names(model, "a", "link", limit=1)
        model.unit_vectors("book")
        model.unit_vectors("link")
        model.book_links(0)
    except Exception:  # noqa: BLE001 - only a head start; the query computes what is missing
        log.debug("warm-up failed", exc_info=True)


def load_model(path: Path | None = None) -> ModelFolder | None:
    """The model in ``path`` (default: the chosen one), cached by path and modification time; None if none."""
    path = Path(path or current_model_path())
    stamp = _stamp(path)
    if stamp is None:
        return None
    with st.spinner("Loading the model…"):
        return _load_model(str(path.resolve()), stamp)


def require_model() -> ModelFolder:
    """The chosen model, or (when the folder holds none, or a damaged one) an explanation and the training form."""
    ensure_frame()
    path = current_model_path()
    try:
        model = load_model(path)
    except BookembedError as err:
        show_error("This model folder cannot be read:", err)
        st.caption("Pick another folder in the sidebar, or train a new model into this one on the Train page.")
        st.stop()
    if model is None:
        st.title("No model yet")
        st.info(
            f"The folder {escape_markdown(path)} holds no trained model. Train one now "
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


# ---------------------------------------------------------------- book and link pickers


def _book_label(model: ModelFolder, i: int) -> str:
    row = model.books.iloc[i]
    facts = [str(row[c]) for c in ("author",) if c in row and isinstance(row[c], str) and row[c]]
    if "year" in row and not pd.isna(row["year"]):
        facts.append(str(int(row["year"])))
    title = re.sub(r"\s+", " ", str(row["title"])).strip()
    return f"{title} — {', '.join(facts)}" if facts else title


def _keep_and_clear(key: str, title: str) -> None:
    basket = st.session_state.setdefault(f"{key}_basket", [])
    if title not in basket:
        basket.append(title)
    st.session_state[f"{key}_text"] = ""


def _clear_query(key: str) -> None:
    st.session_state[f"{key}_basket"] = []
    st.session_state[f"{key}_text"] = ""


def set_query(titles: list[str]) -> None:
    """Make ``titles`` the current book query (every page's picker follows on its next run)."""
    st.session_state[QUERY] = list(titles)


def book_query(
    model: ModelFolder, key: str = "search", *, several: bool = True, label: str = "Book", compact: bool = False
) -> list[int]:
    """A book picker: type part of a title, pick among fuzzy matches; optionally several books.

    The query is shared by the pages (``st.session_state["query"]``) and kept
    in the URL as ``?book=Title`` (repeated for several books), so a link
    reproduces it. Matching ignores case and accents and tolerates typos
    (``neighbors.search_names``). ``compact`` puts the box, the matches and
    the buttons on one row.

    Returns
    -------
    list of int
        The query's book ids (empty when nothing is chosen).
    """
    text_key, basket_key, shown_key = f"{key}_text", f"{key}_basket", f"{key}_shown"
    url = st.query_params.get_all("book")
    shown = st.session_state.get(shown_key)
    wanted = url if (url and url != shown) else st.session_state.get(QUERY, [])
    if wanted != shown or text_key not in st.session_state:
        # The query changed elsewhere (a link, another page, a clicked row): show it here.
        st.session_state[text_key] = wanted[-1] if wanted else ""
        st.session_state[basket_key] = list(wanted[:-1]) if several else []
    if compact:
        box, matches, buttons = st.columns([2, 3, 1.1], vertical_alignment="bottom")
    else:
        box = matches = st.container()
        buttons = None
    text = box.text_input(
        label,
        key=text_key,
        placeholder="Type part of a title, e.g. war and peace",
        help="Fuzzy: case, accents and small typos don't matter.",
    )
    pick = None
    if text.strip():
        hits = search_names(model, text, "book", limit=25)
        if not hits:
            matches.warning("No title matches that; try fewer or other words.", icon=":material/search_off:")
        else:
            pick = matches.selectbox(
                "Matching titles",
                hits,
                format_func=lambda i: _book_label(model, i),
                key=f"{key}_pick:{fold(text)}",
                help="Best match first.",
            )
    basket = [t for t in st.session_state.get(basket_key, []) if t in model.title_index] if several else []
    if several:
        row = (buttons or st).container(horizontal=True)
        row.button(
            "" if compact else "Add another book",
            icon=":material/add:",
            on_click=_keep_and_clear,
            args=(key, model.titles[pick] if pick is not None else ""),
            disabled=pick is None,
            key=f"{key}_add",
            help="Add another book: keep this one in the query and clear the box for the next. The search then "
            "looks for what readers of all of them would read (the average of their vectors).",
        )
        row.button("" if compact else "Clear", icon=":material/close:", on_click=_clear_query, args=(key,),
                   disabled=not (basket or pick is not None), key=f"{key}_clear", help="Clear the query")
        if basket:
            kept = st.multiselect("Also in the query (the average of all of them is searched)", basket, default=basket)
            if kept != basket:
                basket = kept
                st.session_state[basket_key] = kept
    ids = list(dict.fromkeys([model.title_index[t] for t in basket] + ([int(pick)] if pick is not None else [])))
    titles = [model.titles[i] for i in ids]
    set_query(titles)
    st.session_state[shown_key] = titles
    if st.query_params.get_all("book") != titles:
        if titles:
            st.query_params["book"] = titles
        elif "book" in st.query_params:
            del st.query_params["book"]
    return ids


def link_query(model: ModelFolder, key: str = "link") -> int | None:
    """A link picker (fuzzy, like ``book_query``); the typed text is kept in the URL as ``?link=``."""
    text = st.text_input(
        "Link (a Wikipedia page that book articles link to)",
        key=key,
        bind="query-params",
        placeholder="e.g. science fiction, leo tolstoy, category:russian novels",
    )
    if not text.strip():
        return None
    hits = search_names(model, text, "link", limit=25)
    if not hits:
        st.warning("No link matches that; try fewer or other words.", icon=":material/search_off:")
        return None
    return st.selectbox(
        "Matching links",
        hits,
        format_func=lambda j: f"{model.links[j]} — {int(model.link_counts[j]):,} books",
        key=f"{key}_pick:{fold(text)}",
    )


def genre_options(model: ModelFolder) -> list[str]:
    """``""`` (all genres) then the primary genres, most common first."""
    if "primary_genre" not in model.books.columns:
        return [""]
    counts = model.books["primary_genre"].fillna("").value_counts()
    return [""] + [g for g in counts.index if g]


# ---------------------------------------------------------------- tables


def book_table(frame: pd.DataFrame, key: str, *, pick_rows: bool = True) -> None:
    """Results of ``similar_books`` / ``books_for_link``: text only, similarity as a number.

    Clicking a row (when ``pick_rows``) makes that book the query.
    """
    view = pd.DataFrame({"rank": frame["rank"], "title": frame["title"], "similarity": frame["similarity"]})
    for col in ("author", "genre", "year"):
        if col in frame.columns:
            view[col] = frame[col]
    config = {
        "rank": st.column_config.NumberColumn("rank", width="small"),
        "title": st.column_config.TextColumn("title", width="medium"),
        "similarity": st.column_config.NumberColumn("similarity", format="%.3f", width="small"),
        "year": st.column_config.NumberColumn("year", format="%d", width="small"),
    }
    if "shared_links" in frame.columns:
        view["shared"] = [len(x) for x in frame["shared_links"]]
        view["shared links"] = [" · ".join(x) for x in frame["shared_links"]]
        config["shared"] = st.column_config.NumberColumn("shared", width="small", help="Links shared with the query")
        config["shared links"] = st.column_config.TextColumn("shared links", width="large")
    if "links_to_it" in frame.columns:
        view["links to it"] = frame["links_to_it"]
        config["links to it"] = st.column_config.CheckboxColumn("links to it", help="The article really links there")
    if not pick_rows or frame.empty:
        st.dataframe(view, hide_index=True, column_config=config, width="stretch")
        return
    # A new key for new results, so a ticked row does not stay ticked in the next table.
    widget_key = f"{key}:{hash(tuple(frame['id'].tolist()))}"

    def picked() -> None:
        rows = st.session_state[widget_key].selection.rows
        if rows:
            set_query([frame["title"].iloc[rows[0]]])

    st.dataframe(view, hide_index=True, column_config=config, width="stretch", key=widget_key,
                 on_select=picked, selection_mode="single-row")
    st.caption("Tick a row to search for that book.")


def link_table(frame: pd.DataFrame) -> None:
    """Results of ``similar_links`` / ``links_for_book``."""
    view = frame.drop(columns=["id"]).rename(columns={"books": "books linking", "shared_books": "books linking both"})
    st.dataframe(
        view,
        hide_index=True,
        width="stretch",
        column_config={
            "link": st.column_config.TextColumn("link", width="large"),
            "similarity": st.column_config.NumberColumn("similarity", format="%.3f"),
        },
    )


def books_frame(model: ModelFolder, ids) -> pd.DataFrame:
    """Metadata rows of some books, for display (id kept as a column)."""
    cols = [c for c in ("title", "author", "primary_genre", "year", "country", "language", "publisher", "n_links")
            if c in model.books.columns]
    frame = model.books.iloc[list(ids)][cols].rename(columns={"primary_genre": "genre", "n_links": "links"})
    frame.insert(0, "id", list(ids))
    return frame.reset_index(drop=True)


# ---------------------------------------------------------------- background jobs


@dataclass
class Job:
    """Work running in a server thread, with progress that any script run can read."""

    key: str
    label: str
    fraction: float = 0.0
    stage: str = "starting"
    points: list = field(default_factory=list)  # e.g. loss per chunk of training steps
    result: object = None
    error: str | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None
    owner: str | None = None
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def report(self, fraction: float, stage: str) -> None:
        self.fraction, self.stage = float(min(max(fraction, 0.0), 1.0)), stage

    def wait(self, seconds: float) -> bool:
        return self._done.wait(seconds)


@st.cache_resource(show_spinner=False)
def _jobs() -> dict:
    return {"lock": threading.Lock(), "jobs": {}}


def get_job(key: str) -> Job | None:
    return _jobs()["jobs"].get(key)


def forget_job(key: str) -> None:
    _jobs()["jobs"].pop(key, None)


def start_job(key: str, label: str, work: Callable[[Job], object], owner: str | None = None) -> Job:
    """Run ``work(job)`` in a thread unless a job with this key is already running; return the job.

    A ``BookembedError`` becomes ``job.error`` (its one-line message); any
    other exception too, with the traceback logged.
    """
    registry = _jobs()
    with registry["lock"]:
        job = registry["jobs"].get(key)
        if job is not None and not job.done:
            return job
        job = Job(key=key, label=label, owner=owner)
        registry["jobs"][key] = job

    def run() -> None:
        try:
            job.result = work(job)
        except BookembedError as err:
            job.error = str(err)
        except Exception as err:  # noqa: BLE001 - shown to the user, logged in full
            log.error("job %s failed:\n%s", key, traceback.format_exc())
            job.error = f"{type(err).__name__}: {err}"
        finally:
            job.finished = time.time()
            job._done.set()

    threading.Thread(target=run, name=f"bookembed-{key}", daemon=True).start()
    return job


def watch_job(job: Job, *, chart: str | None = None, every: float = 1.0) -> None:
    """Progress bar (and a live line chart of ``job.points``) that refreshes itself; reruns the app when done."""

    @st.fragment(run_every=every)
    def _progress() -> None:
        elapsed = (job.finished or time.time()) - job.started
        st.progress(job.fraction, text=f"{escape_markdown(job.stage)} ({elapsed:,.0f} s)")
        if chart and job.points:
            frame = pd.DataFrame(job.points)
            st.line_chart(frame, x="epoch", y=chart, height=240)
        if job.done:
            st.rerun()

    _progress()


# ---------------------------------------------------------------- projections


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
    job.wait(2.0)  # PCA and small models finish here, without a progress bar flashing by
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


def hover_labels(model: ModelFolder) -> tuple[np.ndarray, np.ndarray]:
    """Escaped hover labels of every book (computed once per loaded model)."""
    from bookembed.mapviz import hover_texts

    if "hover" not in model._cache:
        model._cache["hover"] = hover_texts(model.books)
    return model._cache["hover"]


def map_selection_snapshot(figure_sig: str) -> list[int] | None:
    """Which selection to draw into the figure (before drawing it).

    A live box/lasso selection is shown by Plotly itself; putting it into the
    figure would change the figure, remount the chart and lose the zoom. So
    the figure carries the selection only when it is redrawn for another
    reason (other colours, another projection, a saved view opened): then the
    current selection is drawn as Plotly's selection so it stays visible.
    """
    state = st.session_state.setdefault("_map_sel", {"fig": None, "event": (), "drawn": None})
    if state["fig"] != figure_sig:
        state["fig"], state["event"] = figure_sig, ()
        state["drawn"] = list(st.session_state.get(SELECTED, [])) or None
    return state["drawn"]


def map_selection_update(event) -> list[int]:
    """Apply the chart's selection event; returns the selected book ids (kept in the session)."""
    state = st.session_state.setdefault("_map_sel", {"fig": None, "event": (), "drawn": None})
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


def clear_map_selection() -> None:
    st.session_state[SELECTED] = []
    st.session_state["_map_generation"] = st.session_state.get("_map_generation", 0) + 1
    st.session_state.pop("_map_sel", None)


# ---------------------------------------------------------------- exports


def projector_export(model: ModelFolder, what: str = "books", ids=None) -> dict[str, bytes]:
    """``export.projector_files`` kept for the last few requests (the views file's time is part of the key)."""
    from bookembed import export

    try:
        views_stamp = (model.path / "views.json").stat().st_mtime_ns
    except OSError:
        views_stamp = None
    key = ("projector", what, None if ids is None else tuple(int(i) for i in ids), views_stamp)
    store = model._cache.setdefault("projector_exports", {})
    if key not in store:
        if len(store) >= 4:
            store.pop(next(iter(store)))
        store[key] = export.projector_files(model, what=what, ids=None if ids is None else list(key[2]))
    return store[key]


def projector_zip(model: ModelFolder, what: str = "books", ids=None) -> bytes:
    from bookembed import export

    return export.zip_bytes(projector_export(model, what, ids))


# ---------------------------------------------------------------- training

TRAIN_JOB = "train"
SOURCES = {"demo": "Demo corpus (classic books, shipped)", "full": "Full dataset (37,020 books)", "upload": "Upload a file"}
UPLOAD_TYPES = ["ndjson", "jsonl", "json", "gz", "csv", "tsv", "parquet", "pq"]


def valid_model_name(name: str) -> str | None:
    """None if ``name`` can be a model folder name, else why not."""
    if not _NAME.match(name or ""):
        return "use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
    return None


def _safe_filename(name: str) -> str:
    base = Path(name or "upload").name
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._") or "upload"
    return base[-100:]


def _train(job: Job, source, out: Path, config, cleaning, skip_bad_lines: bool, metadata, cleanup: Path | None):
    from bookembed.corpus import load_corpus
    from bookembed.pipeline import train_corpus_to_folder

    def progress(p) -> None:
        job.report(p.fraction * 0.97, f"epoch {p.epoch} of {p.epochs}, step {p.step} of {p.steps}: "
                   f"loss {p.loss:.4f}, {p.examples_per_s:,.0f} examples/s")
        job.points.append({"epoch": p.epoch - 1 + p.step / max(1, p.steps), "loss": float(p.loss)})
        if p.fraction >= 1.0:
            job.report(0.97, "measuring AUC and genre purity, saving the model folder")

    try:
        job.report(0.0, "reading and cleaning the records")
        corpus = load_corpus(source, config=cleaning, skip_bad_lines=skip_bad_lines, metadata=metadata)
        job.report(0.01, f"loading TensorFlow; {corpus.n_books:,} books, {corpus.n_links:,} links, "
                   f"{corpus.n_pairs:,} pairs")
        path, metrics = train_corpus_to_folder(corpus, out, config, progress)
        job.report(1.0, "done")
        return {"name": out.name, "path": str(path), "metrics": metrics, "report": corpus.report.lines(),
                "books": corpus.n_books, "links": corpus.n_links, "pairs": corpus.n_pairs}
    finally:
        if cleanup is not None:
            shutil.rmtree(cleanup, ignore_errors=True)


def _session_id() -> str:
    return st.session_state.setdefault("_session_id", os.urandom(8).hex())


def training_panel(default_name: str = "new-model", *, heading: bool = True) -> None:
    """The training form, or the running training's live progress, or how the last one ended."""
    job = get_job(TRAIN_JOB)
    mine = job is not None and job.owner == _session_id()
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
    message = st.session_state.get("_train_message")
    if not message or message[0] != "ok":
        return
    st.session_state.pop("_train_message", None)
    result = message[1]
    metrics = result.get("metrics", {})
    auc = metrics.get("auc")
    purity = (metrics.get("genre_purity") or {}).get("purity")
    facts = [f"{result.get('books', 0):,} books", f"{result.get('links', 0):,} links"]
    if auc is not None:
        facts.append(f"held-out AUC {auc:.3f}")
    if purity is not None:
        facts.append(f"genre purity {purity:.2f}")
    st.success(f"Trained and selected {escape_markdown(result.get('name', ''))}: {', '.join(facts)}.",
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
              owner=_session_id())
    st.rerun()


# ---------------------------------------------------------------- map controls and saved views


def projection_params(method: str) -> dict:
    """An expander with the method's main parameters (applied with a button); returns the applied ones."""
    from bookembed import projection as proj

    store = st.session_state.setdefault("map_params", {})
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
                   f"{len(proj.cached_projections(load_model()))} projection(s) saved so far.")
    return current


def open_view(view: dict) -> None:
    """Callback: restore a saved map view (projection, colouring, query, selection)."""
    from bookembed import projection as proj

    model = load_model()
    settings = proj.settings_for_key(model, view.get("projection", "")) if model is not None else None
    if settings is None:
        st.session_state["_view_problem"] = view.get("name", "")
        return
    params = {k: v for k, v in proj.settings_params(settings).items() if k != "dims"}
    st.session_state["map_method"] = settings.method
    st.session_state["map_dims"] = settings.dims
    st.session_state.setdefault("map_params", {})[settings.method] = params
    if view.get("color_by") in ("genre", "author", "country", "language", "publisher", "year"):
        st.session_state["map_color"] = view["color_by"]
    set_query([t for t in view.get("query", []) if t in model.title_index])
    st.session_state[SELECTED] = [int(i) for i in view.get("selected", []) if 0 <= int(i) < model.n_books]
    st.session_state["_map_generation"] = st.session_state.get("_map_generation", 0) + 1
    st.session_state.pop("_map_sel", None)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """CSV for spreadsheets: text cells that a spreadsheet would run as a formula get a leading '."""
    safe = frame.copy()
    for col in safe.columns:
        if safe[col].dtype == object or pd.api.types.is_string_dtype(safe[col]):
            safe[col] = safe[col].map(lambda v: "'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r") else v)
    return safe.to_csv(index=False).encode("utf-8")


def prefetch_scripts() -> None:
    """Once per session, an invisible WebGL Plotly chart and table at the foot of the sidebar.

    The browser fetches and compiles Plotly (4.7 MB of script) and the table
    component, and sets up WebGL, the first time a page shows them: about 2 s
    on the first map and 0.5 s on the first result table. Doing it while the
    first page is read takes that off the first search and the first map.
    """
    if st.session_state.get("_scripts_prefetched"):
        return
    st.session_state["_scripts_prefetched"] = True
    import plotly.graph_objects as go

    figure = go.Figure(go.Scattergl(x=[0], y=[0], mode="markers", marker={"size": 1, "opacity": 0}, hoverinfo="skip"))
    figure.update_layout(width=10, height=10, margin={"l": 0, "r": 0, "t": 0, "b": 0}, showlegend=False,
                         xaxis={"visible": False}, yaxis={"visible": False})
    with st.sidebar.container(height=1, border=False):
        st.plotly_chart(figure, config={"displayModeBar": False, "staticPlot": True}, width=10, height=10)
        st.dataframe(pd.DataFrame({"": [""]}), hide_index=True, width=10, height=40)
