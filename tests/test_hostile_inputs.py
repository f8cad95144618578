"""Inputs made to hurt: links out of the models folder, decompression bombs, numbers Python reads too
kindly, truncated files and empty uploads. Each is refused in one line naming the input, nothing already
saved is lost, and bombs are refused before they are inflated."""

from __future__ import annotations

import gzip
import json
import os
import re
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from bookembed.errors import ModelFolderError
from bookembed.importer import ImportModelError, import_keras, import_projector, read_keras_layers
from bookembed.kerasfile import model_config, write_keras_file
from bookembed.store import folder_in_root, list_model_folders, load_model_folder
from conftest import assert_one_line_error, make_fake_model, record, run_cli, write_ndjson

# Records whose notebook vocabulary is 6 books and 3 links (see test_import.UNTIED).
RECORDS = [
    record("Alpha", ["Common", "Shared A"]),
    record("Beta", ["Common", "Shared A", "Shared B", "Paperback"]),
    record("Gamma", ["common", "Shared A", "Shared B", "Paperback"]),
    record("Delta", ["Common", "Shared A", "Shared B", "Paperback", "Rare"]),
    record("Epsilon", ["Common", "Shared B", "paperback", "Hardcover"]),
    record("Zeta", ["Common", "Rare", "Hardcover"]),
]
N_BOOKS, N_LINKS = 6, 3
BOMB_BYTES = 200 << 20  # what the bomb's config.json inflates to
MEMORY_CEILING = 32 << 20  # far below the bomb: it was never inflated


def one_line(err: Exception) -> str:
    text = str(err)
    assert "\n" not in text and "Traceback" not in text, text
    return text


def refused_with_peak(error: type[Exception], call) -> tuple[str, int]:
    """``call()`` must raise ``error``: its one-line message, and the peak of Python's memory meanwhile."""
    tracemalloc.start()
    try:
        with pytest.raises(error) as info:
            call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return one_line(info.value), peak


def folder_bytes(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture
def records(tmp_path) -> Path:
    return write_ndjson(tmp_path / "records.ndjson", RECORDS)


@pytest.fixture
def saved_model(tmp_path) -> tuple[Path, dict[str, bytes]]:
    """An existing model folder and its bytes: what a failed import must leave as it was."""
    path = make_fake_model(tmp_path / "models" / "kept", n_books=20, n_links=10)
    return path, folder_bytes(path)


# ---------------------------------------------------------------- 1. links out of the models folder


@pytest.fixture
def outside_model(tmp_path) -> Path:
    """A complete model folder outside the models root, with a title no model inside has."""
    path = make_fake_model(tmp_path / "elsewhere" / "secret", n_books=15)
    return path


def test_a_link_out_of_the_models_root_is_not_listed_and_is_refused(tmp_path, outside_model):
    root = tmp_path / "models"
    make_fake_model(root / "inside", n_books=12)
    (root / "evil").symlink_to(outside_model, target_is_directory=True)
    (root / "alias").symlink_to(root / "inside", target_is_directory=True)  # a link that stays inside is fine
    assert [p.name for p in list_model_folders(root)] == ["alias", "inside"]
    with pytest.raises(ModelFolderError) as info:
        folder_in_root(root, "evil")
    message = one_line(info.value)
    assert str(root / "evil") in message and "outside" in message and str(outside_model) not in message
    for name in ("../elsewhere", "a/b", "..", ""):
        with pytest.raises(ModelFolderError, match="refused"):
            folder_in_root(root, name)
    assert folder_in_root(root, "alias") == root / "alias"


def test_the_app_neither_lists_nor_opens_a_link_out_of_the_models_root(models, outside_model):
    from test_app_pages import app, ok, plain

    make_fake_model(models / "demo", n_books=12)
    (models / "evil").symlink_to(outside_model, target_is_directory=True)
    at = ok(app(model="evil").run())
    assert at.selectbox(key="model").options == ["demo"]
    assert at.selectbox(key="model").value == "demo"
    errors = [plain(e.value) for e in at.sidebar.error]
    assert len(errors) == 1 and "evil" in errors[0] and "outside" in errors[0], errors
    assert "12 books" in " ".join(c.value for c in at.sidebar.caption)
    assert "15 books" not in " ".join(c.value for c in at.sidebar.caption)


@pytest.mark.parametrize("wanted", ["../elsewhere/secret", "..", "evil/../../elsewhere/secret"])
def test_the_app_refuses_a_path_in_the_address(models, outside_model, wanted):
    from test_app_pages import app, ok, plain

    make_fake_model(models / "demo", n_books=12)
    at = ok(app(model=wanted).run())
    errors = [plain(e.value) for e in at.sidebar.error]
    assert len(errors) == 1 and "refused" in errors[0] and "not a folder name" in errors[0], errors
    assert at.selectbox(key="model").value == "demo"
    assert "15 books" not in " ".join(c.value for c in at.sidebar.caption)


def test_the_app_refuses_a_default_folder_that_links_out(models, outside_model):
    from test_app_pages import app, ok, plain

    (models / "demo").symlink_to(outside_model, target_is_directory=True)
    at = ok(app().run())
    assert "demo" not in at.selectbox(key="model").options
    errors = [plain(e.value) for e in at.error]
    assert any("demo" in e and "outside" in e for e in errors), errors
    assert "15 books" not in " ".join(c.value for c in at.sidebar.caption)


def test_the_train_page_will_not_write_through_a_link_out_of_the_models_root(models, outside_model):
    from test_app_pages import app, ok, page, plain

    (models / "evil").symlink_to(outside_model, target_is_directory=True)
    before = folder_bytes(outside_model)
    at = ok(app().run())
    page(at, "train")
    [t for t in at.text_input if t.key == "import_name"][0].input("evil")
    at.radio(key="import_kind").set_value("projector")
    _uploader(at, "import_vectors").set_value(("v.tsv", b"1\t0\n0\t1\n", "text/plain"))
    _uploader(at, "import_metadata").set_value(("m.tsv", b"a\nb\n", "text/plain"))
    at.checkbox(key="import_overwrite").check()
    ok([b for b in at.button if b.label == "Import"][0].click().run())
    assert any("outside" in plain(e.value) for e in at.error), [plain(e.value) for e in at.error]
    assert folder_bytes(outside_model) == before and (models / "evil").is_symlink()


def test_a_model_folder_file_that_links_out_is_refused(tmp_path, outside_model):
    path = make_fake_model(tmp_path / "models" / "m")
    (path / "book_vectors.npy").unlink()
    (path / "book_vectors.npy").symlink_to(outside_model / "book_vectors.npy")
    with pytest.raises(ModelFolderError, match="book_vectors.npy: refused: a link that leads outside"):
        load_model_folder(path)


# ---------------------------------------------------------------- 2. decompression and memory bombs


def keras_bomb(path: Path, inflated: int = BOMB_BYTES, claimed: int | None = None) -> Path:
    """A ``.keras`` zip whose config.json is ``inflated`` bytes of spaces, deflated (about 0.1% on disk).

    ``claimed``: write that uncompressed size into the zip's headers instead (a header that lies).
    """
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.0.0", "date_saved": "2020-01-01"}))
        info = zipfile.ZipInfo("config.json")
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w") as member:
            block = b" " * (1 << 20)
            for _ in range(inflated >> 20):
                member.write(block)
        archive.writestr("model.weights.h5", b"")
    if claimed is not None:
        data = bytearray(path.read_bytes())
        # the uncompressed size: offset 22 of the member's local header, 24 of its central directory entry
        for signature, size_at, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
            at = data.index(signature)
            while data[at + name_at: at + name_at + len(b"config.json")] != b"config.json":
                at = data.index(signature, at + 4)
            data[at + size_at: at + size_at + 4] = claimed.to_bytes(4, "little")
        path.write_bytes(bytes(data))
        assert zipfile.ZipFile(path).getinfo("config.json").file_size == claimed
    return path


@pytest.mark.parametrize("claimed", [None, 100], ids=["honest-header", "lying-header"])
def test_a_keras_zip_bomb_is_refused_before_it_is_inflated(tmp_path, records, saved_model, claimed):
    bomb = keras_bomb(tmp_path / "bomb.keras", claimed=claimed)
    assert bomb.stat().st_size < BOMB_BYTES // 100
    kept, before = saved_model
    message, peak = refused_with_peak(ImportModelError, lambda: import_keras(bomb, records, kept, overwrite=True))
    assert str(bomb) in message
    assert ("refused" in message and "config.json" in message) if claimed is None else "damaged or truncated" in message
    assert peak < MEMORY_CEILING, f"{peak:,} bytes allocated refusing a bomb"
    assert folder_bytes(kept) == before  # an import that fails replaces nothing


def test_the_cli_refuses_a_keras_zip_bomb_in_one_line(tmp_path, records):
    bomb = keras_bomb(tmp_path / "bomb.keras")
    out = tmp_path / "models" / "bomb"
    proc = run_cli("import", "--keras", bomb, "--data", records, "--out", out, cwd=tmp_path)
    assert_one_line_error(proc, "bomb.keras", "config.json", "refused")
    assert not out.exists() and not any(p.name.startswith(".bomb") for p in out.parent.glob("*"))


def test_the_train_page_refuses_a_keras_zip_bomb(models, tmp_path, records):
    from test_app_pages import app, ok, page, plain

    bomb = keras_bomb(tmp_path / "bomb.keras")
    at = ok(app().run())
    page(at, "train")
    [t for t in at.text_input if t.key == "import_name"][0].input("bombed")
    _uploader(at, "import_keras").set_value(("their model.keras", bomb.read_bytes(), "application/zip"))
    _uploader(at, "import_records").set_value(("books.ndjson", records.read_bytes(), "application/json"))
    ok([b for b in at.button if b.label == "Import"][0].click().run())
    errors = [plain(e.value) for e in at.error]
    assert len(errors) == 1 and "their model.keras" in errors[0] and "refused" in errors[0], errors
    assert "/tmp" not in errors[0]
    assert list(models.iterdir()) == []


def small_keras(path: Path, config: dict, weights) -> Path:
    """A ``.keras`` file of this config and an HDF5 weights member made by ``weights(h5py.File)``."""
    import h5py

    h5 = path.with_suffix(".h5")
    with h5py.File(h5, "w") as f:
        weights(f)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.0.0"}))
        archive.writestr("config.json", json.dumps(config))
        archive.write(h5, "model.weights.h5")
    h5.unlink()
    return path


def test_a_small_config_that_builds_gigabytes_is_refused_before_keras(tmp_path, records):
    config = model_config(10**9, N_LINKS, 1000)  # a billion-row embedding: 4 TB once Keras builds it
    model = small_keras(tmp_path / "huge.keras", config, lambda f: None)
    assert model.stat().st_size < 100_000
    message, peak = refused_with_peak(ImportModelError, lambda: import_keras(model, records, tmp_path / "m"))
    assert "huge.keras" in message and "building its layers" in message
    assert peak < MEMORY_CEILING and not (tmp_path / "m").exists()


def test_compressed_hdf5_weights_past_the_limit_are_refused(tmp_path, records):
    def weights(f):
        f.create_dataset("layers/embedding/vars/0", data=np.zeros((N_BOOKS, 4), np.float32))
        f.create_dataset("layers/embedding_1/vars/0", data=np.zeros((N_LINKS, 4), np.float32))
        # 800 MB declared; chunks never written, so it costs nothing on disk until read
        f.create_dataset("layers/junk/vars/0", shape=(200_000, 1000), dtype="float32", chunks=(1000, 1000),
                         compression="gzip")

    model = small_keras(tmp_path / "packed.keras", model_config(N_BOOKS, N_LINKS, 4), weights)
    with pytest.raises(ImportModelError) as info:
        import_keras(model, records, tmp_path / "m")
    message = one_line(info.value)
    assert "packed.keras" in message and "weight arrays" in message
    declared = int(re.search(r"would take ([\d,]+) bytes", message).group(1).replace(",", ""))
    assert declared >= 200_000 * 1000 * 4  # the junk array's declared size is what was counted


def test_weights_stored_outside_the_model_file_are_refused(tmp_path, records):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(N_BOOKS * 4, dtype=np.float32).tobytes())

    def weights(f):
        f.create_dataset("layers/embedding/vars/0", shape=(N_BOOKS, 4), dtype="float32",
                         external=[(str(secret), 0, secret.stat().st_size)])
        f.create_dataset("layers/embedding_1/vars/0", data=np.zeros((N_LINKS, 4), np.float32))

    model = small_keras(tmp_path / "reach.keras", model_config(N_BOOKS, N_LINKS, 4), weights)
    with pytest.raises(ImportModelError, match=r"reach\.keras: refused: dataset .* is stored outside the file"):
        import_keras(model, records, tmp_path / "m")


def test_a_layer_class_the_reader_does_not_build_is_refused(tmp_path, records):
    config = model_config(N_BOOKS, N_LINKS, 4)
    config["config"]["layers"].append({"module": "keras.layers", "class_name": "Conv2D", "name": "conv",
                                       "config": {"name": "conv", "filters": 10**6}})
    model = small_keras(tmp_path / "conv.keras", config, lambda f: None)
    with pytest.raises(ImportModelError, match=r"conv\.keras: refused: layer 'conv' is a Conv2D"):
        import_keras(model, records, tmp_path / "m")


def test_a_legitimate_model_still_imports_within_the_limits(tmp_path, records):
    rng = np.random.default_rng(0)
    book, link = rng.normal(size=(N_BOOKS, 5)).astype(np.float32), rng.normal(size=(N_LINKS, 5)).astype(np.float32)
    model = write_keras_file(tmp_path / "ok.keras", book, link)
    result = import_keras(model, records, tmp_path / "m")
    loaded = load_model_folder(result.path)
    np.testing.assert_array_equal(loaded.book_vectors, book)


@pytest.mark.parametrize("lines", [False, True], ids=["one-line", "many-lines"])
def test_a_gzip_records_bomb_is_refused(tmp_path, lines):
    bomb = tmp_path / "records.ndjson.gz"
    block = (b" " * 1023 + b"\n") * 1024 if lines else b" " * (1 << 20)
    with gzip.open(bomb, "wb", compresslevel=9) as fh:
        for _ in range(BOMB_BYTES >> 20):
            fh.write(block)
    model = write_keras_file(tmp_path / "ok.keras", np.zeros((N_BOOKS, 2)), np.zeros((N_LINKS, 2)))
    message, peak = refused_with_peak(ImportModelError, lambda: import_keras(model, bomb, tmp_path / "m"))
    assert "records.ndjson.gz" in message
    assert ("longer than" in message) if not lines else ("refused" in message and "inflates past" in message)
    assert peak < 3 * MEMORY_CEILING and not (tmp_path / "m").exists()


def write_gzip_bomb(path: Path, lines: bool) -> Path:
    block = (b" " * 1023 + b"\n") * 1024 if lines else b" " * (1 << 20)
    with gzip.open(path, "wb", compresslevel=9) as fh:
        for _ in range(BOMB_BYTES >> 20):
            fh.write(block)
    return path


@pytest.mark.parametrize("lines", [False, True], ids=["one-line", "many-lines"])
def test_a_gzip_training_records_bomb_is_refused_before_it_is_inflated(tmp_path, lines):
    """The records reader that training, the Train page's upload and downloads share bounds what it inflates."""
    from bookembed.errors import CorpusError
    from bookembed.records import check_records, read_records

    bomb = write_gzip_bomb(tmp_path / "books.ndjson.gz", lines)
    for read in (read_records, check_records):
        tracemalloc.start()
        try:
            if read is check_records:
                message = check_records(bomb)
                assert message is not None
            else:
                with pytest.raises(CorpusError) as info:
                    read_records(bomb)
                message = one_line(info.value)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert "books.ndjson.gz" in message and "\n" not in message
        assert ("longer than" in message) if not lines else ("inflates past" in message)
        assert peak < 3 * MEMORY_CEILING, peak


def test_the_cli_refuses_a_gzip_training_records_bomb_in_one_line(tmp_path):
    bomb = write_gzip_bomb(tmp_path / "books.ndjson.gz", lines=True)
    proc = run_cli("train", "--data", bomb, "--out", tmp_path / "models" / "bomb", "--epochs", "1", "-q", cwd=tmp_path)
    assert_one_line_error(proc, "books.ndjson.gz", "inflates past")
    assert not (tmp_path / "models" / "bomb").exists()


def test_gzip_records_within_the_ratio_still_read(tmp_path):
    """Real records compress a few times over: p15-like text well inside the bound reads whole."""
    from bookembed.records import read_records

    rows = [json.dumps([f"Book {i}", {"name": "Book", "genre": "Novel"}, [f"Link {i % 7}", "Novel"], [], "", 100])
            for i in range(2000)]
    path = tmp_path / "ok.ndjson.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(rows) + "\n")
    records, report = read_records(path)
    assert len(records) == 2000 and report.n_records == 2000


# ---------------------------------------------------------------- 3, 4. numbers


def write_projector(tmp_path: Path, vectors: str, metadata: str) -> tuple[Path, Path]:
    (tmp_path / "v.tsv").write_text(vectors, encoding="utf-8")
    (tmp_path / "m.tsv").write_text(metadata, encoding="utf-8")
    return tmp_path / "v.tsv", tmp_path / "m.tsv"


def test_a_year_no_integer_column_can_hold_names_the_file_line_and_column(tmp_path, saved_model):
    v, m = write_projector(tmp_path, "1\t2\n3\t4\n5\t6\n", "title\tyear\na\t1850\nb\t99999999999999999999999\nc\t\n")
    kept, before = saved_model
    proc = run_cli("import", "--vectors", v, "--metadata", m, "--out", kept, "--overwrite", cwd=tmp_path)
    assert_one_line_error(proc, "line 3 of", "m.tsv", "'year'", "99999999999999999999999")
    assert folder_bytes(kept) == before
    # the largest value that fits is kept as a number
    m.write_text(f"title\tyear\na\t1850\nb\t{2**63 - 1}\nc\t\n", encoding="utf-8")
    books = load_model_folder(import_projector(v, m, tmp_path / "fits").path).books
    assert books["year"].tolist()[:2] == [1850, 2**63 - 1] and str(books["year"].dtype) == "Int64"


@pytest.mark.parametrize("value", ["1_0", "1_000.5", "١٢", "１２"])
def test_numbers_python_reads_too_kindly_are_not_numbers(tmp_path, value):
    assert float(value) > 0  # Python's float() would take each of these
    v, m = write_projector(tmp_path, f"1\t2\n{value}\t4\n", "a\nb\n")
    with pytest.raises(ImportModelError) as info:
        import_projector(v, m, tmp_path / "x")
    assert one_line(info.value).startswith(f"line 2 of {v}: {value!r} is not a number")
    assert not (tmp_path / "x").exists()


def test_a_year_written_with_underscores_stays_text(tmp_path):
    v, m = write_projector(tmp_path, "1\t2\n3\t4\n", "title\tyear\na\t1_0\nb\t1850\n")
    books = load_model_folder(import_projector(v, m, tmp_path / "x").path).books
    assert books["year"].tolist() == ["1_0", "1850"]


def test_ordinary_numbers_still_read(tmp_path):
    v, m = write_projector(tmp_path, "1e-3\t-0.5\n.5\t+2\n7\t0\n", "title\tyear\na\t-750\nb\t1850.0\nc\t\n")
    model = load_model_folder(import_projector(v, m, tmp_path / "x").path)
    np.testing.assert_allclose(model.book_vectors, [[1e-3, -0.5], [0.5, 2], [7, 0]])
    assert model.books["year"].tolist()[:2] == [-750, 1850]


# ---------------------------------------------------------------- 6. truncated model files


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_a_truncated_model_file_is_called_damaged_not_missing(tmp_path, records, suffix):
    whole = write_keras_file(tmp_path / "whole.keras", np.zeros((N_BOOKS, 3)), np.zeros((N_LINKS, 3)))
    if suffix == ".h5":
        import h5py

        whole = tmp_path / "whole.h5"
        with h5py.File(whole, "w") as f:
            f.create_dataset("book_embedding/w", data=np.zeros((N_BOOKS, 3), np.float32))
            f.create_dataset("link_embedding/w", data=np.zeros((N_LINKS, 3), np.float32))
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(ImportModelError) as info:
        read_keras_layers(cut)
    message = one_line(info.value)
    assert str(cut) in message and "damaged or truncated" in message and "not found" not in message.lower()
    proc = run_cli("import", "--keras", cut, "--data", records, "--out", tmp_path / "m", cwd=tmp_path)
    assert_one_line_error(proc, f"cut{suffix}", "damaged or truncated")


def test_a_truncated_model_keras_in_a_folder_is_called_damaged(tmp_path):
    import dataclasses

    from bookembed.kerasfile import KerasFile
    from bookembed.store import save_model_folder
    from test_store import make_inputs

    inputs = make_inputs()
    inputs = dataclasses.replace(inputs, model=KerasFile(inputs.book_vectors, inputs.link_vectors))
    path = save_model_folder(tmp_path / "m", inputs)
    keras_file = path / "model.keras"
    keras_file.write_bytes(keras_file.read_bytes()[:1000])
    with pytest.raises(ModelFolderError, match=r"model\.keras: damaged file: 1,000 bytes where the manifest"):
        load_model_folder(path).load_keras()
    manifest = json.loads((path / "manifest.json").read_text())
    del manifest["checksums"]  # a folder written before checksums were recorded
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFolderError) as info:
        load_model_folder(path).load_keras()
    message = one_line(info.value)
    assert str(keras_file) in message and "damaged or truncated" in message and "not found" not in message.lower()


# ---------------------------------------------------------------- 7. empty uploads


def _uploader(at, key):
    return [u for u in at.file_uploader if u.key == key][0]


@pytest.mark.parametrize("name", ["books.ndjson", "books.ndjson.gz", "pairs.parquet", "pairs.csv"])
def test_an_empty_training_upload_is_called_an_empty_file(models, name):
    from test_app_pages import app, ok, page, plain

    at = ok(app().run())
    page(at, "train")
    at.radio[0].set_value("upload").run()
    at.file_uploader[0].set_value((name, b"", "application/octet-stream"))
    ok([b for b in at.button if b.label == "Train"][0].click().run())
    errors = [plain(e.value) for e in at.error]
    assert errors == [f"Nothing to train on: {name}: empty file (0 bytes)"], errors
    assert list(models.iterdir()) == []


@pytest.mark.parametrize("empty", ["import_vectors", "import_metadata"])
def test_an_empty_import_upload_is_called_an_empty_file(models, empty):
    from test_app_pages import app, ok, page, plain

    at = ok(app().run())
    page(at, "train")
    at.radio(key="import_kind").set_value("projector")
    files = {"import_vectors": ("v.tsv", b"1\t0\n0\t1\n"), "import_metadata": ("m.tsv", b"a\nb\n")}
    for key, (name, data) in files.items():
        _uploader(at, key).set_value((name, b"" if key == empty else data, "text/plain"))
    ok([b for b in at.button if b.label == "Import"][0].click().run())
    errors = [plain(e.value) for e in at.error]
    assert errors == [f"Import failed; nothing was saved: {files[empty][0]}: empty file (0 bytes)"], errors
    assert list(models.iterdir()) == []


# ---------------------------------------------------------------- nothing already saved is lost


def test_a_failed_projector_import_over_an_existing_model_leaves_it_whole(tmp_path, saved_model):
    kept, before = saved_model
    v, m = write_projector(tmp_path, "1\t2\n3\t4\n", "a\na\n")  # repeated title: refused
    with pytest.raises(ImportModelError, match="repeats line 1"):
        import_projector(v, m, kept, overwrite=True)
    assert folder_bytes(kept) == before
    assert sorted(os.listdir(kept.parent)) == ["kept"]  # no temporary sibling left behind


def test_an_import_that_dies_while_saving_leaves_the_existing_model_whole(tmp_path, saved_model, monkeypatch):
    from bookembed import store

    kept, before = saved_model
    v, m = write_projector(tmp_path, "1\t2\n3\t4\n", "a\nb\n")

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "replace_dir_atomic", broken)  # every file written, then the swap fails
    with pytest.raises(OSError):
        import_projector(v, m, kept, overwrite=True)
    assert folder_bytes(kept) == before
    assert sorted(os.listdir(kept.parent)) == ["kept"]
