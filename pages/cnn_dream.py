"""CNN Visualization: Deep Dream, amplifying whatever a set of layers sees in an image."""

import numpy as np
import streamlit as st

from core import images
from core.vision import ascent, zoo
from dashboard import components, figures, resources, vision_ui
from dashboard import lecture as lecture_path

st.title("Deep Dream")
stage = lecture_path.stage()  # lecture mode: before/after here, above the formula and controls
st.latex(r"I \leftarrow \epsilon_{iter}\Big(I + \eta\,\frac{\nabla_I f_A(I)}{\operatorname{mean}|\nabla_I f_A(I)|}\Big)")
st.caption("By default the slide's version: f_A is the **sum of the activations of one conv layer A**, the gradient "
           "is divided by its mean absolute value (the inverse L1 norm), and ε, the noise process, adds randomness "
           "through **scaling**: after every step the image itself is zoomed about its centre by a random factor "
           "(± 1 %; larger zooms drift and blur), I ← ε(I + η∇). Octaves run small to large, re-injecting the detail "
           "lost by shrinking.")
st.caption("The keras-io Deep Dream differs from the slide and is offered as options below: its objective is the "
           "weighted mean of the *squared* activations of one or more layers, and its ε is a random **roll** of the "
           "copy the gradient is taken on (undone afterwards), so the image itself is never rescaled.")

with components.controls("Model and image"):
    model = vision_ui.model_picker(key="dream_model")
    if model is None:
        st.stop()
    vision_ui.reset_on_model_change("dream_", model, keep=("dream_model",))
    d = zoo.page_defaults(model.name, "dream")
    vision_ui.follow_default("dream_image", d.get("image", "chelsea"))
    loaded = components.image_picker("dream_image", default=d.get("image", "chelsea"))
if loaded is None:
    st.stop()
image = loaded.array
problem = images.model_view_problem(image)
if problem is not None:  # octaves shrink a 1-px side to nothing: refuse with the reason
    st.error(problem)
    st.stop()

layers = model.spatial_layers
conv_names = set(model.conv_layers)  # a property that walks every Keras layer: once, not once per layer
convs = [n for n in layers if n in conv_names] or layers
with st.form("dream_form"):
    default_layers = [n for n in d.get("layers", {}) if n in layers] or (convs[-2:-1] if len(convs) >= 2 else convs[-1:])
    chosen = st.multiselect("Layers to amplify", layers, default=default_layers, key="dream_layers",
                            help="The slide amplifies one conv layer A; more than one are summed with weights "
                                 "(keras-io). Mid-level layers dream textures and eyes, late ones whole animal faces.")
    weights = {}
    if chosen:
        cols = st.columns(len(chosen))
        for col, name in zip(cols, chosen, strict=True):
            weights[name] = col.slider(f"weight of {name}", 0.0, 2.0, float(d.get("layers", {}).get(name, 1.0)), 0.1,
                                       key=f"dream_w_{name}")
    c1, c2, c3, c4 = st.columns(4)
    octaves = c1.slider("Octaves", 1, 5, int(d.get("octaves", 3)), key="dream_oct")
    scale = c2.slider("Octave scale", 1.1, 2.0, float(d.get("scale", 1.4)), 0.1, key="dream_scale")
    iterations = c3.slider("Iterations per octave", 5, 100, int(d.get("iterations", 20)), step=5, key="dream_iter")
    step = c4.select_slider("η", [0.002, 0.005, 0.01, 0.02, 0.05, 0.1], float(d.get("step", 0.01)), key="dream_step")
    OBJECTIVE = {"activation": "f_A: sum of the activations (the slide)",
                 "square": "f_A: mean of the squared activations (keras-io)"}
    NOISE = {"scale": "ε: random scaling (the slide)", "roll": "ε: random roll (keras-io)"}
    o1, e1, e2 = st.columns([3, 3, 2])
    objective = o1.radio("Objective", list(OBJECTIVE), format_func=OBJECTIVE.get,
                         index=list(OBJECTIVE).index(d.get("objective", "activation")), key="dream_objective",
                         help="The slide maximises the activations of layer A; keras-io their squares (which also "
                              "grows strongly negative activations).")
    noise = e1.radio("Noise process", list(NOISE), format_func=NOISE.get, index=list(NOISE).index(d.get("noise", "scale")),
                     key="dream_eps",
                     help="Scaling (the slide): the image itself is zoomed about its centre by a random factor after "
                          "each step. Roll (keras-io): the gradient is taken on a randomly shifted copy (undone afterwards).")
    scaling_pct = e2.slider("Random scaling ε (± %)", 1, 20, int(d.get("scaling", 1)), key="dream_scaling",
                            help="Used with 'random scaling': each step zooms by a factor in [1 − x %, 1 + x %].")
    c5, c6, c7 = st.columns(3)
    jitter = c5.slider("Random roll ε (px)", 0, 16, int(d.get("jitter", 4)), key="dream_jitter",
                       help="Used with 'random roll'.")
    max_loss = c6.number_input("Stop an octave when the loss exceeds (0 = never)", 0.0, 1e6, 0.0, key="dream_maxloss")
    max_side = c7.select_slider("Longest side (px)", [256, 384, 512, 768], int(d.get("max_side", 512)), key="dream_side")
    st.form_submit_button("Dream", type="primary")

if not np.isfinite(max_loss) or max_loss < 0:  # NaN would silently mean "never stop" (NaN > x is False)
    st.error(f"The loss limit must be a number ≥ 0 (0 = never stop), not {max_loss}.")
    st.stop()
if not weights or all(w == 0 for w in weights.values()):
    st.warning("Choose at least one layer with a non-zero weight.")
    st.stop()


@resources.cached("dream", "Dreaming ...", heavy=True)
def dream(model, image, weights: tuple, octaves: int, scale: float, iterations: int, step: float, jitter: int,
          max_loss: float, max_side: int, scaling: float = 0.0, objective: str = "activation", progress=None):
    """One Deep Dream per (model, image, settings) in this worker: every student asking for it shares it."""
    return ascent.deep_dream(model, image, {k: v for k, v in weights if v > 0}, octaves=octaves, octave_scale=scale,
                             iterations=iterations, step=step, max_loss=max_loss or None, jitter=jitter,
                             max_side=max_side, progress=progress, scaling=scaling, objective=objective)


# the noise process: the slide's random scaling or a roll (keras-io), never both
jitter, scaling = (jitter, 0.0) if noise == "roll" else (0, scaling_pct / 100)
setting = (model, image, tuple(weights.items()), octaves, scale, iterations, step, jitter, max_loss, max_side, scaling,
           objective)
try:
    result = dream(*setting)
except zoo.ModelError as exc:
    st.error(str(exc))
    st.stop()


def dream_section() -> None:
    c1, c2 = st.columns(2)
    c1.image(result.original, caption="before", width="stretch")
    c2.image(result.image, caption="after", width="stretch")
    shapes = " → ".join(f"{w}x{h}" for h, w in result.octave_shapes)
    st.caption(f"Octaves {shapes}; {len(result.loss)} iterations in {result.seconds:.1f} s.")
    st.plotly_chart(figures.objective_curve(result.loss, "loss per iteration (all octaves)", log_y=True), width="stretch")


with lecture_path.place(stage):  # lecture mode: before/after under the title, above the controls
    components.replay("dream.result", setting, dream_section, pictures=True)  # drawn once per setting, then replayed
components.download_image(result.image, f"deep_dream_{model.name}.png", key="dl_dream")
