"""Records in: the Wikipedia-books NDJSON reader, and what loading reports.

A records file (plain or gzip) holds one JSON list per line,
``[title, infobox, wikilinks, external_links, last_edit, text_length]``.
It is read in 16 MB blocks, hashed as it comes off the disk, and every record
is checked; the first bad one raises ``CorpusError`` with one line naming the
file and the line (or, with ``skip_bad_lines``, is listed in the
``LoadReport``). ``read_records`` gives ``Record`` objects for looking at
records; ``corpus.load_corpus`` reads through ``_parse_ndjson``, which keeps
flat columns rather than an object per record.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pandas as pd

from bookembed.errors import CorpusError, open_input
from bookembed.metadata import METADATA_FIELDS, book_metadata

RECORD_FIELDS = ("title", "infobox", "wikilinks", "external_links", "last_edit", "text_length")
MAX_REPORTED = 20  # bad lines / duplicates listed by name; the rest are counted


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

MAX_RECORD_BYTES = 16 << 20
"""The longest records line read: a record (a title, an infobox and a book's links) is far shorter
(the longest of the 1,413 real records in p15 is 15 KB)."""
MAX_GZIP_RATIO = 20
GZIP_FLOOR_BYTES = 64 << 20
"""A gzip records file may inflate to ``MAX_GZIP_RATIO`` times its size, or this much if more: NDJSON text
compresses a few times over (p15: 3.8 times), and only a decompression bomb reaches twenty."""


class _Source:
    """The bytes of a plain or gzip file, read in blocks, hashed as they come off the disk.

    ``done``/``size`` give progress in bytes of the file on disk; ``sha256``
    is the file's checksum once it has been read to the end.
    """

    def __init__(self, path: Path):
        self.path = path
        self.raw = open_input(path, CorpusError, "a records file")  # closed in close()
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
        """Blocks of complete lines (without their line ends).

        A gzip file that inflates past ``MAX_GZIP_RATIO`` times its size (a
        decompression bomb), or a line longer than ``MAX_RECORD_BYTES``, stops
        with a one-line ``CorpusError`` before memory grows with it.
        """
        limit = max(GZIP_FLOOR_BYTES, MAX_GZIP_RATIO * self.size) if self.gzip else None
        rest = b""
        n = inflated = 0
        try:
            while True:
                block = self.reader.read(BLOCK)
                if not block:
                    break
                inflated += len(block)
                if limit is not None and inflated > limit:
                    raise CorpusError(f"{self.path.name}: refused: it inflates past {limit:,} bytes, more than "
                                      f"{MAX_GZIP_RATIO} times its compressed size, which records never do "
                                      "(a decompression bomb)")
                lines = (rest + block).split(b"\n")
                rest = lines.pop()
                if len(rest) > MAX_RECORD_BYTES:
                    raise CorpusError(f"line {n + len(lines) + 1} of {self.path.name}: longer than "
                                      f"{MAX_RECORD_BYTES >> 20} MiB, not a record")
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


def check_records(path: str | Path, name: str | None = None) -> str | None:
    """The first problem of a records file, as ``read_records`` would report it (one line), or None.

    Reads every record once without keeping any (memory stays flat), so a
    download can check what it saved before it replaces anything.
    ``name`` is the file name the message uses (default: the file's own).
    """
    path = Path(path)
    name = name or path.name
    try:
        source = _Source(path)
    except CorpusError as err:
        return str(err)
    try:
        for _ in _iter_values(source, name, LoadReport(source=name), False, None):
            pass
    except CorpusError as err:
        return str(err)
    finally:
        source.close()
    return None


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


def _parse_ndjson(path: Path, drop_title_substrings: tuple[str, ...], report: LoadReport,
                  skip_bad_lines: bool, progress: Callable[[int, int], object] | None) -> _Parsed:
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
            if any(s in title for s in drop_title_substrings):
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


def books_metadata_frame(columns: dict[str, list] | list[dict]) -> pd.DataFrame:
    """The books' metadata columns (``METADATA_FIELDS``): year and pages as nullable integers, the rest text."""
    frame = pd.DataFrame(columns, columns=list(METADATA_FIELDS))
    for col in ("year", "pages"):
        frame[col] = pd.array(frame[col], dtype="Int64")
    for col in METADATA_FIELDS:
        if col not in ("year", "pages"):
            frame[col] = frame[col].fillna("").astype(str)
    return frame
