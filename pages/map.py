"""Map: every book's vector projected to 2-D or 3-D, coloured by genre or another column (or one value of it)."""

import dataclasses

import streamlit as st

from bookembed import projection as proj
from bookembed import report, ui
from bookembed.errors import BookembedError
from bookembed.mapviz import COLOR_BY, POINTS_ABOVE
from bookembed.neighbors import similar_books
from bookembed.ui import crossfilter as cf
from bookembed.ui import explain
from bookembed.ui import map as m
from bookembed.ui.tiledmap import is_tiled

ui.frame(prefetch_chart=False)  # its own charts have the browser fetch Plotly
model = ui.require_model()
st.title("Map")

top = st.columns([1.6, 0.95, 1.0, 1.3, 1.05, 1.05])
method = top[0].radio("Projection", list(proj.SETTINGS), format_func=proj.METHOD_NAMES.get, horizontal=True,
                      key=m.METHOD, persist_state="session")
dims = top[1].radio("Dimensions", [2, 3], format_func=lambda d: f"{d}-D", horizontal=True, key=m.DIMS,
                    persist_state="session")
color_by = top[2].selectbox("Colour by", list(COLOR_BY), key=m.COLOR, persist_state="session")
only = m.one_value_picker(model, color_by, top[3])
groups = top[4].slider("Colour groups", 3, 24, 10, key=m.GROUPS, persist_state="session",
                       disabled=color_by == "year" or only is not None,
                       help="How many of the largest groups get a colour of their own; the rest are grey.")
n_neighbours = top[5].slider("Neighbours ringed", 0, 50, 10, key=m.NEIGHBOURS, persist_state="session",
                             help="The located book's nearest books (by their vectors), ringed in red.")
settings = proj.make_settings(method, dims=dims, **m.projection_params(method))
layers = explain.layer_controls(dims, color_by)
if layers.show != "books" and not model.has_link_vectors:
    st.caption("This model has no link vectors, so links cannot be drawn on the map.")
    layers = dataclasses.replace(layers, show="books")
axes = explain.custom_axes(model, layers)
# Drawn before the map's coordinates are: a run that stops to compute them (another projection, 3-D) still
# draws the box, so it keeps its text.
ids = ui.book_query(model, "map", label="Locate a book", compact=True)
titles = model.titles_of(ids)
neighbours = similar_books(model, titles, n_neighbours)["id"].tolist() if ids and n_neighbours else []

coords = axes.books if axes is not None else m.projection_or_progress(model, settings)
sentence = proj.faithfulness_sentence(proj.projection_info(model, settings) or {}, settings, model.dim)
if axes is not None:
    st.caption(explain.axes_caption(axes))
elif sentence:
    st.caption(ui.escape_markdown(sentence))
predicted = explain.prediction(model, color_by) if layers.predict else None
if predicted is not None:
    st.caption(explain.prediction_caption(predicted))

key = proj.projection_key(settings) if axes is None else f"axes-{layers.axes!r}"
keep, view, isolating = cf.view_mask(model), cf.view_signature(model), cf.isolated(model) is not None
generation = st.session_state.get(m.GENERATION, 0)
plain = dims == 2 and axes is None and predicted is None and layers.show == "books" and not layers.density
big = model.n_books > POINTS_ABOVE or is_tiled(model)  # a map drawn a view at a time needs the point renderer
points = plain and st.toggle(
    "Point renderer", value=big, key=f"{m.POINTS}-{big}",
    help=f"Writes every point straight into the picture: a million books draw in seconds, where Plotly needs "
         f"most of a minute without a graphics card (on by default above {POINTS_ABOVE:,} books). Wheel to zoom, "
         "drag to pan, shift-drag to select a box, double-click to reset; cluster labels follow the zoom. Lasso, the "
         "other overlays and 3-D are Plotly's.")
if not plain and big:
    st.caption(f"Drawn by Plotly for its overlays, 3-D or custom axes: with {model.n_books:,} books this takes a while.")
clustering = explain.clusters(model) if layers.labels else None
figure = None if points else m.book_map(
    model, coords, color_by=color_by, top_n=groups, query_ids=ids, neighbour_ids=neighbours,
    selected_ids=m.map_selection_snapshot(repr((key, color_by, groups, ids, neighbours, generation, layers,
                                                 predicted is not None, only, view))),
    uirevision=f"{key}-{generation}", layers=layers, prediction=predicted, axes=axes, clustering=clustering, only=only,
    keep=keep, view=view, fit_kept=isolating,
)
if figure is not None and ids and dims == 2:
    st.caption(f"Zoomed in on {ui.escape_markdown(titles[-1])} and its nearest books: double-click the map to see "
               "all of it.")


@st.fragment
def chart_and_selection() -> None:
    """The map, the selection's list and the saved views: a box, a lasso or a click reruns only this part."""
    m.rerun_page_if_asked()
    cf.filter_bar(model, keep)
    beside_map, charts = cf.beside()
    with beside_map:
        if points:
            box = m.point_map(
                model, coords, key, color_by=color_by, top_n=groups, query_ids=ids, neighbour_ids=neighbours,
                located=ids[-1] if ids else None, key=f"{m.CHART}-points-{generation}", only=only,
                labels=None if clustering is None else m.point_cluster_labels(model, coords, key, clustering),
                selected=st.session_state.get(m.SELECTED), keep=keep, view=view, fit_kept=isolating)
            selected = m.point_selection_update(box)
        else:
            event = st.plotly_chart(figure, key=m.CHART, on_select="rerun", selection_mode=("box", "lasso", "points"),
                                    config={"displaylogo": False, "scrollZoom": True})
            selected = m.map_selection_update(event)
        if m.point_labels_trimmed(model) if points else m.hover_trimmed(model):
            st.caption(f"Hovering shows titles only: with the details, {model.n_books:,} books would not fit in "
                       "one message.")
    if keep is not None:  # a book filtered out of the map is not selected
        selected = [i for i in selected if keep[i]]
    cf.facet_charts(model, keep, selected, charts)
    if clustering is not None:
        explain.cluster_books_table(model, clustering)

    if selected:
        st.subheader("Selected books")
        st.caption(f"{len(selected):,} books selected")
        st.dataframe(report.books_frame(model, selected), hide_index=True, width="stretch",
                     column_config={"year": st.column_config.NumberColumn(format="%d")})
        row = st.container(horizontal=True)
        row.download_button("Selection for the Projector (zip)", data=lambda: ui.projector_zip(model, ids=selected),
                            file_name=f"{model.name}-selection-projector.zip", mime="application/zip",
                            on_click="ignore", icon=":material/download:")
        row.download_button("Selection as CSV", data=lambda: m.selection_csv(model, selected),
                            file_name=f"{model.name}-selection.csv", mime="text/csv", on_click="ignore",
                            icon=":material/table:")
        row.button("Isolate selection", on_click=cf.isolate, args=(model, selected),
                   icon=":material/filter_center_focus:",
                   help="Draw only the selected books (and chart only them); \"Show all books\" brings the others "
                        "back.")
        row.button("Clear selection", on_click=m.clear_map_selection, icon=":material/close:")
    elif points:
        st.caption("Shift-drag on the map to select a box of books; the selection is listed here and can be exported.")
    elif dims == 3:
        st.caption("Box and lasso selection work on the 2-D map; in 3-D, click points to select them.")
    else:
        st.caption("Drag on the map to select a box of books (lasso and zoom are in its top-right toolbar); "
                   "the selection is listed here and can be exported.")

    with st.expander("Saved views", icon=":material/bookmark:"):
        with st.form("save_view", clear_on_submit=True, border=False):
            name = st.text_input("Save the current view as", placeholder="e.g. Russian classics")
            if st.form_submit_button("Save view", icon=":material/bookmark_add:"):
                try:
                    proj.save_view(model, name, projection=key, selected=selected, query=titles, color_by=color_by)
                    st.toast("View saved; the Projector export includes it as a bookmark.", icon=":material/bookmark:")
                except BookembedError as err:
                    ui.show_error("Not saved:", err)
        if st.session_state.pop(m.VIEW_PROBLEM, None) is not None:
            st.warning("That view's projection is no longer saved in the model folder.", icon=":material/warning:")
        views = proj.load_views(model)
        if views:
            st.dataframe(report.views_table(views), hide_index=True, width="stretch")
            chosen = st.selectbox("View", range(len(views)), format_func=lambda i: views[i].name, key=m.VIEW_PICK)
            row = st.container(horizontal=True)
            row.button("Open", on_click=m.open_view, args=(views[chosen],), icon=":material/open_in_new:")
            row.button("Delete", on_click=proj.delete_view, args=(model, views[chosen].name), icon=":material/delete:")


chart_and_selection()
