"""Quality metrics: held-out ROC-AUC (checked against scikit-learn), link ranking (MRR, Hits@k, against a
brute-force count), purity@k of any column with chance, and the table beside the baselines."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from bookembed.evaluate import (baseline_table, column_purities, evaluate, genre_purity, heldout_auc, link_ranking,
                                roc_auc, summary)
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
    assert set(result) == {"auc", "heldout_pairs", "genre_purity", "ranking", "purity"}
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


# ---------------------------------------------------------------- ranking of held-out links


def brute_force_ranks(book_vectors, link_vectors, pair_books, pair_links, heldout):
    """Rank of each held-out link among the links its book lacks, one score at a time."""
    ub = book_vectors / np.linalg.norm(book_vectors, axis=1, keepdims=True)
    ul = link_vectors / np.linalg.norm(link_vectors, axis=1, keepdims=True)
    true = set(zip(pair_books.tolist(), pair_links.tolist()))
    ranks = []
    for i in np.flatnonzero(heldout):
        b, l = int(pair_books[i]), int(pair_links[i])
        own = float(np.float32(ub[b] @ ul[l]))
        rivals = [j for j in range(len(ul)) if (b, j) not in true]
        ranks.append(1 + sum(float(np.float32(ub[b] @ ul[j])) >= own for j in rivals))
    return np.array(ranks, dtype=float)


def random_graph(seed, n_books=30, n_links=40, density=0.2, dim=4):
    rng = np.random.default_rng(seed)
    grid = rng.random((n_books, n_links)) < density
    pb, pl = np.nonzero(grid)
    heldout = rng.random(len(pb)) < 0.3
    return rng.normal(size=(n_books, dim)), rng.normal(size=(n_links, dim)), pb, pl, heldout


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [1, 3, 10])
def test_link_ranking_matches_brute_force(seed, k):
    bv, lv, pb, pl, heldout = random_graph(seed)
    ranks = brute_force_ranks(bv, lv, pb, pl, heldout)
    result = link_ranking(bv, lv, pb, pl, heldout, k=k, block=7)  # blocks cut through books' pairs
    assert result["mrr"] == pytest.approx((1 / ranks).mean(), rel=1e-6)
    assert result["hits"] == pytest.approx((ranks <= k).mean(), abs=1e-12)
    assert result["pairs"] == result["scored"] == int(heldout.sum())
    assert result["mrr_stderr"] == result["hits_stderr"] == 0.0


def test_link_ranking_skips_the_books_other_true_links():
    # book 0 links to 0..4; every link scores above the held-out link 4 except link 5
    book = np.array([[1.0, 0.0]])
    links = np.array([[1.0, 0.0]] * 4 + [[0.5, 0.5], [0.0, 1.0]])
    pb = np.zeros(5, np.int32)
    pl = np.arange(5, dtype=np.int32)
    heldout = np.array([False, False, True, False, True])
    result = link_ranking(book, links, pb, pl, heldout, k=1)
    # links 0-3 are true links of the book (training or held out): skipped; only link 5 competes, and loses
    assert result["mrr"] == 1.0 and result["hits"] == 1.0
    assert result["candidates"] == 1.0


def test_link_ranking_counts_ties_against_the_model():
    pb, pl = np.array([0, 0, 1, 1]), np.array([0, 1, 2, 3])
    heldout = np.array([True, False, True, False])
    same = np.ones((2, 3))
    result = link_ranking(same, np.ones((30, 3)), pb, pl, heldout, k=10)
    # 28 candidates all tie with the held-out link: it ranks last, not first
    assert result["mrr"] == pytest.approx(1 / 29) and result["hits"] == 0.0


def test_link_ranking_perfect_vectors():
    bv, lv, pb, pl = identity_pairs(15)
    heldout = np.zeros(15, bool)
    heldout[::2] = True
    result = link_ranking(bv, lv, pb, pl, heldout)
    assert result["mrr"] == 1.0 and result["hits"] == 1.0


def test_link_ranking_without_heldout_pairs():
    bv, lv, pb, pl = identity_pairs(5)
    result = link_ranking(bv, lv, pb, pl, np.zeros(5, bool))
    assert result["mrr"] is None and result["hits"] is None and result["scored"] == 0


def test_link_ranking_samples_above_the_limit_and_reports_the_error():
    bv, lv, pb, pl, heldout = random_graph(9, n_books=120, n_links=80, density=0.3, dim=3)
    exact = link_ranking(bv, lv, pb, pl, heldout)
    sampled = link_ranking(bv, lv, pb, pl, heldout, max_exact=100, n_sample=300, seed=4)
    assert exact["pairs"] == sampled["pairs"] > 300 and sampled["scored"] == 300
    assert sampled["mrr_stderr"] > 0 and sampled["hits_stderr"] > 0
    assert abs(sampled["hits"] - exact["hits"]) < 4 * sampled["hits_stderr"]
    assert abs(sampled["mrr"] - exact["mrr"]) < 4 * sampled["mrr_stderr"]
    assert link_ranking(bv, lv, pb, pl, heldout, max_exact=100, n_sample=300, seed=4) == sampled, "seeded"


# ---------------------------------------------------------------- purity per column, the side-by-side table


def test_column_purities_for_every_metadata_column():
    rng = np.random.default_rng(5)
    centres = np.repeat(np.eye(3) * 5, 10, axis=0)
    vectors = centres + rng.normal(0, 0.01, centres.shape)
    books = pd.DataFrame({"title": [str(i) for i in range(30)],
                          "primary_genre": ["a"] * 10 + ["b"] * 10 + ["c"] * 10,  # follows the clusters
                          "author": ["x", "y"] * 15})  # crosses them; no country column
    result = column_purities(vectors, books, k=5)
    assert set(result) == {"genre", "author"}
    assert result["genre"]["purity"] == 1.0
    assert result["author"]["purity"] < 0.75
    assert result["genre"] == genre_purity(vectors, books["primary_genre"].tolist(), k=5)


def scored(auc, hits, purity):
    return {"auc": auc, "ranking": {"mrr": hits / 2, "hits": hits},
            "purity": {"genre": {"purity": purity, "chance": 0.1}, "author": {"purity": purity / 2, "chance": 0.01}}}


def test_baseline_table_puts_the_model_beside_each_baseline():
    metrics = {**scored(0.9, 0.5, 0.6), "train_seconds": 2.0,
               "baselines": {"svd": {**scored(0.8, 0.4, 0.5), "seconds": 0.1},
                             "als": {**scored(0.85, 0.45, 0.55), "seconds": 0.3}}}
    table = baseline_table(metrics)
    assert table["method"].tolist() == ["bookembed (this model)", "truncated SVD, binary", "implicit ALS",
                                        "chance (random neighbours)"]
    assert table["Hits@10"].tolist()[:3] == [0.5, 0.4, 0.45]
    assert table["genre purity@10"].tolist() == [0.6, 0.5, 0.55, 0.1]
    assert table["author purity@10"].tolist() == [0.3, 0.25, 0.275, 0.01]
    assert table["country purity@10"].isna().all()  # never measured: empty, not zero
    assert table["seconds"].tolist()[:3] == [2.0, 0.1, 0.3]


def test_baseline_table_none_for_a_folder_without_baselines():
    assert baseline_table({"auc": 0.9}) is None


def test_summary_reports_hits_and_mrr():
    metrics = {"auc": 0.9, "heldout_pairs": 40,
               "ranking": {"mrr": 0.25, "hits": 0.5, "k": 10, "pairs": 40, "scored": 40, "candidates": 700.0,
                           "mrr_stderr": 0.0, "hits_stderr": 0.0}}
    lines = {line.label: line for line in summary(metrics)}
    assert lines["Hits@10"].value == "0.500" and "MRR 0.250" in lines["Hits@10"].detail
    sampled = {**metrics, "ranking": {**metrics["ranking"], "pairs": 9000, "scored": 5000, "hits_stderr": 0.007}}
    line = {line.label: line for line in summary(sampled)}["Hits@10"]
    assert line.value == "0.500 ± 0.007" and "5,000 sampled of 9,000" in line.detail


@pytest.mark.parametrize("exact, table_exact", [(50_000, 10_000), (30, 20), (100, 20)])
def test_training_metrics_report_genre_purity_with_its_defaults_while_sharing_the_search(
        monkeypatch, exact, table_exact):
    """``pipeline.metrics_for`` shares one search between the headline and the table, and reports the same figures."""
    from bookembed import evaluate as ev
    from bookembed import pipeline
    from bookembed.graph import LinkGraph

    monkeypatch.setattr(ev, "EXACT_PURITY_BOOKS", exact)
    monkeypatch.setattr(ev, "TABLE_EXACT_PURITY_BOOKS", table_exact)
    monkeypatch.setattr(ev, "SAMPLED_QUERIES", 25)
    rng = np.random.default_rng(3)
    n = 60
    genres = [f"g{i % 4}" for i in range(n)]
    vectors = rng.normal(size=(n, 8)).astype(np.float32) + np.eye(8, dtype=np.float32)[np.arange(n) % 4] * 2
    pb = np.repeat(np.arange(n, dtype=np.int32), 2)
    pl = (np.arange(2 * n, dtype=np.int32) % 9)
    corpus = LinkGraph(books=pd.DataFrame({"title": [f"b{i}" for i in range(n)], "primary_genre": genres}),
                    links=tuple(f"l{j}" for j in range(9)), link_counts=np.bincount(pl, minlength=9),
                    pair_books=pb, pair_links=pl)
    result = SimpleNamespace(book_vectors=vectors, link_vectors=rng.normal(size=(9, 8)).astype(np.float32),
                             heldout=np.zeros(len(pb), bool), history=[], seconds=1.0, examples_per_s=1.0)
    metrics = pipeline.metrics_for(corpus, result, seed=5, baselines=False)
    got = metrics["genre_purity"]
    assert got == genre_purity(vectors, genres, seed=5, max_exact=exact, n_queries=25)
    assert got["queries"] == (n if n <= exact else 25)
    assert metrics["purity"]["genre"] == genre_purity(vectors, genres, seed=5, max_exact=table_exact, n_queries=25)


def test_a_shared_neighbour_memo_searches_once_per_set_of_books_and_changes_no_figure(monkeypatch):
    """Columns known for the same books share one search; an exact search answers a sampled one exactly."""
    from bookembed import evaluate as ev

    rng = np.random.default_rng(11)
    n = 300
    vectors = rng.normal(size=(n, 6)).astype(np.float32)
    genre = [f"g{i % 5}" for i in range(n)]
    author = [f"a{i % 37}" for i in range(n)]
    country = [f"c{i % 3}" if i % 4 else "" for i in range(n)]  # known for fewer books: its own search
    plain = [genre_purity(vectors, col, seed=2, max_exact=exact, n_queries=40)
             for col, exact in [(genre, 10_000), (genre, 100), (author, 100), (country, 100)]]
    calls = []
    real = ev.top_k_rows
    monkeypatch.setattr(ev, "top_k_rows", lambda *a, **kw: calls.append(kw.get("queries")) or real(*a, **kw))
    memo: dict = {}
    shared = [genre_purity(vectors, col, seed=2, max_exact=exact, n_queries=40, neighbours=memo)
              for col, exact in [(genre, 10_000), (genre, 100), (author, 100), (country, 100)]]
    assert shared == plain
    # one exact search for the 300 books with a genre (it answers the sampled genre and author
    # figures too), one sampled search for the 225 with a country
    assert len(calls) == 2 and calls[0] is None and len(calls[1]) == 40


def test_a_memo_answers_the_same_sample_again_and_searches_anew_for_another(monkeypatch):
    """A sampled search is remembered under its own query books: the same seed is answered from the memo,
    another seed (another sample) gets a search of its own and its own figure."""
    from bookembed import evaluate as ev

    rng = np.random.default_rng(13)
    vectors = rng.normal(size=(200, 5)).astype(np.float32)
    genres = [f"g{i % 6}" for i in range(200)]
    plain = {seed: genre_purity(vectors, genres, 4, max_exact=50, n_queries=30, seed=seed) for seed in (0, 1)}
    assert plain[0] != plain[1]
    calls = []
    real = ev.top_k_rows
    monkeypatch.setattr(ev, "top_k_rows", lambda *a, **kw: calls.append(kw.get("queries")) or real(*a, **kw))
    memo: dict = {}
    for seed in (0, 0, 1, 1, 0):
        assert genre_purity(vectors, genres, 4, max_exact=50, n_queries=30, seed=seed, neighbours=memo) == plain[seed]
    assert len(calls) == 2 and not np.array_equal(calls[0], calls[1])


def test_evaluate_defaults_to_seed_0_and_passes_its_seed_and_one_search_on(fake_model, monkeypatch):
    """``evaluate``'s seed is 0 unless given; it seeds the AUC's non-pairs and a sampled headline purity,
    and the headline and the table share one search for each set of books with a value."""
    from bookembed import evaluate as ev

    model = load_model_folder(fake_model)
    assert evaluate(model) == evaluate(model, seed=0)
    assert evaluate(model, seed=0)["auc"] != evaluate(model, seed=1)["auc"]
    # the genre is known for 3 books in 4; author and country for all of them: two sets of books
    calls = []
    real = ev.top_k_rows
    monkeypatch.setattr(ev, "top_k_rows", lambda *a, **kw: calls.append(kw.get("queries")) or real(*a, **kw))
    result = evaluate(model, seed=4)
    assert set(result["purity"]) == {"genre", "author", "country"}
    assert len(calls) == 2 and all(q is None for q in calls)
    # above EXACT_PURITY_BOOKS (read when called) the headline is sampled with evaluate's seed
    monkeypatch.setattr(ev, "EXACT_PURITY_BOOKS", 20)
    monkeypatch.setattr(ev, "SAMPLED_QUERIES", 12)
    genres = model.books["primary_genre"].tolist()
    headline = evaluate(model, seed=4)["genre_purity"]
    assert headline["queries"] == 12 and headline["books"] == 45
    assert headline == genre_purity(model.book_vectors, genres, seed=4)
    assert headline != genre_purity(model.book_vectors, genres, seed=0)


def test_sampled_measures_draw_fewer_queries_past_the_work_bound_and_report_the_wider_error(monkeypatch):
    from bookembed import evaluate

    assert evaluate.sample_size(5_000, 1_000) == 5_000
    assert evaluate.sample_size(5_000, evaluate.SAMPLE_WORK // 2_000) == 2_000
    assert evaluate.sample_size(5_000, 10**15) == evaluate.MIN_SAMPLED
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(400, 6)).astype(np.float32)
    genres = [f"g{i % 4}" for i in range(400)]
    wide = genre_purity(vectors, genres, k=5, max_exact=100)
    assert wide["queries"] == 400 and wide["stderr"] == 0.0  # 5,000 asked: every book, no sampling error
    monkeypatch.setattr(evaluate, "SAMPLE_WORK", 400 * 50)
    monkeypatch.setattr(evaluate, "MIN_SAMPLED", 20)
    narrow = genre_purity(vectors, genres, k=5, max_exact=100)
    assert narrow["queries"] == 50 and narrow["stderr"] > 0
    monkeypatch.setattr(evaluate, "SAMPLE_WORK", 10)
    assert genre_purity(vectors, genres, k=5, max_exact=100)["queries"] == 20  # the floor
    # link ranking: its sample is sized against the links
    links = rng.normal(size=(50, 6)).astype(np.float32)
    pb = np.repeat(np.arange(400), 2).astype(np.int32)
    pl = rng.integers(0, 50, size=800).astype(np.int32)
    keys = np.unique(pb.astype(np.int64) * 50 + pl)
    pb, pl = (keys // 50).astype(np.int32), (keys % 50).astype(np.int32)
    heldout = np.zeros(len(pb), bool)
    heldout[::2] = True
    monkeypatch.setattr(evaluate, "SAMPLE_WORK", 50 * 30)
    ranked = evaluate.link_ranking(vectors, links, pb, pl, heldout, max_exact=10)
    assert ranked["scored"] == 30 and ranked["hits_stderr"] > 0
