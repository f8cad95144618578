"""Quality against the seed's recipe on real records, with one held-out split for both.

    python benchmarks/bench_quality.py [--data ../shared/data/p15_books.ndjson]

Loads the records with the seed's cleaning rules, holds out 5% of the true
pairs (seeded), then trains

* the seed's recipe (Adam, MSE, 1,024 positives + 2,048 negatives a step,
  ``len(pairs) // 1024`` steps an epoch, 15 epochs), and
* bookembed with its defaults,

on the same remaining pairs and scores both the same way: held-out
link-prediction ROC-AUC (held-out pairs against as many sampled non-pairs) and
genre purity@10 (with chance beside it). Prints a table.
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

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "p15_books.ndjson"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--seeds", type=int, default=3, help="repeat with this many seeds")
    args = parser.parse_args()

    from bookembed.corpus import load_corpus
    from bookembed.evaluate import genre_purity, heldout_auc
    from bookembed.sampling import split_heldout
    from bookembed.training import TrainConfig, train
    from seed_recipe import train_seed

    corpus = load_corpus(args.data)
    genres = corpus.books["primary_genre"].tolist()
    print(f"{corpus.source}: {corpus.n_books} books, {corpus.n_links} links, {corpus.n_pairs} pairs")
    print(f"{'run':<28}{'AUC':>8}{'purity@10':>11}{'chance':>8}{'seconds':>9}")
    rows = {"seed recipe": [], "bookembed default": []}
    for seed in range(args.seeds):
        config = TrainConfig(seed=seed)
        # bookembed draws its own split from the seed; the seed recipe gets the very same one
        heldout = split_heldout(corpus.pair_books, corpus.pair_links, config.heldout_share, np.random.default_rng(seed))
        t0 = time.perf_counter()
        ours = train(corpus.pair_books, corpus.pair_links, corpus.n_books, corpus.n_links, config)
        ours_s = time.perf_counter() - t0
        assert np.array_equal(ours.heldout, heldout)
        t0 = time.perf_counter()
        sb, sl, _, _ = train_seed(corpus.pair_books, corpus.pair_links, corpus.n_books, corpus.n_links,
                                  train_mask=~heldout, epochs=15, seed=seed)
        seed_s = time.perf_counter() - t0
        for name, (b, l, secs) in {"seed recipe": (sb, sl, seed_s),
                                   "bookembed default": (ours.book_vectors, ours.link_vectors, ours_s)}.items():
            auc = heldout_auc(b, l, corpus.pair_books, corpus.pair_links, heldout, seed=seed)
            pur = genre_purity(b, genres)
            rows[name].append((auc, pur["purity"]))
            print(f"{name + f' (seed {seed})':<28}{auc:>8.3f}{pur['purity']:>11.3f}{pur['chance']:>8.3f}{secs:>9.1f}")
    for name, vals in rows.items():
        a = np.array(vals)
        print(f"{name + ' mean':<28}{a[:, 0].mean():>8.3f}{a[:, 1].mean():>11.3f}")


if __name__ == "__main__":
    main()
