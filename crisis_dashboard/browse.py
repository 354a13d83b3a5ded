"""The Browse page's tables: filtering, sorting and paging a run's predictions (pure pandas), and a page
of a scored collection as shown (its queries are in crisis_dashboard.collection)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crisis_dashboard.names import pretty, task_title


@dataclass
class Filters:
    events: list[str] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)
    true_labels: list[str] = field(default_factory=list)
    predicted_labels: list[str] = field(default_factory=list)
    outcome: str = "all"  # all | right | wrong
    photo: str = "all"  # all | with | without
    confidence: tuple[float, float] = (0.0, 1.0)
    query: str = ""

    def signature(self) -> tuple:
        return (
            tuple(self.events),
            tuple(self.splits),
            tuple(self.true_labels),
            tuple(self.predicted_labels),
            self.outcome,
            self.photo,
            tuple(self.confidence),
            self.query.strip().lower(),
        )


def apply_filters(frame: pd.DataFrame, f: Filters) -> pd.DataFrame:
    """The rows of a predictions table that pass every filter (vectorised; fast on 18k rows)."""
    keep = pd.Series(True, index=frame.index)
    for column, chosen in (
        ("event", f.events),
        ("split", f.splits),
        ("true_label", f.true_labels),
        ("predicted_label", f.predicted_labels),
    ):
        if chosen:
            keep &= frame[column].isin(chosen)
    if f.outcome == "right":
        keep &= frame["correct"]
    elif f.outcome == "wrong":
        keep &= ~frame["correct"]
    if f.photo == "with":
        keep &= frame["has_image"]
    elif f.photo == "without":
        keep &= ~frame["has_image"]
    low, high = f.confidence
    if low > 0.0 or high < 1.0:
        keep &= frame["confidence"].between(low, high)
    query = f.query.strip()
    if query:
        keep &= frame["text"].str.contains(query, case=False, regex=False) | frame["post_id"].str.contains(
            query, case=False, regex=False
        )
    return frame[keep]


SORTS = {
    "Least confident first": ("confidence", True),
    "Most confident first": ("confidence", False),
    "Least weight on the words' vote": ("text_weight", True),
    "Most weight on the words' vote": ("text_weight", False),
    "Post id": ("post_id", True),
}


def sort_rows(frame: pd.DataFrame, how: str) -> pd.DataFrame:
    column, ascending = SORTS.get(how, ("post_id", True))
    return frame.sort_values([column, "post_id"], ascending=[ascending, True], kind="stable")


def page_of(frame: pd.DataFrame, post_id: str | None, size: int) -> int | None:
    """The page (from 1) of `size` rows on which `post_id` stands in `frame`, or None."""
    where = np.flatnonzero(frame["post_id"].to_numpy() == post_id) if post_id is not None else []
    return int(where[0]) // size + 1 if len(where) else None


def page_slice(frame: pd.DataFrame, page: int, size: int) -> pd.DataFrame:
    start = (max(page, 1) - 1) * size
    return frame.iloc[start : start + size]


def table_view(rows: pd.DataFrame) -> pd.DataFrame:
    """The columns an analyst reads, with plain names: the post's text first, then the answer and
    how sure the model was, then the rest. Where the run measured it, how far each answer's
    probability falls without the words and without the photo."""
    table = pd.DataFrame(
        {
            "Text": rows["text"].values,
            "Predicted": rows["predicted_label"].map(pretty).values,
            "Confidence": rows["confidence"].values,
            "True label": rows["true_label"].map(pretty).values,
            "Right?": np.where(rows["correct"].values, "✓ right", "✗ wrong"),
            "Words share": rows["text_weight"].values,
            "Photo": np.where(rows["has_image"].values, "photo", "text only"),
            "Event": rows["event"].map(pretty).values,
            "Split": rows["split"].values,
            "Post": rows["post_id"].values,
        }
    )
    for column, name in (("reliance_words", "Fall without words"), ("reliance_photo", "Fall without photo")):
        if column in rows:
            table.insert(table.columns.get_loc("Photo"), name, rows[column].values)
    return table


def collection_table(rows: pd.DataFrame, tasks: dict[str, dict]) -> pd.DataFrame:
    """A page of a scored collection (crisis_dashboard.collection.page) as the analyst reads it:
    the text first, the chosen task's answer and confidence, every task's label, the photo and
    warnings, the post's id and time last."""
    view = {
        "Text": rows["text"].values,
        "Answer": rows["label"].map(pretty, na_action="ignore").values,
        "Confidence": rows["confidence"].values,
        "Words share": rows["text_weight"].values,
    }
    for prefix, spec in tasks.items():
        title = task_title(spec["task"]) + prefix[len(spec["task"]) :]
        view[title] = rows[f"{prefix}_label"].map(pretty, na_action="ignore").values
    view["Photo"] = np.where(rows["has_image"].values, "photo", "text only")
    view["Warnings"] = rows["warnings"].values
    view["Post"] = rows["post_id"].values
    if rows["created_at"].fillna("").any():  # the file had created_at
        view["Posted"] = rows["created_at"].fillna("").values
    return pd.DataFrame(view)


def fold_groups(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per near-duplicate group (the first in `rows`' order), with `copies`: how many of
    `rows` the group holds."""
    copies = rows["duplicate_group"].map(rows["duplicate_group"].value_counts())
    return rows.assign(copies=copies).drop_duplicates("duplicate_group")
