"""Lock-free threads: the SGD kernel's throughput on 1 and 2 threads, and the quality each reaches.

    python benchmarks/bench_threads.py [--books 300000] [--rounds 3] [--epochs 5]

On a planted corpus (``planted.py``, written to ``--work`` if missing):

* **throughput**: one arranged epoch (every training pair and its two
  negatives) through ``kernels.sgd_pass`` (1 thread) and
  ``kernels.sgd_pass_parallel`` (2 threads), in alternating rounds from the
  same starting vectors; examples per second and the ratio of medians;
* **quality**: ``training.train`` for ``--epochs`` epochs with ``threads=1`` and
  ``threads=2``, same seed; held-out AUC and genre purity@10 of each.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--books", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5, help="epochs of each quality run (0: skip them)")
    parser.add_argument("--work", default="/tmp/bookembed-scale")
    args = parser.parse_args()

    from planted import write_planted

    from bookembed.corpus import load_corpus
    from bookembed.evaluate import genre_purity, heldout_auc
    from bookembed.kernels import sgd_pass, sgd_pass_parallel
    from bookembed.training import TrainConfig, _Run, auto_batch_size, train
    from bookembed.sampling import NonPairSampler

    data = Path(args.work) / f"planted-{args.books}.ndjson"
    if not data.is_file():
        data.parent.mkdir(parents=True, exist_ok=True)
        write_planted(data, args.books)
    corpus = load_corpus(data)
    pb, pl = corpus.pair_books, corpus.pair_links
    print(f"{corpus.n_books:,} books, {corpus.n_links:,} links, {len(pb):,} pairs", flush=True)

    config = TrainConfig()
    rng = np.random.default_rng(0)
    start_b = rng.uniform(-0.05, 0.05, (corpus.n_books, config.dim)).astype(np.float32)
    start_l = rng.uniform(-0.05, 0.05, (corpus.n_links, config.dim)).astype(np.float32)
    counts = np.bincount(pl, minlength=corpus.n_links)
    run = _Run(config=config, pair_books=pb, pair_links=pl, train_idx=np.arange(len(pb), dtype=np.int32),
               book_vectors=start_b, link_vectors=start_l, head=np.zeros(2),
               sampler=NonPairSampler(pb, pl, corpus.n_books, corpus.n_links, counts ** config.negative_power),
               rng=rng, batch=auto_batch_size(len(pb)), threads=1, progress=None, steps_per_call=1)
    books, links, labels = (a.ravel() for a in run.arrange_epoch())
    n = len(books)
    warm = slice(0, 10_000)
    for f in (lambda b, l: sgd_pass(b, l, books[warm], links[warm], labels[warm], 0.05, np.zeros(2), False),
              lambda b, l: sgd_pass_parallel(b, l, books[warm], links[warm], labels[warm], 0.05, np.zeros(2),
                                             False, 2)):
        f(start_b.copy(), start_l.copy())  # compile or load the cache before timing
    rates: dict[int, list[float]] = {1: [], 2: []}
    for r in range(args.rounds):
        for threads in (1, 2):
            b, l = start_b.copy(), start_l.copy()
            t = time.perf_counter()
            if threads == 1:
                sgd_pass(b, l, books, links, labels, 0.05, np.zeros(2), False)
            else:
                sgd_pass_parallel(b, l, books, links, labels, 0.05, np.zeros(2), False, threads)
            rates[threads].append(n / (time.perf_counter() - t))
        print(f"round {r}: 1 thread {rates[1][-1] / 1e6:.2f}M examples/s, 2 threads {rates[2][-1] / 1e6:.2f}M "
              f"examples/s ({rates[2][-1] / rates[1][-1]:.2f}x)", flush=True)
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    print(f"kernel, {n:,} examples an epoch: median {one / 1e6:.2f}M examples/s on 1 thread, {two / 1e6:.2f}M on 2: "
          f"{two / one:.2f}x", flush=True)

    if args.epochs:
        genres = corpus.books["primary_genre"].tolist()
        for threads in (1, 2):
            result = train(pb, pl, corpus.n_books, corpus.n_links, TrainConfig(epochs=args.epochs, threads=threads))
            auc = heldout_auc(result.book_vectors, result.link_vectors, pb, pl, result.heldout)
            purity = genre_purity(result.book_vectors, genres)
            print(f"quality, {threads} thread(s), {args.epochs} epochs: AUC {auc:.4f}, genre purity@10 "
                  f"{purity['purity']:.4f} ± {purity['stderr']:.4f}; {result.seconds:.1f} s", flush=True)


if __name__ == "__main__":
    main()
