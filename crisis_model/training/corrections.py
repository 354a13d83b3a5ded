"""Training from reviewers' corrections (`train.py --corrections PATH`), and what the run reports.

A correction wins over the dataset's label, in every split. Reviewed dev and test posts are not a
random sample (the queue picks the posts the model is unsure of, and the reviewer saw its answer),
so the run reports them apart: corrections.json holds, per held-out split, the scores on the posts
nobody corrected (the honest estimate), on the corrected ones, and how many there are.

A post id may be only a row number, which names another post in another posts file; so a review
is applied to the post it was about only: the post of its id whose key (its text and photo,
crisis_model.predictions.post_key) is the one the review recorded, or, for a review recorded
without a key, the one its run's predictions.parquet gives that post. Reviews naming posts the data
does not hold, posts whose text or photo differ here, or posts that cannot be told (no key, and
their run's predictions are gone) are counted, listed and warned about; never applied in silence.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from crisis_model.atomic_files import write_json
from crisis_model.corrections.store import CorrectionStore
from crisis_model.errors import DataError
from crisis_model.predictions import POST_KEY_COLUMN, post_keys, prob_column
from crisis_model.run_folder import CORRECTIONS_FILE, PREDICTIONS_FILE
from crisis_model.training.metrics import classification_metrics

HELD_OUT = ("dev", "test")
SHOWN_UNKNOWN = 10  # post ids listed in the report per kind of review left out (all are counted)


class UnknownPostsWarning(UserWarning):
    """Corrections that name posts the training data does not hold, or holds with another text or photo."""


LEFT_OUT = {  # the reviews not applied, by why: the report's key -> what the warning says of them
    "unknown_posts": "name posts this data does not hold",
    "other_posts": "review posts whose text or photo differ from this data's post of that id (another posts file?)",
    "unmatched_posts": "cannot be matched to their post: recorded without its key, and their run's predictions "
    "are gone",
}


def apply_corrections(frame: pd.DataFrame, path: str | Path, task: str, label_names: list[str]) -> pd.DataFrame:
    """`frame` (the posts table) with the corrections of `task` from the database at `path` over
    its labels: `label` the corrected one, `dataset_label` the original, `corrected` where a review
    set it. Reviews of other posts (see above) are left out and counted; `attrs["corrections"]`
    holds the counts for the run's report. Raises DatabaseError for a file that is no corrections
    database, DataError for a label `task` does not have."""
    reviews = CorrectionStore(path, create=False).latest(task)
    bad = reviews[~reviews["label_after"].isin(label_names)]
    if not bad.empty:  # another task's labels: the wrong database, whichever posts it names
        row = bad.iloc[0]
        raise DataError(
            f"{path}: review {row['id']} gives post {row['post_id']!r} the {task} label {row['label_after']!r}; "
            f"valid labels: {', '.join(label_names)}"
        )
    here = dict(zip(frame["post_id"], post_keys(frame)))
    reviewed = _reviewed_keys(reviews)
    known = reviews["post_id"].isin(here)
    left_out = {
        "unknown_posts": ~known,
        "other_posts": known & reviewed.notna() & (reviewed != reviews["post_id"].map(here)),
        "unmatched_posts": known & reviewed.isna(),
    }
    for kind, why in LEFT_OUT.items():
        if left_out[kind].any():
            examples = ", ".join(sorted(reviews.loc[left_out[kind], "post_id"])[:3])
            warnings.warn(
                f"{path}: {int(left_out[kind].sum())} {task} correction(s) {why} (e.g. {examples}); they are not "
                f"applied and are counted in {CORRECTIONS_FILE}",
                UnknownPostsWarning,
                stacklevel=2,
            )
    applied = reviews[~(left_out["unknown_posts"] | left_out["other_posts"] | left_out["unmatched_posts"])]
    new_label = dict(zip(applied["post_id"], applied["label_after"]))
    frame = frame.assign(dataset_label=frame["label"], corrected=frame["post_id"].isin(new_label))
    frame.loc[frame["corrected"], "label"] = frame.loc[frame["corrected"], "post_id"].map(new_label)
    frame.attrs["corrections"] = {
        "source": str(path),
        "task": task,
        "reviews": len(reviews),
        **{kind: int(rows.sum()) for kind, rows in left_out.items()},
        **{f"{kind}_examples": sorted(reviews.loc[rows, "post_id"])[:SHOWN_UNKNOWN] for kind, rows in left_out.items()},
        "reviewed_runs": {str(k): int(v) for k, v in reviews["run"].value_counts().items()},
    }
    return frame


def _reviewed_keys(reviews: pd.DataFrame) -> pd.Series:
    """The key of the post each review is about (None where nothing says): the one it recorded,
    else the one its run's predictions give its post."""
    keys = reviews["post_key"].astype(object).where(reviews["post_key"].notna(), None)
    for run, rows in reviews[keys.isna()].groupby("run"):
        keys[rows.index] = rows["post_id"].map(_run_keys(Path(str(run)))).astype(object)
    return keys.where(keys.notna(), None)


def _run_keys(run: Path) -> dict[str, str]:
    """post_id -> post_key of a run's predictions ({} when the run or its predictions are gone)."""
    try:
        table = pd.read_parquet(run / PREDICTIONS_FILE)
    except (OSError, ValueError, pa.ArrowException):
        return {}
    if not {"post_id", "text", "image_path"} <= set(table.columns):
        return {}
    keys = table[POST_KEY_COLUMN] if POST_KEY_COLUMN in table else post_keys(table.fillna(""))
    return dict(zip(table["post_id"].astype(str), keys))


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
