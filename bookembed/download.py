"""Download the full dataset: resumable, with progress, written atomically.

The partial file ``OUT.part`` is kept on failure; the next call asks the
server for the rest with an HTTP ``Range`` header and appends. Only when the
download is complete is it renamed over ``OUT``.
"""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from bookembed.errors import DownloadError

DEFAULT_URL = (
    "https://raw.githubusercontent.com/WillKoehrsen/wikipedia-data-science/master/data/found_books_filtered.ndjson"
)
DEFAULT_OUT = Path("data") / "found_books_filtered.ndjson"
CHUNK = 1 << 16


def download(
    url: str = DEFAULT_URL,
    out: str | Path = DEFAULT_OUT,
    *,
    progress: Callable[[int, int | None], object] | None = None,
    timeout: float = 30.0,
) -> Path:
    """Fetch ``url`` to ``out``, resuming a previous partial download.

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

    Returns
    -------
    Path
        ``out``, complete.

    Raises
    ------
    DownloadError
        One line naming the URL and what failed; the partial file is kept.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    done = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "bookembed"})
    if done:
        request.add_header("Range", f"bytes={done}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and done:  # nothing left to fetch: the part is complete
            os.replace(part, out)
            return out
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise DownloadError(f"{url}: cannot connect ({reason})") from None
    with response:
        status = getattr(response, "status", 200)
        length = response.headers.get("Content-Length")
        content_range = response.headers.get("Content-Range", "")
        resumes_here = content_range.startswith(f"bytes {done}-")
        if done and status == 206 and resumes_here:
            total = done + int(length) if length else None
            mode = "ab"
        elif status == 206:  # a range we did not ask for: appending would corrupt the file
            raise DownloadError(f"{url}: server answered with range {content_range!r}, expected bytes {done}-")
        else:  # the server ignored the range: start again
            done = 0
            total = int(length) if length else None
            mode = "wb"
        try:
            with open(part, mode) as fh:
                if progress:
                    progress(done, total)
                while True:
                    chunk = response.read(CHUNK)
                    if not chunk:
                        break
                    fh.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
        except (OSError, urllib.error.URLError, http.client.HTTPException) as err:
            # a dropped chunked response raises http.client.IncompleteRead, not OSError
            raise DownloadError(
                f"{url}: download interrupted after {done} bytes ({type(err).__name__}: {err}); run again to resume"
            ) from None
    if total is not None and done < total:
        raise DownloadError(f"{url}: download interrupted after {done} of {total} bytes; run again to resume")
    os.replace(part, out)
    return out
