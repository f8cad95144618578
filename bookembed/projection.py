"""Map coordinates for a model's book vectors: UMAP, t-SNE or PCA, cached in the model folder.

The settings live in ``projection_settings`` (one frozen class per method,
and the key derived from them), the computing in ``projection_compute``, the
saved map views in ``views``; their names are re-exported here, so
``from bookembed.projection import X`` reaches all of them. This module is
the cache: a projection's files, kept through the model folder's one cache
protocol (``ModelFolder.cached``, see ``bookembed.derived``)::

    <model>/projections/<key>.npy    float32, shape (n_books, dims)
    <model>/projections/<key>.json   key, method, dims, params, n_books, created,
                                     faithfulness, seconds, vectors (checksum)

``project(model, settings)`` returns the cached coordinates when they exist
and were made from the same vectors, and otherwise computes and stores them.
Both files are written atomically; the ``.npy`` goes first and the ``.json``
last, so a crash leaves either a complete pair or no usable entry. A
read-only model folder gets its coordinates all the same, not kept.

The faithfulness of a projection is the mean share of each book's 10 nearest
neighbours (cosine, in the model's space) that are still among its 10 nearest
on the map (Euclidean): 1.0 means every local neighbourhood survived.

The Map page, the CLI and the exporter all read projections here, so a
projection the app calls stale is stale for an export too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bookembed.derived import Unusable
from bookembed.errors import BookembedError
from bookembed.projection_compute import (  # noqa: F401  (re-exported)
    EXACT_FAITHFULNESS,
    FAITHFULNESS_K,
    FAITHFULNESS_QUERIES,
    MAP_FIT_BOOKS,
    PLACE_K,
    TSNE_EXACT_BELOW,
    _exact_affinities,
    compute_projection,
    faithfulness,
    faithfulness_report,
    import_umap,
    map_knn,
    neighbour_overlap,
)
from bookembed.projection_settings import (  # noqa: F401  (re-exported)
    METHOD_NAMES,
    SETTINGS,
    PCASettings,
    ProjectionError,
    Settings,
    TSNESettings,
    UMAPSettings,
    describe,
    make_settings,
    parameters,
    projection_key,
    settings_from_info,
    settings_params,
)
from bookembed.store import derived_files
from bookembed.vectors import ProgressFn, cosine_knn, unit_rows  # noqa: F401  (re-exported)
from bookembed.views import View, delete_view, load_views, save_view, views_stamp  # noqa: F401  (re-exported)

PROJECTIONS = "projections"
"""The kind of derived file (``store.DERIVED``) projections are kept as."""


def projection_paths(model_path: str | Path, key: str) -> tuple[Path, Path]:
    """The ``.npy`` coordinates and the ``.json`` sidecar of a projection key."""
    return derived_files(model_path, PROJECTIONS).paths(key)


def _check(model):
    """The sidecar checks of a projection of ``model`` (besides the vectors' checksum, which the protocol makes)."""

    def check(info: dict) -> str | None:
        try:
            settings_from_info(info)
        except (BookembedError, TypeError, ValueError):
            return "unknown method or parameters"
        return None if info.get("n_books") == model.n_books else "made from other vectors"

    return check


def _load(model):
    """Reads a projection's coordinates for ``model``: shape (n_books, dims), numeric and finite, or unusable."""

    def load(npy: Path, info: dict) -> np.ndarray:
        dims = settings_from_info(info).dims
        try:
            coords = np.load(npy, allow_pickle=False)
        except (OSError, ValueError):
            coords = None
        if (coords is None or coords.shape != (model.n_books, dims) or not np.issubdtype(coords.dtype, np.number)
                or not np.all(np.isfinite(coords))):
            raise Unusable("damaged, misshapen or not finite coordinates")
        return coords.astype(np.float32, copy=False)

    return load


def _save(coords: np.ndarray, path: Path) -> None:
    with open(path, "wb") as fh:  # a file, not a name: np.save would add ".npy" to a temporary name
        np.save(fh, coords, allow_pickle=False)


def projection_info(model, settings: Settings) -> dict | None:
    """The stored description of a cached projection, or None when there is no usable one."""
    entry = model.derived(PROJECTIONS).read(projection_key(settings), check=_check(model))
    return None if entry is None else entry.info


def load_projection(model, settings: Settings) -> np.ndarray | None:
    """Cached coordinates, shape (n_books, dims), or None when not computed (or stale, or damaged)."""
    entry = model.derived(PROJECTIONS).read(projection_key(settings), _load(model), _check(model))
    return None if entry is None else entry.value


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
    key = projection_key(settings)

    def compute() -> tuple[np.ndarray, dict]:
        coords, info = compute_projection(model.book_vectors, settings, progress)
        if progress:
            progress(0.99, "saving to the model folder")
        return coords, {
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
        }

    entry, cached = model.cached(PROJECTIONS, key, compute, _save, _load(model), check=_check(model))
    if progress and not cached:
        progress(1.0, "done")
    return entry.value


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
    entries = model.derived(PROJECTIONS).entries(_load(model), _check(model), what="projection", notes=notes)
    found = [CachedProjection(e.key, settings_from_info(e.info), e.info, e.value) for e in entries]
    return sorted(found, key=lambda p: p.info.get("created", ""), reverse=True)


def settings_for_key(model, key: str) -> Settings | None:
    """The settings of a cached projection, by key (None when it is not cached)."""
    info = derived_files(model.path, PROJECTIONS).sidecar(key)
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
