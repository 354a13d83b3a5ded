"""CrisisLens: multimodal (text + image) classification of crisis posts.

A PyTorch implementation of "Contextual Attention-Based Multimodal Fusion of LLM and CNN for
Sentiment Analysis" (arXiv 2508.13196), with the fusion the paper leaves open fixed in
`crisis_model.fusion`.
"""

from crisis_model.config import FUSIONS, PRESETS, PROMPTS, CrisisConfig, preset_config
from crisis_model.errors import (
    BackboneUnavailableError,
    CheckpointError,
    CrisisLensError,
    DataError,
    ImageError,
)
from crisis_model.inference import Explanation, Post, Prediction
from crisis_model.model import CrisisModel, CrisisOutput


def load_model(directory, device=None) -> CrisisModel:
    """Loads a checkpoint folder written by `CrisisModel.save_pretrained` (or by train.py)."""
    return CrisisModel.from_pretrained(directory, device=device)


__all__ = [
    "BackboneUnavailableError", "CheckpointError", "CrisisConfig", "CrisisLensError", "CrisisModel",
    "CrisisOutput", "DataError", "Explanation", "FUSIONS", "ImageError", "PRESETS", "PROMPTS", "Post",
    "Prediction", "load_model", "preset_config",
]
