"""Fully Convolutional Learning I, part two: semantic segmentation trained here, three decoders compared."""

import numpy as np
import pandas as pd
import streamlit as st

from core.fcn import segmentation as seg
from core.images import resize
from core.vision.synthetic import SEGMENT_CLASSES, segmentation_scenes
from dashboard import components, figures, resources

PALETTE = np.array([[40, 40, 40], [230, 80, 80], [80, 200, 80], [80, 120, 240]], np.uint8)
DECODER_TEXT = {"transpose": "transposed convolution (k=3, s=2)", "bilinear": "bilinear upsampling + 3x3 conv",
                "unpool": "max unpooling (switches) + 3x3 conv"}


def colour(mask: np.ndarray) -> np.ndarray:
    return PALETTE[np.clip(mask, 0, len(PALETTE) - 1)]


fcn = resources.fcn


st.title("Semantic segmentation")
st.markdown("An FCN labels every pixel. One encoder (two 2 x 2 poolings, switches recorded), U-Net skips, and the "
            "decoder you choose — the three upsampling ideas of the previous page, trained here on synthetic scenes "
            f"({', '.join(SEGMENT_CLASSES)}).")
legend = " ".join(f"<span style='background: rgb{tuple(int(v) for v in PALETTE[i])}; color: white; padding: 2px 8px; "
                  f"border-radius: 4px'>{name}</span>" for i, name in enumerate(SEGMENT_CLASSES))
st.html(f"<div>{legend}</div>")

decoder = st.radio("Decoder", seg.DECODERS, index=seg.DECODERS.index(seg.DEFAULT_DECODER), format_func=DECODER_TEXT.get,
                   horizontal=True, key="seg_decoder")
model, card = fcn(decoder)
c1, c2, c3, c4 = st.columns(4)
c1.metric("mean IoU (held-out)", f"{card['mean_iou']:.3f}")
c2.metric("pixel accuracy", f"{card['pixel_accuracy']:.1%}")
c3.metric("training time", f"{card['train_seconds']:.0f} s")
c4.metric("parameters", f"{card['params']:,}")

c1, c2 = st.columns(2)
c1.plotly_chart(figures.per_class_iou_bars(card["per_class_iou"], PALETTE), width="stretch")
c2.plotly_chart(figures.confusion_heatmap(card["confusion"], list(SEGMENT_CLASSES)), width="stretch")

# ----------------------------------------------------------------------------- new scenes
st.header("New scenes")
seed = st.slider("Scene seed", 1000, 1100, 1000, key="seg_seed")
scenes = segmentation_scenes(4, seg.RECIPE["size"], seed=seed)
pred = seg.predict_masks(model, scenes.images)
cols = st.columns(4)
for i, col in enumerate(cols):
    col.image(scenes.images[i], caption="scene", width="stretch")
    col.image(colour(scenes.masks[i]), caption="truth", width="stretch")
    col.image(colour(pred[i]), caption=f"{decoder} prediction", width="stretch")

# ----------------------------------------------------------------------------- all decoders
st.header("The three decoders side by side")
cards = seg.trained_cards()
missing = [d for d in seg.DECODERS if d not in cards]
if missing:
    st.info(f"Not trained yet: {', '.join(missing)}. Each takes about a minute and a half, once.")
    chosen = st.selectbox("Train", missing, format_func=DECODER_TEXT.get, key="seg_train_choice")
    if st.button("Train it now", key="seg_train"):
        fcn(chosen)
        st.rerun()
rows = [{"decoder": DECODER_TEXT[d], "mean IoU": c["mean_iou"], **{f"IoU {k}": v for k, v in c["per_class_iou"].items()},
         "train s": c["train_seconds"]} for d, c in cards.items()]
if rows:
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                 column_config={k: st.column_config.NumberColumn(format="%.3f") for k in rows[0] if k != "decoder"})
    big = segmentation_scenes(2, seg.RECIPE["size"], seed=seed + 500)
    big_images = np.concatenate(list(big.images), axis=1)[None]  # two scenes side by side: 48 x 96
    cols = st.columns(len(cards) + 1)
    cols[0].image(big_images[0], caption="scenes (48 x 96: any size divisible by 4 works)", width="stretch")
    for col, d in zip(cols[1:], cards, strict=True):
        m, _ = fcn(d)
        col.image(colour(seg.predict_masks(m, big_images)[0]), caption=d, width="stretch")
    st.caption("Look at edges: the transposed convolution's uneven kernel overlap (k=3, s=2) tends to leave "
               "checkerboard texture, bilinear upsampling gives smooth boundaries, unpooling puts detail back exactly "
               "where the maxima were.")

# ----------------------------------------------------------------------------- your drawing
st.header("Your own drawing")
loaded = components.image_picker("seg_image", default="coffee", camera=False)
if loaded is not None:
    img = loaded.array
    h, w = seg.input_size(*img.shape[:2], max_side=96, grow=True)
    small = resize(img, h, w, "area")
    mask = seg.predict_masks(model, small[None])[0]
    c1, c2 = st.columns(2)
    c1.image(small, caption=f"input resized to {w} x {h} (divisible by 4)", width="stretch")
    c2.image(colour(mask), caption="prediction", width="stretch")
    counts = np.bincount(mask.reshape(-1), minlength=len(SEGMENT_CLASSES))
    st.caption("Pixels per class: " + ", ".join(f"{n} {c}" for n, c in zip(SEGMENT_CLASSES, counts, strict=True)) +
               ". Label masks are only ever resized with nearest neighbour.")
    components.download_image(resize(colour(mask), img.shape[0], img.shape[1], "nearest"), "mask.png", key="dl_mask")

# ----------------------------------------------------------------------------- self-test
st.header("Self-test: does the architecture change with the input size?")
rows = []
for size in (48, 96, 160):
    out = model(np.zeros((1, size, size, 3), np.float32), training=False)
    rows.append({"input": f"{size} x {size} x 3", "output": " x ".join(str(v) for v in out.shape[1:]),
                 "parameters": model.count_params()})
st.dataframe(pd.DataFrame(rows), hide_index=True)
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
