"""Hostile sweep O24: a NaN (or an infinity) sent over Streamlit's websocket protocol for an INTEGER
``st.number_input`` (the "First filter" of Filters & class neurons) crashed the page inside Streamlit's
own deserializer (``int(nan)``), before any page code could check it."""

import math

import pytest
from streamlit.elements.widgets.number_input import NumberInputSerde
from streamlit.proto.NumberInput_pb2 import NumberInput as NumberInputProto

from serving.patches import patch_streamlit
from tests.pages.conftest import app  # noqa: F401  (the fixture)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_value_for_an_integer_input_keeps_the_default(value):
    patch_streamlit()  # what app.py does on every run
    serde = NumberInputSerde(value=5, data_type=NumberInputProto.INT, min_value=0, max_value=63)
    assert serde.deserialize(value) == 5
    assert serde.deserialize(7.0) == 7  # finite values pass unchanged
    floats = NumberInputSerde(value=0.5, data_type=NumberInputProto.FLOAT, min_value=0.0, max_value=1.0)
    assert floats.deserialize(value) == 0.5 and floats.deserialize(0.25) == 0.25


def test_a_nan_first_filter_through_the_page_keeps_the_default(app):  # noqa: F811
    """O24 the way the sweep sent it: the form's integer "First filter" holding NaN (WidgetState.double_value)
    and the form submitted, through app.py (which patches Streamlit) and the Filters & class neurons page."""
    from tests.pages.conftest import open_page

    at = open_page(app, "cnn_ascent.py")
    at.selectbox(key="asc_model").set_value("emotion-cnn").run()
    assert not at.exception, [e.value for e in at.exception]
    at.slider(key="asc_f_steps").set_value(5)
    at.number_input(key="asc_first").set_value(math.nan)
    next(b for b in at.button if b.label == "Run gradient ascent").click().run()
    assert not at.exception, [e.value for e in at.exception]  # was: ValueError: cannot convert float NaN to integer
    assert at.number_input(key="asc_first").value == 0
    captions = [c for img in at.get("image") for c in img.captions]
    assert "filter 0" in captions, captions
