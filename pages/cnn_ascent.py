"""CNN Visualization part two: what maximally activates a filter, or a class neuron (gradient ascent)."""

from types import SimpleNamespace

import numpy as np
import streamlit as st

from core.vision import ascent, ascent_settings, gallery, zoo
from core.vision.ascent_settings import AscentSettings
from dashboard import components, figures, resources, vision_ui
from dashboard import lecture as lecture_path

ETAS = [0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 24.0, 32.0]

st.title("Visualizing filters and class neurons")
stage = lecture_path.stage()  # lecture mode: the pictures here, above the formulas and controls
st.latex(r"\text{filter } n:\quad I \leftarrow I + \eta\,\frac{g}{\|g\|},\quad "
         r"g = \nabla_I \frac{1}{|i,j|}\sum_{i,j} f_n(I)_{i,j}")
st.latex(r"\text{class } c:\quad I \leftarrow I + \eta\,\frac{g}{\|g\|},\quad g = \nabla_I f_c(I)"
         r"\quad (f_c \text{ before the softmax})")
st.caption("Gradient ascent in input space: the network's weights stay fixed, only the image changes. The slide "
           "writes the class step as I ← I + η∇f_c(I); the code divides the gradient by its L2 norm (per image, + 1e-8) "
           "for filters *and* classes, so η is the length of each step in model-input units. After each step the "
           "optional L2 decay multiplies I by (1 − decay), and I is clipped to the model's input range.")

with components.controls("Model"):
    model = vision_ui.model_picker(key="asc_model")
if model is None:
    st.stop()

vision_ui.reset_on_model_change("asc_", model, keep=("asc_model", "asc_mode"))
mode = st.segmented_control("Maximise", ["filters of a layer", "a class neuron"], default="filters of a layer",
                            key="asc_mode") or "filters of a layer"
filters_mode = mode == "filters of a layer"
# each mode keeps its own settings (a class wants other steps and η than a texture filter)
tag = "f" if filters_mode else "c"
d = zoo.page_defaults(model.name, "filters" if filters_mode else "class")  # layer, count, class
s0 = ascent_settings.for_model(model.name, "filters" if filters_mode else "class") or ascent_settings.PAGE
layers = model.spatial_layers
conv_names = set(model.conv_layers)  # a property that walks every Keras layer: once, not once per layer
convs = [n for n in layers if n in conv_names] or layers
native = int(model.input_size[0])
any_size_ok = model.flexible or filters_mode  # a filter's canvas can be any size: the network is cut at its layer
with st.form("asc_form"):
    c1, c2, c3 = st.columns(3)
    if filters_mode:
        chosen = vision_ui.preferred(layers, d.get("layer"), convs[max(0, len(convs) - 2)])
        layer = c1.selectbox("Layer", layers, index=layers.index(chosen), key="asc_layer",
                             help="Any layer with an (h, w, channels) output. The network is truncated at it, so "
                                  "an early layer is cheap.")
        n_channels = int(model.layer(layer).output.shape[-1])
        first = c2.number_input(f"First filter (0-{n_channels - 1})", 0, max(0, n_channels - 1), 0, key="asc_first")
        count = c3.slider("Filters to show", 1, 16, int(d.get("count", 8)), key="asc_count")
        targets = list(range(int(first), min(n_channels, int(first) + count)))
    else:
        layer = None
        names = model.class_names
        wanted = d.get("class")
        cls = c1.selectbox("Class", names, index=names.index(wanted) if wanted in names else min(3, len(names) - 1),
                           key="asc_class")
        targets = [model.class_index(cls)]
    c4, c5, c6 = st.columns(3)
    steps = c4.slider("Steps", 10, 500, s0.steps, step=5, key=f"asc_{tag}_steps")
    eta = c5.select_slider("η (step length)", ETAS, s0.eta, key=f"asc_{tag}_eta",
                           help="With the Fourier parameterisation η moves the spectrum, not the pixels.")
    inits = list(ascent_settings.INITS)
    init = c6.selectbox("Start from", inits, index=inits.index(s0.init), key=f"asc_{tag}_init",
                        help="gray + noise, zeros (the lecture's choice), uniform noise, or the image below")
    c7, c8, c9, c10 = st.columns(4)
    jitter = c7.slider("Jitter (px)", 0, 8, s0.jitter, key=f"asc_{tag}_jitter")
    l2 = c8.select_slider("L2 decay", [0.0, 0.0005, 0.001, 0.002, 0.005, 0.01], s0.l2,
                          key=f"asc_{tag}_l2")
    blur_every = c9.slider("Blur every k steps (0 = never)", 0, 50, s0.blur_every, step=5,
                           key=f"asc_{tag}_blur")
    fourier = c10.toggle("Fourier parameterisation", s0.fourier, key=f"asc_{tag}_fourier")
    size = st.slider("Image size", 32, 256, s0.size or (ascent_settings.PAGE_FLEXIBLE_SIZE if model.flexible else native), step=16,
                     key=f"asc_{tag}_size", disabled=not any_size_ok,
                     help="Filters: the canvas (the network truncated at the layer takes any size). Class "
                          f"neurons: only for models that accept any input size; {model.name} uses {native} px.")
    st.form_submit_button("Run gradient ascent", type="primary")

start_image = None
if init == "image":
    start_image = vision_ui.model_image(model, "asc_image")
    if start_image is None:
        st.stop()

if not any_size_ok:
    size = native
settings = AscentSettings(steps=steps, eta=eta, init=init, jitter=jitter, l2=l2, blur_every=blur_every, fourier=fourier,
                          size=size, seed=0)
# The gallery's recipe on an offline model: the pictures come from (and go to) the gallery on disk,
# so the page's default filters are computed once per installation, not once per process.
from_gallery = filters_mode and start_image is None and zoo.SPECS.get(model.name, None) is not None \
    and zoo.SPECS[model.name].offline and settings == gallery.recipe_for(model)
@resources.cached("ascent", "Gradient ascent ...", heavy=True)
def ascend(model, layer: str | None, targets: tuple[int, ...], settings: AscentSettings,
           start_image: np.ndarray | None, from_gallery: bool, progress=None):
    """One gradient ascent per (model, layer, targets, settings, start image) in this worker."""
    if from_gallery:
        store = gallery.compute(model, layer, list(targets), settings, progress=progress,
                                preview=lambda imgs, caps: progress.show((imgs, caps)))
        curves = [store.done[t]["objective"] for t in targets]
        return SimpleNamespace(images=np.stack([store.image(t) for t in targets]), targets=tuple(targets),
                               objective=np.mean(curves, axis=0), seconds=sum(store.done[t]["seconds"] for t in targets),
                               sampled=True)
    net = ascent.any_size(model) if (settings.size != model.input_size[0] and not model.flexible) else model
    return ascent.gradient_ascent(net, layer, list(targets), **settings.call_kwargs(), image=start_image,
                                  progress=progress, snapshot_every=max(10, settings.steps // 5),
                                  snapshot=lambda imgs, k: progress.show((imgs, [f"step {k}"] * len(imgs))))


try:
    result = ascend(model, layer, tuple(targets), settings, start_image, bool(from_gallery))
except zoo.ModelError as exc:
    st.error(str(exc))
    st.stop()
captions = ([f"filter {t}" for t in result.targets] if layer else [model.class_names[t] for t in result.targets])


def pictures_section() -> None:
    if len(result.images) == 1:
        st.image(result.images[0], caption=captions[0], width=448)
    else:  # four to a row, as large as the page allows: the room should see the stripes and the eyes
        per_row = min(4 if stage is None else 8, len(result.images))
        for start in range(0, len(result.images), per_row):
            for col, img, cap in zip(st.columns(per_row), result.images[start:start + per_row],
                                     captions[start:start + per_row], strict=False):
                col.image(img, caption=cap, width="stretch")


def curve_section() -> None:
    where = (f"{size}x{size} canvas, {model.name} truncated at {layer}" if layer else f"{size}x{size} input")
    st.caption(f"{steps} steps on a {where}, in {result.seconds:.2f} s"
               + (" (kept on disk in the neuron gallery)" if from_gallery else "")
               + f". Objective: {result.objective[0]:.3g} → {result.objective[-1]:.3g}.")
    st.plotly_chart(figures.objective_curve(result.objective, "mean objective per step", log_y=False), width="stretch")
    if layer is None:
        preds = model.predict(result.images[0], top=3)
        st.markdown("The model now predicts: " + ", ".join(f"**{c}** {p:.1%}" for c, p in preds))


# drawn once per (model, layer, targets, settings, start image) in this worker, then replayed: the pictures are
# encoded, the curve serialised and the class predicted once, not per student
setting = (model, layer, tuple(targets), settings, start_image, bool(from_gallery), tuple(captions))
with lecture_path.place(stage):  # lecture mode: the pictures under the title
    components.replay("ascent.pictures", (setting, stage is None), pictures_section, pictures=True)
components.replay("ascent.curve", (setting, steps, size), curve_section)
if layer is not None:
    vision_ui.gallery_link(layer, targets[0], f"Every channel of {layer} in the neuron gallery")
components.download_image(lambda: figures.image_row(result.images, captions, columns=min(8, len(result.images))),
                          f"{model.name}_{layer or 'class'}_ascent.png", key="dl_asc")
curve = result.objective[:: max(1, len(result.objective) // 10)]
if not np.all(np.diff(curve) >= -1e-3 * abs(result.objective).max()):
    st.caption("The objective wiggles because every step sees a randomly shifted image (jitter): the price of "
               "pictures without high-frequency noise." if jitter else
               "The objective is not monotone here: try a smaller η.")
