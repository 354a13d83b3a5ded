"""CrisisModel: a language model and a ResNet read a post; the fusion head classifies it.

    post text -> prompt -> tokenizer -> text backbone -> token states --\
                                                                        +-> FusionHead -> logits
    post image -> 224 px -> ResNet -> 7x7 region vectors ---------------/

A checkpoint is a folder: `config.json`, `model.safetensors` (every weight, backbones included,
so it loads offline) and `tokenizer/`. Nothing is pickled.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from crisis_model.atomic_files import atomic_write, recover_dir, replace_dir, write_json
from crisis_model.config import CONFIG_FILE, TOKENIZER_DIR, WEIGHTS_FILE, CrisisConfig
from crisis_model.errors import BackboneUnavailableError, CheckpointError, ConfigError
from crisis_model.file_faults import path_fault
from crisis_model.model.fusion import FusionHead
from crisis_model.model.image_encoder import REGIONS, ImageEncoder, build_cnn
from crisis_model.model.outputs import CrisisOutput
from crisis_model.model.text_encoder import (
    CutStates,
    TextEncoder,
    TextFeatures,
    build_text_encoder,
    load_tokenizer,
    rebuild_text_encoder,
)

MAX_TEXT_CHARS = 4000  # a tweet is 280; anything longer is cut before tokenising
MIN_POST_TOKENS = 16  # what the prompt must leave of max_text_tokens for the post
TEXT_INPUTS = ("input_ids", "attention_mask", "post_mask")  # what forward() takes of tokenize()


def clean_text(text: str) -> str:
    """The text as the tokenizer sees it: control characters (NUL included) dropped, length capped."""
    text = "".join(ch for ch in text[:MAX_TEXT_CHARS] if ch.isprintable() or ch in "\n\t ")
    return text.strip()


class CrisisModel(nn.Module):
    def __init__(
        self, config: CrisisConfig, text_encoder: TextEncoder | None, image_encoder: ImageEncoder | None, tokenizer
    ) -> None:
        super().__init__()
        self.config = config
        self.text_encoder = text_encoder
        self.image_encoder = image_encoder
        self.tokenizer = tokenizer
        self._tokenizer_lock = threading.Lock()  # fast tokenizers are not safe across threads
        # The text-only variant still needs a width for its (unused) text branch and vice versa.
        text_dim = text_encoder.hidden_size if text_encoder is not None else 1
        image_dim = image_encoder.hidden_size if image_encoder is not None else 1
        self.head = FusionHead(config, text_dim, image_dim, regions=REGIONS)
        if tokenizer is not None:
            self._check_prompt_fits()
        self._set_trainable_backbones()
        self.train()  # a new module is in training mode: put frozen backbones in eval mode now

    # ------------------------------------------------------------------ building and loading

    @classmethod
    def from_config(
        cls, config: CrisisConfig, train_texts: Iterable[str] | None = None, seed: int | None = None
    ) -> CrisisModel:
        """A new model: pretrained backbones where the config asks for them, a fresh fusion head.
        `train_texts` trains the tokenizer of the `tiny` preset. `seed` seeds each part's random
        initialisation on its own, so a random backbone is the same whatever the other branch is
        (the tiny preset's text branch depends on its training texts): runs on the same images
        then share their cached image features."""
        text_encoder = tokenizer = None
        if config.uses_text:
            _seed(seed)
            text_encoder, tokenizer = build_text_encoder(config, train_texts)
        _seed(seed)
        image_encoder = (
            ImageEncoder(build_cnn(config.image_backbone, config.image_pretrained)) if config.uses_image else None
        )
        _seed(seed)
        return cls(config, _with_lora(text_encoder, config), image_encoder, tokenizer)

    def save_pretrained(self, directory: str | Path) -> None:
        """Writes config.json, model.safetensors and tokenizer/ into `directory`. Each file (and the
        tokenizer folder) is written beside its final name and renamed into place, so a kill leaves
        the old or the new version of each."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        atomic_write(directory / WEIGHTS_FILE, lambda tmp: save_file(state, str(tmp)))
        if self.tokenizer is not None:
            replace_dir(directory / TOKENIZER_DIR, lambda tmp: self.tokenizer.save_pretrained(str(tmp)))
        write_json(directory / CONFIG_FILE, self.config.to_dict())

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device | None = None) -> CrisisModel:
        """Loads a folder written by `save_pretrained`. A broken folder raises CheckpointError
        naming the file and the field or tensor at fault: every value of config.json is checked
        before anything is built, and weights that are not all finite numbers are refused (a model
        that diverged answers every post with NaN)."""
        directory = Path(directory)
        if fault := path_fault(directory, "folder"):
            words = "no such checkpoint folder" if fault.words == "no such folder" else fault.words
            raise CheckpointError(f"{directory}: {words}.")
        pickles = any(directory.glob("*.pt")) or any(directory.glob("*.bin")) or any(directory.glob("*.pth"))
        if pickles and not (directory / WEIGHTS_FILE).exists():
            raise CheckpointError(
                f"{directory}: holds pickle weights (.pt/.bin), which are never loaded because "
                f"unpickling can run code. Save the model as {WEIGHTS_FILE} (safetensors)."
            )
        config = CrisisConfig.load(directory / CONFIG_FILE)
        with contextlib.suppress(OSError):  # a save killed while swapping tokenizer/ in (read-only: left)
            recover_dir(directory / TOKENIZER_DIR)
        weights = directory / WEIGHTS_FILE
        for part, want, needed in ((WEIGHTS_FILE, "file", True), (TOKENIZER_DIR, "folder", config.uses_text)):
            if needed and (fault := path_fault(directory / part, want)):
                missing = fault.words == f"no such {want}"
                raise CheckpointError(f"{directory}: {part} is missing." if missing else f"{directory / part}: {fault}")
        if config.uses_text and config.text_backbone_config is None:
            raise CheckpointError(f"{directory / CONFIG_FILE}: text_backbone_config is missing.")
        state = _finite_weights(weights)
        try:
            model = cls._built(config, directory)
        except ConfigError as err:
            raise CheckpointError(f"{directory / CONFIG_FILE}: {err}") from None
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as err:
            first_lines = "; ".join(str(err).splitlines()[:3])
            raise CheckpointError(
                f"{weights}: the weights do not match {directory / CONFIG_FILE} ({first_lines})."
            ) from None
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        return model.to(device).eval()

    @classmethod
    def _built(cls, config: CrisisConfig, directory: Path) -> CrisisModel:
        """The architecture a checkpoint's config describes, its weights not yet loaded; ConfigError
        naming the field that cannot be built, CheckpointError for a tokenizer that cannot be read."""
        text_encoder = tokenizer = None
        if config.uses_text:
            text_encoder = rebuild_text_encoder(config)
            tokenizer = _checkpoint_tokenizer(directory / TOKENIZER_DIR, text_encoder)
        try:
            image_encoder = (
                ImageEncoder(build_cnn(config.image_backbone, pretrained=False)) if config.uses_image else None
            )
        except BackboneUnavailableError as err:
            raise ConfigError(f"image_backbone: {err}") from None
        return cls(config, _with_lora(text_encoder, config), image_encoder, tokenizer)

    # ------------------------------------------------------------------ training mode

    def _set_trainable_backbones(self) -> None:
        mode = self.config.backbone_mode
        for encoder in (self.text_encoder, self.image_encoder):
            if encoder is None:
                continue
            for name, param in encoder.named_parameters():
                param.requires_grad = mode == "full" or (mode == "lora" and "lora_" in name)
        for module in self.fine_tuned_layers():
            module.requires_grad_(True)

    def fine_tuned_layers(self) -> list[nn.Module]:
        """The text reader's top layers that learn with frozen readers (text_finetune_layers)."""
        return self.text_encoder.top_modules() if self.text_encoder is not None else []

    def train(self, mode: bool = True) -> CrisisModel:
        super().train(mode)
        # Frozen backbones stay in eval mode (no dropout, fixed batch-norm statistics), so their
        # outputs are the same in training and at inference, and may be cached.
        if self.config.backbone_mode == "frozen":
            for encoder in (self.text_encoder, self.image_encoder):
                if encoder is not None:
                    encoder.eval()
            for module in self.fine_tuned_layers():
                module.train(mode)  # fine-tuned top layers: their dropout as in the reader's own training
        elif self.config.backbone_mode == "lora" and self.image_encoder is not None:
            self.image_encoder.eval()
        return self

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def predict(self, posts: Sequence[Any], **options: Any) -> list[Any]:
        """`crisis_model.predict(model, posts, **options)` as a method, as the first release had it:
        each post (a dict with text and image, or a Post) gets a Prediction with its explanation."""
        from crisis_model.inference import predict  # the layer above the model: imported when called

        return predict(self, posts, **options)

    # ------------------------------------------------------------------ inputs

    def tokenize(self, texts: Sequence[str]) -> dict[str, Any]:
        """The prompt-wrapped, padded token ids of a batch of post texts: input_ids, attention_mask and
        post_mask (True at the post's own tokens, the prompt's being outside) for the model; for
        explanations, shortened (True where the post had to be cut to fit max_text_tokens: the post
        is cut, never the prompt), offsets and the posts as read."""
        posts = [clean_text(t) for t in texts]
        with self._tokenizer_lock:
            prompted, shortened = self._fit(posts)
            encoded = self.tokenizer(
                [text or self.tokenizer.pad_token for text in prompted],  # an empty "{text}" post: one token
                padding=True,
                return_tensors="pt",
                return_offsets_mapping=True,
            )
        start = self.config.prompt.index("{text}")
        first, end = encoded["offset_mapping"][..., 0], encoded["offset_mapping"][..., 1]
        post_end = torch.tensor([start + len(post) for post in posts])[:, None]
        post_mask = (end > first) & (first < post_end) & (end > start) & encoded["attention_mask"].bool()
        return {
            "input_ids": encoded["input_ids"],
            "attention_mask": encoded["attention_mask"],
            "post_mask": post_mask,
            "shortened": torch.tensor(shortened),
            "offsets": encoded["offset_mapping"],  # (B, L, 2) characters of each token in the prompted text
            "posts": posts,  # the posts as read: cleaned, and shortened where they had to be
        }

    def _check_prompt_fits(self) -> None:
        prompt_tokens = len(self.tokenizer(self.config.prompt.replace("{text}", ""))["input_ids"])
        if prompt_tokens > self.config.max_text_tokens - MIN_POST_TOKENS:
            raise ConfigError(
                f"the prompt takes {prompt_tokens} of the {self.config.max_text_tokens} tokens the text reader reads "
                f"(max_text_tokens), leaving less than {MIN_POST_TOKENS} for the post: shorten the prompt or raise "
                "max_text_tokens"
            )

    def _fit(self, posts: list[str]) -> tuple[list[str], list[bool]]:
        """Each post inside the prompt, the post shortened (at a token boundary) where the whole
        would be longer than max_text_tokens; `posts` is shortened in place."""
        prefix, suffix = self.config.prompt.split("{text}", 1)
        limit = self.config.max_text_tokens
        prompted = [prefix + post + suffix for post in posts]
        lengths = [len(ids) for ids in self.tokenizer(prompted)["input_ids"]]
        shortened = [n > limit for n in lengths]
        for i in (i for i, too_long in enumerate(shortened) if too_long):
            offsets = self.tokenizer(posts[i], add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
            keep = len(offsets) - (lengths[i] - limit)  # merges at the cut can cost a token more: check
            while keep > 0:
                cut = posts[i][: offsets[keep - 1][1]].rstrip()
                if len(self.tokenizer(prefix + cut + suffix)["input_ids"]) <= limit:
                    break
                keep -= 1
            posts[i] = cut if keep > 0 else ""
            prompted[i] = prefix + posts[i] + suffix
        return prompted, shortened

    def token_strings(self, input_ids: Tensor, attention_mask: Tensor) -> list[list[str]]:
        """Readable tokens of each post (as the tokenizer split them), padding removed."""
        with self._tokenizer_lock:
            return [
                [self.tokenizer.decode([i]) for i in ids[: int(mask.sum())].tolist()]
                for ids, mask in zip(input_ids, attention_mask)
            ]

    # ------------------------------------------------------------------ forward

    def encode_images(self, pixel_values: Tensor | None, has_image: Tensor) -> Tensor | None:
        """Region vectors (B, 49, C) for the posts that have an image; zeros elsewhere. Posts
        without an image cost nothing: the head replaces them with a learned no-image input."""
        if self.image_encoder is None or pixel_values is None or not bool(has_image.any()):
            return None
        regions = self.image_encoder(pixel_values[has_image]).region_states
        if bool(has_image.all()):
            return regions
        out = regions.new_zeros((has_image.shape[0], *regions.shape[1:]))
        out[has_image] = regions
        return out

    def read(
        self,
        has_image: Tensor,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        post_mask: Tensor | None = None,
        pixel_values: Tensor | None = None,
    ) -> dict[str, Any]:
        """The readers' outputs for a batch: forward's keyword arguments without the raw inputs, for
        scoring the same posts several times at the cost of the head alone (explanations)."""
        text_features = None
        if self.text_encoder is not None and input_ids is not None:
            if attention_mask is None or post_mask is None:
                raise TypeError("input_ids need attention_mask and post_mask, as model.tokenize(texts) makes them")
            text_features = self.text_encoder(input_ids, attention_mask, post_mask)
        return {"has_image": has_image, "text_features": text_features,
                "region_states": self.encode_images(pixel_values, has_image)}  # fmt: skip

    def forward(
        self,
        has_image: Tensor,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        post_mask: Tensor | None = None,
        pixel_values: Tensor | None = None,
        text_features: TextFeatures | None = None,
        region_states: Tensor | None = None,
        regions: Tensor | None = None,
        tokens: Tensor | None = None,
        text_cut: CutStates | None = None,
    ) -> CrisisOutput:
        """Classify a batch. Give raw inputs (input_ids, attention_mask, post_mask as `tokenize` makes
        them; pixel_values), or the readers' outputs when they were computed earlier (text_features,
        region_states), as training with a feature cache does; `regions` and `tokens` are those outputs
        already projected by the head (FusionHead.forward). `text_cut`: the text reader's frozen part's
        output, which its fine-tuned top layers read (training with a feature cache; the call swaps the
        reader's layers, so no other thread may read this model meanwhile), in place of text_features."""
        if text_cut is not None:
            text_features = self.text_encoder.read_from_cut(text_cut)
        if text_features is None and region_states is None and regions is None:
            read = self.read(has_image, input_ids, attention_mask, post_mask, pixel_values)
            text_features, region_states = read["text_features"], read["region_states"]
        return self.head(
            token_states=text_features.token_states if text_features is not None else None,
            token_mask=text_features.token_mask if text_features is not None else None,
            post_mask=text_features.post_mask if text_features is not None else None,
            pooled_text=text_features.pooled if text_features is not None else None,
            region_states=region_states,
            has_image=has_image,
            regions=regions,
            tokens=tokens,
        )


def _finite_weights(weights: Path) -> dict[str, Tensor]:
    """The tensors of a safetensors file; CheckpointError when it cannot be read or a tensor holds
    NaN or an infinity."""
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{weights}: not a readable safetensors file ({err}).") from None
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(
                f"{weights}: the tensor {name!r} holds NaN or infinite values: the model is broken (its training "
                "diverged?) and would answer every post with NaN; train it again or use another checkpoint."
            )
    return state


def _checkpoint_tokenizer(folder: Path, text_encoder: TextEncoder):
    """The tokenizer saved beside the weights; CheckpointError when it cannot be read or names token
    ids the language model has no embedding for (it would fail on the first post)."""
    try:
        tokenizer = load_tokenizer(str(folder))
    except Exception as err:  # noqa: BLE001 - transformers and tokenizers raise bare Exceptions for a bad file
        first_line = next(iter(str(err).splitlines()), "")
        raise CheckpointError(f"{folder}: not a readable tokenizer ({type(err).__name__}: {first_line}).") from None
    embeddings = text_encoder.backbone.get_input_embeddings().num_embeddings
    if len(tokenizer) > embeddings:
        raise CheckpointError(
            f"{folder}: the tokenizer has {len(tokenizer):,} tokens and the language model embeds {embeddings:,}: "
            "they belong to different models."
        )
    return tokenizer


def _seed(seed: int | None) -> None:
    if seed is not None:
        torch.manual_seed(seed)


def _with_lora(text_encoder: TextEncoder | None, config: CrisisConfig) -> TextEncoder | None:
    """Wraps the language model in LoRA adapters (peft) when the config asks for it."""
    if text_encoder is None or config.backbone_mode != "lora":
        return text_encoder
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=config.lora_rank, lora_alpha=2 * config.lora_rank, lora_dropout=0.05, target_modules="all-linear"
    )
    text_encoder.backbone = get_peft_model(text_encoder.backbone, lora)
    return text_encoder
