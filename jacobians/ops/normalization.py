"""Normalization layers — batch, layer, group and instance norm — with PyTorch's names and semantics.

Shapes (canonical convention: PyTorch memory order, C-order vec, numerator layout)::

    x       (N, C, *S)  batched, as in PyTorch (layer_norm: (*, *normalized_shape))
    weight  (C,)        γ (layer_norm: normalized_shape, element-wise affine)
    bias    (C,)        β (layer_norm: normalized_shape)
    y       shaped like x

Every layer normalizes *groups* of entries of x with the group's mean and
biased variance (``var = mean((x − μ)²)``, PyTorch's normalization
statistic)::

    x̂_i = (x_i − μ_g) / σ_g,   σ_g = sqrt(var_g + eps),   y_i = γ_(i) x̂_i + β_(i)

The layers differ only in the groups (``m`` entries each):

============== ======================================= =====================
layer          group of entry (n, c, s)                 γ, β indexed by
============== ======================================= =====================
batch_norm     channel c, over the batch and space      channel c
instance_norm  (n, c): one sample's channel, over space channel c
group_norm     (n, c // (C/G)), over C/G channels·space channel c
layer_norm     the leading index, over normalized_shape position in normalized_shape
============== ======================================= =====================

All four are one computation on x viewed as ``(A, G, B)`` — group = middle
index, members = every (a, b), ``m = A·B`` (batch norm: A = N, G = C,
B = prod(S); the others: A = 1, contiguous groups); see :class:`NormLayout`.

Jacobian w.r.t. x (training statistics), for i, j in one group g::

    ∂y_i/∂x_j = γ_(i)/σ_g · (δ_ij − 1/m − x̂_i x̂_j / m)        (0 across groups)

— dense within each group, block-sparse overall: batch norm's Jacobian is
block-diagonal over channels after the permutation that sorts entries by
channel, each block ``(γ/σ)(I − 11ᵀ/m − x̂x̂ᵀ/m)``, which annihilates the
constant vector 1 and the normalized input x̂ (both from the right). Each
row stores its group's m entries in ascending column order; the CSR is
filled by broadcasting into the data and index arrays (no COO detour, no
temporary of the matrix's size).

Batch norm in evaluation mode (``training=False``) normalizes with the
running statistics, constants: ``∂y_i/∂x_j = δ_ij γ_c / sqrt(running_var_c + eps)``,
a diagonal Jacobian.

Jacobian w.r.t. γ: one entry per row, ``∂y_i/∂γ_k = x̂_i [k = index of i]``;
w.r.t. β: the 0/1 matrix ``[k = index of i]`` (structural).

VJPs never touch the matrices: the compact textbook backward (CS231n's
batch-norm backward, one line per group)::

    dx = (1/σ) (ĝ − mean(ĝ) − x̂ · mean(ĝ ∘ x̂)),   ĝ = γ ∘ g

and, as a second, independent derivation, the staged backward through the
computational graph (x̂ → σ² → μ → x), the route hand derivations take.

PyTorch's rules kept: ``eps`` must be > 0 here (PyTorch accepts eps = 0 and
then divides by zero for a constant group: refused with one line instead);
training-mode batch norm with one value per channel raises, as PyTorch does
("Expected more than 1 value per channel when training"); instance norm with
one spatial element per channel likewise ("Expected more than 1 spatial
element when training"). The running-statistics update (``momentum``) is a
side effect that does not change the output and is not modelled.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..geometry import GeometryError, _short, as_items, as_positive_int
from ..registry import Case, register
from ._show import ShowSetup, ShowSpec, dims, real_option
from ._sparse import (
    as_float_array,
    check_budget,
    DENSE_BLOCK_CHUNK,
    csr_from_arrays,
    dense_block_chunks,
    diagonal_csr,
    exact_size,
    index_dtype_for,
    resolve_dtype,
)

__all__ = [
    "NormLayout",
    "batch_norm",
    "batch_norm_input_jacobian",
    "batch_norm_weight_jacobian",
    "batch_norm_bias_jacobian",
    "batch_norm_vjp_input",
    "layer_norm",
    "layer_norm_input_jacobian",
    "layer_norm_weight_jacobian",
    "layer_norm_bias_jacobian",
    "group_norm",
    "group_norm_input_jacobian",
    "group_norm_weight_jacobian",
    "group_norm_bias_jacobian",
    "instance_norm",
    "instance_norm_input_jacobian",
    "instance_norm_weight_jacobian",
    "instance_norm_bias_jacobian",
    "normalize_vjp_textbook",
    "normalize_vjp_staged",
]


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------
def _eps(eps) -> float:
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.integer, np.floating)):
        raise TypeError(f"eps: must be a real number > 0 (got {_short(eps)})")
    value = float(eps)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"eps: must be a finite number > 0 (got {_short(eps)})")
    return value


def _input(x, *, min_ndim=2, form="(N, C, …)") -> np.ndarray:
    arr = as_float_array(x, "x")
    if arr.dtype == object:
        raise TypeError("x: the numeric faces need numbers (got an object array; see symbolic.normalization)")
    if arr.ndim < min_ndim:
        raise GeometryError(f"x: must have shape {form} (got {arr.ndim}-D shape {arr.shape})")
    if arr.size == 0:
        raise GeometryError(f"x: must not be empty (got shape {arr.shape})")
    if not np.isfinite(arr).all():
        raise ValueError("x: must be finite (got inf or nan among its entries)")
    return arr


def _param(v, name, shape) -> np.ndarray | None:
    if v is None:
        return None
    arr = as_float_array(v, name)
    if arr.dtype == object:
        raise TypeError(f"{name}: the numeric faces need numbers (got an object array)")
    if arr.shape != tuple(shape):
        raise GeometryError(f"{name}: must have shape {tuple(shape)} (got {arr.shape})")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: must be finite (got inf or nan among its entries)")
    return arr


def _grad(g, x) -> np.ndarray:
    g = np.asarray(g, dtype=np.float64)
    if g.shape != x.shape:
        raise ValueError(f"g: must have the shape of the output {x.shape} (got {g.shape})")
    return g


# ---------------------------------------------------------------------------
# the one layout all four layers share
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class NormLayout:
    """x viewed as ``(a, g, b)``: group = middle index, members = every ``(a, b)``.

    ``wshape`` is the affine parameters' shape and ``wbshape`` the shape that
    broadcasts them (right-aligned) against x.
    """

    shape: tuple
    a: int
    g: int
    b: int
    wshape: tuple
    wbshape: tuple

    @property
    def m(self) -> int:
        """Entries per group."""
        return self.a * self.b

    @property
    def n(self) -> int:
        return self.a * self.g * self.b

    def to_groups(self, arr) -> np.ndarray:
        """An array shaped like x as ``(groups, m)``, members in ascending flat order."""
        return np.asarray(arr).reshape(self.a, self.g, self.b).transpose(1, 0, 2).reshape(self.g, self.m)

    def from_groups(self, arr) -> np.ndarray:
        return np.asarray(arr).reshape(self.g, self.a, self.b).transpose(1, 0, 2).reshape(self.shape)

    def per_entry(self, w) -> np.ndarray:
        """An affine parameter broadcast to x's shape."""
        return np.broadcast_to(np.asarray(w).reshape(self.wbshape), self.shape)

    def param_index(self) -> np.ndarray:
        """Flat index into the affine parameter of every entry of x (C order)."""
        size = exact_size(self.wshape)
        return self.per_entry(np.arange(size)).ravel()

    def reduce(self, arr) -> np.ndarray:
        """Sum an array shaped like x over everything that shares one affine parameter."""
        arr = np.asarray(arr)
        lead = arr.ndim - len(self.wbshape)
        axes = tuple(range(lead)) + tuple(lead + k for k, d in enumerate(self.wbshape) if d == 1)
        return arr.sum(axis=axes).reshape(self.wshape)


def _bn_layout(shape) -> NormLayout:
    n, c = shape[0], shape[1]
    spatial = exact_size(shape[2:])
    return NormLayout(tuple(shape), n, c, spatial, (c,), (c,) + (1,) * (len(shape) - 2))


def _in_layout(shape) -> NormLayout:
    n, c = shape[0], shape[1]
    return NormLayout(tuple(shape), 1, n * c, exact_size(shape[2:]), (c,), (c,) + (1,) * (len(shape) - 2))


def _gn_layout(shape, num_groups) -> NormLayout:
    n, c = shape[0], shape[1]
    return NormLayout(
        tuple(shape), 1, n * num_groups, (c // num_groups) * exact_size(shape[2:]), (c,), (c,) + (1,) * (len(shape) - 2)
    )


def _ln_layout(shape, normalized_shape) -> NormLayout:
    k = len(normalized_shape)
    return NormLayout(
        tuple(shape), 1, exact_size(shape[: len(shape) - k]), exact_size(normalized_shape), tuple(normalized_shape),
        tuple(normalized_shape),
    )


def _as_normalized_shape(normalized_shape, x_shape) -> tuple:
    scalar = isinstance(normalized_shape, (int, np.integer, float, np.floating))
    ns = (normalized_shape,) if scalar else as_items(normalized_shape, "normalized_shape", "an int or a shape tuple")
    ns = tuple(as_positive_int(d, "normalized_shape") for d in ns)
    if not ns:
        raise GeometryError("normalized_shape: must name at least one trailing dimension (got ())")
    if len(ns) > len(x_shape) or tuple(x_shape[len(x_shape) - len(ns):]) != ns:
        raise GeometryError(f"normalized_shape: must equal the trailing dimensions of x {tuple(x_shape)} (got {ns})")
    return ns


def _check_num_groups(num_groups, channels) -> int:
    g = as_positive_int(num_groups, "num_groups")
    if channels % g:
        raise GeometryError(f"num_groups: must divide the number of channels C = {channels} (got {g})")
    return g


# ---------------------------------------------------------------------------
# the shared numerics: statistics, forward, Jacobians, VJPs
# ---------------------------------------------------------------------------
#: entries per chunk when accumulating statistics (bounds the float64 temporaries)
_CHUNK = 1 << 20


def _chunks(layout: NormLayout, x):
    """x as (a, g, b) and slices along a (or along g when a = 1) of about _CHUNK entries each."""
    x3 = np.asarray(x).reshape(layout.a, layout.g, layout.b)
    if layout.a > 1:
        step = max(1, _CHUNK // max(1, layout.g * layout.b))
        return x3, [(slice(k, k + step), slice(None)) for k in range(0, layout.a, step)]
    step = max(1, _CHUNK // max(1, layout.b))
    return x3, [(slice(None), slice(k, k + step)) for k in range(0, layout.g, step)]


def _moments(layout: NormLayout, x, eps):
    """Per-group mean and 1/σ = 1/sqrt(biased var + eps), float64, two passes over chunks (no x-sized temporary)."""
    x3, chunks = _chunks(layout, x)
    total = np.zeros(layout.g)
    for sa, sg in chunks:
        total[sg] += x3[sa, sg].sum(axis=(0, 2), dtype=np.float64)
    mean = total / layout.m
    squares = np.zeros(layout.g)
    for sa, sg in chunks:
        d = x3[sa, sg] - mean[None, sg, None]
        squares[sg] += np.einsum("agb,agb->g", d, d)
    return mean, 1.0 / np.sqrt(squares / layout.m + eps)


def _statistics(layout: NormLayout, x, eps):
    """Per-group mean and 1/σ (biased variance), and x̂ as (groups, m), in float64."""
    mean, inv = _moments(layout, x, eps)
    xg = layout.to_groups(x).astype(np.float64)
    return mean, inv, (xg - mean[:, None]) * inv[:, None]


def _running(layout: NormLayout, x, running_mean, running_var, eps):
    """Evaluation mode: x̂ from the running statistics (per channel = per group of batch norm)."""
    inv = 1.0 / np.sqrt(running_var.astype(np.float64) + eps)
    xg = layout.to_groups(x).astype(np.float64)
    return inv, (xg - running_mean.astype(np.float64)[:, None]) * inv[:, None]


def _xhat_flat(layout: NormLayout, x, mean, inv, dtype) -> np.ndarray:
    """x̂ in x's C order as a fresh (x.size,) array of ``dtype``, written in place (no float64 copy of x)."""
    out = np.empty(layout.n, dtype=dtype)
    o3 = out.reshape(layout.a, layout.g, layout.b)
    np.subtract(np.asarray(x).reshape(o3.shape), mean[None, :, None], out=o3, casting="same_kind")
    np.multiply(o3, inv[None, :, None], out=o3, casting="same_kind")
    return out


def _affine(layout, xhat_g, weight, bias, dtype):
    y = layout.from_groups(xhat_g)
    if weight is not None:
        y = y * layout.per_entry(weight)
    if bias is not None:
        y = y + layout.per_entry(bias)
    return np.asarray(y, dtype=dtype)


def _row_coefficients(layout, inv, weight):
    """γ_(i)/σ_g(i) for every entry, shaped like x, float64."""
    coef = layout.from_groups(np.broadcast_to(inv[:, None], (layout.g, layout.m)))
    return coef * layout.per_entry(weight) if weight is not None else np.array(coef, dtype=np.float64)


def _group_jacobian(layout: NormLayout, xhat_g, inv, weight, dtype, what, max_bytes):
    """CSR of ∂y/∂x, rows (a, g, b) holding γ/σ_g (δ_ij − 1/m − x̂_i x̂_j/m) for every member j of g.

    Filled in place by broadcasting: indices ``members + g·b``, data
    ``x̂_i x̂_j`` → ``(1 + x̂_i x̂_j)·(−γ_i/(σ m))`` → ``+ γ_i/σ`` on the diagonal,
    a chunk of rows of about DENSE_BLOCK_CHUNK entries at a time (see
    :func:`dense_block_chunks`): the four passes over a chunk's values run in
    cache and the CSR arrays are written to memory once, in order. Per entry
    the same operations in the same order as one whole-array pass each, so
    the values are bit-identical to that. Extra memory beyond the CSR arrays
    is x̂ (x.size) and O(chunk).
    """
    A, G, B, m, n = layout.a, layout.g, layout.b, layout.m, layout.n
    nnz = n * m  # exact Python ints
    check_budget(what, nnz, (n, n), dtype, max_bytes)
    idx = index_dtype_for(nnz, n, n)
    indptr = np.arange(0, nnz + 1, m, dtype=idx)  # m ≥ 1 entries in every row
    # the members of group 0 in ascending flat order: a·(G·B) + b; group g adds g·B
    members = (np.arange(A, dtype=idx)[:, None] * idx.type(G * B) + np.arange(B, dtype=idx)[None, :]).ravel()
    group_base = np.arange(G, dtype=idx) * idx.type(B)
    # a chunk's rows within one (a, g) all read the same columns: the indices are nb copies of `members`
    # shifted by g·B, written from this template with an inner loop of nb·m entries (not m)
    template = np.tile(members, B if B * m <= DENSE_BLOCK_CHUNK else max(1, DENSE_BLOCK_CHUNK // m))
    # x̂ of the columns (G, m) and of the rows (A, G, B) in the values' dtype (one array when A = 1: a view)
    xcols = np.asarray(xhat_g).astype(dtype, copy=False)
    xrows = layout.from_groups(xcols).reshape(A, G, B)
    # the row coefficient γ/σ is formed per chunk: (1, ng, 1) when γ is one value per group (no γ; batch and
    # instance norm's per-channel γ), so the scaling runs over whole groups — and is a scalar multiply, numpy's
    # fast loop, when the chunk lies in one group (a per-row operand of stride 0 takes a loop ~3× slower);
    # per row (na, ng, nb) otherwise (group and layer norm's γ)
    wrows = wgroups = None
    if weight is not None:
        wrows = layout.per_entry(weight).reshape(A, G, B)
        if (wrows == wrows[:1, :, :1]).all():
            wgroups, wrows = np.array(wrows[0, :, 0]), None
    chunks = [(a0, a1, g0, g1, b0, b1, ((a0 * G + g0) * B + b0) * m, (a1 - a0) * (g1 - g0) * (b1 - b0) * m)
              for a0, a1, g0, g1, b0, b1 in dense_block_chunks(A, G, B, m)]
    # the indices in a loop of their own, then the values: each array's fresh pages are touched in one
    # sequential sweep (interleaving the two sweeps measured ~10 % slower)
    indices = np.empty(nnz, dtype=idx)
    for a0, a1, g0, g1, b0, b1, start, size in chunks:
        np.add(template[: (b1 - b0) * m], group_base[g0:g1, None],
               out=indices[start : start + size].reshape(a1 - a0, g1 - g0, (b1 - b0) * m))
    data = np.empty(nnz, dtype=dtype)
    item = data.itemsize
    for a0, a1, g0, g1, b0, b1, start, size in chunks:
        na, ng, nb = a1 - a0, g1 - g0, b1 - b0
        chunk = data[start : start + size]
        d4 = chunk.reshape(na, ng, nb, m)
        np.multiply(xcols[None, g0:g1, None, :], xrows[a0:a1, g0:g1, b0:b1, None], out=d4)
        chunk += 1
        coef = inv[None, g0:g1, None]
        if wrows is not None:
            coef = coef * wrows[a0:a1, g0:g1, b0:b1]
            d4 *= (-coef / m).astype(dtype)[..., None]
        else:
            if wgroups is not None:
                coef = coef * wgroups[None, g0:g1, None]
            if na * ng == 1:
                chunk *= (-coef / m).astype(dtype)[0, 0, 0]  # a numpy scalar of dtype: the same product
            else:
                d3 = chunk.reshape(na, ng, nb * m)
                d3 *= (-coef / m).astype(dtype)
        # the δ_ij term: row (a, g, b) meets its own column at member position a·B + b; in the chunk that is
        # entry ((a−a0)·ng + (g−g0))·nb + (b−b0) of rows of m, a strided view (no index array)
        diag = np.ndarray((na, ng, nb), dtype, chunk, (a0 * B + b0) * item,
                          ((ng * nb * m + B) * item, nb * m * item, (m + 1) * item))
        diag += coef.astype(dtype)
    return csr_from_arrays(data, indices, indptr, (n, n), what=what)


def _one_per_row(layout: NormLayout, data, what, max_bytes):
    """∂y/∂γ or ∂y/∂β: row i holds ``data[i]`` (a fresh (x.size,) array, used as is) in the column of i's parameter."""
    n, k = layout.n, exact_size(layout.wshape)
    check_budget(what, n, (n, k), data.dtype, max_bytes)
    idx = index_dtype_for(n, k)
    indices = np.empty(n, dtype=idx)
    indices.reshape(layout.shape)[...] = np.arange(k, dtype=idx).reshape(layout.wbshape)  # broadcast, no temporary
    return csr_from_arrays(data, indices, np.arange(n + 1, dtype=idx), (n, k), what=what)


def normalize_vjp_textbook(g, xhat_g, inv, layout: NormLayout, weight=None) -> np.ndarray:
    """The compact backward ``dx = (1/σ)(ĝ − mean(ĝ) − x̂·mean(ĝ∘x̂))`` per group, ĝ = γ∘g (CS231n).

    Parameters
    ----------
    g : upstream gradient shaped like x.
    xhat_g : (groups, m) normalized input; inv : (groups,) 1/σ.
    """
    gh = g * layout.per_entry(weight) if weight is not None else g
    gg = layout.to_groups(gh)
    dx = inv[:, None] * (gg - gg.mean(axis=1, keepdims=True) - xhat_g * np.mean(gg * xhat_g, axis=1, keepdims=True))
    return layout.from_groups(dx)


def normalize_vjp_staged(g, x, eps, layout: NormLayout, weight=None) -> np.ndarray:
    """The staged backward through the graph x → μ → x − μ → σ² → x̂ (the route hand derivations take).

    ``dσ² = Σ dx̂ (x − μ) · (−½)(σ² + eps)^(−3/2)``,
    ``dμ = −Σ dx̂ / σ + dσ² · Σ(−2(x − μ))/m``,
    ``dx = dx̂/σ + dσ² · 2(x − μ)/m + dμ/m``.
    """
    gh = g * layout.per_entry(weight) if weight is not None else g
    dxhat = layout.to_groups(gh)
    xg = layout.to_groups(np.asarray(x, dtype=np.float64))
    m = xg.shape[1]
    mu = xg.sum(axis=1, keepdims=True) / m
    xc = xg - mu
    var = (xc ** 2).sum(axis=1, keepdims=True) / m
    std = np.sqrt(var + eps)
    dvar = np.sum(dxhat * xc, axis=1, keepdims=True) * -0.5 * (var + eps) ** -1.5
    dmu = -np.sum(dxhat, axis=1, keepdims=True) / std + dvar * np.sum(-2.0 * xc, axis=1, keepdims=True) / m
    return layout.from_groups(dxhat / std + dvar * 2.0 * xc / m + dmu / m)


# ---------------------------------------------------------------------------
# batch norm
# ---------------------------------------------------------------------------
def _bn_setup(x, weight, eps, training, running_mean, running_var, need_mean=True):
    x = _input(x)
    eps = _eps(eps)
    if not isinstance(training, (bool, np.bool_)):
        raise TypeError(f"training: must be True or False (got {_short(training)})")
    layout = _bn_layout(x.shape)
    c = x.shape[1]
    weight = _param(weight, "weight", (c,))
    running_mean = _param(running_mean, "running_mean", (c,))
    running_var = _param(running_var, "running_var", (c,))
    if training:
        if layout.m == 1:
            raise ValueError(
                f"x: expected more than 1 value per channel when training (as PyTorch requires), got input shape {x.shape}"
            )
    else:
        if running_var is None:
            raise ValueError("running_var: required in evaluation mode (training=False): batch norm normalizes with it")
        if need_mean and running_mean is None:
            raise ValueError("running_mean: required in evaluation mode (training=False): batch norm normalizes with it")
        if (running_var < 0).any():
            raise ValueError(f"running_var: must be ≥ 0 (got min {running_var.min():.3g})")
    return x, weight, eps, layout, running_mean, running_var


def batch_norm(x, running_mean=None, running_var=None, weight=None, bias=None, training=True, eps=1e-5):
    """Batch normalization, ``torch.nn.functional.batch_norm`` (without the running-statistics update).

    Parameters
    ----------
    x : (N, C, *S) input.
    running_mean, running_var : (C,) running statistics, used when ``training=False``.
    weight, bias : (C,) γ and β, or None (γ = 1, β = 0).
    training : True normalizes with the batch's statistics (mean and biased
        variance over N and S); False with the running ones. (PyTorch's
        functional default is False; the layer's default — and this one — is
        training mode.)
    eps : > 0, added to the variance.

    Returns
    -------
    y : shaped like x; float32 when every input is float32, float64 otherwise.

    Notes
    -----
    ``y[n, c, s] = γ_c (x[n, c, s] − μ_c)/sqrt(var_c + eps) + β_c``.

    Examples
    --------
    >>> x = np.array([[[1.0]], [[3.0]]])          # N = 2, C = 1, S = (1,)
    >>> np.round(batch_norm(x, eps=1e-12).ravel(), 6)
    array([-1.,  1.])
    """
    x, weight, eps, layout, running_mean, running_var = _bn_setup(x, weight, eps, training, running_mean, running_var)
    bias = _param(bias, "bias", (x.shape[1],))
    dtype = resolve_dtype(None, x, weight, bias)
    if training:
        _, _, xhat_g = _statistics(layout, x, eps)
    else:
        _, xhat_g = _running(layout, x, running_mean, running_var, eps)
    return _affine(layout, xhat_g, weight, bias, dtype)


def batch_norm_input_jacobian(x, weight=None, eps=1e-5, training=True, running_var=None, *, dtype=None, max_bytes=None):
    """∂vec(y)/∂vec(x) of batch norm, a csr_array of shape (x.size, x.size).

    Training mode: row (n, c, s) holds, for every (n', c, s') of its channel,
    ``γ_c/σ_c · (δ − 1/m − x̂[n,c,s] x̂[n',c,s']/m)`` with ``m = N·prod(S)``:
    block-diagonal over channels after sorting entries by channel, each block
    dense. Evaluation mode: the diagonal ``γ_c / sqrt(running_var_c + eps)``.

    Examples
    --------
    >>> x = np.array([[[0.0]], [[1.0]], [[2.0]]])   # N = 3, one channel: σ = sqrt(2/3), x̂ = (−1, 0, 1)/σ
    >>> np.round(batch_norm_input_jacobian(x, eps=1e-12).toarray(), 4)   # (1/σ)(I − 11ᵀ/3 − x̂x̂ᵀ/3)
    array([[ 0.2041, -0.4082,  0.2041],
           [-0.4082,  0.8165, -0.4082],
           [ 0.2041, -0.4082,  0.2041]])
    >>> batch_norm_input_jacobian(x[:2], training=False, running_var=np.array([3.0]), eps=1.0).toarray()
    array([[0.5, 0. ],
           [0. , 0.5]])
    """
    x, weight, eps, layout, _, running_var = _bn_setup(x, weight, eps, training, None, running_var, need_mean=False)
    dtype = resolve_dtype(dtype, x, weight)
    if training:
        _, inv, xhat_g = _statistics(layout, x, eps)
        return _group_jacobian(layout, xhat_g, inv, weight, dtype, "batch_norm_input_jacobian", max_bytes)
    # γ_c / sqrt(running_var_c + eps) broadcast straight into the diagonal's data (no x-sized temporary)
    coef = 1.0 / np.sqrt(running_var.astype(np.float64) + eps)
    if weight is not None:
        coef = coef * weight
    return diagonal_csr(layout.per_entry(coef.astype(dtype)), dtype=dtype, what="batch_norm_input_jacobian",
                        max_bytes=max_bytes)


def batch_norm_weight_jacobian(x, eps=1e-5, training=True, running_mean=None, running_var=None, *, dtype=None,
                               max_bytes=None):
    """∂vec(y)/∂γ of batch norm, (x.size, C): row (n, c, s) holds x̂[n, c, s] in column c.

    Examples
    --------
    >>> batch_norm_weight_jacobian(np.array([[[1.0]], [[3.0]]]), eps=1e-12).toarray()
    array([[-1.],
           [ 1.]])
    """
    x, _, eps, layout, running_mean, running_var = _bn_setup(x, None, eps, training, running_mean, running_var)
    dtype = resolve_dtype(dtype, x)
    if training:
        mean, inv = _moments(layout, x, eps)
    else:
        mean, inv = running_mean.astype(np.float64), 1.0 / np.sqrt(running_var.astype(np.float64) + eps)
    check_budget("batch_norm_weight_jacobian", layout.n, (layout.n, x.shape[1]), dtype, max_bytes)
    return _one_per_row(layout, _xhat_flat(layout, x, mean, inv, dtype), "batch_norm_weight_jacobian", max_bytes)


def _bias_jacobian(layout, dtype, what, max_bytes):
    dtype = resolve_dtype(dtype)
    check_budget(what, layout.n, (layout.n, exact_size(layout.wshape)), dtype, max_bytes)
    return _one_per_row(layout, np.ones(layout.n, dtype=dtype), what, max_bytes)


def _shape_of(x_shape, form="(N, C, …)", min_ndim=2) -> tuple:
    items = as_items(x_shape if not hasattr(x_shape, "shape") else x_shape.shape, "x_shape", "a shape tuple")
    shape = tuple(as_positive_int(d, "x_shape") for d in items)
    if len(shape) < min_ndim:
        raise GeometryError(f"x_shape: must be {form} (got {shape})")
    return shape


def batch_norm_bias_jacobian(x_shape, *, dtype=None, max_bytes=None):
    """∂vec(y)/∂β of batch norm, (prod(x_shape), C): the 0/1 matrix [c(i) = k] (structural).

    Examples
    --------
    >>> batch_norm_bias_jacobian((2, 1, 1)).toarray()
    array([[1.],
           [1.]])
    """
    return _bias_jacobian(_bn_layout(_shape_of(x_shape)), dtype, "batch_norm_bias_jacobian", max_bytes)


def batch_norm_vjp_input(g, x, weight=None, eps=1e-5, training=True, running_var=None):
    """gᵀ ∂y/∂x of batch norm by the compact textbook formula (training) or the diagonal (evaluation)."""
    x, weight, eps, layout, _, running_var = _bn_setup(x, weight, eps, training, None, running_var, need_mean=False)
    g = _grad(g, x)
    if training:
        _, inv, xhat_g = _statistics(layout, x, eps)
        return normalize_vjp_textbook(g, xhat_g, inv, layout, weight)
    inv = 1.0 / np.sqrt(running_var.astype(np.float64) + eps)
    return g * _row_coefficients(layout, inv, weight)


# ---------------------------------------------------------------------------
# layer norm, group norm, instance norm: training statistics only
# ---------------------------------------------------------------------------
def _ln_setup(x, normalized_shape, weight, eps):
    x = _input(x, min_ndim=1, form="(*, *normalized_shape)")
    ns = _as_normalized_shape(normalized_shape, x.shape)
    return x, _ln_layout(x.shape, ns), _param(weight, "weight", ns), _eps(eps)


def _gn_setup(x, num_groups, weight, eps):
    x = _input(x)
    groups = _check_num_groups(num_groups, x.shape[1])
    layout = _gn_layout(x.shape, groups)
    if x.shape[0] * layout.m == 1:
        # PyTorch's check (F.group_norm → _verify_batch_size on N·C/G·prod(S)), kept so the two refuse alike
        raise ValueError(
            f"x: expected more than 1 value per channel when training (as PyTorch requires of N·C/num_groups·prod(S)), "
            f"got input shape {x.shape} with num_groups = {groups}"
        )
    return x, layout, _param(weight, "weight", (x.shape[1],)), _eps(eps)


def _in_setup(x, weight, eps):
    x = _input(x, min_ndim=3, form="(N, C, *S) with at least one spatial axis")
    layout = _in_layout(x.shape)
    if layout.m == 1:
        raise ValueError(
            f"x: expected more than 1 spatial element when training (as PyTorch requires), got input shape {x.shape}"
        )
    return x, layout, _param(weight, "weight", (x.shape[1],)), _eps(eps)


def _forward(x, layout, weight, bias, eps):
    bias = _param(bias, "bias", layout.wshape)
    _, _, xhat_g = _statistics(layout, x, eps)
    return _affine(layout, xhat_g, weight, bias, resolve_dtype(None, x, weight, bias))


def _input_jacobian(x, layout, weight, eps, dtype, what, max_bytes):
    _, inv, xhat_g = _statistics(layout, x, eps)
    return _group_jacobian(layout, xhat_g, inv, weight, resolve_dtype(dtype, x, weight), what, max_bytes)


def _weight_jacobian(x, layout, eps, dtype, what, max_bytes):
    dtype = resolve_dtype(dtype, x)
    check_budget(what, layout.n, (layout.n, exact_size(layout.wshape)), dtype, max_bytes)
    mean, inv = _moments(layout, x, eps)
    return _one_per_row(layout, _xhat_flat(layout, x, mean, inv, dtype), what, max_bytes)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalization over the trailing ``normalized_shape`` dimensions (``F.layer_norm``).

    ``y = γ ∘ (x − μ)/sqrt(var + eps) + β``, μ and the biased var taken over
    the last ``len(normalized_shape)`` axes; γ, β of shape normalized_shape.

    Examples
    --------
    >>> np.round(layer_norm(np.array([[1.0, 3.0]]), 2, eps=1e-12), 6)
    array([[-1.,  1.]])
    """
    x, layout, weight, eps = _ln_setup(x, normalized_shape, weight, eps)
    return _forward(x, layout, weight, bias, eps)


def layer_norm_input_jacobian(x, normalized_shape, weight=None, eps=1e-5, *, dtype=None, max_bytes=None):
    """∂vec(y)/∂vec(x) of layer norm: block-diagonal, one dense m×m block per leading index.

    Entry ``γ_i/σ (δ_ij − 1/m − x̂_i x̂_j/m)``, m = prod(normalized_shape).

    Examples
    --------
    >>> J = layer_norm_input_jacobian(np.array([[0.0, 1.0, 2.0], [5.0, 5.0, 5.0]]), 3, eps=1e-12)
    >>> np.round(J.toarray()[:3, :3], 4)   # a constant row (second block) has x̂ = 0: (1/σ)(I − 11ᵀ/3)
    array([[ 0.2041, -0.4082,  0.2041],
           [-0.4082,  0.8165, -0.4082],
           [ 0.2041, -0.4082,  0.2041]])
    """
    x, layout, weight, eps = _ln_setup(x, normalized_shape, weight, eps)
    return _input_jacobian(x, layout, weight, eps, dtype, "layer_norm_input_jacobian", max_bytes)


def layer_norm_weight_jacobian(x, normalized_shape, eps=1e-5, *, dtype=None, max_bytes=None):
    """∂vec(y)/∂vec(γ) of layer norm, (x.size, prod(normalized_shape)): row i holds x̂_i at i's position."""
    x, layout, _, eps = _ln_setup(x, normalized_shape, None, eps)
    return _weight_jacobian(x, layout, eps, dtype, "layer_norm_weight_jacobian", max_bytes)


def layer_norm_bias_jacobian(x_shape, normalized_shape, *, dtype=None, max_bytes=None):
    """∂vec(y)/∂vec(β) of layer norm: the 0/1 matrix tiling the identity over the leading indices."""
    shape = _shape_of(x_shape, "(*, *normalized_shape)", 1)
    return _bias_jacobian(_ln_layout(shape, _as_normalized_shape(normalized_shape, shape)), dtype,
                          "layer_norm_bias_jacobian", max_bytes)


def group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    """Group normalization (``F.group_norm``): statistics per sample over C/num_groups channels and space.

    Examples
    --------
    >>> np.round(group_norm(np.array([[[1.0], [3.0]]]), 1, eps=1e-12).ravel(), 6)
    array([-1.,  1.])
    """
    x, layout, weight, eps = _gn_setup(x, num_groups, weight, eps)
    return _forward(x, layout, weight, bias, eps)


def group_norm_input_jacobian(x, num_groups, weight=None, eps=1e-5, *, dtype=None, max_bytes=None):
    """∂vec(y)/∂vec(x) of group norm: block-diagonal, one dense block per (sample, group).

    Examples
    --------
    >>> group_norm_input_jacobian(np.ones((1, 2, 2)), 2).nnz   # two groups of 2 entries
    8
    """
    x, layout, weight, eps = _gn_setup(x, num_groups, weight, eps)
    return _input_jacobian(x, layout, weight, eps, dtype, "group_norm_input_jacobian", max_bytes)


def group_norm_weight_jacobian(x, num_groups, eps=1e-5, *, dtype=None, max_bytes=None):
    """∂vec(y)/∂γ of group norm, (x.size, C): row (n, c, s) holds x̂[n, c, s] in column c."""
    x, layout, _, eps = _gn_setup(x, num_groups, None, eps)
    return _weight_jacobian(x, layout, eps, dtype, "group_norm_weight_jacobian", max_bytes)


def group_norm_bias_jacobian(x_shape, num_groups=1, *, dtype=None, max_bytes=None):
    """∂vec(y)/∂β of group norm (the same 0/1 channel matrix as batch norm's)."""
    shape = _shape_of(x_shape)
    return _bias_jacobian(_gn_layout(shape, _check_num_groups(num_groups, shape[1])), dtype,
                          "group_norm_bias_jacobian", max_bytes)


def instance_norm(x, weight=None, bias=None, eps=1e-5):
    """Instance normalization (``F.instance_norm`` with ``use_input_stats=True``): per sample and channel.

    Examples
    --------
    >>> np.round(instance_norm(np.array([[[1.0, 3.0]]]), eps=1e-12), 6)
    array([[[-1.,  1.]]])
    """
    x, layout, weight, eps = _in_setup(x, weight, eps)
    return _forward(x, layout, weight, bias, eps)


def instance_norm_input_jacobian(x, weight=None, eps=1e-5, *, dtype=None, max_bytes=None):
    """∂vec(y)/∂vec(x) of instance norm: block-diagonal, one dense prod(S)×prod(S) block per (n, c).

    Examples
    --------
    >>> np.round(instance_norm_input_jacobian(np.array([[[0.0, 1.0, 2.0]]]), eps=1e-12).toarray(), 4)
    array([[ 0.2041, -0.4082,  0.2041],
           [-0.4082,  0.8165, -0.4082],
           [ 0.2041, -0.4082,  0.2041]])
    """
    x, layout, weight, eps = _in_setup(x, weight, eps)
    return _input_jacobian(x, layout, weight, eps, dtype, "instance_norm_input_jacobian", max_bytes)


def instance_norm_weight_jacobian(x, eps=1e-5, *, dtype=None, max_bytes=None):
    """∂vec(y)/∂γ of instance norm, (x.size, C): row (n, c, s) holds x̂[n, c, s] in column c."""
    x, layout, _, eps = _in_setup(x, None, eps)
    return _weight_jacobian(x, layout, eps, dtype, "instance_norm_weight_jacobian", max_bytes)


def instance_norm_bias_jacobian(x_shape, *, dtype=None, max_bytes=None):
    """∂vec(y)/∂β of instance norm (the 0/1 channel matrix)."""
    return _bias_jacobian(_in_layout(_shape_of(x_shape, "(N, C, *S)", 3)), dtype, "instance_norm_bias_jacobian",
                          max_bytes)


# ---------------------------------------------------------------------------
# registration: faces with the registry's signatures, references, torch forwards, cases
# ---------------------------------------------------------------------------
def _ref_normalize(x, key, pidx, weight, bias, eps, stats=None):
    """Loops from the definition: group entries by ``key(index)``, mean and biased variance by fsum.

    ``stats`` (evaluation mode) maps a key to (mean, var) instead.
    """
    x = np.asarray(x, dtype=np.float64)
    groups: dict = {}
    for index in np.ndindex(*x.shape):
        groups.setdefault(key(index), []).append(float(x[index]))
    moments = {}
    for k, vals in groups.items():
        if stats is not None:
            moments[k] = stats(k)
            continue
        mu = math.fsum(vals) / len(vals)
        moments[k] = (mu, math.fsum((v - mu) ** 2 for v in vals) / len(vals))
    y = np.empty(x.shape)
    for index in np.ndindex(*x.shape):
        mu, var = moments[key(index)]
        p = pidx(index)
        gamma = 1.0 if weight is None else float(np.asarray(weight)[p])
        beta = 0.0 if bias is None else float(np.asarray(bias)[p])
        y[index] = gamma * (float(x[index]) - mu) / math.sqrt(var + eps) + beta
    return y


def _trailing(normalized_shape) -> int:
    return 1 if isinstance(normalized_shape, (int, np.integer)) else len(normalized_shape)


#: The definitions' grouping, for the loop-written references and the symbolic faces (not the builders, which
#: use :class:`NormLayout`): ``GROUP_KEYS[layer](shape, **params) -> (group key of a multi-index, its γ/β index)``.
GROUP_KEYS = {
    "batch_norm": lambda shape, **p: (lambda i: i[1], lambda i: i[1]),
    "instance_norm": lambda shape, **p: (lambda i: i[:2], lambda i: i[1]),
    "group_norm": lambda shape, num_groups=1, **p: (lambda i: (i[0], i[1] // (shape[1] // num_groups)), lambda i: i[1]),
    "layer_norm": lambda shape, normalized_shape=(), **p: (
        lambda i, k=_trailing(normalized_shape): i[: len(i) - k],
        lambda i, k=_trailing(normalized_shape): i[len(i) - k:],
    ),
}


def _reference(kind):
    def reference(x, weight=None, bias=None, running_mean=None, running_var=None, training=True, eps=1e-5, **params):
        key, pidx = GROUP_KEYS[kind](np.shape(x), **params)
        stats = None if training else (lambda c: (float(running_mean[c]), float(running_var[c])))
        return _ref_normalize(x, key, pidx, weight, bias, eps, stats)

    return reference


def _torch_batch_norm(x, weight=None, bias=None, running_mean=None, running_var=None, training=True, eps=1e-5):
    import torch.nn.functional as F

    return F.batch_norm(x, running_mean, running_var, weight, bias, training=training, eps=eps)


def _torch_layer_norm(x, weight=None, bias=None, normalized_shape=(), eps=1e-5):
    import torch.nn.functional as F

    ns = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    return F.layer_norm(x, ns, weight, bias, eps)


def _torch_group_norm(x, weight=None, bias=None, num_groups=1, eps=1e-5):
    import torch
    import torch.nn.functional as F

    if weight is None and bias is not None:
        # torch 2.13's vmapped group-norm backward fails for a bias without a weight; γ = 1 is the same map
        weight = torch.ones(x.shape[1], dtype=x.dtype)
    return F.group_norm(x, num_groups, weight, bias, eps)


def _torch_instance_norm(x, weight=None, bias=None, eps=1e-5):
    import torch.nn.functional as F

    return F.instance_norm(x, weight=weight, bias=bias, eps=eps)


# batch norm ------------------------------------------------------------------
def _bn_forward(x, weight, bias=None, running_mean=None, running_var=None, training=True, eps=1e-5):
    """Registered forward, inputs required (``weight=None`` still means no affine; see :mod:`jacobians.registry`)."""
    return batch_norm(x, running_mean, running_var, weight, bias, training, eps)


def _bn_jac_x(x, weight=None, bias=None, running_mean=None, running_var=None, training=True, eps=1e-5):
    return batch_norm_input_jacobian(x, weight, eps, training, running_var)


def _bn_jac_w(x, weight=None, bias=None, running_mean=None, running_var=None, training=True, eps=1e-5):
    return batch_norm_weight_jacobian(x, eps, training, running_mean, running_var)


def _bn_jac_b(x, weight=None, bias=None, running_mean=None, running_var=None, training=True, eps=1e-5):
    return batch_norm_bias_jacobian(np.shape(x))


def _bn_vjp_x(g, x, weight=None, bias=None, running_mean=None, running_var=None, training=True, eps=1e-5):
    return batch_norm_vjp_input(g, x, weight, eps, training, running_var)


def _bn_vjp_x_staged(g, x, weight=None, bias=None, running_mean=None, running_var=None, training=True, eps=1e-5):
    x, weight, eps, layout, _, running_var = _bn_setup(x, weight, eps, training, None, running_var, need_mean=False)
    g = _grad(g, x)
    if training:
        return normalize_vjp_staged(g, x, eps, layout, weight)
    scale = (running_var + eps) ** -0.5 if weight is None else weight * (running_var + eps) ** -0.5
    return g * layout.per_entry(scale)


def _bn_xhat(x, running_mean, running_var, training, eps):
    x, _, eps, layout, running_mean, running_var = _bn_setup(x, None, eps, training, running_mean, running_var)
    if training:
        return layout, layout.from_groups(_statistics(layout, x, eps)[2])
    return layout, layout.from_groups(_running(layout, x, running_mean, running_var, eps)[1])


def _bn_vjp_w(g, x, weight=None, bias=None, running_mean=None, running_var=None, training=True, eps=1e-5):
    layout, xhat = _bn_xhat(x, running_mean, running_var, training, eps)
    return layout.reduce(_grad(g, xhat) * xhat)


def _bn_vjp_b(g, x, weight=None, bias=None, running_mean=None, running_var=None, training=True, eps=1e-5):
    return _bn_layout(np.shape(x)).reduce(_grad(g, np.asarray(x)))


def _affine_inputs(rng, c_shape, with_weight=True, with_bias=True):
    weight = rng.standard_normal(c_shape) if with_weight else None
    bias = rng.standard_normal(c_shape) if with_bias else None
    return weight, bias


def _bn_cases():
    rng = np.random.default_rng(61)
    out = []
    for shape, training, wb, eps in [
        ((3, 2, 2, 3), True, (True, True), 1e-5),
        ((4, 3), True, (True, False), 1e-3),
        ((2, 2, 5), True, (False, False), 1e-5),
        ((2, 1, 1, 1), True, (True, True), 0.1),
        ((3, 2, 2, 3), False, (True, True), 1e-5),
        ((4, 3), False, (False, True), 1e-3),
    ]:
        c = shape[1]
        weight, bias = _affine_inputs(rng, (c,), *wb)
        inputs = {"x": rng.standard_normal(shape) * 2 + 0.5, "weight": weight, "bias": bias}
        if not training:
            inputs["running_mean"] = rng.standard_normal(c)
            inputs["running_var"] = rng.uniform(0.5, 2.0, c)
        cid = "x" + "x".join(map(str, shape)) + ("-train" if training else "-eval") + ("-affine" if wb[0] else "")
        out.append(Case(inputs, {"training": training, "eps": eps}, cid + f"-eps{eps:g}",
                        constant=("running_mean", "running_var")))
    return out


# `jacobians show` metadata: --input NxCx…, γ and β shaped from it, PyTorch's options by --param -------------
_NORM_SYMBOLS = {"x": "x", "weight": "gamma", "bias": "beta"}


def _show_eps(options) -> float:
    return real_option(options, "eps", 1e-5, "> 0", lambda v: v > 0)


def _norm_nnz(group_size):
    """Nonzeros of a normalization layer's Jacobian: a dense group per row w.r.t. x, one entry per row w.r.t. γ, β."""

    def nnz(shapes, params, wrt, out):
        rows = math.prod(shapes["x"])
        return rows * group_size(shapes["x"], params) if wrt == "x" else rows

    return nnz


def _norm_symbolic_form(op):
    """The readable entry form (x̂, σ, γ) for ``--values symbolic`` (symbolic.normalization.show_form, imported lazily)."""

    def form(shapes, params, wrt, base):
        from symbolic.normalization import show_form

        return show_form(op, shapes, params, wrt, base)

    return form


def _norm_show(op, setup, options, example, input_help="NxCx…", group_size=None):
    return ShowSpec(
        setup=setup, options={**options, "eps": "float"}, out_shape=lambda shapes, params: shapes["x"],
        nnz=_norm_nnz(group_size), input_help=input_help, symbols=_NORM_SYMBOLS, example=example,
        symbolic_form=_norm_symbolic_form(op),
    )


def _need_batched(op, shape, min_ndim=2, form="NxCx…"):
    if len(shape) < min_ndim:
        raise ValueError(f"--input: {op} needs {form} (at least {min_ndim} dimensions), got {dims(shape)}")


def _bn_show_setup(shape, options):
    """Training mode (default): batch statistics; ``--param training=false``: running statistics, constants
    ``running_mean`` and ``running_var`` (one value for every channel, default 0 and 1)."""
    _need_batched("batch_norm", shape)
    c = shape[1]
    training = options.get("training", True)
    params = {"training": training, "eps": _show_eps(options)}
    constants = {}
    if training:
        for name in ("running_mean", "running_var"):
            if name in options:
                raise ValueError(f"--param {name}: batch_norm uses running statistics only with --param training=false")
        if math.prod(shape) // c == 1:
            raise ValueError(f"--input: batch_norm in training mode needs more than 1 value per channel (N·prod(S) > 1, "
                             f"as PyTorch requires), got {dims(shape)}; or use --param training=false")
    else:
        mean = real_option(options, "running_mean", 0.0)
        var = real_option(options, "running_var", 1.0, "≥ 0", lambda v: v >= 0)
        constants = {"running_mean": np.full(c, mean), "running_var": np.full(c, var)}
    return ShowSetup({"x": shape, "weight": (c,), "bias": (c,)}, params, constants)


register(
    "batch_norm",
    summary="batch norm (training: batch statistics, dense per-channel blocks; eval: running statistics, diagonal)",
    forward=_bn_forward,
    jacobian={"x": _bn_jac_x, "weight": _bn_jac_w, "bias": _bn_jac_b},
    vjp={"x": {"textbook": _bn_vjp_x, "staged": _bn_vjp_x_staged}, "weight": {"sum": _bn_vjp_w},
         "bias": {"sum": _bn_vjp_b}},
    cases=_bn_cases,
    affine_in=("weight", "bias"),
    structural=("bias",),
    torch_forward=_torch_batch_norm,
    reference=_reference("batch_norm"),
    param_names=("training", "eps"),
    show=_norm_show("batch_norm", _bn_show_setup,
                    {"training": "bool", "running_mean": "float", "running_var": "float"},
                    ("--input", "2x2x2", "--param", "eps=0.001"),
                    group_size=lambda x, params: math.prod(x) // x[1] if params["training"] else 1),
)


# layer norm, group norm, instance norm ---------------------------------------------
def _family_faces(setup, forward_of, torch_forward, reference, what):
    """Registry faces of a training-statistics layer from its ``setup(x, weight, eps, **p) -> (x, layout, w, eps)``."""

    def forward(x, weight, bias=None, eps=1e-5, **p):  # inputs required (weight=None: no affine)
        x, layout, weight, eps = setup(x, weight, eps, **p)
        return _forward(x, layout, weight, bias, eps)

    def jac_x(x, weight=None, bias=None, eps=1e-5, **p):
        x, layout, weight, eps = setup(x, weight, eps, **p)
        return _input_jacobian(x, layout, weight, eps, None, f"{what}_input_jacobian", None)

    def jac_w(x, weight=None, bias=None, eps=1e-5, **p):
        x, layout, _, eps = setup(x, None, eps, **p)
        return _weight_jacobian(x, layout, eps, None, f"{what}_weight_jacobian", None)

    def jac_b(x, weight=None, bias=None, eps=1e-5, **p):
        x, layout, _, _ = setup(x, None, eps, **p)
        return _bias_jacobian(layout, None, f"{what}_bias_jacobian", None)

    def vjp_x(g, x, weight=None, bias=None, eps=1e-5, **p):
        x, layout, weight, eps = setup(x, weight, eps, **p)
        _, inv, xhat_g = _statistics(layout, x, eps)
        return normalize_vjp_textbook(_grad(g, x), xhat_g, inv, layout, weight)

    def vjp_x_staged(g, x, weight=None, bias=None, eps=1e-5, **p):
        x, layout, weight, eps = setup(x, weight, eps, **p)
        return normalize_vjp_staged(_grad(g, x), x, eps, layout, weight)

    def vjp_w(g, x, weight=None, bias=None, eps=1e-5, **p):
        x, layout, _, eps = setup(x, None, eps, **p)
        xhat = layout.from_groups(_statistics(layout, x, eps)[2])
        return layout.reduce(_grad(g, x) * xhat)

    def vjp_b(g, x, weight=None, bias=None, eps=1e-5, **p):
        x, layout, _, _ = setup(x, None, eps, **p)
        return layout.reduce(_grad(g, x))

    forward.__module__ = __name__
    return dict(
        forward=forward,
        jacobian={"x": jac_x, "weight": jac_w, "bias": jac_b},
        vjp={"x": {"textbook": vjp_x, "staged": vjp_x_staged}, "weight": {"sum": vjp_w}, "bias": {"sum": vjp_b}},
        affine_in=("weight", "bias"),
        structural=("bias",),
        torch_forward=torch_forward,
        reference=reference,
    )


def _ln_cases():
    rng = np.random.default_rng(62)
    out = []
    for shape, ns, wb, eps in [
        ((2, 3), (3,), (True, True), 1e-5),
        ((2, 3, 4), (3, 4), (True, False), 1e-5),
        ((3, 2, 4), 4, (False, False), 1e-3),
        ((5,), (5,), (True, True), 1e-5),
        ((2, 2, 1), (1,), (True, True), 1e-5),
    ]:
        wshape = (ns,) if isinstance(ns, int) else ns
        weight, bias = _affine_inputs(rng, wshape, *wb)
        cid = "x" + "x".join(map(str, shape)) + "-ns" + "x".join(map(str, wshape)) + ("-affine" if wb[0] else "")
        out.append(Case({"x": rng.standard_normal(shape) * 2 + 0.3, "weight": weight, "bias": bias},
                        {"normalized_shape": ns, "eps": eps}, cid))
    return out


def _gn_cases():
    rng = np.random.default_rng(63)
    out = []
    for shape, groups, wb, eps in [
        ((2, 4, 3), 2, (True, True), 1e-5),
        ((1, 6, 2, 2), 3, (True, False), 1e-5),
        ((2, 4, 3), 1, (False, True), 1e-3),
        ((2, 3, 2), 3, (True, True), 1e-5),
        ((3, 2), 1, (True, True), 1e-5),
    ]:
        weight, bias = _affine_inputs(rng, (shape[1],), *wb)
        cid = "x" + "x".join(map(str, shape)) + f"-G{groups}" + ("-affine" if wb[0] else "")
        out.append(Case({"x": rng.standard_normal(shape) * 2 - 0.4, "weight": weight, "bias": bias},
                        {"num_groups": groups, "eps": eps}, cid))
    return out


def _in_cases():
    rng = np.random.default_rng(64)
    out = []
    for shape, wb, eps in [
        ((2, 3, 4), (True, True), 1e-5),
        ((1, 2, 2, 3), (True, False), 1e-5),
        ((2, 2, 3), (False, False), 1e-2),
    ]:
        weight, bias = _affine_inputs(rng, (shape[1],), *wb)
        cid = "x" + "x".join(map(str, shape)) + ("-affine" if wb[0] else "")
        out.append(Case({"x": rng.standard_normal(shape) * 2 + 1.0, "weight": weight, "bias": bias},
                        {"eps": eps}, cid))
    return out


def _ln_setup_kw(x, weight, eps, normalized_shape=()):
    x, layout, weight, eps = _ln_setup(x, normalized_shape, weight, eps)
    return x, layout, weight, eps


def _gn_setup_kw(x, weight, eps, num_groups=1):
    return _gn_setup(x, num_groups, weight, eps)


def _ln_show_setup(shape, options):
    """``--param normalized_shape=SHAPE`` (default: the last axis of --input), equal to --input's trailing axes."""
    ns = tuple(options.get("normalized_shape", shape[-1:]))
    if len(ns) > len(shape) or tuple(shape[len(shape) - len(ns):]) != ns:
        raise ValueError(f"--param normalized_shape: layer_norm needs the trailing dimensions of --input {dims(shape)} "
                         f"(got {dims(ns)})")
    return ShowSetup({"x": shape, "weight": ns, "bias": ns}, {"normalized_shape": ns, "eps": _show_eps(options)})


def _gn_show_setup(shape, options):
    """``--param num_groups=G`` (default 1), dividing C."""
    _need_batched("group_norm", shape)
    c = shape[1]
    groups = options.get("num_groups", 1)
    if groups < 1 or c % groups:
        raise ValueError(f"--param num_groups: group_norm needs a positive divisor of C = {c} (got {groups})")
    if shape[0] * math.prod(shape[1:]) // groups == 1:
        raise ValueError(f"--input: group_norm needs more than 1 value per group (N·C/num_groups·prod(S) > 1, as PyTorch "
                         f"requires), got {dims(shape)} with num_groups = {groups}")
    return ShowSetup({"x": shape, "weight": (c,), "bias": (c,)}, {"num_groups": groups, "eps": _show_eps(options)})


def _in_show_setup(shape, options):
    _need_batched("instance_norm", shape, 3, "NxCxS… with at least one spatial axis")
    if math.prod(shape[2:]) == 1:
        raise ValueError(f"--input: instance_norm needs more than 1 spatial element (as PyTorch requires), got {dims(shape)}")
    c = shape[1]
    return ShowSetup({"x": shape, "weight": (c,), "bias": (c,)}, {"eps": _show_eps(options)})


register(
    "layer_norm",
    summary="layer norm over normalized_shape: one dense block per leading index, element-wise affine",
    cases=_ln_cases,
    param_names=("normalized_shape", "eps"),
    show=_norm_show("layer_norm", _ln_show_setup, {"normalized_shape": "shape"}, ("--input", "2x3"), "SHAPE",
                    group_size=lambda x, params: math.prod(params["normalized_shape"])),
    **_family_faces(_ln_setup_kw, layer_norm, _torch_layer_norm, _reference("layer_norm"), "layer_norm"),
)

register(
    "group_norm",
    summary="group norm: one dense block per (sample, group of C/num_groups channels)",
    cases=_gn_cases,
    param_names=("num_groups", "eps"),
    show=_norm_show("group_norm", _gn_show_setup, {"num_groups": "int"}, ("--input", "1x4x2", "--param", "num_groups=2"),
                    group_size=lambda x, params: math.prod(x[1:]) // params["num_groups"]),
    **_family_faces(_gn_setup_kw, group_norm, _torch_group_norm, _reference("group_norm"), "group_norm"),
)

register(
    "instance_norm",
    summary="instance norm: one dense block per (sample, channel)",
    cases=_in_cases,
    param_names=("eps",),
    show=_norm_show("instance_norm", _in_show_setup, {}, ("--input", "1x2x3"), "NxCxS…",
                    group_size=lambda x, params: math.prod(x[2:])),
    **_family_faces(_in_setup, instance_norm, _torch_instance_norm, _reference("instance_norm"), "instance_norm"),
)
