"""One reading of a post for every task (crisis_model.reading, `predict_tasks`): models share a
reading step exactly where it gives them the same output (weights compared by digest, never by
name), each shared step runs once, and every model's answers are those it gives alone."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from crisis_model import CrisisModel, load_model, predict
from crisis_model.inference import Prediction, predict_tasks
from crisis_model.reading import SharedReading, module_digest
from crisis_model.scoring.posts import predict_each
from crisis_model.training import TrainConfig
from crisis_model.training.dataset import load_data
from crisis_model.training.evaluation import evaluate
from crisis_model.training.inputs import RawInputs
from tests.conftest import tiny_model

TOLERANCE = 1e-5
TEXTS = [
    "Flood water rising fast, families on roofs need rescue boats",
    "Bridge collapsed after the earthquake, route 9 closed",
    "What a lovely sunny day at the beach",
    "Shelter at the high school is full; the church still has beds",
    "Power out for 200,000 homes, crews working through the night",
]


def photo(seed: int, size: tuple[int, int] = (96, 128)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def posts(n: int = 5) -> list[dict]:
    """Posts with a photo but one, which has words only."""
    return [{"text": TEXTS[i % len(TEXTS)], "image": photo(i) if i != 1 else None} for i in range(n)]


def with_head(model: CrisisModel, seed: int, **config) -> CrisisModel:
    """Another task's model over copies of `model`'s readers (equal weights, other objects)."""
    torch.manual_seed(seed)
    cfg = copy.deepcopy(model.config)
    for key, value in config.items():
        setattr(cfg, key, value)
    text = copy.deepcopy(model.text_encoder)
    image = copy.deepcopy(model.image_encoder)
    return CrisisModel(cfg, text, image, model.tokenizer if text is not None else None).eval()


def assert_same_answers(alone: list[Prediction], shared: list[Prediction]) -> None:
    assert len(alone) == len(shared)
    for a, b in zip(alone, shared):
        assert (a.label, a.cannot_judge) == (b.label, b.cannot_judge)
        assert a.probabilities.keys() == b.probabilities.keys()
        assert max((abs(a.probabilities[k] - b.probabilities[k]) for k in a.probabilities), default=0) <= TOLERANCE
        assert a.explanation.tokens == b.explanation.tokens and a.explanation.words == b.explanation.words
        assert a.explanation.warnings == b.explanation.warnings
        if a.explanation.reliance is not None:
            for part, fall in a.explanation.reliance.items():
                other = b.explanation.reliance[part]
                assert (fall is None) == (other is None)
                assert fall is None or abs(fall - other) <= TOLERANCE
        if a.explanation.region_importance is not None:
            np.testing.assert_allclose(b.explanation.region_importance, a.explanation.region_importance, atol=TOLERANCE)


def reader_calls(models: dict[str, CrisisModel]) -> dict[str, int]:
    """Counts each model's reader forward passes (as '<name> text' and '<name> image')."""
    calls: dict[str, int] = {}
    for name, model in models.items():
        for part, encoder in (("text", model.text_encoder), ("image", model.image_encoder)):
            if encoder is not None:
                calls[f"{name} {part}"] = 0
                encoder.register_forward_hook(lambda *_, key=f"{name} {part}": calls.__setitem__(key, calls[key] + 1))
    return calls


@pytest.fixture(scope="module")
def tasks() -> dict[str, CrisisModel]:
    """A tiny base model; a second head over copies of its readers; a third whose text reader has one
    weight changed; a fourth reading the post behind another prompt; a photo-only model."""
    torch.manual_seed(0)
    base = tiny_model().eval()
    changed = with_head(base, 2)
    with torch.no_grad():
        next(changed.text_encoder.parameters()).view(-1)[0] += 0.5
    return {
        "base": base,
        "same readers": with_head(base, 1),
        "text reader changed": changed,
        "other prompt": with_head(base, 3, prompt="Is this post about a disaster? {text}"),
        "photo only": with_head(base, 4, fusion="image", requires_image=True),
    }


def test_readers_are_shared_by_their_weights_and_inputs_never_by_name(tasks) -> None:
    reading = SharedReading(tasks)
    members = {kind: sorted(sorted(step.members) for step in steps) for kind, steps in reading.steps.items()}
    with_words = sorted(name for name in tasks if name != "photo only")
    assert members["photo decoding"] == [sorted(tasks)]
    assert members["image reader"] == [sorted(tasks)]  # the same CNN weights, copied
    assert members["tokenisation"] == sorted([["other prompt"], sorted(set(with_words) - {"other prompt"})])
    assert members["text reader"] == [["base", "same readers"], ["other prompt"], ["text reader changed"]]
    assert reading.step("text reader", "photo only") is None  # a model without a text reader takes none


def test_a_readers_remembered_digest_follows_its_weights() -> None:
    """The digest is kept per module for speed: a weight changed in place, or a cast, gives a new one."""
    model = tiny_model().eval()
    first = module_digest(model.text_encoder)
    assert module_digest(model.text_encoder) == first == module_digest(copy.deepcopy(model.text_encoder))
    with torch.no_grad():
        next(model.text_encoder.parameters()).view(-1)[0] += 1.0
    changed = module_digest(model.text_encoder)
    assert changed != first
    assert module_digest(model.text_encoder.double()) != changed


def test_every_model_gives_its_own_answers_with_each_shared_step_run_once(tasks) -> None:
    batch = posts(3)
    only = {name: [i for i, p in enumerate(batch) if p["image"] is not None or name != "photo only"] for name in tasks}
    alone = {name: predict(model, [batch[i] for i in only[name]], reliance=True) for name, model in tasks.items()}
    calls = reader_calls(tasks)
    shared = predict_tasks(tasks, batch, reliance=True, only=only)
    for name in tasks:
        assert_same_answers(alone[name], shared[name])
    # one batch: the CNN once for all five models, the language model once per distinct reading
    # (three: base and its copy share one), the prompt alone being kept from the calls above
    assert sum(n for key, n in calls.items() if key.endswith("image")) == 1
    assert sum(n for key, n in calls.items() if key.endswith("text")) == 3


def test_a_model_that_only_leaves_out_scores_every_post(tasks) -> None:
    models = {name: tasks[name] for name in ("base", "other prompt")}
    batch = posts(4)
    shared = predict_tasks(models, batch, only={"base": [2, 0]})
    assert_same_answers(predict(models["base"], [batch[2], batch[0]]), shared["base"])
    assert_same_answers(predict(models["other prompt"], batch), shared["other prompt"])


def test_the_shared_reading_is_exact_across_batches_and_sorted_posts(tasks) -> None:
    many = [post for post in posts(8) if post["image"] is not None]
    models = {name: tasks[name] for name in ("base", "text reader changed", "photo only")}
    shared = predict_tasks(models, many, batch_size=3)
    for name, model in models.items():
        assert_same_answers(predict(model, many, batch_size=3), shared[name])


def test_posts_a_model_cannot_read_get_their_reason_and_the_others_their_answers(tasks, tmp_path) -> None:
    models = {name: tasks[name] for name in ("base", "photo only")}
    Image.fromarray(photo(7)).save(tmp_path / "photo.jpg")
    batch = [
        {"text": "Roads flooded near the river", "image": None},
        {"text": "", "image": str(tmp_path / "photo.jpg")},
    ]
    found = predict_each(models, batch)
    assert isinstance(found["base"][0], Prediction) and isinstance(found["base"][1], Prediction)
    # words without a photo, for a model judging the photo alone: an answer it cannot give, said so
    assert found["photo only"][0].label is None and found["photo only"][0].cannot_judge
    assert isinstance(found["photo only"][1], Prediction)
    assert_same_answers(predict(models["photo only"], batch[1:]), found["photo only"][1:])


def test_predict_tasks_refuses_a_post_no_model_can_read_naming_it(tasks) -> None:
    with pytest.raises(Exception, match="post 1: nothing to analyse for a 'image' model"):
        predict_tasks({"photo only": tasks["photo only"]}, [{"text": "", "image": photo(1)}, {"text": ""}])


def test_the_demo_runs_three_tasks_read_once_give_their_own_answers(demo_run) -> None:
    models = {
        task: load_model(demo_run / task / "checkpoint", device="cpu")
        for task in ("informative", "humanitarian", "damage")
    }
    reading = SharedReading(models)
    assert [reading.runs(kind) for kind in ("tokenisation", "text reader", "image reader")] == [1, 1, 1]
    frame = pd.read_parquet(demo_run / "informative" / "predictions.parquet")
    batch = [{"text": t, "image": p or None} for t, p in zip(frame["text"], frame["image_path"])][:48]
    shared = predict_tasks(models, batch, reliance=True)
    labels = set()
    for name, model in models.items():
        alone = predict(model, batch, reliance=True)
        assert_same_answers(alone, shared[name])
        labels |= {(name, p.label) for p in alone}
    assert len(labels) > len(models)  # trained models: more than one answer per task


def test_paper_size_tasks_read_once_give_their_own_answers(paper_size_tasks) -> None:
    reading = SharedReading(paper_size_tasks)
    assert [reading.runs(kind) for kind in ("tokenisation", "text reader", "image reader")] == [1, 1, 1]
    batch = posts(3)
    shared = predict_tasks(paper_size_tasks, batch, reliance=True)
    for name, model in paper_size_tasks.items():
        assert_same_answers(predict(model, batch, reliance=True), shared[name])


def test_evaluation_with_readers_that_learn_reads_each_batch_once_for_its_reliance(demo_root) -> None:
    """train.py's evaluation of a LoRA or fully trained model (RawInputs): the falls without the words
    and without the photo are those `predict` measures, from one reading of each batch."""
    frame = load_data(TrainConfig(out="unused", data_root=str(demo_root))).head(12)
    model = tiny_model().eval()
    source = RawInputs(model, frame, workers=0, device=torch.device("cpu"))
    calls = reader_calls({"model": model})
    got = evaluate(model, source, range(len(frame)), np.zeros(len(frame), dtype=int), torch.device("cpu"),
                   lambda _: None, "dev", reliance=True)  # fmt: skip
    assert calls == {"model text": 2, "model image": 1}  # the batch once, and the prompt alone once
    posts = [{"text": t, "image": p or None} for t, p in zip(frame["text"], frame["image_path"])]
    for k, prediction in enumerate(predict(model, [posts[row] for row in got.rows], reliance=True)):
        assert abs(got.reliance["words"][k] - prediction.explanation.reliance["words"]) <= TOLERANCE
        photo_fall = prediction.explanation.reliance["photo"]
        assert (
            np.isnan(got.reliance["photo"][k])
            if photo_fall is None
            else abs(got.reliance["photo"][k] - photo_fall) <= TOLERANCE
        )
