"""Ethics demo 0: how to make a racist AI without really trying (Speer 2017)."""

import pandas as pd
import streamlit as st

from core.embeddings.bias import NotEnoughWords
from core.embeddings.sentiment import DEFAULT_TEXTS, group_comparison, opinion_lexicon, train_sentiment
from core.embeddings.sources import SPEER_EMBEDDING
from core.embeddings.wordlists import default_name_groups
from core.errors import markdown_text
from dashboard import components, embedding_ui, figures, lecture_figures, resources
from dashboard import lecture as lecture_path

# The tables compare the page's embedding with the two offline subsets it is made of.
OFFLINE = (SPEER_EMBEDDING, "w2v-small", "w2v-test-13k")

st.title("How to make a racist AI without really trying")
stage = lecture_path.stage()  # lecture mode: the lecture's examples table first, under the title
st.markdown(
    "Robyn Speer (2017): train a sentiment classifier on nothing but the word vectors of a list of "
    "positive and negative words (the Hu & Liu opinion lexicon). It learns what the embedding "
    "learned from the web — including about names and nationalities it was never shown."
)

# Its own default (and its own remembered choice): the union of the offline word2vec subsets, which has the
# lecture's names and nationalities; w2v-small, the other pages' default, would skip them quietly.
emb = embedding_ui.require_embedding(default=SPEER_EMBEDDING, remember_as="embedding_speer")

mgr = resources.asset_manager()


@resources.cached("ethics", "Reading the lexicon ...")
def lexicon() -> tuple[list[str], list[str]]:
    return opinion_lexicon(mgr)


@resources.cached("ethics", lambda embedding: f"Training the classifier on {embedding.name} ...")
def trained(embedding):
    """The sentiment classifier of one embedding (by its content digest), trained once per worker."""
    return train_sentiment(embedding, *lexicon())


positive, negative = lexicon()
key = emb.digest
try:
    model = trained(emb)
except NotEnoughWords as exc:
    st.error(str(exc))
    st.stop()



def model_section() -> None:
    c1, c2, c3 = st.columns(3)
    c1.metric("held-out accuracy", f"{model.accuracy:.1%}")
    c2.metric("positive / negative words", f"{model.n_positive:,} / {model.n_negative:,}")
    c3.metric("lexicon words not in the embedding", f"{model.n_dropped:,}")
    st.caption(f"SGD logistic regression (log loss, seed 0) on {len(positive):,} positive and {len(negative):,} "
               f"negative words; 10 % held out ({model.n_test} words). Word score = log P(positive) − log P(negative); "
               "a text's score is the mean over its known words.")


# Sections drawn from (embedding, text) alone are drawn once per worker and replayed for every other student.
components.replay("racist.model", key, model_section)

# ----------------------------------------------------------------------------- live text
st.header("Score any sentence")
text = st.text_input("Text", "My name is Emily and I love this restaurant", key="sent_text",
                     help="Then try Shaniqua: the same sentence with another name.")


def sentence_section() -> None:
    if not text.strip():
        st.info("Type a sentence to score it.")
    else:
        result = model.score_text(text)
        if result["score"] is None:
            st.warning("None of the words is in the embedding's vocabulary, so there is nothing to score.")
        else:
            st.metric("sentiment", f"{result['score']:+.3f}")
            st.plotly_chart(lecture_figures.token_scores_marked(result["sequence"]), width="stretch")
        if result["unknown"]:
            st.caption(f"{len(result['unknown'])} of {result['n_tokens']} tokens unknown to {emb.name} (skipped, "
                       "marked ✗ in the chart): " + ", ".join(markdown_text(t, 40) for t in result["unknown"][:20]))


components.replay("racist.sentence", (key, text), sentence_section)

# ----------------------------------------------------------------------------- lecture examples
st.header("The lecture's examples")
st.markdown("Sentences that differ only in a nationality or a name, on every offline embedding that knows the words:")
examples = st.text_area("Sentences (one per line)", "\n".join(DEFAULT_TEXTS), key="sent_examples", height=140)
sentences = [s.strip() for s in examples.splitlines() if s.strip()]
others = {name: (emb if name == emb.name else resources.embedding(name)) for name in OFFLINE}
others_models = {name: trained(other) for name, other in others.items()}


def examples_section() -> None:
    rows = []
    for name in OFFLINE:
        m = others_models[name]
        for s in sentences:
            r = m.score_text(s)
            rows.append({"embedding": name, "sentence": s, "score": r["score"],
                         "unknown words": ", ".join(r["unknown"])})
    table = pd.DataFrame(rows)
    st.dataframe(table.pivot_table(index="sentence", columns="embedding", values="score", sort=False),
                 width="stretch",
                 column_config={n: st.column_config.NumberColumn(format="%+.3f") for n in OFFLINE})
    missing = table[table["unknown words"] != ""]
    if not missing.empty:
        st.caption("Unknown words (skipped, so a sentence is scored without them): " + "; ".join(
            f"{r.embedding}: '{markdown_text(r.sentence, 60)}' → {markdown_text(r['unknown words'], 60)}"
            for _, r in missing.head(12).iterrows()))


with lecture_path.place(stage):  # lecture mode: at the top (the sentences stay editable in section below)
    if stage is not None:
        st.markdown("**The lecture's examples** — a name or a nationality changes the score "
                    "(edit the sentences under *The lecture's examples* below):")
    components.replay("racist.examples", (tuple(sentences), tuple(o.digest for o in others.values())),
                      examples_section)
st.caption(f"{SPEER_EMBEDDING} (the default here) is w2v-small and w2v-test-13k together: rows of the same "
           "GoogleNews word2vec model (the two agree exactly on the 7,906 words they share), so it knows the "
           "lecture's names and nationalities that w2v-small lacks.")

# ----------------------------------------------------------------------------- name groups
st.header("Names: a group comparison")
defaults = default_name_groups(mgr)
with components.controls("Groups of names (editable)"):
    n_groups = st.number_input("Number of groups", 2, 5, 2, key="grp_n")
    groups = {}
    cols = st.columns(int(n_groups))
    default_items = list(defaults.items())
    for i, col in enumerate(cols):
        name0, words0 = default_items[i] if i < len(default_items) else (f"group_{i + 1}", [])
        gname = col.text_input("Group name", name0, key=f"grp_name_{i}")
        gwords = col.text_area("Names", ", ".join(words0), key=f"grp_words_{i}", height=200)
        groups[gname or f"group_{i + 1}"] = components.parse_word_list(gwords)


def show_groups(m, label):
    comp = group_comparison(m, groups)
    for gname, miss in comp["missing"].items():
        components.unknown_words_note(miss, f"group '{gname}' ({label})")
    for gname in comp["too_small"]:
        st.warning(f"Group '{gname}' has fewer than 2 names in the vocabulary of {label}; it is left out of the ANOVA.")
    st.plotly_chart(figures.group_strip(comp["scores"], label), width="stretch")
    means = ", ".join(f"{g}: {v:+.3f}" for g, v in comp["means"].items() if v is not None)
    if comp["anova_f"] is not None:
        st.markdown(f"Means — {means}. One-way ANOVA: **F = {comp['anova_f']:.2f}, p = {comp['anova_p']:.2g}**")
    else:
        st.markdown(f"Means — {means or 'none'}. (ANOVA needs two groups with at least two known names.)")
    return comp


st.caption("Each point is one name's word score. The defaults are the 18 + 18 first names of WEAT 4 "
           "(Caliskan et al. 2017), the ones Bolukbasi's w2v subset contains.")
setup = embedding_ui.direction_controls(emb, show=False)
c1, c2 = st.columns(2)
groups_key = tuple((g, tuple(w)) for g, w in groups.items())
with c1:  # drawn once per (embedding, groups) in this worker, replayed for everyone else
    components.replay("racist.groups", (key, groups_key, emb.name),
                      lambda: show_groups(model, f"{emb.name} (original)"))
with c2:
    if setup is None:
        st.info("No gender direction for this embedding, so no hard-debiased copy to compare.")
    else:
        setup, mode = embedding_ui.debias_controls(emb, setup, show=False)
        debiased = embedding_ui.debiased(emb, setup, mode).embedding
        try:
            model_d = trained(debiased)
            components.replay("racist.groups_debiased", (debiased, groups_key),
                              lambda: show_groups(model_d, "gender-debiased copy"))
        except NotEnoughWords as exc:
            st.warning(str(exc))
st.info("Gender debiasing (from the *Hard debiasing* page) removes a gender direction: it is not expected to "
        "change how names of different ethnic groups score, and the numbers show it does not.")
