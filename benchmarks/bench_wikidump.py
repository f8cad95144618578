"""How fast a Wikipedia dump becomes records: 1 worker against 2, and the parsers compared.

    .venv/bin/python benchmarks/bench_wikidump.py               # 50,000 pages, seed 7
    .venv/bin/python benchmarks/bench_wikidump.py --pages 200000
    .venv/bin/python benchmarks/bench_wikidump.py --hogs 2      # beside two CPU hogs

Generates a seeded multistream dump (100 pages a stream, with its index) whose
mix follows English Wikipedia's ``pages-articles``: about 30% articles, 48%
redirects and 22% pages in other namespaces (templates, categories, files,
project pages); 1% of the articles use ``{{Infobox book}}`` and 30% another
infobox; article text is random words from a Zipf vocabulary with links,
templates, ``<ref>`` tags and categories, about 7 KB on average.

Then, in one run:

1. the whole job (``build_dataset``) on a local cluster of 1 worker process and
   of 2, on the same dump; pages/s and MB/s (uncompressed XML) of the job,
   cluster start-up apart, and each worker's peak memory;
2. on one core, the parsing choices: mwparserfromhell on every article (the
   seed's way) against a regex check first and mwparserfromhell only for the
   pages it lets through (bookembed's way); links by a regex pass against
   mwparserfromhell's (time, and how often they agree); mwxml against plain
   ``xml.etree.ElementTree.iterparse`` for reading the pages (when mwxml is installed).

No figure is asserted anywhere; the figures are written to
``benchmarks/results/wikidump.json`` (the number of pages in "what").
"""

from __future__ import annotations

import argparse
import bz2
import io
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "benchmarks"))

from dumpwriter import DumpPage, write_multistream  # noqa: E402
from hogs import add_hogs_option, busy, load_average  # noqa: E402
from results import record  # noqa: E402

OTHER_NS = [1, 2, 4, 6, 10, 14, 100]
INFOBOXES = ["settlement", "person", "film", "album", "football biography", "company", "species"]


def _vocabulary(rng: np.random.Generator, n: int = 20_000) -> np.ndarray:
    letters = np.array(list("etaoinshrdlucmfwypvbgkqjxz"))
    lengths = rng.integers(2, 11, n)
    return np.array(["".join(rng.choice(letters, k)) for k in lengths])


def _words(rng, vocab, n: int) -> list[str]:
    ranks = np.minimum(rng.zipf(1.3, n), len(vocab)) - 1
    return vocab[ranks].tolist()


def _article(rng, vocab, title: str, infobox: str | None) -> str:
    parts = []
    if infobox:
        params = [f"| name = {title}", f"| author = [[{' '.join(_words(rng, vocab, 2)).title()}]]",
                  f"| genre = [[{_words(rng, vocab, 1)[0]} fiction]]", f"| pub_date = {{{{Start date|{rng.integers(1800, 2024)}}}}}",
                  f"| pages = {rng.integers(80, 900)}<ref>{{{{cite web|url=https://example.org/{rng.integers(1e9)}|title=x}}}}</ref>",
                  "| isbn = <!-- none -->"]
        parts.append(f"{{{{Infobox {infobox}\n" + "\n".join(params) + "\n}}\n")
    n_words = int(rng.lognormal(6.6, 0.8))  # ~1,000 words on average, a long tail
    words = _words(rng, vocab, n_words)
    for i in range(0, n_words, 12):  # a link about every 12 words, some labelled, some with sections
        kind = rng.integers(0, 10)
        if kind < 6:
            words[i] = f"[[{words[i]}]]"
        elif kind < 8:
            words[i] = f"[[{words[i].title()} {words[min(i + 1, n_words - 1)]}|{words[i]}]]"
        elif kind == 8:
            words[i] = f"[[{words[i].title()}#History|{words[i]}]]"
        else:
            words[i] = f"{words[i]}<ref name=r{i}>{{{{cite book|title={words[i]}|year=2001}}}}</ref>"
    for i in range(0, n_words, 150):
        words[i] = "\n\n== " + words[i].title() + " ==\n" + words[i]
    parts.append(" ".join(words))
    parts.append("\n{{Reflist}}\n<!-- maintenance note -->\n")
    parts.extend(f"[[Category:{w.title()} works]]\n" for w in _words(rng, vocab, int(rng.integers(2, 8))))
    return "".join(parts)


def generate(n_pages: int, seed: int) -> tuple[list[DumpPage], int]:
    rng = np.random.default_rng(seed)
    vocab = _vocabulary(rng)
    pages, n_books = [], 0
    for pid in range(1, n_pages + 1):
        roll = rng.random()
        title = " ".join(_words(rng, vocab, int(rng.integers(1, 4)))).capitalize() + f" {pid}"
        if roll < 0.48:
            target = f"Target {rng.integers(1, n_pages)}"
            pages.append(DumpPage(pid, title, f"#REDIRECT [[{target}]]\n{{{{R from move}}}}", redirect=target))
        elif roll < 0.70:
            ns = int(rng.choice(OTHER_NS))
            pages.append(DumpPage(pid, title, " ".join(_words(rng, vocab, int(rng.integers(20, 400)))), namespace=ns))
        else:
            r = rng.random()
            infobox = "book" if r < 0.01 else (INFOBOXES[int(rng.integers(len(INFOBOXES)))] if r < 0.31 else None)
            n_books += infobox == "book"
            pages.append(DumpPage(pid, title, _article(rng, vocab, title, infobox)))
    return pages, n_books


def run_job(dump: Path, index: Path, workers: int, out: Path) -> dict:
    from distributed import Client, LocalCluster

    from bookembed.dumpjob import build_dataset

    t0 = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        started = time.perf_counter() - t0
        cpu0 = client.run(time.process_time)
        t1 = time.perf_counter()
        report = build_dataset(dump, out, ["book"], index=index, scheduler=cluster.scheduler_address)
        seconds = time.perf_counter() - t1
        cpu = sum(client.run(time.process_time)[w] - cpu0[w] for w in cpu0)
        peaks = client.run(_peak_rss_mib)
    return {"workers": workers, "startup_s": started, "seconds": seconds, "report": report, "cpu_s": cpu,
            "peak_mib": max(peaks.values())}


def _peak_rss_mib() -> float:
    """This process's peak resident memory, MiB.

    VmHWM, not getrusage's ru_maxrss: ru_maxrss survives exec, so a worker
    spawned from this (large) process would report this process's peak.
    """
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _stream_texts(dump: Path, index: Path, limit: int) -> tuple[str, list[str]]:
    from bookembed.wikidump import dump_layout

    layout = dump_layout(dump, index)
    data = dump.read_bytes()
    bounds = layout.streams[:limit + 1]
    texts = [bz2.decompress(data[a:b]).decode() for a, b in zip(bounds, bounds[1:])]
    return layout.source.header, texts


_LINK_RE = re.compile(r"\[\[([^\[\]|#]*)(?:#[^\[\]|]*)?(?:\|[^\[\]]*)?\]\]")


def compare_parsers(dump: Path, index: Path, n_streams: int) -> list[dict]:
    """Print the parsing choices side by side; return their figures as results rows (pages/s)."""
    import mwparserfromhell

    from bookembed.wikitext import PageFilter, link_target, page_record

    header, texts = _stream_texts(dump, index, n_streams)
    xml_bytes = sum(len(t.encode()) for t in texts)

    # XML: bookembed's reader (ElementTree.iterparse) against mwxml, both reading every page's fields
    from bookembed.wikidump import _pages

    t0 = time.perf_counter()
    pages = [(ns, title, redirect, text) for text_ in texts
             for _, ns, title, redirect, _, text in _pages(io.StringIO(header + text_ + "</mediawiki>"), dump, "")]
    t_ours = time.perf_counter() - t0
    line = f"\nreading XML ({len(pages):,} pages, {xml_bytes / 1e6:.0f} MB): iterparse {len(pages) / t_ours:,.0f} pages/s"
    rows = [{"what": "read XML, iterparse", "pages_per_s": round(len(pages) / t_ours)}]
    try:
        import mwxml
    except ImportError:
        print(line + "; mwxml not installed (pip install mwxml==0.3.8 to compare)")
    else:
        t0 = time.perf_counter()
        n = 0
        for text in texts:
            for page in mwxml.Dump.from_file(io.StringIO(header + text + "</mediawiki>")).pages:
                for rev in page:
                    n += bool(page.title) + 0 * len(rev.text or "")
        t_mwxml = time.perf_counter() - t0
        print(line + f", mwxml {mwxml.__version__} {n / t_mwxml:,.0f} pages/s (iterparse {t_mwxml / t_ours:.1f}x faster)")
        rows.append({"what": "read XML, mwxml", "pages_per_s": round(n / t_mwxml)})

    articles = [p for p in pages if p[0] == 0 and not p[2]]
    pf = PageFilter.build(["book"], {"category": "Category"})
    pattern = pf.candidate_pattern()
    t0 = time.perf_counter()
    full = 0
    for _, title, _, text in articles:  # the seed's way: parse every article
        code = mwparserfromhell.parse(text)
        full += any(str(t.name).strip().lower() == "infobox book" for t in code.filter_templates())
    t_full = time.perf_counter() - t0
    t0 = time.perf_counter()
    kept = [r for _, title, _, text in articles if (r := page_record(title, text, None, pf, pattern))]
    t_ours = time.perf_counter() - t0
    print(f"finding infobox pages among {len(articles):,} articles: mwparserfromhell on every page "
          f"{len(articles) / t_full:,.0f} pages/s; regex check then mwparserfromhell {len(articles) / t_ours:,.0f} "
          f"pages/s ({t_full / t_ours:.0f}x); both find {full} / {len(kept)} pages")
    rows += [{"what": "infobox pages, mwparserfromhell on every page", "pages_per_s": round(len(articles) / t_full)},
             {"what": "infobox pages, regex then mwparserfromhell", "pages_per_s": round(len(articles) / t_ours),
              "found": len(kept)}]

    # links on the pages that are kept: a careful regex pass against the parsed page's links
    sample = [text for _, _, _, text in articles[:2000]]
    t0 = time.perf_counter()
    by_regex = [[t for m in _LINK_RE.finditer(text) if (t := link_target(m.group(1), pf.namespaces))]
                for text in sample]
    t_regex = time.perf_counter() - t0
    t0 = time.perf_counter()
    by_parser = [[t for link in mwparserfromhell.parse(text).filter_wikilinks()
                  if (t := link_target(str(link.title), pf.namespaces))] for text in sample]
    t_parser = time.perf_counter() - t0
    agree = sum(a == b for a, b in zip(by_regex, by_parser))
    print(f"links of {len(sample):,} articles: regex {len(sample) / t_regex:,.0f} pages/s, mwparserfromhell "
          f"{len(sample) / t_parser:,.0f} pages/s ({t_parser / t_regex:.0f}x slower); same links on "
          f"{agree / len(sample):.1%} of pages")
    rows += [{"what": "links, regex", "pages_per_s": round(len(sample) / t_regex),
              "same_links": round(agree / len(sample), 4)},
             {"what": "links, mwparserfromhell", "pages_per_s": round(len(sample) / t_parser)}]
    tricky = ("[[File:Cover.jpg|thumb|The [[first edition]] cover]] <!-- [[Old link]] --> "
              "<nowiki>[[Not a link]]</nowiki> [[Real link]]")
    regex_links = [m.group(1) for m in _LINK_RE.finditer(tricky)]
    parser_links = [str(link.title) for link in mwparserfromhell.parse(tricky).filter_wikilinks()]
    print(f"  on {tricky!r}:\n  regex finds {regex_links}, mwparserfromhell {parser_links}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--compare-streams", type=int, default=120, help="streams used to compare parsers")
    add_hogs_option(parser)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        pages, n_books = generate(args.pages, args.seed)
        xml_mb = sum(len(p.text.encode()) for p in pages) / 1e6
        dump, index = write_multistream(tmp / "bench-pages-articles-multistream.xml.bz2", pages,
                                        index=tmp / "bench-index.txt.bz2")
        del pages
        print(f"generated {args.pages:,} pages ({n_books} with Infobox book, {xml_mb:.0f} MB of wikitext, "
              f"{dump.stat().st_size / 1e6:.0f} MB compressed) in {time.perf_counter() - t0:.0f} s")

        with busy(args.hogs):
            runs = [run_job(dump, index, n, tmp / f"out{n}.ndjson") for n in (1, 2)]
            load = load_average()
        assert (tmp / "out1.ndjson").read_bytes() == (tmp / "out2.ndjson").read_bytes()
        print("\nworkers  start-up  job       pages/s  wikitext MB/s  worker CPU  pages/CPU-s  peak memory/worker")
        for r in runs:
            c = r["report"].counts
            print(f"{r['workers']:>7}  {r['startup_s']:6.1f} s  {r['seconds']:6.1f} s  {c.pages / r['seconds']:7,.0f}  "
                  f"{xml_mb / r['seconds']:13.1f}  {r['cpu_s']:8.1f} s  {c.pages / r['cpu_s']:11,.0f}  "
                  f"{r['peak_mib']:10.0f} MiB")
        speedup = runs[0]["seconds"] / runs[1]["seconds"]
        print(f"2 workers / 1 worker: {speedup:.2f}x wall clock; kept {runs[0]['report'].counts.kept:,} records; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        # English Wikipedia's pages-articles: ~6.9M articles among ~24M pages (the rest redirects and other
        # namespaces, about this mix) and ~100 GB of XML (22 GB of bz2 at wikitext's ~4.5:1). Its articles are
        # longer than these, so both scalings are shown; the larger is the honest one. Per core: the pages (MB)
        # one worker parses per CPU-second, which a busy machine does not distort as it does wall-clock time.
        per_cpu = runs[0]["report"].counts.pages / runs[0]["cpu_s"]
        mb_per_cpu = xml_mb / runs[0]["cpu_s"]
        for cores in (16, 64):
            by_pages = 24e6 / (per_cpu * cores) / 60
            by_bytes = 100e3 / (mb_per_cpu * cores) / 60
            print(f"estimate, English Wikipedia on {cores} cores, each at one worker's pages per CPU-second: "
                  f"{by_pages:.0f} min by pages, {by_bytes:.0f} min by bytes")
        with busy(args.hogs):
            parsers = compare_parsers(dump, index, args.compare_streams)
        size = f"{args.pages:,} pages"
        rows = []
        for r in runs:
            c = r["report"].counts
            rows.append({"what": f"job, {r['workers']} worker{'s' if r['workers'] > 1 else ''}, {size}",
                         "seconds": round(r["seconds"], 2), "startup_s": round(r["startup_s"], 2),
                         "pages_per_s": round(c.pages / r["seconds"]), "mb_per_s": round(xml_mb / r["seconds"], 2),
                         "cpu_s": round(r["cpu_s"], 2), "pages_per_cpu_s": round(c.pages / r["cpu_s"]),
                         "peak_mib": round(r["peak_mib"]), "kept": c.kept,
                         "x_one_worker": round(runs[0]["seconds"] / r["seconds"], 2)})
        rows += [{"what": f"estimate, English Wikipedia, {cores} cores (from {size})",
                  "minutes_by_pages": round(24e6 / (per_cpu * cores) / 60),
                  "minutes_by_bytes": round(100e3 / (mb_per_cpu * cores) / 60)} for cores in (16, 64)]
        rows += [{**r, "what": f"{r['what']}, {size}"} for r in parsers]
        print("written:", record("wikidump", [{**r, "hogs": args.hogs, "load_average": load} for r in rows]))


if __name__ == "__main__":
    main()
