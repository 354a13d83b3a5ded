"""Loading untrusted images safely, and turning them into model input tensors.

Every image the project touches (dataset files, a user's upload) goes through `load_image`,
which returns a fully decoded RGB image or raises `ImageError` naming the image and the
fault. It refuses decompression bombs before decoding them, and paths that escape the
folder they must stay in.
"""

from io import BytesIO
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torchvision.transforms.v2 import functional as F

from crisis_model.errors import ImageError
from crisis_model.file_faults import os_reason

MAX_IMAGE_PIXELS = 40_000_000  # larger images are refused before decoding
READABLE_FORMATS = "JPEG, PNG, WebP, GIF, BMP or TIFF"  # named to the user; Pillow reads more
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Pillow warns above this limit and raises DecompressionBombError above twice it; our own
# check in `load_image` refuses anything above it, so both only ever come before a refusal.
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS

_SIXTEEN_BIT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")


def resolve_inside(root: Path, path: str | Path) -> Path:
    """The absolute, symlink-free form of `path` (relative paths are taken from `root`),
    or ImageError when it lies outside `root`. Nothing is opened."""
    try:
        root = Path(root).resolve()
        resolved = (root / path).resolve()  # an absolute `path` replaces `root` here
    except (OSError, RuntimeError, ValueError) as err:  # symlink loops, NUL bytes
        raise ImageError(f"{path}: not a usable path ({err})") from err
    if not resolved.is_relative_to(root):
        raise ImageError(f"{path}: refused, the path lies outside the folder {root}")
    return resolved


def load_image(
    source: str | Path | bytes | Image.Image,
    *,
    root: Path | None = None,
    min_size: int | None = None,
) -> Image.Image:
    """A fully loaded RGB image from a path, the bytes of an upload, or a PIL image.

    EXIF orientation is applied; animations give their first frame; transparency is
    composited onto white; 16-bit, grayscale, palette and CMYK images become 8-bit RGB.
    With `root`, a path must lie inside that folder. Any fault raises ImageError.

    With `min_size`, for callers that shrink the image to that size anyway (`image_to_tensor`):
    a JPEG may be decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling) as long as both
    sides stay at least `min_size`, which takes a third of the time of a full decode for a
    tweet photo. Other formats, and JPEGs too small to shrink, are decoded in full.
    """
    if isinstance(source, Image.Image):
        return _decode(source, "image")
    if isinstance(source, bytes):
        if not source:
            raise ImageError("uploaded image: empty (0 bytes)")
        with _open(BytesIO(source), "uploaded image") as image:
            return _decode(image, "uploaded image", min_size)
    path = resolve_inside(root, source) if root is not None else Path(source)
    try:
        if path.stat().st_size == 0:
            raise ImageError(f"{path}: empty file (0 bytes)")
    except (OSError, ValueError) as err:
        raise ImageError(f"{path}: cannot read the file ({os_reason(err)})") from err
    with _open(path, str(path)) as image:
        return _decode(image, str(path), min_size)


def _open(fp: Path | BytesIO, name: str) -> Image.Image:
    """Image.open with its faults (unreadable, not an image, too large) as ImageError."""
    try:
        return Image.open(fp)
    except Image.UnidentifiedImageError as err:
        raise ImageError(f"{name}: not an image in a format CrisisLens reads ({READABLE_FORMATS})") from err
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        # the warning arrives as an exception only when warnings are turned into errors
        raise ImageError(
            f"{name}: refused, the image has more than {MAX_IMAGE_PIXELS:,} pixels (a possible decompression bomb)"
        ) from err
    except OSError as err:
        raise ImageError(f"{name}: cannot read the file ({os_reason(err)})") from err
    except Exception as err:  # a format plugin choking on a malformed header
        raise ImageError(f"{name}: corrupt image header ({err})") from err


def _decode(image: Image.Image, name: str, min_size: int | None = None) -> Image.Image:
    """Check the size, decode the first frame, and convert it to upright RGB."""
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageError(
            f"{name}: refused, {width}x{height} = {width * height:,} pixels exceeds the "
            f"limit of {MAX_IMAGE_PIXELS:,} (a possible decompression bomb)"
        )
    try:
        if min_size and image.format == "JPEG":
            # Keeps the mode (mode None): colour conversion stays with _to_rgb.
            image.draft(None, (min_size, min_size))
        image.load()
        return _to_rgb(ImageOps.exif_transpose(image))
    except Exception as err:  # truncated data and decoder faults of every format plugin
        raise ImageError(f"{name}: corrupt or truncated image ({err})") from err


def _to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB; transparent parts become white."""
    if image.mode in _SIXTEEN_BIT_MODES:  # scale 0..65535 to 0..255 (convert would clip)
        pixels = np.clip(np.asarray(image, dtype=np.int64), 0, 65535) >> 8
        image = Image.fromarray(pixels.astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def image_to_tensor(image: Image.Image, size: int = 224) -> torch.Tensor:
    """A 3 x size x size float tensor, ImageNet-normalized: the shorter side is resized
    to `size`, then the centre is cropped."""
    if image.mode != "RGB":
        image = load_image(image)
    tensor = F.pil_to_tensor(image)
    tensor = F.resize(tensor, [size], antialias=True)
    tensor = F.center_crop(tensor, [size, size])
    tensor = F.to_dtype(tensor, torch.float32, scale=True)
    return F.normalize(tensor, list(IMAGENET_MEAN), list(IMAGENET_STD))
