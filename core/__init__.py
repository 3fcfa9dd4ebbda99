"""The dashboard's library: importable and testable without Streamlit.

Sub-packages import TensorFlow lazily (through :mod:`core.device`), so ``python -m core assets``
and the image helpers start fast.
"""

__all__ = ["assets", "images", "device", "progress"]
