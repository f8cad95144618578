"""Wikipedia XML dumps to records: the streams of a dump, and the pages in a stream.

A *multistream* dump (``*-pages-articles-multistream.xml.bz2``) is many bz2
streams laid end to end: the first holds ``<mediawiki>`` and ``<siteinfo>``,
each of the next holds about 100 ``<page>`` elements, and the last closes
``</mediawiki>``. Every stream decompresses on its own, so a worker given a
byte range decompresses only that range. The index
(``*-multistream-index.txt.bz2``) lists ``offset:page_id:title`` per page;
without it the streams are found by scanning for bz2 stream headers.

This module finds streams and parses them (plain functions, run on Dask
workers by ``bookembed.dumpjob``). Every problem with the input raises
``DumpError`` with one line naming the file and the byte offset or page.
"""

from __future__ import annotations

import bz2
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator
from xml.etree import ElementTree

from bookembed.errors import DumpError, open_input
from bookembed.wikitext import PageFilter, is_redirect_text, page_record

# "BZh" + block size digit + the first block's magic (pi's digits in BCD). Blocks
# inside a stream are not byte aligned, so byte-aligned matches are stream starts
# or (rarely) chance; each match is confirmed by decompressing from it.
_STREAM_HEADER = re.compile(rb"BZh[1-9]1AY&SY")
_HEADER_LEN = 10
_CHUNK = 1 << 20
# Decoding the start of a block (symbol map, table count, selectors) rejects garbage after a chance
# match; the cost per candidate grows with the bytes fed, so only the first 512 are decoded (docs/data.md).
_VERIFY_BYTES = 512
_EXPORT_ROOT = re.compile(r"\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*<\s*([\w:.-]+)([^>]*)>", re.S)
_EXPORT_NS = re.compile(r"""xmlns\s*=\s*["']http://www\.mediawiki\.org/xml/export-[\d.]+/?["']""")
_FOOTER = "</mediawiki>"


@dataclass(frozen=True)
class StreamCheck:
    """What the index says about one stream: the first page in it."""

    offset: int
    page_id: int
    title: str


@dataclass(frozen=True)
class Partition:
    """A byte range of whole streams, the unit of work of one task.

    ``checks`` are the index's first page of each stream in the range (empty
    when the streams were found by scanning).
    """

    number: int
    start: int
    end: int
    checks: tuple[StreamCheck, ...] = ()


@dataclass(frozen=True)
class DumpSource:
    """What every task needs to read its part of a dump (small: sent with each task).

    Attributes
    ----------
    path : Path
        The dump, absolute: workers on other machines need the same path.
    header : str
        ``<mediawiki ...><siteinfo>...</siteinfo>``, the text every stream of
        pages is parsed inside.
    size : int
        Bytes in the dump.
    multistream : bool
        False for a plain dump: one stream, read from start to end by one worker.
    index : str
        The index's file name, for messages ("" without an index).
    """

    path: Path
    header: str
    size: int
    multistream: bool = True
    index: str = ""


@dataclass(frozen=True)
class DumpLayout:
    """Where the pages of a dump are.

    Attributes
    ----------
    source : DumpSource
        The dump and its ``<siteinfo>`` text.
    namespaces : dict of str to str
        Namespace names of the site (``"category" -> "Category"``).
    streams : list of int
        Byte offsets of the streams that hold pages, ascending.
    checks : dict of int to StreamCheck
        The index's first page per stream offset (empty without an index).
    """

    source: DumpSource
    namespaces: dict[str, str]
    streams: list[int]
    checks: dict[int, StreamCheck]

    @property
    def multistream(self) -> bool:
        return self.source.multistream

    def partitions(self, n: int) -> list[Partition]:
        """Split the streams into at most ``n`` byte ranges of about equal size, in file order."""
        if not self.multistream:
            return [Partition(0, 0, self.source.size)]
        starts = self.streams
        ends = starts[1:] + [self.source.size]
        total = ends[-1] - starts[0]
        n = max(1, min(n, len(starts)))
        parts: list[Partition] = []
        first = 0
        for i in range(len(starts)):
            boundary = starts[0] + total * (len(parts) + 1) / n
            if ends[i] >= boundary or i == len(starts) - 1:
                checks = tuple(self.checks[o] for o in starts[first:i + 1] if o in self.checks)
                parts.append(Partition(len(parts), starts[first], ends[i], checks))
                first = i + 1
        return parts


@dataclass
class PartCounts:
    """What one partition held; added up into the job's summary."""

    pages: int = 0
    kept: int = 0
    redirects: int = 0
    other_namespace: int = 0
    no_infobox: int = 0
    streams: int = 0

    def add(self, other: "PartCounts") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class PartResult:
    """The records of one partition, in page order, and its counts."""

    number: int
    records: list[list] = field(default_factory=list)
    counts: PartCounts = field(default_factory=PartCounts)
    nbytes: int = 0


# ---------------------------------------------------------------- finding streams


def _open(path: Path) -> BinaryIO:
    return open_input(path, DumpError, "a dump file")


def read_index(index: str | Path) -> dict[int, StreamCheck]:
    """The first page of each stream, from a multistream index (bz2 or plain text).

    Returns
    -------
    dict of int to StreamCheck
        Stream byte offset -> the first page the index lists at it, ascending.

    Raises
    ------
    DumpError
        A line that is not ``offset:page_id:title``, offsets going backwards,
        or a truncated or corrupt bz2 file; the message names the line.
    """
    index = Path(index)
    _open(index).close()
    name = index.name
    checks: dict[int, StreamCheck] = {}
    last = -1
    lineno = 0
    opener = bz2.open if _is_bz2(index) else open
    try:
        with opener(index, "rt", encoding="utf-8", newline="\n") as fh:
            for lineno, line in enumerate(fh, 1):
                line = line.rstrip("\r\n")
                if not line:
                    continue
                offset, sep1, rest = line.partition(":")
                page_id, sep2, title = rest.partition(":")
                if not (sep1 and sep2 and offset.isdigit() and page_id.isdigit()):
                    raise DumpError(f"line {lineno} of {name}: expected offset:page_id:title, got {line[:80]!r}")
                off = int(offset)
                if off < last:
                    raise DumpError(f"line {lineno} of {name}: offset {off} comes after offset {last}; "
                                    "a multistream index lists offsets in ascending order")
                if off != last:
                    checks[off] = StreamCheck(off, int(page_id), title)
                    last = off
    except (EOFError, OSError) as err:
        detail = "truncated" if isinstance(err, EOFError) else "corrupt"
        raise DumpError(f"{name}: {detail} bz2 data after line {lineno} ({err})") from None
    except UnicodeDecodeError as err:
        raise DumpError(f"line {lineno + 1} of {name}: not UTF-8 text (byte {err.start + 1})") from None
    if not checks:
        raise DumpError(f"{name}: empty index, no pages listed")
    return checks


def _is_bz2(path: Path) -> bool:
    with _open(path) as fh:
        return fh.read(3) == b"BZh"


def _is_stream_start(fh: BinaryIO, offset: int, *, decode: bool = True) -> bool:
    """True if a bz2 stream header is at ``offset`` and (with ``decode``) the data after it decodes."""
    fh.seek(offset)
    head = fh.read(_VERIFY_BYTES if decode else _HEADER_LEN)
    if not _STREAM_HEADER.match(head):
        return False
    if not decode:
        return True
    try:
        bz2.BZ2Decompressor().decompress(head, max_length=1)
    except OSError:
        return False
    return True


def scan_streams(path: str | Path) -> list[int]:
    """Byte offsets of every bz2 stream in a file, found by their headers and checked by decompressing.

    Reads the file once, sequentially, a megabyte at a time.
    """
    path = Path(path)
    found: list[int] = []
    with _open(path) as fh, _open(path) as probe:
        pos = 0
        tail = b""
        while True:
            chunk = fh.read(_CHUNK * 8)
            if not chunk:
                break
            data = tail + chunk
            base = pos - len(tail)
            for m in _STREAM_HEADER.finditer(data):
                offset = base + m.start()
                if (not found or offset > found[-1]) and _is_stream_start(probe, offset):
                    found.append(offset)
            tail = data[-(_HEADER_LEN - 1):]
            pos += len(chunk)
    return found


def _decompress_stream(fh: BinaryIO, path: Path, offset: int, limit: int) -> tuple[bytes, int]:
    """The bytes of the one stream starting at ``offset``, and the offset just after it.

    Reads no further than ``limit``.
    """
    fh.seek(offset)
    dec = bz2.BZ2Decompressor()
    out = []
    pos = offset
    while not dec.eof:
        chunk = fh.read(min(_CHUNK, limit - pos))
        if not chunk:
            raise DumpError(f"{path.name}: truncated bz2 stream at byte offset {offset} "
                            f"(it ends at byte {pos} before its end-of-stream marker)")
        try:
            out.append(dec.decompress(chunk))
        except OSError as err:
            raise DumpError(f"{path.name}: corrupt bz2 stream at byte offset {offset} ({err})") from None
        pos += len(chunk)
    return b"".join(out), pos - len(dec.unused_data)


def _check_export(text: str, path: Path, where: str) -> None:
    m = _EXPORT_ROOT.match(text)
    if not m or m.group(1).rsplit(":", 1)[-1] != "mediawiki" or not _EXPORT_NS.search(m.group(2)):
        got = f"<{m.group(1)}>" if m else repr(text.lstrip()[:40])
        raise DumpError(f"{path.name}: not a MediaWiki export at {where}: starts with {got}, "
                        "expected <mediawiki xmlns=\"http://www.mediawiki.org/xml/export-…\">")


def _siteinfo_namespaces(header: str, path: Path) -> dict[str, str]:
    """Namespace names from ``<siteinfo>``: case-folded name -> the site's spelling."""
    try:
        root = ElementTree.fromstring(header + "</mediawiki>")
    except ElementTree.ParseError as err:
        raise DumpError(f"{path.name}: malformed <siteinfo> at the start of the dump ({err})") from None
    ns = _xml_namespace(root.tag)
    names = (el.text.strip() for el in root.iter(f"{ns}namespace") if el.text and el.text.strip())
    return {name.casefold(): name for name in names}


def _xml_namespace(tag: str) -> str:
    """``"{uri}"`` of a tag, as ElementTree spells qualified names."""
    return tag[: tag.index("}") + 1] if tag.startswith("{") else ""


def _plain_header(path: Path) -> str:
    """The text before the first ``<page>`` of a single-stream (or uncompressed) dump."""
    raw = _open(path)
    fh: BinaryIO = bz2.BZ2File(raw) if _is_bz2(path) else raw
    text = ""
    with raw, fh:
        try:
            while "<page>" not in text and len(text) < (16 << 20):
                chunk = fh.read(1 << 16)
                if not chunk:
                    break
                text += chunk.decode("utf-8", errors="replace")
        except (EOFError, OSError) as err:
            raise DumpError(f"{path.name}: truncated or corrupt bz2 data near byte offset {raw.tell()} ({err})") \
                from None
    _check_export(text, path, "byte offset 0")
    cut = text.find("<page>")
    return text[:cut] if cut >= 0 else text


def dump_layout(dump: str | Path, index: str | Path | None = None) -> DumpLayout:
    """Find the streams of a dump and read its ``<siteinfo>``.

    Parameters
    ----------
    dump : str or Path
        A multistream dump, a single-stream ``.xml.bz2`` dump or an
        uncompressed ``.xml`` export.
    index : str or Path, optional
        The multistream index. Without it, streams are found by scanning.

    Returns
    -------
    DumpLayout

    Raises
    ------
    DumpError
        Not a MediaWiki export, an index whose offsets are not stream starts
        of this dump, a corrupt or truncated first stream.
    """
    path = Path(dump)
    with _open(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            raise DumpError(f"{path.name}: empty file, not a dump")
        bz = fh.read(3) == b"BZh"
    checks: dict[int, StreamCheck] = {}
    if index is not None:
        checks = read_index(index)
        streams = list(checks)
        with _open(path) as fh:
            for offset in streams:
                # the header alone: an offset from the index is no chance match, and the worker that
                # decompresses the stream reports any damage after it
                if offset >= size or not _is_stream_start(fh, offset, decode=False):
                    c = checks[offset]
                    raise DumpError(
                        f"{Path(index).name} does not match {path.name}: no bz2 stream starts at byte offset "
                        f"{offset} (the index puts page {c.page_id} {c.title!r} there)"
                    )
    elif bz:
        streams = scan_streams(path)
    else:
        streams = []
    if len(streams) <= 1 and index is None:
        # one stream (or none: uncompressed XML): the pages are not split, one worker reads it all
        header = _plain_header(path)
        source = DumpSource(path.resolve(), header, size, multistream=False)
        return DumpLayout(source, _siteinfo_namespaces(header, path), [0], {})
    if index is None:
        if streams[0] != 0:
            raise DumpError(f"{path.name}: no bz2 stream starts at byte offset 0")
        header_end, streams = streams[1], streams[1:]
    else:
        header_end = streams[0]
        if header_end == 0:
            raise DumpError(f"{Path(index).name} does not match {path.name}: it lists pages at byte offset 0, "
                            "where a multistream dump has only <siteinfo>")
    with _open(path) as fh:
        raw, _ = _decompress_stream(fh, path, 0, header_end)
    header = raw.decode("utf-8", errors="replace")
    _check_export(header, path, "byte offset 0")
    if "<page>" in header:
        raise DumpError(f"{path.name}: the bz2 stream at byte offset 0 holds pages; expected <siteinfo> only")
    source = DumpSource(path.resolve(), header, size, index=Path(index).name if index is not None else "")
    return DumpLayout(source, _siteinfo_namespaces(header, path), streams, checks)


# ---------------------------------------------------------------- parsing pages


def _pages(xml_file, path: Path, where: str) -> Iterator[tuple[int, int, str, bool, str | None, str]]:
    """(page id, namespace, title, redirect, timestamp, text) for each ``<page>`` of an export document.

    ElementTree's ``iterparse`` (C parser) reads the XML; each page is
    dropped as soon as it is read, so memory holds one page. mwxml reads the
    same fields several times slower, pure Python per element
    (``benchmarks/bench_wikidump.py``; docs/data.md has the figures).
    """
    last = None
    try:
        events = ElementTree.iterparse(xml_file, events=("start", "end"))
        _, root = next(events)
        ns = _xml_namespace(root.tag)
        page_tag, revision_tag = f"{ns}page", f"{ns}revision"
        for event, elem in events:
            if event != "end" or elem.tag != page_tag:
                continue
            title, namespace, page_id = (elem.findtext(f"{ns}{t}") for t in ("title", "ns", "id"))
            if title is None or namespace is None or page_id is None:
                raise ValueError(f"a <page> without <title>, <ns> or <id> (title {title!r})")
            last = title
            revisions = elem.findall(revision_tag)
            revision = revisions[-1] if revisions else None  # pages-articles holds one; keep the newest
            text = (revision.findtext(f"{ns}text") if revision is not None else None) or ""
            timestamp = revision.findtext(f"{ns}timestamp") if revision is not None else None
            redirect = elem.find(f"{ns}redirect") is not None
            yield int(page_id), int(namespace), title, redirect, timestamp, text
            root.clear()  # drop the page just read (and any before it) from the tree
    except (ElementTree.ParseError, ValueError, StopIteration) as err:
        after = f" after page {last!r}" if last else ""
        message = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        raise DumpError(f"{path.name}: malformed XML in the {where}{after} ({message})") from None


def _strip_footer(text: str) -> str:
    """The text without the closing ``</mediawiki>`` (the last stream's whole content)."""
    # rstrip + endswith, not a regex: a leading \s* would be tried at every position of a whole stream
    end = text.rstrip()
    return end[: -len(_FOOTER)] if end.endswith(_FOOTER) else text


def _take(page: tuple, page_filter: PageFilter, pattern, result: PartResult) -> None:
    _, namespace, title, redirect, timestamp, text = page
    counts = result.counts
    counts.pages += 1
    if namespace != 0:
        counts.other_namespace += 1
    elif redirect or is_redirect_text(text):
        counts.redirects += 1
    else:
        record = page_record(title, text, timestamp, page_filter, pattern)
        if record is None:
            counts.no_infobox += 1
        else:
            counts.kept += 1
            result.records.append(record)


def parse_partition(source: DumpSource, part: Partition, page_filter: PageFilter) -> PartResult:
    """Records of the pages in one partition of a multistream dump.

    Reads only the partition's byte range, one stream at a time, so memory
    is bounded by one stream's text (about 100 pages) plus the records kept.

    Raises
    ------
    DumpError
        A truncated or corrupt stream, malformed XML, or a stream whose first
        page is not the one the index lists at its offset.
    """
    path = source.path
    if not source.multistream:
        return _parse_plain(source, page_filter)
    pattern = page_filter.candidate_pattern()
    result = PartResult(part.number, nbytes=part.end - part.start)
    checks = {c.offset: c for c in part.checks}
    with _open(path) as fh:
        pos = part.start
        while pos < part.end:
            raw, next_pos = _decompress_stream(fh, path, pos, part.end)
            text = _strip_footer(raw.decode("utf-8", errors="replace"))
            result.counts.streams += 1
            if text.strip():
                xml = io.StringIO(source.header + text + "</mediawiki>")
                check = checks.get(pos)
                for n, page in enumerate(_pages(xml, path, f"bz2 stream at byte offset {pos}")):
                    if n == 0 and check is not None and page[0] != check.page_id:
                        raise DumpError(
                            f"{source.index or 'the index'} does not match {path.name}: it lists page {check.page_id} "
                            f"{check.title!r} first at byte offset {pos}, the stream there starts with page "
                            f"{page[0]} {page[2]!r}"
                        )
                    _take(page, page_filter, pattern, result)
            pos = next_pos
    return result


def _parse_plain(source: DumpSource, page_filter: PageFilter) -> PartResult:
    """Records of a single-stream dump, read sequentially from start to end."""
    path = source.path
    pattern = page_filter.candidate_pattern()
    result = PartResult(0, nbytes=source.size)
    raw = _open(path)
    fh: BinaryIO = bz2.BZ2File(raw) if _is_bz2(path) else raw
    with raw, fh:
        try:
            for page in _pages(fh, path, "dump"):
                _take(page, page_filter, pattern, result)
        except (EOFError, OSError) as err:
            detail = "truncated" if isinstance(err, EOFError) else "corrupt"
            raise DumpError(f"{path.name}: {detail} bz2 data near byte offset {raw.tell()} ({err})") from None
    result.counts.streams = 1
    return result
