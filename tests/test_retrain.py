"""Training from corrections (`train.py --corrections`): a correction wins over the dataset's label,
corrected dev/test posts are scored apart, corrections naming unknown posts are counted and
reported, bad databases and labels are refused naming them; and the two-run comparison."""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import train as train_cli
from crisis_model.corrections import CorrectionStore, Review
from crisis_model.corrections.report import compare_runs
from crisis_model.errors import DataError
from crisis_model.predictions import post_key
from crisis_model.run_folder import CORRECTIONS_FILE
from crisis_model.training import TrainConfig
from crisis_model.training.corrections import UnknownPostsWarning
from crisis_model.training.dataset import load_data

FLIP = {"informative": "not_informative", "not_informative": "informative"}


def reviewed(row: pd.Series, label: str, run: str = "runs/old") -> Review:
    """The review of a post as the dashboard records it: with the post's key."""
    key = post_key(row["text"], row["image_path"])
    return Review(row["post_id"], "informative", row["label"], label, run, "ana", post_key=key)


def corrections_for(frame: pd.DataFrame, path: Path) -> dict[str, str]:
    """A database correcting the first train post and the first dev post, accepting the first
    test post, and correcting a post the data does not hold; returns post -> new label."""
    store = CorrectionStore(path)
    chosen = {}
    for split, action in (("train", "correct"), ("dev", "correct"), ("test", "accept")):
        row = frame[frame["split"] == split].iloc[0]
        label = FLIP[row["label"]] if action == "correct" else row["label"]
        store.record([reviewed(row, label)], action)
        chosen[row["post_id"]] = label
    store.record(
        [Review("no-such-post", "informative", "informative", "not_informative", "runs/old", "ana", post_key="0")],
        "correct",
    )
    return chosen


@pytest.fixture
def cfg(train_config) -> TrainConfig:
    return dataclasses.replace(train_config, epochs=1)


def test_a_correction_wins_over_the_dataset_label_and_unknown_posts_are_counted(cfg, tmp_path) -> None:
    plain = load_data(cfg)
    chosen = corrections_for(plain, tmp_path / "c.db")
    cfg.corrections = str(tmp_path / "c.db")
    with pytest.warns(UnknownPostsWarning, match="1 informative correction"):
        frame = load_data(cfg)
    by_post = frame.set_index("post_id")
    for post, label in chosen.items():
        assert by_post.loc[post, "label"] == label and by_post.loc[post, "corrected"]
    assert frame["corrected"].sum() == 3
    untouched = frame[~frame["corrected"]]
    assert (untouched["label"] == untouched["dataset_label"]).all()
    assert frame.attrs["corrections"]["unknown_posts"] == 1
    assert frame.attrs["corrections"]["unknown_posts_examples"] == ["no-such-post"]


def test_reviews_of_other_posts_under_the_same_ids_are_not_applied_but_counted(cfg, tmp_path) -> None:
    """A review of another posts file's row 1 names this data's post 1 too; its key tells them apart
    wherever the reviewed run's folder has gone. A review recorded without a key is matched through
    its run's predictions, and left out when they are gone."""
    frame = load_data(cfg)
    first, second = frame[frame["split"] == "train"].iloc[:2].to_dict("records")
    other_post = {**first, "text": "a post of another posts file"}
    store = CorrectionStore(tmp_path / "c.db")
    store.record([reviewed(pd.Series(other_post), FLIP[first["label"]], run=str(tmp_path / "moved-away"))], "correct")
    store.record(
        [Review(second["post_id"], "informative", second["label"], FLIP[second["label"]], "runs/gone", "ana")],
        "correct",
    )
    cfg.corrections = str(tmp_path / "c.db")
    with pytest.warns(UnknownPostsWarning) as warned:
        corrected = load_data(cfg)
    said = " ".join(str(w.message) for w in warned)
    assert "text or photo differ" in said and "cannot be matched to their post" in said
    assert not corrected["corrected"].any()
    assert corrected.set_index("post_id").loc[first["post_id"], "label"] == first["label"]
    report = corrected.attrs["corrections"]
    assert (report["other_posts"], report["unmatched_posts"], report["unknown_posts"]) == (1, 1, 0)
    assert report["other_posts_examples"] == [first["post_id"]]


def test_a_correction_with_a_label_the_task_lacks_is_refused_naming_the_post(cfg, tmp_path) -> None:
    CorrectionStore(tmp_path / "c.db").record(
        [Review("p9", "informative", "informative", "flood", "r", "ana")], "correct"
    )
    cfg.corrections = str(tmp_path / "c.db")
    with pytest.raises(DataError, match="c.db: review 1 gives post 'p9' the informative label 'flood'"):
        load_data(cfg)


def test_train_py_refuses_a_corrections_file_that_is_not_sqlite(cfg, tmp_path, capsys) -> None:
    bad = tmp_path / "notes.db"
    bad.write_text("just text\n" * 300)
    argv = ["--data-root", cfg.data_root, "--preset", "tiny", "--out", cfg.out, "--corrections", str(bad)]
    assert train_cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "notes.db" in err and "Traceback" not in err
    assert not Path(cfg.out).exists()


def test_train_py_reports_corrected_held_out_posts_apart_and_unknown_posts(cfg, tmp_path, capsys) -> None:
    corrections_for(load_data(cfg), tmp_path / "c.db")
    argv = ["--data-root", cfg.data_root, "--preset", "tiny", "--epochs", "1", "--workers", "0",
            "--cache-dir", cfg.cache_dir, "--out", cfg.out, "--corrections", str(tmp_path / "c.db")]  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownPostsWarning)
        assert train_cli.main(argv) == 0
    report = json.loads((Path(cfg.out) / CORRECTIONS_FILE).read_text())
    assert report["applied"] == {"train": 1, "dev": 1, "test": 1}
    assert report["changed"] == {"train": 1, "dev": 1, "test": 0}
    assert report["unknown_posts"] == 1 and report["reviewed_runs"] == {"runs/old": 4}
    for split in ("dev", "test"):
        part = report["held_out"][split]
        assert part["corrected_posts"] == 1 and part["corrected"]["posts"] == 1
        assert part["uncorrected"]["posts"] == part["posts"] - 1
    out = capsys.readouterr().out
    assert "1 of them name posts this data does not hold (not applied), e.g. no-such-post" in out
    assert "dev: 1 of" in out and "posts corrected, reported apart" in out


def test_two_runs_are_compared_on_the_same_posts_with_the_new_labels() -> None:
    labels = ["informative", "not_informative"]
    posts = [f"p{i}" for i in range(6)]
    new = pd.DataFrame({"post_id": posts, "split": "test", "true_label": ["informative"] * 3 + ["not_informative"] * 3,
                        "prob_informative": [0.9, 0.8, 0.7, 0.2, 0.1, 0.3]})  # fmt: skip
    new["prob_not_informative"] = 1 - new["prob_informative"]
    old = new.assign(prob_informative=np.full(6, 0.6), true_label=["informative"] * 2 + ["not_informative"] * 4)
    old["prob_not_informative"] = 1 - old["prob_informative"]
    table = compare_runs(old, new, "test", labels).set_index(["compared on", "run"])
    assert table.loc[("all posts", "this run"), "accuracy"] == 1.0
    assert table.loc[("all posts", "previous run"), "accuracy"] == 0.5
    assert table.loc[("labels unchanged", "this run"), "posts"] == 5  # p2's label was corrected in between
