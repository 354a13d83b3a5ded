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

import pandas as pd

from crisis_model.atomic_files import write_json
from crisis_model.corrections.report import scores
from crisis_model.corrections.store import CorrectionStore
from crisis_model.errors import DataError
from crisis_model.run_folder import CORRECTIONS_FILE, PREDICTIONS_FILE, TRAIN_CONFIG_FILE

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
