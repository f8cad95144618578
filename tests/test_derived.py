"""The one cache protocol for derived files (bookembed/derived.py, through ModelFolder): keyed by the vectors'
checksum, the sidecar written last, stale or damaged entries ignored, a read-only folder tolerated."""

from __future__ import annotations

import errno
import json
import shutil

import numpy as np
import pytest

from bookembed import atomic, derived
from bookembed import clusters as cl
from bookembed import projection as proj
from bookembed.derived import DerivedFiles, Unusable
from bookembed.errors import WriteError
from bookembed.store import DERIVED, load_model_folder
from conftest import ROOT


def _save(value, path):
    with open(path, "wb") as fh:
        np.save(fh, value, allow_pickle=False)


def _load(path, info):  # noqa: ARG001
    return np.load(path, allow_pickle=False)


class Counter:
    """A ``compute`` that counts its calls and returns a new array each time."""

    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return np.full(3, self.calls, dtype=np.float32), {"made": self.calls}


def test_an_entry_is_computed_once_then_read_back(tmp_path):
    files = DerivedFiles(tmp_path / "kind", ".npy", "abc")
    compute = Counter()
    first, cached = files.cached("k", compute, _save, _load)
    assert not cached and compute.calls == 1 and first.info == {"made": 1, "vectors": "abc"}
    again, cached = files.cached("k", compute, _save, _load)
    assert cached and compute.calls == 1 and np.array_equal(again.value, first.value)
    assert sorted(p.name for p in (tmp_path / "kind").iterdir()) == ["k.json", "k.npy"]  # no temporary leftovers
    assert files.keys() == ["k"]


def test_an_entry_of_other_vectors_is_stale_and_recomputed(tmp_path):
    DerivedFiles(tmp_path / "kind", ".npy", "old").cached("k", Counter(), _save, _load)
    files = DerivedFiles(tmp_path / "kind", ".npy", "new")
    assert files.look("k", _load) == (None, "made from other vectors")
    notes: list[str] = []
    assert files.entries(_load, notes=notes, what="map") == [] and notes == ["note: ignored map 'k': made from other vectors"]
    compute = Counter()
    entry, cached = files.cached("k", compute, _save, _load)
    assert not cached and compute.calls == 1 and entry.info["vectors"] == "new"
    assert json.loads((tmp_path / "kind" / "k.json").read_text())["vectors"] == "new"


def test_a_damaged_sidecar_or_data_file_is_ignored(tmp_path):
    files = DerivedFiles(tmp_path / "kind", ".npy", "abc")
    files.cached("k", Counter(), _save, _load)
    data, meta = files.paths("k")
    meta.write_text("{broken")
    assert files.look("k", _load) == (None, "damaged description")
    meta.write_text("[1, 2]")  # JSON, but not a description
    assert files.read("k", _load) is None
    compute = Counter()
    assert not files.cached("k", compute, _save, _load)[1] and compute.calls == 1
    data.write_bytes(b"not an array")
    assert files.look("k", _load) == (None, "damaged data file")

    def picky(path, info):  # noqa: ARG001
        raise Unusable("the wrong shape")

    assert files.look("k", picky) == (None, "the wrong shape")
    assert files.look("k", _load, check=lambda info: "not mine")[1] == "not mine"
    data.unlink()
    assert files.look("k", _load) == (None, "missing")


class Crash(BaseException):
    """A process killed mid-write (not an Exception, so nothing on the way catches it)."""


def test_the_sidecar_is_written_last_so_a_crash_leaves_no_usable_entry(tmp_path, monkeypatch):
    files = DerivedFiles(tmp_path / "kind", ".npy", "abc")
    files.cached("k", Counter(), _save, _load)  # an old, complete entry

    def crash(path, value):  # noqa: ARG001
        raise Crash

    # Killed after the new data file is in place, before its sidecar: the old sidecar must not vouch for it.
    monkeypatch.setattr(derived, "write_json_atomic", crash)
    with pytest.raises(Crash):
        files.write("k", np.zeros(5, np.float32), {"made": "new"}, _save)
    monkeypatch.undo()
    data, meta = files.paths("k")
    assert data.is_file() and not meta.exists()
    assert files.look("k", _load) == (None, "damaged description")
    compute = Counter()
    entry, cached = files.cached("k", compute, _save, _load)
    assert not cached and compute.calls == 1 and meta.is_file()


def test_a_crash_while_writing_the_data_file_keeps_nothing_half_written(tmp_path):
    files = DerivedFiles(tmp_path / "kind", ".npy", "abc")

    def half(value, path):  # noqa: ARG001
        path.write_bytes(b"\x93NUMPY half")
        raise Crash

    with pytest.raises(Crash):
        files.write("k", np.zeros(3), {}, half)
    assert list((tmp_path / "kind").iterdir()) == []  # neither the temporary file nor a sidecar


def _read_only(monkeypatch):
    """Every atomic write fails as on a read-only file system (chmod does not stop root, who runs some tests)."""

    def refuse(path):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(atomic, "temp_file", refuse)


def test_a_read_only_folder_computes_without_saving(tmp_path, monkeypatch):
    _read_only(monkeypatch)
    files = DerivedFiles(tmp_path / "kind", ".npy", "abc")
    compute = Counter()
    entry, cached = files.cached("k", compute, _save, _load)
    assert not cached and compute.calls == 1 and entry.info["vectors"] == "abc"
    assert files.keys() == [] and files.read("k", _load) is None
    with pytest.raises(WriteError, match="cannot write k"):
        files.write("k", entry.value, {}, _save)  # asked to store it explicitly: one line, no traceback


def test_projections_and_clusters_of_a_read_only_model_folder(fake_model, monkeypatch):
    model = load_model_folder(fake_model)
    _read_only(monkeypatch)
    coords = proj.project(model, proj.PCASettings())
    assert coords.shape == (model.n_books, 2)
    result = cl.cluster_books(model, n_clusters=3)
    assert not result.cached and len(result.labels) == model.n_books
    assert [p for kind in DERIVED for p in (fake_model / kind).glob("*")] == []


def test_every_derived_file_goes_through_the_folder(fake_model):
    """Projections, clusters and saved views are written where the folder's type says, with the checksum."""
    model = load_model_folder(fake_model)
    proj.project(model, proj.PCASettings())
    cl.cluster_books(model, n_clusters=3)
    proj.save_view(model, "v", projection=proj.projection_key(proj.PCASettings()))
    assert [e.key for e in model.derived("projections").entries()] == [proj.projection_key(proj.PCASettings())]
    assert [e.info["vectors"] for e in model.derived("clusters").entries()] == [model.vectors_checksum]
    assert model.document("views").exists and model.document("views").stamp is not None
    assert proj.views_stamp(model) == model.document("views").stamp


def test_the_shipped_demo_maps_and_clusters_still_load(tmp_path):
    path = tmp_path / "demo"
    shutil.copytree(ROOT / "models" / "demo", path)
    model = load_model_folder(path)
    notes: list[str] = []
    shipped = proj.cached_projections(model, notes)
    assert notes == [] and len(shipped) == len(list((path / "projections").glob("*.npy"))) > 0
    assert cl.cluster_books(model).cached
