"""Scoring an uploaded file of posts with every model of a run (the Analyse page's second tab).

The file is read by the library's one posts reader (`crisis_model.data.read_posts_upload`):
image paths must lie inside the data folder, and a post whose photo is refused, missing or
unreadable is scored from its text, with a note; a post with nothing to read keeps only its note.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd

from crisis_dashboard import export
from crisis_dashboard.names import CANNOT_JUDGE, pretty, task_title
from crisis_model import CrisisModel, Prediction
from crisis_model.data import read_posts_upload
from crisis_model.data.table import NOTHING_TO_ANALYSE
from crisis_model.errors import DataError
from crisis_model.scoring.columns import answer_cells, column_prefix
from crisis_model.scoring.posts import predict_each

MAX_BATCH_ROWS = 2000  # posts per uploaded file
DECIMALS = 4  # of every probability and weight, on screen and in the download
RESULT_CAPTION = (
    "Each task's answer is in the column named after the task, in words. The columns after it are for other "
    "tools: the label as the model names it (`..._label`), how sure it was (`..._confidence`), each category's "
    "probability (`..._prob_...`) and how much the words', the photo's and the joint vote counted (`..._weight`)."
)


def read_batch_file(data: bytes, name: str, data_root: Path | None) -> pd.DataFrame:
    """The posts of an uploaded CSV or JSONL file (see read_posts_upload); DataError when it
    cannot be read or holds more than MAX_BATCH_ROWS posts."""
    frame = read_posts_upload(data, name, data_root)
    if len(frame) > MAX_BATCH_ROWS:
        raise DataError(
            f"{name}: {len(frame):,} posts; at most {MAX_BATCH_ROWS:,} are scored at once here. "
            "Split the file, or score it with the command line."
        )
    return frame


def as_uploaded(frame: pd.DataFrame) -> pd.DataFrame:
    """The file's own columns, as written (the image path as given, not resolved)."""
    return pd.DataFrame(
        {name: frame["image_given" if name == "image_path" else name] for name in frame.attrs.get("header", ["text"])}
    )


def score_batch(
    frame: pd.DataFrame,
    models: Mapping[str, CrisisModel],
    progress: Callable[[float, str], None] | None = None,
    batch_size: int = 32,
) -> pd.DataFrame:
    """The file's own columns with, per model (keyed by the run's name, e.g. "damage"), its answer
    under the task's display name ("Damage severity": "Severe damage", or "Cannot judge"), then the
    machine columns a scored collection has (the label as the model names it, its confidence, the
    probabilities and the three evidence weights); `has_photo` and a `note` column say what was
    used, skipped or ignored. Each post is read once for every model (`predict_each`); `progress` gets the
    fraction done and a line to show."""
    texts = frame["text"].tolist()
    images = [path or None for path in frame["image_path"]]
    notes = frame["note"].tolist()
    usable = [i for i, note in enumerate(notes) if note != NOTHING_TO_ANALYSE]
    out = as_uploaded(frame)
    results: dict[str, dict[int, Prediction]] = {name: {} for name in models}
    for start in range(0, len(usable), batch_size):
        chunk = usable[start : start + batch_size]
        posts = [{"text": texts[i], "image": images[i]} for i in chunk]
        for name, answers in predict_each(models, posts, batch_size=batch_size).items():  # each post read once
            for i, scored in zip(chunk, answers):
                if isinstance(scored, str):  # a post with no text whose photo is unreadable: the others still count
                    notes[i] = scored
                else:
                    results[name][i] = scored
        if progress:
            done = min(start + batch_size, len(usable))
            progress(done / max(len(usable), 1), f"{done:,} of {len(usable):,} posts, every task")
    for name, model in models.items():
        _add_columns(out, name, model, results[name], len(texts))
        for i, prediction in results[name].items():
            for warning in prediction.explanation.warnings:
                notes[i] = notes[i] or warning.split(": ", 1)[-1]
            if prediction.cannot_judge:
                notes[i] = "; ".join(filter(None, [notes[i], f"{name}: {prediction.cannot_judge}"]))
    out["has_photo"] = [bool(image) for image in images]
    out["note"] = notes
    return out


def display_name(name: str, model: CrisisModel) -> str:
    """'humanitarian' -> 'Humanitarian category'; a second run of a task keeps its folder."""
    return task_title(model.config.task) + name.removeprefix(model.config.task)


def _add_columns(out: pd.DataFrame, name: str, model: CrisisModel, results: dict[int, Prediction], rows: int) -> None:
    """The task's answer in words, then its columns as a scored collection has them (empty where the
    model cannot judge a post), probabilities and weights to DECIMALS places."""
    prefix, labels = column_prefix(name), model.config.label_names
    out[display_name(name, model)] = [
        (CANNOT_JUDGE if results[i].label is None else pretty(results[i].label)) if i in results else None
        for i in range(rows)
    ]
    cells = [answer_cells(prefix, labels, results.get(i)) for i in range(rows)]
    for key in cells[0]:
        out[key] = [round(c[key], DECIMALS) if isinstance(c[key], float) else c[key] for c in cells]


def on_screen(result: pd.DataFrame) -> pd.DataFrame:
    """The scored table as the page shows it: every number with DECIMALS places and an empty cell
    empty (Streamlit's table draws a missing value as "None", whatever a Styler says)."""
    shown = result.copy()
    for column in shown.columns:
        if not pd.api.types.is_bool_dtype(shown[column]):
            shown[column] = [_screen_cell(value) for value in shown[column]]
    return shown


def _screen_cell(value: object) -> object:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.{DECIMALS}f}" if isinstance(value, float) else value


def as_csv(result: pd.DataFrame) -> bytes:
    """The scored table as the CSV the analyst downloads: every number with the same DECIMALS places."""
    return export.to_csv(result, float_format=f"%.{DECIMALS}f")
