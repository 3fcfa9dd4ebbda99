"""WEAT permutation test, sentiment training and text rescoring speed.

Prints the vectorised WEAT with 10,000 permutations against a per-permutation Python loop over the
same splits (target < 1 s and a large ratio), the classifier's training time on w2v-small (target
< 2 s) and the text-box rescoring time (target < 100 ms).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.embeddings import evaluate  # noqa: E402
from core.embeddings.sentiment import opinion_lexicon, train_sentiment  # noqa: E402
from core.embeddings.sources import load_named  # noqa: E402
from core.embeddings.wordlists import weat_tests  # noqa: E402


def weat_loop(emb, x, y, a, b, n_permutations, seed):
    sx, sy = evaluate.association(emb, x, a, b), evaluate.association(emb, y, a, b)
    both = np.concatenate([sx, sy])
    stat = sx.sum() - sy.sum()
    rng = np.random.default_rng(seed)
    count = 0
    for _ in range(n_permutations):
        perm = rng.permutation(len(both))
        count += both[perm[: len(sx)]].sum() - both[perm[len(sx):]].sum() >= stat - 1e-12
    return (count + 1) / (n_permutations + 1)


def main() -> None:
    emb = load_named("w2v-test-13k")  # knows most of WEAT 3's 50 + 50 names
    test = weat_tests()[2]  # European vs African American names (50 + 50), pleasant vs unpleasant
    x, y = emb.split_known(test.x)[0], emb.split_known(test.y)[0]
    a, b = emb.split_known(test.a)[0], emb.split_known(test.b)[0]
    t = time.perf_counter()
    r = evaluate.weat(emb, x, y, a, b, n_permutations=10_000, seed=0)
    vec = time.perf_counter() - t
    t = time.perf_counter()
    p_loop = weat_loop(emb, x, y, a, b, 10_000, 0)
    loop = time.perf_counter() - t
    print(f"WEAT ({len(x)}+{len(y)} targets), 10,000 permutations: vectorised {vec * 1e3:.0f} ms (p = {r.p_value:.4f}), "
          f"per-permutation loop {loop * 1e3:.0f} ms (p = {p_loop:.4f}) -> ratio {loop / vec:.1f}x (target < 1 s)")

    emb = load_named("w2v-small")
    pos, neg = opinion_lexicon()
    train_sentiment(emb, pos, neg)  # warm the imports
    t = time.perf_counter()
    model = train_sentiment(emb, pos, neg)
    print(f"sentiment classifier on w2v-small: trained in {time.perf_counter() - t:.2f} s, held-out accuracy "
          f"{model.accuracy:.3f} (target < 2 s)")
    times = []
    for text in ["My name is Emily and I love this restaurant", "Let's go get Mexican food", "a terrible, awful day"]:
        t = time.perf_counter()
        model.score_text(text)
        times.append(time.perf_counter() - t)
    print(f"text rescoring: max {max(times) * 1e3:.2f} ms (target < 100 ms)")


if __name__ == "__main__":
    main()
