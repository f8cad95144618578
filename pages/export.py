"""Export: files for the TensorFlow Projector (projector.tensorflow.org), all books or the map selection."""

import streamlit as st

from bookembed import report, ui
from bookembed.errors import BookembedError
from bookembed.export import mime_type
from bookembed.projector import TENSORBOARD_MAX_POINTS

ui.frame()
model = ui.require_model()
st.title("Export")
st.write(
    "Open [projector.tensorflow.org](https://projector.tensorflow.org), choose **Load**, and give it the vectors "
    "TSV and the metadata TSV; or host the files with the config JSON. Saved map views become bookmarks."
)

what = st.radio("Vectors of", ["books", "links"] if model.has_link_vectors else ["books"], horizontal=True,
                key="export_what")
if not model.has_link_vectors:
    st.caption("This model has no link vectors: only books can be exported.")
count = model.n_books if what == "books" else model.n_links
st.caption(f"{count:,} {what} × {model.dim} dimensions")
prefix = f"{model.name}-{what}"
if count > TENSORBOARD_MAX_POINTS:
    # Made when clicked: the whole set as Projector text would be hundreds of MB.
    st.info(f"The Projector shows at most {TENSORBOARD_MAX_POINTS:,} points of a tensor. Take a sample it shows "
            "whole, every row in shards of that size, or everything as Parquet.", icon=":material/info:")
    row = st.container(horizontal=True)
    if what == "books":
        row.download_button(f"Sample of {TENSORBOARD_MAX_POINTS:,} books by genre (zip)", type="primary",
                            data=lambda: ui.large_export(model, what, "sample"), file_name=f"{prefix}-sample.zip",
                            mime="application/zip", on_click="ignore", icon=":material/folder_zip:", key="export_sample")
    row.download_button(f"All {count:,} in shards (zip)", data=lambda: ui.large_export(model, what, "shards"),
                        file_name=f"{prefix}-shards.zip", mime="application/zip", on_click="ignore",
                        icon=":material/folder_zip:", key="export_shards")
    row.download_button("All as Parquet", data=lambda: ui.large_export(model, what, "parquet"),
                        file_name=f"{prefix}.parquet", mime=mime_type(".parquet"), on_click="ignore",
                        icon=":material/download:", key="export_parquet")
else:
    try:
        names = list(ui.projector_export(model, what))
    except BookembedError as err:
        ui.show_error("Cannot export this model:", err)
        st.stop()
    columns = st.columns(len(names) + 1)
    for column, name in zip(columns, names):
        # A callable: the file is handed over when clicked, not kept per page run.
        column.download_button(name, data=lambda name=name: ui.projector_export(model, what)[name],
                               file_name=f"{prefix}-{name}", on_click="ignore", mime=mime_type(name),
                               icon=":material/download:", key=f"export_{name}")
    columns[-1].download_button("All as zip", data=lambda: ui.projector_zip(model, what), type="primary",
                                file_name=f"{prefix}-projector.zip", mime="application/zip", on_click="ignore",
                                icon=":material/folder_zip:", key="export_zip")
st.download_button("Metadata for a spreadsheet (CSV)", data=lambda: ui.spreadsheet_metadata(model, what),
                   file_name=f"{prefix}-metadata.csv", mime="text/csv", on_click="ignore", icon=":material/table:",
                   key="export_csv",
                   help="The Projector's metadata.tsv keeps every value exactly as it is, for the Projector; this CSV "
                        "is for spreadsheets: a value that a spreadsheet would run as a formula (starting with =, +, "
                        "-, @) starts with an apostrophe.")

st.subheader("Current selection")
selected = ui.selected_books(model)
if not selected:
    st.info("Nothing selected. Select books on the Map page with the box or lasso tool to export only those.",
            icon=":material/info:")
else:
    st.caption(f"{len(selected):,} books selected on the Map page")
    st.download_button("Selection for the Projector (zip)", data=lambda: ui.projector_zip(model, ids=selected),
                       file_name=f"{model.name}-selection-projector.zip", mime="application/zip",
                       on_click="ignore", icon=":material/folder_zip:", key="export_selection")
    st.dataframe(report.books_frame(model, selected), hide_index=True, width="stretch",
                 column_config={"year": st.column_config.NumberColumn(format="%d")})
