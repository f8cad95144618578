"""The point renderer in a real browser, on a page of its own: a small Streamlit script (written by the
fixture) that calls ``bookembed.ui.map.point_map`` on a fake model with planted coordinates (four clusters,
one lone book, one far outlier) and synthetic cluster labels in three levels, served by `streamlit run` on
127.0.0.1 and driven by Debian's Chromium through Playwright.

Query parameters choose what the script passes: ``labels=on`` the cluster labels, ``located=<id>`` a
located book (its title box). Buttons rerun it, remount the map (a new key) and clear the selection.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import make_fake_model
from test_browser import SCRIPT_IDLE, browser, new_context, page, streamlit_server, url_for, wait_until  # noqa: F401

N = 400
LONE, LOCATED, OUTLIER = 398, 397, 399
CENTRES = [(-2.0, -2.0), (2.0, -2.0), (-2.0, 2.0), (2.0, 2.0)]
FRAME = "iframe[title*=pointmap]"

SCRIPT = '''
import json
from pathlib import Path

import numpy as np
import streamlit as st

from bookembed.store import load_model_folder
from bookembed.ui.map import point_map

HERE = Path(__file__).parent
model = load_model_folder(HERE / "fake")
coords = np.load(HERE / "coords.npy")
labels = json.loads((HERE / "labels.json").read_text()) if st.query_params.get("labels") == "on" else None
located = int(st.query_params["located"]) if "located" in st.query_params else None
state = st.session_state.setdefault("state", {"box": None, "selected": None, "generation": 0})


def clear():
    state["selected"] = []


def remount():
    state["generation"] += 1


box = point_map(model, coords, "planted", color_by="genre", top_n=3, labels=labels, height=560,
                query_ids=[] if located is None else [located], located=located, selected=state["selected"],
                key=f"points-{state['generation']}")
if box is not None and tuple(box) != state["box"]:
    state["box"] = tuple(box)
    state["selected"] = box
st.button("Rerun")
st.button("Remount", on_click=remount)
st.button("Clear selection", on_click=clear)
st.write(f"selected: {len(state['selected'] or [])} books")
'''


def planted_coords() -> np.ndarray:
    rng = np.random.default_rng(7)
    coords = np.empty((N, 2))
    for i in range(LOCATED):
        coords[i] = rng.normal(CENTRES[i % 4], 0.35)
    coords[LOCATED] = (-0.6, 1.1)
    coords[LONE] = (0.0, 0.0)
    coords[OUTLIER] = (12.0, 9.0)  # far out: a robust range would leave it off the picture
    return coords


def planted_labels() -> list[dict]:
    """56 labels in three levels, many overlapping at the zoom their level is drawn at."""
    rng = np.random.default_rng(11)
    labels = []
    for k, (cx, cy) in enumerate(CENTRES):
        labels.append({"level": 0, "x": cx, "y": cy, "text": f"Cluster {k}\nwide theme {k}", "weight": 100.0 + k})
        for j in range(6):
            labels.append({"level": 1, "x": cx + rng.uniform(-0.3, 0.3), "y": cy + rng.uniform(-0.3, 0.3),
                           "text": f"Part {k}.{j}\n<b>tag</b> {j}", "weight": float(rng.uniform(1, 50))})
    for j in range(8):  # a heap of level-0 labels near the middle: most must give way
        labels.append({"level": 0, "x": rng.uniform(-0.4, 0.4), "y": rng.uniform(-0.4, 0.4),
                       "text": f"Middle {j}", "weight": float(j)})
    for j in range(10):  # level 2: pairs of neighbours around the lone book
        x, y = rng.uniform(-1.0, 1.0, size=2)
        for m in range(2):
            labels.append({"level": 2, "x": x + 0.05 * m, "y": y + 0.04 * m, "text": f"Detail {j}{'ab'[m]}",
                           "weight": float(rng.uniform(1, 10))})
    return labels


@pytest.fixture(scope="module")
def points_app(tmp_path_factory):
    base = tmp_path_factory.mktemp("points")
    make_fake_model(base / "fake", n_books=N)
    np.save(base / "coords.npy", planted_coords())
    (base / "labels.json").write_text(json.dumps(planted_labels()))
    (base / "app.py").write_text(SCRIPT)
    with streamlit_server(None, base / "streamlit.log", cwd=base) as url:
        yield url, base


def open_map(page, base: str, **query):
    """Open the script's page; returns the renderer's frame once it has drawn every book."""
    page.goto(url_for(base, **query))
    return drawn_frame(page)


def drawn_frame(page):
    """The renderer's frame, once it has drawn every book (not a frame marked old by ``remount``)."""
    current = f"{FRAME}:not([data-old])"
    page.wait_for_function(
        f"() => {{ const f = document.querySelector('{current}'), c = f && f.contentDocument &&"
        f" f.contentDocument.querySelector('canvas[data-drawn]'); return !!c && c.dataset.drawn === '{N}'; }}")
    frame = page.locator(current).element_handle().content_frame()
    frame.wait_for_function(f"() => typeof S === 'object' && S !== null && S.n === {N}")
    return frame


def canvas_origin(page) -> tuple[float, float]:
    """Page coordinates of the canvas's top-left pixel (inside its 1-pixel border)."""
    box = page.locator(FRAME).bounding_box()
    return box["x"] + 1, box["y"] + 1


def screen_of(frame, book: int) -> tuple[float, float]:
    return tuple(frame.evaluate("b => [S.px[S.byId[b]], S.py[S.byId[b]]]", book))


def pixel(frame, x: float, y: float) -> list[int]:
    return frame.evaluate("([x, y]) => Array.from(document.querySelector('canvas').getContext('2d')"
                          ".getImageData(x | 0, y | 0, 1, 1).data.slice(0, 3))", [x, y])


def picture(frame) -> str:
    """A fingerprint of the whole drawn picture."""
    return frame.evaluate("() => { const c = document.querySelector('canvas'), d = c.getContext('2d')"
                          ".getImageData(0, 0, c.width, c.height).data; let h = 0;"
                          " for (let i = 0; i < d.length; i++) h = (h * 31 + d[i]) | 0; return String(h); }")


def intersects(a: dict, b: dict) -> bool:
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and \
        a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


# ---------------------------------------------------------------- tests


def test_point_renderer_draws_discs_keeps_its_legend_beside_the_picture_and_every_book_in_view(points_app, page):
    base, folder = points_app
    frame = open_map(page, base)
    # a disc, not a square: the lone book's centre is coloured, the corners of its bounding square are not
    r = frame.evaluate("() => S.disc.r")
    assert r >= 2
    x, y = (int(v) for v in screen_of(frame, LONE))
    assert pixel(frame, x, y) != [255, 255, 255]
    for dx in (-r, r):  # the disc reaches its radius along the axes ...
        assert pixel(frame, x + dx, y) != [255, 255, 255] and pixel(frame, x, y + dx) != [255, 255, 255]
    for dx, dy in ((-r, -r), (r, -r), (-r, r), (r, r)):  # ... and not the square's corners
        assert pixel(frame, x + dx, y + dy) == [255, 255, 255], (dx, dy)
    # the legend is beside the canvas, inside the frame, over no point
    canvas = frame.locator("canvas").bounding_box()
    legend = frame.locator("#legend").bounding_box()
    help_ = frame.locator("#help").bounding_box()
    iframe = page.locator(FRAME).bounding_box()
    assert legend["width"] > 50 and legend["height"] > 20
    assert not intersects(legend, canvas) and not intersects(help_, canvas)
    for part in (canvas, legend, help_):
        assert part["x"] + part["width"] <= iframe["x"] + iframe["width"] + 0.5
        assert part["y"] + part["height"] <= iframe["y"] + iframe["height"] + 0.5  # the frame's height holds it
    assert frame.locator("#legend").inner_text().startswith("genre")
    # every book is inside the picture, the far outlier too, with a margin of at least a disc
    w, h = frame.evaluate("() => [document.querySelector('canvas').width, document.querySelector('canvas').height]")
    xs, ys = frame.evaluate("() => [Array.from(S.px), Array.from(S.py)]")
    assert r <= min(xs) and max(xs) < w - r and r <= min(ys) and max(ys) < h - r
    ox, oy = screen_of(frame, OUTLIER)
    assert ox > 0.8 * w and oy < 0.2 * h  # far to the upper right, and still drawn
    assert pixel(frame, ox, oy) != [255, 255, 255]
    page.screenshot(path=str(folder / "points-discs-legend.png"))


def test_point_renderer_zooms_with_the_wheel_around_the_mouse(points_app, page):
    base, folder = points_app
    frame = open_map(page, base)
    view = frame.evaluate("() => Object.assign({}, S.view)")
    before = picture(frame)
    lx, ly = screen_of(frame, LONE)
    a, b = screen_of(frame, 0), screen_of(frame, 1)  # two books of different clusters
    ox, oy = canvas_origin(page)
    page.mouse.move(ox + lx, oy + ly)
    page.mouse.wheel(0, -300)
    frame.wait_for_function("v => S.view.x1 - S.view.x0 < 0.9 * (v.x1 - v.x0)", arg=view)
    frame.wait_for_function("p => { const c = document.querySelector('canvas'), d = c.getContext('2d')"
                            ".getImageData(0, 0, c.width, c.height).data; let h = 0;"
                            " for (let i = 0; i < d.length; i++) h = (h * 31 + d[i]) | 0; return String(h) !== p; }",
                            arg=before)
    zoomed = frame.evaluate("() => Object.assign({}, S.view)")
    shrink = (zoomed["x1"] - zoomed["x0"]) / (view["x1"] - view["x0"])
    assert 0.2 < shrink < 0.9
    assert (zoomed["y1"] - zoomed["y0"]) / (view["y1"] - view["y0"]) == pytest.approx(shrink, rel=1e-3)
    # the book under the mouse stays under it; the others move apart
    nx, ny = screen_of(frame, LONE)
    assert abs(nx - lx) < 1.5 and abs(ny - ly) < 1.5
    a2, b2 = screen_of(frame, 0), screen_of(frame, 1)
    assert math.dist(a2, b2) == pytest.approx(math.dist(a, b) / shrink, rel=0.01)
    assert pixel(frame, nx, ny) != [255, 255, 255]  # and the picture is drawn at the new scale
    # a double-click goes back home
    page.mouse.dblclick(ox + lx, oy + ly)
    frame.wait_for_function("v => Math.abs(S.view.x1 - v.x1) < 1e-9 && Math.abs(S.view.y0 - v.y0) < 1e-9", arg=view)
    page.screenshot(path=str(folder / "points-zoomed-home.png"))


def test_point_renderer_fades_what_a_box_leaves_out_across_reruns_until_cleared(points_app, page):
    base, folder = points_app
    frame = open_map(page, base)
    lx, ly = screen_of(frame, LONE)
    far = screen_of(frame, 1)  # a book of the bottom-right cluster (all one colour), outside the box
    inside0, outside0 = pixel(frame, lx, ly), pixel(frame, *far)
    assert sum(outside0) < 3 * 250
    ox, oy = canvas_origin(page)
    page.keyboard.down("Shift")
    page.mouse.move(ox + lx - 15, oy + ly - 15)
    page.mouse.down()
    page.mouse.move(ox + lx, oy + ly, steps=3)
    page.mouse.move(ox + lx + 15, oy + ly + 15, steps=3)
    page.mouse.up()
    page.keyboard.up("Shift")
    page.get_by_text("selected: 1 books").wait_for()
    frame.wait_for_function("() => S.chosen !== null")

    def faded(fr):
        inside, outside = pixel(fr, lx, ly), pixel(fr, *far)
        assert inside == inside0  # the selected book keeps its colour
        assert sum(outside) > sum(outside0) + 60 and all(o >= p for o, p in zip(outside, outside0))  # the rest fades

    faded(frame)
    page.screenshot(path=str(folder / "points-selected.png"))
    # a rerun passes the selection back in: still faded, the box still drawn
    page.get_by_role("button", name="Rerun").click()
    wait_until(page, f"() => {SCRIPT_IDLE}")
    frame.wait_for_function("() => S.chosen !== null")
    faded(frame)
    assert frame.locator("#box").is_visible()
    # a fresh map given the page's selection shows it faded from the start
    page.evaluate(f"() => {{ document.querySelector('{FRAME}').dataset.old = '1'; }}")
    page.get_by_role("button", name="Remount").click()
    fresh = drawn_frame(page)
    assert fresh != frame
    fresh.wait_for_function("() => S.chosen !== null")
    faded(fresh)
    # clearing brings every colour back
    page.get_by_role("button", name="Clear selection").click()
    page.get_by_text("selected: 0 books").wait_for()
    fresh.wait_for_function("() => S.chosen === null")
    assert pixel(fresh, *far) == outside0 and pixel(fresh, lx, ly) == inside0
    page.screenshot(path=str(folder / "points-cleared.png"))


def test_point_renderer_places_cluster_labels_by_zoom_and_none_overlap(points_app, page):
    base, folder = points_app
    frame = open_map(page, base, labels="on", located=str(LOCATED))
    frame.wait_for_function("() => S.titleBox !== null && S.placedLabels.length > 0")
    shown = frame.evaluate("() => document.getElementById('wrap').textContent")
    assert "wide theme" not in shown and "tag" not in shown  # labels are drawn into the canvas, not markup
    ox, oy = canvas_origin(page)
    lx, ly = screen_of(frame, LONE)
    page.mouse.move(ox + lx, oy + ly)
    levels = []
    for step in range(3):
        if step:
            span = frame.evaluate("() => S.view.x1 - S.view.x0")
            for _ in range(2):
                page.mouse.wheel(0, -300)
            frame.wait_for_function("s => S.view.x1 - S.view.x0 < 0.5 * s && !pending", arg=span)
        state = frame.evaluate(
            "() => { const v = S.view; return {level: S.labelLevel, placed: S.placedLabels, title: S.titleBox,"
            " zoom: Math.sqrt((S.home[0][1] - S.home[0][0]) / (v.x1 - v.x0)"
            "   * (S.home[1][1] - S.home[1][0]) / (v.y1 - v.y0)),"
            " inView: S.clusterLabels.filter(l => l.level === S.labelLevel && l.x >= v.x0 && l.x <= v.x1"
            "   && l.y >= v.y0 && l.y <= v.y1).length}; }")
        placed = state["placed"]
        assert placed, f"no label placed at zoom {state['zoom']:.2f}"
        assert all(p["level"] == state["level"] for p in placed)
        overlapping = [(p["text"], q["text"]) for i, p in enumerate(placed) for q in placed[i + 1:]
                       if p["x0"] < q["x1"] and q["x0"] < p["x1"] and p["y0"] < q["y1"] and q["y0"] < p["y1"]]
        assert not overlapping, overlapping
        title = state["title"]
        if title is not None:  # the located book's title is never under a label
            assert not any(p["x0"] < title["x1"] and title["x0"] < p["x1"] and p["y0"] < title["y1"]
                           and title["y0"] < p["y1"] for p in placed)
        assert len(placed) < state["inView"]  # some gave way: the collisions were real
        # drawn as text into the canvas: dark pixels inside the heaviest box
        p = placed[0]
        dark = frame.evaluate("b => { const d = document.querySelector('canvas').getContext('2d').getImageData("
                              "Math.ceil(b.x0), Math.ceil(b.y0), Math.floor(b.x1 - b.x0) - 1,"
                              " Math.floor(b.y1 - b.y0) - 1).data;"
                              " let k = 0; for (let i = 0; i < d.length; i += 4) if (d[i] < 90) k++; return k; }", p)
        assert dark > 10
        levels.append(state["level"])
        page.screenshot(path=str(folder / f"points-labels-{step}.png"))
    assert levels == [0, 1, 2], levels
    assert re.search("Detail", " ".join(p["text"] for p in placed))
