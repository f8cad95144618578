"""Projection settings: one small frozen dataclass per method (UMAP, t-SNE, PCA), its key and its description.

A projection is described by its settings; each field carries its help text,
bounds and the Map page's widget (``bookembed.settings``), so the page's
parameters are made from these declarations. Its key, e.g. ``umap-2d-3f9c0a1b2e``,
is derived from the method, the number of dimensions and the parameters, so
the same request always finds the same cached files (``projection``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from typing import ClassVar, Union

from bookembed.errors import BookembedError
from bookembed.settings import problems, setting, settings


class ProjectionError(BookembedError):
    """Bad projection settings, or a projection that cannot be computed."""


_DIMS_HELP = "Dimensions of the map: 2 or 3."
_SEED_HELP = "Fixes the layout: the same seed draws the same map."
_SEED_MAX = 2**32 - 1  # numpy's random states take seeds up to this


def _check(settings) -> None:
    """Raise one ``ProjectionError`` naming each field whose value breaks its declared bounds."""
    found = problems(settings)
    if found:
        raise ProjectionError("; ".join(found))


@dataclass(frozen=True)
class UMAPSettings:
    """UMAP with the cosine metric (umap-learn).

    Each field declares its help, bounds and the Map page's widget (``bookembed.settings``).

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
    dims: int = setting(2, _DIMS_HELP, choices=(2, 3))
    n_neighbors: int = setting(15, "Small: fine local clusters. Large: more of the global layout.",
                               label="Neighbours (n_neighbors)", min=2, slider=(2, 200))
    min_dist: float = setting(0.1, "How tightly points may pack.", label="Minimum distance (min_dist)",
                              min=0.0, max=1.0, slider=(0.0, 0.99), step=0.01)
    seed: int = setting(42, _SEED_HELP, label="Seed", min=0, max=_SEED_MAX)

    def __post_init__(self) -> None:
        _check(self)


@dataclass(frozen=True)
class TSNESettings:
    """t-SNE with the cosine metric (openTSNE: Barnes-Hut below ``TSNE_EXACT_BELOW`` books or in 3-D, else FFT-accelerated).

    Each field declares its help, bounds and the Map page's widget (``bookembed.settings``).

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
    dims: int = setting(2, _DIMS_HELP, choices=(2, 3))
    perplexity: float = setting(30.0, "Roughly the number of neighbours each book attends to.", label="Perplexity",
                                above=0.0, slider=(2.0, 100.0), step=1.0)
    early_exaggeration: float = setting(12.0, "Higher separates clusters more.", label="Early exaggeration",
                                        min=1.0, slider=(1.0, 50.0), step=1.0)
    n_iter: int = setting(500, "Iterations after the early-exaggeration phase.", label="Iterations", min=1,
                          slider=(100, 2000), step=50)
    seed: int = setting(42, _SEED_HELP, label="Seed", min=0, max=_SEED_MAX)

    def __post_init__(self) -> None:
        _check(self)


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
    dims: int = setting(2, _DIMS_HELP, choices=(2, 3))
    normalize: bool = setting(True, "Project the L2-normalised vectors rather than the raw ones.",
                              label="Use unit-length vectors (the geometry cosine similarity sees)")

    def __post_init__(self) -> None:
        _check(self)


Settings = Union[UMAPSettings, TSNESettings, PCASettings]
SETTINGS: dict[str, type] = {"umap": UMAPSettings, "tsne": TSNESettings, "pca": PCASettings}
METHOD_NAMES = {"umap": "UMAP", "tsne": "t-SNE", "pca": "PCA"}


def parameters(cls: type) -> list:
    """The settings (``bookembed.settings.Setting``) of a method's class that the Map page offers as its
    parameters: all but ``dims``, which the page chooses on its own."""
    return [s for s in settings(cls) if s.name != "dims"]


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

