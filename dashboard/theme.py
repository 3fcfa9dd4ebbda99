"""Lecture mode's look: one Plotly template, applied to every chart of a lecture-mode session, and the CSS
that makes navigation labels wrap and metric values grow with the text.

Charts are built once (dashboard/figures.py sets a 14-px font for screens) and shared between sessions, so the
template is not a process-wide default: :func:`install` wraps ``st.plotly_chart`` once per process, and for a
session in lecture mode it draws a *copy* of the figure with every font scaled by :data:`SCALE` (the page's
type grows from 16 to 21 px × 1.15 in lecture mode), taller plots, and over-plotted point labels thinned to
the :data:`MAX_LABELS` points farthest from the centre (all points stay, with their hover text). Other sessions
get the figure untouched.
"""

from __future__ import annotations

import functools

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import streamlit as st

from dashboard.components import LECTURE_KEY
from serving import patches

SCALE = 1.6  # 14-px chart text -> about 22 px, next to lecture mode's 24-px body text
MIN_FONT = 20  # no chart text below this in lecture mode
MAX_LABELS = 30  # text labels kept on a scatter trace with more points (the extremes)
HEIGHT_SCALE = 1.25
TEMPLATE = "lecture"

pio.templates[TEMPLATE] = go.layout.Template(layout=dict(
    font=dict(size=22), title=dict(font=dict(size=26)), legend=dict(font=dict(size=20)),
    hoverlabel=dict(font=dict(size=20)),
    xaxis=dict(tickfont=dict(size=20), title=dict(font=dict(size=22))),
    yaxis=dict(tickfont=dict(size=20), title=dict(font=dict(size=22))),
))

# Every session (a student's 1280-px laptop too): navigation and Home's agenda labels wrap instead of being cut.
WRAP_CSS = """
<style>
[data-testid="stSidebarNav"] a span, [data-testid="stSidebarNavLink"] span,
[data-testid="stPageLink"] p, [data-testid="stPageLink"] span, [data-testid="stPageLink-NavLink"] span {
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important;
  line-height: 1.25;
}
[data-testid="stSidebarNavLink"], [data-testid="stPageLink-NavLink"] { height: auto !important; }
</style>
"""

CSS = """
<style>
/* st.metric: the value stays well above its label (Streamlit's 2.25rem is cut to the label's size). */
[data-testid="stMetricValue"], [data-testid="stMetricValue"] div, [data-testid="stMetricValue"] p {
  font-size: 2.4rem !important; line-height: 1.2 !important;
}
[data-testid="stMetricLabel"] p { font-size: 1rem !important; }
/* Tables: data grids draw on a canvas sized from the theme; the HTML ones follow the text. */
[data-testid="stTable"] table, [data-testid="stMarkdownContainer"] table { font-size: 1.05rem; }
/* The slide bar above the page: compact, so the picture stays in the first screen. */
.block-container, [data-testid="stMainBlockContainer"] { padding-top: 3.6rem !important; }
</style>
"""


def _scaled_font(font: dict | None, default: float) -> dict:
    font = dict(font or {})
    size = font.get("size")
    font["size"] = max(MIN_FONT, round((size if isinstance(size, (int, float)) else default) * SCALE))
    return font


def _thin_labels(trace: dict) -> None:
    """Keep the text of the MAX_LABELS points farthest from the trace's centre; blank the others."""
    text, x, y = trace.get("text"), trace.get("x"), trace.get("y")
    if not isinstance(text, (list, tuple)) or len(text) <= MAX_LABELS or "text" not in str(trace.get("mode", "")):
        return
    try:
        xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    except (TypeError, ValueError):
        return
    if xs.shape != ys.shape or len(xs) != len(text):
        return
    spread = lambda v: (v - np.nanmean(v)) / (np.nanstd(v) or 1.0)  # noqa: E731
    far = np.argsort(-np.hypot(spread(xs), spread(ys)))[:MAX_LABELS]
    keep = set(far.tolist())
    if "hovertext" not in trace and "hovertemplate" not in trace:
        trace["hovertext"] = list(text)
    trace["text"] = [t if i in keep else "" for i, t in enumerate(text)]


def lecture_figure(fig) -> go.Figure:
    """A copy of ``fig`` for the projector: every font ×SCALE (at least MIN_FONT), the lecture template,
    taller, point labels thinned. ``fig`` itself is not changed (it may come from a shared cache)."""
    d = fig.to_plotly_json() if hasattr(fig, "to_plotly_json") else dict(fig)
    d = {"data": [dict(t) for t in d.get("data", [])], "layout": dict(d.get("layout", {}))}
    layout = d["layout"]
    layout["template"] = pio.templates[TEMPLATE]
    layout["font"] = _scaled_font(layout.get("font"), 14)
    for key, value in list(layout.items()):
        if key.startswith(("xaxis", "yaxis", "coloraxis")) and isinstance(value, dict):
            axis = dict(value)
            axis["tickfont"] = _scaled_font(axis.get("tickfont"), 12)
            title = axis.get("title")
            if isinstance(title, dict):
                axis["title"] = {**title, "font": _scaled_font(title.get("font"), 14)}
            layout[key] = axis
    title = layout.get("title")
    if isinstance(title, dict):
        layout["title"] = {**title, "font": _scaled_font(title.get("font"), 17)}
    if isinstance(layout.get("legend"), dict) or "legend" not in layout:
        layout["legend"] = {**(layout.get("legend") or {}), "font": _scaled_font((layout.get("legend") or {}).get("font"), 12)}
    if isinstance(layout.get("annotations"), (list, tuple)):
        layout["annotations"] = [{**a, "font": _scaled_font(a.get("font"), 12)} for a in layout["annotations"]]
    if isinstance(layout.get("height"), (int, float)):
        layout["height"] = int(layout["height"] * HEIGHT_SCALE)
    for trace in d["data"]:
        if "textfont" in trace or "text" in trace:
            trace["textfont"] = _scaled_font(trace.get("textfont"), 12)
        if trace.get("type") in ("heatmap",) and trace.get("texttemplate"):
            trace["textfont"] = _scaled_font(trace.get("textfont"), 12)
        colorbar = (trace.get("colorbar") or (trace.get("marker") or {}).get("colorbar"))
        if isinstance(colorbar, dict):
            trace.setdefault("colorbar", {})
            trace["colorbar"] = {**colorbar, "tickfont": _scaled_font(colorbar.get("tickfont"), 12)}
        if trace.get("type") in (None, "scatter", "scattergl"):
            _thin_labels(trace)
    return go.Figure(d, skip_invalid=True)


def lecture_copy(fig) -> go.Figure:
    """:func:`lecture_figure` made ahead of time (e.g. in a cached function, once per worker instead of once
    per run): ``st.plotly_chart`` draws it as it is rather than restyling it again."""
    styled = lecture_figure(fig)
    styled._lecture_styled = True  # read by _wrap
    return styled


def _wrap(fn):
    @functools.wraps(fn)
    def plotly_chart(self, figure_or_data, *args, **kwargs):
        try:
            on = bool(st.session_state.get(LECTURE_KEY))
        except Exception:  # noqa: BLE001 - no session (bare import)
            on = False
        if on and isinstance(figure_or_data, go.Figure) and not getattr(figure_or_data, "_lecture_styled", False):
            try:
                figure_or_data = lecture_figure(figure_or_data)
            except Exception:  # noqa: BLE001 - a figure we cannot restyle is drawn as it is
                pass
        return fn(self, figure_or_data, *args, **kwargs)

    plotly_chart._lecture_theme = True  # type: ignore[attr-defined]
    return plotly_chart


def install() -> None:
    """Wrap ``st.plotly_chart`` once per process (idempotent; Streamlit's internals: serving/patches.py)."""
    patches.wrap_element("plotly_chart", _wrap, "_lecture_theme")
