"""The one table every loader returns: one row per (post, image) pair, every cell a string.

    post_id     unique ("<tweet_id>_<k>" in CrisisMMD, the row number in a posts file)
    tweet_id    the tweet; a tweet with several images has several rows
    event       e.g. "hurricane_harvey" ("user" in a posts file without events)
    split       train / dev / test ("user" in a posts file without splits)
    text        the post's text, exactly as in the file
    image_path  absolute path of the image file, or "" when there is none to use
    label       one of the task's label names ("" where unlabelled)

An image path is read relative to one folder (the dataset's, or the posts file's) and must stay
inside it; a missing file leaves a text-only post. `build_table` also returns a `note` per post:
why its image is not used, or why there is nothing to analyse.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pandas as pd

from crisis_model.data.images import resolve_inside
from crisis_model.errors import DataError, ImageError

COLUMNS = ["post_id", "tweet_id", "event", "split", "text", "image_path", "label"]
SPLITS = ("train", "dev", "test")
NOTHING_TO_ANALYSE = "nothing to analyse: empty text and no photo"


class MissingImagesWarning(UserWarning):
    """Posts whose image file is missing: they are kept as text-only posts."""


def resolve_image(image: str, root: Path | None) -> tuple[str, str]:
    """(absolute path inside `root`, or "" when the post has no usable image; a note saying why not).
    Nothing is opened: a path outside `root` is refused before any file access."""
    image = (image or "").strip()
    if not image:
        return "", ""
    if root is None:
        return "", "image ignored (no folder to look in): analysed as text only"
    try:
        path = resolve_inside(root, image)
    except ImageError:
        return "", f"image ignored (it must lie inside {root}): analysed as text only"
    if not path.is_file():
        return "", "image not found: analysed as text only"
    return str(path), ""


def build_table(pairs: pd.DataFrame, root: Path | None, refuse_outside: bool = True) -> pd.DataFrame:
    """The final table from loader rows (COLUMNS but `image` for image_path, plus `where`, "<file>:
    line <n>"): image paths resolved inside `root`, unique post ids, COLUMNS then `note` then any
    other column the rows had. With `refuse_outside`, an image path outside `root` is a DataError
    (a dataset or training file); else the post is kept text-only with a note (an upload to score).
    Missing image files give one MissingImagesWarning; `attrs["missing_images"]` counts them."""
    root = root.resolve() if root is not None else None
    image_paths, notes, missing = [], [], []
    for image, text, where in zip(pairs["image"], pairs["text"], pairs["where"]):
        path, note = resolve_image(image, root)
        if refuse_outside and note.startswith("image ignored (it must lie inside"):
            raise DataError(f"{where}: image {image!r} refused: it lies outside {root}")
        if note == "image not found: analysed as text only":
            missing.append(os.path.join(root, image))
        if not path and not str(text).strip():
            note = NOTHING_TO_ANALYSE
        image_paths.append(path)
        notes.append(note)
    if missing:
        warnings.warn(
            f"{len(missing):,} of {len(pairs):,} posts have no image file and are kept as "
            f"text-only posts; the first: {', '.join(missing[:3])}",
            MissingImagesWarning,
            stacklevel=3,
        )
    duplicated = pairs["post_id"].duplicated()
    if duplicated.any():
        row = pairs[duplicated].iloc[0]
        raise DataError(f"{row['where']}: post_id {row['post_id']!r} appears twice")
    extra = [c for c in pairs.columns if c not in (*COLUMNS, "image", "where", "note")]
    frame = pairs.assign(image_path=image_paths, note=notes)[COLUMNS + ["note"] + extra].reset_index(drop=True)
    frame.attrs["missing_images"] = len(missing)
    return frame


def dataset_summary(df: pd.DataFrame) -> dict:
    """Counts for the dashboard: posts, with and without an image, per event and per label;
    the same for each split under "splits"."""
    summary = _counts(df)
    summary["splits"] = {split: _counts(part) for split, part in df.groupby("split", sort=False)}
    return summary


def _counts(df: pd.DataFrame) -> dict:
    with_image = int((df["image_path"] != "").sum())
    labels = df["label"][df["label"] != ""]
    return {
        "posts": len(df),
        "with_image": with_image,
        "without_image": len(df) - with_image,
        "events": {str(event): int(n) for event, n in df["event"].value_counts().items()},
        "labels": {str(label): int(n) for label, n in labels.value_counts().items()},
    }
