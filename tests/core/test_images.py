"""The image decoder against hostile and odd inputs: each has its expected outcome."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from core import images
from core.images import (
    CorruptImageError,
    EmptyImageError,
    ImageTooLargeError,
    NotAnImageError,
    load_image,
)


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def gradient(w=64, h=48) -> np.ndarray:
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None, None]
    return np.concatenate([np.broadcast_to(x, (h, w, 1)), np.broadcast_to(y, (h, w, 1)),
                           np.full((h, w, 1), 90, np.float32)], axis=2).astype(np.uint8)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares width x height pixels but carries almost no data (a bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def check_rgb(arr: np.ndarray, shape=None):
    assert arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3
    if shape:
        assert arr.shape[:2] == shape


# ----------------------------------------------------------------------------- refused inputs


def test_empty_file():
    with pytest.raises(EmptyImageError, match="empty"):
        load_image(b"")


def test_text_file_named_png(tmp_path):
    p = tmp_path / "notes.png"
    p.write_text("this is not an image\n")
    with pytest.raises(NotAnImageError, match="not an image"):
        load_image(p)


def test_random_bytes():
    with pytest.raises(NotAnImageError):
        load_image(np.random.default_rng(0).bytes(4096))


def test_truncated_jpeg():
    data = encode(Image.fromarray(gradient(256, 256)), "JPEG", quality=90)
    with pytest.raises(CorruptImageError, match="damaged or truncated"):
        load_image(data[: len(data) // 2])


def test_truncated_png():
    data = encode(Image.fromarray(np.random.default_rng(1).integers(0, 255, (200, 200, 3), np.uint8)), "PNG")
    with pytest.raises(CorruptImageError):
        load_image(data[: len(data) // 3])


def test_header_only_bomb_20000_square():
    with pytest.raises(ImageTooLargeError):
        load_image(png_header_only(20000, 20000))


def test_bomb_below_pil_limit_but_above_ours():
    with pytest.raises(ImageTooLargeError, match="limit"):
        load_image(png_header_only(9000, 9000), max_pixels=50_000_000)


def test_missing_path(tmp_path):
    with pytest.raises(NotAnImageError, match="No image file"):
        load_image(tmp_path / "missing.jpg")


def test_nan_array():
    arr = np.zeros((4, 4, 3), np.float32)
    arr[1, 1, 1] = np.nan
    with pytest.raises(CorruptImageError, match="NaN"):
        load_image(arr)


def test_bad_array_shape():
    with pytest.raises(NotAnImageError, match="got"):
        load_image(np.zeros((4, 4, 2), np.uint8))


def test_image_errors_are_value_errors():
    assert issubclass(images.ImageError, ValueError)


# ----------------------------------------------------------------------------- converted inputs


def test_png_with_alpha_is_composited_on_white():
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:4, :, 3] = 255  # top half opaque red, bottom half fully transparent
    out = load_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    check_rgb(out.array, (8, 8))
    assert tuple(out.array[0, 0]) == (200, 0, 0)
    assert tuple(out.array[7, 7]) == (255, 255, 255)
    assert "transparency composited on white" in out.notes


def test_16bit_png_is_scaled():
    arr = np.array([[0, 32896, 65535]], dtype=np.uint16)
    out = load_image(encode(Image.fromarray(arr), "PNG"))
    check_rgb(out.array, (1, 3))
    assert out.array[0, :, 0].tolist() == [0, 128, 255]
    assert "16-bit values scaled to 8 bit" in out.notes


def test_cmyk_jpeg_is_converted():
    cmyk = Image.fromarray(gradient()).convert("CMYK")
    out = load_image(encode(cmyk, "JPEG", quality=95))
    check_rgb(out.array, (48, 64))
    assert out.original_mode == "CMYK" and "converted from CMYK" in out.notes
    assert abs(int(out.array[:, :, 2].mean()) - 90) < 12  # the blue channel survives the round trip


def test_one_by_one_pixel():
    out = load_image(encode(Image.new("RGB", (1, 1), (1, 2, 3)), "PNG"))
    assert out.array.tolist() == [[[1, 2, 3]]]


def test_animated_gif_first_frame():
    frames = [Image.new("RGB", (10, 10), c) for c in [(255, 0, 0), (0, 0, 255)]]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    out = load_image(buf.getvalue())
    check_rgb(out.array, (10, 10))
    r, g, b = out.array[5, 5]
    assert r > 200 and b < 50
    assert any("first frame of 2" in n for n in out.notes)


def test_exif_rotated_jpeg():
    img = Image.fromarray(gradient(64, 32))  # stored landscape
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    out = load_image(encode(img, "JPEG", exif=exif.tobytes()))
    assert out.array.shape[:2] == (64, 32)  # displayed portrait
    assert "EXIF orientation applied" in out.notes


@pytest.mark.parametrize("orientation", [2, 3, 4, 5, 6, 7, 8])
def test_every_exif_orientation_is_turned_as_pillow_turns_it(orientation):
    """The turn is applied to the reduced array (no second full-size copy): it must be Pillow's."""
    from PIL import ImageOps

    rng = np.random.default_rng(orientation)
    pixels = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)  # asymmetric, so every turn differs
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(Image.fromarray(pixels), "PNG", exif=exif.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    out = load_image(data)
    assert np.array_equal(out.array, expected)
    assert "EXIF orientation applied" in out.notes


def test_rotated_16_bit_gray_is_turned_and_scaled():
    values = (np.arange(6 * 4, dtype=np.uint16).reshape(6, 4) * 2000)
    exif = Image.Exif()
    exif[0x0112] = 8
    buf = io.BytesIO()
    Image.fromarray(values).save(buf, format="PNG", exif=exif.tobytes())
    out = load_image(buf.getvalue())
    expected = np.rint(np.rot90(values, 1) / 257.0).astype(np.uint8)
    assert out.array.shape == (4, 6, 3)
    assert np.array_equal(out.array[:, :, 0], expected) and np.array_equal(out.array[:, :, 2], expected)
    assert "16-bit values scaled to 8 bit" in out.notes and "EXIF orientation applied" in out.notes


def test_grayscale_png():
    out = load_image(encode(Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16)), "PNG"))
    check_rgb(out.array, (16, 16))
    assert np.array_equal(out.array[..., 0], out.array[..., 2])


def test_palette_png_with_transparency():
    img = Image.new("P", (4, 4), 0)
    img.putpalette([10, 20, 30] + [0, 0, 0] * 255)
    img.info["transparency"] = 0
    out = load_image(encode(img, "PNG", transparency=0))
    assert tuple(out.array[0, 0]) == (255, 255, 255)


def test_one_bit_bmp_and_webp_and_tiff():
    bw = Image.fromarray((gradient()[..., 0] > 128).astype(np.uint8) * 255).convert("1")
    check_rgb(load_image(encode(bw, "BMP")).array, (48, 64))
    check_rgb(load_image(encode(Image.fromarray(gradient()), "WEBP", lossless=True)).array, (48, 64))
    check_rgb(load_image(encode(Image.fromarray(gradient()), "TIFF")).array, (48, 64))


def test_float_tiff_is_scaled():
    arr = np.linspace(0.0, 1.0, 100, dtype=np.float32).reshape(10, 10)
    out = load_image(encode(Image.fromarray(arr, "F"), "TIFF"))
    assert out.array[0, 0, 0] == 0 and out.array[-1, -1, 0] == 255


def test_longest_side_is_capped():
    out = load_image(encode(Image.fromarray(gradient(1200, 300)), "PNG"), max_side=400)
    assert out.array.shape[:2] == (100, 400)
    assert any("downscaled from 1200 x 300" in n for n in out.notes)


def test_large_jpeg_uses_reduced_decoding():
    big = Image.fromarray(np.tile(gradient(256, 256), (12, 12, 1)))  # 3072 x 3072
    out = load_image(encode(big, "JPEG", quality=80), max_side=512)
    assert max(out.array.shape[:2]) == 512


def test_numpy_inputs():
    check_rgb(load_image(np.zeros((5, 6), bool)).array, (5, 6))
    out = load_image(np.full((2, 2, 3), 0.5, np.float64))
    assert out.array[0, 0, 0] == 128
    out16 = load_image(np.full((2, 2), 65535, np.uint16))
    assert out16.array.max() == 255


@pytest.mark.parametrize("name", list(images.SAMPLE_IMAGES))
def test_every_sample_image_loads(name):
    check_rgb(images.sample_image(name))


def test_unknown_sample():
    with pytest.raises(NotAnImageError, match="astronaut"):
        images.sample_image_path("nope")


def test_resize_helpers():
    img = gradient(64, 48)
    assert images.resize(img, 10, 20, "nearest").shape == (10, 20, 3)
    mask = np.array([[0, 1], [2, 3]], np.uint8)
    up = images.resize(mask, 4, 4, "nearest")
    assert set(np.unique(up)) == {0, 1, 2, 3}  # labels never blend
    assert images.to_gray(img).shape == (48, 64)
    with pytest.raises(ValueError):
        images.resize(img, 0, 5)
    assert images.to_png_bytes(img)[:8] == b"\x89PNG\r\n\x1a\n"


def test_montage_places_enlarged_tiles_with_gaps_and_pads_a_short_row():
    a = np.full((2, 3, 3), 10, np.uint8)
    b = np.full((2, 2, 3), 20, np.uint8)
    out = images.montage([[a, b], [b]], scale=2, gap=1, fill=255)
    assert out.shape == (2 * 2 + 1 + 2 * 2, 3 * 2 + 1 + 2 * 2, 3)
    assert (out[:4, :6] == 10).all() and (out[:4, 7:] == 20).all()  # each pixel repeated 2 x 2
    assert (out[:, 6] == 255).all() and (out[4] == 255).all()  # the gap column and the gap row
    assert (out[5:, :4] == 20).all() and (out[5:, 4:] == 255).all()  # the second row: one tile, then padding
    with pytest.raises(ValueError):
        images.montage([[a], []])
