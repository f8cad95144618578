"""A column's distinct values, stripped: what the map's colours, legend and facets group books by."""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import numpy as np
import pandas as pd


def distinct_stripped(values: Sequence) -> tuple[np.ndarray, list[str], pd.Series]:
    """Each book's value as a code into the distinct values stripped (missing as ""), and each value's count.

    A column of strings is stripped a distinct value at a time (the same values as stripping each book's,
    at a fraction of the time on millions of books); any other column book by book, as ``str(v).strip()``.
    """
    series = pd.Series(values)
    if pd.api.types.is_string_dtype(series.dtype) and not pd.api.types.is_object_dtype(series.dtype):
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        cleaned = [str(u).strip() for u in uniques] + [""]  # the last one: missing values
        codes = np.where(codes < 0, len(cleaned) - 1, codes)
    else:
        codes, uniques = pd.factorize(series.astype(object).fillna("").astype(str).str.strip())
        cleaned = list(uniques)
    counts = pd.Series(np.bincount(codes, minlength=len(cleaned)), index=cleaned).groupby(level=0, sort=False).sum()
    return codes, cleaned, counts


COLUMNS = "columns"
"""The kind of derived file (``store.DERIVED``) a big folder's coded columns are kept as."""
KEEP_FROM_BOOKS = 200_000
"""From this many books a column's codes are kept in the model folder; below, coding it takes a moment."""

_CODED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {column: (codes, cleaned, counts)}


def column_distinct(model, column: str) -> tuple[np.ndarray, list[str], pd.Series]:
    """``distinct_stripped`` of a column of a model's books table, coded once per model.

    The map's colours, its "Show one" list and its linked charts each group the books by a column; on a
    fresh server each would code it again, an O(n) pass over n strings. Here it is coded once per model
    object and, for a folder of ``KEEP_FROM_BOOKS`` books or more, kept in it (``columns/``: the codes as
    int32, memory-mapped when read back; the distinct values in the sidecar, with the books table's
    checksum, so a folder whose books changed codes them again). A read-only folder codes them each time.
    """
    memo = _CODED.setdefault(model, {})
    if column not in memo:
        memo[column] = _coded(model, column)
    return memo[column]


def _coded(model, column: str) -> tuple[np.ndarray, list[str], pd.Series]:
    import hashlib
    import re

    books_sum = ((getattr(model, "manifest", None) or {}).get("checksums", {}).get("books.parquet") or {}).get("sha256")
    if not hasattr(model, "cached") or model.n_books < KEEP_FROM_BOOKS or not books_sum:
        return distinct_stripped(model.books[column])
    n = model.n_books

    def compute():
        codes, cleaned, _ = distinct_stripped(model.books[column])
        return (np.asarray(codes, dtype=np.int32), cleaned), {"column": column, "books": n, "books_sha256": books_sum,
                                                              "values": cleaned}

    def save(value, path) -> None:
        with open(path, "wb") as fh:  # a file, not a name: np.save would add ".npy" to a temporary name
            np.save(fh, value[0])

    def load(path, info: dict):
        codes = np.load(path, mmap_mode="r", allow_pickle=False)
        cleaned = info.get("values")
        if codes.dtype != np.int32 or codes.shape != (n,) or not isinstance(cleaned, list):
            raise ValueError("codes of another table")
        if n and (int(codes.min()) < 0 or int(codes.max()) >= len(cleaned)):
            raise ValueError("codes past the values")
        return codes, [str(v) for v in cleaned]

    def check(info: dict) -> str | None:
        if info.get("column") != column or info.get("books") != n or info.get("books_sha256") != books_sum:
            return "coded from another books table"
        return None

    key = re.sub(r"[^A-Za-z0-9_-]", "_", column)[:40] + "-" + hashlib.sha1(column.encode()).hexdigest()[:8]
    codes, cleaned = model.cached(COLUMNS, key, compute, save, load, check=check)[0].value
    counts = pd.Series(np.bincount(codes, minlength=len(cleaned)), index=cleaned).groupby(level=0, sort=False).sum()
    return codes, cleaned, counts
