"""The layers hold: the library stands alone (importing every module of crisis_model loads no
dashboard code), inference and scoring run without the training code, the model knows nothing of
run folders, the dashboard loads training code only when it trains, and no two modules import each
other (read from the source's import statements)."""

from __future__ import annotations

import json

import pytest

from tests.import_graph import Import, import_graph, loaded_with, strongly_connected

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


@pytest.fixture(scope="module")
def graph() -> dict[str, list[Import]]:
    return import_graph()


def test_no_import_circle_anywhere_in_the_tree(graph) -> None:
    """A module's imports at its head count, TYPE_CHECKING ones too: a circle there means two modules
    that cannot be read, changed or tested apart. A call-time import is a call into a higher layer
    (CrisisModel.predict delegating to crisis_model.inference), checked by the layer tests below."""
    edges = {name: {i.target for i in imports if i.when != "call"} for name, imports in graph.items()}
    circles = [sorted(component) for component in strongly_connected(edges) if len(component) > 1]
    assert circles == []


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
