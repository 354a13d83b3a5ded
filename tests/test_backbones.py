"""Backbones: pooling rules, the offline MiniLM, and a fast, clear failure when pretrained
weights are neither local nor downloadable."""

from __future__ import annotations

import time

import pytest
import torch

from crisis_model import BackboneUnavailableError, CrisisModel, predict, preset_config
from crisis_model.model.image_encoder import ImageEncoder, build_cnn, tiny_resnet
from crisis_model.model.offline import reachable


def test_image_encoder_gives_49_regions_and_their_mean() -> None:
    encoder = ImageEncoder(tiny_resnet()).eval()
    features = encoder(torch.randn(2, 3, 224, 224))
    assert features.region_states.shape == (2, 49, 512)
    assert torch.allclose(features.pooled, features.region_states.mean(1))
    # other sizes are pooled onto the same 7x7 grid
    assert encoder(torch.randn(1, 3, 160, 160)).region_states.shape == (1, 49, 512)


def test_minilm_preset_loads_offline_and_mean_pools() -> None:
    model = CrisisModel.from_config(preset_config("minilm", fusion="text")).eval()
    assert model.text_encoder.pooling == "mean"
    assert model.config.text_backbone_config["model_type"] == "bert"
    preds = predict(model, [{"text": "Flooded streets in Houston, people need boats"}])
    assert preds[0].label in ("informative", "not_informative")


@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_the_text_reader_pools_the_last_real_token_or_the_posts_own_tokens(pooling: str) -> None:
    from crisis_model.model.modeling import TEXT_INPUTS
    from tests.conftest import tiny_model

    model = tiny_model("text", text_pooling=pooling).eval()
    assert model.text_encoder.pooling == pooling
    encoded = model.tokenize(["short", "a much longer post about the flood in the city"])
    features = model.text_encoder(*(encoded[k] for k in TEXT_INPUTS))
    if pooling == "last":  # a causal LM's read of the whole prompt ends at its last real token
        last = int(encoded["attention_mask"][0].sum()) - 1
        assert torch.equal(features.pooled[0], features.token_states[0, last])
    else:  # the post's own tokens, not the prompt's
        own = encoded["post_mask"][1]
        assert 0 < int(own.sum()) < int(encoded["attention_mask"][1].sum())
        assert torch.allclose(features.pooled[1], features.token_states[1, own].mean(dim=0), atol=1e-6)


@pytest.mark.skipif(reachable("huggingface.co"), reason="the hub is reachable from here")
def test_hub_backbone_offline_fails_fast_with_advice(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    started = time.monotonic()
    with pytest.raises(BackboneUnavailableError, match="cannot be reached.*minilm' or 'tiny' preset"):
        CrisisModel.from_config(preset_config("paper", fusion="text"))
    print(f"failed after {time.monotonic() - started:.1f} s")


@pytest.mark.skipif(reachable("download.pytorch.org"), reason="torchvision's host is reachable")
def test_imagenet_weights_offline_fail_with_advice(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(BackboneUnavailableError, match="image_pretrained=False"):
        build_cnn("resnet50", pretrained=True)
