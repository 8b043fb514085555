"""Sympy forwards of batch / layer / group / instance norm (the symbolic faces, small shapes).

Written as plain loops from the definition — group the entries, mean and
biased variance as sympy sums, ``γ (x − μ)/sqrt(var + eps) + β`` — sharing no
index arithmetic with :mod:`jacobians.ops.normalization`. ``eps`` becomes the
exact rational value of the float, so differentiating gives the Jacobian
entry by entry, e.g. a 2×3 layer norm's 36 entries
``γ_i/σ (δ_ij − 1/3 − x̂_i x̂_j/3)`` or a 2-channel batch norm's two blocks.

Examples
--------
>>> from symbolic.tensors import symbol_tensor
>>> x = symbol_tensor("x", (2, 3), base=0, sep=",")
>>> y = layer_norm(x, normalized_shape=3)
>>> y.shape
(6, 1)
"""
from __future__ import annotations

import textwrap

import numpy as np
import sympy

from jacobians.ops.normalization import GROUP_KEYS
from symbolic._faces import register_forwards
from symbolic.ops import _number, _obj, column

__all__ = ["batch_norm", "layer_norm", "group_norm", "instance_norm", "NORMALIZATION_FORWARDS", "entry_form", "GROUP_KEYS"]


def _normalize(x, key, pidx, weight, bias, eps, stats=None):
    x = _obj(x, "x")
    eps = _number(eps)
    weight = None if weight is None else _obj(weight, "weight")
    bias = None if bias is None else _obj(bias, "bias")
    groups: dict = {}
    for index in np.ndindex(*x.shape):
        groups.setdefault(key(index), []).append(x[index])
    moments = {}
    for k, vals in groups.items():
        if stats is not None:
            moments[k] = stats(k)
            continue
        mu = sympy.Add(*vals) / len(vals)
        moments[k] = (mu, sympy.Add(*[(v - mu) ** 2 for v in vals]) / len(vals))
    out = []
    for index in np.ndindex(*x.shape):
        mu, var = moments[key(index)]
        p = pidx(index)
        y = (x[index] - mu) / sympy.sqrt(var + eps)
        if weight is not None:
            y = weight[p] * y
        if bias is not None:
            y = y + bias[p]
        out.append(y)
    return column(out)


def batch_norm(x, weight=None, bias=None, running_mean=None, running_var=None, training=True, eps=1e-5):
    """Batch norm: statistics per channel over (N, *S); running statistics (constants) when not training."""
    if training:
        stats = None
    else:
        rm, rv = _obj(running_mean, "running_mean"), _obj(running_var, "running_var")
        stats = lambda c: (rm[c], rv[c])  # noqa: E731
    return _normalize(x, *GROUP_KEYS["batch_norm"](np.shape(x)), weight, bias, eps, stats)


def layer_norm(x, weight=None, bias=None, normalized_shape=(), eps=1e-5):
    """Layer norm over the trailing ``normalized_shape`` axes, element-wise γ and β."""
    return _normalize(x, *GROUP_KEYS["layer_norm"](np.shape(x), normalized_shape=normalized_shape), weight, bias, eps)


def group_norm(x, weight=None, bias=None, num_groups=1, eps=1e-5):
    """Group norm: statistics per (sample, group of C/num_groups channels)."""
    return _normalize(x, *GROUP_KEYS["group_norm"](np.shape(x), num_groups=num_groups), weight, bias, eps)


def instance_norm(x, weight=None, bias=None, eps=1e-5):
    """Instance norm: statistics per (sample, channel)."""
    return _normalize(x, *GROUP_KEYS["instance_norm"](np.shape(x)), weight, bias, eps)


def entry_form(kind, shape, *, affine=True, base=0, **params):
    """∂vec(y)/∂vec(x) written entry by entry with the symbols x̂ (normalized input), σ (per group) and γ.

    Entry ``γ_(i)/σ_g (δ_ij − 1/m − x̂_i x̂_j/m)`` for i, j in group g, 0 across groups —
    the readable form of a small case (a 2×3 layer norm, a 2-channel batch norm's blocks).
    Returns ``(matrix, xhat, sigma, gamma)``; σ is indexed by the groups in order of first appearance.
    Subscripts count from ``base`` (0, or 1 as the notes count).

    Examples
    --------
    >>> J, xhat, sigma, gamma = entry_form("layer_norm", (2, 3), normalized_shape=3, affine=False)
    >>> J[0, 0]
    (2/3 - xhat_0,0**2/3)/sigma_0
    >>> J[0, 3]
    0
    """
    from symbolic.tensors import symbol_tensor

    shape = tuple(int(d) for d in shape)
    key, pidx = GROUP_KEYS[kind](shape, **params)
    index = list(np.ndindex(*shape))
    groups = {}
    for t in index:
        groups.setdefault(key(t), len(groups))
    xhat = symbol_tensor("xhat", shape, base=base, sep=",")
    sigma = symbol_tensor("sigma", (len(groups),), base=base)
    wshape = (shape[1],) if kind != "layer_norm" else shape[len(shape) - len(pidx(index[0])):]
    gamma = symbol_tensor("gamma", wshape, base=base, sep=",") if affine else None
    m = len(index) // len(groups)
    entries = {}
    for r, ti in enumerate(index):
        g = groups[key(ti)]
        coef = (gamma[pidx(ti)] if affine else 1) / sigma[g]
        for c, tj in enumerate(index):
            if key(tj) == key(ti):
                entries[(r, c)] = coef * (int(r == c) - sympy.Rational(1, m) - xhat[ti] * xhat[tj] / m)
    return sympy.SparseMatrix(len(index), len(index), entries), xhat, sigma, gamma


#: What one group of each layer is, for the legend of :func:`show_form`.
_GROUP_WORDS = {
    "batch_norm": "a channel over the batch and space",
    "instance_norm": "one sample's channel over space",
    "group_norm": "one sample's group of C/num_groups channels over space",
    "layer_norm": "one leading index over normalized_shape",
}


def show_form(kind, shapes, params, wrt, base=1):
    """``jacobians show``'s readable symbolic Jacobian of a normalization layer: ``(matrix, legend lines)``.

    w.r.t. x (training statistics): :func:`entry_form`; batch norm in evaluation mode: the diagonal
    ``γ_c/σ_c`` with ``σ_c = sqrt(running_var_c + eps)``. w.r.t. γ: ``x̂_i`` at column ``index of i``.
    w.r.t. β: None (the 0/1 matrix is shown by differentiating the symbolic face).
    """
    from symbolic.tensors import symbol_tensor

    shape = tuple(int(d) for d in shapes["x"])
    group_params = {k: params[k] for k in ("normalized_shape", "num_groups") if k in params}
    training = params.get("training", True)
    key, pidx = GROUP_KEYS[kind](shape, **group_params)
    index = list(np.ndindex(*shape))
    wshape = tuple(int(d) for d in shapes["weight"])
    if training:
        stats = (f"x̂ = (x − μ_g)/σ_g, the normalized input; σ_g = sqrt(var_g + eps) with μ_g and the biased var_g of "
                 f"group g ({_GROUP_WORDS[kind]}), groups numbered from {base} in order of first appearance")
    else:
        stats = (f"x̂ = (x − running_mean_c)/σ_c, σ_c = sqrt(running_var_c + eps) (evaluation mode: constants per "
                 f"channel c)")
    legend = textwrap.wrap(stats, 100)
    if wrt == "x":
        if training:
            matrix, *_ = entry_form(kind, shape, base=base, **group_params)
            return matrix, legend + ["entry γ_(i)/σ_g (δ_ij − 1/m − x̂_i x̂_j/m) within a group of m entries, 0 across groups;",
                                     "γ = weight"]
        sigma = symbol_tensor("sigma", (shape[1],), base=base)
        gamma = symbol_tensor("gamma", (shape[1],), base=base)
        entries = {(r, r): gamma[t[1]] / sigma[t[1]] for r, t in enumerate(index)}
        return sympy.SparseMatrix(len(index), len(index), entries), legend + ["γ = weight"]
    if wrt == "weight":
        xhat = symbol_tensor("xhat", shape, base=base, sep=",")
        entries = {}
        for r, t in enumerate(index):
            column = int(np.ravel_multi_index(tuple(np.atleast_1d(pidx(t))), wshape))
            entries[(r, column)] = xhat[t]
        return sympy.SparseMatrix(len(index), int(np.prod(wshape)), entries), legend
    return None


NORMALIZATION_FORWARDS = {
    "batch_norm": batch_norm,
    "layer_norm": layer_norm,
    "group_norm": group_norm,
    "instance_norm": instance_norm,
}


register_forwards(NORMALIZATION_FORWARDS)
