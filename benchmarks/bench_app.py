"""How fast the dashboard answers, measured in headless Chromium.

    .venv/bin/python benchmarks/bench_app.py --suite demo --repeat 5            # the demo's latency, quiet
    .venv/bin/python benchmarks/bench_app.py --suite demo --repeat 5 --hogs 2   # beside two CPU hogs
    .venv/bin/python benchmarks/bench_app.py --suite big                        # the 37k figures
    .venv/bin/python benchmarks/bench_app.py                                    # both suites

Suite ``demo`` (on ``models/demo``, one server for the whole suite):

* navigation: seconds from clicking a page in the sidebar (``click``) or
  opening its address in a fresh session (``open``) until the page is settled:
  Streamlit's script state is idle (``data-test-script-state="notRunning"`` on
  the app's root, what the status widget shows), the page's title is drawn, on
  the Map page every book is drawn, and two animation frames have passed;
* on the Map page: recolour (``Colour by`` changed until the legend shows the new
  colouring), overlay (``Density`` switched on or off until the contours come or
  go) and box select (a box dragged until the page lists the selection).

Suite ``big`` (a model of the full dataset's size, 37,020 books): the first page
after ``streamlit run``, search answers, the map drawn by Plotly, and the
projection compute times (UMAP and t-SNE skipped with ``--quick``). Its model has
the 37,020 real titles and infobox values of ``../shared/data/book_info.tsv``
with clustered random vectors (by genre and author), so search, hover and colour
groups look like the real thing; it is built once under ``benchmarks/out/``
(git-ignored) and reused.

Timings are medians over ``--repeat`` runs (a warm-up round before them is not
counted); ``--hogs N`` runs N CPU hogs at normal priority beside the whole
measurement (``benchmarks/hogs.py``). Figures are printed and written to
``benchmarks/results/app_latency.json`` (``benchmarks/results.py``); no figure is
asserted anywhere.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from hogs import add_hogs_option, busy, load_average  # noqa: E402
from results import record  # noqa: E402

OUT = ROOT / "benchmarks" / "out"
BOOK_INFO = ROOT.parent / "shared" / "data" / "book_info.tsv"
PYTHON = sys.executable
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def make_big_model(path: Path, n_books: int = 37020, dim: int = 50, seed: int = 0) -> Path:
    """A model folder of the full dataset's size, written without TensorFlow.

    Titles and metadata come from ``book_info.tsv`` when it is there (else
    made up). Vectors are genre centre + author centre + noise, so books of a
    genre and of an author cluster; "Anna Karenina" is placed next to "War and
    Peace" so a search for one finds the other.
    """
    from bookembed.metadata import primary_genre
    from bookembed.graph import LinkGraph
    from bookembed.store import SaveInputs, save_model_folder

    rng = np.random.default_rng(seed)
    if BOOK_INFO.is_file():
        # Two rows carry quoted tabs; take the outer fields and keep every row.
        rows = [line.rstrip("\n").split("\t") for line in BOOK_INFO.read_text(encoding="utf-8").splitlines()[1:]]
        cols = ["title", "author", "genre", "pages", "language", "country", "publisher"]
        info = pd.DataFrame([r[:4] + r[-3:] if len(r) > 7 else r + [""] * (7 - len(r)) for r in rows], columns=cols)
        info = info.head(n_books).drop_duplicates("title").reset_index(drop=True)
    else:
        info = pd.DataFrame({"title": [f"Book {i}" for i in range(n_books)], "author": "", "genre": "",
                             "country": "", "language": "", "publisher": ""})
    n = len(info)
    genre = info["genre"].map(primary_genre)
    books = pd.DataFrame({
        "title": info["title"],
        "author": info["author"].str.title(),
        "genre": info["genre"],
        "primary_genre": genre,
        "country": info["country"].str.title(),
        "language": info.get("language", "").astype(str),
        "publisher": info["publisher"].str.title(),
        "year": pd.array(np.where(rng.random(n) < 0.8, rng.integers(1800, 2018, n), -1), dtype="Int64"),
        "pages": pd.array(rng.integers(80, 900, n), dtype="Int64"),
    })
    books.loc[books["year"] < 0, "year"] = pd.NA

    # Latent topics: the 60 largest genres, books without one spread over them.
    top = genre[genre != ""].value_counts().index[:60]
    codes = np.where(genre.isin(top), pd.Categorical(genre.where(genre.isin(top)), categories=top).codes,
                     rng.integers(0, len(top), n))
    centres = rng.normal(size=(len(top), dim)) * 1.6
    author_codes = pd.factorize(books["author"].where(books["author"] != "", books["title"]))[0]
    author_centres = rng.normal(size=(author_codes.max() + 1, dim)) * 0.9
    vectors = centres[codes] + author_centres[author_codes] + rng.normal(size=(n, dim)) * 0.6
    titles = books["title"].tolist()
    if "War and Peace" in titles and "Anna Karenina" in titles:
        wp, ak = titles.index("War and Peace"), titles.index("Anna Karenina")
        vectors[ak] = vectors[wp] + rng.normal(size=dim) * 0.05

    # Links: a few from the book's topic pool, its author page, its country.
    n_pool = 40
    pair_books, pair_links = [], []
    per_book = rng.integers(8, 25, n)
    for b in range(n):
        pool = codes[b] * n_pool + rng.choice(n_pool, size=min(per_book[b], n_pool), replace=False)
        pair_books.append(np.full(len(pool), b))
        pair_links.append(pool)
    pair_books = np.concatenate(pair_books).astype(np.int32)
    pair_links = np.concatenate(pair_links).astype(np.int32)
    n_links = len(top) * n_pool
    link_names = tuple(f"{top[j // n_pool]} topic {j % n_pool}" for j in range(n_links))
    order = np.lexsort((pair_links, pair_books))
    pair_books, pair_links = pair_books[order], pair_links[order]
    books["n_links"] = np.bincount(pair_books, minlength=n)
    heldout = rng.random(len(pair_books)) < 0.05
    return save_model_folder(path, SaveInputs(
        graph=LinkGraph(books=books, links=link_names, link_counts=np.bincount(pair_links, minlength=n_links).astype(np.int64),
                        pair_books=pair_books, pair_links=pair_links), heldout=heldout,
        book_vectors=vectors.astype(np.float32), link_vectors=rng.normal(size=(n_links, dim)).astype(np.float32),
        config={"dim": dim, "seed": seed, "epochs": 1, "note": "benchmark model: random clustered vectors"},
        data={"source": "benchmark (book_info.tsv + random vectors)", "checksum": "0" * 64, "cleaning": {}, "report": []},
        metrics={"auc": None, "genre_purity": {"purity": None, "chance": None, "k": 10, "books": 0}},
        history={"epochs": [{"epoch": 1, "loss": 1.0, "seconds": 0.0, "examples_per_s": 0.0}], "steps": []},
    ))


def big_model(models_dir: Path) -> Path:
    """The cached 37k model under ``models_dir/big`` (built on first use)."""
    from bookembed.store import is_model_folder

    path = models_dir / "big"
    if not is_model_folder(path):
        print(f"building the 37k benchmark model in {path} …", flush=True)
        make_big_model(path)
    return path


# ---------------------------------------------------------------- server and browser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`streamlit run app.py` as a subprocess; ``started`` is when it was launched."""

    def __init__(self, models_dir: Path | None, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        if models_dir is None:
            env.pop("BOOKEMBED_MODELS_DIR", None)
        else:
            env["BOOKEMBED_MODELS_DIR"] = str(models_dir)
        self.log = open(log, "wb")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.address", "127.0.0.1",
             "--server.port", str(self.port), "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_healthy(self, timeout: float = 90) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("streamlit did not start; see " + self.log.name)

    def stop(self) -> None:
        import signal

        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# MAP(): the map's Plotly element (the sidebar may hold an invisible one that preloads Plotly).
MAP_INIT = ("window.MAP = () => Array.from(document.querySelectorAll('.js-plotly-plot'))"
            ".find(g => g._fullData && g._fullData.some(t => t.meta === 'books'));")
WAIT_BOOKS = """n => { const f = document.querySelector('iframe[title*=pointmap]');
  if (f && f.contentDocument) { const c = f.contentDocument.querySelector('canvas[data-drawn]');
    if (c && c.dataset.drawn === String(n)) return true; }
  const gd = MAP();
  if (!gd || !gd._fullData) return false;
  let total = 0; for (const t of gd._fullData) if (t.meta === 'books') total += t._length || t.x.length;
  return total === n && !!gd.querySelector('canvas, .scatterlayer .point'); }"""
WAIT_CELL = """t => Array.from(document.querySelectorAll('[data-testid=stDataFrame] td')).some(td => td.innerText === t)"""
WAIT_TEXT = """t => Array.from(document.querySelectorAll('[data-testid=stText]')).some(e => e.innerText === t)"""


def painted(page) -> None:
    """Wait for two animation frames: what was just put in the DOM has been drawn."""
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def first_page_times(browser, models_dir: Path | None, repeat: int, log: Path) -> list[float]:
    """Seconds from `streamlit run` to the Search page drawn in the browser (a fresh server each time)."""
    out = []
    for _ in range(repeat):
        with Server(models_dir, log) as server:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            server.wait_healthy()
            page.goto(server.url)
            page.get_by_label("Book", exact=True).wait_for(timeout=60000)
            painted(page)
            out.append(time.perf_counter() - server.started)
            page.close()
    return out


def search_and_map_times(browser, models_dir: Path, model_name: str, titles: list[str], repeat: int, log: Path) -> dict:
    """Search answers (Enter to the expected top result drawn) and map draws (nav click to every point drawn)."""
    from bookembed.neighbors import similar_books
    from bookembed.store import load_model_folder

    model = load_model_folder(models_dir / model_name)
    expected = {t: similar_books(model, t, 10)["title"].iloc[0] for t in titles}
    result: dict = {"search": [], "search_first": None, "map": [], "map_first": None, "map_reload": []}
    with Server(models_dir, log) as server:
        server.wait_healthy()
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.add_init_script(MAP_INIT)
        page.goto(f"{server.url}/?model={model_name}")
        box = page.get_by_label("Book", exact=True)
        box.wait_for(timeout=60000)
        for round_ in range(repeat + 1):
            for title in titles:
                box.fill(title)
                started = time.perf_counter()
                box.press("Enter")
                page.wait_for_function(WAIT_TEXT, arg=title, timeout=60000)
                page.wait_for_function(WAIT_CELL, arg=expected[title], timeout=60000)
                painted(page)
                elapsed = time.perf_counter() - started
                if result["search_first"] is None:
                    result["search_first"] = elapsed  # builds the folded-title and link caches
                else:
                    result["search"].append(elapsed)
        for round_ in range(repeat + 1):
            started = time.perf_counter()
            page.get_by_role("link", name="Map").click()
            page.wait_for_function(WAIT_BOOKS, arg=model.n_books, timeout=120000, polling=50)
            painted(page)
            elapsed = time.perf_counter() - started
            if result["map_first"] is None:
                result["map_first"] = elapsed  # hover labels built, plotly imported on the server
            else:
                result["map"].append(elapsed)
            page.get_by_role("link", name="Search").click()
            box.wait_for(timeout=60000)
        for _ in range(repeat):
            started = time.perf_counter()
            page.goto(f"{server.url}/map?model={model_name}")
            page.wait_for_function(WAIT_BOOKS, arg=model.n_books, timeout=120000, polling=50)
            painted(page)
            result["map_reload"].append(time.perf_counter() - started)
        page.close()
    return result


def projection_times(models_dir: Path, quick: bool) -> dict:
    """Seconds to compute each projection of the 37k vectors (and its faithfulness), in this process."""
    from bookembed import projection as proj
    from bookembed.store import load_model_folder

    model = load_model_folder(models_dir / "big")
    out = {}
    methods = [proj.PCASettings()] if quick else [proj.PCASettings(), proj.UMAPSettings(), proj.TSNESettings()]
    for settings in methods:
        started = time.perf_counter()
        _, info = proj.compute_projection(model.book_vectors, settings)
        out[proj.describe(settings)] = (time.perf_counter() - started, info["faithfulness"])
    return out


def figure_bytes(model) -> int:
    """Size of the map's Plotly JSON for the cached UMAP projection (genre colours, no query)."""
    import plotly.io as pio

    from bookembed import mapviz
    from bookembed import projection as proj

    coords = proj.load_projection(model, proj.UMAPSettings())
    return len(pio.to_json(mapviz.map_figure(coords, model.books, hover=mapviz.hover_texts(model.books)), validate=False))


def fmt(values) -> str:
    if not values:
        return "n/a"
    values = list(values)
    return f"median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"


# ---------------------------------------------------------------- the demo's latency

# (sidebar label, path, title) of every page, in the menu's order
PAGES = (("Search", "search", "Search"), ("Map", "map", "Map"), ("Compare", "compare", "Compare"),
         ("Export", "export", "Export"), ("Model", "model", "Model"), ("Train", "train", "Train a model"))
IDLE = "() => { const a = document.querySelector('[data-testid=stApp]'); return !!a && a.dataset.testScriptState === 'notRunning'; }"
WAIT_TITLE = """t => { const a = document.querySelector('[data-testid=stApp]');
  return !!a && a.dataset.testScriptState === 'notRunning'
    && Array.from(document.querySelectorAll('h1')).some(h => h.innerText.trim() === t); }"""
WAIT_LEGEND = """c => { const a = document.querySelector('[data-testid=stApp]'); const gd = MAP();
  return !!a && a.dataset.testScriptState === 'notRunning' && !!gd && gd.layout.legend.title.text === c; }"""
WAIT_CONTOURS = """on => { const a = document.querySelector('[data-testid=stApp]'); const gd = MAP();
  return !!a && a.dataset.testScriptState === 'notRunning' && !!gd && gd._fullData.some(t => t.type === 'contour') === on; }"""
WAIT_SELECTED = """before => { const a = document.querySelector('[data-testid=stApp]');
  if (!a || a.dataset.testScriptState !== 'notRunning') return false;
  const c = Array.from(document.querySelectorAll('[data-testid=stCaptionContainer]')).map(e => e.innerText)
    .find(t => /^[\d,]+ books selected$/.test(t));
  return !!c && c !== before; }"""
SELECTED_NOW = """() => (Array.from(document.querySelectorAll('[data-testid=stCaptionContainer]')).map(e => e.innerText)
  .find(t => /^[\d,]+ books selected$/.test(t)) || '')"""


def settle(page, title: str, n_books: int | None = None) -> None:
    """Wait until the page is settled: the script idle, its title drawn, on the Map every book drawn, then painted."""
    page.wait_for_function(WAIT_TITLE, arg=title, timeout=120000, polling=20)
    if n_books is not None:
        page.wait_for_function(WAIT_BOOKS, arg=n_books, timeout=120000, polling=20)
    painted(page)


def navigation_times(browser, server: "Server", n_books: int, repeat: int) -> dict[str, list[float]]:
    """Seconds to a settled page: a sidebar click in one session (``click``), a fresh session at its address (``open``)."""
    out: dict[str, list[float]] = {}
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.add_init_script(MAP_INIT)
    page.goto(server.url)
    settle(page, "Search")
    for round_ in range(repeat + 1):  # round 0 warms the server's caches and the browser's script cache
        for label, _, title in PAGES[1:] + PAGES[:1]:
            time.sleep(0.3)
            started = time.perf_counter()
            page.get_by_role("link", name=label).click()
            settle(page, title, n_books if label == "Map" else None)
            if round_:
                out.setdefault(f"click {label}", []).append(time.perf_counter() - started)
        for label, path, title in PAGES:
            time.sleep(0.3)
            started = time.perf_counter()
            page.goto(f"{server.url}/{path}")
            settle(page, title, n_books if label == "Map" else None)
            if round_:
                out.setdefault(f"open {label}", []).append(time.perf_counter() - started)
    page.close()
    return out


def map_change_times(browser, server: "Server", n_books: int, repeat: int) -> dict[str, list[float]]:
    """Seconds from a change on the Map page until the page is idle and the chart shows it, then painted."""
    out: dict[str, list[float]] = {"recolour": [], "overlay": [], "box select": []}
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.add_init_script(MAP_INIT)
    page.goto(f"{server.url}/map")
    settle(page, "Map", n_books)

    def timed(what: str, act, wait: str, arg, keep: bool) -> None:
        time.sleep(0.3)
        started = time.perf_counter()
        act()
        page.wait_for_function(wait, arg=arg, timeout=120000, polling=10)
        painted(page)
        if keep:
            out[what].append(time.perf_counter() - started)

    colour_box = page.locator("[data-testid=stSelectbox]").filter(has_text="Colour by").first
    density = page.get_by_text("Density", exact=True)
    for round_ in range(repeat + 1):
        for colour in ("country", "genre"):
            colour_box.click()
            option = page.get_by_role("option", name=colour, exact=True)
            option.wait_for()
            timed("recolour", option.click, WAIT_LEGEND, colour, round_ > 0)
        for on in (True, False):
            timed("overlay", density.click, WAIT_CONTOURS, on, round_ > 0)
        for share in (0.5, 0.8):  # two different boxes, so the selection changes each time
            plot = page.evaluate("() => { const r = MAP().querySelector('.nsewdrag').getBoundingClientRect();"
                                 " return [r.left, r.top, r.width, r.height]; }")
            x, y, w, h = plot
            before = page.evaluate(SELECTED_NOW)

            def drag(x=x, y=y, w=w, h=h, share=share):
                page.mouse.move(x + w * 0.1, y + h * 0.1)
                page.mouse.down()
                page.mouse.move(x + w * share, y + h * share, steps=4)
                page.mouse.up()

            timed("box select", drag, WAIT_SELECTED, before, round_ > 0)
    page.close()
    return out


def demo_suite(browser, repeat: int, hogs: int, log: Path) -> list[dict]:
    """Navigation and Map-page changes on ``models/demo``; returns results rows."""
    from bookembed.store import load_model_folder

    demo = ROOT / "models" / "demo"
    n_books = load_model_folder(demo).n_books
    with Server(None, log) as server:
        server.wait_healthy()
        with busy(hogs):
            load = load_average()
            times = navigation_times(browser, server, n_books, repeat)
            times |= map_change_times(browser, server, n_books, repeat)
    rows = []
    for what, values in times.items():
        rows.append({"what": f"demo: {what}", "hogs": hogs, "books": n_books, "seconds": round(statistics.median(values), 3),
                     "min": round(min(values), 3), "max": round(max(values), 3), "n": len(values), "load_before": load})
        print(f"demo ({n_books:,} books, {hogs} hogs) {what + ':':<16} {fmt(values)}", flush=True)
    return rows


def big_suite(browser, repeat: int, quick: bool, hogs: int, log: Path) -> list[dict]:
    """The 37k model: first page, search, map draws, projection compute times; returns results rows."""
    from bookembed import projection as proj
    from bookembed.store import load_model_folder

    models_dir = OUT / "models"
    model = load_model_folder(big_model(models_dir))
    if proj.load_projection(model, proj.UMAPSettings()) is None:
        print("computing the cached UMAP projection of the 37k model (once) …", flush=True)
        started = time.perf_counter()
        proj.project(model, proj.UMAPSettings())
        print(f"  {time.perf_counter() - started:.1f} s", flush=True)
    demo = ROOT / "models" / "demo"
    titles = ["War and Peace", "Nineteen Eighty-Four", "The Hobbit", "Pride and Prejudice", "Brave New World"]
    with busy(hogs):
        first = first_page_times(browser, None if (demo / "manifest.json").is_file() else models_dir, repeat, log)
        timings = search_and_map_times(browser, models_dir, "big", titles, repeat, log)
        compute = projection_times(models_dir, quick)

    which = "models/demo" if (demo / "manifest.json").is_file() else "the 37k model (no models/demo yet)"
    print(f"first page after `streamlit run` ({which}):  {fmt(first)}")
    print(f"search answers and redraws (37k):       {fmt(timings['search'])}")
    print(f"  first search after start:             {timings['search_first']:.2f} s")
    print(f"map draws all points, nav click (37k):  {fmt(timings['map'])}")
    print(f"  first map after start:                {timings['map_first']:.2f} s")
    print(f"map draws all points, page load (37k):  {fmt(timings['map_reload'])}")
    print(f"  map figure sent to the browser:       {figure_bytes(model) / 1e6:.1f} MB of JSON")
    rows = []
    for what, values in (("first page after streamlit run", first), ("37k: search", timings["search"]),
                         ("37k: click Map", timings["map"]), ("37k: open Map", timings["map_reload"])):
        if values:
            rows.append({"what": what, "hogs": hogs, "books": model.n_books, "seconds": round(statistics.median(values), 3),
                         "min": round(min(values), 3), "max": round(max(values), 3), "n": len(values)})
    for name, (seconds, faith) in compute.items():
        print(f"compute {name}: {seconds:.1f} s, faithfulness {faith:.1%}")
        rows.append({"what": f"37k: compute {name}", "hogs": hogs, "books": model.n_books, "seconds": round(seconds, 2),
                     "n": 1})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", choices=("demo", "big", "all"), default="all",
                        help="demo: navigation and Map changes on models/demo; big: the 37k figures; all: both")
    parser.add_argument("--repeat", type=int, default=5, help="timed repetitions of each step")
    parser.add_argument("--quick", action="store_true", help="only PCA among the projection compute timings")
    add_hogs_option(parser)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    log = OUT / "streamlit.log"
    rows: list[dict] = []
    print(f"bookembed dashboard benchmark: {os.cpu_count()} CPU cores, headless Chromium, {args.hogs} CPU hogs")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            if args.suite in ("demo", "all"):
                rows += demo_suite(browser, args.repeat, args.hogs, log)
            if args.suite in ("big", "all"):
                rows += big_suite(browser, args.repeat, args.quick, args.hogs, log)
        finally:
            browser.close()
    path = record("app_latency", rows=rows, notes="Seconds until the page is settled (script idle, content drawn, "
                  "painted) in headless Chromium without a GPU; medians over --repeat runs.")
    print(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
