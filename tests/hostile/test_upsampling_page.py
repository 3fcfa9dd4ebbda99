"""Hostile inputs on the upsampling page's transposed-convolution section (issue #16), table-driven.

Each case sets the section's widgets and states the expected outcome: the section draws (no
exception, the numeric check agrees) or refuses with one sentence (an st.error containing the
given words). Before the fix, any kernel/input lengths other than 3/3 and long inputs crashed it.
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.pages.conftest import APP, page_path

CASES = [
    # (id, kernel, input, stride, construction, expected: "ok" or words of the one-sentence error)
    ("slide default", "x, y, z", "a, b, c", 2, "slide", "ok"),
    ("kernel 2, input 3", "x, y", "a, b, c", 1, "slide", "ok"),
    ("kernel 5, input 2", "1, 2, 3, 4, 5", "7, 8", 2, "slide", "ok"),
    ("kernel 1, input 1", "4", "a", 2, "slide", "ok"),
    ("kernel 3, input 7 numbers", "1, -2, 0.5", "1, 2, 3, 4, 5, 6, 7", 2, "slide", "ok"),
    ("input 12 symbols (the page cap)", "x, y, z", " ".join(f"s{i}" for i in range(12)), 2, "slide", "ok"),
    ("valid, kernel 4 input 4", "1, 2, 3, 4", "a, b, c, d", 2, "valid", "ok"),
    ("valid, kernel longer than padded input", "1, 2, 3, 4, 5", "a, b", 1, "valid", "longer than the padded input"),
    ("1,000 numbers", "x, y, z", ", ".join(str(i) for i in range(1000)), 1, "slide", "at most 12"),
    ("200 symbols", "x, y, z", " ".join(f"v{i}" for i in range(200)), 2, "slide", "at most 12"),
    ("kernel of 50 taps", ", ".join(["1"] * 50), "a, b, c", 1, "slide", "at most 9"),
    ("empty kernel", "", "a, b, c", 1, "slide", "at least one kernel entry"),
    ("empty input", "x, y, z", "   ", 1, "slide", "at least one input value"),
    ("NaN", "x, nan, z", "a, b, c", 1, "slide", "not a finite number"),
    ("infinity", "x, y, z", "1, inf, 2", 1, "slide", "not a finite number"),
    ("huge number", "1e300, 1, 1", "1e300, 2, 3", 1, "slide", "too large"),
    ("not a symbol", "x, y, z", "a, b+c, d", 1, "slide", "neither a number nor a symbol"),
    ("10 kB symbol", "x, y, z", "a" * 10_000, 1, "slide", "at most 12 characters"),
    ("unicode symbol", "x, y, z", "a, β, c", 1, "slide", "neither a number nor a symbol"),
]


@pytest.fixture(scope="module")
def page():
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page(page_path("fcn_upsampling.py"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("kernel, values, stride, construction, expected", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_transposed_convolution_section(page, kernel, values, stride, construction, expected):
    at = page
    at.radio(key="tc_construction").set_value(construction)
    at.radio(key="tc_stride").set_value(stride)
    at.text_input(key="tc_kernel").set_value(kernel)
    at.text_input(key="tc_input").set_value(values)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    captions = " ".join(c.value for c in at.caption)
    if expected == "ok":
        assert not errors, errors
        assert "Numeric check" in captions and "— equal." in captions, captions
    else:
        assert len(errors) == 1 and expected in errors[0], errors
        assert len(errors[0]) < 200  # one sentence, user content cut short
    # the 2-D section below still renders whatever happened above
    assert any("Conv2DTranspose" in m.value for m in at.markdown)


@pytest.mark.parametrize("stride, op, refused", [(1, 3, True), (1, 1, True), (2, 2, True), (2, 1, False), (4, 3, False)])
def test_output_padding_at_or_above_the_stride_is_a_sentence(page, stride, op, refused):
    """Hostile sweep O27: stride 1 with output padding 3 in the 2-D section drew a result without a word
    (Keras and PyTorch refuse output padding >= stride)."""
    page.number_input(key="t2_s").set_value(stride)
    page.number_input(key="t2_op").set_value(op)
    page.run()
    assert not page.exception, [e.value for e in page.exception]
    said = [e.value for e in page.error if "output padding" in e.value]
    assert bool(said) == refused, said
    if refused:
        assert "smaller than the stride" in said[0] and "\n" not in said[0]
