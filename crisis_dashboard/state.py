"""Which run and which data the dashboard shows, chosen once per script run by app.py.

    run folder   the sidebar's "Run folder" field, else $CRISISLENS_RUN, else runs/demo in the repo.
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
page's fields use too.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from crisis_dashboard import links
from crisis_dashboard.first_start import ensure_demo_run
from crisis_dashboard.loaders import read_json
from crisis_dashboard.names import TASK_HELP, task_title
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


def resolve_state() -> AppState:
    """Reads the sidebar choices and the environment; trains the demo run on first start."""
    run_root, run_source = _chosen_run_root()
    if run_root.resolve() == DEFAULT_RUN.resolve():
        ensure_demo_run(run_root, demo_data_dir())  # when it trains, it reruns the page after; stops it on failure
    runs, run_error = None, None
    try:
        runs = discover_run(run_root)
    except CrisisLensError as err:
        run_error = str(err)
    data_root, data_source, data_error = _chosen_data_root(runs)
    names = runs.names if runs else []
    task = st.session_state.get(TASK)
    if task is None and names:  # a new session (a link opened in a new tab): the task the link names
        task = links.linked_in(links.TASK, names, "this run", f"the pages show {run_title(runs, names[0])}")
    if task not in names:
        task = names[0] if names else None
    st.session_state[TASK] = task
    links.show_in_link(links.TASK, task)
    collection, collection_source = _chosen_collection()
    return AppState(
        run_root, run_source, runs, run_error, data_root, data_source, data_error, task, collection, collection_source
    )


def run_title(runs: RunSet, name: str) -> str:
    """A run's name in words: its task's title, and "(<folder>)" when two runs share the task."""
    return task_title(runs.runs[name].task) + name.removeprefix(runs.runs[name].task)


def chosen_path(session_key: str, env: str) -> tuple[Path, str] | None:
    """(the path the sidebar field `session_key` names, else the environment variable `env`, how it
    was chosen), or None when neither names one."""
    chosen = st.session_state.get(session_key, "")
    if chosen:
        return Path(chosen).expanduser().absolute(), "chosen in the sidebar"
    if os.environ.get(env):
        return Path(os.environ[env]).expanduser().absolute(), f"from ${env}"
    return None


def _chosen_collection() -> tuple[Path | None, str]:
    return chosen_path(COLLECTION_ROOT, COLLECTION_ENV) or (None, "")


def _chosen_run_root() -> tuple[Path, str]:
    chosen = st.session_state.get(RUN_ROOT, "")
    if chosen:
        path, source = Path(chosen).expanduser(), "chosen in the sidebar"
    elif os.environ.get(RUN_ENV):
        path, source = Path(os.environ[RUN_ENV]).expanduser(), f"from ${RUN_ENV}"
    else:
        path, source = DEFAULT_RUN, "the default demo run"
    if not path.is_absolute():
        path = (Path.cwd() if chosen else REPO_ROOT) / path
    return path, source


def _chosen_data_root(runs: RunSet | None) -> tuple[Path, str, str | None]:
    """(data folder, how it was chosen, what is wrong with it or None)."""
    chosen = st.session_state.get(DATA_ROOT, "")
    trained_on = next((p for run in (runs.runs.values() if runs else []) if (p := training_data_root(run))), None)
    if chosen:
        root, source = Path(chosen).expanduser(), "chosen in the sidebar"
    elif os.environ.get(DATA_ENV):
        root, source = Path(os.environ[DATA_ENV]).expanduser(), f"from ${DATA_ENV}"
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
        st.markdown("**Model run**")
        persistent_input(
            st.text_input,
            "Run folder",
            RUN_ROOT,
            placeholder=str(state.run_root),
            help=f"A folder written by train.py. Empty: ${RUN_ENV} if set, else {DEFAULT_RUN}.",
        )
        st.caption(f"In use: `{state.run_root}` ({state.run_source})")
        st.markdown("**Dataset**")
        persistent_input(
            st.text_input,
            "CrisisMMD folder",
            DATA_ROOT,
            placeholder=str(state.data_root or ""),
            help=f"The CrisisMMD v2.0 folder (it holds crisismmd_datasplit_all/ and annotations/). "
            f"Empty: ${DATA_ENV} if set, else the data the run was trained on, else the demo data.",
        )
        st.caption(f"In use: `{state.data_root}` ({state.data_source})")
        st.markdown("**Scored collection**")
        persistent_input(
            st.text_input,
            "Collection folder",
            COLLECTION_ROOT,
            placeholder="e.g. scored/harvey",
            help="A folder written by `python -m crisis_model.score --out DIR`: Browse pages through it. "
            f"Empty: ${COLLECTION_ENV} if set, else none.",
        )
        if state.collection is not None:
            st.caption(f"In use: `{state.collection}` ({state.collection_source})")


def banner(state: AppState) -> None:
    """The demo notice, and why the run cannot be shown when it cannot."""
    if state.demo_data:
        st.info(
            f"**Demo mode.** {DEMO_NOTICE}  \n"
            f"To use the real CrisisMMD v2.0 data, start the app with `{DATA_ENV}=/path/to/CrisisMMD_v2.0` "
            "or enter the folder under **CrisisMMD folder** in the sidebar. To use another trained model, "
            f"set `{RUN_ENV}=/path/to/run` or enter it under **Run folder**.",
            icon=":material/info:",
        )
    if state.run_error:
        st.error(f"No model to show. {state.run_error}")
    elif state.runs and state.runs.problems:
        st.warning("Some folders of this run were skipped: " + " ".join(state.runs.problems))
