"""Fully Convolutional Learning I, part two: semantic segmentation trained here, five decoders compared
(three upsampling choices with U-Net skips, DeepLab's ASPP and PSPNet's pyramid pooling on a dilated
encoder), and atrous convolution's receptive fields."""

import numpy as np
import pandas as pd
import streamlit as st

from core.fcn import atrous, skips
from core.fcn import segmentation as seg
from core.images import montage, resize
from core.scenes import SEGMENT_CLASSES, SEGMENT_PALETTE, segmentation_scenes
from dashboard import components, figures, resources
from dashboard import lecture as lecture_path

PALETTE = np.array(SEGMENT_PALETTE, np.uint8)
DECODER_TEXT = {"transpose": "transposed convolution (k=3, s=2)", "bilinear": "bilinear upsampling + 3x3 conv",
                "unpool": "max unpooling (switches) + 3x3 conv",
                "aspp": f"dilated encoder + ASPP (rates {', '.join(map(str, seg.ASPP_RATES))})",
                "pyramid": f"dilated encoder + pyramid pooling (bins {', '.join(map(str, seg.PYRAMID_BINS))})"}


def colour(mask: np.ndarray) -> np.ndarray:
    return PALETTE[np.clip(mask, 0, len(PALETTE) - 1)]


fcn = resources.fcn


# Named cached functions: what depends only on (decoder, seed, image) is computed once per worker and
# shared by every student (the key is the arguments by content; see resources.cached).
@resources.cached("heatmap", lambda decoder: f"Measuring the {decoder} FCN's receptive field ...")
def field(decoder: str):
    """The measured receptive field of this decoder's centre pixel (one gradient batch)."""
    return seg.receptive_field(fcn(decoder)[0])


@resources.cached("views", "Segmenting new scenes ...")
def new_scenes(decoder: str, seed: int, n: int = 4):
    """(scenes, predicted masks) of ``n`` held-out scenes drawn with ``seed``."""
    scenes = segmentation_scenes(n, seg.RECIPE["size"], seed=seed)
    return scenes, seg.predict_masks(fcn(decoder)[0], scenes.images)


@resources.cached("views", "Segmenting with every decoder ...")
def side_by_side(decoders: tuple[str, ...], seed: int):
    """(two scenes side by side, {decoder: predicted mask}) for the trained decoders."""
    big = segmentation_scenes(2, seg.RECIPE["size"], seed=seed + 500)
    big_images = np.concatenate(list(big.images), axis=1)[None]  # two scenes side by side: 48 x 96
    return big_images[0], {d: seg.predict_masks(fcn(d)[0], big_images)[0] for d in decoders}


@resources.cached("views", "Segmenting your image ...")
def drawing_mask(decoder: str, image: np.ndarray):
    """(the input resized to a multiple of 4, its predicted mask)."""
    h, w = seg.input_size(*image.shape[:2], max_side=96, grow=True)
    small = resize(image, h, w, "area")
    return small, seg.predict_masks(fcn(decoder)[0], small[None])[0]


@resources.cached("views", "Running the network on three sizes ...")
def self_test(decoder: str) -> list[dict]:
    model = fcn(decoder)[0]
    rows = []
    for size in (48, 96, 160):
        out = model(np.zeros((1, size, size, 3), np.float32), training=False)
        rows.append({"input": f"{size} x {size} x 3", "output": " x ".join(str(v) for v in out.shape[1:]),
                     "parameters": model.count_params()})
    return rows


def field_text(f) -> str:
    return "the whole image" if f.whole_image else f"{f.extent[0]} x {f.extent[1]} px"


def field_short(f) -> str:
    return f"{f.extent[0]} px"


st.title("Semantic segmentation")
stage = lecture_path.stage()  # lecture mode: new scenes with their truth and prediction first, above the text
st.markdown("An FCN labels every pixel. One encoder (two 2 x 2 poolings, switches recorded), U-Net skips, and the "
            "decoder you choose — the three upsampling ideas of the previous page — or, as in DeepLab and PSPNet, a "
            "dilated encoder with a context head (atrous spatial pyramid pooling or pyramid pooling; see "
            "*Atrous convolution* below), trained here on synthetic scenes "
            f"({', '.join(SEGMENT_CLASSES)}).")
legend = " ".join(f"<span style='background: rgb{tuple(int(v) for v in PALETTE[i])}; color: white; padding: 2px 8px; "
                  f"border-radius: 4px'>{name}</span>" for i, name in enumerate(SEGMENT_CLASSES))
st.html(f"<div>{legend}</div>")

decoder = st.radio("Decoder", seg.DECODERS, index=seg.DECODERS.index(seg.DEFAULT_DECODER), format_func=DECODER_TEXT.get,
                   horizontal=True, key="seg_decoder")
model, card = fcn(decoder)
rf = field(decoder)


def card_section() -> None:
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.metric("mean IoU (held-out)", f"{card['mean_iou']:.3f}")
    c2.metric("pixel accuracy", f"{card['pixel_accuracy']:.1%}")
    c3.metric("training time", f"{card['train_seconds']:.0f} s")
    c4.metric("parameters", f"{card['params']:,}")
    c5.metric("receptive field", field_short(rf),
              help=f"Side of the square of input pixels whose gradient reaches the centre output pixel, on "
                   f"{seg.RF_PROBE['size']} x {seg.RF_PROBE['size']} scenes ({seg.RF_PROBE['size']} px: the whole image)")

    c1, c2 = st.columns(2)
    c1.plotly_chart(figures.per_class_iou_bars(card["per_class_iou"], PALETTE), width="stretch")
    c2.plotly_chart(figures.confusion_heatmap(card["confusion"], list(SEGMENT_CLASSES)), width="stretch")


# every section below is drawn once per (its inputs) in this worker and replayed for every other student
components.replay("seg.card", (decoder, card), card_section)

# ----------------------------------------------------------------------------- new scenes
st.header("New scenes")
seed = st.slider("Scene seed", 1000, 1100, 1000, key="seg_seed")


SCALE = 4  # 48-px scenes drawn 4 x by repeating pixels: crisp, not smoothed, when the browser stretches them


def scenes_section() -> None:
    # one picture per section (core.images.montage): a room redraws it at once, and one element is one
    # message per student run instead of a grid of columns and a dozen images
    scenes, pred = new_scenes(decoder, seed)
    triples = [[scenes.images[i], colour(scenes.masks[i]), colour(pred[i])] for i in range(len(pred))]
    if stage is not None:  # on the projector: two rows of (scene, truth, prediction) x 2, within the first screen
        space = [np.full((pred.shape[1], 4, 3), 255, np.uint8)]  # a wider gap between the two triples of a row
        st.image(montage([triples[0] + space + triples[1], triples[2] + space + triples[3]], SCALE, gap=6), width="stretch",
                 caption=f"Each row, twice: scene, truth, {decoder} prediction")
        return
    st.image(montage([[t[k] for t in triples] for k in range(3)], SCALE, gap=6), width="stretch",
             caption=f"Four new held-out scenes (seed {seed}). Rows: the scene, its truth, the {decoder} prediction.")


with lecture_path.place(stage):
    components.replay("seg.scenes", (decoder, seed, card), scenes_section, pictures=True)

# ----------------------------------------------------------------------------- all decoders
st.header("The decoders side by side")
cards = seg.trained_cards()
missing = [d for d in seg.DECODERS if d not in cards]
if missing:
    st.info(f"Not trained yet: {', '.join(missing)}. Each takes about a minute and a half, once.")
    chosen = st.selectbox("Train", missing, format_func=DECODER_TEXT.get, key="seg_train_choice")
    if st.button("Train it now", key="seg_train"):
        fcn(chosen)
        st.rerun()
rows = [{"decoder": DECODER_TEXT[d], "mean IoU": c["mean_iou"], "receptive field": field_text(field(d)),
         **{f"IoU {k}": v for k, v in c["per_class_iou"].items()}, "train s": c["train_seconds"]}
        for d, c in cards.items()]
if rows:
    components.replay("seg.table", rows, lambda: st.dataframe(  # the key is the table itself
        pd.DataFrame(rows), hide_index=True, width="stretch",
        column_config={k: st.column_config.NumberColumn(format="%.3f") for k in rows[0]
                       if k not in ("decoder", "receptive field")}))

    def decoders_section(decoders: tuple[str, ...]) -> None:
        big_image, masks = side_by_side(decoders, seed)
        tiles = [big_image] + [colour(masks[d]) for d in decoders]
        half = -(-len(tiles) // 2)  # two rows: each 48 x 96 tile stays large enough to see its edges
        st.image(montage([tiles[:half], tiles[half:]], SCALE, gap=6), width="stretch",
                 caption="Left to right, then the second row: the scenes (48 x 96: any size divisible by 4 works), "
                         + ", ".join(decoders) + ".")

    components.replay("seg.decoders", (tuple(cards), seed, [c["train_seconds"] for c in cards.values()]),
                      lambda: decoders_section(tuple(cards)), pictures=True)
    st.caption("Look at edges: the transposed convolution's uneven kernel overlap (k=3, s=2) tends to leave "
               "checkerboard texture, bilinear upsampling gives smooth boundaries, unpooling puts detail back exactly "
               "where the maxima were. ASPP and pyramid pooling use the bilinear decoder too: next to its row, the "
               "difference is the dilated encoder and the context head (a field as large as the image).")

# ----------------------------------------------------------------------------- FCN-32s / 16s / 8s
st.header("Skip fusion: FCN-32s, FCN-16s, FCN-8s")
st.markdown("The original FCN (Long, Shelhamer, Darrell 2015) upsamples the coarse score map **×32** in one step "
            "(**FCN-32s**); **FCN-16s** adds a 1 × 1 score layer on **pool4**, sums it with the coarse scores "
            "upsampled ×2 and upsamples the sum **×16**; **FCN-8s** fuses **pool3**'s scores the same way and "
            "upsamples **×8**. Each fusion brings back detail the coarse map lost. The skips are *summed score "
            "maps*, not the concatenated features of the U-Net decoders above.")
st.caption("Scaled to the 48-px scenes: the encoder has three poolings (stride 8, not 32), so the three nets are "
           "built one level down — 32s upsamples the stride-8 scores ×8, 16s fuses pool2's scores (stride 4) and "
           "upsamples ×4, 8s also fuses pool1's (stride 2) and upsamples ×2. One network carries the three heads, "
           "trained once on their summed losses (the paper trains them in turn, each from the previous one).")
fcn_skips = resources.model(("fcn", "skips"), lambda p: skips.load_skip_fcn(progress=p),
                            "Training / loading FCN-32s/16s/8s (first time: about two minutes) ...")


@resources.cached("views", "Segmenting with FCN-32s, 16s and 8s ...")
def skip_variants(seed: int, n: int = 3):
    """(scenes, {variant: predicted masks}) for ``n`` held-out scenes drawn with ``seed``."""
    scenes = segmentation_scenes(n, skips.RECIPE["size"], seed=seed)
    return scenes, skips.predict_variants(fcn_skips[0], scenes.images)


def skips_section() -> None:
    card = fcn_skips[1]
    m = st.columns(len(skips.VARIANTS))
    for col, v in zip(m, skips.VARIANTS, strict=True):
        col.metric(f"mean IoU FCN-{v}", f"{card['variants'][v]['mean_iou']:.3f}", help=skips.VARIANT_TEXT[v])
    scenes, preds = skip_variants(seed)
    rows = [[scenes.images[i], colour(scenes.masks[i])] + [colour(preds[v][i]) for v in skips.VARIANTS]
            for i in range(len(scenes.images))]
    st.image(montage(rows, SCALE, gap=6), width="stretch",
             caption="Columns: scene, truth, " + ", ".join(f"FCN-{v}" for v in skips.VARIANTS) + ".")
    st.caption(f"Mean IoU on {card['recipe']['n_test']} held-out scenes. Watch the corners of the squares and "
               "triangles: the coarse map can only draw blobs at its stride; each fused skip sharpens them.")


components.replay("seg.skips", (seed, fcn_skips[1]), skips_section, pictures=True)

# ----------------------------------------------------------------------------- atrous convolution
st.header("Atrous (dilated) convolution: what one unit sees")
st.markdown("A 3 x 3 kernel with rate *r* reads every *r*-th input: the same 9 weights, *r* − 1 holes (*trous*) "
            "between them. Stacked, the spans add up: 1 + 2·(r₁ + r₂ + …) inputs per side. DeepLab uses it to keep the "
            "resolution where a pooling would halve it, and to look at several scales in parallel (ASPP).")
text = st.text_input("Rates of the stacked 3 x 3 layers", "1, 2, 4", key="atrous_rates",
                     help=f"Up to {atrous.MAX_LAYERS} layers, each rate 1 to {atrous.MAX_RATE}; try 2, 2, 2 (holes) "
                          "or 1, 1, 1 (an ordinary stack)")
try:
    rates = atrous.check_rates([r for r in text.replace(",", " ").split()])
except atrous.AtrousError as exc:
    st.error(f"Rates: {exc}")
    rates = None


def atrous_section(rates) -> None:
    layers = atrous.path_counts_1d(rates)
    c1, c2 = st.columns([3, 2])
    c1.plotly_chart(figures.atrous_field_1d(layers, rates), width="stretch")
    c2.plotly_chart(figures.atrous_field_2d(atrous.path_counts_2d(rates)), width="stretch")
    span, gaps = atrous.field_size(rates), atrous.holes(rates)
    st.caption(f"{len(rates)} layers, {9 * len(rates)} weights: a {span} x {span} field "
               f"(ordinary 3 x 3 layers: {atrous.field_size((1,) * len(rates))} x "
               f"{atrous.field_size((1,) * len(rates))}). " +
               (f"{gaps} of the {span} inputs per side are never seen — the 'gridding' of rates with a common factor."
                if gaps else "Every input inside the field is seen; the numbers count the paths (products of weights) "
                             "from that input to the unit, so the centre weighs more."))


if rates:
    components.replay("seg.atrous", tuple(rates), lambda: atrous_section(rates))

st.subheader("ASPP and pyramid pooling on one scene")
stride = 4  # both heads work on the 1/4 feature map of the dilated encoder
bins = st.select_slider("Pyramid level drawn (bins per side)", seg.PYRAMID_BINS, value=3, key="psp_bins")
components.replay("seg.heads", (seed, bins), lambda: st.plotly_chart(figures.context_heads(
    segmentation_scenes(1, seg.RECIPE["size"], seed=seed).images[0], atrous.aspp_taps(seg.ASPP_RATES, stride),
    atrous.pyramid_bin_edges(seg.RECIPE["size"] // stride, bins), stride), width="stretch"))
st.caption(f"From the centre of a {seg.RECIPE['size']} x {seg.RECIPE['size']} scene, ASPP's parallel 3 x 3 branches "
           f"at rates {', '.join(map(str, seg.ASPP_RATES))} on the stride-{stride} map sample every "
           f"{', '.join(str(r * stride) for r in seg.ASPP_RATES)} pixels (plus a 1 x 1 branch and the image's mean). "
           f"PSPNet instead averages the map over {' x '.join([str(bins)] * 2)} bins (dotted; all levels: "
           f"{', '.join(map(str, seg.PYRAMID_BINS))}) and gives every pixel its bin's summary: context without holes, "
           "but in coarse blocks.")

st.subheader("Measured: the receptive field of the trained FCN")
f = rf


def field_section() -> None:
    st.plotly_chart(figures.receptive_field_map(f.gradient, f.centre, f.extent,
                                                title=f"{decoder}: the centre pixel sees {field_text(f)}"), width="stretch")


components.replay("seg.field", (decoder, card), field_section)
st.caption(f"Mean |∂ logit / ∂ input| of the centre output pixel over {seg.RF_PROBE['n']} scenes of "
           f"{seg.RF_PROBE['size']} x {seg.RF_PROBE['size']} (square-root colour scale); {f.share_beyond(24):.0%} of it "
           "comes from more than 24 px away (half a training scene). The U-Net decoders see a "
           "bounded window; ASPP's image-level branch and PSPNet's 1 x 1 bin reach every pixel, though most of the "
           "gradient stays near the pixel.")

# ----------------------------------------------------------------------------- your drawing
st.header("Your own drawing")
loaded = components.image_picker("seg_image", default="coffee", camera=False)
if loaded is not None:
    img = loaded.array
    small, mask = drawing_mask(decoder, img)

    def drawing_section() -> None:
        h, w = small.shape[:2]
        c1, c2 = st.columns(2)
        c1.image(small, caption=f"input resized to {w} x {h} (divisible by 4)", width="stretch")
        c2.image(colour(mask), caption="prediction", width="stretch")
        counts = np.bincount(mask.reshape(-1), minlength=len(SEGMENT_CLASSES))
        st.caption("Pixels per class: " + ", ".join(f"{n} {c}" for n, c in zip(SEGMENT_CLASSES, counts, strict=True)) +
                   ". Label masks are only ever resized with nearest neighbour.")

    components.replay("seg.drawing", (decoder, card, img), drawing_section, pictures=True)
    components.download_image(lambda: resize(colour(mask), img.shape[0], img.shape[1], "nearest"), "mask.png",
                              key="dl_mask")

# ----------------------------------------------------------------------------- self-test
st.header("Self-test: does the architecture change with the input size?")
components.replay("seg.self_test", (decoder, card), lambda: st.dataframe(pd.DataFrame(self_test(decoder)),
                                                                          hide_index=True))
st.caption("No: a fully convolutional network has the same weights for every input size; only the output grows.")

# ----------------------------------------------------------------------------- DeepLab
st.header("Pretrained DeepLabV3+ (PASCAL VOC, online)")
st.markdown("The real thing: DeepLabV3+ with a ResNet50 encoder, atrous spatial pyramid pooling and a decoder, "
            "trained on PASCAL VOC (21 classes), from keras-hub (about 160 MB, downloaded once).")
if st.button("Load DeepLabV3+", key="deeplab_load") or st.session_state.get("_deeplab_ok"):
    from core.fcn import deeplab
    from core.vision.zoo import ModelError

    try:
        segmenter = resources.model("deeplab", lambda p: deeplab.load_deeplab(progress=p), "Loading DeepLabV3+ ...")
    except ModelError as exc:
        st.error(str(exc))
    else:
        st.session_state["_deeplab_ok"] = True
        resources.note_loaded("deeplab-v3-plus")
        voc = components.image_picker("deeplab_image", default="motorcycle_left", camera=False)
        if voc is not None:
            mask = deeplab.segment(segmenter, voc.array)
            rng = np.random.default_rng(3)
            palette = rng.integers(40, 255, (len(deeplab.VOC_CLASSES), 3)).astype(np.uint8)
            palette[0] = 0
            overlay = (0.5 * voc.array + 0.5 * palette[mask]).astype(np.uint8)
            c1, c2 = st.columns(2)
            c1.image(voc.array, caption="image", width="stretch")
            c2.image(overlay, caption="DeepLabV3+ classes", width="stretch")
            present = [deeplab.VOC_CLASSES[i] for i in np.unique(mask)]
            st.caption("Classes found: " + ", ".join(present))

from dashboard import live_ui  # noqa: E402 (issue #17: the real-photo section, below the lecture's own)

live_ui.real_photo_segmentation()
