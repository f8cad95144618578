"""Once per server process, a background thread that readies the map's compiled code (``bookembed.warmup``).

A fresh server's first UMAP map would otherwise wait for ``import umap`` and for numba
to compile umap's code. The thread starts at the first script run and waits for a quiet
moment: no page has run for ``QUIET_S`` seconds, so a burst of readers arriving at a
fresh server is served before the warm-up takes its share of the CPU. It runs at the
server's own priority (a lowered one would hold Python's lock while starved), so a map
asked for meanwhile never waits on a starved helper: its own compile step simply finds
the work done or under way (numba compiles one function at a time, so nothing is
compiled twice). Heavy imports happen only inside the thread, never on the page's path.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

log = logging.getLogger("bookembed.ui")

WARM_UP_DELAY_S = 3.0
"""The thread waits this long before its imports, which hold Python's lock most of the time: started
at once, they slowed the first page's script run (measured with ``AppTest``; the figures are in the
commit that set this). A map asked for sooner does its own importing and compiling meanwhile."""

QUIET_S = 3.0
"""The warm-up begins once no page has run for this long."""

_lock = threading.Lock()
_thread: threading.Thread | None = None
_last_run = 0.0


def start_warm_up(wanted: Callable[[], bool] = lambda: True) -> threading.Thread | None:
    """Note that a page runs now, and start the warm-up thread unless this process already has one or
    ``wanted()`` says no (``first_map_cached``); returns the thread, None while there is none."""
    global _thread, _last_run
    with _lock:
        _last_run = time.monotonic()
        if _thread is not None:
            return _thread
    if not wanted():  # outside the lock: it may load a model, and other pages only note their run
        return None
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_run, name="bookembed-warm-up", daemon=True)
            _thread.start()
        return _thread


def first_map_cached(model) -> bool:
    """Whether the Map page's first map of ``model`` (the first method, 2-D, default parameters) is cached in
    its folder: then that map needs no compiled code, and the warm-up would only take Python's lock from the
    pages for seconds (``import umap`` and numba's compiling). Reads one small sidecar."""
    from bookembed import projection as proj

    try:
        return proj.projection_info(model, proj.make_settings(next(iter(proj.SETTINGS)), dims=2)) is not None
    except Exception:  # noqa: BLE001 - only decides whether to warm up
        return False


def _wait_for_a_quiet_moment() -> None:
    time.sleep(WARM_UP_DELAY_S)
    while (idle := time.monotonic() - _last_run) < QUIET_S:
        time.sleep(QUIET_S - idle)


def _run() -> None:
    _wait_for_a_quiet_moment()
    try:
        from bookembed.warmup import warm_up

        warm_up()
    except Exception:  # a failed warm-up costs the first map its compile time, nothing else
        log.warning("map warm-up failed; the first map will compile as it goes", exc_info=True)
