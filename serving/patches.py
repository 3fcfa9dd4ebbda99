"""Every use of Streamlit's private API, in one place, checked against the Streamlit version it was written for.

Streamlit's internals change between releases without notice. What this project changes or reads there:

* **process-wide patches** (:func:`patch_streamlit`, applied by ``python -m serving.serve`` before the server
  starts and again by ``dashboard/app.py``): no ``keras.backend.clear_session()`` after every rerun
  (``script_runner._clean_problem_modules``), a client's ``clear_cache`` message clears its own session only
  (``AppSession._handle_clear_cache_request``), a NaN or infinity sent for an integer ``st.number_input`` reads
  as no value (``NumberInputSerde.deserialize``); and (:func:`quiet_config_watchers`) no thread polling
  config.toml every 200 ms (``bootstrap._install_config_watchers``);
* **element wrappers** (:func:`wrap_element`): ``DeltaGenerator`` methods replaced by wrappers, and the
  module-level ``st.<element>`` re-bound from ``st._main`` (lecture mode's chart theme, dashboard/theme.py;
  the controls kept in the link, dashboard/urlstate.py);
* **sessions** (:func:`current_session_id`, :func:`session_is_active`, :func:`serving_sessions`,
  :func:`can_rerun_sessions`, :func:`rerun_session`, :func:`script_control_exceptions`): the script run
  context, the runtime's session manager and an AppSession's last client state, with which
  dashboard/follow.py wakes the followers of a room and dashboard/resources.py withdraws a closed tab's jobs;
* **media files** (:func:`media_url`): Streamlit's media file manager, for a picture a chart loads by URL
  instead of carrying it inline in every student's chart JSON (the neuron gallery's clickable mosaic).

:data:`WRITTEN_FOR` is the range of Streamlit versions this was written and tested for (requirements.txt pins
one). On another version :func:`check_version` logs one warning naming both; nothing crashes: every function
here falls back to Streamlit's own behaviour (or a poll, for waking sessions) when an internal is missing.

dashboard/ may import this module and nothing else of ``serving`` (tests/core/test_layers.py); it imports
nothing of this project.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from typing import Any

log = logging.getLogger("dashboard.patches")

WRITTEN_FOR = ((1, 67), (1, 68))  # Streamlit >= 1.67, < 1.68
_WARNED: list[str] = []


# ----------------------------------------------------------------------------- the version


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for part in version.split(".")[:2]:
        digits = "".join(c for c in part if c.isdigit()) if part[:1].isdigit() else ""
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def version_supported(version: str | None = None) -> bool:
    """Whether ``version`` (default: the installed Streamlit's) lies in :data:`WRITTEN_FOR`."""
    if version is None:
        import streamlit

        version = streamlit.__version__
    low, high = WRITTEN_FOR
    return low <= _version_tuple(version) < high


def range_text() -> str:
    (a, b), (c, d) = WRITTEN_FOR
    return f">= {a}.{b}, < {c}.{d}"


def check_version(version: str | None = None) -> bool:
    """True when the installed Streamlit is one these patches were written for; otherwise one logged warning
    per process (never an exception): the dashboard runs, but a patch may be missing or do nothing."""
    if version is None:
        import streamlit

        version = streamlit.__version__
    if version_supported(version):
        return True
    if version not in _WARNED:
        _WARNED.append(version)
        log.warning("Streamlit %s is installed, but serving/patches.py was written for Streamlit %s "
                    "(requirements.txt pins one): its patches of Streamlit internals may do nothing or "
                    "fall back to Streamlit's own behaviour. Install the pinned version or check serving/patches.py.",
                    version, range_text())
    return False


# ----------------------------------------------------------------------------- process-wide patches


def patch_streamlit() -> None:
    """Idempotent: keep Keras sessions across reruns, neutralise ``clear_cache``, refuse non-finite numbers."""
    check_version()
    _keep_keras_sessions()
    _refuse_non_finite_numbers()
    if os.environ.get("DASHBOARD_ALLOW_CLEAR_CACHE") != "1":
        _own_session_clear_cache()


def _keep_keras_sessions() -> None:
    # Streamlit calls keras.backend.clear_session() after every rerun to free models a script
    # rebuilt; ours are shared cached resources, and the call costs ~200 ms per slider move.
    try:
        from streamlit.runtime.scriptrunner import script_runner
    except ImportError:
        return
    if getattr(script_runner, "_clean_problem_modules", None) is not None:
        script_runner._clean_problem_modules = lambda: None


def _own_session_clear_cache() -> None:
    """A client's ``clear_cache`` message (any websocket client, no cookie needed) no longer empties the caches
    of every session: it clears that session's own state only (``DASHBOARD_ALLOW_CLEAR_CACHE=1``: Streamlit's)."""
    try:
        from streamlit.runtime.app_session import AppSession
    except ImportError:
        return
    if getattr(AppSession, "_dashboard_patched", False) or not hasattr(AppSession, "_handle_clear_cache_request"):
        return

    def own_state_only(self) -> None:
        logging.getLogger("dashboard").warning(
            "A client asked to clear every cache; only its own session state was cleared "
            "(set DASHBOARD_ALLOW_CLEAR_CACHE=1 to allow clearing for everyone).")
        self._session_state.clear()

    AppSession._handle_clear_cache_request = own_state_only
    AppSession._dashboard_patched = True


def _refuse_non_finite_numbers() -> None:
    """A NaN or infinity sent over the websocket for an integer ``st.number_input`` crashed the page inside
    Streamlit (``int(nan)`` in its deserializer, before any page code runs): such a value is read as no value,
    so the widget keeps its default, as Streamlit already does for a float input."""
    try:
        from streamlit.elements.widgets import number_input
    except ImportError:
        return
    serde = getattr(number_input, "NumberInputSerde", None)
    if serde is None or getattr(serde, "_dashboard_finite", False):
        return
    original = serde.deserialize

    def deserialize(self, ui_value):
        if isinstance(ui_value, float) and not math.isfinite(ui_value):
            ui_value = None
        return original(self, ui_value)

    serde.deserialize = deserialize
    serde._dashboard_finite = True


def quiet_config_watchers() -> None:
    """Streamlit polls config.toml (and secrets.toml, see .streamlit/config.toml) every 200 ms in a thread,
    hashing the files: ~10 % of a worker's busy CPU under load, for files that never change while a lecture
    runs. Called before the server starts; restart the server to change its config."""
    from streamlit.web import bootstrap

    if hasattr(bootstrap, "_install_config_watchers"):
        bootstrap._install_config_watchers = lambda flag_options: None


# ----------------------------------------------------------------------------- element wrappers


def wrap_element(kind: str, make_wrapper: Callable[[Callable], Callable], marker: str) -> bool:
    """Replace ``DeltaGenerator.<kind>`` with ``make_wrapper(original)`` once per process (the wrapper carries
    the attribute ``marker``), and re-bind ``st.<kind>``, which Streamlit binds to its main container at import.
    False when this Streamlit has no such element."""
    import streamlit as st
    from streamlit.delta_generator import DeltaGenerator

    fn = getattr(DeltaGenerator, kind, None)
    if fn is None:
        return False
    if not getattr(fn, marker, False):
        setattr(DeltaGenerator, kind, make_wrapper(fn))
    main = getattr(st, "_main", None)
    if main is not None and hasattr(st, kind) and not getattr(getattr(st, kind), marker, False):
        setattr(st, kind, getattr(main, kind))
    return True


# ----------------------------------------------------------------------------- media files


def media_url(data: bytes, mimetype: str, coordinates: str) -> str | None:
    """A URL under which this session's browser fetches ``data`` from this server (Streamlit's media file
    manager, as ``st.image`` uses it: one stored copy per content, kept while a session's last run used it).
    Relative (``media/<id>.png``), so it also works under a base URL path. None without a runtime (a bare
    import): the caller then sends the bytes inline."""
    from streamlit import runtime

    if not runtime.exists():
        return None
    try:
        url = runtime.get_instance().media_file_mgr.add(data, mimetype, coordinates)
    except (AttributeError, RuntimeError):
        return None
    return url.lstrip("/")


# ----------------------------------------------------------------------------- sessions


def current_session_id() -> str:
    """The browser session of the running script ("no-session" outside one: a bare import, a thread)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "no-session"


def has_browser_connection() -> bool:
    """Whether the running script serves a browser connection (False in tests and scripts: no headers then)."""
    from streamlit.runtime.context import _get_client_context

    return _get_client_context() is not None


def session_is_active(session_id: str) -> bool | None:
    """Whether ``session_id`` is still connected; None when there is no runtime to ask (a test, a script)."""
    from streamlit.runtime import Runtime

    if not Runtime.exists():
        return None
    return Runtime.instance().is_active_session(session_id)


def serving_sessions() -> bool:
    """True in a real server (a session manager runs); False under ``streamlit.testing`` or a bare import."""
    from streamlit.runtime import Runtime

    try:
        return Runtime.exists() and getattr(Runtime.instance(), "_session_mgr", None) is not None
    except (AttributeError, RuntimeError):
        return False


def script_control_exceptions() -> tuple[type[BaseException], ...]:
    """Streamlit's control-flow exceptions (st.rerun, st.stop, st.switch_page): code around a page run lets
    them through."""
    from streamlit.runtime.scriptrunner_utils.exceptions import RerunException, ScriptControlException

    return (RerunException, ScriptControlException)


def can_rerun_sessions() -> bool:
    """Whether :func:`rerun_session` can work here: a Streamlit of :data:`WRITTEN_FOR` with
    ``AppSession.request_rerun`` (otherwise a follower polls)."""
    if not check_version():
        return False
    from streamlit.runtime.app_session import AppSession

    return hasattr(AppSession, "request_rerun")


def rerun_session(session_id: str, page_hash: str | None = None) -> bool:
    """Rerun another session now with its last client state (what Streamlit's run-on-save does), or straight on
    the page whose script hash is ``page_hash`` (one run, not a run of the old page that switches); False when
    the session is gone. Only where :func:`can_rerun_sessions`."""
    from streamlit.proto.ClientState_pb2 import ClientState
    from streamlit.runtime import Runtime

    if not Runtime.exists():
        return False
    session = Runtime.instance().get_app_session(session_id)
    if session is None:
        return False
    last: Any = getattr(session, "_client_state", None)
    loop = getattr(session, "_event_loop", None)
    if last is None or loop is None:
        return False
    state = ClientState()
    state.CopyFrom(last)
    state.fragment_id = ""  # a whole run, not a fragment's
    state.is_auto_rerun = False
    if page_hash:  # the query string stays the browser's: the run sets the view's, which updates the address bar
        state.page_script_hash, state.page_name = page_hash, ""
    loop.call_soon_threadsafe(session.request_rerun, state)
    return True
