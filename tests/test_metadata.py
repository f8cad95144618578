"""Infobox values to plain text, years, page counts and a primary genre."""

from __future__ import annotations

import pytest

from bookembed.metadata import METADATA_FIELDS, YEAR_KEYS, book_metadata, clean_text, parse_pages, parse_year, primary_genre


@pytest.mark.parametrize(
    "raw, expected",
    [
        # the remnants named in the issue, as they appear in the dump
        ("1933 < ref name=Grayling/ >", "1933"),
        ("Epic fantasy < br > Historical fantasy", "Epic fantasy, Historical fantasy"),
        ("1st & nbsp;century", "1st century"),
        ("[[Leo Tolstoy]]", "Leo Tolstoy"),
        # the same family, other spellings
        ("[[Leo Tolstoy|Tolstoy]] and [[Aylmer Maude]]", "Tolstoy and Aylmer Maude"),
        ("1869<ref>Some citation, p. 4</ref>", "1869"),
        ("1869 < ref name=x >cite< /ref >", "1869"),
        ("Fantasy<br/>Horror", "Fantasy, Horror"),
        ("Fantasy<br />Horror", "Fantasy, Horror"),
        ("< !-- See Wikipedia:WikiProject_Books -- >", ""),
        ("< !-- comment -- >1990", "1990"),
        ("<small>Penguin</small>", "Penguin"),
        ("''[[Science fiction]]''", "Science fiction"),
        ("'''Bold''' text", "Bold text"),
        ("{{Start date|1869|03|01}}", "1869 03 01"),
        ("[http://example.org Publisher site]", "Publisher site"),
        ("A &amp; B", "A & B"),
        ("  lots   of\tspace  ", "lots of space"),
        ("", ""),
        (None, ""),
        (1954, "1954"),
    ],
)
def test_clean_text(raw, expected):
    assert clean_text(raw) == expected


def test_clean_text_self_closing_ref_does_not_swallow_text_up_to_a_later_ref():
    # A self-closing ref written with a space before ">" must not be taken for
    # the opening of a <ref>...</ref> pair: the text between them is content.
    value = "1933 < ref name=a/ > (United Kingdom) < ref >A citation< /ref > 1934"
    cleaned = clean_text(value)
    assert "United Kingdom" in cleaned
    assert "citation" not in cleaned
    assert "1934" in cleaned


@pytest.mark.parametrize(
    "raw",
    [
        "1933 < ref name=Grayling/ >",
        "Epic fantasy < br > Historical fantasy",
        "1st & nbsp;century",
        "[[Leo Tolstoy]]",
        "{{nowrap|[[Allen & Unwin]]}}<ref>x</ref>",
        "< small >''Tor''< /small >",
    ],
)
def test_clean_text_leaves_no_markup(raw):
    cleaned = clean_text(raw)
    for remnant in ("<", ">", "[[", "]]", "{{", "}}", "nbsp", "ref", "''"):
        assert remnant not in cleaned


@pytest.mark.parametrize(
    "raw, year",
    [
        ("1933 < ref name=Grayling/ >", 1933),
        ("29 July 1954", 1954),
        ("June 1979 (UK), October 1979 (US)", 1979),
        ("{{Start date|1869|03|01}}", 1869),
        ("2001-05-06", 2001),
        ("c. 750 BC", -750),
        ("8th century BC", -750),
        ("1st & nbsp;century", 50),
        ("Unknown", None),
        ("", None),
        ("12", None),  # not a plausible year
    ],
)
def test_parse_year(raw, year):
    assert parse_year(raw) == year


@pytest.mark.parametrize(
    "raw, pages",
    [("1,225", 1225), ("1001 (second edition)", 1001), ("320 pp.", 320), ("387 < ref name=isfdb/ >", 387),
     ("unknown", None), ("0", None), ("", None)],
)
def test_parse_pages(raw, pages):
    assert parse_pages(raw) == pages


@pytest.mark.parametrize(
    "raw, genre",
    [
        ("Fantasy < br > High fantasy", "fantasy"),
        ("Epic fantasy < br > Historical fantasy", "epic fantasy"),
        ("Fantasy novel", "fantasy"),
        ("[[Science fiction]], [[Horror fiction]]", "science fiction"),
        ("Sci-fi", "science fiction"),
        ("''Children's fantasy''", "children's fantasy"),
        ("Historical novel", "historical novel"),
        ("Historical fiction", "historical novel"),
        ("Non-fiction", "nonfiction"),
        ("Crime / Thriller", "crime fiction"),
        ("  FANTASY  ", "fantasy"),
        ("", ""),
        ("< !-- genre -- >", ""),
    ],
)
def test_primary_genre_is_the_first_listed_normalised(raw, genre):
    assert primary_genre(raw) == genre


def test_primary_genre_spellings_merge():
    # Different spellings of one genre colour the same: one value.
    spellings = ["Science fiction", "Sci-fi", "science-fiction", "[[Science fiction]] novel", "SF"]
    assert {primary_genre(s) for s in spellings} == {"science fiction"}


def test_book_metadata_from_infobox():
    infobox = {
        "author": "[[Leo Tolstoy]]",
        "genre": "Epic fantasy < br > Historical fantasy",
        "country": "[[Russia]]",
        "language": "Russian",
        "publisher": "{{nowrap|[[The Russian Messenger]]}}",
        "pub_date": "1869 < ref name=x/ >",
        "pages": "1,225",
        "image": "File:Cover.jpg",
    }
    meta = book_metadata(infobox)
    assert tuple(meta) == METADATA_FIELDS
    assert meta == {
        "author": "Leo Tolstoy",
        "genre": "Epic fantasy, Historical fantasy",
        "primary_genre": "epic fantasy",
        "country": "Russia",
        "language": "Russian",
        "publisher": "The Russian Messenger",
        "year": 1869,
        "pages": 1225,
    }


@pytest.mark.parametrize("key", ["pub_date", "release_date", "published", "publication_date", "first_published"])
def test_year_from_any_date_key(key):
    assert key in YEAR_KEYS
    assert book_metadata({key: "March 1898"})["year"] == 1898


def test_year_key_without_a_year_falls_through_to_the_next():
    meta = book_metadata({"pub_date": "unknown", "release_date": "1902"})
    assert meta["year"] == 1902


def test_year_keys_in_order_of_preference():
    meta = book_metadata({"english_pub_date": "1990", "pub_date": "1955"})
    assert meta["year"] == 1955


def test_author_from_editor_when_no_author():
    assert book_metadata({"editor": "Robert Audi"})["author"] == "Robert Audi"
    assert book_metadata({"author": "[[A. Author]]", "editor": "Robert Audi"})["author"] == "A. Author"


def test_empty_infobox_gives_blanks():
    meta = book_metadata({})
    assert tuple(meta) == METADATA_FIELDS
    assert meta["year"] is None and meta["pages"] is None
    assert all(meta[k] == "" for k in METADATA_FIELDS if k not in ("year", "pages"))


def test_genres_key_and_markup_only_values():
    assert book_metadata({"genres": "[[Horror fiction|Horror]]"})["primary_genre"] == "horror fiction"
    # a value that is nothing but a comment is unknown, not the comment text
    assert book_metadata({"genre": "< !-- see docs -- >", "author": "< ref >x< /ref >"})["genre"] == ""
    assert book_metadata({"author": "< ref >x< /ref >"})["author"] == ""
