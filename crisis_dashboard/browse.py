"""The Browse page's tables: filtering, sorting and paging a run's predictions (pure pandas), and a page
of a scored collection as shown (its queries are in crisis_dashboard.collection)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crisis_dashboard.names import pretty


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


def page_slice(frame: pd.DataFrame, page: int, size: int) -> pd.DataFrame:
    start = (max(page, 1) - 1) * size
    return frame.iloc[start : start + size]


def table_view(rows: pd.DataFrame) -> pd.DataFrame:
    """The columns an analyst reads, with plain names; the long text last. Where the run measured
    it, how far each answer's probability falls without the words and without the photo."""
    table = pd.DataFrame(
        {
            "Post": rows["post_id"].values,
            "Event": rows["event"].map(pretty).values,
            "Split": rows["split"].values,
            "True label": rows["true_label"].map(pretty).values,
            "Predicted": rows["predicted_label"].map(pretty).values,
            "Right?": np.where(rows["correct"].values, "✓ right", "✗ wrong"),
            "Confidence": rows["confidence"].values,
            "Words share": rows["text_weight"].values,
            "Photo": np.where(rows["has_image"].values, "photo", "text only"),
            "Text": rows["text"].values,
        }
    )
    for column, name in (("reliance_words", "Fall without words"), ("reliance_photo", "Fall without photo")):
        if column in rows:
            table.insert(len(table.columns) - 2, name, rows[column].values)
    return table


def collection_table(rows: pd.DataFrame, tasks: dict[str, dict]) -> pd.DataFrame:
    """A page of a scored collection (crisis_dashboard.collection.page) as the analyst reads it:
    the chosen task's answer, every task's label, the photo and warnings; the long text last."""
    view = {
        "Post": rows["post_id"].values,
        "Posted": rows["created_at"].fillna("").values,
        "Answer": rows["label"].map(pretty, na_action="ignore").values,
        "Confidence": rows["confidence"].values,
        "Words share": rows["text_weight"].values,
    }
    for prefix in tasks:
        view[pretty(prefix)] = rows[f"{prefix}_label"].map(pretty, na_action="ignore").values
    view["Photo"] = np.where(rows["has_image"].values, "photo", "text only")
    view["Warnings"] = rows["warnings"].values
    view["Text"] = rows["text"].values
    if not rows["created_at"].fillna("").any():  # the file had no created_at
        del view["Posted"]
    return pd.DataFrame(view)


def fold_groups(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per near-duplicate group (the first in `rows`' order), with `copies`: how many of
    `rows` the group holds."""
    copies = rows["duplicate_group"].map(rows["duplicate_group"].value_counts())
    return rows.assign(copies=copies).drop_duplicates("duplicate_group")
