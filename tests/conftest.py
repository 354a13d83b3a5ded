"""Shared fixtures: a small generated demo dataset and tiny models, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from crisis_model import CrisisModel, preset_config
from crisis_model.model.modeling import TEXT_INPUTS

SHARED_CRISISMMD = Path(__file__).resolve().parents[2] / "shared" / "crisismmd"

TINY_TEXTS = [
    "flood water rising in the city, families need rescue boats",
    "bridge collapsed after the earthquake, road closed",
    "volunteers collect donations of food and water for victims",
    "what a lovely sunny day at the beach with friends",
    "new phone case arrived today, so happy",
    "three people injured and two missing after the storm",
] * 5


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    """A small synthetic CrisisMMD folder (60 tweets, images, all three tasks and splits)."""
    from crisis_model.data.demo import generate_demo_dataset

    return generate_demo_dataset(tmp_path_factory.mktemp("demo") / "data", n_tweets=60, seed=0)


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)


def tiny_model(fusion: str = "full", **overrides) -> CrisisModel:
    config = preset_config("tiny", fusion=fusion, **overrides)
    return CrisisModel.from_config(config, train_texts=TINY_TEXTS)


def text_inputs(model: CrisisModel, texts: list[str]) -> dict:
    """What the model's forward (and its text reader's) takes of `model.tokenize(texts)`."""
    encoded = model.tokenize(texts)
    return {key: encoded[key] for key in TEXT_INPUTS}
