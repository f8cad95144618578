"""Counting small integer codes over millions of books: ``np.bincount`` a block at a time, in its own integer type.

``np.bincount`` counts an array of the platform's integer type (``np.intp``)
directly, but converts any other (the uint8 colour codes, the int32 codes of a
column) through a slow path, several times slower per element. Converting a
block at a time keeps the fast path and the extra memory at one block,
whatever the number of books.
"""

from __future__ import annotations

import numpy as np

BLOCK = 1 << 20
"""Codes converted and counted at a time."""


def bincount(codes, minlength: int = 0, *, shift: int = 0, weights=None) -> np.ndarray:
    """``np.bincount(codes + shift, minlength=minlength)``, the same counts (int64; float64 with ``weights``),
    for codes of any integer type; ``shift`` lets codes from -1 (none) be counted in place 0."""
    codes = np.asarray(codes)
    if weights is not None or codes.dtype == np.intp and not shift:
        return np.bincount(codes.astype(np.intp, copy=False) + shift, weights=weights, minlength=minlength)
    out = np.zeros(minlength, dtype=np.int64)
    for start in range(0, len(codes), BLOCK):
        block = codes[start:start + BLOCK].astype(np.intp)
        if shift:
            block += shift
        part = np.bincount(block, minlength=minlength)
        if len(part) > len(out):
            out = np.concatenate([out, np.zeros(len(part) - len(out), np.int64)])
        out[:len(part)] += part
    return out
