"""No import circles in the library: each module of bookembed/ can be read (and imported) after the ones it uses.

Two modules that import each other are one module in two files: neither can be understood, tested or moved
alone, and at module level the second import sees a half-initialised module. Read from the source with ``ast``,
so nothing is imported here.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

LIBRARY = ROOT / "bookembed"

# Circles that remain when imports inside functions count too, each with why; remove an entry once its circle is
# gone. None remain.
KNOWN_LAZY_CIRCLES: set[frozenset[str]] = set()


def module_name(path: Path, package_root: Path) -> str:
    parts = path.relative_to(package_root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runs_at_import(node: ast.AST) -> bool:
    """False for code that does not run when the module is imported: function bodies, ``if TYPE_CHECKING:``."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        return False
    if isinstance(node, ast.If):
        test = node.test
        name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else ""
        return name != "TYPE_CHECKING"
    return True


def _imports(tree: ast.Module, module_level: bool) -> list[ast.Import | ast.ImportFrom]:
    found = []
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            if not module_level or _runs_at_import(child):
                todo.append(child)
    return found


def import_graph(package_root: Path, module_level: bool) -> dict[str, set[str]]:
    """``{module: modules of the package it imports}``; with ``module_level``, only imports that run on import."""
    paths = {module_name(p, package_root): p for p in sorted(package_root.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        is_package = path.name == "__init__.py"
        deps: set[str] = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)), module_level):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:  # relative: from the module's package, up level - 1 more
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                # ``from package import module`` imports the module; ``from module import name`` the module
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in paths else base for alias in node.names]
            for target in targets:
                while target and target not in paths:  # ``import a.b.c`` of a name inside a module
                    target = target.rpartition(".")[0]
                if target and target != name:
                    deps.add(target)
        graph[name] = deps
    return graph


def circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def describe(found: list[frozenset[str]]) -> list[str]:
    return [" <-> ".join(sorted(c)) for c in found]


def test_no_import_circle_at_module_level():
    """No two modules of bookembed/ (bookembed/ui included) import each other when they are imported."""
    assert describe(circles(import_graph(LIBRARY, module_level=True))) == []


def test_no_import_circle_counting_imports_inside_functions():
    """A lazy import (inside a function, to keep a heavy module off the import path) still ties two modules
    together: the library has none, but for the known ones listed above with their reasons."""
    found = circles(import_graph(LIBRARY, module_level=False))
    assert describe([c for c in found if c not in KNOWN_LAZY_CIRCLES]) == []


def test_the_check_finds_a_circle(tmp_path):
    """The checker sees circles at module level, through a function, relatively and through ``from pkg import``."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.b import x\n")
    (pkg / "b.py").write_text("x = 1\ndef f():\n    from pkg import a\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.sub import d\n")
    (pkg / "sub" / "d.py").write_text("from ..c import TYPE_CHECKING\nfrom . import e\n")
    (pkg / "sub" / "e.py").write_text("import pkg.sub.d\n")
    assert describe(circles(import_graph(pkg, module_level=True))) == ["pkg.sub.d <-> pkg.sub.e"]
    assert sorted(describe(circles(import_graph(pkg, module_level=False)))) == [
        "pkg.a <-> pkg.b", "pkg.c <-> pkg.sub.d <-> pkg.sub.e"]
