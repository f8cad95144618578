"""Two model folders side by side: do they agree on which books are alike?

Any two folders compare: two seeds, two dimensions, a trained model against
a baseline built another way. Books are matched by title; each model's
neighbours are searched among the shared books only, so the two lists are
drawn from the same candidates.

- **Overlap@k**: for each shared book, the share of its k nearest neighbours
  (cosine) in A that are also among its k nearest in B. 1.0 means the same
  neighbourhood.
- **Alignment**: an orthogonal Procrustes fit (``scipy.linalg.orthogonal_procrustes``)
  of B onto A over the shared books, after centring and scaling each to unit
  size. The *disparity* left, in [0, 1], is 0 when B is a rotation (or
  reflection) and rescaling of A. Used for the vectors (the shorter padded
  with zeros when the dimensions differ) and for two 2-D maps.

Cost for n shared books: the neighbour search is exact, in blocks of rows
(memory ``block * n`` floats), O(m n dim) for m books compared. Above
``MAX_COMPARED`` shared books, m = ``MAX_COMPARED`` books are sampled (their
neighbours still searched among all n), and past a million fewer, so that
m * n stays within ``evaluate.SAMPLE_WORK`` (never below its ``MIN_SAMPLED``);
the mean overlap is reported with its standard error. A block holds at most
``BLOCK_FLOATS`` similarities. Procrustes is O(n dim^2), on at most
``PROCRUSTES_MAX_ROWS`` sampled books.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bookembed.errors import BookembedError

MAX_COMPARED = 50_000
BLOCK = 1024
BLOCK_FLOATS = 1 << 27  # a block's similarities: at most this many float32s, whatever the books
PROCRUSTES_MAX_ROWS = 500_000
"""Above this many shared books the vector alignment (Procrustes) is fitted on a seeded sample of this many:
its float64 copies of every row grew with the books, several times over. The disparity is then the sample's."""


class CompareError(BookembedError):
    """Two models that cannot be compared; the message names them."""


def shared_books(a, b) -> tuple[np.ndarray, np.ndarray]:
    """Book ids of the titles both models hold, in A's order.

    Returns
    -------
    ids_a, ids_b : ndarray of int64, shape (n_shared,)
        ``a.titles[ids_a[i]] == b.titles[ids_b[i]]``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    # one hash of B's titles in Arrow, not a dict of Python strings (an object a book)
    titles_a, titles_b = (pa.array(m.books["title"], type=pa.large_string()) for m in (a, b))
    found = pc.fill_null(pc.index_in(titles_a, value_set=titles_b), -1).to_numpy(zero_copy_only=False)
    ids_a = np.flatnonzero(found >= 0).astype(np.int64)
    return ids_a, found[ids_a].astype(np.int64)


def _unit_rows_of(vectors: np.ndarray, ids: np.ndarray, chunk: int = 1 << 20) -> np.ndarray:
    """``_unit(vectors[ids])`` normalised in place a chunk of rows at a time: memory one copy of the rows."""
    out = np.asarray(vectors)[ids].astype(np.float32, copy=False)  # fancy indexing copies: ours to change
    for start in range(0, len(out), chunk):
        rows = out[start:start + chunk]
        rows /= np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
    return out


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def knn_rows(unit: np.ndarray, rows: np.ndarray, k: int, block: int = BLOCK) -> np.ndarray:
    """Exact cosine k nearest neighbours of some rows among all rows, the row itself left out.

    Parameters
    ----------
    unit : ndarray, shape (n, dim)
        Unit vectors.
    rows : ndarray of int, shape (m,)
        The rows whose neighbours are wanted.
    k : int
        ``1 <= k <= n - 1``.
    block : int
        Rows per matrix product: memory is about ``block * n`` floats.

    Returns
    -------
    ndarray of int64, shape (m, k)
        Nearest first; equal similarities in index order.
    """
    rows = np.asarray(rows, dtype=np.int64)
    unit = np.asarray(unit, dtype=np.float32)
    n = len(unit)
    if not 1 <= k <= n - 1:
        raise ValueError(f"k must be between 1 and {n - 1}, got {k}")
    out = np.empty((len(rows), k), dtype=np.int64)
    unit_t = np.ascontiguousarray(unit.T)
    buffer = np.empty((min(block, max(len(rows), 1)), n), dtype=np.float32)
    for start in range(0, len(rows), block):
        chunk = rows[start : start + block]
        sims = np.matmul(unit[chunk], unit_t, out=buffer[: len(chunk)])
        sims[np.arange(len(chunk)), chunk] = -np.inf
        # Partitioning the values (not their indices) and keeping those at or above each row's
        # k-th largest is several times faster than argpartition at 37k books (docs/app.md).
        kth = np.partition(sims, n - k, axis=1)[:, n - k]
        flat = np.flatnonzero(sims >= kth[:, None])
        r, c = np.divmod(flat, n)
        order = np.lexsort((c, -sims.ravel()[flat], r))  # by row, most similar first, ties by index
        r, c = r[order], c[order]
        rank = np.arange(len(r)) - np.searchsorted(r, r)
        out[start : start + block] = c[rank < k].reshape(len(chunk), k)
    return out


def overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row, the share of ``a``'s ids also in ``b`` (both shape (m, k)); shape (m,)."""
    if a.shape != b.shape:
        raise ValueError(f"neighbour lists differ in shape: {a.shape} and {b.shape}")
    if a.shape[1] == 0:
        return np.ones(len(a))
    return (a[:, :, None] == b[:, None, :]).any(axis=2).sum(axis=1) / a.shape[1]


@dataclass(frozen=True)
class Procrustes:
    """An orthogonal Procrustes fit of a source onto a target.

    Attributes
    ----------
    rotation : ndarray, shape (dim, dim)
        Orthogonal.
    scale : float
    source_mean, target_mean : ndarray, shape (dim,)
    source_norm, target_norm : float
    disparity : float
        Squared error left after the fit, both sides scaled to unit size: in [0, 1].
    """

    rotation: np.ndarray
    scale: float
    source_mean: np.ndarray
    target_mean: np.ndarray
    source_norm: float
    target_norm: float
    disparity: float

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Source-space points, shape (n, dim), in the target's frame."""
        points = _pad(np.asarray(points, dtype=np.float64), len(self.source_mean))
        moved = ((points - self.source_mean) / self.source_norm) @ self.rotation * self.scale
        return moved * self.target_norm + self.target_mean


def _pad(x: np.ndarray, dim: int) -> np.ndarray:
    return x if x.shape[1] == dim else np.hstack([x, np.zeros((len(x), dim - x.shape[1]))])


def procrustes(source: np.ndarray, target: np.ndarray) -> Procrustes:
    """Rotate (and scale) ``source`` onto ``target``, rows matched.

    Parameters
    ----------
    source, target : ndarray, shape (n, d1) and (n, d2)
        The narrower is padded with zeros.

    Returns
    -------
    Procrustes
    """
    from scipy.linalg import orthogonal_procrustes

    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if len(source) != len(target):
        raise ValueError(f"{len(source)} source rows for {len(target)} target rows")
    if len(source) < 2:
        raise CompareError(f"a Procrustes fit needs at least 2 shared points, got {len(source)}")
    dim = max(source.shape[1], target.shape[1])
    source, target = _pad(source, dim), _pad(target, dim)
    s_mean, t_mean = source.mean(axis=0), target.mean(axis=0)
    s_norm = max(float(np.linalg.norm(source - s_mean)), 1e-12)
    t_norm = max(float(np.linalg.norm(target - t_mean)), 1e-12)
    s, t = (source - s_mean) / s_norm, (target - t_mean) / t_norm
    rotation, sv_sum = orthogonal_procrustes(s, t)
    scale = float(sv_sum)  # both sides have unit norm: the best scale is the sum of singular values
    disparity = float(np.sum((s @ rotation * scale - t) ** 2))
    return Procrustes(rotation, scale, s_mean, t_mean, s_norm, t_norm, max(0.0, min(1.0, disparity)))


@dataclass(frozen=True)
class Comparison:
    """How two models' neighbourhoods agree.

    Attributes
    ----------
    name_a, name_b : str
    n_a, n_b : int
        Books in each model.
    ids_a, ids_b : ndarray of int64, shape (n_shared,)
        The shared books (``shared_books``).
    k : int
    compared : ndarray of int64, shape (m,)
        Positions in the shared list whose neighbours were compared (all, or a sample).
    overlap : ndarray of float64, shape (m,)
    neighbours_a, neighbours_b : ndarray of int64, shape (m, k)
        Positions in the shared list.
    standard_error : float
        Of the mean overlap when sampled, else 0.
    vector_disparity : float
        Procrustes disparity of B's unit vectors onto A's, over the shared books.
    """

    name_a: str
    name_b: str
    n_a: int
    n_b: int
    ids_a: np.ndarray
    ids_b: np.ndarray
    k: int
    compared: np.ndarray
    overlap: np.ndarray
    neighbours_a: np.ndarray
    neighbours_b: np.ndarray
    standard_error: float
    vector_disparity: float

    @property
    def n_shared(self) -> int:
        return len(self.ids_a)

    @property
    def sampled(self) -> bool:
        return len(self.compared) < self.n_shared

    @property
    def mean_overlap(self) -> float:
        return float(self.overlap.mean()) if len(self.overlap) else float("nan")

    def histogram(self) -> pd.DataFrame:
        """Books per overlap value 0/k .. k/k: columns ``overlap``, ``books``."""
        counts = np.bincount(np.rint(self.overlap * self.k).astype(np.int64), minlength=self.k + 1)
        return pd.DataFrame({"overlap": np.arange(self.k + 1) / self.k, "books": counts})

    def changed(self, titles_a, n: int = 20, shown: int = 5) -> pd.DataFrame:
        """The books whose neighbourhoods changed most (lowest overlap first).

        Columns ``title``, ``overlap``, ``only_in_a`` and ``only_in_b`` (titles
        of up to ``shown`` neighbours found by one model only), ``id_a``, ``id_b``.
        """
        order = np.lexsort((self.compared, self.overlap))[:n]
        rows = []
        for r in order:
            na, nb = self.neighbours_a[r], self.neighbours_b[r]
            pos = int(self.compared[r])
            rows.append({
                "title": titles_a[self.ids_a[pos]],
                "overlap": float(self.overlap[r]),
                "only_in_a": [titles_a[self.ids_a[j]] for j in na if j not in set(nb)][:shown],
                "only_in_b": [titles_a[self.ids_a[j]] for j in nb if j not in set(na)][:shown],
                "id_a": int(self.ids_a[pos]),
                "id_b": int(self.ids_b[pos]),
            })
        return pd.DataFrame(rows, columns=["title", "overlap", "only_in_a", "only_in_b", "id_a", "id_b"])

    def to_dict(self, titles_a, n_changed: int = 10) -> dict:
        """Plain values for JSON."""
        return {
            "a": self.name_a,
            "b": self.name_b,
            "books_a": self.n_a,
            "books_b": self.n_b,
            "shared": self.n_shared,
            "k": self.k,
            "compared": int(len(self.compared)),
            "sampled": self.sampled,
            "mean_overlap": round(self.mean_overlap, 6),
            "standard_error": round(self.standard_error, 6),
            "histogram": {f"{int(r.overlap * self.k)}/{self.k}": int(r.books) for r in self.histogram().itertuples()},
            "vector_disparity": round(self.vector_disparity, 6),
            "changed": self.changed(titles_a, n_changed).drop(columns=["id_a", "id_b"]).to_dict(orient="records"),
        }


def compare_models(a, b, k: int = 10, *, max_books: int = MAX_COMPARED, seed: int = 0) -> Comparison:
    """Compare two models' neighbourhoods over the books they share.

    Parameters
    ----------
    a, b : ModelFolder
    k : int
        Neighbours per book (lowered to ``n_shared - 1``).
    max_books : int
        Above this many shared books, this many are sampled.
    seed : int
        For the sample.

    Returns
    -------
    Comparison

    Raises
    ------
    CompareError
        Fewer than 3 shared titles, or k < 1.
    """
    if k < 1:
        raise CompareError(f"k must be at least 1, got {k}")
    ids_a, ids_b = shared_books(a, b)
    n = len(ids_a)
    if n < 3:
        raise CompareError(f"{a.path} and {b.path} share {n} book title(s); at least 3 are needed to compare them")
    k = min(k, n - 1)
    unit_a, unit_b = _unit_rows_of(a.book_vectors, ids_a), _unit_rows_of(b.book_vectors, ids_b)
    from bookembed.evaluate import sample_size

    compared = np.arange(n)
    m = sample_size(max_books, n)  # past a million books fewer, so that m * n stays bounded (evaluate's rule)
    if n > m:
        compared = np.sort(np.random.default_rng(seed).choice(n, m, replace=False))
    block = max(1, min(BLOCK, BLOCK_FLOATS // n))  # memory: block * n floats
    na, nb = knn_rows(unit_a, compared, k, block), knn_rows(unit_b, compared, k, block)
    shares = overlap(na, nb)
    m = len(compared)
    se = 0.0
    if m < n:
        # Sampling without replacement: the finite-population correction shrinks the error.
        se = float(shares.std(ddof=1) / np.sqrt(m) * np.sqrt(1 - m / n))
    fitted = np.arange(n)  # the vector alignment: on a sample past PROCRUSTES_MAX_ROWS (its float64 copies)
    if n > PROCRUSTES_MAX_ROWS:
        fitted = np.sort(np.random.default_rng(seed).choice(n, PROCRUSTES_MAX_ROWS, replace=False))
    fit = procrustes(unit_b[fitted], unit_a[fitted])
    return Comparison(str(a.path), str(b.path), a.n_books, b.n_books, ids_a, ids_b, k, compared, shares, na, nb, se,
                      fit.disparity)


def align_maps(coords_a: np.ndarray, coords_b: np.ndarray, ids_a: np.ndarray, ids_b: np.ndarray) -> tuple[np.ndarray, float]:
    """B's map moved onto A's by a Procrustes fit on the shared books.

    Parameters
    ----------
    coords_a : ndarray, shape (n_a, 2)
    coords_b : ndarray, shape (n_b, 2)
    ids_a, ids_b : ndarray of int, shape (n_shared,)

    Returns
    -------
    aligned_b : ndarray of float32, shape (n_b, 2)
        Every book of B, in A's frame.
    disparity : float
        In [0, 1]; 0 when the maps differ only by rotation, reflection, scale and shift.
    """
    fit = procrustes(np.asarray(coords_b)[ids_b], np.asarray(coords_a)[ids_a])
    return fit.apply(coords_b)[:, : np.asarray(coords_a).shape[1]].astype(np.float32), fit.disparity


def same_books(source, target, ids) -> np.ndarray:
    """The ids in ``target`` of the books ``ids`` of ``source`` (matched by title; books it lacks are dropped).

    Parameters
    ----------
    source, target : ModelFolder
    ids : sequence of int

    Returns
    -------
    ndarray of int64, shape (<= len(ids),)
    """
    index = target.title_index
    titles = source.titles
    return np.asarray([index[titles[i]] for i in ids if titles[i] in index], dtype=np.int64)
