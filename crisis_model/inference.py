"""Scoring posts: `Post` in, `Prediction` (label, probabilities, explanation) out.

This is the public face of the model for the dashboard, the scoring command and scripts:

    model = crisis_model.load_model("runs/demo/informative/checkpoint")
    [pred] = crisis_model.predict(model, [{"text": "Bridge collapsed on route 9", "image": "photo.jpg"}])
    pred.label, pred.probabilities, pred.explanation.modality_weights
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from crisis_model.config import CrisisConfig
from crisis_model.data.images import image_to_tensor, load_image
from crisis_model.errors import CrisisLensError, ImageError
from crisis_model.explanation import Explanation, post_words
from crisis_model.model import CrisisModel, CrisisOutput
from crisis_model.model.fusion import GROUPS, evidence_groups
from crisis_model.model.image_encoder import REGIONS
from crisis_model.model.modeling import TEXT_INPUTS, clean_text
from crisis_model.model.text_encoder import TextFeatures
from crisis_model.reading import SharedReading, text_reader_key

ImageSource = str | Path | bytes | Image.Image | np.ndarray  # an array: height x width x 3, uint8 (RGB)
PHOTO_TYPES = "a path, the file's bytes, a PIL image or an H x W x 3 uint8 array (RGB)"


@dataclass
class Post:
    text: str | None
    image: ImageSource | None = None
    post_id: str | None = None


@dataclass
class Prediction:
    """A model's answer for one post. `label` is None (and `probabilities` empty) when the model
    cannot judge the post, as the damage model cannot without a photo, or when its answer is not a
    number (a broken model): `cannot_judge` says why."""

    label: str | None
    probabilities: dict[str, float]
    explanation: Explanation
    post_id: str | None = None
    cannot_judge: str | None = None

    @property
    def confidence(self) -> float | None:
        return None if self.label is None else self.probabilities[self.label]


def as_post(item: Post | dict[str, Any], index: int) -> Post:
    """A `Post` from a Post or a dict with `text` and optional `image` (or `image_path`), its text a
    string ("" for None) and its photo one of PHOTO_TYPES (None or "" for none); CrisisLensError
    naming the post and the type otherwise. A number, NaN or bytes is no text: it is refused, never
    read as its str()."""
    if isinstance(item, dict):
        if "text" not in item:
            raise CrisisLensError(f"post {index}: a post needs a 'text' key (it may be empty).")
        item = Post(text=item["text"], image=item.get("image", item.get("image_path")), post_id=item.get("post_id"))
    elif not isinstance(item, Post):
        raise CrisisLensError(f"post {index}: expected a Post or a dict, got {type(item).__name__}.")
    return Post(text=_text(item.text, index), image=_photo(item.image, index), post_id=item.post_id)


def _text(text: Any, index: int) -> str:
    if text is None:
        return ""
    if not isinstance(text, str):
        raise CrisisLensError(f"post {index}: the text must be a string, not {_described(text)}.")
    return text


def _photo(image: Any, index: int) -> ImageSource | None:
    """The photo as `_decode` takes it: b"" stays, to be named in a warning (no photo is None)."""
    if image is None or (isinstance(image, str) and not image.strip()):
        return None
    if isinstance(image, str | Path | bytes | Image.Image):
        return image
    if isinstance(image, bytearray | memoryview):
        return bytes(image)
    if isinstance(image, os.PathLike):
        return Path(image)
    if isinstance(image, np.ndarray):
        if image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3 and image.size:
            return Image.fromarray(np.ascontiguousarray(image))
        raise CrisisLensError(
            f"post {index}: a photo as an array must be H x W x 3 uint8 (RGB), not shape {image.shape} {image.dtype}."
        )
    raise CrisisLensError(f"post {index}: a photo must be {PHOTO_TYPES}, not {_described(image)}.")


def _described(value: Any) -> str:
    shown = repr(value) if isinstance(value, str | bytes) else str(value)
    return f"{type(value).__name__} {shown if len(shown) <= 40 else shown[:37] + '...'}"


def _decode(post: Post, index: int, size: int) -> tuple[torch.Tensor | None, list[str]]:
    """The post's image as a tensor, or None (no image, or unreadable: then a warning).
    A JPEG from a path or bytes is decoded at the smallest DCT scale that still covers `size`
    (`load_image(min_size=...)`): a third of the decoding time of a tweet photo."""
    if post.image is None:
        return None, []
    try:
        min_size = None if isinstance(post.image, Image.Image) else size  # never shrink a caller's image
        return image_to_tensor(load_image(post.image, min_size=min_size), size), []
    except ImageError as err:
        return None, [f"post {index}: image ignored, analysed as text-only: {err}"]


DECODE_WORKERS = max(1, min(16, os.cpu_count() or 1))
"""Threads that decode the images of the next batch while the model scores this one (Pillow
and torchvision release the GIL while they work). One pool serves every call and thread."""
_decode_pool: ThreadPoolExecutor | None = None
_decode_pool_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _decode_pool
    with _decode_pool_lock:
        if _decode_pool is None:
            _decode_pool = ThreadPoolExecutor(DECODE_WORKERS, thread_name_prefix="crisislens-decode")
        return _decode_pool


def _submit_decodes(posts: Sequence[Post], indices: Sequence[int], size: int) -> list:
    """Starts decoding the images of these posts; `_gather` collects the results in order.
    Files and bytes go to the pool; a caller's PIL image is converted here, in the calling
    thread, as before (one PIL object is not safe to load from two threads at once)."""
    pool = _pool()
    return [
        pool.submit(_decode, posts[i], i, size)
        if isinstance(posts[i].image, (str, Path, bytes))
        else _decode(posts[i], i, size)
        for i in indices
    ]


def _gather(pending: list) -> list[tuple[torch.Tensor | None, list[str]]]:
    return [item.result() if isinstance(item, Future) else item for item in pending]


def _cancel(pending: list) -> None:
    for item in pending:
        if isinstance(item, Future):
            item.cancel()


NO_PHOTO_TO_JUDGE = "{task} is judged from the photo, and this post has no usable photo: the model cannot judge it."
NOT_A_NUMBER = (
    "the model's probabilities for this post are not numbers (NaN or infinite): the model is broken or "
    "overflowed on this input, so it gives no answer."
)


def _tokenize_all(model: CrisisModel, texts: Sequence[str], chunk: int = 512) -> dict[str, Any]:
    """Every text's model inputs (TEXT_INPUTS), padded to max_text_tokens (a batch is cut to its
    longest post), with the offsets, the posts as read and whether each was shortened. Tokenised in
    chunks, so one long call does not hold the tokenizer lock for long."""
    width = model.config.max_text_tokens
    pad_id = model.tokenizer.pad_token_id or 0
    out: dict[str, Any] = {
        "input_ids": torch.full((len(texts), width), pad_id, dtype=torch.long),
        "attention_mask": torch.zeros((len(texts), width), dtype=torch.long),
        "post_mask": torch.zeros((len(texts), width), dtype=torch.bool),
        "offsets": torch.zeros((len(texts), width, 2), dtype=torch.long),
        "posts": [],
        "shortened": [],
    }
    for start in range(0, len(texts), chunk):
        encoded = model.tokenize(texts[start : start + chunk])
        rows, length = encoded["input_ids"].shape
        for key in (*TEXT_INPUTS, "offsets"):
            out[key][start : start + rows, :length] = encoded[key]
        out["posts"] += encoded["posts"]
        out["shortened"] += encoded["shortened"].tolist()
    return out


def _scoring_order(lengths: torch.Tensor, batch_size: int) -> list[int]:
    """Posts by token count (stable), so that a batch holds posts of about one length and pads
    little; the given order when everything fits in one batch."""
    order = list(range(len(lengths)))
    if len(order) > batch_size:
        order.sort(key=lengths.tolist().__getitem__)
    return order


def _refuse_if_nothing(cfg: CrisisConfig, index: int, words_given: bool, photo_given: bool, has_pixels: bool) -> None:
    """CrisisLensError when the model reads neither words nor a photo of the post: no words it
    reads, and no photo given (before decoding) or decoded (after), or a model that reads none."""
    # words that a photo-only model (damage) ignores are no error: without a photo it cannot judge the post
    if (words_given and (cfg.uses_text or cfg.requires_image)) or (photo_given and cfg.uses_image):
        return
    raise CrisisLensError(
        f"post {index}: nothing to analyse for a {cfg.fusion!r} model "
        f"(text {'given' if words_given else 'empty'}, image "
        f"{'given' if has_pixels else 'missing or unreadable'})."
    )


@contextlib.contextmanager
def _eval_mode(model: CrisisModel):
    """The model in eval mode (no dropout) while it scores; a model that was training is put back."""
    was_training = model.training
    if was_training:
        model.eval()
    try:
        yield
    finally:
        if was_training:
            model.train()


@torch.inference_mode()
def predict(
    model: CrisisModel,
    posts: Sequence[Post | dict[str, Any]],
    batch_size: int = 32,
    autocast_dtype: torch.dtype | None = None,
    reliance: bool = False,
) -> list[Prediction]:
    """Scores posts in batches, in eval mode. A post with neither text nor a readable image is an
    error; an unreadable image makes the post text-only, with a warning in its explanation. With
    `reliance`, each post is also scored without its photo and without its words (3 passes), and
    its explanation says how much the answer's probability falls each time.
    Safe to call from several threads on a model in eval mode: nothing in the model is changed.

    How it is fast (measured in bench/, reasoned in bench/NOTES.md): every text is tokenised
    once; posts are scored in order of token count, so a batch pads little (predictions come
    back in the order of `posts`); the images of the next batch are decoded on a thread pool
    while the model scores this one, and JPEGs are decoded at reduced scale. Memory holds
    two batches of images at most, whatever the number of posts."""
    return predict_tasks({"model": model}, posts, batch_size, autocast_dtype, reliance)["model"]


@torch.inference_mode()
def predict_tasks(
    models: Mapping[str, CrisisModel],
    posts: Sequence[Post | dict[str, Any]],
    batch_size: int = 32,
    autocast_dtype: torch.dtype | None = None,
    reliance: bool = False,
    only: Mapping[str, Sequence[int]] | None = None,
    timings: dict[str, float] | None = None,
) -> dict[str, list[Prediction]]:
    """`predict` for several tasks' models (by name) at once, each post read once: where models
    share a reading step (crisis_model.reading: the same photo size, tokenizer and prompt, reader
    weights), the photo is decoded, the text tokenised and each reader run once for all of them;
    only the heads (and the reliance passes, which rerun the heads alone) run per model. The
    answers are those of `predict` for each model alone.

    `only[name]` lists the posts (indices into `posts`) that model scores, when not all; its
    predictions then come in that order. A model `only` does not name scores every post.
    `timings`, when given, gains the seconds spent in each stage (decode, tokenise, text reader,
    image reader, heads, reliance, explanations)."""
    posts = [as_post(p, i) for i, p in enumerate(posts)]
    only = only or {}
    rows = {name: list(only[name]) if name in only else list(range(len(posts))) for name in models}
    if not any(rows.values()):
        return {name: [] for name in models}
    words_given = [bool(clean_text(p.text)) for p in posts]
    for name, model in models.items():  # refused before any work, where no image can save them
        for i in rows[name]:
            _refuse_if_nothing(model.config, i, words_given[i], posts[i].image is not None, has_pixels=False)
    devices = {name: model.device for name, model in models.items()}
    if len(set(devices.values())) > 1:
        where = ", ".join(f"{name} on {device}" for name, device in devices.items())
        raise CrisisLensError(f"the models read a post together, so they must be on one device: {where}.")
    reading = SharedReading(models)
    device = next(iter(devices.values()))
    clock = _Clock(timings, device)
    wanted = {name: set(found) for name, found in rows.items()}
    active = sorted(set().union(*wanted.values()))
    with clock("tokenise"):
        encoded = {
            step.key: _tokenize_all(step.runner, [posts[i].text for i in active])
            for step in reading.steps["tokenisation"]
        }  # row k of each is the post active[k]
    order = list(range(len(active)))
    if encoded:
        order = _scoring_order(next(iter(encoded.values()))["attention_mask"].sum(dim=1), batch_size)
    batches = [[active[k] for k in order[start : start + batch_size]] for start in range(0, len(order), batch_size)]
    sizes = {step.key: step.runner.config.image_size for step in reading.steps["photo decoding"]}
    autocast = (
        (lambda: torch.autocast(device.type, dtype=autocast_dtype))
        if autocast_dtype is not None
        else contextlib.nullcontext
    )
    predictions: dict[str, dict[int, Prediction]] = {name: {} for name in models}
    pending = {key: _submit_decodes(posts, batches[0], size) for key, size in sizes.items()}
    try:
        with contextlib.ExitStack() as modes:
            for model in models.values():
                modes.enter_context(_eval_mode(model))
            # the words-removed features, read as the posts' are (eval mode: no dropout in a trainable backbone)
            prompt_alone = None
            if reliance:
                with clock("text reader"):
                    prompt_alone = {step.key: _prompt_alone(step.runner) for step in reading.steps["text reader"]}
            shared = _SharedBatches(reading, posts, encoded, {i: k for k, i in enumerate(active)}, prompt_alone, clock)
            for k, batch in enumerate(batches):
                with clock("decode"):
                    decoded = {key: _gather(waiting) for key, waiting in pending.items()}
                pending = (
                    {key: _submit_decodes(posts, batches[k + 1], size) for key, size in sizes.items()}
                    if k + 1 < len(batches)
                    else {}
                )  # decoded while this batch is scored
                pixels = {key: [p for p, _ in found] for key, found in decoded.items()}
                for name, model in models.items():
                    step = reading.step("photo decoding", name)
                    for i, photo in zip(batch, pixels[step.key]):
                        if i in wanted[name]:
                            _refuse_if_nothing(model.config, i, words_given[i], photo is not None, photo is not None)
                with autocast():
                    read = _read(shared, batch, pixels)
                    for name, model in models.items():
                        _score_heads(shared, name, model, batch, wanted[name], read, decoded, predictions[name])
    finally:
        for waiting in pending.values():
            _cancel(waiting)
    return {name: [predictions[name][i] for i in rows[name]] for name in models}


class _Clock:
    """Adds the seconds of each stage to `timings` (nothing when it is None); on a GPU it waits for
    the stage's kernels, so the seconds are the stage's."""

    def __init__(self, timings: dict[str, float] | None, device: torch.device) -> None:
        self.timings, self.device = timings, device

    @contextlib.contextmanager
    def __call__(self, stage: str):
        if self.timings is None:
            yield
            return
        start = time.perf_counter()
        try:
            yield
        finally:
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - start


@dataclass
class _SharedBatches:
    """What every batch of one `predict_tasks` call shares."""

    reading: SharedReading
    posts: list[Post]
    encoded: dict[str, dict[str, Any]]  # tokenisation key -> _tokenize_all of the scored posts
    at: dict[int, int]  # a post's index -> its row in `encoded`
    prompt_alone: dict[str, TextFeatures] | None  # text reader key -> the prompt's features; None: no reliance
    clock: _Clock


@dataclass
class _BatchReading:
    """What the shared reading steps gave for one batch, by step key."""

    has_image: dict[str, torch.Tensor]  # photo decoding key -> (B,) bool
    text_inputs: dict[str, dict[str, torch.Tensor]]  # tokenisation key -> TEXT_INPUTS, cut to the longest post
    tokens: dict[str, list[list[str]]]  # tokenisation key -> each post's tokens as strings
    text_features: dict[str, TextFeatures]  # text reader key
    region_states: dict[str, torch.Tensor | None]  # image reader key -> (B, 49, C)


def _read(shared: _SharedBatches, batch: list[int], pixels: dict[str, list[torch.Tensor | None]]) -> _BatchReading:
    """Every reading step once for the posts at `batch`."""
    reading, encoded, clock = shared.reading, shared.encoded, shared.clock
    rows = [shared.at[i] for i in batch]
    device = next(iter(reading.models.values())).device
    has_image = {key: torch.tensor([p is not None for p in found], device=device) for key, found in pixels.items()}
    out = _BatchReading(has_image, {}, {}, {}, {})
    with clock("tokenise"):
        for step in reading.steps["tokenisation"]:
            longest = int(encoded[step.key]["attention_mask"][rows].sum(dim=1).max())
            inputs = {key: encoded[step.key][key][rows, :longest] for key in TEXT_INPUTS}
            out.tokens[step.key] = step.runner.token_strings(inputs["input_ids"], inputs["attention_mask"])
            out.text_inputs[step.key] = {key: value.to(device) for key, value in inputs.items()}
    with clock("text reader"):
        for step in reading.steps["text reader"]:
            inputs = out.text_inputs[reading.step("tokenisation", step.members[0]).key]
            out.text_features[step.key] = step.runner.text_encoder(*(inputs[key] for key in TEXT_INPUTS))
    with clock("image reader"):
        for step in reading.steps["image reader"]:
            decoding = reading.step("photo decoding", step.members[0]).key
            out.region_states[step.key] = step.runner.encode_images(
                _pixel_values(pixels[decoding], step.runner), has_image[decoding]
            )
    return out


def _pixel_values(pixels: list[torch.Tensor | None], model: CrisisModel) -> torch.Tensor | None:
    """The batch's photos stacked on the model's device (a blank where a post has none); None without any."""
    if all(p is None for p in pixels):
        return None
    size = model.config.image_size
    blank = torch.zeros(3, size, size)
    stacked = torch.stack([p if p is not None else blank for p in pixels])
    if model.device.type == "cuda":
        stacked = stacked.pin_memory()
    return stacked.to(model.device, non_blocking=True)


def _score_heads(
    shared: _SharedBatches,
    name: str,
    model: CrisisModel,
    batch: list[int],
    wanted: set[int],
    read: _BatchReading,
    decoded: dict[str, list[tuple[torch.Tensor | None, list[str]]]],
    predictions: dict[int, Prediction],
) -> None:
    """One model's head (and its reliance passes) on the shared reading of the batch's posts it
    scores; their predictions go into `predictions` by post index."""
    cfg, reading, clock = model.config, shared.reading, shared.clock
    keep = [j for j, i in enumerate(batch) if i in wanted]
    if not keep:
        return
    select = torch.tensor(keep, device=model.device) if len(keep) < len(batch) else None
    decoding = reading.step("photo decoding", name).key
    text_step, image_step = reading.step("text reader", name), reading.step("image reader", name)
    tokenisation = reading.step("tokenisation", name)
    features = read.text_features[text_step.key] if text_step is not None else None
    regions = read.region_states[image_step.key] if image_step is not None else None
    has_image = read.has_image[decoding]
    if select is not None:
        features = features.select(select) if features is not None else None
        regions = regions[select] if regions is not None else None
        has_image = has_image[select]
    own = {"has_image": has_image, "text_features": features, "region_states": regions}
    with clock("heads"):
        out = _on_cpu(model(**own))  # once per batch, not one transfer per post and output
    without = {}
    if shared.prompt_alone is not None:
        with clock("reliance"):
            alone = shared.prompt_alone[text_step.key] if text_step is not None else None
            without = _without(model, own, out["probabilities"], alone)
    with clock("explanations"):
        for row, j in enumerate(keep):
            i = batch[j]
            tokens, warnings = [], decoded[decoding][j][1]
            words: tuple[list[str], list[list[int]]] = ([], [])
            read_text = None  # the part of a shortened post the model read
            if tokenisation is not None:
                every = shared.encoded[tokenisation.key]
                tokens = read.tokens[tokenisation.key][j]
                words = _words(every, shared.at[i], len(tokens), cfg.prompt)
                if every["shortened"][shared.at[i]]:
                    read_text = every["posts"][shared.at[i]]
                    warnings = [*warnings, "the post is longer than the model reads: its end was left out"]
            predictions[i] = _prediction(cfg, out, without, row, shared.posts[i], tokens, words, warnings)
            predictions[i].explanation.read_text = read_text


PROMPTS_KEPT = 16
"""Readings of the prompt alone kept, by text reader key: a dashboard asks for the reliance of one
post at a time, and the prompt's reading (a pass of the language model) is the same for every post."""
_prompts_alone: OrderedDict[str, TextFeatures] = OrderedDict()
_prompts_alone_lock = threading.Lock()


def _prompt_alone(model: CrisisModel) -> TextFeatures:
    """The text reader's features of a post without words: the prompt alone."""
    reader = text_reader_key(model)
    with _prompts_alone_lock:
        if (found := _prompts_alone.get(reader)) is not None:
            _prompts_alone.move_to_end(reader)
            return found
    encoded = model.tokenize([""])
    found = model.text_encoder(*(encoded[key].to(model.device) for key in TEXT_INPUTS))
    with _prompts_alone_lock:
        _prompts_alone[reader] = found
        while len(_prompts_alone) > PROMPTS_KEPT:
            _prompts_alone.popitem(last=False)
    return found


def _without(
    model: CrisisModel, read: dict[str, Any], probabilities: np.ndarray, prompt_alone: TextFeatures | None
) -> dict[str, np.ndarray]:
    """The batch's probabilities scored again without the photo ("photo", (B, K)), without the words
    (the prompt alone: "words", (B, K)), and (posts with a photo) with each of the photo's regions
    replaced by the photo's average region ("regions", (B, 49, K), NaN for posts without a photo).
    The readers' outputs are reused: only the head runs again."""
    has_image = read["has_image"]
    rows = has_image.shape[0]
    result: dict[str, np.ndarray] = {}
    if prompt_alone is not None:
        no_words = {**read, "text_features": prompt_alone.select(torch.zeros(rows, dtype=torch.long))}
        result["words"] = model(**no_words).probabilities.float().cpu().numpy()
    if read["region_states"] is None:
        return result
    result["photo"] = model(**{**read, "has_image": torch.zeros_like(has_image)}).probabilities.float().cpu().numpy()
    regions = np.full((rows, REGIONS, probabilities.shape[1]), np.nan, dtype=np.float32)
    eye = torch.eye(REGIONS, dtype=torch.bool, device=has_image.device)[:, :, None]
    head, one = model.head, has_image.new_ones(1)
    for i in torch.nonzero(has_image).flatten().tolist():  # 49 copies of the post, one region hidden in each
        # The head projects each region on its own, so the post's regions and their average are projected
        # once and the 49 copies assembled after the projection: the same numbers, a 49th of the work.
        states = read["region_states"][i : i + 1]
        projected = head.project_photos(states, one)[0]  # (49, D)
        average = head.project_photos(states.mean(dim=1, keepdim=True), one)[0]  # (1, D)
        copies: dict[str, Any] = {
            "has_image": has_image.new_ones(REGIONS),
            "regions": torch.where(eye, average, projected),
        }
        if read["text_features"] is not None:
            text = read["text_features"].select(torch.full((REGIONS,), i, dtype=torch.long, device=has_image.device))
            copies.update(text_features=text, tokens=head.text_proj(text.token_states[:1]).expand(REGIONS, -1, -1))
        regions[i] = model(**copies).probabilities.float().cpu().numpy()
    result["regions"] = regions
    return result


def _words(encoded: dict[str, Any] | None, i: int, length: int, prompt: str) -> tuple[list[str], list[list[int]]]:
    if encoded is None:
        return [], []
    offsets = [tuple(pair) for pair in encoded["offsets"][i, :length].tolist()]
    return post_words(encoded["posts"][i], offsets, prompt.index("{text}"))


def _on_cpu(out: CrisisOutput) -> dict[str, Any]:
    """The batch's outputs as float32 numpy arrays on the CPU (None where the model gave none), and
    each evidence group's vote as probabilities under "votes"."""
    arrays: dict[str, Any] = {
        f.name: None if getattr(out, f.name) is None else getattr(out, f.name).detach().float().cpu().numpy()
        for f in dataclasses.fields(out)
        if f.name != "vote_logits"
    }
    arrays["votes"] = {g: logits.detach().float().softmax(-1).cpu().numpy() for g, logits in out.vote_logits.items()}
    return arrays


def _prediction(
    cfg: CrisisConfig,
    out: dict[str, np.ndarray | None],
    without: dict[str, np.ndarray],
    i: int,
    post: Post,
    tokens: list[str],
    words: tuple[list[str], list[list[int]]],
    warnings: list[str],
) -> Prediction:
    probs = out["probabilities"][i].tolist()
    has_image = bool(out["has_image"][i])
    best = max(range(len(probs)), key=probs.__getitem__)
    n = len(tokens)
    # Attention to the stand-in regions of a post without an image explains nothing: left out.
    # Copies, so that a kept prediction does not hold its whole batch's arrays in memory.
    token_to_region = region_to_token = None
    if has_image and out["token_to_region"] is not None:
        token_to_region = out["token_to_region"][i, :n].copy()
        region_to_token = out["region_to_token"][i, :, :n].copy()
    routing = out["routing_coefficients"]
    reliance = region_importance = None
    if without:
        reliance = {"words": None, "photo": None}
        if "words" in without and clean_text(post.text):  # a post without words cannot lose them
            reliance["words"] = probs[best] - float(without["words"][i, best])
        if "photo" in without and has_image:
            reliance["photo"] = probs[best] - float(without["photo"][i, best])
            region_importance = probs[best] - without["regions"][i, :, best]
    explanation = Explanation(
        tokens=tokens,
        modality_weights=dict(zip(GROUPS, out["modality_weights"][i].tolist())),
        votes={g: dict(zip(cfg.label_names, p[i].tolist())) for g, p in out["votes"].items()},
        capsule_lengths=out["capsule_lengths"][i].copy(),
        has_image=has_image,
        has_words=cfg.uses_text and bool(clean_text(post.text)),
        words=words[0],
        word_tokens=words[1],
        reliance=reliance,
        region_importance=region_importance,
        token_to_region=token_to_region,
        region_to_token=region_to_token,
        routing_coefficients=routing[i].copy() if routing is not None else None,
        primary_groups=[g for g in evidence_groups(cfg) for _ in range(cfg.capsules_per_modality)],
        warnings=warnings,
    )
    reason = None
    if not np.isfinite(probs).all():
        reason = NOT_A_NUMBER
    elif cfg.requires_image and not has_image:
        reason = NO_PHOTO_TO_JUDGE.format(task=cfg.task.capitalize())
    if reason is not None:
        return Prediction(
            label=None, probabilities={}, explanation=explanation, post_id=post.post_id, cannot_judge=reason
        )
    return Prediction(
        label=cfg.label_names[best],
        probabilities=dict(zip(cfg.label_names, probs)),
        explanation=explanation,
        post_id=post.post_id,
    )
