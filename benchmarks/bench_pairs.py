"""Training from a pairs table at scale: a planted corpus written as Parquet pairs plus a metadata table.

    python benchmarks/bench_pairs.py --items 1000000 [--epochs 1|default] [--steps load,train] [--code DIR --label old] [--work DIR]

Writes (once, seeded) ``pairs-<items>.parquet`` (item, link: about 15 rows an
item, in row groups of 1M) and ``meta-<items>.parquet`` (item, genre, author,
country, year), vectorised so the writer itself needs no Python object per
pair. Then times, each from start to exit under ``/usr/bin/time -v`` (wall
seconds, peak resident memory): loading alone (``load_corpus`` in a fresh
process), and ``bookembed train --data PAIRS --metadata META``, with the
command's own stage times (reading, cleaning, training, evaluating, saving).

``--code DIR`` runs the command from another checkout (``PYTHONPATH=DIR``),
for a side-by-side figure of an older reader on the same files in the same
run: ``git worktree add /tmp/old <commit>`` then ``--code /tmp/old --label
old``. Rows go to ``benchmarks/results/pairs.json``, keyed by step, label,
items, epochs and hogs.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from hogs import add_hogs_option, busy, load_average  # noqa: E402
from results import record  # noqa: E402

GENRES = 50
POPULAR = 300


def write_planted_pairs(work: Path, n_items: int, *, links_per_item: int = 18, noise: float = 0.2, seed: int = 0,
                        chunk: int = 500_000) -> tuple[Path, Path]:
    """The planted corpus of ``planted.py`` (genres, Zipf-popular pages within a genre, popular noise, one rare
    page an item), as a Parquet pairs table and a Parquet metadata table. Link names are written through a
    dictionary, item names once per item."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    pairs, meta = work / f"pairs-{n_items}.parquet", work / f"meta-{n_items}.parquet"
    if pairs.is_file() and meta.is_file():
        return pairs, meta
    rng = np.random.default_rng(seed)
    pool = max(200, int(0.4 * n_items / GENRES))
    zipf = 1.0 / (np.arange(pool) + 5.0)
    cdf = np.cumsum(zipf / zipf.sum())
    names = pa.array([f"Genre {g} topic {j}" for g in range(GENRES) for j in range(pool)]
                     + [f"Popular page {j}" for j in range(POPULAR)], pa.large_string())
    countries = np.array(["United Kingdom", "United States", "France", "Russia", "Germany", "Japan", "India", "Brazil"])
    schema = pa.schema([("item", pa.large_string()), ("link", pa.large_string())])
    tmp_pairs, tmp_meta = pairs.with_suffix(".tmp"), meta.with_suffix(".tmp")
    with pq.ParquetWriter(tmp_pairs, schema) as out, pq.ParquetWriter(tmp_meta, pa.schema([
            ("item", pa.large_string()), ("genre", pa.large_string()), ("author", pa.large_string()),
            ("country", pa.large_string()), ("year", pa.int64())])) as meta_out:
        for start in range(0, n_items, chunk):
            n = min(chunk, n_items - start)
            ids = np.arange(start, start + n)
            genre = rng.integers(0, GENRES, n)
            item_names = pa.array([f"Item {i} (genre {g})" for i, g in zip(ids.tolist(), genre.tolist())],
                                  pa.large_string())
            noisy = rng.random((n, links_per_item)) < noise
            own = genre[:, None] * pool + np.searchsorted(cdf, rng.random((n, links_per_item)))
            link = np.where(noisy, GENRES * pool + rng.integers(0, POPULAR, (n, links_per_item)), own)
            link = link.astype(np.int32).ravel()
            item_of = np.repeat(np.arange(n, dtype=np.int32), links_per_item)
            rare = pa.array([f"Rare page {i}" for i in ids.tolist()], pa.large_string())  # dropped by cleaning
            items = pa.concat_arrays([item_names.take(pa.array(item_of)), item_names])
            links = pa.concat_arrays([names.take(pa.array(link)), rare])
            out.write_table(pa.table({"item": items, "link": links}, schema=schema), row_group_size=1 << 20)
            meta_out.write_table(pa.table({
                "item": item_names,
                "genre": pa.array([f"Genre {g} novel" for g in genre.tolist()], pa.large_string()),
                "author": pa.array([f"Author {g}-{a}" for g, a in zip(genre.tolist(),
                                                                      rng.integers(0, max(2, pool // 8), n).tolist())],
                                   pa.large_string()),
                "country": pa.array(countries[(genre + ids % 3) % len(countries)], pa.large_string()),
                "year": pa.array(1800 + rng.integers(0, 220, n)),
            }))
    os.replace(tmp_pairs, pairs)
    os.replace(tmp_meta, meta)
    return pairs, meta


def timed(command: list[str], log: Path, env: dict) -> dict:
    """Run a command to its end under /usr/bin/time -v: wall seconds, peak RSS in MB, exit status, stage times."""
    started = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.run(["/usr/bin/time", "-v", *command], stdout=out, stderr=subprocess.STDOUT, cwd=env["PYTHONPATH"],
                              env=env)
    seconds = time.perf_counter() - started
    text = log.read_text(errors="replace")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    done = re.findall(r"^done in .*$", text, re.M)
    stages = {name: 60 * float(minutes or 0) + float(seconds) for name, minutes, seconds in
              re.findall(r"(\w+) (?:(\d+) min )?(\d+(?:\.\d+)?) s", done[-1].split(":", 1)[1])} if done else {}
    return {"seconds": round(seconds, 2), "peak_mb": round(int(rss.group(1)) / 1024, 1) if rss else None,
            "status": proc.returncode, "stages": stages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, required=True)
    parser.add_argument("--epochs", default="1", help="epochs to train, or 'default' for the command's own choice")
    parser.add_argument("--code", default=str(ROOT), help="checkout whose bookembed runs the command")
    parser.add_argument("--label", default="streamed", help="name of this reader in the results")
    parser.add_argument("--work", default="/tmp/bookembed-pairs")
    parser.add_argument("--steps", default="load,train")
    add_hogs_option(parser)
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    pairs, meta = write_planted_pairs(work, args.items)
    print(f"corpus: {pairs} ({pairs.stat().st_size / 1e6:.0f} MB), {meta.name}; {time.perf_counter() - t:.1f} s",
          flush=True)
    env = dict(os.environ, PYTHONPATH=str(Path(args.code).resolve()))
    model = work / (f"model-{args.label}-{args.items}" + ("" if args.epochs == "1" else f"-{args.epochs}"))
    import pyarrow.parquet as pq

    rows = pq.ParquetFile(pairs).metadata.num_rows
    train = [sys.executable, "-m", "bookembed", "train", "--data", str(pairs), "--metadata", str(meta),
             *([] if args.epochs == "default" else ["--epochs", str(int(args.epochs))]),
             "--out", str(model), "--overwrite", "--no-baselines"]
    load_only = [sys.executable, "-c", "import sys; from bookembed.corpus import load_corpus; "
                 "c = load_corpus(sys.argv[1], metadata=sys.argv[2]); print(c.n_books, c.n_pairs)", str(pairs), str(meta)]
    out = []
    for step, command in (("load", load_only), ("train", train)):
        if step not in args.steps.split(","):
            continue
        with busy(args.hogs):
            load = load_average()
            result = timed(command, work / f"{step}-{args.label}-{args.items}.log", env)
        trained = None
        if step == "train" and result["status"] == 0:
            import json

            manifest = json.loads((model / "manifest.json").read_text())
            trained = manifest["config"]["epochs"]
            metrics = manifest.get("metrics", {})
            result["auc"] = metrics.get("auc")
            result["hits10"] = (metrics.get("ranking") or {}).get("hits")
            result["hits10_stderr"] = (metrics.get("ranking") or {}).get("hits_stderr")
        epochs = (f"default epochs ({trained})" if args.epochs == "default" else
                  f"{trained} epoch{'s' if trained != 1 else ''}")
        what = (f"{step}, {args.items:,} items ({rows:,} pair rows)"
                + (f", {epochs}" if step == "train" else "")
                + f": {args.label} reader")
        row = {"what": what, "step": step, "label": args.label, "items": args.items, "pair_rows": rows,
               "epochs": (args.epochs if args.epochs == "default" else int(args.epochs)) if step == "train" else None,
               "trained_epochs": trained, "hogs": args.hogs, "load_before": load, **result}
        print(row, flush=True)
        if result["status"] != 0:
            print((work / f"{step}-{args.label}-{args.items}.log").read_text(errors="replace")[-2000:])
            raise SystemExit(1)
        out.append(row)
    record("pairs", out, key=("step", "label", "items", "epochs", "hogs"))


if __name__ == "__main__":
    main()
