"""The fusion model on the tiny preset: shapes, the invariants of attention and routing,
every ablation learns, save -> load is exact, and bad checkpoints fail clearly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from crisis_model import (
    FUSIONS,
    CheckpointError,
    ConfigError,
    CrisisLensError,
    CrisisModel,
    load_model,
    predict,
    preset_config,
)
from crisis_model.data.images import image_to_tensor, load_image
from crisis_model.model.fusion import DynamicRouting, squash
from crisis_model.model.modeling import TEXT_INPUTS
from crisis_model.training.loss import classification_loss
from tests.conftest import TINY_TEXTS, text_inputs, tiny_model


def structured_images(n: int) -> torch.Tensor:
    """Distinct pictures (a bright band per image): a random network tells noise images apart
    poorly, as it does photographs well."""
    images = torch.zeros(n, 3, 224, 224)
    for i in range(n):
        images[i, i % 3, 40 * i : 40 * i + 80] = 2.0
    return images


def batch_inputs(model: CrisisModel, n: int = 4) -> dict:
    inputs = {"has_image": torch.tensor([True, False, True, True][:n])}
    if model.config.uses_text:
        inputs.update(text_inputs(model, TINY_TEXTS[:n]))
    if model.config.uses_image:
        inputs["pixel_values"] = structured_images(n)
    return inputs


def test_full_model_output_shapes_and_invariants() -> None:
    model = tiny_model("full").eval()
    cfg = model.config
    inputs = batch_inputs(model)
    out = model(**inputs)
    length = inputs["input_ids"].shape[1]
    assert out.logits.shape == (4, 2)
    assert torch.allclose(out.probabilities.sum(-1), torch.ones(4), atol=1e-5)
    assert out.token_to_region.shape == (4, length, 49)
    assert out.region_to_token.shape == (4, 49, length)
    primary = 3 * cfg.capsules_per_modality  # text, image and joint evidence
    assert out.routing_coefficients.shape == (4, primary, cfg.fused_capsules)
    # c_ij is a softmax over the output capsules j
    assert torch.allclose(out.routing_coefficients.sum(-1), torch.ones(4, primary), atol=1e-5)
    assert torch.allclose(out.modality_weights.sum(-1), torch.ones(4), atol=1e-5)
    assert out.capsule_lengths.shape == (4, 3 * cfg.fused_capsules)  # each group's fused capsules
    assert bool((out.capsule_lengths < 1).all())  # squashed
    # the post without an image puts all its weight on the text
    assert out.modality_weights[1].tolist() == [1.0, 0.0, 0.0]
    assert set(out.vote_logits) == {"text", "image", "joint"} and out.vote_logits["text"].shape == (4, 2)
    # the answer is the gate's weighted mean of the votes
    votes = torch.stack([out.vote_logits[g].softmax(-1) for g in ("text", "image", "joint")], dim=1)
    assert torch.allclose((out.modality_weights[:, :, None] * votes).sum(1), out.probabilities, atol=1e-5)
    # attention rows are distributions
    assert torch.allclose(out.token_to_region.sum(-1), torch.ones(4, length), atol=1e-5)


@pytest.mark.parametrize("fusion", ["full", "attention", "concat"])
def test_a_batch_without_photos_scores_and_learns_as_in_a_mixed_batch(fusion: str) -> None:
    """A batch with no photo shares one set of stand-in regions (projected once, no attention
    back); the same text-only posts inside a batch with a photo take the general path. Both must
    give the same logits and the same gradients."""
    model = tiny_model(fusion, dropout=0.0)
    for module in model.modules():  # the attention's own dropout too
        if isinstance(module, torch.nn.MultiheadAttention):
            module.dropout = 0.0
    texts = TINY_TEXTS[:4]
    mixed = {
        **text_inputs(model, texts),
        "has_image": torch.tensor([False, False, False, True]),
        "pixel_values": structured_images(4),
    }
    text_only = {**text_inputs(model, texts[:3]), "has_image": torch.zeros(3, dtype=torch.bool)}
    length = int(text_only["attention_mask"].sum(1).max())
    text_only = {k: v[:, :length] if v.dim() == 2 else v for k, v in text_only.items()}

    def logits_and_grads(inputs: dict, rows: slice) -> tuple[torch.Tensor, list[torch.Tensor]]:
        model.zero_grad()
        logits = model(**inputs).logits[rows]
        logits.sum().backward()
        return logits.detach(), [
            p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in model.head.parameters()
        ]

    shared_logits, shared_grads = logits_and_grads(text_only, slice(0, 3))
    mixed_logits, mixed_grads = logits_and_grads(mixed, slice(0, 3))
    assert torch.allclose(shared_logits, mixed_logits, atol=1e-5)
    for shared, general in zip(shared_grads, mixed_grads):
        assert torch.allclose(shared, general, atol=1e-5)


def test_squash_keeps_direction_and_bounds_length() -> None:
    s = torch.tensor([[3.0, 4.0], [0.03, 0.04]])
    v = squash(s)
    assert torch.allclose(v.norm(dim=-1), torch.tensor([25 / 26, 0.0025 / 1.0025]), atol=1e-6)
    assert torch.allclose(v / v.norm(dim=-1, keepdim=True), s / s.norm(dim=-1, keepdim=True))


def test_routing_agreement_raises_coupling_to_the_agreeing_capsule() -> None:
    routing = DynamicRouting(in_capsules=4, out_capsules=2, dim=2, iterations=3)
    with torch.no_grad():
        # every primary capsule predicts output 0 along +x; output 1 gets mutually cancelling votes
        routing.weight.zero_()
        routing.weight[:, 0] = torch.eye(2)
        routing.weight[0::2, 1] = torch.eye(2)
        routing.weight[1::2, 1] = -torch.eye(2)
    u = torch.tensor([[[1.0, 0.0]] * 4])
    _, coupling = routing(u)
    assert bool((coupling[0, :, 0] > 0.5).all())
    single = DynamicRouting(4, 2, 2, iterations=1)
    _, uniform = single(u)
    assert torch.allclose(uniform, torch.full_like(uniform, 0.5))  # no agreement step yet


@pytest.mark.parametrize("fusion", FUSIONS)
def test_every_ablation_trains_and_its_loss_falls(fusion: str) -> None:
    model = tiny_model(fusion, dropout=0.0, backbone_mode="frozen")
    model.train()
    inputs = batch_inputs(model, 4)
    labels = torch.tensor([0, 1, 0, 1])
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=1e-2)
    losses = []
    for _ in range(20):
        loss = classification_loss(model(**inputs).logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
    # frozen backbones stay frozen
    for encoder in (model.text_encoder, model.image_encoder):
        if encoder is not None:
            assert not any(p.requires_grad for p in encoder.parameters())


def test_frozen_backbones_start_in_eval_mode() -> None:
    # otherwise features computed before model.train() is ever called (a feature cache) would
    # see dropout and update batch-norm statistics
    model = tiny_model("full")
    assert model.training and model.head.training
    assert not model.text_encoder.training and not model.image_encoder.training
    assert not model.image_encoder.resnet.bn1.training


def test_ablations_drop_the_parts_they_switch_off() -> None:
    text_only = tiny_model("text")
    assert text_only.image_encoder is None and text_only.head.routing is None
    image_only = tiny_model("image")
    assert image_only.text_encoder is None and image_only.tokenizer is None
    assert tiny_model("concat").head.attention is None
    assert tiny_model("attention").head.routing is None


def test_save_then_load_gives_the_same_outputs(tmp_path) -> None:
    model = tiny_model("full").eval()
    inputs = batch_inputs(model)
    expected = model(**inputs)
    model.save_pretrained(tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["config.json", "model.safetensors", "tokenizer"]
    loaded = load_model(tmp_path / "ckpt", device="cpu")
    assert loaded.tokenize(TINY_TEXTS[:4])["input_ids"].equal(inputs["input_ids"])
    got = loaded(**inputs)
    assert torch.allclose(got.logits, expected.logits, atol=1e-6)
    assert torch.allclose(got.routing_coefficients, expected.routing_coefficients, atol=1e-6)


def test_lora_mode_trains_only_adapters_and_round_trips(tmp_path) -> None:
    model = tiny_model("full", backbone_mode="lora")
    text_trainable = [n for n, p in model.text_encoder.named_parameters() if p.requires_grad]
    assert text_trainable and all("lora_" in n for n in text_trainable)
    assert not any(p.requires_grad for p in model.image_encoder.parameters())
    model.eval().save_pretrained(tmp_path / "lora")
    inputs = batch_inputs(model)
    assert torch.allclose(
        load_model(tmp_path / "lora", device="cpu")(**inputs).logits, model(**inputs).logits, atol=1e-6
    )


def test_predict_returns_labelled_explained_predictions(tmp_path) -> None:
    model = tiny_model("full").eval()
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (300, 200), (200, 30, 30)).save(photo)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    preds = predict(
        model,
        [
            {"text": "bridge collapsed", "image": str(photo)},
            {"text": "flood water rising", "image": None},
            {"text": "people trapped", "image": photo.read_bytes()},
            {"text": "a post with a broken photo", "image": str(broken)},
        ],
        batch_size=3,
    )
    assert [p.explanation.has_image for p in preds] == [True, False, True, False]
    for p in preds:
        assert p.label in model.config.label_names
        assert abs(sum(p.probabilities.values()) - 1) < 1e-5
        assert abs(sum(p.explanation.modality_weights.values()) - 1) < 1e-5
        assert p.explanation.tokens and p.explanation.routing_coefficients.shape == (12, 4)
        assert p.explanation.primary_groups == ["text"] * 4 + ["image"] * 4 + ["joint"] * 4
        assert np.allclose(p.explanation.routing_coefficients.sum(1), 1, atol=1e-5)
    assert preds[0].explanation.token_to_region.shape == (len(preds[0].explanation.tokens), 49)
    assert preds[1].explanation.token_to_region is None  # nothing to attend to
    assert preds[1].explanation.negligible_groups() == ["image", "joint"]  # no photo: no weight
    assert "broken.jpg" in preds[3].explanation.warnings[0]
    for p, text in zip(
        preds, ["bridge collapsed", "flood water rising", "people trapped", "a post with a broken photo"]
    ):
        assert p.explanation.words == text.split()  # the post's own words, not the task prompt's
        pieces = [t for word in p.explanation.word_tokens for t in word]
        assert "".join(p.explanation.tokens[t] for t in pieces).split() == text.split()
    words, lift, from_region = preds[0].explanation.word_attention()
    assert lift.shape == (len(words), 49) and from_region.shape == (49, len(words))
    assert np.allclose(lift.mean(axis=1), 1, atol=1e-4)  # a lift over uniform: 1 on average
    assert preds[2].probabilities == pytest.approx(
        predict(model, [{"text": "people trapped", "image": Image.open(photo)}])[0].probabilities, abs=1e-5
    )


def test_model_predict_is_the_predict_function_as_a_method() -> None:
    """The first release documented `model.predict(posts)`; it gives what crisis_model.predict gives."""
    model = tiny_model("full").eval()
    posts = [{"text": "bridge collapsed, people trapped"}, {"text": "lovely sunny day"}]
    by_method, by_function = model.predict(posts, batch_size=1), predict(model, posts)
    assert [p.label for p in by_method] == [p.label for p in by_function]
    for a, b in zip(by_method, by_function):
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-6)


def test_predict_refuses_a_post_with_nothing_to_analyse() -> None:
    model = tiny_model("full").eval()
    with pytest.raises(CrisisLensError, match="post 1: nothing to analyse"):
        predict(model, [{"text": "ok"}, {"text": "  \x00 "}])
    with pytest.raises(CrisisLensError, match="post 0"):
        predict(tiny_model("image").eval(), [{"text": "no image here"}])


def test_predict_handles_hostile_text() -> None:
    model = tiny_model("text").eval()
    texts = ["x" * 100_000, "nul\x00byte", "ðŸ”¥ Weâ€™re مرحبا 🌊", "https://t.co/abc"]
    preds = predict(model, [{"text": t} for t in texts])
    assert len(preds) == 4
    assert all(len(p.explanation.tokens) <= model.config.max_text_tokens for p in preds)


def test_broken_checkpoints_fail_with_clear_errors(tmp_path) -> None:
    model = tiny_model("full").eval()
    good = tmp_path / "good"
    model.save_pretrained(good)

    with pytest.raises(CheckpointError, match="no such checkpoint folder"):
        load_model(tmp_path / "absent")

    no_weights = tmp_path / "no_weights"
    model.save_pretrained(no_weights)
    (no_weights / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="model.safetensors is missing"):
        load_model(no_weights)

    truncated = tmp_path / "truncated"
    model.save_pretrained(truncated)
    data = (truncated / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_model(truncated)

    mismatched = tmp_path / "mismatched"
    model.save_pretrained(mismatched)
    config = json.loads((mismatched / "config.json").read_text())
    config["hidden_size"] = 32
    (mismatched / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="do not match"):
        load_model(mismatched)

    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text((good / "config.json").read_text())
    (pickled / "pytorch_model.pt").write_bytes(b"\x80\x04pickle")
    with pytest.raises(CheckpointError, match="never loaded"):
        load_model(pickled)

    unknown = tmp_path / "unknown_preset"
    model.save_pretrained(unknown)
    config = json.loads((unknown / "config.json").read_text())
    config["preset"] = "huge"
    (unknown / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="unknown preset 'huge'"):
        load_model(unknown)

    (unknown / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_model(unknown)

    weights_only = tmp_path / "foreign"
    weights_only.mkdir()
    save_file({"x": torch.zeros(1)}, str(weights_only / "model.safetensors"))
    with pytest.raises(CheckpointError, match="config.json: missing"):
        load_model(weights_only)


# ------------------------------------------------------------------------------ predict's guarantees


def test_predict_scores_in_eval_mode_and_gives_back_a_training_model() -> None:
    model = tiny_model("full")  # dropout 0.5 in the head: training mode would change each call
    assert model.training
    posts = [{"text": TINY_TEXTS[1]}, {"text": TINY_TEXTS[3]}]
    first = [p.probabilities for p in predict(model, posts)]
    again = [p.probabilities for p in predict(model, posts)]
    assert first == again
    assert model.training  # put back as it was
    model.eval()
    assert [p.probabilities for p in predict(model, posts)] == first


def test_padding_in_a_batch_does_not_change_a_posts_outputs(tmp_path) -> None:
    model = tiny_model("full").eval()
    photo = tmp_path / "photo.png"
    Image.new("RGB", (240, 180), (30, 120, 200)).save(photo)
    short = {"text": "bridge collapsed", "image": str(photo)}
    longer = {"text": " ".join(TINY_TEXTS[:3]), "image": str(photo)}
    [alone] = predict(model, [short])
    together = predict(model, [short, longer, {"text": TINY_TEXTS[5]}])[0]
    assert together.probabilities == pytest.approx(alone.probabilities, abs=1e-5)
    assert together.explanation.modality_weights == pytest.approx(alone.explanation.modality_weights, abs=1e-5)
    assert np.allclose(together.explanation.token_to_region, alone.explanation.token_to_region, atol=1e-5)
    # a photo with no words of its own (the prompt alone): its attention must not reach the padding either
    photo_only = {"text": "", "image": str(photo)}
    [alone] = predict(model, [photo_only])
    together = predict(model, [photo_only, longer])[0]
    assert together.probabilities == pytest.approx(alone.probabilities, abs=1e-5)


def test_a_long_post_is_shortened_never_the_prompt() -> None:
    model = tiny_model("text").eval()
    long_post = " ".join(TINY_TEXTS) * 3
    encoded = model.tokenize([long_post, "bridge collapsed"])
    assert encoded["shortened"].tolist() == [True, False]
    assert int(encoded["attention_mask"][0].sum()) <= model.config.max_text_tokens
    prefix, suffix = model.config.prompt.split("{text}")
    assert encoded["posts"][0] and long_post.startswith(encoded["posts"][0])
    # the whole prompt is there, around the shortened post
    tokens = model.token_strings(encoded["input_ids"][:1], encoded["attention_mask"][:1])[0]
    assert "".join(tokens).endswith(suffix) and "".join(tokens).startswith(prefix)
    [pred, short] = predict(model, [{"text": long_post}, {"text": "bridge collapsed"}])
    assert any("longer than the model reads" in w for w in pred.explanation.warnings)
    assert pred.explanation.read_text == encoded["posts"][0] and short.explanation.read_text is None


def test_reliance_is_the_fall_of_the_answers_probability_without_words_or_photo(tmp_path) -> None:
    model = tiny_model("full").eval()
    photo = tmp_path / "photo.png"
    Image.new("RGB", (240, 180), (200, 30, 30)).save(photo)
    with_photo, text_only = predict(
        model, [{"text": TINY_TEXTS[1], "image": str(photo)}, {"text": TINY_TEXTS[2]}], reliance=True
    )
    alone = predict(model, [{"text": TINY_TEXTS[1]}])[0]  # the same post without its photo
    label = with_photo.label
    assert with_photo.explanation.reliance["photo"] == pytest.approx(
        with_photo.probabilities[label] - alone.probabilities[label], abs=1e-5
    )
    assert isinstance(with_photo.explanation.reliance["words"], float)
    assert text_only.explanation.reliance["photo"] is None  # no photo to remove
    importance = with_photo.explanation.region_importance  # each region hidden in turn
    assert importance.shape == (49,) and np.isfinite(importance).all()
    assert text_only.explanation.region_importance is None
    assert predict(model, [{"text": TINY_TEXTS[2]}])[0].explanation.reliance is None  # opt-in


def test_each_squares_fall_is_the_answer_scored_again_with_that_square_hidden(tmp_path) -> None:
    """The explanation projects a photo's regions once and hides each square after the projection:
    it must give the falls of hiding each square in the CNN's own region vectors, one at a time."""
    torch.manual_seed(0)
    model = tiny_model("full", photo_pooling="max").eval()  # a maximum over regions: one square can move it
    with torch.no_grad():  # an untrained head barely moves with a square; a steeper classifier shows it
        model.head.classifier[-1].weight.mul_(30)
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (180, 240, 3), dtype=np.uint8)).save(photo)
    [pred] = predict(model, [{"text": TINY_TEXTS[1], "image": str(photo)}], reliance=True)
    best = model.config.label_names.index(pred.label)
    encoded = model.tokenize([TINY_TEXTS[1]])
    pixels = image_to_tensor(load_image(str(photo)), model.config.image_size)[None]
    with torch.no_grad():
        read = model.read(torch.tensor([True]), *(encoded[key] for key in TEXT_INPUTS), pixel_values=pixels)
        states = read["region_states"][0]
        falls = []
        for square in range(states.shape[0]):
            hidden = states.clone()
            hidden[square] = states.mean(dim=0)
            again = model(read["has_image"], text_features=read["text_features"], region_states=hidden[None])
            falls.append(pred.probabilities[pred.label] - float(again.probabilities[0, best]))
    assert np.ptp(falls) > 1e-3  # the squares differ, so the check can fail
    np.testing.assert_allclose(pred.explanation.region_importance, falls, atol=1e-5)


def test_a_photo_judged_task_cannot_judge_a_post_without_a_photo(tmp_path) -> None:
    model = CrisisModel.from_config(
        preset_config(
            "tiny",
            task="damage",
            label_names=["little_or_no_damage", "mild_damage", "severe_damage"],
            requires_image=True,
        ),
        train_texts=TINY_TEXTS,
    ).eval()
    photo = tmp_path / "photo.png"
    Image.new("RGB", (240, 180), (90, 90, 90)).save(photo)
    judged, unjudged = predict(model, [{"text": "roof gone", "image": str(photo)}, {"text": "roof gone"}])
    assert judged.label in model.config.label_names and judged.cannot_judge is None
    assert unjudged.label is None and unjudged.probabilities == {} and unjudged.confidence is None
    assert "photo" in unjudged.cannot_judge


def test_options_that_do_not_exist_are_usage_errors_and_old_checkpoints_are_named(tmp_path) -> None:
    with pytest.raises(ConfigError, match="Unknown preset 'huge'"):
        preset_config("huge")
    with pytest.raises(ConfigError, match="Unknown fusion"):
        preset_config("tiny", fusion="sum")
    model = tiny_model("full").eval()
    model.save_pretrained(tmp_path / "old")
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    del config["fusion_version"]  # as checkpoints before the fusion redesign were
    (tmp_path / "old" / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="older CrisisLens.*Train the model again"):
        load_model(tmp_path / "old")


def test_a_post_without_words_gives_them_no_weight_and_no_reliance(tmp_path) -> None:
    """Issue 23: a post with a photo and no text showed the words counting 24 %."""
    photo = tmp_path / "photo.png"
    Image.new("RGB", (240, 180), (200, 30, 30)).save(photo)
    for fusion in ("full", "attention", "concat"):
        model = tiny_model(fusion).eval()
        posts = [{"text": "", "image": str(photo)}, {"text": TINY_TEXTS[1], "image": str(photo)}]
        no_words, both = predict(model, posts, reliance=True)
        assert no_words.explanation.modality_weights == {"text": 0.0, "image": 1.0, "joint": 0.0}, fusion
        assert not no_words.explanation.has_words and both.explanation.has_words
        assert no_words.explanation.reliance["words"] is None  # nothing to remove
        assert no_words.probabilities[no_words.label] == pytest.approx(
            no_words.explanation.votes["image"][no_words.label]
        )
        assert both.explanation.modality_weights["text"] > 0, fusion


def test_damage_reads_the_photo_alone_unless_told_otherwise() -> None:
    """Issue 23: the damage labels describe the image; a model reading the caption let a birthday
    wish overrule collapsed buildings. Other tasks keep the paper's full fusion."""
    from crisis_model.training.config import TrainConfig, model_config

    def fusion(task: str, **options) -> str:
        return model_config(TrainConfig(out="run", data_root="data", task=task, **options)).fusion

    assert fusion("damage") == "image"
    assert fusion("informative") == fusion("humanitarian") == "full"
    assert fusion("damage", fusion="full") == "full"  # asked for: given


def test_a_photo_only_model_cannot_judge_a_post_with_words_and_no_photo(tmp_path) -> None:
    labels = ["little_or_no_damage", "mild_damage", "severe_damage"]
    config = preset_config("tiny", task="damage", label_names=labels, requires_image=True, fusion="image")
    model = CrisisModel.from_config(config).eval()
    photo = tmp_path / "photo.png"
    Image.new("RGB", (240, 180), (90, 90, 90)).save(photo)
    wish, loss, unjudged = predict(model, [{"text": "Happy birthday!!", "image": str(photo)},
                                           {"text": "Our house is gone", "image": str(photo)},
                                           {"text": "roof gone"}], reliance=True)  # fmt: skip
    assert wish.probabilities == loss.probabilities  # the words play no part
    assert wish.explanation.modality_weights["image"] == 1.0 and not wish.explanation.has_words
    assert unjudged.label is None and "photo" in unjudged.cannot_judge
