"""Exports of a model folder: Projector downloads, an export folder, a TensorBoard log directory, Parquet.

What one export of a model folder holds (``bookembed export --out DIR``): the
standalone Projector's files (see ``projector``) and ``books.parquet`` with
vectors, metadata and cached map coordinates (``links.parquet`` for
``--what links``).

``--tensorboard LOGDIR`` writes a log directory that TensorBoard's projector
plugin reads without a checkpoint: ``projector_config.pbtxt`` names each TSV
through ``tensor_path``, and books and links are two tensors::

    LOGDIR/projector_config.pbtxt
    LOGDIR/books/vectors.tsv, metadata.tsv, bookmarks.json
    LOGDIR/links/vectors.tsv, metadata.tsv

Every folder is written through ``store.write_files_atomic``. ``pyarrow`` is
imported only when a Parquet file is written.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from bookembed.neighbors import read_titles
from bookembed.projector import (
    KINDS,
    TENSORBOARD_MAX_POINTS,
    ModelLike,
    Prepared,
    check_kind,
    as_model,
    kind_files,
    prepare,
    sharded_files,
    standalone_files,
    stratified_sample,
    too_many_rows_warning,
)
from bookembed.errors import BookembedError
from bookembed.store import ModelFolder, load_model_folder, write_files_atomic

MIME_TYPES = {".tsv": "text/tab-separated-values", ".json": "application/json", ".parquet": "application/vnd.apache.parquet",
              ".zip": "application/zip", ".csv": "text/csv", ".pbtxt": "text/plain"}


SPREADSHEET_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""A cell starting with one of these runs as a formula in a spreadsheet (OWASP, "CSV injection")."""


def spreadsheet_csv(frame) -> bytes:
    """CSV for spreadsheets: a text cell that a spreadsheet would run as a formula gets a leading ``'``.

    For files meant for a spreadsheet (a selection, predictions, metadata as CSV), following OWASP's
    "CSV injection" advice; the Projector's own TSV files keep values as they are.
    """
    import pandas as pd

    safe = frame.copy()
    for col in safe.columns:
        if safe[col].dtype == object or pd.api.types.is_string_dtype(safe[col]):
            safe[col] = safe[col].map(lambda v: "'" + v if isinstance(v, str) and v.startswith(SPREADSHEET_TRIGGERS) else v)
    # CRLF rows (RFC 4180): the csv writer then quotes any value holding "\r" or "\n"; with "\n" rows a bare
    # "\r" went out unquoted and a spreadsheet began a new row, and a new cell, there.
    return safe.to_csv(index=False, lineterminator="\r\n").encode("utf-8")


def mime_type(name: str) -> str:
    """The MIME type of an exported file, by its name."""
    return MIME_TYPES.get(Path(name).suffix.lower(), "application/octet-stream")


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """A ZIP archive of ``{name: content}``, for one download button.

    Entries are deflated at level 1 (several times faster than the default
    on TSV text, for a few more bytes; docs/app.md) and carry a fixed timestamp,
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


# ---------------------------------------------------------------- Parquet


def parquet_bytes(model: ModelLike, what: str = "books", ids: Sequence[int] | None = None) -> bytes:
    """A Parquet file of the exported rows (see ``export_parquet``)."""

    model = as_model(model)
    return _parquet(model, prepare(model, what, ids, None))


PARQUET_ROWS = 262_144
"""Rows per Parquet row group, written one at a time: memory holds one group's Arrow columns, not the table."""


def _parquet(model: ModelFolder, ex: Prepared) -> bytes:
    buffer = io.BytesIO()
    _write_parquet(model, ex, buffer)
    return buffer.getvalue()


def _write_parquet(model: ModelFolder, ex: Prepared, sink) -> None:
    """Write the Parquet file of ``ex`` to ``sink`` (a path or a binary file), ``PARQUET_ROWS`` rows at a time.

    Time and memory: O(rows x dim) time; memory one row group's columns beside
    the prepared export (the schema is read from the whole metadata frame once,
    so every group has the same column types).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = ex.metadata
    coords = {f"{p.key}_{axis}": (p, j) for p in ex.projections for j, axis in enumerate("xyz"[: p.dims])}
    reserved = {"id", "vector", *coords}
    names = [f"{c}_meta" if c in reserved else c for c in frame.columns]
    dim = int(ex.vectors.shape[1])
    meta_schema = pa.Schema.from_pandas(frame.set_axis(names, axis=1), preserve_index=False)
    schema = pa.schema([pa.field("id", pa.int64()), *meta_schema, pa.field("vector", pa.list_(pa.float32(), dim)),
                        *(pa.field(name, pa.float32()) for name in coords)])
    info = {
        "what": ex.what,
        "model": str(model.path),
        "dim": dim,
        "rows": int(len(ex.rows)),
        "projections": {p.key: {"method": p.method, "dims": p.dims, "params": p.params} for p in ex.projections},
    }
    metadata = dict(meta_schema.metadata or {})
    metadata[b"bookembed"] = json.dumps(info, ensure_ascii=False).encode("utf-8")
    schema = schema.with_metadata(metadata)
    with pq.ParquetWriter(sink, schema, compression="zstd") as writer:
        for start in range(0, len(ex.rows), PARQUET_ROWS):
            stop = min(len(ex.rows), start + PARQUET_ROWS)
            rows = ex.rows[start:stop]
            part = pa.Table.from_pandas(frame.iloc[start:stop].set_axis(names, axis=1), schema=meta_schema,
                                        preserve_index=False)
            columns = [pa.array(rows, type=pa.int64()), *part.columns,
                       pa.FixedSizeListArray.from_arrays(pa.array(ex.vectors[start:stop].ravel(), type=pa.float32()),
                                                         dim)]
            columns += [pa.array(p.coords[rows, j], type=pa.float32()) for p, j in coords.values()]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))


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
    model = as_model(model)
    ex = prepare(model, what, ids, None)
    write_files_atomic(path.parent, {path.name: lambda staged: _write_parquet(model, ex, staged)})
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
    _done: tuple[Prepared, dict[str, bytes]] | None = None,
) -> tuple[dict[str, bytes], list[str]]:
    """The files of a TensorBoard log directory (relative names) and notes.

    Books and links are two tensors, ``books`` and ``links``; ``ids`` selects
    rows of the ``what`` tensor and the other is complete. ``_done`` passes
    the ``what`` files already made for the standalone Projector, which are
    the same bytes when TensorBoard can show every row.
    """
    model = as_model(model)
    what = check_kind(what)
    files: dict[str, bytes] = {}
    notes: list[str] = []
    entries = []
    for kind in KINDS:
        if kind == "links" and what != "links" and not model.has_link_vectors:
            notes.append("note: no links tensor: this model has no link vectors")
            continue
        if _done is not None and kind == what and len(_done[0].rows) <= TENSORBOARD_MAX_POINTS:
            ex, files_of_kind = _done
        else:
            ex = prepare(model, kind, ids if kind == what else None, None)
            files_of_kind = kind_files(model, ex, max_points=TENSORBOARD_MAX_POINTS)
            notes.extend(ex.notes)
        warning = too_many_rows_warning(len(ex.rows))
        if warning:
            notes.append(f"{warning} [{kind}]")
        for name, data in files_of_kind.items():
            files[f"{kind}/{name}"] = data
        lines = [
            f"  tensor_name: {_pbtxt_string(kind)}",
            f"  tensor_shape: {ex.vectors.shape[0]}",
            f"  tensor_shape: {ex.vectors.shape[1]}",
            f"  tensor_path: {_pbtxt_string(f'{kind}/vectors.tsv')}",
            f"  metadata_path: {_pbtxt_string(f'{kind}/metadata.tsv')}",
        ]
        if "bookmarks.json" in files_of_kind:
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
    return write_files_atomic(Path(logdir), files)


# ---------------------------------------------------------------- the command


@dataclass
class ExportResult:
    """What ``export_folder`` wrote, for the CLI to report.

    Attributes
    ----------
    model : Path
    what : {"books", "links"}
    rows, dim : int
        The exported vectors' shape.
    written : list of Path
        The files of the export folder.
    tensorboard : list of Path
        The files of the TensorBoard log directory (empty without one).
    notes : list of str
        Notes and warnings, each once.
    """

    model: Path
    what: str
    rows: int
    dim: int
    out: Path
    written: list[Path] = field(default_factory=list)
    tensorboard_dir: Path | None = None
    tensorboard: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def export_folder(
    model_dir: str | os.PathLike,
    out: str | os.PathLike,
    what: str = "books",
    titles: str | os.PathLike | None = None,
    tensorboard: str | os.PathLike | None = None,
    *,
    shard_rows: int | None = None,
    sample: int | None = None,
) -> ExportResult:
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
    shard_rows : int, optional
        Write the Projector TSVs as shards of at most this many rows (each a
        tensor of its own in the config), for exports above the Projector's
        100,000 points.
    sample : int, optional
        Export a sample of about this many books, stratified by primary genre,
        which TensorBoard and the Projector show whole. The Parquet file still
        holds every row.

    Raises
    ------
    BookembedError
        A bad model folder, titles file or output folder (one line).
    """
    what = check_kind(what)
    model = load_model_folder(model_dir)
    ids = read_titles(titles, model, what) if titles is not None else None
    if sample is not None:
        if what != "books" or ids is not None:
            raise BookembedError("--sample draws books by genre: use it with books and without --titles")
        ids = stratified_sample(model, sample)
    ex = prepare(model, what, ids, None)
    # every file is written to disk as it is made, a chunk of rows at a time (see kind_files and _write_parquet)
    files = (standalone_files(model, ex, lazy=True) if shard_rows is None else
             sharded_files(model, ex, shard_rows, lazy=True))
    everything = ex if sample is None else prepare(model, what, None, None)
    files[f"{what}.parquet"] = lambda staged: _write_parquet(model, everything, staged)
    result = ExportResult(model=model.path, what=what, rows=len(ex.rows), dim=int(ex.vectors.shape[1]), out=Path(out))
    result.written = write_files_atomic(Path(out), files)
    notes = list(ex.notes)
    if tensorboard is not None:
        done = (ex, {k: v for k, v in files.items() if k in ("vectors.tsv", "metadata.tsv", "bookmarks.json")})
        tb_files, tb_notes = tensorboard_files(model, ex.rows, what=what, _done=done)
        result.tensorboard_dir = Path(tensorboard)
        result.tensorboard = write_files_atomic(Path(tensorboard), tb_files)
        # The export's own rows get one warning below; this adds the other tensor's.
        notes += [note for note in tb_notes if note.startswith("warning") and not note.endswith(f"[{what}]")]
    if result.dim < 2:
        notes.append("warning: the Projector needs vectors of at least 2 dimensions to draw them")
    warning = too_many_rows_warning(result.rows)
    if warning and shard_rows is None:
        notes.append(warning + "; --shard-rows 100000 or --sample 100000 give files it shows whole")
    if sample is not None:
        notes.append(f"note: a sample of {result.rows:,} of {model.n_books:,} books, stratified by primary genre; "
                     f"{what}.parquet holds all of them")
    result.notes = list(dict.fromkeys(notes))
    return result
