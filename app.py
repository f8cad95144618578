"""bookembed dashboard: `streamlit run app.py`.

The sidebar picks the model folder (models/demo by default, or any folder
under $BOOKEMBED_MODELS_DIR / models); every page works on that choice.
"""

import streamlit as st

from bookembed import ui

st.set_page_config(page_title="bookembed", page_icon=":material/menu_book:", layout="wide")

navigation = st.navigation(
    [
        st.Page("pages/search.py", title="Search", icon=":material/search:", default=True),
        st.Page("pages/map.py", title="Map", icon=":material/scatter_plot:"),
        st.Page("pages/export.py", title="Export", icon=":material/download:"),
        st.Page("pages/model.py", title="Model", icon=":material/monitoring:"),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    ]
)
ui.mark_frame()
ui.model_picker()
ui.sidebar_summary()
ui.training_result_banner()
ui.prefetch_scripts()
navigation.run()
