"""Compare: the chosen model beside another, neighbourhood by neighbourhood, and their two maps aligned."""

from pathlib import Path

import pandas as pd
import streamlit as st

from bookembed import projection as proj
from bookembed import ui
from bookembed.compare import align_maps, compare_models, same_books
from bookembed.errors import BookembedError
from bookembed.mapviz import COLOR_BY, legend_figure, map_figure, without_legend
from bookembed.store import folder_stamp, list_model_folders, load_model_folder
from bookembed.ui.folders import without_server_paths
from bookembed.ui.map import SVG_UP_TO, svg_traces


def _stamp(path: Path) -> int | None:
    """Changes whenever the folder is rewritten (``store.folder_stamp``): keys the caches below."""
    return folder_stamp(path)


@st.cache_resource(max_entries=2, show_spinner=False)
def _other_model(path: str, stamp: int | None):  # noqa: ARG001 - the stamp keys the cache
    return load_model_folder(path)


@st.cache_resource(max_entries=4, show_spinner="Comparing the neighbourhoods…")
def _comparison(key: tuple, _a, _b, k: int):  # noqa: ARG001 - key names the two folders and their stamps
    return compare_models(_a, _b, k)


def _picked(key: str) -> list[int]:
    """Book ids selected on one of the maps in the last run (the chart's own state)."""
    event = st.session_state.get(key)
    points = event["selection"]["points"] if event else []
    return [int(p["customdata"]) for p in points if p.get("customdata") is not None]


def _drawn(figure, model):
    """SVG for a small model's map (``ui.map.SVG_UP_TO``): no WebGL set-up each time the figure changes."""
    return svg_traces(figure) if model.n_books <= SVG_UP_TO else figure


def _map(model, settings):
    coords = proj.load_projection(model, settings)
    if coords is None:
        with st.spinner(f"Computing the {proj.METHOD_NAMES[settings.method]} map of {model.name}…"):
            coords = proj.project(model, settings)
    return coords


ui.frame()
model_a = ui.require_model()
st.title("Compare")

folders = list_model_folders(model_a.path.parent)
choices = [p for p in folders if p.resolve() != model_a.path.resolve()] + [model_a.path]
top = st.columns([2, 1, 1.2, 1.2])
path_b = top[0].selectbox("Compare with", choices, format_func=lambda p: p.name if p != model_a.path
                          else f"{p.name} (itself)", key="compare_with")
k = top[1].slider("Neighbours", 5, 50, 10, key="compare_k")
method = top[2].radio("Maps", ["umap", "pca"], format_func=proj.METHOD_NAMES.get, horizontal=True,
                      key="compare_method")
color_by = top[3].selectbox("Colour by", list(COLOR_BY), key="compare_color")
try:
    model_b = _other_model(str(path_b), _stamp(path_b))
    result = _comparison((str(model_a.path), _stamp(model_a.path), str(path_b), _stamp(path_b), k), model_a, model_b, k)
except BookembedError as err:
    ui.show_error("Cannot compare these models:", without_server_paths(err))
    st.stop()

st.caption(f"A: {ui.escape_markdown(model_a.name)} ({model_a.n_books:,} books, {model_a.dim}-d) · "
           f"B: {ui.escape_markdown(model_b.name)} ({model_b.n_books:,} books, {model_b.dim}-d) · "
           f"{result.n_shared:,} titles in both")
cols = st.columns(3)
cols[0].metric(f"Mean overlap of the {result.k} nearest", f"{result.mean_overlap:.3f}",
               help="For each shared book, the share of its nearest neighbours in A that are also nearest in B.")
cols[1].metric("Vector disparity", f"{result.vector_disparity:.3f}",
               help="Left after rotating B's vectors onto A's (orthogonal Procrustes); 0 = the same up to rotation.")
if result.sampled:
    cols[2].metric("Books compared (sample)", f"{len(result.compared):,}", f"± {result.standard_error:.4f}",
                   delta_color="off")

st.caption(f"**Vector disparity** compares the {model_a.dim}-d book vectors themselves: what differs once B's "
           "are rotated and scaled onto A's as well as they can be (0: the same up to a rotation, 1: nothing in common).")

hist = result.histogram()
hist["in common"] = (hist["overlap"] * result.k).round().astype(int)
st.bar_chart(hist, x="in common", y="books", height=220, x_label=f"neighbours in common (of {result.k})",
             y_label="books")

settings = proj.make_settings(method, dims=2)
coords_a, coords_b = _map(model_a, settings), _map(model_b, settings)
aligned_b, map_disparity = align_maps(coords_a, coords_b, result.ids_a, result.ids_b)
st.subheader("The two maps")
st.metric("Map disparity", f"{map_disparity:.3f}",
          help="Left after rotating, scaling and shifting B's 2-D map onto A's (Procrustes); 0 = the same picture.")
st.caption(f"**Map disparity** compares the two flat maps below instead, once B's is rotated, scaled and shifted "
           f"onto A's over the {result.n_shared:,} shared books: a map keeps only part of its vectors' structure, so "
           "the two figures need not agree. A selection on either map is shown on both.")

sel_a, sel_b = _picked("compare_map_a"), _picked("compare_map_b")
shared_a = sorted(set(sel_a) | set(same_books(model_b, model_a, sel_b).tolist()))
shared_b = sorted(set(sel_b) | set(same_books(model_a, model_b, sel_a).tolist()))
# The two maps draw no legend of their own (the same groups twice, each narrowing its map): one under both.
figure_a = map_figure(coords_a, model_a.books, color_by=color_by, height=520,
                      selected_ids=shared_a if shared_a else None, uirevision="compare-a")
figure_b = map_figure(aligned_b, model_b.books, color_by=color_by, height=520,
                      selected_ids=shared_b if shared_b else None, uirevision="compare-b")
left, right = st.columns(2)
with left:
    st.markdown(f"**A: {ui.escape_markdown(model_a.name)}**")
    st.plotly_chart(_drawn(without_legend(figure_a), model_a),
                    key="compare_map_a", on_select="rerun", selection_mode=("box", "lasso", "points"),
                    config={"displaylogo": False, "scrollZoom": True})
with right:
    st.markdown(f"**B: {ui.escape_markdown(model_b.name)}** (aligned to A)")
    st.plotly_chart(_drawn(without_legend(figure_b), model_b),
                    key="compare_map_b", on_select="rerun", selection_mode=("box", "lasso", "points"),
                    config={"displaylogo": False, "scrollZoom": True})
st.plotly_chart(legend_figure(figure_a), config={"displayModeBar": False, "staticPlot": True}, key="compare_legend")
st.caption("Colours of both maps; the numbers are A's books in each group.")

changed = result.changed(model_a.titles, n=15)
if shared_a:
    st.subheader("Selected books")
    chosen = set(shared_a)
    rows = result.changed(model_a.titles, n=len(result.compared))
    changed = rows[rows["id_a"].isin(chosen)]
else:
    st.subheader("Neighbourhoods that changed most")
st.dataframe(
    pd.DataFrame({
        "title": changed["title"],
        "overlap": changed["overlap"],
        "only in A's neighbours": [" · ".join(x) for x in changed["only_in_a"]],
        "only in B's neighbours": [" · ".join(x) for x in changed["only_in_b"]],
    }),
    # above 4rem a row wraps its text, and the table is as tall as its rows: every title is read whole
    hide_index=True, width="stretch", row_height=72, height="content",
    column_config={
        "title": st.column_config.TextColumn(width=180),
        "overlap": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="%.1f", width=90),
        "only in A's neighbours": st.column_config.TextColumn(width=300),
        "only in B's neighbours": st.column_config.TextColumn(width=300),
    },
)
