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

from crisis_model import CrisisModel, Prediction
from crisis_model.data import read_posts_upload
from crisis_model.data.table import NOTHING_TO_ANALYSE
from crisis_model.errors import DataError
from crisis_model.scoring.columns import answer_cells, column_prefix
from crisis_model.scoring.posts import predict_each

MAX_BATCH_ROWS = 2000  # posts per uploaded file


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
    """The file's own columns with, per model (keyed by the name that prefixes its columns), the
    predicted label, its confidence, the probabilities and the three evidence weights; `has_photo`
    and a `note` column say what was used, skipped or ignored."""
    texts = frame["text"].tolist()
    images = [path or None for path in frame["image_path"]]
    notes = frame["note"].tolist()
    usable = [i for i, note in enumerate(notes) if note != NOTHING_TO_ANALYSE]
    out = as_uploaded(frame)
    steps = max(1, len(models) * math.ceil(len(usable) / batch_size))
    step = 0
    for name, model in models.items():
        results: dict[int, Prediction] = {}
        for start in range(0, len(usable), batch_size):
            chunk = usable[start : start + batch_size]
            posts = [{"text": texts[i], "image": images[i]} for i in chunk]
            for i, scored in zip(chunk, predict_each(model, posts, batch_size=batch_size)):
                if isinstance(scored, str):  # a post with no text whose photo is unreadable: the others still count
                    notes[i] = scored
                else:
                    results[i] = scored
            step += 1
            if progress:
                progress(step / steps, f"{name}: {min(start + batch_size, len(usable))} of {len(usable)} posts")
        _add_columns(out, name, model, results, len(texts))
        for i, prediction in results.items():
            for warning in prediction.explanation.warnings:
                notes[i] = notes[i] or warning.split(": ", 1)[-1]
            if prediction.cannot_judge:
                notes[i] = "; ".join(filter(None, [notes[i], f"{name}: {prediction.cannot_judge}"]))
    out["has_photo"] = [bool(image) for image in images]
    out["note"] = notes
    return out


def _add_columns(out: pd.DataFrame, name: str, model: CrisisModel, results: dict[int, Prediction], rows: int) -> None:
    """The task's columns, as a scored collection has them (empty where the model cannot judge a post)."""
    prefix, labels = column_prefix(name), model.config.label_names
    cells = [answer_cells(prefix, labels, results.get(i)) for i in range(rows)]
    for key in cells[0]:
        out[key] = [round(c[key], 4) if isinstance(c[key], float) else c[key] for c in cells]
