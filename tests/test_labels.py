"""Map labels on two levels, and their placement without overlap."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

from bookembed import clusters as cl
from bookembed import labels as lb
from bookembed import overlays as ov
from bookembed.mapviz import map_figure
from bookembed.store import load_model_folder
from test_clusters import GROUPS, make_grouped_model

PLOT = (640.0, 680.0)


@pytest.fixture(scope="module")
def demo():
    model = load_model_folder("models/demo")
    from bookembed import projection as proj

    coords = proj.load_projection(model, proj.make_settings("umap", dims=2))
    assert coords is not None, "the demo ships its 2-D UMAP map"
    return model, coords, cl.cluster_books(model, cache=False)


boxes = hst.lists(hst.tuples(hst.floats(-50, 700), hst.floats(-50, 700), hst.floats(1, 200), hst.floats(1, 80)),
                  max_size=40)


@settings(max_examples=200, deadline=None)
@given(boxes, boxes)
def test_placed_boxes_never_overlap_and_every_box_left_out_had_a_reason(raw, raw_taken):
    as_box = [(x, y, x + w, y + h) for x, y, w, h in raw]
    taken = [(x, y, x + w, y + h) for x, y, w, h in raw_taken[:3]]
    kept = lb.place(as_box, PLOT, taken=taken)
    chosen = [as_box[i] for i in kept]
    assert kept == sorted(kept)
    assert not any(lb.overlaps(a, b) for i, a in enumerate(chosen) for b in chosen[i + 1:])
    assert not any(lb.overlaps(a, t) for a in chosen for t in taken)
    for i, b in enumerate(as_box):  # greedy: a box left out overlaps one kept before it or a taken one, or is outside
        if i in kept:
            continue
        centre_inside = 0 <= (b[0] + b[2]) / 2 <= PLOT[0] and 0 <= (b[1] + b[3]) / 2 <= PLOT[1]
        before = [as_box[j] for j in kept if j < i] + taken
        assert not centre_inside or any(lb.overlaps(b, p) for p in before)


@settings(max_examples=100, deadline=None)
@given(hst.lists(hst.tuples(hst.floats(0, 1), hst.floats(0, 1)), min_size=1, max_size=30),
       hst.floats(1.0, 8.0), hst.floats(0, 1), hst.floats(0, 1))
def test_labels_placed_at_a_view_stay_apart_at_every_zoom_into_it(centres, zoom, fx, fy):
    """Zooming in moves label centres apart, their boxes keep their size in pixels: no overlap appears."""
    view = [[0.0, 1.0], [0.0, 1.0]]
    xs, ys = np.array([c[0] for c in centres]), np.array([c[1] for c in centres])
    sizes = [lb.text_box(["a label of some length", "a second line"])] * len(centres)
    kept = lb.place(lb.centred_boxes(*lb.to_pixels(xs, ys, view, PLOT), sizes), PLOT)
    half = 0.5 / zoom
    cx, cy = half + fx * (1 - 2 * half), half + fy * (1 - 2 * half)
    inner = [[cx - half, cx + half], [cy - half, cy + half]]
    zoomed = lb.centred_boxes(*lb.to_pixels(xs[kept], ys[kept], inner, PLOT), [sizes[0]] * len(kept))
    assert not any(lb.overlaps(a, b) for i, a in enumerate(zoomed) for b in zoomed[i + 1:])


def test_place_keeps_the_first_of_two_overlapping_boxes_and_stops_at_the_limit():
    a, b, c, d = (0, 0, 10, 10), (5, 5, 15, 15), (20, 20, 30, 30), (40, 40, 50, 50)
    assert lb.place([a, b, c, d], PLOT) == [0, 2, 3]
    assert lb.place([b, a, c, d], PLOT) == [0, 2, 3]
    assert lb.place([a, b, c, d], PLOT, limit=2) == [0, 2]
    assert lb.place([a, c], PLOT, taken=[(8, 8, 9, 9)]) == [1]
    assert lb.place([(-30, 0, -10, 10), a], PLOT) == [1]  # centre off the plot


def test_text_box_grows_with_the_longest_line_and_the_number_of_lines():
    w1, h1 = lb.text_box(["abc"])
    w2, h2 = lb.text_box(["abc", "abcdef"])
    assert w2 > w1 and h2 > h1
    assert lb.text_box(["abcdef"])[0] == w2


def test_broad_groups_are_unions_of_fine_clusters_named_by_their_own_links(tmp_path):
    model = load_model_folder(make_grouped_model(tmp_path / "grouped"))
    result = cl.cluster_books(model, n_clusters=6, cache=False)
    coords = np.random.default_rng(0).normal(size=(model.n_books, 2))
    levels = lb.label_levels(model, coords, result)
    broad = [lab for lab in levels if lab.level == lb.BROAD]
    fine = [lab for lab in levels if lab.level == lb.FINE]
    assert len(fine) == 6 and len(broad) == lb.default_n_groups(6) == 2
    assert [lab.level for lab in levels] == sorted(lab.level for lab in levels)  # broad first
    assert [lab.weight for lab in broad] == sorted((lab.weight for lab in broad), reverse=True)
    for group in broad:  # each group is made of whole clusters
        members = set(group.members.tolist())
        inside = [c for c in result.clusters if set(c.members.tolist()) <= members]
        assert sum(c.size for c in inside) == len(members)
        assert group.lines[0] in set().union(*GROUPS.values())
        assert (group.x, group.y) == pytest.approx(tuple(np.median(coords[group.members], axis=0)))
    assert sorted(np.concatenate([g.members for g in broad]).tolist()) == list(range(model.n_books))


def test_demo_broad_labels_name_the_literatures_and_fine_ones_name_series(demo):
    model, coords, result = demo
    levels = lb.label_levels(model, coords, result)
    broad = " ".join(" ".join(lab.lines) for lab in levels if lab.level == lb.BROAD)
    assert "russian" in broad and "french" in broad and "american" in broad
    assert sum(lab.level == lb.FINE for lab in levels) == len(result.clusters)


def _link_text_boxes(fig, coords):
    trace = [t for t in fig.data if t.meta == "links"][0]
    view = ov._view(fig, coords)
    px, py = lb.to_pixels(trace.x, trace.y, view, PLOT)
    out = []
    for x, y, text in zip(px, py, trace.text):
        if text:
            w, h = lb.text_box([text.replace("&amp;", "&")])
            out.append((x - w / 2, y - ov.LINK_MARKER_PX / 2 - h, x + w / 2, y - ov.LINK_MARKER_PX / 2))
    return out


@pytest.mark.parametrize("located", [None, "War and Peace", "Dune (novel)"])
def test_on_the_demo_no_label_box_overlaps_another_at_the_first_view_or_zoomed_on_a_book(demo, located):
    model, coords, result = demo
    book = None if located is None else list(model.titles).index(located)
    fig = map_figure(coords, model.books, located=book, query_ids=[] if book is None else [book])
    ov.decorate(fig, model, coords, clustering=result, show="both")
    labels = ov.drawn_label_boxes(fig, coords)
    every = labels + _link_text_boxes(fig, coords)
    assert len(labels) >= 3  # something is named
    assert not [(a, b) for i, a in enumerate(every) for b in every[i + 1:] if lb.overlaps(a, b)]
    names = [a.name for a in fig.layout.annotations if a.name]
    assert all(n.startswith("group" if book is None else "cluster") for n in names)


def test_the_point_renderers_labels_are_plain_short_text_with_their_level_and_place(demo):
    model, coords, result = demo
    levels = lb.label_levels(model, coords, result)
    payload = lb.as_payload(levels)
    assert len(payload) == len(levels) and {p["level"] for p in payload} == {lb.BROAD, lb.FINE}
    for p, lab in zip(payload, levels):
        assert (p["x"], p["y"], p["weight"]) == (lab.x, lab.y, lab.weight)
        lines = p["text"].split("\n")
        assert 1 <= len(lines) <= 2 and all(len(line) <= 30 and not line.startswith("category:") for line in lines)
    nasty = lb.MapLabel(lb.FINE, 0, 0.0, 0.0, ("<b>x</b> & y",), 1.0, np.arange(1))
    assert lb.as_payload([nasty])[0]["text"] == "<b>x</b> & y"  # unescaped: the canvas draws it as text
