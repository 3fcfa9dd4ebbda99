from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


@pytest.fixture
def app():
    """A fresh AppTest session of the whole app (navigation + sidebar + page)."""
    def make(query: dict | None = None) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=180)
        for k, v in (query or {}).items():
            at.query_params[k] = v
        return at
    return make


def page_path(file: str) -> str:
    """AppTest.switch_page wants the page path relative to dashboard/app.py."""
    return f"../pages/{file}"


def open_page(app, file: str):
    """A fresh AppTest switched to ``pages/<file>`` and run, with no exception on the way."""
    at = app()
    at.run()
    at.switch_page(page_path(file))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric(at, prefix: str):
    """The value of the first st.metric whose label starts with ``prefix``."""
    return next(m.value for m in at.metric if m.label.startswith(prefix))


def elements(node):
    """Every element and block under ``node`` (e.g. ``at.main``) in reading order."""
    for child in getattr(node, "children", {}).values():
        yield child
        yield from elements(child)
