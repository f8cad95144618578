"""Projection settings: one small frozen dataclass per method (UMAP, t-SNE, PCA), its key and its description.

A projection is described by its settings. Its key, e.g. ``umap-2d-3f9c0a1b2e``,
is derived from the method, the number of dimensions and the parameters, so
the same request always finds the same cached files (``projection``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from typing import ClassVar, Union

from bookembed.errors import BookembedError


class ProjectionError(BookembedError):
    """Bad projection settings, or a projection that cannot be computed."""


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


def settings_from_info(info: dict) -> Settings:
    """Rebuild the settings from a projection's ``.json`` description."""
    params = dict(info.get("params") or {})
    return make_settings(str(info.get("method")), **params)

