"""Gradient ascent against tf-keras-vis, Deep Dream time, activation-grid time.

* Class maximisation of "happy" on the offline emotion CNN, 100 steps, batch 1: our compiled loop
  (one tf.function runs the steps; gradient normalised, no jitter/regularisers) against
  ``tf_keras_vis.activation_maximization.ActivationMaximization`` with the same steps, the model's
  softmax replaced by linear, and its default regularisers and input modifiers turned off
  (``regularizers=None, input_modifiers=None``). Both warm (second call). Target >= 10x.
* Deep Dream on a 512-px image, 3 octaves x 20 iterations, on the self-trained shapes CNN.
* Activation grid of a 64-channel layer: maps + tiling + figure (target < 500 ms).
"""

from __future__ import annotations

import sys
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


if __name__ == "__main__":
    main()
