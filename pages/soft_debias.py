"""Ethics demo 5: soft debiasing (Bolukbasi et al. section 5.2) against hard debiasing, in one table."""

import pandas as pd
import streamlit as st

from core.embeddings import bias, evaluate
from core.embeddings.analysis import benchmark_report
from core.embeddings.bias import NotEnoughWords
from core.embeddings.soft import soft_debias, soft_neutral_words
from dashboard import components, embedding_ui, figures, resources
from dashboard import lecture as lecture_path

st.title("Soft debiasing")
stage = lecture_path.stage()  # lecture mode: the objective and its curve first, above the formula and controls
st.markdown(
    "Instead of zeroing the gender component, learn a linear map **T** that keeps the inner products "
    "of all words while shrinking the gender component of neutral words (Bolukbasi et al. §5.2):"
)
st.latex(r"\min_T\ \frac{\|(TW)^\top(TW) - W^\top W\|_F^2}{\|W^\top W\|_F^2}"
         r" + \lambda\,\frac{\|(TN)^\top(TB)\|_F^2}{\|N^\top B\|_F^2}")
st.caption("W: all word vectors (unit length), N: the neutral words (not in S), B: the gender subspace. The first "
           "term is divided by ‖WᵀW‖²_F (the distortion relative to the original inner products; it is 0 at T = I), "
           "the second by its own value at T = I, ‖NᵀB‖²_F (the share of bias left), so λ reads as a trade-off: the "
           "paper's objective with λ′ = λ·‖WᵀW‖²_F / ‖NᵀB‖²_F. The mapped vectors TW are re-normalised to unit length. "
           "The SVD of W reduces the first term to a d × d problem; Adam in TensorFlow, seeded, starting at T = I.")

emb = embedding_ui.require_embedding()
setup = embedding_ui.require_setup(emb, show=False)
setup, mode = embedding_ui.debias_controls(emb, setup, show=False)
key = embedding_ui.settings_key(emb, setup)

c1, c2 = st.columns(2)
lam = c1.select_slider("λ (weight of removing bias)", [0.0, 0.01, 0.05, 0.2, 1.0, 5.0, 20.0, 100.0, 1000.0], 0.2,
                       key="soft_lambda")
steps = c2.select_slider("Adam steps", [50, 100, 200, 300, 600, 1000], 300, key="soft_steps")
if lam == 0:
    st.info("λ = 0: nothing is traded for the bias, so T stays the identity and the embedding is unchanged.")
elif lam >= 100:
    st.info(f"λ = {lam:g} puts almost all weight on the bias: expect a larger distortion of the inner products.")

neutral = soft_neutral_words(emb, setup.specific)
if not neutral:
    st.error("Every word is in the gender-specific set S: there is no neutral word to debias.")
    st.stop()
soft = resources.compute("soft", ("soft", key, embedding_ui.words_key(setup.specific), lam, steps),
                        lambda p: soft_debias(emb, setup.subspace.components, neutral, lam=lam, steps=steps, progress=p),
                        f"Optimising T (λ = {lam:g}, {steps} steps) ...", heavy=True)
hard = embedding_ui.debiased(emb, setup, "hard")
# every section below follows from (embedding, setup, λ, steps): drawn once per setting in this worker,
# replayed for every other student
setting = (key, embedding_ui.words_key(setup.specific), lam, steps)


def objective_section() -> None:
    c1, c2, c3 = st.columns(3)
    c1.metric("objective", f"{soft.objective[-1]:.4g}", delta=f"{soft.objective[-1] - soft.objective[0]:+.4g} from T = I",
              delta_color="inverse")
    c2.metric("relative Gram distortion", f"{soft.similarity_term:.2%}")
    c3.metric("bias left (relative)", f"{soft.bias_term:.2%}")
    st.plotly_chart(figures.objective_curve(soft.objective, "objective per Adam step", log_y=lam > 0), width="stretch")


with lecture_path.place(stage):
    components.replay("soft.objective", setting, objective_section)

# ----------------------------------------------------------------------------- hard vs soft
st.header("Original vs hard vs soft")
mgr = resources.asset_manager()
versions = {"original": emb, "hard": hard.embedding, "soft": soft.embedding}
cache_keys = {"original": ("bench", key[:3]), "hard": ("bench_debiased", (key, "hard", embedding_ui.words_key(setup.specific))),
              "soft": ("bench_soft", key, embedding_ui.words_key(setup.specific), lam, steps)}
g = setup.subspace.direction
reports, clusters = {}, {}
for label, version in versions.items():  # computed (or queued) first, outside the replayed drawing
    reports[label] = resources.compute("ethics", cache_keys[label], lambda p, v=version: benchmark_report(v, mgr, p),
                                       f"Benchmarks of the {label} embedding ...", heavy=True)
    try:
        clu = resources.compute("ethics", ("cluster_" + label,) + cache_keys[label][1:],
                                lambda p, v=version: evaluate.clustering_test(emb, v, g, set(setup.specific)),
                                f"Clustering test on the {label} embedding ...", heavy=True)
        clusters[label] = (clu.kmeans_accuracy, clu.svm_accuracy, clu.neighbour_correlation)
    except NotEnoughWords:
        clusters[label] = (None, None, None)


def table_rows() -> list[dict]:
    rows = []
    for label, version in versions.items():
        report, clu_vals = reports[label], clusters[label]
        sims = [r["spearman"] for r in report["similarity"].values() if r["spearman"] is not None]
        row = {"embedding": label,
               "direct bias": bias.direct_bias(version, list(setup.neutral), g) if setup.neutral else None,
               "mean similarity Spearman": sum(sims) / len(sims) if sims else None}
        for name, r in report["analogies"].items():
            row[f"{name} analogies"] = r["accuracy"]
        row.update({"k-means alignment": clu_vals[0], "SVM accuracy": clu_vals[1], "neighbour correlation": clu_vals[2]})
        rows.append(row)
    return rows


def table_section() -> None:
    table = pd.DataFrame(table_rows()).set_index("embedding")
    st.dataframe(table, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.4f") for c in table.columns})
    st.caption("Benchmarks, analogies and the Gonen & Goldberg test as on the *Did debiasing work?* page. Soft "
               "debiasing shrinks the projection without zeroing it, and moves the benchmarks even less.")


components.replay("soft.table", setting, table_section)
components.download_json(table_rows, "hard_vs_soft.json", key="dl_soft")

st.subheader("she : he analogies")
m = min(30_000, len(emb))
if "she" in emb and "he" in emb:
    candidates = {label: embedding_ui.analogy_candidates(version, m) for label, version in versions.items()}

    def analogies_section() -> None:
        cols = st.columns(3)
        for col, (label, version) in zip(cols, versions.items(), strict=True):
            cand = candidates[label]
            found = [r for r in bias.generate_analogies(version, cand, "she", "he", top_n=2000)
                     if not (r["x"] in setup.specific and r["y"] in setup.specific)][:10]
            col.markdown(f"**{label}**")
            col.dataframe(pd.DataFrame([{"pair": f"{r['x']} : {r['y']}", "score": round(r["score"], 3)} for r in found]),
                          hide_index=True, width="stretch")

    components.replay("soft.analogies", setting, analogies_section)
