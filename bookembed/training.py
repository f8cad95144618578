"""The trainer of the two-embedding model (the Keras model itself is in ``kerasmodel``).

The model is the seed project's: inputs ``book`` and ``link``, embedding layers
``book_embedding`` and ``link_embedding``, their cosine similarity
(``Dot(normalize=True)``), trained as regression against +1/-1 (MSE) or, as the
classification variant, through ``Dense(1, sigmoid)`` against 1/0 (binary
cross-entropy).

``train`` is a short driver: it splits off the held-out pairs, draws the
initial weights (``initial_weights``: Keras's own default initializers, drawn
with NumPy, so training needs no TensorFlow), and hands a ``_Run`` (pairs,
sizes, sampler, batch, progress) to one function per optimizer:

* ``sgd`` (the default): per-example SGD in a compiled loop
  (``kernels.sgd_positions``), each positive followed by its negatives, which
  the loop draws itself as word2vec does; only the two rows of an example
  move. On large corpora it runs lock-free on every core it is given (each
  thread takes a shard of the epoch, draws its negatives and updates the
  shared vectors without locks); with one thread a seed gives the same
  vectors every run.
* ``adam``: lazy Adam in TensorFlow, a chunk of steps per ``tf.function``,
  moments kept per row and updated only for the rows a step touched.

Both draw negatives by ``sampling.NonPairSampler``'s rule (the one evaluation
uses: Adam through the sampler, SGD from its tables inside the kernel) and
compute the loss's gradient in closed form (``loss_and_gradients``, checked against Keras autodiff in the tests). The
trained weights go into the Keras model (``TrainResult.model``, built on first
use by ``kerasmodel.keras_model``), which the model folder saves.

TensorFlow is imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from typing import Callable

import numpy as np

from bookembed.errors import BookembedError
from bookembed.kerasmodel import TASKS, build_model, keras_model, quiet_tensorflow  # noqa: F401  (re-exported)
from bookembed.cores import PARALLEL_MIN_PAIRS, available_cores  # noqa: F401  (re-exported)
from bookembed.positives import INIT_LIMIT, INITS, JOINS, epoch_positives, join_spectral, spectral_start
from bookembed.sampling import NonPairSampler, split_heldout
from bookembed.settings import problems as check_settings, setting

DEFAULT_LR = {"adam": 0.01, "sgd": 0.05}

GOALS = {
    "balanced": {"dim": 50, "epochs": 30, "negative_ratio": 2, "negative_power": 0.75},
    "neighbours": {"dim": 100, "epochs": 60, "negative_ratio": 2, "negative_power": 1.25},
    "links": {"dim": 100, "epochs": 60, "negative_ratio": 3, "negative_power": 0.0},
}
"""What ``TrainConfig.goal`` sets, for each of the four settings left at None ("by goal").

No one setting beat every baseline at once on genre purity@10 and held-out
Hits@10 on every real corpus (``benchmarks/bench_quality.py --levers``;
docs/quality.md). The negatives' power moves one against the other: 0 ranks
held-out links best, 1.25 gives the purest neighbourhoods. "balanced" is the
default, as it was before goals existed."""


PAIR_VISITS = 1_500_000_000
"""Training-pair visits (epochs times training pairs) that epochs set "by goal" may reach.

Past them, a corpus gets fewer epochs, ``PAIR_VISITS // training pairs``,
but never fewer than ``MIN_SIZED_EPOCHS``: so training time stops growing
with the corpus until that floor (about 150 million training pairs), then
grows linearly. With balanced's 30 epochs, every corpus of up to 50 million
training pairs is unchanged (25 million with the goals of 60). Epochs given
by the user are always kept."""
MIN_SIZED_EPOCHS = 10


def _by_goal(name: str) -> str:
    return ", ".join(f"{value} ({goal})" for goal, value in ((g, v[name]) for g, v in GOALS.items())) + "."
@dataclass(frozen=True)
class TrainConfig:
    """Training settings; written into the model folder's manifest.

    Each field declares its help text, bounds and command-line flag next to its
    default (``bookembed.settings``); ``bookembed train``'s flags and the Train
    page's widgets are made from them, and ``__post_init__`` checks them. Why
    some defaults are what they are:

    * ``goal`` "balanced": ``dim``, ``epochs``, ``negative_ratio`` and
      ``negative_power`` are None ("by goal") unless given, and ``GOALS``
      fills them in. "neighbours" and "links" trade genre purity@10 against
      held-out Hits@10 (docs/quality.md); the reasons for balanced's values follow.
    * ``epochs`` 30 (the seed trained 15): on p15 it raised both held-out
      Hits@10 and genre purity@10 (means of 3 seeds, with the negatives below;
      ``benchmarks/bench_quality.py --levers``, docs/quality.md has the figures).
    * ``negative_power`` 0.75: negatives' links are drawn in proportion to
      (books linking to them in training) ** ``negative_power``, as word2vec
      draws its negatives; 0 draws them uniformly, as the seed did. Uniform
      negatives are mostly rare links, so the model learned little more than
      popularity.
    * ``negative_target`` 0 (unrelated) rather than the seed's -1 (opposite):
      in 50 dimensions a book cannot point away from every link it lacks.
      Together with ``negative_power`` 0.75 this raised p15's held-out Hits@10
      and genre purity@10 well above the seed's (``benchmarks/bench_quality.py
      --levers``; docs/quality.md has the figures).
    * ``threads`` None: every available core once the corpus has
      ``PARALLEL_MIN_PAIRS`` training pairs, else one. Results are
      bit-identical for a seed only with one thread.

    ``learning_rate`` None becomes the optimizer's default (``DEFAULT_LR``).
    """

    goal: str = setting(
        "balanced", "What the vectors are for: neighbours (books near a book share its genre), links (rank a "
        "book's missing links) or balanced. Sets the four settings marked 'by goal'; docs/quality.md has the figures.",
        flag="--goal", label="Goal", choices=tuple(GOALS))
    dim: int | None = setting(None, "Length of each vector, for books and links alike. By goal: "
                              + _by_goal("dim"), flag="--dim", label="Vector length", min=1, max=1024, none="by goal")
    epochs: int | None = setting(None, "Passes over the training pairs. By goal: " + _by_goal("epochs")
                                 + f" Fewer for big corpora, so that epochs × training pairs stays within "
                                 f"{PAIR_VISITS:,} (but at least {MIN_SIZED_EPOCHS} epochs).",
                                 flag="--epochs", label="Epochs", min=1, max=1000, none="by goal")
    batch_size: int | None = setting(
        None, "True pairs per step; each step also draws negative-ratio times as many random non-pairs. "
        "Automatic: about 1% of the pairs, a power of two from 256 to 8,192.",
        flag="--batch-size", label="Batch size", min=1, max=1_048_576, step=128, none="automatic")
    negative_ratio: int | None = setting(
        None, "Random non-pairs drawn for each true pair. By goal: " + _by_goal("negative_ratio"),
        flag="--negative-ratio", label="Negatives per positive", min=0, max=50, none="by goal")
    negative_power: float | None = setting(
        None, "Draw negative links in proportion to their frequency to this power "
        "(0: uniform, the seed's; 0.75: word2vec's). By goal: " + _by_goal("negative_power"),
        flag="--negative-power", label="Negative sampling power", min=0.0, max=2.0, step=0.05, advanced=True,
        none="by goal")
    negative_target: float = setting(
        0.0, "Cosine a non-pair is trained towards in regression: 0 (unrelated) or the seed's -1 (opposite). "
        "Classification always labels non-pairs 0.",
        flag="--negative-target", label="Non-pair target cosine", min=-1.0, below=1.0, step=0.1, advanced=True)
    task: str = setting("regression", "regression: the cosine against the pair's target (MSE); "
                        "classification: a sigmoid on the cosine, with binary cross-entropy.",
                        flag="--task", label="Task", choices=TASKS)
    optimizer: str = setting("sgd", "Per-example SGD in a compiled loop, or lazy (row-wise) Adam in TensorFlow.",
                             flag="--optimizer", label="Optimizer", choices=tuple(DEFAULT_LR))
    learning_rate: float | None = setting(
        None, "Step size. The optimizer's default: " + ", ".join(f"{v} for {k}" for k, v in DEFAULT_LR.items()) + ".",
        flag="--learning-rate", label="Learning rate", above=0.0, max=10.0, step=0.001, format="%.4f",
        none="optimizer's default")
    heldout_share: float = setting(0.05, "Share of true pairs kept out of training to measure link prediction "
                                   "(AUC, Hits@10).", flag="--heldout-share", label="Held-out share (for AUC)",
                                   min=0.0, below=0.5, step=0.01)
    seed: int = setting(42, "Seeds the initial vectors, the held-out split, shuffling and negatives.",
                        flag="--seed", label="Seed", min=0, max=2**32 - 1)
    threads: int | None = setting(
        None, f"Threads for SGD, at most the cores available. Automatic: every core once there are "
        f"{PARALLEL_MIN_PAIRS:,} training pairs, else 1; only 1 thread gives bit-identical vectors for a seed.",
        flag="--threads", label="Threads", min=1, none="automatic", advanced=True)
    positive_idf_power: float = setting(
        0.0, "Draw each epoch's positives with chance proportional to idf(link) to this power "
        "(0: every training pair once an epoch).",
        flag="--positive-idf-power", label="Positive idf power", min=0.0, max=4.0, step=0.25, advanced=True)
    second_order_share: float = setting(
        0.0, "Extra positives an epoch, as a share of the training pairs: a book with a link of another "
        "book that shares one of its (rare) links.",
        flag="--second-order-share", label="Second-order positives", min=0.0, max=4.0, step=0.25, advanced=True)
    init: str = setting("random", "Start vectors: random (Keras's initializer) or the TF-IDF SVD of the "
                        "training pairs.", flag="--init", label="Start", choices=INITS, advanced=True)
    join: str = setting("none", "Join the trained vectors with the TF-IDF SVD's (unit rows side by side: "
                        "twice the length).", flag="--join", label="Join", choices=JOINS, advanced=True)

    def __post_init__(self) -> None:
        problems = check_settings(self)
        object.__setattr__(self, "_epochs_by_goal", self.epochs is None)
        for name, value in GOALS.get(self.goal, {}).items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        if self.learning_rate is None and self.optimizer in DEFAULT_LR:
            object.__setattr__(self, "learning_rate", DEFAULT_LR[self.optimizer])
        if problems:
            raise BookembedError("; ".join(problems))

    def to_dict(self) -> dict:
        return asdict(self)

    def sized_for(self, n_train_pairs: int) -> "TrainConfig":
        """This config for a corpus of ``n_train_pairs`` training pairs: epochs set by goal are cut to
        ``PAIR_VISITS`` pair visits (never below ``MIN_SIZED_EPOCHS``); epochs the user gave are kept."""
        if not getattr(self, "_epochs_by_goal", False) or self.epochs * max(int(n_train_pairs), 1) <= PAIR_VISITS:
            return self
        return replace(self, epochs=max(MIN_SIZED_EPOCHS, min(self.epochs, PAIR_VISITS // int(n_train_pairs))))

    def threads_for(self, n_train_pairs: int) -> int:
        """Threads the SGD kernel will use for a corpus of this many training pairs."""
        if self.threads is not None:
            return min(self.threads, available_cores())
        return available_cores() if n_train_pairs >= PARALLEL_MIN_PAIRS else 1


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


@dataclass(frozen=True)
class TrainResult:
    """What training produced (the model folder stores all of it)."""

    book_vectors: np.ndarray  # (n_books, dim) float32
    link_vectors: np.ndarray  # (n_links, dim) float32
    heldout: np.ndarray  # (n_pairs,) bool: pairs kept out of training
    history: list[dict]  # one entry per epoch
    steps: list[dict]  # one entry per chunk of steps
    seconds: float
    examples_per_s: float
    batch_size: int
    threads: int
    task: str = "regression"
    head: tuple[float, float] = (0.0, 0.0)  # the classification head's (kernel, bias); unused for regression
    epochs: int | None = None  # epochs trained (fewer than asked "by goal" for a big corpus: TrainConfig.sized_for)

    @cached_property
    def model(self):
        """The Keras model holding the trained weights (imports TensorFlow on first use)."""
        return keras_model(self.book_vectors, self.link_vectors, self.task, self.head)




def initial_weights(n_books: int, n_links: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The untrained model's weights, drawn with NumPy from Keras's own default initializers.

    Embedding rows are uniform on (-0.05, 0.05); the classification head's
    1x1 kernel is Glorot-uniform (limit sqrt(6 / (1 + 1))) and its bias 0.
    They come from their own stream of ``seed`` (not the one that splits the
    held-out pairs and draws negatives), so a seed gives the same start
    without TensorFlow.

    Returns
    -------
    book_vectors : ndarray, float32, shape (n_books, dim)
    link_vectors : ndarray, float32, shape (n_links, dim)
    head : ndarray, float64, shape (2,)
        (kernel, bias).
    """
    rng = np.random.default_rng([seed, 1])
    book = rng.uniform(-INIT_LIMIT, INIT_LIMIT, (n_books, dim)).astype(np.float32)
    link = rng.uniform(-INIT_LIMIT, INIT_LIMIT, (n_links, dim)).astype(np.float32)
    head = np.array([rng.uniform(-math.sqrt(3.0), math.sqrt(3.0)), 0.0])
    return book, link, head


def negative_weights(train_links: np.ndarray, n_links: int, power: float) -> np.ndarray | None:
    """Each link's relative chance of being a negative: its training count ** ``power``; None for uniform.

    Counts come from the training pairs only, so a held-out pair does not
    change how negatives are drawn.
    """
    if power == 0:
        return None
    counts = np.bincount(np.asarray(train_links, np.int64), minlength=int(n_links)).astype(np.float64)
    if not counts.any():
        return None
    return counts**power


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


# ---------------------------------------------------------------- the driver


@dataclass
class _Run:
    """What an optimizer needs for one training run (plain values)."""

    config: TrainConfig
    pair_books: np.ndarray  # (n_pairs,) int32, every true pair
    pair_links: np.ndarray
    train_idx: np.ndarray  # (n_train,) pairs that train
    book_vectors: np.ndarray  # (n_books, dim) float32, initial, updated in place by SGD
    link_vectors: np.ndarray  # (n_links, dim) float32
    head: np.ndarray  # (2,) float64: the classification head's (kernel, bias)
    sampler: NonPairSampler
    rng: np.random.Generator
    batch: int
    threads: int
    progress: Callable[[Progress], object] | None
    steps_per_call: int

    @property
    def classify(self) -> bool:
        return self.config.task == "classification"

    @property
    def positives(self) -> int:
        """Positives an epoch trains: the training pairs, plus the second-order ones."""
        return len(self.train_idx) + int(round(self.config.second_order_share * len(self.train_idx)))

    @property
    def steps(self) -> int:
        return max(1, math.ceil(self.positives / self.batch))

    def epoch_positives(self) -> tuple[np.ndarray, np.ndarray] | None:
        """This epoch's positives (``positives.epoch_positives``), drawn with ``rng``; None: the training pairs."""
        c = self.config
        return epoch_positives(self.pair_books, self.pair_links, self.train_idx, len(self.book_vectors),
                               len(self.link_vectors), c.positive_idf_power, c.second_order_share, self.rng)

    @property
    def per_positive(self) -> int:
        return 1 + int(self.config.negative_ratio)

    def arrange_epoch(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A shuffled epoch, each positive followed by its own negatives.

        Returns
        -------
        books, links : ndarray of int32, shape (n_train, 1 + negative_ratio)
        labels : ndarray of float32, same shape: 1, then ``negative_target`` (or 0 to classify)
        """
        drawn = self.epoch_positives()
        pair_books, pair_links = (self.pair_books, self.pair_links) if drawn is None else drawn
        order = self.rng.permutation(self.train_idx if drawn is None else len(drawn[0]))
        n, ratio = len(order), int(self.config.negative_ratio)
        neg_b, neg_l = self.sampler.draw(n * ratio, self.rng)
        books = np.empty((n, 1 + ratio), dtype=np.int32)
        links = np.empty((n, 1 + ratio), dtype=np.int32)
        books[:, 0], links[:, 0] = pair_books[order], pair_links[order]
        books[:, 1:] = neg_b.reshape(n, ratio)
        links[:, 1:] = neg_l.reshape(n, ratio)
        return books, links, self.labels

    @cached_property
    def labels(self) -> np.ndarray:
        """Every epoch's labels (the same each epoch), read-only: 1, then ``negative_target`` (or 0) per negative."""
        ratio = int(self.config.negative_ratio)
        labels = np.full((self.positives, 1 + ratio), 0.0 if self.classify else self.config.negative_target,
                         dtype=np.float32)
        labels[:, 0] = 1.0
        labels.flags.writeable = False
        return labels


@dataclass
class _Epochs:
    """What the epoch loop records: per-epoch and per-chunk history, timing."""

    history: list[dict] = field(default_factory=list)
    steps: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    examples: int = 0


def _run_epochs(run: _Run, prepare_epoch: Callable[[], None],
                run_span: Callable[[int, int], tuple[float, int]]) -> _Epochs:
    """The epoch loop both optimizers share: progress reports, history, timing.

    ``prepare_epoch()`` shuffles and draws negatives for an epoch;
    ``run_span(first, last)`` trains steps ``first`` to ``last - 1`` and
    returns their mean loss and example count.
    """
    out = _Epochs()
    start = time.perf_counter()
    config, steps = run.config, run.steps
    for epoch in range(1, config.epochs + 1):
        epoch_start = time.perf_counter()
        prepare_epoch()
        losses = []
        for first in range(0, steps, run.steps_per_call):
            last = min(steps, first + run.steps_per_call)
            t0 = time.perf_counter()
            loss, n = run_span(first, last)
            dt = time.perf_counter() - t0
            losses.append((loss, n))
            report = Progress(epoch=epoch, epochs=config.epochs, step=last, steps=steps, loss=loss,
                              examples_per_s=n / dt if dt > 0 else float("inf"),
                              elapsed_s=time.perf_counter() - start)
            out.steps.append(asdict(report))
            if run.progress is not None:
                run.progress(report)
        seconds = time.perf_counter() - epoch_start
        n_epoch = sum(n for _, n in losses)
        out.examples += n_epoch
        out.history.append({"epoch": epoch, "loss": sum(loss * n for loss, n in losses) / max(1, n_epoch),
                            "seconds": seconds, "examples_per_s": n_epoch / seconds})
    out.seconds = time.perf_counter() - start
    return out


def _train_sgd(run: _Run) -> _Epochs:
    """Per-example SGD through the compiled kernel; updates ``run``'s vectors and head in place.

    A "step" is ``batch`` positives with their negatives; it sets how often
    progress is reported, since every example updates its rows at once.

    An epoch is a shuffle of the training pairs (``kernels.shuffle``) and a
    key for its negatives, both keyed by draws of ``run.rng``; the kernel
    draws each positive's negatives itself, from the key and the positive's
    place in the shuffle (``kernels.sgd_positions``),
    so no epoch is laid out in memory and every thread draws its own shard's
    negatives. The draws do not depend on the number of threads, and with one
    thread a seed gives the same vectors every run.
    """
    from bookembed.kernels import sgd_span, shuffle

    from concurrent.futures import ThreadPoolExecutor

    lr = float(run.config.learning_rate)
    ratio = int(run.config.negative_ratio)
    neg_label = 0.0 if run.classify else float(run.config.negative_target)
    tables = run.sampler.tables()
    epoch: dict = {}
    # The next epoch's shuffle is drawn on a second thread while the kernel
    # trains this one (both release the GIL). Only that thread uses run.rng,
    # one epoch after another.
    ahead = ThreadPoolExecutor(1, thread_name_prefix="bookembed-shuffle")
    left = [run.config.epochs]
    upcoming: list = []

    def shuffled() -> tuple:
        shuffle_key, key = (np.uint64(k) for k in run.rng.integers(0, 2 ** 63, size=2))
        drawn = run.epoch_positives()
        if drawn is None:
            return shuffle(run.train_idx, shuffle_key), key, run.pair_books, run.pair_links
        return shuffle(np.arange(len(drawn[0]), dtype=np.int32), shuffle_key), key, *drawn

    def prepare_epoch() -> None:
        order, key, books, links = (upcoming.pop() if upcoming else ahead.submit(shuffled)).result()
        left[0] -= 1
        if left[0] > 0:
            upcoming.append(ahead.submit(shuffled))
        epoch.update(order=order, key=key, books=books, links=links)

    def run_span(first: int, last: int) -> tuple[float, int]:
        lo, hi = first * run.batch, min(len(epoch["order"]), last * run.batch)
        loss, failed = sgd_span(run.book_vectors, run.link_vectors, epoch["books"], epoch["links"], epoch["order"],
                                lo, hi, ratio, neg_label, epoch["key"], tables, lr, run.head, run.classify,
                                run.threads)
        if failed:
            raise BookembedError("could not draw negatives: nearly every (book, link) pair is a true pair")
        examples = (hi - lo) * (1 + ratio)
        return loss / max(examples, 1), examples

    try:
        return _run_epochs(run, prepare_epoch, run_span)
    finally:
        ahead.shutdown(wait=True, cancel_futures=True)


def _train_adam(run: _Run) -> _Epochs:
    """Lazy Adam in TensorFlow, a chunk of steps per ``tf.function`` call; updates ``run``'s vectors in place."""
    import tensorflow as tf

    b1, b2, eps = 0.9, 0.999, 1e-7
    lr = tf.constant(run.config.learning_rate, tf.float32)
    book_var = tf.Variable(run.book_vectors)
    link_var = tf.Variable(run.link_vectors)
    kernel = tf.Variable(np.array([[run.head[0]]], np.float32))
    bias = tf.Variable(np.array([run.head[1]], np.float32))
    dense_vars = [kernel, bias] if run.classify else []
    step_var = tf.Variable(0.0, dtype=tf.float32, trainable=False)
    slots = {id(v): (tf.Variable(tf.zeros_like(v)), tf.Variable(tf.zeros_like(v))) for v in [book_var, link_var, *dense_vars]}

    def adam_update(var, grad, lr_t, rows=None):
        m, v = slots[id(var)]
        if rows is None:
            m.assign(b1 * m + (1.0 - b1) * grad)
            v.assign(b2 * v + (1.0 - b2) * tf.square(grad))
            var.assign_sub(lr_t * m / (tf.sqrt(v) + eps))
            return
        # lazy: moments of the rows this step touched, duplicates summed first
        unique, where = tf.unique(rows)
        g = tf.math.unsorted_segment_sum(grad, where, tf.shape(unique)[0])
        m_rows = b1 * tf.gather(m, unique) + (1.0 - b1) * g
        v_rows = b2 * tf.gather(v, unique) + (1.0 - b2) * tf.square(g)
        m.scatter_update(tf.IndexedSlices(m_rows, unique))
        v.scatter_update(tf.IndexedSlices(v_rows, unique))
        var.scatter_sub(tf.IndexedSlices(lr_t * m_rows / (tf.sqrt(v_rows) + eps), unique))

    def step(books, links, labels):
        loss, grad_b, grad_l, grad_dense = loss_and_gradients(
            tf.gather(book_var, books), tf.gather(link_var, links), labels[:, None],
            (kernel, bias) if run.classify else None)
        step_var.assign_add(1.0)
        lr_t = lr * tf.sqrt(1.0 - tf.pow(b2, step_var)) / (1.0 - tf.pow(b1, step_var))
        adam_update(book_var, grad_b, lr_t, books)
        adam_update(link_var, grad_l, lr_t, links)
        for var, grad in zip(dense_vars, grad_dense):
            adam_update(var, grad, lr_t)
        return loss

    width = run.batch * run.per_positive
    spec = tf.TensorSpec([None, width], tf.int32)

    @tf.function(input_signature=[spec, spec, tf.TensorSpec([None, width], tf.float32)])
    def run_chunk(books, links, labels):
        total = tf.constant(0.0)
        for i in tf.range(tf.shape(books)[0]):
            total += step(books[i], links[i], labels[i])
        return total / tf.cast(tf.shape(books)[0], tf.float32)

    epoch: dict = {}

    def prepare_epoch() -> None:
        arranged = run.arrange_epoch()
        # Every step has exactly `batch` positives: the last is padded with
        # examples drawn again from this epoch (tf.function wants one shape).
        pad = run.steps * run.batch - len(arranged[0])
        extra = run.rng.integers(0, len(arranged[0]), pad)
        epoch["steps"] = [np.concatenate([a, a[extra]]).reshape(run.steps, width) for a in arranged]

    def run_span(first: int, last: int) -> tuple[float, int]:
        books, links, labels = (tf.constant(a[first:last]) for a in epoch["steps"])
        return float(run_chunk(books, links, labels)), (last - first) * width

    epochs = _run_epochs(run, prepare_epoch, run_span)
    run.book_vectors[:] = book_var.numpy()
    run.link_vectors[:] = link_var.numpy()
    run.head[:] = (float(kernel.numpy()[0, 0]), float(bias.numpy()[0]))
    return epochs


OPTIMIZERS: dict[str, Callable[[_Run], _Epochs]] = {"sgd": _train_sgd, "adam": _train_adam}


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

    Each true pair (label +1) is trained with ``negative_ratio`` random
    (book, link) non-pairs (label -1, or 0 for classification); the
    held-out pairs never train.

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
        Steps between progress reports (and per ``tf.function`` call for Adam).

    Returns
    -------
    TrainResult
    """
    # 1. inputs and the held-out split
    if len(pair_books) == 0:
        raise BookembedError("no pairs to train on")
    rng = np.random.default_rng(config.seed)
    pair_books = np.asarray(pair_books, dtype=np.int32)
    pair_links = np.asarray(pair_links, dtype=np.int32)
    heldout = split_heldout(pair_books, pair_links, config.heldout_share, rng)
    train_idx = np.flatnonzero(~heldout).astype(np.int32)
    config = config.sized_for(len(train_idx))

    # 2. the untrained model's weights, which the optimizers start from
    book_vectors, link_vectors, head = initial_weights(n_books, n_links, config.dim, config.seed)
    if config.init == "svd-tfidf":
        book_vectors, link_vectors = spectral_start(pair_books, pair_links, train_idx, n_books, n_links,
                                                    book_vectors, link_vectors, config.seed)

    # 3. train
    run = _Run(
        config=config, pair_books=pair_books, pair_links=pair_links, train_idx=train_idx,
        book_vectors=book_vectors, link_vectors=link_vectors, head=head,
        # every true pair, held-out ones included, is kept out of the negatives
        sampler=NonPairSampler(pair_books, pair_links, n_books, n_links,
                               link_weights=negative_weights(pair_links[train_idx], n_links, config.negative_power)),
        rng=rng, batch=int(config.batch_size or auto_batch_size(len(train_idx))),
        threads=config.threads_for(len(train_idx)) if config.optimizer == "sgd" else 1,
        progress=progress, steps_per_call=steps_per_call,
    )
    epochs = OPTIMIZERS[config.optimizer](run)

    # 4. the result (its Keras model is built when first asked for)
    if not (np.isfinite(run.book_vectors).all() and np.isfinite(run.link_vectors).all()):
        raise BookembedError("training diverged (NaN or Inf in the vectors); lower --learning-rate")
    books, links = run.book_vectors, run.link_vectors
    if config.join == "svd-tfidf":
        books, links = join_spectral(books, links, pair_books, pair_links, train_idx, config.seed)
    return TrainResult(
        book_vectors=books, link_vectors=links, heldout=heldout,
        history=epochs.history, steps=epochs.steps, seconds=epochs.seconds,
        examples_per_s=epochs.examples / max(epochs.seconds, 1e-9), batch_size=run.batch, threads=run.threads,
        task=config.task, head=(float(run.head[0]), float(run.head[1])), epochs=config.epochs,
    )
