"""The dashboard's state and its cached loaders: everything the Streamlit pages share.

Which run and which data:
    run folder   the sidebar's "Run folder" field, else $CRISISLENS_RUN, else runs/demo in the repo.
                 A run folder is what `train.py` writes: either one run (it holds checkpoint/,
                 predictions.parquet, metrics.json ...) or a folder of runs, one per task
                 (runs/demo/{informative,humanitarian,damage}/).
    data folder  the sidebar's "CrisisMMD folder" field, else $CRISISMMD_ROOT, else the folder
                 the run was trained on (train_config.json), else the generated demo dataset.

When the run folder is the default runs/demo and holds no finished run, the demo model is
trained on first start by `crisis_model.training.train_demo`, in a background thread shared by
every browser session, while the page shows a progress bar; later starts reuse it.

Caching: models are `st.cache_resource` (one copy per process, shared by pages and sessions,
keyed by the checkpoint's path and modification time, so a retrained run is reloaded);
tables, metrics, images and explanations are `st.cache_data`.

Every fault a user can cause is shown on the page with `st.error`; nothing raises to Streamlit.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd
import streamlit as st

from crisis_model import plots
from crisis_model.errors import CrisisLensError, DataError, ImageError
from crisis_model.runs import TASK_ORDER, RunSet, TaskRun, demo_run_complete, discover_run, mtime

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RUN = REPO_ROOT / "runs" / "demo"
RUN_ENV = "CRISISLENS_RUN"
DATA_ENV = "CRISISMMD_ROOT"
DEMO_MARKER = "DEMO_README.md"

MAX_IMAGE_BYTES = 20 * 1024 * 1024  # an uploaded photo larger than this is refused
IMAGE_TYPES = ["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"]

TASK_TITLES = {
    "informative": "Informative or not",
    "humanitarian": "Humanitarian category",
    "damage": "Damage severity",
}
TASK_HELP = {
    "informative": "Is the post useful for humanitarian response?",
    "humanitarian": "What kind of information does the post report (damage, rescue, affected people ...)?",
    "damage": "How severe is the damage the photo shows?",
}
FUSION_HELP = {
    "full": "words and photo read together (attention), weighted per post, combined by dynamic routing",
    "attention": "words and photo read together (attention), weighted per post, no routing",
    "concat": "words and photo summarised separately and joined, no attention",
    "text": "words only",
    "image": "photo only",
}
METRIC_NAMES = {
    "accuracy": "Accuracy",
    "macro_f1": "Macro F1",
    "weighted_f1": "Weighted F1",
    "positive_f1": "F1 of the first class",
    "roc_auc": "ROC AUC",
    "ece": "Calibration error (ECE, lower is better)",
    "posts": "Posts",
}


def task_title(task: str) -> str:
    return TASK_TITLES.get(task, plots.pretty(task))


# ============================================================================ first-start training


class TrainingJob:
    """train_demo(out) in a background thread; pages poll `update` to draw the progress bar.
    One job per run folder per process: two browser tabs opened at once share it."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.update: dict[str, Any] = {"stage": "starting", "done": 0, "total": 1}
        self.fraction = 0.0
        self.error: str | None = None
        self.finished = False
        self.started = time.time()
        self.thread = threading.Thread(target=self._run, name="crisislens-demo-training", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            from crisis_model.training import train_demo

            train_demo(self.out, progress=self._progress, data_dir=demo_data_dir())
        except CrisisLensError as err:
            self.error = str(err)
        except ImportError as err:
            self.error = f"the training code is not available ({err})."
        except Exception as err:  # shown on the page, with the details in the server log
            traceback.print_exc()
            self.error = f"{type(err).__name__}: {err}"
        finally:
            self.finished = True

    def _progress(self, update: dict) -> None:
        try:
            self.update = dict(update)
            fraction, _ = _progress_text(self.update, 0.0)
            if fraction is not None:
                self.fraction = max(self.fraction, fraction)  # the bar never moves back
        except Exception:
            pass


_JOBS: dict[str, TrainingJob] = {}
_JOBS_LOCK = threading.Lock()


def training_job(out: Path, restart: bool = False) -> TrainingJob:
    key = str(out.resolve())
    with _JOBS_LOCK:
        job = _JOBS.get(key)
        stale = job is not None and job.finished and job.error is None and not demo_run_complete(out)
        if job is None or stale or (restart and job.finished):
            job = _JOBS[key] = TrainingJob(out)
        return job


STAGE_WORDS = {
    "data": "reading the demo data",
    "model": "building the model",
    "features": "reading every post once (text and photo features)",
    "epoch": "learning",
    "epoch_end": "learning",
    "eval": "scoring the dev and test posts",
    "done": "finished",
}


def _progress_text(update: dict, elapsed: float) -> tuple[float | None, str]:
    """(overall fraction or None to keep the last one, one line) from a train_demo progress dict."""
    def number(key: str, default: float) -> float:
        try:
            return float(update.get(key, default))
        except (TypeError, ValueError):
            return default

    done, total = number("done", 0.0), max(number("total", 1.0), 1.0)
    within = min(max(done / total, 0.0), 1.0)
    stage = str(update.get("stage", "starting"))
    epochs = max(number("epochs", 1.0), 1.0)
    epoch = number("epoch", 1.0)
    if stage == "epoch":
        run_fraction = 0.15 + 0.8 * ((epoch - 1) + within) / epochs
    elif stage == "epoch_end":
        run_fraction = 0.15 + 0.8 * epoch / epochs
    elif stage == "features":
        run_fraction = 0.02 + 0.13 * within
    elif stage == "eval":  # after every round (dev) and at the end (dev, test): keep the bar where it is
        run_fraction = None
    elif stage == "done":
        run_fraction = 1.0
    else:
        run_fraction = 0.0
    run_count = max(number("run_count", 1.0), 1.0)
    run_index = min(number("run_index", 0.0), run_count - 1)
    fraction = None if run_fraction is None else min(max((run_index + run_fraction) / run_count, 0.0), 1.0)
    words = STAGE_WORDS.get(stage, plots.pretty(stage))
    if stage in ("epoch", "epoch_end") and "epochs" in update:
        words += f", round {int(epoch)} of {int(epochs)}"
    task = update.get("run")
    prefix = f"Model {int(run_index) + 1} of {int(run_count)} ({task_title(str(task))}): " if task else ""
    return fraction, f"{prefix}{words} · {elapsed:.0f} s so far"


def train_demo_with_progress(out: Path) -> None:
    """Shows the first-start screen with a progress bar until the demo run exists, then reruns."""
    st.title("Setting up CrisisLens")
    st.info(
        f"First start: there is no trained model in `{out}` yet, so the demo model is being trained "
        "now on the synthetic demo dataset. This happens once and takes a few minutes on a laptop; "
        "later starts reuse the trained model.",
        icon=":material/hourglass_top:",
    )
    job = training_job(out)
    bar = st.progress(0.0, text="Starting...")
    while not job.finished:
        _, text = _progress_text(job.update, time.time() - job.started)
        bar.progress(job.fraction, text=text)
        time.sleep(0.5)
    if job.error or not demo_run_complete(out):
        bar.empty()
        st.error(f"Training the demo model failed: {job.error or 'the run folder is incomplete.'}")
        if st.button("Try again"):
            training_job(out, restart=True)
            st.rerun()
        st.stop()
    bar.progress(1.0, text="Done: the demo model is ready.")
    st.cache_data.clear()
    st.rerun()


# ============================================================================ cached loaders


@st.cache_resource(show_spinner="Loading the model...", max_entries=8)
def _load_model(checkpoint: str, stamp: float):
    from crisis_model import load_model

    return load_model(checkpoint)


def load_model_for(run: TaskRun):
    """The run's model, loaded once per process (cache_resource). Raises CrisisLensError."""
    return _load_model(str(run.checkpoint), run.stamp)


@st.cache_data(show_spinner="Reading the predictions...", max_entries=16)
def _read_predictions(path: str, stamp: float) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except Exception as err:
        raise DataError(f"{path}: not a readable predictions table ({err}).") from None
    return normalise_predictions(frame)


def normalise_predictions(frame: pd.DataFrame) -> pd.DataFrame:
    """Fills in the columns the pages rely on, with the types they expect."""
    frame = frame.copy()
    required = ["post_id", "true_label", "predicted_label"]
    missing = [c for c in required if c not in frame]
    if missing:
        raise DataError(f"the predictions table lacks the column(s) {', '.join(missing)}.")
    for column in ("post_id", "event", "split", "text", "image_path", "true_label", "predicted_label"):
        if column not in frame:
            frame[column] = ""
        frame[column] = frame[column].fillna("").astype(str)
    if "confidence" not in frame:
        probs = [c for c in frame.columns if c.startswith("prob_")]
        frame["confidence"] = frame[probs].max(axis=1) if probs else np.nan
    frame["confidence"] = pd.to_numeric(frame["confidence"], errors="coerce")
    if "has_image" not in frame:
        frame["has_image"] = frame["image_path"] != ""
    frame["has_image"] = frame["has_image"].fillna(False).astype(bool)
    for column, default in (("text_weight", 1.0), ("image_weight", 0.0)):
        if column not in frame:
            frame[column] = np.nan if column == "text_weight" else default
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    frame["correct"] = frame["true_label"] == frame["predicted_label"]
    return frame.reset_index(drop=True)


def _predictions_path(run: TaskRun) -> Path:
    path = run.file("predictions.parquet")
    if not path.is_file():
        raise DataError(f"{run.folder}: no predictions.parquet; train.py writes it after training.")
    return path


def load_predictions(run: TaskRun) -> pd.DataFrame:
    path = _predictions_path(run)
    return _read_predictions(str(path), mtime(path))


@st.cache_data(show_spinner=False, max_entries=16)
def _split_sizes(path: str, stamp: float) -> dict[str, int]:
    return {str(k): int(v) for k, v in _read_predictions(path, stamp)["split"].value_counts().items()}


def split_sizes(run: TaskRun) -> dict[str, int]:
    """Posts per split in the run's predictions; a small cached dict, not the table, for the model cards."""
    path = _predictions_path(run)
    return _split_sizes(str(path), mtime(path))


@st.cache_data(show_spinner=False, max_entries=64)
def _read_json(path: str, stamp: float) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: not readable JSON ({err}).") from None


def read_json(path: Path) -> Any | None:
    """The JSON file's content, or None when the file does not exist."""
    if not path.is_file():
        return None
    return _read_json(str(path), mtime(path))


def read_history(run: TaskRun) -> pd.DataFrame | None:
    path = run.file("history.jsonl")
    if not path.is_file():
        return None
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            rows.append({k: v for k, v in value.items() if isinstance(v, (int, float, str)) or v is None})
    return pd.DataFrame(rows) if rows else None


@st.cache_data(show_spinner=False, max_entries=16)
def _parameter_counts(weights: str, stamp: float) -> tuple[int, int]:
    """(all parameters, those of the fusion head) from the safetensors header; nothing is loaded."""
    from safetensors import safe_open

    total = head = 0
    with safe_open(weights, framework="pt") as handle:
        for key in handle.keys():
            n = math.prod(handle.get_slice(key).get_shape())
            total += n
            head += n if key.startswith("head.") else 0
    return total, head


def parameter_counts(run: TaskRun) -> tuple[int, int] | None:
    try:
        return _parameter_counts(str(run.checkpoint / "model.safetensors"), run.stamp)
    except Exception:
        return None


# ------------------------------------------------------------------------- datasets


def demo_data_dir() -> Path:
    """Where train.py --demo puts the demo data, anchored at the repository, not the cwd."""
    from crisis_model.training import DEMO_DATA_DIR

    return DEMO_DATA_DIR if DEMO_DATA_DIR.is_absolute() else REPO_ROOT / DEMO_DATA_DIR


def is_demo_data(root: Path | None) -> bool:
    return root is not None and (root / DEMO_MARKER).is_file()


def _data_stamp(root: Path) -> float:
    return max(mtime(root), mtime(root / "crisismmd_datasplit_all"), mtime(root / "annotations"))


@st.cache_data(show_spinner="Reading the dataset...", max_entries=16)
def _load_dataset(root: str, task: str, stamp: float) -> tuple[pd.DataFrame, int]:
    from crisis_model.data import MissingImagesWarning, load_crisismmd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingImagesWarning)
        frame = load_crisismmd(root, task, "agreed")
    return frame, int(frame.attrs.get("missing_images", 0))


def load_dataset(root: Path, task: str) -> tuple[pd.DataFrame, int]:
    """(posts of `task` with agreed labels, how many of them lost their missing image). Raises DataError."""
    return _load_dataset(str(root), task, _data_stamp(root))


def check_data_root(root: Path) -> str | None:
    """A message when `root` is clearly not a CrisisMMD v2.0 folder, else None."""
    if not root.exists():
        return f"{root}: no such folder."
    if not root.is_dir():
        return f"{root}: not a folder."
    if not ((root / "crisismmd_datasplit_all").is_dir() or (root / "annotations").is_dir()):
        return (f"{root}: not a CrisisMMD v2.0 folder: it has neither crisismmd_datasplit_all/ nor "
                "annotations/. Point it at the folder that the CrisisMMD_v2.0 archive unpacks to.")
    return None


@st.cache_data(show_spinner=False, max_entries=512)
def _open_image(path: str, stamp: float):
    from crisis_model.images import load_image

    return load_image(path)


def open_image(path: str | None):
    """(PIL image or None, message or None) for a dataset image path."""
    if not path:
        return None, None
    try:
        return _open_image(path, mtime(Path(path))), None
    except ImageError as err:
        return None, str(err)


def decode_upload(data: bytes | None):
    """(PIL image or None, message or None) for the bytes of an uploaded photo."""
    if not data:
        return None, None
    if len(data) > MAX_IMAGE_BYTES:
        return None, (f"the photo is {len(data) / 1e6:.1f} MB; photos up to {MAX_IMAGE_BYTES // 2**20} MB "
                      "are accepted.")
    return _decode_upload(data)


@st.cache_resource(show_spinner=False, max_entries=4)
def _decode_upload(data: bytes):
    # decoded once per photo: the page reruns at every click on its explanation (the image is only read)
    from crisis_model.images import load_image

    try:
        return load_image(data), None
    except ImageError as err:
        return None, str(err)


# ------------------------------------------------------------------------- predictions


@st.cache_data(show_spinner="Explaining the post...", max_entries=256)
def _predict_one(checkpoint: str, stamp: float, text: str, image: Any):
    model = _load_model(checkpoint, stamp)
    return model.predict([{"text": text, "image": image}])[0]


def explain(run: TaskRun, text: str, image: str | bytes | None):
    """The run's Prediction (with its explanation) for one post. Raises CrisisLensError."""
    return _predict_one(str(run.checkpoint), run.stamp, text or "", image or None)


@st.cache_data(show_spinner=False, max_entries=8)
def _routing_profile(checkpoint: str, stamp: float, predictions: str, pstamp: float, per_class: int) -> dict:
    # predictions.parquet keeps only each post's coupling per fused capsule (routing_mean), not the
    # primary x fused matrix, so a sample of each class is scored again.
    frame = _read_predictions(predictions, pstamp)
    chosen = [i for _, group in frame.groupby("predicted_label")
              for i in group.sample(min(len(group), per_class), random_state=0).index]
    sample = frame.loc[chosen]
    model = _load_model(checkpoint, stamp)
    predictions_ = model.predict([{"text": r.text, "image": r.image_path or None} for r in sample.itertuples()])
    matrices, counts, primary = {}, {}, []
    for label in sorted(set(sample["predicted_label"])):
        stack = [p.explanation.routing_coefficients for p, l in zip(predictions_, sample["predicted_label"])
                 if l == label and p.explanation.routing_coefficients is not None]
        if stack:
            matrices[label] = np.mean(np.stack(stack), axis=0)
            counts[label] = len(stack)
            primary = predictions_[0].explanation.primary_capsules
    return {"matrices": matrices, "counts": counts, "primary": primary, "posts": len(sample)}


def routing_profile(run: TaskRun, per_class: int = 40) -> dict:
    """Mean routing matrix (primary x fused capsules) per predicted class, from up to `per_class`
    posts of each class scored again (cached per run)."""
    path = run.file("predictions.parquet")
    return _routing_profile(str(run.checkpoint), run.stamp, str(path), mtime(path), per_class)


# ============================================================================ page state and sidebar


@dataclass
class AppState:
    run_root: Path
    run_source: str
    runs: RunSet | None
    run_error: str | None
    data_root: Path | None
    data_source: str
    data_error: str | None
    task: str | None

    @property
    def run(self) -> TaskRun | None:
        if self.runs is None or self.task not in self.runs.runs:
            return None
        return self.runs.runs[self.task]

    @property
    def demo_data(self) -> bool:
        return is_demo_data(self.data_root)


def _commit(permanent: str, widget: str) -> None:
    st.session_state[permanent] = (st.session_state.get(widget) or "").strip()


def training_data_root(run: TaskRun) -> Path | None:
    """The data folder the run was trained on, from train_config.json, when it still exists."""
    try:
        config = read_json(run.file("train_config.json"))
    except DataError:
        return None
    if not isinstance(config, dict):
        return None
    value = config.get("data_root")
    if not isinstance(value, str) or not value:
        return None
    path = Path(value).expanduser()
    path = path if path.is_absolute() else REPO_ROOT / path
    return path if path.is_dir() else None


def _training_data_root(runs: RunSet | None) -> Path | None:
    for run in (runs.runs.values() if runs is not None else []):
        if (path := training_data_root(run)) is not None:
            return path
    return None


def resolve_state() -> AppState:
    """Reads the sidebar choices and environment, trains the demo run on first start if needed."""
    chosen_run = st.session_state.get("run_root", "")
    if chosen_run:
        run_root, run_source = Path(chosen_run).expanduser(), "chosen in the sidebar"
    elif os.environ.get(RUN_ENV):
        run_root, run_source = Path(os.environ[RUN_ENV]).expanduser(), f"from ${RUN_ENV}"
    else:
        run_root, run_source = DEFAULT_RUN, "the default demo run"
    if not run_root.is_absolute():
        run_root = (REPO_ROOT / run_root) if not chosen_run else (Path.cwd() / run_root)

    if run_root.resolve() == DEFAULT_RUN.resolve() and not demo_run_complete(run_root):
        train_demo_with_progress(run_root)  # reruns the page when done; stops it on failure

    runs, run_error = None, None
    try:
        runs = discover_run(run_root)
    except CrisisLensError as err:
        run_error = str(err)

    chosen_data = st.session_state.get("data_root", "")
    data_error = None
    if chosen_data:
        data_root, data_source = Path(chosen_data).expanduser(), "chosen in the sidebar"
    elif os.environ.get(DATA_ENV):
        data_root, data_source = Path(os.environ[DATA_ENV]).expanduser(), f"from ${DATA_ENV}"
    elif (trained_on := _training_data_root(runs)) is not None:
        data_root, data_source = trained_on, "the data the model was trained on"
    else:
        data_root, data_source = demo_data_dir(), "the generated demo dataset"
        if not is_demo_data(data_root):
            try:
                from crisis_model.demo import generate_demo_dataset

                with st.spinner("Generating the synthetic demo dataset (once)..."):
                    generate_demo_dataset(data_root)
            except CrisisLensError as err:
                data_error = str(err)
    if data_error is None:
        data_error = check_data_root(data_root)

    names = runs.names if runs else []
    task = st.session_state.get("task")
    if task not in names:
        task = names[0] if names else None
        st.session_state["task"] = task
    return AppState(run_root, run_source, runs, run_error, data_root, data_source, data_error, task)


def sidebar(state: AppState) -> None:
    with st.sidebar:
        if state.runs is not None and state.runs.names:
            runs = state.runs.runs
            st.session_state["_w_task"] = state.task
            st.selectbox(  # a name is the task, or "<task> (<folder>)" when two runs share a task
                "Task", state.runs.names, key="_w_task",
                format_func=lambda name: task_title(runs[name].task) + name.removeprefix(runs[name].task),
                on_change=_commit, args=("task", "_w_task"), help="Which of the run's models the pages show.",
            )
            if state.run is not None:
                st.caption(TASK_HELP.get(state.run.task, ""))
        st.markdown("**Model run**")
        st.session_state["_w_run_root"] = st.session_state.get("run_root", "")
        st.text_input("Run folder", key="_w_run_root", placeholder=str(state.run_root),
                      on_change=_commit, args=("run_root", "_w_run_root"),
                      help=f"A folder written by train.py. Empty: ${RUN_ENV} if set, else {DEFAULT_RUN}.")
        st.caption(f"In use: `{state.run_root}` ({state.run_source})")
        st.markdown("**Dataset**")
        st.session_state["_w_data_root"] = st.session_state.get("data_root", "")
        st.text_input("CrisisMMD folder", key="_w_data_root", placeholder=str(state.data_root or ""),
                      on_change=_commit, args=("data_root", "_w_data_root"),
                      help=f"The CrisisMMD v2.0 folder (it holds crisismmd_datasplit_all/ and annotations/). "
                           f"Empty: ${DATA_ENV} if set, else the data the run was trained on, else the demo data.")
        st.caption(f"In use: `{state.data_root}` ({state.data_source})")


def banner(state: AppState) -> None:
    if state.demo_data:
        from crisis_model.demo import DEMO_NOTICE

        st.info(
            f"**Demo mode.** {DEMO_NOTICE}  \n"
            f"To use the real CrisisMMD v2.0 data, start the app with `{DATA_ENV}=/path/to/CrisisMMD_v2.0` "
            "or enter the folder under **CrisisMMD folder** in the sidebar. To use another trained model, "
            f"set `{RUN_ENV}=/path/to/run` or enter it under **Run folder**.",
            icon=":material/info:",
        )


def setup(title: str, icon: str = ":material/satellite_alt:") -> AppState:
    """The start of every page: page config, state (training the demo on first start), sidebar, banner."""
    try:
        st.set_page_config(page_title=f"{title} · CrisisLens", page_icon=icon, layout="wide")
    except Exception:
        pass
    state = resolve_state()
    sidebar(state)
    st.title(title)
    banner(state)
    if state.run_error:
        st.error(f"No model to show. {state.run_error}")
    elif state.runs and state.runs.problems:
        st.warning("Some folders of this run were skipped: " + " ".join(state.runs.problems))
    return state


def require_run(state: AppState) -> TaskRun:
    """The active task run, or stops the page (the error is already on it)."""
    if state.run is None:
        if not state.run_error:
            st.error("This run folder holds no model.")
        st.stop()
    return state.run


def guard(action: Callable[[], Any], what: str) -> Any:
    """Runs `action`; a CrisisLensError or any other fault becomes a message on the page."""
    try:
        return action()
    except CrisisLensError as err:
        st.error(f"Could not {what}: {err}")
    except Exception as err:
        traceback.print_exc()
        st.error(f"Could not {what}: an unexpected problem occurred ({type(err).__name__}: {err}).")
    return None


# ============================================================================ shared renderers


ANSWER_MARK = "The model's answer: the category with the highest probability."


def answer_card(title: str, pred) -> None:
    """A box with the task, the predicted label in large type (wrapping, never cut) and the confidence."""
    with st.container(border=True):
        st.caption(title)
        st.markdown(f"### {plots.pretty(pred.label)}", help=ANSWER_MARK)
        st.caption(f"{pred.confidence:.0%} sure")


def answers(at_markdown: Iterable[Any]) -> list[str]:
    """The answers on a page under test (AppTest markdown elements): the labels of answer_card."""
    return [m.value.removeprefix("### ") for m in at_markdown
            if getattr(getattr(m, "proto", None), "help", None) == ANSWER_MARK]


def show_probabilities(pred, key: str) -> None:
    st.plotly_chart(plots.probabilities_bar(pred.probabilities), key=f"{key}-probs", width="stretch")
    st.caption(plots.CAPTIONS["probabilities"])


WHERE_IT_LOOKED = "Where it looked"
HOW_COMBINED = "How the evidence was combined"


def show_explanation(pred, image, key: str) -> None:
    """The explanation of one prediction: the words/photo split, then one of two views (attention
    between words and photo, or routing and capsules), each figure with its caption. One view at a
    time: a browser draws six Plotly charts slowly (about 0.65 s on 2 cores), three quickly."""
    exp = pred.explanation
    for warning in exp.warnings:
        st.warning(warning)
    if not exp.has_image:
        st.info("This post was analysed **from its text only** (no usable photo), so all of the decision "
                "comes from the words and the word–photo attention does not apply.")
    words, photo = exp.modality_weights["text"], exp.modality_weights["image"]
    st.progress(min(max(words, 0.0), 1.0), text=f"**Words vs. photo:** {words:.0%} of the decision from the "
                                                 f"words, {photo:.0%} from the photo")
    st.caption(plots.CAPTIONS["modality"])

    attention = exp.has_image and exp.token_to_region is not None
    views = [WHERE_IT_LOOKED, HOW_COMBINED] if attention else [HOW_COMBINED]
    view = st.segmented_control("Show", views, default=views[0], key=f"{key}-view") or views[0]
    if view == WHERE_IT_LOOKED:
        _show_attention(exp, image, key)
        return
    if exp.routing_coefficients is not None:
        st.plotly_chart(plots.routing_heatmap(exp.routing_coefficients, exp.primary_capsules),
                        key=f"{key}-routing", width="stretch")
        st.caption(plots.CAPTIONS["routing"])
    else:
        st.caption("This model variant does not use dynamic routing, so there is no routing matrix to show.")
    st.plotly_chart(plots.capsule_lengths_bar(exp.capsule_lengths), key=f"{key}-capsules", width="stretch")
    st.caption(plots.CAPTIONS["capsule_lengths"])


def _show_attention(exp, image, key: str) -> None:
    """Token->region heatmap, the photo with the chosen words' attention on it, image->words; of
    the post's own words (the prompt around them is read by the model but left out here)."""
    tokens, token_to_region, region_to_token = exp.post_words()
    labels = plots.token_labels(tokens)
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(plots.token_region_heatmap(tokens, token_to_region), key=f"{key}-t2r", width="stretch")
        st.caption(plots.CAPTIONS["token_region"])
        if len(tokens) < len(exp.tokens):
            st.caption(f"The post's own words only: the model also read its task prompt around them "
                       f"({len(exp.tokens) - len(tokens)} word pieces), which is left out here.")
    with right:
        options = [-1] + list(range(len(labels)))
        choice = st.selectbox(
            "Words to show on the photo", options, key=f"{key}-token",
            format_func=lambda i: "All words (average)" if i < 0 else f"#{i + 1}: {labels[i]}",
        )
        if image is not None:
            grid = plots.region_weights(token_to_region, None if choice < 0 else choice)
            st.plotly_chart(plots.region_overlay(image, grid), key=f"{key}-overlay", width="stretch")
            st.caption(plots.CAPTIONS["overlay"])
        if region_to_token is not None:
            st.plotly_chart(plots.image_to_words_bar(tokens, region_to_token), key=f"{key}-r2t", width="stretch")
            st.caption(plots.CAPTIONS["image_to_words"])


# ============================================================================ attention helpers


ONE_SIDED = 0.05  # a decision taken 95 % or more from one modality


def modality_collapse_note(with_photo: pd.DataFrame, share: float = 0.9) -> str | None:
    """A warning when the model decides from one modality alone for most posts with a photo
    (`text_weight` column): gated fusion can settle there when that modality alone fits the
    training labels, and then the other is ignored whatever it says."""
    weights = with_photo["text_weight"].dropna()
    if weights.empty:
        return None
    for side, one_sided in (("the photo", weights <= ONE_SIDED), ("the words", weights >= 1 - ONE_SIDED)):
        if one_sided.mean() >= share:
            other = "words" if side == "the photo" else "photo"
            return (f"For {one_sided.mean():.0%} of the posts with a photo, this model took "
                    f"{1 - ONE_SIDED:.0%} or more of its decision from {side}: their {other} barely count. "
                    "Gated fusion can settle on one modality when it alone fits the training labels "
                    "(\"modality collapse\"). Compare the model with its single-modality variants "
                    "(`python train.py ... --ablation fusion`) before reading anything into how it uses "
                    f"the {other}.")
    return None


# ============================================================================ overview helpers


def model_card(run: TaskRun) -> dict[str, str]:
    """The facts an analyst needs about a model, in plain words."""
    config = run.config
    try:
        train_config = read_json(run.file("train_config.json")) or {}
    except DataError:
        train_config = {}
    if not isinstance(train_config, dict):
        train_config = {}
    counts = parameter_counts(run)
    image_weights = "ImageNet weights" if config.get("image_pretrained") else "trained from scratch"
    fusion = str(config.get("fusion", "?"))
    data = train_config.get("data_root") if isinstance(train_config.get("data_root"), str) else ""
    if data:
        path = Path(data) if Path(data).is_absolute() else REPO_ROOT / data
        data = f"{data} (synthetic demo data)" if is_demo_data(path) else data
    try:
        splits = split_sizes(run)
        sizes = ", ".join(f"{splits[s]:,} {s}" for s in ("train", "dev", "test") if s in splits)
        data = f"{data} · {sizes} posts" if data else f"{sizes} posts"
    except CrisisLensError:
        pass
    date = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.stamp)) if run.stamp else "unknown"
    return {
        "Task": task_title(run.task),
        "Labels": ", ".join(plots.pretty(x) for x in run.label_names),
        "Preset": str(config.get("preset", "custom")),
        "Text reader (language model)": str(config.get("text_backbone", "?")),
        "Photo reader (CNN)": f"{config.get('image_backbone', '?')} ({image_weights})",
        "Fusion": f"{fusion}: {FUSION_HELP.get(fusion, '')}",
        "Parameters": (f"{counts[0]:,} ({counts[1]:,} in the fusion head)" if counts else "unknown"),
        "Training data": data or "unknown",
        "Trained": date,
        "Folder": f"`{run.folder}`",
    }


def metrics_table(metrics: Any) -> pd.DataFrame | None:
    """One row per split (dev, test first) with the scalar scores, plain column names."""
    if not isinstance(metrics, dict):
        return None
    order = {"train": 2, "dev": 0, "test": 1}
    rows = {}
    for split in sorted(metrics, key=lambda s: (order.get(s, 3), s)):
        values = metrics[split]
        if not isinstance(values, dict):
            continue
        rows[split] = {METRIC_NAMES[k]: values.get(k) for k in METRIC_NAMES
                       if k in values and (values.get(k) is None or isinstance(values.get(k), (int, float)))}
    if not rows:
        return None
    table = pd.DataFrame.from_dict(rows, orient="index")
    return table.dropna(axis=1, how="all")


def per_class_table(metrics: Any, split: str) -> pd.DataFrame | None:
    values = metrics.get(split, {}) if isinstance(metrics, dict) else {}
    per_class = values.get("per_class") if isinstance(values, dict) else None
    if not isinstance(per_class, dict) or not per_class:
        return None
    table = pd.DataFrame.from_dict(per_class, orient="index")
    table.index = [plots.pretty(i) for i in table.index]
    return table


def ablation_folder(run: TaskRun, run_root: Path | None = None) -> Path | None:
    """Where the ablation files of `run` are: its own folder, the folder above it (train.py's
    ablation writes <out>/ablation.json beside the <variant>-seed<n>/ runs), or the run root."""
    for folder in (run.folder, run.folder.parent, run_root):
        if folder is not None and any((folder / name).is_file() for name in ("ablation.json", "ablation.md")):
            return folder
    return None


def load_ablation(run: TaskRun, run_root: Path | None = None
                  ) -> tuple[pd.DataFrame | None, str, list[str], str | None]:
    """(table, variant column, metric columns, markdown) of the ablation that `run` belongs to, if any.
    The table has one row per variant; metric columns are the dev / test means when there are seeds."""
    folder = ablation_folder(run, run_root)
    if folder is None:
        return None, "", [], None
    markdown = None
    if (folder / "ablation.md").is_file():
        markdown = (folder / "ablation.md").read_text(encoding="utf-8", errors="replace")
    try:
        raw = read_json(folder / "ablation.json")
    except DataError:
        raw = None
    axis = raw.get("axis") if isinstance(raw, dict) else None
    if isinstance(raw, dict):
        if isinstance(raw.get("task"), str) and raw["task"] != run.task:
            return None, "", [], None  # another task's ablation
        raw = raw.get("rows")
    table = None
    if isinstance(raw, list) and raw and all(isinstance(r, dict) for r in raw):
        table = pd.json_normalize(raw, sep="_")
    if table is None or table.empty:
        return None, "", [], markdown
    variant = next((c for c in (axis, "fusion", "variant", "name") if c and c in table), table.columns[0])
    table[variant] = table[variant].astype(str)
    numeric = [c for c in table.columns if c != variant and pd.api.types.is_numeric_dtype(table[c])]
    table = table[[variant] + numeric]
    means = [c for c in numeric if c.endswith("_mean")]
    candidates = means or [c for c in numeric if not c.endswith("_std")]
    preferred = [c for key in ("dev_macro_f1", "dev_accuracy", "test_macro_f1", "test_accuracy", "macro_f1", "accuracy")
                 for c in candidates if c.startswith(key) or c == key]
    metrics = list(dict.fromkeys(preferred or candidates))[:4]
    return table, variant, metrics, markdown


def dataset_overview(root: Path) -> tuple[dict[str, pd.DataFrame], dict[str, str], int]:
    """(posts per task, error per task, posts whose photo is missing) for the data folder."""
    frames, errors, missing = {}, {}, 0
    for task in TASK_ORDER:
        try:
            frames[task], lost = load_dataset(root, task)
            missing = max(missing, lost)
        except CrisisLensError as err:
            errors[task] = str(err)
        except Exception as err:  # never a traceback on the page
            traceback.print_exc()
            errors[task] = f"{type(err).__name__}: {err}"
    return frames, errors, missing
