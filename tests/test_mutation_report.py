"""The mutation report counts a survivor as equivalent only where benchmarks/mutation_survivors.md explains it."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import mutation  # noqa: E402

SURVIVORS = """# Surviving mutants

## bookembed/sampling.py

| mutant | change | why it is equivalent |
| --- | --- | --- |
| `x_pair_bitmap__mutmut_39`, `_41` | int32 | wraps |
| `xǁNonPairSamplerǁdraw__mutmut_17` | 1001 rounds | only how long |
| `x_top_k_against__mutmut_39`-`_42`, `_50` | block size | memory |

## Faults planted by hand

| fault | test |
| --- | --- |
| `x_pair_bitmap__mutmut_7` | not an equivalent |

## bookembed/vectors.py (top-k)

| mutant | change | why |
| --- | --- | --- |
| `x_top_k__mutmut_12` | `>=` | never equal |
"""


def test_equivalents_are_read_with_their_shorthands_and_ranges_and_only_under_module_headings():
    names = mutation.equivalent_mutants(SURVIVORS)
    assert names == {
        "bookembed.sampling.x_pair_bitmap__mutmut_39", "bookembed.sampling.x_pair_bitmap__mutmut_41",
        "bookembed.sampling.xǁNonPairSamplerǁdraw__mutmut_17",
        *(f"bookembed.sampling.x_top_k_against__mutmut_{n}" for n in (39, 40, 41, 42, 50)),
        "bookembed.vectors.x_top_k__mutmut_12",
    }


def test_the_kill_rate_leaves_out_only_explained_survivors():
    report = {"module": "bookembed/sampling.py", "mutants": 100, "caught": 90, "seconds": 5, "rerun_fresh": 0,
              "survivors": [f"bookembed.sampling.f__mutmut_{n}" for n in range(10)]}
    equivalent = {f"bookembed.sampling.f__mutmut_{n}" for n in range(6)} | {"bookembed.sampling.g__mutmut_1"}
    row = mutation.row_of(report, equivalent)
    assert (row["equivalent"], row["unexplained"]) == (6, 4)
    assert row["kill_rate"] == round(100 * 90 / 94, 1) and row["raw_kill_rate"] == 90.0


def test_every_equivalent_named_in_the_survivors_file_is_a_mutant_of_a_module_that_is_a_target():
    targets = {t.path.removesuffix(".py").replace("/", ".") for t in mutation.TARGETS.values()}
    for name in mutation.equivalent_mutants():
        assert name.rsplit(".", 1)[0] in targets, name


def test_survivors_a_later_test_kills_are_read_from_the_killed_by_list_and_counted_apart():
    text = SURVIVORS + """
## bookembed/index.py (the second run)

| `x_build_index__mutmut_3` | threads | speed only |

**Killed by the tests added for them:**
- `tests/test_index.py::test_kind` (kind defaults to books): `x_build_index__mutmut_1`, `_2`, `xǁAnnIndexǁcandidates__mutmut_28`
- `tests/test_index.py::test_messages`: `x__recall__mutmut_21`-`_23`

**Left without a verdict or a test:**
- `x_build_index__mutmut_47`
"""
    equivalent, killed = mutation.explained_mutants(text)
    assert "bookembed.index.x_build_index__mutmut_3" in equivalent
    assert killed == {"bookembed.index.x_build_index__mutmut_1", "bookembed.index.x_build_index__mutmut_2",
                      "bookembed.index.xǁAnnIndexǁcandidates__mutmut_28", "bookembed.index.x__recall__mutmut_21",
                      "bookembed.index.x__recall__mutmut_22", "bookembed.index.x__recall__mutmut_23"}
    report = {"module": "bookembed/index.py", "mutants": 10, "caught": 5, "seconds": 1, "rerun_fresh": 0,
              "survivors": ["bookembed.index.x_build_index__mutmut_1", "bookembed.index.x_build_index__mutmut_3",
                            "bookembed.index.x_build_index__mutmut_47", "bookembed.index.x__recall__mutmut_22",
                            "bookembed.index.x_other__mutmut_9"]}
    row = mutation.row_of(report, equivalent, killed)
    assert (row["caught"], row["caught_since"], row["equivalent"], row["unexplained"]) == (5, 2, 1, 2)
    assert row["kill_rate"] == round(100 * 7 / 9, 1)
