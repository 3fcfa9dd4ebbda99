"""Small numeric helpers shared by several packages (one definition each)."""

from __future__ import annotations

import numpy as np


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """exp(z) / sum exp(z) along ``axis`` (class probabilities from logits), shifted by the maximum
    first so large logits do not overflow. Floating input keeps its dtype."""
    z = np.asarray(z)
    if not np.issubdtype(z.dtype, np.floating):
        z = z.astype(np.float64)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
