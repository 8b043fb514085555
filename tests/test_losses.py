"""cross_entropy_loss / nll_loss / mse_loss as PyTorch defines them: torch sweeps, hand values, bad input."""
import doctest

import numpy as np
import pytest
from conftest import requires_torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jacobians.geometry import GeometryError
from jacobians.ops import losses as L
from jacobians.ops import softmax as smx


def test_one_hot_index_target_agrees_with_the_notes_soft_target_form():
    """Index targets without smoothing: the mean over positions of the note's −Σ y log softmax(s) (another code path)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    t = np.array([2, 0, 3])
    eye = np.eye(4)
    want = np.mean([float(smx.softmax_soft_cross_entropy(x[i], eye[t[i]])) for i in range(3)])
    assert float(L.cross_entropy_loss(x, t)) == pytest.approx(want, rel=1e-14)
    rows = [smx.softmax_soft_cross_entropy_grad(x[i], eye[t[i]]) / 3 for i in range(3)]
    np.testing.assert_allclose(L.cross_entropy_loss_jacobian(x, t).toarray().ravel(), np.concatenate(rows), rtol=0,
                               atol=1e-16)


def test_none_reduction_rows_are_empty_for_ignored_positions():
    x = np.zeros((3, 2))
    J = L.cross_entropy_loss_jacobian(x, np.array([1, -100, 0]), reduction="none")
    assert J.shape == (3, 6) and np.diff(J.indptr).tolist() == [2, 0, 2]
    np.testing.assert_array_equal(J.toarray(), [[0.5, -0.5, 0, 0, 0, 0], [0] * 6, [0, 0, 0, 0, -0.5, 0.5]])
    N = L.nll_loss_jacobian(x, np.array([1, -100, 0]), reduction="none")
    np.testing.assert_array_equal(N.toarray(), [[0, -1, 0, 0, 0, 0], [0] * 6, [0, 0, 0, 0, -1, 0]])


@pytest.mark.parametrize(
    "call,exc,message",
    [
        (lambda: L.cross_entropy_loss(np.zeros((2, 3)), np.array([0, 3])), ValueError,
         r"^target: class indices must lie in \[0, 3\) or equal ignore_index = -100 \(got 3\)"),
        (lambda: L.nll_loss(np.zeros((2, 3)), np.array([-1, 0])), ValueError, r"^target: class indices must lie in"),
        (lambda: L.cross_entropy_loss(np.zeros((2, 3)), np.full((2, 3), 0.3)), ValueError,
         r"^target: probabilities must sum to 1 over the class axis"),
        (lambda: L.cross_entropy_loss(np.zeros((2, 3)), np.array([[1.5, -0.5, 0.0]] * 2)), ValueError,
         r"^target: probabilities must be finite and ≥ 0"),
        (lambda: L.cross_entropy_loss(np.zeros((2, 3)), np.zeros((2, 2))), GeometryError,
         r"^target: probabilities must have the shape of input"),
        (lambda: L.cross_entropy_loss(np.zeros((2, 3)), np.array([0, 1, 2])), GeometryError,
         r"^target: class indices must have shape \(2,\)"),
        (lambda: L.cross_entropy_loss(np.zeros((2, 3)), np.array([0, 1]), reduction="avg"), ValueError,
         r"^reduction: must be 'mean', 'sum' or 'none'"),
        (lambda: L.cross_entropy_loss(np.zeros((2, 3)), np.array([0, 1]), label_smoothing=1.5), ValueError,
         r"^label_smoothing: must be in \[0, 1\]"),
        (lambda: L.cross_entropy_loss_jacobian(np.zeros((2, 3)), np.array([-100, -100])), ValueError,
         r"^target: every position equals ignore_index"),
        (lambda: L.cross_entropy_loss(np.zeros(3), np.array(0)), GeometryError, r"^input: must have shape \(N, C\)"),
        (lambda: L.nll_loss(np.zeros((2, 3)), np.array([0, 1]), ignore_index=1.0), TypeError,
         r"^ignore_index: must be an integer"),
        (lambda: L.cross_entropy_loss(np.zeros((1, 2)), np.array([[0.5, 0.5]]), ignore_index=0), ValueError,
         r"^ignore_index: not supported for probability targets"),
        (lambda: L.mse_loss(np.zeros(3), np.zeros(2)), GeometryError, r"^target: must have the shape of input"),
        (lambda: L.cross_entropy_loss_vjp(np.ones(2), np.zeros((2, 3)), np.array([0, 1])), ValueError,
         r"^g: must have the shape of the loss \(\)"),
    ],
)
def test_bad_input_one_line(call, exc, message):
    with pytest.raises(exc, match=message) as info:
        call()
    assert "\n" not in str(info.value)


def test_float32_preserved():
    x = np.zeros((2, 3), np.float32)
    assert L.cross_entropy_loss(x, np.array([0, 1])).dtype == np.float32
    assert L.cross_entropy_loss_jacobian(x, np.array([0, 1])).dtype == np.float32
    assert L.mse_loss_jacobian(x, x, reduction="none").dtype == np.float32


def test_docstring_examples():
    result = doctest.testmod(L, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 6 and result.failed == 0


def _check(name, inputs, params):
    from jacobians.check import check_operator
    from jacobians.registry import Case, get_operator

    report = check_operator(get_operator(name), Case(inputs, params, "sweep", constant=("target",)),
                            rng=np.random.default_rng(0), use_torch=True)
    assert any(r.route == "torch" for r in report.results)
    report.assert_ok()


_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@requires_torch
@pytest.mark.torch
@_SETTINGS
@given(n=st.integers(1, 3), c=st.integers(1, 4), extra=st.lists(st.integers(1, 3), max_size=2),
       kind=st.sampled_from(["index", "index-ignore", "prob"]), reduction=st.sampled_from(["mean", "sum", "none"]),
       smoothing=st.sampled_from([0.0, 0.1, 0.5, 1.0]), ignore_index=st.sampled_from([-100, 0, 2]),
       seed=st.integers(0, 2**16))
def test_hypothesis_cross_entropy_against_torch(n, c, extra, kind, reduction, smoothing, ignore_index, seed):
    rng = np.random.default_rng(seed)
    shape = (n, c, *extra)
    x = rng.standard_normal(shape) * 2
    if kind == "prob":
        t = np.moveaxis(rng.dirichlet(np.ones(c), size=(n, *extra)), -1, 1)
        ignore_index = -100  # PyTorch refuses any other with probability targets (so do we: tested above)
    else:
        t = rng.integers(0, c, size=(n, *extra))
        if kind == "index-ignore":
            t.ravel()[::2] = ignore_index
        if reduction == "mean" and (t == ignore_index).all():
            t.ravel()[0] = (ignore_index + 1) % c if c > 1 and ignore_index in range(c) else 0
            if (t == ignore_index).all():
                return  # (only ignored targets: PyTorch's nan, refused here — tested above)
    _check("cross_entropy_loss", {"input": x, "target": t},
           {"ignore_index": ignore_index, "reduction": reduction, "label_smoothing": smoothing})


@requires_torch
@pytest.mark.torch
@_SETTINGS
@given(n=st.integers(1, 3), c=st.integers(1, 4), extra=st.lists(st.integers(1, 3), max_size=2),
       ignore=st.booleans(), reduction=st.sampled_from(["mean", "sum", "none"]), seed=st.integers(0, 2**16))
def test_hypothesis_nll_against_torch(n, c, extra, ignore, reduction, seed):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, c, size=(n, *extra))
    if ignore and t.size > 1:
        t.ravel()[1::2] = -100
    _check("nll_loss", {"input": rng.standard_normal((n, c, *extra)), "target": t}, {"reduction": reduction})


@requires_torch
@pytest.mark.torch
@settings(max_examples=15, deadline=None)
@given(shape=st.lists(st.integers(1, 3), min_size=1, max_size=3), reduction=st.sampled_from(["mean", "sum", "none"]),
       seed=st.integers(0, 2**16))
def test_hypothesis_mse_against_torch(shape, reduction, seed):
    rng = np.random.default_rng(seed)
    _check("mse_loss", {"input": rng.standard_normal(shape), "target": rng.standard_normal(shape)}, {"reduction": reduction})
