"""The links that explain a neighbour: rarest first, the common ones counted apart, on tiny hand-written books."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bookembed import neighbors as nb
from bookembed.graph import LinkGraph
from bookembed.store import SaveInputs, load_model_folder, save_model_folder

N_BOOKS = 40
# link -> the books that link to it. Ids follow this order: "novel" (which every book has) is link 0, so a ranking
# by id, or by how common a link is, would put it first.
LINKS = {
    "novel": range(N_BOOKS),
    "realism": range(25),  # 62% of the books and 25 of them: common
    "paris": [0, 1, *range(30, 40)],  # 30% of the books, but only 12 of them: not common in so small a corpus
    "russia": range(10),
    "tolstoy": [0, 1],
    "whaling": [2, 3],
    "napoleon": [0, 4, 5],  # War and Peace's, not Anna Karenina's
}
TITLES = ["War and Peace", "Anna Karenina"] + [f"Book {i}" for i in range(2, N_BOOKS)]


def pairs():
    found = sorted((b, j) for j, books in enumerate(LINKS.values()) for b in books)
    return np.array([b for b, _ in found], np.int32), np.array([j for _, j in found], np.int32)


@pytest.fixture
def model(tmp_path):
    pb, pl = pairs()
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(N_BOOKS, 5)).astype(np.float32)
    vectors[1] = vectors[0] + 0.01  # Anna Karenina is War and Peace's nearest book
    books = pd.DataFrame({"title": TITLES, "n_links": np.bincount(pb, minlength=N_BOOKS)})
    graph = LinkGraph(books=books, links=tuple(LINKS), link_counts=np.bincount(pl, minlength=len(LINKS)),
                      pair_books=pb, pair_links=pl)
    save_model_folder(tmp_path / "m", SaveInputs(graph=graph, heldout=np.zeros(len(pb), bool), book_vectors=vectors,
                                                 link_vectors=rng.normal(size=(len(LINKS), 5)).astype(np.float32),
                                                 config={"seed": 0}, data={}))
    return load_model_folder(tmp_path / "m")


def test_informativeness_is_the_inverse_book_frequency(model):
    weight = nb.link_informativeness(model)
    for j, books in enumerate(LINKS.values()):
        assert weight[j] == pytest.approx(math.log(N_BOOKS / len(set(books))))
    assert weight[0] == 0  # a link every book has says nothing


def test_the_rarest_shared_link_comes_first_and_one_every_book_has_last(model):
    frame = nb.similar_books(model, "War and Peace", k=3)
    assert frame["title"].iloc[0] == "Anna Karenina"
    shared = frame["shared_links"].iloc[0]
    assert set(shared) == {"novel", "realism", "paris", "russia", "tolstoy"}  # not napoleon: only War and Peace's
    assert shared[0] == "tolstoy" and shared[-1] == "novel"
    assert shared == sorted(shared, key=lambda name: len(set(LINKS[name])))


def test_ties_keep_link_order():
    links = ("b", "a", "c")
    pb = np.array([0, 0, 0, 1, 1, 1, 2], np.int32)
    pl = np.array([0, 1, 2, 0, 1, 2, 2], np.int32)
    graph = LinkGraph(books=pd.DataFrame({"title": ["x", "y", "z"]}), links=links,
                      link_counts=np.bincount(pl, minlength=3), pair_books=pb, pair_links=pl)
    ranked = nb.ranked_shared_links(graph, graph.book_links(0), 1)
    assert [links[j] for j in ranked] == ["b", "a", "c"]  # b and a tie (2 books each): link order; c (3) last


def test_common_links_are_counted_apart(model):
    common = nb.common_links(model)
    assert [name for name, flag in zip(model.links, common) if flag] == ["novel", "realism"]
    shared = nb.similar_books(model, "War and Peace", k=1)["shared_links"].iloc[0]
    informative, generic = nb.split_common(model, shared)
    assert informative == ["tolstoy", "russia", "paris"]
    assert generic == ["novel", "realism"]  # the most common first
    text = nb.describe_shared(informative, generic)
    assert text.startswith("tolstoy, russia, paris") and text.endswith("+ 2 common links such as novel")


def test_what_counts_as_common_follows_its_two_thresholds(model, monkeypatch):
    monkeypatch.setattr(nb, "COMMON_MIN_BOOKS", 5)  # now a share of 10% (4 books) is not enough: 5 books are
    flags = dict(zip(model.links, nb.common_links(model)))
    assert flags == {name: len(set(books)) >= 5 for name, books in LINKS.items()}
    monkeypatch.setattr(nb, "COMMON_SHARE", 0.5)  # half the books: 20
    flags = dict(zip(model.links, nb.common_links(model)))
    assert flags == {name: len(set(books)) >= 20 for name, books in LINKS.items()}


def test_describe_shared():
    assert nb.describe_shared([], []) == "—"
    assert nb.describe_shared([], ["novel"]) == "+ 1 common link such as novel"
    many = [f"l{i}" for i in range(9)]
    assert nb.describe_shared(many, [], shown=3) == "l0, l1, l2 …"
    assert nb.describe_shared(many[:3], [], shown=3) == "l0, l1, l2"
