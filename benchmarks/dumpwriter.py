"""Write pages as a MediaWiki export dump: multistream with its index, or one stream.

The layout is Wikimedia's: ``<siteinfo>`` in the first bz2 stream, a fixed
number of pages in each next one, ``</mediawiki>`` in the last, and an index
of ``offset:page_id:title`` lines. The tests and the benchmark make their
dumps with it; it is also a quick way to try ``build-dataset`` on a handful of
pages.
"""

from __future__ import annotations

import bz2
import hashlib
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr


@dataclass(frozen=True)
class DumpPage:
    """One page to write into a dump (``redirect`` is the target title of a redirect)."""

    page_id: int
    title: str
    text: str
    namespace: int = 0
    timestamp: str = "2024-01-01T00:00:00Z"
    redirect: str | None = None


SITE_NAMESPACES = {
    -2: "Media", -1: "Special", 0: "", 1: "Talk", 2: "User", 3: "User talk", 4: "Wikipedia",
    5: "Wikipedia talk", 6: "File", 7: "File talk", 10: "Template", 11: "Template talk",
    14: "Category", 15: "Category talk", 100: "Portal", 101: "Portal talk",
}


def _siteinfo_xml(namespaces: dict[int, str]) -> str:
    lines = [
        (
            '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xsi:schemaLocation="http://www.mediawiki.org/xml/export-0.11/ '
            'http://www.mediawiki.org/xml/export-0.11.xsd" version="0.11" xml:lang="en">'
        ),
        "  <siteinfo>",
        "    <sitename>Wikipedia</sitename>",
        "    <dbname>enwiki</dbname>",
        "    <base>https://en.wikipedia.org/wiki/Main_Page</base>",
        "    <generator>MediaWiki 1.43.0-wmf.1</generator>",
        "    <case>first-letter</case>",
        "    <namespaces>",
    ]
    for key, name in sorted(namespaces.items()):
        if name:
            lines.append(f'      <namespace key="{key}" case="first-letter">{escape(name)}</namespace>')
        else:
            lines.append(f'      <namespace key="{key}" case="first-letter" />')
    lines += ["    </namespaces>", "  </siteinfo>", ""]
    return "\n".join(lines)


def page_xml(page: DumpPage, namespaces: dict[int, str] = SITE_NAMESPACES) -> str:
    """One ``<page>`` element as MediaWiki's export writes it."""
    prefix = namespaces.get(page.namespace, "")
    title = f"{prefix}:{page.title}" if prefix else page.title
    redirect = f"    <redirect title={quoteattr(page.redirect)} />\n" if page.redirect else ""
    data = page.text.encode("utf-8")
    return (
        f"  <page>\n    <title>{escape(title)}</title>\n    <ns>{page.namespace}</ns>\n    <id>{page.page_id}</id>\n"
        f"{redirect}    <revision>\n      <id>{page.page_id * 10 + 1}</id>\n"
        f"      <timestamp>{page.timestamp}</timestamp>\n"
        f"      <contributor>\n        <username>Editor</username>\n        <id>1</id>\n      </contributor>\n"
        f"      <model>wikitext</model>\n      <format>text/x-wiki</format>\n"
        f'      <text bytes="{len(data)}" xml:space="preserve">{escape(page.text)}</text>\n'
        f"      <sha1>{hashlib.sha1(data).hexdigest()[:31]}</sha1>\n    </revision>\n  </page>\n"
    )


def write_multistream(
    dump: str | Path,
    pages: list[DumpPage],
    *,
    pages_per_stream: int = 100,
    index: str | Path | None = None,
    namespaces: dict[int, str] = SITE_NAMESPACES,
) -> tuple[Path, Path | None]:
    """Write pages as a multistream dump (and its index), laid out as Wikimedia's.

    The first bz2 stream holds ``<mediawiki>`` and ``<siteinfo>``, each next
    one ``pages_per_stream`` pages, the last ``</mediawiki>``; the index lists
    ``offset:page_id:title`` per page. Used to test and benchmark the job.

    Returns
    -------
    dump, index : Path, Path or None
    """
    dump = Path(dump)
    lines = []
    with open(dump, "wb") as fh:
        fh.write(bz2.compress(_siteinfo_xml(namespaces).encode("utf-8"), 9))
        for i in range(0, len(pages), pages_per_stream):
            offset = fh.tell()
            chunk = pages[i:i + pages_per_stream]
            fh.write(bz2.compress("".join(page_xml(p, namespaces) for p in chunk).encode("utf-8"), 9))
            for p in chunk:
                prefix = namespaces.get(p.namespace, "")
                lines.append(f"{offset}:{p.page_id}:{prefix + ':' if prefix else ''}{p.title}\n")
        fh.write(bz2.compress(b"</mediawiki>\n", 9))
    if index is not None:
        index = Path(index)
        with bz2.open(index, "wt", encoding="utf-8") as ih:
            ih.writelines(lines)
    return dump, index


def write_plain(dump: str | Path, pages: list[DumpPage], namespaces: dict[int, str] = SITE_NAMESPACES) -> Path:
    """Write pages as a single-stream dump (``.bz2``) or an uncompressed export (any other name)."""
    dump = Path(dump)
    text = _siteinfo_xml(namespaces) + "".join(page_xml(p, namespaces) for p in pages) + "</mediawiki>\n"
    data = text.encode("utf-8")
    dump.write_bytes(bz2.compress(data, 9) if dump.suffix == ".bz2" else data)
    return dump
