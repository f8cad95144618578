"""Nearest-neighbour query time at the full dataset's size.

    python benchmarks/bench_neighbors.py [--books 37020] [--repeat 2000] [--hogs N]

Times exact cosine top-10 over 37,020 L2-normalised 50-d vectors
(``neighbors.top_k``: one matrix-vector product and an ``argpartition``)
against the plain approach of a full ``argsort``, side by side, and the whole
``similar_books`` call (resolve the title, top-k, shared links, table).
Prints median and 95th-percentile microseconds per query, and writes them to
``benchmarks/results/neighbors.json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from hogs import add_hogs_option, busy, load_average  # noqa: E402
from results import record  # noqa: E402


def timeit(fn, repeat: int) -> np.ndarray:
    for i in range(min(100, repeat)):  # warm caches and BLAS threads first
        fn(i)
    out = np.empty(repeat)
    for i in range(repeat):
        t0 = time.perf_counter()
        fn(i)
        out[i] = time.perf_counter() - t0
    return out * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--books", type=int, default=37_020)
    parser.add_argument("--links", type=int, default=40_000)
    parser.add_argument("--repeat", type=int, default=2000)
    add_hogs_option(parser)
    args = parser.parse_args()

    from bookembed.neighbors import similar_books, top_k
    from bookembed.store import load_model_folder

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from conftest import make_fake_model

    with tempfile.TemporaryDirectory() as tmp:
        path = make_fake_model(Path(tmp) / "big", n_books=args.books, n_links=args.links, dim=50)
        model = load_model_folder(path)
        unit = model.unit_vectors("book")
        rng = np.random.default_rng(0)
        queries = rng.integers(0, args.books, args.repeat)

        def ours(i):
            top_k(unit, unit[queries[i]], 10, exclude=[queries[i]])

        def full_sort(i):
            sims = unit @ unit[queries[i]]
            np.argsort(-sims)[:11]

        titles = model.titles

        def whole(i):
            similar_books(model, titles[queries[i]], 10)

        whole(0)
        print(f"{args.books:,} books x {unit.shape[1]} dims, {args.repeat} queries each")
        base = None
        rows = []
        with busy(args.hogs):
            for name, fn in (("top_k (matvec + argpartition)", ours), ("matvec + full argsort", full_sort),
                             ("similar_books (whole query)", whole)):
                t = timeit(fn, args.repeat)
                med = float(np.median(t))
                base = base or med
                print(f"{name:<32} median {med:8.0f} us   p95 {np.percentile(t, 95):8.0f} us   "
                      f"({med / base:.1f}x top_k)")
                rows.append({"what": f"{name}, {args.books:,} books", "hogs": args.hogs, "median_us": round(med),
                             "p95_us": round(float(np.percentile(t, 95))), "vs_top_k": round(med / base, 2),
                             "repeat": args.repeat, "load_average": load_average()})
    print("written:", record("neighbors", rows))


if __name__ == "__main__":
    main()
