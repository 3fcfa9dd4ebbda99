"""The one image decoder: any image input -> RGB ``uint8`` array of shape (H, W, 3).

Uploads, camera shots, sample images and CLI paths all go through :func:`load_image`, which
applies the EXIF orientation, scales 16-bit and float images to 8 bit, composites alpha on white,
converts grayscale/CMYK/palette/1-bit images to RGB, takes the first frame of animations and caps
the longest side. Hostile input raises a subclass of :class:`ImageError` whose message is one
sentence for the user; it never escapes as a PIL traceback.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from core.errors import UserError, quote
from core.limits import IMAGE_MAX_PIXELS as DEFAULT_MAX_PIXELS  # header-declared pixels we agree to decode
from core.limits import IMAGE_MAX_SIDE as DEFAULT_MAX_SIDE
from core.limits import MODEL_MAX_ASPECT, MODEL_MIN_SIDE

# What Pillow's decoded picture may take before it is reduced (pixels x bytes per pixel, see
# :func:`decoded_bytes`): a 124 KB 16-bit PNG of 7999 x 7999 is 122 MiB decoded; an RGBA or float one of
# the same size (244 MiB) is refused before a pixel is decoded. Everything after the decode (16-bit and
# float scaling, alpha compositing) runs on bands of at most BAND_PIXELS, reduced as they go, so the
# whole picture is never widened to float64.
DEFAULT_MAX_DECODED_BYTES = 128 * 2 ** 20
BAND_PIXELS = 1_000_000
_ONE_BYTE_MODES = {"1", "L", "P"}
_TWO_BYTE_MODES = {"I;16", "I;16B", "I;16L", "I;16N"}
PIL_TEXT_CHUNK_LIMIT = 1 * 2 ** 20  # PNG text chunks (zTXt/iTXt): Pillow's own default, stated here

ImageInput = bytes | bytearray | str | Path | BinaryIO | np.ndarray | Image.Image


class ImageError(UserError):
    """Base class: the input cannot be turned into an image. ``str(exc)`` is for the user."""


class EmptyImageError(ImageError):
    pass


class NotAnImageError(ImageError):
    pass


class CorruptImageError(ImageError):
    pass


class ImageTooLargeError(ImageError):
    pass


def decoded_bytes(mode: str, width: int, height: int) -> int:
    """Bytes Pillow allocates to hold a decoded ``mode`` picture (multi-band modes take 4 bytes a pixel)."""
    per_pixel = 1 if mode in _ONE_BYTE_MODES else 2 if mode in _TWO_BYTE_MODES else 4
    return per_pixel * width * height


@dataclass
class LoadedImage:
    """A decoded image plus what was done to it, so the UI can say so."""

    array: np.ndarray  # (H, W, 3) uint8 RGB
    original_size: tuple[int, int]  # (width, height) as stored in the file
    original_mode: str
    format: str
    notes: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.array.shape


# ----------------------------------------------------------------------------- sample images


def _skimage_dir() -> Path:
    import skimage.data

    return Path(skimage.data.__file__).parent


def _sklearn_dir() -> Path:
    import sklearn.datasets

    return Path(sklearn.datasets.__file__).parent / "images"


SAMPLE_IMAGES: dict[str, tuple[str, str]] = {
    # name -> (package, file name); every one ships inside an installed wheel.
    "astronaut": ("skimage", "astronaut.png"),
    "chelsea": ("skimage", "chelsea.png"),
    "coffee": ("skimage", "coffee.png"),
    "rocket": ("skimage", "rocket.jpg"),
    "motorcycle_left": ("skimage", "motorcycle_left.png"),
    "camera": ("skimage", "camera.png"),
    "horse": ("skimage", "horse.png"),
    "china": ("sklearn", "china.jpg"),
    "flower": ("sklearn", "flower.jpg"),
    "cat_and_espresso": ("composite", "cat_and_espresso-v1.png"),
}
# Composites built from the samples above (deterministic, written once to the dashboard cache):
# name -> the samples, each centre-cropped to a square and resized to COMPOSITE_SIDE, side by side.
# A cat and an espresso in one picture: Grad-CAM's heat moves when the class asked about changes.
COMPOSITES: dict[str, tuple[str, ...]] = {"cat_and_espresso": ("chelsea", "coffee")}
COMPOSITE_SIDE = 224


def square_crop(image: np.ndarray) -> np.ndarray:
    """The centred square of side min(H, W)."""
    h, w = image.shape[:2]
    s = min(h, w)
    r0, c0 = (h - s) // 2, (w - s) // 2
    return image[r0:r0 + s, c0:c0 + s]


def composite_image(name: str) -> np.ndarray:
    """(side, n * side, 3) uint8: the samples of ``COMPOSITES[name]`` as squares, side by side."""
    parts = [resize(square_crop(sample_image(part)), COMPOSITE_SIDE, COMPOSITE_SIDE, "area")
             for part in COMPOSITES[name]]
    return np.ascontiguousarray(np.concatenate(parts, axis=1))


def _composite_path(name: str, filename: str) -> Path:
    """The composite as a PNG in the dashboard cache (written atomically the first time)."""
    import os
    import tempfile

    from core.assets import default_cache_dir

    for folder in (default_cache_dir() / "samples", Path(tempfile.gettempdir()) / "cnnvis-samples"):
        path = folder / filename
        if path.exists():
            return path
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".png")
            with os.fdopen(fd, "wb") as fh:
                fh.write(to_png_bytes(composite_image(name)))
            os.replace(tmp, path)  # several server workers may race: each rename is whole
            return path
        except OSError:
            continue  # a read-only cache: fall back to the temp folder
    raise NotAnImageError(f"The sample '{name}' could not be written to the cache or the temp folder.")


def sample_image_path(name: str) -> Path:
    try:
        package, filename = SAMPLE_IMAGES[name]
    except KeyError:
        raise NotAnImageError(
            f"Unknown sample image '{name}'. Choose one of: {', '.join(SAMPLE_IMAGES)}."
        ) from None
    if package == "composite":
        return _composite_path(name, filename)
    base = _skimage_dir() if package == "skimage" else _sklearn_dir()
    return base / filename


def sample_image(name: str, max_side: int = DEFAULT_MAX_SIDE) -> np.ndarray:
    """A shipped sample image as RGB uint8."""
    return load_image(sample_image_path(name), max_side=max_side).array


# ----------------------------------------------------------------------------- decoding


_short = quote  # at most 80 characters of user content (a path, a name), one line: core.errors.quote


def _open(source: ImageInput) -> tuple[Image.Image, str, int]:
    """(image, format, size of the file in bytes) - the pixels are not decoded yet."""
    if isinstance(source, Image.Image):
        return source, "PIL", 0
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            exists = path.exists()
        except OSError:  # e.g. a name longer than the file system allows
            exists = False
        if not exists:
            raise NotAnImageError(f"No image file at '{_short(path)}'.")
        if not path.is_file():
            raise NotAnImageError(f"'{_short(path)}' is a folder (or a device), not an image file.")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise NotAnImageError(f"'{_short(path)}' cannot be read ({exc.strerror or type(exc).__name__}).") from None
    elif isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    elif hasattr(source, "read"):
        if hasattr(source, "seek"):
            source.seek(0)
        data = source.read()
    else:
        raise NotAnImageError(f"Cannot read an image from a {type(source).__name__}.")
    if not data:
        raise EmptyImageError("The file is empty (0 bytes): choose another image.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(f"The image declares too many pixels to decode safely ({exc}).") from None
    except UnidentifiedImageError:
        raise NotAnImageError(
            "This file is not an image we can read (PNG, JPEG, WebP, BMP, TIFF or GIF expected)."
        ) from None
    except (OSError, SyntaxError, EOFError, struct_error()) as exc:
        raise CorruptImageError(f"The image file is damaged and cannot be read ({_quote(exc)}).") from None
    except (ValueError, MemoryError) as exc:  # e.g. PNG zTXt/iTXt chunks inflating past Pillow's text limits
        raise CorruptImageError("The image file is damaged or carries oversized metadata and cannot be read "
                                f"({_quote(exc)}).") from None
    return img, img.format or "unknown", len(data)


def struct_error() -> type:
    import struct

    return struct.error


def _quote(exc: BaseException) -> str:
    from core.errors import quote

    return quote(exc, 120)


def _array_to_rgb(arr: np.ndarray, notes: list[str]) -> np.ndarray:
    """Numpy input: (H, W), (H, W, 1|3|4); uint8, uint16, bool or float in [0, 1] or [0, 255]."""
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4) or min(arr.shape[:2]) < 1:
        raise NotAnImageError(f"An image array must be (H, W), (H, W, 3) or (H, W, 4); got {arr.shape}.")
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype == np.uint16:
        arr = (arr.astype(np.float64) / 257.0).round().astype(np.uint8)
        notes.append("16-bit values scaled to 8 bit")
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise CorruptImageError("The image array contains NaN or infinite values.")
        scale = 255.0 if arr.max() <= 1.0 else 1.0
        arr = np.clip(arr * scale, 0, 255).round().astype(np.uint8)
    elif arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.shape[2] == 4:
        alpha = arr[:, :, 3:4].astype(np.float32) / 255.0
        arr = (arr[:, :, :3] * alpha + 255.0 * (1 - alpha)).round().astype(np.uint8)
        notes.append("transparency composited on white")
    elif arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(arr)


_DEEP_GRAY_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")  # one band, more than 8 bits a sample


def _deep_gray_to_u8(img: Image.Image, notes: list[str], extrema: tuple[float, float] | None = None) -> np.ndarray:
    """A 16-bit, 32-bit or float one-band ``img`` (or one band of rows of it) as an (H, W) uint8 array,
    scaled in place in one float32 copy. ``extrema``: (min, max) of the *whole* picture, so that the
    bands of a picture are scaled alike."""
    mode = img.mode
    arr = np.array(img, dtype=np.float32)  # a writable copy: scaled in place
    if mode == "F":
        if not np.all(np.isfinite(arr)):
            raise CorruptImageError("The image contains NaN or infinite values.")
        lo, hi = extrema if extrema is not None else (float(arr.min()), float(arr.max()))
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise CorruptImageError("The image contains NaN or infinite values.")
        if lo >= 0 and hi <= 1:
            arr *= 255.0
        else:
            arr -= lo
            arr *= 255.0 / max(hi - lo, 1e-12)
        notes.append("floating-point values scaled to 8 bit")
    else:
        lo, hi = extrema if extrema is not None else (float(arr.min(initial=0)), float(arr.max(initial=0)))
        if mode == "I" and (hi > 65535 or lo < 0):
            arr -= lo
            arr *= 255.0 / max(hi - lo, 1)
            notes.append("32-bit values rescaled to 8 bit")
        else:
            arr /= 257.0
            notes.append("16-bit values scaled to 8 bit")
    np.clip(arr, 0, 255, out=arr)
    np.rint(arr, out=arr)
    return arr.astype(np.uint8)


def _pil_to_rgb(img: Image.Image, notes: list[str]) -> Image.Image:
    """``img`` (or one band of it) of an 8-bit mode as RGB (deeper one-band modes: :func:`_deep_gray_to_u8`)."""
    mode = img.mode
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        notes.append("transparency composited on white")
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode == "CMYK":
        notes.append("converted from CMYK")
    elif mode in ("L", "1"):
        notes.append("grayscale converted to RGB")
    elif mode == "P":
        notes.append("palette converted to RGB")
    return img.convert("RGB") if mode != "RGB" else img


def load_image(source: ImageInput, max_side: int = DEFAULT_MAX_SIDE,
               max_pixels: int = DEFAULT_MAX_PIXELS, max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES) -> LoadedImage:
    """Decode ``source`` into a :class:`LoadedImage` holding an (H, W, 3) uint8 RGB array.

    ``max_side`` caps the longest side (aspect ratio kept, area-averaging downscale);
    ``max_pixels`` refuses files whose header declares more pixels (decompression bombs)
    before any pixel is decoded, and ``max_decoded_bytes`` those whose decoded picture would take more
    memory than that (:func:`decoded_bytes`): a small file may not cost the server more than this.
    """
    notes: list[str] = []
    if isinstance(source, np.ndarray):
        arr = _array_to_rgb(source, notes)
        h, w = arr.shape[:2]
        loaded = LoadedImage(arr, (w, h), f"array[{source.dtype}]", "array", notes)
        return _cap(loaded, max_side)

    img, fmt, nbytes = _open(source)
    width, height = img.size
    if width < 1 or height < 1:
        raise CorruptImageError("The image has no pixels (width or height is 0).")
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"The image is {width:,} x {height:,} pixels; the limit is {max_pixels:,} pixels "
            "(it may be a decompression bomb). Resize it and try again."
        )
    original_mode = img.mode
    try:
        if getattr(img, "is_animated", False):
            img.seek(0)
            # an APNG's frame count is what its header claims (2**31 - 1 costs 215 bytes): not repeated
            notes.append("first frame of an animation used" if fmt == "PNG" else f"first frame of {img.n_frames} used")
        if fmt == "JPEG":
            _check_jpeg_length(width, height, nbytes)
            if max(width, height) > 2 * max_side:
                img.draft("RGB", (max_side, max_side))  # decode at reduced scale: faster, less memory
        need = decoded_bytes(img.mode, *img.size)
        if need > max_decoded_bytes:
            raise ImageTooLargeError(
                f"The image is {width:,} x {height:,} pixels in mode {img.mode}: decoding it takes "
                f"{need / 2 ** 20:,.0f} MiB, more than the {max_decoded_bytes / 2 ** 20:,.0f} MiB this dashboard "
                "decodes per picture. Resize it (or save it as an 8-bit image) and try again.")
        if _is_16_bit(img) and img.mode not in _TWO_BYTE_MODES and img.mode != "I":
            notes.append("16-bit values scaled to 8 bit")  # Pillow reads 48/64-bit RGB(A) as 8-bit
        img.load()
        orientation = _orientation(img)
        arr = _to_rgb_reduced(img, notes, max_side)
    except ImageError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, struct_error()) as exc:
        raise CorruptImageError("The image file is damaged or truncated and cannot be decoded "
                                f"({_quote(exc)}).") from None
    del img  # the decoded picture (up to max_decoded_bytes) goes before anything else is allocated
    if orientation:  # turned after the reduction: no second full-size copy of the decoded picture
        arr = _orient(arr, orientation)
        notes.append("EXIF orientation applied")
    loaded = _cap(LoadedImage(arr, (width, height), original_mode, fmt, notes), max_side, (width, height))
    if loaded.array.ndim == 2:
        loaded.array = np.repeat(loaded.array[:, :, None], 3, axis=2)
    if loaded.array.ndim != 3 or loaded.array.shape[2] != 3:
        raise CorruptImageError(f"The decoded image has an unexpected shape {loaded.array.shape}.")
    return loaded


def _is_16_bit(img: Image.Image) -> bool:
    """Whether the file stores more than 8 bits a sample (Pillow's raw mode of the first tile)."""
    try:
        rawmode = img.tile[0][3] if img.tile else ""
        rawmode = rawmode[0] if isinstance(rawmode, tuple) else rawmode
        return isinstance(rawmode, str) and ";16" in rawmode
    except (IndexError, TypeError):
        return False


def _check_jpeg_length(width: int, height: int, nbytes: int) -> None:
    """A JPEG stores every 8 x 8 block with at least a bit or so; a file far shorter than its blocks is cut
    off, and libjpeg would silently fill the missing part with gray (633 bytes declaring 7999 x 7999)."""
    blocks = -(-width // 8) * -(-height // 8)
    if nbytes and nbytes * 64 < blocks:
        raise CorruptImageError(
            f"The JPEG declares {width:,} x {height:,} pixels but holds only {nbytes:,} bytes: it is damaged or "
            "truncated (most of the picture is missing).")


def _to_rgb_reduced(img: Image.Image, notes: list[str], max_side: int) -> np.ndarray:
    """The decoded ``img`` as (H', W', 3) uint8, converted band by band: every band is turned to 8-bit
    RGB and shrunk by the whole factor that keeps the result at least ``max_side`` on its long side, so
    no full-size float or RGBA copy of a large picture exists at any time. A one-band picture of more
    than 8 bits comes back as (H', W') uint8 (gray: three times less to hold while the decoded picture
    is still alive; :func:`load_image` makes it RGB after letting the decoded picture go)."""
    width, height = img.size
    fx = fy = 1
    if max_side and max(width, height) > max_side:  # the whole factors towards the final size (_cap's)
        scale = max_side / max(width, height)
        fx = max(1, width // max(1, round(width * scale)))
        fy = max(1, height // max(1, round(height * scale)))
    extrema = None
    gray = img.mode in _DEEP_GRAY_MODES
    if gray:
        lo, hi = img.getextrema()
        extrema = (float(lo), float(hi))
    rows = max(fy, (BAND_PIXELS // max(width, 1)) // fy * fy)
    shape = (-(-height // fy), -(-width // fx)) + (() if gray else (3,))
    out = np.empty(shape, np.uint8)  # filled band by band, never concatenated
    for top in range(0, height, rows):
        band = img.crop((0, top, width, min(height, top + rows)))
        band_notes: list[str] = []
        part = (Image.fromarray(_deep_gray_to_u8(band, band_notes, extrema), "L") if gray
                else _pil_to_rgb(band, band_notes))
        del band
        if fx > 1 or fy > 1:
            part = part.reduce((fx, fy))
        piece = np.asarray(part, dtype=np.uint8)
        out[top // fy: top // fy + piece.shape[0]] = piece
        if top == 0:
            notes.extend(n for n in band_notes if n not in notes)
    return out


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation 2-8 to undo, else 0: 1 is upright, and 0, 9 or 65535 are not orientations."""
    try:
        value = img.getexif().get(0x0112, 1)
    except Exception:
        return 0
    return value if value in (2, 3, 4, 5, 6, 7, 8) else 0


def _orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """``arr`` turned upright as ``ImageOps.exif_transpose`` turns a picture with that EXIF orientation."""
    turned = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
              5: lambda a: a.swapaxes(0, 1), 6: lambda a: np.rot90(a, -1), 7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
              8: lambda a: np.rot90(a, 1)}[orientation](arr)
    return np.ascontiguousarray(turned)


def _cap(loaded: LoadedImage, max_side: int, stored: tuple[int, int] | None = None) -> LoadedImage:
    h, w = loaded.array.shape[:2]
    if max_side and max(h, w) > max_side:
        loaded.array = fit_longest_side(loaded.array, max_side)
    nh, nw = loaded.array.shape[:2]
    sw, sh = stored or (w, h)
    if (nw, nh) != (sw, sh) and max(sw, sh) > max(nw, nh):
        loaded.notes.append(f"downscaled from {sw} x {sh} to {nw} x {nh}")
    return loaded


def decode_image(source: ImageInput, max_side: int = DEFAULT_MAX_SIDE) -> np.ndarray:
    """Shortcut: just the (H, W, 3) uint8 array of :func:`load_image`."""
    return load_image(source, max_side=max_side).array


# ----------------------------------------------------------------------------- resize helpers


def montage(rows: list[list[np.ndarray]], scale: int = 1, gap: int = 4, fill: int = 255) -> np.ndarray:
    """``rows`` of (h, w, 3) uint8 tiles as one picture: each tile enlarged ``scale`` times by repeating its
    pixels (small scenes and label masks stay crisp when the browser stretches the picture), ``gap`` px of
    ``fill`` between tiles and rows, a shorter row padded with ``fill``. One picture instead of a grid of
    them: one element for the browser to lay out instead of a dozen, and one message per student run."""
    if not rows or not all(rows):
        raise ValueError("A montage needs at least one tile in every row.")
    big = [[np.repeat(np.repeat(np.asarray(t, np.uint8), scale, axis=0), scale, axis=1) for t in row] for row in rows]
    heights = [max(t.shape[0] for t in row) for row in big]
    widths = [sum(t.shape[1] for t in row) + gap * (len(row) - 1) for row in big]
    out = np.full((sum(heights) + gap * (len(big) - 1), max(widths), 3), fill, np.uint8)
    y = 0
    for row, h in zip(big, heights, strict=True):
        x = 0
        for t in row:
            out[y:y + t.shape[0], x:x + t.shape[1]] = t
            x += t.shape[1] + gap
        y += h + gap
    return out


def fit_longest_side(image: np.ndarray, side: int) -> np.ndarray:
    """Resize so that the longest side is ``side`` pixels (area averaging when shrinking)."""
    h, w = image.shape[:2]
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return resize(image, size[1], size[0])


def resize(image: np.ndarray, height: int, width: int, method: str = "auto") -> np.ndarray:
    """Resize an (H, W[, C]) uint8/float image with OpenCV.

    ``method``: "nearest" (use for label masks), "bilinear", "bicubic", "area", or "auto"
    (area when shrinking, bicubic when enlarging).
    """
    import cv2

    if height < 1 or width < 1:
        raise ValueError(f"Target size must be at least 1 x 1, got {width} x {height}.")
    h, w = image.shape[:2]
    if method == "auto":
        method = "area" if height * width < h * w else "bicubic"
    flags = {"nearest": cv2.INTER_NEAREST, "bilinear": cv2.INTER_LINEAR,
             "bicubic": cv2.INTER_CUBIC, "area": cv2.INTER_AREA}
    out = cv2.resize(image, (width, height), interpolation=flags[method])
    if image.ndim == 3 and out.ndim == 2:  # OpenCV drops a single channel axis
        out = out[:, :, None]
    return out


def display_scaled(image: np.ndarray, long_side: int, enlarge_only: bool = True) -> np.ndarray:
    """``image`` resized so that its *long* side is ``long_side`` pixels, the short side following (at
    least 1 px). Scaling by the short side instead turns a 20000 x 1 strip into a 256 x 5,120,000
    picture; by the long side it can never be larger than ``long_side`` squared."""
    h, w = image.shape[:2]
    scale = long_side / max(h, w, 1)
    if enlarge_only and scale <= 1:
        return image
    return resize(image, max(1, round(h * scale)), max(1, round(w * scale)), "auto")


def model_view_problem(image: np.ndarray, input_size: tuple[int, int] | None = None) -> str | None:
    """Why a network cannot usefully see ``image`` (one sentence), or None when it can.

    A classifier resizes every picture to its fixed input (e.g. 224 x 224): a 2048 x 1 strip becomes
    224 copies of one row, so its predictions and heatmaps would describe an artefact, not the image.
    """
    h, w = image.shape[:2]
    into = f" into the model's {input_size[1]} x {input_size[0]} input" if input_size else " to the model's input"
    if min(h, w) < MODEL_MIN_SIDE:
        return (f"This image is {w:,} x {h:,} pixels: stretched{into}, its {min(h, w)}-pixel side would be repeated "
                f"into streaks, so the model would not see the picture. Use an image at least {MODEL_MIN_SIDE} "
                "pixels on each side.")
    if max(h, w) > MODEL_MAX_ASPECT * min(h, w):
        return (f"This image is {w:,} x {h:,} pixels (aspect {max(h, w) / min(h, w):,.0f}:1): squeezed{into}, it "
                f"would be distorted beyond recognition. Crop it to at most {MODEL_MAX_ASPECT}:1 first.")
    return None


def to_gray(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB uint8 -> (H, W) uint8 with ITU-R 601 luma weights (as PIL's "L")."""
    if image.ndim == 2:
        return image
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.clip(image[..., :3].astype(np.float32) @ weights, 0, 255).round().astype(np.uint8)


def to_png_bytes(image: np.ndarray) -> bytes:
    """Encode an (H, W[, 3]) uint8 image as PNG, e.g. for a download button."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()
