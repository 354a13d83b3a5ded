"""The dashboard's cached loaders: models, a collection's DuckDB connection and the uploaded photo
with `st.cache_resource` (one copy per process, shared by pages and sessions, never copied); tables,
JSON, images read from disk and explanations with `st.cache_data` (a copy for each caller).

A key that names a file includes its modification time, so a retrained run or a rewritten file is
read again. Faults a user can cause raise CrisisLensError, which the pages show with `widgets.guard`.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image
from safetensors import SafetensorError, safe_open

from crisis_dashboard import browse
from crisis_dashboard import collection as collections
from crisis_model import CrisisModel, Prediction, load_model, predict, predictions
from crisis_model.config import WEIGHTS_FILE
from crisis_model.data import MissingImagesWarning, load_crisismmd
from crisis_model.data.images import load_image
from crisis_model.errors import CheckpointError, CrisisLensError, DataError, ImageError
from crisis_model.run_folder import HISTORY_FILE, PREDICTIONS_FILE, TaskRun, mtime
from crisis_model.scoring.posts import predict_each

MAX_IMAGE_BYTES = 20 * 1024 * 1024  # an uploaded photo larger than this is refused
ROUTING_SAMPLE = 40  # posts per predicted class scored again for the mean routing matrices


# ------------------------------------------------------------------------------ models


@st.cache_resource(show_spinner="Loading the model...", max_entries=8)
def _load_model(checkpoint: str, stamp: float) -> CrisisModel:
    return load_model(checkpoint)


def load_model_for(run: TaskRun) -> CrisisModel:
    """The run's model, loaded once per process. Raises CrisisLensError."""
    return _load_model(str(run.checkpoint), run.stamp)


@st.cache_data(show_spinner=False, max_entries=16)
def _parameter_counts(weights: str, stamp: float) -> tuple[int, int]:
    total = head = 0
    try:
        with safe_open(weights, framework="pt") as handle:
            for key in handle.keys():  # noqa: SIM118 (a safetensors handle, not a dict)
                n = math.prod(handle.get_slice(key).get_shape())
                total += n
                head += n if key.startswith("head.") else 0
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{weights}: not a readable safetensors file ({err}).") from None
    return total, head


def parameter_counts(run: TaskRun) -> tuple[int, int]:
    """(all parameters, those of the fusion head) from the safetensors header; nothing is loaded."""
    return _parameter_counts(str(run.checkpoint / WEIGHTS_FILE), run.stamp)


# ------------------------------------------------------------------------------ run files


@st.cache_data(show_spinner="Reading the predictions...", max_entries=16)
def _read_predictions(path: str, stamp: float) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several types for a broken file
        raise DataError(f"{path}: not a readable predictions table ({err}).") from None
    return predictions.normalise(frame)


def _predictions_path(run: TaskRun) -> Path:
    path = run.file(PREDICTIONS_FILE)
    if not path.is_file():
        raise DataError(f"{run.folder}: no {PREDICTIONS_FILE}; train.py writes it after training.")
    return path


def load_predictions(run: TaskRun) -> pd.DataFrame:
    path = _predictions_path(run)
    return _read_predictions(str(path), mtime(path))


@st.cache_data(show_spinner=False, max_entries=16)
def _split_sizes(path: str, stamp: float) -> dict[str, int]:
    return {str(k): int(v) for k, v in _read_predictions(path, stamp)["split"].value_counts().items()}


def split_sizes(run: TaskRun) -> dict[str, int]:
    """Posts per split in the run's predictions; a small cached dict, not the table, for the model cards."""
    path = _predictions_path(run)
    return _split_sizes(str(path), mtime(path))


@st.cache_data(show_spinner=False, max_entries=64)
def _read_json(path: str, stamp: float) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: not readable JSON ({err}).") from None


def read_json(path: Path) -> Any | None:
    """The JSON file's content, or None when the file does not exist."""
    if not path.is_file():
        return None
    return _read_json(str(path), mtime(path))


def read_history(run: TaskRun) -> pd.DataFrame | None:
    """history.jsonl as a table (a torn last line, as a kill can leave, is skipped)."""
    path = run.file(HISTORY_FILE)
    if not path.is_file():
        return None
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            rows.append({k: v for k, v in value.items() if isinstance(v, (int, float, str)) or v is None})
    return pd.DataFrame(rows) if rows else None


# ------------------------------------------------------------------------------ scored collections


@st.cache_data(show_spinner=False, max_entries=16)
def _open_collection(folder: str, stamp: float) -> collections.Collection:
    return collections.open_collection(folder)


def open_collection(folder: Path) -> collections.Collection:
    """A scored collection's manifest and summary (no rows). Raises DataError."""
    return _open_collection(str(folder), collections.stamp(folder))


@st.cache_resource(show_spinner=False, max_entries=4)
def _collection_connection(index: str):
    return collections.connect(Path(index))


def collection_connection(collection: collections.Collection):
    """A read-only connection to the collection's browse index, built on first use (once per
    version of the collection). Raises DataError."""
    index = collections.index_path(collection)
    if not index.is_file():
        with st.spinner(f"Indexing {collection.summary.get('scored', 'the')} posts for browsing (once)..."):
            index = collections.build_index(collection)
    return _collection_connection(str(index))


def collection_source(collection: collections.Collection, task: str) -> browse.Source:
    """The collection's posts with the answer of `task` (a column prefix), on its browse index.
    Raises DataError."""
    index = collections.index_path(collection)
    return browse.collection_source(collection_connection(collection), collection, task, f"{index}:{task}")


@st.cache_data(show_spinner=False, max_entries=64)
def _browse_page(version: str, _source: browse.Source, filters: tuple, order: str, number: int, size: int, fold: bool):
    return browse.page(_source, browse.Filters(*filters), order, number, size, fold)


def browse_page(
    source: browse.Source, filters: browse.Filters, order: str, number: int, size: int, fold: bool
) -> browse.Page:
    """A page of Browse (crisis_dashboard.browse.page), cached per question on a source on disk."""
    if source.version is None:  # a run's predictions, in memory: answered in milliseconds
        return browse.page(source, filters, order, number, size, fold)
    return _browse_page(source.version, source, filters.signature(), order, number, size, fold)


@st.cache_data(show_spinner=False, max_entries=8)
def _collection_errors(folder: str, stamp: float) -> pd.DataFrame:
    return collections.errors(collections.open_collection(folder))


def collection_errors(collection: collections.Collection) -> pd.DataFrame:
    """The first rows that could not be scored, with their reason."""
    return _collection_errors(str(collection.folder), collections.stamp(collection.folder))


# ------------------------------------------------------------------------------ datasets


def _data_stamp(root: Path) -> float:
    return max(mtime(root), mtime(root / "crisismmd_datasplit_all"), mtime(root / "annotations"))


@st.cache_data(show_spinner="Reading the dataset...", max_entries=16)
def _load_dataset(root: str, task: str, stamp: float) -> tuple[pd.DataFrame, int]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingImagesWarning)
        frame = load_crisismmd(root, task, "agreed")
    return frame, int(frame.attrs.get("missing_images", 0))


def load_dataset(root: Path, task: str) -> tuple[pd.DataFrame, int]:
    """(posts of `task` with agreed labels, how many of them lost their missing image). Raises DataError."""
    return _load_dataset(str(root), task, _data_stamp(root))


# ------------------------------------------------------------------------------ images


@st.cache_data(show_spinner=False, max_entries=512)
def _open_image(path: str, stamp: float) -> Image.Image:
    return load_image(path)


def open_image(path: str | None) -> tuple[Image.Image | None, str | None]:
    """(PIL image or None, message or None) for a dataset image path."""
    if not path:
        return None, None
    try:
        return _open_image(path, mtime(Path(path))), None
    except ImageError as err:
        return None, str(err)


def decode_upload(data: bytes | None) -> tuple[Image.Image | None, str | None]:
    """(PIL image or None, message or None) for the bytes of an uploaded photo (None: no upload; an
    empty file is a photo that cannot be read, and says so)."""
    if data is None:
        return None, None
    if len(data) > MAX_IMAGE_BYTES:
        return None, (
            f"the photo is {len(data) / 1e6:.1f} MB; photos up to {MAX_IMAGE_BYTES // 2**20} MB are accepted."
        )
    return _decode_upload(data)


@st.cache_resource(show_spinner=False, max_entries=4)
def _decode_upload(data: bytes) -> tuple[Image.Image | None, str | None]:
    # decoded once per photo: the page reruns at every click on its explanation (the image is only read)
    try:
        return load_image(data), None
    except ImageError as err:
        return None, str(err)


# ------------------------------------------------------------------------------ predictions


@st.cache_data(show_spinner="Explaining the post...", max_entries=256)
def _predict_one(checkpoint: str, stamp: float, text: str, image: Any) -> Prediction:
    return predict(_load_model(checkpoint, stamp), [{"text": text, "image": image}], reliance=True)[0]


def explain(run: TaskRun, text: str, image: str | bytes | None) -> Prediction:
    """The run's Prediction for one post, with its explanation and the reliance on its words and
    photo measured by scoring it again without each. Raises CrisisLensError."""
    return _predict_one(str(run.checkpoint), run.stamp, text or "", image or None)


@st.cache_data(show_spinner="Explaining the post...", max_entries=256)
def _explain_each(
    checkpoints: tuple[tuple[str, str, float], ...], text: str, image: Any
) -> dict[str, Prediction | CrisisLensError]:
    answers: dict[str, Prediction | CrisisLensError] = {}
    models = {}
    for name, checkpoint, stamp in checkpoints:
        try:
            models[name] = _load_model(checkpoint, stamp)
        except CrisisLensError as err:
            answers[name] = err
    for name, (answer,) in predict_each(models, [{"text": text, "image": image}], reliance=True).items():
        answers[name] = answer if isinstance(answer, Prediction) else CrisisLensError(answer)
    return {name: answers[name] for name, _, _ in checkpoints}


def explain_each(
    runs: Iterable[TaskRun], text: str, image: str | bytes | None
) -> dict[str, Prediction | CrisisLensError]:
    """`explain` for several runs (by run name) at once: the post is read once where their models
    share a reader (crisis_model.reading), and only the heads run per run. A run that cannot answer
    (its checkpoint unreadable, nothing it can read in the post) has the error instead."""
    checkpoints = tuple((run.name, str(run.checkpoint), run.stamp) for run in runs)
    return _explain_each(checkpoints, text or "", image or None)


@st.cache_data(show_spinner=False, max_entries=8)
def _routing_profile(checkpoint: str, stamp: float, predictions: str, pstamp: float, per_class: int) -> dict:
    # predictions.parquet keeps only each post's coupling per fused capsule (routing_mean), not the
    # primary x fused matrix, so a sample of each class is scored again.
    frame = _read_predictions(predictions, pstamp)
    chosen = [
        i
        for _, group in frame.groupby("predicted_label")
        for i in group.sample(min(len(group), per_class), random_state=0).index
    ]
    sample = frame.loc[chosen]
    scored = predict(
        _load_model(checkpoint, stamp), [{"text": r.text, "image": r.image_path or None} for r in sample.itertuples()]
    )
    matrices, counts, primary = {}, {}, []
    for label in sorted(set(sample["predicted_label"])):
        stack = [
            p.explanation.routing_coefficients
            for p, said in zip(scored, sample["predicted_label"])
            if said == label and p.explanation.routing_coefficients is not None
        ]
        if stack:
            matrices[label] = np.mean(np.stack(stack), axis=0)
            counts[label] = len(stack)
            primary = scored[0].explanation.primary_groups
    return {"matrices": matrices, "counts": counts, "primary": primary, "posts": len(sample)}


def routing_profile(run: TaskRun, per_class: int = ROUTING_SAMPLE) -> dict:
    """Mean routing matrix (primary x fused capsules) per predicted class, from up to `per_class`
    posts of each class scored again (cached per run)."""
    path = _predictions_path(run)
    return _routing_profile(str(run.checkpoint), run.stamp, str(path), mtime(path), per_class)
