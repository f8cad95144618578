"""Projections, their cache in the model folder, faithfulness, saved views and the map figures."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from bookembed import mapviz
from bookembed import projection as proj
from bookembed.store import load_model_folder
from conftest import ROOT, WAIT_CEILING_S, make_fake_model


# ---------------------------------------------------------------- settings and keys


def test_settings_validate_and_reject_unknown_parameters():
    with pytest.raises(proj.ProjectionError, match="dims"):
        proj.UMAPSettings(dims=4)
    with pytest.raises(proj.ProjectionError, match="n_neighbors"):
        proj.UMAPSettings(n_neighbors=1)
    with pytest.raises(proj.ProjectionError, match="perplexity"):
        proj.TSNESettings(perplexity=0)
    with pytest.raises(proj.ProjectionError, match="n_neigbors"):
        proj.make_settings("umap", n_neigbors=5)
    with pytest.raises(proj.ProjectionError, match="unknown projection method"):
        proj.make_settings("mds")
    assert proj.make_settings("tsne", dims=3, perplexity=10) == proj.TSNESettings(dims=3, perplexity=10)


def test_keys_are_stable_and_differ_by_method_dims_and_params():
    a = proj.UMAPSettings()
    assert proj.projection_key(a) == proj.projection_key(proj.UMAPSettings())
    keys = {
        proj.projection_key(s)
        for s in (a, proj.UMAPSettings(dims=3), proj.UMAPSettings(min_dist=0.2), proj.TSNESettings(), proj.PCASettings(),
                  proj.PCASettings(normalize=False))
    }
    assert len(keys) == 6
    assert proj.projection_key(a).startswith("umap-2d-")
    assert proj.projection_key(proj.PCASettings(dims=3)).startswith("pca-3d-")
    assert "n_neighbors=15" in proj.describe(a)


# ---------------------------------------------------------------- neighbours and faithfulness


def _brute_knn(vectors, k):
    unit = proj.unit_rows(vectors)
    sims = unit @ unit.T
    np.fill_diagonal(sims, 2.0)
    return np.argsort(-sims, axis=1, kind="stable")[:, :k]


def test_cosine_knn_matches_brute_force_across_blocks():
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(523, 12)).astype(np.float32)
    found, dist = proj.cosine_knn(vectors, 11, block=100)
    assert found.shape == dist.shape == (523, 11)
    assert (found == _brute_knn(vectors, 11)).all()
    assert (found[:, 0] == np.arange(523)).all()
    assert (np.diff(dist, axis=1) >= -1e-6).all() and (dist[:, 0] == 0).all()


def test_cosine_knn_puts_each_row_first_even_with_a_twin():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(30, 5)).astype(np.float32)
    vectors[7] = vectors[3] * 2.5  # same direction: cosine 1
    found, _ = proj.cosine_knn(vectors, 3)
    assert found[3, 0] == 3 and found[3, 1] == 7
    assert found[7, 0] == 7 and found[7, 1] == 3


def test_map_knn_excludes_each_point_itself():
    coords = np.random.default_rng(1).normal(size=(200, 2))
    found = proj.map_knn(coords, 10)
    assert found.shape == (200, 10)
    assert not (found == np.arange(200)[:, None]).any()


def test_faithfulness_is_one_for_a_perfect_map_and_low_for_a_random_one():
    rng = np.random.default_rng(2)
    vectors = proj.unit_rows(rng.normal(size=(400, 3)))
    # On the unit sphere Euclidean order equals cosine order: a perfect 3-D "map".
    assert proj.faithfulness(vectors, vectors) == pytest.approx(1.0)
    assert proj.faithfulness(vectors, rng.normal(size=(400, 2))) < 0.2


def test_neighbour_overlap_counts_shared_ids():
    a = np.array([[1, 2, 3], [4, 5, 6]])
    b = np.array([[3, 2, 9], [7, 8, 9]])
    assert proj.neighbour_overlap(a, b).tolist() == pytest.approx([2 / 3, 0.0])


# ---------------------------------------------------------------- the cache in the model folder


def test_project_writes_npy_and_json_then_reads_the_cache(fake_model, monkeypatch):
    model = load_model_folder(fake_model)
    settings = proj.PCASettings()
    calls = []
    coords = proj.project(model, settings, progress=lambda f, s: calls.append((f, s)))
    assert coords.shape == (model.n_books, 2) and coords.dtype == np.float32
    key = proj.projection_key(settings)
    npy, meta = proj.projection_paths(fake_model, key)
    assert npy.is_file() and meta.is_file()
    info = json.loads(meta.read_text())
    assert {"key", "method", "dims", "params", "n_books", "created", "faithfulness"} <= set(info)
    assert info["key"] == key and info["method"] == "pca" and info["n_books"] == model.n_books
    assert 0.0 <= info["faithfulness"] <= 1.0
    assert calls and calls[-1][0] == 1.0
    assert not [p for p in npy.parent.iterdir() if p.name.startswith(".")]  # no temporary leftovers

    def boom(*args, **kwargs):
        raise AssertionError("recomputed a cached projection")

    monkeypatch.setattr(proj, "compute_projection", boom)
    fresh = load_model_folder(fake_model)  # as after a restart
    assert np.array_equal(proj.project(fresh, settings), coords)
    assert [p.key for p in proj.cached_projections(fresh)] == [key]


def test_a_projection_of_other_vectors_is_not_reused(tmp_path):
    path = make_fake_model(tmp_path / "m", seed=0)
    model = load_model_folder(path)
    proj.project(model, proj.PCASettings())
    key = proj.projection_key(proj.PCASettings())
    # Same folder, other vectors (e.g. copied projections from another model).
    other = make_fake_model(tmp_path / "other", seed=5)
    npy, meta = proj.projection_paths(path, key)
    target_npy, target_meta = proj.projection_paths(other, key)
    target_npy.parent.mkdir()
    target_npy.write_bytes(npy.read_bytes())
    target_meta.write_bytes(meta.read_bytes())
    assert proj.load_projection(load_model_folder(other), proj.PCASettings()) is None


def test_damaged_cache_files_are_ignored(fake_model):
    model = load_model_folder(fake_model)
    proj.project(model, proj.PCASettings())
    npy, meta = proj.projection_paths(fake_model, proj.projection_key(proj.PCASettings()))
    npy.write_bytes(b"not an array")
    assert proj.load_projection(model, proj.PCASettings()) is None
    assert proj.project(model, proj.PCASettings()).shape == (model.n_books, 2)  # recomputed
    meta.write_text("{broken")
    assert proj.projection_info(model, proj.PCASettings()) is None


@pytest.mark.parametrize("settings", [proj.PCASettings(dims=3), proj.PCASettings(normalize=False)])
def test_pca_variants(fake_model, settings):
    model = load_model_folder(fake_model)
    coords = proj.project(model, settings)
    assert coords.shape == (model.n_books, settings.dims)
    assert np.isfinite(coords).all()


def test_pca_is_deterministic():
    vectors = np.random.default_rng(0).normal(size=(100, 6))
    a, _ = proj.compute_projection(vectors, proj.PCASettings())
    b, _ = proj.compute_projection(vectors.copy(), proj.PCASettings())
    assert np.array_equal(a, b)


def test_umap_cosine_projection_of_a_small_model(fake_model):
    model = load_model_folder(fake_model)
    stages = []
    coords = proj.project(model, proj.UMAPSettings(n_neighbors=8), progress=lambda f, s: stages.append(s))
    assert coords.shape == (model.n_books, 2) and np.isfinite(coords).all()
    assert any("nearest neighbours" in s for s in stages)
    assert proj.projection_info(model, proj.UMAPSettings(n_neighbors=8))["faithfulness"] > 0


@pytest.mark.parametrize("dims", [2, 3])
def test_tsne_projection_of_a_small_model(fake_model, dims):
    model = load_model_folder(fake_model)
    coords = proj.project(model, proj.TSNESettings(dims=dims, perplexity=30, n_iter=100))
    assert coords.shape == (model.n_books, dims) and np.isfinite(coords).all()
    # perplexity above (n - 1) / 3 is lowered rather than failing
    assert proj.projection_info(model, proj.TSNESettings(dims=dims, perplexity=30, n_iter=100))["extra"][
        "perplexity_used"] <= (model.n_books - 1) / 3


def test_clustered_books_stay_together_on_the_map():
    rng = np.random.default_rng(4)
    centres = rng.normal(size=(4, 20)) * 5
    labels = np.repeat(np.arange(4), 50)
    vectors = centres[labels] + rng.normal(size=(200, 20))
    coords, info = proj.compute_projection(vectors, proj.PCASettings())
    # the nearest point on the map is in the same cluster for nearly every book
    nearest = proj.map_knn(coords, 1)[:, 0]
    assert (labels[nearest] == labels).mean() > 0.9
    assert info["faithfulness"] > 0.1


def test_too_few_books_is_a_clear_error():
    with pytest.raises(proj.ProjectionError, match="at least 3 books"):
        proj.compute_projection(np.ones((2, 4)), proj.PCASettings())


# ---------------------------------------------------------------- the cache's sidecar, its checks and its listing


def _fake_compute(coords, extra_info, seen_progress):
    """A stand-in for ``compute_projection``: fixed coordinates and facts, one progress report of its own."""

    def compute(vectors, settings, progress=None):
        seen_progress.append(progress is not None)
        if progress:
            progress(0.5, "computing")
        return coords.copy(), dict(extra_info)

    return compute


def test_project_keeps_what_was_computed_in_its_sidecar_and_reports_its_stages(fake_model, monkeypatch):
    import os
    import time
    from datetime import datetime

    model = load_model_folder(fake_model)
    settings = proj.PCASettings(dims=3)
    coords = np.arange(model.n_books * 3, dtype=np.float32).reshape(model.n_books, 3)
    facts = {"faithfulness": 0.5, "faithfulness_k": 7, "faithfulness_queries": 33, "faithfulness_stderr": 0.0125,
             "fitted_books": 44, "seconds": 1.23456, "extra": {"note": "made up"}}
    seen = []
    monkeypatch.setattr(proj, "compute_projection", _fake_compute(coords, facts, seen))
    # a local time far from UTC (a POSIX rule, no time zone database needed): "created" must still be UTC,
    # as its "Z" says
    was = os.environ.get("TZ")
    monkeypatch.setenv("TZ", "BKT-5:45")
    time.tzset()
    try:
        calls = []
        before = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        got = proj.project(model, settings, progress=lambda f, s: calls.append((f, s)))
        after = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    finally:
        if was is None:
            monkeypatch.delenv("TZ")
        else:
            monkeypatch.setenv("TZ", was)
        time.tzset()
    assert seen == [True]  # the caller's progress reaches the computation
    assert calls == [(0.5, "computing"), (0.99, "saving to the model folder"), (1.0, "done")]
    assert np.array_equal(got, coords)
    key = proj.projection_key(settings)
    info = json.loads(proj.projection_paths(fake_model, key)[1].read_text())
    created = info.pop("created")
    datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ")
    assert before <= created <= after
    assert info == {"key": key, "method": "pca", "dims": 3, "params": {"dims": 3, "normalize": True},
                    "n_books": model.n_books, "faithfulness": 0.5, "faithfulness_k": 7, "faithfulness_queries": 33,
                    "faithfulness_stderr": 0.0125, "fitted_books": 44, "seconds": 1.235, "extra": {"note": "made up"},
                    "vectors": model.vectors_checksum}
    # read back as stored: float32, and no progress on a cache hit
    calls.clear()
    again = proj.project(load_model_folder(fake_model), settings, progress=lambda f, s: calls.append((f, s)))
    assert again.dtype == np.float32 and np.array_equal(again, coords) and calls == [] and seen == [True]
    loaded = proj.load_projection(load_model_folder(fake_model), settings)
    assert loaded.dtype == np.float32 and np.array_equal(loaded, coords)


def _spoil(path, key, *, info=None, coords=None):
    """Rewrites a cached projection's sidecar fields (keeping its vectors' checksum) or its coordinates."""
    npy, meta = proj.projection_paths(path, key)
    if info:
        meta.write_text(json.dumps({**json.loads(meta.read_text()), **info}))
    if coords is not None:
        with open(npy, "wb") as fh:
            np.save(fh, coords, allow_pickle=False)


@pytest.mark.parametrize("spoil, why", [
    ("n_books", "made from other vectors"),
    ("method", "unknown method or parameters"),
    ("params", "unknown method or parameters"),
    ("nan", "damaged, misshapen or not finite coordinates"),
    ("shape", "damaged, misshapen or not finite coordinates"),
    ("bool", "damaged, misshapen or not finite coordinates"),
])
def test_a_cached_projection_that_disagrees_with_the_model_is_ignored_with_its_reason(fake_model, monkeypatch,
                                                                                       spoil, why):
    model = load_model_folder(fake_model)
    settings = proj.PCASettings()
    first = proj.project(model, settings)
    key = proj.projection_key(settings)
    n = model.n_books
    if spoil == "n_books":
        _spoil(fake_model, key, info={"n_books": n + 1})
    elif spoil == "method":
        _spoil(fake_model, key, info={"method": "mds"})
    elif spoil == "params":
        _spoil(fake_model, key, info={"params": {"perplexity": 5}})
    elif spoil == "nan":
        bad = first.copy()
        bad[3, 1] = np.nan
        _spoil(fake_model, key, coords=bad)
    elif spoil == "shape":
        _spoil(fake_model, key, coords=np.zeros((n, 3), dtype=np.float32))
    else:
        _spoil(fake_model, key, coords=np.ones((n, 2), dtype=bool))
    fresh = load_model_folder(fake_model)
    notes = []
    assert proj.cached_projections(fresh, notes) == []
    assert notes == [f"note: ignored projection {key!r}: {why}"]
    assert proj.load_projection(fresh, settings) is None
    if spoil in ("n_books", "method", "params"):
        assert proj.projection_info(fresh, settings) is None
    if spoil in ("method", "params"):
        assert proj.settings_for_key(fresh, key) is None
    # project computes it again rather than trusting the entry
    replacement = np.full((n, 2), 7.0, dtype=np.float32)
    monkeypatch.setattr(proj, "compute_projection", _fake_compute(replacement, {
        "faithfulness": 0.25, "faithfulness_k": 10, "faithfulness_queries": None, "faithfulness_stderr": 0.0,
        "fitted_books": n, "seconds": 0.5, "extra": {}}, []))
    assert np.array_equal(proj.project(fresh, settings), replacement)
    assert proj.projection_info(load_model_folder(fake_model), settings)["n_books"] == n


def test_cached_projections_lists_each_usable_one_newest_first_with_its_settings_and_coordinates(fake_model):
    model = load_model_folder(fake_model)
    all_settings = [proj.PCASettings(), proj.PCASettings(dims=3), proj.PCASettings(normalize=False)]
    coords = {proj.projection_key(s): proj.project(model, s) for s in all_settings}
    by_key = {proj.projection_key(s): s for s in all_settings}
    first, second, last = sorted(by_key)
    # the first key the oldest, the second the newest, the last with no date at all (it goes last)
    _spoil(fake_model, first, info={"created": "2024-01-01T00:00:00Z"})
    _spoil(fake_model, second, info={"created": "2024-06-01T00:00:00Z"})
    meta = proj.projection_paths(fake_model, last)[1]
    info = json.loads(meta.read_text())
    del info["created"]
    meta.write_text(json.dumps(info))
    notes = []
    found = proj.cached_projections(load_model_folder(fake_model), notes)
    assert notes == []
    assert [p.key for p in found] == [second, first, last]
    for p in found:
        s = by_key[p.key]
        assert p.settings == s and (p.method, p.dims, p.params) == ("pca", s.dims, proj.settings_params(s))
        assert p.coords.dtype == np.float32 and np.array_equal(p.coords, coords[p.key])
        assert p.info["key"] == p.key and p.info["n_books"] == model.n_books


def test_settings_for_key_reads_the_sidecar_of_a_cached_projection(fake_model):
    model = load_model_folder(fake_model)
    settings = proj.PCASettings(dims=3, normalize=False)
    proj.project(model, settings)
    key = proj.projection_key(settings)
    assert proj.settings_for_key(model, key) == settings
    assert proj.settings_for_key(model, "pca-2d-notthere") is None
    _spoil(fake_model, key, info={"method": "mds"})
    assert proj.settings_for_key(model, key) is None
    proj.projection_paths(fake_model, key)[1].write_text("[1, 2]")  # JSON, but not an object
    assert proj.settings_for_key(model, key) is None


def test_the_faithfulness_sentence_says_what_was_measured_and_how():
    pca = proj.PCASettings()
    name = proj.describe(pca)
    assert proj.faithfulness_sentence({}, pca, 50) is None
    assert proj.faithfulness_sentence({"faithfulness": None, "seconds": 3}, pca, 50) is None
    sampled = {"faithfulness": 0.456, "faithfulness_k": 8, "faithfulness_queries": 5000, "faithfulness_stderr": 0.0123,
               "fitted_books": 1000, "n_books": 60000, "seconds": 1234.4}
    assert proj.faithfulness_sentence(sampled, pca, 50) == (
        f"{name} · faithfulness 46%: on average, 3.6 of each book's 8 nearest neighbours (cosine, in the 50-d space) "
        "are also among its 8 nearest on this map (± 1%, measured on 5,000 sampled books); laid out on 1,000 sampled "
        "books, the others placed by their nearest · computed in 1,234 s")
    # every book scored and laid out; no k or seconds recorded: the defaults (10 neighbours, 0 s)
    whole = {"faithfulness": 0.25, "faithfulness_queries": None, "fitted_books": 478, "n_books": 478}
    assert proj.faithfulness_sentence(whole, pca, 16) == (
        f"{name} · faithfulness 25%: on average, 2.5 of each book's 10 nearest neighbours (cosine, in the 16-d space) "
        "are also among its 10 nearest on this map · computed in 0 s")
    # sampled with no error recorded; a fitted count without the number of books is not a sample
    bare = {"faithfulness": 0.5, "faithfulness_k": 4, "faithfulness_queries": 12, "faithfulness_stderr": None,
            "fitted_books": 30, "seconds": 0.4}
    assert proj.faithfulness_sentence(bare, pca, 8) == (
        f"{name} · faithfulness 50%: on average, 2.0 of each book's 4 nearest neighbours (cosine, in the 8-d space) "
        "are also among its 4 nearest on this map (± 0%, measured on 12 sampled books) · computed in 0 s")
    # no fitted count at all
    assert proj.faithfulness_sentence({"faithfulness": 1.0, "fitted_books": None}, pca, 8).endswith(
        "among its 10 nearest on this map · computed in 0 s")


# ---------------------------------------------------------------- the first map: small paths, warm-up, shipped maps


def _clustered(n: int = 150, dim: int = 12, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(5, dim)) * 3
    return (centres[rng.integers(0, 5, n)] + rng.normal(size=(n, dim))).astype(np.float32)


def test_small_tsne_affinities_are_opentsnes_own_over_exact_neighbours():
    from openTSNE.affinity import PerplexityBasedNN

    vectors = _clustered()
    ours = proj._exact_affinities(vectors, 10.0, 42).P.toarray()
    theirs = PerplexityBasedNN(proj.unit_rows(vectors).astype(np.float64), perplexity=10.0, method="exact",
                               metric="cosine", random_state=42).P.toarray()
    assert ours.shape == theirs.shape == (150, 150)
    assert ((ours > 0) == (theirs > 0)).all()  # the same neighbours
    assert np.allclose(ours, theirs, rtol=1e-3, atol=1e-7)


@pytest.mark.parametrize("n", [31, 20], ids=["three-perplexities-is-every-other-book", "fewer-books"])
def test_small_tsne_affinities_reach_every_other_book_when_the_perplexity_asks_for_them(n):
    """openTSNE takes min(n - 1, 3 * perplexity) neighbours; with 31 books and perplexity 10 that is all 30 others."""
    from openTSNE.affinity import PerplexityBasedNN

    vectors = _clustered(n=n, dim=6, seed=2)
    ours = proj._exact_affinities(vectors, 10.0, 42).P.toarray()
    theirs = PerplexityBasedNN(proj.unit_rows(vectors).astype(np.float64), perplexity=10.0, method="exact",
                               metric="cosine", random_state=42).P.toarray()
    off_diagonal = ~np.eye(n, dtype=bool)
    assert (ours[off_diagonal] > 0).all() and (theirs[off_diagonal] > 0).all()
    assert np.allclose(ours, theirs, rtol=1e-3, atol=1e-7)


def test_the_sampling_error_of_two_scored_books_is_their_spread_with_the_finite_population_factor():
    """With k = 1 each book's share is 0 or 1; two sampled books with shares 0 and 1 have a sample standard
    deviation of 1 / sqrt(2), so the error is 1/2 * sqrt(1 - 2/n); two alike have none."""
    n = 12
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(n, 5))
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    coords = unit[:, :2]  # a crude map: some books keep their nearest neighbour, some lose it
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    dist = np.linalg.norm(coords[:, None] - coords[None], axis=2)
    np.fill_diagonal(dist, np.inf)
    shares = (sims.argmax(axis=1) == dist.argmin(axis=1)).astype(float)
    assert 0 < shares.sum() < n
    mixed = 0
    for seed in range(10):
        report = proj.faithfulness_report(vectors, coords, 1, max_exact=n - 1, n_queries=2, seed=seed)
        assert report["queries"] == 2 and report["faithfulness"] in (0.0, 0.5, 1.0)
        if report["faithfulness"] == 0.5:
            mixed += 1
            assert report["stderr"] == pytest.approx(0.5 * np.sqrt(1 - 2 / n))
        else:
            assert report["stderr"] == 0.0
    assert mixed > 0


@pytest.mark.parametrize("settings", [proj.UMAPSettings(n_neighbors=10), proj.UMAPSettings(dims=3),
                                      proj.TSNESettings(n_iter=100)], ids=["umap-2d", "umap-3d", "tsne-2d"])
def test_a_warm_up_leaves_every_map_as_it_was(settings):
    from bookembed.warmup import warm_up

    vectors = _clustered()
    before, _ = proj.compute_projection(vectors, settings)
    warm_up()
    after, _ = proj.compute_projection(vectors, settings)
    assert np.array_equal(before, after)


def test_the_app_starts_one_warm_up_per_process():
    from bookembed.ui.warm import start_warm_up

    first = start_warm_up()
    assert start_warm_up() is first
    first.join(timeout=300)
    assert not first.is_alive()


def test_the_warm_up_waits_until_no_page_has_run_for_a_while(monkeypatch):
    """A burst of page runs is served first: the warm-up starts only once they have stopped for QUIET_S."""
    import threading
    import time

    from bookembed import warmup
    from bookembed.ui import warm

    started, began = threading.Event(), []
    monkeypatch.setattr(warmup, "warm_up", lambda: (began.append(time.monotonic()), started.set()))
    monkeypatch.setattr(warm, "_thread", None)
    monkeypatch.setattr(warm, "WARM_UP_DELAY_S", 0.0)
    monkeypatch.setattr(warm, "QUIET_S", 0.3)
    thread = warm.start_warm_up()
    runs = [time.monotonic()]
    for _ in range(20):  # pages keep running, one every 50 ms
        time.sleep(0.05)
        runs.append(time.monotonic())
        assert warm.start_warm_up() is thread
    assert started.wait(WAIT_CEILING_S)
    # the warm-up began QUIET_S after the page run before it (however the machine's load spaced the runs)
    assert began[0] - max(t for t in runs if t <= began[0]) >= 0.3
    thread.join(WAIT_CEILING_S)


def test_no_warm_up_starts_while_the_models_first_map_is_cached(monkeypatch, tmp_path):
    """The warm-up readies code for a map not yet computed: a model whose first map is in its folder (the
    demo ships its UMAP map) gets none, and one whose map is not cached does."""
    import shutil

    from bookembed import warmup
    from bookembed.store import load_model_folder
    from bookembed.ui import warm

    monkeypatch.setattr(warmup, "warm_up", lambda: None)
    monkeypatch.setattr(warm, "_thread", None)
    monkeypatch.setattr(warm, "WARM_UP_DELAY_S", 0.0)
    demo = load_model_folder(ROOT / "models" / "demo")
    assert warm.first_map_cached(demo)
    assert warm.start_warm_up(lambda: not warm.first_map_cached(demo)) is None
    bare = tmp_path / "bare"
    shutil.copytree(ROOT / "models" / "demo", bare, ignore=shutil.ignore_patterns("projections"))
    model = load_model_folder(bare)
    assert not warm.first_map_cached(model)
    thread = warm.start_warm_up(lambda: not warm.first_map_cached(model))
    assert thread is not None
    thread.join(WAIT_CEILING_S)


def test_a_fresh_process_draws_the_same_maps_as_a_warm_one(tmp_path):
    """Cold: ``bookembed project`` in a new process (umap imported, its code compiled or read
    from numba's cache there). Warm: this process, after ``warm_up``. Same seed, same bits."""
    from bookembed.warmup import warm_up

    from conftest import run_cli

    path = make_fake_model(tmp_path / "m", n_books=120, dim=12, seed=3)
    for method in ("umap", "tsne"):
        proc = run_cli("project", "--model", path, "--method", method, "--quiet", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    probe = ("import sys; from bookembed.warmup import import_umap; umap = import_umap(); "
             "print('tensorflow' in sys.modules, sys.modules.get('umap.parametric_umap', 'absent') is None, "
             "umap.UMAP.__name__)")
    import subprocess
    import sys

    seen = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert seen.stdout.split() == ["False", "False", "UMAP"], seen.stderr  # no TensorFlow, nothing left blocked
    warm_up()
    model = load_model_folder(path)
    for settings in (proj.UMAPSettings(), proj.TSNESettings()):
        cold = proj.load_projection(model, settings)
        assert cold is not None, proj.describe(settings)
        warm, _ = proj.compute_projection(model.book_vectors, settings)
        assert np.array_equal(cold, warm), proj.describe(settings)


def test_the_demo_ships_every_default_map():
    """The demo's first map of any method and either dimension is read, not computed: after
    retraining the demo, run ``bookembed project --model models/demo --method M --dims D`` for each."""
    from conftest import ROOT

    model = load_model_folder(ROOT / "models" / "demo")
    for method in proj.SETTINGS:
        for dims in (2, 3):
            settings = proj.make_settings(method, dims=dims)
            assert proj.load_projection(model, settings) is not None, proj.describe(settings)


# ---------------------------------------------------------------- saved views


def test_views_are_saved_replaced_and_deleted(fake_model):
    model = load_model_folder(fake_model)
    assert proj.load_views(model) == []
    proj.save_view(model, "Russians", projection="pca-2d-x", selected=[3, 1], query=["Война и мир"], color_by="author")
    proj.save_view(model, "Other", projection="umap-2d-y")
    proj.save_view(model, "Russians", projection="pca-2d-x", selected=[5])
    data = json.loads((fake_model / "views.json").read_text(encoding="utf-8"))
    assert [v["name"] for v in data["views"]] == ["Other", "Russians"]
    russians = data["views"][1]
    assert set(russians) == {"name", "projection", "selected", "query", "color_by", "created"}
    assert russians["selected"] == [5]
    proj.delete_view(model, "Other")
    assert [v.name for v in proj.load_views(model)] == ["Russians"]
    with pytest.raises(proj.BookembedError, match="name"):
        proj.save_view(model, "  ", projection="k")


def test_a_damaged_views_file_reads_as_no_views(fake_model):
    model = load_model_folder(fake_model)
    (fake_model / "views.json").write_text("[not json")
    notes = []
    assert proj.load_views(model, notes) == [] and "not a views file" in notes[0]
    (fake_model / "views.json").write_text('{"views": [{"no name": 1}, "x"]}')
    notes = []
    assert proj.load_views(model, notes) == [] and len(notes) == 2


# ---------------------------------------------------------------- figures


def _books(n=60):
    return load_model_folder(make_fake_model_cached(n)).books


_MODELS: dict = {}


def make_fake_model_cached(n):
    import tempfile
    from pathlib import Path

    if n not in _MODELS:
        _MODELS[n] = make_fake_model(Path(tempfile.mkdtemp()) / "m", n_books=n)
    return _MODELS[n]


@pytest.mark.parametrize("color_by", list(mapviz.COLOR_BY))
def test_map_draws_every_book_exactly_once(color_by):
    books = _books()
    coords = np.random.default_rng(0).normal(size=(len(books), 2))
    fig = mapviz.map_figure(coords, books, color_by=color_by, top_n=2, query_ids=[0], neighbour_ids=[1, 2], located=0)
    drawn = mapviz.book_ids_in(fig)
    assert sorted(drawn.tolist()) == list(range(len(books)))
    assert all(t.type == "scattergl" for t in fig.data)
    assert mapviz.book_ids_in(fig, "query").tolist() == [0]
    assert mapviz.book_ids_in(fig, "neighbours").tolist() == [1, 2]


def test_map_hover_and_labels_escape_markup():
    books = _books()
    fig = mapviz.map_figure(np.zeros((len(books), 2)) + np.arange(len(books))[:, None], books, located=0)
    titles = {int(i): h for t in fig.data if t.meta == "books" for i, h in zip(t.customdata, t.text)}
    assert titles[0] == "&lt;b&gt;Bold&lt;/b&gt; &amp; &lt;script&gt;alert(1)&lt;/script&gt;"
    assert all(t.hovertemplate == "<b>%{text}</b><br>%{hovertext}<extra></extra>" for t in fig.data)
    assert "<script>" not in json.dumps(fig.to_plotly_json(), default=str)
    assert titles[9] == "Line break"  # line breaks become spaces
    assert "&lt;b&gt;" in fig.layout.annotations[0].text


def test_map_groups_keep_the_largest_and_put_the_rest_in_other():
    labels, groups = mapviz.category_labels(["a", "b", "a", "", "c", "a", "b", None], top_n=2)
    assert groups == ["a", "b", mapviz.OTHER, mapviz.UNKNOWN]
    assert labels.tolist() == ["a", "b", "a", mapviz.UNKNOWN, mapviz.OTHER, "a", "b", mapviz.UNKNOWN]


def test_map_3d_and_year_colouring_and_selection():
    books = _books()
    coords = np.random.default_rng(0).normal(size=(len(books), 3))
    fig = mapviz.map_figure(coords, books, color_by="year", query_ids=[4])
    assert {t.type for t in fig.data} == {"scatter3d"}
    assert sorted(mapviz.book_ids_in(fig).tolist()) == list(range(len(books)))
    fig2 = mapviz.map_figure(coords[:, :2], books, selected_ids=[0, 5, 7])
    chosen = [int(t.customdata[j]) for t in fig2.data if t.meta == "books" for j in t.selectedpoints]
    assert sorted(chosen) == [0, 5, 7]
    with pytest.raises(ValueError, match="colour"):
        mapviz.map_figure(coords, books, color_by="mood")


def test_robust_range_ignores_a_few_far_outliers():
    values = np.concatenate([np.random.default_rng(0).uniform(0, 1, 1000), [50.0, -40.0]])
    lo, hi = mapviz.robust_range(values)
    assert -0.2 < lo < 0 and 1 < hi < 1.2


def test_loss_figure_has_epoch_and_chunk_lines():
    history = {"epochs": [{"epoch": 1, "loss": 1.0}, {"epoch": 2, "loss": 0.5}],
               "steps": [{"epoch": 1, "step": 5, "steps": 10, "loss": 1.2}, {"epoch": 2, "step": 10, "steps": 10, "loss": 0.4}]}
    fig = mapviz.loss_figure(history)
    assert [t.name for t in fig.data] == ["per chunk", "epoch mean"]
    assert list(fig.data[0].x) == [0.5, 2.0]


def test_a_large_categorical_map_interleaves_the_groups_and_keeps_every_book_once():
    """Above MIXED_ABOVE books: one trace in random order, each point in its group's colour, a legend per group."""
    import pandas as pd

    n = mapviz.MIXED_ABOVE + 500
    rng = np.random.default_rng(3)
    genres = np.array(["fantasy", "crime fiction", "science fiction", ""], dtype=object)[rng.integers(0, 4, n)]
    books = pd.DataFrame({"title": [f"Book {i}" for i in range(n)], "primary_genre": genres})
    coords = rng.normal(size=(n, 2)).astype(np.float32)
    figure = mapviz.map_figure(coords, books, color_by="genre", top_n=2, selected_ids=[5, 7])
    (points,) = [t for t in figure.data if t.meta == "books"]
    ids = np.asarray(points.customdata)
    assert sorted(ids.tolist()) == list(range(n))
    assert not np.array_equal(ids, np.sort(ids))  # not drawn group after group
    legend = {t.name: t.marker.color for t in figure.data if t.meta == "legend"}
    labels, groups = mapviz.category_labels(books["primary_genre"], 2)
    assert set(legend) == {f"{g} ({int((labels == g).sum()):,})" for g in groups}
    # each point's colour code picks its own group's colour from the stepped scale
    scale = points.marker.colorscale
    codes = np.asarray(points.marker.color)
    for j in rng.integers(0, n, 200):
        group = labels[ids[j]]
        value = (codes[j] + 0.5) / len(groups)
        colour = [c for (lo, c), (hi, _) in zip(scale[::2], scale[1::2]) if lo <= value <= hi][0]
        assert f"{group} (" in [name for name, c in legend.items() if c == colour][0]
    # grey groups are drawn first, underneath
    grey = np.isin(labels[ids], [mapviz.OTHER, mapviz.UNKNOWN])
    assert grey[: grey.sum()].all()
    assert sorted(ids[np.asarray(points.selectedpoints)].tolist()) == [5, 7]


def test_marker_style_shrinks_and_fades_with_the_number_of_books():
    sizes = [mapviz.marker_style(n) for n in (100, 37_020, 1_000_000)]
    assert sizes[0] == (7.0, 0.75)
    assert sizes[0][0] > sizes[1][0] > sizes[2][0] >= 2.0 and sizes[0][1] > sizes[1][1] > sizes[2][1] >= 0.3


def test_hover_details_are_left_out_rather_than_overflow_the_message():
    titles = np.array(["A title"] * 1000, dtype=object)
    details = np.array(["Some author<br>fantasy, 1999, France"] * 1000, dtype=object)
    kept, trimmed = mapviz.fit_hover((titles, details), limit_bytes=10_000_000)
    assert not trimmed and kept[1] is details
    kept, trimmed = mapviz.fit_hover((titles, details), limit_bytes=60_000)
    assert trimmed and (kept[0] == titles).all() and (kept[1] == "").all()


# ---------------------------------------------------------------- the point renderer's payload


def test_point_payload_draws_every_book_once_grey_first_with_its_group_and_place():
    import pandas as pd

    rng = np.random.default_rng(4)
    n = 600
    genres = rng.choice(["a", "b", "c", "d", ""], n, p=[0.4, 0.3, 0.15, 0.1, 0.05])
    books = pd.DataFrame({"title": [f"t{i}" for i in range(n)], "primary_genre": genres, "genre": genres})
    coords = rng.normal(size=(n, 2))
    p = mapviz.point_payload(coords, books, color_by="genre", top_n=2)
    ids = np.frombuffer(p["ids"], np.int32)
    xy = np.frombuffer(p["xy"], np.float32).reshape(-1, 2)
    codes = np.frombuffer(p["codes"], np.uint8)
    assert sorted(ids.tolist()) == list(range(n))  # every book once
    assert np.array_equal(xy, coords[ids].astype(np.float32))  # at its own place
    names = [g["name"] for g in p["groups"]]
    assert names == ["a", "b", "other", "(unknown)"]
    assert [g["count"] for g in p["groups"]] == [int((genres == "a").sum()), int((genres == "b").sum()),
                                                  int(np.isin(genres, ["c", "d"]).sum()), int((genres == "").sum())]
    expected = np.array([names.index(g if g in ("a", "b") else "other" if g else "(unknown)") for g in genres])
    assert np.array_equal(codes, expected[ids])
    grey = np.isin(codes, [2, 3])
    assert not (grey[1:] & ~grey[:-1]).any(), "a grey point drawn over a coloured one"
    assert 0.3 < (codes[~grey] == 0).mean() < 0.8 and (np.diff(codes[~grey]) != 0).mean() > 0.2  # interleaved
    assert (p["size"], p["opacity"]) == mapviz.marker_style(n)
    again = mapviz.point_payload(coords, books, color_by="genre", top_n=2)
    assert again["ids"] == p["ids"]  # seeded
    with pytest.raises(ValueError, match="2-D"):
        mapviz.point_payload(np.zeros((n, 3)), books)


def test_point_payload_bands_years_and_labels_are_plain_text_split_by_separators():
    import pandas as pd

    books = pd.DataFrame({"title": ["<b>A</b>", "B\x1ewith\x1fseparators", "C"], "author": ["Ann", None, "Cy"],
                          "genre": ["novel", "", "poem"], "primary_genre": ["novel", "", "poem"],
                          "year": [1900, None, 2000], "country": ["France", "", ""]})
    labels = mapviz.point_labels(books).decode().split(mapviz.RECORD_SEP)
    assert [r.split(mapviz.LABEL_SEP) for r in labels] == [
        ["<b>A</b>", "Ann", "novel, 1900, France"], ["B with separators", "", ""], ["C", "Cy", "poem, 2000"]]
    p = mapviz.point_payload(np.arange(6.0).reshape(3, 2), books, color_by="year")
    codes = np.frombuffer(p["codes"], np.uint8)[np.argsort(np.frombuffer(p["ids"], np.int32))]
    assert codes[1] == 10 and p["groups"][10]["name"] == "(unknown)"  # no year
    assert codes[0] < codes[2]  # earlier years, earlier bands


def test_point_labels_can_be_titles_only():
    import pandas as pd

    books = pd.DataFrame({"title": ["A", "B\x1fC"], "author": ["x", "y"]})
    assert mapviz.point_labels(books, details=False) == "A\x1eB C".encode()


def test_point_labels_match_a_plain_python_reading_on_awkward_values():
    """Arrow builds the labels; the same rule spelled out in Python, on missing, long, accented and separator-laden
    values, gives the same bytes."""
    import pandas as pd

    rng = np.random.default_rng(8)
    pool = ["", "Tolstoy", "Émile Zola", "a" * 59, "b" * 60, "c" * 61 + " tail", "x  " + "y" * 70, "sep\x1fhere",
            "rec\x1ehere", "日本語のタイトル" * 9, "ends, ", None]
    n = 300
    books = pd.DataFrame({c: rng.choice(np.array(pool, dtype=object), n) for c in ("title", "author", "genre", "country")})
    books["title"] = books["title"].fillna("untitled")
    books["year"] = pd.array(rng.choice([1850, 1999, None], n), dtype="Int64")

    def plain(v):
        s = "" if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else str(v)
        return s.replace("\x1f", " ").replace("\x1e", " ")

    def short(v):
        s = plain(v)
        return s if len(s) <= 60 else s[:59].rstrip() + "…"

    rows = []
    for r in books.itertuples():
        facts = ", ".join(x for x in (short(r.genre), "" if pd.isna(r.year) else str(int(r.year)), short(r.country)) if x)
        rows.append(f"{plain(r.title)}\x1f{short(r.author)}\x1f{facts}")
    assert mapviz.point_labels(books) == "\x1e".join(rows).encode()
    assert mapviz.point_labels(books, details=False) == "\x1e".join(plain(t) for t in books["title"]).encode()


# ---------------------------------------------------------------- the Map page's parameters, declared once


def _page_widget(at, s):
    """The Map page's widget for setting ``s`` (found by its declared label)."""
    found = {"slider": at.slider, "checkbox": at.checkbox, "number": at.number_input}[s.widget]
    return next(w for w in found if w.label == s.label)


def _another(s):
    """An allowed value other than the default that the page's widget can take."""
    if s.type is bool:
        return not s.default
    step = s.step or 1
    value = s.type(s.default + step)
    return value if s.slider is None or value <= s.slider[1] else s.type(s.default - step)


@pytest.mark.parametrize("method", list(proj.SETTINGS))
def test_the_map_page_offers_the_declared_parameters_and_applies_them(method, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from conftest import ROOT, WAIT_CEILING_S

    models = tmp_path / "models"
    make_fake_model(models / "demo")
    monkeypatch.setenv("BOOKEMBED_MODELS_DIR", str(models))
    asked = []
    monkeypatch.setattr(proj, "project", lambda model, settings, progress=None: asked.append(settings))  # no maps
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=WAIT_CEILING_S)
    at.session_state["map_method"] = method
    at.run()
    at.switch_page("pages/map.py").run()
    assert not at.exception, [e.value for e in at.exception]
    cls = proj.SETTINGS[method]
    declared = proj.parameters(cls)
    assert {s.name for s in declared} == {f.name for f in dataclasses.fields(cls)} - {"dims"}
    for s in declared:  # each widget shows the declaration: label, help, default, bounds
        w = _page_widget(at, s)
        assert w.help == s.help and w.value == s.default, s.name
        if s.widget == "slider":
            assert (w.min, w.max) == s.slider and s.problem(s.slider[0]) is None and s.problem(s.slider[1]) is None
            assert w.step == (s.step or 1), s.name
        elif s.widget == "number":
            assert (w.min, w.max) == (s.low, s.high), s.name
    chosen = {s.name: _another(s) for s in declared}
    for s in declared:
        _page_widget(at, s).set_value(chosen[s.name])
    next(b for b in at.button if b.label == "Apply").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["map_params"][method] == chosen
    assert asked and asked[-1] == proj.make_settings(method, dims=2, **chosen)
