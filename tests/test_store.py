"""The model folder: atomic writes, round trips, damage detection, safe loading."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bookembed import atomic, store
from bookembed import folderfiles
from bookembed.folderfiles import RECORD
from bookembed.errors import ModelFolderError
from bookembed.graph import LinkGraph
from bookembed.store import (
    FORMAT_VERSION,
    MANIFEST,
    REQUIRED_FILES,
    SaveInputs,
    list_model_folders,
    load_model_folder,
    read_manifest,
    save_model_folder,
    update_manifest,
    write_json_atomic,
    write_npy_atomic,
)
from conftest import WAIT_CEILING_S


def make_inputs(n_books=12, n_links=9, dim=4, seed=0, model=None) -> SaveInputs:
    rng = np.random.default_rng(seed)
    pairs = sorted({(b, int(l)) for b in range(n_books) for l in rng.choice(n_links, 3, replace=False)})
    pb = np.array([p[0] for p in pairs], dtype=np.int32)
    pl = np.array([p[1] for p in pairs], dtype=np.int32)
    books = pd.DataFrame(
        {
            "title": [f"Book {i} ({seed})" for i in range(n_books)],
            "author": [f"Author {i % 3}" for i in range(n_books)],
            "primary_genre": ["fantasy" if i % 2 else "" for i in range(n_books)],
            "year": pd.array([1900 + i if i % 4 else None for i in range(n_books)], dtype="Int64"),
            "n_links": np.bincount(pb, minlength=n_books),
        }
    )
    return SaveInputs(
        graph=LinkGraph(books=books, links=tuple(f"link {j}" for j in range(n_links)), link_counts=np.bincount(pl, minlength=n_links).astype(np.int64),
                        pair_books=pb, pair_links=pl),
        heldout=rng.random(len(pb)) < 0.1,
        book_vectors=rng.normal(size=(n_books, dim)).astype(np.float32),
        link_vectors=rng.normal(size=(n_links, dim)).astype(np.float32),
        config={"dim": dim, "seed": seed},
        data={"source": "test", "checksum": "ab" * 32},
        metrics={"auc": 0.75},
        history={"epochs": [{"epoch": 1, "loss": 0.5}]},
        model=model,
    )


def leftovers(parent: Path) -> list[str]:
    """Hidden temporary siblings (``.name.tmp-*``, ``.name.old-*``) left in ``parent``."""
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(".") and p.name != RECORD)


@pytest.fixture
def folder(tmp_path) -> Path:
    return save_model_folder(tmp_path / "models" / "m", make_inputs())


@pytest.fixture
def unchecked(folder) -> Path:
    """A folder as written before the manifest recorded checksums: damage must show in the consistency checks."""
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    del manifest["checksums"]
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    return folder


# ---------------------------------------------------------------- round trip


def test_round_trip(tmp_path):
    inputs = make_inputs(seed=3)
    path = save_model_folder(tmp_path / "models" / "m", inputs)
    assert path == tmp_path / "models" / "m"
    model = load_model_folder(path)
    np.testing.assert_array_equal(model.book_vectors, inputs.book_vectors)
    np.testing.assert_array_equal(model.link_vectors, inputs.link_vectors)
    np.testing.assert_array_equal(model.pair_books, inputs.graph.pair_books)
    np.testing.assert_array_equal(model.pair_links, inputs.graph.pair_links)
    np.testing.assert_array_equal(model.heldout, inputs.heldout)
    np.testing.assert_array_equal(model.link_counts, inputs.graph.link_counts)
    assert model.links == inputs.graph.links
    pd.testing.assert_frame_equal(model.books, inputs.graph.books, check_dtype=False)
    assert model.books["year"].isna().sum() == inputs.graph.books["year"].isna().sum()
    assert model.history == inputs.history
    assert (model.n_books, model.n_links, model.dim) == (12, 9, 4)
    assert model.name == "m"


def test_manifest_says_how_the_folder_was_made(folder):
    manifest = read_manifest(folder)
    assert manifest["format"] == "bookembed-model" and manifest["format_version"] == FORMAT_VERSION
    assert manifest["config"] == {"dim": 4, "seed": 0} and manifest["seed"] == 0
    assert manifest["data"]["checksum"] == "ab" * 32
    assert manifest["metrics"] == {"auc": 0.75}
    model = load_model_folder(folder)
    assert manifest["counts"] == {
        "books": model.n_books, "links": model.n_links, "pairs": len(model.pair_books),
        "heldout_pairs": int(model.heldout.sum()), "dim": model.dim,
    }
    assert {"bookembed", "numpy", "pandas"} <= set(manifest["versions"])
    on_disk = sorted(p.name for p in folder.iterdir())
    assert on_disk == sorted(manifest["files"] + [MANIFEST, RECORD])  # the record of checked files: a cache
    assert set(REQUIRED_FILES) <= set(manifest["files"])


def test_loaded_helpers(folder):
    model = load_model_folder(folder)
    np.testing.assert_allclose(np.linalg.norm(model.unit_vectors("book"), axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(model.unit_vectors("link"), axis=1), 1, rtol=1e-5)
    for b in range(model.n_books):
        expected = np.sort(model.pair_links[model.pair_books == b])
        np.testing.assert_array_equal(model.book_links(b), expected)
    assert all(model.titles[i] == t for t, i in model.title_index.items())
    assert all(model.links[j] == name for name, j in model.link_index.items())


def test_overwrite_replaces_the_folder_and_leaves_nothing_behind(tmp_path):
    target = tmp_path / "models" / "m"
    save_model_folder(target, make_inputs(seed=1))
    (target / "projections").mkdir()  # cached maps describe the old vectors
    new = make_inputs(seed=2, n_books=7)
    save_model_folder(target, new)
    model = load_model_folder(target)
    np.testing.assert_array_equal(model.book_vectors, new.book_vectors)
    assert not (target / "projections").exists()
    assert leftovers(target.parent) == []


def test_mismatched_vectors_are_refused_before_writing(tmp_path):
    inputs = make_inputs()
    bad = SaveInputs(**{**inputs.__dict__, "book_vectors": inputs.book_vectors[:-1]})
    with pytest.raises(ModelFolderError, match="11 book vectors for 12 books"):
        save_model_folder(tmp_path / "m", bad)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- atomic writes


def test_crash_mid_write_keeps_the_previous_folder(tmp_path, monkeypatch):
    target = tmp_path / "models" / "m"
    old = make_inputs(seed=1)
    save_model_folder(target, old)
    before = sorted((p.name, p.read_bytes()) for p in target.iterdir())

    def crash(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store.folderfiles, "save_npz", crash)
    with pytest.raises(RuntimeError, match="disk on fire"):
        save_model_folder(target, make_inputs(seed=2))
    monkeypatch.undo()

    assert sorted((p.name, p.read_bytes()) for p in target.iterdir()) == before
    np.testing.assert_array_equal(load_model_folder(target).book_vectors, old.book_vectors)
    assert leftovers(target.parent) == []


def test_crash_on_a_first_write_leaves_no_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(store.folderfiles, "save_npz", lambda *a, **k: (_ for _ in ()).throw(OSError("no space left")))
    with pytest.raises(OSError):
        save_model_folder(tmp_path / "models" / "new", make_inputs())
    assert list((tmp_path / "models").iterdir()) == []


def test_crash_while_saving_the_keras_model_keeps_the_previous_folder(tmp_path):
    class Exploding:
        def save(self, path):
            Path(path).write_bytes(b"half a model")
            raise KeyboardInterrupt  # even an interrupt leaves things clean

    target = tmp_path / "m"
    old = make_inputs(seed=1)
    save_model_folder(target, old)
    with pytest.raises(KeyboardInterrupt):
        save_model_folder(target, make_inputs(seed=2, model=Exploding()))
    np.testing.assert_array_equal(load_model_folder(target).book_vectors, old.book_vectors)
    assert leftovers(tmp_path) == []


def test_crash_during_the_swap_restores_the_previous_folder(tmp_path, monkeypatch):
    target = tmp_path / "m"
    old = make_inputs(seed=1)
    save_model_folder(target, old)
    real_replace = os.replace

    def failing_replace(src, dst):
        if ".tmp-" in str(src):  # the finished temporary folder moving into place
            raise OSError("rename failed")
        return real_replace(src, dst)

    monkeypatch.setattr(atomic, "_exchange_available", False)  # the two-rename fallback
    monkeypatch.setattr(store.os, "replace", failing_replace)
    with pytest.raises(OSError, match="rename failed"):
        save_model_folder(target, make_inputs(seed=2))
    monkeypatch.undo()
    np.testing.assert_array_equal(load_model_folder(target).book_vectors, old.book_vectors)
    assert leftovers(tmp_path) == []


def test_write_json_atomic_failure_keeps_the_old_file(tmp_path):
    path = tmp_path / "x.json"
    write_json_atomic(path, {"a": 1})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"a": object()})
    assert json.loads(path.read_text()) == {"a": 1}
    assert leftovers(tmp_path) == []


def test_write_npy_atomic(tmp_path):
    path = tmp_path / "v.npy"
    write_npy_atomic(path, np.arange(3))
    with pytest.raises(ValueError):
        write_npy_atomic(path, np.array([object()], dtype=object))  # pickling is never allowed
    np.testing.assert_array_equal(np.load(path), np.arange(3))
    assert leftovers(tmp_path) == []


def test_update_manifest_merges(folder):
    update_manifest(folder, metrics={"auc": 0.9}, note="hello")
    manifest = read_manifest(folder)
    assert manifest["metrics"] == {"auc": 0.9} and manifest["note"] == "hello"
    assert manifest["config"] == {"dim": 4, "seed": 0}
    assert leftovers(folder) == []


def test_list_model_folders(tmp_path):
    root = tmp_path / "models"
    save_model_folder(root / "b", make_inputs())
    save_model_folder(root / "a", make_inputs())
    (root / "not_a_model").mkdir()
    (root / ".a.tmp-123").mkdir()
    (root / ".a.tmp-123" / MANIFEST).write_text("{}")
    (root / "file.txt").write_text("x")
    assert [p.name for p in list_model_folders(root)] == ["a", "b"]
    assert list_model_folders(tmp_path / "nowhere") == []


# ---------------------------------------------------------------- damaged folders


@pytest.mark.parametrize("name", REQUIRED_FILES)
def test_missing_file(folder, name):
    (folder / name).unlink()
    with pytest.raises(ModelFolderError) as info:
        load_model_folder(folder)
    assert name in str(info.value) and str(folder) in str(info.value)


@pytest.mark.parametrize("name", ["book_vectors.npy", "link_vectors.npy", "pairs.npz", "books.parquet", "links.json"])
def test_truncated_file(unchecked, name):
    data = (unchecked / name).read_bytes()
    (unchecked / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFolderError) as info:
        load_model_folder(unchecked)
    assert name in str(info.value) and "\n" not in str(info.value)


def test_bad_manifest_json(folder):
    (folder / MANIFEST).write_text('{"format": "bookembed-model", ', encoding="utf-8")
    with pytest.raises(ModelFolderError, match=r"manifest\.json: damaged manifest"):
        load_model_folder(folder)


def test_bad_history_json(unchecked):
    (unchecked / "history.json").write_text("[", encoding="utf-8")
    with pytest.raises(ModelFolderError, match=r"history\.json"):
        load_model_folder(unchecked)


@pytest.mark.parametrize("manifest", [[], {"format": "something-else", "format_version": 1}, {"format_version": 1}])
def test_not_a_bookembed_manifest(folder, manifest):
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelFolderError, match="not a bookembed model manifest"):
        load_model_folder(folder)


@pytest.mark.parametrize("version", [0, 2, None, "1"])
def test_other_format_version(folder, version):
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    manifest["format_version"] = version
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelFolderError) as info:
        load_model_folder(folder)
    message = str(info.value)
    assert str(folder / MANIFEST) in message and f"format version {version}" in message
    assert "retrain" in message


def test_no_folder_or_no_manifest(tmp_path):
    with pytest.raises(ModelFolderError, match="no such model folder"):
        load_model_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFolderError, match=r"not a model folder \(no manifest\.json\)"):
        load_model_folder(tmp_path / "empty")


@pytest.mark.parametrize(
    "name, array, expected",
    [
        ("book_vectors.npy", np.zeros((11, 4), np.float32), "book_vectors.npy has shape (11, 4) for 12 books"),
        ("book_vectors.npy", np.zeros(12, np.float32), "book_vectors.npy has shape (12,)"),
        ("link_vectors.npy", np.zeros((10, 4), np.float32), "link_vectors.npy has shape (10, 4) for 9 links"),
        ("link_vectors.npy", np.zeros((9, 5), np.float32), "differ in length"),
    ],
)
def test_mismatched_shapes(unchecked, name, array, expected):
    np.save(unchecked / name, array)
    with pytest.raises(ModelFolderError) as info:
        load_model_folder(unchecked)
    assert expected in str(info.value) and str(unchecked) in str(info.value)


def test_pairs_outside_the_vocabulary(unchecked):
    with np.load(unchecked / "pairs.npz") as npz:
        arrays = dict(npz)
    arrays["link"] = arrays["link"].copy()
    arrays["link"][0] = 99
    np.savez(unchecked / "pairs.npz", **arrays)
    with pytest.raises(ModelFolderError, match="outside the vocabularies"):
        load_model_folder(unchecked)


def test_pairs_of_different_lengths(unchecked):
    with np.load(unchecked / "pairs.npz") as npz:
        arrays = dict(npz)
    arrays["heldout"] = arrays["heldout"][:-1]
    np.savez(unchecked / "pairs.npz", **arrays)
    with pytest.raises(ModelFolderError, match="differ in length"):
        load_model_folder(unchecked)


def test_counts_that_do_not_match(unchecked):
    (unchecked / "links.json").write_text(json.dumps({"links": [f"link {j}" for j in range(9)], "books": [1, 2]}))
    with pytest.raises(ModelFolderError, match="links.json has counts"):
        load_model_folder(unchecked)


def test_nan_vectors(unchecked):
    vectors = np.load(unchecked / "book_vectors.npy")
    vectors[3, 1] = np.nan
    np.save(unchecked / "book_vectors.npy", vectors)
    with pytest.raises(ModelFolderError, match="NaN"):
        load_model_folder(unchecked)


# ---------------------------------------------------------------- nothing is unpickled


class Payload:
    """Unpickling this creates a folder: proof that a pickle was executed."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_object_array_is_rejected_and_never_unpickled(unchecked, tmp_path):
    marker = tmp_path / "pwned"
    np.save(unchecked / "book_vectors.npy", np.array([Payload(marker)] * 12, dtype=object), allow_pickle=True)
    with pytest.raises(ModelFolderError) as info:
        load_model_folder(unchecked)
    assert "book_vectors.npy" in str(info.value) and "\n" not in str(info.value)
    assert not marker.exists()


def test_object_array_in_pairs_is_rejected(unchecked, tmp_path):
    marker = tmp_path / "pwned"
    with np.load(unchecked / "pairs.npz") as npz:
        arrays = dict(npz)
    arrays["book"] = np.array([Payload(marker)] * len(arrays["book"]), dtype=object)
    np.savez(unchecked / "pairs.npz", **arrays)
    with pytest.raises(ModelFolderError, match=r"pairs\.npz"):
        load_model_folder(unchecked)
    assert not marker.exists()


# ---------------------------------------------------------------- the Keras model


def test_load_keras_without_a_model_file(fake_model):
    with pytest.raises(ModelFolderError, match="no model.keras"):
        load_model_folder(fake_model).load_keras()


def test_load_keras_damaged_file(folder):
    (folder / "model.keras").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ModelFolderError, match=r"model\.keras: cannot load"):
        load_model_folder(folder).load_keras()


def test_load_keras_on_a_trained_folder_matches_the_stored_vectors(tiny_trained_model):
    model = load_model_folder(tiny_trained_model)
    keras_model = model.load_keras()
    assert {i.name for i in keras_model.inputs} == {"book", "link"}
    out = keras_model.predict({"book": model.pair_books, "link": model.pair_links}, verbose=0).reshape(-1)
    ub, ul = model.unit_vectors("book"), model.unit_vectors("link")
    expected = np.einsum("ij,ij->i", ub[model.pair_books], ul[model.pair_links])
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(keras_model.get_layer("book_embedding").get_weights()[0], model.book_vectors)


def test_load_keras_uses_safe_mode(folder):
    from bookembed.training import quiet_tensorflow

    quiet_tensorflow()
    import keras

    inp = keras.Input(shape=(2,))
    out = keras.layers.Lambda(lambda x: x * 2)(inp)  # arbitrary code: refused in safe mode
    keras.Model(inp, out).save(folder / "model.keras")
    with pytest.raises(ModelFolderError) as info:
        load_model_folder(folder).load_keras()
    assert "model.keras" in str(info.value)
    assert "safe" in str(info.value).lower() or "lambda" in str(info.value).lower()


def test_a_file_in_the_way_is_not_replaced(tmp_path):
    from bookembed.errors import ModelFolderError
    from conftest import make_fake_model

    target = tmp_path / "models" / "x"
    target.parent.mkdir()
    target.write_text("precious")
    with pytest.raises(ModelFolderError, match="not a folder"):
        make_fake_model(target)
    assert target.read_text() == "precious"


# ---------------------------------------------------------------- crashes, leftovers and races

KILL_SCRIPT = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from bookembed import atomic, store
from test_store import make_inputs
store.save_model_folder({target!r}, make_inputs(seed=1))
if {fallback!r}:
    atomic._exchange_available = False
    real = os.replace
    def replace(src, dst):
        real(src, dst)
        if ".old-" in str(dst):  # the old folder is aside, the new one not yet in
            os.kill(os.getpid(), signal.SIGKILL)
    store.os.replace = replace
else:
    real = atomic._renameat2_exchange
    def exchange(a, b):
        done = real(a, b)
        os.kill(os.getpid(), signal.SIGKILL)  # swapped, the old folder not yet removed
    atomic._renameat2_exchange = exchange
store.save_model_folder({target!r}, make_inputs(seed=2))
print("not killed")
"""


def killed_mid_swap(target: Path, fallback: bool) -> None:
    """Save seed 1 to ``target``, then start saving seed 2 in a process killed with SIGKILL inside the swap."""
    import signal
    import subprocess
    import sys

    script = KILL_SCRIPT.format(tests=str(Path(__file__).parent), target=str(target), fallback=fallback)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=WAIT_CEILING_S,
                          cwd=Path(__file__).parents[1])
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "not killed" not in proc.stdout


@pytest.mark.system  # a child process, killed or gone
def test_kill_between_the_two_renames_is_repaired_at_the_next_load(tmp_path):
    target = tmp_path / "models" / "m"
    killed_mid_swap(target, fallback=True)
    assert not target.exists()  # what the crash leaves: the model only under a hidden name
    assert any(".m.old-" in name for name in leftovers(target.parent))
    model = load_model_folder(target)  # the next load puts it back
    np.testing.assert_array_equal(model.book_vectors, make_inputs(seed=1).book_vectors)
    assert leftovers(target.parent) == []  # and removes the half-swapped new folder


@pytest.mark.system  # a child process, killed or gone
def test_kill_between_the_two_renames_is_repaired_by_the_model_list(tmp_path):
    target = tmp_path / "models" / "m"
    killed_mid_swap(target, fallback=True)
    assert list_model_folders(target.parent) == [target]
    assert leftovers(target.parent) == []


@pytest.mark.system  # a child process, killed or gone
def test_kill_between_the_two_renames_is_repaired_by_the_next_write(tmp_path):
    target = tmp_path / "models" / "m"
    killed_mid_swap(target, fallback=True)
    save_model_folder(target, make_inputs(seed=3))
    np.testing.assert_array_equal(load_model_folder(target).book_vectors, make_inputs(seed=3).book_vectors)
    assert leftovers(target.parent) == []


@pytest.mark.system  # a child process, killed or gone
def test_kill_right_after_the_exchange_leaves_the_new_folder_and_a_leftover_that_is_cleaned(tmp_path):
    target = tmp_path / "models" / "m"
    killed_mid_swap(target, fallback=False)
    assert any(".m.tmp-" in name for name in leftovers(target.parent))  # the old folder, under the temporary name
    np.testing.assert_array_equal(load_model_folder(target).book_vectors, make_inputs(seed=2).book_vectors)
    assert leftovers(target.parent) == []


def dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.system  # a child process, killed or gone
def test_only_stale_leftovers_are_removed(tmp_path):
    target = save_model_folder(tmp_path / "models" / "m", make_inputs())
    parent = target.parent
    stale_tmp = parent / f".m.tmp-{dead_pid()}-abc"
    stale_old = parent / f".m.old-{dead_pid()}-123"
    live = parent / f".m.tmp-{os.getpid()}-live"  # a writer in this very process, still at work
    other = parent / f".n.tmp-{dead_pid()}-x"  # another folder's: left to that folder's loads
    for d in (stale_tmp, stale_old, live, other):
        d.mkdir()
        (d / "book_vectors.npy").write_bytes(b"half")
    load_model_folder(target)
    assert leftovers(parent) == sorted([live.name, other.name])
    save_model_folder(target, make_inputs(seed=4))
    assert leftovers(parent) == sorted([live.name, other.name])


def test_leftovers_without_a_pid_are_removed_once_an_hour_old(tmp_path):
    target = save_model_folder(tmp_path / "models" / "m", make_inputs())
    young, old = target.parent / ".m.tmp-young", target.parent / ".m.tmp-old"
    young.mkdir()
    old.mkdir()
    os.utime(old, (0, 0))
    load_model_folder(target)
    assert leftovers(target.parent) == [young.name]


@pytest.mark.parametrize("exists_before", [False, True])
def test_two_racing_writers_the_second_is_told_and_nothing_is_left(tmp_path, monkeypatch, exists_before):
    import threading

    from bookembed.errors import WriteError

    target = tmp_path / "models" / "m"
    if exists_before:
        save_model_folder(target, make_inputs(seed=0))
    both_written = threading.Barrier(2, timeout=WAIT_CEILING_S)
    real = folderfiles.checksums

    def checksums_then_wait(folder, manifest):
        out = real(folder, manifest)
        both_written.wait()  # both temporary folders are complete: now both try to swap
        return out

    monkeypatch.setattr(folderfiles, "checksums", checksums_then_wait)
    results: dict[int, object] = {}

    def write(seed):
        try:
            save_model_folder(target, make_inputs(seed=seed))
            results[seed] = "saved"
        except Exception as err:  # noqa: BLE001 - collected for the assertions
            results[seed] = err

    threads = [threading.Thread(target=write, args=(seed,)) for seed in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    winners = [seed for seed, r in results.items() if r == "saved"]
    losers = [r for r in results.values() if r != "saved"]
    assert len(winners) == 1 and len(losers) == 1, results
    assert isinstance(losers[0], WriteError) and "another training wrote this model folder first" in str(losers[0])
    np.testing.assert_array_equal(load_model_folder(target).book_vectors, make_inputs(seed=winners[0]).book_vectors)
    assert leftovers(target.parent) == []


# ---------------------------------------------------------------- the CLI never replaces a model unasked


def test_cli_train_refuses_an_existing_folder_without_overwrite(tmp_path, tiny_path):
    from conftest import assert_one_line_error, make_fake_model, run_cli

    out = make_fake_model(tmp_path / "models" / "m")
    before = sorted((p.name, p.read_bytes()) for p in out.iterdir() if p.is_file())
    proc = run_cli("train", "--data", tiny_path, "--out", out, "-q", cwd=tmp_path)
    assert_one_line_error(proc, str(out), "already holds a trained model", "--overwrite")
    assert sorted((p.name, p.read_bytes()) for p in out.iterdir() if p.is_file()) == before
    proc = run_cli("train", "--data", tiny_path, "--out", out, "--overwrite", "--epochs", "2", "--dim", "4", "-q",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    model = load_model_folder(out)
    assert model.dim == 4 and "War and Peace" in model.title_index
    assert leftovers(out.parent) == []


@pytest.mark.parametrize("name", ["evil\n", "a/b", "../up", ".hidden", "", "x" * 65, "tab\tname", "demo\r"])
def test_model_names_that_are_refused(name):
    from bookembed.ui.train import valid_model_name

    assert valid_model_name(name) is not None


@pytest.mark.parametrize("name", ["demo", "my-model_2.1", "A" * 64])
def test_model_names_that_are_accepted(name):
    from bookembed.ui.train import valid_model_name

    assert valid_model_name(name) is None
