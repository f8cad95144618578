"""Mutation testing of the modules that compute results, one module at a time (mutmut 3).

    .venv/bin/pip install mutmut==3.8.1
    .venv/bin/python benchmarks/mutation.py                      # every module below
    .venv/bin/python benchmarks/mutation.py vectors sampling     # some of them

mutmut plants one small fault at a time (``<`` for ``<=``, ``+ 1`` for ``+ 2``,
a dropped argument...) and runs the tests that reach the mutated function; a
mutant that no test notices "survives". For each module this script:

1. copies ``bookembed/``, ``tests/``, ``pyproject.toml``, the demo model folder
   and the benchmarks' helper scripts (the tests read both) into
   ``benchmarks/out/mutation/<module>/`` (so the run neither sees nor disturbs
   edits in the working tree while it runs), with the ``[tool.mutmut]`` of
   ``pyproject.toml`` narrowed to that module and its focused, fast tests
   (never those marked ``system`` or ``slow``);
2. runs ``mutmut run --max-children N`` (one worker by default: the suite is
   CPU-heavy) on the functions listed below;
3. gives a verdict to every mutant whose test process ended by a signal
   (mutmut's "suspicious"), by running its tests again in a fresh
   ``python -m pytest`` with ``MUTANT_UNDER_TEST`` set (see "Forked children"
   below);
4. prints the kill rate and every surviving mutant with its diff, and writes
   them to ``benchmarks/out/mutation/<module>.txt``.

The kill rates are written to ``benchmarks/results/mutation.json``, one row
per module (and one for all of them, when every module ran).

Forked children: mutmut forks each mutant's test process from its own process,
which has already run the tests once. numba's default threading layer there is
GNU OpenMP, whose pool refuses to run in a forked child: numba prints
"fork() called from a process already using GNU OpenMP" and ends the child
with SIGTERM, so every mutant whose tests reach a parallel kernel (training on
several threads, the compiled top-k) ended without a verdict. The mutants run
with ``NUMBA_THREADING_LAYER=workqueue``, which works after a fork, and on two
numba threads (see ``mutant_env``); any child that still ends by a signal is
run again in a process of its own.

mutmut leaves decorated functions alone, so the compiled kernels
(``@numba.njit``) get no mutants: of ``kernels.py`` only ``sgd_span`` is
mutated. The faults that matter there (a thread's shard skipped, a negative's
target ignored) were planted by hand instead; the tests that catch each are
listed in ``benchmarks/mutation_survivors.md``.

Survivors judged equivalent (no test could tell them from the original) are
explained in ``benchmarks/mutation_survivors.md``. Not part of CI: a full run
takes tens of minutes (see the README).
"""

from __future__ import annotations

import argparse
import json
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


FAST = ("-m", "not system and not slow")
"""Added to every module's selection: no test that starts processes, servers or clusters, or trains for long."""


def _tests(path: str, *names: str) -> tuple[str, ...]:
    """Node ids of some tests of one file."""
    return tuple(f"{path}::test_{name}" for name in names)


TARGETS: dict[str, Target] = {
    "counting": Target("bookembed/counting.py", (), ("tests/test_counting.py",)),
    "crossfilter": Target(
        # the counting of the linked charts; not the figure and payload helpers, which the page tests reach
        "bookembed/crossfilter.py",
        ("x_facet_columns", "x_bar_totals", "x__value_counts", "x_count_bars", "x__bars",
         "xColumnsǁ__init__", "xCodedǁ__getitem__"),
        ("tests/test_crossfilter.py", "tests/test_column_codes.py", "-k",
         "not map_page and not point_renderer and not one_value and not bookembed_index")),
    "kernels": Target(
        # only the functions mutmut can mutate: the compiled ones are decorated (see above)
        "bookembed/kernels.py", ("x_sgd_span",),
        (*_tests("tests/test_training.py",
                 "every_position_of_a_span_is_trained_exactly_once_however_many_threads_share_it",
                 "the_kernel_trains_each_negative_towards_its_own_target",
                 "the_kernel_trains_on_exactly_the_examples_it_draws_however_the_epoch_is_cut",
                 "lock_free_threads_learn_as_well_as_one_thread_and_one_thread_repeats_exactly",
                 "training_a_full_grid_is_a_clear_error"),
         "tests/test_sampling_properties.py::test_kernel_refuses_a_full_grid")),
    "sampling": Target(
        "bookembed/sampling.py", (),
        ("tests/test_sampling_properties.py", "tests/test_oracles.py", "tests/test_evaluate.py", "-k", "not trained",
         *_tests("tests/test_training.py", "sampler_draws_exactly_the_non_pairs",
                 "sampler_hash_does_not_overflow_for_large_vocabularies", "split_heldout_share_and_eligibility",
                 "split_heldout_leaves_every_book_and_link_something_to_learn_from"))),
    "vectors": Target(
        "bookembed/vectors.py", (),
        ("tests/test_ordering.py", "tests/test_oracles.py", "tests/test_neighbors.py", "-k",
         "not real and not trained and not suggestion and not resolve and not names and not fold",
         *_tests("tests/test_projection.py", "cosine_knn_matches_brute_force_across_blocks",
                 "cosine_knn_puts_each_row_first_even_with_a_twin"))),
    "evaluate": Target(
        "bookembed/evaluate.py",
        ("x_roc_auc", "x_heldout_auc", "x_link_ranking", "x__codes", "x_genre_purity", "x_evaluate"),
        ("tests/test_oracles.py", "tests/test_evaluate.py", "-k", "not trained")),
    "projection_compute": Target(
        # not the UMAP and t-SNE wrappers (import_umap, _umap, _tsne, _TqdmProgress, compute_projection): the
        # tests that reach them fit maps, and many of their 600-odd mutants stall those tests until a timeout
        # (a progress event that never comes, or a wait on a lock), so a run of them alone takes hours on two
        # cores; faults planted by hand cover them instead (mutation_survivors.md). Nor _stage, which only
        # rescales progress: its mutants stall the page tests that wait on progress for a minute each.
        "bookembed/projection_compute.py",
        ("x_map_knn", "x_neighbour_overlap", "x_faithfulness", "x_faithfulness_report", "x__pca",
         "x__exact_affinities", "x__place"),
        ("tests/test_maps_mean_something.py",
         *_tests("tests/test_projection.py", "map_knn_excludes_each_point_itself",
                 "faithfulness_is_one_for_a_perfect_map_and_low_for_a_random_one", "neighbour_overlap_counts_shared_ids",
                 "pca_variants", "pca_is_deterministic", "umap_cosine_projection_of_a_small_model",
                 "tsne_projection_of_a_small_model", "clustered_books_stay_together_on_the_map",
                 "too_few_books_is_a_clear_error", "small_tsne_affinities_are_opentsnes_own_over_exact_neighbours"))),
    "projection": Target(
        # the cache of maps in the model folder
        "bookembed/projection.py", (),
        ("tests/test_projection.py", "tests/test_derived.py", "-k", "not page and not warm and not map_")),
    "neighbors": Target(
        "bookembed/neighbors.py",
        ("x__meta_columns", "x_search", "x__order", "x__names", "x_similar_books", "x_similar_links",
         "x_books_for_link", "x_links_for_book"),
        ("tests/test_ordering.py", "tests/test_neighbors.py", "tests/test_index.py", "-k", "not real and not command")),
    "index": Target(
        "bookembed/index.py", (),
        ("tests/test_index.py", "-k", "not command")),
    "predict": Target(
        "bookembed/predict.py", (),
        ("tests/test_predict.py", "-k", "not real")),
    "wikitext": Target(
        "bookembed/wikitext.py", (),
        ("tests/test_wikidump.py", "-k", "not trained_on_the_output and not page_builds")),
    "baselines": Target(
        "bookembed/baselines.py", (),
        ("tests/test_baselines.py", "-k", "not page and not real")),
    "projector": Target(
        "bookembed/projector.py",
        ("x_clean_value", "x_is_blank", "x_format_rows", "x__fill_rows", "x__rows", "x__vectors", "x__column_strings",
         "x_metadata_frame", "x_metadata_tsv"),
        ("tests/test_projector_tsv.py", "tests/test_export.py",
         "tests/test_oracles.py::test_evaluate_reports_auc_and_purity_of_the_same_vectors")),
    "compare": Target(
        "bookembed/compare.py", (),
        ("tests/test_compare.py",)),
    "clusters": Target(
        "bookembed/clusters.py", (),
        ("tests/test_clusters.py",)),
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
    # what the tests read beside the code: the demo model folder and the benchmarks' helpers (the dump writer)
    shutil.copytree(ROOT / "models" / "demo", work / "models" / "demo", ignore=ignore)
    (work / "benchmarks").mkdir()
    for script in (ROOT / "benchmarks").glob("*.py"):
        shutil.copy2(script, work / "benchmarks" / script.name)
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    section = "\n".join([
        "[tool.mutmut]",
        f"source_paths = {toml_list(['bookembed'])}",
        f"only_mutate = {toml_list([target.path])}",
        f"pytest_add_cli_args_test_selection = {toml_list([*target.tests, *FAST])}",
        f"pytest_add_cli_args = {toml_list(['-p', 'no:cacheprovider', f'--timeout={TEST_TIMEOUT_S}'])}",
        f"also_copy = {toml_list(['models', 'benchmarks'])}",
        "use_git_change_detection = false",
        # mutants fork from mutmut's own process (the fastest way); the environment below keeps every
        # library single-threaded and numba on a threading layer that works after a fork. (The
        # "forkserver" isolation reported killable mutants as survivors here.)
        'process_isolation = "fork"',
        "",
    ])
    # the checked-in [tool.mutmut] documents the defaults; here it is replaced by the module's own
    pyproject = re.sub(r"\n\[tool\.mutmut\]\n(?:(?!\[).*\n?)*", "\n", pyproject)
    (work / "pyproject.toml").write_text(pyproject.rstrip() + "\n\n" + section, encoding="utf-8")
    return work


def mutant_env(forked: bool = True, **extra: str) -> dict[str, str]:
    """The environment mutants run in.

    One thread per library (mutants run one at a time on a shared machine, and thread pools do not
    survive fork), except numba's two: on one thread, the shards of a span that training splits
    between threads run one after another, in the order of one span, and a fault that sends one
    thread's work to two (or two threads' to one) would change nothing a test can see. numba's default
    layer, GNU OpenMP, ends a forked child that uses it with SIGTERM ("fork() called from a process
    already using GNU OpenMP"); its workqueue layer runs there (but refuses kernels launched from two
    Python threads at once, so a process that is not forked keeps numba's default).
    """
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               NUMBA_NUM_THREADS="2", TF_CPP_MIN_LOG_LEVEL="2",
               # a fault that stops an event from coming fails its test in a minute (tests/conftest.py)
               BOOKEMBED_WAIT_CEILING_S=str(WAIT_CEILING_S), **extra)
    if forked:
        env["NUMBA_THREADING_LAYER"] = "workqueue"
    return env


def mutmut(work: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run([str(Path(sys.executable).parent / "mutmut"), *args], cwd=work, capture_output=True,
                          text=True, encoding="utf-8", env=mutant_env())
    if check and proc.returncode != 0:
        raise SystemExit(f"mutmut {' '.join(args)} failed in {work}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


WAIT_CEILING_S = 60
"""The tests' ceiling on waits for an event while a mutant runs (10 minutes otherwise)."""
TEST_TIMEOUT_S = 150
"""pytest-timeout's limit for one test while a mutant runs: past two ceilings, the test is stuck."""

SIGNALLED = ("suspicious",)
"""mutmut's verdict for a test process that ended by a signal it does not read as a timeout or a crash."""
FRESH_TIMEOUT_S = 900


def verdict_of_exit_code(code: int) -> str:
    """What a fresh pytest's exit code says about a mutant (mutmut's own reading of exit codes)."""
    if code == 0:
        return "survived"
    if code in (1, 3):  # tests failed, or pytest's internal error: the mutant is noticed
        return "killed"
    if code == 5:
        return "no tests"
    if code in (-24, 24, 152):  # SIGXCPU
        return "timeout"
    if code in (-11, -9):
        return "segfault"
    return "suspicious"


def mutant_tests(work: Path, key: str) -> list[str]:
    """The tests mutmut found reaching the mutated function (its stats file), in a stable order."""
    try:
        stats = json.loads((work / "mutants" / "mutmut-stats.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return sorted(stats.get("tests_by_mangled_function_name", {}).get(key.partition("__mutmut_")[0], []))


def fresh_verdict(work: Path, key: str, target: Target) -> str:
    """Run a mutant's tests in a fresh ``python -m pytest`` of their own (no fork) with the mutant active."""
    tests = mutant_tests(work, key) or [*target.tests, *FAST]
    command = [sys.executable, "-m", "pytest", "--rootdir=.", "--tb=no", "-x", "-q", "-p", "no:randomly",
               "-p", "no:cacheprovider", f"--timeout={TEST_TIMEOUT_S}", *tests]
    try:
        proc = subprocess.run(command, cwd=work / "mutants", capture_output=True, text=True, encoding="utf-8",
                              env=mutant_env(forked=False, MUTANT_UNDER_TEST=key), timeout=FRESH_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return "timeout"
    return verdict_of_exit_code(proc.returncode)


def run(name: str, target: Target, children: int) -> dict:
    work = prepare(name, target)
    module = target.path.removesuffix(".py").replace("/", ".")
    patterns = [f"{module}.{f}__mutmut_*" for f in target.functions] or [f"{module}.*"]
    started = time.perf_counter()
    mutmut(work, "run", "--max-children", str(children), *patterns, check=False)
    statuses: dict[str, str] = {}
    for line in mutmut(work, "results", "--all", "true").splitlines():
        key, _, status = line.strip().rpartition(": ")
        if key.startswith(module + ".") and (not target.functions or any(
                key.startswith(f"{module}.{f}__mutmut_") for f in target.functions)):
            statuses[key] = status
    # a child that died by a signal has no verdict: its tests run again in a process of their own
    rerun = sorted((k for k, s in statuses.items() if s in SIGNALLED), key=natural)
    for key in rerun:
        statuses[key] = fresh_verdict(work, key, target)
    seconds = time.perf_counter() - started
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    # a mutant that makes the tests hang or crash (an out-of-bounds write in a compiled kernel) is caught too
    detected = ("killed", "timeout", "segfault")
    caught = sum(counts.get(s, 0) for s in detected)
    survivors = sorted((k for k, s in statuses.items() if s not in detected), key=natural)
    lines = [f"{target.path}: {caught} of {len(statuses)} mutants caught "
             f"({100 * caught / max(1, len(statuses)):.1f}%) in {seconds:.0f} s; " +
             ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) +
             (f"; {len(rerun)} ended by a signal under mutmut and were run again in a fresh process" if rerun else "")]
    for key in survivors:
        lines.append(f"\n## {key}: {statuses[key]}\n" + mutmut(work, "show", key, check=False).strip())
    report = "\n".join(lines) + "\n"
    (OUT / f"{name}.txt").write_text(report, encoding="utf-8")
    print(report, flush=True)
    return {"module": target.path, "mutants": len(statuses), "caught": caught, "rerun_fresh": len(rerun),
            "seconds": seconds}


def natural(key: str):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", key)]


SURVIVORS_MD = ROOT / "benchmarks" / "mutation_survivors.md"
DETECTED = ("killed", "timeout", "segfault")


def _mutant_names(text: str, module: str) -> set[str]:
    """The mutants a piece of text names: full names (``x_f__mutmut_11``), shorthands of the last full
    name's function (``_13``) and ranges (``_39``-``_53``)."""
    names: set[str] = set()
    prefix = None
    for match in re.finditer(r"`([^`]+)`(?:\s*[-–]\s*`_(\d+)`)?", text):
        token, upto = match.group(1), match.group(2)
        token = token.rsplit("::", 1)[-1]
        if "__mutmut_" in token:
            prefix, _, number = token.rpartition("__mutmut_")
        elif token.startswith("_") and token[1:].isdigit() and prefix:
            number = token[1:]
        else:
            continue
        last = int(upto) if upto else int(number)
        names.update(f"{module}.{prefix}__mutmut_{n}" for n in range(int(number), last + 1))
    return names


def explained_mutants(text: str | None = None) -> tuple[set[str], set[str]]:
    """What ``mutation_survivors.md`` says of survivors: (equivalent, killed by a test added since), as full keys.

    Under each ``## bookembed/<module>.py`` heading, the first cell of a table row names equivalent
    mutants; the bullet list after a line starting ``**Killed by`` names mutants a test added after
    the module's last run kills, each checked by hand with ``MUTANT_UNDER_TEST`` (a rerun of the
    module counts them as caught). Other sections (faults planted by hand) are not read.
    """
    text = SURVIVORS_MD.read_text(encoding="utf-8") if text is None else text
    equivalent: set[str] = set()
    killed: set[str] = set()
    module, in_killed = None, False
    for line in text.splitlines():
        if line.startswith("## "):
            heading = re.match(r"## (bookembed/\w+)\.py", line)
            module, in_killed = (heading.group(1).replace("/", ".") if heading else None), False
            continue
        if module is None:
            continue
        if line.startswith("**"):
            in_killed = line.startswith("**Killed by")
            continue
        if in_killed and line.startswith("- "):
            killed |= _mutant_names(line, module)  # the test's own name is no mutant's
        elif line.startswith("|") and not line.startswith("| ---") and not line.startswith("|---"):
            equivalent |= _mutant_names(line.split("|")[1], module)
    return equivalent, killed


def equivalent_mutants(text: str | None = None) -> set[str]:
    """Mutants that ``mutation_survivors.md`` explains as equivalent (see ``explained_mutants``)."""
    return explained_mutants(text)[0]


def read_report(name: str) -> dict | None:
    """A module's figures from the report its last run wrote (``benchmarks/out/mutation/<name>.txt``)."""
    path = OUT / f"{name}.txt"
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    head = re.match(r"(\S+): (\d+) of (\d+) mutants caught \([^)]*\) in (\d+) s", text)
    if not head:
        return None
    survivors = re.findall(r"^## (\S+): (\S+)", text, flags=re.M)
    rerun = re.search(r"; (\d+) ended by a signal", text.splitlines()[0])
    return {"module": head.group(1), "caught": int(head.group(2)), "mutants": int(head.group(3)),
            "seconds": int(head.group(4)), "survivors": [k for k, status in survivors if status not in DETECTED],
            "rerun_fresh": int(rerun.group(1)) if rerun else 0}


def row_of(report: dict, equivalent: set[str], killed_since: set[str] = frozenset()) -> dict:
    equal = [k for k in report["survivors"] if k in equivalent]
    since = [k for k in report["survivors"] if k in killed_since and k not in equivalent]
    judged = report["mutants"] - len(equal)
    caught = report["caught"] + len(since)
    return {"what": report["module"], "mutants": report["mutants"], "caught": report["caught"],
            "caught_since": len(since), "equivalent": len(equal),
            "unexplained": report["mutants"] - caught - len(equal),
            "kill_rate": round(100 * caught / max(1, judged), 1),
            "raw_kill_rate": round(100 * report["caught"] / max(1, report["mutants"]), 1),
            "rerun_fresh": report["rerun_fresh"], "seconds": report["seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", metavar="module", help=f"any of {', '.join(TARGETS)} (default: all)")
    parser.add_argument("--max-children", type=int, default=1, help="mutants tested at once (default 1)")
    parser.add_argument("--report-only", action="store_true",
                        help="run no mutant: count again from the reports the last runs wrote, with the "
                             "equivalents mutation_survivors.md explains now")
    args = parser.parse_args()
    unknown = sorted(set(args.modules) - set(TARGETS))
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    names = args.modules or list(TARGETS)
    if not args.report_only:
        if shutil.which("mutmut", path=str(Path(sys.executable).parent)) is None:
            raise SystemExit("mutmut is not installed here: .venv/bin/pip install mutmut==3.8.1")
        for name in names:
            run(name, TARGETS[name], args.max_children)
    equivalent, killed_since = explained_mutants()
    reports = {name: read_report(name) for name in names}
    missing = [name for name, report in reports.items() if report is None]
    if missing:
        raise SystemExit(f"no report yet for {', '.join(missing)}: run benchmarks/mutation.py {' '.join(missing)}")
    rows = [row_of(report, equivalent, killed_since) for report in reports.values()]
    written = record("mutation", rows, key=("what",))
    # the total is taken over every module's latest row, whichever run wrote it
    import json as _json

    stored = [r for r in _json.loads(written.read_text(encoding="utf-8"))["rows"] if r["what"] != "all"]
    total = {k: sum(r.get(k, 0) for r in stored) for k in ("mutants", "caught", "caught_since", "equivalent",
                                                          "unexplained", "rerun_fresh", "seconds")}
    total.update(what="all", kill_rate=round(100 * (total["caught"] + total["caught_since"])
                                             / max(1, total["mutants"] - total["equivalent"]), 1),
                 raw_kill_rate=round(100 * total["caught"] / max(1, total["mutants"]), 1))
    # the total goes last: drop the stored one, then add it again
    data = _json.loads(written.read_text(encoding="utf-8"))
    data["rows"] = [r for r in data["rows"] if r["what"] != "all"]
    written.write_text(_json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    record("mutation", [total], key=("what",))
    print("| module | mutants | caught | caught since | equivalent | unexplained | kill rate (of those not equivalent) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in [*stored, total]:
        print(f"| {r['what']} | {r['mutants']} | {r['caught']} | {r.get('caught_since', '?')} | "
              f"{r.get('equivalent', '?')} | {r.get('unexplained', '?')} | {r['kill_rate']}% |")
    for report in reports.values():
        unexplained = [k for k in report["survivors"] if k not in equivalent and k not in killed_since]
        if unexplained:
            print(f"unexplained in {report['module']}: {', '.join(unexplained)}")
    print("written:", written)


if __name__ == "__main__":
    main()
