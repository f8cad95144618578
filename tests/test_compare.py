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
