"""The shipped demo: the classics corpus and models/demo must agree and show what embeddings are for."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from bookembed.corpus import DEMO_PATH, CleaningConfig, load_corpus, read_records
from bookembed.neighbors import similar_books
from bookembed.store import load_model_folder
from conftest import ROOT

DEMO_MODEL = ROOT / "models" / "demo"


@pytest.fixture(scope="module")
def demo_model():
    return load_model_folder(DEMO_MODEL)


@pytest.fixture(scope="module")
def demo_corpus():
    return load_corpus("demo")


def nearest(model, title, k=5):
    return similar_books(model, title, k)["title"].tolist()


def test_corpus_is_package_data_in_the_record_format():
    assert DEMO_PATH.is_file() and DEMO_PATH.parent.name == "data"
    records, report = read_records(DEMO_PATH)
    assert report.n_skipped == 0 and report.n_duplicates == 0
    assert len(records) >= 400
    for rec in records:
        assert 15 <= len(rec.links) <= 60, rec.title
        assert len(set(rec.links)) == len(rec.links), rec.title
        for key in ("name", "genre"):
            assert rec.infobox.get(key), (rec.title, key)
    anonymous = [rec.title for rec in records if not rec.infobox.get("author")]
    assert len(anonymous) <= 5, anonymous  # Beowulf, Gilgamesh: no author to give
    raw = [json.loads(line) for line in DEMO_PATH.read_text(encoding="utf-8").splitlines()]
    assert all(r[3] == [] and r[5] == 0 for r in raw), "no article text or external links are shipped"


def test_corpus_is_varied(demo_corpus):
    genres = Counter(demo_corpus.books["primary_genre"])
    assert len([g for g, n in genres.items() if g and n >= 3]) >= 15
    assert demo_corpus.books["country"].replace("", np.nan).nunique() >= 15
    years = demo_corpus.books["year"].dropna()
    assert years.min() < 0 < 1700 < years.max(), "ancient to modern"
    for title in ("War and Peace", "Anna Karenina", "The Hobbit", "The Fellowship of the Ring", "The Two Towers",
                  "The Return of the King", "Dune (novel)", "Foundation (Asimov novel)", "Foundation and Empire",
                  "Neuromancer", "Pride and Prejudice", "Moby-Dick", "One Hundred Years of Solitude",
                  "Things Fall Apart", "A Brief History of Time", "The Selfish Gene", "Doctor Zhivago (novel)"):
        assert title in set(demo_corpus.books["title"]), title


def test_shipped_model_matches_the_corpus(demo_model, demo_corpus):
    """Same titles in the same order, same link vocabulary, same pairs: the two cannot drift apart."""
    assert demo_model.titles == demo_corpus.books["title"].tolist()
    assert demo_model.links == demo_corpus.links
    assert np.array_equal(demo_model.pair_books, demo_corpus.pair_books)
    assert np.array_equal(demo_model.pair_links, demo_corpus.pair_links)
    data = demo_model.manifest["data"]
    assert data["source"] == "demo"
    assert data["checksum"] == demo_corpus.checksum, "corpus changed: retrain with `bookembed train --data demo --out models/demo`"
    assert data["cleaning"]["min_link_count"] == CleaningConfig().min_link_count


def test_shipped_model_is_small(demo_model):
    total = sum(p.stat().st_size for p in DEMO_MODEL.iterdir() if p.is_file())
    assert total < 1_000_000


def test_war_and_peace_finds_anna_karenina(demo_model):
    assert "Anna Karenina" in nearest(demo_model, "War and Peace")


def test_fellowship_finds_the_rest_of_the_lord_of_the_rings(demo_model):
    near = nearest(demo_model, "The Fellowship of the Ring")
    assert "The Two Towers" in near and "The Return of the King" in near


def test_foundation_finds_foundation_and_empire(demo_model):
    assert "Foundation and Empire" in nearest(demo_model, "Foundation (Asimov novel)")


def test_genre_purity_well_above_chance(demo_model):
    metrics = demo_model.manifest["metrics"]["genre_purity"]
    assert metrics["purity"] > 4 * metrics["chance"]
    assert metrics["books"] == len(demo_model.books)
    assert demo_model.manifest["metrics"]["auc"] > 0.8


def test_shipped_metrics_are_recomputed_from_the_shipped_vectors_and_mask(demo_model):
    """The manifest's AUC is the held-out AUC of the stored vectors with the stored mask, and its purity the
    purity of the stored vectors: nothing measured on training pairs or on other vectors."""
    from bookembed.evaluate import genre_purity, heldout_auc

    manifest = demo_model.manifest
    assert demo_model.heldout.sum() == manifest["metrics"]["heldout_pairs"] > 0
    recomputed = heldout_auc(demo_model.book_vectors, demo_model.link_vectors, demo_model.pair_books,
                             demo_model.pair_links, demo_model.heldout, seed=manifest["seed"])
    assert manifest["metrics"]["auc"] == pytest.approx(recomputed, abs=1e-12)
    purity = genre_purity(demo_model.book_vectors, demo_model.books["primary_genre"].tolist(), seed=manifest["seed"])
    assert manifest["metrics"]["genre_purity"]["purity"] == pytest.approx(purity["purity"], abs=1e-12)
    assert manifest["metrics"]["genre_purity"]["chance"] == pytest.approx(purity["chance"], abs=1e-12)


@pytest.mark.slow
def test_demo_model_is_reproducible_from_its_seed(tmp_path, demo_model):
    """`bookembed train --data demo --out models/demo` with the stored config gives the shipped vectors again."""
    from bookembed.pipeline import train_model_folder
    from bookembed.training import TrainConfig

    config = TrainConfig(**demo_model.manifest["config"])
    path, _, _ = train_model_folder("demo", tmp_path / "demo", config)
    again = load_model_folder(path)
    np.testing.assert_allclose(again.book_vectors, demo_model.book_vectors, atol=1e-4)
    np.testing.assert_allclose(again.link_vectors, demo_model.link_vectors, atol=1e-4)
    assert np.array_equal(again.heldout, demo_model.heldout)


def test_shipped_map_cache_belongs_to_the_shipped_vectors(demo_model):
    """The demo ships its default UMAP map so the first Map page is instant; it must describe these vectors."""

    files = sorted((DEMO_MODEL / "projections").glob("*.json"))
    assert files, "models/demo/projections holds the default map"
    for file in files:
        info = json.loads(file.read_text())
        coords = np.load(file.with_suffix(".npy"), allow_pickle=False)
        assert info["vectors"] == demo_model.vectors_checksum, f"{file.name} is stale: delete it and reopen the Map page"
        assert coords.shape == (demo_model.n_books, info["dims"]) and np.isfinite(coords).all()
