"""The 2026-12-04 sweep's link rows (Table 2 D, N40-N48): link values and parameter names quoted in the
sidebar note are inert Markdown (no live link, no image fetched from someone else's server), and a link
full of unknown parameters is rewritten with one message, not one per parameter."""

from __future__ import annotations

import re

import pytest
from streamlit.runtime.state.query_params import QueryParams

from tests.pages.test_urlstate import open_with

INJECTIONS = [
    ("N46-link-in-a-value", {"up_factor": "[Log in again](http://127.0.0.1:8639/x)"}, "[Log in again]("),
    ("N47-image-in-a-value", {"tc_stride": "![](http://127.0.0.1:8639/p.png)"}, "![]("),
    ("N48-link-in-a-name", {"[Update](http://127.0.0.1:8639/y)": "1"}, "[Update]("),
    ("html-in-a-value", {"up_factor": "<img src=http://127.0.0.1:8639/q.png>"}, "<img"),
]


@pytest.mark.parametrize("case, query, raw", INJECTIONS, ids=[c[0] for c in INJECTIONS])
def test_link_text_in_notes_is_shown_as_text(case, query, raw):
    at = open_with(query, "fcn_upsampling.py")
    warnings = [w.value for w in at.sidebar.warning]
    assert len(warnings) == 1, warnings
    unescaped = re.sub(r"\\.", "", warnings[0])  # what Markdown would still read as syntax
    assert raw[0] not in unescaped, warnings
    assert "http" in warnings[0]  # still quoted, escaped (\[, \(, \<): the student sees what the link said


def test_many_unknown_parameters_are_removed_with_one_message(monkeypatch):
    """N40-N43: 500 unknown parameters were 614 messages (each deletion sent the remaining query string)."""
    sent = []
    original = QueryParams._send_query_param_msg
    monkeypatch.setattr(QueryParams, "_send_query_param_msg", lambda self: (sent.append(1), original(self))[1])
    at = open_with({f"junk{i}": "x" * 50 for i in range(500)}, "fcn_upsampling.py")
    assert not any(k.startswith("junk") for k in at.query_params)
    assert len(sent) <= 4, len(sent)  # one rewrite per page run, whatever the number of parameters
    assert any("no control of this page" in w.value for w in at.sidebar.warning)
