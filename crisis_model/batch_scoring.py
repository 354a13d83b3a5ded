"""Scoring an uploaded CSV of posts with every model of a run (the Analyse page's second tab)."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

import pandas as pd

from crisis_model.errors import CrisisLensError, DataError, ImageError
from crisis_model.images import resolve_inside

if TYPE_CHECKING:
    from crisis_model.model import CrisisModel

MAX_BATCH_ROWS = 2000  # posts per uploaded CSV


def read_batch_csv(data: bytes, name: str = "uploaded CSV") -> pd.DataFrame:
    """Rows of an uploaded CSV with a `text` column (and optionally `image_path`). DataError when not."""
    if not data:
        raise DataError(f"{name}: the file is empty.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(f"{name}: not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8 CSV.") from None
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error, ValueError) as err:
        raise DataError(f"{name}: not a readable CSV file ({str(err).strip().splitlines()[0]}).") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if "text" not in frame.columns:
        raise DataError(f"{name}: no 'text' column; the header has: {', '.join(map(str, frame.columns)) or 'nothing'}. "
                        "The first line must name the columns, one of them `text` (and optionally `image_path`).")
    if frame.empty:
        raise DataError(f"{name}: no posts, only a header line.")
    if len(frame) > MAX_BATCH_ROWS:
        raise DataError(f"{name}: {len(frame):,} posts; at most {MAX_BATCH_ROWS:,} are scored at once here. "
                        "Split the file, or score it with the command line.")
    return frame


def _batch_image(value: str, data_root: Path | None) -> tuple[str | None, str]:
    """(resolved image path or None, note) for an image_path cell: only files inside the data folder."""
    value = (value or "").strip()
    if not value:
        return None, ""
    if data_root is None:
        return None, "image ignored (no data folder to look in): analysed as text only"
    try:
        path = resolve_inside(data_root, value)
    except ImageError:
        return None, f"image ignored (it must lie inside {data_root}): analysed as text only"
    if not path.is_file():
        return None, "image not found: analysed as text only"
    return str(path), ""


def score_batch(frame: pd.DataFrame, models: Mapping[str, "CrisisModel"], data_root: Path | None,
                progress: Callable[[float, str], None] | None = None, batch_size: int = 32) -> pd.DataFrame:
    """The CSV's rows with, per model (keyed by the name that prefixes its columns), the predicted
    label, its confidence, the probabilities and the share taken from the words; a `note` column
    says what was skipped or ignored."""
    cells = frame["image_path"] if "image_path" in frame else pd.Series([""] * len(frame), index=frame.index)
    images, notes = [], []
    for value in cells:
        path, note = _batch_image(value, data_root)
        images.append(path)
        notes.append(note)
    texts = frame["text"].fillna("").astype(str).tolist()
    usable = [i for i, (text, image) in enumerate(zip(texts, images)) if text.strip() or image]
    for i in sorted(set(range(len(texts))) - set(usable)):
        notes[i] = "nothing to analyse: empty text and no photo"
    out = frame.copy()
    steps = max(1, len(models) * math.ceil(len(usable) / batch_size))
    step = 0
    for name, model in models.items():
        results: dict[int, Any] = {}
        for start in range(0, len(usable), batch_size):
            chunk = usable[start:start + batch_size]
            try:
                preds = model.predict([{"text": texts[i], "image": images[i]} for i in chunk], batch_size=batch_size)
                results.update(zip(chunk, preds))
            except CrisisLensError:  # a post with no text whose photo is unreadable: the others still count
                for i in chunk:
                    try:
                        results[i] = model.predict([{"text": texts[i], "image": images[i]}])[0]
                    except CrisisLensError:
                        notes[i] = "nothing to analyse: empty text and an unreadable photo"
            step += 1
            if progress:
                scored = min(start + batch_size, len(usable))
                progress(step / steps, f"{name}: {scored} of {len(usable)} posts")

        def column(value: Callable[[Any], Any]) -> list[Any]:
            return [value(results[i]) if i in results else None for i in range(len(texts))]

        prefix = name.replace(" ", "_").replace("(", "").replace(")", "")
        out[f"{prefix}_label"] = column(lambda p: p.label)
        out[f"{prefix}_confidence"] = column(lambda p: round(p.confidence, 4))
        for label in model.config.label_names:
            out[f"{prefix}_prob_{label}"] = column(lambda p: round(p.probabilities[label], 4))
        out[f"{prefix}_words_share"] = column(lambda p: round(p.explanation.modality_weights["text"], 4))
        for i, prediction in results.items():
            for warning in prediction.explanation.warnings:
                notes[i] = notes[i] or warning.split(": ", 1)[-1]
    out["has_photo"] = [bool(image) for image in images]
    out["note"] = notes
    return out
