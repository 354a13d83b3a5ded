"""A user's own posts: a CSV file or a JSON Lines file, as one table (see crisis_model.data.table).

`text` is required; `image_path` (relative to the image folder, and inside it), `label`,
`post_id`, `tweet_id`, `event` and `split` are optional. Without them a post has no image, label
"", post_id its row number (from 1), event and split "user". Other columns are kept.

`read_posts` is the one parser: train.py reads a training file with `load_posts_file` (a post
with nothing to read, or an image path outside the file's folder, is an error there), the
dashboard reads an uploaded file to score (such posts keep a note and the rest is scored).
A file that cannot be read whole is refused naming the line: a quote never closed (the reader is
strict: it would swallow the rows after it), a JSON field of the wrong type (a text that is a
number, a list or an object is not read as its str()), a lone surrogate escape.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pandas as pd

from crisis_model.data.files import decode_utf8, lone_surrogate, read_text
from crisis_model.data.table import COLUMNS, NOTHING_TO_ANALYSE, build_table
from crisis_model.errors import DataError

TEXT_FIELDS = ("text", "image_path", "label", "event", "split")
ID_FIELDS = ("post_id", "tweet_id")


def load_posts_file(path: str | Path) -> pd.DataFrame:
    """A posts file for training or evaluation, image paths relative to its folder (COLUMNS only).
    DataError on a post with neither text nor an image_path, or an image path outside the folder."""
    path = Path(path)
    frame = read_posts(read_text(path), str(path), path.parent, refuse_outside=True)
    empty = frame["note"] == NOTHING_TO_ANALYSE
    if empty.any():
        raise DataError(f"{frame.attrs['where'][int(empty.argmax())]}: the post has neither text nor an image_path")
    return frame[COLUMNS]


def read_posts_upload(data: bytes, name: str, image_root: Path | None) -> pd.DataFrame:
    """An uploaded posts file (its name's suffix says CSV or JSON Lines), image paths relative to
    `image_root`. Posts whose image is refused, missing or absent keep a `note` saying so."""
    if not data:
        raise DataError(f"{name}: the file is empty.")
    return read_posts(decode_utf8(data, name), name, image_root, refuse_outside=False)


def read_posts(text: str, source: str, image_root: Path | None, refuse_outside: bool) -> pd.DataFrame:
    """The posts in `text` (the content of `source`, a .csv or .jsonl name) as one table with a
    `note` column and `image_given` (the image path as written); `attrs["where"]` holds each row's
    "<source>: line <n>", `attrs["header"]` the file's own column names."""
    suffix = Path(source).suffix.lower()
    if suffix == ".csv":
        records = _csv_records(text, source)
    elif suffix in (".jsonl", ".ndjson"):
        records = _jsonl_records(text, source)
    else:
        raise DataError(f"{source}: unsupported posts file type {suffix!r}; use .csv or .jsonl")
    if not records:
        raise DataError(f"{source}: no posts in the file, only a header")
    rows = []
    for number, (where, record) in enumerate(records, start=1):
        post = {str(key): "" if value is None else str(value) for key, value in record.items()}
        image = post.pop("image_path", "")
        post_id = post.get("post_id") or str(number)
        rows.append(
            {
                **post,
                "post_id": post_id,
                "tweet_id": post.get("tweet_id") or post_id,
                "event": post.get("event") or "user",
                "split": post.get("split") or "user",
                "image": image,
                "image_given": image,  # the path as written, beside the resolved image_path
                "label": post.get("label", ""),
                "where": where,
            }
        )
    frame = build_table(pd.DataFrame(rows, dtype=str), image_root, refuse_outside=refuse_outside)
    frame.attrs["where"] = [where for where, _ in records]
    frame.attrs["header"] = list(dict.fromkeys(key for _, record in records for key in record))
    return frame


def _csv_records(text: str, source: str) -> list[tuple[str, dict[str, str]]]:
    """(where, row) of each row of a CSV text with a header line and a `text` column."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [name.strip() for name in next(reader, [])]
        if "text" not in header:
            raise DataError(f"{source}: line 1: no 'text' column; the header has {', '.join(header) or 'nothing'}")
        records = []
        for fields in reader:
            if not fields:
                continue
            if len(fields) != len(header):
                raise DataError(
                    f"{source}: line {reader.line_num}: {len(fields)} fields where the header has {len(header)}"
                )
            records.append((f"{source}: line {reader.line_num}", dict(zip(header, fields))))
    except csv.Error as err:
        raise DataError(f"{source}: line {reader.line_num}: malformed CSV ({err})") from err
    return records


def _jsonl_records(text: str, source: str) -> list[tuple[str, dict]]:
    """(where, object) of each line of a JSON Lines text; every object needs a `text`."""
    records = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{source}: line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{where}: not valid JSON ({err.msg})") from err
        except RecursionError:
            raise DataError(f"{where}: JSON nested too deeply to read") from None
        if not isinstance(record, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}")
        if "text" not in record:
            raise DataError(f"{where}: no 'text' field")
        _check_fields(record, where)
        records.append((where, record))
    return records


def _check_fields(record: dict, where: str) -> None:
    """DataError for a known field that is not text (an id may be a whole number) or a string that
    holds a lone surrogate."""
    for key in TEXT_FIELDS + ID_FIELDS:
        value = record.get(key)
        whole = key in ID_FIELDS and isinstance(value, int) and not isinstance(value, bool)
        if value is not None and not isinstance(value, str) and not whole:
            raise DataError(f"{where}: '{key}' must be text, not {type(value).__name__} {str(value)[:40]}")
    for key, value in record.items():
        for part in (key, value) if isinstance(value, str) else (key,):
            if (at := lone_surrogate(part)) is not None:
                raise DataError(f"{where}: '{key}' holds {part[at]!r}, half of a UTF-16 pair, which is no character")
