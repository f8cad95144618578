"""Compiled inner loops (numba): SGD training, and choosing each row's top k; imported only when needed.

One pass over an arranged sequence of examples (each positive followed by its
negatives), updating the two rows of each example in place: the per-example
SGD of word2vec-style trainers. The loss and its gradient are the model's,
the same closed form as ``training.loss_and_gradients`` (a test checks one
step against it).

``sgd_pass`` runs on one thread, so a seed gives the same vectors every run.
``sgd_pass_parallel`` cuts the span into one contiguous shard per thread and
lets the threads update the shared vectors without locks (Hogwild, as
word2vec and fastText do): two threads rarely touch the same row at once,
and when they do, one update may be lost, which SGD shrugs off. Both release
the GIL.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from bookembed.sampling import HASH_B, HASH_L

PREFETCH_AHEAD = 8
"""Examples ahead whose two rows the SGD loop asks the CPU to fetch (``_prefetch``). A row is a
random one of a table far larger than the core's caches, so without it each example waits for its
rows from memory. ``benchmarks/bench_threads.py --books 300000``: one thread went from 1.91M to
4.90M examples/s (float32 arithmetic included). 4, 8 and 16 ahead measured alike in a one-off
comparison on random examples. A prefetch is only a hint: every result is unchanged."""


@intrinsic
def _prefetch(typingctx, array, row, col):
    """Hint the CPU to bring ``array[row, col]``'s cache line in (LLVM's ``llvm.prefetch``: read, keep, data)."""
    def codegen(context, builder, signature, args):
        array_type, row_type, col_type = signature.args
        view = context.make_array(array_type)(context, builder, args[0])
        at = [context.cast(builder, args[1], row_type, types.intp), context.cast(builder, args[2], col_type, types.intp)]
        pointer = cgutils.get_item_pointer(context, builder, array_type, view, at, wraparound=False)
        byte = ir.IntType(8).as_pointer()
        hint = builder.module.declare_intrinsic(
            "llvm.prefetch", fnty=ir.FunctionType(ir.VoidType(), [byte] + [ir.IntType(32)] * 3))
        builder.call(hint, [builder.bitcast(pointer, byte), *(ir.Constant(ir.IntType(32), v) for v in (0, 3, 1))])
        return context.get_dummy_value()

    return types.void(array, row, col), codegen


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
    machine; float64 here cost a third more time (converting every element)
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


@numba.njit(cache=True, nogil=True, parallel=True)
def _sgd_shards(book_vectors, link_vectors, books, links, labels, lr, head, classify, shards):  # pragma: no cover
    n = books.shape[0]
    totals = np.zeros(shards)
    for s in numba.prange(shards):
        total = 0.0
        end = (s + 1) * n // shards
        for i in range(s * n // shards, end):
            if i + PREFETCH_AHEAD < end:
                _fetch_rows(book_vectors, link_vectors, books[i + PREFETCH_AHEAD], links[i + PREFETCH_AHEAD])
            total += _update(book_vectors, link_vectors, books[i], links[i], labels[i], lr, head, classify)
        totals[s] = total
    return totals.sum() / max(n, 1)


def sgd_pass_parallel(book_vectors, link_vectors, books, links, labels, lr, head, classify, threads: int) -> float:
    """``sgd_pass`` on ``threads`` threads, one contiguous shard each, without locks; returns the mean loss."""
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    return _sgd_shards(book_vectors, link_vectors, books, links, labels, lr, head, classify, threads)


@numba.njit(cache=True, nogil=True, parallel=True)
def top_k_select(sims, k):  # pragma: no cover - compiled
    """Each row's ``k`` largest entries, largest first, ties by column: (columns int64, values float32).

    One pass over a row with a small sorted buffer, rows in parallel: about
    one comparison per entry, where a partition touches each several times.

    Parameters
    ----------
    sims : ndarray, float32, shape (m, n)
        Entries of -inf are never chosen unless a row has fewer than ``k`` others.
    k : int
        ``1 <= k <= n``.
    """
    m, n = sims.shape
    cols = np.empty((m, k), dtype=np.int64)
    vals = np.empty((m, k), dtype=np.float32)
    for r in numba.prange(m):
        best_v = np.full(k, -np.inf, dtype=np.float32)
        best_c = np.full(k, n, dtype=np.int64)
        filled = 0
        for j in range(n):
            v = sims[r, j]
            if filled == k and not v > best_v[k - 1]:
                continue  # ties keep the lower column, seen first
            pos = min(filled, k - 1)
            while pos > 0 and v > best_v[pos - 1]:
                best_v[pos] = best_v[pos - 1]
                best_c[pos] = best_c[pos - 1]
                pos -= 1
            best_v[pos] = v
            best_c[pos] = j
            if filled < k:
                filled += 1
        cols[r] = best_c
        vals[r] = best_v
    return cols, vals


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
        h = (np.int64(books[i]) * np.int64(HASH_B) + np.int64(links[i]) * np.int64(HASH_L)) & mask
        out[i] = ((words[h >> 5] >> np.uint32(h & 31)) & np.uint32(1)) != 0
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
    n = cdf.shape[0]
    buckets = guide.shape[0] - 1
    for t in range(draws.shape[0]):
        u = draws[t]
        j = int(u * buckets)
        j = min(max(j, 0), buckets)
        i = guide[j]
        while i < n and cdf[i] <= u:
            i += 1
        while i > 0 and cdf[i - 1] > u:
            i -= 1
        out[t] = i
    return out
