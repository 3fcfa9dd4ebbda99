"""CNN Visualization: a neuron gallery (OpenAI Microscope style). Every channel of a layer as the image that
maximally activates it, computed once in the background and kept on disk; click a channel to see where it
fires on your image; every channel has its own URL (``?layer=...&channel=...``)."""

import re

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core.errors import markdown_text
from core.vision import attribution as A
from core.vision import gallery, zoo
from dashboard import components, resources, theme, vision_ui

PAGE = 32  # channels per gallery page (one background job computes the missing ones, ~25 s on 2 cores)
COLUMNS = 8
TILE = 96

st.title("Neuron gallery")
st.markdown("What does each channel of a layer look for? Every picture below is gradient ascent on one channel "
            "alone (the filter visualisation of the previous page), for **every** channel of the layer. Pictures are "
            "computed once, in the background, and kept on disk for everyone; click one to see where that channel "
            "fires on your image.")

offline = [n for n, s in zoo.SPECS.items() if s.offline]
with components.controls("Model and image"):
    model = vision_ui.model_picker(key="gal_model", exclude=tuple(n for n in zoo.SPECS if n not in offline)
                                   + (vision_ui.UPLOAD,))
    if model is None:
        st.stop()
    image = vision_ui.model_image(model, "gal_image")
if image is None:
    st.stop()

# ?layer=...&channel=... : a shared link opens that channel; bad values are replaced with a note
default = gallery.default_layer(model)
url_layer, url_channel, notes = gallery.clamp_request(model, st.query_params.get("layer"),
                                                      st.query_params.get("channel"), default)
for note in notes:  # quotes what the link said: shown as text, never as a Markdown link or image
    plain = re.fullmatch(r"[\w .,;:'()\-]*", note) and "://" not in note and "www." not in note
    st.caption(f"Link: {note if plain else markdown_text(note, 300)}")
if st.session_state.get("_gal_url") != (model.name, url_layer, url_channel):
    # a new URL (or the first run): it wins over the widgets' remembered values
    st.session_state["_gal_url"] = (model.name, url_layer, url_channel)
    st.session_state["gal_layer"] = url_layer
    if url_channel is not None:
        st.session_state["gal_channel"] = url_channel
        st.session_state["gal_page"] = url_channel // PAGE + 1

layers = model.spatial_layers
c1, c2 = st.columns([2, 1])
layer = c1.selectbox("Layer", layers, key="gal_layer", help="Any layer with an (h, w, channels) output.")
n = gallery.layer_channels(model, layer)
pages = max(1, int(np.ceil(n / PAGE)))
if st.session_state.get("gal_page", 1) > pages:
    st.session_state["gal_page"] = 1
page = c2.number_input(f"Page (of {pages}, {PAGE} channels each)", 1, pages, key="gal_page")
channels = list(range((int(page) - 1) * PAGE, min(n, int(page) * PAGE)))
recipe = gallery.recipe_for(model)



@resources.cached("ascent", lambda model, layer, recipe, channels, *a: (
    f"Computing channels {channels[0]}-{channels[-1]} of {layer} (once, then from disk) ..."
    if len(channels) > 1 else f"Computing channel {channels[0]} ..."), heavy=True)
def fill_gallery(model, layer: str, recipe: dict, channels: tuple[int, ...], missing: tuple[int, ...],
                 disk: tuple, progress=None):
    """The gallery of (model, layer, recipe) with these channels computed and written to disk. ``missing`` and
    ``disk`` (the files' modification times) are in the key: damaged or evicted files make a new key."""
    show = getattr(progress, "show", None)
    return gallery.compute(model, layer, list(channels), recipe, progress=progress,
                           preview=(lambda imgs, caps: show((imgs, caps))) if len(channels) > 1 and show else None)


@resources.cached("views", "Reading the gallery ...")
def index_on_disk(model, layer: str, recipe_id: str, disk: tuple):
    """The gallery's index (a JSON file of every channel's entry, validated): parsed once per change of the
    folder or the index (``disk``) in this worker, not once per student."""
    return gallery.open_gallery(model, layer, recipe)


def read_gallery():
    """The gallery as it is on disk now, as this run's own copy of the shared index (a picture found
    damaged is dropped from this copy only). Whether each shown picture is usable is still checked per run
    (:meth:`gallery.Gallery.missing`), so a file damaged in place is recomputed, never shown."""
    import dataclasses

    found = index_on_disk(model, layer, gallery.recipe_key(recipe),
                          gallery.disk_token(gallery.gallery_dir(model, layer, recipe)))
    return dataclasses.replace(found, done=dict(found.done))


store = read_gallery()
missing = store.missing(channels)
if missing:
    try:
        store = fill_gallery(model, layer, recipe, tuple(channels), tuple(missing), gallery.disk_token(store))
    except zoo.ModelError as exc:
        st.error(str(exc))
        st.stop()
store = read_gallery()  # what is on disk now (other pages may have been added)
st.caption(f"{len(store.done)} of {n} channels of {layer} on disk · recipe: {recipe.steps} steps, "
           f"{recipe.size} px, η = {recipe.eta}, {'Fourier' if recipe.fourier else 'pixels'} · "
           + (f"{np.mean([v['seconds'] for v in store.done.values()]):.2f} s per channel when computed"
              if store.done else "computed on request"))



@resources.cached("views", "Laying out the gallery ...")
def mosaic_picture(model, layer: str, recipe_id: str, channels: tuple[int, ...], done: tuple[int, ...]):
    """(JPEG of the channels' pictures as one mosaic, its (height, width), tile centres): read from disk once
    per (layer, page, what is on disk) in this worker, not once per student. A JPEG (quality 92, ~230 kB
    instead of an ~800 kB PNG): every student's browser fetches it, and this worker hashes it on each run
    to serve it; the channel view below and the downloads stay lossless PNGs."""
    import io

    from PIL import Image

    mosaic, centres = gallery.mosaic(store, list(channels), COLUMNS, TILE)
    out = io.BytesIO()
    Image.fromarray(mosaic).save(out, "JPEG", quality=92)
    return out.getvalue(), mosaic.shape[:2], centres


@resources.cached("views", "Laying out the gallery ...")
def mosaic_figure(source: str, mosaic_h: int, mosaic_w: int, centres: tuple, lecture: bool = False):
    """The clickable mosaic as a plotly figure, built once per (picture URL, layout, lecture mode) in this
    worker and shared read-only (st.plotly_chart serialises a copy). It is a widget (clicks select a
    channel), so it cannot be replayed: lecture mode's restyled copy is made here once (~8 ms per run
    otherwise)."""
    fig = _mosaic_figure(source, mosaic_h, mosaic_w, centres)
    return theme.lecture_copy(fig) if lecture else fig


def _mosaic_figure(source, mosaic_h, mosaic_w, centres):
    """The mosaic is a layout image under invisible markers (one per tile, carrying its channel). The
    picture goes by URL, not inside the chart: the chart is re-serialised for every student, and a
    ~1 MB data URI in it cost each run ~20 ms of JSON encoding and a megabyte over the websocket."""
    fig = go.Figure(go.Scatter(x=[c[1] for c in centres], y=[mosaic_h - c[2] for c in centres],
                               mode="markers", marker={"size": TILE * 0.6, "opacity": 0.01, "symbol": "square"},
                               customdata=[c[0] for c in centres], hovertemplate="channel %{customdata}<extra></extra>",
                               showlegend=False))
    fig.add_layout_image(source=source, xref="x", yref="y", x=0, y=mosaic_h, sizex=mosaic_w, sizey=mosaic_h,
                         xanchor="left", yanchor="top", sizing="stretch", layer="below")
    fig.update_layout(margin={"l": 0, "r": 0, "t": 0, "b": 0}, height=int(mosaic_h * 1.4) + 10,
                      xaxis={"visible": False, "range": [0, mosaic_w], "fixedrange": True},
                      yaxis={"visible": False, "range": [0, mosaic_h], "scaleanchor": "x", "fixedrange": True},
                      dragmode=False, clickmode="event+select", plot_bgcolor="rgba(0,0,0,0)")
    return fig


picture, (mosaic_h, mosaic_w), centres = mosaic_picture(model, layer, gallery.recipe_key(recipe), tuple(channels),
                                                    tuple(k for k in channels if k in store.done))
fig = mosaic_figure(components.media_url(picture, "image/jpeg", "neuron-gallery.mosaic"), int(mosaic_h), int(mosaic_w),
                    tuple(tuple(int(v) for v in c) for c in centres), components.lecture_mode())
event = st.plotly_chart(fig, width="stretch", on_select="rerun", selection_mode="points", key="gal_click",
                        config={"displayModeBar": False})
clicked = [p.get("customdata") for p in (event.selection.points if event and event.selection else [])]
if clicked and clicked[0] is not None and st.session_state.get("_gal_clicked") != clicked[0]:
    st.session_state["_gal_clicked"] = clicked[0]
    st.session_state["gal_channel"] = int(clicked[0])

st.subheader("One channel")
if st.session_state.get("gal_channel", 0) >= n:
    st.session_state["gal_channel"] = n - 1
channel = int(st.number_input(f"Channel (0-{n - 1}); or click one above", 0, n - 1, key="gal_channel"))
st.query_params["layer"] = layer
st.query_params["channel"] = str(channel)
st.session_state["_gal_url"] = (model.name, layer, channel)
if store.missing([channel]):
    try:
        store = fill_gallery(model, layer, recipe, (channel,), (channel,), gallery.disk_token(store))
    except zoo.ModelError as exc:
        st.error(str(exc))
        st.stop()

maps = resources.activation_maps(model, image, layer)  # (h, w, C) on the current image, once per worker


@resources.cached("views", "Reading the channel's picture ...")
def channel_picture(model, layer: str, recipe_id: str, channel: int, entry: dict, disk: tuple):
    """The channel's picture, decoded once per (what is on disk) in this worker, not once per student."""
    return store.image(channel)


try:
    picture = channel_picture(model, layer, gallery.recipe_key(recipe), channel, store.done[channel],
                              gallery.disk_token(store))
except zoo.ModelError as exc:  # damaged on disk since it was computed: said, and recomputed on the next run
    store.done.pop(channel, None)
    st.error(str(exc))
    st.stop()


def channel_section() -> None:
    """Drawn once per (model, image, layer, channel) in this worker, replayed for everyone else."""
    fires = maps[:, :, channel]
    peak = float(fires.max())
    v1, v2, v3 = st.columns(3)
    v1.image(picture, width="stretch",
             caption=f"{layer}, channel {channel}: what maximises it (mean activation "
                     f"{store.done[channel]['activation']:.2f})")
    heat = np.clip(fires / peak, 0, 1) if peak > 0 else np.zeros_like(fires)
    v2.image(A.overlay(image, heat, 0.55, "inferno"), width="stretch",
             caption=f"where it fires on your image ({fires.shape[0]}x{fires.shape[1]} map, max {peak:.2f}"
                     + (", silent here" if peak <= 0 else "") + ")")
    strongest = [int(k) for k in np.argsort(-maps.mean(axis=(0, 1)))[:6]]
    with v3:
        st.markdown(f"**The channels of {layer} that fire most on this image** (mean activation):")
        for k in strongest:
            vision_ui.gallery_link(layer, k, f"channel {k}: {float(maps[:, :, k].mean()):.2f}")


components.replay("gallery.channel", (model, image, layer, gallery.recipe_key(recipe), channel,
                                      store.done[channel]), channel_section, pictures=True)
st.markdown(f"This channel's address: `?layer={layer}&channel={channel}` (the browser's address bar has it: "
            "copy it to share this neuron).")
components.download_image(lambda: store.image(channel), f"{model.name}_{layer}_channel{channel}.png", key="dl_gal")
