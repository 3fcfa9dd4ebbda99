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
