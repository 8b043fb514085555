"""A generated sweep of malformed and unusual calls of the public Python API (issue #12).

Every call of a public callable (``jacobians.__all__``) ends in exactly one of:

* a value — and where an oracle exists it is compared with it: the loops of
  :mod:`jacobians.ops._references` (or loops written here), probed column by
  column for the Jacobian builders; never the package's own code path;
* one exception of the refusing kinds (ValueError, TypeError, KeyError,
  NotImplementedError — but not numpy's AxisError, which is also an
  IndexError) whose message is one line starting with a parameter name of the
  callable, and which was raised by the package itself, not from inside
  numpy or scipy.

Anything else — IndexError, ZeroDivisionError, OverflowError, MemoryError,
AssertionError, CSRBuildError, a traceback ending inside numpy/scipy, a
multi-line or unnamed message, a value that disagrees with its oracle — is
a failure. The sweep is two parts: a table of valid base calls, each with
every argument replaced in turn by every value of a list of bad or unusual
values; and hypothesis-generated geometries (valid and invalid) for the
convolution and pooling builders (tests/test_api_fuzz_hypothesis.py, same
judge). The counts are printed (``-s``) and asserted (≥ 1,000 calls each).
"""
from __future__ import annotations

import math
import os
import re
import traceback
from collections import Counter

import numpy as np
import pytest
import scipy.sparse as sp

import jacobians as jb
from jacobians.ops import _references as R

RNG = np.random.default_rng(2026)
PACKAGE_DIR = os.path.dirname(jb.__file__)

# ---------------------------------------------------------------------------
# the bad / unusual values every argument is replaced by
# ---------------------------------------------------------------------------
BAD_VALUES = {
    "None": None,
    "str": "abc",
    "str-False": "False",
    "neg": -1,
    "zero": 0,
    "float-2.7": 2.7,
    "float-3.0": 3.0,
    "huge": 10**20,
    "cap": 2**31 - 1,
    "nan": float("nan"),
    "inf": float("inf"),
    "bool": True,
    "complex": 1 + 2j,
    "empty-list": [],
    "ragged": [[1, 2], [3]],
    "complex-array": np.array([[1 + 1j, 2.0]]),
    "empty-array": np.zeros((0,)),
    "rank5": np.ones((1, 1, 1, 2, 2)),
    "object": object(),
    "dict": {"a": 1},
    "np-int": np.int64(2),
    "pair": (2, 3),
    "int8-array": np.ones(3, dtype=np.int8),
    "str-array": np.array(["a", "b"]),
    "nan-array": np.full((2, 3, 3), np.nan),
}

# ---------------------------------------------------------------------------
# valid base calls: name -> (args, kwargs)
# ---------------------------------------------------------------------------
X3 = RNG.standard_normal((2, 4, 5))
W4 = RNG.standard_normal((3, 2, 2, 3))
B3 = RNG.standard_normal(3)
M = RNG.standard_normal((3, 4))
P = np.array([0.2, 0.3, 0.5])
Y = np.array([0.0, 1.0, 0.0])

BASE = {
    "conv2d": ((X3, W4, B3), dict(stride=1, padding=1, dilation=1, groups=1)),
    "conv2d_input_jacobian": ((W4, (2, 4, 5)), dict(stride=2, padding=1, dilation=1, groups=1)),
    "conv2d_weight_jacobian": ((X3, W4.shape), dict(stride=1, padding=(1, 0), dilation=1, groups=1)),
    "conv2d_bias_jacobian": (((3, 2, 2),), {}),
    "im2col": ((X3, (2, 2)), dict(stride=1, padding=1, dilation=1)),
    "im2col_jacobian": (((2, 4, 5), (2, 2)), dict(stride=1, padding=1, dilation=1)),
    "col2im": ((np.ones((12, 8)), (2, 4, 5), (2, 2)), dict(stride=1, padding=0, dilation=1)),
    "max_pool2d": ((X3, 2), dict(stride=1, padding=1, dilation=1)),
    "max_pool2d_jacobian": ((X3, 2), dict(stride=1, padding=1, dilation=1)),
    "max_pool2d_switches": ((X3, 2), dict(stride=2, padding=0)),
    "avg_pool2d": ((X3, 2), dict(stride=1, padding=1, count_include_pad=False)),
    "avg_pool2d_jacobian": (((2, 4, 5), 2), dict(stride=1, padding=1, count_include_pad=True)),
    "relu": ((X3,), {}),
    "relu_jacobian": ((X3,), {}),
    "relu_mask": ((X3,), {}),
    "relu_jacobian_from_mask": ((X3,), {}),
    "sigmoid": ((X3,), {}),
    "sigmoid_jacobian": ((X3,), {}),
    "tanh": ((X3,), {}),
    "tanh_jacobian": ((X3,), {}),
    "softmax": ((B3,), {}),
    "softmax_jacobian": ((B3,), dict(sparse=True)),
    "cross_entropy": ((P, Y), {}),
    "cross_entropy_jacobian": ((P, Y), {}),
    "soft_cross_entropy": ((P, P), {}),
    "softmax_cross_entropy": ((B3, Y), {}),
    "softmax_cross_entropy_grad": ((B3, Y), {}),
    "softmax_cross_entropy_grad_note004": ((B3, Y), {}),
    "softmax_cross_entropy_grad_onehot": ((B3, Y), {}),
    "softmax_soft_cross_entropy": ((B3, P), {}),
    "frobenius_loss": ((M, M + 1), {}),
    "frobenius_loss_jacobian": ((M, M + 1), dict(wrt="x")),
    "linear": ((M, RNG.standard_normal((2, 4)), np.ones(2)), {}),
    "linear_input_jacobian": ((RNG.standard_normal((2, 4)), (3, 4)), {}),
    "linear_weight_jacobian": ((M, (2, 4)), {}),
    "linear_bias_jacobian": (((3, 2),), {}),
    "linear_xwt": ((M, RNG.standard_normal((2, 4))), {}),
    "linear_xwt_input_jacobian": ((M, RNG.standard_normal((2, 4))), {}),
    "linear_xwt_weight_jacobian": ((M, RNG.standard_normal((2, 4))), {}),
    "linear_xw_b": ((M, RNG.standard_normal((4, 2)), np.ones(2)), {}),
    "linear_xw_b_input_jacobian": ((M, RNG.standard_normal((4, 2)), np.ones(2)), {}),
    "linear_xw_b_weight_jacobian": ((M, RNG.standard_normal((4, 2)), np.ones(2)), {}),
    "linear_xw_b_bias_jacobian": ((M, RNG.standard_normal((4, 2)), np.ones(2)), {}),
    "linear_wvec_b": ((M, RNG.standard_normal((2, 12)), np.ones(2)), {}),
    "linear_wvec_b_input_jacobian": ((M, RNG.standard_normal((2, 12)), np.ones(2)), {}),
    "linear_wvec_b_weight_jacobian": ((M, RNG.standard_normal((2, 12)), np.ones(2)), {}),
    "linear_wtb_b": ((B3, RNG.standard_normal((3, 2)), np.ones(2)), {}),
    "linear_wtb_b_input_jacobian": ((B3, RNG.standard_normal((3, 2)), np.ones(2)), {}),
    "linear_wtb_b_weight_jacobian": ((B3, RNG.standard_normal((3, 2)), np.ones(2)), {}),
    "linear_wtb_b_row_jacobians": ((np.ones(2), B3, RNG.standard_normal((3, 2))), {}),
    "selection_matrix": (([2, 0, 1], 3), {}),
    "vec": ((X3, jb.get_convention("vardhan2022")), {}),
    "unvec": ((X3.ravel(), (2, 4, 5), jb.get_convention("vardhan2022")), {}),
    "vec_jacobian": (((2, 4, 5), "vardhan2022"), {}),
    "convert_vec": ((X3.ravel(), (2, 4, 5), "canonical", "matlab"), {}),
    "convert_vec_jacobian": (((2, 4, 5), "canonical", "matlab"), {}),
    "reshape_jacobian": (((2, 4, 5), (5, -1)), dict(order="F")),
    "transpose_jacobian": (((2, 4, 5), (1, 2, 0)), {}),
    "flatten_jacobian": (((2, 4, 5),), dict(start_dim=1, end_dim=-1)),
    "stack_jacobian": ((1, 3, 4), {}),
    "select_jacobian": (((3, 2, 2), 1), {}),
    "commutation_matrix": ((3, 4), {}),
    "kron_filter_form": ((M, 2), {}),
    "kron_patch_form": ((M, 2), {}),
    "xu2020_filter_matrix": ((W4,), dict(reshape="corrected")),
    "xu2020_output_matrix": ((X3,), {}),
    "vardhan2022_channel_rows": ((np.ones((1, 12)), 3), {}),
    "output_size": ((5, 3, 2, 1, 1, 1), {}),
    "get_convention": (("vardhan2022",), {}),
    "get_operator": (("conv2d",), {}),
    "Link": (("a", M), {}),
    "Chain": (([M, RNG.standard_normal((2, 3))],), dict(name="c")),
    "fan_out": (("f", [M, M + 1]), {}),
    "fan_out_gradient": (([np.ones((1, 3))], [M]), {}),
}

#: a refusal may name the parameter the user passed, or the derived name the rule is about
ALIASES = {
    "conv2d": {"weight_shape", "input_shape", "kernel_size", "kernel"},
    "conv2d_input_jacobian": {"weight_shape", "kernel_size", "max_bytes"},
    "conv2d_weight_jacobian": {"input_shape", "kernel_size", "max_bytes"},
    "im2col": {"input_shape", "kernel_size"},
    "im2col_jacobian": {"kernel_size", "max_bytes"},
    "col2im": {"kernel_size"},
    "max_pool2d": {"input_shape"},
    "max_pool2d_jacobian": {"input_shape", "max_bytes"},
    "max_pool2d_switches": {"input_shape", "max_bytes"},
    "avg_pool2d": {"input_shape"},
    "avg_pool2d_jacobian": {"max_bytes"},
    "softmax": {"s"},
    "conv2d_bias_jacobian": {"max_bytes"},
    "linear": {"x"},
    "Link": {"matrix", "link"},
    "Chain": {"matrix", "link", "chain"},
    "fan_out": {"matrix", "link", "fan_out"},
    "unvec": {"vector", "shape"},
    "vec": {"tensor", "convention"},
    "get_convention": {"convention"},
    "get_operator": {"operator"},
    "fan_out_gradient": {"rows", "jacobians"},
}
COMMON = {"max_bytes"}

#: value-returning calls the sweep found no oracle for (reported; the table test wants none)
NO_ORACLE = Counter()

FORBIDDEN = (IndexError, ZeroDivisionError, OverflowError, MemoryError, AssertionError, RuntimeError,
             AttributeError, FloatingPointError, RecursionError)
ALLOWED = (ValueError, TypeError, KeyError, NotImplementedError)  # OperatorTooLargeError is a ValueError


# ---------------------------------------------------------------------------
# oracles: loops (references), probed column by column for Jacobians
# ---------------------------------------------------------------------------
def _probe(f, shape):
    """Dense Jacobian of a linear map by its columns f(e_k)."""
    shape = tuple(int(s) for s in (shape if hasattr(shape, "__iter__") else (shape,)))
    n = math.prod(shape)
    cols = []
    for k in range(n):
        e = np.zeros(n)
        e[k] = 1.0
        cols.append(np.asarray(f(e.reshape(shape)), dtype=np.float64).ravel())
    return np.stack(cols, axis=1) if cols else np.zeros((0, 0))


def _geom_kw(kw, names=("stride", "padding", "dilation", "groups")):
    return {k: kw[k] for k in names if k in kw}


def _normalize(v):
    """Integral floats and numpy ints as Python ints (what the package accepts), for the loop oracles."""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return int(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, tuple):
        return tuple(_normalize(u) for u in v)
    return v


def _same(kw, kernel):
    kw = {k: _normalize(v) for k, v in kw.items()}
    if kw.get("padding") == "valid":
        kw["padding"] = 0
    if kw.get("padding") == "same":
        d = R._two(kw.get("dilation", 1))
        kw["padding"] = tuple(x for k, dd in zip(kernel, d) for x in (dd * (k - 1) // 2, dd * (k - 1) - dd * (k - 1) // 2))
    return kw


def _conv_kw(args, kw, weight_shape):
    names = ("weight", "input_shape", "stride", "padding", "dilation", "groups")
    return _same(_geom_kw(kw), weight_shape[2:])


def _oracle_conv2d(args, kw):
    x, w = np.asarray(args[0], dtype=float), np.asarray(args[1], dtype=float)
    bias = args[2] if len(args) > 2 else kw.get("bias")
    return R.conv2d_reference(x, w, bias, **_conv_kw(args, kw, w.shape))


def _oracle_conv_in(args, kw):
    w, shape = np.asarray(args[0], dtype=float), tuple(_normalize(s) for s in args[1])
    return _probe(lambda x: R.conv2d_reference(x, w, None, **_conv_kw(args, kw, w.shape)), shape)


def _oracle_conv_w(args, kw):
    x, wshape = np.asarray(args[0], dtype=float), tuple(_normalize(s) for s in args[1])
    return _probe(lambda w: R.conv2d_reference(x, w, None, **_conv_kw(args, kw, wshape)), wshape)


def _oracle_im2col_jac(args, kw):
    shape = tuple(_normalize(s) for s in args[0])
    kernel = R._two(_normalize(args[1]))
    gk = _same(_geom_kw(kw, ("stride", "padding", "dilation")), kernel)

    def f(x):
        if x.ndim == 4:
            return np.stack([R.im2col_reference(s, kernel, **gk) for s in x])
        return R.im2col_reference(x, kernel, **gk)

    return _probe(f, shape)


def _oracle_avg_jac(args, kw):
    shape = tuple(_normalize(s) for s in args[0])
    gk = {k: _normalize(v) for k, v in kw.items() if k in ("stride", "padding", "count_include_pad")}
    gk["padding"] = 0 if gk.get("padding") == "valid" else gk.get("padding", 0)
    return _probe(lambda x: R.avg_pool2d_reference(x, _normalize(args[1]), **gk), shape)


def _pool_kw(kw, names):
    out = {k: _normalize(v) for k, v in kw.items() if k in names}
    if out.get("padding") == "valid":
        out["padding"] = 0
    return out


ORACLES = {
    "conv2d": _oracle_conv2d,
    "conv2d_input_jacobian": _oracle_conv_in,
    "conv2d_weight_jacobian": _oracle_conv_w,
    "im2col_jacobian": _oracle_im2col_jac,
    "im2col": lambda a, k: R.im2col_reference(a[0], R._two(_normalize(a[1])), **_same(_geom_kw(k, ("stride", "padding", "dilation")), R._two(_normalize(a[1])))),
    "avg_pool2d_jacobian": _oracle_avg_jac,
    "max_pool2d": lambda a, k: R.max_pool2d_reference(a[0], _normalize(a[1]), **_pool_kw(k, ("stride", "padding", "dilation", "pad_value"))),
    "avg_pool2d": lambda a, k: R.avg_pool2d_reference(a[0], _normalize(a[1]), **_pool_kw(k, ("stride", "padding", "count_include_pad"))),
    "relu": lambda a, k: R.relu_reference(a[0]),
    "sigmoid": lambda a, k: R.sigmoid_reference(a[0]),
    "tanh": lambda a, k: R.tanh_reference(a[0]),
    "relu_jacobian": lambda a, k: np.diag((R.relu_reference(a[0]) > 0).ravel().astype(float)),
    "sigmoid_jacobian": lambda a, k: np.diag((lambda s: s * (1 - s))(R.sigmoid_reference(a[0])).ravel()),
    "tanh_jacobian": lambda a, k: np.diag(1 - R.tanh_reference(a[0]).ravel() ** 2),
    "softmax": lambda a, k: R.softmax_reference(a[0]),
    "softmax_cross_entropy": lambda a, k: R.softmax_cross_entropy_reference(a[0], a[1]),
    "frobenius_loss": lambda a, k: R.frobenius_loss_reference(a[0], a[1]),
    "linear": lambda a, k: R.linear_xw_b_reference(np.atleast_2d(a[0]), R._transposed(a[1]), a[2] if len(a) > 2 else None).reshape(*np.shape(a[0])[:-1], -1),
    "linear_xwt": lambda a, k: R.linear_xwt_reference(a[0], a[1]),
    "linear_xw_b": lambda a, k: R.linear_xw_b_reference(*a),
    "linear_wvec_b": lambda a, k: R.linear_wvec_b_reference(*a),
    "linear_wtb_b": lambda a, k: R.linear_wtb_b_reference(*a),
    "reshape_jacobian": lambda a, k: _probe(lambda x: R.reshape_reference(x, a[1], k.get("order", "C")), a[0]),
    "transpose_jacobian": lambda a, k: _probe(lambda x: R.transpose_reference(x, a[1] if len(a) > 1 else None), a[0]),
    "flatten_jacobian": lambda a, k: np.eye(math.prod(int(s) for s in np.atleast_1d(a[0]))),
    "selection_matrix": lambda a, k: _sparse_loops((np.size(a[0]), int(a[1])), [(r, int(c)) for r, c in enumerate(np.ravel(a[0]))]),
    "vec_jacobian": lambda a, k: _probe(lambda x: R.vec_reference(x, a[1]), a[0]),
    "convert_vec_jacobian": lambda a, k: _probe(lambda v: R.convert_vec_reference(v, np.atleast_1d(a[0]), a[1], a[2]), (math.prod(int(s) for s in np.atleast_1d(a[0])),)),
}


def _f(a):
    return np.asarray(a, dtype=np.float64)


def _loops_matrix(shape, entry):
    out = np.zeros(shape)
    for i in range(shape[0]):
        for j in range(shape[1]):
            out[i, j] = entry(i, j)
    return out


def _oracle_bias_jac(a, k):
    dims = tuple(int(v) for v in a[0])
    c_out, oh, ow = dims[-3:]
    rows = math.prod(dims)
    return _loops_matrix((rows, c_out), lambda r, o: 1.0 if (r // (oh * ow)) % c_out == o else 0.0)


def _oracle_col2im(a, k):
    shape, kernel = tuple(int(v) for v in a[1]), R._two(_normalize(a[2]))
    gk = _same(_geom_kw(k, ("stride", "padding", "dilation")), kernel)
    jac = _probe(lambda x: R.im2col_reference(x, kernel, **gk), shape)  # im2col, then its transpose
    cols = _f(a[0])
    if cols.ndim == 3:
        return np.stack([(jac.T @ c.ravel()).reshape(shape) for c in cols])
    return (jac.T @ cols.ravel()).reshape(shape)


def _oracle_max_jac(a, k):
    """The first maximum of each window (row-major, or column-major for ties='first-colmajor'), by loops."""
    x = _f(a[0])
    x3 = x.reshape(-1, *x.shape[-2:])
    kh, kw = R._two(_normalize(a[1]))
    stride = _normalize(k.get("stride"))
    sh, sw = (kh, kw) if stride is None else R._two(stride)
    dh, dw = R._two(_normalize(k.get("dilation", 1)))
    pt, pb, pl, pr = R._sides(0 if k.get("padding", 0) == "valid" else _normalize(k.get("padding", 0)))
    pad_value = float(k.get("pad_value", -math.inf))
    colmajor = k.get("ties", "first") == "first-colmajor"
    c, h, w = x3.shape
    oh = R._out_len(h, kh, sh, pt, pb, dh)
    ow = R._out_len(w, kw, sw, pl, pr, dw)
    out = np.zeros((c * oh * ow, c * h * w))
    taps = [(ta, tb) for tb in range(kw) for ta in range(kh)] if colmajor else [(ta, tb) for ta in range(kh) for tb in range(kw)]
    for ch in range(c):
        for i in range(oh):
            for j in range(ow):
                best, where = None, None
                for ta, tb in taps:
                    r, q = i * sh + ta * dh - pt, j * sw + tb * dw - pl
                    v = float(x3[ch, r, q]) if 0 <= r < h and 0 <= q < w else pad_value
                    if best is None or v > best:
                        best, where = v, ((ch * h + r) * w + q if 0 <= r < h and 0 <= q < w else None)
                if where is not None:
                    out[(ch * oh + i) * ow + j, where] = 1.0
    return out


def _oracle_softmax_jac(a, k):
    """A vector: p_i(δ_ij − p_j). Any other shape (the documented semantics): softmax along ``dim``,
    so ∂p_i/∂s_j = p_i(δ_ij − p_j) when i and j lie in one slice along dim (same other indices), else 0."""
    s = _f(a[0])
    if s.ndim == 1:
        p = R.softmax_reference(s)
        return _loops_matrix((p.size, p.size), lambda i, j: p[i] * ((i == j) - p[j]))
    axis = int(k.get("dim", a[1] if len(a) > 1 else -1)) % s.ndim
    idx = list(np.ndindex(*s.shape))
    p = {}
    for i in idx:  # each entry's softmax over its own slice along axis, from the vector reference
        sl = [s[i[:axis] + (c,) + i[axis + 1:]] for c in range(s.shape[axis])]
        p[i] = R.softmax_reference(np.array(sl))[i[axis]]
    same = lambda i, j: i[:axis] + i[axis + 1:] == j[:axis] + j[axis + 1:]  # noqa: E731
    return _loops_matrix((len(idx), len(idx)), lambda r, c: p[idx[r]] * ((r == c) - p[idx[c]]) if same(idx[r], idx[c]) else 0.0)


def _oracle_sce_grad(a, k):
    """∂l/∂s_j = Σ_i −y_i/(yᵀp) · p_i(δ_ij − p_j), l = −log(yᵀ softmax(s))."""
    p, y = R.softmax_reference(a[0]), _f(a[1])
    yp = math.fsum(y[i] * p[i] for i in range(p.size))
    return np.array([math.fsum(-y[i] / yp * p[i] * ((i == j) - p[j]) for i in range(p.size)) for j in range(p.size)])


def _probe_linear(ref, args, which, shape):
    """Columns f(e_k) − f(0) of an affine map (the bias makes f(0) ≠ 0)."""
    args = list(args)

    def f(v):
        args[which] = v
        return _f(ref(*args))

    f0 = f(np.zeros(shape))
    return _probe(lambda v: f(v) - f0, shape)


def _oracle_linear_in(a, k):
    w = _f(a[0])
    return _probe(lambda x: R.linear_xw_b_reference(np.atleast_2d(x), R._transposed(w)), tuple(int(v) for v in a[1]))


def _oracle_linear_w(a, k):
    x = _f(a[0])
    return _probe(lambda w: R.linear_xw_b_reference(np.atleast_2d(x), R._transposed(w)), tuple(int(v) for v in a[1]))


def _oracle_linear_b(a, k):
    dims = tuple(int(v) for v in a[0])
    return _loops_matrix((math.prod(dims), dims[-1]), lambda r, o: float(r % dims[-1] == o))


def _linear_family(ref, which):
    def oracle(a, k):
        args = [_f(v) if v is not None else None for v in a]
        if args[which] is None:  # the Jacobian w.r.t. an absent bias: probe a zero bias of the output's size
            args[which] = np.zeros(_f(ref(*args)).shape[-1])
        return _probe_linear(ref, args, which, args[which].shape)

    return oracle


def _oracle_row_jacobians(a, k):
    row, b, w = _f(a[0]).reshape(1, -1), _f(a[1]).reshape(-1, 1), _f(a[2])
    return (R._matmul(R._transposed(row), R._transposed(b)), R._matmul(row, R._transposed(w)), row)


def _c_flat(a):
    a = _f(a)
    return [float(a[idx]) for idx in np.ndindex(*a.shape)]


def _oracle_filter_matrix(a, k):
    w = _f(a[0])
    fn, flat = w.shape[0], _c_flat(w)
    per = len(flat) // fn
    if k.get("reshape", "corrected") == "corrected":
        return _loops_matrix((per, fn), lambda r, f: flat[f * per + r])
    return _loops_matrix((per, fn), lambda r, f: flat[r * fn + f])


def _oracle_unvec(a, k):
    shape = tuple(int(v) for v in a[1])
    conv = a[2] if len(a) > 2 else None
    out = np.zeros(shape)
    for value, idx in zip(np.ravel(a[0]), R._walk(shape, R._walk_order(len(shape), conv or "canonical"))):
        out[idx] = value
    return out


def _sparse_loops(shape, ones):
    """A 0/1 matrix from (row, column) pairs listed by loops (sparse: the shapes may be huge)."""
    rows = [r for r, _ in ones]
    cols = [c for _, c in ones]
    return sp.csr_array((np.ones(len(ones)), (rows, cols)), shape=shape)


def _oracle_select(a):
    shape = tuple(int(v) for v in np.atleast_1d(a[0]))
    t = math.prod(shape[1:])
    return _sparse_loops((t, math.prod(shape)), [(r, int(a[1]) * t + r) for r in range(t)])


ORACLES.update({
    "conv2d_bias_jacobian": _oracle_bias_jac,
    "col2im": _oracle_col2im,
    "max_pool2d_jacobian": _oracle_max_jac,
    "relu_mask": lambda a, k: (R.relu_reference(a[0]) > 0).astype(float),
    "relu_jacobian_from_mask": lambda a, k: np.diag((R.relu_reference(a[0]) > 0).ravel().astype(float)),
    "softmax_jacobian": _oracle_softmax_jac,
    "cross_entropy": lambda a, k: np.asarray(-math.log(math.fsum(float(u) * float(v) for u, v in zip(a[0], a[1])))),
    "cross_entropy_jacobian": lambda a, k: (-_f(a[1]) / math.fsum(float(u) * float(v) for u, v in zip(a[0], a[1])))[None, :],
    "soft_cross_entropy": lambda a, k: np.asarray(-math.fsum(float(v) * math.log(float(u)) for u, v in zip(a[0], a[1]) if v > 0)),
    "softmax_cross_entropy_grad": _oracle_sce_grad,
    "softmax_cross_entropy_grad_note004": _oracle_sce_grad,
    "softmax_cross_entropy_grad_onehot": _oracle_sce_grad,
    "softmax_soft_cross_entropy": lambda a, k: R.softmax_soft_cross_entropy_reference(a[0], a[1]),
    "frobenius_loss_jacobian": lambda a, k: ((_f(a[0]) - _f(a[1])).ravel() * (1 if k.get("wrt", "x") == "x" else -1))[None, :],
    "linear_input_jacobian": _oracle_linear_in,
    "linear_weight_jacobian": _oracle_linear_w,
    "linear_bias_jacobian": _oracle_linear_b,
    "linear_xwt_input_jacobian": _linear_family(R.linear_xwt_reference, 0),
    "linear_xwt_weight_jacobian": _linear_family(R.linear_xwt_reference, 1),
    "linear_xw_b_input_jacobian": _linear_family(R.linear_xw_b_reference, 0),
    "linear_xw_b_weight_jacobian": _linear_family(R.linear_xw_b_reference, 1),
    "linear_xw_b_bias_jacobian": _linear_family(R.linear_xw_b_reference, 2),
    "linear_wvec_b_input_jacobian": _linear_family(R.linear_wvec_b_reference, 0),
    "linear_wvec_b_weight_jacobian": _linear_family(R.linear_wvec_b_reference, 1),
    "linear_wtb_b_input_jacobian": _linear_family(R.linear_wtb_b_reference, 0),
    "linear_wtb_b_weight_jacobian": _linear_family(R.linear_wtb_b_reference, 1),
    "linear_wtb_b_row_jacobians": _oracle_row_jacobians,
    "vec": lambda a, k: np.array([np.asarray(a[0])[i] for i in R._walk(np.shape(a[0]), R._walk_order(np.ndim(a[0]), (a[1] if len(a) > 1 else None) or "canonical"))]),
    "unvec": _oracle_unvec,
    "convert_vec": lambda a, k: R.convert_vec_reference(a[0], tuple(int(v) for v in a[1]), *a[2:]),
    "stack_jacobian": lambda a, k: _loops_matrix((int(a[1]) * int(a[2]), int(a[2])), lambda r, c: float(r == int(a[0]) * int(a[2]) + c)),
    "select_jacobian": lambda a, k: _oracle_select(a),
    "commutation_matrix": lambda a, k: _loops_matrix((int(a[0]) * int(a[1]),) * 2, lambda r, c: float(c == (r % int(a[1])) * int(a[0]) + r // int(a[1]))),
    "kron_filter_form": lambda a, k: np.kron(np.eye(int(a[1])), _f(a[0])),
    "kron_patch_form": lambda a, k: np.kron(_f(a[0]).T, np.eye(int(a[1]))),
    "xu2020_filter_matrix": _oracle_filter_matrix,
    "xu2020_output_matrix": lambda a, k: _loops_matrix((_f(a[0])[0].size, _f(a[0]).shape[0]), lambda p, f: _c_flat(_f(a[0])[f])[p]),
    "vardhan2022_channel_rows": lambda a, k: _loops_matrix((int(a[1]), _f(a[0]).size // int(a[1])), lambda c, j: _c_flat(a[0])[c * (_f(a[0]).size // int(a[1])) + j]),
    # the window starts t = 0, s, 2s, … with t + d(k − 1) ≤ size + pads − 1, counted by Python's range
    "output_size": lambda a, k: np.asarray(len(range(0, int(a[0]) + int(a[3]) + int(a[4]) - int(a[5]) * (int(a[1]) - 1), int(a[2])))),
    "Link": lambda a, k: _f(a[1]),
    "Chain": lambda a, k: R._matmul(_f(a[0][1]), _f(a[0][0])),  # data-flow order: J_2 J_1
    "fan_out": lambda a, k: _f(a[1][0]) + _f(a[1][1]),
    "fan_out_gradient": lambda a, k: sum(_f(r).ravel() @ _f(j) for r, j in zip(a[0], a[1])),
})

#: results that are objects, not numbers (compared by kind only)
NON_NUMERIC = {"get_convention", "get_operator"}

#: oracles that probe a linear map column by column (0·NaN = NaN hides where a Jacobian entry is NaN)
PROBED = {"conv2d_input_jacobian", "conv2d_weight_jacobian", "im2col_jacobian", "avg_pool2d_jacobian"}


def _dense(v):
    return v.toarray() if sp.issparse(v) else np.asarray(v, dtype=np.float64)


PROBED |= {"linear_input_jacobian", "linear_weight_jacobian", "select_jacobian", "col2im"} | {
    n for n in ORACLES if n.startswith("linear_") and n.endswith("_jacobian")}


# ---------------------------------------------------------------------------
# the judge
# ---------------------------------------------------------------------------
def _param_names(name):
    import inspect

    fn = getattr(jb, name)
    try:
        names = set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        names = set()
    return names | ALIASES.get(name, set()) | COMMON


def judge(name, args, kwargs, tally):
    """Call jacobians.<name>(*args, **kwargs); return None if the outcome obeys the rules, else why not."""
    fn = getattr(jb, name)
    try:
        value = fn(*args, **kwargs)
    except ALLOWED as exc:
        frames = traceback.extract_tb(exc.__traceback__)
        if (isinstance(exc, TypeError) and len(frames) == 1
                and re.search(r"unexpected keyword argument|required positional argument|positional arguments? but", str(exc))):
            tally["refused by the signature"] += 1  # Python's own one-line check of the call, before any package code
            return None
        if isinstance(exc, getattr(np, "exceptions", np).AxisError):
            return f"numpy AxisError escaped: {exc}"
        if isinstance(exc, FORBIDDEN):
            return f"{type(exc).__name__} escaped: {exc}"
        frames = traceback.extract_tb(exc.__traceback__)
        origin = frames[-1].filename if frames else ""
        if not origin.startswith(PACKAGE_DIR):
            return f"{type(exc).__name__} raised inside {origin}: {exc}"
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        msg = str(msg)
        if "\n" in msg or len(msg) > 400:
            return f"message not one short line: {msg[:200]!r}"
        head = re.split(r"[:\[ (,]", msg, maxsplit=1)[0]
        if head not in _param_names(name):
            return f"message does not start with a parameter name ({sorted(_param_names(name))}): {msg!r}"
        tally["refused"] += 1
        return None
    except BaseException as exc:  # noqa: BLE001 - anything else is a failure of the rule
        origin = traceback.extract_tb(exc.__traceback__)[-1].filename
        return f"{type(exc).__name__} from {origin}: {str(exc)[:200]}"
    if name in NON_NUMERIC:
        tally["value (an object, not numeric)"] += 1
        return None
    if name == "max_pool2d_switches":
        value, name = value.values, "max_pool2d"
    if name in ("Link", "Chain", "fan_out"):
        value = value.jacobian()
    oracle = ORACLES.get(name)
    if name in PROBED and not all(np.all(np.isfinite(a)) for a in args if isinstance(a, np.ndarray) and a.dtype.kind == "f"):
        tally["value (non-finite input: probing cannot see NaN entries)"] += 1
        return None
    if oracle is None:
        tally["value (no oracle)"] += 1
        NO_ORACLE[name] += 1
        return None
    try:
        want = oracle(args, kwargs)
        if sp.issparse(want):
            got_s = sp.csr_array(value) if sp.issparse(value) else None
            ok = got_s is not None and got_s.shape == want.shape and (got_s != want).nnz == 0
            if not ok:
                return "silent wrong answer: differs from the 0/1 matrix the loops list"
            tally["value checked"] += 1
            return None
        want = want if isinstance(want, tuple) or (isinstance(want, np.ndarray) and want.dtype.kind not in "fiub") else _dense(want)
    except Exception as exc:  # noqa: BLE001 - the oracle could not read these arguments
        return f"returned a value the loop oracle cannot reproduce ({type(exc).__name__}: {exc})"
    if isinstance(value, tuple):
        whys = [_compare(_dense(g), _dense(w)) for g, w in zip(value, want)]
        why = next((w for w in whys if w), None) if len(value) == len(want) else "tuple length differs"
        if why is None:
            tally["value checked"] += 1
        return why
    why = _compare(value if isinstance(value, np.ndarray) and value.dtype.kind not in "fiub" else _dense(value), want)
    if why is None:
        tally["value checked"] += 1
    return why


def _compare(got, want):
    if got.dtype.kind not in "fiub" or want.dtype.kind not in "fiub":
        return None if got.shape == want.shape and bool(np.all(got == want)) else "silent wrong answer (non-numeric values differ)"
    if got.shape != want.shape:
        got = got.reshape(-1) if got.size == want.size else got
        want = want.reshape(-1) if got.ndim == 1 else want
    if got.shape != want.shape:
        return f"silent wrong answer: shape {got.shape}, loops give {want.shape}"
    tol = 1e-5 if got.dtype == np.float32 else 1e-9
    with np.errstate(invalid="ignore"):
        agree = (got == want) | (np.isnan(got) & np.isnan(want)) | (np.abs(got - want) <= tol * np.maximum(1.0, np.abs(want)))
    if not np.all(agree):
        return f"silent wrong answer: {np.count_nonzero(~agree)} entries differ, e.g. {got[~agree][0]} vs loops {want[~agree][0]}"
    return None


def _mutations():
    for name, (args, kwargs) in BASE.items():
        yield name, args, kwargs, "base"
        for i in range(len(args)):
            for label, bad in BAD_VALUES.items():
                yield name, args[:i] + (bad,) + args[i + 1 :], kwargs, f"arg{i}={label}"
        for key in kwargs:
            for label, bad in BAD_VALUES.items():
                yield name, args, {**kwargs, key: bad}, f"{key}={label}"
        if "dtype" in _param_names(name) - COMMON:
            yield name, args, {**kwargs, "dtype": np.int32}, "dtype=int32"
        yield name, args, {**kwargs, "not_a_parameter": 1}, "unknown keyword"


def test_every_public_callable_is_in_the_table_or_deliberately_left_out():
    import inspect

    left_out = {  # classes of results and registries (not called with user data), networks (own tests)
        "Case", "CheckReport", "Chain", "Conv2dGeometry", "Pool2dGeometry", "Convention", "GeometryError",
        "MaxPoolSwitches", "OpSpec", "OperatorTooLargeError", "ShowSetup", "ShowSpec",  # (the CLI's show metadata)
        "DD2424OneConvNet", "DD2424TwoConvNet", "MintNet",
        "Vardhan2022Net", "Wang2019FCNet", "check_operator", "register", "load_all",
        "max_pool2d_jacobian_from_switches", "vardhan2022_mask_column", "vardhan2022_mask_column_corrected",
    }
    public = {n for n in jb.__all__ if callable(getattr(jb, n))}
    assert public - left_out - set(BASE) == set()
    assert not (set(BASE) - public)
    assert all(not inspect.isclass(getattr(jb, n)) or n in ("Link", "Chain") for n in BASE)


def test_sweep_of_malformed_calls():
    tally = Counter()
    failures = []
    for name, args, kwargs, label in _mutations():
        tally["calls"] += 1
        why = judge(name, args, kwargs, tally)
        if why:
            failures.append(f"{name}[{label}]: {why}")
    print(f"\nAPI sweep: {dict(tally)}; values without an oracle: {dict(NO_ORACLE)}")
    if os.environ.get("FUZZ_DUMP"):
        with open(os.environ["FUZZ_DUMP"], "w") as fh:
            fh.write("\n".join(failures))
    assert not failures, f"{len(failures)} of {tally['calls']} calls broke the rule:\n" + "\n".join(failures[:60])
    assert tally["calls"] >= 1000
    assert tally["value checked"] >= 100 and tally["refused"] >= 500
    assert not NO_ORACLE, f"values returned without an oracle to compare with: {dict(NO_ORACLE)}"
