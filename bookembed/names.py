"""Naming a book or a link: one ranking of the names that match what was typed, and one rule for a clear match.

The app's pickers list ``match_names(...).ids`` best first; the command line and
the library take a title through ``resolve`` (books: ``resolve_title``), which
answers only when ``match_names`` finds one clear match. So a name that works
in one works in the other.

Matching compares *keys*: the name folded (case, accents and runs of spaces
ignored, ``graph.fold``), ``&`` read as ``and``, and punctuation read as a
space. A title's *base* is its key without a trailing qualifier in brackets
(``Dune (novel)`` -> ``dune``). Tiers, best first:

0. exact: the name as typed;
1. same key;
2. same base (``dune`` names ``Dune (novel)``);
3. the key (or base) starts with the typed key;
4. the typed key starts a word of the key, or each typed word starts a word
   of it (``karenina``, ``pride prejudice``).
   In tiers 3 and 4 a match of whole words ranks above one that ends inside
   a word (``war``: *War and Peace* before *Cancer Ward*);
5. fuzzy: ``rapidfuzz.fuzz.ratio`` of the keys (or bases) at least
   ``FUZZY_MIN`` (typos: ``war and pease``);
6. loose: ``rapidfuzz.fuzz.WRatio`` at least ``LOOSE_MIN`` (partial, typed
   names); listed by the pickers, never taken on its own.

A clear match is: an exact name; else the only name of tier 1; else the only
one of tier 2; else the only one of tiers 3 and 4 together (or the only
whole-word one among them: ``idiot`` names *The Idiot*); else the best
fuzzy name when it scores at least ``CLEAR_FUZZY`` and ``CLEAR_GAP`` more
than the next. Several names in the deciding tier are ambiguous: the error
lists them best first. Cost per query: one pass over the n keys (kept per
model folder after the first query) plus two rapidfuzz scans, O(n).

Above ``TABLE_MIN_NAMES`` names the keys are a table of Arrow columns
(``name_table``), computed once (O(n) in Python) and kept in the model folder
(``names/``), memory-mapped after, with an index of their words
(``wordindex``); tiers 0-4 are then found column-wise: the typed word with the
fewest names in the index gives the candidates, the other tests run on those
alone, and one equality scan finds the names of the typed base. The same rules
give the same answer (tested against the loop). The
fuzzy scan runs only while tiers 0-4 found fewer names than asked for (it
could not change the answer otherwise); above ``FUZZY_FILL_MAX_NAMES`` names
only when they found none at all (any name they find decides the answer, so
the scans, O(n), would only add look-alikes to the list), and the loose tier,
a scan several times slower, is left out above ``LOOSE_MAX_NAMES`` names. So a
title typed whole costs the word index's candidates, not a pass over every
name; a typo that matches no name in tiers 0-4 still costs the two scans.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass, replace
from typing import Any

from bookembed.errors import BookembedError
from bookembed.graph import fold

EXACT, SAME, BASE, PREFIX, WORDS, FUZZY, LOOSE = range(7)
FUZZY_MIN = 60  # rapidfuzz ratio, 0-100: a name this close to the typed one is a plausible typo
CLEAR_FUZZY = 80  # a fuzzy name is taken on its own only when this close ...
CLEAR_GAP = 15  # ... and this much closer than the next fuzzy name
LOOSE_MIN = 75  # rapidfuzz WRatio for the pickers' last, loosest tier
SHOWN = 5  # names listed in an error
TABLE_MIN_NAMES = 200_000
"""Vocabularies above this many names are matched column-wise over keys kept in the model folder."""
LOOSE_MAX_NAMES = 1_000_000
FUZZY_FILL_MAX_NAMES = 200_000  # above it, the fuzzy scan runs only when tiers 0-4 find no name at all
"""Above this many names the pickers' loose tier (a scan several times slower than the rest) is left out."""
NAMES = "names"
"""The model folder's derived kind holding the key tables (``store.DERIVED``)."""

_QUALIFIER = re.compile(r"\s*\([^()]*\)$")
_PUNCTUATION = re.compile(r"[^\w\s]|_")
_KEYS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class UnknownName(BookembedError):
    """A title or link that is not in the model; carries close matches."""

    def __init__(self, kind: str, name: str, suggestions: list[str]):
        self.kind, self.name, self.suggestions = kind, name, suggestions
        hint = f"; did you mean: {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
        super().__init__(f"no {kind} named {name!r} in this model{hint}")


class AmbiguousName(BookembedError):
    """A name that fits several books equally well; carries them, best first."""

    def __init__(self, kind: str, name: str, candidates: list[str]):
        self.kind, self.name, self.candidates = kind, name, candidates
        shown = ", ".join(repr(c) for c in candidates[:SHOWN])
        more = f" and {len(candidates) - SHOWN:,} more" if len(candidates) > SHOWN else ""
        super().__init__(f"{name!r} could be {len(candidates):,} {kind}s: {shown}{more}; give the full title")


def name_key(text: str) -> str:
    """``text`` folded, ``&`` as ``and``, punctuation as spaces: the form names are compared in."""
    folded = fold(text).replace("&", " and ")
    return " ".join(_PUNCTUATION.sub(" ", folded).split())


def base_key(text: str) -> str:
    """``name_key`` without a trailing qualifier in brackets: ``Dune (novel)`` -> ``dune``."""
    return name_key(_QUALIFIER.sub("", fold(text)))


def _keys(model, kind: str) -> tuple[list[str], list[str]]:
    # Kept beside the model object (not in it: the folder's type is store.py's) for as long as it lives.
    cached = _KEYS.setdefault(model, {})
    if kind not in cached:
        if (model.n_books if kind == "book" else model.n_links) > TABLE_MIN_NAMES:
            table = name_table(model, kind)
            cached[kind] = (table.keys.to_pylist(), table.bases.to_pylist())
        else:
            names = model.titles if kind == "book" else model.links
            cached[kind] = ([name_key(n) for n in names], [base_key(n) for n in names])
    return cached[kind]


@dataclass(frozen=True)
class NameTable:
    """Every name of one kind with its keys, as Arrow columns (``large_string``), position = id.

    ``spaced`` is each key between two spaces, so that "starts a word" is a
    substring test (``" " + q``) and "whole words" another (``" " + q + " "``).
    """

    names: Any
    keys: Any
    bases: Any
    spaced: Any
    words: Any = None  # wordindex.WordIndex of the keys' words, when built


def _build_table(names) -> tuple[NameTable, dict]:
    import pyarrow as pa

    keys = [name_key(n) for n in names]
    bases = [base_key(n) for n in names]
    table = NameTable(pa.array(names, pa.large_string()), pa.array(keys, pa.large_string()),
                      pa.array(bases, pa.large_string()), pa.array([f" {k} " for k in keys], pa.large_string()))
    return table, _sidecar(names)


def _save_table(table: NameTable, path) -> None:
    import pyarrow as pa

    columns = {"name": table.names, "key": table.keys, "base": table.bases, "spaced": table.spaced}
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, pa.table(columns).schema) as writer:
        writer.write_table(pa.table(columns))


def _load_table(path, info: dict) -> NameTable:  # noqa: ARG001 - the protocol's signature
    import pyarrow as pa

    with pa.memory_map(str(path), "r") as source:
        table = pa.ipc.open_file(source).read_all()
    columns = [table.column(c) for c in ("name", "key", "base", "spaced")]
    columns = [c.chunk(0) if c.num_chunks == 1 else c.combine_chunks() for c in columns]  # one chunk: no copy
    return NameTable(*columns)


def name_table(model, kind: str) -> NameTable:
    """The key table of a model's book titles (or links): from its folder, or computed (O(n)) and kept there.

    A ``LinkGraph`` (no folder) gets it computed; it is kept beside the model object for as long as it lives.
    """
    cached = _KEYS.setdefault(model, {})
    if ("table", kind) not in cached:
        count = model.n_books if kind == "book" else model.n_links
        ends = (model.titles_of([0, count - 1]) if kind == "book" else [model.links[0], model.links[-1]]) \
            if count else []
        sidecar = {"names": count, "first": ends[0] if count else None, "last": ends[-1] if count else None}

        def all_names() -> list[str]:  # only to build the table: a list of every title is O(n) Python strings
            return model.titles if kind == "book" else list(model.links)

        def check(info: dict) -> str | None:
            if info.get("names") != count or (count and (info.get("first"), info.get("last"))
                                              != (sidecar["first"], sidecar["last"])):
                return "names of another vocabulary"
            return None

        from bookembed.wordindex import build_word_index, load_word_index, save_word_index

        if hasattr(model, "cached"):
            table = model.cached(NAMES, kind, lambda: _build_table(all_names()), _save_table, _load_table,
                                 check=check)[0].value

            def index():
                built = build_word_index(table.keys)
                return built, {**sidecar, "words": len(built)}

            words = model.cached(NAMES, f"{kind}-words", index, save_word_index, load_word_index, check=check)[0]
            cached[("table", kind)] = replace(table, words=words.value)
        else:
            table = _build_table(all_names())[0]
            cached[("table", kind)] = replace(table, words=build_word_index(table.keys))
    return cached[("table", kind)]


def _sidecar(names) -> dict:
    return {"names": len(names), "first": names[0] if len(names) else None,
            "last": names[-1] if len(names) else None}


def _column_tiers(table: NameTable, text: str, q: str):
    """``_word_tiers`` found column-wise, as arrays ``(ids, tiers, scores)``.

    A name of tiers 0-4 has every typed word starting a word of its key, or (tier 2) the typed base as its
    base: the names that do are found first (``_containing``, one equality scan), and the tests run on them.
    """
    import numpy as np
    import pyarrow.compute as pc

    words = q.split()
    qb = base_key(text) or q
    ids, spaced = _containing(table, words)
    same_base = np.flatnonzero(pc.equal(table.bases, qb).to_numpy(zero_copy_only=False))
    if len(np.setdiff1d(same_base, ids, assume_unique=True)):
        ids = np.union1d(ids, same_base)
        spaced = None
    every_name = len(ids) > len(table.spaced) // 4  # so many found that testing every name is cheaper
    if every_name:
        spaced = table.spaced
    elif spaced is None:
        spaced = table.spaced.take(ids)
    taken = {id(spaced): spaced}  # each column taken at the found names once, whatever the tests on it

    def test(column, fn, value):
        if every_name:
            return fn(column, value).to_numpy(zero_copy_only=False)[ids]
        if id(column) not in taken:
            taken[id(column)] = column.take(ids)
        return fn(taken[id(column)], value).to_numpy(zero_copy_only=False)

    tests = {EXACT: test(table.names, pc.equal, text), SAME: test(table.keys, pc.equal, q),
             BASE: test(table.bases, pc.equal, qb),
             PREFIX: test(table.keys, pc.starts_with, q) | test(table.bases, pc.starts_with, q),
             WORDS: test(spaced, pc.match_substring, " " + q)}
    whole = test(spaced, pc.match_substring, f" {q} ")
    every, every_whole = np.full(len(ids), len(words) > 1), np.ones(len(ids), bool)
    for w in words:
        every &= test(spaced, pc.match_substring, " " + w)
        every_whole &= test(spaced, pc.match_substring, f" {w} ")
    tiers = np.full(len(ids), FUZZY, np.int64)
    for tier in (WORDS, PREFIX, BASE, SAME, EXACT):  # the best tier a name passes is the one it gets
        tiers[tests[tier]] = tier
    multi = every & (tiers == FUZZY)
    tiers[multi] = WORDS
    scores = np.where(multi, np.where(every_whole, 100.0, 95.0), np.where(whole, 100.0, 95.0))
    scores[tiers <= BASE] = 100.0
    keep = tiers < FUZZY
    return ids[keep], tiers[keep], scores[keep]


def _containing(table: NameTable, words: list[str]):
    """Ids of the names whose spaced key contains " " + each of ``words`` (a word of the key starts with it),
    and those spaced keys: the word with the fewest postings in the table's word index gives the candidates,
    and each other word is looked for in their keys alone."""
    import pyarrow.compute as pc

    words = sorted(set(words), key=table.words.count)
    ids = table.words.names_with(words[0])
    spaced = table.spaced.take(ids)  # taken once; each other word filters what is left of it
    for word in words[1:]:
        if len(ids):
            keep = pc.match_substring(spaced, " " + word)
            ids, spaced = ids[keep.to_numpy(zero_copy_only=False)], spaced.filter(keep)
    return ids, spaced


def _match_table(model, kind: str, text: str, q: str, limit: int) -> NameMatch:
    """``match_names`` on a big vocabulary: tiers 0-4 column-wise, ranked and decided with arrays."""
    import numpy as np
    import pyarrow.compute as pc

    table = name_table(model, kind)
    ids, tiers, scores = _column_tiers(table, text, q)
    lengths = pc.utf8_length(table.keys.take(ids)).to_numpy(zero_copy_only=False).astype(np.int64)
    # tiers 0-4 alone (scores 100 or 95) when they fill the list, or when they found any name in a vocabulary
    # above FUZZY_FILL_MAX_NAMES: they decide the answer then, and the fuzzy tail would only lengthen the list
    settled = len(ids) > 0 and len(table.keys) > FUZZY_FILL_MAX_NAMES
    plain = len(ids) >= limit or settled
    if not plain:  # fuzzy names rank below the rest and never decide when there is one (module doc)
        keys, bases = _keys(model, kind)
        found = set(ids.tolist())
        fuzzy = {i: s for i, s in _fuzzy_column(keys, bases, q, limit + len(ids) + 2).items() if i not in found}
        extra = np.fromiter(fuzzy, np.int64, len(fuzzy))
        ids = np.concatenate([ids, extra])
        tiers = np.concatenate([tiers, np.full(len(extra), FUZZY, np.int64)])
        scores = np.concatenate([scores, np.fromiter(fuzzy.values(), np.float64, len(fuzzy))])
        lengths = np.concatenate([lengths, np.array([len(keys[i]) for i in extra], np.int64)])
    if plain and lengths.max() < 1 << 16 and ids.max() < 1 << 32:
        # one int64 key sorts as the four keys below (the scores being 100 or 95), several times faster
        order = np.argsort((tiers << 49) | ((scores != 100.0).astype(np.int64) << 48) | (lengths << 32) | ids)
    else:
        order = np.lexsort((ids, lengths, -scores, tiers))
    ids, tiers, scores = ids[order], tiers[order], scores[order]
    clear, ambiguous = _decide_arrays(ids, tiers, scores)
    rows = [(int(t), -float(s), int(i)) for t, s, i in zip(tiers[:limit], scores[:limit], ids[:limit])]
    if len(rows) < limit and len(table.keys) <= LOOSE_MAX_NAMES and not settled:
        rows = _loose(rows, q, _keys(model, kind)[0], limit)
    return NameMatch(text, tuple(i for _, _, i in rows), tuple(t for t, _, _ in rows),
                     tuple(-s for _, s, _ in rows), clear, ambiguous)


def _decide_arrays(ids, tiers, scores) -> tuple[int | None, tuple[int, ...]]:
    """``_decide`` on rows given as arrays, best first."""
    import numpy as np

    if len(ids) and tiers[0] == EXACT:
        return int(ids[0]), ()
    for group in ((SAME,), (BASE,), (PREFIX, WORDS)):
        inside = np.isin(tiers, group)
        members, whole = ids[inside], scores[inside] == 100.0
        if len(members) and (whole.sum() == 1 or (len(members) == 1 and not whole.any())):
            return int((members[whole] if whole.any() else members)[0]), ()
        if len(members):
            return None, tuple(np.concatenate([members[whole], members[~whole]]).tolist())
    fuzzy = scores[tiers == FUZZY]
    if len(fuzzy) and fuzzy[0] >= CLEAR_FUZZY and (len(fuzzy) == 1 or fuzzy[1] <= fuzzy[0] - CLEAR_GAP):
        return int(ids[tiers == FUZZY][0]), ()
    return None, ()


def _loose(rows: list, q: str, keys: list[str], limit: int) -> list:
    """``rows`` filled up to ``limit`` with the loose tier (``fuzz.WRatio`` of the keys, ``LOOSE_MIN`` and up)."""
    if len(rows) >= limit:
        return rows
    from rapidfuzz import fuzz, process

    seen = {i for _, _, i in rows}
    for _, score, i in process.extract(q, keys, scorer=fuzz.WRatio, score_cutoff=LOOSE_MIN, limit=limit + len(seen)):
        if i not in seen and len(rows) < limit:
            rows.append((LOOSE, -score, i))
            seen.add(i)
    return rows


@dataclass(frozen=True)
class NameMatch:
    """The names matching a typed text, best first.

    Attributes
    ----------
    text : str
        What was typed.
    ids : tuple of int
        Matching book (or link) ids, best first.
    tiers : tuple of int
        Each id's tier (``EXACT`` ... ``LOOSE``, see the module's docstring).
    scores : tuple of float
        Each id's fuzzy score (0-100; 100 for tiers 0-4).
    clear : int or None
        The one clear match, if there is one.
    ambiguous : tuple of int
        When there is no clear match: the names of the deciding tier, best
        first (empty when nothing plausible matched).
    """

    text: str
    ids: tuple[int, ...]
    tiers: tuple[int, ...]
    scores: tuple[float, ...]
    clear: int | None
    ambiguous: tuple[int, ...]

    @property
    def plausible(self) -> tuple[int, ...]:
        """The ids of tiers 0-5 (the loose tier left out), best first."""
        return tuple(i for i, t in zip(self.ids, self.tiers) if t < LOOSE)


def _whole(key: str, q: str) -> bool:
    """``q`` occurs in ``key`` as whole words (not only as the start of a longer word)."""
    return f" {q} " in f" {key} "


def _word_tiers(keys: list[str], bases: list[str], text: str, q: str, names) -> dict[int, tuple[int, float]]:
    """Tiers 0-4 of every name, with a score: 100, or 95 for a match that ends inside a word (one pass)."""
    qb = base_key(text) or q
    words = q.split()
    found: dict[int, tuple[int, float]] = {}
    for i, (key, base) in enumerate(zip(keys, bases)):
        if names[i] == text:
            found[i] = (EXACT, 100.0)
        elif key == q:
            found[i] = (SAME, 100.0)
        elif base == qb:
            found[i] = (BASE, 100.0)
        elif key.startswith(q) or base.startswith(q):
            found[i] = (PREFIX, 100.0 if _whole(key, q) else 95.0)
        elif q in key and (" " + key).find(" " + q) >= 0:
            found[i] = (WORDS, 100.0 if _whole(key, q) else 95.0)
        elif len(words) > 1 and all((" " + key).find(" " + w) >= 0 for w in words):
            found[i] = (WORDS, 100.0 if all(_whole(key, w) for w in words) else 95.0)
    return found


def _fuzzy(keys: list[str], bases: list[str], q: str, limit: int) -> dict[int, float]:
    """Best ``fuzz.ratio`` of the typed key against each name's key or base, for names scoring ``FUZZY_MIN``+."""
    from rapidfuzz import fuzz, process

    scores: dict[int, float] = {}
    for choices in (keys, bases):
        for _, score, i in process.extract(q, choices, scorer=fuzz.ratio, score_cutoff=FUZZY_MIN, limit=limit):
            scores[i] = max(score, scores.get(i, 0.0))
    return scores


def _fuzzy_column(keys: list[str], bases: list[str], q: str, limit: int) -> dict[int, float]:
    """``_fuzzy`` for a big vocabulary: each scan on every core (``process.cdist``), the same names and scores."""
    import numpy as np
    from rapidfuzz import fuzz, process

    scores: dict[int, float] = {}
    for choices in (keys, bases):
        row = process.cdist([q], choices, scorer=fuzz.ratio, score_cutoff=FUZZY_MIN, dtype=np.float64,
                            workers=-1)[0]
        found = np.flatnonzero(row >= FUZZY_MIN)
        best = found[np.lexsort((found, -row[found]))[:limit]]  # as ``process.extract``: best first, then by position
        for i in best.tolist():
            scores[i] = max(float(row[i]), scores.get(i, 0.0))
    return scores


def _decide(ranked: list[tuple[int, float, int]]) -> tuple[int | None, tuple[int, ...]]:
    """(clear id or None, the ambiguous ids) from ``(tier, -score, id)`` rows, best first."""
    if ranked and ranked[0][0] == EXACT:
        return ranked[0][2], ()
    for tiers in ((SAME,), (BASE,), (PREFIX, WORDS)):
        group = [(i, -s) for t, s, i in ranked if t in tiers]
        whole = [i for i, score in group if score == 100.0]
        if len(whole) == 1 or (len(group) == 1 and not whole):
            return (whole or [group[0][0]])[0], ()
        if group:
            return None, tuple(sorted((i for i, _ in group), key=lambda i: i not in whole))
    fuzzy = [(-s, i) for t, s, i in ranked if t == FUZZY]
    if fuzzy and fuzzy[0][0] >= CLEAR_FUZZY and (len(fuzzy) == 1 or fuzzy[1][0] <= fuzzy[0][0] - CLEAR_GAP):
        return fuzzy[0][1], ()
    return None, ()


def match_names(model, text: str, kind: str = "book", limit: int = 25) -> NameMatch:
    """The books (or links) whose names match a typed, possibly partial or misspelt, name.

    Parameters
    ----------
    model : LinkGraph or ModelFolder
    text : str
        What was typed.
    kind : {"book", "link"}
    limit : int
        At most this many ids (the clear match and the ambiguous ones are
        decided on all names, whatever the limit).

    Returns
    -------
    NameMatch
    """
    q = name_key(text)
    if not q:
        return NameMatch(text, (), (), (), None, ())
    if (model.n_books if kind == "book" else model.n_links) > TABLE_MIN_NAMES:
        return _match_table(model, kind, text, q, limit)
    names = model.titles if kind == "book" else model.links
    keys, bases = _keys(model, kind)
    tiers = _word_tiers(keys, bases, text, q, names)
    fuzzy = _fuzzy(keys, bases, q, limit + len(tiers) + 2 if len(tiers) < limit else 2)
    rows = [(t, -score, i) for i, (t, score) in tiers.items()]
    rows += [(FUZZY, -s, i) for i, s in fuzzy.items() if i not in tiers]
    rows.sort(key=lambda r: (r[0], r[1], len(keys[r[2]]), r[2]))
    clear, ambiguous = _decide(rows)
    rows = _loose(rows[:limit], q, keys, limit)
    return NameMatch(text, tuple(int(i) for _, _, i in rows), tuple(t for t, _, _ in rows),
                     tuple(-s for _, s, _ in rows), None if clear is None else int(clear),
                     tuple(int(i) for i in ambiguous))


def search_names(model, query: str, kind: str = "book", limit: int = 20) -> list[int]:
    """Ids of books (or links) matching a partly typed, possibly misspelt name, best first (``match_names``)."""
    return list(match_names(model, query, kind, limit).ids)


def resolve_title(model, text: str) -> int:
    """The id of the one book that ``text`` names clearly (see the module's docstring).

    Raises
    ------
    AmbiguousName
        Several books fit equally well (listed best first).
    UnknownName
        None fits; with up to five close titles as suggestions.
    """
    if model.n_books > TABLE_MIN_NAMES:  # no dict of every title: one scan of the table for the exact one
        import pyarrow.compute as pc

        at = pc.index(name_table(model, "book").names, text).as_py()
        if at >= 0:
            return at
    elif text in model.title_index:
        return model.title_index[text]
    found = match_names(model, text, "book", limit=SHOWN)
    if found.clear is not None:
        return found.clear
    if found.ambiguous:
        raise AmbiguousName("book", text, model.titles_of(found.ambiguous))
    raise UnknownName("book", text, model.titles_of([i for i, t in zip(found.ids, found.tiers) if t == FUZZY]))


def resolve(model, name: str, kind: str = "book") -> int:
    """The id of a book title (``resolve_title``) or of a link (exactly, or case- and accent-insensitively).

    Raises
    ------
    UnknownName
        With up to five close matches as suggestions.
    AmbiguousName
        A title that fits several books.
    """
    if kind == "book":
        return resolve_title(model, name)
    index = model.link_index
    if name in index:
        return index[name]
    if name.lower() in index:
        return index[name.lower()]
    q = fold(name)
    for i, folded in enumerate(model.folded_names("link")):
        if folded == q:
            return i
    raise UnknownName("link", name, [model.links[i] for i in search_names(model, name, "link", limit=SHOWN)])
