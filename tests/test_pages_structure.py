"""The dashboard's shape, read from its source: thin page files that only call crisis_dashboard, one
view per page, no pages/ folder (Streamlit's older convention would list the files' names), a
router that loads in milliseconds, and no import circle among the dashboard's modules."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from crisis_dashboard import routing

REPO = Path(__file__).resolve().parents[1]
PAGES_DIR = REPO / routing.PAGES_DIR
DASHBOARD = REPO / "crisis_dashboard"
MAX_PAGE_LINES = 30


def module_level_imports(path: Path, for_type_checking: bool = False) -> set[str]:
    """The modules `path` imports when it is imported: its top-level imports, not those inside a
    function, nor, unless `for_type_checking`, those under `if TYPE_CHECKING:`. `from package import
    name` counts as package.name when that is a module of this repository."""
    found: set[str] = set()
    statements = list(ast.parse(path.read_text(encoding="utf-8")).body)
    while statements:
        node = statements.pop()
        if isinstance(node, ast.If) and (for_type_checking or "TYPE_CHECKING" not in ast.unparse(node.test)):
            statements += node.body + node.orelse
        elif isinstance(node, ast.Try):
            statements += node.body + node.orelse + node.finalbody
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                is_module = (REPO / Path(*name.split("."))).with_suffix(".py").is_file()
                found.add(name if is_module else node.module)
    return found


def dashboard_module(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")


def test_each_page_file_is_a_few_lines_that_only_call_crisis_dashboard() -> None:
    files = sorted(PAGES_DIR.glob("*.py"))
    assert files
    for file in files:
        lines = file.read_text(encoding="utf-8").splitlines()
        assert len(lines) <= MAX_PAGE_LINES, f"{file.name}: {len(lines)} lines"
        outside = {m for m in module_level_imports(file) if m.split(".")[0] != "crisis_dashboard"}
        assert not outside, f"{file.name} imports {sorted(outside)}"


def test_every_page_has_its_file_and_its_view_and_there_is_no_pages_folder() -> None:
    assert {file.stem for file in PAGES_DIR.glob("*.py")} == {spec.url for spec in routing.PAGES}
    views = {file.stem for file in (DASHBOARD / "views").glob("*.py")} - {"__init__"}
    assert views == {spec.url for spec in routing.PAGES}
    for spec in routing.PAGES:
        view = ast.parse((DASHBOARD / "views" / f"{spec.url}.py").read_text(encoding="utf-8"))
        assert any(isinstance(node, ast.FunctionDef) and node.name == "show" for node in view.body), spec.url
    assert not (REPO / "pages").exists()


def test_the_router_imports_only_streamlit_and_the_standard_library() -> None:
    imported = {name.split(".")[0] for name in module_level_imports(DASHBOARD / "routing.py")}
    assert imported <= {"streamlit", "__future__", *sys.stdlib_module_names}, imported


def test_the_state_and_the_first_start_import_no_training_code_until_they_train() -> None:
    for module in ("state.py", "first_start.py"):
        imported = module_level_imports(DASHBOARD / module)
        assert not {name for name in imported if name.startswith("crisis_model.training")}, module


def test_the_dashboards_modules_import_each_other_without_a_circle() -> None:
    """Imports for type hints count too: a circle hidden under TYPE_CHECKING is still two modules
    that cannot be read one without the other."""
    graph = {
        dashboard_module(path): {
            m for m in module_level_imports(path, for_type_checking=True) if m.startswith("crisis_dashboard.")
        }
        for path in DASHBOARD.rglob("*.py")
    }
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, "import circle: " + " -> ".join((*path[path.index(module) :], module))
        if module in done:
            return
        for imported in graph.get(module, ()):
            visit(imported, (*path, module))
        done.add(module)

    for module in graph:
        visit(module, ())
