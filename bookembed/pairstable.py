"""Records in, the generic form: a table of (item, link) pairs, and a metadata table keyed by item.

CSV, TSV or Parquet. Every problem with a table raises ``CorpusError`` with one
line naming the file and the row or column at fault. ``corpus.load_corpus``
cleans what these return by the same rules as NDJSON records.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bookembed.errors import CorpusError
from bookembed.metadata import METADATA_FIELDS, clean_text, parse_pages, parse_year, primary_genre
from bookembed.records import LoadReport, books_metadata_frame


_ITEM_COLUMNS = ("item", "title", "book", "entity", "name")
_LINK_COLUMNS = ("link", "target", "wikilink", "feature")


def _read_table(path: Path) -> pd.DataFrame:
    suffixes = "".join(path.suffixes[-2:]).lower()
    try:
        if suffixes.endswith(".parquet") or suffixes.endswith(".pq"):
            return pd.read_parquet(path)
        sep = "\t" if ".tsv" in suffixes else ","
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except FileNotFoundError:
        raise CorpusError(f"{path}: no such file") from None
    except UnicodeDecodeError as err:
        raise CorpusError(f"{path.name}: not UTF-8 text (byte {err.start + 1})") from None
    except pd.errors.EmptyDataError:
        raise CorpusError(f"{path.name}: empty file, no rows") from None
    except pd.errors.ParserError as err:
        raise CorpusError(f"{path.name}: cannot parse as CSV ({str(err).splitlines()[0]})") from None
    except Exception as err:  # pyarrow raises several unrelated types for bad Parquet
        raise CorpusError(f"{path.name}: cannot read table ({type(err).__name__}: {str(err).splitlines()[0]})") from None


def _pick(columns: list[str], wanted: tuple[str, ...]) -> str | None:
    lower = {str(c).strip().lower(): c for c in columns}
    for w in wanted:
        if w in lower:
            return lower[w]
    return None


def read_pairs_table(path: str | Path) -> tuple[list[str], np.ndarray, object, LoadReport]:
    """Read an (item, link) table: CSV, TSV or Parquet.

    The item column is named one of ``item, title, book, entity, name`` and the
    link column one of ``link, target, wikilink, feature``; otherwise the first
    two columns are used.

    Returns
    -------
    titles : list of str
        Items in order of first appearance.
    link_book : ndarray of int64, shape (n_rows,)
        Each row's item, as a position in ``titles``.
    links : pyarrow Array of str, shape (n_rows,)
    report : LoadReport
    """
    path = Path(path)
    frame = _read_table(path)
    if len(frame.columns) < 2:
        raise CorpusError(f"{path.name}: expected two columns (item, link), found {list(frame.columns)}")
    item_col = _pick(list(frame.columns), _ITEM_COLUMNS) or frame.columns[0]
    link_col = _pick(list(frame.columns), _LINK_COLUMNS) or frame.columns[1]
    if len(frame) == 0:
        raise CorpusError(f"{path.name}: no rows")
    items = frame[item_col].astype("string").fillna("").str.strip()
    links = frame[link_col].astype("string").fillna("").str.strip()
    for col, values in ((item_col, items), (link_col, links)):
        empty = np.flatnonzero((values == "").to_numpy())
        if len(empty):
            # Data rows count from 1 and the header is not one of them, in every format: a CSV's header
            # is a line, a Parquet file's column names are not, so "row" alone meant two things.
            raise CorpusError(f"data row {int(empty[0]) + 1} of {path.name}: empty value in column {col!r}")
    import pyarrow as pa

    link_book, titles = pd.factorize(items, sort=False)
    report = LoadReport(source=path.name, n_records=len(titles))
    return [str(t) for t in titles], link_book.astype(np.int64), pa.array(links.to_numpy(dtype=object),
                                                                          type=pa.large_string()), report


def read_metadata_table(path: str | Path, titles: list[str]) -> pd.DataFrame:
    """Metadata rows for ``titles`` from a table keyed by item; missing rows are blank."""
    path = Path(path)
    frame = _read_table(path)
    key = _pick(list(frame.columns), _ITEM_COLUMNS)
    if key is None:
        raise CorpusError(f"{path.name}: no item column (one of {', '.join(_ITEM_COLUMNS)}) to key the metadata")
    frame = frame.drop_duplicates(subset=[key], keep="first").set_index(key)
    lower = {str(c).strip().lower(): c for c in frame.columns}
    rows = []
    for title in titles:
        row: dict[str, object] = {}
        present = title in frame.index
        for col in METADATA_FIELDS:
            src = lower.get(col)
            value = frame.at[title, src] if (present and src is not None) else None
            # Parquet gives NaN, None or pd.NA for a missing value (nullable dtypes)
            row[col] = None if value is None or (np.ndim(value) == 0 and pd.isna(value)) else value
        row["year"] = parse_year(str(row["year"])) if row["year"] not in (None, "") else None
        row["pages"] = parse_pages(str(row["pages"])) if row["pages"] not in (None, "") else None
        for col in ("author", "genre", "country", "language", "publisher", "primary_genre"):
            # the same plain-text cleaning as infobox values get
            row[col] = "" if row[col] is None else clean_text(row[col])
        if not row["primary_genre"]:
            row["primary_genre"] = primary_genre(row["genre"])
        rows.append(row)
    return books_metadata_frame(rows)


def is_pairs_table(path: str | Path) -> bool:
    """True for CSV/TSV/Parquet inputs (the generic pairs form)."""
    name = str(path).lower()
    return name.endswith((".csv", ".tsv", ".parquet", ".pq", ".csv.gz", ".tsv.gz"))
