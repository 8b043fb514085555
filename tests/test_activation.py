"""ReLU, sigmoid, tanh: diagonal Jacobians, the value at ReLU's kink, note 000's mask vs note 004's diag."""
import doctest
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import check_registered_cases_with_torch, requires_torch

from jacobians.ops import activation
from jacobians.ops.activation import (
    relu,
    relu_jacobian,
    relu_jacobian_from_mask,
    relu_mask,
    relu_vjp_hadamard,
    sigmoid,
    sigmoid_jacobian,
    sigmoid_vjp,
    tanh,
    tanh_jacobian,
    tanh_vjp,
)
from jacobians.registry import get_operator

Z_WITH_ZEROS = np.array([[-2.0, 0.0, 3.0], [0.0, 1e-300, -1e-300]])


def test_relu_value_and_derivative_at_zero_are_zero():
    assert np.array_equal(relu(Z_WITH_ZEROS), [[0, 0, 3], [0, 1e-300, 0]])
    J = relu_jacobian(Z_WITH_ZEROS).toarray()
    # note 004: diag(Ind(vec(z) > 0)) — strict, so the entries at z = 0 are 0; written out by hand here
    assert np.array_equal(J, np.diag([0.0, 0.0, 1.0, 0.0, 1.0, 0.0]))


def test_relu_jacobian_stores_only_ones():
    J = relu_jacobian(Z_WITH_ZEROS)
    assert sp.issparse(J) and J.format == "csr"
    assert J.nnz == 2 and np.array_equal(J.data, [1.0, 1.0])
    assert np.array_equal(np.diff(J.indptr), [0, 0, 1, 0, 1, 0])  # rows of z ≤ 0 are empty


def test_note000_hadamard_mask_and_note004_diag_agree():
    z = np.random.default_rng(0).standard_normal((3, 4, 5))
    z.ravel()[::7] = 0.0
    A = relu_mask(z)
    assert set(np.unique(A)) <= {0.0, 1.0} and A.shape == z.shape
    J_diag = relu_jacobian(z)  # note 004, built as CSR from the positive entries
    J_mask = relu_jacobian_from_mask(z)  # note 000's A on a diagonal, built through scipy's dia format
    assert (J_diag != J_mask).nnz == 0
    assert np.array_equal(J_diag.indices, J_mask.indices) and np.array_equal(J_diag.indptr, J_mask.indptr)
    g = np.random.default_rng(1).standard_normal(z.shape)
    # ∂Q/∂Z = A ∘ ∂Q/∂X' (note 000, eq. 2.1) equals gᵀ diag(Ind(vec(z) > 0)) (note 004)
    assert np.array_equal(relu_vjp_hadamard(g, z).ravel(), J_diag.T @ g.ravel())


def test_relu_propagates_nan():
    assert np.isnan(relu(np.array([np.nan]))[0])


def test_sigmoid_and_tanh_jacobians_against_closed_forms_written_differently():
    z = np.linspace(-6, 6, 25)
    # σ'(z) = e^{−z}/(1 + e^{−z})² and tanh'(z) = sech²(z) = 1/cosh²(z). σ(1 − σ) and 1 − tanh² cancel
    # where σ, |tanh| → 1: their error is a few ulps of 1 in absolute terms, hence atol = 1e-15.
    np.testing.assert_allclose(sigmoid_jacobian(z).diagonal(), np.exp(-z) / (1 + np.exp(-z)) ** 2, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(tanh_jacobian(z).diagonal(), 1 / np.cosh(z) ** 2, rtol=1e-13, atol=1e-15)
    for J in (sigmoid_jacobian(z), tanh_jacobian(z)):
        assert J.format == "csr" and J.shape == (25, 25)
        assert (J - sp.diags_array(J.diagonal())).nnz == 0  # nothing off the diagonal


@pytest.mark.parametrize("fn,jac", [(sigmoid, sigmoid_jacobian), (tanh, tanh_jacobian), (relu, relu_jacobian)])
def test_jacobian_diagonal_against_central_differences(fn, jac):
    z = np.random.default_rng(2).standard_normal((2, 3, 4)) * 2
    z[np.abs(z) < 1e-3] = 0.5  # away from ReLU's kink
    h = 1e-6
    fd = (fn(z + h) - fn(z - h)) / (2 * h)  # element-wise map: a constant step probes every diagonal entry
    np.testing.assert_allclose(jac(z).diagonal(), fd.ravel(), rtol=0, atol=1e-8)


@pytest.mark.parametrize("preset", ["vardhan2022", "dd2424", "channels-last"])
def test_elementwise_jacobians_are_the_same_diagonal_in_every_convention(preset):
    from jacobians.conventions import PRESETS, vec

    z = np.random.default_rng(4).standard_normal((2, 3, 4))
    conv = PRESETS[preset]
    for jac, deriv in ((sigmoid_jacobian, sigmoid(z) * (1 - sigmoid(z))), (relu_jacobian, (z > 0) * 1.0)):
        J_conv = conv.jacobian(jac(z), z.shape, z.shape).toarray()
        # P diag(d) Pᵀ = diag(P d): the derivative vector re-ordered by the convention's vec
        np.testing.assert_allclose(J_conv, np.diag(vec(deriv, conv)), rtol=0, atol=0)


def test_sigmoid_does_not_overflow_for_large_scores():
    z = np.array([-1000.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(sigmoid(z), [0.0, 1.0])
        assert np.array_equal(sigmoid_jacobian(z).diagonal(), [0.0, 0.0])


def test_vjps_check_the_gradient_shape():
    with pytest.raises(ValueError, match="^g: must have the shape of z"):
        sigmoid_vjp(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="^g: must have the shape of z"):
        tanh_vjp(np.zeros(3), np.zeros(4))


def test_registered_cases_stay_away_from_the_kink():
    for case in get_operator("relu").cases():
        assert np.abs(case.inputs["z"]).min() > 1e-3


@requires_torch
def test_torch_autograd_gives_relu_derivative_zero_at_zero():
    import torch

    z = torch.tensor([0.0, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
    torch.relu(z).sum().backward()
    assert np.array_equal(z.grad.numpy(), relu_jacobian(np.array([0.0, -1.0, 2.0])).diagonal())


@requires_torch
@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
def test_registered_cases_against_torch_jacrev(name):
    check_registered_cases_with_torch(name)


def test_module_docstring_examples():
    result = doctest.testmod(activation, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 4 and result.failed == 0

