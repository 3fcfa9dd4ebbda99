"""Live camera: pretrained models run on every frame of a stream.

* :mod:`core.live.tflite` - the one wrapper around TensorFlow's TFLite interpreter.
* :mod:`core.live.selfie` - MediaPipe selfie segmentation (a person mask).
* :mod:`core.live.blazeface` - MediaPipe BlazeFace: SSD anchors, decoding, weighted NMS.
* :mod:`core.live.frames` - latest-frame-wins processing, so a slow model drops frames, never queues them.
* :mod:`core.live.modes` - what each live mode computes and draws on a frame, with per-stage times.

TFLite interpreters are not thread-safe: every stream (and every CLI call) makes its own and closes it
when the stream stops; only the read-only Keras classifiers of the zoo are shared.
"""
