"""The explanations tell the truth about the demo models (trained in the test session): the gate's
weights point at the modality whose removal lowers the answers' probability more and rank posts as
that reliance does;
they are not collapsed on one modality; damage is judged from the photo, whatever the words; without
a photo the words still answer, differently for different words and better than the majority class;
and no demo post is cut by the tokenizer."""

from __future__ import annotations

import json
import random
import warnings

import numpy as np
import pytest

from crisis_model import load_model, predict
from crisis_model.data import MissingImagesWarning, load_crisismmd
from crisis_model.data.demo_drawing import draw_image
from crisis_model.faithfulness import check_faithfulness, damage_cells
from crisis_model.run_folder import CHECKPOINT_DIR, TRAIN_CONFIG_FILE

TASKS = {"informative": "agreed", "humanitarian": "agreed", "damage": "image"}


@pytest.fixture(scope="module")
def demo(demo_run):
    run = demo_run
    data_root = json.loads((run / "informative" / TRAIN_CONFIG_FILE).read_text())["data_root"]
    return run, data_root


def held_out(data_root: str, task: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingImagesWarning)
        return load_crisismmd(data_root, task, TASKS[task], splits=["dev", "test"])


@pytest.mark.parametrize("task", ["informative", "humanitarian"])
def test_the_weights_agree_with_what_swapping_and_removing_the_modalities_does(demo, task):
    run, data_root = demo
    model = load_model(run / task / CHECKPOINT_DIR, device="cpu")
    frame = held_out(data_root, task)
    posts = [{"text": t, "image": p} for t, p in zip(frame["text"], frame["image_path"])]
    checks = check_faithfulness(model, posts)
    assert checks.posts >= 40
    assert checks.rank_correlation > 0, checks  # posts ranked alike by their weights and by removing parts
    assert checks.larger_weight == checks.larger_reliance, checks
    assert 0.1 < checks.weights["text"] < 0.9 and 0.1 < checks.weights["image"] < 0.9, checks.weights  # both read


def test_damage_is_judged_from_the_photo_whatever_the_words(demo):
    """Issue 23: with one photo of collapsed buildings, "Our house is gone" was Severe damage and
    "Happy birthday to my best friend!!" Little or no damage; a word swap changed 9 % of labels."""
    run, data_root = demo
    model = load_model(run / "damage" / CHECKPOINT_DIR, device="cpu")
    frame = held_out(data_root, "damage")
    posts = [{"text": t, "image": p} for t, p in zip(frame["text"], frame["image_path"])]
    checks = check_faithfulness(model, posts)
    assert checks.posts >= 20
    assert checks.text_swap_changed <= 0.05, checks  # other posts' words change (almost) no answer
    assert checks.photo_swap_changed >= 0.1, checks  # other photos do: the photo decides
    assert checks.weights["image"] == pytest.approx(1.0), checks.weights  # the photo's vote is the answer
    photo, _boxes = draw_image(
        random.Random(1), "demo_earthquake", "infrastructure_and_utility_damage", "severe_damage"
    )
    captions = ["Our house is gone, the roof landed in the street", "Happy birthday to my best friend!!", ""]
    loss, wish, bare = predict(model, [{"text": t, "image": photo} for t in captions])
    assert loss.label == wish.label == bare.label
    assert wish.probabilities == pytest.approx(loss.probabilities, abs=1e-6)


@pytest.mark.parametrize("task", ["informative", "humanitarian"])
def test_without_a_photo_the_words_answer_and_beat_the_majority_class(demo, task):
    run, data_root = demo
    model = load_model(run / task / CHECKPOINT_DIR, device="cpu")
    frame = held_out(data_root, task)
    words_only = predict(model, [{"text": t} for t in frame["text"]])
    accuracy = np.mean([p.label == t for p, t in zip(words_only, frame["label"])])
    majority = frame["label"].value_counts(normalize=True).iloc[0]
    assert accuracy > majority + 0.05, (accuracy, majority)
    assert len({p.label for p in words_only}) >= 2  # the answer depends on the words


def test_typed_posts_get_different_sensible_answers(demo):
    run, _ = demo
    informative = load_model(run / "informative" / CHECKPOINT_DIR, device="cpu")
    rescue, birthday = predict(informative, [{"text": "Bridge collapsed, people trapped, send rescue teams"},
                                             {"text": "Happy birthday to my best friend!!"}])  # fmt: skip
    assert rescue.label == "informative" and birthday.label == "not_informative"
    damage = load_model(run / "damage" / CHECKPOINT_DIR, device="cpu")
    [unjudged] = predict(damage, [{"text": "Bridge collapsed, people trapped, send rescue teams"}])
    assert unjudged.label is None and unjudged.cannot_judge


def test_no_demo_post_is_cut_by_the_tokenizer(demo):
    run, data_root = demo
    model = load_model(run / "informative" / CHECKPOINT_DIR, device="cpu")
    texts = load_crisismmd(data_root, "informative", "text")["text"].tolist()
    shortened = model.tokenize(texts)["shortened"]
    assert not bool(shortened.any()), [t for t, s in zip(texts, shortened.tolist()) if s][:3]


def test_damage_cells_cover_the_boxes_grid_squares():
    cells = damage_cells([(0, 0, 32, 32), (200, 200, 224, 224)]).reshape(7, 7)
    assert cells[0, 0] and cells[6, 6] and cells.sum() == 2
