"""Quality at the full dataset's scale, where real records are not at hand: planted topics.

    python benchmarks/bench_scale_quality.py [--hogs N]

Builds 37,020 books and 40,000 links in 200 topics; each book takes about 21
links, 70% from its topic (heavy-tailed) and 30% from a global heavy-tailed
distribution. Trains with the defaults (SGD) and with lazy Adam, and reports
held-out link-prediction AUC and topic purity@10 (with chance), and time.
A model that learns the structure puts books of a topic together. The
figures are written to ``benchmarks/results/scale_quality.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from hogs import add_hogs_option, busy, load_average  # noqa: E402
from results import record  # noqa: E402


def planted_corpus(n_books=37_020, n_links=40_000, topics=200, seed=0):
    rng = np.random.default_rng(seed)
    topic = rng.integers(0, topics, n_books)
    link_topic = rng.integers(0, topics, n_links)
    by_topic = [np.flatnonzero(link_topic == t) for t in range(topics)]
    global_w = 1 / (np.arange(n_links) + 20.0) ** 0.9
    global_w /= global_w.sum()
    counts = rng.poisson(21, n_books) + 1
    books, links = [], []
    for b in range(n_books):
        k = counts[b]
        k_topic = int(k * 0.7)
        cand = by_topic[topic[b]]
        w = 1 / (np.arange(len(cand)) + 3.0)
        w /= w.sum()
        books += [b] * k
        links += list(rng.choice(cand, k_topic, p=w)) + list(rng.choice(n_links, k - k_topic, p=global_w))
    keys = np.unique(np.array(books, np.int64) * n_links + np.array(links))
    return (keys // n_links).astype(np.int32), (keys % n_links).astype(np.int32), topic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_hogs_option(parser)
    args = parser.parse_args()

    from bookembed.evaluate import genre_purity, heldout_auc
    from bookembed.training import TrainConfig, train

    n_books, n_links = 37_020, 40_000
    pb, pl, topic = planted_corpus(n_books, n_links)
    print(f"{n_books:,} books, {n_links:,} links, {len(pb):,} pairs in 200 planted topics")
    rows = []
    for optimizer in ("sgd", "adam"):
        with busy(args.hogs):
            r = train(pb, pl, n_books, n_links, TrainConfig(optimizer=optimizer))
            load = load_average()
        auc = heldout_auc(r.book_vectors, r.link_vectors, pb, pl, r.heldout, seed=1)
        p = genre_purity(r.book_vectors, [str(t) for t in topic])
        print(f"{optimizer:<5} (batch {r.batch_size}): held-out AUC {auc:.3f}, topic purity@10 {p['purity']:.3f} "
              f"(chance {p['chance']:.4f}), {r.seconds:.0f} s for {len(r.history)} epochs, {r.examples_per_s:,.0f} examples/s")
        rows.append({"what": f"{optimizer}, {n_books:,} books", "hogs": args.hogs, "batch": r.batch_size,
                     "auc": round(float(auc), 3), "purity": round(float(p["purity"]), 3),
                     "chance": round(float(p["chance"]), 4), "seconds": round(r.seconds, 1),
                     "epochs": len(r.history), "examples_per_s": round(r.examples_per_s), "load_average": load})
    print("written:", record("scale_quality", rows))


if __name__ == "__main__":
    main()
