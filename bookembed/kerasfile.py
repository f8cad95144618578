"""``model.keras`` written directly, with json, zipfile and h5py: no TensorFlow, no helper process.

A Keras 3 ``.keras`` file is a zip archive of three stored (uncompressed)
members, which ``keras.saving.load_model`` reads back:

``metadata.json``
    ``{"keras_version": ..., "date_saved": ...}``.
``config.json``
    The functional model's config: one entry a layer, with its class, its
    settings and the tensors that feed it (``inbound_nodes``).
``model.weights.h5``
    One HDF5 group a layer, ``layers/<path>/vars/<i>``, where ``<path>`` is
    the snake-cased class name made unique in the order the model tracks its
    layers (``embedding``, ``embedding_1``, ``dense``) and the group's
    ``name`` attribute is the layer's own name.

``write_keras_file`` writes exactly what ``training.keras_model(...).save``
writes for this project's model (``training.build_model``), which
``tests/test_kerasfile.py`` checks against Keras itself: the same config once
loaded, the same weights and the same predictions. Training therefore never
imports TensorFlow; only reading the file back does (``ModelFolder.keras_model``).

Cost: the vectors are written once into an HDF5 file beside the target and
once more into the archive, ``(n_books + n_links) x dim x 4`` bytes each time;
memory holds no copy beyond the caller's arrays.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import zipfile
from dataclasses import dataclass
from importlib import metadata as _metadata
from pathlib import Path

import numpy as np

TASKS = ("regression", "classification")


def _keras_version() -> str:
    """The installed Keras's version (read from its package metadata, without importing it)."""
    try:
        return _metadata.version("keras")
    except _metadata.PackageNotFoundError:
        return "3.0.0"


def _dtype_policy() -> dict:
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}


def _tensor(layer: str, shape: list) -> dict:
    """A reference to ``layer``'s output, as an inbound node's argument."""
    dtype = "int32" if layer in ("book", "link") else "float32"
    return {"class_name": "__keras_tensor__", "config": {"shape": shape, "dtype": dtype, "keras_history": [layer, 0, 0]}}


def _layer(class_name: str, name: str, config: dict, inbound: list | None, build_shape=None) -> dict:
    entry = {"module": "keras.layers", "class_name": class_name, "config": {"name": name, **config},
             "registered_name": None}
    if build_shape is not None:
        entry["build_config"] = {"input_shape": build_shape}
    entry["name"] = name
    entry["inbound_nodes"] = [] if inbound is None else [{"args": inbound, "kwargs": {}}]
    return entry


def _input(name: str) -> dict:
    return _layer("InputLayer", name, {"batch_shape": [None], "dtype": "int32", "sparse": False, "ragged": False,
                                       "optional": False}, None)


def _embedding(name: str, rows: int, dim: int, source: str) -> dict:
    config = {
        "trainable": True, "dtype": _dtype_policy(), "input_dim": int(rows), "output_dim": int(dim),
        "embeddings_initializer": {"module": "keras.initializers", "class_name": "RandomUniform",
                                   "config": {"seed": None, "minval": -0.05, "maxval": 0.05},
                                   "registered_name": None},
        "embeddings_regularizer": None, "activity_regularizer": None, "embeddings_constraint": None,
        "mask_zero": False, "quantization_config": None,
    }
    return _layer("Embedding", name, config, [_tensor(source, [None])], [None])


def model_config(n_books: int, n_links: int, dim: int, task: str = "regression") -> dict:
    """The config Keras writes for ``training.build_model(n_books, n_links, dim, task, compile=False)``."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    vec = [None, int(dim)]
    layers = [
        _input("book"),
        _input("link"),
        _embedding("book_embedding", n_books, dim, "book"),
        _embedding("link_embedding", n_links, dim, "link"),
        _layer("Dot", "dot_product", {"trainable": True, "dtype": _dtype_policy(), "axes": 1, "normalize": True},
               [[_tensor("book_embedding", vec), _tensor("link_embedding", vec)]], [vec, vec]),
    ]
    output = "dot_product"
    if task == "classification":
        dense = {
            "trainable": True, "dtype": _dtype_policy(), "units": 1, "activation": "sigmoid", "use_bias": True,
            "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform",
                                   "config": {"seed": None, "input_axes": None, "output_axes": None},
                                   "registered_name": None},
            "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {},
                                 "registered_name": None},
            "kernel_regularizer": None, "bias_regularizer": None, "kernel_constraint": None, "bias_constraint": None,
            "quantization_config": None,
        }
        layers.append(_layer("Dense", "output", dense, [_tensor("dot_product", [None, 1])], [None, 1]))
        output = "output"
    return {
        "module": "keras.src.models.functional",
        "class_name": "Functional",
        "config": {"name": "book_link_embedding", "trainable": True, "layers": layers,
                   "input_layers": [["book", 0, 0], ["link", 0, 0]], "output_layers": [output, 0, 0]},
        "registered_name": "Functional",
        "build_config": {"input_shape": None},
        "compile_config": {},
    }


def _write_weights(path: Path, book: np.ndarray, link: np.ndarray, task: str, head: tuple[float, float]) -> None:
    """``model.weights.h5`` as Keras lays it out: a group per layer, its variables numbered in order."""
    import h5py

    groups: list[tuple[str, str, list[np.ndarray]]] = [
        ("input_layer", "book", []),
        ("input_layer_1", "link", []),
        ("embedding", "book_embedding", [book]),
        ("embedding_1", "link_embedding", [link]),
        ("dot", "dot_product", []),
    ]
    if task == "classification":
        groups.append(("dense", "output", [np.array([[head[0]]], np.float32), np.array([head[1]], np.float32)]))
    with h5py.File(path, "w") as h5:
        h5.create_group("vars").attrs["name"] = "book_link_embedding"
        layers = h5.create_group("layers")
        for key, name, weights in sorted(groups):
            holder = layers.create_group(key).create_group("vars")
            holder.attrs["name"] = name
            for i, array in enumerate(weights):
                holder.create_dataset(str(i), data=array)


def write_keras_file(path: str | Path, book_vectors: np.ndarray, link_vectors: np.ndarray,
                     task: str = "regression", head: tuple[float, float] = (0.0, 0.0)) -> Path:
    """Write the Keras model holding these weights to ``path`` (a ``.keras`` file), without Keras.

    Parameters
    ----------
    path : path
        The file to write; its folder must exist. Replaced atomically.
    book_vectors : ndarray, shape (n_books, dim)
    link_vectors : ndarray, shape (n_links, dim)
    task : {"regression", "classification"}
    head : (float, float)
        The classification head's kernel and bias (ignored for regression).

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    book = np.ascontiguousarray(book_vectors, dtype=np.float32)
    link = np.ascontiguousarray(link_vectors, dtype=np.float32)
    if book.ndim != 2 or link.ndim != 2 or book.shape[1] != link.shape[1]:
        raise ValueError(f"book and link vectors must be 2-D with one width, got {book.shape} and {link.shape}")
    config = model_config(book.shape[0], link.shape[0], book.shape[1], task)
    meta = {"keras_version": _keras_version(),
            "date_saved": _dt.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    # Sibling scratch files, opened normally so the umask applies as it does to Keras's own save.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    weights = path.with_name(f".{path.name}.{os.getpid()}.h5")
    try:
        _write_weights(weights, book, link, task, head)
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            archive.writestr("metadata.json", json.dumps(meta))
            archive.writestr("config.json", json.dumps(config))
            archive.write(weights, "model.weights.h5")
        os.replace(tmp, path)
    finally:
        weights.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    return path


@dataclass(frozen=True)
class KerasFile:
    """What ``model.keras`` holds; ``save`` writes it (``store.SaveInputs.model``)."""

    book_vectors: np.ndarray
    link_vectors: np.ndarray
    task: str = "regression"
    head: tuple[float, float] = (0.0, 0.0)

    def save(self, path: str | Path) -> None:
        write_keras_file(path, self.book_vectors, self.link_vectors, self.task, self.head)
