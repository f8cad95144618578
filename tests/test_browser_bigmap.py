"""A big map in a real browser, drawn a view at a time from its tiles (bookembed/ui/tiledmap.py).

The map's size threshold and point budget are lowered by environment variables, so a fake model of a few
thousand books takes the tiled path: the first picture is a sample over the density of every book; zooming in
on a book the sample left out draws it and hover names it; a box selects every book inside it, drawn or not.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from conftest import make_fake_model
from test_browser import browser, new_context, page, streamlit_server, url_for  # noqa: F401

pytestmark = [pytest.mark.system, pytest.mark.browser]

N, BUDGET, ABOVE = 3000, 300, 1000
FRAME = "iframe[title*=pointmap]"
SCRIPT = '''
import numpy as np
import streamlit as st

from bookembed.store import load_model_folder
from bookembed.ui.map import point_map

model = load_model_folder("fake")
coords = np.load("coords.npy")
state = st.session_state.setdefault("state", {"box": None, "selected": None})
located = int(st.query_params["located"]) if "located" in st.query_params else None
near = [int(i) for i in st.query_params.get("near", "").split(",") if i]
box = point_map(model, coords, "planted", color_by="genre", top_n=3, height=560, selected=state["selected"],
                key="bigmap", query_ids=[] if located is None else [located], neighbour_ids=near, located=located)
if box is not None and tuple(box) != state["box"]:
    state["box"] = tuple(box)
    state["selected"] = box
chosen = state["selected"] or []
st.write(f"selected: {len(chosen)} books")
st.text("ids: " + " ".join(str(i) for i in chosen[:50]))
'''


def planted_coords() -> np.ndarray:
    rng = np.random.default_rng(5)
    coords = rng.normal(size=(N, 2)) * [2.0, 1.0]
    coords[: N // 3] = rng.normal((4.0, 3.0), 0.4, size=(N // 3, 2))  # a dense cluster
    return coords


@pytest.fixture(scope="module")
def bigmap_app(tmp_path_factory):
    base = tmp_path_factory.mktemp("bigmap")
    make_fake_model(base / "fake", n_books=N)
    np.save(base / "coords.npy", planted_coords())
    (base / "app.py").write_text(SCRIPT)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BOOKEMBED_TILED_ABOVE", str(ABOVE))
        mp.setenv("BOOKEMBED_POINT_BUDGET", str(BUDGET))
        with streamlit_server(None, base / "streamlit.log", cwd=base) as url:
            yield url, base


def drawn(page, key: str | None = None):
    """The renderer's frame once it has drawn the books of a view (another view than ``key``, when given)."""
    page.wait_for_function(
        "k => { const f = document.querySelector('" + FRAME + "'), c = f && f.contentDocument &&"
        " f.contentDocument.querySelector('canvas[data-drawn]');"
        " return !!c && c.dataset.tiled === '1' && (k === null || c.dataset.pointsKey !== k); }", arg=key)
    return page.locator(FRAME).element_handle().content_frame()


def screen(frame, x: float, y: float) -> tuple[float, float]:
    """Canvas pixel of data point (x, y) in the renderer's current view."""
    return tuple(frame.evaluate(
        "([x, y]) => { const c = document.querySelector('canvas'), v = S.view;"
        " return [(x - v.x0) / (v.x1 - v.x0) * c.width, (v.y1 - y) / (v.y1 - v.y0) * c.height]; }", [x, y]))


def origin(page) -> tuple[float, float]:
    box = page.locator(FRAME).bounding_box()
    return box["x"] + 1, box["y"] + 1


def shift_box(page, ox, oy, x, y, half):
    page.keyboard.down("Shift")
    page.mouse.move(ox + x - half, oy + y - half)
    page.mouse.down()
    page.mouse.move(ox + x, oy + y, steps=3)
    page.mouse.move(ox + x + half, oy + y + half, steps=3)
    page.mouse.up()
    page.keyboard.up("Shift")


def selected_count(page) -> int:
    text = page.get_by_text(re.compile(r"^selected: \d+ books$")).inner_text()
    return int(text.split()[1])


def test_the_first_picture_is_a_sample_over_every_books_density_and_zooming_in_reaches_a_book_left_out(bigmap_app,
                                                                                                        page):
    from bookembed.tiles import in_box

    base, folder = bigmap_app
    coords = planted_coords()
    page.goto(url_for(base))
    frame = drawn(page)
    first = frame.evaluate("() => ({n: S.n, complete: S.tiled.complete, ids: Array.from(S.ids), key: S.pointsKey,"
                           " density: !!S.density})")
    assert first["n"] == BUDGET and not first["complete"] and first["density"]  # a sample, over the density
    page.screenshot(path=str(folder / "bigmap-first.png"))
    # the density raster is drawn where no point is: pixels neither white nor a point's colour
    tinted = frame.evaluate("() => { const c = document.querySelector('canvas'), d = c.getContext('2d')"
                            ".getImageData(0, 0, c.width, c.height).data; let k = 0;"
                            " for (let i = 0; i < d.length; i += 4) if (d[i] < 255 && d[i] > 120 && d[i + 2] > d[i])"
                            " k++; return k; }")
    assert tinted > 1000
    # a book of the dense cluster that the first picture left out
    left_out = sorted(set(range(N // 3)) - set(first["ids"]))
    target = left_out[len(left_out) // 2]
    ox, oy = origin(page)
    key = first["key"]
    for _ in range(4):  # zoom in around it, a view at a time
        x, y = screen(frame, *coords[target])
        page.mouse.move(ox + x, oy + y)
        for _ in range(3):
            page.mouse.wheel(0, -300)
        frame = drawn(page, key)
        key = frame.evaluate("() => S.pointsKey")
        if frame.evaluate("() => S.tiled.complete"):
            break
    state = frame.evaluate("t => ({complete: S.tiled.complete, drawn: S.byId[t] >= 0, n: S.n,"
                           " view: [S.view.x0, S.view.y0, S.view.x1, S.view.y1]})", target)
    assert state["complete"] and state["drawn"]
    assert state["n"] == len(in_box(coords, state["view"]))  # every book of the view, no other
    # hover names it
    x, y = frame.evaluate("t => [S.px[S.byId[t]], S.py[S.byId[t]]]", target)
    page.mouse.move(ox + x, oy + y)
    tip = frame.locator("#tip")
    tip.wait_for(state="visible")
    assert tip.get_attribute("data-book") == str(target)
    assert tip.inner_text().startswith(f"Book {target}")
    page.screenshot(path=str(folder / "bigmap-zoomed-hover.png"))
    # a box at this zoom selects the books inside it
    shift_box(page, ox, oy, x, y, 25)
    frame.wait_for_function("() => S.box !== null")
    box = frame.evaluate("() => S.box")
    expected = in_box(coords, box)
    assert target in expected.tolist()
    page.get_by_text(f"selected: {len(expected)} books", exact=True).wait_for()
    assert frame.evaluate("() => S.chosen !== null && S.chosen.reduce((a, b) => a + b, 0)") == len(expected)
    page.screenshot(path=str(folder / "bigmap-zoomed-box.png"))


def test_a_box_on_the_first_picture_selects_every_book_inside_it_not_only_the_drawn_ones(bigmap_app, page):
    from bookembed.tiles import in_box

    base, folder = bigmap_app
    coords = planted_coords()
    page.goto(url_for(base))
    frame = drawn(page)
    ox, oy = origin(page)
    x, y = screen(frame, 4.0, 3.0)  # the dense cluster's centre
    shift_box(page, ox, oy, x, y, 40)
    frame.wait_for_function("() => S.box !== null")
    box = frame.evaluate("() => S.box")
    expected = in_box(coords, box)
    drawn_in_box = frame.evaluate("b => { let k = 0; for (let i = 0; i < S.n; i++) if (S.x[i] >= b[0] && S.x[i] <= b[2]"
                                  " && S.y[i] >= b[1] && S.y[i] <= b[3]) k++; return k; }", box)
    assert len(expected) > 2 * drawn_in_box > 0
    page.get_by_text(f"selected: {len(expected)} books", exact=True).wait_for()
    shown = page.get_by_text(re.compile(r"^ids: ")).inner_text().split()[1:]
    assert [int(i) for i in shown] == expected[:50].tolist()
    page.screenshot(path=str(folder / "bigmap-box-home.png"))


def test_a_located_book_and_its_neighbours_are_drawn_whatever_the_zoom(bigmap_app, page):
    base, folder = bigmap_app
    page.goto(url_for(base))
    first = drawn(page).evaluate("() => Array.from(S.ids)")
    left_out = sorted(set(range(10, N)) - set(first))  # (the first ten titles are odd on purpose)
    located, near = left_out[0], left_out[1:4]
    page.goto(url_for(base, located=str(located), near=",".join(map(str, near))))
    frame = drawn(page)
    frame.wait_for_function("() => S.titleBox !== null")
    state = frame.evaluate("ids => ({n: S.n, drawn: ids.map(i => S.byId[i] >= 0), title: labelOf(ids[0])[0]})",
                           [located, *near])
    assert all(state["drawn"]) and state["n"] == BUDGET + 4
    assert state["title"] == f"Book {located}"
    page.screenshot(path=str(folder / "bigmap-located.png"))
