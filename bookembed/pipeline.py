"""Records to a finished model folder in one call: load, train, evaluate, save.

``train_model_folder`` is the one way to train: the CLI's ``train`` and the
app's Train page both call it, and hear about its stages through the same
callbacks.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from bookembed.corpus import CleaningConfig, Corpus, load_corpus
from bookembed.errors import ModelFolderError
from bookembed.evaluate import baseline_metrics, genre_purity, score_vectors
from bookembed.kerasfile import KerasFile
from bookembed.store import SaveInputs, is_model_folder, save_model_folder
from bookembed.training import Progress, TrainConfig, TrainResult, train


BASELINES_MAX_BOOKS = 20_000
"""Training fits the SVD and ALS baselines itself up to this many books (seconds); above, they cost
minutes at the full dataset's size on 2 cores (docs/quality.md), so ``bookembed evaluate --baselines
--write`` adds them on request."""


def baselines_by_default(n_books: int) -> bool:
    """Whether training measures the baselines when not told (see ``BASELINES_MAX_BOOKS``)."""
    return n_books <= BASELINES_MAX_BOOKS


def metrics_for(corpus: Corpus, result: TrainResult, seed: int, baselines: bool = True,
                on_stage: Callable[[str, str], object] | None = None) -> dict:
    """The manifest's metrics for a freshly trained result, and its baselines beside it.

    Everything is scored on the result's held-out pairs; the baselines are
    fitted on its training pairs only (``evaluate.baseline_metrics``). On
    37,020 books × 40,000 links (773,000 pairs) the three fits and the
    scoring of the four sets of vectors take minutes on a busy 2-core machine
    (``benchmarks/bench_quality.py --scale``; docs/quality.md has the
    figures); ``baselines=False``
    leaves the fits out. ``on_stage`` hears ``"evaluating"`` and, when they
    are fitted, ``"baselines"`` as each starts.

    Returns
    -------
    dict
        ``auc``, ``heldout_pairs``, ``genre_purity``, ``ranking``, ``purity``,
        ``baselines`` (when asked), ``final_loss``, ``train_seconds``,
        ``examples_per_s``, ``evaluation_seconds``.
    """
    start = time.perf_counter()
    if on_stage is not None:
        on_stage("evaluating", "held-out AUC, Hits@10 and genre purity")
    neighbours: dict = {}  # the headline's search first: an exact one also serves the table's samples
    headline = genre_purity(result.book_vectors, corpus.books["primary_genre"].tolist(), seed=seed,
                            neighbours=neighbours)
    scored = score_vectors(result.book_vectors, result.link_vectors, corpus, result.heldout, seed, neighbours)
    metrics = {
        "auc": scored["auc"],
        "heldout_pairs": int(result.heldout.sum()),
        "genre_purity": headline,
        "ranking": scored["ranking"],
        "purity": scored["purity"],
    }
    if baselines:
        if on_stage is not None:
            on_stage("baselines", "fitting SVD and ALS on the training pairs, scored the same way")
        metrics["baselines"] = baseline_metrics(corpus, result.heldout, result.book_vectors.shape[1], seed)
    metrics.update({
        "final_loss": result.history[-1]["loss"] if result.history else None,
        "train_seconds": round(result.seconds, 3),
        "examples_per_s": round(result.examples_per_s, 1),
        "evaluation_seconds": round(time.perf_counter() - start, 3),
    })
    return metrics


def train_corpus_to_folder(
    corpus: Corpus,
    out: str | Path,
    config: TrainConfig = TrainConfig(),
    progress: Callable[[Progress], object] | None = None,
    on_stage: Callable[[str, str], object] | None = None,
    baselines: bool | None = None,
) -> tuple[Path, dict]:
    """Train on a loaded corpus, measure it and write the model folder atomically.

    ``model.keras`` is written directly (``kerasfile.write_keras_file``), so
    training never imports TensorFlow unless the Adam optimizer asks for it.

    Returns
    -------
    path : Path
        The written folder.
    metrics : dict
        As stored in the manifest (AUC, genre purity, loss, speed).
    """
    if on_stage is not None:
        on_stage("training", f"{corpus.n_books:,} books, {corpus.n_links:,} links, {corpus.n_pairs:,} pairs")
    result = train(corpus.pair_books, corpus.pair_links, corpus.n_books, corpus.n_links, config, progress)
    if baselines is None:
        baselines = baselines_by_default(corpus.n_books)
    metrics = metrics_for(corpus, result, config.seed, baselines=baselines, on_stage=on_stage)
    if on_stage is not None:
        on_stage("saving", f"writing {Path(out).name}/ atomically")
    # what was actually used where the config said "automatic"
    used = {**config.to_dict(), "batch_size": result.batch_size, "threads": result.threads,
            "epochs": result.epochs or config.epochs}
    path = save_model_folder(
        out,
        SaveInputs(
            graph=corpus,
            heldout=result.heldout,
            book_vectors=result.book_vectors,
            link_vectors=result.link_vectors,
            config=used,
            data=corpus.provenance(),
            metrics=metrics,
            history={"epochs": result.history, "steps": result.steps},
            model=KerasFile(result.book_vectors, result.link_vectors, result.task, result.head),
        ),
    )
    return path, metrics


def train_model_folder(
    source: str | Path,
    out: str | Path,
    config: TrainConfig = TrainConfig(),
    cleaning: CleaningConfig = CleaningConfig(),
    *,
    skip_bad_lines: bool = False,
    metadata: str | Path | None = None,
    overwrite: bool = True,
    progress: Callable[[Progress], object] | None = None,
    on_stage: Callable[[str, str], object] | None = None,
    on_corpus: Callable[[Corpus], object] | None = None,
    baselines: bool | None = None,
) -> tuple[Path, dict, Corpus]:
    """Load ``source`` (``"demo"``, NDJSON or a pairs table), train, evaluate and save to ``out``.

    Nothing is written until training has finished; a bad input raises
    ``CorpusError`` before any folder is touched.

    Parameters
    ----------
    source, out : path
    config, cleaning : TrainConfig, CleaningConfig
    skip_bad_lines : bool
        Skip malformed NDJSON lines (reported in ``corpus.report``).
    metadata : path, optional
        A metadata table for a pairs table.
    overwrite : bool
        Replace a trained model already in ``out``; when False, refuse before
        loading anything.
    progress : callable, optional
        Training progress (``training.Progress``).
    on_stage : callable, optional
        ``on_stage(stage, detail)`` as each stage starts: ``stages.STAGES`` in
        order (``baselines`` only when fitted), ``detail`` a short sentence.
    on_corpus : callable, optional
        Called with the loaded corpus before training (to report its size).
    baselines : bool, optional
        Also fit and score the SVD and ALS baselines (``metrics_for``); by
        default only up to ``BASELINES_MAX_BOOKS`` books.
    """
    if not overwrite and is_model_folder(out):
        raise ModelFolderError(f"{out}: already holds a trained model; pass --overwrite to replace it")
    if on_stage is not None:
        on_stage("reading", "the demo corpus" if str(source) == "demo" else Path(source).name)
    corpus = load_corpus(source, config=cleaning, skip_bad_lines=skip_bad_lines, metadata=metadata,
                         on_stage=on_stage)
    if on_corpus is not None:
        on_corpus(corpus)
    Path(out).parent.mkdir(parents=True, exist_ok=True)  # fail now, not after training
    path, metrics = train_corpus_to_folder(corpus, out, config, progress, on_stage, baselines)
    return path, metrics, corpus
