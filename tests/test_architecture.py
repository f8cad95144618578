"""The house plan (../shared/DESIGN.md) as checks on the source: where Streamlit may be imported, that only its
public API is used, and that no library module grows past what one reader can hold."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

LIBRARY = ROOT / "bookembed"
UI = LIBRARY / "ui"
APP_FILES = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]
LIBRARY_FILES = sorted(LIBRARY.rglob("*.py"))
# Streamlit's documented modules; everything else under streamlit.* (runtime, web, elements, proto, ...) is
# internal and changes between releases (habit 15).
PUBLIC_STREAMLIT = {"streamlit", "streamlit.components.v1", "streamlit.column_config", "streamlit.testing.v1"}
INTERNAL_STREAMLIT = {"runtime", "web", "elements", "proto", "delta_generator", "commands", "config", "logger", "util",
                      "source_util", "watcher", "file_util", "type_util"}
MAX_MODULE_LINES = 700
# The model folder's files (bookembed/store.py is their schema): pages and bookembed/ui/ reach them only through
# the folder's type (ModelFolder and the modules that own each file), never by name (habits 13 and 18).
MODEL_FOLDER_NAMES = ("manifest.json", "views.json", "book_vectors.npy", "link_vectors.npy", "books.parquet",
                      "links.json", "pairs.npz", "history.json", "model.keras", "projections/", "clusters/", "index/",
                      "tiles/")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import in ``path``, ``from a.b import c`` giving ``a.b`` and ``a.b.c``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def private_attributes_of_st(path: Path) -> list[tuple[int, str]]:
    """``st._something`` (or ``streamlit._something``): a private attribute of the Streamlit module."""
    names = {"st", "streamlit"}
    return [(node.lineno, f"{node.value.id}.{node.attr}")
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in names
            and node.attr.startswith("_")]


def test_the_files_checked_are_there():
    assert (LIBRARY / "__init__.py").is_file() and UI.is_dir() and len(APP_FILES) > 1
    assert len(LIBRARY_FILES) > 10


def test_no_streamlit_in_the_library_outside_ui():
    """Habit 1: bookembed/ computes; only app.py, pages/ and bookembed/ui/ import streamlit."""
    offenders = [f"{path.relative_to(ROOT)}:{line}: {module}"
                 for path in LIBRARY_FILES if UI not in path.parents
                 for line, module in imported_modules(path) if module.split(".")[0] == "streamlit"]
    assert offenders == []


def is_public_streamlit(module: str) -> bool:
    """``streamlit``, a documented module (or a parent or member of one), or ``from streamlit import name``."""
    if module == "streamlit" or any(module == p or module.startswith(p + ".") or p.startswith(module + ".")
                                    for p in PUBLIC_STREAMLIT - {"streamlit"}):
        return True
    name = module.removeprefix("streamlit.")
    return "." not in name and not name.startswith("_") and name not in INTERNAL_STREAMLIT


def test_only_streamlits_public_api():
    """Habit 15: no streamlit.runtime, streamlit.web, ... and no st._private attribute, anywhere in the app."""
    offenders = []
    for path in [*APP_FILES, *LIBRARY_FILES]:
        offenders += [f"{path.relative_to(ROOT)}:{line}: {module}" for line, module in imported_modules(path)
                      if module.split(".")[0] == "streamlit" and not is_public_streamlit(module)]
        offenders += [f"{path.relative_to(ROOT)}:{line}: {name}" for line, name in private_attributes_of_st(path)]
    assert offenders == []


def test_the_checks_see_what_they_look_for(tmp_path):
    """The two helpers find a private import and a private attribute (so an empty list above means something)."""
    sample = tmp_path / "sample.py"
    sample.write_text("import streamlit as st\nfrom streamlit.runtime.scriptrunner import get_script_run_ctx\n"
                      "st._config.get_option('x')\n")
    assert (2, "streamlit.runtime.scriptrunner") in imported_modules(sample)
    assert not is_public_streamlit("streamlit.runtime.scriptrunner") and is_public_streamlit("streamlit.components.v1")
    assert private_attributes_of_st(sample) == [(3, "st._config")]


def model_folder_names(path: Path) -> list[tuple[int, str]]:
    """(line, name) for every model-folder file name in the source text of ``path``."""
    return [(number, name) for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            for name in MODEL_FOLDER_NAMES if name in line]


def test_pages_and_ui_reach_the_model_folder_only_through_its_type():
    """No page and no bookembed/ui/ module names a file of the model folder: they ask the folder's type."""
    files = [*sorted((ROOT / "pages").glob("*.py")), *sorted(UI.glob("*.py"))]
    offenders = [f"{path.relative_to(ROOT)}:{line}: {name}" for path in files
                 for line, name in model_folder_names(path)]
    assert len(files) > 5 and offenders == []


def test_the_file_name_check_sees_a_name(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("x = 1\nstamp = (path / \"manifest.json\").stat()\nfolder = path / 'projections/'\n")
    assert model_folder_names(sample) == [(2, "manifest.json"), (3, "projections/")]


def module_lengths() -> dict[str, int]:
    return {str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines()) for path in LIBRARY_FILES}


def test_no_library_module_is_over_700_lines():
    """A module past 700 lines usually holds two stages (DESIGN: one module per stage)."""
    long = {name: n for name, n in module_lengths().items() if n > MAX_MODULE_LINES}
    assert long == {}, f"over {MAX_MODULE_LINES} lines: {long}"
