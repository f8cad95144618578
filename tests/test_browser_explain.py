"""The map that explains itself and the Compare page, in a real browser.

`streamlit run app.py` against a temporary models folder holding two copies
of the shipped demo ("demo" and "demo-copy": the cluster cache and any new
projection are written there, never into the repository), driven by Debian's
Chromium through Playwright. Screenshots go to the test's temporary folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import WAIT_CEILING_S
from test_browser import CHROMIUM, CHROMIUM_ARGS, MAP_INIT, POINTS, SCRIPT_IDLE, streamlit_server, sync_api  # noqa: F401 - skips with it

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "models" / "demo"

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not DEMO.is_dir():
        pytest.skip("no shipped demo model")
    base = tmp_path_factory.mktemp("explain")
    models = base / "models"
    shutil.copytree(DEMO, models / "demo")
    shutil.copytree(DEMO, models / "demo-copy")
    with streamlit_server(models, base / "streamlit.log") as url:
        yield url, base


@pytest.fixture(scope="module")
def page(server):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1500, "height": 1300})
        context.set_default_timeout(WAIT_CEILING_S * 1000)  # every wait below: an event, with the one ceiling
        context.add_init_script(MAP_INIT)
        try:
            yield context.new_page()
        finally:
            browser.close()


# The drawn book maps on the page (a page left behind may linger a moment after navigating).
BOOK_MAPS = ("Array.from(document.querySelectorAll('.js-plotly-plot'))"
             ".filter(g => g._fullData && g._fullData.some(t => t.meta === 'books'))")


def plots(pg) -> list[dict]:
    """Each drawn book map: its traces' meta and its annotations' names and texts."""
    return pg.evaluate(
        "() => Array.from(document.querySelectorAll('.js-plotly-plot'))"
        ".filter(g => g._fullData && g._fullData.some(t => t.meta === 'books'))"
        ".map(g => ({metas: g._fullData.map(t => t.meta),"
        " books: g._fullData.filter(t => t.meta === 'books').reduce((n, t) => n + t.x.length, 0),"
        " notes: (g._fullLayout.annotations || []).map(a => [a.name, a.text]),"
        " drawn: g.querySelectorAll('.annotation-text').length}))"
    )


def test_compare_page_shows_two_aligned_maps_of_a_model_and_its_copy(server, page):
    url, base = server
    page.goto(f"{url}/compare")
    page.wait_for_function("() => Array.from(document.querySelectorAll('.js-plotly-plot'))"
                           ".filter(g => g._fullData && g._fullData.some(t => t.meta === 'books')).length == 2")
    drawn = plots(page)
    assert [d["books"] for d in drawn] == [478, 478]
    # A copy of the same vectors: every neighbourhood is the same, and the maps align exactly.
    page.wait_for_function("() => /Map disparity\\s*0\\.000/.test(document.body.innerText)")
    text = page.inner_text("body")
    assert "478 titles in both" in text
    metric = page.locator("[data-testid=stMetric]").filter(has_text="Mean overlap")
    assert metric.locator("[data-testid=stMetricValue]").inner_text() == "1.000"
    page.screenshot(path=str(base / "compare.png"), full_page=True)


def test_map_shows_cluster_labels_density_and_links(server, page):
    url, base = server
    page.goto(f"{url}/map")
    page.wait_for_function("() => window.MAP && window.MAP()")
    page.get_by_text("Cluster labels", exact=True).click()
    # one map, its labels in the layout, Plotly has drawn every annotation, and the script's run is over
    page.wait_for_function("() => { const g = window.MAP(); if (!g || " + BOOK_MAPS + ".length != 1) return false;"
                           " const notes = g._fullLayout.annotations || [];"
                           " return notes.some(a => (a.name || '').startsWith('group '))"
                           " && g.querySelectorAll('.annotation-text').length == notes.length && " + SCRIPT_IDLE + "; }")
    (drawn,) = plots(page)
    labels = [text for name, text in drawn["notes"] if (name or "").startswith("group ")]
    # The whole map carries the broad labels: the clusters grouped in six, those that fit without overlap.
    assert 3 <= len(labels) <= 6 and drawn["drawn"] == len(labels)
    # Each label is a group's first two characteristic links, as the library names them for this folder.
    from bookembed.clusters import cluster_books
    from bookembed.labels import BROAD, label_levels
    from bookembed.overlays import label_text
    from bookembed.store import load_model_folder

    folder = load_model_folder(base / "models" / "demo")
    named = {label_text(lab) for lab in label_levels(folder, MAP_COORDS(folder), cluster_books(folder))
             if lab.level == BROAD}
    assert set(labels) <= named
    assert any("russian" in label for label in labels)
    assert "Books of a cluster" in page.inner_text("body")
    page.screenshot(path=str(base / "map-labels.png"))

    page.get_by_text("Density", exact=True).click()
    page.get_by_text("both", exact=True).click()
    page.wait_for_function("() => window.MAP() && window.MAP()._fullData.some(t => t.meta === 'links')"
                           " && window.MAP()._fullData[0].meta === 'density' && " + BOOK_MAPS + ".length == 1 && "
                           + SCRIPT_IDLE)
    (drawn,) = plots(page)
    assert drawn["metas"][0] == "density" and "links" in drawn["metas"] and drawn["books"] == 478
    page.screenshot(path=str(base / "map-density-links.png"))


def MAP_COORDS(folder):
    from bookembed import projection as proj

    return proj.load_projection(folder, proj.make_settings("umap", dims=2))


# Every label box drawn inside the plot: cluster and group labels, the located title (annotations) and link names.
LABEL_BOXES = (
    "() => { const g = window.MAP(), area = g.querySelector('.nsewdrag').getBoundingClientRect(), out = [];"
    " const inside = r => r.width > 0 && r.height > 0 && (r.left + r.right) / 2 >= area.left"
    "   && (r.left + r.right) / 2 <= area.right && (r.top + r.bottom) / 2 >= area.top && (r.top + r.bottom) / 2 <= area.bottom;"
    " g.querySelectorAll('.annotation').forEach(a => { const r = (a.querySelector('.bg') || a).getBoundingClientRect();"
    "   if (inside(r)) out.push({kind: 'label', text: a.textContent, box: [r.left, r.top, r.right, r.bottom]}); });"
    " g.querySelectorAll('.textpoint text').forEach(t => { const r = t.getBoundingClientRect();"
    "   if (t.textContent && inside(r)) out.push({kind: 'link', text: t.textContent, box: [r.left, r.top, r.right, r.bottom]}); });"
    " return out; }"
)


def overlapping(boxes: list[dict]) -> list[tuple[str, str]]:
    """Pairs of boxes that share more than a pixel's sliver of area."""
    out = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            (al, at, ar, ab), (bl, bt, br, bb) = a["box"], b["box"]
            if min(ar, br) - max(al, bl) > 1 and min(ab, bb) - max(at, bt) > 1:
                out.append((a["text"], b["text"]))
    return out


def x_span(pg) -> float:
    return pg.evaluate("() => { const r = window.MAP()._fullLayout.xaxis.range; return r[1] - r[0]; }")


def test_labels_and_link_names_never_overlap_at_three_zoom_levels(server, page):
    url, base = server
    ready = ("() => { const g = window.MAP(); return !!g && " + BOOK_MAPS + ".length == 1"
             " && g._fullData.some(t => t.meta === 'links')"
             " && (g._fullLayout.annotations || []).some(a => (a.name || '').startsWith('%s'))"
             " && g.querySelectorAll('.annotation').length == g._fullLayout.annotations.length && " + SCRIPT_IDLE + "; }")
    page.goto(f"{url}/map")
    page.wait_for_function("() => window.MAP && window.MAP()")
    page.get_by_text("Cluster labels", exact=True).click()
    page.get_by_text("both", exact=True).click()
    page.wait_for_function(ready % "group ")
    # 1. the whole map: the broad labels and the names of the most used links
    whole = page.evaluate(LABEL_BOXES)
    assert sum(b["kind"] == "label" for b in whole) >= 3 and sum(b["kind"] == "link" for b in whole) >= 3
    assert overlapping(whole) == []
    page.screenshot(path=str(base / "labels-whole.png"))
    # 2. zoomed in with the toolbar's "Zoom in", as a reader does: the labels move apart, none comes to cover another
    before = x_span(page)
    area = page.evaluate("() => { const r = window.MAP().querySelector('.nsewdrag').getBoundingClientRect();"
                         " return [r.left + r.width / 2, r.top + r.height / 2]; }")
    page.mouse.move(*area)  # the toolbar shows while the mouse is over the chart
    page.locator(".js-plotly-plot [data-title='Zoom in']").first.click()
    page.wait_for_function(f"() => {{ const r = window.MAP()._fullLayout.xaxis.range; return r[1] - r[0] < {before} * 0.8; }}")
    zoomed = page.evaluate(LABEL_BOXES)
    assert x_span(page) < before * 0.8 and len(zoomed) >= 1
    assert overlapping(zoomed) == []
    page.screenshot(path=str(base / "labels-zoomed.png"))
    # 3. a located book: the map opens zoomed in on it, with the finer labels and its title, none covering another
    page.goto(f"{url}/map?book=War+and+Peace")
    page.wait_for_function("() => window.MAP && window.MAP()")
    page.get_by_text("Cluster labels", exact=True).click()
    page.get_by_text("both", exact=True).click()
    page.wait_for_function(ready % "cluster ")
    located = page.evaluate(LABEL_BOXES)
    assert any(b["text"] == "War and Peace" for b in located)
    assert sum(b["kind"] == "label" for b in located) >= 3
    assert x_span(page) < before * 0.7
    assert overlapping(located) == []
    page.screenshot(path=str(base / "labels-located.png"))


def test_a_selection_on_one_compare_map_is_shown_on_both(server, page):
    url, base = server
    page.goto(f"{url}/compare")
    maps = ("() => Array.from(document.querySelectorAll('.js-plotly-plot'))"
            ".filter(g => g._fullData && g._fullData.some(t => t.meta === 'books'))")
    # both maps drawn with their drag layers, and the script's run over: a drag now is not lost to a redraw
    page.wait_for_function(f"() => ({maps})().length == 2 && ({maps})().every(g => g.querySelector('.nsewdrag')"
                           f" && g.querySelector('.nsewdrag').getBoundingClientRect().width > 0) && {SCRIPT_IDLE}")
    box = page.evaluate(f"() => {{ const r = ({maps})()[0].querySelector('.nsewdrag').getBoundingClientRect();"
                        " return [r.x, r.y, r.width, r.height]; }")
    x, y, w, h = box
    page.mouse.move(x + w * 0.2, y + h * 0.2)
    page.mouse.down()
    page.mouse.move(x + w * 0.6, y + h * 0.5, steps=8)
    page.mouse.up()
    # Both maps redraw with the same books selected (a copy: the same titles on both sides).
    page.wait_for_function(
        f"() => {{ const g = ({maps})(); if (g.length != 2) return false;"
        " const chosen = m => m._fullData.filter(t => t.meta === 'books')"
        ".reduce((n, t) => n + (t.selectedpoints ? t.selectedpoints.length : 0), 0);"
        " return chosen(g[0]) > 0 && chosen(g[0]) == chosen(g[1]); }")
    assert "Selected books" in page.inner_text("body")
    page.screenshot(path=str(base / "compare-selection.png"))


def test_the_point_renderer_names_the_broad_groups_then_the_clusters_as_the_reader_zooms(server, page):
    url, base = server
    page.goto(f"{url}/map")
    page.wait_for_function("() => window.MAP && window.MAP()")
    page.get_by_text("Cluster labels", exact=True).click()
    page.get_by_text("Point renderer", exact=True).click()
    page.wait_for_function(f"() => {{ const d = ({POINTS})(); return !!d && !!d.querySelector('canvas[data-drawn]'); }}")
    frame = next(f for f in page.frames if "pointmap" in f.url)
    frame.wait_for_function("() => typeof S !== 'undefined' && S && S.placedLabels && S.placedLabels.length > 0")
    from bookembed.clusters import cluster_books
    from bookembed.labels import BROAD, FINE, as_payload, label_levels
    from bookembed.store import load_model_folder

    folder = load_model_folder(base / "models" / "demo")
    payload = as_payload(label_levels(folder, MAP_COORDS(folder), cluster_books(folder)))
    texts = {level: {p["text"] for p in payload if p["level"] == level} for level in (BROAD, FINE)}
    box = page.locator("iframe[title*=pointmap]").bounding_box()
    centre = frame.evaluate("() => { const c = document.querySelector('canvas'); return [c.width / 2, c.height / 2]; }")
    page.mouse.move(box["x"] + centre[0], box["y"] + centre[1])
    for level in (BROAD, FINE):
        if level == FINE:
            span = frame.evaluate("() => S.view.x1 - S.view.x0")
            for _ in range(2):
                page.mouse.wheel(0, -300)
            frame.wait_for_function("s => S.view.x1 - S.view.x0 < 0.45 * s && S.labelLevel === 1", arg=span)
        placed = frame.evaluate("() => S.placedLabels")
        assert placed and {p["text"] for p in placed} <= texts[level]
        assert not [(p["text"], q["text"]) for i, p in enumerate(placed) for q in placed[i + 1:]
                    if p["x0"] < q["x1"] and q["x0"] < p["x1"] and p["y0"] < q["y1"] and q["y0"] < p["y1"]]
        page.screenshot(path=str(base / f"points-demo-level-{level}.png"))
