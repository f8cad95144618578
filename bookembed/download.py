"""Download the full dataset: resumable, with progress, checked, written atomically.

The partial file ``OUT.part`` is kept on failure; the next call asks the
server for the rest with an HTTP ``Range`` header and appends. Only when the
download is complete, and what arrived has been checked, is it renamed over
``OUT``. What is checked:

- an HTML page (``Content-Type: text/html``) is refused before anything is
  written: a login page, a proxy's error page or a repository's web view is
  not data;
- for a records file (``.ndjson``, ``.jsonl``, ``.json``, optionally
  ``.gz``), the first record must parse as a JSON list, and after a resume
  the record that spans the seam must parse too (a server that sends the
  file again from byte 0 under a ``206`` answer breaks it);
- a ``206`` answer must name the range asked for (``Content-Range``), its
  ``Content-Length`` must agree with that range, and the bytes that arrive
  must match both; otherwise the partial file is cut back to what it held;
- the byte count must reach ``Content-Length`` (or the range's total);
- a SHA-256, when the caller knows one.

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
        raise DownloadError(f"{url}: server answered with range {content_range!r}, expected bytes {done}-")
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
        Check that the file holds Wikipedia-books records (first record and,
        after a resume, the record at the seam parse). Default: by the name
        of ``out`` (``is_records_name``).

    Returns
    -------
    Path
        ``out``, complete.

    Raises
    ------
    DownloadError
        One line naming the URL and what failed. An interrupted transfer
        keeps the partial file for resuming; data that fails a check is never
        renamed to ``out``.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    records = is_records_name(out) if records is None else records
    done = part.stat().st_size if part.exists() else 0
    response = _open(url, done, timeout)
    if response is None:  # 416: what the part holds cannot be trusted; fetch it all again
        done = 0
        response = _open(url, 0, timeout)
    with response:
        start, expected, total = _plan(url, response, done)
        resumed_at = start if start else None
        done = start
        try:
            first = b""
            if start == 0 and records:
                # Check the first record before the partial file is overwritten.
                while b"\n" not in first and len(first) < FIRST_LINE_LIMIT:
                    chunk = response.read(CHUNK)
                    if not chunk:
                        break
                    first += chunk
                problem = first_record_problem(first)
                if problem:
                    raise DownloadError(f"{url}: {problem}; nothing was saved")
            with open(part, "ab" if start else "wb") as fh:
                if progress:
                    progress(done, total)
                chunk = first
                while True:
                    if chunk:
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
                    if not chunk:
                        break
        except (OSError, urllib.error.URLError, http.client.HTTPException) as err:
            # a dropped chunked response raises http.client.IncompleteRead, not OSError
            raise DownloadError(
                f"{url}: download interrupted after {done} bytes ({type(err).__name__}: {err}); run again to resume"
            ) from None
    if expected is not None and done - start < expected or total is not None and done < total:
        of = f" of {total}" if total is not None else ""
        raise DownloadError(f"{url}: download interrupted after {done}{of} bytes; run again to resume")
    _check_complete(url, part, resumed_at, records, sha256)
    os.replace(part, out)
    return out


def _check_complete(url: str, part: Path, resumed_at: int | None, records: bool, sha256: str | None) -> None:
    """Check a finished ``.part``; a file that fails is removed (resuming it cannot help)."""
    problem = None
    if records:
        problem = first_record_problem(_read_head(part))
        if problem is None and resumed_at and _read_head(part, 2)[:2] != b"\x1f\x8b":
            problem = _seam_problem(part, resumed_at)
    if problem is None and sha256:
        digest = _sha256(part)
        if digest != sha256.lower():
            problem = f"SHA-256 {digest[:16]}… does not match the expected {sha256[:16]}…"
    if problem:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{url}: {problem}; the download was discarded, run again to fetch it afresh")
