"""The review queue: which posts of a predictions table a reviewer should see first.

Each strategy is a pure function of the table (as predictions.parquet or a scored collection
holds it: post_id, true_label, predicted_label, prob_<label>, and reliance_words / reliance_photo
where the run measured them) and a seed; it returns the rows worth reviewing, best first, with a
`queue_score` saying why. `build_queue` then folds near-duplicates: rows sharing a non-empty
`duplicate_group` become one row (the first in queue order) with the group's size, so a reviewer
sees a tweet and its retweets once and may correct them together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crisis_model.predictions import RELIANCE_COLUMNS, probability_columns

GROUP_COLUMN = "duplicate_group"  # optional: a group id; posts without one are each their own group


def margin(frame: pd.DataFrame) -> pd.Series:
    """The gap between the two most probable labels (0: a coin toss between them)."""
    probs = frame[probability_columns(frame)].to_numpy(dtype=float)
    if probs.shape[1] < 2:
        return pd.Series(np.nan, index=frame.index)
    top = -np.sort(-probs, axis=1)
    return pd.Series(top[:, 0] - top[:, 1], index=frame.index)


def least_confident(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Every post, the smallest margin between the two most probable labels first."""
    return frame.assign(queue_score=margin(frame)).sort_values(["queue_score", "post_id"], kind="stable")


def label_disagreement(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The posts whose dataset label differs from the model's answer, the most confident answers
    first: there the dataset's label is the likelier one to be wrong."""
    differ = frame[(frame["true_label"] != "") & (frame["true_label"] != frame["predicted_label"])]
    return differ.assign(queue_score=differ["confidence"]).sort_values(
        ["queue_score", "post_id"], ascending=[False, True], kind="stable"
    )


def words_vs_photo(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The posts whose words and photo pull opposite ways: removing one lowers the answer's
    probability while removing the other raises it (the measured reliance). Strongest conflict
    first: the smaller of the two pulls."""
    words, photo = (frame[RELIANCE_COLUMNS[part]].astype(float) for part in ("words", "photo"))
    conflict = frame[(words * photo) < 0]
    score = np.minimum(words[conflict.index].abs(), photo[conflict.index].abs())
    return conflict.assign(queue_score=score).sort_values(
        ["queue_score", "post_id"], ascending=[False, True], kind="stable"
    )


def random_audit(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Every post in a random order drawn from `seed`: an unbiased sample for auditing the model."""
    order = np.random.default_rng(seed).permutation(len(frame))
    return frame.iloc[order].assign(queue_score=np.arange(len(frame), dtype=float))


@dataclass(frozen=True)
class Strategy:
    title: str
    help: str
    order: Callable[[pd.DataFrame, int], pd.DataFrame]
    needs: tuple[str, ...] = ()  # columns the table must have


STRATEGIES: dict[str, Strategy] = {
    "least_confident": Strategy(
        "Least confident", "the smallest gap between the model's two likeliest labels first", least_confident
    ),
    "label_disagreement": Strategy(
        "Model vs dataset label",
        "posts whose dataset label differs from the model's answer, the model's surest first",
        label_disagreement,
    ),
    "words_vs_photo": Strategy(
        "Words vs photo",
        "posts whose words and photo pull the answer opposite ways (measured by removing each)",
        words_vs_photo,
        needs=tuple(RELIANCE_COLUMNS.values()),
    ),
    "random": Strategy("Random audit", "every post in a random order (an unbiased sample)", random_audit),
}


def missing_columns(frame: pd.DataFrame, strategy: str) -> list[str]:
    """The columns `strategy` needs that `frame` lacks (a run trained before reliance was measured)."""
    return [c for c in STRATEGIES[strategy].needs if c not in frame]


def group_keys(frame: pd.DataFrame) -> pd.Series:
    """Each row's group: its `duplicate_group` where set, else a group of its own."""
    own = "post:" + frame["post_id"].astype(str)
    if GROUP_COLUMN not in frame:
        return own
    group = frame[GROUP_COLUMN].astype("string").fillna("")
    return ("group:" + group).where(group != "", own)


def build_queue(frame: pd.DataFrame, strategy: str, seed: int = 0) -> pd.DataFrame:
    """The queue for `strategy`: posts with an answer, ordered, one row per duplicate group (the
    group's first post in queue order) with `group_key` and `group_size`."""
    answered = frame[frame["predicted_label"].fillna("") != ""]
    ordered = STRATEGIES[strategy].order(answered, seed)
    keys = group_keys(frame)
    sizes = keys.value_counts()
    ordered_keys = keys[ordered.index]
    first = ~ordered_keys.duplicated()
    queue = ordered[first.to_numpy()]
    return queue.assign(group_key=ordered_keys[first], group_size=ordered_keys[first].map(sizes).astype(int))


def group_members(frame: pd.DataFrame, post_id: str) -> list[str]:
    """The post ids of `post_id`'s duplicate group (itself alone when it has none)."""
    keys = group_keys(frame)
    key = keys[frame["post_id"] == post_id]
    if key.empty:
        return [post_id]
    return frame.loc[keys == key.iloc[0], "post_id"].astype(str).tolist()
