"""Tables an analyst takes away: a predictions table as CSV or Parquet, with every column a reader
needs (labels, confidence, each label's probability, the votes' weights, the reliance where the run
measured it, the duplicate group) and none that only the dashboard reads."""

from __future__ import annotations

import io

import pandas as pd

FIRST_COLUMNS = ["post_id", "tweet_id", "event", "split", "true_label", "predicted_label", "confidence", "correct"]
LAST_COLUMNS = ["duplicate_group", "group_size", "has_image", "image_path", "text"]
DASHBOARD_ONLY = ["routing_mean"]  # per-capsule lists for the routing charts


def export_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns to export, the identifying and deciding ones first, the long text last."""
    kept = [c for c in frame.columns if c not in DASHBOARD_ONLY]
    first = [c for c in FIRST_COLUMNS if c in kept]
    last = [c for c in LAST_COLUMNS if c in kept]
    middle = [c for c in kept if c not in first and c not in last]
    return frame[first + middle + last].reset_index(drop=True)


def to_csv(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV; floats written in full so they read back to the same numbers."""
    return frame.to_csv(index=False).encode("utf-8")


def to_parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()
