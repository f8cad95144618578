"""The two-embedding Keras model: built with explicit sizes, or holding trained weights.

The seed project's model: inputs ``book`` and ``link``, embedding layers
``book_embedding`` and ``link_embedding``, their cosine similarity
(``Dot(normalize=True)``), and for classification ``Dense(1, sigmoid)``.
Training (``training``) needs no TensorFlow; this module is what the model
folder (``store``), the importer and ``TrainResult.model`` use to build or
load the Keras model. TensorFlow is imported inside the functions, so
importing this module is cheap.
"""

from __future__ import annotations

import os

import numpy as np

from bookembed.errors import BookembedError

TASKS = ("regression", "classification")


def keras_model(book_vectors: np.ndarray, link_vectors: np.ndarray, task: str = "regression",
                head=(0.0, 0.0)):
    """``build_model`` (uncompiled) holding these weights.

    Parameters
    ----------
    book_vectors : ndarray, shape (n_books, dim)
    link_vectors : ndarray, shape (n_links, dim)
    task : {"regression", "classification"}
    head : (float, float)
        The classification head's kernel and bias.

    Returns
    -------
    keras.Model
    """
    book_vectors = np.asarray(book_vectors, dtype=np.float32)
    link_vectors = np.asarray(link_vectors, dtype=np.float32)
    model = build_model(book_vectors.shape[0], link_vectors.shape[0], book_vectors.shape[1], task, compile=False)
    model.get_layer("book_embedding").set_weights([book_vectors])
    model.get_layer("link_embedding").set_weights([link_vectors])
    if task == "classification":
        model.get_layer("output").set_weights([np.array([[head[0]]], np.float32), np.array([head[1]], np.float32)])
    return model


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
