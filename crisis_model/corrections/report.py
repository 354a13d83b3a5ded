"""What a run trained from corrections (`train.py --corrections`) says of them, for the console and
the Overview: its corrections.json in lines, and the run whose answers were reviewed compared with
it on the same posts. Training writes the report (crisis_model.training.corrections)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crisis_model.metrics import classification_metrics
from crisis_model.predictions import prob_column

LEFT_OUT = {  # the reviews not applied, by why: the report's key -> what the warning says of them
    "unknown_posts": "name posts this data does not hold",
    "other_posts": "review posts whose text or photo differ from this data's post of that id (another posts file?)",
    "unmatched_posts": "cannot be matched to their post: recorded without its key, and their run's predictions "
    "are gone",
}


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
    for kind in LEFT_OUT:
        if report.get(kind):
            lines.append(
                f"  {report[kind]} of them {LEFT_OUT[kind]} (not applied), e.g. "
                + ", ".join(report[f"{kind}_examples"][:3])
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
