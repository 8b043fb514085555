"""Conventions: permutations between vec orders, the commutation matrix, presets."""
import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from jacobians import conv2d, conv2d_input_jacobian
from jacobians.conventions import CANONICAL, PRESETS, Convention, commutation_matrix, get_convention, unvec, vec


def _reference_vec(t, vec_order, channels):
    """Plain-python reference: list entries in the convention's order by explicit index loops."""
    t = np.asarray(t)
    if t.ndim == 2:
        h, w = t.shape
        idx = [(i, j) for i in range(h) for j in range(w)] if vec_order == "row" else [(i, j) for j in range(w) for i in range(h)]
        return np.array([t[i, j] for i, j in idx])
    c, h, w = t.shape
    plane = [(i, j) for i in range(h) for j in range(w)] if vec_order == "row" else [(i, j) for j in range(w) for i in range(h)]
    if channels == "first":
        return np.array([t[k, i, j] for k in range(c) for i, j in plane])
    return np.array([t[k, i, j] for i, j in plane for k in range(c)])


@pytest.mark.parametrize("vec_order,channels", list(itertools.product(("row", "col"), ("first", "last"))))
@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 5), (1, 1, 4), (4, 1, 1)])
def test_permutation_matches_reference_order(vec_order, channels, shape):
    conv = Convention(vec=vec_order, channels=channels)
    t = np.arange(np.prod(shape), dtype=float).reshape(shape) + 1
    P = conv.permutation(shape)
    expected = _reference_vec(t, vec_order, channels)
    np.testing.assert_array_equal(P @ t.ravel(), expected)  # exact: a 0/1 selection
    np.testing.assert_array_equal(vec(t, conv), expected)
    np.testing.assert_array_equal(unvec(expected, shape, conv), t)
    # a permutation: exactly one 1 in every row and column
    assert set(P.data.tolist()) == {1.0}
    np.testing.assert_array_equal(P.sum(axis=0), 1)
    np.testing.assert_array_equal(P.sum(axis=1), 1)


def test_column_major_vec_is_fortran_order():
    a = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(Convention(vec="col").permutation(a.shape) @ a.ravel(), a.ravel(order="F"))


@pytest.mark.parametrize("m,n", [(1, 1), (2, 3), (3, 2), (4, 4), (1, 5)])
def test_commutation_matrix(m, n):
    a = np.random.default_rng(m * 10 + n).standard_normal((m, n))
    K = commutation_matrix(m, n)
    np.testing.assert_array_equal(K @ a.ravel(order="F"), a.T.ravel(order="F"))
    np.testing.assert_array_equal((K.T - commutation_matrix(n, m)).toarray(), 0)


def test_jacobian_in_a_note_convention_matches_probing_in_that_convention():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 5))
    w = rng.standard_normal((3, 2, 2, 3))
    y = conv2d(x, w)
    conv = get_convention("vardhan2022")
    J_col = conv.jacobian(conv2d_input_jacobian(w, x.shape), y.shape, x.shape)
    # independent route: probe the forward with column-major basis vectors, read outputs column-major
    probed = np.empty(J_col.shape)
    for k in range(x.size):
        e = np.zeros(x.size)
        e[k] = 1.0
        xk = np.stack([e.reshape(x.shape[0], -1)[c].reshape(x.shape[2], x.shape[1]).T for c in range(x.shape[0])])
        yk = conv2d(xk, w)
        probed[:, k] = np.concatenate([yk[c].ravel(order="F") for c in range(y.shape[0])])
    np.testing.assert_allclose(J_col.toarray(), probed, rtol=0, atol=1e-12)
    den = conv.with_(layout="denominator").jacobian(conv2d_input_jacobian(w, x.shape), y.shape, x.shape)
    assert (den != J_col.T).nnz == 0


def test_presets_and_errors():
    assert get_convention(None) is CANONICAL
    assert get_convention("dd2424").vec == "row" and get_convention("vardhan2022").vec == "col"
    for name in ("wang2019", "vardhan2022", "mint", "xu2020", "dd2424"):
        assert name in PRESETS
    with pytest.raises(ValueError, match="convention: unknown preset 'nope'; choose one of"):
        get_convention("nope")
    with pytest.raises(ValueError, match="^vec: must be"):
        Convention(vec="diagonal")
    assert sp.issparse(CANONICAL.permutation((2, 3)))
