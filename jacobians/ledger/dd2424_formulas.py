"""Note 004's chained softmax–cross-entropy gradient (DD2424 Lecture 6), kept beside its claims."""
from __future__ import annotations

import numpy as np

from ._tools import numeric_array

__all__ = ["softmax_cross_entropy_grad_note004"]


def softmax_cross_entropy_grad_note004(s, y):
    """Note 004's chained form ``∂l/∂s = −yᵀ/(yᵀp) · (diag(p) − p pᵀ)``, with the C×C matrix formed.

    Written from the note with numpy only (p = exp(s − max s)/Σ); returns the row as a vector (C,).
    """
    s = numeric_array(s, "s", np.float64).ravel()
    y = numeric_array(y, "y", np.float64).ravel()
    if s.shape != y.shape:
        raise ValueError(f"y: must have the shape of s {s.shape} (got {y.shape})")
    e = np.exp(s - s.max())
    p = e / e.sum()
    return (-y / (y @ p)) @ (np.diag(p) - np.outer(p, p))
