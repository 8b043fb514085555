"""softmax / log_softmax along any dim: block structure against loops, the vector softmax unchanged, torch sweeps."""
import doctest

import numpy as np
import pytest
from conftest import requires_torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jacobians.geometry import GeometryError
from jacobians.ops import softmax as smx


def _dense_by_loops(s, dim, log):
    """∂y[a]/∂s[b] from the entry formula, looping over every pair of multi-indices."""
    s = np.asarray(s, dtype=np.float64)
    axis = dim % s.ndim
    idx = list(np.ndindex(*s.shape))
    J = np.zeros((len(idx), len(idx)))
    for r, a in enumerate(idx):
        sl = s[a[:axis] + (slice(None),) + a[axis + 1:]]
        p = np.exp(sl - sl.max()) / np.exp(sl - sl.max()).sum()
        for c, b in enumerate(idx):
            if a[:axis] + a[axis + 1:] != b[:axis] + b[axis + 1:]:
                continue
            i, j = a[axis], b[axis]
            J[r, c] = ((i == j) - p[j]) if log else p[i] * ((i == j) - p[j])
    return J


@pytest.mark.parametrize("shape,dim", [((2, 3, 4), 0), ((2, 3, 4), 1), ((2, 3, 4), -1), ((3, 1), 1), ((4,), 0)])
@pytest.mark.parametrize("log", [False, True])
def test_jacobian_equals_the_entry_formula_by_loops(shape, dim, log):
    s = np.random.default_rng(0).standard_normal(shape) * 2
    J = (smx.log_softmax_jacobian if log else smx.softmax_along_jacobian)(s, dim)
    want = _dense_by_loops(s, dim, log)
    np.testing.assert_allclose(J.toarray(), want, rtol=0, atol=1e-15)
    assert J.has_sorted_indices and J.nnz == s.size * shape[dim]


def test_vector_softmax_is_unchanged_and_agrees_with_the_slice_builder():
    s = np.random.default_rng(1).standard_normal(6)
    legacy = smx.softmax_jacobian(s)
    assert isinstance(legacy, np.ndarray)  # the notes' users get the dense C×C matrix as before
    np.testing.assert_allclose(smx.softmax_along_jacobian(s).toarray(), legacy, rtol=0, atol=1e-16)
    batched = smx.softmax_jacobian(np.stack([s, s]), dim=1)
    np.testing.assert_allclose(batched.toarray(), np.kron(np.eye(2), legacy), rtol=0, atol=1e-16)
    np.testing.assert_array_equal(smx.softmax_along(np.stack([s, s]), dim=1)[1], smx.softmax(s))


def test_each_block_has_rows_summing_to_zero_and_annihilates_ones():
    """softmax: columns of each block sum to 0 (1ᵀJ = 0, outputs sum to 1); log_softmax: J·1 = 0 (shift invariance)."""
    s = np.random.default_rng(2).standard_normal((3, 4, 2))
    J = smx.softmax_along_jacobian(s, 1)
    L = smx.log_softmax_jacobian(s, 1)
    ones_along = np.ones(s.shape)
    assert np.abs(np.ones(s.size) @ J).max() <= 1e-16 * 4
    assert np.abs(L @ ones_along.ravel()).max() <= 1e-15


@pytest.mark.parametrize(
    "call,exc,message",
    [
        (lambda: smx.softmax_along_jacobian(np.ones((2, 3)), dim=2), GeometryError, r"^dim: must be an integer in \[-2, 2\)"),
        (lambda: smx.log_softmax(np.ones((2, 3)), dim=1.0), GeometryError, r"^dim: "),
        (lambda: smx.log_softmax(np.array(1.0)), GeometryError, r"^s: must be a non-empty array"),
        (lambda: smx.softmax_along(np.array([[1.0, np.nan]])), ValueError, r"^s: must be finite"),
        (lambda: smx.softmax_along_vjp(np.ones(2), np.ones((2, 3))), ValueError, r"^g: must have the shape of s"),
    ],
)
def test_bad_input_one_line(call, exc, message):
    with pytest.raises(exc, match=message) as info:
        call()
    assert "\n" not in str(info.value)


def test_float32_preserved():
    s = np.random.default_rng(3).standard_normal((2, 3)).astype(np.float32)
    assert smx.softmax_along_jacobian(s).dtype == np.float32 and smx.log_softmax_jacobian(s, 0).dtype == np.float32
    assert smx.softmax_along(s).dtype == np.float32


def test_docstring_examples():
    result = doctest.testmod(smx, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


@requires_torch
@pytest.mark.torch
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), data=st.data(), log=st.booleans(),
       seed=st.integers(0, 2**16))
def test_hypothesis_against_torch(shape, data, log, seed):
    from jacobians.check import check_operator
    from jacobians.registry import Case, get_operator

    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    s = np.random.default_rng(seed).standard_normal(shape) * 3
    report = check_operator(get_operator("log_softmax" if log else "softmax_dim"), Case({"s": s}, {"dim": dim}, "sweep"),
                            rng=np.random.default_rng(0), use_torch=True)
    assert any(r.route == "torch" for r in report.results)
    report.assert_ok()


@pytest.mark.parametrize("build", [smx.softmax_along_jacobian, smx.log_softmax_jacobian], ids=["softmax", "log_softmax"])
def test_peak_memory_is_at_most_1_1_csr_with_few_classes(build):
    """C = 8 classes along dim 1 of (16, 8, 56, 56), a 40 MB CSR: with 8 entries per row every s-sized
    temporary is 1/12 of the CSR (float64 p, its transpose, int64 diagonal positions: 1.40–1.48 before
    the chunked fill); now p's transpose is the only one left (≈ 1.09)."""
    from _helpers import peak_over_csr

    s = np.random.default_rng(0).standard_normal((16, 8, 56, 56))
    assert peak_over_csr(lambda: build(s, 1)) <= 1.1
