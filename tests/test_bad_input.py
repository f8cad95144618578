"""Bad input: one clear line naming the file and the line or field, and a non-zero CLI exit."""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest

from conftest import TINY_BOOKS, assert_one_line_error, record, run_cli, write_ndjson

from bookembed.corpus import load_corpus, read_metadata_table
from bookembed.errors import BookembedError, CorpusError

GOOD = json.dumps(TINY_BOOKS[0])


def good_with(bad_line: str, at: int = 2, n: int = 4) -> bytes:
    """``n`` good lines with ``bad_line`` as line number ``at``."""
    lines = [json.dumps(r) for r in TINY_BOOKS[:n]]
    lines.insert(at - 1, bad_line)
    return ("\n".join(lines) + "\n").encode("utf-8")


def fields(**changes) -> str:
    values = list(TINY_BOOKS[1])
    names = ["title", "infobox", "wikilinks", "external_links", "last_edit", "text_length"]
    for name, value in changes.items():
        values[names.index(name)] = value
    return json.dumps(values)


# (case id, file name, file bytes, fragments the message must contain)
NDJSON_CASES = [
    ("malformed-json", "bad.ndjson", good_with('["Dune", {}, ["a"], [], null', at=3), ["line 3 of bad.ndjson", "malformed JSON"]),
    ("object", "bad.ndjson", good_with(json.dumps({"title": "Dune"})), ["line 2 of bad.ndjson", "6 fields", "got an object"]),
    ("string", "bad.ndjson", good_with('"just a string"'), ["line 2 of bad.ndjson", "6 fields", "got a string"]),
    ("short-list", "bad.ndjson", good_with(json.dumps(["Dune", {}, [], [], None])),
     ["line 2 of bad.ndjson", "6 fields", "a list of 5"]),
    ("long-list", "bad.ndjson", good_with(json.dumps(["Dune", {}, [], [], None, 1, 2]), at=4),
     ["line 4 of bad.ndjson", "a list of 7"]),
    ("title-number", "bad.ndjson", good_with(fields(title=12)), ["line 2 of bad.ndjson", "field 1 (title)", "a number"]),
    ("title-empty", "bad.ndjson", good_with(fields(title="  ")), ["line 2 of bad.ndjson", "field 1 (title)"]),
    ("infobox-list", "bad.ndjson", good_with(fields(infobox=[])), ["line 2 of bad.ndjson", "field 2 (infobox)", "a list"]),
    ("wikilinks-string", "bad.ndjson", good_with(fields(wikilinks="Moscow")),
     ["line 2 of bad.ndjson", "field 3 (wikilinks)", "a string"]),
    ("wikilink-item-number", "bad.ndjson", good_with(fields(wikilinks=["Moscow", 7])),
     ["line 2 of bad.ndjson", "field 3 (wikilinks)", "item 2"]),
    ("external-null", "bad.ndjson", good_with(fields(external_links=None)), ["line 2 of bad.ndjson", "field 4 (external_links)"]),
    ("last-edit-number", "bad.ndjson", good_with(fields(last_edit=2018)), ["line 2 of bad.ndjson", "field 5 (last_edit)"]),
    ("length-string", "bad.ndjson", good_with(fields(text_length="1000")), ["line 2 of bad.ndjson", "field 6 (text_length)"]),
    ("length-bool", "bad.ndjson", good_with(fields(text_length=True)), ["line 2 of bad.ndjson", "field 6 (text_length)", "boolean"]),
    ("not-utf8", "bad.ndjson", good_with('["Caf\xe9"]').replace("Café".encode(), b"Caf\xe9"), ["line 2 of bad.ndjson", "UTF-8"]),
    ("empty", "empty.ndjson", b"", ["empty.ndjson", "empty"]),
    ("blank-lines-only", "blank.ndjson", b"\n  \n\r\n", ["blank.ndjson", "empty"]),
    ("binary", "data.ndjson", bytes(range(256)) * 4, ["line 1 of data.ndjson", "binary"]),
    # a PNG's first line has no NUL byte but is not UTF-8 either
    ("png", "image.ndjson", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00" + bytes(range(256)),
     ["line 1 of image.ndjson", "not UTF-8"]),
    ("binary-later", "bad.ndjson", good_with("ab\x00cd"), ["line 2 of bad.ndjson", "binary"]),
]


@pytest.fixture(params=NDJSON_CASES, ids=[c[0] for c in NDJSON_CASES])
def bad_file(request, tmp_path):
    _, name, content, fragments = request.param
    path = tmp_path / name
    path.write_bytes(content)
    return path, fragments


def test_bad_records_raise_one_line_naming_file_and_line(bad_file):
    path, fragments = bad_file
    with pytest.raises(CorpusError) as info:
        load_corpus(path)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def truncated_gzip(tmp_path):
    data = gzip.compress(("\n".join(json.dumps(r) for r in TINY_BOOKS * 20) + "\n").encode())
    path = tmp_path / "cut.ndjson.gz"
    path.write_bytes(data[: len(data) // 2])
    return path


def test_truncated_gzip(tmp_path):
    with pytest.raises(CorpusError, match=r"^cut\.ndjson\.gz: truncated gzip") as info:
        load_corpus(truncated_gzip(tmp_path))
    assert "\n" not in str(info.value)


def test_truncated_gzip_even_with_skip_bad_lines(tmp_path):
    with pytest.raises(CorpusError, match="truncated gzip"):
        load_corpus(truncated_gzip(tmp_path), skip_bad_lines=True)


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "junk.ndjson.gz"
    path.write_bytes(b"\x1f\x8b" + bytes(range(200)))
    with pytest.raises(CorpusError, match=r"junk\.ndjson\.gz: .*gzip"):
        load_corpus(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(CorpusError, match=r"nowhere\.ndjson: no such file"):
        load_corpus(tmp_path / "nowhere.ndjson")
    with pytest.raises(CorpusError, match="is a directory"):
        load_corpus(tmp_path)


@pytest.mark.parametrize(
    "rows",
    [
        [record(f"Book {i}", [f"link {i}"]) for i in range(6)],  # no link in 4 books
        [record(f"Wikipedia:Page {i}", ["shared"]) for i in range(6)],  # every title dropped
        [record(f"Book {i}", ["Hardcover", "Paperback"]) for i in range(6)],  # only removed links
    ],
    ids=["rare-links", "all-titles-dropped", "only-removed-links"],
)
def test_nothing_left_to_train_on(tmp_path, rows):
    path = write_ndjson(tmp_path / "thin.ndjson", rows)
    with pytest.raises(CorpusError, match="nothing left to train on") as info:
        load_corpus(path)
    assert "thin.ndjson" in str(info.value) and "\n" not in str(info.value)


# ---------------------------------------------------------------- tables


TABLE_CASES = [
    ("empty-csv", "p.csv", b"", ["p.csv", "empty"]),
    ("header-only", "p.csv", b"item,link\n", ["p.csv", "no rows"]),
    ("one-column", "p.csv", b"item\nDune\n", ["p.csv", "two columns"]),
    ("empty-link", "p.csv", b"item,link\nDune,Arrakis\nDune,\nEmma,Bath\n", ["data row 2 of p.csv", "'link'"]),
    ("empty-item", "p.csv", b"item,link\nDune,Arrakis\nEmma,Bath\n,Bath\n", ["data row 3 of p.csv", "'item'"]),
    ("not-utf8", "p.csv", b"item,link\nCaf\xe9,x\n", ["p.csv", "UTF-8"]),
    ("ragged", "p.csv", b"item,link\nDune,Arrakis\nEmma,Bath,extra,more\n", ["p.csv"]),
    ("bad-parquet", "p.parquet", b"PAR1 this is not parquet at all", ["p.parquet", "cannot read"]),
]


@pytest.mark.parametrize("case", TABLE_CASES, ids=[c[0] for c in TABLE_CASES])
def test_bad_pairs_tables(tmp_path, case):
    _, name, content, fragments = case
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CorpusError) as info:
        load_corpus(path)
    assert "\n" not in str(info.value)
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.parametrize("blank_at", [0, 1, 3])
def test_a_bad_row_has_the_same_number_in_csv_and_parquet(tmp_path, blank_at):
    """Data rows count from 1 without the header, whatever the format: the second data row is "data row 2"
    in a CSV (where it is line 3) and in a Parquet file (which has no header line)."""
    links = ["Arrakis", "Bath", "Moscow", "Paris"]
    links[blank_at] = ""
    frame = pd.DataFrame({"item": ["Dune", "Emma", "War and Peace", "Nana"], "link": links})
    frame.to_csv(tmp_path / "p.csv", index=False)
    frame.to_parquet(tmp_path / "p.parquet", index=False)
    for name in ("p.csv", "p.parquet"):
        with pytest.raises(CorpusError) as info:
            load_corpus(tmp_path / name)
        assert str(info.value).startswith(f"data row {blank_at + 1} of {name}: "), str(info.value)


def test_metadata_table_without_an_item_column(tmp_path):
    path = tmp_path / "meta.csv"
    pd.DataFrame({"writer": ["x"], "genre": ["y"]}).to_csv(path, index=False)
    with pytest.raises(CorpusError, match=r"meta\.csv: no item column"):
        read_metadata_table(path, ["Dune"])


def test_missing_metadata_table(tmp_path):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("item,link\n" + "".join(f"Book {i},shared\n" for i in range(5)), encoding="utf-8")
    with pytest.raises(CorpusError, match="no such file"):
        load_corpus(pairs, metadata=tmp_path / "nope.csv")


# ---------------------------------------------------------------- through the CLI

CLI_CASES = ["malformed-json", "object", "short-list", "title-number", "wikilinks-string", "empty", "binary"]


@pytest.mark.parametrize("case", [c for c in NDJSON_CASES if c[0] in CLI_CASES], ids=CLI_CASES)
def test_cli_bad_records(tmp_path, case):
    _, name, content, fragments = case
    (tmp_path / name).write_bytes(content)
    proc = run_cli("train", "--data", name, "--out", tmp_path / "models" / "m", "-q", cwd=tmp_path)
    assert proc.returncode == 1
    assert_one_line_error(proc, *fragments)
    assert not (tmp_path / "models").exists(), "nothing is written for bad input"


def test_cli_truncated_gzip(tmp_path):
    path = truncated_gzip(tmp_path)
    proc = run_cli("train", "--data", path, "--out", tmp_path / "m", "-q", cwd=tmp_path)
    assert_one_line_error(proc, "cut.ndjson.gz", "truncated gzip")


def test_cli_nothing_left_to_train_on(tmp_path):
    write_ndjson(tmp_path / "thin.ndjson", [record(f"Book {i}", [f"link {i}"]) for i in range(6)])
    proc = run_cli("train", "--data", "thin.ndjson", "--out", tmp_path / "m", "-q", cwd=tmp_path)
    assert_one_line_error(proc, "thin.ndjson", "nothing left to train on")
    assert not (tmp_path / "m").exists()


def test_cli_bad_pairs_table(tmp_path):
    (tmp_path / "p.csv").write_bytes(b"item,link\nDune,Arrakis\nDune,\n")
    proc = run_cli("train", "--data", "p.csv", "--out", tmp_path / "m", "-q", cwd=tmp_path)
    assert_one_line_error(proc, "data row 2 of p.csv")


def test_cli_missing_data_file(tmp_path):
    proc = run_cli("train", "--data", "nowhere.ndjson", "--out", tmp_path / "m", "-q", cwd=tmp_path)
    assert_one_line_error(proc, "nowhere.ndjson", "no such file")


def test_cli_unwritable_output_fails_cleanly_before_training(tiny_path, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    proc = run_cli("train", "--data", tiny_path, "--out", blocker / "models" / "m", "--epochs", "1", "-q", cwd=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("bookembed: error:") and "a_file" in last
    assert "saved" not in proc.stdout


def test_cli_checks_the_output_location_before_training(tiny_path, tmp_path, monkeypatch, capsys):
    from bookembed import cli, pipeline

    def must_not_train(*args, **kwargs):
        raise AssertionError("trained before checking the output location")

    monkeypatch.setattr(pipeline, "train", must_not_train)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert cli.main(["train", "--data", str(tiny_path), "--out", str(blocker / "m" / "n"), "-q"]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("bookembed: error:")


def test_cli_skip_bad_lines(tiny_path, tmp_path):
    lines = tiny_path.read_text(encoding="utf-8").splitlines()
    lines.insert(2, "{oops")
    lines.insert(6, json.dumps(["only", "three", "fields"]))
    data = tmp_path / "few_bad.ndjson"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "models" / "few_bad"

    refused = run_cli("train", "--data", data.name, "--out", out, "-q", cwd=tmp_path)
    assert_one_line_error(refused, "line 3 of few_bad.ndjson")

    proc = run_cli("train", "--data", data.name, "--out", out, "--skip-bad-lines", "--epochs", "2", "--dim", "4",
                   "--batch-size", "16", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "skipped 2 bad line(s) of few_bad.ndjson: lines 3, 7" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (out / "manifest.json").is_file()
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["books"] == 12
    assert any("skipped 2 bad line(s)" in line for line in manifest["data"]["report"])


def test_errors_share_one_base_class():
    assert issubclass(CorpusError, BookembedError)


# ---------------------------------------------------------------- deeply nested JSON


def test_deeply_nested_json_names_the_file_and_line(tmp_path):
    # 100,000 "[" overflow a recursive parser: one line naming the file and the line, not a RecursionError
    (tmp_path / "deep.ndjson").write_bytes(good_with("[" * 100_000, at=3))
    with pytest.raises(CorpusError) as info:
        load_corpus(tmp_path / "deep.ndjson")
    message = str(info.value)
    assert "deep.ndjson" in message and "line 3" in message and "\n" not in message


def test_cli_deeply_nested_json_names_the_file_and_line(tmp_path):
    (tmp_path / "deep.ndjson").write_bytes(good_with("[" * 100_000, at=3))
    proc = run_cli("train", "--data", "deep.ndjson", "--out", tmp_path / "models" / "m", "-q", cwd=tmp_path)
    assert_one_line_error(proc, "deep.ndjson", "line 3")
    assert not (tmp_path / "models").exists()
