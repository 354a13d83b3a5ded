"""train.py and crisis_model.training on a small generated demo dataset (tiny preset, CPU): the
run folder the dashboard reads, resume, torchrun (gloo), ablations, and bad input."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

import train as train_cli
from crisis_model import CrisisModel, DataError, load_model, predict
from crisis_model.data import normalise_text
from crisis_model.data.demo import MARKER
from crisis_model.errors import ConfigError, CrisisLensError, TrainingError
from crisis_model.metrics import classification_metrics, expected_calibration_error
from crisis_model.training import ABLATIONS, ProgressEvent, TrainConfig, loop, run_ablation, train, train_demo
from crisis_model.training.config import model_config
from crisis_model.training.dataset import fusion_for_data, load_data
from crisis_model.training.demo import demo_up_to_date
from crisis_model.training.inputs import RawInputs, make_loader
from crisis_model.training.resume import load_last, save_last
from tests.conftest import text_inputs, tiny_model

REPO = Path(__file__).resolve().parents[1]
PREDICTION_COLUMNS = {
    "post_id",
    "event",
    "split",
    "text",
    "image_path",
    "true_label",
    "predicted_label",
    "confidence",
    "prob_informative",
    "prob_not_informative",
    "text_weight",
    "image_weight",
    "joint_weight",
    "reliance_words",
    "reliance_photo",
    "has_image",
    "correct",
    "routing_mean",
}


def read_history(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]


# --------------------------------------------------------------------------- a run end to end


def test_demo_run_leaves_every_file_the_dashboard_reads(train_config) -> None:
    events: list[ProgressEvent] = []
    run = train(train_config, progress=events.append)
    assert run == Path(train_config.out)
    for name in (
        "checkpoint",
        "last",
        "metrics.json",
        "predictions.parquet",
        "history.jsonl",
        "command.txt",
        "train_config.json",
    ):
        assert (run / name).exists(), name
    assert sorted(p.name for p in (run / "last").iterdir()) == [
        "optimizer.safetensors",
        "state.json",
        "trainable.safetensors",
    ]
    assert not list(run.rglob("*.pt")) and not list(run.rglob("*.bin"))

    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics) == {"train", "dev", "test"}
    for split in metrics.values():
        for key in (
            "accuracy",
            "macro_f1",
            "weighted_f1",
            "positive_f1",
            "per_class",
            "confusion_matrix",
            "roc_auc",
            "ece",
        ):
            assert key in split
        assert set(split["per_class"]) == {"informative", "not_informative"}
        assert np.array(split["confusion_matrix"]).sum() == split["posts"]

    predictions = pd.read_parquet(run / "predictions.parquet")
    assert set(predictions.columns) >= PREDICTION_COLUMNS
    assert set(predictions["split"]) == {"dev", "test"}
    assert len(predictions) == metrics["dev"]["posts"] + metrics["test"]["posts"]
    assert np.allclose(predictions["prob_informative"] + predictions["prob_not_informative"], 1, atol=1e-5)
    weights = predictions["text_weight"] + predictions["image_weight"] + predictions["joint_weight"]
    assert np.allclose(weights, 1, atol=1e-5)
    # each answer's fall without the words, and (posts with a photo) without the photo
    assert predictions["reliance_words"].notna().all()
    assert predictions["reliance_photo"].notna().eq(predictions["has_image"]).all()
    assert (predictions["correct"] == (predictions["true_label"] == predictions["predicted_label"])).all()
    assert len(predictions["routing_mean"].iloc[0]) == 4  # the tiny preset's fused capsules
    dev = predictions[predictions["split"] == "dev"]
    assert metrics["dev"]["accuracy"] == pytest.approx(dev["correct"].mean())

    history = read_history(run)
    assert [h["epoch"] for h in history] == [1, 2]
    for key in ("train_loss", "dev_macro_f1", "dev_accuracy", "lr", "seconds", "best"):
        assert key in history[0]
    assert json.loads((run / "train_config.json").read_text())["preset"] == "tiny"
    assert "train.py" in (run / "command.txt").read_text()

    stages = {e.stage for e in events}
    assert {"data", "model", "features", "epoch", "eval", "done"} <= stages
    assert all(0 <= e.done <= e.total for e in events)

    # the checkpoint is the model the dashboard serves: it loads and predicts the same
    model = load_model(run / "checkpoint", device="cpu")
    post = dev.iloc[0]
    [pred] = predict(model, [{"text": post["text"], "image": post["image_path"]}])
    assert pred.label == post["predicted_label"]
    assert pred.probabilities["informative"] == pytest.approx(post["prob_informative"], abs=2e-3)


def test_train_demo_trains_one_run_per_task_and_keeps_finished_ones(tmp_path, demo_root, feature_cache) -> None:
    out = train_demo(
        tmp_path / "demo", data_dir=demo_root, n_tweets=60, epochs=1, workers=0, cache_dir=str(feature_cache)
    )
    for task in ("informative", "humanitarian", "damage"):
        assert (out / task / "metrics.json").exists()
        assert CrisisModel.from_pretrained(out / task / "checkpoint", device="cpu").config.task == task
    assert json.loads((out / "damage" / "train_config.json").read_text())["labels"] == "image"
    stamp = (out / "informative" / "metrics.json").stat().st_mtime_ns
    train_demo(out, data_dir=demo_root, n_tweets=60, epochs=1, workers=0, cache_dir=str(feature_cache))
    assert (out / "informative" / "metrics.json").stat().st_mtime_ns == stamp


def test_a_demo_run_is_up_to_date_until_its_data_is_generated_again(tmp_path, demo_root, feature_cache) -> None:
    data = shutil.copytree(demo_root, tmp_path / "data")
    settings = dict(n_tweets=60, epochs=1, workers=0, cache_dir=str(feature_cache))
    assert not demo_up_to_date(tmp_path / "demo", data, **settings)  # nothing trained yet
    out = train_demo(tmp_path / "demo", data_dir=data, **settings)
    assert demo_up_to_date(out, data, **settings)
    assert demo_up_to_date(out, os.path.relpath(data), **settings)  # train.py --demo's relative path: the same
    assert not demo_up_to_date(out, data, **{**settings, "n_tweets": 80})  # other data: generated anew
    assert not demo_up_to_date(out, data, **{**settings, "epochs": 2})  # other options
    earlier = (data / MARKER).stat().st_mtime - 60
    for task in ("informative", "humanitarian", "damage"):  # runs started before the data was written again
        os.utime(out / task / "train_config.json", (earlier, earlier))
    assert not demo_up_to_date(out, data, **settings)
    stamp = (out / "damage" / "metrics.json").stat().st_mtime_ns
    train_demo(out, data_dir=data, tasks=("damage",), **settings)
    assert (out / "damage" / "metrics.json").stat().st_mtime_ns != stamp  # trained again on today's data


def test_an_interrupted_run_resumes_to_the_same_result(train_config, tmp_path) -> None:
    train_config.epochs = 3
    straight = train(dataclasses.replace(train_config, out=str(tmp_path / "straight")))

    def interrupt_in_third_epoch(event: dict) -> None:
        if event.stage == "epoch" and event.epoch == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(train_config, progress=interrupt_in_third_epoch)
    run = Path(train_config.out)
    assert json.loads((run / "last" / "state.json").read_text())["epoch"] == 2
    assert len(read_history(run)) == 2 and not (run / "metrics.json").exists()

    with pytest.raises(TrainingError, match="holds another run"):
        train(train_config)
    train(dataclasses.replace(train_config, resume=True))
    assert [h["epoch"] for h in read_history(run)] == [1, 2, 3]
    assert len((run / "command.txt").read_text().splitlines()) == 2
    resumed = pd.read_parquet(run / "predictions.parquet")
    expected = pd.read_parquet(straight / "predictions.parquet")
    assert np.allclose(resumed["prob_informative"], expected["prob_informative"], atol=1e-5)
    assert [h["train_loss"] for h in read_history(run)] == pytest.approx(
        [h["train_loss"] for h in read_history(straight)], abs=1e-6
    )


def test_cli_resume_keeps_the_run_options_and_extends_epochs(train_config) -> None:
    train(dataclasses.replace(train_config, epochs=1, lr=2e-3))
    assert train_cli.main(["--out", train_config.out, "--resume", "--epochs", "2"]) == 0
    history = read_history(Path(train_config.out))
    assert [h["epoch"] for h in history] == [1, 2]
    assert json.loads((Path(train_config.out) / "train_config.json").read_text())["lr"] == 2e-3


def _optimizer(model: CrisisModel) -> torch.optim.Optimizer:
    head = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW([{"params": head, "lr": 1e-3, "peak_lr": 1e-3}])


def _resume_state(folder: Path, model: CrisisModel) -> None:
    """last/ after one optimizer step, as an epoch's end writes it."""
    optimizer = _optimizer(model)
    inputs = text_inputs(model, ["flood water in the street"])
    model(has_image=torch.zeros(1, dtype=torch.bool), **inputs).logits.sum().backward()
    optimizer.step()
    save_last(folder, model, optimizer, {"epoch": 1})


@pytest.mark.parametrize(
    "damage",
    [
        "state.json truncated",
        "trainable.safetensors garbage",
        "optimizer.safetensors missing",
        "state.json no optimizer",
    ],
)
def test_a_damaged_resume_state_is_an_error_naming_its_folder(tmp_path, damage: str) -> None:
    model = tiny_model(fusion="text")
    folder = tmp_path / "last"
    _resume_state(folder, model)
    name, how = damage.split(" ", 1)
    path = folder / name
    if how == "truncated":
        path.write_text(path.read_text()[:40])
    elif how == "garbage":
        path.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00not json")
    elif how == "missing":
        path.unlink()
    else:
        path.write_text(json.dumps({"epoch": 1}))
    with pytest.raises(TrainingError, match=f"{folder}: unreadable resume state.*--overwrite"):
        load_last(folder, model, _optimizer(model))


def test_a_resume_state_of_another_width_is_an_error_not_a_traceback(tmp_path) -> None:
    folder = tmp_path / "last"
    _resume_state(folder, tiny_model(fusion="text", fc_size=64))
    model = tiny_model(fusion="text")
    with pytest.raises(TrainingError, match=f"{folder}: resume state does not fit this model.*--overwrite"):
        load_last(folder, model, _optimizer(model))


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_epoch(train_config, monkeypatch) -> None:
    original = loop.training_loss
    steps = {"count": 0}

    def nan_in_second_epoch(output, labels, objective):
        loss = original(output, labels, objective)
        steps["count"] += 1
        if steps["count"] > 2:  # the demo's 49 train posts are 2 steps an epoch
            return loss * float("nan")
        return loss

    monkeypatch.setattr(loop, "training_loss", nan_in_second_epoch)
    with pytest.raises(TrainingError, match="nan at epoch 2.*keeps epoch 1"):
        train(train_config)
    run = Path(train_config.out)
    assert json.loads((run / "last" / "state.json").read_text())["epoch"] == 1
    assert load_model(run / "checkpoint", device="cpu") is not None
    assert not (run / "metrics.json").exists()


def test_lora_mode_reads_raw_posts_and_trains_only_adapters_and_head(train_config) -> None:
    # text fusion keeps it fast: the ResNet would otherwise run at every step on the CPU
    run = train(dataclasses.replace(train_config, backbone_mode="lora", fusion="text", epochs=1, batch_size=64))
    trainable = load_file(str(run / "last" / "trainable.safetensors"))
    learned = [name for name in trainable if "running_" not in name and "num_batches" not in name]
    assert any("lora_" in name for name in learned)
    assert all("lora_" in name or name.startswith("head.") for name in learned)
    assert load_model(run / "checkpoint", device="cpu").config.backbone_mode == "lora"
    assert set(json.loads((run / "metrics.json").read_text())) == {"train", "dev", "test"}


def test_raw_inputs_decode_images_in_workers_and_feed_the_model(demo_root) -> None:
    frame = load_data(TrainConfig(out="unused", data_root=str(demo_root)))
    frame.loc[1, "image_path"] = ""  # a post without an image
    frame.loc[2, "image_path"] = str(demo_root / "DEMO_README.md")  # not an image: read as text-only
    model = tiny_model("full").eval()
    source = RawInputs(model, frame, workers=1, device=torch.device("cpu"))
    [batch] = list(make_loader(source, [0, 1, 2], batch_size=3))
    rows, inputs = source.inputs(batch)
    assert rows.tolist() == [0, 1, 2]
    assert inputs["has_image"].tolist() == [True, False, False]
    assert inputs["pixel_values"].shape == (3, 3, 224, 224)
    with torch.inference_mode():
        assert model(**inputs).probabilities.shape == (3, 2)


# --------------------------------------------------------------------------- torchrun


def test_two_process_gloo_run_completes(tmp_path, demo_root, new_feature_cache, python_process) -> None:
    out = tmp_path / "ddp"
    cache = new_feature_cache()
    command = [
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(REPO / "train.py"),
        "--data-root",
        str(demo_root),
        "--preset",
        "tiny",
        "--epochs",
        "2",
        "--workers",
        "0",
        "--cache-dir",
        str(cache),
        "--out",
        str(out),
    ]
    process = python_process(*command, env={"OMP_NUM_THREADS": "1"})
    _, stderr = process.communicate(timeout=240)
    assert process.returncode == 0, stderr[-3000:]
    assert (out / "metrics.json").exists() and len(read_history(out)) == 2
    assert (out / "command.txt").read_text().startswith("torchrun --nproc_per_node=2")
    assert not (out / ".init").exists()
    # each process computed half the features into the shared cache
    assert len(list(cache.rglob("*.safetensors"))) > 0
    load_model(out / "checkpoint", device="cpu")


# --------------------------------------------------------------------------- comparisons


def test_ablation_writes_one_table_with_mean_and_std_over_seeds(train_config) -> None:
    train_config.epochs = 1
    out = run_ablation(train_config, "fusion", seeds=[0, 1], values=["text", "full"])
    summary = json.loads((out / "ablation.json").read_text())
    assert [row["fusion"] for row in summary["rows"]] == ["text", "full"]
    for row in summary["rows"]:
        assert len(row["dev"]["accuracy"]["values"]) == 2
        assert row["dev"]["accuracy"]["std"] >= 0
        assert "test" in row
    table = (out / "ablation.md").read_text()
    assert "| text |" in table and "±" in table and "dev macro-F1" in table
    assert (out / "full-seed1" / "checkpoint").is_dir()
    assert ABLATIONS["prompt"] == ("none", "task", "summarize")


# --------------------------------------------------------------------------- bad input


def test_the_training_loop_runs_on_the_threads_asked_for(train_config) -> None:
    """One CPU thread by default with frozen backbones, --threads N when given; restored after."""
    before = torch.get_num_threads()
    for threads, expected in ((None, 1), (2, 2)):
        seen: set[int] = set()
        train(
            dataclasses.replace(train_config, threads=threads, epochs=1, overwrite=True),
            progress=lambda e, seen=seen: seen.add(torch.get_num_threads()) if e.stage == "epoch" else None,
        )
        assert seen == {expected}
    assert torch.get_num_threads() == before
    with pytest.raises(CrisisLensError, match="threads must be at least 1"):
        train(dataclasses.replace(train_config, threads=0, overwrite=True))


def test_bad_names_fail_before_anything_is_written(train_config) -> None:
    for change, message in (
        ({"task": "weather"}, "unknown task"),
        ({"labels": "votes"}, "unknown labels"),
        ({"preset": "huge"}, "unknown preset"),
        ({"prompt": "hello"}, "prompt"),
    ):
        with pytest.raises(CrisisLensError, match=message):
            train(dataclasses.replace(train_config, **change))
    with pytest.raises(DataError, match="no .*text labels|label sources"):
        train(dataclasses.replace(train_config, task="damage", labels="text"))
    assert not Path(train_config.out).exists()


def test_a_root_that_is_not_crisismmd_is_refused(train_config, tmp_path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    (root / "cat.jpg").write_bytes(b"")
    with pytest.raises(DataError, match="CrisisMMD"):
        train(dataclasses.replace(train_config, data_root=str(root)))
    assert not Path(train_config.out).exists()


def test_an_empty_split_is_refused(train_config, tmp_path, demo_root) -> None:
    root = tmp_path / "no-dev"
    (root / "crisismmd_datasplit_all").mkdir(parents=True)
    name = "task_informative_text_img_train.tsv"
    shutil.copy(demo_root / "crisismmd_datasplit_all" / name, root / "crisismmd_datasplit_all" / name)
    # its images are not there: text-only posts, with a warning
    with pytest.warns(UserWarning), pytest.raises(DataError, match="dev split is empty"):
        train(dataclasses.replace(train_config, data_root=str(root)))


def test_posts_files_are_checked(train_config, tmp_path) -> None:
    no_text = tmp_path / "no_text.csv"
    no_text.write_text("message,label\nflood downtown,informative\n")
    with pytest.raises(DataError, match="text"):
        train(dataclasses.replace(train_config, data_root=None, posts=str(no_text)))
    bad_label = tmp_path / "bad_label.csv"
    bad_label.write_text("text,label\nflood downtown,informative\nnice lunch,boring\n")
    with pytest.raises(DataError, match="unknown informative label 'boring'"):
        train(dataclasses.replace(train_config, data_root=None, posts=str(bad_label)))
    with pytest.raises(ConfigError, match="exactly one of --data-root"):
        train(dataclasses.replace(train_config, posts=str(bad_label)))


def test_user_posts_train_with_a_held_out_dev_split(train_config, tmp_path) -> None:
    posts = tmp_path / "posts.jsonl"
    rows = [{"text": f"bridge {i} collapsed, people trapped", "label": "informative"} for i in range(12)]
    rows += [{"text": f"lunch number {i} was tasty", "label": "not_informative"} for i in range(12)]
    posts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.warns(UserWarning, match="no train post has a photo: the text-only variant is trained"):
        run = train(dataclasses.replace(train_config, data_root=None, posts=str(posts), epochs=1))
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics) == {"train", "dev"} and metrics["dev"]["posts"] >= 2
    assert json.loads((run / "train_config.json").read_text())["fusion"] == "text"  # what trained, for --resume
    assert load_model(run / "checkpoint").config.fusion == "text"


def test_the_fusion_default_reads_text_alone_only_where_no_train_post_has_a_photo() -> None:
    frame = pd.DataFrame({"split": ["train", "train", "dev"], "image_path": ["", "", "dev.jpg"]})
    cfg = TrainConfig(out="unused", posts="unused.csv")
    with pytest.warns(UserWarning, match="--fusion full trains the full fusion anyway"):
        assert fusion_for_data(cfg, frame).fusion == "text"
    assert fusion_for_data(dataclasses.replace(cfg, fusion="full"), frame).fusion == "full"  # asked for
    with_photo = frame.assign(image_path=["", "a.jpg", ""])
    assert fusion_for_data(cfg, with_photo).fusion is None  # the task's default (full)
    damage = dataclasses.replace(cfg, task="damage")
    assert fusion_for_data(damage, with_photo).fusion is None  # judged from the photo: never text


def test_train_posts_repeating_a_dev_or_test_text_are_dropped(train_config, tmp_path) -> None:
    posts = tmp_path / "posts.csv"
    posts.write_text(
        "text,label,split\n"
        "RT @cityofhouston: Bridge on route 9 collapsed https://t.co/a1,informative,train\n"
        "Shelter open at the school https://t.co/a2,informative,train\n"
        "nice lunch today,not_informative,train\n"
        "lovely weather,not_informative,train\n"
        "BRIDGE on route 9 collapsed https://t.co/b1,informative,dev\n"
        "lovely  weather @friend,not_informative,test\n"
    )
    frame = load_data(dataclasses.replace(train_config, data_root=None, posts=str(posts)))
    assert sorted(frame.loc[frame["split"] == "train", "text"]) == [
        "Shelter open at the school https://t.co/a2",
        "nice lunch today",
    ]
    assert frame["split"].value_counts().to_dict() == {"train": 2, "dev": 1, "test": 1}
    # the demo's templated sentences repeat by design: it keeps them
    kept = load_data(dataclasses.replace(train_config, data_root=None, posts=str(posts), drop_leaked=False))
    assert (kept["split"] == "train").sum() == 4


def test_a_posts_file_without_splits_keeps_each_text_and_its_retweets_on_one_side(train_config, tmp_path) -> None:
    rows = []
    for i in range(20):
        label = "informative" if i % 2 else "not_informative"
        text = f"Report number {i} from the flooded district"
        rows += [
            {"text": f"{text} https://t.co/x{i}", "label": label},
            {"text": f"RT @agency: {text.upper()} https://t.co/y{i}", "label": label},
            {"text": f"rt @someone {text}", "label": label},
        ]
    posts = tmp_path / "posts.jsonl"
    posts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    for seed in range(4):
        frame = load_data(dataclasses.replace(train_config, data_root=None, posts=str(posts), seed=seed))
        assert len(frame) == 60 and set(frame["split"]) == {"train", "dev"}
        assert frame.groupby(frame["text"].map(normalise_text))["split"].nunique().max() == 1


def test_an_out_folder_holding_something_else_is_refused(train_config, tmp_path) -> None:
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.tex").write_text("do not delete")
    with pytest.raises(TrainingError, match="not a run folder"):
        train(dataclasses.replace(train_config, out=str(out), overwrite=True))
    assert (out / "thesis.tex").read_text() == "do not delete"


def test_cli_help_and_errors(capsys, tmp_path) -> None:
    with pytest.raises(SystemExit) as exit_:
        train_cli.main(["--help"])
    assert exit_.value.code == 0
    help_text = capsys.readouterr().out
    for words in ("--data-root", "--ablation", "--resume", "torchrun", "examples"):
        assert words in help_text
    assert train_cli.main(["--data-root", str(tmp_path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err


# --------------------------------------------------------------------------- metrics


def test_metrics_match_hand_computed_values() -> None:
    probabilities = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8]])
    m = classification_metrics([0, 1, 1, 0], probabilities, ["informative", "not_informative"])
    assert m["accuracy"] == 0.5
    assert m["confusion_matrix"] == [[1, 1], [1, 1]]
    assert m["positive_f1"] == pytest.approx(0.5)
    assert m["roc_auc"] == pytest.approx(0.5)  # positive class: the first label
    # confidences 0.9, 0.6, 0.7, 0.8 in four bins with accuracies 1, 0, 1, 0
    assert m["ece"] == pytest.approx((0.1 + 0.6 + 0.3 + 0.8) / 4)
    assert expected_calibration_error(np.array([0]), np.array([[1.0, 0.0]])) == 0.0
    three = classification_metrics([0, 0], np.array([[0.5, 0.3, 0.2]] * 2), ["a", "b", "c"])
    assert three["roc_auc"] is None and three["positive_f1"] is None


def test_the_photo_is_max_pooled_for_damage_and_mean_pooled_for_the_tasks_that_read_the_whole_scene(tmp_path):
    def pooling(**options) -> str:
        return model_config(TrainConfig(out=str(tmp_path), preset="tiny", **options)).photo_pooling

    assert pooling(task="damage", labels="image") == "max"
    assert pooling(task="informative") == pooling(task="humanitarian") == "mean"
    assert pooling(task="informative", photo_pooling="max") == "max"  # --photo-pooling wins
    with pytest.raises(ConfigError, match="photo pooling 'median'"):
        model_config(TrainConfig(out=str(tmp_path), preset="tiny", photo_pooling="median"))
