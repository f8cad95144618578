"""``model.keras`` written directly, with json, zipfile and h5py: no TensorFlow, no helper process; and a
model file's outline read back within stated bounds, before Keras is trusted with it (``read_model_outline``).

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
import io
import json
import os
import zipfile
import zlib
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


# ---------------------------------------------------------------- reading a model file's outline, within bounds

CONFIG_MAX_BYTES = 1 << 20
"""``config.json`` (or an ``.h5`` file's ``model_config``): this project's model and the notebook's take a few KB."""
METADATA_MAX_BYTES = 64 << 10
"""``metadata.json``: a version and a date, under 100 bytes."""
OTHER_MAX_BYTES = 1 << 20
"""All other members of a ``.keras`` archive together (assets): the models read here have none."""
MAX_MEMBERS = 64
MAX_LAYERS = 256
MAX_NESTING = 8
SLACK_BYTES = 1 << 20
"""HDF5 bookkeeping beyond the arrays' own bytes (groups and headers, kilobytes for these models), for callers'
limits."""
WEIGHTS_MEMBER = "model.weights.h5"
CONTAINERS = frozenset({"Functional", "Model", "Sequential"})
WEIGHTLESS = frozenset({"InputLayer", "Dot", "Reshape", "Dropout", "Activation"})
"""Layer classes besides ``Embedding`` and ``Dense`` that a model file may hold: those of the article notebook's
model and of this project's, and others without weights that keep each example one vector wide."""


@dataclass(frozen=True)
class ModelOutline:
    """What a Keras model file declares, read without Keras and without reading the weight arrays.

    Attributes
    ----------
    layers : list of (str, str)
        Every layer's name and class, containers' layers included, in file order.
    embeddings : dict of str to (int, int)
        Each ``Embedding`` layer's ``input_dim`` and ``output_dim``.
    build_bytes : int
        An upper bound of the bytes Keras allocates for the layers' variables when it builds the model
        from the config (before any weight is read).
    weight_bytes : int
        Bytes of the stored weight arrays, once read.
    """

    layers: list[tuple[str, str]]
    embeddings: dict[str, tuple[int, int]]
    build_bytes: int
    weight_bytes: int


def read_model_outline(path: str | Path, max_bytes: int, error: type[Exception]) -> ModelOutline:
    """Check a ``.keras`` or ``.h5`` model file within stated bounds, before Keras reads it.

    Keras builds every layer the config names (allocating its variables) and
    then reads the weights; a file of a few MB can declare gigabytes either way
    (a zip member that inflates far beyond its stored size, an ``Embedding`` of
    a billion rows, compressed HDF5 datasets). This reads the config with a hard
    cap on the bytes read, bounds what building it would allocate, and sums the
    stored arrays' sizes from their HDF5 headers, refusing anything past
    ``max_bytes``, in about the time it takes to read the config.

    Parameters
    ----------
    path : path of a ``.keras`` (zip) or ``.h5`` file
    max_bytes : int
        The most the weights may hold, uncompressed, and the most building the layers may allocate:
        the caller's bound of what a legitimate model of the expected size needs.
    error : exception class
        Raised with one line naming the file: damaged or truncated, a member or layer past the limits,
        a layer class outside ``CONTAINERS | WEIGHTLESS | {Embedding, Dense}``, or weights stored outside
        the file (HDF5 external storage, virtual datasets or external links).

    Returns
    -------
    ModelOutline
    """
    path = Path(path)
    if path.suffix.lower() == ".keras":
        return _outline_keras(path, max_bytes, error)
    return _outline_h5(path, max_bytes, error)


def _too_big(path: Path, what: str, size: int, limit: int) -> str:
    return (f"{path}: refused: {what} would take {size:,} bytes uncompressed, more than the {limit:,} a model of "
            "this size can need (a damaged file or a decompression bomb)")


def _damaged(path: Path, what: str) -> str:
    return f"{path}: cannot load the Keras model: the file is damaged or truncated ({what})"


def _outline_keras(path: Path, max_bytes: int, error: type[Exception]) -> ModelOutline:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError):
        raise error(_damaged(path, "not a complete zip archive")) from None
    except OSError as err:
        raise error(f"{path}: cannot read ({err.strerror or err})") from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise error(f"{path}: refused: {len(members):,} archive members, more than the {MAX_MEMBERS} a Keras "
                        "model file holds")
        limits = {"config.json": CONFIG_MAX_BYTES, "metadata.json": METADATA_MAX_BYTES, WEIGHTS_MEMBER: max_bytes}
        other = 0
        for info in members:
            if info.filename in limits:
                if info.file_size > limits[info.filename]:
                    raise error(_too_big(path, info.filename, info.file_size, limits[info.filename]))
            else:
                other += info.file_size
                if other > OTHER_MAX_BYTES:
                    raise error(_too_big(path, "the members besides config.json, metadata.json and "
                                         f"{WEIGHTS_MEMBER}", other, OTHER_MAX_BYTES))
        names = {info.filename for info in members}
        for needed in ("config.json", WEIGHTS_MEMBER):
            if needed not in names:
                raise error(f"{path}: cannot load the Keras model: no {needed} in the archive (this reader takes "
                            "the .keras files Keras 3 writes)")
        config = _parse_config(path, _read_member(archive, path, "config.json", CONFIG_MAX_BYTES, error), error)
        if "metadata.json" in names:
            _read_member(archive, path, "metadata.json", METADATA_MAX_BYTES, error)
        layers, embeddings, build = _walk_config(path, config, error)
        if build > max_bytes:
            raise error(_too_big(path, "building its layers", build, max_bytes))
        info = archive.getinfo(WEIGHTS_MEMBER)
        try:
            with archive.open(info) as member:
                if info.compress_type == zipfile.ZIP_STORED:
                    weight_bytes = _h5_weight_bytes(path, member, max_bytes, error)
                else:  # HDF5 seeks back and forth; a compressed member would be inflated again at each seek
                    data = member.read(max_bytes + 1)
                    if len(data) > max_bytes:
                        raise error(_too_big(path, WEIGHTS_MEMBER, len(data), max_bytes))
                    weight_bytes = _h5_weight_bytes(path, io.BytesIO(data), max_bytes, error)
        except (zipfile.BadZipFile, EOFError, zlib.error):
            raise error(_damaged(path, f"{WEIGHTS_MEMBER} cannot be read back")) from None
    return ModelOutline(layers, embeddings, build, weight_bytes)


def _read_member(archive: zipfile.ZipFile, path: Path, name: str, cap: int, error: type[Exception]) -> bytes:
    """A member's bytes, reading at most ``cap + 1`` whatever its header says."""
    try:
        with archive.open(name) as member:
            data = member.read(cap + 1)
    except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError):
        raise error(_damaged(path, f"{name} cannot be read back")) from None
    if len(data) > cap:
        raise error(_too_big(path, name, len(data), cap))
    return data


def _parse_config(path: Path, raw: bytes | str, error: type[Exception]) -> dict:
    try:
        config = json.loads(raw)
    except (ValueError, RecursionError):
        raise error(_damaged(path, "its model config is not JSON")) from None
    if not isinstance(config, dict):
        raise error(_damaged(path, "its model config is not a JSON object"))
    return config


def _int_field(path: Path, name: str, config: dict, key: str, error: type[Exception]) -> int:
    value = config.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise error(f"{path}: layer {name!r}: {key} must be a positive whole number, got {str(value)[:40]!r}")
    return value


def _elements(shape) -> int:
    """Values per example of a declared input shape (the batch axis and unknown axes aside)."""
    if not isinstance(shape, list):
        return 1
    n = 1
    for axis in shape[1:]:
        if isinstance(axis, int) and not isinstance(axis, bool):
            n *= max(axis, 0)
    return n


def _walk_config(path: Path, config: dict, error: type[Exception]
                 ) -> tuple[list[tuple[str, str]], dict[str, tuple[int, int]], int]:
    """Layers, embedding sizes and an upper bound of the bytes building them allocates.

    Every input is one id per example (the notebook's and this project's models), so every tensor is at most
    as wide as the widest ``Embedding`` or ``Dense``: a ``Dense`` kernel is at most ``(width + 1) x units``.
    """
    layers: list[tuple[str, str]] = []
    embeddings: dict[str, tuple[int, int]] = {}
    dense: list[tuple[int, int]] = []  # (units, bytes per value)
    build = 0

    def visit(entry, depth: int) -> None:
        nonlocal build
        if not isinstance(entry, dict):
            raise error(_damaged(path, "a layer of its model config is not a JSON object"))
        cls = str(entry.get("class_name"))
        cfg = entry.get("config")
        cfg = cfg if isinstance(cfg, dict) else {"layers": cfg} if isinstance(cfg, list) else {}
        name = str(cfg.get("name", entry.get("name", "?")))[:80]
        module = entry.get("module")
        if module is not None and not str(module).startswith("keras"):
            raise error(f"{path}: refused: layer {name!r} comes from module {str(module)[:80]!r}, not from Keras")
        if cls in CONTAINERS:
            if depth >= MAX_NESTING:
                raise error(f"{path}: refused: models nested more than {MAX_NESTING} deep")
            for inner in cfg.get("layers") or []:
                visit(inner, depth + 1)
            return
        layers.append((name, cls))
        if len(layers) > MAX_LAYERS:
            raise error(f"{path}: refused: more than {MAX_LAYERS} layers")
        for key in ("batch_shape", "batch_input_shape"):
            if _elements(cfg.get(key)) > 1:
                raise error(f"{path}: refused: layer {name!r} takes {_elements(cfg.get(key)):,} values per example; "
                            "this reader takes models whose inputs are one id each")
        itemsize = 8 if "64" in json.dumps(cfg.get("dtype")) else 4
        if cls == "Embedding":
            rows, width = (_int_field(path, name, cfg, key, error) for key in ("input_dim", "output_dim"))
            if (cfg.get("input_length") or 1) != 1:
                raise error(f"{path}: refused: layer {name!r} takes {cfg.get('input_length')} ids per example; "
                            "this reader takes models whose inputs are one id each")
            embeddings[name] = (rows, width)
            build += rows * width * itemsize
        elif cls == "Dense":
            dense.append((_int_field(path, name, cfg, "units", error), itemsize))
        elif cls not in WEIGHTLESS:
            raise error(f"{path}: refused: layer {name!r} is a {cls[:80]}; this reader builds models of the layers "
                        f"Embedding, Dense, {', '.join(sorted(WEIGHTLESS))}")

    visit(config, 0)
    width = max([w for _, w in embeddings.values()] + [units for units, _ in dense] + [1])
    build += sum((width + 1) * units * itemsize for units, itemsize in dense)
    return layers, embeddings, build


def _h5_weight_bytes(path: Path, source, max_bytes: int, error: type[Exception]) -> int:
    """Bytes the HDF5 file's datasets hold once read, from their headers; refuses storage outside the file."""
    import h5py

    try:
        with h5py.File(source, "r") as h5:
            return _h5_datasets(path, h5, max_bytes, error)
    except OSError as err:
        raise error(_damaged(path, f"HDF5: {' '.join(str(err).split())[:120]}")) from None


def _h5_datasets(path: Path, h5, max_bytes: int, error: type[Exception]) -> int:
    import h5py

    total = 0
    problem = ""

    def visit(name: str, link) -> bool | None:
        nonlocal total, problem
        if isinstance(link, (h5py.SoftLink, h5py.ExternalLink)):
            problem = f"{name} is a link to {'another file' if isinstance(link, h5py.ExternalLink) else 'elsewhere'}"
            return True  # stops the visit
        obj = h5.get(name)
        if isinstance(obj, h5py.Dataset):
            if obj.is_virtual or obj.external:
                problem = f"dataset {name} is stored outside the file"
                return True
            total += int(obj.size) * int(obj.dtype.itemsize)
        return None

    h5.visititems_links(visit)
    if problem:
        raise error(f"{path}: refused: {problem[:160]}; a model file must hold its own weights")
    if total > max_bytes:
        raise error(_too_big(path, "its weight arrays", total, max_bytes))
    return total


def _outline_h5(path: Path, max_bytes: int, error: type[Exception]) -> ModelOutline:
    import h5py

    try:
        h5 = h5py.File(path, "r")
    except FileNotFoundError:
        raise error(f"{path}: no such model file") from None
    except OSError as err:
        raise error(_damaged(path, f"not a complete HDF5 file: {' '.join(str(err).split())[:120]}")) from None
    with h5:
        weight_bytes = _h5_datasets(path, h5, max_bytes, error)
        raw = h5.attrs.get("model_config")
        if raw is None:  # weights only: nothing for Keras to build
            return ModelOutline([], {}, 0, weight_bytes)
        if isinstance(raw, bytes):
            raw = raw[: CONFIG_MAX_BYTES + 1]
        text = raw if isinstance(raw, (str, bytes)) else str(raw)
        if len(text) > CONFIG_MAX_BYTES:
            raise error(_too_big(path, "its model config", len(text), CONFIG_MAX_BYTES))
    layers, embeddings, build = _walk_config(path, _parse_config(path, text, error), error)
    if build > max_bytes:
        raise error(_too_big(path, "building its layers", build, max_bytes))
    return ModelOutline(layers, embeddings, build, weight_bytes)
