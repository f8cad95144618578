"""Model: how good the chosen model is, how it trained, and what it was trained on."""

import streamlit as st

from bookembed import report, ui
from bookembed.evaluate import baseline_table, summary
from bookembed.mapviz import loss_figure

ui.frame()
model = ui.require_model()
st.title("Model")
st.code(str(model.path), language=None)

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
    st.dataframe(
        report.top_links(model, 25), hide_index=True, width="stretch", height=420,
        column_config={"share of books": st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1)},
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
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.3f") for c in table.columns[1:]})

with st.expander("Training settings and data", icon=":material/settings:"):
    data = model.manifest.get("data", {})
    st.text(f"source: {data.get('source', '?')}\nchecksum: {data.get('checksum', '?')}\n"
            f"created: {model.manifest.get('created', '?')}\nseed: {model.manifest.get('seed', '?')}")
    for line in data.get("report", []):
        st.text(line)
    st.json({"config": model.manifest.get("config", {}), "cleaning": data.get("cleaning", {}),
             "versions": model.manifest.get("versions", {}), "counts": model.manifest.get("counts", {})},
            expanded=False)
