"""Write the measured tables in ``README.md`` and ``docs/*.md`` from ``benchmarks/results/*.json``.

    .venv/bin/python benchmarks/make_docs.py           # rewrite every generated table
    .venv/bin/python benchmarks/make_docs.py --check   # exit 1 if a table differs from its results file

A generated table sits between two markers in a Markdown file::

    <!-- results: latency columns=seconds,peak_mb -->
    ...the table, written by this script...
    <!-- /results -->

``results:`` names the results file (``benchmarks/results/latency.json``);
``columns=`` the figures to show (``book.recall`` for a figure nested in a row); ``digits=3`` writes every figure below 100
with three decimals (quality figures that differ in the third); ``match=a|b``
keeps the rows whose ``what`` contains ``a`` or ``b`` (a short table from a
long file), ``match=a+b`` those that contain both. Rows are the file's ``what`` values in the
order the benchmark wrote them; each figure gets one column per number of CPU
hogs that ran beside it ("quiet", "beside 2 hogs"). Below the table, one line
says which command made each column, on what machine and when. A figure that
was not measured reads "not measured". ``tests/test_docs.py`` runs the check,
so a table can never drift from its measurement.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from results import load  # noqa: E402

BLOCK = re.compile(r"(<!-- results: (?P<name>[\w-]+)(?P<opts>[^>]*?)-->\n)(?P<body>.*?)(<!-- /results -->)", re.S)
LABELS = {
    "hits10": "Hits@10", "hits10_stderr": "Hits@10 ±", "hits10_ratio": "Hits@10 / best baseline's", "genre_purity": "genre purity@10",
    "genre_gain": "genre purity − best baseline's", "raw_genre_purity": "raw genre purity@10",
    "raw_genre_gain": "raw genre purity − best baseline's", "clears": "clears the bar",
    "x_default": "training time / default's", "hits10_spread": "Hits@10 ±", "genre_purity_spread": "genre purity ±",
    "auc": "AUC", "mrr": "MRR", "author_purity": "author purity@10", "country_purity": "country purity@10",
    "seconds": "s", "peak_mb": "peak MB", "slowest_s": "slowest s", "median_s": "median s",
    "exceptions": "exceptions", "no_result": "no result", "sessions": "sessions", "server_cpu_s": "server CPU s",
    "book.recall": "book recall@10", "link.recall": "link recall@10", "book.build_seconds": "book index build s",
    "book.file_mb": "book index MB", "median_ms": "median ms", "p95_ms": "p95 ms", "open_s": "open s", "output_mb": "output MB",
    "minutes": "minutes", "peak_gb": "peak GB", "basis": "from",
    "stages.reading": "reading s", "stages.cleaning": "cleaning s", "stages.training": "training s",
    "stages.evaluating": "evaluating s", "stages.saving": "saving s",
    "search_page": "Search page s", "search_first": "first search s", "search_2": "second search s", "search_3": "third search s",
    "model_page": "Model page s", "export_page": "Export page s",
}


def _options(text: str) -> dict:
    return dict(part.split("=", 1) for part in text.split() if "=" in part)


def _fmt(value, digits: int = 2) -> str:
    if value is None:
        return "not measured"
    if isinstance(value, float):
        return f"{value:,.{digits}f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _get(row: dict, column: str):
    """A row's figure; ``book.recall`` reads ``row["book"]["recall"]``."""
    for part in column.split("."):
        row = row.get(part) if isinstance(row, dict) else None
    return row


def _hogs_label(hogs: int) -> str:
    return "quiet" if not hogs else f"beside {hogs} hog{'s' if hogs > 1 else ''}"


def render(name: str, options: dict) -> str:
    """The Markdown table (and its provenance line) for results file ``name``."""
    data = load(name)
    if data is None:
        return f"*Not measured yet: run the benchmark that writes `benchmarks/results/{name}.json`.*\n"
    rows = data["rows"]
    columns = [c for c in options.get("columns", "seconds").split(",") if c]
    digits = int(options.get("digits", 2))
    match = [m for m in options.get("match", "").split("|") if m]
    rows = [r for r in rows if not match or any(all(part in r["what"] for part in m.split("+")) for m in match)]
    hogs = sorted({int(r.get("hogs") or 0) for r in rows})
    whats = list(dict.fromkeys(r["what"] for r in rows))
    by = {(r["what"], int(r.get("hogs") or 0)): r for r in rows}
    head = ["what"] + [f"{LABELS.get(c, c)}, {_hogs_label(h)}" for c in columns for h in hogs]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for what in whats:
        cells = [what] + [_fmt(_get(by.get((what, h), {}), c), digits) for c in columns for h in hogs]
        lines.append("| " + " | ".join(cells) + " |")
    machine = data.get("machine", {})
    for h in hogs:
        made = [by[(w, h)] for w in whats if (w, h) in by]
        commands = list(dict.fromkeys(r.get("command", "?") for r in made))
        dates = sorted({r.get("date", "?") for r in made})
        cpus = " and ".join(dict.fromkeys(str(r.get("cpu") or machine.get("cpu")) for r in made))  # each row's own
        where = f"{machine.get('cores')} cores, {machine.get('memory_gb')} GB, {cpus}"
        lines.append("")
        lines.append(f"{_hogs_label(h).capitalize()}: `{'`, `'.join(commands)}` on {where}, {dates[-1]}.")
    return "\n".join(lines) + "\n"


def rewrite(text: str) -> str:
    def one(match: re.Match) -> str:
        body = render(match["name"], _options(match["opts"]))
        return match.group(1) + body + match.group(5)

    return BLOCK.sub(one, text)


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def stale() -> list[Path]:
    """The documents whose generated tables differ from their results files."""
    return [p for p in documents() if p.is_file() and rewrite(p.read_text(encoding="utf-8")) !=
            p.read_text(encoding="utf-8")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when a table is out of date")
    args = parser.parse_args()
    if args.check:
        out = stale()
        for path in out:
            print(f"{path.relative_to(ROOT)}: a generated table differs from benchmarks/results; "
                  "run python benchmarks/make_docs.py")
        return 1 if out else 0
    for path in documents():
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            new = rewrite(text)
            if new != text:
                path.write_text(new, encoding="utf-8")
                print("wrote", path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
