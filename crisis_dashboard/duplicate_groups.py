"""A predictions table's near-duplicate groups (crisis_model.data.duplicates), with a progress bar
while its photos are hashed and a cache, so the photos of a data folder are hashed once.

Photos are hashed in chunks, each chunk cached with `st.cache_data` on its paths and the data
folder's stamp: a progress bar drawn from inside one cached call would be replayed, out of place,
on every later hit."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from crisis_model.data.duplicates import DEFAULT_MAX_DISTANCE, duplicate_groups, photo_hashes
from crisis_model.run_folder import mtime

HASH_CHUNK = 256  # photos per cached call: the bar moves every second or so
SLOW_CHUNK_S = 0.1  # a chunk answered faster came from the cache


@st.cache_data(show_spinner=False, max_entries=512)
def _hash_chunk(paths: tuple[str, ...], folder_stamp: float) -> np.ndarray:
    return photo_hashes(list(paths))


@st.cache_data(show_spinner=False, max_entries=16)
def _groups(post_ids: tuple[str, ...], texts: tuple[str, ...], hashes: bytes, max_distance: int) -> pd.DataFrame:
    frame = pd.DataFrame({"post_id": post_ids, "text": texts})
    return duplicate_groups(frame, np.frombuffer(hashes, dtype=np.int64), max_distance)


def with_duplicate_groups(
    frame: pd.DataFrame, data_folder: Path | None, max_distance: int = DEFAULT_MAX_DISTANCE
) -> pd.DataFrame:
    """`frame` (post_id, text, image_path, has_image) with duplicate_group and group_size."""
    stamp = mtime(data_folder) if data_folder is not None else 0.0
    paths = [p if has else "" for p, has in zip(frame["image_path"], frame["has_image"])]
    parts, bar = [], None
    for start in range(0, len(paths), HASH_CHUNK):
        began = time.perf_counter()
        parts.append(_hash_chunk(tuple(paths[start : start + HASH_CHUNK]), stamp))
        done = start + len(parts[-1])
        if bar is None and done < len(paths) and time.perf_counter() - began > SLOW_CHUNK_S:
            bar = st.progress(0.0)  # only when hashing, not when every chunk comes from the cache
        if bar is not None:
            words = f"Comparing photos to fold near-duplicates: {done:,} of {len(paths):,}"
            bar.progress(done / len(paths), text=words)
    if bar is not None:
        bar.empty()
    hashes = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    groups = _groups(tuple(frame["post_id"]), tuple(frame["text"]), hashes.tobytes(), max_distance)
    return frame.assign(
        duplicate_group=groups["duplicate_group"].to_numpy(), group_size=groups["group_size"].to_numpy()
    )
