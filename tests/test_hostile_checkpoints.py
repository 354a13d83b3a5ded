"""Hostile checkpoints for `crisis_model.load_model`: each one broken in one way, each refused with a
CheckpointError naming the file at fault (config.json, model.safetensors, tokenizer/) and the field
or tensor, before anything is built from it; never a raw Python error, never a model that answers
with NaN. And a checkpoint is written under the umask, as any new file is. HOSTILE_CASES is this
surface's list (tests/hostile_cases.py counts every surface's)."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file

from crisis_model import CheckpointError, load_model
from crisis_model.model.text_encoder import load_tokenizer
from tests.conftest import tiny_model


@dataclass(frozen=True)
class Case:
    id: str
    spoil: Callable[[Path], Any]  # breaks the checkpoint folder it is given
    words: str  # of the error
    names: str = "config.json"  # the file or folder the error names


def config(**values: Any) -> Callable[[Path], None]:
    def spoil(folder: Path) -> None:
        saved = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**saved, **values}))

    return spoil


def backbone(**values: Any) -> Callable[[Path], None]:
    def spoil(folder: Path) -> None:
        saved = json.loads((folder / "config.json").read_text())
        saved["text_backbone_config"].update(values)
        (folder / "config.json").write_text(json.dumps(saved))

    return spoil


def weights(change: Callable[[dict[str, torch.Tensor]], None]) -> Callable[[Path], None]:
    def spoil(folder: Path) -> None:
        state = load_file(str(folder / "model.safetensors"))
        change(state)
        save_file(state, str(folder / "model.safetensors"))

    return spoil


def first_float(state: dict[str, torch.Tensor], value: float) -> None:
    name = sorted(k for k, v in state.items() if v.is_floating_point())[-1]
    state[name][..., 0] = value


def write(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_bytes(data)


def remove(name: str) -> Callable[[Path], None]:
    return lambda folder: shutil.rmtree(folder / name) if (folder / name).is_dir() else (folder / name).unlink()


def tokenizer_files(data: bytes) -> Callable[[Path], None]:
    return lambda folder: [path.write_bytes(data) for path in (folder / "tokenizer").iterdir()]


def tokenizer_of_another_model(folder: Path) -> None:
    tokenizer = load_tokenizer(str(folder / "tokenizer"))
    tokenizer.add_tokens([f"extra-token-{i}" for i in range(5000)])
    tokenizer.save_pretrained(str(folder / "tokenizer"))


def in_place_of(name: str, make: Callable[[Path], Any]) -> Callable[[Path], None]:
    """A file where a folder belongs, or the other way round."""

    def spoil(folder: Path) -> None:
        remove(name)(folder)
        make(folder / name)

    return spoil


def truncated(name: str, keep: int) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_bytes((folder / name).read_bytes()[:keep])


CHECKPOINT_CASES = [
    # ------------------------------------------------------------------ config.json: the values
    Case("hidden-size-a-string", config(hidden_size="64"), "hidden_size must be a whole number, not '64'"),
    Case("hidden-size-negative", config(hidden_size=-64), "hidden_size must be a whole number from 1"),
    Case("hidden-size-zero", config(hidden_size=0), "hidden_size must be a whole number from 1"),
    Case("hidden-size-huge", config(hidden_size=10**9), "hidden_size must be a whole number from 1 to 8192"),
    Case("hidden-size-true", config(hidden_size=True), "hidden_size must be a whole number, not True"),
    Case("hidden-size-float", config(hidden_size=64.0), "hidden_size must be a whole number, not 64.0"),
    Case("hidden-size-not-heads-multiple", config(attention_heads=3), "multiple of attention_heads"),
    Case("max-text-tokens-a-string", config(max_text_tokens="96"), "max_text_tokens must be a whole number"),
    Case("max-text-tokens-zero", config(max_text_tokens=0), "max_text_tokens must be a whole number from 1"),
    Case("max-text-tokens-below-the-prompt", config(max_text_tokens=8), "leaving less than 16"),
    Case("dropout-seven-and-a-half", config(dropout=7.5), "dropout must be at least 0 and below 1, not 7.5"),
    Case("dropout-negative", config(dropout=-0.1), "dropout must be at least 0"),
    Case("dropout-nan", config(dropout=float("nan")), "dropout must be at least 0 and below 1, not nan"),
    Case("dropout-a-string", config(dropout="0.5"), "dropout must be a number, not '0.5'"),
    Case("label-names-empty", config(label_names=[]), "label_names must be two or more"),
    Case("label-names-one", config(label_names=["informative"]), "label_names must be two or more"),
    Case("label-names-repeated", config(label_names=["a", "a"]), "label_names must be two or more different"),
    Case("label-names-numbers", config(label_names=[1, 2]), "label_names must be a list of strings"),
    Case("label-names-a-string", config(label_names="ab"), "label_names must be a list of strings"),
    Case("fusion-unknown", config(fusion="sum"), "Unknown fusion 'sum'"),
    Case("backbone-mode-unknown", config(backbone_mode="half"), "Unknown backbone mode 'half'"),
    Case("text-pooling-unknown", config(text_pooling="max"), "Unknown text pooling 'max'"),
    Case("prompt-without-text", config(prompt="Summarize"), "must contain '{text}'"),
    Case("prompt-a-number", config(prompt=5), "prompt must be a string, not 5"),
    Case("requires-image-a-string", config(requires_image="no"), "requires_image must be true or false"),
    Case("image-size-zero", config(image_size=0), "image_size must be a whole number from 32"),
    Case("image-backbone-unknown", config(image_backbone="vgg"), "image_backbone: Unknown image backbone"),
    Case("unknown-key", config(secret=1), "unknown config keys ['secret']"),
    Case("preset-unknown", config(preset="huge"), "unknown preset 'huge'"),
    Case("finetune-layers-a-string", config(text_finetune_layers="2"), "text_finetune_layers must be a whole number"),
    Case(
        "finetune-layers-negative",
        config(text_finetune_layers=-1),
        "text_finetune_layers must be a whole number from 0",
    ),
    Case("finetune-layers-more-than-the-reader", config(text_finetune_layers=5), "more than the 2 layers"),
    Case("finetune-layers-with-lora", config(text_finetune_layers=1, backbone_mode="lora"), "use one or the other"),
    # ------------------------------------------------------------------ config.json: the language model's config
    Case("backbone-config-a-list", config(text_backbone_config=[1, 2]), "text_backbone_config must be an object"),
    Case("backbone-config-a-string", config(text_backbone_config="gpt2"), "text_backbone_config must be an object"),
    Case("backbone-config-missing", config(text_backbone_config=None), "text_backbone_config is missing"),
    Case("backbone-model-type-unknown", backbone(model_type="skynet"), "model_type 'skynet' is not a model"),
    Case("backbone-model-type-missing", backbone(model_type=None), "model_type None is not a model"),
    Case("backbone-width-a-string", backbone(n_embd="64"), "n_embd must be a whole number of at least 1, not '64'"),
    Case("backbone-layers-negative", backbone(n_layer=-2), "n_layer must be a whole number of at least 1"),
    Case("backbone-vocabulary-zero", backbone(vocab_size=0), "vocab_size must be a whole number of at least 1"),
    Case("backbone-heads-not-dividing", backbone(n_head=3), "not a gpt2 model transformers can build"),
    # ------------------------------------------------------------------ config.json: the file
    Case("config-not-json", write("config.json", b"{not json"), "not valid JSON"),
    Case("config-empty", write("config.json", b""), "not valid JSON"),
    Case("config-an-array", write("config.json", b"[]"), "expected a JSON object"),
    Case("config-nested-too-deep", write("config.json", b"[" * 100_000), "not valid JSON"),
    Case("config-not-utf8", write("config.json", b'{"task": "\xff"}'), "not valid JSON"),
    Case("config-missing", remove("config.json"), "missing; a checkpoint folder needs config.json"),
    Case("config-a-folder", in_place_of("config.json", Path.mkdir), "cannot be read"),
    # ------------------------------------------------------------------ model.safetensors
    Case(
        "weights-nan",
        weights(lambda state: first_float(state, float("nan"))),
        "holds NaN or infinite values",
        "model.safetensors",
    ),
    Case(
        "weights-infinite",
        weights(lambda state: first_float(state, float("-inf"))),
        "holds NaN or infinite",
        "model.safetensors",
    ),
    Case("weights-truncated", truncated("model.safetensors", 1000), "not a readable safetensors", "model.safetensors"),
    Case("weights-empty", write("model.safetensors", b""), "not a readable safetensors file", "model.safetensors"),
    Case(
        "weights-garbage", write("model.safetensors", b"\x00" * 64), "not a readable safetensors", "model.safetensors"
    ),
    Case(
        "weights-a-tensor-too-many",
        weights(lambda state: state.update(extra=torch.zeros(2))),
        "do not match",
        "model.safetensors",
    ),
    Case(
        "weights-a-tensor-missing",
        weights(lambda state: state.pop(sorted(state)[0])),
        "do not match",
        "model.safetensors",
    ),
    Case(
        "weights-a-tensor-reshaped",
        weights(lambda state: state.update({sorted(state)[0]: torch.zeros(3)})),
        "do not match",
        "model.safetensors",
    ),
    Case("weights-missing", remove("model.safetensors"), "model.safetensors is missing", "model.safetensors"),
    Case(
        "weights-a-folder", in_place_of("model.safetensors", Path.mkdir), "not a file but a folder", "model.safetensors"
    ),
    Case(
        "weights-pickled-only",
        lambda folder: (remove("model.safetensors")(folder), write("pytorch_model.bin", b"\x80\x04pickle")(folder)),
        "never loaded",
        "pickle",
    ),
    # ------------------------------------------------------------------ tokenizer/
    Case(
        "tokenizer-empty",
        lambda folder: [p.unlink() for p in (folder / "tokenizer").iterdir()],
        "not a readable tokenizer",
        "tokenizer",
    ),
    Case("tokenizer-garbage", tokenizer_files(b"garbage{"), "not a readable tokenizer", "tokenizer"),
    Case("tokenizer-empty-files", tokenizer_files(b""), "not a readable tokenizer", "tokenizer"),
    Case("tokenizer-wrong-json", tokenizer_files(b'{"model": 5}'), "not a readable tokenizer", "tokenizer"),
    Case("tokenizer-missing", remove("tokenizer"), "tokenizer is missing", "tokenizer"),
    Case("tokenizer-a-file", in_place_of("tokenizer", Path.touch), "not a folder", "tokenizer"),
    Case("tokenizer-of-another-model", tokenizer_of_another_model, "they belong to different models", "tokenizer"),
    # ------------------------------------------------------------------ the folder
    Case("folder-missing", lambda folder: shutil.rmtree(folder), "no such checkpoint folder", ""),
    Case("folder-a-file", lambda folder: (shutil.rmtree(folder), folder.write_text("x")), "not a folder", ""),
]


@pytest.mark.parametrize("case", CHECKPOINT_CASES, ids=lambda case: case.id)
def test_a_broken_checkpoint_is_refused_naming_the_file_and_the_fault(case, tiny_run, tmp_path) -> None:
    folder = tmp_path / "checkpoint"
    shutil.copytree(tiny_run / "checkpoint", folder)
    case.spoil(folder)
    with pytest.raises(CheckpointError, match=re.escape(case.words)) as refused:
        load_model(folder, device="cpu")
    message = str(refused.value)
    assert message.startswith(str(folder)) and case.names in message and "\n" not in message


UMASKS = [0o002, 0o022, 0o077]


@pytest.mark.parametrize("umask", UMASKS)
def test_a_checkpoint_is_written_under_the_umask(tmp_path, umask) -> None:
    """As every new file is: safetensors alone writes 0600, so a team sharing files by umask could
    not load each other's models."""
    before = os.umask(umask)
    try:
        tiny_model("text").save_pretrained(tmp_path / "checkpoint")
    finally:
        os.umask(before)
    modes = {path.name: path.stat().st_mode & 0o777 for path in (tmp_path / "checkpoint").rglob("*") if path.is_file()}
    assert set(modes) >= {"model.safetensors", "config.json", "tokenizer.json"}
    assert set(modes.values()) == {0o666 & ~umask}


HOSTILE_CASES = [*CHECKPOINT_CASES, *(f"written-under-umask-{umask:03o}" for umask in UMASKS)]
