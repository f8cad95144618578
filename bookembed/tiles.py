"""Level-of-detail tiles of a 2-D map, so a map of millions of books sends only what a view can show.

A quadtree over the map's coordinates (deepscatter's tile pyramid). Every
book is in exactly one tile: the root tile holds a seeded random sample of
up to ``capacity`` books; each of its four children (the quadrants of its
cell) a random sample of the books left in that quadrant; and so on down to
tiles that take every book left in their cell. So the first tiles of a level
together are an even sample of the map, and each level adds detail.

Stored as a permutation of the book ids (int32, books ordered by tile, the
tiles level by level) and a small table of tiles (level, cell bounds, start,
count), with a density raster of every book for the picture's background
(datashader's lever: the whole distribution in a few hundred kilobytes).

``view_points`` answers a view rectangle and a point budget with the books
to draw: the tiles that meet the view, coarse to fine, each book inside the
view, until the budget. A view that holds no more books than the budget gets
every one of them, which is what makes every book reachable by zooming in.

How the cost grows with the number of books n (``capacity`` T, budget B):

- ``build_tiles``: O(n log n) time, one stable sort of the books left per
  level over about log4(n / T) levels; O(n) memory, a few integer arrays of
  n, no Python object per book.
- ``density``: O(n) time in chunks of a fixed size, O(size squared) memory
  beside the chunk.
- ``view_points``: O(tiles) for the table, plus the books of the tiles met,
  level by level until the budget: O(B) for a view holding more than B,
  and at most the books of the tiles that meet a smaller view. Independent
  of n beyond the table.
- ``in_box``: O(n) time, O(n) memory for one boolean mask.

The tiles are cached in the model folder beside the projection they are made
from (``tiles_for``: derived kind ``tiles``, keyed by the projection's key,
its coordinates' checksum and the vectors), written atomically.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np

CAPACITY = 8192
"""Books a tile holds (the root tile's sample, each child's)."""
MAX_DEPTH = 24
"""Levels below the root at most: a tile this deep takes every book left (books on one spot never split)."""
DENSITY_SIZE = 512
"""Cells along each side of the density raster."""
TILES = "tiles"
"""The derived kind the tiles are cached as (``store.DERIVED``)."""
TILED_ABOVE = 500_000
"""Above this many books the point renderer draws a map a view at a time from its tiles (``BOOKEMBED_TILED_ABOVE``
overrides it); up to it, every book at once. At a million books the tiled map painted first sooner than every
book at once (``benchmarks/bench_bigmap.py``, docs/scale.md); below, sending every book is a small message."""
POINT_BUDGET = 200_000
"""Books drawn at most in one view of a tiled map (``BOOKEMBED_POINT_BUDGET`` overrides it): with their labels,
a message well inside Streamlit's limit, drawn by the renderer in a fraction of a second."""
_CHUNK = 1 << 20


def tiled_above() -> int:
    """``TILED_ABOVE``, or the number in the environment variable ``BOOKEMBED_TILED_ABOVE``."""
    return int(os.environ.get("BOOKEMBED_TILED_ABOVE") or TILED_ABOVE)


def point_budget() -> int:
    """``POINT_BUDGET``, or the number in the environment variable ``BOOKEMBED_POINT_BUDGET``."""
    return max(1, int(os.environ.get("BOOKEMBED_POINT_BUDGET") or POINT_BUDGET))


@dataclass(frozen=True)
class Tiles:
    """A quadtree's tiles over n books (``build_tiles``).

    Attributes
    ----------
    order : ndarray of int32, shape (n,)
        Book ids ordered by tile; a tile's books are ``order[start:start + count]``, in random order.
    level : ndarray of int16, shape (k,)
        Each tile's depth (0: the root); the table is ordered by level.
    bounds : ndarray of float64, shape (k, 4)
        Each tile's cell: x0, y0, x1, y1 (edges included). Every finite book of a tile lies in its cell.
    start, count : ndarray of int64, shape (k,)
        Where each tile's books are in ``order``, and how many.
    extent : ndarray of float64, shape (4,)
        The root cell: the finite coordinates' x0, y0, x1, y1.
    """

    order: np.ndarray
    level: np.ndarray
    bounds: np.ndarray
    start: np.ndarray
    count: np.ndarray
    extent: np.ndarray

    @property
    def n(self) -> int:
        return len(self.order)

    def books(self, tile: int) -> np.ndarray:
        """The book ids of tile ``tile``."""
        return self.order[self.start[tile]: self.start[tile] + self.count[tile]]


def _extent(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    out = []
    for v in (x, y):
        finite = v[np.isfinite(v)]
        lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
        out.append((lo, hi if hi > lo else lo + 1.0))
    return np.array([out[0][0], out[1][0], out[0][1], out[1][1]])


def _split(bounds: np.ndarray, quadrant: np.ndarray) -> np.ndarray:
    """Cells of the given quadrants (bit 0: right half, bit 1: upper half) of ``bounds`` (rows x0, y0, x1, y1)."""
    mx, my = (bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2
    right, up = (quadrant & 1).astype(bool), (quadrant & 2).astype(bool)
    return np.stack([np.where(right, mx, bounds[:, 0]), np.where(up, my, bounds[:, 1]),
                     np.where(right, bounds[:, 2], mx), np.where(up, bounds[:, 3], my)], axis=1)


def build_tiles(coords: np.ndarray, capacity: int = CAPACITY, seed: int = 0, max_depth: int = MAX_DEPTH) -> Tiles:
    """The tiles of a map (see the module's text); deterministic for a seed.

    Parameters
    ----------
    coords : ndarray, shape (n, 2)
    capacity : int
        Books per tile.
    seed : int
        Seeds the samples.
    max_depth : int
        Levels below the root at most.
    """
    coords = np.asarray(coords)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ValueError(f"tiles are made of 2-D coordinates; got an array of shape {coords.shape}")
    if capacity < 1:
        raise ValueError(f"a tile must hold at least one book; got capacity {capacity}")
    n = len(coords)
    x, y = coords[:, 0], coords[:, 1]
    extent = _extent(x, y)
    order = np.empty(n, dtype=np.int32)
    left = np.random.default_rng(seed).permutation(n).astype(np.int32)  # books left, grouped by cell, shuffled
    cells, sizes = extent[None, :], np.array([n], dtype=np.int64)  # the cells of this level and their books
    table: list[tuple] = []
    filled, depth = 0, 0
    while len(left):
        # 1. each cell keeps the first books of its group (a random sample): a tile
        take = sizes if depth >= max_depth else np.minimum(sizes, capacity)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        cell_of = np.repeat(np.arange(len(sizes), dtype=np.int32), sizes)
        kept = (np.arange(len(left), dtype=np.int64) - starts[cell_of]) < take[cell_of]
        taken = left[kept]
        order[filled: filled + len(taken)] = taken
        table.append((np.full(len(sizes), depth, dtype=np.int16), cells,
                      filled + np.concatenate([[0], np.cumsum(take)[:-1]]), take))
        filled += len(taken)
        # 2. the books left go to their cell's quadrants, grouped by (cell, quadrant) in a stable order
        left, cell_of = left[~kept], cell_of[~kept]
        if not len(left):
            break
        mx, my = (cells[:, 0] + cells[:, 2]) / 2, (cells[:, 1] + cells[:, 3]) / 2
        key = cell_of.astype(np.int64) * 4
        key += x[left] >= mx[cell_of]
        key += 2 * (y[left] >= my[cell_of])
        del cell_of
        sort = np.argsort(key, kind="stable")
        left, key = left[sort], key[sort]
        del sort
        firsts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
        sizes = np.diff(np.append(firsts, len(key))).astype(np.int64)
        group = key[firsts]
        del key
        cells = _split(cells[group // 4], group % 4)
        depth += 1
    level, bounds, start, count = (np.concatenate(part) for part in zip(*table)) if table else (
        np.empty(0, np.int16), np.empty((0, 4)), np.empty(0, np.int64), np.empty(0, np.int64))
    return Tiles(order, level.astype(np.int16), np.asarray(bounds, dtype=np.float64).reshape(-1, 4),
                 start.astype(np.int64), count.astype(np.int64), extent)


def _gather(tiles: Tiles, which: np.ndarray) -> np.ndarray:
    """The book ids of the tiles ``which`` (indices into the table), tile after tile."""
    counts = tiles.count[which]
    total = int(counts.sum())
    if not total:
        return np.empty(0, dtype=np.int32)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    positions = np.arange(total, dtype=np.int64) - np.repeat(offsets - tiles.start[which], counts)
    return tiles.order[positions]


def view_points(tiles: Tiles, coords: np.ndarray, view, budget: int, *, keep: np.ndarray | None = None,
                seed: int = 0) -> tuple[np.ndarray, bool]:
    """The books to draw in a view: returns their ids (int64, coarse to fine) and whether they are all it holds.

    Parameters
    ----------
    tiles : Tiles
        The tiles of ``coords``.
    coords : ndarray, shape (n, 2)
    view : sequence of 4 floats
        x0, y0, x1, y1 of the view rectangle (edges included).
    budget : int
        Books to return at most. A view holding no more gets every book in it.
    keep : ndarray of bool, shape (n,), optional
        Only these books are drawn (filters, an isolated selection).
    seed : int
        Seeds the sample of the level where the budget runs out.

    Returns
    -------
    ids : ndarray of int64
        Books inside the view (and kept), whole levels of tiles first; the
        level where the budget runs out gives an even random sample of its books.
    complete : bool
        True when ``ids`` are every kept book inside the view.
    """
    x0, y0, x1, y1 = (float(v) for v in view)
    b = tiles.bounds
    meets = (b[:, 0] <= x1) & (b[:, 2] >= x0) & (b[:, 1] <= y1) & (b[:, 3] >= y0)
    found: list[np.ndarray] = []
    total, budget = 0, max(0, int(budget))
    for depth in np.unique(tiles.level[meets]):
        ids = _gather(tiles, np.flatnonzero(meets & (tiles.level == depth)))
        px, py = coords[ids, 0], coords[ids, 1]
        inside = (px >= x0) & (px <= x1) & (py >= y0) & (py <= y1)
        if keep is not None:
            inside &= keep[ids]
        ids = ids[inside].astype(np.int64)
        if total + len(ids) > budget:
            pick = np.random.default_rng(seed).choice(len(ids), budget - total, replace=False)
            found.append(ids[np.sort(pick)])
            return np.concatenate(found), False
        found.append(ids)
        total += len(ids)
    return (np.concatenate(found) if found else np.empty(0, dtype=np.int64)), True


def draw_order(ids: np.ndarray, grey: np.ndarray) -> np.ndarray:
    """``ids`` (int64) with the grey books (other, unknown; ``grey`` by book id) first, so they hide no coloured
    one; otherwise in the given order."""
    ids = np.asarray(ids, dtype=np.int64)
    return np.concatenate([ids[grey[ids]], ids[~grey[ids]]])


def view_payload(coords: np.ndarray, codes: np.ndarray, ids: np.ndarray) -> dict:
    """The point renderer's ``xy``, ``ids`` and ``codes`` (bytes, as ``mapviz.point_payload``) of the books ``ids``,
    in that order; ``codes`` are the group codes by book id."""
    ids = np.asarray(ids, dtype=np.int64)
    return {"xy": np.ascontiguousarray(coords[ids], dtype=np.float32).tobytes(),
            "ids": ids.astype(np.int32).tobytes(), "codes": np.ascontiguousarray(codes[ids]).tobytes()}


def in_box(coords: np.ndarray, box, keep: np.ndarray | None = None) -> np.ndarray:
    """Ids (int64, ascending) of every book inside ``box`` (x0, y0, x1, y1; edges included), and in ``keep``."""
    x0, y0, x1, y1 = (float(v) for v in box)
    mask = (coords[:, 0] >= x0) & (coords[:, 0] <= x1) & (coords[:, 1] >= y0) & (coords[:, 1] <= y1)
    if keep is not None:
        mask &= keep
    return np.flatnonzero(mask)


def density(coords: np.ndarray, extent, size: int = DENSITY_SIZE) -> np.ndarray:
    """A log-scaled 2-D histogram of every book: uint8, shape (size, size), row 0 the top (largest y).

    0 where no book lies, 1 to 255 growing with the log of a cell's count; ``extent`` (x0, y0, x1, y1)
    is the raster's frame. Books outside it or not finite are left out.
    """
    x0, y0, x1, y1 = (float(v) for v in extent)
    counts = np.zeros(size * size, dtype=np.int64)
    for at in range(0, len(coords), _CHUNK):
        part = np.asarray(coords[at: at + _CHUNK], dtype=np.float64)
        col = np.floor((part[:, 0] - x0) / (x1 - x0) * size)
        row = np.floor((y1 - part[:, 1]) / (y1 - y0) * size)
        col[col == size] = size - 1  # the right and bottom edges belong to the last cells
        row[row == size] = size - 1
        ok = (col >= 0) & (col < size) & (row >= 0) & (row < size)
        counts += np.bincount((row[ok] * size + col[ok]).astype(np.int64), minlength=size * size)
    out = np.zeros(size * size, dtype=np.uint8)
    if counts.max() > 0:
        seen = counts > 0
        out[seen] = np.clip(np.rint(1 + 254 * np.log1p(counts[seen]) / np.log1p(counts.max())), 1, 255)
    return out.reshape(size, size)


def coords_checksum(coords: np.ndarray) -> str:
    """SHA-1 of the coordinates as contiguous float32: what ties cached tiles to their map."""
    return hashlib.sha1(np.ascontiguousarray(coords, dtype=np.float32).data).hexdigest()  # hashed in place, no copy


@dataclass(frozen=True)
class MapTiles:
    """A map's tiles and its density raster (``tiles_for``)."""

    tiles: Tiles
    density: np.ndarray


def _save(value: MapTiles, path) -> None:
    from pathlib import Path

    from bookembed.folderfiles import save_npz

    t = value.tiles  # each array aligned in the file, so a fresh server maps the tiles rather than reading them
    save_npz(Path(path), {"order": t.order, "level": t.level, "bounds": t.bounds, "start": t.start, "count": t.count,
                          "extent": t.extent, "density": value.density})


def _load(n: int):
    def load(path, info: dict) -> MapTiles:  # noqa: ARG001 - the protocol's signature
        from bookembed.errors import ModelFolderError
        from bookembed.folderfiles import map_npz

        try:
            z = map_npz(path, "tiles")  # memory-mapped: a view touches only its tiles' part of ``order``
        except ModelFolderError as err:
            raise ValueError(str(err)) from None
        if z is None:  # a compressed file, written by hand: read whole
            with np.load(path, allow_pickle=False) as f:
                z = {k: f[k] for k in f.files}
        tiles = Tiles(z["order"], z["level"], z["bounds"], z["start"], z["count"], z["extent"])
        raster = z["density"]
        if tiles.n != n or int(tiles.count.sum()) != n or tiles.bounds.shape != (len(tiles.level), 4):
            raise ValueError("tiles of another map")
        return MapTiles(tiles, raster)

    return load


def tiles_for(model, projection: str, coords: np.ndarray, capacity: int = CAPACITY) -> MapTiles:
    """The tiles and density raster of a model's map, from its folder or built and kept there.

    ``projection`` is the projection's cache key; the entry is also checked
    against the coordinates' checksum, so tiles of an older map are rebuilt.
    """
    coords = np.asarray(coords)
    checksum = coords_checksum(coords)

    def compute():
        tiles = build_tiles(coords, capacity=capacity)
        return MapTiles(tiles, density(coords, tiles.extent)), {
            "projection": projection, "coords": checksum, "books": len(coords), "capacity": capacity,
            "tiles": len(tiles.level), "levels": int(tiles.level.max()) + 1 if len(tiles.level) else 0}

    def check(info: dict) -> str | None:
        if info.get("coords") != checksum or info.get("capacity") != capacity:
            return "made from another map"
        return None

    key = f"{projection}-c{capacity}"
    entry, _ = model.cached(TILES, key, compute, _save, _load(len(coords)), check=check)
    return entry.value
