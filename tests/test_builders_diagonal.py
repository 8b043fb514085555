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
