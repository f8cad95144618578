"""The Projector's TSV writing, by what it promises: exact text, one line per row, errors that name the row."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from bookembed.projector import ExportError, _rows, _vectors, format_rows, metadata_frame
from bookembed.store import load_model_folder


def test_format_rows_is_one_line_per_row_in_chunks_of_any_size():
    array = np.arange(12, dtype=np.float32).reshape(6, 2) / 3
    whole = format_rows(array)
    assert whole.count("\n") == 6 and whole.endswith("\n")
    assert whole.splitlines()[1] == "0.666666687\t1"
    assert format_rows(array, chunk_rows=4) == format_rows(array, chunk_rows=1) == whole
    assert format_rows(array[:1]) == "0\t0.333333343\n"
    assert format_rows(array[:0]) == ""
    assert format_rows(array, fmt="%.2f", sep=",").splitlines()[0] == "0.00,0.33"
    with pytest.raises(ValueError, match=r"^expected a 2-D array, got shape \(12,\)$"):
        format_rows(array.ravel())


def test_ids_errors_name_the_kind_and_the_range(fake_model):
    model = load_model_folder(fake_model)
    assert _rows(model, "books", None).dtype == np.int64
    assert _rows(model, "books", None).tolist() == list(range(model.n_books))
    assert _rows(model, "links", (3, 1, 3)).tolist() == [3, 1]
    assert _rows(model, "books", np.array([5, 2], dtype=np.int32)).dtype == np.int64
    with pytest.raises(ExportError, match=r"^ids must be a sequence of book ids$"):
        _rows(model, "books", 5)
    with pytest.raises(ExportError, match=r"^ids must be a flat sequence of integer link ids, got dtype float64$"):
        _rows(model, "links", [1.5])
    with pytest.raises(ExportError, match=rf"^book id 60 is not in this model \(60 books, ids 0 to 59\)$"):
        _rows(model, "books", [60])


def test_vector_errors_name_the_row_and_count_the_bad_ones(fake_model):
    model = load_model_folder(fake_model)
    model.book_vectors[[3, 8]] = np.nan
    with pytest.raises(ExportError, match=r": book vector 3 \('Война и мир'\) contains NaN or Inf \(2 such rows\); refusing"):
        _vectors(model, "books", np.arange(model.n_books))
    good = _vectors(model, "books", np.array([0, 1], dtype=np.int64))
    assert good.dtype == np.float32 and good.shape == (2, model.dim)


def test_metadata_frame_defaults_to_every_book(fake_model):
    model = load_model_folder(fake_model)
    frame = metadata_frame(model)
    assert len(frame) == model.n_books and frame.iloc[:, 0].tolist() == model.titles
    assert metadata_frame(model, rows=np.array([2, 0])).iloc[:, 0].tolist() == [model.titles[2], model.titles[0]]


def test_metadata_column_errors_say_exactly_what_is_wrong(fake_model):
    model = load_model_folder(fake_model)
    with pytest.raises(ExportError, match=r"^at least one metadata column is needed$"):
        metadata_frame(model, columns=[])
    with pytest.raises(ExportError, match=r"^no metadata column 'nope' for links; there are: link, books$"):
        metadata_frame(model, "links", columns=["link", "nope"])
    with pytest.raises(ExportError, match=r"^metadata columns repeat: title, genre, title$"):
        metadata_frame(model, columns=["title", "genre", "title"])


def test_one_dimensional_vectors_export_and_zero_dimensional_ones_are_refused(fake_model):
    import dataclasses

    model = load_model_folder(fake_model)
    narrow = dataclasses.replace(model, book_vectors=model.book_vectors[:, :1].copy(),
                                 link_vectors=model.link_vectors[:, :1].copy())
    got = _vectors(narrow, "books", np.array([4, 2], dtype=np.int64))
    np.testing.assert_array_equal(got, model.book_vectors[[4, 2], :1])
    empty = dataclasses.replace(model, book_vectors=np.zeros((model.n_books, 0), np.float32))
    message = rf"^{re.escape(str(model.path))}: books vectors have shape \(2, 0\); nothing to export$"
    with pytest.raises(ExportError, match=message):
        _vectors(empty, "books", np.array([0, 1], dtype=np.int64))


def test_a_model_without_links_still_has_a_text_link_column(fake_model):
    import dataclasses

    model = load_model_folder(fake_model)
    bare = dataclasses.replace(model, links=(), link_counts=np.zeros(0, np.int64),
                               link_vectors=np.zeros((0, model.dim), np.float32))
    frame = metadata_frame(bare, "links")
    assert frame.shape == (0, 2) and frame.columns.tolist() == ["link", "books"]
    assert frame["link"].dtype == pd.StringDtype() and frame["books"].dtype == np.int64
