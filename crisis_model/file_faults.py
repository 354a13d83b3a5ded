"""Why a path cannot be used, said plainly: missing, not allowed, or not the kind of thing wanted.

`Path.is_file()` and `Path.is_dir()` answer False alike for a path that does not exist and for one
the user may not look at; "no such file" about a file another user keeps to themselves sends the
user looking in the wrong place. Here each fault has its own words, for the error that names it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import NamedTuple

_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


class PathFault(NamedTuple):
    kind: str  # "missing" (nothing there, or a part of the path is a file), "unreachable", "bad_path",
    # "wrong_kind" (a folder where a file is wanted, a FIFO ...), "no_access"
    words: str  # the end of a message that starts with the path

    def __str__(self) -> str:
        return self.words


def os_reason(err: Exception) -> str:
    """'Permission denied' rather than the errno-prefixed repr."""
    return err.strerror if isinstance(err, OSError) and err.strerror else str(err)


def path_fault(path: Path, want: str) -> PathFault | None:
    """None when `path` is a `want` ("file" or "folder") this process may read; else which fault, and
    why in words. Nothing is opened: a FIFO would block, and closing a file SQLite holds open in this
    process would drop its locks."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return PathFault("missing", f"no such {want}")
    except NotADirectoryError:
        return PathFault("missing", f"no such {want} (a part of the path is a file, not a folder)")
    except OSError as err:
        return PathFault("unreachable", f"cannot be reached ({os_reason(err)})")
    except ValueError as err:  # a NUL character: no path at all
        return PathFault("bad_path", f"not a usable path ({err})")
    if want == "folder":
        if not stat.S_ISDIR(mode):
            return PathFault("wrong_kind", "not a folder")
        if not os.access(path, os.R_OK | os.X_OK):
            return PathFault("no_access", "cannot be read (Permission denied)")
        return None
    if not stat.S_ISREG(mode):
        return PathFault("wrong_kind", f"not a file but {_KINDS.get(stat.S_IFMT(mode), 'something else')}")
    if not os.access(path, os.R_OK):
        return PathFault("no_access", "cannot be read (Permission denied)")
    return None
