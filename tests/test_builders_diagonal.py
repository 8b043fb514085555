"""Diagonal activation Jacobians written directly (indptr = indices = arange, data in chunks).

Route: scipy's dia-format diagonal (``sp.diags_array``) of the derivative
computed on the whole array at once — the builders' former route — on sizes
that straddle the chunk boundary.
"""
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import expit

import jacobians.ops.activation as act


def _dia(values):
    return sp.diags_array(values.ravel(), offsets=0, shape=(values.size, values.size), format="csr")


@pytest.mark.parametrize("chunk", [1, 5, 1 << 16])
@pytest.mark.parametrize("shape", [(1,), (3, 4, 5), (2, 7, 11)])
def test_sigmoid_and_tanh_equal_the_dia_route(chunk, shape, monkeypatch):
    monkeypatch.setattr(act, "_DIAG_CHUNK", chunk)
    z = 3 * np.random.default_rng(sum(shape) + chunk).standard_normal(shape)
    s, t = expit(z), np.tanh(z)
    for got, ref in ((act.sigmoid_jacobian(z), _dia(s * (1 - s))), (act.tanh_jacobian(z), _dia(1 - t * t))):
        assert got.shape == ref.shape
        np.testing.assert_array_equal(got.indptr, ref.indptr)
        np.testing.assert_array_equal(got.indices, ref.indices)
        np.testing.assert_array_equal(got.data, ref.data)


def test_float32_on_request():
    z = np.linspace(-2, 2, 9)
    got = act.sigmoid_jacobian(z, dtype=np.float32)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.diagonal(), (expit(z) * (1 - expit(z))).astype(np.float32))


@pytest.mark.parametrize("chunk", [1, 7, 1 << 16])
def test_modern_activations_equal_the_whole_array_route(chunk, monkeypatch):
    from jacobians.ops._sparse import diagonal_csr

    monkeypatch.setattr(act, "_DIAG_CHUNK", chunk)
    z = 2 * np.random.default_rng(chunk).standard_normal((3, 5, 4))
    z[0, 0, 0] = 0.0  # the kink's convention travels through the chunks too
    cases = [
        (act.elu_jacobian(z, 1.5), act._elu_derivative(z, 1.5)),
        (act.leaky_relu_jacobian(z, 0.1), act._leaky_relu_derivative(z, 0.1)),
        (act.gelu_jacobian(z, "tanh"), act._gelu_derivative(z, "tanh")),
        (act.softplus_jacobian(z, 2.0, 3.0), act._softplus_derivative(z, 2.0, 3.0)),
    ]
    for got, values in cases:
        ref = diagonal_csr(values)  # the former route: derivative of the whole array, then the diagonal
        np.testing.assert_array_equal(got.indptr, ref.indptr)
        np.testing.assert_array_equal(got.indices, ref.indices)
        np.testing.assert_array_equal(got.data, ref.data)


def test_parameters_still_checked_on_empty_input():
    with pytest.raises((ValueError, TypeError), match="beta"):
        act.softplus_jacobian(np.zeros(0), beta=0.0)
