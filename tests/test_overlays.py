"""Map overlays: cluster labels, density under the points, link markers, custom axes, predicted marks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bookembed import clusters as cl
from bookembed import overlays as ov
from bookembed.mapviz import map_figure
from bookembed.neighbors import UnknownName
from bookembed.store import load_model_folder
from test_clusters import GROUPS, make_grouped_model, save_folder

NASTY = "<b>Bold</b> & <script>alert(1)</script>"


@pytest.fixture
def grouped(tmp_path):
    return load_model_folder(make_grouped_model(tmp_path / "grouped"))


def test_cluster_labels_sit_at_the_centres_and_list_the_books(grouped):
    rng = np.random.default_rng(0)
    coords = rng.normal(size=(grouped.n_books, 2)).astype(np.float32)
    result = cl.cluster_books(grouped, n_clusters=3, cache=False)
    titles = list(grouped.titles)
    titles[0] = NASTY
    fig = ov.add_cluster_labels(map_figure(coords, grouped.books), coords, result, titles, spacing=False)
    notes = [a for a in fig.layout.annotations if (a.name or "").startswith("cluster ")]
    assert len(notes) == 3
    for note, cluster in zip(notes, result.clusters):
        centre = np.median(coords[result.labels == cluster.id], axis=0)
        assert (note.x, note.y) == pytest.approx(tuple(centre), abs=1e-5)
        group = [g for g, links in GROUPS.items() if cluster.terms[0] in links][0]
        assert note.text.split("<br>")[0] in GROUPS[group]
        assert f"{cluster.size:,} books" in note.hovertext
    hovers = " ".join(n.hovertext for n in notes)
    assert "&lt;script&gt;" in hovers and "<script>" not in hovers


def test_a_label_whose_box_would_cover_a_larger_clusters_label_is_left_out(grouped):
    result = cl.cluster_books(grouped, n_clusters=3, cache=False)
    coords = np.zeros((grouped.n_books, 2))
    first, second, third = (result.labels == c for c in range(3))
    coords[first] = [0.0, 0.0]
    coords[second] = [0.05, 0.0]  # on top of the first cluster's label
    coords[third] = [10.0, 10.0]
    fig = ov.add_cluster_labels(map_figure(coords, grouped.books), coords, result, grouped.titles)
    assert [a.name for a in fig.layout.annotations] == ["cluster 0", "cluster 2"]
    every = ov.add_cluster_labels(map_figure(coords, grouped.books), coords, result, grouped.titles, spacing=False)
    assert len(every.layout.annotations) == 3
    # far enough apart for the boxes (in pixels), the second label comes back
    coords[second] = [0.0, 5.0]
    apart = ov.add_cluster_labels(map_figure(coords, grouped.books), coords, result, grouped.titles)
    assert len(apart.layout.annotations) == 3


def test_cluster_labels_in_3d_go_to_the_scene(grouped):
    coords = np.random.default_rng(1).normal(size=(grouped.n_books, 3))
    result = cl.cluster_books(grouped, n_clusters=3, cache=False)
    fig = ov.add_cluster_labels(map_figure(coords, grouped.books), coords, result, grouped.titles)
    assert len(fig.layout.scene.annotations) == 3 and not fig.layout.annotations


def test_density_is_drawn_first_and_does_not_grow_with_the_points(grouped):
    coords = np.random.default_rng(2).normal(size=(grouped.n_books, 2))
    fig = map_figure(coords, grouped.books)
    n_traces = len(fig.data)
    ov.add_density(fig, coords, bins=40)
    assert len(fig.data) == n_traces + 1
    assert fig.data[0].meta == "density" and fig.data[0].hoverinfo == "skip"
    z = np.asarray(fig.data[0].z)
    assert z.shape == (40, 40) and z.max() == pytest.approx(1.0)
    assert [t.meta for t in fig.data[1:]].count("books") == n_traces
    with pytest.raises(ValueError, match="2-D"):
        ov.add_density(map_figure(np.zeros((grouped.n_books, 3)), grouped.books), np.zeros((grouped.n_books, 3)))


def test_density_peaks_where_the_points_are():
    coords = np.vstack([np.random.default_rng(3).normal(size=(500, 2)) * 0.1 + [2, 2],
                        np.random.default_rng(4).uniform(-3, 3, size=(50, 2))])
    x, y, z = ov.density_grid(coords, bins=30)
    row, col = np.unravel_index(np.argmax(z), z.shape)
    assert abs(x[col] - 2) < 0.5 and abs(y[row] - 2) < 0.5


def test_a_link_is_placed_among_its_nearest_books(tmp_path):
    rng = np.random.default_rng(0)
    books = rng.normal(size=(30, 5))
    links = np.vstack([books[7], books[20] * 3.0])  # each link points exactly at one book
    model = load_model_folder(save_folder(tmp_path / "m", pd.DataFrame({"title": [f"B{i}" for i in range(30)]}),
                                          ("to seven", "to twenty"), np.arange(30), np.arange(30) % 2, books, links))
    coords = rng.normal(size=(30, 2))
    placed = ov.link_positions(model, coords, [0, 1], k=1)
    assert np.allclose(placed, coords[[7, 20]])
    near = ov.link_positions(model, coords, [0, 1], k=5)
    assert near.shape == (2, 2)


def test_link_markers_books_or_both(grouped):
    coords = np.random.default_rng(5).normal(size=(grouped.n_books, 2))
    ids = ov.top_links(grouped, 4)
    assert list(grouped.link_counts[ids]) == sorted(grouped.link_counts, reverse=True)[:4]
    names = [NASTY] + [grouped.links[j] for j in ids[1:]]
    both = ov.add_link_points(map_figure(coords, grouped.books), coords[:4], names, grouped.link_counts[ids], n_text=2)
    trace = [t for t in both.data if t.meta == "links"][0]
    assert trace.marker.symbol == "diamond" and trace.customdata is None
    assert trace.text[0] == "&lt;b&gt;Bold&lt;/b&gt; &amp; &lt;script&gt;alert…" and trace.text[2] == ""
    assert all(t.visible is not False for t in both.data if t.meta == "books")
    only = ov.add_link_points(map_figure(coords, grouped.books), coords[:4], names, show="links")
    assert all(t.visible is False for t in only.data if t.meta == "books")


def test_custom_axes_are_differences_of_cosines(grouped):
    axes = ov.axis_coordinates(grouped, ("leo tolstoy", ["isaac asimov", "foundation series"]))
    books, links = grouped.unit_vectors("book"), grouped.unit_vectors("link")
    index = grouped.link_index
    left = links[index["leo tolstoy"]]
    right = links[[index["isaac asimov"], index["foundation series"]]].mean(axis=0)
    right /= np.linalg.norm(right)
    assert axes.books[:, 0] == pytest.approx(books @ right - books @ left, abs=1e-5)
    assert axes.links[:, 0] == pytest.approx(links @ right - links @ left, abs=1e-5)
    assert axes.books.shape == (grouped.n_books, 2) and axes.links.shape == (grouped.n_links, 2)
    assert axes.links[index["leo tolstoy"], 0] < 0 < axes.links[index["foundation series"], 0]
    assert axes.y_title == "first principal component"
    centred = books - books.mean(axis=0)
    assert np.var(axes.books[:, 1]) == pytest.approx(np.linalg.svd(centred, compute_uv=False)[0] ** 2 / len(books),
                                                     rel=1e-3)
    two = ov.axis_coordinates(grouped, ("leo tolstoy", "isaac asimov"), ("moscow", "middle-earth"))
    assert "moscow" in two.y_title and "middle-earth" in two.y_title


def test_custom_axes_name_their_mistakes(grouped):
    with pytest.raises(UnknownName, match="no link named 'quantum cooking'"):
        ov.axis_coordinates(grouped, ("leo tolstoy", "quantum cooking"))
    with pytest.raises(ov.AxisError, match="x axis: both ends are leo tolstoy"):
        ov.axis_coordinates(grouped, ("leo tolstoy", "Leo Tolstoy"))
    with pytest.raises(ov.AxisError, match="y axis: no link given"):
        ov.axis_coordinates(grouped, ("leo tolstoy", "moscow"), ("", "moscow"))
    with pytest.raises(ov.AxisError, match="give two ends"):
        ov.axis_coordinates(grouped, ("leo tolstoy",))


def test_axis_titles_are_escaped(grouped):
    fig = ov.set_axis_titles(map_figure(np.zeros((grouped.n_books, 2)), grouped.books), NASTY, "pc")
    assert "<script>" not in fig.layout.xaxis.title.text and fig.layout.xaxis.showticklabels


def test_predicted_marks_ring_the_predicted_books(grouped):
    coords = np.random.default_rng(6).normal(size=(grouped.n_books, 2))
    fig = ov.add_predicted_marks(map_figure(coords, grouped.books), coords, [1, 4])
    trace = [t for t in fig.data if t.meta == "predicted"][0]
    assert list(trace.x) == list(coords[[1, 4], 0]) and trace.marker.symbol == "circle-open"


def test_decorate_draws_density_under_and_labels_on_top(grouped):
    coords = np.random.default_rng(7).normal(size=(grouped.n_books, 2))
    result = cl.cluster_books(grouped, n_clusters=3, cache=False)
    fig = ov.decorate(map_figure(coords, grouped.books), grouped, coords, clustering=result, density=True,
                      show="both", n_links=5, predicted_ids=[2])
    metas = [t.meta for t in fig.data]
    assert metas[0] == "density" and "books" in metas and metas.index("predicted") < metas.index("links")
    links = fig.data[metas.index("links")]
    # the broad labels at the first view: three clusters grouped in two
    assert len(links.x) == 5 and [a.name for a in fig.layout.annotations] == ["group 0", "group 1"]
    plain = ov.decorate(map_figure(coords, grouped.books), grouped, coords)
    assert [t.meta for t in plain.data] == [t.meta for t in map_figure(coords, grouped.books).data]
    axes = ov.axis_coordinates(grouped, ("moscow", "middle-earth"))
    exact = ov.decorate(map_figure(axes.books, grouped.books), grouped, axes.books, show="links", n_links=3,
                        link_coords=axes.links)
    trace = [t for t in exact.data if t.meta == "links"][0]
    top = ov.top_links(grouped, 3)
    assert np.allclose(trace.x, axes.links[top, 0])
    assert all(t.visible is False for t in exact.data if t.meta == "books")
    with pytest.raises(ValueError, match="show must be"):
        ov.decorate(map_figure(coords, grouped.books), grouped, coords, show="everything")
