"""No measured figure in the library's docstrings and comments (DESIGN.md habit 19: a figure has one source).

A timing, a speed, a memory size used or a measured ratio belongs in a benchmark's results file and
the docs generated from it (or, until regenerated, a doc's "Earlier measurements" section). The
code keeps the reasoning in words ("several times faster than a stable sort") and names the
benchmark that measures it. This test reads every docstring (``ast``: each bare string statement,
so attribute docstrings too) and every comment (``tokenize``) under ``bookembed/`` and fails with
``file:line`` for each figure it finds. Strings the program prints are code, not read here.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bookembed"

_NUMBER = r"\d[\d,]*(?:\.\d+)?"
FIGURE = re.compile(
    "|".join((
        rf"\b{_NUMBER}\s?(?:s|ms|µs|ns|min)\b",  # a time: "64 s", "0.21 ms", "45 ns"
        rf"\b{_NUMBER}\s?(?:GB|MB|GiB|MiB)\b",  # memory or bytes: "2.8 GB", "35 MB"
        rf"\b{_NUMBER}\s?[kMG]?\s?(?:examples|pages|queries|rows|keys)/s\b",  # a speed: "4.90M examples/s"
        rf"\b{_NUMBER}\s?×",  # a measured ratio: "7× slower", "2.9×"
        rf"\b{_NUMBER}x\b",  # the same, spelt with an x: "12x faster"
        rf"\b{_NUMBER}\s?(?:times|x)\s+(?:faster|slower)\b",  # "5 x slower", "6 times faster"
        # a quality score a benchmark measured: "recall@10 0.931", "Hits@10 0.30", "ARI 0.91"
        r"\b(?:recall(?:@\d+)?|Hits@\d+|purity(?:@\d+)?|AUC|ARI|MRR|NMI|accuracy|macro-F1)"
        r"\s+(?:of\s+|from\s+)?0\.\d+",
    ))
)

# Figures that are not measurements, each allowed by (file's name, text on the line): the figure found
# must lie inside that text, on a line holding it, in a file of that name.
ALLOWED = {
    # The reader's block size: a parameter (records.BLOCK = 1 << 24), not a measurement.
    ("records.py", "16 MB"): "block size read at a time",
    ("corpus.py", "16 MB blocks"): "the same block size, as the NDJSON reader uses it",
    # download.FIRST_LINE_LIMIT = 1 << 22: a limit on a record's length.
    ("download.py", "4 MB"): "the first line's length limit",
    # The memory a blocked matrix product may use per block: a cap the code sets.
    ("evaluate.py", "256 MB"): "the query block's memory cap",
    ("vectors.py", "256 MB"): "the query block's memory cap",
    # stages.format_seconds / format_rate and StatusLine: examples of the output's format.
    ("stages.py", "``0.4 s``, ``12 s``, ``3 min 05 s``"): "format_seconds's output format",
    ("stages.py", "``8.2M examples/s`` or ``512k examples/s``"): "format_rate's output format",
    ("stages.py", "``evaluating 3.2 s:"): "the status line's format",
    ("stages.py", "``reading 0.3 s · cleaning 0.1 s · training 4.2 s``"): "the summary line's format",
}


def _docstrings(tree: ast.AST):
    """(first line, text) of every bare string statement: module, class, function and attribute docstrings."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            yield node.value.lineno, node.value.value


def _comments(source: str):
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string


def figures(path: Path, name: str) -> list[tuple[str, int, str]]:
    """(name, line, matched text) for each figure in the file's docstrings and comments, allowed ones left out."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    found = []
    for first, text in [*_docstrings(ast.parse(source)), *_comments(source)]:
        for match in FIGURE.finditer(text):
            line = first + text.count("\n", 0, match.start())
            line_text = lines[line - 1] if line <= len(lines) else ""
            figure = " ".join(match.group().split())
            if any(path.name == file and allowed in line_text and figure in allowed for file, allowed in ALLOWED):
                continue
            found.append((name, line, figure))
    return found


def scan(package: Path) -> list[tuple[str, int, str]]:
    found = []
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        found += figures(path, path.relative_to(package.parent).as_posix())
    return found


def test_no_measured_figure_in_the_librarys_docstrings_and_comments():
    found = scan(PACKAGE)
    assert found == [], "measured figures belong in docs/ (Earlier measurements) or a results file:\n" + "\n".join(
        f"{name}:{line}: {text}" for name, line, text in found)


def test_each_allowed_figure_is_still_there():
    """An allow-list entry whose line is gone would silently allow a figure elsewhere in that file."""
    stale = [(file, text) for file, text in ALLOWED
             if not any(text in line for path in PACKAGE.rglob(file) for line in path.read_text("utf-8").splitlines())]
    assert stale == []


def test_the_scanner_sees_a_planted_figure(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "planted.py").write_text(
        '"""A module.\n'
        "\n"
        "Building the index took\n"
        '42 s on a million books."""\n'
        "\n"
        "LIMIT = 10\n"
        '"""Rows at a time: 3.5x faster than one by one."""\n'
        "\n"
        "\n"
        "def f(seconds):\n"
        '    """Sorts, 0.3 ms a call, at 2.8 GB peak and 4.90M examples/s; recall@10 0.931."""\n'
        "    x = 1  # about 7× slower without the prefetch\n"
        '    return f"{seconds:.1f} s", "20s"  # printed text and code are not read\n',
        encoding="utf-8")
    found = scan(package)
    assert [(line, text) for _, line, text in found] == [
        (4, "42 s"), (7, "3.5x"), (11, "0.3 ms"), (11, "2.8 GB"), (11, "4.90M examples/s"),
        (11, "recall@10 0.931"), (12, "7×")]
    assert {name for name, _, _ in found} == {"pkg/planted.py"}


def test_the_allow_list_is_held_to_its_file_and_line(tmp_path):
    package = tmp_path / "bookembed"
    package.mkdir()
    (package / "records.py").write_text('"""Read in 16 MB blocks; the whole file took 3 s."""\n', encoding="utf-8")
    (package / "other.py").write_text("# 16 MB of memory at peak\n", encoding="utf-8")
    assert [(name, text) for name, _, text in scan(package)] == [
        ("bookembed/other.py", "16 MB"), ("bookembed/records.py", "3 s")]
