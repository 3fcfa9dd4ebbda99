"""One ascent recipe: the settings of gradient ascent as one frozen object, and every named set of them.

The Filters & class neurons page (its defaults), the neuron gallery (its recipe, whose JSON is the folder's
hash and the ``recipe`` of ``index.json``), the warm start (which traces the page's default batch), the report
(the default filters' figures) and ``python -m core ascent`` (its option defaults) all read their settings
here, so a change of one default is one line, and a cache key built from settings (``core.cache.content_key``
reads a frozen dataclass field by field) is stable by content.

This module imports nothing (core.vision.zoo and core.vision.ascent import it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

INITS = ("gray", "zeros", "random", "image")


@dataclass(frozen=True)
class AscentSettings:
    """What gradient ascent is asked for, besides the model, the layer and the targets.

    ``eta`` is the step length (``step_size`` of :func:`core.vision.ascent.gradient_ascent`); ``size`` the canvas
    in pixels, None: the user's choice (the model's own size, or a default for a model of any size).
    """

    steps: int = 100
    eta: float = 1.0
    init: str = "gray"
    jitter: int = 0
    l2: float = 0.0
    blur_every: int = 0
    fourier: bool = False
    size: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:  # one type per field: 1 and 1.0 must give the same key and the same JSON
        for name, kind in (("steps", int), ("eta", float), ("jitter", int), ("l2", float), ("blur_every", int),
                           ("seed", int)):
            object.__setattr__(self, name, kind(getattr(self, name)))
        object.__setattr__(self, "fourier", bool(self.fourier))
        object.__setattr__(self, "init", str(self.init))
        if self.size is not None:
            object.__setattr__(self, "size", int(self.size))

    KEYS = ("steps", "eta", "init", "jitter", "l2", "blur_every", "fourier", "size", "seed")

    def replace(self, **changes: Any) -> AscentSettings:
        return dataclasses.replace(self, **changes)

    def with_size(self, size: int) -> AscentSettings:
        """These settings with a canvas size (kept when one is set already)."""
        return self if self.size is not None else self.replace(size=size)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (the gallery's ``recipe``; its keys are the field names)."""
        return {k: getattr(self, k) for k in self.KEYS}

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], base: AscentSettings | None = None) -> AscentSettings:
        """``base`` (default: the field defaults) with the known keys of ``values``; other keys are ignored."""
        base = base or cls()
        return base.replace(**{k: values[k] for k in cls.KEYS if k in values})

    def call_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`core.vision.ascent.gradient_ascent`."""
        return {"steps": self.steps, "step_size": self.eta, "size": self.size, "init": self.init,
                "jitter": self.jitter, "l2": self.l2, "blur_every": self.blur_every, "fourier": self.fourier,
                "seed": self.seed}


# The page's generic choice (any model without defaults of its own): jitter and blur for pictures without
# high-frequency noise. Its canvas: 96 px for a model of any size, else the model's own.
PAGE = AscentSettings(steps=150, eta=2.0, init="gray", jitter=2, l2=0.0, blur_every=10, fourier=False)
PAGE_FLEXIBLE_SIZE = 96

# The neuron gallery's generic recipe (a model's own filter defaults, when it has them, replace it): a
# Fourier canvas, short, no jitter, so a block of 8 channels costs seconds. Canvas: the model's own size,
# or 64 px for a model of any size.
GALLERY = AscentSettings(steps=64, eta=1.0, init="gray", jitter=0, l2=0.0, blur_every=0, fourier=True, seed=0)
GALLERY_FLEXIBLE_SIZE = 64

# `python -m core ascent`: its option defaults (--steps 100 --eta 1.0 --size 96 --init gray, nothing else).
CLI = AscentSettings(steps=100, eta=1.0, init="gray", jitter=0, l2=0.0, blur_every=0, fourier=False, size=96)

# Per model, chosen by looking at the results (README, "CNN pages"): ``filters`` on a mid-level layer
# (textures, stripes, dots, eyes), ``class`` for a class whose visualisation a room recognises.
MODELS: dict[str, dict[str, AscentSettings]] = {
    "efficientnet-lite0": {
        "filters": AscentSettings(steps=60, eta=1.0, init="gray", jitter=0, l2=0.0, blur_every=0, fourier=True,
                                  size=96),
        "class": AscentSettings(steps=200, eta=32.0, init="gray", jitter=8, l2=0.002, blur_every=10, fourier=False,
                                size=224),
    },
}


def for_model(name: str, mode: str) -> AscentSettings | None:
    """The model's own ascent settings for ``mode`` ("filters" or "class"), None when it has none."""
    return MODELS.get(name, {}).get(mode)
