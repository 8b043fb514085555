"""Chains apply row-selection links (diagonals, masks, switches, permutations) by gathering rows.

Route: our gather against scipy's general sparse product of the same
matrices (a different code path), on random matrices with empty rows,
explicit zeros, repeated sources and tiny gather chunks.
"""
import numpy as np
import pytest
import scipy.sparse as sp

import jacobians.chain as chain_mod
from jacobians import conv2d_input_jacobian, max_pool2d_jacobian, relu_jacobian
from jacobians.chain import Chain, Link, RowSelection


def _selection(rng, n_rows, n_cols, empty=0.3, zero=0.1):
    src = rng.integers(0, n_cols, n_rows)
    data = rng.standard_normal(n_rows)
    data[rng.random(n_rows) < zero] = 0.0  # explicit zeros stay in the matrix
    keep = rng.random(n_rows) >= empty
    indptr = np.concatenate(([0], np.cumsum(keep)))
    return sp.csr_array((data[keep], src[keep], indptr), shape=(n_rows, n_cols))


def _scipy_product(mats):
    out = mats[0]
    for m in mats[1:]:
        out = m @ out
    return out.toarray()


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("chunk", [1, 7, 1 << 22])
def test_gather_equals_scipy_product(seed, chunk, monkeypatch):
    monkeypatch.setattr(chain_mod, "_GATHER_CHUNK", chunk)
    rng = np.random.default_rng(seed)
    general = sp.random_array((30, 17), density=0.3, format="csr", rng=rng)
    s1 = _selection(rng, 40, 30)
    s2 = _selection(rng, 25, 40)
    general2 = sp.random_array((11, 25), density=0.4, format="csr", rng=rng)
    s3 = _selection(rng, 9, 11)
    mats = [general, s1, s2, general2, s3]
    got = Chain([Link(f"m{k}", m) for k, m in enumerate(mats)]).jacobian()
    np.testing.assert_allclose(got.toarray(), _scipy_product(mats), rtol=1e-14, atol=1e-14)
    # zero-scaled and empty rows are dropped, not stored
    assert not np.any(got.data == 0)


def test_selection_only_chains_and_leading_selection():
    rng = np.random.default_rng(5)
    s1, s2 = _selection(rng, 12, 10), _selection(rng, 8, 12)
    general = sp.random_array((6, 8), density=0.5, format="csr", rng=rng)
    for mats in ([s1, s2], [s1], [s1, s2, general]):
        got = Chain([Link(f"m{k}", m) for k, m in enumerate(mats)]).jacobian()
        np.testing.assert_allclose(got.toarray(), _scipy_product(mats), rtol=1e-14, atol=1e-14)


def test_from_matrix_refuses_rows_with_two_entries():
    assert RowSelection.from_matrix(sp.csr_array(np.array([[1.0, 1.0]]))) is None


def test_conv_relu_maxpool_chain_equals_scipy():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 8, 8))
    w = rng.standard_normal((3, 2, 3, 3))
    from jacobians import conv2d, relu

    s = conv2d(x, w, padding=1)
    a = relu(s)
    mats = [conv2d_input_jacobian(w, x.shape, padding=1), relu_jacobian(s), max_pool2d_jacobian(a, 2)]
    got = Chain([Link(n, m) for n, m in zip("crp", mats)]).jacobian()
    np.testing.assert_allclose(got.toarray(), _scipy_product(mats), rtol=1e-14, atol=1e-14)


def test_gather_mixes_float32_matrices_with_float64_selections():
    """A float32 product under a float64 selection (found by from_torch on float32 models)."""
    rng = np.random.default_rng(9)
    general = sp.random_array((6, 5), density=0.6, format="csr", rng=rng).astype(np.float32)
    sel = _selection(rng, 4, 6)
    got = Chain([Link("g", general), Link("s", sel)]).jacobian()
    np.testing.assert_allclose(got.toarray(), (sel @ general.astype(np.float64)).toarray(), rtol=1e-6, atol=1e-7)
