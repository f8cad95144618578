"""Reading a model folder's files: checked whole once, memory-mapped while they stay as they were.

The first open of a folder reads every file whole, compares its size and
SHA-256 with the manifest's, and the caller (``store.load_model_folder``) scans
the arrays (finite vectors, pairs inside the vocabularies). What was checked is
then written down beside the files, in ``.verified.json``: each file's size,
modification and change times (ns) and inode, and the SHA-1 of the vectors that
keys the derived files. A later open that finds a file exactly as recorded maps
it instead: the vectors and pairs are memory-mapped read-only, cost neither time
nor memory until they are used, and skip the scans. Opening a big folder then
costs the books table and the link vocabulary, not reading and hashing every
array (docs/scale.md has the figures).

This is how ``git`` and ``make`` decide a file is unchanged, with ``git``'s
care for a file rewritten within one tick of the clock: an entry is trusted only
when the file's change time is at least ``MARGIN_NS`` older than the record, so
a file changed after the record always shows a newer change time. The record is
a cache, never the only copy of anything: a missing, damaged or stale record
means the files are read and checked whole again, and a folder that cannot be
written to is simply checked on every open. ``bookembed verify`` always checks
everything. What a record cannot see is a file changed with its metadata
restored by hand, or bit rot under unchanged metadata; ``bookembed verify``
finds both.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import struct
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bookembed.errors import ModelFolderError

RECORD = ".verified.json"
"""The record of the files checked, in the model folder (a cache: see the module's docstring)."""
ALIGN = 64
"""Where ``save_npz`` starts each array's data: a multiple of this many bytes into the file (numpy's own
``.npy`` alignment), so that ``map_npz`` maps every member instead of reading it."""
_PAD_ID = 0xD935  # the id of the zip extra field that pads a member's local header (no reader interprets it)
BOOKS_COPY = "books.arrow"
"""A big folder's Arrow IPC copy of ``books.parquet``, written by the same save, memory-mapped while the record
trusts both (``store.load_model_folder``)."""
BOOKS_COPY_MIN_ROWS = 200_000
"""Books tables of at least this many rows get ``BOOKS_COPY``; smaller ones read their Parquet file in
milliseconds."""
MARGIN_NS = 1_000_000_000
"""A record entry is trusted only for a file whose change time is this much older than the record itself."""
_VERSION = 1


def file_digest(data: bytes) -> str:
    """SHA-256 of ``data``, as hex."""
    return hashlib.sha256(data).hexdigest()


def vectors_sha1(vectors: np.ndarray) -> str:
    """SHA-1 of float32 vectors' bytes: the key of every file derived from them (``derived``)."""
    return hashlib.sha1(np.ascontiguousarray(vectors, dtype=np.float32).tobytes()).hexdigest()


def identity(file: Path) -> dict | None:
    """Size, modification and change times and inode of ``file``; None when it cannot be read."""
    try:
        st = file.stat()
    except OSError:
        return None
    return {"bytes": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns, "ino": st.st_ino}


def read_checked(path: Path, name: str, checksums: dict) -> bytes:
    """The bytes of ``path / name``, checked against the manifest's size and SHA-256 when it has them."""
    file = path / name
    try:
        data = file.read_bytes()
    except OSError as err:
        raise ModelFolderError(f"{file}: cannot read ({err.strerror or err})") from None
    expected = checksums.get(name)
    if isinstance(expected, dict):
        if "bytes" in expected and len(data) != expected["bytes"]:
            raise ModelFolderError(
                f"{file}: damaged file: {len(data):,} bytes where the manifest recorded {expected['bytes']:,}"
            )
        if expected.get("sha256") and file_digest(data) != expected["sha256"]:
            raise ModelFolderError(f"{file}: damaged file: its SHA-256 does not match the one in the manifest")
    return data


@dataclass
class Record:
    """What ``.verified.json`` says: the identity of each file as checked, and the vectors' SHA-1 (kind -> hex)."""

    manifest: dict | None = None
    files: dict = field(default_factory=dict)
    sha1: dict = field(default_factory=dict)
    written_ns: int = 0

    def trusts(self, folder: Path, name: str) -> bool:
        """Whether ``folder / name`` is exactly as it was when checked, and was so at least ``MARGIN_NS`` before."""
        seen = self.files.get(name)
        return (isinstance(seen, dict) and seen == identity(folder / name)
                and seen.get("ctime_ns", self.written_ns) <= self.written_ns - MARGIN_NS)


def read_record(folder: Path, manifest_identity: dict | None) -> Record:
    """The folder's record, or an empty one when it is missing, damaged, or of another manifest."""
    try:
        raw = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return Record(manifest_identity)
    if (not isinstance(raw, dict) or raw.get("version") != _VERSION or manifest_identity is None
            or raw.get("manifest") != manifest_identity or not isinstance(raw.get("files"), dict)
            or not isinstance(raw.get("written_ns"), int)):
        return Record(manifest_identity)
    sha1 = raw.get("sha1") if isinstance(raw.get("sha1"), dict) else {}
    return Record(manifest_identity, raw["files"], {k: v for k, v in sha1.items() if isinstance(v, str)},
                  raw["written_ns"])


def write_record(folder: Path, record: Record) -> None:
    """Write ``record`` atomically; quietly nothing where the folder cannot be written (it is only a cache)."""
    text = json.dumps({"version": _VERSION, "manifest": record.manifest, "files": record.files,
                       "sha1": record.sha1, "written_ns": time.time_ns()})
    tmp = folder / f".{RECORD}.tmp-{os.getpid()}"
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, folder / RECORD)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()


def checksums(folder: Path, manifest: str) -> dict[str, dict]:
    """``{relative path: {"sha256", "bytes"}}`` for every file under ``folder``, the manifest aside."""
    out = {}
    for file in sorted(folder.rglob("*")):
        if file.is_file() and file.name != manifest:
            h = hashlib.sha256()
            with open(file, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            out[file.relative_to(folder).as_posix()] = {"sha256": h.hexdigest(), "bytes": file.stat().st_size}
    return out


def record_saved(folder: Path, manifest: str, names: list[str], vectors: dict[str, np.ndarray]) -> None:
    """Record the files a save just wrote and checksummed, and the SHA-1 of its vectors (kind -> array).

    Written after the files, so entries of files written within ``MARGIN_NS`` of it are not trusted: the
    first open checks those, as it would with no record."""
    record = Record(identity(folder / manifest), {n: i for n in names if (i := identity(folder / n)) is not None},
                    {kind: vectors_sha1(v) for kind, v in vectors.items()})
    write_record(folder, record)


def map_npy(file: Path) -> np.ndarray:
    """A ``.npy`` file memory-mapped read-only, as a plain ndarray; a one-line error when it is damaged."""
    try:
        array = np.load(file, mmap_mode="r", allow_pickle=False)
        if array.size == 0:
            array = np.array(array)
            array.flags.writeable = False
        return array.view(np.ndarray)
    except Exception as err:
        raise ModelFolderError(f"{file}: damaged array file ({err})") from None


def save_npz(file: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` (uncompressed; ``np.load`` reads it), with each array's data aligned to ``ALIGN`` bytes.

    ``np.savez`` lays each ``.npy`` member right after its zip header, so an
    int32 array usually starts at an odd offset and ``map_npz`` must read it
    whole (numpy copies a misaligned map on every use). Here each member's
    local header is padded by an extra field, as ``zipalign`` pads Android
    packages, until the member starts at a multiple of ``ALIGN``; ``.npy``
    headers are themselves a multiple of 64 bytes long, so the data follows
    aligned. Time and memory: one pass over the arrays, no copy.
    """
    date = (1980, 1, 1, 0, 0, 0)
    with open(file, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            member = name + ".npy"
            pad = -(fh.tell() + _local_header_size(member, date)) % ALIGN
            if 0 < pad < 4:  # an extra field is at least its 4-byte id and length
                pad += ALIGN
            info = zipfile.ZipInfo(member, date_time=date)
            if pad:
                info.extra = struct.pack("<HH", _PAD_ID, pad - 4) + bytes(pad - 4)
            with archive.open(info, "w", force_zip64=True) as out:
                np.lib.format.write_array(out, np.ascontiguousarray(array), allow_pickle=False)


def _local_header_size(member: str, date: tuple) -> int:
    """Bytes of the zip local header ``save_npz`` writes before ``member``'s data with no padding: measured
    by writing an empty member to memory, so it holds for whatever fields this Python's ``zipfile`` adds."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED, allowZip64=True) as archive, \
            archive.open(zipfile.ZipInfo(member, date_time=date), "w", force_zip64=True):
        pass
    local = buffer.getvalue()[:30]
    return 30 + int.from_bytes(local[26:28], "little") + int.from_bytes(local[28:30], "little")


def map_npz(file: Path, what: str = "pairs") -> dict[str, np.ndarray] | None:
    """Every array of an uncompressed ``.npz`` file, read-only; None when a member is compressed.

    ``np.savez`` stores each array as an ``.npy`` member; an uncompressed
    member's bytes lie whole in the zip file, after its local header, so the
    array is a view of the file at that offset (memory-mapped), or, where that
    offset does not suit its type's alignment, read from there in one go.
    """
    arrays = {}
    try:
        with open(file, "rb") as fh, zipfile.ZipFile(fh) as archive:
            for info in archive.infolist():
                if info.compress_type != zipfile.ZIP_STORED or not info.filename.endswith(".npy"):
                    return None
                fh.seek(info.header_offset)
                local = fh.read(30)
                if local[:4] != b"PK\x03\x04":
                    raise ValueError(f"bad local header for {info.filename}")
                start = info.header_offset + 30 + int.from_bytes(local[26:28], "little") + int.from_bytes(
                    local[28:30], "little")
                fh.seek(start)
                version = np.lib.format.read_magic(fh)
                shape, fortran, dtype = (np.lib.format.read_array_header_1_0(fh) if version == (1, 0)
                                         else np.lib.format.read_array_header_2_0(fh))
                if dtype.hasobject or fh.tell() - start + int(np.prod(shape)) * dtype.itemsize > info.file_size:
                    raise ValueError(f"{info.filename} is shorter than its header says")
                if int(np.prod(shape)) == 0 or fh.tell() % dtype.alignment:  # numpy copies misaligned arrays: read
                    array = np.fromfile(fh, dtype, int(np.prod(shape))).reshape(shape, order="F" if fortran else "C")
                    array.flags.writeable = False
                else:
                    array = np.memmap(fh.name, dtype=dtype, mode="r", offset=fh.tell(), shape=shape,
                                      order="F" if fortran else "C").view(np.ndarray)
                arrays[info.filename[:-4]] = array
    except Exception as err:
        raise ModelFolderError(f"{file}: damaged {what} file ({err})") from None
    return arrays


def load_npz(data: bytes, file: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file's bytes, read into memory; a one-line error when it is damaged."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except Exception as err:
        raise ModelFolderError(f"{file}: damaged pairs file ({err})") from None


def map_books_copy(file: Path):
    """The books table from its Arrow copy (``BOOKS_COPY``), memory-mapped: O(1), Arrow's strings are the
    file's pages; None when it cannot be read (the Parquet file is read instead)."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    try:
        table = ipc.open_file(pa.memory_map(str(file))).read_all()
        return _frame_of(table)
    except (OSError, pa.ArrowException, ValueError, TypeError, KeyError):
        return None


def _frame_of(table):
    """``table.to_pandas()`` without copying a column: a plain number column as a view of its pages, a nullable
    integer column (years) as pandas' masked integers over them (only the mask is new, a byte a book). pandas
    would copy both, the largest part of a fresh server's wait for a big model."""
    import pandas as pd
    import pyarrow as pa

    meta = {c["name"]: c.get("numpy_type") for c in (table.schema.pandas_metadata or {}).get("columns", [])}
    masked = {}
    for name, column in zip(table.column_names, table.columns):
        kind = meta.get(name)
        if isinstance(kind, str) and kind.startswith(("Int", "UInt")) and column.num_chunks == 1:
            chunk = column.chunk(0)
            dtype = pd.api.types.pandas_dtype(kind).numpy_dtype
            if not pa.types.is_integer(chunk.type) or chunk.type.bit_width != dtype.itemsize * 8:
                continue
            data = np.frombuffer(chunk.buffers()[1], dtype=dtype, count=len(chunk),
                                 offset=chunk.offset * dtype.itemsize)
            mask = chunk.is_null().to_numpy(zero_copy_only=False) if chunk.null_count else np.zeros(len(chunk), bool)
            masked[name] = pd.arrays.IntegerArray(data, mask)
    frame = table.drop_columns(list(masked)).to_pandas(split_blocks=True)
    for name, values in masked.items():
        frame.insert(table.column_names.index(name), name, pd.Series(values, index=frame.index, copy=False))
    return frame


def write_books_copy(folder: Path, books) -> bool:
    """Write ``folder / BOOKS_COPY``, an Arrow IPC copy of ``books`` with each column one chunk; False (and
    nothing written) for a table under ``BOOKS_COPY_MIN_ROWS`` rows.

    One chunk a column, so that taking a few rows (a result table's authors) does not walk every chunk.
    Time O(n); disk about the table's uncompressed size."""
    if len(books) < BOOKS_COPY_MIN_ROWS:
        return False
    import pyarrow as pa
    import pyarrow.ipc as ipc

    table = pa.Table.from_pandas(books, preserve_index=False).combine_chunks()
    with pa.OSFile(str(folder / BOOKS_COPY), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=max(len(books), 1))
    return True
