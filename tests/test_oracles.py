"""Every reported metric against an independent, brute-force computation on random data.

The oracles here share no code with ``bookembed.evaluate``: purity loops over
books in float64 and sorts every other book fully, chance counts pairs, AUC
compares every positive with every negative. Hypothesis explores sizes, k,
genre counts and ties; the data itself comes from a seeded generator, so a
failure names a reproducible case.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bookembed import evaluate as ev
from bookembed.evaluate import genre_purity, heldout_auc, roc_auc
from bookembed.sampling import NonPairSampler

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------- the oracles


def oracle_neighbours(vectors: np.ndarray, i: int, candidates: list[int], k: int) -> list[int]:
    """The ``k`` books most cosine-similar to book ``i`` among ``candidates`` (never ``i``), ties by id."""
    v = np.asarray(vectors, dtype=np.float64)
    q = v[i] / np.linalg.norm(v[i])
    scored = []
    for j in candidates:
        if j == i:
            continue
        norm = np.linalg.norm(v[j])
        scored.append((-(v[j] @ q) / norm if norm > 0 else 0.0, j))
    scored.sort()
    return [j for _, j in scored[:k]]


def oracle_purity(vectors, genres, k):
    """Mean over books with a genre of the share of their k nearest genre-bearing books with the same genre."""
    known = [i for i, g in enumerate(genres) if isinstance(g, str) and g]
    if len(known) <= k:
        return None
    shares = []
    for i in known:
        near = oracle_neighbours(vectors, i, known, k)
        shares.append(sum(genres[j] == genres[i] for j in near) / k)
    return sum(shares) / len(shares)


def oracle_per_book_purity(vectors, genres, k) -> dict[int, float]:
    known = [i for i, g in enumerate(genres) if isinstance(g, str) and g]
    return {i: sum(genres[j] == genres[i] for j in oracle_neighbours(vectors, i, known, k)) / k for i in known}


def oracle_chance(genres):
    """Share of ordered pairs of distinct genre-bearing books that share a genre."""
    known = [g for g in genres if isinstance(g, str) and g]
    pairs = list(itertools.permutations(range(len(known)), 2))
    return sum(known[a] == known[b] for a, b in pairs) / len(pairs)


def oracle_auc(positive, negative):
    """Every positive against every negative: 1 when above, 1/2 when tied."""
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in positive for n in negative)
    return wins / (len(positive) * len(negative))


def well_separated(vectors, k) -> bool:
    """No book's k-th and (k+1)-th neighbour are within float32 noise of each other (so float32 and float64 agree)."""
    v = np.asarray(vectors, dtype=np.float64)
    u = v / np.linalg.norm(v, axis=1, keepdims=True)
    sims = u @ u.T
    np.fill_diagonal(sims, -np.inf)
    top = -np.sort(-sims, axis=1)[:, : k + 1]
    return bool(np.all(np.abs(np.diff(top, axis=1)) > 1e-5))


def random_books(seed: int, n: int, n_genres: int, missing: float, dim: int = 6):
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dim))
    names = [f"genre {g}" for g in range(n_genres)]
    genres = [names[g] if rng.random() >= missing else "" for g in rng.integers(0, n_genres, n)]
    return vectors, genres


# ---------------------------------------------------------------- purity and chance


@SETTINGS
@given(seed=st.integers(0, 10_000), n=st.integers(2, 70), k=st.integers(1, 12), n_genres=st.integers(1, 6),
       missing=st.sampled_from([0.0, 0.2, 0.6]), block=st.sampled_from([None, 1, 7]))
def test_purity_and_chance_equal_brute_force(seed, n, k, n_genres, missing, block):
    vectors, genres = random_books(seed, n, n_genres, missing)
    result = genre_purity(vectors, genres, k, block=block)
    known = sum(bool(g) for g in genres)
    assert result["books"] == known and result["k"] == k
    expected = oracle_purity(vectors, genres, k)
    if expected is None:
        assert result["purity"] is None and result["chance"] is None
        return
    assert result["chance"] == pytest.approx(oracle_chance(genres), abs=1e-12)
    assert result["queries"] == known and result["stderr"] == 0.0
    if well_separated(np.array(vectors)[[i for i, g in enumerate(genres) if g]], k):
        assert result["purity"] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("k", [1, 3, 10])
def test_purity_with_exact_twins_orders_ties_by_id(k):
    """Every vector appears three times: the tie at the k-th place is broken by id, as the oracle does."""
    rng = np.random.default_rng(k)
    base = rng.normal(size=(20, 5))
    vectors = np.repeat(base, 3, axis=0)
    genres = [f"g{i % 4}" for i in range(len(vectors))]
    assert genre_purity(vectors, genres, k)["purity"] == pytest.approx(oracle_purity(vectors, genres, k), abs=1e-12)


def test_purity_never_counts_a_book_as_its_own_neighbour():
    """Each genre has exactly one book: its nearest other book is always of another genre."""
    vectors = np.random.default_rng(0).normal(size=(30, 4))
    result = genre_purity(vectors, [f"only {i}" for i in range(30)], k=1)
    assert result["purity"] == 0.0 and result["chance"] == 0.0


def test_purity_with_two_genres_on_a_line_is_exact_by_hand():
    """Six books on a half circle; the neighbour lists and purity worked out by hand."""
    angles = np.deg2rad([0, 10, 20, 100, 110, 170])
    vectors = np.c_[np.cos(angles), np.sin(angles)]
    genres = ["a", "a", "b", "b", "a", "b"]
    # k=2 nearest (by angle): 0->{1,2} 1->{0,2} 2->{1,0} 3->{4,2} 4->{3,5} 5->{4,3}
    shares = [1 / 2, 1 / 2, 0 / 2, 1 / 2, 0 / 2, 1 / 2]
    result = genre_purity(vectors, genres, k=2)
    assert result["purity"] == pytest.approx(sum(shares) / 6, abs=1e-12)
    assert result["chance"] == pytest.approx((3 * 2 + 3 * 2) / (6 * 5), abs=1e-12)


def test_sampled_purity_with_every_book_asked_is_the_exact_figure():
    vectors, genres = random_books(5, 80, 3, 0.1)
    exact = genre_purity(vectors, genres, 5)
    everyone = genre_purity(vectors, genres, 5, max_exact=10, n_queries=10_000)
    assert everyone["purity"] == pytest.approx(exact["purity"], abs=1e-12)
    assert everyone["queries"] == exact["books"] and everyone["stderr"] == pytest.approx(0.0, abs=1e-12)


def test_sampled_purity_is_a_mean_over_distinct_books_with_its_standard_error():
    """The sampled figure is the mean of ``queries`` distinct books' own purities, and its error is the
    finite-population standard error of that mean; over many seeds it brackets the exact figure."""
    vectors, genres = random_books(7, 150, 3, 0.0)
    per_book = oracle_per_book_purity(vectors, genres, 5)
    exact = float(np.mean(list(per_book.values())))
    values = np.array(sorted(set(per_book.values())))
    z = []
    for seed in range(40):
        got = genre_purity(vectors, genres, 5, max_exact=100, n_queries=30, seed=seed)
        assert got["queries"] == 30 and got["books"] == 150 and got["stderr"] > 0
        # 30 per-book shares of k=5 neighbours: the mean times 30*5 is a whole number of same-genre neighbours
        assert got["purity"] * 150 == pytest.approx(round(got["purity"] * 150), abs=1e-9)
        assert values.min() <= got["purity"] <= values.max()
        z.append((got["purity"] - exact) / got["stderr"])
    z = np.array(z)
    assert abs(z.mean()) < 0.6 and 0.5 < z.std() < 1.6, z
    assert np.mean(np.abs(z) < 2) >= 0.8


def test_sampled_stderr_is_the_finite_population_standard_error():
    vectors, genres = random_books(9, 120, 4, 0.0)
    per_book = oracle_per_book_purity(vectors, genres, 4)
    got = genre_purity(vectors, genres, 4, max_exact=50, n_queries=40, seed=3)
    # find the sample: the 40 books whose purities average to the figure are not unique, so check the
    # error's size against the population's spread (the same formula, with the population's std)
    population = np.array(list(per_book.values()))
    expected = population.std(ddof=1) / np.sqrt(40) * np.sqrt(1 - 40 / 120)
    assert got["stderr"] == pytest.approx(expected, rel=0.5)
    assert got["stderr"] < population.std(ddof=1) / np.sqrt(40)  # the correction shrinks it


# ---------------------------------------------------------------- AUC


@SETTINGS
@given(positive=st.lists(st.integers(-3, 3), min_size=1, max_size=40),
       negative=st.lists(st.integers(-3, 3), min_size=1, max_size=40))
def test_roc_auc_equals_every_pair_compared(positive, negative):
    pos, neg = np.array(positive, dtype=np.float32), np.array(negative, dtype=np.float32)
    assert roc_auc(pos, neg) == pytest.approx(oracle_auc(positive, negative), abs=1e-12)


@SETTINGS
@given(seed=st.integers(0, 10_000), n_pos=st.integers(1, 60), n_neg=st.integers(1, 60))
def test_roc_auc_equals_every_pair_compared_on_continuous_scores(seed, n_pos, n_neg):
    rng = np.random.default_rng(seed)
    pos, neg = rng.normal(0.2, 1, n_pos), rng.normal(0, 1, n_neg)
    assert roc_auc(pos, neg) == pytest.approx(oracle_auc(pos.tolist(), neg.tolist()), abs=1e-12)
    # swapping the classes mirrors the figure
    assert roc_auc(neg, pos) == pytest.approx(1 - roc_auc(pos, neg), abs=1e-12)


def random_pairs(seed, n_books=40, n_links=30, density=0.2, share=0.3):
    rng = np.random.default_rng(seed)
    grid = rng.random((n_books, n_links)) < density
    pb, pl = (a.astype(np.int32) for a in np.nonzero(grid))
    heldout = rng.random(len(pb)) < share
    heldout[0] = True
    return rng, pb, pl, heldout


@pytest.mark.parametrize("seed", range(5))
def test_heldout_auc_scores_the_heldout_pairs_against_the_drawn_non_pairs(seed, monkeypatch):
    """Capture the non-pairs the sampler draws, then compute the AUC by brute force from the raw vectors."""
    rng, pb, pl, heldout = random_pairs(seed)
    books, links = rng.normal(size=(40, 7)) * rng.uniform(0.1, 9, (40, 1)), rng.normal(size=(30, 7))
    drawn = {}
    real_draw = NonPairSampler.draw

    def spy(self, n, rng_):
        drawn["pairs"] = real_draw(self, n, rng_)
        return drawn["pairs"]

    monkeypatch.setattr(NonPairSampler, "draw", spy)
    got = heldout_auc(books, links, pb, pl, heldout, seed=seed)
    nb, nl = drawn["pairs"]
    assert len(nb) == int(heldout.sum())
    true_pairs = set(zip(pb.tolist(), pl.tolist()))
    assert not true_pairs & set(zip(nb.tolist(), nl.tolist())), "a true pair was scored as a non-pair"

    def cos(b, l):
        return float(books[b] @ links[l] / np.linalg.norm(books[b]) / np.linalg.norm(links[l]))

    positive = [cos(b, l) for b, l in zip(pb[heldout], pl[heldout])]
    negative = [cos(b, l) for b, l in zip(nb, nl)]
    # float32 cosines may order two values closer than 1e-5 either way: each such pair may move the figure
    near = sum(abs(p - q) < 1e-5 for p in positive for q in negative)
    assert abs(got - oracle_auc(positive, negative)) <= near / (len(positive) * len(negative)) + 1e-12


def test_heldout_auc_uses_the_heldout_pairs_not_the_training_pairs():
    """Held-out pairs point the same way (cosine 1), training pairs opposite ways (cosine -1), non-pairs in
    between: the held-out AUC is 1, and it would be 0 if the training pairs were scored instead."""
    n = 12
    pb = np.repeat(np.arange(n, dtype=np.int32), 2)
    pl = np.empty(2 * n, dtype=np.int32)
    pl[0::2], pl[1::2] = np.arange(n), np.arange(n, 2 * n)  # book i: link i (held out) and link n+i (trains)
    heldout = np.zeros(2 * n, dtype=bool)
    heldout[0::2] = True
    angles = np.linspace(0, np.pi, n, endpoint=False)
    books = np.c_[np.cos(angles), np.sin(angles), np.zeros(n)]
    links = np.vstack([books * 3.0, -books])  # held-out links along their book, training links opposite
    assert heldout_auc(books, links, pb, pl, heldout) == 1.0
    assert heldout_auc(books, links, pb, pl, ~heldout) == 0.0


def test_heldout_auc_is_none_only_without_heldout_pairs():
    _, pb, pl, heldout = random_pairs(1)
    vectors = np.random.default_rng(0).normal(size=(70, 4))
    assert heldout_auc(vectors[:40], vectors[40:], pb, pl, np.zeros_like(heldout)) is None
    one = np.zeros_like(heldout)
    one[3] = True
    assert heldout_auc(vectors[:40], vectors[40:], pb, pl, one) in (0.0, 0.5, 1.0)


# ---------------------------------------------------------------- MRR and Hits@k


def oracle_ranks(books, links, pb, pl, heldout):
    """Filtered rank of each held-out link: 1 + the links the book does not truly link to (training or
    held-out) that score at least as high, by float64 cosine. In the order of the held-out pairs."""
    b64, l64 = np.asarray(books, np.float64), np.asarray(links, np.float64)
    true = {}
    for b, l in zip(pb.tolist(), pl.tolist()):
        true.setdefault(b, set()).add(l)
    ranks = {}
    for i in np.flatnonzero(heldout):
        b, l = int(pb[i]), int(pl[i])

        def cos(j):
            return b64[b] @ l64[j] / np.linalg.norm(b64[b]) / np.linalg.norm(l64[j])

        own = cos(l)
        ranks[i] = 1 + sum(cos(j) >= own for j in range(len(l64)) if j not in true[b])
    return ranks, true


def dyadic_rows(n, dim, rng):
    """Unit rows with four entries of +-1/2: cosines are exact multiples of 1/4, so ties are exact."""
    out = np.zeros((n, dim))
    for row in out:
        row[rng.choice(dim, 4, replace=False)] = rng.choice([-0.5, 0.5], 4)
    return out


@SETTINGS
@given(seed=st.integers(0, 10_000), k=st.sampled_from([1, 3, 10]), block=st.sampled_from([None, 1, 4]),
       tied=st.booleans())
def test_mrr_and_hits_equal_brute_force_filtered_ranks(seed, k, block, tied):
    rng, pb, pl, heldout = random_pairs(seed, n_books=25, n_links=30, density=0.25)
    if tied:  # few distinct cosines: ties must count against the held-out link
        books, links = dyadic_rows(25, 8, rng), dyadic_rows(30, 8, rng)
    else:
        books, links = rng.normal(size=(25, 6)) * rng.uniform(0.1, 5, (25, 1)), rng.normal(size=(30, 6))
    got = ev.link_ranking(books, links, pb, pl, heldout, k, block=block)
    ranks, true = oracle_ranks(books, links, pb, pl, heldout)
    r = np.array(list(ranks.values()), dtype=np.float64)
    assert got["pairs"] == got["scored"] == int(heldout.sum()) and got["k"] == k
    assert got["mrr"] == pytest.approx(np.mean(1 / r), abs=1e-12)
    assert got["hits"] == pytest.approx(np.mean(r <= k), abs=1e-12)
    expected_candidates = np.mean([30 - len(true[int(pb[i])]) for i in ranks])
    assert got["candidates"] == pytest.approx(expected_candidates, abs=1e-12)
    assert got["mrr_stderr"] == got["hits_stderr"] == 0.0


def test_ranking_of_constant_vectors_puts_every_heldout_link_last():
    _, pb, pl, heldout = random_pairs(2)
    got = ev.link_ranking(np.ones((40, 3)), np.ones((30, 3)), pb, pl, heldout, 10)
    ranks, true = oracle_ranks(np.ones((40, 3)), np.ones((30, 3)), pb, pl, heldout)
    assert all(r == 1 + 30 - len(true[int(pb[i])]) for i, r in ranks.items())
    assert got["mrr"] == pytest.approx(np.mean([1 / r for r in ranks.values()]), abs=1e-12)
    assert got["hits"] == 0.0


def test_ranking_a_perfect_model_gives_mrr_one():
    """Each held-out link points exactly along its book, every other link away from it."""
    n = 10
    pb = np.repeat(np.arange(n, dtype=np.int32), 2)
    pl = np.r_[[[i, n + i] for i in range(n)]].ravel().astype(np.int32)
    heldout = np.tile([True, False], n)
    angles = np.linspace(0, np.pi / 2, n)
    books = np.c_[np.cos(angles), np.sin(angles), np.zeros(n)]
    links = np.vstack([books, np.tile([0.0, 0.0, 1.0], (n, 1))])  # training links: orthogonal to every book
    got = ev.link_ranking(books, links, pb, pl, heldout, 1)
    ranks, _ = oracle_ranks(books, links, pb, pl, heldout)
    assert got["mrr"] == pytest.approx(np.mean([1 / r for r in ranks.values()]), abs=1e-12)
    # neighbouring books' links come close but never above: the own link is first among the candidates
    assert set(ranks.values()) == {1} and got["mrr"] == 1.0 and got["hits"] == 1.0


def test_ranking_without_heldout_pairs_is_none():
    _, pb, pl, heldout = random_pairs(3)
    got = ev.link_ranking(np.ones((40, 3)), np.ones((30, 3)), pb, pl, np.zeros_like(heldout))
    assert got["mrr"] is None and got["hits"] is None and got["pairs"] == 0 and got["scored"] == 0


def test_sampled_ranking_asking_every_pair_is_exact_and_a_sample_brackets_it():
    rng, pb, pl, heldout = random_pairs(4, n_books=40, n_links=30, density=0.4, share=0.5)
    books, links = rng.normal(size=(40, 5)), rng.normal(size=(30, 5))
    exact = ev.link_ranking(books, links, pb, pl, heldout, 5)
    h = int(heldout.sum())
    everyone = ev.link_ranking(books, links, pb, pl, heldout, 5, max_exact=10, n_sample=h)
    assert everyone["mrr"] == pytest.approx(exact["mrr"], abs=1e-12) and everyone["mrr_stderr"] == 0.0
    z = []
    for seed in range(30):
        got = ev.link_ranking(books, links, pb, pl, heldout, 5, max_exact=10, n_sample=40, seed=seed)
        assert got["scored"] == 40 and got["pairs"] == h and got["mrr_stderr"] > 0 and got["hits_stderr"] > 0
        z.append((got["mrr"] - exact["mrr"]) / got["mrr_stderr"])
    assert abs(np.mean(z)) < 0.7 and np.mean(np.abs(z) < 2) >= 0.8


# ---------------------------------------------------------------- a model folder's figures


def test_evaluate_reports_auc_and_purity_of_the_same_vectors(fake_model):
    from bookembed.store import load_model_folder

    model = load_model_folder(fake_model)
    got = ev.evaluate(model, seed=4)
    assert got["auc"] == heldout_auc(model.book_vectors, model.link_vectors, model.pair_books, model.pair_links,
                                     model.heldout, seed=4)
    assert got["heldout_pairs"] == int(model.heldout.sum())
    genres = model.books["primary_genre"].tolist()
    assert got["genre_purity"]["purity"] == pytest.approx(oracle_purity(model.book_vectors, genres, 10), abs=1e-12)


# ---------------------------------------------------------------- defaults, boundaries and the exact sampling error


def test_defaults_are_k_10_and_seed_0():
    rng, pb, pl, heldout = random_pairs(6, n_books=40, n_links=30, density=0.4, share=0.5)
    books, links = rng.normal(size=(40, 5)), rng.normal(size=(30, 5))
    got = ev.link_ranking(books, links, pb, pl, heldout, max_exact=5, n_sample=10)
    assert got["k"] == 10 and got == ev.link_ranking(books, links, pb, pl, heldout, 10, max_exact=5, n_sample=10,
                                                     seed=0)
    assert heldout_auc(books, links, pb, pl, heldout) == heldout_auc(books, links, pb, pl, heldout, seed=0)
    vectors, genres = random_books(8, 120, 3, 0.0)
    sampled = genre_purity(vectors, genres, max_exact=50, n_queries=20)
    assert sampled["k"] == 10 and sampled == genre_purity(vectors, genres, 10, max_exact=50, n_queries=20, seed=0)
    assert sampled == genre_purity(vectors, genres, max_exact=50, n_queries=20)  # seeded: the same twice


def test_nothing_to_score_reads_the_same_every_time():
    _, pb, pl, heldout = random_pairs(3)
    assert ev.link_ranking(np.ones((40, 3)), np.ones((30, 3)), pb, pl, np.zeros_like(heldout), 7) == {
        "mrr": None, "hits": None, "k": 7, "pairs": 0, "scored": 0, "candidates": None,
        "mrr_stderr": None, "hits_stderr": None}
    assert genre_purity(np.eye(5), ["a", "b", "a", "b", ""], k=10) == {
        "purity": None, "chance": None, "k": 10, "books": 4, "queries": 0, "stderr": None}


def test_exactly_max_exact_is_still_exact():
    rng, pb, pl, heldout = random_pairs(7, n_books=40, n_links=30, density=0.4, share=0.5)
    books, links = rng.normal(size=(40, 5)), rng.normal(size=(30, 5))
    h = int(heldout.sum())
    at = ev.link_ranking(books, links, pb, pl, heldout, 5, max_exact=h, n_sample=3)
    assert at["scored"] == h and at["mrr_stderr"] == 0.0
    vectors, genres = random_books(9, 60, 3, 0.0)
    assert genre_purity(vectors, genres, 5, max_exact=60, n_queries=7)["queries"] == 60


@pytest.mark.parametrize("seed", range(6))
def test_asking_for_every_book_or_pair_gives_the_exact_figure_whatever_the_seed(seed):
    vectors, genres = random_books(5, 80, 3, 0.1)
    exact = genre_purity(vectors, genres, 5)
    everyone = genre_purity(vectors, genres, 5, max_exact=10, n_queries=10_000, seed=seed)
    assert everyone["purity"] == pytest.approx(exact["purity"], abs=1e-12) and everyone["stderr"] == 0.0
    rng, pb, pl, heldout = random_pairs(4, n_books=40, n_links=30, density=0.4, share=0.5)
    books, links = rng.normal(size=(40, 5)), rng.normal(size=(30, 5))
    all_pairs = ev.link_ranking(books, links, pb, pl, heldout, 5)
    again = ev.link_ranking(books, links, pb, pl, heldout, 5, max_exact=3, n_sample=10_000, seed=seed)
    assert again["mrr"] == pytest.approx(all_pairs["mrr"], abs=1e-12) and again["hits_stderr"] == 0.0


@pytest.mark.parametrize("n_sample", [1, 2, "all but one"])
def test_sampled_ranking_error_is_the_finite_population_standard_error(n_sample):
    """Leave one held-out pair out: find which one from the MRR, then the errors follow exactly."""
    rng, pb, pl, heldout = random_pairs(11, n_books=30, n_links=40, density=0.3, share=0.4)
    books, links = rng.normal(size=(30, 6)), rng.normal(size=(40, 6))
    ranks, _ = oracle_ranks(books, links, pb, pl, heldout)
    h = len(ranks)
    if n_sample == "all but one":
        got = ev.link_ranking(books, links, pb, pl, heldout, 3, max_exact=5, n_sample=h - 1, seed=2)
        r = np.array(list(ranks.values()), dtype=float)
        options = []
        for left_out in range(h):
            sample = np.delete(r, left_out)
            if np.isclose(np.mean(1 / sample), got["mrr"], atol=1e-12) and np.isclose(np.mean(sample <= 3), got["hits"]):
                fpc = np.sqrt(1 - (h - 1) / h)
                options.append((np.std(1 / sample, ddof=1) / np.sqrt(h - 1) * fpc,
                                np.std(sample <= 3, ddof=1) / np.sqrt(h - 1) * fpc))
        assert options and any(got["mrr_stderr"] == pytest.approx(a, rel=1e-9) and
                                got["hits_stderr"] == pytest.approx(b, rel=1e-9, abs=1e-15) for a, b in options)
        return
    got = ev.link_ranking(books, links, pb, pl, heldout, 3, max_exact=5, n_sample=n_sample, seed=1)
    assert got["scored"] == n_sample
    if n_sample == 1:  # one pair: no spread to measure, and never NaN
        assert got["mrr_stderr"] == 0.0 and got["hits_stderr"] == 0.0
    else:
        assert got["mrr_stderr"] > 0 or got["mrr"] in (1.0, 0.5)


def test_ranking_with_ids_whose_keys_pass_two_to_the_31():
    """40,000 books and 70,000 links: book * n_links overflows int32, the ranks must not change."""
    rng = np.random.default_rng(12)
    n_books, n_links = 40_000, 70_000
    pb = np.r_[rng.integers(30_000, n_books, 300), np.arange(39_990, 40_000)].astype(np.int32)
    pl = rng.integers(0, n_links, len(pb)).astype(np.int32)
    keys = np.unique(pb.astype(np.int64) * n_links + pl)
    pb, pl = (keys // n_links).astype(np.int32), (keys % n_links).astype(np.int32)
    heldout = np.zeros(len(pb), bool)
    heldout[::3] = True
    books, links = rng.normal(size=(n_books, 2)).astype(np.float32), rng.normal(size=(n_links, 2)).astype(np.float32)
    small = ev.link_ranking(books, links, pb, pl, heldout, 10)
    wide = ev.link_ranking(books, links, pb.astype(np.int64), pl.astype(np.int64), heldout, 10)
    assert small == wide
    own = {}
    for b, l in zip(pb.tolist(), pl.tolist()):
        own.setdefault(b, set()).add(l)
    assert small["candidates"] == pytest.approx(np.mean([n_links - len(own[int(b)]) for b in pb[heldout]]))


def test_evaluate_with_baselines_scores_each_baseline_like_the_model(fake_model):
    from bookembed.store import load_model_folder

    model = load_model_folder(fake_model)
    got = ev.evaluate(model, seed=3, baselines=True)
    expected = ev.baseline_metrics(model, model.heldout, model.book_vectors.shape[1], 3)
    assert set(got["baselines"]) == set(expected) and len(expected) >= 2
    for name, figures in expected.items():
        assert {k: v for k, v in got["baselines"][name].items() if k != "seconds"} == {
            k: v for k, v in figures.items() if k != "seconds"}
    assert "baselines" not in ev.evaluate(model, seed=3)


@pytest.mark.parametrize("n_queries", [1, 2, 3, 40])
def test_sampled_purity_and_its_error_from_the_books_it_asked(monkeypatch, n_queries):
    """Watch which books the sampled search asks about; the figure is their oracle purities' mean and the
    error is the finite-population standard error of that mean (ddof 1), 0 and never NaN for one book."""
    vectors, genres = random_books(9, 120, 4, 0.1)
    known = [i for i, g in enumerate(genres) if g]
    per_book = oracle_per_book_purity(vectors, genres, 4)
    asked = []
    real = ev.top_k_rows
    monkeypatch.setattr(ev, "top_k_rows", lambda *a, **kw: asked.append(kw.get("queries")) or real(*a, **kw))
    got = genre_purity(vectors, genres, 4, max_exact=50, n_queries=n_queries, seed=1)
    (queries,) = asked
    queries = [int(q) for q in queries]
    assert len(set(queries)) == len(queries) == n_queries and all(0 <= q < len(known) for q in queries)
    shares = np.array([per_book[known[q]] for q in queries])
    n = len(known)
    assert got["queries"] == n_queries and got["books"] == n
    assert got["purity"] == pytest.approx(shares.mean(), abs=1e-12)
    if n_queries == 1:
        assert got["stderr"] == 0.0
    else:
        sd = np.sqrt(((shares - shares.mean()) ** 2).sum() / (n_queries - 1))
        assert sd > 0
        assert got["stderr"] == pytest.approx(sd / np.sqrt(n_queries) * np.sqrt(1 - n_queries / n), rel=1e-9)
