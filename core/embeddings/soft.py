"""Soft debiasing (Bolukbasi et al. 2016, section 5.2), optimised with TensorFlow.

Find a linear map T (d x d) that keeps inner products while shrinking the bias of neutral words:

    min_T  ||(TW)^T (TW) - W^T W||_F^2 / ||W^T W||_F^2  +  lambda ||(TN)^T (TB)||_F^2 / ||N^T B||_F^2

(the paper's objective with each term divided by a constant, so lambda reads as "how much relative
Gram distortion to trade for removing the bias", comparable across embeddings).

W (d x n): all word vectors as columns; N (d x m): the neutral words; B (d x k): the bias subspace.
With the thin SVD W = U S V^T, (TW)^T(TW) - W^T W = V S (U^T T^T T U - I) S V^T and V has
orthonormal columns, so the first term is ||S (U^T T^T T U - I) S||_F^2: a d x d problem whatever n
is. The second term is ||N^T (T^T T) B||_F^2 = ||(N^T T^T)(T B)||_F^2, computed with M = N N^T
(d x d) as trace(B^T X M X B), X = T^T T. Every step is therefore O(d^3), independent of n.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.embeddings.io import Embedding
from core.progress import Progress, ensure


@dataclass(frozen=True)
class SoftDebiasResult:
    embedding: Embedding
    transform: np.ndarray  # T (d x d)
    objective: np.ndarray  # per step
    similarity_term: float  # ||(TW)^T(TW) - W^T W||^2 / ||W^T W||^2
    bias_term: float  # ||(TN)^T(TB)||^2 relative to its value at T = I
    lam: float


def soft_objective_parts(t: np.ndarray, s: np.ndarray, u: np.ndarray, m: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(similarity term, bias term) of the objective for a given T (numpy, float64)."""
    x = t.T @ t
    inner = u.T @ x @ u - np.eye(len(s))
    sim = float(np.sum((s[:, None] * inner * s[None, :]) ** 2))
    bias = float(np.trace(b.T @ x @ m @ x @ b))
    return sim, bias


def soft_debias_problem(w: np.ndarray, n: np.ndarray, b: np.ndarray, lam: float, steps: int = 300,
                        learning_rate: float = 1e-3,
                        progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """Solve for T given W (n_words x d rows), N (m x d rows), B (k x d rows).

    Returns (T, normalised objective per step, (ref_sim, ref_bias)): the objective is
    sim / ref_sim + lambda * bias / ref_bias. Deterministic: Adam from T = I, nothing random.
    """
    from core.device import import_tensorflow

    tf = import_tensorflow()
    progress = ensure(progress)
    if lam < 0 or not np.isfinite(lam):
        raise ValueError("lambda must be a finite number >= 0.")
    w64 = np.asarray(w, dtype=np.float64)
    _, s, vt = np.linalg.svd(w64, full_matrices=False)  # rows of w are words: w = U' S Vt, W (d x n) = Vt^T S U'^T
    u = vt.T  # the left singular vectors of W (d x r)
    n64 = np.asarray(n, dtype=np.float64)
    m = n64.T @ n64  # N N^T in column convention (d x d)
    b64 = np.atleast_2d(np.asarray(b, dtype=np.float64)).T  # (d x k)
    # Each term is divided by a fixed reference so that lambda means the same on every embedding:
    # the similarity term by ||W^T W||_F^2 (relative distortion), the bias term by its value at T = I
    # (relative bias left). This is the paper's objective with lambda' = lambda * ref_sim / ref_bias.
    ref_sim = float(np.sum(s ** 4)) or 1.0
    ref_bias = float(np.trace(b64.T @ m @ b64)) or 1.0
    d = w64.shape[1]
    t_var = tf.Variable(np.eye(d), dtype=tf.float64)
    s_t = tf.constant(s)
    u_t = tf.constant(u)
    m_t = tf.constant(m)
    b_t = tf.constant(b64)
    eye = tf.eye(len(s), dtype=tf.float64)
    lam_t = tf.constant(float(lam), dtype=tf.float64)
    opt = tf.keras.optimizers.Adam(learning_rate=learning_rate)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            x = tf.matmul(t_var, t_var, transpose_a=True)
            inner = tf.matmul(tf.matmul(u_t, x, transpose_a=True), u_t) - eye
            sim = tf.reduce_sum(tf.square(s_t[:, None] * inner * s_t[None, :]))
            xb = tf.matmul(x, b_t)
            bias = tf.linalg.trace(tf.matmul(tf.matmul(xb, m_t, transpose_a=True), xb))
            loss = sim / ref_sim + lam_t * bias / ref_bias
        opt.apply_gradients([(tape.gradient(loss, t_var), t_var)])
        return loss

    history = np.empty(steps)
    for i in range(steps):
        history[i] = float(step())
        if i % 20 == 0 or i == steps - 1:
            progress((i + 1) / steps, f"soft debiasing: step {i + 1}/{steps}, objective {history[i]:.4g}")
    return t_var.numpy(), history, (ref_sim, ref_bias)


def soft_neutral_words(emb: Embedding, specific) -> list[str]:
    """N, the words soft debiasing shrinks the bias of: every word of the vocabulary not in the
    gender-specific set S (the paper's rule; the page and the CLI both use it)."""
    return [w for w in emb.words if w not in specific]


def soft_debias(emb: Embedding, subspace: np.ndarray, neutral: list[str], lam: float = 0.2, steps: int = 300,
                learning_rate: float = 1e-3, progress: Progress | None = None) -> SoftDebiasResult:
    """Soft-debias a (unit-normalised) embedding; returns a new, re-normalised embedding."""
    emb = emb.normalized()
    if len(neutral) == 0:
        raise ValueError("Soft debiasing needs at least one neutral word in the vocabulary.")
    n = emb.vectors[emb.rows(neutral)]
    b = np.atleast_2d(subspace)
    t, history, (ref_sim, ref_bias) = soft_debias_problem(emb.vectors, n, b, lam, steps, learning_rate, progress)
    _, s, vt = np.linalg.svd(emb.vectors.astype(np.float64), full_matrices=False)
    sim, bias = soft_objective_parts(t, s, vt.T, n.astype(np.float64).T @ n.astype(np.float64), b.astype(np.float64).T)
    new = (emb.vectors.astype(np.float64) @ t.T).astype(np.float32)  # rows: (T w)^T
    new /= np.maximum(np.linalg.norm(new, axis=1, keepdims=True), 1e-12)
    return SoftDebiasResult(emb.with_vectors(new, f"{emb.name} (soft-debiased, lambda={lam:g})"), t, history,
                            sim / ref_sim, bias / ref_bias, lam)
