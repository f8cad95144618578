"""Train: a new model from the demo corpus, the full dataset (once downloaded) or an uploaded file."""

import streamlit as st

from bookembed import ui
from bookembed.errors import BookembedError
from bookembed.ui.folders import without_server_paths

ui.frame()
st.title("Train a model")
st.write(
    "Learns a vector for every book and every linked page, so that books sharing links end up close. "
    "The result is saved as a model folder and appears in the sidebar's picker."
)
current = ui.current_model_path()
try:
    loaded, damaged = ui.load_model(current), None
except BookembedError as err:  # a damaged folder: say why in one line, and offer to train over it
    loaded, damaged = None, err
if damaged is not None:
    ui.show_error("The selected folder holds a damaged model:", without_server_paths(damaged))
    st.caption("Train a new model into it below (“Replace an existing model” is ticked), or pick another folder.")
ui.training_panel(default_name=current.name if loaded is None else "new-model", heading=False,
                  replace=damaged is not None)

st.divider()
st.subheader("Import a model")
ui.import_panel()

# ---- data: the full dataset, the newest Wikipedia dump, and records built from a dump
from bookembed.dumpjob import build_dataset_in_subprocess, download_dump, downloaded_dumps  # noqa: E402
from bookembed.download import DEFAULT_OUT, DEFAULT_URL, download  # noqa: E402

st.divider()
st.subheader("Get data")


def _job_status(key: str) -> bool:
    """Progress of a running job, or how the last one ended; True while it runs."""
    job = ui.get_job(key)
    if job is None:
        return False
    if not job.done:
        ui.watch_job(job)
        return True
    if job.error:
        st.error(ui.escape_markdown(without_server_paths(job.error)), icon=":material/error:")
    else:
        for line in job.result or []:
            st.caption(ui.escape_markdown(without_server_paths(line)))
    return False


def _bytes_progress(job, label: str):
    return lambda done, total: job.report(done / total if total else 0.0, f"{label}: {done / 1e6:,.0f} MB")


with st.expander("The full dataset: 37,020 books, 59 MB", expanded=not DEFAULT_OUT.is_file()):
    st.write(f"Saved to `{DEFAULT_OUT}`. " + ("“Full dataset” under “Train on” above trains on it. "
                                             if DEFAULT_OUT.is_file() else
                                             "Once it is there, “Train on” above offers “Full dataset”. ")
             + "A stopped download resumes.")
    if not _job_status("download-full") and st.button("Download the full dataset", key="download_full"):
        ui.start_job("download-full", "download", lambda job: [
            f"saved {download(DEFAULT_URL, DEFAULT_OUT, progress=_bytes_progress(job, 'downloading'))}"])
        st.rerun()

with st.expander("Build a dataset from a Wikipedia dump"):
    st.write(
        "Any infobox, not only books: every article using it becomes a record. A multistream dump is parsed "
        "in parallel, one process per core. English Wikipedia's dump is about 22 GB."
    )
    wiki = st.text_input("Wiki", "enwiki", help="enwiki, frwiki, dewiki, …")
    if not _job_status("download-dump") and st.button("Download the newest dump of this wiki", key="download_dump"):
        def _fetch(job):
            paths = download_dump(wiki, "data", progress=lambda name, done, total: _bytes_progress(job, name)(
                done, total))
            return [f"saved {p}" for p in paths]

        ui.start_job("download-dump", "download", _fetch)
        st.rerun()
    dumps = downloaded_dumps("data")
    dump = st.text_input("Dump file", str(dumps[0][0]) if dumps else "",
                         placeholder="data/enwiki-…-pages-articles-multistream.xml.bz2")
    index = st.text_input("Its index (optional: without it the streams are found by scanning)",
                          str(dumps[0][1]) if dumps and dumps[0][1] else "")
    infoboxes = st.text_input("Infoboxes, comma separated", "book", help="“book” matches {{Infobox book}}")
    out = st.text_input("Write records to", "data/books.ndjson")
    if not _job_status("build-dataset") and st.button("Build the dataset", key="build_dataset", disabled=not dump):
        names = [n.strip() for n in infoboxes.split(",") if n.strip()]
        ui.start_job("build-dataset", "build", lambda job: build_dataset_in_subprocess(
            dump, out, names, index=index or None,
            progress=lambda done, total, c: job.report(done / total, f"{c.pages:,} pages read, {c.kept:,} kept"),
        ) + [f"train on it with: bookembed train --data {out}"])
        st.rerun()
