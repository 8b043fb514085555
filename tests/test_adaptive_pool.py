"""Adaptive and global pooling against torch: window rule, None entries, output larger than input, ties, indices.

Routes: our builders against torch.func.jacrev of F.adaptive_avg_pool2d /
F.adaptive_max_pool2d on hypothesis-drawn shapes (values exact: 1/(a·b) of
the same integers, or 0/1), against scipy's kron of the one-axis factors,
and the window rule against a direct transcription of PyTorch's
start_index / end_index integer arithmetic.
"""
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import requires_torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jacobians.geometry import GeometryError
from jacobians.ops import adaptive_pool as ap


@pytest.mark.parametrize("n", range(1, 13))
def test_window_rule_is_torchs_integer_arithmetic(n):
    for m in range(1, 15):
        start, end = ap.adaptive_windows(n, m)
        for a in range(m):  # PyTorch: start_index = (a/b)·c + ((a%b)·c)/b, end_index = 1 + ((a+1)·c − 1)/b
            assert start[a] == (a // m) * n + ((a % m) * n) // m
            assert end[a] == 1 + ((a + 1) * n - 1) // m
        assert start[0] == 0 and end[-1] == n and np.all(start[1:] <= end[:-1])  # windows cover the input


def test_avg_jacobian_is_kron_of_axis_averages():
    got = ap.adaptive_avg_pool2d_jacobian((2, 5, 7), (3, 4))
    from jacobians.ops._separable import axis_matrix

    a_h = axis_matrix(ap._axis_table(5, 3), 5)
    a_w = axis_matrix(ap._axis_table(7, 4), 7)
    np.testing.assert_array_equal(got.toarray(), sp.kron(sp.eye_array(2), sp.kron(a_h, a_w)).toarray())
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=0, atol=1e-15)


def test_global_is_adaptive_to_one_and_the_mean():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    np.testing.assert_array_equal(ap.global_avg_pool2d_jacobian(x.shape).toarray(), ap.adaptive_avg_pool2d_jacobian(x.shape, 1).toarray())
    np.testing.assert_allclose(ap.global_avg_pool2d(x)[..., 0, 0], x.reshape(2, 3, -1).sum(-1) / 20, rtol=0, atol=1e-15)


def test_float32_and_none_entries():
    x = np.ones((1, 4, 6), np.float32)
    assert ap.adaptive_avg_pool2d(x, (2, None)).shape == (1, 2, 6)
    assert ap.adaptive_avg_pool2d(x, (2, None)).dtype == np.float32
    assert ap.adaptive_max_pool2d_jacobian(x, (None, None)).dtype == np.float32
    np.testing.assert_array_equal(ap.adaptive_max_pool2d_jacobian(np.arange(24.).reshape(1, 4, 6), (None, None)).toarray(),
                                  np.eye(24))
    with pytest.raises(GeometryError, match=r"^output_size: must be an int or a pair"):  # PyTorch: None only as an entry
        ap.adaptive_avg_pool2d(x, None)


@pytest.mark.parametrize(
    "size,message",
    [((0, 2), r"^output_size\[0\] \(height\): must be a positive integer"), ((1, 2, 3), r"^output_size: must be an int or a pair"), ("ab", r"^output_size\[0\] \(height\): must be an integer")],
)
def test_bad_output_size_one_line(size, message):
    with pytest.raises(GeometryError, match=message):
        ap.adaptive_avg_pool2d_jacobian((1, 3, 3), size)
    with pytest.raises(GeometryError, match=message):
        ap.adaptive_max_pool2d(np.ones((1, 3, 3)), size)


def test_nan_refused():
    with pytest.raises(ValueError, match=r"^x: contains NaN"):
        ap.adaptive_max_pool2d_jacobian(np.array([[[1.0, np.nan]]]), 1)


# --- against torch ------------------------------------------------------------------
@st.composite
def adaptive_args(draw):
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 8)), draw(st.integers(1, 8)))
    if draw(st.booleans()):
        shape = (2,) + shape
    size = (draw(st.one_of(st.none(), st.integers(1, 9))), draw(st.one_of(st.none(), st.integers(1, 9))))
    if draw(st.booleans()) and size[0] is not None:
        size = size[0]
    return shape, size


N_SWEEP = 80


@requires_torch
@settings(max_examples=N_SWEEP, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=adaptive_args(), ties=st.booleans())
def test_hypothesis_against_torch(drawn, ties):
    import torch
    import torch.nn.functional as F

    shape, size = drawn
    rng = np.random.default_rng(0)
    # with ties: small integers, so windows hold equal maxima and the tie rule decides
    x = rng.integers(0, 3, shape).astype(np.float64) if ties else rng.standard_normal(shape)
    xt = torch.tensor(x)
    j_avg = torch.func.jacrev(lambda t: F.adaptive_avg_pool2d(t, size))(xt).reshape(-1, x.size).numpy()
    j_max = torch.func.jacrev(lambda t: F.adaptive_max_pool2d(t, size))(xt).reshape(-1, x.size).numpy()
    np.testing.assert_allclose(ap.adaptive_avg_pool2d_jacobian(shape, size).toarray(), j_avg, rtol=0, atol=1e-16)
    np.testing.assert_array_equal(ap.adaptive_max_pool2d_jacobian(x, size).toarray(), j_max)
    y, idx = F.adaptive_max_pool2d(xt, size, return_indices=True)
    mine, mine_idx = ap.adaptive_max_pool2d(x, size, return_indices=True)
    np.testing.assert_array_equal(mine, y.numpy())
    np.testing.assert_array_equal(mine_idx, idx.numpy())
    np.testing.assert_allclose(ap.adaptive_avg_pool2d(x, size), F.adaptive_avg_pool2d(xt, size).numpy(), rtol=0, atol=1e-14)
    g = rng.standard_normal(mine.shape)
    for route in (ap.adaptive_avg_pool2d_vjp_separable, ap.adaptive_avg_pool2d_vjp_scatter):
        np.testing.assert_allclose(route(g, x, size), (j_avg.T @ g.ravel()).reshape(shape), rtol=0, atol=1e-13)
    for route in (ap.adaptive_max_pool2d_vjp_switches, ap.adaptive_max_pool2d_vjp_onehot):
        np.testing.assert_allclose(route(g, x, size), (j_max.T @ g.ravel()).reshape(shape), rtol=0, atol=1e-13)


@requires_torch
def test_tie_rule_is_first_in_row_major_window_order():
    """A window whose maxima sit at (0, 1) and (1, 0): row-major picks (0, 1), column-major would pick (1, 0)."""
    import torch
    import torch.nn.functional as F

    x = np.array([[[0.0, 5.0], [5.0, 1.0]]])
    j = torch.func.jacrev(lambda t: F.adaptive_max_pool2d(t, 1))(torch.tensor(x)).reshape(1, 4).numpy()
    assert j.tolist() == [[0.0, 1.0, 0.0, 0.0]]
    np.testing.assert_array_equal(ap.adaptive_max_pool2d_jacobian(x, 1).toarray(), j)


def test_docstring_examples():
    import doctest

    result = doctest.testmod(ap, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 5 and result.failed == 0


def test_peak_memory_is_close_to_the_final_csr():
    from _helpers import peak_over_csr as _peak_over_csr

    assert _peak_over_csr(lambda: ap.adaptive_avg_pool2d_jacobian((32, 56, 56), 7)) <= 1.1
