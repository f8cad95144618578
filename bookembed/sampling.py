"""Which pairs train and which are held out, and the one sampler of non-pairs.

Evaluation draws the non-pairs that held-out pairs are scored against here,
Adam's epochs draw their negatives here, and the SGD kernel draws its own from
this sampler's ``tables()`` by the same rule: so "a random (book, link) pair
that is not a true pair" means one thing.

The test for "not a true pair" is a one-hash Bloom filter of the true pairs
(``pair_bitmap``). Every true pair sets its bit, so no true pair is ever
returned; about 1.5% of the non-pairs hash onto a set bit and are redrawn
needlessly, which thins the distribution evenly. One memory access per test,
where a binary search over 800,000 sorted keys costs about twenty.

Costs: building the bitmap is O(n_pairs) time and about 8 bytes per pair;
drawing n non-pairs is O(n) expected time.
"""

from __future__ import annotations

import numpy as np

from bookembed.errors import BookembedError
from bookembed.pairhash import HASH_B, HASH_L  # the pair hash, here and in the kernels


def split_heldout(
    pair_books: np.ndarray, pair_links: np.ndarray, share: float, rng: np.random.Generator
) -> np.ndarray:
    """Choose about ``share`` of the pairs to hold out of training.

    Only pairs whose book and link both have other pairs are eligible, and
    every book and link keeps at least one training pair (which may hold out
    slightly fewer than ``share``).

    Returns
    -------
    ndarray of bool, shape (n_pairs,)
        True for a held-out pair.
    """
    heldout = np.zeros(len(pair_books), dtype=bool)
    n_hold = int(round(share * len(pair_books)))
    if n_hold == 0:
        return heldout
    book_deg = np.bincount(pair_books)
    link_deg = np.bincount(pair_links)
    eligible = np.flatnonzero((book_deg[pair_books] >= 2) & (link_deg[pair_links] >= 2))
    if len(eligible) == 0:
        return heldout
    chosen = rng.choice(eligible, size=min(n_hold, len(eligible)), replace=False)
    heldout[chosen] = True
    # Degree >= 2 is not enough when several of a book's (or link's) pairs are
    # chosen: give each id whose pairs were all held out one of them back.
    # Returning a pair only adds training signal, so the link pass cannot undo
    # the book pass.
    for ids in (pair_books, pair_links):
        trained = np.bincount(ids[~heldout], minlength=int(ids.max()) + 1)
        starved = np.flatnonzero(heldout & (trained[ids] == 0))
        _, first = np.unique(ids[starved], return_index=True)
        heldout[starved[first]] = False
    return heldout


def pair_bitmap(pair_books: np.ndarray, pair_links: np.ndarray, bits: int | None = None) -> tuple[np.ndarray, int]:
    """Bitmap of hashed true pairs, as int32 words, and its log2 size in bits.

    Sized at about 64 bits per pair (at least 2**16, at most 2**31), so about
    1.5% of non-pairs hash onto a set bit.
    """
    n = max(1, len(pair_books))
    log_bits = bits or int(min(31, max(16, np.ceil(np.log2(n * 64)))))
    mask = (1 << log_bits) - 1
    h = (np.asarray(pair_books, np.int64) * HASH_B + np.asarray(pair_links, np.int64) * HASH_L) & mask
    words = np.zeros((1 << log_bits) // 32, dtype=np.uint32)
    np.bitwise_or.at(words, h >> 5, np.left_shift(np.uint32(1), (h & 31).astype(np.uint32)))
    return words.view(np.int32), log_bits


COMPILED_MIN_DRAWS = 65_536
"""From this many draws at once, the hash test and the weighted link draw run compiled
(``kernels.hashed_pair_hits``, ``kernels.guided_search``): the same results, several times faster
(``benchmarks/bench_sampler.py``); below, NumPy spares small runs numba's import."""


def maybe_true_pair(words: np.ndarray, log_bits: int, books: np.ndarray, links: np.ndarray) -> np.ndarray:
    """True where (book, link) hashes onto a set bit of ``pair_bitmap`` (every true pair does)."""
    if len(books) >= COMPILED_MIN_DRAWS:
        from bookembed.kernels import hashed_pair_hits

        return hashed_pair_hits(words.view(np.uint32), log_bits, np.asarray(books), np.asarray(links),
                                np.empty(len(books), dtype=bool))
    h = (np.asarray(books, np.int64) * HASH_B + np.asarray(links, np.int64) * HASH_L) & ((1 << log_bits) - 1)
    return ((words.view(np.uint32)[h >> 5] >> (h & 31).astype(np.uint32)) & 1).astype(bool)


class NonPairSampler:
    """Draws (book, link) pairs that are not true pairs.

    Books are drawn uniformly; links uniformly, or in proportion to
    ``link_weights`` (for example link frequency to the 0.75, as word2vec
    draws its negatives).

    Parameters
    ----------
    pair_books, pair_links : ndarray of int, shape (n_pairs,)
        Every true pair, held-out ones included: none may come back.
    n_books, n_links : int
    link_weights : ndarray of float, shape (n_links,), optional
        Relative chance of each link; uniform when None.
    """

    def __init__(
        self,
        pair_books: np.ndarray,
        pair_links: np.ndarray,
        n_books: int,
        n_links: int,
        link_weights: np.ndarray | None = None,
    ):
        self.n_books, self.n_links = int(n_books), int(n_links)
        self.words, self.log_bits = pair_bitmap(pair_books, pair_links)
        self.link_cdf = self.link_guide = None
        if link_weights is not None:
            weights = np.asarray(link_weights, dtype=np.float64)
            if weights.shape != (self.n_links,) or not np.all(weights >= 0) or not weights.sum() > 0:
                raise BookembedError(f"link_weights must be {self.n_links} non-negative numbers, not all zero")
            cdf = np.cumsum(weights)
            # divided by its own last entry, the CDF ends at exactly 1.0 (a sum of shares can end a hair
            # below, and a draw above it would fall on the last link even when its weight is zero)
            self.link_cdf = cdf / cdf[-1]
            # buckets for kernels.guided_search: one per link, each starting where searchsorted would
            self.link_guide = np.searchsorted(self.link_cdf, np.arange(self.n_links + 1) / self.n_links,
                                              side="right").astype(np.int64)

    def tables(self) -> tuple:
        """What the SGD kernel needs to draw non-pairs by this rule itself (``kernels.sgd_positions``).

        Returns
        -------
        (n_books, n_links, alias, words, log_bits)
            ``alias`` is Walker's alias table of the link weights
            (``kernels.alias_table``), empty when links are drawn uniformly;
            ``words`` the bitmap as uint32.
        """
        if self.link_cdf is None:
            alias = np.empty(0, dtype=np.uint64)
        else:
            from bookembed.kernels import alias_table

            alias = alias_table(np.diff(self.link_cdf, prepend=0.0))
        return self.n_books, self.n_links, alias, self.words.view(np.uint32), self.log_bits

    def _links(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if self.link_cdf is None:
            return rng.integers(0, self.n_links, n, dtype=np.int32)
        # the CDF ends at exactly 1.0 and draws are below 1: always a link with weight
        draws = rng.random(n)
        if n >= COMPILED_MIN_DRAWS:
            from bookembed.kernels import guided_search

            return guided_search(self.link_cdf, self.link_guide, draws, np.empty(n, dtype=np.int32))
        return np.searchsorted(self.link_cdf, draws, side="right").astype(np.int32)

    def draw(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` non-pairs, as (books, links), int32 arrays of shape (n,).

        Raises
        ------
        BookembedError
            When nearly every (book, link) pair is a true pair.
        """
        books = rng.integers(0, self.n_books, n, dtype=np.int32)
        links = self._links(n, rng)
        for _ in range(1000):
            hit = maybe_true_pair(self.words, self.log_bits, books, links)
            k = int(hit.sum())
            if k == 0:
                return books, links
            books[hit] = rng.integers(0, self.n_books, k, dtype=np.int32)
            links[hit] = self._links(k, rng)
        raise BookembedError("could not draw negatives: nearly every (book, link) pair is a true pair")
