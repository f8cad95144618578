"""Train: a new model from the demo corpus, the full dataset or an uploaded file."""

import streamlit as st

from bookembed import ui

ui.ensure_frame()
st.title("Train a model")
st.write(
    "Learns a vector for every book and every linked page, so that books sharing links end up close. "
    "The result is saved as a model folder and appears in the sidebar's picker."
)
current = ui.current_model_path()
ui.training_panel(default_name=current.name if ui.load_model(current) is None else "new-model", heading=False)
