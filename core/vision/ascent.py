"""Gradient ascent in input space: filters, class neurons, and Deep Dream.

    filter n of layer L:  I <- I + eta * g / ||g||,  g = grad_I mean_{i,j} f_n(I)_{i,j}   (the norm "trick")
    class neuron c:       I <- I + eta * grad_I f_c(I)       (f: pre-softmax score; normalised by default)
    Deep Dream:           I <- eps_iter(I + eta * g / mean|g|),  g = grad_I sum_l w_l mean(f_l(I)^2)

The weights never change; only the image does. Every loop runs K steps inside one ``tf.function``
(compiled once per model, layer and settings: no per-step retracing), reports through the progress
protocol, can be stopped between chunks, and is seeded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from core.device import import_keras, import_tensorflow
from core.limits import ASCENT_MAX_SIZE as MAX_SIZE
from core.limits import ASCENT_MAX_STEPS as MAX_STEPS
from core.progress import Progress, ensure
from core.vision.compiled import compiled
from core.vision.zoo import LoadedModel, ModelError, preprocess_array


@dataclass(frozen=True)
class AscentResult:
    images: np.ndarray  # (n, h, w, 3) uint8, deprocessed
    raw: np.ndarray  # (n, h, w, c) model-input space
    objective: np.ndarray  # (steps,) mean objective over the batch, before each update
    seconds: float  # time spent in the loop itself
    stopped: bool
    targets: tuple  # the filter or class indices optimised (one per image)


def _valid_range(loaded: LoadedModel) -> tuple[np.ndarray, np.ndarray]:
    lo = preprocess_array(np.zeros((1, 1, loaded.channels), np.float32), loaded.preprocessing).reshape(-1)
    hi = preprocess_array(np.full((1, 1, loaded.channels), 255.0, np.float32), loaded.preprocessing).reshape(-1)
    return np.minimum(lo, hi), np.maximum(lo, hi)


def initial_images(loaded: LoadedModel, n: int, size: tuple[int, int], init: str, image: np.ndarray | None,
                   seed: int) -> np.ndarray:
    """Start images in model-input space: 'gray' (gray + noise), 'zeros', 'random' or 'image'."""
    rng = np.random.default_rng(seed)
    h, w = size
    if init == "image":
        if image is None:
            raise ModelError("Choose an image to start from, or start from gray noise.")
        x = loaded.preprocess(image, size=(h, w))[None]
        return np.repeat(x, n, axis=0).astype(np.float32)
    if init == "zeros":
        return np.zeros((n, h, w, loaded.channels), np.float32)
    if init == "random":
        pixels = rng.uniform(0, 255, (n, h, w, loaded.channels))
    else:  # gray with a little noise, the usual start
        pixels = 128.0 + rng.normal(0, 20, (n, h, w, loaded.channels))
    return preprocess_array(np.clip(pixels, 0, 255).astype(np.float32), loaded.preprocessing)


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    out = np.empty_like(x)
    for b in range(x.shape[0]):
        blurred = cv2.GaussianBlur(x[b], (0, 0), sigma)
        out[b] = blurred.reshape(x[b].shape)
    return out


def _check_common(steps: int, step_size: float) -> None:
    if steps < 1 or steps > MAX_STEPS:
        raise ModelError(f"Steps must be between 1 and {MAX_STEPS:,}; got {steps:,}.")
    if not np.isfinite(step_size) or step_size <= 0:
        raise ModelError("The step size η must be a positive number (η = 0 would never change the image).")


def _target_model(loaded: LoadedModel, layer: str | None):
    """(model, outputs per position): the class logits, or the network truncated at ``layer`` (the one
    layer extractor) and its filters."""
    model = loaded.logits if layer is None else loaded.extractor((layer,))
    return model, int(model.outputs[0].shape[-1])


def _objective_builder(loaded: LoadedModel, layer: str | None):
    """(model, n_out, objective(outputs, pick) -> (B,)) for filters of ``layer`` or, with layer None,
    class logits. ``pick`` (B, n_out) is a one-hot row per image: which filter or class it maximises.
    For a layer the model is the network *truncated* there (``loaded.extractor``: only the layers
    between the input and ``layer``), so an early filter costs what its layers cost."""
    tf = import_tensorflow()
    model, n_out = _target_model(loaded, layer)
    if layer is None:
        def objective(out, pick):
            return tf.reduce_sum(out * pick, axis=1)  # out[b, targets[b]]
    else:
        def objective(out, pick):
            per_channel = tf.reduce_mean(out, axis=[1, 2])  # (B, C): mean over i, j
            return tf.reduce_sum(per_channel * pick, axis=1)  # filter targets[b] for image b
    return model, n_out, objective


def _pick(loaded: LoadedModel, layer: str | None, targets: Sequence[int]):
    """The (B, n_out) one-hot rows of ``targets``, checked against the layer's filters or the classes
    (a tensor argument of the compiled loops: other targets never retrace them)."""
    tf = import_tensorflow()
    _, n_out = _target_model(loaded, layer)
    bad = [t for t in targets if t < 0 or t >= n_out]
    if bad and layer is None:
        raise ModelError(f"Class index out of range: {loaded.name} has {n_out} classes.")
    if bad:
        raise ModelError(f"Filter {bad[0]} is out of range: layer '{layer}' has {n_out} filters (0-{n_out - 1}).")
    # a one-hot product, because gather with batch_dims has no gradient here
    return tf.one_hot(np.asarray(targets, np.int32), n_out)


def _random_shift(tf, jitter: int, seed, step):
    """A random roll in [-jitter, jitter]^2 for this step: stateless (seeded by (seed, step)), so one
    compiled function serves every session and thread without shared generator state."""
    if jitter <= 0:
        return tf.zeros([2], tf.int32)
    return tf.random.stateless_uniform([2], seed=tf.stack([seed, step]), minval=-jitter, maxval=jitter + 1,
                                       dtype=tf.int32)


def _compiled_loop(loaded: LoadedModel, layer: str | None, normalize: bool, jitter: int, l2: float):
    """One tf.function running k steps (from step ``step0``, seeded); built once per model, layer and
    settings, whatever the targets and batch size."""
    return compiled(loaded, ("ascent", layer, normalize, jitter, l2),
                    lambda: _build_loop(loaded, layer, normalize, jitter, l2))


def _build_loop(loaded: LoadedModel, layer: str | None, normalize: bool, jitter: int, l2: float):
    tf = import_tensorflow()
    model, _, objective = _objective_builder(loaded, layer)
    lo, hi = (tf.constant(v, tf.float32) for v in _valid_range(loaded))

    @tf.function(reduce_retracing=True)
    def run(x, pick, k, lr, seed, step0):
        values = tf.TensorArray(tf.float32, size=k)
        for i in tf.range(k):
            # jitter: evaluate on a randomly rolled copy; the gradient w.r.t. x undoes the roll
            shift = _random_shift(tf, jitter, seed, step0 + i)
            with tf.GradientTape() as tape:
                tape.watch(x)
                obj = objective(model(tf.roll(x, shift, axis=[1, 2]), training=False), pick)
                total = tf.reduce_sum(obj)  # inside the tape, or the gradient is None
            g = tape.gradient(total, x)
            if normalize:
                g = g / (tf.sqrt(tf.reduce_sum(tf.square(g), axis=[1, 2, 3], keepdims=True)) + 1e-8)
            x = x + lr * g
            if l2 > 0:
                x = x * (1.0 - l2)
            x = tf.clip_by_value(x, lo, hi)
            values = values.write(i, tf.reduce_mean(obj))
        return x, values.stack()

    return run


def _compiled_fourier_loop(loaded: LoadedModel, layer: str | None, size: tuple[int, int, int], normalize: bool):
    """Lucid-style parameterisation: optimise a decorrelated Fourier spectrum instead of pixels.
    Built once per model, layer, image size (h, w, c) and setting, whatever the targets."""
    return compiled(loaded, ("fourier", layer, size, normalize),
                    lambda: _build_fourier_loop(loaded, layer, size, normalize))


def _build_fourier_loop(loaded: LoadedModel, layer: str | None, size: tuple[int, int, int], normalize: bool):
    tf = import_tensorflow()
    model, _, objective = _objective_builder(loaded, layer)
    lo, hi = (tf.constant(v, tf.float32) for v in _valid_range(loaded))
    h, w, c = size
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    scale = tf.constant((1.0 / np.maximum(np.sqrt(fx ** 2 + fy ** 2), 1.0 / max(h, w))).astype(np.float32))
    amplitude = float(np.mean(hi - lo)) / 4.0

    def to_image(base, re, im):
        spectrum = tf.complex(re * scale, im * scale)  # (b, c, h, w//2+1)
        pattern = tf.signal.irfft2d(spectrum, fft_length=[h, w])  # (b, c, h, w)
        pattern = pattern / (tf.math.reduce_std(pattern, axis=[1, 2, 3], keepdims=True) + 1e-8)
        return tf.clip_by_value(base + amplitude * tf.transpose(pattern, [0, 2, 3, 1]), lo, hi)

    @tf.function(reduce_retracing=True)
    def run(base, re, im, pick, k, lr):
        values = tf.TensorArray(tf.float32, size=k)
        for i in tf.range(k):
            with tf.GradientTape() as tape:
                tape.watch([re, im])
                obj = objective(model(to_image(base, re, im), training=False), pick)
                total = tf.reduce_sum(obj)
            g_re, g_im = tape.gradient(total, [re, im])
            if normalize:
                n = tf.sqrt(tf.reduce_sum(tf.square(g_re), axis=[1, 2, 3], keepdims=True)
                            + tf.reduce_sum(tf.square(g_im), axis=[1, 2, 3], keepdims=True)) + 1e-8
                g_re, g_im = g_re / n, g_im / n
            re = re + lr * g_re
            im = im + lr * g_im
            values = values.write(i, tf.reduce_mean(obj))
        return re, im, values.stack(), to_image(base, re, im)

    return run


def gradient_ascent(loaded: LoadedModel, layer: str | None, targets: Sequence[int], steps: int = 100,
                    step_size: float = 1.0, size: int | None = None, init: str = "gray", image: np.ndarray | None = None,
                    normalize: bool = True, jitter: int = 0, l2: float = 0.0, blur_every: int = 0, blur_sigma: float = 0.5,
                    fourier: bool = False, seed: int = 0, progress: Progress | None = None,
                    stop: Callable[[], bool] | None = None, snapshot_every: int = 0,
                    snapshot: Callable[[np.ndarray, int], None] | None = None) -> AscentResult:
    """Maximise filters of ``layer`` (or, with ``layer=None``, class logits), one image per target.

    ``step_size`` is η in model-input units per step (with ``normalize`` the step has that L2 length
    per image). ``size`` applies to models that accept any input size; fixed-size models use theirs.
    ``snapshot(images, step)`` receives the current images every ``snapshot_every`` steps.
    """
    progress = ensure(progress)
    _check_common(steps, step_size)
    targets = tuple(int(t) for t in targets)
    if not targets:
        raise ModelError("Choose at least one filter or class.")
    pick = _pick(loaded, layer, targets)
    x = initial_images(loaded, len(targets), _canvas(loaded, size), init, image, seed)
    advance = _stepper(loaded, layer, x, pick, float(step_size), normalize, fourier, int(jitter), float(l2),
                       blur_every, blur_sigma, seed)
    chunk = blur_every if blur_every > 0 else max(1, min(50, steps // 4 or 1))
    values: list[np.ndarray] = []
    stopped = False
    start = time.perf_counter()
    done = 0
    while done < steps:
        k = min(chunk, steps - done)
        vals, current = advance(k, done)
        values.append(vals)
        done += k
        progress(done / steps, f"step {done}/{steps}: objective {float(values[-1][-1]):.4g}")
        if snapshot is not None and snapshot_every and (done % snapshot_every < k or done == steps):
            snapshot(loaded.deprocess(current), done)
        if stop is not None and stop():
            stopped = True
            break
    seconds = time.perf_counter() - start
    return AscentResult(loaded.deprocess(current), current, np.concatenate(values), seconds, stopped, targets)


def _canvas(loaded: LoadedModel, size: int | None) -> tuple[int, int]:
    """(h, w) of the images to optimise: the model's own size, or ``size`` for any-size models."""
    if not loaded.flexible:
        return loaded.input_size
    s = int(size or 64)
    if s < 16 or s > MAX_SIZE:
        raise ModelError(f"Image size must be between 16 and {MAX_SIZE} pixels.")
    return s, s


def _stepper(loaded: LoadedModel, layer: str | None, x: np.ndarray, pick, step_size: float, normalize: bool,
             fourier: bool, jitter: int, l2: float, blur_every: int, blur_sigma: float, seed: int):
    """``advance(k, done) -> (objective per step, images)``: k more steps of the compiled loop, in pixel
    space (with jitter, L2 decay and the blur between chunks) or in Fourier space."""
    tf = import_tensorflow()
    lr = tf.constant(step_size)
    if fourier:
        run = _compiled_fourier_loop(loaded, layer, tuple(x.shape[1:]), normalize)
        rng = np.random.default_rng(seed)
        shape = (x.shape[0], x.shape[3], x.shape[1], x.shape[2] // 2 + 1)
        state = {"re": tf.constant(rng.normal(0, 0.01, shape).astype(np.float32)),
                 "im": tf.constant(rng.normal(0, 0.01, shape).astype(np.float32))}
        base = tf.constant(x)

        def advance(k: int, done: int):
            state["re"], state["im"], vals, img = run(base, state["re"], state["im"], pick, tf.constant(k), lr)
            return vals.numpy(), np.asarray(img)

        return advance
    run = _compiled_loop(loaded, layer, normalize, jitter, l2)
    state = {"x": tf.constant(x)}

    def advance(k: int, done: int):
        xt, vals = run(state["x"], pick, tf.constant(k), lr, tf.constant(int(seed)), tf.constant(done))
        if blur_every > 0 and blur_sigma > 0:
            xt = tf.constant(_blur(xt.numpy(), blur_sigma))
        state["x"] = xt
        return vals.numpy(), np.asarray(xt)

    return advance


# ----------------------------------------------------------------------------- Deep Dream


@dataclass(frozen=True)
class DreamResult:
    image: np.ndarray  # (H, W, 3) uint8
    original: np.ndarray  # the input at the same resolution
    loss: np.ndarray  # per iteration, all octaves
    octave_shapes: tuple[tuple[int, int], ...]
    seconds: float
    stopped: bool


def flexible_model(loaded: LoadedModel):
    """The same network accepting any input size (a config copy with the weights; cached)."""
    import_keras()
    return compiled(loaded, ("flexible",), lambda: _rebuild_flexible(loaded))


def any_size(loaded: LoadedModel) -> LoadedModel:
    """``loaded`` when it takes any input size; else the same network rebuilt for any size, wrapped as
    its own (cached) :class:`LoadedModel`. Filters of an early or mid layer then run on a canvas of
    the size they need (their receptive field), through the network truncated at that layer: a
    128-pixel ascent on EfficientNet's block 4 costs a third of a 224-pixel one."""
    if loaded.flexible:
        return loaded

    def build():
        from core.vision.zoo import logits_model

        net = flexible_model(loaded)
        logits = net if loaded.logits is loaded.model else logits_model(net)
        return LoadedModel(loaded.name, loaded.title, net, logits, loaded.class_names, loaded.preprocessing,
                           loaded.input_size, loaded.channels, note=loaded.note, flexible=True)

    return compiled(loaded, ("any_size",), build)


def _rebuild_flexible(loaded: LoadedModel):
    shape = loaded.model.inputs[0].shape
    if shape[1] is None and shape[2] is None:
        model = loaded.model
    else:
        config = loaded.model.get_config()
        for layer_cfg in config.get("layers", []):
            if layer_cfg.get("class_name") == "InputLayer":
                cfg = layer_cfg["config"]
                batch_shape = list(cfg.get("batch_shape") or cfg.get("batch_input_shape"))
                cfg["batch_shape"] = [batch_shape[0], None, None, batch_shape[-1]]
                cfg.pop("batch_input_shape", None)
        try:
            model = loaded.model.__class__.from_config(config)
            model.set_weights(loaded.model.get_weights())
        except Exception as exc:
            raise ModelError(f"{loaded.name} cannot be rebuilt for other input sizes ({type(exc).__name__}); "
                             "Deep Dream needs a fully convolutional model.") from None
    return model


def _resize_float(x: np.ndarray, h: int, w: int) -> np.ndarray:
    out = cv2.resize(x, (w, h), interpolation=cv2.INTER_CUBIC)
    return out.reshape(h, w, x.shape[2])


# the objectives f_A of :func:`deep_dream`: the slide's sum of activations, keras-io's mean of squares
DREAM_OBJECTIVES = {"activation": "the slide: sum of the activations of layer A",
                    "square": "keras-io: mean of the squared activations"}


def deep_dream(loaded: LoadedModel, image: np.ndarray, layers: dict[str, float], octaves: int = 3,
               octave_scale: float = 1.4, iterations: int = 20, step: float = 0.01, max_loss: float | None = None,
               jitter: int = 0, max_side: int = 512, seed: int = 0, progress: Progress | None = None,
               stop: Callable[[], bool] | None = None, scaling: float = 0.0,
               objective: str = "square") -> DreamResult:
    """Deep Dream with octaves and detail re-injection (keras-io's recipe, the lecture's step rule).

    The objective f_A: ``"activation"`` is the slide's, the activations of the layers summed (as a
    weighted mean over positions and channels: after the inverse-L1 normalisation of the gradient a sum
    and a mean take the same step); ``"square"`` is keras-io's, the weighted mean of the *squared*
    activations (:data:`DREAM_OBJECTIVES`).

    The noise process ε: ``jitter`` rolls the image by up to that many pixels for each gradient (keras-io;
    the roll is undone by differentiating w.r.t. the image); ``scaling`` is the slide's ε, "add randomness
    through scaling": after each step the image itself is zoomed about its centre by a random factor in
    [1 - scaling, 1 + scaling] (same size: cropped, or padded with its mean colour), I <- ε(I + η∇)."""
    tf = import_tensorflow()
    progress = ensure(progress)
    _check_common(iterations, step)
    if not layers:
        raise ModelError("Choose at least one layer to amplify.")
    if octaves < 1 or octaves > 6 or octave_scale <= 1.0:
        raise ModelError("Use 1-6 octaves and an octave scale above 1.")
    if not 0.0 <= scaling <= 0.5:
        raise ModelError(f"The random scaling must be between 0 and 0.5 (a zoom of ±50 %); got {scaling}.")
    if objective not in DREAM_OBJECTIVES:
        raise ModelError(f"The dream objective must be one of {', '.join(DREAM_OBJECTIVES)}; got {str(objective)[:40]!r}.")
    feature = any_size(loaded).extractor(tuple(layers))  # the layers' activations, on any image size
    run = compiled(loaded, ("dream", tuple(layers), tuple(layers.values()), jitter, float(scaling), objective),
                   lambda: _build_dream_loop(loaded, feature, [float(v) for v in layers.values()], jitter,
                                             float(scaling), objective))
    rgb = np.asarray(image)
    h0, w0 = rgb.shape[:2]
    scale = min(1.0, max_side / max(h0, w0))
    h, w = max(8, round(h0 * scale)), max(8, round(w0 * scale))
    original = loaded.preprocess(rgb, size=(h, w)).astype(np.float32)
    shapes = [(max(8, round(h / octave_scale ** i)), max(8, round(w / octave_scale ** i))) for i in range(octaves)][::-1]
    shrunk_original = _resize_float(original, *shapes[0])
    img = shrunk_original.copy()
    losses: list[np.ndarray] = []
    stopped = False
    start = time.perf_counter()
    total = octaves * iterations
    for o, shape in enumerate(shapes):
        img = _resize_float(img, *shape)
        done = 0
        while done < iterations:
            k = min(5, iterations - done)
            xt, vals = run(tf.constant(img[None]), tf.constant(k), tf.constant(float(step)), tf.constant(int(seed)),
                           tf.constant(o * iterations + done))
            img = xt.numpy()[0]
            losses.append(vals.numpy())
            done += k
            progress((o * iterations + done) / total, f"octave {o + 1}/{octaves} ({shape[1]}x{shape[0]}): "
                                                       f"iteration {done}/{iterations}, loss {float(vals[-1]):.4g}")
            if max_loss is not None and float(vals[-1]) > max_loss:
                break
            if stop is not None and stop():
                stopped = True
                break
        if stopped:
            break
        # re-inject the detail lost by shrinking: original at this size minus the upscaled small original
        upscaled = _resize_float(shrunk_original, *shape)
        same_size = _resize_float(original, *shape)
        img = img + (same_size - upscaled)
        shrunk_original = same_size
    lo, hi = _valid_range(loaded)
    img = np.clip(_resize_float(img, h, w), lo, hi)
    return DreamResult(loaded.deprocess(img), loaded.deprocess(original), np.concatenate(losses) if losses else np.zeros(0),
                       tuple(shapes), time.perf_counter() - start, stopped)


def random_zoom(tf, x, scaling: float, seed, step):
    """The slide's ε, "randomness through scaling": ``x`` (1, H, W, C) zoomed about its centre by a random
    factor in [1 - scaling, 1 + scaling] (stateless, seeded by (seed, step)), back at (H, W): a zoom in is
    cropped, a zoom out padded by reflecting its border. Bicubic, and reflected rather than padded with a
    flat colour: applied after every step, a bilinear zoom blurs the dream and flat borders pile up into
    frames."""
    if scaling <= 0:
        return x
    s = tf.random.stateless_uniform([], seed=tf.stack([seed, step + 1_000_003]), minval=1.0 - scaling,
                                    maxval=1.0 + scaling)
    h, w = tf.shape(x)[1], tf.shape(x)[2]
    size = tf.maximum(1, tf.cast(tf.round(tf.cast(tf.stack([h, w]), tf.float32) * s), tf.int32))
    z = tf.image.resize(x, size, method="bicubic")
    ph, pw = tf.maximum(0, h - size[0]), tf.maximum(0, w - size[1])
    z = tf.pad(z, [[0, 0], [ph // 2, ph - ph // 2], [pw // 2, pw - pw // 2], [0, 0]], mode="REFLECT")
    return tf.image.crop_to_bounding_box(z, (tf.shape(z)[1] - h) // 2, (tf.shape(z)[2] - w) // 2, h, w)


def _build_dream_loop(loaded: LoadedModel, feature, weights: list[float], jitter: int, scaling: float = 0.0,
                      objective: str = "square"):
    """k Deep Dream steps in one tf.function (stateless random rolls and zooms, seeded per call);
    ``feature`` is the model's layer extractor for the amplified layers."""
    tf = import_tensorflow()
    lo, hi = (tf.constant(v, tf.float32) for v in _valid_range(loaded))

    @tf.function(input_signature=[tf.TensorSpec([1, None, None, loaded.channels], tf.float32),
                                  tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.float32),
                                  tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32)])
    def run(x, k, lr, seed, step0):
        losses = tf.TensorArray(tf.float32, size=k)
        for i in tf.range(k):
            # the noise process eps: a random roll each step (undone by differentiating w.r.t. x)
            shift = _random_shift(tf, jitter, seed, step0 + i)
            with tf.GradientTape() as tape:
                tape.watch(x)
                acts = feature(tf.roll(x, shift, axis=[1, 2]), training=False)
                if not isinstance(acts, (list, tuple)):
                    acts = [acts]
                if objective == "activation":  # the slide: the activations themselves (sum ~ mean, see above)
                    loss = tf.add_n([w * tf.reduce_mean(a) for w, a in zip(weights, acts, strict=True)])
                else:  # keras-io: their squares
                    loss = tf.add_n([w * tf.reduce_mean(tf.square(a)) for w, a in zip(weights, acts, strict=True)])
            g = tape.gradient(loss, x)
            g = g / (tf.reduce_mean(tf.abs(g)) + 1e-8)  # the inverse L1 norm of the gradient
            x = tf.clip_by_value(random_zoom(tf, x + lr * g, scaling, seed, step0 + i), lo, hi)  # I <- ε(I + η∇)
            losses = losses.write(i, loss)
        return x, losses.stack()

    return run
