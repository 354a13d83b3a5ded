"""What the dashboard counts and hands out, under AppTest on the session's demo run: the Overview's
labels per task explained against its number of posts, and Browse's download in the words the
page uses (answers by their display names) with photo paths relative to the data folder."""

from __future__ import annotations

import io
import re
from pathlib import PurePath

import pandas as pd
import pytest
from streamlit.runtime.media_file_manager import MediaFileManager

from crisis_dashboard.names import pretty, task_title
from crisis_dashboard.routing import page_file
from crisis_model.data import load_crisismmd
from crisis_model.run_folder import TASK_ORDER
from tests.dashboard_support import BROWSE, assert_clean


def test_the_overview_says_how_many_posts_each_task_leaves_out(app, demo_data):
    at = app()
    assert_clean(at)
    posts = int(next(m for m in at.metric if m.label.startswith("Posts")).value.replace(",", ""))
    [note] = [c.value for c in at.caption if "counts only the posts with its agreed label" in c.value]
    left_out = 0
    for task in TASK_ORDER:
        labelled = len(load_crisismmd(demo_data, task, "agreed"))
        missing = posts - labelled
        said = re.search(rf"(\d[\d,]*) (?:has|have) no {re.escape(task_title(task))}", note)
        if missing:
            assert said and int(said.group(1).replace(",", "")) == missing and f"({labelled:,} have one)" in note
        else:
            assert f"all {posts:,} have" in note
        left_out += missing
    assert left_out > 0  # the demo leaves some posts out of some task: the note has something to explain


@pytest.fixture
def downloads(monkeypatch) -> dict[str, object]:
    """file name -> the callable a download button runs when clicked (deferred downloads)."""
    found: dict[str, object] = {}
    register = MediaFileManager.add_deferred

    def keep(self, data_callable, mimetype, coordinates, file_name=None, **options):
        found[file_name] = data_callable
        return register(self, data_callable, mimetype, coordinates, file_name=file_name, **options)

    monkeypatch.setattr(MediaFileManager, "add_deferred", keep)
    return found


def test_browses_export_names_answers_in_words_and_photos_inside_the_data_folder(app, downloads, demo_run, demo_data):
    at = app(BROWSE)
    assert_clean(at)
    exported = pd.read_csv(io.BytesIO(downloads["crisislens-informative-posts.csv"]()), dtype=str,
                           keep_default_na=False)  # fmt: skip
    assert len(exported) == len(pd.read_parquet(demo_run / "informative" / "predictions.parquet"))  # every post
    assert exported["True label"].tolist() == exported["true_label"].map(pretty).tolist()
    assert exported["Answer"].tolist() == exported["predicted_label"].map(pretty).tolist()
    assert set(exported["Answer"]) <= {"Informative", "Not informative"} and exported["Answer"].nunique() == 2
    photos = [path for path in exported["image_path"] if path]
    assert photos and not any(PurePath(path).is_absolute() for path in photos)
    assert all((demo_data / path).is_file() for path in photos)  # relative to the data folder
    parquet = pd.read_parquet(io.BytesIO(downloads["crisislens-informative-posts.parquet"]()))
    assert parquet["image_path"].tolist() == exported["image_path"].tolist()


def test_the_scored_table_leaves_a_cell_without_a_value_empty(app):
    at = app(page_file("analyse"))
    csv = "text,image_path\nBridge collapsed in the flood,\n,\n"  # the second post has nothing to read
    at.file_uploader(key="an-csv").set_value(("posts.csv", csv.encode(), "text/csv")).run()
    next(b for b in at.button if b.label.startswith("Score")).click().run()
    assert_clean(at)
    shown = at.dataframe[-1].value
    assert len(shown) == 2 and "Damage severity" in shown
    assert not shown.isna().any().any()  # Streamlit draws a missing value as "None"
    assert shown.loc[1, "Informative or not"] == "" and shown.loc[0, "Informative or not"] != ""
    assert shown.loc[0, "informative_confidence"].count(".") == 1  # a number, to the CSV's decimals
