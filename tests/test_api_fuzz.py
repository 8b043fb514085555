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


# ---------------------------------------------------------------------------
# the operators merged after the first release: base calls with PyTorch as the oracle
# (torch's own kernels and torch.autograd.functional.jacobian — never the package's code path)
# ---------------------------------------------------------------------------
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

XL = RNG.standard_normal((2, 5))           # (C, L)
XV = RNG.standard_normal((2, 3, 3, 4))     # (C, D, H, W)
XB = RNG.standard_normal((3, 2, 4))        # (N, C, L): batch statistics
XG = RNG.standard_normal((2, 4, 3))        # (N, C, L) for group norm
W1 = RNG.standard_normal((3, 2, 2))
W3 = RNG.standard_normal((3, 2, 2, 2, 2))
WT1 = RNG.standard_normal((2, 3, 2))       # transposed: (C_in, C_out / groups, k)
WT2 = RNG.standard_normal((2, 3, 2, 3))
WT3 = RNG.standard_normal((2, 3, 2, 2, 2))
C2, C4 = RNG.standard_normal(2), RNG.standard_normal(4)
RV = RNG.uniform(0.5, 2.0, 2)
LOGITS = RNG.standard_normal((2, 3))
TARGET = np.array([0, 2])
S3 = RNG.standard_normal((2, 3, 2))

BASE.update({
    "conv1d": ((XL, W1, B3), dict(stride=1, padding=1, dilation=1, groups=1)),
    "conv1d_input_jacobian": ((W1, (2, 5)), dict(stride=2, padding=1, dilation=1, groups=1)),
    "conv1d_weight_jacobian": ((XL, W1.shape), dict(stride=1, padding=1, dilation=2, groups=1)),
    "conv1d_bias_jacobian": (((3, 4),), {}),
    "conv3d": ((XV, W3, B3), dict(stride=1, padding=1, dilation=1, groups=1)),
    "conv3d_input_jacobian": ((W3, (2, 3, 3, 4)), dict(stride=2, padding=1, dilation=1, groups=1)),
    "conv3d_weight_jacobian": ((XV, W3.shape), dict(stride=1, padding=0, dilation=1, groups=1)),
    "conv3d_bias_jacobian": (((3, 2, 2, 2),), {}),
    "convnd_input_jacobian": ((W1, (2, 5)), dict(stride=1, padding=0, dilation=1, groups=1)),
    "convnd_weight_jacobian": ((X3, W4.shape), dict(stride=1, padding=1, dilation=1, groups=1)),
    "conv_transpose1d": ((XL, WT1, B3), dict(stride=2, padding=1, output_padding=1, groups=1, dilation=1)),
    "conv_transpose1d_input_jacobian": ((WT1, (2, 5)), dict(stride=2, padding=0, output_padding=1, groups=1, dilation=1)),
    "conv_transpose1d_weight_jacobian": ((XL, WT1.shape), dict(stride=1, padding=1, output_padding=0, groups=1, dilation=2)),
    "conv_transpose2d": ((X3, WT2, B3), dict(stride=2, padding=1, output_padding=1, groups=1, dilation=1)),
    "conv_transpose2d_input_jacobian": ((WT2, (2, 4, 5)), dict(stride=2, padding=1, output_padding=0, groups=1, dilation=1)),
    "conv_transpose2d_weight_jacobian": ((X3, WT2.shape), dict(stride=1, padding=0, output_padding=0, groups=1, dilation=1)),
    "conv_transpose2d_bias_jacobian": (((3, 5, 4),), {}),
    "conv_transpose3d": ((XV, WT3, B3), dict(stride=1, padding=1, output_padding=0, groups=1, dilation=1)),
    "conv_transpose3d_input_jacobian": ((WT3, (2, 3, 3, 4)), dict(stride=2, padding=0, output_padding=1, groups=1, dilation=1)),
    "conv_transpose3d_weight_jacobian": ((XV, WT3.shape), dict(stride=1, padding=0, output_padding=0, groups=1, dilation=1)),
    "max_pool1d": ((XL, 2), dict(stride=1, padding=1, dilation=1, ceil_mode=False)),
    "max_pool1d_jacobian": ((XL, 2), dict(stride=2, padding=0, dilation=1, ceil_mode=True)),
    "max_pool3d": ((XV, 2), dict(stride=1, padding=1, dilation=1, ceil_mode=False)),
    "max_pool3d_jacobian": ((XV, 2), dict(stride=2, padding=1, dilation=1, ceil_mode=True)),
    "avg_pool1d": ((XL, 2), dict(stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    "avg_pool1d_jacobian": (((2, 5), 3), dict(stride=1, padding=1, ceil_mode=False, count_include_pad=True)),
    "avg_pool3d": ((XV, 2), dict(stride=1, padding=1, ceil_mode=False, count_include_pad=True, divisor_override=3)),
    "avg_pool3d_jacobian": (((2, 3, 3, 4), 2), dict(stride=2, padding=1, ceil_mode=True, count_include_pad=False,
                                                    divisor_override=None)),
    "adaptive_avg_pool2d": ((X3, (3, 2)), {}),
    "adaptive_avg_pool2d_jacobian": (((2, 4, 5), (3, 2)), {}),
    "adaptive_max_pool2d": ((X3, (3, 2)), dict(return_indices=True)),
    "adaptive_max_pool2d_jacobian": ((X3, (3, 2)), {}),
    "global_avg_pool2d": ((X3,), {}),
    "global_avg_pool2d_jacobian": (((2, 4, 5),), {}),
    "interpolate": ((X3[None],), dict(size=(5, 7), mode="bilinear", align_corners=False)),
    "interpolate_jacobian": (((1, 2, 4, 5),), dict(scale_factor=2, mode="nearest")),
    "batch_norm": ((XB, np.zeros(2), RV, C2, C2 + 1), dict(training=True, eps=1e-5)),
    "batch_norm_input_jacobian": ((XB, C2), dict(eps=1e-5, training=False, running_var=RV)),
    "batch_norm_weight_jacobian": ((XB,), dict(eps=1e-5, training=True)),
    "batch_norm_bias_jacobian": (((3, 2, 4),), {}),
    "layer_norm": ((XB, (2, 4), RNG.standard_normal((2, 4)), RNG.standard_normal((2, 4))), dict(eps=1e-5)),
    "layer_norm_input_jacobian": ((XB, (4,), RNG.standard_normal(4)), dict(eps=1e-5)),
    "layer_norm_weight_jacobian": ((XB, (2, 4)), dict(eps=1e-5)),
    "layer_norm_bias_jacobian": (((3, 2, 4), (4,)), {}),
    "group_norm": ((XG, 2, C4, C4 + 1), dict(eps=1e-5)),
    "group_norm_input_jacobian": ((XG, 2, C4), dict(eps=1e-5)),
    "group_norm_weight_jacobian": ((XG, 2), dict(eps=1e-5)),
    "group_norm_bias_jacobian": (((2, 4, 3),), dict(num_groups=2)),
    "instance_norm": ((XB, C2, C2 - 1), dict(eps=1e-5)),
    "instance_norm_input_jacobian": ((XB, C2), dict(eps=1e-5)),
    "instance_norm_weight_jacobian": ((XB,), dict(eps=1e-5)),
    "instance_norm_bias_jacobian": (((3, 2, 4),), {}),
    "elu": ((X3,), dict(alpha=1.5)),
    "elu_jacobian": ((X3,), dict(alpha=0.5)),
    "gelu": ((X3,), dict(approximate="tanh")),
    "gelu_jacobian": ((X3,), dict(approximate="none")),
    "leaky_relu": ((X3,), dict(negative_slope=0.1)),
    "leaky_relu_jacobian": ((X3,), dict(negative_slope=0.2)),
    "softplus": ((X3,), dict(beta=2.0, threshold=1.0)),
    "softplus_jacobian": ((X3,), dict(beta=1.0, threshold=20.0)),
    "dropout": ((X3, X3 > 0, 0.25), {}),
    "dropout_jacobian": ((X3 > 0, 0.5), {}),
    "softmax_along": ((S3,), dict(dim=1)),
    "softmax_along_jacobian": ((S3,), dict(dim=0)),
    "log_softmax": ((S3,), dict(dim=-1)),
    "log_softmax_jacobian": ((S3,), dict(dim=1)),
    "add": ((X3, X3 + 1), dict(alpha=2)),
    "add_jacobian": (((2, 4, 5),), dict(wrt="other", alpha=3)),
    "concat": (([X3, X3[:, :2]],), dict(dim=1)),
    "concat_jacobian": (([(2, 4, 5), (2, 1, 5)],), dict(dim=1, index=1)),
    "cross_entropy_loss": ((LOGITS, TARGET), dict(ignore_index=-100, reduction="mean", label_smoothing=0.1)),
    "cross_entropy_loss_jacobian": ((LOGITS, TARGET), dict(ignore_index=1, reduction="sum", label_smoothing=0.0)),
    "nll_loss": ((LOGITS, TARGET), dict(ignore_index=-100, reduction="mean")),
    "nll_loss_jacobian": ((LOGITS, TARGET), dict(ignore_index=-100, reduction="none")),
    "mse_loss": ((LOGITS, LOGITS * 2), dict(reduction="sum")),
    "mse_loss_jacobian": ((LOGITS, LOGITS * 2), dict(reduction="mean", wrt="target")),
    "verdict_from": ((True, False), {}),
    "reference_routes": (("conv2d", "weight"), {}),
})

# a refusal may name a derived parameter the rule is about
for _n in list(BASE):
    if _n.startswith(("conv", "max_pool", "avg_pool", "adaptive", "global", "interpolate")):
        ALIASES.setdefault(_n, set()).update({"input_shape", "weight_shape", "kernel_size", "output_size", "x", "weight",
                                              "max_bytes", "size", "scale_factor"})
    if "norm" in _n:
        ALIASES.setdefault(_n, set()).update({"x", "x_shape", "weight", "running_var", "running_mean", "normalized_shape",
                                              "num_groups", "eps", "bias", "max_bytes"})
for _n in ("softmax_along", "softmax_along_jacobian", "log_softmax", "log_softmax_jacobian"):
    ALIASES.setdefault(_n, set()).add("s")
for _n in ("cross_entropy_loss", "cross_entropy_loss_jacobian", "nll_loss", "nll_loss_jacobian", "mse_loss",
           "mse_loss_jacobian", "add", "add_jacobian", "concat", "concat_jacobian"):
    ALIASES.setdefault(_n, set()).update({"input", "target", "other", "tensors", "shape", "shapes", "max_bytes"})

NON_NUMERIC |= {"verdict_from", "reference_routes"}
ALIASES["reference_routes"] = {"operator", "wrt"}
TORCH_PROBED = {n for n in BASE if n.endswith("_jacobian") and n not in ORACLES}  # filled below, before the judge runs


def _t(a):
    return torch.as_tensor(np.asarray(a).astype(np.float64))


def _tint(k, v):
    """Python ints beyond int64 as torch can take them: a huge ignore_index matches no class (as -100 here),
    a huge alpha / beta / threshold is a float."""
    v = _normalize(v)
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 2**62:
        return -100 if k == "ignore_index" else float(v)
    if isinstance(v, np.ndarray) and v.dtype.kind in "iu":
        return tuple(int(u) for u in v.ravel())
    return v


def _nk(kw, drop=()):
    return {k: _tint(k, v) for k, v in kw.items() if k not in drop}


def _prepad(x, kw, nd):
    """PyTorch takes one symmetric padding per axis; the package also takes (before, after) per axis: pad first."""
    pad = kw.get("padding", 0)
    if isinstance(pad, str) or isinstance(pad, int) or (isinstance(pad, tuple) and len(pad) == nd
                                                       and all(isinstance(p, int) for p in pad)):
        return x, kw
    flat = [int(v) for p in pad for v in (p if isinstance(p, tuple) else (p,))]  # 2n ints or n pairs
    pairs = [(flat[2 * i], flat[2 * i + 1]) for i in range(nd)]
    widths = [w for b, a in reversed(pairs) for w in (b, a)]
    return F.pad(x, widths), {**kw, "padding": 0}


def _torch_value(fn, n_tensors, drop=()):
    """Oracle: fn(*tensors, *rest, **kwargs) with torch (its result to numpy; tuples element-wise)."""

    def oracle(a, k):
        args = [_t(v) if i < n_tensors and v is not None else _normalize(v) for i, v in enumerate(a)]
        with torch.no_grad():
            out = fn(*args, **_nk(k, drop))
        return tuple(o.numpy() for o in out) if isinstance(out, tuple) else out.numpy()

    return oracle


def _tjac(f, x):
    """torch.autograd's Jacobian of f at x, as the (out.size, x.size) matrix."""
    x = torch.as_tensor(np.asarray(x, dtype=np.float64))
    y = f(x)
    return torch.autograd.functional.jacobian(f, x).reshape(y.numel(), x.numel()).numpy()


def _at_shape(shape):
    return np.zeros(tuple(_normalize(s) for s in shape))


def _bias_broadcast(nd):
    """Jacobian of the bias term: b broadcast over the spatial axes (and the batch) of out_shape."""

    def oracle(a, k):
        out = tuple(_normalize(s) for s in a[0])
        c = out[-(nd + 1)]
        return _tjac(lambda b: b.reshape((c,) + (1,) * nd).expand(out), np.zeros(c))

    return oracle


def _conv_value(nd):
    def oracle(a, k):
        x, w = _t(a[0]), _t(a[1])
        b = _t(a[2]) if len(a) > 2 and a[2] is not None else None
        x, kw = _prepad(x, _nk(k), nd)
        with torch.no_grad():
            return _conv_fn(nd)(x, w, b, **kw).numpy()

    return oracle


def _conv_fn(nd):
    return {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[nd]


def _convt_fn(nd):
    return {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[nd]


def _conv_jac(nd, wrt, transposed=False):
    def oracle(a, k):
        n = nd if nd else _f(a[0]).ndim - 2 if wrt == "x" else len(a[1]) - 2
        fn = (_convt_fn if transposed else _conv_fn)(n)
        kw = _nk(k)

        def call(x, w):
            x, kw2 = (x, kw) if transposed else _prepad(x, kw, n)
            return fn(x, w, None, **kw2)

        if wrt == "x":
            w = _t(a[0])
            return _tjac(lambda x: call(x, w), _at_shape(a[1]))
        x = _t(a[0])
        return _tjac(lambda w: call(x, w), _at_shape(a[1]))

    return oracle


def _pool_call(fn, keep, nd):
    def call(x, kernel, k):
        kw = _nk(k, set(k) - set(keep))
        if kw.get("count_include_pad", False) and not kw.get("ceil_mode", False):
            pad = kw.get("padding", 0)
            if isinstance(pad, int):
                pad = ((pad, pad),) * nd
            elif len(pad) == nd and all(isinstance(p, int) for p in pad):
                pad = tuple((p, p) for p in pad)
            x, kw = _prepad(x, {**kw, "padding": tuple(pad)}, nd)
        return fn(x, _tint("kernel_size", kernel), **kw)

    return call


def _pool_torch(fn, keep, nd=None):
    nd = nd or int(fn.__name__[-2])
    return lambda a, k: _pool_call(fn, keep, nd)(_t(a[0]), a[1], k).detach().numpy() if "return_indices" not in k or not k["return_indices"] else _torch_value(fn, 1, drop=set(k) - set(keep))(a, k)


def _pool_jac_x(fn, keep):
    return lambda a, k: _tjac(lambda x: _pool_call(fn, keep, int(fn.__name__[-2]))(x, a[1], k), _f(a[0]))


def _pool_jac_shape(fn, keep):
    return lambda a, k: _tjac(lambda x: _pool_call(fn, keep, int(fn.__name__[-2]))(x, a[1], k), _at_shape(a[0]))


_MAXK = ("stride", "padding", "dilation", "ceil_mode", "return_indices")
_AVGK = ("stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")


def _xshape(v):
    """x_shape as the norm builders read it: a shape, or the shape of an array given in its place."""
    return tuple(np.shape(v)) if isinstance(v, np.ndarray) else tuple(_normalize(s) for s in v)


def _channel_bias(a):
    """∂y/∂bias of a norm layer: the bias added along axis 1 (channels), broadcast over the rest."""
    shape = _xshape(a[0])
    return _tjac(lambda b: b.reshape((1, -1) + (1,) * (len(shape) - 2)).expand(shape), np.zeros(shape[1]))


def _bn(x, rm, rv, w, b, training, eps):
    rm = torch.zeros(x.shape[1], dtype=x.dtype) if rm is None else rm.clone()
    rv = torch.ones(x.shape[1], dtype=x.dtype) if rv is None else rv.clone()
    return F.batch_norm(x, rm, rv, w, b, training=training, eps=eps)


def _bn_kw(k):
    return dict(training=_normalize(k.get("training", True)), eps=_normalize(k.get("eps", 1e-5)))


def _opt(a, i, k=None, key=None):
    v = a[i] if len(a) > i else (k or {}).get(key)
    return None if v is None else _t(v)


def _ce(x, t, **kw):
    return F.cross_entropy(x, t, **kw)


def _target(t):
    t = np.asarray(t)
    return torch.as_tensor(t) if t.dtype.kind in "iu" else torch.as_tensor(t.astype(np.float64))


def _act_jac(fn):
    return lambda a, k: np.zeros((0, 0)) if np.size(a[0]) == 0 else _tjac(lambda z: fn(z, **_nk(k)), _f(a[0]))


def _concat_jac(a, k):
    shapes = [tuple(_normalize(s) for s in sh) for sh in a[0]]
    index, dim = _normalize(k.get("index", 0)), _normalize(k.get("dim", 1))
    others = [torch.zeros(s, dtype=torch.float64) for s in shapes]
    return _tjac(lambda v: torch.cat(others[:index] + [v] + others[index + 1:], dim), np.zeros(shapes[index]))


def _add_jac(a, k):
    shape = tuple(_normalize(s) for s in (a[0] if np.ndim(a[0]) else (a[0],)))
    alpha = _tint("alpha", k.get("alpha", 1))
    z = torch.zeros(shape, dtype=torch.float64)
    if k.get("wrt", "input") == "input":
        return _tjac(lambda v: torch.add(v, z, alpha=alpha), np.zeros(shape))
    return _tjac(lambda v: torch.add(z, v, alpha=alpha), np.zeros(shape))


def _dropout_loops(a, k):
    z, mask, p = _f(a[0]), _f(a[1]), float(a[2])
    return np.zeros_like(z) if p == 1 else z * mask / (1 - p)


ORACLES.update({
    "conv1d": _conv_value(1),
    "conv3d": _conv_value(3),
    "conv1d_input_jacobian": _conv_jac(1, "x"),
    "conv1d_weight_jacobian": _conv_jac(1, "weight"),
    "conv3d_input_jacobian": _conv_jac(3, "x"),
    "conv3d_weight_jacobian": _conv_jac(3, "weight"),
    "convnd_input_jacobian": _conv_jac(None, "x"),
    "convnd_weight_jacobian": _conv_jac(None, "weight"),
    "conv1d_bias_jacobian": _bias_broadcast(1),
    "conv3d_bias_jacobian": _bias_broadcast(3),
    "conv_transpose2d_bias_jacobian": _bias_broadcast(2),
    "conv_transpose1d": _torch_value(F.conv_transpose1d, 3),
    "conv_transpose2d": _torch_value(F.conv_transpose2d, 3),
    "conv_transpose3d": _torch_value(F.conv_transpose3d, 3),
    **{f"conv_transpose{n}d_{w}_jacobian": _conv_jac(n, "x" if w == "input" else "weight", transposed=True)
       for n in (1, 2, 3) for w in ("input", "weight")},
    "max_pool1d": _pool_torch(F.max_pool1d, _MAXK),
    "max_pool3d": _pool_torch(F.max_pool3d, _MAXK),
    "max_pool1d_jacobian": _pool_jac_x(F.max_pool1d, _MAXK),
    "max_pool3d_jacobian": _pool_jac_x(F.max_pool3d, _MAXK),
    "avg_pool1d": _pool_torch(F.avg_pool1d, _AVGK),
    "avg_pool3d": _pool_torch(F.avg_pool3d, _AVGK),
    "avg_pool1d_jacobian": _pool_jac_shape(F.avg_pool1d, _AVGK),
    "avg_pool3d_jacobian": _pool_jac_shape(F.avg_pool3d, _AVGK),
    "adaptive_avg_pool2d": _torch_value(F.adaptive_avg_pool2d, 1),
    "adaptive_avg_pool2d_jacobian": lambda a, k: _tjac(lambda x: F.adaptive_avg_pool2d(x, _normalize(a[1])), _at_shape(a[0])),
    "adaptive_max_pool2d": _torch_value(F.adaptive_max_pool2d, 1),
    "adaptive_max_pool2d_jacobian": lambda a, k: _tjac(lambda x: F.adaptive_max_pool2d(x, _normalize(a[1])), _f(a[0])),
    "global_avg_pool2d": lambda a, k: F.adaptive_avg_pool2d(_t(a[0]), 1).numpy(),
    "global_avg_pool2d_jacobian": lambda a, k: _tjac(lambda x: F.adaptive_avg_pool2d(x, 1), _at_shape(a[0])),
    "interpolate": lambda a, k: F.interpolate(_t(a[0])[None] if np.ndim(a[0]) == 3 else _t(a[0]), **_nk(k)).numpy(),
    "interpolate_jacobian": lambda a, k: _tjac(lambda x: F.interpolate(x[None] if x.ndim == 3 else x, **_nk(k)),
                                               _at_shape(a[0])),
    "batch_norm": lambda a, k: _bn(*[_opt(a, i) for i in range(5)], **_bn_kw(k)).numpy(),
    "batch_norm_input_jacobian": lambda a, k: _tjac(
        lambda x: _bn(x, None, _opt(a, 4, k, "running_var"), _opt(a, 1, k, "weight"), None, **_bn_kw(k)), _f(a[0])),
    "batch_norm_weight_jacobian": lambda a, k: _tjac(
        lambda w: _bn(_t(a[0]), _opt(a, 3, k, "running_mean"), _opt(a, 4, k, "running_var"), w, None, **_bn_kw(k)),
        np.ones(_f(a[0]).shape[1])),
    "batch_norm_bias_jacobian": lambda a, k: _channel_bias(a),
    "layer_norm": lambda a, k: F.layer_norm(_t(a[0]), _normalize(tuple(np.atleast_1d(a[1]))), *[_opt(a, i) for i in (2, 3)],
                                            eps=_normalize(k.get("eps", 1e-5))).numpy(),
    "layer_norm_input_jacobian": lambda a, k: _tjac(lambda x: F.layer_norm(
        x, _normalize(tuple(np.atleast_1d(a[1]))), _opt(a, 2), None, eps=_normalize(k.get("eps", 1e-5))), _f(a[0])),
    "layer_norm_weight_jacobian": lambda a, k: _tjac(lambda w: F.layer_norm(
        _t(a[0]), _normalize(tuple(np.atleast_1d(a[1]))), w, None, eps=_normalize(k.get("eps", 1e-5))),
        np.ones(_normalize(tuple(np.atleast_1d(a[1]))))),
    "layer_norm_bias_jacobian": lambda a, k: _tjac(lambda b: F.layer_norm(
        torch.zeros(_xshape(a[0]), dtype=torch.float64), _normalize(tuple(np.atleast_1d(a[1]))), None, b),
        np.zeros(_normalize(tuple(np.atleast_1d(a[1]))))),
    "group_norm": lambda a, k: F.group_norm(_t(a[0]), _normalize(a[1]), *[_opt(a, i) for i in (2, 3)],
                                            eps=_normalize(k.get("eps", 1e-5))).numpy(),
    "group_norm_input_jacobian": lambda a, k: _tjac(lambda x: F.group_norm(
        x, _normalize(a[1]), _opt(a, 2), None, eps=_normalize(k.get("eps", 1e-5))), _f(a[0])),
    "group_norm_weight_jacobian": lambda a, k: _tjac(lambda w: F.group_norm(
        _t(a[0]), _normalize(a[1]), w, None, eps=_normalize(k.get("eps", 1e-5))), np.ones(_f(a[0]).shape[1])),
    "group_norm_bias_jacobian": lambda a, k: _channel_bias(a),
    "instance_norm": lambda a, k: F.instance_norm(_t(a[0]), weight=_opt(a, 1), bias=_opt(a, 2),
                                                  eps=_normalize(k.get("eps", 1e-5))).numpy(),
    "instance_norm_input_jacobian": lambda a, k: _tjac(lambda x: F.instance_norm(
        x, weight=_opt(a, 1), eps=_normalize(k.get("eps", 1e-5))), _f(a[0])),
    "instance_norm_weight_jacobian": lambda a, k: _tjac(lambda w: F.instance_norm(
        _t(a[0]), weight=w, eps=_normalize(k.get("eps", 1e-5))), np.ones(_f(a[0]).shape[1])),
    "instance_norm_bias_jacobian": lambda a, k: _channel_bias(a),
    "elu": _torch_value(F.elu, 1),
    "gelu": _torch_value(F.gelu, 1),
    "leaky_relu": _torch_value(F.leaky_relu, 1),
    "softplus": _torch_value(F.softplus, 1),
    "elu_jacobian": _act_jac(F.elu),
    "gelu_jacobian": _act_jac(F.gelu),
    "leaky_relu_jacobian": _act_jac(F.leaky_relu),
    "softplus_jacobian": _act_jac(F.softplus),
    "dropout": _dropout_loops,
    "dropout_jacobian": lambda a, k: np.diag(_dropout_loops((np.ones(np.shape(a[0])), a[0], a[1]), k).ravel()),
    "softmax_along": _torch_value(torch.softmax, 1),
    "log_softmax": _torch_value(torch.log_softmax, 1),
    "softmax_along_jacobian": lambda a, k: _tjac(lambda s: torch.softmax(s, _normalize(k.get("dim", -1))), _f(a[0])),
    "log_softmax_jacobian": lambda a, k: _tjac(lambda s: torch.log_softmax(s, _normalize(k.get("dim", -1))), _f(a[0])),
    "add": _torch_value(torch.add, 2),
    "add_jacobian": _add_jac,
    "concat": lambda a, k: torch.cat([_t(v) for v in a[0]], _normalize(k.get("dim", 1))).numpy(),
    "concat_jacobian": _concat_jac,
    "cross_entropy_loss": lambda a, k: _ce(_t(a[0]), _target(a[1]), **_nk(k)).numpy(),
    "cross_entropy_loss_jacobian": lambda a, k: _tjac(lambda x: _ce(x, _target(a[1]), **_nk(k)), _f(a[0])),
    "nll_loss": lambda a, k: F.nll_loss(_t(a[0]), _target(a[1]), **_nk(k)).numpy(),
    "nll_loss_jacobian": lambda a, k: _tjac(lambda x: F.nll_loss(x, _target(a[1]), **_nk(k)), _f(a[0])),
    "mse_loss": _torch_value(F.mse_loss, 2),
    "mse_loss_jacobian": lambda a, k: _tjac(
        (lambda v: F.mse_loss(v, _t(a[1]), **_nk(k, ("wrt",)))) if k.get("wrt", "input") == "input"
        else (lambda v: F.mse_loss(_t(a[0]), v, **_nk(k, ("wrt",)))), _f(a[0] if k.get("wrt", "input") == "input" else a[1])),
})
PROBED |= TORCH_PROBED  # torch.autograd probes by vector products: 0·NaN = NaN spreads where the matrix has none


def _dense(v):
    return v.toarray() if sp.issparse(v) else np.asarray(v, dtype=np.float64)


PROBED |= {"linear_input_jacobian", "linear_weight_jacobian", "select_jacobian", "col2im"} | {
    n for n in ORACLES if n.startswith("linear_") and n.endswith("_jacobian")}


# ---------------------------------------------------------------------------
# the judge
# ---------------------------------------------------------------------------
#: the notes' own formulas, moved out of the operator API beside their claims (still swept: same rules)
NOTE_FORMULAS = {
    "softmax_cross_entropy_grad_note004": "jacobians.ledger.dd2424_formulas",
    "xu2020_filter_matrix": "jacobians.ledger.xu2020_formulas",
    "xu2020_output_matrix": "jacobians.ledger.xu2020_formulas",
    "vardhan2022_channel_rows": "jacobians.ledger.vardhan2022_formulas",
    "linear_wtb_b_row_jacobians": "jacobians.ops.linear",  # note 001's row form, used by the wtb_b VJP
}


def _fn(name):
    """The swept callable: a public name of jacobians, or one of the notes' formulas."""
    if name in NOTE_FORMULAS:
        import importlib

        return getattr(importlib.import_module(NOTE_FORMULAS[name]), name)
    return getattr(jb, name)


def _param_names(name):
    import inspect

    fn = _fn(name)
    try:
        names = set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        names = set()
    return names | ALIASES.get(name, set()) | COMMON


def judge(name, args, kwargs, tally):
    """Call jacobians.<name>(*args, **kwargs); return None if the outcome obeys the rules, else why not."""
    fn = _fn(name)
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
    if name in PROBED and not all(np.all(np.isfinite(a)) for a in args
                                  if (isinstance(a, np.ndarray) and a.dtype.kind == "f") or isinstance(a, float)):
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
        # classes: geometry records built by the validated from_shapes paths the table exercises, and the
        # claims / compare result records (constructed by the package, not called with user data)
        "ConvNdGeometry", "ConvTranspose2dGeometry", "PoolNdGeometry",
        "Claim", "ClaimRegistry", "ClaimResult", "CompareResult", "Evidence",
        # the claims API's callables take functions, claim objects or files, not arrays: a bad array value has no
        # meaning for them (tests/test_claims_api.py and tests/test_compare.py judge them); the finite-difference
        # and torch routes approximate / delegate by design, so a loop oracle to 1e-9 does not apply
        "claim", "collect_claims", "load_claim_files", "route_kind_violations", "fd_gradient", "fd_jacobian",
        "torch_gradient", "torch_jacobian", "compare", "diagnose", "candidate_from_text", "reference_vjp",
        # not yet held to the rule: some refusals start with the function's name ("reference_jacobian: give the
        # input 'x' …", the claims API's own tested convention) — left for the claims branch to decide
        "reference_jacobian",
        # interop: they take a torch nn.Module / a framework function, not arrays of ours; their bad-input paths
        # (unsupported module, several inputs, train-mode dropout, shape mismatches) are one-line errors tested in
        # tests/test_interop_torch.py and tests/test_interop_framework.py, their values against torch.func.jacrev
        "from_torch", "framework_jacobian", "diff_operator", "grid_coloring",
        "DiffReport", "UnsupportedModelError", "CompressedJacobian", "TorchJacobians",
    }
    public = {n for n in jb.__all__ if callable(getattr(jb, n))}
    assert public - left_out - set(BASE) == set()
    assert not (set(BASE) - public - set(NOTE_FORMULAS))
    assert all(not inspect.isclass(_fn(n)) or n in ("Link", "Chain") for n in BASE)


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


#: a sample of the new operators' value-returning calls whose oracle is PyTorch (forwards and Jacobian builders)
PLANTED = ["conv1d", "conv_transpose2d", "avg_pool3d", "interpolate", "group_norm", "gelu", "log_softmax",
           "cross_entropy_loss", "concat", "conv3d_input_jacobian", "conv_transpose1d_weight_jacobian",
           "avg_pool1d_jacobian", "max_pool3d_jacobian", "layer_norm_input_jacobian", "batch_norm_input_jacobian",
           "softplus_jacobian", "nll_loss_jacobian", "concat_jacobian", "adaptive_avg_pool2d_jacobian"]


@pytest.mark.parametrize("name", PLANTED)
def test_the_judge_catches_a_planted_error(name, monkeypatch):
    """Test the tester: a result off by 0.1 % must be reported as a silent wrong answer."""
    orig = getattr(jb, name)

    def planted(*a, **k):
        v = orig(*a, **k)
        return v.multiply(1.001).tocsr() if sp.issparse(v) else v * 1.001

    monkeypatch.setattr(jb, name, planted)
    args, kwargs = BASE[name]
    why = judge(name, args, kwargs, Counter())
    assert why and why.startswith("silent wrong answer"), why


@pytest.mark.parametrize("name", sorted(n for n in BASE if n in TORCH_PROBED or n in {
    "conv1d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "max_pool1d", "max_pool3d",
    "avg_pool1d", "avg_pool3d", "adaptive_avg_pool2d", "adaptive_max_pool2d", "global_avg_pool2d", "interpolate",
    "batch_norm", "layer_norm", "group_norm", "instance_norm", "elu", "gelu", "leaky_relu", "softplus", "dropout",
    "softmax_along", "log_softmax", "add", "cross_entropy_loss", "nll_loss", "mse_loss"}))
def test_float32_in_float32_out(name):
    """The dtype rule on the merged operators: float32 inputs give float32; shape-only builders float64,
    or float32 when asked; an integer dtype= is refused with one line."""
    import inspect

    args, kwargs = BASE[name]
    f32 = [a.astype(np.float32) if isinstance(a, np.ndarray) and a.dtype == np.float64 else a for a in args]
    out = getattr(jb, name)(*f32, **kwargs)
    out = out[0] if isinstance(out, tuple) else out
    has_float = any(isinstance(a, np.ndarray) and a.dtype.kind == "f" for a in args)
    assert out.dtype == (np.float32 if has_float else np.float64), out.dtype
    if "dtype" in inspect.signature(getattr(jb, name)).parameters:
        assert getattr(jb, name)(*args, **kwargs, dtype=np.float32).dtype == np.float32
        with pytest.raises(TypeError, match=r"^dtype: "):
            getattr(jb, name)(*args, **kwargs, dtype=np.int64)
