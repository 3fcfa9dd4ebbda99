"""``python -m core report [--quick] [--json]``: every number the README quotes, recomputed.

Each section recomputes its figures from the shipped data, the pretrained models and the models the
dashboard trains itself, and prints them in the README's units (``--json``: key -> label, value,
unit, text). The full report trains every self-trained model again from scratch in a fresh folder
(``--models DIR`` keeps them; default: a temporary folder), so their scores and training times are
measured anew -- about 10 minutes on 2 cores. ``--quick`` is the subset ``make test`` runs
(tests/core/test_report.py checks the README against it): it takes the trained models from the
dashboard's cache (training those the test suite needs when missing, and leaving out the FCN
decoders nobody trained yet), so its training times are the cards' and everything else is
recomputed.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.progress import Progress, ensure, scaled


@dataclass(frozen=True)
class Figure:
    key: str  # "section.name", stable: the README test refers to it
    label: str
    value: float
    unit: str  # "%", "x", "s", "count", "bytes", "sci" (1.4e-04) or "" (a plain number)
    digits: int = 3  # decimals in the README's units (% and x: of the percentage / the ratio)

    @property
    def text(self) -> str:
        v = self.value
        if self.unit == "%":
            return f"{100 * v:.{self.digits}f} %"
        if self.unit == "x":
            return f"{v:.{self.digits}f}×"
        if self.unit == "s":
            return f"{v:.0f} s"
        if self.unit in ("count", "bytes"):
            return f"{v:,.0f}" + (" bytes" if self.unit == "bytes" else "")
        if self.unit == "sci":
            return f"{v:.1e}"
        return f"{v:.{self.digits}f}"


@dataclass(frozen=True)
class Options:
    quick: bool = False
    models: Path | None = None  # where the self-trained models live (None: the dashboard's cache)

    def model_path(self, cached: Path) -> Path:
        """Where the model cached at ``cached`` lives for this report."""
        return self.models / cached.name if self.models else cached


class Section:
    """Collects one section's figures."""

    def __init__(self, name: str):
        self.name = name
        self.figures: list[Figure] = []
        self.skipped: list[str] = []  # what a quick report leaves out, and why

    def add(self, name: str, label: str, value: float, unit: str = "", digits: int = 3) -> None:
        self.figures.append(Figure(f"{self.name}.{name}", label, float(value), unit, digits))


# ----------------------------------------------------------------------------- embeddings


def embedding_figures(progress: Progress, options: Options) -> Section:
    """w2v-small with the defaults: the README's table, soft debiasing, the benchmark deltas."""
    from core.embeddings import analysis as an
    from core.embeddings import bias
    from core.embeddings.soft import soft_debias, soft_neutral_words
    from core.embeddings.sources import load_named
    from core.embeddings.wordlists import gender_lists

    out = Section("embeddings")
    progress(0.0, "w2v-small: gender direction and hard debiasing ...")
    emb = load_named("w2v-small")
    setup = an.gender_setup(emb, gender_lists())
    hard = an.run_debias(emb, setup).embedding
    out.add("words", "words in w2v-small", len(emb), "count")
    out.add("neutral_professions", "neutral professions", len(setup.neutral), "count")
    out.add("equality_sets", "equality sets", len(setup.equality_sets), "count")
    out.add("pc1", "variance explained by PC1", setup.subspace.explained_variance_ratio[0], "%", 1)
    random_pairs = bias.random_pairs_variance(emb, n_pairs=len(setup.subspace.pairs), seed=0)
    out.add("pc1_random", "variance explained by PC1, random pairs", random_pairs[0], "%", 1)
    out.add("direct_bias", "direct bias (c = 1), original", an.direct_bias_of(emb, setup), "", 4)
    out.add("direct_bias_hard", "direct bias (c = 1), hard-debiased", an.direct_bias_of(hard, setup), "sci")
    progress(0.2, "benchmarks of the original and the hard-debiased embedding ...")
    reports = {"original": an.benchmark_report(emb), "hard": an.benchmark_report(hard)}
    deltas = []
    for version, report in reports.items():
        for name, r in report["similarity"].items():
            out.add(f"spearman_{name}_{version}", f"{name} Spearman ({version})", r["spearman"])
        for name, r in report["analogies"].items():
            out.add(f"analogy_{name}_{version}", f"{name} analogy accuracy, 30k words ({version})", r["accuracy"])
    for kind, score in (("similarity", "spearman"), ("analogies", "accuracy")):
        deltas += [reports["hard"][kind][n][score] - r[score] for n, r in reports["original"][kind].items()]
    out.add("max_benchmark_delta", "largest benchmark change, hard vs original", max(abs(d) for d in deltas))
    progress(0.5, "clustering test (Gonen & Goldberg) ...")
    for version, evaluated in (("original", emb), ("hard", hard)):
        c = an.clustering_report(emb, evaluated, setup)
        out.add(f"kmeans_{version}", f"k-means alignment of the 1000 most biased words ({version})",
                c["kmeans_accuracy"], "%", 1)
        out.add(f"svm_{version}", f"RBF-SVM accuracy on them ({version})", c["svm_accuracy"], "%", 1)
        out.add(f"neighbours_{version}", f"correlation of bias with female-neighbour share ({version})",
                c["neighbour_correlation"])
    progress(0.7, "soft debiasing (lambda 0.2, 300 Adam steps) ...")
    soft = soft_debias(emb, setup.subspace.components, soft_neutral_words(emb, setup.specific), lam=0.2, steps=300)
    out.add("soft_gram_distortion", "soft debiasing: relative Gram distortion", soft.similarity_term, "%", 2)
    out.add("soft_direct_bias", "soft debiasing: direct bias", an.direct_bias_of(soft.embedding, setup), "", 4)
    out.add("soft_kmeans", "soft debiasing: k-means alignment",
            an.clustering_report(emb, soft.embedding, setup)["kmeans_accuracy"], "%", 1)
    return out


def sentiment_figures(progress: Progress, options: Options) -> Section:
    """Speer's classifier on both offline embeddings: accuracy, the food sentences, names and ANOVA,
    and the name gap left after gender debiasing."""
    from core.embeddings import analysis as an
    from core.embeddings.sentiment import DEFAULT_TEXTS, group_comparison, opinion_lexicon, train_sentiment
    from core.embeddings.sources import load_named
    from core.embeddings.wordlists import default_name_groups, gender_lists

    out = Section("sentiment")
    positive, negative = opinion_lexicon()
    groups = default_name_groups()
    for i, name in enumerate(("w2v-small", "w2v-test-13k")):
        progress(i / 2, f"sentiment classifier on {name} ...")
        emb = load_named(name)
        model = train_sentiment(emb, positive, negative)
        out.add(f"accuracy_{name}", f"held-out accuracy on {name}", model.accuracy, "%", 1)
        for text in DEFAULT_TEXTS:
            scored = model.score_text(text)
            if text.endswith(" food") and not scored["unknown"]:  # w2v-small lacks the nationalities
                out.add(f"{text.split()[-2].lower()}_{name}", f"'{text}' on {name}", scored["score"], "", 2)
        comp = group_comparison(model, groups)
        for group, mean in comp["means"].items():
            out.add(f"{group}_{name}", f"mean score of the {group.replace('_', ' ')} names on {name}", mean, "", 2)
        out.add(f"anova_f_{name}", f"one-way ANOVA F on {name}", comp["anova_f"], "", 1)
        out.add(f"anova_p_{name}", f"one-way ANOVA p on {name}", comp["anova_p"], "sci", 2)
        if name == "w2v-small":
            debiased = an.run_debias(emb, an.gender_setup(emb, gender_lists())).embedding
            means = group_comparison(train_sentiment(debiased, positive, negative), groups)["means"]
            out.add(f"name_gap_{name}", f"European minus African American names on {name}",
                    comp["means"]["european_american"] - comp["means"]["african_american"], "", 2)
            out.add(f"name_gap_hard_{name}", f"the same gap after hard gender debiasing ({name})",
                    means["european_american"] - means["african_american"], "", 2)
    return out


# ----------------------------------------------------------------------------- CNN visualization


def cnn_figures(progress: Progress, options: Options) -> Section:
    """The emotion CNN on the astronaut's face (prediction, faithfulness AUCs per method and for
    Grad-CAM per layer, 32 steps) and the shapes CNN's held-out accuracy."""
    from core.images import sample_image
    from core.scenes import shape_classification
    from core.train import accuracy
    from core.vision import attribution as attr
    from core.vision import zoo
    from core.vision.train import SHAPES_RECIPE, train_shapes_cnn

    out = Section("cnn")
    progress(0.0, "emotion CNN on the astronaut's face ...")
    model = zoo.load_model("emotion-cnn")
    image = sample_image("astronaut")
    faces = zoo.find_faces(image)
    out.add("faces_astronaut", "faces found on astronaut", len(faces), "count")
    face = faces[0].crop(image)
    happy = model.class_index("happy")
    out.add("happy", "'happy' probability on the face", dict(model.predict(face, top=len(model.class_names)))["happy"],
            "%", 2)
    # the page's own tables (every method at its page setting, a random order, Grad-CAM per candidate layer)
    keys = {title: method for method, title in attr.METHOD_TITLES.items()} | {attr.RANDOM: "random"}
    rows, _ = attr.faithfulness_table(model, face, happy, steps=32,
                                      progress=lambda f, m: progress(0.1 + 0.5 * f, f"faithfulness: {m}"))
    for row in rows:
        method = keys[row["method"]]
        out.add(f"deletion_{method}", f"deletion AUC, {row['method']}", row["deletion AUC ↓"])
        out.add(f"insertion_{method}", f"insertion AUC, {row['method']}", row["insertion AUC ↑"])
    for row in attr.layer_table(model, face, happy, attr.candidate_layers(model), steps=32,
                                progress=lambda f, m: progress(0.6 + 0.2 * f, m)):
        out.add(f"deletion_gradcam_{row['layer']}", f"deletion AUC, Grad-CAM at {row['layer']}", row["deletion AUC ↓"])
        out.add(f"insertion_gradcam_{row['layer']}", f"insertion AUC, Grad-CAM at {row['layer']}",
                row["insertion AUC ↑"])
    progress(0.8, "shapes CNN on held-out shapes ...")
    from core.train import model_dir

    shapes, card = train_shapes_cnn(path=options.model_path(model_dir() / "shapes-cnn.keras"))
    test = shape_classification(SHAPES_RECIPE["n_test"], SHAPES_RECIPE["size"], seed=SHAPES_RECIPE["seed"] + 1)
    out.add("shapes_accuracy", "shapes CNN held-out accuracy", accuracy(shapes, test.images, test.labels), "%", 1)
    out.add("shapes_train_seconds", "shapes CNN training time", card["train_seconds"], "s")
    return out


def imagenet_figures(progress: Progress, options: Options) -> Section:
    """EfficientNet-Lite0 (ImageNet, from the pinned wheel) on the pages' defaults: the composite
    sample's top classes and Grad-CAM's heat on each class's half, the sanity check on the page's
    settings (top class, default layer, 6 stops), and the default filters' structure."""
    import cv2
    import numpy as np

    from core.images import sample_image
    from core.vision import activations, ascent, ascent_settings, zoo
    from core.vision import attribution as attr

    out = Section("imagenet")
    progress(0.0, "EfficientNet-Lite0 on cat_and_espresso ...")
    lite = zoo.load_model("efficientnet-lite0")
    image = sample_image("cat_and_espresso")
    probs = dict(lite.predict(image, top=len(lite.class_names)))
    for name in ("tiger cat", "Egyptian cat", "espresso"):
        out.add(f"p_{name.replace(' ', '_')}", f"'{name}' probability on cat_and_espresso", probs[name], "%", 1)
    x = lite.preprocess(image)[None]
    half = x.shape[2] // 2
    for name, left in (("tiger cat", True), ("Egyptian cat", True), ("espresso", False)):
        heat = attr.grad_cam(lite, x, lite.class_index(name)).values
        share = float(heat[:, :half].sum() / heat.sum())
        out.add(f"heat_share_{name.replace(' ', '_')}", f"Grad-CAM heat on the {name}'s half",
                share if left else 1 - share, "%", 0)
    progress(0.3, "sanity check (cascading randomisation) ...")
    top = int(np.argmax(lite.predict_logits(x)[0]))
    steps = attr.cascading_randomization(lite, x, top, stops=6)
    later = steps[1:]
    out.add("sanity_gradcam_min", "Grad-CAM's lowest Spearman rho along the cascade",
            min(s.spearman["gradcam"] for s in later), "", 2)
    out.add("sanity_gradcam_max", "Grad-CAM's highest Spearman rho along the cascade",
            max(s.spearman["gradcam"] for s in later), "", 2)
    kept = [s for s in later if s.spearman["guided-backprop"] >= 0.9]
    out.add("sanity_guided_layers", "randomised layers while guided backprop keeps rho >= 0.9",
            max((len(s.randomized) for s in kept), default=0), "count")
    out.add("sanity_guided_min", "guided backprop's lowest rho over those stops",
            min((s.spearman["guided-backprop"] for s in kept), default=float("nan")), "", 2)
    out.add("sanity_weighted_layers", "weighted layers", len(attr.weighted_layers(lite.model)), "count")
    progress(0.7, "the default filters ...")
    d = zoo.page_defaults(lite.name, "filters")  # the layer and the count; the settings are the page's own
    flexible = ascent.any_size(lite)
    r = ascent.gradient_ascent(flexible, d["layer"], list(range(d["count"])),
                               **ascent_settings.for_model(lite.name, "filters").call_kwargs())
    stds = [float(im.std()) for im in r.images]
    blurred = [float(cv2.GaussianBlur(im.astype(np.float32), (0, 0), 2).std()) for im in r.images]
    n = d["count"]
    reached = np.asarray(flexible.extractor((d["layer"],))(r.raw)).mean(axis=(1, 2))[np.arange(n), np.arange(n)]
    photo = activations.activation_maps(lite, sample_image("chelsea"), d["layer"]).mean(axis=(0, 1))[:n]
    out.add("filters_std_min", "default filters: lowest pixel std", min(stds), "", 0)
    out.add("filters_std_max", "default filters: highest pixel std", max(stds), "", 0)
    out.add("filters_blurred_min", "default filters: lowest std after a sigma 2 blur", min(blurred), "", 0)
    out.add("filters_blurred_max", "default filters: highest std after a sigma 2 blur", max(blurred), "", 0)
    out.add("filters_reached_min", "default filters: lowest mean activation reached", float(reached.min()), "", 1)
    out.add("filters_reached_max", "default filters: highest mean activation reached", float(reached.max()), "", 1)
    out.add("filters_photo_max", "the same channels on the cat photo: highest mean", float(photo.max()), "", 1)
    return out


def tanks_figures(progress: Progress, options: Options) -> Section:
    """Tanks in trees at correlations 1.0 and 0.5: the three accuracies and Grad-CAM's heat on the
    vehicle relative to its share of the pixels (100 balanced test images)."""
    from core.train import accuracy
    from core.vision import tanks

    out = Section("tanks")
    for i, correlation in enumerate((1.0, 0.5)):
        progress(i / 2, f"tanks-in-trees CNN at {correlation:.0%} ...")
        result = tanks.train_tanks_cnn(correlation, path=options.model_path(tanks.model_path(correlation)))
        tag = f"{round(correlation * 100):03d}"
        sets = tanks.held_out_sets(result.card["recipe"], correlation)
        for name, data in sets.items():
            out.add(f"{name}_{tag}", f"{name} test set accuracy at {correlation:.2f}",
                    accuracy(result.model, data.images, data.labels), "%", 1)
        heat = tanks.heat_on_vehicle(tanks.loaded(result), sets["balanced"])
        out.add(f"heat_ratio_{tag}", f"Grad-CAM heat on the vehicle / its pixel share at {correlation:.2f}",
                heat["ratio"], "x", 1)
        out.add(f"train_seconds_{tag}", f"training time at {correlation:.2f}", result.card["train_seconds"], "s")
    return out


# ----------------------------------------------------------------------------- fully convolutional


def segmentation_figures(progress: Progress, options: Options) -> Section:
    """Each decoder's mean IoU on the 300 held-out scenes and its centre pixel's receptive field (quick:
    the default decoder and ASPP, the others only when already trained)."""
    from core.fcn import segmentation as seg
    from core.scenes import segmentation_scenes

    out = Section("segmentation")
    trained = seg.trained_cards(options.models)
    held_out = segmentation_scenes(seg.RECIPE["n_test"], seg.RECIPE["size"], seed=seg.RECIPE["seed"] + 1)
    for i, decoder in enumerate(seg.DECODERS):
        if options.quick and decoder not in (seg.DEFAULT_DECODER, "aspp") and decoder not in trained:  # tests train aspp
            out.skipped.append(f"segmentation.{decoder}: not trained yet (the full report trains it)")
            continue
        progress(i / len(seg.DECODERS), f"FCN with the {decoder} decoder ...")
        model, card = seg.load_fcn(decoder, folder=options.models)
        out.add(f"mean_iou_{decoder}", f"mean IoU, {decoder} decoder", seg.evaluate(model, held_out)["mean_iou"])
        out.add(f"train_seconds_{decoder}", f"training time, {decoder} decoder", card["train_seconds"], "s")
        field = seg.receptive_field(model)
        out.add(f"receptive_field_{decoder}", f"receptive field of the centre pixel, {decoder} decoder (px per side, "
                f"of {seg.RF_PROBE['size']})", field.extent[0], "", 0)
        out.add(f"far_gradient_{decoder}", f"share of its gradient beyond 24 px, {decoder} decoder",
                field.share_beyond(24), "%", 0)
    return out


def detection_figures(progress: Progress, options: Options) -> Section:
    """The tiny YOLO (mAP@0.5, per-class AP, recall on shrunk scenes), IoU k-means anchors with the
    published ones on the same boxes, and the darknet weights files' sizes."""
    from core.detection import anchors as K
    from core.detection import darknet
    from core.detection import train as T

    out = Section("detection")
    progress(0.0, "tiny YOLO on the held-out scenes ...")
    yolo = T.load_shapes_yolo(path=options.model_path(T.model_path()))
    held_out = T.held_out_set(yolo.card["recipe"])
    scores = T.evaluate(yolo, held_out)
    out.add("map50", "tiny YOLO mAP@0.5", scores["map50"])
    for name, ap in scores["ap50"].items():
        out.add(f"ap50_{name}", f"AP@0.5, {name}", ap)
    out.add("map50_95", "tiny YOLO mAP@[.5:.95] (COCO)", scores["map50_95"])
    for name, ap in scores["ap50_95"].items():
        out.add(f"ap50_95_{name}", f"AP@[.5:.95], {name}", ap)
    out.add("global_ap50", "tiny YOLO global AP@0.5 (all classes ranked together)", scores["global_ap50"])
    out.add("global_ap50_95", "tiny YOLO global AP@[.5:.95]", scores["global_ap50_95"])
    out.add("train_seconds", "tiny YOLO training time", yolo.card["train_seconds"], "s")
    progress(0.3, "recall on shrunk scenes ...")
    for scale, value in T.recall_at_scales(yolo, held_out, (1.0, 0.75)).items():
        out.add(f"recall_{round(scale * 100)}", f"recall at IoU 0.5, scenes at {scale:.0%}", value, "%", 0)
    progress(0.5, "IoU k-means on 1,000 training scenes ...")
    wh = T.training_set(dict(yolo.card["recipe"], n_train=1000)).all_wh()
    out.add("anchor_boxes", "boxes in 1,000 training scenes", len(wh), "count")
    for k in (5, 9):
        out.add(f"anchor_iou_k{k}", f"mean IoU of the k-means anchors, k = {k}", K.iou_kmeans(wh, k).mean_iou)
    for name, anchors in K.published_anchors().items():
        out.add(f"anchor_iou_{name}", f"mean IoU of the published {name} anchors", K.mean_best_iou(wh, anchors))
    progress(0.8, "darknet weights sizes ...")
    for name in ("yolov3", "yolov3-tiny"):
        out.add(f"weights_bytes_{name}", f"{name} weights file", darknet.load_darknet(name, size=416).weights_bytes(),
                "bytes")
    return out


SECTIONS: dict[str, Callable[[Progress, Options], Section]] = {
    "embeddings": embedding_figures, "sentiment": sentiment_figures, "cnn": cnn_figures,
    "imagenet": imagenet_figures, "tanks": tanks_figures,
    "segmentation": segmentation_figures, "detection": detection_figures,
}


def build_report(quick: bool = False, sections: tuple[str, ...] | None = None, progress: Progress | None = None,
                 models: Path | None = None) -> dict:
    """{"quick", "seconds", "sections": {name: seconds}, "figures": {key: {label, value, unit, text}},
    "skipped"}. Not quick: the self-trained models are trained again in ``models`` (default: a
    temporary folder, removed afterwards)."""
    import tempfile

    progress = ensure(progress)
    names = list(sections or SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise ValueError(f"Unknown report section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}.")
    with tempfile.TemporaryDirectory(prefix="cnnvis-report-") as scratch:
        options = Options(quick, None if quick else Path(models or scratch))
        figures, skipped, timing = {}, [], {}
        start = time.perf_counter()
        for i, name in enumerate(names):
            began = time.perf_counter()
            section = SECTIONS[name](scaled(progress, i / len(names), (i + 1) / len(names)), options)
            timing[name] = time.perf_counter() - began
            figures.update({f.key: {**asdict(f), "text": f.text} for f in section.figures})
            skipped += section.skipped
    progress(1.0, "report done")
    return {"quick": quick, "seconds": time.perf_counter() - start, "sections": timing, "figures": figures,
            "skipped": skipped}


def format_report(report: dict) -> str:
    lines, current = [], None
    for key, f in report["figures"].items():
        section = key.split(".")[0]
        if section != current:
            current = section
            lines.append(f"\n== {section} ({report['sections'][section]:.0f} s)")
        lines.append(f"  {f['label']}: {f['text']}")
    if report["skipped"]:
        lines += ["\n== skipped"] + [f"  {s}" for s in report["skipped"]]
    lines.append(f"\n{'quick' if report['quick'] else 'full'} report in {report['seconds']:.0f} s")
    return "\n".join(lines).lstrip("\n")


# ----------------------------------------------------------------------------- CLI


def cmd_report(args: argparse.Namespace) -> tuple[Any, str]:
    from core.cli import CommandError
    from core.progress import stderr_progress

    if args.quick and args.models:
        raise CommandError("--models is for the full report (the quick one uses the dashboard's model cache).")
    report = build_report(args.quick, tuple(args.section) if args.section else None,
                          None if args.json else stderr_progress, args.models)
    return report, format_report(report)


def register_cli(sub: argparse._SubParsersAction) -> None:
    from core.cli import add_common

    p = sub.add_parser("report", help="recompute every figure the README quotes, in its units")
    p.add_argument("--quick", action="store_true",
                   help="the subset make test checks: the cached self-trained models, no untrained FCN decoders")
    p.add_argument("--models", type=Path, help="full report: train the self-trained models into this folder "
                                               "(default: a temporary one)")
    p.add_argument("--section", action="append", choices=list(SECTIONS), help="only this section (repeatable)")
    add_common(p)
    p.set_defaults(func=cmd_report)
