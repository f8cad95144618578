"""Several query books: each keeps a voice (one column each), and "close to all" is not their average."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bookembed.errors import BookembedError
from bookembed.graph import LinkGraph
from bookembed.neighbors import COMBINES, RRF_K, similar_books
from bookembed.store import SaveInputs, load_model_folder, save_model_folder


def save(path, titles, vectors, genres=None):
    n, dim = np.shape(vectors)
    pb = np.repeat(np.arange(n, dtype=np.int32), 2)
    pl = np.tile(np.array([0, 1], np.int32), n)
    books = pd.DataFrame({"title": titles, "n_links": np.full(n, 2)})
    if genres is not None:
        books["primary_genre"] = genres
    graph = LinkGraph(books=books, links=("a", "b"), link_counts=np.array([n, n]), pair_books=pb, pair_links=pl)
    save_model_folder(path, SaveInputs(graph=graph, heldout=np.zeros(len(pb), bool),
                                       book_vectors=np.asarray(vectors, np.float32),
                                       link_vectors=np.eye(2, dim, dtype=np.float32), config={"seed": 0}, data={}))
    return load_model_folder(path)


@pytest.fixture
def planted(tmp_path):
    """Three query books on three axes; "Two of three" is close to the first two only, "All three" a little
    close to each; filler books point elsewhere."""
    rng = np.random.default_rng(0)
    vectors = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0],
               [1, 1, 0, 0],  # cosines .71, .71, 0: average .47
               [0.3, 0.3, 0.3, 0.85]]  # cosines about .30 each: average .30, lowest .30
    vectors += [np.r_[rng.normal(scale=0.1, size=3), 1.0] for _ in range(10)]
    titles = ["War and Peace", "Crime and Punishment", "Dune", "Two of three", "All three"]
    return save(tmp_path / "planted", titles + [f"Filler {i}" for i in range(10)], vectors)


def unit(x):
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


QUERY = ["War and Peace", "Crime and Punishment", "Dune"]


def test_close_to_all_ranks_a_book_close_to_only_some_below_one_close_to_all(planted):
    mean = similar_books(planted, QUERY, k=3)["title"].tolist()
    assert mean.index("Two of three") < mean.index("All three")  # the average is pulled by two of the three
    close = similar_books(planted, QUERY, k=3, combine="min")["title"].tolist()
    assert close[0] == "All three" and close.index("All three") < close.index("Two of three")


def test_each_query_book_has_a_column_of_exact_cosines(planted):
    for combine in COMBINES:
        frame = similar_books(planted, QUERY, k=12, combine=combine)
        assert list(frame.columns[:6]) == ["rank", "title", "similarity", "similarity_1", "similarity_2",
                                           "similarity_3"]
        expected = unit(planted.book_vectors[frame["id"]]) @ unit(planted.book_vectors[[0, 1, 2]]).T
        np.testing.assert_allclose(frame[["similarity_1", "similarity_2", "similarity_3"]], expected, atol=1e-5)
        if combine == "min":
            np.testing.assert_allclose(frame["similarity"], expected.min(axis=1), atol=1e-5)


def brute_scores(unit_vectors, ids, combine, candidates):
    sims = unit_vectors[candidates] @ unit_vectors[ids].T
    if combine == "min":
        return sims.min(axis=1)
    total = np.zeros(len(candidates))
    for j in range(len(ids)):
        order = sorted(range(len(candidates)), key=lambda r: (-sims[r, j], candidates[r]))
        for rank, r in enumerate(order, start=1):
            total[r] += 1 / (RRF_K + rank)
    return total


@pytest.mark.parametrize("combine", ["min", "rrf"])
@pytest.mark.parametrize("least", [False, True])
def test_min_and_rrf_are_exact_full_sorts(tmp_path, combine, least):
    rng = np.random.default_rng(5)
    n = 120
    genres = ["crime" if i % 3 else "poetry" for i in range(n)]
    model = save(tmp_path / "m", [f"Book {i}" for i in range(n)], rng.normal(size=(n, 6)), genres)
    ids = [4, 50, 77]
    u = unit(model.book_vectors)
    for genre in (None, "crime"):
        candidates = [i for i in range(n) if i not in ids and (genre is None or genres[i] == genre)]
        scores = brute_scores(u, ids, combine, np.array(candidates))
        order = sorted(range(len(candidates)), key=lambda r: ((scores[r] if least else -scores[r]), candidates[r]))
        frame = similar_books(model, [f"Book {i}" for i in ids], 25, combine=combine, least=least, genre=genre)
        assert frame["id"].tolist() == [candidates[r] for r in order[:25]]
        np.testing.assert_allclose(frame["similarity"], scores[order[:25]], atol=1e-5)


def test_one_book_is_the_same_search_whatever_the_combination(planted):
    plain = similar_books(planted, "Dune", k=5)
    for combine in COMBINES:
        pd.testing.assert_frame_equal(similar_books(planted, ["Dune"], k=5, combine=combine), plain)
    # a book named twice is one query book
    pd.testing.assert_frame_equal(similar_books(planted, ["Dune", "dune"], k=5, combine="min"), plain)


def test_an_unknown_combination_is_one_line_naming_it(planted):
    with pytest.raises(BookembedError, match="combine must be one of mean, min, rrf; got 'max'"):
        similar_books(planted, QUERY, combine="max")
