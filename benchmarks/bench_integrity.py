"""What checking the manifest's SHA-256 costs when a model folder of the full dataset's size is loaded.

    .venv/bin/python benchmarks/bench_integrity.py              # 37,020 books x 50, 41,758 links, 770,000 pairs
    .venv/bin/python benchmarks/bench_integrity.py --repeat 7
    .venv/bin/python benchmarks/bench_integrity.py --hogs 2     # beside two CPU hogs

One folder is written with made-up books and random vectors (no TensorFlow),
then loaded alternately with its checksums and with a copy of its manifest
that has none (as a folder written before checksums), in the same run, so the
two are compared side by side as a ratio. ``verify_model_folder`` (every
file, no Keras model here) is timed too. No figure is asserted anywhere; the
medians are written to ``benchmarks/results/integrity.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bookembed.graph import LinkGraph
from bookembed.store import MANIFEST, SaveInputs, load_model_folder, save_model_folder, verify_model_folder

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hogs import add_hogs_option, busy, load_average  # noqa: E402
from results import record  # noqa: E402


def build(path: Path, n_books: int, n_links: int, n_pairs: int, dim: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    books = rng.integers(0, n_books, n_pairs)
    links = np.minimum(rng.zipf(1.3, n_pairs) - 1, n_links - 1)
    pairs = np.unique(np.stack([books, links], axis=1), axis=0)
    frame = pd.DataFrame({
        "title": [f"Book {i} — a title of some length" for i in range(n_books)],
        "author": [f"Author {i % 5000}" for i in range(n_books)],
        "genre": ["Science fiction, fantasy"] * n_books,
        "primary_genre": ["science fiction"] * n_books,
        "year": pd.array(rng.integers(1800, 2018, n_books), dtype="Int64"),
        "n_links": np.bincount(pairs[:, 0], minlength=n_books),
    })
    graph = LinkGraph(books=frame, links=tuple(f"link {j}" for j in range(n_links)),
                      link_counts=np.bincount(pairs[:, 1], minlength=n_links).astype(np.int64),
                      pair_books=pairs[:, 0].astype(np.int32), pair_links=pairs[:, 1].astype(np.int32))
    return save_model_folder(path, SaveInputs(
        graph=graph, heldout=rng.random(len(pairs)) < 0.05,
        book_vectors=rng.normal(size=(n_books, dim)).astype(np.float32),
        link_vectors=rng.normal(size=(n_links, dim)).astype(np.float32),
        config={"dim": dim, "seed": seed}, data={"source": "bench"},
        history={"epochs": [{"epoch": e, "loss": 1.0 / e} for e in range(1, 16)]},
    ))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--books", type=int, default=37_020)
    parser.add_argument("--links", type=int, default=41_758)
    parser.add_argument("--pairs", type=int, default=770_000)
    parser.add_argument("--dim", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    add_hogs_option(parser)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-integrity-"))
    try:
        checked = build(base / "checked", args.books, args.links, args.pairs, args.dim)
        unchecked = Path(shutil.copytree(checked, base / "unchecked"))
        manifest = json.loads((unchecked / MANIFEST).read_text(encoding="utf-8"))
        del manifest["checksums"]
        (unchecked / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
        size = sum(e["bytes"] for e in json.loads((checked / MANIFEST).read_text())["checksums"].values())
        times: dict[str, list[float]] = {"with checksums": [], "without": [], "verify (all files)": []}
        load_model_folder(checked), load_model_folder(unchecked)  # warm the page cache
        with busy(args.hogs):
            for _ in range(args.repeat):
                for label, run in (("with checksums", lambda: load_model_folder(checked)),
                                   ("without", lambda: load_model_folder(unchecked)),
                                   ("verify (all files)", lambda: verify_model_folder(checked))):
                    start = time.perf_counter()
                    run()
                    times[label].append(time.perf_counter() - start)
            load = load_average()
        print(f"folder: {args.books:,} books, {args.links:,} links, dim {args.dim}, {size / 1e6:.1f} MB of files")
        median = {k: statistics.median(v) for k, v in times.items()}
        for label, value in median.items():
            print(f"  load {label:<20} median {value * 1000:7.1f} ms  (of {args.repeat})")
        print(f"  checksums cost: x{median['with checksums'] / median['without']:.2f} of a load without them")
        rows = [{"what": f"{'' if label.startswith('verify') else 'load '}{label}, {args.books:,} books",
                 "hogs": args.hogs, "median_ms": round(value * 1000, 1),
                 "vs_without": round(value / median["without"], 2), "folder_mb": round(size / 1e6, 1),
                 "repeat": args.repeat, "load_average": load} for label, value in median.items()]
        print("written:", record("integrity", rows))
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
