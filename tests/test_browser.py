"""The dashboard in a real browser: `streamlit run app.py` driven by Debian's Chromium through Playwright.

Skipped when /usr/bin/chromium or the playwright package is missing. The
server runs on 127.0.0.1 on a free port, against a temporary models folder
(BOOKEMBED_MODELS_DIR) holding a briefly trained model of the tiny records as
"demo" and the fake model with markup in its titles as "fake"; the last test
runs on the real models/demo when it exists.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import zipfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import WAIT_CEILING_S, make_fake_model

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
NASTY = "<b>Bold</b> & <script>alert(1)</script>"
# MAP(): the map's Plotly element (the sidebar may hold an invisible one that preloads Plotly).
MAP_INIT = ("window.MAP = () => Array.from(document.querySelectorAll('.js-plotly-plot'))"
            ".find(g => g._fullData && g._fullData.some(t => t.meta === 'books'));")

# Streamlit shows its running icon while the script runs: none means the last run has finished drawing.
SCRIPT_IDLE = "!document.querySelector('[data-testid=stStatusWidgetRunningIcon]')"
# A page that failed says so: an error box or an exception.
PAGE_FAILED = "document.querySelector('[data-testid=stAlertContentError], [data-testid=stException]')"

if not Path(CHROMIUM).is_file():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_server(models_dir: Path | None, log_path: Path, cwd: Path = ROOT):
    """`streamlit run app.py` (in ``cwd``) on a free port; yields its URL; always stopped afterwards."""
    port = free_port()
    env = dict(os.environ)
    if models_dir is None:
        env.pop("BOOKEMBED_MODELS_DIR", None)
    else:
        env["BOOKEMBED_MODELS_DIR"] = str(models_dir)
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
               "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + WAIT_CEILING_S
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as r:  # one try; the loop retries
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"streamlit did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if proc.poll() is not None:
                break
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                continue


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_trained_model):
    base = tmp_path_factory.mktemp("browser")
    models = base / "models"
    shutil.copytree(tiny_trained_model, models / "demo")
    make_fake_model(models / "fake")
    with streamlit_server(models, base / "streamlit.log") as url:
        yield url, models


def new_context(browser, **options):
    """A browser context whose every wait (a selector, a function, a download, a navigation) gives up only
    after the one ceiling: how long a page takes to draw depends on the machine's load."""
    context = browser.new_context(**{"viewport": {"width": 1400, "height": 1100}, **options})
    context.set_default_timeout(WAIT_CEILING_S * 1000)
    context.add_init_script(MAP_INIT)
    return context


@pytest.fixture
def page(browser):
    context = new_context(browser, accept_downloads=True)
    pg = context.new_page()
    dialogs = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.dialogs = dialogs
    try:
        yield pg
    finally:
        context.close()


# ---------------------------------------------------------------- helpers


def url_for(base: str, path: str = "", **query) -> str:
    return f"{base}/{path}" + (f"?{urllib.parse.urlencode(query, doseq=True)}" if query else "")


def grid_cells(pg) -> list[str]:
    """Cell texts of the result tables (st.dataframe keeps an accessible table next to its canvas)."""
    return pg.evaluate("() => Array.from(document.querySelectorAll('[data-testid=stDataFrame] td')).map(t => t.innerText)")


def wait_until(pg, condition: str, arg=None) -> None:
    """Wait for ``condition`` (a JavaScript function of ``arg``) or for the page to show an error, whichever
    comes first: a broken page fails now, with its message, rather than at the ceiling."""
    pg.wait_for_function(f"arg => ({condition})(arg) || !!({PAGE_FAILED})", arg=arg)
    failed = pg.evaluate(f"() => {{ const e = {PAGE_FAILED}; return e ? e.innerText : null; }}")
    assert failed is None, f"the page shows an error: {failed}"


def wait_for_cell(pg, text: str) -> None:
    wait_until(pg, "t => Array.from(document.querySelectorAll('[data-testid=stDataFrame] td')).some(td => td.innerText === t)",
               text)


def wait_for_map(pg) -> None:
    wait_until(pg, "() => { const gd = MAP(); return gd && gd._fullData && gd._fullData.some(t => t.meta === 'books'); }")


def hover_query_point(pg) -> str:
    """Move the mouse onto the searched book and return the hover label's text.

    On a loaded machine the page may still be redrawing the map when the mouse arrives, and a redraw
    drops the hover; so the mouse leaves and comes back until a label shows, up to the one ceiling.
    """
    # the label is read in the same step that sees it: a redraw between seeing and reading empties it
    label = "() => { const h = MAP() && MAP().querySelector('.hoverlayer'); return h && h.textContent.length > 0 ? h.textContent : null; }"
    deadline = time.monotonic() + WAIT_CEILING_S
    while True:
        x, y = pg.evaluate(
            "() => { const gd = MAP(); const t = gd._fullData.find(t => t.meta === 'query');"
            " const r = gd.querySelector('.nsewdrag').getBoundingClientRect();"
            " return [r.left + gd._fullLayout.xaxis.l2p(t.x[0]), r.top + gd._fullLayout.yaxis.l2p(t.y[0])]; }")
        pg.mouse.move(1, 1)
        pg.mouse.move(x, y, steps=3)
        try:
            return pg.wait_for_function(label, timeout=5000).json_value()  # one try; the loop tries again until the ceiling
        except sync_api.TimeoutError:
            assert time.monotonic() < deadline, "no hover label on the searched book before the ceiling"


def book_ids_on_map(pg) -> list[int]:
    return pg.evaluate(
        "() => { const gd = MAP(); const ids = [];"
        " for (const t of gd._fullData) if (t.meta === 'books') for (const i of t.customdata) ids.push(Number(i));"
        " return ids; }")


def box_select(pg, part: tuple[float, float, float, float] = (0.05, 0.95, 0.05, 0.95)) -> int:
    """Drag a box over ``part`` of the 2-D map (left, right, top, bottom, as shares of its width and height; most
    of it by default); returns how many books lie inside it (waits for the app's list)."""
    box = pg.evaluate(
        "p => { const gd = MAP(); const r = gd.querySelector('.nsewdrag').getBoundingClientRect();"
        " const x0 = r.left + r.width * p[0], x1 = r.left + r.width * p[1], y0 = r.top + r.height * p[2], y1 = r.top + r.height * p[3];"
        " const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;"
        " const lx0 = xa.p2l(x0 - r.left), lx1 = xa.p2l(x1 - r.left), ly0 = ya.p2l(y1 - r.top), ly1 = ya.p2l(y0 - r.top);"
        " const inside = new Set();"
        " for (const t of gd._fullData) if (t.meta === 'books') for (let i = 0; i < t.x.length; i++)"
        "   if (t.x[i] >= lx0 && t.x[i] <= lx1 && t.y[i] >= ly0 && t.y[i] <= ly1) inside.add(Number(t.customdata[i]));"
        " return {x0, x1, y0, y1, n: inside.size}; }", list(part))
    assert box["n"] > 0
    pg.mouse.move(box["x0"], box["y0"])
    pg.mouse.down()
    pg.mouse.move((box["x0"] + box["x1"]) / 2, (box["y0"] + box["y1"]) / 2, steps=5)
    pg.mouse.move(box["x1"], box["y1"], steps=5)
    pg.mouse.up()
    # The app lists what Plotly selected; Plotly's tests at the box's edges may differ from ours by a point or two.
    caption = pg.get_by_text(re.compile(r"^[\d,]+ books selected$"))
    caption.wait_for()
    selected = int(caption.inner_text().split()[0].replace(",", ""))
    assert abs(selected - box["n"]) <= max(3, box["n"] // 100), (selected, box["n"])
    return selected


def download_zip(pg, button: str) -> zipfile.ZipFile:
    with pg.expect_download() as download:
        pg.get_by_role("button", name=button).click()
    return zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))


def n_books(models: Path, name: str = "demo") -> int:
    from bookembed.store import load_model_folder

    return load_model_folder(models / name).n_books


# ---------------------------------------------------------------- tests


def test_search_shows_the_nearest_books_and_keeps_the_query_in_the_url(server, page):
    base, _ = server
    page.goto(url_for(base, book="War and Peace"))
    wait_for_cell(page, "Anna Karenina")
    cells = grid_cells(page)
    # the tiny corpus has 12 books: all 10 neighbours are listed, Tolstoy's before Tolkien's
    assert "The Hobbit" in cells and cells.index("Anna Karenina") < cells.index("The Hobbit")
    # typing part of a title, with an accent and lower case, finds the book and updates the URL
    box = page.get_by_label("Book", exact=True)
    box.fill("resurrection")
    box.press("Enter")
    page.wait_for_function("() => new URLSearchParams(location.search).getAll('book').includes('Resurrection (novel)')")
    wait_for_cell(page, "War and Peace")
    # the URL now reproduces the view in a fresh page
    link = page.evaluate("() => location.href")
    fresh = page.context.new_page()
    fresh.goto(link)
    wait_for_cell(fresh, "War and Peace")
    assert fresh.get_by_label("Book", exact=True).input_value() == "Resurrection (novel)"
    fresh.close()


def test_ticking_a_result_row_searches_that_book_and_the_new_results_start_unticked(server, page):
    base, _ = server
    page.goto(url_for(base, book="War and Peace"))
    wait_for_cell(page, "Anna Karenina")
    results = "() => Array.from(document.querySelectorAll('[data-testid=stDataFrame]')).pop()"
    second = page.evaluate(f"() => ({results})().querySelector('tbody tr:nth-child(2) td[aria-colindex=\"2\"]').innerText")
    box = page.locator("[data-testid=stDataFrame]").last.bounding_box()
    page.mouse.click(box["x"] + 15, box["y"] + 35 + 35 + 17)  # the second row's tick box (rows and header: 35 px)
    page.wait_for_function("t => new URLSearchParams(location.search).getAll('book').includes(t)", arg=second)
    wait_until(page, f"() => ({results})().querySelectorAll('tbody tr').length > 0 && {SCRIPT_IDLE}")
    assert page.get_by_label("Book", exact=True).input_value() == second
    wait_for_cell(page, "War and Peace")  # the ticked book's own neighbours
    ticked = page.evaluate(f"() => Array.from(({results})().querySelectorAll('tbody tr'))"
                           ".filter(r => r.getAttribute('aria-selected') === 'true').length")
    assert ticked == 0  # the tick stayed with the old results


def test_map_draws_every_book_then_a_box_selection_is_listed_and_exported(server, page):
    base, models = server
    page.goto(url_for(base, "map", book="War and Peace"))
    wait_for_map(page)
    ids = book_ids_on_map(page)
    assert sorted(ids) == list(range(n_books(models)))  # one point per book
    traces = page.evaluate("() => MAP()._fullData.map(t => [t.type, t.meta])")
    assert {t for t, m in traces} == {"scatter"} and ["scatter", "query"] in traces  # SVG up to ui.map.SVG_UP_TO books

    n = box_select(page)
    archive = download_zip(page, "Selection for the Projector (zip)")
    assert {"vectors.tsv", "metadata.tsv", "projector_config.json"} <= set(archive.namelist())
    assert len(archive.read("vectors.tsv").decode().splitlines()) == n

    # the Export page offers the same selection, and everything as a zip
    page.get_by_role("link", name="Export").click()
    page.get_by_text(f"{n:,} books selected on the Map page").wait_for()
    archive = download_zip(page, "All as zip")
    assert len(archive.read("vectors.tsv").decode().splitlines()) == n_books(models)


def test_titles_stay_text_in_tables_headings_and_hover_labels(server, page):
    base, models = server
    page.goto(url_for(base, model="fake", book=NASTY))
    page.get_by_text(NASTY, exact=True).first.wait_for()
    # nothing interpreted: no bold element made from the title, no script run
    assert page.evaluate("() => Array.from(document.querySelectorAll('b')).filter(b => b.innerText === 'Bold').length") == 0
    assert not page.dialogs

    page.goto(url_for(base, "map", model="fake", book=NASTY))
    page.get_by_text("PCA", exact=True).click()  # fast, and another cached projection
    wait_for_map(page)
    hover = hover_query_point(page)
    assert NASTY in hover
    assert sorted(book_ids_on_map(page)) == list(range(n_books(models, "fake")))
    assert not page.dialogs


def test_a_fresh_server_opened_at_map_shows_the_frame_and_the_map(tiny_trained_model, browser, tmp_path):
    """The first visit of a new server goes straight to /map: the page draws the whole frame itself."""
    models = tmp_path / "models"
    shutil.copytree(tiny_trained_model, models / "demo")
    make_fake_model(models / "second", n_books=30)
    context = new_context(browser)
    pg = context.new_page()
    try:
        with streamlit_server(models, tmp_path / "streamlit.log") as base:
            pg.goto(url_for(base, "map"))
            sidebar = pg.locator("[data-testid=stSidebar]")
            # the frame first: without ui.frame() on the page there is no model picker (and no map)
            sidebar.get_by_text("Model folder").wait_for()
            wait_for_map(pg)
            assert sidebar.get_by_text("Model folder").is_visible()
            assert sidebar.get_by_text("12 books · ").is_visible()
            for name in ("Search", "Map", "Export", "Model", "Train"):
                assert sidebar.get_by_role("link", name=name).is_visible()
            assert sorted(book_ids_on_map(pg)) == list(range(12))
            pg.screenshot(path=str(tmp_path / "map-first.png"))
            # the choice of model survives a move to another page
            sidebar.get_by_role("combobox").first.click()
            pg.get_by_role("option", name="second").click()
            sidebar.get_by_text("30 books · ").wait_for()
            sidebar.get_by_role("link", name="Model").click()
            pg.get_by_role("heading", name="Model", exact=True).wait_for()
            assert sidebar.get_by_text("30 books · ").is_visible()
            assert "model=second" in pg.url
    finally:
        context.close()


DEMO = ROOT / "models" / "demo"


@pytest.mark.skipif(not (DEMO / "manifest.json").is_file(), reason="models/demo is not there yet (it is trained from the demo corpus)")
def test_demo_search_war_and_peace_finds_anna_karenina_and_maps_every_book(browser, tmp_path):
    from bookembed.store import load_model_folder

    # A copy, so the map's projection cache is not written into the repository's models/demo.
    models = tmp_path / "models"
    shutil.copytree(DEMO, models / "demo", ignore=shutil.ignore_patterns("projections"))
    demo = load_model_folder(models / "demo")
    context = new_context(browser, accept_downloads=True)
    pg = context.new_page()
    try:
        with streamlit_server(models, tmp_path / "streamlit.log") as base:
            pg.goto(url_for(base))
            box = pg.get_by_label("Book", exact=True)
            box.fill("War and Peace")
            box.press("Enter")
            wait_for_cell(pg, "Anna Karenina")
            top = grid_cells(pg)
            assert top[top.index("Anna Karenina") - 1] in {str(r) for r in range(1, 11)}  # among the top 10
            pg.get_by_role("link", name="Map").click()
            wait_for_map(pg)
            assert sorted(book_ids_on_map(pg)) == list(range(demo.n_books))
            n = box_select(pg)
            archive = download_zip(pg, "Selection for the Projector (zip)")
            assert len(archive.read("vectors.tsv").decode().splitlines()) == n
    finally:
        context.close()


POINTS = "() => { const f = document.querySelector('iframe[title*=pointmap]'); return f && f.contentDocument; }"


def test_point_renderer_draws_every_book_shows_titles_as_text_and_selects_a_box(server, page):
    base, models = server
    n = n_books(models, "fake")
    page.goto(url_for(base, "map", model="fake", book=NASTY))
    page.get_by_text("PCA", exact=True).click()
    wait_for_map(page)  # small models start on Plotly
    page.get_by_text("Point renderer", exact=True).click()
    page.wait_for_function(f"() => {{ const d = ({POINTS})(); const c = d && d.querySelector('canvas[data-drawn]');"
                           f" return !!c && c.dataset.drawn === '{n}'; }}")
    frame = next(f for f in page.frames if "pointmap" in f.url)
    assert sorted(frame.evaluate("() => Array.from(S.ids)")) == list(range(n))  # every book, once
    # pixels of the points' colours were written
    assert frame.evaluate("() => { const c = document.querySelector('canvas'), d = c.getContext('2d')"
                          ".getImageData(0, 0, c.width, c.height).data; let k = 0;"
                          " for (let i = 0; i < d.length; i += 4) if (d[i] < 250 || d[i + 1] < 250) k++; return k; }") > n
    # hover over the located book: its title shown as text, nothing made from it
    x, y = frame.evaluate("() => { const i = S.byId[S.marks.query[0]]; return [S.px[i], S.py[i]]; }")
    box = page.locator("iframe[title*=pointmap]").bounding_box()
    page.mouse.move(box["x"] + 1 + x, box["y"] + 1 + y)
    frame.locator("#tip").wait_for(state="visible")
    assert frame.locator("#tip b").inner_text() == NASTY
    assert frame.evaluate("() => document.querySelectorAll('#tip script, #tip b b').length") == 0
    assert not page.dialogs
    # shift-drag a box: the page lists exactly the books inside it
    width, height = frame.evaluate("() => [document.querySelector('canvas').width, document.querySelector('canvas').height]")
    inside = frame.evaluate(
        "([w, h]) => { const a = [w * 0.1, h * 0.1], b = [w * 0.9, h * 0.9]; let k = 0;"
        " for (let i = 0; i < S.n; i++) if (S.px[i] >= a[0] && S.px[i] <= b[0] && S.py[i] >= a[1] && S.py[i] <= b[1]) k++;"
        " return k; }", [width, height])
    assert 0 < inside
    # a book outside the box, away from the marks (the star, the rings, the title), and its colour now
    outside = frame.evaluate(
        "([w, h]) => { const t = S.titleBox, marks = (S.marks.query || []).concat(S.marks.neighbours || [])"
        ".map(id => S.byId[id]);"
        " for (let i = 0; i < S.n; i++) { const x = S.px[i], y = S.py[i];"
        "   if (x > w * 0.1 - 8 && x < w * 0.9 + 8 && y > h * 0.1 - 8 && y < h * 0.9 + 8) continue;"
        "   if (t && x > t.x0 - 8 && x < t.x1 + 8 && y > t.y0 - 8 && y < t.y1 + 8) continue;"
        "   if (marks.some(j => Math.hypot(S.px[j] - x, S.py[j] - y) < 12)) continue;"
        "   return [x, y]; } return null; }", [width, height])
    assert outside is not None
    colour = ("([x, y]) => Array.from(document.querySelector('canvas').getContext('2d')"
              ".getImageData(x | 0, y | 0, 1, 1).data.slice(0, 3))")
    before = frame.evaluate(colour, outside)
    page.keyboard.down("Shift")
    page.mouse.move(box["x"] + 1 + width * 0.1, box["y"] + 1 + height * 0.1)
    page.mouse.down()
    page.mouse.move(box["x"] + 1 + width * 0.5, box["y"] + 1 + height * 0.5, steps=4)
    page.mouse.move(box["x"] + 1 + width * 0.9, box["y"] + 1 + height * 0.9, steps=4)
    page.mouse.up()
    page.keyboard.up("Shift")
    caption = page.get_by_text(re.compile(r"^[\d,]+ books selected$"))
    caption.wait_for()
    assert abs(int(caption.inner_text().split()[0].replace(",", "")) - inside) <= 1  # pixel rounding at the edge
    # the books left out of the box fade
    frame.wait_for_function("() => S.chosen !== null")
    assert sum(frame.evaluate(colour, outside)) > sum(before) + 30
    page.screenshot(path=str(models.parent / "points.png"))
    # "Clear selection" draws a fresh map in full colour
    page.evaluate("() => { document.querySelector('iframe[title*=pointmap]').dataset.old = '1'; }")
    page.get_by_role("button", name="Clear selection").click()
    page.wait_for_function(f"() => {{ const f = document.querySelector('iframe[title*=pointmap]:not([data-old])'),"
                           f" c = f && f.contentDocument && f.contentDocument.querySelector('canvas[data-drawn]');"
                           f" return !!c && c.dataset.drawn === '{n}'; }}")
    fresh = page.locator("iframe[title*=pointmap]:not([data-old])").element_handle().content_frame()
    assert fresh.evaluate("() => S.chosen === null")
    assert fresh.evaluate(colour, outside) == before


def test_locating_a_book_zooms_the_drawn_map_to_it_with_its_rings_over_the_star(server, page):
    base, models = server
    page.goto(url_for(base, "map", book="War and Peace"))
    page.get_by_text("PCA", exact=True).click()
    wait_until(page, "() => { const gd = MAP(); return gd && gd._fullData.some(t => t.meta === 'query')"
                     " && gd._fullData[0].type === 'scatter' && !!document.querySelector('.js-plotly-plot'); }")
    drawn = page.evaluate(
        "() => { const gd = MAP(), xs = [];"
        " for (const t of gd._fullData) if (t.meta === 'books') xs.push(...Array.from(t.x));"
        " const q = gd._fullData.find(t => t.meta === 'query');"
        " return {range: gd._fullLayout.xaxis.range, star: q.x[0], lo: Math.min(...xs), hi: Math.max(...xs),"
        " order: gd._fullData.map(t => t.meta)}; }")
    lo, hi = drawn["range"]
    assert lo < drawn["star"] < hi  # the located book is in view ...
    assert hi - lo < drawn["hi"] - drawn["lo"]  # ... zoomed in: the map's ends are out of it
    assert drawn["order"].index("neighbours") > drawn["order"].index("query")  # rings drawn over the star
    page.screenshot(path=str(models.parent / "map-located.png"))
