"""Shareable views (TF Playground style): every keyed control of a page lives in the URL's query string.

One mechanism for every page, driven by widget keys, hooked once in the entrypoint:

* :func:`install` wraps Streamlit's value widgets (slider, selectbox, radio, text_input, …) once per
  process. The wrapper does nothing unless the entrypoint is running a page for this session
  (:func:`page_run`), and never touches a widget without a ``key=`` or whose key starts with "_".
* **Restore on load**: the first run of a page in a session reads the query string. When a widget
  with that key is created, the value is checked against the widget's own arguments (range, step,
  options, max_chars) and put in ``st.session_state[key]`` just before the widget reads it. Values
  out of range are clamped, unknown options / NaN / non-numbers are ignored, long text is cut — each
  with a note in the sidebar; nothing raises. A parameter no control of the page claims is dropped
  with a note.
* **Keep in the URL**: after each run the query string holds every keyed control whose value differs
  from its default (defaults are left out, so links stay short), plus the parameters others own:
  ``?lecture=1`` (lecture mode) and the neuron gallery's ``?layer=…&channel=…`` (that page manages its
  URL itself and is left alone).
* A "Copy link to this view" popover in the sidebar shows the link with a copy button.

Everything per session lives in ``st.session_state[STATE]``; the wrapper is stateless, so sessions
served by the same process never see each other's values.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import streamlit as st

from serving import patches

STATE = "_urlstate"
RESERVED = frozenset({"lecture", "layer", "channel"})  # owned by lecture mode and the neuron gallery
OWN_URL_PAGES = frozenset({"neuron-gallery"})  # pages that keep their own query string
WIDGETS = ("slider", "select_slider", "selectbox", "radio", "number_input", "text_input", "text_area", "checkbox",
           "toggle", "segmented_control", "multiselect", "pills", "color_picker", "tabs")
# st.tabs with a key tracks the open tab (its label, in session state); it returns containers, not a value
MAX_TEXT = 2000  # characters of a text control restored from a link (unless the widget says fewer)
MAX_RAW = 20_000  # a query value longer than this is not even parsed
UNBOUNDED = 2 ** 53 - 1  # number inputs without bounds: what the browser can represent exactly
SHOWN = 40  # characters of a hostile value quoted in a note
# Called as ON_RECORD(key, value or None at its default) for every keyed control a page draws, as it is
# drawn (dashboard/follow.py: the presenter's view is shared as soon as a control changed, not after the run).
ON_RECORD = None


@dataclass
class _Session:
    page: str | None = None
    pending: dict[str, list[str]] = field(default_factory=dict)  # key -> raw values from the link
    notes: list[str] = field(default_factory=list)
    recorded: dict[str, list[str]] = field(default_factory=dict)  # this run: key -> non-default value
    active: bool = False


def _session() -> _Session | None:
    try:
        state = st.session_state.get(STATE)
    except Exception:  # noqa: BLE001 - no session (bare import): the wrapper must stay inert
        return None
    return state if isinstance(state, _Session) and state.active else None


def _short(text: str) -> str:
    """A link value or name for a note, quoted and inert: notes are rendered as Markdown, so
    ``[Log in again](http://...)`` or ``![](http://.../p.png)`` in a link must stay text (no live link, no
    image fetched by every visitor's browser)."""
    from core.errors import markdown_text

    return "'" + markdown_text(str(text), SHOWN) + "'"


# ----------------------------------------------------------------------------- values <-> strings


def _serialize(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [_one(v) for v in value]
    return [_one(value)]


def _one(v: Any) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        return repr(v)  # round-trips exactly
    return str(v)


def _numeric_kind(args: dict) -> type:
    values = [args.get(n) for n in ("value", "min_value", "max_value", "step")]
    flat = [x for v in values for x in (v if isinstance(v, (list, tuple)) else [v])]
    return float if any(isinstance(x, float) for x in flat) else int


class _Reject(ValueError):
    """A link value that cannot be used: ``str(exc)`` is the note."""


def _number(raw: str, kind: type, lo, hi, step, name: str, notes: list[str]):
    try:
        x = float(raw)
    except ValueError:
        raise _Reject(f"{name}: {_short(raw)} is not a number") from None
    if not math.isfinite(x):
        raise _Reject(f"{name}: {_short(raw)} is not a finite number")
    lo_b = -UNBOUNDED if lo is None else lo
    hi_b = UNBOUNDED if hi is None else hi
    clamped = min(max(x, lo_b), hi_b)
    if step and lo is not None:  # onto the widget's grid
        clamped = lo + math.floor((clamped - lo) / step + 0.5) * step  # halves up, as a reader expects
        clamped = min(max(clamped, lo_b), hi_b)
    value = int(math.floor(clamped + 0.5)) if kind is int else round(float(clamped), 12)
    if value != x:
        notes.append(f"{name}: {_short(raw)} set to {value} (the control allows {lo_b:g} to {hi_b:g}"
                     + (f" in steps of {step:g}" if step else "") + ")")
    return value


def _option(raw: str, options: list, name: str):
    for o in options:
        if _one(o) == raw:
            return o
    raise _Reject(f"{name}: {_short(raw)} is not one of its options")


def _coerce(kind: str, args: dict, raw: list[str], name: str, notes: list[str]):
    """The widget value for ``raw`` (query values), checked against the widget's arguments."""
    raw = [r for r in raw if len(r) <= MAX_RAW] if any(len(r) > MAX_RAW for r in raw) else raw
    if not raw:
        raise _Reject(f"{name}: the value is too long to use")
    if kind in ("slider", "number_input"):
        num = _numeric_kind(args)
        lo, hi = args.get("min_value"), args.get("max_value")
        if kind == "slider" and lo is None:
            lo = 0 if num is int else 0.0
        if kind == "slider" and hi is None:
            hi = 100 if num is int else 1.0
        step = args.get("step") or (1 if num is int else (0.01 if kind == "slider" else None))
        value = args.get("value")
        parts = raw[0].split(",") if len(raw) == 1 and isinstance(value, (list, tuple)) else raw
        if isinstance(value, (list, tuple)):  # a range slider
            if len(parts) != 2:
                raise _Reject(f"{name}: a range needs two numbers")
            a, b = (_number(p, num, lo, hi, step, name, notes) for p in parts)
            return (min(a, b), max(a, b))
        if value is not None and not isinstance(value, (int, float)) and value != "min":
            raise _Reject(f"{name}: this kind of value cannot come from a link")
        return _number(raw[0], num, lo, hi, step, name, notes)
    if kind in ("selectbox", "radio"):
        return _option(raw[0], list(args.get("options") or []), name)
    if kind == "tabs":
        return _option(raw[0], list(args.get("tabs") or []), name)
    if kind == "select_slider":
        options = list(args.get("options") or [])
        if isinstance(args.get("value"), (list, tuple)):
            parts = raw[0].split(",") if len(raw) == 1 else raw
            picked = sorted((_option(p, options, name) for p in parts[:2]), key=options.index)
            if len(picked) != 2:
                raise _Reject(f"{name}: a range needs two options")
            return tuple(picked)
        return _option(raw[0], options, name)
    if kind in ("segmented_control", "pills", "multiselect"):
        options = list(args.get("options") or [])
        multi = kind == "multiselect" or args.get("selection_mode") == "multi"
        if not multi:
            return _option(raw[0], options, name)
        picked, dropped = [], []
        for r in raw:
            try:
                o = _option(r, options, name)
            except _Reject:
                dropped.append(r)
                continue
            if o not in picked:
                picked.append(o)
        cap = args.get("max_selections")
        if cap and len(picked) > cap:
            notes.append(f"{name}: kept the first {cap} of {len(picked)} choices")
            picked = picked[:cap]
        if dropped:
            notes.append(f"{name}: ignored {', '.join(_short(d) for d in dropped[:3])} (not among its options)")
        return picked
    if kind in ("text_input", "text_area"):
        cap = min(args.get("max_chars") or MAX_TEXT, MAX_TEXT)
        text = raw[0]
        if len(text) > cap:
            notes.append(f"{name}: the text from the link was cut to {cap} characters")
            text = text[:cap]
        return text
    if kind in ("checkbox", "toggle"):
        low = raw[0].strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise _Reject(f"{name}: {_short(raw[0])} is not on/off (use 1 or 0)")
    if kind == "color_picker":
        text = raw[0]
        if len(text) == 7 and text[0] == "#" and all(c in "0123456789abcdefABCDEF" for c in text[1:]):
            return text
        raise _Reject(f"{name}: {_short(text)} is not a colour like #ff8800")
    raise _Reject(f"{name}: cannot be set from a link")


def _default(kind: str, args: dict) -> Any:
    """The value the widget shows when nothing is set (what is left out of the URL)."""
    if kind in ("selectbox", "radio"):
        options, index = list(args.get("options") or []), args.get("index", 0)
        return options[index] if index is not None and 0 <= index < len(options) else None
    if kind == "tabs":
        tabs = list(args.get("tabs") or [])
        return args.get("default") or (tabs[0] if tabs else None)
    if kind in ("segmented_control", "pills", "multiselect"):
        d = args.get("default")
        multi = kind == "multiselect" or args.get("selection_mode") == "multi"
        if multi:
            return [] if d is None else (list(d) if isinstance(d, (list, tuple)) else [d])
        return d
    if kind == "number_input":
        value = args.get("value", "min")
        return (args.get("min_value") if args.get("min_value") is not None else 0) if value == "min" else value
    if kind == "slider":
        value = args.get("value")
        return args.get("min_value") if value is None else value
    if kind == "select_slider":
        value = args.get("value")
        options = list(args.get("options") or [])
        return options[0] if value is None and options else value
    return args.get("value")


# ----------------------------------------------------------------------------- the wrapper


def _wrap(kind: str, fn):
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def widget(self, *args, **kwargs):
        session = _session()
        if session is None:
            return fn(self, *args, **kwargs)
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError:
            return fn(self, *args, **kwargs)
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        key = arguments.get("key")
        if not isinstance(key, str) or key.startswith("_") or key in RESERVED:
            return fn(self, *args, **kwargs)
        name = str(arguments.get("label") or key)[:SHOWN]
        if key in session.pending:
            raw = session.pending.pop(key)
            try:
                st.session_state[key] = _coerce(kind, arguments, raw, f"“{name}”", session.notes)
            except _Reject as exc:
                session.notes.append(str(exc))
        result = value = fn(self, *args, **kwargs)
        if kind == "tabs":  # the open tab's label, which the tabs keep in session state under their key
            value = st.session_state.get(key)
        try:
            shown, default = _serialize(value), _serialize(_default(kind, arguments))
        except Exception:  # noqa: BLE001 - a value we cannot write down stays out of the URL
            return result
        if shown != default and (value is not None or kind != "tabs"):
            session.recorded[key] = shown
        if ON_RECORD is not None:
            ON_RECORD(key, shown if shown != default else None)
        return result

    widget._urlstate = True  # type: ignore[attr-defined]
    return widget


def install() -> None:
    """Wrap the value widgets once per process (idempotent)."""
    from streamlit import config

    # A control restored from the link has a default in the page's code *and* a value set through
    # session state, on purpose: without this, Streamlit logs a warning with a stack trace for it.
    config.set_option("global.disableWidgetStateDuplicationWarning", True)
    for kind in WIDGETS:  # Streamlit's internals: serving/patches.py
        patches.wrap_element(kind, functools.partial(_wrap, kind), "_urlstate")


# ----------------------------------------------------------------------------- one page run


def _query() -> dict[str, list[str]]:
    return {k: st.query_params.get_all(k) for k in st.query_params}


@contextlib.contextmanager
def page_run(url_path: str) -> Iterator[None]:
    """Around ``page.run()``: restore the page's controls from the link on its first run in this
    session, and write them back to the URL after every run (also when the page stops early)."""
    session = st.session_state.get(STATE)
    if not isinstance(session, _Session):
        session = _Session()
        st.session_state[STATE] = session
    if url_path in OWN_URL_PAGES:
        session.page, session.pending, session.notes = url_path, {}, []
        yield
        return
    if session.page != url_path:  # a new page (or a new session): what the link says
        stale = set(session.recorded) if session.page is not None else set()  # the previous page's own values
        session.page = url_path
        session.pending = {k: v for k, v in _query().items() if k not in RESERVED and k not in stale}
        session.notes = []
    session.recorded = {}
    session.active = True
    completed = False
    try:
        yield
        completed = True
    finally:
        session.active = False
        if completed and session.pending:  # no control of this page claimed them
            names = ", ".join(_short(k) for k in list(session.pending)[:5])
            session.notes.append(f"ignored {names}: no control of this page has that name")
            session.pending = {}
        _write_back(session)


def _write_back(session: _Session) -> None:
    """Rewrite the query string once, as a whole (each ``del st.query_params[k]`` sends the whole remaining
    query to the browser: a link of 999 unknown parameters cost 1,114 messages and 25 MB)."""
    wanted = dict(session.recorded)
    wanted.update(session.pending)  # not reached yet (the page stopped early): keep them in the link
    current = _query()
    new = {k: v for k, v in current.items() if k in RESERVED and k not in wanted}
    new.update(wanted)
    if new == current:
        return
    st.query_params.from_dict({k: v if len(v) != 1 else v[0] for k, v in new.items()})


def share_url(url_path: str, lecture: bool = False) -> str:
    """The link to this view: the app's URL, the page, and the query string as it is now (the open tab
    included). ``?lecture=1`` only when ``lecture``: a link pasted into the course notes must open the
    student view, whatever mode the person who copied it was in."""
    items = [(k, v) for k, values in _query().items() if k != "lecture" for v in values]
    if lecture:
        items.insert(0, ("lecture", "1"))
    query = urlencode(items)
    base = ""
    with contextlib.suppress(Exception):
        base = (st.context.url or "").split("?")[0]
    if not base:
        base = "/" + url_path
    return base + ("?" + query if query else "")


def sidebar(placeholder, url_path: str) -> None:
    """Fill ``placeholder`` (made in the sidebar before the page ran): the notes about the link,
    and the "Copy link to this view" popover."""
    session = st.session_state.get(STATE)
    with placeholder.container():
        if isinstance(session, _Session) and session.notes:
            st.warning("From the link: " + "; ".join(session.notes[:6]) + ".", icon=":material/link:")
        with st.popover("Copy link to this view", icon=":material/link:", width="stretch"):
            st.caption("Every control of this page and the open tab are in the link (values at their defaults "
                       "are left out). The copy button is at the right of the box.")
            st.code(share_url(url_path), language=None, wrap_lines=True)
            from dashboard.components import lecture_mode

            if lecture_mode():
                st.caption("The link above opens the student view. For the projector (lecture mode):")
                st.code(share_url(url_path, lecture=True), language=None, wrap_lines=True)


def load_view(query: dict[str, list[str]]) -> None:
    """Show the view ``query`` (a page's query string, without the reserved parameters) on this run,
    as if its link had just been opened: the query string becomes ``query`` (reserved parameters such
    as ``?lecture=1`` are kept), the next :func:`page_run` restores the controls from it, and controls
    it leaves out go back to their defaults. Used to follow the lecturer (dashboard/follow.py)."""
    session = st.session_state.get(STATE)
    if isinstance(session, _Session):
        for key in set(session.recorded) | set(session.pending):
            if key not in query:
                st.session_state.pop(key, None)
        session.page, session.recorded, session.pending = None, {}, {}
    current = _query()
    for k in [k for k in current if k not in RESERVED and k not in query]:
        del st.query_params[k]
    for k, v in query.items():
        if k not in RESERVED and current.get(k) != v:
            st.query_params[k] = v if len(v) != 1 else v[0]
