"""CrisisLens: multimodal (text + image) classification of crisis posts.

A PyTorch implementation of "Contextual Attention-Based Multimodal Fusion of LLM and CNN for
Sentiment Analysis" (arXiv 2508.13196), with the fusion the paper leaves open fixed in
`crisis_model.model.fusion`.

    model = crisis_model.load_model("runs/demo/informative/checkpoint")
    [pred] = crisis_model.predict(model, [{"text": "Bridge collapsed on route 9", "image": "photo.jpg"}])

The packages: `model` (readers, fusion, CrisisModel), `data` (CrisisMMD, posts files, images,
demo), `training` (the loop behind train.py, features cache, metrics), `inference` (Post in,
Prediction out), `run_folder` (what train.py writes). None of them imports the dashboard.
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
from crisis_model.inference import Explanation, Post, Prediction, predict
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
    "preset_config",
]
