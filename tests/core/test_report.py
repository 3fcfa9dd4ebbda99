"""`python -m core report --quick` recomputes the README's figures; the README must quote them.

The README is parsed, not copied here: each entry of CHECKS finds a quoted figure by its wording and
compares it with the report's value. A figure that drifts (code or data changed, README not) fails,
and so does a figure whose sentence is reworded until its entry is updated.

Tolerances, in the README's units:
* figures computed from shipped data or the pretrained emotion CNN (embeddings, sentiment,
  faithfulness, anchors, darknet sizes): one unit of the last digit quoted (BLAS and thread order
  can move the last digit, nothing else);
* figures of the models trained here (tiny YOLO, FCN, tanks and shapes CNNs): seeded training
  repeats exactly on one machine and TensorFlow build, not across CPUs, so mAP/AP/IoU +-0.03,
  accuracies +-3 points, recall +-5 points, Grad-CAM heat ratios +-0.3;
* training times are printed by the report but never checked (tests do not assert wall-clock times).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# (what the README says, with one group per figure; [(report key, scale to README units, tolerance)])
NUM = r"([-+]?[\d,]*\.?\d+(?:e-?\d+)?)"
TRAINED_AP, TRAINED_PCT = 0.03, 3.0  # the trained models: see the docstring
CHECKS: list[tuple[str, list[tuple[str, float, float]]]] = [
    # -- embeddings (w2v-small, defaults)
    (rf"Bolukbasi's {NUM}-word GoogleNews subset", [("embeddings.words", 1, 0)]),
    (rf"variance explained by PC1 \(random pairs: {NUM} %\) \| {NUM} %",
     [("embeddings.pc1_random", 100, 0.1), ("embeddings.pc1", 100, 0.1)]),
    (rf"direct bias \(c = 1, {NUM} neutral professions\) \| {NUM} \| < {NUM}",
     [("embeddings.neutral_professions", 1, 0), ("embeddings.direct_bias", 1, 1e-4), ("embeddings.direct_bias_hard", 1, "<")]),
    (rf"10 definitional pairs where both words exist: {NUM} sets", [("embeddings.equality_sets", 1, 0)]),
    (rf"WordSim353 / SimLex-999 / MEN / MTurk-771 / RW Spearman \| {NUM} / {NUM} / {NUM} / {NUM} / {NUM} \| "
     rf"{NUM} / {NUM} / {NUM} / {NUM} / {NUM}",
     [(f"embeddings.spearman_{n}_{v}", 1, 1e-3) for v in ("original", "hard")
      for n in ("WordSim353", "SimLex-999", "MEN", "MTurk-771", "RW")]),
    (rf"Google / MSR analogy accuracy \(30k words\) \| {NUM} / {NUM} \| {NUM} / {NUM}",
     [(f"embeddings.analogy_{n}_{v}", 1, 1e-3) for v in ("original", "hard") for n in ("Google", "MSR")]),
    (rf"k-means alignment of the 1000 most biased neutral words \| {NUM} % \| {NUM} %",
     [("embeddings.kmeans_original", 100, 0.1), ("embeddings.kmeans_hard", 100, 0.1)]),
    (rf"RBF-SVM accuracy on them \(50/50 split\) \| {NUM} % \| {NUM} %",
     [("embeddings.svm_original", 100, 0.1), ("embeddings.svm_hard", 100, 0.1)]),
    (rf"correlation of original bias with share of female neighbours \| {NUM} \| {NUM}",
     [("embeddings.neighbours_original", 1, 1e-3), ("embeddings.neighbours_hard", 1, 1e-3)]),
    (rf"leaves {NUM} % relative Gram distortion and cuts direct bias to {NUM}, with k-means alignment {NUM} %",
     [("embeddings.soft_gram_distortion", 100, 0.01), ("embeddings.soft_direct_bias", 1, 1e-4),
      ("embeddings.soft_kmeans", 100, 0.1)]),
    (rf"Benchmark deltas stay within ±{NUM}", [("embeddings.max_benchmark_delta", 1, "<=")]),
    # -- sentiment
    (rf"reaches {NUM} % held-out accuracy on w2v-small and {NUM} % on the 13k test embedding",
     [("sentiment.accuracy_w2v-small", 100, 0.1), ("sentiment.accuracy_w2v-test-13k", 100, 0.1)]),
    (rf"\"Italian / Chinese / Mexican food\" score {NUM} / {NUM} / {NUM}",
     [(f"sentiment.{f}_w2v-test-13k", 1, 0.01) for f in ("italian", "chinese", "mexican")]),
    (rf"names average {NUM} \(European American\) vs {NUM} \(African American\), ANOVA F = {NUM}, p = {NUM} "
     rf"\(w2v-small: {NUM} vs {NUM}, F = {NUM}, p = {NUM}\)",
     [("sentiment.european_american_w2v-test-13k", 1, 0.01), ("sentiment.african_american_w2v-test-13k", 1, 0.01),
      ("sentiment.anova_f_w2v-test-13k", 1, 0.1), ("sentiment.anova_p_w2v-test-13k", 1, "~"),
      ("sentiment.european_american_w2v-small", 1, 0.01), ("sentiment.african_american_w2v-small", 1, 0.01),
      ("sentiment.anova_f_w2v-small", 1, 0.1), ("sentiment.anova_p_w2v-small", 1, "~")]),
    (rf"w2v-small: {NUM} between the group means before hard debiasing, {NUM} after",
     [("sentiment.name_gap_w2v-small", 1, 0.01), ("sentiment.name_gap_hard_w2v-small", 1, 0.01)]),
    # -- CNN visualization (pretrained emotion CNN; the shapes CNN trained here)
    (rf"on `astronaut` one face, \"happy\" at {NUM} %", [("cnn.happy", 100, 0.01)]),
    (rf"SmoothGrad {NUM} / {NUM}, Integrated Gradients {NUM} / {NUM}, saliency {NUM} / {NUM}, Score-CAM {NUM} / "
     rf"{NUM}, a random pixel order {NUM} / {NUM}, and Grad-CAM = Grad-CAM\+\+ = CAM at the last layer "
     rf"\(a 4×4 class map\) {NUM} / {NUM}",
     [(f"cnn.{kind}_{m}", 1, 0.005) for m in ("smoothgrad", "ig", "saliency", "scorecam", "random", "gradcam")
      for kind in ("deletion", "insertion")]),
    (rf"Grad-CAM at the last 8×8 layer \(separable_conv2d_8\) scores {NUM} / {NUM}",
     [("cnn.deletion_gradcam_separable_conv2d_8", 1, 0.005), ("cnn.insertion_gradcam_separable_conv2d_8", 1, 0.005)]),
    (rf"6 classes, {NUM} % held-out accuracy", [("cnn.shapes_accuracy", 100, TRAINED_PCT)]),
    # -- EfficientNet-Lite0 (pretrained, from the pinned wheel)
    (rf"is classified tiger cat {NUM} %, Egyptian cat {NUM} %, espresso {NUM} %; Grad-CAM at `head_activation` puts "
     rf"{NUM} % / {NUM} % of its heat on the cat's half for \"tiger cat\" / \"Egyptian cat\" and {NUM} % on the cup's",
     [("imagenet.p_tiger_cat", 100, 0.1), ("imagenet.p_Egyptian_cat", 100, 0.1), ("imagenet.p_espresso", 100, 0.1),
      ("imagenet.heat_share_tiger_cat", 100, 1), ("imagenet.heat_share_Egyptian_cat", 100, 1),
      ("imagenet.heat_share_espresso", 100, 1)]),
    (rf"Spearman ρ between {NUM} and {NUM} along the cascade\) while guided backpropagation's stays at ρ ≥ {NUM} "
     rf"until {NUM} of the {NUM} weighted layers",
     [("imagenet.sanity_gradcam_min", 1, 0.05), ("imagenet.sanity_gradcam_max", 1, 0.05),
      ("imagenet.sanity_guided_min", 1, 0.02), ("imagenet.sanity_guided_layers", 1, 0),
      ("imagenet.sanity_weighted_layers", 1, 0)]),
    # the filters come out of 60 steps of ascent, which amplify BLAS-order differences: wider tolerances
    (rf"pixel std {NUM}–{NUM}; {NUM}–{NUM} after a σ = 2 blur that removes noise\) and each reaches {NUM}–{NUM} on "
     rf"its channel, where the cat photo gives ≤ {NUM}",
     [("imagenet.filters_std_min", 1, 3), ("imagenet.filters_std_max", 1, 3), ("imagenet.filters_blurred_min", 1, 3),
      ("imagenet.filters_blurred_max", 1, 3), ("imagenet.filters_reached_min", 1, 0.5),
      ("imagenet.filters_reached_max", 1, 0.5), ("imagenet.filters_photo_max", 1, 0.1)]),
    # -- tanks in trees (trained here)
    (rf"at correlation 1.0 the CNN scores {NUM} % on a test set drawn like its training data, {NUM} % with the "
     rf"backgrounds swapped and {NUM} % when the background says nothing, and Grad-CAM puts {NUM}× the vehicle's",
     [("tanks.biased_100", 100, TRAINED_PCT), ("tanks.swapped_100", 100, TRAINED_PCT),
      ("tanks.balanced_100", 100, TRAINED_PCT), ("tanks.heat_ratio_100", 1, 0.3)]),
    (rf"at 0.5 it scores {NUM} % swapped and Grad-CAM's heat on the vehicle doubles \({NUM}×\)",
     [("tanks.swapped_050", 100, TRAINED_PCT), ("tanks.heat_ratio_050", 1, 0.3)]),
    # -- segmentation (trained here; the quick report has the default decoder, others when trained)
    (rf"transposed-convolution decoder \(default\) mean IoU {NUM}", [("segmentation.mean_iou_transpose", 1, TRAINED_AP)]),
    (rf"bilinear \+ conv {NUM} in", [("segmentation.mean_iou_bilinear", 1, TRAINED_AP)]),
    (rf"max unpooling \+ conv {NUM} in", [("segmentation.mean_iou_unpool", 1, TRAINED_AP)]),
    (rf"dilated encoder \+ ASPP \(rates 2, 4, 6\) {NUM} in", [("segmentation.mean_iou_aspp", 1, TRAINED_AP)]),
    (rf"dilated encoder \+ pyramid pooling \(bins 1, 2, 3, 6\) {NUM} in", [("segmentation.mean_iou_pyramid", 1, TRAINED_AP)]),
    (rf"{NUM} px per side for the transposed-convolution decoder, {NUM} % of its gradient beyond 24 px; the whole "
     rf"image for ASPP \(its image-level branch\), {NUM} % of the gradient beyond 24 px, and for pyramid pooling "
     rf"\(its 1×1 bin\), {NUM} %",
     [("segmentation.receptive_field_transpose", 1, 8), ("segmentation.far_gradient_transpose", 100, 5),
      ("segmentation.far_gradient_aspp", 100, 8), ("segmentation.far_gradient_pyramid", 100, 8)]),
    # -- detection
    (rf"mAP@0.5 = {NUM} on 300 held-out scenes \(circle {NUM}, square {NUM}, triangle {NUM}\)",
     [("detection.map50", 1, TRAINED_AP), ("detection.ap50_circle", 1, TRAINED_AP),
      ("detection.ap50_square", 1, TRAINED_AP), ("detection.ap50_triangle", 1, TRAINED_AP)]),
    (rf"mAP@\[\.5:\.95\] = {NUM} \(circle {NUM}, square {NUM}, triangle {NUM}\)",
     [("detection.map50_95", 1, TRAINED_AP), ("detection.ap50_95_circle", 1, TRAINED_AP),
      ("detection.ap50_95_square", 1, TRAINED_AP), ("detection.ap50_95_triangle", 1, TRAINED_AP)]),
    (rf"drops from {NUM} % to {NUM} % when the held-out scenes are shrunk to 75 %",
     [("detection.recall_100", 100, 5.0), ("detection.recall_75", 100, 5.0)]),
    (rf"anchors on the {NUM} boxes of 1,000 synthetic scenes: {NUM} at k = 5, {NUM} at k = 9 \(the published "
     rf"YOLOv2-VOC and YOLOv3-COCO anchors: {NUM} and {NUM} on the same boxes\)",
     [("detection.anchor_boxes", 1, 0), ("detection.anchor_iou_k5", 1, 1e-3), ("detection.anchor_iou_k9", 1, 1e-3),
      ("detection.anchor_iou_yolov2-voc", 1, 1e-3), ("detection.anchor_iou_yolov3", 1, 1e-3)]),
    (rf"YOLOv3's parameters need exactly {NUM} bytes and YOLOv3-tiny's {NUM}",
     [("detection.weights_bytes_yolov3", 1, 0), ("detection.weights_bytes_yolov3-tiny", 1, 0)]),
]


def readme_text(text: str) -> str:
    """The README as one line: line breaks and runs of spaces folded, typographic minus as '-'."""
    return re.sub(r"\s+", " ", text).replace("−", "-")


def number(text: str) -> float:
    return float(text.replace(",", ""))


def mismatches(readme: str, report: dict) -> list[str]:
    """Every quoted figure that is missing from the README or differs from the report beyond its
    tolerance; figures the report did not compute (a quick run's untrained decoders) are passed over."""
    text, problems = readme_text(readme), []
    figures = report["figures"]
    for pattern, keys in CHECKS:
        found = re.search(pattern, text)
        if found is None:
            problems.append(f"the README no longer says /{pattern[:70]}.../ (update CHECKS in this test)")
            continue
        for quoted, (key, scale, tolerance) in zip(found.groups(), keys, strict=True):
            if key not in figures:
                continue
            value, q = figures[key]["value"] * scale, number(quoted)
            if tolerance == "<":
                ok = value < q
            elif tolerance == "<=":
                ok = value <= q
            elif tolerance == "~":  # a p-value: the same to the two digits quoted
                ok = float(f"{value:.1e}") == pytest.approx(q, rel=0.05)
            else:
                ok = abs(value - q) <= tolerance + 1e-9
            if not ok:
                problems.append(f"{key}: the README says {quoted}, the report computes {figures[key]['text']}")
    return problems


@pytest.fixture(scope="module")
def quick_report() -> dict:
    from tests.core.test_cli import run

    proc = run("report", "--quick", "--json", check=False)  # in this process: reuses the models already loaded
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_the_readme_quotes_what_the_quick_report_computes(quick_report):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert mismatches(readme, quick_report) == []
    checked = {key for _, keys in CHECKS for key, _, _ in keys}
    assert checked - set(quick_report["figures"]) <= {"segmentation.mean_iou_bilinear", "segmentation.mean_iou_unpool",
                                                      "segmentation.mean_iou_pyramid", "segmentation.far_gradient_pyramid"}
    assert all(s.startswith("segmentation.") for s in quick_report["skipped"])


def test_a_drifting_figure_fails(quick_report):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    drifted = readme.replace("mAP@0.5 = 0.840", "mAP@0.5 = 0.940").replace("| 60.5 % |", "| 66.5 % |")
    problems = mismatches(drifted, quick_report)
    assert [p.split(":")[0] for p in problems] == ["embeddings.pc1", "detection.map50"]
    assert "no longer says" in mismatches(readme.replace("Benchmark deltas", "Deltas"), quick_report)[0]


def test_report_text_is_in_the_readmes_units(quick_report):
    figures = quick_report["figures"]
    assert figures["embeddings.pc1"]["text"] == f"{100 * figures['embeddings.pc1']['value']:.1f} %"
    assert figures["detection.weights_bytes_yolov3"]["text"] == "248,007,048 bytes"
    assert figures["tanks.heat_ratio_050"]["text"].endswith("×")
    assert figures["sentiment.anova_p_w2v-small"]["text"] == "1.4e-04"


def test_bad_report_options_are_a_sentence(tmp_path):
    from tests.core.test_cli import run

    proc = run("report", "--quick", "--models", str(tmp_path), check=False)
    assert proc.returncode == 2 and proc.stderr.startswith("error: --models is for the full report")
    assert not any(tmp_path.iterdir())
    proc = run("report", "--section", "weather", check=False)
    assert proc.returncode == 2 and "invalid choice: 'weather'" in proc.stderr
