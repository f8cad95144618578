"""Tables about a model folder for people to read: books, most-linked pages, genres, saved views.

Plain DataFrames, computed here so the pages only lay them out (and the CLI
or a notebook can print the same thing).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from bookembed.graph import LinkGraph

UNKNOWN_GENRE = "(unknown)"


def books_frame(graph: LinkGraph, ids: Sequence[int]) -> pd.DataFrame:
    """Metadata rows of some books, in the given order, for display.

    Returns
    -------
    DataFrame, shape (len(ids), k)
        ``id, title, author, genre, year, country, language, publisher, links``
        (the columns the model has).
    """
    ids = [int(i) for i in ids]
    cols = [c for c in ("title", "author", "primary_genre", "year", "country", "language", "publisher", "n_links")
            if c in graph.books.columns]
    frame = graph.books.iloc[ids][cols].rename(columns={"primary_genre": "genre", "n_links": "links"})
    frame.insert(0, "id", ids)
    return frame.reset_index(drop=True)


def top_links(graph: LinkGraph, n: int = 25) -> pd.DataFrame:
    """The ``n`` most-linked pages: ``link``, ``books`` (how many link there) and ``share of books``."""
    top = np.argsort(-np.asarray(graph.link_counts), kind="stable")[:n]
    counts = np.asarray(graph.link_counts)[top]
    return pd.DataFrame({"link": [graph.links[j] for j in top], "books": counts,
                         "share of books": counts / max(1, graph.n_books)})


def genre_counts(graph: LinkGraph, n: int = 20) -> pd.DataFrame:
    """The ``n`` largest primary genres: ``genre`` and ``books``; books without one count as "(unknown)"."""
    genres = graph.books.get("primary_genre", pd.Series([""] * graph.n_books, dtype=str))
    sizes = genres.fillna("").replace("", UNKNOWN_GENRE).value_counts().head(n)
    return pd.DataFrame({"genre": sizes.index.astype(str), "books": sizes.to_numpy()})


def views_table(views) -> pd.DataFrame:
    """Saved map views (``projection.View``) as a table: name, projection, books selected, query, colour, saved."""
    return pd.DataFrame(
        [{"name": v.name, "projection": v.projection or "", "books selected": len(v.selected),
          "query": " · ".join(v.query), "colour by": v.color_by or "", "saved": v.created} for v in views],
        columns=["name", "projection", "books selected", "query", "colour by", "saved"],
    )
