"""Ethics demo 2: direct bias, indirect bias, and stereotypical analogies."""

import pandas as pd
import streamlit as st

from core.embeddings import bias
from core.embeddings.analysis import percent
from core.errors import markdown_text
from dashboard import components, embedding_ui, resources
from dashboard import lecture as lecture_path

st.title("Measuring bias: direct, indirect, analogies")
stage = lecture_path.stage()  # lecture mode: the free-form analogy (the step's picture) first

emb = embedding_ui.require_embedding()
setup = embedding_ui.require_setup(emb)
g = setup.subspace.direction
key = embedding_ui.settings_key(emb, setup)

# ----------------------------------------------------------------------------- 3a. direct bias
st.header("3. Direct bias")
st.latex(r"\mathrm{DirectBias}_c = \frac{1}{|N|}\sum_{w\in N} |\cos(\vec w, g)|^c")
c = st.slider("c (strictness: c = 0 counts any non-zero projection, c = 1 averages |cos|)", 0.0, 2.0, 1.0, 0.1,
              key="direct_c", help=f"c = 0 is the share of words with |cos(w, g)| > {bias.ZERO_PROJECTION:g} (the limit "
                                   "of |x|^c as c -> 0; numpy's 0^0 = 1 would count every word).")
if not setup.neutral:
    st.error("None of the 320 professions (minus gender-specific ones) is in this embedding's vocabulary: "
             "direct bias cannot be measured.")
else:
    def direct_section() -> None:
        value = bias.direct_bias(emb, list(setup.neutral), g, c)
        st.metric(f"DirectBias_{c:g} over {len(setup.neutral)} neutral professions", f"{value:.4f}")
        st.caption("N: the 320 professions minus gender-specific, definitional and equalize words "
                   f"({len(setup.neutral)} in this vocabulary).")
        with st.expander("The neutral professions"):
            st.write(", ".join(setup.neutral))

    # a pass over the professions' vectors and a long word list per run: drawn once per (embedding, direction,
    # N, c) in this server process, replayed for everyone else
    components.replay("measures.direct", (emb, g, embedding_ui.words_key(setup.neutral), c), direct_section)

# ----------------------------------------------------------------------------- 3b. indirect bias
st.subheader("Indirect bias")
st.latex(r"\beta(w, v) = \Big(w\cdot v - \frac{w_\perp\cdot v_\perp}{\|w_\perp\|\,\|v_\perp\|}\Big)\Big/ (w\cdot v),"
         r"\qquad w_\perp = w - (w\cdot g)\,g")
c1, c2 = st.columns(2)
w_word = c1.text_input("Word w", "softball", key="ib_w").strip()
v_word = c2.text_input("Word v", "receptionist", key="ib_v").strip()
missing = [w for w in (w_word, v_word) if w not in emb]
if missing:
    st.warning(f"Not in the vocabulary: {markdown_text(', '.join(missing))}. Try e.g. softball / receptionist or football / "
               "businessman.")
else:
    try:
        beta = bias.indirect_bias(emb.vec(w_word), emb.vec(v_word), g)
        sim = float(emb.vec(w_word) @ emb.vec(v_word))
        st.metric(f"beta({w_word}, {v_word})", f"{beta:.3f}",
                  help="Share of the similarity w.v that comes from the gender direction")
        st.caption(f"cos({w_word}, {v_word}) = {sim:.3f}; {percent(beta)} of it is due to gender.")
    except ValueError as exc:
        st.warning(str(exc))

st.subheader("Closest words and how much of their similarity is gender")
seeds = components.parse_word_list(st.text_input("Seed words", "softball, football", key="ib_seeds"))
n_near = st.slider("Neighbours per seed", 5, 30, 12, key="ib_n")


def neighbours_section():
    cols = st.columns(max(1, min(3, len(seeds))))
    for col, seed in zip(cols, seeds[:3], strict=False):
        with col:
            if seed not in emb:
                st.warning(f"'{seed}' is not in the vocabulary.")
                continue
            rows = bias.neighbours_gender_share(emb, seed, g, n=n_near)
            df = pd.DataFrame(rows)
            st.markdown(f"**{seed}**")
            st.dataframe(df, hide_index=True, width="stretch", column_config={
                "similarity": st.column_config.NumberColumn(format="%.3f"),
                "projection": st.column_config.NumberColumn(format="%+.3f"),
                "beta": st.column_config.NumberColumn("gender share β", format="percent")})


# drawn once per (embedding, direction, seeds, n) in this server process, replayed for everyone else
components.replay("measures.neighbours", (key, tuple(seeds[:3]), n_near), neighbours_section)

# ----------------------------------------------------------------------------- 4. analogies
st.header("4. Analogies")
st.markdown("**The paper's generator**: for a seed pair (a, b), every pair (x, y) of frequent words with "
            "‖x − y‖ ≤ δ, scored by cos(a − b, x − y).")
with components.controls("Generator settings"):
    c1, c2, c3 = st.columns(3)
    seed_a = c1.text_input("a", "she", key="an_a").strip()
    seed_b = c2.text_input("b", "he", key="an_b").strip()
    top_n = c3.slider("pairs to list", 10, 100, 30, key="an_n")
    c4, c5 = st.columns(2)
    delta = c4.slider("δ (max distance of x and y)", 0.6, 1.4, 1.0, 0.05, key="an_delta")
    if len(emb) > 2000:
        max_words = c5.slider("restrict to the most frequent M words", 2000, min(100_000, len(emb)),
                              min(30_000, len(emb)), step=1000, key="an_m")
    else:
        max_words = len(emb)
        c5.caption(f"All {len(emb):,} words are used (small vocabulary).")
    hide_specific = st.toggle("Hide pairs where both words are gender-specific (he/she, king/queen ...)", True,
                              key="an_hide")
if seed_a not in emb or seed_b not in emb:
    st.warning("Both seed words must be in the vocabulary.")
elif seed_a == seed_b:
    st.warning(f"a and b are the same word ('{seed_a[:40]}'): a − b is zero, so no pair can be scored against it. "
               "Choose two different words.")
else:
    candidates = embedding_ui.analogy_candidates(emb, max_words, delta)
    analogy_key = (key, max_words, delta, seed_a, seed_b, top_n, hide_specific)

    def generated(progress):
        found = bias.generate_analogies(emb, candidates, seed_a, seed_b, top_n=top_n * 4 if hide_specific else top_n)
        if hide_specific:
            found = [r for r in found if not (r["x"] in setup.specific and r["y"] in setup.specific)][:top_n]
        return found

    rows = resources.compute("ethics", ("analogies",) + analogy_key, generated, "Scoring the pairs ...")

    def analogies_section():
        st.caption(f"{len(candidates.i):,} pairs within δ among the {len(candidates.words):,} most frequent words.")
        df = pd.DataFrame([{"analogy": f"{seed_a} : {seed_b} :: {r['x']} : {r['y']}", "score": r["score"],
                            "‖x−y‖": r["distance"]} for r in rows])
        st.dataframe(df, hide_index=True, width="stretch", height=420, column_config={
            "score": st.column_config.NumberColumn(format="%.3f"),
            "‖x−y‖": st.column_config.NumberColumn(format="%.2f")})

    components.replay("measures.analogies", analogy_key, analogies_section)
    components.download_json(rows, "analogies.json", key="dl_analogies")

analogy_place = lecture_path.place(stage)
analogy_place.subheader("Free-form analogy (3CosAdd)")
c1, c2, c3 = analogy_place.columns(3)
a = c1.text_input("a", "man", key="ff_a").strip()
b = c2.text_input("is to b", "doctor", key="ff_b").strip()
c_ = c3.text_input("as c is to ?", "woman", key="ff_c").strip()
exclude = analogy_place.toggle("Exclude the input words from the answers (what most papers do)", True, key="ff_excl")


def freeform_section() -> None:
    """3CosAdd over the whole vocabulary (one matrix-vector product) and its table."""
    try:
        answers = bias.analogy(emb, a, b, c_, n=8, exclude_inputs=exclude)
        st.dataframe(pd.DataFrame(answers, columns=["answer", "cosine"]), hide_index=True,
                     column_config={"cosine": st.column_config.NumberColumn(format="%.3f")})
        if not exclude:
            st.info("Without the exclusion the nearest word to b − a + c is usually b itself: 'doctor' rather than "
                    "'nurse'. The famous biased answers depend on that exclusion.")
    except KeyError as exc:  # the words may come from a link: shown as text
        st.warning(markdown_text(str(exc).strip("'\""), 300))
    except bias.DegenerateWords as exc:
        st.warning(str(exc))


with analogy_place:  # drawn once per (embedding, words, exclusion) in this worker, replayed for everyone else
    components.replay("measures.freeform", (emb, a, b, c_, exclude), freeform_section)
