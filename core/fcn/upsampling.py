"""Upsampling inside a network, with every number from the slides computed live.

* interpolation (nearest, bilinear, bicubic) with OpenCV and Keras ``UpSampling2D``
* zero insertion followed by a fixed kernel: the 3x3 "tent" [[.25,.5,.25],[.5,1,.5],[.25,.5,.25]]
  gives bilinear interpolation, a 2x2 box gives nearest neighbour
* max pooling with switches, and max unpooling into those positions
* convolution as a matrix product and transposed convolution as its transpose (1-D, symbolic and
  numeric), its 2-D equivalence with zero insertion + padding + a flipped kernel, and the
  checkerboard overlap pattern
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SLIDE_MATRIX = np.arange(1, 17, dtype=np.float32).reshape(4, 4)
SLIDE_POOL_INPUT = np.array([[1, 2, 6, 3], [3, 5, 2, 1], [1, 2, 2, 1], [7, 3, 4, 8]], np.float32)
TENT_KERNEL = np.array([[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]], np.float32)
BOX_KERNEL = np.ones((2, 2), np.float32)


class UpsamplingError(ValueError):
    """Bad input for an upsampling computation; ``str(exc)`` is one sentence for the user."""


def check_matrix(x: np.ndarray, name: str = "matrix") -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or min(x.shape) < 1:
        raise UpsamplingError(f"The {name} must be a non-empty 2-D array; got shape {x.shape}.")
    if not np.all(np.isfinite(x)):
        raise UpsamplingError(f"The {name} contains NaN or infinite entries.")
    return x


def check_factor(factor: int) -> int:
    if not isinstance(factor, (int, np.integer)) or factor < 1 or factor > 16:
        raise UpsamplingError(f"The upsampling factor must be a whole number from 1 to 16; got {factor}.")
    return int(factor)


# ----------------------------------------------------------------------------- interpolation


def interpolate(x: np.ndarray, factor: int, method: str = "bilinear", backend: str = "opencv") -> np.ndarray:
    """Resize an (H, W) or (H, W, C) array by an integer factor.

    backend "opencv": cv2.resize (pixel-centre convention, edges replicated);
    backend "keras": keras.layers.UpSampling2D (the layer a network would use).
    """
    factor = check_factor(factor)
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim not in (2, 3):
        raise UpsamplingError(f"Expected an (H, W) or (H, W, C) array; got shape {arr.shape}.")
    if method not in ("nearest", "bilinear", "bicubic"):
        raise UpsamplingError(f"Unknown method '{method}'; choose nearest, bilinear or bicubic.")
    if backend == "keras":
        from core.device import import_keras

        keras = import_keras()
        batch = arr[None, :, :, None] if arr.ndim == 2 else arr[None]
        out = np.asarray(keras.layers.UpSampling2D(factor, interpolation=method)(batch))[0]
        return out[:, :, 0] if arr.ndim == 2 else out
    import cv2

    flag = {"nearest": cv2.INTER_NEAREST, "bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}[method]
    out = cv2.resize(arr, (arr.shape[1] * factor, arr.shape[0] * factor), interpolation=flag)
    return out.reshape(arr.shape[0] * factor, arr.shape[1] * factor, *arr.shape[2:])


def bilinear_align_corners(x: np.ndarray, factor: int = 2) -> np.ndarray:
    """Bilinear interpolation on the grid that keeps the corner samples: output size f(n-1)+1.

    The independent reference for the zero-insertion identity (plain numpy, separable np.interp).
    """
    x = check_matrix(x)
    h, w = x.shape
    rows = np.linspace(0, h - 1, factor * (h - 1) + 1)
    cols = np.linspace(0, w - 1, factor * (w - 1) + 1)
    tmp = np.stack([np.interp(cols, np.arange(w), r) for r in x])
    return np.stack([np.interp(rows, np.arange(h), c) for c in tmp.T]).T


# ----------------------------------------------------------------------------- zero insertion


def insert_zeros(x: np.ndarray, stride: int = 2, trailing: bool = False) -> np.ndarray:
    """Put stride-1 zeros between neighbouring entries (and after the last one if ``trailing``)."""
    x = check_matrix(x)
    stride = check_factor(stride)
    h, w = x.shape
    size = (h * stride, w * stride) if trailing else ((h - 1) * stride + 1, (w - 1) * stride + 1)
    out = np.zeros(size)
    out[::stride, ::stride] = x
    return out


def convolve_same(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """True 2-D convolution with zero padding, output the size of ``x``.

    An odd kernel is centred (the usual "same"); an even s x s kernel is anchored at its first tap,
    out[i] = sum_u k[u] x[i - u], so a box copies each sample forward (right and down).
    """
    from scipy.signal import convolve2d

    x = check_matrix(x)
    k = check_matrix(kernel, "kernel")
    full = convolve2d(x, k, mode="full")
    top = (k.shape[0] - 1) // 2 if k.shape[0] % 2 else 0
    left = (k.shape[1] - 1) // 2 if k.shape[1] % 2 else 0
    return full[top:top + x.shape[0], left:left + x.shape[1]]


def zero_insert_upsample(x: np.ndarray, kernel: str = "tent", stride: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(zero-inserted matrix, result of convolving it with the kernel).

    tent: the zero-inserted grid has size s(n-1)+1 (no trailing zeros) and zero padding; the result
    equals :func:`bilinear_align_corners` exactly (boundary convention: corners kept).
    box: trailing zeros (size s*n) and an s x s box, which equals nearest-neighbour upsampling.
    """
    if kernel == "tent":
        if stride != 2:
            raise UpsamplingError("The tent kernel on the slide is for a factor of 2.")
        z = insert_zeros(x, 2)
        return z, convolve_same(z, TENT_KERNEL)
    if kernel == "box":
        z = insert_zeros(x, stride, trailing=True)
        return z, convolve_same(z, np.ones((stride, stride)))
    raise UpsamplingError(f"Unknown kernel '{kernel}'; choose tent or box.")


# ----------------------------------------------------------------------------- max unpooling


@dataclass(frozen=True)
class PoolResult:
    pooled: np.ndarray  # (H/2, W/2)
    switches: np.ndarray  # (H/2, W/2) flat index (row * W + col) of each maximum in the input
    input_shape: tuple[int, int]


def max_pool_with_switches(x: np.ndarray, size: int = 2) -> PoolResult:
    """2x2 max pooling that remembers where each maximum was (tf.nn.max_pool_with_argmax)."""
    from core.device import import_tensorflow

    tf = import_tensorflow()
    x = check_matrix(x)
    h, w = x.shape
    if h % size or w % size:
        raise UpsamplingError(f"Max pooling {size}x{size} needs sides divisible by {size}; got {h} x {w}.")
    pooled, argmax = tf.nn.max_pool_with_argmax(x[None, :, :, None].astype(np.float32), size, size, "VALID",
                                                include_batch_in_index=False)
    return PoolResult(np.asarray(pooled)[0, :, :, 0].astype(np.float64), np.asarray(argmax)[0, :, :, 0], (h, w))


def max_unpool(values: np.ndarray, switches: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Put each value at its switch position in a zero matrix of ``shape`` (the inverse of pooling's routing)."""
    values = check_matrix(values, "values to unpool")
    if values.shape != switches.shape:
        raise UpsamplingError(f"Unpooling needs one value per switch: {values.shape} values, {switches.shape} switches.")
    out = np.zeros(shape[0] * shape[1])
    out[switches.reshape(-1)] = values.reshape(-1)
    return out.reshape(shape)


# ----------------------------------------------------------------------------- convolution as a matrix


def conv_matrix(kernel: Sequence, n_input: int, stride: int = 1) -> list[list]:
    """Rows of the matrix C with C @ x = the valid cross-correlation of x with ``kernel`` (stride s).

    Entries are the kernel's own objects (numbers or symbols), zeros elsewhere.
    """
    k = len(kernel)
    if k < 1 or n_input < k:
        raise UpsamplingError(f"The kernel (length {k}) must be non-empty and no longer than the input ({n_input}).")
    if stride < 1:
        raise UpsamplingError("The stride must be at least 1.")
    rows = []
    for start in range(0, n_input - k + 1, stride):
        rows.append([0] * start + list(kernel) + [0] * (n_input - k - start))
    return rows


def _symbols(values: Sequence[str]):
    import sympy

    out = []
    for v in values:
        v = str(v).strip()
        if not v:
            raise UpsamplingError("Empty entry: give a number or a symbol name for every position.")
        try:
            number = float(v)
        except ValueError:
            if not v.isidentifier():
                raise UpsamplingError(f"'{v}' is neither a number nor a symbol name.") from None
            out.append(sympy.Symbol(v))
            continue
        if not np.isfinite(number):
            raise UpsamplingError(f"'{v}' is not a finite number.")
        out.append(sympy.Integer(int(number)) if number.is_integer() else sympy.Float(number))
    return out


def transpose_conv_1d(kernel: Sequence[str], values: Sequence[str], stride: int = 1) -> dict:
    """The slide's example: kernel (x, y, z) on the zero-padded input (0, a, b, c, 0).

    Returns ``matrix`` (the convolution matrix for the padded input), ``product`` (matrix @ padded
    input), ``transpose`` and ``transpose_product`` (transpose @ a vector of the convolution's output
    length, taken from the start of ``values``: the transposed convolution of the slide). Entries are
    sympy expressions, printed as strings (numbers when everything is numeric).
    """
    import sympy

    k = _symbols(kernel)
    v = _symbols(values)
    if len(v) < 1:
        raise UpsamplingError("Give at least one input value.")
    padded = [sympy.Integer(0)] + v + [sympy.Integer(0)]
    if len(k) > len(padded):
        raise UpsamplingError(f"A kernel of length {len(k)} is longer than the padded input ({len(padded)}).")
    c = sympy.Matrix(conv_matrix(k, len(padded), stride))
    product = c * sympy.Matrix(padded)
    vector = sympy.Matrix(v[: c.shape[0]]) if len(v) >= c.shape[0] else sympy.Matrix(v + [0] * (c.shape[0] - len(v)))
    transpose_product = c.T * vector

    def fmt(m):
        return [[str(sympy.expand(e)) for e in row] for row in m.tolist()]

    return {
        "kernel": [str(e) for e in k], "input": [str(e) for e in v], "padded_input": [str(e) for e in padded],
        "stride": stride,
        "matrix": fmt(c), "product": [r[0] for r in fmt(product)],
        "transpose": fmt(c.T), "transpose_input": [str(e) for e in vector],
        "transpose_product": [r[0] for r in fmt(transpose_product)],
        "output_length": c.shape[0], "transpose_output_length": c.shape[1],
    }


def conv1d_transpose_tf(kernel: np.ndarray, values: np.ndarray, stride: int, output_length: int) -> np.ndarray:
    """TensorFlow's conv1d_transpose (VALID) of ``values`` with ``kernel``: the reference for C^T."""
    from core.device import import_tensorflow

    tf = import_tensorflow()
    x = np.asarray(values, np.float32)[None, :, None]
    f = np.asarray(kernel, np.float32)[:, None, None]
    out = tf.nn.conv1d_transpose(x, f, output_shape=[1, output_length, 1], strides=stride, padding="VALID")
    return np.asarray(out)[0, :, 0]


# ----------------------------------------------------------------------------- 2-D transposed convolution


def transposed_output_size(i: int, k: int, s: int, p: int = 0, output_padding: int = 0) -> int:
    """o' = s (i' - 1) + k - 2p (+ output padding)."""
    if min(i, k, s) < 1 or p < 0:
        raise UpsamplingError("Input size, kernel and stride must be >= 1, padding >= 0.")
    o = s * (i - 1) + k - 2 * p + output_padding
    if o < 1:
        raise UpsamplingError(f"These settings give an output of size {o}; reduce the padding.")
    return o


def transposed_conv_2d(x: np.ndarray, kernel: np.ndarray, stride: int) -> np.ndarray:
    """Keras Conv2DTranspose (valid, no bias) of a single-channel (H, W) input."""
    from core.device import import_tensorflow

    tf = import_tensorflow()
    x = check_matrix(x)
    kernel = check_matrix(kernel, "kernel")
    k = kernel.shape[0]
    out_h = transposed_output_size(x.shape[0], k, stride)
    out_w = transposed_output_size(x.shape[1], kernel.shape[1], stride)
    y = tf.nn.conv2d_transpose(x[None, :, :, None].astype(np.float32), kernel[:, :, None, None].astype(np.float32),
                               [1, out_h, out_w, 1], stride, "VALID")
    return np.asarray(y)[0, :, :, 0].astype(np.float64)


def transposed_conv_by_zero_insertion(x: np.ndarray, kernel: np.ndarray, stride: int, padding: int = 0) -> np.ndarray:
    """The equivalence: insert s-1 zeros, pad k-p-1 on every side, stride-1 convolution with the flipped kernel."""
    x = check_matrix(x)
    kernel = check_matrix(kernel, "kernel")
    kh, kw = kernel.shape
    z = insert_zeros(x, stride)
    ph, pw = kh - padding - 1, kw - padding - 1
    if ph < 0 or pw < 0:
        raise UpsamplingError("Padding larger than kernel - 1 is not supported here.")
    padded = np.pad(z, ((ph, ph), (pw, pw)))
    flipped = kernel[::-1, ::-1]
    out_h, out_w = padded.shape[0] - kh + 1, padded.shape[1] - kw + 1
    out = np.zeros((out_h, out_w))
    for i in range(kh):  # cross-correlation with the flipped kernel
        for j in range(kw):
            out += flipped[i, j] * padded[i:i + out_h, j:j + out_w]
    return out


def overlap_map(n: int, k: int, s: int) -> np.ndarray:
    """How many kernel taps land on each output pixel of a transposed convolution of an n x n input:
    uneven counts (k not divisible by s) are the checkerboard."""
    return transposed_conv_2d(np.ones((n, n)), np.ones((k, k)), s)


def resize_then_convolve_map(n: int, k: int, s: int) -> np.ndarray:
    """The alternative (Odena et al.): nearest-neighbour resize by s, then a k x k convolution; uniform inside."""
    up = np.kron(np.ones((n, n)), np.ones((s, s)))
    return convolve_same(up, np.ones((k, k)))
