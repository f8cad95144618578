"""Exact cosine neighbours over a model folder, with explanations and forgiving name lookup."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bookembed.neighbors import (
    UnknownName,
    books_for_link,
    fold,
    links_for_book,
    resolve,
    search_names,
    similar_books,
    similar_links,
    top_k,
)
from bookembed.store import SaveInputs, load_model_folder, save_model_folder
from bookembed.errors import BookembedError
from bookembed.graph import LinkGraph

TITLES = ["War and Peace", "Anna Karenina", "Les Misérables", "The Hobbit", "Dune", "Emma",
          "Crime and Punishment", "Pride and Prejudice", "Война и мир", "The Lord of the Rings"]


def build(path, titles, book_vectors, link_vectors, pairs, genres=None, links=None, drop=()):
    pb = np.array([p[0] for p in pairs], dtype=np.int32)
    pl = np.array([p[1] for p in pairs], dtype=np.int32)
    n_books, n_links = len(titles), len(link_vectors)
    books = pd.DataFrame(
        {
            "title": titles,
            "author": [f"Author {i % 4}" for i in range(n_books)],
            "primary_genre": genres or ["fantasy" if i % 2 else "history" for i in range(n_books)],
            "year": pd.array([1800 + i if i % 3 else None for i in range(n_books)], dtype="Int64"),
            "n_links": np.bincount(pb, minlength=n_books),
        }
    ).drop(columns=list(drop))
    save_model_folder(
        path,
        SaveInputs(
            graph=LinkGraph(books=books, links=tuple(links or [f"Link {j}".lower() for j in range(n_links)]), link_counts=np.bincount(pl, minlength=n_links),
                            pair_books=pb, pair_links=pl),
            heldout=np.zeros(len(pb), bool),
            book_vectors=np.asarray(book_vectors, np.float32),
            link_vectors=np.asarray(link_vectors, np.float32),
            config={"seed": 0},
            data={},
        ),
    )
    return load_model_folder(path)


@pytest.fixture
def model(tmp_path):
    """40 books (TITLES first), 25 links, random vectors; book 7's vector duplicated as book 31's."""
    rng = np.random.default_rng(7)
    titles = TITLES + [f"Book {i}" for i in range(len(TITLES), 40)]
    bv = rng.normal(size=(40, 6))
    bv[31] = bv[7] * 3.0  # a scaled copy: cosine 1
    lv = rng.normal(size=(25, 6))
    pairs = sorted({(b, int(l)) for b in range(40) for l in rng.choice(25, 6, replace=False)})
    return build(tmp_path / "m", titles, bv, lv, pairs)


def unit(x):
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def brute(vectors, query, exclude=(), least=False, allowed=None):
    sims = unit(vectors) @ unit(query)
    ids = [i for i in range(len(vectors)) if i not in set(exclude) and (allowed is None or allowed[i])]
    return sorted(ids, key=lambda i: sims[i] if least else -sims[i]), sims


def link_sets(model):
    sets = [set() for _ in range(model.n_books)]
    for b, l in zip(model.pair_books, model.pair_links):
        sets[b].add(model.links[l])
    return sets


# ---------------------------------------------------------------- top_k


@pytest.mark.parametrize("k", [1, 5, 30, 200])
@pytest.mark.parametrize("least", [False, True])
def test_top_k_is_exact(k, least):
    rng = np.random.default_rng(k)
    vectors = rng.normal(size=(150, 12))
    query = rng.normal(size=12)
    allowed = rng.random(150) < 0.7
    exclude = [3, 9, 77]
    ids, sims = top_k(unit(vectors).astype(np.float32), query * 5, k, exclude=exclude, least=least, allowed=allowed)
    expected, all_sims = brute(vectors, query, exclude, least, allowed)
    assert ids.tolist() == expected[:k]
    np.testing.assert_allclose(sims, all_sims[ids], rtol=1e-5, atol=1e-6)
    assert len(ids) == min(k, len(expected))


def test_top_k_edge_cases():
    unit_vectors = unit(np.eye(3)).astype(np.float32)
    assert len(top_k(unit_vectors, np.ones(3), 0)[0]) == 0
    assert len(top_k(unit_vectors, np.ones(3), 5, exclude=[0, 1, 2])[0]) == 0
    for no_direction in (np.zeros(3), np.full(3, np.nan)):  # a clear error, never NaN similarities
        with pytest.raises(BookembedError, match="length zero"):
            top_k(unit_vectors, no_direction, 2)


# ---------------------------------------------------------------- books like a book


def test_similar_books_is_exact_and_explained(model):
    frame = similar_books(model, "Anna Karenina", k=10)
    expected, sims = brute(model.book_vectors, model.book_vectors[1], exclude=[1])
    assert frame["id"].tolist() == expected[:10]
    assert frame["rank"].tolist() == list(range(1, 11))
    np.testing.assert_allclose(frame["similarity"], sims[expected[:10]], rtol=1e-5, atol=1e-6)
    assert list(frame.columns) == ["rank", "title", "similarity", "author", "genre", "year", "shared_links", "id"]
    sets = link_sets(model)
    for _, row in frame.iterrows():
        assert row["title"] == model.titles[row["id"]]
        assert row["author"] == model.books["author"][row["id"]]
        assert set(row["shared_links"]) == sets[1] & sets[row["id"]]
        assert len(row["shared_links"]) == len(set(row["shared_links"]))
        # rarest first: fewer books link to each shared link than to the next, ties in link order
        keys = [(model.link_counts[model.link_index[n]], model.link_index[n]) for n in row["shared_links"]]
        assert keys == sorted(keys)


def test_a_duplicated_vector_is_its_twins_nearest_neighbour(model):
    first = similar_books(model, TITLES[7], k=3)
    assert first["title"][0] == "Book 31"
    assert first["similarity"][0] == pytest.approx(1.0, abs=1e-5)
    assert similar_books(model, "Book 31", k=1)["title"][0] == TITLES[7]


def test_least_similar_books(model):
    frame = similar_books(model, "Dune", k=5, least=True)
    expected, sims = brute(model.book_vectors, model.book_vectors[4], exclude=[4], least=True)
    assert frame["id"].tolist() == expected[:5]
    assert frame["similarity"].is_monotonic_increasing
    assert frame["similarity"].max() < similar_books(model, "Dune", k=5)["similarity"].min()


def test_query_averaging_several_books(model):
    query = ["War and Peace", "Emma", "Dune"]
    frame = similar_books(model, query, k=8)
    ids = [0, 5, 4]
    mean = unit(model.book_vectors[ids]).mean(axis=0)
    expected, _ = brute(model.book_vectors, mean, exclude=ids)
    assert frame["id"].tolist() == expected[:8]
    assert not set(frame["id"]) & set(ids)
    sets = link_sets(model)
    union = sets[0] | sets[5] | sets[4]
    for _, row in frame.iterrows():
        assert set(row["shared_links"]) == union & sets[row["id"]]
    # one column per query book, in the order given: the exact cosine to it
    assert list(frame.columns[2:6]) == ["similarity", "similarity_1", "similarity_2", "similarity_3"]
    each = unit(model.book_vectors[frame["id"]]) @ unit(model.book_vectors[ids]).T
    np.testing.assert_allclose(frame[["similarity_1", "similarity_2", "similarity_3"]], each, atol=1e-5)


def test_one_title_in_a_list_equals_the_title(model):
    pd.testing.assert_frame_equal(similar_books(model, ["Emma"], k=5), similar_books(model, "Emma", k=5))


def test_genre_filter(model):
    frame = similar_books(model, "Emma", k=50, genre="fantasy")
    genres = model.books["primary_genre"]
    assert set(genres[frame["id"]]) == {"fantasy"}
    assert len(frame) == int((genres == "fantasy").sum()) - int(genres[5] == "fantasy")


def test_k_larger_than_the_model(model):
    frame = similar_books(model, "Emma", k=1000)
    assert len(frame) == model.n_books - 1 and frame["title"].is_unique
    assert frame["similarity"].is_monotonic_decreasing


def test_no_titles(model):
    with pytest.raises(BookembedError) as info:
        similar_books(model, [], k=3)
    assert str(info.value) == "no book given"


def test_an_unknown_combine_is_refused_naming_the_choices(model):
    with pytest.raises(BookembedError) as info:
        similar_books(model, ["Emma", "Dune"], combine="max")
    assert str(info.value) == "combine must be one of mean, min, rrf; got 'max'"


def test_a_genre_no_book_has_names_the_genres_there_are(model, tmp_path):
    with pytest.raises(BookembedError) as info:
        similar_books(model, "Emma", genre="poetry")
    text = str(info.value)
    assert text.startswith("no book has the genre 'poetry'; genres here include ")
    assert text.endswith(("'fantasy', 'history'", "'history', 'fantasy'")), text
    rng = np.random.default_rng(1)
    bare = build(tmp_path / "bare", TITLES, rng.normal(size=(10, 4)), rng.normal(size=(5, 4)),
                 [(b, b % 5) for b in range(10)], drop=["primary_genre"])
    with pytest.raises(BookembedError) as info:
        similar_books(bare, "Emma", genre="fantasy")
    assert str(info.value) == "no book has the genre 'fantasy': this model's books have no genres"
    assert "genre" not in similar_books(bare, "Emma", k=3).columns


RRF = 60  # reciprocal-rank fusion's constant, as documented


def fused_expectation(model, ids, combine, least, genre):
    """Every candidate book scored as ``combine`` says, written out: (ids in order, their scores)."""
    genres = model.books["primary_genre"].tolist()
    candidates = [i for i in range(model.n_books) if i not in ids and (genre is None or genres[i] == genre)]
    # the stored unit vectors, in float32 as searched: books 7 and 31 (one a multiple of the other) then tie
    # exactly or not alike here and in the search, and ties go to the lower id
    u = model.unit_vectors("book")
    sims = u[candidates] @ u[ids].T
    cos = {(c, q): float(sims[r, j]) for r, c in enumerate(candidates) for j, q in enumerate(ids)}
    if combine == "min":
        score = {c: min(cos[c, q] for q in ids) for c in candidates}
    else:
        score = dict.fromkeys(candidates, 0.0)
        for q in ids:
            for rank, c in enumerate(sorted(candidates, key=lambda c: (-cos[c, q], c)), start=1):
                score[c] += 1.0 / (RRF + rank)
    order = sorted(candidates, key=lambda c: (score[c] if least else -score[c], c))
    return order, [score[c] for c in order]


@pytest.mark.parametrize("combine", ["min", "rrf"])
@pytest.mark.parametrize("query", [["War and Peace", "Dune"], ["Emma", "The Hobbit", "Book 20"]])
def test_min_and_rrf_score_every_book_exactly(model, combine, query):
    ids = [model.title_index[t] for t in query]
    u = unit(model.book_vectors)
    for least in (False, True):
        for genre in (None, "fantasy"):
            frame = similar_books(model, query, k=7, combine=combine, least=least, genre=genre)
            order, scores = fused_expectation(model, ids, combine, least, genre)
            assert frame["id"].tolist() == order[:7], (combine, least, genre)
            np.testing.assert_allclose(frame["similarity"], scores[:7], rtol=1e-5, atol=1e-6)
            # one column per query book, in the order given: the exact cosine to it
            each = [f"similarity_{j + 1}" for j in range(len(ids))]
            assert list(frame.columns[2:3 + len(ids)]) == ["similarity", *each]
            np.testing.assert_allclose(frame[each], u[frame["id"]] @ u[ids].T, atol=1e-5)


@pytest.mark.parametrize("combine", ["min", "rrf"])
def test_one_book_is_the_same_search_whatever_the_combine(model, combine):
    for least in (False, True):
        pd.testing.assert_frame_equal(similar_books(model, "Emma", 6, combine=combine, least=least),
                                      similar_books(model, "Emma", 6, least=least))


# ---------------------------------------------------------------- links


def test_similar_links(model):
    frame = similar_links(model, "link 3", k=6)
    expected, sims = brute(model.link_vectors, model.link_vectors[3], exclude=[3])
    assert frame["id"].tolist() == expected[:6]
    np.testing.assert_allclose(frame["similarity"], sims[expected[:6]], rtol=1e-5, atol=1e-6)
    books_of = [set(model.pair_books[model.pair_links == j].tolist()) for j in range(model.n_links)]
    for _, row in frame.iterrows():
        assert row["link"] == model.links[row["id"]]
        assert row["books"] == len(books_of[row["id"]])
        assert row["shared_books"] == len(books_of[3] & books_of[row["id"]])
    least = similar_links(model, "link 3", k=6, least=True)
    assert least["id"].tolist() == brute(model.link_vectors, model.link_vectors[3], exclude=[3], least=True)[0][:6]


def test_books_for_a_link(model):
    frame = books_for_link(model, "link 5", k=10)
    expected, _ = brute(model.book_vectors, model.link_vectors[5])
    assert frame["id"].tolist() == expected[:10]
    linked = set(model.pair_books[model.pair_links == 5].tolist())
    assert frame["links_to_it"].tolist() == [i in linked for i in frame["id"]]
    least = books_for_link(model, "link 5", k=4, least=True)
    assert least["id"].tolist() == brute(model.book_vectors, model.link_vectors[5], least=True)[0][:4]


def test_links_for_a_book(model):
    frame = links_for_book(model, "Emma", k=7)
    expected, _ = brute(model.link_vectors, model.book_vectors[5])
    assert frame["id"].tolist() == expected[:7]
    own = set(model.pair_links[model.pair_books == 5].tolist())
    assert frame["linked"].tolist() == [j in own for j in frame["id"]]
    least = links_for_book(model, "Emma", k=3, least=True)
    assert least["id"].tolist() == brute(model.link_vectors, model.book_vectors[5], least=True)[0][:3]


def test_links_resolve_case_insensitively(model):
    assert resolve(model, "LINK 4", "link") == model.links.index("link 4")
    with pytest.raises(UnknownName) as info:
        resolve(model, "lnk 4", "link")
    assert info.value.kind == "link" and "link 4" in info.value.suggestions


# ---------------------------------------------------------------- names


def test_exact_and_folded_titles_resolve(model):
    assert resolve(model, "Les Misérables") == 2
    assert resolve(model, "Les Miserables") == 2  # accent-insensitive
    assert resolve(model, "les misérables") == 2  # case-insensitive
    assert resolve(model, "  WAR   AND peace ") == 0
    assert resolve(model, "война и мир") == 8


def test_a_clear_typo_is_taken_and_an_unclear_one_gets_close_suggestions(model):
    pd.testing.assert_frame_equal(similar_books(model, "war and pease"), similar_books(model, "War and Peace"))
    with pytest.raises(UnknownName) as info:  # "Book 10" ... "Book 19" are all as close: none is taken
        similar_books(model, "bok 1")
    err = info.value
    assert err.kind == "book" and err.name == "bok 1"
    assert err.suggestions[0] == "Book 10" and set(err.suggestions) <= {f"Book {i}" for i in range(10, 20)}
    assert "Book 10" in str(err) and "\n" not in str(err)
    assert len(err.suggestions) <= 5


@pytest.mark.parametrize(
    "typed, wanted",
    [("Les Miserables (novel)", "Les Misérables"), ("pride prejudice", "Pride and Prejudice"),
     ("Lord of the Rings", "The Lord of the Rings"), ("Crime & Punishment", "Crime and Punishment")],
)
def test_near_misses_name_one_book(model, typed, wanted):
    assert model.titles[resolve(model, typed)] == wanted


def test_a_name_several_books_fit_lists_them(model):
    from bookembed.neighbors import AmbiguousName

    with pytest.raises(AmbiguousName) as info:
        similar_books(model, "book 1")
    assert info.value.candidates == [f"Book {i}" for i in range(10, 20)]
    assert str(info.value).startswith("'book 1' could be 10 books: 'Book 10', 'Book 11'")
    assert "and 5 more" in str(info.value) and "\n" not in str(info.value)


def test_nothing_close_gives_no_suggestion(model):
    with pytest.raises(UnknownName) as info:
        resolve(model, "qzxqzxqzx")
    assert info.value.suggestions == []
    assert "did you mean" not in str(info.value)


def test_search_names_orders_exact_prefix_contains(model):
    ids = search_names(model, "the", limit=10)
    names = [model.titles[i] for i in ids]
    starts = [n for n in names if fold(n).startswith("the")]
    assert names[: len(starts)] == starts and {"The Hobbit", "The Lord of the Rings"} <= set(starts)
    assert search_names(model, "les mis")[0] == 2
    assert search_names(model, "   ") == []
    assert [model.titles[i] for i in search_names(model, "emma")][0] == "Emma"


def test_fold():
    assert fold("Les Misérables") == fold("les miserables") == "les miserables"
    assert fold("  Straße \t Émile ") == "strasse emile"


# ---------------------------------------------------------------- a trained model


def test_trained_model_finds_a_books_own_cluster(tiny_trained_model):
    model = load_model_folder(tiny_trained_model)
    author = dict(zip(model.titles, model.books["author"]))
    for title in ("The Two Towers", "Anna Karenina", "Foundation and Empire"):
        frame = similar_books(model, title, k=3)
        assert all(author[t] == author[title] for t in frame["title"]), (title, frame["title"].tolist())
        assert all(len(s) > 0 for s in frame["shared_links"])
