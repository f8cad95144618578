"""The trained model beside what a recommender engineer would try first, on one held-out split for all.

    python benchmarks/bench_quality.py                 # demo, p15 and the planted corpus, 3 seeds
    python benchmarks/bench_quality.py --corpora p15 --seeds 1 --levers
    python benchmarks/bench_quality.py --scale         # 37k books: evaluation's cost, every method's figures
    python benchmarks/bench_quality.py --hogs 2        # beside two CPU hogs
    python benchmarks/bench_quality.py --cost          # each goal's and lever's training time over the default's

For each corpus and seed, the held-out pairs are the ones ``bookembed train``
holds out with that seed (``sampling.split_heldout``); every method is fitted
on the remaining pairs only and scored the same way (``evaluate.score_vectors``):

* the seed's recipe (``seed_recipe.py``: Adam, MSE, uniform negatives to -1,
  15 epochs);
* truncated SVD of the binary book × link matrix, and of its TF-IDF weighting;
* implicit-feedback ALS (the ``implicit`` package);
* no model at all: every book's links ranked by how many books link to them
  (held-out ranking only: it has no neighbours);
* bookembed with its defaults (goal "balanced"), and with each other goal
  ("neighbours", "links");
* with ``--levers``, bookembed with one default changed at a time (the seed's
  uniform negatives, the seed's target -1 for non-pairs, 15 epochs, ...).

Metrics: held-out ROC-AUC, MRR and Hits@10 of held-out links (ranked among
the links the book lacks), and purity@10 of genre, author and country. The
figures are means over the seeds, with the spread (max - min) beside them.

Corpora: ``demo`` (the shipped classics), ``p15`` (real records), and
``planted``: 4,000 books in 20 planted genres where three links in four are
popular pages shared by every genre (Zipf-distributed noise). On it a
binary SVD's leading factors are popularity, and it finds no genre at all.

The means over seeds (and, with ``--scale``, the 37k figures) are written to
``benchmarks/results/quality.json``, one row per method and corpus; each
bookembed row beside the best classical baseline (issue 22's bar: Hits@10
+10%, genre purity@10 +0.02) to ``benchmarks/results/quality_targets.json``.
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

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "p15_books.ndjson"

LEVERS = {
    "levers: uniform negatives (power 0)": {"negative_power": 0.0},
    "levers: non-pairs to -1 (the seed's)": {"negative_target": -1.0},
    "levers: both as the seed (old default)": {"negative_power": 0.0, "negative_target": -1.0, "epochs": 15},
    "levers: 15 epochs": {"epochs": 15},
    "levers: 3 negatives": {"negative_ratio": 3},
    "levers: power 0.5": {"negative_power": 0.5},
    "levers: power 1.0": {"negative_power": 1.0},
    "levers: dim 100": {"dim": 100},
    "levers: learning rate 0.1": {"learning_rate": 0.1},
    # issue 22's levers
    "levers: positives by idf^1": {"positive_idf_power": 1.0},
    "levers: positives by idf^2": {"positive_idf_power": 2.0},
    "levers: SVD start": {"init": "svd-tfidf"},
    "levers: second-order 0.5": {"second_order_share": 0.5},
    "levers: second-order 1.0": {"second_order_share": 1.0},
    "levers: 60 epochs": {"epochs": 60},
    "levers: dim 100, learning rate 0.1": {"dim": 100, "learning_rate": 0.1},
    "levers: join SVD": {"join": "svd-tfidf"},
    # around the goals' choices: how far the negatives' power goes at dim 100 and 60 epochs
    "levers: power 1.0, dim 100, 60 epochs": {"negative_power": 1.0, "dim": 100, "epochs": 60},
    "levers: power 1.5, dim 100, 60 epochs": {"negative_power": 1.5, "dim": 100, "epochs": 60},
    "levers: power 0, dim 100, 60 epochs": {"negative_power": 0.0, "dim": 100, "epochs": 60},
}
GOAL_ROWS = {"bookembed goal: neighbours": {"goal": "neighbours"}, "bookembed goal: links": {"goal": "links"}}
CLASSICAL = ("truncated SVD, binary", "truncated SVD, TF-IDF", "implicit ALS")
"""The classical baselines' labels (``baselines.BASELINE_LABELS``): the best of them is the bar to clear."""
TARGET = {"hits10": 1.10, "purity": 0.02}
"""Issue 22's bar: Hits@10 at least 10% above the best baseline's, genre purity@10 at least 0.02 above."""


def planted_noisy(n_books: int = 4000, genres: int = 20, links_per_genre: int = 150, popular: int = 600,
                  mean_links: int = 30, genre_share: float = 0.25, seed: int = 0):
    """A planted-genre graph drowned in popular links, cleaned like records (links in < 4 books dropped).

    Returns
    -------
    graph : LinkGraph
        Books with a ``primary_genre`` (the planted genre).
    """
    import pandas as pd

    from bookembed.graph import LinkGraph

    rng = np.random.default_rng(seed)
    genre = rng.integers(0, genres, n_books)
    n_links = popular + genres * links_per_genre
    pop_w = 1 / (np.arange(popular) + 5.0)
    in_genre_w = 1 / (np.arange(links_per_genre) + 3.0) ** 0.8
    counts = rng.poisson(mean_links, n_books) + 5
    books, links = [], []
    for b in range(n_books):
        k = int(counts[b])
        k_genre = max(1, int(rng.binomial(k, genre_share)))
        books.append(np.full(k, b))
        links.append(popular + genre[b] * links_per_genre + rng.choice(links_per_genre, k_genre,
                                                                       p=in_genre_w / in_genre_w.sum()))
        links.append(rng.choice(popular, k - k_genre, p=pop_w / pop_w.sum()))
    keys = np.unique(np.concatenate(books).astype(np.int64) * n_links + np.concatenate(links))
    pb, pl = keys // n_links, keys % n_links
    keep = np.bincount(pl, minlength=n_links)[pl] >= 4
    pb, pl = pb[keep], pl[keep]
    used, pl = np.unique(pl, return_inverse=True)
    frame = pd.DataFrame({"title": [f"book {i}" for i in range(n_books)],
                          "primary_genre": [f"genre {g}" for g in genre]})
    return LinkGraph(books=frame, links=tuple(f"link {j}" for j in used),
                     link_counts=np.bincount(pl).astype(np.int64),
                     pair_books=pb.astype(np.int32), pair_links=pl.astype(np.int32))


def load(name: str, data: str):
    from bookembed.corpus import load_corpus

    if name == "planted":
        return planted_noisy()
    return load_corpus("demo" if name == "demo" else data)


def methods_for(graph, seed: int, levers: bool, with_seed_recipe: bool):
    """(name, fit) pairs; each fit returns (book_vectors, link_vectors) from the training pairs only."""
    from bookembed.baselines import BASELINE_LABELS, BASELINES, fit_baseline
    from bookembed.training import TrainConfig, train

    def ours(**changes):
        def fit(heldout):
            result = train(graph.pair_books, graph.pair_links, graph.n_books, graph.n_links,
                           TrainConfig(seed=seed, **changes))
            assert np.array_equal(result.heldout, heldout), "one held-out split for every method"
            return result.book_vectors, result.link_vectors
        return fit

    def baseline(name):
        def fit(heldout):
            fitted = fit_baseline(name, graph.pair_books, graph.pair_links, graph.n_books, graph.n_links, heldout,
                                  seed=seed)
            return fitted.book_vectors, fitted.link_vectors
        return fit

    def seed_recipe(heldout):
        from seed_recipe import train_seed

        books, links, _, _ = train_seed(graph.pair_books, graph.pair_links, graph.n_books, graph.n_links,
                                        train_mask=~heldout, epochs=15, seed=seed)
        return books, links

    def popularity(heldout):
        # every book the same 2-d vector, each link at an angle that shrinks as more training books link to it:
        # cosine ranks links by popularity alone (ties count against it, as for every method)
        counts = np.bincount(np.asarray(graph.pair_links)[~heldout], minlength=graph.n_links)
        angle = (1 - counts / counts.max()) * np.pi / 2
        links = np.stack([np.cos(angle), np.sin(angle)], axis=1)
        return np.tile([1.0, 0.0], (graph.n_books, 1)), links

    out = [("most-linked pages first (no model)", popularity)]
    out += [("seed recipe", seed_recipe)] if with_seed_recipe else []
    out += [(BASELINE_LABELS[name], baseline(name)) for name in BASELINES]
    out.append(("bookembed default", ours()))
    out += [(name, ours(**changes)) for name, changes in GOAL_ROWS.items()]
    if levers:
        out += [(name, ours(**changes)) for name, changes in LEVERS.items()]
    return out


def run_corpus(name: str, data: str, seeds: int, levers: bool, with_seed_recipe: bool) -> list[dict]:
    from bookembed.evaluate import genre_purity, score_vectors
    from bookembed.sampling import split_heldout
    from bookembed.training import TrainConfig

    graph = load(name, data)
    print(f"\n## {name}: {graph.n_books:,} books, {graph.n_links:,} links, {graph.n_pairs:,} pairs", flush=True)
    rows = []
    for seed in range(seeds):
        heldout = split_heldout(np.asarray(graph.pair_books, np.int32), np.asarray(graph.pair_links, np.int32),
                                TrainConfig().heldout_share, np.random.default_rng(seed))
        for method, fit in methods_for(graph, seed, levers, with_seed_recipe):
            start = time.perf_counter()
            books, links = fit(heldout)
            seconds = time.perf_counter() - start
            scored = score_vectors(books, links, graph, heldout, seed=seed)
            row = {"corpus": name, "method": method, "seed": seed, "AUC": scored["auc"],
                   "MRR": scored["ranking"]["mrr"], "Hits@10": scored["ranking"]["hits"], "seconds": seconds}
            if "genre" in graph.books.columns:
                # the raw genre string ("Historical novel, War novel"), beside the primary genre the table scores
                scored["purity"]["raw genre"] = genre_purity(books, graph.books["genre"].tolist(), seed=seed)
            for column, purity in scored["purity"].items():
                # one vector for every book has no neighbours to speak of
                row[f"{column} purity"] = None if method.startswith("most-linked") else purity["purity"]
                row[f"{column} chance"] = purity["chance"]
            rows.append(row)
            purity = row.get("genre purity")
            print(f"  seed {seed} {method:<42} AUC {row['AUC']:.3f}  Hits@10 {row['Hits@10']:.3f}  "
                  f"genre purity {'n/a' if purity is None else f'{purity:.3f}'}  "
                  f"raw genre purity {row.get('raw genre purity') or 0:.3f}  {seconds:.1f} s", flush=True)
    return rows


def table(rows: list[dict]) -> str:
    """Means over seeds (± half the spread when there are several), as a Markdown table."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    figures = [c for c in ("AUC", "MRR", "Hits@10", "genre purity", "raw genre purity", "author purity",
                           "country purity", "seconds")
               if c in frame.columns]
    out = []
    for corpus, part in frame.groupby("corpus", sort=False):
        chance = {c: part[f"{c} chance"].mean() for c in ("genre", "raw genre", "author", "country")
                  if f"{c} chance" in part}
        out.append(f"\n### {corpus} (chance: " + ", ".join(f"{c} {v:.3f}" for c, v in chance.items()) + ")\n")
        out.append("| method | " + " | ".join(figures) + " |")
        out.append("|---" * (len(figures) + 1) + "|")
        for method, group in part.groupby("method", sort=False):
            cells = []
            for c in figures:
                values = group[c].dropna()
                if values.empty:
                    cells.append("")
                    continue
                spread = (values.max() - values.min()) / 2
                fmt = "{:.1f}" if c == "seconds" else "{:.3f}"
                cells.append(fmt.format(values.mean()) + (f" ± {spread:.3f}" if len(values) > 1 and c != "seconds"
                                                          else ""))
            out.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(out)


FIGURES = {"AUC": "auc", "MRR": "mrr", "Hits@10": "hits10", "genre purity": "genre_purity",
           "raw genre purity": "raw_genre_purity", "author purity": "author_purity",
           "country purity": "country_purity", "seconds": "seconds"}


def summary_rows(rows: list[dict]) -> list[dict]:
    """One results row per corpus and method: the means over seeds and half their spread, as plain numbers."""
    out: dict[tuple, dict] = {}
    for row in rows:
        out.setdefault((row["corpus"], row["method"]), {"corpus": row["corpus"], "method": row["method"], "runs": []})
        out[(row["corpus"], row["method"])]["runs"].append(row)
    summary = []
    for (corpus, method), group in out.items():
        runs = group["runs"]
        item = {"what": f"{method}, {corpus}", "seeds": len(runs)}
        for figure, column in FIGURES.items():
            values = [float(r[figure]) for r in runs if r.get(figure) is not None]
            if not values:
                continue
            item[column] = round(sum(values) / len(values), 4 if column != "seconds" else 2)
            if len(values) > 1 and column != "seconds":
                item[f"{column}_spread"] = round((max(values) - min(values)) / 2, 4)
        chance = [float(r["genre chance"]) for r in runs if r.get("genre chance") is not None]
        if chance:
            item["genre_chance"] = round(sum(chance) / len(chance), 4)
        summary.append(item)
    return summary


def target_rows(summary: list[dict]) -> list[dict]:
    """Each bookembed row beside the best classical baseline of its corpus, on each measure, and what it clears.

    ``hits10_ratio`` is Hits@10 over the best baseline's; ``*_gain`` is purity
    minus the best baseline's; ``clears`` names the measures past ``TARGET``.
    """
    rows = []
    corpora = list(dict.fromkeys(r["what"].rsplit(", ", 1)[1] for r in summary))
    for corpus in corpora:
        mine = {r["what"].rsplit(", ", 1)[0]: r for r in summary if r["what"].endswith(", " + corpus)}
        bars = {c: max((mine[m][c] for m in CLASSICAL if m in mine and c in mine[m]), default=None)
                for c in ("hits10", "genre_purity", "raw_genre_purity")}
        for method, row in mine.items():
            if method in CLASSICAL or not (method.startswith("bookembed") or method.startswith("levers")):
                continue
            item = {"what": f"{corpus}: {method}", "hogs": row.get("hogs", 0), "seeds": row["seeds"],
                    "hits10": row["hits10"], "hits10_ratio": round(row["hits10"] / bars["hits10"], 3)}
            cleared = ["Hits@10"] if item["hits10_ratio"] >= TARGET["hits10"] else []
            for column, label in (("genre_purity", "genre"), ("raw_genre_purity", "raw genre")):
                if bars[column] is None or column not in row:
                    continue
                item[column] = row[column]
                item[column.replace("purity", "gain")] = round(row[column] - bars[column], 4)
                if row[column] - bars[column] >= TARGET["purity"]:
                    cleared.append(label)
            item["clears"] = ", ".join(cleared) or "neither"
            rows.append(item)
    return rows


COST_ROWS = {"default (goal balanced)": {}, **{name.replace("bookembed ", ""): ch for name, ch in GOAL_ROWS.items()},
             "positives by idf^1": {"positive_idf_power": 1.0}, "second-order 0.5": {"second_order_share": 0.5},
             "SVD start": {"init": "svd-tfidf"}, "join SVD": {"join": "svd-tfidf"}}


def cost(data: str, repeats: int = 3, hogs: int = 0) -> None:
    """What each goal and lever costs beside the default: whole ``train`` calls, interleaved, median of ``repeats``.

    On p15 and the planted 4,000-book corpus (a busy machine moves every
    row alike, so the ratio to the default is the figure to read).
    """
    from bookembed.training import TrainConfig, train

    rows = []
    with busy(hogs):
        for name in ("p15", "planted"):
            graph = load(name, data)
            times: dict[str, list[float]] = {row: [] for row in COST_ROWS}
            for _ in range(repeats):
                for row, changes in COST_ROWS.items():
                    start = time.perf_counter()
                    train(graph.pair_books, graph.pair_links, graph.n_books, graph.n_links,
                          TrainConfig(seed=0, threads=1, **changes))
                    times[row].append(time.perf_counter() - start)
            base = float(np.median(times["default (goal balanced)"]))
            for row, seen in times.items():
                median = float(np.median(seen))
                rows.append({"what": f"{name}: {row}", "hogs": hogs, "seconds": round(median, 2),
                             "x_default": round(median / base, 2), "repeats": repeats,
                             "load_average": load_average()})
                print(f"{name:8s} {row:28s} {median:6.2f} s  {median / base:4.2f}x", flush=True)
    print("written:", record("quality_cost", rows))


def scale(hogs: int = 0) -> None:
    """What ``pipeline.metrics_for`` costs at the full dataset's size (37,020 books × 40,000 links), and the figures.

    The corpus is ``bench_scale_quality.planted_corpus`` with 40 topics. Times
    the scoring of one set of vectors and each baseline's fit, then trains
    bookembed with its defaults and prints every method's figures.
    """
    from bench_scale_quality import planted_corpus

    from bookembed.baselines import BASELINE_LABELS, BASELINES, fit_baseline
    from bookembed.evaluate import score_vectors
    from bookembed.graph import LinkGraph
    from bookembed.sampling import split_heldout
    from bookembed.training import TrainConfig, train

    import pandas as pd

    n_books, n_links = 37_020, 40_000
    pb, pl, topic = planted_corpus(n_books, n_links, topics=40)
    graph = LinkGraph(books=pd.DataFrame({"title": [str(i) for i in range(n_books)],
                                          "primary_genre": [str(t) for t in topic]}),
                      links=tuple(str(j) for j in range(n_links)),
                      link_counts=np.bincount(pl, minlength=n_links), pair_books=pb, pair_links=pl)
    heldout = split_heldout(pb, pl, 0.05, np.random.default_rng(0))
    print(f"{n_books:,} books, {n_links:,} links, {len(pb):,} pairs ({int(heldout.sum()):,} held out), 40 topics")
    vectors, fit_seconds, rows = {}, {}, []
    with busy(hogs):
        for name in BASELINES:
            fitted = fit_baseline(name, pb, pl, n_books, n_links, heldout, seed=0)
            vectors[BASELINE_LABELS[name]] = (fitted.book_vectors, fitted.link_vectors)
            fit_seconds[BASELINE_LABELS[name]] = fitted.seconds
            print(f"fitting {name}: {fitted.seconds:.1f} s", flush=True)
        result = train(pb, pl, n_books, n_links, TrainConfig(seed=0))
        assert np.array_equal(result.heldout, heldout)
        print(f"training bookembed (defaults, {result.threads} threads): {result.seconds:.1f} s", flush=True)
        vectors["bookembed default"] = (result.book_vectors, result.link_vectors)
        fit_seconds["bookembed default"] = result.seconds
        for method, (books, links) in vectors.items():
            start = time.perf_counter()
            scored = score_vectors(books, links, graph, heldout)
            r, g = scored["ranking"], scored["purity"]["genre"]
            print(f"{method:<24} AUC {scored['auc']:.3f}  MRR {r['mrr']:.3f} ± {r['mrr_stderr']:.3f}  "
                  f"Hits@10 {r['hits']:.3f} ± {r['hits_stderr']:.3f} ({r['scored']:,} of {r['pairs']:,} pairs)  "
                  f"topic purity@10 {g['purity']:.3f} ± {g['stderr']:.3f} (chance {g['chance']:.3f})  "
                  f"scored in {time.perf_counter() - start:.1f} s", flush=True)
            rows.append({"what": f"{method}, planted {n_books:,}", "hogs": hogs, "seeds": 1,
                         "auc": round(float(scored["auc"]), 4), "mrr": round(float(r["mrr"]), 4),
                         "hits10": round(float(r["hits"]), 4), "genre_purity": round(float(g["purity"]), 4),
                         "genre_chance": round(float(g["chance"]), 4), "seconds": round(float(fit_seconds[method]), 2),
                         "score_s": round(time.perf_counter() - start, 2), "load_average": load_average()})
    print("written:", record("quality", rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="the real records (p15)")
    parser.add_argument("--corpora", default="demo,p15,planted")
    parser.add_argument("--seeds", type=int, default=3, help="repeat with this many seeds (0, 1, ...)")
    parser.add_argument("--levers", action="store_true", help="also train with one default changed at a time")
    parser.add_argument("--no-seed-recipe", action="store_true", help="leave out the seed's recipe (slow)")
    parser.add_argument("--scale", action="store_true",
                        help="only the 37k-book planted corpus: evaluation's cost, and every method's figures")
    parser.add_argument("--cost", action="store_true",
                        help="only time each goal and lever beside the default (p15, planted), one thread")
    add_hogs_option(parser)
    args = parser.parse_args()
    if args.cost:
        cost(args.data, hogs=args.hogs)
        return
    if args.scale:
        scale(args.hogs)
        return
    rows = []
    with busy(args.hogs):
        for name in args.corpora.split(","):
            rows += run_corpus(name, args.data, args.seeds, args.levers, not args.no_seed_recipe)
        load = load_average()
    print(table(rows))
    summary = [{**r, "hogs": args.hogs, "load_average": load} for r in summary_rows(rows)]
    print("written:", record("quality", summary))
    print("written:", record("quality_targets", target_rows(summary)))


if __name__ == "__main__":
    main()
