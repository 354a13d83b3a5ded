"""Benchmark models and posts that need no network.

`paper_size_model` builds the `paper` preset's architecture (GPT-2 124M + ResNet50) from config
alone, with random weights: GPT-2's own tokenizer is not available offline, so a byte-level BPE
tokenizer trained on the posts' texts stands in for it (the same kind of tokenizer, asked for
GPT-2's 50,257 tokens, learning as many merges as the texts allow; the embedding keeps GPT-2's
50,257 rows). Its splits, and so the token counts, differ from GPT-2's. Timings need the
architecture, not the weights.

`tiny_model` is the `tiny` preset as the demo builds it.

`make_photos` writes a pool of photo-like JPEGs (tweet-photo sizes); `make_posts` pairs them with texts.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from transformers import AutoModel, GPT2Config

from crisis_model import CrisisModel, preset_config
from crisis_model.model.image_encoder import ImageEncoder, build_cnn
from crisis_model.model.text_encoder import TextEncoder, train_tiny_tokenizer

GPT2_VOCAB = 50257
# CrisisMMD's texts: $CRISISMMD_ROOT (as for the dashboard), else ../shared/crisismmd beside the repo
SHARED_CRISISMMD = Path(
    os.environ.get("CRISISMMD_ROOT") or Path(__file__).resolve().parents[2] / "shared" / "crisismmd"
)

FALLBACK_TEXTS = [
    "Flood water rising fast in the city centre, families on roofs need rescue boats #flood",
    "Bridge collapsed after the earthquake, route 9 closed in both directions",
    "Volunteers collect food, water and blankets for the victims of the fire",
    "What a lovely sunny day at the beach with friends",
    "Three people injured and two missing after the storm hit the coast last night",
    "RT @news: Power out for 200,000 homes, crews working through the night",
    "Praying for everyone affected by the hurricane. Stay safe!",
    "Shelter at the high school is full; the church on 5th street still has beds",
]


def crisis_texts(limit: int | None = None) -> list[str]:
    """Real tweet texts of CrisisMMD (SHARED_CRISISMMD) when present, else a few invented ones
    (then the stand-in tokenizer, trained on them, splits posts into more tokens)."""
    folder = SHARED_CRISISMMD / "crisismmd_datasplit_all"
    texts: list[str] = []
    for path in sorted(folder.glob("task_informative_text_img_*.tsv")):
        lines = path.read_text(encoding="utf-8").splitlines()
        header = lines[0].split("\t")
        col = header.index("tweet_text")
        texts += [line.split("\t")[col] for line in lines[1:] if line.count("\t") >= col]
    texts = list(dict.fromkeys(t for t in texts if t.strip())) or FALLBACK_TEXTS
    return texts[:limit] if limit else texts


def paper_size_model(texts: Sequence[str]) -> CrisisModel:
    """The paper preset's architecture with random weights, built without the hub."""
    config = preset_config("paper", image_pretrained=False)
    tokenizer = train_tiny_tokenizer(texts, vocab_size=GPT2_VOCAB)  # a stand-in for GPT-2's
    gpt2 = GPT2Config(
        vocab_size=GPT2_VOCAB, bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id
    )  # GPT-2 small: 12 x 768, 124M
    config.text_backbone_config = gpt2.to_dict()
    text = TextEncoder(AutoModel.from_config(gpt2), config.text_pooling)
    image = ImageEncoder(build_cnn(config.image_backbone, pretrained=False))
    return CrisisModel(config, text, image, tokenizer).eval()


def tiny_model(texts: Sequence[str]) -> CrisisModel:
    return CrisisModel.from_config(preset_config("tiny"), train_texts=texts).eval()


PHOTO_SIZES = [(1200, 900), (1024, 768), (900, 1200), (1200, 675), (800, 600), (640, 640)]


def make_photo(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """A photo-like picture: sky, ground, blocks, blurred, with sensor noise (so JPEG
    decoding costs what a real photo costs, not what a flat colour costs)."""
    w, h = size
    image = Image.new("RGB", size, tuple(rng.randrange(80, 200) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    ground = rng.randrange(h // 2, 4 * h // 5)
    draw.rectangle([0, ground, w, h], fill=tuple(rng.randrange(40, 140) for _ in range(3)))
    for _ in range(rng.randrange(8, 20)):
        x, y = rng.randrange(w), rng.randrange(h // 4, ground + 1)
        bw, bh = rng.randrange(w // 20, w // 5), rng.randrange(h // 20, h // 3)
        draw.rectangle([x, y - bh, x + bw, y], fill=tuple(rng.randrange(256) for _ in range(3)))
    image = image.filter(ImageFilter.GaussianBlur(2))
    noise = np.random.default_rng(rng.randrange(2**32)).normal(0, 12, (h, w, 3))
    return Image.fromarray(np.clip(np.asarray(image, dtype=np.float32) + noise, 0, 255).astype(np.uint8))


def make_photos(folder: Path, count: int) -> list[str]:
    """`count` JPEG photos (quality 85, tweet-photo sizes) in `folder`; reused when present."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    paths = []
    for i in range(count):
        size = PHOTO_SIZES[i % len(PHOTO_SIZES)]
        path = folder / f"photo_{i}_{size[0]}x{size[1]}.jpg"
        if not path.exists():
            make_photo(rng, size).save(path, quality=85)
        paths.append(str(path))
    return paths


def make_posts(texts: Sequence[str], photos: Sequence[str], n: int) -> list[dict]:
    """n posts, each with a text and an image (cycling through both pools)."""
    return [{"text": texts[i % len(texts)], "image": photos[i % len(photos)], "post_id": str(i)} for i in range(n)]
