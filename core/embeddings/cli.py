"""CLI commands of the embedding-bias demo: ``bias``, ``debias``, ``evaluate``."""

from __future__ import annotations

import argparse
from typing import Any

from core.cli import CommandError, add_common
from core.progress import stderr_progress


def _load(args: argparse.Namespace):
    from core.embeddings.sources import load_embedding
    from core.embeddings.wordlists import gender_lists

    if getattr(args, "k", 1) < 1 or getattr(args, "k", 1) > 10:
        raise CommandError(f"--k must be between 1 and 10 (dimensions of the bias subspace), not {args.k}.")
    try:
        emb = load_embedding(args.embedding, progress=None if args.json else stderr_progress)
    except ValueError as exc:  # an unknown name or path (sources), a malformed file (EmbeddingFormatError)
        raise CommandError(str(exc)) from None
    return emb, gender_lists()


def _setup(args: argparse.Namespace, emb, lists):
    from core.embeddings.analysis import gender_setup
    from core.embeddings.bias import NotEnoughWords

    try:
        return gender_setup(emb, lists, method=getattr(args, "direction", "pca"), k=getattr(args, "k", 1),
                            convention=getattr(args, "convention", "equalize+definitional"))
    except NotEnoughWords as exc:  # too few pairs in the vocabulary, a 1-D embedding, ...
        raise CommandError(str(exc)) from None


def cmd_bias(args: argparse.Namespace) -> tuple[Any, str]:
    from core.embeddings.analysis import summary_numbers

    emb, lists = _load(args)
    setup = _setup(args, emb, lists)
    payload = {"embedding": emb.name, "n_words": len(emb), **summary_numbers(emb, setup)}
    ranked = sorted(payload["projections"].items(), key=lambda kv: kv[1])
    text = (f"{emb.name}: {len(emb):,} words; PC1 explains {payload['explained_variance'][0]:.1%} of the "
            f"definitional pairs' variance.\nDirect bias (c=1) over {payload['n_neutral']} neutral professions: "
            f"{payload['direct_bias']:.4f}\nmost female: {', '.join(w for w, _ in ranked[-5:][::-1])}\n"
            f"most male: {', '.join(w for w, _ in ranked[:5])}")
    return payload, text


def cmd_debias(args: argparse.Namespace) -> tuple[Any, str]:
    from core.embeddings.analysis import direct_bias_of, run_debias
    from core.embeddings.io import save_word2vec_binary

    emb, lists = _load(args)
    setup = _setup(args, emb, lists)
    payload = {"method": args.method, "embedding": emb.name, "n_words": len(emb),
               "direct_bias_before": direct_bias_of(emb, setup)}
    if args.method == "soft":
        import math

        from core.embeddings.soft import soft_debias, soft_neutral_words

        if not (math.isfinite(args.lam) and args.lam >= 0):
            raise CommandError(f"--lambda must be a finite number >= 0, not {args.lam}.")
        if not 1 <= args.steps <= 10_000:
            raise CommandError(f"--steps must be between 1 and 10,000, not {args.steps}.")
        soft = soft_debias(emb, setup.subspace.components, soft_neutral_words(emb, setup.specific), lam=args.lam,
                           steps=args.steps,
                           progress=None if args.json else stderr_progress)
        debiased = soft.embedding
        payload.update({"lambda": args.lam, "steps": args.steps, "objective_start": float(soft.objective[0]),
                        "objective_end": float(soft.objective[-1]), "similarity_term": soft.similarity_term,
                        "bias_term": soft.bias_term})
        detail = f"lambda {args.lam:g}, objective {soft.objective[0]:.4g} -> {soft.objective[-1]:.4g}"
    else:
        result = run_debias(emb, setup, mode=args.method)
        debiased = result.embedding
        payload.update({"n_neutralized": result.n_neutralized, "n_specific": len(emb) - result.n_neutralized,
                        "n_equalized_sets": len(result.equality_sets), "equalize_convention": setup.convention})
        detail = f"neutralized {result.n_neutralized:,} words, equalized {len(result.equality_sets)} sets"
    if args.out:
        save_word2vec_binary(debiased, args.out)
    payload["direct_bias_after"] = direct_bias_of(debiased, setup)
    payload["out"] = str(args.out) if args.out else None
    text = (f"{args.method}: {detail}; direct bias {payload['direct_bias_before']:.4f} -> "
            f"{payload['direct_bias_after']:.2e}" + (f"; wrote {args.out}" if args.out else ""))
    return payload, text


def cmd_sentiment(args: argparse.Namespace) -> tuple[Any, str]:
    from core.embeddings.sentiment import DEFAULT_TEXTS, group_comparison, opinion_lexicon, train_sentiment
    from core.embeddings.wordlists import default_name_groups

    emb, _ = _load(args)
    pos, neg = opinion_lexicon()
    model = train_sentiment(emb, pos, neg)
    payload: dict[str, Any] = {"embedding": emb.name, "accuracy": model.accuracy, "n_train": model.n_train,
                               "n_test": model.n_test, "lexicon_words_dropped": model.n_dropped}
    lines = [f"{emb.name}: held-out accuracy {model.accuracy:.3f} ({model.n_dropped} lexicon words not in the embedding)"]
    if args.groups:
        comp = group_comparison(model, default_name_groups())
        payload.update({"groups": comp["means"], "anova_f": comp["anova_f"], "anova_p": comp["anova_p"],
                        "missing": comp["missing"]})
        lines += [f"  {g}: mean score {m:+.3f}" if m is not None else f"  {g}: no names in the vocabulary"
                  for g, m in comp["means"].items()]
        if comp["anova_f"] is not None:
            lines.append(f"  one-way ANOVA F = {comp['anova_f']:.2f}, p = {comp['anova_p']:.2g}")
    texts = args.text or ([] if args.groups else DEFAULT_TEXTS)
    if texts:
        scored = {t: model.score_text(t) for t in texts}
        payload["texts"] = {t: r["score"] for t, r in scored.items()}
        payload["unknown_tokens"] = {t: r["unknown"] for t, r in scored.items()}
        lines += [f"  {r['score']:+.3f}  {t}" if r["score"] is not None else f"     n/a  {t} (no known word)"
                  for t, r in scored.items()]
    return payload, "\n".join(lines)


def cmd_evaluate(args: argparse.Namespace) -> tuple[Any, str]:
    from core.embeddings.analysis import benchmark_report, clustering_report, run_debias, weat_report

    if not 1 <= args.permutations <= 1_000_000:
        raise CommandError(f"--permutations must be between 1 and 1,000,000, not {args.permutations}.")
    emb, lists = _load(args)
    setup = _setup(args, emb, lists)
    progress = None if args.json else stderr_progress
    evaluated = run_debias(emb, setup, mode=args.debiased).embedding if args.debiased else emb
    payload = {
        "embedding": emb.name,
        "evaluated": f"{args.debiased}-debiased" if args.debiased else "original",
        "benchmarks": benchmark_report(evaluated, progress=progress),
        "weat": weat_report(evaluated, n_permutations=args.permutations),
        "clustering": clustering_report(emb, evaluated, setup),
    }
    if args.debiased:
        payload["original"] = {"benchmarks": benchmark_report(emb),
                               "weat": weat_report(emb, n_permutations=args.permutations),
                               "clustering": clustering_report(emb, emb, setup)}
    sim = payload["benchmarks"]["similarity"]
    ana = payload["benchmarks"]["analogies"]
    lines = [f"{payload['evaluated']} {emb.name}"]
    lines += [f"  {n:10s} spearman {r['spearman']:.3f} ({r['n_pairs']} pairs)" for n, r in sim.items() if r["spearman"] is not None]
    lines += [f"  {n:10s} analogy accuracy {r['accuracy']:.3f} ({r['n_questions']} questions)" for n, r in ana.items()
              if r["accuracy"] is not None]
    c = payload["clustering"]
    lines.append(f"  clustering of the 1000 most biased words: k-means {c['kmeans_accuracy']:.3f}, "
                 f"SVM {c['svm_accuracy']:.3f}, neighbour correlation {c['neighbour_correlation']:.3f}")
    return payload, "\n".join(lines)


def register_cli(sub: argparse._SubParsersAction) -> None:
    def embedding_args(p: argparse.ArgumentParser, default: str = "w2v-small") -> None:
        p.add_argument("--embedding", default=default,
                       help="registered name (w2v-small, w2v-test-13k, glove-wiki-gigaword-100, ...) or a file path")
        p.add_argument("--direction", choices=["pca", "sum", "single"], default="pca")
        p.add_argument("--k", type=int, default=1, help="dimension of the bias subspace (pca)")
        p.add_argument("--convention", choices=["equalize+definitional", "debiaswe"], default="equalize+definitional",
                       help="which pairs are equalized")

    p = sub.add_parser("bias", help="gender direction, explained variance, direct bias, profession projections")
    embedding_args(p)
    add_common(p)
    p.set_defaults(func=cmd_bias)

    p = sub.add_parser("debias", help="hard-debias or neutralize an embedding; write word2vec binary")
    embedding_args(p)
    p.add_argument("--method", choices=["hard", "neutralize", "soft"], default="hard")
    p.add_argument("--lambda", dest="lam", type=float, default=0.2, help="soft debiasing: weight of the bias term")
    p.add_argument("--steps", type=int, default=300, help="soft debiasing: Adam steps")
    add_common(p, out=True)
    p.set_defaults(func=cmd_debias)

    p = sub.add_parser("sentiment", help="Speer's sentiment classifier on word vectors: texts and name groups")
    embedding_args(p, default="w2v-lecture")  # the lecture's names and nationalities are in it (Speer)
    p.add_argument("--text", action="append", help="a text to score (repeatable)")
    p.add_argument("--groups", action="store_true", help="compare the WEAT name groups (ANOVA)")
    add_common(p)
    p.set_defaults(func=cmd_sentiment)

    p = sub.add_parser("evaluate", help="benchmarks, WEAT and the Gonen & Goldberg clustering test")
    embedding_args(p)
    p.add_argument("--debiased", choices=["hard", "neutralize"], help="evaluate the debiased embedding too")
    p.add_argument("--permutations", type=int, default=10_000, help="WEAT permutations")
    add_common(p)
    p.set_defaults(func=cmd_evaluate)
