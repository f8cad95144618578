"""Which names have a word starting with a typed word: an inverted index of the words of every name's key.

The words of all keys, sorted and without repeats, each with the sorted ids
of the names that contain it (one Arrow ``large_list<int32>`` column: its
offsets and values are the postings). The names with a word starting with
``w`` are then one binary search for the range of words with that prefix and
one slice of the postings, however many names there are: this is how
``names`` finds the candidates of a typed text in a big vocabulary without
scanning every key. Kept in the model folder beside the key table
(``names/KIND-words.arrow``).

Cost: building sorts the w words of all keys, O(w log w) time and O(w)
memory; a prefix costs O(log v) for v distinct words plus the size of its
postings.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

import numpy as np

MASK_SHARE = 64
"""Postings above 1/MASK_SHARE of the names are made distinct through a mask of every name, fewer by a sort."""

@dataclass(frozen=True)
class WordIndex:
    """``words`` (``large_string``, sorted, distinct) and ``ids`` (``large_list<int32>``: the names of each)."""

    words: Any
    ids: Any
    n_names: int

    def __len__(self) -> int:
        return len(self.words)

    def _span(self, word: str) -> tuple[int, int]:
        """The rows of the words that start with ``word``."""
        view = _Strings(self.words)
        return bisect.bisect_left(view, word), bisect.bisect_left(view, word + "\U0010ffff")

    def count(self, word: str) -> int:
        """How many postings the words starting with ``word`` have (names counted once per such word)."""
        lo, hi = self._span(word)
        offsets = self.ids.offsets
        return int(offsets[hi].as_py() - offsets[lo].as_py())

    def names_with(self, word: str) -> np.ndarray:
        """Sorted ids of the names with a word that starts with ``word``."""
        lo, hi = self._span(word)
        offsets = self.ids.offsets
        values = self.ids.values.slice(offsets[lo].as_py(), offsets[hi].as_py() - offsets[lo].as_py())
        values = values.to_numpy(zero_copy_only=False)
        if len(values) * MASK_SHARE > self.n_names:  # many: one pass over a mask of every name beats a sort
            seen = np.zeros(self.n_names, bool)
            seen[values] = True
            return np.flatnonzero(seen)
        values = np.sort(values).astype(np.int64)
        return values[np.concatenate([[True], values[1:] != values[:-1]])] if len(values) else values


class _Strings:
    """An Arrow string array as a sequence of ``str`` for ``bisect`` (one element converted per step)."""

    def __init__(self, array):
        self.array = array

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, i: int) -> str:
        return self.array[i].as_py()


def build_word_index(keys) -> WordIndex:
    """The index of the words of ``keys`` (an Arrow string array of ``names.name_key`` values, id = position)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    lists = pc.split_pattern(keys, " ")
    words = pc.list_flatten(lists)
    parents = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False).astype(np.int32)
    keep = pc.not_equal(words, "").to_numpy(zero_copy_only=False)  # an empty key splits into one empty word
    encoded = pc.dictionary_encode(words.filter(keep))
    codes, distinct = encoded.indices.to_numpy(zero_copy_only=False), encoded.dictionary
    order = pc.sort_indices(distinct).to_numpy(zero_copy_only=False)
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    ranked = rank[codes]
    postings = parents[keep][np.argsort(ranked, kind="stable")]  # by word, then by id (the parents ascend)
    offsets = np.zeros(len(order) + 1, np.int64)
    np.cumsum(np.bincount(ranked, minlength=len(order)), out=offsets[1:])
    return WordIndex(distinct.take(pa.array(order)).cast(pa.large_string()),
                     pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(postings, pa.int32())), len(keys))


def save_word_index(index: WordIndex, path) -> None:
    import pyarrow as pa

    table = pa.table({"word": index.words, "ids": index.ids})
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def load_word_index(path, info: dict) -> WordIndex:  # noqa: ARG001 - the derived protocol's signature
    import pyarrow as pa

    with pa.memory_map(str(path), "r") as source:
        table = pa.ipc.open_file(source).read_all()
    words, ids = (table.column(c) for c in ("word", "ids"))
    words, ids = (c.chunk(0) if c.num_chunks == 1 else c.combine_chunks() for c in (words, ids))
    if len(ids) != len(words) or info.get("words") != len(words) or not isinstance(info.get("names"), int):
        raise ValueError("a word index of another vocabulary")
    return WordIndex(words, ids, info["names"])
