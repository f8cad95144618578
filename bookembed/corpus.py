"""Records in, a ``Corpus`` out: the books table, the link vocabulary and the (book, link) pairs.

Two inputs feed the same pipeline:

* Wikipedia-books NDJSON (plain or gzip): one JSON list per line,
  ``[title, infobox, wikilinks, external_links, last_edit, text_length]``;
* a generic table of (item, link) pairs, CSV or Parquet, with an optional
  metadata table keyed by item.

Every problem with the input raises ``CorpusError`` with one line that names
the file and the line, row or field at fault.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd

from bookembed.errors import CorpusError
from bookembed.graph import LinkGraph, unique_keys
from bookembed.metadata import METADATA_FIELDS, book_metadata, clean_text, parse_pages, parse_year, primary_genre
from bookembed.settings import problems as check_settings, setting

DEMO = "demo"
DEMO_PATH = Path(__file__).resolve().parent / "data" / "classics.ndjson"
RECORD_FIELDS = ("title", "infobox", "wikilinks", "external_links", "last_edit", "text_length")
MAX_REPORTED = 20  # bad lines / duplicates listed by name; the rest are counted


@dataclass(frozen=True)
class CleaningConfig:
    """How records become pairs; the defaults are the seed project's rules.

    Each field declares its help text and bounds next to its default
    (``bookembed.settings``); those with a flag are offered by ``bookembed
    train`` and the Train page, and ``__post_init__`` checks them all.
    """

    drop_title_substrings: tuple[str, ...] = setting(
        ("Wikipedia:",), "Records whose title contains one of these are dropped.")
    lowercase_links: bool = setting(True, "Compare and store links lowercased.")
    remove_links: tuple[str, ...] = setting(
        (
            "hardcover",
            "paperback",
            "hardback",
            "e-book",
            "wikipedia:wikiproject books",
            "wikipedia:wikiproject novels",
        ),
        "Links dropped outright (compared lowercased).",
    )
    min_link_count: int = setting(4, "Keep links found in at least this many books (counted once per book).",
                                  flag="--min-link-count", label="Keep links in at least … books", min=1)
    min_book_links: int = setting(1, "Keep books with at least this many kept links; a book with none would get "
                                  "an untrained, meaningless vector.",
                                  flag="--min-book-links", label="Keep books with at least … links", min=1,
                                  advanced=True)

    def __post_init__(self) -> None:
        problems = check_settings(self)
        if problems:
            raise CorpusError("; ".join(problems))


@dataclass(frozen=True)
class Record:
    """One parsed book record (line numbers count from 1)."""

    title: str
    infobox: dict
    links: tuple[str, ...]
    line: int


@dataclass
class LoadReport:
    """What loading skipped, merged or dropped, for the CLI and the app to show."""

    source: str = ""
    n_records: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)
    n_skipped: int = 0
    duplicates: list[tuple[str, int, int]] = field(default_factory=list)
    n_duplicates: int = 0
    dropped_titles: int = 0
    dropped_books: int = 0

    def lines(self) -> list[str]:
        """Human-readable summary lines (empty when nothing happened)."""
        out = []
        if self.n_skipped:
            where = ", ".join(str(n) for n, _ in self.skipped[:10])
            more = " …" if self.n_skipped > 10 else ""
            out.append(f"skipped {self.n_skipped} bad line(s) of {self.source}: lines {where}{more}")
        if self.n_duplicates:
            first = self.duplicates[0]
            out.append(
                f"{self.n_duplicates} duplicate title(s) in {self.source}; kept the first of each "
                f"(e.g. {first[0]!r} on line {first[1]} repeats line {first[2]})"
            )
        if self.dropped_titles:
            out.append(f"dropped {self.dropped_titles} record(s) whose title matched a drop rule")
        if self.dropped_books:
            out.append(f"dropped {self.dropped_books} book(s) with no link kept after cleaning")
        return out


@dataclass(frozen=True, eq=False)
class Corpus(LinkGraph):
    """A loaded, cleaned corpus: a ``LinkGraph`` and where it came from.

    Besides the ``LinkGraph`` fields (``books``: title then
    ``METADATA_FIELDS`` then ``n_links``; ``links`` most-linked first;
    ``link_counts``; ``pair_books``/``pair_links`` sorted by book then link):

    Attributes
    ----------
    source : str
        Where the records came from (a path, or ``"demo"``).
    checksum : str
        SHA-256 of the input file(s) bytes.
    config : CleaningConfig
        The rules that were applied.
    report : LoadReport
        What loading skipped, merged or dropped.
    """

    source: str
    checksum: str
    config: CleaningConfig
    report: LoadReport

    def provenance(self) -> dict:
        """The model folder's ``data`` entry: source, checksum, cleaning rules, load report."""
        return {
            "source": self.source,
            "checksum": self.checksum,
            "cleaning": asdict(self.config),
            "report": self.report.lines(),
        }


# ---------------------------------------------------------------- reading


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (int, float)):
        return "a number"
    return type(value).__name__


_JUST_STR = {str}


def _check_record(value: object) -> str | None:
    """None if ``value`` is a valid record, else what is wrong with it."""
    if not isinstance(value, list):
        return f"expected a JSON list of 6 fields, got {_describe(value)}"
    if len(value) != 6:
        return f"expected a JSON list of 6 fields, got a list of {len(value)}"
    title, infobox, links, external, last_edit, length = value
    if not isinstance(title, str) or not title.strip():
        return f"field 1 (title) must be a non-empty string, got {_describe(title)}"
    if not isinstance(infobox, dict):
        return f"field 2 (infobox) must be an object, got {_describe(infobox)}"
    for name, pos, seq in (("wikilinks", 3, links), ("external_links", 4, external)):
        if not isinstance(seq, list):
            return f"field {pos} ({name}) must be a list of strings, got {_describe(seq)}"
        if seq and set(map(type, seq)) != _JUST_STR:  # one pass in C; the loop below only finds the culprit
            for i, item in enumerate(seq):
                if not isinstance(item, str):
                    return f"field {pos} ({name}) must be a list of strings, item {i + 1} is {_describe(item)}"
    if last_edit is not None and not isinstance(last_edit, str):
        return f"field 5 (last_edit) must be a string or null, got {_describe(last_edit)}"
    if length is not None and (isinstance(length, bool) or not isinstance(length, int)):
        return f"field 6 (text_length) must be an integer or null, got {_describe(length)}"
    return None


BLOCK = 1 << 24  # bytes read at a time (16 MB): lines are split in bulk, not one call per line


class _Source:
    """The bytes of a plain or gzip file, read in blocks, hashed as they come off the disk.

    ``done``/``size`` give progress in bytes of the file on disk; ``sha256``
    is the file's checksum once it has been read to the end.
    """

    def __init__(self, path: Path):
        self.path = path
        try:
            self.raw = open(path, "rb")  # noqa: SIM115 - closed in close()
        except FileNotFoundError:
            raise CorpusError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise CorpusError(f"{path}: is a directory, expected a records file") from None
        except OSError as err:
            raise CorpusError(f"{path}: cannot read ({err.strerror})") from None
        self.size = max(1, path.stat().st_size)
        self.digest = hashlib.sha256()
        self.gzip = self.raw.peek(2)[:2] == b"\x1f\x8b"
        self.reader = gzip.GzipFile(fileobj=self, mode="rb") if self.gzip else self

    @property
    def done(self) -> int:
        return self.raw.tell()

    @property
    def sha256(self) -> str:
        return self.digest.hexdigest()

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.digest.update(data)
        return data

    def lines(self) -> Iterator[list[bytes]]:
        """Blocks of complete lines (without their line ends)."""
        rest = b""
        n = 0
        try:
            while True:
                block = self.reader.read(BLOCK)
                if not block:
                    break
                lines = (rest + block).split(b"\n")
                rest = lines.pop()
                n += len(lines)
                yield lines
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as err:
            detail = "truncated" if isinstance(err, EOFError) else "corrupt"
            raise CorpusError(f"{self.path.name}: {detail} gzip data after line {n} ({err})") from None
        if rest:
            yield [rest]

    def close(self) -> None:
        self.raw.close()


@dataclass
class _Parsed:
    """What reading NDJSON keeps: flat columns, no object per record.

    ``links`` holds every wikilink of every kept record, in order, as Arrow
    string chunks; ``offsets[i]:offsets[i + 1]`` are book i's.
    """

    titles: list[str] = field(default_factory=list)
    metadata: dict[str, list] = field(default_factory=lambda: {c: [] for c in METADATA_FIELDS})
    link_chunks: list = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    checksum: str = ""


def _iter_values(source: _Source, name: str, report: LoadReport, skip_bad_lines: bool,
                 progress: Callable[[int, int], object] | None) -> Iterator[tuple[int, list]]:
    """Valid records of an NDJSON source as (line number, value), duplicates of a title skipped.

    Every record is checked (``_check_record``); the first bad one raises a
    one-line ``CorpusError`` unless ``skip_bad_lines``.
    """
    import orjson

    def bad(lineno: int, message: str) -> None:
        if not skip_bad_lines:
            raise CorpusError(f"line {lineno} of {name}: {message}")
        report.n_skipped += 1
        if len(report.skipped) < MAX_REPORTED:
            report.skipped.append((lineno, message))

    first_line: dict[str, int] = {}
    lineno = n_nonblank = 0
    for block in source.lines():
        for raw in block:
            lineno += 1
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if b"\x00" in raw:
                if not skip_bad_lines or lineno == 1:
                    raise CorpusError(f"line {lineno} of {name}: binary data, not UTF-8 JSON text")
                bad(lineno, "binary data")
                continue
            raw = raw.strip()
            if not raw:
                continue
            n_nonblank += 1
            try:
                value = orjson.loads(raw)
            except orjson.JSONDecodeError as err:
                bad(lineno, _json_problem(raw, err))
                continue
            problem = _check_record(value)
            if problem:
                bad(lineno, problem)
                continue
            title = value[0].strip()
            if title in first_line:
                report.n_duplicates += 1
                if len(report.duplicates) < MAX_REPORTED:
                    report.duplicates.append((title, lineno, first_line[title]))
                continue
            first_line[title] = lineno
            value[0] = title
            yield lineno, value
        if progress is not None:
            progress(source.done, source.size)
    if n_nonblank == 0:
        raise CorpusError(f"{name}: empty file, no records")
    if not first_line:
        raise CorpusError(f"{name}: no valid records ({report.n_skipped} bad line(s), first: line "
                          f"{report.skipped[0][0]}: {report.skipped[0][1]})")
    report.n_records = len(first_line)


def _json_problem(raw: bytes, err: Exception) -> str:
    """Why a line is not JSON, in the words of Python's own parser (line and column), in one line."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as bad_text:
        return f"not UTF-8 text (byte {bad_text.start + 1})"
    try:
        json.loads(text)
    except json.JSONDecodeError as json_err:
        return f"malformed JSON ({json_err.msg} at column {json_err.colno})"
    except RecursionError:
        return "malformed JSON (nested too deeply)"
    # orjson refuses what Python's parser accepts: nesting deeper than 1024 levels, NaN
    return f"malformed JSON ({str(err).splitlines()[0]})"


def read_records(path: str | Path, *, skip_bad_lines: bool = False) -> tuple[list[Record], LoadReport]:
    """Parse a Wikipedia-books NDJSON file (plain or gzip) into ``Record`` objects.

    For looking at records; training reads files through ``load_corpus``,
    which keeps no object per record.

    Parameters
    ----------
    path : str or Path
        The records file.
    skip_bad_lines : bool
        Skip malformed lines and list them in the report instead of failing
        on the first one.

    Returns
    -------
    records : list of Record
        Valid records in file order, duplicates of an earlier title removed.
    report : LoadReport
        Skipped lines and duplicate titles.

    Raises
    ------
    CorpusError
        One line naming the file and the line: bad JSON, a record that is not
        a 6-field list, wrong field types, binary or empty input, truncated gzip.
    """
    path = Path(path)
    report = LoadReport(source=path.name)
    source = _Source(path)
    try:
        records = [Record(v[0], v[1], tuple(v[2]), n) for n, v in _iter_values(source, path.name, report,
                                                                                  skip_bad_lines, None)]
    finally:
        source.close()
    return records, report


def _parse_ndjson(path: Path, config: CleaningConfig, report: LoadReport, skip_bad_lines: bool,
                  progress: Callable[[int, int], object] | None) -> _Parsed:
    """Stream an NDJSON file into flat columns: titles, metadata, links (Arrow), per-book link counts.

    Memory holds the titles, the metadata and the links as Arrow strings,
    never a Python object per record or per link for long: links are moved
    into Arrow every ``1 << 20`` of them.
    """
    import pyarrow as pa

    out = _Parsed()
    pending: list[str] = []
    source = _Source(path)
    try:
        for _, value in _iter_values(source, path.name, report, skip_bad_lines, progress):
            title = value[0]
            if any(s in title for s in config.drop_title_substrings):
                report.dropped_titles += 1
                continue
            out.titles.append(title)
            for column, cell in book_metadata(value[1]).items():
                out.metadata[column].append(cell)
            pending.extend(value[2])
            out.counts.append(len(value[2]))
            if len(pending) >= 1 << 20:
                out.link_chunks.append(pa.array(pending, type=pa.large_string()))
                pending = []
        out.link_chunks.append(pa.array(pending, type=pa.large_string()))
        out.checksum = source.sha256
    finally:
        source.close()
    return out


def file_checksum(*paths: str | Path) -> str:
    """SHA-256 over the bytes of the given files, in order."""
    digest = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------- cleaning


def _link_keys(raw, config: CleaningConfig) -> tuple[np.ndarray, list[str]]:
    """Each raw link's cleaned key id (-1 when dropped), and the keys.

    Links are compared stripped and (by default) lowercased; empty ones and
    ``remove_links`` are dropped. The rule runs once per distinct raw string
    (Python's own ``str.strip``/``str.lower``), then spreads to every link
    through Arrow's dictionary encoding.

    Parameters
    ----------
    raw : pyarrow Array or ChunkedArray of strings, length n_raw

    Returns
    -------
    codes : ndarray of int32, shape (n_raw,)
    keys : list of str
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    removed = frozenset(link.lower() for link in config.remove_links)
    encoded = pc.dictionary_encode(raw)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.unify_dictionaries().combine_chunks() if encoded.num_chunks else pa.array([], pa.dictionary(pa.int32(), pa.large_string()))
    key_of: dict[str, int] = {}
    keys: list[str] = []
    unique_code = np.empty(len(encoded.dictionary), dtype=np.int32)
    for i, text in enumerate(encoded.dictionary.to_pylist()):
        text = text.strip()
        folded = text.lower()
        if not text or folded in removed:
            unique_code[i] = -1
            continue
        key = folded if config.lowercase_links else text
        unique_code[i] = key_of.setdefault(key, len(keys))
        if unique_code[i] == len(keys):
            keys.append(key)
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    return unique_code[indices] if len(indices) else np.empty(0, np.int32), keys


def build_corpus(
    titles: list[str],
    link_book: np.ndarray,
    raw_links,
    metadata: pd.DataFrame,
    *,
    config: CleaningConfig,
    source: str,
    checksum: str,
    report: LoadReport,
) -> Corpus:
    """Apply the link rules and index books, links and pairs, in bulk.

    Parameters
    ----------
    titles : list of str, length n_books
    link_book : ndarray of int, shape (n_raw,)
        The book of each raw link.
    raw_links : pyarrow Array or ChunkedArray of str, length n_raw
        Links as written in the input (cleaned here: see ``_link_keys``).
    metadata : DataFrame, shape (n_books, len(METADATA_FIELDS))

    Costs: O(n_raw) for the links, plus a sort of the (book, link) keys,
    O(n_pairs log n_pairs), and of the kept links by count.
    """
    n = len(titles)
    codes, keys = _link_keys(raw_links, config)
    keep = codes >= 0
    # unique (book, link) pairs, sorted by book then link key
    pair_keys = unique_keys(np.asarray(link_book)[keep].astype(np.int64) * max(1, len(keys)) + codes[keep])
    books, links = np.divmod(pair_keys, max(1, len(keys)))
    # Dropping a book can take a link below min_link_count, which can take
    # another book below min_book_links: repeat until both rules hold. With
    # min_book_links=1 the dropped books had no kept link, so one pass is stable.
    active = np.ones(n, dtype=bool)
    while True:
        in_play = active[books]
        counts = np.bincount(links[in_play], minlength=len(keys))
        kept_link = counts >= config.min_link_count
        per_book = np.bincount(books[in_play & kept_link[links]], minlength=n)
        still = active & (per_book >= config.min_book_links)
        if np.array_equal(still, active):
            break
        active = still
    kept = sorted(np.flatnonzero(kept_link).tolist(), key=lambda j: (-int(counts[j]), keys[j]))
    keep_books = np.flatnonzero(active)
    report.dropped_books = n - len(keep_books)
    if not len(keep_books) or not kept:
        raise CorpusError(
            f"{source}: nothing left to train on after cleaning: {n} book(s), "
            f"{len(kept)} link(s) found in at least {config.min_link_count} books "
            f"(lower --min-link-count?)"
        )
    new_link = np.full(len(keys), -1, dtype=np.int64)
    new_link[kept] = np.arange(len(kept))
    new_book = np.full(n, -1, dtype=np.int64)
    new_book[keep_books] = np.arange(len(keep_books))
    chosen = active[books] & (new_link[links] >= 0)
    pair_books = new_book[books[chosen]].astype(np.int32)
    pair_links = new_link[links[chosen]].astype(np.int32)
    order = np.lexsort((pair_links, pair_books))
    pair_books, pair_links = pair_books[order], pair_links[order]
    lengths = np.bincount(pair_books, minlength=len(keep_books))
    # books whose links all fell out of the vocabulary are dropped: recount links
    link_counts = np.bincount(pair_links, minlength=len(kept)).astype(np.int64)

    frame = metadata.iloc[keep_books].reset_index(drop=True)
    frame.insert(0, "title", [titles[i] for i in keep_books])
    frame["n_links"] = lengths.astype(np.int64)
    return Corpus(
        books=frame,
        links=tuple(keys[j] for j in kept),
        link_counts=link_counts,
        pair_books=pair_books,
        pair_links=pair_links,
        source=source,
        checksum=checksum,
        config=config,
        report=report,
    )


def _metadata_frame(columns: dict[str, list] | list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(columns, columns=list(METADATA_FIELDS))
    for col in ("year", "pages"):
        frame[col] = pd.array(frame[col], dtype="Int64")
    for col in METADATA_FIELDS:
        if col not in ("year", "pages"):
            frame[col] = frame[col].fillna("").astype(str)
    return frame


# ---------------------------------------------------------------- pairs tables

_ITEM_COLUMNS = ("item", "title", "book", "entity", "name")
_LINK_COLUMNS = ("link", "target", "wikilink", "feature")


def _read_table(path: Path) -> pd.DataFrame:
    suffixes = "".join(path.suffixes[-2:]).lower()
    try:
        if suffixes.endswith(".parquet") or suffixes.endswith(".pq"):
            return pd.read_parquet(path)
        sep = "\t" if ".tsv" in suffixes else ","
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except FileNotFoundError:
        raise CorpusError(f"{path}: no such file") from None
    except UnicodeDecodeError as err:
        raise CorpusError(f"{path.name}: not UTF-8 text (byte {err.start + 1})") from None
    except pd.errors.EmptyDataError:
        raise CorpusError(f"{path.name}: empty file, no rows") from None
    except pd.errors.ParserError as err:
        raise CorpusError(f"{path.name}: cannot parse as CSV ({str(err).splitlines()[0]})") from None
    except Exception as err:  # pyarrow raises several unrelated types for bad Parquet
        raise CorpusError(f"{path.name}: cannot read table ({type(err).__name__}: {str(err).splitlines()[0]})") from None


def _pick(columns: list[str], wanted: tuple[str, ...]) -> str | None:
    lower = {str(c).strip().lower(): c for c in columns}
    for w in wanted:
        if w in lower:
            return lower[w]
    return None


def read_pairs_table(path: str | Path) -> tuple[list[str], np.ndarray, object, LoadReport]:
    """Read an (item, link) table: CSV, TSV or Parquet.

    The item column is named one of ``item, title, book, entity, name`` and the
    link column one of ``link, target, wikilink, feature``; otherwise the first
    two columns are used.

    Returns
    -------
    titles : list of str
        Items in order of first appearance.
    link_book : ndarray of int64, shape (n_rows,)
        Each row's item, as a position in ``titles``.
    links : pyarrow Array of str, shape (n_rows,)
    report : LoadReport
    """
    path = Path(path)
    frame = _read_table(path)
    if len(frame.columns) < 2:
        raise CorpusError(f"{path.name}: expected two columns (item, link), found {list(frame.columns)}")
    item_col = _pick(list(frame.columns), _ITEM_COLUMNS) or frame.columns[0]
    link_col = _pick(list(frame.columns), _LINK_COLUMNS) or frame.columns[1]
    if len(frame) == 0:
        raise CorpusError(f"{path.name}: no rows")
    items = frame[item_col].astype("string").fillna("").str.strip()
    links = frame[link_col].astype("string").fillna("").str.strip()
    for col, values in ((item_col, items), (link_col, links)):
        empty = np.flatnonzero((values == "").to_numpy())
        if len(empty):
            # +2: one for the header row, one because rows count from 1
            raise CorpusError(f"row {int(empty[0]) + 2} of {path.name}: empty value in column {col!r}")
    import pyarrow as pa

    link_book, titles = pd.factorize(items, sort=False)
    report = LoadReport(source=path.name, n_records=len(titles))
    return [str(t) for t in titles], link_book.astype(np.int64), pa.array(links.to_numpy(dtype=object),
                                                                          type=pa.large_string()), report


def read_metadata_table(path: str | Path, titles: list[str]) -> pd.DataFrame:
    """Metadata rows for ``titles`` from a table keyed by item; missing rows are blank."""
    path = Path(path)
    frame = _read_table(path)
    key = _pick(list(frame.columns), _ITEM_COLUMNS)
    if key is None:
        raise CorpusError(f"{path.name}: no item column (one of {', '.join(_ITEM_COLUMNS)}) to key the metadata")
    frame = frame.drop_duplicates(subset=[key], keep="first").set_index(key)
    lower = {str(c).strip().lower(): c for c in frame.columns}
    rows = []
    for title in titles:
        row: dict[str, object] = {}
        present = title in frame.index
        for col in METADATA_FIELDS:
            src = lower.get(col)
            value = frame.at[title, src] if (present and src is not None) else None
            # Parquet gives NaN, None or pd.NA for a missing value (nullable dtypes)
            row[col] = None if value is None or (np.ndim(value) == 0 and pd.isna(value)) else value
        row["year"] = parse_year(str(row["year"])) if row["year"] not in (None, "") else None
        row["pages"] = parse_pages(str(row["pages"])) if row["pages"] not in (None, "") else None
        for col in ("author", "genre", "country", "language", "publisher", "primary_genre"):
            # the same plain-text cleaning as infobox values get
            row[col] = "" if row[col] is None else clean_text(row[col])
        if not row["primary_genre"]:
            row["primary_genre"] = primary_genre(row["genre"])
        rows.append(row)
    return _metadata_frame(rows)


# ---------------------------------------------------------------- entry point


def is_pairs_table(path: str | Path) -> bool:
    """True for CSV/TSV/Parquet inputs (the generic pairs form)."""
    name = str(path).lower()
    return name.endswith((".csv", ".tsv", ".parquet", ".pq", ".csv.gz", ".tsv.gz"))


def load_corpus(
    source: str | Path,
    *,
    config: CleaningConfig | None = None,
    skip_bad_lines: bool = False,
    metadata: str | Path | None = None,
    progress: Callable[[int, int], object] | None = None,
    on_stage: Callable[[str, str], object] | None = None,
) -> Corpus:
    """Load and clean a corpus from ``"demo"``, an NDJSON(.gz) file or a pairs table.

    NDJSON is streamed: parsed in 16 MB blocks with orjson, each record
    checked, its metadata extracted and its links moved into Arrow strings,
    so memory holds flat columns rather than an object per record. Cleaning
    then runs in bulk (``build_corpus``).

    Parameters
    ----------
    source : str or Path
        ``"demo"`` for the shipped classics corpus, a Wikipedia-books NDJSON
        file (plain or gzip), or a CSV/TSV/Parquet table of (item, link) pairs.
    config : CleaningConfig, optional
        Cleaning rules; the seed project's by default.
    skip_bad_lines : bool
        For NDJSON: skip malformed lines (reported) instead of failing.
    metadata : str or Path, optional
        For pairs tables: a CSV/Parquet metadata table keyed by item.
    progress : callable, optional
        For NDJSON: ``progress(bytes_read, bytes_total)`` after every block.
    on_stage : callable, optional
        ``on_stage("cleaning", detail)`` once the records are read, before cleaning starts.

    Returns
    -------
    Corpus
    """
    import pyarrow as pa

    config = config or CleaningConfig()
    if str(source) == DEMO:
        path, label = DEMO_PATH, DEMO
    else:
        path, label = Path(source), str(source)
    if is_pairs_table(path):
        titles, link_book, raw, report = read_pairs_table(path)
        dropped = np.array([any(s in t for s in config.drop_title_substrings) for t in titles], dtype=bool)
        report.dropped_titles = int(dropped.sum())
        if dropped.any():
            new_id = np.cumsum(~dropped) - 1
            rows = ~dropped[link_book]
            titles = [t for t, d in zip(titles, dropped) if not d]
            link_book, raw = new_id[link_book[rows]], raw.filter(pa.array(rows))
        if metadata is not None:
            meta = read_metadata_table(metadata, titles)
            checksum = file_checksum(path, metadata)
        else:
            meta = _metadata_frame({col: [None] * len(titles) for col in METADATA_FIELDS})
            checksum = file_checksum(path)
        if on_stage is not None:
            on_stage("cleaning", f"{len(titles):,} items, {len(raw):,} raw links")
        return build_corpus(titles, link_book, raw, meta, config=config, source=label, checksum=checksum,
                            report=report)
    report = LoadReport(source=path.name)
    parsed = _parse_ndjson(path, config, report, skip_bad_lines, progress)
    link_book = np.repeat(np.arange(len(parsed.titles), dtype=np.int64), np.asarray(parsed.counts, dtype=np.int64))
    if on_stage is not None:
        on_stage("cleaning", f"{len(parsed.titles):,} records, {len(link_book):,} raw links")
    return build_corpus(parsed.titles, link_book, pa.chunked_array(parsed.link_chunks, type=pa.large_string()),
                        _metadata_frame(parsed.metadata), config=config, source=label, checksum=parsed.checksum,
                        report=report)
