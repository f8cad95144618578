"""Clusters and their link labels: planted groups, the demo, the cache, and bad parameters."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bookembed import clusters as cl
from bookembed.store import SaveInputs, load_model_folder, save_model_folder

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "models" / "demo"

GROUPS = {
    "russian": ["leo tolstoy", "russian literature", "moscow"],
    "tolkien": ["j. r. r. tolkien", "middle-earth", "high fantasy"],
    "asimov": ["isaac asimov", "foundation series", "psychohistory"],
}
COMMON = ["novel", "english translation", "category:novels", "hardcover classics"]


def make_grouped_model(path: Path, per_group: int = 8, dim: int = 6, seed: int = 0, noise: float = 0.05,
                       no_genre: tuple[int, ...] = ()) -> Path:
    """Three groups of books; each group's books share its three links, and every book
    also takes two of four common links. Vectors sit near their group's direction.
    Books numbered in ``no_genre`` have no genre."""
    rng = np.random.default_rng(seed)
    links = [link for group in GROUPS.values() for link in group] + COMMON
    centres = np.eye(dim)[:3] * 3.0
    titles, genres, pair_books, pair_links, vectors = [], [], [], [], []
    for g, (name, group_links) in enumerate(GROUPS.items()):
        for i in range(per_group):
            b = len(titles)
            titles.append(f"{name} book {i}")
            genres.append(name)
            own = [links.index(x) for x in group_links]
            common = [len(links) - len(COMMON) + j for j in rng.choice(len(COMMON), 2, replace=False)]
            for j in sorted(own + common):
                pair_books.append(b)
                pair_links.append(j)
            vectors.append(centres[g] + rng.normal(scale=noise * 3, size=dim))
    n = len(titles)
    genres = [None if i in no_genre else g for i, g in enumerate(genres)]
    books = pd.DataFrame({"title": titles, "author": [""] * n, "genre": genres, "primary_genre": genres,
                          "country": [""] * n, "language": [""] * n, "publisher": [""] * n,
                          "year": pd.array([None] * n, dtype="Int64"), "pages": pd.array([None] * n, dtype="Int64")})
    return save_folder(path, books, links, np.array(pair_books), np.array(pair_links), np.array(vectors),
                       rng.normal(size=(len(links), dim)))


def save_folder(path: Path, books: pd.DataFrame, links, pair_books, pair_links, book_vectors, link_vectors) -> Path:
    """A model folder from plain values (no training), through the store's public writer."""
    pb, pl = np.asarray(pair_books, np.int32), np.asarray(pair_links, np.int32)
    books = books.copy()
    books["n_links"] = np.bincount(pb, minlength=len(books))
    tables = {"books": books, "links": tuple(links), "pair_books": pb, "pair_links": pl,
              "link_counts": np.bincount(pl, minlength=len(links)).astype(np.int64)}
    rest = {"heldout": np.zeros(len(pb), bool), "book_vectors": np.asarray(book_vectors, np.float32),
            "link_vectors": np.asarray(link_vectors, np.float32), "config": {"dim": int(np.shape(book_vectors)[1])},
            "data": {"source": "test", "checksum": "0" * 64, "cleaning": {}, "report": []}}
    if "graph" in {f.name for f in dataclasses.fields(SaveInputs)}:
        from bookembed.graph import LinkGraph

        return save_model_folder(path, SaveInputs(graph=LinkGraph(**tables), **rest))
    return save_model_folder(path, SaveInputs(**tables, **rest))


@pytest.fixture
def grouped(tmp_path):
    return load_model_folder(make_grouped_model(tmp_path / "grouped"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    if not DEMO.is_dir():
        pytest.skip("no shipped demo model")
    # A copy: the cache is written into the folder, and the shipped one must stay as it is.
    path = tmp_path_factory.mktemp("demo") / "demo"
    shutil.copytree(DEMO, path)
    return load_model_folder(path)


def link_shares(model, labels: np.ndarray, cluster: int, link: int) -> tuple[float, float]:
    """Share of the cluster's books linking to ``link``, and of the other books, counted from the pairs."""
    has = np.array([link in set(model.book_links(i).tolist()) for i in range(model.n_books)])
    inside = labels == cluster
    return float(has[inside].mean()), float(has[~inside].mean())


def test_planted_groups_are_found_and_named_by_their_own_links(grouped):
    result = cl.cluster_books(grouped, n_clusters=3, cache=False)
    genres = grouped.books["primary_genre"].to_numpy()
    assert len(result.clusters) == 3 and result.noise == 0
    for cluster in result.clusters:
        members = set(genres[cluster.members])
        assert len(members) == 1  # one planted group per cluster
        (group,) = members
        assert cluster.size == 8
        assert set(cluster.terms) == set(GROUPS[group])  # the common links never make a label
        assert cluster.examples and all(t.startswith(group) for t in cluster.examples)


def test_labels_are_links_shared_more_inside_than_outside(demo):
    result = cl.cluster_books(demo, cache=False)
    assert sum(c.size for c in result.clusters) == demo.n_books
    assert len(result.clusters) == cl.default_n_clusters(demo.n_books)
    labelled = 0
    for cluster in result.clusters:
        for j, share_in, share_out in zip(cluster.term_ids, cluster.share_in, cluster.share_out):
            inside, outside = link_shares(demo, result.labels, cluster.id, j)
            assert inside == pytest.approx(share_in) and outside == pytest.approx(share_out)
            assert inside > outside
            assert inside >= 2 / cluster.size or cluster.size < 2  # shared by at least two of its books
            labelled += 1
    assert labelled >= 2 * len(result.clusters)


def test_demo_labels_are_recognisable(demo):
    result = cl.cluster_books(demo, cache=False)
    index = demo.title_index

    def label_of(title: str) -> str:
        return result.clusters[result.labels[index[title]]].label

    # At the default k the six Foundation books sit inside the science fiction cluster.
    assert any(w in label_of("Foundation and Empire") for w in ("asimov", "foundation", "science fiction"))
    # Tolkien's books share a cluster, alone or with other British fantasy (Pratchett's)
    assert any(w in label_of("The Two Towers") for w in ("tolkien", "middle-earth", "fantasy"))
    assert label_of("The Two Towers") == label_of("The Hobbit") == label_of("The Return of the King")
    assert "russia" in label_of("Crime and Punishment") or "dostoevsky" in label_of("Crime and Punishment")
    assert "russia" in label_of("Anna Karenina") or "tolstoy" in label_of("Anna Karenina")


def test_clusters_are_largest_first_and_members_most_typical_first(demo):
    result = cl.cluster_books(demo, cache=False)
    sizes = [c.size for c in result.clusters]
    assert sizes == sorted(sizes, reverse=True)
    unit = demo.unit_vectors("book")
    for cluster in result.clusters:
        centre = unit[cluster.members].mean(axis=0)
        sims = unit[cluster.members] @ centre
        assert np.all(np.diff(sims) <= 1e-6)
        assert list(cluster.examples) == [demo.titles[i] for i in cluster.members[: len(cluster.examples)]]


def test_labels_are_cached_in_the_folder_keyed_by_the_vectors(grouped):
    first = cl.cluster_books(grouped, n_clusters=3)
    assert not first.cached
    files = list((grouped.path / cl.CLUSTERS).glob("*.json"))
    assert [f.name for f in files] == ["kmeans-k3-s0.json"]
    again = cl.cluster_books(load_model_folder(grouped.path), n_clusters=3)
    assert again.cached and np.array_equal(again.labels, first.labels)
    # The same file written for other vectors is stale and recomputed, not trusted.
    info = json.loads(files[0].read_text())
    info["vectors"] = "0" * 40
    info["labels"] = [0] * grouped.n_books
    files[0].write_text(json.dumps(info))
    fresh = cl.cluster_books(load_model_folder(grouped.path), n_clusters=3)
    assert not fresh.cached and len(fresh.clusters) == 3
    files[0].write_text("{damaged")
    assert len(cl.cluster_books(load_model_folder(grouped.path), n_clusters=3).clusters) == 3
    assert not list((grouped.path / cl.CLUSTERS).glob(".*.tmp"))


def test_hdbscan_finds_the_planted_groups_and_samples_above_its_limit(grouped, monkeypatch):
    result = cl.cluster_books(grouped, "hdbscan", min_cluster_size=4, cache=False)
    genres = grouped.books["primary_genre"].to_numpy()
    found = [set(genres[c.members]) for c in result.clusters]
    assert len(found) == 3 and all(len(g) == 1 for g in found)
    monkeypatch.setattr(cl, "HDBSCAN_MAX_BOOKS", 18)
    labels, params = cl.fit_labels(grouped.book_vectors, "hdbscan", min_cluster_size=3)
    assert params["sampled"] == 18 and labels.shape == (grouped.n_books,)
    for c in range(labels.max() + 1):
        assert len(set(genres[labels == c])) == 1  # the unsampled books joined their own group


def test_kmeans_above_its_limit_fits_a_sample_and_gives_every_book_its_nearest_centre(grouped, monkeypatch):
    """Above ``KMEANS_MAX_BOOKS`` the centres come from a sample; every book, sampled or not, joins the centre
    nearest to its unit vector, whatever the chunks it is assigned in."""
    from sklearn.cluster import KMeans

    genres = grouped.books["primary_genre"].to_numpy()
    monkeypatch.setattr(cl, "KMEANS_MAX_BOOKS", 18)
    monkeypatch.setattr(cl, "ASSIGN_CHUNK", 7)
    labels, params = cl.fit_labels(grouped.book_vectors, "kmeans", n_clusters=3, seed=4)
    assert params["sampled"] == 18 and labels.shape == (grouped.n_books,)
    for c in range(3):
        assert len(set(genres[labels == c])) == 1  # each planted group whole in one cluster
    unit = cl._unit(grouped.book_vectors)
    sample = np.sort(np.random.default_rng(4).choice(grouped.n_books, 18, replace=False))
    centres = KMeans(n_clusters=3, n_init=4, random_state=4).fit(unit[sample]).cluster_centers_
    nearest = np.argmin(((unit[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
    assert len(set(zip(nearest.tolist(), labels.tolist()))) == 3  # the same partition, renumbered
    monkeypatch.setattr(cl, "ASSIGN_CHUNK", 10**6)
    assert cl.fit_labels(grouped.book_vectors, "kmeans", n_clusters=3, seed=4)[0].tolist() == labels.tolist()


def test_to_dict_is_plain_json(grouped):
    result = cl.cluster_books(grouped, n_clusters=3, cache=False)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["books"] == grouped.n_books and len(data["clusters"]) == 3
    assert all(len(c["links"]) == 3 and c["examples"] for c in data["clusters"])


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [({"method": "dbscan"}, "unknown clustering method 'dbscan'"),
     ({"n_clusters": 1}, "n_clusters must be between 2"),
     ({"n_clusters": 1000}, "n_clusters must be between 2"),
     ({"method": "hdbscan", "min_cluster_size": 1}, "min_cluster_size must be at least 2")],
)
def test_bad_parameters_are_named(grouped, kwargs, fragment):
    with pytest.raises(cl.ClusterError, match=fragment):
        cl.cluster_books(grouped, cache=False, **kwargs)


def test_default_number_of_clusters_grows_with_the_square_root():
    assert cl.default_n_clusters(478) == 31
    assert cl.default_n_clusters(3) == 2
    assert cl.default_n_clusters(1_000_000) == cl.MAX_CLUSTERS


def test_cli_prints_sizes_labels_and_examples(demo, tmp_path):
    from conftest import run_cli

    proc = run_cli("clusters", "--model", demo.path, "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert sum(c["size"] for c in data["clusters"]) == demo.n_books
    # what the library computes for the same folder, label for label
    expected = cl.cluster_books(demo, cache=False)
    assert [c["label"] for c in data["clusters"]] == [c.label for c in expected.clusters]
    assert [c["examples"] for c in data["clusters"]] == [list(c.examples) for c in expected.clusters]
    proc = run_cli("clusters", "--model", demo.path, "--examples", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "(cached)" in proc.stdout.splitlines()[0]
    assert "russian literature" in proc.stdout and "e.g. " in proc.stdout


def test_cli_bad_method_is_one_line(demo, tmp_path):
    from conftest import assert_one_line_error, run_cli

    assert_one_line_error(run_cli("clusters", "--model", demo.path, "--method", "dbscan", cwd=tmp_path), "dbscan")


# ---------------------------------------------------------------------------
# Exact results on tiny hand-written data


def tiny_model(path: Path, pairs: list[tuple[int, int]], n_books: int, n_links: int, vectors=None) -> object:
    """A model folder whose books link exactly as ``pairs`` (book, link) say."""
    books = pd.DataFrame({"title": [f"book {i}" for i in range(n_books)], "author": [""] * n_books,
                          "genre": [None] * n_books, "primary_genre": [None] * n_books,
                          "country": [""] * n_books, "language": [""] * n_books, "publisher": [""] * n_books,
                          "year": pd.array([None] * n_books, dtype="Int64"),
                          "pages": pd.array([None] * n_books, dtype="Int64")})
    rng = np.random.default_rng(n_books * 1000 + n_links)
    if vectors is None:
        vectors = rng.normal(size=(n_books, 4))
    pb = [b for b, _ in pairs]
    pl = [j for _, j in pairs]
    return load_model_folder(save_folder(path, books, [f"link {j}" for j in range(n_links)], pb, pl, vectors,
                                         rng.normal(size=(n_links, np.shape(vectors)[1]))))


def reference_terms(links_of: list[set[int]], labels: list[int], n_links: int, n_terms: int, min_books: int):
    """The documented rule, book by book: score p_in * log(p_in / p_out) with p_out add-one smoothed;
    a link qualifies when used by at least min(min_books, size) of the cluster's books and more often
    inside than outside; best first, ties by link id; only positive scores."""
    import math

    k = max(labels) + 1 if labels else 0
    clustered = [b for b, c in enumerate(labels) if c >= 0]
    out = []
    for c in range(k):
        members = [b for b in clustered if labels[b] == c]
        others = [b for b in clustered if labels[b] != c]
        size, rest = len(members), len(others)
        scored = []
        for j in range(n_links):
            n_in = sum(j in links_of[b] for b in members)
            n_out = sum(j in links_of[b] for b in others)
            p_in = n_in / size
            raw_out = n_out / max(rest, 1)
            p_out = (n_out + 1) / (rest + 2)
            if n_in >= min(min_books, size) and p_in > raw_out:
                score = p_in * math.log(max(p_in, 1e-300) / p_out)
                if score > 1e-12:
                    scored.append((-round(score, 9), j, p_in, raw_out))
        scored.sort()
        best = scored[:n_terms]
        out.append(([j for _, j, _, _ in best], [a for _, _, a, _ in best], [b for _, _, _, b in best]))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_characteristic_links_follow_the_documented_rule_book_by_book(tmp_path, seed):
    rng = np.random.default_rng(seed)
    n_books, n_links, k = int(rng.integers(6, 30)), int(rng.integers(18, 40)), int(rng.integers(1, 5))
    links_of = []
    pairs = []
    labels = [int(x) for x in rng.integers(-1 if seed % 2 else 0, k, size=n_books)]
    labels[0] = k - 1  # every id 0..k-1 is used
    labels[-1] = -1 if seed % 2 else labels[-1]  # the last book in no cluster
    for i in range(n_books):
        p = rng.uniform(0.05, 0.8, size=n_links)
        p[: n_links // 2] = np.where(rng.random(n_links // 2) < 0.5, 0.9, p[: n_links // 2])
        own = {j for j in range(n_links) if rng.random() < p[j]}
        links_of.append(own)
        pairs += [(i, j) for j in sorted(own)]
    model = tiny_model(tmp_path / "m", pairs, n_books, n_links)
    for n_terms, min_books in ((3, 2), (40, 2), (40, 3), (40, 1)):
        got = cl.characteristic_links(model, np.array(labels), n_terms, min_books=min_books)
        want = reference_terms(links_of, labels, n_links, n_terms, min_books)
        assert len(got) == len(want) == max(labels) + 1
        for (ids, share_in, share_out), (w_ids, w_in, w_out) in zip(got, want):
            assert ids.tolist() == w_ids
            assert share_in.tolist() == pytest.approx(w_in) and share_out.tolist() == pytest.approx(w_out)
    # The defaults: three links, shared by at least two books
    got = cl.characteristic_links(model, np.array(labels))
    want = reference_terms(links_of, labels, n_links, 3, 2)
    assert [g[0].tolist() for g in got] == [w[0] for w in want]


def test_characteristic_links_small_edges(tmp_path):
    # books 0-3 in cluster 0 all link to 0; book 4 (cluster 1) links to 0 as well: with one other book
    # the outside share is 1.0, so link 0 is not more common inside
    pairs = [(b, 0) for b in range(5)] + [(0, 1), (1, 1), (4, 2)]
    model = tiny_model(tmp_path / "m", pairs, 6, 3)
    got = cl.characteristic_links(model, np.array([0, 0, 0, 0, 1, -1]))
    assert got[0][0].tolist() == [1] and got[0][2].tolist() == [0.0]
    # one cluster: exactly one entry; nobody clustered: none
    assert len(cl.characteristic_links(model, np.zeros(6, int))) == 1
    assert cl.characteristic_links(model, np.full(6, -1)) == []
    # a link used by two of eight books and by none of the two others scores exactly 0: no label
    pairs = [(0, 0), (1, 0)] + [(b, 1) for b in range(10)]
    model = tiny_model(tmp_path / "z", pairs, 10, 2)
    got = cl.characteristic_links(model, np.array([0] * 8 + [1] * 2))
    assert got[0][0].tolist() == []
    with pytest.raises(cl.ClusterError, match=r"^9 labels for 10 books$"):
        cl.characteristic_links(model, np.zeros(9, int))


def test_incidence_has_every_book_and_link_and_counts_a_pair_once(tmp_path):
    pairs = [(0, 0), (0, 0), (1, 2), (2, 1)]  # book 3 links to nothing, link 3 is never used
    model = tiny_model(tmp_path / "m", pairs, 4, 4)
    x = cl.incidence(model)
    assert x.shape == (4, 4)
    want = np.zeros((4, 4))
    want[0, 0] = want[1, 2] = want[2, 1] = 1.0
    assert np.array_equal(x.toarray(), want)


def test_to_dict_rounds_and_names_every_field():
    cluster = cl.Cluster(id=0, members=np.array([4, 2]), terms=("moscow", "leo tolstoy"), term_ids=(7, 3),
                         share_in=(0.123456789, 1.0), share_out=(0.0000449, 0.987654321), examples=("A", "B"))
    bare = cl.Cluster(id=1, members=np.array([1]), terms=(), term_ids=(), share_in=(), share_out=(), examples=("C",))
    result = cl.Clustering(labels=np.array([-1, 1, 0, -1, 0]), clusters=(cluster, bare), method="hdbscan",
                           params={"min_cluster_size": 2}, seconds=1.23456789, noise=2)
    assert result.to_dict() == {
        "method": "hdbscan", "params": {"min_cluster_size": 2}, "seconds": 1.235, "books": 5, "noise": 2,
        "clusters": [
            {"id": 0, "size": 2, "label": "moscow · leo tolstoy",
             "links": [{"link": "moscow", "share_in": 0.1235, "share_out": 0.0},
                       {"link": "leo tolstoy", "share_in": 1.0, "share_out": 0.9877}],
             "examples": ["A", "B"]},
            {"id": 1, "size": 1, "label": "cluster 2", "links": [], "examples": ["C"]},
        ],
    }


def test_vectors_checksum_hashes_the_float32_bytes_when_the_model_has_none():
    import hashlib
    from types import SimpleNamespace

    vectors = np.arange(6, dtype=np.float64).reshape(3, 2)
    want = hashlib.sha1(vectors.astype(np.float32).tobytes()).hexdigest()
    assert cl.vectors_checksum(SimpleNamespace(book_vectors=vectors)) == want
    assert cl.vectors_checksum(SimpleNamespace(book_vectors=vectors, vectors_checksum="kept")) == "kept"


def test_cache_key_names_the_parameters():
    assert cl.cache_key("kmeans", {"n_clusters": 15, "seed": 0}) == "kmeans-k15-s0"
    assert cl.cache_key("hdbscan", {"min_cluster_size": 5}) == "hdbscan-m5-s0"
    assert cl.cache_key("hdbscan", {"min_cluster_size": 4, "seed": 7}) == "hdbscan-m4-s7"


def test_default_number_of_clusters_never_exceeds_the_books():
    for n in range(0, 6):
        assert cl.default_n_clusters(n) <= max(1, n)
    assert cl.default_n_clusters(1) == 1


def _partition(labels) -> set[frozenset[int]]:
    return {frozenset(np.flatnonzero(np.asarray(labels) == c).tolist()) for c in set(np.asarray(labels).tolist())}


def test_fit_labels_uses_cosine_geometry_whatever_the_lengths():
    rng = np.random.default_rng(1)
    a = np.array([1.0, 0.0, 0.0]) + rng.normal(scale=0.02, size=(12, 3))
    b = np.array([0.0, 1.0, 0.0]) + rng.normal(scale=0.02, size=(12, 3))
    lengths = np.tile([0.001, 1.0, 100.0], 8)[:, None]
    vectors = np.vstack([a, b]) * lengths
    labels, params = cl.fit_labels(vectors, n_clusters=2)
    assert _partition(labels) == {frozenset(range(12)), frozenset(range(12, 24))}
    assert labels.dtype == np.int64
    assert params == {"n_clusters": 2, "seed": 0, "n_init": 4}


def test_fit_labels_matches_kmeans_on_unit_rows_and_numbers_largest_first():
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(60, 5))
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    for seed in (0, 1, 2):
        raw = KMeans(n_clusters=6, n_init=4, random_state=seed).fit_predict(unit.astype(np.float32))
        labels, params = cl.fit_labels(vectors, "kmeans", n_clusters=6, seed=seed)
        assert _partition(labels) == _partition(raw)
        sizes = np.bincount(labels)
        assert list(sizes) == sorted(sizes, reverse=True)
        assert params == {"n_clusters": 6, "seed": seed, "n_init": 4}


def test_fit_labels_defaults_bounds_and_messages(monkeypatch):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(8, 3))
    labels, params = cl.fit_labels(vectors)  # k-means, default k, seed 0
    assert params == {"n_clusters": cl.default_n_clusters(8), "seed": 0, "n_init": 4}
    assert len(set(labels.tolist())) == cl.default_n_clusters(8)
    # k from 2 up to the number of books; two books are enough
    assert sorted(cl.fit_labels(vectors[:2], n_clusters=2)[0].tolist()) == [0, 1]
    assert sorted(cl.fit_labels(vectors, n_clusters=8)[0].tolist()) == list(range(8))
    assert len(set(cl.fit_labels(vectors, n_clusters=2)[0].tolist())) == 2
    with pytest.raises(cl.ClusterError, match=r"^n_clusters must be between 2 and the number of books \(8\), got 9$"):
        cl.fit_labels(vectors, n_clusters=9)
    with pytest.raises(cl.ClusterError, match=r"^n_clusters must be between 2 and the number of books \(8\), got 1$"):
        cl.fit_labels(vectors, n_clusters=1)
    with pytest.raises(cl.ClusterError, match=r"^cannot cluster 1 book\(s\); need at least 2$"):
        cl.fit_labels(vectors[:1])
    with pytest.raises(cl.ClusterError, match=r"^unknown clustering method 'dbscan'; use one of kmeans, hdbscan$"):
        cl.fit_labels(vectors, "dbscan")
    with pytest.raises(cl.ClusterError, match=r"^min_cluster_size must be at least 2, got 1$"):
        cl.fit_labels(vectors, "hdbscan", min_cluster_size=1)
    assert cl.fit_labels(vectors, "hdbscan", min_cluster_size=2)[1] == {"min_cluster_size": 2, "selection": "leaf"}
    assert cl.fit_labels(vectors, "hdbscan")[1] == {"min_cluster_size": 5, "selection": "leaf"}
    # one k-means restart above KMEANS_SINGLE_INIT_ABOVE books, four up to it
    monkeypatch.setattr(cl, "KMEANS_SINGLE_INIT_ABOVE", 7)
    assert cl.fit_labels(vectors[:7], n_clusters=2)[1]["n_init"] == 4
    assert cl.fit_labels(vectors, n_clusters=2)[1]["n_init"] == 1


def test_cluster_books_records_what_it_did_in_the_sidecar(grouped, monkeypatch):
    import time as real_time
    from types import SimpleNamespace

    ticks = iter([100.0, 100.0123456])
    clock = SimpleNamespace(perf_counter=lambda: next(ticks), gmtime=lambda: real_time.gmtime(0),
                            strftime=real_time.strftime)
    monkeypatch.setattr(cl, "time", clock)
    result = cl.cluster_books(grouped, n_clusters=3, seed=4)
    assert not result.cached and result.method == "kmeans"
    assert result.seconds == pytest.approx(0.0123456, abs=1e-9)
    assert result.params == {"n_clusters": 3, "seed": 4, "n_init": 4}
    info = json.loads((grouped.path / cl.CLUSTERS / "kmeans-k3-s4.json").read_text())
    assert {k: v for k, v in info.items() if k not in ("labels", "vectors")} == {
        "key": "kmeans-k3-s4", "method": "kmeans", "params": {"n_clusters": 3, "seed": 4, "n_init": 4},
        "n_books": grouped.n_books, "seconds": 0.012, "created": "1970-01-01T00:00:00Z"}
    assert info["labels"] == result.labels.tolist()
    # read back: the recorded parameters and time
    again = cl.cluster_books(load_model_folder(grouped.path), n_clusters=3, seed=4)
    assert again.cached and again.params == result.params and again.seconds == 0.012
    # a sidecar without them still gives labels (no parameters, no time), and noise is counted
    info.pop("params"), info.pop("seconds")
    info["labels"] = [-1, -1] + [float(x) for x in info["labels"][2:]]
    (grouped.path / cl.CLUSTERS / "kmeans-k3-s4.json").write_text(json.dumps(info))
    bare = cl.cluster_books(load_model_folder(grouped.path), n_clusters=3, seed=4)
    assert bare.cached and bare.params == {} and bare.seconds == 0.0
    assert bare.noise == 2 and bare.labels.dtype == np.int64 and bare.labels[:2].tolist() == [-1, -1]


def test_cluster_books_passes_its_parameters_on(grouped):
    result = cl.cluster_books(grouped, n_clusters=3, seed=5, n_examples=2, n_terms=1, cache=False)
    assert not result.cached and result.params["seed"] == 5 and result.method == "kmeans"
    assert all(len(c.examples) == 2 and len(c.terms) == 1 for c in result.clusters)
    result = cl.cluster_books(grouped, n_clusters=3, cache=False)
    assert all(len(c.examples) == 5 and len(c.terms) == 3 for c in result.clusters)  # the defaults
    hd = cl.cluster_books(grouped, "hdbscan")
    assert hd.method == "hdbscan" and hd.params["min_cluster_size"] == 5
    hd = cl.cluster_books(grouped, "hdbscan", min_cluster_size=4, seed=3)
    names = sorted(f.name for f in (grouped.path / cl.CLUSTERS).glob("*.json"))
    assert names == ["hdbscan-m4-s3.json", "hdbscan-m5-s0.json"]
    with pytest.raises(cl.ClusterError, match=r"^unknown clustering method 'dbscan'; use one of kmeans, hdbscan$"):
        cl.cluster_books(grouped, "dbscan")


def test_describe_clusters_defaults(tmp_path):
    # cluster 0: books 0-6 share links 0-4 (five labels possible); cluster 1: books 7-9
    pairs = [(b, j) for b in range(7) for j in range(5)] + [(b, 5) for b in range(7, 10)]
    model = tiny_model(tmp_path / "m", pairs, 10, 6)
    labels = np.array([0] * 7 + [1] * 3)
    clusters = cl.describe_clusters(model, labels)
    assert clusters[0].term_ids == (0, 1, 2) and len(clusters[0].examples) == 5
    assert len(cl.describe_clusters(model, labels, n_terms=1)[0].terms) == 1


def test_hdbscan_records_its_sample(grouped, monkeypatch):
    monkeypatch.setattr(cl, "HDBSCAN_MAX_BOOKS", grouped.n_books)
    assert cl.fit_labels(grouped.book_vectors, "hdbscan", min_cluster_size=3)[1] == {
        "min_cluster_size": 3, "selection": "leaf"}  # all the books: no sample
    monkeypatch.setattr(cl, "HDBSCAN_MAX_BOOKS", 18)
    assert cl.fit_labels(grouped.book_vectors, "hdbscan", min_cluster_size=3, seed=3)[1] == {
        "min_cluster_size": 3, "selection": "leaf", "sampled": 18, "seed": 3}
