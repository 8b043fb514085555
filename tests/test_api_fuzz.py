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
convolution and pooling builders. The counts are printed (``-s``) and
asserted (≥ 1,000 calls).
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
    "unvec": {"vector", "shape"},
    "vec": {"tensor", "convention"},
    "get_convention": {"convention"},
    "get_operator": {"operator"},
    "fan_out_gradient": {"rows", "jacobians"},
}
COMMON = {"max_bytes"}

FORBIDDEN = (IndexError, ZeroDivisionError, OverflowError, MemoryError, AssertionError, RuntimeError,
             AttributeError, FloatingPointError, RecursionError)
ALLOWED = (ValueError, TypeError, KeyError, NotImplementedError)


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
    "selection_matrix": lambda a, k: np.array([[1.0 if c == int(s) else 0.0 for c in range(int(a[1]))] for s in np.ravel(a[0])]).reshape(-1, int(a[1])),
    "vec_jacobian": lambda a, k: _probe(lambda x: R.vec_reference(x, a[1]), a[0]),
    "convert_vec_jacobian": lambda a, k: _probe(lambda v: R.convert_vec_reference(v, np.atleast_1d(a[0]), a[1], a[2]), (math.prod(int(s) for s in np.atleast_1d(a[0])),)),
}


#: oracles that probe a linear map column by column (0·NaN = NaN hides where a Jacobian entry is NaN)
PROBED = {"conv2d_input_jacobian", "conv2d_weight_jacobian", "im2col_jacobian", "avg_pool2d_jacobian"}


def _dense(v):
    return v.toarray() if sp.issparse(v) else np.asarray(v, dtype=np.float64)


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
        if isinstance(exc, np.exceptions.AxisError):
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
    oracle = ORACLES.get(name)
    if name in PROBED and not all(np.all(np.isfinite(a)) for a in args if isinstance(a, np.ndarray) and a.dtype.kind == "f"):
        tally["value (non-finite input: probing cannot see NaN entries)"] += 1
        return None
    if oracle is None:
        tally["value (no oracle)"] += 1
        NO_ORACLE[name] += 1
        return None
    try:
        want = _dense(oracle(args, kwargs))
    except Exception as exc:  # noqa: BLE001 - the oracle could not read these arguments
        return f"returned a value the loop oracle cannot reproduce ({type(exc).__name__}: {exc})"
    got = _dense(value)
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
    tally["value checked"] += 1
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
        "MaxPoolSwitches", "OpSpec", "OperatorTooLargeError", "DD2424OneConvNet", "DD2424TwoConvNet", "MintNet",
        "Vardhan2022Net", "Wang2019FCNet", "check_operator", "register", "load_all", "fan_out",
        "max_pool2d_jacobian_from_switches", "vardhan2022_mask_column", "vardhan2022_mask_column_corrected",
    }
    public = {n for n in jb.__all__ if callable(getattr(jb, n))}
    assert public - left_out - set(BASE) == set()
    assert not (set(BASE) - public)
    assert all(not inspect.isclass(getattr(jb, n)) or n == "Link" for n in BASE)


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


# ---------------------------------------------------------------------------
# hypothesis: random geometries, valid and invalid, for the window builders
# ---------------------------------------------------------------------------
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# mostly valid numbers (so that values are produced and checked), with the bad ones mixed in
small = st.sampled_from([1, 2, 3, 1, 2, 3, 1, 2, 3, 2.0, 0, -1])
pads = st.sampled_from([0, 1, 2, 0, 1, 0, -1, 2.5])
geometry = st.fixed_dictionaries(
    {
        "n": st.sampled_from([None, 1, 2]),
        "c": st.integers(1, 2),
        "h": st.integers(1, 5),
        "w": st.integers(1, 5),
        "o": st.integers(1, 2),
        "kh": small,
        "kw": small,
        "stride": st.one_of(small, st.tuples(small, small)),
        "padding": st.one_of(pads, st.tuples(pads, pads), st.tuples(pads, pads, pads, pads),
                             st.sampled_from(["same", "valid", "full"])),
        "dilation": st.one_of(small, st.just(10**20)),
    }
)

SWEEP = Counter()
NO_ORACLE = Counter()


@settings(max_examples=300, deadline=None, database=None)
@given(g=geometry)
def test_hypothesis_conv_geometries_value_or_one_line(g):
    shape = (g["c"], g["h"], g["w"]) if g["n"] is None else (g["n"], g["c"], g["h"], g["w"])
    kw = dict(stride=g["stride"], padding=g["padding"], dilation=g["dilation"])
    k_h, k_w = int(g["kh"]), int(g["kw"])
    weight = RNG.standard_normal((g["o"], g["c"], k_h, k_w)) if k_h > 0 and k_w > 0 else np.ones((g["o"], g["c"], 1, 0))
    x = RNG.standard_normal(shape)
    calls = [
        ("conv2d_input_jacobian", (weight, shape), kw),
        ("conv2d", (x, weight), kw),
        ("im2col_jacobian", (shape, (g["kh"], g["kw"])), kw),
        ("avg_pool2d_jacobian", (shape, (g["kh"], g["kw"])), {"stride": g["stride"], "padding": g["padding"]}),
    ]
    if g["n"] is not None:
        calls.append(("conv2d_weight_jacobian", (x, weight.shape), kw))
    for name, args, kwargs in calls:
        SWEEP["calls"] += 1
        why = judge(name, args, kwargs, SWEEP)
        assert why is None, f"{name}{args[1:] if name != 'conv2d' else ''} {kwargs}: {why}"


@settings(max_examples=100, deadline=None, database=None)
@given(kh=st.integers(1, 4), kw=st.integers(1, 4), dh=st.integers(1, 2), dw=st.integers(1, 2),
       h=st.integers(1, 5), w=st.integers(1, 5))
def test_hypothesis_padding_same_against_loops(kh, kw, dh, dw, h, w):
    x = RNG.standard_normal((1, 2, h, w))
    weight = RNG.standard_normal((2, 2, kh, kw))
    SWEEP["calls"] += 2
    for name, args in (("conv2d", (x, weight)), ("conv2d_input_jacobian", (weight, x.shape))):
        why = judge(name, args, dict(padding="same", dilation=(dh, dw)), SWEEP)
        assert why is None, f"{name} k=({kh},{kw}) d=({dh},{dw}) {h}x{w}: {why}"


def test_hypothesis_sweep_ran():
    # runs after the hypothesis test in file order; reports its counts
    if SWEEP:
        print(f"\nhypothesis geometry sweep: {dict(SWEEP)}")
        assert SWEEP["calls"] >= 1000 and SWEEP["value checked"] >= 50
