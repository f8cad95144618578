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
from typing import Iterable, Iterator

import numpy as np
import pandas as pd

from bookembed.errors import CorpusError
from bookembed.graph import LinkGraph
from bookembed.metadata import METADATA_FIELDS, book_metadata, clean_text, parse_pages, parse_year, primary_genre

DEMO = "demo"
DEMO_PATH = Path(__file__).resolve().parent / "data" / "classics.ndjson"
RECORD_FIELDS = ("title", "infobox", "wikilinks", "external_links", "last_edit", "text_length")
MAX_REPORTED = 20  # bad lines / duplicates listed by name; the rest are counted


@dataclass(frozen=True)
class CleaningConfig:
    """How records become pairs; the defaults are the seed project's rules.

    Attributes
    ----------
    drop_title_substrings : tuple of str
        Records whose title contains one of these are dropped.
    lowercase_links : bool
        Compare and store links lowercased.
    remove_links : tuple of str
        Links dropped outright (compared lowercased).
    min_link_count : int
        Keep links found in at least this many books (counted once per book).
    min_book_links : int
        Keep books with at least this many kept links; a book with none would
        get an untrained, meaningless vector.
    """

    drop_title_substrings: tuple[str, ...] = ("Wikipedia:",)
    lowercase_links: bool = True
    remove_links: tuple[str, ...] = (
        "hardcover",
        "paperback",
        "hardback",
        "e-book",
        "wikipedia:wikiproject books",
        "wikipedia:wikiproject novels",
    )
    min_link_count: int = 4
    min_book_links: int = 1

    def __post_init__(self) -> None:
        if self.min_link_count < 1:
            raise CorpusError(f"min_link_count must be at least 1, got {self.min_link_count}")
        if self.min_book_links < 1:
            raise CorpusError(f"min_book_links must be at least 1, got {self.min_book_links}")


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
        for i, item in enumerate(seq):
            if not isinstance(item, str):
                return f"field {pos} ({name}) must be a list of strings, item {i + 1} is {_describe(item)}"
    if last_edit is not None and not isinstance(last_edit, str):
        return f"field 5 (last_edit) must be a string or null, got {_describe(last_edit)}"
    if length is not None and (isinstance(length, bool) or not isinstance(length, int)):
        return f"field 6 (text_length) must be an integer or null, got {_describe(length)}"
    return None


def _raw_lines(path: Path) -> Iterator[bytes]:
    """Lines of a plain or gzip file as bytes; gzip is detected by its magic number."""
    name = path.name
    try:
        with open(path, "rb") as fh:
            magic = fh.read(2)
    except FileNotFoundError:
        raise CorpusError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CorpusError(f"{path}: is a directory, expected a records file") from None
    except OSError as err:
        raise CorpusError(f"{path}: cannot read ({err.strerror})") from None
    if magic != b"\x1f\x8b":
        with open(path, "rb") as fh:
            yield from fh
        return
    n = 0
    try:
        with gzip.open(path, "rb") as fh:
            for n, line in enumerate(fh, 1):  # noqa: B007
                yield line
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as err:
        detail = "truncated" if isinstance(err, EOFError) else "corrupt"
        raise CorpusError(f"{name}: {detail} gzip data after line {n} ({err})") from None


def read_records(path: str | Path, *, skip_bad_lines: bool = False) -> tuple[list[Record], LoadReport]:
    """Parse a Wikipedia-books NDJSON file (plain or gzip).

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
    name = path.name
    report = LoadReport(source=name)
    records: list[Record] = []
    first_line: dict[str, int] = {}

    def bad(lineno: int, message: str) -> None:
        if not skip_bad_lines:
            raise CorpusError(f"line {lineno} of {name}: {message}")
        report.n_skipped += 1
        if len(report.skipped) < MAX_REPORTED:
            report.skipped.append((lineno, message))

    n_nonblank = 0
    for lineno, raw in enumerate(_raw_lines(path), 1):
        if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if b"\x00" in raw:
            if not skip_bad_lines or lineno == 1:
                raise CorpusError(f"line {lineno} of {name}: binary data, not UTF-8 JSON text")
            bad(lineno, "binary data")
            continue
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError as err:
            bad(lineno, f"not UTF-8 text (byte {err.start + 1})")
            continue
        if not text:
            continue
        n_nonblank += 1
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            bad(lineno, f"malformed JSON ({err.msg} at column {err.colno})")
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
        records.append(Record(title, value[1], tuple(value[2]), lineno))

    if n_nonblank == 0:
        raise CorpusError(f"{name}: empty file, no records")
    if not records:
        raise CorpusError(f"{name}: no valid records ({report.n_skipped} bad line(s), first: line "
                          f"{report.skipped[0][0]}: {report.skipped[0][1]})")
    report.n_records = len(records)
    return records, report


def file_checksum(*paths: str | Path) -> str:
    """SHA-256 over the bytes of the given files, in order."""
    digest = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------- cleaning


def _clean_links(links: Iterable[str], config: CleaningConfig, removed: frozenset[str]) -> list[str]:
    out: dict[str, None] = {}
    for link in links:
        link = link.strip()
        if not link:
            continue
        key = link.lower() if config.lowercase_links else link
        if link.lower() in removed:
            continue
        out.setdefault(key, None)
    return list(out)


def build_corpus(
    titles: list[str],
    book_links: list[list[str]],
    metadata: pd.DataFrame,
    *,
    config: CleaningConfig,
    source: str,
    checksum: str,
    report: LoadReport,
) -> Corpus:
    """Apply the link rules and index books, links and pairs.

    ``book_links[i]`` are the already-cleaned, per-book-unique links of
    ``titles[i]``; ``metadata`` has one row per title with ``METADATA_FIELDS``.
    """
    # Dropping a book can take a link below min_link_count, which can take
    # another book below min_book_links: repeat until both rules hold. With
    # min_book_links=1 the dropped books had no kept link, so one pass is stable.
    active = list(range(len(book_links)))
    while True:
        counts: dict[str, int] = {}
        for i in active:
            for link in book_links[i]:
                counts[link] = counts.get(link, 0) + 1
        kept_set = {link for link, c in counts.items() if c >= config.min_link_count}
        still = [i for i in active if sum(link in kept_set for link in book_links[i]) >= config.min_book_links]
        if len(still) == len(active):
            break
        active = still
    kept = sorted(kept_set, key=lambda link: (-counts[link], link))
    link_index = {link: j for j, link in enumerate(kept)}

    keep_books = []
    per_book: list[list[int]] = []
    for i, links in enumerate(book_links):
        ids = sorted({link_index[link] for link in links if link in link_index})
        if len(ids) >= config.min_book_links:
            keep_books.append(i)
            per_book.append(ids)
    report.dropped_books = len(titles) - len(keep_books)
    if not keep_books or not kept:
        raise CorpusError(
            f"{source}: nothing left to train on after cleaning: {len(titles)} book(s), "
            f"{len(kept)} link(s) found in at least {config.min_link_count} books "
            f"(lower --min-link-count?)"
        )
    lengths = np.fromiter((len(ids) for ids in per_book), dtype=np.int64, count=len(per_book))
    pair_books = np.repeat(np.arange(len(per_book), dtype=np.int32), lengths)
    pair_links = np.fromiter((j for ids in per_book for j in ids), dtype=np.int32, count=int(lengths.sum()))
    # books whose links all fell out of the vocabulary are dropped: recount links
    link_counts = np.bincount(pair_links, minlength=len(kept)).astype(np.int64)

    books = metadata.iloc[keep_books].reset_index(drop=True)
    books.insert(0, "title", [titles[i] for i in keep_books])
    books["n_links"] = lengths
    return Corpus(
        books=books,
        links=tuple(kept),
        link_counts=link_counts,
        pair_books=pair_books,
        pair_links=pair_links,
        source=source,
        checksum=checksum,
        config=config,
        report=report,
    )


def _metadata_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(METADATA_FIELDS))
    for col in ("year", "pages"):
        frame[col] = pd.array(frame[col], dtype="Int64")
    for col in METADATA_FIELDS:
        if col not in ("year", "pages"):
            frame[col] = frame[col].fillna("").astype(str)
    return frame


def corpus_from_records(
    records: list[Record], report: LoadReport, *, config: CleaningConfig, source: str, checksum: str
) -> Corpus:
    """Clean parsed records into a Corpus (see ``CleaningConfig``)."""
    removed = frozenset(link.lower() for link in config.remove_links)
    titles, links, meta = [], [], []
    for rec in records:
        if any(s in rec.title for s in config.drop_title_substrings):
            report.dropped_titles += 1
            continue
        titles.append(rec.title)
        links.append(_clean_links(rec.links, config, removed))
        meta.append(book_metadata(rec.infobox))
    return build_corpus(
        titles, links, _metadata_frame(meta), config=config, source=source, checksum=checksum, report=report
    )


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


def read_pairs_table(path: str | Path) -> tuple[list[str], list[list[str]], LoadReport]:
    """Read an (item, link) table: CSV, TSV or Parquet.

    The item column is named one of ``item, title, book, entity, name`` and the
    link column one of ``link, target, wikilink, feature``; otherwise the first
    two columns are used. Returns titles, raw links per title (file order) and
    a report.
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
    grouped: dict[str, list[str]] = {}
    for item, link in zip(items.tolist(), links.tolist()):
        grouped.setdefault(item, []).append(link)
    report = LoadReport(source=path.name, n_records=len(grouped))
    return list(grouped), list(grouped.values()), report


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
) -> Corpus:
    """Load and clean a corpus from ``"demo"``, an NDJSON(.gz) file or a pairs table.

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

    Returns
    -------
    Corpus
    """
    config = config or CleaningConfig()
    if str(source) == DEMO:
        path, label = DEMO_PATH, DEMO
    else:
        path, label = Path(source), str(source)
    if is_pairs_table(path):
        titles, raw_links, report = read_pairs_table(path)
        removed = frozenset(link.lower() for link in config.remove_links)
        keep = [i for i, t in enumerate(titles) if not any(s in t for s in config.drop_title_substrings)]
        report.dropped_titles = len(titles) - len(keep)
        titles = [titles[i] for i in keep]
        links = [_clean_links(raw_links[i], config, removed) for i in keep]
        if metadata is not None:
            meta = read_metadata_table(metadata, titles)
            checksum = file_checksum(path, metadata)
        else:
            meta = _metadata_frame([{col: None for col in METADATA_FIELDS} for _ in titles])
            checksum = file_checksum(path)
        return build_corpus(titles, links, meta, config=config, source=label, checksum=checksum, report=report)
    records, report = read_records(path, skip_bad_lines=skip_bad_lines)
    return corpus_from_records(records, report, config=config, source=label, checksum=file_checksum(path))
