"""Softmax, cross-entropy and the Frobenius (mean-squared) loss, with their Jacobians.

Shapes: a score vector ``s`` (C,), probabilities ``p = softmax(s)`` (C,),
a label ``y`` (C,) that is a probability vector (non-negative, summing to
1) or one-hot. Losses are scalars (0-d arrays); their Jacobians are 1×n
rows (numerator layout), their gradients the transposed rows.

Formulas and conventions chosen
-------------------------------
softmax
    ``p_k = exp(s_k − max s) / Σ_j exp(s_j − max s)`` (shifted: no
    overflow). Jacobian ``∂p/∂s = diag(p) − p pᵀ`` (dense C×C, symmetric).
cross-entropy (note 004, DD2424)
    ``l = −log(yᵀp)``. For a one-hot y = e_k this is −log p_k. For a soft y
    it is the negative log of the probability of the event "class drawn
    from y", which is **not** the usual soft-target cross-entropy.
note 004's chained gradient
    ``∂l/∂s = −yᵀ/(yᵀp) · (diag(p) − p pᵀ)``, which simplifies, for any y,
    to ``pᵀ − (y ∘ p)ᵀ/(yᵀp)``. It equals ``(p − y)ᵀ`` **iff**
    ``p_k = yᵀp`` on every k with ``y_k > 0``, i.e. iff p is constant on
    the support of y: always for one-hot y, for any other y only at special
    scores. In general it differs from ``p − y`` by ``y − (y ∘ p)/(yᵀp)``.
    (The slide prints the matrix as ``diag(p − p pᵀ)``, which does not
    type-check — a vector minus a C×C matrix; the intended matrix, used
    here, is ``diag(p) − p pᵀ``.)
soft-target cross-entropy
    ``h = −Σ_k y_k log p_k`` (PyTorch's ``cross_entropy`` with probability
    targets) has gradient ``(Σy)·p − y``, i.e. ``(p − y)ᵀ`` for **any** y
    summing to 1. So "(p − y)ᵀ for any probability vector y" is true of h,
    not of note 004's l; the two losses coincide for one-hot y.
Frobenius loss (note 000, Wang 2019)
    ``Q = ½‖X − Y‖²_F``; ``∂Q/∂vec(X) = vec(X − Y)ᵀ`` (a 1×n row),
    ``∂Q/∂vec(Y) = −vec(X − Y)ᵀ``.

Labels are validated: a probability vector within ``LABEL_ATOL`` of
summing to 1 with no negative entry; functions that need one-hot labels
raise ``ValueError("y: non-one-hot label where one-hot is required …")``.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from ..geometry import _short
from ..registry import Case, register
from ..geometry import GeometryError
from . import _references
from ._show import ShowSetup, ShowSpec, dim_option, need_ndim, one_hot
from ._sparse import (
    as_float_array,
    check_budget,
    csr_from_arrays,
    dense_block_chunks,
    exact_size,
    index_dtype_for,
    resolve_dtype,
    torch_input,
)

__all__ = [
    "LABEL_ATOL",
    "softmax",
    "softmax_jacobian",
    "softmax_vjp",
    "cross_entropy",
    "cross_entropy_jacobian",
    "softmax_cross_entropy",
    "softmax_cross_entropy_grad",
    "softmax_cross_entropy_grad_onehot",
    "softmax_cross_entropy_vjp",
    "soft_cross_entropy",
    "softmax_soft_cross_entropy",
    "softmax_soft_cross_entropy_grad",
    "frobenius_loss",
    "frobenius_loss_jacobian",
    "softmax_along",
    "softmax_along_jacobian",
    "softmax_along_vjp",
    "log_softmax",
    "log_softmax_jacobian",
    "log_softmax_vjp",
]

#: How far Σy may be from 1 for y to count as a probability vector.
LABEL_ATOL = 1e-10


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------
def _vector(v, name) -> np.ndarray:
    arr = as_float_array(v, name)
    if arr.dtype == object:
        raise TypeError(f"{name}: needs numeric values (got an object array)")
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name}: must be a non-empty vector of shape (C,) (got shape {arr.shape})")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: must be finite (got {arr[~np.isfinite(arr)][:3]} among its entries)")
    return arr


def _label(y, like: np.ndarray, name="y") -> np.ndarray:
    y = _vector(y, name)
    if y.shape != like.shape:
        raise ValueError(f"{name}: must have the shape of the scores/probabilities {like.shape} (got {y.shape})")
    if (y < 0).any() or abs(y.sum() - 1.0) > LABEL_ATOL:
        raise ValueError(
            f"{name}: must be a probability vector (entries ≥ 0 summing to 1) or one-hot "
            f"(got min {y.min():.3g}, sum {y.sum():.17g})"
        )
    return y


def _one_hot(y, like: np.ndarray, name="y") -> np.ndarray:
    y = _vector(y, name)
    if y.shape != like.shape or not (np.isin(y, (0.0, 1.0)).all() and np.count_nonzero(y) == 1):
        raise ValueError(
            f"{name}: non-one-hot label where one-hot is required (entries 0 or 1 with exactly one 1, "
            f"shape {like.shape}; got {np.array2string(y, precision=3, threshold=8)})"
        )
    return y


#: How far Σp may be from 1 for p to count as a probability vector (rounding of a softmax in float32).
PROB_ATOL = 1e-6


def _probabilities(p, name="p") -> np.ndarray:
    p = _vector(p, name)
    if (p < 0).any():
        raise ValueError(f"{name}: probabilities must be ≥ 0 (got min {p.min():.3g})")
    if abs(float(p.sum(dtype=np.float64)) - 1.0) > PROB_ATOL:
        raise ValueError(
            f"{name}: probabilities must sum to 1 within {PROB_ATOL:g} (got sum {float(p.sum(dtype=np.float64)):.10g})"
        )
    return p


# ---------------------------------------------------------------------------
# softmax
# ---------------------------------------------------------------------------
def softmax(s=None, *, input=None):
    """``p = exp(s) / Σ exp(s)`` for a score vector s (C,), computed with the max shifted out.

    The notes' vector softmax; for any shape along an axis see :func:`softmax_along`.
    ``input=`` is accepted for ``s`` (PyTorch's name); float32 stays float32.

    Examples
    --------
    >>> softmax(np.array([0., np.log(3.)]))
    array([0.25, 0.75])
    """
    s = _vector(torch_input(s, input, "s"), "s")
    e = np.exp(s - s.max())
    return e / e.sum()


def softmax_jacobian(s, dim=-1, *, sparse=None, max_bytes=None):
    """∂p/∂s = diag(p) − p pᵀ, shape (C, C); dense ndarray unless ``sparse=True``.

    Entry ``∂p_i/∂s_j = p_i([i = j] − p_j)``. For a vector every entry is
    stored (the matrix is dense); the memory guard runs on C² before anything
    is built, and the CSR form is filled directly (no dense matrix first).
    Any other shape: the block-diagonal csr_array of softmax along ``dim``
    (:func:`softmax_along_jacobian`); ``sparse=None`` means dense for a vector
    (the notes' C×C matrix, as before) and CSR otherwise.

    Examples
    --------
    >>> softmax_jacobian(np.zeros(2))
    array([[ 0.25, -0.25],
           [-0.25,  0.25]])
    """
    if sparse is not None and not isinstance(sparse, (bool, np.bool_)):
        raise TypeError(f"sparse: must be True, False or None (got {type(sparse).__name__})")
    s = as_float_array(s, "s")  # ragged / complex / strings refused here with one line
    vector_dim = isinstance(dim, (int, np.integer)) and not isinstance(dim, bool) and dim in (0, -1)
    if s.ndim != 1 or not vector_dim:
        jac = softmax_along_jacobian(s, dim)
        return jac.toarray() if sparse is False else jac
    sparse = bool(sparse)
    p = softmax(s)
    c = p.size
    check_budget("softmax Jacobian" + (" (CSR)" if sparse else " (dense: 8 bytes an entry at most as CSR's 12)"),
                 c * c, (c, c), p.dtype, max_bytes)
    data = np.multiply.outer(-p, p).reshape(-1)
    data[:: c + 1] += p
    if not sparse:
        return data.reshape(c, c)
    idx = index_dtype_for(c * c, c)
    indices = np.empty(c * c, dtype=idx)
    indices.reshape(c, c)[...] = np.arange(c, dtype=idx)
    return csr_from_arrays(data, indices, np.arange(0, c * c + 1, c, dtype=idx), (c, c), what="softmax_jacobian")


def softmax_vjp(g, s):
    """gᵀ(diag(p) − p pᵀ) without the matrix: ``p ∘ (g − gᵀp)``."""
    p = softmax(s)
    g = np.asarray(g, dtype=np.float64)
    if g.shape != p.shape:
        raise ValueError(f"g: must have the shape of s {p.shape} (got {g.shape})")
    return p * (g - g @ p)


# ---------------------------------------------------------------------------
# cross-entropy −log(yᵀp) (note 004)
# ---------------------------------------------------------------------------
def cross_entropy(p, y):
    """Note 004's loss ``l = −log(yᵀp)`` for probabilities p and a label y (probability vector or one-hot).

    Returns a 0-d float array; ``inf`` when ``yᵀp = 0`` (the label has no
    mass where p has any).

    Examples
    --------
    >>> float(cross_entropy(np.array([0.25, 0.75]), np.array([0., 1.])))  # −log 0.75
    0.2876820724517809
    """
    p = _probabilities(p)
    y = _label(y, p)
    with np.errstate(divide="ignore"):
        return np.asarray(-np.log(y @ p))


def cross_entropy_jacobian(p, y):
    """∂l/∂p = −yᵀ/(yᵀp), a 1×C csr_array row."""
    p = _probabilities(p)
    y = _label(y, p)
    yp = y @ p
    if yp <= 0:
        raise ValueError("y: yᵀp = 0, so −log(yᵀp) is infinite and has no derivative")
    return sp.csr_array((-y / yp)[None, :])


def softmax_cross_entropy(s, y):
    """``l = −log(yᵀ softmax(s))``, computed stably as ``logsumexp(s) − logsumexp(s, b=y)``.

    Parameters
    ----------
    s : scores (C,)
    y : probability vector or one-hot (C,) — a constant of the operator

    Returns
    -------
    0-d float array.
    """
    from scipy.special import logsumexp

    s = _vector(s, "s")
    y = _label(y, s)
    return np.asarray(logsumexp(s) - logsumexp(s, b=y))


def softmax_cross_entropy_grad(s, y):
    """∂l/∂s in closed form for any label: ``p − (y ∘ p)/(yᵀp)`` (C,)."""
    s = _vector(s, "s")
    y = _label(y, s)
    p = softmax(s)
    return p - y * p / (y @ p)


def softmax_cross_entropy_grad_onehot(s, y):
    """The textbook ``(p − y)ᵀ``; valid only for one-hot y, anything else raises ValueError."""
    s = _vector(s, "s")
    y = _one_hot(y, s)
    return softmax(s) - y


def softmax_cross_entropy_vjp(g, s, y):
    """g · ∂l/∂s by the chain without matrices: the softmax VJP applied to ``−g y/(yᵀp)``."""
    s = _vector(s, "s")
    y = _label(y, s)
    p = softmax(s)
    return softmax_vjp(-float(g) * y / (y @ p), s)


def _closed_form_vjp(g, s, y):
    return float(g) * softmax_cross_entropy_grad(s, y)


def _sce_jacobian(s, y):
    """The 1 × C Jacobian as the chain −yᵀ/(yᵀp) · ∂p/∂s, with the C × C softmax Jacobian formed."""
    s = _vector(s, "s")
    y = _label(y, s)
    return sp.csr_array(((-y / (y @ softmax(s))) @ softmax_jacobian(s))[None, :])


# ---------------------------------------------------------------------------
# soft-target cross-entropy −Σ y log p (PyTorch's cross_entropy with probability targets)
# ---------------------------------------------------------------------------
def soft_cross_entropy(p, y):
    """``h = −Σ_k y_k log p_k`` (0-d); terms with y_k = 0 count as 0 even where p_k = 0."""
    p = _probabilities(p)
    y = _label(y, p)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(y > 0, y * np.log(p), 0.0)
    return np.asarray(-terms.sum())


def softmax_soft_cross_entropy(s, y):
    """``h = −Σ_k y_k log softmax(s)_k = (Σy)·logsumexp(s) − yᵀs`` (0-d)."""
    from scipy.special import logsumexp

    s = _vector(s, "s")
    y = _label(y, s)
    return np.asarray(y.sum() * logsumexp(s) - y @ s)


def softmax_soft_cross_entropy_grad(s, y):
    """∂h/∂s = ``(Σy)·p − y``, which is ``p − y`` for a label summing to 1 (C,)."""
    s = _vector(s, "s")
    y = _label(y, s)
    return y.sum() * softmax(s) - y


# ---------------------------------------------------------------------------
# Frobenius loss ½‖X − Y‖²_F (note 000)
# ---------------------------------------------------------------------------
def _pair(x, y):
    x = as_float_array(x, "x")
    y = as_float_array(y, "y")
    if x.shape != y.shape:
        raise ValueError(f"y: must have the shape of x {x.shape} (got {y.shape})")
    return x, y


def frobenius_loss(x, y):
    """``Q = ½‖X − Y‖²_F`` (0-d), note 000's loss for arrays X (prediction) and Y (labels) of one shape.

    Examples
    --------
    >>> float(frobenius_loss(np.array([[1., 2.]]), np.array([[0., 0.]])))
    2.5
    """
    x, y = _pair(x, y)
    r = x - y
    return np.asarray(0.5 * np.vdot(r, r))


def frobenius_loss_jacobian(x, y, wrt="x"):
    """``∂Q/∂vec(X) = vec(X − Y)ᵀ`` (or ``−vec(X − Y)ᵀ`` for ``wrt="y"``), a 1×n csr_array row."""
    x, y = _pair(x, y)
    if not isinstance(wrt, str) or wrt not in ("x", "y"):
        raise ValueError(f"wrt: must be 'x' or 'y' (got {_short(wrt)})")
    if x.dtype == object or y.dtype == object:
        r = (x - y).ravel()
        return sp.csr_array((r if wrt == "x" else -r)[None, :])
    # x − y (negated for y) computed once into the data, then wrapped as the 1×n row; exact zeros are not
    # stored, as the dense-to-CSR conversion this replaces (which copied the row twice) did not store them
    n = int(x.size)
    check_budget("frobenius_loss_jacobian", n, (1, n), np.result_type(x.dtype, y.dtype))
    data = np.empty(n, dtype=np.result_type(x.dtype, y.dtype))
    nnz = 0
    if x.flags.c_contiguous and y.flags.c_contiguous:
        # in blocks of _FROB_CHUNK entries: each is negated and counted while it is still in cache
        xf, yf = x.reshape(-1), y.reshape(-1)
        for k0 in range(0, n, _FROB_CHUNK):
            block = data[k0 : k0 + _FROB_CHUNK]
            np.subtract(xf[k0 : k0 + _FROB_CHUNK], yf[k0 : k0 + _FROB_CHUNK], out=block)
            if wrt == "y":
                np.negative(block, out=block)
            nnz += int(np.count_nonzero(block))
    else:  # strided inputs: one whole-array pass each (flattening them would copy)
        np.subtract(x, y, out=data.reshape(x.shape))
        if wrt == "y":
            np.negative(data, out=data)
        nnz = int(np.count_nonzero(data))
    idx = index_dtype_for(n)
    if nnz == n:
        indices = np.arange(n, dtype=idx)
    else:
        indices = np.flatnonzero(data).astype(idx)
        data = data[indices]
    return csr_from_arrays(data, indices, np.array([0, nnz], dtype=idx), (1, n), what="frobenius_loss_jacobian")


#: entries per block of frobenius_loss_jacobian (256 kB of float64: stays in L2 between its passes)
_FROB_CHUNK = 1 << 15


def _frob_vjp_x(g, x, y):
    x, y = _pair(x, y)
    return float(g) * (x - y)


def _frob_vjp_y(g, x, y):
    x, y = _pair(x, y)
    return float(g) * (y - x)


# ---------------------------------------------------------------------------
# softmax and log_softmax along any dim of any shape (torch.softmax / torch.log_softmax)
# ---------------------------------------------------------------------------
def _scores(s, dim):
    """s as a float array and its view (outer, C, inner) around axis ``dim``."""
    arr = as_float_array(s, "s")
    if arr.dtype == object:
        raise TypeError("s: needs numeric values (got an object array)")
    if arr.ndim == 0 or arr.size == 0:
        raise GeometryError(f"s: must be a non-empty array with at least one axis (got shape {arr.shape})")
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not -arr.ndim <= dim < arr.ndim:
        raise GeometryError(f"dim: must be an integer in [{-arr.ndim}, {arr.ndim}) for s of shape {arr.shape} (got {_short(dim)})")
    if not np.isfinite(arr).all():
        raise ValueError("s: must be finite (got inf or nan among its entries)")
    axis = int(dim) % arr.ndim
    outer, c = exact_size(arr.shape[:axis]), arr.shape[axis]
    return arr, arr.reshape(outer, c, exact_size(arr.shape[axis + 1:]))


def softmax_along(s, dim=-1):
    """``p = exp(s − max) / Σ exp(s − max)`` along axis ``dim`` of any shape (``torch.softmax(s, dim)``).

    Examples
    --------
    >>> softmax_along(np.array([[0., 0.], [np.log(3.), 0.]]), dim=0)
    array([[0.25, 0.5 ],
           [0.75, 0.5 ]])
    """
    arr, s3 = _scores(s, dim)
    e = np.exp(s3 - s3.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).reshape(arr.shape)


def log_softmax(s, dim=-1):
    """``s − logsumexp(s)`` along axis ``dim`` (``torch.log_softmax(s, dim)``), computed with the max shifted out.

    Examples
    --------
    >>> np.exp(log_softmax(np.array([0., np.log(3.)])))
    array([0.25, 0.75])
    """
    arr, s3 = _scores(s, dim)
    shifted = s3 - s3.max(axis=1, keepdims=True)
    return (shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))).reshape(arr.shape)


def _slice_blocks(p3, dtype, what, *, log: bool, max_bytes=None):
    """Block-diagonal CSR with one C×C block per slice (o, k) of p viewed (outer, C, inner).

    Row (o, i, k) reads columns (o, i', k) for i' = 0 … C−1 (ascending); the
    value is ``δ_ii' p_i − p_i p_i'`` (softmax) or ``δ_ii' − p_i'`` (log_softmax),
    written by broadcasting a chunk of rows of about DENSE_BLOCK_CHUNK entries
    at a time (see :func:`dense_block_chunks`): the product (with −p_i, so no
    negation pass) and the diagonal run in cache and the CSR arrays are written
    to memory once, in order — the same floats as whole-array passes.
    """
    outer, c, inner = p3.shape
    n = outer * c * inner
    nnz = n * c
    check_budget(what, nnz, (n, n), dtype, max_bytes)
    idx = index_dtype_for(nnz, n, n)
    indptr = np.arange(0, nnz + 1, c, dtype=idx)
    # column (o, i', k) = o·C·inner + k + i'·inner, the same for every i of the row's slice: (inner, C) grid + o·C·inner
    cols = np.arange(inner, dtype=idx)[:, None] + np.arange(c, dtype=idx)[None, :] * idx.type(inner)
    slab = np.arange(outer, dtype=idx) * idx.type(c * inner)
    # p_i' of row (o, ·, k), read in order; p_i of row (o, i, k) is the same array read transposed (a chunk's
    # rows read a few hundred strided values), so p itself (and its dtype copy) can go before the CSR is allocated
    p_cols = np.ascontiguousarray(p3.transpose(0, 2, 1), dtype=dtype)
    p_rows = p_cols.transpose(0, 2, 1)
    del p3  # the callers pass a temporary: this was its last reference
    chunks = [(o0, o1, i0, i1, k0, k1, ((o0 * c + i0) * inner + k0) * c, (o1 - o0) * (i1 - i0) * (k1 - k0) * c)
              for o0, o1, i0, i1, k0, k1 in dense_block_chunks(outer, c, inner, c)]
    # the indices in a loop of their own, then the values: each array's fresh pages are touched in one
    # sequential sweep (interleaving the two sweeps measured ~10 % slower)
    indices = np.empty(nnz, dtype=idx)
    for o0, o1, i0, i1, k0, k1, start, size in chunks:
        # every row (o, ·, k) of the chunk reads the columns cols[k] + o·C·inner: inner loops of nk·C entries
        np.add(cols[k0:k1].reshape(1, 1, (k1 - k0) * c), slab[o0:o1, None, None],
               out=indices[start : start + size].reshape(o1 - o0, i1 - i0, (k1 - k0) * c))
    data = np.empty(nnz, dtype=dtype)
    item = data.itemsize
    for o0, o1, i0, i1, k0, k1, start, size in chunks:
        no, ni, nk = o1 - o0, i1 - i0, k1 - k0
        chunk = data[start : start + size]
        d4 = chunk.reshape(no, ni, nk, c)
        pc = p_cols[o0:o1, None, k0:k1, :]
        if log:
            np.negative(np.broadcast_to(pc, d4.shape), out=d4)
        else:
            # −p_i p_i' as (−p_i)·p_i' (the same float: negation is exact and rounding sign-symmetric), one pass
            np.multiply(np.negative(p_rows[o0:o1, i0:i1, k0:k1])[..., None], pc, out=d4)
        # the diagonal: row (o, i, k) at column position i, entry ((o−o0)·ni + (i−i0))·nk + (k−k0) of rows of C
        diag = np.ndarray((no, ni, nk), dtype, chunk, i0 * item, (ni * nk * c * item, (nk * c + 1) * item, c * item))
        diag += 1.0 if log else p_rows[o0:o1, i0:i1, k0:k1]
    return csr_from_arrays(data, indices, indptr, (n, n), what=what)


def softmax_along_jacobian(s, dim=-1, *, dtype=None, max_bytes=None):
    """∂vec(p)/∂vec(s) of softmax along ``dim``: block-diagonal, one ``diag(p) − ppᵀ`` block per slice.

    Shape (s.size, s.size); C-order vec of the whole array, so the blocks are
    contiguous for ``dim = -1`` and interleaved (a permuted block diagonal) otherwise.

    Examples
    --------
    >>> softmax_along_jacobian(np.zeros((2, 2)), dim=0).toarray()
    array([[ 0.25,  0.  , -0.25,  0.  ],
           [ 0.  ,  0.25,  0.  , -0.25],
           [-0.25,  0.  ,  0.25,  0.  ],
           [ 0.  , -0.25,  0.  ,  0.25]])
    """
    arr, s3 = _scores(s, dim)
    return _slice_blocks(softmax_along(arr, dim).reshape(s3.shape), resolve_dtype(dtype, arr), "softmax_jacobian",
                         log=False, max_bytes=max_bytes)


def log_softmax_jacobian(s, dim=-1, *, dtype=None, max_bytes=None):
    """∂vec(log_softmax(s))/∂vec(s): block-diagonal, one ``I − 1pᵀ`` block per slice along ``dim``.

    Entry ``∂y_i/∂s_j = δ_ij − p_j`` within a slice.

    Examples
    --------
    >>> log_softmax_jacobian(np.array([0., np.log(3.)])).toarray()
    array([[ 0.75, -0.75],
           [-0.25,  0.25]])
    """
    arr, s3 = _scores(s, dim)
    return _slice_blocks(softmax_along(arr, dim).reshape(s3.shape), resolve_dtype(dtype, arr), "log_softmax_jacobian",
                         log=True, max_bytes=max_bytes)


def _grad_along(g, arr):
    g = np.asarray(g, dtype=np.float64)
    if g.shape != arr.shape:
        raise ValueError(f"g: must have the shape of s {arr.shape} (got {g.shape})")
    return g


def softmax_along_vjp(g, s, dim=-1):
    """gᵀ ∂p/∂s without the matrix: ``p ∘ (g − Σ_dim g ∘ p)``."""
    arr, s3 = _scores(s, dim)
    p = softmax_along(arr, dim).reshape(s3.shape)
    g3 = _grad_along(g, arr).reshape(s3.shape)
    return (p * (g3 - (g3 * p).sum(axis=1, keepdims=True))).reshape(arr.shape)


def log_softmax_vjp(g, s, dim=-1):
    """gᵀ ∂log_softmax/∂s without the matrix: ``g − p · Σ_dim g``."""
    arr, s3 = _scores(s, dim)
    p = softmax_along(arr, dim).reshape(s3.shape)
    g3 = _grad_along(g, arr).reshape(s3.shape)
    return (g3 - p * g3.sum(axis=1, keepdims=True)).reshape(arr.shape)


def _ref_softmax_along(s, dim=-1, log=False):
    """Loops from the definition: for every slice, exp(s_i)/Σ_j exp(s_j) with math.fsum."""
    import math

    s = np.asarray(s, dtype=np.float64)
    axis = dim % s.ndim
    out = np.empty(s.shape)
    for index in np.ndindex(*s.shape):
        vals = [float(s[index[:axis] + (j,) + index[axis + 1:]]) for j in range(s.shape[axis])]
        top = max(vals)
        total = math.fsum(math.exp(v - top) for v in vals)
        out[index] = (s[index] - top - math.log(total)) if log else math.exp(s[index] - top) / total
    return out


# ---------------------------------------------------------------------------
# torch forwards
# ---------------------------------------------------------------------------
def _torch_softmax(s):
    import torch

    return torch.softmax(s, dim=-1)


def _torch_softmax_cross_entropy(s, y):
    import torch

    return -torch.log(y @ torch.softmax(s, dim=-1))


def _torch_soft_cross_entropy(s, y):
    import torch.nn.functional as F

    return F.cross_entropy(s[None], y[None])


def _torch_frobenius(x, y):
    return 0.5 * ((x - y) ** 2).sum()


# ---------------------------------------------------------------------------
# registration
# ---------------------------------------------------------------------------
def softmax_cases():
    rng = np.random.default_rng(41)
    out = [Case({"s": rng.standard_normal(c) * 2}, {}, f"s{c}") for c in (1, 2, 5, 10)]
    out.append(Case({"s": rng.standard_normal(6) + 30.0}, {}, "s6-shifted-by-30"))
    return out


def _labels(rng):
    """(C, y, id): one-hot, soft (Dirichlet) and partly-zero labels."""
    eye = np.eye(10)
    return [
        (1, np.ones(1), "onehot1"),
        (3, eye[1, :3], "onehot3"),
        (10, eye[7], "onehot10"),
        (5, rng.dirichlet(np.ones(5)), "soft5"),
        (4, np.array([0.5, 0.5, 0.0, 0.0]), "uniform-on-2-of-4"),
    ]


def _loss_cases(seed):
    def cases():
        rng = np.random.default_rng(seed)
        return [
            Case({"s": rng.standard_normal(c) * 2, "y": y}, {}, f"s{c}-{cid}", constant=("y",))
            for c, y, cid in _labels(rng)
        ]

    return cases


def frobenius_cases():
    rng = np.random.default_rng(43)
    shapes = [(4,), (3, 5), (2, 3, 4), (1, 1)]
    return [
        Case({"x": rng.standard_normal(sh), "y": rng.standard_normal(sh)}, {}, "x" + "x".join(map(str, sh)))
        for sh in shapes
    ]


def _vector_setup(op):
    def setup(shape, options):
        need_ndim(op, shape, 1, "a score vector C")
        return ShowSetup({"s": shape})

    return setup


def _label_setup(op):
    def setup(shape, options):
        need_ndim(op, shape, 1, "a score vector C")
        return ShowSetup({"s": shape}, constants={"y": one_hot(op, shape[0], options.get("target"))})

    return setup


def _loss_show(op):
    """Losses of a score vector and a one-hot label: ``--input C --target K`` (class K, 0-based)."""
    return ShowSpec(setup=_label_setup(op), options={"target": "int"}, input_help="C",
                    out_shape=lambda shapes, params: (), nnz=lambda shapes, params, wrt, out: shapes["s"][0],
                    symbols={"s": "s"}, example=("--input", "4", "--target", "2"))


def _softmax_forward(s):
    """Registered forward, inputs required (see :mod:`jacobians.registry`)."""
    return softmax(s)


register(
    "softmax",
    reference=_references.softmax_reference,
    summary="softmax p = exp(s)/Σexp(s): ∂p/∂s = diag(p) − p pᵀ",
    forward=_softmax_forward,
    jacobian={"s": lambda s: softmax_jacobian(s, sparse=True)},
    vjp={"s": {"elementwise": softmax_vjp}},
    cases=softmax_cases,
    torch_forward=_torch_softmax,
    show=ShowSpec(setup=_vector_setup("softmax"), input_help="C", out_shape=lambda shapes, params: shapes["s"],
                  nnz=lambda shapes, params, wrt, out: shapes["s"][0] ** 2, symbols={"s": "s"},
                  example=("--input", "3")),
)

register(
    "softmax_cross_entropy",
    reference=_references.softmax_cross_entropy_reference,
    summary="l = −log(yᵀ softmax(s)) (note 004), y constant: ∂l/∂s = −yᵀ/(yᵀp)(diag(p) − p pᵀ)",
    forward=softmax_cross_entropy,
    jacobian={"s": _sce_jacobian},
    vjp={"s": {"closed_form": _closed_form_vjp, "softmax_vjp": softmax_cross_entropy_vjp}},
    cases=_loss_cases(42),
    torch_forward=_torch_softmax_cross_entropy,
    show=_loss_show("softmax_cross_entropy"),
)


def _soft_ce_jacobian(s, y):
    return sp.csr_array(softmax_soft_cross_entropy_grad(s, y)[None, :])


def _soft_ce_vjp(g, s, y):
    # chain through the softmax VJP: ∂h/∂p = −y/p, then the softmax adjoint (independent of (Σy)p − y)
    p = softmax(s)
    y = _label(y, p)
    ratio = np.divide(y, p, out=np.zeros_like(p), where=y > 0)  # 0·log p terms contribute nothing
    return softmax_vjp(-float(g) * ratio, s)


register(
    "softmax_soft_cross_entropy",
    reference=_references.softmax_soft_cross_entropy_reference,
    summary="h = −Σ y log softmax(s) (PyTorch's soft-target cross-entropy), y constant: ∂h/∂s = p − y",
    forward=softmax_soft_cross_entropy,
    jacobian={"s": _soft_ce_jacobian},
    vjp={"s": {"softmax_vjp": _soft_ce_vjp}},
    cases=_loss_cases(44),
    torch_forward=_torch_soft_cross_entropy,
    show=_loss_show("softmax_soft_cross_entropy"),
)

register(
    "frobenius_loss",
    reference=_references.frobenius_loss_reference,
    summary="Q = ½‖X − Y‖²_F (note 000): ∂Q/∂vec(X) = vec(X − Y)ᵀ",
    forward=frobenius_loss,
    jacobian={"x": lambda x, y: frobenius_loss_jacobian(x, y, "x"), "y": lambda x, y: frobenius_loss_jacobian(x, y, "y")},
    vjp={"x": {"residual": _frob_vjp_x}, "y": {"residual": _frob_vjp_y}},
    cases=frobenius_cases,
    torch_forward=_torch_frobenius,
    show=ShowSpec(  # Y has the shape of X; both are variables
        setup=lambda shape, options: ShowSetup({"x": shape, "y": shape}),
        out_shape=lambda shapes, params: (),
        nnz=lambda shapes, params, wrt, out: math.prod(shapes["x"]),
        symbols={"x": "X", "y": "Y"}, example=("--input", "2x2"),
    ),
)


# softmax / log_softmax along any dim ---------------------------------------------------
def _along_cases(seed):
    def cases():
        rng = np.random.default_rng(seed)
        out = []
        for shape, dim in [((2, 3, 4), -1), ((2, 3, 4), 1), ((3, 4), 0), ((5,), 0), ((2, 1, 3), 1), ((4, 2), -2)]:
            out.append(Case({"s": rng.standard_normal(shape) * 2}, {"dim": dim}, "s" + "x".join(map(str, shape)) + f"-dim{dim}"))
        out.append(Case({"s": rng.standard_normal((2, 3)) + 40.0}, {"dim": 1}, "s2x3-shifted-by-40"))
        return out

    return cases


def _torch_softmax_along(s, dim=-1):
    import torch

    return torch.softmax(s, dim)


def _torch_log_softmax(s, dim=-1):
    import torch

    return torch.log_softmax(s, dim)


def _along_show(op):
    """``--input SHAPE`` of any rank and ``--dim D`` (default −1, negative from the end): one C×C block per slice."""

    def setup(shape, options):
        return ShowSetup({"s": shape}, {"dim": dim_option(op, shape, options, -1)})

    return ShowSpec(setup=setup, options={"dim": "signed_int"}, out_shape=lambda shapes, params: shapes["s"],
                    nnz=lambda shapes, params, wrt, out: math.prod(out) * out[params["dim"]], symbols={"s": "s"},
                    example=("--input", "2x3", "--dim", "1"))


register(
    "softmax_dim",
    summary="softmax along dim of any shape: block-diagonal, one diag(p) − ppᵀ block per slice",
    forward=softmax_along,
    jacobian={"s": lambda s, dim=-1: softmax_along_jacobian(s, dim)},
    vjp={"s": {"elementwise": softmax_along_vjp}},
    cases=_along_cases(45),
    torch_forward=_torch_softmax_along,
    reference=lambda s, dim=-1: _ref_softmax_along(s, dim),
    param_names=("dim",),
    show=_along_show("softmax_dim"),
)

register(
    "log_softmax",
    summary="log_softmax along dim: block-diagonal, one I − 1pᵀ block per slice",
    forward=log_softmax,
    jacobian={"s": lambda s, dim=-1: log_softmax_jacobian(s, dim)},
    vjp={"s": {"elementwise": log_softmax_vjp}},
    cases=_along_cases(46),
    torch_forward=_torch_log_softmax,
    reference=lambda s, dim=-1: _ref_softmax_along(s, dim, log=True),
    param_names=("dim",),
    show=_along_show("log_softmax"),
)
