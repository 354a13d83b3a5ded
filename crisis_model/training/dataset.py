"""The posts a run trains and evaluates on: one table with a train and a dev split.

No text is both trained on and evaluated on: a train post whose normalised text (links, mentions,
"RT" and case aside: `crisis_model.data.normalise`) is also a dev or test post's is dropped, and a
posts file without a dev split is split with each group of one normalised text on one side, so a
retweet never lands in dev while its original is trained on.

With `corrections` (a reviewers' database), its labels replace the dataset's
(crisis_model.training.corrections).
"""

from __future__ import annotations

import dataclasses
import warnings

import pandas as pd
from sklearn.model_selection import GroupShuffleSplit

from crisis_model.data import get_task, load_crisismmd, load_posts_file
from crisis_model.data.normalise import leaked_train_posts, text_groups
from crisis_model.errors import DataError
from crisis_model.training.config import TrainConfig
from crisis_model.training.corrections import apply_corrections


def fusion_for_data(cfg: TrainConfig, frame: pd.DataFrame) -> TrainConfig:
    """`cfg`, with --fusion left to its default and not one train post with a photo, set to the
    text-only variant. The full fusion's photo vote, joint vote and gate never learn from posts
    without photos (their weight is 0 there), so a post scored later with a photo takes untrained
    votes: a full-fusion run on CrisisMMD's texts answered 0.987 informative for a post without a
    photo and 0.645 for the same post with any photo, even plain sky (bench/NOTES.md)."""
    task = get_task(cfg.task)
    if (
        cfg.fusion is not None
        or task.text_column is None
        or (frame.loc[frame["split"] == "train", "image_path"] != "").any()
    ):
        return cfg
    warnings.warn(
        "no train post has a photo: the text-only variant is trained (--fusion text); "
        "--fusion full trains the full fusion anyway, without its photo and joint votes learning",
        stacklevel=2,
    )
    return dataclasses.replace(cfg, fusion="text")


def load_data(cfg: TrainConfig) -> pd.DataFrame:
    """The posts to train and evaluate on, with a train and a dev split; DataError otherwise.
    Labels are checked where they are read (load_crisismmd, _labelled_posts)."""
    if cfg.data_root is not None:
        frame, source = load_crisismmd(cfg.data_root, cfg.task, cfg.labels), cfg.data_root
    else:
        frame, source = _labelled_posts(cfg), cfg.posts
    if cfg.corrections is not None:  # before the filters: a post they drop is not "unknown"
        labels = list(get_task(cfg.task).label_names)
        frame = apply_corrections(frame, cfg.corrections, cfg.task, labels)
    if get_task(cfg.task).text_column is None:  # judged from the photo alone: a post without one teaches nothing
        without = frame["image_path"] == ""
        if without.all():
            raise DataError(
                f"{source}: no {cfg.task} post has a usable photo, and {cfg.task} is judged from the photo; "
                "point --data-root at a folder that holds data_image/"
            )
        if without.any():
            warnings.warn(f"{int(without.sum()):,} {cfg.task} posts without a usable photo are left out", stacklevel=2)
        frame = frame[~without]
    if cfg.drop_leaked:  # after the photo filter: only posts that are evaluated can leak
        frame = frame[~leaked_train_posts(frame)]
    if cfg.dedupe:
        repeated = (frame["split"] == "train") & frame.duplicated(["split", "text", "image_path", "label"])
        frame = frame[~repeated]
    for split in ("train", "dev"):
        if not (frame["split"] == split).any():
            raise DataError(
                f"{source}: the {split} split is empty; training needs train posts to fit the model "
                "and dev posts to choose its best epoch"
            )
    if frame.loc[frame["split"] == "train", "label"].nunique() < 2:
        raise DataError(f"{source}: every train post has the same label; there is nothing to learn")
    return frame.reset_index(drop=True)


def _labelled_posts(cfg: TrainConfig) -> pd.DataFrame:
    """A posts file with labels of the task; without a dev split, one is held out by tweet."""
    task = get_task(cfg.task)
    frame = load_posts_file(cfg.posts)
    unlabelled = frame["label"] == ""
    if unlabelled.any():
        first = frame["post_id"][unlabelled].iloc[0]
        raise DataError(
            f"{cfg.posts}: post {first!r} has no label ({int(unlabelled.sum())} posts lack one); training "
            f"needs a 'label' column with {cfg.task} labels: {', '.join(task.label_names)}"
        )
    unknown = ~frame["label"].isin(task.label_names)
    if unknown.any():
        row = frame[unknown].iloc[0]
        raise DataError(
            f"{cfg.posts}: post {row['post_id']!r}: unknown {cfg.task} label {row['label']!r}; "
            f"valid labels: {', '.join(task.label_names)}"
        )
    bad_splits = sorted(set(frame["split"]) - {"train", "dev", "test", "user"})
    if bad_splits:
        raise DataError(f"{cfg.posts}: unknown split(s) {', '.join(bad_splits)}; use train, dev, test")
    pool = frame["split"].isin(["train", "user"])
    groups = text_groups(frame[pool])
    if not (frame["split"] == "dev").any() and groups.nunique() >= 2:
        # posts of one text (a tweet's images, its retweets) stay together: dev never sees a text
        # it was trained on
        splitter = GroupShuffleSplit(n_splits=1, test_size=cfg.dev_fraction, random_state=cfg.seed)
        pooled = frame[pool]
        _, dev = next(splitter.split(pooled, groups=groups))
        frame.loc[pooled.index[dev], "split"] = "dev"
    frame.loc[frame["split"] == "user", "split"] = "train"
    return frame
