"""Hostile posts for `crisis_model.predict`: a text that is not a string and a photo of no usable
type are refused with a CrisisLensError naming the post and the type (never read as their str());
an empty or unreadable photo is a named warning, never silence; an H x W x 3 uint8 array is a
photo; and a model whose answer is not a number gives no label. HOSTILE_CASES is this surface's
list (tests/hostile_cases.py counts every surface's)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from crisis_model import CrisisLensError, Post, predict
from crisis_model.inference import NOT_A_NUMBER
from tests.conftest import tiny_model

PIXELS = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)


def png(pixels: np.ndarray = PIXELS) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass(frozen=True)
class Case:
    id: str
    post: Any  # what is given as posts[1] (posts[0] is a plain one)
    refused: str = ""  # words of the error, which must also name "post 1"
    warning: str = ""  # words of the post's warning; "" for none
    has_image: bool = False


OK = {"text": "bridge collapsed on route 9"}

POST_CASES = [
    # ------------------------------------------------------------------ texts that are not strings
    Case("text-integer", {"text": 42}, refused="the text must be a string, not int 42"),
    Case("text-float", {"text": 4.5}, refused="not float 4.5"),
    Case("text-nan", {"text": float("nan")}, refused="not float nan"),
    Case("text-numpy-nan", {"text": np.float64("nan")}, refused="not float64 nan"),
    Case("text-numpy-integer", {"text": np.int64(7)}, refused="not int64 7"),
    Case("text-bytes", {"text": b"flood"}, refused="not bytes b'flood'"),
    Case("text-list", {"text": ["flood", "water"]}, refused="not list"),
    Case("text-dict", {"text": {"en": "flood"}}, refused="not dict"),
    Case("text-true", {"text": True}, refused="not bool True"),
    Case("text-of-a-post-object", Post(text=12), refused="not int 12"),
    Case("text-long-object-shown-short", {"text": list(range(1000))}, refused=r"not list \[0, 1, 2"),
    # ------------------------------------------------------------------ posts that are not posts
    Case("post-a-string", "flood", refused="expected a Post or a dict, got str"),
    Case("post-none", None, refused="expected a Post or a dict, got NoneType"),
    Case("post-a-list", ["flood"], refused="expected a Post or a dict, got list"),
    Case("post-without-text", {"image": None}, refused="needs a 'text' key"),
    # ------------------------------------------------------------------ photos of no usable type
    Case("photo-integer", {**OK, "image": 7}, refused="a photo must be a path, the file's bytes"),
    Case("photo-float-nan", {**OK, "image": float("nan")}, refused="not float nan"),
    Case("photo-list", {**OK, "image": [1, 2, 3]}, refused="not list"),
    Case("photo-dict", {**OK, "image": {"path": "x.png"}}, refused="not dict"),
    Case("photo-array-float", {**OK, "image": PIXELS.astype(np.float32)}, refused=r"H x W x 3 uint8 \(RGB\)"),
    Case("photo-array-channels-first", {**OK, "image": PIXELS.transpose(2, 0, 1).copy()}, refused=r"shape \(3, 48"),
    Case("photo-array-grey", {**OK, "image": PIXELS[..., 0].copy()}, refused=r"shape \(48, 64\)"),
    Case("photo-array-alpha", {**OK, "image": np.dstack([PIXELS, PIXELS[..., :1]])}, refused=r"shape \(48, 64, 4\)"),
    Case("photo-array-empty", {**OK, "image": np.zeros((0, 0, 3), np.uint8)}, refused=r"shape \(0, 0, 3\)"),
    # ------------------------------------------------------------------ accepted, or a named warning
    Case("text-none-with-a-photo", {"text": None, "image": png()}, has_image=True),
    Case("text-numpy-string", {"text": np.str_("flood water rising")}),
    Case("text-lone-surrogate", {"text": "flood \ud800 water"}),
    Case("text-control-characters", {"text": "flood\x00\x1b[31m water\u202e"}),
    Case("text-a-million-characters", {"text": "flood " * 200_000}, warning="its end was left out"),
    Case("photo-empty-bytes", {**OK, "image": b""}, warning="uploaded image: empty (0 bytes)"),
    Case("photo-garbage-bytes", {**OK, "image": b"\x00garbage"}, warning="not an image"),
    Case("photo-missing-file", {**OK, "image": "/nonexistent/photo.jpg"}, warning="cannot read the file"),
    Case("photo-a-folder", {**OK, "image": "/"}, warning="image ignored"),
    Case("photo-empty-string-is-none", {**OK, "image": ""}),
    Case("photo-array-rgb", {**OK, "image": PIXELS}, has_image=True),
    Case("photo-array-not-contiguous", {**OK, "image": PIXELS[:, ::-1]}, has_image=True),
    Case("photo-bytearray", {**OK, "image": bytearray(png())}, has_image=True),
    Case("photo-memoryview", {**OK, "image": memoryview(png())}, has_image=True),
    Case("photo-pil-image", {**OK, "image": Image.fromarray(PIXELS)}, has_image=True),
    Case("photo-path-object", {**OK, "image": Path("/nonexistent.png")}, warning="cannot read the file"),
]


@pytest.fixture(scope="module")
def model():
    return tiny_model("full").eval()


@pytest.mark.parametrize("case", POST_CASES, ids=lambda case: case.id)
def test_a_hostile_post_is_refused_naming_it_or_scored_with_a_named_warning(case, model) -> None:
    if case.refused:
        with pytest.raises(CrisisLensError, match=case.refused) as refused:
            predict(model, [OK, case.post])
        assert str(refused.value).startswith("post 1: ")
        return
    _, prediction = predict(model, [OK, case.post])
    assert prediction.label in model.config.label_names
    assert prediction.explanation.has_image == case.has_image
    said = " ".join(prediction.explanation.warnings)
    assert case.warning in said if case.warning else said == ""


BROKEN_MODELS = {"weights-nan": float("nan"), "weights-infinite": float("inf")}


@pytest.mark.parametrize("value", BROKEN_MODELS.values(), ids=BROKEN_MODELS.keys())
def test_a_model_whose_answer_is_not_a_number_gives_no_label(value) -> None:
    broken = tiny_model("full").eval()
    with torch.no_grad():
        for weight in broken.head.parameters():
            weight.fill_(value)
    (prediction,) = predict(broken, [OK])
    assert prediction.label is None and prediction.confidence is None and prediction.probabilities == {}
    assert prediction.cannot_judge == NOT_A_NUMBER


HOSTILE_CASES = [*POST_CASES, *BROKEN_MODELS]
