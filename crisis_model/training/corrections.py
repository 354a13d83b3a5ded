"""Training from reviewers' corrections (`train.py --corrections PATH`), and what the run reports.

A correction wins over the dataset's label, in every split. Reviewed dev and test posts are not a
random sample (the queue picks the posts the model is unsure of, and the reviewer saw its answer),
so the run reports them apart: corrections.json holds, per held-out split, the scores on the posts
nobody corrected (the honest estimate), on the corrected ones, and how many there are. Corrections
naming posts the data does not hold are counted and listed, never dropped in silence.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from crisis_model.atomic_files import write_json
from crisis_model.corrections.store import CorrectionStore
from crisis_model.errors import DataError
from crisis_model.predictions import prob_column
from crisis_model.run_folder import CORRECTIONS_FILE, PREDICTIONS_FILE, TRAIN_CONFIG_FILE
from crisis_model.training.metrics import classification_metrics

HELD_OUT = ("dev", "test")
SHOWN_UNKNOWN = 10  # unknown post ids listed in the report (all are counted)


class UnknownPostsWarning(UserWarning):
    """Corrections that name posts the training data does not hold."""


def apply_corrections(
    frame: pd.DataFrame, path: str | Path, task: str, label_names: list[str], data_source: str | None = None
) -> pd.DataFrame:
    """`frame` (the posts table) with the corrections of `task` from the database at `path` over
    its labels: `label` the corrected one, `dataset_label` the original, `corrected` where a review
    set it. Reviews of a run trained on other data than `data_source` (a posts file's row numbers
    name other posts there) are left out and counted. `attrs["corrections"]` holds the counts for
    the run's report. Raises DatabaseError for a file that is no corrections database, DataError
    for a label `task` does not have."""
    reviews = CorrectionStore(path, create=False).latest(task)
    foreign_runs = sorted(run for run in reviews["run"].unique() if _trained_on_other_data(run, data_source))
    foreign = reviews["run"].isin(foreign_runs)
    if foreign.any():
        warnings.warn(
            f"{path}: {int(foreign.sum())} {task} correction(s) review runs trained on other data than "
            f"{data_source} (e.g. {foreign_runs[0]}); they are not applied and are counted in {CORRECTIONS_FILE}",
            UnknownPostsWarning,
            stacklevel=2,
        )
        reviews = reviews[~foreign]
    bad = reviews[~reviews["label_after"].isin(label_names)]
    if not bad.empty:
        row = bad.iloc[0]
        raise DataError(
            f"{path}: review {row['id']} gives post {row['post_id']!r} the {task} label {row['label_after']!r}; "
            f"valid labels: {', '.join(label_names)}"
        )
    new_label = dict(zip(reviews["post_id"], reviews["label_after"]))
    frame = frame.assign(dataset_label=frame["label"], corrected=frame["post_id"].isin(new_label))
    frame["label"] = frame["post_id"].map(new_label).fillna(frame["label"])
    unknown = sorted(set(new_label) - set(frame["post_id"]))
    if unknown:
        warnings.warn(
            f"{path}: {len(unknown)} {task} correction(s) name posts this data does not hold "
            f"(e.g. {', '.join(unknown[:3])}); they are counted in {CORRECTIONS_FILE}",
            UnknownPostsWarning,
            stacklevel=2,
        )
    frame.attrs["corrections"] = {
        "source": str(path),
        "task": task,
        "reviews": len(reviews),
        "unknown_posts": len(unknown),
        "unknown_examples": unknown[:SHOWN_UNKNOWN],
        "other_data_reviews": int(foreign.sum()),
        "other_data_runs": foreign_runs,
        "reviewed_runs": {str(k): int(v) for k, v in reviews["run"].value_counts().items()},
    }
    return frame


def _trained_on_other_data(run: str, data_source: str | None) -> bool:
    """Whether the reviewed run's train_config.json names another data folder or posts file than
    `data_source` (False when either is unknown: the review is then trusted)."""
    try:
        config = json.loads((Path(run) / TRAIN_CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    trained_on = config.get("data_root") or config.get("posts") if isinstance(config, dict) else None
    if not trained_on or not data_source:
        return False
    return Path(trained_on).resolve() != Path(data_source).resolve()


def write_report(out: Path, frame: pd.DataFrame, label_names: list[str]) -> dict:
    """corrections.json of a finished run: what the corrections changed per split (from `frame`,
    the posts it trained on) and the held-out scores with corrected posts apart (from its
    predictions.parquet)."""
    corrected = frame[frame["corrected"]]
    report = {
        **frame.attrs.get("corrections", {}),
        "applied": {s: int((corrected["split"] == s).sum()) for s in ("train", *HELD_OUT)},
        "changed": {
            s: int(((corrected["split"] == s) & (corrected["label"] != corrected["dataset_label"])).sum())
            for s in ("train", *HELD_OUT)
        },
    }
    predictions = pd.read_parquet(out / PREDICTIONS_FILE)
    flags = predictions["post_id"].isin(set(corrected["post_id"]))
    report["held_out"] = {
        split: {
            "posts": int((predictions["split"] == split).sum()),
            "corrected_posts": int((flags & (predictions["split"] == split)).sum()),
            "uncorrected": scores(predictions[~flags & (predictions["split"] == split)], label_names),
            "corrected": scores(predictions[flags & (predictions["split"] == split)], label_names),
        }
        for split in HELD_OUT
        if (predictions["split"] == split).any()
    }
    write_json(out / CORRECTIONS_FILE, report)
    return report


def scores(predictions: pd.DataFrame, label_names: list[str]) -> dict | None:
    """Accuracy and macro-F1 of a predictions table against its true_label (None when empty)."""
    if predictions.empty:
        return None
    index = {name: i for i, name in enumerate(label_names)}
    probabilities = predictions[[prob_column(name) for name in label_names]].to_numpy(dtype=float)
    metrics = classification_metrics(predictions["true_label"].map(index).to_numpy(), probabilities, label_names)
    return {"posts": metrics["posts"], "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}


def report_lines(report: dict) -> list[str]:
    """corrections.json in a few lines, as train.py prints it."""
    applied = ", ".join(f"{report['applied'][s]} {s}" for s in report["applied"])
    lines = [f"corrections from {report['source']}: {report['reviews']} reviewed posts; applied to {applied}"]
    if report["unknown_posts"]:
        lines.append(
            f"  {report['unknown_posts']} of them name posts this data does not hold (not applied), e.g. "
            + ", ".join(report["unknown_examples"][:3])
        )
    if report.get("other_data_reviews"):
        lines.append(
            f"  {report['other_data_reviews']} of them review runs trained on other data (not applied), e.g. "
            + report["other_data_runs"][0]
        )
    for split, part in report.get("held_out", {}).items():
        honest = part["uncorrected"]
        line = f"  {split}: {part['corrected_posts']} of {part['posts']} posts corrected, reported apart"
        if honest is not None:
            line += (
                f"; on the {honest['posts']} uncorrected posts accuracy {honest['accuracy']:.4f}, "
                f"macro-F1 {honest['macro_f1']:.4f}"
            )
        lines.append(line)
    return lines


def compare_runs(previous: pd.DataFrame, new: pd.DataFrame, split: str, label_names: list[str]) -> pd.DataFrame:
    """The previous run's and the new run's scores on the posts of `split` both scored, against
    the new run's labels (corrections applied): on all of them, and on those whose label no
    correction changed. One row per run and set of posts."""
    new = new[new["split"] == split]
    probabilities = [prob_column(name) for name in label_names]
    both = new.merge(previous[["post_id", *probabilities]], on="post_id", suffixes=("", "_old"))
    old = both.drop(columns=probabilities).rename(columns={f"{column}_old": column for column in probabilities})
    both = both[new.columns]
    same = np.ones(len(both), dtype=bool)
    if "post_id" in previous and "true_label" in previous:
        before = both["post_id"].map(dict(zip(previous["post_id"], previous["true_label"])))
        same = (before == both["true_label"]).to_numpy()
    rows = []
    for subset, keep in (("all posts", np.ones(len(both), dtype=bool)), ("labels unchanged", same)):
        for name, table in (("previous run", old), ("this run", both)):
            result = scores(table[keep], label_names)
            if result is not None:
                rows.append({"run": name, "compared on": subset, **result})
    return pd.DataFrame(rows)
