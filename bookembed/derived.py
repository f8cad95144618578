"""One cache protocol for the files a model folder derives from its vectors (maps, clusters, indexes).

A derived entry is a data file and its JSON sidecar, side by side in one
subfolder of the model folder::

    <model>/<kind>/<key><suffix>    the value (coordinates, a graph); absent for a kind whose
                                    sidecar holds the value too (cluster labels)
    <model>/<kind>/<key>.json       what it is, how it was made, and ``vectors``: the checksum
                                    of the vectors it was made from

The rules, in one place (DESIGN habits 14 and 18; embedding-atlas's ``cache.py``):

- An entry is keyed by the vectors' checksum: a sidecar naming other vectors
  is stale, and a stale, missing or damaged entry is ignored (with the reason,
  for callers that report one) and never trusted.
- The sidecar makes an entry usable, so it is written last: an old sidecar is
  removed first, then the data file and the sidecar are each written
  atomically (``atomic.replacing``). A crash at any point leaves either a
  complete entry or one without a sidecar, which is ignored.
- A folder that cannot be written (read-only) still gets its value: ``cached``
  computes and returns it without keeping it.

Which kinds there are and what their files are called is the model folder's
schema (``store.DERIVED``); what each value is and how it is checked, its
owner's (``projection``, ``clusters``, ``index``). Small documents that are
not derived from the vectors (the saved map views) are a ``Document``: one
JSON file, read tolerantly and written atomically.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from bookembed.atomic import replacing, write_json_atomic
from bookembed.errors import WriteError

SIDECAR = ".json"


class Unusable(Exception):
    """Raised by a kind's ``load`` or ``check`` for an entry that must be ignored; the message says why."""


@dataclass(frozen=True)
class Entry:
    """One usable derived entry: its key, its value and its sidecar (``info``)."""

    key: str
    value: Any
    info: dict


Load = Callable[[Path | None, dict], Any]
"""``load(data_path, info) -> value``: reads and checks the value (``data_path`` is None for a kind whose
sidecar holds it); raises ``Unusable`` (or OSError, ValueError, KeyError, TypeError) when it is damaged."""
Check = Callable[[dict], str | None]
"""``check(info) -> why the entry is unusable, or None``: the kind's own checks of a sidecar."""
Save = Callable[[Any, Path], None]
"""``save(value, path)``: writes the value's data file to ``path`` (a temporary sibling of the final name)."""


def _read_json(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return None


@dataclass(frozen=True)
class DerivedFiles:
    """The entries of one kind of derived file in a model folder, checked against one vectors' checksum.

    Attributes
    ----------
    folder : Path
        ``<model>/<kind>``.
    suffix : str or None
        The data file's suffix (``.npy``); None when the sidecar holds the value.
    checksum : str
        The checksum of the vectors a usable entry was made from.
    """

    folder: Path
    suffix: str | None
    checksum: str

    def paths(self, key: str) -> tuple[Path | None, Path]:
        """The data file (None for a sidecar-only kind) and the sidecar of ``key``."""
        data = None if self.suffix is None else self.folder / f"{key}{self.suffix}"
        return data, self.folder / f"{key}{SIDECAR}"

    def sidecar(self, key: str) -> dict | None:
        """The sidecar of ``key`` as stored, unchecked (None when missing or not a JSON object)."""
        info = _read_json(self.paths(key)[1])
        return info if isinstance(info, dict) else None

    def look(self, key: str, load: Load | None = None, check: Check | None = None) -> tuple[Entry | None, str]:
        """The usable entry of ``key``, or (None, why not).

        Without ``load`` only the sidecar is checked (the value is not read):
        the entry's value is then None.
        """
        # 1. both files there, the sidecar a JSON object
        data, _ = self.paths(key)
        if data is not None and not data.is_file():
            return None, "missing"
        info = self.sidecar(key)
        if info is None:
            return None, "damaged description"
        # 2. the kind's own checks, then the vectors it was made from
        why = check(info) if check is not None else None
        if why is None and info.get("vectors") != self.checksum:
            why = "made from other vectors"
        if why is not None:
            return None, why
        # 3. the value
        if load is None:
            return Entry(key, None, info), ""
        try:
            value = load(data, info)
        except Unusable as err:
            return None, str(err)
        except (OSError, ValueError, KeyError, TypeError):
            return None, "damaged data file"
        return Entry(key, value, info), ""

    def read(self, key: str, load: Load | None = None, check: Check | None = None) -> Entry | None:
        """The usable entry of ``key``, or None (missing, stale or damaged)."""
        return self.look(key, load, check)[0]

    def keys(self) -> list[str]:
        """Keys of the entries present (usable or not), sorted; temporary files are skipped."""
        if not self.folder.is_dir():
            return []
        ending = self.suffix or SIDECAR
        return sorted(p.name[: -len(ending)] for p in self.folder.glob(f"*{ending}")
                      if not p.name.startswith(".") and p.is_file())

    def entries(self, load: Load | None = None, check: Check | None = None, *, what: str = "entry",
                notes: list[str] | None = None) -> list[Entry]:
        """Every usable entry, by key; ``notes`` gets ``note: ignored WHAT 'KEY': WHY`` for each other one."""
        found = []
        for key in self.keys():
            entry, why = self.look(key, load, check)
            if entry is None:
                if notes is not None:
                    notes.append(f"note: ignored {what} {key!r}: {why}")
                continue
            found.append(entry)
        return found

    def write(self, key: str, value: Any, info: dict, save: Save | None = None) -> Entry:
        """Store an entry: the old sidecar removed, the data file written, the sidecar (with ``vectors``) last.

        Raises
        ------
        WriteError
            The folder cannot be written (read-only, full): one line naming it.
        """
        data, meta = self.paths(key)
        info = {**info, "vectors": self.checksum}
        try:
            meta.unlink(missing_ok=True)  # from here until the end, no sidecar vouches for a half-written entry
            if data is not None and save is not None:
                with replacing(data) as tmp:
                    save(value, tmp)
            write_json_atomic(meta, info)
        except OSError as err:
            raise WriteError(f"{self.folder}: cannot write {key} here ({err.strerror or err})") from None
        return Entry(key, value, info)

    def cached(self, key: str, compute: Callable[[], tuple[Any, dict]], save: Save | None = None,
               load: Load | None = None, check: Check | None = None) -> tuple[Entry, bool]:
        """The usable entry of ``key``, or ``compute()``'s ``(value, info)`` stored as one; and whether it was stored.

        A folder that cannot be written gets the computed value all the same, not kept.

        Returns
        -------
        entry : Entry
        cached : bool
            True when the entry came from the folder (``compute`` was not called).
        """
        found = self.read(key, load, check)
        if found is not None:
            return found, True
        value, info = compute()
        try:
            return self.write(key, value, info, save), False
        except WriteError:
            return Entry(key, value, {**info, "vectors": self.checksum}), False


@dataclass(frozen=True)
class Document:
    """One small JSON file of a model folder that is not derived from the vectors (the saved map views)."""

    path: Path

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    @property
    def stamp(self) -> int | None:
        """Its modification time in ns (changes whenever it is rewritten), or None when there is none."""
        try:
            return os.stat(self.path).st_mtime_ns
        except OSError:
            return None

    def read(self) -> Any:
        """Its JSON value, or None when it is missing or damaged."""
        return _read_json(self.path)

    def write(self, value: Any) -> None:
        """Replace it atomically; ``WriteError`` (one line naming it) when the folder cannot be written."""
        try:
            write_json_atomic(self.path, value)
        except OSError as err:
            raise WriteError(f"{self.path}: cannot write ({err.strerror or err})") from None
