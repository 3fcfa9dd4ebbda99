"""A neuron gallery in the style of OpenAI Microscope: the filter visualisation of every channel of
a layer, computed once and kept on disk.

Each channel's picture is gradient ascent on that channel alone (:func:`core.vision.ascent.gradient_ascent`,
the model's filter recipe: EfficientNet-Lite0 uses a 96-pixel Fourier-parameterised canvas through
the network truncated at the layer). Channels are computed in fixed blocks of :data:`BLOCK`
(channels 0-7, 8-15, ...), so a channel's picture depends on the recipe and the channel only, not on
who asked first or for which page.

On disk, under the dashboard cache (``<cache>/gallery/<model>-<weights hash>/<layer>/<recipe hash>/``):
``channel-0000.png`` ... and ``index.json`` (model, layer, recipe, and per channel the activation
reached and the picture's standard deviation). Several server workers share the folder: a block is
computed under a file lock and written atomically (temp file + rename), the index is merged.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.assets import default_cache_dir
from core.progress import Progress, ensure
from core.vision import ascent_settings
from core.vision.ascent_settings import AscentSettings
from core.vision.compiled import compiled
from core.vision.zoo import LoadedModel, ModelError, page_defaults

BLOCK = 8  # channels optimised together (one batch); also the unit of work on disk
# The whole gallery folder's bound (every one of EfficientNet-Lite0's 62,240 channels is one link away: about
# 1.6 GB). Past it, the layer galleries used longest ago are removed after each block is written.
ENV_MAX_MB = "DASHBOARD_GALLERY_MAX_MB"
DEFAULT_MAX_MB = 512
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ENTRY_FIELDS = ("activation", "std", "seconds")
VERSION = 1  # bump when the files or the recipe's meaning change
RECIPE_KEYS = AscentSettings.KEYS
GENERIC_RECIPE = ascent_settings.GALLERY  # the recipe of a model without filter settings of its own


class GalleryError(ModelError):
    pass


def recipe_for(loaded: LoadedModel) -> AscentSettings:
    """The gallery's ascent settings for this model: its own filter settings (``ascent_settings.MODELS``), else
    the generic Fourier recipe; the canvas is the model's own size (64 px for any size) unless they set one."""
    recipe = ascent_settings.for_model(loaded.name, "filters") or GENERIC_RECIPE
    return recipe.with_size(int(loaded.input_size[0]) if not loaded.flexible else ascent_settings.GALLERY_FLEXIBLE_SIZE)


def as_recipe(recipe: AscentSettings | Mapping[str, Any]) -> AscentSettings:
    """A recipe given as settings, or as their JSON keys (over the generic recipe)."""
    return recipe if isinstance(recipe, AscentSettings) else AscentSettings.from_mapping(recipe, GENERIC_RECIPE)


def default_layer(loaded: LoadedModel) -> str:
    """The model's gallery layer (EfficientNet-Lite0: block 4's expansion, textures and eyes), else the
    middle convolution."""
    layer = page_defaults(loaded.name, "gallery").get("layer")
    convs = loaded.conv_layers or loaded.spatial_layers
    if layer and layer in loaded.spatial_layers:
        return layer
    if not convs:
        raise GalleryError(f"{loaded.name} has no layer with a spatial output to visualise.")
    return convs[len(convs) // 2]


def weights_fingerprint(loaded: LoadedModel) -> str:
    """sha256 (12 hex digits) of every weight: a retrained or re-converted model gets a new folder."""
    def build():
        h = hashlib.sha256()
        for w in loaded.model.weights:
            a = np.ascontiguousarray(np.asarray(w))
            h.update(f"{w.path}{a.dtype}{a.shape}".encode())
            h.update(a.data)
        return h.hexdigest()[:12]

    return compiled(loaded, ("weights_fingerprint",), build)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:80] or "_"


def recipe_key(recipe: AscentSettings | Mapping[str, Any]) -> str:
    """The recipe's folder name: a hash of its JSON (the same as before the settings were an object)."""
    text = json.dumps({"version": VERSION, **as_recipe(recipe).as_dict()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def layer_channels(loaded: LoadedModel, layer: str) -> int:
    shape = loaded.layer(layer).output.shape
    if len(shape) != 4:
        raise GalleryError(f"Layer '{layer}' has no spatial output (shape {tuple(shape)}): choose a convolution "
                           "or activation layer.")
    return int(shape[-1])


@dataclass
class Gallery:
    """What is on disk for one (model, layer, recipe): ``done`` maps channel -> its index entry."""

    model: str
    layer: str
    channels: int
    recipe: AscentSettings
    folder: Path
    done: dict[int, dict] = field(default_factory=dict)

    def path(self, channel: int) -> Path:
        return self.folder / f"channel-{channel:04d}.png"

    def missing(self, channels: Iterable[int]) -> list[int]:
        """Channels without a usable picture (no index entry, or the file is gone, empty or not a PNG)."""
        return [k for k in channels if k not in self.done or not _is_png(self.path(k))]

    def image(self, channel: int) -> np.ndarray:
        from core.images import ImageError, load_image

        if channel not in self.done:
            raise GalleryError(f"Channel {channel} of '{self.layer}' has not been computed yet.")
        try:
            return load_image(self.path(channel)).array
        except ImageError:  # damaged on disk: it is recomputed on the next request, never shown
            self.done.pop(channel, None)
            raise GalleryError(f"Channel {channel} of '{self.layer}' is damaged on disk; it will be computed "
                               "again.") from None

    @property
    def complete(self) -> bool:
        return not self.missing(range(self.channels))


def gallery_dir(loaded: LoadedModel, layer: str, recipe: AscentSettings | Mapping[str, Any],
                root: Path | None = None) -> Path:
    root = Path(root) if root is not None else default_cache_dir() / "gallery"
    return root / f"{_safe(loaded.name)}-{weights_fingerprint(loaded)}" / _safe(layer) / recipe_key(recipe)


def open_gallery(loaded: LoadedModel, layer: str, recipe: AscentSettings | Mapping[str, Any] | None = None,
                 root: Path | None = None) -> Gallery:
    """The gallery as it is on disk now (nothing is computed)."""
    recipe = as_recipe(recipe) if recipe else recipe_for(loaded)
    folder = gallery_dir(loaded, layer, recipe, root)
    gallery = Gallery(loaded.name, layer, layer_channels(loaded, layer), recipe, folder)
    gallery.done = _read_index(folder)
    return gallery


def _is_png(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(8) == PNG_SIGNATURE
    except OSError:
        return False


def _valid_entry(entry: object) -> bool:
    import math

    return isinstance(entry, dict) and all(
        isinstance(entry.get(f), (int, float)) and not isinstance(entry.get(f), bool) and math.isfinite(entry[f])
        for f in ENTRY_FIELDS)


def _read_index(folder: Path) -> dict[int, dict]:
    """The index's channel entries; a damaged index (not JSON, entries without their fields, a folder
    replaced by a file) counts as empty, so what it described is computed again rather than shown."""
    try:
        data = json.loads((folder / "index.json").read_text())
        channels = data.get("channels", {}) if isinstance(data, dict) else {}
        return {int(k): v for k, v in channels.items() if _valid_entry(v)} if isinstance(channels, dict) else {}
    except (OSError, ValueError, AttributeError, TypeError, RecursionError):
        return {}


def disk_token(gallery: Gallery | Path) -> tuple:
    """Changes whenever the gallery's files change (for keys of work that fills or reads it); a gallery or
    its folder."""
    folder = gallery if isinstance(gallery, Path) else gallery.folder
    out = []
    for path in (folder, folder / "index.json"):
        try:
            out.append(path.stat().st_mtime_ns)
        except OSError:
            out.append(0)
    return tuple(out)


def max_bytes() -> int:
    import math

    try:
        mb = float(os.environ.get(ENV_MAX_MB, DEFAULT_MAX_MB))
    except ValueError:
        mb = DEFAULT_MAX_MB
    if not math.isfinite(mb) or mb <= 0:
        mb = DEFAULT_MAX_MB
    return int(mb * 2 ** 20)


def evict(root: Path, keep: Path | None = None, limit: int | None = None) -> list[Path]:
    """Remove whole layer galleries (``root/<model>/<layer>/<recipe>``), least recently written first,
    until the folder holds at most ``limit`` bytes; ``keep`` (the one being filled) is never removed."""
    import shutil

    limit = max_bytes() if limit is None else limit
    folders = []
    total = 0
    for folder in root.glob("*/*/*"):
        if not folder.is_dir() or folder.is_symlink():
            continue
        size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
        total += size
        index = folder / "index.json"
        folders.append((index.stat().st_mtime if index.exists() else 0.0, folder, size))
    removed = []
    for _, folder, size in sorted(folders, key=lambda t: t[0]):
        if total <= limit:
            break
        if keep is not None and folder.resolve() == Path(keep).resolve():
            continue
        shutil.rmtree(folder, ignore_errors=True)
        total -= size
        removed.append(folder)
    return removed


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _merge_index(gallery: Gallery, entries: dict[int, dict]) -> None:
    """Add ``entries`` to index.json under its lock (other workers may be adding other blocks)."""
    from core.train import training_lock

    with training_lock(gallery.folder / "index", ensure(None)):
        done = _read_index(gallery.folder)
        done.update(entries)
        payload = {"model": gallery.model, "layer": gallery.layer, "channels_total": gallery.channels,
                   "recipe": gallery.recipe.as_dict(), "version": VERSION,
                   "channels": {str(k): done[k] for k in sorted(done)}}
        _write_atomic(gallery.folder / "index.json", json.dumps(payload, indent=1).encode())
    gallery.done = done


def blocks_of(channels: Iterable[int]) -> list[int]:
    return sorted({int(k) // BLOCK for k in channels})


def compute(loaded: LoadedModel, layer: str, channels: Iterable[int],
            recipe: AscentSettings | Mapping[str, Any] | None = None,
            root: Path | None = None, progress: Progress | None = None,
            preview: Callable[[list[np.ndarray], list[str]], None] | None = None) -> Gallery:
    """Make sure ``channels`` of ``layer`` are on disk (computing the blocks that hold any missing one)
    and return the gallery. ``preview(images, captions)`` receives each finished block."""
    from core.images import to_png_bytes
    from core.train import training_lock
    from core.vision.ascent import any_size, gradient_ascent

    progress = ensure(progress)
    gallery = open_gallery(loaded, layer, recipe, root)
    recipe = gallery.recipe
    wanted = sorted({int(k) for k in channels})
    bad = [k for k in wanted if not 0 <= k < gallery.channels]
    if bad:
        raise GalleryError(f"Channel {bad[0]} is out of range: '{layer}' has {gallery.channels} channels "
                           f"(0-{gallery.channels - 1}).")
    todo = [b for b in blocks_of(wanted) if gallery.missing(range(b * BLOCK, min(gallery.channels, (b + 1) * BLOCK)))]
    if not todo:
        return gallery
    for folder in (gallery.folder.parents[1], gallery.folder.parent, gallery.folder):
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):  # our cache, damaged: a file where
            folder.unlink()                                                  # a folder was
    gallery.folder.mkdir(parents=True, exist_ok=True)
    net = any_size(loaded) if recipe.size != int(loaded.input_size[0]) else loaded
    extractor = net.extractor((layer,))
    for i, b in enumerate(todo):
        block = list(range(b * BLOCK, min(gallery.channels, (b + 1) * BLOCK)))
        with training_lock(gallery.folder / f"block-{b:04d}", progress):
            gallery.done = _read_index(gallery.folder)
            if not gallery.missing(block):  # another worker finished it while we waited
                continue

            def step(fraction: float, message: str, _i=i, _block=block) -> None:
                progress((_i + fraction) / len(todo), f"channels {_block[0]}-{_block[-1]} of {layer}: {message}")

            result = gradient_ascent(net, layer, block, **recipe.call_kwargs(), progress=step)
            reached = np.asarray(extractor(result.raw, training=False)).mean(axis=(1, 2))  # (B, C)
            entries = {}
            for j, k in enumerate(block):
                _write_atomic(gallery.path(k), to_png_bytes(result.images[j]))
                entries[k] = {"activation": float(reached[j, k]), "std": float(result.images[j].std()),
                              "seconds": round(result.seconds / len(block), 3),
                              "objective": [round(float(v), 4) for v in result.objective[:: max(1, len(result.objective) // 32)]],
                              "written": time.strftime("%Y-%m-%dT%H:%M:%S")}
            _merge_index(gallery, entries)
        evict(gallery.folder.parents[2], keep=gallery.folder)
        if preview is not None:
            preview(list(result.images), [f"channel {k}" for k in block])
    progress(1.0, f"{len(gallery.done)} of {gallery.channels} channels of {layer} on disk")
    return gallery


def clamp_request(loaded: LoadedModel, layer: str | None, channel: str | int | None,
                  default: str) -> tuple[str, int | None, list[str]]:
    """A (layer, channel) from a URL (``?layer=...&channel=...``): valid values pass, others are replaced
    (unknown layer: the default; channel out of range: clamped; not a number: ignored) with a note each."""
    notes = []
    layers = loaded.spatial_layers
    if layer is not None and layer not in layers:
        notes.append(f"{loaded.name} has no layer '{str(layer)[:40]}'; showing {default}.")
        layer = None
    layer = layer or default
    n = layer_channels(loaded, layer)
    if channel is None or channel == "":
        return layer, None, notes
    try:
        k = int(str(channel).strip())
    except ValueError:
        notes.append(f"Channel '{str(channel)[:20]}' is not a number; ignored.")
        return layer, None, notes
    if not 0 <= k < n:
        clamped = min(max(k, 0), n - 1)
        notes.append(f"Channel {k} is out of range for {layer} (0-{n - 1}); showing {clamped}.")
        k = clamped
    return layer, k, notes


def mosaic(gallery: Gallery, channels: list[int], columns: int = 8, tile: int = 96,
           pad: int = 2) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """The pictures of ``channels`` as one (rows * tile, columns * tile, 3) image (missing ones gray)
    and each channel's tile centre (channel, x, y) in that image's pixels."""
    import cv2

    rows = max(1, int(np.ceil(len(channels) / columns)))
    step = tile + pad
    out = np.full((rows * step - pad, columns * step - pad, 3), 255, np.uint8)
    centres = []
    for i, k in enumerate(channels):
        r, c = divmod(i, columns)
        y, x = r * step, c * step
        img = np.full((tile, tile, 3), 200, np.uint8)  # missing or damaged: gray
        if not gallery.missing([k]):
            try:
                shown = gallery.image(k)
                img = cv2.resize(shown, (tile, tile),
                                 interpolation=cv2.INTER_AREA if shown.shape[0] > tile else cv2.INTER_CUBIC)
            except GalleryError:
                pass
        out[y:y + tile, x:x + tile] = img
        centres.append((k, x + tile // 2, y + tile // 2))
    return out, centres
