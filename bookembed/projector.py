"""The TensorFlow Projector's file formats: vectors and metadata TSV, config, bookmarks.

What the standalone Projector loads for one kind of vector::

    vectors.tsv             one row per book (or link): tab-separated floats,
                            no header, no label column, LF line endings
    metadata.tsv            one row per vector, same order, UTF-8; a header
                            row exactly when there are several columns
    projector_config.json   relative paths to the two, and to the bookmarks
    bookmarks.json          the Map page's saved views as Projector states
                            (books only, when there are saved views)

The formats follow what the Projector's parser does (TensorBoard's
``vz_projector/data-provider.ts``): lines are split on ``\\n`` only, a line
that is blank after trimming is skipped, the first metadata line is a header
exactly when it contains a tab, and the metadata row count must equal the
vector count. So values never contain tabs or line breaks, and a value that
would make its line blank gets a placeholder. Every path in a config is
relative and resolves inside its folder.

``export`` assembles these into downloads, folders, a TensorBoard log
directory and Parquet. Nothing here imports TensorBoard, TensorFlow or Streamlit.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Sequence, Union

import numpy as np
import pandas as pd

from bookembed.errors import BookembedError
from bookembed.projection import CachedProjection, View, cached_projections, load_views
from bookembed.store import ModelFolder, load_model_folder

ModelLike = Union[ModelFolder, str, os.PathLike]

TENSORBOARD_MAX_POINTS = 100_000
"""TensorBoard's projector fetches at most this many rows of a tensor and its metadata."""

VECTOR_FORMAT = "%.9g"
"""Nine significant digits: every float32 survives the text round trip exactly."""

PLACEHOLDER = "(blank)"
"""Stands in for a label that would leave its metadata line blank (the Projector skips blank lines)."""

BOOK_COLUMNS = (
    "title", "author", "genre", "primary_genre", "year", "country", "language", "publisher", "pages", "n_links"
)
LINK_COLUMNS = ("link", "books")
KINDS = ("books", "links")
PCA_COMPONENTS = 10  # the Projector computes (and offers in its PCA menus) ten components
PROJECTOR_TYPES = {"umap": "umap", "tsne": "tsne", "pca": "pca"}

# Characters that end a line for some reader: tab and the line breaks of
# Python's str.splitlines (a superset of the Projector's "\n" and of CSV's "\r").
_BREAKS = "\t\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_CLEAN = str.maketrans({c: " " for c in _BREAKS})
# What JavaScript's String.prototype.trim removes, plus Python's whitespace:
# a line made only of these is skipped by the Projector.
_JS_BLANK = "\t\n\x0b\x0c\r \xa0\u1680"
_JS_BLANK += "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000\ufeff"
_BLANK = _JS_BLANK + "\x1c\x1d\x1e\x1f\x85"


class ExportError(BookembedError):
    """An export that cannot be written: bad rows, a bad titles file, an unwritable folder."""


# ---------------------------------------------------------------- small pieces


def clean_value(text: str) -> str:
    """``text`` with tabs and line breaks turned into spaces (one TSV field)."""
    return text.translate(_CLEAN)


def is_blank(text: str) -> bool:
    """True when the Projector would treat a line holding only ``text`` as blank."""
    return not text.strip(_BLANK)


def too_many_rows_warning(n_rows: int) -> str | None:
    """The warning for an export that TensorBoard will show only in part, or None."""
    if n_rows > TENSORBOARD_MAX_POINTS:
        return (
            f"warning: {n_rows:,} rows; TensorBoard's projector shows only the first "
            f"{TENSORBOARD_MAX_POINTS:,} (the files hold all of them)"
        )
    return None


def format_rows(array: np.ndarray, fmt: str = VECTOR_FORMAT, sep: str = "\t", chunk_rows: int = 8192) -> str:
    """Rows of numbers as text, one line per row, each line ending in ``\\n``.

    The values are formatted in bulk, one ``%`` operation per chunk of rows
    (C speed), rather than value by value.

    Parameters
    ----------
    array : ndarray, shape (n, d)
    fmt : str
        ``%``-format of one value.
    sep : str
        Between the values of a row.
    """
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"expected a 2-D array, got shape {array.shape}")
    n, d = array.shape
    if n == 0:
        return ""
    return _fill_rows(array, sep.join([fmt] * d) + "\n", chunk_rows)


def _fill_rows(array: np.ndarray, row: str, chunk_rows: int = 8192) -> str:
    """``row % values`` for every row of ``array``, one ``%`` per chunk of rows."""
    parts = []
    for start in range(0, len(array), chunk_rows):
        block = array[start : start + chunk_rows]
        parts.append((row * len(block)) % tuple(block.ravel().tolist()))
    return "".join(parts)


def as_model(model: ModelLike) -> ModelFolder:
    """A ModelFolder, from itself or from its path."""
    if isinstance(model, (str, os.PathLike)):
        return load_model_folder(model)
    return model


def check_kind(what: str) -> str:
    if what not in KINDS:
        raise ExportError(f"--what must be 'books' or 'links', got {what!r}")
    return what


def _n_rows(model: ModelFolder, what: str) -> int:
    return model.n_books if what == "books" else model.n_links


def _rows(model: ModelFolder, what: str, ids: Sequence[int] | np.ndarray | None) -> np.ndarray:
    """Row ids to export, checked, in the given order, repeats dropped; shape (n_rows,)."""
    n = _n_rows(model, what)
    if ids is None:
        return np.arange(n, dtype=np.int64)
    try:
        rows = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids)
    except TypeError:
        raise ExportError(f"ids must be a sequence of {what[:-1]} ids") from None
    if rows.ndim != 1 or (rows.size and not np.issubdtype(rows.dtype, np.integer)):
        raise ExportError(f"ids must be a flat sequence of integer {what[:-1]} ids, got dtype {rows.dtype}")
    rows = rows.astype(np.int64, copy=False)
    if rows.size == 0:
        raise ExportError(f"nothing to export: the selection of {what} is empty")
    bad = rows[(rows < 0) | (rows >= n)]
    if bad.size:
        raise ExportError(f"{what[:-1]} id {int(bad[0])} is not in this model ({n} {what}, ids 0 to {n - 1})")
    _, first = np.unique(rows, return_index=True)
    return rows[np.sort(first)]


def _vectors(model: ModelFolder, what: str, rows: np.ndarray) -> np.ndarray:
    """The exported vectors, float32, shape (n_rows, dim); refuses NaN and Inf."""
    source = model.book_vectors if what == "books" else model.require_link_vectors()
    every = len(rows) == len(source) and bool((rows == np.arange(len(rows))).all())
    # every row in order (the usual export) is the folder's own array, not a copy of it
    vectors = np.ascontiguousarray(source if every else source[rows], dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[1] < 1:
        raise ExportError(f"{model.path}: {what} vectors have shape {vectors.shape}; nothing to export")
    finite = np.concatenate([np.isfinite(vectors[s:s + 1_000_000]).all(axis=1)
                             for s in range(0, len(vectors), 1_000_000)]) if len(vectors) else np.ones(0, bool)
    if not finite.all():
        at = int(np.flatnonzero(~finite)[0])
        row = int(rows[at])
        name = model.titles[row] if what == "books" else model.links[row]
        raise ExportError(
            f"{model.path}: {what[:-1]} vector {row} ({name!r}) contains NaN or Inf "
            f"({int((~finite).sum())} such rows); refusing to export"
        )
    return vectors


# ---------------------------------------------------------------- metadata


def _column_strings(values: pd.Series) -> list[str]:
    """One column as TSV-safe strings; missing values become ''."""
    text = values.astype("string").fillna("")
    return [clean_value(v) for v in text.tolist()]


def metadata_frame(
    model: ModelFolder, what: str = "books", rows: np.ndarray | None = None, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """The metadata of the exported rows, native dtypes, first column the label.

    Parameters
    ----------
    model : ModelFolder
    what : {"books", "links"}
    rows : ndarray of int, shape (n_rows,), optional
        Row ids in export order (default: all).
    columns : sequence of str, optional
        Which columns, in order (default: title, author, genre, primary_genre,
        year, country, language, publisher, pages, n_links and then any others
        for books; link and books for links).

    Returns
    -------
    DataFrame, shape (n_rows, n_columns)
    """
    what = check_kind(what)
    if rows is None:
        rows = np.arange(_n_rows(model, what))
    if what == "books":
        table = model.books
        default = [c for c in BOOK_COLUMNS if c in table.columns] + [c for c in table.columns if c not in BOOK_COLUMNS]
    else:
        table = pd.DataFrame(
            {
                "link": pd.array(list(model.links), dtype="string"),
                "books": np.asarray(model.link_counts, dtype=np.int64),
            }
        )
        default = list(LINK_COLUMNS)
    chosen = list(default if columns is None else columns)
    if not chosen:
        raise ExportError("at least one metadata column is needed")
    missing = [c for c in chosen if c not in table.columns]
    if missing:
        there = ", ".join(map(str, table.columns))
        raise ExportError(f"no metadata column {missing[0]!r} for {what}; there are: {there}")
    if len(set(chosen)) != len(chosen):
        raise ExportError(f"metadata columns repeat: {', '.join(chosen)}")
    if len(rows) == len(table) and bool((np.asarray(rows) == np.arange(len(rows))).all()):
        return table[chosen].reset_index(drop=True)  # every row in order: no copy (pandas copies on write)
    return table.iloc[rows][chosen].reset_index(drop=True)


def metadata_tsv(frame: pd.DataFrame) -> str:
    """Projector metadata text for a table (one row per vector).

    Several columns: a header row, then one row per record. One column: no
    header. Tabs and line breaks in values become spaces; a label (first
    column) that would be blank becomes ``PLACEHOLDER``, since the Projector
    skips blank lines and every later row would shift.

    Parameters
    ----------
    frame : DataFrame, shape (n_rows, n_columns)

    Returns
    -------
    str
        ``n_rows`` lines (plus the header), each ending in ``\\n``.
    """
    columns = [_column_strings(frame[c]) for c in frame.columns]
    columns[0] = [PLACEHOLDER if is_blank(v) else v for v in columns[0]]
    if len(columns) == 1:
        lines = columns[0]
    else:
        header = "\t".join(clean_value(str(c)) for c in frame.columns)
        lines = [header] + ["\t".join(values) for values in zip(*columns)]
    return "".join(line + "\n" for line in lines)


def projector_pca(vectors: np.ndarray, k: int = PCA_COMPONENTS) -> np.ndarray:
    """The Projector's PCA: centre, scale rows to unit length, top principal components.

    Parameters
    ----------
    vectors : ndarray, shape (n, dim)
    k : int

    Returns
    -------
    ndarray of float32, shape (n, min(k, dim, n))
    """
    x = np.asarray(vectors, dtype=np.float64)
    x = x - x.mean(axis=0)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    k = min(k, vt.shape[0])
    return (x @ vt[:k].T).astype(np.float32)


def _camera(dims: int) -> dict:
    # The Projector's own starting camera (scatterPlot.makeDefaultCameraDef).
    if dims == 2:
        return {"orthographic": True, "position": [0, 0, 4], "target": [0, 0, 0], "zoom": 1}
    return {"orthographic": False, "position": [0.45, 0.9, 1.6], "target": [0, 0, 0], "zoom": 1}


def _number(value, default: float) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value):
        return float(value)
    return default


def _point_fields(coords: np.ndarray, keys: Sequence[str], fmt: str) -> list[str]:
    """Per point, ``"key":value`` pairs joined by commas (no braces); formatted in bulk.

    Parameters
    ----------
    coords : ndarray, shape (n, len(keys))
    """
    if len(keys) == 0:
        return [""] * len(coords)
    row = ",".join(f"{json.dumps(k)}:{fmt}" for k in keys) + "\n"
    return _fill_rows(np.asarray(coords, dtype=np.float64), row).split("\n")[:-1]


def _tsne_perplexity(n: int) -> float:
    """The Projector's own default perplexity for ``n`` points (its slider runs from 2 to 100).

    A t-SNE bookmark makes the Projector go on optimising from the stored
    coordinates with this value. Ours (openTSNE's) is not used: the
    Projector's t-SNE differs, and with too large a value for a small data set
    (it looks up 3 x perplexity neighbours) it fails.
    """
    return float(min(100, max(5, int(np.ceil(np.sqrt(n) / 4)))))


def _state_json(state: dict, parts: Sequence[list[str]]) -> str:
    """One State as JSON; ``parts`` are per-point field lists that make up ``projections``."""
    head = json.dumps(state, ensure_ascii=False)
    parts = [p for p in parts if p and p[0]]
    if not parts or not parts[0]:
        return head[:-1] + ', "projections": []}'
    points = parts[0] if len(parts) == 1 else map(",".join, zip(*parts))
    return head[:-1] + ', "projections": [{' + "},{".join(points) + "}]}"


def bookmarks_json(
    model: ModelFolder,
    rows: np.ndarray | None = None,
    label_column: str = "title",
    columns: Sequence[str] = (),
    max_points: int | None = None,
    *,
    views: Sequence[View] | None = None,
    projections: Sequence[CachedProjection] | None = None,
) -> tuple[bytes | None, list[str]]:
    """The saved map views as a Projector bookmarks file (a JSON list of States).

    Each view becomes one State (the class ``State`` of the Projector's
    ``data.ts``): ``label`` is the view's name, ``selectedPoints`` its selected
    books (as positions in the export), ``projections`` one object per
    exported point. When the view's projection is cached, its coordinates go
    in under the Projector's keys for that method (``umap-0``, ``tsne-0``,
    ``pca-0``... ) and ``selectedProjection`` names it; otherwise the state
    shows the first PCA components. Every state also carries the Projector's
    ten PCA components, as its own bookmarks do, so its PCA tab keeps working
    after a bookmark is loaded.

    Parameters
    ----------
    model : ModelFolder
    rows : ndarray of int, shape (n_rows,), optional
        Exported book ids, in export order.
    label_column : str
        The metadata column the Projector labels points by.
    columns : sequence of str
        The metadata columns (a view's ``color_by`` is kept when it is one).
    max_points : int, optional
        Keep only points below this position (TensorBoard loads only the first
        100,000 rows, and a state with more points than the data set breaks it).
    views, projections : sequences, optional
        The model's saved views and cached projections, when the caller has
        read them already (``projection.load_views``, ``cached_projections``).

    Returns
    -------
    bytes or None
        UTF-8 JSON; None when the model has no saved views.
    list of str
        Notes on views, projections or ids that were skipped.
    """
    notes: list[str] = []
    if views is None:
        views = load_views(model, notes)
    if not views:
        return None, notes
    if rows is None:
        rows = np.arange(model.n_books)
    if max_points is not None:
        rows = rows[:max_points]
    n, dim = len(rows), model.dim
    vectors = _vectors(model, "books", rows)
    if projections is None:
        projections = cached_projections(model)
    by_key = {p.key: p for p in projections}
    pca = projector_pca(vectors)
    if pca.shape[1] < 2:
        return None, notes + ["note: no bookmarks: the Projector needs at least 2 dimensions to show a map"]
    position = np.full(model.n_books, -1, dtype=np.int64)
    position[rows] = np.arange(n)

    # Formatted once, shared by the states: our PCA from component `start` on,
    # and each cached projection under the keys of the Projector's method.
    pca_fields: dict[int, list[str]] = {}
    view_fields: dict[tuple[str, str], list[str]] = {}

    def pca_from(start: int) -> list[str]:
        if start not in pca_fields:
            pca_fields[start] = _point_fields(pca[:, start:], [f"pca-{j}" for j in range(start, pca.shape[1])], "%.6g")
        return pca_fields[start]

    states = []
    for view in views:
        cached = by_key.get(view.projection) if view.projection else None
        if view.projection and cached is None:
            key = view.projection
            notes.append(f"note: view {view.name!r}: projection {key!r} is not cached; its bookmark shows PCA")
        params = cached.params if cached else {}
        if cached is None:
            kind, dims, parts = "pca", min(3, pca.shape[1]), [pca_from(0)]
        else:
            kind, dims = PROJECTOR_TYPES.get(cached.method or "", "umap"), cached.dims
            if (cached.key, kind) not in view_fields:
                keys = [f"{kind}-{j}" for j in range(dims)]
                view_fields[cached.key, kind] = _point_fields(cached.coords[rows], keys, "%.9g")
            # A cached PCA stands in for the first components of the Projector's own.
            parts = [view_fields[cached.key, kind], pca_from(dims if kind == "pca" else 0)]
        selected = [int(position[i]) for i in view.selected if position[i] >= 0]
        color = view.color_by if view.color_by in columns else "No color map"
        state = {
            "label": view.name,
            "isSelected": False,
            "dataSetDimensions": [n, dim],
            "selectedProjection": kind,
            # The tabs the state does not show keep the Projector's defaults (3-D).
            "pcaComponentDimensions": list(range(dims)) if kind == "pca" else [0, 1, 2][: min(3, pca.shape[1])],
            "tSNEIteration": int(_number(params.get("n_iter", params.get("max_iter")), 1000)) if kind == "tsne" else 0,
            "tSNEPerplexity": _tsne_perplexity(n),
            # The position of the Projector's learning-rate slider, log10 of the rate:
            # 1 is its default rate of 10 (openTSNE's rate is on another scale).
            "tSNELearningRate": 1,
            "tSNEis3d": dims == 3 if kind == "tsne" else True,
            "umapIs3d": dims == 3 if kind == "umap" else True,
            "umapNeighbors": int(_number(params.get("n_neighbors"), 15)),
            "umapMinDist": _number(params.get("min_dist"), 0.1),
            "customSelectedSearchByMetadataOption": label_column,
            "customXLeftText": "",
            "customXLeftRegex": False,
            "customXRightText": "",
            "customXRightRegex": False,
            "customYUpText": "",
            "customYUpRegex": False,
            "customYDownText": "",
            "customYDownRegex": False,
            "selectedPoints": selected,
            "cameraDef": _camera(dims),
            "selectedColorOptionName": color,
            "forceCategoricalColoring": False,
            "selectedLabelOption": label_column,
        }
        states.append(_state_json(state, parts))
    return ("[" + ",\n".join(states) + "]\n").encode("utf-8"), notes


# ---------------------------------------------------------------- the Projector files


@dataclass
class Prepared:
    """Everything one kind's export is made of, computed (and read from the folder) once.

    Attributes
    ----------
    what : {"books", "links"}
    rows : ndarray of int64, shape (n_rows,)
        Exported ids, in export order.
    vectors : ndarray of float32, shape (n_rows, dim)
    metadata : DataFrame, shape (n_rows, n_columns)
    views : list of View
        The model's saved map views (books only).
    projections : list of CachedProjection
        The model's usable cached projections (books only).
    notes : list of str
        What was skipped, and why.
    """

    what: str
    rows: np.ndarray
    vectors: np.ndarray
    metadata: pd.DataFrame
    views: list = field(default_factory=list)
    projections: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def prepare(model: ModelFolder, what: str = "books", ids=None, columns: Sequence[str] | None = None) -> Prepared:
    """Check the rows and columns of an export and gather what it is made of.

    Raises
    ------
    ExportError
        Unknown ids or columns, or vectors with NaN or Inf.
    """
    what = check_kind(what)
    rows = _rows(model, what, ids)
    ex = Prepared(what, rows, _vectors(model, what, rows), metadata_frame(model, what, rows, columns))
    if what == "books":
        ex.views = load_views(model, ex.notes)
        ex.projections = cached_projections(model, ex.notes)
    return ex


def _label_column(frame: pd.DataFrame) -> str:
    # A single-column file has no header; the Projector calls its column "label".
    return str(frame.columns[0]) if frame.shape[1] > 1 else "label"


STREAM_ROWS = 100_000
"""Rows formatted at a time when a TSV is written straight to its file (``lazy``): memory holds one chunk's text."""


def _streamed_vectors(vectors: np.ndarray):
    """A writer of ``format_rows(vectors)`` to a path, ``STREAM_ROWS`` rows at a time (the same bytes)."""
    def write(path) -> None:
        with open(path, "w", encoding="ascii", newline="") as out:
            for start in range(0, len(vectors), STREAM_ROWS):
                out.write(format_rows(vectors[start:start + STREAM_ROWS]))
    return write


def _streamed_metadata(frame: pd.DataFrame):
    """A writer of ``metadata_tsv(frame)`` to a path, ``STREAM_ROWS`` rows at a time (the same bytes)."""
    def write(path) -> None:
        with open(path, "w", encoding="utf-8", errors="replace", newline="") as out:
            for start in range(0, len(frame), STREAM_ROWS):
                text = metadata_tsv(frame.iloc[start:start + STREAM_ROWS])
                out.write(text.split("\n", 1)[1] if start and frame.shape[1] > 1 else text)  # one header only
    return write


def kind_files(model: ModelFolder, ex: Prepared, max_points: int | None = None, lazy: bool = False) -> dict:
    """``vectors.tsv``, ``metadata.tsv`` and (for books with saved views) ``bookmarks.json``.

    ``lazy``: the two TSVs are writers (``write(path)``, for ``atomic.write_files_atomic``) that format
    ``STREAM_ROWS`` rows at a time, so an export of millions of rows never holds its text whole.
    """
    files = {
        "vectors.tsv": _streamed_vectors(ex.vectors) if lazy else format_rows(ex.vectors).encode("ascii"),
        "metadata.tsv": _streamed_metadata(ex.metadata) if lazy else
        metadata_tsv(ex.metadata).encode("utf-8", errors="replace"),
    }
    if ex.what == "books":
        bookmarks, notes = bookmarks_json(
            model, ex.rows, _label_column(ex.metadata), [str(c) for c in ex.metadata.columns], max_points=max_points,
            views=ex.views, projections=ex.projections,
        )
        ex.notes.extend(notes)
        if bookmarks is not None:
            files["bookmarks.json"] = bookmarks
    return files


def projector_files(
    model: ModelLike, what: str = "books", ids: Sequence[int] | None = None, *, columns: Sequence[str] | None = None
) -> dict[str, bytes]:
    """The standalone Projector's files for one kind of vector, for download buttons.

    Parameters
    ----------
    model : ModelFolder or path
    what : {"books", "links"}
    ids : sequence of int, optional
        Row ids (book ids or link ids) to export, in this order; default all.
    columns : sequence of str, optional
        Metadata columns (see ``metadata_frame``); one column gives a file
        without a header.

    Returns
    -------
    dict of str to bytes
        ``vectors.tsv``, ``metadata.tsv``, ``projector_config.json`` and,
        for books with saved map views, ``bookmarks.json``.

    Raises
    ------
    ExportError
        Unknown ids or columns, or vectors with NaN or Inf.
    """
    model = as_model(model)
    return standalone_files(model, prepare(model, what, ids, columns))


def standalone_files(model: ModelFolder, ex: Prepared, lazy: bool = False) -> dict:
    """The standalone Projector's files of a prepared export, ``projector_config.json`` included (``lazy``:
    the TSVs are writers, as ``kind_files`` says)."""
    files = kind_files(model, ex, lazy=lazy)
    embedding = {
        "tensorName": f"{model.name} {ex.what}",
        "tensorShape": [int(ex.vectors.shape[0]), int(ex.vectors.shape[1])],
        "tensorPath": "vectors.tsv",
        "metadataPath": "metadata.tsv",
    }
    if "bookmarks.json" in files:
        embedding["bookmarksPath"] = "bookmarks.json"
    config = {"embeddings": [embedding]}
    files["projector_config.json"] = (json.dumps(config, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
    return files




def sharded_files(model: ModelFolder, ex: Prepared, shard_rows: int, lazy: bool = False) -> dict:
    """The standalone Projector's files split into shards of at most ``shard_rows`` rows.

    ``vectors-00000.tsv`` with ``metadata-00000.tsv`` and so on, and one
    ``projector_config.json`` naming each shard as its own tensor, so every
    shard loads whole where the Projector caps a tensor at 100,000 points.
    Saved views are not carried into shards (a bookmark describes one data set).
    ``lazy``: each shard is a writer (``write(path)``) that formats it when the
    file is written, so memory holds one shard's text at a time.
    """
    if shard_rows < 1:
        raise ExportError(f"shard size must be at least 1 row, got {shard_rows}")
    files: dict[str, bytes] = {}
    embeddings = []
    n = len(ex.rows)
    count = (n + shard_rows - 1) // shard_rows
    for s, start in enumerate(range(0, n, shard_rows)):
        stop = min(n, start + shard_rows)
        part = Prepared(ex.what, ex.rows[start:stop], ex.vectors[start:stop],
                        ex.metadata.iloc[start:stop].reset_index(drop=True))
        vectors, metadata = f"vectors-{s:05d}.tsv", f"metadata-{s:05d}.tsv"
        if lazy:
            files[vectors], files[metadata] = _streamed_vectors(part.vectors), _streamed_metadata(part.metadata)
        else:
            files[vectors] = format_rows(part.vectors).encode("ascii")
            files[metadata] = metadata_tsv(part.metadata).encode("utf-8", errors="replace")
        embeddings.append({"tensorName": f"{model.name} {ex.what} {s + 1} of {count} (rows {start + 1:,} to {stop:,})",
                           "tensorShape": [stop - start, int(ex.vectors.shape[1])],
                           "tensorPath": vectors, "metadataPath": metadata})
    config = {"embeddings": embeddings}
    files["projector_config.json"] = (json.dumps(config, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
    return files


def stratified_sample(model: ModelFolder, n: int, column: str = "primary_genre", seed: int = 0) -> np.ndarray:
    """About ``n`` book ids drawn so every value of ``column`` keeps its share (at least one book each).

    Returns
    -------
    ndarray of int64, shape (<= n,)
        Sorted book ids; every book when the model has at most ``n``.
    """
    if n < 1:
        raise ExportError(f"a sample needs at least 1 row, got {n}")
    total = model.n_books
    if total <= n:
        return np.arange(total, dtype=np.int64)
    values = model.books[column].fillna("").astype(str).to_numpy() if column in model.books.columns else \
        np.array([""] * total, dtype=object)
    groups, codes = np.unique(values, return_inverse=True)
    sizes = np.bincount(codes, minlength=len(groups))
    quota = np.maximum(1, np.floor(sizes * n / total)).astype(np.int64)
    while quota.sum() > n:  # the "at least one" floor can overshoot when there are many tiny groups
        quota[np.argmax(quota)] -= 1
    rng = np.random.default_rng(seed)
    chosen = [rng.choice(np.flatnonzero(codes == g), size=min(int(q), int(sizes[g])), replace=False)
              for g, q in enumerate(quota) if q > 0]
    return np.sort(np.concatenate(chosen)).astype(np.int64)
