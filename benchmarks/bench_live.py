"""Live camera modes: milliseconds per 640x480 frame and the resulting frames per second, on 2 cores.

Each mode runs in its own LiveSession (its own TFLite interpreters, 2 threads; TensorFlow limited to
2 threads) on the sample clip's astronaut frames (one face, one person), after a warm-up. Reported per
mode: median and 90th-percentile ms per frame, FPS = 1000 / median, the median of every stage, the goal
of issue #17, and the resident memory before and after the timed frames (no growth per frame).

Then the stream policy: frames offered at 30 FPS to a LatestFrameProcessor for a few seconds; the
model's FPS, and how many frames were dropped (latest frame wins) instead of queued.

    python benchmarks/bench_live.py [--frames 200] [--stream-seconds 5] [--soak-minutes 10]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

GOALS = {"selfie": 30, "faces": 30, "emotion": 15, "channel": 10}  # FPS, issue #17


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--stream-seconds", type=float, default=5.0)
    parser.add_argument("--soak-minutes", type=float, default=0.0, help="then one stream this long (memory check)")
    args = parser.parse_args()

    from core.device import import_tensorflow

    tf = import_tensorflow()
    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(2)

    from core.live import clip
    from core.live.frames import LatestFrameProcessor
    from core.live.modes import MODES, LiveSession, LiveSettings
    from core.vision import zoo

    emotion, cnn = zoo.load_model("emotion-cnn"), zoo.load_model("efficientnet-lite0")
    frames = [clip.clip_frame(i) for i in range(clip.SECONDS_PER_SCENE * clip.FPS)]  # the astronaut scene
    print(f"{len(frames)} frames of {frames[0].shape[1]}x{frames[0].shape[0]}, {os.cpu_count()} CPUs visible, "
          f"TensorFlow {tf.__version__}, 2 threads\n")
    print(f"{'mode':9s} {'median ms':>9s} {'p90 ms':>7s} {'FPS':>6s} {'goal':>5s}  {'RSS MB before -> after':>22s}  "
          "stages (median ms)")
    for mode in ("selfie", "faces", "emotion", "channel"):
        session = LiveSession(LiveSettings(mode=mode), emotion, cnn, num_threads=2)
        for i in range(args.warmup):
            session.process(frames[i % len(frames)])
        before = rss_mb()
        times, stages = [], {}
        for i in range(args.frames):
            t = time.perf_counter()
            session.process(frames[i % len(frames)])
            times.append(time.perf_counter() - t)
            for k, v in session.last_stages.items():
                stages.setdefault(k, []).append(v)
        after = rss_mb()
        session.close()
        ms = np.array(times) * 1000
        median = float(np.median(ms))
        fps = 1000 / median
        stage_text = ", ".join(f"{k} {np.median(v) * 1000:.1f}" for k, v in stages.items())
        verdict = "ok" if fps >= GOALS[mode] else "BELOW"
        print(f"{mode:9s} {median:9.1f} {np.percentile(ms, 90):7.1f} {fps:6.1f} {GOALS[mode]:>5d}  "
              f"{before:9.0f} -> {after:9.0f}  {stage_text}  [{verdict}: {MODES[mode]}]")

    print(f"\nStream policy: frames offered for {args.stream_seconds:.0f} s to a LatestFrameProcessor "
          "(latest frame wins)")
    print(f"{'mode':9s} {'offered/s':>9s} {'offered':>7s} {'processed':>9s} {'dropped':>7s} {'model FPS':>9s}")
    for mode in ("selfie", "faces", "emotion", "channel"):
        for rate in (30, 240):  # a camera, and a source faster than any model here
            proc = stream(LiveSession(LiveSettings(mode=mode), emotion, cnn, num_threads=2), frames, rate,
                          args.stream_seconds)
            print(f"{mode:9s} {rate:9d} {proc.submitted:7d} {proc.processed:9d} {proc.dropped:7d} {proc.fps:9.1f}")

    if args.soak_minutes:
        print(f"\nSoak: one stream for {args.soak_minutes:g} min at 30 FPS, the mode changing every 10 s; "
              "resident memory each minute")
        session = LiveSession(LiveSettings(mode="selfie"), emotion, cnn, num_threads=2)
        proc = LatestFrameProcessor(session.process, on_stop=session.close)
        order = ("selfie", "faces", "emotion", "channel")
        start, i, minute = time.perf_counter(), 0, 0
        print(f"  minute 0: {rss_mb():.0f} MB")
        while time.perf_counter() - start < args.soak_minutes * 60:
            session.settings.mode = order[int((time.perf_counter() - start) // 10) % len(order)]
            proc.submit(frames[i % len(frames)])
            i += 1
            time.sleep(max(0.0, start + i / 30 - time.perf_counter()))
            if (time.perf_counter() - start) // 60 > minute:
                minute += 1
                print(f"  minute {minute}: {rss_mb():.0f} MB, {proc.processed} frames processed, "
                      f"{proc.dropped} dropped", flush=True)
        proc.stop()
        print(f"  after stop: interpreters released = {session.closed_models}")


def stream(session, frames, rate: float, seconds: float):
    """Offer ``rate`` frames per second to a LatestFrameProcessor running ``session`` for ``seconds``."""
    from core.live.frames import LatestFrameProcessor

    session.process(frames[0])  # warm
    proc = LatestFrameProcessor(session.process, on_stop=session.close)
    start, i = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        proc.submit(frames[i % len(frames)])
        i += 1
        time.sleep(max(0.0, start + i / rate - time.perf_counter()))
    proc.stop()
    return proc


if __name__ == "__main__":
    main()
