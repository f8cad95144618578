"""Quality of a set of vectors: held-out link prediction and genre purity."""

from __future__ import annotations

import numpy as np

from bookembed.training import pair_keys


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def roc_auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Probability that a positive scores above a negative (ties count half).

    The Mann-Whitney U statistic over ranks; equal to scikit-learn's
    ``roc_auc_score`` for binary labels.
    """
    scores = np.concatenate([positive, negative])
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    n_pos, n_neg = len(positive), len(negative)
    u = ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def sample_non_pairs(
    n: int, pair_books: np.ndarray, pair_links: np.ndarray, n_books: int, n_links: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random (book, link) pairs that are not true pairs (rejection sampling)."""
    keys = pair_keys(pair_books, pair_links, n_links)
    books = rng.integers(0, n_books, n)
    links = rng.integers(0, n_links, n)
    if len(keys) == 0:
        return books, links
    for _ in range(100):
        query = books.astype(np.int64) * n_links + links
        pos = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
        hit = keys[pos] == query
        if not hit.any():
            break
        books[hit] = rng.integers(0, n_books, int(hit.sum()))
        links[hit] = rng.integers(0, n_links, int(hit.sum()))
    return books, links


def heldout_auc(
    book_vectors: np.ndarray,
    link_vectors: np.ndarray,
    pair_books: np.ndarray,
    pair_links: np.ndarray,
    heldout: np.ndarray,
    seed: int = 0,
) -> float | None:
    """ROC-AUC of cosine similarity: held-out true pairs against as many sampled non-pairs.

    Returns None when no pair was held out.
    """
    if not heldout.any():
        return None
    rng = np.random.default_rng(seed)
    ub, ul = _unit(book_vectors), _unit(link_vectors)
    hb, hl = pair_books[heldout], pair_links[heldout]
    nb, nl = sample_non_pairs(len(hb), pair_books, pair_links, len(ub), len(ul), rng)
    positive = np.einsum("ij,ij->i", ub[hb], ul[hl])
    negative = np.einsum("ij,ij->i", ub[nb], ul[nl])
    return roc_auc(positive, negative)


def genre_purity(book_vectors: np.ndarray, genres, k: int = 10, block: int = 2048) -> dict:
    """Share of each book's ``k`` nearest books (by cosine) that share its genre.

    Only books with a non-empty genre take part, as queries and as neighbours.

    Returns
    -------
    dict
        ``purity`` (mean share), ``chance`` (the expected share for random
        neighbours, sum over genres of n_g (n_g - 1) / (n (n - 1))), ``k`` and
        ``books`` (how many books had a genre). ``purity`` is None when fewer
        than ``k + 1`` books have a genre.
    """
    genres = np.asarray([g if isinstance(g, str) else "" for g in genres], dtype=object)
    mask = genres != ""
    n = int(mask.sum())
    if n <= k:
        return {"purity": None, "chance": None, "k": k, "books": n}
    codes = np.unique(genres[mask], return_inverse=True)[1]
    unit = _unit(book_vectors[mask])
    hits = 0.0
    for start in range(0, n, block):
        sims = unit[start : start + block] @ unit.T
        rows = np.arange(sims.shape[0])
        sims[rows, start + rows] = -np.inf  # not one's own neighbour
        top = np.argpartition(-sims, k, axis=1)[:, :k]
        hits += float((codes[top] == codes[start : start + block, None]).sum())
    sizes = np.bincount(codes).astype(np.float64)
    chance = float((sizes * (sizes - 1)).sum() / (n * (n - 1)))
    return {"purity": hits / (n * k), "chance": chance, "k": k, "books": n}


def evaluate(model_or_arrays, seed: int = 0) -> dict:
    """Both metrics for a loaded ``ModelFolder`` (or anything with the same attributes).

    Returns
    -------
    dict
        ``auc``, ``heldout_pairs``, ``genre_purity`` (see ``genre_purity``).
    """
    m = model_or_arrays
    auc = heldout_auc(m.book_vectors, m.link_vectors, m.pair_books, m.pair_links, m.heldout, seed=seed)
    genres = m.books["primary_genre"].tolist() if "primary_genre" in m.books.columns else [""] * len(m.books)
    return {
        "auc": auc,
        "heldout_pairs": int(np.count_nonzero(m.heldout)),
        "genre_purity": genre_purity(m.book_vectors, genres),
    }
