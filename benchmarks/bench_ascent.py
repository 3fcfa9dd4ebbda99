"""Gradient ascent against tf-keras-vis, Deep Dream time, activation-grid time.

* Class maximisation of "happy" on the offline emotion CNN, 100 steps, batch 1: our compiled loop
  (one tf.function runs the steps; gradient normalised, no jitter/regularisers) against
  ``tf_keras_vis.activation_maximization.ActivationMaximization`` with the same steps, the model's
  softmax replaced by linear, and its default regularisers and input modifiers turned off
  (``regularizers=None, input_modifiers=None``). Both warm (second call). Target >= 10x.
* Deep Dream on a 512-px image, 3 octaves x 20 iterations, on the self-trained shapes CNN.
* Activation grid of a 64-channel layer: maps + tiling + figure (target < 500 ms).
* EfficientNet-Lite0: class maximisation, 100 steps at 224x224, against tf-keras-vis on the same model
  in the same run (goal >= 10x, both warm); the pages' defaults in absolute time (8 filters of
  block4a_expand_activation on a 96-px canvas of the truncated network, the honeycomb class neuron,
  Deep Dream on china); the neuron gallery's time per channel (cold, one block of 8, at three depths).
* ``--pages``: the first load of each CNN page with its new defaults, measured with AppTest, each page
  in its own process after the model is loaded once (goal < 3 s): with nothing computed yet (a cache
  folder without the gallery), after a restart with the gallery on disk, and for a second session.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from timing import best_of  # noqa: E402

import core  # noqa: E402,F401  (sets the TensorFlow environment first)
from core.images import sample_image  # noqa: E402
from core.vision import activations, ascent, zoo  # noqa: E402


def main() -> None:
    from tf_keras_vis.activation_maximization import ActivationMaximization
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    emotion = zoo.load_model("emotion-cnn")
    happy = emotion.class_index("happy")
    ours = best_of(lambda: ascent.gradient_ascent(emotion, None, [happy], steps=100, step_size=1.0, init="random"),
                   repeat=3)
    am = ActivationMaximization(emotion.model, model_modifier=ReplaceToLinear(), clone=True)
    peer = best_of(lambda: am(CategoricalScore(happy), steps=100, input_modifiers=None, regularizers=None, callbacks=None),
                 repeat=2)
    print(f"class maximisation, emotion CNN, 100 steps: ours {ours:.3f} s, tf-keras-vis {peer:.3f} s "
          f"-> ratio {peer / ours:.1f}x (target >= 10x)")

    shapes = zoo.load_model("shapes-cnn")
    image = sample_image("chelsea")
    layers = {"conv3_1": 1.0, "conv3_2": 0.5}
    ascent.deep_dream(shapes, image, layers, octaves=3, iterations=20, max_side=512)  # compile
    dream = best_of(lambda: ascent.deep_dream(shapes, image, layers, octaves=3, iterations=20, max_side=512), repeat=2)
    print(f"Deep Dream, shapes CNN, 512-px image, 3 octaves x 20 iterations: {dream:.2f} s")

    from dashboard import figures

    face = zoo.find_faces(sample_image("astronaut"))[0].crop(sample_image("astronaut"))
    layer = next(n for n in emotion.conv_layers if int(emotion.layer(n).output.shape[-1]) == 64)

    def grid():
        maps = activations.activation_maps(emotion, face, layer)
        g, cols = activations.tile_channels(maps)
        figures.activation_grid(g, cols, maps.shape[:2]).to_json()

    print(f"activation grid of {layer} (64 channels): {best_of(grid, repeat=3) * 1e3:.0f} ms (target < 500 ms)")
    efficientnet()


def efficientnet() -> None:
    import tempfile

    from tf_keras_vis.activation_maximization import ActivationMaximization
    from tf_keras_vis.utils.scores import CategoricalScore

    from core.vision import gallery

    lite = zoo.load_model("efficientnet-lite0")
    honeycomb = lite.class_index("honeycomb")
    ours = best_of(lambda: ascent.gradient_ascent(lite, None, [honeycomb], steps=100, step_size=1.0, init="random"),
                   repeat=2, warm=True)
    am = ActivationMaximization(lite.model, clone=True)  # the model's output is already the logits
    peer = best_of(lambda: am(CategoricalScore(honeycomb), steps=100, input_modifiers=None, regularizers=None,
                              callbacks=None), repeat=1, warm=True)
    print(f"class maximisation, EfficientNet-Lite0 224x224, 100 steps: ours {ours:.2f} s, tf-keras-vis {peer:.2f} s "
          f"-> ratio {peer / ours:.1f}x (goal >= 10x)")
    from core.vision import attribution

    x = lite.preprocess(sample_image("chelsea"))[None]
    floor = best_of(lambda: attribution.input_gradients(lite, x, honeycomb), repeat=5, warm=True)
    print(f"  (the floor: one forward + backward pass at 224x224 costs {floor * 1000:.1f} ms here, 100 steps "
          f"{floor * 100:.2f} s; a 10x ratio would need tf-keras-vis above {floor * 1000:.1f} s)")

    f = zoo.page_defaults(lite.name, "filters")
    flex = ascent.any_size(lite)
    t = best_of(lambda: ascent.gradient_ascent(flex, f["layer"], list(range(f["count"])), steps=f["steps"],
                                               step_size=f["eta"], size=f["size"], fourier=f["fourier"]), repeat=2,
                warm=True)
    print(f"filters page default: {f['count']} filters of {f['layer']}, {f['steps']} steps, {f['size']}-px canvas: {t:.2f} s")
    c = zoo.page_defaults(lite.name, "class")
    t = best_of(lambda: ascent.gradient_ascent(lite, None, [honeycomb], steps=c["steps"], step_size=c["eta"],
                                               jitter=c["jitter"], l2=c["l2"], blur_every=c["blur_every"]), repeat=1,
                warm=True)
    print(f"class neuron default ({c['class']}, {c['steps']} steps at 224x224): {t:.2f} s")
    d = zoo.page_defaults(lite.name, "dream")
    photo = sample_image(d["image"])

    def dream():
        return ascent.deep_dream(lite, photo, d["layers"], octaves=d["octaves"], octave_scale=d["scale"],
                                 iterations=d["iterations"], step=d["step"], jitter=d["jitter"], max_side=d["max_side"])

    print(f"Deep Dream default ({d['image']}, {d['max_side']} px, {d['octaves']} octaves x {d['iterations']}): "
          f"{best_of(dream, repeat=1, warm=True):.2f} s")

    for layer in ("block2b_expand_activation", gallery.default_layer(lite), "block6a_expand_activation"):
        with tempfile.TemporaryDirectory() as root:
            gallery.compute(lite, layer, range(gallery.BLOCK), root=Path(root))  # compiles this layer's loop
        with tempfile.TemporaryDirectory() as root:
            start = time.perf_counter()
            gallery.compute(lite, layer, range(gallery.BLOCK), root=Path(root))
            per = (time.perf_counter() - start) / gallery.BLOCK
        n = gallery.layer_channels(lite, layer)
        print(f"neuron gallery, {layer} ({n} channels, recipe {gallery.recipe_for(lite)['steps']} steps at "
              f"{gallery.recipe_for(lite)['size']} px): {per:.2f} s per channel -> the whole layer in {per * n / 60:.1f} min")


# ----------------------------------------------------------------------------- page first loads

CNN_PAGES = ("cnn_activations.py", "cnn_ascent.py", "cnn_gallery.py", "cnn_dream.py", "cnn_attribution.py")
APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


def page_load(page: str, warm: bool) -> dict:
    """In this (child) process: load the model once, then time the page's first run in a new session
    and in a second session (AppTest runs the app in this process, sharing its caches). ``warm``: let
    the background warm-up that follows a model load in the app finish first."""
    from streamlit.testing.v1 import AppTest

    from dashboard import resources, vision_ui

    model = zoo.load_model("efficientnet-lite0")
    resources.CACHES["models"].put("efficientnet-lite0", model)
    if warm:
        vision_ui._WARM.put(model.uid, vision_ui.warm_up(model))  # what the app's job pool does after a load
    else:
        vision_ui._WARM.put(model.uid, 0.0)  # mark it done: nothing traced in the background
    times = []
    for _ in range(2):
        at = AppTest.from_file(str(APP), default_timeout=900)
        at.run()  # the home page: Streamlit and the app's modules imported
        start = time.perf_counter()
        at.switch_page(f"../pages/{page}")
        at.run()
        times.append(time.perf_counter() - start)
        if at.exception:
            raise RuntimeError(f"{page}: {at.exception[0].value}")
    return {"page": page, "first": times[0], "second": times[1]}


def pages() -> None:
    import json
    import os
    import subprocess
    import tempfile

    from core.assets import default_cache_dir

    real = default_cache_dir()
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        cache.mkdir()
        for entry in real.iterdir():  # everything the app has fetched or trained, but no neuron gallery yet
            if entry.name != "gallery":
                (cache / entry.name).symlink_to(entry)
        env = dict(os.environ, DASHBOARD_CACHE=str(cache))

        def child(page: str, warm: bool) -> dict:
            out = subprocess.run([sys.executable, __file__, "--page", page] + (["--warm"] if warm else []), env=env,
                                 capture_output=True, text=True, check=True, timeout=1800)
            return json.loads(out.stdout.strip().splitlines()[-1])

        def show(r: dict) -> None:
            print(f"  {r['page']:22s} first session {r['first']:6.2f} s, second session {r['second']:5.2f} s")

        print("page first loads (AppTest, model loaded once in the process; goal < 3 s)")
        print(" with nothing traced or computed yet (no gallery on disk):")
        for page in CNN_PAGES:
            show(child(page, warm=False))
        print(" after a restart, gallery on disk, the app's background warm-up done:")
        for page in CNN_PAGES:
            show(child(page, warm=True))


if __name__ == "__main__":
    if "--page" in sys.argv:
        import json

        print(json.dumps(page_load(sys.argv[sys.argv.index("--page") + 1], "--warm" in sys.argv)))
    elif "--pages" in sys.argv:
        pages()
    else:
        main()
