"""Search: the books (or links) nearest to a book, several books, or a link."""

import streamlit as st

from bookembed import ui
from bookembed.neighbors import COMBINES, RRF_K, books_for_link, links_for_book, similar_books, similar_links

# How several books are combined: the name on the screen, the score column's label, and what the caption says.
COMBINE = {
    "mean": ("Average", "to the average", "The query is the average of these {n} books' vectors."),
    "min": ("Close to all", "lowest similarity", "Each book is scored by its lowest similarity to these {n} books: "
            "books close to all of them come first, a book close to only one comes last."),
    "rrf": ("Rank fusion", "fusion score", "Each book is scored by the sum of 1 / ({k} + its rank) in each of these "
            "{n} books' own lists: books that rank well for several of them come first."),
}

ui.frame()
model = ui.require_model()
st.title("Search")

mode = st.radio("Search", ["Books", "Links"], horizontal=True, key="mode", bind="query-params",
                label_visibility="collapsed")

if mode == "Books":
    ids = ui.book_query(model, "search")
    left, middle, right = st.columns([2, 1, 2])
    k = left.slider("How many", 5, 100, 10, key="k", bind="query-params")
    least = middle.toggle("Least similar", key="least", bind="query-params")
    genre = right.selectbox("Genre", ui.genre_options(model), format_func=lambda g: g or "All genres",
                            key="genre", bind="query-params")
    if not ids:
        st.info("Type part of a title above. Several books can be combined: their average is searched, "
                "as if asking what readers of all of them would read next.", icon=":material/lightbulb:")
        st.stop()
    titles = model.titles_of(ids)
    combine = "mean"
    if len(titles) > 1:
        combine = st.segmented_control(
            "Combine", list(COMBINE), format_func=lambda c: COMBINE[c][0], default="mean", key="combine",
            bind="query-params", required=True,
            help=" · ".join(f"{COMBINE[c][0]}: {COMBINES[c]}" for c in COMBINE)) or "mean"
    st.subheader("Least similar to" if least else "Most similar to")
    st.text("\n".join(titles))
    if len(titles) > 1:
        st.caption(COMBINE[combine][2].format(n=len(titles), k=RRF_K))
    results = similar_books(model, titles, k, least=least, genre=genre or None, combine=combine)
    ui.book_table(results, key="results", model=model, queries=titles,
                  score=COMBINE[combine][1] if len(titles) > 1 else "similarity",
                  score_format="%.4f" if combine == "rrf" else "%.3f")
elif not model.has_link_vectors:
    st.info("Link searches are unavailable for this model: it has no link vectors "
            f"({ui.escape_markdown(model.manifest.get('link_vectors', {}).get('why', 'not stored'))}).",
            icon=":material/link_off:")
else:
    left, right = st.columns([2, 1])
    show = left.radio("Show", ["Links like a link", "Books for a link", "Links for a book"], horizontal=True,
                      key="links_mode", bind="query-params")
    k = right.slider("How many", 5, 100, 10, key="k", bind="query-params")
    if show == "Links for a book":
        ids = ui.book_query(model, "search", several=False)
        if ids:
            st.subheader("Links whose vectors are nearest to")
            title = model.titles_of(ids[:1])[0]
            st.text(title)
            ui.link_table(links_for_book(model, title, k))
            st.caption("“linked”: the article really links to that page; the others are what the model expects.")
    else:
        link = ui.link_query(model)
        if link is not None:
            st.subheader("Links like" if show == "Links like a link" else "Books whose vectors are nearest to")
            st.text(model.links[link])
            if show == "Links like a link":
                ui.link_table(similar_links(model, model.links[link], k))
            else:
                ui.book_table(books_for_link(model, model.links[link], k), key="link_results")
