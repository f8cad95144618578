"""What a recommender engineer would try before a neural network: matrix factorisations of book × link.

Each baseline is fitted on the **training pairs only** (the held-out pairs of
a model folder never reach it) and returns a book vector and a link vector,
so it is scored by exactly the same functions as the trained model
(``evaluate.heldout_auc``, ``evaluate.link_ranking``, ``evaluate.genre_purity``):

* ``svd``: truncated SVD (scikit-learn's randomized ``TruncatedSVD``) of the
  binary book × link matrix, or of its TF-IDF weighting (each link weighted
  by ``log((1 + n) / (1 + books linking to it)) + 1``, rows scaled to unit
  length). Books get ``U · S`` (what ``TruncatedSVD.fit_transform`` returns),
  links ``V · S``. Of ``U``, ``U · sqrt(S)`` and ``U · S``, this scaling gave
  the best held-out AUC and Hits@10 on the demo, p15 and the planted corpus;
  genre purity@10 hardly moved between them (docs/quality.md).
* ``als``: implicit-feedback alternating least squares (Hu, Koren and
  Volinsky 2008) from the ``implicit`` package, confidence
  ``1 + alpha`` on a true pair (alpha 10, regularization 0.1: the best
  Hits@10 of a small grid on the demo, p15 and the planted corpus).

Costs, for n books, m links, p training pairs and ``dim`` factors: SVD is
O(p · dim · iterations + (n + m) · dim²); ALS is O(iterations · (p · dim² +
(n + m) · dim³)). ``benchmarks/bench_quality.py --scale`` measures the fits at
37,020 books × 40,000 links × 773,000 pairs, 50 factors: ALS is the slowest
of the three (docs/quality.md has the figures).

``implicit`` and scikit-learn are imported inside the functions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bookembed.errors import BookembedError

BASELINES = ("svd", "svd-tfidf", "als")
"""The baselines ``fit_baseline`` knows, in the order tables show them."""

BASELINE_LABELS = {
    "svd": "truncated SVD, binary",
    "svd-tfidf": "truncated SVD, TF-IDF",
    "als": "implicit ALS",
}


@dataclass(frozen=True)
class BaselineVectors:
    """A baseline's vectors and how long its fit took.

    Attributes
    ----------
    name : str
        One of ``BASELINES``.
    book_vectors : ndarray of float32, shape (n_books, dim)
    link_vectors : ndarray of float32, shape (n_links, dim)
    seconds : float
        Wall time of the fit (building the matrix included).
    """

    name: str
    book_vectors: np.ndarray
    link_vectors: np.ndarray
    seconds: float


def training_matrix(pair_books: np.ndarray, pair_links: np.ndarray, n_books: int, n_links: int,
                    train: np.ndarray | None = None):
    """The binary book × link matrix of the training pairs.

    Parameters
    ----------
    pair_books, pair_links : ndarray of int, shape (n_pairs,)
        Every true pair.
    n_books, n_links : int
    train : ndarray of bool, shape (n_pairs,), optional
        The pairs that may be used (``~heldout``); all when None.

    Returns
    -------
    scipy.sparse.csr_matrix of float32, shape (n_books, n_links)
    """
    import scipy.sparse as sp

    pb, pl = np.asarray(pair_books), np.asarray(pair_links)
    if train is not None:
        train = np.asarray(train, dtype=bool)
        if train.shape != pb.shape:
            raise BookembedError(f"train mask has shape {train.shape}, pairs have {pb.shape}")
        pb, pl = pb[train], pl[train]
    matrix = sp.csr_matrix((np.ones(len(pb), np.float32), (pb, pl)), shape=(int(n_books), int(n_links)))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0  # a pair listed twice is still one pair
    return matrix


def _check_dim(matrix, dim: int) -> int:
    limit = min(matrix.shape) - 1
    if dim < 1:
        raise BookembedError(f"dim must be at least 1, got {dim}")
    if limit < 1:
        raise BookembedError(f"a {matrix.shape[0]} × {matrix.shape[1]} matrix is too small to factorise")
    return min(int(dim), limit)


def _pad(vectors: np.ndarray, dim: int) -> np.ndarray:
    """Zero columns up to ``dim`` (a tiny matrix has fewer factors than asked); float32."""
    out = np.zeros((vectors.shape[0], dim), dtype=np.float32)
    out[:, : vectors.shape[1]] = vectors
    return out


def svd_vectors(matrix, dim: int = 50, tfidf: bool = False, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Truncated SVD of a book × link matrix.

    Parameters
    ----------
    matrix : scipy.sparse matrix, shape (n_books, n_links)
        Binary training pairs (``training_matrix``).
    dim : int
        Factors kept (at most ``min(shape) - 1``; the rest are zero columns).
    tfidf : bool
        Weight links by inverse document frequency and scale rows to unit
        length first (scikit-learn's ``TfidfTransformer`` defaults).
    seed : int
        Seeds the randomized solver.

    Returns
    -------
    book_vectors : ndarray of float32, shape (n_books, dim)
        ``U · S``.
    link_vectors : ndarray of float32, shape (n_links, dim)
        ``V · S``.
    """
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfTransformer

    k = _check_dim(matrix, dim)
    x = TfidfTransformer().fit_transform(matrix) if tfidf else matrix
    svd = TruncatedSVD(n_components=k, algorithm="randomized", n_iter=7, random_state=seed)
    books = svd.fit_transform(x)  # U · S
    links = svd.components_.T * svd.singular_values_
    return _pad(books, dim), _pad(links, dim)


def als_vectors(matrix, dim: int = 50, seed: int = 0, *, iterations: int = 15, regularization: float = 0.1,
                alpha: float = 10.0, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Implicit-feedback ALS (``implicit.als.AlternatingLeastSquares``) of a book × link matrix.

    Parameters
    ----------
    matrix : scipy.sparse matrix, shape (n_books, n_links)
        Binary training pairs; a true pair gets confidence ``1 + alpha``.
    dim : int
        Factors.
    seed : int
        Seeds the initial factors.
    iterations, regularization, alpha : float
        ALS's settings. implicit's defaults (15, 0.01, 1) ranked held-out
        links clearly worse on p15 and on the planted corpus than alpha 10
        with regularization 0.1, the best of a small grid (alpha 1 to 10,
        regularization 0.01 to 1); docs/quality.md has the figures.
    threads : int
        Threads for implicit's solver (its results do not depend on them).

    Returns
    -------
    book_vectors : ndarray of float32, shape (n_books, dim)
    link_vectors : ndarray of float32, shape (n_links, dim)
    """
    try:
        from implicit.cpu.als import AlternatingLeastSquares
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise BookembedError("the ALS baseline needs the `implicit` package: pip install implicit") from exc
    from threadpoolctl import threadpool_limits

    if dim < 1:
        raise BookembedError(f"dim must be at least 1, got {dim}")
    # implicit runs its own threads; BLAS threads on top of them only contend (it warns when built without this)
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(factors=int(dim), regularization=regularization, alpha=alpha,
                                        iterations=iterations, random_state=seed, num_threads=int(threads))
        model.fit(matrix.tocsr().astype(np.float32), show_progress=False)
    return (np.ascontiguousarray(model.user_factors, dtype=np.float32),
            np.ascontiguousarray(model.item_factors, dtype=np.float32))


def fit_baseline(name: str, pair_books: np.ndarray, pair_links: np.ndarray, n_books: int, n_links: int,
                 heldout: np.ndarray | None = None, dim: int = 50, seed: int = 0) -> BaselineVectors:
    """Fit one baseline on the pairs that are not held out.

    Parameters
    ----------
    name : {"svd", "svd-tfidf", "als"}
    pair_books, pair_links : ndarray of int, shape (n_pairs,)
    n_books, n_links : int
    heldout : ndarray of bool, shape (n_pairs,), optional
        Pairs the baseline must not see (a model folder's ``heldout``).
    dim : int
    seed : int

    Returns
    -------
    BaselineVectors
    """
    import time

    if name not in BASELINES:
        raise BookembedError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")
    # import outside the clock: the fit's time is what is reported
    import sklearn.decomposition  # noqa: F401
    import sklearn.feature_extraction.text  # noqa: F401

    if name == "als":
        try:
            import implicit.cpu.als  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise BookembedError("the ALS baseline needs the `implicit` package: pip install implicit") from exc
    start = time.perf_counter()
    train = None if heldout is None else ~np.asarray(heldout, dtype=bool)
    matrix = training_matrix(pair_books, pair_links, n_books, n_links, train)
    if name == "als":
        # as training does: one thread (reproducible to the bit) on small corpora, every core on large ones
        from bookembed.cores import PARALLEL_MIN_PAIRS, available_cores

        threads = available_cores() if matrix.nnz >= PARALLEL_MIN_PAIRS else 1
        books, links = als_vectors(matrix, dim, seed, threads=threads)
    else:
        books, links = svd_vectors(matrix, dim, tfidf=name == "svd-tfidf", seed=seed)
    return BaselineVectors(name, books, links, time.perf_counter() - start)
