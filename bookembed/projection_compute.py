"""Map coordinates for book vectors: UMAP, t-SNE or PCA, and how faithful a map is; no folder is touched.

The faithfulness of a projection is the mean share of each book's 10 nearest
neighbours (cosine, in the model's space) that are still among its 10 nearest
on the map (Euclidean): 1.0 means every local neighbourhood survived.

``umap`` and ``openTSNE`` are imported inside the functions that need them:
``import umap`` alone costs seconds (numba); ``import_umap`` keeps TensorFlow
out of it, and ``bookembed.warmup`` imports it and compiles its code ahead of
a server's first map. Caching the coordinates in the model folder is
``projection``'s business.
"""

from __future__ import annotations

import os
import re
import threading
import time

import numpy as np

from bookembed.projection_settings import (
    PCASettings,
    ProjectionError,
    Settings,
    TSNESettings,
    UMAPSettings,
    describe,
)
from bookembed.vectors import ProgressFn, cosine_knn, top_k_against, top_k_rows, unit_rows

FAITHFULNESS_K = 10
MAP_FIT_BOOKS = 50_000
"""UMAP and t-SNE are fitted on at most this many books (a seeded sample); every other book is
placed at the mean position of its ``PLACE_K`` nearest fitted books (cosine, exact)."""
PLACE_K = 10
EXACT_FAITHFULNESS = 50_000
"""Above this many books, faithfulness is measured on ``FAITHFULNESS_QUERIES`` sampled books."""
FAITHFULNESS_QUERIES = 5_000
TSNE_EXACT_BELOW = 10_000
"""Below this many fitted books, t-SNE's affinities come from exact cosine neighbours
(``cosine_knn``) and its gradient from Barnes-Hut on one thread; from this many up, from
openTSNE's approximate neighbours and its FFT-accelerated gradient on every core (openTSNE's
own rule picks Barnes-Hut below 10,000 too)."""
_UMAP_IMPORT = threading.Lock()


# ---------------------------------------------------------------- neighbours and faithfulness


def map_knn(coords: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` nearest other points on the map (Euclidean, KD-tree), shape (n, k)."""
    from scipy.spatial import cKDTree  # far cheaper to import than scikit-learn (docs/performance.md)

    coords = np.asarray(coords, dtype=np.float64)
    n = len(coords)
    k = min(k, n - 1)
    _, found = cKDTree(coords).query(coords, k=k + 1, workers=-1)
    # Drop each row's own point; where duplicates hide it, drop the farthest instead.
    own = found == np.arange(n)[:, None]
    own[~own.any(axis=1), -1] = True
    return found[~own].reshape(n, k)


def neighbour_overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row, the share of ``a``'s neighbours also in ``b`` (both shape (n, k)); shape (n,)."""
    if a.shape != b.shape:
        raise ValueError(f"neighbour lists differ in shape: {a.shape} and {b.shape}")
    k = a.shape[1]
    if k == 0:
        return np.ones(len(a))
    return (a[:, :, None] == b[:, None, :]).any(axis=2).sum(axis=1) / k


def faithfulness(vectors: np.ndarray, coords: np.ndarray, k: int = FAITHFULNESS_K, *,
                 knn: np.ndarray | None = None) -> float:
    """Mean share of each book's ``k`` nearest neighbours (cosine) kept among its ``k`` nearest on the map.

    See ``faithfulness_report`` (this is its ``faithfulness``).
    """
    return faithfulness_report(vectors, coords, k, knn=knn)["faithfulness"]


def faithfulness_report(
    vectors: np.ndarray,
    coords: np.ndarray,
    k: int = FAITHFULNESS_K,
    *,
    knn: np.ndarray | None = None,
    max_exact: int = EXACT_FAITHFULNESS,
    n_queries: int = FAITHFULNESS_QUERIES,
    seed: int = 0,
) -> dict:
    """Mean share of each book's ``k`` nearest neighbours (cosine) kept among its ``k`` nearest on the map.

    Parameters
    ----------
    vectors : ndarray, shape (n, dim)
    coords : ndarray, shape (n, dims)
    k : int
        Lowered to ``n - 1`` for tiny models.
    knn : ndarray of int, shape (n, >= k + 1), optional
        Precomputed cosine neighbours with each row's own point first
        (``cosine_knn``), to avoid computing them twice.
    max_exact, n_queries, seed : int
        Above ``max_exact`` books, ``n_queries`` books drawn with ``seed`` are
        scored (their neighbours are still found among every book, exactly):
        O(n_queries * n * dim) instead of O(n^2 * dim).

    Returns
    -------
    dict
        ``faithfulness`` (mean share), ``k``, ``queries`` (books scored) and
        ``stderr`` (the sampling error; 0 when every book was scored).
    """
    from scipy.spatial import cKDTree  # far cheaper to import than scikit-learn (docs/performance.md)

    n = len(vectors)
    k = min(k, n - 1)
    if k < 1:
        return {"faithfulness": 1.0, "k": max(k, 0), "queries": n, "stderr": 0.0}
    queries = np.arange(n)
    if n > max_exact:
        queries = np.sort(np.random.default_rng(seed).choice(n, size=min(n_queries, n), replace=False))
        knn = None
    if knn is None or knn.shape[1] < k + 1:
        knn, _ = top_k_rows(unit_rows(vectors), k + 1, queries=queries, self_first=True)
    coords = np.asarray(coords, dtype=np.float64)
    _, found = cKDTree(coords).query(coords[queries], k=k + 1, workers=-1)
    # Drop each query's own point; where duplicates hide it, drop the farthest instead.
    own = found == queries[:, None]
    own[~own.any(axis=1), -1] = True
    on_map = found[~own].reshape(len(queries), k)
    shares = neighbour_overlap(knn[:, 1 : k + 1], on_map)
    m = len(shares)
    stderr = float(shares.std(ddof=1) / np.sqrt(m) * np.sqrt(1 - m / n)) if m < n and m > 1 else 0.0
    return {"faithfulness": float(shares.mean()), "k": k, "queries": m, "stderr": stderr}


# ---------------------------------------------------------------- methods


class _TqdmProgress:
    """A file-like sink for tqdm that forwards ``n/total`` to a progress callback."""

    _pattern = re.compile(r"(\d+)/(\d+)")

    def __init__(self, progress: ProgressFn, label: str):
        self.progress, self.label = progress, label

    def write(self, text: str) -> int:
        found = self._pattern.findall(text)
        if found:
            done, total = (int(x) for x in found[-1])
            if total:
                self.progress(done / total, f"{self.label}: epoch {done} of {total}")
        return len(text)

    def flush(self) -> None:
        pass


def _stage(progress: ProgressFn | None, lo: float, hi: float) -> ProgressFn | None:
    """A callback that maps [0, 1] onto [lo, hi] of the overall progress."""
    if progress is None:
        return None
    return lambda fraction, stage: progress(lo + (hi - lo) * min(max(fraction, 0.0), 1.0), stage)


def _pca(vectors: np.ndarray, settings: PCASettings) -> tuple[np.ndarray, dict]:
    x = unit_rows(vectors) if settings.normalize else np.asarray(vectors, dtype=np.float32)
    x = (x - x.mean(axis=0)).astype(np.float64)
    # The components are the eigenvectors of the dim x dim scatter matrix:
    # O(n * dim^2) time and O(dim^2) extra memory, where an SVD of the n x dim
    # matrix would hold another n x dim copy.
    var, vectors_ = np.linalg.eigh(x.T @ x)
    order = np.argsort(-var, kind="stable")
    var, vt = np.maximum(var[order], 0.0), vectors_[:, order].T
    dims = min(settings.dims, vt.shape[0], len(x))
    # Deterministic signs: the largest loading of each component is positive.
    signs = np.sign(vt[np.arange(dims), np.abs(vt[:dims]).argmax(axis=1)])
    signs[signs == 0] = 1
    coords = (x @ vt[:dims].T) * signs
    if dims < settings.dims:  # fewer components than asked (tiny inputs)
        coords = np.hstack([coords, np.zeros((len(x), settings.dims - dims))])
    explained = (var[: settings.dims] / var.sum()).tolist() if var.sum() > 0 else [0.0] * settings.dims
    return coords, {"explained_variance": [round(v, 6) for v in explained]}


def import_umap():
    """``umap`` without its ParametricUMAP, which would import TensorFlow (seconds) for a class never used here.

    ``umap/__init__.py`` imports ``umap.parametric_umap`` inside ``try/except ImportError``;
    a ``None`` in ``sys.modules`` makes that one import fail (Python's documented way to do
    so), and umap falls back to its placeholder class. Only that submodule is kept out, and
    only while umap itself is first imported: TensorFlow stays importable for training,
    in this thread or any other.
    """
    import sys
    import warnings

    with _UMAP_IMPORT:
        if "umap" not in sys.modules:
            blocked = "umap.parametric_umap" not in sys.modules
            if blocked:
                sys.modules["umap.parametric_umap"] = None
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # umap warns that ParametricUMAP is unavailable
                    import umap  # noqa: F401
            finally:
                if blocked and sys.modules.get("umap.parametric_umap", 0) is None:
                    del sys.modules["umap.parametric_umap"]
    import umap

    return umap


def _umap(vectors, settings: UMAPSettings, knn, progress) -> tuple[np.ndarray, dict]:
    import warnings

    umap = import_umap()
    n = len(vectors)
    indices, distances = knn
    n_neighbors = min(settings.n_neighbors, n - 1)
    sink = _TqdmProgress(progress, "UMAP layout") if progress else None
    reducer = umap.UMAP(
        n_components=settings.dims,
        n_neighbors=n_neighbors,
        min_dist=settings.min_dist,
        metric="cosine",
        random_state=settings.seed,
        precomputed_knn=(indices[:, :n_neighbors], distances[:, :n_neighbors]),
        # Below 4,096 rows umap would otherwise ignore the neighbours given and compute
        # an n x n distance matrix; forcing its large-data path uses ours at every size, so
        # the code compiled by a small warm-up (``warm_up``) is the code every map runs.
        force_approximation_algorithm=True,
        tqdm_kwds={"disable": sink is None, "file": sink, "bar_format": "{n}/{total}", "mininterval": 0.5},
        init="spectral" if n > settings.dims + 1 else "random",
    )
    with warnings.catch_warnings():
        # "n_jobs overridden by random_state" and "no search index" are expected here.
        warnings.simplefilter("ignore")
        coords = reducer.fit_transform(unit_rows(vectors))
    return coords, {"n_neighbors_used": n_neighbors}


def _tsne(vectors, settings: TSNESettings, progress) -> tuple[np.ndarray, dict]:
    from openTSNE import TSNE

    n = len(vectors)
    perplexity = float(min(settings.perplexity, max(1.0, (n - 1) / 3)))
    total = 250 + settings.n_iter
    state = {"phase_start": 0, "last": 0}

    def callback(iteration, error, embedding):  # noqa: ARG001
        # openTSNE restarts the iteration count for the second phase.
        if iteration < state["last"]:
            state["phase_start"] = 250
        state["last"] = iteration
        done = state["phase_start"] + iteration
        if progress is not None:
            progress(done / total, f"t-SNE layout: iteration {done} of {total}")
        return False

    x = unit_rows(vectors)
    small = n < TSNE_EXACT_BELOW
    if progress is not None:
        progress(0.0, f"t-SNE: affinities from {'exact' if small else 'approximate'} cosine neighbours")
    tsne = TSNE(
        n_components=settings.dims,
        perplexity=perplexity,
        early_exaggeration=settings.early_exaggeration,
        n_iter=settings.n_iter,
        metric="cosine",
        negative_gradient_method="bh" if small or settings.dims > 2 else "fft",
        # Below TSNE_EXACT_BELOW the threads cost more than they share out, worst beside other work.
        n_jobs=1 if small else max(1, os.cpu_count() or 1),
        random_state=settings.seed,
        callbacks=callback,
        callbacks_every_iters=25,
    )
    if small:
        coords = np.asarray(tsne.fit(x, affinities=_exact_affinities(vectors, perplexity, settings.seed)))
    else:
        coords = np.asarray(tsne.fit(x))
    extra = {"perplexity_used": perplexity, "neighbours": "exact" if small else "approximate",
             "gradient": "barnes-hut" if small or settings.dims > 2 else "fft"}
    return coords, extra


def _exact_affinities(vectors: np.ndarray, perplexity: float, seed: int):
    """openTSNE's perplexity affinities over exact cosine neighbours (``3 * perplexity`` of them, as openTSNE takes).

    Finding them here rather than through openTSNE also spares its check for pynndescent,
    which imports numba and pynndescent (seconds in a fresh process) for a search it then
    does not use.
    """
    from openTSNE.affinity import PerplexityBasedNN
    from openTSNE.nearest_neighbors import PrecomputedNeighbors

    k = min(len(vectors) - 1, int(3 * perplexity))
    indices, distances = cosine_knn(vectors, k + 1)  # each row's own point first: dropped
    knn = PrecomputedNeighbors(np.ascontiguousarray(indices[:, 1:], dtype=np.int64),
                               np.ascontiguousarray(distances[:, 1:], dtype=np.float64))
    return PerplexityBasedNN(perplexity=perplexity, knn_index=knn, n_jobs=1, random_state=seed)


def _place(unit: np.ndarray, fitted: np.ndarray, fitted_coords: np.ndarray, rest: np.ndarray,
           progress: ProgressFn | None) -> np.ndarray:
    """Coordinates of the ``rest`` books: the mean position of each one's ``PLACE_K`` nearest fitted books.

    Exact cosine search, O(len(rest) * len(fitted) * dim) in blocks.
    """
    nearest, _ = top_k_against(unit[rest], unit[fitted], PLACE_K, progress=progress)
    return fitted_coords[nearest].mean(axis=1)


def compute_projection(
    vectors: np.ndarray, settings: Settings, progress: ProgressFn | None = None
) -> tuple[np.ndarray, dict]:
    """Project vectors and measure faithfulness, without touching any folder.

    Costs for n books: PCA is O(n * dim^2). UMAP and t-SNE are fitted on at
    most ``MAP_FIT_BOOKS`` books (exact neighbours among them, then the
    layout), and the other books are placed by their nearest fitted books,
    O((n - fit) * fit * dim); so a million books take minutes, not hours.
    Faithfulness is exact up to ``EXACT_FAITHFULNESS`` books, sampled above.

    Parameters
    ----------
    vectors : ndarray, shape (n_books, dim)
    settings : UMAPSettings, TSNESettings or PCASettings
    progress : callable, optional
        ``progress(fraction, stage)`` while it runs.

    Returns
    -------
    coords : ndarray of float32, shape (n_books, dims)
    info : dict
        ``faithfulness``, ``faithfulness_k``, ``faithfulness_queries`` and
        ``faithfulness_stderr``, ``fitted_books``, ``seconds`` and
        method-specific ``extra`` facts.
    """
    # 1. check the input
    vectors = np.asarray(vectors, dtype=np.float32)
    n = len(vectors)
    if n < 3:
        raise ProjectionError(f"a map needs at least 3 books, this model has {n}")
    started = time.perf_counter()
    k_faith = min(FAITHFULNESS_K, n - 1)
    knn_idx = None
    # 2. which books the layout is fitted on: all, or a seeded sample
    fitted = np.arange(n)
    if settings.method != "pca" and n > MAP_FIT_BOOKS:
        fitted = np.sort(np.random.default_rng(settings.seed).choice(n, MAP_FIT_BOOKS, replace=False))
    fit_share = 0.9 if len(fitted) == n else 0.55
    # 3. fit
    if settings.method == "umap":
        # Exact neighbours serve both UMAP (its graph) and, without a sample, the faithfulness score.
        k = max(min(settings.n_neighbors, len(fitted) - 1), k_faith + 1)
        knn = cosine_knn(vectors[fitted], k, progress=_stage(progress, 0.0, 0.15))
        if progress:
            progress(0.15, "UMAP: fuzzy neighbour graph and spectral start (numba compiles on first use)")
        fit_coords, extra = _umap(vectors[fitted], settings, knn, _stage(progress, 0.15, fit_share))
        knn_idx = knn[0] if len(fitted) == n else None
    elif settings.method == "tsne":
        fit_coords, extra = _tsne(vectors[fitted], settings, _stage(progress, 0.0, fit_share))
    else:
        if progress:
            progress(0.0, "PCA")
        fit_coords, extra = _pca(vectors, settings)
    # 4. place the books the layout did not see
    coords = np.empty((n, settings.dims), dtype=np.float32)
    coords[fitted] = fit_coords
    if len(fitted) < n:
        rest = np.setdiff1d(np.arange(n), fitted, assume_unique=True)
        placing = _stage(progress, fit_share, 0.9)
        coords[rest] = _place(unit_rows(vectors), fitted, coords[fitted], rest,
                              None if placing is None else lambda f, _: placing(f, "placing the other books by "
                                                                               "their nearest fitted books"))
        extra = {**extra, "placed_by_nearest": PLACE_K}
    if not np.all(np.isfinite(coords)):
        raise ProjectionError(f"{describe(settings)} produced NaN or infinite coordinates")
    # 5. how faithful the map is
    if progress:
        progress(0.9, f"faithfulness: {k_faith} nearest neighbours in the vectors and on the map")
    faith = faithfulness_report(vectors, coords, k_faith, knn=knn_idx)
    return coords, {"faithfulness": faith["faithfulness"], "faithfulness_k": faith["k"],
                    "faithfulness_queries": faith["queries"] if faith["queries"] < n else None,
                    "faithfulness_stderr": faith["stderr"], "fitted_books": int(len(fitted)),
                    "seconds": time.perf_counter() - started, "extra": extra}
