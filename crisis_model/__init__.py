"""CrisisLens: multimodal (text + image) classification of crisis posts.

A PyTorch implementation of "Contextual Attention-Based Multimodal Fusion of LLM and CNN for
Sentiment Analysis" (arXiv 2508.13196), with the fusion the paper leaves open fixed in
`crisis_model.model.fusion`.

    model = crisis_model.load_model("runs/demo/informative/checkpoint")
    [pred] = crisis_model.predict(model, [{"text": "Bridge collapsed on route 9", "image": "photo.jpg"}])
    # or, the same: model.predict([...])

The layers, each importing only the ones above it (but for CrisisModel.predict, which calls
inference when it is called):
    errors, config, options, runtime, atomic_files, file_faults   errors, the model's config (checked
                     value by value), command-line options from config fields, devices and processes,
                     writes that a kill cannot tear, why a path cannot be used
    data/          CrisisMMD, posts files, photos, the demo dataset, near-duplicates, post times
    model/         the readers (text, photo), the fusion head, CrisisModel (save/load)
    reading        which models read a post the same way (digests of weights, tokenizer, prompt)
    inference      Post in, Prediction out, one reading for every task (predict_tasks); explanation
                   (what it looked at); faithfulness (is it so)
    predictions, metrics, run_folder   the predictions table's columns, their scores, what train.py
                   writes and how it is found again
    scoring/       a whole collection scored into Parquet parts (`python -m crisis_model.score`)
    corrections/   reviewers' corrections (SQLite), the review queue, the reviewed set, the report
    training/      the loop behind train.py, the feature cache, the demo models
Scoring and inference never import training; none of them imports the dashboard (tests/test_layout.py).
"""

from crisis_model.config import FUSIONS, PRESETS, PROMPTS, CrisisConfig, preset_config
from crisis_model.errors import (
    BackboneUnavailableError,
    CheckpointError,
    ConfigError,
    CrisisLensError,
    DataError,
    ImageError,
    TrainingError,
)
from crisis_model.inference import Explanation, Post, Prediction, predict, predict_tasks
from crisis_model.model import CrisisModel, CrisisOutput


def load_model(directory, device=None) -> CrisisModel:
    """Loads a checkpoint folder written by `CrisisModel.save_pretrained` (or by train.py: its
    <run>/checkpoint/)."""
    return CrisisModel.from_pretrained(directory, device=device)


__all__ = [
    "BackboneUnavailableError",
    "CheckpointError",
    "ConfigError",
    "CrisisConfig",
    "CrisisLensError",
    "CrisisModel",
    "CrisisOutput",
    "DataError",
    "Explanation",
    "FUSIONS",
    "ImageError",
    "PRESETS",
    "PROMPTS",
    "Post",
    "Prediction",
    "TrainingError",
    "load_model",
    "predict",
    "predict_tasks",
    "preset_config",
]
