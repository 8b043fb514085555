"""Sympy forwards of add (input + alpha·other) and concat (torch.cat of two arrays)."""
from __future__ import annotations

import numpy as np

from symbolic._faces import register_forwards
from symbolic.ops import _number, _obj, column

__all__ = ["add", "concat", "COMBINE_FORWARDS"]


def add(input, other, alpha=1):
    a = _number(alpha)
    return column(u + a * v for u, v in zip(_obj(input, "input").ravel(), _obj(other, "other").ravel()))


def concat(a, b, dim=1):
    a, b = _obj(a, "a"), _obj(b, "b")
    axis = dim % a.ndim
    shape = list(a.shape)
    shape[axis] += b.shape[axis]
    out = []
    for index in np.ndindex(*shape):
        j = index[axis]
        src, k = (a, j) if j < a.shape[axis] else (b, j - a.shape[axis])
        out.append(src[index[:axis] + (k,) + index[axis + 1:]])
    return column(out)


COMBINE_FORWARDS = {"add": add, "concat": concat}
register_forwards(COMBINE_FORWARDS)
