"""Quality metrics: held-out ROC-AUC (checked against scikit-learn) and genre purity@k with chance."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from bookembed.evaluate import evaluate, genre_purity, heldout_auc, roc_auc
from bookembed.sampling import NonPairSampler


def sample_non_pairs(n, pair_books, pair_links, n_books, n_links, rng):
    return NonPairSampler(pair_books, pair_links, n_books, n_links).draw(n, rng)
from bookembed.store import load_model_folder


def sklearn_auc(pos, neg):
    return roc_auc_score(np.r_[np.ones(len(pos)), np.zeros(len(neg))], np.r_[pos, neg])


@pytest.mark.parametrize("seed", range(6))
def test_roc_auc_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    n_pos, n_neg = rng.integers(1, 60, 2)
    # few distinct values: many ties, within and across the classes
    pos = rng.integers(0, 6, n_pos).astype(float) + (seed % 2)
    neg = rng.integers(0, 6, n_neg).astype(float)
    assert roc_auc(pos, neg) == pytest.approx(sklearn_auc(pos, neg), abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_roc_auc_matches_sklearn_on_continuous_scores(seed):
    rng = np.random.default_rng(100 + seed)
    pos = rng.normal(0.3, 1, 500).astype(np.float32)
    neg = rng.normal(0.0, 1, 300).astype(np.float32)
    assert roc_auc(pos, neg) == pytest.approx(sklearn_auc(pos, neg), abs=1e-12)


def test_roc_auc_extremes():
    assert roc_auc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0
    assert roc_auc(np.array([0.0, 1.0]), np.array([2.0, 3.0])) == 0.0
    assert roc_auc(np.full(5, 0.3), np.full(7, 0.3)) == 0.5


# ---------------------------------------------------------------- negatives


@pytest.mark.parametrize("density", [0.1, 0.5, 0.9])
def test_sample_non_pairs_never_hits_a_true_pair(density):
    rng = np.random.default_rng(int(density * 10))
    n_books, n_links = 30, 20
    grid = rng.random((n_books, n_links)) < density
    pb, pl = np.nonzero(grid)
    books, links = sample_non_pairs(2000, pb.astype(np.int32), pl.astype(np.int32), n_books, n_links,
                                    np.random.default_rng(0))
    assert books.shape == links.shape == (2000,)
    assert books.min() >= 0 and books.max() < n_books and links.min() >= 0 and links.max() < n_links
    assert not grid[books, links].any()
    # they are spread over the non-pairs, not stuck on a few
    assert len(set(zip(books.tolist(), links.tolist()))) > min(200, int((~grid).sum()) // 2)


def test_sample_non_pairs_is_seeded():
    pb, pl = np.array([0, 1, 2], np.int32), np.array([0, 1, 2], np.int32)
    a = sample_non_pairs(50, pb, pl, 5, 5, np.random.default_rng(4))
    b = sample_non_pairs(50, pb, pl, 5, 5, np.random.default_rng(4))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


# ---------------------------------------------------------------- held-out AUC


def identity_pairs(n):
    """Book i links only to link i; vectors make true pairs cosine 1 and the rest 0."""
    ids = np.arange(n, dtype=np.int32)
    return np.eye(n, dtype=np.float32), np.eye(n, dtype=np.float32), ids, ids.copy()


def test_heldout_auc_is_one_when_pairs_are_perfectly_separated():
    bv, lv, pb, pl = identity_pairs(20)
    heldout = np.zeros(20, bool)
    heldout[::3] = True
    assert heldout_auc(bv, lv, pb, pl, heldout) == 1.0
    assert heldout_auc(bv, -lv, pb, pl, heldout) == 0.0


def test_heldout_auc_none_without_heldout_pairs():
    bv, lv, pb, pl = identity_pairs(5)
    assert heldout_auc(bv, lv, pb, pl, np.zeros(5, bool)) is None


def test_heldout_auc_of_random_vectors_is_near_chance():
    rng = np.random.default_rng(0)
    pb, pl = np.divmod(rng.choice(300 * 200, 4000, replace=False), 200)
    heldout = rng.random(4000) < 0.5
    auc = heldout_auc(rng.normal(size=(300, 16)), rng.normal(size=(200, 16)), pb, pl, heldout)
    assert 0.4 < auc < 0.6


# ---------------------------------------------------------------- genre purity


def test_two_tight_genre_clusters_give_purity_one():
    rng = np.random.default_rng(0)
    a = np.array([1.0, 0, 0]) + rng.normal(0, 0.01, (15, 3))
    b = np.array([0, 1.0, 0]) + rng.normal(0, 0.01, (15, 3))
    result = genre_purity(np.vstack([a, b]), ["fantasy"] * 15 + ["crime fiction"] * 15, k=10)
    assert result["purity"] == 1.0
    assert result["chance"] == pytest.approx(2 * 15 * 14 / (30 * 29))
    assert result["k"] == 10 and result["books"] == 30


def test_mixed_clusters_give_purity_at_chance():
    # each cluster holds both genres half and half: neighbours are an even mix
    rng = np.random.default_rng(1)
    centres = np.repeat(np.eye(4) * 10, 12, axis=0)
    vectors = centres + rng.normal(0, 0.01, centres.shape)
    genres = ["a", "b"] * 24
    result = genre_purity(vectors, genres, k=5)
    assert result["purity"] < 0.75
    assert result["chance"] == pytest.approx(2 * 24 * 23 / (48 * 47))


def test_purity_counts_only_books_with_a_genre():
    rng = np.random.default_rng(2)
    tight = np.array([1.0, 0]) + rng.normal(0, 0.01, (12, 2))
    other = np.array([0, 1.0]) + rng.normal(0, 0.01, (12, 2))
    # unknown-genre books sit right on top of the fantasy cluster: they must not count
    unknown = np.array([1.0, 0]) + rng.normal(0, 0.001, (30, 2))
    genres = ["fantasy"] * 12 + ["horror"] * 12 + [""] * 30
    result = genre_purity(np.vstack([tight, other, unknown]), genres, k=5)
    assert result["books"] == 24 and result["purity"] == 1.0


def test_purity_blocks_agree():
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(70, 5))
    genres = rng.choice(["a", "b", "c"], 70).tolist()
    whole = genre_purity(vectors, genres, k=4)
    blocked = genre_purity(vectors, genres, k=4, block=8)
    assert whole == blocked


def test_purity_with_too_few_books():
    result = genre_purity(np.eye(5), ["a", "b", "a", "b", ""], k=10)
    assert result["purity"] is None and result["chance"] is None and result["books"] == 4


def test_purity_treats_missing_genres_as_unknown():
    result = genre_purity(np.eye(3), [None, float("nan"), pd.NA], k=1)
    assert result["books"] == 0 and result["purity"] is None


# ---------------------------------------------------------------- evaluate a folder


def test_evaluate_a_model_folder(fake_model):
    model = load_model_folder(fake_model)
    result = evaluate(model)
    assert set(result) == {"auc", "heldout_pairs", "genre_purity"}
    assert result["heldout_pairs"] == int(model.heldout.sum()) > 0
    assert 0.0 <= result["auc"] <= 1.0
    purity = result["genre_purity"]
    assert purity["books"] == int((model.books["primary_genre"] != "").sum())
    assert 0.0 <= purity["purity"] <= 1.0
    assert evaluate(model) == result, "seeded: the same figures twice"


def test_evaluate_without_a_genre_column():
    bv, lv, pb, pl = identity_pairs(12)
    heldout = np.zeros(12, bool)
    heldout[:4] = True
    arrays = SimpleNamespace(book_vectors=bv, link_vectors=lv, pair_books=pb, pair_links=pl, heldout=heldout,
                             books=pd.DataFrame({"title": [str(i) for i in range(12)]}))
    result = evaluate(arrays)
    assert result["auc"] == 1.0 and result["heldout_pairs"] == 4
    assert result["genre_purity"]["purity"] is None


def test_trained_tiny_model_has_high_purity(tiny_trained_model):
    model = load_model_folder(tiny_trained_model)
    genres = model.books["author"].tolist()  # three clusters by author, 4 books each
    result = genre_purity(model.book_vectors, genres, k=3)
    assert result["purity"] > result["chance"] + 0.3


def test_sample_non_pairs_with_no_true_pairs():

    empty = np.array([], dtype=np.int32)
    b, l = sample_non_pairs(50, empty, empty, 5, 7, np.random.default_rng(0))
    assert len(b) == len(l) == 50 and b.max() < 5 and l.max() < 7
