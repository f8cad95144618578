"""Nearest books and links of a model folder, by name, with explanations.

Names are found fuzzily (case, accents and small typos do not matter); a
query is one matrix-vector product over the model's unit vectors
(``vectors.top_k``). Every book result carries the links it shares with the
query: the reason the two are close.

``read_titles`` turns a file of titles (one per line) into book or link ids.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd

from bookembed.errors import BookembedError
from bookembed.graph import fold
from bookembed.vectors import top_k

if TYPE_CHECKING:
    from bookembed.store import ModelFolder


class UnknownName(BookembedError):
    """A title or link that is not in the model; carries close matches."""

    def __init__(self, kind: str, name: str, suggestions: list[str]):
        self.kind, self.name, self.suggestions = kind, name, suggestions
        hint = f"; did you mean: {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
        super().__init__(f"no {kind} named {name!r} in this model{hint}")


def search_names(model, query: str, kind: str = "book", limit: int = 20) -> list[int]:
    """Ids of books (or links) matching a partly typed, possibly misspelt name.

    Exact folded matches come first, then names starting with the query, then
    names containing it, then fuzzy matches (rapidfuzz), each group in corpus
    order. Case and accents are ignored.
    """
    q = fold(query)
    if not q:
        return []
    names = model.folded_names(kind)
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
    for i, folded in enumerate(model.folded_names(kind)):
        if folded == q:
            return i
    originals = model.titles if kind == "book" else model.links
    suggestions = [originals[i] for i in search_names(model, name, kind, limit=5)]
    raise UnknownName("book" if kind == "book" else "link", name, suggestions)


def _meta_columns(model, ids: np.ndarray) -> dict:
    books = model.books
    out = {}
    for col in ("author", "primary_genre", "year"):
        if col in books.columns:
            # .array keeps nullable integers (a missing year stays <NA>, not 1869.0)
            out["genre" if col == "primary_genre" else col] = books[col].array[ids]
    return out


def search(
    model,
    kind: str,
    query: np.ndarray,
    k: int,
    *,
    exclude: Sequence[int] = (),
    least: bool = False,
    allowed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` books (or links) most similar to a query vector, exact or through the model's index.

    With an approximate index (``model.ann_index``: built for models above
    ``index.ANN_MIN_ROWS`` rows), a plain top-k asks the index for a few more
    candidates than needed and orders them by their exact similarity; a
    least-similar or filtered query, which an index cannot answer, is exact.

    Returns
    -------
    ids : ndarray of int64, shape (m,), m <= k
    sims : ndarray of float32, shape (m,)
        Exact cosine similarities, most similar first (least first when ``least``).
    """
    unit = model.unit_vectors(kind)
    index = None if least or allowed is not None else model.ann_index(kind)
    if index is None:
        return top_k(unit, query, k, exclude=exclude, least=least, allowed=allowed)
    q = np.asarray(query, dtype=np.float32)
    norm = float(np.linalg.norm(q))
    if not norm > 1e-12:
        raise BookembedError("the query vector has length zero: it has no direction to compare")
    found = index.candidates(q / norm, 2 * (k + len(exclude)) + 10)
    found = found[~np.isin(found, np.asarray(exclude, dtype=np.int64))]
    return _order(unit, found, q / norm, k)


def _order(unit: np.ndarray, candidates: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    sims = unit[candidates] @ query
    order = np.lexsort((candidates, -sims))[:k]
    return candidates[order].astype(np.int64), sims[order].astype(np.float32)


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
        Only books of this primary genre (spelled as in the books table).

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
    query = model.unit_vectors("book")[ids].mean(axis=0)
    allowed = None
    if genre:
        allowed = (model.books.get("primary_genre", pd.Series(dtype=object)) == genre).to_numpy()
        if not allowed.any():
            raise BookembedError(_no_such_genre(model, genre))
    found, sims = search(model, "book", query, k, exclude=ids, least=least, allowed=allowed)
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


def _no_such_genre(model, genre: str, shown: int = 8) -> str:
    """One line: no book has ``genre``; the most common genres the model does have."""
    counts = model.books.get("primary_genre", pd.Series(dtype=object)).dropna().astype(str)
    counts = counts[counts.str.strip() != ""].value_counts()
    if counts.empty:
        return f"no book has the genre {genre!r}: this model's books have no genres"
    names = ", ".join(repr(g) for g in counts.index[:shown])
    more = f" and {len(counts) - shown:,} more" if len(counts) > shown else ""
    return f"no book has the genre {genre!r}; genres here include {names}{more}"


def similar_links(model, link: str, k: int = 10, *, least: bool = False) -> pd.DataFrame:
    """Links nearest to a link; ``shared_books`` counts books linking to both."""
    j = resolve(model, link, "link")
    found, sims = search(model, "link", model.unit_vectors("link")[j], k, exclude=[j], least=least)
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(found) + 1),
            "link": _names(model.links, found),
            "similarity": sims.astype(float),
            "books": model.link_counts[found],
            "shared_books": [len(np.intersect1d(model.link_books(j), model.link_books(f), assume_unique=True))
                             for f in found],
            "id": found,
        }
    )


def books_for_link(model, link: str, k: int = 10, *, least: bool = False) -> pd.DataFrame:
    """Books whose vectors are nearest to a link's vector; ``links_to_it`` says which really link to it."""
    j = resolve(model, link, "link")
    found, sims = search(model, "book", model.unit_vectors("link")[j], k, least=least)
    linked = set(model.link_books(j).tolist())
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
    found, sims = search(model, "link", model.unit_vectors("book")[i], k, least=least)
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


def read_titles(path: str | os.PathLike, model: ModelFolder, what: str = "books") -> list[int]:
    """Row ids for a file with one title (or link name) per line, in file order.

    A line matches a title exactly, or else the title with tabs and line
    breaks as spaces (how metadata.tsv writes it), or else the same with
    surrounding and repeated spaces ignored. Blank lines and repeats are
    skipped.

    Raises
    ------
    BookembedError
        An unreadable file, or a line that names no title of the model
        (the message names the file and the line).
    """
    from bookembed.projector import check_kind, clean_value, is_blank

    path = Path(path)
    what = check_kind(what)
    names = model.titles if what == "books" else list(model.links)
    kind = "book" if what == "books" else "link"
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BookembedError(f"{path}: no such titles file") from None
    except UnicodeDecodeError as err:
        raise BookembedError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except OSError as err:
        raise BookembedError(f"{path}: cannot read ({err.strerror})") from None
    exact = {}
    cleaned: dict[str, list[int]] = {}
    spaced: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        exact.setdefault(name, i)
        cleaned.setdefault(clean_value(name), []).append(i)
        spaced.setdefault(" ".join(name.split()), []).append(i)
    ids: list[int] = []
    for number, line in enumerate(text.split("\n"), start=1):
        line = line[:-1] if line.endswith("\r") else line
        if is_blank(line):
            continue
        if line in exact:
            ids.append(exact[line])
            continue
        for index, key in ((cleaned, line), (spaced, " ".join(line.split()))):
            found = index.get(key)
            if found:
                if len(found) > 1:
                    raise BookembedError(
                        f"{path}, line {number}: {line!r} matches {len(found)} {what} "
                        f"({', '.join(repr(names[j]) for j in found[:3])}); write the exact title"
                    )
                ids.append(found[0])
                break
        else:
            close = search_names(model, line, kind=kind, limit=3)
            hint = "; did you mean " + ", ".join(repr(names[j]) for j in close) + "?" if close else ""
            raise BookembedError(f"{path}, line {number}: no {kind} named {line!r} in this model{hint}")
    if not ids:
        raise BookembedError(f"{path}: no titles in the file")
    return list(dict.fromkeys(ids))


