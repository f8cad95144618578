"""Importing what users bring: the article notebook's Keras model, and Projector exports."""

from __future__ import annotations

import json
from collections import Counter, OrderedDict
from itertools import chain
from pathlib import Path

import numpy as np
import pytest

from bookembed import importer
from bookembed.errors import BookembedError, ModelFolderError
from bookembed.importer import ImportModelError, import_keras, import_projector, notebook_vocabulary
from bookembed.store import load_model_folder, verify_model_folder
from conftest import TINY_BOOKS, assert_one_line_error, make_fake_model, record, run_cli, write_ndjson

DIM = 6


def notebook_indexes(records: list) -> tuple[dict, dict]:
    """``book_index`` and ``link_index`` exactly as the article's notebook computes them (in this process)."""
    books = [book for book in records if "Wikipedia:" not in book[0]]
    book_index = {book[0]: idx for idx, book in enumerate(books)}
    unique = list(chain(*[list(set(book[2])) for book in books]))
    wikilinks = [link.lower() for link in unique]
    counts = OrderedDict(sorted(Counter(wikilinks).items(), key=lambda x: x[1], reverse=True))
    for t in importer.NOTEBOOK_REMOVED_LINKS:
        counts.pop(t, None)
    links = [t[0] for t in counts.items() if t[1] >= 4]
    return book_index, {link: idx for idx, link in enumerate(links)}


def notebook_model(n_books: int, n_links: int, dim: int = DIM, seed: int = 0):
    """The notebook's model (regression head), with known random weights."""
    import keras
    from keras.layers import Dot, Embedding, Input, Reshape

    book = Input(name="book", shape=(1,))
    link = Input(name="link", shape=(1,))
    b = Embedding(name="book_embedding", input_dim=n_books, output_dim=dim)(book)
    l = Embedding(name="link_embedding", input_dim=n_links, output_dim=dim)(link)
    merged = Reshape(target_shape=[1])(Dot(name="dot_product", normalize=True, axes=2)([b, l]))
    model = keras.Model(inputs=[book, link], outputs=merged)
    rng = np.random.default_rng(seed)
    weights = {name: rng.normal(size=(n, dim)).astype(np.float32)
               for name, n in (("book_embedding", n_books), ("link_embedding", n_links))}
    for name, w in weights.items():
        model.get_layer(name).set_weights([w])
    return model, weights


# Records whose link order the notebook's rule fixes: no two links of equal count first appear in
# the same book (each link's count is distinct, or it first appears in a book of its own).
UNTIED = [
    record("Alpha", ["Common", "Shared A"]),
    record("Beta", ["Common", "Shared A", "Shared B", "Paperback"]),
    record("Gamma", ["common", "Shared A", "Shared B", "Paperback"]),
    record("Delta", ["Common", "Shared A", "Shared B", "Paperback", "Rare"]),
    record("Wikipedia:Sandbox", ["Common", "Shared A", "Shared B"]),
    record("Epsilon", ["Common", "Shared B", "paperback", "Hardcover"]),
    record("Zeta", ["Common", "Rare", "Hardcover"]),
]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A notebook model of the tiny records (links tied) and of the untied records, as .keras and .h5."""
    base = tmp_path_factory.mktemp("import")
    out = {}
    for name, rows in (("tiny", TINY_BOOKS), ("untied", UNTIED)):
        data = write_ndjson(base / f"{name}.ndjson", rows)
        book_index, link_index = notebook_indexes(rows)
        model, weights = notebook_model(len(book_index), len(link_index))
        model.save(base / f"{name}.keras")
        model.save(base / f"{name}.h5")
        out[name] = (data, base / f"{name}.keras", base / f"{name}.h5", book_index, link_index, weights)
    return out


def test_the_rule_reproduces_the_notebook_where_it_is_determined(saved):
    data, *_, book_index, link_index, _ = saved["untied"]
    vocab = notebook_vocabulary(data)
    assert vocab.titles == list(book_index) and vocab.link_order_known
    assert vocab.links == list(link_index)
    assert vocab.links[0] == "common" and "paperback" not in vocab.links and "hardcover" not in vocab.links


def test_ties_from_a_set_are_reported_not_guessed(saved):
    data, *_, book_index, link_index, _ = saved["tiny"]
    vocab = notebook_vocabulary(data)
    assert vocab.titles == list(book_index)
    assert sorted(vocab.links) == sorted(link_index)
    assert not vocab.link_order_known
    # every tie is a group of links with the same count, first seen in the same book
    for group in vocab.tied:
        assert len({vocab.counts[vocab.links.index(l)] for l in group}) == 1
    assert "leo tolstoy" in set(chain(*vocab.tied))


@pytest.mark.parametrize("kind", ["keras", "h5"])
def test_untied_records_import_books_and_links_by_name(saved, tmp_path, kind):
    data, keras_file, h5_file, book_index, link_index, weights = saved["untied"]
    result = import_keras(keras_file if kind == "keras" else h5_file, data, tmp_path / "m")
    model = load_model_folder(result.path)
    assert result.link_vectors and model.has_link_vectors
    for title, row in book_index.items():
        np.testing.assert_array_equal(model.book_vectors[model.title_index[title]], weights["book_embedding"][row])
    for link, row in link_index.items():
        np.testing.assert_array_equal(model.link_vectors[model.link_index[link]], weights["link_embedding"][row])
    # pairs: each book's kept links, once
    assert set(model.links[j] for j in model.book_links(model.title_index["Epsilon"])) == {"common", "shared b"}
    lines = verify_model_folder(result.path)
    assert any("model.keras loads" in line for line in lines)


def test_h5_read_as_plain_data_when_keras_cannot_rebuild_it(saved, tmp_path, monkeypatch):
    data, _, h5_file, book_index, link_index, weights = saved["untied"]

    def refuse(path):
        raise ValueError("an old Keras 2 config")

    monkeypatch.setattr(importer, "_layer_weights_keras", refuse)
    result = import_keras(h5_file, data, tmp_path / "m")
    model = load_model_folder(result.path)
    assert model.manifest["data"]["read_with"] == "h5py (weights only)"
    assert not (result.path / "model.keras").exists()
    for link, row in link_index.items():
        np.testing.assert_array_equal(model.link_vectors[model.link_index[link]], weights["link_embedding"][row])


def test_tied_records_import_book_vectors_only_and_link_views_say_so(saved, tmp_path):
    data, keras_file, _, book_index, _, weights = saved["tiny"]
    result = import_keras(keras_file, data, tmp_path / "models" / "m")
    assert not result.link_vectors and "link vectors not imported" in result.lines()[1]
    model = load_model_folder(result.path)
    assert not model.has_link_vectors and model.n_links == len(notebook_vocabulary(data).links)
    for title, row in book_index.items():
        np.testing.assert_array_equal(model.book_vectors[model.title_index[title]], weights["book_embedding"][row])
    with pytest.raises(ModelFolderError, match="no link vectors .* link views are unavailable"):
        model.unit_vectors("link")
    from bookembed.neighbors import similar_books

    assert similar_books(model, "War and Peace", 3)["title"].iloc[0] != "War and Peace"  # book views work
    for args in (["neighbors", "War and Peace", "--links"], ["neighbors", "leo tolstoy", "--link-books"],
                 ["export", "--what", "links", "--out", str(tmp_path / "x")]):
        assert_one_line_error(run_cli(*args, "--model", result.path, cwd=tmp_path), "no link vectors")
    assert run_cli("evaluate", "--model", result.path, cwd=tmp_path).returncode == 0
    assert run_cli("info", "--model", result.path, "--verify", cwd=tmp_path).returncode == 0


def test_a_link_order_file_imports_the_tied_links(saved, tmp_path):
    data, keras_file, _, _, link_index, weights = saved["tiny"]
    order = tmp_path / "links.txt"
    order.write_text("\n".join(link_index) + "\n", encoding="utf-8")  # the notebook's `links`, this run's order
    result = import_keras(keras_file, data, tmp_path / "m", link_order=order)
    model = load_model_folder(result.path)
    assert model.has_link_vectors
    for link, row in link_index.items():
        np.testing.assert_array_equal(model.link_vectors[model.link_index[link]], weights["link_embedding"][row])


def test_a_link_order_the_notebook_could_not_produce_is_refused(saved, tmp_path):
    data, keras_file, *_ = saved["tiny"]
    links = notebook_vocabulary(data).links
    order = tmp_path / "links.txt"
    order.write_text("\n".join(reversed(links)) + "\n", encoding="utf-8")
    with pytest.raises(ImportModelError, match=r"line \d+ of .*links\.txt: .* cannot follow"):
        import_keras(keras_file, data, tmp_path / "m", link_order=order)
    order.write_text("\n".join(links[:-1] + ["not a kept link"]) + "\n", encoding="utf-8")
    with pytest.raises(ImportModelError, match=f"line {len(links)} of .*'not a kept link' is not among"):
        import_keras(keras_file, data, tmp_path / "m", link_order=order)
    assert not (tmp_path / "m").exists()


def test_layer_sizes_that_do_not_match_the_records_give_one_line(saved, tmp_path):
    data, *_ = saved["untied"]
    _, keras_file, *_ = saved["tiny"]
    with pytest.raises(ImportModelError, match=r"layer book_embedding has 12 rows but .*untied\.ndjson holds 6 books"):
        import_keras(keras_file, data, tmp_path / "m")
    proc = run_cli("import", "--keras", keras_file, "--data", data, "--out", tmp_path / "m", cwd=tmp_path)
    assert_one_line_error(proc, "book_embedding has 12 rows")
    assert not (tmp_path / "m").exists()


def test_a_model_without_the_layers_is_refused(tmp_path):
    import keras

    inp = keras.Input(shape=(1,), name="x")
    keras.Model(inp, keras.layers.Dense(1, name="dense")(inp)).save(tmp_path / "other.keras")
    data = write_ndjson(tmp_path / "r.ndjson", UNTIED)
    with pytest.raises(ImportModelError, match="no layer named 'book_embedding'"):
        import_keras(tmp_path / "other.keras", data, tmp_path / "m")
    (tmp_path / "junk.keras").write_bytes(b"not a zip")
    proc = run_cli("import", "--keras", tmp_path / "junk.keras", "--data", data, "--out", tmp_path / "m",
                   cwd=tmp_path)
    assert_one_line_error(proc, "junk.keras", "cannot load the Keras model")


def test_the_cli_imports_and_refuses_to_overwrite(saved, tmp_path):
    data, keras_file, *_ = saved["untied"]
    out = tmp_path / "models" / "nb"
    proc = run_cli("import", "--keras", keras_file, "--data", data, "--out", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "imported 6 books" in proc.stdout and "book and link vectors" in proc.stdout
    again = run_cli("import", "--keras", keras_file, "--data", data, "--out", out, cwd=tmp_path)
    assert_one_line_error(again, str(out), "--overwrite")
    assert run_cli("import", "--keras", keras_file, "--data", data, "--out", out, "--overwrite",
                   cwd=tmp_path).returncode == 0


def test_bad_records_name_the_file_and_line(saved, tmp_path):
    _, keras_file, *_ = saved["untied"]
    bad = tmp_path / "bad.ndjson"
    bad.write_text(json.dumps(UNTIED[0]) + "\n" + "[" * 100_000 + "\n", encoding="utf-8")
    with pytest.raises(ImportModelError, match=r"line 2 of .*bad\.ndjson"):
        import_keras(keras_file, bad, tmp_path / "m")
    bad.write_text(json.dumps(UNTIED[0]) + "\n" + json.dumps(UNTIED[0]) + "\n", encoding="utf-8")
    with pytest.raises(ImportModelError, match=r"line 2 of .*'Alpha' repeats line 1"):
        import_keras(keras_file, bad, tmp_path / "m")


# ---------------------------------------------------------------- Projector exports


def test_our_own_projector_export_comes_back(tmp_path):
    from bookembed.projector import clean_value, projector_files

    source = load_model_folder(make_fake_model(tmp_path / "models" / "fake"))
    files = projector_files(source)
    (tmp_path / "vectors.tsv").write_bytes(files["vectors.tsv"])
    (tmp_path / "metadata.tsv").write_bytes(files["metadata.tsv"])
    result = import_projector(tmp_path / "vectors.tsv", tmp_path / "metadata.tsv", tmp_path / "models" / "back")
    model = load_model_folder(result.path)
    np.testing.assert_array_equal(model.book_vectors, source.book_vectors)
    assert model.titles == [clean_value(t) for t in source.titles]
    assert model.books["author"].tolist() == source.books["author"].tolist()
    assert model.books["year"].tolist() == source.books["year"].tolist()
    assert str(model.books["year"].dtype) == "Int64"
    assert model.n_links == 0 and not model.has_link_vectors
    with pytest.raises(BookembedError, match="Projector export, which holds no links"):
        model.unit_vectors("link")


def test_another_tools_single_column_export(tmp_path):
    (tmp_path / "v.tsv").write_text("0.1\t0.2\t0.3\n\n1\t2\t3\n-1\t0\t0.5\n", encoding="utf-8")
    (tmp_path / "m.tsv").write_text("apple\nbanana\ncherry\n", encoding="utf-8")  # no tab: no header
    model = load_model_folder(import_projector(tmp_path / "v.tsv", tmp_path / "m.tsv", tmp_path / "x").path)
    assert model.titles == ["apple", "banana", "cherry"] and model.book_vectors.shape == (3, 3)


@pytest.mark.parametrize(
    "vectors, metadata, expected",
    [
        ("1\t2\n3\t4\n", "a\n", r"m\.tsv: 1 metadata rows for 2 vectors"),
        ("1\t2\n3\tx\n", "a\nb\n", r"line 2 of .*v\.tsv: 'x' is not a number"),
        ("1\t2\n3\n", "a\nb\n", r"line 2 of .*v\.tsv: 1 numbers where the first row has 2"),
        ("1\t2\nnan\t4\n", "a\nb\n", r"line 2 of .*v\.tsv: NaN"),
        ("1\t2\n3\t4\n", "a\na\n", r"line 2 of .*m\.tsv: title 'a' repeats line 1"),
        ("1\t2\n3\t4\n", "title\tyear\na\t1\nb\n", r"line 3 of .*m\.tsv: 1 fields where the header has 2"),
    ],
)
def test_bad_projector_files_give_one_line(tmp_path, vectors, metadata, expected):
    (tmp_path / "v.tsv").write_text(vectors, encoding="utf-8")
    (tmp_path / "m.tsv").write_text(metadata, encoding="utf-8")
    with pytest.raises(ImportModelError, match=expected) as info:
        import_projector(tmp_path / "v.tsv", tmp_path / "m.tsv", tmp_path / "x")
    assert "\n" not in str(info.value) and not (tmp_path / "x").exists()
    proc = run_cli("import", "--vectors", tmp_path / "v.tsv", "--metadata", tmp_path / "m.tsv", "--out",
                   tmp_path / "x", cwd=tmp_path)
    assert_one_line_error(proc)


# ---------------------------------------------------------------- the Train page's import section


def _import_button(at):
    return [b for b in at.button if b.label == "Import"][0]


def _uploader(at, key):
    return [u for u in at.file_uploader if u.key == key][0]


def test_train_page_imports_a_projector_export_and_link_search_says_unavailable(tmp_path, monkeypatch):
    from test_app_pages import app, ok, page, plain

    root = tmp_path / "models"
    root.mkdir()
    monkeypatch.setenv("BOOKEMBED_MODELS_DIR", str(root))
    at = ok(app().run())
    page(at, "train")
    [t for t in at.text_input if t.key == "import_name"][0].input("projected")
    at.radio(key="import_kind").set_value("projector")
    _uploader(at, "import_vectors").set_value(("my vectors.tsv", b"1\t0\n0\t1\n0.5\t0.5\n", "text/plain"))
    _uploader(at, "import_metadata").set_value(("my metadata.tsv", b"title\tgenre\nA\tFantasy\nB\tFantasy\nC\tx\n",
                                                "text/plain"))
    ok(_import_button(at).click().run())
    assert not at.error, [plain(e.value) for e in at.error]
    assert at.selectbox(key="model").value == "projected"
    assert any("imported 3 books" in plain(s.value) for s in at.success)
    page(at, "search")
    at.radio(key="mode").set_value("Links").run()
    assert any("Link searches are unavailable" in plain(i.value) for i in at.info)
    page(at, "export")
    assert at.radio(key="export_what").options == ["books"]
    page(at, "map")


def test_train_page_import_errors_name_the_users_file_not_the_servers(tmp_path, monkeypatch):
    from test_app_pages import app, ok, page, plain

    root = tmp_path / "models"
    root.mkdir()
    monkeypatch.setenv("BOOKEMBED_MODELS_DIR", str(root))
    at = ok(app().run())
    page(at, "train")
    at.radio(key="import_kind").set_value("projector")
    _uploader(at, "import_vectors").set_value(("my vectors.tsv", b"1\t0\n0\tnope\n", "text/plain"))
    _uploader(at, "import_metadata").set_value(("meta.tsv", b"a\nb\n", "text/plain"))
    ok(_import_button(at).click().run())
    message = plain(at.error[0].value)
    assert "line 2 of my vectors.tsv" in message and "bookembed-import" not in message and "/tmp" not in message
    assert list(root.iterdir()) == []


def test_training_upload_errors_name_the_users_file(tmp_path, monkeypatch):
    from test_app_pages import app, ok, page, plain, run_until

    root = tmp_path / "models"
    root.mkdir()
    monkeypatch.setenv("BOOKEMBED_MODELS_DIR", str(root))
    at = ok(app().run())
    page(at, "train")
    at.radio[0].set_value("upload").run()
    at.file_uploader[0].set_value(("my books (v2).ndjson", b'["only a title"]\n', "application/json"))
    ok([b for b in at.button if b.label == "Train"][0].click().run())
    run_until(at, lambda a: bool(a.error))
    message = plain(at.error[0].value)
    assert "my books (v2).ndjson" in message and "bookembed-upload" not in message, message
