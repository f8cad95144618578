"""The two-embedding Keras model and the trainer: structure, cosine output, loss, seeds, negatives, progress."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import TINY_BOOKS, write_ndjson

from bookembed.corpus import CleaningConfig, load_corpus
from bookembed.errors import BookembedError
from bookembed.sampling import NonPairSampler, split_heldout
from bookembed.training import Progress, TrainConfig, build_model, train

FAST = dict(dim=8, batch_size=16, epochs=15, heldout_share=0.1)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def cosine(book_vectors, link_vectors, books, links) -> np.ndarray:
    return np.einsum("ij,ij->i", unit(book_vectors)[books], unit(link_vectors)[links])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    # min_link_count=2 gives a slightly richer tiny corpus than the seed's 4
    path = write_ndjson(tmp_path_factory.mktemp("training") / "tiny.ndjson", TINY_BOOKS)
    return load_corpus(path, config=CleaningConfig(min_link_count=2))


def run(corpus, **settings):
    return train(corpus.pair_books, corpus.pair_links, corpus.n_books, corpus.n_links, TrainConfig(**{**FAST, **settings}))


@pytest.fixture(scope="module")
def regression(corpus):
    return run(corpus, seed=3)


# ---------------------------------------------------------------- the model


def test_regression_model_structure():
    model = build_model(7, 5, dim=4, task="regression")
    assert sorted(model.input_names if hasattr(model, "input_names") else [i.name for i in model.inputs]) == ["book", "link"]
    book, link = model.get_layer("book_embedding"), model.get_layer("link_embedding")
    assert (book.input_dim, book.output_dim) == (7, 4)
    assert (link.input_dim, link.output_dim) == (5, 4)
    dot = model.get_layer("dot_product")
    assert type(dot).__name__ == "Dot" and dot.normalize is True and dot.axes in (1, [1, 1], (1, 1))
    assert model.layers[-1] is dot, "regression outputs the cosine itself"
    assert not [layer for layer in model.layers if type(layer).__name__ == "Dense"]
    assert model.loss == "mse"


def test_classification_model_structure():
    model = build_model(7, 5, dim=4, task="classification")
    out = model.get_layer("output")
    assert type(out).__name__ == "Dense" and out.units == 1
    assert out.activation.__name__ == "sigmoid"
    assert model.layers[-1] is out
    assert model.loss == "binary_crossentropy"
    assert model.get_layer("dot_product").normalize is True


def test_uncompiled_model_has_no_optimizer_state():
    model = build_model(3, 3, dim=2, compile=False)
    assert not model.compiled


def test_unknown_task_is_refused():
    with pytest.raises(BookembedError, match="task must be one of"):
        build_model(3, 3, task="ranking")


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_model_output_is_the_cosine_of_its_embeddings(task):
    model = build_model(6, 9, dim=5, task=task)
    rng = np.random.default_rng(0)
    books = rng.integers(0, 6, 40).astype("int32")
    links = rng.integers(0, 9, 40).astype("int32")
    out = model.predict({"book": books, "link": links}, verbose=0).reshape(-1)
    cos = cosine(model.get_layer("book_embedding").get_weights()[0],
                 model.get_layer("link_embedding").get_weights()[0], books, links)
    if task == "classification":
        w, b = model.get_layer("output").get_weights()
        cos = 1 / (1 + np.exp(-(cos * w[0, 0] + b[0])))
    np.testing.assert_allclose(out, cos, rtol=1e-4, atol=1e-5)


def test_model_fits_with_keras_as_the_seed_did():
    # build_model(compile=True) is the seed's model: plain model.fit works on it
    model = build_model(4, 4, dim=3)
    books = np.array([0, 1, 2, 3], dtype="int32")
    history = model.fit({"book": books, "link": books}, np.ones(4), epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2


# ---------------------------------------------------------------- training


def test_trained_model_output_equals_cosine_of_returned_vectors(corpus, regression):
    out = regression.model.predict({"book": corpus.pair_books, "link": corpus.pair_links}, verbose=0).reshape(-1)
    expected = cosine(regression.book_vectors, regression.link_vectors, corpus.pair_books, corpus.pair_links)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    assert regression.book_vectors.shape == (corpus.n_books, 8) and regression.book_vectors.dtype == np.float32
    assert regression.link_vectors.shape == (corpus.n_links, 8) and regression.link_vectors.dtype == np.float32


def test_training_reduces_the_loss(regression):
    losses = [h["loss"] for h in regression.history]
    assert len(losses) == 15
    assert all(math.isfinite(x) for x in losses)
    assert losses[-1] < 0.5 * losses[0]


def test_training_separates_pairs_from_non_pairs(corpus, regression):
    true = cosine(regression.book_vectors, regression.link_vectors, corpus.pair_books, corpus.pair_links)
    nb, nl = NonPairSampler(corpus.pair_books, corpus.pair_links, corpus.n_books, corpus.n_links).draw(
        500, np.random.default_rng(0))
    other = cosine(regression.book_vectors, regression.link_vectors, nb, nl)
    trained = ~regression.heldout
    assert true[trained].mean() > other.mean() + 0.5


def test_classification_trains(corpus):
    result = run(corpus, task="classification", seed=5, epochs=10)
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < losses[0]
    out = result.model.predict({"book": corpus.pair_books, "link": corpus.pair_links}, verbose=0).reshape(-1)
    assert np.all((out > 0) & (out < 1))
    w, b = result.model.get_layer("output").get_weights()
    cos = cosine(result.book_vectors, result.link_vectors, corpus.pair_books, corpus.pair_links)
    np.testing.assert_allclose(out, 1 / (1 + np.exp(-(cos * w[0, 0] + b[0]))), rtol=1e-4, atol=1e-5)


def test_same_seed_same_vectors_other_seed_different(corpus, regression):
    again = run(corpus, seed=3)
    np.testing.assert_allclose(again.book_vectors, regression.book_vectors, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(again.link_vectors, regression.link_vectors, rtol=1e-5, atol=1e-6)
    assert np.array_equal(again.heldout, regression.heldout)
    other = run(corpus, seed=4)
    assert not np.allclose(other.book_vectors, regression.book_vectors, atol=1e-3)


def test_progress_callback(corpus):
    seen: list[Progress] = []
    config = TrainConfig(**{**FAST, "epochs": 3, "batch_size": 4, "heldout_share": 0.0})
    result = train(corpus.pair_books, corpus.pair_links, corpus.n_books, corpus.n_links, config,
                   progress=seen.append, steps_per_call=5)
    steps = math.ceil(corpus.n_pairs / 4)
    calls_per_epoch = math.ceil(steps / 5)
    assert len(seen) == 3 * calls_per_epoch
    assert all(p.epochs == 3 and p.steps == steps for p in seen)
    assert [p.epoch for p in seen] == [e for e in (1, 2, 3) for _ in range(calls_per_epoch)]
    for epoch in (1, 2, 3):
        done = [p.step for p in seen if p.epoch == epoch]
        assert done == sorted(done) and done[-1] == steps and all(0 < s <= steps for s in done)
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert all(math.isfinite(p.loss) and p.loss >= 0 and p.examples_per_s > 0 for p in seen)
    elapsed = [p.elapsed_s for p in seen]
    assert elapsed == sorted(elapsed)
    assert len(result.steps) == len(seen) and [h["epoch"] for h in result.history] == [1, 2, 3]


def test_no_pairs_is_refused():
    with pytest.raises(BookembedError, match="no pairs"):
        train(np.array([], dtype=np.int32), np.array([], dtype=np.int32), 3, 3, TrainConfig(epochs=1))


@pytest.mark.parametrize(
    "field, value",
    [("dim", 0), ("epochs", 0), ("batch_size", 0), ("negative_ratio", -1), ("task", "ranking"),
     ("learning_rate", 0.0), ("learning_rate", float("nan")), ("heldout_share", 0.5), ("heldout_share", -0.1)],
)
def test_train_config_is_checked(field, value):
    with pytest.raises(BookembedError, match=field):
        TrainConfig(**{field: value})


def test_train_config_round_trips_as_data():
    config = TrainConfig(dim=16, seed=9, task="classification")
    assert TrainConfig(**config.to_dict()) == config


# ---------------------------------------------------------------- negatives never hit true pairs


def random_pairs(n_books, n_links, n, seed):
    rng = np.random.default_rng(seed)
    keys = np.unique(rng.integers(0, n_books * n_links, n))
    return (keys // n_links).astype(np.int32), (keys % n_links).astype(np.int32)


@pytest.mark.parametrize("n_books, n_links, n", [(30, 20, 200), (5, 7, 34), (50, 3, 10), (1, 8, 5)])
def test_sampler_draws_exactly_the_non_pairs(n_books, n_links, n):
    """Every draw is a non-pair, and (on small grids) every non-pair gets drawn."""
    pb, pl = random_pairs(n_books, n_links, n, seed=n)
    truth = {(int(b), int(l)) for b, l in zip(pb, pl)}
    nb, nl = NonPairSampler(pb, pl, n_books, n_links).draw(20_000, np.random.default_rng(1))
    drawn = {(int(b), int(l)) for b, l in zip(nb, nl)}
    assert not drawn & truth
    non_pairs = {(b, l) for b in range(n_books) for l in range(n_links)} - truth
    # the Bloom filter turns away ~1.5% of non-pairs for good; all others come up
    assert len(drawn) >= 0.9 * len(non_pairs)


def test_sampler_hash_does_not_overflow_for_large_vocabularies():
    pb = np.array([2_000_000_000, 69_999], dtype=np.int64)
    pl = np.array([60_000, 2_000_000_000], dtype=np.int64)
    from bookembed.sampling import maybe_true_pair, pair_bitmap

    words, log_bits = pair_bitmap(pb, pl)
    assert maybe_true_pair(words, log_bits, pb, pl).all()


# ---------------------------------------------------------------- the held-out split


def test_split_heldout_share_and_eligibility():
    pb, pl = random_pairs(40, 25, 400, seed=2)
    heldout = split_heldout(pb, pl, 0.1, np.random.default_rng(0))
    assert heldout.dtype == bool and heldout.shape == pb.shape
    assert 0 < heldout.sum() <= round(0.1 * len(pb))
    assert heldout.sum() >= 0.8 * round(0.1 * len(pb))
    assert not split_heldout(pb, pl, 0.0, np.random.default_rng(0)).any()
    same = split_heldout(pb, pl, 0.1, np.random.default_rng(0))
    assert np.array_equal(heldout, same)


@pytest.mark.parametrize("seed", range(4))
def test_split_heldout_leaves_every_book_and_link_something_to_learn_from(seed):
    # Sparse pairs and a large share: many books have only two or three pairs.
    pb, pl = random_pairs(200, 30, 500, seed=seed)
    heldout = split_heldout(pb, pl, 0.45, np.random.default_rng(seed))
    assert heldout.any()
    for ids, n in ((pb, 200), (pl, 30)):
        has_pairs = np.bincount(ids, minlength=n) > 0
        trained = np.bincount(ids[~heldout], minlength=n) > 0
        assert np.array_equal(has_pairs, trained)


# ---------------------------------------------------------------- every core


def planted_pairs(n_books=1500, n_links=600, groups=10, per_book=12, seed=0):
    """Books of ``groups`` planted topics, each linking mostly within its topic's links."""
    rng = np.random.default_rng(seed)
    topic = rng.integers(0, groups, n_books)
    own = topic[:, None] * (n_links // groups) + rng.integers(0, n_links // groups, (n_books, per_book))
    noise = rng.integers(0, n_links, (n_books, 2))
    books = np.repeat(np.arange(n_books), per_book + 2)
    links = np.hstack([own, noise]).ravel()
    keys = np.unique(books.astype(np.int64) * n_links + links)
    return (keys // n_links).astype(np.int32), (keys % n_links).astype(np.int32), topic


def test_lock_free_threads_learn_as_well_as_one_thread_and_one_thread_repeats_exactly():
    from bookembed.evaluate import genre_purity, heldout_auc

    pb, pl, topic = planted_pairs()
    scores = {}
    for threads in (1, 2):
        config = TrainConfig(dim=16, epochs=8, threads=threads, seed=3)
        result = train(pb, pl, 1500, 600, config)
        assert result.threads == threads
        auc = heldout_auc(result.book_vectors, result.link_vectors, pb, pl, result.heldout, seed=0)
        purity = genre_purity(result.book_vectors, [str(t) for t in topic])["purity"]
        scores[threads] = (auc, purity)
    assert scores[1][0] > 0.85 and scores[1][1] > 0.9  # the planted topics are learned
    assert abs(scores[2][0] - scores[1][0]) < 0.03 and abs(scores[2][1] - scores[1][1]) < 0.03
    again = train(pb, pl, 1500, 600, TrainConfig(dim=16, epochs=8, threads=1, seed=3))
    first = train(pb, pl, 1500, 600, TrainConfig(dim=16, epochs=8, threads=1, seed=3))
    assert np.array_equal(again.book_vectors, first.book_vectors)


def test_threads_default_to_every_core_only_for_large_corpora(monkeypatch):
    import bookembed.training as training

    monkeypatch.setattr(training, "available_cores", lambda: 4)
    assert TrainConfig().threads_for(training.PARALLEL_MIN_PAIRS) == 4
    assert TrainConfig().threads_for(training.PARALLEL_MIN_PAIRS - 1) == 1
    assert TrainConfig(threads=2).threads_for(10) == 2
    assert TrainConfig(threads=16).threads_for(10) == 4  # never more than the cores given
    with pytest.raises(BookembedError, match="threads"):
        TrainConfig(threads=0)


def test_the_kernel_trains_on_exactly_the_examples_it_draws_however_the_epoch_is_cut():
    """``sgd_span`` on one thread = ``sgd_pass`` over the same examples laid out (``draw_positions``),
    and cutting the positions into spans changes nothing."""
    from bookembed.kernels import draw_positions, sgd_pass, sgd_span

    pb, pl, _ = planted_pairs(n_books=300, n_links=120)
    sampler = NonPairSampler(pb, pl, 300, 120, link_weights=np.bincount(pl, minlength=120) ** 0.75)
    order = np.random.default_rng(1).permutation(len(pb)).astype(np.int32)
    start = np.random.default_rng(2).uniform(-0.05, 0.05, (420, 8)).astype(np.float32)
    books, links, positive = draw_positions(order, 0, len(pb), 2, np.uint64(5), pb, pl, *sampler.tables())
    laid = start.copy()
    loss = sgd_pass(laid[:300], laid[300:], books, links, np.where(positive, 1.0, -1.0).astype(np.float32), 0.05,
                    np.zeros(2), False)
    for cuts in ([0, len(pb)], [0, 1, 700, 1024, len(pb)]):
        drawn = start.copy()
        total = 0.0
        for lo, hi in zip(cuts, cuts[1:]):
            part, failed = sgd_span(drawn[:300], drawn[300:], pb, pl, order, lo, hi, 2, -1.0, 5, sampler.tables(),
                                    0.05, np.zeros(2), False)
            total += part
            assert failed == 0
        assert np.array_equal(drawn, laid)
        assert math.isclose(total / len(books), loss, rel_tol=1e-9)


def diagonal_span(n, lo, hi, threads, seed=0):
    """``sgd_span`` over pairs (i, i) with no negatives: each example has rows no other example touches.

    Returns (start vectors, vectors after the span, summed loss, order).
    """
    from bookembed.kernels import sgd_span

    ids = np.arange(n, dtype=np.int32)
    tables = NonPairSampler(ids, ids, n, n).tables()
    order = np.random.default_rng(seed).permutation(n).astype(np.int32)
    start = np.random.default_rng(seed + 1).normal(size=(2 * n, 4)).astype(np.float32)
    vectors = start.copy()
    loss, failed = sgd_span(vectors[:n], vectors[n:], ids, ids, order, lo, hi, 0, -1.0, 3, tables, 0.1,
                            np.zeros(2), False, threads=threads)
    assert failed == 0
    return start, vectors, loss, order


SPANS = [(n, 0, n) for n in (1, 2, 3, 5, 8, 13, 100, 1031)] + [(200, 17, 190), (50, 49, 50), (40, 10, 10), (9, 0, 7)]


@pytest.mark.parametrize("threads", [1, 2, 3, 4, 7])
def test_every_position_of_a_span_is_trained_exactly_once_however_many_threads_share_it(threads):
    """Pair i is (book i, link i) and nothing else touches those rows, so whatever the threads do
    at the same time, the span's outcome is fixed: the rows of each position in ``lo..hi - 1`` take
    exactly one step, every other row none, bit for bit as one thread leaves them. A shard skipped
    (the last thread's, say) leaves rows untouched; shards that overlap step some rows twice."""
    for n, lo, hi in SPANS:
        start, alone, alone_loss, order = diagonal_span(n, lo, hi, 1)
        _, shared, shared_loss, _ = diagonal_span(n, lo, hi, threads)
        in_span = np.zeros(n, dtype=bool)
        in_span[order[lo:hi]] = True
        for side in (slice(0, n), slice(n, 2 * n)):
            moved = (alone[side] != start[side]).any(axis=1)
            assert np.array_equal(moved, in_span), (n, lo, hi)
        assert np.array_equal(shared, alone), (n, lo, hi, threads)
        # the loss is each trained example's (cos - 1)^2, once
        trained = order[lo:hi]
        expected = float(((cosine(start[:n], start[n:], trained, trained) - 1.0) ** 2).sum())
        assert math.isclose(alone_loss, expected, rel_tol=1e-5, abs_tol=1e-9), (n, lo, hi)
        assert math.isclose(shared_loss, alone_loss, rel_tol=1e-9, abs_tol=1e-12), (n, lo, hi, threads)


def two_pair_vectors():
    """Books and links 0 and 1 in two dimensions: book i = link i (cosine 1), and the non-pairs
    (0, 1) and (1, 0) at cosine -0.5."""
    angle = 2 * np.pi / 3
    rows = np.array([[1.0, 0.0], [np.cos(angle), np.sin(angle)]], dtype=np.float32)
    return rows.copy(), rows.copy()


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("neg_label", [-1.0, -0.25, 0.0])
def test_the_kernel_trains_each_negative_towards_its_own_target(neg_label, threads):
    """One positive, the pair (0, 0) at cosine 1 (its step moves nothing), and one negative, a non-pair
    at cosine -0.5: the loss is the negative's (-0.5 - target)^2, and its step moves its cosine towards
    the target, by about 4 lr (target - cos)(1 - cos^2), down for -1 and up for -0.25 or 0."""
    from bookembed.kernels import draw_positions, sgd_pass, sgd_span

    pb = pl = np.array([0, 1], dtype=np.int32)
    tables = NonPairSampler(pb, pl, 2, 2).tables()
    order = np.array([0], dtype=np.int32)
    lr = 1e-3
    books_v, links_v = two_pair_vectors()
    loss, failed = sgd_span(books_v, links_v, pb, pl, order, 0, 1, 1, neg_label, 11, tables, lr, np.zeros(2), False,
                            threads=threads)
    assert failed == 0
    books, links, positive = draw_positions(order, 0, 1, 1, np.uint64(11), pb, pl, *tables)
    assert positive.tolist() == [True, False]
    b, l = int(books[1]), int(links[1])
    assert b != l, "the negative is a non-pair"
    start_b, start_l = two_pair_vectors()
    before = float(cosine(start_b, start_l, [b], [l])[0])
    after = float(cosine(books_v, links_v, [b], [l])[0])
    assert before == pytest.approx(-0.5, abs=1e-6)
    assert loss == pytest.approx((before - neg_label) ** 2, rel=1e-5)
    assert np.sign(after - before) == np.sign(neg_label - before)
    assert after - before == pytest.approx(4 * lr * (neg_label - before) * (1 - before**2), rel=0.02)
    # the same step as the closed-form kernel given the labels (1, target) for these examples
    laid_b, laid_l = two_pair_vectors()
    sgd_pass(laid_b, laid_l, books, links, np.array([1.0, neg_label], np.float32), lr, np.zeros(2), False)
    assert np.array_equal(books_v, laid_b) and np.array_equal(links_v, laid_l)
    # and the target is what moves it: the other targets move the same negative elsewhere
    for other in {-1.0, -0.25, 0.0} - {neg_label}:
        moved_b, moved_l = two_pair_vectors()
        sgd_span(moved_b, moved_l, pb, pl, order, 0, 1, 1, other, 11, tables, lr, np.zeros(2), False, threads=threads)
        assert not np.array_equal(moved_b, books_v) or not np.array_equal(moved_l, links_v)


def test_training_a_full_grid_is_a_clear_error():
    pb, pl = (a.ravel().astype(np.int32) for a in np.meshgrid(np.arange(6), np.arange(4), indexing="ij"))
    with pytest.raises(BookembedError, match=r"^could not draw negatives: nearly every \(book, link\) pair is a true pair$"):
        train(pb, pl, 6, 4, TrainConfig(dim=4, epochs=1, heldout_share=0.0))


# ---------------------------------------------------------------- the negative-sampling levers the defaults use


def test_negative_weights_come_from_training_pairs_only():
    from bookembed.training import negative_weights

    train_links = np.array([0, 0, 0, 0, 1, 2])
    assert negative_weights(train_links, 4, 0.0) is None
    np.testing.assert_allclose(negative_weights(train_links, 4, 0.75), [4**0.75, 1, 1, 0])
    np.testing.assert_allclose(negative_weights(train_links, 4, 1.0), [4, 1, 1, 0])


@pytest.mark.parametrize("field, value", [("negative_power", -0.5), ("negative_power", 3.0),
                                          ("negative_target", 1.0), ("negative_target", -1.5)])
def test_bad_negative_settings_are_refused(field, value):
    from bookembed.training import TrainConfig

    with pytest.raises(BookembedError, match=field):
        TrainConfig(**{field: value})


def test_training_draws_negatives_by_training_link_frequency(monkeypatch):
    """train() hands the sampler count ** power over the training pairs (held-out pairs left out)."""
    import bookembed.training as training
    from conftest import block_graph

    seen = {}

    class Recording(training.NonPairSampler):
        def __init__(self, *args, link_weights=None, **kwargs):
            seen["weights"] = link_weights
            super().__init__(*args, link_weights=link_weights, **kwargs)

    monkeypatch.setattr(training, "NonPairSampler", Recording)
    pb, pl, n_books, n_links, _ = block_graph(4)
    config = training.TrainConfig(dim=4, epochs=1, batch_size=8, negative_power=0.5, heldout_share=0.2, seed=2)
    result = training.train(pb, pl, n_books, n_links, config)
    counts = np.bincount(pl[~result.heldout], minlength=n_links)
    np.testing.assert_allclose(seen["weights"], counts**0.5)
    assert not np.allclose(seen["weights"], np.bincount(pl, minlength=n_links) ** 0.5)
    training.train(pb, pl, n_books, n_links, training.TrainConfig(dim=4, epochs=1, batch_size=8, negative_power=0.0))
    assert seen["weights"] is None  # uniform, as the seed drew them


@pytest.mark.parametrize("target", [-1.0, 0.0])
def test_non_pairs_are_trained_towards_the_negative_target(target):
    import dataclasses

    from bookembed.training import TrainConfig, _Run, auto_batch_size
    from bookembed.sampling import NonPairSampler
    from conftest import block_graph

    pb, pl, n_books, n_links, _ = block_graph(5)
    config = TrainConfig(dim=4, negative_ratio=3, negative_target=target)
    run = _Run(config=config, pair_books=pb, pair_links=pl, train_idx=np.arange(len(pb), dtype=np.int32),
               book_vectors=np.zeros((n_books, 4), np.float32), link_vectors=np.zeros((n_links, 4), np.float32),
               head=np.zeros(2), sampler=NonPairSampler(pb, pl, n_books, n_links), rng=np.random.default_rng(0),
               batch=auto_batch_size(len(pb)), threads=1, progress=None, steps_per_call=25)
    _, _, labels = run.arrange_epoch()
    assert (labels[:, 0] == 1).all() and (labels[:, 1:] == target).all()
    classify = dataclasses.replace(run, config=TrainConfig(dim=4, negative_ratio=3, negative_target=target,
                                                           task="classification"))
    assert (classify.arrange_epoch()[2][:, 1:] == 0).all()


# ---------------------------------------------------------------- epochs sized to the corpus


def test_epochs_set_by_goal_are_cut_for_a_big_corpus_and_epochs_given_are_kept():
    from bookembed import training

    visits, floor = training.PAIR_VISITS, training.MIN_SIZED_EPOCHS
    balanced = TrainConfig()
    assert balanced.sized_for(1_000).epochs == 30
    assert balanced.sized_for(visits // 30).epochs == 30  # exactly at the budget: unchanged
    cut = balanced.sized_for(visits // 20)
    assert floor <= cut.epochs < 30 and cut.epochs * (visits // 20) <= visits
    assert balanced.sized_for(10**12).epochs == floor  # never below the floor
    assert TrainConfig(epochs=30).sized_for(10**12).epochs == 30  # the user's word is kept
    assert TrainConfig(goal="neighbours").sized_for(visits // 30).epochs == 30  # 60 halved
    # the rest of the config is untouched
    assert {k: v for k, v in cut.to_dict().items() if k != "epochs"} == \
        {k: v for k, v in balanced.to_dict().items() if k != "epochs"}


def test_a_corpus_past_the_pair_visits_trains_the_cut_epochs_and_the_manifest_says_so(tmp_path, monkeypatch):
    import json

    from bookembed import training
    from bookembed.pipeline import train_model_folder

    monkeypatch.setattr(training, "PAIR_VISITS", 100)
    monkeypatch.setattr(training, "MIN_SIZED_EPOCHS", 3)
    data = write_ndjson(tmp_path / "tiny.ndjson", TINY_BOOKS)
    path, _, _ = train_model_folder(data, tmp_path / "m", TrainConfig(dim=4, batch_size=16, heldout_share=0.0))
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["config"]["epochs"] == 3
    history = json.loads((path / "history.json").read_text())
    assert len(history["epochs"]) == 3
    given, _, _ = train_model_folder(data, tmp_path / "g", TrainConfig(epochs=5, dim=4, batch_size=16,
                                                                         heldout_share=0.0))
    assert json.loads((given / "manifest.json").read_text())["config"]["epochs"] == 5
