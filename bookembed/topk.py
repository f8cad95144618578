"""Each row's top k, compiled (numba): the selection behind ``vectors.top_k_rows`` for small k.

Kept apart from ``vectors`` so that importing the vectors' module never
imports numba; ``vectors._top_k_block`` imports this only for rows long
enough to pay for it.
"""

from __future__ import annotations

import numba
import numpy as np


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
