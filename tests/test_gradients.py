"""The trainer's closed-form gradients equal Keras autodiff through the saved model's own layers."""

from __future__ import annotations

import numpy as np
import pytest

from bookembed.sampling import NonPairSampler, maybe_true_pair, pair_bitmap
from bookembed.training import build_model, loss_and_gradients

tf = pytest.importorskip("tensorflow")


def autodiff(model, books, links, labels, task):
    """Gradients of the summed loss w.r.t. the gathered rows and the dense head, through the Keras model."""
    book_var = model.get_layer("book_embedding").embeddings.value
    link_var = model.get_layer("link_embedding").embeddings.value
    dense = [w.value for w in model.get_layer("output").trainable_weights] if task == "classification" else []
    with tf.GradientTape() as tape:
        out = tf.reshape(model({"book": books, "link": links}), [-1, 1])
        if task == "classification":
            per_example = tf.keras.losses.binary_crossentropy(labels, out, from_logits=False)
            per_example = tf.reshape(per_example, [-1])
        else:
            per_example = tf.reshape(tf.square(out - labels), [-1])
        total = tf.reduce_sum(per_example)
    grads = tape.gradient(total, [book_var, link_var, *dense])
    return [tf.convert_to_tensor(g).numpy() for g in grads], tf.reduce_mean(per_example).numpy()


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_closed_form_matches_autodiff(task):
    rng = np.random.default_rng(3)
    n_books, n_links, dim = 7, 5, 6
    model = build_model(n_books, n_links, dim, task, compile=False)
    model.get_layer("book_embedding").embeddings.assign(rng.normal(size=(n_books, dim)).astype("float32"))
    model.get_layer("link_embedding").embeddings.assign(rng.normal(size=(n_links, dim)).astype("float32"))
    if task == "classification":
        model.get_layer("output").set_weights([np.array([[1.7]], "float32"), np.array([-0.3], "float32")])
    # repeated rows on purpose: their gradients must add up
    books = tf.constant([0, 1, 1, 4, 6, 6, 6, 2], tf.int32)
    links = tf.constant([0, 0, 3, 2, 4, 4, 1, 3], tf.int32)
    if task == "classification":
        labels = tf.constant([[1.0], [0.0], [1.0], [0.0], [1.0], [1.0], [0.0], [0.0]])
    else:
        labels = tf.constant([[1.0], [-1.0], [1.0], [-1.0], [1.0], [1.0], [-1.0], [-1.0]])
    (g_book, g_link, *g_dense), mean_loss = autodiff(model, books, links, labels, task)

    book_var = model.get_layer("book_embedding").embeddings.value
    link_var = model.get_layer("link_embedding").embeddings.value
    dense = tuple(w.value for w in model.get_layer("output").trainable_weights) if task == "classification" else None
    loss, rows_b, rows_l, dense_grads = loss_and_gradients(
        tf.gather(book_var, books), tf.gather(link_var, links), labels, dense
    )
    # scatter the per-example row gradients like the trainer's sparse update does
    ours_book = tf.math.unsorted_segment_sum(rows_b, books, n_books).numpy()
    ours_link = tf.math.unsorted_segment_sum(rows_l, links, n_links).numpy()
    np.testing.assert_allclose(ours_book, g_book, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours_link, g_link, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(float(loss), float(mean_loss), rtol=1e-4)
    for ours, theirs in zip(dense_grads, g_dense):
        np.testing.assert_allclose(ours.numpy().reshape(theirs.shape), theirs, rtol=1e-4, atol=1e-5)
    assert np.abs(g_book).sum() > 0, "the check must compare something"


def test_pair_bitmap_flags_every_true_pair_and_few_others():
    rng = np.random.default_rng(0)
    n_books, n_links = 3000, 2000
    keys = np.unique(rng.integers(0, n_books, 60_000).astype(np.int64) * n_links + rng.integers(0, n_links, 60_000))
    books, links = (keys // n_links).astype(np.int32), (keys % n_links).astype(np.int32)
    words, log_bits = pair_bitmap(books, links)
    assert maybe_true_pair(words, log_bits, books, links).all(), "a true pair must never pass as a negative"
    qb, ql = rng.integers(0, n_books, 200_000), rng.integers(0, n_links, 200_000)
    non_pairs = ~np.isin(qb.astype(np.int64) * n_links + ql, keys)
    false_alarms = maybe_true_pair(words, log_bits, qb[non_pairs], ql[non_pairs]).mean()
    assert false_alarms < 0.05  # about 1/64 by design: only thins the uniform negatives evenly


def test_weighted_negatives_follow_the_weights_and_never_hit_true_pairs():
    """Links drawn in proportion to weights (word2vec's frequency^0.75 lever), still never a true pair."""
    rng = np.random.default_rng(1)
    n_books, n_links = 40, 30
    keys = np.unique(rng.integers(0, n_books * n_links, 500))
    books, links = (keys // n_links).astype(np.int32), (keys % n_links).astype(np.int32)
    weights = np.zeros(n_links)
    weights[:3] = [1.0, 2.0, 7.0]  # only three links can be drawn
    nb, nl = NonPairSampler(books, links, n_books, n_links, link_weights=weights).draw(30_000, np.random.default_rng(5))
    assert not np.isin(nb.astype(np.int64) * n_links + nl, keys).any()
    assert set(np.unique(nl).tolist()) <= {0, 1, 2}
    share = np.bincount(nl, minlength=3)[:3] / len(nl)
    # rejection of true pairs bends the shares a little; the order and rough size stay
    assert share[2] > share[1] > share[0] > 0.02


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_compiled_sgd_step_is_minus_lr_times_the_closed_form_gradient(task):
    """One example through the compiled kernel moves its rows by exactly -lr x the gradient."""
    from bookembed.kernels import sgd_pass

    rng = np.random.default_rng(7)
    books_v = rng.normal(size=(4, 5)).astype(np.float32)
    links_v = rng.normal(size=(3, 5)).astype(np.float32)
    head = np.array([1.3, -0.2]) if task == "classification" else np.zeros(2)
    label = 1.0
    lr = 1e-3
    before_b, before_l, before_head = books_v.copy(), links_v.copy(), head.copy()
    loss = sgd_pass(books_v, links_v, np.array([2], np.int32), np.array([1], np.int32),
                    np.array([label], np.float32), lr, head, task == "classification")
    dense = (tf.constant([[before_head[0]]], tf.float32), tf.constant([before_head[1]], tf.float32)) \
        if task == "classification" else None
    ref_loss, gb, gl, gd = loss_and_gradients(tf.constant(before_b[[2]]), tf.constant(before_l[[1]]),
                                              tf.constant([[label]]), dense)
    np.testing.assert_allclose(books_v[2], before_b[2] - lr * gb.numpy()[0], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(links_v[1], before_l[1] - lr * gl.numpy()[0], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(loss, float(ref_loss), rtol=1e-4)
    other = [0, 1, 3]
    assert np.array_equal(books_v[other], before_b[other]), "only the example's own rows move"
    if task == "classification":
        np.testing.assert_allclose(head, before_head - lr * np.array([float(g.numpy().ravel()[0]) for g in gd]), rtol=1e-4)


def test_numpy_negatives_are_never_true_pairs():
    rng = np.random.default_rng(2)
    keys = np.unique(rng.integers(0, 40 * 30, 500))
    books, links = (keys // 30).astype(np.int32), (keys % 30).astype(np.int32)
    nb, nl = NonPairSampler(books, links, 40, 30).draw(50_000, np.random.default_rng(3))
    assert not np.isin(nb.astype(np.int64) * 30 + nl, keys).any()
    assert len(np.unique(nb)) == 40 and len(np.unique(nl)) == 30


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_lazy_adam_path_learns_and_is_seeded(tiny_path, task):
    """The TensorFlow lazy-Adam trainer: the loss falls, the model holds the trained vectors, a seed repeats."""
    from bookembed.corpus import load_corpus
    from bookembed.training import TrainConfig, train

    c = load_corpus(tiny_path)
    cfg = TrainConfig(optimizer="adam", task=task, epochs=30, batch_size=8, dim=6, heldout_share=0.0, seed=3)
    first = train(c.pair_books, c.pair_links, c.n_books, c.n_links, cfg)
    again = train(c.pair_books, c.pair_links, c.n_books, c.n_links, cfg)
    assert first.history[-1]["loss"] < first.history[0]["loss"]
    np.testing.assert_allclose(first.book_vectors, again.book_vectors, atol=1e-5)
    stored = first.model.get_layer("book_embedding").get_weights()[0]
    np.testing.assert_array_equal(stored, first.book_vectors)
    # books of one cluster end up closer to each other than to another cluster's
    unit = first.book_vectors / np.linalg.norm(first.book_vectors, axis=1, keepdims=True)
    titles = c.books["title"].tolist()
    wp, ak, fr = (titles.index(t) for t in ("War and Peace", "Anna Karenina", "Foundation (Asimov novel)"))
    assert unit[wp] @ unit[ak] > unit[wp] @ unit[fr]
