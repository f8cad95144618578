"""The Map page's explaining layers: the widgets that choose them and the cached results they draw.

Cluster labels, density, links on the map, colour by predicted values, and
custom axes. The computing is in ``bookembed.clusters``, ``predict`` and
``overlays``; this module only asks for choices and caches results per model
folder (keyed by its path and vectors checksum).
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from bookembed.clusters import cluster_books, vectors_checksum
from bookembed.errors import BookembedError
from bookembed.overlays import CustomAxes, axis_coordinates
from bookembed.predict import COLUMNS, Prediction, predict_column
from bookembed.ui.text import escape_markdown, show_error

PREDICTABLE = {"genre", "country", "language", "author", "publisher"} & set(COLUMNS)


@dataclass(frozen=True)
class Layers:
    """What the reader asked to see on top of the map."""

    labels: bool
    density: bool
    show: str  # "books", "links" or "both"
    predict: bool
    axes: tuple | None  # ((left, right), (bottom, top) or None) when custom axes are on


def _key(model) -> tuple[str, str]:
    return str(model.path.resolve()), vectors_checksum(model)


@st.cache_resource(max_entries=4, show_spinner="Finding and labelling clusters…")
def _clusters(key: tuple, _model):  # noqa: ARG001 - key: folder and vectors
    return cluster_books(_model)


@st.cache_resource(max_entries=8, show_spinner="Learning the missing values from the vectors…")
def _prediction(key: tuple, column: str, _model) -> Prediction:  # noqa: ARG001
    return predict_column(_model, column)


def clusters(model):
    """The model's clustering (k-means, default k), from the folder's cache or computed once."""
    return _clusters(_key(model), model)


def prediction(model, column: str) -> Prediction | None:
    """Predictions of ``column`` for the books without a value, computed once per model folder.

    None (with a warning) when the column cannot be learned on this model.
    """
    try:
        return _prediction(_key(model), column, model)
    except BookembedError as err:
        st.warning(f"No predictions: {escape_markdown(err)}", icon=":material/warning:")
        return None


def prediction_caption(result: Prediction) -> str:
    """One Markdown line: how well the column is predicted, against the majority class."""
    return (f"{result.n_missing:,} books without a {escape_markdown(result.column)} are coloured by a prediction "
            f"from their vectors (ringed): cross-validated accuracy {result.accuracy:.0%}, macro-F1 "
            f"{result.macro_f1:.2f}, against {result.baseline_accuracy:.0%} and {result.baseline_macro_f1:.2f} "
            f"for always guessing the most common value.")


def cluster_books_table(model, clustering) -> None:
    """A picker of one cluster, and the table of its books (most typical first)."""
    if not clustering.clusters:
        return
    names = {c.id: f"{c.id + 1}. {c.label} ({c.size:,} books)" for c in clustering.clusters}
    chosen = st.selectbox("Books of a cluster", list(names), format_func=names.get, key="map_cluster",
                          help="Clusters are numbered from the largest; their labels are the links their books "
                               "share far more often than the other books.")
    cluster = clustering.clusters[chosen]
    columns = [c for c in ("title", "author", "primary_genre", "year", "country") if c in model.books.columns]
    table = model.books.iloc[cluster.members][columns].rename(columns={"primary_genre": "genre"})
    st.dataframe(table, hide_index=True, width="stretch", height=260,
                 column_config={"year": st.column_config.NumberColumn(format="%d")})
    shares = ", ".join(f"{t} ({a:.0%} of these books, {b:.0%} of the others)"
                       for t, a, b in zip(cluster.terms, cluster.share_in, cluster.share_out))
    st.caption(f"Label links: {escape_markdown(shares)}")


def _ends(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def layer_controls(dims: int, color_by: str) -> Layers:
    """The row of toggles under the map's main controls, and the custom-axes panel."""
    row = st.columns([1, 1, 1.6, 1.6])
    labels = row[0].toggle("Cluster labels", key="map_labels", persist_state="session",
                           help="Groups the books (k-means on their vectors) and names each group by the links "
                                "its books share far more often than the other books. Hover a label for its books.")
    density = row[1].toggle("Density", key="map_density", persist_state="session", disabled=dims == 3,
                            help="Contours of where the books crowd, under the points (2-D maps).")
    show = row[2].segmented_control("Show", ["books", "links", "both"], default="books", key="map_show",
                                    persist_state="session",
                                    help="Links are drawn as diamonds among the books their vectors are nearest to.")
    predict = row[3].toggle(f"Fill missing {color_by} by prediction", key="map_predict", persist_state="session",
                            disabled=color_by not in PREDICTABLE,
                            help="Books without a value are coloured by the value a classifier predicts from "
                                 "their vectors, and ringed.")
    axes = None
    with st.expander("Custom axes", icon=":material/open_with:"):
        on = st.toggle("Place the books between links", key="map_axes_on", persist_state="session",
                       help="As the Projector's custom projection: x is a book's similarity to the right end minus "
                            "its similarity to the left end. Several links per end are separated by commas.")
        cols = st.columns(4)
        left = cols[0].text_input("x: left end", "fantasy", key="map_axes_left", persist_state="session")
        right = cols[1].text_input("x: right end", "science fiction", key="map_axes_right", persist_state="session")
        bottom = cols[2].text_input("y: bottom end (empty: PCA)", "", key="map_axes_bottom", persist_state="session")
        top = cols[3].text_input("y: top end", "", key="map_axes_top", persist_state="session")
        if on:
            y = (_ends(bottom), _ends(top)) if (bottom.strip() or top.strip()) else None
            axes = ((_ends(left), _ends(right)), y)
    return Layers(labels, density, show or "books", predict and color_by in PREDICTABLE, axes)


def custom_axes(model, layers: Layers) -> CustomAxes | None:
    """The custom projection the reader chose, or None; a bad link stops the page with one line."""
    if layers.axes is None:
        return None
    try:
        return axis_coordinates(model, *layers.axes)
    except BookembedError as err:
        show_error("Custom axes:", err)
        st.stop()


def axes_caption(axes: CustomAxes) -> str:
    """One Markdown line saying what the custom axes are."""
    return (f"Custom axes · x: {escape_markdown(axes.x_title)} · y: {escape_markdown(axes.y_title)} "
            "(each book placed by the difference of its cosine similarities to the two ends)")
