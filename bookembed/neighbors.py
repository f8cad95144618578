"""Exact cosine nearest neighbours over a model folder's vectors, with explanations.

Vectors are L2-normalised once; a query is one matrix-vector product and an
``argpartition``. Every book result carries the links it shares with the
query: the reason the two are close.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from bookembed.errors import BookembedError


class UnknownName(BookembedError):
    """A title or link that is not in the model; carries close matches."""

    def __init__(self, kind: str, name: str, suggestions: list[str]):
        self.kind, self.name, self.suggestions = kind, name, suggestions
        hint = f"; did you mean: {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
        super().__init__(f"no {kind} named {name!r} in this model{hint}")


def fold(text: str) -> str:
    """Case- and accent-insensitive form: NFKD, combining marks dropped, casefolded, spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"\s+", " ", stripped.casefold()).strip()


def _folded(model, kind: str) -> list[str]:
    key = f"folded_{kind}"
    if key not in model._cache:
        names = model.titles if kind == "book" else list(model.links)
        model._cache[key] = [fold(n) for n in names]
    return model._cache[key]


def search_names(model, query: str, kind: str = "book", limit: int = 20) -> list[int]:
    """Ids of books (or links) matching a partly typed, possibly misspelt name.

    Exact folded matches come first, then names starting with the query, then
    names containing it, then fuzzy matches (rapidfuzz), each group in corpus
    order. Case and accents are ignored.
    """
    q = fold(query)
    if not q:
        return []
    names = _folded(model, kind)
    exact, prefix, inside = [], [], []
    for i, name in enumerate(names):
        if name == q:
            exact.append(i)
        elif name.startswith(q):
            prefix.append(i)
        elif q in name:
            inside.append(i)
    found = (exact + prefix + inside)[:limit]
    if len(found) < limit:
        from rapidfuzz import fuzz, process

        seen = set(found)
        for _, score, i in process.extract(q, names, scorer=fuzz.WRatio, limit=limit + len(found)):
            if i not in seen and score >= 60:
                found.append(i)
                seen.add(i)
            if len(found) >= limit:
                break
    return found


def resolve(model, name: str, kind: str = "book") -> int:
    """The id of a book title (or link), exactly or case/accent-insensitively.

    Raises
    ------
    UnknownName
        With up to five close matches as suggestions.
    """
    index = model.title_index if kind == "book" else model.link_index
    if name in index:
        return index[name]
    if kind == "link" and name.lower() in index:
        return index[name.lower()]
    q = fold(name)
    names = _folded(model, kind)
    for i, folded in enumerate(names):
        if folded == q:
            return i
    originals = model.titles if kind == "book" else model.links
    suggestions = [originals[i] for i in search_names(model, name, kind, limit=5)]
    raise UnknownName("book" if kind == "book" else "link", name, suggestions)


def top_k(
    unit: np.ndarray,
    query: np.ndarray,
    k: int = 10,
    *,
    exclude: Iterable[int] = (),
    least: bool = False,
    allowed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine top-k.

    Parameters
    ----------
    unit : ndarray, shape (n, dim)
        L2-normalised vectors.
    query : ndarray, shape (dim,)
        The query vector (normalised here).
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
        Most similar first (least similar first when ``least``).
    """
    q = np.asarray(query, dtype=np.float32)
    q = q / max(float(np.linalg.norm(q)), 1e-12)
    sims = unit @ q
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
    part = np.argpartition(-score, k - 1)[:k]
    order = part[np.argsort(-score[part], kind="stable")]
    return order.astype(np.int64), sims[order]


def _meta_columns(model, ids: np.ndarray) -> dict:
    books = model.books
    out = {}
    for col in ("author", "primary_genre", "year"):
        if col in books.columns:
            # .array keeps nullable integers (a missing year stays <NA>, not 1869.0)
            out["genre" if col == "primary_genre" else col] = books[col].array[ids]
    return out


def _names(links, ids) -> list[str]:
    return [links[j] for j in ids]


def similar_books(
    model,
    titles: str | Sequence[str],
    k: int = 10,
    *,
    least: bool = False,
    genre: str | None = None,
) -> pd.DataFrame:
    """Books nearest to one book, or to the average of several ("readers of these").

    Parameters
    ----------
    model : ModelFolder
    titles : str or sequence of str
        One title, or several whose normalised vectors are averaged.
    k : int
        How many results.
    least : bool
        The least similar books instead.
    genre : str, optional
        Only books of this primary genre.

    Returns
    -------
    DataFrame
        ``rank, title, similarity, author, genre, year, shared_links`` (a list
        of the links each result shares with the query books), ``id``.
    """
    if isinstance(titles, str):
        titles = [titles]
    if not titles:
        raise BookembedError("no book given")
    ids = [resolve(model, t, "book") for t in titles]
    unit = model.unit_vectors("book")
    query = unit[ids].mean(axis=0)
    allowed = None
    if genre:
        allowed = (model.books["primary_genre"] == genre).to_numpy()
    found, sims = top_k(unit, query, k, exclude=ids, least=least, allowed=allowed)
    query_links = set()
    for i in ids:
        query_links.update(model.book_links(i).tolist())
    shared = [_names(model.links, sorted(query_links.intersection(model.book_links(j).tolist()))) for j in found]
    frame = pd.DataFrame(
        {
            "rank": np.arange(1, len(found) + 1),
            "title": [model.titles[j] for j in found],
            "similarity": sims.astype(float),
            **_meta_columns(model, found),
            "shared_links": shared,
            "id": found,
        }
    )
    return frame


def _link_books(model) -> list[set]:
    if "link_books" not in model._cache:
        order = np.argsort(model.pair_links, kind="stable")
        bounds = np.searchsorted(model.pair_links[order], np.arange(model.n_links + 1))
        sorted_books = model.pair_books[order]
        model._cache["link_books"] = [set(sorted_books[bounds[j] : bounds[j + 1]].tolist()) for j in range(model.n_links)]
    return model._cache["link_books"]


def similar_links(model, link: str, k: int = 10, *, least: bool = False) -> pd.DataFrame:
    """Links nearest to a link; ``shared_books`` counts books linking to both."""
    j = resolve(model, link, "link")
    unit = model.unit_vectors("link")
    found, sims = top_k(unit, unit[j], k, exclude=[j], least=least)
    link_books = _link_books(model)
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(found) + 1),
            "link": _names(model.links, found),
            "similarity": sims.astype(float),
            "books": model.link_counts[found],
            "shared_books": [len(link_books[j] & link_books[f]) for f in found],
            "id": found,
        }
    )


def books_for_link(model, link: str, k: int = 10, *, least: bool = False) -> pd.DataFrame:
    """Books whose vectors are nearest to a link's vector; ``links_to_it`` says which really link to it."""
    j = resolve(model, link, "link")
    found, sims = top_k(model.unit_vectors("book"), model.unit_vectors("link")[j], k, least=least)
    linked = _link_books(model)[j]
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(found) + 1),
            "title": [model.titles[i] for i in found],
            "similarity": sims.astype(float),
            **_meta_columns(model, found),
            "links_to_it": [int(i) in linked for i in found],
            "id": found,
        }
    )


def links_for_book(model, title: str, k: int = 10, *, least: bool = False) -> pd.DataFrame:
    """Links whose vectors are nearest to a book's vector; ``linked`` says which the book really links to."""
    i = resolve(model, title, "book")
    found, sims = top_k(model.unit_vectors("link"), model.unit_vectors("book")[i], k, least=least)
    own = set(model.book_links(i).tolist())
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(found) + 1),
            "link": _names(model.links, found),
            "similarity": sims.astype(float),
            "books": model.link_counts[found],
            "linked": [int(j) in own for j in found],
            "id": found,
        }
    )
