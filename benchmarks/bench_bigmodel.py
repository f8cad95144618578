"""Every step after training, on a big model, end to end: index, queries, neighbours, export, map.

    python benchmarks/bench_bigmodel.py --model DIR [--steps index,query,neighbors,export,project]
                                        [--code DIR --label L] [--queries 1000] [--hogs N]

For a trained model folder (``bench_pairs.py`` writes planted ones of any
size), each step a fresh process from start to exit under ``/usr/bin/time -v``
(wall seconds, peak resident memory):

* "index": ``bookembed index --model DIR --force -q`` (the book and the link
  index), with the recall@10 each measured and stored;
* "query": the folder opened, its book index loaded, and ``--queries`` top-10
  searches of sampled books through ``neighbors.search`` (candidates from
  the index, ranked by exact cosine), one at a time on one thread: the median
  and 95th percentile milliseconds of one search, the seconds to open the
  folder and the index;
* "neighbors": ``bookembed neighbors --model DIR TITLE`` from start to exit,
  what a person waits for from the command line;
* "export": ``bookembed export --model DIR --out WORK --shard-rows 100000``
  (sharded Projector TSVs and one Parquet file), with the output's size;
* "project": ``bookembed project --model DIR --method umap`` with its cached
  map removed first (UMAP fitted on a sample, the rest placed);
* "evaluate", "clusters", "predict", "compare": ``bookembed evaluate``,
  ``clusters --no-cache``, ``predict --column genre`` and ``compare DIR DIR``
  (the folder against itself) with ``--json``, each with its figures and the
  sample it drew (every one is bounded: docs/scale.md);
* "pages": the Search page on a fresh server in headless Chromium, from
  navigation to the title box, then three searches (the titles a quarter,
  half and three quarters into the folder, typed whole), each from Enter to
  its top neighbour drawn; the Model and Export pages from navigation to settled
  (``bench_scale.pages_time``; screenshots beside the log).

``--code DIR`` runs the same steps from another checkout (``PYTHONPATH=DIR``):
``git worktree add /tmp/old-index 3c09321`` (the voyager index), then
``--code /tmp/old-index --label voyager --steps index,query,neighbors``. Cost: the index step is what
``bookembed/index.py`` says; the query step reads the folder's vectors once.
Rows go to ``benchmarks/results/bigmodel.json``, keyed by step, label, books and hogs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from bench_pairs import timed  # noqa: E402
from hogs import add_hogs_option, busy, load_average  # noqa: E402
from results import record  # noqa: E402

QUERY = r"""
import json, sys, time
import numpy as np
started = time.perf_counter()
from bookembed import neighbors
from bookembed.store import load_model_folder
model = load_model_folder(sys.argv[1])
index = model.ann_index("book")
opened = time.perf_counter() - started
assert index is not None, "no index"
rows = np.random.default_rng(1).choice(model.n_books, size=int(sys.argv[2]), replace=False)
unit = model.unit_rows(rows)  # the query vectors only: a search through the index needs no more
times = []
for j, q in enumerate(rows):
    t = time.perf_counter()
    neighbors.search(model, "book", unit[j], 10, exclude=[int(q)])
    times.append(time.perf_counter() - t)
ms = 1000 * np.array(times)
print("QUERY " + json.dumps({"open_s": round(opened, 2), "median_ms": round(float(np.median(ms)), 3),
                            "p95_ms": round(float(np.percentile(ms, 95)), 3), "queries": len(rows)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--code", default=str(ROOT), help="checkout whose bookembed runs the commands")
    parser.add_argument("--label", default="current", help="name of this checkout in the results")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--steps", default="index,query,neighbors,export,project")
    add_hogs_option(parser)
    args = parser.parse_args()
    model = Path(args.model).resolve()
    manifest = json.loads((model / "manifest.json").read_text())
    books, links = manifest["counts"]["books"], manifest["counts"]["links"]
    import pyarrow.parquet as pq

    title = pq.read_table(model / "books.parquet", columns=["title"]).column("title")[0].as_py()
    env = dict(os.environ, PYTHONPATH=str(Path(args.code).resolve()))
    commands = {
        "index": [sys.executable, "-m", "bookembed", "index", "--model", str(model), "--force", "-q"],
        "query": [sys.executable, "-c", QUERY, str(model), str(args.queries)],
        "neighbors": [sys.executable, "-m", "bookembed", "neighbors", "--model", str(model), title],
        "export": [sys.executable, "-m", "bookembed", "export", "--model", str(model), "--out",
                   str(model.parent / f"export-{books}"), "--shard-rows", "100000"],
        "project": [sys.executable, "-m", "bookembed", "project", "--model", str(model), "--method", "umap", "-q"],
        "evaluate": [sys.executable, "-m", "bookembed", "evaluate", "--model", str(model), "--json"],
        "clusters": [sys.executable, "-m", "bookembed", "clusters", "--model", str(model), "--no-cache", "--json"],
        "predict": [sys.executable, "-m", "bookembed", "predict", "--model", str(model), "--column", "genre",
                    "--json"],
        # the folder against itself: what a comparison of two models this size costs (its sample is bounded)
        "compare": [sys.executable, "-m", "bookembed", "compare", str(model), str(model), "--json"],
    }
    for step in args.steps.split(","):
        if step == "pages":
            from bench_scale import pages_time

            # three titles spread over the folder, typed whole as a reader would: the first books' titles start
            # many others' ("Item 1" starts "Item 10..."), which a title from the middle of the table does not
            column = pq.read_table(model / "books.parquet", columns=["title"]).column("title")
            titles = [column[books * k // 4].as_py() for k in (1, 2, 3)]
            # each title's top neighbour, found by the command line in its own process (the folder is not held twice)
            expected = [json.loads(subprocess.run(
                [sys.executable, "-m", "bookembed", "neighbors", "--model", str(model), "--json", "-k", "1", t],
                capture_output=True, text=True, env=env, check=True).stdout)["results"][0]["title"] for t in titles]
            with busy(args.hogs):
                load = load_average()
                times = pages_time(model.parent, model.name, titles, model.parent / f"bigmodel-pages-{books}.log",
                                   expected=expected)
            row = {"what": f"pages, {books:,} books", "step": "pages", "label": args.label, "books": books,
                   "links": links, "hogs": args.hogs, "load_before": load, **times}
            print(row, flush=True)
            record("bigmodel", [row], key=("step", "label", "books", "hogs"))  # kept if a later step fails
            continue
        import shutil

        log = model.parent / f"bigmodel-{step}-{args.label}-{books}.log"
        if step == "index":
            shutil.rmtree(model / "index", ignore_errors=True)  # only this checkout's index files, measured afresh
        if step == "export":
            shutil.rmtree(model.parent / f"export-{books}", ignore_errors=True)
        if step == "project":
            for cached in (model / "projections").glob("umap-*"):
                cached.unlink()
        with busy(args.hogs):
            load = load_average()
            result = timed(commands[step], log, env)
        text = log.read_text(errors="replace")
        if result["status"] != 0:
            print(text[-2000:])
            raise SystemExit(1)
        result.pop("stages")
        named = "" if args.label == "current" else f" ({args.label})"
        row = {"what": f"{step}, {books:,} books, {links:,} links{named}", "step": step, "label": args.label,
               "books": books, "links": links, "hogs": args.hogs, "load_before": load, **result}
        if step == "index":
            for kind in ("book", "link"):
                sidecar = model / "index" / f"{kind}.json"
                if sidecar.is_file():
                    info = json.loads(sidecar.read_text())
                    row[kind] = {k: info.get(k) for k in ("library", "recall", "nlist", "nprobe", "ef", "M",
                                                          "build_seconds", "rows")}
                    index_file = [p for p in (model / "index").glob(f"{kind}.*") if p.suffix != ".json"]
                    row[kind]["file_mb"] = round(max(p.stat().st_size for p in index_file) / 1e6, 1)
            row["library"] = row.get("book", {}).get("library")
        if step == "export":
            written = list((model.parent / f"export-{books}").iterdir())
            row["output_mb"] = round(sum(p.stat().st_size for p in written) / 1e6, 1)
            row["files"] = len(written)
        if step == "query":
            line = [t for t in text.splitlines() if t.startswith("QUERY ")][-1]
            row.update(json.loads(line[len("QUERY "):]))
        if step in ("evaluate", "clusters", "predict", "compare"):
            row["answer"] = _answer(step, text)
        print(row, flush=True)
        record("bigmodel", [row], key=("step", "label", "books", "hogs"))  # kept if a later step fails


def _answer(step: str, text: str) -> dict:
    """The few figures of a command's JSON answer worth keeping beside its time (with their sampling)."""
    start = text.find("{")
    try:
        data = json.JSONDecoder().raw_decode(text[start:])[0] if start >= 0 else {}
    except ValueError:
        return {}
    keep = {"evaluate": ("auc", "genre_purity", "ranking"),
            "clusters": ("params",),
            "predict": ("accuracy", "accuracy_stderr", "books_scored", "books_trained", "books_missing"),
            "compare": ("shared", "compared", "mean_overlap", "standard_error")}[step]
    return {k: data[k] for k in keep if k in data}


if __name__ == "__main__":
    main()
