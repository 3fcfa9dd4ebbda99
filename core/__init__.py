"""The dashboard's library: importable and testable without Streamlit.

Sub-packages import TensorFlow lazily (through :mod:`core.device`), so ``python -m core assets``
and the image helpers start fast.
"""

import os

# TensorFlow 2.21's oneDNN custom CPU ops corrupt the heap ("double free or corruption") when
# computing input gradients of the emotion CNN on this class of CPU: every gradient-ascent and
# attribution page would crash the server. The plain Eigen kernels are correct; set before any
# TensorFlow import (everything in core imports TensorFlow through core.device, after this).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__all__ = ["assets", "images", "device", "progress"]
