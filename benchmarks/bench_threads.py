"""Lock-free threads: the SGD kernel's throughput on 1 and 2 threads, and training's, and the quality each reaches.

    python benchmarks/bench_threads.py [--books 300000] [--rounds 3] [--epochs 5] [--hogs N]

On a planted corpus (``planted.py``, written to ``--work`` if missing):

* **kernel**: one epoch (every training pair and its two negatives, which
  the kernel draws itself) through ``kernels.sgd_span`` on 1 and 2 threads,
  in alternating rounds from the same starting vectors; examples per second
  and the ratio of medians. ``--laid-out`` adds the same epoch laid out in
  memory beforehand through ``kernels.sgd_pass`` (one thread), the loop
  alone without its draws;
* **training**: ``training.train`` for ``--epochs`` epochs with
  ``threads=1`` and ``threads=2``, same seed: the epochs' examples per
  second (shuffles included), the ratio, and the held-out AUC and genre
  purity@10 each reaches.

The medians are written to ``benchmarks/results/threads.json``.
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

from hogs import add_hogs_option, busy, load_average  # noqa: E402
from results import record  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--books", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5, help="epochs of each training run (0: skip them)")
    parser.add_argument("--laid-out", action="store_true", help="also time the loop over a laid-out epoch")
    parser.add_argument("--work", default="/tmp/bookembed-scale")
    add_hogs_option(parser)
    args = parser.parse_args()

    from planted import write_planted

    from bookembed.corpus import load_corpus
    from bookembed.evaluate import genre_purity, heldout_auc
    from bookembed.kernels import draw_positions, sgd_pass, sgd_span
    from bookembed.sampling import NonPairSampler
    from bookembed.training import TrainConfig, negative_weights, train

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
    tables = NonPairSampler(pb, pl, corpus.n_books, corpus.n_links,
                            negative_weights(pl, corpus.n_links, config.negative_power)).tables()
    order = rng.permutation(len(pb)).astype(np.int32)
    ratio = int(config.negative_ratio)
    n = len(order) * (1 + ratio)

    def epoch(threads: int, key: int) -> None:
        sgd_span(start_b.copy(), start_l.copy(), pb, pl, order, 0, len(order), ratio, -1.0, key, tables, 0.05,
                 np.zeros(2), False, threads)

    laid = None
    if args.laid_out:
        books, links, positive = draw_positions(order, 0, len(order), ratio, np.uint64(0), pb, pl, *tables)
        laid = (books, links, np.where(positive, 1.0, -1.0).astype(np.float32))
    for threads in (1, 2):  # compile or load the cache before timing
        sgd_span(start_b.copy(), start_l.copy(), pb, pl, order, 0, 1000, ratio, -1.0, 0, tables, 0.05, np.zeros(2),
                 False, threads)
    rates: dict = {1: [], 2: [], "laid": []}
    with busy(args.hogs):
        for r in range(args.rounds):
            for threads in (1, 2):
                t = time.perf_counter()
                epoch(threads, r)
                rates[threads].append(n / (time.perf_counter() - t))
            line = (f"round {r}: 1 thread {rates[1][-1] / 1e6:.2f}M examples/s, 2 threads {rates[2][-1] / 1e6:.2f}M "
                    f"({rates[2][-1] / rates[1][-1]:.2f}x)")
            if laid is not None:
                b, l = start_b.copy(), start_l.copy()
                t = time.perf_counter()
                sgd_pass(b, l, *laid, 0.05, np.zeros(2), False)
                rates["laid"].append(n / (time.perf_counter() - t))
                line += f"; laid out, 1 thread, no draws: {rates['laid'][-1] / 1e6:.2f}M"
            print(line, flush=True)
        load = load_average()
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    print(f"kernel with its draws, {n:,} examples an epoch: median {one / 1e6:.2f}M examples/s on 1 thread, "
          f"{two / 1e6:.2f}M on 2: {two / one:.2f}x", flush=True)
    size = f"{args.books:,} books"
    common = {"hogs": args.hogs, "rounds": args.rounds, "load_average": load}
    rows = [{"what": f"kernel, 1 thread, {size}", "examples_per_s": round(one), "x_one_thread": 1.0, **common},
            {"what": f"kernel, 2 threads, {size}", "examples_per_s": round(two), "x_one_thread": round(two / one, 2),
             **common}]
    if rates["laid"]:
        laid_rate = statistics.median(rates["laid"])
        rows.append({"what": f"kernel laid out, 1 thread, no draws, {size}", "examples_per_s": round(laid_rate),
                     "x_one_thread": round(laid_rate / one, 2), **common})

    if args.epochs:
        genres = corpus.books["primary_genre"].tolist()
        speed = {}
        for threads in (1, 2):
            with busy(args.hogs):
                result = train(pb, pl, corpus.n_books, corpus.n_links, TrainConfig(epochs=args.epochs, threads=threads))
                load = load_average()
            auc = heldout_auc(result.book_vectors, result.link_vectors, pb, pl, result.heldout)
            purity = genre_purity(result.book_vectors, genres)
            speed[threads] = result.examples_per_s
            print(f"training, {threads} thread(s), {args.epochs} epochs: {result.seconds:.1f} s, "
                  f"{result.examples_per_s / 1e6:.2f}M examples/s; AUC {auc:.4f}, genre purity@10 "
                  f"{purity['purity']:.4f} ± {purity['stderr']:.4f}", flush=True)
            rows.append({"what": f"training, {threads} thread{'s' if threads > 1 else ''}, {size}", "hogs": args.hogs,
                         "seconds": round(result.seconds, 2), "examples_per_s": round(result.examples_per_s),
                         "x_one_thread": round(result.examples_per_s / speed[1], 2), "auc": round(float(auc), 4),
                         "purity": round(float(purity["purity"]), 4), "epochs": args.epochs, "load_average": load})
        print(f"training on 2 threads: {speed[2] / speed[1]:.2f}x the examples/s of 1 thread", flush=True)
    print("written:", record("threads", rows))


if __name__ == "__main__":
    main()
