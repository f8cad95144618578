"""Book metadata from a Wikipedia infobox: plain text, a year, a page count, a genre.

The dump's infobox values keep remnants of wiki markup and HTML, often with
spaces inside the brackets (``"1933 < ref name=Grayling/ >"``, ``"Epic fantasy
< br > Historical fantasy"``, ``"1st & nbsp;century"``). Everything here turns
such values into plain text; nothing is ever rendered as HTML downstream.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Mapping

# Infobox values repeat a great deal (countries, publishers, genres, authors,
# dates), so the pure functions below remember their answers for recent
# strings: loading a million records calls them several million times.
_CACHE = 1 << 16

# Column order of the books table (after ``title``).
METADATA_FIELDS = ("author", "genre", "primary_genre", "country", "language", "publisher", "year", "pages")

YEAR_KEYS = (
    "pub_date",
    "release_date",
    "published",
    "publication_date",
    "first_published",
    "english_pub_date",
    "english_release_date",
    "date",
)
AUTHOR_KEYS = ("author", "authors", "editor")

# The opening tag may not end in "/" (even "/ >"): that is a self-closing ref,
# and pairing it with a later </ref> would swallow the text between them.
_REF_PAIR = re.compile(r"<\s*ref\b(?:[^>/]|/(?!\s*>))*>.*?<\s*/\s*ref\s*>", re.I | re.S)
_REF_SELF = re.compile(r"<\s*ref\b[^>]*/\s*>", re.I | re.S)
_COMMENT = re.compile(r"<\s*!\s*--.*?(--\s*>|$)", re.S)
_BR = re.compile(r"<\s*br\s*/?\s*>", re.I)
_TAG = re.compile(r"<\s*/?\s*[a-zA-Z][^<>]*>")
_LINK = re.compile(r"\[\[(?:[^\[\]|]*\|)?([^\[\]]*)\]\]")
_EXTLINK = re.compile(r"\[(?:https?:)?//\S+\s*([^\]]*)\]")
_TEMPLATE = re.compile(r"\{\{([^{}]*)\}\}")
_ENTITIES = {"nbsp": " ", "amp": "&", "ndash": "–", "mdash": "—", "quot": '"', "lt": "<", "gt": ">", "apos": "'"}
_ENTITY = re.compile(r"&\s*(" + "|".join(_ENTITIES) + r")\s*;", re.I)
_SPACES = re.compile(r"[ \t\r\f\v]+")
_YEAR = re.compile(r"(?<!\d)(\d{3,4})(?!\d)")
_BC = re.compile(r"(?<!\d)(\d{1,4})(?:\s*[–—-]\s*\d{1,4})?\s*(?:BC|BCE|B\.C\.)(?![a-z])", re.I)
_CENTURY = re.compile(r"(\d{1,2})(?:st|nd|rd|th)\s+century(\s*(?:BC|BCE))?", re.I)
_INT = re.compile(r"\d[\d,]*")


def _template_text(match: re.Match) -> str:
    # {{Start date|1869|03|01}} -> "1869 03 01"; {{nowrap|A B}} -> "A B"
    parts = [p.split("=", 1)[-1].strip() for p in match.group(1).split("|")]
    return " ".join(p for p in parts[1:] if p) if len(parts) > 1 else ""


def clean_text(value: object) -> str:
    """Return an infobox value as one line of plain text (see ``_clean_text``)."""
    if value is None:
        return ""
    return _clean_text(value if isinstance(value, str) else str(value))


@lru_cache(maxsize=_CACHE)
def _clean_text(value: str) -> str:
    """Return an infobox value as one line of plain text.

    Parameters
    ----------
    value : object
        A raw infobox value; non-strings are converted with ``str``.

    Returns
    -------
    str
        The value without references, comments, HTML tags, wiki links,
        templates and bold/italic quotes; line breaks become ``", "``.
    """
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    text = _COMMENT.sub(" ", text)
    text = _REF_PAIR.sub(" ", text)
    text = _REF_SELF.sub(" ", text)
    text = _BR.sub("\n", text)
    text = _TAG.sub(" ", text)
    for _ in range(3):  # nested templates
        new = _TEMPLATE.sub(_template_text, text)
        if new == text:
            break
        text = new
    text = _LINK.sub(r"\1", text)
    text = _EXTLINK.sub(r"\1", text)
    text = _ENTITY.sub(lambda m: _ENTITIES[m.group(1).lower()], text)
    text = text.replace("'''", "").replace("''", "")
    text = text.replace("{{", "").replace("}}", "").replace("[[", "").replace("]]", "")
    lines = [_SPACES.sub(" ", line).strip(" ,;") for line in text.split("\n")]
    return ", ".join(line for line in lines if line)


def parse_year(value: object) -> int | None:
    """See ``_parse_year``; any value is read as its text."""
    return _parse_year(value if isinstance(value, str) else clean_text(value))


@lru_cache(maxsize=_CACHE)
def _parse_year(value: str) -> int | None:
    """First year mentioned in a date value; BC years are negative.

    ``"June 1979 (UK), October 1979 (US)"`` gives 1979, ``"c. 750 BC"`` gives
    -750, ``"8th century BC"`` gives -750 (the century's middle), and a value
    with no plausible year gives None.
    """
    text = clean_text(value)
    if not text:
        return None
    bc = _BC.search(text)
    century = _CENTURY.search(text)
    year = _YEAR.search(text)
    candidates = []
    if bc:
        candidates.append((bc.start(), -int(bc.group(1))))
    if century:
        mid = (int(century.group(1)) - 1) * 100 + 50
        candidates.append((century.start(), -mid if century.group(2) else mid))
    if year and 100 <= int(year.group(1)) <= 2100:
        candidates.append((year.start(), int(year.group(1))))
    if not candidates:
        return None
    return min(candidates)[1]


def parse_pages(value: object) -> int | None:
    """See ``_parse_pages``; any value is read as its text."""
    return _parse_pages(value if isinstance(value, str) else clean_text(value))


@lru_cache(maxsize=_CACHE)
def _parse_pages(value: str) -> int | None:
    """First whole number in a page-count value, or None."""
    match = _INT.search(clean_text(value))
    if not match:
        return None
    number = int(match.group(0).replace(",", ""))
    return number if 0 < number < 100_000 else None


_GENRE_SPLIT = re.compile(r"\s*(?:,|;|/|\n)\s*")
_GENRE_SYNONYMS = {
    "sci-fi": "science fiction",
    "scifi": "science fiction",
    "science-fiction": "science fiction",
    "sf": "science fiction",
    "children's": "children's literature",
    "children's book": "children's literature",
    "children's fiction": "children's literature",
    "children's picture book": "children's literature",
    "picture book": "children's literature",
    "childrens literature": "children's literature",
    "non-fiction": "nonfiction",
    "non fiction": "nonfiction",
    "detective": "detective fiction",
    "crime": "crime fiction",
    "mystery": "mystery fiction",
    "horror": "horror fiction",
    "gothic": "gothic fiction",
    "spy": "spy fiction",
    "historical": "historical novel",
    "historical fiction": "historical novel",
    "war": "war novel",
    "romance": "romance novel",
    "young-adult": "young adult",
    "young adult fiction": "young adult",
    "ya": "young adult",
    "autobiography": "memoir",
}
_KEEP_NOVEL = {"historical novel", "war novel", "romance novel", "novel", "graphic novel", "adventure novel"}


def primary_genre(genre: object) -> str:
    """See ``_primary_genre``; any value is read as its text."""
    return _primary_genre(genre if isinstance(genre, str) else clean_text(genre))


@lru_cache(maxsize=_CACHE)
def _primary_genre(genre: str) -> str:
    """The first genre listed, normalised for colouring.

    Lowercased, markup stripped, a trailing "novel"/"novels" dropped where the
    rest is a genre of its own ("Fantasy novel" -> "fantasy"), and common
    spellings merged ("Sci-fi" -> "science fiction"). Empty when unknown.
    """
    text = clean_text(genre)
    if not text:
        return ""
    first = ""
    for part in _GENRE_SPLIT.split(text.replace(", ", "\n")):
        part = part.strip(" .()[]\"'").lower()
        if part:
            first = part
            break
    first = re.sub(r"\s+", " ", first)
    first = _GENRE_SYNONYMS.get(first, first)
    if first not in _KEEP_NOVEL:
        for suffix in (" novels", " novel", " novella", " book"):
            if first.endswith(suffix) and len(first) > len(suffix):
                first = first[: -len(suffix)].strip()
                break
    first = _GENRE_SYNONYMS.get(first, first)
    if first.startswith("historical novel"):
        first = "historical novel"
    return first


def book_metadata(infobox: Mapping[str, object]) -> dict[str, object]:
    """Metadata columns for one book from its infobox.

    Returns
    -------
    dict
        Keys ``METADATA_FIELDS``: plain-text strings (empty when unknown),
        ``year`` and ``pages`` as ints or None.
    """

    def first(keys: tuple[str, ...]) -> str:
        for key in keys:
            text = clean_text(infobox.get(key))
            if text:
                return text
        return ""

    genre = first(("genre", "genres"))
    year = None
    for key in YEAR_KEYS:
        if infobox.get(key):
            year = parse_year(infobox[key])  # type: ignore[arg-type]
            if year is not None:
                break
    pages_raw = infobox.get("pages")
    return {
        "author": first(AUTHOR_KEYS),
        "genre": genre,
        "primary_genre": primary_genre(genre),
        "country": first(("country",)),
        "language": first(("language",)),
        "publisher": first(("publisher",)),
        "year": year,
        "pages": parse_pages(pages_raw) if pages_raw else None,  # type: ignore[arg-type]
    }
