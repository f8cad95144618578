"""The full-dataset path end to end, on loopback: download a stand-in, train on it, query it.

The real file (37,020 books, 59 MB) cannot be reached from here, so a stand-in
with the same name and format (the 1,413 real records of p15) is served from
127.0.0.1, the way a user's ``bookembed download``
would fetch the real one.
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading

import pytest

from conftest import run_cli


@pytest.fixture
def dataset_server(tmp_path, real_path):
    root = tmp_path / "www"
    root.mkdir()
    shutil.copyfile(real_path, root / "found_books_filtered.ndjson")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/found_books_filtered.ndjson", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.slow
def test_download_then_train_then_neighbors(dataset_server, tmp_path, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    url, root = dataset_server
    work = tmp_path / "work"
    work.mkdir()
    done = run_cli("download", "--url", url, "-q", cwd=work)
    assert done.returncode == 0, done.stderr
    data = work / "data" / "found_books_filtered.ndjson"
    assert data.read_bytes() == (root / "found_books_filtered.ndjson").read_bytes()
    assert not (work / "data" / "found_books_filtered.ndjson.part").exists()

    trained = run_cli("train", "--data", str(data), "--epochs", "3", "-q", cwd=work)
    assert trained.returncode == 0, trained.stderr
    model = work / "models" / "found_books_filtered"  # the default --out for that file
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["counts"]["books"] > 1300
    assert manifest["data"]["source"].endswith("found_books_filtered.ndjson")

    query = run_cli("neighbors", "The History of The Hobbit", "--model", str(model), "-k", "5", "--json", cwd=work)
    assert query.returncode == 0, query.stderr
    results = json.loads(query.stdout)["results"]
    assert len(results) == 5 and "The History of The Hobbit" not in [r["title"] for r in results]
