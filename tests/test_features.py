"""The feature cache: backbones run once per post, not once per epoch; a changed prompt, image
or backbone never meets stale features; a corrupt entry is recomputed."""

from __future__ import annotations

import dataclasses
import os

import pytest
import torch
from PIL import Image

from crisis_model import predict
from crisis_model.errors import TrainingError
from crisis_model.model.image_encoder import ImageEncoder
from crisis_model.model.text_encoder import TextEncoder
from crisis_model.training import ProgressEvent, TrainConfig, train
from crisis_model.training import features as feature_cache
from crisis_model.training.features import CacheStats, FeatureStore, compute_features, module_digest, text_namespace
from tests.conftest import TINY_TEXTS, tiny_model


@pytest.fixture
def counted(monkeypatch) -> dict[str, int]:
    """How often each backbone ran (batches)."""
    calls = {"text": 0, "image": 0}
    for kind, cls in (("text", TextEncoder), ("image", ImageEncoder)):
        original = cls.forward

        def forward(self, *args, _original=original, _kind=kind, **kwargs):
            calls[_kind] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "forward", forward)
    return calls


def feature_stats(events: list[ProgressEvent]) -> dict[str, dict[str, int]]:
    return next(e.stats for e in events if e.stage == "features" and e.stats is not None)


def test_backbones_run_once_then_the_cache_is_hit_across_epochs_and_runs(
    tmp_path, demo_root, new_feature_cache, counted
) -> None:
    cfg = TrainConfig(
        out=str(tmp_path / "a"),
        data_root=str(demo_root),
        preset="tiny",
        epochs=2,
        workers=0,
        cache_dir=str(new_feature_cache()),
    )
    at_first_epoch: dict[str, int] = {}

    def watch(event: ProgressEvent) -> None:
        events.append(event)
        if event.stage == "epoch" and not at_first_epoch:
            at_first_epoch.update(counted)

    events: list[ProgressEvent] = []
    train(cfg, progress=watch)
    cold = feature_stats(events)
    assert cold["text"]["hits"] == 0 and cold["text"]["misses"] > 0
    assert cold["image"]["hits"] == 0 and cold["image"]["misses"] > 0
    assert counted == at_first_epoch  # the second epoch (and evaluation) ran no backbone

    counted.update(text=0, image=0)
    events = []
    train(dataclasses.replace(cfg, out=str(tmp_path / "b")), progress=events.append)
    warm = feature_stats(events)
    assert warm["text"] == {"hits": cold["text"]["misses"], "misses": 0, "corrupt": 0}
    assert warm["image"] == {"hits": cold["image"]["misses"], "misses": 0, "corrupt": 0}
    assert counted == {"text": 0, "image": 0}

    events = []
    train(dataclasses.replace(cfg, out=str(tmp_path / "c"), prompt="summarize"), progress=events.append)
    changed = feature_stats(events)
    assert changed["text"]["hits"] == 0 and changed["text"]["misses"] == cold["text"]["misses"]
    assert changed["image"]["misses"] == 0  # the images did not change


def test_a_corrupt_or_stale_entry_is_recomputed(tmp_path) -> None:
    model = tiny_model("full").eval()
    image = tmp_path / "photo.png"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(image)
    store = FeatureStore(tmp_path / "cache")
    texts, paths = TINY_TEXTS[:3], [str(image), "", ""]
    first = compute_features(model, texts, paths, store)
    # the three posts' texts and the post without words (the prompt alone, for the reliance on words)
    assert first.stats["text"].misses == 4 and first.stats["image"].misses == 1
    assert first.has_image.tolist() == [True, False, False]

    entry = next((tmp_path / "cache" / "text").rglob("*.safetensors"))
    data = bytearray(entry.read_bytes())
    data[-3] ^= 0xFF  # a flipped bit in the tensor bytes
    entry.write_bytes(bytes(data))
    second = compute_features(model, texts, paths, store)
    assert second.stats["text"] == CacheStats(hits=3, misses=1, corrupt=1)
    for a, b in zip(first.token_states, second.token_states):  # recomputed in a batch of its own: float16 rounding
        assert torch.allclose(a.float(), b.float(), atol=2e-3)

    entry.write_bytes(entry.read_bytes()[:40])  # a torn write
    assert compute_features(model, texts, paths, store).stats["text"].corrupt == 1

    os.utime(image, ns=(1, 1))  # the image file changed
    assert compute_features(model, texts, paths, store).stats["image"].misses == 1


def test_a_cache_that_cannot_be_written_is_a_warning_and_the_features_are_kept(tmp_path) -> None:
    model = tiny_model("text").eval()
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache folder should be")
    features = compute_features(model, TINY_TEXTS[:3], ["", "", ""], FeatureStore(blocked))
    assert len(features.token_states) == 4 and features.pooled.shape[0] == 4  # three posts and the prompt alone
    assert len(features.warnings) == 1
    assert features.warnings[0].startswith(f"the feature cache cannot be written in {blocked}")
    assert "--cache-dir DIR or --no-cache" in features.warnings[0]
    assert blocked.read_text() == "a file where the cache folder should be"


def test_a_changed_backbone_never_meets_old_features(tmp_path) -> None:
    model = tiny_model("text").eval()
    store = FeatureStore(tmp_path / "cache")
    compute_features(model, TINY_TEXTS[:2], ["", ""], store)
    before = module_digest(model.text_encoder)
    with torch.no_grad():
        next(model.text_encoder.parameters()).add_(1e-3)
    assert module_digest(model.text_encoder) != before
    assert compute_features(model, TINY_TEXTS[:2], ["", ""], store).stats["text"].misses == 3  # and the prompt alone


def test_the_text_namespace_follows_the_reading_not_where_the_reader_was_loaded_from(monkeypatch) -> None:
    model = tiny_model("text").eval()
    before = text_namespace(model)
    config = model.config.text_backbone_config
    model.config.text_backbone_config = {**config, "_name_or_path": "/another/venv", "transformers_version": "9.9"}
    assert text_namespace(model) == before  # the same weights from another folder: the same features
    model.config.text_backbone_config = {**config, "layer_norm_epsilon": 1e-3}
    assert text_namespace(model) != before
    model.config.text_backbone_config = config
    monkeypatch.setattr(feature_cache, "compute_dtype", lambda device: torch.bfloat16)  # as on a GPU
    assert text_namespace(model) != before


def test_a_reader_output_beyond_float16_is_an_error_not_a_nan_loss() -> None:
    model = tiny_model("text").eval()
    with torch.no_grad():
        model.text_encoder.backbone.ln_f.weight.fill_(1e6)
    with pytest.raises(TrainingError, match="does not fit the feature cache's float16.*--finetune-layers"):
        compute_features(model, TINY_TEXTS[:2], ["", ""], FeatureStore(None))


def test_cached_features_give_the_outputs_of_the_raw_inputs(tmp_path) -> None:
    model = tiny_model("full").eval()
    image = tmp_path / "photo.png"
    Image.new("RGB", (64, 48), (20, 130, 30)).save(image)
    features = compute_features(model, TINY_TEXTS[:3], [str(image), "", str(image)], FeatureStore(None))
    with torch.inference_mode():
        cached = model(**features.inputs(torch.arange(3), torch.device("cpu")))
        raw = predict(
            model, [{"text": t, "image": p or None} for t, p in zip(TINY_TEXTS[:3], [str(image), "", str(image)])]
        )
    for i, pred in enumerate(raw):
        assert cached.probabilities[i].tolist() == pytest.approx(list(pred.probabilities.values()), abs=2e-3)


def test_training_decodes_a_photo_to_the_pixels_scoring_sees(tmp_path) -> None:
    """A large JPEG is decoded at reduced scale by `predict`; the feature pass must match it, or
    a model would be trained on pixels it never meets when scoring."""
    from crisis_model.inference import Post, _decode
    from crisis_model.training.features import decode_image

    photo = tmp_path / "photo.jpg"
    noise = torch.randint(0, 256, (900, 1200, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    Image.fromarray(noise.numpy()).save(photo, quality=85)
    scoring, _ = _decode(Post(text="", image=str(photo)), 0, 224)
    assert torch.equal(decode_image(str(photo), 224), scoring)
