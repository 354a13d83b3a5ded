"""A scored collection (a folder written by `python -m crisis_model.score`) as Browse reads it.

A collection may hold millions of posts, so its rows are never loaded into the app: each action
(filter, sort, page) is one DuckDB query (crisis_dashboard.browse) that reads only the columns it
needs from disk. The queries run on a browse index, a DuckDB file built once per version of the
collection from its Parquet parts (the posts as one table, with the text in lower case for
search), kept in the collection's .browse/ folder. On 1,000,000 posts and 2 busy cores (bench/browse_collection.py) an
action takes under 0.5 s there, against 1-5 s over the ~1,000 Parquet parts, with pyarrow datasets
or DuckDB alike: opening a thousand files per action, and the text scan, dominate. Pure: no
Streamlit here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from crisis_model.atomic_files import atomic_write
from crisis_model.errors import DataError
from crisis_model.run_folder import mtime
from crisis_model.scoring.folder import (
    ERRORS_DIR,
    MANIFEST_FILE,
    PART_GLOB,
    PARTS_DIR,
    SUMMARY_FILE,
    finished_chunks,
)

INDEX_DIR = ".browse"


@dataclass(frozen=True)
class Collection:
    folder: Path
    tasks: dict[str, dict]  # column prefix -> {"task": ..., "labels": [...]}
    summary: dict  # summary.json, or {} while the scoring is under way
    images: Path | None  # --images of the scoring: where image_path is read from
    run: str
    parts: int

    @property
    def glob(self) -> str:
        return str(self.folder / PARTS_DIR / PART_GLOB)


def stamp(folder: Path) -> float:
    """Changes when a part, the summary or the manifest is written, so cached answers are recomputed."""
    return max(mtime(folder / PARTS_DIR), mtime(folder / SUMMARY_FILE), mtime(folder / MANIFEST_FILE))


def open_collection(folder: str | Path) -> Collection:
    """The collection's manifest and summary (no rows are read); DataError when `folder` is not one."""
    folder = Path(folder).expanduser()
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise DataError(
            f"{folder}: not a scored collection (no {MANIFEST_FILE}); write one with "
            "`python -m crisis_model.score --run RUN --input FILE --out DIR`."
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        summary_path = folder / SUMMARY_FILE
        summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{folder}: not readable ({err}).") from None
    parts = len(finished_chunks(folder))
    if not parts:
        raise DataError(f"{folder}: no scored part yet; the scoring has not finished a chunk.")
    images = Path(manifest["images"]) if manifest.get("images") else None
    return Collection(folder, dict(manifest.get("tasks", {})), summary, images, str(manifest.get("run", "")), parts)


def index_path(collection: Collection) -> Path:
    """Where the browse index of this version of the collection lives."""
    stamp = (collection.folder / PARTS_DIR).stat().st_mtime_ns
    return collection.folder / INDEX_DIR / f"index-{collection.parts}-{stamp}.duckdb"


def build_index(collection: Collection) -> Path:
    """The browse index (built when missing: about 15 s for 1,000,000 posts on 2 busy cores);
    written beside its name and renamed, older versions removed. DataError when it cannot be written."""
    path = index_path(collection)
    if path.is_file():
        return path

    def write(tmp: Path) -> None:
        tmp.unlink(missing_ok=True)
        with duckdb.connect(str(tmp)) as connection:
            connection.execute(
                "CREATE TABLE posts AS SELECT *, lower(text) AS text_lower FROM read_parquet(?) ORDER BY row",
                [collection.glob],
            )

    try:
        path.parent.mkdir(exist_ok=True)
        atomic_write(path, write)
    except (OSError, duckdb.Error) as err:
        raise DataError(f"{path}: cannot write the browse index ({err}).") from None
    for old in path.parent.glob("index-*.duckdb"):
        if old != path:
            old.unlink(missing_ok=True)
    return path


def connect(index: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a browse index (its posts in the table `posts`); query it through
    `.cursor()`s (one per query: safe across the dashboard's session threads)."""
    return duckdb.connect(str(index), read_only=True)


def errors(collection: Collection, limit: int = 1000) -> pd.DataFrame:
    """The rows that could not be scored (first `limit`, in file order), with kind and reason."""
    files = sorted((collection.folder / ERRORS_DIR).glob(PART_GLOB))
    if not files:
        return pd.DataFrame(columns=["row", "post_id", "kind", "reason", "text"])
    sql = "SELECT row, post_id, kind, reason, text FROM read_parquet(?) ORDER BY row LIMIT ?"
    with duckdb.connect() as connection:
        return connection.execute(sql, [[str(f) for f in files], limit]).df()
