"""The record of checked files: a folder is read and checked whole once, then mapped while its files stay as they were."""

from __future__ import annotations

import dataclasses
import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bookembed import folderfiles
from bookembed.errors import ModelFolderError
from bookembed.folderfiles import RECORD
from bookembed.graph import LinkGraph
from bookembed.store import load_model_folder, save_model_folder, vectors_sha1, verify_model_folder
from test_integrity import flip_a_byte
from test_store import make_inputs

MARGIN_S = 0.2


@pytest.fixture
def folder(tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(folderfiles, "MARGIN_NS", int(MARGIN_S * 1e9))
    return save_model_folder(tmp_path / "models" / "m", make_inputs(n_books=40, n_links=15, dim=6))


def mapped(model) -> bool:
    """Whether the folder's vectors and pairs came from memory maps (read-only views of the files)."""
    arrays = (model.book_vectors, model.link_vectors, model.pair_books, model.pair_links, model.heldout)
    return not any(a.flags.writeable for a in arrays)


def checked_then_settled(folder: Path):
    """Open once (every file read and checked whole), then wait out the margin so the record is trusted."""
    time.sleep(MARGIN_S + 0.05)
    first = load_model_folder(folder)
    time.sleep(MARGIN_S + 0.05)
    return first


def test_a_folder_opened_once_is_mapped_after_with_the_same_values(folder):
    first = checked_then_settled(folder)
    assert not mapped(first)
    again = load_model_folder(folder)
    assert mapped(again)
    for name in ("book_vectors", "link_vectors", "pair_books", "pair_links", "heldout"):
        assert np.array_equal(getattr(first, name), getattr(again, name)), name
        assert getattr(first, name).dtype == getattr(again, name).dtype
    assert again.books.equals(first.books) and again.links == first.links
    assert again.vectors_checksum == vectors_sha1(again.book_vectors) == first.vectors_checksum
    assert again.link_vectors_checksum == vectors_sha1(again.link_vectors)


def test_a_file_written_just_before_its_record_is_read_whole(folder):
    # The save records its files a moment after writing them: inside the margin, so none is trusted yet.
    assert not mapped(load_model_folder(folder))
    flip_a_byte(folder / "book_vectors.npy")
    with pytest.raises(ModelFolderError, match="book_vectors.npy: damaged file: its SHA-256"):
        load_model_folder(folder)


@pytest.mark.parametrize("name", ["book_vectors.npy", "link_vectors.npy", "pairs.npz", "books.parquet",
                                  "links.json"])
def test_a_byte_changed_after_the_record_is_caught(folder, name):
    checked_then_settled(folder)
    flip_a_byte(folder / name)
    with pytest.raises(ModelFolderError) as info:
        load_model_folder(folder)
    assert str(folder / name) in str(info.value) and "SHA-256" in str(info.value)


def test_a_big_model_saved_long_enough_ago_opens_mapped_the_first_time(folder, tmp_path):
    time.sleep(MARGIN_S + 0.05)
    again = save_model_folder(tmp_path / "models" / "n", make_inputs(n_books=40, n_links=15, dim=6))
    time.sleep(MARGIN_S + 0.05)
    # A small save records its files a moment after writing them, inside the margin. A big one writes
    # model.keras for seconds after the vectors and pairs: rewritten now, the record is as such a save leaves it.
    record = folderfiles.read_record(again, folderfiles.identity(again / "manifest.json"))
    assert set(record.files) >= {"book_vectors.npy", "pairs.npz"} and record.sha1["book"]
    folderfiles.write_record(again, record)
    model = load_model_folder(again)
    assert mapped(model)
    assert model.vectors_checksum == vectors_sha1(np.asarray(model.book_vectors))


@pytest.fixture
def big_folder(tmp_path, monkeypatch) -> Path:
    """A folder saved as a big one is: with the Arrow copy of its books table (every folder, for this test)."""
    monkeypatch.setattr(folderfiles, "MARGIN_NS", int(MARGIN_S * 1e9))
    monkeypatch.setattr(folderfiles, "BOOKS_COPY_MIN_ROWS", 0)
    inputs = make_inputs(n_books=40, n_links=15, dim=6)
    books = inputs.graph.books.copy()
    books["author"] = pd.array([None if i % 3 == 0 else f"Ä{i}" for i in range(len(books))], dtype="str")
    books["year"] = pd.array([None if i % 4 == 0 else 1800 + i for i in range(len(books))], dtype="Int64")
    graph = LinkGraph(books, inputs.graph.links, inputs.graph.link_counts, inputs.graph.pair_books,
                      inputs.graph.pair_links)
    return save_model_folder(tmp_path / "models" / "big", dataclasses.replace(inputs, graph=graph))


def test_a_big_folders_books_come_from_their_arrow_copy_once_checked(big_folder, monkeypatch):
    manifest = json.loads((big_folder / "manifest.json").read_text(encoding="utf-8"))
    assert folderfiles.BOOKS_COPY in manifest["files"] and folderfiles.BOOKS_COPY in manifest["checksums"]
    first = checked_then_settled(big_folder)  # the Parquet file read, the copy checked against the manifest
    record = folderfiles.read_record(big_folder, folderfiles.identity(big_folder / "manifest.json"))
    assert folderfiles.BOOKS_COPY in record.files

    def no_parquet(*args, **kwargs):
        raise AssertionError("books.parquet read although its Arrow copy is trusted")

    monkeypatch.setattr(pd, "read_parquet", no_parquet)
    again = load_model_folder(big_folder)
    pd.testing.assert_frame_equal(again.books, first.books)  # values, missing values and dtypes
    assert again.books["author"].isna().sum() == 14 and again.books["year"].isna().sum() == 10
    for column in ("title", "author"):  # one chunk a column: taking a few rows does not walk every chunk
        assert getattr(pa.array(again.books[column].array), "num_chunks", 1) == 1, column
    assert again.titles == first.titles


def test_a_damaged_arrow_copy_is_caught(big_folder):
    checked_then_settled(big_folder)
    flip_a_byte(big_folder / folderfiles.BOOKS_COPY)
    with pytest.raises(ModelFolderError, match=r"books\.arrow: damaged file: its SHA-256"):
        load_model_folder(big_folder)


def test_a_big_folder_whose_arrow_copy_is_gone_still_opens_from_its_parquet_file(big_folder):
    first = checked_then_settled(big_folder)
    (big_folder / folderfiles.BOOKS_COPY).unlink()
    again = load_model_folder(big_folder)
    pd.testing.assert_frame_equal(again.books, first.books)
    assert any("books.arrow" in line for line in _verify_problems(big_folder))


def _verify_problems(folder) -> list[str]:
    try:
        return verify_model_folder(folder)
    except ModelFolderError as err:
        return [str(err)]


def test_a_small_folder_has_no_arrow_copy(folder):
    assert not (folder / folderfiles.BOOKS_COPY).exists()
    assert load_model_folder(folder).books["title"].tolist() == pd.read_parquet(folder / "books.parquet")["title"].tolist()


def test_a_damaged_or_foreign_record_is_ignored_and_replaced(folder, tmp_path):
    checked_then_settled(folder)
    other = save_model_folder(tmp_path / "models" / "other", make_inputs(n_books=40, n_links=15, dim=6, seed=3))
    (other / RECORD).write_bytes((folder / RECORD).read_bytes())  # another folder's record
    assert not mapped(load_model_folder(other))
    (folder / RECORD).write_text("{not json", encoding="utf-8")
    assert not mapped(load_model_folder(folder))
    assert json.loads((folder / RECORD).read_text(encoding="utf-8"))["files"]


def test_a_folder_that_cannot_be_written_is_checked_on_every_open(folder, monkeypatch):
    def refuse(*_args, **_kwargs):
        raise PermissionError("read-only")

    (folder / RECORD).unlink()
    monkeypatch.setattr(folderfiles.os, "replace", refuse)
    for _ in range(2):
        time.sleep(MARGIN_S + 0.05)
        assert not mapped(load_model_folder(folder))
    assert not (folder / RECORD).exists()
    assert not [p.name for p in folder.iterdir() if ".tmp-" in p.name]


def test_verify_reads_everything_whatever_the_record_says(folder):
    checked_then_settled(folder)
    assert mapped(load_model_folder(folder))
    assert not mapped(load_model_folder(folder, trust=False))
    assert any("match their SHA-256" in line for line in verify_model_folder(folder))


def test_uncompressed_npz_members_map_to_the_saved_arrays_and_compressed_ones_are_read(tmp_path):
    arrays = {"a": np.arange(7, dtype=np.int32), "b": np.zeros(0, np.int32),
              "c": (np.arange(6) % 2).astype(bool), "d": np.arange(12, dtype=np.float32).reshape(3, 4)}
    np.savez(tmp_path / "plain.npz", **arrays)
    found = folderfiles.map_npz(tmp_path / "plain.npz")
    assert sorted(found) == sorted(arrays)
    for key, value in arrays.items():
        assert np.array_equal(found[key], value) and found[key].dtype == value.dtype and found[key].shape == value.shape
        assert found[key].flags.aligned and not found[key].flags.writeable  # misaligned members are read whole
    np.savez_compressed(tmp_path / "packed.npz", **arrays)
    assert folderfiles.map_npz(tmp_path / "packed.npz") is None
    with zipfile.ZipFile(tmp_path / "cut.npz", "w") as archive:
        archive.writestr("a.npy", (tmp_path / "plain.npz").read_bytes()[:0] + b"\x93NUMPY")
    with pytest.raises(ModelFolderError, match="cut.npz: damaged pairs file"):
        folderfiles.map_npz(tmp_path / "cut.npz")


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(0, 300), min_size=1, max_size=4), name_lengths=st.lists(st.integers(1, 9), min_size=4,
                                                                                           max_size=4))
def test_save_npz_is_what_np_load_reads_and_every_member_is_mapped(tmp_path_factory, sizes, name_lengths):
    """Whatever the members' sizes, types and name lengths (each shifts the next header), every non-empty array
    is memory-mapped in place: its data starts at a multiple of ``ALIGN`` bytes, so none is copied."""
    types = (np.int32, np.bool_, np.float32, np.int64)
    arrays = {"n" * length + str(i): (np.arange(size) * 7 % 5).astype(types[i % 4])
              for i, (size, length) in enumerate(zip(sizes, name_lengths))}
    file = tmp_path_factory.mktemp("npz") / "pairs.npz"
    folderfiles.save_npz(file, arrays)
    with np.load(file) as loaded:
        assert sorted(loaded.files) == sorted(arrays)
        for key, value in arrays.items():
            assert np.array_equal(loaded[key], value) and loaded[key].dtype == value.dtype
    found = folderfiles.map_npz(file)
    for key, value in arrays.items():
        assert np.array_equal(found[key], value) and found[key].dtype == value.dtype
        if len(value):
            assert isinstance(found[key].base, np.memmap), key  # mapped, not read whole
            assert (found[key].ctypes.data - found[key].base.ctypes.data) == 0


def test_a_saved_folders_pairs_are_mapped_after_the_first_open(folder):
    checked_then_settled(folder)
    again = load_model_folder(folder)
    for name in ("pair_books", "pair_links", "heldout"):
        assert isinstance(getattr(again, name).base, np.memmap), name


@settings(max_examples=60, deadline=None)
@given(pairs=st.sets(st.tuples(st.integers(0, 9), st.integers(0, 6)), max_size=40), shuffled=st.booleans())
def test_a_books_links_by_binary_search_are_its_links_by_grouping(pairs, shuffled):
    rows = sorted(pairs)
    if shuffled:
        rows = rows[::-1]
    pb = np.array([b for b, _ in rows], np.int32)
    pl = np.array([link for _, link in rows], np.int32)

    def graph():
        return LinkGraph(books=pd.DataFrame({"title": [f"b{i}" for i in range(10)]}),
                         links=tuple(f"l{j}" for j in range(7)), link_counts=np.bincount(pl, minlength=7),
                         pair_books=pb, pair_links=pl)

    searched, grouped = graph(), graph()
    grouped.link_books(0)
    grouped._by_book  # noqa: B018 - built first: the lookups below group
    for book in range(10):
        want = sorted(link for b, link in pairs if b == book)
        assert searched.book_links(book).tolist() == want == grouped.book_links(book).tolist()
    assert ("_by_book" in searched.__dict__) == (shuffled and len(rows) > 1 and bool((pb[1:] < pb[:-1]).any()))


@settings(max_examples=60, deadline=None)
@given(years=st.lists(st.one_of(st.none(), st.integers(-3000, 3000)), max_size=40), start=st.integers(0, 5),
       kind=st.sampled_from(["Int64", "Int32", "UInt16"]))
def test_the_books_copy_reads_back_as_pandas_reads_it_without_copying_numbers(tmp_path_factory, years, start, kind):
    """Nullable integers (years), plain numbers and strings come back with pandas' own values, missing values
    and dtypes; plain numbers are views of the mapped file, not copies."""
    if kind == "UInt16":
        years = [None if y is None else abs(y) for y in years]
    n = len(years)
    books = pd.DataFrame({"title": pd.array([f"T{i}" if i % 5 else None for i in range(n)], dtype="str"),
                          "year": pd.array(years, dtype=kind), "n_links": np.arange(n, dtype=np.int64)})
    file = tmp_path_factory.mktemp("copy") / "books.arrow"
    table = pa.Table.from_pandas(books, preserve_index=False)
    with pa.OSFile(str(file), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    mapped = folderfiles.map_books_copy(file)
    pd.testing.assert_frame_equal(mapped, pa.ipc.open_file(str(file)).read_all().to_pandas())
    pd.testing.assert_frame_equal(mapped, books)
    sliced = folderfiles._frame_of(pa.ipc.open_file(pa.memory_map(str(file))).read_all().slice(min(start, n)))
    pd.testing.assert_frame_equal(sliced, books.iloc[min(start, n):].reset_index(drop=True))  # an offset into pages
    if n:
        assert not mapped["n_links"].to_numpy().flags.writeable  # the file's pages, read-only
