"""Ethics demo 3: hard debiasing (neutralize + equalize), before and after side by side."""

import pandas as pd
import streamlit as st

from core.embeddings import bias
from dashboard import components, embedding_ui, figures, resources
from dashboard import lecture as lecture_path

st.title("Hard debiasing: neutralize and equalize")
stage = lecture_path.stage()  # lecture mode: the professions before/after first, above formulas and controls
st.latex(r"\text{neutralize: } \vec w := \frac{\vec w - \vec w_B}{\|\vec w - \vec w_B\|}\quad (w \notin S)")
st.latex(r"\text{equalize: } \mu := \frac{1}{|E|}\sum_{w\in E} w,\ \ \nu := \mu - \mu_B,\ \ "
         r"\vec w := \nu + \sqrt{1-\|\nu\|^2}\,\frac{\vec w_B - \mu_B}{\|\vec w_B - \mu_B\|}\quad (w \in E)")

emb = embedding_ui.require_embedding()
setup = embedding_ui.require_setup(emb)
setup, mode = embedding_ui.debias_controls(emb, setup)
result = embedding_ui.debiased(emb, setup, mode)
after = result.embedding
g = setup.subspace.direction

st.caption(f"{'Hard debias' if mode == 'hard' else 'Neutralize only'}: {result.n_neutralized:,} words neutralized, "
           f"{len(result.equality_sets)} equality sets equalized ({setup.convention} convention). "
           "The cached embedding is untouched: this is a new copy.")
if result.skipped_sets:
    st.caption("Skipped equality sets (degenerate): " + ", ".join("/".join(s) for s in result.skipped_sets))

# ----------------------------------------------------------------------------- direct bias
db_before = bias.direct_bias(emb, list(setup.neutral), g) if setup.neutral else float("nan")
db_after = bias.direct_bias(after, list(setup.neutral), g) if setup.neutral else float("nan")
c1, c2, c3 = st.columns(3)
c1.metric("Direct bias before", f"{db_before:.4f}")
c2.metric("Direct bias after", f"{db_after:.1e}", delta=f"{db_after - db_before:.4f}", delta_color="inverse")
c3.metric("Neutral professions", len(setup.neutral))

# ----------------------------------------------------------------------------- projections side by side
st.subheader("Professions on the gender direction")
lists = resources.gender_lists()
# on the projector 7 per side keep both charts (larger labels, taller bars) within the first 1080 px
n_show = st.slider("Professions per side", 5, 25, 7 if stage is not None else 10, key="deb_n")
# Sections drawn from (embedding, settings) alone are replayed for every later student (components.replay).
derived = (embedding_ui.settings_key(emb, setup), mode, embedding_ui.words_key(setup.specific), setup.equality_sets)


def projections_section():
    p_before = bias.projections(emb, lists.profession_words, g)
    p_after = bias.projections(after, lists.profession_words, g)
    lim = max(abs(v) for v in p_before.values()) * 1.05 if p_before else 0.4
    ranked = sorted(p_before, key=p_before.get)
    shown = ranked[:n_show] + ranked[-n_show:]  # the same words, in the same order, on both sides
    c1, c2 = st.columns(2)
    c1.plotly_chart(figures.projection_bars(p_before, title="before", x_range=(-lim, lim), words=shown), width="stretch")
    c2.plotly_chart(figures.projection_bars(p_after, title="after", x_range=(-lim, lim), words=shown), width="stretch")


with lecture_path.place(stage):
    if stage is not None:
        st.markdown("**Professions on the gender direction**, before and after")
    components.replay("debias.projections", (derived, n_show), projections_section)
st.caption("After debiasing, every neutral profession sits at 0; gender-specific words (actress, businessman ...) "
           "keep their projection because they are in S.")

# ----------------------------------------------------------------------------- analogies before / after
st.subheader("The same analogy generator, before and after")
m = min(30_000, len(emb))
has_seeds = "she" in emb and "he" in emb
pairs_before = embedding_ui.analogy_candidates(emb, m) if has_seeds else None
pairs_after = embedding_ui.analogy_candidates(after, m) if has_seeds else None


def _table(column, rows, label):
    rows = [r for r in rows if not (r["x"] in setup.specific and r["y"] in setup.specific) and r["score"] > 0.05][:15]
    column.markdown(f"**{label}**")
    if not rows:
        column.info("No pair outside S has a gender component left: every candidate pair's score is below 0.05.")
        return
    column.dataframe(pd.DataFrame([{"she : he ::": f"{r['x']} : {r['y']}", "score": round(r["score"], 3)}
                                   for r in rows]), hide_index=True, width="stretch")


def analogies_section():
    rows_before = bias.generate_analogies(emb, pairs_before, "she", "he", top_n=3000) if has_seeds else []
    rows_after = bias.generate_analogies(after, pairs_after, "she", "he", top_n=3000) if has_seeds else []
    c1, c2 = st.columns(2)
    _table(c1, rows_before, "before")
    _table(c2, rows_after, "after")


components.replay("debias.analogies", derived, analogies_section)
st.caption("Pairs where both words are in S are hidden (they are meant to stay gendered).")

# ----------------------------------------------------------------------------- neighbours
st.subheader("Nearest neighbours of your words")
words = components.parse_word_list(st.text_input("Words", "nurse, programmer, homemaker, babysitter", key="deb_nn"))
known, unknown = emb.split_known(words)
components.unknown_words_note(unknown, "your words")


def neighbours_section():
    for w in known[:6]:
        before_nn = ", ".join(x for x, _ in emb.most_similar(emb.vec(w), n=8, exclude=[w]))
        after_nn = ", ".join(x for x, _ in after.most_similar(after.vec(w), n=8, exclude=[w]))
        st.markdown(f"**{w}** — before: {before_nn}  \nafter: {after_nn}")


components.replay("debias.neighbours", (derived, tuple(known[:6])), neighbours_section)
