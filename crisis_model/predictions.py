"""The predictions table: one row per scored post, as train.py writes predictions.parquet and as the
dashboard, the review queue and `train.py --corrections` read it. Its columns are named here only.

    post_id tweet_id event split text image_path   the post
    true_label predicted_label confidence correct    the answer, and whether it is the dataset's label
    prob_<label> ...                                 each category's probability
    text_weight image_weight joint_weight            the gate's weights of the three votes (fusion.GROUPS)
    reliance_words reliance_photo                    the answer's probability fall without the words / the
                                                     photo (NaN where not measured)
    has_image                                        the model saw a photo
    routing_mean                                     coupling to each fused capsule (full fusion only)
    post_key                                         what the post is, whatever its id (`post_key`): a review
                                                     records it, so training applies it to this post only

A scored collection (crisis_model.scoring.columns) holds the same answer columns once per task, under
the task's prefix: <task>_prob_<label>, <task>_text_weight, ...
"""

from __future__ import annotations

import hashlib
from pathlib import PurePath

import numpy as np
import pandas as pd

from crisis_model.errors import DataError
from crisis_model.model.fusion import GROUPS

PROB_PREFIX = "prob_"
POST_KEY_COLUMN = "post_key"
REQUIRED_COLUMNS = ("post_id", "true_label", "predicted_label")
TEXT_COLUMNS = ("post_id", "event", "split", "text", "image_path", "true_label", "predicted_label")
RELIANCE_COLUMNS = {"words": "reliance_words", "photo": "reliance_photo"}  # what was removed -> its column


def prob_column(label: str, task_prefix: str = "") -> str:
    """The column of a category's probability: prob_<label>, or <task>_prob_<label> in a collection."""
    return f"{task_prefix}{PROB_PREFIX}{label}"


def weight_column(group: str, task_prefix: str = "") -> str:
    """The column of an evidence group's gate weight (a fusion.GROUPS name): text_weight, ..."""
    return f"{task_prefix}{group}_weight"


WEIGHT_COLUMNS = tuple(weight_column(group) for group in GROUPS)


def post_key(text: str, image_path: str) -> str:
    """A post's identity where its id is only a row number: a hash of its text and its photo's file
    name (not its folder, so a dataset that moves keeps its keys). Two posts files whose row 7 holds
    different posts give different keys."""
    photo = PurePath(image_path).name if image_path else ""
    return hashlib.sha256(f"{text}\0{photo}".encode("utf-8", "surrogatepass")).hexdigest()[:16]


def post_keys(frame: pd.DataFrame) -> pd.Series:
    """`post_key` of every row of a table with `text` and `image_path` (as strings)."""
    return pd.Series([post_key(t, i) for t, i in zip(frame["text"], frame["image_path"])], index=frame.index)


def probability_columns(frame: pd.DataFrame) -> list[str]:
    return [column for column in frame.columns if column.startswith(PROB_PREFIX)]


def normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """A predictions table with every column the readers rely on, of the type they expect: a table
    written by an older CrisisLens lacks some (no reliance, no joint weight); DataError when it
    lacks one that cannot be filled in."""
    frame = frame.copy()
    missing = [column for column in REQUIRED_COLUMNS if column not in frame]
    if missing:
        raise DataError(f"the predictions table lacks the column(s) {', '.join(missing)}.")
    for column in TEXT_COLUMNS:
        frame[column] = frame[column].fillna("").astype(str) if column in frame else ""
    if "confidence" not in frame:
        probabilities = probability_columns(frame)
        frame["confidence"] = frame[probabilities].max(axis=1) if probabilities else np.nan
    frame["confidence"] = pd.to_numeric(frame["confidence"], errors="coerce")
    if "has_image" not in frame:
        frame["has_image"] = frame["image_path"] != ""
    frame["has_image"] = frame["has_image"].fillna(False).astype(bool)
    # a table without weights: the words' weight unknown, none on the photo or the joint vote
    for column, default in zip(WEIGHT_COLUMNS, (np.nan, 0.0, 0.0)):
        frame[column] = pd.to_numeric(frame[column], errors="coerce") if column in frame else default
    frame["correct"] = frame["true_label"] == frame["predicted_label"]
    if POST_KEY_COLUMN not in frame:  # written before posts had keys: the same text and photo give the same key
        frame[POST_KEY_COLUMN] = post_keys(frame)
    return frame.reset_index(drop=True)
