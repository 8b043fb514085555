"""Sympy forwards of the N-d convolution and pooling family (issue #13): conv1d, conv3d, max/avg pool 1-D–3-D.

Plain loops over output entries and window taps, straight from each layer's
formula, with a bounds check per tap instead of a padded array — they share
no index arithmetic with the block builders of :mod:`jacobians.ops.convnd`
(only the output size comes from the validated geometry). The 2-D pooling
faces registered here replace the older 2-D-only ones because they also
take ``ceil_mode`` and ``divisor_override``.

Each returns vec(y) as a flat sympy column (C order), like :mod:`symbolic.ops`.
"""
from __future__ import annotations

import itertools
import math

import sympy

from jacobians.geometry import ConvNdGeometry, GeometryError, PoolNdGeometry

from .ops import _number, _obj, column

__all__ = ["conv1d", "conv3d", "max_pool_nd", "avg_pool_nd", "SYMBOLIC_FORWARDS_ND"]


def _conv_nd(x, weight, bias, stride, padding, dilation, groups):
    x, weight = _obj(x, "x"), _obj(weight, "weight")
    nd = weight.ndim - 2
    if x.ndim != nd + 1:
        raise GeometryError(f"x: the symbolic forward takes one unbatched input with {nd} spatial axes (got {x.shape})")
    geom = ConvNdGeometry.from_shapes(x.shape, weight.shape, stride, padding, dilation, groups)
    if bias is not None:
        bias = _obj(bias, "bias")
    cg, og = geom.in_per_group, geom.out_per_group
    out = []
    for o in range(geom.out_channels):
        for i in itertools.product(*map(range, geom.out_spatial)):
            terms = []
            for c in range(cg):
                for a in itertools.product(*map(range, geom.kernel)):
                    q = tuple(i[ax] * geom.stride[ax] - geom.padding[ax][0] + a[ax] * geom.dilation[ax] for ax in range(nd))
                    if all(0 <= q[ax] < geom.spatial[ax] for ax in range(nd)):
                        terms.append(weight[(o, c, *a)] * x[((o // og) * cg + c, *q)])
            if bias is not None:
                terms.append(bias[o])
            out.append(sympy.Add(*terms))
    return column(out)


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> sympy.Matrix:
    """``y[o,i] = b[o] + Σ_{c,a} w[o,c,a] · x[g(o)·C_in/G + c, i·s − p + a·d]`` (taps on padding dropped)."""
    return _conv_nd(x, weight, bias, stride, padding, dilation, groups)


def conv3d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> sympy.Matrix:
    """The 3-D cross-correlation, entry by entry (as :func:`conv1d` on three axes)."""
    return _conv_nd(x, weight, bias, stride, padding, dilation, groups)


def _pool_cells(x, nd, kernel_size, stride, padding, dilation, ceil_mode):
    """Per output (C order): the window's entries as 'input' (value), 'pad' or overflow (left out)."""
    x = _obj(x, "x")
    if x.ndim != nd + 1:
        raise GeometryError(f"x: the symbolic forward takes one unbatched input with {nd} spatial axes (got {x.shape})")
    geom = PoolNdGeometry.from_shapes(x.shape, kernel_size, stride, padding, dilation, ceil_mode, ndim=nd)
    for c in range(geom.channels):
        for i in itertools.product(*map(range, geom.out_spatial)):
            cells = []
            for a in itertools.product(*map(range, geom.kernel)):
                q = tuple(i[ax] * geom.stride[ax] - geom.padding[ax][0] + a[ax] * geom.dilation[ax] for ax in range(nd))
                if all(0 <= q[ax] < geom.spatial[ax] for ax in range(nd)):
                    cells.append(("input", a, x[(c, *q)]))
                elif all(q[ax] < geom.spatial[ax] + geom.padding[ax][1] for ax in range(nd)):
                    cells.append(("pad", a, None))
            yield c, i, cells


def max_pool_nd(nd):
    def max_pool(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, pad_value=-math.inf,
                 ties="first"):
        """Max over each window: inputs, plus ``pad_value`` for padded taps when finite (note 001's 0)."""
        fill = None if float(pad_value) == -math.inf else _number(pad_value)
        out = []
        for _, i, cells in _pool_cells(x, nd, kernel_size, stride, padding, dilation, ceil_mode):
            args = [v for kind, _, v in cells if kind == "input"]
            if fill is not None and any(kind == "pad" for kind, _, _ in cells):
                args.append(fill)
            if not args:
                raise GeometryError(f"padding: window {i} reads only padding, so its max is -inf")
            out.append(sympy.Max(*args))
        return column(out)

    max_pool.__name__ = f"max_pool{nd}d"
    return max_pool


def avg_pool_nd(nd):
    def avg_pool(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        """Window sum over PyTorch's divisor: override, or entries inside the padded input, or on the input."""
        out = []
        for _, _, cells in _pool_cells(x, nd, kernel_size, stride, padding, 1, ceil_mode):
            values = [v for kind, _, v in cells if kind == "input"]
            count = divisor_override or (len(cells) if count_include_pad else len(values))
            out.append(sympy.Add(*values) / sympy.Integer(count))
        return column(out)

    avg_pool.__name__ = f"avg_pool{nd}d"
    return avg_pool


SYMBOLIC_FORWARDS_ND = {
    "conv1d": conv1d,
    "conv3d": conv3d,
    **{f"max_pool{nd}d": max_pool_nd(nd) for nd in (1, 2, 3)},
    **{f"avg_pool{nd}d": avg_pool_nd(nd) for nd in (1, 2, 3)},
}
