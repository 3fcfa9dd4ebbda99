"""Process-wide caches, one per concept, and the page-side view of heavy jobs.

Everything returned from here is shared by every browser session: callers treat it as read-only
(core functions return new objects instead of mutating).

* ``model(name)``, ``embedding(name)``, ``debiased(...)``, ``detector(name)``, ``fcn(decoder)`` and
  the per-page result caches in :data:`CACHES` are :class:`core.cache.KeyedCache` s: compute once
  per key (other sessions asking for the same key wait for that one computation and see its
  progress; different keys never wait for each other), bounded by count and bytes.
* :func:`compute` runs light work in the session's own script thread; ``heavy=True`` queues it in
  the process's bounded job pool (:mod:`core.jobs`): the page's light parts are already drawn, the
  student sees "k jobs ahead of you" and a Cancel button while it waits.
* Keys of anything derived from an upload use full content hashes (:func:`content_key`).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import time
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
import streamlit as st

from core import jobs
from core.assets import AssetManager
from core.cache import MISSING, Cancelled, KeyedCache, Pending, function_key
from core.device import DeviceInfo, describe_device
from core.progress import Progress
from serving import patches

MB = 1 << 20

# One cache per concept: (max entries, max bytes). Sizes are estimates (core.cache.approx_nbytes).
CACHE_LIMITS: dict[str, tuple[int, int | None]] = {
    # zoo models, detectors, FCNs: all of them wanted. The lecture path alone loads about 12 (EfficientNet-Lite0,
    # five decoders and the skip FCN, the tiny YOLO and its trainer, two tanks CNNs, a darknet build): with room
    # for 8 the warm start's last views evicted EfficientNet-Lite0, and the class neuron, whose results are keyed
    # by the model object, was computed again in class (34 s in the walk, benchmarks/walk_lecture.py)
    "models": (16, None),
    "embeddings": (3, 3 * 1024 * MB),
    "debiased": (4, 2 * 1024 * MB),
    "datasets": (16, 512 * MB),  # held-out scenes, lexicons, test sets
    "faces": (32, 16 * MB),
    "ascent": (32, 256 * MB),
    "dream": (8, 256 * MB),
    "heatmap": (256, 256 * MB),
    "views": (512, 384 * MB),  # predictions, activation maps, statistics, segmentations: per (model, image, setting)
    "faithfulness": (32, 64 * MB),
    "tanks": (12, 256 * MB),
    "detections": (64, 256 * MB),
    "anchors": (16, 64 * MB),
    "ethics": (64, 512 * MB),  # benchmarks, WEAT, clustering, analogies, sentiment
    "soft": (4, 1024 * MB),
}
CACHES: dict[str, KeyedCache] = {name: KeyedCache(name, n, b) for name, (n, b) in CACHE_LIMITS.items()}


@st.cache_resource(show_spinner=False)
def asset_manager() -> AssetManager:
    return AssetManager()


@st.cache_resource(show_spinner="Starting TensorFlow ...")
def device_info() -> DeviceInfo:
    return describe_device()


def ensure_asset(name: str, progress: Progress | None = None) -> str:
    """Path of a verified asset, fetching it (with progress) the first time it is needed."""
    return str(asset_manager().ensure(name, progress=progress))


def content_key(*arrays: np.ndarray | bytes | None) -> str:
    """A full content hash (sha256) of arrays or bytes, for keys of anything a user supplied."""
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none")
        elif isinstance(a, (bytes, bytearray)):
            h.update(bytes(a))
        else:
            a = np.ascontiguousarray(a)
            h.update(f"{a.dtype}{a.shape}".encode())
            h.update(a.data)
    return h.hexdigest()


# ----------------------------------------------------------------------------- what this session loaded


def note_loaded(name: str, where: str | None = None) -> None:
    """Record that this session uses a model/embedding (for its sidebar: never another session's)."""
    st.session_state.setdefault("_loaded", {})[name] = where or device_info().label


def loaded_resources() -> dict[str, str]:
    return dict(st.session_state.get("_loaded", {}))


# ----------------------------------------------------------------------------- computing and waiting


def _session_id() -> str:
    return patches.current_session_id()


def _client_id() -> str | None:
    """The browser's address, which groups the tabs (sessions) of one machine for the job pool's per-client cap.

    A connection from loopback is our HAProxy (``python -m serving.classroom`` sets ``option forwardfor``,
    which *appends* the address it saw as the last X-Forwarded-For entry; earlier entries are whatever the
    browser sent, so they are not trusted) or a browser on this machine ("local"). Any other connection is
    a browser reaching this worker directly: its own address, whatever headers it sent. None when there is
    no browser connection (tests, scripts): no client cap then."""
    try:
        if not patches.has_browser_connection():
            return None
        peer = st.context.ip_address  # None for loopback peers
        if peer is not None:
            return peer
        hops = [h.strip() for v in st.context.headers.get_all("X-Forwarded-For") for h in v.split(",") if h.strip()]
        return hops[-1] if hops else "local"
    except Exception:  # noqa: BLE001 - a Streamlit without these: the session and overall caps still hold
        return None


def compute(concept: str, key: Hashable, fn: Callable[[Pending], Any], label: str, heavy: bool = False) -> Any:
    """The cached value of ``fn`` for ``key`` in the ``concept`` cache, computed once per key.

    ``fn(progress)`` gets a :class:`core.cache.Pending`, which is a ``progress(fraction, message)``
    callback and has ``show(preview)`` for intermediate results. ``heavy`` work goes through the
    process's job pool (never more runs than cores) with the queue position and a Cancel button.
    Errors raised by ``fn`` reach the caller (pages show them as a sentence).
    """
    cache = CACHES[concept]
    value = cache.lookup(key)
    if value is not MISSING:
        return value
    if heavy:
        return _heavy(cache, concept, key, fn, label)

    def here(pending: Pending) -> Any:  # this session computes it, under its own progress bar
        from dashboard.components import progress_bar

        with progress_bar(label) as bar:
            def progress(fraction: float, message: str) -> None:
                pending.progress(fraction, message)
                bar(fraction, message)
            progress.show = pending.show  # type: ignore[attr-defined]
            return fn(progress)

    # another session computing it: draw its progress until it is done (a stopped one is taken over)
    return cache.get_or_compute(key, here, label, on_wait=lambda pending: _draw_until_done(pending, label))


def _heavy(cache: KeyedCache, concept: str, key: Hashable, fn, label: str) -> Any:
    from dashboard.components import RECORDING as _RECORDING

    me = _session_id()
    cancelled: set = st.session_state.setdefault("_cancelled_jobs", set())
    tag = f"{concept}_{abs(hash(key)) % 10**8}"  # stable for this key within the process
    if (concept, key) in cancelled and not _RECORDING.get():  # (a recorded section has no button: it runs)
        st.info(f"{label.rstrip(' .')}: cancelled.")
        if not st.button("Run it again", key=f"_rerun_{tag}"):
            st.stop()
        cancelled.discard((concept, key))
    mine: dict = st.session_state.setdefault("_my_jobs", {})
    previous = mine.get(concept)
    if previous is not None and previous.key != key and not previous.done:
        previous.cancel(me)  # one queued job per page and student: the old settings are no longer wanted
    cancel = st.empty()
    # Inside a recorded section (components.replay, an st.cache_data function) a widget would be recorded
    # too, and Streamlit warns on the page: there the wait shows its progress without a Cancel button.
    if not _RECORDING.get() and cancel.button("Cancel", key=f"_cancel_{tag}",
                                               help="Withdraw this request from the queue."):
        pending = cache.pending(key)
        if pending is not None:
            pending.cancel(me)
        cancelled.add((concept, key))
        cancel.empty()
        st.info(f"{label.rstrip(' .')}: cancelled.")
        st.stop()
    pool = jobs.pool()
    if pool.alive is None:  # a session that ended (tab closed) withdraws its interest in its queued jobs
        pool.alive = _session_alive
    fn = room_shared(concept, key, fn, label)  # one computation per room across workers (#22 item 5)
    while True:
        try:
            pending, value = pool.submit(cache, key, fn, label, waiter=me, client=_client_id())
        except jobs.QueueFull as exc:  # no queue place: a sentence, the rest of the page stays
            cancel.empty()
            st.warning(str(exc), icon=":material/hourglass_top:")
            st.stop()
        if pending is None:
            cancel.empty()
            return value
        mine[concept] = pending
        st.session_state.setdefault("_my_job_pages", {})[concept] = st.session_state.get("_page_now", "")
        _draw_until_done(pending, label, queued=True)
        try:
            value = pending.result()
        except Cancelled:
            if me in pending.waiters:  # somebody else cancelled a job we still want: queue it again
                continue
            raise
        finally:
            if pending.done and mine.get(concept) is pending:
                # a finished job's Pending holds its value: kept in session state it would keep a result
                # the cache has evicted alive until the tab is gone (one per page and student)
                del mine[concept]
        cancel.empty()
        return value


# ----------------------------------------------------------------------------- one computation per room
# With a Redis room store (make classroom, compose, k8s), a heavy result of these concepts is computed by
# one worker and shared by content key through core.room.share (size-capped, expiring); the other
# workers' jobs wait for it under the same queue/progress UI. Keys name models by their weights, not by
# the per-process uid; a key with a model this process cannot name is not shared.

ROOM_SHARED = frozenset({"dream", "ascent", "tanks", "faithfulness"})  # Deep Dream, ascent + gallery blocks, variants
_PORTABLE: dict[str, str] = {}  # a loaded model's per-process uid -> its name and weights digest


def _room_store():
    import os

    from core import room as rooms

    url = os.environ.get("DASHBOARD_REDIS_URL") or ""
    seal = (os.environ.get("DASHBOARD_PRESENTER_SECRET", "") + os.environ.get("STREAMLIT_SERVER_COOKIE_SECRET", ""))
    if not url or not seal:  # no room across workers, or no secret every worker shares to sign results with
        return None
    cached_store = _STORE.get(url)
    if cached_store is None:
        try:
            cached_store = _STORE[url] = (rooms.open_store(url), hashlib.sha256(seal.encode()).digest())
        except Exception:  # noqa: BLE001 - a bad URL: follow.py says so; results stay per worker
            return None
    return cached_store


_STORE: dict[str, tuple] = {}


def portable_model_id(model) -> str | None:
    """The same string in every worker for the same weights (a model's uid differs per process)."""
    uid = getattr(model, "uid", None)
    if not isinstance(uid, str):
        return None
    known = _PORTABLE.get(uid)
    if known is None:
        keras_model = getattr(model, "model", None)
        try:
            h = hashlib.sha256(str(getattr(model, "name", "")).encode())
            for w in keras_model.get_weights():
                h.update(np.ascontiguousarray(w).data)
        except Exception:  # noqa: BLE001 - not a Keras model: not shared
            return None
        known = _PORTABLE[uid] = f"{getattr(model, 'name', '')}:{h.hexdigest()[:24]}"
    return known


def _portable_key(key: Any) -> Any:
    if isinstance(key, tuple):
        return tuple(_portable_key(k) for k in key)
    if isinstance(key, str) and len(key) == 32 and all(c in "0123456789abcdef" for c in key):  # a uuid4 hex
        if key not in _PORTABLE:
            raise KeyError(key)
        return _PORTABLE[key]
    return key


def room_key(concept: str, key: Hashable) -> str | None:
    """The room-wide name of ``key`` (None: not shareable, e.g. a model this process has not named)."""
    try:
        return hashlib.sha256(repr((concept, _portable_key(key))).encode()).hexdigest()
    except (KeyError, TypeError):
        return None


def room_shared(concept: str, key: Hashable, fn: Callable[[Pending], Any], label: str,
                store_and_seal: tuple | None = None) -> Callable[[Pending], Any]:
    """``fn`` as a job that shares its result with the room's other workers (see above); ``fn`` itself
    when there is no Redis room store or the key is not shareable."""
    import hmac
    import os
    import pickle
    import uuid

    from core import room as rooms

    if concept not in ROOM_SHARED:
        return fn
    store_and_seal = store_and_seal or _room_store()
    name = room_key(concept, key) if store_and_seal else None
    if name is None:
        return fn
    store, seal = store_and_seal

    def encode(value) -> bytes:
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        return hmac.new(seal, data, hashlib.sha256).digest() + data

    def decode(blob: bytes):
        mac, data = blob[:32], blob[32:]
        if not hmac.compare_digest(mac, hmac.new(seal, data, hashlib.sha256).digest()):
            raise ValueError("not signed by this room's workers")
        return pickle.loads(data)  # noqa: S301 - signed by a worker of this room (HMAC above)

    def job(pending: Pending):
        def waiting(seconds: float) -> None:
            pending.progress(0.0, f"{label.rstrip(' .')}: another worker of this room computes it · {int(seconds)} s")

        return rooms.share(store, f"{concept}:{name}", lambda: fn(pending), f"{os.getpid()}:{uuid.uuid4().hex}",
                           encode, decode, on_wait=waiting)

    return job


def withdraw_elsewhere(page: str) -> None:
    """Called by app.py before each page run: the jobs this session queued on another page are no longer
    wanted once it has left that page (a student following the lecturer, a link opened and left). Its
    interest is withdrawn, and a job nobody else waits for is cancelled."""
    st.session_state["_page_now"] = page
    mine: dict = st.session_state.get("_my_jobs", {})
    pages: dict = st.session_state.get("_my_job_pages", {})
    for concept, pending in list(mine.items()):
        if pages.get(concept, page) == page:
            continue
        if not pending.done:
            pending.cancel(_session_id())
        mine.pop(concept, None)
        pages.pop(concept, None)


def _session_alive(session_id: str) -> bool:
    """Whether the browser session ``session_id`` is still connected (unknown: yes)."""
    if session_id == "no-session":
        return True
    return patches.session_is_active(session_id) is not False


def _draw_until_done(pending: Pending, label: str, queued: bool = False) -> None:
    """Poll ``pending`` and draw its queue position, progress and preview until it is done."""
    box = st.empty()
    preview_box = st.empty() if pending.preview is not None or queued else None
    shown, seen_version = None, -1
    start = time.monotonic()
    pool = jobs.pool() if queued else None
    while not pending.wait(0.1):
        waited = int(time.monotonic() - start)
        ahead = pool.position(pending) if pool is not None else 0
        if pool is not None and not pool.is_running(pending) and ahead >= 0:
            text = (f"{label} {ahead} job{'s' if ahead != 1 else ''} ahead of you in the queue "
                    f"({pool.workers} run at a time) · waiting {waited} s")
            state = ("queue", text)
        else:
            who = "" if queued else " (another student started it)"
            state = ("progress", round(pending.fraction, 2), f"{pending.message or label}{who} · {waited} s")
        if state != shown:  # also lets Streamlit interrupt us promptly after a click
            if state[0] == "queue":
                box.info(state[1], icon=":material/hourglass_top:")
            else:
                box.progress(state[1], text=state[2])
            shown = state
        if preview_box is not None and pending.preview_version != seen_version and pending.preview is not None:
            seen_version = pending.preview_version
            images, captions = pending.preview
            preview_box.image(list(images), width=96, caption=list(captions))
    box.empty()
    if preview_box is not None:
        preview_box.empty()


# ----------------------------------------------------------------------------- named cached functions


def cached(concept: str, label: str | Callable[..., str] | None = None,
           heavy: bool | Callable[..., bool] = False):
    """Make ``fn`` a named cached function: one value per call by content, shared by every session.

    The key is :func:`core.cache.function_key`: where ``fn`` is defined and its arguments by content
    (a model's uid, an image's sha256, an embedding's digest, frozen settings dataclasses), so no call
    site builds a key. The value lives in the ``concept`` cache of :data:`CACHES` (bounded by count
    and bytes) and is computed once per key through :func:`compute` (progress bar, job pool when
    ``heavy``). A ``fn`` with a ``progress`` parameter receives the progress callback. ``label`` (or
    ``label(*args, **kwargs)``) is what the progress bar says; ``heavy`` may also be a function of
    the arguments (e.g. only some attribution methods are queued).

        @resources.cached("views", "Predicting ...")
        def predictions(model, image, top): ...
    """
    def decorate(fn: Callable) -> Callable:
        takes_progress = "progress" in inspect.signature(fn).parameters
        text = label or f"{fn.__name__.replace('_', ' ').capitalize()} ..."

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            key = function_key(fn, args, kwargs)
            shown = text(*args, **kwargs) if callable(text) else text
            queued = bool(heavy(*args, **kwargs)) if callable(heavy) else heavy
            if takes_progress:
                return compute(concept, key, lambda p: fn(*args, progress=p, **kwargs), shown, heavy=queued)
            return compute(concept, key, lambda p: fn(*args, **kwargs), shown, heavy=queued)

        wrapper.concept = concept  # type: ignore[attr-defined]
        return wrapper

    return decorate


# ----------------------------------------------------------------------------- named shared objects


def model(name: Hashable, loader: Callable[[Progress], Any], label: str | None = None) -> Any:
    """A model (zoo classifier, detector, FCN, ...) loaded or trained once per process; queued in the
    job pool like any heavy work (a first load may train for a minute)."""
    loaded = compute("models", name, loader, label or f"Loading {name} ...", heavy=True)
    if _room_store() is not None:  # name its weights, so that its results can be shared with the room
        portable_model_id(loaded)
    return loaded


def embedding(name: str):
    """A registered embedding, unit-normalised, loaded once per process (read-only)."""
    from core.embeddings.sources import load_named

    emb = compute("embeddings", name, lambda p: load_named(name, asset_manager(), progress=p),
                  f"Loading embedding {name} ...")
    note_loaded(f"embedding {name}", "numpy, CPU")
    return emb


@st.cache_resource(show_spinner=False)
def gender_lists():
    from core.embeddings.wordlists import gender_lists as load

    return load(asset_manager())


def detector(name: str):
    """A detector of ``core.detection.detector`` (the tiny YOLO trains once, ~1.5 min, on first use)."""
    from core.detection import detector as detectors

    det = model(("detector", name), lambda p: detectors.load_detector(name, asset_manager(), progress=p),
                f"Loading {name} ... (the first time, the tiny YOLO trains here: about 1.5 minutes)")
    note_loaded(name)
    return det


def fcn(decoder: str):
    """(model, card) of the segmentation FCN with this decoder (trained once on first use)."""
    from core.fcn import segmentation as seg

    loaded = model(("fcn", decoder), lambda p: seg.load_fcn(decoder, progress=p),
                   f"Training / loading the {decoder} decoder (first time: about a minute and a half) ...")
    note_loaded(seg.MODEL_NAMES[decoder])
    return loaded


# ----------------------------------------------------------------------------- named cached results
# What depends only on (model, image, layer, settings) is computed once per worker and shared by every
# student: a room opening a page costs one forward pass, not one per student.


@cached("views", "Predicting ...")
def predictions(model, image: np.ndarray, top: int = 5) -> list[tuple[str, float]]:
    """The model's ``top`` classes with probabilities for an RGB image."""
    return model.predict(image, top=top)


@cached("views", "Computing the activations ...")
def activation_maps(model, image: np.ndarray, layer: str) -> np.ndarray:
    """(h, w, channels) activations of ``layer`` for an RGB image (read-only)."""
    from core.vision import activations

    return _read_only(activations.activation_maps(model, image, layer))


@cached("views", "Measuring every layer ...")
def network_stats(model, image: np.ndarray, layers: tuple[str, ...] | None = None):
    """``core.vision.activations.network_stats`` for these layers (None: every spatial layer)."""
    from core.vision import activations

    return activations.network_stats(model, image, list(layers) if layers else None)


def _read_only(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    array.flags.writeable = False  # shared by every session: a page that writes into it fails loudly
    return array


# ----------------------------------------------------------------------------- attribution (Grad-CAM page)
HEAVY_METHODS = {"scorecam", "smoothgrad", "ig"}  # queued in the job pool (the others take milliseconds)


@cached("views", "Classifying ...")
def class_probabilities(model, image: np.ndarray) -> np.ndarray:
    """Softmax probabilities of every class (read-only)."""
    from core.numeric import softmax

    return _read_only(softmax(model.predict_logits(model.preprocess(image)[None])[0]))


def _method_title(model, image, method, *args, **kwargs) -> str:
    from core.vision import attribution as A

    return f"{A.METHOD_TITLES.get(method, method)} ..."


def heatmap(model, image: np.ndarray, method: str, target: int, layer: str | None = None, options: dict | None = None):
    """``core.vision.attribution.attribute`` for one (model, image, method, class, layer, options); the
    layer counts only for the methods that use one (Saliency at any layer is one computation)."""
    from core.vision import attribution as A

    options = options or {}
    if method == "scorecam":  # the masked passes serve every class: queued once per (model, image, layer, channels)
        layer = layer or A.default_layer(model)
        channels = int(options.get("max_channels", 256))
        score_cam_scores(model, image, layer, channels)  # queued (heavy) when missing; every class shares it
        return _score_cam(model, image, int(target), layer, channels)
    return _heatmap(model, image, method, int(target), layer if method in A.LAYER_METHODS else None, options)


@cached("heatmap", "Score-CAM: one forward pass per channel ...", heavy=True)
def score_cam_scores(model, image: np.ndarray, layer: str, max_channels: int):
    """Score-CAM's masked forward passes for every class at once (core.vision.attribution.score_cam_scores)."""
    from core.vision import attribution as A

    return A.score_cam_scores(model, model.preprocess(image)[None], layer, max_channels=max_channels)


@cached("heatmap", "Score-CAM ...")
def _score_cam(model, image: np.ndarray, target: int, layer: str, max_channels: int):
    from core.vision import attribution as A

    return A.score_cam(model, model.preprocess(image)[None], target, layer,
                       scores=score_cam_scores(model, image, layer, max_channels))  # a hit: queued just before


@cached("heatmap", _method_title, heavy=lambda model, image, method, *a, **k: method in HEAVY_METHODS)
def _heatmap(model, image: np.ndarray, method: str, target: int, layer: str | None, options: dict):
    from core.vision import attribution as A

    return A.attribute(model, image, method, target, layer=layer, **options)


@cached("faithfulness", "Deleting and inserting pixels ...", heavy=True)
def faithfulness(model, image: np.ndarray, target: int, layer: str | None, steps: int, progress=None):
    """(rows, curves) of every method's deletion / insertion AUCs."""
    from core.vision import attribution as A

    return A.faithfulness_table(model, image, target, layer, steps=steps, progress=progress)


@cached("faithfulness", "Grad-CAM layer by layer ...", heavy=True)
def layer_faithfulness(model, image: np.ndarray, target: int, layers: tuple[str, ...], steps: int, progress=None):
    from core.vision import attribution as A

    return A.layer_table(model, image, target, list(layers), steps=steps, progress=progress)


@cached("faithfulness", "Randomising the copy layer by layer ...", heavy=True)
def sanity_check(model, image: np.ndarray, target: int, layer: str | None, stops: int, progress=None):
    from core.vision import attribution as A

    return A.cascading_randomization(model, model.preprocess(image)[None], target, layer, stops=stops,
                                     progress=progress)


# ----------------------------------------------------------------------------- shared data sets


@cached("datasets", "Drawing held-out scenes ...")
def detection_test_set():
    """The detection pages' held-out synthetic scenes (YOLO, R-CNN), drawn once per worker."""
    from core.detection.train import held_out_set

    return held_out_set()
