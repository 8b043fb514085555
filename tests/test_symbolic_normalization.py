"""Symbolic faces of the normalization layers: a 2×3 layer norm entry by entry, a 2-channel batch norm's blocks."""
import numpy as np
import sympy

from jacobians.ops import normalization as nm
from symbolic import normalization as snm
from symbolic.ops import jacobian, vec_column
from symbolic.tensors import symbol_tensor


def test_layer_norm_2x3_entry_by_entry_equals_the_closed_form():
    """sympy's derivative of the loop forward vs γ_i/σ (δ_ij − 1/m − x̂_i x̂_j/m), exactly at a rational point."""
    x = symbol_tensor("x", (2, 3), base=0, sep=",")
    w = symbol_tensor("w", (3,), base=0)
    eps = sympy.Rational(1, 10)
    J = jacobian(snm.layer_norm(x, w, normalized_shape=3, eps=eps), vec_column(x))
    point = dict(zip(list(x.ravel()) + list(w), [sympy.Rational(v) for v in (1, -2, 4, 3, 3, 5, 2, -1, 3)]))
    for r in range(2):
        vals = [point[x[r, k]] for k in range(3)]
        mu = sum(vals) / 3
        sigma = sympy.sqrt(sum((v - mu) ** 2 for v in vals) / 3 + eps)
        xhat = [(v - mu) / sigma for v in vals]
        for i in range(3):
            for j in range(6):
                got = J[3 * r + i, j].xreplace(point)
                if j // 3 != r:
                    assert got == 0  # structurally zero across rows: sympy finds no dependence at all
                    continue
                jj = j % 3
                want = point[w[i]] / sigma * (int(i == jj) - sympy.Rational(1, 3) - xhat[i] * xhat[jj] / 3)
                assert sympy.simplify(got - want) == 0, (r, i, j)


def test_two_channel_batch_norm_blocks_and_the_numeric_builder():
    """The sympy Jacobian of a (3, 2) batch norm is block-diagonal by channel (exact zeros across), and equals the
    numeric CSR builder at a point to 1e-14."""
    x = symbol_tensor("x", (3, 2), base=0, sep=",")
    J = jacobian(snm.batch_norm(x, eps=sympy.Rational(1, 100)), vec_column(x))
    channel = [k % 2 for k in range(6)]
    for r in range(6):
        for c in range(6):
            if channel[r] != channel[c]:
                assert J[r, c] == 0
            else:
                assert J[r, c] != 0
    values = np.array([[0.5, -1.0], [2.0, 0.25], [-1.5, 3.0]])
    point = {s: sympy.Rational(v) for s, v in zip(x.ravel(), values.ravel())}
    sym = np.array(J.xreplace(point).evalf(30).tolist(), dtype=np.float64)
    num = nm.batch_norm_input_jacobian(values, eps=0.01).toarray()
    assert np.abs(sym - num).max() <= 1e-14 * np.abs(sym).max()


import pytest  # noqa: E402


@pytest.mark.parametrize(
    "kind,shape,params",
    [("layer_norm", (2, 3), {"normalized_shape": 3}), ("batch_norm", (3, 2), {}), ("group_norm", (1, 4, 2), {"num_groups": 2}),
     ("instance_norm", (2, 1, 3), {})],
)
def test_entry_form_equals_the_differentiated_forward(kind, shape, params):
    """entry_form's γ/σ (δ − 1/m − x̂x̂ᵀ/m), with σ and x̂ replaced by their definitions, equals sympy's derivative
    of the loop forward — exactly, at a rational point."""
    import doctest

    x = symbol_tensor("x", shape, base=0, sep=",")
    eps = sympy.Rational(1, 7)
    fwd = getattr(snm, kind)
    w = symbol_tensor("w", (shape[1],) if kind != "layer_norm" else shape[-1:], base=0)
    J_fwd = jacobian(fwd(x, w, **params, eps=eps), vec_column(x))
    J_form, xhat, sigma, gamma = snm.entry_form(kind, shape, **params)
    rng = np.random.default_rng(3)
    point = {s: sympy.Rational(int(v), 4) for s, v in zip(list(x.ravel()) + list(w.ravel()), rng.integers(-8, 9, x.size + w.size))}
    key, _ = snm.GROUP_KEYS[kind](shape, **params)
    groups = {}
    for t in np.ndindex(*shape):
        groups.setdefault(key(t), []).append(t)
    subs = {g: point[v] for g, v in zip(gamma.ravel(), w.ravel())}
    for k, members in enumerate(groups.values()):
        vals = [point[x[t]] for t in members]
        mu = sum(vals) / len(vals)
        sd = sympy.sqrt(sum((v - mu) ** 2 for v in vals) / len(vals) + eps)
        subs[sigma[k]] = sd
        for t, v in zip(members, vals):
            subs[xhat[t]] = (v - mu) / sd
    diff = (J_fwd.xreplace(point) - J_form.xreplace(subs)).applyfunc(sympy.simplify)
    assert diff.is_zero_matrix
    assert doctest.testmod(snm).failed == 0
