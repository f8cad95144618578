"""Every step a user waits for, end to end, on a planted-genre corpus of any size.

    python benchmarks/bench_scale.py --books 1000000 [--steps ...] [--recipe] [--work DIR] [--hogs N]

Writes a planted corpus (``planted.py``: 50 genres, about 15 links a book
after cleaning), then times each command from start to exit as its own
process, with its peak memory (``/usr/bin/time -v``):

* ``train``: ``bookembed train`` with every default (load, 15 epochs, held-out
  AUC and genre purity, save);
* ``neighbors``, ``evaluate``, ``index``, ``project pca|umap|tsne``,
  ``export --shard-rows 100000``;
* ``map``: the Map page in headless Chromium, from navigation to every point
  drawn, once its projection is cached (``--steps map``);
* ``pages``: the Search, Model and Export pages in headless Chromium, from
  navigation to drawn (a search for one title: to its top neighbour shown),
  with a screenshot of each (``--steps pages``);
* ``recipe`` (``--recipe``): the seed's recipe (Python generator, Adam, MSE,
  ``model.fit``) for 15 epochs on the same pairs, in the same run, for the
  end-to-end ratio.

Also reports the training kernel's own figure (from the manifest) and the
time of one top-10 query inside a loaded model, apart from the commands.
Figures go to the terminal, to ``benchmarks/out/scale-<books>.json`` and, one
row per step and size ("train, 1,000,000 books"), to ``benchmarks/results/scale.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable

from hogs import add_hogs_option, busy, load_average  # noqa: E402
from results import record  # noqa: E402

STEPS = ("train", "neighbors", "evaluate", "index", "project-pca", "project-umap", "project-tsne", "export", "map",
         "pages")


def timed(command: list[str], log: Path, env: dict | None = None) -> dict:
    """Run a command to its end under /usr/bin/time -v; wall seconds, peak RSS in MB, exit status."""
    started = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.run(["/usr/bin/time", "-v", *command], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                              env=env or dict(os.environ))
    seconds = time.perf_counter() - started
    text = log.read_text(errors="replace")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    return {"seconds": round(seconds, 2), "peak_mb": round(int(rss.group(1)) / 1024, 1) if rss else None,
            "status": proc.returncode}


def bookembed(*args: str) -> list[str]:
    return [PYTHON, "-m", "bookembed", *map(str, args)]


def query_latency(model_dir: Path, n: int = 200) -> dict:
    """Median time of one top-10 book query inside a loaded model (exact or indexed, as the model has)."""
    import numpy as np

    from bookembed.neighbors import search
    from bookembed.store import load_model_folder

    model = load_model_folder(model_dir)
    unit = model.unit_vectors("book")
    rng = np.random.default_rng(0)
    search(model, "book", unit[0], 10, exclude=[0])  # warm: index loaded, caches filled
    times = []
    for q in rng.integers(0, model.n_books, n):
        t = time.perf_counter()
        search(model, "book", unit[q], 10, exclude=[int(q)])
        times.append(time.perf_counter() - t)
    index = model.ann_index("book")
    return {"median_ms": round(statistics.median(times) * 1e3, 3), "p95_ms": round(sorted(times)[int(0.95 * n)] * 1e3, 3),
            "index": None if index is None else {"recall": index.recall, "nprobe": index.info["nprobe"], "nlist": index.info["nlist"]}}


def map_time(models: Path, name: str, n_books: int, log: Path, repeat: int = 2) -> dict:
    """Seconds from navigation to /map to every book drawn, in headless Chromium (projection cached)."""
    from bench_app import MAP_INIT, WAIT_BOOKS, Server, painted
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync"]
    times = []
    with Server(models, log) as server, sync_playwright() as p:
        server.wait_healthy()
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        for _ in range(repeat):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.add_init_script(MAP_INIT)
            started = time.perf_counter()
            page.goto(f"{server.url}/map?model={name}")
            page.wait_for_function(WAIT_BOOKS, arg=n_books, timeout=600_000, polling=100)
            painted(page)
            times.append(round(time.perf_counter() - started, 2))
            page.screenshot(path=str(log.with_suffix(f".{len(times)}.png")))
            page.close()
        browser.close()
    return {"seconds": times}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--books", type=int, required=True)
    parser.add_argument("--steps", default=",".join(s for s in STEPS if s != "map"),
                        help=f"comma-separated, from {', '.join(STEPS)}")
    parser.add_argument("--recipe", action="store_true", help="also the seed recipe, 15 epochs, same pairs")
    parser.add_argument("--work", default="/tmp/bookembed-scale", help="corpus, models and logs go here")
    parser.add_argument("--epochs", type=int, help="train with this many epochs instead of the default")
    add_hogs_option(parser)
    args = parser.parse_args()
    steps = args.steps.split(",")
    work = Path(args.work)
    models = work / "models"
    models.mkdir(parents=True, exist_ok=True)
    name = f"planted-{args.books}"
    model = models / name
    data = work / f"{name}.ndjson"
    results: dict = {"books": args.books, "cores": len(os.sched_getaffinity(0))}

    from planted import write_planted

    if not data.is_file():
        t = time.perf_counter()
        write_planted(data, args.books)
        print(f"wrote {data} ({data.stat().st_size / 1e6:,.0f} MB) in {time.perf_counter() - t:,.0f} s", flush=True)
    results["corpus_mb"] = round(data.stat().st_size / 1e6, 1)

    def step(label: str, command: list[str], env: dict | None = None) -> None:
        figure = timed(command, work / f"{label}.log", env)
        results[label] = figure
        flag = "" if figure["status"] == 0 else f"  FAILED (exit {figure['status']}, see {work / (label + '.log')})"
        print(f"{label:14s} {figure['seconds']:9,.1f} s   peak {figure['peak_mb'] or 0:9,.0f} MB{flag}", flush=True)

    results["hogs"], results["epochs"] = args.hogs, args.epochs
    with busy(args.hogs):
        if "train" in steps:
            epochs = ["--epochs", str(args.epochs)] if args.epochs else []
            step("train", bookembed("train", "--data", data, "--out", model, "--overwrite", "-q", *epochs))
            manifest = json.loads((model / "manifest.json").read_text())
            metrics, counts = manifest["metrics"], manifest["counts"]
            results["corpus"] = counts
            results["kernel"] = {"seconds": metrics["train_seconds"], "examples_per_s": metrics["examples_per_s"],
                                 "threads": manifest["config"].get("threads")}
            results["quality"] = {"auc": metrics.get("auc"), "purity": metrics.get("genre_purity")}
            print(f"  {counts['books']:,} books, {counts['links']:,} links, {counts['pairs']:,} pairs; kernel "
                  f"{metrics['train_seconds']:,.1f} s at {metrics['examples_per_s']:,.0f} examples/s on "
                  f"{manifest['config'].get('threads')} thread(s); AUC {metrics.get('auc')}, purity "
                  f"{(metrics.get('genre_purity') or {}).get('purity')}", flush=True)
        if args.recipe:
            code = ("import sys, json, time; sys.path.insert(0, %r); from seed_recipe import train_seed; "
                    "from bookembed.store import load_model_folder as l; m = l(%r); "
                    "b, k, ex, s = train_seed(m.pair_books, m.pair_links, m.n_books, m.n_links, ~m.heldout, "
                    "epochs=%d); print(json.dumps({'kernel_seconds': s, 'examples': ex}))"
                    ) % (str(HERE), str(model), args.epochs or 15)
            step("recipe", [PYTHON, "-c", code])
            if results.get("train"):
                results["recipe_ratio"] = round(results["recipe"]["seconds"] / results["train"]["seconds"], 1)
                print(f"  end to end, the seed recipe takes {results['recipe_ratio']}x as long", flush=True)
        if "neighbors" in steps:
            step("neighbors", bookembed("neighbors", _first_title(data), "--model", model))
        if "evaluate" in steps:
            step("evaluate", bookembed("evaluate", "--model", model))
        if "index" in steps:
            step("index", bookembed("index", "--model", model, "-q"))
        if {"neighbors", "index"} & set(steps):
            results["query"] = query_latency(model)
            query = results["query"]
            print(f"  one top-10 query: median {query['median_ms']} ms, p95 {query['p95_ms']} ms"
                  f" ({'index recall ' + str(query['index']['recall']) if query['index'] else 'exact'})",
                  flush=True)
        for method in ("pca", "umap", "tsne"):
            if f"project-{method}" in steps:
                step(f"project-{method}", bookembed("project", "--model", model, "--method", method, "-q"))
        if "export" in steps:
            out = work / "export"
            shutil.rmtree(out, ignore_errors=True)
            step("export", bookembed("export", "--model", model, "--out", out, "--shard-rows", "100000"))
        if "map" in steps:
            from bookembed import projection as proj
            from bookembed.store import load_model_folder

            if proj.load_projection(load_model_folder(model), proj.UMAPSettings()) is None:
                step("project-umap", bookembed("project", "--model", model, "--method", "umap", "-q"))
            results["map"] = map_time(models, name, args.books, work / "map.log")
            print(f"map drawn      {results['map']['seconds']} s after navigation (every point)", flush=True)
        if "pages" in steps:
            results["pages"] = pages_time(models, name, _titles(data, 3), work / "pages.log")
            print("pages          " + ", ".join(f"{k} {v} s" for k, v in results["pages"].items()), flush=True)
        results["load_average"] = load_average()
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / f"scale-{args.books}.json").write_text(json.dumps(results, indent=1))
    rows = result_rows(results, args.hogs)
    if rows:
        print("written:", record("scale", rows))


def result_rows(results: dict, hogs: int) -> list[dict]:
    """The figures of one run as rows for ``benchmarks/results/scale.json``: one a step, the size in "what"."""
    size = f"{results['books']:,} books"
    common = {"hogs": hogs, "cores": results.get("cores"), "load_average": results.get("load_average")}
    rows = []
    for label in ("train", "recipe", "neighbors", "evaluate", "index", "project-pca", "project-umap",
                  "project-tsne", "export"):
        if label in results:
            epochs = f" ({results['epochs']} epochs)" if results.get("epochs") and label in ("train", "recipe") else ""
            rows.append({"what": f"{label}{epochs}, {size}", **results[label], **common})
    for row in rows:
        if row["what"].startswith("train"):
            kernel, quality = results.get("kernel", {}), results.get("quality", {})
            rounded = lambda value, places: None if value is None else round(float(value), places or None)  # noqa: E731
            row.update({"kernel_s": rounded(kernel.get("seconds"), 2),
                        "examples_per_s": rounded(kernel.get("examples_per_s"), 0), "threads": kernel.get("threads"),
                        "auc": rounded(quality.get("auc"), 4),
                        "purity": rounded((quality.get("purity") or {}).get("purity"), 4)})
        if row["what"].startswith("recipe"):
            row["x_train"] = results.get("recipe_ratio")
    if "query" in results:
        rows.append({"what": f"one top-10 query, {size}", "median_ms": results["query"]["median_ms"],
                     "p95_ms": results["query"]["p95_ms"],
                     "index_recall": (results["query"]["index"] or {}).get("recall"), **common})
    if "map" in results:
        times = results["map"]["seconds"]
        rows.append({"what": f"map drawn, {size}", "seconds": min(times), "slowest_s": max(times), **common})
    for page, seconds in results.get("pages", {}).items():
        rows.append({"what": f"{page.replace('_', ' ')}, {size}", "seconds": seconds, **common})
    return rows


# the page's script has finished and nothing still waits to be drawn
SETTLED = """() => { const app = document.querySelector('[data-testid=stApp]');
  return !!app && app.getAttribute('data-test-script-state') === 'notRunning'
    && !document.querySelector('[data-testid=stSkeleton]'); }"""


def pages_time(models: Path, name: str, titles: list[str], log: Path, expected: list[str] | None = None) -> dict:
    """Seconds from navigation to drawn for Search (a title to its top neighbour shown), Model and Export.

    ``expected``: each title's top neighbour, when the caller found them (in another process, for a model too
    big to hold twice); by default they are found here."""
    from bench_app import WAIT_CELL, WAIT_TEXT, Server, painted
    from playwright.sync_api import sync_playwright

    if expected is None:
        from bookembed.neighbors import similar_books
        from bookembed.store import load_model_folder

        model = load_model_folder(models / name)
        expected = [similar_books(model, t, 10)["title"].iloc[0] for t in titles]
        del model
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync"]
    out: dict = {}
    with Server(models, log) as server, sync_playwright() as p:
        server.wait_healthy()
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        started = time.perf_counter()
        page.goto(f"{server.url}/?model={name}")
        box = page.get_by_label("Book", exact=True)
        box.wait_for(timeout=600_000)
        painted(page)
        out["search_page"] = round(time.perf_counter() - started, 2)
        for i, (title, top) in enumerate(zip(titles, expected)):
            box.fill(title)
            started = time.perf_counter()
            box.press("Enter")
            page.wait_for_function(WAIT_TEXT, arg=title, timeout=600_000)
            page.wait_for_function(WAIT_CELL, arg=top, timeout=600_000)
            painted(page)
            out["search_first" if i == 0 else f"search_{i + 1}"] = round(time.perf_counter() - started, 2)
        page.screenshot(path=str(log.with_suffix(".search.png")))
        for path, label, ready in (("model", "model_page", "Training loss"),
                                   ("export", "export_page", "Metadata for a spreadsheet (CSV)")):
            started = time.perf_counter()
            page.goto(f"{server.url}/{path}?model={name}")
            page.get_by_text(ready, exact=True).first.wait_for(timeout=600_000)
            page.wait_for_function(SETTLED, timeout=600_000, polling=100)
            painted(page)
            out[label] = round(time.perf_counter() - started, 2)
            page.screenshot(path=str(log.with_suffix(f".{path}.png")), full_page=True)
        browser.close()
    return out


def _titles(data: Path, n: int) -> list[str]:
    with open(data, "rb") as fh:
        return [json.loads(fh.readline())[0] for _ in range(n)]


def _first_title(data: Path) -> str:
    with open(data, "rb") as fh:
        return json.loads(fh.readline())[0]


if __name__ == "__main__":
    main()
