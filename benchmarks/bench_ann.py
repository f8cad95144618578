"""Approximate nearest-neighbour libraries side by side, on vectors shaped like a model's.

    python benchmarks/bench_ann.py [--books 200000] [--queries 2000] [--hogs N]

Vectors: ``--books`` unit vectors of 50 numbers in 500 planted clusters
(a trained model's geometry: tight topics, a spread of sizes). For each of
hnswlib, faiss (IndexHNSWFlat), usearch and voyager, at the settings
bookembed would use (HNSW: M=16, ``--ef-construction``, ef 64; IVF: 4 sqrt(n) lists, n/32 probed), it
reports build time (all cores), index size in memory, the median and 95th
percentile time of one top-10 query, and recall@10 against exact search
(NumPy, same queries). All in one run, so the ratios compare. The figures
are written to ``benchmarks/results/ann.json``, one row per library and size.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hogs import add_hogs_option, busy, load_average  # noqa: E402
from results import record  # noqa: E402


def planted(n: int, dim: int = 50, clusters: int = 500, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    sizes = rng.zipf(1.5, clusters).astype(float)
    which = rng.choice(clusters, size=n, p=sizes / sizes.sum())
    x = centres[which] + rng.normal(scale=0.6, size=(n, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


def exact(x: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    out = np.empty((len(queries), k), dtype=np.int64)
    for s in range(0, len(queries), 256):
        sims = x[queries[s:s + 256]] @ x.T
        part = np.argpartition(-sims, k, axis=1)[:, :k]
        out[s:s + 256] = np.take_along_axis(part, np.argsort(-np.take_along_axis(sims, part, 1), 1), 1)
    return out


def size_on_disk(save) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "index")
        save(path)
        return os.path.getsize(path)


def run(name, build, query, save, x, queries, truth, k=10, hogs=0) -> dict:
    """Build, query and measure one library's index (beside ``hogs`` CPU hogs); print and return its row."""
    with busy(hogs):
        t0 = time.perf_counter()
        index = build(x)
        built = time.perf_counter() - t0
        times, hits = [], 0
        for q, want in zip(queries, truth):
            t = time.perf_counter()
            got = query(index, x[q], k)
            times.append(time.perf_counter() - t)
            hits += len(set(map(int, got)) & set(want.tolist()))
        load = load_average()
    times.sort()
    file_mb = size_on_disk(lambda p: save(index, p)) / 1e6
    median, p95, recall = statistics.median(times) * 1e3, times[int(0.95 * len(times))] * 1e3, hits / (k * len(queries))
    print(f"{name:10s} build {built:7.1f} s   file {file_mb:7.1f} MB   "
          f"query median {median:6.3f} ms  p95 {p95:6.3f} ms   "
          f"recall@10 {recall:.4f}", flush=True)
    return {"what": f"{name}, {len(x):,} books", "hogs": hogs, "build_s": round(built, 2), "file_mb": round(file_mb, 1),
            "median_ms": round(median, 4), "p95_ms": round(p95, 4), "recall": round(recall, 4),
            "queries": len(queries), "load_average": load}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--books", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--ef-construction", type=int, default=100)
    parser.add_argument("--only", help="comma-separated subset: hnswlib,faiss,faiss-ivf,usearch,voyager")
    add_hogs_option(parser)
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    efc = args.ef_construction
    threads = len(os.sched_getaffinity(0))
    x = planted(args.books)
    queries = np.random.default_rng(1).choice(len(x), args.queries, replace=False)
    truth = exact(x, queries, 10)
    print(f"{len(x):,} vectors x {x.shape[1]}, {len(queries):,} queries, {threads} threads; "
          f"peak RSS so far {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:,.0f} MB")
    rows = []
    try:
        _libraries(args, only, efc, threads, x, queries, truth, rows)
    finally:
        if rows:
            print("written:", record("ann", rows))


def _libraries(args, only, efc, threads, x, queries, truth, rows) -> None:
    """Each library in turn (a library is imported only when it is measured); rows gather in ``rows``."""
    def run_one(*a):
        rows.append(run(*a, hogs=args.hogs))

    def hnsw_build(x):
        index = hnswlib.Index(space="ip", dim=x.shape[1])
        index.init_index(max_elements=len(x), M=16, ef_construction=efc, random_seed=0)
        index.set_num_threads(threads)
        index.add_items(x, np.arange(len(x)))
        index.set_ef(64)
        return index
    if only is None or "hnswlib" in only:
        import hnswlib
        run_one("hnswlib", hnsw_build, lambda i, v, k: i.knn_query(v, k=k, num_threads=1)[0][0],
        lambda i, p: i.save_index(p), x, queries, truth)

    def faiss_build(x):
        faiss.omp_set_num_threads(threads)
        index = faiss.IndexHNSWFlat(x.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = efc
        index.add(x)
        index.hnsw.efSearch = 64
        return index

    def faiss_query(index, v, k):
        faiss.omp_set_num_threads(1)
        return index.search(v[None, :], k)[1][0]

    def faiss_save(index, path):
        faiss.write_index(index, path)
    if only is None or "faiss" in only or "faiss-ivf" in only:
        import faiss
    if only is None or "faiss" in only:
        run_one("faiss", faiss_build, faiss_query, faiss_save, x, queries, truth)

    def ivf_build(x):
        faiss.omp_set_num_threads(threads)
        nlist = int(4 * np.sqrt(len(x)))
        quantizer = faiss.IndexFlatIP(x.shape[1])
        index = faiss.IndexIVFFlat(quantizer, x.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
        sample = x[np.random.default_rng(0).choice(len(x), min(len(x), 40 * nlist), replace=False)]
        index.train(sample)
        index.add(x)
        index.nprobe = max(8, nlist // 32)
        return index
    if only is None or "faiss-ivf" in only:
        run_one("faiss-ivf", ivf_build, faiss_query, faiss_save, x, queries, truth)

    def usearch_build(x):
        index = UIndex(ndim=x.shape[1], metric="ip", dtype="f32", connectivity=16, expansion_add=efc,
                       expansion_search=64)
        index.add(np.arange(len(x)), x, threads=threads)
        return index
    if only is None or "usearch" in only:
        from usearch.index import Index as UIndex
        run_one("usearch", usearch_build, lambda i, v, k: i.search(v, k).keys, lambda i, p: i.save(p), x, queries,
                truth)

    def voyager_build(x):
        index = voyager.Index(voyager.Space.InnerProduct, num_dimensions=x.shape[1], M=16, ef_construction=efc,
                              random_seed=0, max_elements=len(x))
        index.add_items(x, np.arange(len(x)), num_threads=threads)
        return index
    if only is None or "voyager" in only:
        import voyager
        run_one("voyager", voyager_build, lambda i, v, k: i.query(v, k=k, query_ef=64)[0],
        lambda i, p: i.save(p), x, queries, truth)


if __name__ == "__main__":
    main()
