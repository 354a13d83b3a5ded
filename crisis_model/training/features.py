"""Feature cache: what the frozen backbones say about each post, computed once and reused.

With frozen backbones (`backbone_mode="frozen"`) the language model and the ResNet give the same
output for a post in every epoch and every run, and they cost nearly all of the compute. Their
outputs are computed once per (backbone, prompt, post), kept in memory for the epochs of a run,
and stored on disk for the next run:

    <cache>/text/<namespace>/<xx>/<key>.safetensors    token states (L, D), post mask (L,), pooled (D,)
                                                       (a reader whose top layers learn: the states
                                                       below them, and the post mask)
    <cache>/image/<namespace>/<xx>/<key>.safetensors   region vectors (49, C)

(<namespace>: its first 16 characters; <xx>: the key's first 2.) The namespace is a digest of the
backbone's weights, its config (not where it was loaded from), (text) its tokenizer and the
precision it computes in (bf16 on a GPU), so a fine-tuned or re-initialised backbone never meets
the features of another, and a GPU's features never meet a CPU run. The key adds the
prompt, max_text_tokens and the post's text, or the image size and the image file's path, size
and modification time, so an edited image or a changed prompt is a miss. Each file carries a
checksum of its tensors: a torn write or a corrupted file is detected, dropped and recomputed.

Features are stored as float16, in memory and on disk alike (half the space; a cold and a warm
run see the same numbers).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset

from crisis_model.data.images import image_to_tensor, load_image
from crisis_model.errors import ImageError, TrainingError
from crisis_model.file_faults import os_reason
from crisis_model.model import CrisisModel
from crisis_model.model.text_encoder import CutStates, TextFeatures
from crisis_model.reading import digest, hash_tensors, module_digest, text_reader_config, tokenizer_description
from crisis_model.runtime import Distributed, compute_dtype, device_autocast
from crisis_model.training.progress import Progress, ProgressEvent

# Raise when the way a kind of feature is computed changes: its old entries become misses.
TEXT_FORMAT_VERSION = 2  # 2: the post is cut to fit (never the prompt), pooled over its own tokens
IMAGE_FORMAT_VERSION = 2  # 2: JPEGs decoded at reduced scale, as `predict` decodes them
STORE_DTYPE = torch.float16


def text_namespace(model: CrisisModel) -> str:
    encoder, reader_config = model.text_encoder, text_reader_config(model)
    tokenizer, precision = tokenizer_description(model.tokenizer), str(compute_dtype(model.device))
    if encoder.finetune_layers:  # the frozen part's output: the top layers, which learn, are left out
        top = {id(t) for module in encoder.top_modules() for t in module.state_dict(keep_vars=True).values()}
        frozen = hash_tensors((n, t) for n, t in encoder.state_dict(keep_vars=True).items() if id(t) not in top)
        cut = ("cut", encoder.finetune_layers)
        return digest("text", TEXT_FORMAT_VERSION, frozen, cut, reader_config, tokenizer, precision)
    return digest(
        "text", TEXT_FORMAT_VERSION, module_digest(encoder), encoder.pooling, reader_config, tokenizer, precision
    )


def image_namespace(model: CrisisModel) -> str:
    """The CNN's weights and name, and the precision it computes in (bf16 on a GPU)."""
    return digest(
        "image", IMAGE_FORMAT_VERSION, module_digest(model.image_encoder), model.config.image_backbone,
        str(compute_dtype(model.device)),
    )  # fmt: skip


def text_key(namespace: str, prompt: str, max_tokens: int, text: str) -> str:
    return digest(namespace, prompt, max_tokens, text)


def image_key(namespace: str, image_size: int, path: str) -> str | None:
    """None when the file is gone (it is then read as a post without an image)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return digest(namespace, image_size, os.path.abspath(path), stat.st_size, stat.st_mtime_ns)


def _checksum(tensors: dict[str, Tensor]) -> str:
    return hash_tensors(sorted(tensors.items()))


@dataclass
class CacheStats:
    hits: int = 0  # found on disk
    misses: int = 0  # computed by the backbone
    corrupt: int = 0  # found on disk but unreadable or failing the checksum (also counted as misses)


class FeatureStore:
    """Cache entries on disk, one checksummed safetensors file each; `root=None` keeps nothing.
    A cache that cannot be written (a full disk, a read-only folder) is a warning, not a lost run:
    the features stay in memory, and `write_error` says why nothing more is saved."""

    def __init__(self, root: str | Path | None) -> None:
        self.root = Path(root) if root is not None else None
        self.write_error: str | None = None

    def _path(self, kind: str, namespace: str, key: str) -> Path:
        return self.root / kind / namespace[:16] / key[:2] / f"{key}.safetensors"

    def load(self, kind: str, namespace: str, key: str, stats: CacheStats) -> dict[str, Tensor] | None:
        if self.root is None:
            return None
        path = self._path(kind, namespace, key)
        if not path.exists():
            return None
        try:
            with safe_open(str(path), framework="pt") as f:
                expected = (f.metadata() or {}).get("checksum")
                tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118 (not a dict)
            if expected is None or _checksum(tensors) != expected:
                raise ValueError("checksum mismatch")
        except (SafetensorError, OSError, ValueError):
            stats.corrupt += 1
            path.unlink(missing_ok=True)
            return None
        return tensors

    def save(self, kind: str, namespace: str, key: str, tensors: dict[str, Tensor]) -> None:
        """Written beside its final name and renamed into place: readers never see half a file."""
        if self.root is None or self.write_error is not None:
            return
        path = self._path(kind, namespace, key)
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{key[:8]}.", suffix=".tmp")
            os.close(fd)
            save_file(tensors, tmp, metadata={"checksum": _checksum(tensors)})
            os.replace(tmp, path)
        except OSError as err:
            self.write_error = f"the feature cache cannot be written in {path.parent} ({os_reason(err)})"
        finally:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)


# --------------------------------------------------------------------------- images


def decode_image(path: str, size: int) -> Tensor | str:
    """The image as a model input tensor, or the reason it cannot be read. Decoded as `predict`
    decodes it (a JPEG at reduced scale), so training sees the pixels scoring will see."""
    try:
        return image_to_tensor(load_image(path, min_size=size), size)
    except ImageError as err:
        return str(err)


class ImageFiles(Dataset):
    """Decodes images in DataLoader workers: (id, tensor, or the error message, or None for a
    post without an image). The id is the position, or ids[position] when given."""

    def __init__(self, paths: Sequence[str], size: int, ids: Sequence[int] | None = None) -> None:
        self.paths, self.size = list(paths), size
        self.ids = list(ids) if ids is not None else list(range(len(self.paths)))

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[int, Tensor | str | None]:
        return self.ids[i], decode_image(self.paths[i], self.size) if self.paths[i] else None


# --------------------------------------------------------------------------- in memory


@dataclass
class PostFeatures:
    """Backbone outputs for every post of a table, ready to be batched for the fusion head."""

    text_index: Tensor | None  # (N,) row of each post in token_states / post_masks / pooled
    token_states: list[Tensor]  # per distinct text: (L, D); at the cut when the reader's top layers learn
    post_masks: list[Tensor]  # per distinct text: (L,) bool, True at the post's own tokens
    pooled: Tensor | None  # (T, D); None when the reader's top layers learn (they pool)
    image_index: Tensor  # (N,) row of each post in regions; -1: no image, or unreadable
    regions: Tensor | None  # (M, R, C)
    empty_text: int | None = None  # the row of the post without words (the prompt alone), for reliance
    at_cut: bool = False  # token_states are where the reader's frozen layers end (its top layers learn)
    stats: dict[str, CacheStats] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def has_image(self) -> Tensor:
        return self.image_index >= 0

    def inputs(self, rows: Tensor, device: torch.device, drop: str | None = None) -> dict[str, Any]:
        """Keyword arguments of `CrisisModel.forward` for the posts at `rows`; with `drop` "photo"
        or "words", as if the posts had no photo, or no words (the prompt alone)."""
        has_image = self.has_image[rows] & (drop != "photo")
        inputs: dict[str, Any] = {"has_image": has_image.to(device)}
        if self.text_index is not None:
            texts = self.text_index[rows] if drop != "words" else torch.full_like(rows, self.empty_text)
            states, mask, post_mask = self.padded_texts(texts, device)
            if self.at_cut:  # the reader's top layers run in the model, on the states below them
                inputs["text_cut"] = CutStates(states, mask, post_mask)
            else:
                pooled = self.pooled[texts].to(device, torch.float32)
                inputs["text_features"] = TextFeatures(states, mask, post_mask, pooled)
        if self.regions is not None and bool(has_image.any()):
            regions = self.regions[self.image_index[rows].clamp(min=0)]
            inputs["region_states"] = regions.to(device, torch.float32)  # ignored where no image
        return inputs

    def padded_texts(self, texts: Tensor, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
        """The token states of the distinct texts at `texts` padded into one batch (float32), the
        mask of real tokens and the mask of the post's own tokens."""
        states = [self.token_states[i] for i in texts.tolist()]
        lengths = torch.tensor([s.shape[0] for s in states])
        padded = pad_sequence(states, batch_first=True).to(device, torch.float32)
        mask = (torch.arange(padded.shape[1])[None, :] < lengths[:, None]).to(device)
        post_mask = pad_sequence([self.post_masks[i] for i in texts.tolist()], batch_first=True).to(device)
        return padded, mask, post_mask

    @torch.inference_mode()
    def through_top_layers(self, model: CrisisModel, batch_size: int = 64) -> PostFeatures:
        """The features a reader whose top layers learn gives before they learn: each distinct text's
        states at the cut read once through the top layers as they are (the head's warm-up)."""
        model.eval()
        order = sorted(range(len(self.token_states)), key=lambda i: self.token_states[i].shape[0])
        states: list[Tensor] = [torch.empty(0)] * len(order)
        pooled: list[Tensor] = [torch.empty(0)] * len(order)
        for start in range(0, len(order), batch_size):  # similar lengths share a batch: less padding
            batch = order[start : start + batch_size]
            cut = CutStates(*self.padded_texts(torch.tensor(batch), model.device))
            with device_autocast(model.device):
                out = model.text_encoder.read_from_cut(cut)
            for j, i in enumerate(batch):
                states[i] = _stored(out.token_states[j, : self.token_states[i].shape[0]])
                pooled[i] = _stored(out.pooled[j])
        return dataclasses.replace(self, token_states=states, pooled=torch.stack(pooled), at_cut=False)


# --------------------------------------------------------------------------- computing


def _fill(
    kind: str,
    namespace: str,
    keys: list[str],
    compute: Callable[[list[str]], Iterator[tuple[str, dict[str, Tensor] | None]]],
    store: FeatureStore,
    dist: Distributed,
    report: Callable[[int], None],
) -> tuple[dict[str, dict[str, Tensor]], CacheStats]:
    """Every distinct key's entry: from disk when there, else computed (and saved). Under torchrun
    each process computes its share of the misses, then reads the others' from the shared cache
    (on a cache that is not shared between machines, it computes what it does not find)."""
    stats = CacheStats()
    found: dict[str, dict[str, Tensor]] = {}
    missing = []
    for key in keys:
        entry = store.load(kind, namespace, key, stats)
        if entry is None:
            missing.append(key)
        else:
            found[key] = entry
            report(1)
    stats.hits, stats.misses = len(found), len(missing)

    def compute_and_save(todo: list[str]) -> None:
        for key, entry in compute(todo):
            if entry is not None:
                found[key] = entry
                store.save(kind, namespace, key, entry)
            report(1)

    if dist.world > 1 and store.root is not None:
        compute_and_save(missing[dist.rank :: dist.world])
        dist.barrier()
        for key in missing:
            if key not in found:
                entry = store.load(kind, namespace, key, CacheStats())
                if entry is not None:
                    found[key] = entry
                    report(1)
        # those left are the unreadable images (and, on an unshared cache, other machines' shares)
        missing = [key for key in missing if key not in found]
    compute_and_save(missing)
    return found, stats


def _stored(t: Tensor) -> Tensor:
    """A compact copy that owns its memory (a view would keep its whole batch alive). A value beyond
    float16's range (a language model's residual states can grow that large) is an error, not an inf
    that would turn the head's loss into NaN epochs later."""
    stored = t.to(device="cpu", dtype=STORE_DTYPE, memory_format=torch.contiguous_format, copy=True)
    if not bool(torch.isfinite(stored).all()):
        largest = float(t.detach().abs().max())
        raise TrainingError(
            f"a reader's output ({largest:.4g} at most) does not fit the feature cache's float16 (up to 65504): "
            "cut the text reader elsewhere (--finetune-layers) or let it learn whole (--backbone-mode full)"
        )
    return stored


@torch.inference_mode()
def compute_features(
    model: CrisisModel,
    texts: Sequence[str],
    image_paths: Sequence[str],
    store: FeatureStore,
    *,
    batch_size: int = 64,
    workers: int = 0,
    progress: Progress | None = None,
    dist: Distributed | None = None,
) -> PostFeatures:
    """The frozen backbones' outputs for each post (text, image path or "")."""
    dist = dist or Distributed()
    cfg = model.config
    text_keys: list[str] = []
    image_keys: list[str | None] = []
    text_ns = image_ns = ""
    if model.text_encoder is not None:
        text_ns = text_namespace(model)
        texts = [*texts, ""]  # the post without words, for the reliance on them (the last row)
        text_keys = [text_key(text_ns, cfg.prompt, cfg.max_text_tokens, t) for t in texts]
    if model.image_encoder is not None and any(image_paths):
        image_ns = image_namespace(model)
        image_keys = [image_key(image_ns, cfg.image_size, path) if path else None for path in image_paths]
    image_files = {key: path for key, path in zip(image_keys, image_paths) if key is not None}
    counts = {"done": 0, "total": len(set(text_keys)) + len(image_files)}

    def report(n: int) -> None:
        counts["done"] += n
        if progress is not None:
            progress(ProgressEvent("features", done=counts["done"], total=counts["total"]))

    result = PostFeatures(
        text_index=None,
        token_states=[],
        post_masks=[],
        pooled=None,
        image_index=torch.full((len(image_paths),), -1, dtype=torch.long),
        regions=None,
    )
    if text_keys:
        _fill_text_features(
            result, model, text_ns, dict(zip(text_keys, texts)), text_keys, store, dist, report, batch_size
        )
    if image_files:
        _fill_image_features(result, model, image_ns, image_files, image_keys, store, dist, report, batch_size, workers)
    if store.write_error is not None:
        result.warnings.insert(
            0, f"{store.write_error}; this run keeps its features in memory (--cache-dir DIR or --no-cache)"
        )
    return result


def _fill_text_features(
    result: PostFeatures,
    model: CrisisModel,
    namespace: str,
    text_of: dict[str, str],
    keys: list[str],
    store: FeatureStore,
    dist: Distributed,
    report: Callable[[int], None],
    batch_size: int,
) -> None:
    """Token states and pooled vectors of each distinct text, indexed by post; for a reader whose
    top layers learn, the states below them."""
    device = model.device
    encoder = model.text_encoder

    def encode(todo: list[str]) -> Iterator[tuple[str, dict[str, Tensor]]]:
        if not todo:
            return
        encoded = model.tokenize([text_of[k] for k in todo])
        lengths = encoded["attention_mask"].sum(dim=1)
        order = lengths.argsort(descending=True).tolist()  # similar lengths share a batch: less padding
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            longest = int(lengths[batch].max())
            inputs = (encoded[k][batch, :longest].to(device) for k in ("input_ids", "attention_mask", "post_mask"))
            with device_autocast(device):
                out = encoder.read_to_cut(*inputs) if encoder.finetune_layers else encoder(*inputs)
            for j, i in enumerate(batch):
                entry = {"post_mask": encoded["post_mask"][i, : int(lengths[i])].clone()}
                if encoder.finetune_layers:
                    entry["token_states"] = _stored(out.states[j, : int(lengths[i])])
                else:
                    entry["token_states"] = _stored(out.token_states[j, : int(lengths[i])])
                    entry["pooled"] = _stored(out.pooled[j])
                yield todo[i], entry

    distinct = list(dict.fromkeys(keys))
    found, result.stats["text"] = _fill("text", namespace, distinct, encode, store, dist, report)
    row_of = {key: row for row, key in enumerate(distinct)}
    result.text_index = torch.tensor([row_of[k] for k in keys], dtype=torch.long)
    result.token_states = [found[k]["token_states"] for k in distinct]
    result.post_masks = [found[k]["post_mask"] for k in distinct]
    result.at_cut = bool(encoder.finetune_layers)
    result.pooled = None if result.at_cut else torch.stack([found[k]["pooled"] for k in distinct])
    result.empty_text = int(result.text_index[-1])


def _fill_image_features(
    result: PostFeatures,
    model: CrisisModel,
    namespace: str,
    files: dict[str, str],
    keys: list[str | None],
    store: FeatureStore,
    dist: Distributed,
    report: Callable[[int], None],
    batch_size: int,
    workers: int,
) -> None:
    """Region vectors of each distinct readable image, indexed by post; the unreadable ones become
    text-only posts, with a warning each."""
    device, size = model.device, model.config.image_size
    errors: dict[str, str] = {}

    def encode(todo: list[str]) -> Iterator[tuple[str, dict[str, Tensor] | None]]:
        loader = DataLoader(
            ImageFiles([files[k] for k in todo], size), batch_size=batch_size, num_workers=workers, collate_fn=list
        )
        for batch in loader:
            good = [(i, x) for i, x in batch if isinstance(x, Tensor)]
            for i, reason in batch:
                if isinstance(reason, str):
                    errors[todo[i]] = reason
                    yield todo[i], None
            if not good:
                continue
            pixels = torch.stack([x for _, x in good]).to(device)
            with device_autocast(device):
                regions = model.image_encoder(pixels).region_states
            for j, (i, _) in enumerate(good):
                yield todo[i], {"region_states": _stored(regions[j])}

    distinct = list(files)
    found, result.stats["image"] = _fill("image", namespace, distinct, encode, store, dist, report)
    readable = [k for k in distinct if k in found]
    row_of = {key: row for row, key in enumerate(readable)}
    result.image_index = torch.tensor([row_of.get(k, -1) if k else -1 for k in keys], dtype=torch.long)
    if readable:
        result.regions = torch.stack([found[k]["region_states"] for k in readable])
    result.warnings = [f"image ignored, post read as text-only: {reason}" for reason in errors.values()]
