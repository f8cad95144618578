"""Approximate nearest-neighbour indexes for large models, kept in the model folder.

Up to ``ANN_MIN_ROWS`` vectors, exact search (``vectors.top_k``: one
matrix-vector product) answers a query in a few milliseconds and nothing
here is used. Above, an inverted-file index (IVF) from the faiss library:
k-means (on a seeded sample) splits the unit vectors into ``nlist`` cells,
each vector is filed under its nearest centroid, and a query scans only
the ``nprobe`` cells whose centroids are nearest to it. Candidates are then
ranked by their exact cosine (``neighbors.search``).

faiss's IVF replaced voyager's HNSW graph, chosen by measuring
(``benchmarks/bench_index.py``; docs/scale.md has the table): at the same
recall it builds many times faster and takes less memory, which is what
decides whether ten million books can be indexed on a laptop, and its
queries stay within a few milliseconds.

Each index is measured when it is built: recall@10 against exact search on
``RECALL_QUERIES`` sampled rows. The cells scanned (``nprobe``) are doubled
until that recall reaches ``TARGET_RECALL`` (scanning every cell is exact
search), and both are stored beside the index::

    <model>/index/book.faiss, book.json   (and link.*)

The sidecar names the vectors' checksum, so an index of other vectors is
never used.

Costs, for n vectors of d numbers and nlist = min(``NLIST_MAX``, 4 sqrt(n)):
k-means is O(``TRAIN_PER_LIST`` × nlist² × d × ``KMEANS_ITERATIONS``), flat
in n past a million; filing the vectors is O(n × nlist × d) on every core,
linear in n past a million; memory is the vectors once more (4 d bytes a
vector, plus an 8-byte id). A query is O(nlist × d + nprobe × d × n / nlist).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from bookembed.derived import Unusable
from bookembed.errors import BookembedError
from bookembed.vectors import top_k_rows

ANN_MIN_ROWS = 100_000
"""Above this many vectors, neighbour queries use an approximate index when one is built."""
TARGET_RECALL = 0.95
RECALL_QUERIES = 1_000
INDEX_DIR = "index"
"""The kind of derived file (``store.DERIVED``) indexes are kept as: ``<kind>.faiss`` and ``<kind>.json``."""
KINDS = ("book", "link")
NLIST_MAX = 4096
"""The most cells: past a million vectors the cells grow instead, which keeps k-means' cost flat."""
TRAIN_PER_LIST = 50
"""Sampled vectors k-means learns the centroids from, per cell."""
KMEANS_ITERATIONS = 10
FIRST_NPROBE = 8
ADD_SLICE = 50_000


def _files(model, kind: str):
    """The model folder's index files, checked against the checksum of the ``kind`` vectors."""
    return model.derived(INDEX_DIR, vectors=kind)


def cells_for(n: int) -> int:
    """Cells of an index of ``n`` vectors: about 4 sqrt(n), at most ``NLIST_MAX``, and at least 39 vectors a cell
    (faiss's k-means needs that many training points a centroid) but never fewer than one cell."""
    return int(max(1, min(NLIST_MAX, int(4 * np.sqrt(n)), n // 39)))


def nprobe_steps(nlist: int) -> list[int]:
    """The cells scanned, in the order tried: ``FIRST_NPROBE`` doubled while below ``nlist``, then all of them."""
    steps, probe = [], FIRST_NPROBE
    while probe < nlist:
        steps.append(probe)
        probe *= 2
    return steps + [nlist]


@dataclass(frozen=True)
class AnnIndex:
    """A loaded approximate index of one kind of vector.

    Attributes
    ----------
    kind : {"book", "link"}
    ivf : faiss.IndexIVFFlat
    info : dict
        ``recall`` (recall@10 against exact search), ``nlist``, ``nprobe``,
        ``rows``, ``build_seconds``, ``vectors`` (checksum).
    """

    kind: str
    ivf: object
    info: dict

    @property
    def recall(self) -> float:
        return float(self.info["recall"])

    def candidates(self, query: np.ndarray, k: int) -> np.ndarray:
        """Ids of about the ``k`` nearest rows to a unit ``query`` (not yet ordered exactly)."""
        k = int(min(k, self.info["rows"]))
        return _search(self.ivf, np.asarray(query, dtype=np.float32).reshape(1, -1), k, int(self.info["nprobe"]))[0]


def _search(ivf, queries: np.ndarray, k: int, nprobe: int) -> list[np.ndarray]:
    """The ids found for each query row (-1, for a cell too sparse to fill k, left out)."""
    import faiss

    _, found = ivf.search(np.ascontiguousarray(queries, dtype=np.float32), k,
                          params=faiss.SearchParametersIVF(nprobe=int(nprobe)))
    return [row[row >= 0].astype(np.int64) for row in found]


def _recall(ivf, unit: np.ndarray, queries: np.ndarray, truth: np.ndarray, nprobe: int, k: int) -> float:
    hits = 0
    for row, got, want in zip(queries, _search(ivf, unit[queries], k + 1, nprobe), truth):
        got = got[got != row][:k]
        hits += len(np.intersect1d(got, want))
    return hits / (len(queries) * k)


def build_index(model, kind: str = "book", progress: Callable[[float, str], object] | None = None) -> AnnIndex:
    """Build, measure and save the approximate index of a model's book (or link) vectors.

    Parameters
    ----------
    model : ModelFolder
    kind : {"book", "link"}
    progress : callable, optional
        ``progress(fraction, stage)`` while it runs.

    Returns
    -------
    AnnIndex
        Also written to ``<model>/index/`` (atomically: the index, then its sidecar).

    Raises
    ------
    WriteError
        The model folder cannot be written (one line naming it).
    """
    import faiss

    if kind not in KINDS:
        raise BookembedError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    unit = np.ascontiguousarray(model.unit_vectors(kind), dtype=np.float32)
    n, dim = unit.shape
    if n < 2:
        raise BookembedError(f"{model.path}: too few {kind}s for an index ({n})")
    started = time.perf_counter()
    # 1. the cells: k-means on a seeded sample
    nlist = cells_for(n)
    rng = np.random.default_rng(0)
    sample = unit[np.sort(rng.choice(n, size=min(n, TRAIN_PER_LIST * nlist), replace=False))]
    if progress is not None:
        progress(0.02, f"approximate {kind} index: {nlist:,} cells from {len(sample):,} sampled {kind}s")
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.cp.niter = KMEANS_ITERATIONS
    ivf.cp.seed = 1
    ivf.train(sample)
    del sample
    # 2. every vector filed under its cell, in slices so progress can be reported
    for start in range(0, n, ADD_SLICE):
        stop = min(n, start + ADD_SLICE)
        ivf.add_with_ids(unit[start:stop], np.arange(start, stop, dtype=np.int64))
        if progress is not None:
            progress(0.05 + 0.85 * stop / n, f"approximate {kind} index: {stop:,} of {n:,} {kind}s added")
    build_seconds = time.perf_counter() - started
    # 3. recall@10 against exact search; scan more cells until it reaches the target
    k = min(10, n - 1)
    queries = np.sort(rng.choice(n, size=min(RECALL_QUERIES, n), replace=False))
    truth, _ = top_k_rows(unit, k, queries=queries)  # blocks of at most vectors.BLOCK_BYTES
    for nprobe in nprobe_steps(nlist):
        if progress is not None:
            progress(0.92, f"approximate {kind} index: measuring recall@{k} ({nprobe:,} of {nlist:,} cells scanned)")
        recall = _recall(ivf, unit, queries, truth, nprobe, k)
        if recall >= TARGET_RECALL:
            break
    info = {"kind": kind, "library": "faiss", "type": "IVFFlat", "nlist": nlist, "nprobe": int(nprobe),
            "recall": round(recall, 4), "recall_k": k, "recall_queries": int(len(queries)), "rows": int(n),
            "build_seconds": round(build_seconds, 2), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    # 4. saved through the folder's cache protocol: the index first, its sidecar (which makes it usable) last
    info = _files(model, kind).write(kind, ivf, info, lambda index, path: faiss.write_index(index, str(path))).info
    if progress is not None:
        progress(1.0, f"approximate {kind} index: recall@{k} {recall:.3f}")
    return AnnIndex(kind, ivf, info)


def index_info(model, kind: str = "book") -> dict | None:
    """The sidecar of a usable index (made from these vectors), or None."""
    entry = _files(model, kind).read(kind)
    return None if entry is None else entry.info


def _load(path: Path, info: dict):
    import faiss

    try:
        # mapped, not read: a ten-million-row index opens at once and its cells are paged in as queries need them
        ivf = faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    except Exception:  # noqa: BLE001 - a damaged cache is rebuilt, never trusted
        raise Unusable("damaged index") from None
    if ivf.ntotal != info.get("rows") or getattr(ivf, "nlist", None) != info.get("nlist"):
        raise Unusable("an index of another number of rows")
    return ivf


def load_index(model, kind: str = "book") -> AnnIndex | None:
    """The saved index of a model's vectors, or None when there is none (or it is stale or damaged)."""
    entry = _files(model, kind).read(kind, _load)
    return None if entry is None else AnnIndex(kind, entry.value, entry.info)
