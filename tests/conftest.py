"""Shared fixtures: tiny hand-written records, real records, and small model folders."""

from __future__ import annotations

import inspect
import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]

# One ceiling for every wait on work whose length depends on the machine's load: a server or
# a cluster starting, a page drawing a map, a child process finishing, an AppTest script run.
# Tests wait for the event itself (a health URL answering, a selector appearing, a process
# exiting) and only give up after this long, so a slow machine is slower but never fails;
# on a quiet one none of these waits comes near it. It is a ceiling, never a sleep.
# BOOKEMBED_WAIT_CEILING_S lowers it where a wait that never ends is the expected failure (the
# mutation tests: a planted fault that stops an event from coming should fail in a minute, not ten).
WAIT_CEILING_S = float(os.environ.get("BOOKEMBED_WAIT_CEILING_S", "600"))
# pytest-timeout's limit for a whole `system` test: a few ceilings (a module's server start
# and the test's own waits). The rest keep the default from pyproject.toml's addopts.
SYSTEM_TEST_CEILING_S = 3 * WAIT_CEILING_S
SHARED_DATA = ROOT.parent / "shared" / "data"
P15 = SHARED_DATA / "p15_books.ndjson"
BOOK_INFO = SHARED_DATA / "book_info.tsv"


def record(title, links, **infobox):
    """One Wikipedia-books record as a JSON list."""
    return [title, infobox, list(links), [], "2018-09-01T00:00:00Z", 1000]


# Three clusters of books that share links within the cluster: Russian
# realism, Tolkien, Asimov. Every link is used by at least 4 books, so the
# seed's min_link_count=4 keeps them.
RUSSIAN = ["Leo Tolstoy", "Russian literature", "Russian Empire", "Realism (arts)", "Moscow", "Category:Russian novels"]
TOLKIEN = ["J. R. R. Tolkien", "Middle-earth", "High fantasy", "Allen & Unwin", "Hobbit", "Category:Fantasy novels"]
ASIMOV = ["Isaac Asimov", "Foundation series", "Galactic Empire", "Gnome Press", "Psychohistory", "Category:Science fiction novels"]

TINY_BOOKS = [
    record("War and Peace", RUSSIAN + ["Napoleonic Wars", "Hardcover"], author="[[Leo Tolstoy]]", genre="Historical novel",
           country="Russia", language="Russian", pub_date="1869 < ref name=x/ >", pages="1,225"),
    record("Anna Karenina", RUSSIAN + ["Paperback"], author="Leo Tolstoy", genre="Realist novel", country="Russia",
           pub_date="1878", publisher="The Russian Messenger"),
    record("Resurrection (novel)", RUSSIAN[:5], author="Leo Tolstoy", genre="Philosophical novel", release_date="1899"),
    record("The Death of Ivan Ilyich", RUSSIAN[:4] + ["Category:Russian novels"], author="Leo Tolstoy", genre="Novella",
           published="1886"),
    record("The Fellowship of the Ring", TOLKIEN, author="J. R. R. Tolkien", genre="Fantasy < br > High fantasy",
           publisher="Allen & Unwin", pub_date="29 July 1954"),
    record("The Two Towers", TOLKIEN, author="J. R. R. Tolkien", genre="Fantasy novel", pub_date="1954"),
    record("The Return of the King", TOLKIEN[:5], author="J. R. R. Tolkien", genre="Fantasy", pub_date="1955"),
    record("The Hobbit", TOLKIEN[:4] + ["Category:Fantasy novels", "e-book"], author="J. R. R. Tolkien",
           genre="''Children's fantasy''", pub_date="1937"),
    record("Foundation (Asimov novel)", ASIMOV, author="Isaac Asimov", genre="Science fiction", pub_date="1951"),
    record("Foundation and Empire", ASIMOV, author="Isaac Asimov", genre="Science fiction", pub_date="1952"),
    record("Second Foundation", ASIMOV[:5], author="Isaac Asimov", genre="Sci-fi", pub_date="1953"),
    record("I, Robot", ASIMOV[:4] + ["Category:Science fiction novels"], author="Isaac Asimov",
           genre="Science fiction", pub_date="1950"),
    record("Wikipedia:Sandbox", RUSSIAN, author="nobody"),
]


def write_ndjson(path: Path, rows) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


@pytest.fixture
def tiny_path(tmp_path) -> Path:
    """A 13-record NDJSON file (12 books and one Wikipedia: page)."""
    return write_ndjson(tmp_path / "tiny.ndjson", TINY_BOOKS)


@pytest.fixture(scope="session")
def real_path() -> Path:
    if not P15.is_file():
        pytest.skip(f"real records not found at {P15}")
    return P15


def make_fake_model(path: Path, n_books: int = 60, n_links: int = 40, dim: int = 8, seed: int = 0) -> Path:
    """A model folder with random vectors and made-up books, written without TensorFlow.

    Titles include characters that must stay text: markup, tabs, quotes,
    Cyrillic, Chinese and emoji.
    """
    from bookembed.graph import LinkGraph
    from bookembed.store import SaveInputs, save_model_folder

    rng = np.random.default_rng(seed)
    special = ["<b>Bold</b> & <script>alert(1)</script>", "Tab\there", "=1+1", "Война и мир", "红楼梦",
               "Emoji 📚 book", '"Quoted"', "  Leading spaces", "*Markdown* _title_", "Line\nbreak"]
    titles = [special[i] if i < len(special) else f"Book {i}" for i in range(n_books)]
    genres = ["fantasy", "science fiction", "historical novel", ""]
    books = pd.DataFrame(
        {
            "title": titles,
            "author": [f"Author {i % 7}" for i in range(n_books)],
            "genre": [genres[i % 4].title() for i in range(n_books)],
            "primary_genre": [genres[i % 4] for i in range(n_books)],
            "country": ["United Kingdom" if i % 2 else "Russia" for i in range(n_books)],
            "language": ["English"] * n_books,
            "publisher": [f"Publisher {i % 3}" for i in range(n_books)],
            "year": pd.array([1800 + i for i in range(n_books)], dtype="Int64"),
            "pages": pd.array([None if i % 5 == 0 else 100 + i for i in range(n_books)], dtype="Int64"),
        }
    )
    pair_books, pair_links = [], []
    for b in range(n_books):
        for link in sorted(rng.choice(n_links, size=5, replace=False)):
            pair_books.append(b)
            pair_links.append(int(link))
    pair_books = np.array(pair_books, dtype=np.int32)
    pair_links = np.array(pair_links, dtype=np.int32)
    books["n_links"] = np.bincount(pair_books, minlength=n_books)
    links = tuple(f"link {j}" for j in range(n_links))
    heldout = np.zeros(len(pair_books), dtype=bool)
    heldout[::10] = True
    return save_model_folder(
        path,
        SaveInputs(
            graph=LinkGraph(books=books, links=links, link_counts=np.bincount(pair_links, minlength=n_links).astype(np.int64),
                            pair_books=pair_books, pair_links=pair_links),
            heldout=heldout,
            book_vectors=rng.normal(size=(n_books, dim)).astype(np.float32),
            link_vectors=rng.normal(size=(n_links, dim)).astype(np.float32),
            config={"dim": dim, "seed": seed, "epochs": 1},
            data={"source": "fake", "checksum": "0" * 64, "cleaning": {}, "report": []},
            metrics={"auc": 0.5, "genre_purity": {"purity": 0.3, "chance": 0.25, "k": 10, "books": 45}},
            history={"epochs": [{"epoch": 1, "loss": 1.0, "seconds": 0.1, "examples_per_s": 1000.0}], "steps": []},
        ),
    )


def block_graph(seed=0, n_blocks=3, books_per_block=12, links_per_block=10, density=0.6):
    """Books link only inside their block: any factorisation should put a block's books together."""
    rng = np.random.default_rng(seed)
    books, links = [], []
    for block in range(n_blocks):
        grid = rng.random((books_per_block, links_per_block)) < density
        grid[:, 0] = True  # every book has a link
        b, l = np.nonzero(grid)
        books.append(b + block * books_per_block)
        links.append(l + block * links_per_block)
    pb, pl = np.concatenate(books).astype(np.int32), np.concatenate(links).astype(np.int32)
    labels = np.repeat([f"block {i}" for i in range(n_blocks)], books_per_block).tolist()
    return pb, pl, n_blocks * books_per_block, n_blocks * links_per_block, labels


@pytest.fixture
def fake_model(tmp_path) -> Path:
    """A small model folder (60 books, 40 links, dim 8) made without TensorFlow."""
    return make_fake_model(tmp_path / "models" / "fake")


@pytest.fixture(scope="session")
def tiny_trained_model(tmp_path_factory) -> Path:
    """A real model folder trained briefly (TensorFlow) on the tiny records."""
    from bookembed.pipeline import train_model_folder
    from bookembed.training import TrainConfig

    base = tmp_path_factory.mktemp("tiny_trained")
    data = write_ndjson(base / "tiny.ndjson", TINY_BOOKS)
    path, _, _ = train_model_folder(
        data, base / "models" / "tiny", TrainConfig(epochs=40, batch_size=16, dim=8, heldout_share=0.0, seed=1)
    )
    return path


def run_cli(*args, cwd, timeout: float = WAIT_CEILING_S):
    """Run ``python -m bookembed ARGS`` in ``cwd``; returns the CompletedProcess (text)."""
    import subprocess
    import sys

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONIOENCODING="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "bookembed", *map(str, args)],
        cwd=cwd, capture_output=True, text=True, encoding="utf-8", env=env, timeout=timeout,
    )


def assert_one_line_error(proc, *fragments: str) -> str:
    """A CLI failure: non-zero exit, stderr one ``bookembed: error:`` line naming ``fragments``."""
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("bookembed: error:"), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def pytest_sessionfinish(session, exitstatus):
    """Under CI (BOOKEMBED_NO_SKIPS=1) a skipped test is a failure: a missing browser,
    TensorBoard or data file must not pass unnoticed."""
    if os.environ.get("BOOKEMBED_NO_SKIPS") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(f"BOOKEMBED_NO_SKIPS=1 but {len(skipped)} test(s) were skipped:", red=True)
        for rep in skipped[:20]:
            reporter.write_line(f"  {rep.nodeid}: {rep.longrepr[-1] if isinstance(rep.longrepr, tuple) else rep.longrepr}")
        session.exitstatus = 1


# ---------------------------------------------------------------- test tiers
#
# `system`: the test starts a process (a `bookembed` child, a helper), a server (streamlit run,
# TensorBoard, an HTTP server), a browser or a Dask cluster. Everything else is the fast tier:
#     python -m pytest -m "not system and not slow"
# Most of the marking happens here, so a test added to one of these modules, or using one of
# these fixtures, or calling ``run_cli``, is in the right tier without anyone remembering to
# mark it; tests that start a process some other way carry ``@pytest.mark.system`` themselves.

# Modules whose every test drives a browser or a `bookembed` child process.
SYSTEM_MODULES = {"test_browser", "test_browser_explain", "test_cli"}
# Fixtures that start a server, a browser or a cluster (item.fixturenames includes the
# fixtures a fixture asks for, so a test that uses `page` gets `browser` too).
SYSTEM_FIXTURES = {"server", "browser", "serve", "mirror", "dataset_server", "tensorboard_server", "scheduler"}
# Calls in a test's own body that start a process, a server or a browser.
SYSTEM_CALLS = re.compile(r"\b(run_cli|subprocess\.\w+|build_dataset_in_subprocess|KerasFileWriter|LocalCluster"
                          r"|HTTPServer|ThreadingHTTPServer|sync_playwright|streamlit_server)\(")


def _starts_something(item) -> bool:
    if item.module.__name__ in SYSTEM_MODULES or SYSTEM_FIXTURES & set(item.fixturenames):
        return True
    try:
        source = inspect.getsource(item.function)
    except (OSError, TypeError):
        return False
    return bool(SYSTEM_CALLS.search(source))


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("system") is None and _starts_something(item):
            item.add_marker(pytest.mark.system)
        if item.get_closest_marker("system") is not None and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(SYSTEM_TEST_CEILING_S))


@pytest.fixture(autouse=True)
def _fast_tier_starts_no_process(request, monkeypatch):
    """With BOOKEMBED_CHECK_TIERS=1, a test not marked `system` that starts a process or a
    server fails, naming what it started: a check that the tiers are marked right."""
    if os.environ.get("BOOKEMBED_CHECK_TIERS") != "1" or request.node.get_closest_marker("system") is not None:
        yield
        return
    import multiprocessing.process
    import socketserver
    import subprocess
    import sys

    started = []
    real_popen_init = subprocess.Popen.__init__

    def refuse(what):
        def wrapper(*args, **kwargs):
            started.append(what)
            raise RuntimeError(f"{what} started by a test not marked `system`")
        return wrapper

    def popen_init(self, args, *rest, **kwargs):
        # A Python child (`bookembed`, a helper, a server) is what makes a test a system test; a library
        # asking the machine a question (joblib runs `lscpu` to count cores) is not.
        program = os.path.basename(str(args if isinstance(args, (str, bytes, os.PathLike)) else args[0]))
        if program.startswith("python") or program == "bookembed" or program == os.path.basename(sys.executable):
            refuse(f"a process ({program})")()
        real_popen_init(self, args, *rest, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "__init__", popen_init)
    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", refuse("a process (multiprocessing)"))
    monkeypatch.setattr(socketserver.TCPServer, "server_bind", refuse("a server (socketserver)"))
    yield
    assert not started, f"{request.node.nodeid} starts {started[0]}: mark it `system`"


@pytest.fixture
def models(tmp_path, monkeypatch) -> Path:
    """An empty models folder that the app uses (BOOKEMBED_MODELS_DIR)."""
    root = tmp_path / "models"
    root.mkdir()
    monkeypatch.setenv("BOOKEMBED_MODELS_DIR", str(root))
    return root
