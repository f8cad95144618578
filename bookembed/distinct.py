"""A column's distinct values, stripped: what the map's colours, legend and facets group books by."""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import numpy as np
import pandas as pd

from bookembed.counting import bincount


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
    counts = pd.Series(bincount(codes, len(cleaned)), index=cleaned).groupby(level=0, sort=False).sum()
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


def column_years(model) -> tuple[np.ndarray, np.ndarray]:
    """``code_years`` of a model's books' years (each book's year as a code into the distinct years, -1 for
    none; and those years), coded once per model and kept in a big folder as ``column_distinct``'s codes are."""
    memo = _CODED.setdefault(model, {})
    if YEARS not in memo:
        memo[YEARS] = _year_coded(model)
    return memo[YEARS]


YEARS = ("years",)  # the memo's key for ``column_years``: no column's name


def code_years(years: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each book's year (float, NaN for none) as a code into a few distinct values (-1: none), and the values:
    whole years over a span of at most ``YEAR_SPAN_CODED`` are their offset from the first (O(n) arithmetic);
    other years are hashed."""
    years = np.asarray(years, dtype=np.float64)
    known = ~np.isnan(years)
    if known.any():
        lo, hi = float(np.nanmin(years)), float(np.nanmax(years))
        if hi - lo <= YEAR_SPAN_CODED and np.array_equal(np.floor(years[known]), years[known]):
            codes = np.where(known, years - lo, -1).astype(np.int32)
            return codes, np.arange(lo, hi + 1, dtype=np.float64)
    codes, values = pd.factorize(years, use_na_sentinel=True)
    return codes.astype(np.int32), np.asarray(values, dtype=np.float64)


YEAR_SPAN_CODED = 100_000  # whole years spanning at most this many are coded by offset, not hashed


def book_years(books: pd.DataFrame) -> np.ndarray:
    """The books table's years as floats, NaN for none (every book's NaN without a year column)."""
    if "year" not in books.columns:
        return np.full(len(books), np.nan)
    return books["year"].to_numpy("float64", na_value=np.nan)


def _year_coded(model) -> tuple[np.ndarray, np.ndarray]:
    def compute():
        codes, values = code_years(book_years(model.books))
        return codes, [float(v) for v in values]

    kept = _kept(model, "(years)", compute, lowest=-1)
    if kept is None:
        return code_years(book_years(model.books))
    codes, values = kept
    return codes, np.asarray(values, dtype=np.float64)


def _coded(model, column: str) -> tuple[np.ndarray, list[str], pd.Series]:
    def compute():
        codes, cleaned, _ = distinct_stripped(model.books[column])
        return codes, cleaned

    kept = _kept(model, column, compute, lowest=0)
    if kept is None:
        return distinct_stripped(model.books[column])
    codes, cleaned = kept
    cleaned = [str(v) for v in cleaned]
    counts = pd.Series(bincount(codes, len(cleaned)), index=cleaned).groupby(level=0, sort=False).sum()
    return codes, cleaned, counts


def _kept(model, column: str, compute, *, lowest: int) -> tuple[np.ndarray, list] | None:
    """``compute() -> (codes, values)`` of one column, kept in the folder's ``columns/`` (codes from ``lowest`` up,
    int32, memory-mapped when read back; values in the sidecar), or None where a folder keeps none (a small or
    unsaved one: the caller codes the column itself)."""
    import hashlib
    import re

    books_sum = ((getattr(model, "manifest", None) or {}).get("checksums", {}).get("books.parquet") or {}).get("sha256")
    if not hasattr(model, "cached") or model.n_books < KEEP_FROM_BOOKS or not books_sum:
        return None
    n = model.n_books

    def computed():
        codes, values = compute()
        return (np.asarray(codes, dtype=np.int32), list(values)), {"column": column, "books": n,
                                                                   "books_sha256": books_sum, "values": list(values)}

    def save(value, path) -> None:
        with open(path, "wb") as fh:  # a file, not a name: np.save would add ".npy" to a temporary name
            np.save(fh, value[0])

    def load(path, info: dict):
        # mapped, as a plain array: numpy's gathers and counts take a slow path for its memmap subclass
        codes = np.asarray(np.load(path, mmap_mode="r", allow_pickle=False))
        values = info.get("values")
        if codes.dtype != np.int32 or codes.shape != (n,) or not isinstance(values, list):
            raise ValueError("codes of another table")
        if n and (int(codes.min()) < lowest or int(codes.max()) >= len(values)):
            raise ValueError("codes past the values")
        return codes, values

    def check(info: dict) -> str | None:
        if info.get("column") != column or info.get("books") != n or info.get("books_sha256") != books_sum:
            return "coded from another books table"
        return None

    key = re.sub(r"[^A-Za-z0-9_-]", "_", column)[:40] + "-" + hashlib.sha1(column.encode()).hexdigest()[:8]
    return model.cached(COLUMNS, key, computed, save, load, check=check)[0].value
