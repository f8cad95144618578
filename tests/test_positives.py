"""The quality levers of issue 22 (bookembed/positives.py) and the named goals (TrainConfig.goal).

Properties on tiny hand-written graphs: idf weights favour rare links, second-order pairs are real
two-hop pairs of the training graph and never step through a held-out pair, the spectral start has
the random start's shape and row length, and a joined vector's cosine is the mean of its halves'.
Then the same properties, and the trade-off the goals name, on the real p15 records.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bookembed.positives import (epoch_positives, join_spectral, link_idf, positive_weights, second_order_pairs,
                                 spectral_start, unit_rows)
from bookembed.training import GOALS, INIT_LIMIT, TrainConfig, initial_weights, train

# Six books, seven links. Link 0 is in every book (common), links 1-6 are rarer.
#   books 0, 1, 2 share link 1 ("group A"); books 3, 4, 5 share link 4 ("group B")
PAIRS = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 3), (2, 0), (2, 1), (2, 2),
         (3, 0), (3, 4), (3, 5), (4, 0), (4, 4), (4, 6), (5, 0), (5, 4), (5, 5)]
N_BOOKS, N_LINKS = 6, 7


def arrays(pairs=PAIRS):
    pb = np.array([b for b, _ in pairs], np.int32)
    pl = np.array([lk for _, lk in pairs], np.int32)
    return pb, pl


def two_hop(pairs) -> set[tuple[int, int]]:
    """Every (b, l'') with (b, l), (b', l), (b', l'') all in ``pairs`` (b' may be b)."""
    books_of: dict[int, set[int]] = {}
    links_of: dict[int, set[int]] = {}
    for b, lk in pairs:
        books_of.setdefault(lk, set()).add(b)
        links_of.setdefault(b, set()).add(lk)
    return {(b, far) for b, lk in pairs for other in books_of[lk] for far in links_of[other]}


# ---------------------------------------------------------------- idf-weighted positives


def test_idf_is_highest_for_the_rarest_link_and_weights_favour_rare_links():
    pb, pl = arrays()
    idf = link_idf(pl, N_BOOKS, N_LINKS)
    df = np.bincount(pl, minlength=N_LINKS)
    # strictly decreasing in the number of books: order by df is the reverse order by idf
    for a in range(N_LINKS):
        for c in range(N_LINKS):
            if df[a] < df[c]:
                assert idf[a] > idf[c]
    w1 = positive_weights(pl, N_BOOKS, N_LINKS, 1.0)
    w2 = positive_weights(pl, N_BOOKS, N_LINKS, 2.0)
    w0 = positive_weights(pl, N_BOOKS, N_LINKS, 0.0)
    assert np.isclose(w1.sum(), 1) and np.isclose(w2.sum(), 1)
    assert np.allclose(w0, 1 / len(pl))  # power 0: every pair alike
    common, rare = np.flatnonzero(pl == 0)[0], np.flatnonzero(pl == 6)[0]
    assert w1[rare] > w1[common]
    # squaring the power squares the ratio between a rare and a common pair
    assert np.isclose(w2[rare] / w2[common], (w1[rare] / w1[common]) ** 2)


def test_an_idf_epoch_draws_training_pairs_only_and_rare_ones_more_often():
    pb, pl = arrays()
    heldout = np.zeros(len(pb), bool)
    heldout[[4, 13]] = True  # (1, 1) and (4, 4)
    train_idx = np.flatnonzero(~heldout)
    counts = np.zeros(len(pb))
    rng = np.random.default_rng(0)
    for _ in range(300):
        books, links = epoch_positives(pb, pl, train_idx, N_BOOKS, N_LINKS, 1.0, 0.0, rng)
        assert len(books) == len(train_idx)
        index = {pair: i for i, pair in enumerate(zip(pb.tolist(), pl.tolist()))}
        drawn = [index[pair] for pair in zip(books.tolist(), links.tolist())]  # KeyError: not a true pair
        assert not heldout[drawn].any()
        np.add.at(counts, drawn, 1)
    per_pair = counts[train_idx]
    rare = per_pair[pl[train_idx] == 6].mean()
    common = per_pair[pl[train_idx] == 0].mean()
    assert rare > 1.2 * common


def test_no_lever_gives_none_and_the_training_pairs_unchanged():
    pb, pl = arrays()
    assert epoch_positives(pb, pl, np.arange(len(pb)), N_BOOKS, N_LINKS, 0.0, 0.0, np.random.default_rng(0)) is None


# ---------------------------------------------------------------- second-order positives


def test_second_order_pairs_are_two_hop_pairs_through_another_book():
    pb, pl = arrays()
    books, links = second_order_pairs(pb, pl, N_BOOKS, N_LINKS, 2000, np.random.default_rng(1))
    assert books.dtype == np.int32 and links.dtype == np.int32 and len(books) == 2000
    reachable = two_hop(PAIRS)
    assert set(zip(books.tolist(), links.tolist())) <= reachable
    # b' is another book whenever the link has one: a book with no link of its own beside link 1 and 0
    # still reaches its group's other links
    got = set(zip(books.tolist(), links.tolist()))
    assert (1, 2) in got and (0, 3) in got  # via link 1, from books 0 / 1 to each other's links
    assert (3, 6) in got  # via link 4 to book 4's link 6


def test_the_middle_book_is_another_book_whenever_the_link_has_one():
    # book 0 links to 0 only; book 1 to 0 and 1. From book 0 the walk must go through book 1,
    # so half its pairs reach link 1 (a quarter, were book 0 its own middle book half the time).
    pb, pl = arrays([(0, 0), (1, 0), (1, 1)])
    books, links = second_order_pairs(pb, pl, 2, 2, 20_000, np.random.default_rng(5))
    from_zero = links[books == 0]
    assert len(from_zero) > 3000 and abs((from_zero == 1).mean() - 0.5) < 0.04


def test_second_order_pairs_never_step_through_a_held_out_pair():
    # Two groups joined only by one pair, (2, 4): held out, no walk may cross from one group to the other.
    pairs = [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1), (2, 4),
             (3, 3), (3, 4), (4, 3), (4, 4), (5, 3), (5, 4), (5, 5), (4, 5)]
    pb, pl = arrays(pairs)
    heldout = np.array([pair == (2, 4) for pair in pairs])
    train_idx = np.flatnonzero(~heldout)
    training = [p for p, h in zip(pairs, heldout) if not h]
    group_a, links_a = {0, 1, 2}, {0, 1}
    rng = np.random.default_rng(2)
    for _ in range(20):
        books, links = epoch_positives(pb, pl, train_idx, 6, 6, 0.0, 3.0, rng)
        extra = set(zip(books[len(train_idx):].tolist(), links[len(train_idx):].tolist()))
        assert len(books) == len(train_idx) + round(3.0 * len(train_idx))
        assert extra <= two_hop(training)
        assert all((b in group_a) == (lk in links_a) for b, lk in extra), extra
        assert (2, 4) not in extra and (2, 3) not in extra and (3, 0) not in extra


def test_second_order_pairs_are_drawn_in_linear_time_without_a_book_by_book_matrix():
    # 200,000 books: a book × book co-link matrix would not fit; the walk is O(pairs + draws)
    rng = np.random.default_rng(3)
    n_books, n_links, k = 200_000, 5_000, 20
    pb = np.repeat(np.arange(n_books, dtype=np.int32), k)
    pl = rng.integers(0, n_links, n_books * k).astype(np.int32)
    books, links = second_order_pairs(pb, pl, n_books, n_links, 100_000, rng)
    assert len(books) == 100_000 and books.max() < n_books and links.max() < n_links


# ---------------------------------------------------------------- spectral start and join


def test_spectral_start_has_the_random_starts_shape_and_row_length():
    pb, pl = arrays()
    dim = 3
    random_books, random_links, _ = initial_weights(N_BOOKS + 1, N_LINKS, dim, seed=0)  # book 6 has no pair
    books, links = spectral_start(pb, pl, np.arange(len(pb)), N_BOOKS + 1, N_LINKS, random_books, random_links, 0)
    assert books.shape == (N_BOOKS + 1, dim) and links.shape == (N_LINKS, dim)
    assert books.dtype == np.float32 and links.dtype == np.float32
    expected = INIT_LIMIT * np.sqrt(dim / 3)
    assert np.allclose(np.linalg.norm(books[:N_BOOKS], axis=1), expected, rtol=1e-5)
    assert np.allclose(np.linalg.norm(links, axis=1), expected, rtol=1e-5)
    assert np.array_equal(books[N_BOOKS], random_books[N_BOOKS])  # no training pair: the random start
    # the start already knows the groups: books of one group closer than books of two
    u = unit_rows(books)
    assert u[0] @ u[1] > u[0] @ u[3] and u[3] @ u[4] > u[2] @ u[5]


def test_join_gives_the_mean_of_the_two_cosines():
    pb, pl = arrays()
    rng = np.random.default_rng(4)
    trained_books = rng.normal(size=(N_BOOKS, 4)).astype(np.float32)
    trained_links = rng.normal(size=(N_LINKS, 4)).astype(np.float32)
    books, links = join_spectral(trained_books, trained_links, pb, pl, np.arange(len(pb)), 0)
    assert books.shape == (N_BOOKS, 8) and links.shape == (N_LINKS, 8)
    half_t, half_s = unit_rows(books[:, :4]), unit_rows(books[:, 4:])
    assert np.allclose(half_t, unit_rows(trained_books), atol=1e-6)
    joined = unit_rows(books)
    for a in range(N_BOOKS):
        for c in range(N_BOOKS):
            mean = (half_t[a] @ half_t[c] + half_s[a] @ half_s[c]) / 2
            assert joined[a] @ joined[c] == pytest.approx(mean, abs=1e-5)
    lt, ls = unit_rows(links[:, :4]), unit_rows(links[:, 4:])
    assert unit_rows(books)[0] @ unit_rows(links)[2] == pytest.approx((half_t[0] @ lt[2] + half_s[0] @ ls[2]) / 2,
                                                                       abs=1e-5)


# ---------------------------------------------------------------- the settings, through training


def test_goals_fill_only_the_settings_left_to_them():
    assert set(GOALS) == {"balanced", "neighbours", "links"}
    by_goal = {f.name for f in dataclasses.fields(TrainConfig) if f.default is None} & set(GOALS["balanced"])
    assert by_goal == set(GOALS["balanced"]) and all(set(v) == by_goal for v in GOALS.values())
    for goal, values in GOALS.items():
        config = TrainConfig(goal=goal)
        assert {name: getattr(config, name) for name in values} == values
    mine = TrainConfig(goal="links", dim=16, negative_power=0.5)
    assert (mine.dim, mine.negative_power, mine.epochs) == (16, 0.5, GOALS["links"]["epochs"])
    assert TrainConfig(**TrainConfig(goal="neighbours").to_dict()) == TrainConfig(goal="neighbours")


@pytest.mark.parametrize("changes", [{"positive_idf_power": 1.0}, {"second_order_share": 0.5},
                                     {"init": "svd-tfidf"}, {"join": "svd-tfidf"}, {"goal": "links"},
                                     {"goal": "neighbours"}])
def test_every_lever_trains_finite_vectors_on_the_same_held_out_split(changes):
    pb, pl = arrays()
    base = train(pb, pl, N_BOOKS, N_LINKS, TrainConfig(seed=1, epochs=3, dim=4, heldout_share=0.1))
    config = TrainConfig(**{"seed": 1, "epochs": 3, "dim": 4, "heldout_share": 0.1, **changes})
    result = train(pb, pl, N_BOOKS, N_LINKS, config)
    width = 2 * config.dim if changes.get("join") == "svd-tfidf" else config.dim
    assert result.book_vectors.shape == (N_BOOKS, width) and result.link_vectors.shape == (N_LINKS, width)
    assert np.isfinite(result.book_vectors).all() and np.isfinite(result.link_vectors).all()
    assert np.array_equal(result.heldout, base.heldout)
    assert not np.array_equal(result.book_vectors[:, :4], base.book_vectors) or changes.get("goal")


# ---------------------------------------------------------------- the real p15 records


@pytest.fixture(scope="module")
def p15(real_path):
    from bookembed.corpus import load_corpus

    return load_corpus(real_path)


def test_on_p15_idf_positives_lean_to_rare_links_and_second_order_pairs_are_two_hop(p15):
    from bookembed.sampling import split_heldout

    pb, pl = np.asarray(p15.pair_books, np.int32), np.asarray(p15.pair_links, np.int32)
    heldout = split_heldout(pb, pl, 0.05, np.random.default_rng(0))
    train_idx = np.flatnonzero(~heldout)
    idf = link_idf(pl[train_idx], p15.n_books, p15.n_links)
    books, links = epoch_positives(pb, pl, train_idx, p15.n_books, p15.n_links, 1.0, 0.5, np.random.default_rng(0))
    n = len(train_idx)
    assert len(books) == n + round(0.5 * n)
    assert idf[links[:n]].mean() > idf[pl[train_idx]].mean()
    training = set(zip(pb[train_idx].tolist(), pl[train_idx].tolist()))
    assert set(zip(books[:n].tolist(), links[:n].tolist())) <= training
    links_of: dict[int, set[int]] = {}
    books_of: dict[int, set[int]] = {}
    for b, lk in training:
        links_of.setdefault(b, set()).add(lk)
        books_of.setdefault(lk, set()).add(b)
    for b, far in zip(books[n:n + 2000].tolist(), links[n:n + 2000].tolist()):
        assert any(far in links_of[other] for lk in links_of[b] for other in books_of[lk]), (b, far)


def test_on_p15_the_goals_trade_neighbours_against_links(p15):
    """The trade-off the goals name: neighbours gives purer genre neighbourhoods, links ranks held-out links
    better (seed 0; docs/quality.md has the means of 3 seeds)."""
    from bookembed.evaluate import score_vectors

    scored = {}
    for goal in ("neighbours", "links"):
        result = train(p15.pair_books, p15.pair_links, p15.n_books, p15.n_links, TrainConfig(goal=goal, seed=0))
        scored[goal] = score_vectors(result.book_vectors, result.link_vectors, p15, result.heldout, seed=0)
    purity = {g: s["purity"]["genre"]["purity"] for g, s in scored.items()}
    hits = {g: s["ranking"]["hits"] for g, s in scored.items()}
    assert purity["neighbours"] > purity["links"] + 0.005, purity
    assert hits["links"] > hits["neighbours"] + 0.03, hits
