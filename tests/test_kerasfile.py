"""model.keras from NumPy weights: Keras's own initializers without TensorFlow, and the helper process that saves."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from bookembed.kerasfile import KerasFile, KerasFileWriter
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
def test_the_helper_process_writes_the_same_model_as_this_process(tmp_path, task, head):
    rng = np.random.default_rng(1)
    book = rng.normal(size=(40, 6)).astype(np.float32)
    link = rng.normal(size=(25, 6)).astype(np.float32)
    with KerasFileWriter() as writer:
        assert writer.write(tmp_path / "helper.keras", book, link, task, head)
        # a second file through the same process
        assert writer.write(tmp_path / "again.keras", book * 2, link, task, head)
    keras_model(book, link, task, head).save(tmp_path / "here.keras")
    helper_model, helper = _weights(tmp_path / "helper.keras")
    here_model, here = _weights(tmp_path / "here.keras")
    assert helper_model.get_config() == here_model.get_config()
    np.testing.assert_array_equal(helper["book_embedding"], book)
    np.testing.assert_array_equal(helper["link_embedding"], link)
    np.testing.assert_array_equal(_weights(tmp_path / "again.keras")[1]["book_embedding"], book * 2)
    if task == "classification":
        assert helper["head"] == pytest.approx(head) == here["head"]
    # the model computes what it should: cos, through the head when classifying
    pairs = {"book": np.array([0, 3, 39], np.int32), "link": np.array([1, 24, 0], np.int32)}
    out = helper_model.predict(pairs, verbose=0).reshape(-1)
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    cos = np.einsum("ij,ij->i", unit(book)[pairs["book"]], unit(link)[pairs["link"]])
    expected = cos if task == "regression" else 1 / (1 + np.exp(-(head[0] * cos + head[1])))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert list(tmp_path.iterdir()) and not [p for p in tmp_path.iterdir() if p.name.startswith(".keras-")]


def test_a_dead_helper_leaves_the_file_to_this_process(tmp_path):
    rng = np.random.default_rng(2)
    book = rng.normal(size=(10, 4)).astype(np.float32)
    link = rng.normal(size=(8, 4)).astype(np.float32)
    writer = KerasFileWriter()
    writer._proc.kill()  # noqa: SLF001 - the test's own handle on the child it started
    writer._proc.wait()  # noqa: SLF001
    assert writer.write(tmp_path / "x.keras", book, link, "regression", (0.0, 0.0)) is False
    KerasFile(book, link, writer=writer).save(tmp_path / "model.keras")
    np.testing.assert_array_equal(_weights(tmp_path / "model.keras")[1]["book_embedding"], book)
    writer.close()
    assert not (tmp_path / "x.keras").exists()


def test_the_helper_answers_an_error_and_the_caller_writes_instead(tmp_path):
    rng = np.random.default_rng(3)
    book = rng.normal(size=(10, 4)).astype(np.float32)
    with KerasFileWriter() as writer:
        # a folder that does not exist: the child's save fails and it says so
        assert writer.write(tmp_path / "x.keras", book, book, "no such task", (0.0, 0.0)) is False
    assert not (tmp_path / "x.keras").exists()


def test_the_helper_exits_when_its_input_closes():
    proc = subprocess.Popen([sys.executable, "-m", "bookembed.kerasfile"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    proc.stdin.close()
    assert proc.wait(timeout=120) == 0
    assert proc.stdout.read() == b""
    proc.stdout.close()


def test_bookembed_train_saves_through_the_helper_a_model_keras_holding_the_vectors(tmp_path, tiny_path):
    """A fresh process (Keras not yet imported) starts the helper; its model.keras holds the trained vectors."""
    from bookembed.store import load_model_folder, verify_model_folder

    out = tmp_path / "m"
    done = subprocess.run([sys.executable, "-m", "bookembed", "train", "--data", str(tiny_path), "--out", str(out),
                           "--epochs", "2", "--dim", "6", "-q"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    folder = load_model_folder(out)
    np.testing.assert_array_equal(_weights(out / "model.keras")[1]["book_embedding"], folder.book_vectors)
    assert any("model.keras loads" in line for line in verify_model_folder(out))
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []  # no scratch left inside
