"""The fields every corpus carries: books, the link vocabulary, and the (book, link) pairs.

``LinkGraph`` is the one type for them. A freshly loaded ``corpus.Corpus``
and a stored ``store.ModelFolder`` both are one, so code that needs only
the books, the links and who links where takes a ``LinkGraph`` and works on
either. What derives from these fields (titles, name indexes, each book's
links, each link's books) is computed once, on first use, here.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd


def fold(text: str) -> str:
    """Case- and accent-insensitive form: NFKD, combining marks dropped, casefolded, spaces collapsed."""
    if text.isascii():  # NFKD and combining marks change nothing, casefold is lower: many times faster (docs/scale.md)
        return " ".join(text.lower().split())
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"\s+", " ", stripped.casefold()).strip()


UNIQUE_CHUNK = 1 << 22
"""Keys moved at once when ``unique_keys`` compacts in place."""
LIST_TITLES_UP_TO = 200_000
"""Above this many books, ``titles_of`` and ``book_id`` look titles up in the books table: no list or dict of
every title."""


def unique_keys(keys: np.ndarray, *, overwrite: bool = False) -> np.ndarray:
    """The distinct values of a 1-D integer array, sorted: ``np.unique(keys)`` by one sort.

    NumPy 2's ``np.unique`` hashes integers first; on the pair keys
    (``book * n_links + link``) of a million-book corpus that was tens of
    times slower than a sort and a comparison of neighbours (docs/scale.md
    has the figures). O(n log n). ``overwrite=True`` sorts ``keys`` itself
    instead of a copy (8 bytes a key less at the peak).
    """
    # the default sort, several times faster than "stable" on millions of keys (docs/scale.md)
    if overwrite and isinstance(keys, np.ndarray):
        keys.sort()
        ordered = keys
    else:
        ordered = np.sort(np.asarray(keys))
    if len(ordered) == 0:
        return ordered
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    if ordered is not keys:
        return ordered[keep]
    # compacted in place, a chunk at a time (a chunk is copied out before its place can be written over)
    written = 0
    for start in range(0, len(ordered), UNIQUE_CHUNK):
        part = ordered[start:start + UNIQUE_CHUNK][keep[start:start + UNIQUE_CHUNK]]
        ordered[written:written + len(part)] = part
        written += len(part)
    return ordered[:written]


def _csr(keys: np.ndarray, values: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """Row pointers and values grouped by key (values sorted within a key); O(n log n), O(n) when already so.

    Keys and values are non-negative ids. Pairs come from the corpus sorted by
    book then link, so the books' side is one O(n) check (many times faster
    than ``np.lexsort`` on a million books' pairs); the links' side is one
    sort of ``key * span + value`` (faster than ``np.lexsort``; docs/scale.md
    has the figures).
    """
    keys, values = np.asarray(keys), np.asarray(values)
    ptr = np.zeros(n_keys + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n_keys), out=ptr[1:])
    if len(values) == 0:
        return ptr, np.ascontiguousarray(values)
    span = int(values.max()) + 1
    composite = keys.astype(np.int64) * span + values
    if np.all(composite[1:] >= composite[:-1]):
        return ptr, np.ascontiguousarray(values)
    composite.sort()
    return ptr, (composite % span).astype(values.dtype)


@dataclass(frozen=True, eq=False)
class LinkGraph:
    """Books, links and the pairs between them.

    Attributes
    ----------
    books : DataFrame, shape (n_books, k)
        ``title`` first, then metadata columns; row i is book id i.
    links : tuple of str, length n_links
        Link vocabulary; position j is link id j.
    link_counts : ndarray of int64, shape (n_links,)
        How many books link to each link.
    pair_books, pair_links : ndarray of int, shape (n_pairs,)
        The unique (book id, link id) pairs.
    """

    books: pd.DataFrame
    links: tuple[str, ...]
    link_counts: np.ndarray
    pair_books: np.ndarray
    pair_links: np.ndarray

    @property
    def n_books(self) -> int:
        return len(self.books)

    @property
    def n_links(self) -> int:
        return len(self.links)

    @property
    def n_pairs(self) -> int:
        return len(self.pair_books)

    @cached_property
    def titles(self) -> list[str]:
        """Book titles; position i is book id i."""
        return self.books["title"].tolist()

    def titles_of(self, ids) -> list[str]:
        """The titles of book ``ids``, in order. O(len(ids)): a big table's ``titles`` (a Python string for
        every book, O(n) time and memory) is not built for it."""
        if "titles" in self.__dict__ or len(self.books) <= LIST_TITLES_UP_TO:
            return [self.titles[int(i)] for i in ids]
        return self.books["title"].take(np.asarray(ids, dtype=np.int64)).tolist()

    def book_id(self, title: str) -> int | None:
        """The id of the book titled exactly ``title``, or None; one scan of the titles for a big table, not
        ``title_index`` (a dict of every title)."""
        if "title_index" in self.__dict__ or len(self.books) <= LIST_TITLES_UP_TO:
            return self.title_index.get(title)
        import pyarrow as pa
        import pyarrow.compute as pc

        at = pc.index(pa.array(self.books["title"].array), title).as_py()
        return None if at < 0 else int(at)

    @cached_property
    def title_index(self) -> dict[str, int]:
        """Book id of each title."""
        return {t: i for i, t in enumerate(self.titles)}

    @cached_property
    def link_index(self) -> dict[str, int]:
        """Link id of each link name."""
        return {t: i for i, t in enumerate(self.links)}

    def names(self, kind: str) -> list[str]:
        """Titles (``kind="book"``) or link names (``kind="link"``), by id."""
        return self.titles if kind == "book" else list(self.links)

    def folded_names(self, kind: str) -> list[str]:
        """``fold`` of every title or link name, by id (for searching)."""
        return self._folded_titles if kind == "book" else self._folded_links

    @cached_property
    def _folded_titles(self) -> list[str]:
        return [fold(t) for t in self.titles]

    @cached_property
    def _folded_links(self) -> list[str]:
        return [fold(t) for t in self.links]

    @cached_property
    def _by_book(self) -> tuple[np.ndarray, np.ndarray]:
        return _csr(np.asarray(self.pair_books), np.asarray(self.pair_links), self.n_books)

    @cached_property
    def _by_link(self) -> tuple[np.ndarray, np.ndarray]:
        return _csr(np.asarray(self.pair_links), np.asarray(self.pair_books), self.n_links)

    @cached_property
    def _sorted_by_book(self) -> bool:
        pb = np.asarray(self.pair_books)
        return bool(len(pb) < 2 or (pb[1:] >= pb[:-1]).all())

    def book_links(self, book: int) -> np.ndarray:
        """Link ids of one book, sorted.

        Pairs sorted by book (as every corpus and model folder keeps them) are
        looked up by binary search until the grouping by book has been built
        for another reason: O(log n_pairs) a book, nothing built first.
        """
        if "_by_book" not in self.__dict__ and self._sorted_by_book:
            pb = self.pair_books  # keys of its own type: mixed ones would convert every pair first
            lo, hi = np.searchsorted(pb, np.array([book, book + 1], dtype=pb.dtype))
            return np.sort(np.asarray(self.pair_links[lo:hi]))
        ptr, values = self._by_book
        return values[ptr[book] : ptr[book + 1]]

    def link_books(self, link: int) -> np.ndarray:
        """Book ids that link to one link, sorted."""
        ptr, values = self._by_link
        return values[ptr[link] : ptr[link + 1]]
