"""A scored collection's folder (`python -m crisis_model.score --out DIR`), spelled out once.

    manifest.json          what was scored with what: input file, run, tasks and labels, --images,
                           chunk size, precision; a second start must match it (or it is refused)
    parts/part-K.parquet   the scored posts of chunk K (see crisis_model.scoring.columns); its
                           footer holds the chunk's counts. Its presence means chunk K is done.
    errors/part-K.parquet  chunk K's rows that could not be scored, with kind and reason (written
                           before parts/part-K.parquet, and only when there are any)
    summary.json           the counts over all parts, written at the end
    .lock                  held by the job writing the folder (crisis_model.scoring.lock)

Every file is written beside its name and renamed into place (`atomic_files.atomic_write`), so a
kill leaves a finished part or none, never a torn one; a leftover temporary file is removed at
start, by the job that holds the lock. A folder that cannot be made, read or written is a
ConfigError (a part that cannot be written, a CrisisLensError) naming it and why.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from crisis_model.atomic_files import atomic_write, remove_orphaned_temporaries, write_json
from crisis_model.errors import ConfigError, CrisisLensError
from crisis_model.file_faults import os_reason, path_fault
from crisis_model.scoring.chunks import ChunkResult

MANIFEST_FILE = "manifest.json"
SUMMARY_FILE = "summary.json"
PARTS_DIR = "parts"
ERRORS_DIR = "errors"
PART_GLOB = "part-*.parquet"
STATS_KEY = b"crisislens_chunk"
_PART_NAME = re.compile(r"part-(\d+)\.parquet")


def part_path(out: Path, folder: str, chunk: int) -> Path:
    return out / folder / f"part-{chunk:06d}.parquet"


def finished_chunks(out: Path) -> set[int]:
    """The chunks whose scored part is in place."""
    folder = out / PARTS_DIR
    if not folder.is_dir():
        return set()
    return {int(m.group(1)) for p in folder.iterdir() if (m := _PART_NAME.fullmatch(p.name))}


def write_chunk(out: Path, chunk: int, result: ChunkResult, seconds: float) -> None:
    """The errors part (if any), then the scored part, which marks the chunk done."""
    if result.errors.num_rows:
        _write(part_path(out, ERRORS_DIR, chunk), result.errors)
    stats = {**result.stats, "seconds": round(seconds, 3)}
    table = result.scored.replace_schema_metadata({STATS_KEY: json.dumps(stats).encode()})
    _write(part_path(out, PARTS_DIR, chunk), table)


def _write(path: Path, table: pa.Table) -> None:
    try:
        atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))
    except OSError as err:
        raise CrisisLensError(
            f"{path}: cannot be written ({os_reason(err)}); the parts written so far are kept: run the same "
            "command again once there is room, or choose another --out"
        ) from None


def chunk_stats(out: Path, chunk: int) -> dict[str, Any]:
    """The counts a finished part holds in its footer (the rows themselves are not read)."""
    metadata = pq.read_schema(part_path(out, PARTS_DIR, chunk)).metadata or {}
    return json.loads(metadata.get(STATS_KEY, b"{}"))


def totals(out: Path, chunks: set[int]) -> dict[str, Any]:
    """The counts of these chunks added up (kinds as {kind: n}, not_judged as {task prefix: n})."""
    sums: Counter = Counter()
    kinds: dict[str, Counter] = {"error_kinds": Counter(), "warning_kinds": Counter(), "not_judged": Counter()}
    for chunk in sorted(chunks):
        for key, value in chunk_stats(out, chunk).items():
            if key in kinds:
                kinds[key].update(value)
            else:
                sums[key] += value
    keys = ("rows", "scored", "text_only", "errors", "warned", "seconds")
    return {**{key: sums[key] for key in keys}, **{key: dict(sorted(c.items())) for key, c in kinds.items()}}


# ------------------------------------------------------------------------------ starting and resuming


IDENTITY = ("input", "input_bytes", "input_modified_ns", "run", "tasks", "images", "chunk_rows", "precision")


def check_folder(out: Path, manifest: dict[str, Any]) -> None:
    """ConfigError when `out` holds anything but an earlier start of this same scoring, or cannot be
    looked into."""
    fault = path_fault(out, "folder")
    if fault and fault.kind == "missing" and not out.is_symlink():
        return  # made at start (or refused then, saying why it cannot be made)
    if fault:
        raise ConfigError(f"{out}: {fault}; --out names the folder to write the scored collection to.")
    saved_path = out / MANIFEST_FILE
    if not saved_path.is_file():
        if any(not p.name.startswith(".") for p in out.iterdir()):
            raise ConfigError(
                f"{out}: the folder is not empty and holds no {MANIFEST_FILE}: not a scored collection; "
                "choose a new or empty folder for --out."
            )
        return
    try:
        saved = json.loads(saved_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"{saved_path}: not readable ({err}); choose another --out.") from None
    changed = [key for key in IDENTITY if not isinstance(saved, dict) or saved.get(key) != manifest.get(key)]
    if changed:
        raise ConfigError(
            f"{out}: holds the scoring of another input, run or options ({', '.join(changed)} differ); "
            "run the same command to resume it, or choose another --out."
        )


def start_folder(out: Path, manifest: dict[str, Any]) -> None:
    """Creates the folder and its manifest (once), and removes temporary files a kill left: called
    by the holder of the folder's lock only, so no other job's files are in flight."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        if not (out / MANIFEST_FILE).is_file():
            write_json(out / MANIFEST_FILE, manifest)
        for folder in (PARTS_DIR, ERRORS_DIR):
            (out / folder).mkdir(exist_ok=True)
        for folder in (out, out / PARTS_DIR, out / ERRORS_DIR):
            remove_orphaned_temporaries(folder)
        (out / SUMMARY_FILE).unlink(missing_ok=True)  # rewritten when every chunk is done
    except OSError as err:
        raise ConfigError(f"{out}: cannot write the folder ({os_reason(err)}); choose another --out.") from None


def write_summary(out: Path, summary: dict[str, Any]) -> None:
    try:
        write_json(out / SUMMARY_FILE, summary)
    except OSError as err:
        raise CrisisLensError(f"{out / SUMMARY_FILE}: cannot be written ({os_reason(err)})") from None
