"""Hostile sweep O24: a NaN (or an infinity) sent over Streamlit's websocket protocol for an INTEGER
``st.number_input`` (the "First filter" of Filters & class neurons) crashed the page inside Streamlit's
own deserializer (``int(nan)``), before any page code could check it."""

import math

import pytest
from streamlit.elements.widgets.number_input import NumberInputSerde
from streamlit.proto.NumberInput_pb2 import NumberInput as NumberInputProto

from serving.patches import patch_streamlit


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_value_for_an_integer_input_keeps_the_default(value):
    patch_streamlit()  # what app.py does on every run
    serde = NumberInputSerde(value=5, data_type=NumberInputProto.INT, min_value=0, max_value=63)
    assert serde.deserialize(value) == 5
    assert serde.deserialize(7.0) == 7  # finite values pass unchanged
    floats = NumberInputSerde(value=0.5, data_type=NumberInputProto.FLOAT, min_value=0.0, max_value=1.0)
    assert floats.deserialize(value) == 0.5 and floats.deserialize(0.25) == 0.25
