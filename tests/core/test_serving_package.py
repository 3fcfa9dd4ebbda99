"""serving/: the Streamlit patches (one module, version-checked), the one health poll, the one HAProxy config.
Unit tests: no server process (a stub HTTP server on loopback for the health poll)."""

from __future__ import annotations

import http.server
import logging
import re
import sys
import threading
import types
from pathlib import Path

import pytest

from serving import haproxy, health, patches

ROOT = Path(__file__).resolve().parents[2]


# ----------------------------------------------------------------------------- patches


@pytest.mark.parametrize(("version", "ok"), [("1.67.0", True), ("1.67.3", True), ("1.67.1rc1", True),
                                             ("1.66.2", False), ("1.68.0", False), ("2.0.0", False), ("dev", False)])
def test_the_version_range(version, ok):
    assert patches.version_supported(version) is ok


def test_the_pinned_streamlit_is_the_one_the_patches_were_written_for():
    """Bumping the pin in requirements.txt fails here until serving/patches.py is checked and WRITTEN_FOR moved."""
    pin = re.search(r"^streamlit==(\S+)", (ROOT / "requirements.txt").read_text(), re.M)[1]
    assert patches.version_supported(pin), (pin, patches.range_text())
    assert patches.check_version() is True  # the installed one too


def test_another_version_is_one_warning_never_an_exception(caplog, monkeypatch):
    monkeypatch.setattr(patches, "_WARNED", [])
    with caplog.at_level(logging.WARNING, logger="dashboard.patches"):
        assert patches.check_version("1.99.0") is False
        assert patches.check_version("1.99.0") is False
    warnings = [r.getMessage() for r in caplog.records if r.name == "dashboard.patches"]
    assert len(warnings) == 1 and "1.99.0" in warnings[0] and ">= 1.67, < 1.68" in warnings[0]


def test_another_version_makes_followers_poll_instead_of_waking(monkeypatch):
    import streamlit

    monkeypatch.setattr(patches, "_WARNED", [])
    assert patches.can_rerun_sessions() is True
    monkeypatch.setattr(streamlit, "__version__", "1.99.0")
    assert patches.can_rerun_sessions() is False


def test_no_keras_session_clearing_after_a_rerun(monkeypatch):
    from streamlit.runtime.scriptrunner import script_runner

    cleared = []
    fake = types.SimpleNamespace(backend=types.SimpleNamespace(clear_session=lambda: cleared.append(1)))
    monkeypatch.setitem(sys.modules, "keras", fake)
    patches.patch_streamlit()
    script_runner._clean_problem_modules()  # what Streamlit calls after every run
    assert cleared == []


def test_a_clients_clear_cache_clears_its_own_session_only(monkeypatch):
    import streamlit as st
    from streamlit.runtime.app_session import AppSession

    monkeypatch.delenv("DASHBOARD_ALLOW_CLEAR_CACHE", raising=False)
    calls = []

    @st.cache_data
    def cached(x):
        calls.append(x)
        return x

    cached(1)
    patches.patch_streamlit()
    state = {"mine": 1}
    AppSession._handle_clear_cache_request(types.SimpleNamespace(_session_state=state))
    assert state == {}
    cached(1)
    assert calls == [1], "the shared cache was cleared"


def test_wrap_element_wraps_once_and_rebinds_the_module_function(monkeypatch):
    import streamlit as st
    from streamlit.delta_generator import DeltaGenerator

    monkeypatch.setattr(DeltaGenerator, "caption", DeltaGenerator.caption)  # restored after the test
    monkeypatch.setattr(st, "caption", st.caption)
    original = DeltaGenerator.caption

    def make(fn):
        def caption(self, *args, **kwargs):
            return fn(self, *args, **kwargs)

        caption._test_marker = True
        return caption

    assert patches.wrap_element("caption", make, "_test_marker")
    wrapped = DeltaGenerator.caption
    assert wrapped is not original and wrapped._test_marker
    assert st.caption.__func__ is wrapped
    assert patches.wrap_element("caption", make, "_test_marker") and DeltaGenerator.caption is wrapped  # once
    assert patches.wrap_element("no_such_element", make, "_test_marker") is False


def test_outside_a_session():
    assert patches.current_session_id() == "no-session"
    assert patches.session_is_active("abc") is None  # no runtime here
    assert patches.serving_sessions() is False
    assert patches.rerun_session("abc") is False
    assert patches.media_url(b"\x89PNG", "image/png", "x") is None  # no server to serve it: the caller inlines it


def test_a_picture_without_a_server_goes_inline_as_a_data_uri():
    import base64

    from dashboard import components

    url = components.media_url(b"\xff\xd8jpeg bytes", "image/jpeg", "gallery")
    assert url == "data:image/jpeg;base64," + base64.b64encode(b"\xff\xd8jpeg bytes").decode()


# ----------------------------------------------------------------------------- health


class _Health(http.server.BaseHTTPRequestHandler):
    status = 503

    def do_GET(self):  # noqa: N802
        self.send_response(self.status if self.path == health.PATH else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def stub():
    handler = type("Handler", (_Health,), {"status": 503})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield handler, health.base_url(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_health_answers_only_on_200(stub):
    handler, base = stub
    assert not health.healthy(base)
    handler.status = 200
    assert health.healthy(base) and health.healthy(base + "/")


def test_wait_healthy_returns_once_the_server_answers(stub):
    handler, base = stub
    probes = []

    def alive():  # asked between probes: the server turns healthy after the second one
        probes.append(1)
        if len(probes) == 2:
            handler.status = 200
        return True

    assert health.wait_healthy(base, timeout=60, alive=alive, interval=0.01)
    assert len(probes) == 2


def test_wait_healthy_gives_up_when_the_process_exited(stub):
    _, base = stub
    asked = []
    assert health.wait_healthy(base, timeout=60, alive=lambda: asked.append(1) or False, interval=0.01) is False
    assert asked == [1]


def test_wait_healthy_gives_up_at_its_deadline():
    assert health.wait_healthy(health.base_url(1), timeout=0.05, interval=0.01) is False  # nothing on port 1


# ----------------------------------------------------------------------------- HAProxy


def test_the_compose_config_in_deploy_is_the_generated_one():
    """deploy/haproxy-compose.cfg is written by `python -m serving.haproxy --compose`: one set of routing rules."""
    assert (ROOT / "deploy" / "haproxy-compose.cfg").read_text() == haproxy.compose_config()


def test_both_configs_share_every_rule_but_the_servers():
    classroom = haproxy.haproxy_config("0.0.0.0", 8501, [("w1", 40001), ("w2", 40002)]).splitlines()
    compose = haproxy.compose_config().splitlines()
    assert "    server w1 127.0.0.1:40001 cookie w1 check" in classroom
    assert "    server-template app 1-32 app:8501" in compose
    shared = [line for line in classroom if line.strip() and not line.lstrip().startswith(("#", "server", "cookie",
                                                                                          "default-server", "bind"))]
    missing = [line for line in shared if line not in compose]
    assert missing == []
    assert "    bind :8501" in compose and "    bind 0.0.0.0:8501" in classroom
