"""How long the Projector export takes on a model of the full dataset's size.

    .venv/bin/python benchmarks/bench_export.py              # 37,020 books x 50, 41,758 links
    .venv/bin/python benchmarks/bench_export.py --repeat 5
    .venv/bin/python benchmarks/bench_export.py --hogs 2     # beside two CPU hogs

The model is built without TensorFlow under a temporary folder: the real
37,020 titles and infobox values of ``../shared/data/book_info.tsv`` when the
file is there (made-up ones otherwise, with tabs, newlines, emoji, Cyrillic and
Chinese mixed in), random float32 vectors, two cached map projections (UMAP
2-D and t-SNE 3-D) and three saved map views, so the bookmarks file is made too.

Each file kind is timed on its own (median of ``--repeat`` runs), then the
whole ``export_folder`` (``bookembed export``) with a TensorBoard log
directory. The vectors.tsv writer is also compared, in the same run, with
``numpy.savetxt`` (which formats row by row) as a ratio. No figure is asserted
anywhere; the medians are written to ``benchmarks/results/export.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from hogs import add_hogs_option, busy, load_average  # noqa: E402
from results import record  # noqa: E402

BOOK_INFO = ROOT.parent / "shared" / "data" / "book_info.tsv"
N_BOOKS, N_LINKS, DIM = 37_020, 41_758, 50
SPECIAL = ["<b>Bold</b> & <script>alert(1)</script>", "Tab\there", "=1+1", "Война и мир", "红楼梦", "Emoji 📚 book",
           '"Quoted"', "  Leading spaces", "*Markdown* _title_", "Line\nbreak"]


def book_table(n_books: int, rng: np.random.Generator) -> pd.DataFrame:
    """Titles and metadata: the real ones when book_info.tsv is there."""
    if BOOK_INFO.is_file() and n_books <= N_BOOKS:
        lines = BOOK_INFO.read_text(encoding="utf-8").split("\n")
        header = lines[0].split("\t")
        records = [(line.split("\t") + [""] * len(header))[: len(header)] for line in lines[1:] if line]
        info = pd.DataFrame(records, columns=header).head(n_books).drop_duplicates("title")
        extra = n_books - len(info)
        titles = info["title"].tolist() + [f"Extra book {i}" for i in range(extra)]
        col = lambda name: info[name].tolist() + [""] * extra  # noqa: E731
        pages = pd.to_numeric(pd.Series(col("pages")).str.extract(r"(\d+)")[0], errors="coerce").astype("Int64")
        genre, author, country = col("genre"), col("author"), col("country")
        language, publisher = col("language"), col("publisher")
    else:
        titles = [f"Book {i} — Книга 书 📚" for i in range(n_books)]
        genre = [["fantasy", "science fiction", "historical novel", ""][i % 4] for i in range(n_books)]
        author = [f"Author {i % 997}" for i in range(n_books)]
        country = [["Russia", "China", "United Kingdom"][i % 3] for i in range(n_books)]
        language = ["English"] * n_books
        publisher = [f"Publisher {i % 101}" for i in range(n_books)]
        pages = pd.array([None if i % 5 == 0 else 100 + i % 900 for i in range(n_books)], dtype="Int64")
    for i, title in enumerate(SPECIAL[: n_books]):
        titles[i * 997 % n_books] = title
    return pd.DataFrame(
        {
            "title": titles,
            "author": author,
            "genre": genre,
            "primary_genre": [g.lower() for g in genre],
            "country": country,
            "language": language,
            "publisher": publisher,
            "year": pd.array(rng.integers(1700, 2018, size=n_books), dtype="Int64"),
            "pages": pages,
        }
    )


def make_model(path: Path, n_books: int = N_BOOKS, n_links: int = N_LINKS, dim: int = DIM, seed: int = 0) -> Path:
    """A full-size model folder with cached projections and saved views (no TensorFlow)."""
    from bookembed.graph import LinkGraph
    from bookembed.store import SaveInputs, save_model_folder

    rng = np.random.default_rng(seed)
    books = book_table(n_books, rng)
    per_book = 5
    pair_books = np.repeat(np.arange(n_books, dtype=np.int32), per_book)
    pair_links = rng.integers(0, n_links, size=len(pair_books), dtype=np.int32)
    books["n_links"] = np.bincount(pair_books, minlength=n_books)
    save_model_folder(
        path,
        SaveInputs(
            graph=LinkGraph(books=books, links=tuple(f"Link {j} ссылка" for j in range(n_links)), link_counts=np.bincount(pair_links, minlength=n_links).astype(np.int64),
                            pair_books=pair_books, pair_links=pair_links),
            heldout=np.zeros(len(pair_books), dtype=bool),
            book_vectors=rng.normal(size=(n_books, dim)).astype(np.float32),
            link_vectors=rng.normal(size=(n_links, dim)).astype(np.float32),
            config={"dim": dim, "seed": seed},
            data={"source": "benchmark", "checksum": "0" * 64, "cleaning": {}, "report": []},
        ),
    )
    folder = path / "projections"
    folder.mkdir()
    for key, method, dims in (("umap-2d-bench", "umap", 2), ("tsne-3d-bench", "tsne", 3)):
        np.save(folder / f"{key}.npy", rng.normal(size=(n_books, dims)).astype(np.float32))
        (folder / f"{key}.json").write_text(json.dumps({"key": key, "method": method, "dims": dims, "params": {},
                                                        "n_books": n_books, "created": "", "faithfulness": None}))
    views = [
        {"name": "umap view", "projection": "umap-2d-bench", "selected": list(range(0, 500, 7)), "color_by": "genre"},
        {"name": "tsne view", "projection": "tsne-3d-bench", "selected": [1, 2, 3], "color_by": "country"},
        {"name": "plain view", "projection": None, "selected": [], "query": None, "color_by": "genre"},
    ]
    (path / "views.json").write_text(json.dumps({"views": views}), encoding="utf-8")
    return path


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def size_mb(data) -> float:
    n = len(data) if isinstance(data, (bytes, str)) else sum(p.stat().st_size for p in data if p.is_file())
    return n / 1e6


def size(data) -> str:
    return f"{size_mb(data):.1f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--books", type=int, default=N_BOOKS)
    parser.add_argument("--links", type=int, default=N_LINKS)
    parser.add_argument("--dim", type=int, default=DIM)
    add_hogs_option(parser)
    args = parser.parse_args(argv)

    from bookembed import export as ex
    from bookembed import projector as pj
    from bookembed.store import load_model_folder

    work = Path(tempfile.mkdtemp(prefix="bench-export-"))
    try:
        start = time.perf_counter()
        path = make_model(work / "model", args.books, args.links, args.dim)
        model = load_model_folder(path)
        source = "book_info.tsv" if BOOK_INFO.is_file() else "made up"
        print(f"model: {model.n_books:,} books, {model.n_links:,} links, dim {model.dim} "
              f"(titles from {source}; built in {time.perf_counter() - start:.1f} s)")
        print(f"median of {args.repeat} runs\n")

        rows = np.arange(model.n_books)
        frame = pj.metadata_frame(model, "books", rows)
        results = []
        measured = []

        def row(label, fn):
            seconds, out = timed(fn, args.repeat)
            results.append((label, seconds, size(out) if out is not None else ""))
            measured.append({"what": f"{label.strip()}, {model.n_books:,} books", "hogs": args.hogs,
                             "seconds": round(seconds, 4),
                             "output_mb": round(size_mb(out), 1) if out is not None else None,
                             "repeat": args.repeat})
            return seconds

        with busy(args.hogs):
            ours = row("vectors.tsv (books)", lambda: pj.format_rows(model.book_vectors).encode("ascii"))

            def savetxt():
                buffer = io.StringIO()
                np.savetxt(buffer, model.book_vectors, fmt="%.9g", delimiter="\t")
                return buffer.getvalue()

            baseline = row("  numpy.savetxt, same format", savetxt)
            measured[-1]["vs_bulk"] = round(baseline / ours, 2)
            row("vectors.tsv (links)", lambda: pj.format_rows(model.link_vectors).encode("ascii"))
            row("metadata.tsv (books, 10 columns)", lambda: pj.metadata_tsv(frame).encode("utf-8"))
            row("metadata.tsv (links)", lambda: pj.metadata_tsv(pj.metadata_frame(model, "links")).encode("utf-8"))
            row("bookmarks.json (3 views)", lambda: pj.bookmarks_json(model, rows)[0])
            row("books.parquet", lambda: ex.parquet_bytes(model, "books"))
            row("projector_files(books), all", lambda: b"".join(pj.projector_files(model).values()))
            row("projector_files(links), all", lambda: b"".join(pj.projector_files(model, "links").values()))
            row("zip_bytes(projector_files(books))", lambda: ex.zip_bytes(pj.projector_files(model)))

            def command():
                out, logdir = work / "out", work / "tb"
                ex.export_folder(path, out, tensorboard=logdir)
                return list(out.rglob("*")) + list(logdir.rglob("*"))

            total = row("export_command --tensorboard (load + write all)", command)
            load = load_average()

        width = max(len(r[0]) for r in results)
        print(f"{'step':<{width}}  {'seconds':>8}  {'output':>9}")
        print(f"{'-' * width}  {'-' * 8}  {'-' * 9}")
        for label, seconds, out in results:
            print(f"{label:<{width}}  {seconds:8.3f}  {out:>9}")
        print(f"\nvectors.tsv: numpy.savetxt / bulk formatting = {baseline / ours:.2f}x")
        print(f"whole export with TensorBoard logdir: {total:.2f} s (target: under 5 s)")
        print("written:", record("export", [{**r, "load_average": load} for r in measured]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
