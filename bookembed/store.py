"""The model folder: the one hand-off between training and everything downstream.

``models/<name>/`` holds::

    manifest.json        format version, config, seed, data checksum, counts,
                         metrics, library versions, time, file list
    model.keras          the Keras model (loaded only on demand, in safe mode)
    book_vectors.npy     float32, shape (n_books, dim)
    link_vectors.npy     float32, shape (n_links, dim)
    links.json           link vocabulary, position = link id, with book counts
    books.parquet        books table: title, metadata columns, n_links
    pairs.npz            book, link (int32) and heldout (bool) arrays
    history.json         loss per epoch and per chunk of steps
    projections/         cached map coordinates (written later, see projection.py)

Folders are written to a temporary sibling and swapped in with ``os.replace``,
so a crash leaves the previous folder intact. Nothing is unpickled on load:
arrays use ``allow_pickle=False`` and the Keras model is loaded with
``safe_mode=True``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bookembed import __version__
from bookembed.errors import ModelFolderError, WriteError
from bookembed.graph import LinkGraph
from bookembed.vectors import unit_rows

FORMAT = "bookembed-model"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _umask_mode()
REQUIRED_FILES = ("book_vectors.npy", "link_vectors.npy", "links.json", "books.parquet", "pairs.npz")


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


def write_json_atomic(path: Path, value: Any) -> None:
    """Write JSON to ``path`` through a temporary sibling and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(value, fh, ensure_ascii=False, indent=1)
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes owner-only files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_npy_atomic(path: Path, array: np.ndarray) -> None:
    """Write one array through a temporary sibling and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, array, allow_pickle=False)
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_files_atomic(folder: Path, files: dict[str, bytes]) -> list[Path]:
    """Write ``{relative name: bytes}`` into ``folder``, each file replaced atomically.

    All files are first written to a temporary folder inside ``folder``, then
    moved into place with ``os.replace``, configs (``.pbtxt``,
    ``projector_config.json``) last, so a crash leaves each file either old or
    new and a reader never sees half a file. Other files in ``folder`` are kept.

    Returns
    -------
    list of Path
        The files written, in the order they were moved into place.

    Raises
    ------
    WriteError
        A folder that cannot be created or written (one line naming it).
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise WriteError(f"{folder}: exists and is not a folder") from None
    except OSError as err:
        raise WriteError(f"{folder}: cannot create the folder ({err.strerror})") from None
    if not folder.is_dir():
        raise WriteError(f"{folder}: exists and is not a folder")
    order = sorted(files, key=lambda name: (name.endswith((".pbtxt", "projector_config.json")), name))
    written = []
    try:
        tmp = Path(tempfile.mkdtemp(prefix=".export-tmp-", dir=folder))
    except OSError as err:
        raise WriteError(f"{folder}: cannot write here ({err.strerror})") from None
    try:
        for name in order:
            staged = tmp / name
            staged.parent.mkdir(parents=True, exist_ok=True)
            staged.write_bytes(files[name])
            os.chmod(staged, _FILE_MODE)
        for name in order:
            target = folder / name
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp / name, target)
            except OSError as err:
                raise WriteError(f"{target}: cannot write ({err.strerror})") from None
            written.append(target)
    except OSError as err:
        raise WriteError(f"{folder}: cannot write ({err.strerror})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return written


def replace_dir_atomic(tmp_dir: Path, target: Path) -> None:
    """Move a finished ``tmp_dir`` to ``target``, replacing any folder there.

    POSIX cannot rename a folder over a non-empty one, so the old folder is
    renamed aside first and removed only after the new one is in place. The
    cached projections of the old folder are not carried over: they describe
    the old vectors.
    """
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise ModelFolderError(f"{target}: exists and is not a folder; not replacing it")
    if target.exists():
        aside = target.with_name(f".{target.name}.old-{os.getpid()}-{time.time_ns()}")
        os.replace(target, aside)
        try:
            os.replace(tmp_dir, target)
        except BaseException:
            os.replace(aside, target)
            raise
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.replace(tmp_dir, target)


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
    link_vectors : ndarray, shape (n_links, dim)
    config, data, metrics, history : dict
        How it was made, from what, how good it is, how the loss went.
    model : keras.Model or None
        Saved as ``model.keras`` when given.
    """

    graph: LinkGraph
    heldout: np.ndarray
    book_vectors: np.ndarray
    link_vectors: np.ndarray
    config: dict
    data: dict  # source, checksum, cleaning rules, load report
    metrics: dict = field(default_factory=dict)
    history: dict = field(default_factory=dict)
    model: object | None = None  # keras.Model, saved as model.keras when given


def save_model_folder(path: str | Path, inputs: SaveInputs) -> Path:
    """Write a complete model folder atomically; returns its path.

    Parameters
    ----------
    path : str or Path
        The folder, e.g. ``models/demo``. Its parent is created if needed.
    inputs : SaveInputs
        Vectors, vocabularies, books table, pairs, config and metrics.
    """
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise ModelFolderError(f"{target}: exists and is not a folder; not replacing it")
    target.parent.mkdir(parents=True, exist_ok=True)
    graph = inputs.graph
    n_books, n_links = graph.n_books, graph.n_links
    if inputs.book_vectors.shape[0] != n_books or inputs.link_vectors.shape[0] != n_links:
        raise ModelFolderError(
            f"{target}: vectors do not match the vocabularies "
            f"({inputs.book_vectors.shape[0]} book vectors for {n_books} books, "
            f"{inputs.link_vectors.shape[0]} link vectors for {n_links} links)"
        )
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        np.save(tmp / "book_vectors.npy", np.ascontiguousarray(inputs.book_vectors, dtype=np.float32))
        np.save(tmp / "link_vectors.npy", np.ascontiguousarray(inputs.link_vectors, dtype=np.float32))
        with open(tmp / "links.json", "w", encoding="utf-8") as fh:
            json.dump(
                {"links": list(graph.links), "books": [int(c) for c in graph.link_counts]},
                fh,
                ensure_ascii=False,
            )
        graph.books.to_parquet(tmp / "books.parquet", index=False)
        np.savez(
            tmp / "pairs.npz",
            book=np.asarray(graph.pair_books, dtype=np.int32),
            link=np.asarray(graph.pair_links, dtype=np.int32),
            heldout=np.asarray(inputs.heldout, dtype=bool),
        )
        with open(tmp / "history.json", "w", encoding="utf-8") as fh:
            json.dump(inputs.history, fh)
        files = list(REQUIRED_FILES) + ["history.json"]
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
                "dim": int(inputs.book_vectors.shape[1]),
            },
            "metrics": inputs.metrics,
            "versions": library_versions(),
            "files": files,
        }
        with open(tmp / MANIFEST, "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, ensure_ascii=False, indent=1)
        os.chmod(tmp, 0o755)
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

    def unit_vectors(self, kind: str = "book") -> np.ndarray:
        """L2-normalised vectors (computed once), ``kind`` is "book" or "link"."""
        return self._unit_books if kind == "book" else self._unit_links

    @cached_property
    def vectors_checksum(self) -> str:
        """SHA-1 of the book vectors' bytes: ties cached projections and indexes to these vectors."""
        data = np.ascontiguousarray(self.book_vectors, dtype=np.float32)
        return hashlib.sha1(data.tobytes()).hexdigest()

    @property
    def stamp(self) -> int | None:
        """Changes whenever the folder is rewritten (the manifest is written last); None if gone."""
        return folder_stamp(self.path)

    def load_keras(self):
        """The stored Keras model, loaded in safe mode (imports tensorflow)."""
        file = self.path / "model.keras"
        if not file.exists():
            raise ModelFolderError(f"{self.path}: no model.keras in this folder")
        from bookembed.training import quiet_tensorflow

        quiet_tensorflow()
        import keras

        try:
            return keras.saving.load_model(file, safe_mode=True)
        except Exception as err:
            raise ModelFolderError(f"{file}: cannot load the Keras model ({type(err).__name__}: {err})") from None


def folder_stamp(path: str | Path) -> int | None:
    """Modification time of the folder's manifest in ns, or None when there is none.

    A folder is rewritten as a whole with a new manifest, so this changes
    whenever the model does: the app keys its caches by (path, stamp).
    """
    try:
        return (Path(path) / MANIFEST).stat().st_mtime_ns
    except OSError:
        return None


def is_model_folder(path: str | Path) -> bool:
    """True if ``path`` has a manifest (it may still be damaged)."""
    return (Path(path) / MANIFEST).is_file()


def list_model_folders(root: str | Path = "models") -> list[Path]:
    """Model folders directly under ``root``, sorted by name (temporary ones skipped)."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and is_model_folder(p))


def read_manifest(path: str | Path) -> dict:
    """The folder's manifest, checked for format and version."""
    path = Path(path)
    file = path / MANIFEST
    if not path.is_dir():
        raise ModelFolderError(f"{path}: no such model folder")
    if not file.is_file():
        raise ModelFolderError(f"{path}: not a model folder (no {MANIFEST})")
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelFolderError(f"{file}: damaged manifest ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelFolderError(f"{file}: not a bookembed model manifest")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFolderError(
            f"{file}: model folder format version {version} is not supported by this bookembed "
            f"(which reads version {FORMAT_VERSION}); retrain the model with this version"
        )
    return manifest


def load_model_folder(path: str | Path) -> ModelFolder:
    """Read and check a model folder (no Keras import).

    Raises
    ------
    ModelFolderError
        Missing, damaged or inconsistent files, or another format version;
        the message names the folder and the file.
    """
    path = Path(path)
    manifest = read_manifest(path)
    for name in REQUIRED_FILES:
        if not (path / name).is_file():
            raise ModelFolderError(f"{path}: damaged model folder, {name} is missing")

    def load_npy(name: str) -> np.ndarray:
        try:
            return np.load(path / name, allow_pickle=False)
        except Exception as err:
            raise ModelFolderError(f"{path / name}: damaged array file ({err})") from None

    book_vectors = load_npy("book_vectors.npy")
    link_vectors = load_npy("link_vectors.npy")
    try:
        with np.load(path / "pairs.npz", allow_pickle=False) as npz:
            pair_books, pair_links, heldout = npz["book"], npz["link"], npz["heldout"]
    except Exception as err:
        raise ModelFolderError(f"{path / 'pairs.npz'}: damaged pairs file ({err})") from None
    try:
        vocab = json.loads((path / "links.json").read_text(encoding="utf-8"))
        links = tuple(vocab["links"])
        link_counts = np.asarray(vocab["books"], dtype=np.int64)
    except Exception as err:
        raise ModelFolderError(f"{path / 'links.json'}: damaged link vocabulary ({err})") from None
    try:
        books = pd.read_parquet(path / "books.parquet")
    except Exception as err:
        raise ModelFolderError(f"{path / 'books.parquet'}: damaged books table ({err})") from None
    history: dict = {}
    if (path / "history.json").is_file():
        try:
            history = json.loads((path / "history.json").read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ModelFolderError(f"{path / 'history.json'}: damaged history ({err})") from None

    problems = []
    if book_vectors.ndim != 2 or book_vectors.shape[0] != len(books):
        problems.append(f"book_vectors.npy has shape {book_vectors.shape} for {len(books)} books")
    if link_vectors.ndim != 2 or link_vectors.shape[0] != len(links):
        problems.append(f"link_vectors.npy has shape {link_vectors.shape} for {len(links)} links")
    elif book_vectors.ndim == 2 and link_vectors.shape[1] != book_vectors.shape[1]:
        problems.append("book and link vectors differ in length")
    if len(link_counts) != len(links):
        problems.append("links.json has counts for a different number of links")
    if not (len(pair_books) == len(pair_links) == len(heldout)):
        problems.append("pairs.npz arrays differ in length")
    elif len(pair_books) and (pair_books.max() >= len(books) or pair_links.max() >= len(links) or min(pair_books.min(), pair_links.min()) < 0):
        problems.append("pairs.npz refers to books or links outside the vocabularies")
    if "title" not in books.columns:
        problems.append("books.parquet has no title column")
    counts = manifest.get("counts", {})
    if counts.get("books") not in (None, len(books)) or counts.get("links") not in (None, len(links)):
        problems.append("manifest counts do not match the files")
    if problems:
        raise ModelFolderError(f"{path}: damaged model folder: {'; '.join(problems)}")
    if not np.all(np.isfinite(book_vectors)) or not np.all(np.isfinite(link_vectors)):
        raise ModelFolderError(f"{path}: damaged model folder: vectors contain NaN or Inf")
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
    )


def update_manifest(path: str | Path, **changes: Any) -> dict:
    """Merge top-level keys into the manifest (atomically) and return it."""
    manifest = read_manifest(path)
    manifest.update(changes)
    write_json_atomic(Path(path) / MANIFEST, manifest)
    return manifest
