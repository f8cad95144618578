"""Cosine geometry shared by search, evaluation and maps: unit rows and exact top-k.

One place for the row normaliser and for "the k most similar rows", so the
neighbours a search returns, the neighbours genre purity counts and the
neighbours a map's faithfulness keeps are the same neighbours.

Costs, for ``n`` rows of ``dim`` numbers:

* ``top_k`` (one query): O(n * dim) time, O(n) memory.
* ``top_k_rows`` / ``cosine_knn`` (every row against every row): O(n^2 * dim)
  time in blocks of ``block`` rows, O(block * n) memory. That is the all-pairs
  step: callers bound it by sampling the queries (``evaluate``) or use an
  approximate index above a stated size (``index``).
"""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from bookembed.errors import BookembedError

ProgressFn = Callable[[float, str], object]
"""``progress(fraction, stage)``: fraction in [0, 1], stage a short sentence."""

SELECT_MAX_K = 64
SELECT_MIN_COLUMNS = 2048
"""Rows at least this long, with k at most ``SELECT_MAX_K``, use the compiled selection (numba)."""

TINY = 1e-12
"""Rows shorter than this are treated as zero (they stay zero when normalised)."""
BLOCK_BYTES = 512 << 20
"""Memory for one block of similarities in ``top_k_rows`` when no block size is given."""


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1, as float32; zero rows stay zero.

    Parameters
    ----------
    vectors : ndarray, shape (n, dim)

    Returns
    -------
    ndarray of float32, shape (n, dim)
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, TINY)


def top_k(
    unit: np.ndarray,
    query: np.ndarray,
    k: int = 10,
    *,
    exclude: Iterable[int] = (),
    least: bool = False,
    allowed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine top-k of one query.

    Parameters
    ----------
    unit : ndarray, shape (n, dim)
        L2-normalised vectors.
    query : ndarray, shape (dim,)
        The query vector (normalised here). A zero-length query has no
        direction: it is an error, never a row of NaN similarities.
    k : int
        How many to return.
    exclude : iterable of int
        Ids never returned (the query itself).
    least : bool
        Return the least similar instead.
    allowed : ndarray of bool, shape (n,), optional
        Only these ids may be returned (a genre filter).

    Returns
    -------
    ids : ndarray of int64, shape (m,), m <= k
    sims : ndarray of float32, shape (m,)
        Most similar first (least similar first when ``least``); ties keep id order.

    Raises
    ------
    BookembedError
        A query of length zero (or NaN).
    """
    q = np.asarray(query, dtype=np.float32)
    norm = float(np.linalg.norm(q))
    if not norm > TINY:  # also catches NaN
        raise BookembedError("the query vector has length zero: it has no direction to compare")
    sims = unit @ (q / norm)
    score = -sims if least else sims.copy()
    valid = np.ones(len(unit), dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool).copy()
    exclude = np.fromiter(exclude, dtype=np.int64)
    if len(exclude):
        valid[exclude] = False
    n_valid = int(valid.sum())
    if n_valid == 0 or k <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    score[~valid] = -np.inf
    k = min(k, n_valid)
    kth = score[np.argpartition(-score, k - 1)[k - 1]]
    # argpartition keeps arbitrary members of a tie at the k-th place: take
    # everything above it, then the tied ids in id order; then sort, ties by id.
    above = np.flatnonzero(score > kth)
    part = np.concatenate([above, np.flatnonzero(score == kth)[: k - len(above)]])
    order = part[np.lexsort((part, -score[part]))]
    return order.astype(np.int64), sims[order]


def _top_k_block(sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column ids and values of each row's ``k`` largest entries, largest first (ties by column).

    Small k goes through a compiled one-pass selection on every core
    (``topk.top_k_select``); otherwise ``np.partition`` on values (several
    times faster than ``np.argpartition``) finds the k-th largest value first
    and the few entries at or above it are sorted.
    """
    if k <= SELECT_MAX_K and sims.shape[1] >= SELECT_MIN_COLUMNS:
        from bookembed.topk import top_k_select

        return top_k_select(np.ascontiguousarray(sims, dtype=np.float32), k)
    n_rows, n = sims.shape
    if k >= n:
        order = np.argsort(-sims, axis=1, kind="stable")
        return order.astype(np.int64), np.take_along_axis(sims, order, axis=1)
    kth = np.partition(sims, n - k, axis=1)[:, n - k]
    # flatnonzero on the 1-D view is many times faster than a 2-D nonzero (docs/scale.md).
    flat = np.flatnonzero(sims >= kth[:, None])
    rows, cols = np.divmod(flat, n)
    vals = sims.ravel()[flat]
    order = np.lexsort((cols, -vals, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    rank = np.arange(len(rows)) - np.searchsorted(rows, rows)
    keep = rank < k
    return cols[keep].reshape(n_rows, k).astype(np.int64), vals[keep].reshape(n_rows, k)


def top_k_rows(
    unit: np.ndarray,
    k: int,
    *,
    queries: np.ndarray | None = None,
    self_first: bool = False,
    block: int | None = None,
    progress: ProgressFn | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine top-k of many rows against all rows, in blocks.

    Parameters
    ----------
    unit : ndarray, shape (n, dim)
        L2-normalised vectors.
    k : int
        Neighbours per query (``k <= n``; lowered to ``n`` otherwise).
    queries : ndarray of int, shape (m,), optional
        Row ids to query (default: every row).
    self_first : bool
        Put each query's own row first (even when a twin has the same
        vector); otherwise a row is never its own neighbour.
    block : int, optional
        Queries per matrix product; memory is ``block * n`` floats. By
        default 1,024, fewer past ``BLOCK_BYTES`` (a block of a thousand
        queries against ten million rows would need tens of gigabytes).

    Returns
    -------
    indices : ndarray of int64, shape (m, k)
        Nearest first; ties by row id.
    sims : ndarray of float32, shape (m, k)
        Cosine similarities, descending.
    """
    unit = np.asarray(unit, dtype=np.float32)
    n = len(unit)
    rows = np.arange(n) if queries is None else np.asarray(queries, dtype=np.int64)
    m = len(rows)
    k = min(k, n if self_first else n - 1)
    indices = np.empty((m, max(k, 0)), dtype=np.int64)
    sims_out = np.empty((m, max(k, 0)), dtype=np.float32)
    if k <= 0 or m == 0:
        return indices, sims_out
    block = block or max(1, min(1024, BLOCK_BYTES // (4 * n)))
    unit_t = np.ascontiguousarray(unit.T)
    buffer = np.empty((min(block, m), n), dtype=np.float32)  # reused: fresh blocks cost page faults
    for start in range(0, m, block):
        chunk = rows[start : start + block]
        sims = np.matmul(unit[chunk], unit_t, out=buffer[: len(chunk)])
        own = np.arange(len(chunk))
        sims[own, chunk] = np.inf if self_first else -np.inf
        top, vals = _top_k_block(sims, k)
        if self_first:
            vals[:, 0] = 1.0
        indices[start : start + len(chunk)] = top
        sims_out[start : start + len(chunk)] = vals
        if progress is not None:
            done = min(start + block, m)
            progress(done / m, f"nearest neighbours: {done:,} of {m:,} books")
    return indices, sims_out


def top_k_against(
    queries: np.ndarray,
    base: np.ndarray,
    k: int,
    *,
    block: int | None = None,
    progress: ProgressFn | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine top-k of each query vector among the rows of another matrix, in blocks.

    Parameters
    ----------
    queries : ndarray, shape (m, dim)
        L2-normalised query vectors.
    base : ndarray, shape (n, dim)
        L2-normalised vectors searched.
    k : int
        Lowered to ``n``.
    block : int, optional
        Queries per matrix product; by default as many as fit in 256 MB.

    Returns
    -------
    indices : ndarray of int64, shape (m, k)
        Rows of ``base``, nearest first, ties by row.
    sims : ndarray of float32, shape (m, k)
    """
    queries = np.asarray(queries, dtype=np.float32)
    base = np.asarray(base, dtype=np.float32)
    m, n = len(queries), len(base)
    k = min(k, n)
    indices = np.empty((m, k), dtype=np.int64)
    sims_out = np.empty((m, k), dtype=np.float32)
    if k <= 0 or m == 0:
        return indices, sims_out
    block = block or int(max(16, min(4096, (64 << 20) // max(1, n))))
    base_t = np.ascontiguousarray(base.T)
    buffer = np.empty((min(block, m), n), dtype=np.float32)
    for start in range(0, m, block):
        chunk = queries[start : start + block]
        sims = np.matmul(chunk, base_t, out=buffer[: len(chunk)])
        indices[start : start + len(chunk)], sims_out[start : start + len(chunk)] = _top_k_block(sims, k)
        if progress is not None:
            done = min(start + block, m)
            progress(done / m, f"nearest neighbours: {done:,} of {m:,} books")
    return indices, sims_out


def cosine_knn(
    vectors: np.ndarray, k: int, *, block: int | None = None, progress: ProgressFn | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``k`` nearest neighbours of every row by cosine, each row's own point first.

    Parameters
    ----------
    vectors : ndarray, shape (n, dim)
    k : int
        Neighbours per row, counting the row itself (``k <= n``).

    Returns
    -------
    indices : ndarray of int64, shape (n, k)
        Column 0 is the row itself, then the nearest first.
    distances : ndarray of float32, shape (n, k)
        Cosine distances ``1 - cos``, ascending (column 0 is 0).
    """
    indices, sims = top_k_rows(unit_rows(vectors), k, self_first=True, block=block, progress=progress)
    distances = np.maximum(1.0 - sims, 0.0).astype(np.float32)
    distances[:, 0] = 0.0
    return indices, distances
