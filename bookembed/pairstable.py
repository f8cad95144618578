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


def _unreadable(path: Path, err: Exception) -> CorpusError:
    """The one-line error for a table that cannot be read: missing, or what the reader raised, named."""
    if isinstance(err, FileNotFoundError):
        return CorpusError(f"{path}: no such file")
    # pyarrow raises several unrelated types for bad Parquet
    return CorpusError(f"{path.name}: cannot read table ({type(err).__name__}: {str(err).splitlines()[0]})")


def _read_table(path: Path) -> pd.DataFrame:
    """A CSV or TSV table (plain or gzip) as text columns; Parquet goes through Arrow (``_stream_parquet``,
    ``_read_arrow_table``)."""
    sep = "\t" if ".tsv" in "".join(path.suffixes[-2:]).lower() else ","
    try:
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise CorpusError(f"{path.name}: not UTF-8 text (byte {err.start + 1})") from None
    except pd.errors.EmptyDataError:
        raise CorpusError(f"{path.name}: empty file, no rows") from None
    except pd.errors.ParserError as err:
        raise CorpusError(f"{path.name}: cannot parse as CSV ({str(err).splitlines()[0]})") from None
    except Exception as err:
        raise _unreadable(path, err) from None


def _pick(columns: list[str], wanted: tuple[str, ...]) -> str | None:
    lower = {str(c).strip().lower(): c for c in columns}
    for w in wanted:
        if w in lower:
            return lower[w]
    return None


def read_pairs_table(path: str | Path) -> tuple[object, np.ndarray, object, LoadReport]:
    """Read an (item, link) table: CSV, TSV or Parquet.

    The item column is named one of ``item, title, book, entity, name`` and the
    link column one of ``link, target, wikilink, feature``; otherwise the first
    two columns are used. Values are stripped; an empty one is an error naming
    its data row (counted from 1, the header not counted, in every format).

    Parquet is read in a stream of record batches (``_stream_parquet``): each
    batch's two columns are stripped and dictionary-encoded by Arrow, so no
    Python object is made per pair or per item, and memory holds about 8
    bytes a pair (two int32 codes) plus each distinct string once per batch.
    CSV and TSV go through pandas, one Python string per value: fine for the
    sizes people write as text, and the form to convert from for tens of
    millions of pairs.

    Returns
    -------
    titles : pyarrow Array of str, length n_items
        Items in order of first appearance.
    link_book : ndarray of int32, shape (n_rows,)
        Each row's item, as a position in ``titles``.
    links : pyarrow Array or ChunkedArray of str (plain or dictionary-encoded), length n_rows
    report : LoadReport
    """
    import pyarrow as pa

    path = Path(path)
    if _is_parquet(path):
        return _stream_parquet(path)
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
            _empty_value(path, int(empty[0]), col)
    link_book, titles = pd.factorize(items, sort=False)
    report = LoadReport(source=path.name, n_records=len(titles))
    return (pa.array(np.asarray(titles, dtype=object), type=pa.large_string()), link_book.astype(np.int32),
            pa.array(links.to_numpy(dtype=object), type=pa.large_string()), report)


BATCH_ROWS = 1 << 20  # rows a Parquet batch: 1M (4M held more at its peak and was slower: docs/scale.md)


def _is_parquet(path: Path) -> bool:
    return "".join(path.suffixes[-2:]).lower().endswith((".parquet", ".pq"))


def _empty_value(path: Path, row: int, column: object) -> None:
    # Data rows count from 1 and the header is not one of them, in every format: a CSV's header
    # is a line, a Parquet file's column names are not, so "row" alone meant two things.
    raise CorpusError(f"data row {row + 1} of {path.name}: empty value in column {column!r}")


def _stripped(column) -> object:
    """A batch's column as stripped large strings, nulls as "" (Arrow kernels: no Python object per value)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if not pa.types.is_large_string(column.type):
        column = pc.cast(column, pa.large_string())
    return pc.utf8_trim_whitespace(pc.fill_null(column, ""))


FOLD_FLOOR = 1 << 20
"""Distinct strings the batches' own dictionaries may hold, beyond the running vocabulary's size, before a fold."""


class _Vocabulary:
    """Strings to ids, in order of first appearance, built from dictionary-encoded batches.

    Once the pending batches' own dictionaries hold as many strings as the
    running vocabulary (and at least ``FOLD_FLOOR``), Arrow's dictionary
    unifier folds them into it (keeping its ids: the unified dictionary
    starts with the first chunk's), and their codes, rewritten to the running
    ids, go into one preallocated int32 array. Links, shared by many
    batches, fold often into a vocabulary that stays small; items, each in a
    batch or two, fold when the vocabulary has doubled, so each string is
    hashed O(1) times on average. Memory: 4 bytes a row, and at most about
    twice the distinct strings.
    """

    def __init__(self, n_rows: int) -> None:
        import pyarrow as pa

        self.dictionary = pa.array([], pa.large_string())
        self.codes = np.empty(n_rows, dtype=np.int32)
        self.filled = 0
        self.pending: list = []
        self.pending_strings = 0

    def add(self, encoded) -> None:
        self.pending.append(encoded)
        self.pending_strings += len(encoded.dictionary)
        if self.pending_strings >= max(len(self.dictionary), FOLD_FLOOR):
            self.fold()

    def fold(self) -> None:
        import pyarrow as pa

        if not self.pending:
            return
        head = pa.DictionaryArray.from_arrays(pa.array([], pa.int32()), self.dictionary)
        unified = pa.chunked_array([head, *self.pending]).unify_dictionaries()
        self.dictionary = unified.chunk(0).dictionary
        for chunk in unified.chunks[1:]:
            codes = chunk.indices.to_numpy(zero_copy_only=False)
            self.codes[self.filled:self.filled + len(codes)] = codes
            self.filled += len(codes)
        self.pending = []
        self.pending_strings = 0

    def finish(self) -> tuple[object, np.ndarray]:
        self.fold()
        return self.dictionary, self.codes[:self.filled]


def _returning_pool() -> None:
    """Arrow's jemalloc pool for what follows, where the wheel has it: it hands freed memory back to the
    system, where the default (mimalloc) keeps it, which lowered the peak of loading
    ``benchmarks/bench_pairs.py``'s corpus. Public API; a no-op where the wheel lacks it."""
    import pyarrow as pa

    try:
        pool = pa.jemalloc_memory_pool()
    except (NotImplementedError, pa.ArrowNotImplementedError):
        return
    if pa.default_memory_pool().backend_name != pool.backend_name:
        pa.set_memory_pool(pool)


def _stream_parquet(path: Path) -> tuple[object, np.ndarray, object, LoadReport]:
    """``read_pairs_table`` for Parquet, batch by batch.

    Costs: O(n_rows) time; memory 4 bytes a row for the items' codes, 4 for
    the links' codes, each distinct string once, and a few batches in flight
    (``_Vocabulary``).
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    _returning_pool()
    try:
        source = pq.ParquetFile(path)
        names = source.schema_arrow.names
        if len(names) < 2:
            raise CorpusError(f"{path.name}: expected two columns (item, link), found {names}")
        item_col = _pick(names, _ITEM_COLUMNS) or names[0]
        link_col = _pick(names, _LINK_COLUMNS) or names[1]
        n_rows = source.metadata.num_rows
        if n_rows == 0:
            raise CorpusError(f"{path.name}: no rows")
        items, links, row = _Vocabulary(n_rows), _Vocabulary(n_rows), 0
        for batch in source.iter_batches(batch_size=BATCH_ROWS, columns=[item_col, link_col]):
            for col, vocabulary in ((item_col, items), (link_col, links)):
                values = _stripped(batch.column(col))
                empty = np.flatnonzero(pc.equal(values, "").to_numpy(zero_copy_only=False))
                if len(empty):
                    _empty_value(path, row + int(empty[0]), col)
                vocabulary.add(pc.dictionary_encode(values))
            row += batch.num_rows
        titles, link_book = items.finish()
        link_names, link_codes = links.finish()
    except CorpusError:
        raise
    except Exception as err:
        raise _unreadable(path, err) from None
    report = LoadReport(source=path.name, n_records=len(titles))
    return titles, link_book, pa.DictionaryArray.from_arrays(pa.array(link_codes), link_names), report


def _read_arrow_table(path: Path):
    """A metadata table as an Arrow table: Parquet read by Arrow, CSV and TSV through ``_read_table``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not _is_parquet(path):
        return pa.Table.from_pandas(_read_table(path), preserve_index=False)
    try:
        return pq.read_table(path)
    except Exception as err:
        raise _unreadable(path, err) from None


def read_metadata_table(path: str | Path, titles) -> pd.DataFrame:
    """Metadata rows for ``titles`` (a list or an Arrow array of str) from a table keyed by item; missing rows are blank.

    The first row of a repeated key wins. Arrow does the work: the titles are
    looked up with ``index_in``, each column is taken in the titles' order and
    dictionary-encoded, and each rule (year, pages, plain-text cleaning) runs
    once per distinct value; every row then points at its value's one Python
    object. Time O(n_titles + n_rows); memory a few bytes a title a column,
    not a Python object each.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    path = Path(path)
    table = _read_arrow_table(path)
    key = _pick(table.column_names, _ITEM_COLUMNS)
    if key is None:
        raise CorpusError(f"{path.name}: no item column (one of {', '.join(_ITEM_COLUMNS)}) to key the metadata")
    keys = table.column(key)
    if pa.types.is_dictionary(keys.type):
        keys = keys.cast(keys.type.value_type)
    keys = pc.cast(keys, pa.large_string())
    titles = titles if isinstance(titles, (pa.Array, pa.ChunkedArray)) else pa.array(list(titles), pa.large_string())
    pos = pc.index_in(titles, value_set=keys)
    lower = {str(c).strip().lower(): c for c in table.column_names}
    def taken(col: str):
        src = lower.get(col)
        return None if src is None else table.column(src).take(pos)

    columns: dict[str, np.ndarray] = {
        "year": _per_distinct_arrow(taken("year"), len(titles), lambda v: None if v in (None, "") else parse_year(str(v))),
        "pages": _per_distinct_arrow(taken("pages"), len(titles),
                                     lambda v: None if v in (None, "") else parse_pages(str(v))),
    }
    for col in ("author", "genre", "country", "language", "publisher", "primary_genre"):
        # the same plain-text cleaning as infobox values get
        columns[col] = _per_distinct_arrow(taken(col), len(titles), lambda v: "" if v is None else clean_text(v))
    unset = columns["primary_genre"] == ""
    if unset.any():
        columns["primary_genre"][unset] = _per_distinct(columns["genre"][unset], primary_genre)
    return books_metadata_frame({col: columns[col] for col in METADATA_FIELDS})


def _per_distinct_arrow(column, n: int, rule) -> np.ndarray:
    """``rule`` of every value of an Arrow column (None: ``n`` missing values), run once per distinct value
    (nulls as None); object array."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if column is None:
        out = np.empty(n, dtype=object)
        out[:] = rule(None)
        return out
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    values = column.dictionary.to_pylist()
    mapped = np.empty(len(values) + 1, dtype=object)
    for i, value in enumerate(values):
        # NaN (a float column's missing value) counts as missing, as pandas reads it
        mapped[i] = rule(None if isinstance(value, float) and value != value else value)
    mapped[-1] = rule(None)
    codes = column.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    return mapped[codes]


def _per_distinct(values: np.ndarray, rule) -> np.ndarray:
    """``rule`` of every value, computed once per distinct value (missing ones as None)."""
    values = np.asarray(values, dtype=object)
    missing = np.asarray(pd.isna(values), dtype=bool)
    codes, uniques = pd.factorize(np.where(missing, None, values), use_na_sentinel=True)
    mapped = np.empty(len(uniques) + 1, dtype=object)
    for i, value in enumerate(uniques):
        mapped[i] = rule(value)
    mapped[-1] = rule(None) if missing.any() else None
    return mapped[codes]


def is_pairs_table(path: str | Path) -> bool:
    """True for CSV/TSV/Parquet inputs (the generic pairs form)."""
    name = str(path).lower()
    return name.endswith((".csv", ".tsv", ".parquet", ".pq", ".csv.gz", ".tsv.gz"))
