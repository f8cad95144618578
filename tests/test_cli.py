"""The ``bookembed`` command line, run as a subprocess in a temporary directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import TINY_BOOKS, WAIT_CEILING_S, assert_one_line_error, make_fake_model, run_cli, write_ndjson

from bookembed import __version__
from bookembed.cli import _default_out
from bookembed.evaluate import evaluate, heldout_auc
from bookembed.neighbors import books_for_link, links_for_book, similar_books, similar_links, split_common
from bookembed.store import load_model_folder, read_manifest


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def trained(work):
    """A model folder trained by ``bookembed train`` (TensorFlow, a few seconds)."""
    write_ndjson(work / "tiny.ndjson", TINY_BOOKS)
    out = work / "models" / "tiny"
    proc = run_cli("train", "--data", "tiny.ndjson", "--out", out, "--epochs", "30", "--dim", "8", "--batch-size", "16",
                   "--heldout-share", "0.1", "--seed", "1", "-q", cwd=work)
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_train(trained):
    out, proc = trained
    assert f"saved {out}" in proc.stdout
    assert "held-out AUC" in proc.stdout and "genre purity@10" in proc.stdout
    assert "Traceback" not in proc.stderr
    assert "corpus: 12 books" in proc.stderr and "dropped 1 record(s)" in proc.stderr
    manifest = read_manifest(out)
    assert manifest["config"]["epochs"] == 30 and manifest["config"]["dim"] == 8 and manifest["seed"] == 1
    assert manifest["config"]["task"] == "regression" and manifest["config"]["heldout_share"] == 0.1
    assert manifest["counts"]["books"] == 12 and manifest["counts"]["heldout_pairs"] > 0
    assert manifest["data"]["source"] == "tiny.ndjson" and manifest["data"]["cleaning"]["min_link_count"] == 4
    assert "model.keras" in manifest["files"]
    model = load_model_folder(out)
    assert model.load_keras() is not None
    # the stored AUC is the held-out AUC of the stored vectors, recomputed with the stored mask and seed
    assert model.heldout.sum() == manifest["counts"]["heldout_pairs"] == manifest["metrics"]["heldout_pairs"] > 0
    recomputed = heldout_auc(model.book_vectors, model.link_vectors, model.pair_books, model.pair_links,
                             model.heldout, seed=manifest["seed"])
    assert manifest["metrics"]["auc"] == pytest.approx(recomputed, abs=1e-12)


def test_train_a_pairs_table_with_metadata_classification(work):
    pairs = pd.DataFrame([(r[0], link) for r in TINY_BOOKS for link in r[2]], columns=["item", "link"])
    pairs.to_csv(work / "pairs.csv", index=False)
    pd.DataFrame({"item": ["The Hobbit", "Dune"], "author": ["[[J. R. R. Tolkien]]", "Frank Herbert"],
                  "genre": ["Fantasy novel", "Science fiction"], "year": ["1937", "1965"]}).to_csv(
        work / "meta.csv", index=False)
    out = work / "models" / "pairs"
    proc = run_cli("train", "--data", "pairs.csv", "--metadata", "meta.csv", "--out", out, "--task", "classification",
                   "--epochs", "2", "--dim", "4", "--batch-size", "16", "-q", cwd=work)
    assert proc.returncode == 0, proc.stderr
    model = load_model_folder(out)
    assert model.n_books == 12 and model.manifest["config"]["task"] == "classification"
    hobbit = model.books.set_index("title").loc["The Hobbit"]
    assert hobbit["author"] == "J. R. R. Tolkien" and hobbit["year"] == 1937 and hobbit["primary_genre"] == "fantasy"
    assert model.load_keras().get_layer("output").get_weights()[0].shape == (1, 1)


def test_default_out():
    assert _default_out("demo") == Path("models") / "demo"
    assert _default_out("data/found_books_filtered.ndjson.gz") == Path("models") / "found_books_filtered"
    assert _default_out("pairs.csv") == Path("models") / "pairs"


def test_bad_training_settings(work):
    proc = run_cli("train", "--data", "tiny.ndjson", "--out", work / "never", "--dim", "0", cwd=work)
    assert_one_line_error(proc, "dim must be at least 1")
    assert not (work / "never").exists()


# ---------------------------------------------------------------- neighbors


def neighbors_json(model_dir, *args, cwd):
    proc = run_cli("neighbors", *args, "--model", model_dir, "--json", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_neighbors_text(trained, work):
    out, _ = trained
    proc = run_cli("neighbors", "The Two Towers", "--model", out, "-k", "4", cwd=work)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "most similar — books like a book: The Two Towers"
    assert len(lines) == 5
    expected = similar_books(load_model_folder(out), "The Two Towers", k=4)
    for i, (line, title) in enumerate(zip(lines[1:], expected["title"]), 1):
        assert line.lstrip().startswith(f"{i}.") and title in line
    assert "shares:" in lines[1] and "J. R. R. Tolkien" in lines[1]


def test_neighbors_json_matches_the_library(trained, work):
    out, _ = trained
    data = neighbors_json(out, "War and Peace", "-k", "5", cwd=work)
    assert data["query"] == ["War and Peace"] and data["kind"] == "books like a book" and data["least"] is False
    model = load_model_folder(out)
    frame = similar_books(model, "War and Peace", k=5)
    rows = data["results"]
    assert [r["title"] for r in rows] == frame["title"].tolist()
    # the library's ranking, rarest first, with the common links given apart
    assert [(r["shared_links"], r["common_links"]) for r in rows] == [split_common(model, list(s))
                                                                      for s in frame["shared_links"]]
    for row, shared in zip(rows, frame["shared_links"]):
        assert list(shared)[: len(row["shared_links"])] == row["shared_links"]
        assert set(shared) == set(row["shared_links"]) | set(row["common_links"])
    assert [r["rank"] for r in rows] == [1, 2, 3, 4, 5]
    assert all(isinstance(r["year"], int) for r in rows)
    assert rows[0]["similarity"] == pytest.approx(frame["similarity"][0], abs=1e-6)


@pytest.mark.parametrize(
    "args, kind, func",
    [
        (["J. R. R. Tolkien", "--link-links"], "links like a link", lambda m: similar_links(m, "j. r. r. tolkien", 5)),
        (["Isaac Asimov", "--link-books"], "books for a link", lambda m: books_for_link(m, "isaac asimov", 5)),
        (["I, Robot", "--links"], "links for a book", lambda m: links_for_book(m, "I, Robot", 5)),
        (["The Hobbit", "--least"], "books like a book",
         lambda m: similar_books(m, "The Hobbit", 5, least=True)),
        (["The Hobbit", "Anna Karenina"], "books like these books",
         lambda m: similar_books(m, ["The Hobbit", "Anna Karenina"], 5)),
        (["The Hobbit", "--genre", "science fiction"], "books like a book",
         lambda m: similar_books(m, "The Hobbit", 5, genre="science fiction")),
    ],
    ids=["link-links", "link-books", "links", "least", "several", "genre"],
)
def test_neighbors_modes(trained, work, args, kind, func):
    out, _ = trained
    data = neighbors_json(out, *args, "-k", "5", cwd=work)
    assert data["kind"] == kind
    frame = func(load_model_folder(out))
    name = "title" if "title" in frame.columns else "link"
    assert [r[name] for r in data["results"]] == frame[name].tolist()
    assert len(data["results"]) == len(frame) > 0


def test_neighbors_json_years_are_whole_numbers_or_null(tmp_path):
    path = make_fake_model(tmp_path / "fake")
    books = pd.read_parquet(path / "books.parquet")
    books["year"] = pd.array([None if i % 2 else 1900 + i for i in range(len(books))], dtype="Int64")
    books.to_parquet(path / "books.parquet", index=False)
    # a deliberate edit: record the file's new SHA-256 and size, as a save would (loading checks them)
    import hashlib

    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    data = (path / "books.parquet").read_bytes()
    manifest["checksums"]["books.parquet"] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    data = neighbors_json(path, "Book 12", "-k", "20", cwd=tmp_path)
    years = [r["year"] for r in data["results"]]
    assert None in years and any(isinstance(y, int) for y in years)
    assert all(y is None or (isinstance(y, int) and 1900 <= y < 2000) for y in years)
    text = run_cli("neighbors", "Book 12", "-k", "20", "--model", path, cwd=tmp_path).stdout
    assert ".0)" not in text and "<NA>" not in text and "nan" not in text


def test_neighbors_keeps_odd_titles_as_text(fake_model, tmp_path):
    data = neighbors_json(fake_model, "<b>Bold</b> & <script>alert(1)</script>", "-k", "59", cwd=tmp_path)
    titles = {r["title"] for r in data["results"]}
    assert {"Война и мир", "红楼梦", "Emoji 📚 book", "Tab\there"} <= titles


def test_unknown_title(trained, work):
    out, _ = trained
    proc = run_cli("neighbors", "war and pease", "-k", "2", "--model", out, cwd=work)  # one clear match: taken
    assert proc.returncode == 0 and proc.stderr.strip() == "bookembed: 'war and pease' taken as 'War and Peace'"
    assert proc.stdout.startswith("most similar — books like a book: War and Peace\n")
    proc = run_cli("neighbors", "wor und pice", "--model", out, cwd=work)  # too far to take, close enough to offer
    assert_one_line_error(proc, "no book named 'wor und pice'", "did you mean", "War and Peace")
    proc = run_cli("neighbors", "the", "--model", out, cwd=work)  # several books fit
    assert_one_line_error(proc, "'the' could be", "'The Hobbit'", "give the full title")


def test_accent_and_case_insensitive_query(tmp_path):
    path = make_fake_model(tmp_path / "fake")
    proc = run_cli("neighbors", "ВОЙНА И МИР", "--model", path, "-k", "2", cwd=tmp_path)
    assert proc.returncode == 0 and "books like a book: Война и мир" in proc.stdout
    assert proc.stderr.strip() == "bookembed: 'ВОЙНА И МИР' taken as 'Война и мир'"


@pytest.mark.parametrize("combine", ["mean", "min", "rrf"])
def test_several_books_combined_with_a_column_each(tmp_path, combine):
    path = make_fake_model(tmp_path / "fake")
    query = ["Book 12", "book 30", "Война и мир"]
    data = neighbors_json(path, *query, "--combine", combine, "-k", "6", cwd=tmp_path)
    assert data["books"] == ["Book 12", "Book 30", "Война и мир"] and data["combine"] == combine
    model = load_model_folder(path)
    frame = similar_books(model, data["books"], 6, combine=combine)
    rows = data["results"]
    assert [r["title"] for r in rows] == frame["title"].tolist()
    for row, (_, expected) in zip(rows, frame.iterrows()):
        assert row["similarity_to"] == pytest.approx([expected[f"similarity_{j}"] for j in (1, 2, 3)], abs=1e-6)
    text = run_cli("neighbors", *query, "--combine", combine, "-k", "6", "--model", path, cwd=tmp_path).stdout
    assert f"(combined by {combine})" in text.splitlines()[0]
    assert "[1] Book 12  [2] Book 30  [3] Война и мир" in text.splitlines()[1]
    assert all("to each: [1] " in line for line in text.splitlines()[2:])


def test_several_queries_only_for_books(trained, work):
    out, _ = trained
    proc = run_cli("neighbors", "isaac asimov", "j. r. r. tolkien", "--link-links", "--model", out, cwd=work)
    assert_one_line_error(proc, "several queries")


def test_missing_and_damaged_model(tmp_path):
    proc = run_cli("neighbors", "Emma", cwd=tmp_path)  # default --model models/demo, absent here
    assert_one_line_error(proc, "models/demo", "no such model folder")
    broken = make_fake_model(tmp_path / "broken")
    (broken / "link_vectors.npy").unlink()
    for command in (["neighbors", "Emma"], ["evaluate"], ["info"]):
        proc = run_cli(*command, "--model", broken, cwd=tmp_path)
        assert_one_line_error(proc, str(broken), "link_vectors.npy")


# ---------------------------------------------------------------- evaluate, info


def test_evaluate_json(trained, work):
    out, _ = trained
    proc = run_cli("evaluate", "--model", out, "--json", cwd=work)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    model = load_model_folder(out)
    expected = evaluate(model, seed=model.manifest["seed"])
    assert data["model"] == str(out)
    assert data["auc"] == pytest.approx(expected["auc"]) and 0 <= data["auc"] <= 1
    assert data["heldout_pairs"] == expected["heldout_pairs"] == int(model.heldout.sum())
    assert data["genre_purity"] == pytest.approx(expected["genre_purity"])


def test_evaluate_text_and_write(fake_model, tmp_path):
    before = read_manifest(fake_model)["metrics"]
    proc = run_cli("evaluate", "--model", fake_model, "--write", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "held-out AUC" in proc.stdout and "genre purity@10" in proc.stdout
    after = read_manifest(fake_model)["metrics"]
    expected = evaluate(load_model_folder(fake_model), seed=0)
    assert after["auc"] == pytest.approx(expected["auc"]) and after["auc"] != before["auc"]
    assert after["heldout_pairs"] == expected["heldout_pairs"]


def test_info(trained, work):
    out, _ = trained
    proc = run_cli("info", "--model", out, "--json", cwd=work)
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == read_manifest(out)
    text = run_cli("info", "--model", out, cwd=work)
    assert text.returncode == 0
    assert f"model: {out}" in text.stdout and '"books": 12' in text.stdout and "tiny.ndjson" in text.stdout


# ---------------------------------------------------------------- usage and entry points


@pytest.mark.parametrize("args", [[], ["neighbors"], ["neighbors", "Emma", "-k", "0"], ["train"], ["frobnicate"],
                                  ["neighbors", "A", "B", "--combine", "max"],
                                  ["train", "--data", "x", "--task", "ranking"]])
def test_usage_errors_exit_2(tmp_path, args):
    proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 2
    assert "usage: bookembed" in proc.stderr and "Traceback" not in proc.stderr


def test_version_and_help(tmp_path):
    proc = run_cli("--version", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == f"bookembed {__version__}"
    helped = run_cli("--help", cwd=tmp_path)
    for command in ("train", "neighbors", "evaluate", "download", "info"):
        assert command in helped.stdout


def test_console_script(tmp_path):
    script = Path(sys.executable).with_name("bookembed")
    if not script.exists():
        pytest.skip("package not installed with its console script")
    proc = subprocess.run([str(script), "--version"], cwd=tmp_path, capture_output=True, text=True, timeout=WAIT_CEILING_S)
    assert proc.returncode == 0 and proc.stdout.strip() == f"bookembed {__version__}"


# ---------------------------------------------------------------- counts that must be positive


@pytest.mark.parametrize("args, option", [
    (["predict", "--top", "-5"], "--top"),
    (["predict", "--top", "0"], "--top"),
    (["neighbors", "Emma", "-k", "-1"], "-k"),
    (["compare", "a", "b", "-k", "0"], "-k"),
    (["compare", "a", "b", "--max-books", "0"], "--max-books"),
    (["compare", "a", "b", "--changed", "-1"], "--changed"),
    (["export", "--out", "x", "--shard-rows", "0"], "--shard-rows"),
    (["export", "--out", "x", "--sample", "-3"], "--sample"),
    (["clusters", "--examples", "0"], "--examples"),
    (["build-dataset", "--dump", "d", "--infobox", "book", "--out", "o", "--workers", "0"], "--workers"),
    (["predict", "--top", "many"], "--top"),
])
def test_counts_below_their_least_are_usage_errors(args, option, capsys, tmp_path, monkeypatch):
    from bookembed.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(args)
    err = capsys.readouterr()
    assert stop.value.code == 2 and err.out == ""
    assert f"error: argument {option}: " in err.err and args[-1] in err.err and "Traceback" not in err.err
    assert list(tmp_path.iterdir()) == []  # refused before anything ran


def test_counts_at_their_least_are_accepted():
    from bookembed.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["predict", "--top", "1"]).top == 1
    assert parser.parse_args(["neighbors", "Emma", "-k", "1"]).k == 1
    assert parser.parse_args(["compare", "a", "b", "--changed", "0"]).changed == 0  # 0: list none
    assert parser.parse_args(["build-dataset", "--dump", "d", "--infobox", "b", "--out", "o"]).workers is None


def test_neighbors_genre_no_book_has(tmp_path):
    path = make_fake_model(tmp_path / "fake")
    proc = run_cli("neighbors", "Book 12", "--genre", "nosuch", "--model", path, cwd=tmp_path)
    assert proc.returncode == 1 and proc.stdout == ""
    line = assert_one_line_error(proc, "no book has the genre 'nosuch'", "genres here include")
    genres = set(pd.read_parquet(path / "books.parquet")["primary_genre"])
    named = set(line.split("genres here include ", 1)[1].replace(" and ", ", ").replace("'", "").split(", "))
    assert named and named <= genres - {""}
    # a genre the model has still works, and gives only books of it
    data = neighbors_json(path, "Book 12", "--genre", "fantasy", "-k", "5", cwd=tmp_path)
    assert data["results"] and {r["genre"] for r in data["results"]} == {"fantasy"}
