"""The dashboard's shape, read from its source: thin page files that only call crisis_dashboard, one
view per page, and a router that loads in milliseconds (it draws the page names and the loading
notice before anything heavy is imported). The layers and import circles: tests/test_layout.py."""

from __future__ import annotations

import ast
import sys

from crisis_dashboard import routing
from tests.import_graph import REPO, import_graph, imports_of, source_files

PAGES_DIR = REPO / routing.PAGES_DIR
VIEWS = REPO / "crisis_dashboard" / "views"
MAX_PAGE_LINES = 30


def test_each_page_file_is_a_few_lines_that_only_call_crisis_dashboard() -> None:
    files = sorted(PAGES_DIR.glob("*.py"))
    assert files
    graph = import_graph()
    for file in files:
        lines = file.read_text(encoding="utf-8").splitlines()
        assert len(lines) <= MAX_PAGE_LINES, f"{file.name}: {len(lines)} lines"
        body = ast.parse(file.read_text(encoding="utf-8")).body
        imports = [node for node in body if isinstance(node, ast.Import | ast.ImportFrom)]
        assert all(isinstance(node, ast.ImportFrom) and node.module == "crisis_dashboard" for node in imports)
        assert {i.target for i in graph[f"pages.{file.stem}"]} == {"crisis_dashboard.routing"}, file.name


def test_every_page_has_its_file_and_its_view() -> None:
    assert {file.stem for file in PAGES_DIR.glob("*.py")} == {spec.url for spec in routing.PAGES}
    views = {file.stem for file in VIEWS.glob("*.py")} - {"__init__"}
    assert views == {spec.url for spec in routing.PAGES}
    for spec in routing.PAGES:
        view = ast.parse((VIEWS / f"{spec.url}.py").read_text(encoding="utf-8"))
        assert any(isinstance(node, ast.FunctionDef) and node.name == "show" for node in view.body), spec.url


def test_the_router_imports_only_streamlit_and_the_standard_library() -> None:
    path = source_files()["crisis_dashboard.routing"]
    assert not [i for i in imports_of(path, set(source_files())) if i.when == "import"]  # no first-party module
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported <= {"streamlit", "__future__", *sys.stdlib_module_names}, imported
