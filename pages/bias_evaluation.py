"""Ethics demo 4: did debiasing work? Benchmarks, WEAT, and lipstick on a pig (Gonen & Goldberg 2019)."""

import numpy as np
import pandas as pd
import streamlit as st

from core.embeddings import evaluate
from core.embeddings.analysis import benchmark_report, percent, weat_report
from core.embeddings.bias import NotEnoughWords
from core.errors import markdown_text
from dashboard import components, embedding_ui, figures, resources
from dashboard import lecture as lecture_path

st.title("Did debiasing work?")
stage = lecture_path.stage()  # lecture mode: lipstick on a pig (the clusters before/after) first
st.markdown(
    "Hard debiasing makes every neutral word's projection on the gender direction exactly zero. "
    "Did it keep the embedding useful, and did it remove the bias, or only hide it? "
    "Gonen & Goldberg (2019): *Lipstick on a pig* — the bias is still in the geometry."
)

emb = embedding_ui.require_embedding()
setup = embedding_ui.require_setup(emb, show=False)
setup, mode = embedding_ui.debias_controls(emb, setup, show=False)
result = embedding_ui.debiased(emb, setup, mode)
after = result.embedding
key = embedding_ui.settings_key(emb, setup)
dkey = (key, mode, embedding_ui.words_key(setup.specific))
st.caption(f"Comparing the original with its **{'hard-debiased' if mode == 'hard' else 'neutralized'}** copy "
           "(change the method and word sets on the *Hard debiasing* page).")

# ----------------------------------------------------------------------------- benchmarks
st.header("Word similarity and analogy benchmarks")
mgr = resources.asset_manager()
bench_before = resources.compute("ethics", ("bench", key[:3]), lambda p: benchmark_report(emb, mgr, p),
                                "Scoring the original on 8 benchmarks ...", heavy=True)
bench_after = resources.compute("ethics", ("bench_debiased", dkey), lambda p: benchmark_report(after, mgr, p),
                               "Scoring the debiased copy on 8 benchmarks ...", heavy=True)


def bench_rows() -> list[dict]:
    rows = []
    for name, before in bench_before["similarity"].items():
        aft = bench_after["similarity"][name]
        for stat in ("pearson", "spearman"):
            if before[stat] is not None:
                rows.append({"benchmark": name, "measure": stat, "pairs": before["n_pairs"], "original": before[stat],
                             "debiased": aft[stat], "change": aft[stat] - before[stat]})
    for name, before in bench_before["analogies"].items():
        aft = bench_after["analogies"][name]
        if before["accuracy"] is not None:
            rows.append({"benchmark": f"{name} analogies", "measure": "accuracy", "pairs": before["n_questions"],
                         "original": before["accuracy"], "debiased": aft["accuracy"],
                         "change": aft["accuracy"] - before["accuracy"]})
    return rows


def bench_section() -> None:
    st.dataframe(pd.DataFrame(bench_rows()), hide_index=True, width="stretch", column_config={
        "original": st.column_config.NumberColumn(format="%.3f"), "debiased": st.column_config.NumberColumn(format="%.3f"),
        "change": st.column_config.NumberColumn(format="%+.4f")})


components.replay("evaluation.benchmarks", (key[:3], dkey), bench_section)  # one table per setting, replayed
st.caption("Pairs/questions: how many of the benchmark's items are in this vocabulary (analogies use the 30,000 "
           "most frequent words, inputs excluded). The scores barely move: debiasing keeps the embedding useful.")
components.download_json(bench_rows, "benchmarks.json", key="dl_bench")

# ----------------------------------------------------------------------------- WEAT
st.header("WEAT (Caliskan et al. 2017)")
n_perm = st.select_slider("Permutations", [1_000, 10_000, 100_000], 10_000, key="weat_perm")
w_before = resources.compute("ethics", ("weat", key[:3], n_perm), lambda p: weat_report(emb, mgr, n_perm), "WEAT ...")
w_after = resources.compute("ethics", ("weat_debiased", dkey, n_perm), lambda p: weat_report(after, mgr, n_perm), "WEAT ...")
def shown(value, fmt: str) -> str:
    """A number as text, or "—" where there is none (a test the embedding cannot run, a d the paper lacks)."""
    return "—" if value is None or not np.isfinite(value) else format(value, fmt)


weat_rows, not_run = [], []
for i, (b, a) in enumerate(zip(w_before, w_after, strict=True), start=1):
    if b["error"] or a["error"]:  # listed below with the whole reason, not as empty cells and a cut-off note
        not_run.append(f"**WEAT {i}** ({markdown_text(b['test'].split(': ', 1)[-1], 80)}): "
                       f"{markdown_text(b['error'] or a['error'], 300)}")
        continue
    weat_rows.append({"": f"WEAT {i}", "test": b["test"].split(": ", 1)[-1], "paper d": shown(b["original_d"], ".2f"),
                      "d original": shown(b["effect_size"], "+.2f"), "p original": shown(b["p_value"], ".4f"),
                      "d debiased": shown(a["effect_size"], "+.2f"), "p debiased": shown(a["p_value"], ".4f")})
if weat_rows:
    st.dataframe(pd.DataFrame(weat_rows).set_index(""), width="stretch")
if not_run:
    st.markdown(f"Not run on {emb.name[:60]} ({len(not_run)} of {len(w_before)} tests):\n"
                + "\n".join(f"- {line}" for line in not_run))
st.caption("Effect size d = (mean s(x) − mean s(y)) / std over X ∪ Y; one-sided permutation p = (#{S_perm ≥ S} + 1) / "
           "(P + 1), seeded. Only the gender tests (math/science vs arts) are targeted by gender debiasing; the race "
           "tests are not expected to move.")

# ----------------------------------------------------------------------------- Gonen & Goldberg
st.header("Lipstick on a pig: is the bias still there?")
st.markdown("Take the 500 most male and 500 most female **neutral** words by their *original* projection on "
            "the gender direction. After debiasing their projection is zero — can they still be told apart?")
try:
    clu_before = resources.compute("ethics", ("cluster", key), lambda p: evaluate.clustering_test(
        emb, emb, setup.subspace.direction, set(setup.specific)), "Clustering the original ...", heavy=True)
    clu_after = resources.compute("ethics", ("cluster_debiased", dkey), lambda p: evaluate.clustering_test(
        emb, after, setup.subspace.direction, set(setup.specific)), "Clustering the debiased copy ...", heavy=True)
except NotEnoughWords as exc:
    st.warning(str(exc))
    st.stop()
if len(clu_after.words) < 1000:
    st.caption(f"This vocabulary has few neutral words: using the {len(clu_after.words) // 2} most biased per side.")


def after_figure():
    return figures.clustering_scatter(clu_after.coords_2d, clu_after.original_bias, clu_after.words,
                                      f"debiased: k-means {clu_after.kmeans_accuracy:.1%}")


def clustering_section() -> None:
    c1, c2, c3 = st.columns(3)
    c1.metric("k-means (k=2) alignment", f"{clu_after.kmeans_accuracy:.1%}",
              delta=f"{percent(clu_after.kmeans_accuracy - clu_before.kmeans_accuracy, 1, sign=True)} vs original",
              delta_color="off")
    c2.metric("RBF-SVM accuracy (50/50 split)", f"{clu_after.svm_accuracy:.1%}",
              delta=f"{percent(clu_after.svm_accuracy - clu_before.svm_accuracy, 1, sign=True)} vs original",
              delta_color="off")
    c3.metric("bias vs female neighbours (Pearson)", f"{clu_after.neighbour_correlation:.3f}",
              delta=f"{clu_after.neighbour_correlation - clu_before.neighbour_correlation:+.3f} vs original",
              delta_color="off")
    c1, c2 = st.columns(2)
    c1.plotly_chart(figures.clustering_scatter(clu_before.coords_2d, clu_before.original_bias, clu_before.words,
                                               f"original: k-means {clu_before.kmeans_accuracy:.1%}"), width="stretch",
                    key="clu_before")  # keyed: an unchanged embedding draws two identical charts
    c2.plotly_chart(after_figure(), width="stretch", key="clu_after")
    st.info(f"The projection is gone (direct bias → 0), but a classifier still separates formerly male and female "
            f"words with {clu_after.svm_accuracy:.0%} accuracy, and neighbours still follow the old bias "
            f"(r = {clu_after.neighbour_correlation:.2f}). Hard debiasing hides the bias more than it removes it.")


# drawn once per (embedding, direction, debiasing) in this worker, then replayed: two scatter plots of thousands
# of words were rebuilt and serialised on every student run
with lecture_path.place(stage):
    components.replay("evaluation.clustering", (key, dkey), clustering_section)
components.download_figure(after_figure, "clustering_debiased.html", key="dl_clu")
