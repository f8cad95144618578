"""Quality of a set of vectors: held-out link prediction and purity of the nearest books.

Costs, for n books and ``dim``-long vectors:

* ``heldout_auc``: O(h * dim + h log h) for h held-out pairs.
* ``genre_purity``: every book's k nearest books. Up to ``EXACT_PURITY_BOOKS``
  books with a value this is exact, O(n^2 * dim) in blocks; above, it draws
  ``SAMPLED_QUERIES`` query books at random (still searched against every
  book, exactly), O(m * n * dim), and reports the sampling error beside the
  figure.

``summary`` turns stored metrics into the lines the CLI, the Train page and
the Model page show, so the three say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bookembed.sampling import NonPairSampler
from bookembed.vectors import top_k_rows, unit_rows

EXACT_PURITY_BOOKS = 50_000
"""Above this many books with a value, purity is measured on a random sample of query books."""

SAMPLED_QUERIES = 5_000
"""Query books drawn when purity is sampled (standard error about 0.3 / sqrt(5000) = 0.004)."""


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


def heldout_auc(
    book_vectors: np.ndarray,
    link_vectors: np.ndarray,
    pair_books: np.ndarray,
    pair_links: np.ndarray,
    heldout: np.ndarray,
    seed: int = 0,
) -> float | None:
    """ROC-AUC of cosine similarity: held-out true pairs against as many sampled non-pairs.

    Parameters
    ----------
    book_vectors : ndarray, shape (n_books, dim)
    link_vectors : ndarray, shape (n_links, dim)
    pair_books, pair_links : ndarray of int, shape (n_pairs,)
        Every true pair; none of them is drawn as a non-pair.
    heldout : ndarray of bool, shape (n_pairs,)
        The pairs that were kept out of training.
    seed : int
        Seeds the non-pairs.

    Returns
    -------
    float or None
        None when no pair was held out.
    """
    if not heldout.any():
        return None
    rng = np.random.default_rng(seed)
    ub, ul = unit_rows(book_vectors), unit_rows(link_vectors)
    hb, hl = pair_books[heldout], pair_links[heldout]
    nb, nl = NonPairSampler(pair_books, pair_links, len(ub), len(ul)).draw(len(hb), rng)
    positive = np.einsum("ij,ij->i", ub[hb], ul[hl])
    negative = np.einsum("ij,ij->i", ub[nb], ul[nl])
    return roc_auc(positive, negative)


def _codes(values) -> tuple[np.ndarray, np.ndarray]:
    """Books with a non-empty value, and an integer code per such book."""
    values = np.asarray([v if isinstance(v, str) else "" for v in values], dtype=object)
    mask = values != ""
    codes = np.unique(values[mask], return_inverse=True)[1] if mask.any() else np.empty(0, np.int64)
    return mask, codes


def genre_purity(
    book_vectors: np.ndarray,
    genres,
    k: int = 10,
    *,
    block: int | None = None,
    max_exact: int = EXACT_PURITY_BOOKS,
    n_queries: int = SAMPLED_QUERIES,
    seed: int = 0,
) -> dict:
    """Share of each book's ``k`` nearest books (by cosine) that share its value.

    Only books with a non-empty value take part, as queries and as
    neighbours, and a book is never its own neighbour. ``genres`` may be any
    metadata column (genre, author, country...).

    Parameters
    ----------
    book_vectors : ndarray, shape (n_books, dim)
    genres : sequence of str, length n_books
        Empty or missing means unknown.
    k : int
    block : int, optional
        Queries per matrix product (memory ``block * n`` floats); by default
        as many as fit in 256 MB.
    max_exact : int
        Above this many books with a value, sample ``n_queries`` query books.
    n_queries : int
    seed : int
        Seeds the sample.

    Returns
    -------
    dict
        ``purity`` (mean share), ``chance`` (the expected share for random
        neighbours, sum over values of n_g (n_g - 1) / (n (n - 1))), ``k``,
        ``books`` (how many books had a value), ``queries`` (how many were
        scored) and ``stderr`` (the sampling error of ``purity``: 0 when
        exact). ``purity`` is None when fewer than ``k + 1`` books have a value.
    """
    mask, codes = _codes(genres)
    n = int(mask.sum())
    if n <= k:
        return {"purity": None, "chance": None, "k": k, "books": n, "queries": 0, "stderr": None}
    unit = unit_rows(np.asarray(book_vectors)[mask])
    queries = None
    if n > max_exact:
        queries = np.sort(np.random.default_rng(seed).choice(n, size=min(n_queries, n), replace=False))
    if block is None:
        block = int(max(16, min(4096, (64 << 20) // n)))
    top, _ = top_k_rows(unit, k, queries=queries, block=block)
    asked = codes if queries is None else codes[queries]
    per_book = (codes[top] == asked[:, None]).mean(axis=1)
    m = len(per_book)
    stderr = 0.0
    if queries is not None and m > 1:
        # sampled without replacement: the finite-population correction applies
        stderr = float(per_book.std(ddof=1) / np.sqrt(m) * np.sqrt(1 - m / n))
    sizes = np.bincount(codes).astype(np.float64)
    chance = float((sizes * (sizes - 1)).sum() / (n * (n - 1)))
    return {"purity": float(per_book.mean()), "chance": chance, "k": k, "books": n, "queries": m, "stderr": stderr}


def evaluate(model, seed: int = 0) -> dict:
    """Held-out AUC and genre purity for a loaded ``ModelFolder`` (or anything with its attributes).

    Returns
    -------
    dict
        ``auc``, ``heldout_pairs``, ``genre_purity`` (see ``genre_purity``).
    """
    auc = heldout_auc(model.book_vectors, model.link_vectors, model.pair_books, model.pair_links, model.heldout,
                      seed=seed)
    books = model.books
    genres = books["primary_genre"].tolist() if "primary_genre" in books.columns else [""] * len(books)
    return {
        "auc": auc,
        "heldout_pairs": int(np.count_nonzero(model.heldout)),
        "genre_purity": genre_purity(model.book_vectors, genres, seed=seed),
    }


# ---------------------------------------------------------------- what the user reads


@dataclass(frozen=True)
class MetricLine:
    """One figure as people read it: ``label``, ``value`` (text) and a ``detail`` sentence (may be empty)."""

    label: str
    value: str
    detail: str = ""

    @property
    def heading(self) -> str:
        """The label as a heading: first letter upper case."""
        return self.label[:1].upper() + self.label[1:]

    def __str__(self) -> str:
        return f"{self.label} {self.value}" + (f" ({self.detail})" if self.detail else "")


def summary(metrics: dict) -> list[MetricLine]:
    """The figures of a manifest's (or ``evaluate``'s) metrics, formatted once for every screen.

    Parameters
    ----------
    metrics : dict
        ``auc``, ``heldout_pairs``, ``genre_purity`` and, after training,
        ``final_loss``, ``train_seconds``, ``examples_per_s``.

    Returns
    -------
    list of MetricLine
        Held-out AUC, genre purity and, when known, the final loss and the
        training time, in that order.
    """
    lines = []
    auc = metrics.get("auc")
    held = metrics.get("heldout_pairs")
    if auc is None:
        lines.append(MetricLine("held-out AUC", "n/a", "no pairs were held out"))
    else:
        detail = f"{held:,} held-out pairs against as many non-pairs" if held else ""
        lines.append(MetricLine("held-out AUC", f"{auc:.3f}", detail))
    purity = metrics.get("genre_purity") or {}
    k = purity.get("k", 10)
    if purity.get("purity") is None:
        lines.append(MetricLine(f"genre purity@{k}", "n/a", "too few books with a genre"))
    else:
        chance = purity.get("chance") or 0.0
        lift = f", {purity['purity'] / chance:.1f}x chance" if chance else ""
        books = purity.get("books", 0)
        sampled = purity.get("queries") not in (None, books) and purity.get("stderr") is not None
        value = f"{purity['purity']:.3f}" + (f" ± {purity['stderr']:.3f}" if sampled else "")
        scope = f"{purity['queries']:,} sampled of {books:,} books" if sampled else f"{books:,} books with a genre"
        lines.append(MetricLine(f"genre purity@{k}", value, f"chance {chance:.3f}{lift}; {scope}"))
    if metrics.get("final_loss") is not None:
        lines.append(MetricLine("final loss", f"{metrics['final_loss']:.4f}"))
    if metrics.get("train_seconds") is not None:
        speed = metrics.get("examples_per_s")
        lines.append(MetricLine("training time", f"{metrics['train_seconds']:,.1f} s",
                                f"{speed:,.0f} examples/s" if speed else ""))
    return lines
