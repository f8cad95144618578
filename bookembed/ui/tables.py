"""Result tables: text only, numbers as numbers; a ticked row becomes the query."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from bookembed.ui.pickers import set_query


def book_table(frame: pd.DataFrame, key: str, *, pick_rows: bool = True) -> None:
    """Results of ``similar_books`` / ``books_for_link``: text only, similarity as a number.

    Clicking a row (when ``pick_rows``) makes that book the query.
    """
    view = pd.DataFrame({"rank": frame["rank"], "title": frame["title"], "similarity": frame["similarity"]})
    for col in ("author", "genre", "year"):
        if col in frame.columns:
            view[col] = frame[col]
    config = {
        "rank": st.column_config.NumberColumn("rank", width="small"),
        "title": st.column_config.TextColumn("title", width="medium"),
        "similarity": st.column_config.NumberColumn("similarity", format="%.3f", width="small"),
        "year": st.column_config.NumberColumn("year", format="%d", width="small"),
    }
    if "shared_links" in frame.columns:
        view["shared"] = [len(x) for x in frame["shared_links"]]
        view["shared links"] = [" · ".join(x) for x in frame["shared_links"]]
        config["shared"] = st.column_config.NumberColumn("shared", width="small", help="Links shared with the query")
        config["shared links"] = st.column_config.TextColumn("shared links", width="large")
    if "links_to_it" in frame.columns:
        view["links to it"] = frame["links_to_it"]
        config["links to it"] = st.column_config.CheckboxColumn("links to it", help="The article really links there")
    if not pick_rows or frame.empty:
        st.dataframe(view, hide_index=True, column_config=config, width="stretch")
        return
    # A new key for new results, so a ticked row does not stay ticked in the next table.
    widget_key = f"{key}:{hash(tuple(frame['id'].tolist()))}"

    def picked() -> None:
        rows = st.session_state[widget_key].selection.rows
        if rows:
            set_query([frame["title"].iloc[rows[0]]])

    st.dataframe(view, hide_index=True, column_config=config, width="stretch", key=widget_key,
                 on_select=picked, selection_mode="single-row")
    st.caption("Tick a row to search for that book.")


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
