"""Follow the lecturer: one room across every worker (presenter, followers, live questions).

Hooked once in the entrypoint, around the page run (``with follow.room(url_path), urlstate.page_run(...)``):

* **Presenter.** ``?presenter=SECRET`` (printed by ``make classroom``, never shown on a page) is read
  on the first run, removed from the URL at once, and compared in constant time with the configured
  secrets (``DASHBOARD_PRESENTER_SECRET``, comma-separated for several rooms). The presenter's
  session publishes its view (page + query string, :mod:`dashboard.urlstate`) after every run that
  changed it (a new page at the start of its run; a changed control as the page draws it, through
  ``urlstate.ON_RECORD``, so followers do not wait for the presenter's whole run), and draws
  "Presenting" in the sidebar: students following, "Let the room explore freely", "Bring everyone
  back", and live questions (multiple choice, or "click where the heat will be" on the image a page
  offers through :func:`offer_click_image`).
* **Followers.** Every other session follows by default ("Following the lecturer", "Stop
  following"; "Catch up" when not following). Before the page runs, a follower whose room view
  changed loads it (``st.switch_page`` to the page, :func:`urlstate.load_view` for the controls);
  a late joiner's first run does the same. A follower who changes the view while following is
  asked whether to stop following or catch up; the presenter is not fought.
* **Push, not polling.** One :class:`Hub` per worker process holds the room store
  (:mod:`core.room`) and one listener thread; a change of a room wakes that worker's sessions of
  the room (a rerun requested on their AppSession, see :func:`_wake`). Idle sessions cost nothing.
  Where that Streamlit internal is missing (another Streamlit version), followers poll the room's
  version every :data:`POLL_S` seconds in a fragment instead.
* **Store down**: one sentence in the sidebar, pages work unfollowed; following resumes by itself
  (the listener reconnects and wakes the sessions).

Rooms: ``/?room=ID`` joins the room of another secret (``ID`` = :func:`core.room.room_id`); without
it, a student joins the room of the first secret.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import streamlit as st

from core import room as rooms
from core.errors import UserError, markdown_text
from serving import patches

log = logging.getLogger("dashboard.follow")

SECRET_ENV = "DASHBOARD_PRESENTER_SECRET"
REDIS_ENV = "DASHBOARD_REDIS_URL"
PRESENTER_PARAM = "presenter"
ROOM_PARAM = "room"
NOT_IN_VIEW = frozenset({"lecture", PRESENTER_PARAM, ROOM_PARAM})  # per browser, never followed
KEY = "_follow"
POLL_S = 2.0  # fallback only: followers poll the room version this often when sessions cannot be woken
PRESENTER_REFRESH_S = 2.0  # the presenter's count and answers refresh this often (one session per room)
TRACE = os.environ.get("DASHBOARD_FOLLOW_TRACE") == "1"  # log when a change is published, heard, woken, run


def _trace(what: str) -> None:
    if TRACE:
        log.warning("follow-trace %.3f %s %s", time.time(), os.getpid(), what)


# ----------------------------------------------------------------------------- Streamlit internals (serving/patches.py)


def _streamlit_can_wake() -> bool:
    return patches.can_rerun_sessions()


def _page_hash(url_path: str) -> str | None:
    """The script hash Streamlit gives the st.Page at ``url_path`` (what a nav click sends), if built."""
    from dashboard import navigation

    page = navigation.PAGE_OBJECTS.get(url_path)
    if page is None and any(spec.default and spec.url_path == url_path for spec in navigation.PAGES):
        page = navigation.PAGE_OBJECTS.get("")  # the default page's st.Page has the empty url path
    return getattr(page, "_script_hash", None)


def _wake(session_id: str, view: dict | None = None) -> bool:
    """Rerun another session now, with its last client state (what Streamlit's run-on-save does), or,
    given the room's ``view``, straight on that page (one run, not a run of the old page that switches);
    False when the session is gone. Private API: :func:`serving.patches.rerun_session`."""
    return patches.rerun_session(session_id, _page_hash(view["page"]) if view else None)


def _session_id() -> str:
    return patches.current_session_id()


def _session_alive(session_id: str) -> bool:
    return bool(patches.session_is_active(session_id))


# ----------------------------------------------------------------------------- the worker's hub


class Hub:
    """The worker's room store and the one thread that wakes this worker's sessions of a changed room."""

    def __init__(self, store: rooms.RoomStore, secrets: list[str], can_wake: bool) -> None:
        self.store = store
        self.secrets = secrets
        self.default_room = rooms.room_id(secrets[0])
        self.room_ids = {rooms.room_id(s) for s in secrets}
        self.can_wake = can_wake
        self._lock = threading.Lock()
        self._sessions: dict[str, tuple[str, bool]] = {}  # session id -> (room, leads: following, not asked)
        self._stop = threading.Event()
        self.wakes = 0
        if can_wake:
            self._thread = threading.Thread(target=self._listen, name="room-listener", daemon=True)
            self._thread.start()

    def register(self, session_id: str, room: str, following: bool) -> None:
        with self._lock:
            self._sessions[session_id] = (room, following)

    def unregister(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def _listen(self) -> None:
        try:
            self.store.listen(self._changed, self._stop, on_tick=self._tick)
        except Exception:  # noqa: BLE001 - the listener must never take the worker down
            log.exception("room listener stopped")

    def _changed(self, room: str | None) -> None:
        _trace(f"heard {room}")
        with self._lock:
            targets = [(sid, r, leading) for sid, (r, leading) in self._sessions.items() if room is None or r == room]
        views: dict[str, dict | None] = {}
        for sid, r, leading in targets:
            view = None
            if leading:  # following, not asked: wake it straight on the room's view
                if r not in views:
                    try:
                        st_ = self.store.state(r)
                        views[r] = None if st_["free"] else st_["view"]
                    except rooms.RoomUnavailable:
                        views[r] = None
                view = views[r]
            if _wake(sid, view):
                self.wakes += 1
                _trace(f"woke {sid[:8]} room-change={room is not None} on-page={bool(view and view.get('page'))}")
            else:
                self.unregister(sid)

    def _tick(self) -> None:
        """Every few seconds: count this worker's live followers in their rooms, forget closed sessions."""
        with self._lock:
            sessions = dict(self._sessions)
        by_room: dict[str, list[str]] = {}
        for sid, (room, leading) in sessions.items():
            if not _session_alive(sid):
                self.unregister(sid)
                with contextlib.suppress(rooms.RoomUnavailable):
                    self.store.drop_followers(room, [sid])
            elif leading:
                by_room.setdefault(room, []).append(sid)
        for room, sids in by_room.items():
            with contextlib.suppress(rooms.RoomUnavailable):
                self.store.touch_followers(room, sids)


def configured_secrets() -> list[str]:
    return [s.strip() for s in os.environ.get(SECRET_ENV, "").split(",") if len(s.strip()) >= 8]


@st.cache_resource(show_spinner=False)
def hub() -> Hub | None:
    """The worker's hub; None when no presenter secret is configured (nothing to follow)."""
    secrets = configured_secrets()
    if not secrets:
        return None
    try:
        store = rooms.open_store(os.environ.get(REDIS_ENV) or None)
    except UserError as exc:
        log.error("%s; following the lecturer is off", exc)
        return None
    return Hub(store, secrets, _streamlit_can_wake())


# ----------------------------------------------------------------------------- one session


@dataclass
class Follow:
    room: str
    presenter: bool = False
    following: bool = True
    asked: bool = False  # changed the view while following: asked whether to stop following
    applied: tuple[str, int] | None = None  # (epoch, version) of the room this session has caught up with
    recall_seen: tuple[str, int] | None = None  # (epoch, recall count) last seen
    published: dict | None = None  # presenter: the view last published
    live: dict | None = None  # presenter, during a run: the view as the page's controls are drawn
    snapshot: dict | None = None  # follower: the room's view this run started from
    answered: dict = field(default_factory=dict)  # question id -> this browser's answer
    bad_link: bool = False
    touched: float = -1e9
    ask_click: dict | None = None  # presenter: a click question to open on the page's image after this run
    offer: object = None  # presenter: (url path, build) - the page's image for click questions, this run


def _state(h: Hub) -> Follow:
    fs = st.session_state.get(KEY)
    if not isinstance(fs, Follow):
        fs = Follow(room=h.default_room)
        st.session_state[KEY] = fs
    given_room = st.query_params.get(ROOM_PARAM)
    if given_room is not None:
        del st.query_params[ROOM_PARAM]
        if given_room in h.room_ids:
            fs.room = given_room
    secret = st.query_params.get(PRESENTER_PARAM)
    if secret is not None:
        del st.query_params[PRESENTER_PARAM]  # out of the address bar at once
        matched = rooms.secret_matches(secret, h.secrets)
        if matched is not None:
            fs.room, fs.presenter, fs.following = matched, True, False
        else:
            fs.bad_link = True
    return fs


def current_view(url_path: str) -> dict:
    query = {k: st.query_params.get_all(k) for k in st.query_params if k not in NOT_IN_VIEW}
    return rooms.normalise_view(url_path, query)


def _voter(fs: Follow) -> str:
    token = ""
    with contextlib.suppress(Exception):
        token = st.context.cookies.get("_streamlit_xsrf") or ""  # one per browser: two tabs answer once
    return rooms.anonymous_voter(fs.room, token or _session_id())


@contextlib.contextmanager
def room(url_path: str) -> Iterator[None]:
    """Around the page run: follow the room's view before it, publish (presenter) or notice a
    student's own change after it, and draw the room's sidebar and question panel."""
    h = hub()
    if h is None:
        yield
        return
    RerunException, ScriptControlException = patches.script_control_exceptions()

    fs = _state(h)
    sid = _session_id()
    top = st.container()  # above the page: a question, or "you changed the view"
    side = st.sidebar.container()
    if fs.bad_link:
        side.caption("That presenter link is not valid on this server; you are following as a student.")
        fs.bad_link = False
    try:
        state = h.store.state(fs.room)
    except rooms.RoomUnavailable as exc:
        h.register(sid, fs.room, False)  # woken when the store is back
        side.caption(markdown_text(str(exc), limit=300))
        yield
        return
    if fs.presenter:
        h.unregister(sid)
        new_page = (fs.published or {}).get("page") != url_path
        if new_page:  # a new page: the room starts loading it now
            with contextlib.suppress(UserError):
                fs.published = current_view(url_path)
                h.store.publish_view(fs.room, fs.published)
                _trace(f"published page {url_path}")
                state["view"] = fs.published
        # a changed control is shared as the page draws it (_on_record), not after the whole run (once per
        # run: the run's end shares the rest, e.g. a control whose options depend on the changed one)
        fs.live = ({"page": url_path, "query": {k: list(v) for k, v in fs.published["query"].items()}, "state": state}
                   if not new_page and (fs.published or {}).get("page") == url_path else None)
        try:
            yield
        except ScriptControlException as exc:
            fs.live = None
            if not isinstance(exc, RerunException):  # st.stop(): the view still counts
                _presenter_after(h, fs, url_path, state, side, top)
            raise
        fs.live = None
        _presenter_after(h, fs, url_path, state, side, top)
        return

    recall = (state["epoch"], state["recall"])
    if recall != fs.recall_seen:  # "bring everyone back" (the first run, or a new life of the room: no recall)
        if fs.recall_seen is not None and fs.recall_seen[0] == recall[0]:
            fs.following, fs.asked = True, False
        fs.recall_seen = recall
    view = state["view"]
    leading = fs.following and not fs.asked and not state["free"] and view is not None
    fs.snapshot = None
    if leading:
        fs.snapshot = view
        if (state["epoch"], state["version"]) != fs.applied:
            _trace(f"run {sid[:8]} loads version {state['version']} {view['page']} {view['query']}")
            fs.applied = (state["epoch"], state["version"])
            _load(view, url_path)  # may switch page (a rerun of the new page)
    h.register(sid, fs.room, fs.following and not fs.asked)
    if fs.following and time.monotonic() - fs.touched > 5.0:  # counted at once, then by the hub's tick
        with contextlib.suppress(rooms.RoomUnavailable):
            h.store.touch_followers(fs.room, [sid])
            fs.touched = time.monotonic()

    def after() -> None:
        _trace(f"run {sid[:8]} done {url_path}")
        if leading and current_view(url_path) != fs.snapshot:
            fs.asked = True  # the student changed something: ask, do not fight
        _follower_panel(h, fs, state, side, top)

    try:
        yield
    except ScriptControlException as exc:
        if not isinstance(exc, RerunException):
            after()
        raise
    after()


def _on_record(key: str, value: list[str] | None) -> None:
    """urlstate's hook, for every keyed control as it is drawn: the presenter's changed control goes to
    the room at once (the followers' runs start while the presenter's page is still computing)."""
    fs = st.session_state.get(KEY)
    if not isinstance(fs, Follow) or not fs.presenter or fs.live is None:
        return
    query = fs.live["query"]
    if value is None:
        if key not in query:
            return
        del query[key]
    elif query.get(key) == value:
        return
    else:
        query[key] = list(value)
    h = hub()
    if h is None:
        return
    try:
        view = rooms.normalise_view(fs.live["page"], query)
        if view != fs.published:
            h.store.publish_view(fs.room, view)
            fs.published = fs.live["state"]["view"] = view
            _trace(f"published control {key}")
        fs.live = None  # once per run
    except UserError:  # too long to share, or the store is away: _presenter_after says so after the run
        pass


def _install_hook() -> None:
    from dashboard import urlstate

    urlstate.ON_RECORD = _on_record


_install_hook()


def offer_click_image(url_path: str, build) -> None:
    """Called by a page with an image (the Grad-CAM page): ``build(template)`` opens a click question of
    the bank on the page's current image with its computed answer (:func:`core.questions.gradcam_click`).
    Only the presenter's session keeps it, and ``build`` runs only when the presenter asks."""
    fs = st.session_state.get(KEY)
    if isinstance(fs, Follow) and fs.presenter:
        fs.offer = (url_path, build)


def _load(view: dict, url_path: str) -> None:
    from dashboard import navigation, urlstate

    query = {k: list(v) for k, v in view["query"].items()}
    urlstate.load_view(query)
    if view["page"] != url_path:
        page = navigation.PAGE_OBJECTS.get(view["page"])
        if page is None and any(spec.default and spec.url_path == view["page"] for spec in navigation.PAGES):
            page = navigation.PAGE_OBJECTS.get("")  # the default page's st.Page has the empty url path
        if page is not None:
            keep = {k: st.query_params.get_all(k) for k in st.query_params if k in NOT_IN_VIEW}
            st.switch_page(page, query_params={**{k: v[0] if len(v) == 1 else v for k, v in keep.items()},
                                               **{k: v[0] if len(v) == 1 else v for k, v in query.items()}})


# ----------------------------------------------------------------------------- followers' side


def _catch_up() -> None:
    fs = st.session_state.get(KEY)
    if isinstance(fs, Follow):
        fs.following, fs.asked, fs.applied = True, False, None


def _stop_following() -> None:
    fs = st.session_state.get(KEY)
    if isinstance(fs, Follow):
        fs.following, fs.asked = False, False


def _follower_panel(h: Hub, fs: Follow, state: dict, side, top) -> None:
    with side:
        if fs.following and state["free"]:
            st.markdown(":material/explore: **Exploring freely**: the lecturer lets the room look around.")
        elif fs.following and not fs.asked:
            st.markdown(":material/cast: **Following the lecturer**")
            st.button("Stop following", key="_follow_stop", on_click=_stop_following, width="stretch",
                      help="Look around on your own; “Catch up” brings you back to the lecturer's view.")
        else:
            st.markdown(":material/cast: Not following the lecturer")
            st.button("Catch up", key="_follow_catch_up", on_click=_catch_up, type="primary", width="stretch",
                      help="Go to the lecturer's page and view, and follow again.")
    if fs.asked:
        with top:
            st.warning("You changed the view while following the lecturer. Keep exploring on your own, "
                       "or catch up with the lecturer?", icon=":material/cast:")
            a, b = st.columns(2)
            a.button("Stop following", key="_follow_ask_stop", on_click=_stop_following, width="stretch")
            b.button("Catch up", key="_follow_ask_catch_up", on_click=_catch_up, type="primary", width="stretch")
    question = state.get("question")
    if question:
        with top:
            if question.get("kind") == "click":
                _student_click(h, fs, question)
            else:
                _student_question(h, fs, question)
    if not h.can_wake:
        _poll_fallback(h, fs, (state["epoch"], state["version"]))


def _poll_fallback(h: Hub, fs: Follow, version: tuple[str, int]) -> None:
    @st.fragment(run_every=POLL_S)
    def poll() -> None:
        with contextlib.suppress(rooms.RoomUnavailable):
            now = h.store.state(fs.room)
            if (now["epoch"], now["version"]) != version:
                st.rerun(scope="app")

    poll()


def _student_question(h: Hub, fs: Follow, question: dict) -> None:
    from core import questions as bank

    qid = question["id"]
    with st.container(border=True):
        st.markdown(f":material/quiz: **Question from the lecturer:** {markdown_text(question['prompt'], 300)}")
        mine = fs.answered.get(qid)
        slot = st.empty()
        if mine is None:
            with slot.form(f"_q_form_{qid}", border=False):
                choice = st.radio("Your answer", question["options"], index=None, key=f"_q_{qid}",
                                  label_visibility="collapsed")
                sent = st.form_submit_button("Answer", type="primary")
            if sent:
                if choice is None:
                    st.caption("Pick one of the answers first.")
                else:
                    try:
                        h.store.answer(fs.room, qid, _voter(fs), choice)
                        fs.answered[qid] = choice
                        mine = choice
                        slot.empty()  # answered once: the choices go away
                    except rooms.RoomUnavailable as exc:
                        st.caption(markdown_text(str(exc), limit=300))
        if mine is not None:
            st.caption(f"Your answer is in: **{markdown_text(mine)}** (anonymous).")
        if question.get("revealed"):
            st.success(f"Answer: **{markdown_text(question['answer'], 200)}**. {markdown_text(bank.explanation(question), 400)}")


def _student_click(h: Hub, fs: Follow, question: dict) -> None:
    """A click question: the image with a grid of click targets; one click per browser, then the
    computed heat once the presenter reveals it."""
    qid = question["id"]
    with st.container(border=True):
        st.markdown(f":material/ads_click: **Question from the lecturer:** {markdown_text(question['prompt'], 300)}"
                    + (f" (class: {markdown_text(question['about'], 100)})" if question.get("about") else ""))
        mine = fs.answered.get(qid)
        if mine is None:
            event = st.plotly_chart(click_figure(question, clickable=True), key=f"_q_click_{qid}", on_select="rerun",
                                    selection_mode="points", config={"displayModeBar": False})
            points = list(getattr(getattr(event, "selection", None), "points", None) or [])
            if points:
                mine = _record_click(h, fs, question, points[0])
            else:
                st.caption("Click once on the image (anonymous; the first click counts).")
        if mine is not None:
            st.caption(f"Your click is in: row {mine[0] + 1}, column {mine[1] + 1} (anonymous).")
        if question.get("revealed"):
            st.success(f"Answer: {markdown_text(question['answer'], 200)}. {markdown_text(question.get('why', ''), 400)}")
            st.plotly_chart(click_figure(question, z=question["heat"], colours=HEAT_COLOURS),
                            key=f"_q_heat_{qid}", config={"displayModeBar": False})


def _record_click(h: Hub, fs: Follow, question: dict, point: dict) -> list[int] | None:
    """Store the clicked cell (a point of the grid: its index) as this browser's answer; None if invalid."""
    from core import questions as bank

    grid = int(question.get("grid", bank.CLICK_GRID))
    try:
        index = int(point.get("point_index", point.get("point_number")))
    except (TypeError, ValueError, AttributeError):
        return None
    if not 0 <= index < grid * grid:
        return None
    cell = list(divmod(index, grid))
    try:
        h.store.answer(fs.room, question["id"], _voter(fs), cell)
    except rooms.RoomUnavailable as exc:
        st.caption(markdown_text(str(exc), limit=300))
        return None
    fs.answered[question["id"]] = cell
    return cell


CLICK_COLOURS = [[0.0, "rgba(0,0,0,0)"], [1e-6, "rgba(255,230,0,0.45)"], [1.0, "rgba(220,0,0,0.85)"]]
HEAT_COLOURS = [[0.0, "rgba(0,0,80,0.15)"], [0.5, "rgba(255,160,0,0.55)"], [1.0, "rgba(220,0,0,0.8)"]]


def click_figure(question: dict, z=None, clickable: bool = False, colours=None, side: int = 420):
    """The question's image at ``side`` px wide; ``z`` (grid x grid) drawn over it as a heat; with
    ``clickable`` a grid of faint square targets, one per cell, whose point index is the cell."""
    import plotly.graph_objects as go

    from core import questions as bank

    g = int(question.get("grid", bank.CLICK_GRID))
    w, hgt = int(question.get("width", 1)), int(question.get("height", 1))
    xs = [(c + 0.5) * w / g for c in range(g)]
    ys = [(r + 0.5) * hgt / g for r in range(g)]
    fig = go.Figure()
    fig.add_layout_image(source="data:image/jpeg;base64," + str(question.get("image", "")), xref="x", yref="y",
                         x=0, y=0, sizex=w, sizey=hgt, sizing="stretch", layer="below")
    if z is not None:
        fig.add_trace(go.Heatmap(z=z, x=xs, y=ys, zmin=0, colorscale=colours or CLICK_COLOURS, showscale=False,
                                 hoverinfo="skip"))
    if clickable:
        fig.add_trace(go.Scatter(x=[x for _ in ys for x in xs], y=[y for y in ys for _ in xs], mode="markers",
                                 marker=dict(symbol="square", size=max(8, side // g - 4), color="white", opacity=0.12,
                                             line=dict(width=1, color="rgba(0,0,0,0.3)")),
                                 hoverinfo="none", showlegend=False))
    fig.update_xaxes(range=[0, w], visible=False, fixedrange=True)
    fig.update_yaxes(range=[hgt, 0], visible=False, fixedrange=True)
    fig.update_layout(width=side, height=max(60, int(side * hgt / max(1, w))), margin=dict(l=0, r=0, t=0, b=0),
                      dragmode=False, clickmode="event+select", showlegend=False)
    return fig


# ----------------------------------------------------------------------------- the presenter's side


def _presenter_after(h: Hub, fs: Follow, url_path: str, state: dict, side, top) -> None:
    try:
        view = current_view(url_path)
        if view != fs.published or state["view"] != view:
            h.store.publish_view(fs.room, view)
            fs.published = view
            _trace(f"published after the run {url_path}")
    except UserError as exc:  # a store that went away, or a view too long to share
        side.caption(markdown_text(str(exc), limit=300))
    if fs.ask_click is not None:  # "Ask the room" on a click question: open it on this run's image
        template, fs.ask_click = fs.ask_click, None
        offer, fs.offer = fs.offer, None
        if not offer or offer[0] != url_path:
            side.caption("This page offers no image for that question.")
        else:
            try:
                with st.spinner("Computing the answer (Grad-CAM) ..."):
                    h.store.open_question(fs.room, offer[1](template))
            except UserError as exc:
                side.caption(markdown_text(str(exc), limit=300))
    fs.offer = None
    with side:
        _presenter_panel(h, fs, url_path)
    with top:
        _presenter_question(h, fs)


def _set_free() -> None:
    h, fs = hub(), st.session_state.get(KEY)
    if h is not None and isinstance(fs, Follow) and fs.presenter:
        with contextlib.suppress(rooms.RoomUnavailable):
            h.store.set_free(fs.room, bool(st.session_state.get("_follow_free")))


def _recall() -> None:
    h, fs = hub(), st.session_state.get(KEY)
    if h is not None and isinstance(fs, Follow) and fs.presenter:
        with contextlib.suppress(rooms.RoomUnavailable):
            h.store.recall(fs.room)
        st.session_state["_follow_free"] = False


def _ask(question: dict) -> None:
    h, fs = hub(), st.session_state.get(KEY)
    if h is not None and isinstance(fs, Follow) and fs.presenter:
        if question.get("kind") == "click":  # opened after the page ran, on its image (offer_click_image)
            fs.ask_click = question
            return
        with contextlib.suppress(rooms.RoomUnavailable):
            h.store.open_question(fs.room, question)


def _presenter_panel(h: Hub, fs: Follow, url_path: str) -> None:
    from core import questions as bank

    @st.fragment(run_every=PRESENTER_REFRESH_S)
    def count() -> None:
        try:
            n = h.store.count_followers(fs.room)
            st.markdown(f":material/cast_for_education: **Presenting** · {n} student{'s' if n != 1 else ''} following")
        except rooms.RoomUnavailable as exc:
            st.markdown(":material/cast_for_education: **Presenting**")
            st.caption(markdown_text(str(exc), limit=300))

    count()
    st.toggle("Let the room explore freely", key="_follow_free", on_change=_set_free,
              help="Students keep their own view until you bring everyone back.")
    st.button("Bring everyone back", key="_follow_recall", on_click=_recall, width="stretch",
              help="Every student follows you again, also those who stopped following.")
    questions = bank.for_page(url_path)
    if questions:
        titles = [q["prompt"] for q in questions]
        pick = st.selectbox("Question for the room", range(len(titles)), format_func=lambda i: titles[i],
                            key=f"_follow_pick_{url_path}")
        st.button("Ask the room", key="_follow_ask", on_click=_ask, args=(questions[pick or 0],), type="primary",
                  width="stretch")


def _close() -> None:
    h, fs = hub(), st.session_state.get(KEY)
    if h is not None and isinstance(fs, Follow) and fs.presenter:
        with contextlib.suppress(rooms.RoomUnavailable):
            h.store.close_question(fs.room)


def _reveal(qid: str) -> None:
    h, fs = hub(), st.session_state.get(KEY)
    if h is not None and isinstance(fs, Follow) and fs.presenter:
        with contextlib.suppress(rooms.RoomUnavailable):
            h.store.reveal_question(fs.room, qid)


def _presenter_question(h: Hub, fs: Follow) -> None:
    @st.fragment(run_every=PRESENTER_REFRESH_S)
    def live() -> None:
        from core import questions as bank

        try:
            question = h.store.state(fs.room)["question"]
            if not question:
                return
            answers = h.store.answers(fs.room, question["id"])
        except rooms.RoomUnavailable as exc:
            st.caption(markdown_text(str(exc), limit=300))
            return
        if question.get("kind") == "click":
            _presenter_clicks(question, answers)
            return
        with st.container(border=True):
            n = len(answers)
            st.markdown(f":material/quiz: **{markdown_text(question['prompt'], 300)}** · "
                        f"{n} answer{'s' if n != 1 else ''}")
            counts = bank.tally(question, answers)
            st.plotly_chart(answer_bars(counts, question["answer"] if question.get("revealed") else None),
                            key=f"_follow_bars_{question['id']}_{n}_{question.get('revealed')}")
            a, b = st.columns(2)
            if question.get("revealed"):
                a.success(f"Answer: **{markdown_text(question['answer'], 200)}**. {markdown_text(bank.explanation(question), 400)}")
            else:
                a.button("Reveal the answer", key="_follow_reveal", on_click=_reveal, args=(question["id"],),
                         type="primary", width="stretch")
            b.button("Close the question", key="_follow_close", on_click=_close, width="stretch")

    live()


def _presenter_clicks(question: dict, answers: list) -> None:
    """The room's clicks as a heat on the image as they arrive; revealed, the computed map next to it."""
    from core import questions as bank

    counts = bank.click_counts(question, answers)
    n = int(counts.sum())
    revealed = bool(question.get("revealed"))
    with st.container(border=True):
        st.markdown(f":material/ads_click: **{markdown_text(question['prompt'], 300)}** · {n} click{'s' if n != 1 else ''}"
                    + (f" (class: {markdown_text(question['about'], 100)})" if question.get("about") else ""))
        left, right = st.columns(2)
        with left:
            st.caption("Where the room clicked")
            st.plotly_chart(click_figure(question, z=counts.tolist()), key=f"_follow_clicks_{question['id']}_{n}",
                            config={"displayModeBar": False})
        with right:
            if revealed:
                hits, total = bank.click_hits(question, answers)
                st.caption(f"Grad-CAM, computed: {hits} of {total} clicks on the hot cells")
                st.plotly_chart(click_figure(question, z=question["heat"], colours=HEAT_COLOURS),
                                key=f"_follow_heat_{question['id']}", config={"displayModeBar": False})
            else:
                st.button("Reveal the answer", key="_follow_reveal", on_click=_reveal, args=(question["id"],),
                          type="primary", width="stretch")
        st.button("Close the question", key="_follow_close", on_click=_close, width="stretch")


def answer_bars(counts: dict[str, int], answer: str | None):
    """The room's answers per option as horizontal bars; the computed answer in green once revealed."""
    import plotly.graph_objects as go

    labels = list(counts)
    colours = ["#2e7d32" if answer is not None and o == answer else "#1f77b4" for o in labels]
    fig = go.Figure(go.Bar(x=[counts[o] for o in labels], y=[o if len(o) <= 60 else o[:57] + "…" for o in labels],
                           orientation="h", marker_color=colours, text=[counts[o] for o in labels],
                           textposition="auto"))
    fig.update_layout(height=60 + 48 * len(labels), margin=dict(l=10, r=10, t=10, b=30),
                      xaxis=dict(title="answers", rangemode="tozero", dtick=1 if max(counts.values(), default=0) < 10 else None),
                      yaxis=dict(autorange="reversed"))
    return fig
