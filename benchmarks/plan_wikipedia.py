"""What all of English Wikipedia would take, step by step, from the per-item rates measured at 10M.

    python benchmarks/plan_wikipedia.py [--articles 6900000] [--links-per-article 30] [--workers 2,8,32]

Nothing is run: each step's time is its measured rate (seconds per pair row,
per item, per page) times the size of English Wikipedia, and each step's
memory its measured bytes per row times that size. The rates come from the
results files of ``bench_pairs.py`` (the 10M train at default settings, stage
by stage), ``bench_bigmodel.py`` (index, export and map at 10M) and
``bench_wikidump.py`` (pages a CPU-second; a worker is one core). A step whose benchmark has
not run is left out, and the row says which file it needs.

The sizes are assumptions, given as options: ``--articles`` (about 6.9
million in 2026) and ``--links-per-article`` (the links of an article's text
that survive cleaning; "a few hundred million" in all). The dump holds about
``PAGES_PER_ARTICLE`` pages per article (redirects and other namespaces), as
``bench_wikidump.py``'s generated dump does. Each estimate is linear in its
size, as the steps are past a million items (docs/scale.md); training's
epochs follow ``training.PAIR_VISITS``. Rows go to
``benchmarks/results/wikipedia_plan.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from results import load, record  # noqa: E402

PAGES_PER_ARTICLE = 1 / 0.30
"""Pages in ``pages-articles`` per article: about 30% of the pages are articles (the generator's mix)."""


def _row(rows, **match):
    found = [r for r in rows if all(r.get(k) == v for k, v in match.items())]
    return found[-1] if found else None


def main() -> None:
    from bookembed.training import MIN_SIZED_EPOCHS, PAIR_VISITS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=6_900_000)
    parser.add_argument("--links-per-article", type=float, default=30.0)
    parser.add_argument("--workers", default="2,8,32")
    args = parser.parse_args()
    n = args.articles
    rows_in = int(n * args.links_per_article)
    pairs = (load("pairs") or {}).get("rows", [])
    big = (load("bigmodel") or {}).get("rows", [])
    dump = (load("wikidump") or {}).get("rows", [])
    out = []
    size = f"{n / 1e6:.1f}M articles, {rows_in / 1e6:.0f}M links"

    def add(what, seconds, peak_mb, basis):
        out.append({"what": what, "minutes": None if seconds is None else round(seconds / 60, 1),
                    "peak_gb": None if peak_mb is None else round(peak_mb / 1024, 1), "basis": basis, "hogs": 0})

    # 1. the dump, on a Dask cluster of N workers
    job = [r for r in dump if r["what"].startswith("job,") and not r.get("hogs")]
    if job:
        best = job[-1]  # the most workers measured
        per_worker = best["pages_per_cpu_s"]  # a worker is one core: its pages per CPU-second
        pages = n * PAGES_PER_ARTICLE
        for workers in (int(w) for w in args.workers.split(",")):
            add(f"parse the dump ({pages / 1e6:.0f}M pages) on {workers} workers", pages / (per_worker * workers),
                best.get("peak_mib"), f"{per_worker:,.0f} pages a CPU-second ({best['what']})")
    else:
        add("parse the dump", None, None, "needs benchmarks/results/wikidump.json (bench_wikidump.py)")
    # 2. training on one machine: the 10M train at default settings, stage by stage
    train = _row(pairs, step="train", epochs="default", items=10_000_000, hogs=0)
    if train:
        stages, measured_rows = train["stages"], train["pair_rows"]
        train_pairs_then = measured_rows * 0.95 * 0.93  # held-out share; about 7% of rows are dropped by cleaning
        epochs_then = train.get("trained_epochs") or MIN_SIZED_EPOCHS
        train_pairs_now = rows_in * 0.95
        epochs_now = max(MIN_SIZED_EPOCHS, min(30, PAIR_VISITS // max(int(train_pairs_now), 1)))
        sgd = stages.get("training", 0) / (epochs_then * train_pairs_then) * epochs_now * train_pairs_now
        linear = (stages.get("reading", 0) + stages.get("cleaning", 0) + stages.get("saving", 0)) * rows_in / measured_rows
        seconds = sgd + linear + stages.get("evaluating", 0)  # evaluation is sampled: flat in the size
        add(f"train on 2 cores ({epochs_now} epochs)", seconds, train["peak_mb"] * rows_in / measured_rows,
            f"{train['what']}: {train['seconds']:,.0f} s, {train['peak_mb'] / 1024:.1f} GB")
    else:
        add("train on 2 cores", None, None, "needs the 10M default-epochs row of pairs.json (bench_pairs.py "
            "--items 10000000 --epochs default)")
    # 3. serving: the index, the map and the export, linear in the items
    for step, name in (("index", "build the search index (books and links)"), ("project", "the UMAP map"),
                       ("export", "export (sharded TSVs and Parquet)")):
        row = _row(big, step=step, books=10_000_000, label="current", hogs=0)
        if row:
            scale = n / row["books"]
            add(name, row["seconds"] * scale, row["peak_mb"] * scale, f"{row['what']}: {row['seconds']:,.0f} s")
        else:
            add(name, None, None, f"needs the 10M {step} row of bigmodel.json (bench_bigmodel.py)")
    for row in out:
        row["what"] = f"{size}: {row['what']}"
    record("wikipedia_plan", out, key=("what", "hogs"))
    for row in out:
        print(row)


if __name__ == "__main__":
    main()
