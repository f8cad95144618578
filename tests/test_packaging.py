"""One source of truth: requirements files agree with pyproject.toml, and the README's quickstart stays two commands."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

from conftest import ROOT

try:
    from packaging.requirements import Requirement
except ImportError:  # pip vendors it
    from pip._vendor.packaging.requirements import Requirement


def parse_requirements(path):
    reqs = []
    for line in path.read_text().splitlines():
        line = line.split(" #")[0].strip()
        if not line or line.startswith(("#", "-e", "-r")):
            continue
        reqs.append(Requirement(line))
    return reqs


def key(req):
    return (req.name.lower().replace("_", "-"), str(req.marker or ""))


def test_requirements_pin_every_dependency_within_pyproject_ranges():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {key(Requirement(r)): Requirement(r) for r in project["dependencies"]}
    pinned = {key(r): r for r in parse_requirements(ROOT / "requirements.txt")}
    assert set(declared) == set(pinned), "requirements.txt and pyproject.toml list different packages"
    for k, req in declared.items():
        (version,) = [s.version for s in pinned[k].specifier if s.operator == "=="]
        assert req.specifier.contains(version), f"{k[0]}=={version} is outside pyproject's {req.specifier}"
    assert "-e ." in (ROOT / "requirements.txt").read_text().split("\n")


def test_test_requirements_cover_the_test_extra():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {key(Requirement(r)): Requirement(r) for r in project["optional-dependencies"]["test"]}
    text = (ROOT / "requirements-test.txt").read_text()
    assert "-r requirements.txt" in text
    pinned = {key(r): r for r in parse_requirements(ROOT / "requirements-test.txt")}
    for k, req in declared.items():
        assert k in pinned, f"{k[0]} missing from requirements-test.txt"
        (version,) = [s.version for s in pinned[k].specifier if s.operator == "=="]
        assert req.specifier.contains(version)


def test_readme_quickstart_is_two_commands_and_ci_runs_the_second():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Quickstart", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line for line in block.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert len(commands) == 2
    assert "streamlit run app.py" in commands[0] and "requirements.txt" in commands[0]
    assert "pytest" in commands[1]
    assert commands[1].strip() in (ROOT / ".ci" / "run").read_text()


def test_console_script_and_module_entry_point():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["bookembed"] == "bookembed.cli:run"
    out = subprocess.run([sys.executable, "-m", "bookembed", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and re.fullmatch(r"bookembed \d+\.\d+\.\d+\s*", out.stdout)


def test_library_imports_no_streamlit_and_no_heavy_modules():
    """Importing the library's light modules must not pull in streamlit, tensorflow or umap."""
    code = (
        "import sys, bookembed, bookembed.corpus, bookembed.store, bookembed.neighbors, bookembed.evaluate, "
        "bookembed.training, bookembed.pipeline, bookembed.cli\n"
        "bad = [m for m in ('streamlit', 'tensorflow', 'keras', 'umap', 'openTSNE', 'sklearn') if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_module_entry_point_keeps_exit_codes_and_flushes_output(tmp_path):
    """``python -m bookembed`` ends through ``cli.run``: each exit code and every line of output survive."""
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "bookembed", *args], capture_output=True, text=True, cwd=tmp_path)

    assert (out := cli("--help")).returncode == 0 and "usage:" in out.stdout
    assert (out := cli("no-such-command")).returncode == 2 and "invalid choice" in out.stderr
    out = cli("info", "--model", str(tmp_path / "missing"))
    assert out.returncode == 1 and out.stderr.startswith("bookembed: error:") and len(out.stderr.splitlines()) == 1
