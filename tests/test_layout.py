"""The layers hold: the library stands alone (importing every module of crisis_model loads no
dashboard code), inference and scoring run without the training code, the model knows nothing of
run folders, the dashboard loads training code only when it trains, and no two modules import each
other (read from the source's import statements)."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

DASHBOARD_ONLY = ("streamlit", "plotly", "playwright", "crisis_dashboard")

IMPORT_EVERY_MODULE = """
import json, pkgutil, sys, importlib
import crisis_model
names = [m.name for m in pkgutil.walk_packages(crisis_model.__path__, "crisis_model.")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"modules": names, "loaded": sorted(sys.modules)}))
"""


def test_importing_the_library_loads_no_streamlit_plotly_or_playwright(python_process) -> None:
    process = python_process("-c", IMPORT_EVERY_MODULE)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-3000:]
    report = json.loads(stdout.strip().splitlines()[-1])
    assert {
        "crisis_model.model.fusion",
        "crisis_model.training.loop",
        "crisis_model.data.posts",
        "crisis_model.inference",
        "crisis_model.score",
        "crisis_model.scoring.collection",
    } <= set(report["modules"])
    loaded = [m for m in report["loaded"] if m.split(".")[0] in DASHBOARD_ONLY]
    assert loaded == []


# --------------------------------------------------------------------------- the import graph, read from the source

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


@pytest.fixture(scope="module")
def graph() -> dict[str, list[Import]]:
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


def test_no_import_circle_anywhere_in_the_tree(graph) -> None:
    """A module's imports at its head count, TYPE_CHECKING ones too: a circle there means two modules
    that cannot be read, changed or tested apart. A call-time import is a call into a higher layer
    (CrisisModel.predict delegating to crisis_model.inference), checked by the layer tests below."""
    edges = {name: {i.target for i in imports if i.when != "call"} for name, imports in graph.items()}
    circles = [sorted(component) for component in strongly_connected(edges) if len(component) > 1]
    assert circles == []


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


def test_the_library_never_imports_the_dashboard(graph) -> None:
    for name in graph:
        if name.startswith("crisis_model"):
            reached = loaded_with(graph, name, at_import_only=False)
            assert not [m for m in reached if m.startswith(("crisis_dashboard", "pages", "app"))], name


def test_inference_and_scoring_never_import_training(graph) -> None:
    """What scores a post or a collection runs without the training code (nor scikit-learn, which only
    training's metrics import)."""
    for name in graph:
        if name.startswith(("crisis_model.inference", "crisis_model.scoring", "crisis_model.score")):
            reached = loaded_with(graph, name, at_import_only=False)
            assert not [m for m in reached if m.startswith("crisis_model.training")], name


def test_the_model_knows_nothing_of_run_folders(graph) -> None:
    for name in graph:
        if name.startswith("crisis_model.model"):
            reached = loaded_with(graph, name, at_import_only=False)
            assert not [m for m in reached if m.startswith(("crisis_model.run_folder", "crisis_model.training"))]


def test_the_dashboard_imports_training_code_only_when_it_trains(graph) -> None:
    """At import time no dashboard module (nor app.py, nor a page) loads crisis_model.training: the
    first start imports it inside the function that trains."""
    for name in graph:
        if name.startswith(("crisis_dashboard", "pages", "app")):
            reached = loaded_with(graph, name, at_import_only=True)
            assert not [m for m in reached if m.startswith("crisis_model.training")], name


def test_the_scoring_command_loads_no_training_code_nor_scikit_learn(python_process) -> None:
    """The issue's own check, in a fresh interpreter."""
    check = (
        "import crisis_model.score, sys; "
        "print([m for m in sys.modules if m.startswith('crisis_model.training') or m == 'sklearn'])"
    )
    process = python_process("-c", check)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-3000:]
    assert stdout.strip() == "[]"
