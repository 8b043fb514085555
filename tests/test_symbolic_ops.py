"""Symbolic face vs explicit builder, for every operator with a registered symbolic face.

Two independent routes to one Jacobian:

* symbolic — differentiate the sympy forward of :mod:`symbolic.ops` (loops
  over output entries written from the layer's formula) with
  ``Matrix.jacobian``;
* explicit — the registered scipy.sparse builder of :mod:`jacobians.ops`
  (index arithmetic).

Comparisons are exact (``expand(a − b) == 0``) wherever the builder can be
exact: fully symbolic for builders that accept sympy object arrays (conv2d,
im2col), and at the case's own float values — converted to sympy Rationals
without rounding — for builders whose entries are copies of input values or
0/1 (linear layers, ReLU, max pooling). Where the builder must round
(1/(kh·kw) of average pooling, exp/tanh of the smooth activations,
softmax and its losses, and the x − y of the Frobenius loss) the exact symbolic value is compared with a relative tolerance of
1e-14.

Each comparison runs in the canonical convention and in the note's preset.
In the preset, the symbolic side vectorizes output and input in that
convention *before* differentiating (array transposes), the explicit side
is converted afterwards with the preset's permutation matrices.
"""
from __future__ import annotations

import numpy as np
import pytest
import sympy

from jacobians.registry import SYMBOLIC, load_all
from symbolic import ops as sym_ops
from symbolic.ops import differing_entries, explicit_jacobian, symbolic_jacobian, to_convention
from symbolic.tensors import symbol_tensor

load_all()

#: operator -> the note preset it is checked in besides canonical
NOTE_PRESET = {
    "conv2d": "vardhan2022",
    "conv1d": "vardhan2022",
    "conv3d": "vardhan2022",
    "im2col": "wang2019",
    "max_pool2d": "vardhan2022",
    "avg_pool2d": "vardhan2022",
    "relu": "dd2424",
    "sigmoid": "vardhan2022",
    "tanh": "vardhan2022",
    "softmax": "dd2424",
    "softmax_cross_entropy": "dd2424",
    "softmax_soft_cross_entropy": "dd2424",
    "frobenius_loss": "wang2019",
    "linear_xwt": "wang2019",
    "linear_xw_b": "mint",
    "linear_wvec_b": "dd2424",
    "linear_wtb_b": "vardhan2022",
    "vec": "vardhan2022",
    "convert_vec": "dd2424",
    "reshape": "vardhan2022",
    "transpose": "vardhan2022",
    "flatten": "dd2424",
    "stack": "dd2424",
    "select": "dd2424",
    "xu2020_kron": "xu2020",
}
#: builders whose entries are exact copies of input values or 0/1
EXACT_AT_POINTS = {
    "conv2d", "im2col", "max_pool2d", "relu", "linear_xwt", "linear_xw_b", "linear_wvec_b", "linear_wtb_b",
    "vec", "convert_vec", "reshape", "transpose", "flatten", "stack", "select", "xu2020_kron",
    "conv1d", "conv3d", "max_pool1d", "max_pool3d",
}
#: builders that accept sympy object arrays for the input they do not differentiate
FULLY_SYMBOLIC = {"conv2d": ("x", "weight"), "im2col": ("x",), "conv1d": ("x", "weight"), "conv3d": ("x", "weight")}
#: largest Jacobian (rows × columns) differentiated here, to keep the suite fast
MAX_ENTRIES = 1200
#: sympy's derivative of Max is slow (~20 ms per entry): smaller cases for max pooling
MAX_ENTRIES_FOR = {"max_pool2d": 400, "max_pool1d": 400, "max_pool3d": 400, "conv2d": 1000, "conv3d": 1000,
                   "xu2020_kron": 600}
SYMBOL_NAMES = {"x": "x", "weight": "w", "bias": "b", "z": "z", "h": "h", "b_vec": "B", "f_f": "f", "s": "s"}


def _symbols_for(inputs, constant=()):
    out = {}
    for key, value in inputs.items():
        arr = np.asarray(value)
        if key in constant and arr.dtype.kind == "f":  # a constant input: exact numbers, not symbols
            out[key] = np.array([sympy.Rational(float(v)) for v in arr.ravel()], dtype=object).reshape(arr.shape)
            continue
        if arr.dtype.kind != "f":
            out[key] = value
            continue
        name = SYMBOL_NAMES.get(key, "".join(ch for ch in key if ch.isalnum()))
        out[key] = symbol_tensor(name, arr.shape, base=0, sep=",")
    return out


def _substitution(sym_inputs, inputs):
    subs = {}
    for key, arr in sym_inputs.items():
        if isinstance(arr, np.ndarray) and arr.dtype == object:
            for s, v in zip(arr.ravel(), np.asarray(inputs[key], dtype=np.float64).ravel()):
                subs[s] = sympy.Rational(float(v))  # exact binary value of the float
    return subs


def _output_size(spec, case):
    return int(np.size(spec.forward(**case.inputs, **case.params)))


def _small_cases():
    out = []
    for name in sorted(SYMBOLIC):
        spec = load_all()[name]
        for case in spec.cases():
            n_out = _output_size(spec, case)
            for wrt in spec.jacobian:
                if wrt in case.constant or case.inputs.get(wrt) is None:
                    continue
                if n_out * int(np.size(case.inputs[wrt])) <= MAX_ENTRIES_FOR.get(name, MAX_ENTRIES):
                    out.append(pytest.param(name, case, wrt, id=f"{name}-{wrt}-{case.id}"))
    return out


CASES = _small_cases()


def test_every_symbolic_operator_has_small_cases():
    covered = {p.values[0] for p in CASES}
    assert covered == set(SYMBOLIC), f"no small case for {set(SYMBOLIC) - covered}"


def test_symbolic_faces_registered_for_the_known_operators():
    for name in sym_ops.SYMBOLIC_FORWARDS:
        if name in load_all():
            assert SYMBOLIC[name] is sym_ops.SYMBOLIC_FORWARDS[name]


def _compare(a, b, exact, what):
    assert a.shape == b.shape, f"{what}: shapes {a.shape} vs {b.shape}"
    if exact:
        bad = differing_entries(a, b)
        assert not bad, f"{what}: {len(bad)} entries differ, first {bad[:5]}"
        return
    a_num = np.array(a.evalf(30).tolist(), dtype=np.float64)
    b_num = np.array(b.evalf(30).tolist(), dtype=np.float64)
    scale = max(1.0, float(np.abs(a_num).max(initial=0.0)))
    err = float(np.abs(a_num - b_num).max(initial=0.0))
    assert err <= 1e-14 * scale, f"{what}: largest difference {err:.3e} (scale {scale:.3e})"


def _needs_values(param) -> bool:
    """Cases not already covered, more strongly, by the fully symbolic comparison below."""
    name, _, wrt = param.values
    return wrt not in FULLY_SYMBOLIC.get(name, ())


@pytest.mark.parametrize("convention", [None, "note"])
@pytest.mark.parametrize("name, case, wrt", [p for p in CASES if _needs_values(p)])
def test_symbolic_equals_explicit_at_case_values(name, case, wrt, convention):
    conv = NOTE_PRESET.get(name, "vardhan2022") if convention == "note" else None
    sym_inputs = _symbols_for(case.inputs, case.constant)
    subs = _substitution(sym_inputs, case.inputs)
    j_sym = symbolic_jacobian(name, sym_inputs, case.params, wrt, convention=conv).xreplace(subs)
    j_exp = explicit_jacobian(name, case.inputs, case.params, wrt, convention=conv)
    _compare(j_sym, j_exp, name in EXACT_AT_POINTS, f"{name} d/d{wrt} [{conv or 'canonical'}]")


FULL_CASES = [p for p in CASES if p.values[0] in FULLY_SYMBOLIC and p.values[2] in FULLY_SYMBOLIC[p.values[0]]]


@pytest.mark.parametrize("convention", [None, "note"])
@pytest.mark.parametrize("name, case, wrt", FULL_CASES)
def test_symbolic_equals_explicit_on_symbols(name, case, wrt, convention):
    """No numbers at all: the builder runs on the same sympy symbols."""
    conv = NOTE_PRESET[name] if convention == "note" else None
    sym_inputs = _symbols_for(case.inputs, case.constant)
    j_sym = symbolic_jacobian(name, sym_inputs, case.params, wrt, convention=conv)
    j_exp = explicit_jacobian(name, sym_inputs, case.params, wrt, convention=conv)
    _compare(j_sym, j_exp, True, f"{name} d/d{wrt} [{conv or 'canonical'}] symbolic")


def test_comparison_detects_a_wrong_entry():
    """The exact comparison can fail: perturb one entry of a conv2d Jacobian."""
    x = symbol_tensor("x", (1, 3, 3), base=0, sep=",")
    w = symbol_tensor("w", (1, 1, 2, 2), base=0, sep=",")
    good = explicit_jacobian("conv2d", {"x": x, "weight": w}, {}, "x")
    bad = good.as_mutable()
    bad[1, 1] = bad[1, 1] + w[0, 0, 0, 0] * 0 + sympy.Integer(1)
    assert differing_entries(good, bad) == [(1, 1)]


def test_to_convention_matches_vectorizing_first():
    """Permuting a canonical Jacobian equals differentiating in column-major vec (conv2d, note 001 geometry)."""
    a = symbol_tensor("a", (1, 3, 4))
    beta = symbol_tensor("beta", (1, 1, 2, 2))
    params = dict(stride=(1, 2), padding=1)
    y = sym_ops.conv2d(a, beta, **params)
    canonical = y.jacobian(sym_ops.vec_column(beta))
    permuted = to_convention(canonical, "vardhan2022", (1, 4, 3), (1, 1, 2, 2))
    direct = sym_ops.vec_column(np.array(list(y), dtype=object).reshape(1, 4, 3), "vardhan2022").jacobian(
        sym_ops.vec_column(beta, "vardhan2022")
    )
    assert differing_entries(permuted, direct) == []
    # and the permutation is not the identity here
    assert differing_entries(permuted, canonical) != []


def test_max_pool_at_a_tie_sympy_splits_while_the_builder_picks_one():
    """At a tie the derivative does not exist. sympy's Heaviside(0) = 1/2 splits the row between the
    tied entries; the builder (ties="first") puts the 1 on the first of them in row-major window
    order. Both rows sum to 1 — each is a valid one-sided choice, and they differ exactly there."""
    x = symbol_tensor("x", (1, 1, 2), base=0, sep=",")
    y = sym_ops.max_pool2d(x, kernel_size=(1, 2))
    point = {x[0, 0, 0]: sympy.Integer(3), x[0, 0, 1]: sympy.Integer(3)}
    j_sym = sym_ops.jacobian(y, sym_ops.vec_column(x)).xreplace(point)
    j_exp = explicit_jacobian("max_pool2d", {"x": np.array([[[3.0, 3.0]]])}, {"kernel_size": (1, 2)}, "x")
    assert list(j_sym) == [sympy.Rational(1, 2), sympy.Rational(1, 2)]
    assert list(j_exp) == [1, 0]
    assert differing_entries(j_sym, j_exp) == [(0, 0), (0, 1)]


def test_relu_at_zero_sympy_gives_one_half_the_builder_zero():
    """ReLU's kink: sympy's derivative Heaviside(0) = 1/2, the builder's convention is 0 (Ind(z > 0))."""
    z = symbol_tensor("z", (3,), base=0)
    y = sym_ops.relu(z)
    point = dict(zip(z, [sympy.Integer(-1), sympy.Integer(0), sympy.Integer(2)]))
    j_sym = sym_ops.jacobian(y, list(z)).xreplace(point)
    j_exp = explicit_jacobian("relu", {"z": np.array([-1.0, 0.0, 2.0])}, {}, "z")
    assert differing_entries(j_sym, j_exp) == [(1, 1)]
    assert j_sym[1, 1] == sympy.Rational(1, 2) and j_exp[1, 1] == 0


def test_max_pool_zero_padding_takes_part_in_the_max():
    """Note 001's padding rule in the symbolic forward: the padded 0 is an argument of Max."""
    x = symbol_tensor("I", (1, 3, 4))
    zero_padded = sym_ops.max_pool2d(x, kernel_size=(3, 2), stride=(1, 2), padding=1, pad_value=0)
    never = sym_ops.max_pool2d(x, kernel_size=(3, 2), stride=(1, 2), padding=1)
    assert zero_padded[0] == sympy.Max(0, x[0, 0, 0], x[0, 1, 0])
    assert never[0] == sympy.Max(x[0, 0, 0], x[0, 1, 0])
