"""`predict` for a batch in which some posts may have nothing to analyse.

`crisis_model.predict` refuses a whole call when one post has neither words the model reads nor
a photo it can decode. A collection (or an uploaded file) holds such posts now and then; here they
are found first and get their reason, and the others are scored in one call.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from crisis_model.data.images import load_image
from crisis_model.data.table import NOTHING_TO_ANALYSE
from crisis_model.errors import ImageError
from crisis_model.inference import Prediction, predict
from crisis_model.model import CrisisModel
from crisis_model.model.modeling import clean_text

UNREADABLE = "nothing to analyse: empty text and an unreadable photo"


def predict_each(
    model: CrisisModel,
    posts: Sequence[dict],
    batch_size: int = 32,
    autocast_dtype: torch.dtype | None = None,
) -> list[Prediction | str]:
    """Per post (a dict with `text` and `image`, a path or None): its Prediction, or why it cannot
    be analysed. Only a post that needs its photo (no words the model reads) has it opened here
    first; the decoding done by `predict` makes every other unreadable photo a warning."""
    reasons = [_why_not(model, post) for post in posts]
    usable = [i for i, reason in enumerate(reasons) if reason is None]
    scored = predict(model, [posts[i] for i in usable], batch_size=batch_size, autocast_dtype=autocast_dtype)
    out: list[Prediction | str] = list(reasons)  # type: ignore[arg-type]
    for i, prediction in zip(usable, scored):
        out[i] = prediction
    return out


def _why_not(model: CrisisModel, post: dict) -> str | None:
    cfg = model.config
    # words: read, or for a model judging the photo alone (damage), no error: "cannot judge" without a photo
    if (cfg.uses_text or cfg.requires_image) and clean_text(post["text"] or ""):
        return None
    if not cfg.uses_image:
        return f"nothing to analyse: empty text for a {cfg.fusion!r} model, which reads no photo"
    if not post.get("image"):
        return NOTHING_TO_ANALYSE
    try:
        load_image(post["image"], min_size=cfg.image_size)
    except ImageError as err:
        return f"{UNREADABLE} ({err})"
    return None
