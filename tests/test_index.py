"""The approximate index: recall measured and stored, used above its size, never used when stale."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from bookembed import index as ann
from bookembed import neighbors
from bookembed.errors import BookembedError
from bookembed.graph import LinkGraph
from bookembed.store import SaveInputs, load_model_folder, save_model_folder
from bookembed.vectors import top_k
from conftest import run_cli


GENRES = ("fantasy", "science fiction", "historical novel", "")


def clustered_model(path, n_books=3000, n_links=400, dim=16, seed=0, book_vectors=None):
    """A model folder of clustered vectors (or the ``book_vectors`` given), genres in turn."""
    dim = dim if book_vectors is None else book_vectors.shape[1]
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, dim))
    if book_vectors is None:
        book_vectors = centres[rng.integers(0, 40, n_books)] + rng.normal(scale=0.3, size=(n_books, dim))
    n_books = len(book_vectors)
    link_vectors = centres[rng.integers(0, 40, n_links)] + rng.normal(scale=0.3, size=(n_links, dim))
    pb = np.repeat(np.arange(n_books), 3).astype(np.int32)
    pl = rng.integers(0, n_links, len(pb)).astype(np.int32)
    keys = np.unique(pb.astype(np.int64) * n_links + pl)
    pb, pl = (keys // n_links).astype(np.int32), (keys % n_links).astype(np.int32)
    books = pd.DataFrame({"title": [f"Book {i}" for i in range(n_books)],
                          "primary_genre": [GENRES[i % len(GENRES)] for i in range(n_books)]})
    return save_model_folder(path, SaveInputs(
        graph=LinkGraph(books=books, links=tuple(f"link {j}" for j in range(n_links)),
                        link_counts=np.bincount(pl, minlength=n_links), pair_books=pb, pair_links=pl),
        heldout=np.zeros(len(pb), bool), book_vectors=book_vectors.astype(np.float32),
        link_vectors=link_vectors.astype(np.float32), config={"seed": seed}, data={}))


@pytest.fixture
def small_limit(monkeypatch):
    monkeypatch.setattr(ann, "ANN_MIN_ROWS", 1000)


def test_the_index_reaches_its_recall_and_says_so(tmp_path, small_limit):
    model = load_model_folder(clustered_model(tmp_path / "m"))
    built = ann.build_index(model, "book")
    assert built.info["rows"] == 3000 and built.recall >= ann.TARGET_RECALL
    # measured again here, independently, on other queries
    unit = model.unit_vectors("book")
    hits = 0
    for q in range(0, 3000, 30):
        truth = set(top_k(unit, unit[q], 10, exclude=[q])[0].tolist())
        got = [i for i in built.candidates(unit[q], 11).tolist() if i != q][:10]
        hits += len(truth & set(got))
    assert hits / (100 * 10) >= 0.9
    assert ann.index_info(model, "book")["recall"] == built.recall


def test_neighbour_queries_use_the_index_only_above_its_size_and_only_when_fresh(tmp_path, small_limit):
    path = clustered_model(tmp_path / "m")
    model = load_model_folder(path)
    assert model.ann_index("book") is None  # not built yet: exact search
    exact = neighbors.similar_books(model, "Book 7", 10)
    # the same vectors in a folder that never gets an index (the first looks for one again on each query)
    model = load_model_folder(shutil.copytree(path, tmp_path / "plain"))
    ann.build_index(load_model_folder(path), "book")
    fresh = load_model_folder(path)
    assert fresh.ann_index("book") is not None and model.ann_index("book") is None
    approx = neighbors.similar_books(fresh, "Book 7", 10)
    # the similarities are exact, in order, and nearly all the true neighbours come back
    assert np.all(np.diff(approx["similarity"].to_numpy()) <= 0)
    assert len(set(approx["id"]) & set(exact["id"])) >= 8
    assert 7 not in set(approx["id"])
    # least similar and genre-filtered queries stay exact
    pd.testing.assert_frame_equal(neighbors.similar_books(fresh, "Book 7", 5, least=True),
                                  neighbors.similar_books(model, "Book 7", 5, least=True))
    pd.testing.assert_frame_equal(neighbors.similar_books(fresh, "Book 7", 5, genre="fantasy"),
                                  neighbors.similar_books(model, "Book 7", 5, genre="fantasy"))
    # an index of other vectors is never used
    other = load_model_folder(clustered_model(tmp_path / "other", seed=1))
    (other.path / "index").mkdir()
    for name in ("book.faiss", "book.json"):
        (other.path / "index" / name).write_bytes((path / "index" / name).read_bytes())
    assert ann.load_index(other, "book") is None and other.ann_index("book") is None


def recall_at(ivf, unit, nprobe, k=10):
    """recall@k of the index scanning ``nprobe`` cells, over every row as a query (itself left out)."""
    n = len(unit)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    truth = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    found = ann._search(ivf, unit, k + 1, nprobe)
    hits = 0
    for row, got, want in zip(range(n), found, truth):
        hits += len(set(got[got != row][:k].tolist()) & set(want.tolist()))
    return hits / (n * k)


def truth_of(unit, k=10):
    """Each row's k nearest other rows by exact cosine, ties by id."""
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    return np.argsort(-sims, axis=1, kind="stable")[:, :k]


def breadths_tried(stages):
    """The cells scanned at each recall measurement, from the progress messages."""
    return [int(s.rsplit("(", 1)[1].split(" of ")[0].replace(",", "")) for s in stages if "cells scanned" in s]


def test_the_search_breadth_is_raised_until_the_recall_reaches_the_target(tmp_path, small_limit, monkeypatch):
    """On 4,000 random 256-d directions (no cells fit them) scanning the first few cells finds too few of the
    true neighbours: the build scans more, step by step, and stops at the first breadth that reaches the
    target. Every row is a recall query here, so the test measures exactly what the build did."""
    monkeypatch.setattr(ann, "RECALL_QUERIES", 10_000)
    vectors = np.random.default_rng(5).normal(size=(4000, 256)).astype(np.float32)
    model = load_model_folder(clustered_model(tmp_path / "m", book_vectors=vectors))
    stages = []
    built = ann.build_index(model, "book", progress=lambda f, s: stages.append(s))
    unit = model.unit_vectors("book")
    steps = ann.nprobe_steps(built.info["nlist"])
    assert built.info["nlist"] == ann.cells_for(4000) == built.ivf.nlist
    chosen = built.info["nprobe"]
    assert chosen in steps and chosen > steps[0]
    measured = {p: recall_at(built.ivf, unit, p) for p in steps if p <= chosen}
    assert measured[steps[0]] < ann.TARGET_RECALL, "the data must make the first breadth too narrow"
    assert built.recall >= ann.TARGET_RECALL
    assert built.recall == pytest.approx(measured[chosen], abs=1e-4)
    tried = steps[: steps.index(chosen) + 1]
    assert all(measured[p] < ann.TARGET_RECALL for p in tried[:-1]), measured
    assert breadths_tried(stages) == list(tried)
    # a query through the loaded index scans as many cells as the build chose: it finds what the sidecar says
    loaded = ann.load_index(model, "book")
    found = [loaded.candidates(unit[q], 11) for q in range(len(unit))]
    hits = sum(len(set(got[got != q][:10].tolist()) & set(want.tolist()))
               for q, (got, want) in enumerate(zip(found, truth_of(unit))))
    assert hits / (len(unit) * 10) == pytest.approx(built.recall, abs=6e-5)
    assert ann.index_info(model, "book")["nprobe"] == chosen and ann.load_index(model, "book").info["nprobe"] == chosen


def test_scanning_every_cell_is_exact_search():
    """The last breadth tried scans every cell: whatever the data, the recall there is that of exact search."""
    assert ann.nprobe_steps(1) == [1] and ann.nprobe_steps(8) == [8] and ann.nprobe_steps(9) == [8, 9]
    assert ann.nprobe_steps(4096) == [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
    assert [ann.cells_for(n) for n in (1, 2, 100, 10_000, 1_000_000, 10_000_000)] == [1, 1, 2, 256, 4000, 4096]


def test_an_easy_index_keeps_the_first_breadth(tmp_path, small_limit, monkeypatch):
    """Clustered vectors: the first breadth already reaches the target, so it is the one kept."""
    monkeypatch.setattr(ann, "RECALL_QUERIES", 10_000)
    model = load_model_folder(clustered_model(tmp_path / "m", n_books=2000))
    stages = []
    built = ann.build_index(model, "book", progress=lambda f, s: stages.append(s))
    first = ann.nprobe_steps(built.info["nlist"])[0]
    assert first < built.info["nlist"]
    assert recall_at(built.ivf, model.unit_vectors("book"), first) >= ann.TARGET_RECALL
    assert built.info["nprobe"] == first and breadths_tried(stages) == [first]


@pytest.fixture
def indexed(tmp_path, small_limit):
    """(a model folder whose books are answered through the index, the same folder read without it)."""
    path = clustered_model(tmp_path / "m")
    # a copy without the index: a folder looks for its index again on each query, so the same folder
    # would be answered through the index as soon as it is built
    plain = load_model_folder(shutil.copytree(path, tmp_path / "plain"))
    ann.build_index(load_model_folder(path), "book")
    fresh = load_model_folder(path)
    assert fresh.ann_index("book") is not None and plain.ann_index("book") is None
    return fresh, plain


def brute(unit, query, k, exclude=(), least=False, allowed=None):
    """Exact top-k by cosine, written out: every row scored, ties by id."""
    q = np.asarray(query, np.float64)
    sims = unit.astype(np.float64) @ (q / np.linalg.norm(q))
    keep = np.ones(len(unit), bool) if allowed is None else np.asarray(allowed, bool).copy()
    keep[list(exclude)] = False
    ids = np.flatnonzero(keep)
    order = np.lexsort((ids, sims[ids] if least else -sims[ids]))[:k]
    return ids[order], sims[ids][order]


@pytest.mark.parametrize("genre", GENRES[:3])
def test_genre_filtered_and_least_similar_queries_are_exact_with_an_index(indexed, genre):
    """An index answers only "nearest of all": filtered and least-similar queries must not go through it."""
    fresh, plain = indexed
    unit = fresh.unit_vectors("book")
    allowed = (fresh.books["primary_genre"] == genre).to_numpy()
    for title in ("Book 7", "Book 1234", "Book 2999"):
        q = fresh.title_index[title]
        for least in (False, True):
            got = neighbors.similar_books(fresh, title, 10, genre=genre, least=least)
            pd.testing.assert_frame_equal(got, neighbors.similar_books(plain, title, 10, genre=genre, least=least))
            ids, sims = brute(unit, unit[q], 10, exclude=[q], least=least, allowed=allowed)
            assert got["id"].tolist() == ids.tolist()
            np.testing.assert_allclose(got["similarity"], sims, rtol=0, atol=1e-5)
            assert set(fresh.books["primary_genre"].iloc[got["id"]]) == {genre}
        got = neighbors.similar_books(fresh, title, 10, least=True)
        ids, _ = brute(unit, unit[q], 10, exclude=[q], least=True)
        assert got["id"].tolist() == ids.tolist()
        ids, _ = neighbors.search(fresh, "book", unit[q], 10, exclude=[q], allowed=allowed)
        assert ids.tolist() == brute(unit, unit[q], 10, exclude=[q], allowed=allowed)[0].tolist()


class ScrambledIndex:
    """The model's own index, handing its candidates back in a shuffled order, as ``AnnIndex.candidates``
    may ("not yet ordered exactly"): faiss happens to return them nearest first."""

    def __init__(self, index, seed=0):
        self.index, self.rng = index, np.random.default_rng(seed)

    def candidates(self, query, k):
        return self.rng.permutation(self.index.candidates(query, k))


def test_approximate_candidates_are_ranked_by_their_exact_cosine(indexed, monkeypatch):
    """Through the index, the results are the index's candidates ordered by their exact similarity to the
    query, whatever order the index gives them in: each similarity is the cosine of the query and that
    book, most similar first (ties by id), the excluded books left out; and nearly all are the true nearest."""
    fresh, _ = indexed
    unit = fresh.unit_vectors("book")
    real = fresh.ann_index("book")
    scrambled = ScrambledIndex(real)
    monkeypatch.setattr(type(fresh), "ann_index",
                        lambda self, kind="book": scrambled if kind == "book" and self is fresh else None)
    rng = np.random.default_rng(3)
    overlap = []
    for q in rng.choice(len(unit), 40, replace=False):
        query = unit[q] * 3.0 + rng.normal(scale=0.2, size=unit.shape[1]).astype(np.float32)  # not unit length
        exclude = [int(q), int((q + 1) % len(unit))]
        ids, sims = neighbors.search(fresh, "book", query, 10, exclude=exclude)
        assert ids.dtype == np.int64 and sims.dtype == np.float32 and len(ids) == 10
        qn = query / np.linalg.norm(query)
        np.testing.assert_allclose(sims, unit[ids] @ qn, rtol=0, atol=2e-6)
        assert np.all(np.diff(sims) <= 0) and not set(exclude) & set(ids.tolist())
        # exactly the best of the index's candidates
        candidates = real.candidates(qn, 2 * (10 + len(exclude)) + 10)
        candidates = candidates[~np.isin(candidates, exclude)]
        best = candidates[np.lexsort((candidates, -(unit[candidates] @ qn)))][:10]
        assert ids.tolist() == best.tolist()
        overlap.append(len(set(ids.tolist()) & set(brute(unit, query, 10, exclude=exclude)[0].tolist())) / 10)
    assert np.mean(overlap) >= 0.9
    # the same holds for the frames built on it
    frame = neighbors.similar_books(fresh, ["Book 7", "Book 8"], 10)
    query = unit[[7, 8]].mean(axis=0)
    ids, sims = brute(unit, query, 10, exclude=[7, 8])
    np.testing.assert_allclose(frame["similarity"], unit[frame["id"]] @ (query / np.linalg.norm(query)), atol=2e-6)
    assert np.all(np.diff(frame["similarity"]) <= 0) and not {7, 8} & set(frame["id"])
    assert len(set(frame["id"]) & set(ids.tolist())) >= 8
    link = fresh.unit_vectors("link")[5]
    frame = neighbors.books_for_link(fresh, "link 5", 10)
    np.testing.assert_allclose(frame["similarity"], unit[frame["id"]] @ link, atol=2e-6)
    assert np.all(np.diff(frame["similarity"]) <= 0)
    assert len(set(frame["id"]) & set(brute(unit, link, 10)[0].tolist())) >= 8


class CoarseIndex:
    """An index that ranks by rounded vectors (as a quantised index does): its candidates, nearest first by
    its own rough similarity, are not the exact nearest, so what a search returns depends on how many it asks
    for and on being asked at all."""

    def __init__(self, unit, seed=0):
        rng = np.random.default_rng(seed)
        self.rough = unit + rng.normal(scale=0.5, size=unit.shape).astype(np.float32)
        self.asked = []

    def candidates(self, query, k):
        self.asked.append(k)
        return np.argsort(-(self.rough @ query), kind="stable")[: max(int(k), 0)].astype(np.int64)


def test_a_plain_search_is_the_best_of_its_candidates_from_the_index(tmp_path, monkeypatch):
    """A plain top-k through an index: the index is asked for 2 * (k + excluded) + 10 candidates (enough that
    the excluded books never leave fewer than k) and the results are the best of those by exact cosine."""
    model = load_model_folder(clustered_model(tmp_path / "m", n_books=600, n_links=50))
    unit = model.unit_vectors("book")
    coarse = CoarseIndex(unit)
    monkeypatch.setattr(type(model), "ann_index", lambda self, kind="book": coarse if kind == "book" else None)
    rng = np.random.default_rng(4)
    differs = 0
    for q in rng.choice(len(unit), 30, replace=False):
        for k, exclude in ((10, [int(q), int((q + 1) % 600)]), (3, [(int(q) + d) % 600 for d in range(9)])):
            query = unit[q] * 2.0
            ids, sims = neighbors.search(model, "book", query, k, exclude=exclude)
            want = 2 * (k + len(exclude)) + 10
            qn = query / np.linalg.norm(query)
            candidates = np.argsort(-(coarse.rough @ qn), kind="stable")[:want]
            candidates = candidates[~np.isin(candidates, exclude)]
            best = candidates[np.lexsort((candidates, -(unit[candidates].astype(np.float64) @ qn)))][:k]
            assert ids.tolist() == best.tolist() and len(ids) == k
            np.testing.assert_allclose(sims, unit[ids] @ qn, rtol=0, atol=2e-6)
            differs += ids.tolist() != brute(unit, query, k, exclude=exclude)[0].tolist()
    assert differs > 0, "the rough index must miss some of the exact neighbours, or the test shows nothing"


def test_a_query_of_length_zero_is_refused_through_the_index_too(tmp_path, monkeypatch):
    model = load_model_folder(clustered_model(tmp_path / "m", n_books=300, n_links=50))
    coarse = CoarseIndex(model.unit_vectors("book"))
    monkeypatch.setattr(type(model), "ann_index", lambda self, kind="book": coarse if kind == "book" else None)
    for no_direction in (np.zeros(16), np.full(16, np.nan)):
        with pytest.raises(BookembedError) as info:
            neighbors.search(model, "book", no_direction, 5)
        assert str(info.value) == "the query vector has length zero: it has no direction to compare"
    assert coarse.asked == []


def test_tied_candidates_are_ordered_by_id(tmp_path, small_limit, monkeypatch):
    """Books with the very same vector tie exactly; through the index, as in exact search, the lower id
    comes first, whatever order the index hands them in."""
    vectors = np.random.default_rng(2).normal(size=(1500, 8)).astype(np.float32)
    vectors[[40, 900, 1499, 3]] = vectors[700]
    path = clustered_model(tmp_path / "m", book_vectors=vectors)
    ann.build_index(load_model_folder(path), "book")
    fresh = load_model_folder(path)
    real = fresh.ann_index("book")
    assert real is not None
    for seed in range(6):
        scrambled = ScrambledIndex(real, seed)
        monkeypatch.setattr(type(fresh), "ann_index", lambda self, kind="book": scrambled if kind == "book" else None)
        ids, sims = neighbors.search(fresh, "book", vectors[700], 6, exclude=[700])
        assert ids[:4].tolist() == [3, 40, 900, 1499]
        assert np.all(sims[:4] == sims[0]) and sims[4] < sims[0]


def test_without_a_kind_it_is_the_book_index(tmp_path):
    """``kind`` defaults to books everywhere; the loaded index says its kind, hands back int64 ids, and it
    has the cells its sidecar names."""
    model = load_model_folder(clustered_model(tmp_path / "m", n_books=400, n_links=30))
    assert ann.index_info(model) is None and ann.load_index(model) is None  # nothing built yet
    built = ann.build_index(model)
    assert built.kind == "book" and built.info["rows"] == 400 and built.info["kind"] == "book"
    assert (tmp_path / "m" / "index" / "book.faiss").is_file() and not (tmp_path / "m" / "index" / "link.json").exists()
    assert ann.index_info(model) == built.info
    loaded = ann.load_index(model)
    assert loaded.kind == "book" and loaded.info == built.info
    assert built.info["nlist"] == ann.cells_for(400) == built.ivf.nlist == loaded.ivf.nlist
    unit = model.unit_vectors("book")
    ids = loaded.candidates(unit[5], 8)
    assert ids.dtype == np.int64 and 5 in ids.tolist() and len(ids) == 8
    link = ann.build_index(model, "link")
    assert link.kind == "link" and ann.load_index(model, "link").kind == "link" and link.info["rows"] == 30


def test_build_index_refuses_an_unknown_kind_and_a_single_row(tmp_path):
    model = load_model_folder(clustered_model(tmp_path / "m", n_books=50, n_links=10))
    with pytest.raises(BookembedError) as info:
        ann.build_index(model, "author")
    assert str(info.value) == "kind must be one of book, link, got 'author'"
    one = load_model_folder(clustered_model(tmp_path / "one", book_vectors=np.ones((1, 4), np.float32)))
    with pytest.raises(BookembedError) as info:
        ann.build_index(one, "book")
    assert str(info.value) == f"{one.path}: too few books for an index (1)"
    two = load_model_folder(clustered_model(tmp_path / "two", book_vectors=np.eye(2, 4, dtype=np.float32)))
    built = ann.build_index(two, "book")  # two rows are enough: each the other's nearest
    assert built.info["rows"] == 2 and built.recall == 1.0
    assert sorted(built.candidates(np.array([1, 0, 0, 0], np.float32), 2).tolist()) == [0, 1]


def test_a_link_index_is_tied_to_the_link_vectors(tmp_path):
    """The link index is keyed by the link vectors' checksum: a folder with the same book vectors but other
    link vectors never uses it."""
    books = np.random.default_rng(9).normal(size=(60, 8)).astype(np.float32)
    path = clustered_model(tmp_path / "m", n_links=300, book_vectors=books, seed=0)
    ann.build_index(load_model_folder(path), "link")
    other = load_model_folder(clustered_model(tmp_path / "other", n_links=300, book_vectors=books, seed=1))
    assert other.vectors_checksum == load_model_folder(path).vectors_checksum
    (other.path / "index").mkdir()
    for name in ("link.faiss", "link.json"):
        (other.path / "index" / name).write_bytes((path / "index" / name).read_bytes())
    assert ann.index_info(other, "link") is None and ann.load_index(other, "link") is None
    assert ann.load_index(load_model_folder(path), "link") is not None


def test_the_stored_recall_is_the_measured_one_on_a_small_model(tmp_path, monkeypatch):
    """2,000 random directions, every row a recall query: the sidecar's recall is recall@10 of the index
    at the breadth chosen, to the four decimals it keeps (one hit here is 0.00005)."""
    monkeypatch.setattr(ann, "RECALL_QUERIES", 10_000)
    vectors = np.random.default_rng(11).normal(size=(2000, 24)).astype(np.float32)
    model = load_model_folder(clustered_model(tmp_path / "m", book_vectors=vectors))
    built = ann.build_index(model, "book")
    assert built.info["recall_queries"] == 2000 and built.info["recall_k"] == 10
    measured = recall_at(built.ivf, model.unit_vectors("book"), built.info["nprobe"])
    assert built.recall == pytest.approx(measured, abs=6e-5)


def test_an_unusable_index_file_says_why(tmp_path):
    """A damaged index, or one of another number of rows than its sidecar names, is not used, and the
    folder's cache protocol is told why (for callers that report it)."""
    import json

    path = clustered_model(tmp_path / "m", n_books=300, n_links=20)
    ann.build_index(load_model_folder(path), "book")
    files = load_model_folder(path).derived(ann.INDEX_DIR, vectors="book")
    assert files.look("book", ann._load)[1] == ""
    sidecar = path / "index" / "book.json"
    info = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**info, "rows": 301}))
    assert files.look("book", ann._load) == (None, "an index of another number of rows")
    assert ann.load_index(load_model_folder(path), "book") is None
    sidecar.write_text(json.dumps(info))
    (path / "index" / "book.faiss").write_bytes(b"not an index" * 10)
    assert files.look("book", ann._load) == (None, "damaged index")
    assert ann.load_index(load_model_folder(path), "book") is None


@pytest.mark.slow  # about ten seconds: 50,001 books
def test_adding_is_reported_for_each_50000_rows(tmp_path):
    vectors = np.random.default_rng(12).normal(size=(50_001, 4)).astype(np.float32)
    model = load_model_folder(clustered_model(tmp_path / "m", n_links=10, book_vectors=vectors))
    stages = []
    ann.build_index(model, "book", progress=lambda f, s: stages.append((f, s)))
    added = [(f, s) for f, s in stages if s.endswith("books added")]
    assert [s for _, s in added] == ["approximate book index: 50,000 of 50,001 books added",
                                     "approximate book index: 50,001 of 50,001 books added"]
    assert [f for f, _ in added] == pytest.approx([0.05 + 0.85 * 50_000 / 50_001, 0.9])


def test_small_models_never_need_an_index(fake_model):
    model = load_model_folder(fake_model)
    assert model.ann_index("book") is None and model.ann_index("link") is None


def test_the_index_command(tmp_path):
    path = clustered_model(tmp_path / "m", n_books=1500, n_links=200)
    proc = run_cli("index", "--model", path, "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "no index needed" in proc.stdout and not (path / "index").exists()
    proc = run_cli("index", "--model", path, "--force", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "books: 1,500 vectors indexed" in proc.stdout and "recall@10" in proc.stdout
    assert (path / "index" / "book.faiss").is_file() and (path / "index" / "link.json").is_file()


def test_the_project_command_caches_a_map_the_app_then_reads(fake_model, tmp_path):
    from bookembed import projection as proj

    proc = run_cli("project", "--model", fake_model, "--method", "pca", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "saved" in proc.stdout and "faithfulness" in proc.stdout
    model = load_model_folder(fake_model)
    assert proj.load_projection(model, proj.PCASettings()) is not None
    again = run_cli("project", "--model", fake_model, "--method", "pca", "-q", cwd=tmp_path)
    assert again.returncode == 0 and "already cached" in again.stdout
    bad = run_cli("project", "--model", tmp_path / "nowhere", "--method", "pca", cwd=tmp_path)
    assert bad.returncode == 1 and bad.stderr.startswith("bookembed: error:") and "Traceback" not in bad.stderr


class FakeClock:
    """``time`` for ``bookembed.index``: perf_counter reads 100.0, then 101.23456 (a build of 1.23456 s), and
    gmtime is 2023-11-14 22:13:20 UTC (1,700,000,000 s); strftime is the real one."""

    def __init__(self):
        import time

        self.readings = [100.0, 101.23456]
        self.strftime = time.strftime
        self.gmtime = lambda *seconds: time.gmtime(1_700_000_000)

    def perf_counter(self):
        return self.readings.pop(0)


def test_the_sidecar_says_how_and_when_the_index_was_built(tmp_path, monkeypatch):
    """The sidecar (as written to disk and as returned) names the kind, the library and its index type, the
    cells and the cells scanned, the recall measured (on recall_k neighbours of recall_queries rows), the rows,
    the build time in seconds to two decimals and the UTC time it was made; progress goes from 0.02 (the
    cells), through 0.9 (all rows added) and 0.92 (each breadth measured), to 1.0, with the messages users see."""
    import json

    model = load_model_folder(clustered_model(tmp_path / "m", n_books=300, n_links=20))
    monkeypatch.setattr(ann, "time", FakeClock())
    stages = []
    built = ann.build_index(model, "book", progress=lambda f, s: stages.append((f, s)))
    on_disk = json.loads((tmp_path / "m" / "index" / "book.json").read_text())
    assert on_disk == built.info and built.kind == "book"
    nprobe, recall = built.info["nprobe"], built.info["recall"]
    assert on_disk == {"kind": "book", "library": "faiss", "type": "IVFFlat", "nlist": 7, "nprobe": nprobe,
                       "recall": recall, "recall_k": 10, "recall_queries": 300, "rows": 300,
                       "build_seconds": 1.23, "created": "2023-11-14T22:13:20Z", "vectors": on_disk["vectors"]}
    assert on_disk["vectors"] == load_model_folder(tmp_path / "m").derived(ann.INDEX_DIR, "book").checksum != ""
    assert built.ivf.nlist == 7 and built.ivf.ntotal == 300
    breadths = ann.nprobe_steps(7)
    assert stages == [(0.02, "approximate book index: 7 cells from 300 sampled books"),
                      (pytest.approx(0.9), "approximate book index: 300 of 300 books added")] + [
        (0.92, f"approximate book index: measuring recall@10 ({b} of 7 cells scanned)") for b in breadths] + [
        (1.0, f"approximate book index: recall@10 {recall:.3f}")]


def test_the_first_breadth_that_reaches_the_target_is_kept_and_its_recall_stored_to_four_decimals(
        tmp_path, monkeypatch):
    """The recall measurement replaced by set values: a breadth whose recall is exactly the target is kept;
    when none reaches it the widest (every cell) is kept; the stored recall has four decimals, the last message
    three. The recall queries are distinct rows, in order, RECALL_QUERIES of them, and the same on every build."""
    monkeypatch.setattr(ann, "RECALL_QUERIES", 100)
    model = load_model_folder(clustered_model(tmp_path / "m", n_books=1500, n_links=20))
    unit = model.unit_vectors("book")
    assert ann.nprobe_steps(ann.cells_for(1500)) == [8, 16, 32, 38]
    asked = []

    def measured(values):
        def recall(ivf, unit_, queries, truth, nprobe, k):
            asked.append((nprobe, k, np.asarray(queries).copy()))
            assert unit_.shape == unit.shape and truth.shape == (len(queries), k)
            return values[nprobe]
        return recall

    for values, kept, stored, shown in (({8: 0.9, 16: ann.TARGET_RECALL, 32: 0.99, 38: 1.0}, 16, 0.95, "0.950"),
                                        ({8: 0.5, 16: 0.6, 32: 0.7, 38: 0.9123456}, 38, 0.9123, "0.912")):
        monkeypatch.setattr(ann, "_recall", measured(values))
        stages = []
        built = ann.build_index(model, "book", progress=lambda f, s: stages.append(s))
        assert built.info["nprobe"] == kept and built.recall == stored and ann.index_info(model)["recall"] == stored
        assert stages[-1] == f"approximate book index: recall@10 {shown}"
        assert breadths_tried(stages) == [p for p in (8, 16, 32, 38) if p <= kept]
    assert [p for p, _, _ in asked] == [8, 16, 8, 16, 32, 38] and {k for _, k, _ in asked} == {10}
    first = asked[0][2]
    assert len(first) == 100 and np.all(np.diff(first) > 0) and 0 <= first[0] and first[-1] < 1500
    assert all(np.array_equal(queries, first) for _, _, queries in asked)


def test_each_slice_of_50000_rows_is_added_under_its_own_ids(tmp_path, monkeypatch):
    """Rows are added 50,000 at a time (progress for each); every row is kept under its own row number."""
    monkeypatch.setattr(ann, "RECALL_QUERIES", 20)
    vectors = np.random.default_rng(13).normal(size=(50_001, 2)).astype(np.float32)
    model = load_model_folder(clustered_model(tmp_path / "m", n_links=10, book_vectors=vectors))
    stages = []
    built = ann.build_index(model, "book", progress=lambda f, s: stages.append((f, s)))
    unit = model.unit_vectors("book")
    assert built.ivf.ntotal == 50_001
    built.ivf.make_direct_map()
    assert all(np.array_equal(built.ivf.reconstruct(i), unit[i]) for i in (0, 1, 49_999, 50_000))
    added = [(f, s) for f, s in stages if s.endswith("books added")]
    assert added == [(pytest.approx(0.05 + 0.85 * 50_000 / 50_001),
                      "approximate book index: 50,000 of 50,001 books added"),
                     (pytest.approx(0.9), "approximate book index: 50,001 of 50,001 books added")]
    assert built.recall >= ann.TARGET_RECALL and built.info["rows"] == 50_001


def test_exact_search_blocks_stay_within_their_memory_whatever_the_rows(monkeypatch):
    """``top_k_rows`` without a block size takes as many queries a block as fit ``BLOCK_BYTES`` of
    similarities (a thousand queries against ten million rows would not fit), and the answer is the same."""
    from bookembed import vectors

    unit = vectors.unit_rows(np.random.default_rng(4).normal(size=(500, 8)).astype(np.float32))
    queries = np.arange(0, 500, 7)
    whole, sims = vectors.top_k_rows(unit, 5, queries=queries)
    shapes = []
    real = np.matmul

    def matmul(a, b, out=None):
        shapes.append(a.shape[0])
        return real(a, b, out=out)

    monkeypatch.setattr(vectors, "BLOCK_BYTES", 4 * 500 * 10)  # ten queries' similarities
    monkeypatch.setattr(vectors.np, "matmul", matmul)
    blocked, blocked_sims = vectors.top_k_rows(unit, 5, queries=queries)
    monkeypatch.undo()
    assert max(shapes) == 10 and sum(shapes) == len(queries)
    np.testing.assert_array_equal(blocked, whole)
    # the same dot products, summed in another order where the BLAS blocks them otherwise: equal to a float32 step
    np.testing.assert_allclose(blocked_sims, sims, rtol=0, atol=1e-6)
