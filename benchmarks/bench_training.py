"""Training throughput at the seed's scale: the seed's recipe against bookembed, in one run.

    python benchmarks/bench_training.py [--seed-steps 40] [--epochs 2]

Builds a synthetic corpus of the full dataset's shape (37,020 books, 40,000
links, about 800,000 unique pairs with a heavy-tailed link popularity), then
measures examples per second of

* the seed's recipe (Python generator with one-at-a-time rejection, Adam,
  MSE, ``model.fit``), for ``--seed-steps`` steps after one warm-up step;
* bookembed's trainer (defaults: batch 1024 positives, 2 negatives each), for
  ``--epochs`` full epochs (default 5), graph tracing included in the first.

Prints both and their ratio. Figures vary run to run on a shared machine;
only the ratio within one run means much.
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
    parser.add_argument("--epochs", type=int, default=5, help="epochs of bookembed's trainer to time")
    parser.add_argument("--optimizer", choices=("adam", "sgd", "both"), default="both")
    args = parser.parse_args()

    from bookembed.training import TrainConfig, train
    from seed_recipe import train_seed

    n_books, n_links = 37_020, 40_000
    t0 = time.perf_counter()
    pb, pl = synthetic_pairs(n_books, n_links)
    print(f"corpus: {n_books:,} books, {n_links:,} links, {len(pb):,} pairs (built in {time.perf_counter() - t0:.1f} s)")

    _, _, seed_examples, seed_seconds = train_seed(pb, pl, n_books, n_links, epochs=1, steps=args.seed_steps)
    seed_rate = seed_examples / seed_seconds
    print(f"seed recipe : {seed_examples:>10,} examples in {seed_seconds:6.2f} s = {seed_rate:>12,.0f} examples/s")

    optimizers = ("adam", "sgd") if args.optimizer == "both" else (args.optimizer,)
    for opt in optimizers:
        result = train(pb, pl, n_books, n_links, TrainConfig(epochs=args.epochs, heldout_share=0.0, optimizer=opt))
        ours = result.examples_per_s
        warm = result.history[-1]["examples_per_s"]
        n_examples = int(ours * result.seconds)
        print(f"bookembed {opt:4s} (batch {result.batch_size}): {n_examples:>10,} examples in {result.seconds:6.2f} s "
              f"= {ours:>12,.0f} examples/s (last epoch alone {warm:,.0f}/s)")
        print(f"  ratio to the seed recipe: {ours / seed_rate:.1f}x overall, {warm / seed_rate:.1f}x warm")
        per_epoch = result.history[-1]["seconds"]
        print(f"  one epoch of {len(pb):,} positives + {2 * len(pb):,} negatives: {per_epoch:.2f} s; "
              f"15 epochs = about {15 * per_epoch:.0f} s")


if __name__ == "__main__":
    main()
