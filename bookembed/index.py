"""Approximate nearest-neighbour indexes for large models, kept in the model folder.

Up to ``ANN_MIN_ROWS`` vectors, exact search (``vectors.top_k``: one
matrix-vector product) answers a query in a few milliseconds and nothing
here is used. Above, an HNSW graph from the voyager library answers a top-10
query in well under a millisecond. voyager was chosen by measuring
(``benchmarks/bench_ann.py``, 100,000 clustered 50-d vectors, one run, with
M=16, ef_construction=100, ef 64; docs/scale.md has the table): of the HNSW
libraries (voyager, hnswlib, faiss HNSW, usearch), at the same recall, it
built fastest and had by far the shortest slowest queries (95th percentile);
faiss IVF built faster still but found far fewer of the true neighbours.

Each index is measured when it is built: recall@10 against exact search on
``RECALL_QUERIES`` sampled rows. The search breadth (``ef``) is raised until
that recall reaches ``TARGET_RECALL``, and both are stored beside the index::

    <model>/index/book.voyager, book.json   (and link.*)

The sidecar names the vectors' checksum, so an index of other vectors is
never used. Costs: building is about O(n log n) (minutes at a million books,
on every core); a query is about O(log n).
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
"""The kind of derived file (``store.DERIVED``) indexes are kept as: ``<kind>.voyager`` and ``<kind>.json``."""
KINDS = ("book", "link")
M, EF_CONSTRUCTION = 16, 100
EF_STEPS = (64, 128, 256, 512)


def _files(model, kind: str):
    """The model folder's index files, checked against the checksum of the ``kind`` vectors."""
    return model.derived(INDEX_DIR, vectors=kind)


@dataclass(frozen=True)
class AnnIndex:
    """A loaded approximate index of one kind of vector.

    Attributes
    ----------
    kind : {"book", "link"}
    graph : voyager.Index
    info : dict
        ``recall`` (recall@10 against exact search), ``ef``, ``rows``,
        ``build_seconds``, ``vectors`` (checksum).
    """

    kind: str
    graph: object
    info: dict

    @property
    def recall(self) -> float:
        return float(self.info["recall"])

    def candidates(self, query: np.ndarray, k: int) -> np.ndarray:
        """Ids of about the ``k`` nearest rows to a unit ``query`` (not yet ordered exactly)."""
        k = int(min(k, self.info["rows"]))
        ids, _ = self.graph.query(np.asarray(query, dtype=np.float32), k=k, query_ef=max(int(self.info["ef"]), k))
        return np.asarray(ids, dtype=np.int64)


def _recall(graph, unit: np.ndarray, queries: np.ndarray, truth: np.ndarray, ef: int, k: int) -> float:
    found, _ = graph.query(unit[queries], k=k + 1, query_ef=max(ef, k + 1), num_threads=-1)
    hits = 0
    for row, got, want in zip(queries, found.astype(np.int64), truth):
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
        Also written to ``<model>/index/`` (atomically: the graph, then its sidecar).

    Raises
    ------
    WriteError
        The model folder cannot be written (one line naming it).
    """
    import voyager

    if kind not in KINDS:
        raise BookembedError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    unit = model.unit_vectors(kind)
    n, dim = unit.shape
    if n < 2:
        raise BookembedError(f"{model.path}: too few {kind}s for an index ({n})")
    started = time.perf_counter()
    # 1. the graph, added in slices so progress can be reported
    graph = voyager.Index(voyager.Space.InnerProduct, num_dimensions=dim, M=M, ef_construction=EF_CONSTRUCTION,
                          random_seed=1, max_elements=n)
    step = 50_000
    for start in range(0, n, step):
        stop = min(n, start + step)
        graph.add_items(unit[start:stop], np.arange(start, stop), num_threads=-1)
        if progress is not None:
            progress(0.9 * stop / n, f"approximate {kind} index: {stop:,} of {n:,} {kind}s added")
    build_seconds = time.perf_counter() - started
    # 2. recall@10 against exact search; widen the search until it reaches the target
    k = min(10, n - 1)
    queries = np.sort(np.random.default_rng(0).choice(n, size=min(RECALL_QUERIES, n), replace=False))
    truth, _ = top_k_rows(unit, k, queries=queries)
    for ef in EF_STEPS:
        if progress is not None:
            progress(0.92, f"approximate {kind} index: measuring recall@{k} (search breadth {ef})")
        recall = _recall(graph, unit, queries, truth, ef, k)
        if recall >= TARGET_RECALL:
            break
    info = {"kind": kind, "library": "voyager", "M": M, "ef_construction": EF_CONSTRUCTION, "ef": ef,
            "recall": round(recall, 4), "recall_k": k, "recall_queries": int(len(queries)), "rows": int(n),
            "build_seconds": round(build_seconds, 2), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    # 3. saved through the folder's cache protocol: the graph first, its sidecar (which makes it usable) last
    info = _files(model, kind).write(kind, graph, info, lambda g, path: g.save(str(path))).info
    if progress is not None:
        progress(1.0, f"approximate {kind} index: recall@{k} {recall:.3f}")
    return AnnIndex(kind, graph, info)


def index_info(model, kind: str = "book") -> dict | None:
    """The sidecar of a usable index (made from these vectors), or None."""
    entry = _files(model, kind).read(kind)
    return None if entry is None else entry.info


def _load(path: Path, info: dict):
    import voyager

    try:
        graph = voyager.Index.load(str(path))
    except Exception:  # noqa: BLE001 - a damaged cache is rebuilt, never trusted
        raise Unusable("damaged index") from None
    if graph.num_elements != info.get("rows"):
        raise Unusable("an index of another number of rows")
    return graph


def load_index(model, kind: str = "book") -> AnnIndex | None:
    """The saved index of a model's vectors, or None when there is none (or it is stale or damaged)."""
    entry = _files(model, kind).read(kind, _load)
    return None if entry is None else AnnIndex(kind, entry.value, entry.info)
