"""The book and link pickers: fuzzy, accent-insensitive, shared by the pages and mirrored in the URL."""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from bookembed.graph import fold
from bookembed.names import match_names, search_names
from bookembed.store import ModelFolder

QUERY = "query"  # session: titles of the current book query, shared by the pages


def _book_label(model: ModelFolder, i: int) -> str:
    row = model.books.iloc[i]
    facts = [str(row[c]) for c in ("author",) if c in row and isinstance(row[c], str) and row[c]]
    if "year" in row and not pd.isna(row["year"]):
        facts.append(str(int(row["year"])))
    title = re.sub(r"\s+", " ", str(row["title"])).strip()
    return f"{title} — {', '.join(facts)}" if facts else title


def _keep_and_clear(key: str, title: str) -> None:
    basket = st.session_state.setdefault(f"{key}_basket", [])
    if title not in basket:
        basket.append(title)
    st.session_state[f"{key}_text"] = ""


def _clear_query(key: str) -> None:
    st.session_state[f"{key}_basket"] = []
    st.session_state[f"{key}_text"] = ""


def set_query(titles: list[str]) -> None:
    """Make ``titles`` the current book query (every page's picker follows on its next run)."""
    st.session_state[QUERY] = list(titles)


def book_query(
    model: ModelFolder, key: str = "search", *, several: bool = True, label: str = "Book", compact: bool = False
) -> list[int]:
    """A book picker: type part of a title, pick among fuzzy matches; optionally several books.

    The query is shared by the pages (``st.session_state["query"]``) and kept
    in the URL as ``?book=Title`` (repeated for several books), so a link
    reproduces it. Matching ignores case, accents and punctuation and tolerates
    typos; it is the command line's (``names.match_names``): the match chosen
    first is the book ``bookembed neighbors`` would take for the same text. ``compact`` puts the box, the matches and
    the buttons on one row.

    Returns
    -------
    list of int
        The query's book ids (empty when nothing is chosen).
    """
    text_key, basket_key, shown_key = f"{key}_text", f"{key}_basket", f"{key}_shown"
    url = st.query_params.get_all("book")
    shown = st.session_state.get(shown_key)
    wanted = url if (url and url != shown) else st.session_state.get(QUERY, [])
    if wanted != shown or text_key not in st.session_state:
        # The query changed elsewhere (a link, another page, a clicked row): show it here.
        st.session_state[text_key] = wanted[-1] if wanted else ""
        st.session_state[basket_key] = list(wanted[:-1]) if several else []
    if compact:
        box, matches, buttons = st.columns([2, 3, 1.1], vertical_alignment="bottom")
    else:
        box = matches = st.container()
        buttons = None
    text = box.text_input(
        label,
        key=text_key,
        placeholder="Type part of a title, e.g. war and peace",
        help="Fuzzy: case, accents and small typos don't matter.",
    )
    pick = None
    if text.strip():
        found = match_names(model, text, "book", limit=25)
        hits = list(found.ids)
        if not hits:
            matches.warning("No title matches that; try fewer or other words.", icon=":material/search_off:")
        else:
            pick = matches.selectbox(
                "Matching titles",
                hits,
                format_func=lambda i: _book_label(model, i),
                key=f"{key}_pick:{fold(text)}",
                help="Best match first." if found.clear is not None else
                "Several titles fit what you typed equally well, best first: pick one.",
            )
    basket = [t for t in st.session_state.get(basket_key, []) if model.book_id(t) is not None] if several else []
    if several:
        row = (buttons or st).container(horizontal=True)
        row.button(
            "" if compact else "Add another book",
            icon=":material/add:",
            on_click=_keep_and_clear,
            args=(key, model.titles_of([pick])[0] if pick is not None else ""),
            disabled=pick is None,
            key=f"{key}_add",
            help="Add another book: keep this one in the query and clear the box for the next. The search then "
            "combines them (their average, or books close to all of them: see Combine).",
        )
        row.button("" if compact else "Clear", icon=":material/close:", on_click=_clear_query, args=(key,),
                   disabled=not (basket or pick is not None), key=f"{key}_clear", help="Clear the query")
        if basket:
            kept = st.multiselect("Also in the query", basket, default=basket)
            if kept != basket:
                basket = kept
                st.session_state[basket_key] = kept
    kept_ids = [model.book_id(t) for t in basket]
    ids = list(dict.fromkeys([i for i in kept_ids if i is not None] + ([int(pick)] if pick is not None else [])))
    titles = model.titles_of(ids)
    set_query(titles)
    st.session_state[shown_key] = titles
    if st.query_params.get_all("book") != titles:
        if titles:
            st.query_params["book"] = titles
        elif "book" in st.query_params:
            del st.query_params["book"]
    return ids


def link_query(model: ModelFolder, key: str = "link") -> int | None:
    """A link picker (fuzzy, like ``book_query``); the typed text is kept in the URL as ``?link=``."""
    text = st.text_input(
        "Link (a Wikipedia page that book articles link to)",
        key=key,
        bind="query-params",
        placeholder="e.g. science fiction, leo tolstoy, category:russian novels",
    )
    if not text.strip():
        return None
    hits = search_names(model, text, "link", limit=25)
    if not hits:
        st.warning("No link matches that; try fewer or other words.", icon=":material/search_off:")
        return None
    return st.selectbox(
        "Matching links",
        hits,
        format_func=lambda j: f"{model.links[j]} — {int(model.link_counts[j]):,} books",
        key=f"{key}_pick:{fold(text)}",
    )


def genre_options(model: ModelFolder) -> list[str]:
    """``""`` (all genres) then the primary genres, most common first (counted once per model folder)."""
    return list(_genre_options(str(model.path.resolve()), model.stamp, model))


@st.cache_resource(max_entries=8, show_spinner=False)
def _genre_options(path: str, stamp: int | None, _model: ModelFolder) -> tuple[str, ...]:  # noqa: ARG001 - the key
    if "primary_genre" not in _model.books.columns:
        return ("",)
    counts = _model.books["primary_genre"].fillna("").value_counts()
    return ("",) + tuple(g for g in counts.index if g)


