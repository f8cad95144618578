"""One wiki page's text to one record: which infobox it uses, its parameters, its links.

A record is what ``bookembed.corpus.read_records`` reads:
``[title, infobox, wikilinks, external_links, last_edit, text_length]``.

Pages are parsed with mwparserfromhell, which understands nested templates,
``<ref>`` and ``<nowiki>`` tags and comments. Parsing is the expensive step, so
a page is first checked with one regular expression that finds every page
that *could* use one of the wanted infoboxes (a superset); only those pages
are parsed. On a dump where one page in a hundred has the infobox, that skips
99% of the parsing (figures in ``benchmarks/bench_wikidump.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from bookembed.errors import BookembedError
from bookembed.metadata import clean_text

INFOBOX_PREFIX = "infobox"
_SPACE_RUN = re.compile(r"[\s_]+")
_REDIRECT = re.compile(r"\s*#redirect\b", re.I)


def normalize_template_name(name: str) -> str:
    """A template name as compared: case folded, ``_`` as space, no ``Template:`` or ``Infobox`` prefix.

    ``"Infobox_Book"``, ``"infobox  book"``, ``"Template:Infobox book"`` and
    ``"book"`` all give ``"book"``.
    """
    key = _SPACE_RUN.sub(" ", name).strip().casefold()
    if key.startswith("template:"):
        key = key[len("template:"):].strip()
    if key == INFOBOX_PREFIX:  # the generic {{Infobox}} template itself
        return key
    if key.startswith(INFOBOX_PREFIX + " "):
        key = key[len(INFOBOX_PREFIX) + 1:]
    return key


@dataclass(frozen=True)
class PageFilter:
    """Which pages become records, and how links are normalised.

    Attributes
    ----------
    infoboxes : tuple of str
        Wanted infobox names, normalised by ``normalize_template_name``.
    namespaces : mapping of str to str
        Case-folded namespace name (and alias) -> the site's own spelling,
        from the dump's ``<siteinfo>``; a link ``[[category:x]]`` becomes
        ``Category:X`` as on the wiki.
    """

    infoboxes: tuple[str, ...]
    namespaces: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, infoboxes: Iterable[str], namespaces: Mapping[str, str] | None = None) -> "PageFilter":
        names = tuple(dict.fromkeys(normalize_template_name(n) for n in infoboxes if n and n.strip()))
        if not names:
            raise BookembedError("at least one infobox name is needed, e.g. --infobox book")
        folded = {k.casefold(): v for k, v in (namespaces or {}).items() if k}
        return cls(names, folded)

    def candidate_pattern(self) -> re.Pattern:
        """A regex that matches every page using a wanted infobox (and a few more).

        Words of a name may be joined by spaces or underscores, any case, with
        or without the ``Template:`` and ``Infobox`` prefixes; mwparserfromhell
        decides exactly afterwards.
        """
        alts = "|".join(r"[\s_]+".join(re.escape(w) for w in name.split(" ")) for name in self.infoboxes)
        return re.compile(
            r"\{\{\s*(?:template\s*:\s*)?(?:infobox[\s_]+)?(?:" + alts + r")\s*(?=[|}<\n])", re.I
        )


def is_redirect_text(text: str) -> bool:
    """True if the wikitext is a redirect (``#REDIRECT [[...]]``, any case)."""
    return bool(_REDIRECT.match(text))


def link_target(raw: str, namespaces: Mapping[str, str]) -> str | None:
    """The page a wikilink points to, as Wikipedia names it; None for a link to a section of the same page.

    The label and ``#section`` are dropped, ``_`` and runs of spaces become one
    space, a leading ``:`` (a link *to* a category or file rather than into
    it) is dropped, a known namespace takes the site's spelling, and the first
    letter of the title (after any namespace) is upper case, the rest as
    written: MediaWiki treats the first letter of a title case-insensitively
    and no other.
    """
    target = raw.split("|", 1)[0].split("#", 1)[0]
    target = _SPACE_RUN.sub(" ", target).strip().lstrip(":").strip()
    if not target:
        return None
    prefix, sep, rest = target.partition(":")
    if sep:
        canonical = namespaces.get(prefix.strip().casefold())
        if canonical is not None:
            rest = rest.strip()
            return f"{canonical}:{_upper_first(rest)}" if rest else None
    return _upper_first(target)


def _upper_first(text: str) -> str:
    if not text:
        return text
    first = text[0].upper()
    # "ß".upper() is "SS": MediaWiki keeps such letters as they are
    return (first if len(first) == 1 else text[0]) + text[1:]


def page_record(
    title: str, text: str, timestamp: str | None, page_filter: PageFilter, pattern: re.Pattern | None = None
) -> list | None:
    """The record of one article, or None when it uses none of the wanted infoboxes.

    Parameters
    ----------
    title : str
        Page title, as in the dump.
    text : str
        The page's wikitext.
    timestamp : str or None
        The revision's ISO 8601 timestamp (``last_edit``).
    page_filter : PageFilter
        Wanted infoboxes and the site's namespaces.
    pattern : compiled regex, optional
        ``page_filter.candidate_pattern()``, passed in so it is compiled once.

    Returns
    -------
    list or None
        ``[title, infobox, wikilinks, external_links, last_edit, text_length]``
        where ``infobox`` maps each parameter of the first matching infobox to
        its value as plain text (parameters left empty are omitted), the links
        keep page order and duplicates, and ``text_length`` is the length of
        the wikitext in characters.
    """
    pattern = pattern or page_filter.candidate_pattern()
    if not pattern.search(text):
        return None
    import mwparserfromhell  # lazy: only pages that pass the cheap check need it

    code = mwparserfromhell.parse(text)
    wanted = set(page_filter.infoboxes)
    box = None
    for template in code.filter_templates():  # recursive, document order
        if normalize_template_name(str(template.name.strip_code())) in wanted:
            box = template
            break
    if box is None:
        return None
    infobox: dict[str, str] = {}
    for param in box.params:
        name = clean_text(str(param.name))
        value = clean_text(str(param.value))
        if name and value:
            infobox[name] = value  # a repeated parameter: the last one wins, as on the wiki
    links = []
    for link in code.filter_wikilinks():
        target = link_target(str(link.title.strip_code(normalize=True, collapse=True)) or str(link.title),
                             page_filter.namespaces)
        if target:
            links.append(target)
    external = [str(link.url).strip() for link in code.filter_external_links()]
    return [title, infobox, links, [u for u in external if u], timestamp, len(text)]
