"""The reviewed set as one table, for CSV and Parquet: one row per reviewed (post, task), its
dataset label, the model's answer with its confidence and reliance, and the review in force (an
admin's settled label over the reviewers' where two disagreed: the label training uses)."""

from __future__ import annotations

import pandas as pd

from crisis_model.corrections.store import latest_reviews, settled
from crisis_model.predictions import RELIANCE_COLUMNS

POST_COLUMNS = ("event", "split", "text", "image_path")
MODEL_COLUMNS = ("confidence", *RELIANCE_COLUMNS.values())
EXPORT_COLUMNS = (
    "post_id",
    "task",
    *POST_COLUMNS,
    "dataset_label",
    "model_label",
    *MODEL_COLUMNS,
    "reviewed_label",
    "corrected",
    "action",
    "reviewer",
    "reviewed_at",
    "run",
    "duplicate_group",
    "settled_by",
)


def reviewed_set(
    history: pd.DataFrame, predictions: dict[str, pd.DataFrame], settlements: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The latest review of each (post, task) in `history` (CorrectionStore.history), its label the
    admin's where `settlements` (CorrectionStore.settlements) settle it (`settled_by`), as training
    takes it; joined with the post's row in `predictions[task]` (a run's predictions table) where it
    has one. `corrected`: the label in force differs from the model's answer the reviewer saw."""
    reviews = latest_reviews(history)
    reviews = settled(reviews, settlements) if settlements is not None else reviews.assign(settled_by=None)
    parts = []
    for task, part in reviews.groupby("task", sort=True):
        table = predictions.get(str(task))
        known = pd.DataFrame(columns=["post_id", *POST_COLUMNS, "true_label", *MODEL_COLUMNS])
        if table is not None:
            known = table.reindex(columns=known.columns).drop_duplicates("post_id")
        parts.append(part.merge(known, on="post_id", how="left"))
    if not parts:
        return pd.DataFrame(columns=list(EXPORT_COLUMNS))
    rows = pd.concat(parts, ignore_index=True)
    out = rows.rename(
        columns={
            "true_label": "dataset_label",
            "label_before": "model_label",
            "label_after": "reviewed_label",
            "created_at": "reviewed_at",
        }
    )
    out["corrected"] = out["reviewed_label"] != out["model_label"]
    for column in MODEL_COLUMNS:
        out[column] = pd.to_numeric(out[column], errors="coerce").astype(float)
    text = [c for c in EXPORT_COLUMNS if c not in (*MODEL_COLUMNS, "corrected")]
    out[text] = out[text].astype("string")
    return out[list(EXPORT_COLUMNS)].sort_values(["task", "post_id"], kind="stable").reset_index(drop=True)
