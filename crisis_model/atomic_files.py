"""Writing files and folders so that a kill at any moment leaves the old or the new version, never
half of one: a file is written beside its final name and renamed into place, a folder is built
beside its final name and swapped in whole. Every checkpoint, run folder and scored collection is
written this way."""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

TEMPORARY_SUFFIX = ".tmp"  # a file being written: `.NAME.<writer's pid>-<8 hex digits>.tmp` beside NAME
TEMPORARY_NAME = re.compile(r"^\..+\.(\d+)-[0-9a-f]{8}" + re.escape(TEMPORARY_SUFFIX) + "$")


def temporary_path(path: Path) -> Path:
    """Where `path` is written before it is renamed into place: a name of this write alone, so that
    two processes (or threads) writing the same file never write into each other's."""
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}{TEMPORARY_SUFFIX}")


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """Calls write(tmp_path), then renames tmp_path onto path (atomic on POSIX). The file gets the
    mode any new file gets under the umask, whatever mode the writer gave it (safetensors writes
    0600), so a team whose umask shares files shares checkpoints too."""
    tmp = temporary_path(path)
    try:
        tmp.touch(exist_ok=False)  # made as every new file is: its mode is the one the umask allows
        mode = tmp.stat().st_mode & 0o777
        write(tmp)
        os.chmod(tmp, mode)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_orphaned_temporaries(folder: Path) -> None:
    """Deletes the files `atomic_write` was writing in `folder` when a kill struck its writer: those
    whose writer (the pid in their name) no longer runs. A live writer's file is left alone."""
    for path in folder.glob(f".*{TEMPORARY_SUFFIX}"):
        found = TEMPORARY_NAME.match(path.name)
        if found and path.is_file() and not _running(int(found.group(1))):
            path.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0 sends nothing: it only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    return True


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: Path, value: Any) -> None:
    write_text(path, json.dumps(value, indent=2) + "\n")


def replace_dir(final: Path, build: Callable[[Path], None]) -> None:
    """Builds a folder beside `final`, then swaps it in; a kill leaves the old or the new one
    (as .NAME.old while the swap is under way, which `recover_dir` puts back)."""
    tmp, old = final.with_name(f".{final.name}.partial"), final.with_name(f".{final.name}.old")
    shutil.rmtree(tmp, ignore_errors=True)
    build(tmp)
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def recover_dir(final: Path) -> None:
    """Puts back a folder that a kill caught in the middle of `replace_dir`'s swap."""
    old = final.with_name(f".{final.name}.old")
    if not final.exists() and old.exists():
        old.rename(final)
