"""The first start's demo runs trained on two cores at once (crisis_model.training.demo_processes)
are the runs `train_demo` trains one after the other, and their progress reaches the caller with
each run's place among all the tasks."""

from __future__ import annotations

import pandas as pd

from crisis_model.training import DEMO_TASKS, train_demo
from crisis_model.training.demo_processes import _shares, train_demo_processes


def test_the_tasks_are_shared_in_order_the_first_share_the_longest():
    assert _shares(("informative", "humanitarian", "damage"), 2) == [("informative", "humanitarian"), ("damage",)]
    assert _shares(("a", "b", "c", "d"), 3) == [("a", "b"), ("c",), ("d",)]


def test_runs_trained_in_two_processes_are_those_trained_one_after_the_other(tmp_path, demo_root, feature_cache):
    settings = dict(data_dir=demo_root, n_tweets=60, epochs=2, workers=0, cache_dir=str(feature_cache))
    events = []
    side_by_side = train_demo_processes(tmp_path / "two", progress=events.append, processes=2, **settings)
    one_by_one = train_demo(tmp_path / "one", **settings)
    for task in DEMO_TASKS:
        a = pd.read_parquet(side_by_side / task / "predictions.parquet")
        b = pd.read_parquet(one_by_one / task / "predictions.parquet")
        assert len(a) and a["post_id"].tolist() == b["post_id"].tolist()
        assert a["predicted_label"].tolist() == b["predicted_label"].tolist()
        assert (a["confidence"] - b["confidence"]).abs().max() < 1e-5
    places = {(e.run, e.run_index, e.run_count) for e in events}
    assert places == {(task, index, len(DEMO_TASKS)) for index, task in enumerate(DEMO_TASKS)}
    assert {e.run for e in events if e.stage == "done"} == set(DEMO_TASKS)
