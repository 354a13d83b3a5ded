"""Datasets as one table: CrisisMMD v2.0 folders, and a user's own posts files.

Both loaders return a DataFrame with the columns `COLUMNS`, one row per (tweet, image)
pair, every cell a string:

    post_id     the image id ("<tweet_id>_<k>" in CrisisMMD), unique
    tweet_id    the tweet; a tweet with several images has several rows
    event       e.g. "hurricane_harvey"
    split       train / dev / test ("user" for a posts file without splits)
    text        the tweet text, exactly as in the file
    image_path  absolute path of the image file, or "" when it does not exist
    label       one of the task's label names ("" in a posts file without labels)

Posts whose image file is missing are kept as text-only posts; one MissingImagesWarning
says how many, and `df.attrs["missing_images"]` holds the count.
"""

import csv
import io
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from crisis_model.errors import DataError, ImageError
from crisis_model.images import resolve_inside

COLUMNS = ["post_id", "tweet_id", "event", "split", "text", "image_path", "label"]
SPLITS = ("train", "dev", "test")
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


class MissingImagesWarning(UserWarning):
    """Posts whose image file is missing: they are kept as text-only posts."""


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
    "informative": Task(
        "informative", ("informative", "not_informative"), LABEL_SOURCES, "text_info", "image_info"
    ),
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


# ---------------------------------------------------------------------------- reading files


def read_text(path: Path) -> str:
    """A UTF-8 text file (a BOM is dropped); DataError when unreadable, empty or not UTF-8."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read the file ({err.strerror or err})") from err
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise DataError(f"{path}: line {line}: not UTF-8 text ({err.reason})") from err
    if not text.strip():
        raise DataError(f"{path}: empty file")
    return text


def read_tsv(path: Path, required: list[str]) -> pd.DataFrame:
    """Every cell of a tab-separated file as a string, plus a `where` column ("<file>: line
    <n>") for error messages. No quoting (csv.QUOTE_NONE): a `"` is part of the text, and
    a row with a tab too many or too few is a DataError. LF or CRLF line ends."""
    lines = [line.removesuffix("\r") for line in read_text(path).split("\n")]
    header = lines[0].split("\t")
    missing = [column for column in required if column not in header]
    if missing:
        raise DataError(
            f"{path}: line 1: missing column(s) {', '.join(missing)}; the header has {', '.join(header)}"
        )
    rows, where = [], []
    for number, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            raise DataError(
                f"{path}: line {number}: {len(fields)} tab-separated fields where the header "
                f"has {len(header)} (a tab inside the text, or a cut-off line?)"
            )
        rows.append(fields)
        where.append(f"{path}: line {number}")
    frame = pd.DataFrame(rows, columns=header, dtype=str)
    frame["where"] = where
    return frame


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
        raise DataError(
            f"task {task!r} has no {labels!r} labels; valid label sources: {', '.join(spec.label_sources)}"
        )
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
    return _finish(pairs, root)


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
        raise DataError(
            f"{root}: no split files {ALL_DIR}/task_<task>_text_img_<split>.tsv, so no tweet has a split"
        )
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


# ------------------------------------------------------------------------------ posts files


def load_posts_file(path: str | Path) -> pd.DataFrame:
    """A user's posts: a .csv file or a .jsonl file (one JSON object a line).

    `text` is required; `image_path` (relative to the file's folder, and inside it),
    `label`, `post_id`, `tweet_id`, `event` and `split` are optional. Without them a post
    has no image, label "", post_id its row number (from 1), event and split "user".
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        records = _csv_records(path)
    elif suffix in (".jsonl", ".ndjson"):
        records = _jsonl_records(path)
    else:
        raise DataError(f"{path}: unsupported posts file type {suffix!r}; use .csv or .jsonl")
    if not records:
        raise DataError(f"{path}: no posts in the file, only a header")

    rows = []
    for number, (where, record) in enumerate(records, start=1):
        post = {key: "" if value is None else str(value) for key, value in record.items()}
        if not post["text"].strip() and not post.get("image_path"):
            raise DataError(f"{where}: the post has neither text nor an image_path")
        post_id = post.get("post_id") or str(number)
        rows.append(
            {
                "post_id": post_id,
                "tweet_id": post.get("tweet_id") or post_id,
                "event": post.get("event") or "user",
                "split": post.get("split") or "user",
                "text": post["text"],
                "image": post.get("image_path", ""),
                "label": post.get("label", ""),
                "where": where,
            }
        )
    return _finish(pd.DataFrame(rows, dtype=str), path.parent)


def _csv_records(path: Path) -> list[tuple[str, dict[str, str]]]:
    """(where, row) of each row of a CSV file with a header line and a `text` column."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    try:
        header = [name.strip() for name in next(reader)]
        if "text" not in header:
            raise DataError(f"{path}: line 1: no 'text' column; the header has {', '.join(header)}")
        records = []
        for fields in reader:
            if not fields:
                continue
            if len(fields) != len(header):
                raise DataError(
                    f"{path}: line {reader.line_num}: {len(fields)} fields where the header has {len(header)}"
                )
            records.append((f"{path}: line {reader.line_num}", dict(zip(header, fields))))
    except csv.Error as err:
        raise DataError(f"{path}: line {reader.line_num}: malformed CSV ({err})") from err
    return records


def _jsonl_records(path: Path) -> list[tuple[str, dict]]:
    """(where, object) of each line of a JSON Lines file; every object needs a `text`."""
    records = []
    for number, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{path}: line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{where}: not valid JSON ({err.msg})") from err
        if not isinstance(record, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}")
        if "text" not in record:
            raise DataError(f"{where}: no 'text' field")
        records.append((where, record))
    return records


# ---------------------------------------------------------------------------- both loaders


def _finish(pairs: pd.DataFrame, folder: Path) -> pd.DataFrame:
    """The final table: image paths resolved inside `folder` (missing -> "", with one
    MissingImagesWarning), unique post ids, and exactly the columns COLUMNS."""
    folder = folder.resolve()
    image_paths, missing = [], []
    for image, where in zip(pairs["image"], pairs["where"]):
        path = os.path.join(folder, image)  # an absolute `image` stays as it is
        if not image:
            image_paths.append("")
        elif not os.path.isfile(path):  # never opened, so it needs no check
            image_paths.append("")
            missing.append(path)
        else:
            try:
                image_paths.append(str(resolve_inside(folder, image)))
            except ImageError as err:
                raise DataError(f"{where}: image {image!r} refused: it lies outside {folder}") from err
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
    frame = pairs.assign(image_path=image_paths)[COLUMNS].reset_index(drop=True)
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
