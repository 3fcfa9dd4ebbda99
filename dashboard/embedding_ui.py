"""Widgets shared by the "Ethics: biased embeddings" pages: embedding choice and bias direction.

Both keep their settings across pages (the lecture moves from page to page with one embedding and
one direction), and both return ``None`` after showing a sentence when the input cannot be used.
"""

from __future__ import annotations

import hashlib

import streamlit as st

from core import datadir
from core.assets import AssetError
from core.cache import KeyedCache
from core.embeddings import bias, debias
from core.embeddings.analysis import GenderSetup, gender_setup
from core.embeddings.io import Embedding, EmbeddingFormatError, parse_embedding
from core.embeddings.sources import DEFAULT_EMBEDDING, EMBEDDINGS
from core.errors import markdown_text
from dashboard import components, resources

UPLOAD = "upload"
EMBEDDING_SUFFIXES = (".bin", ".txt", ".vec", ".gz", ".w2v")
# Parsed uploads and data-folder files, shared by every session (read-only, keyed by content hash, like
# the named embeddings): three sessions picking the operator's 144 MB file parse it once, not three times.
PARSED_UPLOADS = KeyedCache("uploaded_embeddings", 4, 1024 * 2 ** 20)
UNIT_NOTE = ("All vectors are unit-normalised (|w| = 1), so a dot product is a cosine; this is how "
             "Bolukbasi et al. measure and remove bias.")


def _title(name: str) -> str:
    return "Your own file (word2vec binary/text or GloVe text)" if name == UPLOAD else EMBEDDINGS[name].title


def _shown(name: str) -> str:
    """A file name for a Markdown message: a plain name as it is, anything else escaped (an upload may be
    called ``[Log in](http://...).txt``)."""
    import re

    plain = re.fullmatch(r"[\w .,/-]{1,80}", name) and not name.startswith(("-", "+", "#"))
    return name if plain else markdown_text(name)


def _uploaded_embedding() -> Embedding | None:
    upload = st.file_uploader("Embedding file", type=["bin", "txt", "vec", "gz", "w2v"], key="emb_upload",
                              help="word2vec binary, word2vec text (with an 'N D' header) or GloVe text. "
                                   "Files are parsed, never unpickled.")
    server_file = None
    offered = datadir.list_files(EMBEDDING_SUFFIXES) if datadir.data_dir() is not None else []
    if offered:  # only when the operator set DASHBOARD_DATA_DIR: files inside it, picked by name
        server_file = st.selectbox("... or a file from the server's data folder", [None] + offered, key="emb_server_file",
                                   format_func=lambda n: "(none)" if n is None else n,
                                   help="Files the person running the dashboard put in its data folder "
                                        "(for files larger than the upload limit).")
    fmt = st.selectbox("Format", ["auto", "word2vec-binary", "word2vec-text", "glove-text"], key="emb_upload_fmt")
    if upload is not None:
        data, label = upload.getvalue(), upload.name
    elif server_file is not None:
        try:
            data, label = datadir.read_bytes(server_file), server_file
        except datadir.DataDirError as exc:
            st.error(str(exc))
            return None
    else:
        st.info("Upload an embedding file, or choose one of the listed embeddings.")
        return None
    key = (hashlib.sha256(data).hexdigest(), fmt, label)  # the label is shown as the embedding's name

    def parse(pending) -> Embedding:
        with components.progress_bar(f"Reading {label} ...") as progress:
            def report(fraction: float, message: str) -> None:
                pending.progress(fraction, message)
                progress(fraction, message)
            return parse_embedding(data, fmt, name=label, progress=report).normalized()

    try:
        return PARSED_UPLOADS.get_or_compute(key, parse, f"Reading {label} ...")
    except EmbeddingFormatError as exc:
        if upload is None:  # a server file: say what failed, never what it contains
            kind = fmt if fmt != "auto" else "word2vec or GloVe"
            st.error(f"'{_shown(label)}' is not a {kind} file this dashboard can read.")
        else:
            st.error(f"{_shown(label)}: {markdown_text(exc, 300)}")
        return None


def embedding_picker(default: str = DEFAULT_EMBEDDING, remember_as: str = "embedding") -> Embedding | None:
    """Choose the embedding; offline ones load at once, online ones after a download button. ``default`` and
    ``remember_as``: a page with its own default keeps its own choice (the opening sentiment demo)."""
    options = list(EMBEDDINGS) + [UPLOAD]
    current = components.remembered(remember_as, default)
    name = st.selectbox("Embedding", options, index=options.index(current) if current in options else 0,
                        format_func=_title, key="emb_choice")
    components.remember(remember_as, name)
    if name == UPLOAD:
        emb = _uploaded_embedding()
    else:
        spec = EMBEDDINGS[name]
        mgr = resources.asset_manager()
        if not spec.offline and not components.offer_download(mgr, spec.asset, spec.title, f"emb_fetch_{name}"):
            return None
        try:
            emb = resources.embedding(name)
        except (AssetError, EmbeddingFormatError) as exc:
            st.error(str(exc))
            return None
    if emb is not None:
        st.caption(f"{emb.name}: {len(emb):,} words x {emb.dim} dimensions. {UNIT_NOTE}")
    return emb


def default_pairs_text() -> str:
    lists = resources.gender_lists()
    return "\n".join(f"{a}, {b}" for a, b in lists.definitional_pairs)


def direction_controls(emb: Embedding, show: bool = True) -> GenderSetup | None:
    """Definitional pairs (editable), method and k -> the gender setup; None with a message if unusable."""
    text = components.remembered("pairs_text", default_pairs_text())
    method = components.remembered("direction_method", "pca")
    k = components.remembered("direction_k", 1)
    convention = components.remembered("equalize_convention", debias.DEFAULT_CONVENTION)
    if show:
        with components.controls("Bias direction: definitional pairs, method, k"):
            text = st.text_area("Definitional pairs (female, male), one pair per line", text, height=230,
                                key="pairs_text_widget")
            c1, c2 = st.columns(2)
            method = c1.radio("Direction", bias.METHODS, index=bias.METHODS.index(method), horizontal=True,
                              key="direction_method_widget",
                              help="pca: Step 1 of the paper (SVD of the centred pairs); sum: normalised sum of the "
                                   "differences; single: she - he only.")
            k = c2.slider("k (dimensions of the subspace B)", 1, 5, int(k), key="direction_k_widget",
                          disabled=method != "pca")
            if st.button("Reset to the paper's 10 pairs", key="pairs_reset"):
                text = default_pairs_text()
                components.remember("pairs_text", text)
                st.session_state.pop("pairs_text_widget", None)
                st.rerun()
        components.remember("pairs_text", text)
        components.remember("direction_method", method)
        components.remember("direction_k", k)
    pairs, problems = components.parse_pairs(text)
    for p in problems:
        st.warning(f"Definitional pairs: {p}; it is ignored.")
    k = int(k) if method == "pca" else 1
    try:
        setup = _gender_setup(emb, tuple(pairs), method, k, convention)
    except bias.NotEnoughWords as exc:
        st.error(str(exc))
        return None
    for reason in setup.subspace.skipped:
        st.warning(f"Definitional pairs: {reason}; that pair is left out.")
    if setup.subspace.missing:
        components.unknown_words_note(list(setup.subspace.missing), "the definitional pairs")
    return setup


@resources.cached("ethics", "Finding the gender direction ...")
def _gender_setup(emb: Embedding, pairs: tuple[tuple[str, str], ...], method: str, k: int, convention: str) -> GenderSetup:
    """The gender direction and word sets of one embedding (by its content digest) and settings, once per worker."""
    return gender_setup(emb, resources.gender_lists(), pairs=list(pairs), method=method, k=k, convention=convention)


def settings_key(emb: Embedding, setup: GenderSetup) -> tuple:
    """A hashable description of (embedding, direction) for caches of derived results. The first
    three items identify the embedding by its full content (two uploads named alike never share)."""
    return (emb.name, len(emb), emb.digest, setup.subspace.method, setup.subspace.k, setup.subspace.pairs,
            setup.convention)


def words_key(words) -> str:
    """A content hash of a word set (e.g. the specific set S a student edited)."""
    return hashlib.sha256("\n".join(sorted(words)).encode()).hexdigest()


def debias_controls(emb: Embedding, setup: GenderSetup, show: bool = True) -> tuple[GenderSetup, str]:
    """Specific set S (add/remove words), equalize convention and mode -> (setup, mode)."""
    import dataclasses

    add_text = components.remembered("specific_add", "")
    remove_text = components.remembered("specific_remove", "")
    convention = components.remembered("equalize_convention", debias.DEFAULT_CONVENTION)
    mode = components.remembered("debias_mode", "hard")
    modes = {"hard": "Hard debias (neutralize + equalize)", "neutralize": "Neutralize only"}
    if show:
        mode = st.segmented_control("Method", list(modes), format_func=modes.get, default=mode, key="debias_mode_widget") \
            or "hard"
        with components.controls("Gender-specific words S and equality sets"):
            st.caption(f"S has {len(setup.specific):,} words by default: the paper's 'specific_full' list plus the "
                       "definitional and equalize words, each in lower/UPPER/Title form. Words in S keep their "
                       "gender component; every other word is neutralized.")
            c1, c2 = st.columns(2)
            add_text = c1.text_area("Add to S (keep these gendered)", add_text, key="specific_add_widget", height=80)
            remove_text = c2.text_area("Remove from S (neutralize these too)", remove_text, key="specific_remove_widget",
                                       height=80)
            names = list(debias.CONVENTIONS)
            convention = st.radio("Equality sets", names, index=names.index(convention), format_func=debias.CONVENTIONS.get,
                                  key="equalize_convention_widget")
        components.remember("specific_add", add_text)
        components.remember("specific_remove", remove_text)
        components.remember("equalize_convention", convention)
        components.remember("debias_mode", mode)
    specific = (set(setup.specific) | set(components.parse_word_list(add_text))) - set(
        components.parse_word_list(remove_text))
    lists = resources.gender_lists()
    equality = tuple(debias.default_equality_sets(emb, lists, convention))
    return dataclasses.replace(setup, specific=frozenset(specific), equality_sets=equality, convention=convention), mode


def debiased(emb: Embedding, setup: GenderSetup, mode: str) -> debias.DebiasResult:
    """The debiased copy for these settings, shared by pages (never the cached original, mutated)."""
    from core.embeddings.analysis import run_debias

    key = (settings_key(emb, setup), mode, words_key(setup.specific), setup.equality_sets)
    return resources.compute("debiased", key, lambda p: run_debias(emb, setup, mode), "Debiasing ...")


def require_embedding(default: str = DEFAULT_EMBEDDING, remember_as: str = "embedding") -> Embedding:
    """The page's embedding picker (in a control panel); stops the page with its message if unusable."""
    with components.controls("Embedding"):
        emb = embedding_picker(default, remember_as)
    if emb is None:
        st.stop()
    return emb


def require_setup(emb: Embedding, show: bool = True) -> GenderSetup:
    """The gender setup for ``emb`` (controls shown or not); stops the page with its message if unusable."""
    setup = direction_controls(emb, show=show)
    if setup is None:
        st.stop()
    return setup


@resources.cached("ethics", lambda emb, max_words, delta=1.0: (
    f"Finding all word pairs within δ = {delta} among {max_words:,} words of {emb.name} ..."), heavy=True)
def analogy_candidates(emb: Embedding, max_words: int, delta: float = 1.0, progress=None) -> bias.CandidatePairs:
    """Bolukbasi et al.'s candidate analogy pairs of one embedding (original or debiased, by its content digest):
    the expensive part of the analogy generator, once per (embedding, words, δ) in this worker and shared by
    the pages that generate analogies."""
    return bias.candidate_pairs(emb, max_words=int(max_words), delta=float(delta), progress=progress)
