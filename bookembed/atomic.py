"""How files and folders are written: atomically, through temporary siblings.

Every file the library writes for keeps goes through here (DESIGN habits 8
and 18): it is written to a hidden temporary sibling and moved into place with
``os.replace``, so a reader sees the old file or the new one, never half of
one, and a crash leaves the old one. A folder is built in a temporary sibling
``.NAME.tmp-PID-*`` and swapped in with one atomic exchange of the two names
(``renameat2(RENAME_EXCHANGE)``; where the system lacks it, two renames, and a
crash between them is repaired by ``recover_leftovers``). What the files hold
is the business of their owners (``store`` for the model folder).

Files and folders are created with the mode the operating system gives a new
file (0o666 or 0o777 less the process's umask), as ``open`` and ``mkdir``
would; the umask is never read or changed here (changing it is process-wide,
and unsafe beside other threads).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import re
import secrets
import shutil
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from bookembed.errors import ModelFolderError, WriteError

_ATTEMPTS = 100
"""Fresh names tried for a temporary sibling before giving up (each is random, so one nearly always does)."""


def temp_file(path: str | Path) -> Path:
    """A new empty hidden file beside ``path`` (``.NAME.RANDOM.tmp``), created exclusively.

    Created with mode 0o666 less the umask, as ``open(path, "w")`` would
    create ``path`` itself (``tempfile.mkstemp`` makes owner-only files).
    """
    path = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(_ATTEMPTS):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            os.close(os.open(tmp, flags, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(path))


@contextlib.contextmanager
def replacing(path: str | Path, temp: Path | None = None) -> Iterator[Path]:
    """Write ``path`` through a temporary sibling: yields the sibling's path to write.

    The sibling is ``temp`` when given (a name the caller can recognise later,
    such as one that carries its process id), else a fresh ``temp_file``.

    When the block ends normally the sibling replaces ``path`` (``os.replace``);
    when it raises (even ``KeyboardInterrupt``) the sibling is removed and
    ``path`` is left as it was. The parent folder is created if needed. Close
    any file opened on the sibling inside the block.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_file(path) if temp is None else temp
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, value: Any) -> None:
    """Write JSON to ``path`` through a temporary sibling and ``os.replace``."""
    with replacing(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        json.dump(value, fh, ensure_ascii=False, indent=1)


def write_npy_atomic(path: Path, array: np.ndarray) -> None:
    """Write one array through a temporary sibling and ``os.replace``."""
    with replacing(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array, allow_pickle=False)


def write_files_atomic(folder: Path, files: dict) -> list[Path]:
    """Write ``{relative name: bytes}`` into ``folder``, each file replaced atomically.

    A value may also be a writer, ``write(path)``, that writes the file
    itself (a big export streams its rows to disk this way).

    All files are first written to a temporary folder inside ``folder``, then
    moved into place with ``os.replace``, configs (``.pbtxt``,
    ``projector_config.json``) last, so a crash leaves each file either old or
    new and a reader never sees half a file. Other files in ``folder`` are kept.

    Returns
    -------
    list of Path
        The files written, in the order they were moved into place.

    Raises
    ------
    WriteError
        A folder that cannot be created or written (one line naming it).
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise WriteError(f"{folder}: exists and is not a folder") from None
    except OSError as err:
        raise WriteError(f"{folder}: cannot create the folder ({err.strerror})") from None
    if not folder.is_dir():
        raise WriteError(f"{folder}: exists and is not a folder")
    order = sorted(files, key=lambda name: (name.endswith((".pbtxt", "projector_config.json")), name))
    written = []
    try:
        tmp = _new_dir(folder, ".export-tmp-")
    except OSError as err:
        raise WriteError(f"{folder}: cannot write here ({err.strerror})") from None
    try:
        for name in order:
            staged = tmp / name
            staged.parent.mkdir(parents=True, exist_ok=True)
            content = files[name]
            if callable(content):
                content(staged)
            else:
                staged.write_bytes(content)
        for name in order:
            target = folder / name
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp / name, target)
            except OSError as err:
                raise WriteError(f"{target}: cannot write ({err.strerror})") from None
            written.append(target)
    except OSError as err:
        raise WriteError(f"{folder}: cannot write ({err.strerror})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return written


# ---------------------------------------------------------------- swapping folders in

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_exchange_available = True  # cleared for good once the system says it cannot exchange
UNNAMED_LEFTOVER_AGE_S = 3600
LEFTOVER = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<pid>\d+)-.*$")
"""A temporary (``tmp``) or set-aside (``old``) sibling folder: ``.NAME.KIND-PID-*``."""


def _renameat2_exchange(a: Path, b: Path) -> bool:
    """Swap the names ``a`` and ``b`` in one step; False where the system cannot (no renameat2, or a
    file system without RENAME_EXCHANGE), so the caller falls back to two renames."""
    global _exchange_available
    if not _exchange_available:
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):  # not Linux, or a C library older than glibc 2.28
        _exchange_available = False
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        _exchange_available = False
        return False
    raise OSError(err, os.strerror(err), str(b))


def _sibling(target: Path, kind: str) -> str:
    """A fresh hidden sibling name: ``.NAME.KIND-PID-TIME`` (the pid tells live leftovers from stale ones)."""
    return f".{target.name}.{kind}-{os.getpid()}-{time.time_ns()}"


def _new_dir(parent: Path, prefix: str) -> Path:
    """A new empty folder ``parent / (prefix + RANDOM)``, with the mode ``mkdir`` gives (0o777 less the umask)."""
    for _ in range(_ATTEMPTS):
        path = parent / f"{prefix}{secrets.token_hex(4)}"
        try:
            os.mkdir(path, 0o777)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(parent / prefix))


def make_temp_dir(target: str | Path) -> Path:
    """A new empty temporary sibling of ``target`` (``.NAME.tmp-PID-*``) to build a replacement in.

    It has the mode a new folder gets (0o777 less the umask), so once swapped
    in it reads like any folder made with ``mkdir``.
    """
    target = Path(target)
    return _new_dir(target.parent, f".{target.name}.tmp-{os.getpid()}-")


def replace_dir_atomic(tmp_dir: Path, target: Path) -> None:
    """Move a finished ``tmp_dir`` to ``target``, replacing any folder there.

    Where the system can, the two names are exchanged in one step
    (``renameat2`` with ``RENAME_EXCHANGE``), so ``target`` is never missing,
    and the old folder, now under the temporary name, is removed. Elsewhere
    the old folder is renamed aside (``.NAME.old-PID-*``) and the new one
    renamed in; a crash between the two is repaired by ``recover_leftovers``
    at the next load or write. Nothing of the old folder is carried over.
    """
    target = Path(target)
    tmp_dir = Path(tmp_dir)
    if target.exists() and not target.is_dir():
        raise ModelFolderError(f"{target}: exists and is not a folder; not replacing it")
    if not target.exists():
        os.replace(tmp_dir, target)
        return
    if _renameat2_exchange(tmp_dir, target):
        shutil.rmtree(tmp_dir, ignore_errors=True)  # the old folder, now under the temporary name
        return
    aside = target.with_name(_sibling(target, "old"))
    os.replace(target, aside)
    try:
        os.replace(tmp_dir, target)
    except BaseException:
        os.replace(aside, target)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _pid_running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    except OSError:
        return True
    return True


def recover_leftovers(target: str | Path, marker: str | None = None) -> list[str]:
    """Repair and tidy after writers of ``target`` that died mid-way; returns what was done.

    Only leftovers whose writer (the pid in the name) is no longer running
    are touched, so a concurrent writer's live temporary folder is safe:

    - ``target`` missing and a ``.NAME.old-*`` folder there (holding the file
      ``marker``, when given: a complete folder): a crash between the two
      renames of the fallback swap; the old folder is renamed back.
    - any other ``.NAME.tmp-*`` and ``.NAME.old-*``: half-written folders,
      or old ones already replaced; removed.

    Errors (a read-only parent folder) are ignored: tidying is best effort.
    """
    target = Path(target)
    parent = target.parent
    done: list[str] = []
    try:
        entries = [e for e in os.scandir(parent) if e.name.startswith(f".{target.name}.")]
    except OSError:
        return done
    stale = []
    for entry in entries:
        m = LEFTOVER.match(entry.name)
        if m and m["name"] == target.name:
            if not _pid_running(int(m["pid"])):
                stale.append((m["kind"], entry.name))
        elif entry.name.startswith((f".{target.name}.tmp-", f".{target.name}.old-")):
            # named without a pid (older versions): stale once nothing has touched it for an hour
            with contextlib.suppress(OSError):
                if time.time() - entry.stat().st_mtime > UNNAMED_LEFTOVER_AGE_S:
                    stale.append(("old" if ".old-" in entry.name else "tmp", entry.name))
    # the newest old folder first: it is the one the crashed swap moved aside
    stale.sort(key=lambda item: item[1], reverse=True)
    try:
        if not os.path.lexists(target):
            for kind, name in stale:
                if kind == "old" and (marker is None or (parent / name / marker).is_file()):
                    os.replace(parent / name, target)
                    done.append(f"restored {target} from {name} (a replacement was interrupted)")
                    stale.remove((kind, name))
                    break
        for _, name in stale:
            shutil.rmtree(parent / name, ignore_errors=True)
            done.append(f"removed the leftover {parent / name}")
    except OSError:
        pass
    return done


@contextlib.contextmanager
def folder_lock(folder: Path):
    """An exclusive ``flock`` on ``folder`` (a directory): one swap at a time, no lock file left behind."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, the caller's identity check still catches most races
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def identity(path: Path) -> tuple[int, int] | None:
    """Which folder is at ``path`` now: (device, inode), or None when nothing is there.

    A write replaces the whole folder, so a new identity means another
    writer got there in between.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)
