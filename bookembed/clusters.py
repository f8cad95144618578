"""Clusters of books, each labelled by the links that formed it.

A map with a few thousand points is easier to read with names on its regions.
The books are grouped by k-means on their unit vectors (cosine geometry), and
each group is named by its *characteristic links*: links its books share far
more often than the other books do. The embedding was trained to put books
with common links together, so these links are the reason a cluster exists.

Why k-means and not HDBSCAN (both from scikit-learn), measured by
``benchmarks/bench_explain.py`` (docs/app.md has its figures): on the 50-d
vectors of real books HDBSCAN calls most books noise (leaf selection,
smallest cluster 5; the default selection finds hardly any clusters on
p15), and its clusters follow the genres far less (adjusted Rand
index against the genre, on the demo and p15). On a 37k planted-genre corpus
both find the genres about equally well, but HDBSCAN on a 20,000-book sample
took many times as long as k-means on all 37,020. HDBSCAN stays available as
``method="hdbscan"``.

Cost as the number of books n grows (dim d, k clusters, P pairs):

- k-means: O(n k d) per iteration, linear in n. Four restarts below
  ``KMEANS_SINGLE_INIT_ABOVE`` books, one above.
- HDBSCAN: its mutual-reachability tree is superlinear in n (tree indexes
  do not help in 50 dimensions), so its time grows much faster than n
  (``benchmarks/bench_explain.py`` measures it; docs/app.md has the figures).
  Above ``HDBSCAN_MAX_BOOKS`` books it is fitted on a random sample of that
  many, and the other books join the cluster whose centre is nearest (so only
  sampled books can be noise).
- Labels: one sparse product, O(P + k * n_links).

Labels are cached in the model folder (``clusters/<key>.json``, the labels in
the sidecar itself) through its one cache protocol (``ModelFolder.cached``):
keyed by the vectors' checksum, written atomically, stale entries ignored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from bookembed.derived import Entry, Unusable
from bookembed.errors import BookembedError

CLUSTERS = "clusters"
"""The kind of derived file (``store.DERIVED``) cluster labels are kept as."""
METHODS = ("kmeans", "hdbscan")
MAX_CLUSTERS = 50
HDBSCAN_MAX_BOOKS = 10_000
KMEANS_SINGLE_INIT_ABOVE = 100_000
KMEANS_MAX_BOOKS = 200_000
"""Above this many books k-means is fitted on a seeded sample of this many; every book then joins its nearest
centre (as ``KMeans.predict``), so the time grows as one pass over the books, not iterations over them."""
ASSIGN_CHUNK = 500_000
NOISE = -1


class ClusterError(BookembedError):
    """Bad clustering parameters; the message names the parameter."""


@dataclass(frozen=True)
class Cluster:
    """One cluster and its label.

    Attributes
    ----------
    id : int
        0 is the largest cluster.
    members : ndarray of int64, shape (size,)
        Book ids, the most typical first (nearest the cluster's mean direction).
    terms : tuple of str
        The characteristic links, most characteristic first.
    term_ids : tuple of int
    share_in, share_out : tuple of float
        For each term, the share of the cluster's books linking to it and the
        share of the other books.
    examples : tuple of str
        Titles of the most typical books.
    """

    id: int
    members: np.ndarray
    terms: tuple[str, ...]
    term_ids: tuple[int, ...]
    share_in: tuple[float, ...]
    share_out: tuple[float, ...]
    examples: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.members)

    @property
    def label(self) -> str:
        """The terms joined for display: ``leo tolstoy · russian literature``."""
        return " · ".join(self.terms) if self.terms else f"cluster {self.id + 1}"


@dataclass(frozen=True)
class Clustering:
    """Labels for every book and the described clusters.

    Attributes
    ----------
    labels : ndarray of int64, shape (n_books,)
        Cluster id of each book, ``-1`` for HDBSCAN's noise.
    clusters : tuple of Cluster
        Largest first; ``clusters[c].id == c``.
    method : str
    params : dict
    seconds : float
        Time the clustering took when it was computed.
    cached : bool
        Whether the labels came from the model folder.
    """

    labels: np.ndarray
    clusters: tuple[Cluster, ...]
    method: str
    params: dict
    seconds: float
    cached: bool = False
    noise: int = field(default=0)

    def to_dict(self) -> dict:
        """Plain values for JSON (no per-book labels)."""
        return {
            "method": self.method,
            "params": self.params,
            "seconds": round(self.seconds, 3),
            "books": int(len(self.labels)),
            "noise": int(self.noise),
            "clusters": [
                {
                    "id": c.id,
                    "size": c.size,
                    "label": c.label,
                    "links": [
                        {"link": t, "share_in": round(a, 4), "share_out": round(b, 4)}
                        for t, a, b in zip(c.terms, c.share_in, c.share_out)
                    ],
                    "examples": list(c.examples),
                }
                for c in self.clusters
            ],
        }


def vectors_checksum(model) -> str:
    """The model's vectors checksum (the key of every cache in its folder)."""
    value = getattr(model, "vectors_checksum", None)
    if isinstance(value, str):
        return value
    from bookembed.store import vectors_sha1

    return vectors_sha1(model.book_vectors)


def default_n_clusters(n_books: int) -> int:
    """``sqrt(2 n)``, at least 2 and at most ``MAX_CLUSTERS`` (31 for the demo's 478 books).

    Enough clusters that a series (Foundation, Middle-earth) gets its own on
    the demo; with ``sqrt(n / 2)`` (15) they merge into "science fiction" and
    "fantasy".
    """
    return int(min(MAX_CLUSTERS, max(2, round(np.sqrt(2 * n_books))), max(1, n_books)))


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def fit_labels(
    vectors: np.ndarray,
    method: str = "kmeans",
    *,
    n_clusters: int | None = None,
    min_cluster_size: int = 5,
    seed: int = 0,
) -> tuple[np.ndarray, dict]:
    """Cluster vectors by cosine geometry (on unit rows).

    Parameters
    ----------
    vectors : ndarray, shape (n, dim)
    method : {"kmeans", "hdbscan"}
    n_clusters : int, optional
        For k-means; ``default_n_clusters(n)`` when not given.
    min_cluster_size : int
        For HDBSCAN.
    seed : int

    Returns
    -------
    labels : ndarray of int64, shape (n,)
        Renumbered so that 0 is the largest cluster; ``-1`` is noise.
    params : dict
        The parameters used (with ``sampled`` when HDBSCAN ran on a sample).
    """
    if method not in METHODS:
        raise ClusterError(f"unknown clustering method {method!r}; use one of {', '.join(METHODS)}")
    n = len(vectors)
    if n < 2:
        raise ClusterError(f"cannot cluster {n} book(s); need at least 2")
    if method == "kmeans":
        k = default_n_clusters(n) if n_clusters is None else int(n_clusters)
        if not 2 <= k <= n:
            raise ClusterError(f"n_clusters must be between 2 and the number of books ({n}), got {k}")
        raw, params = _kmeans(vectors, k, seed)
    else:
        unit = _unit(vectors)
        if min_cluster_size < 2:
            raise ClusterError(f"min_cluster_size must be at least 2, got {min_cluster_size}")
        raw, params = _hdbscan(unit, min_cluster_size, seed)
    return _renumber(raw), params


def _kmeans(vectors: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, dict]:
    """k-means on the unit rows; above ``KMEANS_MAX_BOOKS`` fitted on a seeded sample of that many, every
    book then given its nearest centre a chunk of rows at a time (O(n k d), memory one chunk)."""
    from sklearn.cluster import KMeans

    n = len(vectors)
    n_init = 4 if n <= KMEANS_SINGLE_INIT_ABOVE else 1
    params: dict = {"n_clusters": k, "seed": seed, "n_init": n_init}
    if n <= KMEANS_MAX_BOOKS:
        return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(_unit(vectors)), params
    vectors = np.asarray(vectors)
    sample = np.sort(np.random.default_rng(seed).choice(n, KMEANS_MAX_BOOKS, replace=False))
    fitted = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(_unit(vectors[sample]))
    labels = np.empty(n, dtype=np.int64)
    for start in range(0, n, ASSIGN_CHUNK):
        labels[start:start + ASSIGN_CHUNK] = fitted.predict(_unit(vectors[start:start + ASSIGN_CHUNK]))
    params.update(sampled=KMEANS_MAX_BOOKS)
    return labels, params


def _hdbscan(unit: np.ndarray, min_cluster_size: int, seed: int) -> tuple[np.ndarray, dict]:
    from sklearn.cluster import HDBSCAN

    n = len(unit)
    params: dict = {"min_cluster_size": min_cluster_size, "selection": "leaf"}
    sample = np.arange(n)
    if n > HDBSCAN_MAX_BOOKS:
        sample = np.sort(np.random.default_rng(seed).choice(n, HDBSCAN_MAX_BOOKS, replace=False))
        params.update(sampled=HDBSCAN_MAX_BOOKS, seed=seed)
    fitted = HDBSCAN(min_cluster_size=min_cluster_size, cluster_selection_method="leaf", copy=True).fit_predict(unit[sample])
    if len(sample) == n:
        return fitted.astype(np.int64), params
    # The rest join the cluster whose centre is nearest.
    labels = np.full(n, NOISE, dtype=np.int64)
    labels[sample] = fitted
    found = np.unique(fitted[fitted >= 0])
    if len(found):
        centres = _unit(np.stack([unit[sample][fitted == c].mean(axis=0) for c in found]))
        rest = np.setdiff1d(np.arange(n), sample)
        labels[rest] = found[np.argmax(unit[rest] @ centres.T, axis=1)]
    return labels, params


def _renumber(raw: np.ndarray) -> np.ndarray:
    raw = np.asarray(raw, dtype=np.int64)
    ids, counts = np.unique(raw[raw >= 0], return_counts=True)
    order = ids[np.lexsort((ids, -counts))]
    mapping = np.full(int(raw.max(initial=-1)) + 2, NOISE, dtype=np.int64)
    mapping[order] = np.arange(len(order))
    return np.where(raw >= 0, mapping[raw], NOISE)


def incidence(model):
    """Book-by-link 0/1 matrix from the stored pairs (held-out pairs too: they are real links).

    Returns
    -------
    scipy.sparse.csr_matrix, shape (n_books, n_links), values 1.0
    """
    from scipy import sparse

    x = sparse.csr_matrix(
        (np.ones(len(model.pair_books), dtype=np.float32), (model.pair_books, model.pair_links)),
        shape=(model.n_books, model.n_links),
    )
    x.data[:] = 1.0  # a duplicated pair counts once
    return x


def characteristic_links(
    model, labels: np.ndarray, n_terms: int = 3, *, min_books: int = 2
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The links each cluster's books share far more often than the other books.

    A link j scores ``p_in * log(p_in / p_out)`` for a cluster, where
    ``p_in`` is the share of the cluster's books linking to j and ``p_out``
    the (add-one smoothed) share of the other books: frequent inside and rare
    outside. Only links used by at least ``min_books`` of the cluster's books
    (fewer for a cluster that small) and more common inside than outside
    qualify. One sparse product: O(pairs + k * n_links).

    Parameters
    ----------
    model : ModelFolder
    labels : ndarray of int, shape (n_books,)
        Cluster ids 0..k-1, ``-1`` for none.
    n_terms : int
    min_books : int

    Returns
    -------
    list of (term_ids, share_in, share_out), one per cluster id 0..k-1
        Each an ndarray of shape (<= n_terms,), best first.
    """
    from scipy import sparse

    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != (model.n_books,):
        raise ClusterError(f"{len(labels)} labels for {model.n_books} books")
    k = int(labels.max(initial=-1)) + 1
    keep = labels >= 0
    onehot = sparse.csr_matrix(
        (np.ones(int(keep.sum()), dtype=np.float32), (labels[keep], np.flatnonzero(keep))), shape=(k, model.n_books)
    )
    inside = np.asarray((onehot @ incidence(model)).todense())  # (k, n_links)
    total = inside.sum(axis=0)  # books in any cluster linking to each link
    sizes = np.bincount(labels[keep], minlength=k).astype(np.float64)
    n_clustered = float(keep.sum())
    out = []
    for c in range(k):
        size, rest = sizes[c], n_clustered - sizes[c]
        p_in = inside[c] / size
        raw_out = (total - inside[c]) / max(rest, 1.0)
        p_out = (total - inside[c] + 1.0) / (rest + 2.0)
        ok = (inside[c] >= min(min_books, size)) & (p_in > raw_out)
        score = np.where(ok, p_in * np.log(np.maximum(p_in, 1e-12) / p_out), -np.inf)
        best = np.argsort(-score, kind="stable")[:n_terms]
        best = best[np.isfinite(score[best]) & (score[best] > 0)]
        out.append((best.astype(np.int64), p_in[best], raw_out[best]))
    return out


def describe_clusters(model, labels: np.ndarray, n_terms: int = 3, n_examples: int = 5) -> tuple[Cluster, ...]:
    """Members (most typical first), characteristic links and example titles of each cluster.

    Parameters
    ----------
    model : ModelFolder
    labels : ndarray of int, shape (n_books,)
    n_terms, n_examples : int

    Returns
    -------
    tuple of Cluster, one per cluster id 0..k-1
    """
    unit = model.unit_vectors("book")
    labels = np.asarray(labels, dtype=np.int64)
    terms = characteristic_links(model, labels, n_terms)
    titles = model.titles
    clusters = []
    for c, (ids, share_in, share_out) in enumerate(terms):
        members = np.flatnonzero(labels == c)
        centre = unit[members].mean(axis=0)
        members = members[np.argsort(-(unit[members] @ centre), kind="stable")]
        clusters.append(
            Cluster(
                id=c,
                members=members,
                terms=tuple(model.links[j] for j in ids),
                term_ids=tuple(int(j) for j in ids),
                share_in=tuple(float(x) for x in share_in),
                share_out=tuple(float(x) for x in share_out),
                examples=tuple(titles[i] for i in members[:n_examples]),
            )
        )
    return tuple(clusters)


def cache_key(method: str, params: dict) -> str:
    """File name stem for a clustering's cache: ``kmeans-k15-s0`` or ``hdbscan-m5-s0``."""
    if method == "kmeans":
        return f"kmeans-k{params['n_clusters']}-s{params['seed']}"
    return f"hdbscan-m{params['min_cluster_size']}-s{params.get('seed', 0)}"


def _load_labels(model):
    """Reads the labels a clusters sidecar holds, for ``model``'s books, or says the entry is unusable."""

    def load(_data, info: dict) -> np.ndarray:
        labels = np.asarray(info["labels"], dtype=np.int64)
        if labels.shape != (model.n_books,):
            raise Unusable("made from other vectors")
        return labels

    return load


def cluster_books(
    model,
    method: str = "kmeans",
    *,
    n_clusters: int | None = None,
    min_cluster_size: int = 5,
    seed: int = 0,
    n_terms: int = 3,
    n_examples: int = 5,
    cache: bool = True,
) -> Clustering:
    """Cluster a model's books and label each cluster with its characteristic links.

    Parameters
    ----------
    model : ModelFolder
    method : {"kmeans", "hdbscan"}
    n_clusters : int, optional
        k-means' k; ``default_n_clusters(n_books)`` when not given.
    min_cluster_size : int
        HDBSCAN's smallest cluster.
    seed : int
    n_terms, n_examples : int
        Links per label, example titles per cluster.
    cache : bool
        Read and write the labels in the model folder's ``clusters/``.

    Returns
    -------
    Clustering
    """
    if method == "kmeans":
        k = default_n_clusters(model.n_books) if n_clusters is None else int(n_clusters)
        key = cache_key(method, {"n_clusters": k, "seed": seed})
    elif method == "hdbscan":
        k = None
        key = cache_key(method, {"min_cluster_size": min_cluster_size, "seed": seed})
    else:
        raise ClusterError(f"unknown clustering method {method!r}; use one of {', '.join(METHODS)}")
    took: list[float] = []

    def compute() -> tuple[np.ndarray, dict]:
        started = time.perf_counter()
        labels, params = fit_labels(model.book_vectors, method, n_clusters=k, min_cluster_size=min_cluster_size,
                                    seed=seed)
        seconds = time.perf_counter() - started
        took.append(seconds)
        return labels, {"key": key, "method": method, "params": params, "n_books": model.n_books,
                        "seconds": round(seconds, 3), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "labels": labels.tolist()}

    if cache:  # a read-only model folder still gets its clusters, only not kept
        entry, cached = model.cached(CLUSTERS, key, compute, load=_load_labels(model))
    else:
        labels, info = compute()
        entry, cached = Entry(key, labels, info), False
    labels, info = entry.value, entry.info
    params, seconds = info.get("params", {}), took[0] if took else float(info.get("seconds", 0.0))
    return Clustering(
        labels=labels,
        clusters=describe_clusters(model, labels, n_terms, n_examples),
        method=method,
        params=params,
        seconds=seconds,
        cached=cached,
        noise=int((labels < 0).sum()),
    )
