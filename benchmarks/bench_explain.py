"""Clusters, prediction and comparison on the demo, on real records (p15) and on a 37k planted corpus.

    python benchmarks/bench_explain.py            # everything (about 5 minutes on 2 cores)
    python benchmarks/bench_explain.py --quick    # demo and p15 only
    python benchmarks/bench_explain.py --hogs 2   # beside two CPU hogs

Models are trained through the command line into benchmarks/out/ (ignored by
git) once and reused: the demo with seeds 42 (the shipped one) and 1; p15 with
seeds 0 and 1; the planted corpus (37,020 books, 40,000 links, 40 planted
genres, the generator of bench_scale_quality.py) with seeds 0 and 1.

Reports, per corpus:
- k-means (default k) against HDBSCAN on the unit vectors: adjusted Rand
  index and NMI against the genre, books left as noise, seconds; HDBSCAN's
  time at growing sample sizes (it is superlinear);
- predicting the genre (and other columns) from the vectors: 5-fold accuracy
  and macro-F1 against the majority class;
- comparing two seeds: mean 10-NN overlap, Procrustes disparity, seconds; at
  37k, a 5,000-book sample against the full figure and its standard error.

Every row is also written to ``benchmarks/results/explain.json`` ("what"
names the task, the method or column, and the corpus).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(ROOT / "benchmarks"))
OUT = ROOT / "benchmarks" / "out"
P15 = ROOT.parent / "shared" / "data" / "p15_books.ndjson"

from hogs import add_hogs_option, busy, load_average  # noqa: E402
from results import record  # noqa: E402


def plain(row: dict) -> dict:
    """A row's values as plain JSON numbers and strings (floats to 4 places)."""
    out = {}
    for key, value in row.items():
        if isinstance(value, (np.floating, float)):
            value = round(float(value), 4)
        elif isinstance(value, np.integer):
            value = int(value)
        out[key] = value
    return out


def train(data, out: Path, seed: int, *extra) -> Path:
    if not (out / "manifest.json").is_file():
        subprocess.run([sys.executable, "-m", "bookembed", "train", "--data", str(data), "--out", str(out),
                        "--seed", str(seed), "--quiet", *map(str, extra)], check=True, cwd=ROOT)
    return out


def planted_tables(folder: Path, topics: int = 40) -> tuple[Path, Path]:
    """The planted corpus as a pairs CSV and a metadata CSV (genre = planted topic)."""
    pairs, meta = folder / "planted_pairs.csv", folder / "planted_meta.csv"
    if not pairs.is_file():
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from bench_scale_quality import planted_corpus

        pb, pl, topic = planted_corpus(topics=topics)
        folder.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"item": [f"Book {b}" for b in pb], "link": [f"link {j}" for j in pl]}).to_csv(pairs, index=False)
        pd.DataFrame({"item": [f"Book {b}" for b in range(len(topic))],
                      "genre": [f"genre {t}" for t in topic]}).to_csv(meta, index=False)
    return pairs, meta


def clustering_rows(name, model) -> list[dict]:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from bookembed import clusters as cl

    genre = model.books["primary_genre"].fillna("").astype(str).to_numpy()
    has = genre != ""
    rows = []
    for method in ("kmeans", "hdbscan"):
        started = time.perf_counter()
        labels, params = cl.fit_labels(model.book_vectors, method)
        seconds = time.perf_counter() - started
        rows.append({"corpus": name, "method": method, "clusters": int(labels.max() + 1),
                     "noise": f"{(labels < 0).mean():.0%}", "ARI": adjusted_rand_score(genre[has], labels[has]),
                     "NMI": normalized_mutual_info_score(genre[has], labels[has]), "seconds": seconds,
                     "sampled": params.get("sampled", "")})
    return rows


def hdbscan_growth(model, sizes) -> list[dict]:
    from sklearn.cluster import HDBSCAN

    unit = model.unit_vectors("book")
    rng = np.random.default_rng(0)
    rows = []
    for n in sizes:
        rows_ = rng.choice(len(unit), n, replace=False)
        started = time.perf_counter()
        HDBSCAN(min_cluster_size=5, cluster_selection_method="leaf", copy=True).fit(unit[rows_])
        rows.append({"books": n, "hdbscan_seconds": time.perf_counter() - started})
    return rows


def prediction_rows(name, model, columns) -> list[dict]:
    from bookembed.predict import predict_column

    rows = []
    for column in columns:
        started = time.perf_counter()
        r = predict_column(model, column)
        rows.append({"corpus": name, "column": column, "classes": len(r.classes), "books": r.n_train,
                     "accuracy": r.accuracy, "macro_f1": r.macro_f1, "baseline_acc": r.baseline_accuracy,
                     "baseline_f1": r.baseline_macro_f1, "missing": r.n_missing,
                     "seconds": time.perf_counter() - started})
    return rows


def comparison_row(name, a, b, **kwargs) -> dict:
    from bookembed.compare import compare_models

    started = time.perf_counter()
    r = compare_models(a, b, **kwargs)
    return {"corpus": name, "shared": r.n_shared, "compared": len(r.compared), "mean_overlap": r.mean_overlap,
            "standard_error": r.standard_error, "vector_disparity": r.vector_disparity,
            "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    add_hogs_option(parser)
    args = parser.parse_args()
    warnings.simplefilter("ignore", FutureWarning)
    from bookembed.store import load_model_folder

    OUT.mkdir(parents=True, exist_ok=True)
    demo = OUT / "demo"
    if not demo.is_dir():
        shutil.copytree(ROOT / "models" / "demo", demo)
    corpora = {"demo": (load_model_folder(demo), load_model_folder(train("demo", OUT / "demo-seed1", 1)))}
    if P15.is_file():
        corpora["p15"] = (load_model_folder(train(P15, OUT / "p15-seed0", 0)),
                          load_model_folder(train(P15, OUT / "p15-seed1", 1)))
    if not args.quick:
        pairs, meta = planted_tables(OUT)
        corpora["planted 37k"] = (load_model_folder(train(pairs, OUT / "planted-seed0", 0, "--metadata", meta)),
                                  load_model_folder(train(pairs, OUT / "planted-seed1", 1, "--metadata", meta)))
    pd.set_option("display.width", 200)
    pd.set_option("display.float_format", lambda v: f"{v:.3f}")

    measured = []
    with busy(args.hogs):
        print("\n## Clustering on the unit vectors, against the genre")
        rows = [r for name, (a, _) in corpora.items() for r in clustering_rows(name, a)]
        print(pd.DataFrame(rows).to_string(index=False))
        measured += [{"what": f"cluster {r['method']}, {r['corpus']}", **r} for r in rows]
        if "planted 37k" in corpora:
            print("\n## HDBSCAN's time as the number of books grows (planted corpus)")
            rows = hdbscan_growth(corpora["planted 37k"][0], (2_500, 5_000, 10_000, 20_000))
            print(pd.DataFrame(rows).to_string(index=False))
            measured += [{"what": f"hdbscan, {r['books']:,} books of planted 37k", "seconds": r["hdbscan_seconds"],
                          **r} for r in rows]

        print("\n## Predicting metadata from the vectors (5-fold), against the majority class")
        rows = []
        for name, (a, _) in corpora.items():
            columns = ["genre"] if name.startswith("planted") else ["genre", "country", "language", "author"]
            rows += prediction_rows(name, a, columns)
        print(pd.DataFrame(rows).to_string(index=False))
        measured += [{"what": f"predict {r['column']}, {r['corpus']}", **r} for r in rows]

        print("\n## Two seeds compared: 10-NN overlap and Procrustes disparity")
        rows = [comparison_row(name, a, b) for name, (a, b) in corpora.items()]
        rows += [comparison_row(name, a, a) | {"corpus": f"{name}, with itself"} for name, (a, _) in corpora.items()]
        if "planted 37k" in corpora:
            a, b = corpora["planted 37k"]
            rows.append(comparison_row("planted 37k, 5,000 sampled", a, b, max_books=5_000) )
        print(pd.DataFrame(rows).to_string(index=False))
        measured += [{"what": f"compare seeds, {r['corpus']}", **r} for r in rows]
        load = load_average()
    print("written:", record("explain", [plain({**r, "hogs": args.hogs, "load_average": load}) for r in measured]))


if __name__ == "__main__":
    main()
