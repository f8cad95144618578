"""Held-out pairs never reach training.

``split_heldout`` leaves every book and link at least one training pair, so a
held-out pair's rows normally move anyway (through their other pairs, and as
random negatives). The tests therefore fix the split themselves and train
without negatives (``negative_ratio=0``): then a row moves only through the
true pairs that train.

* A book and a link whose one pair is held out must come out exactly as they
  went in, even at a huge learning rate.
* Training with held-out pairs present must give bit for bit the vectors of
  training on the same corpus with those pairs deleted.

Both optimizers are checked. A trainer that trained on every pair
(``train_idx = arange(n)``) fails both tests.
"""

from __future__ import annotations

import numpy as np
import pytest

import bookembed.training as training
from bookembed.sampling import split_heldout
from bookembed.training import TrainConfig, train

N_BOOKS, N_LINKS = 14, 10


def corpus():
    """Twelve books over eight links, plus book 12 / link 8 and book 13 / link 9 that meet only each other."""
    rng = np.random.default_rng(0)
    pairs = {(b, int(l)) for b in range(12) for l in rng.choice(8, 4, replace=False)}
    pairs |= {(12, 8), (13, 9)}
    pb, pl = (np.array(a, dtype=np.int32) for a in zip(*sorted(pairs)))
    return pb, pl


def fixed_split(mask):
    def split(pair_books, pair_links, share, rng):  # noqa: ARG001 - same signature as split_heldout
        assert len(pair_books) == len(mask)
        return mask.copy()
    return split


def isolated_heldout(pb, pl):
    """Hold out the two isolated pairs and every fifth ordinary pair."""
    mask = (pb >= 12) | (np.arange(len(pb)) % 5 == 0)
    return mask


def config(optimizer, lr, **extra):
    return TrainConfig(dim=6, epochs=3, batch_size=4, negative_ratio=0, optimizer=optimizer, learning_rate=lr,
                       heldout_share=0.2, seed=3, threads=1, **extra)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_rows_seen_only_in_heldout_pairs_do_not_move(optimizer, monkeypatch):
    pb, pl = corpus()
    mask = isolated_heldout(pb, pl)
    monkeypatch.setattr(training, "split_heldout", fixed_split(mask))
    # at a tiny and at a huge step size the isolated rows keep their initial values, and nothing else does
    small = train(pb, pl, N_BOOKS, N_LINKS, config(optimizer, 1e-6))
    huge = train(pb, pl, N_BOOKS, N_LINKS, config(optimizer, 5.0))
    assert np.array_equal(small.heldout, mask) and np.array_equal(huge.heldout, mask)
    np.testing.assert_array_equal(huge.book_vectors[12:], small.book_vectors[12:])
    np.testing.assert_array_equal(huge.link_vectors[8:], small.link_vectors[8:])
    assert np.all(np.abs(huge.book_vectors[:12] - small.book_vectors[:12]).max(axis=1) > 1e-3)
    assert np.all(np.abs(huge.link_vectors[:8] - small.link_vectors[:8]).max(axis=1) > 1e-3)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_heldout_pairs_present_train_exactly_like_heldout_pairs_deleted(optimizer, monkeypatch):
    pb, pl = corpus()
    mask = isolated_heldout(pb, pl)
    monkeypatch.setattr(training, "split_heldout", fixed_split(mask))
    present = train(pb, pl, N_BOOKS, N_LINKS, config(optimizer, 0.5))
    keep = ~mask
    monkeypatch.setattr(training, "split_heldout", fixed_split(np.zeros(int(keep.sum()), dtype=bool)))
    deleted = train(pb[keep], pl[keep], N_BOOKS, N_LINKS, config(optimizer, 0.5))
    np.testing.assert_array_equal(present.book_vectors, deleted.book_vectors)
    np.testing.assert_array_equal(present.link_vectors, deleted.link_vectors)
    assert present.history[-1]["loss"] == deleted.history[-1]["loss"]


def test_the_split_train_uses_is_split_heldout_of_its_seed():
    """Unpatched: the stored mask is the split of the seeded generator, holding out about the share asked."""
    rng = np.random.default_rng(1)
    pairs = sorted({(int(b), int(l)) for b, l in zip(rng.integers(0, 30, 400), rng.integers(0, 25, 400))})
    pb, pl = (np.array(a, dtype=np.int32) for a in zip(*pairs))
    cfg = TrainConfig(dim=4, epochs=1, batch_size=32, heldout_share=0.2, seed=11, threads=1)
    result = train(pb, pl, 30, 25, cfg)
    assert np.array_equal(result.heldout, split_heldout(pb, pl, 0.2, np.random.default_rng(11)))
    assert abs(result.heldout.sum() - 0.2 * len(pb)) <= 0.02 * len(pb)
