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


def test_conv_matrix_and_transpose_symbolic():
    r = U.transpose_conv_1d(["x", "y", "z"], ["a", "b", "c"], 1)
    assert r["matrix"] == [["x", "y", "z", "0", "0"], ["0", "x", "y", "z", "0"], ["0", "0", "x", "y", "z"]]
    assert r["product"] == ["a*y + b*z", "a*x + b*y + c*z", "b*x + c*y"]
    assert r["transpose_product"] == ["a*x", "a*y + b*x", "a*z + b*y + c*x", "b*z + c*y", "c*z"]
    s = U.transpose_conv_1d(["x", "y", "z"], ["a", "b", "c"], 2)
    assert s["matrix"] == [["x", "y", "z", "0", "0"], ["0", "0", "x", "y", "z"]]
    assert s["transpose_product"] == ["a*x", "a*y", "a*z + b*x", "b*y", "b*z"]


@pytest.mark.parametrize("stride", [1, 2])
def test_matrix_transpose_equals_conv1d_transpose(stride):
    rng = np.random.default_rng(stride)
    kernel = rng.normal(size=3)
    values = rng.normal(size=3)
    c = np.array(U.conv_matrix(list(kernel), 5, stride), dtype=float)
    v = values[: c.shape[0]]
    assert np.allclose(c.T @ v, U.conv1d_transpose_tf(kernel, v, stride, 5), atol=1e-6)


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
    (lambda: U.transpose_conv_1d(["x", "y", "z", "w", "v", "u"], ["a"], 1), "longer"),
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
    assert tc["transpose_product"] == ["a*x", "a*y", "a*z + b*x", "b*y", "b*z"]
    bad = run("transpose-conv", "--kernel", "x,nan,z", "--json", check=False)
    assert bad.returncode == 2 and "finite" in bad.stderr
