"""Compiled inner loops (numba) of training and its sampler; imported only when needed.

Training is per-example SGD, word2vec's way: ``sgd_positions`` walks an
epoch's shuffled training pairs, follows each positive with its negatives,
which it draws itself (``_draw_block``: ``sampling.NonPairSampler``'s rule,
from the sampler's ``tables()``), and updates the two rows of each example in
place. The loss and its gradient are the model's, the same closed form as
``training.loss_and_gradients`` (a test checks one step against it).

``sgd_span`` runs it on one thread, so a seed gives the same vectors every
run, or cuts the positions into one contiguous shard per thread and lets the
threads update the shared vectors without locks (Hogwild, as word2vec and
fastText do): two threads rarely touch the same row at once, and when they
do, one update may be lost, which SGD shrugs off. Each thread draws its own
shard's negatives, and a negative depends only on the epoch's key and its
position, so the draws are the same on any number of threads. Everything
releases the GIL.

``sgd_pass`` trains over examples already laid out (tests and benchmarks).
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from bookembed.pairhash import HASH_B, HASH_L

PREFETCH_AHEAD = 8
"""Examples ahead whose two rows the SGD loop asks the CPU to fetch (``_prefetch``). A row is a
random one of a table far larger than the core's caches, so without it each example waits for its
rows from memory. ``benchmarks/bench_threads.py --books 300000`` measures it: one thread ran far more
examples a second (float32 arithmetic included; docs/training.md has the figures).
4, 8 and 16 ahead measured alike in a one-off
comparison on random examples. A prefetch is only a hint: every result is unchanged."""


def _prefetch_codegen(context, builder, signature, args):
    """Code for ``_prefetch`` and ``_prefetch_at``: the element's address, then ``llvm.prefetch`` (read, keep, data)."""
    array_type, *index_types = signature.args
    view = context.make_array(array_type)(context, builder, args[0])
    at = [context.cast(builder, value, kind, types.intp) for value, kind in zip(args[1:], index_types)]
    pointer = cgutils.get_item_pointer(context, builder, array_type, view, at, wraparound=False)
    byte = ir.IntType(8).as_pointer()
    hint = builder.module.declare_intrinsic(
        "llvm.prefetch", fnty=ir.FunctionType(ir.VoidType(), [byte] + [ir.IntType(32)] * 3))
    builder.call(hint, [builder.bitcast(pointer, byte), *(ir.Constant(ir.IntType(32), v) for v in (0, 3, 1))])
    return context.get_dummy_value()


@intrinsic
def _prefetch(typingctx, array, row, col):
    """Hint the CPU to bring ``array[row, col]``'s cache line in (LLVM's ``llvm.prefetch``)."""
    return types.void(array, row, col), _prefetch_codegen


@intrinsic
def _prefetch_at(typingctx, array, index):
    """``_prefetch`` for an element of a one-dimensional array."""
    return types.void(array, index), _prefetch_codegen


@numba.njit(cache=True, nogil=True, inline="always")
def _fetch_rows(book_vectors, link_vectors, b, l):  # pragma: no cover - compiled
    """Prefetch every cache line of book row ``b`` and link row ``l`` (16 float32 a line)."""
    dim = book_vectors.shape[1]
    for d in range(0, dim, 16):
        _prefetch(book_vectors, b, d)
        _prefetch(link_vectors, l, d)
    _prefetch(book_vectors, b, dim - 1)  # a row need not start on a line
    _prefetch(link_vectors, l, dim - 1)


@numba.njit(cache=True, nogil=True, inline="always")
def _update(book_vectors, link_vectors, b, l, y_true, lr, head, classify):  # pragma: no cover - compiled
    """One example's SGD step on its two rows (and the head); returns its loss.

    The rows' sums and updates run in float32, the vectors' own type, in a
    fixed order (no fast-math), so a seed gives the same vectors on every
    machine; float64 here cost clearly more time (converting every element)
    for digits the float32 vectors cannot keep.
    """
    dim = book_vectors.shape[1]
    sb = np.float32(0.0)
    sl = np.float32(0.0)
    dot = np.float32(0.0)
    for d in range(dim):
        x = book_vectors[b, d]
        y = link_vectors[l, d]
        sb += x * x
        sl += y * y
        dot += x * y
    # Dot(normalize=True) divides by sqrt(max(|x|^2, 1e-12))
    ib = np.float32(1.0) / np.sqrt(max(sb, np.float32(1e-12)))
    il = np.float32(1.0) / np.sqrt(max(sl, np.float32(1e-12)))
    cos = dot * ib * il
    if classify:
        z = head[0] * cos + head[1]
        # binary cross-entropy from the logit, computed stably (float64: the head is a float64 pair)
        loss = max(z, 0.0) - z * y_true + np.log1p(np.exp(-abs(z)))
        dz = 1.0 / (1.0 + np.exp(-z)) - y_true
        dcos = np.float32(dz * head[0])
        head[0] -= lr * dz * cos
        head[1] -= lr * dz
    else:
        err = cos - np.float32(y_true)
        loss = np.float64(err * err)
        dcos = np.float32(2.0) * err
    g = np.float32(lr) * dcos
    gb = g * ib
    gl = g * il
    for d in range(dim):
        bh = book_vectors[b, d] * ib
        lh = link_vectors[l, d] * il
        book_vectors[b, d] -= gb * (lh - cos * bh)
        link_vectors[l, d] -= gl * (bh - cos * lh)
    return loss


@numba.njit(cache=True, nogil=True)
def sgd_pass(book_vectors, link_vectors, books, links, labels, lr, head, classify):  # pragma: no cover - compiled
    """Update rows in place for each example in order; returns the mean loss.

    Parameters
    ----------
    book_vectors : ndarray, float32, shape (n_books, dim)
    link_vectors : ndarray, float32, shape (n_links, dim)
    books, links : ndarray, int32, shape (n,)
    labels : ndarray, float32, shape (n,)
        +1/-1 (regression) or 1/0 (classification).
    lr : float
        Step size on each example's loss.
    head : ndarray, float64, shape (2,)
        The classification head's (kernel, bias), updated in place; unused for regression.
    classify : bool
    """
    total = 0.0
    n = books.shape[0]
    for i in range(n):
        if i + PREFETCH_AHEAD < n:
            _fetch_rows(book_vectors, link_vectors, books[i + PREFETCH_AHEAD], links[i + PREFETCH_AHEAD])
        total += _update(book_vectors, link_vectors, books[i], links[i], labels[i], lr, head, classify)
    return total / max(n, 1)


_U = np.uint64


@numba.njit(cache=True, nogil=True, inline="always")
def _mix64(z):  # pragma: no cover - compiled
    """SplitMix64's finaliser: a bijection of 64-bit words that scatters every input bit."""
    z = (z ^ (z >> _U(30))) * _U(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> _U(27))) * _U(0x94D049BB133111EB)
    return z ^ (z >> _U(31))


@numba.njit(cache=True, nogil=True, inline="always")
def _guided(cdf, guide, u):  # pragma: no cover - compiled
    """The first entry of ``cdf`` above ``u`` (``searchsorted(side="right")``), from ``u``'s guide bucket."""
    n = cdf.shape[0]
    buckets = guide.shape[0] - 1
    j = min(max(int(u * buckets), 0), buckets)
    i = guide[j]
    while i < n and cdf[i] <= u:
        i += 1
    while i > 0 and cdf[i - 1] > u:
        i -= 1
    return i


@numba.njit(cache=True, nogil=True, inline="always")
def _candidate(state, n_books, n_links, alias):  # pragma: no cover - compiled
    """The next draw of a SplitMix64 stream: (new state, book, link).

    A uniform book, and a link uniform (``alias`` empty) or by Walker's alias
    table (``alias_table``): one read of one word a draw and no branch, where
    a search of the cumulative weights makes two dependent reads and a
    mispredicted branch (several times slower a draw at 116,000 links,
    measured; docs/training.md). The distribution is ``sampling.NonPairSampler``'s.
    """
    state = state + _U(0x9E3779B97F4A7C15)
    b = np.int64(((_mix64(state) >> _U(32)) * _U(n_books)) >> _U(32))
    state = state + _U(0x9E3779B97F4A7C15)
    r = _mix64(state)
    l = np.int64(((r >> _U(32)) * _U(n_links)) >> _U(32))
    if alias.shape[0] > 0:
        entry = alias[l]
        l = l if (r & _U(0xFFFFFFFF)) < (entry >> _U(32)) else np.int64(entry & _U(0xFFFFFFFF))
    return state, b, l


@numba.njit(cache=True, nogil=True)
def alias_table(weights):  # pragma: no cover - compiled
    """Walker's alias table for drawing index i with chance ``weights[i] / weights.sum()`` (Vose's build, O(n)).

    Entry i packs, in one uint64, a threshold (high 32 bits, a probability
    in units of 2**-32) and an alias (low 32 bits): a draw picks i uniformly
    and keeps it if 32 fresh random bits fall below the threshold, else takes
    the alias.
    """
    n = weights.shape[0]
    scaled = weights * (n / weights.sum())
    small = np.empty(n, np.int64)
    large = np.empty(n, np.int64)
    ns = 0
    nl = 0
    for i in range(n):
        if scaled[i] < 1.0:
            small[ns] = i
            ns += 1
        else:
            large[nl] = i
            nl += 1
    threshold = np.ones(n)
    alias = np.arange(n)
    while ns > 0 and nl > 0:
        ns -= 1
        s = small[ns]
        g = large[nl - 1]
        threshold[s] = scaled[s]
        alias[s] = g
        scaled[g] = (scaled[g] + scaled[s]) - 1.0
        if scaled[g] < 1.0:
            nl -= 1
            small[ns] = g
            ns += 1
    # what is left is 1 up to rounding: always kept (its alias is itself)
    out = np.empty(n, np.uint64)
    for i in range(n):
        if threshold[i] >= 1.0:
            out[i] = (_U(0xFFFFFFFF) << _U(32)) | _U(i)
        else:
            out[i] = (_U(max(threshold[i], 0.0) * 4294967296.0) << _U(32)) | _U(alias[i])
    return out


@numba.njit(cache=True, nogil=True, inline="always")
def _pair_bit(mask, b, l):  # pragma: no cover - compiled
    """The bit (b, l) hashes onto in the pair bitmap (``pairhash.HASH_B``, ``HASH_L``)."""
    return (np.int64(b) * np.int64(HASH_B) + np.int64(l) * np.int64(HASH_L)) & mask


@numba.njit(cache=True, nogil=True, inline="always")
def _maybe_pair(words, mask, b, l):  # pragma: no cover - compiled
    """Whether (b, l) hashes onto a set bit of the pair bitmap (every true pair does)."""
    h = _pair_bit(mask, b, l)
    return ((words[h >> 5] >> np.uint32(h & 31)) & np.uint32(1)) != 0


@numba.njit(cache=True, nogil=True)
def _draw_block(first, count, per, order, pair_books, pair_links, key, n_books, n_links, alias, words,
                log_bits, books, links, positive, at, states, where):  # pragma: no cover - compiled
    """Draw the examples of the positives at positions ``first`` to ``first + count - 1`` into ``books[at:]``...

    Each position's positive comes first, then its ``per - 1`` negatives, non-pairs
    by ``sampling.NonPairSampler``'s rule (redrawn while their bit is set in the
    Bloom bitmap ``words``). Each negative has a SplitMix64 stream of its own,
    started from the epoch's ``key`` and its example number (position × ``per``
    + place), so an example depends on the key and its position only, never
    on how the epoch is cut into spans, blocks, shards or threads.

    The block is drawn in passes (pairs, candidates, bitmap tests, redraws),
    each a tight loop whose memory reads the CPU overlaps; one draw at a time,
    each would wait for its reads in turn (several times slower, measured;
    docs/training.md).
    ``states`` and ``where`` are scratch of at least ``count * per`` entries.
    Returns the draws that gave up (1,000 set bits in a row).
    """
    mask = (np.int64(1) << log_bits) - 1
    e = at
    for i in range(first, first + count):
        p = order[i]
        books[e] = pair_books[p]
        links[e] = pair_links[p]
        positive[e] = True
        e += 1
        for k in range(1, per):
            state, b, l = _candidate(_mix64(key ^ _mix64(_U(i * per + k))), n_books, n_links, alias)
            _prefetch_at(words, _pair_bit(mask, b, l) >> 5)
            states[e - at] = state
            books[e] = b
            links[e] = l
            positive[e] = False
            e += 1
    end = e
    redraws = 0
    for e in range(at, end):
        hit = not positive[e] and _maybe_pair(words, mask, books[e], links[e])
        states[redraws] = states[e - at]
        where[redraws] = e
        redraws += hit
    failed = 0
    for r in range(redraws):
        e = where[r]
        state = states[r]
        b = np.int64(books[e])
        l = np.int64(links[e])
        tries = 1
        while _maybe_pair(words, mask, b, l) and tries < 1000:
            state, b, l = _candidate(state, n_books, n_links, alias)
            tries += 1
        failed += _maybe_pair(words, mask, b, l)
        books[e] = b
        links[e] = l
    return failed


BLOCK = 512
"""Positives whose examples a shard draws at once (``_draw_block``), one block ahead of the one it trains."""


@numba.njit(cache=True, nogil=True)
def sgd_positions(book_vectors, link_vectors, pair_books, pair_links, order, lo, hi, negatives, neg_label, key,
                  n_books, n_links, alias, words, log_bits, lr, head, classify, out):  # pragma: no cover
    """Train the positives at positions ``lo`` to ``hi - 1`` of ``order``, each followed by ``negatives`` drawn here.

    The training loop of an epoch, as word2vec's: the negatives are drawn
    here, a block (``BLOCK`` positives) ahead of the one being trained, and
    each example's two rows are asked for ``PREFETCH_AHEAD`` examples early,
    so an epoch is never laid out in memory.

    Parameters
    ----------
    pair_books, pair_links : ndarray of int32, shape (n_pairs,)
    order : ndarray of int32
        The epoch's shuffled training pairs.
    negatives : int
        Non-pairs per positive.
    neg_label : float32
        A negative's target (-1 or ``negative_target`` for regression, 0 to classify).
    key : uint64
        The epoch's key for its negatives.
    n_books, n_links, alias, words, log_bits
        ``sampling.NonPairSampler.tables()``.
    out : ndarray, float64, shape (2,)
        Receives the sum of the losses and the count of draws that gave up (1,000 set bits in a row).
    """
    per = 1 + negatives
    n = (hi - lo) * per
    size = 2 * BLOCK * per  # two blocks: the one being trained and the next
    books = np.empty(size, np.int32)
    links = np.empty(size, np.int32)
    positive = np.empty(size, np.bool_)
    states = np.empty(BLOCK * per, np.uint64)
    where = np.empty(BLOCK * per, np.int64)
    failed = 0
    total = 0.0
    drawn = 0  # positives drawn so far
    for j in range(n):
        if j % (BLOCK * per) == 0:
            # draw the block after the one starting here (the first time, this one too)
            while drawn < hi - lo and drawn * per < j + 2 * BLOCK * per:
                count = min(BLOCK, hi - lo - drawn)
                failed += _draw_block(lo + drawn, count, per, order, pair_books, pair_links, key, n_books, n_links,
                                      alias, words, log_bits, books, links, positive, (drawn * per) % size, states, where)
                drawn += count
        ahead = j + PREFETCH_AHEAD
        if ahead < n:
            _fetch_rows(book_vectors, link_vectors, books[ahead % size], links[ahead % size])
        slot = j % size
        total += _update(book_vectors, link_vectors, books[slot], links[slot],
                         np.float32(1.0) if positive[slot] else neg_label, lr, head, classify)
    out[0] += total
    out[1] += failed
    return out


@numba.njit(cache=True, nogil=True, parallel=True)
def _sgd_position_shards(book_vectors, link_vectors, pair_books, pair_links, order, lo, hi, negatives, neg_label,
                         key, n_books, n_links, alias, words, log_bits, lr, head, classify, shards,
                         out):  # pragma: no cover - compiled
    parts = np.zeros((shards, 2))
    for s in numba.prange(shards):
        sgd_positions(book_vectors, link_vectors, pair_books, pair_links, order, lo + s * (hi - lo) // shards,
                      lo + (s + 1) * (hi - lo) // shards, negatives, neg_label, key, n_books, n_links, alias,
                      words, log_bits, lr, head, classify, parts[s])
    out[0] += parts[:, 0].sum()
    out[1] += parts[:, 1].sum()
    return out


def sgd_span(book_vectors, link_vectors, pair_books, pair_links, order, lo: int, hi: int, negatives: int,
             neg_label: float, key: int, tables: tuple, lr: float, head, classify: bool, threads: int = 1):
    """``sgd_positions`` on ``threads`` threads, a contiguous shard of positions each, without locks.

    Returns
    -------
    (loss sum, draws that gave up) : tuple of float
    """
    out = np.zeros(2)
    args = (book_vectors, link_vectors, pair_books, pair_links, order, lo, hi, negatives, np.float32(neg_label),
            np.uint64(key), *tables, lr, head, classify)
    if threads <= 1:
        sgd_positions(*args, out)
    else:
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
        _sgd_position_shards(*args, threads, out)
    return float(out[0]), int(out[1])


SHUFFLE_AHEAD = 16
"""Swaps ahead whose far element ``shuffle`` asks the CPU to fetch."""


@numba.njit(cache=True, nogil=True)
def shuffle(values, key):  # pragma: no cover - compiled
    """A shuffled copy of ``values``: Fisher-Yates, swap i's partner drawn from ``key`` and i alone.

    Each partner is known ahead (it depends on the key and i, not on the
    values), so the element it names is asked for ``SHUFFLE_AHEAD`` swaps
    early: a swap in a large array otherwise waits on memory (NumPy's
    ``Generator.permutation``, which does not, is several times slower on
    millions of elements; docs/training.md).
    """
    out = values.copy()
    n = out.shape[0]
    for i in range(n - 1, 0, -1):
        ahead = i - SHUFFLE_AHEAD
        if ahead > 0:
            r = _mix64(key ^ _mix64(_U(ahead)))
            _prefetch_at(out, np.int64(((r >> _U(32)) * _U(ahead + 1)) >> _U(32)))
        r = _mix64(key ^ _mix64(_U(i)))
        j = np.int64(((r >> _U(32)) * _U(i + 1)) >> _U(32))
        t = out[i]
        out[i] = out[j]
        out[j] = t
    return out


@numba.njit(cache=True, nogil=True)
def draw_positions(order, lo, hi, negatives, key, pair_books, pair_links, n_books, n_links, alias, words,
                   log_bits):  # pragma: no cover - compiled
    """The examples ``sgd_positions`` trains on for positions ``lo`` to ``hi - 1``, laid out: (books, links, positive).

    The same draws in the same order, for tests and benchmarks (an epoch laid
    out this way and passed to ``sgd_pass`` trains exactly as
    ``sgd_positions`` does).
    """
    per = 1 + negatives
    n = (hi - lo) * per
    books = np.empty(n, np.int32)
    links = np.empty(n, np.int32)
    positive = np.empty(n, np.bool_)
    _draw_block(lo, hi - lo, per, order, pair_books, pair_links, key, n_books, n_links, alias, words, log_bits,
                books, links, positive, 0, np.empty(n, np.uint64), np.empty(n, np.int64))
    return books, links, positive


@numba.njit(cache=True, nogil=True)
def hashed_pair_hits(words, log_bits, books, links, out):  # pragma: no cover - compiled
    """``sampling.maybe_true_pair`` in one pass: ``out[i]`` is 1 where (books[i], links[i]) hits a set bit.

    Parameters
    ----------
    words : ndarray, uint32, shape (2**log_bits / 32,)
        ``sampling.pair_bitmap``'s words.
    log_bits : int
    books, links : ndarray of int, shape (n,)
    out : ndarray, bool, shape (n,)
    """
    mask = (np.int64(1) << log_bits) - 1
    for i in range(books.shape[0]):
        out[i] = _maybe_pair(words, mask, books[i], links[i])
    return out


@numba.njit(cache=True, nogil=True)
def guided_search(cdf, guide, draws, out):  # pragma: no cover - compiled
    """``np.searchsorted(cdf, draws, side="right")``, each draw starting from a guide table's bucket.

    A draw ``u`` in ``[0, 1)`` looks up bucket ``int(u * buckets)`` and walks
    from there to the first entry of ``cdf`` above it, and back while the one
    before is above it too, so the result is exactly searchsorted's (ties and
    zero-weight entries included) whatever the rounding of ``u * buckets``.
    About one or two reads of ``cdf`` per draw, where a binary search over
    400,000 entries makes nineteen scattered ones.

    Parameters
    ----------
    cdf : ndarray, float64, shape (n,)
        Non-decreasing.
    guide : ndarray, int64, shape (buckets + 1,)
        ``np.searchsorted(cdf, np.arange(buckets + 1) / buckets, side="right")``.
    draws : ndarray, float64, shape (m,)
    out : ndarray of int, shape (m,)
    """
    for t in range(draws.shape[0]):
        out[t] = _guided(cdf, guide, draws[t])
    return out
