"""One source for every measured figure: each benchmark writes ``benchmarks/results/<name>.json``.

A results file holds the command that produced it, the machine (cores,
memory, processor: each row names the processor it was measured on), the date, the number of CPU hogs that ran beside it and
the figures themselves, as rows of plain values::

    record("latency", rows=[{"what": "train p15, 1 epoch", "hogs": 0, "seconds": 8.1}, ...])

``record`` merges rows into the file by their ``key`` columns, so a quiet run
and a busy run of the same benchmark land side by side in one file. The docs'
tables are generated from these files (``benchmarks/make_docs.py``).
``BOOKEMBED_RESULTS_DIR`` names another folder to write them to (a scratch
folder, to try a benchmark without touching the recorded figures).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shlex
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
_ROOT = RESULTS.parents[1]
if os.environ.get("BOOKEMBED_RESULTS_DIR"):  # a scratch folder, for trying a benchmark without writing its figures
    RESULTS = Path(os.environ["BOOKEMBED_RESULTS_DIR"]).resolve()


def machine() -> dict:
    """Cores, memory and processor of this machine, to store beside a figure."""
    mem_gb = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
                    break
    except OSError:
        pass
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "memory_gb": mem_gb, "cpu": cpu, "python": platform.python_version()}


def command_line() -> str:
    """The command that is running, as a user would type it from the repository root."""
    argv = list(sys.argv)
    if argv and argv[0].endswith(".py"):
        try:
            argv[0] = str(Path(argv[0]).resolve().relative_to(_ROOT))
        except ValueError:
            pass
        argv.insert(0, "python")
    return shlex.join(argv)


def record(name: str, rows: list[dict], key: tuple[str, ...] = ("what", "hogs"), notes: str | None = None) -> Path:
    """Merge ``rows`` into ``results/<name>.json`` (a row replaces the stored one with the same ``key``)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    old = load(name) or {}
    # each row names the processor it was measured on: rows measured on another machine keep theirs
    earlier = (old.get("machine") or {}).get("cpu")
    merged = {tuple(r.get(k) for k in key): {**r, "cpu": r.get("cpu", earlier)} for r in old.get("rows", [])}
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    here = machine()
    for row in rows:
        row = {**row, "command": row.get("command", command_line()), "date": row.get("date", stamp),
               "cpu": row.get("cpu", here["cpu"])}
        merged[tuple(row.get(k) for k in key)] = row
    data = {"name": name, "machine": here, "key": list(key), "rows": list(merged.values())}
    if notes or old.get("notes"):
        data["notes"] = notes or old.get("notes")
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def load(name: str) -> dict | None:
    """A results file's contents, or None when that benchmark has not been run."""
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
