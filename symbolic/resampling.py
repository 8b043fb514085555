"""Sympy forwards of transposed convolution, upsampling and adaptive / global pooling (issue #13).

Like :mod:`symbolic.ops`, each forward takes object arrays of sympy
expressions (or numbers) plus the operator's parameters and returns vec(y)
as a flat sympy column in the canonical C order, written as plain loops over
output entries from each layer's defining formula — sharing no index
arithmetic with the builders in :mod:`jacobians.ops`. Weights are exact
rationals (bilinear λ from ``Rational`` scales, averages ``1/(a·b)``).

The one place exact arithmetic and PyTorch part ways is nearest's source
index, which PyTorch computes in float32: ``⌊dst·r⌋`` here is exact, and
the two first differ for output sizes of 82 and more (see
tests/test_upsample.py); the small shapes printed symbolically are far below.

Worked examples printed by tests/test_symbolic_resampling.py:

* :func:`d2l_transposed_conv_matrix` — the 25×4 Jacobian of a 2×2 input
  with a 3×3 kernel at stride 2 (d2l's transposed-convolution example with
  a larger kernel): column (i, j) is the kernel stamped at (2i, 2j);
* :func:`nearest_upsampling_matrix` — the 16×4 0/1 Jacobian of 2×2 → 4×4
  nearest upsampling.
"""
from __future__ import annotations

import math

import numpy as np
import sympy

from jacobians.geometry import GeometryError
from jacobians.registry import OPERATORS, SYMBOLIC, load_all, register_symbolic
from symbolic.ops import _obj, column, jacobian, vec_column
from symbolic.tensors import symbol_tensor

__all__ = [
    "conv_transpose2d",
    "interpolate",
    "adaptive_avg_pool2d",
    "adaptive_max_pool2d",
    "global_avg_pool2d",
    "d2l_transposed_conv_matrix",
    "nearest_upsampling_matrix",
    "RESAMPLING_FORWARDS",
]


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _planes(x):
    """(lead shape, list of plane index tuples) of an array (…, H, W)."""
    lead = x.shape[:-2]
    return lead, list(np.ndindex(*lead))


# ---------------------------------------------------------------------------
# transposed convolution
# ---------------------------------------------------------------------------
def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """vec(y) of ``y[o,p,q] = b[o] + Σ x[c,i,j]·w[c,o',a,b']`` over ``i·s − p + a·d = p`` (per axis), by loops.

    Each output entry collects the input entries whose stamp covers it:
    ``i = (p + pad − a·d)/s`` must be an integer inside the input.
    """
    x = _obj(x, "x")
    weight = _obj(weight, "weight")
    x4 = x[None] if x.ndim == 3 else x
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = (_pair(v) for v in (stride, padding, output_padding, dilation))
    c_in, og, kh, kw = weight.shape
    n, _, h, w = x4.shape
    cg = c_in // groups
    oh = (h - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
    ow = (w - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    if oh < 1 or ow < 1:
        raise GeometryError(f"padding: output size ({oh}, {ow}) must be positive")
    out = []
    for s in range(n):
        for o in range(og * groups):
            g, o_ = divmod(o, og)
            for p in range(oh):
                for q in range(ow):
                    terms = [] if bias is None else [_obj(bias, "bias")[o]]
                    for c in range(g * cg, (g + 1) * cg):
                        for a in range(kh):
                            ni = p + ph - a * dh
                            if ni % sh or not 0 <= ni // sh < h:
                                continue
                            for b in range(kw):
                                nj = q + pw - b * dw
                                if nj % sw or not 0 <= nj // sw < w:
                                    continue
                                terms.append(x4[s, c, ni // sh, nj // sw] * weight[c, o_, a, b])
                    out.append(sympy.Add(*terms))
    return column(out)


# ---------------------------------------------------------------------------
# interpolate
# ---------------------------------------------------------------------------
def _size_and_scale(n, size, scale_factor, axis):
    if size is not None:
        return int(_pair(size)[axis]), None
    sf = _pair(scale_factor)[axis]
    return math.floor(n * sf), sympy.Rational(sf)  # exact binary value of the float factor


def _interp_taps(dst, n, m, scale, mode, align):
    """[(source index, exact weight)] of one output index, straight from PyTorch's rule in exact arithmetic."""
    if mode in ("nearest", "nearest-exact"):
        if mode == "nearest" and m == n:
            return [(dst, sympy.Integer(1))]
        if mode == "nearest" and m == 2 * n:
            return [(dst // 2, sympy.Integer(1))]
        r = 1 / scale if scale is not None else sympy.Rational(n, m)
        src = dst * r if mode == "nearest" else (dst + sympy.Rational(1, 2)) * r
        return [(min(int(sympy.floor(src)), n - 1), sympy.Integer(1))]
    if mode == "bicubic":  # Keys' cubic convolution, A = −3/4, reads clamped; no special case for m = n
        r = 1 / scale if scale is not None else sympy.Rational(n, m)
        half = sympy.Rational(1, 2)
        src = dst * (sympy.Rational(n - 1, m - 1) if m > 1 else 0) if align else r * (dst + half) - half
        i0 = int(sympy.floor(src))
        t, a = src - i0, sympy.Rational(-3, 4)
        kernel = [
            lambda u: ((a * u - 5 * a) * u + 8 * a) * u - 4 * a,  # 1 ≤ |u| < 2
            lambda u: ((a + 2) * u - (a + 3)) * u * u + 1,  # |u| ≤ 1
        ]
        weights = [kernel[0](t + 1), kernel[1](t), kernel[1](1 - t), kernel[0](2 - t)]
        return [(min(max(i0 - 1 + k, 0), n - 1), weights[k]) for k in range(4)]
    if m == n:
        return [(dst, sympy.Integer(1))]
    if align:
        src = dst * (sympy.Rational(n - 1, m - 1) if m > 1 else 0)
    else:
        r = 1 / scale if scale is not None else sympy.Rational(n, m)
        src = sympy.Max(r * (dst + sympy.Rational(1, 2)) - sympy.Rational(1, 2), 0)
    i0 = int(sympy.floor(src))
    lam = src - i0
    return [(i0, 1 - lam), (min(i0 + 1, n - 1), lam)]


def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None,
                antialias=False):
    """vec(y) of ``y[c,p,q] = Σ u_p(i)·v_q(j)·x[c,i,j]`` with exact weights from PyTorch's index rules.

    ``recompute_scale_factor=True`` indexes with n/m although scale_factor was given; antialias must be False.
    """
    if antialias:
        raise GeometryError("antialias: not supported")
    x = _obj(x, "x")
    n_h, n_w = x.shape[-2:]
    oh, sh = _size_and_scale(n_h, size, scale_factor, 0)
    ow, sw = _size_and_scale(n_w, size, scale_factor, 1)
    if recompute_scale_factor:
        sh = sw = None
    align = bool(align_corners)
    _, planes = _planes(x)
    out = []
    for plane in planes:
        for p in range(oh):
            for q in range(ow):
                out.append(
                    sympy.Add(
                        *[
                            u * v * x[plane + (i, j)]
                            for i, u in _interp_taps(p, n_h, oh, sh, mode, align)
                            for j, v in _interp_taps(q, n_w, ow, sw, mode, align)
                        ]
                    )
                )
    return column(out)


# ---------------------------------------------------------------------------
# adaptive / global pooling
# ---------------------------------------------------------------------------
def _adaptive_size(output_size, n_h, n_w):
    items = _pair(output_size)
    return tuple(n if v is None else int(v) for v, n in zip(items, (n_h, n_w)))


def _adaptive_windows(output_size, x):
    n_h, n_w = x.shape[-2:]
    oh, ow = _adaptive_size(output_size, n_h, n_w)
    for p in range(oh):
        for q in range(ow):
            # PyTorch's start_index / end_index: floor(p·H/OH), ceil((p+1)·H/OH)
            rows = range(math.floor(sympy.Rational(p * n_h, oh)), math.ceil(sympy.Rational((p + 1) * n_h, oh)))
            cols = range(math.floor(sympy.Rational(q * n_w, ow)), math.ceil(sympy.Rational((q + 1) * n_w, ow)))
            yield rows, cols


def adaptive_avg_pool2d(x, output_size):
    """vec(y): each output the exact mean ``(1/(a·b)) Σ`` of its adaptive window."""
    x = _obj(x, "x")
    _, planes = _planes(x)
    out = []
    for plane in planes:
        for rows, cols in _adaptive_windows(output_size, x):
            total = sympy.Add(*[x[plane + (i, j)] for i in rows for j in cols])
            out.append(total / (len(rows) * len(cols)))
    return column(out)


def adaptive_max_pool2d(x, output_size, return_indices=False):
    """vec(y): each output ``Max`` of its adaptive window (sympy's derivative splits ties; see test_symbolic_ops)."""
    x = _obj(x, "x")
    _, planes = _planes(x)
    return column(
        sympy.Max(*[x[plane + (i, j)] for i in rows for j in cols])
        for plane in planes
        for rows, cols in _adaptive_windows(output_size, x)
    )


def global_avg_pool2d(x):
    """vec(y): the mean of every plane."""
    return adaptive_avg_pool2d(x, 1)


RESAMPLING_FORWARDS = {
    "conv_transpose2d": conv_transpose2d,
    "interpolate": interpolate,
    "adaptive_avg_pool2d": adaptive_avg_pool2d,
    "adaptive_max_pool2d": adaptive_max_pool2d,
    "global_avg_pool2d": global_avg_pool2d,
}


# ---------------------------------------------------------------------------
# worked examples
# ---------------------------------------------------------------------------
def d2l_transposed_conv_matrix(kernel=3, stride=2):
    """The Jacobian ∂vec(Y)/∂vec(X) (25×4 by default) of a 2×2 input X with a kernel×kernel kernel K.

    Differentiates the sympy forward; column (i, j) holds K stamped at
    (stride·i, stride·j) of the (stride + kernel)×(stride + kernel) output.
    """
    x = symbol_tensor("X", (2, 2)).reshape(1, 2, 2)  # named X₁₁ … X₂₂, K₁₁ … as in the textbook
    k = symbol_tensor("K", (kernel, kernel)).reshape(1, 1, kernel, kernel)
    y = conv_transpose2d(x, k, stride=stride)
    return jacobian(y, vec_column(x))


def nearest_upsampling_matrix():
    """The 16×4 Jacobian of 2×2 → 4×4 nearest upsampling (``scale_factor=2``), by differentiation."""
    x = symbol_tensor("X", (2, 2)).reshape(1, 2, 2)
    return jacobian(interpolate(x, scale_factor=2), vec_column(x))


def _register():
    load_all()
    for name, fn in RESAMPLING_FORWARDS.items():
        if name in OPERATORS and name not in SYMBOLIC:
            register_symbolic(name, fn)


_register()
