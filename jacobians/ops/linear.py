"""The notes' four ways of writing a fully-connected (linear) layer.

Each is registered as its own operator because each note orders the
operands differently, and the Jacobians (canonical: C-order vec, numerator
layout) differ accordingly. All Jacobians are sparse Kronecker products
(``scipy.sparse.kron``); for row-major vec the identity is
vec(A X B) = (A ⊗ Bᵀ) vec(X).

=================  ==========================  ==========================================
operator           forward                     note
=================  ==========================  ==========================================
``linear_xwt``     Z = X Wᵀ                    Wang 2019 eqs. 2.2–2.3 (PyTorch's layout)
``linear_xw_b``    z = x W + b (batched)       "Back Propagation Summary" (Mint) §2
``linear_wvec_b``  s = W vec(H) + b            DD2424 lecture 6 (FC layer after a conv)
``linear_wtb_b``   Z = Wᵀ B + b                Vardhan 2022 §3.1.1
``linear``         y = x Wᵀ + b                PyTorch's ``F.linear`` (x (in,) or (N, in))
=================  ==========================  ==========================================

Shapes: X (b, d_in), W (d_out, d_in) for ``linear_xwt``; x (N, M_in),
W (M_in, M_out), b (M_out,) for ``linear_xw_b``; H any shape, W
(n_out, H.size), b (n_out,) for ``linear_wvec_b``; B (n_B,), W (n_B, n_Z),
b (n_Z,) for ``linear_wtb_b``.

The VJP routes are the notes' matrix formulas, never the explicit matrix:
∂Q/∂X = ∂Q/∂Z W and ∂Q/∂W = (∂Q/∂Z)ᵀ X (note 000); ∂L/∂W = xᵀ ∂L/∂z,
∂L/∂b = Σ_n ∂L/∂z_n, ∂L/∂x = ∂L/∂z Wᵀ (note 002); ∂l/∂vec(H) = ∂l/∂s W
(note 004); and note 001's numerator-layout row Jacobians
dJ/dW = (dJ/dZ)ᵀ Bᵀ, dJ/dB = dJ/dZ Wᵀ, dJ/db = dJ/dZ, transposed into
gradients as its §3.2 prescribes.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from ..conventions import commutation_matrix
from ..geometry import GeometryError, _short
from ..registry import Case, register
from ._show import ShowSetup, ShowSpec, dims, need_ndim
from . import _references
from ._sparse import (
    Pattern,
    as_float_array,
    assemble,
    check_budget,
    csr_from_arrays,
    exact_size,
    index_dtype_for,
    is_symbolic,
    resolve_dtype,
    torch_input,
)

__all__ = [
    "linear_xwt",
    "linear_xwt_input_jacobian",
    "linear_xwt_weight_jacobian",
    "linear_xwt_vjp_input",
    "linear_xwt_vjp_weight",
    "linear_xw_b",
    "linear_xw_b_input_jacobian",
    "linear_xw_b_weight_jacobian",
    "linear_xw_b_bias_jacobian",
    "linear_xw_b_vjp_input",
    "linear_xw_b_vjp_weight",
    "linear_xw_b_vjp_bias",
    "linear_wvec_b",
    "linear_wvec_b_input_jacobian",
    "linear_wvec_b_weight_jacobian",
    "linear_wvec_b_vjp_input",
    "linear_wvec_b_vjp_weight",
    "linear_wtb_b",
    "linear_wtb_b_input_jacobian",
    "linear_wtb_b_weight_jacobian",
    "linear_wtb_b_row_jacobians",
    "linear_wtb_b_vjp_input",
    "linear_wtb_b_vjp_weight",
    "identity_jacobian",
    "linear",
    "linear_input_jacobian",
    "linear_weight_jacobian",
    "linear_bias_jacobian",
]


def _eye(n: int, dtype=np.float64) -> sp.csr_array:
    return sp.csr_array(sp.identity(int(n), dtype=dtype, format="csr"))


def _kron(a, b) -> sp.csr_array:
    a = a if sp.issparse(a) else sp.csr_array(np.atleast_2d(a))
    b = b if sp.issparse(b) else sp.csr_array(np.atleast_2d(b))
    dt = np.result_type(a.dtype, b.dtype)
    shape = (a.shape[0] * b.shape[0], a.shape[1] * b.shape[1])
    check_budget("Kronecker product", exact_size((a.nnz, b.nnz)), shape, dt)
    return sp.csr_array(sp.kron(a, b, format="csr")).astype(dt, copy=False)


def identity_jacobian(n: int) -> sp.csr_array:
    """I_n, the Jacobian of a bias added once per output (0/1)."""
    return _eye(n)


def _matrix(a, name, what):
    a = as_float_array(a, name)
    if a.ndim != 2:
        raise GeometryError(f"{name}: must be a matrix {what} (got {a.ndim}-D shape {a.shape})")
    return a


def _vector(a, name, n, what):
    a = as_float_array(a, name)
    if a.shape != (n,):
        raise GeometryError(f"{name}: must have shape ({n},) = {what} (got {a.shape})")
    return a


# ---------------------------------------------------------------------------
# note 000: Z = X Wᵀ
# ---------------------------------------------------------------------------
def _xwt_checked(x, weight):
    x = _matrix(x, "x", "(batch, d_in)")
    weight = _matrix(weight, "weight", "(d_out, d_in)")
    if weight.shape[1] != x.shape[1]:
        raise GeometryError(f"weight: must have d_in = x.shape[1] = {x.shape[1]} columns (got shape {weight.shape})")
    return x, weight


def linear_xwt(x, weight) -> np.ndarray:
    """Z = X Wᵀ (Wang 2019, §1), shape (batch, d_out).

    Notes
    -----
    ``z[i, o] = Σ_k x[i, k] w[o, k]``; ∂z[i,o]/∂x[i',k] = [i = i'] w[o, k],
    ∂z[i,o]/∂w[o',k] = [o = o'] x[i, k].
    """
    x, weight = _xwt_checked(x, weight)
    return x @ weight.T


def linear_xwt_input_jacobian(x, weight) -> sp.csr_array:
    """∂vec(Z)/∂vec(X) = I_b ⊗ W (row-major vec), shape (b·d_out, b·d_in)."""
    x, weight = _xwt_checked(x, weight)
    return _kron(_eye(x.shape[0], weight.dtype), weight)


def linear_xwt_weight_jacobian(x, weight) -> sp.csr_array:
    """∂vec(Z)/∂vec(W) = (X ⊗ I_dout) K, shape (b·d_out, d_out·d_in).

    ``X ⊗ I`` differentiates w.r.t. the row-major vec of Wᵀ; the commutation
    matrix K (vec_r(Wᵀ) = K vec_r(W)) turns that into vec(W).
    """
    x, weight = _xwt_checked(x, weight)
    d_out, d_in = weight.shape
    return sp.csr_array(_kron(x, _eye(d_out, x.dtype)) @ commutation_matrix(d_in, d_out).astype(x.dtype))


def linear_xwt_vjp_input(g, x, weight) -> np.ndarray:
    """∂Q/∂X = ∂Q/∂Z · W (note 000, eq. 2.2)."""
    return np.asarray(g, dtype=np.float64) @ np.asarray(weight, dtype=np.float64)


def linear_xwt_vjp_weight(g, x, weight) -> np.ndarray:
    """∂Q/∂W = (∂Q/∂Z)ᵀ X (note 000, eq. 2.3)."""
    return np.asarray(g, dtype=np.float64).T @ np.asarray(x, dtype=np.float64)


# ---------------------------------------------------------------------------
# note 002: z = x W + b
# ---------------------------------------------------------------------------
def _xwb_checked(x, weight, bias):
    x = _matrix(x, "x", "(N, M_in)")
    weight = _matrix(weight, "weight", "(M_in, M_out)")
    if weight.shape[0] != x.shape[1]:
        raise GeometryError(f"weight: must have M_in = x.shape[1] = {x.shape[1]} rows (got shape {weight.shape})")
    if bias is not None:
        bias = _vector(bias, "bias", weight.shape[1], "(M_out,)")
    return x, weight, bias


def linear_xw_b(x, weight, bias=None) -> np.ndarray:
    """z = x W + b, batched (Mint notes §2), shape (N, M_out).

    Notes
    -----
    ``z[n, m] = Σ_k x[n, k] w[k, m] + b[m]``.
    """
    x, weight, bias = _xwb_checked(x, weight, bias)
    z = x @ weight
    return z if bias is None else z + bias


def linear_xw_b_input_jacobian(x, weight, bias=None) -> sp.csr_array:
    """∂vec(z)/∂vec(x) = I_N ⊗ Wᵀ, shape (N·M_out, N·M_in)."""
    x, weight, _ = _xwb_checked(x, weight, bias)
    return _kron(_eye(x.shape[0], weight.dtype), weight.T)


def linear_xw_b_weight_jacobian(x, weight, bias=None) -> sp.csr_array:
    """∂vec(z)/∂vec(W) = x ⊗ I_Mout, shape (N·M_out, M_in·M_out)."""
    x, weight, _ = _xwb_checked(x, weight, bias)
    return _kron(x, _eye(weight.shape[1], x.dtype))


def linear_xw_b_bias_jacobian(x, weight, bias=None) -> sp.csr_array:
    """∂vec(z)/∂b = 1_N ⊗ I_Mout (0/1), shape (N·M_out, M_out)."""
    x, weight, _ = _xwb_checked(x, weight, bias)
    dt = resolve_dtype(None, x, weight)
    return _kron(np.ones((x.shape[0], 1), dtype=dt), _eye(weight.shape[1], dt))


def linear_xw_b_vjp_input(g, x, weight, bias=None) -> np.ndarray:
    """∂L/∂x = ∂L/∂z Wᵀ (Mint §2.3)."""
    return np.asarray(g, dtype=np.float64) @ np.asarray(weight, dtype=np.float64).T


def linear_xw_b_vjp_weight(g, x, weight, bias=None) -> np.ndarray:
    """∂L/∂W = xᵀ ∂L/∂z (Mint §2.1)."""
    return np.asarray(x, dtype=np.float64).T @ np.asarray(g, dtype=np.float64)


def linear_xw_b_vjp_bias(g, x, weight, bias=None) -> np.ndarray:
    """∂L/∂b_i = Σ_n ∂L/∂z_{n,i} (Mint §2.2)."""
    return np.asarray(g, dtype=np.float64).sum(axis=0)


# ---------------------------------------------------------------------------
# note 004: s = W vec(H) + b
# ---------------------------------------------------------------------------
def _wvec_checked(h, weight, bias):
    h = as_float_array(h, "h")
    weight = _matrix(weight, "weight", "(n_out, H.size)")
    if weight.shape[1] != h.size:
        raise GeometryError(f"weight: must have H.size = {h.size} columns (got shape {weight.shape})")
    if bias is not None:
        bias = _vector(bias, "bias", weight.shape[0], "(n_out,)")
    return h, weight, bias


def linear_wvec_b(h, weight, bias=None) -> np.ndarray:
    """s = W vec(H) + b (DD2424 lecture 6), shape (n_out,).

    ``vec`` is the canonical C-order flatten, which for an (n_F, h', w')
    response stack is the lecture's row-major-within-plane, planes-stacked vec.
    """
    h, weight, bias = _wvec_checked(h, weight, bias)
    s = weight @ h.ravel()
    return s if bias is None else s + bias


def linear_wvec_b_input_jacobian(h, weight, bias=None) -> sp.csr_array:
    """∂s/∂vec(H) = W."""
    _, weight, _ = _wvec_checked(h, weight, bias)
    return sp.csr_array(weight)


def linear_wvec_b_weight_jacobian(h, weight, bias=None) -> sp.csr_array:
    """∂s/∂vec(W) = I_n ⊗ vec(H)ᵀ, shape (n, n·H.size)."""
    h, weight, _ = _wvec_checked(h, weight, bias)
    return _kron(_eye(weight.shape[0], h.dtype), h.ravel()[None, :])


def linear_wvec_b_vjp_input(g, h, weight, bias=None) -> np.ndarray:
    """∂l/∂vec(H) = ∂l/∂s W (note 004), reshaped like H."""
    return (np.asarray(g, dtype=np.float64) @ np.asarray(weight, dtype=np.float64)).reshape(np.shape(h))


def linear_wvec_b_vjp_weight(g, h, weight, bias=None) -> np.ndarray:
    """∂l/∂W = (∂l/∂s)ᵀ vec(H)ᵀ, the outer product."""
    return np.outer(np.asarray(g, dtype=np.float64), np.asarray(h, dtype=np.float64).ravel())


def _vjp_bias_identity(g, *args, **kwargs) -> np.ndarray:
    """∂l/∂b = ∂l/∂s (the bias is added once)."""
    return np.asarray(g, dtype=np.float64).copy()


# ---------------------------------------------------------------------------
# note 001: Z = Wᵀ B + b
# ---------------------------------------------------------------------------
def _wtb_checked(b_vec, weight, bias):
    b_vec = as_float_array(b_vec, "b_vec")
    if b_vec.ndim != 1:
        raise GeometryError(f"b_vec: must be a vector (n_B,) — the flattened previous layer (got shape {b_vec.shape})")
    weight = _matrix(weight, "weight", "(n_B, n_Z)")
    if weight.shape[0] != b_vec.size:
        raise GeometryError(f"weight: must have n_B = {b_vec.size} rows (got shape {weight.shape})")
    if bias is not None:
        bias = _vector(bias, "bias", weight.shape[1], "(n_Z,)")
    return b_vec, weight, bias


def linear_wtb_b(b_vec, weight, bias=None) -> np.ndarray:
    """Z = Wᵀ B + b (Vardhan 2022, §3.1.1), shape (n_Z,).

    ``b_vec`` is the note's B⁽²⁾ (the flattened pooled maps), ``weight`` its
    W⁽³⁾ of shape (n_B, n_Z).
    """
    b_vec, weight, bias = _wtb_checked(b_vec, weight, bias)
    z = weight.T @ b_vec
    return z if bias is None else z + bias


def linear_wtb_b_input_jacobian(b_vec, weight, bias=None) -> sp.csr_array:
    """∂Z/∂B = Wᵀ."""
    _, weight, _ = _wtb_checked(b_vec, weight, bias)
    return sp.csr_array(weight.T)


def linear_wtb_b_weight_jacobian(b_vec, weight, bias=None) -> sp.csr_array:
    """∂Z/∂vec(W) = Bᵀ ⊗ I_nZ (row-major vec of W), shape (n_Z, n_B·n_Z)."""
    b_vec, weight, _ = _wtb_checked(b_vec, weight, bias)
    return _kron(b_vec[None, :], _eye(weight.shape[1], b_vec.dtype))


def linear_wtb_b_row_jacobians(dj_dz, b_vec, weight):
    """Note 001's numerator-layout results for a scalar J, given the row dJ/dZ (1 × n_Z).

    Returns ``(dJ/dW, dJ/dB, dJ/db)`` exactly as the note writes them:
    ``(dJ/dZ)ᵀ Bᵀ`` (n_Z × n_B — the transpose of W's shape),
    ``dJ/dZ Wᵀ`` (1 × n_B) and ``dJ/dZ`` (1 × n_Z).

    ``b_vec`` must have n_B entries and ``dj_dz`` n_Z, for ``weight`` of shape
    (n_B, n_Z); anything else is refused with one line.
    """
    b_vec, weight, _ = _wtb_checked(b_vec, weight, None)
    row = as_float_array(dj_dz, "dj_dz")
    n_z = weight.shape[1]
    if row.size != n_z or row.ndim > 2 or (row.ndim == 2 and row.shape[0] != 1):
        raise GeometryError(f"dj_dz: must be a row of n_Z = {n_z} entries, (n_Z,) or (1, n_Z) (got shape {row.shape})")
    row = row.reshape(1, -1).astype(np.float64)
    b_col = b_vec.astype(np.float64).reshape(-1, 1)
    weight = weight.astype(np.float64)
    return row.T @ b_col.T, row @ weight.T, row


def linear_wtb_b_vjp_weight(g, b_vec, weight, bias=None) -> np.ndarray:
    """∇_W J = (dJ/dW)ᵀ = ((dJ/dZ)ᵀ Bᵀ)ᵀ (note 001 §3.1.1, transposed per §3.2)."""
    return linear_wtb_b_row_jacobians(g, b_vec, weight)[0].T


def linear_wtb_b_vjp_input(g, b_vec, weight, bias=None) -> np.ndarray:
    """∇_B J = (dJ/dZ Wᵀ)ᵀ."""
    return linear_wtb_b_row_jacobians(g, b_vec, weight)[1].ravel()


# ---------------------------------------------------------------------------
# PyTorch's F.linear: y = x Wᵀ + b
# ---------------------------------------------------------------------------
def _linear_checked(x, weight, bias):
    x = as_float_array(x, "x")
    if x.ndim not in (1, 2):
        raise GeometryError(f"x: must have shape (in_features,) or (N, in_features) (got shape {x.shape})")
    weight = _matrix(weight, "weight", "(out_features, in_features)")
    if weight.shape[1] != x.shape[-1]:
        raise GeometryError(
            f"weight: must have in_features = x.shape[-1] = {x.shape[-1]} columns (got shape {weight.shape})"
        )
    if bias is not None:
        bias = _vector(bias, "bias", weight.shape[0], "(out_features,)")
    return x, weight, bias


def linear(x=None, weight=None, bias=None, *, input=None) -> np.ndarray:
    """PyTorch's ``F.linear``: ``y = x Wᵀ + b``.

    Parameters
    ----------
    x : (in_features,) or a batch (N, in_features) (keyword ``input=`` as in PyTorch)
    weight : (out_features, in_features)
    bias : (out_features,) or None

    Returns
    -------
    y : (out_features,) or (N, out_features); float32 when every input is float32.

    Notes
    -----
    ``y[n, o] = Σ_k x[n, k] W[o, k] + b[o]``; ∂y[n,o]/∂x[n',k] = [n = n'] W[o, k],
    ∂y[n,o]/∂W[o',k] = [o = o'] x[n, k], ∂y[n,o]/∂b[o'] = [o = o'].

    Examples
    --------
    >>> linear(np.array([1., 2.]), np.array([[1., 0.], [1., 1.]]), np.array([0., 10.]))
    array([ 1., 13.])
    """
    x = torch_input(x, input)
    if weight is None:
        raise TypeError("weight: missing (the (out_features, in_features) matrix)")
    x, weight, bias = _linear_checked(x, weight, bias)
    dt = resolve_dtype(None, x, weight, bias)
    y = x.astype(dt, copy=False) @ weight.astype(dt, copy=False).T
    return y if bias is None else y + bias.astype(dt, copy=False)


def _linear_shape(shape, name):
    from ..geometry import as_positive_int

    from ..geometry import as_items

    items = as_items(shape, name, "(features,) or (N, features)")
    if len(items) not in (1, 2):
        raise GeometryError(f"{name}: must be (features,) or (N, features) (got {_short(shape)})")
    return tuple(as_positive_int(v, f"{name}[{i}]") for i, v in enumerate(items))


def linear_input_jacobian(weight, input_shape, *, dtype=None, max_bytes=None) -> sp.csr_array:
    """∂vec(y)/∂vec(x) of :func:`linear`: W for x (in,); the block diagonal I_N ⊗ W for a batch (N, in).

    Examples
    --------
    >>> linear_input_jacobian(np.array([[1., 2.]]), (2, 2)).toarray()
    array([[1., 2., 0., 0.],
           [0., 0., 1., 2.]])
    """
    weight = as_float_array(_matrix(weight, "weight", "(out_features, in_features)"), "weight", dtype)
    shape = _linear_shape(input_shape, "input_shape")
    if shape[-1] != weight.shape[1]:
        raise GeometryError(f"input_shape: last entry must be in_features = {weight.shape[1]} (got {shape})")
    n = shape[0] if len(shape) == 2 else 1
    out_f, in_f = weight.shape
    dt = np.dtype(np.float64) if is_symbolic(weight) else weight.dtype
    check_budget("linear input Jacobian", n * out_f * in_f, (n * out_f, n * in_f), dt, max_bytes)
    # row (n, o) holds W[o, k] in column n·in + k: block diagonal over samples, filled directly
    pattern = _dense_rows_pattern(n, out_f, in_f, n * in_f, col_sample=in_f, col_out=0, src_sample=0, src_out=in_f)
    return assemble(pattern, weight, dtype=dt, what="linear_input_jacobian")


def linear_weight_jacobian(x, weight_shape, *, dtype=None, max_bytes=None) -> sp.csr_array:
    """∂vec(y)/∂vec(W) of :func:`linear`: row (n, o) holds x[n, :] in columns o·in … o·in + in − 1.

    Shape (N·out, out·in) (N = 1 for an unbatched x); vec(W) is C order.

    Examples
    --------
    >>> linear_weight_jacobian(np.array([1., 2.]), (2, 2)).toarray()
    array([[1., 2., 0., 0.],
           [0., 0., 1., 2.]])
    """
    x = as_float_array(x, "x", dtype)
    if x.ndim not in (1, 2):
        raise GeometryError(f"x: must have shape (in_features,) or (N, in_features) (got shape {x.shape})")
    wshape = _linear_shape(weight_shape, "weight_shape")
    if len(wshape) != 2 or wshape[1] != x.shape[-1]:
        raise GeometryError(f"weight_shape: must be (out_features, {x.shape[-1]}) (got {wshape})")
    out_f, in_f = wshape
    n = exact_size(x.shape) // in_f
    dt = np.dtype(np.float64) if is_symbolic(x) else x.dtype
    check_budget("linear weight Jacobian", n * out_f * in_f, (n * out_f, out_f * in_f), dt, max_bytes)
    # row (n, o) holds x[n, k] in column o·in + k
    pattern = _dense_rows_pattern(n, out_f, in_f, out_f * in_f, col_sample=0, col_out=in_f, src_sample=in_f, src_out=0)
    return assemble(pattern, x, dtype=dt, what="linear_weight_jacobian")


def _dense_rows_pattern(n, out_f, in_f, n_cols, *, col_sample, col_out, src_sample, src_out) -> Pattern:
    """Rows (n, o) of ``in_f`` entries each, k = 0 … in_f − 1: column and value source affine in (n, o, k).

    column = n·col_sample + o·col_out + k, source = n·src_sample + o·src_out + k.
    """
    nnz = n * out_f * in_f
    idx = index_dtype_for(nnz, n * out_f, n_cols, n * src_sample + out_f * src_out + in_f)
    k = np.arange(in_f, dtype=idx)
    base = (np.arange(n, dtype=idx)[:, None, None], np.arange(out_f, dtype=idx)[None, :, None])
    indices = np.empty((n, out_f, in_f), dtype=idx)
    indices[...] = base[0] * idx.type(col_sample) + base[1] * idx.type(col_out) + k
    source = np.empty((n, out_f, in_f), dtype=idx)
    source[...] = base[0] * idx.type(src_sample) + base[1] * idx.type(src_out) + k
    return Pattern(np.arange(0, nnz + 1, in_f, dtype=idx), indices.reshape(-1), source.reshape(-1), (n * out_f, n_cols))


def linear_bias_jacobian(out_shape, *, dtype=None, max_bytes=None) -> sp.csr_array:
    """∂vec(y)/∂b of :func:`linear`: I for y (out,); N identities stacked vertically for y (N, out).

    Examples
    --------
    >>> linear_bias_jacobian((2, 1)).toarray()
    array([[1.],
           [1.]])
    """
    dt = resolve_dtype(dtype)
    shape = _linear_shape(out_shape, "out_shape")
    n, out_f = (shape[0] if len(shape) == 2 else 1), shape[-1]
    check_budget("linear bias Jacobian", n * out_f, (n * out_f, out_f), dt, max_bytes)
    idx = index_dtype_for(n * out_f, out_f)
    return csr_from_arrays(np.ones(n * out_f, dtype=dt), np.tile(np.arange(out_f, dtype=idx), n),
                           np.arange(n * out_f + 1, dtype=idx), (n * out_f, out_f), what="linear_bias_jacobian")


def _linear_vjp_input(g, x, weight, bias=None):
    return np.asarray(g, dtype=np.float64) @ np.asarray(weight, dtype=np.float64)


def _linear_vjp_weight(g, x, weight, bias=None):
    g2 = np.asarray(g, dtype=np.float64).reshape(-1, np.shape(weight)[0])
    return g2.T @ np.asarray(x, dtype=np.float64).reshape(g2.shape[0], -1)


def _linear_vjp_bias(g, x, weight, bias=None):
    return np.asarray(g, dtype=np.float64).reshape(-1, np.shape(weight)[0]).sum(axis=0)


def _linear_reference(x, weight, bias=None):
    """Loops from y[n, o] = Σ_k x[n, k] W[o, k] + b[o]."""
    x = np.asarray(x, dtype=np.float64)
    x2 = x.reshape(-1, x.shape[-1])
    w = np.asarray(weight, dtype=np.float64)
    y = np.zeros((x2.shape[0], w.shape[0]))
    for n in range(x2.shape[0]):
        for o in range(w.shape[0]):
            acc = 0.0 if bias is None else float(bias[o])
            for k in range(w.shape[1]):
                acc += x2[n, k] * w[o, k]
            y[n, o] = acc
    return y.reshape(*x.shape[:-1], w.shape[0])


def _torch_linear(x, weight, bias=None):
    import torch.nn.functional as F

    return F.linear(x, weight, bias)


def _linear_cases():
    rng = np.random.default_rng(1986)
    out = []
    for xs, o in [((3,), 2), ((4, 3), 5), ((1, 1), 1), ((2, 6), 3)]:
        inputs = {"x": rng.standard_normal(xs), "weight": rng.standard_normal((o, xs[-1])), "bias": rng.standard_normal(o)}
        out.append(Case(inputs, {}, "x" + "x".join(map(str, xs)) + f"-out{o}"))
    return out




# ---------------------------------------------------------------------------
# registration
# ---------------------------------------------------------------------------
def _torch_xwt(x, weight):
    return x @ weight.T


def _torch_xw_b(x, weight, bias=None):
    out = x @ weight
    return out if bias is None else out + bias


def _torch_wvec_b(h, weight, bias=None):
    out = weight @ h.reshape(-1)
    return out if bias is None else out + bias


def _torch_wtb_b(b_vec, weight, bias=None):
    out = weight.T @ b_vec
    return out if bias is None else out + bias


def _xwt_cases():
    rng = np.random.default_rng(2019)
    return [
        Case({"x": rng.standard_normal((b, di)), "weight": rng.standard_normal((do, di))}, {}, f"b{b}-in{di}-out{do}")
        for b, di, do in [(1, 1, 1), (3, 4, 2), (5, 2, 6), (2, 7, 3)]
    ]


def _xw_b_cases():
    rng = np.random.default_rng(2002)
    return [
        Case(
            {"x": rng.standard_normal((n, mi)), "weight": rng.standard_normal((mi, mo)), "bias": rng.standard_normal(mo)},
            {},
            f"N{n}-in{mi}-out{mo}",
        )
        for n, mi, mo in [(1, 1, 1), (4, 3, 2), (2, 5, 7), (6, 2, 3)]
    ]


def _wvec_b_cases():
    rng = np.random.default_rng(2424)
    out = []
    for shape, n in [((3, 4, 4), 5), ((2, 3, 2), 3), ((7,), 1)]:
        size = int(np.prod(shape))
        h = rng.standard_normal(shape)
        out.append(
            Case({"h": h, "weight": rng.standard_normal((n, size)), "bias": rng.standard_normal(n)}, {},
                 "H" + "x".join(map(str, shape)) + f"-C{n}")
        )
    return out


def _wtb_b_cases():
    rng = np.random.default_rng(2022)
    return [
        Case(
            {"b_vec": rng.standard_normal(nb), "weight": rng.standard_normal((nb, nz)), "bias": rng.standard_normal(nz)},
            {},
            f"nB{nb}-nZ{nz}",
        )
        for nb, nz in [(1, 1), (12, 4), (8, 10)]
    ]


def _need_weight(op, options, ndim, help_text):
    if "weight" not in options:
        raise ValueError(f"--weight: {op} needs --weight {help_text}")
    need_ndim(op, options["weight"], ndim, help_text, "--weight")
    return options["weight"]


def _xwt_setup(shape, options):
    need_ndim("linear_xwt", shape, 2, "X of shape b x d_in")
    w = _need_weight("linear_xwt", options, 2, "d_out x d_in")
    if w[1] != shape[1]:
        raise ValueError(f"--weight: linear_xwt needs d_out x {shape[1]} (d_in = the columns of --input {dims(shape)}), got {dims(w)}")
    return ShowSetup({"x": shape, "weight": w})


def _xw_b_setup(shape, options):
    need_ndim("linear_xw_b", shape, 2, "x of shape N x d_in")
    w = _need_weight("linear_xw_b", options, 2, "d_in x d_out")
    if w[0] != shape[1]:
        raise ValueError(f"--weight: linear_xw_b needs {shape[1]} x d_out (d_in = the columns of --input {dims(shape)}), got {dims(w)}")
    return ShowSetup({"x": shape, "weight": w, "bias": (w[1],)})


def _wvec_b_setup(shape, options):
    size = math.prod(shape)
    w = _need_weight("linear_wvec_b", options, 2, f"m x {size}")
    if w[1] != size:
        raise ValueError(f"--weight: linear_wvec_b needs m x {size} (the size of --input {dims(shape)}), got {dims(w)}")
    return ShowSetup({"h": shape, "weight": w, "bias": (w[0],)})


def _wtb_b_setup(shape, options):
    need_ndim("linear_wtb_b", shape, 1, "B of shape n_B")
    w = _need_weight("linear_wtb_b", options, 2, f"{shape[0]} x n_Z")
    if w[0] != shape[0]:
        raise ValueError(f"--weight: linear_wtb_b needs {shape[0]} x n_Z (n_B = --input {dims(shape)}), got {dims(w)}")
    return ShowSetup({"b_vec": shape, "weight": w, "bias": (w[1],)})


def _linear_show(setup, out_shape, contracted, input_help, symbols, example):
    """Each output entry reads ``contracted(shapes)`` entries of the input or of W; the bias Jacobian is the identity."""
    return ShowSpec(
        setup=setup, options={"weight": "shape"}, out_shape=out_shape, input_help=input_help, symbols=symbols, example=example,
        nnz=lambda shapes, params, wrt, out: math.prod(out) * (1 if wrt == "bias" else contracted(shapes)),
    )


register(
    "linear_xwt",
    reference=_references.linear_xwt_reference,
    summary="Z = X Wᵀ (note 000): ∂vec Z/∂vec X = I ⊗ W, ∂vec Z/∂vec W = (X ⊗ I) K",
    forward=linear_xwt,
    jacobian={"x": linear_xwt_input_jacobian, "weight": linear_xwt_weight_jacobian},
    vjp={"x": {"note000_eq2.2": linear_xwt_vjp_input}, "weight": {"note000_eq2.3": linear_xwt_vjp_weight}},
    cases=_xwt_cases,
    affine_in=("x", "weight"),
    torch_forward=_torch_xwt,
    show=_linear_show(_xwt_setup, lambda s, p: (s["x"][0], s["weight"][0]), lambda s: s["x"][1], "b x d_in", {"x": "X", "weight": "W"},
                      ("--input", "2x3", "--weight", "4x3")),
)

register(
    "linear_xw_b",
    reference=_references.linear_xw_b_reference,
    summary="z = x W + b batched (note 002): I ⊗ Wᵀ, x ⊗ I, 1 ⊗ I",
    forward=linear_xw_b,
    jacobian={
        "x": linear_xw_b_input_jacobian,
        "weight": linear_xw_b_weight_jacobian,
        "bias": linear_xw_b_bias_jacobian,
    },
    vjp={
        "x": {"note002_2.3": linear_xw_b_vjp_input},
        "weight": {"note002_2.1": linear_xw_b_vjp_weight},
        "bias": {"note002_2.2": linear_xw_b_vjp_bias},
    },
    cases=_xw_b_cases,
    affine_in=("x", "weight", "bias"),
    structural=("bias",),
    torch_forward=_torch_xw_b,
    show=_linear_show(_xw_b_setup, lambda s, p: (s["x"][0], s["weight"][1]), lambda s: s["x"][1], "N x d_in", {"x": "x", "weight": "W", "bias": "b"},
                      ("--input", "2x3", "--weight", "3x2")),
)

register(
    "linear_wvec_b",
    reference=_references.linear_wvec_b_reference,
    summary="s = W vec(H) + b (note 004): ∂s/∂vec H = W, ∂s/∂vec W = I ⊗ vec(H)ᵀ",
    forward=linear_wvec_b,
    jacobian={
        "h": linear_wvec_b_input_jacobian,
        "weight": linear_wvec_b_weight_jacobian,
        "bias": lambda h, weight, bias=None: identity_jacobian(np.shape(weight)[0]),
    },
    vjp={
        "h": {"note004": linear_wvec_b_vjp_input},
        "weight": {"outer": linear_wvec_b_vjp_weight},
        "bias": {"identity": _vjp_bias_identity},
    },
    cases=_wvec_b_cases,
    affine_in=("h", "weight", "bias"),
    structural=("bias",),
    torch_forward=_torch_wvec_b,
    show=_linear_show(_wvec_b_setup, lambda s, p: (s["weight"][0],), lambda s: s["weight"][1], "SHAPE of H", {"h": "H", "weight": "W", "bias": "b"},
                      ("--input", "2x2x2", "--weight", "3x8")),
)

register(
    "linear_wtb_b",
    reference=_references.linear_wtb_b_reference,
    summary="Z = Wᵀ B + b (note 001): dJ/dW = (dJ/dZ)ᵀ Bᵀ in numerator layout, gradient = its transpose",
    forward=linear_wtb_b,
    jacobian={
        "b_vec": linear_wtb_b_input_jacobian,
        "weight": linear_wtb_b_weight_jacobian,
        "bias": lambda b_vec, weight, bias=None: identity_jacobian(np.shape(weight)[1]),
    },
    vjp={
        "b_vec": {"note001": linear_wtb_b_vjp_input},
        "weight": {"note001": linear_wtb_b_vjp_weight},
        "bias": {"note001": _vjp_bias_identity},
    },
    cases=_wtb_b_cases,
    affine_in=("b_vec", "weight", "bias"),
    structural=("bias",),
    torch_forward=_torch_wtb_b,
    show=_linear_show(_wtb_b_setup, lambda s, p: (s["weight"][1],), lambda s: s["b_vec"][0], "n_B", {"b_vec": "B", "weight": "W", "bias": "b"},
                      ("--input", "4", "--weight", "4x2")),
)


def _linear_forward(x, weight, bias=None):
    """Registered forward, inputs required (see :mod:`jacobians.registry`)."""
    return linear(x, weight, bias)


register(
    "linear",
    summary="PyTorch's F.linear y = x Wᵀ + b: ∂y/∂x = I_N ⊗ W, ∂y/∂vec W rows x[n], ∂y/∂b = 1_N ⊗ I",
    forward=_linear_forward,
    jacobian={
        "x": lambda x, weight, bias=None: linear_input_jacobian(weight, np.shape(x)),
        "weight": lambda x, weight, bias=None: linear_weight_jacobian(x, np.shape(weight)),
        "bias": lambda x, weight, bias=None: linear_bias_jacobian((*np.shape(x)[:-1], np.shape(weight)[0])),
    },
    vjp={
        "x": {"g_W": _linear_vjp_input},
        "weight": {"gT_x": _linear_vjp_weight},
        "bias": {"sum": _linear_vjp_bias},
    },
    cases=_linear_cases,
    affine_in=("x", "weight", "bias"),
    structural=("bias",),
    torch_forward=_torch_linear,
    reference=_linear_reference,
)
