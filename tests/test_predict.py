"""Predicting metadata from the vectors: beats the majority class on the demo and on real records."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bookembed import predict as pr
from bookembed.store import load_model_folder
from test_clusters import make_grouped_model, save_folder

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "models" / "demo"


@pytest.fixture(scope="module")
def demo():
    if not DEMO.is_dir():
        pytest.skip("no shipped demo model")
    return load_model_folder(DEMO)  # read only


@pytest.fixture(scope="module")
def p15(real_path, tmp_path_factory):
    """A model trained on the real records, with the defaults."""
    from bookembed.pipeline import train_model_folder
    from bookembed.training import TrainConfig

    out = tmp_path_factory.mktemp("p15") / "models" / "p15"
    path, _, _ = train_model_folder(real_path, out, TrainConfig(seed=0))
    return load_model_folder(path)


@pytest.mark.parametrize("column", ["genre", "country", "language", "author"])
def test_demo_predictions_beat_the_majority_class(demo, column):
    result = pr.predict_column(demo, column)
    assert result.accuracy > result.baseline_accuracy + 0.1
    assert result.macro_f1 > result.baseline_macro_f1 + 0.2
    values = demo.books[result.source].fillna("").astype(str).str.strip()
    counts = values[values != ""].value_counts()
    assert set(result.classes) == set(counts.index[counts >= pr.MIN_COUNT])
    assert result.n_train == int(counts[counts >= pr.MIN_COUNT].sum())
    assert result.n_rare == int(counts[counts < pr.MIN_COUNT].sum())
    # Each fold guesses its own majority: never better than the overall majority share, give or take a fold.
    assert result.baseline_accuracy <= counts.iloc[0] / result.n_train + 0.02


@pytest.mark.slow  # trains a model on the real records
def test_real_records_genre_beats_the_majority_and_fills_the_gaps(p15):
    result = pr.predict_column(p15, "genre")
    assert result.accuracy > result.baseline_accuracy + 0.2
    assert result.macro_f1 > result.baseline_macro_f1 + 0.2
    missing = p15.books["primary_genre"].isna() | (p15.books["primary_genre"].fillna("").str.strip() == "")
    assert result.n_missing == int(missing.sum()) > 0  # about a quarter of real books have no genre
    frame = result.predicted
    assert set(frame["id"]) == set(np.flatnonzero(missing.to_numpy()))
    assert set(frame["predicted"]) <= set(result.classes)
    assert ((frame["probability"] > 0) & (frame["probability"] <= 1)).all()
    assert list(frame["probability"]) == sorted(frame["probability"], reverse=True)
    filled = result.filled(p15.books)
    assert (filled.str.strip() != "").all()
    known = ~missing.to_numpy()
    assert (filled[known] == p15.books["primary_genre"][known].str.strip()).all()


@pytest.mark.slow  # the same model trained on the real records
@pytest.mark.parametrize("column", ["country", "language"])
def test_real_records_other_columns_beat_the_majority(p15, column):
    result = pr.predict_column(p15, column)
    assert result.accuracy > result.baseline_accuracy
    assert result.macro_f1 > result.baseline_macro_f1


def test_planted_groups_are_predicted_for_books_without_a_value(tmp_path):
    # One book per group has no genre: each is predicted as its group.
    hidden = [0, 10, 20]
    model = load_model_folder(make_grouped_model(tmp_path / "grouped", per_group=10, no_genre=tuple(hidden)))
    truth = ["russian", "tolkien", "asimov"]
    result = pr.predict_column(model, "genre")
    assert result.accuracy == 1.0 and result.n_missing == 3
    got = dict(zip(result.predicted["id"], result.predicted["predicted"]))
    assert [got[i] for i in hidden] == truth
    data = json.loads(json.dumps(result.to_dict()))
    assert data["books_missing"] == 3 and data["accuracy"] == 1.0


def test_above_its_limit_the_classifier_is_fitted_and_scored_on_a_sample(tmp_path, monkeypatch):
    """Above ``MAX_TRAIN`` labelled books the fits use a seeded sample (the time stops growing with the books);
    every book without a value is still predicted, in chunks, and the accuracy carries its standard error."""
    hidden = [0, 10, 20]
    model = load_model_folder(make_grouped_model(tmp_path / "grouped", per_group=10, no_genre=tuple(hidden)))
    whole = pr.predict_column(model, "genre")
    monkeypatch.setattr(pr, "MAX_TRAIN", 15)
    monkeypatch.setattr(pr, "PREDICT_CHUNK", 2)
    result = pr.predict_column(model, "genre")
    assert whole.sampled is None and result.sampled == 15 and result.n_train == whole.n_train == 27
    assert result.accuracy == 1.0 and result.accuracy_stderr == 0.0
    assert result.predicted.sort_values("id")["predicted"].tolist() == ["russian", "tolkien", "asimov"]
    assert result.to_dict()["books_scored"] == 15
    assert pr.predict_column(model, "genre").predicted.equals(result.predicted)  # seeded: the same sample


def test_bad_columns_are_named(demo):
    with pytest.raises(pr.PredictError, match="cannot predict 'shoe size'"):
        pr.predict_column(demo, "shoe size")
    with pytest.raises(pr.PredictError, match="author: fewer than two values"):
        pr.predict_column(demo, "author", min_count=50)
    with pytest.raises(pr.PredictError, match="min_count must be at least 2"):
        pr.predict_column(demo, "genre", min_count=1)


def test_a_table_without_the_column_is_named(tmp_path):
    books = pd.DataFrame({"title": [f"Book {i}" for i in range(6)], "primary_genre": ["x", "y"] * 3})
    model = load_model_folder(save_folder(tmp_path / "bare", books, ("a", "b"), np.arange(6), np.zeros(6),
                                          np.eye(6, 4), np.ones((2, 4))))
    with pytest.raises(pr.PredictError, match="no 'publisher' column"):
        pr.predict_column(model, "publisher")


def test_cli_reports_scores_and_exports_predictions(demo, tmp_path):
    from conftest import run_cli

    out = tmp_path / "country.csv"
    proc = run_cli("predict", "--column", "country", "--model", demo.path, "--json", "--csv", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["accuracy"] > data["baseline"]["accuracy"]
    frame = pd.read_csv(out, keep_default_na=False)
    assert list(frame.columns) == ["title", "predicted", "probability"]
    missing = demo.books["country"].fillna("").str.strip() == ""
    assert len(frame) == data["books_missing"] == int(missing.sum())
    assert set(frame["title"]) == set(demo.books["title"][missing])


def test_cli_bad_column_is_one_line(tmp_path):
    from conftest import assert_one_line_error, run_cli

    assert_one_line_error(run_cli("predict", "--column", "shoe size", "--model", DEMO, cwd=tmp_path), "shoe size")


def test_filled_books_colour_the_map_with_predictions(tmp_path):
    from bookembed.mapviz import map_figure

    model = load_model_folder(make_grouped_model(tmp_path / "grouped", per_group=10, no_genre=(5,)))
    result = pr.predict_column(model, "genre")
    books = result.filled_books(model.books)
    assert books["primary_genre"][5] == "russian" and pd.isna(model.books["primary_genre"][5])
    fig = map_figure(np.zeros((model.n_books, 2)), books, color_by="genre")
    assert not any("(unknown)" in t.name for t in fig.data)


# ---------------------------------------------------------------- honest scores, the right baseline


def labelled_model(path: Path, labels: list[str], dim: int = 64, seed: int = 0):
    """A model folder whose book vectors are random unit-length noise and whose genres are ``labels``.

    Nothing in a vector says anything about its label: a classifier can only memorise.
    """
    rng = np.random.default_rng(seed)
    n = len(labels)
    books = pd.DataFrame({"title": [f"Book {i}" for i in range(n)], "primary_genre": labels})
    links = ("a", "b")
    pair_books = np.arange(n)
    return load_model_folder(save_folder(path, books, links, pair_books, pair_books % 2, rng.normal(size=(n, dim)),
                                         rng.normal(size=(len(links), dim))))


def test_cross_validation_scores_each_fold_on_a_model_that_never_saw_it(tmp_path):
    # Random labels on random vectors: with more dimensions than books the logistic regression can
    # fit every label it is shown, so a fold scored by a model fitted on all books (the fold
    # included) would look nearly perfect. Honest out-of-fold predictions stay near chance.
    rng = np.random.default_rng(1)
    values = ["red", "green", "blue"]
    labels = list(rng.permutation([values[i % 3] for i in range(60)]))
    model = labelled_model(tmp_path / "noise", labels, dim=64)
    result = pr.predict_column(model, "genre")
    chance = 1 / len(values)
    assert result.n_train == 60 and result.folds >= 2
    assert result.accuracy < chance + 0.25, result.accuracy
    assert result.macro_f1 < chance + 0.25, result.macro_f1


def test_majority_baseline_guesses_the_most_common_value(tmp_path):
    labels = ["mystery"] * 30 + ["romance"] * 12 + ["horror"] * 8
    order = np.random.default_rng(2).permutation(len(labels))
    model = labelled_model(tmp_path / "skewed", [labels[i] for i in order], dim=16)
    result = pr.predict_column(model, "genre")
    counts = model.books["primary_genre"].value_counts()
    share = counts.iloc[0] / counts.sum()
    assert result.majority == counts.index[0]
    # every training fold keeps the same most common value, so the baseline always guesses it:
    # right on exactly its share of the books, and its F1 (precision = share, recall 1) over the classes
    assert result.baseline_accuracy == pytest.approx(share)
    assert result.baseline_macro_f1 == pytest.approx(2 * share / (1 + share) / len(counts))
    assert result.to_dict()["baseline"]["value"] == counts.index[0]


@pytest.mark.parametrize("folds", [0, 1, -3])
def test_fewer_than_two_folds_are_refused(tmp_path, folds):
    model = load_model_folder(make_grouped_model(tmp_path / "grouped", per_group=10))
    with pytest.raises(pr.PredictError, match=f"folds must be at least 2.*got {folds}"):
        pr.predict_column(model, "genre", folds=folds)


@pytest.mark.parametrize("folds", ["0", "1"])
def test_cli_fewer_than_two_folds_is_one_line(tmp_path, folds):
    from conftest import assert_one_line_error, run_cli

    path = make_grouped_model(tmp_path / "grouped", per_group=10)
    proc = run_cli("predict", "--model", path, "--folds", folds, cwd=tmp_path)
    assert proc.returncode == 1
    assert_one_line_error(proc, "folds must be at least 2", f"got {folds}")


def test_cli_csv_when_no_book_lacks_a_value(tmp_path):
    from conftest import assert_one_line_error, run_cli

    path = make_grouped_model(tmp_path / "grouped", per_group=10)  # every book has a genre
    assert load_model_folder(path).books["primary_genre"].notna().all()
    # without --csv: the scores, and why nothing is predicted
    proc = run_cli("predict", "--model", path, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "books without a genre: 0, so there is nothing to predict" in proc.stdout
    assert "predictions written" not in proc.stdout
    # with --csv: an error that says why; an earlier file stays as it was, and no new one appears
    earlier = tmp_path / "out.csv"
    earlier.write_text("title,predicted,probability\nEarlier,x,0.9\n", encoding="utf-8")
    before = earlier.read_bytes()
    proc = run_cli("predict", "--model", path, "--csv", earlier, cwd=tmp_path)
    assert proc.returncode == 1
    assert_one_line_error(proc, "out.csv", "every book", "has a genre", "nothing to predict", "left as it was")
    assert earlier.read_bytes() == before
    fresh = tmp_path / "fresh.csv"
    proc = run_cli("predict", "--model", path, "--csv", fresh, "--json", cwd=tmp_path)
    assert proc.returncode == 1 and proc.stdout == ""
    assert_one_line_error(proc, "fresh.csv", "nothing to predict")
    assert not fresh.exists() and not list(tmp_path.glob(".fresh.csv.*"))


@pytest.mark.parametrize("top", ["0", "-5"])
def test_cli_non_positive_top_is_refused(tmp_path, top):
    from conftest import run_cli

    path = make_grouped_model(tmp_path / "grouped", per_group=10, no_genre=(0, 10, 20))
    proc = run_cli("predict", "--model", path, "--top", top, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert f"argument --top: must be at least 1, got {top}" in proc.stderr and "Traceback" not in proc.stderr


# ---------------------------------------------------------------- the contract, field by field


def vector_model(path: Path, labels: list, vectors) -> object:
    """A model folder with the given genres (None for a book without one) and book vectors."""
    n = len(labels)
    books = pd.DataFrame({"title": [f"Book {i}" for i in range(n)], "primary_genre": labels})
    pair_books = np.arange(n)
    return load_model_folder(save_folder(path, books, ("a", "b"), pair_books, pair_books % 2, vectors,
                                         np.ones((2, np.shape(vectors)[1]))))


def test_to_dict_names_every_field_and_rounds_to_four_places():
    frame = pd.DataFrame({"id": np.arange(25), "title": [f"T{i}" for i in range(25)],
                          "predicted": ["x", "y"] * 12 + ["x"],
                          "probability": [0.9 - i / 100 + 0.0000123 for i in range(25)]})
    result = pr.Prediction(column="genre", source="primary_genre", classes=("x", "y", "z"), n_train=17, n_rare=4,
                           folds=3, accuracy=0.123456, macro_f1=0.654321, baseline_accuracy=0.333367,
                           baseline_macro_f1=0.166649, majority="x", predicted=frame)
    rows = [{"title": f"T{i}", "predicted": "x" if i % 2 == 0 else "y", "probability": round(0.9 - i / 100, 4)}
            for i in range(25)]
    expected = {"column": "genre", "source": "primary_genre", "classes": 3, "books_trained": 17,
                "books_rare_value": 4, "books_missing": 25, "folds": 3, "accuracy": 0.1235,
                "accuracy_stderr": round((0.123456 * (1 - 0.123456) / 17) ** 0.5, 4), "books_scored": 17,
                "macro_f1": 0.6543,
                "baseline": {"value": "x", "accuracy": 0.3334, "macro_f1": 0.1666}, "predicted": rows[:20]}
    assert result.to_dict() == expected  # the first 20 predictions by default
    assert result.to_dict(limit=None) == {**expected, "predicted": rows}
    assert result.to_dict(limit=3) == {**expected, "predicted": rows[:3]}
    assert result.to_dict(limit=0)["predicted"] == []


def test_unknown_column_message_lists_the_choices(demo):
    with pytest.raises(pr.PredictError) as err:
        pr.resolve_column(demo.books, "shoe size")
    assert str(err.value) == "cannot predict 'shoe size'; choose one of genre, country, language, author, publisher"


def noise_model(path: Path, n: int = 90):
    """Random vectors, random labels from three values: the scores depend on how the folds fall."""
    rng = np.random.default_rng(3)
    labels = list(rng.permutation([("red", "green", "blue")[i % 3] for i in range(n)]))
    return vector_model(path, labels, rng.normal(size=(n, 32)))


def test_default_column_is_genre_and_its_books_table_name_is_accepted(tmp_path):
    model = load_model_folder(make_grouped_model(tmp_path / "grouped", per_group=8, no_genre=(3,)))
    result = pr.predict_column(model)
    assert (result.column, result.source) == ("genre", "primary_genre")
    assert pr.resolve_column(model.books, "primary_genre") == "primary_genre"
    by_source = pr.predict_column(model, "primary_genre")
    assert (by_source.column, by_source.source) == ("primary_genre", "primary_genre")
    assert by_source.predicted.equals(result.predicted)


def test_the_seed_fixes_the_folds_and_defaults_to_zero(tmp_path):
    model = noise_model(tmp_path / "noise")

    def scores(**kw):
        r = pr.predict_column(model, "genre", **kw)
        return r.accuracy, r.macro_f1, r.baseline_accuracy, r.baseline_macro_f1

    zero = scores(seed=0)
    assert scores(seed=1) != zero  # the seed matters on these books...
    assert scores() == zero  # ...and the default is 0
    assert all(scores(seed=5) == scores(seed=5) for _ in range(3))  # the same seed, the same folds


def test_out_of_fold_scores_use_the_asked_number_of_folds_and_c(tmp_path):
    # The scores computed here, independently: stratified shuffled folds, a logistic regression per fold.
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import StratifiedKFold

    model = noise_model(tmp_path / "noise")
    y = model.books["primary_genre"].to_numpy().astype(str)
    x = model.unit_vectors("book")
    for folds, c in [(3, 0.5), (4, 10.0)]:
        oof = np.empty(len(y), dtype=object)
        for fit, test in StratifiedKFold(folds, shuffle=True, random_state=7).split(x, y):
            oof[test] = LogisticRegression(C=c, max_iter=2000).fit(x[fit], y[fit]).predict(x[test])
        result = pr.predict_column(model, "genre", folds=folds, C=c, seed=7)
        assert result.folds == folds
        assert result.accuracy == pytest.approx(accuracy_score(y, oof.astype(str)))


def test_stronger_regularisation_gives_less_confident_predictions(tmp_path):
    model = load_model_folder(make_grouped_model(tmp_path / "grouped", per_group=8, no_genre=(0, 8, 16)))
    weak = pr.predict_column(model, "genre", C=1e4).predicted["probability"]
    strong = pr.predict_column(model, "genre", C=1e-4).predicted["probability"]
    assert (weak > 0.9).all()
    assert (strong < 1 / 3 + 0.01).all()


def test_the_smallest_accepted_settings_two_books_two_values_two_folds(tmp_path):
    # Two values held by 2 and 3 books, one rare value, one book without a value; vectors by value.
    labels = ["x", "y", "x", "y", "y", "z", None]
    centres = {"x": [1.0, 0.0], "y": [0.0, 1.0], "z": [1.0, 1.0], None: [0.9, 0.1]}
    vectors = np.array([centres[v] for v in labels]) + np.random.default_rng(0).normal(scale=0.01, size=(7, 2))
    model = vector_model(tmp_path / "small", labels, vectors)
    for folds in (2, 5):  # at most the rarest learned value's count, 2
        result = pr.predict_column(model, "genre", min_count=2, folds=folds)
        assert result.classes == ("x", "y") and result.folds == 2
        assert (result.n_train, result.n_rare, result.n_missing) == (5, 1, 1)
        assert result.majority == "y" and list(result.predicted["predicted"]) == ["x"]
    with pytest.raises(pr.PredictError, match=r"genre: fewer than two values are held by 3 or more books "
                                               r"\(6 books have a value\)"):
        pr.predict_column(model, "genre", min_count=3)


def test_predicted_table_columns_and_order(tmp_path):
    # Books 1 and 4 have no genre and the same vector: the same probability, listed by id.
    labels = ["x", None, "y", "x", None, "y", "x", "y", "x", "y", None, "x", "y"]
    rng = np.random.default_rng(4)
    vectors = rng.normal(size=(len(labels), 3))
    vectors[4] = vectors[1]
    model = vector_model(tmp_path / "ties", labels, vectors)
    result = pr.predict_column(model, "genre", min_count=2)
    assert result.column == "genre"
    frame = result.predicted
    assert list(frame.columns) == ["id", "title", "predicted", "probability"]
    assert list(frame.index) == [0, 1, 2]
    assert (frame["probability"] > 0.5).all()
    probability = dict(zip(frame["id"], frame["probability"]))
    assert probability[1] == probability[4] != probability[10]
    expected = sorted([1, 4, 10], key=lambda i: (-probability[i], i))
    assert list(frame["id"]) == expected
    assert list(frame["title"]) == [f"Book {i}" for i in expected]
    # with no book lacking a value: the same columns, no rows
    full = vector_model(tmp_path / "full", [v or "x" for v in labels], vectors)
    empty = pr.predict_column(full, "genre", min_count=2).predicted
    assert list(empty.columns) == ["id", "title", "predicted", "probability"] and len(empty) == 0


def test_the_classifier_is_fitted_and_applied_on_one_blas_thread_and_the_limit_is_lifted_after(demo, monkeypatch):
    """Beside other busy processes BLAS threads wait on one another for most of a small fit's time: the fits and
    the predictions run on one thread, and the caller's own limit is back afterwards."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_info

    def blas_threads():
        return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}

    before = blas_threads()
    seen = []
    real_fit, real_proba = LogisticRegression.fit, LogisticRegression.predict_proba
    monkeypatch.setattr(LogisticRegression, "fit",
                        lambda self, *a, **k: seen.append(blas_threads()) or real_fit(self, *a, **k))
    monkeypatch.setattr(LogisticRegression, "predict_proba",
                        lambda self, *a, **k: seen.append(blas_threads()) or real_proba(self, *a, **k))
    pr.predict_column(demo, "genre")
    assert seen and all(threads == {1} for threads in seen), seen
    assert blas_threads() == before
