"""Builders of the 2026-12-04 sweep's hostile images (tests/hostile/test_sweep_images.py): small files
that decode to large, wide or lying pictures. Each writes one file and returns its path; nothing here
holds a full-size picture in memory longer than the encoder needs it."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

SIDE = 7999  # just under the 64-megapixel header cap


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def raw_png(path: Path, width: int, height: int, bit_depth: int, color_type: int, channels: int,
            extra_before_idat: bytes = b"") -> Path:
    """A PNG of zeros written row by row (16-bit RGBA, LA and RGB, which Pillow cannot write)."""
    row = b"\x00" + b"\x00" * (width * channels * bit_depth // 8)
    comp = zlib.compressobj(9)
    idat = bytearray()
    for _ in range(height):
        idat += comp.compress(row)
    idat += comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra_before_idat + chunk(b"IDAT", bytes(idat))
                     + chunk(b"IEND", b""))
    return path


def zeros_compressed(n_bytes: int) -> bytes:
    comp = zlib.compressobj(9)
    block = b"\x00" * 2 ** 20
    out = bytearray()
    for _ in range(n_bytes // len(block)):
        out += comp.compress(block)
    return bytes(out + comp.flush())


def text_bomb_png(path: Path, kind: str, inflated_mib: int, count: int = 1) -> Path:
    """64 x 64 PNG with ``count`` compressed text chunks (zTXt or iTXt) of ``inflated_mib`` MiB before IDAT."""
    payload = zeros_compressed(inflated_mib * 2 ** 20)
    if kind == "zTXt":
        data = b"Comment\x00\x00" + payload
    else:  # iTXt: keyword, compression flag 1, method 0, language, translated keyword
        data = b"Comment\x00\x01\x00\x00\x00" + payload
    return raw_png(path, 64, 64, 8, 2, 3, b"".join(chunk(kind.encode(), data) for _ in range(count)))


def apng_lying(path: Path, frames: int = 2 ** 31 - 1) -> Path:
    return raw_png(path, 8, 8, 8, 2, 3, chunk(b"acTL", struct.pack(">II", frames, 0)))


def pil_save(path: Path, array: np.ndarray, mode: str | None = None, **kwargs) -> Path:
    (Image.fromarray(array, mode) if mode else Image.fromarray(array)).save(path, **kwargs)
    return path


def build_large(root: Path) -> dict[str, Path]:
    """The sweep's N6-N13: 7999 x 7999 images of zeros in high bit depths, 62-498 KB each."""
    z16 = np.zeros((SIDE, SIDE), np.uint16)
    out = {"gray16-png": pil_save(root / "g16.png", z16),
           "uint16-tiff": pil_save(root / "u16.tif", z16, compression="tiff_adobe_deflate")}
    del z16
    z32 = np.zeros((SIDE, SIDE), np.float32)
    out["float32-tiff"] = pil_save(root / "f32.tif", z32, compression="tiff_adobe_deflate")
    out["int32-tiff"] = pil_save(root / "i32.tif", z32.view(np.int32), "I", compression="tiff_adobe_deflate")
    del z32
    out["rgba64-png"] = raw_png(root / "rgba64.png", SIDE, SIDE, 16, 6, 4)
    out["la16-png"] = raw_png(root / "la16.png", SIDE, SIDE, 16, 4, 2)
    out["rgb48-png"] = raw_png(root / "rgb48.png", SIDE, SIDE, 16, 2, 3)
    pal = Image.new("P", (SIDE, SIDE), 0)
    pal.putpalette([255, 0, 0] * 256)
    pal.save(root / "ptrns.png", transparency=0)
    out["palette-trns-png"] = root / "ptrns.png"
    return out


def jpeg(width: int = 16, height: int = 16, exif_orientation: int | None = None) -> bytes:
    buf = io.BytesIO()
    img = Image.fromarray(np.full((height, width, 3), 90, np.uint8))
    if exif_orientation is None:
        img.save(buf, format="JPEG")
    else:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        img.save(buf, format="JPEG", exif=exif.tobytes())
    return buf.getvalue()


def jpeg_declaring(width: int, height: int) -> bytes:
    """A 16 x 16 JPEG whose SOF0 header is patched to say ``width`` x ``height``."""
    data = bytearray(jpeg())
    sof = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)
