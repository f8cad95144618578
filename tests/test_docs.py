"""Every measured table in the docs is the one its results file gives (benchmarks/make_docs.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import make_docs  # noqa: E402
import results  # noqa: E402


def test_the_docs_tables_match_their_results_files():
    assert make_docs.stale() == [], "run: python benchmarks/make_docs.py"


def test_every_table_names_a_results_file_that_a_benchmark_writes():
    """A misspelt name would only ever say "not measured yet": each must be one a benchmark records."""
    import re

    written = {m for p in (ROOT / "benchmarks").glob("*.py")
               for m in re.findall(r'record\(\s*"([\w-]+)"', p.read_text(encoding="utf-8"))}
    named = [(path.name, match["name"]) for path in make_docs.documents() if path.is_file()
             for match in make_docs.BLOCK.finditer(path.read_text(encoding="utf-8"))]
    assert named and {"latency", "app_latency", "readers"} <= written
    assert [(doc, name) for doc, name in named if name not in written] == []


@pytest.fixture
def scratch_results(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "RESULTS", tmp_path)
    return tmp_path


def test_a_table_shows_quiet_and_busy_columns_and_its_provenance(scratch_results):
    results.record("demo", [{"what": "train", "hogs": 0, "seconds": 8.123, "peak_mb": 356},
                            {"what": "map", "hogs": 0, "seconds": 1.5, "peak_mb": 300}])
    results.record("demo", [{"what": "train", "hogs": 2, "seconds": 20.4, "peak_mb": 360}])
    table = make_docs.render("demo", {"columns": "seconds,peak_mb"})
    lines = table.splitlines()
    assert lines[0] == "| what | s, quiet | s, beside 2 hogs | peak MB, quiet | peak MB, beside 2 hogs |"
    assert lines[2] == "| train | 8.12 | 20.40 | 356 | 360 |"
    assert lines[3] == "| map | 1.50 | not measured | 300 | not measured |"
    assert any(line.startswith("Quiet: `") for line in lines) and any(line.startswith("Beside 2 hogs: `")
                                                                     for line in lines)


def test_a_new_measurement_replaces_the_old_row_and_the_check_sees_the_drift(scratch_results, tmp_path):
    results.record("demo", [{"what": "train", "hogs": 0, "seconds": 8.0}])
    doc = "intro\n<!-- results: demo columns=seconds -->\nold\n<!-- /results -->\nend\n"
    fresh = make_docs.rewrite(doc)
    assert "| train | 8.00 |" in fresh and fresh.startswith("intro\n") and fresh.endswith("<!-- /results -->\nend\n")
    assert make_docs.rewrite(fresh) == fresh  # stable
    results.record("demo", [{"what": "train", "hogs": 0, "seconds": 9.0}])
    assert json.loads((tmp_path / "demo.json").read_text())["rows"][0]["seconds"] == 9.0
    assert len(json.loads((tmp_path / "demo.json").read_text())["rows"]) == 1
    assert make_docs.rewrite(fresh) != fresh and "| train | 9.00 |" in make_docs.rewrite(fresh)


def test_digits_gives_three_decimals_and_labels_name_the_quality_figures(scratch_results):
    results.record("demo", [{"what": "p15: goal links", "hogs": 0, "hits10": 0.5234, "genre_gain": -0.0123,
                             "clears": "Hits@10", "seconds": 123.4}])
    lines = make_docs.render("demo", {"columns": "hits10,genre_gain,clears,seconds", "digits": "3"}).splitlines()
    assert lines[0] == ("| what | Hits@10, quiet | genre purity − best baseline's, quiet | clears the bar, quiet "
                        "| s, quiet |")
    assert lines[2] == "| p15: goal links | 0.523 | -0.012 | Hits@10 | 123 |"
    assert make_docs.render("demo", {"columns": "hits10"}).splitlines()[2] == "| p15: goal links | 0.52 |"


def test_match_keeps_only_the_rows_named(scratch_results):
    results.record("demo", [{"what": w, "hogs": 0, "seconds": 1.0} for w in ("p15: default", "p15: levers: x",
                                                                               "demo: goal: links")])
    table = make_docs.render("demo", {"columns": "seconds", "match": "default|goal"})
    assert [line.split(" | ")[0] for line in table.splitlines()[2:4]] == ["| p15: default", "| demo: goal: links"]
    assert "levers" not in table
