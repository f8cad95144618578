"""Model folders from what users bring: the article notebook's Keras model, or a Projector export.

**A Keras model** (``.keras`` or ``.h5``) with the layers ``book_embedding``
and ``link_embedding``, as the article's notebook trains it. The layers hold
vectors by row number; which book and link each row stands for is rebuilt
from the records the model was trained on, by the notebook's own rules
("Book Recommendation System.ipynb", WillKoehrsen/wikipedia-data-science):

- **books**: every record whose title does not contain ``Wikipedia:``, in
  file order (``book_index = {book[0]: idx for idx, book in enumerate(books)}``);
- **links**: each book's links as a Python ``set`` (a book counts once per
  spelling), lowercased, counted with ``Counter``; the six generic links
  ``hardcover, paperback, hardback, e-book, wikipedia:wikiproject books,
  wikipedia:wikiproject novels`` dropped; links counted 4 or more times
  kept, sorted by count, most first. The sort is stable, so links of equal
  count keep the ``Counter``'s insertion order: the order in which they first
  appear in the flattened per-book sets. Links of equal count first seen in
  *different* books are ordered by those books; links of equal count first
  seen in the *same* book are ordered by that book's ``set`` iteration order,
  which depends on Python's per-process string hashing and cannot be
  reproduced.

So the book rows are always determined, and the link rows are determined
only when no two links of equal count are first seen in the same book. When
they are not, only the book vectors are imported (the folder keeps the links
and pairs, and its link views say they are unavailable), unless a link-order
file gives the notebook's ``links`` list, one link per line, which is checked
against the rule.

The model file is loaded with Keras in safe mode (no code in the file is
run). A ``.h5`` file that Keras 3 cannot rebuild (old Keras 2 configs) is
read as plain data with ``h5py``: only the two weight arrays, nothing else.

**A Projector export**: ``vectors.tsv`` (tab-separated floats, no header) and
``metadata.tsv`` read as the Projector reads them (lines split on ``\\n``,
blank lines skipped, a header exactly when the first line holds a tab). It
holds no links, so the folder has none.
"""

from __future__ import annotations

import gzip
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bookembed.corpus import file_checksum
from bookembed.errors import BookembedError
from bookembed.graph import LinkGraph
from bookembed.kerasfile import SLACK_BYTES, read_model_outline
from bookembed.metadata import book_metadata, primary_genre
from bookembed.records import GZIP_FLOOR_BYTES, MAX_GZIP_RATIO, MAX_RECORD_BYTES, books_metadata_frame
from bookembed.store import SaveInputs, is_model_folder, save_model_folder

NOTEBOOK_REMOVED_LINKS = (
    "hardcover", "paperback", "hardback", "e-book", "wikipedia:wikiproject books", "wikipedia:wikiproject novels",
)
NOTEBOOK_MIN_LINK_COUNT = 4
NOTEBOOK_TITLE_FILTER = "Wikipedia:"
LAYERS = ("book_embedding", "link_embedding")

MAX_DIM = 1024
"""The longest vectors a Keras model may hold: the notebook's are 50 long. With the records' book and link
counts it bounds what a model file may inflate to and what Keras may allocate building it
(``keras_file_limit``)."""
UNSIZED_KERAS_LIMIT = 1 << 30
"""The bound for a model file read without its records (``read_keras_layers`` alone)."""


class ImportModelError(BookembedError):
    """A model, records or Projector file that cannot be imported; the message names the file."""


# ---------------------------------------------------------------- the notebook's vocabularies


@dataclass
class NotebookVocabulary:
    """Books and links in the order of the notebook's ``book_index`` and ``link_index``.

    Attributes
    ----------
    titles : list of str, length n_books
    infoboxes : list of dict, length n_books
    book_links : list of list of str
        Each book's links as in the records.
    links : list of str, length n_links
        The kept links (lowercased), by count (most first), then by the book
        they first appear in; ties within one book in name order (the
        notebook's order there is unknown, see ``tied``).
    counts : list of int
        The notebook's count of each kept link.
    tied : list of list of str
        Groups of links whose order in the notebook came from a ``set``.
    """

    titles: list[str]
    infoboxes: list[dict]
    book_links: list[list[str]]
    links: list[str]
    counts: list[int]
    tied: list[list[str]] = field(default_factory=list)

    @property
    def link_order_known(self) -> bool:
        return not self.tied

    def pairs(self, links: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The unique (book, link) pairs for a link order; shapes (n_pairs,)."""
        index = {link: j for j, link in enumerate(links)}
        pairs = {(i, index[l.lower()]) for i, raw in enumerate(self.book_links) for l in raw if l.lower() in index}
        ordered = sorted(pairs)
        return (np.array([p[0] for p in ordered], dtype=np.int32).reshape(-1),
                np.array([p[1] for p in ordered], dtype=np.int32).reshape(-1))


class _Inflated(io.RawIOBase):
    """A gzip file's bytes that stop with ``ImportModelError`` past ``limit`` bytes inflated."""

    def __init__(self, path: Path, limit: int):
        self._raw = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._gz = gzip.GzipFile(fileobj=self._raw)
        self._path, self._limit, self._done = path, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._gz.readinto(buffer)
        self._done += n
        if self._done > self._limit:
            raise ImportModelError(
                f"{self._path}: refused: it inflates past {self._limit:,} bytes, more than {MAX_GZIP_RATIO} times "
                "its compressed size, which records never do (a decompression bomb)")
        return n

    def close(self) -> None:
        try:
            self._gz.close()
            self._raw.close()
        finally:
            super().close()


def _open_text(path: Path):
    """The file as UTF-8 text split on ``\\n`` only; a gzip file inflated within ``MAX_GZIP_RATIO``."""
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        limit = max(GZIP_FLOOR_BYTES, MAX_GZIP_RATIO * path.stat().st_size)
        return io.TextIOWrapper(io.BufferedReader(_Inflated(path, limit)), encoding="utf-8", newline="\n")
    return open(path, "r", encoding="utf-8", newline="\n")


def _lines(fh, path: Path):
    """``(line number, line)``, each read with a cap of ``MAX_RECORD_BYTES`` characters."""
    n = 0
    while True:
        line = fh.readline(MAX_RECORD_BYTES + 1)
        if not line:
            return
        n += 1
        if len(line) > MAX_RECORD_BYTES:
            raise ImportModelError(f"line {n} of {path}: longer than {MAX_RECORD_BYTES:,} characters; not a record")
        yield n, line


def read_notebook_records(path: str | Path) -> tuple[list[str], list[dict], list[list[str]]]:
    """Titles, infoboxes and links of the records the notebook keeps, in file order.

    Raises
    ------
    ImportModelError
        A line that is not a record, a missing file, or repeated titles
        (the notebook's ``book_index`` would not fit its own layer); one line
        naming the file and the line.
    """
    path = Path(path)
    if not path.is_file():
        raise ImportModelError(f"{path}: no such records file")
    titles, infoboxes, links, seen = [], [], [], {}
    try:
        with _open_text(path) as fh:
            for n, line in _lines(fh, path):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except RecursionError:
                    raise ImportModelError(f"line {n} of {path}: JSON nested too deeply") from None
                except ValueError as err:
                    raise ImportModelError(f"line {n} of {path}: not JSON ({err})") from None
                if not (isinstance(value, list) and len(value) >= 3 and isinstance(value[0], str)
                        and isinstance(value[1], dict) and isinstance(value[2], list)
                        and all(isinstance(x, str) for x in value[2])):
                    raise ImportModelError(
                        f"line {n} of {path}: expected a record [title, infobox, wikilinks, ...]")
                title = value[0]
                if NOTEBOOK_TITLE_FILTER in title:
                    continue
                if title in seen:
                    raise ImportModelError(
                        f"line {n} of {path}: title {title!r} repeats line {seen[title]}; the notebook's book_index "
                        "keeps one row per title, so its layer cannot be matched to these records")
                seen[title] = n
                titles.append(title)
                infoboxes.append(value[1])
                links.append(value[2])
    except UnicodeDecodeError as err:
        raise ImportModelError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise ImportModelError(f"{path}: cannot read ({err})") from None
    if not titles:
        raise ImportModelError(f"{path}: no records")
    return titles, infoboxes, links


def notebook_vocabulary(path: str | Path) -> NotebookVocabulary:
    """The notebook's books and links for a records file (see the module docstring for the rule)."""
    titles, infoboxes, book_links = read_notebook_records(path)
    counts: Counter = Counter()
    first: dict[str, int] = {}
    for i, raw in enumerate(book_links):
        for link in set(raw):  # the notebook's list(set(book[2])), lowercased after the set
            low = link.lower()
            counts[low] += 1
            first.setdefault(low, i)
    for link in NOTEBOOK_REMOVED_LINKS:
        counts.pop(link, None)
    kept = sorted((l for l, c in counts.items() if c >= NOTEBOOK_MIN_LINK_COUNT),
                  key=lambda l: (-counts[l], first[l], l))
    tied, run = [], []
    for link in kept:
        if run and (counts[run[0]], first[run[0]]) == (counts[link], first[link]):
            run.append(link)
        else:
            if len(run) > 1:
                tied.append(run)
            run = [link]
    if len(run) > 1:
        tied.append(run)
    return NotebookVocabulary(titles, infoboxes, book_links, kept, [counts[l] for l in kept], tied)


def read_link_order(path: str | Path, vocab: NotebookVocabulary) -> list[str]:
    """The notebook's ``links`` list from a file (one link per line), checked against the rule.

    Raises
    ------
    ImportModelError
        A link the rule does not keep, a kept link missing, a repeat, or an
        order the notebook could not have produced; names the file and line.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as err:
        raise ImportModelError(f"{path}: cannot read the link order ({err})") from None
    if lines and lines[-1] == "":
        lines.pop()
    order = [line.rstrip("\r") for line in lines]
    counts = dict(zip(vocab.links, vocab.counts))
    first_book = {}
    for i, raw in enumerate(vocab.book_links):
        for link in raw:
            first_book.setdefault(link.lower(), i)
    seen: dict[str, int] = {}
    for n, link in enumerate(order, 1):
        if link not in counts:
            raise ImportModelError(f"line {n} of {path}: {link!r} is not among the {len(counts):,} links the "
                                   "notebook keeps for these records")
        if link in seen:
            raise ImportModelError(f"line {n} of {path}: {link!r} repeats line {seen[link]}")
        seen[link] = n
        if n > 1:
            prev = order[n - 2]
            if (counts[prev], -first_book[prev]) < (counts[link], -first_book[link]):
                raise ImportModelError(
                    f"line {n} of {path}: {link!r} ({counts[link]} books) cannot follow {prev!r} "
                    f"({counts[prev]} books) in the notebook's order")
    missing = [l for l in vocab.links if l not in seen]
    if missing:
        raise ImportModelError(f"{path}: {len(missing):,} kept links are missing, e.g. {missing[0]!r}")
    return order


# ---------------------------------------------------------------- the Keras model


def _layer_weights_keras(path: Path) -> tuple[dict[str, np.ndarray], object]:
    from bookembed.kerasmodel import quiet_tensorflow

    quiet_tensorflow()
    import keras

    model = keras.saving.load_model(path, safe_mode=True, compile=False)
    weights = {}
    for name in LAYERS:
        try:
            layer = model.get_layer(name)
        except ValueError:
            raise ImportModelError(f"{path}: the model has no layer named {name!r} (its layers: "
                                   f"{', '.join(l.name for l in model.layers)})") from None
        values = layer.get_weights()
        if not values:
            raise ImportModelError(f"{path}: layer {name!r} holds no weights")
        weights[name] = np.asarray(values[0], dtype=np.float32)
    return weights, model


def _layer_weights_h5(path: Path) -> dict[str, np.ndarray]:
    """The two layers' weight arrays read from an HDF5 file as plain data (no model is built)."""
    import h5py

    found: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        root = f["model_weights"] if "model_weights" in f else f
        for name in LAYERS:
            if name not in root:
                raise ImportModelError(f"{path}: no weights for a layer named {name!r}")
            arrays = []
            root[name].visititems(lambda _, obj: arrays.append(obj) if isinstance(obj, h5py.Dataset) else None)
            arrays = [a for a in arrays if a.ndim == 2]
            if len(arrays) != 1:
                raise ImportModelError(f"{path}: layer {name!r} does not hold one 2-D weight array")
            found[name] = np.asarray(arrays[0][()], dtype=np.float32)
    return found


def keras_file_limit(n_books: int, n_links: int) -> int:
    """The most bytes a notebook model of ``n_books`` and ``n_links`` rows may need: its two layers at
    ``MAX_DIM`` floats a row, plus HDF5 bookkeeping. Model files past it are refused before Keras reads them."""
    return (n_books + n_links) * MAX_DIM * 4 + SLACK_BYTES


def read_keras_layers(path: str | Path, max_bytes: int | None = None
                      ) -> tuple[dict[str, np.ndarray], object | None, str]:
    """The ``book_embedding`` and ``link_embedding`` weights of a saved model.

    The file is first checked without Keras (``kerasfile.read_model_outline``): its archive members, its
    config and what building it would allocate, and its weight arrays must stay within ``max_bytes``
    (``keras_file_limit`` for the records it was trained on; ``UNSIZED_KERAS_LIMIT`` when not given).

    Returns
    -------
    weights : dict of str to ndarray, shape (rows, dim)
    model : keras.Model or None
        The model, when Keras could load it (None when read with h5py).
    how : str
        How it was read, for the manifest.

    Raises
    ------
    ImportModelError
        A file that is neither, damaged or truncated, past the bound, or lacks the layers; one line naming it.
    """
    path = Path(path)
    if not path.is_file():
        raise ImportModelError(f"{path}: no such model file")
    suffix = path.suffix.lower()
    if suffix not in (".keras", ".h5", ".hdf5"):
        raise ImportModelError(f"{path}: expected a .keras or .h5 Keras model file")
    outline = read_model_outline(path, UNSIZED_KERAS_LIMIT if max_bytes is None else max_bytes, ImportModelError)
    names = [name for name, _ in outline.layers]
    for name in LAYERS if names else ():
        if name not in names:
            raise ImportModelError(f"{path}: the model has no layer named {name!r} (its layers: {', '.join(names)})")
    try:
        weights, model = _layer_weights_keras(path)
        return weights, model, "keras.saving.load_model(safe_mode=True)"
    except ImportModelError:
        raise
    except Exception as err:  # noqa: BLE001 - Keras raises many types; each becomes one line below
        keras_error = " ".join(f"{type(err).__name__}: {err}".split())[:200]
    if suffix in (".h5", ".hdf5"):
        try:
            return _layer_weights_h5(path), None, "h5py (weights only)"
        except ImportModelError:
            raise
        except Exception as err:  # noqa: BLE001
            raise ImportModelError(f"{path}: cannot read the model ({keras_error}; as HDF5: {err})") from None
    raise ImportModelError(f"{path}: cannot load the Keras model ({keras_error})")


def _books_table(titles: list[str], infoboxes: list[dict], n_links: np.ndarray) -> pd.DataFrame:
    frame = books_metadata_frame([book_metadata(box) for box in infoboxes])
    frame.insert(0, "title", titles)
    frame["n_links"] = n_links
    return frame


@dataclass
class ImportResult:
    """What an import wrote: the folder, its sizes and what was left out, for the CLI and the app."""

    path: Path
    n_books: int
    n_links: int
    dim: int
    link_vectors: bool
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        what = "book and link vectors" if self.link_vectors else "book vectors only"
        return [f"imported {self.n_books:,} books, {self.n_links:,} links, dim {self.dim} ({what}) into {self.path}"
                ] + self.notes


def _check_out(out: Path, overwrite: bool) -> None:
    if is_model_folder(out) and not overwrite:
        raise ImportModelError(f"{out}: already holds a trained model; pass --overwrite to replace it")


def _metrics(vectors: np.ndarray, books: pd.DataFrame) -> dict:
    from bookembed.evaluate import genre_purity

    if "primary_genre" not in books.columns or len(books) < 3:
        return {}
    return {"auc": None, "heldout_pairs": 0,
            "genre_purity": genre_purity(vectors, books["primary_genre"].fillna("").astype(str).tolist())}


def import_keras(
    model_file: str | Path,
    records: str | Path,
    out: str | Path,
    *,
    link_order: str | Path | None = None,
    overwrite: bool = False,
) -> ImportResult:
    """A model folder from a Keras model trained by the article's notebook on ``records``.

    Parameters
    ----------
    model_file : path of a ``.keras`` or ``.h5`` file
    records : path of the NDJSON records (plain or gzip) it was trained on
    out : path of the model folder to write
    link_order : path, optional
        The notebook's ``links`` list, one per line: imports the link vectors
        even where the rule leaves their order open.
    overwrite : bool
        Replace a model already in ``out``.

    Raises
    ------
    ImportModelError
        Unreadable files, missing layers, or layer sizes that do not match
        the records; one line naming the file.
    """
    model_file, records, out = Path(model_file), Path(records), Path(out)
    _check_out(out, overwrite)
    vocab = notebook_vocabulary(records)
    weights, model, how = read_keras_layers(model_file, keras_file_limit(len(vocab.titles), len(vocab.links)))
    book_w, link_w = weights["book_embedding"], weights["link_embedding"]
    if book_w.shape[0] != len(vocab.titles):
        raise ImportModelError(
            f"{model_file}: layer book_embedding has {book_w.shape[0]:,} rows but {records} holds "
            f"{len(vocab.titles):,} books (records without 'Wikipedia:' in the title); these are not the records "
            "it was trained on")
    if link_w.shape[0] != len(vocab.links):
        raise ImportModelError(
            f"{model_file}: layer link_embedding has {link_w.shape[0]:,} rows but the notebook keeps "
            f"{len(vocab.links):,} links of {records} (in 4+ books, 6 generic ones dropped); these are not the "
            "records it was trained on")
    if book_w.shape[1] != link_w.shape[1]:
        raise ImportModelError(f"{model_file}: the two layers' vectors differ in length "
                               f"({book_w.shape[1]} and {link_w.shape[1]})")
    notes = []
    if link_order is not None:
        links = read_link_order(link_order, vocab)
        link_vectors, missing = link_w, ""
        notes.append(f"link order from {link_order}")
    elif vocab.link_order_known:
        links, link_vectors, missing = vocab.links, link_w, ""
    else:
        n_tied = sum(len(g) for g in vocab.tied)
        links, link_vectors = vocab.links, None
        missing = (f"the notebook orders {n_tied:,} of its {len(vocab.links):,} links (in {len(vocab.tied):,} groups "
                   "of equal count first seen in the same book) by a Python set, whose order changes from run to "
                   "run; give the link order (--link-order) to import them")
        notes.append(f"link vectors not imported: {missing}")
    pair_books, pair_links = vocab.pairs(links)
    link_counts = np.bincount(pair_links, minlength=len(links)).astype(np.int64)
    books = _books_table(vocab.titles, vocab.infoboxes, np.bincount(pair_books, minlength=len(vocab.titles)))
    data = {"source": str(records), "checksum": file_checksum(records), "imported_from": str(model_file),
            "read_with": how, "rule": "article notebook: titles without 'Wikipedia:', file order; links lowercased, "
            "counted once per book spelling, 6 generic links dropped, kept in 4+ books, by count"}
    path = save_model_folder(out, SaveInputs(
        graph=LinkGraph(books=books, links=tuple(links), link_counts=link_counts, pair_books=pair_books,
                        pair_links=pair_links),
        heldout=np.zeros(len(pair_books), dtype=bool),
        book_vectors=book_w, link_vectors=link_vectors,
        config={"dim": int(book_w.shape[1]), "imported": "keras", "seed": None},
        data=data, metrics=_metrics(book_w, books), history={},
        model=model, link_vectors_missing=missing,
    ))
    return ImportResult(path, len(vocab.titles), len(links), int(book_w.shape[1]), link_vectors is not None, notes)


# ---------------------------------------------------------------- a Projector export


def _projector_lines(path: Path, what: str) -> list[tuple[int, str]]:
    """Non-blank lines as the Projector reads them (split on ``\\n`` only), with 1-based line numbers."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as err:
        raise ImportModelError(f"{path}: cannot read the {what} ({err.strerror or err})") from None
    except UnicodeDecodeError as err:
        raise ImportModelError(f"{path}: the {what} is not UTF-8 text (byte {err.start})") from None
    return [(n, line) for n, line in enumerate(text.split("\n"), 1) if line.strip()]


def read_projector_vectors(path: str | Path) -> np.ndarray:
    """``vectors.tsv``: one row of tab-separated numbers per vector; shape (n, dim), float32."""
    path = Path(path)
    rows = _projector_lines(path, "vectors")
    if not rows:
        raise ImportModelError(f"{path}: no vectors")
    dim = None
    out = []
    for n, line in rows:
        fields = line.rstrip("\r").split("\t")
        try:
            if not line.isascii() or "_" in line:  # float() also takes 1_0, and digits of other scripts
                raise ValueError
            values = [float(x) for x in fields]
        except ValueError:
            bad = next(x for x in fields if not _is_float(x))
            raise ImportModelError(f"line {n} of {path}: {bad[:40]!r} is not a number") from None
        if dim is None:
            dim = len(values)
        elif len(values) != dim:
            raise ImportModelError(f"line {n} of {path}: {len(values)} numbers where the first row has {dim}")
        out.append(values)
    vectors = np.asarray(out, dtype=np.float32)
    bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
    if bad.size:
        raise ImportModelError(f"line {rows[int(bad[0])][0]} of {path}: NaN or infinite value")
    return vectors


_NUMBER = re.compile(r"[ \t]*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)[ \t]*",
                     re.IGNORECASE | re.ASCII)
_WHOLE = re.compile(r"[ \t]*([+-]?\d+)(?:\.0*)?[ \t]*", re.ASCII)
_INT64 = (-(2**63), 2**63 - 1)


def _is_float(text: str) -> bool:
    """A decimal number as the Projector writes them: ASCII digits, no ``_`` separators (``float`` takes both)."""
    return _NUMBER.fullmatch(text) is not None


def read_projector_metadata(path: str | Path, n_rows: int) -> pd.DataFrame:
    """``metadata.tsv`` as the Projector reads it: a header exactly when the first line holds a tab.

    Returns
    -------
    DataFrame, shape (n_rows, n_columns)
        ``title`` first (the ``title`` column, else the first one), then the others.
    """
    path = Path(path)
    rows = [(n, line.rstrip("\r")) for n, line in _projector_lines(path, "metadata")]
    if rows and "\t" in rows[0][1]:
        header = rows[0][1].split("\t")
        rows = rows[1:]
    else:
        header = ["title"]
    if len(rows) != n_rows:
        raise ImportModelError(f"{path}: {len(rows):,} metadata rows for {n_rows:,} vectors (the Projector needs "
                               "one row per vector)")
    values = []
    for n, line in rows:
        fields = line.split("\t")
        if len(fields) != len(header):
            raise ImportModelError(f"line {n} of {path}: {len(fields)} fields where the header has {len(header)}")
        values.append(fields)
    frame = pd.DataFrame(values, columns=[h.strip() or f"column {i + 1}" for i, h in enumerate(header)])
    title = "title" if "title" in frame.columns else frame.columns[0]
    frame = frame[[title] + [c for c in frame.columns if c != title]].rename(columns={title: "title"})
    seen: dict[str, int] = {}
    for (n, _), t in zip(rows, frame["title"]):
        if t in seen:
            raise ImportModelError(f"line {n} of {path}: title {t!r} repeats line {seen[t]}; titles must be unique")
        seen[t] = n
    for col in ("year", "pages", "n_links"):
        if col in frame.columns:
            numbers = _whole_numbers(frame[col], [n for n, _ in rows], col, path)
            if numbers is not None:
                frame[col] = numbers
    if "primary_genre" not in frame.columns and "genre" in frame.columns:
        frame["primary_genre"] = [primary_genre(g) for g in frame["genre"]]
    return frame


def _whole_numbers(values: pd.Series, lines: list[int], column: str, path: Path) -> pd.Series | None:
    """``values`` as nullable integers when every non-blank one is a whole number (``1850``, ``-750``,
    ``1850.0``), else None: the column stays text.

    A whole number that no integer column can hold (past 2**63) is an error naming the line, rather than
    text: one damaged cell would otherwise turn the whole column, and the views that use it, into text.
    """
    parsed: list[int | None] = []
    for text in values:
        if not text.strip():
            parsed.append(None)
            continue
        match = _WHOLE.fullmatch(text)
        if match is None:
            return None
        parsed.append(int(match.group(1)))
    for line, number in zip(lines, parsed):
        if number is not None and not _INT64[0] <= number <= _INT64[1]:
            raise ImportModelError(f"line {line} of {path}: column {column!r}: {number} does not fit a whole-number "
                                   "column (from -2**63 to 2**63 - 1)")
    return pd.Series(pd.array(parsed, dtype="Int64"), index=values.index)


def import_projector(
    vectors: str | Path, metadata: str | Path, out: str | Path, *, overwrite: bool = False
) -> ImportResult:
    """A model folder from a Projector export (this tool's or another's); it has no links.

    Raises
    ------
    ImportModelError
        A bad row, a count that differs, repeated titles; one line naming the file and the line.
    """
    vectors, metadata, out = Path(vectors), Path(metadata), Path(out)
    _check_out(out, overwrite)
    matrix = read_projector_vectors(vectors)
    books = read_projector_metadata(metadata, len(matrix))
    if "n_links" not in books.columns:
        books["n_links"] = 0
    missing = "imported from a Projector export, which holds no links"
    path = save_model_folder(out, SaveInputs(
        graph=LinkGraph(books=books, links=(), link_counts=np.zeros(0, np.int64), pair_books=np.zeros(0, np.int32),
                        pair_links=np.zeros(0, np.int32)),
        heldout=np.zeros(0, dtype=bool), book_vectors=matrix, link_vectors=None,
        config={"dim": int(matrix.shape[1]), "imported": "projector", "seed": None},
        data={"source": str(vectors), "metadata": str(metadata), "checksum": file_checksum(vectors, metadata)},
        metrics=_metrics(matrix, books), history={}, link_vectors_missing=missing,
    ))
    return ImportResult(path, len(matrix), 0, int(matrix.shape[1]), False, [f"no link vectors: {missing}"])
