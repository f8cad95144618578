"""The exported files, read by real clients: a TensorBoard server, and the Projector's own parsing rules.

TensorBoard is a test dependency only; these tests skip when it is not installed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from bookembed import export as ex
from bookembed import projector as pj
from bookembed.store import load_model_folder
from conftest import WAIT_CEILING_S

STARTUP_S = WAIT_CEILING_S  # TensorBoard's start (it imports TensorFlow) depends on the machine's load


def tsv_clean(text: str) -> str:
    # Tabs and every line break Python's str.splitlines knows (a superset of "\n" and "\r").
    return re.sub(r"[\t\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]", " ", text)


def add_views(model_dir: Path) -> dict[str, np.ndarray]:
    """A cached 2-D UMAP and a saved view on it, as the app's Map page writes them."""
    rng = np.random.default_rng(11)
    model = load_model_folder(model_dir)
    n = model.n_books
    coords = rng.normal(size=(n, 2)).astype(np.float32)
    folder = model_dir / "projections"
    folder.mkdir(exist_ok=True)
    np.save(folder / "umap-2d-test.npy", coords)
    (folder / "umap-2d-test.json").write_text(
        json.dumps({"key": "umap-2d-test", "method": "umap", "dims": 2, "params": {}, "n_books": n,
                    "created": "2024-01-01T00:00:00Z", "faithfulness": 0.5, "vectors": model.vectors_checksum}),
        encoding="utf-8",
    )
    views = {"views": [{"name": "Мой вид 📚", "projection": "umap-2d-test", "selected": [1, 3, 5], "query": None,
                        "color_by": "genre", "created": "2024-01-01T00:00:00Z"}]}
    (model_dir / "views.json").write_text(json.dumps(views, ensure_ascii=False), encoding="utf-8")
    return {"umap-2d-test": coords}


# ---------------------------------------------------------------- a real TensorBoard


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str, timeout: float = WAIT_CEILING_S) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.fixture
def tensorboard_server(tmp_path):
    """Start ``tensorboard --logdir`` on a free port; yields (logdir, base URL); always stopped."""
    pytest.importorskip("tensorboard")
    logdir = tmp_path / "logdir"
    logdir.mkdir()
    port = free_port()
    log = open(tmp_path / "tensorboard.log", "wb")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        yield logdir, f"http://127.0.0.1:{port}", proc, tmp_path / "tensorboard.log"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)
        log.close()


def wait_for_runs(base: str, proc, log_path: Path) -> list[str]:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"tensorboard exited with {proc.returncode}: {log_path.read_text(errors='replace')[-2000:]}")
        try:
            status, body = get(f"{base}/data/plugin/projector/runs", timeout=10)
            if status == 200 and json.loads(body):
                return json.loads(body)
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.5)
    tail = log_path.read_text(errors="replace")[-2000:]
    pytest.fail(f"tensorboard did not serve projector runs within {STARTUP_S}s: {tail}")


def test_tensorboard_serves_what_was_exported(fake_model, tensorboard_server):
    logdir, base, proc, log_path = tensorboard_server
    coords = add_views(fake_model)
    model = load_model_folder(fake_model)
    ex.export_tensorboard(model, logdir)

    runs = wait_for_runs(base, proc, log_path)
    assert runs == ["."]  # the log directory itself: no checkpoint, no event files
    status, body = get(f"{base}/data/plugin/projector/info?run=.")
    assert status == 200, body
    config = json.loads(body)
    embeddings = {e["tensorName"]: e for e in config["embeddings"]}
    assert set(embeddings) == {"books", "links"}

    expected = {
        "books": (model.book_vectors, [tsv_clean(t) for t in model.titles]),
        "links": (model.link_vectors, list(model.links)),
    }
    for name, (vectors, labels) in expected.items():
        shape = [int(s) for s in embeddings[name]["tensorShape"]]
        assert shape == list(vectors.shape)
        # What the Projector front end asks for: at most 100,000 rows.
        status, body = get(f"{base}/data/plugin/projector/tensor?run=.&name={name}&num_rows=100000")
        assert status == 200, body
        served = np.frombuffer(body, dtype=np.float32).reshape(shape)
        assert served.view(np.uint32).tolist() == vectors.view(np.uint32).tolist()  # bit for bit

        status, body = get(f"{base}/data/plugin/projector/metadata?run=.&name={name}&num_rows=100000")
        assert status == 200, body
        local = (logdir / name / "metadata.tsv").read_bytes()
        assert body == local
        lines = body.decode("utf-8").split("\n")
        assert lines[-1] == ""
        header, rows = lines[0].split("\t"), [line.split("\t") for line in lines[1:-1]]
        assert len(rows) == shape[0] and all(len(r) == len(header) for r in rows)
        assert [r[0] for r in rows] == labels

    status, body = get(f"{base}/data/plugin/projector/bookmarks?run=.&name=books")
    assert status == 200, body
    (state,) = json.loads(body)
    assert state["label"] == "Мой вид 📚" and state["selectedPoints"] == [1, 3, 5]
    served = np.array([[p["umap-0"], p["umap-1"]] for p in state["projections"]], dtype=np.float32)
    np.testing.assert_array_equal(served, coords["umap-2d-test"])

    # The projector plugin refuses paths outside the config's folder; ours are inside.
    assert b"resolves outside" not in log_path.read_bytes()


CHROMIUM = "/usr/bin/chromium"
DEEP = (
    "const deep = (root, sel) => { const f = root.querySelector(sel); if (f) return f;"
    " for (const el of root.querySelectorAll('*')) { if (el.shadowRoot) { const r = deep(el.shadowRoot, sel);"
    " if (r) return r; } } return null; }; const p = deep(document, 'vz-projector');"
)


@pytest.mark.browser
def test_projector_ui_loads_data_and_every_bookmark(fake_model, tensorboard_server):
    """TensorBoard's own Projector page, in headless Chromium: the metadata it parsed, and each bookmark applied."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no {CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api")
    logdir, base, proc, log_path = tensorboard_server
    folder = fake_model / "projections"
    folder.mkdir()
    rng = np.random.default_rng(5)
    views = []
    for key, method, dims in (("umap-2d-k", "umap", 2), ("tsne-3d-k", "tsne", 3), ("pca-2d-k", "pca", 2)):
        np.save(folder / f"{key}.npy", rng.normal(size=(60, dims)).astype(np.float32))
        info = {"key": key, "method": method, "dims": dims, "params": {}, "n_books": 60}
        (folder / f"{key}.json").write_text(json.dumps(info))
        views.append({"name": f"{method} view", "projection": key, "selected": [dims, 7], "color_by": "genre"})
    views.append({"name": "no projection", "projection": None, "selected": [4, 5], "color_by": "country"})
    (fake_model / "views.json").write_text(json.dumps({"views": views}), encoding="utf-8")
    model = load_model_folder(fake_model)
    ex.export_tensorboard(model, logdir)
    states = json.loads((logdir / "books" / "bookmarks.json").read_bytes())
    wait_for_runs(base, proc, log_path)

    with sync_api.sync_playwright() as pw:
        # Software WebGL: the Projector draws with three.js and stops without it.
        args = ["--no-sandbox", "--use-angle=swiftshader", "--ignore-gpu-blocklist", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            page = browser.new_page()
            page.set_default_timeout(WAIT_CEILING_S * 1000)
            errors = []
            page.on("pageerror", lambda err: errors.append(str(err)))
            page.goto(f"{base}/data/plugin/projector/projector_binary.html")
            ready = (
                "() => { " + DEEP + " const b = p && p.bookmarkPanel; return p && p.dataSet && b && b.savedStates"
                " ? [p.dataSet.points.length, b.savedStates.length] : null }"
            )
            page.wait_for_function(ready)
            n_points, n_states = page.evaluate(ready)
            assert (n_points, n_states) == (model.n_books, len(views))
            titles = page.evaluate("() => { " + DEEP + " return p.dataSet.points.map(q => q.metadata.title) }")
            assert titles == [tsv_clean(t) for t in model.titles]  # parsed by the Projector itself
            for i, state in enumerate(states):
                got = page.evaluate(
                    "(i) => { " + DEEP + """ p.bookmarkPanel.loadSavedState(i);
                    const c = p.projection.projectionComponents.filter(x => x != null);
                    return {type: p.projection.projectionType, components: c, selected: p.selectedPointIndices,
                            coords: p.dataSet.points.map(q => c.map(k => q.projections[k]))}; }""",
                    i,
                )
                assert got["type"] == state["selectedProjection"], state["label"]
                assert got["selected"] == state["selectedPoints"]
                expected = [[point[k] for k in got["components"]] for point in state["projections"]]
                if state["selectedProjection"] != "tsne":  # t-SNE goes on optimising from the stored map
                    np.testing.assert_allclose(np.array(got["coords"], dtype=float), np.array(expected), rtol=1e-6)
                assert np.isfinite(np.array(got["coords"], dtype=float)).all()
                # the Projector has drawn the loaded state (two animation frames) before the next one is loaded
                page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
            assert errors == []
        finally:
            browser.close()


def test_pbtxt_parses_as_a_projector_config(fake_model, tmp_path):
    pytest.importorskip("tensorboard")
    from google.protobuf import text_format
    from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

    add_views(fake_model)
    model = load_model_folder(fake_model)
    logdir = tmp_path / "logs"
    ex.export_tensorboard(model, logdir, ids=[4, 2], what="books")
    config = text_format.Parse((logdir / "projector_config.pbtxt").read_text(encoding="utf-8"), ProjectorConfig())
    assert not config.model_checkpoint_path
    shapes = {e.tensor_name: list(e.tensor_shape) for e in config.embeddings}
    assert shapes == {"books": [2, model.dim], "links": [model.n_links, model.dim]}
    for e in config.embeddings:
        for rel in filter(None, (e.tensor_path, e.metadata_path, e.bookmarks_path)):
            path = os.path.realpath(os.path.join(os.path.realpath(logdir), rel))
            assert os.path.commonpath([os.path.realpath(logdir), path]) == os.path.realpath(logdir)
            assert os.path.isfile(path)


# ---------------------------------------------------------------- the standalone Projector's parser


# What JavaScript's String.prototype.trim() removes.
JS_WHITESPACE = "\t\n\x0b\x0c\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
JS_WHITESPACE += "\u2028\u2029\u202f\u205f\u3000\ufeff"


def js_trim(text: str) -> str:
    return text.strip(JS_WHITESPACE)


def js_is_nan(text: str) -> bool:
    """JavaScript's isNaN(string) for the strings a TSV can hold (Number('') is 0)."""
    text = js_trim(text)
    if text == "":
        return False
    if text in ("Infinity", "+Infinity", "-Infinity"):
        return False
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
        return True
    return False


def projector_parse_tensors(data: bytes) -> list[dict]:
    """parseTensors of vz_projector/data-provider.ts: one point per non-blank line."""
    points, num_dim = [], None
    for line in data.decode("utf-8").split("\n"):
        line = js_trim(line)
        if line == "":
            continue
        row = line.split("\t")
        point = {"metadata": {}, "index": len(points)}
        if js_is_nan(row[0]) or num_dim == len(row) - 1:
            point["metadata"]["label"] = row[0]
            point["vector"] = np.array([float(v) for v in row[1:]], dtype=np.float32)
        else:
            point["vector"] = np.array([float(v) for v in row], dtype=np.float32)
        points.append(point)
        if num_dim is None:
            num_dim = len(point["vector"])
        if num_dim != len(point["vector"]):
            raise ValueError("Parsing failed. Vector dimensions do not match")
        if num_dim <= 1:
            raise ValueError("Parsing failed. Found a vector with only one dimension?")
    return points


def projector_parse_metadata(data: bytes) -> tuple[list[str], list[dict]]:
    """parseMetadata of vz_projector/data-provider.ts: (column names, one dict per point).

    Blank lines (after trim) are skipped; the first remaining line is a header
    exactly when it contains a tab; an empty value is missing (None).
    """
    points, columns, line_number = [], ["label"], 0
    for line in data.decode("utf-8").split("\n"):
        if len(js_trim(line)) == 0:
            continue
        if line_number == 0 and "\t" in line:
            columns = line.split("\t")
            line_number += 1
            continue
        line_number += 1
        values = line.split("\t")
        points.append({name: (values[i] or None) if i < len(values) else None for i, name in enumerate(columns)})
    return columns, points


def merge_metadata(points: list[dict], metadata: list[dict]) -> None:
    """DataSet.mergeMetadata: the metadata row count must equal the vector count."""
    if len(metadata) != len(points):
        raise ValueError(
            f"Number of tensors ({len(points)}) do not match the number of lines in metadata ({len(metadata)})."
        )


NASTY = {
    40: "",
    41: "   ",
    42: "\r",
    43: "\u3000",
    44: "tab\tand\nnewline\r\nand CRLF",
    45: "\tleading tab",
    46: "a\u2028b",
}


def nasty_model(path: Path):
    """The fake model (tabs, newlines, quotes, leading spaces, <script>, =1+1, emoji,
    Cyrillic, Chinese) with blank and whitespace-only titles added."""
    model = load_model_folder(path)
    books = model.books.copy()
    for i, title in NASTY.items():
        books.loc[i, "title"] = title
    books.loc[47, "author"] = ""
    books.loc[48, "publisher"] = "x\ty"
    model = dataclasses.replace(model, books=books)
    return model


def test_projector_parser_reads_one_row_per_vector(fake_model):
    model = nasty_model(fake_model)
    files = pj.projector_files(model)
    points = projector_parse_tensors(files["vectors.tsv"])
    assert len(points) == model.n_books
    assert all("label" not in p["metadata"] for p in points)  # no label column taken from the vectors
    assert np.array_equal(np.stack([p["vector"] for p in points]), model.book_vectors)

    columns, metadata = projector_parse_metadata(files["metadata.tsv"])
    merge_metadata(points, metadata)
    assert columns[:1] == ["title"] and {"author", "genre", "year", "country", "publisher"} <= set(columns)
    titles = model.books["title"].tolist()
    for i, row in enumerate(metadata):
        expected = tsv_clean(titles[i])
        assert row["title"] == (pj.PLACEHOLDER if not js_trim(expected) else expected)
    for i in range(10):  # the fake model's special titles, verbatim apart from tabs and line breaks
        assert metadata[i]["title"] == tsv_clean(titles[i])
    assert metadata[47]["author"] is None  # an empty value is a missing value, not a shifted row
    assert metadata[48]["publisher"] == "x y"
    assert [m["year"] for m in metadata] == [str(y) for y in model.books["year"]]


def test_projector_parser_single_column(fake_model):
    model = nasty_model(fake_model)
    files = pj.projector_files(model, columns=["title"])
    columns, metadata = projector_parse_metadata(files["metadata.tsv"])
    assert columns == ["label"]  # no header row
    merge_metadata(projector_parse_tensors(files["vectors.tsv"]), metadata)
    titles = model.books["title"].tolist()
    assert metadata[0]["label"] == titles[0]
    for i, row in enumerate(metadata):
        expected = tsv_clean(titles[i])
        assert row["label"] == (pj.PLACEHOLDER if not js_trim(expected) else expected)


def test_projector_parser_links(fake_model):
    model = load_model_folder(fake_model)
    files = pj.projector_files(model, "links")
    points = projector_parse_tensors(files["vectors.tsv"])
    columns, metadata = projector_parse_metadata(files["metadata.tsv"])
    merge_metadata(points, metadata)
    assert columns == ["link", "books"]
    assert [m["books"] for m in metadata] == [str(c) for c in model.link_counts]


def test_the_parser_catches_a_naive_writer(fake_model):
    """The rules have teeth: written without cleaning, the same titles break the row count."""
    model = nasty_model(fake_model)
    naive = "".join(t + "\n" for t in model.books["title"]).encode("utf-8")
    points = projector_parse_tensors(pj.projector_files(model)["vectors.tsv"])
    with pytest.raises(ValueError, match="do not match"):
        merge_metadata(points, projector_parse_metadata(naive)[1])
