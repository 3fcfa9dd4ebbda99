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


def note_loaded(name: str) -> None:
    """Record that a model/embedding is now resident, for the sidebar."""
    with _LOCK:
        _LOADED[name] = device_info().label


def loaded_resources() -> dict[str, str]:
    with _LOCK:
        return dict(_LOADED)


def ensure_asset(name: str, progress: Progress | None = None) -> str:
    """Path of a verified asset, fetching it (with progress) the first time it is needed."""
    return str(asset_manager().ensure(name, progress=progress))
