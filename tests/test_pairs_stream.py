"""The streamed Parquet pairs reader gives the same corpus as the pandas reader, batch size whatever."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import TINY_BOOKS

from bookembed import pairstable
from bookembed.corpus import CleaningConfig, load_corpus, read_records
from bookembed.errors import CorpusError
from bookembed.pairstable import read_metadata_table, read_pairs_table


def corpus_fields(corpus) -> tuple:
    return (corpus.books["title"].tolist(), corpus.links, corpus.link_counts.tolist(), corpus.pair_books.tolist(),
            corpus.pair_links.tolist(), corpus.books.drop(columns="title").astype(str).values.tolist())


def awkward_rows() -> pd.DataFrame:
    """Tiny pairs with what a stream must get right: padding, an item split across batches, repeats, a dropped title."""
    rows = [(title, link) for title, _, links, *_ in TINY_BOOKS for link in links]
    rows += [("  War and Peace ", "\tNapoleon "), ("Anna Karenina", " Leo Tolstoy"), ("Wikipedia:Sandbox", "Napoleon")]
    rng = np.random.default_rng(3)
    order = rng.permutation(len(rows))  # an item's rows far apart, in different batches
    return pd.DataFrame([rows[i] for i in order], columns=["item", "link"])


@pytest.mark.parametrize("batch", [1, 3, 7, 1 << 22])
def test_streamed_parquet_gives_the_corpus_the_pandas_reader_gives(tmp_path, monkeypatch, batch):
    frame = awkward_rows()
    frame.to_csv(tmp_path / "pairs.csv", index=False)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "pairs.parquet", row_group_size=5)
    monkeypatch.setattr(pairstable, "BATCH_ROWS", batch)
    monkeypatch.setattr(pairstable, "FOLD_FLOOR", 2)  # fold the batches' dictionaries often
    config = CleaningConfig(min_link_count=2)
    from_csv = load_corpus(tmp_path / "pairs.csv", config=config)
    from_parquet = load_corpus(tmp_path / "pairs.parquet", config=config)
    assert corpus_fields(from_parquet) == corpus_fields(from_csv)
    assert from_parquet.report.dropped_titles == from_csv.report.dropped_titles == 1
    assert "War and Peace" in from_parquet.books["title"].tolist()  # padding stripped, one item


def test_streamed_titles_are_in_order_of_first_appearance_with_codes_that_point_back(tmp_path, monkeypatch):
    frame = pd.DataFrame({"book": ["b", "a", "b", "c", "a", "d", "c"], "target": list("xyzxyzx")})
    frame.to_parquet(tmp_path / "p.parquet", index=False)
    monkeypatch.setattr(pairstable, "BATCH_ROWS", 2)
    monkeypatch.setattr(pairstable, "FOLD_FLOOR", 1)
    titles, link_book, links, report = read_pairs_table(tmp_path / "p.parquet")
    assert titles.to_pylist() == ["b", "a", "c", "d"]
    assert link_book.dtype == np.int32
    assert [titles[int(i)].as_py() for i in link_book] == frame["book"].tolist()
    assert [str(x) for x in links.to_pylist()] == frame["target"].tolist()
    assert report.n_records == 4


def test_streamed_parquet_takes_dictionary_and_number_columns(tmp_path, monkeypatch):
    frame = pd.DataFrame({"item": pd.Categorical(["a", "b", "a"]), "link": [10, 20, 10]})
    frame.to_parquet(tmp_path / "p.parquet", index=False)
    monkeypatch.setattr(pairstable, "BATCH_ROWS", 2)
    titles, link_book, links, _ = read_pairs_table(tmp_path / "p.parquet")
    assert titles.to_pylist() == ["a", "b"]
    assert links.to_pylist() == ["10", "20", "10"]


@pytest.mark.parametrize("blank_at", [0, 4, 9])
def test_an_empty_value_in_a_later_batch_is_named_by_its_data_row(tmp_path, monkeypatch, blank_at):
    frame = pd.DataFrame({"item": [f"book {i}" for i in range(10)], "link": ["l"] * 10})
    frame.loc[blank_at, "link"] = None if blank_at % 2 else "   "
    frame.to_parquet(tmp_path / "p.parquet", index=False)
    monkeypatch.setattr(pairstable, "BATCH_ROWS", 3)
    with pytest.raises(CorpusError, match=rf"^data row {blank_at + 1} of p\.parquet: empty value in column 'link'$"):
        read_pairs_table(tmp_path / "p.parquet")


def test_streamed_parquet_errors_are_one_line_naming_the_file(tmp_path):
    pd.DataFrame({"item": pd.Series([], dtype=str), "link": pd.Series([], dtype=str)}).to_parquet(tmp_path / "e.parquet")
    with pytest.raises(CorpusError, match=r"^e\.parquet: no rows$"):
        read_pairs_table(tmp_path / "e.parquet")
    pd.DataFrame({"item": ["a"]}).to_parquet(tmp_path / "one.parquet")
    with pytest.raises(CorpusError, match=r"^one\.parquet: expected two columns"):
        read_pairs_table(tmp_path / "one.parquet")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not parquet PAR1")
    with pytest.raises(CorpusError, match=r"^bad\.parquet: cannot read table"):
        read_pairs_table(tmp_path / "bad.parquet")
    with pytest.raises(CorpusError, match="no such file"):
        read_pairs_table(tmp_path / "missing.parquet")


def test_metadata_lookup_by_arrow_titles_matches_a_plain_lookup(tmp_path):
    meta = pd.DataFrame({
        "title": ["War and Peace", "Dune", "War and Peace", "Not a pair"],
        "Author": ["[[Leo Tolstoy]]", "Frank Herbert", "someone else", "x"],
        "genre": ["Historical novel, War novel", None, "ignored: a repeated key keeps its first row", "y"],
        "year": ["1869", "August 1965", "1", "2000"],
        "pages": [1225, None, 3, 4],
    })
    meta.to_parquet(tmp_path / "m.parquet", index=False)
    titles = ["Dune", "Missing", "War and Peace"]
    by_arrow = read_metadata_table(tmp_path / "m.parquet", pa.array(titles, pa.large_string()))
    by_list = read_metadata_table(tmp_path / "m.parquet", titles)
    pd.testing.assert_frame_equal(by_arrow, by_list)
    assert by_arrow["author"].tolist() == ["Frank Herbert", "", "Leo Tolstoy"]
    assert by_arrow["year"].tolist()[0] == 1965 and by_arrow["year"].tolist()[2] == 1869
    assert pd.isna(by_arrow["year"][1]) and pd.isna(by_arrow["pages"][0])
    assert by_arrow["pages"][2] == 1225
    assert by_arrow["primary_genre"].tolist()[2] != ""  # derived from the genre when not given
    assert by_arrow["genre"][1] == "" and by_arrow["primary_genre"][1] == ""


def test_real_records_as_streamed_pairs_give_the_ndjson_corpus(real_path, tmp_path, monkeypatch):
    """p15's 1,413 real books, written as a Parquet pairs table in many batches, load to the same pairs."""
    records, _ = read_records(real_path)
    assert len({r.title for r in records}) == len(records) > 1_400
    frame = pd.DataFrame([(r.title, link) for r in records for link in r.links], columns=["title", "wikilink"])
    frame.to_parquet(tmp_path / "p15.parquet", index=False)
    monkeypatch.setattr(pairstable, "BATCH_ROWS", 5_000)
    config = CleaningConfig()
    ndjson = load_corpus(real_path, config=config)
    streamed = load_corpus(tmp_path / "p15.parquet", config=config)
    assert streamed.books["title"].tolist() == ndjson.books["title"].tolist()
    assert streamed.links == ndjson.links
    assert np.array_equal(streamed.pair_books, ndjson.pair_books)
    assert np.array_equal(streamed.pair_links, ndjson.pair_links)
    assert streamed.n_pairs > 10_000


@pytest.mark.parametrize("chunk", [1, 2, 5, 1 << 22])
def test_keying_and_compacting_in_chunks_give_the_same_corpus(tiny_path, monkeypatch, chunk):
    from bookembed import corpus as corpus_module
    from bookembed import graph

    whole = load_corpus(tiny_path)
    monkeypatch.setattr(corpus_module, "KEY_CHUNK", chunk)
    monkeypatch.setattr(graph, "UNIQUE_CHUNK", chunk)
    chunked = load_corpus(tiny_path)
    assert corpus_fields(chunked) == corpus_fields(whole)


def test_unique_keys_in_place_matches_numpy(monkeypatch):
    from bookembed import graph

    rng = np.random.default_rng(1)
    for chunk in (1, 3, 64):
        monkeypatch.setattr(graph, "UNIQUE_CHUNK", chunk)
        keys = rng.integers(0, 50, 200).astype(np.int64)
        expected = np.unique(keys)
        assert np.array_equal(graph.unique_keys(keys.copy(), overwrite=True), expected)
        assert np.array_equal(graph.unique_keys(keys), expected)
