"""Widgets shared by the CNN pages: the model picker and the image (or face) the model looks at."""

from __future__ import annotations

import numpy as np
import streamlit as st

from core import images
from core.assets import AssetError
from core.cache import KeyedCache
from core.vision import zoo
from dashboard import components, resources

UPLOAD = "upload"


def _title(name: str) -> str:
    return "Your own model (.keras or .h5 classifier)" if name == UPLOAD else zoo.SPECS[name].title


def loaded_model(name: str) -> zoo.LoadedModel:
    """A zoo model, loaded (or trained) once per process, with a progress bar the first time; its
    pages' first computations are then traced in the background (:func:`warm_up`)."""
    model = resources.model(name, lambda p: zoo.load_model(name, resources.asset_manager(), progress=p))
    resources.note_loaded(name)
    if name in zoo.PAGE_DEFAULTS:
        from core import jobs

        jobs.pool().submit(_WARM, model.uid, lambda p: warm_up(model, p), f"Preparing {name}'s pages ...")
    return model


_WARM = KeyedCache("warm-up", max_entries=16, sizeof=lambda v: 0)  # model uid -> seconds spent


def warm_up(model: zoo.LoadedModel, progress=None) -> float:
    """Trace what the CNN pages compute first for this model (Grad-CAM and the guided gradient at the
    default layer, the filter loop on its canvas, the Deep Dream loop for the default layers), once per
    process, on a job-pool thread while the lecturer is still talking: tracing EfficientNet-Lite0's
    gradient graphs costs 1-2 s each. The first student then waits for the computation, not the tracing.
    No Streamlit here (it runs in a worker thread)."""
    import time

    import numpy as np

    from core.vision import ascent, ascent_settings
    from core.vision import attribution as A

    start = time.perf_counter()
    x = np.zeros((1, *model.input_size, model.channels), np.float32)
    steps = [("Grad-CAM", lambda: A.grad_cam(model, x, 0)), ("guided backpropagation", lambda: A.guided_backprop(model, x, 0))]
    f = zoo.page_defaults(model.name, "filters")
    s = ascent_settings.for_model(model.name, "filters")
    if f and s is not None:  # the page's settings, one step: the same graph (canvas, Fourier or pixels) as the page's
        net = ascent.any_size(model) if (s.size or model.input_size[0]) != model.input_size[0] else model
        first = list(range(f.get("count", 8)))  # the page's batch: another batch size would trace again
        steps.append(("filters", lambda: ascent.gradient_ascent(net, f["layer"], first, **s.replace(steps=1).call_kwargs())))
    d = zoo.page_defaults(model.name, "dream")
    if d:
        gray = np.full((64, 64, 3), 128, np.uint8)
        roll = d.get("noise", "scale") == "roll"  # the page's noise process and objective: the same graph
        steps.append(("Deep Dream", lambda: ascent.deep_dream(
            model, gray, d["layers"], octaves=1, iterations=1, jitter=d.get("jitter", 0) if roll else 0, max_side=64,
            scaling=0.0 if roll else d.get("scaling", 1) / 100, objective=d.get("objective", "activation"))))
    for i, (what, fn) in enumerate(steps):
        if progress is not None:
            progress(i / len(steps), f"tracing {what} for {model.name}")
        try:
            fn()
        except Exception:  # a warm-up never fails a page: the page will report its own error
            pass
    return time.perf_counter() - start


def _user_model() -> zoo.LoadedModel | None:
    upload = st.file_uploader("Model file", type=["keras", "h5", "hdf5"], key="user_model_file",
                              help=".keras files load with safe_mode (no arbitrary code); legacy .h5 likewise.")
    if upload is None:
        st.info("Upload a .keras or .h5 image classifier, or pick a listed model.")
        return None
    c1, c2 = st.columns(2)
    prep = c1.selectbox("Preprocessing", ["unit", "tf", "caffe", "fer", "none"], key="user_model_prep",
                        help="unit: x/255; tf: x/127.5 - 1; caffe: BGR minus ImageNet mean; fer: (x/255 - 0.5) * 2")
    names_text = c2.text_input("Class names (comma separated, optional)", "", key="user_model_names")
    key = ("user_model", upload.file_id, prep, names_text)
    cached = st.session_state.get("_user_model")
    if cached is not None and cached[0] == key:
        return cached[1]
    try:
        with st.spinner("Reading the model ..."):
            model = zoo.load_user_model(upload.getvalue(), upload.name, prep,
                                        class_names=components.parse_word_list(names_text) or None)
    except zoo.ModelError as exc:
        st.error(str(exc))
        return None
    layer_names = [layer.name for layer in model.model.layers]
    class_layer = st.selectbox("Layer giving the class scores (pre-softmax)", ["automatic"] + layer_names[::-1],
                               key="user_model_class_layer",
                               help="Automatic: the input of a final softmax, or the last Dense layer re-applied linearly.")
    if class_layer != "automatic":
        try:
            model = zoo.load_user_model(upload.getvalue(), upload.name, prep, class_layer=class_layer,
                                        class_names=components.parse_word_list(names_text) or None)
        except zoo.ModelError as exc:
            st.error(str(exc))
            return None
    st.caption(f"{len(layer_names)} layers; input {model.model.inputs[0].shape}; {len(model.class_names)} class scores.")
    st.session_state["_user_model"] = (key, model)  # per session: nobody else's model
    return model


def model_picker(key: str = "cnn_model", default: str = zoo.DEFAULT_MODEL,
                 exclude: tuple[str, ...] = ()) -> zoo.LoadedModel | None:
    options = [n for n in zoo.SPECS if n not in exclude] + ([UPLOAD] if UPLOAD not in exclude else [])
    current = components.remembered("cnn_model", default)
    name = st.selectbox("Model", options, index=options.index(current) if current in options else 0,
                        format_func=_title, key=key)
    components.remember("cnn_model", name)
    if name == UPLOAD:
        return _user_model()
    spec = zoo.SPECS[name]
    mgr = resources.asset_manager()
    if not spec.offline and not components.offer_download(mgr, spec.asset, f"{spec.title}: the ImageNet weights",
                                                           f"fetch_{name}"):
        return None
    try:
        model = loaded_model(name)
    except (zoo.ModelError, AssetError) as exc:
        st.error(str(exc))
        return None
    if model.note:
        st.caption(model.note)
    return model


def model_image(model: zoo.LoadedModel, key: str, default: str | None = None) -> np.ndarray | None:
    """The picked image; for the emotion CNN, the face chosen among those the LBP cascade finds."""
    default = default or ("astronaut" if model.name == "emotion-cnn" else "chelsea")
    follow_default(key, default)
    loaded = components.image_picker(key, default=default)
    if loaded is None:
        return None
    image = loaded.array
    problem = images.model_view_problem(image, model.input_size)
    if problem is not None:  # refuse what the network cannot see, rather than explain an artefact
        st.error(problem)
        return None
    if model.name == "emotion-cnn":
        faces = resources.compute("faces", resources.content_key(image), lambda p: zoo.find_faces(image),
                                  "Looking for faces ...")
        labels = [f"face {i + 1} at ({f.col}, {f.row}), {f.width} px" for i, f in enumerate(faces)] + ["whole image"]
        choice = st.selectbox(f"{len(faces)} face(s) found (LBP cascade)", labels, key=f"{key}_face")
        if choice != "whole image":
            image = faces[labels.index(choice)].crop(image)
        elif not faces:
            st.caption("No face found: the emotion CNN will see the whole image (it was trained on faces only).")
    return image


def model_and_image(section: str, image_key: str, model_key: str = "cnn_model"
                    ) -> tuple[zoo.LoadedModel, np.ndarray, dict]:
    """The CNN pages' first controls: a model, then an image (the model's default for ``section``);
    stops the page (after its sentence) when either is missing. Returns (model, image, page defaults)."""
    with components.controls("Model and image"):
        model = model_picker(key=model_key)
        if model is None:
            st.stop()
        defaults = zoo.page_defaults(model.name, section)
        image = model_image(model, image_key, default=defaults.get("image"))
    if image is None:
        st.stop()
    return model, image, defaults


def follow_default(key: str, default: str) -> None:
    """A new model brings its own sample picture (a face for the emotion CNN, the cat-and-espresso for
    Grad-CAM on ImageNet) to image picker ``key``, unless the user had picked another one."""
    previous = st.session_state.get(f"_{key}_default")
    if previous not in (None, default) and st.session_state.get(f"{key}_sample") == previous:
        st.session_state[f"{key}_sample"] = default
    st.session_state[f"_{key}_default"] = default


def prediction_table(model: zoo.LoadedModel, image: np.ndarray, top: int = 5) -> None:
    """The top classes as a table: predicted once per (model, image) and drawn once per worker
    (every later student gets the replay)."""
    top = min(top, len(model.class_names))
    components.replay("vision.predictions", (model, image, top),
                      lambda: _draw_predictions(resources.predictions(model, image, top)))


def _draw_predictions(preds: list[tuple[str, float]]) -> None:
    import pandas as pd

    st.dataframe(pd.DataFrame(preds, columns=["class", "probability"]), hide_index=True,
                 column_config={"probability": st.column_config.ProgressColumn(format="%.3f", min_value=0, max_value=1)})


def preferred(options: list[str], wanted: str | None, fallback: str) -> str:
    """``wanted`` (a model's page default) when it is one of ``options``, else ``fallback``."""
    return wanted if wanted in options else fallback


def gallery_link(layer: str, channel: int | None, label: str, width="content") -> None:
    """A link to the neuron gallery at ``layer`` (and ``channel``): the same URL a student can share."""
    from dashboard import navigation

    spec = next((p for p in navigation.PAGES if p.file == "cnn_gallery.py"), None)
    if spec is None or not spec.path.exists():
        return
    params = {"layer": layer} | ({"channel": str(channel)} if channel is not None else {})
    st.page_link(navigation.page_link_target(spec), label=label, icon=spec.icon, query_params=params, width=width)


def reset_on_model_change(prefix: str, model: zoo.LoadedModel, keep: tuple[str, ...] = ()) -> None:
    """Forget the settings widgets ``prefix*`` had for another model, so each model opens on its own
    defaults (a texture filter of EfficientNet wants other steps and η than the emotion CNN)."""
    marker = f"_{prefix}for"
    if st.session_state.get(marker) not in (None, model.name):
        for k in [k for k in st.session_state if isinstance(k, str) and k.startswith(prefix) and k not in keep]:
            del st.session_state[k]
    st.session_state[marker] = model.name
