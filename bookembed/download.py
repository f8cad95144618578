"""Download the full dataset: resumable, with progress, checked, written atomically.

The partial file ``OUT.part`` is kept on failure; the next call asks the
server for the rest with an HTTP ``Range`` header and appends. Only when the
download is complete, and what arrived has been checked, is it renamed over
``OUT``; a download that fails never replaces an ``OUT`` already there. What
is checked, whatever the file:

- an HTML page is refused before anything is written, whether the server
  says so (``Content-Type: text/html``) or the body starts like one
  (``<!doctype html``, ``<html``): a login page, a proxy's error page or a
  repository's web view is not data;
- a ``206`` answer must name the range asked for (``Content-Range`` starting
  at the partial file's length), its ``Content-Length`` must agree with that
  range, and the bytes that arrive must match both; otherwise the partial
  file is left as it was;
- a ``206`` whose body starts like the partial file (the server sent the
  file again from byte 0 under a correct-looking range) is not appended: the
  whole file is fetched again, without a ``Range``;
- the byte count, and the size of the finished file, must match
  ``Content-Length`` (or the range's total);
- a SHA-256, when the caller knows one.

For a records file (``.ndjson``, ``.jsonl``, ``.json``, optionally ``.gz``),
the first record must parse before an earlier partial file is overwritten;
after a resume the record that spans the seam must parse; a file whose last
record is cut short (no final newline and a last line that is not JSON, or a
gzip stream that stops early: a body sent without a length and cut off) is
kept as ``.part`` for resuming; and then every record is checked as
``bookembed.records`` reads it, the first bad one named by its line.

A ``.part`` file is renamed only when this transfer completed it: a ``416``
answer to a resume ("nothing left in that range") starts the download again
from byte 0 instead of trusting whatever the partial file held.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import Callable

from bookembed.errors import DownloadError

DEFAULT_URL = (
    "https://raw.githubusercontent.com/WillKoehrsen/wikipedia-data-science/master/data/found_books_filtered.ndjson"
)
DEFAULT_OUT = Path("data") / "found_books_filtered.ndjson"
CHUNK = 1 << 16
FIRST_LINE_LIMIT = 1 << 22  # a first record longer than 4 MB is not what we expect either
SNIFF = 1 << 12  # bytes of a body looked at before any is written: an HTML page, a file sent again from byte 0
RECORD_SUFFIXES = (".ndjson", ".jsonl", ".json", ".ndjson.gz", ".jsonl.gz", ".json.gz")
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def is_records_name(path: str | Path) -> bool:
    """True for file names that hold Wikipedia-books records (checked when downloaded)."""
    return str(path).lower().endswith(RECORD_SUFFIXES)


def first_record_problem(head: bytes) -> str | None:
    """Why ``head`` (the first bytes of a file) is not the start of a records file, or None.

    ``head`` must hold the whole first line, or be the whole file. A gzip
    stream is decompressed as far as it goes.
    """
    if head[:2] == b"\x1f\x8b":
        try:
            head = zlib.decompressobj(wbits=31).decompress(head, FIRST_LINE_LIMIT)
        except zlib.error as err:
            return f"not a readable gzip file ({err})"
    text = head.lstrip()
    if not text:
        return "the file is empty"
    lowered = text[:512].lower()
    if text[:1] == b"<" or b"<html" in lowered or b"<!doctype" in lowered:
        return "it is an HTML page, not records"
    line = text.split(b"\n", 1)[0]
    try:
        value = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        return "the first record is not UTF-8 text"
    except (ValueError, RecursionError):
        return "the first record does not parse as JSON"
    if not isinstance(value, list):
        return f"the first record is a JSON {type(value).__name__}, not a list"
    return None


def html_problem(head: bytes) -> str | None:
    """Why ``head`` (the first bytes of a body) is an HTML page rather than data, or None."""
    text = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    if text.lstrip()[:14].lower().startswith((b"<!doctype html", b"<html")):
        return "the server sent an HTML page, not the data; check the URL"
    return None


def _read_head(path: Path, limit: int = FIRST_LINE_LIMIT) -> bytes:
    with open(path, "rb") as fh:
        head = fh.read(CHUNK)
        while b"\n" not in head and len(head) < limit:
            more = fh.read(CHUNK)
            if not more:
                break
            head += more
    return head


def _seam_problem(path: Path, at: int) -> str | None:
    """Why the record around byte ``at`` (where a resume began) does not parse, or None."""
    with open(path, "rb") as fh:
        start = max(0, at - FIRST_LINE_LIMIT)
        fh.seek(start)
        block = fh.read(at - start + FIRST_LINE_LIMIT)
    i = at - start
    begin = block.rfind(b"\n", 0, i) + 1 if i > 0 and block[i - 1 : i] != b"\n" else i
    end = block.find(b"\n", i)
    line = block[begin : end if end >= 0 else len(block)].strip()
    if not line:
        return None
    try:
        json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError, UnicodeDecodeError):
        return (f"the record at byte {at:,}, where this download resumed, does not parse: the server did not "
                "send the rest of the file")
    return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _open(url: str, done: int, timeout: float):
    request = urllib.request.Request(url, headers={"User-Agent": "bookembed"})
    if done:
        request.add_header("Range", f"bytes={done}-")
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and done:
            return None  # the caller starts again from byte 0
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise DownloadError(f"{url}: cannot connect ({reason})") from None


def _plan(url: str, response, done: int) -> tuple[int, int | None, int | None]:
    """Where the body starts, how many bytes it must hold, and the file's total size (None when unknown)."""
    status = getattr(response, "status", 200)
    length = response.headers.get("Content-Length")
    length = int(length) if length and length.strip().isdigit() else None
    kind = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if kind in ("text/html", "application/xhtml+xml"):
        raise DownloadError(f"{url}: the server sent an HTML page (Content-Type {kind}), not the data; "
                            "check the URL")
    if status != 206:  # the whole file (a server that ignores Range starts again)
        return 0, length, length
    content_range = response.headers.get("Content-Range", "")
    m = _CONTENT_RANGE.fullmatch(content_range.strip())
    if not done or not m or int(m.group(1)) != done:
        raise DownloadError(f"{url}: server answered with range {content_range!r}, expected bytes {done}-; "
                            "the partial file is kept as it was")
    first, last = int(m.group(1)), int(m.group(2))
    total = None if m.group(3) == "*" else int(m.group(3))
    body = last - first + 1
    if last < first or (length is not None and length != body) or (total is not None and last != total - 1):
        raise DownloadError(f"{url}: server answered with range {content_range!r} and Content-Length {length}, "
                            "which do not agree; the partial file is kept as it was")
    return done, body, total


def download(
    url: str = DEFAULT_URL,
    out: str | Path = DEFAULT_OUT,
    *,
    progress: Callable[[int, int | None], object] | None = None,
    timeout: float = 30.0,
    sha256: str | None = None,
    records: bool | None = None,
) -> Path:
    """Fetch ``url`` to ``out``, resuming a previous partial download, and check what arrived.

    Parameters
    ----------
    url : str
        What to fetch (http, https or file).
    out : str or Path
        Final path; ``out + ".part"`` holds the partial download.
    progress : callable, optional
        Called as ``progress(bytes_done, bytes_total_or_None)``.
    timeout : float
        Seconds to wait for the server.
    sha256 : str, optional
        The file's known SHA-256 (hex); a mismatch is refused.
    records : bool, optional
        Check that the file holds Wikipedia-books records: the first record,
        the record at a resume's seam, the last record (not cut short) and
        then every record. Default: by the name of ``out``
        (``is_records_name``).

    Returns
    -------
    Path
        ``out``, complete.

    Raises
    ------
    DownloadError
        One line naming the URL and what failed. An interrupted transfer
        keeps the partial file for resuming; data that fails a check is never
        renamed to ``out``, and an ``out`` already there is left as it was.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    records = is_records_name(out) if records is None else records
    held = part.stat().st_size if part.exists() else 0
    got = _fetch(url, part, held, records, timeout, progress)
    if got is None:  # a 206 that sent the file again from byte 0: ask for all of it, without a Range
        got = _fetch(url, part, 0, records, timeout, progress)
    start, done, expected, total = got
    if expected is not None and done - start < expected or total is not None and done < total:
        of = f" of {total}" if total is not None else ""
        raise DownloadError(f"{url}: download interrupted after {done}{of} bytes; run again to resume")
    _check_complete(url, part, out.name, start or None, records, sha256, total)
    os.replace(part, out)
    return out


def _fetch(url: str, part: Path, held: int, records: bool, timeout: float,
           progress: Callable[[int, int | None], object] | None) -> tuple[int, int, int | None, int | None] | None:
    """One request, its body written to ``part``: (start, bytes done, bytes expected, total), or None.

    Asks for the bytes after the ``held`` ones the partial file holds (all of
    them when ``held`` is 0). None when a ``206`` body starts like the partial
    file: the server sent the file again from byte 0, and nothing was written.
    """
    response = _open(url, held, timeout)
    if response is None:  # 416: what the part holds cannot be trusted; fetch it all again
        held = 0
        response = _open(url, 0, timeout)
    with response:
        # 1. What the answer promises: where its body starts, how long it is.
        start, expected, total = _plan(url, response, held)
        # 2. The first bytes, looked at before the partial file is touched.
        try:
            head = _read_body_head(response, whole_line=records and not start)
        except (OSError, urllib.error.URLError, http.client.HTTPException) as err:
            raise _interrupted(url, start, err) from None
        if start and _repeats_start_of(part, head):
            return None
        kept = "the partial file is kept as it was" if start else "nothing was saved"
        problem = html_problem(head) or (first_record_problem(head) if records and not start else None)
        if problem:
            raise DownloadError(f"{url}: {problem}; {kept}")
        # 3. The body, appended to the partial file (or replacing it, from byte 0).
        done = _write_body(url, response, part, head, start, expected, total, progress)
    return start, done, expected, total


def _read_body_head(response, whole_line: bool) -> bytes:
    """At least ``SNIFF`` bytes of the body (fewer only at its end); with ``whole_line``, up to a newline too."""
    head = b""
    while len(head) < SNIFF or whole_line and b"\n" not in head and len(head) < FIRST_LINE_LIMIT:
        chunk = response.read(CHUNK)
        if not chunk:
            break
        head += chunk
    return head


def _repeats_start_of(part: Path, head: bytes) -> bool:
    """True when a resumed body starts with the partial file's own first bytes.

    Mistaking a file that repeats itself for a server that restarted costs
    the partial file's bytes again, never a wrong file.
    """
    with open(part, "rb") as fh:
        start = fh.read(min(len(head), SNIFF))
    return bool(start) and head.startswith(start)


def _write_body(url: str, response, part: Path, head: bytes, start: int, expected: int | None,
                total: int | None, progress: Callable[[int, int | None], object] | None) -> int:
    """Write ``head`` and the rest of ``response`` to ``part`` from byte ``start``; the bytes it then holds."""
    done = start
    try:
        with open(part, "ab" if start else "wb") as fh:
            if progress:
                progress(done, total)
            chunk = head
            while chunk:
                if expected is not None and done - start + len(chunk) > expected:
                    fh.truncate(start)  # back to what the partial file held before
                    raise DownloadError(
                        f"{url}: the server sent more than the {expected:,} bytes it announced; "
                        + ("the partial file is kept as it was" if start else "nothing was saved"))
                fh.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
                chunk = response.read(CHUNK)
    except (OSError, urllib.error.URLError, http.client.HTTPException) as err:
        # a dropped chunked response raises http.client.IncompleteRead, not OSError
        raise _interrupted(url, done, err) from None
    return done


def _interrupted(url: str, done: int, err: Exception) -> DownloadError:
    return DownloadError(
        f"{url}: download interrupted after {done} bytes ({type(err).__name__}: {err}); run again to resume")


def _check_complete(url: str, part: Path, name: str, resumed_at: int | None, records: bool,
                    sha256: str | None, total: int | None) -> None:
    """Check a finished ``.part`` (to be saved as ``name``).

    A file whose last record is cut short is kept for resuming; one that
    fails any other check is removed (resuming it cannot help).
    """
    problem = None
    size = part.stat().st_size
    if total is not None and size != total:
        problem = f"the file holds {size:,} bytes, the server announced {total:,}"
    if problem is None and records:
        problem = first_record_problem(_read_head(part))
        if problem is None and resumed_at and _read_head(part, 2)[:2] != b"\x1f\x8b":
            problem = _seam_problem(part, resumed_at)
        if problem is None:
            cut = _cut_short(part)
            if cut:
                raise DownloadError(f"{url}: download interrupted: {cut}; run again to resume")
            problem = _records_problem(part, name)
    if problem is None and sha256:
        digest = _sha256(part)
        if digest != sha256.lower():
            problem = f"SHA-256 {digest[:16]}… does not match the expected {sha256[:16]}…"
    if problem:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{url}: {problem}; the download was discarded, run again to fetch it afresh")


def _cut_short(path: Path) -> str | None:
    """How a records file stops before its end (a body cut off with no length to tell), or None.

    Cut short: a gzip stream that stops early, or a last line with no
    newline after it that is not JSON. A last line that is JSON but not a
    record is left for the record check to name.
    """
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
        if gz:
            ended, tail = _gzip_tail(fh)
            if not ended:
                return f"the gzip stream of {path.name} stops before its end"
        else:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - FIRST_LINE_LIMIT))
            tail = fh.read()
    if not tail or tail.endswith(b"\n"):
        return None
    last = tail[tail.rfind(b"\n") + 1 :].strip()
    if not last:
        return None
    try:
        json.loads(last.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError: a character cut in two
        return f"the last record of {path.name} is cut short (no newline after it, not JSON)"
    return None


def _gzip_tail(fh) -> tuple[bool, bytes]:
    """Decompress the rest of ``fh`` (after its first 2 bytes): (every member ended, last bytes of text)."""
    fh.seek(0)
    decomp = zlib.decompressobj(wbits=31)
    tail = b""
    try:
        for block in iter(lambda: fh.read(1 << 20), b""):
            while block:
                text = decomp.decompress(block)
                if text:
                    tail = (tail + text)[-FIRST_LINE_LIMIT:]
                block = b""
                if decomp.eof and decomp.unused_data:  # a file of several gzip members
                    block = decomp.unused_data
                    decomp = zlib.decompressobj(wbits=31)
    except zlib.error:
        return True, tail  # damaged, not cut short: the record check says where
    return decomp.eof, tail


def _records_problem(path: Path, name: str) -> str | None:
    """The first bad record of a records file, as ``bookembed.records`` reads it ("line N of NAME: ..."), or None."""
    from bookembed.records import check_records

    return check_records(path, name)
