"""Which run and which data the dashboard shows, chosen once per script run by app.py.

    run folder   the sidebar's "Run folder" field, else the server's configured run ($CRISISLENS_RUN or
                 the file $CRISISLENS_CONFIG names: crisis_dashboard.server_config), else runs/demo.
                 Either one run (checkpoint/, predictions.parquet, metrics.json ...) or a folder
                 of runs, one per task (runs/demo/{informative,humanitarian,damage}/).
    data folder  the sidebar's "CrisisMMD folder" field, else $CRISISMMD_ROOT, else the folder
                 the run was trained on (train_config.json), else the generated demo dataset.
    task         the sidebar's "Task", else the address's ?task= (crisis_dashboard.links), else the first
    collection   the sidebar's "Scored collection" field, else $CRISISLENS_COLLECTION, else none:
                 a folder written by `python -m crisis_model.score`, which Browse opens.

When the run folder is the default runs/demo and holds no demo run, or one an older CrisisLens
trained, the demo models are trained first (crisis_dashboard.first_start). Every fault a user can
cause is kept in the state and shown on the page; nothing raises to Streamlit.

The sidebar's fields keep their values across pages with `persistent_input`, which the Review
page's fields use too. Only an admin (crisis_dashboard.access) has them; on a team server (sign-in
on, or served to the network) a typed folder is used only under the configured roots, checked on
its text before any file is looked at, and an admin may pick the runs and collections found there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from crisis_dashboard import links, literal, retrain_job
from crisis_dashboard.access import Visitor
from crisis_dashboard.first_start import ensure_demo_run
from crisis_dashboard.loaders import read_json
from crisis_dashboard.names import TASK_HELP, task_title
from crisis_dashboard.server_config import ServerConfig, load_server_config
from crisis_model.data.demo import DEMO_DATA_DIR, DEMO_NOTICE, MARKER, generate_demo_dataset
from crisis_model.errors import CrisisLensError, DataError
from crisis_model.run_folder import TRAIN_CONFIG_FILE, RunSet, TaskRun, discover_run

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RUN = REPO_ROOT / "runs" / "demo"
RUN_ENV = "CRISISLENS_RUN"
DATA_ENV = "CRISISMMD_ROOT"
COLLECTION_ENV = "CRISISLENS_COLLECTION"
# The session-state keys of the sidebar's choices (kept by persistent_input).
TASK, RUN_ROOT, DATA_ROOT, COLLECTION_ROOT = "task", "run_root", "data_root", "collection_root"
RUN_CHOICE, COLLECTION_CHOICE = "run_choice", "collection_choice"  # an admin's pick among those under the roots


@dataclass
class AppState:
    run_root: Path
    run_source: str  # how it was chosen, in words
    runs: RunSet | None
    run_error: str | None
    data_root: Path | None
    data_source: str
    data_error: str | None
    task: str | None  # the name of the run the pages show (a task, or "<task> (<folder>)")
    collection: Path | None = None  # a scored collection for Browse (checked when Browse opens it)
    collection_source: str = ""
    server: ServerConfig = ServerConfig()
    visitor: Visitor = Visitor("", "admin", False, team=False)
    refused: tuple[str, ...] = ()  # why a folder typed in the sidebar is not used

    @property
    def run(self) -> TaskRun | None:
        if self.runs is None or self.task not in self.runs.runs:
            return None
        return self.runs.runs[self.task]

    @property
    def demo_data(self) -> bool:
        return is_demo_data(self.data_root)


def demo_data_dir() -> Path:
    """Where train.py --demo puts the demo data, anchored at the repository, not the cwd."""
    return DEMO_DATA_DIR if DEMO_DATA_DIR.is_absolute() else REPO_ROOT / DEMO_DATA_DIR


def is_demo_data(root: Path | None) -> bool:
    return root is not None and (root / MARKER).is_file()


def check_data_root(root: Path) -> str | None:
    """A message when `root` is clearly not a CrisisMMD v2.0 folder, else None."""
    if not root.exists():
        return f"{root}: no such folder."
    if not root.is_dir():
        return f"{root}: not a folder."
    if not ((root / "crisismmd_datasplit_all").is_dir() or (root / "annotations").is_dir()):
        return (
            f"{root}: not a CrisisMMD v2.0 folder: it has neither crisismmd_datasplit_all/ nor "
            "annotations/. Point it at the folder that the CrisisMMD_v2.0 archive unpacks to."
        )
    return None


def training_data_root(run: TaskRun) -> Path | None:
    """The data folder the run was trained on, from train_config.json, when it still exists."""
    try:
        config = read_json(run.file(TRAIN_CONFIG_FILE))
    except DataError:
        return None
    value = config.get("data_root") if isinstance(config, dict) else None
    if not isinstance(value, str) or not value:
        return None
    path = Path(value).expanduser()
    path = path if path.is_absolute() else REPO_ROOT / path
    return path if path.is_dir() else None


def resolve_state(server: ServerConfig, visitor: Visitor) -> AppState:
    """Reads the sidebar choices and the server's configuration; trains the demo run on first start."""
    refused: list[str] = []
    run_root, run_source = _chosen_run_root(server, visitor, refused)
    if run_root.resolve() == DEFAULT_RUN.resolve():
        ensure_demo_run(run_root, demo_data_dir())  # when it trains, it reruns the page after; stops it on failure
    runs, run_error = None, None
    try:
        runs = discover_run(run_root)
    except CrisisLensError as err:
        run_error = str(err)
    data_root, data_source, data_error = _chosen_data_root(runs, server, visitor, refused)
    names = runs.names if runs else []
    task = st.session_state.get(TASK)
    if task is None and names:  # a new session (a link opened in a new tab): the task the link names
        task = links.linked_in(links.TASK, names, "this run", f"the pages show {run_title(runs, names[0])}")
    if task not in names:
        task = names[0] if names else None
    st.session_state[TASK] = task
    links.show_in_link(links.TASK, task)
    collection, collection_source = chosen_path(server, visitor, (COLLECTION_ROOT, COLLECTION_CHOICE), "collection",
                                                refused) or (None, "")  # fmt: skip
    return AppState(
        run_root, run_source, runs, run_error, data_root, data_source, data_error, task, collection, collection_source,
        server, visitor, tuple(refused),
    )  # fmt: skip


def run_title(runs: RunSet, name: str) -> str:
    """A run's name in words: its task's title, and "(<folder>)" when two runs share the task."""
    return task_title(runs.runs[name].task) + name.removeprefix(runs.runs[name].task)


def chosen_path(
    server: ServerConfig, visitor: Visitor, session_keys: tuple[str, ...], configured: str, refused: list[str]
) -> tuple[Path, str] | None:
    """(the folder an admin typed or picked under `session_keys`, else the server's configured one
    `configured`, how it was chosen), or None when neither names one. A typed folder a team server
    may not use is left out, and why goes to `refused`."""
    for key in session_keys if visitor.may("admin") else ():
        if typed := st.session_state.get(key, ""):
            path, why = server.under_roots(typed, visitor.team)
            if path is not None:
                return path, "chosen in the sidebar"
            refused.append(why)
    if configured in server.paths:
        return server.paths[configured], server.sources.get(configured, "the server's configuration")
    return None


def _chosen_run_root(server: ServerConfig, visitor: Visitor, refused: list[str]) -> tuple[Path, str]:
    """An admin's typed or picked run, else the one an admin made the served one (a retrained run),
    else the configured one, else the demo."""
    if typed := chosen_path(server, visitor, (RUN_ROOT, RUN_CHOICE), "", refused):
        return typed
    if served := retrain_job.served(retrain_job.job_folder(server), server.paths.get("run")):
        return served, "made the served run by an admin"
    return chosen_path(server, visitor, (), "run", refused) or (DEFAULT_RUN, "the default demo run")


def _chosen_data_root(
    runs: RunSet | None, server: ServerConfig, visitor: Visitor, refused: list[str]
) -> tuple[Path, str, str | None]:
    """(data folder, how it was chosen, what is wrong with it or None)."""
    chosen = chosen_path(server, visitor, (DATA_ROOT,), "data", refused)
    trained_on = next((p for run in (runs.runs.values() if runs else []) if (p := training_data_root(run))), None)
    if chosen:
        root, source = chosen
    elif trained_on is not None:
        root, source = trained_on, "the data the model was trained on"
    else:
        root, source = demo_data_dir(), "the generated demo dataset"
        if not is_demo_data(root):
            try:
                with st.spinner("Generating the synthetic demo dataset (once)..."):
                    generate_demo_dataset(root)
            except CrisisLensError as err:
                return root, source, str(err)
    return root, source, check_data_root(root)


def persistent_input(widget: Callable[..., Any], label: str, key: str, **options: Any) -> Any:
    """`widget(label, **options)` (st.text_input, st.selectbox) whose value is kept, stripped, under
    `key` in the session state. Streamlit drops a widget's own key when a page without the widget
    runs, so the widget has a key of its own, starts from the kept value and copies its value back
    when it changes."""
    own = f"_w_{key}"
    st.session_state[own] = st.session_state.get(key, "")
    return widget(label, key=own, on_change=_keep, args=(key, own), **options)


def _keep(key: str, own: str) -> None:
    st.session_state[key] = (st.session_state.get(own) or "").strip()


def sidebar(state: AppState) -> None:
    """The task picker and the run and data folders, with where each came from."""
    with st.sidebar:
        if state.runs is not None and state.runs.names:
            persistent_input(  # a name is the task, or "<task> (<folder>)" when two runs share a task
                st.selectbox,
                "Task",
                TASK,
                options=state.runs.names,
                format_func=lambda name: run_title(state.runs, name),
                help="Which of the run's models the pages show.",
            )
            if state.run is not None:
                st.caption(TASK_HELP.get(state.run.task, ""))
        if not state.visitor.may("admin"):  # the folders are the operator's and an admin's
            st.caption(f"Model run: `{state.run_root.name}` (chosen by this server's admins)")
            return
        _folder_inputs(state)


def _folder_inputs(state: AppState) -> None:
    """An admin's run, data and collection folders: picked among those under the roots, or typed
    (a team server uses a typed one only under the roots)."""
    roots, typed = state.server.roots, not state.visitor.team or bool(state.server.roots)
    where = " (under " + ", ".join(f"`{root}`" for root in roots) + ")" if roots else ""
    st.markdown("**Model run**")
    if roots:
        _pick(RUN_CHOICE, "Runs on this server", _runs_under(state.server))
    if typed:
        persistent_input(st.text_input, "Run folder", RUN_ROOT, placeholder=str(state.run_root),
                         help=f"A folder written by train.py{where}. Empty: the server's configured run "
                         f"(${RUN_ENV}), else {DEFAULT_RUN}.")  # fmt: skip
    st.caption(f"In use: `{state.run_root}` ({state.run_source})")
    st.markdown("**Dataset**")
    if typed:
        persistent_input(st.text_input, "CrisisMMD folder", DATA_ROOT, placeholder=str(state.data_root or ""),
                         help=f"The CrisisMMD v2.0 folder (it holds crisismmd_datasplit_all/ and annotations/)"
                         f"{where}. Empty: ${DATA_ENV} if set, else the data the run was trained on, else the demo "
                         "data.")  # fmt: skip
    st.caption(f"In use: `{state.data_root}` ({state.data_source})")
    st.markdown("**Scored collection**")
    if roots:
        _pick(COLLECTION_CHOICE, "Collections on this server", _collections_under(state.server))
    if typed:
        persistent_input(st.text_input, "Collection folder", COLLECTION_ROOT, placeholder="e.g. scored/harvey",
                         help=f"A folder written by `python -m crisis_model.score --out DIR`{where}: Browse pages "
                         f"through it. Empty: ${COLLECTION_ENV} if set, else none.")  # fmt: skip
    if state.collection is not None:
        st.caption(f"In use: `{state.collection}` ({state.collection_source})")


def _pick(key: str, label: str, folders: list[str]) -> None:
    """A choice among `folders` ("" first: the server's configured one), kept under `key`."""
    if st.session_state.get(key, "") not in folders:  # gone since it was picked
        st.session_state[key] = ""
    persistent_input(st.selectbox, label, key, options=["", *folders],
                     format_func=lambda folder: folder or "(as the server is configured)")  # fmt: skip


@st.cache_data(ttl=30, show_spinner=False)
def _runs_under(server: ServerConfig) -> list[str]:
    return [str(path) for path in server.runs_under_roots()]


@st.cache_data(ttl=30, show_spinner=False)
def _collections_under(server: ServerConfig) -> list[str]:
    return [str(path) for path in server.collections_under_roots()]


def load_server() -> ServerConfig:
    """The operator's configuration; a file that cannot be read stops every page, naming it."""
    try:
        return load_server_config()
    except CrisisLensError as err:
        st.error(f"This server's configuration cannot be used: {literal.inline(str(err))}")
        st.stop()
        raise


def banner(state: AppState) -> None:
    """The demo notice, a typed folder refused, and why the run cannot be shown when it cannot."""
    for why in dict.fromkeys(state.refused):
        st.error(literal.inline(why))
    if state.demo_data:
        # only an admin has the sidebar's folder fields; anyone else is told who decides
        where = (
            "or enter the folder under **CrisisMMD folder** in the sidebar. To use another trained model, "
            f"set `{RUN_ENV}=/path/to/run` or enter it under **Run folder**."
            if state.visitor.may("admin")
            else f"(the server's operator sets it, and `{RUN_ENV}=/path/to/run` for another trained model)."
        )
        st.info(
            f"**Demo mode.** {DEMO_NOTICE}  \n"
            f"To use the real CrisisMMD v2.0 data, start the app with `{DATA_ENV}=/path/to/CrisisMMD_v2.0` {where}",
            icon=":material/info:",
        )
    if state.run_error:
        st.error(f"No model to show. {state.run_error}")
    elif state.runs and state.runs.problems:
        st.warning("Some folders of this run were skipped: " + " ".join(state.runs.problems))
