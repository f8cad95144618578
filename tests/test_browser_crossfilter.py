"""The Map page's linked charts, filters and isolate, and the Locate box across 2-D and 3-D, in a real browser.

`streamlit run app.py` against a temporary models folder holding a copy of the shipped demo (its projections
are cached, so the map draws at once), driven by Debian's Chromium through Playwright. Screenshots go to the
test's temporary folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import WAIT_CEILING_S  # noqa: F401
from test_browser import (POINTS, SCRIPT_IDLE, box_select, book_ids_on_map, new_context,  # noqa: F401
                          streamlit_server, sync_api, url_for, wait_for_map, wait_until)
from test_browser import browser  # noqa: F401 - a fixture

pytestmark = [pytest.mark.system, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "models" / "demo"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not (DEMO / "manifest.json").is_file():
        pytest.skip("no shipped demo model")
    base = tmp_path_factory.mktemp("crossfilter")
    models = base / "models"
    shutil.copytree(DEMO, models / "demo")
    with streamlit_server(models, base / "streamlit.log") as url:
        yield url, base


@pytest.fixture
def page(browser):  # noqa: F811
    context = new_context(browser, viewport={"width": 1400, "height": 1800})  # the map and its charts
    try:
        yield context.new_page()
    finally:
        context.close()


def locate_text(pg) -> str:
    return pg.get_by_label("Locate a book", exact=True).input_value()


def test_the_locate_box_keeps_its_text_across_2d_and_3d(server, page):
    base, tmp = server
    page.goto(url_for(base, "map"))
    wait_for_map(page)
    box = page.get_by_label("Locate a book", exact=True)
    box.fill("war and peace")
    box.press("Enter")
    wait_until(page, "() => MAP() && MAP()._fullData.some(t => t.meta === 'query')")
    for p in (tmp / "models" / "demo" / "projections").glob("umap-3d-*"):
        p.unlink()  # 3-D is computed afresh: the page stops under a progress bar meanwhile
    for dims, trace in (("3-D", "scatter3d"), ("2-D", "scatter")):
        page.get_by_text(dims, exact=True).click()
        wait_until(page, "t => { const g = MAP(); return g && g._fullData.some(d => d.meta === 'books' && d.type === t)"
                         " && g._fullData.some(d => d.meta === 'query') && " + SCRIPT_IDLE + "; }", trace)
        page.screenshot(path=str(tmp / f"locate-{dims}.png"))
        assert locate_text(page) == "war and peace", dims
        assert page.get_by_role("combobox", name="Matching titles").input_value().startswith("War and Peace")


# The linked chart of this facet ("Genre": its layout's meta is "facet-genre"), and what it draws.
FACET = ("name => Array.from(document.querySelectorAll('.js-plotly-plot'))"
         ".find(g => g._fullLayout && g._fullLayout.meta === 'facet-' + name.toLowerCase())")


def facet(pg, name: str) -> dict:
    """A linked chart's bars: labels, every book's counts, and the coloured counts (None when not drawn)."""
    return pg.evaluate(
        f"name => {{ const g = ({FACET})(name); if (!g) return null; const d = g._fullData;"
        " const counts = t => Array.from(t.orientation === 'h' ? t.x : t.y).map(Number);"
        " const labels = Array.from(d[0].orientation === 'h' ? d[0].y : d[0].x);"
        " return {labels, totals: counts(d[0]), shown: d.length > 1 ? counts(d[1]) : null}; }", name)


def drawn_count(pg) -> int:
    return pg.evaluate("() => MAP()._fullData.filter(t => t.meta === 'books').reduce((n, t) => n + t.x.length, 0)")


def wait_idle(pg) -> None:
    wait_until(pg, f"() => {SCRIPT_IDLE}")


def test_the_linked_charts_follow_a_box_and_filter_and_isolate_the_map(server, page):
    from bookembed import crossfilter as cf
    from bookembed.store import load_model_folder

    base, tmp = server
    books = load_model_folder(tmp / "models" / "demo").books
    n = len(books)
    page.goto(url_for(base, "map"))
    page.get_by_text("PCA", exact=True).click()
    wait_for_map(page)
    wait_until(page, "() => String(MAP().layout.uirevision).startsWith('pca-')")  # not the first map, redrawn
    wait_until(page, f"() => !!({FACET})('Genre') && !!({FACET})('Country') && !!({FACET})('Year') && {SCRIPT_IDLE}")
    genre = facet(page, "Genre")
    assert genre["shown"] is None and sum(genre["totals"]) == n  # every book, in one colour
    expected = cf.bars(cf.facet_columns(books), "genre")  # the ten largest, then other (and unknown if any)
    assert genre["labels"] == [cf.short(c.label) for c in expected] and len(expected) >= cf.TOP_BARS + 1
    page.screenshot(path=str(tmp / "facets.png"), full_page=True)

    # a box on the map: each chart shows the selection's counts over every book's
    selected = box_select(page)
    wait_until(page, f"() => {{ const g = ({FACET})('Genre'); return g && g._fullData.length == 2; }}")
    for name in ("Genre", "Country", "Year"):
        chart = facet(page, name)
        assert all(s <= t for s, t in zip(chart["shown"], chart["totals"])), name
    assert sum(facet(page, "Genre")["shown"]) == selected  # every book has a genre bar (other, unknown)
    page.screenshot(path=str(tmp / "facets-selection.png"), full_page=True)
    page.get_by_role("button", name="Clear selection").click()
    wait_until(page, f"() => {{ const g = ({FACET})('Genre'); return g && g._fullData.length == 1 && {SCRIPT_IDLE}; }}")

    # a click on a genre bar: the map draws that genre's books, and a chip names the filter
    wanted = "science fiction"
    count = int((books["primary_genre"].fillna("").str.strip() == wanted).sum())
    click_bar(page, "Genre", wanted)
    chip = page.get_by_role("button", name=f"Genre: {wanted}")
    chip.wait_for()
    wait_until(page, "k => MAP() && MAP()._fullData.filter(t => t.meta === 'books')"
                     ".reduce((n, t) => n + t.x.length, 0) === k", count)
    wait_idle(page)
    assert drawn_count(page) == count
    assert page.get_by_text(f"Showing {count:,} of {n:,} books").is_visible()
    # the other charts count the books shown; they may be drawn a moment after the map, so wait for them
    wait_until(page, f"k => {{ const g = ({FACET})('Country'); return g && g._fullData.length == 2 && {SCRIPT_IDLE}; }}")
    assert sum(facet(page, "Country")["shown"]) == count
    page.screenshot(path=str(tmp / "facets-filtered.png"), full_page=True)
    chip.click()
    wait_until(page, "k => MAP() && MAP()._fullData.filter(t => t.meta === 'books')"
                     ".reduce((n, t) => n + t.x.length, 0) === k", n)
    wait_idle(page)

    # isolate a selection (the map's top-left quarter): only its books are drawn, fitted, until "Show all books"
    span = page.evaluate("() => MAP()._fullLayout.xaxis.range[1] - MAP()._fullLayout.xaxis.range[0]")
    selected = box_select(page, (0.05, 0.55, 0.05, 0.55))
    assert selected < n
    ids = page.evaluate("() => { const gd = MAP(), out = [];"
                        " for (const t of gd._fullData) if (t.meta === 'books' && t.selectedpoints)"
                        "   for (const i of t.selectedpoints) out.push(Number(t.customdata[i])); return out; }")
    page.get_by_role("button", name="Isolate selection").click()
    page.get_by_role("button", name="Show all books").wait_for()
    wait_until(page, "k => MAP() && MAP()._fullData.filter(t => t.meta === 'books')"
                     ".reduce((n, t) => n + t.x.length, 0) === k", selected)
    wait_idle(page)
    if ids:  # what Plotly marked as selected is exactly what is drawn now
        assert sorted(book_ids_on_map(page)) == sorted(ids)
    assert sum(facet(page, "Genre")["totals"]) == selected
    assert page.get_by_text(f"Showing {selected:,} of {n:,} books (an isolated selection of {selected:,})").is_visible()
    assert page.evaluate("() => MAP()._fullLayout.xaxis.range[1] - MAP()._fullLayout.xaxis.range[0]") < span
    page.screenshot(path=str(tmp / "isolated.png"), full_page=True)
    page.get_by_role("button", name="Show all books").click()
    wait_until(page, "k => MAP() && MAP()._fullData.filter(t => t.meta === 'books')"
                     ".reduce((n, t) => n + t.x.length, 0) === k", n)


def click_bar(pg, name: str, label: str) -> None:
    """Click the bar of ``label`` on the linked chart ``name``."""
    bar = pg.evaluate(
        f"([name, label]) => {{ const g = ({FACET})(name), d = g._fullData[0];"
        " const i = Array.from(d.orientation === 'h' ? d.y : d.x).indexOf(label);"
        " const r = g.querySelectorAll('.trace.bars')[0].querySelectorAll('.point')[i].getBoundingClientRect();"
        " return [r.x + r.width / 2, r.y + r.height / 2]; }", [name, label])
    pg.mouse.click(*bar)


def test_the_point_renderer_draws_a_filtered_view_and_hovers_its_books(server, page):
    from bookembed.store import load_model_folder

    base, tmp = server
    books = load_model_folder(tmp / "models" / "demo").books
    n = len(books)
    drawn = ("k => { const d = (" + POINTS + ")(); const c = d && d.querySelector('canvas[data-drawn]');"
             " return !!c && c.dataset.drawn === String(k); }")
    page.goto(url_for(base, "map"))
    page.get_by_text("PCA", exact=True).click()
    wait_for_map(page)
    page.get_by_text("Point renderer", exact=True).click()
    wait_until(page, drawn, n)
    wait_until(page, f"() => !!({FACET})('Genre') && {SCRIPT_IDLE}")

    # a bar of the genre chart: the renderer draws that genre's books only, its legend lists that genre alone
    wanted = "fantasy"
    ids = sorted(int(i) for i in (books["primary_genre"].fillna("").str.strip() == wanted).to_numpy().nonzero()[0])
    click_bar(page, "Genre", wanted)
    page.get_by_role("button", name=f"Genre: {wanted}").wait_for()
    wait_until(page, drawn, len(ids))
    wait_idle(page)
    frame = next(f for f in page.frames if "pointmap" in f.url and f.evaluate("() => typeof S === 'object' && !!S"))
    assert sorted(frame.evaluate("() => Array.from(S.ids)")) == ids
    assert frame.locator("#legend").inner_text().split("\n")[1:] == [f"{wanted} ({len(ids)})"]
    # hovering a drawn book whose id lies past the number drawn shows its own title (labels are every book's)
    last = max(ids)
    assert last >= len(ids)
    x, y = frame.evaluate("b => { const i = S.byId[b]; return [S.px[i], S.py[i]]; }", last)
    box = page.locator("iframe[title*=pointmap]").bounding_box()
    page.mouse.move(box["x"] + 1 + x, box["y"] + 1 + y)
    frame.locator("#tip").wait_for(state="visible")
    assert frame.locator("#tip").get_attribute("data-book") is not None
    hovered = int(frame.locator("#tip").get_attribute("data-book"))
    assert hovered in ids and frame.locator("#tip b").inner_text() == books["title"].iloc[hovered]
    page.screenshot(path=str(tmp / "points-filtered.png"))
    page.get_by_role("button", name=f"Genre: {wanted}").click()
    wait_until(page, drawn, n)
