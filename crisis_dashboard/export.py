"""Tables an analyst takes away: a predictions table as CSV or Parquet, with every column a reader
needs (labels, confidence, each label's probability, the votes' weights, the reliance where the run
measured it, the duplicate group) and none that only the dashboard reads."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path, PurePath

import pandas as pd

from crisis_dashboard.names import pretty

FIRST_COLUMNS = ["post_id", "tweet_id", "event", "split", "true_label", "predicted_label", "confidence", "correct"]
LAST_COLUMNS = ["duplicate_group", "group_size", "has_image", "image_path", "text"]
DASHBOARD_ONLY = ["routing_mean"]  # per-capsule lists for the routing charts
# A cell a spreadsheet would run as a formula (OWASP, "CSV injection"): it gets a ' in front
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def export_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns to export, the identifying and deciding ones first, the long text last."""
    kept = [c for c in frame.columns if c not in DASHBOARD_ONLY]
    first = [c for c in FIRST_COLUMNS if c in kept]
    last = [c for c in LAST_COLUMNS if c in kept]
    middle = [c for c in kept if c not in first and c not in last]
    return frame[first + middle + last].reset_index(drop=True)


def for_analyst(frame: pd.DataFrame, answers: Mapping[str, str], data_root: Path | None) -> pd.DataFrame:
    """export_table(frame) as Analyse's scored file has it: each answer also in words under its
    display name (`answers`: label column -> title), first; the machine columns kept; photo paths
    relative to the data folder `data_root`, never the server's own folders."""
    table = export_table(frame)
    in_words = {
        title: table[column].map(pretty, na_action="ignore") for column, title in answers.items() if column in table
    }
    if "image_path" in table:
        table["image_path"] = table["image_path"].map(lambda path: relative_path(path, data_root))
    return pd.concat([pd.DataFrame(in_words), table], axis=1)


def relative_path(path: object, root: Path | None) -> object:
    """`path` inside `root` as a path relative to it; a relative one as it is; an absolute one
    elsewhere as its file name alone (the server's folders are not the analyst's)."""
    if not isinstance(path, str) or not path:
        return path
    pure = PurePath(path)
    if not pure.is_absolute():
        return path
    if root is not None and pure.is_relative_to(root.absolute()):
        return pure.relative_to(root.absolute()).as_posix()
    return pure.name


def to_csv(frame: pd.DataFrame, float_format: str | None = None) -> bytes:
    """UTF-8 CSV that a spreadsheet opens safely: a text cell starting like a formula gets a ' in
    front, and rows end in CRLF (RFC 4180), so a cell holding a line break or a bare carriage return
    is quoted and no row splits. Floats are written in full unless `float_format` says otherwise."""
    safe = frame.copy()
    for column in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[column]) and not pd.api.types.is_bool_dtype(safe[column]):
            safe[column] = safe[column].map(_defused)
    return safe.to_csv(index=False, lineterminator="\r\n", float_format=float_format).encode("utf-8")


def _defused(cell: object) -> object:
    return "'" + cell if isinstance(cell, str) and cell.startswith(FORMULA_STARTS) else cell


def to_parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()
