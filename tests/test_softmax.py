"""Softmax, note 004's cross-entropy and its chained gradient, soft targets, note 000's Frobenius loss."""
import doctest
import warnings

import numpy as np
import pytest
from conftest import check_registered_cases_with_torch, requires_torch

from jacobians.ops import softmax as softmax_module
from jacobians.ops.softmax import (
    cross_entropy,
    cross_entropy_jacobian,
    frobenius_loss,
    frobenius_loss_jacobian,
    soft_cross_entropy,
    softmax,
    softmax_cross_entropy,
    softmax_cross_entropy_grad,
    softmax_cross_entropy_grad_onehot,
    softmax_jacobian,
    softmax_soft_cross_entropy,
    softmax_soft_cross_entropy_grad,
)
from jacobians.ledger.dd2424_formulas import softmax_cross_entropy_grad_note004
from jacobians.registry import get_operator

RNG = np.random.default_rng(2024)
S = RNG.standard_normal(6) * 2
ONE_HOTS = [np.eye(6)[k] for k in range(6)]
SOFT = RNG.dirichlet(np.ones(6))


def _fd_gradient(f, s, h=1e-6):
    """Central differences of a scalar function, one coordinate at a time."""
    out = np.empty_like(s)
    for k in range(s.size):
        e = np.zeros_like(s)
        e[k] = h
        out[k] = (float(f(s + e)) - float(f(s - e))) / (2 * h)
    return out


def _fd_jacobian(f, s, h=1e-6):
    cols = []
    for k in range(s.size):
        e = np.zeros_like(s)
        e[k] = h
        cols.append((f(s + e) - f(s - e)) / (2 * h))
    return np.stack(cols, axis=1)


# ---------------------------------------------------------------------------
# softmax
# ---------------------------------------------------------------------------
def test_softmax_is_stable_for_huge_scores():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = softmax(S + 1000.0)
    np.testing.assert_allclose(p, softmax(S), rtol=1e-12)
    # against the textbook formula, evaluated where it does not overflow
    np.testing.assert_allclose(softmax(S), np.exp(S) / np.exp(S).sum(), rtol=1e-14)


def test_softmax_jacobian_against_finite_differences():
    J = softmax_jacobian(S)
    # central differences: truncation error ~ h²·|p'''| ≲ 1e-12, rounding ~ eps/h ≈ 1e-10
    np.testing.assert_allclose(J, _fd_jacobian(softmax, S), rtol=0, atol=1e-9)


def test_softmax_jacobian_structure():
    J = softmax_jacobian(S)
    np.testing.assert_array_equal(J, J.T)
    np.testing.assert_allclose(J.sum(axis=0), 0.0, atol=1e-16)  # Σ_i p_i = 1 for every s
    assert softmax_jacobian(S, sparse=True).shape == (6, 6)


# ---------------------------------------------------------------------------
# note 004: ∂l/∂s = −yᵀ/(yᵀp) (diag(p) − p pᵀ) and the (p − y)ᵀ shortcut
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("k", range(6))
def test_note004_chain_equals_p_minus_y_for_one_hot(k):
    y = ONE_HOTS[k]
    chained = softmax_cross_entropy_grad_note004(S, y)
    np.testing.assert_allclose(chained, softmax(S) - y, rtol=0, atol=1e-15)
    fd = _fd_gradient(lambda s: softmax_cross_entropy(s, y), S)
    np.testing.assert_allclose(chained, fd, rtol=0, atol=1e-9)
    # the textbook shortcut against finite differences of the loss (not against its own body p − y)
    np.testing.assert_allclose(softmax_cross_entropy_grad_onehot(S, y), fd, rtol=0, atol=1e-9)


def test_note004_chain_differs_from_p_minus_y_for_a_soft_label_as_the_algebra_says():
    p = softmax(S)
    chained = softmax_cross_entropy_grad_note004(S, SOFT)
    fd = _fd_gradient(lambda s: softmax_cross_entropy(s, SOFT), S)
    np.testing.assert_allclose(chained, fd, rtol=0, atol=1e-9)  # the note's chain is the true gradient of its l
    # … which is p − (y ∘ p)/(yᵀp), differing from p − y by y − (y ∘ p)/(yᵀp) ≠ 0
    np.testing.assert_allclose(chained, p - SOFT * p / (SOFT @ p), rtol=0, atol=1e-15)
    gap = chained - (p - SOFT)
    np.testing.assert_allclose(gap, SOFT - SOFT * p / (SOFT @ p), rtol=0, atol=1e-15)
    assert np.abs(gap).max() > 1e-2
    assert abs(chained.sum()) < 1e-15  # still orthogonal to the all-ones direction


def test_p_minus_y_holds_iff_p_is_constant_on_the_support_of_y():
    y = np.array([0.5, 0.5, 0.0, 0.0])
    equal_on_support = np.array([0.7, 0.7, -1.0, 2.0])
    unequal = np.array([0.7, 0.1, -1.0, 2.0])
    np.testing.assert_allclose(
        softmax_cross_entropy_grad_note004(equal_on_support, y), softmax(equal_on_support) - y, rtol=0, atol=1e-15
    )
    assert np.abs(softmax_cross_entropy_grad_note004(unequal, y) - (softmax(unequal) - y)).max() > 1e-2


def test_soft_target_cross_entropy_has_gradient_p_minus_y_for_any_probability_label():
    fd = _fd_gradient(lambda s: softmax_soft_cross_entropy(s, SOFT), S)
    np.testing.assert_allclose(softmax(S) - SOFT, fd, rtol=0, atol=1e-9)
    np.testing.assert_allclose(softmax_soft_cross_entropy_grad(S, SOFT), fd, rtol=0, atol=1e-9)
    # and it agrees with note 004's l for one-hot labels
    for y in ONE_HOTS:
        np.testing.assert_allclose(float(softmax_soft_cross_entropy(S, y)), float(softmax_cross_entropy(S, y)), rtol=1e-14)
        np.testing.assert_allclose(
            float(soft_cross_entropy(softmax(S), y)), float(cross_entropy(softmax(S), y)), rtol=1e-14
        )


def test_literal_reading_of_the_slide_diag_p_minus_ppT_is_wrong():
    # the slide prints diag(p − p pᵀ); read as "the diagonal matrix of p − p∘p" it drops the off-diagonal
    # −p_i p_j terms, and the chained gradient then disagrees with finite differences
    y = ONE_HOTS[2]
    p = softmax(S)
    literal = (-y / (y @ p)) @ np.diag(p - p * p)
    fd = _fd_gradient(lambda s: softmax_cross_entropy(s, y), S)
    assert np.abs(literal - fd).max() > 1e-2
    np.testing.assert_allclose(softmax_cross_entropy_grad_note004(S, y), fd, rtol=0, atol=1e-9)


def test_loss_on_probabilities_and_on_scores_agree_and_scores_are_stable():
    y = ONE_HOTS[1]
    np.testing.assert_allclose(float(cross_entropy(softmax(S), y)), float(softmax_cross_entropy(S, y)), rtol=1e-14)
    np.testing.assert_allclose(float(cross_entropy(softmax(S), SOFT)), float(softmax_cross_entropy(S, SOFT)), rtol=1e-13)
    s = np.array([1000.0, 0.0])
    y = np.array([0.0, 1.0])
    assert float(softmax_cross_entropy(s, y)) == 1000.0  # −log p₂ with p₂ = e^{−1000}, no underflow
    assert float(cross_entropy(softmax(s), y)) == np.inf  # p₂ underflows to 0 as a probability


def test_cross_entropy_jacobian_on_probabilities_against_finite_differences():
    p = softmax(S)
    J = cross_entropy_jacobian(p, SOFT)
    # perturb p freely (not on the simplex): l = −log(yᵀp) is defined near p
    fd = _fd_gradient(lambda q: -np.log(SOFT @ q), p, h=1e-8)
    assert J.shape == (1, 6)
    np.testing.assert_allclose(J.toarray()[0], fd, rtol=1e-6)


def test_label_validation_errors():
    with pytest.raises(ValueError, match="^y: non-one-hot label where one-hot is required"):
        softmax_cross_entropy_grad_onehot(S, SOFT)
    with pytest.raises(ValueError, match="^y: non-one-hot label where one-hot is required"):
        softmax_cross_entropy_grad_onehot(S, 2 * ONE_HOTS[0])
    with pytest.raises(ValueError, match="^y: must be a probability vector"):
        softmax_cross_entropy(S, np.full(6, 0.2))
    with pytest.raises(ValueError, match="^y: must be a probability vector"):
        cross_entropy(softmax(S), ONE_HOTS[0] * 2 - np.full(6, 1 / 6))
    with pytest.raises(ValueError, match="^y: must have the shape"):
        softmax_cross_entropy(S, np.ones(3) / 3)
    with pytest.raises(ValueError, match="^s: must be finite"):
        softmax(np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match=r"^s: must be a non-empty vector of shape \(C,\)"):
        softmax(np.zeros((2, 3)))


def test_registered_loss_cases_include_soft_labels_with_y_constant():
    cases = get_operator("softmax_cross_entropy").cases()
    assert all(c.constant == ("y",) for c in cases)
    assert any(not np.isin(c.inputs["y"], (0.0, 1.0)).all() for c in cases)


# ---------------------------------------------------------------------------
# note 000: Q = ½‖X − Y‖²_F
# ---------------------------------------------------------------------------
def test_frobenius_loss_and_its_row_jacobian():
    x = RNG.standard_normal((4, 3))
    y = RNG.standard_normal((4, 3))
    assert np.isclose(float(frobenius_loss(x, y)), 0.5 * np.linalg.norm(x - y, "fro") ** 2, rtol=1e-14)
    Jx = frobenius_loss_jacobian(x, y, "x")
    Jy = frobenius_loss_jacobian(x, y, "y")
    assert Jx.shape == Jy.shape == (1, 12)
    fd = _fd_gradient(lambda v: frobenius_loss(v.reshape(4, 3), y), x.ravel())
    np.testing.assert_allclose(Jx.toarray()[0], fd, rtol=0, atol=1e-8)
    np.testing.assert_allclose(Jy.toarray()[0], -Jx.toarray()[0], rtol=0, atol=0)
    with pytest.raises(ValueError, match="^y: must have the shape of x"):
        frobenius_loss(x, y[:2])


# ---------------------------------------------------------------------------
# torch
# ---------------------------------------------------------------------------
@requires_torch
def test_torch_cross_entropy_with_probability_targets_is_the_soft_target_loss():
    import torch
    import torch.nn.functional as F

    st = torch.from_numpy(S.copy()).requires_grad_(True)
    loss = F.cross_entropy(st[None], torch.from_numpy(SOFT)[None])
    loss.backward()
    np.testing.assert_allclose(loss.item(), float(softmax_soft_cross_entropy(S, SOFT)), rtol=1e-14)
    np.testing.assert_allclose(st.grad.numpy(), softmax(S) - SOFT, rtol=0, atol=1e-15)
    assert abs(loss.item() - float(softmax_cross_entropy(S, SOFT))) > 1e-2  # not note 004's −log(yᵀp)


@requires_torch
@pytest.mark.parametrize("name", ["softmax", "softmax_cross_entropy", "softmax_soft_cross_entropy", "frobenius_loss"])
def test_registered_cases_against_torch_jacrev(name):
    check_registered_cases_with_torch(name)


def test_module_docstring_examples():
    result = doctest.testmod(softmax_module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 4 and result.failed == 0


@pytest.mark.parametrize("scale", [0.5, 1.5, 0.0])
def test_a_label_whose_entries_do_not_sum_to_one_is_refused(scale):
    """Both sides of the sum check matter: a one-hot scaled below 1 must be refused as surely as one scaled above."""
    with pytest.raises(ValueError, match="probability vector"):
        softmax_cross_entropy(np.zeros(3), scale * np.eye(3)[1])
