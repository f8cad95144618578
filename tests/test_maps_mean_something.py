"""Maps that mean something: on planted clusters every projection keeps neighbours far better than random
coordinates, PCA is the PCA of the right rows, and faithfulness is what its definition says.

The planted data: 8 clusters of 40 books whose directions lie around a cone
(so cosine geometry separates them, and so do the first two principal
components of the unit rows), with a little noise in all 20 dimensions.
"""

from __future__ import annotations

import numpy as np
import pytest

from bookembed import projection as proj
from bookembed.vectors import unit_rows

N_CLUSTERS, PER_CLUSTER, DIM = 8, 40, 20


@pytest.fixture(scope="module")
def planted():
    rng = np.random.default_rng(0)
    angles = np.arange(N_CLUSTERS) * 2 * np.pi / N_CLUSTERS
    centres = np.zeros((N_CLUSTERS, DIM))
    centres[:, 0], centres[:, 1], centres[:, 2] = np.cos(angles), np.sin(angles), 0.6
    labels = np.repeat(np.arange(N_CLUSTERS), PER_CLUSTER)
    vectors = centres[labels] + rng.normal(0, 0.06, (len(labels), DIM))
    # lengths vary widely: only directions matter to cosine maps
    vectors *= rng.uniform(0.5, 20, (len(labels), 1))
    return vectors.astype(np.float32), labels


def same_cluster_share(coords, labels, k=10):
    """Mean share of each point's k nearest map neighbours that come from its own planted cluster."""
    near = proj.map_knn(coords, k)
    return float((labels[near] == labels[:, None]).mean())


def random_coords(n, dims, seed):
    return np.random.default_rng(seed).normal(size=(n, dims)).astype(np.float32)


SETTINGS = [
    proj.UMAPSettings(n_neighbors=15),
    proj.TSNESettings(n_iter=250),
    proj.PCASettings(),
    proj.UMAPSettings(dims=3),
    proj.PCASettings(dims=3),
]


@pytest.mark.parametrize("settings", SETTINGS, ids=proj.describe)
def test_each_projection_keeps_planted_neighbours_far_better_than_random_coordinates(planted, settings):
    vectors, labels = planted
    coords, info = proj.compute_projection(vectors, settings)
    assert coords.shape == (len(vectors), settings.dims) and np.isfinite(coords).all()
    baseline = [proj.faithfulness(vectors, random_coords(len(vectors), settings.dims, s)) for s in range(3)]
    # random coordinates keep about k / n = 10 / 319 of the neighbours
    assert max(baseline) < 0.06
    assert info["faithfulness"] == pytest.approx(proj.faithfulness(vectors, coords), abs=1e-12)
    assert info["faithfulness"] > 4 * max(baseline), (info["faithfulness"], baseline)
    # the clusters themselves survive: nearly all map neighbours come from the same cluster
    assert same_cluster_share(coords, labels) > 0.9
    assert max(same_cluster_share(random_coords(len(vectors), settings.dims, s), labels) for s in range(3)) < 0.25


def linear_residual(vectors, coords):
    """The share of the map's variance that no affine map of the vectors (raw rows and unit rows side by
    side) reproduces: least squares from [raw, unit, 1] to the coordinates. 0 for any linear projection
    such as PCA, of either row kind; well above 0 for a layout that bends space, as UMAP and t-SNE do."""
    features = np.hstack([np.asarray(vectors, np.float64), unit_rows(vectors).astype(np.float64),
                          np.ones((len(vectors), 1))])
    centred = np.asarray(coords, np.float64) - np.asarray(coords, np.float64).mean(axis=0)
    solution, *_ = np.linalg.lstsq(features, centred, rcond=None)
    return float(((centred - features @ solution) ** 2).sum() / (centred**2).sum())


@pytest.mark.parametrize("settings", [proj.PCASettings(), proj.PCASettings(normalize=False),
                                      proj.PCASettings(dims=3)], ids=proj.describe)
def test_a_pca_map_is_a_linear_image_of_the_vectors(planted, settings):
    """The measure below, on the one method that is linear: nothing is left over."""
    vectors, _ = planted
    coords, _ = proj.compute_projection(vectors, settings)
    assert linear_residual(vectors, coords) < 1e-8


@pytest.mark.parametrize("settings", [proj.UMAPSettings(n_neighbors=15), proj.UMAPSettings(dims=3),
                                      proj.TSNESettings(n_iter=250), proj.TSNESettings(dims=3, n_iter=250)],
                         ids=proj.describe)
def test_umap_and_tsne_maps_are_their_own_not_a_linear_projection(planted, settings):
    """A UMAP or t-SNE map keeps the clusters too (above), and so would PCA's: what tells them apart is
    that neither is a linear image of the vectors. On the planted clusters a tenth or more of each map's
    variance is out of reach of any affine map of the rows, where a linear projection leaves nothing."""
    vectors, labels = planted
    coords, info = proj.compute_projection(vectors, settings)
    assert coords.shape == (len(vectors), settings.dims)
    assert linear_residual(vectors, coords) > 0.03
    assert same_cluster_share(coords, labels) > 0.9
    if settings.method == "umap":
        assert info["extra"]["n_neighbors_used"] == 15
    else:
        assert info["extra"]["perplexity_used"] == settings.perplexity and info["extra"]["neighbours"] == "exact"


def test_a_map_that_scrambles_the_clusters_scores_low(planted):
    """Faithfulness tells a good map from the same map with its points shuffled."""
    vectors, labels = planted
    coords, info = proj.compute_projection(vectors, proj.PCASettings())
    shuffled = coords[np.random.default_rng(1).permutation(len(coords))]
    assert proj.faithfulness(vectors, shuffled) < info["faithfulness"] / 4
    assert same_cluster_share(shuffled, labels) < 0.25


# ---------------------------------------------------------------- PCA against scikit-learn


def sklearn_pca(x, dims):
    """Coordinates by scikit-learn, with the module's sign rule: each component's largest loading is positive."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=dims, svd_solver="full").fit(np.asarray(x, dtype=np.float64))
    comps = pca.components_
    signs = np.sign(comps[np.arange(dims), np.abs(comps).argmax(axis=1)])
    centred = np.asarray(x, dtype=np.float64) - pca.mean_
    return centred @ (comps * signs[:, None]).T, pca.explained_variance_ratio_


@pytest.mark.parametrize("dims", [2, 3])
def test_pca_with_normalize_is_the_pca_of_the_unit_rows(planted, dims):
    vectors, _ = planted
    coords, info = proj.compute_projection(vectors, proj.PCASettings(dims=dims, normalize=True))
    expected, ratio = sklearn_pca(unit_rows(vectors), dims)
    np.testing.assert_allclose(coords, expected, atol=1e-4)
    np.testing.assert_allclose(info["extra"]["explained_variance"], ratio, atol=1e-5)
    same, _ = proj.compute_projection(unit_rows(vectors), proj.PCASettings(dims=dims, normalize=False))
    np.testing.assert_allclose(coords, same, atol=1e-5)


@pytest.mark.parametrize("dims", [2, 3])
def test_pca_without_normalize_is_the_pca_of_the_raw_rows(planted, dims):
    vectors, _ = planted
    coords, info = proj.compute_projection(vectors, proj.PCASettings(dims=dims, normalize=False))
    expected, ratio = sklearn_pca(vectors, dims)
    np.testing.assert_allclose(coords, expected, rtol=1e-4, atol=1e-3 * np.abs(expected).max())
    np.testing.assert_allclose(info["extra"]["explained_variance"], ratio, atol=1e-5)
    # here the lengths dominate: the raw map is not the cosine map
    unit_map, _ = proj.compute_projection(vectors, proj.PCASettings(dims=dims, normalize=True))
    assert not np.allclose(coords / np.abs(coords).max(), unit_map / np.abs(unit_map).max(), atol=0.05)


def test_pca_of_fewer_components_than_dimensions_pads_with_zeros():
    vectors = np.random.default_rng(2).normal(size=(6, 2)).astype(np.float32)
    coords, info = proj.compute_projection(vectors, proj.PCASettings(dims=3, normalize=False))
    expected, _ = sklearn_pca(vectors, 2)
    np.testing.assert_allclose(coords[:, :2], expected, atol=1e-5)
    assert np.all(coords[:, 2] == 0)
    assert sum(info["extra"]["explained_variance"]) == pytest.approx(1.0, abs=1e-5)


# ---------------------------------------------------------------- faithfulness against its definition


def brute_faithfulness(vectors, coords, k):
    v = np.asarray(vectors, dtype=np.float64)
    u = v / np.linalg.norm(v, axis=1, keepdims=True)
    c = np.asarray(coords, dtype=np.float64)
    kept = []
    for i in range(len(v)):
        others = [j for j in range(len(v)) if j != i]
        space = sorted(others, key=lambda j: (-(u[i] @ u[j]), j))[:k]
        on_map = sorted(others, key=lambda j: (np.sum((c[i] - c[j]) ** 2), j))[:k]
        kept.append(len(set(space) & set(on_map)) / k)
    return float(np.mean(kept))


@pytest.mark.parametrize("seed, n, k", [(0, 40, 10), (1, 25, 3), (2, 12, 1), (3, 60, 7)])
def test_faithfulness_equals_its_definition(seed, n, k):
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, 5))
    coords = vectors[:, :2] + rng.normal(0, 0.3, (n, 2))  # a partly faithful map
    got = proj.faithfulness(vectors, coords, k)
    assert got == pytest.approx(brute_faithfulness(vectors, coords, k), abs=1e-12)
    assert 0 < got < 1


def test_faithfulness_lowers_k_for_tiny_models():
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(4, 3))
    assert proj.faithfulness(vectors, vectors[:, :2], 10) == pytest.approx(brute_faithfulness(vectors, vectors[:, :2], 3))
    assert proj.faithfulness(vectors[:1], vectors[:1, :2]) == 1.0


def test_map_knn_is_the_euclidean_nearest_others():
    rng = np.random.default_rng(6)
    coords = rng.normal(size=(50, 2))
    near = proj.map_knn(coords, 4)
    for i in range(50):
        d = np.sum((coords - coords[i]) ** 2, axis=1)
        d[i] = np.inf
        assert set(near[i]) == set(np.argsort(d)[:4])
    assert proj.map_knn(coords[:3], 10).shape == (3, 2)


def test_sampled_faithfulness_asking_everyone_is_exact_and_a_sample_brackets_it():
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(120, 5))
    coords = vectors[:, :2] + rng.normal(0, 0.4, (120, 2))
    exact = proj.faithfulness_report(vectors, coords, 5)
    assert exact["faithfulness"] == pytest.approx(brute_faithfulness(vectors, coords, 5), abs=1e-12)
    assert exact["k"] == 5 and exact["queries"] == 120 and exact["stderr"] == 0.0
    everyone = proj.faithfulness_report(vectors, coords, 5, max_exact=50, n_queries=500)
    assert everyone["faithfulness"] == pytest.approx(exact["faithfulness"], abs=1e-12)
    assert everyone["queries"] == 120 and everyone["stderr"] == 0.0
    z = []
    for seed in range(30):
        got = proj.faithfulness_report(vectors, coords, 5, max_exact=50, n_queries=30, seed=seed)
        assert got["queries"] == 30 and got["stderr"] > 0 and got["k"] == 5
        assert got["faithfulness"] * 150 == pytest.approx(round(got["faithfulness"] * 150), abs=1e-9)
        z.append((got["faithfulness"] - exact["faithfulness"]) / got["stderr"])
    assert abs(np.mean(z)) < 0.7 and np.mean(np.abs(z) < 2) >= 0.8
    # a precomputed neighbour list is used as given (here a wrong one, to show it is read)
    wrong = np.tile(np.arange(6), (120, 1))
    assert proj.faithfulness_report(vectors, coords, 5, knn=wrong)["faithfulness"] != exact["faithfulness"]
    tiny = proj.faithfulness_report(vectors[:1], coords[:1], 5)
    assert tiny == {"faithfulness": 1.0, "k": 0, "queries": 1, "stderr": 0.0}


def test_sampled_faithfulness_error_is_the_finite_population_standard_error():
    """Leave one book out: find which one from the mean, then the error follows exactly."""
    rng = np.random.default_rng(8)
    vectors = rng.normal(size=(40, 5))
    coords = vectors[:, :2] + rng.normal(0, 0.5, (40, 2))
    exact = proj.faithfulness_report(vectors, coords, 4)
    space = proj.cosine_knn(vectors, 5)[0][:, 1:]
    shares = proj.neighbour_overlap(space, proj.map_knn(coords, 4))
    assert exact["faithfulness"] == pytest.approx(shares.mean(), abs=1e-12)
    got = proj.faithfulness_report(vectors, coords, 4, max_exact=10, n_queries=39, seed=5)
    assert got["queries"] == 39
    fpc = np.sqrt(1 - 39 / 40)
    options = [np.delete(shares, i).std(ddof=1) / np.sqrt(39) * fpc for i in range(40)
               if np.isclose(np.delete(shares, i).mean(), got["faithfulness"], atol=1e-12)]
    assert options and any(got["stderr"] == pytest.approx(e, rel=1e-9) for e in options)
    # defaults: seed 0, and exactly max_exact books are still all scored
    assert got == proj.faithfulness_report(vectors, coords, 4, max_exact=10, n_queries=39, seed=5)
    assert proj.faithfulness_report(vectors, coords, 4, max_exact=10, n_queries=20) == \
        proj.faithfulness_report(vectors, coords, 4, max_exact=10, n_queries=20, seed=0)
    assert proj.faithfulness_report(vectors, coords, 4, max_exact=40, n_queries=5)["queries"] == 40
    for seed in range(5):  # every book asked, whatever the seed: the exact figure
        every = proj.faithfulness_report(vectors, coords, 4, max_exact=10, n_queries=40, seed=seed)
        assert every["faithfulness"] == pytest.approx(exact["faithfulness"], abs=1e-12)


def test_faithfulness_reads_a_given_neighbour_list_and_survives_stacked_duplicates():
    rng = np.random.default_rng(9)
    vectors = rng.normal(size=(30, 4))
    coords = vectors[:, :2].copy()
    wrong = np.tile(np.arange(6), (30, 1))
    assert proj.faithfulness(vectors, coords, 5, knn=wrong) != proj.faithfulness(vectors, coords, 5)
    # five books on one map point: a KD-tree may leave a book's own point out of its k + 1 nearest
    stacked = np.repeat(rng.normal(size=(8, 2)), 5, axis=0)
    spread = np.repeat(rng.normal(size=(8, 4)), 5, axis=0) + rng.normal(0, 1e-3, (40, 4))
    report = proj.faithfulness_report(spread, stacked, 2)
    # each book's 2 nearest in space are 2 of its 4 twins, and so are its 2 nearest on the map
    assert report["faithfulness"] >= 0.0 and report["queries"] == 40
    assert proj.map_knn(stacked, 2).shape == (40, 2)
    assert all(set(row) <= set(range(5 * (i // 5), 5 * (i // 5) + 5)) - {i} for i, row in
               enumerate(proj.map_knn(stacked, 2)))


def test_pca_of_identical_rows_explains_nothing_and_rounds_to_six_places(planted):
    coords, info = proj.compute_projection(np.ones((5, 4)), proj.PCASettings(normalize=False))
    assert np.allclose(coords, 0) and info["extra"]["explained_variance"] == [0.0, 0.0]
    _, info = proj.compute_projection(planted[0], proj.PCASettings(dims=3))
    assert all(v == round(v, 6) for v in info["extra"]["explained_variance"])
    assert any(v != round(v, 5) for v in info["extra"]["explained_variance"])


def test_overlap_edges_and_a_one_book_sample():
    assert proj.neighbour_overlap(np.zeros((3, 0), int), np.zeros((3, 0), int)).tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match=r"^neighbour lists differ in shape: \(2, 1\) and \(2, 2\)$"):
        proj.neighbour_overlap(np.zeros((2, 1), int), np.zeros((2, 2), int))
    rng = np.random.default_rng(10)
    vectors = rng.normal(size=(30, 4))
    one = proj.faithfulness_report(vectors, vectors[:, :2], 3, max_exact=5, n_queries=1, seed=2)
    assert one["queries"] == 1 and one["stderr"] == 0.0  # no spread from one book, and never NaN
    assert proj.faithfulness_report(vectors, vectors[:, :2], 3, max_exact=5, n_queries=12) == \
        proj.faithfulness_report(vectors, vectors[:, :2], 3, max_exact=5, n_queries=12, seed=0)
    assert any(proj.faithfulness_report(vectors, vectors[:, :2], 3, max_exact=5, n_queries=12, seed=s) !=
               proj.faithfulness_report(vectors, vectors[:, :2], 3, max_exact=5, n_queries=12, seed=0) for s in (1, 2))


@pytest.mark.parametrize("settings", [proj.TSNESettings(n_iter=250), proj.UMAPSettings(n_neighbors=15)],
                         ids=proj.describe)
def test_above_the_fit_limit_the_layout_is_fitted_on_a_sample_and_the_rest_placed_by_their_nearest(
        planted, settings, monkeypatch):
    """With the limit lowered to 120 of the 320 books: the layout sees a seeded sample of 120, and every
    other book sits at the mean position of its PLACE_K nearest sampled books (cosine), exactly."""
    from bookembed import projection_compute

    monkeypatch.setattr(projection_compute, "MAP_FIT_BOOKS", 120)
    vectors, labels = planted
    calls = []
    coords, info = proj.compute_projection(vectors, settings, progress=lambda f, s: calls.append((f, s)))
    assert info["fitted_books"] == 120 and info["extra"]["placed_by_nearest"] == proj.PLACE_K
    # the placing is reported, in its own stretch of the bar (after the layout's 55%, up to 90%)
    placing = [f for f, s in calls if s == "placing the other books by their nearest fitted books"]
    assert placing and placing[-1] == pytest.approx(0.9) and all(0.55 - 1e-9 <= f <= 0.9 + 1e-9 for f in placing)
    n = len(vectors)
    fitted = np.sort(np.random.default_rng(settings.seed).choice(n, 120, replace=False))
    rest = np.setdiff1d(np.arange(n), fitted)
    unit = unit_rows(vectors).astype(np.float64)
    sims = unit[rest] @ unit[fitted].T
    nearest = np.argsort(-sims, axis=1, kind="stable")[:, : proj.PLACE_K]
    np.testing.assert_allclose(coords[rest], coords[fitted][nearest].mean(axis=1), rtol=1e-5, atol=1e-5)
    # faithfulness is still measured on every book, and the clusters hold
    assert info["faithfulness_queries"] is None and same_cluster_share(coords, labels) > 0.9
