"""Ethics demo 1: the gender subspace (Step 1) and where 320 professions fall on it."""

import streamlit as st

from core.embeddings import bias
from core.embeddings.analysis import percent
from core.errors import markdown_text
from dashboard import components, embedding_ui, figures, resources
from dashboard import lecture as lecture_path

st.title("Man is to computer programmer as woman is to homemaker?")
stage = lecture_path.stage()  # lecture mode: the explained-variance bars first, above the text and formulas
st.markdown(
    "Bolukbasi et al. (2016) find a **gender direction** in word2vec: take definitional pairs "
    "(woman–man, she–he, ...), centre each pair on its mean, and run PCA (SVD) on the centred "
    "vectors. If one component explains most of the variance, gender lives (mostly) on one line."
)

emb = embedding_ui.require_embedding()
setup = embedding_ui.require_setup(emb)
sub = setup.subspace

# ----------------------------------------------------------------------------- 1. bias direction
st.header("1. Identify the gender subspace")
st.latex(r"\mu_i = \frac{1}{|D_i|}\sum_{w\in D_i} \vec w,\qquad "
         r"C = \sum_{i=1}^{n}\sum_{w\in D_i} \frac{(\vec w-\mu_i)^T(\vec w-\mu_i)}{|D_i|}")
st.latex(r"B = \text{the first } k \text{ rows of } \mathrm{SVD}(C)")
setting = embedding_ui.settings_key(emb, setup)  # the embedding by content and the direction's settings
random_var = bias.random_pairs_variance(emb, n_pairs=max(2, len(sub.pairs)), seed=0)


def variance_section() -> None:
    c1, c2, c3 = st.columns(3)
    c1.metric("PC1 share (definitional pairs)", percent(sub.explained_variance_ratio[0], 1))
    c2.metric("PC1 share (random pairs)", percent(random_var[0], 1))
    c3.metric("pairs used", f"{len(sub.pairs)}")
    st.plotly_chart(figures.explained_variance_bars(sub.explained_variance_ratio, random_var), width="stretch")
    st.caption(
        f"Direction method: **{sub.method}**" + (f", k = {sub.k}" if sub.method == "pca" else "") +
        ". The sign is fixed so that 'she' projects positive. Random pairs (10 pairs of random frequent words, "
        "seeded) spread their variance over many components: the gender pairs do not."
    )


# every chart below is drawn once per (embedding, direction, options) in this worker, then replayed
with lecture_path.place(stage):
    components.replay("subspace.variance", setting, variance_section)
components.download_figure(lambda: figures.explained_variance_bars(sub.explained_variance_ratio, random_var),
                           "explained_variance.html", key="dl_var")

# ----------------------------------------------------------------------------- 2. projections
st.header("2. Professions on the gender direction")
lists = resources.gender_lists()
proj = bias.projections(emb, lists.profession_words, sub.direction)
unknown = [w for w in lists.profession_words if w not in emb]
components.unknown_words_note(unknown, "the 320 professions")
with components.controls("Chart options"):
    n_show = st.slider("Most female / most male professions to show", 5, 40, 15, key="proj_n")
    search = st.text_input("Find words (any word, comma separated)", "nurse, programmer, homemaker, architect",
                           key="proj_search")
searched = components.parse_word_list(search)
extra = {w: float(emb.vec(w) @ sub.direction) for w in searched if w in emb and w not in proj}
missing_search = [w for w in searched if w not in emb]
if missing_search:
    st.caption(f"Not in the vocabulary: {markdown_text(', '.join(missing_search), 300)}")


def projections_section() -> None:
    st.plotly_chart(figures.projection_bars({**proj, **extra}, n=n_show, highlight=tuple(searched)), width="stretch")
    ranked = sorted(proj.items(), key=lambda kv: kv[1])
    st.caption(f"Most female: {', '.join(w for w, _ in ranked[::-1][:5])}. Most male: "
               f"{', '.join(w for w, _ in ranked[:5])}. Hover for values; green bars are the words you searched.")


components.replay("subspace.projections", (setting, n_show, tuple(searched)), projections_section)
components.download_figure(lambda: figures.projection_bars({**proj, **extra}, n=n_show, highlight=tuple(searched)),
                           "profession_projections.html", key="dl_proj")

st.subheader("Two-dimensional view")
with components.controls("Second axis"):
    axis = st.radio("Second axis", ["a word pair", "first principal component of the professions (gender removed)"],
                    horizontal=True, key="proj_axis")
    pair_text = st.text_input("Word pair for the second axis (a, b: axis = a - b)", "expensive, cheap", key="proj_pair")
words = list(proj)
vecs = emb.vectors[emb.rows(words)]
x = vecs @ sub.direction
if axis == "a word pair":
    pair = components.parse_word_list(pair_text)
    if len(pair) != 2 or any(w not in emb for w in pair):
        st.error("Give two words that are both in the vocabulary, e.g. 'expensive, cheap'.")
        st.stop()
    if pair[0] == pair[1]:
        st.error(f"The second axis names '{pair[0][:40]}' twice: a word minus itself is no axis. Give two different "
                 "words, e.g. 'expensive, cheap'.")
        st.stop()
    try:
        second = bias.orthogonal_axis(emb.vec(pair[0]) - emb.vec(pair[1]), sub.direction)
    except ValueError as exc:
        st.error(str(exc))
        st.stop()
    y_title = f"{pair[0]} - {pair[1]} (orthogonalised)"
else:
    second = bias.residual_principal_axis(vecs, sub.direction)
    y_title = "PC1 of the professions after removing g"
y = vecs @ second
components.replay("subspace.scatter", (setting, axis, pair_text if axis == "a word pair" else None, tuple(searched)),
                  lambda: st.plotly_chart(figures.projection_scatter(words, x, y, y_title, highlight=tuple(searched)),
                                          width="stretch"))
components.download_figure(lambda: figures.projection_scatter(words, x, y, y_title, highlight=tuple(searched)),
                           "professions_2d.html", key="dl_2d")
