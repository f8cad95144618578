"""Which true pairs an epoch trains on, and where training starts from: the quality levers of issue 22.

By default an epoch trains every training pair once, from Keras's random
start (``training.initial_weights``). Four ``TrainConfig`` settings change
that; each is off by default and measured in ``benchmarks/bench_quality.py
--levers`` (docs/quality.md has the figures):

* ``positive_idf_power`` a > 0: an epoch draws as many positives as there are
  training pairs, with replacement, pair (b, l) with chance proportional to
  ``idf(l) ** a`` (``positive_weights``), so pairs through rare, telling links
  train more often than pairs through pages every book links to. ``idf`` is
  TF-IDF's smooth one, ``log((1 + n_books) / (1 + books linking to l)) + 1``,
  from the training pairs only.
* ``second_order_share`` s > 0: an epoch also trains ``round(s * n_train)``
  pairs two hops away (``second_order_pairs``): from a training pair (b, l),
  drawn with chance proportional to ``idf(l)``, step to another book b' that
  links to l, then to one of b''s links l''; (b, l'') is trained as a true
  pair. Books that share rare links thereby pull each other's links in.
* ``init`` "svd-tfidf": both tables start from the truncated SVD of the TF-IDF
  weighted training matrix (``spectral_start``), each row scaled to the random
  start's expected length; rows with no training pair keep the random start.
* ``join`` "svd-tfidf": the trained vectors, each row scaled to unit length,
  are joined column-wise with the same SVD's unit rows (``join_spectral``);
  the cosine of two joined rows is the mean of the two cosines.

Everything here reads the training pairs only, never the held-out ones. A
second-order pair may still be a held-out pair, when the training graph
reaches it in two hops: that is a prediction made from training pairs alone
(as a user's corpus would make it), so it is not filtered out; filtering it
would let the held-out pairs steer training.

How each grows, for n training pairs, B books, L links, d dimensions (no
step builds a book × book or link × link matrix, so nothing is quadratic):

* idf positives: O(n + L) time and memory an epoch for the weights, plus
  O(n log n) for drawing n pairs by them.
* second-order pairs: two CSR groupings of the training pairs an epoch
  (O(n log n) time, O(n + B + L) memory) and O(s · n) for s · n walks; the
  epoch then trains (1 + s) · n positives, so SGD's time grows by 1 + s.
* spectral start and join: one randomized truncated SVD of the sparse
  B × L training matrix, O(n · d + (B + L) · d²) time a pass (scikit-learn's
  7 passes), O(n + (B + L) · d) memory; once a training run. Join doubles
  the stored vectors' length and every later cosine's cost.
"""

from __future__ import annotations

import numpy as np

from bookembed.errors import BookembedError
from bookembed.vectors import unit_rows

INIT_LIMIT = 0.05
"""Keras's ``Embedding`` initializer is ``RandomUniform(-0.05, 0.05)``; training's random start uses it too."""

INITS = ("random", "svd-tfidf")
JOINS = ("none", "svd-tfidf")


def link_idf(train_links: np.ndarray, n_books: int, n_links: int) -> np.ndarray:
    """TF-IDF's smooth inverse book frequency of each link, from the training pairs.

    Returns
    -------
    ndarray of float64, shape (n_links,)
        ``log((1 + n_books) / (1 + books linking to the link)) + 1``.
    """
    df = np.bincount(np.asarray(train_links, np.int64), minlength=int(n_links)).astype(np.float64)
    return np.log((1.0 + n_books) / (1.0 + df)) + 1.0


def positive_weights(train_links: np.ndarray, n_books: int, n_links: int, power: float) -> np.ndarray:
    """Each training pair's chance of being an epoch's positive: ``idf(link) ** power``, normalised.

    Parameters
    ----------
    train_links : ndarray of int, shape (n_train,)
        The link of each training pair.
    power : float

    Returns
    -------
    ndarray of float64, shape (n_train,)
        Sums to 1.
    """
    weights = link_idf(train_links, n_books, n_links)[np.asarray(train_links, np.int64)] ** float(power)
    return weights / weights.sum()


def _neighbours(keys: np.ndarray, values: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR of ``values`` grouped by ``keys``: (starts of shape (n_keys + 1,), values sorted by key)."""
    order = np.argsort(keys, kind="stable")
    starts = np.zeros(int(n_keys) + 1, np.int64)
    np.cumsum(np.bincount(keys, minlength=int(n_keys)), out=starts[1:])
    return starts, np.asarray(values)[order]


def second_order_pairs(train_books: np.ndarray, train_links: np.ndarray, n_books: int, n_links: int, count: int,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` pairs two hops away in the training graph: book b, via a link l and a book b', to l''.

    The first hop is a training pair (b, l) drawn with chance proportional to
    ``idf(l)``; b' is a training book of l drawn uniformly (b itself when l has
    no other book); l'' is one of b''s training links drawn uniformly.

    Returns
    -------
    books, links : ndarray of int32, shape (count,)
    """
    tb = np.asarray(train_books, np.int64)
    tl = np.asarray(train_links, np.int64)
    if count <= 0 or len(tb) == 0:
        return np.empty(0, np.int32), np.empty(0, np.int32)
    link_start, link_books = _neighbours(tl, tb, n_links)
    book_start, book_links = _neighbours(tb, tl, n_books)
    first = rng.choice(len(tb), size=int(count), p=positive_weights(tl, n_books, n_links, 1.0))
    b, l = tb[first], tl[first]
    # b' uniform among l's other books: draw from all but one slot, and
    # let the last slot stand in for b's own (a pair is listed once)
    degree = link_start[l + 1] - link_start[l]
    slot = link_start[l] + rng.integers(0, np.maximum(degree - 1, 1))
    other = link_books[slot]
    other = np.where((other == b) & (degree > 1), link_books[link_start[l] + degree - 1], other)
    degree2 = book_start[other + 1] - book_start[other]
    far = book_links[book_start[other] + rng.integers(0, degree2)]
    return b.astype(np.int32), far.astype(np.int32)


def epoch_positives(pair_books: np.ndarray, pair_links: np.ndarray, train_idx: np.ndarray, n_books: int,
                    n_links: int, idf_power: float, second_order_share: float,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray] | None:
    """The (book, link) positives of one epoch, unshuffled; None when every training pair trains once.

    Returns
    -------
    books, links : ndarray of int32, shape (n_train + round(second_order_share * n_train),)
        ``n_train`` pairs drawn with replacement by ``positive_weights`` (or
        every training pair once, when ``idf_power`` is 0), then the
        ``second_order_pairs``.
    """
    if idf_power == 0 and second_order_share == 0:
        return None
    tb, tl = pair_books[train_idx], pair_links[train_idx]
    if idf_power != 0:
        chosen = rng.choice(len(tb), size=len(tb), p=positive_weights(tl, n_books, n_links, idf_power))
        books, links = tb[chosen], tl[chosen]
    else:
        books, links = tb, tl
    extra_b, extra_l = second_order_pairs(tb, tl, n_books, n_links, int(round(second_order_share * len(tb))), rng)
    return (np.concatenate([books, extra_b]).astype(np.int32), np.concatenate([links, extra_l]).astype(np.int32))


def _spectral(pair_books, pair_links, train_idx, n_books: int, n_links: int, dim: int, seed: int):
    from bookembed.baselines import svd_vectors, training_matrix

    matrix = training_matrix(pair_books[train_idx], pair_links[train_idx], n_books, n_links)
    if min(matrix.shape) < 2:
        raise BookembedError(f"a {n_books} × {n_links} corpus is too small for an SVD start or join")
    return svd_vectors(matrix, dim, tfidf=True, seed=seed)


def _scaled_rows(vectors: np.ndarray, length: float, fallback: np.ndarray) -> np.ndarray:
    """Each row scaled to ``length``; an all-zero row is ``fallback``'s row instead."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    out = np.where(norms > 0, vectors * (length / np.maximum(norms, 1e-30)), fallback)
    return out.astype(np.float32)


def spectral_start(pair_books: np.ndarray, pair_links: np.ndarray, train_idx: np.ndarray, n_books: int,
                   n_links: int, random_books: np.ndarray, random_links: np.ndarray,
                   seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Start vectors from the TF-IDF SVD of the training pairs (``baselines.svd_vectors``), rows rescaled.

    Each nonzero SVD row is scaled to the random start's expected length,
    ``INIT_LIMIT * sqrt(dim / 3)``, so SGD's steps (which shrink as rows grow)
    are the size they are from the random start.

    Parameters
    ----------
    random_books : ndarray of float32, shape (n_books, dim)
    random_links : ndarray of float32, shape (n_links, dim)
        The random start, kept for rows the SVD leaves at zero.

    Returns
    -------
    book_vectors : ndarray of float32, shape (n_books, dim)
    link_vectors : ndarray of float32, shape (n_links, dim)
    """
    dim = random_books.shape[1]
    books, links = _spectral(pair_books, pair_links, train_idx, n_books, n_links, dim, seed)
    length = INIT_LIMIT * np.sqrt(dim / 3.0)
    return _scaled_rows(books, length, random_books), _scaled_rows(links, length, random_links)


def join_spectral(book_vectors: np.ndarray, link_vectors: np.ndarray, pair_books: np.ndarray,
                  pair_links: np.ndarray, train_idx: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Trained unit rows beside the TF-IDF SVD's unit rows (as many columns again).

    Returns
    -------
    book_vectors : ndarray of float32, shape (n_books, 2 * dim)
    link_vectors : ndarray of float32, shape (n_links, 2 * dim)
    """
    n_books, dim = book_vectors.shape
    svd_books, svd_links = _spectral(pair_books, pair_links, train_idx, n_books, link_vectors.shape[0], dim, seed)
    return (np.hstack([unit_rows(book_vectors), unit_rows(svd_books)]),
            np.hstack([unit_rows(link_vectors), unit_rows(svd_links)]))
