"""Model: how good the chosen model is, how it trained, and what it was trained on."""

import json

import streamlit as st

from bookembed import report, ui
from bookembed.evaluate import baseline_table, summary
from bookembed.mapviz import loss_figure
from bookembed.ui.folders import without_server_paths
from bookembed.ui.tables import BEST_MARK, NOT_MEASURED, baselines_table

ui.frame()
model = ui.require_model()
st.title("Model")
created = str(model.manifest.get("created", "")).replace("T", " ").replace("Z", " UTC")
st.caption(f"The model in the folder **{ui.escape_markdown(model.name)}**"
           + (f", trained {ui.escape_markdown(created)}." if created else "."))

metrics = model.manifest.get("metrics", {})
lines = summary(metrics)
for column, line in zip(st.columns(len(lines)), lines):
    # a sampled figure's "± error" goes under it, in grey: the column is too narrow for both on one line
    value, _, error = line.value.partition(" ± ")
    column.metric(line.heading, value, delta=f"± {error}" if error else None, delta_color="off", delta_arrow="off",
                  help=line.detail or None)

st.subheader("Training loss")
if model.history.get("epochs") or model.history.get("steps"):
    st.plotly_chart(loss_figure(model.history), config={"displaylogo": False})
else:
    st.caption("No loss history recorded in this folder.")

st.subheader("Corpus")
c = st.columns(5)
c[0].metric("Books", f"{model.n_books:,}")
c[1].metric("Links", f"{model.n_links:,}")
c[2].metric("Pairs", f"{model.n_pairs:,}")
c[3].metric("Held out", f"{int(model.heldout.sum()):,}")
c[4].metric("Vector length", model.dim)

left, right = st.columns(2)
with left:
    st.markdown("**Most-linked pages**")
    links = report.top_links(model, 25)
    links["share of books"] *= 100  # shown as "75.5%": one decimal (Streamlit's "percent" shows two)
    st.dataframe(
        links, hide_index=True, width="stretch", height=420,
        column_config={"link": st.column_config.TextColumn(width="medium"),
                       "books": st.column_config.NumberColumn(width="small"),
                       "share of books": st.column_config.ProgressColumn(format="%.1f%%", min_value=0, max_value=100)},
    )
with right:
    st.markdown("**Largest primary genres**")
    st.dataframe(report.genre_counts(model, 20), hide_index=True, width="stretch", height=420)

st.subheader("What the training bought: the model beside its baselines")
table = baseline_table(metrics)
if table is None:
    st.caption("This folder was trained before baselines were measured: "
               "`bookembed evaluate --baselines --write` adds them.")
else:
    st.caption("Every method is fitted on the same training pairs and scored on the same held-out pairs: "
               "Hits@10 is the share of held-out links ranked in a book's top 10 among the links it lacks; "
               "purity@10 the share of a book's 10 nearest books with the same genre, author or country.")
    baselines_table(table)
    st.caption(f"{BEST_MARK.strip()} the best figure of each column (for seconds, the fewest); chance is a "
               f"reference, not a method. {NOT_MEASURED} not measured.")

with st.expander("Training settings and data", icon=":material/settings:"):
    data = model.manifest.get("data", {})
    st.text(f"source: {without_server_paths(data.get('source', '?'))}\nchecksum: {data.get('checksum', '?')}\n"
            f"created: {model.manifest.get('created', '?')}\nseed: {model.manifest.get('seed', '?')}")
    for line in data.get("report", []):
        st.text(without_server_paths(line))
    settings = {"config": model.manifest.get("config", {}), "cleaning": data.get("cleaning", {}),
                "versions": model.manifest.get("versions", {}), "counts": model.manifest.get("counts", {})}
    st.json(json.loads(without_server_paths(json.dumps(settings, default=str))), expanded=False)
