"""The stages of a training run, their clock, and a terminal line that is never silent.

``pipeline.train_model_folder`` announces each stage through
``on_stage(stage, detail)``, with ``stage`` one of ``STAGES`` in that order
(``baselines`` only when they are fitted). ``StageLog`` keeps the clock: which
stage runs, since when, and how long each finished one took; the CLI's
``StatusLine`` and the app's Train page both read it, so both name the same
stages with the same times.

``StatusLine`` redraws one line on the terminal every ``interval`` seconds from
a thread of its own, so a stage that reports nothing (evaluation, baselines,
saving) still shows its elapsed time; when the stream is not a terminal it
writes a line at each stage and a heartbeat at most every ``HEARTBEAT_S``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, TextIO

STAGES = ("reading", "cleaning", "training", "evaluating", "baselines", "saving")
"""Every stage of ``train_model_folder``, in the order they run."""

HEARTBEAT_S = 2.0
"""The longest a progress display stays unchanged while work runs."""


def format_seconds(seconds: float) -> str:
    """``0.4 s``, ``12 s``, ``3 min 05 s``: short, and precise where it matters."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s"


def format_rate(examples_per_s: float) -> str:
    """Examples per second, as ``8.2M examples/s`` or ``512k examples/s``."""
    if examples_per_s >= 1e6:
        return f"{examples_per_s / 1e6:.1f}M examples/s"
    if examples_per_s >= 1e3:
        return f"{examples_per_s / 1e3:.0f}k examples/s"
    return f"{examples_per_s:.0f} examples/s"


@dataclass
class StageLog:
    """Which stage runs, since when, and how long each finished one took (thread-safe to read)."""

    clock: Callable[[], float] = time.monotonic
    done: list[tuple[str, str, float]] = field(default_factory=list)  # (stage, detail, seconds)
    current: str | None = None
    detail: str = ""
    since: float = 0.0
    started: float | None = None
    note: str = ""  # the running stage's latest progress, e.g. the training rate

    def start(self, stage: str, detail: str = "") -> None:
        """End the running stage, if any, and start ``stage``."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}")
        now = self.clock()
        self.finish(now)
        if self.started is None:
            self.started = now
        self.current, self.detail, self.since, self.note = stage, detail, now, ""

    def finish(self, now: float | None = None) -> None:
        """End the running stage (recording its time)."""
        if self.current is None:
            return
        now = self.clock() if now is None else now
        self.done.append((self.current, self.detail, now - self.since))
        self.current, self.note = None, ""

    def elapsed(self) -> float:
        """Seconds in the running stage (0 when none runs)."""
        return self.clock() - self.since if self.current is not None else 0.0

    def total(self) -> float:
        """Seconds since the first stage started."""
        return 0.0 if self.started is None else self.clock() - self.started

    def line(self) -> str:
        """The running stage as one line: ``evaluating 3.2 s: held-out AUC… · note``."""
        if self.current is None:
            return self.summary()
        text = f"{self.current} {format_seconds(self.elapsed())}"
        if self.detail:
            text += f": {self.detail}"
        if self.note:
            text += f" · {self.note}"
        return text

    def summary(self) -> str:
        """Every finished stage with its time: ``reading 0.3 s · cleaning 0.1 s · training 4.2 s``."""
        return " · ".join(f"{stage} {format_seconds(seconds)}" for stage, _, seconds in self.done)


class StatusLine:
    """A live one-line display of a ``StageLog`` on a stream, refreshed from its own thread.

    Use as a context manager around the work; call ``stage`` and ``progress``
    from the work's callbacks. On a terminal the line is redrawn in place every
    ``interval`` seconds; elsewhere a line is written when a stage starts and
    at most every ``HEARTBEAT_S`` seconds while it runs.
    """

    def __init__(self, stream: TextIO, *, interval: float = 0.5, tty: bool | None = None,
                 log: StageLog | None = None) -> None:
        self.stream = stream
        self.interval = interval
        self.tty = stream.isatty() if tty is None else tty
        self.log = log or StageLog()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_write = 0.0
        self._width = 0

    def stage(self, stage: str, detail: str = "") -> None:
        with self._lock:
            self.log.start(stage, detail)
            self._draw(force=True)

    def progress(self, note: str) -> None:
        with self._lock:
            self.log.note = note
            self._draw(force=False)

    def message(self, lines: list[str]) -> None:
        """Write whole lines above the status line (which is drawn again below them)."""
        with self._lock:
            if self.tty and self._width:
                self.stream.write("\r" + " " * self._width + "\r")
                self._width = 0
            self.stream.write("".join(line + "\n" for line in lines))
            if self.log.current is not None:
                self._draw(force=True)
            self.stream.flush()

    def _draw(self, force: bool) -> None:
        now = time.monotonic()
        if not self.tty and not force and now - self._last_write < HEARTBEAT_S:
            return
        text = self.log.line()
        if self.tty:
            pad = max(0, self._width - len(text))
            self.stream.write("\r" + text + " " * pad)
            self._width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self._last_write = now

    def _tick(self) -> None:
        while not self._stop.wait(self.interval if self.tty else min(self.interval, HEARTBEAT_S / 2)):
            with self._lock:
                if self.log.current is not None:
                    self._draw(force=self.tty)

    def __enter__(self) -> "StatusLine":
        self._thread = threading.Thread(target=self._tick, name="bookembed-status", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            failed = exc[0] is not None
            current = self.log.current
            self.log.finish()
            if self.tty and self._width:
                self.stream.write("\r" + " " * self._width + "\r")
            if self.log.done:
                head = f"stopped during {current}" if failed and current else "done"
                self.stream.write(f"{head} in {format_seconds(self.log.total())}: {self.log.summary()}\n")
            self.stream.flush()
