"""Quality of a set of vectors: held-out link prediction and purity of the nearest books.

Costs, for n books and ``dim``-long vectors:

* ``heldout_auc``: O(h * dim + h log h) for h held-out pairs.
* ``link_ranking``: O(h * n_links * dim). Up to ``EXACT_RANKED_PAIRS``
  held-out pairs this is exact; above, ``SAMPLED_RANKED_PAIRS`` are drawn
  (fewer past ``SAMPLE_WORK``, so the cost stops growing with the links) and
  the sampling error is reported.
* ``genre_purity``: every book's k nearest books. Up to ``EXACT_PURITY_BOOKS``
  books with a value this is exact, O(n^2 * dim) in blocks; above, it draws
  ``SAMPLED_QUERIES`` query books at random (still searched against every
  book, exactly), O(m * n * dim), and reports the sampling error beside the
  figure. Past ``SAMPLE_WORK``, m shrinks as 1 / n (to ``MIN_SAMPLED`` at
  most), so the cost is flat in n until that floor, then linear.

``summary`` turns stored metrics into the lines the CLI, the Train page and
the Model page show, so the three say the same thing; ``baseline_table``
puts the model beside the baselines (``baselines.py``) the same way.
"""

from __future__ import annotations

import hashlib

from dataclasses import dataclass

import numpy as np

from bookembed.graph import unique_keys
from bookembed.sampling import NonPairSampler
from bookembed.vectors import top_k_rows, unit_rows

EXACT_PURITY_BOOKS = 50_000
"""Above this many books with a value, purity is measured on a random sample of query books."""

SAMPLED_QUERIES = 5_000
"""Query books drawn when purity is sampled (standard error about 0.3 / sqrt(5000) = 0.004)."""

EXACT_RANKED_PAIRS = 10_000
"""Up to this many held-out pairs, every one is ranked by ``link_ranking``."""

SAMPLED_RANKED_PAIRS = 5_000
"""Held-out pairs ranked when there are more (standard error of Hits@10 at most 0.5 / sqrt(5000) = 0.007)."""

SAMPLE_WORK = 5_000_000_000
"""Query-row products (a sampled query times the rows it is scored against) a sampled measure may spend.

Past ``SAMPLE_WORK / SAMPLED_QUERIES`` rows (a million), the samples shrink
so the cost stays flat, but never below ``MIN_SAMPLED``; the standard error
reported beside each figure grows as they do."""

MIN_SAMPLED = 1_000
"""The fewest queries (or ranked pairs) a sampled measure draws (standard error at most 0.5 / sqrt(1000) = 0.016)."""


def sample_size(most: int, rows: int) -> int:
    """Queries to draw when each is scored against ``rows`` rows: ``most``, fewer past ``SAMPLE_WORK``.

    Never below ``MIN_SAMPLED`` (nor above ``most``); read when called, so tests may lower the bounds.
    """
    return int(min(most, max(MIN_SAMPLED, SAMPLE_WORK // max(int(rows), 1))))


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
    hb, hl = pair_books[heldout], pair_links[heldout]
    nb, nl = NonPairSampler(pair_books, pair_links, len(book_vectors), len(link_vectors)).draw(len(hb), rng)
    positive = pair_cosines(book_vectors, link_vectors, hb, hl)
    negative = pair_cosines(book_vectors, link_vectors, nb, nl)
    return roc_auc(positive, negative)


COSINE_CHUNK = 1 << 20
"""Pairs whose cosines are computed at once: memory 2 x 4 x dim bytes a pair in flight, not a copy of every vector."""


def pair_cosines(book_vectors: np.ndarray, link_vectors: np.ndarray, books: np.ndarray, links: np.ndarray,
                 chunk: int = COSINE_CHUNK) -> np.ndarray:
    """Cosine of each (book, link) pair, float32, in chunks: the same figures as unit rows taken whole."""
    out = np.empty(len(books), dtype=np.float32)
    for start in range(0, len(books), chunk):
        b, l = books[start:start + chunk], links[start:start + chunk]
        out[start:start + len(b)] = np.einsum("ij,ij->i", unit_rows(book_vectors[b]), unit_rows(link_vectors[l]))
    return out


def link_ranking(
    book_vectors: np.ndarray,
    link_vectors: np.ndarray,
    pair_books: np.ndarray,
    pair_links: np.ndarray,
    heldout: np.ndarray,
    k: int = 10,
    *,
    max_exact: int = EXACT_RANKED_PAIRS,
    n_sample: int | None = None,
    seed: int = 0,
    block: int | None = None,
) -> dict:
    """Mean reciprocal rank and Hits@k of held-out links, as link-prediction papers report them.

    For each held-out pair (b, l), every link is scored by cosine with book
    b, and l is ranked among the links that are *not* true links of b: b's
    other true links, training and held-out alike, are skipped (the
    "filtered" setting of PyTorch-BigGraph and of implicit's
    ``ranking_metrics_at_k``). The rank is 1 + the number of those links that
    score at least as high as l, so ties count against the model (constant
    vectors rank every held-out link last, not first).

    Cost: O(h × n_links × dim) for h scored pairs. Up to ``max_exact``
    held-out pairs all are scored; above, ``n_sample`` of them are drawn
    (seeded, without replacement) and the sampling error is reported.

    Parameters
    ----------
    book_vectors : ndarray, shape (n_books, dim)
    link_vectors : ndarray, shape (n_links, dim)
    pair_books, pair_links : ndarray of int, shape (n_pairs,)
        Every true pair.
    heldout : ndarray of bool, shape (n_pairs,)
        The pairs kept out of training; these are ranked.
    k : int
        The cut-off of Hits@k.
    max_exact, n_sample : int
        ``n_sample`` defaults to ``SAMPLED_RANKED_PAIRS``, fewer past
        ``SAMPLE_WORK`` (``sample_size`` against the links).
    seed : int
        Seeds the sample.
    block : int, optional
        Pairs scored per matrix product (memory ``block × n_links`` floats).

    Returns
    -------
    dict
        ``mrr``, ``hits`` (share of held-out links ranked within the top
        ``k``), ``k``, ``pairs`` (held-out pairs), ``scored`` (how many were
        ranked), ``candidates`` (links ranked against, on average),
        ``mrr_stderr`` and ``hits_stderr`` (sampling errors: 0 when exact).
        ``mrr`` and ``hits`` are None when nothing was held out.
    """
    heldout = np.asarray(heldout, dtype=bool)
    pair_books, pair_links = np.asarray(pair_books), np.asarray(pair_links)
    held = np.flatnonzero(heldout)
    h = len(held)
    empty = {"mrr": None, "hits": None, "k": k, "pairs": h, "scored": 0, "candidates": None,
             "mrr_stderr": None, "hits_stderr": None}
    if h == 0:
        return empty
    if h > max_exact:
        if n_sample is None:
            n_sample = sample_size(SAMPLED_RANKED_PAIRS, len(link_vectors))
        held = np.sort(np.random.default_rng(seed).choice(held, size=min(n_sample, h), replace=False))
    ul = unit_rows(link_vectors)
    n_links = len(ul)
    # each book's true links, as sorted keys book * n_links + link, to mask them out; one int64 a pair,
    # not sorted again when the pairs come sorted by book then link (a model's and a corpus's do)
    keys = pair_books.astype(np.int64)
    keys *= n_links
    keys += pair_links
    if len(keys) > 1 and not np.all(keys[1:] > keys[:-1]):
        keys = unique_keys(keys, overwrite=True)
    qb, ql = pair_books[held].astype(np.int64), pair_links[held].astype(np.int64)
    order = np.argsort(qb, kind="stable")  # pairs of one book side by side
    qb, ql = qb[order], ql[order]
    ub = unit_rows(book_vectors[qb])  # the ranked pairs' books only, row i for pair i
    if block is None:
        block = int(max(1, min(4096, (32 << 20) // max(1, n_links))))
    ranks = np.empty(len(qb), dtype=np.float64)
    candidates = np.empty(len(qb), dtype=np.float64)
    for start in range(0, len(qb), block):
        b, l = qb[start : start + block], ql[start : start + block]
        scores = ub[start : start + block] @ ul.T  # (block, n_links)
        own = scores[np.arange(len(b)), l].copy()
        # every true link of these books (the held-out link itself among them) leaves the candidates
        lo = np.searchsorted(keys, b * n_links)
        hi = np.searchsorted(keys, (b + 1) * n_links)
        counts = hi - lo
        rows = np.repeat(np.arange(len(b)), counts)
        # positions lo[i] .. hi[i] - 1 of every row, without a Python loop
        within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        cols = keys[np.repeat(lo, counts) + within] % n_links
        scores[rows, cols] = -np.inf
        ranks[start : start + len(b)] = 1 + np.count_nonzero(scores >= own[:, None], axis=1)
        candidates[start : start + len(b)] = n_links - (hi - lo)
    reciprocal = 1.0 / ranks
    hits = (ranks <= k).astype(np.float64)
    m = len(ranks)
    mrr_err = hits_err = 0.0
    if m < h and m > 1:
        fpc = np.sqrt(1 - m / h)  # sampled without replacement
        mrr_err = float(reciprocal.std(ddof=1) / np.sqrt(m) * fpc)
        hits_err = float(hits.std(ddof=1) / np.sqrt(m) * fpc)
    return {"mrr": float(reciprocal.mean()), "hits": float(hits.mean()), "k": k, "pairs": h, "scored": m,
            "candidates": float(candidates.mean()), "mrr_stderr": mrr_err, "hits_stderr": hits_err}


def _codes(values) -> tuple[np.ndarray, np.ndarray]:
    """Books with a non-empty value, and an integer code per such book."""
    values = np.asarray([v if isinstance(v, str) else "" for v in values], dtype=object)
    mask = values != ""
    import pandas as pd

    # hashing strings (pandas) where np.unique would sort Python objects: seconds at 1M books (docs/scale.md)
    codes = pd.factorize(values[mask])[0].astype(np.int64) if mask.any() else np.empty(0, np.int64)
    return mask, codes


def genre_purity(
    book_vectors: np.ndarray,
    genres,
    k: int = 10,
    *,
    block: int | None = None,
    max_exact: int | None = None,
    n_queries: int | None = None,
    seed: int = 0,
    neighbours: dict | None = None,
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
    max_exact : int, optional
        Above this many books with a value, sample ``n_queries`` query books
        (default ``EXACT_PURITY_BOOKS``, read when called).
    n_queries : int, optional
        Default ``SAMPLED_QUERIES``, fewer past ``SAMPLE_WORK`` (``sample_size``
        against the books with a value).
    seed : int
        Seeds the sample.
    neighbours : dict, optional
        A memo of nearest-neighbour searches, shared by calls on the same
        ``book_vectors``: the search (the costly part, ``O(n * queries)``)
        runs once for every set of books with a value, and an exact search
        also answers a sampled one (its rows for the sampled queries, which
        are what the sampled search returns). Results are the same with or
        without it.

    Returns
    -------
    dict
        ``purity`` (mean share), ``chance`` (the expected share for random
        neighbours, sum over values of n_g (n_g - 1) / (n (n - 1))), ``k``,
        ``books`` (how many books had a value), ``queries`` (how many were
        scored) and ``stderr`` (the sampling error of ``purity``: 0 when
        exact). ``purity`` is None when fewer than ``k + 1`` books have a value.
    """
    max_exact = EXACT_PURITY_BOOKS if max_exact is None else max_exact
    mask, codes = _codes(genres)
    n = int(mask.sum())
    n_queries = sample_size(SAMPLED_QUERIES, n) if n_queries is None else n_queries
    if n <= k:
        return {"purity": None, "chance": None, "k": k, "books": n, "queries": 0, "stderr": None}
    unit = unit_rows(np.asarray(book_vectors)[mask])
    queries = None
    if n > max_exact:
        queries = np.sort(np.random.default_rng(seed).choice(n, size=min(n_queries, n), replace=False))
    if block is None:
        block = int(max(16, min(4096, (64 << 20) // n)))
    top = None
    if neighbours is not None:
        who = (hashlib.blake2b(np.packbits(mask).tobytes(), digest_size=16).hexdigest(), k)
        asked_for = None if queries is None else hashlib.blake2b(queries.tobytes(), digest_size=16).hexdigest()
        if (*who, None) in neighbours:
            top = neighbours[(*who, None)]
            top = top if queries is None else top[queries]
        else:
            top = neighbours.get((*who, asked_for))
    if top is None:
        top, _ = top_k_rows(unit, k, queries=queries, block=block)
        if neighbours is not None:
            neighbours[(*who, asked_for)] = top
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


PURITY_COLUMNS = {"genre": "primary_genre", "author": "author", "country": "country"}
"""Metadata columns purity@10 is reported for: the name people read, and the books table's column."""

TABLE_EXACT_PURITY_BOOKS = 10_000
"""For the side-by-side table (every method, every column), purity is sampled above this many books."""


def column_purities(book_vectors: np.ndarray, books, k: int = 10, seed: int = 0,
                    max_exact: int | None = None, neighbours: dict | None = None) -> dict:
    """``genre_purity`` for each of ``PURITY_COLUMNS`` the books table has.

    Parameters
    ----------
    book_vectors : ndarray, shape (n_books, dim)
    books : DataFrame, n_books rows
    k, seed, neighbours : see ``genre_purity``
    max_exact : int, optional
        As ``genre_purity``'s; default ``TABLE_EXACT_PURITY_BOOKS``, read when called.

    Returns
    -------
    dict
        Name (``genre``, ``author``, ``country``) to ``genre_purity``'s dict;
        a column the table lacks is left out.
    """
    max_exact = TABLE_EXACT_PURITY_BOOKS if max_exact is None else max_exact
    if neighbours is None:
        neighbours = {}  # columns with a value for the same books share one search
    return {name: genre_purity(book_vectors, books[column].tolist(), k, max_exact=max_exact, seed=seed,
                               neighbours=neighbours)
            for name, column in PURITY_COLUMNS.items() if column in books.columns}


def score_vectors(book_vectors: np.ndarray, link_vectors: np.ndarray, graph, heldout: np.ndarray,
                  seed: int = 0, neighbours: dict | None = None) -> dict:
    """Every quality figure of one set of vectors, the same way for a trained model and for a baseline.

    Parameters
    ----------
    book_vectors : ndarray, shape (n_books, dim)
    link_vectors : ndarray, shape (n_links, dim)
    graph : LinkGraph
        Books table and every true pair.
    heldout : ndarray of bool, shape (n_pairs,)
    seed : int
        Seeds the AUC's non-pairs and any sample.
    neighbours : dict, optional
        Shared nearest-neighbour searches (``genre_purity``).

    Returns
    -------
    dict
        ``auc``, ``ranking`` (``link_ranking``) and ``purity`` (``column_purities``).
    """
    return {
        "auc": heldout_auc(book_vectors, link_vectors, graph.pair_books, graph.pair_links, heldout, seed=seed),
        "ranking": link_ranking(book_vectors, link_vectors, graph.pair_books, graph.pair_links, heldout, seed=seed),
        "purity": column_purities(book_vectors, graph.books, seed=seed, neighbours=neighbours),
    }


def baseline_metrics(graph, heldout: np.ndarray, dim: int, seed: int = 0,
                     names: tuple[str, ...] | None = None) -> dict:
    """Fit each baseline on the training pairs and score it like the model.

    Parameters
    ----------
    graph : LinkGraph
    heldout : ndarray of bool, shape (n_pairs,)
        Pairs no baseline may see.
    dim : int
        The model's vector length; every baseline gets as many factors.
    seed : int
    names : tuple of str, optional
        Which baselines (``baselines.BASELINES`` by default).

    Returns
    -------
    dict
        Baseline name to ``score_vectors``'s dict plus ``seconds`` (the fit).
    """
    from bookembed.baselines import BASELINES, fit_baseline

    out = {}
    for name in names or BASELINES:
        fitted = fit_baseline(name, graph.pair_books, graph.pair_links, graph.n_books, graph.n_links, heldout,
                              dim=dim, seed=seed)
        out[name] = {**score_vectors(fitted.book_vectors, fitted.link_vectors, graph, heldout, seed),
                     "seconds": round(fitted.seconds, 3)}
    return out


def evaluate(model, seed: int = 0, baselines: bool = False) -> dict:
    """Held-out AUC, link ranking and purity for a loaded ``ModelFolder`` (or anything with its attributes).

    Parameters
    ----------
    model : ModelFolder
    seed : int
    baselines : bool
        Also fit and score the baselines (``baseline_metrics``) on the
        folder's training pairs.

    Returns
    -------
    dict
        ``auc``, ``heldout_pairs``, ``genre_purity`` (see ``genre_purity``),
        ``ranking`` (``link_ranking``), ``purity`` (``column_purities``) and,
        when asked, ``baselines``.
    """
    books = model.books
    genres = books["primary_genre"].tolist() if "primary_genre" in books.columns else [""] * len(books)
    neighbours: dict = {}  # the headline's search first: an exact one also serves the table's samples
    headline = genre_purity(model.book_vectors, genres, seed=seed, neighbours=neighbours)
    scored = score_vectors(model.book_vectors, model.link_vectors, model, model.heldout, seed, neighbours)
    out = {
        "auc": scored["auc"],
        "heldout_pairs": int(np.count_nonzero(model.heldout)),
        "genre_purity": headline,
        "ranking": scored["ranking"],
        "purity": scored["purity"],
    }
    if baselines:
        out["baselines"] = baseline_metrics(model, model.heldout, int(np.shape(model.book_vectors)[1]), seed)
    return out


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
        Held-out AUC, genre purity and, when known, Hits@10 (with MRR), the
        final loss and the training time, in that order.
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
    ranking = metrics.get("ranking") or {}
    if ranking.get("hits") is not None:
        sampled = ranking.get("scored") != ranking.get("pairs")
        err = f" ± {ranking['hits_stderr']:.3f}" if sampled and ranking.get("hits_stderr") is not None else ""
        scope = (f"{ranking['scored']:,} sampled of {ranking['pairs']:,} held-out links" if sampled
                 else f"{ranking['pairs']:,} held-out links")
        lines.append(MetricLine(f"Hits@{ranking.get('k', 10)}", f"{ranking['hits']:.3f}{err}",
                                f"MRR {ranking['mrr']:.3f}; each ranked among about "
                                f"{ranking.get('candidates') or 0:,.0f} links the book lacks; {scope}"))
    if metrics.get("final_loss") is not None:
        lines.append(MetricLine("final loss", f"{metrics['final_loss']:.4f}"))
    if metrics.get("train_seconds") is not None:
        speed = metrics.get("examples_per_s")
        lines.append(MetricLine("training time", f"{metrics['train_seconds']:,.1f} s",
                                f"{speed:,.0f} examples/s" if speed else ""))
    return lines


# ---------------------------------------------------------------- the model beside its baselines

TABLE_COLUMNS = ("method", "held-out AUC", "MRR", "Hits@10", "genre purity@10", "author purity@10",
                 "country purity@10", "seconds")


def _table_row(method: str, scored: dict, seconds) -> dict:
    ranking = scored.get("ranking") or {}
    purity = scored.get("purity") or {}
    row = {"method": method, "held-out AUC": scored.get("auc"), "MRR": ranking.get("mrr"),
           "Hits@10": ranking.get("hits")}
    for name in PURITY_COLUMNS:
        row[f"{name} purity@10"] = (purity.get(name) or {}).get("purity")
    row["seconds"] = seconds
    return row


def baseline_table(metrics: dict):
    """The trained model beside its baselines, one row each, from a manifest's metrics.

    Parameters
    ----------
    metrics : dict
        A manifest's (or ``evaluate(..., baselines=True)``'s) metrics: the
        model's ``auc``, ``ranking``, ``purity``, ``train_seconds`` and
        ``baselines``.

    Returns
    -------
    DataFrame or None
        Columns ``TABLE_COLUMNS`` (a figure that was not measured is NaN),
        the model first, then each baseline, then a "chance" row for purity
        (what random neighbours would give); None when the metrics hold no
        baselines (a folder trained before they were measured).
    """
    import pandas as pd

    from bookembed.baselines import BASELINE_LABELS

    if not metrics.get("baselines"):
        return None
    rows = [_table_row("bookembed (this model)", metrics, metrics.get("train_seconds"))]
    for name, scored in metrics["baselines"].items():
        rows.append(_table_row(BASELINE_LABELS.get(name, name), scored, scored.get("seconds")))
    chance = {"method": "chance (random neighbours)"}
    for name in PURITY_COLUMNS:
        chance[f"{name} purity@10"] = ((metrics.get("purity") or {}).get(name) or {}).get("chance")
    rows.append(chance)
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS)).astype({c: float for c in TABLE_COLUMNS[1:]})
