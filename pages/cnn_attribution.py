"""CNN Visualization part three: heatmaps of class activation (CAM, Grad-CAM, the gradient family and the
guided methods), two classes side by side, a sanity check, and faithfulness (deletion / insertion curves)."""

import numpy as np
import pandas as pd
import streamlit as st

from core import questions
from core.images import display_scaled, resize
from core.vision import attribution as A
from dashboard import components, figures, follow, resources, vision_ui
from dashboard import lecture as lecture_path

DISPLAY = 640  # px: the long side the overlays are drawn at (the short side follows, at least 1 px)
GUIDED = ("guided-backprop", "guided-gradcam")

st.title("Where does the network look? CAM and Grad-CAM")
stage = lecture_path.stage()  # lecture mode: the two heatmaps here, above the formulas and controls
st.markdown(
    "Which parts of the image made the network say *this class*? **Grad-CAM** takes the gradient of the "
    "class score (before the softmax) with respect to the last convolutional layer's activations, averages it "
    "per channel, and uses that as the weight of each activation map:")
st.latex(r"\alpha_k^c = \frac{1}{|I \times J|} \sum_{i,j} \frac{\partial f_c(I)}{\partial A_{i,j,k}^{(L)}}"
         r"\qquad S_{i,j} = \frac{1}{S_{max}} \mathrm{ReLU}\Big(\sum_k \alpha_k^c A_{i,j,k}^{(L)}\Big)")
st.caption("The slide titles this \"Class Activation Mapping (CAM)\" and stops at the weighted sum "
           "S = Σ_k α_k^c A_k / S_max. The **ReLU** is not on the slide: it is Selvaraju et al.'s (Grad-CAM, 2017), "
           "keeping only what speaks *for* the class, and this page applies it. **CAM** proper is Zhou et al.'s "
           "(2016) method for networks that end in global average pooling + one dense layer: the weights are that "
           "layer's class weights w_k^c, no gradient — the \"CAM\" option below, where the model allows it.")

model, image, defaults = vision_ui.model_and_image("attribution", "attr_image", model_key="attr_model")

probabilities = resources.class_probabilities(model, image)  # once per (model, image) in this worker
ranked = [int(i) for i in np.argsort(-probabilities)]
names = model.class_names
# the second class: the model's named contrast when it is among the top 5 (the espresso next to the
# cat), else the runner-up
contrast = next((i for i in ranked[:5] if names[i] in defaults.get("contrast", ())), ranked[min(1, len(ranked) - 1)])
try:
    layer_options = A.target_layers(model)
    default_layer = A.default_layer(model)
except A.AttributionError:
    layer_options, default_layer = [], None

c1, c2 = st.columns([2, 1])
with c2:
    st.markdown("**Top-5 predictions**")
    vision_ui.prediction_table(model, image, top=5)
with c1:
    k1, k2 = st.columns(2)
    cls_name = k1.selectbox("Class to explain (default: the top prediction)", names, index=ranked[0], key="attr_class",
                            help="Any class, not only the predicted one: where would it be?")
    other_name = k2.selectbox("Compare with", names, index=contrast, key="attr_two_b",
                              help="The same network, the same image, another question.")
    target, other = model.class_index(cls_name), model.class_index(other_name)
    m1, m2 = st.columns(2)
    method = m1.selectbox("Method", A.METHODS, format_func=A.METHOD_TITLES.get, key="attr_method")
    layer = None
    if method in A.LAYER_METHODS:
        if not layer_options:
            st.error(f"{model.name} has no convolutional layer: {A.METHOD_TITLES[method]} needs one. Try Saliency.")
            st.stop()
        layer = m2.selectbox("Target layer (default: where the classifier looks)", layer_options,
                             index=layer_options.index(default_layer), key="attr_layer",
                             help="The convolutions, plus the model's own choice (EfficientNet-Lite0: head_activation, "
                                  "the 7x7x1280 map the classifier pools). The Faithfulness tab scores them.")
    o1, o2 = st.columns(2)
    alpha = o1.slider("Overlay opacity α", 0.0, 1.0, 0.5, 0.05, key="attr_alpha")
    colormap = o2.selectbox("Colormap", A.COLORMAPS, key="attr_cmap")
    options: dict = {}
    if method == "scorecam":
        options = {"max_channels": st.select_slider(
            "Channels that mask the input", A.SCORECAM_CHANNELS, A.CLASS_OPTIONS["scorecam"]["max_channels"],
            key="attr_sc_k", format_func=lambda k: f"{k} (in class)" if k == A.CLASS_OPTIONS["scorecam"]["max_channels"]
            else (f"{k} (the paper: every channel, slow)" if k == A.SCORECAM_CHANNELS[-1] else str(k)),
            help="The strongest channels by peak activation, one forward pass each. The paper uses every channel "
                 "of the layer: slower by the same factor, and the map barely changes.")}
    elif method == "smoothgrad":
        s1, s2 = st.columns(2)
        options = {"samples": s1.slider("Noisy samples", 1, 100, A.CLASS_OPTIONS["smoothgrad"]["samples"],
                                        key="attr_sg_n",
                                        help="In class: a dozen. The paper's setting is 50: four times the wait."),
                   "noise": s2.slider("Noise level (share of the value range)", 0.0, 0.5, 0.2, 0.01, key="attr_sg_noise")}
    elif method == "ig":
        s1, s2 = st.columns(2)
        options = {"baseline": s1.selectbox("Baseline", ["zeros", "black", "blur"], key="attr_ig_base",
                                            help="zeros: the all-zero model input; black: a black image; blur: a "
                                                 "heavily blurred copy"),
                   "steps": s2.slider("Steps (trapezoid rule)", 8, 512, A.CLASS_OPTIONS["ig"]["steps"], 8,
                                      key="attr_ig_steps",
                                      help="In class: 16 (on the default picture the map agrees with 256 steps "
                                           "to r = 0.99). The paper uses 20 to 300 steps: up to 20 times the wait.")}

# the presenter's "click where the heat will be" question opens on this image, answered by Grad-CAM (dashboard/follow.py)
follow.offer_click_image("grad-cam", lambda q: questions.gradcam_click(q, model, image, target, layer))


def compute(method: str, target: int, layer, options: dict) -> A.Heatmap:
    """One heatmap, computed once per (model, image, method, class, layer, options) in this worker."""
    return resources.heatmap(model, image, method, target, layer, options)


def shown_base() -> np.ndarray:
    return display_scaled(image, DISPLAY)  # by the long side: a 1-px strip never becomes a huge picture


def as_shown(rgb: np.ndarray, base: np.ndarray) -> np.ndarray:
    """A model-input-sized picture (e.g. a guided gradient) at the shown image's size and aspect."""
    return resize(rgb, base.shape[0], base.shape[1], "bilinear")


try:
    heat = compute(method, target, layer, options)
    heat_other = compute(method, other, layer, options) if other != target else heat
except A.AttributionError as exc:
    st.error(str(exc))
    st.stop()

title = A.METHOD_TITLES[method]


def overlays_section() -> None:
    """The two overlays and the detail expander: drawn once per setting in this worker (every input is in
    the replay key below), replayed for every other student."""
    base = shown_base()
    if other == target:  # one question asked twice is one picture, not "espresso vs espresso"
        st.subheader(f"{title} for '{cls_name}' (p = {probabilities[target]:.3f})")
    else:
        st.subheader(f"{title} for '{cls_name}' (p = {probabilities[target]:.3f}) and for '{other_name}' "
                     f"(p = {probabilities[other]:.3f})")
    if heat.note:
        st.warning(heat.note)
    pairs = [(cls_name, target, heat)] + ([(other_name, other, heat_other)] if other != target else [])
    for col, (name, idx, hm) in zip(st.columns(2), pairs, strict=False):
        col.image(A.overlay(base, hm.values, alpha, colormap), width="stretch",
                  caption=f"{title}: '{name}' (p = {probabilities[idx]:.3f})")
    if other == target:
        st.info("Both selectors name the same class: pick another class under “Compare with” to see where the "
                "evidence for it is.")
    else:
        st.caption("The same network, the same image, two questions: the heat moves to where the evidence for each "
                   "class is.")
    if heat.layer and method in A.LAYER_METHODS:
        shape = model.layer(heat.layer).output.shape
        st.caption(f"From layer {heat.layer}: a {shape[1]}x{shape[2]} map with {shape[3]} channels, upsampled "
                   f"(bilinear) to the {model.input_size[0]}x{model.input_size[1]} input.")

    with st.expander(f"'{cls_name}' in detail: input, heatmap, overlay", expanded=False):
        p1, p2, p3 = st.columns(3)
        p1.image(base, caption="what the model was given" + (" (the face crop)" if model.name == "emotion-cnn" else ""),
                 width="stretch")
        if heat.rgb is not None:
            p2.image(as_shown(heat.rgb, base), caption="the guided gradient (gray = 0)", width="stretch")
        else:
            p2.image(A.colorize(heat.values, colormap), caption=f"heatmap {heat.values.shape[0]}x{heat.values.shape[1]}"
                     + (f" from {heat.layer}" if heat.layer else ""), width="stretch")
        p3.image(A.overlay(base, heat.values, alpha, colormap), caption=f"overlay, α = {alpha:.2f}", width="stretch")


with lecture_path.place(stage):  # lecture mode: in the stage under the title, above the controls
    components.replay("attr.overlays", (model, image, method, target, other, layer, options, alpha, colormap),
                      overlays_section, pictures=True)
d1, d2 = st.columns(2)
with d1:
    components.download_image(lambda: A.overlay(shown_base(), heat.values, alpha, colormap),
                              f"{model.name}_{method}_{cls_name}.png", "Download overlay (PNG)", key="dl_attr")
with d2:
    components.download_json(lambda: {"model": model.name, "method": method, "class": cls_name, "layer": heat.layer,
                                      "heatmap": np.round(heat.values, 4).tolist()},
                             f"{model.name}_{method}_{cls_name}.json", "Download heatmap (JSON)", key="dl_attr_json")

# Only the open tab runs (on_change="rerun"): a student opening the page pays for one of them.
tab_guided, tab_all, tab_sanity, tab_faith = st.tabs(
    ["Guided backprop & Guided Grad-CAM", "Compare all methods", "Sanity check", "Faithfulness & best layer"],
    key="attr_tab", on_change="rerun")

if tab_guided.open:
    with tab_guided:
        st.markdown(
            "**Guided backpropagation** (Springenberg et al. 2015) takes the gradient of the class score with respect "
            "to the pixels, but lets each ReLU pass a gradient back only where its input was positive *and* the "
            "gradient arriving from above is positive. The result is crisp — and nearly the same for every class. "
            "**Guided Grad-CAM** (Selvaraju et al. 2017) multiplies it by the Grad-CAM map: fine detail, but only "
            "where the class is.")
        gl = layer if method in A.LAYER_METHODS else default_layer

        def guided_section() -> None:
            base = shown_base()
            for name, idx in ((cls_name, target), (other_name, other)):
                cols = st.columns(3)
                try:
                    maps = {m: compute(m, idx, gl, {}) for m in ("gradcam", *GUIDED)}
                except A.AttributionError as exc:
                    st.info(str(exc))
                    break
                cols[0].image(A.overlay(base, maps["gradcam"].values, alpha, colormap), width="stretch",
                              caption=f"Grad-CAM: '{name}'")
                for col, m in zip(cols[1:], GUIDED, strict=True):
                    col.image(as_shown(maps[m].rgb, base), width="stretch", caption=f"{A.METHOD_TITLES[m]}: '{name}'")

        components.replay("attr.guided", (model, image, target, other, gl, alpha, colormap), guided_section,
                          pictures=True)
        st.caption("The guided gradient is shown as an image: gray is zero, brighter and darker are positive and "
                   "negative. Does guided backpropagation change between the two classes? See the sanity check.")

if tab_all.open:
    with tab_all:
        st.caption("Every method for the same image and class. CAM needs a global-average-pooling head; the CAM "
                   "family uses the layer chosen above, the gradient family looks at the pixels.")
        all_layer = layer or default_layer
        every: dict[str, A.Heatmap | str] = {}
        for m in A.METHODS:  # computed (or queued) first, outside the replayed drawing
            try:
                every[m] = compute(m, target, all_layer, A.CLASS_OPTIONS.get(m, {}))
            except A.AttributionError as exc:
                every[m] = str(exc)

        def all_section() -> None:
            base = shown_base()
            columns = st.columns(4)
            for i, m in enumerate(A.METHODS):
                with columns[i % 4]:
                    hm = every[m]
                    if isinstance(hm, str):
                        st.markdown(f"**{A.METHOD_TITLES[m]}**")
                        st.info(hm)
                        continue
                    st.image(A.overlay(base, hm.values, alpha, colormap), caption=A.METHOD_TITLES[m], width="stretch")
                    if hm.note:
                        st.caption(hm.note)

        components.replay("attr.all", (model, image, target, all_layer, alpha, colormap), all_section, pictures=True)

if tab_sanity.open:
    with tab_sanity:
        st.markdown(
            "**Sanity check** (Adebayo et al. 2018, cascading randomisation): on a *copy* of the network, replace the "
            "weights layer by layer, from the classifier down, with random numbers of the same spread, and recompute "
            "each map. A map that explains the model must change once the model is destroyed; the number under "
            "each map is its Spearman rank correlation with the original (1 = unchanged).")
        stops = st.slider("Stops along the way (randomised layers double each time)", 3, 10, 6, key="attr_sanity_stops")
        sl = layer if method in A.LAYER_METHODS else default_layer
        try:
            steps = resources.sanity_check(model, image, target, sl, stops)
        except A.AttributionError as exc:
            st.error(str(exc))
            steps = []

        def sanity_section() -> None:
            base = shown_base()
            if steps:
                methods = list(steps[0].maps)
                # one row per method, one column per stop (left: the original network)
                header = st.columns([1.2] + [1] * len(steps))
                header[0].markdown("**randomised →**")
                for col, s in zip(header[1:], steps, strict=True):
                    col.caption("original" if not s.randomized else
                                f"{len(s.randomized)} layer{'s' if len(s.randomized) > 1 else ''}, down to "
                                f"{s.randomized[-1]}")
                for m in methods:
                    row = st.columns([1.2] + [1] * len(steps))
                    row[0].markdown(f"**{A.METHOD_TITLES[m]}**")
                    for col, s in zip(row[1:], steps, strict=True):
                        rho = s.spearman[m]
                        shown_map = (A.overlay(base, s.maps[m], 0.6, colormap) if m == "gradcam"
                                     else as_shown(A.gradient_image(s.maps[m][:, :, None]), base))
                        col.image(shown_map, width="stretch", caption=f"ρ = {rho:.2f}" if np.isfinite(rho) else "flat map")
                rows = [{"randomised down to": s.label, "layers": len(s.randomized),
                         **{A.METHOD_TITLES[m]: s.spearman[m] for m in methods}} for s in steps]
                table = pd.DataFrame(rows)
                st.dataframe(table, hide_index=True, width="stretch",
                             column_config={A.METHOD_TITLES[m]: st.column_config.NumberColumn(format="%.2f")
                                            for m in methods})
                last_top = steps[min(2, len(steps) - 1)]
                st.info(f"After randomising {len(last_top.randomized)} layer(s) from the top: "
                        + ", ".join(f"{A.METHOD_TITLES[m]} ρ = {last_top.spearman[m]:.2f}" for m in methods)
                        + ". A method whose map stays near 1 while the classifier is random is showing the image, "
                          "not the model's reasons.")

        components.replay("attr.sanity", (model, image, target, sl, stops, colormap), sanity_section, pictures=True)
        if steps:
            components.download_json(lambda: [{"randomised down to": s.label, "layers": len(s.randomized),
                                               **{A.METHOD_TITLES[m]: s.spearman[m] for m in s.maps}} for s in steps],
                                     f"{model.name}_sanity_check.json", key="dl_sanity")

if tab_faith.open:
    with tab_faith:
        st.markdown(
            "A heatmap is only useful if it is **faithful**: removing the pixels it ranks highest should make the "
            "class probability fall fast (*deletion*, low area under the curve is good), and revealing them first on "
            "a blurred copy should make it rise fast (*insertion*, high area is good). A random order is the floor.")
        steps_f = st.slider("Steps along each curve", 8, 64, 32, 8, key="attr_faith_steps")
        fl = layer or default_layer

        rows, lines = resources.faithfulness(model, image, target, fl, steps_f)

        def faith_section() -> None:
            st.plotly_chart(figures.faithfulness_curves(lines), width="stretch")
            table = pd.DataFrame(rows).sort_values("insertion − deletion", ascending=False)
            st.dataframe(table, hide_index=True, width="stretch",
                         column_config={c: st.column_config.NumberColumn(format="%.3f") for c in table.columns[1:]})
            best = table.iloc[0]
            st.info(f"Most faithful here: **{best['method']}** (insertion − deletion = "
                    f"{best['insertion − deletion']:.3f}). Scores depend on the image, the class and the model: try "
                    "another image or class.")

        components.replay("attr.faithfulness", (model, image, target, fl, steps_f), faith_section)
        candidates = A.candidate_layers(model) if layer_options else []
        if candidates:
            st.markdown("**Grad-CAM at each candidate layer** (coarse late maps vs finer earlier ones):")

            layer_rows = resources.layer_faithfulness(model, image, target, tuple(candidates), steps_f)
            st.dataframe(pd.DataFrame(layer_rows), hide_index=True, width="stretch",
                         column_config={c: st.column_config.NumberColumn(format="%.3f")
                                        for c in ("deletion AUC ↓", "insertion AUC ↑", "insertion − deletion")})
            top = max(layer_rows, key=lambda r: r["insertion − deletion"])
            current = layer or default_layer
            if top["layer"] == current:
                st.success(f"Suggested target layer: **{top['layer']}** ({top['map']}) — already in use.")
            else:
                def use_layer(name=top["layer"]):
                    st.session_state["attr_layer"] = name
                    if st.session_state.get("attr_method") not in A.LAYER_METHODS:
                        st.session_state["attr_method"] = "gradcam"

                s1, s2 = st.columns([3, 1])
                s1.info(f"Suggested target layer: **{top['layer']}** ({top['map']}): its Grad-CAM scores "
                        f"{top['insertion − deletion']:.3f} (insertion − deletion) here, against "
                        f"{next((r['insertion − deletion'] for r in layer_rows if r['layer'] == current), float('nan')):.3f}"
                        f" at {current}.")
                s2.button(f"Use {top['layer']}", key="attr_use_layer", on_click=use_layer, type="primary")
        f1, f2 = st.columns(2)
        with f1:
            components.download_figure(lambda: figures.faithfulness_curves(lines), f"{model.name}_faithfulness.html",
                                       key="dl_faith_fig")
        with f2:
            components.download_json(rows, f"{model.name}_faithfulness.json", key="dl_faith_json")
