"""load_image on every kind of image a user may hand us, good and bad; image_to_tensor."""

import io
import struct
import zlib
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from crisis_model.data import images
from crisis_model.data.images import image_to_tensor, load_image, resolve_inside
from crisis_model.errors import ImageError


def encoded(image: Image.Image, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels but holds almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    pixels = chunk(b"IDAT", zlib.compress(b"\0"))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + pixels + chunk(b"IEND", b"")


def test_path_bytes_and_pil_image_give_the_same_rgb_image(tmp_path):
    original = Image.new("RGB", (30, 20), (10, 120, 200))
    data = encoded(original, "PNG")
    path = write(tmp_path / "a.png", data)
    for source in (path, str(path), data, original):
        image = load_image(source)
        assert image.mode == "RGB" and image.size == (30, 20)
        assert image.getpixel((5, 5)) == (10, 120, 200)


@pytest.mark.parametrize(
    "data, fault",
    [
        (b"", "empty file"),
        (b"this is not an image\n", "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "not an image"),
    ],
)
def test_broken_files_raise_image_error_naming_the_file(tmp_path, data, fault):
    path = write(tmp_path / "photo.jpg", data)
    with pytest.raises(ImageError, match=fault) as caught:
        load_image(path)
    assert str(path) in str(caught.value)


def test_truncated_jpeg_is_an_image_error(tmp_path):
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    data = encoded(Image.fromarray(noise), "JPEG")
    path = write(tmp_path / "cut.jpg", data[: len(data) // 2])
    with pytest.raises(ImageError, match=r"cut\.jpg: corrupt or truncated"):
        load_image(path)


def test_uploads_are_named_uploaded_image():
    with pytest.raises(ImageError, match="uploaded image: empty"):
        load_image(b"")
    with pytest.raises(ImageError, match="uploaded image: not an image"):
        load_image(b"<html>hello</html>")


def test_missing_file_and_folder_are_image_errors(tmp_path):
    with pytest.raises(ImageError, match=r"nope\.jpg: cannot read the file \(No such file"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match="cannot read the file"):
        load_image(tmp_path)


def test_alpha_is_composited_onto_white(tmp_path):
    image = Image.new("RGBA", (4, 1), (255, 0, 0, 255))
    image.putpixel((1, 0), (255, 0, 0, 0))  # fully transparent
    image.putpixel((2, 0), (0, 0, 0, 128))  # half transparent black
    loaded = load_image(write(tmp_path / "alpha.png", encoded(image, "PNG")))
    assert loaded.mode == "RGB"
    assert loaded.getpixel((0, 0)) == (255, 0, 0)
    assert loaded.getpixel((1, 0)) == (255, 255, 255)
    assert all(120 <= c <= 135 for c in loaded.getpixel((2, 0)))

    gray_alpha = Image.new("LA", (2, 2), (0, 0))
    assert load_image(encoded(gray_alpha, "PNG")).getpixel((0, 0)) == (255, 255, 255)


def test_palette_png_with_and_without_transparency(tmp_path):
    palette = Image.new("P", (2, 1))
    palette.putpalette([0, 0, 255, 0, 255, 0] + [0] * 762)
    palette.putpixel((1, 0), 1)
    loaded = load_image(encoded(palette, "PNG"))
    assert loaded.getpixel((0, 0)) == (0, 0, 255) and loaded.getpixel((1, 0)) == (0, 255, 0)
    transparent = load_image(encoded(palette, "PNG", transparency=0))
    assert transparent.getpixel((0, 0)) == (255, 255, 255) and transparent.getpixel((1, 0)) == (0, 255, 0)


def test_16_bit_png_is_scaled_not_clipped():
    pixels = np.array([[0, 32768, 65535]], dtype=np.uint16)
    data = encoded(Image.fromarray(pixels), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    loaded = load_image(data)
    assert [loaded.getpixel((x, 0)) for x in range(3)] == [(0, 0, 0), (128, 128, 128), (255, 255, 255)]


def test_grayscale_and_cmyk_jpegs_become_rgb():
    gray = load_image(encoded(Image.new("L", (8, 8), 200), "JPEG"))
    assert gray.mode == "RGB" and all(abs(c - 200) <= 2 for c in gray.getpixel((4, 4)))
    cyan = load_image(encoded(Image.new("CMYK", (8, 8), (255, 0, 0, 0)), "JPEG"))
    red, green, blue = cyan.getpixel((4, 4))
    assert cyan.mode == "RGB" and red < 20 and green > 235 and blue > 235


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 20, 20))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise
    loaded = load_image(encoded(image, "JPEG", exif=exif.tobytes(), quality=95))
    assert loaded.size == (20, 40)
    assert loaded.getpixel((10, 5))[0] > 200  # the red half is now on top
    assert loaded.getpixel((10, 35))[2] > 200


def test_one_pixel_image():
    loaded = load_image(encoded(Image.new("RGB", (1, 1), (1, 2, 3)), "PNG"))
    assert loaded.size == (1, 1) and loaded.getpixel((0, 0)) == (1, 2, 3)
    assert image_to_tensor(loaded).shape == (3, 224, 224)


def test_animated_gif_and_webp_give_their_first_frame():
    frames = [Image.new("RGB", (16, 16), color) for color in [(255, 0, 0), (0, 255, 0), (0, 0, 255)]]
    for format, options in (("GIF", {}), ("WEBP", {"lossless": True})):
        data = encoded(frames[0], format, save_all=True, append_images=frames[1:], duration=100, **options)
        assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 3
        loaded = load_image(data)
        assert loaded.mode == "RGB" and loaded.size == (16, 16)
        red, green, blue = loaded.getpixel((8, 8))
        assert red > 240 and green < 15 and blue < 15, format


def test_still_webp_with_alpha():
    image = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    loaded = load_image(encoded(image, "WEBP", lossless=True))
    assert loaded.mode == "RGB" and loaded.getpixel((4, 4)) == (255, 255, 255)


@pytest.mark.parametrize("width, height", [(7_000, 7_000), (20_000, 20_000), (1, 40_000_001)])
def test_decompression_bombs_are_refused_before_decoding(tmp_path, width, height):
    path = write(tmp_path / "bomb.png", png_header_only(width, height))
    assert path.stat().st_size < 100
    warns = pytest.warns(Image.DecompressionBombWarning) if width * height <= 80_000_000 else nullcontext()
    with warns, pytest.raises(ImageError, match=r"bomb\.png: refused.*decompression bomb"):
        load_image(path)


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
def test_decompression_bomb_warning_turned_into_an_error_is_still_an_image_error():
    with pytest.raises(ImageError, match="uploaded image: refused"):
        load_image(png_header_only(7_000, 7_000))


def test_pixel_limit_is_our_constant(monkeypatch):
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(ImageError, match="11x10 = 110 pixels exceeds the limit of 100"):
        load_image(encoded(Image.new("RGB", (11, 10)), "PNG"))
    assert load_image(encoded(Image.new("RGB", (10, 10)), "PNG")).size == (10, 10)


def test_paths_outside_root_are_refused_and_never_opened(tmp_path, monkeypatch):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    inside = write(root / "sub" / "ok.png", encoded(Image.new("RGB", (2, 2)), "PNG"))
    outside = write(tmp_path / "secret.png", encoded(Image.new("RGB", (2, 2)), "PNG"))
    (root / "link.png").symlink_to(outside)

    assert load_image("sub/ok.png", root=root).size == (2, 2)
    assert load_image(inside, root=root).size == (2, 2)  # absolute, but inside
    assert resolve_inside(root, "sub/../sub/ok.png") == inside.resolve()

    def never(*args, **kwargs):
        raise AssertionError("a refused path was opened")

    monkeypatch.setattr(Image, "open", never)
    escapes = ["../../etc/passwd", "/etc/passwd", outside, "../secret.png", "sub/../../secret.png", "link.png"]
    for refused in escapes:
        with pytest.raises(ImageError, match="refused, the path lies outside the folder"):
            load_image(refused, root=root)


def test_image_to_tensor_resizes_crops_and_normalizes():
    tensor = image_to_tensor(Image.new("RGB", (300, 150), (128, 128, 128)))
    assert tensor.shape == (3, 224, 224) and tensor.dtype == torch.float32
    expected = [(128 / 255 - m) / s for m, s in zip(images.IMAGENET_MEAN, images.IMAGENET_STD)]
    assert torch.allclose(tensor.mean(dim=(1, 2)), torch.tensor(expected), atol=1e-3)
    assert image_to_tensor(Image.new("L", (10, 30)), size=64).shape == (3, 64, 64)


def _valid_images() -> list[bytes]:
    picture = Image.fromarray(np.random.default_rng(1).integers(0, 255, (12, 10, 3), dtype=np.uint8))
    return [
        encoded(picture, "PNG"),
        encoded(picture, "JPEG"),
        encoded(picture, "GIF"),
        encoded(picture, "WEBP"),
        encoded(picture, "BMP"),
        encoded(picture, "TIFF"),
        encoded(picture.convert("RGBA"), "PNG"),
    ]


@st.composite
def image_like_bytes(draw) -> bytes:
    """Arbitrary bytes, or a valid image cut short, with bytes flipped and junk appended."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=512))
    data = bytearray(draw(st.sampled_from(_valid_images())))
    data = data[: draw(st.integers(0, len(data)))]
    for _ in range(draw(st.integers(0, 4))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data) + draw(st.binary(max_size=32))


@pytest.mark.filterwarnings("ignore::UserWarning:PIL")  # Pillow's notes on broken TIFF tags
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(image_like_bytes())
def test_any_bytes_give_an_rgb_image_or_an_image_error(data):
    try:
        image = load_image(data)
    except ImageError:
        return
    assert image.mode == "RGB" and image.width >= 1 and image.height >= 1
