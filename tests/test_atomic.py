"""How files are stored (bookembed/atomic.py): new files get the mode the umask gives, and nothing changes the umask."""

from __future__ import annotations

import ast
import subprocess
import sys

from bookembed.folderfiles import RECORD
from conftest import ROOT

UMASK_SCRIPT = """
import os, stat, sys
from pathlib import Path
os.umask(0o027)
sys.path.insert(0, {tests!r})
import numpy as np
from bookembed import atomic, store
from test_store import make_inputs
root = Path({root!r})
atomic.write_json_atomic(root / "a.json", {{"a": 1}})
atomic.write_npy_atomic(root / "a.npy", np.arange(3))
atomic.write_files_atomic(root / "out", {{"sub/b.txt": b"b"}})
with atomic.replacing(root / "c.bin") as tmp:
    tmp.write_bytes(b"c")
store.save_model_folder(root / "m", make_inputs())
assert os.umask(0o027) == 0o027, "the umask changed"
for path in sorted(root.rglob("*")):
    print(path.relative_to(root).as_posix(), oct(stat.S_IMODE(path.stat().st_mode)))
"""


def test_new_files_and_folders_take_their_mode_from_the_umask(tmp_path):
    script = UMASK_SCRIPT.format(tests=str(ROOT / "tests"), root=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    modes = dict(line.split() for line in proc.stdout.splitlines())
    for name in ("a.json", "a.npy", "out/sub/b.txt", "c.bin", "m/manifest.json", "m/book_vectors.npy",
                 f"m/{RECORD}"):
        assert modes[name] == oct(0o640), (name, modes[name])
    for name in ("out", "out/sub", "m"):
        assert modes[name] == oct(0o750), (name, modes[name])
    # no temporary siblings left (the record of checked files is a cache the save writes, not a leftover)
    assert not [name for name in modes if name.rsplit("/", 1)[-1].startswith(".") and name != f"m/{RECORD}"]


def test_no_library_module_changes_the_umask():
    """``os.umask`` is process-wide: set from one thread of the app, it changes every other thread's new files."""
    calls = []
    for path in sorted((ROOT / "bookembed").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "umask":
                calls.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert calls == []
