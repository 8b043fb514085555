"""The float fast path of the conv Jacobian builders against the Pattern path.

``conv2d_input_jacobian`` / ``conv2d_weight_jacobian`` write CSR arrays
directly for float inputs (closed-form tap ranges per axis, runs of equal rows,
broadcasting writes into views). The Pattern path (``conv2d_*_pattern`` +
``assemble``) is different code: it enumerates every (output, tap) candidate
through ``Conv2dGeometry.tap_offsets``, masks the taps on padding, and gathers
values through ``source`` with ``np.take``. It stays the path for sympy object
arrays. The two share only the validated geometry (output sizes), so exact
agreement — same indptr, same indices, same data — on a sweep of geometries is
an independent check of the fast path's index arithmetic. The generic check
(tests/test_generic_check.py) separately compares the built matrices with the
forward, finite differences, both VJP routes and torch.
"""
from __future__ import annotations


import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from jacobians.geometry import Conv2dGeometry
from jacobians.ops import conv2d as conv
from jacobians.ops._sparse import OperatorTooLargeError, assemble, csr_bytes, index_dtype_for
from _helpers import peak_over_csr  # tracemalloc peak / CSR bytes, shared


def _pattern_input(weight, geom, dtype=np.float64):
    return assemble(conv.conv2d_input_pattern(geom), weight, dtype=dtype)


def _pattern_weight(x, geom, dtype=np.float64):
    return assemble(conv.conv2d_weight_pattern(geom), x, dtype=dtype)


def _assert_same_csr(fast, slow):
    assert fast.shape == slow.shape
    assert fast.format == "csr"
    np.testing.assert_array_equal(fast.indptr, slow.indptr)
    np.testing.assert_array_equal(fast.indices, slow.indices)
    np.testing.assert_array_equal(fast.data, slow.data)  # copied values: exact, no tolerance
    assert fast.data.dtype == slow.data.dtype


@st.composite
def conv_geometries(draw):
    groups = draw(st.integers(1, 3))
    c_in = groups * draw(st.integers(1, 3))
    c_out = groups * draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = tuple(draw(st.integers(0, 4)) for _ in range(4))  # (top, bottom, left, right)
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pt, pb, pl, pr = padding
    assume(dilation[0] * (kh - 1) + 1 <= h + pt + pb)
    assume(dilation[1] * (kw - 1) + 1 <= w + pl + pr)
    return Conv2dGeometry.from_shapes((c_in, h, w), (c_out, c_in // groups, kh, kw), stride, padding, dilation, groups)


def _arrays(geom, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(geom.input_shape), rng.standard_normal(geom.weight_shape)


def _params(geom):
    return dict(stride=geom.stride, padding=geom.padding, dilation=geom.dilation, groups=geom.groups)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(geom=conv_geometries(), seed=st.integers(0, 2**32 - 1))
def test_fast_path_equals_pattern_path(geom, seed):
    x, weight = _arrays(geom, seed)
    fast_in = conv.conv2d_input_jacobian(weight, geom.input_shape, **_params(geom))
    _assert_same_csr(fast_in, _pattern_input(weight, geom))
    fast_w = conv.conv2d_weight_jacobian(x, geom.weight_shape, **_params(geom))
    _assert_same_csr(fast_w, _pattern_weight(x, geom))
    # the closed-form nnz equals the count of the Pattern path
    assert fast_in.nnz == fast_w.nnz == conv._expected_nnz(geom)


@pytest.mark.parametrize(
    "shape_in, shape_w, stride, padding, dilation, groups",
    [
        ((4, 6, 6), (3, 4, 3, 3), 1, 0, 1, 1),  # note 004's 6×6×4 input, three 3×3×4 filters
        ((2, 1, 1), (2, 2, 1, 1), 1, (3, 0, 2, 1), 1, 1),  # rows that read only padding (empty rows)
        ((2, 2, 3), (2, 2, 1, 1), 1, 4, 1, 1),  # padding larger than the image: most rows empty
        ((3, 11, 10), (6, 1, 3, 3), (2, 3), (1, 2, 0, 3), (2, 1), 3),  # depthwise-ish, everything odd
        ((8, 12, 12), (8, 8, 3, 3), 2, 1, 1, 1),  # a small real-layer shape: stride 2, padding 1
    ],
)
def test_fast_path_equals_pattern_path_edge_cases(shape_in, shape_w, stride, padding, dilation, groups):
    geom = Conv2dGeometry.from_shapes(shape_in, shape_w, stride, padding, dilation, groups)
    x, weight = _arrays(geom, 1)
    _assert_same_csr(conv.conv2d_input_jacobian(weight, shape_in, stride, padding, dilation, groups),
                     _pattern_input(weight, geom))
    _assert_same_csr(conv.conv2d_weight_jacobian(x, shape_w, stride, padding, dilation, groups),
                     _pattern_weight(x, geom))


def test_index_dtype_rule_on_fake_sizes():
    # the rule, on sizes far too large to build here
    assert index_dtype_for(0) == np.int32
    assert index_dtype_for(2**31 - 2, 10, 10) == np.int32
    assert index_dtype_for(2**31 - 1, 10, 10) == np.int32  # scipy's boundary: int32 max itself still fits
    from scipy.sparse._sputils import get_index_dtype

    for n in (2**31 - 2, 2**31 - 1, 2**31):  # agrees with scipy, so scipy never recasts our arrays
        assert index_dtype_for(n) == get_index_dtype(maxval=n)
    assert index_dtype_for(2**31, 10, 10) == np.int64  # more nonzeros than int32 can count
    assert index_dtype_for(10, 10, 2**31 + 5) == np.int64  # a column index beyond int32
    assert index_dtype_for(10, 2**32, 10) == np.int64  # rows beyond int32 (indptr length)
    # and the CSR byte count follows it: 12 bytes per float64 nonzero with int32, 16 with int64
    assert csr_bytes(1000, 9, 9) == 1000 * 12 + 10 * 4
    assert csr_bytes(2**31, 9, 9) == 2**31 * 16 + 10 * 8


def test_fast_path_takes_index_dtype_from_the_rule(monkeypatch):
    """Force the rule to int64 on a small case: the fast path must build int64 arrays with the same entries.

    scipy would shrink int64 indices that fit int32 (a silent copy), so the raw
    arrays are captured before they reach csr_array.
    """
    geom = Conv2dGeometry.from_shapes((3, 7, 6), (4, 3, 3, 2), (2, 1), (1, 0, 2, 1), 1, 1)
    x, weight = _arrays(geom, 2)
    calls, captured = [], []
    monkeypatch.setattr(conv, "index_dtype_for", lambda *sizes: calls.append(sizes) or np.dtype(np.int64))
    monkeypatch.setattr(conv, "csr_from_arrays", lambda data, indices, indptr, shape, what: captured.append(
        (data, indices, indptr, shape)))
    conv.conv2d_input_jacobian(weight, geom.input_shape, **_params(geom))
    conv.conv2d_weight_jacobian(x, geom.weight_shape, **_params(geom))
    monkeypatch.undo()
    nnz = conv._expected_nnz(geom)
    n_rows = int(np.prod(geom.output_shape))
    assert calls[0] == (nnz, n_rows, int(np.prod(geom.input_shape)))
    assert calls[1] == (nnz, n_rows, int(np.prod(geom.weight_shape)))
    for (data, indices, indptr, shape), slow in zip(
        captured, (_pattern_input(weight, geom), _pattern_weight(x, geom))
    ):
        assert indices.dtype == np.int64 and indptr.dtype == np.int64
        assert shape == slow.shape
        np.testing.assert_array_equal(indptr, slow.indptr)
        np.testing.assert_array_equal(indices, slow.indices)
        np.testing.assert_array_equal(data, slow.data)


def test_int32_indices_at_a_real_layer_size_without_a_copy():
    geom = Conv2dGeometry.from_shapes((16, 20, 20), (16, 16, 3, 3), 1, 1)
    _, weight = _arrays(geom, 3)
    J = conv.conv2d_input_jacobian(weight, geom.input_shape, stride=1, padding=1)
    assert J.indices.dtype == np.int32 and J.indptr.dtype == np.int32


@pytest.mark.parametrize("wrt", ["x", "weight"])
def test_float32_on_request(wrt):
    geom = Conv2dGeometry.from_shapes((4, 9, 8), (6, 2, 3, 2), (2, 1), (1, 1, 0, 2), (1, 2), 2)
    x, weight = _arrays(geom, 4)
    if wrt == "x":
        J32 = conv.conv2d_input_jacobian(weight, geom.input_shape, **_params(geom), dtype=np.float32)
        slow = _pattern_input(weight.astype(np.float32), geom, dtype=np.float32)
        J64 = conv.conv2d_input_jacobian(weight, geom.input_shape, **_params(geom))
    else:
        J32 = conv.conv2d_weight_jacobian(x, geom.weight_shape, **_params(geom), dtype=np.float32)
        slow = _pattern_weight(x.astype(np.float32), geom, dtype=np.float32)
        J64 = conv.conv2d_weight_jacobian(x, geom.weight_shape, **_params(geom))
    assert J32.dtype == np.float32 and J64.dtype == np.float64
    _assert_same_csr(J32, slow)
    # float32 values are the float64 ones rounded once
    np.testing.assert_array_equal(J32.data, J64.data.astype(np.float32))


def test_budget_uses_the_requested_dtype():
    geom = Conv2dGeometry.from_shapes((4, 10, 10), (4, 4, 3, 3), 1, 1)
    _, weight = _arrays(geom, 5)
    nnz, shape = conv._expected_nnz(geom), (400, 400)
    limit = (csr_bytes(nnz, *shape, np.float32) + csr_bytes(nnz, *shape, np.float64)) // 2
    J = conv.conv2d_input_jacobian(weight, geom.input_shape, padding=1, dtype=np.float32, max_bytes=limit)
    assert J.dtype == np.float32
    with pytest.raises(OperatorTooLargeError, match="max_bytes"):
        conv.conv2d_input_jacobian(weight, geom.input_shape, padding=1, max_bytes=limit)


@pytest.mark.parametrize("wrt", ["x", "weight"])
def test_peak_memory_is_close_to_the_final_csr(wrt):
    """tracemalloc sees numpy's allocations: the build may not need much beyond its output."""
    geom = Conv2dGeometry.from_shapes((16, 24, 24), (16, 16, 3, 3), 1, 1)
    x, weight = _arrays(geom, 6)
    build = (
        (lambda: conv.conv2d_input_jacobian(weight, geom.input_shape, padding=1))
        if wrt == "x"
        else (lambda: conv.conv2d_weight_jacobian(x, geom.weight_shape, padding=1))
    )
    ratio = peak_over_csr(build)
    assert ratio <= 1.1, f"peak {ratio:.3f}x the CSR"


def test_symbolic_weights_still_take_the_pattern_path():
    sympy = pytest.importorskip("sympy")
    geom = Conv2dGeometry.from_shapes((1, 3, 3), (1, 1, 2, 2), 1, 1)
    names = np.array(sympy.symbols("w0:4"), dtype=object).reshape(geom.weight_shape)
    J_sym = conv.conv2d_input_jacobian(names, geom.input_shape, padding=1)
    assert isinstance(J_sym, sympy.ImmutableSparseMatrix)
    values = np.array([1.5, -2.0, 0.25, 3.0]).reshape(geom.weight_shape)
    subs = dict(zip(names.ravel().tolist(), values.ravel().tolist()))
    J_num = np.array(J_sym.subs(subs).tolist(), dtype=float)
    np.testing.assert_array_equal(J_num, conv.conv2d_input_jacobian(values, geom.input_shape, padding=1).toarray())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(geom=conv_geometries())
def test_im2col_fast_path_equals_pattern_path(geom):
    """im2col_jacobian writes its 0/1 rows chunk by chunk from q = i·s − p + a·d; im2col_pattern
    (the Pattern route, from Conv2dGeometry.tap_offsets) enumerates every candidate at once."""
    g1 = Conv2dGeometry.from_shapes(geom.input_shape, (1, geom.in_channels, *geom.kernel), geom.stride,
                                    geom.padding, geom.dilation, 1)
    fast = conv.im2col_jacobian(g1.input_shape, g1.kernel, g1.stride, g1.padding, g1.dilation)
    _assert_same_csr(fast, assemble(conv.im2col_pattern(g1), dtype=np.float64))


def test_im2col_jacobian_peak_is_about_its_csr(monkeypatch):
    """(64, 56×56) with 3×3 windows and padding 1 (a 28 MB CSR): the candidate grid of the whole
    layer (1.5× the CSR) never exists; with the chunk set to the whole layer the bound fails."""
    build = lambda: conv.im2col_jacobian((64, 56, 56), 3, padding=1)  # noqa: E731
    assert peak_over_csr(build) <= 1.1
    monkeypatch.setattr(conv, "_IM2COL_CHUNK", 1 << 30)
    assert peak_over_csr(build) > 1.1  # the bound can fail: one chunk is the old all-at-once build
