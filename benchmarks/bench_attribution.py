"""Grad-CAM and SmoothGrad against tf-keras-vis, both warm, in the same process.

* Grad-CAM for "happy" on the offline emotion CNN's face input: ours (one tf.function per layer,
  compiled once, no model clone per call) vs ``tf_keras_vis.gradcam.Gradcam`` (built once, softmax
  replaced by linear). Target >= 2x.
* SmoothGrad with 20 samples: ours (all noisy copies in one batch through a compiled gradient) vs
  ``tf_keras_vis.saliency.Saliency(smooth_samples=20)``. Target >= 4x.
* Score-CAM (batched) and the faithfulness curves (66 images in two batches), for the record.
* EfficientNet-Lite0 (224x224, the Grad-CAM page's default: the cat-and-espresso composite, class
  "espresso", layer head_activation), against tf-keras-vis on the same model in the same run: Grad-CAM
  and SmoothGrad-20 (goals >= 10x, both warm); absolute times of guided backpropagation, Guided
  Grad-CAM and the cascading-randomisation sanity check (6 stops).
Also prints the Pearson correlation of each pair of heatmaps.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from timing import best_of  # noqa: E402

import core  # noqa: E402,F401  (sets the TensorFlow environment first)
from core.images import sample_image  # noqa: E402
from core.vision import attribution as A  # noqa: E402
from core.vision import zoo  # noqa: E402


def timed(fn, repeat=5):
    return best_of(fn, repeat, warm=True)


def pearson(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def main() -> None:
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    model = zoo.load_model("emotion-cnn")
    img = sample_image("astronaut")
    face = zoo.find_faces(img)[0].crop(img)
    x = model.preprocess(face)[None]
    happy = model.class_index("happy")
    layer = A.default_layer(model)

    gradcam = Gradcam(model.model, model_modifier=ReplaceToLinear(), clone=True)
    ours = timed(lambda: A.grad_cam(model, x, happy))
    peer = timed(lambda: gradcam(CategoricalScore(happy), x, penultimate_layer=layer))
    r = pearson(A.grad_cam(model, x, happy).values, gradcam(CategoricalScore(happy), x, penultimate_layer=layer)[0])
    print(f"Grad-CAM, emotion CNN ({layer}): ours {ours * 1000:.1f} ms, tf-keras-vis {peer * 1000:.1f} ms "
          f"-> ratio {peer / ours:.1f}x (target >= 2x); Pearson {r:.4f}")

    saliency = Saliency(model.model, model_modifier=ReplaceToLinear(), clone=True)
    ours = timed(lambda: A.smooth_grad(model, x, happy, samples=20, noise=0.2))
    peer = timed(lambda: saliency(CategoricalScore(happy), x, smooth_samples=20, smooth_noise=0.2))
    r = pearson(A.smooth_grad(model, x, happy, samples=20).values,
                saliency(CategoricalScore(happy), x, smooth_samples=20, smooth_noise=0.2)[0])
    print(f"SmoothGrad, 20 samples: ours {ours * 1000:.1f} ms, tf-keras-vis {peer * 1000:.1f} ms "
          f"-> ratio {peer / ours:.1f}x (target >= 4x); Pearson {r:.4f} (different noise draws)")

    t = timed(lambda: A.score_cam(model, x, happy, layer="separable_conv2d_8"), repeat=3)
    print(f"Score-CAM, 128 masked inputs (separable_conv2d_8), batched: {t * 1000:.0f} ms")
    heat = A.grad_cam(model, x, happy).values
    t = timed(lambda: A.faithfulness(model, x, heat, happy), repeat=3)
    print(f"faithfulness curves (2 x 33 images): {t * 1000:.0f} ms")
    efficientnet()


def efficientnet() -> None:
    """The Grad-CAM page's default on EfficientNet-Lite0, ours against tf-keras-vis on the same model."""
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.utils.scores import CategoricalScore

    lite = zoo.load_model("efficientnet-lite0")  # its output is already the logits: no model modifier
    x = lite.preprocess(sample_image("cat_and_espresso"))[None]
    cls = lite.class_index("espresso")
    layer = A.default_layer(lite)

    gradcam = Gradcam(lite.model, clone=True)
    # head_activation is a ReLU layer: without seek_penultimate_conv_layer=False tf-keras-vis would step
    # back to the nearest convolution (head_conv, before BN and ReLU6) and compare another layer
    same = {"penultimate_layer": layer, "seek_penultimate_conv_layer": False}
    ours = timed(lambda: A.grad_cam(lite, x, cls))
    peer = timed(lambda: gradcam(CategoricalScore(cls), x, **same))
    r = pearson(A.grad_cam(lite, x, cls).values, gradcam(CategoricalScore(cls), x, **same)[0])
    print(f"Grad-CAM, EfficientNet-Lite0 224x224 ({layer}): ours {ours * 1000:.1f} ms, tf-keras-vis {peer * 1000:.1f} ms "
          f"-> ratio {peer / ours:.1f}x (goal >= 10x); Pearson {r:.4f}")

    saliency = Saliency(lite.model, clone=True)
    ours = timed(lambda: A.smooth_grad(lite, x, cls, samples=20, noise=0.2), repeat=3)
    peer = timed(lambda: saliency(CategoricalScore(cls), x, smooth_samples=20, smooth_noise=0.2), repeat=3)
    r = pearson(A.smooth_grad(lite, x, cls, samples=20).values,
                saliency(CategoricalScore(cls), x, smooth_samples=20, smooth_noise=0.2)[0])
    print(f"SmoothGrad-20, EfficientNet-Lite0 224x224: ours {ours * 1000:.0f} ms, tf-keras-vis {peer * 1000:.0f} ms "
          f"-> ratio {peer / ours:.1f}x (goal >= 10x); Pearson {r:.4f} (different noise draws)")
    floor = timed(lambda: A.input_gradients(lite, np.repeat(x, 20, axis=0), cls), repeat=3)
    print(f"  (the floor: one forward + backward pass of 20 images costs {floor * 1000:.0f} ms here, so a 10x ratio "
          f"would need tf-keras-vis above {floor * 10000:.0f} ms)")

    gb = timed(lambda: A.guided_backprop(lite, x, cls))
    ggc = timed(lambda: A.guided_grad_cam(lite, x, cls))
    t0 = time.perf_counter()
    A.cascading_randomization(lite, x, cls, stops=6)
    sanity = time.perf_counter() - t0
    print(f"EfficientNet-Lite0 224x224: guided backprop {gb * 1000:.1f} ms, Guided Grad-CAM {ggc * 1000:.1f} ms (warm); "
          f"sanity check, 6 stops x 4 methods incl. copying the network: {sanity:.1f} s")


if __name__ == "__main__":
    main()
