"""The notes' linear-layer conventions: Kronecker Jacobians against independent routes."""
import numpy as np
import pytest
import scipy.sparse as sp

from jacobians.conventions import Convention, commutation_matrix
from jacobians.geometry import GeometryError
from jacobians.ops import linear as lin

from conftest import requires_torch

COL = Convention(vec="col")
RNG = np.random.default_rng(11)


def _close(a, b, scale):
    return np.max(np.abs(np.asarray(a) - np.asarray(b))) <= 1e-12 * max(1.0, scale)


# --- note 000: Z = X Wᵀ -------------------------------------------------------
def test_xwt_column_major_kronecker_forms():
    # In Wang's column-major vec: vec(I·X·Wᵀ) = (W ⊗ I_b) vec(X) and
    # vec(X·Wᵀ·I) = (I ⊗ X) vec(Wᵀ) = (I ⊗ X) K vec(W). Built here with numpy.kron
    # and compared with the canonical sparse Jacobians converted by permutations.
    b, d_in, d_out = 3, 4, 2
    x, w = RNG.standard_normal((b, d_in)), RNG.standard_normal((d_out, d_in))
    jx_col = np.kron(w, np.eye(b))
    k = commutation_matrix(d_out, d_in).toarray()  # vec_c(Wᵀ) = K vec_c(W), W is d_out × d_in
    jw_col = np.kron(np.eye(d_out), x) @ k
    z_shape = (b, d_out)
    assert np.array_equal(COL.jacobian(lin.linear_xwt_input_jacobian(x, w), z_shape, x.shape).toarray(), jx_col)
    assert np.array_equal(COL.jacobian(lin.linear_xwt_weight_jacobian(x, w), z_shape, w.shape).toarray(), jw_col)


def test_xwt_entry_formula():
    x, w = RNG.standard_normal((2, 3)), RNG.standard_normal((4, 3))
    jw = lin.linear_xwt_weight_jacobian(x, w).toarray().reshape(2, 4, 4, 3)
    i, o, o2, k = np.meshgrid(*(np.arange(n) for n in (2, 4, 4, 3)), indexing="ij")
    assert np.array_equal(jw, np.where(o == o2, x[i, k], 0.0))


def test_note000_gradients_eq_2_2_and_2_3_equal_transposed_chain():
    x, w = RNG.standard_normal((5, 3)), RNG.standard_normal((2, 3))
    g = RNG.standard_normal((5, 2))
    dx = lin.linear_xwt_vjp_input(g, x, w)
    dw = lin.linear_xwt_vjp_weight(g, x, w)
    assert dx.shape == x.shape and dw.shape == w.shape
    assert _close(dx.ravel(), lin.linear_xwt_input_jacobian(x, w).T @ g.ravel(), np.abs(g).sum())
    assert _close(dw.ravel(), lin.linear_xwt_weight_jacobian(x, w).T @ g.ravel(), np.abs(g).sum())


# --- note 002: z = x W + b ----------------------------------------------------
def test_xw_b_jacobians_are_kron_products_and_bias_is_structural():
    x, w, b = RNG.standard_normal((3, 2)), RNG.standard_normal((2, 4)), RNG.standard_normal(4)
    jb = lin.linear_xw_b_bias_jacobian(x, w, b)
    assert sp.issparse(jb) and jb.shape == (12, 4) and set(jb.data) == {1.0} and jb.nnz == 12
    assert np.array_equal(lin.linear_xw_b_input_jacobian(x, w, b).toarray(), np.kron(np.eye(3), w.T))
    assert np.array_equal(lin.linear_xw_b_weight_jacobian(x, w, b).toarray(), np.kron(x, np.eye(4)))


@requires_torch
def test_note002_formulas_match_torch_autograd():
    import torch

    x, w, b = RNG.standard_normal((4, 3)), RNG.standard_normal((3, 5)), RNG.standard_normal(5)
    g = RNG.standard_normal((4, 5))
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    (tx @ tw + tb).backward(torch.tensor(g))
    assert _close(lin.linear_xw_b_vjp_weight(g, x, w, b), tw.grad.numpy(), np.abs(g).sum())  # xᵀ ∂L/∂z
    assert _close(lin.linear_xw_b_vjp_bias(g, x, w, b), tb.grad.numpy(), np.abs(g).sum())  # Σ_n ∂L/∂z_n
    assert _close(lin.linear_xw_b_vjp_input(g, x, w, b), tx.grad.numpy(), np.abs(g).sum())  # ∂L/∂z Wᵀ


# --- note 004: s = W vec(H) + b ------------------------------------------------
def test_wvec_b_input_jacobian_is_w_and_weight_jacobian_entry():
    h, w = RNG.standard_normal((3, 2, 2)), RNG.standard_normal((4, 12))
    assert np.array_equal(lin.linear_wvec_b_input_jacobian(h, w).toarray(), w)
    jw = lin.linear_wvec_b_weight_jacobian(h, w).toarray().reshape(4, 4, 12)
    expected = np.einsum("ij,k->ijk", np.eye(4), h.ravel())  # ∂s_i/∂W_jk = [i = j] vec(H)_k
    assert np.array_equal(jw, expected)


# --- note 001: Z = Wᵀ B + b ----------------------------------------------------
def test_note001_dJ_dW_is_the_transposed_gradient():
    # For J = gᵀ Z (so dJ/dZ = g as a row), the note's dJ/dW = (dJ/dZ)ᵀ Bᵀ is n_Z × n_B.
    # It satisfies dJ = tr(dJ/dW · dW) (its definition in §3.1), and its transpose is
    # the gradient ∇_W J (same shape as W) that the chain of explicit Jacobians gives.
    n_b, n_z = 6, 3
    bv, w, bias = RNG.standard_normal(n_b), RNG.standard_normal((n_b, n_z)), RNG.standard_normal(n_z)
    g = RNG.standard_normal(n_z)
    dj_dw, dj_dB, dj_db = lin.linear_wtb_b_row_jacobians(g, bv, w)
    assert dj_dw.shape == (n_z, n_b) and w.shape == (n_b, n_z)
    # definition: J(W + dW) − J(W) = tr(A dW) for every dW (J is linear in W here)
    d_w = RNG.standard_normal(w.shape)
    dj = g @ (lin.linear_wtb_b(bv, w + d_w, bias) - lin.linear_wtb_b(bv, w, bias))
    assert abs(dj - np.trace(dj_dw @ d_w)) <= 1e-12 * np.abs(g).sum() * np.abs(bv).sum() * np.abs(d_w).max()
    # gradient = transpose of the numerator-layout derivative = row Jacobian reshaped like W
    row = g @ lin.linear_wtb_b_weight_jacobian(bv, w, bias)
    assert _close(row.reshape(w.shape), dj_dw.T, np.abs(g).sum() * np.abs(bv).max())
    assert _close(dj_dB.ravel(), g @ lin.linear_wtb_b_input_jacobian(bv, w, bias), np.abs(g).sum() * np.abs(w).max())
    assert np.array_equal(dj_db.ravel(), g)


# --- errors ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: lin.linear_xwt(np.zeros((2, 3)), np.zeros((4, 2))), r"weight: must have d_in = x.shape\[1\] = 3"),
        (lambda: lin.linear_xw_b(np.zeros((2, 3)), np.zeros((3, 4)), np.zeros(3)), r"bias: must have shape \(4,\)"),
        (lambda: lin.linear_xw_b(np.zeros(3), np.zeros((3, 4))), "x: must be a matrix"),
        (lambda: lin.linear_wvec_b(np.zeros((2, 2)), np.zeros((3, 5))), "weight: must have H.size = 4 columns"),
        (lambda: lin.linear_wtb_b(np.zeros((2, 2)), np.zeros((4, 1))), r"b_vec: must be a vector"),
    ],
)
def test_bad_shapes_give_one_line_errors(call, match):
    with pytest.raises(GeometryError, match=match) as info:
        call()
    assert "\n" not in str(info.value)
