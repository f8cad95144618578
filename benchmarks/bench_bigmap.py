"""The map of millions of books: building its tiles, and the Map page from navigation to first paint.

    python benchmarks/bench_bigmap.py --points 1000000 [--points 10000000] [--work DIR] [--hogs N] [--repeat 2]

For each size it writes a model folder of its own (seeded random vectors of
a few dimensions, books with titles, authors, genres and years, one link
each: no training) and plants UMAP's coordinates in its projection cache
(fifty Gaussian clusters, one per genre, of uneven sizes and spreads), so
the page finds its projection on disk as after a first computation, and opens
it once and builds its name tables as ``bookembed index`` does. Then:

* ``tiles``: ``tiles.build_tiles`` and ``tiles.density`` in this process,
  with the peak of the memory they allocate (Python's tracemalloc, which
  numpy reports to) beside the coordinates' own bytes;
* ``first paint``: the Map page in headless Chromium, from navigation to
  the point renderer's first picture drawn, with a fresh server each time
  (the tiles on disk after the first), for each path the renderer can take:
  ``tiled`` (the books of the view within the budget, over the density) and,
  from ``mapviz.POINTS_ABOVE`` up to ``--every-up-to`` books, ``every point``
  (each book sent and drawn);
* ``zoom``: seconds from a wheel zoom on the tiled map to the books of the
  new view drawn.

How it grows with the number of books n: the model folder and the page's
own loads (vectors, books table) are O(n) in time and memory; building the
tiles is O(n log n) time and O(n) memory (a few integer arrays of n); the
density raster O(n) time in chunks; the first paint of the tiled path sends
a fixed budget of books whatever n, so beyond the loads it does not grow.
The sizes this machine holds are set by the books table that the page
loads (Python strings), not by the tiles.

Figures go to the terminal and, one row per step and size, to
``benchmarks/results/bigmap.json`` (docs/scale.md's table is generated from it).
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from hogs import add_hogs_option, busy  # noqa: E402
from results import record  # noqa: E402

from bookembed.mapviz import POINTS_ABOVE  # noqa: E402

GENRES = 50
NAME = "bigmap"
FIRST_PAINT = """() => { const f = document.querySelector('iframe[title*=pointmap]'),
  c = f && f.contentDocument && f.contentDocument.querySelector('canvas[data-drawn]');
  return !!c && Number(c.dataset.drawn) > 0; }"""


def planted_coords(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of ``n`` books in ``GENRES`` Gaussian clusters of uneven sizes and spreads; and each book's genre."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(GENRES, 0.7))
    genre = rng.choice(GENRES, size=n, p=weights).astype(np.int16)
    centres = rng.uniform(-20, 20, size=(GENRES, 2))
    spread = rng.uniform(0.3, 2.5, size=GENRES)
    coords = np.empty((n, 2), dtype=np.float32)
    for at in range(0, n, 1 << 20):  # in chunks: no float64 array of n
        g = genre[at: at + (1 << 20)]
        coords[at: at + len(g)] = centres[g] + rng.normal(size=(len(g), 2)) * spread[g, None]
    return coords, genre


def write_model(folder: Path, n: int, dim: int = 8, seed: int = 0) -> float:
    """A model folder of ``n`` books written without training; returns the seconds it took."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    from bookembed.graph import LinkGraph
    from bookembed.store import SaveInputs, save_model_folder

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    _, genre = planted_coords(n, seed)
    ids = pa.array(np.arange(n))
    text = pc.cast(ids, pa.string())
    names = np.array([f"genre {g}" for g in range(GENRES)], dtype=object)
    books = pd.DataFrame({
        "title": pc.binary_join_element_wise("Book ", text, "").to_pandas(),
        "author": pc.binary_join_element_wise("Author ", pc.cast(pa.array(np.arange(n) % 9973), pa.string()),
                                              "").to_pandas(),
        "genre": names[genre],
        "primary_genre": names[genre],
        "year": pd.array(1800 + rng.integers(0, 220, size=n), dtype="Int64"),
    })
    n_links = 1000
    pair_books = np.arange(n, dtype=np.int32)
    pair_links = rng.integers(0, n_links, size=n).astype(np.int32)
    books["n_links"] = 1
    save_model_folder(folder, SaveInputs(
        graph=LinkGraph(books=books, links=tuple(f"link {j}" for j in range(n_links)),
                        link_counts=np.bincount(pair_links, minlength=n_links).astype(np.int64),
                        pair_books=pair_books, pair_links=pair_links),
        heldout=np.zeros(n, dtype=bool),
        book_vectors=rng.normal(size=(n, dim)).astype(np.float32),
        link_vectors=rng.normal(size=(n_links, dim)).astype(np.float32),
        config={"dim": dim, "seed": seed, "epochs": 0},
        data={"source": "bench_bigmap (random vectors, planted map)", "checksum": "0" * 64, "cleaning": {},
              "report": []},
        metrics={}, history={"epochs": [], "steps": []},
    ))
    return time.perf_counter() - started


def prepare(folder: Path) -> None:
    """Run ``bookembed index`` on the folder, as docs/scale.md asks of a big model before it is served: its
    files checked and recorded, the nearest-neighbour indexes and the name tables built (once: a folder kept
    from an earlier run keeps its index). The page then meets the folder as a user's."""
    if (folder / "index" / "book.json").is_file():  # built by an earlier run on this folder (--keep)
        return
    subprocess.run([sys.executable, "-m", "bookembed", "index", "--model", str(folder), "-q"], cwd=ROOT, check=True)


def plant_projection(folder: Path, n: int) -> None:
    """Put the planted coordinates in the model folder's cache as the Map page's default projection (UMAP, 2-D)."""
    from bookembed import projection as proj
    from bookembed.store import load_model_folder

    coords, _ = planted_coords(n)
    model = load_model_folder(folder)
    real = proj.compute_projection

    def planted(vectors, settings, progress=None):  # noqa: ARG001 - the computation's signature
        return coords, {"faithfulness": None, "faithfulness_k": 10, "faithfulness_queries": None,
                        "faithfulness_stderr": None, "fitted_books": n, "seconds": 0.0, "extra": {"planted": True}}

    proj.compute_projection = planted
    try:
        proj.project(model, proj.make_settings(next(iter(proj.SETTINGS)), dims=2))
    finally:
        proj.compute_projection = real


def tile_times(n: int) -> dict:
    """Seconds and peak allocated MB of building the tiles and the density raster of ``n`` planted books."""
    from bookembed import tiles as tl

    coords, _ = planted_coords(n)
    gc.collect()
    tracemalloc.start()
    started = time.perf_counter()
    tiles = tl.build_tiles(coords)
    build = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    started = time.perf_counter()
    tl.density(coords, tiles.extent)
    raster = time.perf_counter() - started
    _, raster_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    started = time.perf_counter()
    for _ in range(5):
        tl.view_points(tiles, coords, tiles.extent, tl.POINT_BUDGET)
    home = (time.perf_counter() - started) / 5
    return {"build_s": round(build, 3), "build_peak_mb": round(peak / 2**20, 1), "density_s": round(raster, 3),
            "density_peak_mb": round(raster_peak / 2**20, 1), "home_view_s": round(home, 4),
            "coords_mb": round(coords.nbytes / 2**20, 1), "tiles": len(tiles.level), "levels": int(tiles.level.max()) + 1}


def page_times(models: Path, n: int, tiled: bool, repeat: int, log: Path) -> dict:
    """Seconds from navigation to the Map page's first picture (a fresh server each time); and, tiled, a zoom."""
    from bench_app import Server, painted
    from playwright.sync_api import sync_playwright

    os.environ["BOOKEMBED_TILED_ABOVE"] = "0" if tiled else str(10 * n)
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync"]
    out: dict = {"first_paint_s": [], "zoom_s": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        for round_ in range(repeat):
            server = Server(models, log.with_suffix(f".{round_}.log"))
            try:
                server.wait_healthy()
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                started = time.perf_counter()
                page.goto(f"{server.url}/map?model={NAME}")
                page.wait_for_function(FIRST_PAINT, timeout=600_000, polling=50)
                painted(page)
                out["first_paint_s"].append(round(time.perf_counter() - started, 2))
                page.screenshot(path=str(log.with_suffix(f".{'tiled' if tiled else 'every'}.{round_}.png")))
                if tiled:
                    out["zoom_s"].append(zoom_time(page))
                page.close()
            finally:
                server.stop()
        browser.close()
    return out


def zoom_time(page) -> float:
    """Seconds from a wheel zoom at the map's centre to the books of the new view drawn."""
    frame = page.locator("iframe[title*=pointmap]").element_handle().content_frame()
    key = frame.evaluate("() => S.pointsKey")
    box = page.locator("iframe[title*=pointmap]").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.35, box["y"] + box["height"] * 0.5)
    started = time.perf_counter()
    for _ in range(4):
        page.mouse.wheel(0, -300)
    frame.wait_for_function("k => S.pointsKey !== k && !pending", arg=key, timeout=300_000, polling=50)
    return round(time.perf_counter() - started, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, action="append", help="books on the map (repeatable)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bookembed-bigmap"), help="where the models go")
    parser.add_argument("--repeat", type=int, default=2, help="first paints per path and size")
    parser.add_argument("--every-up-to", type=int, default=2_000_000,
                        help="also time the every-point path up to this many books")
    parser.add_argument("--keep", action="store_true", help="keep the model folders afterwards")
    add_hogs_option(parser)
    args = parser.parse_args()
    rows = []
    with busy(args.hogs):
        for n in args.points or [1_000_000]:
            size = f"{n:,} books"
            models = args.work / str(n)
            folder = models / NAME
            if not (folder / "manifest.json").is_file():
                shutil.rmtree(models, ignore_errors=True)
                models.mkdir(parents=True)
                seconds = write_model(folder, n)
                plant_projection(folder, n)
                print(f"{size}: model written in {seconds:.1f} s", flush=True)
            prepare(folder)
            t = tile_times(n)
            print(f"{size}: tiles built in {t['build_s']} s (peak {t['build_peak_mb']} MB beside "
                  f"{t['coords_mb']} MB of coordinates), density {t['density_s']} s, home view {t['home_view_s']} s",
                  flush=True)
            common = {"books": n, "hogs": args.hogs}
            rows.append({"what": f"tiles built, {size}", "seconds": t["build_s"], "peak_mb": t["build_peak_mb"],
                         **common, "detail": t})
            rows.append({"what": f"density raster, {size}", "seconds": t["density_s"],
                         "peak_mb": t["density_peak_mb"], **common})
            # the every-point path is the point renderer's own only above POINTS_ABOVE (Plotly's below)
            paths = [True] + ([False] if POINTS_ABOVE < n <= args.every_up_to else [])
            for tiled in paths:
                label = "tiled" if tiled else "every point"
                got = page_times(models, n, tiled, args.repeat, args.work / f"page-{n}-{label.replace(' ', '-')}")
                first = got["first_paint_s"]
                print(f"{size}: map first paint ({label}) {first} s; zoom {got['zoom_s']} s", flush=True)
                rows.append({"what": f"map first paint, {label}, {size}", "seconds": min(first),
                             "slowest_s": max(first), **common})
                if got["zoom_s"]:
                    rows.append({"what": f"map zoom to drawn, {label}, {size}", "seconds": min(got["zoom_s"]),
                                 "slowest_s": max(got["zoom_s"]), **common})
            if not args.keep:
                shutil.rmtree(models, ignore_errors=True)
    path = record("bigmap", rows)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
