"""benchmarks/bench_classroom.py: the --wave mode's defaults and the distinct-settings plan (no server)."""

import importlib.util
import sys
from pathlib import Path

from serving.student import Widget

_spec = importlib.util.spec_from_file_location(
    "bench_classroom", Path(__file__).resolve().parents[2] / "benchmarks" / "bench_classroom.py")
bench = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("bench_classroom", bench)  # its dataclasses look their module up
_spec.loader.exec_module(bench)


def test_wave_mode_is_make_classroom_with_every_page_and_no_slider_phases():
    args = bench.parse_args(["--wave", "150", "--pages", "all"])
    assert (args.students, args.start, args.pages, args.settings, args.workers) == (150, "classroom", None, 0, 2)
    args = bench.parse_args(["--students", "5", "--pages", "home,grad-cam"])
    assert (args.wave, args.start, args.pages, args.settings) == (None, "run", ["", "grad-cam"], 1000)


def test_knobs_by_label_and_every_knob_varied():
    method = Widget("m", "selectbox", "Method", options=[f"m{i}" for i in range(9)])
    layer = Widget("l", "selectbox", "Target layer (default: ...)", options=[f"l{i}" for i in range(60)])
    cls = Widget("c", "selectbox", "Class to explain (default: ...)", options=[f"c{i}" for i in range(1000)])
    alpha = Widget("a", "slider", "Overlay opacity α", min=0.0, max=1.0, step=0.05, data_type="FLOAT", default=0.5)
    knobs = bench.knobs_of([cls, alpha, layer, method], ["Method", "Target layer", "Class to explain"])
    assert [w.id for w in knobs] == ["m", "l", "c"]
    assert [w.id for w in bench.knobs_of([cls, alpha, layer, method])] == ["a"]  # default: the sliders
    plan = bench.settings(knobs, 50, every=True)
    assert len({tuple(sorted(p.items())) for p in plan}) == 50
    for knob in ("m", "l", "c"):  # every knob takes several values, not only the first one
        assert len({p[knob] for p in plan}) >= 3
