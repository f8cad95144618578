"""Nearest books and links of a model folder, by name, with explanations.

Names are resolved by ``bookembed.names`` (case, accents, punctuation, a
``(novel)`` qualifier and small typos do not matter; an ambiguous name is an
error listing the candidates). A query is one matrix-vector product over the
model's unit vectors (``vectors.top_k``); several query books are combined
as ``COMBINES`` says. Every book result carries the links it shares with the
query, the reason the two are close, most informative first: ranked by
inverse book frequency, ``log(n_books / books linking to it)``. Links that
a large share of all books have (``common_links``) rank last and are counted
apart when shown (``split_common``, ``describe_shared``).

``read_titles`` turns a file of titles (one per line) into book or link ids.
"""

from __future__ import annotations

import contextlib
import os
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd

from bookembed.errors import BookembedError
from bookembed.graph import fold  # noqa: F401 - re-exported: tests and callers fold names through here
from bookembed.names import AmbiguousName, UnknownName, match_names, resolve, resolve_title, search_names  # noqa: F401
from bookembed.vectors import top_k

if TYPE_CHECKING:
    from bookembed.store import ModelFolder


_WEIGHTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> link_informativeness(model)
_COMMON: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> _common_counts(model)


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
    index = None if least or allowed is not None else model.ann_index(kind)
    if index is None:
        return top_k(model.unit_vectors(kind), query, k, exclude=exclude, least=least, allowed=allowed)
    q = np.asarray(query, dtype=np.float32)
    norm = float(np.linalg.norm(q))
    if not norm > 1e-12:
        raise BookembedError("the query vector has length zero: it has no direction to compare")
    found = index.candidates(q / norm, 2 * (k + len(exclude)) + 10)
    found = found[~np.isin(found, np.asarray(exclude, dtype=np.int64))]
    return _order(model, kind, found, q / norm, k)


def _order(model, kind: str, candidates: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    sims = model.unit_rows(candidates, kind) @ query
    order = np.lexsort((candidates, -sims))[:k]
    return candidates[order].astype(np.int64), sims[order].astype(np.float32)


def _names(links, ids) -> list[str]:
    return [links[j] for j in ids]


# ---------------------------------------------------------------- which shared links explain a neighbour

COMMON_SHARE = 0.10
"""A link that at least this share of the books link to is *common*: it says little about why two books are close."""
COMMON_MIN_BOOKS = 20
"""... and at least this many books: in a corpus of a few dozen books every link is a large share of them."""


def link_informativeness(model) -> np.ndarray:
    """How much sharing each link says: its inverse book frequency, ``log(n_books / books linking to it)``.

    Returns
    -------
    ndarray of float64, shape (n_links,)
        0 for a link every book has; larger for rarer links.
    """
    try:
        return _WEIGHTS[model]
    except (KeyError, TypeError):
        pass
    counts = np.maximum(np.asarray(model.link_counts, dtype=np.float64), 1.0)
    weight = np.log(max(model.n_books, 1) / counts)
    weight.flags.writeable = False
    with contextlib.suppress(TypeError):  # kept for the model's life: O(links) once, not on every search
        _WEIGHTS[model] = weight
    return weight


def common_links(model) -> np.ndarray:
    """Which links are common: at least ``COMMON_SHARE`` of the books and ``COMMON_MIN_BOOKS`` books link to them.

    Returns
    -------
    ndarray of bool, shape (n_links,)
    """
    least = max(COMMON_SHARE * model.n_books, COMMON_MIN_BOOKS)
    return np.asarray(model.link_counts) >= least


def ranked_shared_links(model, query_links: np.ndarray, book: int, weight: np.ndarray | None = None) -> np.ndarray:
    """Link ids that ``book`` shares with ``query_links``, most informative (rarest) first, ties by id.

    ``weight`` is ``link_informativeness(model)``, passed in when ranking many books.
    """
    weight = link_informativeness(model) if weight is None else weight
    shared = np.intersect1d(query_links, model.book_links(book), assume_unique=True)
    return shared[np.lexsort((shared, -weight[shared]))]


def split_common(model, names: Sequence[str]) -> tuple[list[str], list[str]]:
    """Shared link names (as ``similar_books`` ranks them) split into the informative and the common ones.

    Returns
    -------
    informative : list of str
        In the order given (most informative first).
    common : list of str
        The common ones (``common_links``), most common first.
    """
    counts = _common_counts(model)
    rare = [n for n in names if n not in counts]
    generic = sorted((n for n in names if n in counts), key=lambda n: (-counts[n], n))
    return rare, generic


def _common_counts(model) -> dict[str, int]:
    """``{name: books linking to it}`` of the common links (``common_links``), kept for the model's life: a
    few names, where a dict of every link name is O(links) Python objects."""
    try:
        return _COMMON[model]
    except (KeyError, TypeError):
        pass
    counts = {model.links[j]: int(model.link_counts[j]) for j in np.flatnonzero(common_links(model))}
    with contextlib.suppress(TypeError):
        _COMMON[model] = counts
    return counts


def describe_shared(informative: Sequence[str], common: Sequence[str], shown: int = 6) -> str:
    """One line: the first ``shown`` informative links, then how many common ones, e.g. ``a, b … + 3 common links
    such as novel``; ``—`` when nothing is shared."""
    text = ", ".join(informative[:shown]) + (" …" if len(informative) > shown else "")
    if common:
        plural = "s" if len(common) > 1 else ""
        text += f"{' ' if text else ''}+ {len(common)} common link{plural} such as {common[0]}"
    return text or "—"


# ---------------------------------------------------------------- books like books

COMBINES = {
    "mean": "the average of the query books' vectors: what readers of all of them would read next",
    "min": "close to all: each book scored by its lowest similarity to any query book",
    "rrf": "rank fusion: each book scored by the sum of 1 / (60 + its rank) in every query book's own list",
}
"""How several query books are combined (``similar_books(combine=...)``), with the help text the CLI and app show."""
RRF_K = 60
"""Reciprocal-rank fusion's constant (Cormack, Clarke and Buettcher, 2009): damps the weight of the very first ranks."""


def _combined(unit: np.ndarray, ids: list[int], combine: str, candidates: np.ndarray) -> np.ndarray:
    """The score of each candidate book (higher is closer) for ``min`` or ``rrf``: O(n * dim * m) for m query books."""
    sims = unit[candidates] @ unit[ids].T  # (n_candidates, m)
    if combine == "min":
        return sims.min(axis=1).astype(np.float64)
    ranks = np.empty(sims.shape, dtype=np.float64)
    for j in range(sims.shape[1]):
        order = np.lexsort((candidates, -sims[:, j]))  # each query book's own list, ties by id
        ranks[order, j] = np.arange(1, len(order) + 1)
    return (1.0 / (RRF_K + ranks)).sum(axis=1)


def _search_combined(model, ids: list[int], k: int, combine: str, least: bool,
                     allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    unit = model.unit_vectors("book")
    keep = np.ones(len(unit), dtype=bool) if allowed is None else allowed.copy()
    keep[ids] = False
    candidates = np.flatnonzero(keep).astype(np.int64)
    scores = _combined(unit, ids, combine, candidates)
    order = np.lexsort((candidates, scores if least else -scores))[:k]
    return candidates[order], scores[order]


def similar_books(
    model,
    titles: str | Sequence[str],
    k: int = 10,
    *,
    least: bool = False,
    genre: str | None = None,
    combine: str = "mean",
) -> pd.DataFrame:
    """Books nearest to one book, or to several books combined.

    Parameters
    ----------
    model : ModelFolder
    titles : str or sequence of str
        One title, or several; each named as ``names.resolve_title`` allows.
    k : int
        How many results.
    least : bool
        The least similar books instead (the same score, lowest first).
    genre : str, optional
        Only books of this primary genre (spelled as in the books table).
    combine : {"mean", "min", "rrf"}
        How several books are combined (``COMBINES``): ``mean`` searches
        the average of their unit vectors (through the model's index when it
        has one); ``min`` scores each book by its smallest cosine to a query
        book, so a book close to only one ranks below one close to all;
        ``rrf`` sums ``1 / (RRF_K + rank)`` over the query books' own
        rankings. ``min`` and ``rrf`` are exact: O(n_books * dim) per query
        book. One book is the same search whatever ``combine`` is.

    Returns
    -------
    DataFrame
        ``rank, title, similarity`` (the score results are ordered by: the
        cosine to the one book or to the average; the smallest cosine for
        ``min``; the fused score for ``rrf``), with several books
        ``similarity_1 ... similarity_m`` (the cosine to each query book, in
        the order given, repeats dropped), then ``author, genre, year,
        shared_links`` (the links each result shares with the query books,
        most informative first: ``ranked_shared_links``), ``id``.
    """
    if isinstance(titles, str):
        titles = [titles]
    if not titles:
        raise BookembedError("no book given")
    if combine not in COMBINES:
        raise BookembedError(f"combine must be one of {', '.join(COMBINES)}; got {combine!r}")
    ids = list(dict.fromkeys(resolve(model, t, "book") for t in titles))
    allowed = None
    if genre:
        allowed = (model.books.get("primary_genre", pd.Series(dtype=object)) == genre).to_numpy()
        if not allowed.any():
            raise BookembedError(_no_such_genre(model, genre))
    if len(ids) == 1 or combine == "mean":
        query = model.unit_rows(ids).mean(axis=0)
        found, sims = search(model, "book", query, k, exclude=ids, least=least, allowed=allowed)
    else:
        found, sims = _search_combined(model, ids, k, combine, least, allowed)
    per_query = {}
    if len(ids) > 1:
        each = (model.unit_rows(found) @ model.unit_rows(ids).T).astype(float)
        per_query = {f"similarity_{j + 1}": each[:, j] for j in range(len(ids))}
    query_links = np.unique(np.concatenate([model.book_links(i) for i in ids]))
    weight = link_informativeness(model)
    shared = [_names(model.links, ranked_shared_links(model, query_links, j, weight)) for j in found]
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(found) + 1),
            "title": model.titles_of(found),
            "similarity": np.asarray(sims, dtype=float),
            **per_query,
            **_meta_columns(model, found),
            "shared_links": shared,
            "id": np.asarray(found, dtype=np.int64),
        }
    )


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
    found, sims = search(model, "link", model.unit_rows([j], "link")[0], k, exclude=[j], least=least)
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
    found, sims = search(model, "book", model.unit_rows([j], "link")[0], k, least=least)
    linked = set(model.link_books(j).tolist())
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(found) + 1),
            "title": model.titles_of(found),
            "similarity": sims.astype(float),
            **_meta_columns(model, found),
            "links_to_it": [int(i) in linked for i in found],
            "id": found,
        }
    )


def links_for_book(model, title: str, k: int = 10, *, least: bool = False) -> pd.DataFrame:
    """Links whose vectors are nearest to a book's vector; ``linked`` says which the book really links to."""
    i = resolve(model, title, "book")
    found, sims = search(model, "link", model.unit_rows([i])[0], k, least=least)
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


