"""Note 003 (Xu 2020): the Kronecker forms against the direct convolution operators."""
import numpy as np
import pytest
import scipy.sparse as sp

from jacobians.check import check_operator
from jacobians.ledger.xu2020_formulas import xu2020_filter_matrix, xu2020_output_matrix
from jacobians.conventions import Convention
from jacobians.geometry import GeometryError
from jacobians.ops import conv2d as c2d
from jacobians.ops import kron
from jacobians.registry import get_operator

from conftest import requires_torch

COL = Convention(vec="col")
GEOMS = kron.KRON_GEOMETRIES


def _setup(spec, seed=0):
    c, h, w, fn, kh, kw, s, p, d = spec
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((c, h, w))
    weight = rng.standard_normal((fn, c, kh, kw))
    return x, weight, dict(stride=s, padding=p, dilation=d)


@pytest.mark.parametrize("spec", GEOMS, ids=str)
def test_filter_form_is_the_weight_jacobian(spec):
    # I_FN ⊗ φ(I) maps column-major vec(F_f) to column-major vec(O_f); with the corrected
    # F_f both are canonical vecs, so the Kronecker product IS conv2d_weight_jacobian.
    x, weight, p = _setup(spec)
    phi = c2d.im2col(x, weight.shape[2:], **p)
    kform = kron.kron_filter_form(phi, weight.shape[0])
    direct = c2d.conv2d_weight_jacobian(x, weight.shape, **p)
    assert kform.shape == direct.shape
    assert (kform != direct).nnz == 0  # values are copies of x: exact


@pytest.mark.parametrize("spec", GEOMS, ids=str)
def test_patch_form_composed_with_im2col_is_the_input_jacobian(spec):
    x, weight, p = _setup(spec, 1)
    fn, kh, kw = weight.shape[0], *weight.shape[2:]
    phi_shape = c2d.im2col(x, (kh, kw), **p).shape
    f_f = xu2020_filter_matrix(weight)
    kform = kron.kron_patch_form(f_f, phi_shape[0])
    # P_col turns the row-major vec of φ (im2col_jacobian's rows) into its column-major vec
    composed = kform @ COL.permutation(phi_shape) @ c2d.im2col_jacobian(x.shape, (kh, kw), **p)
    direct = c2d.conv2d_input_jacobian(weight, x.shape, **p)
    # each (output, input) pair collects one tap here (no overlapping dilated taps), so exact
    assert composed.shape == direct.shape
    assert np.array_equal(composed.toarray(), direct.toarray())


def test_kronecker_identity_is_column_major():
    # vec(AXB) = (Bᵀ ⊗ A) vec(X) holds for column-major vec and fails for row-major vec
    rng = np.random.default_rng(3)
    A, X, B = rng.standard_normal((3, 4)), rng.standard_normal((4, 5)), rng.standard_normal((5, 2))
    lhs_col = (A @ X @ B).ravel(order="F")
    rhs_col = np.kron(B.T, A) @ X.ravel(order="F")
    assert np.allclose(lhs_col, rhs_col, rtol=1e-12, atol=1e-12)
    assert not np.allclose((A @ X @ B).ravel(), np.kron(B.T, A) @ X.ravel(), atol=1e-3)


@pytest.mark.parametrize("spec", GEOMS, ids=str)
def test_which_reshape_gives_the_filter_matrix(spec):
    # Note 003 writes F_f = F.reshape(-1, FN). Result: φ(I)·F_f = O_f holds with
    # F.reshape(FN, -1).T for every FN, and with the note's reshape only when FN = 1.
    x, weight, p = _setup(spec, 2)
    o_f = xu2020_output_matrix(c2d.conv2d(x, weight, **p))
    phi = c2d.im2col(x, weight.shape[2:], **p)
    scale = np.abs(phi) @ np.abs(xu2020_filter_matrix(weight))
    err_corrected = np.max(np.abs(phi @ xu2020_filter_matrix(weight, "corrected") - o_f))
    err_as_written = np.max(np.abs(phi @ xu2020_filter_matrix(weight, "as_written") - o_f))
    assert err_corrected <= 1e-12 * scale.max()
    if weight.shape[0] == 1:
        assert err_as_written <= 1e-12 * scale.max()
    else:
        assert err_as_written > 0.1  # wrong by O(1): filters are mixed


def test_as_written_reshape_mixes_filters_exactly_as_predicted():
    # C-order reshape(-1, FN) of the flat weight: entry (r, f) is flat[r*FN + f]
    w = np.arange(2 * 1 * 2 * 2, dtype=float).reshape(2, 1, 2, 2)
    f_as_written = xu2020_filter_matrix(w, "as_written")
    assert f_as_written[:, 0].tolist() == [0.0, 2.0, 4.0, 6.0]  # filter 0 is 0..3: column mixes both filters
    # the transpose-free channel-last reshape agrees with the corrected form
    assert np.array_equal(w.transpose(1, 2, 3, 0).reshape(-1, 2), xu2020_filter_matrix(w))


def test_note003_gradients_are_linear_layer_formulas():
    # ∂L/∂F_f = φᵀ ∂L/∂O_f and ∂L/∂φ = ∂L/∂O_f F_fᵀ, reshaped back, equal conv2d's own VJPs
    x, weight, p = _setup(GEOMS[2], 4)
    g = np.random.default_rng(5).standard_normal(c2d.conv2d(x, weight, **p).shape)
    g_f = xu2020_output_matrix(g)
    f_f = xu2020_filter_matrix(weight)
    k = weight.shape[2:]
    dw = kron.xu2020_vjp_filter(g_f, x, f_f, k, **p).T.reshape(weight.shape)
    dx = kron.xu2020_vjp_input(g_f, x, f_f, k, **p)
    ref_w = c2d.conv2d_vjp_weight_rot180(g, x, weight, **p)
    ref_x = c2d.conv2d_vjp_input_rot180(g, x, weight, **p)
    assert np.allclose(dw, ref_w, rtol=1e-12, atol=1e-12 * np.abs(ref_w).max())
    assert np.allclose(dx, ref_x, rtol=1e-12, atol=1e-12 * np.abs(ref_x).max())


def test_bad_shapes_give_one_line_errors():
    x = np.zeros((2, 4, 4))
    with pytest.raises(GeometryError, match=r"f_f: must have shape \(C\*kh\*kw, FN\) = \(8, FN\)"):
        kron.xu2020_kron(x, np.zeros((9, 2)), (2, 2))
    with pytest.raises(ValueError, match="reshape: must be one of"):
        xu2020_filter_matrix(np.zeros((2, 1, 2, 2)), "fortran")
    with pytest.raises(GeometryError, match="weight: must have shape"):
        xu2020_filter_matrix(np.zeros((2, 2)))


@requires_torch
def test_registered_operator_matches_torch():
    spec = get_operator("xu2020_kron")
    for case in spec.cases()[:3]:
        report = check_operator(spec, case, use_torch=True)
        report.assert_ok()
        assert any(r.route == "torch" for r in report.results)


def test_operator_jacobians_are_sparse_kron_products():
    spec = get_operator("xu2020_kron")
    case = spec.cases()[1]
    J = spec.jacobian["f_f"](**case.inputs, **case.params)
    assert sp.issparse(J)
    fn = case.inputs["f_f"].shape[1]
    # block structure: (FN·P) × (FN·K) in column-major order -> nnz = FN · nnz(φ)
    phi = c2d.im2col(case.inputs["x"], case.params["kernel_size"], stride=case.params["stride"])
    assert J.nnz == fn * np.count_nonzero(phi)


def test_column_major_vec_of_O_f_is_the_canonical_vec_of_the_output():
    # O_f is (OH·OW, FN): its column-major vec lists channels slowest = C-order vec of (FN, OH, OW)
    x, weight, p = _setup(GEOMS[2], 6)
    y = c2d.conv2d(x, weight, **p)
    o_f = xu2020_output_matrix(y)
    assert np.array_equal(COL.permutation(o_f.shape) @ o_f.ravel(), y.ravel())
    f_f = xu2020_filter_matrix(weight)
    assert np.array_equal(COL.permutation(f_f.shape) @ f_f.ravel(), weight.ravel())
    # and the row-major vec of O_f is not (positions slowest) unless FN = 1
    assert not np.array_equal(o_f.ravel(), y.ravel())
