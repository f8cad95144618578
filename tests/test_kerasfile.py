"""model.keras from NumPy weights: Keras's own initializers without TensorFlow, and a writer that needs no Keras."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from bookembed.folderfiles import RECORD
from bookembed.kerasfile import write_keras_file
from bookembed.training import INIT_LIMIT, initial_weights, keras_model


def _weights(path):
    import keras

    model = keras.saving.load_model(path, safe_mode=True)
    out = {name: model.get_layer(name).get_weights()[0] for name in ("book_embedding", "link_embedding")}
    if any(layer.name == "output" for layer in model.layers):
        kernel, bias = model.get_layer("output").get_weights()
        out["head"] = (float(kernel[0, 0]), float(bias[0]))
    return model, out


def test_initial_weights_follow_the_keras_initializers_and_the_seed():
    book, link, head = initial_weights(2000, 700, 16, seed=7)
    assert book.shape == (2000, 16) and link.shape == (700, 16)
    assert book.dtype == link.dtype == np.float32
    for w in (book, link):  # RandomUniform(-0.05, 0.05): inside the bounds, spread over them, centred
        assert np.abs(w).max() < INIT_LIMIT and np.abs(w).max() > 0.99 * INIT_LIMIT
        assert abs(float(w.mean())) < 1e-3 and abs(float(w.std()) - INIT_LIMIT / np.sqrt(3)) < 1e-3
    assert abs(head[0]) <= np.sqrt(3.0) and head[1] == 0.0  # Glorot-uniform 1x1 kernel, zero bias
    again = initial_weights(2000, 700, 16, seed=7)
    assert all(np.array_equal(a, b) for a, b in zip((book, link, head), again))
    other = initial_weights(2000, 700, 16, seed=8)
    assert not np.array_equal(book, other[0])


def test_initial_weights_do_not_move_the_seeds_main_stream():
    """The held-out split and the negatives come from ``default_rng(seed)``, untouched by the start."""
    before = np.random.default_rng(5).random(4)
    initial_weights(50, 30, 4, seed=5)
    assert np.array_equal(np.random.default_rng(5).random(4), before)


@pytest.mark.parametrize("task, head", [("regression", (0.0, 0.0)), ("classification", (1.75, -0.25))])
def test_the_direct_writer_matches_what_keras_saves(tmp_path, task, head):
    """json + zipfile + h5py write the file Keras writes: same config, weights and predictions."""
    import json
    import zipfile

    rng = np.random.default_rng(1)
    book = rng.normal(size=(40, 6)).astype(np.float32)
    link = rng.normal(size=(25, 6)).astype(np.float32)
    write_keras_file(tmp_path / "direct.keras", book, link, task, head)
    keras_model(book, link, task, head).save(tmp_path / "here.keras")

    # the archive itself: the same members in the same order, the same config JSON (bar Keras's
    # in-memory object ids), the same HDF5 groups, names and shapes
    direct_zip, here_zip = zipfile.ZipFile(tmp_path / "direct.keras"), zipfile.ZipFile(tmp_path / "here.keras")
    assert direct_zip.namelist() == here_zip.namelist()

    def no_ids(value):
        if isinstance(value, dict):
            return {k: no_ids(v) for k, v in value.items() if k != "shared_object_id"}
        return [no_ids(v) for v in value] if isinstance(value, list) else value

    assert json.loads(direct_zip.read("config.json")) == no_ids(json.loads(here_zip.read("config.json")))
    assert json.loads(direct_zip.read("metadata.json"))["keras_version"] == json.loads(
        here_zip.read("metadata.json"))["keras_version"]
    assert _h5_layout(direct_zip) == _h5_layout(here_zip)

    direct_model, direct = _weights(tmp_path / "direct.keras")
    here_model, here = _weights(tmp_path / "here.keras")
    assert direct_model.get_config() == here_model.get_config()
    np.testing.assert_array_equal(direct["book_embedding"], book)
    np.testing.assert_array_equal(direct["link_embedding"], link)
    if task == "classification":
        assert direct["head"] == pytest.approx(head) == here["head"]
    # the model computes what it should: cos, through the head when classifying
    pairs = {"book": np.array([0, 3, 39], np.int32), "link": np.array([1, 24, 0], np.int32)}
    out = direct_model.predict(pairs, verbose=0).reshape(-1)
    np.testing.assert_array_equal(out, here_model.predict(pairs, verbose=0).reshape(-1))
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    cos = np.einsum("ij,ij->i", unit(book)[pairs["book"]], unit(link)[pairs["link"]])
    expected = cos if task == "regression" else 1 / (1 + np.exp(-(head[0] * cos + head[1])))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["direct.keras", "here.keras"]  # no scratch left


def _h5_layout(archive) -> list:
    import io

    import h5py

    rows = []
    with h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as h5:
        h5.visititems(lambda name, obj: rows.append((name, dict(obj.attrs), getattr(obj, "shape", None),
                                                     str(getattr(obj, "dtype", "")))))
    return rows


def test_the_direct_writer_needs_no_tensorflow(tmp_path):
    """A fresh process writes model.keras with neither TensorFlow nor Keras imported."""
    code = ("import sys, numpy as np\n"
            "from bookembed.kerasfile import write_keras_file\n"
            f"write_keras_file({str(tmp_path / 'm.keras')!r}, np.ones((3, 2), np.float32), np.ones((4, 2), np.float32))\n"
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    np.testing.assert_array_equal(_weights(tmp_path / "m.keras")[1]["link_embedding"], np.ones((4, 2)))


def test_the_direct_writer_refuses_mismatched_vectors_and_unknown_tasks(tmp_path):
    with pytest.raises(ValueError, match="one width"):
        write_keras_file(tmp_path / "x.keras", np.ones((3, 2)), np.ones((3, 4)))
    with pytest.raises(ValueError, match="task"):
        write_keras_file(tmp_path / "x.keras", np.ones((3, 2)), np.ones((3, 2)), task="ranking")
    assert list(tmp_path.iterdir()) == []


def test_bookembed_train_saves_a_model_keras_holding_the_vectors(tmp_path, tiny_path):
    """A fresh ``bookembed train``: its model.keras, written without Keras, holds the trained vectors."""
    from bookembed.store import load_model_folder, verify_model_folder

    out = tmp_path / "m"
    done = subprocess.run([sys.executable, "-m", "bookembed", "train", "--data", str(tiny_path), "--out", str(out),
                           "--epochs", "2", "--dim", "6", "-q"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    folder = load_model_folder(out)
    np.testing.assert_array_equal(_weights(out / "model.keras")[1]["book_embedding"], folder.book_vectors)
    assert any("model.keras loads" in line for line in verify_model_folder(out))
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".") and p.name != RECORD) == []  # no scratch
