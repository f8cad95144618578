"""The point renderer's inputs, without a browser: its home view holds every book, far outliers included,
while Plotly's maps keep their robust range; cluster labels reach it as plain, well-formed values.
(tests/test_browser_points.py drives the renderer itself.)"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bookembed import mapviz
from bookembed.ui.map import label_args


def test_point_payload_home_view_holds_every_book_even_a_far_outlier():
    rng = np.random.default_rng(3)
    coords = rng.normal(size=(1000, 2))
    coords[417] = [60.0, -45.0]  # one book far from the rest, as UMAP leaves a book with few links
    books = pd.DataFrame({"title": [f"t{i}" for i in range(1000)], "primary_genre": ["a"] * 1000})
    (x0, x1), (y0, y1) = mapviz.point_payload(coords, books)["range"]
    for lo, hi, values in ((x0, x1, coords[:, 0]), (y0, y1, coords[:, 1])):
        span = values.max() - values.min()
        assert lo < values.min() and values.max() < hi  # every book inside, with a margin ...
        assert hi - lo < 1.15 * span  # ... a small one
    # Plotly's map still opens on the robust range, which leaves the outlier out
    assert mapviz.robust_range(coords[:, 0])[1] < 60.0 and mapviz.robust_range(coords[:, 1])[0] > -45.0


def test_full_range_of_one_value_or_none_is_still_a_range():
    lo, hi = mapviz.full_range(np.array([2.0, 2.0, np.nan]))
    assert lo < 2.0 < hi
    assert mapviz.full_range(np.array([])) == [-1.0, 1.0]


def test_label_args_are_plain_values_and_leave_out_what_cannot_be_placed():
    labels = [
        {"level": 1, "x": np.float32(1.5), "y": 2, "text": "<b>Fantasy</b>\nTolkien, Lewis", "weight": np.int64(40)},
        {"level": 0, "x": 0.0, "y": 0.0, "text": "  ", "weight": 1.0},  # nothing to show
        {"level": 0, "x": float("nan"), "y": 0.0, "text": "nowhere", "weight": 1.0},
        {"level": -2, "x": 3.0, "y": 4.0, "text": "no weight"},
    ]
    out = label_args(labels)
    assert out == [
        {"level": 1, "x": 1.5, "y": 2.0, "text": "<b>Fantasy</b>\nTolkien, Lewis", "weight": 40.0},
        {"level": 0, "x": 3.0, "y": 4.0, "text": "no weight", "weight": 1.0},
    ]
    assert all(type(v) in (int, float, str) for label in out for v in label.values())  # JSON as it is
    assert label_args(None) == []


def test_the_grey_books_are_exactly_those_of_the_other_and_unknown_groups():
    from bookembed.mapviz import OTHER, UNKNOWN, point_groups

    genres = ["a", "b", "a", None, "c", "d", "", "a", "b", "e"] * 3
    codes, groups, grey = point_groups(pd.DataFrame({"title": [str(i) for i in range(30)],
                                                     "primary_genre": pd.Series(genres, dtype="str")}), top_n=2)
    names = [g["name"] for g in groups]
    assert OTHER in names and UNKNOWN in names
    assert grey.tolist() == [names[c] in (OTHER, UNKNOWN) for c in codes]
    assert grey.sum() == sum(1 for g in genres if g not in ("a", "b"))


def test_labels_of_some_rows_are_those_rows_labels_whatever_the_other_columns():
    from bookembed.mapviz import label_rows, point_labels

    books = pd.DataFrame({"title": ["A", "B <b>", "C", "D"], "author": ["x", "", None, "y"],
                          "genre": ["g", "h", "", None], "year": pd.array([1900, None, 2001, 1850], dtype="Int64"),
                          "country": ["Russia", "", "France", None], "n_links": [3, 1, 2, 5], "other": list("abcd")})
    ids = np.array([3, 0, 2])
    assert point_labels(label_rows(books, ids)) == point_labels(books.iloc[ids])
    assert point_labels(label_rows(books[["title"]], ids)) == point_labels(books[["title"]].iloc[ids])


def test_each_book_is_coded_as_its_kept_value_or_other_or_unknown():
    rng = np.random.default_rng(5)
    pool = ["a", "b ", " b", "c", "", None, "d", "e", "f"]
    for n, top_n, only in ((0, 3, None), (1, 3, None), (50, 2, None), (50, 10, None), (50, 3, "c"), (50, 3, "zz")):
        values = [pool[i] for i in rng.integers(0, len(pool), n)]
        codes, groups = mapviz.category_codes(values, top_n, only)
        stripped = [("" if v is None else v.strip()) for v in values]
        counts = pd.Series([v for v in stripped if v]).value_counts()
        kept = ([only] if only in counts.index else []) if only is not None else \
            list(counts.sort_index(kind="stable").sort_values(ascending=False, kind="stable").index[:top_n])
        expected = [v if v in kept else mapviz.UNKNOWN if v == "" else mapviz.OTHER for v in stripped]
        assert [groups[c] for c in codes] == expected
        assert groups[:len(kept)] == kept and set(groups[len(kept):]) == set(expected) - set(kept)
        assert codes.dtype == np.uint8 and len(codes) == n  # a byte a book


def test_more_groups_than_a_byte_holds_are_coded_in_a_wider_type():
    values = [f"v{i % 300}" for i in range(900)] + ["", None]
    codes, groups = mapviz.category_codes(values, 400)
    assert len(groups) == 301 and codes.dtype == np.int64
    assert [groups[c] for c in codes] == [f"v{i % 300}" for i in range(900)] + [mapviz.UNKNOWN] * 2
