"""Search: the books (or links) nearest to a book, several books, or a link."""

import streamlit as st

from bookembed import ui
from bookembed.neighbors import books_for_link, links_for_book, similar_books, similar_links

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
    titles = [model.titles[i] for i in ids]
    st.subheader("Least similar to" if least else "Most similar to")
    st.text("\n".join(titles))
    if len(titles) > 1:
        st.caption(f"The query is the average of these {len(titles)} books' vectors.")
    ui.book_table(similar_books(model, titles, k, least=least, genre=genre or None), key="results")
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
            st.text(model.titles[ids[0]])
            ui.link_table(links_for_book(model, model.titles[ids[0]], k))
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
