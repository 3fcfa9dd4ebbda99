"""Upsampling inside a network, with every number from the slides computed live.

* interpolation (nearest, bilinear, bicubic) with OpenCV and Keras ``UpSampling2D``
* zero insertion followed by a fixed kernel: the 3x3 "tent" [[.25,.5,.25],[.5,1,.5],[.25,.5,.25]]
  gives bilinear interpolation, a 2x2 box gives nearest neighbour, and the separable Keys cubic kernel
  (7 x 7 for a factor of 2) gives bicubic interpolation
* max pooling with switches, and max unpooling into those positions
* convolution as a matrix product and transposed convolution as its transpose (1-D, symbolic and
  numeric), its 2-D equivalence with zero insertion + padding + a flipped kernel, and the
  checkerboard overlap pattern
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.errors import UserError, quote
from core.limits import UPSAMPLING_MAX_KERNEL as MAX_KERNEL
from core.limits import UPSAMPLING_MAX_MAGNITUDE as MAX_MAGNITUDE
from core.limits import UPSAMPLING_MAX_PAGE_VALUES as MAX_PAGE_VALUES  # noqa: F401
from core.limits import UPSAMPLING_MAX_SYMBOL_CHARS as MAX_SYMBOL_CHARS
from core.limits import UPSAMPLING_MAX_VALUES as MAX_VALUES

SLIDE_MATRIX = np.arange(1, 17, dtype=np.float32).reshape(4, 4)
SLIDE_POOL_INPUT = np.array([[1, 2, 6, 3], [3, 5, 2, 1], [1, 2, 2, 1], [7, 3, 4, 8]], np.float32)
TENT_KERNEL = np.array([[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]], np.float32)
BOX_KERNEL = np.ones((2, 2), np.float32)
# Keys' cubic convolution parameter: -0.5 is Keys (1981) and PIL / TensorFlow's "keyscubic"; OpenCV's INTER_CUBIC
# and TensorFlow's legacy align-corners bicubic use -0.75. The slide names no value: -0.5 is the default.
CUBIC_A = {"keys": -0.5, "opencv": -0.75}


class UpsamplingError(UserError):
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


def keys_cubic(t: np.ndarray, a: float = CUBIC_A["keys"]) -> np.ndarray:
    """Keys' cubic convolution kernel at offsets ``t`` (in input samples): 1 at 0, 0 at the other integers,
    zero beyond |t| = 2."""
    t = np.abs(np.asarray(t, dtype=np.float64))
    near = (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1
    far = a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a
    return np.where(t <= 1, near, np.where(t < 2, far, 0.0))


def cubic_taps(stride: int = 2, a: float = CUBIC_A["keys"]) -> np.ndarray:
    """The 1-D kernel that zero insertion by ``stride`` is convolved with: Keys' cubic sampled every 1/stride
    input samples, 4*stride - 1 taps (factor 2, a = -0.5: [-0.0625, 0, 0.5625, 1, 0.5625, 0, -0.0625])."""
    stride = check_factor(stride)
    return keys_cubic(np.arange(-(2 * stride - 1), 2 * stride) / stride, a)


def cubic_kernel(stride: int = 2, a: float = CUBIC_A["keys"]) -> np.ndarray:
    """The separable 2-D cubic kernel: the outer product of :func:`cubic_taps` with itself."""
    taps = cubic_taps(stride, a)
    return np.outer(taps, taps)


def keys_interpolate(x: np.ndarray, factor: int = 2, a: float = CUBIC_A["keys"]) -> np.ndarray:
    """Bicubic (Keys) interpolation on the zero-inserted grid's positions, written directly: output sample j
    sits at input position j / factor, values outside the matrix are 0. An (f*H, f*W) array.

    The independent reference for the zero-insertion identity (a weight matrix per axis, no convolution)."""
    x = check_matrix(x)
    factor = check_factor(factor)

    def weights(n: int) -> np.ndarray:
        return keys_cubic(np.arange(factor * n)[:, None] / factor - np.arange(n)[None, :], a)

    return weights(x.shape[0]) @ x @ weights(x.shape[1]).T


def library_bicubic_align_corners(x: np.ndarray, factor: int = 2) -> np.ndarray:
    """TensorFlow's bicubic resize that keeps the corner samples (``tf.compat.v1.image.resize_bicubic`` with
    ``align_corners=True``): output sample j at input position j / factor, an (f(H-1)+1, f(W-1)+1) array.
    It uses a = -0.75 and replicates the edges instead of padding with zeros."""
    from core.device import import_tensorflow

    tf = import_tensorflow()
    x = check_matrix(x)
    factor = check_factor(factor)
    size = (factor * (x.shape[0] - 1) + 1, factor * (x.shape[1] - 1) + 1)
    out = tf.compat.v1.image.resize_bicubic(x[None, :, :, None].astype(np.float32), size, align_corners=True)
    return np.asarray(out)[0, :, :, 0].astype(np.float64)


def cubic_interior(shape: tuple[int, int], factor: int = 2) -> np.ndarray:
    """Where on the zero-inserted (f*H, f*W) grid the boundary does not matter: positions that are input
    samples, or whose four cubic taps all fall inside the matrix. There, zero padding and edge replication
    give the same value, so the construction must equal any align-corners bicubic with the same a."""
    def axis(n: int) -> np.ndarray:
        t = np.arange(factor * n) / factor
        on_sample = (np.arange(factor * n) % factor == 0)
        inside = (np.floor(t) - 1 >= 0) & (np.floor(t) + 2 <= n - 1)
        return on_sample | inside

    return axis(shape[0])[:, None] & axis(shape[1])[None, :]


def zero_insert_upsample(x: np.ndarray, kernel: str = "tent", stride: int = 2,
                         a: float = CUBIC_A["keys"]) -> tuple[np.ndarray, np.ndarray]:
    """(zero-inserted matrix, result of convolving it with the kernel).

    tent: the zero-inserted grid has size s(n-1)+1 (no trailing zeros) and zero padding; the result
    equals :func:`bilinear_align_corners` exactly (boundary convention: corners kept).
    box: trailing zeros (size s*n) and an s x s box, which equals nearest-neighbour upsampling.
    cubic: the slide's grid, trailing zeros (8 x 8 for the 4 x 4 matrix), convolved ("same", zero padding)
    with :func:`cubic_kernel` (Keys' parameter ``a``); equals :func:`keys_interpolate` everywhere.
    """
    if kernel == "tent":
        if stride != 2:
            raise UpsamplingError("The tent kernel on the slide is for a factor of 2.")
        z = insert_zeros(x, 2)
        return z, convolve_same(z, TENT_KERNEL)
    if kernel == "box":
        z = insert_zeros(x, stride, trailing=True)
        return z, convolve_same(z, np.ones((stride, stride)))
    if kernel == "cubic":
        z = insert_zeros(x, stride, trailing=True)
        return z, convolve_same(z, cubic_kernel(stride, a))
    raise UpsamplingError(f"Unknown kernel '{kernel}'; choose tent, box or cubic.")


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

# The two constructions the page offers. "slide" is the default everywhere (page, CLI, tests).
CONSTRUCTIONS = {
    "slide": "the slide's: true convolution on the zero-padded input, a square matrix (5 x 5 for (0, a, b, c, 0))",
    "valid": "valid cross-correlation of the padded input (= Keras Conv1D padding='same' on the unpadded input)",
}


def _short(text: str, limit: int = 40) -> str:
    return quote(text, limit)


def conv_matrix(kernel: Sequence, n_input: int, stride: int = 1, construction: str = "slide") -> list[list]:
    """Rows of the convolution matrix C for an input of length ``n_input`` (already zero-padded).

    slide: C is n x n, C[i, i + c - t] = kernel[t] with c = len(kernel) // 2 (taps that fall off the
      ends are dropped), i.e. the true convolution (kernel flipped) with the centre tap on the diagonal:
      for (x, y, z) the rows read (... z, y, x ...), as on the slide. Stride s keeps rows 0, s, 2s, …
    valid: the valid cross-correlation, rows (0…0, x, y, z, 0…0) starting at 0, s, 2s, …
    Entries are the kernel's own objects (numbers or symbols), 0 elsewhere.
    """
    k = len(kernel)
    if k < 1:
        raise UpsamplingError("The kernel must have at least one entry.")
    if stride < 1:
        raise UpsamplingError("The stride must be at least 1.")
    if construction == "slide":
        c = k // 2
        rows = []
        for i in range(0, n_input, stride):
            row = [0] * n_input
            for t, w in enumerate(kernel):
                j = i + c - t
                if 0 <= j < n_input:
                    row[j] = w
            rows.append(row)
        return rows
    if construction == "valid":
        if n_input < k:
            raise UpsamplingError(f"A kernel of length {k} is longer than the padded input ({n_input}).")
        return [[0] * start + list(kernel) + [0] * (n_input - k - start) for start in range(0, n_input - k + 1, stride)]
    raise UpsamplingError(f"Unknown construction '{_short(str(construction))}'; choose {' or '.join(CONSTRUCTIONS)}.")


def _symbols(values: Sequence[str], what: str, limit: int):
    import sympy

    values = list(values)
    if len(values) > limit:
        raise UpsamplingError(f"The {what} has {len(values)} entries; at most {limit} are shown here.")
    out = []
    for v in values:
        v = str(v).strip()
        if not v:
            raise UpsamplingError("Empty entry: give a number or a symbol name for every position.")
        try:
            number = float(v)
        except ValueError:
            if not v.isidentifier() or not v.isascii():
                raise UpsamplingError(f"'{_short(v)}' in the {what} is neither a number nor a symbol name.") from None
            if len(v) > MAX_SYMBOL_CHARS:
                raise UpsamplingError(f"Symbol names are at most {MAX_SYMBOL_CHARS} characters; "
                                      f"'{_short(v)}' in the {what} is longer.") from None
            out.append(sympy.Symbol(v))
            continue
        if not np.isfinite(number):
            raise UpsamplingError(f"'{_short(v)}' in the {what} is not a finite number.")
        if abs(number) > MAX_MAGNITUDE:
            raise UpsamplingError(f"'{_short(v)}' in the {what} is too large; use numbers within ±{MAX_MAGNITUDE:g}.")
        out.append(sympy.Integer(int(number)) if number.is_integer() else sympy.Float(number))
    return out


def _plain(entries: list) -> list:
    """sympy entries -> numbers (int or float) when every entry is a number, else strings."""
    import sympy

    entries = [sympy.expand(e) for e in entries]
    if all(e.is_number for e in entries):
        return [int(e) if e.is_Integer or (e.is_Float and float(e).is_integer()) else float(e) for e in entries]
    return [str(e) for e in entries]


def _plain_matrix(m) -> list[list]:
    rows = m.tolist()
    flat = _plain([e for row in rows for e in row])
    width = len(rows[0]) if rows else 0
    return [flat[i * width:(i + 1) * width] for i in range(len(rows))]


def transpose_conv_1d(kernel: Sequence[str], values: Sequence[str], stride: int = 1, construction: str = "slide",
                      max_values: int = MAX_VALUES) -> dict:
    """The slide's example: kernel (x, y, z) on the zero-padded input (0, a, b, c, 0).

    Returns ``matrix`` (C for the padded input), ``product`` (C @ padded input), ``transpose`` (Cᵀ)
    and ``transpose_product`` (Cᵀ @ ``transpose_input``: the transposed convolution). Cᵀ needs a
    vector as long as C has rows: with the slide's construction at stride 1 that is the padded input
    itself (as on the slide); otherwise the input values, cut or zero-extended to that length
    (``transpose_note`` says which) — for the slide's stride 2 exactly (a, b, c).
    Entries are numbers when every entry of that field is a number, else sympy strings ("a*x + b*y").
    """
    import sympy

    if not isinstance(stride, (int, np.integer)) or not 1 <= stride <= 4:
        raise UpsamplingError(f"The stride must be a whole number from 1 to 4; got {_short(str(stride))}.")
    stride = int(stride)
    k = _symbols(kernel, "kernel", MAX_KERNEL)
    v = _symbols(values, "input", max_values)
    if not k:
        raise UpsamplingError("Give at least one kernel entry.")
    if not v:
        raise UpsamplingError("Give at least one input value.")
    padded = [sympy.Integer(0)] + v + [sympy.Integer(0)]
    c = sympy.Matrix(conv_matrix(k, len(padded), stride, construction))
    product = c * sympy.Matrix(padded)
    m = c.shape[0]
    if construction == "slide" and stride == 1:
        vector, note = padded, "Cᵀ multiplies the padded input, as on the slide."
    elif len(v) == m:
        vector, note = v, "Cᵀ multiplies the input values (one per row of C)."
    elif len(v) > m:
        vector, note = v[:m], f"C has {m} rows, so Cᵀ multiplies the first {m} input values."
    else:
        vector = v + [sympy.Integer(0)] * (m - len(v))
        note = f"C has {m} rows, so Cᵀ multiplies the input values followed by {m - len(v)} zero(s)."
    transpose_product = c.T * sympy.Matrix(vector)
    return {
        "construction": construction, "kernel": [str(e) for e in k], "input": [str(e) for e in v],
        "padded_input": _plain(padded), "stride": stride,
        "matrix": _plain_matrix(c), "product": _plain(list(product)),
        "transpose": _plain_matrix(c.T), "transpose_input": _plain(vector),
        "transpose_product": _plain(list(transpose_product)), "transpose_note": note,
        "output_length": m, "transpose_output_length": c.shape[1],
    }


def transpose_conv_numpy(kernel: Sequence[float], vector: Sequence[float], stride: int, output_length: int,
                         construction: str = "slide") -> np.ndarray:
    """Cᵀ @ vector without building C: insert stride-1 zeros between the entries, then slide the kernel.

    slide: (Cᵀv)[j] = Σ_t k[t] u[j + t - c] with u the zero-inserted vector and c = len(k) // 2 (a
    cross-correlation with the kernel, i.e. a convolution with the flipped kernel of the forward pass);
    valid: (Cᵀv)[j] = Σ_t k[t] u[j - t] (the full convolution). An independent route to the same numbers.
    """
    k = np.asarray(kernel, np.float64)
    v = np.asarray(vector, np.float64)
    u = np.zeros(max(output_length, (len(v) - 1) * stride + 1) + 2 * len(k))
    off = len(k)  # u[off + s*i] = v[i]; the margins absorb taps that fall off the ends
    u[off:off + (len(v) - 1) * stride + 1:stride] = v
    out = np.zeros(output_length)
    c = len(k) // 2
    for j in range(output_length):
        if construction == "slide":
            out[j] = sum(k[t] * u[off + j + t - c] for t in range(len(k)))
        else:
            out[j] = sum(k[t] * u[off + j - t] for t in range(len(k)) if j - t >= -off)
    return out


def conv1d_transpose_tf(kernel: np.ndarray, values: np.ndarray, stride: int, output_length: int,
                        construction: str = "valid") -> np.ndarray:
    """TensorFlow's conv1d_transpose of ``values``: the reference for Cᵀ.

    valid: tf.nn.conv1d_transpose (VALID) with the kernel itself, ``output_length`` = the padded length.
    slide: the same with the flipped kernel (the slide's C is a true convolution), computed at full
    length (m-1)s + k and cropped by (k-1)//2 on the left to ``output_length``.
    """
    from core.device import import_tensorflow

    tf = import_tensorflow()
    f = np.asarray(kernel, np.float32)
    x = np.asarray(values, np.float32)[None, :, None]
    if construction == "valid":
        out = tf.nn.conv1d_transpose(x, f[:, None, None], output_shape=[1, output_length, 1], strides=stride,
                                     padding="VALID")
        return np.asarray(out)[0, :, 0]
    full_length = (x.shape[1] - 1) * stride + len(f)
    full = tf.nn.conv1d_transpose(x, f[::-1].copy()[:, None, None], output_shape=[1, full_length, 1],
                                  strides=stride, padding="VALID")
    full = np.concatenate([np.asarray(full)[0, :, 0], np.zeros(output_length + len(f))])
    start = (len(f) - 1) // 2
    return full[start:start + output_length]


# ----------------------------------------------------------------------------- 2-D transposed convolution


def transposed_output_size(i: int, k: int, s: int, p: int = 0, output_padding: int = 0) -> int:
    """o' = s (i' - 1) + k - 2p (+ output padding)."""
    if min(i, k, s) < 1 or p < 0:
        raise UpsamplingError("Input size, kernel and stride must be >= 1, padding >= 0.")
    if not 0 <= output_padding < s:  # Keras and PyTorch refuse it too: op only picks among the sizes stride s maps to one
        raise UpsamplingError(f"The output padding must be at least 0 and smaller than the stride (here op < {s}): "
                              "it only chooses among the output sizes that one stride maps to the same input size.")
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


def transposed_conv_by_zero_insertion(x: np.ndarray, kernel: np.ndarray, stride: int, padding: int = 0,
                                      output_padding: int = 0) -> np.ndarray:
    """The equivalence: insert s-1 zeros, pad k-p-1 on every side (plus the output padding op at the bottom and
    right), stride-1 convolution with the flipped kernel. Output side: s(i'-1) + k - 2p + op."""
    x = check_matrix(x)
    kernel = check_matrix(kernel, "kernel")
    kh, kw = kernel.shape
    z = insert_zeros(x, stride)
    ph, pw = kh - padding - 1, kw - padding - 1
    if ph < 0 or pw < 0:
        raise UpsamplingError("Padding larger than kernel - 1 is not supported here.")
    if output_padding < 0:
        raise UpsamplingError("The output padding must be 0 or more.")
    padded = np.pad(z, ((ph, ph + output_padding), (pw, pw + output_padding)))
    flipped = kernel[::-1, ::-1]
    out_h, out_w = padded.shape[0] - kh + 1, padded.shape[1] - kw + 1
    out = np.zeros((out_h, out_w))
    for i in range(kh):  # cross-correlation with the flipped kernel
        for j in range(kw):
            out += flipped[i, j] * padded[i:i + out_h, j:j + out_w]
    return out


def transposed_conv_2d_padded(x: np.ndarray, kernel: np.ndarray, stride: int, padding: int = 0,
                              output_padding: int = 0) -> np.ndarray:
    """What ``Conv2DTranspose`` / ``ConvTranspose2d`` computes with padding p and output padding op: the full
    transposed convolution (side s(i'-1) + k), p rows and columns cut from each side, op added at the bottom and
    right (outputs no input reaches beyond the full size are 0)."""
    full = transposed_conv_2d(x, kernel, stride)
    n_h, n_w = full.shape
    o_h, o_w = n_h - 2 * padding + output_padding, n_w - 2 * padding + output_padding
    if o_h < 1 or o_w < 1:
        raise UpsamplingError(f"Padding {padding} leaves no output of a {n_h} x {n_w} transposed convolution.")
    grown = np.pad(full, ((0, output_padding), (0, output_padding)))
    return grown[padding:padding + o_h, padding:padding + o_w]


def overlap_map(n: int, k: int, s: int) -> np.ndarray:
    """How many kernel taps land on each output pixel of a transposed convolution of an n x n input:
    uneven counts (k not divisible by s) are the checkerboard."""
    return transposed_conv_2d(np.ones((n, n)), np.ones((k, k)), s)


def resize_then_convolve_map(n: int, k: int, s: int) -> np.ndarray:
    """The alternative (Odena et al.): nearest-neighbour resize by s, then a k x k convolution; uniform inside."""
    up = np.kron(np.ones((n, n)), np.ones((s, s)))
    return convolve_same(up, np.ones((k, k)))
