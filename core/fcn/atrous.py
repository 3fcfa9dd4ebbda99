"""Atrous (dilated) convolution: which inputs a unit sees, exactly.

A k-tap convolution with rate r reads inputs at offsets ``r * (-(k-1)/2 ... (k-1)/2)``: the same k
weights, spread r apart, with r - 1 holes ("trous") between them. Stacking layers adds the spans:
rates 1, 2, 4 with k = 3 see 1 + 2 * (1 + 2 + 4) = 15 consecutive inputs with 3 * 3 weights, where
three ordinary layers see 7. Rates that share a factor (2, 2, 2) leave holes that no stacking fills
("gridding"), which is why DeepLab mixes rates.

Two independent computations, so each checks the other (tests/core/test_atrous.py):

* :func:`path_counts_1d` by index arithmetic: how many paths (products of weights) join each input
  to the output unit, for all-ones kernels: a nonzero count is "seen";
* :func:`gradient_counts_2d` by propagating a one-hot gradient back through a real stack of Keras
  ``Conv2D(dilation_rate=r)`` layers with all-ones kernels (linear, so the gradient *is* the count).

:func:`model_receptive_field` measures a trained FCN the same way: the gradient of one output
pixel's logit with respect to every input pixel, over a batch of scenes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.device import import_keras, import_tensorflow
from core.errors import UserError
from core.limits import ATROUS_MAX_LAYERS as MAX_LAYERS
from core.limits import ATROUS_MAX_RATE as MAX_RATE

DEFAULT_RATES = (1, 2, 4)
KERNEL = 3


class AtrousError(UserError):
    pass


def check_rates(rates, kernel: int = KERNEL) -> tuple[int, ...]:
    """Rates as a tuple of positive ints (at most :data:`MAX_LAYERS` layers of rate <= :data:`MAX_RATE`)."""
    try:
        rates = tuple(rates)
    except TypeError:
        raise AtrousError("Rates must be a list of whole numbers, e.g. 1, 2, 4.") from None
    if not rates or len(rates) > MAX_LAYERS:  # counted before parsing: a long list costs nothing
        raise AtrousError(f"Give between 1 and {MAX_LAYERS} rates (one per stacked layer); got {len(rates)}.")
    try:
        rates = tuple(int(r) for r in rates)
    except (TypeError, ValueError):
        raise AtrousError("Rates must be whole numbers, e.g. 1, 2, 4.") from None
    if any(r < 1 or r > MAX_RATE for r in rates):
        raise AtrousError(f"Each rate must be between 1 and {MAX_RATE}; got {', '.join(map(str, rates))}.")
    if kernel < 1 or kernel % 2 == 0:
        raise AtrousError(f"The kernel size must be odd and positive; got {kernel}.")
    return rates


def field_size(rates, kernel: int = KERNEL) -> int:
    """Span of the receptive field of a stack: 1 + (k - 1) * sum(rates) inputs per axis."""
    return 1 + (kernel - 1) * sum(check_rates(rates, kernel))


def dilated_taps(rate: int, kernel: int = KERNEL) -> np.ndarray:
    """Offsets a k-tap kernel with this rate reads: rate * (-(k-1)/2 ... (k-1)/2)."""
    half = (kernel - 1) // 2
    return rate * np.arange(-half, half + 1)


def path_counts_1d(rates, kernel: int = KERNEL) -> list[np.ndarray]:
    """For each depth d = 1..len(rates): counts[d-1][j] = number of paths from input offset
    ``j - span // 2`` to the unit at offset 0 after the first d layers (all-ones kernels), each array of
    length :func:`field_size` (rates) so the layers line up. Index arithmetic: each layer spreads
    every count to its taps."""
    rates = check_rates(rates, kernel)
    span = field_size(rates, kernel)
    centre = span // 2
    counts = np.zeros(span, np.int64)
    counts[centre] = 1
    out = []
    for rate in rates:
        spread = np.zeros_like(counts)
        for tap in dilated_taps(rate, kernel):
            spread += np.roll(counts, tap)  # the span never wraps: it holds every tap of every layer
        counts = spread
        out.append(counts.copy())
    return out


def path_counts_2d(rates, kernel: int = KERNEL) -> np.ndarray:
    """(span, span) path counts of a stack of square k x k kernels with these rates: the 1-D counts'
    outer product (a square all-ones kernel is separable)."""
    c = path_counts_1d(rates, kernel)[-1]
    return np.outer(c, c)


def gradient_counts_2d(rates, kernel: int = KERNEL, size: int | None = None) -> np.ndarray:
    """The same (span, span) counts measured, not counted: a stack of Keras ``Conv2D`` layers with
    ``dilation_rate`` = each rate and all-ones kernels (no bias, linear) is built, and the gradient of
    its centre output unit with respect to the input (a one-hot gradient pushed back through every
    layer) is cut to the field's span around the centre. Returns int64 counts."""
    rates = check_rates(rates, kernel)
    keras, tf = import_keras(), import_tensorflow()
    span = field_size(rates, kernel)
    size = size or span + 8  # a margin: anything outside the span must come back zero
    inputs = keras.Input((size, size, 1))
    x = inputs
    for i, rate in enumerate(rates):
        x = keras.layers.Conv2D(1, kernel, dilation_rate=rate, padding="same", use_bias=False,
                                kernel_initializer="ones", name=f"atrous_{i}")(x)
    model = keras.Model(inputs, x)
    image = tf.zeros((1, size, size, 1))
    with tf.GradientTape() as tape:
        tape.watch(image)
        out = model(image)
        unit = out[0, size // 2, size // 2, 0]
    grad = np.rint(np.asarray(tape.gradient(unit, image))[0, :, :, 0]).astype(np.int64)
    lo = size // 2 - span // 2
    inside = grad[lo:lo + span, lo:lo + span]
    if grad.sum() != inside.sum():
        raise AssertionError("the gradient reached inputs outside the computed span")  # never: the test pins it
    return inside


def holes(rates, kernel: int = KERNEL) -> int:
    """Inputs inside the span that no path reaches (gridding), per axis."""
    return int((path_counts_1d(rates, kernel)[-1] == 0).sum())


# ----------------------------------------------------------------------------- heads on the feature map


def aspp_taps(rates, stride: int, kernel: int = KERNEL) -> dict[int, np.ndarray]:
    """Input-pixel offsets (per axis) at which each ASPP branch's 3x3 kernel samples a feature map of
    this ``stride``: a rate-r branch on a stride-s map reads every r*s pixels."""
    return {int(r): dilated_taps(r, kernel) * stride for r in check_rates(rates, kernel)}


def pyramid_bin_edges(size: int, bins: int) -> np.ndarray:
    """PSPNet's (adaptive average pooling) bin edges along one axis of length ``size``:
    bin i covers [floor(i * size / bins), ceil((i + 1) * size / bins))."""
    i = np.arange(bins)
    return np.stack([(i * size) // bins, -((-(i + 1) * size) // bins)], axis=1)


# ----------------------------------------------------------------------------- a trained network


@dataclass(frozen=True)
class ModelField:
    """Where one output pixel of a network looks: ``gradient`` (H, W) the mean |d logit / d input|
    over the scenes (summed over RGB), ``seen`` (H, W) bool, nonzero for at least one scene;
    ``extent`` (height, width) of the bounding box of ``seen``; ``centre`` the output pixel."""

    gradient: np.ndarray
    seen: np.ndarray
    extent: tuple[int, int]
    centre: tuple[int, int]

    @property
    def whole_image(self) -> bool:
        return self.extent == self.seen.shape

    def share_beyond(self, radius: int) -> float:
        """Share of the gradient mass on pixels more than ``radius`` rows or columns from the centre."""
        yy, xx = np.indices(self.gradient.shape)
        far = np.maximum(np.abs(yy - self.centre[0]), np.abs(xx - self.centre[1])) > radius
        total = self.gradient.sum()
        return float(self.gradient[far].sum() / total) if total > 0 else 0.0


def model_receptive_field(model, images: np.ndarray, centre: tuple[int, int] | None = None) -> ModelField:
    """The receptive field of output pixel ``centre`` (default: the middle) of an FCN, measured by
    back-propagating its logit (of the class it predicts) to the input, for uint8 (n, H, W, 3) scenes.
    Read-only on the (shared) model."""
    tf = import_tensorflow()
    n, h, w = images.shape[:3]
    cy, cx = centre or (h // 2, w // 2)
    x = tf.constant(images.astype(np.float32) / 255.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = model(x, training=False)
        pixel = logits[:, cy, cx, :]
        chosen = tf.reduce_sum(pixel * tf.one_hot(tf.argmax(pixel, axis=-1), tf.shape(pixel)[-1]), axis=-1)
        total = tf.reduce_sum(chosen)
    grad = np.abs(np.asarray(tape.gradient(total, x))).sum(axis=-1)  # (n, H, W)
    seen = (grad > 0).any(axis=0)
    rows, cols = np.flatnonzero(seen.any(axis=1)), np.flatnonzero(seen.any(axis=0))
    extent = (int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)) if len(rows) else (0, 0)
    return ModelField(grad.mean(axis=0), seen, extent, (int(cy), int(cx)))
