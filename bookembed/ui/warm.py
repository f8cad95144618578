"""Once per server process, a background thread that readies the map's compiled code (``bookembed.warmup``).

A fresh server's first UMAP map would otherwise wait for ``import umap`` and for numba
to compile umap's code. The thread starts at the first script run, which it leaves to draw first;
it runs at the server's own priority, so a map asked for meanwhile never waits on a
starved helper: its own compile step simply finds the work done or under way (numba
compiles one function at a time, so nothing is compiled twice). Heavy imports happen
only inside the thread, never on the page's path.
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger("bookembed.ui")

WARM_UP_DELAY_S = 3.0
"""The thread waits this long before its imports, which hold Python's lock most of the time: started
at once, they slowed the first page's script run (measured with ``AppTest``; the figures are in the
commit that set this). A map asked for sooner does its own importing and compiling meanwhile."""

_lock = threading.Lock()
_thread: threading.Thread | None = None


def start_warm_up() -> threading.Thread:
    """Start the warm-up thread unless this process already has one; returns it."""
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_run, name="bookembed-warm-up", daemon=True)
            _thread.start()
        return _thread


def _run() -> None:
    time.sleep(WARM_UP_DELAY_S)
    try:
        from bookembed.warmup import warm_up

        warm_up()
    except Exception:  # a failed warm-up costs the first map its compile time, nothing else
        log.warning("map warm-up failed; the first map will compile as it goes", exc_info=True)
