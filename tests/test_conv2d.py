"""conv2d specifics: the notes' layouts, batches, dtypes, symbolic values, a hypothesis sweep."""
import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jacobians as jac
from jacobians.check import check_operator
from jacobians.geometry import Conv2dGeometry
from jacobians.ops import conv2d as c2d
from jacobians.registry import Case, get_operator


def test_m_x_im_rows_are_the_slides_patches():
    """note 004 (DD2424): 6×6 image, 3×3 filter -> 16×9, row (i,j) = the 3×3 patch at (i,j), row-major."""
    x = np.arange(1.0, 37.0).reshape(1, 6, 6)  # X11 = 1, X12 = 2, ... (row-major, 1-based labels)
    M = jac.conv2d_weight_jacobian(x, (1, 1, 3, 3)).toarray()
    assert M.shape == (16, 9)
    expected = np.array([[x[0, i + a, j + b] for a in range(3) for b in range(3)] for i in range(4) for j in range(4)])
    np.testing.assert_array_equal(M, expected)
    assert M[0].tolist() == [1, 2, 3, 7, 8, 9, 13, 14, 15]  # X11 X12 X13 X21 X22 X23 X31 X32 X33


def test_multi_plane_blocks_and_m_f_filter_size():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 6, 6))
    M = jac.conv2d_weight_jacobian(x, (1, 4, 3, 3)).toarray()
    assert M.shape == (16, 36)
    for c in range(4):  # (M_X1 M_X2 M_X3 M_X4): the column block of plane c is M_X^im of that plane
        np.testing.assert_array_equal(M[:, 9 * c : 9 * (c + 1)], jac.conv2d_weight_jacobian(x[c : c + 1], (1, 1, 3, 3)).toarray())
    w = rng.standard_normal((3, 4, 3, 3))
    assert jac.conv2d_input_jacobian(w[:1], (4, 6, 6)).shape == (16, 144)
    assert jac.conv2d_input_jacobian(w, (4, 6, 6)).shape == (48, 144)
    # block diagonal over output channels
    Mw = jac.conv2d_weight_jacobian(x, w.shape).toarray()
    for o in range(3):
        for o2 in range(3):
            block = Mw[16 * o : 16 * (o + 1), 36 * o2 : 36 * (o2 + 1)]
            np.testing.assert_array_equal(block, M if o == o2 else 0)


def test_m_f_filter_first_rows():
    """note 004: row 1 of M_F^filter = F11 F12 F13 0 0 0 F21 F22 F23 0 0 0 F31 F32 F33 0 …"""
    f = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    M = jac.conv2d_input_jacobian(f, (1, 6, 6)).toarray()
    row0 = np.zeros(36)
    for a in range(3):
        row0[6 * a : 6 * a + 3] = f[0, 0, a]
    np.testing.assert_array_equal(M[0], row0)
    np.testing.assert_array_equal(M[1], np.roll(row0, 1))
    np.testing.assert_array_equal(M[4], np.roll(row0, 6))  # S21 starts one image row down


def test_batched_forward_and_vjps_sum_over_samples():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 2, 7, 6))
    w = rng.standard_normal((4, 1, 3, 2))
    p = dict(stride=(2, 1), padding=(1, 0, 2, 1), dilation=(1, 2), groups=2)
    y = jac.conv2d(x, w, **p)
    g = rng.standard_normal(y.shape)
    for n in range(3):
        np.testing.assert_allclose(y[n], jac.conv2d(x[n], w, **p), rtol=0, atol=1e-13)
    for route in ("im2col", "rot180"):
        gx = getattr(c2d, f"conv2d_vjp_input_{route}")(g, x, w, **p)
        gw = getattr(c2d, f"conv2d_vjp_weight_{route}")(g, x, w, **p)
        Jx = jac.conv2d_input_jacobian(w, x.shape[1:], **p)
        for n in range(3):
            np.testing.assert_allclose(gx[n].ravel(), Jx.T @ g[n].ravel(), rtol=0, atol=1e-12)
        expected_gw = sum(jac.conv2d_weight_jacobian(x[n], w.shape, **p).T @ g[n].ravel() for n in range(3))
        np.testing.assert_allclose(gw.ravel(), expected_gw, rtol=0, atol=1e-12)


def test_dtypes():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((2, 3, 3, 3))
    J32 = jac.conv2d_input_jacobian(w, (3, 8, 8), dtype=np.float32)
    J64 = jac.conv2d_input_jacobian(w, (3, 8, 8))
    assert J32.dtype == np.float32 and J64.dtype == np.float64
    assert J64.indices.dtype == np.int32 and J64.indptr.dtype == np.int32
    np.testing.assert_array_equal(J32.toarray(), J64.toarray().astype(np.float32))


def test_symbolic_values_reuse_the_same_index_arithmetic():
    F = np.array([[sympy.Symbol(f"F{a}{b}") for b in (1, 2)] for a in (1, 2)], dtype=object).reshape(1, 1, 2, 2)
    M = jac.conv2d_input_jacobian(F, (1, 2, 3))
    assert isinstance(M, sympy.MatrixBase)
    F11, F12, F21, F22 = sympy.symbols("F11 F12 F21 F22")
    assert M == sympy.Matrix([[F11, F12, 0, F21, F22, 0], [0, F11, F12, 0, F21, F22]])


def test_col2im_is_the_adjoint_of_im2col():
    """⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩ — the fold of note 000 is the transpose of unfold."""
    rng = np.random.default_rng(4)
    for shape, k, s, p, d in [((2, 5, 6), (2, 3), 1, 0, 1), ((3, 7, 7), 3, 2, (1, 0, 2, 1), 1), ((1, 6, 5), 2, (1, 2), 1, 2)]:
        x = rng.standard_normal(shape)
        cols = jac.im2col(x, k, s, p, d)
        c = rng.standard_normal(cols.shape)
        lhs = float(np.vdot(cols, c))
        rhs = float(np.vdot(x, jac.col2im(c, shape, k, s, p, d)))
        assert abs(lhs - rhs) <= 1e-12 * float(np.abs(cols).ravel() @ np.abs(c).ravel())


def test_rot180_route_reaches_rows_the_forward_never_reads():
    """H + pads − d(k−1) − 1 not a multiple of s: the last input rows get a zero gradient."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 6, 6))
    w = rng.standard_normal((1, 1, 2, 2))
    g = rng.standard_normal((1, 2, 2))  # stride 3: rows 0-1 and 3-4 are read, row 5 never
    gx = c2d.conv2d_vjp_input_rot180(g, x, w, stride=3)
    np.testing.assert_array_equal(gx[0, 5], 0.0)
    np.testing.assert_array_equal(gx[0, :, 5], 0.0)
    np.testing.assert_allclose(gx.ravel(), jac.conv2d_input_jacobian(w, x.shape, stride=3).T @ g.ravel(), atol=1e-14)


@st.composite
def conv_geometries(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c_in = groups * draw(st.integers(1, 2))
    c_out = groups * draw(st.integers(1, 2))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    pads = tuple(draw(st.integers(0, 2)) for _ in range(4))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    # input at least as large as the dilated kernel minus the padding
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - pads[0] - pads[1]), 8))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - pads[2] - pads[3]), 8))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    return c_in, h, w, c_out, kh, kw, stride, pads, (dh, dw), groups


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=conv_geometries(), seed=st.integers(0, 2**16))
def test_hypothesis_random_geometries_all_faces_agree(spec, seed):
    case = c2d._conv_case(spec, np.random.default_rng(seed))
    report = check_operator(get_operator("conv2d"), case, rng=np.random.default_rng(seed), use_torch=False)
    report.assert_ok()
