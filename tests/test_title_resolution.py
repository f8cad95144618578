"""One way to name a book: the resolver the app's picker and the command line share (``bookembed.names``).

On the shipped demo's awkward titles (accents, "(novel)" qualifiers, titles inside other titles), on hand-made
duplicates, and through ``bookembed neighbors`` itself.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, assert_one_line_error, run_cli

from bookembed.graph import LinkGraph, fold
from bookembed.names import AmbiguousName, UnknownName, base_key, match_names, name_key, resolve_title
from bookembed.store import load_model_folder

DEMO = ROOT / "models" / "demo"


@pytest.fixture(scope="module")
def demo():
    return load_model_folder(DEMO)


def graph(titles) -> LinkGraph:
    n = len(titles)
    return LinkGraph(books=pd.DataFrame({"title": titles}), links=("a",), link_counts=np.array([n]),
                     pair_books=np.arange(n, dtype=np.int32), pair_links=np.zeros(n, np.int32))


def title(model, text) -> str:
    return model.titles[resolve_title(model, text)]


def test_keys():
    assert name_key("  Gödel, Escher,   Bach ") == "godel escher bach"
    assert name_key("Crime & Punishment") == "crime and punishment"
    assert name_key("Moby-Dick") == "moby dick"
    assert base_key("Dune (novel)") == "dune" and base_key("Hopscotch (Cortázar novel)") == "hopscotch"
    assert base_key("(novel)") == "" and base_key("Dune") == "dune"


def test_every_demo_title_names_itself_however_it_is_cased_or_accented(demo):
    for i, name in enumerate(demo.titles):
        for typed in (name, fold(name), name.upper(), f"  {name}  "):
            assert resolve_title(demo, typed) == i, typed


@pytest.mark.parametrize("typed, wanted", [
    ("Dune", "Dune (novel)"),  # not "Dune Messiah", nor "Children of Dune"
    ("dune messiah", "Dune Messiah"),
    ("foundation", "Foundation (Asimov novel)"),  # not "Foundation and Empire"
    ("hopscotch", "Hopscotch (Cortázar novel)"),
    ("Les Miserables", "Les Misérables"),
    ("SALAMMBO", "Salammbô"),
    ("the good soldier svejk", "The Good Soldier Švejk"),
    ("Godel Escher Bach", "Gödel, Escher, Bach"),
    ("moby dick", "Moby-Dick"),
    ("karamazov", "The Brothers Karamazov"),  # the only title with that word
    ("idiot", "The Idiot"),  # the only whole-word match ("Heidi" is only fuzzy)
    ("Invisible Man", "Invisible Man"),  # near-duplicates: each names itself
    ("the invisible man", "The Invisible Man"),
    ("war and pease", "War and Peace"),  # a typo, far closer than any other title
    ("crme and punishment", "Crime and Punishment"),
])
def test_the_demos_awkward_titles(demo, typed, wanted):
    assert title(demo, typed) == wanted
    assert demo.titles[match_names(demo, typed).ids[0]] == wanted  # the picker's first choice is the same book


@pytest.mark.parametrize("typed, first", [("war", "War and Peace"), ("castle", "The Castle (novel)"),
                                          ("the", None)])
def test_several_plausible_books_are_listed_best_first(demo, typed, first):
    with pytest.raises(AmbiguousName) as info:
        resolve_title(demo, typed)
    candidates = info.value.candidates
    assert len(candidates) > 1 and len(set(candidates)) == len(candidates)
    assert all(fold(typed) in fold(c) for c in candidates)
    if first:
        assert candidates[0] == first
    assert "\n" not in str(info.value) and str(info.value).endswith("give the full title")
    assert list(match_names(demo, typed, limit=len(candidates)).ids)[:1] == [demo.title_index[candidates[0]]]


def test_nothing_like_it(demo):
    with pytest.raises(UnknownName) as info:
        resolve_title(demo, "qqqq zzzz")
    assert info.value.suggestions == []
    with pytest.raises(UnknownName) as info:
        resolve_title(demo, "1984")  # not in the demo: no junk suggestions either
    assert "Notes from Underground" not in info.value.suggestions


def test_duplicates_and_near_duplicates():
    g = graph(["Emma", "EMMA", "Émile", "Emile (book)", "Persuasion (novel)", "Persuasion (1995 film)",
               "Nana (novel)", "Nana"])
    assert title(g, "Emma") == "Emma" and title(g, "EMMA") == "EMMA"  # as typed
    with pytest.raises(AmbiguousName) as info:
        resolve_title(g, "emma")  # folds to both
    assert info.value.candidates == ["Emma", "EMMA"]
    assert title(g, "emile") == "Émile"  # its key is exactly "emile"; "Emile (book)" only by its base
    with pytest.raises(AmbiguousName) as info:
        resolve_title(g, "persuasion")  # two qualified titles share the base
    assert set(info.value.candidates) == {"Persuasion (novel)", "Persuasion (1995 film)"}
    assert title(g, "persuasion (novel)") == "Persuasion (novel)"
    assert title(g, "nana") == "Nana"  # the unqualified title before the qualified one
    assert title(g, "Nana (novel)") == "Nana (novel)"


def test_match_names_orders_tiers():
    g = graph(["The War of the Worlds", "Cancer Ward", "War and Peace", "Warlock", "Peace"])
    found = match_names(g, "war")
    names = [g.titles[i] for i in found.ids]
    # prefixes first, then words inside; in each, a whole word before a word that only starts with it
    assert names[:4] == ["War and Peace", "Warlock", "The War of the Worlds", "Cancer Ward"]
    assert list(found.tiers) == sorted(found.tiers)
    assert found.clear is None and set(found.ambiguous) == {0, 1, 2, 3}
    assert match_names(g, "   ").ids == ()


# ---------------------------------------------------------------- the command line


def test_the_cli_takes_one_clear_match_and_says_which(tmp_path):
    proc = run_cli("neighbors", "Dune", "-k", "3", "--model", DEMO, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "bookembed: 'Dune' taken as 'Dune (novel)'"
    assert proc.stdout.splitlines()[0] == "most similar — books like a book: Dune (novel)"
    assert len(proc.stdout.strip().splitlines()) == 4
    proc = run_cli("neighbors", "Dune", "-k", "3", "--json", "--model", DEMO, cwd=tmp_path)
    data = json.loads(proc.stdout)  # the note is on stderr: stdout is still JSON
    assert data["query"] == ["Dune"] and data["books"] == ["Dune (novel)"]
    assert "Dune (novel)" not in [r["title"] for r in data["results"]]
    proc = run_cli("neighbors", "Dune (novel)", "-k", "1", "--model", DEMO, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == ""  # the exact title: nothing to say


def test_the_cli_lists_several_plausible_books_and_fails(tmp_path):
    proc = run_cli("neighbors", "war", "--model", DEMO, cwd=tmp_path)
    line = assert_one_line_error(proc, "'war' could be", "'War and Peace'", "give the full title")
    assert line.index("War and Peace") < line.index("Cancer Ward")
    assert proc.stdout == ""


def test_the_cli_and_the_picker_agree(demo, tmp_path):
    for typed in ("les miserables", "foundation", "moby dick"):
        proc = run_cli("neighbors", typed, "--links", "-k", "1", "--json", "--model", DEMO, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["books"] == [demo.titles[match_names(demo, typed).ids[0]]]
