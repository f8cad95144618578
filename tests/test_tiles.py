"""The map's level-of-detail tiles (bookembed/tiles.py): every book in exactly one tile, at its coordinates; a
view under its budget gets exactly the books inside it; the same seed gives the same tiles; cached in the
model folder and rebuilt for another map."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bookembed import tiles as tl


def check_partition(t: tl.Tiles, coords: np.ndarray) -> None:
    """Every book exactly once; each tile's books inside its cell; the table ordered by level, tiles adjacent."""
    n = len(coords)
    assert np.array_equal(np.sort(t.order), np.arange(n))
    assert int(t.count.sum()) == n
    assert np.all(np.diff(t.level) >= 0)
    assert np.array_equal(t.start, np.concatenate([[0], np.cumsum(t.count)])[:len(t.count)])
    for k in range(len(t.level)):
        ids = t.books(k)
        x0, y0, x1, y1 = t.bounds[k]
        xy = coords[ids]
        finite = np.isfinite(xy).all(axis=1)
        assert np.all((xy[finite, 0] >= x0) & (xy[finite, 0] <= x1) & (xy[finite, 1] >= y0) & (xy[finite, 1] <= y1))


def test_tiles_of_a_few_hand_placed_books():
    # two books in each corner of the unit square, one in the middle
    coords = np.array([[0.0, 0.0], [0.1, 0.1], [1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [1.0, 1.0],
                       [0.9, 0.9], [0.5, 0.5]])
    t = tl.build_tiles(coords, capacity=1)
    check_partition(t, coords)
    assert t.count[0] == 1 and t.level[0] == 0
    assert t.extent.tolist() == [0.0, 0.0, 1.0, 1.0]
    # the root sample and whatever went where: each level-1 cell is a quadrant of the unit square
    level1 = t.bounds[t.level == 1]
    assert all(tuple(b) in {(0, 0, 0.5, 0.5), (0.5, 0, 1, 0.5), (0, 0.5, 0.5, 1), (0.5, 0.5, 1, 1)} for b in level1)
    # the tiles hold every book once, at its coordinates (the books are permuted, not moved)
    seen = np.concatenate([t.books(k) for k in range(len(t.level))])
    assert sorted(seen.tolist()) == list(range(9))


def test_books_on_one_spot_end_in_a_tile_at_the_deepest_level():
    coords = np.zeros((50, 2))
    t = tl.build_tiles(coords, capacity=4, max_depth=3)
    check_partition(t, coords)
    assert t.level.max() == 3 and t.count[-1] == 50 - 3 * 4


def test_books_that_are_not_finite_are_still_in_one_tile_and_never_drawn():
    coords = np.array([[0.0, 0.0], [np.nan, 1.0], [1.0, 1.0], [np.inf, 0.0], [0.5, 0.2]])
    t = tl.build_tiles(coords, capacity=1, max_depth=4)
    check_partition(t, coords)
    ids, complete = tl.view_points(t, coords, (-10, -10, 10, 10), 100)
    assert sorted(ids.tolist()) == [0, 2, 4] and complete


def test_a_view_over_its_budget_gets_the_budget_coarse_tiles_first_and_says_it_is_not_complete():
    rng = np.random.default_rng(0)
    coords = rng.normal(size=(20_000, 2))
    t = tl.build_tiles(coords, capacity=500)
    check_partition(t, coords)
    ids, complete = tl.view_points(t, coords, t.extent, 3000)
    assert len(ids) == 3000 and not complete and len(np.unique(ids)) == 3000
    assert set(t.books(0).tolist()) <= set(ids.tolist())  # the root sample is always drawn
    # every part of the map is drawn: no region of a 4 x 4 grid with some books gets less than half its share (sparse
    # regions get more than theirs: their tiles hold all their books sooner)
    cells = lambda xy: (np.clip(((xy - t.extent[:2]) / (t.extent[2:] - t.extent[:2]) * 4).astype(int), 0, 3)
                        @ np.array([1, 4]))
    whole = np.bincount(cells(coords), minlength=16) / len(coords)
    part = np.bincount(cells(coords[ids]), minlength=16) / len(ids)
    assert np.all(part[whole > 0.01] >= 0.5 * whole[whole > 0.01])
    # zoomed in far enough, one book the first view left out is drawn
    missing = np.setdiff1d(np.arange(len(coords)), ids)[0]
    x, y = coords[missing]
    near, complete = tl.view_points(t, coords, (x - 0.01, y - 0.01, x + 0.01, y + 0.01), 3000)
    assert complete and missing in near


def test_keep_leaves_books_out_of_a_view():
    rng = np.random.default_rng(1)
    coords = rng.uniform(size=(2000, 2))
    t = tl.build_tiles(coords, capacity=64)
    keep = np.zeros(2000, dtype=bool)
    keep[::3] = True
    ids, complete = tl.view_points(t, coords, (0, 0, 1, 1), 10_000, keep=keep)
    assert complete and sorted(ids.tolist()) == list(range(0, 2000, 3))


coordinates = arrays(np.float64, st.tuples(st.integers(0, 300), st.just(2)),
                     elements=st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False))


@settings(max_examples=60, deadline=None)
@given(coords=coordinates, capacity=st.integers(1, 40), seed=st.integers(0, 5))
def test_every_book_is_in_exactly_one_tile_at_its_coordinates(coords, capacity, seed):
    t = tl.build_tiles(coords, capacity=capacity, seed=seed)
    check_partition(t, coords)
    assert np.all(t.count <= np.where(t.level < tl.MAX_DEPTH, capacity, len(coords)))
    again = tl.build_tiles(coords, capacity=capacity, seed=seed)  # the seed decides everything
    assert np.array_equal(t.order, again.order) and np.array_equal(t.bounds, again.bounds)


@settings(max_examples=60, deadline=None)
@given(coords=coordinates, capacity=st.integers(1, 40), view=st.lists(st.floats(-1.2e3, 1.2e3), min_size=4,
                                                                     max_size=4), budget=st.integers(0, 400))
def test_a_view_gets_exactly_its_books_under_the_budget_and_the_budget_over_it(coords, capacity, view, budget):
    x0, x1 = sorted(view[:2])
    y0, y1 = sorted(view[2:])
    t = tl.build_tiles(coords, capacity=capacity)
    inside = set(tl.in_box(coords, (x0, y0, x1, y1)).tolist())
    ids, complete = tl.view_points(t, coords, (x0, y0, x1, y1), budget)
    assert len(set(ids.tolist())) == len(ids) and set(ids.tolist()) <= inside
    if len(inside) <= budget:
        assert complete and set(ids.tolist()) == inside
    else:
        assert not complete and len(ids) == budget
    again, _ = tl.view_points(t, coords, (x0, y0, x1, y1), budget)
    assert np.array_equal(ids, again)


def test_the_cost_of_a_view_does_not_grow_with_the_map():
    """A small view visits the books of the tiles that meet it, not the whole map: counted, not timed."""
    rng = np.random.default_rng(2)
    coords = rng.uniform(size=(200_000, 2))
    t = tl.build_tiles(coords, capacity=256)
    view = (0.5, 0.5, 0.52, 0.52)
    b = t.bounds
    meets = (b[:, 0] <= view[2]) & (b[:, 2] >= view[0]) & (b[:, 1] <= view[3]) & (b[:, 3] >= view[1])
    visited = int(t.count[meets].sum())
    assert visited < 50 * len(tl.in_box(coords, view)) and visited < len(coords) / 20
    assert int(t.level.max()) <= np.ceil(np.log(len(coords) / 256) / np.log(4)) + 2


def test_density_counts_every_book_in_its_cell_on_a_log_scale():
    coords = np.array([[0.0, 0.0]] * 100 + [[1.0, 1.0]] + [[0.5, 0.25]] * 10)
    d = tl.density(coords, (0, 0, 1, 1), size=4)
    assert d.shape == (4, 4) and d.dtype == np.uint8
    assert d[3, 0] == 255  # the bottom-left cell: the most books
    assert 0 < d[0, 3] < d[3, 2] < 255  # the top-right corner: one book, still seen; ten books, between the two
    assert np.count_nonzero(d) == 3


def test_tiles_are_cached_in_the_model_folder_and_rebuilt_for_another_map(fake_model):
    from bookembed.store import load_model_folder

    fake_model = load_model_folder(fake_model)
    rng = np.random.default_rng(3)
    coords = rng.normal(size=(fake_model.n_books, 2)).astype(np.float32)
    first = tl.tiles_for(fake_model, "planted", coords, capacity=8)
    check_partition(first.tiles, coords)
    assert (fake_model.path / "tiles" / "planted-c8.npz").is_file()
    again = tl.tiles_for(load_model_folder(fake_model.path), "planted", coords, capacity=8)  # read back
    assert np.array_equal(first.tiles.order, again.tiles.order) and np.array_equal(first.density, again.density)
    check_partition(again.tiles, coords)
    assert isinstance(again.tiles.order.base, np.memmap)  # mapped from the folder, not read whole
    path = fake_model.path / "tiles" / "planted-c8.npz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # a cut file is rebuilt, never trusted
    rebuilt = tl.tiles_for(load_model_folder(fake_model.path), "planted", coords, capacity=8)
    check_partition(rebuilt.tiles, coords)
    moved = coords + 1
    other = tl.tiles_for(fake_model, "planted", moved, capacity=8)
    check_partition(other.tiles, moved)
    assert np.allclose(other.tiles.extent, first.tiles.extent + 1)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="2-D"):
        tl.build_tiles(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="at least one"):
        tl.build_tiles(np.zeros((3, 2)), capacity=0)
