"""Map coordinates for a model's book vectors: UMAP, t-SNE or PCA, cached in the model folder.

A projection is described by a small frozen settings object (one class per
method). Its key, e.g. ``umap-2d-3f9c0a1b2e``, is derived from the method, the
number of dimensions and the parameters, so the same request always finds the
same files::

    <model>/projections/<key>.npy    float32, shape (n_books, dims)
    <model>/projections/<key>.json   key, method, dims, params, n_books, created,
                                     faithfulness, seconds, vectors (checksum)

``project(model, settings)`` returns the cached coordinates when they exist
and were made from the same vectors, and otherwise computes and stores them.
Both files are written atomically; the ``.npy`` goes first and the ``.json``
last, so a crash leaves either a complete pair or no usable entry.

The faithfulness of a projection is the mean share of each book's 10 nearest
neighbours (cosine, in the model's space) that are still among its 10 nearest
on the map (Euclidean): 1.0 means every local neighbourhood survived.

Saved map views ("bookmarks") live next to the projections in
``<model>/views.json``; the Projector exporter turns them into bookmarks.

``umap`` and ``openTSNE`` are imported inside the functions that need them:
``import umap`` alone costs seconds (numba); ``bookembed.warmup`` imports it
without TensorFlow and compiles its code ahead of a server's first map.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import ClassVar, Union

import numpy as np

from bookembed.errors import BookembedError
from bookembed.store import write_json_atomic, write_npy_atomic
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
PROJECTIONS = "projections"
VIEWS = "views.json"


class ProjectionError(BookembedError):
    """Bad projection settings, or a projection that cannot be computed."""


# ---------------------------------------------------------------- settings


@dataclass(frozen=True)
class UMAPSettings:
    """UMAP with the cosine metric (umap-learn).

    Attributes
    ----------
    dims : {2, 3}
    n_neighbors : int
        Size of the local neighbourhood: small values keep fine structure,
        large values the global layout.
    min_dist : float
        How tightly points may pack on the map.
    seed : int
        Fixes the layout (and makes umap-learn run single-threaded).
    """

    method: ClassVar[str] = "umap"
    dims: int = 2
    n_neighbors: int = 15
    min_dist: float = 0.1
    seed: int = 42

    def __post_init__(self) -> None:
        _check_dims(self.dims)
        if self.n_neighbors < 2:
            raise ProjectionError(f"n_neighbors must be at least 2, got {self.n_neighbors}")
        if not (0.0 <= self.min_dist <= 1.0):
            raise ProjectionError(f"min_dist must be in [0, 1], got {self.min_dist}")


@dataclass(frozen=True)
class TSNESettings:
    """t-SNE with the cosine metric (openTSNE: Barnes-Hut below ``TSNE_EXACT_BELOW`` books or in 3-D, else FFT-accelerated).

    Attributes
    ----------
    dims : {2, 3}
    perplexity : float
        Roughly the number of neighbours each point attends to.
    early_exaggeration : float
        Attraction boost in the first 250 iterations; higher separates clusters more.
    n_iter : int
        Iterations after the early-exaggeration phase.
    seed : int
    """

    method: ClassVar[str] = "tsne"
    dims: int = 2
    perplexity: float = 30.0
    early_exaggeration: float = 12.0
    n_iter: int = 500
    seed: int = 42

    def __post_init__(self) -> None:
        _check_dims(self.dims)
        if not self.perplexity > 0:
            raise ProjectionError(f"perplexity must be positive, got {self.perplexity}")
        if not self.early_exaggeration >= 1:
            raise ProjectionError(f"early_exaggeration must be at least 1, got {self.early_exaggeration}")
        if self.n_iter < 1:
            raise ProjectionError(f"n_iter must be at least 1, got {self.n_iter}")


@dataclass(frozen=True)
class PCASettings:
    """Principal components (numpy SVD).

    Attributes
    ----------
    dims : {2, 3}
    normalize : bool
        Project the L2-normalised vectors (the geometry cosine similarity
        sees) rather than the raw ones.
    """

    method: ClassVar[str] = "pca"
    dims: int = 2
    normalize: bool = True

    def __post_init__(self) -> None:
        _check_dims(self.dims)


Settings = Union[UMAPSettings, TSNESettings, PCASettings]
SETTINGS: dict[str, type] = {"umap": UMAPSettings, "tsne": TSNESettings, "pca": PCASettings}
METHOD_NAMES = {"umap": "UMAP", "tsne": "t-SNE", "pca": "PCA"}


def _check_dims(dims: int) -> None:
    if dims not in (2, 3):
        raise ProjectionError(f"dims must be 2 or 3, got {dims}")


def make_settings(method: str, **params) -> Settings:
    """Settings for ``method`` (``"umap"``, ``"tsne"`` or ``"pca"``) from keyword parameters.

    Unknown parameters are an error, so a typo cannot silently fall back to a default.
    """
    cls = SETTINGS.get(method)
    if cls is None:
        raise ProjectionError(f"unknown projection method {method!r}; use one of {', '.join(SETTINGS)}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ProjectionError(f"{METHOD_NAMES[method]} has no parameter(s) {', '.join(unknown)}")
    return cls(**params)


def settings_params(settings: Settings) -> dict:
    """The parameters as plain JSON values (``dims`` included)."""
    return asdict(settings)


def projection_key(settings: Settings) -> str:
    """Stable file key: method, dims and a hash of the parameters, e.g. ``umap-2d-3f9c0a1b2e``."""
    params = settings_params(settings)
    blob = json.dumps({"method": settings.method, **params}, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(blob.encode()).hexdigest()[:10]
    return f"{settings.method}-{settings.dims}d-{digest}"


def describe(settings: Settings) -> str:
    """One line for humans: ``UMAP 2-D, n_neighbors=15, min_dist=0.1, seed=42``."""
    params = {k: v for k, v in settings_params(settings).items() if k != "dims"}
    return f"{METHOD_NAMES[settings.method]} {settings.dims}-D, " + ", ".join(f"{k}={v}" for k, v in params.items())


# ---------------------------------------------------------------- neighbours and faithfulness


def map_knn(coords: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` nearest other points on the map (Euclidean, KD-tree), shape (n, k)."""
    from scipy.spatial import cKDTree  # a third of scikit-learn's import time

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
    from scipy.spatial import cKDTree  # a third of scikit-learn's import time

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


def _umap(vectors, settings: UMAPSettings, knn, progress) -> tuple[np.ndarray, dict]:
    import warnings

    from bookembed.warmup import import_umap

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


# ---------------------------------------------------------------- the cache in the model folder
#
# This module is the only reader and writer of <model>/projections/ and
# <model>/views.json: the Map page, the CLI and the exporter all come here,
# so a projection the app calls stale is stale for an export too.


def projection_paths(model_path: str | Path, key: str) -> tuple[Path, Path]:
    """The ``.npy`` coordinates and the ``.json`` sidecar of a projection key."""
    folder = Path(model_path) / PROJECTIONS
    return folder / f"{key}.npy", folder / f"{key}.json"


def _read_json(file: Path):
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def _stale_reason(model, info) -> str | None:
    """Why a sidecar does not describe a usable projection of ``model`` (None when it does)."""
    if not isinstance(info, dict):
        return "damaged description"
    try:
        settings_from_info(info)
    except (BookembedError, TypeError, ValueError):
        return "unknown method or parameters"
    if info.get("n_books") != model.n_books or info.get("vectors") != model.vectors_checksum:
        return "made from other vectors"
    return None


def projection_info(model, settings: Settings) -> dict | None:
    """The stored description of a cached projection, or None when there is no usable one."""
    npy, meta = projection_paths(model.path, projection_key(settings))
    if not npy.is_file():
        return None
    info = _read_json(meta)
    return info if _stale_reason(model, info) is None else None


def _read_coords(model, npy: Path, dims: int) -> np.ndarray | None:
    try:
        coords = np.load(npy, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if coords.shape != (model.n_books, dims) or not np.issubdtype(coords.dtype, np.number):
        return None
    if not np.all(np.isfinite(coords)):
        return None
    return coords.astype(np.float32, copy=False)


def load_projection(model, settings: Settings) -> np.ndarray | None:
    """Cached coordinates, shape (n_books, dims), or None when not computed (or stale, or damaged)."""
    if projection_info(model, settings) is None:
        return None
    npy, _ = projection_paths(model.path, projection_key(settings))
    return _read_coords(model, npy, settings.dims)


def project(model, settings: Settings, progress: ProgressFn | None = None) -> np.ndarray:
    """Coordinates of every book, from the folder's cache or computed and stored there.

    Parameters
    ----------
    model : ModelFolder
    settings : UMAPSettings, TSNESettings or PCASettings
    progress : callable, optional
        ``progress(fraction, stage)`` while computing (not called on a cache hit).

    Returns
    -------
    ndarray of float32, shape (n_books, dims)
        Row i is book id i.
    """
    cached = load_projection(model, settings)
    if cached is not None:
        return cached
    coords, info = compute_projection(model.book_vectors, settings, progress)
    key = projection_key(settings)
    npy, meta = projection_paths(model.path, key)
    if progress:
        progress(0.99, "saving to the model folder")
    write_npy_atomic(npy, coords)  # the array first, its description last
    write_json_atomic(
        meta,
        {
            "key": key,
            "method": settings.method,
            "dims": settings.dims,
            "params": settings_params(settings),
            "n_books": model.n_books,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "faithfulness": info["faithfulness"],
            "faithfulness_k": info["faithfulness_k"],
            "faithfulness_queries": info["faithfulness_queries"],
            "faithfulness_stderr": info["faithfulness_stderr"],
            "fitted_books": info["fitted_books"],
            "seconds": round(info["seconds"], 3),
            "extra": info["extra"],
            "vectors": model.vectors_checksum,
        },
    )
    if progress:
        progress(1.0, "done")
    return coords


@dataclass(frozen=True)
class CachedProjection:
    """One usable cached projection of a model's books.

    Attributes
    ----------
    key : str
    settings : UMAPSettings, TSNESettings or PCASettings
    info : dict
        The sidecar: faithfulness, seconds, created, ...
    coords : ndarray of float32, shape (n_books, dims)
    """

    key: str
    settings: Settings
    info: dict
    coords: np.ndarray = field(repr=False)

    @property
    def method(self) -> str:
        return self.settings.method

    @property
    def dims(self) -> int:
        return self.settings.dims

    @property
    def params(self) -> dict:
        return settings_params(self.settings)


def cached_projections(model, notes: list[str] | None = None) -> list[CachedProjection]:
    """Every usable cached projection of a model, newest first (each file read once).

    Parameters
    ----------
    model : ModelFolder
    notes : list of str, optional
        Gets one line for each cached file that was ignored, and why.
    """
    folder = Path(model.path) / PROJECTIONS
    found = []
    for npy in sorted(folder.glob("*.npy")) if folder.is_dir() else ():
        if npy.name.startswith("."):
            continue
        key = npy.stem
        info = _read_json(npy.with_suffix(".json"))
        reason = _stale_reason(model, info)
        coords = None
        if reason is None:
            settings = settings_from_info(info)
            coords = _read_coords(model, npy, settings.dims)
            reason = None if coords is not None else "damaged, misshapen or not finite coordinates"
        if reason is not None:
            if notes is not None:
                notes.append(f"note: ignored projection {key!r}: {reason}")
            continue
        found.append(CachedProjection(key, settings, info, coords))
    return sorted(found, key=lambda p: p.info.get("created", ""), reverse=True)


def settings_from_info(info: dict) -> Settings:
    """Rebuild the settings from a projection's ``.json`` description."""
    params = dict(info.get("params") or {})
    return make_settings(str(info.get("method")), **params)


def settings_for_key(model, key: str) -> Settings | None:
    """The settings of a cached projection, by key (None when it is not cached)."""
    _, meta = projection_paths(model.path, key)
    info = _read_json(meta)
    try:
        return settings_from_info(info) if isinstance(info, dict) else None
    except (BookembedError, TypeError, ValueError):
        return None


def faithfulness_sentence(info: dict, settings: Settings, dim: int) -> str | None:
    """What a map's faithfulness means, in one sentence (None when it was not measured)."""
    if info.get("faithfulness") is None:
        return None
    k = info.get("faithfulness_k", FAITHFULNESS_K)
    sampled = info.get("faithfulness_queries")
    scope = f" (± {info.get('faithfulness_stderr') or 0:.0%}, measured on {sampled:,} sampled books)" if sampled else ""
    fitted = info.get("fitted_books")
    if fitted and fitted < info.get("n_books", fitted):
        scope += f"; laid out on {fitted:,} sampled books, the others placed by their nearest"
    return (
        f"{describe(settings)} · faithfulness {info['faithfulness']:.0%}: on average, "
        f"{info['faithfulness'] * k:.1f} of each book's {k} nearest neighbours (cosine, in the "
        f"{dim}-d space) are also among its {k} nearest on this map{scope} · computed in "
        f"{info.get('seconds', 0):,.0f} s"
    )


# ---------------------------------------------------------------- saved views


@dataclass(frozen=True)
class View:
    """A saved map view ("bookmark"): which projection, what was selected and searched, the colouring.

    Stored in ``<model>/views.json`` as ``{"views": [View.to_json(), ...]}``.
    """

    name: str
    projection: str | None = None
    selected: tuple[int, ...] = ()
    query: tuple[str, ...] = ()
    color_by: str | None = None
    created: str = ""

    def to_json(self) -> dict:
        return {"name": self.name, "projection": self.projection, "selected": list(self.selected),
                "query": list(self.query), "color_by": self.color_by, "created": self.created}

    @classmethod
    def from_json(cls, value, n_books: int) -> tuple["View | None", str | None]:
        """A view from its JSON entry, or (None, why) when the entry is not a view.

        Selected ids outside ``range(n_books)`` are dropped (and said).
        """
        if not isinstance(value, dict) or not isinstance(value.get("name"), str):
            return None, "not a view with a name"
        raw = value.get("selected") if isinstance(value.get("selected"), list) else []
        ids = [s for s in raw if isinstance(s, int) and not isinstance(s, bool) and 0 <= s < n_books]
        note = f"view {value['name']!r}: dropped {len(raw) - len(ids)} selected ids that are not books" \
            if len(ids) != len(raw) else None
        query = value.get("query") if isinstance(value.get("query"), list) else []
        view = cls(
            name=value["name"],
            projection=value["projection"] if isinstance(value.get("projection"), str) else None,
            selected=tuple(dict.fromkeys(ids)),
            query=tuple(str(q) for q in query),
            color_by=value["color_by"] if isinstance(value.get("color_by"), str) else None,
            created=str(value.get("created", "")),
        )
        return view, note


def load_views(model, notes: list[str] | None = None) -> list[View]:
    """The saved map views of a model, oldest first; [] when there are none or the file is damaged.

    Parameters
    ----------
    model : ModelFolder
    notes : list of str, optional
        Gets one line for each entry (or file) that was skipped, and why.
    """
    file = Path(model.path) / VIEWS
    if not file.is_file():
        return []
    data = _read_json(file)
    raw = data.get("views") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        if notes is not None:
            notes.append(f"note: ignored {file}: not a views file")
        return []
    views = []
    for i, entry in enumerate(raw):
        view, note = View.from_json(entry, model.n_books)
        if note and notes is not None:
            notes.append(f"note: {file.name}: " + (f"skipped entry {i}: {note}" if view is None else note))
        if view is not None:
            views.append(view)
    return views


def save_view(model, name: str, *, projection: str, selected=(), query=(), color_by: str = "genre") -> View:
    """Add a named view to ``views.json`` (replacing one of the same name) and return it.

    Parameters
    ----------
    model : ModelFolder
    name : str
        Shown in the app and as the Projector bookmark's description.
    projection : str
        A projection key (``projection_key``).
    selected : sequence of int
        Selected book ids.
    query : sequence of str
        The searched titles.
    color_by : str
        What the points were coloured by.
    """
    name = name.strip()
    if not name:
        raise BookembedError("a saved view needs a name")
    view = View(name=name, projection=projection, selected=tuple(int(i) for i in selected),
                query=tuple(str(q) for q in query), color_by=color_by,
                created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    views = [v for v in load_views(model) if v.name != name] + [view]
    write_json_atomic(Path(model.path) / VIEWS, {"views": [v.to_json() for v in views]})
    return view


def delete_view(model, name: str) -> None:
    """Remove the view called ``name`` (nothing happens when there is none)."""
    views = load_views(model)
    kept = [v for v in views if v.name != name]
    if len(kept) != len(views):
        write_json_atomic(Path(model.path) / VIEWS, {"views": [v.to_json() for v in kept]})
