"""The slide computations against hand-derived matrices, and each equivalence numerically."""

from __future__ import annotations

import json

import numpy as np
import pytest

import core  # noqa: F401
from core.fcn import upsampling as U
from tests.core.test_cli import run


def test_zero_insertion_with_the_tent_kernel_is_bilinear():
    zeros, out = U.zero_insert_upsample(U.SLIDE_MATRIX, "tent")
    expected_zeros = np.zeros((7, 7))
    expected_zeros[::2, ::2] = U.SLIDE_MATRIX
    assert np.array_equal(zeros, expected_zeros)
    # hand-derived first row: 1, 1.5, 2, 2.5, 3, 3.5, 4 ; second row: the mean of rows 1 and 2 of the slide
    assert out[0].tolist() == [1, 1.5, 2, 2.5, 3, 3.5, 4]
    assert out[1].tolist() == [3, 3.5, 4, 4.5, 5, 5.5, 6]
    assert np.allclose(out, U.bilinear_align_corners(U.SLIDE_MATRIX))


def test_box_kernel_is_nearest_neighbour():
    _, out = U.zero_insert_upsample(U.SLIDE_MATRIX, "box")
    assert np.array_equal(out, np.kron(U.SLIDE_MATRIX, np.ones((2, 2))))
    assert np.array_equal(out, U.interpolate(U.SLIDE_MATRIX, 2, "nearest"))
    assert np.array_equal(out, U.interpolate(U.SLIDE_MATRIX, 2, "nearest", backend="keras"))


def test_opencv_and_keras_bilinear_agree():
    assert np.allclose(U.interpolate(U.SLIDE_MATRIX, 2, "bilinear"), U.interpolate(U.SLIDE_MATRIX, 2, "bilinear", "keras"))


def test_max_pool_switches_and_unpool():
    pool = U.max_pool_with_switches(U.SLIDE_POOL_INPUT)
    assert pool.pooled.tolist() == [[5, 6], [7, 8]]
    assert pool.switches.tolist() == [[5, 2], [12, 15]]  # row * 4 + col of each maximum
    un = U.max_unpool(pool.pooled, pool.switches, pool.input_shape)
    kept = U.SLIDE_POOL_INPUT * (un != 0)
    assert np.array_equal(un, kept)  # unpool(pool(x)) keeps the maxima in place, zeros elsewhere
    assert un.sum() == 26


# The slide ("What about transpose convolution?" and "Transpose Convolution: Strides"), copied from
# lecture-notes.md: the matrices as printed, the products as printed (ax = a*x, ...).
SLIDE_C = [["y", "x", 0, 0, 0], ["z", "y", "x", 0, 0], [0, "z", "y", "x", 0], [0, 0, "z", "y", "x"], [0, 0, 0, "z", "y"]]
SLIDE_C_PRODUCT = ["ax", "ay+bx", "az+by+cx", "bz+cy", "cz"]
SLIDE_CT = [["y", "z", 0, 0, 0], ["x", "y", "z", 0, 0], [0, "x", "y", "z", 0], [0, 0, "x", "y", "z"], [0, 0, 0, "x", "y"]]
SLIDE_CT_PRODUCT = ["az", "ay+bz", "ax+by+cz", "bx+cy", "cx"]  # times (0, a, b, c, 0)
SLIDE_C2 = [["y", "x", 0, 0, 0], [0, "z", "y", "x", 0], [0, 0, 0, "z", "y"]]
SLIDE_C2_PRODUCT = ["ax", "az+by+cx", "cz"]
SLIDE_C2T = [["y", 0, 0], ["x", "z", 0], [0, "y", 0], [0, "x", "z"], [0, 0, "y"]]
SLIDE_C2T_PRODUCT = ["ay", "ax+bz", "by", "bx+cz", "cy"]  # times (a, b, c)


def slide_expr(text):
    """'az+by+cx' -> a sympy expression (every product on the slide is a sum of letter pairs)."""
    import sympy

    return sum((sympy.Symbol(t[0]) * sympy.Symbol(t[1]) for t in str(text).split("+")), sympy.Integer(0)) \
        if isinstance(text, str) else sympy.Integer(text)


def as_sympy(entries):
    import sympy

    return [sympy.sympify(e) for e in entries]


@pytest.mark.parametrize("stride, c, c_product, ct, ct_input, ct_product", [
    (1, SLIDE_C, SLIDE_C_PRODUCT, SLIDE_CT, ["0", "a", "b", "c", "0"], SLIDE_CT_PRODUCT),
    (2, SLIDE_C2, SLIDE_C2_PRODUCT, SLIDE_C2T, ["a", "b", "c"], SLIDE_C2T_PRODUCT),
])
def test_slide_matrices_and_products_symbolic(stride, c, c_product, ct, ct_input, ct_product):
    r = U.transpose_conv_1d(["x", "y", "z"], ["a", "b", "c"], stride)
    assert r["matrix"] == [[str(e) for e in row] for row in c]
    assert r["transpose"] == [[str(e) for e in row] for row in ct]
    assert r["padded_input"] == ["0", "a", "b", "c", "0"] and r["transpose_input"] == ct_input
    assert as_sympy(r["product"]) == [slide_expr(e) for e in c_product]
    assert as_sympy(r["transpose_product"]) == [slide_expr(e) for e in ct_product]
    assert (r["output_length"], r["transpose_output_length"]) == (len(c), 5)


@pytest.mark.parametrize("stride, c, c_product, ct, ct_input, ct_product", [
    (1, SLIDE_C, SLIDE_C_PRODUCT, SLIDE_CT, ["0", "a", "b", "c", "0"], SLIDE_CT_PRODUCT),
    (2, SLIDE_C2, SLIDE_C2_PRODUCT, SLIDE_C2T, ["a", "b", "c"], SLIDE_C2T_PRODUCT),
])
def test_slide_matrices_and_products_numeric(stride, c, c_product, ct, ct_input, ct_product):
    """The same slide with numbers: x, y, z = 2, -3, 7 and a, b, c = 5, 11, -13; numbers come back as numbers."""
    import sympy

    env = dict(x=2, y=-3, z=7, a=5, b=11, c=-13)
    subs = {sympy.Symbol(k): v for k, v in env.items()}
    r = U.transpose_conv_1d(["2", "-3", "7"], ["5", "11", "-13"], stride)
    assert r["matrix"] == [[env.get(e, e) for e in row] for row in c]
    assert r["transpose"] == [[env.get(e, e) for e in row] for row in ct]
    assert r["product"] == [int(slide_expr(e).subs(subs)) for e in c_product]
    assert r["transpose_product"] == [int(slide_expr(e).subs(subs)) for e in ct_product]
    assert r["transpose_input"] == [0 if e == "0" else env[e] for e in ct_input]
    assert all(type(v) is int for v in r["product"] + r["transpose_product"] + r["matrix"][0])
    # and as matrices: C^T really is the transpose of C, and both products are matrix products
    m, mt = np.array(r["matrix"]), np.array(r["transpose"])
    assert np.array_equal(mt, m.T)
    assert np.array_equal(m @ np.array(r["padded_input"]), r["product"])
    assert np.array_equal(mt @ np.array(r["transpose_input"]), r["transpose_product"])


def test_fractional_numbers_stay_numbers_and_mixed_fields_are_strings():
    r = U.transpose_conv_1d(["0.5", "1", "0.25"], ["a", "2", "3"], 2)
    assert r["matrix"][0] == [1, 0.5, 0, 0, 0] and isinstance(r["matrix"][0][1], float)
    assert all(isinstance(e, str) for e in r["product"]) and r["product"][0] == "0.5*a"


def test_valid_construction_is_the_labelled_alternative():
    r = U.transpose_conv_1d(["x", "y", "z"], ["a", "b", "c"], 1, "valid")
    assert r["matrix"] == [["x", "y", "z", "0", "0"], ["0", "x", "y", "z", "0"], ["0", "0", "x", "y", "z"]]
    assert as_sympy(r["product"]) == as_sympy(["a*y + b*z", "a*x + b*y + c*z", "b*x + c*y"])
    assert as_sympy(r["transpose_product"]) == as_sympy(["a*x", "a*y + b*x", "a*z + b*y + c*x", "b*z + c*y", "c*z"])
    s = U.transpose_conv_1d(["x", "y", "z"], ["a", "b", "c"], 2, "valid")
    assert s["matrix"] == [["x", "y", "z", "0", "0"], ["0", "0", "x", "y", "z"]]
    assert s["transpose_input"] == ["a", "b"] and "first 2" in s["transpose_note"]  # said, not silent


@pytest.mark.parametrize("construction", ["slide", "valid"])
@pytest.mark.parametrize("k, n, stride", [(3, 3, 1), (3, 3, 2), (1, 4, 2), (2, 5, 1), (4, 3, 2), (5, 6, 2), (3, 7, 3)])
def test_transpose_equals_zero_insertion_and_tensorflow(construction, k, n, stride):
    """C^T v by the matrix, by zero insertion + sliding the kernel, and by tf.nn.conv1d_transpose."""
    if construction == "valid" and k > n + 2:
        pytest.skip("no valid correlation")
    rng = np.random.default_rng(k * 100 + n * 10 + stride)
    kernel = rng.integers(-5, 6, k)
    values = rng.integers(-5, 6, n)
    r = U.transpose_conv_1d([str(v) for v in kernel], [str(v) for v in values], stride, construction)
    c = np.array(r["matrix"], dtype=float)
    v = np.array(r["transpose_input"], dtype=float)
    assert np.allclose(c.T @ v, r["transpose_product"])
    assert np.allclose(U.transpose_conv_numpy(kernel, v, stride, n + 2, construction), r["transpose_product"])
    assert np.allclose(U.conv1d_transpose_tf(kernel, v, stride, n + 2, construction), r["transpose_product"], atol=1e-4)
    # the forward product is the convolution itself: numpy's full convolution (slide) / correlation (valid)
    padded = np.concatenate([[0], values, [0]]).astype(float)
    if construction == "slide":
        full = np.convolve(padded, kernel.astype(float), "full")
        expected = full[k // 2: k // 2 + n + 2][::stride]
    else:
        expected = np.correlate(padded, kernel.astype(float), "valid")[::stride]
    assert np.allclose(r["product"], expected)


@pytest.mark.parametrize("k, s", [(3, 2), (4, 2), (2, 2), (3, 1), (5, 3)])
def test_2d_transposed_conv_equals_zero_insertion_pad_and_flip(k, s):
    rng = np.random.default_rng(k * 10 + s)
    x = rng.normal(size=(4, 5))
    kernel = rng.normal(size=(k, k))
    direct = U.transposed_conv_2d(x, kernel, s)
    assert direct.shape == (U.transposed_output_size(4, k, s), U.transposed_output_size(5, k, s))
    assert np.allclose(direct, U.transposed_conv_by_zero_insertion(x, kernel, s), atol=1e-5)


def test_checkerboard():
    uneven = U.overlap_map(4, 3, 2)
    even = U.overlap_map(4, 4, 2)
    assert len(np.unique(uneven[2:-2, 2:-2])) > 1  # k=3, s=2: interior counts alternate
    assert len(np.unique(even[2:-2, 2:-2])) == 1  # k=4, s=2: uniform interior
    assert U.transposed_output_size(4, 3, 2, 1, 1) == 8


@pytest.mark.parametrize("call, message", [
    (lambda: U.interpolate(U.SLIDE_MATRIX, 0), "factor"),
    (lambda: U.interpolate(U.SLIDE_MATRIX, 100), "factor"),
    (lambda: U.insert_zeros(np.array([[1, np.nan]])), "NaN"),
    (lambda: U.transpose_conv_1d(["x", "nan", "z"], ["a"], 1), "finite"),
    (lambda: U.transpose_conv_1d(["x", "", "z"], ["a"], 1), "Empty entry"),
    (lambda: U.transpose_conv_1d(["x", "y", "z", "w", "v", "u"], ["a"], 1, "valid"), "longer"),
    (lambda: U.transpose_conv_1d(["x"] * 10, ["a"], 1), "at most 9"),
    (lambda: U.transpose_conv_1d(["x"], [str(i) for i in range(65)], 1), "at most 64"),
    (lambda: U.transpose_conv_1d(["x"], ["1e300"], 1), "too large"),
    (lambda: U.transpose_conv_1d(["x"], ["a" * 10_000], 1), "at most 12 characters"),
    (lambda: U.transpose_conv_1d(["x"], ["a"], 1, "same-ish"), "Unknown construction"),
    (lambda: U.transpose_conv_1d(["x"], ["a"], 0), "stride"),
    (lambda: U.max_pool_with_switches(np.ones((3, 4))), "divisible"),
    (lambda: U.transposed_output_size(2, 1, 1, 3), "reduce the padding"),
])
def test_bad_inputs_are_sentences(call, message):
    with pytest.raises(U.UpsamplingError, match=message):
        call()


def test_cli_upsample_and_transpose_conv():
    out = json.loads(run("upsample", "--method", "zeros-kernel", "--json").stdout)
    assert out["equals_bilinear"] is True and len(out["output"]) == 7
    pool = json.loads(run("upsample", "--method", "unpool", "--json").stdout)
    assert pool["pooled"] == [[5, 6], [7, 8]]
    tc = json.loads(run("transpose-conv", "--kernel", "x,y,z", "--input", "a,b,c", "--stride", "2", "--json").stdout)
    assert set(tc) >= {"matrix", "product", "transpose", "transpose_product"}
    assert tc["matrix"] == [["y", "x", "0", "0", "0"], ["0", "z", "y", "x", "0"], ["0", "0", "0", "z", "y"]]
    assert tc["transpose_product"] == ["a*y", "a*x + b*z", "b*y", "b*x + c*z", "c*y"]  # the slide's Cᵀ·(a, b, c)
    num = json.loads(run("transpose-conv", "--kernel", "1,2,3", "--input", "2,3,5", "--json").stdout)
    assert num["product"] == [2, 7, 17, 19, 15]  # ax, ay+bx, … with x, y, z = 1, 2, 3 and a, b, c = 2, 3, 5
    assert num["transpose_product"] == [6, 13, 23, 13, 5]
    bad = run("transpose-conv", "--kernel", "x,nan,z", "--json", check=False)
    assert bad.returncode == 2 and "finite" in bad.stderr


def test_the_2d_equivalence_holds_with_padding_and_output_padding():
    """#23: the page's §5 used p = 0 whatever p and op were typed. Both sides now take them, and both match
    TensorFlow's transposed convolution with explicit padding and the output size s(i'-1) + k - 2p + op."""
    import tensorflow as tf

    from core.fcn import upsampling as U

    rng = np.random.default_rng(1)
    checked = 0
    for s in (1, 2, 3):
        for k in (2, 3, 4):
            for p in range(k):
                for op in range(s):  # output padding below the stride, as the frameworks require
                    x, w = rng.normal(size=(4, 4)), rng.normal(size=(k, k))
                    o = s * 3 + k - 2 * p + op
                    ref = tf.nn.conv2d_transpose(x[None, :, :, None], w[:, :, None, None], output_shape=[1, o, o, 1],
                                                 strides=s, padding=[[0, 0], [p, p], [p, p], [0, 0]]).numpy()[0, :, :, 0]
                    direct = U.transposed_conv_2d_padded(x, w, s, p, op)
                    by_zeros = U.transposed_conv_by_zero_insertion(x, w, s, p, op)
                    assert direct.shape == by_zeros.shape == ref.shape == (o, o)
                    assert np.allclose(direct, ref, atol=1e-5) and np.allclose(by_zeros, ref, atol=1e-5), (s, k, p, op)
                    checked += 1
    assert checked > 30


def test_output_padding_must_be_below_the_stride():
    """Hostile sweep O27: stride 1 with output padding 3 was accepted without a word; the frameworks refuse it."""
    from core.fcn import upsampling as U

    assert U.transposed_output_size(4, 3, 2, 0, 1) == 10
    for s, op in ((1, 1), (1, 3), (2, 2), (2, -1)):
        with pytest.raises(U.UpsamplingError, match="smaller than the stride"):
            U.transposed_output_size(4, 3, s, 0, op)


@pytest.mark.parametrize("a", [U.CUBIC_A["keys"], U.CUBIC_A["opencv"]])
def test_zero_insertion_with_the_cubic_kernel_is_bicubic_on_the_slides_8x8_grid(a):
    zeros, out = U.zero_insert_upsample(U.SLIDE_MATRIX, "cubic", a=a)
    assert zeros.shape == out.shape == (8, 8)  # the slide's grid: trailing zeros
    assert np.array_equal(out[::2, ::2], U.SLIDE_MATRIX)  # the samples stay (the kernel is 1 at 0, 0 at ±2)
    assert np.allclose(out, U.keys_interpolate(U.SLIDE_MATRIX, 2, a))  # Keys written directly, no convolution
    taps = U.cubic_taps(2, a)  # hand-derived: k(0.5) = (a+2)/8 - (a+3)/4 + 1, k(1.5) = 27a/8 - 45a/4 + 12a - 4a = a/8
    assert np.allclose(taps, [a / 8, 0, 1 - (a + 3) / 4 + (a + 2) / 8, 1, 1 - (a + 3) / 4 + (a + 2) / 8, 0, a / 8])
    assert np.allclose(U.cubic_kernel(2, a).sum(), 4.0)  # a partition of unity per axis, times the factor²


def test_zero_insertion_with_the_cubic_kernel_equals_the_library_bicubic_away_from_the_border():
    """TensorFlow's align-corners bicubic (a = -0.75, edges replicated) on a random 6 x 6 matrix: the
    construction agrees on every sample and every position whose four taps lie inside, and only there."""
    x = np.random.default_rng(3).normal(size=(6, 6))
    _, ours = U.zero_insert_upsample(x, "cubic", a=U.CUBIC_A["opencv"])
    library = U.library_bicubic_align_corners(x, 2)  # 11 x 11: positions 0 … 5 in steps of 1/2
    interior = U.cubic_interior(x.shape, 2)[:11, :11]
    assert interior.sum() > 40 and not interior.all()
    assert np.allclose(ours[:11, :11][interior], library[interior], atol=1e-5)
    assert not np.allclose(ours[:11, :11][~interior], library[~interior], atol=1e-3)  # the border: zeros vs replicated
    _, keys = U.zero_insert_upsample(x, "cubic", a=U.CUBIC_A["keys"])
    assert not np.allclose(keys[:11, :11][interior], library[interior], atol=1e-3)  # another a, another interpolation
