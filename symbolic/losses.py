"""Sympy forwards of softmax / log_softmax along a dim and of PyTorch's cross_entropy, nll_loss, mse_loss.

Loops over slices and positions from the definitions (targets are constants:
integer class indices, or exact rational probabilities).
"""
from __future__ import annotations

import numpy as np
import sympy

from symbolic._faces import register_forwards
from symbolic.ops import _number, _obj, column

__all__ = ["softmax_dim", "log_softmax", "cross_entropy_loss", "nll_loss", "mse_loss", "LOSS_FORWARDS"]


def _slices(s, dim):
    s = _obj(s, "s")
    axis = dim % s.ndim
    return s, axis


def _along(s, dim, log):
    s, axis = _slices(s, dim)
    out = np.empty(s.shape, dtype=object)
    for index in np.ndindex(*s.shape):
        row = [s[index[:axis] + (j,) + index[axis + 1:]] for j in range(s.shape[axis])]
        total = sympy.Add(*[sympy.exp(v) for v in row])
        out[index] = s[index] - sympy.log(total) if log else sympy.exp(s[index]) / total
    return out


def softmax_dim(s, dim=-1):
    return column(_along(s, dim, False).ravel())


def log_softmax(s, dim=-1):
    return column(_along(s, dim, True).ravel())


def _reduce(losses, counted, reduction, shape):
    if reduction == "none":
        return column(losses)
    total = sympy.Add(*[v for v, c in zip(losses, counted) if c])
    return column([total / sum(counted) if reduction == "mean" else total])


def cross_entropy_loss(input, target, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    x = _obj(input, "input")
    c = x.shape[1]
    logp = _along(x, 1, True)
    eps = _number(label_smoothing)
    t_arr = np.asarray(target)
    probs = t_arr.dtype == object or t_arr.dtype.kind == "f"
    losses, counted = [], []
    for pos in np.ndindex(x.shape[0], *x.shape[2:]):
        if probs:
            t = [_number(t_arr[(pos[0], k) + pos[1:]]) for k in range(c)]
        else:
            k_t = int(t_arr[pos])
            if k_t == ignore_index:
                losses.append(sympy.Integer(0))
                counted.append(0)
                continue
            t = [sympy.Integer(int(k == k_t)) for k in range(c)]
        t = [(1 - eps) * v + eps / c for v in t]
        losses.append(-sympy.Add(*[tv * logp[(pos[0], k) + pos[1:]] for k, tv in enumerate(t)]))
        counted.append(1)
    return _reduce(losses, counted, reduction, x.shape)


def nll_loss(input, target, ignore_index=-100, reduction="mean"):
    x = _obj(input, "input")
    t_arr = np.asarray(target)
    losses, counted = [], []
    for pos in np.ndindex(x.shape[0], *x.shape[2:]):
        k = int(t_arr[pos])
        losses.append(sympy.Integer(0) if k == ignore_index else -x[(pos[0], k) + pos[1:]])
        counted.append(int(k != ignore_index))
    return _reduce(losses, counted, reduction, x.shape)


def mse_loss(input, target, reduction="mean"):
    x, y = _obj(input, "input"), _obj(target, "target")
    sq = [(a - b) ** 2 for a, b in zip(x.ravel(), y.ravel())]
    if reduction == "none":
        return column(sq)
    total = sympy.Add(*sq)
    return column([total / len(sq) if reduction == "mean" else total])


LOSS_FORWARDS = {"softmax_dim": softmax_dim, "log_softmax": log_softmax, "cross_entropy_loss": cross_entropy_loss,
                 "nll_loss": nll_loss, "mse_loss": mse_loss}
register_forwards(LOSS_FORWARDS)
