"""Hard debias speed and memory, bias-measure latency, and slider rerun latency on the ethics pages.

Prints: the vectorised hard debias against the per-word loop of the same formulas (target >= 20x
and < 0.1 s), direct bias + 320 projections (target < 20 ms), the p95 of slider reruns measured with
AppTest (target < 300 ms), and the peak extra memory of one debiased copy (target <= 2x the
embedding). Timing goals live here, never in the tests.
"""

from __future__ import annotations

import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from timing import run_times  # noqa: E402

from core.embeddings import bias, debias  # noqa: E402
from core.embeddings.analysis import gender_setup  # noqa: E402
from core.embeddings.sources import load_named  # noqa: E402
from core.embeddings.wordlists import gender_lists  # noqa: E402


def best_of(fn, repeat=7):
    times = run_times(fn, repeat)
    return min(times), statistics.median(times)


def main() -> None:
    emb = load_named("w2v-small")
    lists = gender_lists()
    setup = gender_setup(emb, lists)
    b, s, e = setup.subspace.components, setup.specific, setup.equality_sets

    vec_best, vec_med = best_of(lambda: debias.hard_debias(emb, b, s, e))
    loop_best, loop_med = best_of(lambda: debias.hard_debias_reference(emb, b, s, e), repeat=3)
    print(f"hard debias, {len(emb):,} x {emb.dim}: vectorised {vec_best * 1e3:.1f} ms (median {vec_med * 1e3:.1f}), "
          f"per-word loop {loop_best * 1e3:.0f} ms -> ratio {loop_best / vec_best:.1f}x (target >= 20x, < 100 ms)")

    def measures():
        bias.direct_bias(emb, list(setup.neutral), setup.subspace.direction)
        bias.projections(emb, lists.profession_words, setup.subspace.direction)

    m_best, m_med = best_of(measures, repeat=20)
    print(f"direct bias + 320 projections: {m_best * 1e3:.2f} ms (median {m_med * 1e3:.2f}; target < 20 ms)")

    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    result = debias.hard_debias(emb, b, s, e)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    print(f"peak extra memory of one debiased copy: {peak / emb.vectors.nbytes:.2f}x the embedding "
          f"({peak / 1e6:.1f} MB for {emb.vectors.nbytes / 1e6:.1f} MB; target <= 2x)")
    del result

    from streamlit.testing.v1 import AppTest

    app = str(ROOT / "dashboard" / "app.py")
    moves = {
        "bias_subspace.py": [("slider", "proj_n", [10, 20, 30, 25, 12])],
        "bias_measures.py": [("slider", "direct_c", [0.5, 1.5, 2.0, 0.0, 1.0]), ("slider", "ib_n", [5, 20, 8])],
        "bias_debias.py": [("slider", "deb_n", [5, 15, 20, 8])],
    }
    latencies = []
    for page, actions in moves.items():
        at = AppTest.from_file(app, default_timeout=300)
        at.run()
        at.switch_page(f"../pages/{page}")
        at.run()
        for kind, key, values in actions:
            for v in values:
                widget = getattr(at, kind)(key=key)
                t = time.perf_counter()
                widget.set_value(v).run()
                latencies.append(time.perf_counter() - t)
                assert not at.exception, at.exception
    latencies.sort()
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    print(f"slider reruns on the ethics pages (AppTest, n={len(latencies)}): median "
          f"{statistics.median(latencies) * 1e3:.0f} ms, p95 {p95 * 1e3:.0f} ms (target < 300 ms)")


if __name__ == "__main__":
    main()
