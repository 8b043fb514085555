"""leaky_relu, elu, gelu, softplus, dropout: the kink values PyTorch's autograd uses, bad input, torch sweeps."""
import doctest
import math

import numpy as np
import pytest
from conftest import requires_torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jacobians.ops import activation as act

# derivative at the kink, written from PyTorch's backward formulas (aten): leaky_relu_backward uses self > 0,
# elu_backward uses x <= 0 → alpha·exp(x), softplus_backward uses βx > threshold → 1 else σ(βx)
KINKS = [
    ("leaky_relu", {"negative_slope": 0.1}, 0.0, 0.1),
    ("leaky_relu", {"negative_slope": -0.3}, 0.0, -0.3),
    ("elu", {"alpha": 1.7}, 0.0, 1.7),
    ("softplus", {"beta": 1.0, "threshold": 20.0}, 20.0, 1 / (1 + math.exp(-20.0))),
    ("softplus", {"beta": 2.0, "threshold": 3.0}, 1.5, 1 / (1 + math.exp(-3.0))),
    ("gelu", {"approximate": "none"}, 0.0, 0.5),
    ("gelu", {"approximate": "tanh"}, 0.0, 0.5),
]


@pytest.mark.parametrize("name,params,z,want", KINKS)
def test_derivative_at_the_kink_is_pytorchs(name, params, z, want):
    J = getattr(act, f"{name}_jacobian")(np.array([z]), **params)
    assert J.toarray()[0, 0] == pytest.approx(want, rel=1e-15, abs=0)
    assert getattr(act, f"{name}_vjp")(np.array([1.0]), np.array([z]), **params)[0] == pytest.approx(want, rel=1e-15)


@requires_torch
@pytest.mark.torch
@pytest.mark.parametrize("name,params,z,want", KINKS)
def test_kink_values_equal_torch_autograd(name, params, z, want):
    torch = pytest.importorskip("torch")
    t = torch.tensor([z], dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(getattr(torch.nn.functional, name)(t, **params).sum(), t)
    J = getattr(act, f"{name}_jacobian")(np.array([z]), **params)
    assert J.toarray()[0, 0] == pytest.approx(float(grad), rel=1e-15, abs=1e-300)


def test_derivatives_against_finite_differences_away_from_kinks():
    z = np.linspace(-4, 4, 41) + 0.013
    h = 1e-6
    for name, params in [("leaky_relu", {"negative_slope": 0.2}), ("elu", {"alpha": 0.7}), ("gelu", {}),
                         ("gelu", {"approximate": "tanh"}), ("softplus", {"beta": 1.5, "threshold": 2.0})]:
        f = getattr(act, name)
        fd = (f(z + h, **params) - f(z - h, **params)) / (2 * h)
        d = getattr(act, f"{name}_jacobian")(z, **params).diagonal()
        near = np.abs(1.5 * z - 2.0) < 1e-5 if name == "softplus" else np.zeros(z.shape, bool)
        assert np.abs(d - fd)[~near].max() < 1e-8, name


def test_dropout_scales_kept_entries_and_p_one_gives_zeros():
    mask = np.array([[1, 0, 1], [0, 0, 1]])
    J = act.dropout_jacobian(mask, 0.25).toarray()
    want = np.diag(np.array([4 / 3, 0, 4 / 3, 0, 0, 4 / 3]))
    np.testing.assert_allclose(J, want, rtol=1e-15)
    assert act.dropout_jacobian(np.zeros(3, bool), 1.0).toarray().sum() == 0
    np.testing.assert_array_equal(act.dropout(np.ones(3), np.zeros(3, bool), 1.0), np.zeros(3))


@requires_torch
@pytest.mark.torch
def test_dropout_vjp_equals_torch_native_dropout_backward():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    mask = rng.random((4, 5)) > 0.3
    g = rng.standard_normal((4, 5))
    theirs = torch.ops.aten.native_dropout_backward(torch.tensor(g), torch.tensor(mask), 1 / 0.7).numpy()
    np.testing.assert_allclose(act.dropout_vjp(g, mask, 0.3), theirs, rtol=1e-15, atol=0)


@pytest.mark.parametrize(
    "call,exc,message",
    [
        (lambda: act.gelu(np.ones(2), approximate="erf"), ValueError, r"^approximate: must be 'none' or 'tanh'"),
        (lambda: act.leaky_relu_jacobian(np.ones(2), negative_slope="0.1"), TypeError, r"^negative_slope: must be a real"),
        (lambda: act.elu(np.ones(2), alpha=float("inf")), ValueError, r"^alpha: must be finite"),
        (lambda: act.softplus(np.ones(2), beta=0), ValueError, r"^beta: must be nonzero"),
        (lambda: act.softplus_jacobian(np.ones(2), threshold=None), TypeError, r"^threshold: must be a real"),
        (lambda: act.dropout_jacobian(np.array([0.5, 1.0]), 0.5), ValueError, r"^mask: entries must be 0 or 1"),
        (lambda: act.dropout_jacobian(np.ones(2), 1.5), ValueError, r"^p: must be a probability in \[0, 1\]"),
        (lambda: act.dropout(np.ones(3), np.ones(2), 0.5), ValueError, r"^mask: must have the shape of z"),
        (lambda: act.elu_vjp(np.ones(3), np.ones(2)), ValueError, r"^g: must have the shape of z"),
    ],
)
def test_bad_input_one_line(call, exc, message):
    with pytest.raises(exc, match=message) as info:
        call()
    assert "\n" not in str(info.value)


def test_float32_preserved():
    z = np.linspace(-2, 2, 5, dtype=np.float32)
    for name in ("leaky_relu", "elu", "gelu", "softplus"):
        assert getattr(act, name)(z).dtype == np.float32, name
        assert getattr(act, f"{name}_jacobian")(z).dtype == np.float32, name
    assert act.dropout(z, np.ones(5), 0.5).dtype == np.float32


def test_docstring_examples():
    result = doctest.testmod(act, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


_PARAMS = {
    "leaky_relu": st.fixed_dictionaries({"negative_slope": st.floats(-1, 1)}),
    "elu": st.fixed_dictionaries({"alpha": st.floats(0.05, 3)}),
    "gelu": st.fixed_dictionaries({"approximate": st.sampled_from(["none", "tanh"])}),
    "softplus": st.fixed_dictionaries({"beta": st.floats(0.25, 4), "threshold": st.floats(0.5, 25)}),
}


@requires_torch
@pytest.mark.torch
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(_PARAMS)), data=st.data(), shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
       with_kinks=st.booleans(), seed=st.integers(0, 2**16))
def test_hypothesis_against_torch_jacrev(name, data, shape, with_kinks, seed):
    """Explicit Jacobian vs torch.func.jacrev, including exact kink points (z = 0, βz = threshold)."""
    from jacobians.check import _torch_jacobian
    from jacobians.registry import get_operator

    params = data.draw(_PARAMS[name])
    z = np.random.default_rng(seed).standard_normal(shape) * 3
    if with_kinks:
        z.ravel()[0] = 0.0
        if name == "softplus":
            z.ravel()[-1] = params["threshold"] / params["beta"]
    spec = get_operator(name)
    J = spec.jacobian["z"](z, **params).toarray()
    T = _torch_jacobian(spec, {"z": z}, params, "z")
    assert np.abs(J - T).max() <= 1e-14 * max(1.0, np.abs(T).max())


@requires_torch
@pytest.mark.torch
@settings(max_examples=15, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), p=st.sampled_from([0.0, 0.2, 0.5, 0.9, 1.0]),
       seed=st.integers(0, 2**16))
def test_hypothesis_dropout_against_torch(shape, p, seed):
    from jacobians.check import check_operator
    from jacobians.registry import Case, get_operator

    rng = np.random.default_rng(seed)
    mask = rng.random(shape) >= p if p < 1 else np.zeros(shape, bool)
    case = Case({"z": rng.standard_normal(shape), "mask": mask}, {"p": p}, "sweep", constant=("mask",))
    report = check_operator(get_operator("dropout"), case, use_torch=True)
    assert any(r.route == "torch" for r in report.results)
    report.assert_ok()
