"""Checksums in the manifest: recorded on save, checked on load, every file checked by ``info --verify``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from bookembed.errors import ModelFolderError
from bookembed.folderfiles import RECORD
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
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                   if p.is_file() and p.name not in (MANIFEST, RECORD))
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


def test_folders_without_checksums_still_load(tmp_path):
    import shutil

    # the shipped demo, as a folder written before checksums were recorded
    old = Path(shutil.copytree(ROOT / "models" / "demo", tmp_path / "demo"))
    manifest = json.loads((old / MANIFEST).read_text(encoding="utf-8"))
    manifest.pop("checksums", None)
    (old / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    assert load_model_folder(old).n_books > 400
    assert "before checksums" in verify_model_folder(old)[0]


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


# ---------------------------------------------------------------- damaged folders in the app


def _future_version(folder):
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    manifest["format_version"] = 99
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


def _truncated_manifest(folder):
    data = (folder / MANIFEST).read_bytes()
    (folder / MANIFEST).write_bytes(data[: len(data) // 2])


def _pickled_arrays(folder):
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    del manifest["checksums"]  # as an old folder: the pickle guard itself must hold
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    np.save(folder / "book_vectors.npy", np.array([{"x": 1}] * 60, dtype=object), allow_pickle=True)


def _nan_vectors(folder):
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    del manifest["checksums"]
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    vectors = np.load(folder / "book_vectors.npy")
    vectors[0, 0] = np.nan
    np.save(folder / "book_vectors.npy", vectors)


def _non_utf8_history(folder):
    (folder / "history.json").write_bytes(b"\xff\xfe\x00")


DAMAGE = {"future version": _future_version, "truncated manifest": _truncated_manifest,
          "pickled arrays": _pickled_arrays, "NaN vectors": _nan_vectors, "non-UTF-8 history": _non_utf8_history}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_folder_one_line_everywhere_and_the_train_page_offers_to_train_over_it(tmp_path, monkeypatch,
                                                                                       damage):
    from test_app_pages import app, ok, page, plain

    root = tmp_path / "models"
    monkeypatch.setenv("BOOKEMBED_MODELS_DIR", str(root))
    DAMAGE[damage](make_fake_model(root / "demo"))
    at = ok(app().run())
    for name in ("search", "map", "export", "model", "compare"):
        page(at, name)
        assert len(at.error) == 1 and "cannot be read" in plain(at.error[0].value), name
        assert "\n" not in at.error[0].value
    page(at, "train")
    assert len(at.error) == 1 and "damaged model" in plain(at.error[0].value)
    assert "Traceback" not in plain(at.error[0].value)
    assert any(b.label == "Train" for b in at.button)
    assert at.text_input[0].value == "demo"
    replace = [c for c in at.checkbox if c.label == "Replace an existing model"][0]
    assert replace.value is True


# ---------------------------------------------------------------- downloads meant for a spreadsheet

FORMULAS = ["=HYPERLINK(\"http://x\",\"click\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


def _spreadsheet_model(tmp_path, unknown: str | None = None):
    """A model whose first titles look like formulas; with ``unknown``, those books lack that column's value."""
    import pandas as pd

    folder = make_fake_model(tmp_path / "models" / "f", n_books=12)
    books = pd.read_parquet(folder / "books.parquet")
    books.loc[: len(FORMULAS) - 1, "title"] = FORMULAS
    books.loc[0, "author"] = "=cmd|' /C calc'!A0"
    if unknown:
        books.loc[: len(FORMULAS) - 1, unknown] = ""
    books.to_parquet(folder / "books.parquet", index=False)
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    del manifest["checksums"]
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    return load_model_folder(folder)


def _cells(data: bytes) -> list[list[str]]:
    import csv
    import io

    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def test_spreadsheet_downloads_neutralise_formulas_and_projector_files_keep_values(tmp_path):
    from bookembed.projector import projector_files
    from bookembed.ui.exports import spreadsheet_metadata
    from bookembed.ui.map import selection_csv

    model = _spreadsheet_model(tmp_path)
    for data in (selection_csv(model, range(12)), spreadsheet_metadata(model, "books"),
                 spreadsheet_metadata(model, "books", range(12))):
        cells = [c for row in _cells(data)[1:] for c in row]
        assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")], cells
        assert "'=HYPERLINK(\"http://x\",\"click\")" in cells and "'=cmd|' /C calc'!A0" in cells
        assert "'-2+3" in cells
    # The Projector's own metadata.tsv keeps every title as it is: the Projector shows text, runs no formulas,
    # and an import of the export gives the same titles back.
    tsv = projector_files(model)["metadata.tsv"].decode("utf-8").split("\n")
    assert tsv[1].split("\t")[0] == FORMULAS[0] and tsv[3].split("\t")[0] == "-2+3"


def test_cli_predictions_csv_is_safe_for_spreadsheets(tmp_path):
    model = _spreadsheet_model(tmp_path, unknown="country")  # the formula-titled books are the ones predicted
    out = tmp_path / "pred.csv"
    proc = run_cli("predict", "--model", model.path, "--column", "country", "--min-count", "2", "--folds", "2",
                   "--csv", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert out.is_file()
    rows = _cells(out.read_bytes())[1:]
    assert len(rows) == len(FORMULAS)
    cells = [c for row in rows for c in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r") or (c[:1] == "-" and not _number(c))]


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
