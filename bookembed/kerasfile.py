"""``model.keras`` written by a helper process that imports Keras while the caller loads and trains.

Training itself needs no TensorFlow (``training.initial_weights``), but the
model folder's ``model.keras`` does, and importing it takes about 5 s on 2
cores: a fifth of a default ``bookembed train`` at 37,000 books. So
``pipeline.train_model_folder`` starts a ``KerasFileWriter`` first: a child
process at the lowest CPU priority (``nice 19``) that imports Keras on
whatever core loading and the metrics leave idle, then waits. When the model
folder is saved, ``KerasFile.save`` hands it the trained vectors and it writes
``model.keras``; the file is the one ``training.keras_model(...).save`` writes
in process, which is what happens when no helper runs or the helper fails.

Cost: one more process holding TensorFlow (0.62 GB) while training runs, which
peaks at 1.53 GB while it writes a 1,000,000-book model (3.1 s; 0.67 GB at 37,020
books), and the vectors written once more to a scratch file (``n x dim x 4`` bytes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WRITE_TIMEOUT_S = 600.0
"""How long ``KerasFileWriter.write`` waits for the helper before writing the file itself."""


class KerasFileWriter:
    """A child process that imports Keras now and writes ``model.keras`` files when asked.

    Use as a context manager, or call ``close``; the child exits when its
    input closes. Every failure (the child missing, dying or answering an
    error) makes ``write`` return False, and the caller writes the file in
    its own process.
    """

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = subprocess.Popen(
            [sys.executable, "-m", "bookembed.kerasfile"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )

    def write(self, path: str | Path, book_vectors: np.ndarray, link_vectors: np.ndarray, task: str,
              head: tuple[float, float]) -> bool:
        """Have the child write ``path``; True when it did, False when the caller must."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return False
        path = Path(path)
        with tempfile.TemporaryDirectory(prefix=".keras-", dir=path.parent) as scratch:
            book, link = Path(scratch) / "book.npy", Path(scratch) / "link.npy"
            np.save(book, np.ascontiguousarray(book_vectors, dtype=np.float32))
            np.save(link, np.ascontiguousarray(link_vectors, dtype=np.float32))
            request = {"out": str(path), "book": str(book), "link": str(link), "task": task,
                       "head": [float(head[0]), float(head[1])]}
            try:
                proc.stdin.write(json.dumps(request) + "\n")
                proc.stdin.flush()
                answer = _read_line(proc, WRITE_TIMEOUT_S)
            except (OSError, ValueError):
                self.close()
                return False
        if answer != "ok" or not path.is_file():
            self.close()
            path.unlink(missing_ok=True)
            return False
        return True

    def close(self) -> None:
        """End the child (it exits when its input closes; killed if it does not within 10 s)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()

    def __enter__(self) -> "KerasFileWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _read_line(proc: subprocess.Popen, timeout: float) -> str:
    """The child's next answer line, or "" when it closes or does not answer in time."""
    import selectors

    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            return ""
    return proc.stdout.readline().strip()


@dataclass(frozen=True)
class KerasFile:
    """What ``model.keras`` holds; ``save`` writes it (``store.SaveInputs.model``).

    Through ``writer`` when one is given and working, else in this process.
    """

    book_vectors: np.ndarray
    link_vectors: np.ndarray
    task: str = "regression"
    head: tuple[float, float] = (0.0, 0.0)
    writer: KerasFileWriter | None = None

    def save(self, path: str | Path) -> None:
        if self.writer is not None and self.writer.write(path, self.book_vectors, self.link_vectors, self.task,
                                                         self.head):
            return
        from bookembed.training import keras_model

        keras_model(self.book_vectors, self.link_vectors, self.task, self.head).save(path)


def _serve() -> None:
    """The child: import Keras at the lowest priority, then write one file per request line."""
    try:
        os.nice(19)
    except OSError:
        pass
    from bookembed.training import keras_model, quiet_tensorflow

    quiet_tensorflow()
    import keras  # noqa: F401  (the point of the helper: imported before it is needed)

    for line in sys.stdin:
        try:
            request = json.loads(line)
            model = keras_model(np.load(request["book"]), np.load(request["link"]), request["task"],
                                tuple(request["head"]))
            model.save(request["out"])
            answer = "ok"
        except Exception as exc:  # any failure: the parent writes the file itself
            answer = f"error {type(exc).__name__}: {exc}".replace("\n", " ")
        sys.stdout.write(answer + "\n")
        sys.stdout.flush()
    # Input closed: every answer is flushed and nothing is left to clean up, so skip TensorFlow's
    # second-long teardown, which the parent would wait for.
    os._exit(0)


if __name__ == "__main__":
    _serve()
