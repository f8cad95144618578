"""A busy laptop on demand: CPU hogs at normal priority beside whatever a benchmark times.

    with busy(2):          # two processes spinning at nice 0 until the block ends
        run_the_command()

Each benchmark takes ``--hogs N`` (``add_hogs_option``) and reports the
figures it measured with the number of hogs beside them, so the docs can show
a quiet column and a busy column from one results file. A hog is a plain
``python -c "while True: pass"``: the same demand as a browser tab or a build
that wants a whole core, at the same priority as the user's command.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from contextlib import contextmanager
from typing import Iterator

HOG = "while True: pass"


@contextmanager
def busy(n: int) -> Iterator[list[subprocess.Popen]]:
    """Run ``n`` CPU hogs at normal priority for the duration of the block (none for 0)."""
    procs = [subprocess.Popen([sys.executable, "-c", HOG], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for _ in range(max(0, int(n)))]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()


def add_hogs_option(parser: argparse.ArgumentParser) -> None:
    """``--hogs N``: measure beside N CPU hogs at normal priority (default 0, a quiet machine)."""
    parser.add_argument("--hogs", type=int, default=0,
                        help="run N CPU hogs (python busy loops at nice 0) beside the measurement")


def load_average() -> float:
    """The one-minute load average, to record with a figure (0.0 where the OS has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return 0.0
