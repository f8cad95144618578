"""What a user waits for at the command line, end to end, on a quiet machine and beside CPU hogs.

    .venv/bin/python benchmarks/bench_latency.py                # quiet
    .venv/bin/python benchmarks/bench_latency.py --hogs 2       # beside two hogs at normal priority

Each case is a whole ``bookembed`` command in a fresh process, from start to
exit, under ``/usr/bin/time -v`` for its peak memory:

* ``train p15, 1 epoch``: ``bookembed train`` on the 1,411 real records of
  ``../shared/data/p15_books.ndjson`` (reading to saving, baselines included);
* ``train demo``: the shipped classics corpus with the default settings;
* ``project demo, METHOD DIMS``: ``bookembed project`` on a copy of the demo
  model with its maps removed, so the map is computed, for UMAP, t-SNE and
  PCA in 2-D and 3-D. Compiled code is in its on-disk cache, as for a user who
  has run bookembed once (the first run after installing is timed apart, as
  ``... first run``, with an empty cache);
* with ``--big``, ``project 37k, umap 2-D``: the same command on a model of the
  full dataset's size (37,020 real titles, clustered vectors; built once under
  ``benchmarks/out/`` by ``bench_app.make_big_model``).

Figures are medians over ``--repeat`` runs, written to
``benchmarks/results/latency.json`` with the number of hogs beside them.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from hogs import add_hogs_option, busy, load_average  # noqa: E402
from results import record  # noqa: E402

P15 = ROOT.parent / "shared" / "data" / "p15_books.ndjson"
BOOKEMBED = [sys.executable, "-m", "bookembed"]
PROJECTIONS = [("umap", 2), ("umap", 3), ("tsne", 2), ("tsne", 3), ("pca", 2), ("pca", 3)]


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, float]:
    """Seconds from start to exit and peak memory (MB) of ``cmd``; raises if it fails."""
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", *cmd], cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    return seconds, (int(peak.group(1)) / 1024 if peak else float("nan"))


def cases(work: Path, first_run_cache: Path, big: bool = False) -> list[tuple[str, list[str], dict | None, callable]]:
    """(name, command, environment, preparation) for every case."""
    demo = work / "demo"
    big_copy = work / "big"

    def fresh_demo() -> None:
        shutil.rmtree(demo, ignore_errors=True)
        shutil.copytree(ROOT / "models" / "demo", demo)
        shutil.rmtree(demo / "projections", ignore_errors=True)

    def empty_cache() -> None:
        shutil.rmtree(first_run_cache, ignore_errors=True)
        first_run_cache.mkdir(parents=True)
        fresh_demo()

    out = [
        ("train p15, 1 epoch", [*BOOKEMBED, "train", "--data", str(P15), "--epochs", "1", "--out",
                                str(work / "p15"), "--overwrite", "-q"], None, lambda: None),
        ("train demo", [*BOOKEMBED, "train", "--data", "demo", "--out", str(work / "trained-demo"), "--overwrite",
                        "-q"], None, lambda: None),
    ]
    for method, dims in PROJECTIONS:
        out.append((f"project demo, {method} {dims}-D",
                    [*BOOKEMBED, "project", "--model", str(demo), "--method", method, "--dims", str(dims), "-q"],
                    None, fresh_demo))
    cold_env = {**os.environ, "XDG_CACHE_HOME": str(first_run_cache), "NUMBA_CACHE_DIR": str(first_run_cache / "numba")}
    for method in ("umap", "tsne"):
        out.append((f"project demo, {method} 2-D, first run",
                    [*BOOKEMBED, "project", "--model", str(demo), "--method", method, "--dims", "2", "-q"],
                    cold_env, empty_cache))
    if big:
        from bench_app import OUT, big_model

        source = big_model(OUT / "models")

        def fresh_big() -> None:
            shutil.rmtree(big_copy, ignore_errors=True)
            shutil.copytree(source, big_copy, ignore=shutil.ignore_patterns("projections", "clusters", "index"))

        out.append(("project 37k, umap 2-D", [*BOOKEMBED, "project", "--model", str(big_copy), "--method", "umap",
                                              "--dims", "2", "-q"], None, fresh_big))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="", help="run only the cases whose name contains this text")
    parser.add_argument("--big", action="store_true", help="also time a UMAP map of a 37,020-book model")
    add_hogs_option(parser)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    rows = []
    try:
        todo = [c for c in cases(work, work / "cache", args.big) if args.only in c[0]]
        for _, cmd, env, prepare in todo:  # warm the on-disk caches once, as a user's earlier run would
            if env is None:
                prepare()
                timed(cmd, env)
        with busy(args.hogs):
            for name, cmd, env, prepare in todo:
                seconds, peaks = [], []
                for _ in range(args.repeat):
                    prepare()
                    s, mb = timed(cmd, env)
                    seconds.append(s)
                    peaks.append(mb)
                row = {"what": name, "hogs": args.hogs, "seconds": round(statistics.median(seconds), 2),
                       "slowest_s": round(max(seconds), 2), "peak_mb": round(max(peaks)), "repeat": args.repeat,
                       "load_average": load_average()}
                print(row, flush=True)
                rows.append(row)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if rows:
            print("written:", record("latency", rows))


if __name__ == "__main__":
    main()
