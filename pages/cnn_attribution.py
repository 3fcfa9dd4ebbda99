"""CNN Visualization part three: heatmaps of class activation (CAM, Grad-CAM and the gradient family),
compared side by side and scored for faithfulness (deletion / insertion curves)."""

import numpy as np
import pandas as pd
import streamlit as st

from core.images import resize
from core.vision import attribution as A
from dashboard import components, figures, resources, vision_ui

DISPLAY = 320  # px: the short side the overlays are drawn at
HEAVY_METHODS = {"scorecam", "smoothgrad", "ig"}  # queued in the job pool (the others take milliseconds)

st.title("Where does the network look? CAM and Grad-CAM")
st.markdown(
    "Which parts of the image made the network say *this class*? **Grad-CAM** takes the gradient of the "
    "class score (before the softmax) with respect to the last convolutional layer's activations, averages it "
    "per channel, and uses that as the weight of each activation map:")
st.latex(r"\alpha_k^c = \frac{1}{|I \times J|} \sum_{i,j} \frac{\partial f_c(I)}{\partial A_{i,j,k}^{(L)}}"
         r"\qquad S_{i,j} = \frac{1}{S_{max}} \mathrm{ReLU}\Big(\sum_k \alpha_k^c A_{i,j,k}^{(L)}\Big)")

with components.controls("Model and image"):
    model = vision_ui.model_picker(key="attr_model")
    if model is None:
        st.stop()
    image = vision_ui.model_image(model, "attr_image")
if image is None:
    st.stop()

x = model.preprocess(image)[None]
probabilities = A.softmax(model.predict_logits(x)[0])
ranked = [int(i) for i in np.argsort(-probabilities)]
model_key = (model.uid, resources.content_key(x))

c1, c2 = st.columns([2, 1])
with c2:
    st.markdown("**Top-5 predictions**")
    vision_ui.prediction_table(model, image, top=5)
with c1:
    cls_name = st.selectbox("Class to explain (default: the top prediction)", model.class_names, index=ranked[0],
                            key="attr_class", help="Any class, not only the predicted one: where would it be?")
    target = model.class_index(cls_name)
    m1, m2 = st.columns(2)
    method = m1.selectbox("Method", A.METHODS, format_func=A.METHOD_TITLES.get, key="attr_method")
    convs = model.conv_layers
    layer = None
    if method in A.LAYER_METHODS:
        if not convs:
            st.error(f"{model.name} has no convolutional layer: {A.METHOD_TITLES[method]} needs one. Try Saliency.")
            st.stop()
        layer = m2.selectbox("Convolutional layer (default: the last)", convs, index=len(convs) - 1, key="attr_layer")
    o1, o2 = st.columns(2)
    alpha = o1.slider("Overlay opacity α", 0.0, 1.0, 0.5, 0.05, key="attr_alpha")
    colormap = o2.selectbox("Colormap", A.COLORMAPS, key="attr_cmap")
    options: dict = {}
    if method == "smoothgrad":
        s1, s2 = st.columns(2)
        options = {"samples": s1.slider("Noisy samples", 1, 100, 20, key="attr_sg_n"),
                   "noise": s2.slider("Noise level (share of the value range)", 0.0, 0.5, 0.2, 0.01, key="attr_sg_noise")}
    elif method == "ig":
        s1, s2 = st.columns(2)
        options = {"baseline": s1.selectbox("Baseline", ["zeros", "black", "blur"], key="attr_ig_base",
                                            help="zeros: the all-zero model input; black: a black image; blur: a "
                                                 "heavily blurred copy"),
                   "steps": s2.slider("Steps (trapezoid rule)", 8, 512, 128, 8, key="attr_ig_steps")}


def compute(method: str, target: int, layer, options: dict) -> A.Heatmap:
    key = (model_key, method, target, layer if method in A.LAYER_METHODS else None, tuple(sorted(options.items())))
    return resources.compute("heatmap", key, lambda p: A.attribute(model, image, method, target, layer=layer, **options),
                             f"{A.METHOD_TITLES[method]} ...", heavy=method in HEAVY_METHODS)


h, w = image.shape[:2]
scale = DISPLAY / min(h, w)
base = resize(image, max(1, round(h * scale)), max(1, round(w * scale)), "auto") if scale > 1 else image

try:
    heat = compute(method, target, layer, options)
except A.AttributionError as exc:
    st.error(str(exc))
    st.stop()

st.subheader(f"{A.METHOD_TITLES[method]} for '{cls_name}' (p = {probabilities[target]:.3f})")
if heat.note:
    st.warning(heat.note)
if heat.layer and method in A.LAYER_METHODS:
    shape = model.layer(heat.layer).output.shape
    st.caption(f"From layer {heat.layer}: a {shape[1]}x{shape[2]} map with {shape[3]} channels, upsampled "
               f"(bilinear) to the {x.shape[1]}x{x.shape[2]} input.")
p1, p2, p3 = st.columns(3)
p1.image(base, caption="what the model was given" + (" (the face crop)" if model.name == "emotion-cnn" else ""),
         width="stretch")
p2.image(A.colorize(heat.values, colormap), caption=f"heatmap {heat.values.shape[0]}x{heat.values.shape[1]}"
         + (f" from {heat.layer}" if heat.layer else ""), width="stretch")
shown = A.overlay(base, heat.values, alpha, colormap)
p3.image(shown, caption=f"overlay, α = {alpha:.2f}", width="stretch")
d1, d2 = st.columns(2)
with d1:
    components.download_image(shown, f"{model.name}_{method}_{cls_name}.png", "Download overlay (PNG)", key="dl_attr")
with d2:
    components.download_json({"model": model.name, "method": method, "class": cls_name, "layer": heat.layer,
                              "heatmap": np.round(heat.values, 4).tolist()}, f"{model.name}_{method}_{cls_name}.json",
                             "Download heatmap (JSON)", key="dl_attr_json")

tab_all, tab_two, tab_faith = st.tabs(["Compare all methods", "One method, two classes", "Faithfulness"])

with tab_all:
    st.caption("Every method for the same image and class. CAM needs a global-average-pooling head; the CAM "
               "family uses the layer chosen above, the gradient family looks at the pixels.")
    heatmaps = {}
    columns = st.columns(4)
    for i, m in enumerate(A.METHODS):
        with columns[i % 4]:
            try:
                heatmaps[m] = compute(m, target, layer, {"smoothgrad": {"samples": 20}, "ig": {"steps": 64}}.get(m, {}))
            except A.AttributionError as exc:
                st.markdown(f"**{A.METHOD_TITLES[m]}**")
                st.info(str(exc))
                continue
            st.image(A.overlay(base, heatmaps[m].values, alpha, colormap), caption=A.METHOD_TITLES[m], width="stretch")
            if heatmaps[m].note:
                st.caption(heatmaps[m].note)

with tab_two:
    t1, t2 = st.columns(2)
    first = t1.selectbox("First class", model.class_names, index=ranked[0], key="attr_two_a")
    second = t2.selectbox("Second class", model.class_names, index=ranked[min(1, len(ranked) - 1)], key="attr_two_b")
    for col, name in zip(st.columns(2), (first, second), strict=True):
        idx = model.class_index(name)
        try:
            hm = compute(method, idx, layer, options)
        except A.AttributionError as exc:
            col.error(str(exc))
            continue
        col.image(A.overlay(base, hm.values, alpha, colormap), width="stretch",
                  caption=f"{A.METHOD_TITLES[method]}: '{name}' (p = {probabilities[idx]:.3f})")
    st.caption("The same network, the same image, two questions: where is the evidence for each class?")

with tab_faith:
    st.markdown(
        "A heatmap is only useful if it is **faithful**: removing the pixels it ranks highest should make the class "
        "probability fall fast (*deletion*, low area under the curve is good), and revealing them first on a "
        "blurred copy should make it rise fast (*insertion*, high area is good). A random pixel order is the floor.")
    steps = st.slider("Steps along each curve", 8, 64, 32, 8, key="attr_faith_steps")

    def curves():
        rows, lines = [], {}
        orders = dict(heatmaps)
        rng = np.random.default_rng(0)
        orders["random order"] = A.Heatmap(rng.random(x.shape[1:3]).astype(np.float32), "random", target, None)
        for name, hm in orders.items():
            f = A.faithfulness(model, x, hm.values, target, steps=steps)
            label = A.METHOD_TITLES.get(name, name)
            lines[label] = (f.fractions, f.deletion, f.insertion)
            rows.append({"method": label, "deletion AUC ↓": f.deletion_auc, "insertion AUC ↑": f.insertion_auc,
                         "insertion − deletion": f.insertion_auc - f.deletion_auc})
        return rows, lines

    rows, lines = resources.compute("faithfulness", (model_key, target, layer, steps), lambda p: curves(),
                                    "Deleting and inserting pixels ...", heavy=True)
    fig = figures.faithfulness_curves(lines)
    st.plotly_chart(fig, width="stretch")
    table = pd.DataFrame(rows).sort_values("insertion − deletion", ascending=False)
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.3f") for c in table.columns[1:]})
    best = table.iloc[0]
    st.info(f"Most faithful here: **{best['method']}** (insertion − deletion = {best['insertion − deletion']:.3f}). "
            "Scores depend on the image, the class and the model: try another face or class.")
    if convs:
        st.markdown("**Grad-CAM at each convolutional layer** (the last is the default, and the coarsest):")

        def per_layer():
            out = []
            for name in convs[-5:]:
                hm = A.grad_cam(model, x, target, name)
                f = A.faithfulness(model, x, hm.values, target, steps=steps)
                shape = model.layer(name).output.shape
                out.append({"layer": name, "map": f"{shape[1]}x{shape[2]}", "deletion AUC ↓": f.deletion_auc,
                            "insertion AUC ↑": f.insertion_auc, "insertion − deletion": f.insertion_auc - f.deletion_auc})
            return out

        layer_rows = resources.compute("faithfulness", ("layers", model_key, target, steps), lambda p: per_layer(),
                                       "Grad-CAM layer by layer ...", heavy=True)
        st.dataframe(pd.DataFrame(layer_rows), hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(format="%.3f")
                                    for c in ("deletion AUC ↓", "insertion AUC ↑", "insertion − deletion")})
    f1, f2 = st.columns(2)
    with f1:
        components.download_figure(fig, f"{model.name}_faithfulness.html", key="dl_faith_fig")
    with f2:
        components.download_json(rows, f"{model.name}_faithfulness.json", key="dl_faith_json")
