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
from test_browser import (SCRIPT_IDLE, box_select, book_ids_on_map, new_context, streamlit_server, sync_api,  # noqa: F401
                          url_for, wait_for_map, wait_until)
from test_browser import browser  # noqa: F401 - a fixture

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
    context = new_context(browser, viewport={"width": 1400, "height": 1300})
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
