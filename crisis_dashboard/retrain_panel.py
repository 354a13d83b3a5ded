"""The Review page's retrain part, for admins: start `train.py --corrections` for the reviewed run
set in the background (crisis_dashboard.retrain_job: one at a time per server), follow its progress
(the same on every admin's page, and after a reload), then make the new run the one served. The
Overview of the new run compares it with the reviewed one (crisis_dashboard.retraining)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from crisis_dashboard import literal, retrain_job, widgets
from crisis_dashboard.review_desk import PREFIX
from crisis_dashboard.state import RUN_CHOICE, RUN_ROOT, AppState

START, SERVE = PREFIX + "retrain", PREFIX + "serve"
POLL_S = 2.0  # how often a page with a job under way reads its progress


def show(state: AppState, corrections: Path) -> None:
    st.divider()
    st.subheader("Retrain from these reviews")
    jobs = retrain_job.job_folder(state.server)
    job = retrain_job.status(jobs)
    running = job is not None and job.state == "running"
    st.fragment(_job_state, run_every=POLL_S if running else None)(state, jobs, running)
    if state.runs is not None:
        who = state.visitor.email or "the laptop's user"
        st.button("Retrain every task with these reviews", key=START, disabled=running, on_click=_start,
                  args=(jobs, state, corrections, who),
                  help="train.py --corrections for each run of the run set on show, one after the other, in the "
                  "background: leaving or reloading the page does not stop it.")  # fmt: skip


def _job_state(state: AppState, jobs: Path, was_running: bool) -> None:
    job = retrain_job.status(jobs)
    if job is None:
        st.caption("No retrain started from this server yet.")
        return
    if was_running and job.state != "running":
        st.rerun(scope="app")  # done: the whole page, with the buttons for the new run
    started = f"started by {literal.inline(job.started_by)} at {job.started_at[11:16]} UTC"
    if job.state == "running":
        done, total = retrain_job.epochs_done(job, job.current), job.epochs[job.current] or 1
        name = Path(job.runs[job.current]).name
        st.progress(
            min((job.current + min(done / total, 1.0)) / len(job.runs), 1.0),
            text=f"Retraining {name} ({job.current + 1} of {len(job.runs)}): epoch {done} of {total}; {started}",
        )
    elif job.state == "done":
        st.success(f"The retrained run is ready ({started}): `{literal.inline(job.out)}`. Its Overview compares it "
                   "with the reviewed run on the same posts.")  # fmt: skip
        configured = state.server.paths.get("run")
        served = retrain_job.served(jobs, configured)
        if served is not None and served.resolve() == Path(job.out).resolve():
            st.caption("It is the run this server shows.")
        else:
            st.button("Make it the run this server shows", key=SERVE, on_click=_serve,
                      args=(jobs, Path(job.out), configured))  # fmt: skip
    else:
        st.error(f"The retrain {started} stopped before the end (exit code {job.returncode}). Its last lines:")
    if job.state != "done":
        st.code(retrain_job.log_tail(jobs) or "(no output yet)", language=None)


def _start(jobs: Path, state: AppState, corrections: Path, who: str) -> None:
    widgets.guard(lambda: retrain_job.start(jobs, state.runs, corrections, who), "start the retrain")


def _serve(jobs: Path, run: Path, configured: Path | None) -> None:
    retrain_job.serve(jobs, run, configured)
    for key in (RUN_ROOT, RUN_CHOICE):  # this admin's own choice would hide it
        st.session_state[key] = ""
