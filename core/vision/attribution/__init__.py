"""Where does the network look, and can we trust the answer? One package, four parts:

- :mod:`.methods`: the CAM and gradient families in one signature, ``method(loaded, x, target,
  layer=None, **options) -> Heatmap``, and :func:`attribute` by name (with :mod:`.base`, what they
  share, and :mod:`.guided`, guided backpropagation's network copy);
- :mod:`.metrics`: faithfulness (deletion/insertion curves, the per-method and per-layer tables with
  a random baseline) and Adebayo et al.'s cascading-randomisation sanity check;
- :mod:`.rendering`: colormaps, overlays, gradients as images;
- :mod:`.influence`: Leino et al.'s distributional influence (towards a distribution of inputs).

``from core.vision import attribution as A`` gives the whole public surface.
"""

from core.vision.attribution.base import (
    AttributionError,
    Heatmap,
    activations_and_logits,
    candidate_layers,
    default_layer,
    input_gradients,
    layer_activations,
    target_layers,
)
from core.vision.attribution.guided import clone_guided, guided_gradients, guided_model, guided_relu
from core.vision.attribution.influence import Influence, distributional_influence, influence_map
from core.vision.attribution.methods import (
    CLASS_OPTIONS,
    LAYER_METHODS,
    METHOD_FUNCS,
    METHOD_TITLES,
    METHODS,
    SCORECAM_CHANNELS,
    IGResult,
    ScoreCamScores,
    attribute,
    attribute_all,
    cam,
    grad_cam,
    grad_cam_pp,
    guided_backprop,
    guided_grad_cam,
    integrated_gradients,
    saliency,
    score_cam,
    score_cam_scores,
    smooth_grad,
)
from core.vision.attribution.metrics import (
    RANDOM,
    SANITY_METHODS,
    Faithfulness,
    SanityStep,
    cascading_randomization,
    faithfulness,
    faithfulness_table,
    layer_table,
    pixel_order,
    random_heatmap,
    spearman,
    weighted_layers,
)
from core.vision.attribution.rendering import COLORMAPS, colorize, gradient_image, overlay

__all__ = [
    "CLASS_OPTIONS", "COLORMAPS", "LAYER_METHODS", "METHODS", "METHOD_FUNCS", "METHOD_TITLES", "RANDOM",
    "SANITY_METHODS", "SCORECAM_CHANNELS",
    "AttributionError", "Faithfulness", "Heatmap", "IGResult", "Influence", "SanityStep",
    "activations_and_logits", "attribute", "attribute_all", "cam", "candidate_layers", "cascading_randomization",
    "clone_guided", "colorize", "default_layer", "distributional_influence", "faithfulness", "faithfulness_table",
    "grad_cam", "grad_cam_pp", "gradient_image", "guided_backprop", "guided_grad_cam", "guided_gradients",
    "guided_model", "guided_relu", "influence_map", "input_gradients", "integrated_gradients", "layer_activations",
    "layer_table", "overlay", "pixel_order", "random_heatmap", "saliency", "score_cam",
    "score_cam_scores", "ScoreCamScores", "smooth_grad", "spearman",
    "target_layers", "weighted_layers",
]
