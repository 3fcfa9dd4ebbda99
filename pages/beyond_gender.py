"""Ethics demo 6: bias axes beyond gender (any word sets), multiclass debiasing, and a WEAT explorer."""

import streamlit as st

from core.embeddings import bias, debias, evaluate
from core.embeddings.analysis import percent
from core.embeddings.bias import DegenerateWords, NotEnoughWords
from core.embeddings.wordlists import default_name_groups, weat_tests
from dashboard import components, embedding_ui, figures, resources
from dashboard import lecture as lecture_path

st.title("Beyond gender: other bias axes, and WEAT")
stage = lecture_path.stage()  # lecture mode: the projections before/after first, above the word sets


# Named cached functions: one computation per (embedding, words, settings) in this worker, shared by
# every student (the key is the arguments by content: the embedding's digest, the word tuples).
@resources.cached("ethics", "Finding the bias subspace ...")
def aligned_subspace(emb, rows: tuple[tuple[str, ...], ...], k: int):
    sets, missing = bias.resolve_sets(emb, list(rows))
    return sets, missing, bias.bias_subspace(emb, sets, method="pca", k=k, positive_word=sets[0][0] if sets else "")


@resources.cached("ethics", "Finding the bias axis ...")
def group_axis(emb, groups: dict):
    return bias.group_subspace(emb, {name: list(words) for name, words in groups.items()})


@resources.cached("debiased", "Debiasing along the axis ...")
def debiased_along(emb, aligned: bool, sets: tuple, k: int, mode: str, components_: object, specific: tuple):
    if aligned:
        return debias.multiclass_hard_debias(emb, [tuple(s) for s in sets], k=k, mode=mode)[0]
    return debias.hard_debias(emb, components_, set(specific), (), mode="neutralize")


@resources.cached("ethics", "WEAT ...")
def weat(version, x: tuple, y: tuple, a: tuple, b: tuple, n_permutations: int, seed: int):
    return evaluate.weat(version, list(x), list(y), list(a), list(b), n_permutations=n_permutations, seed=seed)


emb = embedding_ui.require_embedding()
mgr = resources.asset_manager()

# ----------------------------------------------------------------------------- 1. a bias axis from any sets
st.header("A bias axis from any word sets")
PRESETS = ["race from first names (WEAT groups)", *bias.MANZINI_SETS, "your own aligned sets", "your own groups"]
preset = st.selectbox("Word sets", PRESETS, key="bg_preset",
                      help="Aligned sets: one word per class on each line (Manzini et al. 2019). Groups: unaligned lists, "
                           "e.g. two lists of names; the axis joins the group means.")
k_max = 1
sets: list[tuple[str, ...]] = []
if preset in bias.MANZINI_SETS or preset == "your own aligned sets":
    default_rows = bias.MANZINI_SETS.get(preset, bias.MANZINI_SETS["religion (Manzini et al.)"])
    default_text = "\n".join(", ".join(row) for row in default_rows)
    text = st.text_area("Defining sets (one set per line, the same class order on every line)", default_text,
                        key=f"bg_sets_{preset}", height=160)
    rows = [tuple(components.parse_word_list(line)) for line in text.splitlines() if line.strip()]
    sizes = {len(r) for r in rows}
    if len(sizes) > 1:
        st.error(f"Every line needs the same number of words (one per class); found lines with {sorted(sizes)} words.")
        st.stop()
    k_max = max(1, (len(rows[0]) - 1) if rows else 1)
    k = st.slider("k (dimensions of the subspace)", 1, max(1, k_max), 1, key="bg_k", disabled=k_max == 1)
    try:
        sets, missing, sub = aligned_subspace(emb, tuple(rows), k)
    except DegenerateWords as exc:
        st.error(str(exc))
        st.stop()
    except (NotEnoughWords, IndexError):
        st.error(f"Only {len(bias.usable_sets(sets)[0])} usable defining set(s) are fully in the vocabulary of "
                 f"{emb.name[:60]}; at least 2 are needed. Try the 13k-word test embedding, or the name groups.")
        st.stop()
    components.unknown_words_note(missing, "the defining sets (their sets are skipped)")
    for reason in sub.skipped:
        st.warning(f"Defining sets: {reason}; that set is left out.")
    sets = list(sub.pairs)  # what the axis was built from: debiasing equalizes the same sets
    specific = {w for s in sets for w in s}
else:
    defaults = default_name_groups(mgr) if preset.startswith("race") else {"group_a": [], "group_b": []}
    cols = st.columns(2)
    groups = {}
    for col, (name, words) in zip(cols, defaults.items(), strict=True):
        groups[name] = components.parse_word_list(col.text_area(name, ", ".join(words), key=f"bg_group_{preset}_{name}",
                                                                height=160))
    try:
        sub = group_axis(emb, {name: tuple(words) for name, words in groups.items()})
    except NotEnoughWords as exc:
        st.error(str(exc))
        st.stop()
    components.unknown_words_note(list(sub.missing), "the groups")
    specific = {w for g in groups.values() for w in g}
st.caption(f"{len(sub.pairs)} set(s) used; the first component explains {percent(sub.explained_variance_ratio[0], 1)} of their "
           "centred variance. The first class / group projects positive.")

probe_text = st.text_input("Words to project", "terrorist, criminal, violent, peaceful, scientist, doctor, rich, poor, "
                           "lazy, intelligent", key="bg_probe")
probe, unknown = emb.split_known(components.parse_word_list(probe_text))
components.unknown_words_note(unknown, "your words")

mode = st.segmented_control("Debias along this axis", ["none", "neutralize", "hard"], default="hard", key="bg_mode") or "none"
after = None
if mode != "none":
    aligned = preset in bias.MANZINI_SETS or preset == "your own aligned sets"
    # unaligned groups: nothing to equalize, neutralize everything else
    result = debiased_along(emb, aligned, tuple(tuple(x) for x in sets), sub.k, mode,
                            None if aligned else sub.components, tuple(sorted(specific)))
    after = result.embedding
    st.caption(f"{result.n_neutralized:,} words neutralized, {len(result.equality_sets)} sets equalized "
               "(Manzini et al.: PCA over the centred k-class sets, then neutralize + equalize over the k-tuples).")


def projections_section() -> None:
    before_proj = bias.projections(emb, probe, sub.direction)
    # The axis is this page's, not gender's; both charts share one scale, so bars that debiasing shrank to
    # rounding noise look like nothing, not like the bars before (Plotly would auto-scale them to ±1e-8).
    if preset in bias.MANZINI_SETS or preset == "your own aligned sets":
        plus = sets[0][0] if sets and sets[0] else "first class"
        axis_title = f"projection on the first axis of the sets ({plus} +)"
    else:
        names_ = list(groups)
        axis_title = f"projection on the axis between the groups ({names_[0]} +, {names_[1]} −)"
    reach = 1.1 * max([abs(v) for v in before_proj.values()] + [1e-3])
    order = sorted(before_proj, key=before_proj.get)

    def bars(values: dict, title: str):
        fig = figures.projection_bars(values, words=order, title=title, x_range=(-reach, reach))
        fig.update_layout(xaxis_title=axis_title)
        return fig

    c1, c2 = st.columns(2)
    c1.plotly_chart(bars(before_proj, "before"), width="stretch", key="bg_proj_before")  # keyed: identical charts
    if after is not None:
        after_proj = bias.projections(after, probe, sub.direction)
        largest = max(abs(v) for v in after_proj.values()) if after_proj else 0.0
        c2.plotly_chart(bars(after_proj, f"after (largest |projection| {largest:.1e})"), width="stretch",
                        key="bg_proj_after")
    st.caption("Bars: projection on this page's bias axis (first class/group +), both charts on the same scale. "
               "Colours follow the sign.")


if probe:  # drawn once per (embedding, axis, words, debiasing) in this worker, replayed for everyone else
    with lecture_path.place(stage):
        if stage is not None:
            st.markdown(f"**{preset}**: projections on the axis, before and after ({mode})")
        components.replay("beyond.projections", (emb, after, sub.direction, tuple(probe)), projections_section)

# ----------------------------------------------------------------------------- 2. WEAT explorer
st.header("WEAT explorer")
tests = weat_tests(mgr)
names = [t.name for t in tests] + ["type your own"]
choice = st.selectbox("Test", names, index=2, key="weat_choice")
base = tests[names.index(choice)] if choice != "type your own" else None


def word_box(col, label, default_name, default_words, key):
    nm = col.text_input(f"{label} name", default_name, key=f"{key}_name_{choice}")
    words = components.parse_word_list(col.text_area(f"{label} words", ", ".join(default_words), key=f"{key}_{choice}",
                                                     height=120))
    return nm, words


c1, c2 = st.columns(2)
x_name, x_words = word_box(c1, "Targets X", base.targets[0] if base else "X", base.x if base else [], "wx")
y_name, y_words = word_box(c2, "Targets Y", base.targets[1] if base else "Y", base.y if base else [], "wy")
a_name, a_words = word_box(c1, "Attributes A", base.attributes[0] if base else "A", base.a if base else [], "wa")
b_name, b_words = word_box(c2, "Attributes B", base.attributes[1] if base else "B", base.b if base else [], "wb")
c1, c2 = st.columns(2)
n_perm = c1.select_slider("Permutations", [1_000, 10_000, 100_000], 10_000, key="weat_n")
seed = c2.number_input("Seed", 0, 10_000, 0, key="weat_seed")
targets = {"original": emb} | ({"debiased along the axis above": after} if after is not None else {})
cols = st.columns(len(targets))
for col, (label, version) in zip(cols, targets.items(), strict=True):
    with col:
        try:
            r = weat(version, tuple(x_words), tuple(y_words), tuple(a_words), tuple(b_words), int(n_perm), int(seed))
        except NotEnoughWords as exc:
            st.warning(str(exc))
            continue
        st.metric(f"effect size d ({label})", f"{r.effect_size:+.2f}",
                  help="(mean s(x) − mean s(y)) / std of s over X ∪ Y")
        st.metric("one-sided permutation p", f"{r.p_value:.4f}")
        if base and base.original_d is not None and label == "original":
            st.caption(f"Caliskan et al. report d = {base.original_d:.2f} (p = {base.original_p}).")
        components.unknown_words_note(list(r.missing), "the WEAT sets")
        # the figure costs ~15 ms of plotly per run: drawn once per (scores, names) in this worker, replayed
        # for everyone else (the key is exactly what the chart shows)
        components.replay("beyond.weat_chart", (label, r.x, r.association_x, r.y, r.association_y, x_name, y_name,
                                                a_name, b_name),
                          lambda r=r, label=label: st.plotly_chart(
                              figures.association_scores(r.x, r.association_x, r.y, r.association_y, x_name, y_name,
                                                         a_name, b_name), width="stretch",
                              key=f"weat_chart_{label}"))  # two identical charts (nothing debiased) need distinct ids
st.caption("s(w) = mean cosine of w with the A words minus with the B words. p = (#{S_perm ≥ S} + 1)/(P + 1) over "
           "seeded random equal-size re-splits of X ∪ Y, all permutations computed at once.")
