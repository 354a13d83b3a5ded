"""The first start: when the default run folder (runs/demo) holds no demo models, or ones an older
CrisisLens trained (other demo data, options or architecture), they are trained in a background
thread (`crisis_model.training.train_demo`) while the page shows a progress bar, then the page runs
again.

One job per run folder per process: two browser tabs opened at once share it; later starts reuse
the trained run. The training code is imported only here, when the demo is checked or trained.
"""

from __future__ import annotations

import threading
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from crisis_dashboard.names import pretty, task_title
from crisis_model.errors import CrisisLensError
from crisis_model.run_folder import demo_run_complete

if TYPE_CHECKING:
    from crisis_model.training.progress import ProgressEvent


class TrainingJob:
    """train_demo(out) in a background thread; pages poll `update` to draw the progress bar.
    One job per run folder per process: two browser tabs opened at once share it."""

    def __init__(self, out: Path, data_dir: Path) -> None:
        from crisis_model.training.progress import ProgressEvent

        self.out, self.data_dir = out, data_dir
        self.update = ProgressEvent("starting")
        self.fraction = 0.0
        self.error: str | None = None
        self.finished = False
        self.started = time.time()
        self.thread = threading.Thread(target=self._run, name="crisislens-demo-training", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            from crisis_model.training import train_demo

            train_demo(self.out, progress=self._progress, data_dir=self.data_dir)
        except CrisisLensError as err:
            self.error = str(err)
        except Exception as err:  # shown on the page, with the details in the server log
            traceback.print_exc()
            self.error = f"{type(err).__name__}: {err}"
        finally:
            self.finished = True

    def _progress(self, event: ProgressEvent) -> None:
        self.update = event
        fraction = overall_fraction(event)
        if fraction is not None:
            self.fraction = max(self.fraction, fraction)  # the bar never moves back


_JOBS: dict[str, TrainingJob] = {}
_JOBS_LOCK = threading.Lock()


def training_job(out: Path, data_dir: Path, restart: bool = False) -> TrainingJob:
    key = str(out.resolve())
    with _JOBS_LOCK:
        job = _JOBS.get(key)
        stale = job is not None and job.finished and job.error is None and not demo_run_complete(out)
        if job is None or stale or (restart and job.finished):
            job = _JOBS[key] = TrainingJob(out, data_dir)
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


def overall_fraction(event: ProgressEvent) -> float | None:
    """How far the whole first start is (all runs), or None to keep the bar where it is (the
    evaluations after every epoch and at the end)."""
    within = event.fraction
    epochs = max(event.epochs or 1, 1)
    epoch = event.epoch or 1
    if event.stage == "epoch":
        run_fraction = 0.15 + 0.8 * ((epoch - 1) + within) / epochs
    elif event.stage == "epoch_end":
        run_fraction = 0.15 + 0.8 * epoch / epochs
    elif event.stage == "features":
        run_fraction = 0.02 + 0.13 * within
    elif event.stage == "eval":
        return None
    elif event.stage == "done":
        run_fraction = 1.0
    else:
        run_fraction = 0.0
    run_count = max(event.run_count, 1)
    run_index = min(event.run_index, run_count - 1)
    return min(max((run_index + run_fraction) / run_count, 0.0), 1.0)


def progress_line(event: ProgressEvent, elapsed: float) -> str:
    """One line for the bar: which model, what it is doing, for how long."""
    words = STAGE_WORDS.get(event.stage, pretty(event.stage))
    if event.stage in ("epoch", "epoch_end") and event.epochs:
        words += f", round {event.epoch} of {event.epochs}"
    prefix = f"Model {event.run_index + 1} of {event.run_count} ({task_title(event.run)}): " if event.run else ""
    return f"{prefix}{words} · {elapsed:.0f} s so far"


def ensure_demo_run(out: Path, data_dir: Path) -> None:
    """Trains the demo models into `out` on the demo data in `data_dir` unless they are there and
    up to date; when it trains, the page runs again after (it stops at a failure)."""
    from crisis_model.training.demo import demo_up_to_date

    if not demo_up_to_date(out, data_dir):
        train_demo_with_progress(out, data_dir)


def train_demo_with_progress(out: Path, data_dir: Path) -> None:
    """Shows the first-start screen with a progress bar until the demo run exists, then reruns."""
    st.subheader("Setting up CrisisLens")
    st.info(
        f"First start: there is no trained model in `{out}` yet, so the demo model is being trained "
        "now on the synthetic demo dataset. This happens once and takes a few minutes on a laptop; "
        "later starts reuse the trained model.",
        icon=":material/hourglass_top:",
    )
    job = training_job(out, data_dir)
    bar = st.progress(0.0, text="Starting...")
    while not job.finished:
        bar.progress(job.fraction, text=progress_line(job.update, time.time() - job.started))
        time.sleep(0.5)
    if job.error or not demo_run_complete(out):
        bar.empty()
        st.error(f"Training the demo model failed: {job.error or 'the run folder is incomplete.'}")
        if st.button("Try again"):
            training_job(out, data_dir, restart=True)
            st.rerun()
        st.stop()
    bar.progress(1.0, text="Done: the demo model is ready.")
    st.cache_data.clear()
    st.rerun()
