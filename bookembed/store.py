"""The model folder: the one hand-off between training and everything downstream.

``models/<name>/`` holds::

    manifest.json        format version, config, seed, data checksum, counts,
                         metrics, library versions, time, file list
    model.keras          the Keras model (loaded only on demand, in safe mode)
    book_vectors.npy     float32, shape (n_books, dim)
    link_vectors.npy     float32, shape (n_links, dim)
    links.json           link vocabulary, position = link id, with book counts
    books.parquet        books table: title, metadata columns, n_links
    books.arrow          the same table as Arrow IPC, for big folders, memory-mapped
    pairs.npz            book, link (int32) and heldout (bool) arrays
    history.json         loss per epoch and per chunk of steps

Files derived from the vectors later, each kind in its own subfolder and
kept through one cache protocol (``derived``: keyed by the vectors'
checksum, the sidecar written last, stale or damaged entries ignored)::

    projections/         map coordinates, KEY.npy + KEY.json (``projection``)
    clusters/            cluster labels, KEY.json (``clusters``)
    index/               approximate neighbour indexes, book|link.faiss + .json (``index``)
    tiles/               a 2-D map's level-of-detail tiles, KEY.npz + KEY.json (``tiles``)
    names/               big vocabularies' match keys, book|link.arrow + .json (``names``)
    views.json           the Map page's saved views (``views``)

Other modules reach these files only through ``ModelFolder.derived``,
``ModelFolder.cached`` and ``ModelFolder.document``.

Folders are written to a temporary sibling and swapped in with one atomic
exchange of the two names, so the path holds either the old folder or the new
one; of two writers racing for one path, the second to finish is refused. How
(temporary siblings, the exchange, locks, leftovers) lives in ``atomic``.

The manifest records the SHA-256 and size of every file the save wrote;
loading checks the files it reads (from the bytes it parses, so each file is
read once), and ``verify_model_folder`` checks all of them and loads the
Keras model. Folders written before checksums existed load unchecked.

Nothing is unpickled on load: arrays use ``allow_pickle=False`` and the Keras
model is loaded with ``safe_mode=True``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bookembed import __version__, atomic, folderfiles
from bookembed.atomic import (  # noqa: F401  (re-exported: the writers' home was this module)
    UNNAMED_LEFTOVER_AGE_S,
    make_temp_dir,
    replace_dir_atomic,
    write_files_atomic,
    write_json_atomic,
    write_npy_atomic,
)
from bookembed.derived import DerivedFiles, Document, Entry
from bookembed.errors import ModelFolderError, WriteError
from bookembed.graph import LinkGraph
from bookembed.vectors import unit_rows

FORMAT = "bookembed-model"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
REQUIRED_FILES = ("book_vectors.npy", "link_vectors.npy", "links.json", "books.parquet", "pairs.npz")
DERIVED = {"projections": ".npy", "clusters": None, "index": ".faiss", "tiles": ".npz", "names": ".arrow",
           "columns": ".npy"}  # kind of derived file: subfolder -> its data file's suffix (None: in the sidecar)
DOCUMENTS = {"views": "views.json"}
"""Small JSON documents of the folder that are not derived from the vectors: name -> file."""


def derived_files(path: str | Path, kind: str, checksum: str = "") -> DerivedFiles:
    """The derived files of ``kind`` (a key of ``DERIVED``) in the model folder ``path``, checked against
    ``checksum`` (see ``ModelFolder.derived``, which supplies it)."""
    if kind not in DERIVED:
        raise ValueError(f"unknown kind of derived file {kind!r}; use one of {', '.join(DERIVED)}")
    return DerivedFiles(Path(path) / kind, DERIVED[kind], checksum)


def document(path: str | Path, name: str) -> Document:
    """The document ``name`` (a key of ``DOCUMENTS``) of the model folder ``path``."""
    return Document(Path(path) / DOCUMENTS[name])


def library_versions() -> dict[str, str]:
    """Versions of the libraries that made (or read) a folder, without importing heavy ones."""
    from importlib import metadata

    out = {"bookembed": __version__}
    for dist in ("numpy", "pandas", "pyarrow", "tensorflow", "tensorflow-cpu", "keras"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def recover_leftovers(target: str | Path) -> list[str]:
    """Repair and tidy after writers of the model folder ``target`` that died mid-way; returns what was done.

    ``atomic.recover_leftovers``, restoring a set-aside folder only when it
    holds a manifest (a complete model folder).
    """
    return atomic.recover_leftovers(target, marker=MANIFEST)


vectors_sha1 = folderfiles.vectors_sha1  # re-exported: its home was this module


@dataclass(frozen=True)
class SaveInputs:
    """Everything a model folder records (plain values).

    Attributes
    ----------
    graph : LinkGraph
        Books, links and pairs (a ``corpus.Corpus`` is one).
    heldout : ndarray of bool, shape (n_pairs,)
        Pairs kept out of training.
    book_vectors : ndarray, shape (n_books, dim)
    link_vectors : ndarray, shape (n_links, dim), or None
        None when the links' vectors are not known (a model imported from a
        source whose link order cannot be recovered): the folder keeps the
        link vocabulary and pairs, and the link views say they are
        unavailable, with ``link_vectors_missing`` as the reason.
    config, data, metrics, history : dict
        How it was made, from what, how good it is, how the loss went.
    model : keras.Model or None
        Saved as ``model.keras`` when given.
    link_vectors_missing : str
        Why there are no link vectors (with ``link_vectors=None``).
    """

    graph: LinkGraph
    heldout: np.ndarray
    book_vectors: np.ndarray
    link_vectors: np.ndarray | None
    config: dict
    data: dict  # source, checksum, cleaning rules, load report
    metrics: dict = field(default_factory=dict)
    history: dict = field(default_factory=dict)
    model: object | None = None  # keras.Model, saved as model.keras when given
    link_vectors_missing: str = ""


def save_model_folder(path: str | Path, inputs: SaveInputs) -> Path:
    """Write a complete model folder atomically; returns its path.

    Parameters
    ----------
    path : str or Path
        The folder, e.g. ``models/demo``. Its parent is created if needed.
    inputs : SaveInputs
        Vectors, vocabularies, books table, pairs, config and metrics.

    Raises
    ------
    ModelFolderError
        Vectors that do not fit the vocabularies, or a file in the way.
    WriteError
        Another writer replaced ``path`` while this one was saving (the
        first to finish wins; this result is not saved).
    """
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise ModelFolderError(f"{target}: exists and is not a folder; not replacing it")
    target.parent.mkdir(parents=True, exist_ok=True)
    graph = inputs.graph
    n_books, n_links = graph.n_books, graph.n_links
    dim = int(inputs.book_vectors.shape[1]) if inputs.book_vectors.ndim == 2 else 0
    link_vectors = inputs.link_vectors
    if link_vectors is None:
        link_vectors = np.zeros((0, dim), np.float32)
    elif inputs.book_vectors.shape[0] != n_books or link_vectors.shape[0] != n_links:
        raise ModelFolderError(
            f"{target}: vectors do not match the vocabularies "
            f"({inputs.book_vectors.shape[0]} book vectors for {n_books} books, "
            f"{link_vectors.shape[0]} link vectors for {n_links} links)"
        )
    if inputs.book_vectors.shape[0] != n_books:
        raise ModelFolderError(
            f"{target}: vectors do not match the vocabularies ({inputs.book_vectors.shape[0]} book vectors "
            f"for {n_books} books)"
        )
    recover_leftovers(target)
    seen = atomic.identity(target)
    tmp = make_temp_dir(target)
    try:
        np.save(tmp / "book_vectors.npy", np.ascontiguousarray(inputs.book_vectors, dtype=np.float32))
        np.save(tmp / "link_vectors.npy", np.ascontiguousarray(link_vectors, dtype=np.float32))
        with open(tmp / "links.json", "w", encoding="utf-8") as fh:
            json.dump(
                {"links": list(graph.links), "books": [int(c) for c in graph.link_counts]},
                fh,
                ensure_ascii=False,
            )
        graph.books.to_parquet(tmp / "books.parquet", index=False)
        copied = folderfiles.write_books_copy(tmp, graph.books)
        folderfiles.save_npz(tmp / "pairs.npz", {  # each array aligned, so a later open maps it
            "book": np.asarray(graph.pair_books, dtype=np.int32),
            "link": np.asarray(graph.pair_links, dtype=np.int32),
            "heldout": np.asarray(inputs.heldout, dtype=bool)})
        with open(tmp / "history.json", "w", encoding="utf-8") as fh:
            json.dump(inputs.history, fh)
        files = list(REQUIRED_FILES) + ["history.json"] + [folderfiles.BOOKS_COPY] * copied
        if inputs.model is not None:
            inputs.model.save(tmp / "model.keras")
            files.append("model.keras")
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "config": inputs.config,
            "seed": inputs.config.get("seed"),
            "data": inputs.data,
            "counts": {
                "books": n_books,
                "links": n_links,
                "pairs": int(graph.n_pairs),
                "heldout_pairs": int(np.count_nonzero(inputs.heldout)),
                "dim": dim,
            },
            "metrics": inputs.metrics,
            "versions": library_versions(),
            "files": files,
            "checksums": folderfiles.checksums(tmp, MANIFEST),
        }
        if inputs.link_vectors is None:
            manifest["link_vectors"] = {"stored": False, "why": inputs.link_vectors_missing or "not given"}
        with open(tmp / MANIFEST, "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, ensure_ascii=False, indent=1)
        folderfiles.record_saved(tmp, MANIFEST, files, {"book": inputs.book_vectors, "link": link_vectors})
        with atomic.folder_lock(target.parent):
            if atomic.identity(target) != seen:
                raise WriteError(
                    f"{target}: another training wrote this model folder first, while this one was saving; "
                    "this result was not saved (train again with --overwrite to replace it)"
                )
            replace_dir_atomic(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


@dataclass(frozen=True, eq=False)
class ModelFolder(LinkGraph):
    """A loaded model folder: plain arrays and tables, no Keras.

    Besides the ``LinkGraph`` fields (books, links, link_counts, pairs):

    Attributes
    ----------
    path : Path
    manifest : dict
    book_vectors : ndarray of float32, shape (n_books, dim)
    link_vectors : ndarray of float32, shape (n_links, dim)
    heldout : ndarray of bool, shape (n_pairs,)
    history : dict

    Values derived from the vectors (unit rows, a checksum) are computed on
    first use and kept for the life of the object; the folder's files are
    never written through it.
    """

    path: Path = Path()
    manifest: dict = field(default_factory=dict)
    book_vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 1), np.float32))
    link_vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 1), np.float32))
    heldout: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    history: dict = field(default_factory=dict)
    _indexes: dict = field(default_factory=dict, repr=False, compare=False)  # kind -> AnnIndex, see ann_index
    _sha1: dict = field(default_factory=dict, repr=False, compare=False)  # kind -> vectors' SHA-1 when recorded

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def dim(self) -> int:
        return int(self.book_vectors.shape[1])

    @cached_property
    def _unit_books(self) -> np.ndarray:
        return unit_rows(self.book_vectors)

    @cached_property
    def _unit_links(self) -> np.ndarray:
        return unit_rows(self.link_vectors)

    @property
    def has_link_vectors(self) -> bool:
        """False for a folder that keeps the links but not their vectors (see ``SaveInputs``)."""
        return self.manifest.get("link_vectors", {}).get("stored", True) is not False

    def require_link_vectors(self) -> np.ndarray:
        """The link vectors, shape (n_links, dim); a one-line error when the folder has none."""
        if not self.has_link_vectors:
            why = self.manifest.get("link_vectors", {}).get("why") or "not stored"
            raise ModelFolderError(f"{self.path}: this model has no link vectors ({why}); link views are unavailable")
        return self.link_vectors

    def unit_vectors(self, kind: str = "book") -> np.ndarray:
        """L2-normalised vectors (computed once), ``kind`` is "book" or "link".

        Raises ``ModelFolderError`` for "link" when the folder has no link vectors.
        """
        if kind == "book":
            return self._unit_books
        self.require_link_vectors()
        return self._unit_links

    def unit_rows(self, ids, kind: str = "book") -> np.ndarray:
        """Rows ``ids`` of ``unit_vectors(kind)``, normalising only those until the whole matrix is needed."""
        whole = self.__dict__.get("_unit_books" if kind == "book" else "_unit_links")  # cached_property's slot
        if whole is not None:
            return whole[ids]
        vectors = self.book_vectors if kind == "book" else self.require_link_vectors()
        return unit_rows(np.asarray(vectors[ids], dtype=np.float32))

    @cached_property
    def vectors_checksum(self) -> str:
        """SHA-1 of the book vectors' bytes: ties cached projections and indexes to these vectors."""
        return self._sha1.get("book") or vectors_sha1(self.book_vectors)

    @cached_property
    def link_vectors_checksum(self) -> str:
        """SHA-1 of the link vectors' bytes: ties the link index to these vectors."""
        return self._sha1.get("link") or vectors_sha1(self.link_vectors)

    def ann_index(self, kind: str = "book"):
        """The approximate index of the book (or link) vectors, when the model is large enough to use one
        and it has been built (``index.build_index``); else None. A found index is kept; a missing one is
        looked for again on the next call, so an index built while the app runs is picked up."""
        from bookembed.index import ANN_MIN_ROWS, load_index

        if len(self.book_vectors if kind == "book" else self.link_vectors) <= ANN_MIN_ROWS:
            return None
        if kind not in self._indexes:
            found = load_index(self, kind)
            if found is None:
                return None
            self._indexes[kind] = found
        return self._indexes[kind]

    def derived(self, kind: str, vectors: str = "book") -> DerivedFiles:
        """The cache of one kind of derived file (``DERIVED``), keyed by the checksum of the book (or, with
        ``vectors="link"``, the link) vectors: see ``bookembed.derived``."""
        checksum = self.vectors_checksum if vectors == "book" else self.link_vectors_checksum
        return derived_files(self.path, kind, checksum)

    def cached(self, kind: str, key: str, compute, save=None, load=None, *, check=None,
               vectors: str = "book") -> tuple[Entry, bool]:
        """Entry ``key`` of derived ``kind``: read from the folder when usable, else ``compute()``d and stored.

        Parameters
        ----------
        kind : str
            ``"projections"``, ``"clusters"`` or ``"index"``.
        key : str
            The entry's file name stem.
        compute : callable
            ``compute() -> (value, info)``; ``info`` becomes the sidecar (with the vectors' checksum added).
        save, load, check : callable, optional
            How the value's data file is written and read, and the kind's own checks of a sidecar
            (``derived.Save``, ``derived.Load``, ``derived.Check``).
        vectors : {"book", "link"}
            Which vectors' checksum keys the entry.

        Returns
        -------
        entry : derived.Entry
            ``value`` and ``info`` (the sidecar).
        cached : bool
            Whether it came from the folder. A read-only folder gets a computed entry, not kept.
        """
        return self.derived(kind, vectors).cached(key, compute, save, load, check)

    def document(self, name: str) -> Document:
        """A small JSON document of the folder (``DOCUMENTS``: ``"views"``), read tolerantly, written atomically."""
        return document(self.path, name)

    @property
    def stamp(self) -> int | None:
        """Changes whenever the folder is rewritten (the manifest is written last); None if gone."""
        return folder_stamp(self.path)

    def load_keras(self):
        """The stored Keras model, loaded in safe mode (imports tensorflow), after checking the file against
        the manifest and its outline against twice the vectors' bytes (``kerasfile.read_model_outline``)."""
        file = self.path / "model.keras"
        if not file.exists():
            raise ModelFolderError(f"{self.path}: no model.keras in this folder")
        from bookembed.kerasfile import SLACK_BYTES, read_model_outline
        from bookembed.kerasmodel import quiet_tensorflow

        checksums = self.manifest.get("checksums")
        if isinstance(checksums, dict):
            folderfiles.read_checked(self.path, "model.keras", checksums)
        read_model_outline(file, 2 * 4 * (self.n_books + self.n_links) * max(self.dim, 1) + SLACK_BYTES,
                           ModelFolderError)
        quiet_tensorflow()
        import keras

        try:
            return keras.saving.load_model(file, safe_mode=True)
        except Exception as err:
            detail = " ".join(f"{type(err).__name__}: {err}".split())[:300]
            raise ModelFolderError(f"{file}: cannot load the Keras model ({detail})") from None


def folder_stamp(path: str | Path) -> int | None:
    """Modification time of the folder's manifest in ns, or None when there is none.

    A folder is rewritten as a whole with a new manifest, so this changes
    whenever the model does: the app keys its caches by (path, stamp).
    """
    try:
        return (Path(path) / MANIFEST).stat().st_mtime_ns
    except OSError:
        pass
    if recover_leftovers(path):  # a replacement that died between its two renames
        with contextlib.suppress(OSError):
            return (Path(path) / MANIFEST).stat().st_mtime_ns
    return None


def is_model_folder(path: str | Path) -> bool:
    """True if ``path`` has a manifest (it may still be damaged)."""
    return (Path(path) / MANIFEST).is_file() or (bool(recover_leftovers(path)) and (Path(path) / MANIFEST).is_file())


def _inside(root: Path, path: Path) -> bool:
    """Whether ``path`` is ``root`` or below it, links followed (a loop of links is outside)."""
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):
        return False


def folder_in_root(root: str | Path, name: str) -> Path:
    """``root / name``, or ``ModelFolderError`` (one line) when ``name`` is not one folder name or the entry
    is a link that leads outside ``root``: such entries are neither listed nor opened, or whoever can make a
    link there could show any folder on the machine as a model."""
    root, bad = Path(root), not name or name in (".", "..") or any(c in name for c in "/\\\0")
    if bad or not _inside(root, root / name) or (root / name).resolve() == root.resolve():
        why = f"{name!r} is not a folder name inside" if bad else "it is a link that leads outside"
        raise ModelFolderError(f"{root / name}: refused: {why} {root}; model folders must be inside it")
    return root / name


def list_model_folders(root: str | Path = "models") -> list[Path]:
    """Model folders directly under ``root``, sorted by name (temporary ones, and links that lead outside
    ``root``, skipped: see ``folder_in_root``)."""
    root = Path(root)
    if not root.is_dir():
        return []
    for entry in os.scandir(root):  # folders a crashed replacement left aside come back first
        m = atomic.LEFTOVER.match(entry.name)
        if m and m["kind"] == "old" and not (root / m["name"]).exists():
            recover_leftovers(root / m["name"])
    return sorted(p for p in root.iterdir()
                  if not p.name.startswith(".") and _inside(root, p) and p.is_dir() and is_model_folder(p))


def read_manifest(path: str | Path) -> dict:
    """The folder's manifest, checked for format and version."""
    path = Path(path)
    file = path / MANIFEST
    recover_leftovers(path)
    if not path.is_dir():
        raise ModelFolderError(f"{path}: no such model folder")
    if not file.is_file():
        raise ModelFolderError(f"{path}: not a model folder (no {MANIFEST})")
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise ModelFolderError(f"{file}: damaged manifest ({err})") from None
    except OSError as err:
        raise ModelFolderError(f"{file}: cannot read ({err.strerror or err})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelFolderError(f"{file}: not a bookembed model manifest")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFolderError(
            f"{file}: model folder format version {version} is not supported by this bookembed "
            f"(which reads version {FORMAT_VERSION}); retrain the model with this version"
        )
    return manifest


def load_model_folder(path: str | Path, *, trust: bool = True) -> ModelFolder:
    """Read and check a model folder (no Keras import).

    The first open reads each file once and checks its size and SHA-256
    against the manifest (when the manifest has them) before parsing it, then
    scans the arrays; what passed is recorded (``folderfiles``), and later opens
    memory-map the vectors and pairs of files still exactly as recorded. A
    crash that left the folder moved aside is repaired first
    (``recover_leftovers``).

    Parameters
    ----------
    trust : bool
        Use the record of files already checked; False reads and checks every file whole (``verify``).

    Raises
    ------
    ModelFolderError
        Missing, damaged or inconsistent files, or another format version;
        the message names the folder and the file.
    """
    path = Path(path)
    manifest = read_manifest(path)
    checksums = manifest.get("checksums") if isinstance(manifest.get("checksums"), dict) else {}
    for name in REQUIRED_FILES:
        if not (path / name).is_file():
            raise ModelFolderError(f"{path}: damaged model folder, {name} is missing")
        if not _inside(path, path / name):
            raise ModelFolderError(f"{path / name}: refused: a link that leads outside the model folder")
    record = folderfiles.read_record(path, folderfiles.identity(path / MANIFEST))
    if not trust:
        record = folderfiles.Record(record.manifest)
    seen: dict[str, dict | None] = {}  # each file read whole now: its identity before reading

    def read(name: str) -> io.BytesIO:
        seen[name] = folderfiles.identity(path / name)
        return io.BytesIO(folderfiles.read_checked(path, name, checksums))

    def load_npy(name: str) -> np.ndarray:
        if record.trusts(path, name):
            return folderfiles.map_npy(path / name)
        buffer = read(name)
        try:
            return np.load(buffer, allow_pickle=False)
        except Exception as err:
            raise ModelFolderError(f"{path / name}: damaged array file ({err})") from None

    book_vectors = load_npy("book_vectors.npy")
    link_vectors = load_npy("link_vectors.npy")
    pairs = folderfiles.map_npz(path / "pairs.npz") if record.trusts(path, "pairs.npz") else None
    if pairs is None:
        pairs = folderfiles.load_npz(read("pairs.npz").getvalue(), path / "pairs.npz")
    try:
        pair_books, pair_links, heldout = pairs["book"], pairs["link"], pairs["heldout"]
    except KeyError as err:
        raise ModelFolderError(f"{path / 'pairs.npz'}: damaged pairs file (no array {err})") from None
    buffer = io.BytesIO(folderfiles.read_checked(path, "links.json", {})) if record.trusts(path, "links.json") \
        else read("links.json")  # as recorded: read (a one-line error if it cannot be), not hashed
    try:
        vocab = json.loads(buffer.getvalue().decode("utf-8"))
        links = tuple(vocab["links"])
        link_counts = np.asarray(vocab["books"], dtype=np.int64)
    except Exception as err:
        raise ModelFolderError(f"{path / 'links.json'}: damaged link vocabulary ({err})") from None
    copy = folderfiles.BOOKS_COPY if folderfiles.BOOKS_COPY in checksums else None  # one this folder's save wrote
    books = folderfiles.map_books_copy(path / copy) if copy and all(
        record.trusts(path, name) for name in ("books.parquet", copy)) else None
    if books is None:
        try:
            books = pd.read_parquet(path / "books.parquet" if record.trusts(path, "books.parquet")
                                    else read("books.parquet"))
        except Exception as err:
            raise ModelFolderError(f"{path / 'books.parquet'}: damaged books table ({err})") from None
        if copy and (path / copy).is_file() and not record.trusts(path, copy):
            read(copy)  # checked against the manifest, so that the record trusts it from the next open
    history: dict = {}
    if (path / "history.json").is_file():
        buffer = read("history.json")
        try:
            history = json.loads(buffer.getvalue().decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
            raise ModelFolderError(f"{path / 'history.json'}: damaged history ({err})") from None
        if not isinstance(history, dict):
            raise ModelFolderError(f"{path / 'history.json'}: damaged history (expected a JSON object)")

    no_links = manifest.get("link_vectors", {}).get("stored", True) is False if isinstance(
        manifest.get("link_vectors"), dict) else False
    problems = []
    if book_vectors.ndim != 2 or book_vectors.shape[0] != len(books):
        problems.append(f"book_vectors.npy has shape {book_vectors.shape} for {len(books)} books")
    if link_vectors.ndim != 2 or link_vectors.shape[0] != (0 if no_links else len(links)):
        problems.append(f"link_vectors.npy has shape {link_vectors.shape} for {len(links)} links")
    elif book_vectors.ndim == 2 and link_vectors.shape[1] != book_vectors.shape[1]:
        problems.append("book and link vectors differ in length")
    if len(link_counts) != len(links):
        problems.append("links.json has counts for a different number of links")
    if not (len(pair_books) == len(pair_links) == len(heldout)):
        problems.append("pairs.npz arrays differ in length")
    elif "pairs.npz" in seen and len(pair_books) and (
            pair_books.max() >= len(books) or pair_links.max() >= len(links)
            or min(pair_books.min(), pair_links.min()) < 0):
        problems.append("pairs.npz refers to books or links outside the vocabularies")
    if "title" not in books.columns:
        problems.append("books.parquet has no title column")
    counts = manifest.get("counts", {})
    if counts.get("books") not in (None, len(books)) or counts.get("links") not in (None, len(links)):
        problems.append("manifest counts do not match the files")
    if problems:
        raise ModelFolderError(f"{path}: damaged model folder: {'; '.join(problems)}")
    for name, vectors, kind in (("book_vectors.npy", book_vectors, "book"), ("link_vectors.npy", link_vectors, "link")):
        if name in seen:
            if not np.all(np.isfinite(vectors)):
                raise ModelFolderError(f"{path}: damaged model folder: vectors contain NaN or Inf")
            record.sha1[kind] = folderfiles.vectors_sha1(vectors)
    if seen:
        record.files.update({name: before for name, before in seen.items() if before is not None
                             and before == folderfiles.identity(path / name)})
        folderfiles.write_record(path, record)
    return ModelFolder(
        books=books,
        links=links,
        link_counts=link_counts,
        path=path,
        manifest=manifest,
        book_vectors=book_vectors.astype(np.float32, copy=False),
        link_vectors=link_vectors.astype(np.float32, copy=False),
        pair_books=pair_books.astype(np.int32, copy=False),
        pair_links=pair_links.astype(np.int32, copy=False),
        heldout=heldout.astype(bool, copy=False),
        history=history,
        _sha1=dict(record.sha1),
    )


def verify_model_folder(path: str | Path) -> list[str]:
    """Check every file of a model folder against its manifest, load it, and load its Keras model.

    Checks the size and SHA-256 of every file the manifest lists (``model.keras``
    included), loads the folder (``load_model_folder``), loads ``model.keras`` in
    safe mode when there is one and compares its ``book_embedding`` and
    ``link_embedding`` weights with the stored vectors.

    Returns
    -------
    list of str
        What was checked, one line each.

    Raises
    ------
    ModelFolderError
        The first damage found, in one line that names the file.
    """
    path = Path(path)
    manifest = read_manifest(path)
    checksums = manifest.get("checksums")
    lines = []
    if isinstance(checksums, dict) and checksums:
        total = 0
        for name in sorted(checksums):
            file = path / name
            if not file.is_file():
                raise ModelFolderError(f"{file}: missing (the manifest lists it)")
            total += len(folderfiles.read_checked(path, name, checksums))
        lines.append(f"{len(checksums)} files match their SHA-256 in the manifest ({total:,} bytes)")
    else:
        lines.append("this folder was written before checksums were recorded: files checked for consistency only")
    model = load_model_folder(path, trust=False)
    lines.append(f"loads: {model.n_books:,} books, {model.n_links:,} links, {model.n_pairs:,} pairs, dim {model.dim}")
    if (path / "model.keras").is_file():
        keras_model = model.load_keras()
        compared = []
        for layer, stored in (("book_embedding", model.book_vectors), ("link_embedding", model.link_vectors)):
            if layer == "link_embedding" and not model.has_link_vectors:
                continue
            try:
                weights = np.asarray(keras_model.get_layer(layer).get_weights()[0])
            except (ValueError, IndexError):
                continue
            if weights.shape != stored.shape or not np.allclose(weights, stored, rtol=1e-5, atol=1e-6):
                raise ModelFolderError(
                    f"{path / 'model.keras'}: its {layer} weights (shape {weights.shape}) differ from the stored "
                    f"vectors (shape {stored.shape})"
                )
            compared.append(layer)
        lines.append("model.keras loads in safe mode" + (f"; {' and '.join(compared)} match the stored vectors"
                                                          if compared else ""))
    else:
        lines.append("no model.keras in this folder (vectors only)")
    return lines


def update_manifest(path: str | Path, **changes: Any) -> dict:
    """Merge top-level keys into the manifest (atomically) and return it."""
    manifest = read_manifest(path)
    manifest.update(changes)
    write_json_atomic(Path(path) / MANIFEST, manifest)
    return manifest
