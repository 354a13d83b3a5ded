"""The Overview's part for a run trained from corrections (`train.py --corrections`): what the
corrections changed, the held-out scores with the corrected posts apart, and the run whose answers
were reviewed compared with this one on the same split and posts."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from crisis_dashboard import loaders, widgets
from crisis_model.corrections.report import compare_runs, report_lines
from crisis_model.errors import CrisisLensError
from crisis_model.run_folder import CORRECTIONS_FILE, TaskRun, discover_run


def previous_run(run: TaskRun, report: dict) -> TaskRun | None:
    """The run of the same task whose answers were reviewed most (the corrections name it), when
    it is still on disk and is not this run."""
    for folder, _count in sorted(report.get("reviewed_runs", {}).items(), key=lambda kv: -kv[1]):
        path = Path(folder)
        if not path.is_dir() or path.resolve() == run.folder.resolve():
            continue
        try:
            found = discover_run(path)
        except CrisisLensError:
            continue
        same_task = [r for r in found.runs.values() if r.task == run.task]
        if same_task:
            return same_task[0]
    return None


def show(run: TaskRun) -> None:
    report = widgets.guard(lambda: loaders.read_json(run.file(CORRECTIONS_FILE)), f"read {CORRECTIONS_FILE}")
    if not isinstance(report, dict):
        return
    st.subheader("Trained with reviewers' corrections")
    st.markdown("\n".join(f"- {line.strip()}" for line in report_lines(report)))
    st.caption(
        "A correction wins over the dataset's label. Reviewed dev and test posts were picked by the queue and "
        "judged with the model's answer in view, so the scores on the uncorrected posts are the honest estimate."
    )
    previous = previous_run(run, report)
    if previous is None:
        reviewed = ", ".join(f"`{p}`" for p in report.get("reviewed_runs", {})) or "none named"
        st.info(f"The run whose answers were reviewed ({reviewed}) is not on disk: nothing to compare with.")
        return
    splits = [s for s in ("test", "dev") if s in report.get("held_out", {})]
    if not splits:
        return
    split = st.radio("Compare on", splits, horizontal=True, key="ov-compare-split")
    table = widgets.guard(
        lambda: compare_runs(
            loaders.load_predictions(previous), loaders.load_predictions(run), split, run.label_names
        ),  # fmt: skip
        "compare the two runs",
    )
    if table is None or table.empty:
        return
    st.markdown(f"**This run against the reviewed one** (`{previous.folder}`), on the {split} posts both scored:")
    table = table.rename(columns={"run": "Run", "compared on": "Compared on", "posts": "Posts", "accuracy": "Accuracy",
                                  "macro_f1": "Macro F1"})  # fmt: skip
    st.dataframe(table.style.format(precision=3), hide_index=True, width="stretch")
    st.caption(
        "Both runs scored against this run's labels (corrections applied). 'Labels unchanged': only the posts whose "
        "label no correction changed between the two runs, where neither run is judged by a label it never saw."
    )
