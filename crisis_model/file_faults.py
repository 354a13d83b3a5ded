"""Why a path cannot be used, said plainly: missing, not allowed, or not the kind of thing wanted.

`Path.is_file()` and `Path.is_dir()` answer False alike for a path that does not exist and for one
the user may not look at; "no such file" about a file another user keeps to themselves sends the
user looking in the wrong place. Here each fault has its own words, for the error that names it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def os_reason(err: OSError) -> str:
    """'Permission denied' rather than the errno-prefixed repr."""
    return err.strerror or str(err)


def path_fault(path: Path, want: str) -> str | None:
    """None when `path` is a `want` ("file" or "folder") this process may read; else why not, as the
    end of a message that starts with the path. Nothing is opened: a FIFO would block, and closing a
    file SQLite holds open in this process would drop its locks."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return f"no such {want}"
    except NotADirectoryError:
        return f"no such {want} (a part of the path is a file, not a folder)"
    except OSError as err:
        return f"cannot be reached ({os_reason(err)})"
    except ValueError as err:  # a NUL character: no path at all
        return f"not a usable path ({err})"
    if want == "folder":
        if not stat.S_ISDIR(mode):
            return "not a folder"
        if not os.access(path, os.R_OK | os.X_OK):
            return "cannot be read (Permission denied)"
        return None
    if not stat.S_ISREG(mode):
        return f"not a file but {_KINDS.get(stat.S_IFMT(mode), 'something else')}"
    if not os.access(path, os.R_OK):
        return "cannot be read (Permission denied)"
    return None
