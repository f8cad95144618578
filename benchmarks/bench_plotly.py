"""The browser's share of drawing a big map: Plotly.js alone, without Streamlit, in headless Chromium.

    python benchmarks/bench_plotly.py --model /tmp/bookembed-scale/models/planted-1000000 [--method umap] [--hogs N]

Builds the Map page's figure for a model's cached projection (``map_figure``,
coloured by genre, hover details included), writes it as JSON beside
Plotly's own ``plotly.min.js`` on a static page served from 127.0.0.1, and
times in Chromium: fetching the JSON, ``JSON.parse``, and ``Plotly.newPlot``
to two animation frames later. Then the same figure without hover text and
with one colour, to show what each costs. What is left when both are gone is
Plotly's own floor for that many points on this machine's software WebGL;
the Map page adds Streamlit's server and frontend on top. The times are
written to ``benchmarks/results/plotly.json``.
"""

from __future__ import annotations

import argparse
import copy
import functools
import http.server
import shutil
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from hogs import add_hogs_option, busy, load_average  # noqa: E402
from results import record  # noqa: E402

PAGE = """<html><body><div id=g style='width:1200px;height:800px'></div>
<script src=plotly.min.js></script><script>
async function run(name) {
  const t0 = performance.now(); const text = await (await fetch(name + '.json')).text();
  const t1 = performance.now(); const fig = JSON.parse(text); const t2 = performance.now();
  await Plotly.newPlot('g', fig.data, fig.layout);
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  return {fetch: t1 - t0, parse: t2 - t1, plot: performance.now() - t2};
}
</script></body></html>"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--method", default="umap", choices=("umap", "tsne", "pca"))
    add_hogs_option(parser)
    args = parser.parse_args()

    import plotly
    import plotly.io
    from playwright.sync_api import sync_playwright

    from bookembed import projection as proj
    from bookembed.mapviz import hover_texts, map_figure
    from bookembed.store import load_model_folder

    model = load_model_folder(args.model)
    coords = proj.load_projection(model, proj.make_settings(args.method, dims=2))
    if coords is None:
        raise SystemExit(f"no cached {args.method} projection: run bookembed project --model {args.model} first")
    figure = map_figure(coords, model.books, color_by="genre", top_n=10, hover=hover_texts(model.books))
    base = figure.to_plotly_json()
    books = next(i for i, t in enumerate(base["data"]) if t.get("meta") == "books")

    def without_text(t):
        for key in ("text", "hovertext", "hovertemplate"):
            t.pop(key, None)
        t["hoverinfo"] = "skip"

    def one_colour(t):
        without_text(t)
        t["marker"] = {**t["marker"], "color": "#777777", "colorscale": None}

    variants = {"as the Map page draws it": lambda t: None, "no hover text": without_text,
                "no hover text, one colour": one_colour}
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp)
        shutil.copy(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", site)
        (site / "index.html").write_text(PAGE)
        for i, change in enumerate(variants.values()):
            fig = copy.deepcopy(base)
            change(fig["data"][books])
            (site / f"v{i}.json").write_text(plotly.io.to_json(fig, validate=False))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        flags = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
        rows = []
        try:
            with sync_playwright() as p, busy(args.hogs):
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=flags)
                for i, label in enumerate(variants):
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    page.goto(f"http://127.0.0.1:{server.server_address[1]}/index.html")
                    times = page.evaluate(f"run('v{i}')")
                    size = (site / f"v{i}.json").stat().st_size / 1e6
                    print(f"{model.n_books:,} points, {label} ({size:,.0f} MB JSON): fetch {times['fetch'] / 1e3:.2f} s, "
                          f"parse {times['parse'] / 1e3:.2f} s, Plotly.newPlot {times['plot'] / 1e3:.2f} s", flush=True)
                    rows.append({"what": f"{label}, {model.n_books:,} points, {args.method}", "hogs": args.hogs,
                                 "json_mb": round(size, 1),
                                 "fetch_s": round(times["fetch"] / 1e3, 3), "parse_s": round(times["parse"] / 1e3, 3),
                                 "plot_s": round(times["plot"] / 1e3, 3), "load_average": load_average()})
                    page.close()
                browser.close()
        finally:
            server.shutdown()
            server.server_close()
            if rows:
                print("written:", record("plotly", rows))


if __name__ == "__main__":
    main()
