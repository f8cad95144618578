"""Background jobs with live progress: training runs and projections.

Jobs run in threads owned by the server process, not by a script run: a
widget click reruns the page but does not abort a training run or a UMAP
layout, and every session asking for the same projection shares one job.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd
import streamlit as st

from bookembed.errors import BookembedError
from bookembed.stages import StageLog, format_seconds
from bookembed.ui.text import escape_markdown

log = logging.getLogger("bookembed.ui")


@dataclass
class Job:
    """Work running in a server thread, with progress that any script run can read."""

    key: str
    label: str
    fraction: float = 0.0
    stage: str = "starting"
    points: list = field(default_factory=list)  # e.g. loss per chunk of training steps
    result: object = None
    error: str | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None
    owner: str | None = None
    stages: StageLog | None = None  # named stages with their clock, for work that has them (training)
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def report(self, fraction: float, stage: str) -> None:
        self.fraction, self.stage = float(min(max(fraction, 0.0), 1.0)), stage

    def wait(self, seconds: float) -> bool:
        return self._done.wait(seconds)


@st.cache_resource(show_spinner=False)
def _jobs() -> dict:
    return {"lock": threading.Lock(), "jobs": {}}


def get_job(key: str) -> Job | None:
    return _jobs()["jobs"].get(key)


def forget_job(key: str) -> None:
    _jobs()["jobs"].pop(key, None)


def start_job(key: str, label: str, work: Callable[[Job], object], owner: str | None = None) -> Job:
    """Run ``work(job)`` in a thread unless a job with this key is already running; return the job.

    A ``BookembedError`` becomes ``job.error`` (its one-line message); any
    other exception too, with the traceback logged.
    """
    registry = _jobs()
    with registry["lock"]:
        job = registry["jobs"].get(key)
        if job is not None and not job.done:
            return job
        job = Job(key=key, label=label, owner=owner)
        registry["jobs"][key] = job

    def run() -> None:
        try:
            job.result = work(job)
        except BookembedError as err:
            job.error = str(err)
        except Exception as err:  # noqa: BLE001 - shown to the user, logged in full
            log.error("job %s failed:\n%s", key, traceback.format_exc())
            job.error = f"{type(err).__name__}: {err}"
        finally:
            job.finished = time.time()
            job._done.set()

    threading.Thread(target=run, name=f"bookembed-{key}", daemon=True).start()
    return job


def watch_job(job: Job, *, chart: str | None = None, every: float = 1.0) -> None:
    """Progress bar (and a live line chart of ``job.points``) that refreshes itself; reruns the app when done."""

    @st.fragment(run_every=every)
    def _progress() -> None:
        elapsed = (job.finished or time.time()) - job.started
        if job.stages is not None and job.stages.current is not None:
            # the running stage's own clock and latest note, redrawn every `every` seconds
            st.progress(job.fraction, text=f"{escape_markdown(job.stages.line())} (total {format_seconds(elapsed)})")
            if job.stages.done:
                st.caption("Done: " + escape_markdown(job.stages.summary()))
        else:
            st.progress(job.fraction, text=f"{escape_markdown(job.stage)} ({format_seconds(elapsed)})")
        if chart and job.points:
            frame = pd.DataFrame(job.points)
            st.line_chart(frame, x="epoch", y=chart, height=240)
        if job.done:
            st.rerun()

    _progress()


def session_id() -> str:
    """A random id for this browser session (who started a job)."""
    return st.session_state.setdefault("_session_id", os.urandom(8).hex())
