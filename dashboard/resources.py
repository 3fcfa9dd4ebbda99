"""Process-wide cached resources: each model, embedding and manager loads once per server process.

Everything returned from a ``st.cache_resource`` function is shared by every browser session:
callers must treat it as read-only (core functions return new objects instead of mutating).
"""

from __future__ import annotations

import threading

import streamlit as st

from core.assets import AssetManager
from core.device import DeviceInfo, describe_device
from core.progress import Progress

_LOADED: dict[str, str] = {}
_LOCK = threading.Lock()


@st.cache_resource(show_spinner=False)
def asset_manager() -> AssetManager:
    return AssetManager()


@st.cache_resource(show_spinner="Starting TensorFlow ...")
def device_info() -> DeviceInfo:
    return describe_device()


def note_loaded(name: str, where: str | None = None) -> None:
    """Record that a model/embedding is now resident (and where it computes), for the sidebar."""
    with _LOCK:
        _LOADED[name] = where or device_info().label


def loaded_resources() -> dict[str, str]:
    with _LOCK:
        return dict(_LOADED)


def ensure_asset(name: str, progress: Progress | None = None) -> str:
    """Path of a verified asset, fetching it (with progress) the first time it is needed."""
    return str(asset_manager().ensure(name, progress=progress))


# ----------------------------------------------------------------------------- shared stores with progress

@st.cache_resource(show_spinner=False)
def _store() -> dict:
    """Process-wide store for objects whose loading deserves a progress bar (st.cache_resource
    cannot draw one). Same sharing rule: values are read-only for every session."""
    return {"lock": threading.RLock(), "items": {}}


def shared(key: tuple, loader, label: str, max_items: int = 8):
    """Return the cached value for ``key`` or build it with ``loader(progress)`` under a progress bar.

    Entries of the same kind (``key[0]``) beyond ``max_items`` are evicted oldest first.
    """
    from dashboard.components import progress_bar

    store = _store()
    items = store["items"]
    if key in items:
        return items[key]
    with store["lock"]:
        if key not in items:
            with progress_bar(label) as progress:
                value = loader(progress)
            same_kind = [k for k in items if k[0] == key[0]]
            for old in same_kind[: max(0, len(same_kind) - max_items + 1)]:
                del items[old]
            items[key] = value
    return items[key]


def embedding(name: str):
    """A registered embedding, unit-normalised, loaded once per process (read-only)."""
    from core.embeddings.sources import load_named

    emb = shared(("embedding", name), lambda p: load_named(name, asset_manager(), progress=p),
                 f"Loading embedding {name} ...", max_items=3)
    note_loaded(f"embedding {name}", "numpy, CPU")
    return emb


@st.cache_resource(show_spinner=False)
def gender_lists():
    from core.embeddings.wordlists import gender_lists as load

    return load(asset_manager())
