"""TensorFlow Projector export: TSV files and config, a TensorBoard log directory, Parquet.

What one export of a model folder holds (``bookembed export --out DIR``)::

    vectors.tsv             one row per book (or link): tab-separated floats,
                            no header, no label column, LF line endings
    metadata.tsv            one row per vector, same order, UTF-8; a header
                            row exactly when there are several columns
    projector_config.json   for the standalone Projector, relative paths
    bookmarks.json          the Map page's saved views as Projector states
                            (books only, when there are saved views)
    books.parquet           vectors, metadata and cached map coordinates
                            (links.parquet for ``--what links``)

``--tensorboard LOGDIR`` writes a log directory that TensorBoard's projector
plugin reads without a checkpoint: ``projector_config.pbtxt`` names each TSV
through ``tensor_path``, and books and links are two tensors::

    LOGDIR/projector_config.pbtxt
    LOGDIR/books/vectors.tsv, metadata.tsv, bookmarks.json
    LOGDIR/links/vectors.tsv, metadata.tsv

The file formats follow what the Projector's parser does (TensorBoard's
``vz_projector/data-provider.ts``): lines are split on ``\\n`` only, a line
that is blank after trimming is skipped, the first metadata line is a header
exactly when it contains a tab, and the metadata row count must equal the
vector count. So values never contain tabs or line breaks, and a value that
would make its line blank gets a placeholder. Every path in a config is
relative and resolves inside its folder (TensorBoard refuses paths that
resolve outside the config's directory).

Nothing here imports TensorBoard, TensorFlow or Streamlit; ``pyarrow`` is
imported only when a Parquet file is written.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import pandas as pd

from bookembed.errors import BookembedError
from bookembed.projection import PROJECTIONS, VIEWS, vectors_checksum
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


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """A ZIP archive of ``{name: content}``, for one download button.

    Entries are deflated at level 1 (seven times faster than the default
    on TSV text, for about a tenth more bytes) and carry a fixed timestamp,
    so the same files give the same archive.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, content, compresslevel=1)
    return buffer.getvalue()


def _load(model: ModelLike) -> ModelFolder:
    """A ModelFolder, from itself or from its path."""
    if isinstance(model, (str, os.PathLike)):
        return load_model_folder(model)
    return model


def _check_what(what: str) -> str:
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
    source = model.book_vectors if what == "books" else model.link_vectors
    vectors = np.ascontiguousarray(source[rows], dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[1] < 1:
        raise ExportError(f"{model.path}: {what} vectors have shape {vectors.shape}; nothing to export")
    finite = np.isfinite(vectors).all(axis=1)
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
    what = _check_what(what)
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


# ---------------------------------------------------------------- cached projections and saved views


@dataclass(frozen=True)
class CachedProjection:
    """One cached map projection of the books (read from ``<model>/projections``).

    Attributes
    ----------
    key : str
    method : str or None
        "umap", "tsne" or "pca" (None when the sidecar does not say).
    params : dict
    coords : ndarray of float32, shape (n_books, dims), dims 2 or 3
    """

    key: str
    method: str | None
    params: dict
    coords: np.ndarray = field(repr=False)

    @property
    def dims(self) -> int:
        return int(self.coords.shape[1])


def load_cached_projections(model: ModelFolder) -> tuple[list[CachedProjection], list[str]]:
    """The usable cached projections of a model (sorted by key), and why others were ignored.

    A projection is ignored when its array is damaged, is not shaped
    (n_books, 2 or 3), holds NaN or Inf, or when its sidecar says it was made
    from other vectors.
    """
    folder = Path(model.path) / PROJECTIONS
    found: list[CachedProjection] = []
    notes: list[str] = []
    if not folder.is_dir():
        return found, notes
    for npy in sorted(folder.glob("*.npy")):
        if npy.name.startswith("."):
            continue
        key = npy.stem
        info: dict = {}
        sidecar = npy.with_suffix(".json")
        if sidecar.is_file():
            try:
                info = json.loads(sidecar.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError, UnicodeDecodeError):
                notes.append(f"note: ignored projection {key!r}: damaged {sidecar.name}")
                continue
            if not isinstance(info, dict):
                info = {}
        try:
            coords = np.load(npy, allow_pickle=False)
        except (OSError, ValueError) as err:
            notes.append(f"note: ignored projection {key!r}: damaged {npy.name} ({err})")
            continue
        if coords.ndim != 2 or coords.shape[0] != model.n_books or coords.shape[1] not in (2, 3):
            notes.append(f"note: ignored projection {key!r}: shape {coords.shape} does not fit {model.n_books} books")
            continue
        if info.get("vectors") not in (None, vectors_checksum(model)):
            notes.append(f"note: ignored projection {key!r}: made from other vectors")
            continue
        if not np.issubdtype(coords.dtype, np.number) or not np.isfinite(coords).all():
            notes.append(f"note: ignored projection {key!r}: not finite numbers")
            continue
        method = info.get("method") if isinstance(info.get("method"), str) else None
        params = info.get("params") if isinstance(info.get("params"), dict) else {}
        found.append(CachedProjection(key, method, params, coords.astype(np.float32, copy=False)))
    return found, notes


def load_views(model: ModelFolder) -> tuple[list[dict], list[str]]:
    """The saved map views (``<model>/views.json``), cleaned, and notes on what was skipped.

    Each view comes back as ``{"name": str, "projection": str or None,
    "selected": list of book ids, "color_by": str or None}``. A missing file
    means no views; entries that are not views are skipped (as the Map page
    does), and so are selected ids outside the model.
    """
    file = Path(model.path) / VIEWS
    if not file.is_file():
        return [], []
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        return [], [f"note: ignored {file}: not readable JSON ({err})"]
    raw = data.get("views") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        return [], [f"note: ignored {file}: no 'views' list"]
    views, notes = [], []
    for i, view in enumerate(raw):
        if not isinstance(view, dict) or not isinstance(view.get("name"), str):
            notes.append(f"note: {file.name}: skipped entry {i}: not a view with a name")
            continue
        selected = view.get("selected") or []
        if not isinstance(selected, list):
            selected = []
        ids = [s for s in selected if isinstance(s, int) and not isinstance(s, bool) and 0 <= s < model.n_books]
        if len(ids) != len(selected):
            dropped = len(selected) - len(ids)
            notes.append(f"note: {file.name}: view {view['name']!r}: dropped {dropped} selected ids that are not books")
        projection = view.get("projection")
        color_by = view.get("color_by")
        views.append(
            {
                "name": view["name"],
                "projection": projection if isinstance(projection, str) else None,
                "selected": list(dict.fromkeys(ids)),
                "color_by": color_by if isinstance(color_by, str) else None,
            }
        )
    return views, notes


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

    Returns
    -------
    bytes or None
        UTF-8 JSON; None when the model has no saved views.
    list of str
        Notes on views, projections or ids that were skipped.
    """
    views, notes = load_views(model)
    if not views:
        return None, notes
    if rows is None:
        rows = np.arange(model.n_books)
    if max_points is not None:
        rows = rows[:max_points]
    n, dim = len(rows), model.dim
    vectors = _vectors(model, "books", rows)
    projections, _ = load_cached_projections(model)  # export_command reports the ignored ones
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
        cached = by_key.get(view["projection"]) if view["projection"] else None
        if view["projection"] and cached is None:
            key = view["projection"]
            notes.append(f"note: view {view['name']!r}: projection {key!r} is not cached; its bookmark shows PCA")
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
        selected = [int(position[i]) for i in view["selected"] if position[i] >= 0]
        color = view["color_by"] if view["color_by"] in columns else "No color map"
        state = {
            "label": view["name"],
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
class _Export:
    """Everything one kind's export is made of, computed once."""

    what: str
    rows: np.ndarray
    vectors: np.ndarray
    metadata: pd.DataFrame
    notes: list[str]


def _prepare(model: ModelFolder, what: str, ids, columns: Sequence[str] | None) -> _Export:
    what = _check_what(what)
    rows = _rows(model, what, ids)
    vectors = _vectors(model, what, rows)
    frame = metadata_frame(model, what, rows, columns)
    return _Export(what, rows, vectors, frame, [])


def _label_column(frame: pd.DataFrame) -> str:
    # A single-column file has no header; the Projector calls its column "label".
    return str(frame.columns[0]) if frame.shape[1] > 1 else "label"


def _projector_kind_files(model: ModelFolder, ex: _Export, max_points: int | None = None) -> dict[str, bytes]:
    files = {
        "vectors.tsv": format_rows(ex.vectors).encode("ascii"),
        "metadata.tsv": metadata_tsv(ex.metadata).encode("utf-8", errors="replace"),
    }
    if ex.what == "books":
        bookmarks, notes = bookmarks_json(
            model, ex.rows, _label_column(ex.metadata), [str(c) for c in ex.metadata.columns], max_points=max_points
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
    model = _load(model)
    ex = _prepare(model, what, ids, columns)
    return _standalone_files(model, ex)


def _standalone_files(model: ModelFolder, ex: _Export) -> dict[str, bytes]:
    files = _projector_kind_files(model, ex)
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


# ---------------------------------------------------------------- Parquet


def parquet_bytes(model: ModelLike, what: str = "books", ids: Sequence[int] | None = None) -> bytes:
    """A Parquet file of the exported rows (see ``export_parquet``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    model = _load(model)
    ex = _prepare(model, what, ids, None)
    frame = ex.metadata.copy()
    projections = load_cached_projections(model)[0] if ex.what == "books" else []
    coord_columns = {}
    for p in projections:
        for j, axis in enumerate("xyz"[: p.dims]):
            coord_columns[f"{p.key}_{axis}"] = pa.array(p.coords[ex.rows, j], type=pa.float32())
    reserved = {"id", "vector", *coord_columns}
    frame.columns = [f"{c}_meta" if c in reserved else c for c in frame.columns]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    dim = int(ex.vectors.shape[1])
    table = table.add_column(0, "id", pa.array(ex.rows, type=pa.int64()))
    vector = pa.FixedSizeListArray.from_arrays(pa.array(ex.vectors.ravel(), type=pa.float32()), dim)
    table = table.append_column("vector", vector)
    for name, column in coord_columns.items():
        table = table.append_column(name, column)
    info = {
        "what": ex.what,
        "model": str(model.path),
        "dim": dim,
        "rows": int(len(ex.rows)),
        "projections": {p.key: {"method": p.method, "dims": p.dims, "params": p.params} for p in projections},
    }
    metadata = dict(table.schema.metadata or {})
    metadata[b"bookembed"] = json.dumps(info, ensure_ascii=False).encode("utf-8")
    table = table.replace_schema_metadata(metadata)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def export_parquet(
    model: ModelLike, path: str | os.PathLike, ids: Sequence[int] | None = None, *, what: str = "books"
) -> Path:
    """Write vectors, metadata and cached map coordinates to one Parquet file (atomically).

    Columns: ``id`` (the row id in the model), the metadata columns with
    their own types, ``vector`` (fixed-size list of float32, length dim) and,
    for books, ``<key>_x``, ``<key>_y`` (and ``<key>_z``) for every cached
    projection that fits the model. The schema's ``bookembed`` metadata
    describes the projections.

    Parameters
    ----------
    model : ModelFolder or path
    path : path of the ``.parquet`` file
    ids : sequence of int, optional
    what : {"books", "links"}

    Returns
    -------
    Path
    """
    path = Path(path)
    data = parquet_bytes(model, what, ids)
    _write_files(path.parent, {path.name: data})
    return path


# ---------------------------------------------------------------- TensorBoard


def _pbtxt_string(text: str) -> str:
    """A protocol-buffer text-format string: double quotes, C escapes, UTF-8 bytes as octal."""
    out = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        if char in '"\\':
            out.append("\\" + char)
        elif 32 <= byte < 127:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def tensorboard_files(
    model: ModelLike,
    ids: Sequence[int] | None = None,
    *,
    what: str = "books",
    _done: tuple[_Export, dict[str, bytes]] | None = None,
) -> tuple[dict[str, bytes], list[str]]:
    """The files of a TensorBoard log directory (relative names) and notes.

    Books and links are two tensors, ``books`` and ``links``; ``ids`` selects
    rows of the ``what`` tensor and the other is complete. ``_done`` passes
    the ``what`` files already made for the standalone Projector, which are
    the same bytes when TensorBoard can show every row.
    """
    model = _load(model)
    what = _check_what(what)
    files: dict[str, bytes] = {}
    notes: list[str] = []
    entries = []
    for kind in KINDS:
        if _done is not None and kind == what and len(_done[0].rows) <= TENSORBOARD_MAX_POINTS:
            ex, kind_files = _done
        else:
            ex = _prepare(model, kind, ids if kind == what else None, None)
            kind_files = _projector_kind_files(model, ex, max_points=TENSORBOARD_MAX_POINTS)
            notes.extend(ex.notes)
        warning = too_many_rows_warning(len(ex.rows))
        if warning:
            notes.append(f"{warning} [{kind}]")
        for name, data in kind_files.items():
            files[f"{kind}/{name}"] = data
        lines = [
            f"  tensor_name: {_pbtxt_string(kind)}",
            f"  tensor_shape: {ex.vectors.shape[0]}",
            f"  tensor_shape: {ex.vectors.shape[1]}",
            f"  tensor_path: {_pbtxt_string(f'{kind}/vectors.tsv')}",
            f"  metadata_path: {_pbtxt_string(f'{kind}/metadata.tsv')}",
        ]
        if "bookmarks.json" in kind_files:
            lines.append(f"  bookmarks_path: {_pbtxt_string(f'{kind}/bookmarks.json')}")
        entries.append("embeddings {\n" + "\n".join(lines) + "\n}\n")
    files["projector_config.pbtxt"] = "".join(entries).encode("utf-8")
    return files, notes


def export_tensorboard(
    model: ModelLike, logdir: str | os.PathLike, ids: Sequence[int] | None = None, *, what: str = "books"
) -> list[Path]:
    """Write a TensorBoard log directory for the projector plugin (no checkpoint needed).

    ``projector_config.pbtxt`` names each tensor's TSV through ``tensor_path``;
    all paths are relative and stay inside ``logdir``. Other files in
    ``logdir`` (event files, other runs) are left alone.

    Parameters
    ----------
    model : ModelFolder or path
    logdir : path
    ids : sequence of int, optional
        Rows of the ``what`` tensor to export (the other tensor is complete).
    what : {"books", "links"}

    Returns
    -------
    list of Path
        The files written, the config last.
    """
    files, _ = tensorboard_files(model, ids, what=what)
    return _write_files(Path(logdir), files)


# ---------------------------------------------------------------- writing


def _write_files(folder: Path, files: dict[str, bytes]) -> list[Path]:
    """Write ``{relative name: bytes}`` into ``folder``, each file replaced atomically.

    All files are first written to a temporary folder inside ``folder``, then
    moved into place with ``os.replace``, configs last, so a crash leaves
    each file either old or new and a reader never sees half a file.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ExportError(f"{folder}: exists and is not a folder") from None
    except OSError as err:
        raise ExportError(f"{folder}: cannot create the folder ({err.strerror})") from None
    if not folder.is_dir():
        raise ExportError(f"{folder}: exists and is not a folder")
    order = sorted(files, key=lambda name: (name.endswith((".pbtxt", "projector_config.json")), name))
    written = []
    try:
        tmp = Path(tempfile.mkdtemp(prefix=".export-tmp-", dir=folder))
    except OSError as err:
        raise ExportError(f"{folder}: cannot write here ({err.strerror})") from None
    try:
        for name in order:
            staged = tmp / name
            staged.parent.mkdir(parents=True, exist_ok=True)
            staged.write_bytes(files[name])
            os.chmod(staged, 0o644)
        for name in order:
            target = folder / name
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp / name, target)
            except OSError as err:
                raise ExportError(f"{target}: cannot write ({err.strerror})") from None
            written.append(target)
    except OSError as err:
        raise ExportError(f"{folder}: cannot write ({err.strerror})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return written


# ---------------------------------------------------------------- --titles


def read_titles(path: str | os.PathLike, model: ModelFolder, what: str = "books") -> list[int]:
    """Row ids for a file with one title (or link name) per line, in file order.

    A line matches a title exactly, or else the title with tabs and line
    breaks as spaces (how metadata.tsv writes it), or else the same with
    surrounding and repeated spaces ignored. Blank lines and repeats are
    skipped.

    Raises
    ------
    ExportError
        An unreadable file, or a line that names no title of the model
        (the message names the file and the line).
    """
    path = Path(path)
    what = _check_what(what)
    names = model.titles if what == "books" else list(model.links)
    kind = "book" if what == "books" else "link"
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ExportError(f"{path}: no such titles file") from None
    except UnicodeDecodeError as err:
        raise ExportError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except OSError as err:
        raise ExportError(f"{path}: cannot read ({err.strerror})") from None
    exact = {}
    cleaned: dict[str, list[int]] = {}
    spaced: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        exact.setdefault(name, i)
        cleaned.setdefault(clean_value(name), []).append(i)
        spaced.setdefault(" ".join(name.split()), []).append(i)
    ids: list[int] = []
    for number, line in enumerate(text.split("\n"), start=1):
        line = line[:-1] if line.endswith("\r") else line
        if is_blank(line):
            continue
        if line in exact:
            ids.append(exact[line])
            continue
        for index, key in ((cleaned, line), (spaced, " ".join(line.split()))):
            found = index.get(key)
            if found:
                if len(found) > 1:
                    raise ExportError(
                        f"{path}, line {number}: {line!r} matches {len(found)} {what} "
                        f"({', '.join(repr(names[j]) for j in found[:3])}); write the exact title"
                    )
                ids.append(found[0])
                break
        else:
            hint = ""
            try:
                from bookembed.neighbors import search_names

                close = search_names(model, line, kind=kind, limit=3)
                if close:
                    hint = "; did you mean " + ", ".join(repr(names[j]) for j in close) + "?"
            except Exception:  # suggestions are a courtesy, never the error
                hint = ""
            raise ExportError(f"{path}, line {number}: no {kind} named {line!r} in this model{hint}")
    if not ids:
        raise ExportError(f"{path}: no titles in the file")
    return list(dict.fromkeys(ids))


# ---------------------------------------------------------------- the command


def export_command(
    model_dir: str | os.PathLike,
    out: str | os.PathLike,
    what: str = "books",
    titles: str | os.PathLike | None = None,
    tensorboard: str | os.PathLike | None = None,
) -> list[str]:
    """``bookembed export``: write the Projector files, Parquet and optionally a TensorBoard logdir.

    Parameters
    ----------
    model_dir : path of a model folder
    out : path of the output folder (created; other files in it are kept)
    what : {"books", "links"}
    titles : path, optional
        One title (or link) per line: export only those rows, in that order.
    tensorboard : path, optional
        Also write a TensorBoard log directory here.

    Returns
    -------
    list of str
        Lines for the CLI to print: the files written, notes and warnings.

    Raises
    ------
    BookembedError
        A bad model folder, titles file or output folder (one line).
    """
    what = _check_what(what)
    model = load_model_folder(model_dir)
    ids = read_titles(titles, model, what) if titles is not None else None
    ex = _prepare(model, what, ids, None)
    files = _standalone_files(model, ex)
    parquet_name = f"{what}.parquet"
    files[parquet_name] = parquet_bytes(model, what, ex.rows)
    out = Path(out)
    written = _write_files(out, files)
    n, dim = ex.vectors.shape
    lines = [f"exported {n:,} {what} x {dim} dimensions from {model.path}"]
    lines += [f"wrote {p}" for p in written]
    notes = list(ex.notes)
    if what == "books":
        notes += load_cached_projections(model)[1]
    if tensorboard is not None:
        done = (ex, {k: v for k, v in files.items() if k in ("vectors.tsv", "metadata.tsv", "bookmarks.json")})
        tb_files, tb_notes = tensorboard_files(model, ex.rows, what=what, _done=done)
        tb_written = _write_files(Path(tensorboard), tb_files)
        lines += [f"wrote {p}" for p in tb_written]
        lines.append(f"view it with: tensorboard --logdir {tensorboard}  (Projector tab)")
        # The export's own rows get one warning below; this adds the other tensor's.
        notes += [note for note in tb_notes if note.startswith("warning") and not note.endswith(f"[{what}]")]
    lines.append(
        f"standalone Projector: load {out / 'vectors.tsv'} and {out / 'metadata.tsv'} with its Load button, "
        f"or serve {out} next to the Projector and open it with ?config=projector_config.json"
    )
    if dim < 2:
        notes.append("warning: the Projector needs vectors of at least 2 dimensions to draw them")
    warning = too_many_rows_warning(n)
    if warning and warning not in notes:
        notes.append(warning)
    seen = set()
    lines += [note for note in notes if not (note in seen or seen.add(note))]
    return lines
