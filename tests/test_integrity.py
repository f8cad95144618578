"""Checksums in the manifest: recorded on save, checked on load, every file checked by ``info --verify``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from bookembed.errors import ModelFolderError
from bookembed.store import MANIFEST, REQUIRED_FILES, load_model_folder, save_model_folder, verify_model_folder
from conftest import ROOT, assert_one_line_error, make_fake_model, run_cli
from test_store import make_inputs


def flip_a_byte(file: Path, at: float = 0.6) -> None:
    """Change one byte in the middle of ``file``, keeping its size (damage a size check cannot see)."""
    data = bytearray(file.read_bytes())
    i = int(len(data) * at)
    data[i] ^= 0x01
    file.write_bytes(bytes(data))


@pytest.fixture
def folder(tmp_path) -> Path:
    return save_model_folder(tmp_path / "models" / "m", make_inputs())


def test_manifest_records_the_sha256_and_size_of_every_file(folder):
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)
    assert sorted(manifest["checksums"]) == files
    assert set(REQUIRED_FILES) | {"history.json"} <= set(files)
    for name, entry in manifest["checksums"].items():
        data = (folder / name).read_bytes()
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


@pytest.mark.parametrize("name", list(REQUIRED_FILES) + ["history.json"])
def test_a_changed_byte_is_caught_on_load_naming_the_file(folder, name):
    flip_a_byte(folder / name)
    with pytest.raises(ModelFolderError) as info:
        load_model_folder(folder)
    message = str(info.value)
    assert str(folder / name) in message and "SHA-256" in message and "\n" not in message


def test_a_truncated_file_is_caught_by_its_size(folder):
    data = (folder / "book_vectors.npy").read_bytes()
    (folder / "book_vectors.npy").write_bytes(data[:-8])
    with pytest.raises(ModelFolderError, match=r"book_vectors\.npy: damaged file: .* bytes where the manifest"):
        load_model_folder(folder)


def test_verify_checks_files_that_loading_does_not_read(folder):
    extra = folder / "projections"
    extra.mkdir()
    # a file listed in the manifest but not read on load
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    (extra / "cached.npy").write_bytes(b"0123456789")
    manifest["checksums"]["projections/cached.npy"] = {
        "sha256": hashlib.sha256(b"0123456789").hexdigest(), "bytes": 10}
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    lines = verify_model_folder(folder)
    assert lines[0].startswith(f"{len(manifest['checksums'])} files match")
    flip_a_byte(extra / "cached.npy")
    load_model_folder(folder)  # loading does not read it...
    with pytest.raises(ModelFolderError, match=r"projections/cached\.npy: damaged file"):
        verify_model_folder(folder)  # ...verifying does
    (extra / "cached.npy").unlink()
    with pytest.raises(ModelFolderError, match=r"cached\.npy: missing"):
        verify_model_folder(folder)


def test_non_utf8_history_gives_one_line(folder):
    (folder / "history.json").write_bytes(b'{"epochs": "\xff\xfe"}')
    with pytest.raises(ModelFolderError, match=r"history\.json") as info:
        load_model_folder(folder)
    assert "\n" not in str(info.value)
    # without checksums too (a folder written before they existed): the parse error is one line
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    del manifest["checksums"]
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelFolderError, match=r"history\.json: damaged history"):
        load_model_folder(folder)


def test_cli_on_a_non_utf8_history_is_one_line(tmp_path):
    folder = make_fake_model(tmp_path / "models" / "fake")
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    del manifest["checksums"]
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    (folder / "history.json").write_bytes(b"\x80\x81 not utf-8")
    for args in (["info", "--model", folder], ["neighbors", "Book 11", "--model", folder],
                 ["evaluate", "--model", folder], ["export", "--model", folder, "--out", tmp_path / "x"]):
        assert_one_line_error(run_cli(*args, cwd=tmp_path), "history.json")


def test_folders_without_checksums_still_load():
    # models/demo ships as written before checksums were recorded
    demo = ROOT / "models" / "demo"
    model = load_model_folder(demo)
    assert model.n_books > 400
    if "checksums" not in model.manifest:
        assert "before checksums" in verify_model_folder(demo)[0]


def test_cli_verify_on_a_trained_folder(tiny_trained_model, tmp_path):
    proc = run_cli("info", "--model", tiny_trained_model, "--verify", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "match their SHA-256" in proc.stdout
    assert "model.keras loads in safe mode; book_embedding and link_embedding match" in proc.stdout


def test_cli_verify_names_a_damaged_keras_model(tiny_trained_model, tmp_path):
    import shutil

    copy = Path(shutil.copytree(tiny_trained_model, tmp_path / "models" / "copy"))
    flip_a_byte(copy / "model.keras", 0.5)
    load_model_folder(copy)  # loading the vectors does not read model.keras...
    proc = run_cli("info", "--model", copy, "--verify", cwd=tmp_path)
    assert_one_line_error(proc, str(copy / "model.keras"))  # ...verify does


def test_verify_loads_the_keras_model_even_without_a_checksum(tiny_trained_model, tmp_path):
    import shutil

    copy = Path(shutil.copytree(tiny_trained_model, tmp_path / "copy"))
    manifest = json.loads((copy / MANIFEST).read_text(encoding="utf-8"))
    del manifest["checksums"]
    (copy / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    (copy / "model.keras").write_bytes(b"PK\x03\x04 not a zip at all")
    with pytest.raises(ModelFolderError, match=r"model\.keras: cannot load the Keras model") as info:
        verify_model_folder(copy)
    assert "\n" not in str(info.value)


def test_verify_catches_keras_weights_that_differ_from_the_vectors(tiny_trained_model, tmp_path):
    import shutil

    copy = Path(shutil.copytree(tiny_trained_model, tmp_path / "copy"))
    manifest = json.loads((copy / MANIFEST).read_text(encoding="utf-8"))
    del manifest["checksums"]
    (copy / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    vectors = np.load(copy / "book_vectors.npy")
    np.save(copy / "book_vectors.npy", vectors[::-1].copy())
    with pytest.raises(ModelFolderError, match="book_embedding weights"):
        verify_model_folder(copy)
