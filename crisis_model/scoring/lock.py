"""The --out folder's lock: one scoring job writes a folder at a time.

Two jobs on one folder would score the same chunks, and each would remove the other's files in
flight as leftovers of a kill. So the first job holds an exclusive `flock` on out/.lock for as long
as it runs, with its host and pid written in it, which a second job's refusal names. The kernel
lets go of a lock when its process ends, however it ends: a job killed with SIGKILL leaves the file
but not the lock, and the next job takes it. The processes of one torchrun job share the folder:
only process 0 takes the lock, and tells the others (crisis_model.scoring.collection).

A filesystem that cannot lock files (some network mounts) is scored without a lock, with a note.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from crisis_model.errors import ConfigError
from crisis_model.file_faults import os_reason

LOCK_FILE = ".lock"
_NO_LOCKS = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS)


@dataclass
class FolderLock:
    path: Path
    fd: int | None  # None: the filesystem cannot lock; the folder is used unlocked
    note: str | None = None

    @classmethod
    def take(cls, out: Path) -> FolderLock:
        """The lock of `out` (created when missing), or ConfigError naming the job that holds it,
        or why the folder cannot be made."""
        path = out / LOCK_FILE
        while True:
            try:
                out.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as err:
                raise ConfigError(f"{out}: cannot create the folder or write in it ({os_reason(err)}).") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                holder = _holder(fd)
                os.close(fd)
                if err.errno in _NO_LOCKS:
                    note = f"{out}: the filesystem cannot lock files ({os_reason(err)}): no other job may write it"
                    return cls(path, None, note)
                raise ConfigError(
                    f"{out}: another scoring job is writing this folder ({holder}); wait for it to end, "
                    "or choose another --out."
                ) from None
            if _is_at(fd, path):
                break
            os.close(fd)  # its holder removed the file between our open and our lock: lock the new one
        os.ftruncate(fd, 0)
        started = time.strftime("%Y-%m-%d %H:%M:%S %z")
        os.write(fd, json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "started": started}).encode())
        return cls(path, fd)

    def release(self) -> None:
        """Removes the file while still holding it, so no job can lock the file this one leaves."""
        if self.fd is None:
            return
        self.path.unlink(missing_ok=True)
        os.close(self.fd)
        self.fd = None


def _holder(fd: int) -> str:
    """The holder as its lock file names it: 'pid 4242 on host-a, since ...'."""
    try:
        holder = json.loads(os.pread(fd, 4096, 0))
        return f"pid {holder['pid']} on {holder['host']}, since {holder['started']}"
    except (OSError, ValueError, TypeError, KeyError):  # being written this very moment
        return "a process starting this moment"


def _is_at(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == path.stat().st_ino
    except FileNotFoundError:
        return False
