"""Training throughput at the seed's scale: the seed's recipe against bookembed, in one run.

    python benchmarks/bench_training.py [--seed-steps 40] [--epochs 2] [--hogs N]

Builds a synthetic corpus of the full dataset's shape (37,020 books, 40,000
links, about 800,000 unique pairs with a heavy-tailed link popularity), then
measures examples per second of

* the seed's recipe (Python generator with one-at-a-time rejection, Adam,
  MSE, ``model.fit``), for ``--seed-steps`` steps after one warm-up step;
* bookembed's trainer (defaults: batch 1024 positives, 2 negatives each), for
  ``--epochs`` full epochs, graph tracing included in the first;

in ``--rounds`` interleaved rounds, and prints per-round figures and the
medians of the rates and of the per-round ratios. Figures vary run to run on a
shared machine; the ratio within one round means most. The medians are
written to ``benchmarks/results/training.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from hogs import add_hogs_option, busy, load_average  # noqa: E402
from results import record  # noqa: E402


def synthetic_pairs(n_books=37_020, n_links=40_000, n_pairs=800_000, seed=0):
    """Unique (book, link) pairs: link popularity ~ Zipf, books with varied link counts."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / (np.arange(n_links) + 20.0) ** 0.9
    weights /= weights.sum()
    draw = int(n_pairs * 1.15)
    books = rng.integers(0, n_books, draw)
    links = rng.choice(n_links, size=draw, p=weights)
    keys = np.unique(books.astype(np.int64) * n_links + links)[:n_pairs]
    keys = rng.permutation(keys)[:n_pairs]
    keys.sort()
    return (keys // n_links).astype(np.int32), (keys % n_links).astype(np.int32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed-steps", type=int, default=40, help="steps of the seed recipe to time")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of bookembed's trainer to time per round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of seed recipe and bookembed")
    parser.add_argument("--optimizer", choices=("adam", "sgd", "both"), default="both")
    add_hogs_option(parser)
    args = parser.parse_args()

    from bookembed.training import TrainConfig, train
    from seed_recipe import train_seed

    n_books, n_links = 37_020, 40_000
    t0 = time.perf_counter()
    pb, pl = synthetic_pairs(n_books, n_links)
    print(f"corpus: {n_books:,} books, {n_links:,} links, {len(pb):,} pairs (built in {time.perf_counter() - t0:.1f} s)")

    # Interleaved rounds, so a burst of load elsewhere on the machine hits both sides alike.
    optimizers = ("adam", "sgd") if args.optimizer == "both" else (args.optimizer,)
    rates: dict[str, list[float]] = {"seed": []}
    ratios: dict[str, list[float]] = {}
    with busy(args.hogs):
        for rnd in range(1, args.rounds + 1):
            _, _, n, secs = train_seed(pb, pl, n_books, n_links, epochs=1, steps=args.seed_steps, seed=rnd)
            seed_rate = n / secs
            rates["seed"].append(seed_rate)
            line = [f"round {rnd}: seed recipe {seed_rate:>9,.0f}/s"]
            for opt in optimizers:
                result = train(pb, pl, n_books, n_links,
                               TrainConfig(epochs=args.epochs, heldout_share=0.0, optimizer=opt, seed=rnd))
                warm = float(np.median([h["examples_per_s"] for h in result.history[1:]] or [result.examples_per_s]))
                rates.setdefault(f"{opt} overall", []).append(result.examples_per_s)
                rates.setdefault(f"{opt} warm", []).append(warm)
                ratios.setdefault(opt, []).append(warm / seed_rate)
                ratios.setdefault(f"{opt} overall", []).append(result.examples_per_s / seed_rate)
                line.append(f"{opt} (batch {result.batch_size}) {warm:>11,.0f}/s warm = {warm / seed_rate:4.1f}x")
            print("; ".join(line), flush=True)
        load = load_average()
    print()
    print(f"{'median of ' + str(args.rounds) + ' rounds':<24}{'examples/s':>14}{'x seed':>9}")
    print(f"{'seed recipe':<24}{np.median(rates['seed']):>14,.0f}{1:>9.1f}")
    common = {"hogs": args.hogs, "rounds": args.rounds, "epochs": args.epochs, "seed_steps": args.seed_steps,
              "load_average": load}
    rows = [{"what": "seed recipe", "examples_per_s": round(float(np.median(rates["seed"]))), "x_seed": 1.0, **common}]
    for opt in optimizers:
        for kind in ("warm", "overall"):
            key = opt if kind == "warm" else f"{opt} overall"
            print(f"{'bookembed ' + opt + ' ' + kind:<24}{np.median(rates[f'{opt} {kind}']):>14,.0f}"
                  f"{np.median(ratios[key]):>9.1f}")
            rows.append({"what": f"bookembed {opt} {kind}",
                         "examples_per_s": round(float(np.median(rates[f"{opt} {kind}"]))),
                         "x_seed": round(float(np.median(ratios[key])), 2), **common})
    print(f"('overall' counts graph tracing in the first of {args.epochs} epochs; 'warm' is the median later epoch)")
    print("written:", record("training", rows))


if __name__ == "__main__":
    main()
