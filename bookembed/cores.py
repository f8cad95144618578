"""How many threads work may use: the cores this process may run on, and the size from which training uses them."""

from __future__ import annotations

import os

PARALLEL_MIN_PAIRS = 200_000
"""Below this many training pairs the default trainer runs on one thread: small
corpora gain little from threads, and one thread keeps their vectors
reproducible bit for bit (the shipped demo among them)."""


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
