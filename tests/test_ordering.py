"""Nearest-neighbour order at real sizes: every query against a full sort of every row.

numpy happens to sort small arrays completely inside ``argpartition``, so an
ordering bug hides below a few hundred rows; these tests use 1,000 to 3,000
rows, and the 1,413 real books.

Two kinds of data:

* continuous random vectors, where ties are rare: the order must match a full
  sort of the similarities;
* "dyadic" vectors, each with four entries of +-1/2 and the rest 0. They are
  unit length exactly and every similarity (a multiple of 1/4) is exact in
  float32, so there are only nine distinct similarities and nearly every
  position is decided by the tie rule: ties in id order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from test_neighbors import build

from bookembed.errors import BookembedError
from bookembed.neighbors import books_for_link, links_for_book, similar_books, similar_links
from bookembed.vectors import top_k, unit_rows


def full_order(unit, query, *, exclude=(), least=False, allowed=None):
    """Every eligible row, most similar first (least similar first when ``least``), ties by id: a full sort.

    The similarities are those of the normalised float32 query against the
    rows, computed in float64 here.
    """
    unit = np.asarray(unit, dtype=np.float64)
    q = np.asarray(query, dtype=np.float32).astype(np.float64)
    sims = unit @ (q / np.linalg.norm(q))
    ids = [i for i in range(len(unit)) if i not in set(exclude) and (allowed is None or allowed[i])]
    key = (lambda i: (sims[i], i)) if least else (lambda i: (-sims[i], i))
    return sorted(ids, key=key), sims


def dyadic(n, dim, rng):
    """``n`` unit vectors with four entries of +-0.5: all similarities exact in float32."""
    out = np.zeros((n, dim), dtype=np.float32)
    for row in out:
        row[rng.choice(dim, 4, replace=False)] = rng.choice([-0.5, 0.5], 4)
    return out


def continuous(n, dim, rng):
    return unit_rows(rng.normal(size=(n, dim)) * rng.uniform(0.2, 5, (n, 1)))


def matches_full_sort(ids, sims, expected, all_sims, k, least=False):
    """``ids`` (with the similarities ``sims`` the library returned) are the first ``k`` of ``expected``.

    Exactly, when every similarity is exact in float32 (dyadic vectors).
    Otherwise two rows whose similarities differ by less than float32's
    rounding may trade places, and nothing else: the similarity at every rank
    must equal the full sort's.
    """
    m = min(k, len(expected))
    ids, sims = np.asarray(ids), np.asarray(sims)
    assert len(ids) == len(sims) == m
    assert ids.dtype == np.int64 and np.all(np.isfinite(sims))
    np.testing.assert_allclose(sims, all_sims[ids], atol=2e-6)
    if np.all(np.isin(all_sims, np.arange(-4, 5) / 4)):
        assert ids.tolist() == expected[:m]
        return
    assert len(set(ids.tolist())) == m and set(ids.tolist()) <= set(expected)
    np.testing.assert_allclose(all_sims[ids], all_sims[expected[:m]], atol=2e-6)
    # the order the library reports is its own similarities', ties by id
    step = np.diff(sims) if least else -np.diff(sims)
    assert np.all(step >= 0)
    assert np.all(ids[1:][step == 0] > ids[:-1][step == 0])


# ---------------------------------------------------------------- vectors.top_k


@pytest.mark.parametrize("kind", ["continuous", "dyadic"])
@pytest.mark.parametrize("least", [False, True])
@pytest.mark.parametrize("k", [1, 10, 257, 1000, 5000])
def test_top_k_is_a_full_sort_at_3000_rows(kind, least, k):
    rng = np.random.default_rng(k + 7 * least)
    make = continuous if kind == "continuous" else dyadic
    unit = make(3000, 16, rng)
    query = make(1, 16, rng)[0] * 3.0
    ids, sims = top_k(unit, query, k, least=least)
    expected, all_sims = full_order(unit, query, least=least)
    matches_full_sort(ids, sims, expected, all_sims, k, least)
    if kind == "dyadic":  # the tie rule decides most places: check it directly too
        same = sims[1:] == sims[:-1]
        assert same.sum() > len(sims) // 2 or len(sims) < 20
        assert np.all(ids[1:][same] > ids[:-1][same])


@pytest.mark.parametrize("kind", ["continuous", "dyadic"])
def test_top_k_with_exclusions_and_a_filter_at_2000_rows(kind):
    rng = np.random.default_rng(3)
    unit = (continuous if kind == "continuous" else dyadic)(2000, 12, rng)
    query = rng.normal(size=12)
    allowed = rng.random(2000) < 0.6
    exclude = rng.choice(2000, 300, replace=False).tolist()
    for least in (False, True):
        ids, sims = top_k(unit, query, 400, exclude=exclude, least=least, allowed=allowed)
        expected, all_sims = full_order(unit, query, exclude=exclude, least=least, allowed=allowed)
        matches_full_sort(ids, sims, expected, all_sims, 400, least)
    everything, _ = top_k(unit, query, 10**6, exclude=exclude, allowed=allowed)
    assert sorted(everything.tolist()) == sorted(set(np.flatnonzero(allowed).tolist()) - set(exclude))


def test_zero_rows_score_zero_and_never_nan():
    rng = np.random.default_rng(4)
    vectors = rng.normal(size=(1500, 8))
    vectors[::7] = 0.0
    unit = unit_rows(vectors)
    assert np.isfinite(unit).all()
    query = rng.normal(size=8)
    ids, sims = top_k(unit, query, 1500)
    assert np.isfinite(sims).all() and len(ids) == 1500
    zero = np.zeros(1500, dtype=bool)
    zero[::7] = True
    assert np.all(sims[zero[ids]] == 0.0)
    expected, all_sims = full_order(unit, query)
    matches_full_sort(ids, sims, expected, all_sims, 1500)


@pytest.mark.parametrize("query", [np.zeros(8), np.full(8, np.nan), np.full(8, 1e-20), np.r_[np.nan, np.ones(7)]])
def test_a_query_without_direction_is_a_clear_error_at_any_size(query):
    unit = continuous(1200, 8, np.random.default_rng(5))
    with pytest.raises(BookembedError, match="length zero"):
        top_k(unit, query, 10)


def test_a_query_of_tiny_but_real_length_works():
    unit = continuous(1200, 8, np.random.default_rng(6))
    query = np.random.default_rng(7).normal(size=8)
    ids, sims = top_k(unit, query * 1e-9, 20)
    assert ids.tolist() == top_k(unit, query, 20)[0].tolist()
    np.testing.assert_allclose(sims, top_k(unit, query, 20)[1], atol=1e-6)


def test_nothing_eligible_or_k_zero_gives_empty_results():
    unit = continuous(1100, 4, np.random.default_rng(8))
    for kwargs in ({"allowed": np.zeros(1100, bool)}, {"exclude": range(1100)}):
        ids, sims = top_k(unit, np.ones(4), 5, **kwargs)
        assert ids.shape == sims.shape == (0,)
    assert top_k(unit, np.ones(4), 0)[0].shape == (0,)
    assert top_k(unit, np.ones(4), -3)[0].shape == (0,)


# ---------------------------------------------------------------- many queries at once: top_k_rows, top_k_against


def full_rows(unit, query_ids, k, self_first):
    """Each query row's first k of a full sort (float64), its own row first or never."""
    out = []
    for q in query_ids:
        expected, sims = full_order(unit, unit[q], exclude=[q])
        out.append(([q] + expected if self_first else expected)[:k])
    return out


@pytest.mark.parametrize("kind", ["continuous", "dyadic"])
@pytest.mark.parametrize("n, k", [(2500, 10), (2500, 64), (2500, 65), (600, 10), (300, 299), (300, 400)],
                         ids=["compiled", "compiled-largest-k", "partition-k", "partition-short-rows",
                              "every-other-row", "k-above-n"])
@pytest.mark.parametrize("self_first", [False, True])
def test_top_k_rows_is_a_full_sort_of_each_row(kind, n, k, self_first):
    from bookembed.vectors import top_k_rows

    rng = np.random.default_rng(n + k)
    unit = (continuous if kind == "continuous" else dyadic)(n, 12, rng)
    unit[7] = unit[3]  # a twin: with self_first each row still comes first in its own list
    queries = np.r_[3, 7, rng.choice(n, 20, replace=False)]
    calls = []
    ids, sims = top_k_rows(unit, k, queries=queries, self_first=self_first, block=9,
                           progress=lambda f, stage: calls.append(f))
    kk = min(k, n if self_first else n - 1)
    assert ids.shape == sims.shape == (len(queries), kk) and ids.dtype == np.int64
    assert calls == pytest.approx([min(1.0, b / len(queries)) for b in range(9, len(queries) + 9, 9)])
    for row, q in enumerate(queries):
        expected, all_sims = full_order(unit, unit[q], exclude=[q])
        if self_first:
            assert ids[row, 0] == q and sims[row, 0] == 1.0
            matches_full_sort(ids[row, 1:], sims[row, 1:], expected, all_sims, kk - 1)
        else:
            assert q not in ids[row]
            matches_full_sort(ids[row], sims[row], expected, all_sims, kk)
    every, _ = top_k_rows(unit[:50], 5, self_first=self_first)
    assert every.shape == (50, 5)
    if self_first:
        assert every[:, 0].tolist() == list(range(50))
    else:
        assert not (every == np.arange(50)[:, None]).any()


def test_top_k_rows_of_nothing():
    from bookembed.vectors import top_k_rows

    unit = continuous(10, 3, np.random.default_rng(0))
    assert top_k_rows(unit, 0)[0].shape == (10, 0)
    assert top_k_rows(unit, 3, queries=np.array([], dtype=np.int64))[0].shape == (0, 3)
    assert top_k_rows(unit[:1], 3)[0].shape == (1, 0)
    assert top_k_rows(unit[:1], 3, self_first=True)[0].tolist() == [[0]]


@pytest.mark.parametrize("kind", ["continuous", "dyadic"])
@pytest.mark.parametrize("n, k", [(2200, 10), (2200, 100), (500, 7), (40, 100)])
def test_top_k_against_is_a_full_sort_of_each_query(kind, n, k):
    from bookembed.vectors import top_k_against

    rng = np.random.default_rng(n * k)
    make = continuous if kind == "continuous" else dyadic
    base, queries = make(n, 10, rng), make(30, 10, rng)
    queries[:5] = base[:5]  # a query equal to a row finds it (first among its ties)
    calls = []
    ids, sims = top_k_against(queries, base, k, block=8, progress=lambda f, stage: calls.append((f, stage)))
    assert ids.shape == sims.shape == (30, min(k, n)) and ids.dtype == np.int64 and sims.dtype == np.float32
    assert [f for f, _ in calls] == pytest.approx([8 / 30, 16 / 30, 24 / 30, 1.0])
    assert calls[-1][1] == "nearest neighbours: 30 of 30 books"
    for row, q in enumerate(queries):
        expected, all_sims = full_order(base, q)
        matches_full_sort(ids[row], sims[row], expected, all_sims, k)
    assert top_k_against(queries, base, 0)[0].shape == (30, 0)
    assert top_k_against(queries[:0], base, 3)[0].shape == (0, 3)
    default_block, _ = top_k_against(queries, base, k)
    assert np.array_equal(default_block, ids)


# ---------------------------------------------------------------- every neighbours query of a model folder


@pytest.fixture(scope="module", params=["continuous", "dyadic"])
def big(request, tmp_path_factory):
    """1,200 books, 1,100 links, 6 links a book; vectors continuous or dyadic (ties everywhere)."""
    rng = np.random.default_rng(11)
    n_books, n_links, dim = 1200, 1100, 12
    make = continuous if request.param == "continuous" else dyadic
    bv, lv = make(n_books, dim, rng), make(n_links, dim, rng)
    pairs = sorted({(b, int(l)) for b in range(n_books) for l in rng.choice(n_links, 6, replace=False)})
    titles = [f"Book {i}" for i in range(n_books)]
    genres = [("fantasy", "history", "crime")[i % 3] for i in range(n_books)]
    return build(tmp_path_factory.mktemp("big") / request.param, titles, bv, lv, pairs, genres=genres)


def link_sets(model):
    sets = [set() for _ in range(model.n_books)]
    for b, l in zip(model.pair_books.tolist(), model.pair_links.tolist()):
        sets[b].add(l)
    return sets


def check_frame(frame, expected, all_sims, k, least=False):
    m = min(k, len(expected))
    assert len(frame) == m
    assert frame["rank"].tolist() == list(range(1, m + 1))
    matches_full_sort(frame["id"].to_numpy(), frame["similarity"].to_numpy(), expected, all_sims, k, least)


@pytest.mark.parametrize("least", [False, True])
@pytest.mark.parametrize("k", [10, 600, 5000])
def test_similar_books_is_a_full_sort(big, least, k):
    unit = big.unit_vectors("book")
    frame = similar_books(big, "Book 17", k, least=least)
    expected, all_sims = full_order(unit, unit[17], exclude=[17], least=least)
    check_frame(frame, expected, all_sims, k, least)
    assert frame["title"].tolist() == [big.titles[i] for i in frame["id"]]
    sets = link_sets(big)
    assert [set(s) for s in frame["shared_links"]] == [
        {big.links[j] for j in sets[17] & sets[i]} for i in frame["id"]]
    assert frame["genre"].tolist() == big.books["primary_genre"].iloc[frame["id"]].tolist()


def test_several_books_average_their_unit_vectors(big):
    unit = big.unit_vectors("book")
    ids = [3, 500, 1111]
    frame = similar_books(big, [big.titles[i] for i in ids], 1500)
    expected, all_sims = full_order(unit, unit[ids].mean(axis=0), exclude=ids)
    check_frame(frame, expected, all_sims, 1500)
    sets = link_sets(big)
    union = sets[3] | sets[500] | sets[1111]
    assert [set(s) for s in frame["shared_links"]] == [{big.links[j] for j in union & sets[i]} for i in frame["id"]]


def test_similar_books_in_one_genre_is_a_full_sort(big):
    unit = big.unit_vectors("book")
    allowed = (big.books["primary_genre"] == "crime").to_numpy()
    frame = similar_books(big, "Book 2", 10_000, genre="crime")
    expected, all_sims = full_order(unit, unit[2], exclude=[2], allowed=allowed)
    check_frame(frame, expected, all_sims, 10_000)
    assert len(frame) == allowed.sum() - 1


@pytest.mark.parametrize("least", [False, True])
def test_similar_links_is_a_full_sort(big, least):
    unit = big.unit_vectors("link")
    j = big.links.index("link 40")
    frame = similar_links(big, "link 40", 2000, least=least)
    expected, all_sims = full_order(unit, unit[j], exclude=[j], least=least)
    check_frame(frame, expected, all_sims, 2000, least)
    books_of = [set(big.link_books(i).tolist()) for i in range(big.n_links)]
    assert frame["books"].tolist() == [len(books_of[i]) for i in frame["id"]]
    assert frame["shared_books"].tolist() == [len(books_of[j] & books_of[i]) for i in frame["id"]]
    assert frame["link"].tolist() == [big.links[i] for i in frame["id"]]


@pytest.mark.parametrize("least", [False, True])
def test_books_for_a_link_is_a_full_sort(big, least):
    j = big.links.index("link 7")
    frame = books_for_link(big, "link 7", 1500, least=least)
    expected, all_sims = full_order(big.unit_vectors("book"), big.unit_vectors("link")[j], least=least)
    check_frame(frame, expected, all_sims, 1500, least)
    linked = set(big.link_books(j).tolist())
    assert frame["links_to_it"].tolist() == [i in linked for i in frame["id"]]
    assert sum(frame["links_to_it"]) == len(linked)


@pytest.mark.parametrize("least", [False, True])
def test_links_for_a_book_is_a_full_sort(big, least):
    frame = links_for_book(big, "Book 99", 1500, least=least)
    expected, all_sims = full_order(big.unit_vectors("link"), big.unit_vectors("book")[99], least=least)
    check_frame(frame, expected, all_sims, 1500, least)
    own = set(big.book_links(99).tolist())
    assert frame["linked"].tolist() == [j in own for j in frame["id"]]
    assert sum(frame["linked"]) == len(own)
    assert frame["books"].tolist() == [len(big.link_books(j)) for j in frame["id"]]


def test_a_book_with_a_zero_vector_is_found_with_similarity_zero(tmp_path):
    """A zero vector (a book that never trained) is a neighbour at similarity 0, never NaN; as a query it is
    a clear error."""
    rng = np.random.default_rng(12)
    bv = rng.normal(size=(1100, 6))
    bv[5] = 0.0
    pairs = [(b, b % 50) for b in range(1100)]
    model = build(tmp_path / "zero", [f"Book {i}" for i in range(1100)], bv, rng.normal(size=(50, 6)), pairs)
    frame = similar_books(model, "Book 0", 1100)
    assert np.isfinite(frame["similarity"]).all()
    assert frame.set_index("id").loc[5, "similarity"] == 0.0
    with pytest.raises(BookembedError, match="length zero"):
        similar_books(model, "Book 5", 3)


# ---------------------------------------------------------------- the 1,413 real records


@pytest.fixture(scope="module")
def real_model(real_path, tmp_path_factory):
    """The real corpus with random 16-d vectors (ordering does not need a trained model)."""
    from bookembed.corpus import load_corpus
    from bookembed.store import SaveInputs, load_model_folder, save_model_folder

    corpus = load_corpus(real_path)
    rng = np.random.default_rng(13)
    path = save_model_folder(tmp_path_factory.mktemp("real_order") / "p15", SaveInputs(
        graph=corpus, heldout=np.zeros(len(corpus.pair_books), bool),
        book_vectors=rng.normal(size=(corpus.n_books, 16)).astype(np.float32),
        link_vectors=rng.normal(size=(corpus.n_links, 16)).astype(np.float32),
        config={"seed": 13}, data={"source": "p15"}))
    return load_model_folder(path)


def test_real_books_are_ordered_by_a_full_sort(real_model):
    assert real_model.n_books > 1000
    unit = real_model.unit_vectors("book")
    for i in (0, 1, real_model.n_books // 2, real_model.n_books - 1):
        title = real_model.titles[i]
        for least in (False, True):
            frame = similar_books(real_model, title, real_model.n_books, least=least)
            expected, all_sims = full_order(unit, unit[i], exclude=[i], least=least)
            check_frame(frame, expected, all_sims, real_model.n_books, least)


def test_real_links_are_ordered_by_a_full_sort(real_model):
    books, links = real_model.unit_vectors("book"), real_model.unit_vectors("link")
    j = int(np.argmax(real_model.link_counts))
    name = real_model.links[j]
    frame = books_for_link(real_model, name, 2000)
    expected, all_sims = full_order(books, links[j])
    check_frame(frame, expected, all_sims, 2000)
    frame = similar_links(real_model, name, 5000)
    expected, all_sims = full_order(links, links[j], exclude=[j])
    check_frame(frame, expected, all_sims, 5000)
    frame = links_for_book(real_model, real_model.titles[0], 5000)
    expected, all_sims = full_order(links, books[0])
    check_frame(frame, expected, all_sims, 5000)
    assert isinstance(frame, pd.DataFrame)


# ---------------------------------------------------------------- cosine_knn (maps and faithfulness)


def test_cosine_knn_gives_each_row_then_its_nearest_with_cosine_distances():
    from bookembed.vectors import cosine_knn

    rng = np.random.default_rng(21)
    vectors = rng.normal(size=(1100, 6)) * rng.uniform(0.1, 10, (1100, 1))
    vectors[9] = vectors[4] * 2  # a twin at distance 0
    calls = []
    ids, dist = cosine_knn(vectors, 12, block=100, progress=lambda f, stage: calls.append(f))
    assert ids.shape == dist.shape == (1100, 12) and ids.dtype == np.int64 and dist.dtype == np.float32
    assert len(calls) == 11 and calls[-1] == 1.0
    assert ids[:, 0].tolist() == list(range(1100)) and np.all(dist[:, 0] == 0)
    unit = unit_rows(vectors)
    for i in (0, 4, 9, 555, 1099):
        expected, all_sims = full_order(unit, unit[i], exclude=[i])
        matches_full_sort(ids[i, 1:], 1 - dist[i, 1:], expected, all_sims, 11)
        np.testing.assert_allclose(dist[i, 1:], np.maximum(1 - all_sims[ids[i, 1:]], 0), atol=2e-6)
    assert ids[4, 1] == 9 and ids[9, 1] == 4 and dist[4, 1] == pytest.approx(0, abs=1e-6)
    assert np.all(dist >= 0) and np.all(dist <= 2)
    opposite = cosine_knn(np.array([[1.0, 0], [-1.0, 0], [0, 1.0]]), 3)[1]
    np.testing.assert_allclose(opposite, [[0, 1, 2], [0, 1, 2], [0, 1, 1]], atol=1e-6)


# ---------------------------------------------------------------- types and edges the documentation promises


def test_top_k_types_defaults_and_single_survivor():
    rng = np.random.default_rng(22)
    unit = continuous(1200, 6, rng)
    query64 = rng.normal(size=6)  # float64 in: float32 similarities out, as for a float32 query
    ids, sims = top_k(unit, query64)
    assert len(ids) == 10 and ids.dtype == np.int64 and sims.dtype == np.float32
    same_ids, same_sims = top_k(unit, query64.astype(np.float32))
    assert np.array_equal(ids, same_ids) and np.array_equal(sims, same_sims)
    for kwargs in ({"allowed": np.zeros(1200, bool)}, {"exclude": range(1200)}, {"k": 0}):
        empty_ids, empty_sims = top_k(unit, query64, **kwargs)
        assert empty_ids.dtype == np.int64 and empty_sims.dtype == np.float32
    # one row left: it is returned
    only = np.zeros(1200, bool)
    only[777] = True
    assert top_k(unit, query64, 5, allowed=only)[0].tolist() == [777]
    assert top_k(unit, query64, 5, exclude=[i for i in range(1200) if i != 3])[0].tolist() == [3]
    with pytest.raises(BookembedError, match=r"^the query vector has length zero: it has no direction to compare$"):
        top_k(unit, np.zeros(6))


def test_many_query_searches_take_float64_as_float32_and_keep_their_types():
    from bookembed.vectors import top_k_against, top_k_rows

    rng = np.random.default_rng(23)
    base = rng.normal(size=(2100, 8))
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    queries = base[:40] + rng.normal(0, 0.1, (40, 8))
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)  # both searches take unit vectors
    ids, sims = top_k_against(queries, base, 12)
    ids32, sims32 = top_k_against(queries.astype(np.float32), base.astype(np.float32), 12)
    assert np.array_equal(ids, ids32) and np.array_equal(sims, sims32) and sims.dtype == np.float32
    rows, rsims = top_k_rows(base, 12, queries=np.arange(0, 2100, 50))
    rows32, rsims32 = top_k_rows(base.astype(np.float32), 12, queries=np.arange(0, 2100, 50, dtype=np.int32))
    assert np.array_equal(rows, rows32) and np.array_equal(rsims, rsims32) and rsims.dtype == np.float32
    for k in (0, 3):
        got_ids, got_sims = top_k_rows(base[:10], k)
        assert got_ids.shape == got_sims.shape == (10, k) and got_sims.dtype == np.float32
    # one query, and k = 1
    one, one_sim = top_k_against(queries[:1], base, 1)
    expected, all_sims = full_order(base.astype(np.float32), queries[0])
    assert one.tolist() == [[expected[0]]] and one_sim[0, 0] == pytest.approx(all_sims[expected[0]], abs=2e-6)
    single, _ = top_k_against(queries[5:6], base, 4)
    assert single.tolist() == [full_order(base.astype(np.float32), queries[5])[0][:4]]


def test_each_query_returns_ten_by_default_with_its_documented_columns(big):
    frames = {
        "similar_books": similar_books(big, "Book 1"),
        "similar_links": similar_links(big, "link 1"),
        "books_for_link": books_for_link(big, "link 1"),
        "links_for_book": links_for_book(big, "Book 1"),
    }
    columns = {
        "similar_books": ["rank", "title", "similarity", "author", "genre", "year", "shared_links", "id"],
        "similar_links": ["rank", "link", "similarity", "books", "shared_books", "id"],
        "books_for_link": ["rank", "title", "similarity", "author", "genre", "year", "links_to_it", "id"],
        "links_for_book": ["rank", "link", "similarity", "books", "linked", "id"],
    }
    for name, frame in frames.items():
        assert len(frame) == 10, name
        assert list(frame.columns) == columns[name], name
        assert frame["similarity"].dtype == np.float64 and frame["id"].dtype == np.int64, name


def test_many_row_search_reports_its_progress_in_books_done():
    """``top_k_rows`` tells its caller, block by block, how many of the query books are done, ending at all."""
    from bookembed.vectors import top_k_rows

    unit = unit_rows(np.random.default_rng(0).normal(size=(25, 4)).astype(np.float32))
    seen: list[tuple[float, str]] = []
    top_k_rows(unit, 3, block=10, progress=lambda share, message: seen.append((share, message)))
    assert [share for share, _ in seen] == [10 / 25, 20 / 25, 1.0]
    assert [message for _, message in seen] == [f"nearest neighbours: {n} of 25 books" for n in (10, 20, 25)]
