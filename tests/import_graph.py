"""The import graph of the repository, read from the source's import statements (nothing is
imported): what tests/test_layout.py and tests/test_pages_structure.py hold the layers to."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TREE = ("crisis_model", "crisis_dashboard", "pages", "bench", "tests")
SCRIPTS = ("app.py", "train.py")


@dataclass(frozen=True)
class Import:
    target: str
    when: str  # "import": runs when the importing module is imported; "typing": under TYPE_CHECKING;
    # "call": inside a function, when it is called


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files() -> dict[str, Path]:
    files = [REPO / name for name in SCRIPTS] + [p for top in TREE for p in sorted((REPO / top).rglob("*.py"))]
    return {module_name(path): path for path in files}


def imports_of(path: Path, modules: set[str]) -> list[Import]:
    """The first-party modules `path` imports: `from a.b import c` is a.b.c where that is a module."""
    found: list[Import] = []

    def visit(node: ast.AST, when: str) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            when = "call"
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test) and when == "import":
            when = "typing"
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module for a in node.names
            ]
        found.extend(Import(name, when) for name in names if name in modules)
        for child in ast.iter_child_nodes(node):
            visit(child, when)

    visit(ast.parse(path.read_text(encoding="utf-8")), "import")
    return found


def import_graph() -> dict[str, list[Import]]:
    """Every module of the tree -> the first-party modules it imports."""
    files = source_files()
    return {name: imports_of(path, set(files)) for name, path in files.items()}


def loaded_with(graph: dict[str, list[Import]], start: str, at_import_only: bool) -> set[str]:
    """Every first-party module importing `start` loads (its parent packages' __init__ too), when
    only the imports that run at import time count, or every import (lazy ones too)."""
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parents = [".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)]
        todo += [p for p in parents if p in graph]
        todo += [i.target for i in graph.get(name, []) if i.when == "import" or not at_import_only]
    return seen


def strongly_connected(edges: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges.get(node, ()):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            components.append(component)

    for node in edges:
        if node not in index:
            connect(node)
    return components
