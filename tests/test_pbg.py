"""PyTorch-BigGraph: a model folder's graph as its input, and its checkpoint read back into a model folder.

PBG's last release (1.0.0, 2019) does not install on this Python, so the
checkpoints here are written by the test with h5py, laid out as PBG's
documentation ("I/O format") describes them.
"""

from __future__ import annotations

import json
import runpy

import h5py
import numpy as np
import pytest

from bookembed.errors import BookembedError
from bookembed.pbg import PbgError, export_pbg, import_pbg
from bookembed.store import load_model_folder
from conftest import assert_one_line_error, make_fake_model, run_cli


def write_checkpoint(folder, book_vectors, link_vectors, partitions, version=3, config=None):
    """Vectors as PBG's trainer writes them: entity i in partition i % P at local index i // P."""
    folder.mkdir(parents=True, exist_ok=True)
    for kind, vectors in (("book", book_vectors), ("link", link_vectors)):
        for p in range(partitions):
            with h5py.File(folder / f"embeddings_{kind}_{p}.v{version}.h5", "w") as f:
                f.attrs["format_version"] = 1
                f.create_dataset("embeddings", data=np.asarray(vectors[p::partitions], np.float32))
    (folder / "checkpoint_version.txt").write_text(f"{version}\n")
    cfg = config if config is not None else {
        "entity_path": ".", "entities": {"book": {"num_partitions": partitions}, "link": {"num_partitions": partitions}},
        "relations": [{"name": "links_to", "lhs": "book", "rhs": "link", "operator": "none"}], "comparator": "cos"}
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


@pytest.fixture
def model(tmp_path):
    return load_model_folder(make_fake_model(tmp_path / "fake", n_books=37, n_links=23, dim=6))


def edges_of(folder, partitions):
    out = {}
    for i in range(partitions):
        for j in range(partitions):
            with h5py.File(folder / f"edges_{i}_{j}.h5") as f:
                assert f.attrs["format_version"] == 1
                out[(i, j)] = (f["lhs"][...], f["rhs"][...], f["rel"][...])
    return out


@pytest.mark.parametrize("partitions", [1, 3])
def test_export_writes_every_pair_once_in_its_bucket_with_names_counts_and_config(model, tmp_path, partitions):
    out = tmp_path / "pbg"
    result = export_pbg(model, out, partitions=partitions)
    assert (result.n_books, result.n_links) == (model.n_books, model.n_links)
    for kind, names in (("book", model.titles), ("link", list(model.links))):
        parts = [json.loads((out / f"entity_names_{kind}_{p}.json").read_text()) for p in range(partitions)]
        counts = [int((out / f"entity_count_{kind}_{p}.txt").read_text()) for p in range(partitions)]
        assert counts == [len(x) for x in parts] and sum(counts) == len(names)
        assert parts == [list(names)[p::partitions] for p in range(partitions)]
    held = np.asarray(model.heldout)
    for sub, mask in (("edges", ~held), ("heldout", held)):
        got = []
        for (i, j), (lhs, rhs, rel) in edges_of(out / sub, partitions).items():
            assert (rel == 0).all()
            got += [(int(b) * partitions + i, int(l) * partitions + j) for b, l in zip(lhs, rhs)]
        want = list(zip(np.asarray(model.pair_books)[mask].tolist(), np.asarray(model.pair_links)[mask].tolist()))
        assert sorted(got) == sorted(want)
    assert held.any() and (~held).any()
    config = runpy.run_path(str(out / "config.py"))["get_torchbiggraph_config"]()
    assert config["entities"] == {"book": {"num_partitions": partitions}, "link": {"num_partitions": partitions}}
    assert config["relations"] == [{"name": "links_to", "lhs": "book", "rhs": "link", "operator": "none"}]
    assert config["comparator"] == "cos" and config["dimension"] == model.dim
    assert (out / config["entity_path"]).is_dir() and all((out / p).is_dir() for p in config["edge_paths"])


@pytest.mark.parametrize("partitions", [1, 2])
def test_a_checkpoint_of_the_export_imports_as_the_same_books_links_pairs_and_vectors(model, tmp_path, partitions):
    out = tmp_path / "pbg"
    export_pbg(model, out, partitions=partitions)
    rng = np.random.default_rng(0)
    books, links = rng.normal(size=(model.n_books, 5)), rng.normal(size=(model.n_links, 5))
    write_checkpoint(out / "checkpoints", books, links, partitions)
    result = import_pbg(out / "checkpoints", tmp_path / "models" / "pbg")
    back = load_model_folder(result.path)
    assert back.titles == model.titles and back.links == model.links
    np.testing.assert_allclose(back.book_vectors, books.astype(np.float32))
    np.testing.assert_allclose(back.link_vectors, links.astype(np.float32))
    ours = sorted(zip(model.pair_books.tolist(), model.pair_links.tolist(), np.asarray(model.heldout).tolist()))
    theirs = sorted(zip(back.pair_books.tolist(), back.pair_links.tolist(), np.asarray(back.heldout).tolist()))
    assert ours == theirs
    assert list(back.books.columns) == list(model.books.columns)
    assert back.books["n_links"].tolist() == model.books["n_links"].tolist()
    assert back.manifest["config"]["imported"] == "pytorch-biggraph"


def test_a_checkpoint_without_our_export_beside_it_gives_books_named_in_partition_order(tmp_path):
    ckpt = write_checkpoint(tmp_path / "ckpt", np.eye(4, 3), np.eye(2, 3), partitions=2)
    for kind, names in (("book", ["a", "b", "c", "d"]), ("link", ["x", "y"])):
        for p in range(2):
            (tmp_path / f"entity_names_{kind}_{p}.json").write_text(json.dumps(names[p::2]))
    result = import_pbg(ckpt, tmp_path / "m")
    back = load_model_folder(result.path)
    assert back.titles == ["a", "c", "b", "d"] and back.links == ("x", "y")
    np.testing.assert_allclose(back.book_vectors, np.eye(4, 3)[[0, 2, 1, 3]])
    assert back.n_pairs == 0 and any("no edges" in n for n in result.notes)


@pytest.mark.parametrize("damage, fragment", [
    ("no version", "checkpoint_version.txt: missing"),
    ("bad version", "checkpoint_version.txt: should hold the checkpoint version"),
    ("rows", "embeddings for"),
    ("nan", "is not a finite vector"),
    ("names", "entity_names_book_0.json: should be a JSON list"),
    ("twice", "appears twice"),
    ("no type", "no entity type 'link'"),
    ("not h5", "not a readable HDF5 file"),
])
def test_a_damaged_checkpoint_is_refused_with_one_line_naming_the_file(tmp_path, damage, fragment):
    ckpt = write_checkpoint(tmp_path / "ckpt", np.ones((3, 2)), np.ones((2, 2)), partitions=1)
    (tmp_path / "entity_names_book_0.json").write_text(json.dumps(["a", "b", "c"]))
    (tmp_path / "entity_names_link_0.json").write_text(json.dumps(["x", "y"]))
    if damage == "no version":
        (ckpt / "checkpoint_version.txt").unlink()
    elif damage == "bad version":
        (ckpt / "checkpoint_version.txt").write_text("three")
    elif damage == "rows":
        (tmp_path / "entity_names_book_0.json").write_text(json.dumps(["a", "b"]))
    elif damage == "nan":
        with h5py.File(ckpt / "embeddings_book_0.v3.h5", "r+") as f:
            f["embeddings"][1, 0] = np.nan
    elif damage == "names":
        (tmp_path / "entity_names_book_0.json").write_text(json.dumps({"a": 1}))
    elif damage == "twice":
        (tmp_path / "entity_names_book_0.json").write_text(json.dumps(["a", "b", "a"]))
    elif damage == "no type":
        (ckpt / "config.json").write_text(json.dumps({"entity_path": ".", "entities": {"book": {"num_partitions": 1}}}))
    elif damage == "not h5":
        (ckpt / "embeddings_link_0.v3.h5").write_bytes(b"not hdf5 at all")
    (tmp_path / "models").mkdir()
    with pytest.raises(PbgError) as err:
        import_pbg(ckpt, tmp_path / "models" / "m")
    message = str(err.value)
    assert fragment in message and "\n" not in message and str(tmp_path) in message
    assert not any((tmp_path / "models").iterdir())  # nothing half-written


def test_a_failed_import_leaves_an_existing_model_of_that_name_whole(model, tmp_path):
    ckpt = write_checkpoint(tmp_path / "ckpt", np.ones((3, 2)), np.ones((2, 2)), partitions=1)
    with pytest.raises(BookembedError, match="already holds a trained model"):
        import_pbg(ckpt, model.path)
    assert load_model_folder(model.path).n_books == model.n_books


def test_cli_exports_and_imports_back(model, tmp_path):
    out = tmp_path / "pbg"
    proc = run_cli("export", "--model", str(model.path), "--pbg", str(out), "--partitions", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "torchbiggraph_train config.py" in proc.stdout and (out / "edges" / "edges_1_1.h5").exists()
    write_checkpoint(out / "checkpoints", np.asarray(model.book_vectors)[:, :4] + 1, np.asarray(model.link_vectors)[:, :4],
                     partitions=2)
    proc = run_cli("import", "--pbg", str(out / "checkpoints"), "--out", str(tmp_path / "back"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"imported {model.n_books:,} books, {model.n_links:,} links, dim 4" in proc.stdout
    proc = run_cli("neighbors", "--model", str(tmp_path / "back"), model.titles[0], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    bad = run_cli("import", "--pbg", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x"), cwd=tmp_path)
    assert_one_line_error(bad, "nowhere", "not a folder")
