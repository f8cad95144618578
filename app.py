"""bookembed dashboard: `streamlit run app.py`.

The pages live in pages/ (Streamlit's own multipage convention) and each one
draws the shared frame: the sidebar's page list, the model folder picker
(models/demo by default, or any folder under $BOOKEMBED_MODELS_DIR / models)
and the model's size. The entry point itself only opens the Search page,
keeping the URL's query (?book=..., ?model=...). The frame starts, once per
server process, the background warm-up of the map's compiled code.
"""

import streamlit as st

from bookembed.ui import PAGES

st.switch_page(PAGES[0][0], query_params={key: st.query_params.get_all(key) for key in st.query_params})
