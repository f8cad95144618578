"""Build a records file from a Wikipedia dump on Dask, and fetch the newest dump.

``build_dataset`` splits a multistream dump into byte ranges of whole bz2
streams (``bookembed.wikidump``), sends one task per range to Dask workers,
and writes the records in dump order as the ranges come back. By default it
starts a ``distributed.LocalCluster`` with one process per core (the parsing
is pure Python and holds the GIL, so processes, not threads), bound to
127.0.0.1, and stops it at the end; ``scheduler="tcp://host:port"`` runs the
same tasks on an existing cluster, whose workers must see the dump at the
same path.

The records go to ``.NAME.PID.tmp`` beside the output, which replaces the
output only when the job found records; a run that was killed leaves that
file behind, and the next run for the same output removes it once no process
has that pid. A task that fails reaches the caller as one ``DumpError``; the
workers' own logs of it are silenced.

``latest_dump`` and ``download_dump`` find and fetch the newest
``pages-articles-multistream`` file and its index from the Wikimedia dumps
site (or a mirror), reusing ``bookembed.download.download``.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import json
import logging
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from bookembed.atomic import replacing
from bookembed.errors import DownloadError, DumpError
from bookembed.wikidump import DumpLayout, PartCounts, PartResult, dump_layout, parse_partition
from bookembed.wikitext import PageFilter

DUMPS_BASE_URL = "https://dumps.wikimedia.org"
TASKS_PER_WORKER = 4  # several ranges per worker, so one slow range does not leave the others idle
MAX_PARTITION_BYTES = 64 << 20  # compressed bytes per task: bounds what a worker holds and redoes on a retry


@dataclass
class BuildReport:
    """What ``build_dataset`` read, kept and skipped."""

    dump: str
    out: str = ""
    infoboxes: tuple[str, ...] = ()
    counts: PartCounts = field(default_factory=PartCounts)
    partitions: int = 0
    workers: int = 0
    scheduler: str = ""
    multistream: bool = True
    seconds: float = 0.0
    removed: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        c = self.counts
        out = [f"removed {name}, the unfinished output of an earlier run that was stopped" for name in self.removed]
        if not self.multistream:
            out.append(f"{self.dump} is a plain (single-stream) dump: read by one worker; "
                       "a multistream dump and its index run in parallel")
        out.append(
            f"{c.pages:,} pages in {c.streams:,} streams, {self.partitions} tasks on {self.workers} "
            f"worker(s) ({self.scheduler}) in {self.seconds:.1f} s"
        )
        out.append(
            f"kept {c.kept:,} with infobox {', '.join(self.infoboxes)}; skipped {c.redirects:,} redirects, "
            f"{c.other_namespace:,} pages outside the article namespace, {c.no_infobox:,} articles without it"
        )
        if self.out:
            out.append(f"wrote {c.kept:,} records to {self.out}")
        return out


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None) -> Iterator:
    """A ``distributed.Client``: on ``scheduler``, or on a new local cluster that is stopped on exit.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler, ``tcp://HOST:PORT``.
    workers : int, optional
        Worker processes of the local cluster (default: one per core).
    """
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as err:
            raise DumpError(f"cannot reach the Dask scheduler at {scheduler} ({err})") from None
        with _quiet_distributed(), client:
            yield client
        return
    n = workers or os.cpu_count() or 1
    # processes=True: parsing holds the GIL. No dashboard: nothing listens beyond the scheduler on 127.0.0.1.
    # The scheduler still serves its small HTTP API (health, metrics); without an address it tries 8787,
    # and where another Dask dashboard holds that port it prints a warning: any free port instead.
    # silence_logs=CRITICAL: a task that fails is logged by its worker ("Compute Failed", the remote
    # traceback) on the stderr the worker shares with this process; the same error reaches the caller
    # as one DumpError, so the log would only bury it.
    with _quiet_distributed(), _plain_main():  # _plain_main only while the worker processes start
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None, silence_logs=logging.CRITICAL,
                               scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"})
    with _quiet_distributed(), cluster, Client(cluster) as client:
        yield client


@contextlib.contextmanager
def _quiet_distributed():
    """While the job runs, the ``distributed`` log handlers of this process show only CRITICAL records.

    The scheduler, nannies and client in this process log what the job reports anyway (a failed
    task, workers stopped at the end); ``distributed`` configures its own handler on its logger,
    so the handler, not the logger, is turned down, and put back afterwards.
    """
    handlers = [h for h in logging.getLogger("distributed").handlers if isinstance(h, logging.StreamHandler)]
    levels = [h.level for h in handlers]
    for handler in handlers:
        handler.setLevel(max(handler.level, logging.CRITICAL))
    try:
        yield
    finally:
        for handler, level in zip(handlers, levels):
            handler.setLevel(level)


@contextlib.contextmanager
def _plain_main():
    """While worker processes are spawned, a ``__main__`` with no file behind it.

    A spawned process first re-runs its parent's ``__main__`` from its file.
    Inside a Streamlit script run (or after one, in the same process, as in
    the test suite) ``__main__`` is a page script, which must not run in a
    worker: the workers would exit at once ("Nanny failed to start").
    """
    import sys
    import types

    saved = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if saved is not None:
            sys.modules["__main__"] = saved


_TEMP_SUFFIX = re.compile(r"(?P<pid>[1-9]\d{0,6})(?:-[0-9a-f]{8})?\.tmp")
"""What follows ``.NAME.`` in the name of an output's temporary sibling: ``PID.tmp`` (or ``PID-HEX.tmp``).

A pid has at most 7 digits (Linux's largest is 2**22) and is never 0 (``kill(0)`` means the
process group), so the 8 random hex digits of ``atomic.temp_file``'s names are never read as one.
"""


def _temp_path(out: Path) -> Path:
    """A new empty hidden sibling of ``out`` named by this process: ``.NAME.PID.tmp``.

    The pid lets a later run tell the leftover of a run that was killed (its
    process is gone) from the file of a run still writing; a second build of
    the same output in this process gets ``.NAME.PID-HEX.tmp``.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    names = [f".{out.name}.{os.getpid()}.tmp"] + [f".{out.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
                                                  for _ in range(20)]
    for name in names:
        tmp = out.with_name(name)
        try:
            os.close(os.open(tmp, flags, 0o666))  # the mode open() gives a new file: 0o666 less the umask
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(out))


def _process_alive(pid: int) -> bool:
    """True unless no process has this id (another user's process counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: alive, someone else's
        return True
    return True


def remove_stale_temps(out: str | Path) -> list[str]:
    """Remove temporary siblings of ``out`` left by runs that were killed; the names removed.

    Only a ``.NAME.PID.tmp`` whose process no longer runs is removed: the file
    of a run still writing (its process alive, this one included) is kept.
    Best effort: a file that cannot be removed stays, and says nothing.
    """
    out = Path(out)
    prefix = f".{out.name}."
    removed = []
    try:
        entries = [e for e in os.scandir(out.parent) if e.name.startswith(prefix)]
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP_SUFFIX.fullmatch(entry.name[len(prefix):])
        if m is None or int(m["pid"]) == os.getpid() or _process_alive(int(m["pid"])):
            continue
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(entry.name)
    return sorted(removed)


def _writer(tmp: Path, out: Path):
    """``tmp`` (a temporary sibling of ``out``) opened for text; gzip when ``out`` ends in .gz."""
    if out.suffix == ".gz":
        return gzip.open(tmp, "wt", encoding="utf-8", newline="\n")
    return open(tmp, "w", encoding="utf-8", newline="\n")


def build_dataset(
    dump: str | Path,
    out: str | Path,
    infoboxes: list[str] | tuple[str, ...] = ("book",),
    *,
    index: str | Path | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Callable[[int, int, PartCounts], object] | None = None,
) -> BuildReport:
    """Write the records of every article of a dump that uses one of ``infoboxes``.

    Parameters
    ----------
    dump : str or Path
        ``*-pages-articles-multistream.xml.bz2`` (parallel), or a plain
        ``.xml.bz2`` / ``.xml`` dump (read by one worker).
    out : str or Path
        Records file (NDJSON; gzip if it ends in ``.gz``), written atomically.
    infoboxes : sequence of str
        Infobox names: ``"book"`` and ``"Infobox book"`` are the same.
    index : str or Path, optional
        The multistream index; without it streams are found by scanning.
    scheduler : str, optional
        ``tcp://HOST:PORT`` of a running Dask scheduler.
    workers : int, optional
        Processes of the local cluster (ignored with ``scheduler``).
    progress : callable, optional
        ``progress(bytes_done, bytes_total, counts_so_far)`` after each task.

    Returns
    -------
    BuildReport

    Raises
    ------
    DumpError
        One line naming the file and the byte offset or page at fault, or
        saying that no article uses the infoboxes; ``out`` is left as it was
        (it is replaced only by a run that finds records).
    """
    started = time.perf_counter()
    out = Path(out)
    layout = dump_layout(dump, index)
    page_filter = PageFilter.build(infoboxes, layout.namespaces)
    report = BuildReport(dump=Path(dump).name, infoboxes=page_filter.infoboxes, multistream=layout.multistream)
    out.parent.mkdir(parents=True, exist_ok=True)
    report.removed = remove_stale_temps(out)
    with dask_client(scheduler, workers) as client:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        report.workers = 1 if not layout.multistream else n_workers
        report.scheduler = scheduler or "local cluster on 127.0.0.1"
        n_parts = max(n_workers * TASKS_PER_WORKER, -(-layout.source.size // MAX_PARTITION_BYTES))
        parts = layout.partitions(n_parts)
        report.partitions = len(parts)
        _run(client, layout, parts, page_filter, out, report, progress)
    report.out = str(out)
    report.seconds = time.perf_counter() - started
    return report


def _run(client, layout: DumpLayout, parts, page_filter: PageFilter, out: Path, report: BuildReport,
         progress) -> None:
    """Submit one task per partition; write results in partition order as they arrive."""
    from distributed import as_completed

    total = sum(p.end - p.start for p in parts)
    run = uuid.uuid4().hex[:12]  # task keys unique per run, so two jobs on one cluster never share results
    source = client.scatter(layout.source, broadcast=True)
    keys = [f"bookembed-dump-{run}-{p.number}" for p in parts]
    futures = client.map(parse_partition, [source] * len(parts), parts, [page_filter] * len(parts),
                         pure=False, key=keys)
    part_of_key = dict(zip(keys, parts))
    pending: dict[int, PartResult] = {}
    next_part = 0
    done = 0
    try:
        with replacing(out, temp=_temp_path(out)) as tmp, _writer(tmp, out) as fh:  # out is replaced only once every record is in
            for future in as_completed(futures):
                result = _result(future, part_of_key[future.key], layout)
                future.release()
                pending[result.number] = result
                report.counts.add(result.counts)
                done += result.nbytes
                while next_part in pending:  # keep dump order, hold only what arrived early
                    for record in pending.pop(next_part).records:
                        fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                    next_part += 1
                if progress:
                    progress(done, total, report.counts)
            if not report.counts.kept:  # raised inside the block: out is not replaced by an empty file
                raise DumpError(_nothing_kept(report, out))
    except BaseException:
        client.cancel(futures)
        raise


def _result(future, part, layout: DumpLayout) -> PartResult:
    """A task's result; a worker's DumpError as it is, any other failure as one DumpError naming the bytes."""
    try:
        return future.result()
    except DumpError:
        raise
    except Exception as err:  # a worker that died (KilledWorker: out of memory?) or a bug in the parser
        detail = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
        raise DumpError(f"{layout.source.path.name}: the task reading bytes {part.start:,} to {part.end:,} failed "
                        f"({type(err).__name__}{': ' + detail if detail else ''})") from None


def _nothing_kept(report: BuildReport, out: Path) -> str:
    """The one-line error of a job that found no article with the infoboxes."""
    c = report.counts
    kept = "; the file already there is left as it was" if out.exists() else ""
    return (f"{report.dump}: no article uses infobox {', '.join(report.infoboxes)} (read {c.pages:,} pages: "
            f"{c.redirects:,} redirects, {c.other_namespace:,} outside the article namespace, {c.no_infobox:,} "
            f"articles without it); nothing written to {out}{kept}")


def build_dataset_in_subprocess(
    dump: str | Path,
    out: str | Path,
    infoboxes: list[str] | tuple[str, ...] = ("book",),
    *,
    index: str | Path | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Callable[[int, int, PartCounts], object] | None = None,
) -> list[str]:
    """``build_dataset`` in a fresh ``python -m bookembed.dumpjob`` process; its summary lines.

    For callers whose ``__main__`` must not run twice, such as a Streamlit
    page: a local cluster's worker processes are spawned, and a spawned
    process first re-runs the parent's main script (Streamlit makes each page
    ``__main__``). In a process of its own the main module is this one.

    Raises
    ------
    DumpError
        The job's one-line error, as ``build_dataset`` raises it.
    """
    request = {"dump": str(dump), "out": str(out), "infoboxes": list(infoboxes), "scheduler": scheduler,
               "index": str(index) if index else None, "workers": workers}
    proc = subprocess.Popen([sys.executable, "-m", "bookembed.dumpjob", json.dumps(request)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    message: dict = {}
    try:
        for line in proc.stdout:  # one JSON object a line: progress, then the report or the error
            message = json.loads(line)
            if "progress" in message and progress:
                done, total, counts = message["progress"]
                progress(done, total, PartCounts(**counts))
        stderr = proc.stderr.read()
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if "error" in message:
        raise DumpError(message["error"])
    if "report" not in message:
        tail = stderr.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        raise DumpError(f"the dump job stopped without a result: {tail[0]}")
    return message["report"]


def _subprocess_main(argv: list[str]) -> int:
    from dataclasses import asdict

    from bookembed.errors import BookembedError

    request = json.loads(argv[0])

    def emit(value: dict) -> None:
        print(json.dumps(value), flush=True)

    try:
        report = build_dataset(
            request["dump"], request["out"], request["infoboxes"], index=request["index"],
            scheduler=request["scheduler"], workers=request["workers"],
            progress=lambda done, total, counts: emit({"progress": [done, total, asdict(counts)]}),
        )
    except BookembedError as err:
        emit({"error": str(err)})
        return 1
    emit({"report": report.lines()})
    return 0


# ---------------------------------------------------------------- the newest dump


@dataclass(frozen=True)
class DumpFiles:
    """The multistream dump and index of one dated run of a wiki's dumps."""

    wiki: str
    date: str
    dump_url: str
    index_url: str
    dump_size: int | None = None
    index_size: int | None = None


def _get(url: str, timeout: float) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "bookembed"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as err:
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError) as err:
        raise DownloadError(f"{url}: cannot connect ({getattr(err, 'reason', err)})") from None


def latest_dump(wiki: str = "enwiki", base_url: str = DUMPS_BASE_URL, *, timeout: float = 30.0,
                tries: int = 4) -> DumpFiles:
    """The newest dated run of ``wiki`` whose multistream dump and index are done.

    Reads the wiki's listing (``BASE/enwiki/``: one folder per run, named by
    date), then, newest first, each run's ``dumpstatus.json``: the current
    run's folder exists while it is still being written, so the newest folder
    is not always usable.

    Raises
    ------
    DownloadError
        The listing or status cannot be read, or no run among the newest
        ``tries`` has both files done.
    """
    if not re.fullmatch(r"[a-z0-9_-]+", wiki):
        raise DownloadError(f"{wiki!r} is not a wiki name like 'enwiki'")
    root = base_url.rstrip("/") + f"/{wiki}/"
    listing = _get(root, timeout).decode("utf-8", errors="replace")
    dates = sorted(set(re.findall(r'href="(?:[^"]*/)?(\d{8})/?"', listing)), reverse=True)
    if not dates:
        raise DownloadError(f"{root}: no dated dump folders listed")
    names = {
        "dump": re.compile(rf"{re.escape(wiki)}-\d{{8}}-pages-articles-multistream\.xml\.bz2"),
        "index": re.compile(rf"{re.escape(wiki)}-\d{{8}}-pages-articles-multistream-index\.txt\.bz2"),
    }
    for date in dates[:tries]:
        status_url = f"{root}{date}/dumpstatus.json"
        try:
            status = json.loads(_get(status_url, timeout))
        except DownloadError:
            continue
        except ValueError:
            raise DownloadError(f"{status_url}: not JSON") from None
        found: dict[str, tuple[str, int | None]] = {}
        for job in (status.get("jobs") or {}).values():
            if not isinstance(job, dict) or job.get("status") != "done":
                continue
            for name, info in (job.get("files") or {}).items():
                for kind, pattern in names.items():
                    if pattern.fullmatch(name) and isinstance(info, dict):
                        # the run's own folder, not the status's site-absolute "url": a mirror may
                        # serve the same layout under a prefix of its own (https://host/wikimedia/…)
                        found[kind] = (f"{root}{date}/{name}", info.get("size"))
        if len(found) == 2:
            return DumpFiles(wiki, date, found["dump"][0], found["index"][0], found["dump"][1], found["index"][1])
    raise DownloadError(f"{root}: none of the newest {min(tries, len(dates))} runs ({', '.join(dates[:tries])}) "
                        "has a finished pages-articles-multistream dump and index")


def download_dump(
    wiki: str = "enwiki",
    out_dir: str | Path = "data",
    *,
    base_url: str = DUMPS_BASE_URL,
    progress: Callable[[str, int, int | None], object] | None = None,
    timeout: float = 30.0,
) -> tuple[Path, Path]:
    """Fetch the newest multistream dump of ``wiki`` and its index into ``out_dir``.

    Each file resumes where a previous try stopped and is renamed into place
    only when complete (``bookembed.download.download``).

    Parameters
    ----------
    progress : callable, optional
        ``progress(file_name, bytes_done, bytes_total_or_None)``.

    Returns
    -------
    dump, index : Path
    """
    from bookembed.download import download

    files = latest_dump(wiki, base_url, timeout=timeout)
    paths = []
    # the index first: it is small, and a dump without its index cannot be read in parallel
    for url in (files.index_url, files.dump_url):
        name = url.rsplit("/", 1)[-1]
        callback = (lambda done, total, name=name: progress(name, done, total)) if progress else None
        paths.append(download(url, Path(out_dir) / name, progress=callback, timeout=timeout))
    index, dump = paths
    return dump, index


def downloaded_dumps(folder: str | Path = "data") -> list[tuple[Path, Path | None]]:
    """Multistream dumps in ``folder``, newest name first, each with its index when it is there.

    A ``.part`` file (a download still running or stopped) is not a dump yet.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for dump in sorted(folder.glob("*-pages-articles-multistream.xml.bz2"), reverse=True):
        index = dump.with_name(dump.name.replace("multistream.xml.bz2", "multistream-index.txt.bz2"))
        found.append((dump, index if index.is_file() else None))
    return found


if __name__ == "__main__":
    sys.exit(_subprocess_main(sys.argv[1:]))
