"""Loading and cleaning: NDJSON (plain, gzip), pairs tables, metadata tables, the cleaning rules."""

from __future__ import annotations

import gzip
import hashlib
import json
import dataclasses
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from conftest import TINY_BOOKS, record, write_ndjson

from bookembed.corpus import CleaningConfig, LoadReport, load_corpus, read_records
from bookembed.errors import CorpusError
from bookembed.metadata import METADATA_FIELDS


def pairs_set(corpus) -> set[tuple[str, str]]:
    return {(corpus.books["title"][b], corpus.links[l]) for b, l in zip(corpus.pair_books, corpus.pair_links)}


def reference_pairs(rows, config: CleaningConfig) -> set[tuple[str, str]]:
    """The seed project's cleaning, written plainly: the oracle for ``load_corpus``."""
    removed = {r.lower() for r in config.remove_links}
    per_book = {}
    for title, _, links, *_ in rows:
        if title in per_book or any(s in title for s in config.drop_title_substrings):
            continue
        kept = {(l.lower() if config.lowercase_links else l) for l in (x.strip() for x in links)
                if l and l.lower() not in removed}
        per_book[title] = kept
    counts: dict[str, int] = {}
    for links in per_book.values():
        for link in links:
            counts[link] = counts.get(link, 0) + 1
    return {(t, l) for t, links in per_book.items() for l in links if counts[l] >= config.min_link_count}


def write_pairs_csv(path, rows, header=("item", "link"), sep=","):
    lines = [sep.join(header)]
    for title, _, links, *_ in rows:
        for link in links:
            lines.append(sep.join(json.dumps(x) if sep in x or '"' in x else x for x in (title, link)))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def pairs_frame(rows) -> pd.DataFrame:
    return pd.DataFrame([(r[0], link) for r in rows for link in r[2]], columns=["item", "link"])


# ---------------------------------------------------------------- NDJSON and the rules


def test_tiny_corpus(tiny_path):
    corpus = load_corpus(tiny_path)
    titles = corpus.books["title"].tolist()
    assert corpus.n_books == 12
    assert "Wikipedia:Sandbox" not in titles
    assert titles == [r[0] for r in TINY_BOOKS if not r[0].startswith("Wikipedia:")]
    assert list(corpus.books.columns) == ["title", *METADATA_FIELDS, "n_links"]
    assert corpus.report.dropped_titles == 1
    assert corpus.source == str(tiny_path)
    assert corpus.checksum == hashlib.sha256(tiny_path.read_bytes()).hexdigest()
    assert pairs_set(corpus) == reference_pairs(TINY_BOOKS, CleaningConfig())


def test_corpus_arrays_are_consistent(tiny_path):
    corpus = load_corpus(tiny_path, config=CleaningConfig(min_link_count=2))
    pb, pl = corpus.pair_books, corpus.pair_links
    assert pb.dtype == np.int32 and pl.dtype == np.int32
    assert corpus.n_pairs == len(pl)
    keys = pb.astype(np.int64) * corpus.n_links + pl
    assert np.all(np.diff(keys) > 0), "pairs are unique and sorted by book then link"
    assert np.array_equal(corpus.link_counts, np.bincount(pl, minlength=corpus.n_links))
    assert np.array_equal(corpus.books["n_links"].to_numpy(), np.bincount(pb, minlength=corpus.n_books))
    assert len(set(corpus.links)) == corpus.n_links
    order = sorted(range(corpus.n_links), key=lambda j: (-corpus.link_counts[j], corpus.links[j]))
    assert order == list(range(corpus.n_links)), "most-linked first, ties by name"
    assert corpus.link_counts.min() >= 2


def test_links_are_lowercased_and_format_links_removed(tiny_path):
    corpus = load_corpus(tiny_path, config=CleaningConfig(min_link_count=1))
    assert all(link == link.lower() for link in corpus.links)
    assert "leo tolstoy" in corpus.links
    for removed in CleaningConfig().remove_links:
        assert removed not in corpus.links
    # The tiny records do contain them, in other cases
    assert {"hardcover", "paperback", "e-book"} <= {l.lower() for r in TINY_BOOKS for l in r[2]}


def test_every_default_removal_rule(tmp_path):
    removed = ["Hardcover", "paperback", "HARDBACK", "E-book", "Wikipedia:WikiProject Books",
               "wikipedia:wikiproject novels"]
    rows = [record(f"Book {i}", removed + ["Kept link"]) for i in range(4)]
    corpus = load_corpus(write_ndjson(tmp_path / "r.ndjson", rows))
    assert corpus.links == ("kept link",)


def test_removal_rules_are_configurable(tmp_path):
    rows = [record(f"Book {i}", ["Hardcover", "Kept link", "Odd one"]) for i in range(4)]
    path = write_ndjson(tmp_path / "r.ndjson", rows)
    assert set(load_corpus(path, config=CleaningConfig(remove_links=())).links) == {"hardcover", "kept link", "odd one"}
    assert set(load_corpus(path, config=CleaningConfig(remove_links=("odd one",))).links) == {"hardcover", "kept link"}


def test_lowercasing_is_configurable(tmp_path):
    # "Moscow" and "moscow" merge when lowercased: 2 + 2 books reach the threshold of 4.
    rows = [record(f"Book {i}", ["Moscow" if i < 2 else "moscow", "Anchor"]) for i in range(4)]
    path = write_ndjson(tmp_path / "r.ndjson", rows)
    assert set(load_corpus(path).links) == {"moscow", "anchor"}
    cased = load_corpus(path, config=CleaningConfig(lowercase_links=False, min_link_count=2))
    assert set(cased.links) == {"Moscow", "moscow", "Anchor"}
    assert set(load_corpus(path, config=CleaningConfig(lowercase_links=False)).links) == {"Anchor"}


def test_min_link_count_counts_each_book_once(tmp_path):
    # "repeated" is listed 10 times by one book and once by two others: 3 books.
    rows = [
        record("A", ["repeated"] * 10 + ["common"]),
        record("B", ["repeated", "common"]),
        record("C", ["Repeated", "common"]),
        record("D", ["common"]),
    ]
    path = write_ndjson(tmp_path / "r.ndjson", rows)
    corpus = load_corpus(path)
    assert corpus.links == ("common",)
    assert load_corpus(path, config=CleaningConfig(min_link_count=3)).links == ("common", "repeated")
    # one pair per (book, link), however often the book repeats it
    corpus3 = load_corpus(path, config=CleaningConfig(min_link_count=3))
    assert corpus3.n_pairs == len(pairs_set(corpus3)) == 7


@pytest.mark.parametrize(
    "config",
    [
        CleaningConfig(),
        CleaningConfig(min_link_count=1),
        CleaningConfig(min_link_count=3),
        CleaningConfig(min_link_count=1, remove_links=()),
        CleaningConfig(min_link_count=2, lowercase_links=False),
        CleaningConfig(drop_title_substrings=()),
    ],
    ids=["seed", "min1", "min3", "no-removal", "cased", "no-title-rule"],
)
def test_cleaning_matches_reference(tiny_path, config):
    corpus = load_corpus(tiny_path, config=config)
    assert pairs_set(corpus) == reference_pairs(TINY_BOOKS, config)


def test_title_rule_is_configurable(tiny_path):
    kept = load_corpus(tiny_path, config=CleaningConfig(drop_title_substrings=()))
    assert "Wikipedia:Sandbox" in kept.books["title"].tolist()
    assert kept.report.dropped_titles == 0
    foundation = load_corpus(tiny_path, config=CleaningConfig(drop_title_substrings=("Wikipedia:", "Foundation")))
    assert not any("Foundation" in t for t in foundation.books["title"])
    assert foundation.report.dropped_titles == 4


def test_books_without_kept_links_are_dropped_and_reported(tmp_path):
    rows = [record(f"Book {i}", ["shared"]) for i in range(4)] + [record("Loner", ["only mine"])]
    corpus = load_corpus(write_ndjson(tmp_path / "r.ndjson", rows))
    assert "Loner" not in corpus.books["title"].tolist()
    assert corpus.report.dropped_books == 1
    assert any("dropped 1 book" in line for line in corpus.report.lines())


def test_min_book_links(tmp_path):
    rows = [record(f"Book {i}", ["a", "b"] if i < 4 else ["a"]) for i in range(6)]
    path = write_ndjson(tmp_path / "r.ndjson", rows)
    assert load_corpus(path).n_books == 6
    two = load_corpus(path, config=CleaningConfig(min_book_links=2))
    assert two.books["title"].tolist() == [f"Book {i}" for i in range(4)]
    assert two.report.dropped_books == 2
    assert two.books["n_links"].min() >= 2


def test_min_book_links_keeps_the_link_rule(tmp_path):
    # "x" is in 4 books, but two of them have no other link: with min_book_links=2
    # they go, "x" is then in only 2 books and must go too (no link may be left
    # with fewer than min_link_count books, or with none and an untrained vector).
    rows = [record(f"Pair {i}", ["a", "b", "x"] if i < 2 else ["a", "b"]) for i in range(4)]
    rows += [record(f"Only x {i}", ["x"]) for i in range(2)]
    path = write_ndjson(tmp_path / "r.ndjson", rows)
    assert set(load_corpus(path).links) == {"a", "b", "x"}
    corpus = load_corpus(path, config=CleaningConfig(min_book_links=2))
    assert set(corpus.links) == {"a", "b"}
    assert corpus.books["title"].tolist() == [f"Pair {i}" for i in range(4)]
    assert corpus.link_counts.min() >= 4 and corpus.books["n_links"].min() >= 2
    assert corpus.report.dropped_books == 2


@pytest.mark.parametrize("min_book_links", [1, 2, 3])
def test_both_thresholds_hold_after_cleaning(tiny_path, min_book_links):
    config = CleaningConfig(min_link_count=3, min_book_links=min_book_links)
    corpus = load_corpus(tiny_path, config=config)
    assert corpus.link_counts.min() >= 3
    assert corpus.books["n_links"].min() >= min_book_links


@pytest.mark.parametrize("field, value", [("min_link_count", 0), ("min_book_links", 0)])
def test_cleaning_config_is_checked(field, value):
    with pytest.raises(CorpusError, match=field):
        CleaningConfig(**{field: value})


def test_cleaning_config_is_frozen_data():
    config = CleaningConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.min_link_count = 1  # type: ignore[misc]
    assert replace(config, min_link_count=2).min_link_count == 2


def test_metadata_columns(tiny_path):
    books = load_corpus(tiny_path).books.set_index("title")
    wp = books.loc["War and Peace"]
    assert wp["author"] == "Leo Tolstoy"  # from "[[Leo Tolstoy]]"
    assert wp["year"] == 1869  # from "1869 < ref name=x/ >"
    assert wp["pages"] == 1225
    assert books.loc["Resurrection (novel)", "year"] == 1899  # release_date
    assert books.loc["The Death of Ivan Ilyich", "year"] == 1886  # published
    assert books.loc["The Fellowship of the Ring", "genre"] == "Fantasy, High fantasy"
    assert books.loc["The Fellowship of the Ring", "primary_genre"] == "fantasy"
    assert books.loc["Second Foundation", "primary_genre"] == "science fiction"  # "Sci-fi"
    assert str(books["year"].dtype) == "Int64" and str(books["pages"].dtype) == "Int64"
    assert books["pages"].isna().sum() == 11
    for col in ("author", "genre", "primary_genre", "country", "language", "publisher"):
        assert books[col].map(lambda v: isinstance(v, str)).all(), col


# ---------------------------------------------------------------- encodings and containers


def test_gzip_gives_the_same_corpus(tiny_path, tmp_path):
    gz = tmp_path / "tiny.ndjson.gz"
    gz.write_bytes(gzip.compress(tiny_path.read_bytes()))
    plain, packed = load_corpus(tiny_path), load_corpus(gz)
    pd.testing.assert_frame_equal(plain.books, packed.books)
    assert plain.links == packed.links
    assert np.array_equal(plain.pair_books, packed.pair_books)
    assert np.array_equal(plain.pair_links, packed.pair_links)
    assert packed.checksum == hashlib.sha256(gz.read_bytes()).hexdigest() != plain.checksum


def test_gzip_is_detected_by_content_not_name(tiny_path, tmp_path):
    disguised = tmp_path / "records.ndjson"
    disguised.write_bytes(gzip.compress(tiny_path.read_bytes()))
    assert load_corpus(disguised).n_books == 12


def test_bom_and_crlf_are_fine(tiny_path, tmp_path):
    text = tiny_path.read_text(encoding="utf-8")
    windows = tmp_path / "windows.ndjson"
    windows.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
    a, b = load_corpus(tiny_path), load_corpus(windows)
    pd.testing.assert_frame_equal(a.books, b.books)
    assert a.links == b.links and np.array_equal(a.pair_links, b.pair_links)
    assert b.report.n_skipped == 0


def test_blank_lines_are_ignored(tiny_path, tmp_path):
    spaced = tmp_path / "spaced.ndjson"
    spaced.write_text("\n\n" + tiny_path.read_text(encoding="utf-8").replace("\n", "\n  \n"), encoding="utf-8")
    assert load_corpus(spaced).n_books == 12


def test_non_ascii_titles_and_links_survive(tmp_path):
    rows = [record(t, ["Лев Толстой", "Ελληνικά", "红楼梦"]) for t in ("Война и мир", "Les Misérables", "红楼梦", "Émile")]
    corpus = load_corpus(write_ndjson(tmp_path / "u.ndjson", rows))
    assert corpus.books["title"].tolist() == ["Война и мир", "Les Misérables", "红楼梦", "Émile"]
    assert set(corpus.links) == {"лев толстой", "ελληνικά", "红楼梦"}


# ---------------------------------------------------------------- duplicates and skipped lines


def test_duplicate_titles_first_kept_and_reported(tmp_path):
    rows = list(TINY_BOOKS[:12])
    rows.insert(3, record("War and Peace", ["Something else"], author="Impostor", pub_date="2001"))
    rows.append(record("The Hobbit", [], author="Another impostor"))
    path = write_ndjson(tmp_path / "dups.ndjson", rows)
    records, report = read_records(path)
    assert [r.title for r in records] == [r[0] for r in TINY_BOOKS[:12]]
    assert report.n_duplicates == 2
    assert report.duplicates == [("War and Peace", 4, 1), ("The Hobbit", 14, 9)]
    corpus = load_corpus(path)
    wp = corpus.books.set_index("title").loc["War and Peace"]
    assert wp["author"] == "Leo Tolstoy" and wp["year"] == 1869
    summary = " ".join(corpus.report.lines())
    assert "2 duplicate title(s)" in summary and "War and Peace" in summary and "line 4" in summary
    # deterministic: loading twice gives the same corpus
    again = load_corpus(path)
    pd.testing.assert_frame_equal(corpus.books, again.books)


def test_titles_differing_only_in_surrounding_space_are_duplicates(tmp_path):
    rows = [record("Dune", ["a"]), record(" Dune ", ["b"])]
    records, report = read_records(write_ndjson(tmp_path / "d.ndjson", rows))
    assert [r.title for r in records] == ["Dune"] and report.n_duplicates == 1


def test_skip_bad_lines_reports_how_many_and_where(tiny_path, tmp_path):
    lines = tiny_path.read_text(encoding="utf-8").splitlines()
    lines.insert(1, "{not json")
    lines.insert(4, json.dumps({"title": "an object"}))
    lines.insert(8, json.dumps(["too", "short"]))
    path = tmp_path / "some_bad.ndjson"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"line 2 of some_bad\.ndjson"):
        load_corpus(path)
    corpus = load_corpus(path, skip_bad_lines=True)
    assert corpus.n_books == 12
    report = corpus.report
    assert report.n_skipped == 3
    assert [n for n, _ in report.skipped] == [2, 5, 9]
    assert "malformed JSON" in report.skipped[0][1]
    assert "6 fields" in report.skipped[1][1] and "6 fields" in report.skipped[2][1]
    summary = report.lines()[0]
    assert "skipped 3 bad line(s) of some_bad.ndjson" in summary and "2, 5, 9" in summary


def test_skip_bad_lines_with_nothing_valid_still_fails(tmp_path):
    path = tmp_path / "all_bad.ndjson"
    path.write_text("{\n[1, 2]\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"all_bad\.ndjson: no valid records.*line 1"):
        load_corpus(path, skip_bad_lines=True)


def test_report_lines_empty_when_nothing_happened():
    assert LoadReport(source="x").lines() == []


# ---------------------------------------------------------------- generic pairs tables


@pytest.mark.parametrize("kind", ["csv", "tsv", "csv.gz", "parquet", "renamed-columns", "unnamed-columns"])
def test_pairs_table_gives_the_same_corpus(tiny_path, tmp_path, kind):
    frame = pairs_frame(TINY_BOOKS)
    if kind == "csv":
        path = write_pairs_csv(tmp_path / "pairs.csv", TINY_BOOKS)
    elif kind == "tsv":
        path = write_pairs_csv(tmp_path / "pairs.tsv", TINY_BOOKS, sep="\t")
    elif kind == "csv.gz":
        plain = write_pairs_csv(tmp_path / "plain.csv", TINY_BOOKS)
        path = tmp_path / "pairs.csv.gz"
        path.write_bytes(gzip.compress(plain.read_bytes()))
    elif kind == "parquet":
        path = tmp_path / "pairs.parquet"
        frame.to_parquet(path, index=False)
    elif kind == "renamed-columns":
        path = tmp_path / "pairs.csv"
        frame[["link", "item"]].rename(columns={"item": "Title", "link": "Target"}).to_csv(path, index=False)
    else:  # no recognised names: the first two columns are item and link
        path = tmp_path / "pairs.csv"
        frame.rename(columns={"item": "src", "link": "dst"}).to_csv(path, index=False)
    from_ndjson = load_corpus(tiny_path)
    from_table = load_corpus(path)
    assert from_table.books["title"].tolist() == from_ndjson.books["title"].tolist()
    assert from_table.links == from_ndjson.links
    assert np.array_equal(from_table.pair_books, from_ndjson.pair_books)
    assert np.array_equal(from_table.pair_links, from_ndjson.pair_links)
    assert list(from_table.books.columns) == list(from_ndjson.books.columns)
    assert (from_table.books["author"] == "").all() and from_table.books["year"].isna().all()
    assert from_table.report.dropped_titles == 1


def test_pairs_table_duplicate_rows_give_one_pair(tmp_path):
    frame = pairs_frame(TINY_BOOKS[:12])
    path = tmp_path / "dup.csv"
    pd.concat([frame, frame]).to_csv(path, index=False)
    corpus = load_corpus(path)
    assert corpus.n_pairs == len(pairs_set(corpus))
    assert pairs_set(corpus) == reference_pairs(TINY_BOOKS[:12], CleaningConfig())


def metadata_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item": ["War and Peace", "The Hobbit", "Not in the pairs"],
            "author": ["[[Leo Tolstoy]]", "J. R. R. Tolkien", "x"],
            "genre": ["Historical novel", "Fantasy < br > Children's", "y"],
            "year": ["1869 < ref name=x/ >", "21 September 1937", "1999"],
            "pages": ["1,225", "", "10"],
            "country": ["Russia", "United Kingdom", "z"],
        }
    )


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_pairs_with_metadata_table(tmp_path, fmt):
    pairs = tmp_path / "pairs.csv"
    pairs_frame(TINY_BOOKS).to_csv(pairs, index=False)
    meta = tmp_path / f"meta.{fmt}"
    frame = metadata_frame()
    frame.to_csv(meta, index=False) if fmt == "csv" else frame.to_parquet(meta, index=False)
    corpus = load_corpus(pairs, metadata=meta)
    assert corpus.n_books == 12
    books = corpus.books.set_index("title")
    assert books.loc["War and Peace", "author"] == "Leo Tolstoy"
    assert books.loc["War and Peace", "year"] == 1869
    assert books.loc["War and Peace", "pages"] == 1225
    assert books.loc["War and Peace", "primary_genre"] == "historical novel"
    assert books.loc["The Hobbit", "year"] == 1937
    assert pd.isna(books.loc["The Hobbit", "pages"])
    assert books.loc["The Hobbit", "primary_genre"] == "fantasy"
    assert books.loc["I, Robot", "author"] == "" and pd.isna(books.loc["I, Robot", "year"])
    assert "Not in the pairs" not in books.index
    alone = load_corpus(pairs)
    assert corpus.checksum != alone.checksum, "the checksum covers the metadata file too"


def test_parquet_metadata_with_missing_values(tmp_path):
    pairs = tmp_path / "pairs.csv"
    pairs_frame(TINY_BOOKS).to_csv(pairs, index=False)
    meta = tmp_path / "meta.parquet"
    pd.DataFrame(
        {
            "item": ["War and Peace", "The Hobbit", "I, Robot"],
            "author": pd.array(["Leo Tolstoy", None, "Isaac Asimov"], dtype="string"),
            "year": pd.array([1869, None, 1950], dtype="Int64"),
            "pages": [1225.0, float("nan"), 253.0],
            "genre": ["Historical novel", None, "Science fiction"],
        }
    ).to_parquet(meta, index=False)
    books = load_corpus(pairs, metadata=meta).books.set_index("title")
    assert books.loc["War and Peace", "year"] == 1869 and books.loc["I, Robot", "pages"] == 253
    assert books.loc["The Hobbit", "author"] == "" and pd.isna(books.loc["The Hobbit", "year"])
    assert books.loc["The Hobbit", "genre"] == "" and books.loc["I, Robot", "primary_genre"] == "science fiction"


def test_metadata_table_first_row_per_item_wins(tmp_path):
    pairs = tmp_path / "pairs.csv"
    pairs_frame(TINY_BOOKS).to_csv(pairs, index=False)
    meta = tmp_path / "meta.csv"
    pd.DataFrame({"title": ["The Hobbit", "The Hobbit"], "author": ["First", "Second"]}).to_csv(meta, index=False)
    books = load_corpus(pairs, metadata=meta).books.set_index("title")
    assert books.loc["The Hobbit", "author"] == "First"


@pytest.mark.parametrize("n, high", [(0, 5), (1, 5), (1000, 7), (20_000, 1 << 40)])
def test_unique_keys_is_np_unique(n, high):
    from bookembed.graph import unique_keys

    keys = np.random.default_rng(n).integers(-high, high, n)
    got = unique_keys(keys)
    assert got.dtype == keys.dtype and np.array_equal(got, np.unique(keys))


@pytest.mark.parametrize("presorted", [False, True])
@pytest.mark.parametrize("n", [0, 1, 7, 5000])
def test_csr_groups_values_by_key_sorted_as_lexsort_does(n, presorted):
    from bookembed.graph import _csr

    rng = np.random.default_rng(n)
    keys = rng.integers(0, 40, n).astype(np.int32)
    values = rng.integers(0, 300, n).astype(np.int32)
    if presorted:
        order = np.lexsort((values, keys))
        keys, values = keys[order], values[order]
    ptr, got = _csr(keys, values, 45)
    assert got.dtype == values.dtype and np.array_equal(got, values[np.lexsort((values, keys))])
    assert np.array_equal(ptr, np.concatenate([[0], np.cumsum(np.bincount(keys, minlength=45))]))


def test_fold_of_ascii_takes_a_short_cut_to_the_same_result():
    """ASCII titles skip NFKD and the regular expression; the result is what the general path gives."""
    import re
    import unicodedata

    from bookembed.graph import fold

    def general(text):
        decomposed = unicodedata.normalize("NFKD", text)
        stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
        return re.sub(r"\s+", " ", stripped.casefold()).strip()

    rng = np.random.default_rng(0)
    alphabet = [chr(c) for c in range(128)]
    samples = ["  War\tand\n\nPeace  ", "A\x0bB\x0cC\x1cD\x1dE\x1eF\x1fG", "", "   ", "ALL CAPS", "x\r\ny"]
    samples += ["".join(rng.choice(alphabet, 30)) for _ in range(2000)]
    for text in samples:
        assert fold(text) == general(text), repr(text)
    assert fold("Crime and Punishment") == "crime and punishment"
    assert fold("Les Misérables") == "les miserables" and fold("Straße") == "strasse"  # the general path still
