"""Big vocabularies are matched column-wise (``names.name_table``): the same answers as the loop, kept in the folder."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bookembed import graph as graph_module
from bookembed import names
from bookembed.graph import LinkGraph
from bookembed.names import match_names, name_table, resolve
from bookembed.store import load_model_folder, save_model_folder
from bookembed import wordindex
from bookembed.wordindex import build_word_index
from conftest import P15
from test_store import make_inputs

AWKWARD = ["Emma", "EMMA", "Émile", "Emile (book)", "Persuasion (novel)", "Persuasion (1995 film)", "Nana (novel)",
           "Nana", "The War of the Worlds", "Cancer Ward", "War and Peace", "Warlock", "Peace", "Crime & Punishment",
           "Crime and Punishment", "Moby-Dick", "Moby Dick; or, The Whale", "(novel)", "Dune (novel)", "Dune",
           "Dune Messiah", "Children of Dune", "Gödel, Escher, Bach", "Pride and Prejudice", "Prejudice",
           "War (novel)", "Warm Bodies", "A", "a (b) (c)", "x_y", "War  and   Peace", "Ward 6"]


def graph(titles) -> LinkGraph:
    n = len(titles)
    return LinkGraph(books=pd.DataFrame({"title": titles}), links=tuple(f"Link {t}" for t in titles[:50]),
                     link_counts=np.ones(min(n, 50), np.int64), pair_books=np.arange(n, dtype=np.int32),
                     pair_links=np.arange(n, dtype=np.int32) % min(n, 50))


def both(model, text, kind="book", limit=25):
    """``match_names`` by the loop and by the table (the threshold moved below the vocabulary)."""
    loop = match_names(model, text, kind, limit)
    old = names.TABLE_MIN_NAMES
    names.TABLE_MIN_NAMES = 0
    try:
        names._KEYS.pop(model, None)
        table = match_names(model, text, kind, limit)
    finally:
        names.TABLE_MIN_NAMES = old
        names._KEYS.pop(model, None)
    return loop, table


@pytest.fixture(scope="module")
def real():
    titles = [json.loads(line)[0] for line in P15.read_text(encoding="utf-8").splitlines() if line.strip()]
    return graph(sorted(set(titles)) + AWKWARD)


TYPED = ["war", "War and Peace", "war and peace", "emma", "EMMA", "emile", "persuasion", "persuasion (novel)", "nana",
         "dune", "du", "children dune", "crime & punishment", "crime and", "moby", "moby dick", "pride prejudice",
         "prejudice", "war and pease", "the", "of the", "godel", "gödel escher", "(novel)", "a", "ward", "warl",
         "x y", "x_y", "zzzzqqq", "novel", "the great", "anna karenina", "karenina", "1984", "ulysses"]


@pytest.mark.parametrize("limit", [1, 5, 25])
def test_the_table_gives_the_loops_answer_on_real_and_awkward_titles(real, limit):
    for typed in TYPED:
        loop, table = both(real, typed, limit=limit)
        assert table == loop, typed


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(typed=st.text(alphabet=st.sampled_from(list("waredunpcemo &()-_éÉ 12")), min_size=1, max_size=12))
def test_the_table_gives_the_loops_answer_for_any_typed_text(real, typed):
    loop, table = both(real, typed)
    assert table == loop


def test_links_are_matched_the_same_way(real):
    for typed in ["link war", "Link Emma", "link", "dune", "link ward 6"]:
        loop, table = both(real, typed, kind="link")
        assert table == loop, typed


def test_a_big_vocabulary_keeps_its_table_in_the_folder_and_resolves_from_it(tmp_path, monkeypatch):
    inputs = make_inputs(n_books=60, n_links=20)
    titles = [f"Book {i}" for i in range(59)] + ["War and Peace"]
    books = inputs.graph.books.assign(title=titles)
    inputs = type(inputs)(**{**inputs.__dict__, "graph": LinkGraph(
        books=books, links=inputs.graph.links, link_counts=inputs.graph.link_counts,
        pair_books=inputs.graph.pair_books, pair_links=inputs.graph.pair_links)})
    folder = save_model_folder(tmp_path / "m", inputs)
    monkeypatch.setattr(names, "TABLE_MIN_NAMES", 10)
    model = load_model_folder(folder)
    assert resolve(model, "war and peace") == 59
    assert {p.name for p in (folder / "names").iterdir()} == {"book.arrow", "book.json", "book-words.arrow",
                                                                "book-words.json"}
    built = name_table(model, "book")

    def refuse(_names):
        raise AssertionError("the table was computed again")

    monkeypatch.setattr(names, "_build_table", refuse)
    again = load_model_folder(folder)
    kept = name_table(again, "book")
    assert kept.keys.equals(built.keys) and kept.spaced.equals(built.spaced) and kept.names.equals(built.names)
    assert kept.words.words.equals(built.words.words) and kept.words.ids.equals(built.words.ids)
    assert resolve(again, "Book 7") == 7
    assert [again.titles[i] for i in match_names(again, "book 1", limit=3).ids] == ["Book 1", "Book 10", "Book 11"]


@pytest.mark.parametrize("limit", [1, 3, 10])
def test_names_tied_in_the_fuzzy_tier_are_taken_as_the_loop_takes_them(limit):
    tied = graph([f"Abcd {i}" for i in range(30)] + ["Zebra", "Abcd"])
    for typed in ["abce 5", "abxd 7", "abcd 99", "bcd"]:
        loop, table = both(tied, typed, limit=limit)
        assert table == loop, typed


@settings(max_examples=80, deadline=None)
@given(keys=st.lists(st.lists(st.sampled_from(["a", "ab", "abc", "b", "ba", "war", "ward", "1", "12", "é"]),
                              max_size=4).map(" ".join), max_size=30),
       typed=st.sampled_from(["a", "ab", "b", "w", "war", "ward", "1", "12", "é", "z", "abcd"]))
def test_the_word_index_finds_exactly_the_names_with_a_word_starting_with_the_typed_one(keys, typed):
    import pyarrow as pa

    index = build_word_index(pa.array(keys, pa.large_string()))
    want = [i for i, key in enumerate(keys) if any(w.startswith(typed) for w in key.split())]
    for share in (1 << 40, 0):  # made distinct through a mask, then by a sort
        wordindex.MASK_SHARE = share
        try:
            assert index.names_with(typed).tolist() == want
        finally:
            wordindex.MASK_SHARE = 64
    assert index.count(typed) == sum(w.startswith(typed) for key in keys for w in key.split())
    assert index.words.to_pylist() == sorted({w for key in keys for w in key.split()})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ids=st.lists(st.integers(0, 59), max_size=8), probe=st.sampled_from(["T 7", "t 7", "missing", "T 59", ""]))
def test_titles_and_ids_looked_up_in_a_big_table_are_those_of_the_lists(monkeypatch, ids, probe):
    """Above ``LIST_TITLES_UP_TO`` books, ``titles_of`` and ``book_id`` read the books table instead of
    building a list and a dict of every title: the same answers, and neither is built."""
    books = pd.DataFrame({"title": pd.array([f"T {i}" for i in range(60)], dtype="str")})  # titles are unique
    small = LinkGraph(books, ("a",), np.ones(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int32))
    big = LinkGraph(books, ("a",), np.ones(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int32))
    monkeypatch.setattr(graph_module, "LIST_TITLES_UP_TO", 10)  # the same on every example
    assert big.titles_of(ids) == [small.titles[i] for i in ids]
    assert big.book_id(probe) == small.title_index.get(probe)
    assert "titles" not in big.__dict__ and "title_index" not in big.__dict__


def test_above_the_fill_size_a_name_found_plainly_skips_the_fuzzy_scans_and_a_typo_still_finds_its_name(
        real, monkeypatch):
    """The answer is the loop's; the list is the loop's names of tiers 0-4 alone, or all of it for a typo."""
    for typed in ["War and Peace", "dune", "children dune", "war and pease", "anna karenina", "zzzzqqq"]:
        loop, table_full = both(real, typed)
        monkeypatch.setattr(names, "FUZZY_FILL_MAX_NAMES", 10)
        scans = []
        real_scan = names._fuzzy_column
        monkeypatch.setattr(names, "_fuzzy_column", lambda *a: scans.append(a) or real_scan(*a))
        _, table = both(real, typed)
        monkeypatch.undo()
        assert table_full == loop, typed
        assert (table.clear, table.ambiguous) == (loop.clear, loop.ambiguous), typed
        plain = [i for i, t in zip(loop.ids, loop.tiers) if t < names.FUZZY]
        if plain:  # tiers 0-4 found names: they alone are listed, in the loop's order, and nothing was scanned
            assert table.ids == tuple(plain) and not scans, typed
        else:  # a typo: the fuzzy names, as the loop ranks them (the loose tier is the loop's only beyond those)
            assert len(scans) == 1, typed
            fuzzy = [i for i, t in zip(loop.ids, loop.tiers) if t == names.FUZZY]
            assert table.ids[:len(fuzzy)] == tuple(fuzzy), typed
    assert match_names(real, "war and pease").ids[0] == real.titles.index("War and Peace")  # the typo's name first
