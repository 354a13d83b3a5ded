"""Which of several models read a post the same way: one reading of a post for every task.

Each task has its own CrisisModel, but the demo's and the paper's tasks read a post with the same
frozen language model and CNN: decoding the photo and running the readers three times would give
three copies of one answer. A reading is a chain of steps, each named by a key that digests what
the step is and the key of the step below it:

    photo decoding  (image size)                  -> image reader  (CNN's weights and name)
    tokenisation    (tokenizer, prompt, max tokens) -> text reader (language model's weights, config, pooling)

Two models whose keys are equal get the same output from that step for every post, so the step
runs once for both (`SharedReading`). Weights are compared by a digest of their bytes, never by a
name: a fine-tuned or re-initialised reader has another key. Readers that differ above an equal
step still share that step (two prompts: one decoding of the photo; another language model over
the same tokenizer: one tokenisation). A reader split into a frozen trunk and a fine-tuned top
would add a step to its chain and share the trunk's key the same way.

The feature cache of training (crisis_model.training.features) builds its namespaces from the same
parts (`module_digest`, `text_reader_config`, the tokenizer's description), so what makes two
readings differ here makes their cache entries differ there.
"""

from __future__ import annotations

import hashlib
import json
import threading
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from crisis_model.model import CrisisModel


def digest(*parts: Any) -> str:
    """A digest of JSON-able parts (their order counts, a dict's keys do not)."""
    return hashlib.blake2b(json.dumps(parts, sort_keys=True).encode(), digest_size=20).hexdigest()


def hash_tensors(named: Iterable[tuple[str, Tensor]]) -> str:
    """A digest of named tensors: each one's name, dtype, shape and bytes, in the given order."""
    h = hashlib.blake2b(digest_size=20)
    for name, tensor in named:
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(memoryview(t.reshape(-1).view(torch.uint8).numpy()))
    return h.hexdigest()


_digests: weakref.WeakKeyDictionary[nn.Module, tuple[tuple, str]] = weakref.WeakKeyDictionary()
_digests_lock = threading.Lock()


def module_digest(module: nn.Module) -> str:
    """A digest of every parameter and buffer (names, dtypes, shapes and bytes) of a module.
    Remembered per module until a tensor of it changes: its version counter moves (an optimiser
    step, load_state_dict) or its storage is replaced (.to(), .half()); so a reader of GPT-2's size
    is hashed once, not at every call."""
    state = module.state_dict(keep_vars=True)
    versions = tuple((t._version, t.data_ptr(), t.dtype) for t in state.values())
    with _digests_lock:
        known = _digests.get(module)
    if known is not None and known[0] == versions:
        return known[1]
    found = hash_tensors(state.items())
    with _digests_lock:
        _digests[module] = (versions, found)
    return found


def tokenizer_description(tokenizer: Any) -> dict[str, Any]:
    """A fast tokenizer as JSON, less the padding and truncation that each call sets for itself
    (a saved tokenizer keeps the last call's: they are not part of what it is)."""
    described = json.loads(tokenizer.backend_tokenizer.to_str())
    described.pop("truncation", None)
    described.pop("padding", None)
    return described


_tokenizer_digests: weakref.WeakKeyDictionary[Any, tuple[tuple[int, int | None], str]] = weakref.WeakKeyDictionary()


def tokenizer_digest(tokenizer: Any) -> str:
    """A digest of `tokenizer_description` and the padding token, remembered per tokenizer while its
    size and padding token stay (GPT-2's description is 3 MB of JSON: read once, not at every call)."""
    state = (len(tokenizer), tokenizer.pad_token_id)
    with _digests_lock:
        known = _tokenizer_digests.get(tokenizer)
    if known is not None and known[0] == state:
        return known[1]
    found = digest(tokenizer_description(tokenizer), tokenizer.pad_token_id)
    with _digests_lock:
        _tokenizer_digests[tokenizer] = (state, found)
    return found


def text_reader_config(model: CrisisModel) -> dict[str, Any] | None:
    """The language model's config as far as it decides the reading: without where it was loaded
    from or which transformers wrote it (another virtual environment or checkpoint folder, the
    same reading)."""
    config = model.config.text_backbone_config
    if config is None:
        return None
    return {key: value for key, value in config.items() if key not in ("_name_or_path", "transformers_version")}


def tokenisation_key(model: CrisisModel) -> str:
    """What turns a post's text into token ids: the tokenizer, the prompt and the token budget."""
    config = model.config
    return digest("tokenisation", tokenizer_digest(model.tokenizer), config.prompt, config.max_text_tokens)


def text_reader_key(model: CrisisModel) -> str:
    """The language model's reading of the tokenised post: its weights, config and pooling."""
    encoder = model.text_encoder
    return digest(
        "text reader", tokenisation_key(model), module_digest(encoder), encoder.pooling,
        text_reader_config(model), str(model.device),
    )  # fmt: skip


def photo_decoding_key(model: CrisisModel) -> str:
    return digest("photo decoding", model.config.image_size)


def image_reader_key(model: CrisisModel) -> str:
    """The CNN's reading of the decoded photo: its weights and name."""
    encoder = model.image_encoder
    return digest(
        "image reader", photo_decoding_key(model), module_digest(encoder), model.config.image_backbone,
        str(model.device),
    )  # fmt: skip


@dataclass(frozen=True)
class ReadingStep:
    """One step of reading that several tasks' models share: `runner` is the model whose part (its
    tokenizer, text encoder or image encoder, by `kind`) runs once for every model in `members`."""

    kind: str  # "tokenisation", "text reader", "photo decoding", "image reader"
    key: str  # the step's key (`*_key`), or the model's name where it is the only one with this part
    runner: CrisisModel
    members: tuple[str, ...]


class SharedReading:
    """The reading steps of several tasks' models (by name), grouped by key: each step runs once
    for all the models that share it, and `step(kind, name)` says which one a model uses (None
    where the model lacks that part: a photo-only model has no text reader)."""

    def __init__(self, models: Mapping[str, CrisisModel]) -> None:
        self.models = dict(models)
        reads = {
            "tokenisation": (_reads_text, tokenisation_key),
            "text reader": (_reads_text, text_reader_key),
            "photo decoding": (lambda _: True, photo_decoding_key),  # what a text-only model says of a photo
            "image reader": (_reads_photos, image_reader_key),
        }
        self.steps: dict[str, list[ReadingStep]] = {}
        self._of: dict[tuple[str, str], ReadingStep] = {}
        for kind, (takes_part, key_of) in reads.items():
            takers = [name for name, m in self.models.items() if takes_part(m)]
            # one model alone shares with no one: its weights are not hashed (a second of GPT-2's)
            keys = {name: key_of(self.models[name]) if len(takers) > 1 else name for name in takers}
            self.steps[kind] = []
            for key in dict.fromkeys(keys.values()):
                members = tuple(name for name, k in keys.items() if k == key)
                step = ReadingStep(kind, key, self.models[members[0]], members)
                self.steps[kind].append(step)
                self._of.update({(kind, name): step for name in members})

    def step(self, kind: str, name: str) -> ReadingStep | None:
        return self._of.get((kind, name))

    def runs(self, kind: str) -> int:
        """How many times a post goes through this kind of step (1 where every model shares it)."""
        return len(self.steps[kind])


def _reads_text(model: CrisisModel) -> bool:
    return model.config.uses_text and model.text_encoder is not None


def _reads_photos(model: CrisisModel) -> bool:
    return model.config.uses_image and model.image_encoder is not None
