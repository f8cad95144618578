"""Comparing two models: a model with itself, a rotated copy, a noisy copy, partial overlap, sampling."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bookembed import compare as cmp
from bookembed.store import load_model_folder
from test_clusters import save_folder

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "models" / "demo"


@pytest.fixture(scope="module")
def demo():
    if not DEMO.is_dir():
        pytest.skip("no shipped demo model")
    return load_model_folder(DEMO)  # read only


def copy_of(model, path: Path, vectors: np.ndarray, keep: np.ndarray | None = None, order: np.ndarray | None = None):
    """A folder holding some of ``model``'s books (in another order) with other vectors."""
    ids = np.arange(model.n_books) if keep is None else np.asarray(keep)
    if order is not None:
        ids = ids[order]
    new_id = np.full(model.n_books, -1)
    new_id[ids] = np.arange(len(ids))
    kept = new_id[model.pair_books] >= 0
    return load_model_folder(save_folder(
        path, model.books.iloc[ids].drop(columns=["n_links"]).reset_index(drop=True), model.links,
        new_id[model.pair_books[kept]], model.pair_links[kept], vectors[ids], model.link_vectors,
    ))


def random_rotation(dim: int, seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(dim, dim)))
    return q * np.sign(np.diag(r))


def test_a_model_compared_with_itself_agrees_completely(demo):
    result = cmp.compare_models(demo, demo)
    assert result.n_shared == demo.n_books and not result.sampled
    assert result.mean_overlap == 1.0
    assert result.vector_disparity == pytest.approx(0.0, abs=1e-9)
    hist = result.histogram()
    assert hist["books"].sum() == demo.n_books and hist["books"].iloc[-1] == demo.n_books
    assert (result.changed(demo.titles)["overlap"] == 1.0).all()


def test_a_rotated_reordered_copy_has_the_same_neighbourhoods(demo, tmp_path):
    rotated = demo.book_vectors @ random_rotation(demo.dim, 3).astype(np.float32) * 2.5
    order = np.random.default_rng(1).permutation(demo.n_books)
    other = copy_of(demo, tmp_path / "rotated", rotated, order=order)
    result = cmp.compare_models(demo, other)
    assert result.n_shared == demo.n_books
    assert result.mean_overlap > 0.99  # float32 rounding may swap two near-equal neighbours
    assert result.vector_disparity < 1e-6
    assert [other.titles[j] for j in result.ids_b] == [demo.titles[i] for i in result.ids_a]


def test_noise_lowers_overlap_and_the_most_changed_come_first(demo, tmp_path):
    rng = np.random.default_rng(0)
    noisy = demo.book_vectors + rng.normal(scale=float(demo.book_vectors.std()) * 0.8, size=demo.book_vectors.shape)
    other = copy_of(demo, tmp_path / "noisy", noisy.astype(np.float32))
    result = cmp.compare_models(demo, other)
    assert 0.0 < result.mean_overlap < 0.9
    assert result.vector_disparity > 0.05
    changed = result.changed(demo.titles, n=15)
    assert list(changed["overlap"]) == sorted(changed["overlap"])
    assert changed["overlap"].iloc[0] == result.overlap.min()
    row = changed.iloc[0]
    k = result.k
    assert len(row["only_in_a"]) == min(5, round(k * (1 - row["overlap"])))
    assert not set(row["only_in_a"]) & set(row["only_in_b"])
    data = json.loads(json.dumps(result.to_dict(demo.titles)))
    assert data["mean_overlap"] == pytest.approx(result.mean_overlap, abs=1e-6)
    assert sum(data["histogram"].values()) == demo.n_books


def test_past_its_limit_the_alignment_is_fitted_on_a_sample_and_still_finds_a_rotation(demo, tmp_path, monkeypatch):
    """Above ``PROCRUSTES_MAX_ROWS`` shared books the vector alignment is fitted on a seeded sample: a rotated,
    reordered copy still aligns exactly, and a noisy one about as well as when every book is fitted."""
    rotated = demo.book_vectors @ random_rotation(demo.dim, 5).astype(np.float32)
    order = np.random.default_rng(2).permutation(demo.n_books)
    exact = copy_of(demo, tmp_path / "rotated", rotated, order=order)
    noisy = copy_of(demo, tmp_path / "noisy", rotated + np.random.default_rng(3).normal(
        scale=0.05, size=rotated.shape).astype(np.float32), order=order)
    whole = cmp.compare_models(demo, noisy).vector_disparity
    monkeypatch.setattr(cmp, "PROCRUSTES_MAX_ROWS", 100)
    assert cmp.compare_models(demo, exact).vector_disparity < 1e-6
    sampled = cmp.compare_models(demo, noisy).vector_disparity
    assert sampled != whole and abs(sampled - whole) < 0.5 * whole


def test_only_shared_titles_are_compared(demo, tmp_path):
    keep = np.arange(0, demo.n_books, 2)
    other = copy_of(demo, tmp_path / "half", demo.book_vectors, keep=keep)
    result = cmp.compare_models(demo, other)
    assert result.n_shared == len(keep) and result.n_b == len(keep)
    assert result.mean_overlap == 1.0  # same vectors, neighbours searched among the shared books


def test_sampling_reports_its_error(demo, tmp_path):
    rng = np.random.default_rng(5)
    noisy = (demo.book_vectors + rng.normal(scale=float(demo.book_vectors.std()), size=demo.book_vectors.shape))
    other = copy_of(demo, tmp_path / "noisy", noisy.astype(np.float32))
    full = cmp.compare_models(demo, other)
    sampled = cmp.compare_models(demo, other, max_books=150, seed=2)
    assert sampled.sampled and len(sampled.compared) == 150
    assert sampled.standard_error > 0
    assert abs(sampled.mean_overlap - full.mean_overlap) < 4 * sampled.standard_error
    assert full.standard_error == 0.0


def test_knn_rows_match_a_full_sort():
    rng = np.random.default_rng(0)
    unit = rng.normal(size=(300, 7)).astype(np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    rows = np.array([0, 5, 299, 17])
    found = cmp.knn_rows(unit, rows, 6, block=3)
    for r, got in zip(rows, found):
        sims = unit @ unit[r]
        sims[r] = -np.inf
        assert list(got) == list(np.argsort(-sims, kind="stable")[:6])


def test_maps_align_up_to_rotation_scale_and_shift():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 2))
    angle = 0.7
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    b = np.vstack([a @ rot * 3.0 + [5.0, -2.0], rng.normal(size=(3, 2))])  # B has 3 books A lacks
    ids = np.arange(50)
    aligned, disparity = cmp.align_maps(a, b, ids, ids)
    assert aligned.shape == (53, 2)
    assert disparity < 1e-10
    assert np.allclose(aligned[:50], a, atol=1e-5)
    _, worse = cmp.align_maps(a, rng.normal(size=(53, 2)), ids, ids)
    assert worse > 0.5


def test_vectors_of_different_lengths_are_padded():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(40, 5))
    fit = cmp.procrustes(a[:, :3], a)
    assert 0.0 < fit.disparity < 1.0
    assert cmp.procrustes(a, a).disparity == pytest.approx(0.0, abs=1e-12)


def test_models_without_shared_books_are_refused(demo, tmp_path):
    books = pd.DataFrame({"title": [f"Unrelated {i}" for i in range(6)], "primary_genre": ["x"] * 6})
    other = load_model_folder(save_folder(tmp_path / "other", books, ("a", "b"), np.arange(6), np.zeros(6),
                                          np.eye(6, 4), np.ones((2, 4))))
    with pytest.raises(cmp.CompareError, match="share 0 book title"):
        cmp.compare_models(demo, other)
    with pytest.raises(cmp.CompareError, match="k must be at least 1"):
        cmp.compare_models(demo, demo, k=0)


def test_cli_compares_a_model_with_itself(demo, tmp_path):
    import shutil

    from conftest import run_cli

    copy = tmp_path / "demo"
    shutil.copytree(DEMO, copy)  # --map writes a projection into the folder
    proc = run_cli("compare", copy, copy, "--map", "pca", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["shared"] == demo.n_books and data["mean_overlap"] == 1.0
    assert data["vector_disparity"] == pytest.approx(0, abs=1e-9)
    assert data["map_disparity"] == pytest.approx(0, abs=1e-9)
    assert data["histogram"]["10/10"] == demo.n_books
    proc = run_cli("compare", copy, copy, cwd=tmp_path)
    assert proc.returncode == 0 and "mean overlap of the 10 nearest neighbours: 1.000" in proc.stdout


def test_cli_names_a_missing_folder(tmp_path):
    from conftest import assert_one_line_error, run_cli

    assert_one_line_error(run_cli("compare", DEMO, tmp_path / "nowhere", cwd=tmp_path), "nowhere")


def test_a_selection_crosses_to_the_other_model_by_title(demo, tmp_path):
    keep = np.arange(0, demo.n_books, 2)
    order = np.random.default_rng(4).permutation(len(keep))
    other = copy_of(demo, tmp_path / "half", demo.book_vectors, keep=keep, order=order)
    chosen = [0, 1, 2, 3]
    found = cmp.same_books(demo, other, chosen)
    assert [other.titles[j] for j in found] == [demo.titles[i] for i in (0, 2)]  # odd ids are not in B
    assert list(cmp.same_books(other, demo, found)) == [0, 2]


# --- Exact behaviour on small hand-made inputs -----------------------------------------------------------------------


def tiny_folder(path: Path, titles, vectors):
    """A model folder of a few books with the given titles and vectors (each book linking to one of two links)."""
    n = len(titles)
    books = pd.DataFrame({"title": list(titles), "primary_genre": ["x"] * n})
    return load_model_folder(save_folder(path, books, ("a", "b"), np.arange(n), np.arange(n) % 2,
                                         np.asarray(vectors, np.float32), np.ones((2, np.shape(vectors)[1]))))


def full_sort(vectors: np.ndarray, r: int, k: int) -> list[int]:
    """The k rows most similar to row r by dot product (computed in float64), ties by index, r left out."""
    v = np.asarray(vectors, np.float64)
    sims = v @ v[r]
    sims[r] = -np.inf
    return list(np.argsort(-sims, kind="stable")[:k])


def test_knn_rows_accept_every_k_from_1_to_n_minus_1_and_name_the_range_otherwise():
    rng = np.random.default_rng(2)
    unit = rng.normal(size=(9, 4)).astype(np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    rows = np.arange(9)
    for k in (1, 8):
        found = cmp.knn_rows(unit, rows, k)
        assert found.shape == (9, k)
        assert [list(f) for f in found] == [full_sort(unit, r, k) for r in rows]
    for k in (0, 9, 10):
        with pytest.raises(ValueError) as err:
            cmp.knn_rows(unit, rows, k)
        assert str(err.value) == f"k must be between 1 and 8, got {k}"


def test_knn_rows_cover_every_row_whatever_the_block():
    rng = np.random.default_rng(3)
    unit = rng.normal(size=(40, 5)).astype(np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    rows = np.array([7, 0, 39, 12, 5, 5, 30, 21, 2, 19, 33])
    for block in (1, 2, 4, 1024):
        found = cmp.knn_rows(unit, rows, 3, block=block)
        assert [list(f) for f in found] == [full_sort(unit, r, 3) for r in rows], block


def test_knn_rows_break_ties_by_index():
    # Small dyadic components: every dot product is exact, so the ties below are exact ties.
    base = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [1.0, 0.0], [0.0, 1.0]])
    for k in (1, 2, 3, 4, 5, 6):
        found = cmp.knn_rows(base, np.arange(len(base)), k)
        assert [list(f) for f in found] == [full_sort(base, r, k) for r in range(len(base))], k


def test_overlap_counts_shared_ids_per_row_and_names_mismatched_shapes():
    assert list(cmp.overlap(np.array([[1], [2]]), np.array([[1], [3]]))) == [1.0, 0.0]
    assert list(cmp.overlap(np.array([[1, 2, 3], [4, 5, 6]]), np.array([[3, 9, 1], [7, 8, 9]]))) == [2 / 3, 0.0]
    assert list(cmp.overlap(np.empty((3, 0), np.int64), np.empty((3, 0), np.int64))) == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError) as err:
        cmp.overlap(np.zeros((2, 3), np.int64), np.zeros((2, 2), np.int64))
    assert str(err.value) == "neighbour lists differ in shape: (2, 3) and (2, 2)"


def reference_fit(source: np.ndarray, target: np.ndarray):
    """Disparity and fitted source by the textbook recipe: centre, scale to unit size, rotate by the SVD, rescale."""
    s, t = source - source.mean(axis=0), target - target.mean(axis=0)
    t_norm = np.linalg.norm(t)
    s, t = s / np.linalg.norm(s), t / t_norm
    u, sv, vt = np.linalg.svd(s.T @ t)
    fitted = s @ (u @ vt) * sv.sum()
    return float(np.sum((fitted - t) ** 2)), fitted * t_norm + target.mean(axis=0)


@pytest.mark.parametrize("size", [0.001, 1.0, 1000.0])
def test_procrustes_matches_the_textbook_fit_at_any_size_and_offset(size):
    rng = np.random.default_rng(7)
    target = rng.normal(size=(30, 2)) * size + [40.0 * size, -25.0 * size]
    source = (target @ random_rotation(2, 1) + rng.normal(scale=0.5 * size, size=target.shape)) * 0.3 + 7.0 * size
    expected_disparity, expected_points = reference_fit(source, target)
    assert 0.05 < expected_disparity < 0.95
    fit = cmp.procrustes(source, target)
    assert fit.disparity == pytest.approx(expected_disparity, rel=1e-9)
    assert np.allclose(fit.apply(source), expected_points, rtol=1e-9, atol=1e-9 * size)
    aligned, disparity = cmp.align_maps(target, source, np.arange(30), np.arange(30))
    assert aligned.dtype == np.float32
    assert disparity == pytest.approx(expected_disparity, rel=1e-9)
    assert np.allclose(aligned, expected_points, rtol=1e-5, atol=1e-5 * size)


def test_float32_maps_far_from_the_origin_align_exactly():
    # Whole numbers up to 2**24 are exact in float32: the maps are exactly a quarter turn apart.
    points = np.array([[0, 0], [3, 1], [1, 4], [5, 2], [2, 2], [7, 1]], dtype=np.float64)
    quarter = np.array([[0.0, -1.0], [1.0, 0.0]])
    a = (points + 1e7).astype(np.float32)
    b = (points @ quarter + 1e7).astype(np.float32)
    assert cmp.procrustes(a, b).disparity == pytest.approx(0.0, abs=1e-12)
    assert cmp.procrustes(b, a).disparity == pytest.approx(0.0, abs=1e-12)
    ids = np.arange(len(points))
    aligned, disparity = cmp.align_maps(a, b, ids, ids)
    assert disparity == pytest.approx(0.0, abs=1e-12)
    assert np.array_equal(aligned, a)


def test_procrustes_disparity_stays_within_0_and_1():
    for seed in range(20):
        target = np.random.default_rng(seed).normal(size=(7, 3))
        fit = cmp.procrustes(np.ones((7, 3)), target)  # every source point in one place: nothing is explained
        assert 0.0 <= fit.disparity <= 1.0
        assert fit.disparity == pytest.approx(1.0, abs=1e-12)


def test_procrustes_needs_two_matched_points_and_says_so():
    two = cmp.procrustes(np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[0.0, 0.0], [0.0, 2.0]]))
    assert two.disparity == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(cmp.CompareError) as err:
        cmp.procrustes(np.zeros((1, 2)), np.zeros((1, 2)))
    assert str(err.value) == "a Procrustes fit needs at least 2 shared points, got 1"
    with pytest.raises(ValueError) as err:
        cmp.procrustes(np.zeros((3, 2)), np.zeros((4, 2)))
    assert str(err.value) == "3 source rows for 4 target rows"


def test_no_shared_books_give_empty_int_ids(demo, tmp_path):
    other = tiny_folder(tmp_path / "other", [f"Unrelated {i}" for i in range(4)], np.eye(4, 3))
    ids_a, ids_b = cmp.shared_books(demo, other)
    assert ids_a.dtype == np.int64 and ids_b.dtype == np.int64
    assert len(ids_a) == 0 and len(ids_b) == 0
    found = cmp.same_books(demo, other, [0, 1, 2])
    assert found.dtype == np.int64 and len(found) == 0


def test_three_shared_books_are_enough_and_k_is_lowered_to_two(tmp_path):
    rng = np.random.default_rng(0)
    a = tiny_folder(tmp_path / "a", ["x", "y", "z", "only a"], rng.normal(size=(4, 3)))
    b = tiny_folder(tmp_path / "b", ["q", "z", "y", "x"], rng.normal(size=(4, 3)))
    result = cmp.compare_models(a, b)
    assert result.n_shared == 3 and result.k == 2
    assert result.mean_overlap == 1.0  # among three books each has the other two as neighbours
    assert (result.name_a, result.name_b, result.n_a, result.n_b) == (str(a.path), str(b.path), 4, 4)
    one = cmp.compare_models(a, b, k=1)
    assert one.k == 1 and one.neighbours_a.shape == (3, 1)
    c = tiny_folder(tmp_path / "c", ["x", "y", "w"], rng.normal(size=(3, 3)))
    with pytest.raises(cmp.CompareError) as err:
        cmp.compare_models(a, c)
    assert str(err.value) == f"{a.path} and {c.path} share 2 book title(s); at least 3 are needed to compare them"


def test_compare_defaults_and_names(demo, tmp_path):
    other = copy_of(demo, tmp_path / "same", demo.book_vectors)
    result = cmp.compare_models(demo, other)
    assert result.k == 10  # the documented default
    assert (result.name_a, result.name_b) == (str(demo.path), str(other.path))
    assert (result.n_a, result.n_b) == (demo.n_books, other.n_books)


def test_rescaling_books_changes_nothing(demo, tmp_path):
    # Cosine neighbours and the disparity of unit vectors ignore each vector's length.
    factors = np.random.default_rng(6).uniform(0.05, 20.0, size=(demo.n_books, 1)).astype(np.float32)
    other = copy_of(demo, tmp_path / "scaled", demo.book_vectors * factors)
    result = cmp.compare_models(demo, other)
    assert result.mean_overlap > 0.99
    assert result.vector_disparity < 1e-6


def test_a_sample_is_reproducible_without_repeats_and_its_error_is_the_finite_population_one(demo, tmp_path):
    rng = np.random.default_rng(5)
    noisy = demo.book_vectors + rng.normal(scale=float(demo.book_vectors.std()), size=demo.book_vectors.shape)
    other = copy_of(demo, tmp_path / "noisy", noisy.astype(np.float32))
    n = demo.n_books
    for m in (150, n - 1):
        first = cmp.compare_models(demo, other, max_books=m)
        assert len(np.unique(first.compared)) == m and list(first.compared) == sorted(first.compared)
        assert np.array_equal(first.compared, cmp.compare_models(demo, other, max_books=m, seed=0).compared)
        again = cmp.compare_models(demo, other, max_books=m, seed=3)
        assert np.array_equal(again.compared, cmp.compare_models(demo, other, max_books=m, seed=3).compared)
        shares = first.overlap
        variance = np.sum((shares - shares.mean()) ** 2) / (m - 1)
        assert first.standard_error == pytest.approx(np.sqrt(variance / m * (n - m) / n), rel=1e-9)
    whole = cmp.compare_models(demo, other, max_books=n)
    assert not whole.sampled and whole.standard_error == 0.0


def hand_made(n: int = 24) -> tuple[cmp.Comparison, list[str]]:
    """n shared books at positions 0..n-1; the first half keep both neighbours, the second half keep one."""
    pos = np.arange(n)
    na = np.stack([(pos + 1) % n, (pos + 2) % n], axis=1)
    nb = np.where(pos[:, None] < n // 2, na, np.stack([(pos + 1) % n, (pos + 3) % n], axis=1))
    shares = np.where(pos < n // 2, 1.0, 0.5)
    ids_a, ids_b = pos + 100, n - 1 - pos
    titles = {int(i): f"t{p}" for p, i in zip(pos, ids_a)}
    result = cmp.Comparison("A", "B", n + 5, n + 1, ids_a, ids_b, 2, pos, shares, na, nb, 0.1234564321, 0.98765432)
    return result, titles


def test_histogram_has_a_row_for_every_overlap_from_0_to_k():
    result, _ = hand_made()
    hist = cmp.Comparison(*[getattr(result, f) for f in ("name_a", "name_b", "n_a", "n_b", "ids_a", "ids_b")], 4,
                          np.arange(3), np.array([0.0, 0.25, 0.25]), np.zeros((3, 4)), np.zeros((3, 4)), 0.0,
                          0.0).histogram()
    assert list(hist.columns) == ["overlap", "books"]
    assert list(hist["overlap"]) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert list(hist["books"]) == [1, 2, 0, 0, 0]


def test_changed_lists_the_lowest_overlaps_first_with_titles_ids_and_the_differing_neighbours():
    result, titles = hand_made(24)
    table = result.changed(titles)
    assert list(table.columns) == ["title", "overlap", "only_in_a", "only_in_b", "id_a", "id_b"]
    assert len(table) == 20  # the documented default
    expected = list(range(12, 24)) + list(range(0, 8))  # overlap 1/2 first, then by position
    assert list(table["title"]) == [f"t{p}" for p in expected]
    assert list(table["id_a"]) == [p + 100 for p in expected]
    assert list(table["id_b"]) == [23 - p for p in expected]
    assert list(table["overlap"]) == [0.5] * 12 + [1.0] * 8
    assert list(table["only_in_a"]) == [[f"t{(p + 2) % 24}"] for p in range(12, 24)] + [[]] * 8
    assert list(table["only_in_b"]) == [[f"t{(p + 3) % 24}"] for p in range(12, 24)] + [[]] * 8
    assert len(result.changed(titles, n=30)) == 24
    empty = result.changed(titles, n=0)
    assert len(empty) == 0
    assert list(empty.columns) == ["title", "overlap", "only_in_a", "only_in_b", "id_a", "id_b"]


def test_to_dict_gives_every_documented_field_rounded_to_six_places():
    result, titles = hand_made(24)
    data = result.to_dict(titles)
    changed = [{"title": f"t{p}", "overlap": 0.5, "only_in_a": [f"t{(p + 2) % 24}"], "only_in_b": [f"t{(p + 3) % 24}"]}
               for p in range(12, 22)]
    assert data == {
        "a": "A", "b": "B", "books_a": 29, "books_b": 25, "shared": 24, "k": 2, "compared": 24, "sampled": False,
        "mean_overlap": 0.75, "standard_error": 0.123456, "histogram": {"0/2": 0, "1/2": 12, "2/2": 12},
        "vector_disparity": 0.987654, "changed": changed,
    }
    assert len(result.to_dict(titles, n_changed=3)["changed"]) == 3
    third = cmp.Comparison("A", "B", 3, 3, np.arange(3), np.arange(3), 3, np.arange(3), np.array([0.0, 0.0, 1 / 3]),
                           np.zeros((3, 3), np.int64), np.zeros((3, 3), np.int64), 0.0, 0.0)
    assert third.to_dict(["p", "q", "r"])["mean_overlap"] == 0.111111


def test_unit_rows_of_a_selection_are_the_unit_rows_and_leave_the_vectors_alone():
    vectors = np.random.default_rng(0).normal(size=(40, 6)).astype(np.float32)
    vectors[3] = 0.0  # a zero row stays zero
    before = vectors.copy()
    ids = np.array([5, 3, 39, 0, 5])
    got = cmp._unit_rows_of(vectors, ids, chunk=2)
    assert np.allclose(got, cmp._unit(vectors[ids])) and np.array_equal(vectors, before)
