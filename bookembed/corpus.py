"""Records in, a ``Corpus`` out: the books table, the link vocabulary and the (book, link) pairs.

Two inputs feed the same pipeline:

* Wikipedia-books NDJSON (plain or gzip): one JSON list per line,
  ``[title, infobox, wikilinks, external_links, last_edit, text_length]``;
* a generic table of (item, link) pairs, CSV or Parquet, with an optional
  metadata table keyed by item.

Every problem with the input raises ``CorpusError`` with one line that names
the file and the line, row or field at fault.
Reading is in ``records`` (NDJSON) and ``pairstable`` (tables); the cleaning
rules (``CleaningConfig``, ``build_corpus``) and ``load_corpus`` are here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from bookembed.errors import CorpusError
from bookembed.graph import LinkGraph, unique_keys
from bookembed.metadata import METADATA_FIELDS
from bookembed.pairstable import is_pairs_table, read_metadata_table, read_pairs_table
from bookembed.records import (  # noqa: F401  (re-exported: they were defined here)
    MAX_REPORTED,
    RECORD_FIELDS,
    LoadReport,
    Record,
    books_metadata_frame,
    _parse_ndjson,
    file_checksum,
    read_records,
)
from bookembed.settings import problems as check_settings, setting

DEMO = "demo"
DEMO_PATH = Path(__file__).resolve().parent / "data" / "classics.ndjson"


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
    # a pairs table's links come dictionary-encoded already (``pairstable``): used as they are, not copied
    encoded = raw if isinstance(raw, pa.DictionaryArray) else pc.dictionary_encode(raw)
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


KEY_CHUNK = 1 << 22
"""Rows keyed at once by ``_keyed``: its temporaries stay a few tens of MB whatever the corpus."""


def _keyed(first: np.ndarray, second: np.ndarray, keep: np.ndarray, span: int, first_map: np.ndarray | None = None,
           second_map: np.ndarray | None = None) -> np.ndarray:
    """``first * span + second`` (each optionally renumbered by its map) as int64, for the rows ``keep`` marks.

    Written chunk by chunk into one array, so memory holds the 8-byte keys and
    nothing the size of the rows besides.
    """
    out = np.empty(int(np.count_nonzero(keep)), dtype=np.int64)
    written = 0
    for start in range(0, len(first), KEY_CHUNK):
        rows = keep[start:start + KEY_CHUNK]
        a, b = first[start:start + KEY_CHUNK][rows], second[start:start + KEY_CHUNK][rows]
        part = (first_map[a] if first_map is not None else a).astype(np.int64)
        part *= span
        part += second_map[b] if second_map is not None else b
        out[written:written + len(part)] = part
        written += len(part)
    return out


def build_corpus(
    titles,
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
    titles : list of str or pyarrow Array of str, length n_books
    link_book : ndarray of int, shape (n_raw,)
        The book of each raw link.
    raw_links : pyarrow Array or ChunkedArray of str, length n_raw, or tuple
        Links as written in the input (cleaned here: see ``_link_keys``), or
        ``_link_keys``'s result already, so the caller can drop the raw links
        before the pairs are keyed.
    metadata : DataFrame, shape (n_books, len(METADATA_FIELDS))

    Costs: O(n_raw) for the links, plus a sort of the (book, link) keys,
    O(n_pairs log n_pairs), and of the kept links by count.
    """
    import pyarrow as pa

    n = len(titles)
    codes, keys = _link_keys(raw_links, config) if not isinstance(raw_links, tuple) else raw_links
    keep = codes >= 0
    # unique (book, link) pairs, sorted by book then link key: one int64 key a row, worked in place
    span = max(1, len(keys))
    pair_keys = _keyed(np.asarray(link_book), codes, keep, span)
    del keep, codes
    pair_keys = unique_keys(pair_keys, overwrite=True)
    # int32 results straight from the int64 keys: numpy casts chunk by chunk, no int64 temporary
    books = np.empty(len(pair_keys), dtype=np.int32)
    links = np.empty(len(pair_keys), dtype=np.int32)
    np.floor_divide(pair_keys, span, out=books, casting="unsafe")
    np.remainder(pair_keys, span, out=links, casting="unsafe")
    del pair_keys
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
    # sorted by book then link id: one sort of int64 keys (books are already in order, links renumbered)
    ordered = _keyed(books, links, chosen, max(1, len(kept)), new_book, new_link)
    del books, links, chosen
    ordered.sort()
    pair_books = np.empty(len(ordered), dtype=np.int32)
    pair_links = np.empty(len(ordered), dtype=np.int32)
    np.floor_divide(ordered, max(1, len(kept)), out=pair_books, casting="unsafe")
    np.remainder(ordered, max(1, len(kept)), out=pair_links, casting="unsafe")
    del ordered
    lengths = np.bincount(pair_books, minlength=len(keep_books))
    # books whose links all fell out of the vocabulary are dropped: recount links
    link_counts = np.bincount(pair_links, minlength=len(kept)).astype(np.int64)

    frame = metadata.iloc[keep_books].reset_index(drop=True)
    # titles from an Arrow array stay Arrow strings (pandas' str dtype): no Python object per book
    frame.insert(0, "title", titles.take(pa.array(keep_books)).to_pandas() if isinstance(titles, pa.Array)
                 else [titles[i] for i in keep_books])
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


# ---------------------------------------------------------------- entry point


def _dropped_titles(titles, substrings) -> np.ndarray:
    """Which of ``titles`` (an Arrow array of str) hold one of ``substrings``: Arrow's kernel, no Python loop."""
    import pyarrow.compute as pc

    dropped = np.zeros(len(titles), dtype=bool)
    for text in substrings:
        dropped |= pc.match_substring(titles, text).to_numpy(zero_copy_only=False)
    return dropped


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
        dropped = _dropped_titles(titles, config.drop_title_substrings)
        report.dropped_titles = int(dropped.sum())
        if dropped.any():
            new_id = (np.cumsum(~dropped) - 1).astype(np.int32)
            rows = ~dropped[link_book]
            titles = titles.filter(pa.array(~dropped))
            link_book, raw = new_id[link_book[rows]], raw.filter(pa.array(rows))
        if metadata is not None:
            meta = read_metadata_table(metadata, titles)
            checksum = file_checksum(path, metadata)
        else:
            meta = books_metadata_frame({col: np.full(len(titles), None, dtype=object) for col in METADATA_FIELDS})
            checksum = file_checksum(path)
        if on_stage is not None:
            on_stage("cleaning", f"{len(titles):,} items, {len(raw):,} raw links")
        link_keys = _link_keys(raw, config)
        del raw  # 4 bytes a row, no longer needed once each row has its key
        return build_corpus(titles, link_book, link_keys, meta, config=config, source=label, checksum=checksum,
                            report=report)
    report = LoadReport(source=path.name)
    parsed = _parse_ndjson(path, config.drop_title_substrings, report, skip_bad_lines, progress)
    link_book = np.repeat(np.arange(len(parsed.titles), dtype=np.int64), np.asarray(parsed.counts, dtype=np.int64))
    if on_stage is not None:
        on_stage("cleaning", f"{len(parsed.titles):,} records, {len(link_book):,} raw links")
    return build_corpus(parsed.titles, link_book, pa.chunked_array(parsed.link_chunks, type=pa.large_string()),
                        books_metadata_frame(parsed.metadata), config=config, source=label, checksum=parsed.checksum,
                        report=report)
