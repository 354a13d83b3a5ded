"""CrisisMMD v2.0 (Alam, Ofli, Imran, ICWSM 2018) as one table (see crisis_model.data.table).

The official layout: annotations/<event>_final_data.tsv, crisismmd_datasplit_all/ (and
crisismmd_datasplit_agreed_label/ where present) and data_image/. Three tasks: informative
(2 classes), humanitarian (5 merged classes) and damage (3 classes, image labels only).
Posts whose image file is missing are kept as text-only posts, with one MissingImagesWarning.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from crisis_model.data.files import read_tsv
from crisis_model.data.table import COLUMNS, SPLITS, build_table
from crisis_model.errors import DataError

LABEL_SOURCES = ("text", "image", "agreed")  # agreed: pairs whose text and image labels match

ALL_DIR = "crisismmd_datasplit_all"
AGREED_DIR = "crisismmd_datasplit_agreed_label"
SPLIT_COLUMNS = ["event_name", "tweet_id", "image_id", "tweet_text", "image"]
ANNOTATION_COLUMNS = ["tweet_id", "image_id", "tweet_text", "image_path"]

# The CrisisMMD humanitarian task merges rare classes into five.
MERGED_LABELS = {
    "injured_or_dead_people": "affected_individuals",
    "missing_or_found_people": "affected_individuals",
    "vehicle_damage": "infrastructure_and_utility_damage",
}
NOT_ANNOTATED = ("nan", "dont_know_or_cant_judge")


@dataclass(frozen=True)
class Task:
    """A CrisisMMD classification task. `text_column` and `image_column` hold its labels
    in annotations/<event>_final_data.tsv; a task without text labels has no text_column."""

    name: str
    label_names: tuple[str, ...]
    label_sources: tuple[str, ...]
    text_column: str | None
    image_column: str


TASKS: dict[str, Task] = {
    "informative": Task("informative", ("informative", "not_informative"), LABEL_SOURCES, "text_info", "image_info"),
    "humanitarian": Task(
        "humanitarian",
        (
            "affected_individuals",
            "infrastructure_and_utility_damage",
            "not_humanitarian",
            "other_relevant_information",
            "rescue_volunteering_or_donation_effort",
        ),
        LABEL_SOURCES,
        "text_human",
        "image_human",
    ),
    "damage": Task(
        "damage",
        ("little_or_no_damage", "mild_damage", "severe_damage"),
        ("image", "agreed"),  # damage is judged from the image only
        None,
        "image_damage",
    ),
}


def get_task(name: str) -> Task:
    """The task called `name`, or DataError listing the valid names."""
    if name not in TASKS:
        raise DataError(f"unknown task {name!r}; valid tasks: {', '.join(TASKS)}")
    return TASKS[name]


# -------------------------------------------------------------------------------- CrisisMMD


def load_crisismmd(
    root: str | Path, task: str, labels: str = "agreed", splits: list[str] | None = None
) -> pd.DataFrame:
    """The (tweet, image) pairs of a CrisisMMD v2.0 folder labelled for `task`.

    labels: "text" or "image" (that annotation), or "agreed" (pairs whose text and image
    labels match; for damage, which has image labels only, the image label).
    splits: the splits to load (default: every split the folder has).

    The split files crisismmd_datasplit_all/task_<task>_text_img_<split>.tsv are used when
    the folder has them (and crisismmd_datasplit_agreed_label/ for "agreed" when present);
    otherwise the labels come from annotations/<event>_final_data.tsv, and each tweet's split
    from whichever split files the folder has.
    """
    root = Path(root)
    spec = get_task(task)
    if labels not in spec.label_sources:
        raise DataError(f"task {task!r} has no {labels!r} labels; valid label sources: {', '.join(spec.label_sources)}")
    unknown = [split for split in splits or [] if split not in SPLITS]
    if unknown:
        raise DataError(f"unknown split(s) {', '.join(unknown)}; valid splits: {', '.join(SPLITS)}")
    if not root.is_dir():
        raise DataError(f"{root}: no such folder (expected a CrisisMMD v2.0 folder)")

    if spec.text_column is None:
        labels = "image"  # "agreed" damage labels are the image labels
    pairs = _from_split_files(root, spec, labels)
    if pairs is None:
        pairs = _from_annotations(root, spec)
    for split in splits or []:
        if not (pairs["split"] == split).any():
            expected = f"{ALL_DIR}/task_{task}_text_img_{split}.tsv"
            raise DataError(f"{root}: no {split} split for task {task}: expected {expected}")
    if splits:
        pairs = pairs[pairs["split"].isin(splits)]
    pairs = _choose_labels(pairs, spec, labels)
    if pairs.empty:
        raise DataError(f"{root}: no {task} pairs with {labels} labels")
    return build_table(pairs, root)[COLUMNS]


def _split_files(folder: Path, task: str) -> dict[str, Path]:
    """The split files of `task` in `folder`, by split name."""
    paths = {split: folder / f"task_{task}_text_img_{split}.tsv" for split in SPLITS}
    return {split: path for split, path in paths.items() if path.is_file()}


def _from_split_files(root: Path, spec: Task, labels: str) -> pd.DataFrame | None:
    """Pairs with `label_text` / `label_image` columns from the task's split files, or None
    when the folder has none. A file that holds one label fills both columns with it."""
    files = _split_files(root / ALL_DIR, spec.name)
    if not files:
        return None
    agreed_files = _split_files(root / AGREED_DIR, spec.name)
    if labels == "agreed" and agreed_files:
        files, text_column, image_column = agreed_files, "label", "label"
    elif spec.text_column is None:  # damage: `label` is the image label
        text_column, image_column = "label", "label"
    else:  # `label` mixes text and image labels, so the explicit columns are used
        text_column, image_column = "label_text", "label_image"
    frames = []
    for split, path in files.items():
        rows = read_tsv(path, SPLIT_COLUMNS + [text_column, image_column])
        frames.append(
            pd.DataFrame(
                {
                    "post_id": rows["image_id"],
                    "tweet_id": rows["tweet_id"],
                    "event": rows["event_name"],
                    "split": split,
                    "text": rows["tweet_text"],
                    "image": rows["image"],
                    "label_text": rows[text_column],
                    "label_image": rows[image_column],
                    "where": rows["where"],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _from_annotations(root: Path, spec: Task) -> pd.DataFrame:
    """Pairs with `label_text` / `label_image` columns from annotations/<event>_final_data.tsv,
    each in the split its tweet has in the split files; tweets in no split file are dropped."""
    paths = sorted((root / "annotations").glob("*_final_data.tsv"))
    if not paths:
        raise DataError(
            f"{root}: no {ALL_DIR}/task_{spec.name}_text_img_<split>.tsv files and no "
            "annotations/<event>_final_data.tsv to derive them from; is this a CrisisMMD v2.0 folder?"
        )
    split_of = _tweet_splits(root)
    text_column = spec.text_column or spec.image_column
    frames = []
    for path in paths:
        rows = read_tsv(path, ANNOTATION_COLUMNS + [text_column, spec.image_column])
        frames.append(
            pd.DataFrame(
                {
                    "post_id": rows["image_id"],
                    "tweet_id": rows["tweet_id"],
                    "event": path.name.removesuffix("_final_data.tsv"),
                    "split": rows["tweet_id"].map(split_of),
                    "text": rows["tweet_text"],
                    "image": rows["image_path"],
                    "label_text": rows[text_column],
                    "label_image": rows[spec.image_column],
                    "where": rows["where"],
                }
            )
        )
    pairs = pd.concat(frames, ignore_index=True)
    return pairs[pairs["split"].notna()]


def _tweet_splits(root: Path) -> dict[str, str]:
    """tweet_id -> split, from the split files of every task in crisismmd_datasplit_all/."""
    split_of = {}
    for task in TASKS:
        for split, path in _split_files(root / ALL_DIR, task).items():
            split_of.update(dict.fromkeys(read_tsv(path, ["tweet_id"])["tweet_id"], split))
    if not split_of:
        raise DataError(f"{root}: no split files {ALL_DIR}/task_<task>_text_img_<split>.tsv, so no tweet has a split")
    return split_of


def _choose_labels(pairs: pd.DataFrame, spec: Task, labels: str) -> pd.DataFrame:
    """Keep the annotated pairs (for "agreed": those whose text and image labels match),
    with their label, merged, in `label`; DataError on a label the task does not know."""
    columns = {"text": ["label_text"], "image": ["label_image"], "agreed": ["label_text", "label_image"]}
    columns = columns[labels]
    merged = pairs[columns].replace(MERGED_LABELS)
    annotated = ~merged.isin(NOT_ANNOTATED).any(axis=1)
    for column in columns:
        unknown = annotated & ~merged[column].isin(spec.label_names)
        if unknown.any():
            row = unknown.idxmax()
            raise DataError(
                f"{pairs.at[row, 'where']}: unknown {spec.name} label {pairs.at[row, column]!r}; "
                f"valid labels: {', '.join(spec.label_names)}"
            )
    keep = annotated & (merged[columns[0]] == merged[columns[-1]])  # one column: always equal
    return pairs[keep].assign(label=merged.loc[keep, columns[0]])
