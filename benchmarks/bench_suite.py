"""How long the test suite takes, quiet and beside CPU hogs: the fast tier and the whole suite.

    .venv/bin/python benchmarks/bench_suite.py                  # both, quiet
    .venv/bin/python benchmarks/bench_suite.py --hogs 2         # both, beside two hogs
    .venv/bin/python benchmarks/bench_suite.py --only fast      # the fast tier alone

Each run is ``python -m pytest`` in a fresh process from the repository root, timed from start
to exit, with the counts from pytest's closing line. The whole suite is what the README's test
command runs after installing (``.ci/run`` adds the install and Chromium). Figures go to
``benchmarks/results/suite.json``.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from hogs import add_hogs_option, busy, load_average  # noqa: E402
from results import record  # noqa: E402

FAST = "not system and not slow"
CASES = {
    "fast": ("fast tier (-m \"not system and not slow\")", ["-m", FAST]),
    "whole": ("whole suite", []),
}


def run_suite(args: list[str]) -> tuple[float, dict]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=ROOT,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|errors?|deselected|xfailed)",
                                                     tail)}
    return seconds, {"exit_code": done.returncode, **counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(CASES), help="run one of the two")
    add_hogs_option(parser)
    args = parser.parse_args()
    rows = []
    with busy(args.hogs):
        for name in [args.only] if args.only else list(CASES):
            what, extra = CASES[name]
            seconds, counts = run_suite(extra)
            row = {"what": what, "hogs": args.hogs, "seconds": round(seconds, 1), **counts,
                   "load_average": load_average()}
            print(row, flush=True)
            rows.append(row)
    print("written:", record("suite", rows))


if __name__ == "__main__":
    main()
