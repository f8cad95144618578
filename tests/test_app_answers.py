"""Pages that answer at once: what a rerun recomputes, and what the Map page says while it computes.

Behaviour only (no timings): a selection-only change reuses the cached map
figure, a small model's map is SVG rather than WebGL, and the progress box
speaks of the model's own size.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from bookembed import mapviz
from bookembed import projection as proj
from test_app_pages import app, charts, fake_demo, ok, page, plain  # noqa: F401 - fixtures


@pytest.fixture
def figure_builds(monkeypatch) -> list[int]:
    """Counts calls of ``mapviz.map_figure`` (the map's figure builder)."""
    calls: list[int] = []
    real = mapviz.map_figure

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(mapviz, "map_figure", counted)
    return calls


def test_a_selection_change_does_not_rebuild_the_map_figure(fake_demo, figure_builds):
    at = ok(app().run())
    at.session_state["map_method"] = "pca"
    page(at, "map")
    assert len(figure_builds) == 1
    ok(at.selectbox(key="map_color").select("country").run())
    assert len(figure_builds) == 2  # a new colouring is a new figure
    ok(at.selectbox(key="map_color").select("genre").run())
    assert len(figure_builds) == 2  # and the first one is still cached
    first = charts(at)[0]
    at.session_state["selected_ids"] = [0, 3, 5]  # as a box selection leaves it
    ok(at.run())
    assert any("3 books selected" in c.value for c in at.caption)
    assert len(figure_builds) == 2  # the same figure, from the cache
    assert charts(at)[0] == first
    ok([b for b in at.button if b.label == "Clear selection"][0].click().run())
    assert at.session_state["selected_ids"] == []
    assert not any("books selected" in c.value for c in at.caption)


def test_a_small_models_map_is_svg_and_keeps_every_point(fake_demo):
    at = ok(app().run())
    at.session_state["map_method"] = "pca"
    page(at, "map")
    ok(at.toggle(key="map_density").set_value(True).run())
    spec = charts(at)[0]
    assert not any(t["type"] == "scattergl" for t in spec["data"])
    books = [t for t in spec["data"] if t.get("meta") == "books"]
    assert books and all(t["type"] == "scatter" for t in books)


def test_svg_traces_changes_only_the_trace_type():
    from bookembed.ui.map import svg_traces

    import pandas as pd

    rng = np.random.default_rng(0)
    books = pd.DataFrame({"title": [f"b{i}" for i in range(30)], "primary_genre": ["x", "y", "z"] * 10})
    figure = mapviz.map_figure(rng.normal(size=(30, 2)), books, query_ids=[1], neighbour_ids=[2, 3], selected_ids=[4])
    svg = svg_traces(figure)
    assert [t.type for t in figure.data] == ["scattergl"] * len(figure.data)  # the original is left as it was
    assert [t.type for t in svg.data] == ["scatter"] * len(figure.data)
    for a, b in zip(figure.data, svg.data):
        left, right = a.to_plotly_json(), b.to_plotly_json()
        left.pop("type"), right.pop("type")
        assert left.keys() == right.keys()
        assert np.array_equal(np.asarray(a.customdata), np.asarray(b.customdata))
    assert svg.layout == figure.layout


def test_the_progress_box_speaks_of_this_models_size(fake_demo, monkeypatch):
    gate = threading.Event()
    real = proj.project

    def held(*args, **kwargs):
        gate.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(proj, "project", held)
    try:
        at = ok(app().run())
        page(at, "map")  # UMAP, not cached: computed in the background
        heading = " ".join(plain(m.value) for m in at.markdown)
        assert "for 60 books" in heading
        assert "37,020" not in heading
        assert at.get("progress")
    finally:
        gate.set()
