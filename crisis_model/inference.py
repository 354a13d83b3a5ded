"""Scoring posts: `Post` in, `Prediction` (label, probabilities, explanation) out.

This is the public face of the model for the dashboard and for scripts:

    model = crisis_model.load_model("runs/demo")
    [pred] = model.predict([{"text": "Bridge collapsed on route 9", "image": "photo.jpg"}])
    pred.label, pred.probabilities, pred.explanation.modality_weights
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np
import torch
from PIL import Image

from crisis_model.errors import CrisisLensError, ImageError
from crisis_model.images import image_to_tensor, load_image
from crisis_model.model import clean_text

if TYPE_CHECKING:
    from crisis_model.model import CrisisModel

ImageSource = str | Path | bytes | Image.Image


@dataclass
class Post:
    text: str
    image: ImageSource | None = None
    post_id: str | None = None


@dataclass
class Explanation:
    """Why the model said what it said, for one post. Matrices are numpy arrays."""

    tokens: list[str]  # the prompt-wrapped post as the tokenizer split it
    modality_weights: dict[str, float]  # {"text": w, "image": 1 - w}
    capsule_lengths: np.ndarray  # (S,) length of each capsule the classifier's GRU reads
    has_image: bool
    token_to_region: np.ndarray | None = None  # (tokens, 49): each token's attention over regions
    region_to_token: np.ndarray | None = None  # (49, tokens)
    routing_coefficients: np.ndarray | None = None  # (primary, fused) capsules; rows sum to 1
    primary_capsules: list[str] = field(default_factory=list)  # row names of the routing matrix
    warnings: list[str] = field(default_factory=list)  # e.g. an image that could not be read


@dataclass
class Prediction:
    label: str
    probabilities: dict[str, float]
    explanation: Explanation
    post_id: str | None = None

    @property
    def confidence(self) -> float:
        return self.probabilities[self.label]


def as_post(item: Post | dict[str, Any], index: int) -> Post:
    """Accepts a `Post` or a dict with `text` and optional `image` (or `image_path`)."""
    if isinstance(item, Post):
        return item
    if isinstance(item, dict):
        if "text" not in item:
            raise CrisisLensError(f"post {index}: a post needs a 'text' key (it may be empty).")
        image = item.get("image", item.get("image_path")) or None
        return Post(text=str(item["text"] or ""), image=image, post_id=item.get("post_id"))
    raise CrisisLensError(f"post {index}: expected a Post or a dict, got {type(item).__name__}.")


def _decode(post: Post, index: int, size: int) -> tuple[torch.Tensor | None, list[str]]:
    """The post's image as a tensor, or None (no image, or unreadable: then a warning)."""
    if post.image is None:
        return None, []
    try:
        return image_to_tensor(load_image(post.image), size), []
    except ImageError as err:
        return None, [f"post {index}: image ignored, analysed as text-only: {err}"]


def _batches(items: Sequence[Any], size: int) -> Iterator[tuple[int, Sequence[Any]]]:
    for start in range(0, len(items), size):
        yield start, items[start : start + size]


@torch.inference_mode()
def predict(model: "CrisisModel", posts: Sequence[Post | dict[str, Any]], batch_size: int = 32,
            autocast_dtype: torch.dtype | None = None) -> list[Prediction]:
    """Scores posts in batches. A post with neither text nor a readable image is an error;
    an unreadable image makes the post text-only, with a warning in its explanation.
    Safe to call from several threads on one model: nothing in the model is changed."""
    cfg = model.config
    posts = [as_post(p, i) for i, p in enumerate(posts)]
    device = model.device
    predictions: list[Prediction] = []
    for start, batch in _batches(posts, batch_size):
        decoded = [_decode(p, start + i, cfg.image_size) for i, p in enumerate(batch)]
        for i, (post, (pixels, _)) in enumerate(zip(batch, decoded)):
            empty_text = not clean_text(post.text)
            if (empty_text or not cfg.uses_text) and (pixels is None or not cfg.uses_image):
                raise CrisisLensError(
                    f"post {start + i}: nothing to analyse for a {cfg.fusion!r} model "
                    f"(text {'empty' if empty_text else 'given'}, image "
                    f"{'missing or unreadable' if pixels is None else 'given'})."
                )
        has_image = torch.tensor([pixels is not None for pixels, _ in decoded], device=device)
        inputs: dict[str, Any] = {"has_image": has_image}
        if cfg.uses_image and bool(has_image.any()):
            blank = torch.zeros(3, cfg.image_size, cfg.image_size)
            inputs["pixel_values"] = torch.stack(
                [pixels if pixels is not None else blank for pixels, _ in decoded]
            ).to(device)
        tokens: list[list[str]] = [[] for _ in batch]
        if cfg.uses_text:
            encoded = model.tokenize([p.text for p in batch])
            tokens = model.token_strings(encoded["input_ids"], encoded["attention_mask"])
            inputs.update({k: v.to(device) for k, v in encoded.items()})

        autocast = (
            torch.autocast(device.type, dtype=autocast_dtype)
            if autocast_dtype is not None
            else contextlib.nullcontext()
        )
        with autocast:
            out = model(**inputs)
        predictions.extend(
            _explain(model, out, i, post, tokens[i], warnings)
            for i, (post, (_, warnings)) in enumerate(zip(batch, decoded))
        )
    return predictions


def _numpy(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().float().cpu().numpy()


def _explain(model: "CrisisModel", out, i: int, post: Post, tokens: list[str],
             warnings: list[str]) -> Prediction:
    cfg = model.config
    probs = out.probabilities[i].float().cpu().tolist()
    has_image = bool(out.has_image[i])
    n = len(tokens)
    # Attention to the stand-in regions of a post without an image explains nothing: left out.
    token_to_region = region_to_token = None
    if has_image and out.token_to_region is not None:
        token_to_region = _numpy(out.token_to_region[i, :n])
        region_to_token = _numpy(out.region_to_token[i, :, :n])
    weights = out.modality_weights[i].float().cpu().tolist()
    primary = []
    if cfg.uses_text:
        primary += [f"text {k + 1}" for k in range(cfg.capsules_per_modality)]
    if cfg.uses_image:
        primary += [f"image {k + 1}" for k in range(cfg.capsules_per_modality)]
    explanation = Explanation(
        tokens=tokens,
        modality_weights={"text": weights[0], "image": weights[1]},
        capsule_lengths=_numpy(out.capsule_lengths[i]),
        has_image=has_image,
        token_to_region=token_to_region,
        region_to_token=region_to_token,
        routing_coefficients=_numpy(out.routing_coefficients[i]) if out.routing_coefficients is not None else None,
        primary_capsules=primary,
        warnings=warnings,
    )
    best = max(range(len(probs)), key=probs.__getitem__)
    return Prediction(
        label=cfg.label_names[best],
        probabilities=dict(zip(cfg.label_names, probs)),
        explanation=explanation,
        post_id=post.post_id,
    )
