"""CNN Visualization part two: what maximally activates a filter, or a class neuron (gradient ascent)."""

import numpy as np
import streamlit as st

from core.vision import ascent, zoo
from dashboard import components, figures, resources, vision_ui

st.title("Visualizing filters and class neurons")
st.latex(r"\text{filter } n:\quad I \leftarrow I + \eta\,\frac{g}{\|g\|},\quad "
         r"g = \nabla_I \frac{1}{|i,j|}\sum_{i,j} f_n(I)_{i,j}")
st.latex(r"\text{class } c:\quad I \leftarrow I + \eta\,\nabla_I f_c(I)\quad (f_c \text{ before the softmax})")
st.caption("Gradient ascent in input space: the network's weights stay fixed, only the image changes.")

with components.controls("Model"):
    model = vision_ui.model_picker(key="asc_model", default="shapes-cnn")
if model is None:
    st.stop()

mode = st.segmented_control("Maximise", ["filters of a layer", "a class neuron"], default="filters of a layer",
                            key="asc_mode") or "filters of a layer"
convs = model.conv_layers or model.spatial_layers
with st.form("asc_form"):
    c1, c2, c3 = st.columns(3)
    if mode == "filters of a layer":
        layer = c1.selectbox("Layer", convs, index=max(0, len(convs) - 2), key="asc_layer")
        n_channels = int(model.layer(layer).output.shape[-1])
        first = c2.number_input(f"First filter (0-{n_channels - 1})", 0, max(0, n_channels - 1), 0, key="asc_first")
        count = c3.slider("Filters to show", 1, 16, 8, key="asc_count")
        targets = list(range(int(first), min(n_channels, int(first) + count)))
    else:
        layer = None
        cls = c1.selectbox("Class", model.class_names, index=min(3, len(model.class_names) - 1), key="asc_class")
        targets = [model.class_index(cls)]
    c4, c5, c6 = st.columns(3)
    steps = c4.slider("Steps", 10, 500, 150, step=10, key="asc_steps")
    eta = c5.select_slider("η (step length)", [0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0], 2.0, key="asc_eta")
    init = c6.selectbox("Start from", ["gray", "zeros", "random", "image"], key="asc_init",
                        help="gray + noise, zeros (the lecture's choice), uniform noise, or the image below")
    c7, c8, c9, c10 = st.columns(4)
    jitter = c7.slider("Jitter (px)", 0, 8, 2, key="asc_jitter")
    l2 = c8.select_slider("L2 decay", [0.0, 0.0005, 0.001, 0.005, 0.01], 0.0, key="asc_l2")
    blur_every = c9.slider("Blur every k steps (0 = never)", 0, 50, 10, step=5, key="asc_blur")
    fourier = c10.toggle("Fourier parameterisation", False, key="asc_fourier")
    size = st.slider("Image size", 32, 256, 96, step=16, key="asc_size", disabled=not model.flexible,
                     help="Only for models that accept any input size; others use their own.")
    st.form_submit_button("Run gradient ascent", type="primary")

start_image = None
if init == "image":
    start_image = vision_ui.model_image(model, "asc_image")
    if start_image is None:
        st.stop()

key = (model.uid, layer, tuple(targets), steps, eta, init, jitter, l2, blur_every, fourier, size,
       resources.content_key(start_image) if start_image is not None else None)


def run(progress):
    return ascent.gradient_ascent(model, layer, targets, steps=steps, step_size=eta, size=size, init=init,
                                  image=start_image, jitter=jitter, l2=l2, blur_every=blur_every, fourier=fourier,
                                  seed=0, progress=progress, snapshot_every=max(10, steps // 5),
                                  snapshot=lambda imgs, k: progress.show((imgs, [f"step {k}"] * len(imgs))))


try:
    result = resources.compute("ascent", key, run, "Gradient ascent ...", heavy=True)
except zoo.ModelError as exc:
    st.error(str(exc))
    st.stop()
captions = ([f"filter {t}" for t in result.targets] if layer else [model.class_names[t] for t in result.targets])
st.image(list(result.images), caption=captions, width=160 if len(result.images) > 1 else 320)
st.caption(f"{steps} steps in {result.seconds:.2f} s. Objective: {result.objective[0]:.3g} → {result.objective[-1]:.3g}.")
st.plotly_chart(figures.objective_curve(result.objective, "mean objective per step", log_y=False), width="stretch")
if layer is None:
    preds = model.predict(result.images[0], top=3)
    st.markdown("The model now predicts: " + ", ".join(f"**{c}** {p:.1%}" for c, p in preds))
grid = figures.image_row(result.images, captions, columns=min(8, len(result.images)))
components.download_image(grid, f"{model.name}_{layer or 'class'}_ascent.png", key="dl_asc")
if not np.all(np.diff(result.objective[:: max(1, len(result.objective) // 10)]) >= -1e-3 * abs(result.objective).max()):
    st.caption("The objective is not monotone here: try a smaller η, or turn jitter off.")
