"""The held-out split and the non-pair sampler, by their documented properties.

What ``split_heldout`` promises: only pairs whose book and link have other
pairs are held out, about ``share`` of them, each book and link keeps a
training pair. What ``NonPairSampler`` promises: never a true pair, books
uniform, links uniform or in proportion to ``link_weights``, int32 ids; its
bitmap is sized at about 64 bits per pair, 2**16 to 2**31 bits.
"""

from __future__ import annotations

import numpy as np
import pytest

from bookembed.errors import BookembedError
from bookembed.sampling import NonPairSampler, maybe_true_pair, pair_bitmap, split_heldout


def pairs_from(edges):
    pb, pl = (np.array(a, dtype=np.int32) for a in zip(*sorted(set(edges))))
    return pb, pl


def trained_everywhere(pb, pl, heldout):
    for ids in (pb, pl):
        if not np.array_equal(np.bincount(ids) > 0, np.bincount(ids[~heldout], minlength=ids.max() + 1) > 0):
            return False
    return True


# ---------------------------------------------------------------- split_heldout


def test_split_holds_out_exactly_the_share_of_eligible_pairs_and_never_a_lonely_books_pair():
    """40 books with 12 links each (eligible) and 300 books with one link each (never eligible):
    exactly round(share * n) pairs are held out, all of them from the 40 books, without repeats."""
    rng = np.random.default_rng(0)
    edges = [(b, int(l)) for b in range(40) for l in rng.choice(30, 12, replace=False)]
    edges += [(40 + i, i % 30) for i in range(300)]
    pb, pl = pairs_from(edges)
    for seed in range(5):
        heldout = split_heldout(pb, pl, 0.3, np.random.default_rng(seed))
        assert heldout.dtype == bool and heldout.shape == pb.shape
        assert heldout.sum() == round(0.3 * len(pb))  # 0.3 * 780 = 234 of the 480 eligible pairs
        assert np.all(pb[heldout] < 40)
        assert trained_everywhere(pb, pl, heldout)


def test_split_of_pairs_of_degree_two_holds_them_out():
    """A ring: book i links to i and i+1, so every book and link has exactly two pairs, all eligible."""
    n = 200
    pb, pl = pairs_from([(i, i) for i in range(n)] + [(i, (i + 1) % n) for i in range(n)])
    heldout = split_heldout(pb, pl, 0.2, np.random.default_rng(1))
    assert round(0.2 * 2 * n) * 0.7 <= heldout.sum() <= round(0.2 * 2 * n)
    assert trained_everywhere(pb, pl, heldout)


def test_split_of_one_pair_holds_out_one():
    rng = np.random.default_rng(2)
    pb, pl = pairs_from([(b, int(l)) for b in range(10) for l in rng.choice(10, 5, replace=False)])
    share = 1 / len(pb)
    assert split_heldout(pb, pl, share, np.random.default_rng(0)).sum() == 1
    assert split_heldout(pb, pl, 0.4 / len(pb), np.random.default_rng(0)).sum() == 0


def test_split_with_a_single_eligible_pair_holds_it_out():
    # book 0 links 0 and 1; link 1 also has book 1; every other pair belongs to a book or link with one pair
    pb, pl = pairs_from([(0, 0), (0, 1), (1, 1), (2, 2), (3, 3)])
    for seed in range(5):
        heldout = split_heldout(pb, pl, 0.45, np.random.default_rng(seed))
        assert heldout.tolist() == [False, True, False, False, False]


def test_split_with_nothing_eligible_holds_out_nothing():
    pb, pl = pairs_from([(i, i) for i in range(10)])
    assert not split_heldout(pb, pl, 0.4, np.random.default_rng(0)).any()


def test_split_when_the_last_books_pairs_are_all_chosen_gives_one_back():
    """The highest book and link ids have two pairs each; over many seeds both get chosen sometimes,
    and one always comes back (the count arrays must reach the highest id)."""
    rng = np.random.default_rng(3)
    edges = [(b, int(l)) for b in range(8) for l in rng.choice(6, 3, replace=False)]
    edges += [(8, 6), (8, 0), (0, 6)]
    pb, pl = pairs_from(edges)
    for seed in range(60):
        heldout = split_heldout(pb, pl, 0.45, np.random.default_rng(seed))
        assert trained_everywhere(pb, pl, heldout), seed


# ---------------------------------------------------------------- the bitmap


@pytest.mark.parametrize("n, log_bits", [(0, 16), (1, 16), (1000, 16), (1024, 16), (1025, 17), (2048, 17),
                                         (2049, 18), (100_000, 23)])
def test_bitmap_is_sized_at_64_bits_a_pair_from_2_to_the_16(n, log_bits):
    rng = np.random.default_rng(n)
    pb, pl = rng.integers(0, 5000, n).astype(np.int32), rng.integers(0, 5000, n).astype(np.int32)
    words, got = pair_bitmap(pb, pl)
    assert got == log_bits
    assert words.dtype == np.int32 and len(words) * 32 == 2**log_bits
    assert maybe_true_pair(words, got, pb, pl).all()
    assert np.count_nonzero(words) <= n


def test_bitmap_of_int32_ids_near_the_top_of_large_vocabularies_does_not_wrap():
    """Link ids above 2**31 / 40503 overflow an int32 hash: int32 and int64 inputs must give the same bitmap."""
    rng = np.random.default_rng(4)
    pb = rng.integers(0, 2_000_000, 5000).astype(np.int32)
    pl = rng.integers(60_000, 2_000_000, 5000).astype(np.int32)
    words32, bits32 = pair_bitmap(pb, pl)
    words64, bits64 = pair_bitmap(pb.astype(np.int64), pl.astype(np.int64))
    assert bits32 == bits64 and np.array_equal(words32, words64)
    assert maybe_true_pair(words64, bits64, pb, pl).all()
    assert np.array_equal(maybe_true_pair(words64, bits64, pb, pl[::-1]),
                          maybe_true_pair(words64, bits64, pb.astype(np.int64), pl[::-1].astype(np.int64)))


# ---------------------------------------------------------------- the sampler


def grid_pairs(n_books, n_links, density, seed):
    grid = np.random.default_rng(seed).random((n_books, n_links)) < density
    return tuple(a.astype(np.int32) for a in np.nonzero(grid)), grid


def test_draws_are_int32_non_pairs_uniform_over_the_cells_they_reach():
    """On a half-full grid most draws need redraws; every reachable non-pair must come up equally often."""
    (pb, pl), grid = grid_pairs(20, 15, 0.5, 5)
    books, links = NonPairSampler(pb, pl, 20, 15).draw(60_000, np.random.default_rng(6))
    assert books.dtype == links.dtype == np.int32 and books.shape == links.shape == (60_000,)
    assert not grid[books, links].any()
    counts = np.bincount(books * 15 + links, minlength=300)
    reached = counts > 0
    assert reached.sum() >= 0.9 * (~grid).sum()
    expected = 60_000 / reached.sum()
    chi2 = ((counts[reached] - expected) ** 2 / expected).sum()
    dof = reached.sum() - 1
    assert chi2 < dof + 6 * np.sqrt(2 * dof), (chi2, dof)  # six standard deviations of a chi-square


def test_uniform_links_and_books():
    (pb, pl), _ = grid_pairs(50, 40, 0.02, 7)
    books, links = NonPairSampler(pb, pl, 50, 40).draw(80_000, np.random.default_rng(8))
    for ids, n in ((books, 50), (links, 40)):
        counts = np.bincount(ids, minlength=n)
        assert len(counts) == n
        expected = len(ids) / n
        assert np.abs(counts - expected).max() < 6 * np.sqrt(expected)


def test_weighted_links_follow_their_weights_and_zero_weights_never_come_up():
    (pb, pl), _ = grid_pairs(50, 8, 0.02, 9)
    weights = np.array([0.0, 3.0, 1.0, 0.0, 6.0, 2.0, 0.0, 8.0])  # sums to 20, not 1
    books, links = NonPairSampler(pb, pl, 50, 8, link_weights=weights).draw(100_000, np.random.default_rng(10))
    assert links.dtype == np.int32
    counts = np.bincount(links, minlength=8)
    assert counts[weights == 0].sum() == 0
    expected = 100_000 * weights / weights.sum()
    ok = weights > 0
    assert np.all(np.abs(counts[ok] - expected[ok]) < 6 * np.sqrt(expected[ok])), (counts, expected)


class TopOfTheRange:
    """A generator whose uniform draws are all ``value`` (the largest double below 1 by default)."""

    def __init__(self, seed, value=np.nextafter(1.0, 0.0)):
        self.rng, self.value = np.random.default_rng(seed), value

    def integers(self, *args, **kwargs):
        return self.rng.integers(*args, **kwargs)

    def random(self, n):
        return np.full(n, self.value)


def test_a_draw_of_exactly_zero_skips_zero_weight_links_at_the_start():
    weights = np.array([0.0, 0.0, 2.0, 1.0])
    _, links = NonPairSampler(np.array([0], np.int32), np.array([0], np.int32), 30, 4,
                              link_weights=weights).draw(20, TopOfTheRange(0, 0.0))
    assert set(links.tolist()) == {2}


def test_a_draw_at_the_top_of_the_range_is_the_last_link_with_weight():
    """Cumulative sums can end a hair below 1: the last link with weight must still be drawn, never an id
    past the vocabulary."""
    # shares of these weights add up to 1 - 2**-53: the top draw used to land on the last link, weight 0
    weights = np.array([0.002738500170148095, 0.8574042765875693, 0.033585575305464355, 0.7296554464299441,
                        0.17565562060255901, 0.8631789223498866, 0.5414612202490917, 0.0])
    assert np.cumsum(weights / weights.sum())[-1] < 1.0
    _, links = NonPairSampler(np.array([0], np.int32), np.array([0], np.int32), 30, 8,
                              link_weights=weights).draw(50, TopOfTheRange(0))
    assert set(links.tolist()) == {6}
    third = np.full(3, 1 / 3)  # 1/3 + 1/3 + 1/3 sums to 1 - 2**-53 in float64
    _, links = NonPairSampler(np.array([0], np.int32), np.array([0], np.int32), 30, 3,
                              link_weights=third).draw(50, TopOfTheRange(1))
    assert set(links.tolist()) == {2}


@pytest.mark.parametrize("weights", [np.ones(5), np.array([1.0, -1, 1, 1, 1, 1]), np.zeros(6), np.full(6, np.nan)],
                         ids=["too short", "negative", "all zero", "nan"])
def test_bad_link_weights_are_a_clear_error(weights):
    with pytest.raises(BookembedError, match=r"^link_weights must be 6 non-negative numbers, not all zero$"):
        NonPairSampler(np.array([0], np.int32), np.array([0], np.int32), 4, 6, link_weights=weights)


def test_good_link_weights_are_accepted_as_any_numbers():
    sampler = NonPairSampler(np.array([0], np.int32), np.array([0], np.int32), 4, 3, link_weights=[0, 1, 2])
    _, links = sampler.draw(3000, np.random.default_rng(0))
    assert set(links.tolist()) == {1, 2}
    tiny = NonPairSampler(np.array([0], np.int32), np.array([0], np.int32), 4, 3, link_weights=[0, 0, 1e-300])
    assert set(tiny.draw(100, np.random.default_rng(0))[1].tolist()) == {2}


def test_a_full_grid_is_a_clear_error():
    (pb, pl), _ = grid_pairs(4, 3, 1.1, 0)
    with pytest.raises(BookembedError, match=r"^could not draw negatives: nearly every \(book, link\) pair is a true pair$"):
        NonPairSampler(pb, pl, 4, 3).draw(5, np.random.default_rng(0))


# ---------------------------------------------------------------- compiled paths give NumPy's results


def test_compiled_hash_test_equals_numpy_on_large_ids():
    from bookembed.kernels import hashed_pair_hits

    rng = np.random.default_rng(21)
    pb = rng.integers(0, 2_000_000, 40_000).astype(np.int32)
    pl = rng.integers(0, 2_000_000, 40_000).astype(np.int32)
    words, bits = pair_bitmap(pb, pl)
    qb = np.concatenate([pb, rng.integers(0, 2_000_000, 40_000).astype(np.int32)])
    ql = np.concatenate([pl, rng.integers(0, 2_000_000, 40_000).astype(np.int32)])
    h = (qb.astype(np.int64) * 2654435761 + ql.astype(np.int64) * 40503) & ((1 << bits) - 1)
    expected = ((words.view(np.uint32)[h >> 5] >> (h & 31).astype(np.uint32)) & 1).astype(bool)
    got = hashed_pair_hits(words.view(np.uint32), bits, qb, ql, np.empty(len(qb), bool))
    assert got[:40_000].all() and 0 < got[40_000:].sum() < 40_000
    assert np.array_equal(got, expected)
    assert np.array_equal(maybe_true_pair(words, bits, qb, ql), expected)  # 80,000 draws: the compiled path


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_guided_search_is_searchsorted_exactly_with_ties_and_zero_weights(seed):
    from bookembed.kernels import guided_search

    rng = np.random.default_rng(seed)
    weights = rng.pareto(1.0, 3000)
    weights[rng.random(3000) < 0.2] = 0.0  # repeated CDF entries
    weights[:5] = 0.0
    weights[-7:] = 0.0
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    guide = np.searchsorted(cdf, np.arange(len(cdf) + 1) / len(cdf), side="right").astype(np.int64)
    # uniform draws, every CDF value itself, its neighbours either side, bucket edges and the range's ends
    draws = np.concatenate([rng.random(200_000), cdf, np.nextafter(cdf, 0), np.nextafter(cdf, 2),
                            np.arange(len(cdf)) / len(cdf), np.nextafter(np.arange(len(cdf)) / len(cdf), 0),
                            [0.0, np.nextafter(1.0, 0.0)]])
    draws = draws[(draws >= 0) & (draws < 1)]
    got = guided_search(cdf, guide, draws, np.empty(len(draws), np.int32))
    assert np.array_equal(got, np.searchsorted(cdf, draws, side="right"))


def test_large_weighted_draws_take_the_compiled_path_and_keep_the_stream():
    """Above ``COMPILED_MIN_DRAWS`` a draw gives what NumPy alone gives for the same generator state."""
    from bookembed import sampling

    (pb, pl), grid = grid_pairs(300, 200, 0.05, 11)
    weights = np.random.default_rng(12).pareto(1.5, 200)
    weights[::17] = 0.0
    sampler = NonPairSampler(pb, pl, 300, 200, link_weights=weights)
    n = 3 * sampling.COMPILED_MIN_DRAWS
    books, links = sampler.draw(n, np.random.default_rng(13))
    assert not grid[books, links].any() and links.dtype == np.int32 and weights[links].min() > 0

    class NumpyOnly(NonPairSampler):
        def draw(self, n, rng):
            old = sampling.COMPILED_MIN_DRAWS
            sampling.COMPILED_MIN_DRAWS = 1 << 62
            try:
                return super().draw(n, rng)
            finally:
                sampling.COMPILED_MIN_DRAWS = old

    ref_books, ref_links = NumpyOnly(pb, pl, 300, 200, link_weights=weights).draw(n, np.random.default_rng(13))
    assert np.array_equal(books, ref_books) and np.array_equal(links, ref_links)


# ---------------------------------------------------------------- the SGD kernel's own draws


def kernel_draws(pb, pl, n_books, n_links, lo, hi, negatives=2, key=7, weights=None, order=None):
    from bookembed.kernels import draw_positions

    sampler = NonPairSampler(pb, pl, n_books, n_links, link_weights=weights)
    order = np.arange(len(pb), dtype=np.int32) if order is None else order
    return draw_positions(order, lo, hi, negatives, np.uint64(key), pb, pl, *sampler.tables())


def alias_shares(table: np.ndarray) -> np.ndarray:
    """The chance of each index under a packed alias table (``kernels.alias_table``), read back exactly:
    a uniform entry i keeps i with its threshold's chance and otherwise gives its alias."""
    threshold = (table >> np.uint64(32)).astype(np.float64) / 2 ** 32
    alias = (table & np.uint64(0xFFFFFFFF)).astype(np.int64)
    return (threshold + np.bincount(alias, weights=1 - threshold, minlength=len(table))) / len(table)


def test_alias_table_gives_each_index_exactly_its_share():
    """Walker's table, read back: i's chance is its own threshold plus what the others alias to it."""
    from bookembed.kernels import alias_table

    rng = np.random.default_rng(3)
    for weights in (rng.pareto(1.0, 5000), np.array([0.0, 1.0, 0.0, 3.0]), np.ones(7), np.array([1e-300, 1.0])):
        assert np.allclose(alias_shares(alias_table(weights)), weights / weights.sum(), atol=1e-8)


WEIGHT_VECTORS = [
    np.arange(12, dtype=np.float64),  # a zero first, then growing: easily told from its running sum
    np.array([0.0, 3.0, 1.0, 0.0, 6.0, 2.0, 0.0, 8.0]),
    np.array([5.0, 0.0, 0.0]),
    np.array([0.0, 0.0, 7.0]),
    np.array([1e-6, 1.0, 1e6, 3.0]),
    np.ones(9) * 0.37,
    np.random.default_rng(4).pareto(1.0, 300) ** 0.75,
    np.bincount(np.random.default_rng(5).zipf(1.6, 2000) % 200, minlength=200) ** 0.75,
]


@pytest.mark.parametrize("weights", WEIGHT_VECTORS, ids=lambda w: f"{len(w)}-links")
def test_the_samplers_kernel_table_gives_each_link_exactly_its_weights_share(weights):
    """What ``tables()`` hands the SGD kernel: an alias table whose chances are the link weights,
    normalised, to within the table's 2**-32 resolution (not, say, the running sum of the weights)."""
    n_links = len(weights)
    pb, pl = np.array([0, 1], np.int32), np.array([0, n_links - 1], np.int32)
    n_books, n, alias, words, log_bits = NonPairSampler(pb, pl, 3, n_links, link_weights=weights).tables()
    assert (n_books, n) == (3, n_links)
    assert alias.dtype == np.uint64 and alias.shape == (n_links,)
    share = alias_shares(alias)
    np.testing.assert_allclose(share, weights / weights.sum(), rtol=0, atol=1e-9)
    assert np.all(share[weights == 0] == 0), "a link of weight zero is never drawn"
    # the scale of the weights does not matter
    scaled = NonPairSampler(pb, pl, 3, n_links, link_weights=weights * 1000.0).tables()[2]
    np.testing.assert_allclose(alias_shares(scaled), share, rtol=0, atol=1e-9)


def test_the_samplers_kernel_table_is_empty_for_uniform_links():
    n_books, n_links, alias, words, log_bits = NonPairSampler(np.array([0], np.int32), np.array([0], np.int32),
                                                              4, 6).tables()
    assert (n_books, n_links) == (4, 6) and alias.dtype == np.uint64 and alias.shape == (0,)
    assert words.dtype == np.uint32 and len(words) * 32 == 2**log_bits


def test_many_kernel_draws_follow_the_link_weights_not_their_running_sum():
    """30,000 kernel negatives on a sparse grid: links in proportion to weights i (a chi-square with a
    fixed key); weights i (i + 1) / 2, the running sum, fail the same test by far."""
    (pb, pl), grid = grid_pairs(300, 12, 0.02, 11)
    weights = np.arange(12, dtype=np.float64)
    order = np.arange(len(pb), dtype=np.int32)
    negatives = 30_000 // len(pb) + 1
    books, links, positive = kernel_draws(pb, pl, 300, 12, 0, len(pb), negatives=negatives, weights=weights,
                                          order=order)
    nb, nl = books[~positive], links[~positive]
    assert not grid[nb, nl].any() and not (nl == 0).any()
    counts = np.bincount(nl, minlength=12)[1:]
    free = (~grid).sum(axis=0)[1:]  # each link's non-pair cells: true pairs are redrawn

    def chi2(w):
        expected = free * w / (free * w).sum() * len(nl)
        return float(((counts - expected) ** 2 / expected).sum())

    assert chi2(weights[1:]) < 40  # 10 degrees of freedom: 40 is far in the tail
    assert chi2(np.cumsum(weights)[1:]) > 400


def test_kernel_draws_never_give_a_true_pair_and_follow_the_link_weights():
    """The kernel draws by the sampler's rule: after each positive, non-pairs only; books uniform,
    links in proportion to the weights (a zero-weight link never)."""
    (pb, pl), grid = grid_pairs(40, 12, 0.3, 1)
    weights = np.arange(12, dtype=np.float64)  # link 0 never, link 11 eleven times link 1
    order = np.random.default_rng(0).permutation(len(pb)).astype(np.int32)
    books, links, positive = kernel_draws(pb, pl, 40, 12, 0, len(pb), negatives=3, weights=weights, order=order)
    assert books.dtype == links.dtype == np.int32 and len(books) == 4 * len(pb)
    assert np.array_equal(positive, np.tile([True, False, False, False], len(pb)))
    assert np.array_equal(books[positive], pb[order]) and np.array_equal(links[positive], pl[order])
    nb, nl = books[~positive], links[~positive]
    assert not grid[nb, nl].any(), "a true pair was drawn as a negative"
    assert not (nl == 0).any()
    # links: the share of non-pair cells each link has, times its weight
    free = (~grid).sum(axis=0) * weights
    expected = free / free.sum() * len(nl)
    counts = np.bincount(nl, minlength=12)
    chi2 = ((counts[1:] - expected[1:]) ** 2 / expected[1:]).sum()
    assert chi2 < 40, chi2  # 10 degrees of freedom: 40 is far in the tail
    per_book = np.bincount(nb, minlength=40)
    assert per_book.min() > 0


def test_kernel_draws_depend_on_the_key_and_position_only():
    """However the positions are cut, the same examples come out; another key gives other negatives."""
    rng = np.random.default_rng(2)
    pb = rng.integers(0, 300, 5000).astype(np.int32)
    pl = rng.integers(0, 200, 5000).astype(np.int32)
    keys = np.unique(pb.astype(np.int64) * 200 + pl)
    pb, pl = (keys // 200).astype(np.int32), (keys % 200).astype(np.int32)
    n = len(pb)
    whole = kernel_draws(pb, pl, 300, 200, 0, n)
    for cut in (1, 511, 512, 1777, n - 1):
        parts = [kernel_draws(pb, pl, 300, 200, lo, hi) for lo, hi in ((0, cut), (cut, n))]
        for a, b, c in zip(whole, *parts):
            assert np.array_equal(a, np.concatenate([b, c]))
    other = kernel_draws(pb, pl, 300, 200, 0, n, key=8)
    assert np.array_equal(whole[0][whole[2]], other[0][other[2]])  # the positives are the order's
    assert (whole[0][~whole[2]] != other[0][~other[2]]).mean() > 0.9


def test_kernel_refuses_a_full_grid():
    from bookembed.kernels import draw_positions, sgd_span

    (pb, pl), _ = grid_pairs(4, 3, 1.1, 0)
    tables = NonPairSampler(pb, pl, 4, 3).tables()
    order = np.arange(len(pb), dtype=np.int32)
    _, failed = sgd_span(np.full((4, 2), 0.1, np.float32), np.full((3, 2), 0.1, np.float32), pb, pl, order, 0,
                         len(pb), 1, -1.0, 1, tables, 0.05, np.zeros(2), False)
    assert failed == len(pb)
    assert draw_positions(order, 0, 2, 1, np.uint64(1), pb, pl, *tables)[2].tolist() == [True, False, True, False]


def test_shuffle_is_a_permutation_fixed_by_its_key_and_every_order_equally_likely():
    from collections import Counter

    from bookembed.kernels import shuffle

    values = np.arange(10_000, dtype=np.int32) * 3
    once = shuffle(values, np.uint64(9))
    assert once.dtype == np.int32 and np.array_equal(np.sort(once), values)
    assert np.array_equal(values, np.arange(10_000, dtype=np.int32) * 3), "the input is left alone"
    assert np.array_equal(shuffle(values, np.uint64(9)), once)
    assert (shuffle(values, np.uint64(10)) != once).mean() > 0.99
    counts = Counter(tuple(shuffle(np.arange(4), np.uint64(k)).tolist()) for k in range(24_000))
    assert len(counts) == 24
    chi2 = sum((c - 1000) ** 2 / 1000 for c in counts.values())
    assert chi2 < 60, chi2  # 23 degrees of freedom
    assert shuffle(np.arange(1), np.uint64(1)).tolist() == [0] and len(shuffle(np.arange(0), np.uint64(1))) == 0


@pytest.mark.parametrize("n", [1, 1000, 70_000], ids=["one", "numpy-route", "compiled-route"])
@pytest.mark.parametrize("weighted", [False, True], ids=["uniform", "weighted"])
def test_draws_are_int32_ids_in_range_on_either_route(n, weighted):
    """``draw`` promises int32 arrays of shape (n,), below and above the size where the compiled search takes over."""
    pb, pl = np.array([0, 1], np.int32), np.array([0, 1], np.int32)
    weights = np.arange(1, 41, dtype=np.float64) if weighted else None
    books, links = NonPairSampler(pb, pl, 30, 40, link_weights=weights).draw(n, np.random.default_rng(3))
    for ids, top in ((books, 30), (links, 40)):
        assert ids.dtype == np.int32 and ids.shape == (n,)
        assert ids.min() >= 0 and ids.max() < top
