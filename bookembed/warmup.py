"""What a fresh process pays before its first map, and paying it ahead: umap's import, numba's compiling.

A fresh process that draws a UMAP map pays three things before the layout
itself: ``import umap`` (which imports TensorFlow for a ParametricUMAP this
project never uses, unless ``projection_compute.import_umap`` keeps it
out), pynndescent's import (numba loads its compiled code from numba's
on-disk cache, kept next to the package or, where that is read-only, in the
user's cache directory), and the
compiling of umap's own graph and layout code, which umap-learn does not mark
for numba's cache, so every process compiles it again. ``warm_up`` pays all of
it on a few hundred seeded random vectors, through the very code a map runs
(``projection_compute.compute_projection``), so a server that calls it in the
background draws its first map at the speed of later ones.
"""

from __future__ import annotations

import numpy as np

from bookembed.projection_compute import compute_projection
from bookembed.projection_compute import import_umap  # noqa: F401  (re-exported: its home was this module)
from bookembed.projection_settings import UMAPSettings

WARM_BOOKS = 200
"""Vectors the warm-up projects: enough for umap's usual path (a connected graph, a spectral start)."""


def warm_up() -> None:
    """Import umap and openTSNE and compile what a UMAP map runs (2-D and 3-D share it), on seeded random vectors.

    The arrays have the dtypes a real map passes (float32 vectors, int64 neighbours,
    float32 distances), so numba's compiled versions are the ones a real map calls.
    Changes no state a later projection reads: its results are the same with or
    without a warm-up before them (``tests/test_projection.py`` checks).
    """
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(8, 16))
    vectors = (centres[rng.integers(0, 8, WARM_BOOKS)] + 0.3 * rng.normal(size=(WARM_BOOKS, 16))).astype(np.float32)
    compute_projection(vectors, UMAPSettings())
    import openTSNE  # noqa: F401  (compiled Cython: its import, mostly scikit-learn's, is all there is to warm)
