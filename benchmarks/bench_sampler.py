"""Drawing an epoch's negatives: NumPy against the compiled paths, side by side, same draws.

    python benchmarks/bench_sampler.py [--pairs 17500000] [--links 370000] [--rounds 3] [--hogs N]

Builds pairs of the 1M planted corpus's shape (about 17.5 pairs a book,
link popularity heavy-tailed, negatives drawn by frequency^0.75), then times
``NonPairSampler.draw`` for one epoch's negatives (two per training pair)
with the compiled hash test and guided search, and with NumPy alone, in
alternating rounds; checks both give the same arrays. The medians are
written to ``benchmarks/results/sampler.json`` with the number of hogs beside them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bookembed import sampling  # noqa: E402
from bookembed.sampling import NonPairSampler  # noqa: E402
from hogs import add_hogs_option, busy, load_average  # noqa: E402
from results import record  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=17_500_000)
    parser.add_argument("--links", type=int, default=370_000)
    parser.add_argument("--rounds", type=int, default=3)
    add_hogs_option(parser)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n_books = args.pairs * 10 // 175
    popularity = rng.pareto(1.2, args.links) + 1
    pl = rng.choice(args.links, args.pairs, p=popularity / popularity.sum()).astype(np.int32)
    pb = np.sort(rng.integers(0, n_books, args.pairs).astype(np.int32))
    counts = np.bincount(pl, minlength=args.links)
    sampler = NonPairSampler(pb, pl, n_books, args.links, link_weights=counts ** 0.75)
    n = 2 * args.pairs
    sampler.draw(1 << 17, np.random.default_rng(1))  # compile (or load the cache) before timing
    times: dict[str, list[float]] = {"compiled": [], "numpy": []}
    compiled_min = sampling.COMPILED_MIN_DRAWS
    with busy(args.hogs):
        for r in range(args.rounds):
            out = {}
            for label, threshold in (("compiled", compiled_min), ("numpy", 1 << 62)):
                sampling.COMPILED_MIN_DRAWS = threshold
                t = time.perf_counter()
                out[label] = sampler.draw(n, np.random.default_rng(r))
                times[label].append(time.perf_counter() - t)
            sampling.COMPILED_MIN_DRAWS = compiled_min
            same = all(np.array_equal(a, b) for a, b in zip(out["compiled"], out["numpy"]))
            print(f"round {r}: compiled {times['compiled'][-1]:.2f} s, numpy {times['numpy'][-1]:.2f} s, "
                  f"same draws: {same}", flush=True)
            if not same:
                raise SystemExit("the compiled draws differ from NumPy's")
        load = load_average()
    c, p = statistics.median(times["compiled"]), statistics.median(times["numpy"])
    print(f"{n:,} negatives over {args.links:,} links: median compiled {c:.2f} s, numpy {p:.2f} s, {p / c:.1f}x")
    row = {"what": f"{n:,} negatives over {args.links:,} links", "hogs": args.hogs, "compiled_s": round(c, 3),
           "numpy_s": round(p, 3), "speedup": round(p / c, 2), "rounds": args.rounds, "load_average": load}
    print("written:", record("sampler", [row]))


if __name__ == "__main__":
    main()
