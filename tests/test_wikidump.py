"""From a Wikipedia dump to records: parsing, the Dask job, bad input, the newest-dump download.

The tests write their own small dumps (benchmarks/dumpwriter.py lays them out as
Wikimedia does) and run every Dask scheduler and worker on 127.0.0.1.
"""

from __future__ import annotations

import bz2
import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bookembed.errors import DownloadError, DumpError
from bookembed.wikitext import link_target, normalize_template_name
from conftest import WAIT_CEILING_S

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))  # the dump writer is test and benchmark support, not library

from dumpwriter import DumpPage, write_multistream, write_plain  # noqa: E402
TS = "2024-05-01T12:00:00Z"

DUNE_TEXT = """{{Short description|1965 novel by Frank Herbert}}
{{Infobox book
| name = Dune<!-- as printed -->
| author = [[Frank Herbert]]
| country = United States
| genre = [[Science fiction]]<ref name="sf">{{cite web |url=http://ref.example/dune |title=Dune at 50 \
|work=[[Locus (magazine)|Locus]]}}</ref>
| publisher = [[Chilton Books]]
| pub_date = {{Start date|1965|08|01}}
| pages = 412<ref>First edition.</ref>
| series = {{nowrap|{{lang|en|Dune}} saga}}
| followed_by = [[Dune_Messiah]]
| isbn =
}}
'''''Dune''''' is a [[novel]] by [[Frank Herbert#Career|Herbert]], set on [[Arrakis|the desert planet]]. \
It won the [[Hugo Award]].<!-- [[Hidden link]] --> <nowiki>[[Not a link]]</nowiki>
See [[desert  planet]] and [[:Category:Novels about deserts]]; the plot is [[#Plot|below]].
== External links ==
* [http://dune.example/ Official site]

[[Category:1965 American novels]]
[[category:Hugo Award for Best Novel-winning works]]
"""
DUNE_RECORD = [
    "Dune (novel)",
    {
        "name": "Dune",
        "author": "Frank Herbert",
        "country": "United States",
        "genre": "Science fiction",
        "publisher": "Chilton Books",
        "pub_date": "1965 08 01",
        "pages": "412",
        "series": "en Dune saga",
        "followed_by": "Dune_Messiah",
    },
    [
        "Frank Herbert", "Science fiction", "Locus (magazine)", "Chilton Books", "Dune Messiah", "Novel",
        "Frank Herbert", "Arrakis", "Hugo Award", "Desert planet", "Category:Novels about deserts",
        "Category:1965 American novels", "Category:Hugo Award for Best Novel-winning works",
    ],
    ["http://ref.example/dune", "http://dune.example/"],
    TS,
    len(DUNE_TEXT),
]
NEURO_TEXT = ("{{infobox_Novel | name = ''Neuromancer'' | author = [[William Gibson]]\n| genre = [[cyberpunk]]\n"
              "| release_date = July 1, 1984 }}\nA [[Cyberspace]] novel; [[cyberspace]] again. [[Category:1984 novels]]")
NEURO_RECORD = [
    "Neuromancer",
    {"name": "Neuromancer", "author": "William Gibson", "genre": "cyberpunk", "release_date": "July 1, 1984"},
    ["William Gibson", "Cyberpunk", "Cyberspace", "Cyberspace", "Category:1984 novels"],
    [],
    TS,
    len(NEURO_TEXT),
]
HOBBIT_TEXT = "{{Template:Infobox Book|name=The Hobbit|author=J. R. R. Tolkien}} [[Middle-earth]]"
NESTED_TEXT = "{{Collapsible|content={{Infobox book|name=Inner|genre=Mystery}}}} [[Detective fiction]]"

# Books for training: three groups that share links, so every link is in at least 4 books.
GROUPS = {
    "Russian novel": ["Leo Tolstoy", "Russian literature", "Moscow", "Category:Russian novels"],
    "High fantasy": ["J. R. R. Tolkien", "Middle-earth", "Allen & Unwin", "Category:Fantasy novels"],
    "Science fiction": ["Isaac Asimov", "Galactic Empire", "Gnome Press", "Category:Science fiction novels"],
}


def _generated_book(i: int, genre: str, links: list[str]) -> tuple[str, str, list]:
    title = f"{genre} book {i}"
    text = f"{{{{Infobox book | name = {title} | genre = [[{genre}]] }}}}\n" + " ".join(f"[[{x}]]" for x in links)
    return title, text, [title, {"name": title, "genre": genre}, [genre] + links, [], TS, len(text)]


def _dump_pages() -> tuple[list[DumpPage], list[list], dict]:
    """Pages of the test dump, the records expected from them in order, and the expected counts."""
    pages: list[DumpPage] = []
    expected: list[list] = []
    pid = iter(range(10, 10_000))

    def add(title, text, record=None, **kw):
        pages.append(DumpPage(next(pid), title, text, timestamp=TS, **kw))
        if record is not None:
            expected.append(record)

    add("Dune (novel)", DUNE_TEXT, DUNE_RECORD)
    add("Blade Runner", "{{Infobox film | name = Blade Runner }} A [[film]].")
    add("Dune novel", "#REDIRECT [[Dune (novel)]]", redirect="Dune (novel)")
    add("Dune (novel)", "{{Infobox book|name=Talk copy}} [[Dune (novel)]]", namespace=1)
    add("Neuromancer", NEURO_TEXT, NEURO_RECORD)
    add("Reader", "{{Infobox book|name=My reading list}}", namespace=2)
    add("Bookshelf", "{{Infobox bookshelf|name=Shelf}} [[Furniture]]")
    add("The Hobbit", HOBBIT_TEXT, ["The Hobbit", {"name": "The Hobbit", "author": "J. R. R. Tolkien"},
                                    ["Middle-earth"], [], TS, len(HOBBIT_TEXT)])
    add("Old title", "#redirect [[Neuromancer]]")  # a redirect the <redirect> element does not mark
    add("Inner", NESTED_TEXT, ["Inner", {"name": "Inner", "genre": "Mystery"}, ["Detective fiction"], [], TS,
                               len(NESTED_TEXT)])
    add("Sand", "Sand is a [[granular material]].")
    for i in range(8):
        for genre, links in GROUPS.items():
            title, text, record = _generated_book(i, genre, links if i % 2 else links[::-1])
            add(title, text, record)
        add(f"Town {i}", f"{{{{Infobox settlement | name = Town {i} }}}} [[River {i}]]")
    counts = {"pages": len(pages), "kept": len(expected), "redirects": 2, "other_namespace": 2,
              "no_infobox": len(pages) - len(expected) - 4}
    return pages, expected, counts


INFOBOXES = ["book", "Infobox novel"]


@pytest.fixture(scope="module")
def dump(tmp_path_factory):
    base = tmp_path_factory.mktemp("dump")
    pages, expected, counts = _dump_pages()
    path, index = write_multistream(base / "testwiki-pages-articles-multistream.xml.bz2", pages,
                                    pages_per_stream=4, index=base / "testwiki-multistream-index.txt.bz2")
    return {"dir": base, "dump": path, "index": index, "pages": pages, "expected": expected, "counts": counts}


def _read(path: Path) -> list[list]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """A Dask scheduler and two worker processes started on their own, all on 127.0.0.1."""
    from distributed import Client

    base = tmp_path_factory.mktemp("dask")
    info = base / "scheduler.json"
    # `dask scheduler` and `dask worker`, run as modules so no console script has to be on PATH
    scheduler_cmd = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    worker_cmd = [sys.executable, "-m", "distributed.cli.dask_worker"]
    log = open(base / "dask.log", "w")
    procs = []
    try:
        procs.append(subprocess.Popen(
            [*scheduler_cmd, "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", str(info)],
            stdout=log, stderr=subprocess.STDOUT, cwd=base))
        deadline = time.monotonic() + WAIT_CEILING_S
        while not info.exists() and procs[0].poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert info.exists(), (base / "dask.log").read_text()
        procs.append(subprocess.Popen(
            [*worker_cmd, "--scheduler-file", str(info), "--nworkers", "2", "--nthreads", "1", "--host",
             "127.0.0.1", "--no-dashboard", "--local-directory", str(base)],
            stdout=log, stderr=subprocess.STDOUT, cwd=base))
        address = json.loads(info.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        with Client(address, timeout=f"{WAIT_CEILING_S}s") as client:
            client.wait_for_workers(2, timeout=WAIT_CEILING_S)
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


# ---------------------------------------------------------------- parsing rules


def test_infobox_names_match_ignoring_case_underscores_and_prefix():
    same = ["book", "Book", "Infobox book", "infobox_Book", "  Infobox   BOOK ", "Template:Infobox book"]
    assert {normalize_template_name(n) for n in same} == {"book"}
    assert normalize_template_name("Infobox bookshelf") != "book"
    assert normalize_template_name("Infobox") == "infobox"


def test_book_infobox_is_matched_by_its_whole_name():
    from bookembed.wikitext import PageFilter, page_record

    books = PageFilter.build(["book"])

    def box(text):
        record = page_record("Page", text, TS, books)
        return None if record is None else record[1]

    # spelled any way the wiki accepts: case, underscores, runs of spaces, a line break, the prefixes
    for name in ["Infobox book", "infobox_BOOK", " Infobox   Book\n", "Template:Infobox book", "Template:Infobox_Book"]:
        assert box("{{" + name + "| name = X }} [[Y]]") == {"name": "X"}, name
    # another infobox whose name only starts with "book" is not a book infobox, even where the cheap
    # check lets the page through (a book infobox mentioned in a comment or <nowiki>)
    for other in ["Infobox book series", "Infobox bookshelf", "Infobox books", "Infobox comic book"]:
        assert box("{{" + other + " | name = S }} <!-- {{Infobox book}} -->") is None, other
        assert box("{{" + other + " | name = S }} <nowiki>{{Infobox book}}</nowiki>") is None, other
        # beside a real one, the real one's parameters are the record's, wherever it stands
        assert box("{{" + other + " | name = S }}\n{{Infobox book | name = B }}") == {"name": "B"}, other
    assert box("{{Infobox | title = book }} <!-- {{Infobox book}} -->") is None  # the generic {{Infobox}}


def test_link_targets_are_wikipedia_titles():
    ns = {"category": "Category", "file": "File"}
    assert link_target("Target|label", ns) == "Target"
    assert link_target("target#Section", ns) == "Target"
    assert link_target("#Section", ns) is None
    assert link_target("category:1965 novels", ns) == "Category:1965 novels"
    assert link_target(":Category:novels", ns) == "Category:Novels"
    assert link_target("new_York  city", ns) == "New York city"
    assert link_target("b:The Wealthy Barber", ns) == "B:The Wealthy Barber"  # not a namespace: a title
    assert link_target("ßtraße", ns) == "ßtraße"  # MediaWiki does not upper-case ß to SS


# ---------------------------------------------------------------- the Dask job


@pytest.mark.system  # a LocalCluster of worker processes
def test_local_cluster_with_two_workers_writes_the_expected_records(dump):
    from bookembed.dumpjob import build_dataset
    from bookembed.wikidump import dump_layout

    assert len(dump_layout(dump["dump"], dump["index"]).streams) >= 10  # really split into many streams
    out = dump["dir"] / "local.ndjson"
    seen = []
    report = build_dataset(dump["dump"], out, INFOBOXES, index=dump["index"], workers=2,
                           progress=lambda done, total, counts: seen.append((done, total)))
    assert _read(out) == dump["expected"]
    c = dump["counts"]
    assert (report.counts.pages, report.counts.kept, report.counts.redirects, report.counts.other_namespace,
            report.counts.no_infobox) == (c["pages"], c["kept"], c["redirects"], c["other_namespace"], c["no_infobox"])
    assert report.workers == 2 and report.partitions >= 2 and report.multistream
    assert seen[-1][0] == seen[-1][1] and len(seen) == report.partitions
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert not list(dump["dir"].glob(".local.ndjson.*"))  # no temporary left behind


def test_cli_on_a_separately_started_scheduler_gives_the_same_records(dump, scheduler):
    out = dump["dir"] / "cli.ndjson"
    cmd = [sys.executable, "-m", "bookembed", "build-dataset", "--dump", str(dump["dump"]), "--index",
           str(dump["index"]), "--infobox", "book", "--infobox", "Infobox novel", "--out", str(out),
           "--scheduler", scheduler]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=WAIT_CEILING_S)
    assert proc.returncode == 0, proc.stderr
    assert _read(out) == dump["expected"]
    assert f"kept {dump['counts']['kept']}" in proc.stderr and "2 redirects" in proc.stderr


def test_streams_found_without_an_index(dump, scheduler):
    from bookembed.dumpjob import build_dataset

    out = dump["dir"] / "scanned.ndjson.gz"
    report = build_dataset(dump["dump"], out, INFOBOXES, scheduler=scheduler)
    with bz2.open(dump["index"], "rt") as fh:
        n_streams = len({line.split(":", 1)[0] for line in fh})
    assert report.multistream and report.counts.streams == n_streams + 1  # + the closing </mediawiki> stream
    from bookembed.corpus import read_records

    records, _ = read_records(out)  # gzip output reads back through the corpus reader
    assert [r.title for r in records] == [r[0] for r in dump["expected"]]
    assert [list(r.links) for r in records] == [r[2] for r in dump["expected"]]


@pytest.mark.parametrize("name", ["plain.xml.bz2", "plain.xml"])
def test_plain_dump_is_read_by_one_worker_and_says_so(dump, scheduler, name):
    from bookembed.dumpjob import build_dataset

    path = write_plain(dump["dir"] / name, dump["pages"])
    out = dump["dir"] / f"{name}.ndjson"
    report = build_dataset(path, out, INFOBOXES, scheduler=scheduler)
    assert _read(out) == dump["expected"]
    assert not report.multistream and report.partitions == 1 and report.workers == 1
    assert "single-stream" in report.lines()[0]


def test_model_trained_on_the_output_answers_for_every_book(dump, tmp_path):
    from bookembed.neighbors import similar_books
    from bookembed.pipeline import train_model_folder
    from bookembed.store import load_model_folder
    from bookembed.training import TrainConfig

    out = tmp_path / "books.ndjson"
    out.write_text("".join(json.dumps(r) + "\n" for r in dump["expected"]), encoding="utf-8")
    path, _, corpus = train_model_folder(out, tmp_path / "model",
                                         TrainConfig(epochs=30, batch_size=16, dim=8, heldout_share=0.0, seed=1))
    model = load_model_folder(path)
    generated = [r[0] for r in dump["expected"] if " book " in r[0]]
    assert set(generated) <= set(corpus.books["title"])
    for title in corpus.books["title"]:
        top = similar_books(model, title, k=3)
        assert len(top) == 3 and title not in set(top["title"])
    # books of one group share every link, so their nearest book is in the same group
    for title in generated:
        genre = title.split(" book ")[0]
        assert similar_books(model, title, k=1)["title"].iloc[0].startswith(genre)


# ---------------------------------------------------------------- bad input


@pytest.fixture
def previous(tmp_path):
    """An output file from an earlier run, which a failed job must leave as it was."""
    out = tmp_path / "books.ndjson"
    out.write_text('["Earlier", {}, [], [], null, 0]\n', encoding="utf-8")
    return out


def _fails(scheduler, dump_path, out, index=None, match=""):
    from bookembed.dumpjob import build_dataset

    before = out.read_bytes()
    with pytest.raises(DumpError) as err:
        build_dataset(dump_path, out, ["book"], index=index, scheduler=scheduler)
    message = str(err.value)
    assert "\n" not in message and match in message, message
    assert out.read_bytes() == before and not list(out.parent.glob(f".{out.name}.*"))
    return message


def _stream_offsets(index: Path) -> list[int]:
    with bz2.open(index, "rt") as fh:
        return sorted({int(line.split(":", 1)[0]) for line in fh})


def test_truncated_stream_names_the_file_and_offset(dump, scheduler, previous, tmp_path):
    offsets = _stream_offsets(dump["index"])
    broken = tmp_path / "truncated.xml.bz2"
    data = dump["dump"].read_bytes()
    cut = (offsets[-1] + len(data)) // 2  # in the middle of the last stream of pages (the closing one is tiny)
    broken.write_bytes(data[:cut])
    message = _fails(scheduler, broken, previous, index=dump["index"], match="truncated.xml.bz2")
    assert f"byte offset {offsets[-1]}" in message and "truncated" in message


def test_corrupt_stream_names_the_file_and_offset(dump, scheduler, previous, tmp_path):
    offsets = _stream_offsets(dump["index"])
    data = bytearray(dump["dump"].read_bytes())
    middle = (offsets[3] + offsets[4]) // 2
    data[middle:middle + 8] = bytes(b ^ 0x5A for b in data[middle:middle + 8])
    broken = tmp_path / "corrupt.xml.bz2"
    broken.write_bytes(bytes(data))
    message = _fails(scheduler, broken, previous, index=dump["index"], match="corrupt.xml.bz2")
    assert f"byte offset {offsets[3]}" in message and "corrupt" in message


@pytest.mark.parametrize("xml", [
    '<?xml version="1.0"?>\n<rss version="2.0"><channel><title>News</title></channel></rss>\n',
    '<mediawiki xmlns="http://example.org/other/"><siteinfo></siteinfo><page><title>X</title></page></mediawiki>',
])
def test_xml_that_is_not_a_mediawiki_export(scheduler, previous, tmp_path, xml):
    path = tmp_path / "feed.xml.bz2"
    path.write_bytes(bz2.compress(xml.encode()))
    message = _fails(scheduler, path, previous, match="feed.xml.bz2: not a MediaWiki export")
    assert "byte offset 0" in message


def test_malformed_page_xml_names_the_page_before_it(dump, scheduler, previous, tmp_path):
    pages = [DumpPage(1, "Good page", "{{Infobox book|name=G}}"), DumpPage(2, "Next page", "text")]
    path, index = write_multistream(tmp_path / "bad.xml.bz2", pages, pages_per_stream=1, index=tmp_path / "i.bz2")
    offsets = _stream_offsets(index)
    data = path.read_bytes()
    second = bz2.decompress(data[offsets[1]:offsets[1] + 10_000]).replace(b"</title>", b"</titel>")
    path.write_bytes(data[:offsets[1]] + bz2.compress(second))  # (drops the closing stream: not needed)
    message = _fails(scheduler, path, previous, index=index, match="bad.xml.bz2: malformed XML")
    assert f"byte offset {offsets[1]}" in message


def test_index_of_another_dump(dump, scheduler, previous, tmp_path):
    # offsets that are not stream starts of this dump
    shifted = tmp_path / "shifted-index.txt.bz2"
    with bz2.open(dump["index"], "rt") as fh:
        lines = [line.split(":", 1) for line in fh]
    with bz2.open(shifted, "wt") as fh:
        fh.writelines(f"{int(off) + 7}:{rest}" for off, rest in lines)
    message = _fails(scheduler, dump["dump"], previous, index=shifted, match="shifted-index.txt.bz2 does not match")
    assert f"byte offset {int(lines[0][0]) + 7}" in message
    # the same offsets, other pages: the first page of a stream is not the one the index lists
    renamed = tmp_path / "renamed-index.txt.bz2"
    with bz2.open(renamed, "wt") as fh:
        for off, rest in lines:
            page_id, title = rest.split(":", 1)
            fh.write(f"{off}:{int(page_id) + 1}:{title.strip()} (2)\n")
    message = _fails(scheduler, dump["dump"], previous, index=renamed, match="renamed-index.txt.bz2 does not match")
    # whichever stream a worker reaches first: the message names its offset and both pages
    listed = {f"byte offset {off}: it lists page {int(rest.split(':', 1)[0]) + 1}" for off, rest in lines}
    m = re.search(r"it lists page (\d+) '([^']*) \(2\)' first at (byte offset \d+), the stream there starts with "
                  r"page (\d+) '([^']*)'", message)
    assert m and m.group(2) == m.group(5) and int(m.group(1)) == int(m.group(4)) + 1, message
    assert any(m.group(3) in x for x in listed)


def test_bad_index_line(dump, scheduler, previous, tmp_path):
    index = tmp_path / "index.txt.bz2"
    index.write_bytes(bz2.compress(b"600:10:Dune\nnot an index line\n"))
    _fails(scheduler, dump["dump"], previous, index=index, match="line 2 of index.txt.bz2")


def test_missing_dump_file(scheduler, previous, tmp_path):
    _fails(scheduler, tmp_path / "nope.xml.bz2", previous, match="nope.xml.bz2: no such file")


@contextlib.contextmanager
def _port_8787_taken():
    """Dask's default dashboard port held on 127.0.0.1 (or already held by another process)."""
    sock = socket.socket()
    try:
        try:
            sock.bind(("127.0.0.1", 8787))
            sock.listen()
        except OSError:  # taken already
            pass
        yield
    finally:
        sock.close()


def test_cli_failed_task_on_a_local_cluster_is_one_line(dump, previous, tmp_path):
    # the error is raised inside a worker process, whose stderr is the command's: no worker log, no
    # remote traceback, only the command's own line
    data = dump["dump"].read_bytes()
    offsets = _stream_offsets(dump["index"])
    broken = tmp_path / "cut.xml.bz2"
    cut = (offsets[-1] + len(data)) // 2  # in the last stream of pages; and no index: streams found by scanning
    broken.write_bytes(data[:cut])
    before = previous.read_bytes()
    with _port_8787_taken():  # as by a Dask dashboard the user has open: no "port in use" warning either
        proc = subprocess.run([sys.executable, "-m", "bookembed", "build-dataset", "--dump", str(broken), "--infobox",
                               "book", "--out", str(previous), "--workers", "1", "-q"],
                              capture_output=True, text=True, cwd=ROOT, timeout=WAIT_CEILING_S)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines() == [f"bookembed: error: cut.xml.bz2: truncated bz2 stream at byte offset "
                                        f"{offsets[-1]} (it ends at byte {cut} before its end-of-stream marker)"], \
        proc.stderr
    assert proc.stdout == ""
    assert previous.read_bytes() == before and not list(tmp_path.glob(f".{previous.name}.*"))


def test_no_article_with_the_infobox_is_an_error_that_keeps_the_output(dump, scheduler, previous, tmp_path):
    films = [DumpPage(i, f"Film {i}", f"{{{{Infobox film | name = Film {i} }}}} [[Cinema]]") for i in range(1, 9)]
    films.append(DumpPage(20, "Talk page", "{{Infobox book|name=Not an article}}", namespace=1))
    path, index = write_multistream(tmp_path / "films.xml.bz2", films, pages_per_stream=3, index=tmp_path / "fi.bz2")
    message = _fails(scheduler, path, previous, index=index, match="films.xml.bz2: no article uses infobox book")
    assert f"read {len(films)} pages" in message and "1 outside the article namespace" in message
    assert "left as it was" in message
    # the same through another filter, and without an earlier file: none is created
    from bookembed.dumpjob import build_dataset

    fresh = tmp_path / "fresh.ndjson"
    with pytest.raises(DumpError, match="no article uses infobox album"):
        build_dataset(dump["dump"], fresh, ["Infobox album"], index=dump["index"], scheduler=scheduler)
    assert not fresh.exists() and not list(tmp_path.glob(".fresh.ndjson.*"))
    # and on the command line: one line, a non-zero exit
    proc = subprocess.run([sys.executable, "-m", "bookembed", "build-dataset", "--dump", str(dump["dump"]), "--index",
                           str(dump["index"]), "--infobox", "Infobox album", "--out", str(fresh), "--scheduler",
                           scheduler, "-q"], capture_output=True, text=True, cwd=ROOT, timeout=WAIT_CEILING_S)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("bookembed: error:") and "no article uses infobox album" in proc.stderr
    assert not fresh.exists()


_KILL_AT_FIRST_PROGRESS = """
import os, signal, sys
from bookembed.dumpjob import build_dataset
dump, index, out, scheduler = sys.argv[1:]
build_dataset(dump, out, ["book"], index=index, scheduler=scheduler,
              progress=lambda *_: os.kill(os.getpid(), signal.SIGKILL))
"""


def test_leftover_of_a_killed_run_is_removed_by_the_next_run(dump, scheduler, tmp_path):
    from bookembed.dumpjob import build_dataset

    out = tmp_path / "books.ndjson"
    # a run killed mid-write (after its first records, before its rename) leaves its temporary file
    killed = subprocess.run([sys.executable, "-c", _KILL_AT_FIRST_PROGRESS, str(dump["dump"]), str(dump["index"]),
                             str(out), scheduler], capture_output=True, text=True, cwd=ROOT, timeout=WAIT_CEILING_S)
    assert killed.returncode == -9, killed.stderr
    leftovers = sorted(p.name for p in tmp_path.glob(f".{out.name}.*"))
    assert len(leftovers) == 1 and not out.exists(), leftovers
    # the temporary file of a run that is still writing (its process is alive) must be left alone
    live = tmp_path / f".{out.name}.{os.getppid()}.tmp"
    live.write_text("a live run is writing this\n", encoding="utf-8")
    report = build_dataset(dump["dump"], out, INFOBOXES, index=dump["index"], scheduler=scheduler)
    assert _read(out) == dump["expected"]
    assert sorted(p.name for p in tmp_path.glob(f".{out.name}.*")) == [live.name]
    assert report.removed == leftovers
    said = [line for line in report.lines() if leftovers[0] in line]
    assert len(said) == 1 and "removed" in said[0] and "error" not in said[0].lower()


def _dead_pid() -> int:
    """A process id that no process has now (probed from the top of the range down)."""
    for pid in range(4_194_303, 1, -1):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            continue
    raise AssertionError("every process id is in use")


def test_only_temporary_files_of_runs_that_are_gone_are_removed(tmp_path):
    from bookembed.dumpjob import remove_stale_temps

    dead, live = _dead_pid(), os.getppid()
    names = {
        f".books.ndjson.{dead}.tmp": "removed",           # its run was killed
        f".books.ndjson.{dead}-0a1b2c3d.tmp": "removed",  # a second build in that process
        f".books.ndjson.{live}.tmp": "kept",              # a run still writing
        f".books.ndjson.{os.getpid()}.tmp": "kept",       # this process's own
        ".books.ndjson.12345678.tmp": "kept",             # atomic.temp_file's random hex name: no pid in it
        f".other.ndjson.{dead}.tmp": "kept",              # another output's
        f".books.ndjson.gz.{dead}.tmp": "kept",           # books.ndjson.gz's, not books.ndjson's
        f".books.ndjson.{dead}.tmp.keep": "kept",
        f".books.ndjson.0.tmp": "kept",                   # no process is 0
    }
    for name in names:
        (tmp_path / name).write_text("partial\n", encoding="utf-8")
    folder = f".books.ndjson.{dead}-ffffffff.tmp"  # a folder by such a name is not the job's file
    (tmp_path / folder).mkdir()
    names[folder] = "kept"
    removed = remove_stale_temps(tmp_path / "books.ndjson")
    assert removed == sorted(n for n, fate in names.items() if fate == "removed")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(n for n, fate in names.items() if fate == "kept")
    assert remove_stale_temps(tmp_path / "missing-folder" / "books.ndjson") == []


def test_a_task_that_fails_otherwise_is_one_dump_error(dump):
    # a worker that died (KilledWorker) or a parser bug reaches the user as one line naming the bytes
    from bookembed.dumpjob import _result
    from bookembed.wikidump import Partition, dump_layout

    layout = dump_layout(dump["dump"], dump["index"])

    class Failed:
        def __init__(self, err):
            self.err = err

        def result(self):
            raise self.err

    part = Partition(3, 1200, 3400)
    with pytest.raises(DumpError) as err:
        _result(Failed(RuntimeError("worker lost\nremote traceback ...")), part, layout)
    assert str(err.value) == (f"{dump['dump'].name}: the task reading bytes 1,200 to 3,400 failed "
                              "(RuntimeError: worker lost)")
    with pytest.raises(DumpError, match="^already one line$"):  # a DumpError passes through as it is
        _result(Failed(DumpError("already one line")), part, layout)


def test_cli_bad_input_is_one_line(tmp_path):
    path = tmp_path / "feed.xml.bz2"
    path.write_bytes(bz2.compress(b"<rss><channel/></rss>"))
    proc = subprocess.run([sys.executable, "-m", "bookembed", "build-dataset", "--dump", str(path), "--infobox",
                           "book", "--out", str(tmp_path / "o.ndjson")], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "not a MediaWiki export" in proc.stderr
    assert not (tmp_path / "o.ndjson").exists()


# ---------------------------------------------------------------- the newest dump


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def mirror(tmp_path):
    """A mirror of the dumps site on 127.0.0.1, under a path prefix of its own (/mirror): an older finished
    run, and a newer one still in progress. Its dumpstatus.json files keep the main site's URLs."""
    site = tmp_path / "site"
    wiki = site / "mirror" / "testwiki"
    done, running = wiki / "20260101", wiki / "20260201"
    done.mkdir(parents=True)
    running.mkdir()
    files = {}
    for name, data in (("testwiki-20260101-pages-articles-multistream.xml.bz2", bz2.compress(b"<dump/>" * 500)),
                       ("testwiki-20260101-pages-articles-multistream-index.txt.bz2", bz2.compress(b"1:2:A\n"))):
        (done / name).write_bytes(data)
        files[name] = {"size": len(data), "url": f"/testwiki/20260101/{name}"}
    files["testwiki-20260101-pages-articles-multistream1.xml-p1p10.bz2"] = {"size": 1, "url": "/nowhere"}
    (done / "dumpstatus.json").write_text(json.dumps({"jobs": {
        "articlesmultistreamdumprecombine": {"status": "done", "files": files},
        "metahistorybz2dump": {"status": "failed", "files": {}},
    }, "version": "0.8"}))
    (running / "dumpstatus.json").write_text(json.dumps({"jobs": {
        "articlesmultistreamdumprecombine": {"status": "in-progress", "files": {}}}, "version": "0.8"}))
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_address[1]}/mirror", "dir": done}
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_newest_finished_dump_is_found_and_downloaded(mirror, tmp_path):
    from bookembed.dumpjob import download_dump, latest_dump

    files = latest_dump("testwiki", mirror["url"])
    assert files.date == "20260101"  # 20260201 is newer but not finished
    assert files.dump_url == f"{mirror['url']}/testwiki/20260101/testwiki-20260101-pages-articles-multistream.xml.bz2"
    seen = set()
    dump, index = download_dump("testwiki", tmp_path / "data", base_url=mirror["url"],
                                progress=lambda name, done, total: seen.add(name))
    assert dump.read_bytes() == (mirror["dir"] / dump.name).read_bytes()
    assert index.read_bytes() == (mirror["dir"] / index.name).read_bytes()
    assert seen == {dump.name, index.name}
    assert not list((tmp_path / "data").glob("*.part"))


def test_cli_download_latest_dump(mirror, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "bookembed", "download", "--dump", "latest", "--wiki", "testwiki",
                           "--base-url", mirror["url"], "--out", str(tmp_path / "dl")],
                          capture_output=True, text=True, cwd=ROOT, timeout=WAIT_CEILING_S)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == sorted(p.name for p in mirror["dir"].glob("*.bz2"))


def test_no_finished_dump_is_one_clear_error(mirror):
    from bookembed.dumpjob import latest_dump

    shutil.rmtree(mirror["dir"])
    with pytest.raises(DownloadError, match="no.*finished|none of the newest"):
        latest_dump("testwiki", mirror["url"])
    with pytest.raises(DownloadError, match="HTTP 404"):
        latest_dump("otherwiki", mirror["url"])


def test_job_in_a_subprocess_reports_progress_and_errors(dump, scheduler, previous, tmp_path):
    from bookembed.dumpjob import build_dataset_in_subprocess

    out = tmp_path / "sub.ndjson"
    seen = []
    lines = build_dataset_in_subprocess(dump["dump"], out, INFOBOXES, index=dump["index"], scheduler=scheduler,
                                        progress=lambda done, total, counts: seen.append((done, total, counts.kept)))
    assert _read(out) == dump["expected"] and any("kept" in line for line in lines)
    assert seen and seen[-1][0] == seen[-1][1] and seen[-1][2] == dump["counts"]["kept"]
    feed = tmp_path / "feed.xml.bz2"
    feed.write_bytes(bz2.compress(b"<rss><channel/></rss>"))
    with pytest.raises(DumpError, match="feed.xml.bz2: not a MediaWiki export"):
        build_dataset_in_subprocess(feed, previous, ["book"], scheduler=scheduler)
    assert previous.read_text().startswith('["Earlier"')


# ---------------------------------------------------------------- the Train page


@pytest.mark.system  # the page starts the build in a child process
def test_train_page_builds_records_from_a_downloaded_dump_with_progress(dump, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    (tmp_path / "models").mkdir()
    monkeypatch.setenv("BOOKEMBED_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.chdir(tmp_path)  # the page looks for downloaded dumps in data/
    data = tmp_path / "data"
    data.mkdir()
    name = "testwiki-20260101-pages-articles-multistream.xml.bz2"
    shutil.copy(dump["dump"], data / name)
    shutil.copy(dump["index"], data / name.replace("multistream.xml", "multistream-index.txt"))
    (data / "testwiki-20260201-pages-articles-multistream.xml.bz2.part").write_bytes(b"BZh9")  # still downloading
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=WAIT_CEILING_S).run()
    at.switch_page("pages/train.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(b.label == "Download the full dataset" for b in at.button)
    inputs = {t.label: t for t in at.text_input}
    assert inputs["Dump file"].value == str(Path("data") / name)
    assert inputs["Its index (optional: without it the streams are found by scanning)"].value.endswith("index.txt.bz2")
    inputs["Infoboxes, comma separated"].input("book, Infobox novel")
    out = tmp_path / "built.ndjson"
    inputs["Write records to"].input(str(out))
    at.button(key="build_dataset").click().run()
    assert not at.exception, [e.value for e in at.exception]
    deadline = time.time() + WAIT_CEILING_S
    while not any("kept" in c.value for c in at.caption) and not at.error:
        assert time.time() < deadline, "the build did not finish"
        time.sleep(0.5)
        at.run()
    assert not at.error, [e.value for e in at.error]
    assert _read(out) == dump["expected"]
    # the page names the file as the browser may see it: relative to the server's working folder
    assert any(f"bookembed train --data {out.relative_to(tmp_path)}" in c.value.replace("\\", "")
               for c in at.caption)
    assert not any(str(tmp_path) in c.value for c in at.caption)


def test_redirect_text_is_recognised_in_any_case():
    from bookembed.wikitext import is_redirect_text

    assert is_redirect_text("#REDIRECT [[Dune (novel)]]")
    assert is_redirect_text("  #redirect[[Neuromancer]]")
    assert is_redirect_text("#Redirect [[X]]\n{{R from move}}")
    assert not is_redirect_text("Dune. #REDIRECT [[X]]")  # only at the start of the page
    assert not is_redirect_text("#redirection [[X]]")
    assert not is_redirect_text("")


def test_link_targets_drop_everything_after_the_first_bar_or_hash():
    ns = {"category": "Category"}
    assert link_target("Target|label|more", ns) == "Target"
    assert link_target("Target#Section#Sub", ns) == "Target"
    assert link_target("Xanadu", ns) == "Xanadu"  # only a leading ":" is dropped
    assert link_target(":Xanadu|X", ns) == "Xanadu"
    assert link_target("category:foo: bar", ns) == "Category:Foo: bar"  # the namespace is before the first ":"
    assert link_target("Category:", ns) is None  # a namespace and no title
    assert link_target("category: ", ns) is None


def test_page_record_of_one_page_in_process():
    from bookembed.wikitext import PageFilter, page_record

    page_filter = PageFilter.build(INFOBOXES, {"Category": "Category", "File": "File"})
    assert page_record("Dune (novel)", DUNE_TEXT, TS, page_filter) == DUNE_RECORD
    assert page_record("Neuromancer", NEURO_TEXT, TS, page_filter) == NEURO_RECORD
    # entities in a link's title are decoded; a title that is all markup keeps its text
    text = "{{Infobox book | name = X | empty = | = no name }} [[Allen &amp; Unwin|publisher]] [[{{PAGENAME}}]]"
    assert page_record("X", text, None, page_filter) == [
        "X", {"name": "X"}, ["Allen & Unwin", "{{PAGENAME}}"], [], None, len(text)]


def test_page_filter_names_and_namespaces():
    from bookembed.errors import BookembedError
    from bookembed.wikitext import PageFilter

    built = PageFilter.build(["Infobox book", "", "  ", "book", "Template:Infobox_Comic book"],
                             {"Category": "Category", "KATEGORIE": "Kategorie", "": "Empty"})
    assert built.infoboxes == ("book", "comic book")
    assert built.namespaces == {"category": "Category", "kategorie": "Kategorie"}
    assert PageFilter.build(["book"]).namespaces == {}
    for names in ([], ["", "  "]):
        with pytest.raises(BookembedError) as err:
            PageFilter.build(names)
        assert str(err.value) == "at least one infobox name is needed, e.g. --infobox book"


def test_candidate_pattern_finds_every_wanted_infobox():
    from bookembed.wikitext import PageFilter

    pattern = PageFilter.build(["book", "comic book"]).candidate_pattern()
    for text in ["{{Infobox book | a = b }}", "{{ infobox_Book}}", "{{Template:Infobox comic_book|x}}",
                 "{{comic   book\n| x = y}}", "{{INFOBOX COMIC BOOK}}", "{{template : Infobox Book<!-- c -->}}"]:
        assert pattern.search(text), text
    for text in ["{{Infobox bookshelf}}", "{{Infobox comicbook}}", "{{Infobox film}}", "[[book]]"]:
        assert not pattern.search(text), text
