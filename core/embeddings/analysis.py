"""The default pipeline shared by the pages and the CLI: one place that wires lists, subspace,
neutral words, the specific set and the equality sets together with the paper's defaults."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.assets import AssetManager
from core.embeddings import bias, debias, evaluate
from core.embeddings.io import Embedding
from core.embeddings.wordlists import (
    ANALOGY_BENCHMARKS,
    SIMILARITY_BENCHMARKS,
    GenderLists,
    analogy_questions,
    similarity_pairs,
    weat_tests,
)
from core.progress import Progress, ensure, scaled


@dataclass(frozen=True)
class GenderSetup:
    lists: GenderLists
    subspace: bias.BiasSubspace
    neutral: tuple[str, ...]  # neutral professions in the vocabulary (303 on w2v-small)
    specific: frozenset[str]  # S: never neutralized
    equality_sets: tuple[tuple[str, ...], ...]
    convention: str


def gender_setup(emb: Embedding, lists: GenderLists, pairs: Sequence[Sequence[str]] | None = None,
                 method: str = "pca", k: int = 1, convention: str = debias.DEFAULT_CONVENTION,
                 specific: set[str] | None = None) -> GenderSetup:
    sub = bias.bias_subspace(emb, pairs if pairs is not None else lists.definitional_pairs, method=method, k=k)
    neutral = bias.neutral_professions(emb, lists.profession_words, lists.specific_full, lists.definitional_pairs,
                                       lists.equalize_pairs)
    spec = frozenset(specific if specific is not None else debias.default_specific_words(lists))
    eq = tuple(debias.default_equality_sets(emb, lists, convention))
    return GenderSetup(lists, sub, tuple(neutral), spec, eq, convention)


def run_debias(emb: Embedding, setup: GenderSetup, mode: str = "hard") -> debias.DebiasResult:
    return debias.hard_debias(emb, setup.subspace.components, setup.specific, setup.equality_sets, mode=mode)


def benchmark_report(emb: Embedding, manager: AssetManager | None = None, progress: Progress | None = None) -> dict:
    """Similarity (Pearson/Spearman) and analogy accuracy on every shipped benchmark."""
    progress = ensure(progress)
    out: dict = {"similarity": {}, "analogies": {}}
    for name, asset in SIMILARITY_BENCHMARKS.items():
        out["similarity"][name] = evaluate.similarity_scores(emb, similarity_pairs(asset, manager))
    progress(0.1, "word-similarity benchmarks done")
    for i, (name, asset) in enumerate(ANALOGY_BENCHMARKS.items()):
        out["analogies"][name] = evaluate.analogy_accuracy(
            emb, analogy_questions(asset, manager), progress=scaled(progress, 0.1 + 0.45 * i, 0.55 + 0.45 * i))
    return out


def weat_report(emb: Embedding, manager: AssetManager | None = None, n_permutations: int = 10_000,
                seed: int = 0) -> list[dict]:
    rows = []
    for test in weat_tests(manager):
        row = {"test": test.name, "original_d": test.original_d}
        try:
            r = evaluate.weat(emb, test.x, test.y, test.a, test.b, n_permutations=n_permutations, seed=seed)
            row.update(effect_size=r.effect_size, p_value=r.p_value, n_missing=len(r.missing), error=None)
        except bias.NotEnoughWords as exc:
            row.update(effect_size=None, p_value=None, n_missing=None, error=str(exc))
        rows.append(row)
    return rows


def clustering_report(original: Embedding, evaluated: Embedding, setup: GenderSetup, seed: int = 0) -> dict:
    c = evaluate.clustering_test(original, evaluated, setup.subspace.direction, set(setup.specific), seed=seed)
    return {"kmeans_accuracy": c.kmeans_accuracy, "svm_accuracy": c.svm_accuracy,
            "neighbour_correlation": c.neighbour_correlation, "n_words": len(c.words)}


def direct_bias_of(emb: Embedding, setup: GenderSetup, c: float = 1.0) -> float:
    return bias.direct_bias(emb, list(setup.neutral), setup.subspace.direction, c)


def percent(x: float, digits: int = 0, sign: bool = False) -> str:
    """A share as text: "n/a" for NaN/inf (never "nan%"), and never "-0%" for a value that rounds to 0."""
    if x is None or not np.isfinite(x):
        return "n/a"
    value = round(float(x) * 100, digits)
    if value == 0:
        value = 0.0  # drops the sign of -0.0
    return f"{value:{'+' if sign else ''}.{digits}f}%"


def summary_numbers(emb: Embedding, setup: GenderSetup) -> dict:
    return {
        "explained_variance": [float(v) for v in setup.subspace.explained_variance_ratio],
        "direct_bias": direct_bias_of(emb, setup),
        "projections": bias.projections(emb, setup.lists.profession_words, setup.subspace.direction),
        "n_neutral": len(setup.neutral),
        "missing_definitional_words": list(setup.subspace.missing),
        "direction": setup.subspace.method,
        "direction_vector_norm": float(np.linalg.norm(setup.subspace.direction)),
    }
