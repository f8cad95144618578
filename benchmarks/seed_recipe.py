"""The seed project's training recipe, rebuilt as the baseline for the benchmarks.

A Python generator takes ``n_positive`` random true pairs and draws
``negative_ratio`` times as many negatives one at a time, rejecting true pairs
with a set lookup; the model (``Input(shape=[1])`` per side, 50-d embeddings,
``Dot(normalize=True)``, ``Reshape``) is compiled with Adam and MSE and fed by
``model.fit`` for ``len(pairs) // n_positive`` steps an epoch.
"""

from __future__ import annotations

import random

import numpy as np


def seed_model(n_books: int, n_links: int, dim: int = 50):
    import keras

    book = keras.Input(shape=[1], name="book")
    link = keras.Input(shape=[1], name="link")
    book_embedding = keras.layers.Embedding(n_books, dim, name="book_embedding")(book)
    link_embedding = keras.layers.Embedding(n_links, dim, name="link_embedding")(link)
    merged = keras.layers.Dot(normalize=True, axes=2, name="dot_product")([book_embedding, link_embedding])
    merged = keras.layers.Reshape(target_shape=[1])(merged)
    model = keras.Model(inputs=[book, link], outputs=merged)
    model.compile(optimizer="Adam", loss="mse")
    return model


def generate_batch(pairs, pairs_set, n_books, n_links, n_positive=1024, negative_ratio=2, seed=100):
    """The seed's generator, unchanged in substance."""
    rng = random.Random(seed)
    batch_size = n_positive * (1 + negative_ratio)
    batch = np.zeros((batch_size, 3))
    nprng = np.random.default_rng(seed)
    while True:
        for idx, (book_id, link_id) in enumerate(rng.sample(pairs, n_positive)):
            batch[idx, :] = (book_id, link_id, 1)
        idx += 1
        while idx < batch_size:
            random_book = rng.randrange(n_books)
            random_link = rng.randrange(n_links)
            if (random_book, random_link) not in pairs_set:
                batch[idx, :] = (random_book, random_link, -1)
                idx += 1
        nprng.shuffle(batch)
        yield (batch[:, 0], batch[:, 1]), batch[:, 2]


def train_seed(pair_books, pair_links, n_books, n_links, train_mask=None, epochs=15, steps=None, seed=100, dim=50):
    """Train with the seed's recipe; returns (book_vectors, link_vectors, examples, seconds).

    ``train_mask`` selects the pairs used as positives (held-out pairs are
    still rejected as negatives, as in ours). ``steps`` caps the steps per
    epoch (for a throughput measurement).
    """
    import time

    import keras

    keras.utils.set_random_seed(seed)
    all_pairs = list(zip(pair_books.tolist(), pair_links.tolist()))
    pairs_set = set(all_pairs)
    mask = np.ones(len(all_pairs), dtype=bool) if train_mask is None else train_mask
    pairs = [p for p, m in zip(all_pairs, mask) if m]
    model = seed_model(n_books, n_links, dim)
    gen = generate_batch(pairs, pairs_set, n_books, n_links, 1024, 2, seed)
    steps_per_epoch = steps or max(1, len(pairs) // 1024)
    # one step outside the clock, so graph tracing is not counted
    x, y = next(gen)
    model.train_on_batch(x, y)
    start = time.perf_counter()
    model.fit(gen, epochs=epochs, steps_per_epoch=steps_per_epoch, verbose=0)
    seconds = time.perf_counter() - start
    examples = epochs * steps_per_epoch * 1024 * 3
    books = model.get_layer("book_embedding").get_weights()[0]
    links = model.get_layer("link_embedding").get_weights()[0]
    return books, links, examples, seconds
