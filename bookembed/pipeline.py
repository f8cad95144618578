"""Records to a finished model folder in one call: load, train, evaluate, save.

The CLI's ``train`` and the app's training form both call ``train_model_folder``.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Callable

from bookembed.corpus import CleaningConfig, Corpus, load_corpus
from bookembed.evaluate import genre_purity, heldout_auc
from bookembed.store import SaveInputs, save_model_folder
from bookembed.training import Progress, TrainConfig, TrainResult, train


def metrics_for(corpus: Corpus, result: TrainResult, seed: int) -> dict:
    """The manifest's metrics for a freshly trained result."""
    auc = heldout_auc(
        result.book_vectors, result.link_vectors, corpus.pair_books, corpus.pair_links, result.heldout, seed=seed
    )
    purity = genre_purity(result.book_vectors, corpus.books["primary_genre"].tolist())
    return {
        "auc": auc,
        "heldout_pairs": int(result.heldout.sum()),
        "genre_purity": purity,
        "final_loss": result.history[-1]["loss"] if result.history else None,
        "train_seconds": round(result.seconds, 3),
        "examples_per_s": round(result.examples_per_s, 1),
    }


def train_corpus_to_folder(
    corpus: Corpus,
    out: str | Path,
    config: TrainConfig = TrainConfig(),
    progress: Callable[[Progress], object] | None = None,
) -> tuple[Path, dict]:
    """Train on a loaded corpus and write the model folder atomically.

    Returns
    -------
    path : Path
        The written folder.
    metrics : dict
        As stored in the manifest (AUC, genre purity, loss, speed).
    """
    result = train(corpus.pair_books, corpus.pair_links, corpus.n_books, corpus.n_links, config, progress)
    metrics = metrics_for(corpus, result, config.seed)
    data = {
        "source": corpus.source,
        "checksum": corpus.checksum,
        "cleaning": asdict(corpus.config),
        "report": corpus.report.lines(),
    }
    path = save_model_folder(
        out,
        SaveInputs(
            books=corpus.books,
            links=corpus.links,
            link_counts=corpus.link_counts,
            pair_books=corpus.pair_books,
            pair_links=corpus.pair_links,
            heldout=result.heldout,
            book_vectors=result.book_vectors,
            link_vectors=result.link_vectors,
            # the batch size actually used (None in the config means "auto")
            config={**config.to_dict(), "batch_size": result.batch_size},
            data=data,
            metrics=metrics,
            history={"epochs": result.history, "steps": result.steps},
            model=result.model,
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
    progress: Callable[[Progress], object] | None = None,
) -> tuple[Path, dict, Corpus]:
    """Load ``source`` (``"demo"``, NDJSON or a pairs table), train, evaluate and save to ``out``.

    Nothing is written until training has finished; a bad input raises
    ``CorpusError`` before any folder is touched.
    """
    corpus = load_corpus(source, config=cleaning, skip_bad_lines=skip_bad_lines, metadata=metadata)
    path, metrics = train_corpus_to_folder(corpus, out, config, progress)
    return path, metrics, corpus
