"""The lecture path in the app: a "Slide k / N  ‹ ›" control that walks ``core/lecture.toml``.

Hooked once in the entrypoint, before the page runs. A step opens its page with its preset view (the
query string the page's URL state restores), so whatever follows the presenter's view sees the same
thing. ‹ and › also answer the left and right arrow keys. The current step is this session's only: it
follows the page when someone navigates by hand (the first step of that page).

Lecture mode shows the control as a bar above the page with the slide's claim in one line and the
check question folded (predict, then reveal); otherwise it sits in the sidebar.
"""

from __future__ import annotations

import contextlib

import streamlit as st

from core import lecture
from dashboard import navigation, urlstate

STEP = "_lecture_step"  # index into lecture.steps() for this session


def _page_object(url_path: str):
    """The st.Page the entrypoint built for ``url_path`` (the default page is registered under "")."""
    spec = next(s for s in navigation.PAGES if s.url_path == url_path)
    for page in navigation.PAGE_OBJECTS.values():
        if page.title == spec.title:
            return page
    return str(spec.path)


def current_index(url_path: str) -> int:
    """This session's step; when the page was changed by hand, the first step of the page shown."""
    steps = lecture.steps()
    home = navigation.PAGES[0].url_path
    if STEP not in st.session_state and url_path == home:
        st.session_state[STEP] = -1  # a fresh session on Home: before the first step, "›" opens it
    k = st.session_state.get(STEP, 0)
    if k == -1 and url_path == home:
        return -1
    k = k if isinstance(k, int) and 0 <= k < len(steps) else 0
    if steps[k].page != url_path and url_path != home:
        on_page = [i for i, s in enumerate(steps) if s.page == url_path]
        k = next((i for i in on_page if i >= k), on_page[0] if on_page else k)
    st.session_state[STEP] = k
    return k


def go(k: int, lecture_mode: bool) -> None:
    """Open step ``k``: its page with its preset view, every other control of the page at its default."""
    steps = lecture.steps()
    k = max(0, min(len(steps) - 1, k))
    step = steps[k]
    state = st.session_state.get(urlstate.STATE)
    if isinstance(state, urlstate._Session):
        for key in list(state.recorded):  # this view's off-default values: back to the defaults
            st.session_state.pop(key, None)
        state.page = None  # so the next run reads the step's query, also on the same page
        state.recorded = {}
    for key in step.params:  # a value the session holds would win over the link's
        st.session_state.pop(key, None)
    st.session_state[STEP] = k
    query = dict(step.params)
    if lecture_mode:
        query["lecture"] = "1"
    st.switch_page(_page_object(step.page), query_params=query)


def control(url_path: str, lecture_mode: bool) -> None:
    """Draw the control (a bar above the page in lecture mode, the sidebar otherwise) and act on it."""
    steps = lecture.steps()
    k = current_index(url_path)
    where = st.container() if lecture_mode else st.sidebar.container(border=True)
    with where:
        back, label, forward = st.columns([1, 10, 1] if lecture_mode else [2, 6, 2], vertical_alignment="center")
        prev = back.button("‹", key="_lecture_prev", shortcut="ArrowLeft", disabled=k <= 0,
                           help="Previous step of the lecture (←)", width="stretch")
        nxt = forward.button("›", key="_lecture_next", shortcut="ArrowRight", disabled=k == len(steps) - 1,
                             help="Next step of the lecture (→)", width="stretch")
        if k < 0:
            label.markdown(f"**The lecture path: {len(steps)} steps** · › (or →) opens the first slide")
    if k < 0:
        if nxt:
            go(0, lecture_mode)
        return
    step = steps[k]
    with where:
        title = f"**Slide {k + 1} / {len(steps)}** · {step.slide}" + (f" — {step.section}" if step.section else "")
        if lecture_mode:
            label.markdown(title)
            label.caption(step.claim)
        else:
            label.markdown(f"**Slide {k + 1} / {len(steps)}**")
            st.caption(step.slide + (f" — {step.section}" if step.section else ""))
        with st.expander("What to try · check question", expanded=False):
            if not lecture_mode:
                st.markdown(step.claim)
            st.markdown(f"**Try:** {step.try_}")
            st.markdown(f"**Check:** {step.question}")
            if st.toggle("Reveal the answer", key=f"_lecture_reveal_{k}"):
                st.success(step.answer)
    if prev:
        go(k - 1, lecture_mode)
    if nxt:
        go(k + 1, lecture_mode)


# ----------------------------------------------------------------------------- picture first (lecture mode)


def stage():
    """Call right after a page's title: in lecture mode, a container there for the page's picture (drawn
    later, once it is computed), so the picture sits above the formulas and controls, in the first screen,
    and stays in view after Run. ``None`` otherwise (the picture stays where the page draws it)."""
    from dashboard import components

    # keyed (class st-key-lecture_stage) so benchmarks/walk_lecture.py finds the step's picture in it
    return st.container(key="lecture_stage") if components.lecture_mode() else None


def focus(url_path: str, sections: dict[str, str], default: str) -> str | None:
    """A page with several slides: which of its sections this session's step puts on the stage. ``sections``
    maps a step's sub-heading (or, for a step without one, its slide heading) to the page's own name for
    the section; ``default`` for the page's other steps and when it was opened by hand; ``None`` outside
    lecture mode (every section stays in place)."""
    from dashboard import components

    if not components.lecture_mode():
        return None
    steps = lecture.steps()
    k = st.session_state.get(STEP)
    if not (isinstance(k, int) and 0 <= k < len(steps) and steps[k].page == url_path):
        return default
    return sections.get(steps[k].section or steps[k].slide, default)


def at(stage_container, focused: str | None, section: str):
    """Where ``section``'s picture is drawn: on the stage when the step shows it, else in place."""
    return stage_container if stage_container is not None and focused == section else contextlib.nullcontext()


def place(stage_container):
    """Where to draw the picture: the stage made under the title, or a container right here."""
    return stage_container if stage_container is not None else st.container()
