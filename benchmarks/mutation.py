"""Mutation testing of the modules that compute results, one module at a time (mutmut 3).

    .venv/bin/pip install mutmut==3.8.1
    .venv/bin/python benchmarks/mutation.py                      # every module below
    .venv/bin/python benchmarks/mutation.py vectors sampling     # some of them

mutmut plants one small fault at a time (``<`` for ``<=``, ``+ 1`` for ``+ 2``,
a dropped argument...) and runs the tests that reach the mutated function; a
mutant that no test notices "survives". For each module this script:

1. copies ``bookembed/``, ``tests/`` and ``pyproject.toml`` into
   ``benchmarks/out/mutation/<module>/`` (so the run neither sees nor disturbs
   edits in the working tree while it runs), with the ``[tool.mutmut]`` of
   ``pyproject.toml`` narrowed to that module and its focused, fast tests;
2. runs ``mutmut run --max-children N`` (one worker by default: the suite is
   CPU-heavy) on the functions listed below;
3. prints the kill rate and every surviving mutant with its diff, and writes
   them to ``benchmarks/out/mutation/<module>.txt``.

The kill rates are written to ``benchmarks/results/mutation.json``, one row
per module (and one for all of them, when every module ran).

Survivors judged equivalent (no test could tell them from the original) are
explained in ``benchmarks/mutation_survivors.md``. Not part of CI: a full run
takes tens of minutes (see the README).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "mutation"
sys.path.insert(0, str(ROOT / "benchmarks"))

from results import record  # noqa: E402


@dataclass(frozen=True)
class Target:
    """One module: the functions whose mutants count, and the tests that should kill them."""

    path: str
    functions: tuple[str, ...]  # mutmut names: "x_<function>" or "x<Class>ǁ<method>"; empty: every function
    tests: tuple[str, ...]  # pytest arguments (files, -k expressions)


TARGETS: dict[str, Target] = {
    "vectors": Target(
        "bookembed/vectors.py", (),
        ("tests/test_ordering.py", "tests/test_oracles.py", "tests/test_neighbors.py", "-k",
         "not real and not trained and not suggestion and not resolve and not names and not fold",
         "tests/test_projection.py::test_cosine_knn_matches_brute_force_across_blocks",
         "tests/test_projection.py::test_cosine_knn_puts_each_row_first_even_with_a_twin")),
    "evaluate": Target(
        "bookembed/evaluate.py",
        ("x_roc_auc", "x_heldout_auc", "x_link_ranking", "x__codes", "x_genre_purity", "x_evaluate"),
        ("tests/test_oracles.py", "tests/test_evaluate.py", "-k", "not trained")),
    "sampling": Target(
        "bookembed/sampling.py", (),
        ("tests/test_sampling_properties.py", "tests/test_oracles.py", "tests/test_evaluate.py", "-k", "not trained",
         "tests/test_training.py::test_sampler_draws_exactly_the_non_pairs",
         "tests/test_training.py::test_sampler_hash_does_not_overflow_for_large_vocabularies",
         "tests/test_training.py::test_split_heldout_share_and_eligibility",
         "tests/test_training.py::test_split_heldout_leaves_every_book_and_link_something_to_learn_from")),
    "projection": Target(
        "bookembed/projection.py",
        ("x_map_knn", "x_neighbour_overlap", "x_faithfulness", "x_faithfulness_report", "x__pca"),
        ("tests/test_maps_mean_something.py", "-k", "not each_projection",
         *(f"tests/test_projection.py::test_{t}" for t in (
             "map_knn_excludes_each_point_itself", "faithfulness_is_one_for_a_perfect_map_and_low_for_a_random_one",
             "neighbour_overlap_counts_shared_ids", "pca_variants", "pca_is_deterministic",
             "too_few_books_is_a_clear_error")))),
    "neighbors": Target(
        "bookembed/neighbors.py",
        ("x__meta_columns", "x_search", "x__order", "x__names", "x_similar_books", "x_similar_links",
         "x_books_for_link", "x_links_for_book"),
        ("tests/test_ordering.py", "tests/test_neighbors.py", "tests/test_index.py", "-k", "not real and not command")),
    "projector": Target(
        "bookembed/projector.py",
        ("x_clean_value", "x_is_blank", "x_format_rows", "x__fill_rows", "x__rows", "x__vectors", "x__column_strings",
         "x_metadata_frame", "x_metadata_tsv"),
        ("tests/test_export.py", "tests/test_oracles.py::test_evaluate_reports_auc_and_purity_of_the_same_vectors")),
}


def toml_list(values) -> str:
    return "[" + ", ".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "]"


def prepare(name: str, target: Target) -> Path:
    """A fresh copy of the code and tests, configured for one module."""
    work = OUT / name
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    shutil.copytree(ROOT / "bookembed", work / "bookembed", ignore=ignore)
    shutil.copytree(ROOT / "tests", work / "tests", ignore=ignore)
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    section = "\n".join([
        "[tool.mutmut]",
        f"source_paths = {toml_list(['bookembed'])}",
        f"only_mutate = {toml_list([target.path])}",
        f"pytest_add_cli_args_test_selection = {toml_list(target.tests)}",
        f"pytest_add_cli_args = {toml_list(['-p', 'no:cacheprovider', '--timeout=300'])}",
        "use_git_change_detection = false",
        # mutants fork from mutmut's own process (the fastest way); the environment below keeps every
        # library single-threaded, since a thread pool running at fork time can deadlock the child. (The
        # "forkserver" isolation reported killable mutants as survivors here.)
        'process_isolation = "fork"',
        "",
    ])
    # the checked-in [tool.mutmut] documents the defaults; here it is replaced by the module's own
    pyproject = re.sub(r"\n\[tool\.mutmut\]\n(?:(?!\[).*\n?)*", "\n", pyproject)
    (work / "pyproject.toml").write_text(pyproject.rstrip() + "\n\n" + section, encoding="utf-8")
    return work


def mutmut(work: Path, *args: str, check: bool = True) -> str:
    # one thread per library: mutants run one at a time on a shared machine, and thread pools do not survive fork
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               NUMBA_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([str(Path(sys.executable).parent / "mutmut"), *args], cwd=work, capture_output=True,
                          text=True, encoding="utf-8", env=env)
    if check and proc.returncode != 0:
        raise SystemExit(f"mutmut {' '.join(args)} failed in {work}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


def run(name: str, target: Target, children: int) -> dict:
    work = prepare(name, target)
    module = target.path.removesuffix(".py").replace("/", ".")
    patterns = [f"{module}.{f}__mutmut_*" for f in target.functions] or [f"{module}.*"]
    started = time.perf_counter()
    mutmut(work, "run", "--max-children", str(children), *patterns, check=False)
    seconds = time.perf_counter() - started
    statuses: dict[str, str] = {}
    for line in mutmut(work, "results", "--all", "true").splitlines():
        key, _, status = line.strip().rpartition(": ")
        if key.startswith(module + ".") and (not target.functions or any(
                key.startswith(f"{module}.{f}__mutmut_") for f in target.functions)):
            statuses[key] = status
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    # a mutant that makes the tests hang or crash (an out-of-bounds write in a compiled kernel) is caught too
    detected = ("killed", "timeout", "segfault")
    caught = sum(counts.get(s, 0) for s in detected)
    survivors = sorted((k for k, s in statuses.items() if s not in detected), key=natural)
    lines = [f"{target.path}: {caught} of {len(statuses)} mutants caught "
             f"({100 * caught / max(1, len(statuses)):.1f}%) in {seconds:.0f} s; " +
             ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))]
    for key in survivors:
        lines.append(f"\n## {key}: {statuses[key]}\n" + mutmut(work, "show", key, check=False).strip())
    report = "\n".join(lines) + "\n"
    (OUT / f"{name}.txt").write_text(report, encoding="utf-8")
    print(report, flush=True)
    return {"module": target.path, "mutants": len(statuses), "caught": caught, "seconds": seconds}


def natural(key: str):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", key)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", metavar="module", help=f"any of {', '.join(TARGETS)} (default: all)")
    parser.add_argument("--max-children", type=int, default=1, help="mutants tested at once (default 1)")
    args = parser.parse_args()
    unknown = sorted(set(args.modules) - set(TARGETS))
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    if shutil.which("mutmut", path=str(Path(sys.executable).parent)) is None:
        raise SystemExit("mutmut is not installed here: .venv/bin/pip install mutmut==3.8.1")
    results = [run(name, TARGETS[name], args.max_children) for name in (args.modules or TARGETS)]
    total, caught = sum(r["mutants"] for r in results), sum(r["caught"] for r in results)
    print("| module | mutants | caught | kill rate | time |\n| --- | --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['module']} | {r['mutants']} | {r['caught']} | {100 * r['caught'] / max(1, r['mutants']):.1f}% "
              f"| {r['seconds']:.0f} s |")
    print(f"| all | {total} | {caught} | {100 * caught / max(1, total):.1f}% | "
          f"{sum(r['seconds'] for r in results):.0f} s |")
    rows = [{"what": r["module"], "mutants": r["mutants"], "caught": r["caught"],
             "kill_rate": round(100 * r["caught"] / max(1, r["mutants"]), 1), "seconds": round(r["seconds"])}
            for r in results]
    if not args.modules or set(args.modules) == set(TARGETS):
        rows.append({"what": "all", "mutants": total, "caught": caught,
                     "kill_rate": round(100 * caught / max(1, total), 1),
                     "seconds": round(sum(r["seconds"] for r in results))})
    print("written:", record("mutation", rows, key=("what",)))


if __name__ == "__main__":
    main()
