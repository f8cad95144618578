"""The frame around every page: page settings, navigation, the model picker, the training banner.

Every page script starts with ``frame()``. The app uses Streamlit's own
``pages/`` convention: ``app.py`` is the entry point and sends the browser to
the Search page, each page in ``pages/`` draws the frame itself, so a page
opened directly (``/map`` on a fresh server) looks exactly like one reached
through the menu. The sidebar's page list is drawn here with ``st.page_link``
(Streamlit's own list is hidden in ``.streamlit/config.toml``), so the pages
have proper names, icons and order.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from bookembed.errors import BookembedError
from bookembed.ui.model import load_model, model_picker, sidebar_summary
from bookembed.ui.train import training_result_banner
from bookembed.ui.warm import first_map_cached, start_warm_up

# (script, label, icon) in menu order; the script path is relative to app.py.
PAGES = (
    ("pages/search.py", "Search", ":material/search:"),
    ("pages/map.py", "Map", ":material/scatter_plot:"),
    ("pages/compare.py", "Compare", ":material/compare:"),
    ("pages/export.py", "Export", ":material/download:"),
    ("pages/model.py", "Model", ":material/monitoring:"),
    ("pages/train.py", "Train", ":material/model_training:"),
)


def frame(*, prefetch_chart: bool = True) -> None:
    """Page settings, the sidebar (pages, model picker, model size) and a one-time training result banner.

    Also starts, once per server process, the background warm-up of the map's compiled code
    (``ui.warm``), whichever page a fresh server is first opened on, unless the chosen model's first map is
    cached already.
    """
    st.set_page_config(page_title="bookembed", page_icon=":material/menu_book:", layout="wide")
    with st.sidebar:
        for script, label, icon in PAGES:
            st.page_link(script, label=label, icon=icon)
        st.divider()
    model_picker()
    start_warm_up(wanted=_first_map_not_cached)
    sidebar_summary()
    training_result_banner()
    prefetch_scripts(chart=prefetch_chart)


def _first_map_not_cached() -> bool:
    try:
        model = load_model()
    except BookembedError:
        return True
    return model is None or not first_map_cached(model)


def prefetch_scripts(*, chart: bool = True) -> None:
    """Once per session, an invisible Plotly chart and table at the foot of the sidebar.

    The browser fetches and compiles Plotly (megabytes of script) and the
    table component the first time a page shows them, a wait the user sees on
    the first map and the first result table (docs/performance.md has the
    figures). Doing it while the first page is read takes that off the first
    search and the first map. The chart is WebGL only when this model's map
    will be (above ``map.SVG_UP_TO`` books, up to ``mapviz.POINTS_ABOVE``, where the
    point renderer takes over): setting up WebGL is a wait of its own in a
    browser that draws it in software, which an SVG map or the point renderer
    never pays. ``chart=False`` leaves the chart out: a page that draws its own
    Plotly charts (the Map page) has the browser fetch Plotly anyway, and a
    chart more would only delay its first picture.
    """
    if st.session_state.get("_scripts_prefetched"):
        return
    st.session_state["_scripts_prefetched"] = True
    with st.sidebar.container(height=1, border=False):
        if chart:
            _invisible_chart()
        st.dataframe(pd.DataFrame({"": [""]}), hide_index=True, width=10, height=40)


def _invisible_chart() -> None:
    import plotly.graph_objects as go

    from bookembed.mapviz import POINTS_ABOVE
    from bookembed.ui.map import SVG_UP_TO

    try:
        model = load_model()
    except BookembedError:
        model = None
    # WebGL only where the first map will be Plotly's WebGL one: above POINTS_ABOVE the point renderer draws it
    webgl = model is not None and SVG_UP_TO < model.n_books <= POINTS_ABOVE
    trace = go.Scattergl if webgl else go.Scatter
    figure = go.Figure(trace(x=[0], y=[0], mode="markers", marker={"size": 1, "opacity": 0}, hoverinfo="skip"))
    figure.update_layout(width=10, height=10, margin={"l": 0, "r": 0, "t": 0, "b": 0}, showlegend=False,
                         xaxis={"visible": False}, yaxis={"visible": False})
    st.plotly_chart(figure, config={"displayModeBar": False, "staticPlot": True}, width=10, height=10)
