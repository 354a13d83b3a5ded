"""Where reviewers disagree, and how much they agree: the posts two reviewers labelled differently
(for an admin to settle: CorrectionStore.settle, whose label wins for training) and, per task,
Cohen's kappa for each pair of reviewers who share at least MIN_SHARED posts.

Each reviewer's label of a post is their latest review of it not undone; kappa compares two
reviewers on the posts both labelled, against the agreement their label frequencies give by chance.
"""

from __future__ import annotations

from itertools import combinations

import pandas as pd

MIN_SHARED = 20  # fewer shared posts give a kappa too noisy to act on
KAPPA_COLUMNS = ["task", "reviewer_a", "reviewer_b", "shared_posts", "agreed", "kappa"]


def reviewer_labels(history: pd.DataFrame, task: str | None = None) -> pd.DataFrame:
    """One row per (task, post_id, reviewer) of `history` (CorrectionStore.history): that reviewer's
    latest label not undone."""
    undone = set(history.loc[history["action"] == "undo", "retracts"])
    live = history[(history["action"] != "undo") & ~history["batch"].isin(undone)]
    if task is not None:
        live = live[live["task"] == task]
    latest = live.sort_values("id").drop_duplicates(["task", "post_id", "reviewer"], keep="last")
    return latest[["task", "post_id", "reviewer", "label_after", "created_at"]].reset_index(drop=True)


def disagreements(history: pd.DataFrame, settlements: pd.DataFrame, task: str | None = None) -> pd.DataFrame:
    """The posts whose reviewers gave different labels, one row per post: `labels` ([(reviewer,
    label), ...] by reviewer), `options` (the labels given), `settled` (the admin's label, "" while open)."""
    labels = reviewer_labels(history, task)
    differ = labels.groupby(["task", "post_id"])["label_after"].transform("nunique") > 1
    rows = labels[differ].sort_values(["task", "post_id", "reviewer"])
    table = (
        rows.assign(said=list(zip(rows["reviewer"], rows["label_after"])))
        .groupby(["task", "post_id"], sort=False)
        .agg(labels=("said", list), options=("label_after", lambda s: sorted(set(s))))
        .reset_index()
    )
    last = settlements.drop_duplicates(["task", "post_id"], keep="last").set_index(["task", "post_id"])["label"]
    keys = list(zip(table["task"], table["post_id"]))
    return table.assign(settled=[last.get(key, "") for key in keys])


def cohen_kappa(a: pd.Series, b: pd.Series) -> float:
    """Cohen's kappa of two raters' labels of the same items (1: always agree; 0: as by chance).
    NaN when chance alone explains everything (both raters always gave one and the same label)."""
    a, b = a.reset_index(drop=True), b.reset_index(drop=True)
    observed = float((a == b).mean())
    pa, pb = a.value_counts(normalize=True), b.value_counts(normalize=True)
    expected = float(sum(pa.get(label, 0.0) * pb.get(label, 0.0) for label in set(pa.index) | set(pb.index)))
    return float("nan") if expected == 1.0 else (observed - expected) / (1.0 - expected)


def kappa_table(history: pd.DataFrame, min_shared: int = MIN_SHARED) -> pd.DataFrame:
    """Per task, each pair of reviewers sharing at least `min_shared` posts: how many they share,
    on how many they agree, and Cohen's kappa."""
    rows = []
    for task, labels in reviewer_labels(history).groupby("task"):
        by_reviewer = {name: frame.set_index("post_id")["label_after"] for name, frame in labels.groupby("reviewer")}
        for first, second in combinations(sorted(by_reviewer), 2):
            shared = by_reviewer[first].index.intersection(by_reviewer[second].index)
            if len(shared) < min_shared:
                continue
            a, b = by_reviewer[first][shared], by_reviewer[second][shared]
            rows.append([task, first, second, len(shared), int((a == b).sum()), cohen_kappa(a, b)])
    return pd.DataFrame(rows, columns=KAPPA_COLUMNS)
