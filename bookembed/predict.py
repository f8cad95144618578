"""Predict missing metadata from the vectors: embeddings as input to a supervised model.

For a metadata column (genre, country, language, author, publisher), a
scikit-learn ``LogisticRegression`` learns the value from a book's unit
vector on the books that have one. Its cross-validated accuracy and macro-F1
are reported beside a majority-class baseline scored on the same folds, and
the books without a value get a predicted one with its probability.

Only values held by at least ``min_count`` books are learned (an author with
two books cannot be learned or scored); books with rarer values are left out
of training and are not predicted for.

Cost for n labelled books, c classes, dim d: each fit is O(iterations * n * c * d)
(lbfgs); ``folds + 1`` fits. Above ``MAX_TRAIN`` labelled books the fits and
scores use a seeded sample of that many (``sampled``), so the fits stop growing
with n, and the accuracy carries its standard error over the books scored.
Prediction for the m missing books is O(m c d), ``PREDICT_CHUNK`` rows at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bookembed.errors import BookembedError

COLUMNS = {
    "genre": "primary_genre",
    "country": "country",
    "language": "language",
    "author": "author",
    "publisher": "publisher",
}
MIN_COUNT = 5
FOLDS = 5
C = 10.0
MAX_TRAIN = 50_000
"""Above this many labelled books the classifier is fitted and scored on a seeded sample of this many."""
PREDICT_CHUNK = 200_000


class PredictError(BookembedError):
    """A column that cannot be predicted; the message names the column."""


@dataclass(frozen=True)
class Prediction:
    """A fitted column predictor, its cross-validated scores, and its predictions.

    Attributes
    ----------
    column : str
        As asked (``genre``); ``source`` is the books-table column (``primary_genre``).
    classes : tuple of str
        Values learned (held by at least ``min_count`` books).
    n_train : int
        Books with a learned value.
    n_rare : int
        Books whose value is too rare to learn.
    folds : int
    accuracy, macro_f1 : float
        Cross-validated, out of fold.
    baseline_accuracy, baseline_macro_f1 : float
        Always guessing each training fold's most common value.
    majority : str
        The most common value overall.
    predicted : DataFrame
        One row per book without a value: ``id, title, predicted, probability``,
        most confident first.
    """

    column: str
    source: str
    classes: tuple[str, ...]
    n_train: int
    n_rare: int
    folds: int
    accuracy: float
    macro_f1: float
    baseline_accuracy: float
    baseline_macro_f1: float
    majority: str
    predicted: pd.DataFrame
    sampled: int | None = None  # the labelled books fitted and scored, where fewer than ``n_train``

    @property
    def accuracy_stderr(self) -> float:
        """The standard error of ``accuracy`` over the books scored (binomial)."""
        scored = self.sampled or self.n_train
        return float(np.sqrt(self.accuracy * (1 - self.accuracy) / max(scored, 1)))

    @property
    def n_missing(self) -> int:
        return len(self.predicted)

    def filled(self, books: pd.DataFrame) -> pd.Series:
        """The column with each missing value replaced by its prediction, shape (n_books,)."""
        values = _values(books, self.source).astype(object)
        values.iloc[self.predicted["id"].to_numpy()] = self.predicted["predicted"].to_numpy()
        return values

    def filled_books(self, books: pd.DataFrame) -> pd.DataFrame:
        """A copy of the books table whose column holds the predictions where it was empty (for a map colouring)."""
        return books.assign(**{self.source: self.filled(books)})

    def to_dict(self, limit: int | None = 20) -> dict:
        """Plain values for JSON (the first ``limit`` predictions; all when None)."""
        rows = self.predicted if limit is None else self.predicted.head(limit)
        return {
            "column": self.column,
            "source": self.source,
            "classes": len(self.classes),
            "books_trained": self.n_train,
            "books_rare_value": self.n_rare,
            "books_missing": self.n_missing,
            "folds": self.folds,
            "accuracy": round(self.accuracy, 4),
            "accuracy_stderr": round(self.accuracy_stderr, 4),
            "books_scored": self.sampled or self.n_train,
            "macro_f1": round(self.macro_f1, 4),
            "baseline": {"value": self.majority, "accuracy": round(self.baseline_accuracy, 4),
                         "macro_f1": round(self.baseline_macro_f1, 4)},
            "predicted": [{"title": r.title, "predicted": r.predicted, "probability": round(float(r.probability), 4)}
                          for r in rows.itertuples()],
        }


def _values(books: pd.DataFrame, source: str) -> pd.Series:
    return books[source].astype(object).where(books[source].notna(), "").astype(str).str.strip()


def resolve_column(books: pd.DataFrame, column: str) -> str:
    """The books-table column for a name (``genre`` -> ``primary_genre``), or PredictError."""
    source = COLUMNS.get(column, column if column in COLUMNS.values() else None)
    if source is None:
        raise PredictError(f"cannot predict {column!r}; choose one of {', '.join(COLUMNS)}")
    if source not in books.columns:
        raise PredictError(f"this model's books table has no {source!r} column to predict")
    return source


def predict_column(
    model,
    column: str = "genre",
    *,
    min_count: int = MIN_COUNT,
    folds: int = FOLDS,
    C: float = C,
    seed: int = 0,
) -> Prediction:
    """Learn a metadata column from the book vectors; score it; predict it where missing.

    Parameters
    ----------
    model : ModelFolder
    column : str
        ``genre``, ``country``, ``language``, ``author`` or ``publisher``.
    min_count : int
        Values held by fewer books are not learned.
    folds : int
        Stratified cross-validation folds, at least 2 (lowered to the rarest learned value's count).
    C : float
        Inverse regularisation of the logistic regression (unit vectors are small inputs).
    seed : int

    Returns
    -------
    Prediction

    Raises
    ------
    PredictError
        An unknown column, fewer than two values with ``min_count`` books, ``min_count``
        or ``folds`` below 2.
    """
    from threadpoolctl import threadpool_limits

    # The fits' matrix products are small (a sample of books by 50 numbers): BLAS threads gain nothing on them,
    # and beside other busy processes their waits for one another cost several times the work (docs/scale.md).
    with threadpool_limits(1, "blas"):
        return _predict_column(model, column, min_count=min_count, folds=folds, C=C, seed=seed)


def _predict_column(model, column: str, *, min_count: int, folds: int, C: float, seed: int) -> Prediction:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import StratifiedKFold

    if min_count < 2:
        raise PredictError(f"min_count must be at least 2, got {min_count}")
    if folds < 2:
        raise PredictError(f"folds must be at least 2 (cross-validation scores each fold on a model fitted "
                           f"on the others), got {folds}")
    source = resolve_column(model.books, column)
    values = _values(model.books, source).to_numpy(dtype=object)
    known = values != ""
    counts = pd.Series(values[known]).value_counts()
    classes = sorted(counts.index[counts >= min_count])
    if len(classes) < 2:
        raise PredictError(
            f"{column}: fewer than two values are held by {min_count} or more books "
            f"({int(known.sum())} books have a value); nothing to learn"
        )
    train = known & pd.Series(values).isin(classes).to_numpy()
    rows = np.flatnonzero(train)
    sampled = None
    if len(rows) > MAX_TRAIN:
        rows = np.sort(np.random.default_rng(seed).choice(rows, MAX_TRAIN, replace=False))
        sampled = MAX_TRAIN
    y = values[rows].astype(str)
    xt = model.unit_rows(rows)
    in_sample = pd.Series(y).value_counts()
    if sampled and (in_sample < 2).any():  # a value too rare to be scored in the sample: left out of the fits
        keep = pd.Series(y).isin(in_sample.index[in_sample >= 2]).to_numpy()
        rows, y, xt = rows[keep], y[keep], xt[keep]
        in_sample = in_sample[in_sample >= 2]
        sampled = len(rows)
    folds = int(max(2, min(folds, in_sample.min())))

    def classifier():
        return LogisticRegression(C=C, max_iter=2000)

    # 1. Out-of-fold predictions and the majority baseline on the same folds.
    oof = np.empty(len(y), dtype=object)
    base = np.empty(len(y), dtype=object)
    for fit_rows, test_rows in StratifiedKFold(folds, shuffle=True, random_state=seed).split(xt, y):
        oof[test_rows] = classifier().fit(xt[fit_rows], y[fit_rows]).predict(xt[test_rows])
        base[test_rows] = pd.Series(y[fit_rows]).value_counts().index[0]
    scores = {
        "accuracy": accuracy_score(y, oof.astype(str)),
        "macro_f1": f1_score(y, oof.astype(str), average="macro", zero_division=0),
        "baseline_accuracy": accuracy_score(y, base.astype(str)),
        "baseline_macro_f1": f1_score(y, base.astype(str), average="macro", zero_division=0),
    }
    # 2. One fit on every labelled book, for the books without a value.
    missing = np.flatnonzero(~known)
    predicted = pd.DataFrame({"id": missing, "title": model.titles_of(missing),
                              "predicted": np.full(len(missing), "", dtype=object),
                              "probability": np.zeros(len(missing))})
    if len(missing):
        final = classifier().fit(xt, y)
        best = np.empty(len(missing), dtype=np.int64)
        for start in range(0, len(missing), PREDICT_CHUNK):  # memory: one chunk's probabilities
            proba = final.predict_proba(model.unit_rows(missing[start:start + PREDICT_CHUNK]))
            best[start:start + len(proba)] = proba.argmax(axis=1)
            predicted.loc[start:start + len(proba) - 1, "probability"] = proba[np.arange(len(proba)),
                                                                               best[start:start + len(proba)]]
        predicted["predicted"] = final.classes_[best]
        predicted = predicted.sort_values(["probability", "id"], ascending=[False, True], kind="stable")
    return Prediction(
        column=column,
        source=source,
        classes=tuple(classes),
        n_train=int(train.sum()),
        n_rare=int((known & ~train).sum()),
        folds=folds,
        majority=str(counts.index[0]),
        predicted=predicted.reset_index(drop=True),
        sampled=sampled,
        **{k: float(v) for k, v in scores.items()},
    )
