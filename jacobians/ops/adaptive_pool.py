"""Adaptive and global pooling (PyTorch's ``adaptive_avg_pool2d``, ``adaptive_max_pool2d``).

Shapes (canonical convention, C-order vec)::

    x   (C, H, W)     or batched (N, C, H, W)
    y   (C, OH, OW)   (OH, OW) = output_size; an entry None keeps that input size

PyTorch's window rule (``start_index`` / ``end_index`` of its CPU and CUDA
kernels), per axis of input size ``n`` and output size ``m``: output ``i``
pools the input indices ``[⌊i·n/m⌋, ⌈(i + 1)·n/m⌉)``. Windows always cover
the input, may overlap by one (when m does not divide n) and differ in
length by at most one or two; with ``m > n`` several outputs share a
single input entry.

Average: ``y[c,p,q] = (1/(len_h(p)·len_w(q))) Σ_{i ∈ win_h(p), j ∈ win_w(q)} x[c,i,j]``,
Jacobian entry ``1/(len_h(p)·len_w(q))`` — a fixed sparse ``I ⊗ A_h ⊗ A_w``.
Global average pooling is the case ``output_size = 1``.

Max: ``y[c,p,q] = max`` over the window; the Jacobian is the 0/1 mask of the
switches. Ties: the first maximum in row-major window order (rows of the
window, then columns) — PyTorch's CPU kernel replaces its running maximum
only on a strictly larger value while scanning that way (verified against
``torch.func.jacrev`` in tests/test_adaptive_pool.py), as in
:mod:`jacobians.ops.pooling`. NaN inputs are refused (PyTorch propagates them).
"""
from __future__ import annotations

import numpy as np

from ..geometry import GeometryError, _short, as_positive_int, as_shape
from ..registry import Case, register
from ._show_resample import adaptive_pool_show, global_pool_show
from ._separable import check_grad, product_csr, separable_adjoint
from ._sparse import as_float_array, check_budget, check_dense, csr_from_arrays, exact_size, index_dtype_for, resolve_dtype

__all__ = [
    "adaptive_windows",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool2d_reference",
    "adaptive_avg_pool2d_jacobian",
    "adaptive_avg_pool2d_vjp_separable",
    "adaptive_avg_pool2d_vjp_scatter",
    "global_avg_pool2d",
    "global_avg_pool2d_jacobian",
    "adaptive_max_pool2d",
    "adaptive_max_pool2d_reference",
    "adaptive_max_pool2d_jacobian",
    "adaptive_max_pool2d_vjp_switches",
    "adaptive_max_pool2d_vjp_onehot",
]


# ---------------------------------------------------------------------------
# window rule
# ---------------------------------------------------------------------------
def adaptive_windows(n: int, m: int):
    """(start, end) int64 arrays of the m windows over n entries: ⌊i·n/m⌋ and ⌈(i+1)·n/m⌉.

    Examples
    --------
    >>> adaptive_windows(5, 3)
    (array([0, 1, 3]), array([2, 4, 5]))
    """
    i = np.arange(m, dtype=np.int64)
    return (i * n) // m, -((-(i + 1) * n) // m)


def _output_size(output_size, in_hw):
    if output_size is None:  # PyTorch: None only as an entry of the pair
        raise GeometryError("output_size: must be an int or a pair (OH, OW) whose entries may be None (got None)")
    if isinstance(output_size, (int, np.integer, float, np.floating)) and not isinstance(output_size, bool):
        items = (output_size, output_size)
    else:
        try:
            items = tuple(output_size)
        except TypeError:
            raise GeometryError(f"output_size: must be an int, None or a pair (got {_short(output_size)})") from None
        if len(items) != 2:
            raise GeometryError(f"output_size: must be an int or a pair (OH, OW) (got {len(items)} values: {_short(output_size)})")
    out = tuple(
        int(n) if v is None else as_positive_int(v, f"output_size[{k}] ({ax})")
        for k, (v, n, ax) in enumerate(zip(items, in_hw, ("height", "width")))
    )
    # memory guard (exact ints) before the window tables and one output plane are allocated
    check_dense("adaptive pooling output plane", out[0] * out[1] + out[0] + out[1], np.float64)
    return out


def _image(x, name="x"):
    arr = as_float_array(x, name)
    if arr.dtype == object:
        raise TypeError(f"{name}: adaptive pooling needs numeric values (got an object array)")
    if arr.ndim not in (3, 4):
        raise GeometryError(f"{name}: must have shape (C, H, W) or (N, C, H, W) (got {arr.ndim}-D shape {arr.shape})")
    return arr


def _axis_table(n, m):
    """(index (m, k), weight 1/len (m, k), len (m,)): window entries, padded with the start index / weight 0."""
    start, end = adaptive_windows(n, m)
    length = end - start
    k = int(length.max())
    taps = np.arange(k, dtype=np.int64)[None, :]
    valid = taps < length[:, None]
    index = np.where(valid, start[:, None] + taps, start[:, None])
    weight = np.where(valid, 1.0 / length[:, None], 0.0)
    return index, weight, length


# ---------------------------------------------------------------------------
# average
# ---------------------------------------------------------------------------
def adaptive_avg_pool2d(x, output_size):
    """Adaptive average pooling (PyTorch's ``adaptive_avg_pool2d``).

    Parameters
    ----------
    x : (C, H, W) or (N, C, H, W)
    output_size : int or (OH, OW); None entries keep the input size

    Returns
    -------
    y : (C, OH, OW) or (N, C, OH, OW)

    Notes
    -----
    Window sums from an integral image: ``S[i, j] = Σ_{i' < i, j' < j} x``,
    ``sum = S[e_h, e_w] − S[s_h, e_w] − S[e_h, s_w] + S[s_h, s_w]``, divided by
    the window's area.

    Examples
    --------
    >>> adaptive_avg_pool2d(np.arange(5.).reshape(1, 1, 5), (1, 3))[0]
    array([[0.5, 2. , 3.5]])
    """
    x = _image(x)
    n_h, n_w = x.shape[-2:]
    oh, ow = _output_size(output_size, (n_h, n_w))
    sh, eh = adaptive_windows(n_h, oh)
    sw, ew = adaptive_windows(n_w, ow)
    s = np.zeros(x.shape[:-2] + (n_h + 1, n_w + 1))
    np.cumsum(np.cumsum(x, axis=-2, dtype=np.float64), axis=-1, out=s[..., 1:, 1:])
    total = (
        s[..., eh[:, None], ew[None, :]]
        - s[..., sh[:, None], ew[None, :]]
        - s[..., eh[:, None], sw[None, :]]
        + s[..., sh[:, None], sw[None, :]]
    )
    return (total / ((eh - sh)[:, None] * (ew - sw)[None, :])).astype(x.dtype, copy=False)


def adaptive_avg_pool2d_reference(x, output_size):
    """Loops over output entries, windows from PyTorch's start_index / end_index written out."""
    x = np.asarray(x, dtype=np.float64)
    n_h, n_w = x.shape[-2:]
    oh, ow = _output_size(output_size, (n_h, n_w))
    y = np.zeros(x.shape[:-2] + (oh, ow))
    for p in range(oh):
        h0, h1 = (p * n_h) // oh, 1 + ((p + 1) * n_h - 1) // oh  # PyTorch: 1 + ((a+1)·c − 1)/b
        for q in range(ow):
            w0, w1 = (q * n_w) // ow, 1 + ((q + 1) * n_w - 1) // ow
            y[..., p, q] = x[..., h0:h1, w0:w1].sum(axis=(-2, -1)) / ((h1 - h0) * (w1 - w0))
    return y


def adaptive_avg_pool2d_jacobian(input_shape, output_size, *, dtype=None, max_bytes=None):
    """∂vec(y)/∂vec(x) of adaptive average pooling — fixed, independent of x.

    Parameters
    ----------
    input_shape : (C, H, W) or (N, C, H, W) (batched: block-diagonal over the N·C planes)
    output_size : int or (OH, OW), None entries keep the input size

    Returns
    -------
    csr_array of shape (C·OH·OW, C·H·W) (times N for a batch).

    Notes
    -----
    ``∂y[c,p,q]/∂x[c',i,j] = [c = c'] / (len_h(p)·len_w(q))`` for i, j in the
    windows of p, q, else 0. Written straight into CSR by
    :func:`jacobians.ops._separable.product_csr`.

    Examples
    --------
    >>> adaptive_avg_pool2d_jacobian((1, 1, 3), (1, 2)).toarray()
    array([[0.5, 0.5, 0. ],
           [0. , 0.5, 0.5]])
    """
    shape = as_shape(input_shape, "input_shape", (3, 4))
    if len(shape) not in (3, 4) or min(shape) < 1:
        raise GeometryError(f"input_shape: must be (C, H, W) or (N, C, H, W) of positive sizes (got {_short(input_shape)})")
    oh, ow = _output_size(output_size, shape[-2:])
    dt = resolve_dtype(dtype)
    # memory guard on exact ints before the window tables: nnz = planes · Σ window lengths (h) · Σ (w)
    taps = [sum(int(e) - int(b) for b, e in zip(*adaptive_windows(n, m))) for n, m in zip(shape[-2:], (oh, ow))]
    planes = exact_size(shape[:-2])
    check_budget("adaptive_avg_pool2d_jacobian", planes * taps[0] * taps[1], (planes * oh * ow, exact_size(shape)), dt,
                 max_bytes)
    return product_csr(
        _axis_table(shape[-2], oh),
        _axis_table(shape[-1], ow),
        exact_size(shape[:-2]),
        shape[-2:],
        dtype=resolve_dtype(dtype),
        what="adaptive_avg_pool2d_jacobian",
        max_bytes=max_bytes,
    )


def adaptive_avg_pool2d_vjp_separable(g, x, output_size):
    """∂L/∂x = A_hᵀ · g · A_w per plane (the two one-axis averaging matrices)."""
    x = _image(x)
    n_h, n_w = x.shape[-2:]
    oh, ow = _output_size(output_size, (n_h, n_w))
    g = check_grad(g, x.shape, (oh, ow))
    return separable_adjoint(g, x.shape, _axis_table(n_h, oh), _axis_table(n_w, ow))


def adaptive_avg_pool2d_vjp_scatter(g, x, output_size):
    """∂L/∂x by a difference array: +g/area at each window's corner, − past its ends, then two cumulative sums."""
    x = _image(x)
    n_h, n_w = x.shape[-2:]
    oh, ow = _output_size(output_size, (n_h, n_w))
    g = check_grad(g, x.shape, (oh, ow))
    sh, eh = adaptive_windows(n_h, oh)
    sw, ew = adaptive_windows(n_w, ow)
    share = g / ((eh - sh)[:, None] * (ew - sw)[None, :])
    planes = exact_size(x.shape[:-2])
    size = (n_h + 1) * (n_w + 1)
    base = (np.arange(planes) * size)[:, None]
    flat = share.reshape(planes, -1)
    diff = np.zeros(planes * size)
    for rows, cols, sign in ((sh, sw, 1), (sh, ew, -1), (eh, sw, -1), (eh, ew, 1)):  # the 4 corners
        target = (base + (rows[:, None] * (n_w + 1) + cols[None, :]).ravel()[None, :]).ravel()
        diff += sign * np.bincount(target, weights=flat.ravel(), minlength=diff.size)
    diff = diff.reshape(planes, n_h + 1, n_w + 1).cumsum(axis=1).cumsum(axis=2)
    return diff[:, :n_h, :n_w].reshape(x.shape)


def global_avg_pool2d(x):
    """Global average pooling: the mean of every plane, shape (C, 1, 1) or (N, C, 1, 1) (adaptive to 1×1).

    Examples
    --------
    >>> global_avg_pool2d(np.arange(4.).reshape(1, 2, 2))
    array([[[1.5]]])
    """
    x = _image(x)
    return x.mean(axis=(-2, -1), keepdims=True, dtype=np.float64).astype(x.dtype, copy=False)


def global_avg_pool2d_jacobian(input_shape, *, dtype=None, max_bytes=None):
    """∂vec(y)/∂vec(x) of global average pooling: row c holds 1/(H·W) on plane c — adaptive to (1, 1)."""
    return adaptive_avg_pool2d_jacobian(input_shape, 1, dtype=dtype, max_bytes=max_bytes)


def _global_vjp_broadcast(g, x):
    """∂L/∂x[c,i,j] = g[c] / (H·W): every entry of a plane gets the same share."""
    x = _image(x)
    g = check_grad(g, x.shape, (1, 1))
    return np.broadcast_to(g / (x.shape[-2] * x.shape[-1]), x.shape).copy()


# ---------------------------------------------------------------------------
# max
# ---------------------------------------------------------------------------
def _switches(x, output_size):
    """Winner (input row, input column) of every window, first maximum in row-major window order."""
    x = _image(x)
    if np.isnan(x).any():
        raise ValueError("x: contains NaN; max pooling has no switch (argmax) for NaN inputs")
    n_h, n_w = x.shape[-2:]
    oh, ow = _output_size(output_size, (n_h, n_w))
    hi, _, hl = _axis_table(n_h, oh)
    wi, _, wl = _axis_table(n_w, ow)
    mh, mw = hi.shape[1], wi.shape[1]
    win = x[..., hi[:, :, None, None], wi[None, None, :, :]]  # (..., OH, mh, OW, mw)
    valid = (np.arange(mh)[None, :] < hl[:, None])[:, :, None, None] & (np.arange(mw)[None, :] < wl[:, None])[None, None]
    win = np.where(valid, win, -np.inf)
    win = np.moveaxis(win, -3, -2).reshape(x.shape[:-2] + (oh, ow, mh * mw))  # (..., OH, OW, taps row-major)
    tap = win.argmax(axis=-1)  # numpy: the first maximum
    values = np.take_along_axis(win, tap[..., None], axis=-1)[..., 0]
    e, f = np.divmod(tap, mw)
    rows = hi[np.arange(oh)[:, None], e]
    cols = wi[np.arange(ow)[None, :], f]
    return x, values.astype(x.dtype, copy=False), rows, cols


def adaptive_max_pool2d(x, output_size, return_indices=False):
    """Adaptive max pooling (PyTorch's ``adaptive_max_pool2d``).

    Parameters
    ----------
    x : (C, H, W) or (N, C, H, W), no NaN
    output_size : int or (OH, OW); None entries keep the input size
    return_indices : also return the switches as PyTorch does: int64 ``i·W + j`` within each plane

    Returns
    -------
    y, or (y, indices), each (C, OH, OW) or (N, C, OH, OW)

    Examples
    --------
    >>> adaptive_max_pool2d(np.array([[[1., 3., 3., 0., 2.]]]), (1, 2), return_indices=True)
    (array([[[3., 3.]]]), array([[[1, 2]]]))
    """
    x, values, rows, cols = _switches(x, output_size)
    if not isinstance(return_indices, (bool, np.bool_)):
        raise TypeError(f"return_indices: must be True or False (got {_short(return_indices)})")
    if not return_indices:
        return values
    return values, (rows * x.shape[-1] + cols).astype(np.int64)


def adaptive_max_pool2d_reference(x, output_size, return_indices=False):
    """Loops: scan each window row by row, replace the running maximum only on a strictly larger value."""
    x = np.asarray(x, dtype=np.float64)
    n_h, n_w = x.shape[-2:]
    oh, ow = _output_size(output_size, (n_h, n_w))
    lead = x.shape[:-2]
    y = np.zeros(lead + (oh, ow))
    for plane in np.ndindex(*lead):
        for p in range(oh):
            h0, h1 = (p * n_h) // oh, 1 + ((p + 1) * n_h - 1) // oh
            for q in range(ow):
                w0, w1 = (q * n_w) // ow, 1 + ((q + 1) * n_w - 1) // ow
                best = -np.inf
                for i in range(h0, h1):
                    for j in range(w0, w1):
                        if x[plane + (i, j)] > best:
                            best = x[plane + (i, j)]
                y[plane + (p, q)] = best
    return y


def adaptive_max_pool2d_jacobian(x, output_size, *, dtype=None):
    """∂vec(y)/∂vec(x) of adaptive max pooling: one exact 1 per row, at the window's switch.

    Parameters
    ----------
    x : (C, H, W) or (N, C, H, W) (batched: block-diagonal over the N·C planes)

    Returns
    -------
    csr_array of shape (C·OH·OW, C·H·W), every stored value 1.

    Notes
    -----
    ``∂y[c,p,q]/∂x[c',i,j] = 1`` iff (c', i, j) is the first maximum of window
    (c, p, q) in row-major order, else 0 (a one-sided derivative at ties).

    Examples
    --------
    >>> adaptive_max_pool2d_jacobian(np.array([[[1., 3., 3., 0., 2.]]]), (1, 2)).toarray()
    array([[0., 1., 0., 0., 0.],
           [0., 0., 1., 0., 0.]])
    """
    x, _, rows, cols = _switches(x, output_size)
    dt = resolve_dtype(dtype, x)
    planes = exact_size(x.shape[:-2])
    n_h, n_w = x.shape[-2:]
    oh, ow = rows.shape[-2:]
    shape = (planes * oh * ow, planes * n_h * n_w)
    check_budget("adaptive_max_pool2d Jacobian", shape[0], shape, dt)
    idx = index_dtype_for(*shape)
    indices = np.empty((planes, oh, ow), dtype=idx)
    flat = rows.reshape(planes, oh, ow) * n_w + cols.reshape(planes, oh, ow)  # switch within its plane
    np.add((np.arange(planes, dtype=np.int64) * (n_h * n_w))[:, None, None], flat, out=indices, casting="same_kind")
    data = np.ones(shape[0], dtype=dt)
    return csr_from_arrays(data, indices.ravel(), np.arange(shape[0] + 1, dtype=idx), shape, what="adaptive_max_pool2d_jacobian")


def adaptive_max_pool2d_vjp_switches(g, x, output_size, return_indices=False):
    """∂L/∂x: every window's gradient routed to its switch (``np.bincount`` sums shared winners)."""
    x, _, rows, cols = _switches(x, output_size)
    g = check_grad(g, x.shape, rows.shape[-2:])
    planes = exact_size(x.shape[:-2])
    n_h, n_w = x.shape[-2:]
    target = (np.arange(planes)[:, None] * (n_h * n_w) + (rows * n_w + cols).reshape(planes, -1)).ravel()
    return np.bincount(target, weights=g.ravel(), minlength=planes * n_h * n_w).reshape(x.shape)


def adaptive_max_pool2d_vjp_onehot(g, x, output_size, return_indices=False):
    """∂L/∂x: one-hot windows (g at the maximum of each window, found by comparison) added back window by window.

    Finds each window's first maximum by its own scan (equality with the
    window max, first in row-major order) and adds the windows back with
    slices — a loop over output positions, independent of the switches' index arithmetic.
    """
    x = _image(x)
    n_h, n_w = x.shape[-2:]
    oh, ow = _output_size(output_size, (n_h, n_w))
    g = check_grad(g, x.shape, (oh, ow))
    sh, eh = adaptive_windows(n_h, oh)
    sw, ew = adaptive_windows(n_w, ow)
    out = np.zeros(x.shape)
    for p in range(oh):  # OH·OW windows, each vectorized over the planes
        for q in range(ow):
            win = x[..., sh[p] : eh[p], sw[q] : ew[q]]
            flat = win.reshape(win.shape[:-2] + (-1,))
            first = (flat == flat.max(axis=-1, keepdims=True)).argmax(axis=-1)
            onehot = np.zeros(flat.shape)
            np.put_along_axis(onehot, first[..., None], g[..., p, q][..., None], axis=-1)
            out[..., sh[p] : eh[p], sw[q] : ew[q]] += onehot.reshape(win.shape)
    return out


# ---------------------------------------------------------------------------
# registration
# ---------------------------------------------------------------------------
def _torch_adaptive_avg(x, output_size):
    import torch.nn.functional as F

    return F.adaptive_avg_pool2d(x, output_size)


def _torch_adaptive_max(x, output_size, return_indices=False):
    import torch.nn.functional as F

    return F.adaptive_max_pool2d(x, output_size)


def _torch_global_avg(x):
    import torch.nn.functional as F

    return F.adaptive_avg_pool2d(x, 1)


#: (input shape, output_size): the generic check's table (torch accepts 3-D (C, H, W) input as one image)
ADAPTIVE_CASES = [
    ((1, 5, 5), 3),  # overlapping windows of lengths 2, 3, 2
    ((2, 6, 4), (3, 2)),  # m divides n: ordinary pooling
    ((2, 7, 5), (4, None)),  # None keeps the width
    ((1, 3, 4), (5, 7)),  # output larger than input: windows of one entry, shared
    ((2, 3, 3), 1),  # global (small: sympy differentiates Max of the whole plane slowly)
    ((1, 1, 1), 1),
    ((2, 2, 5, 3), (2, 2)),  # batched
]


def _distinct(rng, shape):
    n = exact_size(shape)
    return ((rng.permutation(n) + 1) * 0.1 * rng.choice([-1.0, 1.0], size=n)).reshape(shape)


def _cases(kind):
    def make():
        rng = np.random.default_rng(20261203)
        out = []
        for shape, size in ADAPTIVE_CASES:
            x = _distinct(rng, shape) if kind == "max" else rng.standard_normal(shape)
            cid = f"x{'x'.join(map(str, shape))}-out{size}".replace(" ", "").replace("(", "").replace(")", "").replace(",", "_")
            out.append(Case({"x": x}, {"output_size": size}, cid))
        return out

    return make


def _global_cases():
    rng = np.random.default_rng(20261204)
    return [Case({"x": rng.standard_normal(s)}, {}, f"x{'x'.join(map(str, s))}") for s in ((1, 1, 1), (3, 4, 5), (2, 2, 3, 3))]


register(
    "adaptive_avg_pool2d",
    summary="adaptive average pooling: windows [⌊i·n/m⌋, ⌈(i+1)·n/m⌉), a fixed sparse I ⊗ A_h ⊗ A_w",
    forward=adaptive_avg_pool2d,
    jacobian={"x": lambda x, output_size: adaptive_avg_pool2d_jacobian(np.shape(x), output_size)},
    vjp={"x": {"separable": adaptive_avg_pool2d_vjp_separable, "scatter": adaptive_avg_pool2d_vjp_scatter}},
    cases=_cases("avg"),
    affine_in=("x",),
    torch_forward=_torch_adaptive_avg,
    reference=adaptive_avg_pool2d_reference,
    param_names=("output_size",),
    show=adaptive_pool_show("adaptive_avg_pool2d", "avg"),
)

register(
    "adaptive_max_pool2d",
    summary="adaptive max pooling: the 0/1 mask of its switches (first maximum, row-major)",
    forward=adaptive_max_pool2d,
    jacobian={"x": lambda x, output_size, return_indices=False: adaptive_max_pool2d_jacobian(x, output_size)},
    vjp={"x": {"switches": adaptive_max_pool2d_vjp_switches, "onehot": adaptive_max_pool2d_vjp_onehot}},
    cases=_cases("max"),
    structural=("x",),
    torch_forward=_torch_adaptive_max,
    reference=adaptive_max_pool2d_reference,
    param_names=("output_size",),
    show=adaptive_pool_show("adaptive_max_pool2d", "max"),
)

register(
    "global_avg_pool2d",
    summary="global average pooling: the mean of every channel plane (adaptive to 1×1)",
    forward=global_avg_pool2d,
    jacobian={"x": lambda x: global_avg_pool2d_jacobian(np.shape(x))},
    vjp={"x": {"broadcast": _global_vjp_broadcast}},
    cases=_global_cases,
    affine_in=("x",),
    torch_forward=_torch_global_avg,
    reference=lambda x: adaptive_avg_pool2d_reference(x, 1),
    show=global_pool_show("global_avg_pool2d"),
)
