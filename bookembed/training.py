"""The two-embedding Keras model and a fast, seeded trainer for it.

The model is the seed project's: inputs ``book`` and ``link``, embedding layers
``book_embedding`` and ``link_embedding``, their cosine similarity
(``Dot(normalize=True)``), trained as regression against +1/-1 (MSE) or, as the
classification variant, through ``Dense(1, sigmoid)`` against 1/0 (binary
cross-entropy).

Speed comes from doing a whole chunk of steps inside one ``tf.function``:
positives are sliced from a shuffled index, negatives are drawn in bulk and
redrawn where they hit a true pair (a sorted-key ``searchsorted`` test), and
only the embedding rows a batch touched are updated (a "lazy" Adam over the
``IndexedSlices`` gradients). No Python runs per example or per step.

TensorFlow is imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from bookembed.errors import BookembedError

TASKS = ("regression", "classification")
DEFAULT_LR = {"adam": 0.01, "sgd": 0.05}


@dataclass(frozen=True)
class TrainConfig:
    """Training settings; written into the model folder's manifest.

    Attributes
    ----------
    dim : int
        Length of each vector.
    epochs : int
        Passes over the training pairs.
    batch_size : int or None
        True pairs per step; each step also draws ``negative_ratio`` times as
        many random non-pairs. None picks ``auto_batch_size(n_pairs)``.
    negative_ratio : int
        Negatives per positive.
    task : {"regression", "classification"}
        MSE against +1/-1 on the cosine, or BCE through ``Dense(1, sigmoid)``.
    optimizer : {"sgd", "adam"}
        Per-example SGD in a compiled loop (``kernels.sgd_pass``), or lazy
        Adam in TensorFlow (moments kept per row, updated only for the rows
        a step touches).
    learning_rate : float or None
        Step size; None gives the optimizer's default (``DEFAULT_LR``).
    heldout_share : float
        Share of true pairs kept out of training to measure link-prediction AUC.
    seed : int
        Seeds the initial vectors, the held-out split, shuffling and negatives.
    """

    dim: int = 50
    epochs: int = 15
    batch_size: int | None = None
    negative_ratio: int = 2
    task: str = "regression"
    optimizer: str = "sgd"
    learning_rate: float | None = None
    heldout_share: float = 0.05
    seed: int = 42

    def __post_init__(self) -> None:
        problems = []
        if self.dim < 1:
            problems.append(f"dim must be at least 1, got {self.dim}")
        if self.epochs < 1:
            problems.append(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size is not None and self.batch_size < 1:
            problems.append(f"batch_size must be at least 1, got {self.batch_size}")
        if self.optimizer not in DEFAULT_LR:
            problems.append(f"optimizer must be one of {', '.join(DEFAULT_LR)}, got {self.optimizer!r}")
        if self.negative_ratio < 0:
            problems.append(f"negative_ratio must be 0 or more, got {self.negative_ratio}")
        if self.task not in TASKS:
            problems.append(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if self.learning_rate is None and self.optimizer in DEFAULT_LR:
            object.__setattr__(self, "learning_rate", DEFAULT_LR[self.optimizer])
        if self.learning_rate is not None and not (self.learning_rate > 0):
            problems.append(f"learning_rate must be positive, got {self.learning_rate}")
        if not (0 <= self.heldout_share < 0.5):
            problems.append(f"heldout_share must be in [0, 0.5), got {self.heldout_share}")
        if problems:
            raise BookembedError("; ".join(problems))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Progress:
    """One progress report, sent after every chunk of steps."""

    epoch: int  # 1-based
    epochs: int
    step: int  # steps done in this epoch
    steps: int  # steps per epoch
    loss: float  # mean loss over the chunk
    examples_per_s: float
    elapsed_s: float

    @property
    def fraction(self) -> float:
        return ((self.epoch - 1) * self.steps + self.step) / max(1, self.epochs * self.steps)


@dataclass
class TrainResult:
    """What training produced (the model folder stores all of it)."""

    model: object  # keras.Model
    book_vectors: np.ndarray  # (n_books, dim) float32
    link_vectors: np.ndarray  # (n_links, dim) float32
    heldout: np.ndarray  # (n_pairs,) bool: pairs kept out of training
    history: list[dict] = field(default_factory=list)  # one entry per epoch
    steps: list[dict] = field(default_factory=list)  # one entry per chunk
    seconds: float = 0.0
    examples_per_s: float = 0.0
    batch_size: int = 0


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ start-up chatter before it is first imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # oneDNN speeds up dense matrix kernels, which this model does not use (gathers,
    # scatters, row-wise sums); turning it off also silences its start-up notice.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def build_model(n_books: int, n_links: int, dim: int = 50, task: str = "regression", compile: bool = True):
    """The seed project's model, with explicit sizes.

    Parameters
    ----------
    n_books, n_links : int
        Rows of the ``book_embedding`` and ``link_embedding`` layers.
    dim : int
        Vector length.
    task : {"regression", "classification"}
        Regression outputs the cosine similarity, shape (batch, 1);
        classification adds ``Dense(1, sigmoid)``.

    compile : bool
        Compile with Adam and MSE or binary cross-entropy, as the seed did, so
        ``model.fit`` works. ``train`` uses its own sparse optimizer and leaves
        the model uncompiled, so the saved file carries no optimizer state.

    Returns
    -------
    keras.Model
        Inputs ``book`` and ``link`` (int32, shape (batch,)).
    """
    if task not in TASKS:
        raise BookembedError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    quiet_tensorflow()
    import keras

    book = keras.Input(shape=(), dtype="int32", name="book")
    link = keras.Input(shape=(), dtype="int32", name="link")
    book_vec = keras.layers.Embedding(n_books, dim, name="book_embedding")(book)
    link_vec = keras.layers.Embedding(n_links, dim, name="link_embedding")(link)
    merged = keras.layers.Dot(axes=1, normalize=True, name="dot_product")([book_vec, link_vec])
    if task == "classification":
        out = keras.layers.Dense(1, activation="sigmoid", name="output")(merged)
        loss = "binary_crossentropy"
    else:
        out = merged
        loss = "mse"
    model = keras.Model(inputs=[book, link], outputs=out, name="book_link_embedding")
    if compile:
        model.compile(optimizer="adam", loss=loss)
    return model


def split_heldout(
    pair_books: np.ndarray, pair_links: np.ndarray, share: float, rng: np.random.Generator
) -> np.ndarray:
    """Choose ``share`` of the pairs to hold out, only among pairs whose book
    and link both have other pairs, and so that every book and link keeps at
    least one training pair (which may hold out slightly fewer than ``share``)."""
    heldout = np.zeros(len(pair_books), dtype=bool)
    n_hold = int(round(share * len(pair_books)))
    if n_hold == 0:
        return heldout
    book_deg = np.bincount(pair_books)
    link_deg = np.bincount(pair_links)
    eligible = np.flatnonzero((book_deg[pair_books] >= 2) & (link_deg[pair_links] >= 2))
    if len(eligible) == 0:
        return heldout
    chosen = rng.choice(eligible, size=min(n_hold, len(eligible)), replace=False)
    heldout[chosen] = True
    # Degree >= 2 is not enough when several of a book's (or link's) pairs are
    # chosen: give each id whose pairs were all held out one of them back.
    # Returning a pair only adds training signal, so the link pass cannot undo
    # the book pass.
    for ids in (pair_books, pair_links):
        trained = np.bincount(ids[~heldout], minlength=int(ids.max()) + 1)
        starved = np.flatnonzero(heldout & (trained[ids] == 0))
        _, first = np.unique(ids[starved], return_index=True)
        heldout[starved[first]] = False
    return heldout


def pair_keys(pair_books: np.ndarray, pair_links: np.ndarray, n_links: int) -> np.ndarray:
    """Sorted int64 keys ``book * n_links + link`` of the true pairs."""
    return np.sort(pair_books.astype(np.int64) * n_links + pair_links.astype(np.int64))


# A one-hash Bloom filter of the true pairs: a negative whose bit is set is
# redrawn. Every true pair sets its bit, so no true pair survives as a
# negative; about ``fill`` of the non-pairs are redrawn needlessly, which only
# thins the uniform negative distribution evenly. One memory access per test,
# where a binary search over 800,000 sorted keys costs about twenty.
_HASH_B, _HASH_L = 2654435761, 40503


def pair_bitmap(pair_books: np.ndarray, pair_links: np.ndarray, bits: int | None = None) -> tuple[np.ndarray, int]:
    """Bitmap of hashed true pairs, as int32 words, and its log2 size in bits.

    Sized at about 64 bits per pair (at least 2**16), so about 1.5% of non-pairs hash onto a set bit.
    """
    n = max(1, len(pair_books))
    log_bits = bits or int(min(31, max(16, np.ceil(np.log2(n * 64)))))
    mask = (1 << log_bits) - 1
    h = (pair_books.astype(np.int64) * _HASH_B + pair_links.astype(np.int64) * _HASH_L) & mask
    words = np.zeros((1 << log_bits) // 32, dtype=np.uint32)
    np.bitwise_or.at(words, h >> 5, np.left_shift(np.uint32(1), (h & 31).astype(np.uint32)))
    return words.view(np.int32), log_bits


def maybe_true_pair(words: np.ndarray, log_bits: int, books: np.ndarray, links: np.ndarray) -> np.ndarray:
    """NumPy twin of the trainer's test: True where (book, link) hashes onto a set bit."""
    h = (np.asarray(books, np.int64) * _HASH_B + np.asarray(links, np.int64) * _HASH_L) & ((1 << log_bits) - 1)
    return ((words.view(np.uint32)[h >> 5] >> (h & 31).astype(np.uint32)) & 1).astype(bool)


def negative_sampler(pair_books, pair_links, n_books: int, n_links: int, n: int, gen):
    """A graph-friendly function drawing ``n`` uniform (book, link) pairs that are not true pairs.

    Draws in bulk, then redraws the ones whose bit in ``pair_bitmap`` is set
    until none is (at most 100 rounds; at a 2% hit rate one or two suffice).

    Returns
    -------
    callable
        ``draw() -> (books, links)``, int32 tensors of shape (n,).
    """
    import tensorflow as tf

    words, log_bits = pair_bitmap(np.asarray(pair_books), np.asarray(pair_links))
    t_words = tf.constant(words)
    hash_mask = tf.constant((1 << log_bits) - 1, tf.int64)

    def maybe_pair(b, l):
        h = tf.bitwise.bitwise_and(tf.cast(b, tf.int64) * _HASH_B + tf.cast(l, tf.int64) * _HASH_L, hash_mask)
        word = tf.gather(t_words, tf.cast(tf.bitwise.right_shift(h, tf.constant(5, tf.int64)), tf.int32))
        bit = tf.cast(tf.bitwise.bitwise_and(h, tf.constant(31, tf.int64)), tf.int32)
        return tf.not_equal(tf.bitwise.bitwise_and(tf.bitwise.right_shift(word, bit), 1), 0)

    def draw():
        b = gen.uniform([n], 0, n_books, dtype=tf.int32)
        l = gen.uniform([n], 0, n_links, dtype=tf.int32)

        def cond(b, l, i):
            return tf.logical_and(i < 100, tf.reduce_any(maybe_pair(b, l)))

        def body(b, l, i):
            hit = maybe_pair(b, l)
            b = tf.where(hit, gen.uniform([n], 0, n_books, dtype=tf.int32), b)
            l = tf.where(hit, gen.uniform([n], 0, n_links, dtype=tf.int32), l)
            return b, l, i + 1

        b, l, _ = tf.while_loop(cond, body, (b, l, tf.constant(0)))
        return b, l

    return draw


def auto_batch_size(n_pairs: int) -> int:
    """Positives per step when none is given: about 1% of the pairs, a power of two in [256, 8192].

    Small corpora need many small steps to learn; large ones are learned fine
    in large steps, which run several times faster per example.
    """
    target = max(1, n_pairs // 100)
    return int(min(8192, max(256, 2 ** int(np.round(np.log2(target))))))


def loss_and_gradients(book_rows, link_rows, labels, dense=None):
    """The model's mean loss and the gradients of its summed loss, in closed form.

    Parameters
    ----------
    book_rows, link_rows : tf.Tensor, shape (n, dim)
        Embedding rows of the examples.
    labels : tf.Tensor, shape (n, 1)
        +1/-1 for regression, 1/0 for classification.
    dense : (kernel, bias) or None
        The classification head ``Dense(1, sigmoid)``'s weights, shapes (1, 1)
        and (1,); None for regression.

    Returns
    -------
    loss : tf.Tensor, scalar
        MSE of the cosine against the labels, or binary cross-entropy of
        ``sigmoid(kernel * cosine + bias)``, averaged over the examples.
    grad_book, grad_link : tf.Tensor, shape (n, dim)
        d(sum of per-example losses) / d(rows). SGD moves each row by lr times
        its examples' gradients, whatever the batch size.
    grad_dense : list of tf.Tensor
        Gradients for (kernel, bias); empty for regression.
    """
    import tensorflow as tf

    # Dot(normalize=True) divides by sqrt(max(|x|^2, 1e-12))
    inv_b = tf.math.rsqrt(tf.maximum(tf.reduce_sum(book_rows * book_rows, axis=1, keepdims=True), 1e-12))
    inv_l = tf.math.rsqrt(tf.maximum(tf.reduce_sum(link_rows * link_rows, axis=1, keepdims=True), 1e-12))
    bh, lh = book_rows * inv_b, link_rows * inv_l
    cos = tf.reduce_sum(bh * lh, axis=1, keepdims=True)
    if dense is not None:
        kernel, bias = dense
        z = cos * kernel[0, 0] + bias[0]
        loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=z))
        dz = tf.sigmoid(z) - labels  # d BCE / d logit
        dcos = dz * kernel[0, 0]
        grad_dense = [tf.reshape(tf.reduce_sum(dz * cos), [1, 1]), tf.reshape(tf.reduce_sum(dz), [1])]
    else:
        loss = tf.reduce_mean(tf.square(cos - labels))
        dcos = 2.0 * (cos - labels)
        grad_dense = []
    # d cos / d b = (l^ - cos b^) / |b|, and symmetrically for the link
    grad_b = dcos * (lh - cos * bh) * inv_b
    grad_l = dcos * (bh - cos * lh) * inv_l
    return loss, grad_b, grad_l, grad_dense


def train(
    pair_books: np.ndarray,
    pair_links: np.ndarray,
    n_books: int,
    n_links: int,
    config: TrainConfig = TrainConfig(),
    progress: Callable[[Progress], object] | None = None,
    steps_per_call: int = 25,
) -> TrainResult:
    """Train book and link vectors on (book, link) pairs.

    Each true pair (label +1) is trained with ``negative_ratio`` uniformly
    random (book, link) non-pairs (label -1, or 0 for classification). The
    model's loss and its gradient are computed in closed form
    (``tests/test_gradients.py`` checks them against Keras autodiff on the
    model's own layers), and only the rows involved are updated: by every
    example at once with ``optimizer="sgd"`` (``kernels.sgd_pass``), or by
    each step of ``batch_size`` positives with ``optimizer="adam"``.

    Parameters
    ----------
    pair_books, pair_links : ndarray of int, shape (n_pairs,)
        True pairs (book id, link id), unique.
    n_books, n_links : int
        Vocabulary sizes.
    config : TrainConfig
        Hyperparameters and seed.
    progress : callable, optional
        Called with a ``Progress`` after every ``steps_per_call`` steps.
    steps_per_call : int
        Steps run inside one ``tf.function`` call between progress reports.

    Returns
    -------
    TrainResult
    """
    if len(pair_books) == 0:
        raise BookembedError("no pairs to train on")
    quiet_tensorflow()
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    pair_books = np.asarray(pair_books, dtype=np.int32)
    pair_links = np.asarray(pair_links, dtype=np.int32)
    heldout = split_heldout(pair_books, pair_links, config.heldout_share, rng)
    train_idx = np.flatnonzero(~heldout).astype(np.int32)

    model = build_model(n_books, n_links, config.dim, config.task, compile=False)
    book_var = model.get_layer("book_embedding").embeddings.value
    link_var = model.get_layer("link_embedding").embeddings.value
    classify = config.task == "classification"
    if classify:
        kernel, bias = (w.value for w in model.get_layer("output").trainable_weights)

    batch = int(config.batch_size or auto_batch_size(len(train_idx)))
    n_neg = batch * int(config.negative_ratio)
    neg_label = 0.0 if classify else -1.0
    if config.optimizer == "sgd":
        return _train_sgd(
            model, pair_books, pair_links, n_books, n_links, train_idx, heldout, config, batch, rng, progress,
            steps_per_call,
        )
    # Lazy Adam runs in TensorFlow, a chunk of steps per tf.function call.
    # Every true pair, held-out ones included, is kept out of the negatives.
    t_books = tf.constant(pair_books)
    t_links = tf.constant(pair_links)
    labels = tf.concat([tf.ones([batch]), tf.fill([n_neg], neg_label)], axis=0)[:, None]
    gen = tf.random.Generator.from_seed(config.seed)
    draw_negatives = negative_sampler(pair_books, pair_links, n_books, n_links, n_neg, gen)

    adam = config.optimizer == "adam"
    lr = tf.constant(config.learning_rate, tf.float32)
    b1, b2, eps = 0.9, 0.999, 1e-7
    step_var = tf.Variable(0.0, dtype=tf.float32, trainable=False)
    dense_vars = [kernel, bias] if classify else []
    slots = {
        id(v): (tf.Variable(tf.zeros_like(v), trainable=False), tf.Variable(tf.zeros_like(v), trainable=False))
        for v in [book_var, link_var, *dense_vars]
    }

    def sparse_update(var, rows_idx, grad, lr_t):
        if not adam:  # SGD on the summed loss: each example moves its rows by lr * its gradient
            var.scatter_sub(tf.IndexedSlices(lr * grad, rows_idx))
            return
        # lazy Adam: moments of the rows this step touched, duplicates summed first
        m, v = slots[id(var)]
        rows, where = tf.unique(rows_idx)
        g = tf.math.unsorted_segment_sum(grad, where, tf.shape(rows)[0])
        m_rows = b1 * tf.gather(m, rows) + (1.0 - b1) * g
        v_rows = b2 * tf.gather(v, rows) + (1.0 - b2) * tf.square(g)
        m.scatter_update(tf.IndexedSlices(m_rows, rows))
        v.scatter_update(tf.IndexedSlices(v_rows, rows))
        var.scatter_sub(tf.IndexedSlices(lr_t * m_rows / (tf.sqrt(v_rows) + eps), rows))

    def dense_update(var, grad, lr_t):
        if not adam:
            var.assign_sub(lr * grad)
            return
        m, v = slots[id(var)]
        m.assign(b1 * m + (1.0 - b1) * grad)
        v.assign(b2 * v + (1.0 - b2) * tf.square(grad))
        var.assign_sub(lr_t * m / (tf.sqrt(v) + eps))

    def step(picked):
        neg_b, neg_l = draw_negatives()
        books = tf.concat([tf.gather(t_books, picked), neg_b], axis=0)
        links = tf.concat([tf.gather(t_links, picked), neg_l], axis=0)
        bv = tf.gather(book_var, books)
        lv = tf.gather(link_var, links)
        loss, grad_b, grad_l, grad_dense = loss_and_gradients(
            bv, lv, labels, (kernel, bias) if classify else None
        )
        step_var.assign_add(1.0)
        lr_t = lr * tf.sqrt(1.0 - tf.pow(b2, step_var)) / (1.0 - tf.pow(b1, step_var))
        sparse_update(book_var, books, grad_b, lr_t)
        sparse_update(link_var, links, grad_l, lr_t)
        for var, grad in zip(dense_vars, grad_dense):
            dense_update(var, grad, lr_t)
        return loss

    @tf.function(input_signature=[tf.TensorSpec([None, batch], tf.int32)])
    def run_chunk(chunk):
        total = tf.constant(0.0)
        for i in tf.range(tf.shape(chunk)[0]):
            total += step(chunk[i])
        return total / tf.cast(tf.shape(chunk)[0], tf.float32)

    steps = max(1, math.ceil(len(train_idx) / batch))
    per_step = batch + n_neg
    result = TrainResult(model=model, book_vectors=None, link_vectors=None, heldout=heldout)  # type: ignore[arg-type]
    result.batch_size = batch
    epoch_order = {}

    def prepare_epoch() -> None:
        order = rng.permutation(train_idx)
        pad = steps * batch - len(order)
        if pad:
            order = np.concatenate([order, rng.choice(train_idx, size=pad)])
        epoch_order["steps"] = order.reshape(steps, batch)

    def run_span(first: int, last: int) -> tuple[float, int]:
        return float(run_chunk(tf.constant(epoch_order["steps"][first:last]))), (last - first) * per_step

    _run_epochs(result, config, steps, steps_per_call, progress, prepare_epoch, run_span)
    result.book_vectors = np.asarray(book_var.numpy(), dtype=np.float32)
    result.link_vectors = np.asarray(link_var.numpy(), dtype=np.float32)
    return result


def _run_epochs(result: TrainResult, config: TrainConfig, steps: int, steps_per_call: int, progress,
                prepare_epoch: Callable[[], None], run_span: Callable[[int, int], tuple[float, int]]) -> None:
    """The epoch loop both trainers share: progress reports, per-chunk and per-epoch history, timing.

    ``prepare_epoch()`` shuffles and draws negatives for an epoch; ``run_span(first, last)``
    trains steps ``first`` to ``last - 1`` and returns their mean loss and example count.
    """
    start = time.perf_counter()
    total = 0
    for epoch in range(1, config.epochs + 1):
        epoch_start = time.perf_counter()
        prepare_epoch()
        losses = []
        for first in range(0, steps, steps_per_call):
            last = min(steps, first + steps_per_call)
            t0 = time.perf_counter()
            loss, n = run_span(first, last)
            dt = time.perf_counter() - t0
            losses.append((loss, n))
            report = Progress(
                epoch=epoch,
                epochs=config.epochs,
                step=last,
                steps=steps,
                loss=loss,
                examples_per_s=n / dt if dt > 0 else float("inf"),
                elapsed_s=time.perf_counter() - start,
            )
            result.steps.append(asdict(report))
            if progress is not None:
                progress(report)
        seconds = time.perf_counter() - epoch_start
        n_epoch = sum(n for _, n in losses)
        total += n_epoch
        result.history.append(
            {
                "epoch": epoch,
                "loss": sum(loss * n for loss, n in losses) / max(1, n_epoch),
                "seconds": seconds,
                "examples_per_s": n_epoch / seconds,
            }
        )
    result.seconds = time.perf_counter() - start
    result.examples_per_s = total / result.seconds


def sample_negatives(
    pair_books: np.ndarray, pair_links: np.ndarray, n_books: int, n_links: int, n: int, rng: np.random.Generator,
    bitmap: tuple[np.ndarray, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """NumPy twin of ``negative_sampler``: ``n`` uniform (book, link) pairs whose bit in
    ``pair_bitmap`` is clear, so none of them is a true pair."""
    words, log_bits = bitmap or pair_bitmap(pair_books, pair_links)
    books = rng.integers(0, n_books, n, dtype=np.int32)
    links = rng.integers(0, n_links, n, dtype=np.int32)
    for _ in range(1000):
        hit = maybe_true_pair(words, log_bits, books, links)
        k = int(hit.sum())
        if k == 0:
            return books, links
        books[hit] = rng.integers(0, n_books, k, dtype=np.int32)
        links[hit] = rng.integers(0, n_links, k, dtype=np.int32)
    raise BookembedError("could not draw negatives: nearly every (book, link) pair is a true pair")


def _train_sgd(model, pair_books, pair_links, n_books, n_links, train_idx, heldout, config, batch, rng, progress,
               steps_per_call) -> TrainResult:
    """Per-example SGD through the compiled kernel; the Keras model gets the trained weights.

    A "step" is ``batch`` positives with their negatives; it sets how often
    progress is reported, since every example updates its rows at once.
    """
    from bookembed.kernels import sgd_pass

    classify = config.task == "classification"
    book_layer = model.get_layer("book_embedding")
    link_layer = model.get_layer("link_embedding")
    book_vectors = np.array(book_layer.get_weights()[0], dtype=np.float32)
    link_vectors = np.array(link_layer.get_weights()[0], dtype=np.float32)
    head = np.zeros(2, dtype=np.float64)
    if classify:
        kernel, bias = model.get_layer("output").get_weights()
        head[:] = (float(kernel[0, 0]), float(bias[0]))
    ratio = int(config.negative_ratio)
    per_pos = 1 + ratio
    bitmap = pair_bitmap(pair_books, pair_links)
    neg_label = 0.0 if classify else -1.0
    lr = float(config.learning_rate)
    steps = max(1, math.ceil(len(train_idx) / batch))
    result = TrainResult(model=model, book_vectors=None, link_vectors=None, heldout=heldout)  # type: ignore[arg-type]
    result.batch_size = batch
    epoch_data = {}

    def prepare_epoch() -> None:
        order = rng.permutation(train_idx)
        n = len(order)
        neg_b, neg_l = sample_negatives(pair_books, pair_links, n_books, n_links, n * ratio, rng, bitmap)
        # each positive followed by its own negatives
        books = np.empty((n, per_pos), dtype=np.int32)
        links = np.empty((n, per_pos), dtype=np.int32)
        labels = np.full((n, per_pos), neg_label, dtype=np.float32)
        books[:, 0], links[:, 0], labels[:, 0] = pair_books[order], pair_links[order], 1.0
        books[:, 1:] = neg_b.reshape(n, ratio)
        links[:, 1:] = neg_l.reshape(n, ratio)
        epoch_data.update(n=n, books=books.ravel(), links=links.ravel(), labels=labels.ravel())

    def run_span(first: int, last: int) -> tuple[float, int]:
        a, b = first * batch * per_pos, min(epoch_data["n"], last * batch) * per_pos
        books, links, labels = epoch_data["books"][a:b], epoch_data["links"][a:b], epoch_data["labels"][a:b]
        return float(sgd_pass(book_vectors, link_vectors, books, links, labels, lr, head, classify)), b - a

    _run_epochs(result, config, steps, steps_per_call, progress, prepare_epoch, run_span)
    if not (np.isfinite(book_vectors).all() and np.isfinite(link_vectors).all()):
        raise BookembedError("training diverged (NaN or Inf in the vectors); lower --learning-rate")
    book_layer.set_weights([book_vectors])
    link_layer.set_weights([link_vectors])
    if classify:
        model.get_layer("output").set_weights([np.array([[head[0]]], np.float32), np.array([head[1]], np.float32)])
    result.book_vectors = book_vectors
    result.link_vectors = link_vectors
    return result
