"""Pretrained weights offline: whether a download host can be reached, and files that packages ship.

Without the reachability check the Hugging Face client retries for ~45 s and torchvision for longer
before they give up; a closed TCP port answers at once. Weights shipped inside a Python package
(EfficientNet-Lite0, SmolLM2, MPNet) need no host at all.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

from crisis_model.errors import BackboneUnavailableError
from crisis_model.file_faults import os_reason

HF_HOST = "huggingface.co"
TORCH_HOST = "download.pytorch.org"


def reachable(host: str, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to host:443 opens; False at once when offline (or HF_HUB_OFFLINE=1
    for the Hugging Face hub)."""
    if os.environ.get("HF_HUB_OFFLINE") == "1" and host == HF_HOST:
        return False
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def cache_root() -> Path:
    """Where readers unpacked from packages are kept: $CRISISLENS_CACHE, else
    $XDG_CACHE_HOME/crisislens, else ~/.cache/crisislens."""
    if os.environ.get("CRISISLENS_CACHE"):
        return Path(os.environ["CRISISLENS_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "crisislens"


def reader_folder(cache: Path | None, name: str, shipped: list[tuple[Path, str | None]], cache_format: int) -> Path:
    """Where the reader `name` built from the `shipped` files is kept: <cache>/<name>-<digest>.

    Each file is (path, the distribution that installed it, or None). The digest is of the sha256
    the distribution's RECORD lists for the file, so every virtual environment that installed the
    same wheel shares one folder (a key of size and modification time made a new 0.4-0.5 GB folder
    for each new environment); a file no RECORD lists is named by its size and modification time.
    Raising `cache_format` makes every folder of the old layout be rebuilt under a new name."""
    stamps = []
    for path, distribution in shipped:
        stat = path.stat()
        stamps.append(f"{path.name}:{stat.st_size}:{recorded_sha256(path, distribution) or stat.st_mtime_ns}")
    key = hashlib.blake2b("|".join([str(cache_format), *stamps]).encode(), digest_size=8).hexdigest()
    return (cache or cache_root()) / f"{name}-{key}"


def recorded_sha256(path: Path, distribution: str | None) -> str | None:
    """The sha256 that the installed distribution's RECORD lists for `path`, or None."""
    if distribution is None:
        return None
    try:
        files = importlib.metadata.distribution(distribution).files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    target = path.resolve()
    for entry in files:
        if entry.name == path.name and entry.hash is not None and Path(entry.locate()).resolve() == target:
            return entry.hash.value
    return None


def build_reader_folder(folder: Path, build: Callable[[Path], None]) -> None:
    """Makes a reader's cached Hugging Face folder: `build(tmp)` fills a folder beside it, which is
    then renamed into place, so a kill leaves no half folder under the final name, and two processes
    building it at once keep one result. A cache that cannot be written is a
    BackboneUnavailableError naming the folder."""
    tmp: Path | None = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
        build(tmp)
        try:
            tmp.rename(folder)
        except OSError:  # another process got there first, or a broken folder is in the way
            if not (folder / "model.safetensors").is_file():
                raise
    except OSError as err:
        raise BackboneUnavailableError(
            f"{folder}: the reader's folder cannot be written there ({os_reason(err)}); free space on its disk, "
            "remove a broken folder of that name, or point CRISISLENS_CACHE at a writable folder"
        ) from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def package_file(package: str, relative: str, pip_command: str) -> Path:
    """A file shipped inside an installed package, found without importing the package (some
    declare dependencies that are not installed, and only their data is used). A missing package
    or file raises BackboneUnavailableError whose one line is the pip command that installs it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / relative
        if path.is_file():
            return path
    raise BackboneUnavailableError(f"{relative} of the Python package {package} is not installed: run {pip_command}")
