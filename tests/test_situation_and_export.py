"""The Situation page and Browse's folding and export under AppTest on the session's demo run, the
export's round trip through CSV and Parquet, and the timeline's counts on a made table."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from crisis_dashboard import browse, export, situation
from crisis_dashboard.routing import page_file
from crisis_model.data.timeline import make_snowflake
from crisis_model.predictions import normalise as normalise_predictions
from tests.dashboard_support import assert_clean


@pytest.fixture
def app(app):
    """conftest's `app`, for a page that must draw without an exception or an error."""

    def run(page: str):
        at = app(page)
        assert_clean(at)
        return at

    return run


def test_the_situation_page_draws_the_demo_crisis_over_time(app):
    at = app(page_file("situation"))
    assert len(at.get("plotly_chart")) == 1
    words = " ".join(c.value for c in at.main.caption)
    assert "one bar per day" in words and "2017 (UTC)" in words and "busiest day" in words
    assert "informative model calls informative" in words
    events = at.selectbox(key="si-event").options
    assert len(events) == 4  # all together, and the demo's three events
    at.selectbox(key="si-event").set_value(events[1]).run()
    assert not at.exception
    assert events[1] in " ".join(c.value for c in at.main.caption)


def test_browse_folds_near_duplicates_and_offers_both_exports(app):
    at = app(page_file("browse"))
    labels = [b.label for b in at.get("download_button")]
    assert any(label.startswith("CSV") for label in labels) and any(label.startswith("Parquet") for label in labels)
    at.toggle(key="br-fold").set_value(True).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert "Copies" in table and (table["Copies"] >= 1).all()
    folded = next(c.value for c in at.main.caption if c.value.startswith("Folded:"))
    rows, posts = [int(n.replace(",", "")) for n in folded.split() if n.replace(",", "").isdigit()][:2]
    assert rows <= posts


def predictions(n: int = 6) -> pd.DataFrame:
    start = 1_504_000_000_000  # 2017-08-29 09:46:40 UTC
    return pd.DataFrame(
        {
            "post_id": [f"{make_snowflake(start + k * 3_600_000, k)}_0" for k in range(n)],
            "event": ["flood"] * (n - 1) + ["quake"],
            "text": [f'post {k}, with a comma and a "quote"' for k in range(n)],
            "predicted_label": ["informative", "not_informative"] * (n // 2),
            "true_label": ["informative"] * n,
            "confidence": np.linspace(0.5, 0.99, n),
            "reliance_words": np.linspace(-0.1, 0.3, n),
            "duplicate_group": ["a", "a", "c", "d", "e", "f"][:n],
            "group_size": [2, 2, 1, 1, 1, 1][:n],
            "routing_mean": [[0.1, 0.9]] * n,
        }
    )


def test_the_export_reads_back_equal_from_csv_and_parquet():
    table = export.export_table(predictions())
    assert "routing_mean" not in table and table.columns[-1] == "text"
    assert {"duplicate_group", "group_size", "reliance_words", "confidence"} <= set(table.columns)
    from_parquet = pd.read_parquet(io.BytesIO(export.to_parquet(table)))
    pd.testing.assert_frame_equal(from_parquet, table)
    text_columns = {c: str for c in table.columns if table[c].dtype == object}
    from_csv = pd.read_csv(io.BytesIO(export.to_csv(table)), dtype=text_columns, keep_default_na=False)
    pd.testing.assert_frame_equal(from_csv, table)


def test_folding_keeps_the_first_row_of_each_group_and_counts_its_copies():
    frame = normalise_predictions(predictions())
    folded = browse.page(browse.frame_source(frame), browse.Filters(), "File order", 1, 10, fold=True).rows
    assert folded["post_id"].tolist() == predictions()["post_id"].drop(index=1).tolist()
    assert folded["copies"].tolist() == [2, 1, 1, 1, 1]


def test_the_timeline_counts_each_hour_and_each_event():
    frame = predictions()
    line = situation.timeline(frame, informative=frame)
    assert line.bucket == "h" and line.undated == 0
    assert len(line.counts) == 6 and line.counts.to_numpy().sum() == 6
    assert line.share.tolist() == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    flood = situation.timeline(frame, None, "flood")
    assert flood.counts.to_numpy().sum() == 5 and flood.share.empty
    undated = situation.timeline(frame.assign(post_id=[str(k) for k in range(6)]), None)
    assert undated.counts.empty and undated.undated == 6
