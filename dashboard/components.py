"""Reusable widgets: lecture mode, control panels, the image picker, progress and downloads."""

from __future__ import annotations

import contextlib
import contextvars
import io
import json
from collections.abc import Iterator

import streamlit as st

from core import images
from core.progress import Progress

LECTURE_KEY = "lecture_mode"

LECTURE_CSS = """
<style>
/* Streamlit sizes text in rem: a larger root scales headings, text and widgets together. */
html { font-size: 21px; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 1.15rem; }
</style>
"""


# ----------------------------------------------------------------------------- lecture mode


def lecture_mode() -> bool:
    """Whether lecture mode is on (larger type, wide layout, control panels collapsed)."""
    if LECTURE_KEY not in st.session_state:
        st.session_state[LECTURE_KEY] = st.query_params.get("lecture") == "1"
    return bool(st.session_state[LECTURE_KEY])


def sync_lecture_query_param() -> None:
    """Keep ``?lecture=1`` in the URL while lecture mode is on, so a shared link keeps it."""
    if lecture_mode():
        if st.query_params.get("lecture") != "1":
            st.query_params["lecture"] = "1"
    elif "lecture" in st.query_params:
        del st.query_params["lecture"]


@contextlib.contextmanager
def controls(label: str = "Controls", expanded: bool | None = None) -> Iterator[None]:
    """A panel for a page's widgets; collapsed in lecture mode so the pictures get the screen."""
    with st.expander(label, expanded=(not lecture_mode()) if expanded is None else expanded):
        yield


# ----------------------------------------------------------------------------- progress


@contextlib.contextmanager
def progress_bar(text: str = "Working ...") -> Iterator[Progress]:
    """An ``st.progress`` driven by the core ``progress(fraction, message)`` protocol."""
    bar = st.progress(0.0, text=text)

    def update(fraction: float, message: str) -> None:
        bar.progress(min(1.0, max(0.0, float(fraction))), text=message)

    try:
        yield update
    finally:
        bar.empty()


# ----------------------------------------------------------------------------- replayed sections


def replay(section: str, key, draw, pictures: bool = False) -> None:
    """Draw a section made of elements only (no widgets) whose look depends on ``key`` alone.

    The first run in this server process that draws ``(section, key)`` records the element
    messages; every later run, in any session, replays them instead of recomputing figures and
    tables and serialising them again (Streamlit's own element replay of ``st.cache_data``). In a
    lecture hall the same default sections are drawn for every student, so this is where a
    worker's CPU goes furthest. ``key`` is taken by content (:func:`core.cache.content_key`: arrays
    by sha256, models by uid), so it must hold everything the section shows. ``draw`` must create
    its own containers (columns, expanders) rather than draw into ones made outside it.
    ``pictures=True`` keeps the section in a smaller store: sections of encoded images weigh
    megabytes, and both stores are bounded by count (a class moving sliders cannot grow them).
    """
    from core.cache import content_key

    # lecture mode draws charts with the projector template (dashboard.theme): a section recorded in one
    # mode must not be replayed in the other
    (_replayed_pictures if pictures else _replayed)(section, repr((content_key(key), lecture_mode())), draw)


# True while a section is being recorded for replay: no widget may be drawn inside it (the job pool's Cancel
# button is left out there; see resources._heavy).
RECORDING: contextvars.ContextVar[bool] = contextvars.ContextVar("dashboard_recording", default=False)


@contextlib.contextmanager
def recording():
    token = RECORDING.set(True)
    try:
        yield
    finally:
        RECORDING.reset(token)


@st.cache_data(max_entries=256, show_spinner=False)  # bounded: a class moving sliders cannot grow it
def _replayed(section: str, key: str, _draw) -> None:
    with recording():
        _draw()


@st.cache_data(max_entries=96, show_spinner=False)  # image sections: ~1-3 MB each, so fewer of them
def _replayed_pictures(section: str, key: str, _draw) -> None:
    with recording():
        _draw()


def media_url(data: bytes, mimetype: str, name: str) -> str:
    """A URL from which this session's browser loads ``data`` (a picture inside a chart that is redrawn
    per student, such as a clickable widget): served by this worker like ``st.image``'s pictures, so the
    chart's JSON stays small. ``name`` says which element uses it (one file per name and session). A
    data URI when no server runs (a bare script)."""
    import base64

    from serving.patches import media_url as served

    return served(data, mimetype, name) or f"data:{mimetype};base64," + base64.b64encode(data).decode()


def replayed(section: str, pictures: bool = False):
    """:func:`replay` as a decorator: ``draw(*args)`` is replayed per ``(section, args by content)``.
    Everything the section shows must come from its arguments."""
    def decorate(draw):
        def wrapper(*args, **kwargs):
            replay(section, (args, kwargs), lambda: draw(*args, **kwargs), pictures=pictures)
        wrapper.__name__ = getattr(draw, "__name__", section)
        return wrapper

    return decorate


# ----------------------------------------------------------------------------- image picker

UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff", "gif"]


@st.cache_resource(show_spinner=False, max_entries=32)  # one shared, read-only copy per picture
def _decode_cached(data: bytes, max_side: int) -> images.LoadedImage:
    return _shared(images.load_image(data, max_side=max_side))


@st.cache_resource(show_spinner=False, max_entries=32)
def _sample_cached(name: str, max_side: int) -> images.LoadedImage:
    return _shared(images.load_image(images.sample_image_path(name), max_side=max_side))


def _shared(loaded: images.LoadedImage) -> images.LoadedImage:
    """The picture as a read-only array that carries its sha256: shared by every session (nobody can
    write into it), and the content key of every cached result computed from it costs nothing."""
    import dataclasses

    from core.cache import digested

    return dataclasses.replace(loaded, array=digested(loaded.array), notes=tuple(loaded.notes))


def image_picker(key: str, default: str = "astronaut", max_side: int = images.DEFAULT_MAX_SIDE,
                 camera: bool = True, label: str = "Image") -> images.LoadedImage | None:
    """Sample image, upload or camera -> a decoded RGB image, or ``None`` with a message shown.

    The returned array is shared by every session and read-only (copy it to draw on it); it carries its
    sha256 (:class:`core.cache.DigestedArray`), so cached results keyed by it cost no hashing.
    """
    sources = ["Sample image", "Upload a file"] + (["Camera"] if camera else [])
    source = st.radio(f"{label} source", sources, horizontal=True, key=f"{key}_source")
    try:
        if source == "Sample image":
            names = list(images.SAMPLE_IMAGES)
            name = st.selectbox("Sample", names, index=names.index(default) if default in names else 0,
                                key=f"{key}_sample")
            loaded = _sample_cached(name, max_side)
        elif source == "Upload a file":
            upload = st.file_uploader(f"{label} file", type=UPLOAD_TYPES, key=f"{key}_upload",
                                      help="PNG, JPEG, WebP, BMP, TIFF or GIF (first frame).")
            if upload is None:
                st.info("Upload an image to continue, or pick a sample image.")
                return None
            loaded = _decode_cached(upload.getvalue(), max_side)
        else:
            shot = st.camera_input("Take a picture", key=f"{key}_camera")
            if shot is None:
                st.info("Take a picture to continue, or pick a sample image.")
                return None
            loaded = _decode_cached(shot.getvalue(), max_side)
    except images.ImageError as exc:
        st.error(f"{label}: {exc}")
        return None
    h, w = loaded.array.shape[:2]
    notes = "; ".join(loaded.notes)
    st.caption(f"{w} x {h} RGB" + (f" ({notes})" if notes else ""))
    return loaded


# ----------------------------------------------------------------------------- downloads


def download_image(image, file_name: str, label: str = "Download PNG", key: str | None = None) -> None:
    """A PNG of ``image`` (an (H, W[, 3]) uint8 array, or a function returning one), encoded only when
    clicked: a student run that does not download pays nothing for it."""
    st.download_button(label, lambda: images.to_png_bytes(image() if callable(image) else image),
                       file_name=file_name, mime="image/png", key=key, on_click="ignore")


def download_figure(fig, file_name: str, label: str = "Download figure (HTML)", key: str | None = None) -> None:
    """Self-contained interactive HTML of a plotly figure (works offline; the chart's own camera
    icon gives a PNG). Built only when clicked, so reruns stay fast; ``fig`` may be a figure or a
    function returning one (then not even the figure is built until somebody clicks)."""

    def build() -> bytes:
        figure = fig() if callable(fig) else fig
        return figure.to_html(include_plotlyjs=True, full_html=True).encode()

    st.download_button(label, build, file_name=file_name, mime="text/html", key=key, on_click="ignore")


def download_json(payload, file_name: str, label: str = "Download data (JSON)", key: str | None = None) -> None:
    """``payload`` (or a function returning it) as indented JSON, serialised only when clicked."""

    def build() -> bytes:
        buf = io.StringIO()
        json.dump(payload() if callable(payload) else payload, buf, indent=2, default=str)
        return buf.getvalue().encode()

    st.download_button(label, build, file_name=file_name, mime="application/json", key=key, on_click="ignore")


# ----------------------------------------------------------------------------- settings kept across pages


def remembered(key: str, default):
    """A setting that survives page switches (widget state does not): read it as a widget default."""
    return st.session_state.setdefault(f"_keep_{key}", default)


def remember(key: str, value) -> None:
    st.session_state[f"_keep_{key}"] = value


def parse_word_list(text: str) -> list[str]:
    """Words separated by commas, spaces or new lines; multi-word phrases use '_' as in word2vec."""
    import re

    return [w for w in re.split(r"[,\s]+", text.strip()) if w]


def parse_pairs(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """'female, male' per line -> (pairs, problems naming the bad lines)."""
    pairs, problems = [], []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        words = parse_word_list(line)
        if len(words) != 2:
            problems.append(f"line {n} ('{line.strip()}') should hold exactly two words")
        else:
            pairs.append((words[0], words[1]))
    return pairs, problems


def unknown_words_note(unknown: list[str], what: str) -> None:
    if unknown:
        shown = ", ".join(unknown[:30]) + (" ..." if len(unknown) > 30 else "")
        st.caption(f"Not in the vocabulary, skipped ({len(unknown)}) from {what}: {shown}")


def offer_download(manager, asset_name: str, what: str, key: str) -> bool:
    """For an online asset not cached yet: say what and where, and fetch it on a button press.

    True when the asset is ready (already, or just fetched); False with a message otherwise.
    """
    from core.assets import AssetError

    if manager.is_ready(asset_name):
        return True
    asset = manager.asset(asset_name)
    st.warning(f"{what}: a one-time download of {asset.size / 1e6:,.0f} MB is needed. Without internet, place "
               f"'{asset.file}' in '{manager.path(asset_name).parent}'.")
    if not st.button("Download now", key=key):
        return False
    try:
        with progress_bar(f"Downloading {asset.file} ...") as progress:
            manager.fetch(asset_name, progress=progress)
    except AssetError as exc:
        st.error(str(exc))
        return False
    return True


def students_link(url: str) -> None:
    """'Students: open URL' with a scannable QR code of it (Home, when `make classroom` sets DASHBOARD_PUBLIC_URL)."""
    import segno

    png = io.BytesIO()
    segno.make(url, error="m").save(png, kind="png", scale=8, border=2)
    qr_col, text_col = st.columns([1, 4], vertical_alignment="center")
    qr_col.image(png.getvalue(), width=180)
    text_col.markdown(f"### Students: open [{url}]({url})")
