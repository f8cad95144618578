"""Model: how good the chosen model is, how it trained, and what it was trained on."""

import numpy as np
import pandas as pd
import streamlit as st

from bookembed import ui
from bookembed.mapviz import loss_figure

model = ui.require_model()
st.title("Model")
st.code(str(model.path), language=None)

metrics = model.manifest.get("metrics", {})
purity = metrics.get("genre_purity") or {}
counts = model.manifest.get("counts", {})
c = st.columns(4)
auc = metrics.get("auc")
c[0].metric("Held-out AUC", "n/a" if auc is None else f"{auc:.3f}",
            help="Chance that a held-out true (book, link) pair scores above a random non-pair; 0.5 is chance.")
if purity.get("purity") is not None:
    ratio = purity["purity"] / purity["chance"] if purity.get("chance") else None
    c[1].metric(f"Genre purity (k={purity.get('k', 10)})", f"{purity['purity']:.2f}",
                delta=f"{ratio:.1f}× chance ({purity['chance']:.2f})" if ratio else None, delta_arrow="off",
                help=f"Share of each book's nearest neighbours with the same primary genre, over "
                     f"{purity.get('books', 0):,} books with a genre, against the share expected by chance.")
else:
    c[1].metric("Genre purity", "n/a", help="Too few books with a genre.")
loss = metrics.get("final_loss")
c[2].metric("Final loss", "n/a" if loss is None else f"{loss:.4f}")
seconds = metrics.get("train_seconds")
c[3].metric("Training time", "n/a" if seconds is None else f"{seconds:,.1f} s",
            help=None if not metrics.get("examples_per_s") else f"{metrics['examples_per_s']:,.0f} examples/s")

st.subheader("Training loss")
if model.history.get("epochs") or model.history.get("steps"):
    st.plotly_chart(loss_figure(model.history), config={"displaylogo": False})
else:
    st.caption("No loss history recorded in this folder.")

st.subheader("Corpus")
c = st.columns(5)
c[0].metric("Books", f"{model.n_books:,}")
c[1].metric("Links", f"{model.n_links:,}")
c[2].metric("Pairs", f"{len(model.pair_books):,}")
c[3].metric("Held out", f"{int(model.heldout.sum()):,}")
c[4].metric("Vector length", model.dim)

left, right = st.columns(2)
with left:
    st.markdown("**Most-linked pages**")
    top = np.argsort(-model.link_counts, kind="stable")[:25]
    st.dataframe(
        pd.DataFrame({"link": [model.links[j] for j in top], "books": model.link_counts[top],
                      "share of books": model.link_counts[top] / max(1, model.n_books)}),
        hide_index=True, width="stretch", height=420,
        column_config={"share of books": st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1)},
    )
with right:
    st.markdown("**Largest primary genres**")
    genres = model.books.get("primary_genre", pd.Series(dtype=str)).fillna("").replace("", "(unknown)")
    sizes = genres.value_counts().head(20)
    st.dataframe(pd.DataFrame({"genre": sizes.index, "books": sizes.to_numpy()}), hide_index=True,
                 width="stretch", height=420)

with st.expander("Training settings and data", icon=":material/settings:"):
    data = model.manifest.get("data", {})
    st.text(f"source: {data.get('source', '?')}\nchecksum: {data.get('checksum', '?')}\n"
            f"created: {model.manifest.get('created', '?')}\nseed: {model.manifest.get('seed', '?')}")
    for line in data.get("report", []):
        st.text(line)
    st.json({"config": model.manifest.get("config", {}), "cleaning": data.get("cleaning", {}),
             "versions": model.manifest.get("versions", {}), "counts": counts}, expanded=False)
