"""A script-driven "student": uses the dashboard over Streamlit's own websocket protocol.

No browser and no Streamlit runtime: only the protobufs in ``streamlit.proto`` and the ``websockets``
asyncio client. A :class:`Student` opens ``ws://HOST:PORT/_stcore/stream`` like the browser does, sends
``rerun_script`` BackMsgs (a page to open, or new widget values) and reads the ForwardMsgs of that run up
to its ``script_finished``, collecting what a test or a benchmark wants to know (:class:`RunResult`).

What it sends, and why (Streamlit 1.67, read from ``runtime/app_session.py``, ``runtime/pages_manager.py``,
``commands/navigation.py`` and ``runtime/agent/``, the runtime's own browser-like client):

* Nothing runs until the client asks: the first ``rerun_script`` starts the session's first run.
* Page selection. Before the first run the client knows no page hashes (an ``st.navigation`` app declares
  its pages while it runs), so it sends ``page_name`` = the URL path (``"upsampling"``; ``""`` for the
  default page) and an empty ``page_script_hash``; the runtime matches it against each page's
  ``url_pathname``. Afterwards it sends the ``page_script_hash`` from the ``navigation`` ForwardMsg, as the
  browser does when a nav link is clicked. The page list is in ``navigation.app_pages`` (section, title,
  url path); ``new_session.app_pages`` only lists the main script in an ``st.navigation`` app.
* Widget values. The runtime *merges* the sent ``WidgetStates`` into the session's state, but the browser
  sends the current value of every widget it shows (it registers each value when the widget mounts), so
  this client does too, on reruns and on page changes. Each widget kind goes in the field its
  ``register_widget(value_type=...)`` names, see :data:`VALUE_FIELDS`.
* Forward message cache. The server replaces a cacheable message (a ``new_element`` delta of at least
  ``global.minCachedMessageSize``) by a ``ref_hash`` message only if the client listed that hash in
  ``ClientState.cached_message_hashes``. By default this client lists none, so it never receives a
  reference; with ``cache_messages=True`` it keeps what it received and claims it, like the browser.
"""

from __future__ import annotations

import asyncio
import http.cookies
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

DEFAULT_TIMEOUT = 120.0
STREAM_PATH = "/_stcore/stream"
CACHE_RUNS = 5  # cache_messages: a message no run used for this many runs is dropped
MAX_MESSAGE_BYTES = 512 * 1024 * 1024  # the server's own limit is server.maxMessageSize (200 MB)

_FINISHED = ForwardMsg.ScriptFinishedStatus
_DONE_STATUSES = {_FINISHED.FINISHED_SUCCESSFULLY, _FINISHED.FINISHED_WITH_COMPILE_ERROR,
                  _FINISHED.FINISHED_FRAGMENT_RUN_SUCCESSFULLY}
OK_STATUSES = ("FINISHED_SUCCESSFULLY", "FINISHED_FRAGMENT_RUN_SUCCESSFULLY")

# The WidgetState field each widget kind is sent in (``value_type`` in its register_widget call).
VALUE_FIELDS: dict[str, str] = {
    "slider": "double_array_value",        # every numeric slider, int ones too: [v] or [lo, hi]
    "select_slider": "string_array_value",  # the formatted option strings: [opt] or [lo, hi]
    "number_input": "double_value",        # int_value when data_type is INT (as the browser sends it)
    "selectbox": "string_value",           # the formatted option string
    "radio": "string_value",               # the formatted option string
    "checkbox": "bool_value",
    "toggle": "bool_value",
    "text_input": "string_value",
    "text_area": "string_value",
    "color_picker": "string_value",
    "multiselect": "string_array_value",   # formatted option strings
    "pills": "string_array_value",         # st.pills / st.segmented_control: option contents
    "segmented_control": "string_array_value",
    "date_input": "string_array_value",    # ISO dates, as the proto carries them
    "time_input": "string_value",
    "pagination": "int_value",
    "button": "trigger_value",
    "form_submit_button": "trigger_value",
}
# Widgets this client reports but cannot set (binary or browser-side input).
_UNSETTABLE = {"file_uploader", "camera_input", "audio_input", "chat_input", "download_button", "feedback",
               "menu_button", "date_time_input"}
_WIDGET_TYPES = set(VALUE_FIELDS) - {"select_slider", "toggle", "pills", "segmented_control",
                                     "form_submit_button"} | {"button_group"} | _UNSETTABLE
_OPTION_KINDS = {"select_slider", "selectbox", "radio", "multiselect", "pills", "segmented_control"}


class StudentTimeout(TimeoutError):
    """No answer from the server within the timeout of one call."""


class StudentError(RuntimeError):
    """The connection closed, or the server sent something this client cannot follow."""


# ----------------------------------------------------------------------------------------------- results
@dataclass
class PageInfo:
    page_script_hash: str
    page_name: str  # the title
    url_pathname: str
    section: str = ""
    is_default: bool = False


@dataclass
class Widget:
    """One widget as the last run drew it; ``value`` is what the browser would hold now."""

    id: str
    kind: str
    label: str
    form_id: str = ""
    value_field: str | None = None  # the WidgetState field it is sent in; None: not settable here
    min: float | None = None
    max: float | None = None
    step: float | None = None
    options: list[str] = field(default_factory=list)
    default: Any = None
    value: Any = None
    data_type: str | None = None  # INT / FLOAT / DATETIME ... for sliders and number inputs
    disabled: bool = False
    is_form_submitter: bool = False
    fragment_id: str = ""
    path: tuple[int, ...] = ()
    set_value: bool = False  # the server set the value this run (st.session_state)

    @property
    def is_range(self) -> bool:
        return isinstance(self.default, tuple)

    def grid(self, n: int) -> list[Any]:
        """``n`` distinct legal values spread over the widget's range (fewer if it has fewer)."""
        if self.kind in ("slider", "number_input") and self.min is not None and self.max is not None:
            step = self.step or (1 if self.data_type == "INT" else (self.max - self.min) / 100 or 1)
            count = int(round((self.max - self.min) / step)) + 1
            picks = sorted({round(i * (count - 1) / max(n - 1, 1)) for i in range(n)}) if count > 1 else [0]
            vals = [self.min + k * step for k in picks]
            if self.data_type == "INT":
                vals = [int(round(v)) for v in vals]
            else:
                vals = [round(v, 10) for v in vals]
            if self.kind == "slider" and self.is_range:
                return [(self.min if self.data_type != "INT" else int(self.min), v) for v in vals]
            return vals
        if self.kind in _OPTION_KINDS and self.options:
            picks = sorted({round(i * (len(self.options) - 1) / max(n - 1, 1)) for i in range(n)})
            vals = [self.options[k] for k in picks]
            if self.kind == "select_slider" and self.is_range:
                return [(self.options[0], v) for v in vals]
            if self.kind in ("multiselect", "pills", "segmented_control"):
                return [[v] for v in vals]
            return vals
        if self.kind in ("checkbox", "toggle"):
            return [False, True][: max(n, 1)]
        return []


@dataclass
class RunResult:
    """What one script run sent back."""

    page: str  # what was asked for ("" = the default page)
    page_script_hash: str = ""  # the page that ran
    url_pathname: str = ""
    seconds: float = 0.0  # from sending the BackMsg to receiving script_finished
    first_delta_seconds: float | None = None
    status: str = ""  # ScriptFinishedStatus name; TIMEOUT / ERROR only from visit_pages
    exceptions: list[str] = field(default_factory=list)  # "Type: message" of st.exception / uncaught errors
    warnings: list[str] = field(default_factory=list)  # exception elements marked is_warning
    widgets: list[Widget] = field(default_factory=list)
    pages: list[PageInfo] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # text, markdown, headings, alerts, captions, metrics ...
    element_counts: dict[str, int] = field(default_factory=dict)
    message_counts: dict[str, int] = field(default_factory=dict)
    delta_count: int = 0
    messages: int = 0
    bytes: int = 0
    refs: int = 0  # ref_hash messages received (only with cache_messages=True)
    unresolved_refs: int = 0
    page_not_found: bool = False
    query_string: str = ""
    fragment_id: str = ""

    @property
    def finished(self) -> bool:
        return self.status in OK_STATUSES

    @property
    def ok(self) -> bool:
        return self.finished and not self.exceptions

    def contains(self, substring: str, *, case: bool = True) -> bool:
        """Whether any text, markdown, heading, alert, caption ... contains ``substring``."""
        if case:
            return any(substring in t for t in self.texts)
        sub = substring.lower()
        return any(sub in t.lower() for t in self.texts)

    def widget(self, label_or_id: str) -> Widget:
        return _find_widget(self.widgets, label_or_id)

    def widgets_of(self, *kinds: str) -> list[Widget]:
        return [w for w in self.widgets if w.kind in kinds]

    def summary(self) -> str:
        return (f"{self.url_pathname or self.page or '(default)'}: {self.status} in {self.seconds:.2f} s, "
                f"{self.delta_count} deltas, {len(self.widgets)} widgets, {len(self.exceptions)} exceptions")


def _find_widget(widgets: Iterable[Widget], label_or_id: str) -> Widget:
    widgets = list(widgets)
    for w in widgets:
        if w.id == label_or_id:
            return w
    for exact in (True, False):
        hits = [w for w in widgets
                if (w.label == label_or_id if exact else w.label.strip().lower() == label_or_id.strip().lower())]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise KeyError(f"{len(hits)} widgets are labelled {label_or_id!r}; use an id: {[w.id for w in hits]}")
    raise KeyError(f"no widget {label_or_id!r}; widgets: {[w.label for w in widgets]}")


# ----------------------------------------------------------------------------------- proto -> python
def _num(v: float, data_type: str | None) -> Any:
    return int(round(v)) if data_type == "INT" else v


def _one_or_pair(values: list[Any]) -> Any:
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def _widget_from_element(kind: str, el: Any, path: tuple[int, ...], fragment_id: str) -> Widget:
    """A :class:`Widget` from a widget proto (``Element.<kind>``)."""
    w = Widget(id=el.id, kind=kind, label=getattr(el, "label", ""), form_id=getattr(el, "form_id", ""),
               disabled=getattr(el, "disabled", False), path=path, fragment_id=fragment_id,
               set_value=bool(getattr(el, "set_value", False)))
    if kind == "slider":
        dtype = type(el).DataType.Name(el.data_type)
        if el.type == type(el).SELECT_SLIDER:
            w.kind, w.options = "select_slider", list(el.options)
            w.default = _one_or_pair([w.options[int(i)] for i in el.default if 0 <= int(i) < len(w.options)])
            w.min, w.max, w.step = 0, len(w.options) - 1, 1
            w.value = _one_or_pair(list(el.raw_value)) if w.set_value else w.default
        else:
            w.data_type = dtype
            w.min, w.max, w.step = _num(el.min, dtype), _num(el.max, dtype), _num(el.step, dtype)
            w.default = _one_or_pair([_num(v, dtype) for v in el.default])
            w.value = _one_or_pair([_num(v, dtype) for v in el.value]) if w.set_value else w.default
    elif kind == "number_input":
        w.data_type = type(el).DataType.Name(el.data_type)
        w.step = _num(el.step, w.data_type)
        w.min = _num(el.min, w.data_type) if el.has_min else None
        w.max = _num(el.max, w.data_type) if el.has_max else None
        w.default = _num(el.default, w.data_type) if el.HasField("default") else None
        if w.set_value:
            w.value = _num(el.value, w.data_type) if el.HasField("value") else None
        else:
            w.value = w.default
        if w.data_type == "INT":
            w.value_field = "int_value"
    elif kind in ("selectbox", "radio"):
        w.options = list(el.options)
        w.default = w.options[el.default] if el.HasField("default") and 0 <= el.default < len(w.options) else None
        if w.set_value:
            w.value = el.raw_value if el.HasField("raw_value") else None
        else:
            w.value = w.default
    elif kind == "checkbox":
        w.kind = "toggle" if el.type == type(el).TOGGLE else "checkbox"
        w.default = bool(el.default)
        w.value = bool(el.value) if w.set_value else w.default
    elif kind in ("text_input", "text_area", "time_input"):
        w.default = el.default if el.HasField("default") else None
        w.value = (el.value if el.HasField("value") else None) if w.set_value else w.default
    elif kind == "color_picker":
        w.default = el.default
        w.value = el.value if w.set_value else w.default
    elif kind == "multiselect":
        w.options = list(el.options)
        w.default = [w.options[i] for i in el.default if 0 <= i < len(w.options)]
        w.value = list(el.raw_values) if w.set_value else list(w.default)
    elif kind == "button_group":
        w.kind = "pills" if el.style == type(el).PILLS else "segmented_control"
        # the wire carries the formatted option; the proto splits a leading icon off into content_icon
        w.options = [f"{o.content_icon} {o.content}".strip() if o.content_icon else o.content for o in el.options]
        w.default = [w.options[i] for i in el.default if 0 <= i < len(w.options)]
        w.value = list(el.raw_values) if w.set_value else list(w.default)
    elif kind == "date_input":
        w.default = list(el.default)
        w.value = list(el.value) if w.set_value else list(w.default)
        w.min, w.max = el.min or None, el.max or None
    elif kind == "pagination":
        w.default = el.default
        w.value = el.value if w.set_value else w.default
        w.min, w.max = 1, el.num_pages
    elif kind == "button":
        if el.is_form_submitter:
            w.kind, w.is_form_submitter = "form_submit_button", True
        w.default = w.value = False
    if w.value_field is None and w.kind not in _UNSETTABLE:
        w.value_field = VALUE_FIELDS.get(w.kind)
    return w


def _element_texts(kind: str, el: Any) -> list[str]:
    if kind in ("text", "markdown", "heading", "alert", "html", "json", "toast"):
        out = [el.body]
        if kind == "alert" and el.title:
            out.append(el.title)
        return out
    if kind == "code":
        return [el.code_text]
    if kind == "metric":
        return [" ".join(x for x in (el.label, el.body, el.delta) if x)]
    if kind == "exception":
        return [f"{el.type}: {el.message}"]
    if kind == "imgs":
        return [img.caption for img in el.imgs if img.caption]
    if kind in ("page_link", "progress", "spinner"):
        return [x for x in (getattr(el, "label", ""), getattr(el, "text", "")) if x]
    return []


# ------------------------------------------------------------------------------------- python -> proto
def encode_widget_value(w: Widget, value: Any) -> WidgetState | None:
    """The WidgetState the browser sends for ``w`` holding ``value`` (None: nothing to send)."""
    if w.value_field is None:
        raise ValueError(f"{w.kind} {w.label!r} cannot be set by this client")
    state = WidgetState(id=w.id)
    f = w.value_field
    if f == "trigger_value":
        if not value:
            return None
        state.trigger_value = True
        return state
    if value is None:  # no value: the widget's default (or None where it can be empty)
        return state
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    if f == "double_array_value":
        state.double_array_value.data.extend(float(v) for v in items)
    elif f == "int_array_value":
        state.int_array_value.data.extend(int(v) for v in items)
    elif f == "string_array_value":
        state.string_array_value.data.extend(str(v) for v in items)
    elif f == "double_value":
        state.double_value = float(value)
    elif f == "int_value":
        state.int_value = int(value)
    elif f == "bool_value":
        state.bool_value = bool(value)
    elif f == "string_value":
        state.string_value = str(value)
    else:  # pragma: no cover - VALUE_FIELDS lists only the fields above
        raise ValueError(f"unsupported value field {f}")
    return state


def _check_value(w: Widget, value: Any) -> None:
    """Refuse what the browser could not send (out of range, not an option)."""
    if w.disabled:
        raise ValueError(f"{w.kind} {w.label!r} is disabled")
    if value is None or w.value_field == "trigger_value":
        return
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    if w.kind in ("slider", "number_input"):
        for v in items:
            if not isinstance(v, (int, float)):
                raise ValueError(f"{w.kind} {w.label!r} takes numbers, got {v!r}")
            if (w.min is not None and v < w.min) or (w.max is not None and v > w.max):
                raise ValueError(f"{v!r} is outside [{w.min}, {w.max}] of {w.kind} {w.label!r}")
        if w.kind == "slider" and len(items) != (2 if w.is_range else 1):
            raise ValueError(f"slider {w.label!r} takes {'a pair' if w.is_range else 'one value'}")
    elif w.kind in _OPTION_KINDS:
        for v in items:
            if str(v) not in w.options:
                raise ValueError(f"{v!r} is not an option of {w.kind} {w.label!r}: {w.options[:20]}")


# ------------------------------------------------------------------------------------------- cookies
def _http_url(base_url: str) -> str:
    parts = urllib.parse.urlsplit(base_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme or "http")
    return urllib.parse.urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _ws_url(base_url: str) -> str:
    parts = urllib.parse.urlsplit(_http_url(base_url))
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urllib.parse.urlunsplit((scheme, parts.netloc, parts.path + STREAM_PATH, "", ""))


def fetch_cookies_sync(base_url: str, timeout: float = 30.0) -> dict[str, str]:
    """GET ``base_url``/ and return the cookies its Set-Cookie headers set (e.g. a proxy's sticky cookie).

    Direct connection (environment proxies ignored): this is meant for the app's own server or proxy.
    """
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    jar: dict[str, str] = {}
    with opener.open(_http_url(base_url) + "/", timeout=timeout) as r:
        for header in r.headers.get_all("Set-Cookie") or []:
            parsed = http.cookies.SimpleCookie()
            try:
                parsed.load(header)
            except http.cookies.CookieError:
                continue
            jar.update({name: morsel.value for name, morsel in parsed.items()})
    return jar


async def fetch_cookies(base_url: str, timeout: float = 30.0) -> dict[str, str]:
    """Async :func:`fetch_cookies_sync` (runs the stdlib request in a worker thread)."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(fetch_cookies_sync, base_url, timeout), timeout + 5)
    except TimeoutError:
        raise StudentTimeout(f"GET {_http_url(base_url)}/ gave no answer within {timeout:g} s") from None


_fetch_cookies = fetch_cookies  # Student.connect has a parameter of that name


def _cookie_header(cookies: Mapping[str, str] | str | None) -> str | None:
    if not cookies:
        return None
    if isinstance(cookies, str):
        return cookies
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


# ------------------------------------------------------------------------------------------- the run
class _Run:
    """Collects the ForwardMsgs of one rerun request up to its final script_finished."""

    def __init__(self, student: Student, page: str, fragment_id: str, t0: float):
        self.s = student
        self.t0 = t0
        self.result = RunResult(page=page, fragment_id=fragment_id)
        self.started = False
        self.run_id = ""
        self.done = False
        self.elements: dict[tuple[int, ...], tuple[str, Any, str]] = {}
        self.fragment = bool(fragment_id)
        if self.fragment and student._elements:  # a fragment run redraws only its fragment
            self.elements = dict(student._elements)
        self.counts: Counter[str] = Counter()
        self.elem_counts: Counter[str] = Counter()

    def feed(self, msg: ForwardMsg, nbytes: int) -> None:
        r = self.result
        r.messages += 1
        r.bytes += nbytes
        kind = msg.WhichOneof("type") or "none"
        self.counts[kind] += 1
        if kind == "ref_hash":
            r.refs += 1
            cached = self.s._cache.get(msg.ref_hash)
            if cached is None:
                r.unresolved_refs += 1
                return
            self.s._cache_used[msg.ref_hash] = self.s._runs
            full = ForwardMsg()
            full.CopyFrom(cached)
            full.metadata.CopyFrom(msg.metadata)  # the ref carries this run's delta path
            msg, kind = full, full.WhichOneof("type")
        elif self.s.cache_messages and msg.metadata.cacheable and msg.hash:
            self.s._cache[msg.hash] = msg
            self.s._cache_used[msg.hash] = self.s._runs

        # session-level messages, whichever run they belong to
        if kind == "page_info_changed":
            self.s._query_string = msg.page_info_changed.query_string
        elif kind == "navigation":
            nav = msg.navigation
            self.s._pages = [PageInfo(p.page_script_hash, p.page_name, p.url_pathname, p.section_header, p.is_default)
                             for p in nav.app_pages]
            self.s._page_hash = nav.page_script_hash
        elif kind == "session_status_changed":
            self.s.script_is_running = msg.session_status_changed.script_is_running

        if kind == "new_session":
            ns = msg.new_session
            self.started = True
            self.run_id = msg.metadata.run.script_run_id
            self.s._page_hash = ns.page_script_hash or self.s._page_hash
            self.s.session_id = ns.initialize.session_id or self.s.session_id
            if not self.s._pages or all(not p.url_pathname for p in self.s._pages):
                self.s._pages = [PageInfo(p.page_script_hash, p.page_name, p.url_pathname) for p in ns.app_pages]
            if not self.fragment:
                self.elements = {}
                r.exceptions, r.warnings, r.page_not_found = [], [], False
            return
        if not self.started:
            return  # left from an earlier run
        if kind == "delta":
            self._delta(msg)
        elif kind == "page_not_found":
            r.page_not_found = True
        elif kind == "session_event" and msg.session_event.HasField("script_compilation_exception"):
            e = msg.session_event.script_compilation_exception
            r.exceptions.append(f"{e.type}: {e.message}")
        elif kind == "script_finished":
            run_id = msg.metadata.run.script_run_id
            if run_id and self.run_id and run_id != self.run_id:
                return
            if msg.script_finished == _FINISHED.FINISHED_EARLY_FOR_RERUN:
                self.started = False  # st.rerun / switch_page: the next run is the one that counts
                return
            r.status = _FINISHED.Name(msg.script_finished)
            r.seconds = time.perf_counter() - self.t0
            self.done = True

    def _delta(self, msg: ForwardMsg) -> None:
        r = self.result
        r.delta_count += 1
        if r.first_delta_seconds is None:
            r.first_delta_seconds = time.perf_counter() - self.t0
        delta = msg.delta
        path = tuple(msg.metadata.delta_path)
        which = delta.WhichOneof("type")
        if which == "new_element":
            kind = delta.new_element.WhichOneof("type") or "none"
            self.elem_counts[kind] += 1
            self.elements[path] = (kind, getattr(delta.new_element, kind) if kind != "none" else None,
                                   delta.fragment_id)
            if kind == "exception":
                e = delta.new_element.exception
                (r.warnings if e.is_warning else r.exceptions).append(f"{e.type}: {e.message}")
        elif which == "add_block":
            self.elem_counts["block"] += 1
            self.elements.pop(path, None)
        elif which is not None:
            self.elem_counts[which] += 1

    def finish(self) -> RunResult:
        r = self.result
        s = self.s
        widgets: list[Widget] = []
        texts: list[str] = []
        for path in sorted(self.elements):
            kind, el, frag = self.elements[path]
            if el is None:
                continue
            if kind in _WIDGET_TYPES and getattr(el, "id", ""):
                widgets.append(_widget_from_element(kind, el, path, frag))
            texts.extend(t for t in _element_texts(kind, el) if t)
        # The browser keeps the value it holds for a widget it already shows, takes the server's when the
        # script set one, and the default for a new widget.
        values: dict[str, Any] = dict(s._values) if self.fragment else {}
        for w in widgets:
            if w.value_field is None or w.value_field == "trigger_value":
                continue
            if not w.set_value and w.id in s._values:
                w.value = s._values[w.id]
            values[w.id] = w.value
        s._values = values
        s._elements = self.elements
        s._widgets = widgets if not self.fragment else _merge_widgets(s._widgets, widgets)
        r.widgets = list(s._widgets)
        r.texts = texts
        r.pages = list(s._pages)
        r.page_script_hash = s._page_hash
        r.url_pathname = next((p.url_pathname for p in s._pages if p.page_script_hash == s._page_hash), "")
        r.query_string = s._query_string
        r.element_counts = dict(self.elem_counts)
        r.message_counts = dict(self.counts)
        return r


def _merge_widgets(old: list[Widget], new: list[Widget]) -> list[Widget]:
    ids = {w.id for w in new}
    return sorted([w for w in old if w.id not in ids] + new, key=lambda w: w.path)


# ---------------------------------------------------------------------------------------- the student
class Student:
    """One browser tab, scripted. Create with ``await Student.connect(base_url)``."""

    def __init__(self, base_url: str, ws: Any, cookies: dict[str, str], cache_messages: bool):
        self.base_url = _http_url(base_url)
        self.cookies = cookies
        self.cache_messages = cache_messages
        self.session_id = ""
        self.script_is_running = False
        self._ws = ws
        self._pages: list[PageInfo] = []
        self._page_hash = ""
        self._query_string = ""
        self._widgets: list[Widget] = []
        self._values: dict[str, Any] = {}
        self._pending_forms: dict[str, dict[str, Any]] = {}
        self._elements: dict[tuple[int, ...], tuple[str, Any, str]] = {}
        self._cache: dict[str, ForwardMsg] = {}
        self._cache_used: dict[str, int] = {}  # hash -> the run that last used it
        self._runs = 0
        self._lock = asyncio.Lock()
        self.last: RunResult | None = None

    # ----------------------------------------------------------------- connection
    @classmethod
    async def connect(cls, base_url: str, cookies: Mapping[str, str] | str | None = None, *,
                      fetch_cookies: bool = False, headers: Mapping[str, str] | None = None,
                      cache_messages: bool = False, compression: str | None = "deflate",
                      timeout: float = DEFAULT_TIMEOUT) -> Student:
        """Open the app's websocket (``base_url`` like ``http://127.0.0.1:8501``, a base path allowed).

        ``cookies`` go along with the upgrade request (a dict or a ``Cookie`` header value);
        ``fetch_cookies=True`` first GETs ``base_url``/ and adds the cookies it sets, so a cookie-sticky
        proxy routes the websocket to the worker that answered.
        """
        jar: dict[str, str] = {}
        if fetch_cookies:
            jar.update(await _fetch_cookies(base_url, timeout))
        if isinstance(cookies, str):
            jar.update(http_cookie_pairs(cookies))
        elif cookies:
            jar.update(cookies)
        extra = dict(headers or {})
        if jar:
            extra["Cookie"] = _cookie_header(jar)
        try:
            ws = await asyncio.wait_for(
                websockets.connect(_ws_url(base_url), subprotocols=["streamlit"], additional_headers=extra,
                                   compression=compression, proxy=None, max_size=MAX_MESSAGE_BYTES,
                                   max_queue=None, open_timeout=timeout, ping_interval=20, ping_timeout=60),
                timeout + 5)
        except TimeoutError:
            raise StudentTimeout(f"websocket {_ws_url(base_url)} did not open within {timeout:g} s") from None
        return cls(base_url, ws, jar, cache_messages)

    async def close(self, timeout: float = 10.0) -> None:
        try:
            await asyncio.wait_for(self._ws.close(), timeout)
        except (TimeoutError, OSError):
            pass

    async def __aenter__(self) -> Student:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ----------------------------------------------------------------- what is known
    @property
    def pages(self) -> list[PageInfo]:
        return list(self._pages)

    @property
    def widgets(self) -> list[Widget]:
        return list(self._widgets)

    @property
    def page_script_hash(self) -> str:
        return self._page_hash

    def find_page(self, page: str) -> PageInfo | None:
        """A listed page by url path, title or page_script_hash ("" / "/": the default page)."""
        key = page.strip().strip("/")
        if key == "":
            return next((p for p in self._pages if p.is_default), self._pages[0] if self._pages else None)
        found = next((p for p in self._pages if key in (p.url_pathname, p.page_script_hash, p.page_name)), None)
        # The default page has no url path ("/"): its title ("Home", "home") finds it too.
        return found or next((p for p in self._pages if p.page_name.lower() == key.lower()), None)

    # ----------------------------------------------------------------- actions
    async def open(self, page: str = "", query: str = "", *, timeout: float = DEFAULT_TIMEOUT) -> RunResult:
        """Open ``page`` (url path such as ``"upsampling"``, title or hash; ``""``: the default page).

        ``query``: the URL's query string (``"lecture=1"``). Widget values the browser holds go along,
        as on a browser's page change.
        """
        cs = ClientState()
        cs.query_string = query.lstrip("?")
        if any(p.url_pathname for p in self._pages):
            info = self.find_page(page)
            if info is None:
                raise ValueError(f"no page {page!r}; pages: {[p.url_pathname or p.page_name for p in self._pages]}")
            cs.page_script_hash = info.page_script_hash
        else:  # before the first run: the runtime resolves the URL path, as on a browser's cold load
            cs.page_name = page.strip().strip("/")
        self._pending_forms.clear()
        cs.widget_states.widgets.extend(self._current_states())
        return await self._rerun(cs, page, timeout)

    async def rerun(self, *, timeout: float = DEFAULT_TIMEOUT) -> RunResult:
        """Rerun the current page with the current values (the browser's "Rerun")."""
        cs = self._client_state()
        cs.widget_states.widgets.extend(self._current_states())
        return await self._rerun(cs, self._page_label(), timeout)

    async def set_widgets(self, values: Mapping[str, Any], *, submit_forms: bool = True,
                          timeout: float = DEFAULT_TIMEOUT) -> RunResult | None:
        """Give widgets new values ({label or id: value}) and return the run that follows.

        Values: numbers (or a (lo, hi) pair) for sliders and number inputs, option strings for select
        sliders, select boxes, radios (lists for multiselects and pills), bools for checkboxes and
        toggles, str for text inputs, True for a button (a click). Widgets inside an ``st.form`` keep
        their values pending until the form is submitted: with ``submit_forms`` (default) the form's
        submit button is clicked in the same rerun; otherwise nothing is sent while only form values
        changed, and None is returned.
        """
        if not values:
            raise ValueError("set_widgets needs at least one widget")
        changed: list[tuple[Widget, Any]] = []
        for key, value in values.items():
            w = _find_widget(self._widgets, key)
            _check_value(w, value)
            encode_widget_value(w, value)  # raises for widgets this client cannot set
            changed.append((w, value))
        triggers: list[Widget] = []
        forms_to_submit: set[str] = set()
        for w, value in changed:
            if w.value_field == "trigger_value":
                if value:
                    triggers.append(w)
                    if w.is_form_submitter:
                        forms_to_submit.add(w.form_id)
            elif w.form_id:
                self._pending_forms.setdefault(w.form_id, {})[w.id] = value
            else:
                self._values[w.id] = value
        if submit_forms:
            for form_id in [f for f in self._pending_forms if f not in forms_to_submit]:
                submitter = next((w for w in self._widgets if w.is_form_submitter and w.form_id == form_id), None)
                if submitter is None:
                    raise ValueError(f"form {form_id!r} has no submit button on this page")
                triggers.append(submitter)
                forms_to_submit.add(form_id)
        if not triggers and all(w.form_id for w, _ in changed):
            return None  # only pending form values: the browser does not rerun until the form is submitted
        for form_id in forms_to_submit:
            self._values.update(self._pending_forms.pop(form_id, {}))
        cs = self._client_state()
        cs.widget_states.widgets.extend(self._current_states())
        cs.widget_states.widgets.extend(s for w in triggers if (s := encode_widget_value(w, True)) is not None)
        frags = {w.fragment_id for w, _ in changed}
        if len(frags) == 1 and (frag := frags.pop()):
            cs.fragment_id = frag  # a widget inside st.fragment reruns only its fragment
        return await self._rerun(cs, self._page_label(), timeout)

    async def click(self, label_or_id: str, *, timeout: float = DEFAULT_TIMEOUT) -> RunResult | None:
        return await self.set_widgets({label_or_id: True}, timeout=timeout)

    # ----------------------------------------------------------------- internals
    def _page_label(self) -> str:
        info = self.find_page(self._page_hash) if self._page_hash else None
        return info.url_pathname if info else ""

    def _client_state(self) -> ClientState:
        cs = ClientState()
        cs.query_string = self._query_string
        cs.page_script_hash = self._page_hash
        return cs

    def _current_states(self) -> list[WidgetState]:
        """The value of every widget the page shows, as the browser sends them with each rerun."""
        out = []
        for w in self._widgets:
            if w.value_field is None or w.value_field == "trigger_value" or w.id not in self._values:
                continue
            state = encode_widget_value(w, self._values[w.id])
            if state is not None:
                out.append(state)
        return out

    def _context_info(self, cs: ClientState) -> None:
        ci = cs.context_info
        ci.timezone, ci.timezone_offset, ci.locale = "UTC", 0, "en-US"
        ci.is_embedded, ci.color_scheme = False, "light"
        page = self._page_label() if cs.page_script_hash else cs.page_name
        ci.url = f"{self.base_url}/{page}" + (f"?{cs.query_string}" if cs.query_string else "")

    async def _rerun(self, cs: ClientState, page: str, timeout: float) -> RunResult:
        async with self._lock:
            self._context_info(cs)
            self._runs += 1
            if self.cache_messages:  # like the browser, forget what recent runs did not use
                for h in [h for h, used in self._cache_used.items() if self._runs - used > CACHE_RUNS]:
                    self._cache.pop(h, None)
                    self._cache_used.pop(h, None)
                cs.cached_message_hashes.extend(self._cache)
            back = BackMsg()
            back.rerun_script.CopyFrom(cs)
            t0 = time.perf_counter()
            run = _Run(self, page, cs.fragment_id, t0)
            try:
                await self._ws.send(back.SerializeToString())
                async with asyncio.timeout(timeout):
                    while not run.done:
                        data = await self._ws.recv()
                        if isinstance(data, str):
                            raise StudentError("the server sent a text frame; Streamlit sends binary protobufs")
                        msg = ForwardMsg()
                        msg.ParseFromString(data)
                        run.feed(msg, len(data))
            except TimeoutError:
                what = "no new_session" if not run.started else "no script_finished"
                raise StudentTimeout(
                    f"{what} for page {page or '(default)'!r} within {timeout:g} s "
                    f"({run.result.messages} messages, {run.result.delta_count} deltas so far)") from None
            except websockets.ConnectionClosed as exc:
                raise StudentError(f"the websocket closed while page {page or '(default)'!r} ran: {exc}") from None
            self.last = run.finish()
            return self.last


def http_cookie_pairs(header: str) -> dict[str, str]:
    """``"a=1; b=2"`` -> ``{"a": "1", "b": "2"}``."""
    out = {}
    for part in header.split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


# ---------------------------------------------------------------------------------------- sync helper
def _run_sync(coro_factory: Callable[[], Any]) -> Any:
    """Run a coroutine on a fresh event loop; in a new thread if this one already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro_factory())
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro_factory())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    t = threading.Thread(target=target, name="student-visit", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def visit_pages(base_url: str, pages: Iterable[str] | None = None, timeout: float = 300,
                progress: Callable[[int, int, str], Any] | None = None, *,
                cookies: Mapping[str, str] | str | None = None, fetch_cookies: bool = False,
                page_timeout: float | None = None) -> list[RunResult]:
    """Open each page once, in order, in one session; return one RunResult per page.

    ``pages``: url paths (or titles); default: the default page, then every other listed page in
    navigation order. ``timeout`` bounds the whole visit; a page that does not finish in time (or
    ``page_timeout``) gets a result with status ``TIMEOUT`` and the visit goes on while time is left.
    ``progress(done, total, page)`` is called before each page opens (``done`` pages finished so far,
    ``page`` the url path about to open, "(default page)" for ``""``) and once at the end with
    ``page=""`` and ``done == total``; ``total`` grows once the first run has listed the pages.
    Synchronous, with its own event loop
    (a new thread if the caller's thread already runs one), and it never touches the Streamlit runtime
    of the process it runs in, so a server's background warm-up thread can call it.
    Raises StudentTimeout / OSError only when the websocket cannot be opened at all.
    """
    wanted = None if pages is None else list(pages)

    async def main() -> list[RunResult]:
        deadline = time.monotonic() + timeout

        def left() -> float:
            rest = deadline - time.monotonic()
            return max(0.1, min(rest, page_timeout) if page_timeout else rest)

        student = await Student.connect(base_url, cookies, fetch_cookies=fetch_cookies, timeout=min(timeout, 60))
        results: list[RunResult] = []
        try:
            todo = list(wanted) if wanted is not None else [""]
            i = 0
            while i < len(todo):
                page = todo[i]
                if time.monotonic() >= deadline:
                    results.append(RunResult(page=page, url_pathname=page, status="TIMEOUT",
                                             exceptions=["the visit's deadline passed before this page"]))
                    i += 1
                    continue
                if progress is not None:
                    progress(i, len(todo), page or "(default page)")
                try:
                    result = await student.open(page, timeout=left())
                except StudentTimeout as exc:
                    result = RunResult(page=page, url_pathname=page, status="TIMEOUT",
                                       exceptions=[f"StudentTimeout: {exc}"])
                except (StudentError, ValueError) as exc:
                    result = RunResult(page=page, url_pathname=page, status="ERROR",
                                       exceptions=[f"{type(exc).__name__}: {exc}"])
                    if isinstance(exc, StudentError):  # the websocket is gone: reconnect for the rest
                        await student.close()
                        student = await Student.connect(base_url, cookies, fetch_cookies=fetch_cookies,
                                                        timeout=min(left(), 60))
                results.append(result)
                if wanted is None and i == 0:  # the first run lists the pages
                    todo += [p.url_pathname for p in student.pages
                             if p.url_pathname and p.url_pathname != result.url_pathname]
                i += 1
            if progress is not None:
                progress(len(results), len(todo), "")
        finally:
            await student.close()
        return results

    return _run_sync(main)
