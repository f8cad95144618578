"""The Map page's linked charts: genre, country and year of the books shown and selected; a click on a bar
filters the map, filters combine (AND) and show as removable chips; a selection can be isolated.

The counting is ``bookembed.crossfilter``'s; this module keeps the filters in the session and draws.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from bookembed.store import ModelFolder
from bookembed.ui import map as m
from bookembed.ui.text import escape_markdown

FILTERS = "map_filters"  # {facet name: crossfilter.Choice}: the bars clicked, one per chart
ISOLATED = "map_isolated"  # tuple of book ids the map is restricted to, or absent
CHARTS = "_map_facets"  # bumped when the filters change: the charts are drawn afresh, with no bar selected


@st.cache_resource(max_entries=4, show_spinner=False)
def _columns(path: str, stamp: int | None, _model: ModelFolder):  # noqa: ARG001 - the key
    from bookembed.crossfilter import facet_columns
    from bookembed.distinct import column_distinct, column_years

    return facet_columns(_model.books, distinct=lambda column: column_distinct(_model, column),
                         years=lambda: column_years(_model))


def columns(model: ModelFolder):
    """The model's facets as codes (``crossfilter.facet_columns``), once per model folder."""
    return _columns(str(model.path.resolve()), model.stamp, model)


def filters() -> list:
    return list(st.session_state.get(FILTERS, {}).values())


def isolated(model: ModelFolder) -> tuple[int, ...] | None:
    ids = st.session_state.get(ISOLATED)
    return None if ids is None else tuple(i for i in ids if 0 <= i < model.n_books)


def view_mask(model: ModelFolder) -> np.ndarray | None:
    """The books the map draws (a mask by book id), or None for every book."""
    from bookembed.crossfilter import view_mask as mask

    chosen, ids = filters(), isolated(model)
    if not chosen and ids is None:  # nothing restricts the map: no need of the facets' codes (O(n)) before it
        return None
    return mask(columns(model), chosen, ids)


def view_signature(model: ModelFolder) -> str:
    """What restricts the map, in a few characters: keys the cached figure and the point renderer's payload."""
    ids = isolated(model)
    return repr((sorted((c.facet, c.label, c.values, c.other, c.span) for c in filters()),
                 None if ids is None else (len(ids), hash(ids))))


def _changed(model: ModelFolder) -> None:
    """After a filter or the isolated set changed: the selection keeps only the books still drawn, the charts
    start afresh and the whole page is redrawn (the map is drawn above the fragment)."""
    keep = view_mask(model)
    if keep is not None:
        st.session_state[m.SELECTED] = [i for i in st.session_state.get(m.SELECTED, []) if keep[int(i)]]
    st.session_state[CHARTS] = st.session_state.get(CHARTS, 0) + 1
    st.session_state[m.GENERATION] = st.session_state.get(m.GENERATION, 0) + 1
    st.session_state.pop(m.SELECTION_STATE, None)
    st.session_state[m.WHOLE_PAGE] = True


def set_filter(model: ModelFolder, choice) -> None:
    """Filter on one bar (replacing that chart's filter; the same bar again removes it)."""
    current = st.session_state.setdefault(FILTERS, {})
    if current.get(choice.facet) == choice:
        current.pop(choice.facet)
    else:
        current[choice.facet] = choice
    _changed(model)


def remove_filter(model: ModelFolder, facet: str) -> None:
    st.session_state.setdefault(FILTERS, {}).pop(facet, None)
    _changed(model)


def isolate(model: ModelFolder, ids) -> None:
    """Callback: draw only ``ids`` (the selection), as the Projector's "Isolate" does; the selection is cleared."""
    st.session_state[ISOLATED] = tuple(sorted(int(i) for i in ids))
    st.session_state[m.SELECTED] = []
    _changed(model)


def show_all(model: ModelFolder) -> None:
    st.session_state.pop(ISOLATED, None)
    _changed(model)


def filter_bar(model: ModelFolder, keep: np.ndarray | None) -> None:
    """The filters as chips ("Genre: fantasy ✕"), "Show all books" when a selection is isolated, and how many
    books the map shows; nothing when the map shows every book."""
    if keep is None:
        return
    row = st.container(horizontal=True, vertical_alignment="center")
    ids = isolated(model)
    for choice in filters():
        row.button(escape_markdown(choice.chip()), icon=":material/close:", icon_position="right",
                   key=f"map_filter_chip_{choice.facet}",
                   on_click=remove_filter, args=(model, choice.facet), help="Remove this filter")
    if ids is not None:
        row.button("Show all books", icon=":material/select_all:", on_click=show_all, args=(model,))
    shown = int(keep.sum())
    row.caption((f"Showing {shown:,} of {model.n_books:,} books" if shown else
                 "No book passes these filters: remove one to see books again.") +
                ("" if ids is None else f" (an isolated selection of {len(ids):,})"))


def beside():
    """Two places side by side: the map's (wide) and the linked charts' (narrow, stacked); on a narrow screen
    Streamlit puts the charts under the map."""
    return st.columns([2.7, 1], gap="small")


def facet_charts(model: ModelFolder, keep: np.ndarray | None, selected, where=None) -> None:
    """Genre, country and year stacked in ``where`` (beside the map): every book in play in grey (the isolated
    ones, or all), the books shown and selected in colour. A click on a bar filters the map by it (the whole
    page is redrawn)."""
    from bookembed import crossfilter as cf

    where = where if where is not None else st.container()
    cols = columns(model)
    base = None
    ids = isolated(model)
    if ids is not None:
        base = np.zeros(model.n_books, dtype=bool)
        base[list(ids)] = True
    if selected:
        shown = np.zeros(model.n_books, dtype=bool)
        shown[[int(i) for i in selected]] = True
        if keep is not None:
            shown &= keep
    else:
        shown = keep
    active = st.session_state.get(FILTERS, {})
    generation = st.session_state.get(CHARTS, 0)
    for facet in cf.FACETS:
        chart = cf.bars(cols, facet.name, base)
        if not chart:
            continue
        # every book's bars from each value's count; a bar for each book only for a part of them
        index = None if base is None and shown is None else cf.bar_index(cols, chart)
        totals = cf.bar_totals(cols, chart) if base is None else cf.count_bars(index, len(chart), base)
        counted = None if shown is None else cf.count_bars(index, len(chart), shown)
        title = facet.title + (" · selected" if selected else " · shown" if keep is not None else "")
        figure = cf.facet_figure(chart, totals, counted, title=title, active=active.get(facet.name),
                                 height=cf.facet_height(chart))
        event = where.plotly_chart(figure, key=f"map_facet_{facet.name}_{generation}", on_select="rerun",
                                   selection_mode="points", config={"displayModeBar": False})
        choice = cf.choice_from_event(event, chart)
        if choice is not None:
            set_filter(model, choice)
            st.session_state.pop(m.WHOLE_PAGE, None)  # rerun here, not once more from the fragment
            st.rerun(scope="app")
    what = "the selection" if selected else "the books shown" if keep is not None else None
    where.caption((f"Blue: {what}; grey: every book{' isolated' if ids is not None else ''}. " if what else "") +
                  "Click a bar to show only its books on the map (click it again, or its chip above the map, to "
                  "remove the filter); filters on several charts combine.")
