"""The ``bookembed`` command line: train, neighbors, evaluate, export, download, info.

Every failure the user can cause prints one line, ``bookembed: error: ...``,
and exits non-zero; no tracebacks.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bookembed.errors import BookembedError

DEFAULT_MODEL = Path("models") / "demo"


def _at_least(minimum: int):
    """An argparse ``type``: a whole number of at least ``minimum`` (a count such as -k, --top, --workers)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


POSITIVE = _at_least(1)


def _default_out(data: str) -> Path:
    if data == "demo":
        return DEFAULT_MODEL
    name = Path(data).name
    for suffix in (".gz", ".ndjson", ".json", ".jsonl", ".csv", ".tsv", ".parquet"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return Path("models") / (name or "model")


def _progress_bar(total: int | None, desc: str, unit: str = "it", **kwargs):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, leave=True, **kwargs)


def cmd_train(args: argparse.Namespace) -> int:
    from contextlib import nullcontext

    from bookembed.corpus import CleaningConfig
    from bookembed.evaluate import summary
    from bookembed.pipeline import train_model_folder
    from bookembed.settings import config_from_args
    from bookembed.stages import StatusLine, format_rate
    from bookembed.training import TrainConfig

    config = config_from_args(args, TrainConfig)
    cleaning = config_from_args(args, CleaningConfig)
    out = Path(args.out) if args.out else _default_out(args.data)
    status = StatusLine(sys.stderr) if not args.quiet else None

    def on_corpus(corpus) -> None:
        lines = [f"bookembed: {line}" for line in corpus.report.lines()]
        lines.append(f"corpus: {corpus.n_books} books, {corpus.n_links} links, {corpus.n_pairs} pairs "
                     f"from {corpus.source}")
        if status is not None:
            status.message(lines)
        else:
            print("\n".join(lines), file=sys.stderr)

    def progress(p) -> None:
        if status is not None:
            status.progress(f"epoch {p.epoch}/{p.epochs}, {p.fraction:.0%}, loss {p.loss:.4f}, "
                            f"{format_rate(p.examples_per_s)}")

    with status if status is not None else nullcontext():
        path, metrics, _ = train_model_folder(
            args.data, out, config, cleaning, skip_bad_lines=args.skip_bad_lines, metadata=args.metadata,
            overwrite=args.overwrite, progress=progress, on_corpus=on_corpus, baselines=args.baselines,
            on_stage=status.stage if status is not None else None,
        )
    print(f"saved {path}")
    for line in summary(metrics):
        print(line)
    _print_baselines(metrics)
    return 0


def _print_baselines(metrics: dict) -> None:
    """The model beside its baselines (``evaluate.baseline_table``), when the metrics hold them."""
    from bookembed.evaluate import baseline_table

    table = baseline_table(metrics)
    if table is None:
        return
    print("\nbeside what a recommender engineer would try first (same held-out pairs, same metrics):")
    print(table.to_string(index=False, na_rep="", float_format=lambda x: f"{x:.3f}"))


def cmd_evaluate(args: argparse.Namespace) -> int:
    from bookembed.evaluate import evaluate, summary
    from bookembed.store import load_model_folder, update_manifest

    model = load_model_folder(args.model)
    result = evaluate(model, seed=model.manifest.get("seed") or 0, baselines=args.baselines)
    if args.write:
        update_manifest(model.path, metrics={**model.manifest.get("metrics", {}), **result})
    if args.json:
        json.dump({"model": str(model.path), **result}, sys.stdout, indent=1)
        print()
        return 0
    print(f"model: {model.path} ({model.n_books} books, {model.n_links} links, dim {model.dim})")
    for line in summary(result):
        print(line)
    _print_baselines({**result, "train_seconds": model.manifest.get("metrics", {}).get("train_seconds")})
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    if args.dump:
        return cmd_download_dump(args)
    from bookembed.download import download

    bar = None

    def progress(done: int, total: int | None) -> None:
        nonlocal bar
        if args.quiet:
            return
        if bar is None:
            bar = _progress_bar(total, "download", unit="B", unit_scale=True, unit_divisor=1024, initial=done)
        bar.update(done - bar.n)

    try:
        path = download(args.url, args.out, progress=progress, sha256=args.sha256)
    finally:
        if bar is not None:
            bar.close()
    print(f"saved {path}")
    return 0


def cmd_build_dataset(args: argparse.Namespace) -> int:
    from bookembed.dumpjob import build_dataset

    bar = None

    def progress(done: int, total: int, counts) -> None:
        nonlocal bar
        if args.quiet:
            return
        if bar is None:
            bar = _progress_bar(total, "parsing dump", unit="B", unit_scale=True, unit_divisor=1024)
        bar.update(done - bar.n)
        bar.set_postfix_str(f"{counts.pages:,} pages, {counts.kept:,} kept")

    try:
        report = build_dataset(args.dump, args.out, args.infobox, index=args.index, scheduler=args.scheduler,
                               workers=args.workers, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    for line in report.lines():
        print(f"bookembed: {line}", file=sys.stderr)
    return 0


def cmd_download_dump(args: argparse.Namespace) -> int:
    from bookembed.dumpjob import DUMPS_BASE_URL, download_dump

    if args.dump != "latest":
        raise BookembedError(f"--dump takes 'latest', got {args.dump!r}")
    bars: dict = {}

    def progress(name: str, done: int, total: int | None) -> None:
        if args.quiet:
            return
        if name not in bars:
            bars[name] = _progress_bar(total, name, unit="B", unit_scale=True, unit_divisor=1024, initial=done)
        bars[name].update(done - bars[name].n)

    out = args.out if args.out != args.default_out else "data"
    try:
        dump, index = download_dump(args.wiki, out, base_url=args.base_url or DUMPS_BASE_URL, progress=progress)
    finally:
        for bar in bars.values():
            bar.close()
    print(f"saved {dump}\nsaved {index}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from bookembed.export import export_folder

    if args.pbg:
        from bookembed.pbg import export_pbg
        from bookembed.store import load_model_folder

        for line in export_pbg(load_model_folder(args.model), args.pbg, partitions=args.partitions).lines():
            print(line)
        if not args.out:
            return 0
    elif not args.out:
        raise BookembedError("export needs --out (the Projector files' folder) or --pbg DIR")
    result = export_folder(args.model, args.out, what=args.what, titles=args.titles, tensorboard=args.tensorboard,
                           shard_rows=args.shard_rows, sample=args.sample)
    for line in export_lines(result):
        print(line)
    return 0


def export_lines(result) -> list[str]:
    """What ``bookembed export`` prints about an ``export.ExportResult``: files, how to view them, notes."""
    lines = [f"exported {result.rows:,} {result.what} x {result.dim} dimensions from {result.model}"]
    lines += [f"wrote {path}" for path in result.written + result.tensorboard]
    if result.tensorboard_dir is not None:
        lines.append(f"view it with: tensorboard --logdir {result.tensorboard_dir}  (Projector tab)")
    lines.append(f"standalone Projector: load {result.out / 'vectors.tsv'} and {result.out / 'metadata.tsv'} with its "
                 f"Load button, or serve {result.out} next to the Projector and open it with ?config=projector_config.json")
    return lines + result.notes


def cmd_project(args: argparse.Namespace) -> int:
    from bookembed import projection as proj
    from bookembed.store import load_model_folder

    model = load_model_folder(args.model)
    settings = proj.make_settings(args.method, dims=args.dims)
    cached = proj.projection_info(model, settings)
    bar = None

    def progress(fraction: float, stage: str) -> None:
        nonlocal bar
        if args.quiet:
            return
        if bar is None:
            bar = _progress_bar(1000, proj.describe(settings), unit="‰", bar_format="{l_bar}{bar}| {elapsed} {postfix}")
        bar.update(int(fraction * 1000) - bar.n)
        bar.set_postfix_str(stage[:60])

    try:
        proj.project(model, settings, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    info = proj.projection_info(model, settings) or {}
    print(("already cached: " if cached else "saved ") + str(proj.projection_paths(model.path, proj.projection_key(settings))[0]))
    sentence = proj.faithfulness_sentence(info, settings, model.dim)
    if sentence:
        print(sentence)
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    import time

    from bookembed.index import ANN_MIN_ROWS, build_index
    from bookembed.names import TABLE_MIN_NAMES, name_table
    from bookembed.store import load_model_folder

    model = load_model_folder(args.model)
    for kind in ("book", "link"):
        rows = model.n_books if kind == "book" else model.n_links
        if rows <= ANN_MIN_ROWS and not args.force:
            print(f"{kind}s: {rows:,} vectors; exact search is fast below {ANN_MIN_ROWS:,}, no index needed "
                  f"(--force builds one anyway)")
            continue
        bar = None if args.quiet else _progress_bar(1000, f"{kind} index", unit="‰", bar_format="{l_bar}{bar}| {elapsed}")

        def progress(fraction: float, stage: str, bar=bar) -> None:
            if bar is not None:
                bar.update(int(fraction * 1000) - bar.n)

        try:
            built = build_index(model, kind, progress=progress)
        finally:
            if bar is not None:
                bar.close()
        info = built.info
        print(f"{kind}s: {rows:,} vectors indexed in {info['build_seconds']:,.1f} s; recall@{info['recall_k']} "
              f"{info['recall']:.3f} against exact search on {info['recall_queries']:,} sampled {kind}s "
              f"({info['nprobe']:,} of {info['nlist']:,} cells scanned a query)")
        if rows > TABLE_MIN_NAMES:
            started = time.perf_counter()
            name_table(model, kind)
            print(f"{kind}s: the name table the search box matches against is ready "
                  f"({time.perf_counter() - started:,.1f} s)")
    from bookembed.crossfilter import FACETS
    from bookembed.distinct import KEEP_FROM_BOOKS, column_distinct, column_years

    # the columns of the map's linked charts (genre is also its first colouring), and the years
    coded = [f.column for f in FACETS if f.column != "year" and f.column in model.books.columns]
    if model.n_books >= KEEP_FROM_BOOKS:
        started = time.perf_counter()
        for column in coded:
            column_distinct(model, column)
        column_years(model)
        print(f"books: the map's {', '.join(coded)}{' and ' if coded else ''}year columns are coded "
              f"({time.perf_counter() - started:,.1f} s)")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from bookembed.evaluate import summary
    from bookembed.store import load_model_folder, verify_model_folder

    verified = verify_model_folder(args.model) if args.verify else None
    model = load_model_folder(args.model)
    m = model.manifest
    if args.json:
        json.dump(m if verified is None else {**m, "verified": verified}, sys.stdout, indent=1, ensure_ascii=False)
        print()
        return 0
    data = m.get("data", {})
    print(f"model: {model.path}")
    print(f"created: {m.get('created')}  data: {data.get('source')}  sha256 {str(data.get('checksum'))[:12]}")
    print(f"counts: {json.dumps(m.get('counts'))}")
    print(f"config: {json.dumps(m.get('config'))}")
    for line in summary(m.get("metrics", {})):
        print(line)
    _print_baselines(m.get("metrics", {}))
    for line in verified or []:
        print(f"verified: {line}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from bookembed import importer

    if args.pbg:
        from bookembed.pbg import import_pbg

        result = import_pbg(args.pbg, args.out, entities=args.entities, overwrite=args.overwrite)
    elif args.keras:
        if not args.data:
            raise BookembedError("import --keras needs --data: the records the model was trained on")
        result = importer.import_keras(args.keras, args.data, args.out, link_order=args.link_order,
                                       overwrite=args.overwrite)
    else:
        if not args.metadata:
            raise BookembedError("import --vectors needs --metadata: the Projector metadata.tsv of the same rows")
        result = importer.import_projector(args.vectors, args.metadata, args.out, overwrite=args.overwrite)
    for line in result.lines():
        print(line)
    return 0


def cmd_clusters(args: argparse.Namespace) -> int:
    from bookembed.clusters import cluster_books
    from bookembed.store import load_model_folder

    model = load_model_folder(args.model)
    result = cluster_books(model, args.method, n_clusters=args.clusters, min_cluster_size=args.min_cluster_size,
                           seed=args.seed, n_examples=args.examples, cache=not args.no_cache)
    if args.json:
        json.dump({"model": str(model.path), **result.to_dict()}, sys.stdout, indent=1, ensure_ascii=False)
        print()
        return 0
    how = "k-means" if result.method == "kmeans" else "HDBSCAN"
    noise = f", {result.noise:,} books in no cluster" if result.noise else ""
    print(f"model: {model.path} ({model.n_books:,} books) · {how}, {len(result.clusters)} clusters{noise}, "
          f"{result.seconds:.1f} s{' (cached)' if result.cached else ''}")
    width = len(str(len(result.clusters)))
    for c in result.clusters:
        print(f"{c.id + 1:>{width}}. {c.size:>5,} books  {c.label}")
        print(f"{'':>{width}}  e.g. {'; '.join(c.examples)}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from bookembed.compare import align_maps, compare_models
    from bookembed.store import load_model_folder

    a, b = load_model_folder(args.a), load_model_folder(args.b)
    result = compare_models(a, b, args.k, max_books=args.max_books, seed=args.seed)
    titles = a.books["title"].array  # by id, without a list of every title
    out = result.to_dict(titles, args.changed)
    if args.map:
        from bookembed import projection as proj

        settings = proj.make_settings(args.map, dims=2)
        _, out["map_disparity"] = align_maps(proj.project(a, settings), proj.project(b, settings), result.ids_a,
                                             result.ids_b)
        out["map"] = proj.describe(settings)
    if args.json:
        json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
        print()
        return 0
    print(f"A: {a.path} ({a.n_books:,} books, dim {a.dim})")
    print(f"B: {b.path} ({b.n_books:,} books, dim {b.dim})")
    print(f"shared titles: {result.n_shared:,}")
    sample = (f" (sampled {len(result.compared):,} books; standard error {result.standard_error:.4f})"
              if result.sampled else "")
    print(f"mean overlap of the {result.k} nearest neighbours: {result.mean_overlap:.3f}{sample}")
    hist = result.histogram()
    print("books per overlap: " + "  ".join(f"{int(r.overlap * result.k)}/{result.k}: {r.books:,}"
                                            for r in hist.itertuples()))
    print(f"vector alignment (Procrustes) disparity: {result.vector_disparity:.4f}  (0 = same up to rotation)")
    if "map_disparity" in out:
        print(f"map alignment disparity ({out['map']}): {out['map_disparity']:.4f}")
    if args.changed:
        print("neighbourhoods that changed most:")
        for row in result.changed(titles, args.changed).itertuples():
            print(f"  {row.overlap:.1f}  {row.title}")
            if row.only_in_a:
                print(f"       only in A: {'; '.join(row.only_in_a)}")
            if row.only_in_b:
                print(f"       only in B: {'; '.join(row.only_in_b)}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from bookembed.predict import predict_column
    from bookembed.store import load_model_folder

    model = load_model_folder(args.model)
    result = predict_column(model, args.column, min_count=args.min_count, folds=args.folds, seed=args.seed)
    if args.csv:
        from bookembed.atomic import replacing
        from bookembed.export import spreadsheet_csv

        if not result.n_missing:
            # an error, not a note: a script that reads the CSV next would otherwise read an older file there
            kept = "; the file already there is left as it was" if Path(args.csv).exists() else ""
            raise BookembedError(f"{args.csv}: not written: every book of {model.path} has a {result.column}, "
                                 f"so there is nothing to predict{kept} (without --csv, predict shows the scores)")
        # meant for a spreadsheet: a title such as "=HYPERLINK(...)" must not run as a formula
        with replacing(args.csv) as tmp:
            tmp.write_bytes(spreadsheet_csv(result.predicted[["title", "predicted", "probability"]]))
    if args.json:
        json.dump({"model": str(model.path), **result.to_dict(args.top)}, sys.stdout, indent=1, ensure_ascii=False)
        print()
        return 0
    print(f"model: {model.path} · predicting {result.column} ({result.source}) from the book vectors")
    print(f"learned: {len(result.classes)} values held by {args.min_count}+ books, {result.n_train:,} books "
          f"({result.n_rare:,} with rarer values left out)")
    if result.sampled:
        print(f"fitted and scored on a seeded sample of {result.sampled:,} of those books (the time stays bounded)")
    print(f"{result.folds}-fold cross-validated accuracy {result.accuracy:.3f} ± {result.accuracy_stderr:.3f}, "
          f"macro-F1 {result.macro_f1:.3f}")
    print(f"majority baseline ({result.majority!r}): accuracy {result.baseline_accuracy:.3f}, "
          f"macro-F1 {result.baseline_macro_f1:.3f}")
    print(f"books without a {result.column}: {result.n_missing:,}"
          + ("" if result.n_missing else ", so there is nothing to predict"))
    for row in result.predicted.head(args.top).itertuples():
        print(f"  {row.probability:.2f}  {row.predicted:<24}  {row.title}")
    if args.csv:
        print(f"all {result.n_missing:,} predictions written to {args.csv}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from bookembed import __version__

    from bookembed.corpus import CleaningConfig
    from bookembed.settings import add_arguments
    from bookembed.training import TrainConfig

    parser = argparse.ArgumentParser(prog="bookembed", description="Learn and explore book embeddings.")
    parser.add_argument("--version", action="version", version=f"bookembed {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a model folder from records")
    p.add_argument("--data", required=True, help="'demo', a Wikipedia-books NDJSON(.gz) file, or a pairs CSV/Parquet")
    p.add_argument("--out", help="model folder to write (default models/<data name>, models/demo for demo)")
    p.add_argument("--metadata", help="metadata CSV/Parquet keyed by item, for a pairs table")
    p.add_argument("--baselines", action=argparse.BooleanOptionalAction, default=None,
                   help="fit SVD and ALS beside the model (default: up to 20,000 books, above which they cost "
                        "minutes; later: evaluate --baselines --write)")
    # one flag per setting, made from the fields' declared help, bounds and defaults (bookembed.settings)
    add_arguments(p, TrainConfig)
    add_arguments(p, CleaningConfig)
    p.add_argument("--overwrite", action="store_true", help="replace a trained model already in --out")
    p.add_argument("--skip-bad-lines", action="store_true", help="skip malformed records (reported) instead of failing")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    from bookembed.cli_neighbors import add_parser as add_neighbors

    add_neighbors(sub, str(DEFAULT_MODEL), POSITIVE)

    p = sub.add_parser("evaluate", help="held-out AUC, Hits@10 and MRR, purity@10; --baselines: SVD and ALS beside")
    p.add_argument("--model", default=str(DEFAULT_MODEL))
    p.add_argument("--json", action="store_true")
    p.add_argument("--write", action="store_true", help="also store the figures in the manifest")
    p.add_argument("--baselines", action="store_true",
                   help="also fit truncated SVD (binary, TF-IDF) and implicit ALS on the training pairs and score "
                        "them the same way")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("export", help="TensorFlow Projector files, TensorBoard logdir, Parquet")
    p.add_argument("--model", default=str(DEFAULT_MODEL))
    p.add_argument("--out", help="the folder for the Projector files and the Parquet file")
    p.add_argument("--what", choices=("books", "links"), default="books")
    p.add_argument("--pbg", metavar="DIR", help="write the corpus as PyTorch-BigGraph's input (edges, config) in DIR")
    p.add_argument("--partitions", type=POSITIVE, default=1, help="with --pbg: partitions of each entity type")
    p.add_argument("--titles", help="file with one title (or link) per line: export only those rows")
    p.add_argument("--tensorboard", metavar="LOGDIR", help="also write a TensorBoard log directory")
    p.add_argument("--shard-rows", type=POSITIVE, metavar="N",
                   help="write the Projector TSVs as shards of at most N rows (the Projector shows 100,000 a tensor)")
    p.add_argument("--sample", type=POSITIVE, metavar="N",
                   help="export about N books sampled by genre (the Parquet file still holds all)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("download", help="download the full dataset (resumable)")
    from bookembed.download import DEFAULT_OUT, DEFAULT_URL

    p.add_argument("--url", default=DEFAULT_URL)
    p.add_argument("--out", default=str(DEFAULT_OUT))
    p.add_argument("--sha256", help="the file's known SHA-256: a download that does not match is refused")
    p.add_argument("--dump", metavar="latest", help="fetch the newest pages-articles-multistream dump and its index")
    p.add_argument("--wiki", default="enwiki", help="with --dump: which wiki (default enwiki)")
    p.add_argument("--base-url", help="with --dump: a mirror of the Wikimedia dumps site")
    p.set_defaults(default_out=str(DEFAULT_OUT))
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_download)

    p = sub.add_parser("build-dataset", help="records from a Wikipedia dump, parsed in parallel on Dask")
    p.add_argument("--dump", required=True, help="*-pages-articles-multistream.xml.bz2 (or a plain dump)")
    p.add_argument("--index", help="its *-multistream-index.txt.bz2 (without it, streams are found by scanning)")
    p.add_argument("--infobox", action="append", required=True, help="infobox to keep, e.g. book; repeatable")
    p.add_argument("--out", required=True, help="records file (.ndjson, or .ndjson.gz)")
    p.add_argument("--scheduler", help="tcp://HOST:PORT of a running Dask scheduler (default: a local cluster)")
    p.add_argument("--workers", type=POSITIVE, help="local cluster processes (default: one per core)")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_build_dataset)

    p = sub.add_parser("project", help="compute and cache a map of the books (UMAP, t-SNE or PCA) ahead of time")
    p.add_argument("--model", default=str(DEFAULT_MODEL))
    p.add_argument("--method", choices=("umap", "tsne", "pca"), default="umap")
    p.add_argument("--dims", type=int, choices=(2, 3), default=2)
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_project)

    p = sub.add_parser("index", help="build the approximate nearest-neighbour indexes (and name tables) of a large "
                                     "model")
    p.add_argument("--model", default=str(DEFAULT_MODEL))
    p.add_argument("--force", action="store_true", help="build even below the size where exact search is fast")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("info", help="a model folder's manifest")
    p.add_argument("--model", default=str(DEFAULT_MODEL))
    p.add_argument("--json", action="store_true")
    p.add_argument("--verify", action="store_true",
                   help="check every file against the manifest's SHA-256 and load model.keras (exit 1 on damage)")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("import", help="a model folder from a Keras model (.keras/.h5), a Projector export or a "
                                      "PyTorch-BigGraph checkpoint")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--keras", metavar="FILE", help="a .keras or .h5 model with book_embedding and link_embedding")
    source.add_argument("--vectors", metavar="FILE", help="a Projector vectors.tsv")
    source.add_argument("--pbg", metavar="CHECKPOINT_DIR", help="a PyTorch-BigGraph checkpoint (types book and link)")
    p.add_argument("--entities", metavar="DIR", help="with --pbg: the folder of entity_names_*.json (default: the "
                                                     "checkpoint config's entity_path)")
    p.add_argument("--data", help="with --keras: the records it was trained on (NDJSON, plain or .gz)")
    p.add_argument("--link-order", metavar="FILE", help="with --keras: the notebook's links, one per line")
    p.add_argument("--metadata", metavar="FILE", help="with --vectors: the Projector metadata.tsv")
    p.add_argument("--out", required=True, help="the model folder to write, e.g. models/notebook")
    p.add_argument("--overwrite", action="store_true", help="replace a model already in --out")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("clusters", help="clusters of books, labelled by the links their books share")
    p.add_argument("--model", default=str(DEFAULT_MODEL))
    p.add_argument("--method", default="kmeans", help="kmeans or hdbscan")
    p.add_argument("--clusters", type=int, default=None, help="k-means' k (default: sqrt(2 x books), at most 50)")
    p.add_argument("--min-cluster-size", type=int, default=5, help="HDBSCAN's smallest cluster")
    p.add_argument("--examples", type=POSITIVE, default=5, help="example titles per cluster")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-cache", action="store_true", help="neither read nor write clusters/ in the model folder")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_clusters)

    p = sub.add_parser("compare", help="two model folders: neighbour overlap, most changed books, alignment")
    p.add_argument("a", help="model folder A")
    p.add_argument("b", help="model folder B")
    p.add_argument("-k", type=POSITIVE, default=10, help="neighbours per book")
    p.add_argument("--changed", type=_at_least(0), default=10, help="how many most-changed books to list")
    p.add_argument("--max-books", type=POSITIVE, default=50_000, help="above this many shared books, sample this many")
    p.add_argument("--map", choices=("umap", "tsne", "pca"), default=None,
                   help="also align the two 2-D maps (computed and cached in each folder when missing)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("predict", help="predict missing metadata from the vectors, scored against the majority")
    p.add_argument("--column", default="genre", help="genre, country, language, author or publisher")
    p.add_argument("--model", default=str(DEFAULT_MODEL))
    p.add_argument("--min-count", type=int, default=5, help="values held by fewer books are not learned")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds, at least 2")
    p.add_argument("--top", type=POSITIVE, default=20, help="predictions to print")
    p.add_argument("--csv", default=None, help="write every prediction to this CSV file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_predict)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BookembedError as err:
        print(f"bookembed: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bookembed: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as err:  # a path the user gave cannot be read or written
        where = f"{err.filename}: " if err.filename else ""
        print(f"bookembed: error: {where}{err.strerror or err}", file=sys.stderr)
        return 1


def run() -> None:
    """The console entry point: :func:`main`, then an exit that skips C++ static destructors.

    pandas 3 keeps strings in Arrow arrays, and Arrow's thread pools can race the
    process's static destructors at exit, aborting a finished command with
    ``terminate called without an active exception`` (apache/arrow#34314). An
    exit handler registered here, before any library registers its own, runs
    last of them all; it flushes the standard streams and ends the process with
    the command's exit code, so every Python-level handler has run and nothing
    native is torn down while its threads still live.
    """
    import atexit
    import logging
    import os

    code = 1

    def _finish() -> None:
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)

    atexit.register(_finish)
    try:
        code = main()
    except SystemExit as stop:  # argparse's usage errors, --help
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 2)
        if not isinstance(stop.code, (int, type(None))):
            print(stop.code, file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":
    run()
