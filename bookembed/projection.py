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
``import umap`` alone costs seconds (numba).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, ClassVar, Union

import numpy as np

from bookembed.errors import BookembedError
from bookembed.store import write_json_atomic, write_npy_atomic

ProgressFn = Callable[[float, str], object]
"""``progress(fraction, stage)``: fraction in [0, 1], stage a short sentence."""

FAITHFULNESS_K = 10
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
    """t-SNE with the cosine metric (openTSNE: FFT-accelerated in 2-D, Barnes-Hut in 3-D).

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


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (float32); zero rows stay zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _top_k_rows(sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column ids and values of each row's ``k`` largest entries, largest first.

    ``np.partition`` on values is several times faster than ``np.argpartition``,
    so the k-th largest value is found first and the few entries at or above it
    are sorted (ties at the threshold may give more than k candidates; the
    first k in column order win).
    """
    n_rows, n = sims.shape
    if k >= n:
        order = np.argsort(-sims, axis=1, kind="stable")
        return order, np.take_along_axis(sims, order, axis=1)
    kth = np.partition(sims, n - k, axis=1)[:, n - k]
    # flatnonzero on the 1-D view is ten times faster than a 2-D nonzero.
    flat = np.flatnonzero(sims >= kth[:, None])
    rows, cols = np.divmod(flat, n)
    vals = sims.ravel()[flat]
    order = np.lexsort((-vals, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    rank = np.arange(len(rows)) - np.searchsorted(rows, rows)
    keep = rank < k
    return cols[keep].reshape(n_rows, k).astype(np.int64), vals[keep].reshape(n_rows, k)


def cosine_knn(
    vectors: np.ndarray, k: int, *, block: int = 1024, progress: ProgressFn | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``k`` nearest neighbours by cosine similarity, each row's own point first.

    Parameters
    ----------
    vectors : ndarray, shape (n, dim)
    k : int
        Neighbours per row, counting the row itself (``k <= n``).
    block : int
        Rows per matrix product; memory is ``block * n`` floats.

    Returns
    -------
    indices : ndarray of int64, shape (n, k)
        Column 0 is the row itself, then the nearest first.
    distances : ndarray of float32, shape (n, k)
        Cosine distances ``1 - cos``, ascending.
    """
    unit = unit_rows(vectors)
    n = len(unit)
    k = min(k, n)
    indices = np.empty((n, k), dtype=np.int64)
    distances = np.empty((n, k), dtype=np.float32)
    unit_t = np.ascontiguousarray(unit.T)
    buffer = np.empty((min(block, n), n), dtype=np.float32)  # reused: fresh 150 MB blocks cost page faults
    for start in range(0, n, block):
        sims = np.matmul(unit[start : start + block], unit_t, out=buffer[: min(block, n - start)])
        rows = np.arange(sims.shape[0])
        # The row itself goes first even when a twin has the same vector.
        sims[rows, start + rows] = 2.0
        top, top_sims = _top_k_rows(sims, k)
        indices[start : start + block] = top
        dist = 1.0 - top_sims
        dist[:, 0] = 0.0
        distances[start : start + block] = np.maximum(dist, 0.0)
        if progress is not None:
            progress(min(1.0, (start + block) / n), f"nearest neighbours: {min(start + block, n):,} of {n:,} books")
    return indices, distances


def map_knn(coords: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` nearest other points on the map (Euclidean, KD-tree), shape (n, k)."""
    from sklearn.neighbors import KDTree

    coords = np.asarray(coords, dtype=np.float64)
    n = len(coords)
    k = min(k, n - 1)
    _, found = KDTree(coords).query(coords, k=k + 1)
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


def faithfulness(
    vectors: np.ndarray,
    coords: np.ndarray,
    k: int = FAITHFULNESS_K,
    *,
    knn: np.ndarray | None = None,
) -> float:
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
    """
    n = len(vectors)
    k = min(k, n - 1)
    if k < 1:
        return 1.0
    if knn is None or knn.shape[1] < k + 1:
        knn, _ = cosine_knn(vectors, k + 1)
    return float(neighbour_overlap(knn[:, 1 : k + 1], map_knn(coords, k)).mean())


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
    x = x - x.mean(axis=0)
    u, s, vt = np.linalg.svd(x.astype(np.float64), full_matrices=False)
    dims = min(settings.dims, vt.shape[0])
    # Deterministic signs: the largest loading of each component is positive.
    signs = np.sign(vt[np.arange(dims), np.abs(vt[:dims]).argmax(axis=1)])
    signs[signs == 0] = 1
    coords = u[:, :dims] * s[:dims] * signs
    if dims < settings.dims:  # fewer components than asked (tiny inputs)
        coords = np.hstack([coords, np.zeros((len(x), settings.dims - dims))])
    var = s**2
    explained = (var[: settings.dims] / var.sum()).tolist() if var.sum() > 0 else [0.0] * settings.dims
    return coords, {"explained_variance": [round(v, 6) for v in explained]}


def _umap(vectors, settings: UMAPSettings, knn, progress) -> tuple[np.ndarray, dict]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # umap's optional ParametricUMAP complains about torch/ONNX
        import umap

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

    if progress is not None:
        progress(0.0, "t-SNE: affinities from approximate cosine neighbours")
    tsne = TSNE(
        n_components=settings.dims,
        perplexity=perplexity,
        early_exaggeration=settings.early_exaggeration,
        n_iter=settings.n_iter,
        metric="cosine",
        negative_gradient_method="fft" if settings.dims <= 2 else "bh",
        n_jobs=max(1, os.cpu_count() or 1),
        random_state=settings.seed,
        callbacks=callback,
        callbacks_every_iters=25,
    )
    coords = np.asarray(tsne.fit(unit_rows(vectors)))
    return coords, {"perplexity_used": perplexity}


def compute_projection(
    vectors: np.ndarray, settings: Settings, progress: ProgressFn | None = None
) -> tuple[np.ndarray, dict]:
    """Project vectors and measure faithfulness, without touching any folder.

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
        ``faithfulness``, ``seconds`` and method-specific ``extra`` facts.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    n = len(vectors)
    if n < 3:
        raise ProjectionError(f"a map needs at least 3 books, this model has {n}")
    started = time.perf_counter()
    k_faith = min(FAITHFULNESS_K, n - 1)
    if settings.method == "umap":
        # Exact neighbours serve both UMAP (its graph) and the faithfulness score.
        k = max(min(settings.n_neighbors, n - 1), k_faith + 1)
        knn = cosine_knn(vectors, k, progress=_stage(progress, 0.0, 0.15))
        if progress:
            progress(0.15, "UMAP: fuzzy neighbour graph and spectral start (numba compiles on first use)")
        coords, extra = _umap(vectors, settings, knn, _stage(progress, 0.15, 0.9))
        knn_idx = knn[0]
    else:
        if settings.method == "tsne":
            coords, extra = _tsne(vectors, settings, _stage(progress, 0.0, 0.85))
        else:
            if progress:
                progress(0.0, "PCA")
            coords, extra = _pca(vectors, settings)
        knn_idx, _ = cosine_knn(vectors, k_faith + 1, progress=_stage(progress, 0.85 if settings.method == "tsne" else 0.1, 0.97))
    coords = np.ascontiguousarray(coords, dtype=np.float32)
    if not np.all(np.isfinite(coords)):
        raise ProjectionError(f"{describe(settings)} produced NaN or infinite coordinates")
    if progress:
        progress(0.97, f"faithfulness: {k_faith} nearest neighbours on the map")
    score = faithfulness(vectors, coords, k_faith, knn=knn_idx)
    return coords, {"faithfulness": score, "faithfulness_k": k_faith, "seconds": time.perf_counter() - started, "extra": extra}


# ---------------------------------------------------------------- the cache in the model folder


def vectors_checksum(model) -> str:
    """SHA-1 of the book vectors' bytes (cached on the model): ties a projection to its vectors."""
    if "vectors_sha1" not in model._cache:
        data = np.ascontiguousarray(model.book_vectors, dtype=np.float32)
        model._cache["vectors_sha1"] = hashlib.sha1(data.tobytes()).hexdigest()
    return model._cache["vectors_sha1"]


def projection_paths(model_path: str | Path, key: str) -> tuple[Path, Path]:
    folder = Path(model_path) / PROJECTIONS
    return folder / f"{key}.npy", folder / f"{key}.json"


def projection_info(model, settings: Settings) -> dict | None:
    """The stored description of a cached projection, or None when there is no usable one."""
    npy, meta = projection_paths(model.path, projection_key(settings))
    if not (npy.is_file() and meta.is_file()):
        return None
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    if info.get("n_books") != model.n_books or info.get("vectors") != vectors_checksum(model):
        return None  # made from other vectors: stale
    return info


def load_projection(model, settings: Settings) -> np.ndarray | None:
    """Cached coordinates, shape (n_books, dims), or None when not computed (or stale, or damaged)."""
    if projection_info(model, settings) is None:
        return None
    npy, _ = projection_paths(model.path, projection_key(settings))
    try:
        coords = np.load(npy, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if coords.shape != (model.n_books, settings.dims) or not np.all(np.isfinite(coords)):
        return None
    return coords.astype(np.float32, copy=False)


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
    write_npy_atomic(npy, coords)
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
            "seconds": round(info["seconds"], 3),
            "extra": info["extra"],
            "vectors": vectors_checksum(model),
        },
    )
    if progress:
        progress(1.0, "done")
    return coords


def cached_projections(model) -> list[dict]:
    """Descriptions of the usable cached projections of a model, newest first."""
    folder = Path(model.path) / PROJECTIONS
    out = []
    for meta in folder.glob("*.json") if folder.is_dir() else ():
        try:
            info = json.loads(meta.read_text(encoding="utf-8"))
            settings = settings_from_info(info)
        except (OSError, ValueError, BookembedError, TypeError):
            continue
        if projection_info(model, settings) is not None:
            out.append(info)
    return sorted(out, key=lambda i: i.get("created", ""), reverse=True)


def settings_from_info(info: dict) -> Settings:
    """Rebuild the settings from a projection's ``.json`` description."""
    params = dict(info.get("params") or {})
    return make_settings(str(info.get("method")), **params)


def settings_for_key(model, key: str) -> Settings | None:
    """The settings of a cached projection, by key (None when it is not cached)."""
    _, meta = projection_paths(model.path, key)
    try:
        return settings_from_info(json.loads(meta.read_text(encoding="utf-8")))
    except (OSError, ValueError, BookembedError, TypeError):
        return None


# ---------------------------------------------------------------- saved views


def load_views(model_path: str | Path) -> list[dict]:
    """The saved map views of a model folder (``views.json``), oldest first; [] when none or damaged."""
    file = Path(model_path) / VIEWS
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return []
    views = data.get("views") if isinstance(data, dict) else None
    return [v for v in views if isinstance(v, dict) and isinstance(v.get("name"), str)] if isinstance(views, list) else []


def save_view(
    model_path: str | Path,
    name: str,
    *,
    projection: str,
    selected=(),
    query=(),
    color_by: str = "genre",
) -> dict:
    """Add a named view to ``views.json`` (replacing one of the same name) and return it.

    Parameters
    ----------
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
    view = {
        "name": name,
        "projection": projection,
        "selected": [int(i) for i in selected],
        "query": [str(q) for q in query],
        "color_by": color_by,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    views = [v for v in load_views(model_path) if v.get("name") != name] + [view]
    write_json_atomic(Path(model_path) / VIEWS, {"views": views})
    return view


def delete_view(model_path: str | Path, name: str) -> None:
    """Remove the view called ``name`` (nothing happens when there is none)."""
    views = load_views(model_path)
    kept = [v for v in views if v.get("name") != name]
    if len(kept) != len(views):
        write_json_atomic(Path(model_path) / VIEWS, {"views": kept})
