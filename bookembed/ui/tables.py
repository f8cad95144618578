"""Result tables: text only, numbers as numbers; a ticked row becomes the query. The Model page's table of
baselines, the best of each column marked."""

from __future__ import annotations

from typing import Sequence

import pandas as pd
import streamlit as st

from bookembed.ui.pickers import set_query


def book_table(frame: pd.DataFrame, key: str, *, pick_rows: bool = True, model=None, queries: Sequence[str] = (),
               score: str = "similarity", score_format: str = "%.3f") -> None:
    """Results of ``similar_books`` / ``books_for_link``: text only, similarity as a number.

    With ``model``, the shared links are shown most informative first and the
    common ones counted apart (``neighbors.split_common``). With several
    ``queries`` (the query books' titles, in the order given to
    ``similar_books``), one column per query book holds each result's cosine
    to it. ``score`` labels the column the results are ordered by (shown with
    ``score_format``). Clicking a row (when ``pick_rows``) makes that book the
    query.
    """
    view = pd.DataFrame({"rank": frame["rank"], "title": frame["title"], "similarity": frame["similarity"]})
    config = {
        "rank": st.column_config.NumberColumn("rank", width="small"),
        "title": st.column_config.TextColumn("title", width="medium"),
        "similarity": st.column_config.NumberColumn(score, format=score_format,
                                                    width="small" if score == "similarity" else None),
        "year": st.column_config.NumberColumn("year", format="%d", width="small"),
    }
    if len(queries) > 1:
        for j, title in enumerate(queries, start=1):
            view[f"to {j}"] = frame[f"similarity_{j}"]
            short = " ".join(title.split())
            short = short if len(short) <= 24 else short[:23] + "…"
            config[f"to {j}"] = st.column_config.NumberColumn(
                f"to {short}", format="%.3f", help=f"Cosine similarity to query book {j} (in the order listed above)")
    for col in ("author", "genre", "year"):
        if col in frame.columns:
            view[col] = frame[col]
    if "shared_links" in frame.columns:
        _shared_columns(view, config, frame["shared_links"], model)
    if "links_to_it" in frame.columns:
        view["links to it"] = frame["links_to_it"]
        config["links to it"] = st.column_config.CheckboxColumn("links to it", help="The article really links there")
    if not pick_rows or frame.empty:
        st.dataframe(view, hide_index=True, column_config=config, width="stretch")
        return
    # The table keeps its key from one search to the next, so the browser updates it in place rather than
    # building a new one; a ticked row moves it to a new key, so the tick does not stay on the next results.
    picks = f"{key}_picks"
    widget_key = f"{key}:{st.session_state.get(picks, 0)}"

    def picked() -> None:
        rows = st.session_state[widget_key].selection.rows
        if rows:
            set_query([frame["title"].iloc[rows[0]]])
            st.session_state[picks] = st.session_state.get(picks, 0) + 1

    st.dataframe(view, hide_index=True, column_config=config, width="stretch", key=widget_key,
                 on_select=picked, selection_mode="single-row")
    st.caption("Tick a row to search for that book.")


def _shared_columns(view: pd.DataFrame, config: dict, shared: pd.Series, model) -> None:
    """The "shared" count, (with ``model``) the "common links" note, and the "shared links" list, rarest first.

    The note comes before the list: it is short, and the list runs past the table's right edge.
    """
    from bookembed.neighbors import COMMON_MIN_BOOKS, COMMON_SHARE, split_common

    view["shared"] = [len(x) for x in shared]
    config["shared"] = st.column_config.NumberColumn("shared", width="small", help="Links shared with the query")
    split = [split_common(model, list(x)) if model is not None else (list(x), []) for x in shared]
    if model is not None:
        view["common links"] = [f"+ {len(common)} such as {common[0]}" if common else "" for _, common in split]
        config["common links"] = st.column_config.TextColumn(
            "common links",
            help=f"Shared links that at least {COMMON_SHARE:.0%} of all books (and {COMMON_MIN_BOOKS}+) link to: "
                 "too common to say why these two are close")
    view["shared links"] = [" · ".join(rare) for rare, _ in split]
    config["shared links"] = st.column_config.TextColumn(
        "shared links", width="large", help="Links shared with the query, the rarest (most telling) first")


def link_table(frame: pd.DataFrame) -> None:
    """Results of ``similar_links`` / ``links_for_book``."""
    view = frame.drop(columns=["id"]).rename(columns={"books": "books linking", "shared_books": "books linking both"})
    st.dataframe(
        view,
        hide_index=True,
        width="stretch",
        column_config={
            "link": st.column_config.TextColumn("link", width="large"),
            "similarity": st.column_config.NumberColumn("similarity", format="%.3f"),
        },
    )


# ---------------------------------------------------------------- the model beside its baselines

NOT_MEASURED = "—"
BEST_MARK = " ★"
LOWER_IS_BETTER = ("seconds",)
REFERENCE_ROWS = ("chance (random neighbours)",)  # a reference for purity, not a method that can win


def _shown(column: str, value: float) -> str:
    if pd.isna(value):
        return NOT_MEASURED
    return f"{value:,.2f}" if column in LOWER_IS_BETTER else f"{value:.3f}"


def best_cells(table: pd.DataFrame) -> pd.DataFrame:
    """Which figure of each column of ``evaluate.baseline_table`` is the best: True there, False elsewhere.

    The highest, or the lowest for ``seconds``; compared as shown (``_shown``), so figures that read the
    same are all marked; references (chance) and unmeasured figures never win.

    Returns
    -------
    DataFrame of bool, the shape and labels of ``table`` (``method`` all False)
    """
    best = pd.DataFrame(False, index=table.index, columns=table.columns)
    methods = ~table["method"].isin(REFERENCE_ROWS)
    for column in table.columns[1:]:
        values = table.loc[methods, column].dropna()
        if values.empty:
            continue
        shown = values.map(lambda v, c=column: float(_shown(c, v).replace(",", "")))
        winner = shown.min() if column in LOWER_IS_BETTER else shown.max()
        best.loc[shown.index[shown == winner], column] = True
    return best


def shown_baselines(table: pd.DataFrame) -> pd.DataFrame:
    """The table as text, as the Model page shows it: 3 decimals (seconds 2), the best marked ★, "—" for a
    figure that was not measured (never "None")."""
    best = best_cells(table)
    shown = table.astype(object).copy()
    for column in table.columns[1:]:
        shown[column] = [_shown(column, v) + (BEST_MARK if b else "") for v, b in zip(table[column], best[column])]
    return shown


def baselines_table(table: pd.DataFrame) -> None:
    """``evaluate.baseline_table`` drawn: numbers stay numbers (the columns sort), shown as ``shown_baselines``
    reads them, the best of each column also on a green ground."""
    best = best_cells(table)
    text = shown_baselines(table)
    styler = table.style.format({c: (lambda v, c=c: _shown(c, v)) for c in table.columns[1:]})
    for row, column in zip(*best.to_numpy().nonzero()):
        mark = text.iat[row, column]
        styler = styler.format(lambda _, mark=mark: mark, subset=pd.IndexSlice[table.index[row], table.columns[column]])
    styler = styler.apply(lambda _: best.replace({True: "background-color: #dcefdc; font-weight: bold", False: ""}),
                          axis=None)
    st.dataframe(styler, hide_index=True, width="stretch", placeholder=NOT_MEASURED)  # a missing figure: not "None"
