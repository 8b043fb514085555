"""Upsampling / resizing: PyTorch's ``interpolate`` for 2-D images (nearest, nearest-exact, bilinear).

Shapes (canonical convention, C-order vec)::

    x   (C, H, W)    or batched (N, C, H, W)       (project batch rule: (C, H, W) is one image)
    y   (C, OH, OW)  or (N, C, OH, OW)

Every mode is linear in ``x`` and acts on each channel plane alike, with
weights that factor over the axes::

    y[c, p, q] = Σ_{i, j} u_p(i) · v_q(j) · x[c, i, j]

so the Jacobian is a fixed sparse matrix ``I_C ⊗ A_h ⊗ A_w`` (``A_h`` of
shape (OH, H), ``A_w`` (OW, W)): nearest rows hold one 1, bilinear rows up
to four weights ``u·v`` that sum to 1.

PyTorch's source-index rules (CPU kernels, torch 2.x), per axis of input
size ``n`` and output size ``m``
------------------------------------------------------------------------
Output size
    ``size`` given: that size. ``scale_factor`` given: ``m = ⌊n · scale_factor⌋``.
Scale ``r``
    ``1/scale_factor`` when ``scale_factor`` was given, else ``n/m``
    (bilinear with ``align_corners=True``: ``(n − 1)/(m − 1)``, 0 if m = 1,
    whatever was given).
``nearest``
    ``src = min(⌊dst · r⌋, n − 1)`` in **float32** arithmetic (PyTorch's
    ``nearest_idx``), except ``m = n`` (copy) and ``m = 2n`` (``dst >> 1``),
    which PyTorch special-cases — so ``scale_factor=1.3`` on a size-3 axis
    (m = 3) copies, though ``⌊dst/1.3⌋`` would repeat index 0.
``nearest-exact``
    ``src = min(⌊(dst + 0.5) · r⌋, n − 1)`` (float32 ``r``, no special cases).
``bilinear``
    ``src = r·dst`` (``align_corners=True``) or ``max(r·(dst + ½) − ½, 0)``;
    ``i0 = ⌊src⌋``, ``i1 = i0 + 1`` unless ``i0 = n − 1`` (then the two
    weights land on one entry), ``λ1 = src − i0``, ``λ0 = 1 − λ1``. An axis
    whose size does not change is copied (PyTorch's separable CPU kernel
    skips it), even when ``scale_factor`` ≠ 1.

Why an explicit check matters here: the backward of upsampling is where
frameworks disagree with their own forwards — pytorch#65200 (bilinear
``Upsample`` with ``scale_factor=1.0239…``: CPU and CUDA gradients
differed silently) and pytorch#97135 (a nearest backward that routed
gradient to an input row the forward never read). The explicit matrix is
checked against the forward (probing, finite differences) *and* against
``torch.func.jacrev`` of the backward, over the rules above — and that
found two more (torch 2.13.0, CPU). (1) Resizing a length-2 axis to 164
with ``mode="nearest"``, torch's forward reads input 1 at output 82 while
its backward routes that gradient to input 0 (the float32 rule gives
``⌊82 · float32(2/164)⌋ = 0``). (2) ``mode="bicubic"`` with a
``scale_factor`` ≠ 1 that leaves a size unchanged (3 · 1.3 → 3): the
forward interpolates with r = 1/1.3, the backward copies. Here forward,
Jacobian and VJPs all follow the documented rules — torch's backward in
(1), its forward in (2).

Faces: forward by gathers (≤ 4 per output), the explicit Jacobian written
straight into CSR (:func:`jacobians.ops._separable.product_csr`), VJPs by
scatter-add (``np.bincount``) and by the separable product ``A_hᵀ g A_w``,
a loop reference from the rules above.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..geometry import MAX_GEOMETRY_INT, GeometryError, as_items, as_pair, _short
from ..registry import Case, register
from ._show_resample import interpolate_show
from ._separable import axis_matrix, check_grad, product_csr, separable_adjoint
from ._sparse import as_float_array, check_dense, exact_size, resolve_dtype

__all__ = [
    "INTERPOLATE_MODES",
    "interpolate",
    "interpolate_reference",
    "interpolate_jacobian",
    "interpolate_axis_matrix",
    "interpolate_vjp_scatter",
    "interpolate_vjp_separable",
]

#: modes implemented, with the source-index rule of each
INTERPOLATE_MODES = {
    "nearest": "min(floor(dst·r), n−1) in float32; copy when m = n, dst >> 1 when m = 2n",
    "nearest-exact": "min(floor((dst + 0.5)·r), n−1), r in float32",
    "bilinear": "two taps per axis at src = r·dst (align_corners) or max(r·(dst+½)−½, 0)",
    "bicubic": "four taps per axis (Keys' cubic convolution, A = −0.75) at src = r·dst or r·(dst+½)−½, clamped reads",
}

#: PyTorch's cubic convolution coefficient (``get_cubic_upsample_coefficients``)
CUBIC_A = -0.75


# ---------------------------------------------------------------------------
# argument rules and per-axis tables
# ---------------------------------------------------------------------------
def _guard_plane(out_hw, name):
    """Memory guard (exact ints) before the per-axis tables and one output plane are allocated."""
    check_dense(f"{name}: interpolate output plane", out_hw[0] * out_hw[1] + out_hw[0] + out_hw[1], np.float64)


def _scale_pair(scale_factor):
    if isinstance(scale_factor, numbers.Real):
        items = (scale_factor, scale_factor)
    else:
        items = as_items(scale_factor, "scale_factor", "a number or a pair (height, width)")
    if len(items) != 2:
        raise GeometryError(f"scale_factor: must be a number or a pair (height, width) (got {_short(scale_factor)})")
    out = []
    for ax, v in zip(("height", "width"), items):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v <= 0:
            raise GeometryError(f"scale_factor: the {ax} factor must be a positive finite number (got {_short(v)})")
        out.append(float(v))
    return tuple(out)


def _resolve(in_hw, size, scale_factor, mode, align_corners, recompute_scale_factor=None, antialias=False):
    """(output (OH, OW), scale factors or (None, None), align flag), by PyTorch's rules.

    ``recompute_scale_factor=True`` keeps the output size ⌊n·scale_factor⌋ but
    computes the source indices from ``n/m`` as if ``size`` had been given.
    """
    if not isinstance(antialias, (bool, np.bool_)):
        raise TypeError(f"antialias: must be True or False (got {_short(antialias)})")
    if antialias:
        raise GeometryError("antialias: not supported (PyTorch's antialiased resize uses a wider, scale-dependent kernel)")
    if not isinstance(mode, str) or mode not in INTERPOLATE_MODES:
        raise GeometryError(f"mode: must be one of {', '.join(map(repr, INTERPOLATE_MODES))} (got {_short(mode)})")
    if align_corners is not None:
        if mode not in ("bilinear", "bicubic"):
            raise GeometryError(
                f"align_corners: can only be set with the interpolating modes (bilinear, bicubic), not mode={_short(mode)} "
                "(PyTorch's rule)"
            )
        if not isinstance(align_corners, (bool, np.bool_)):
            raise GeometryError(f"align_corners: must be True, False or None (got {_short(align_corners)})")
    if (size is None) == (scale_factor is None):
        raise GeometryError("size: give exactly one of size and scale_factor (PyTorch's rule)")
    if size is not None:
        if recompute_scale_factor:
            raise GeometryError(
                "recompute_scale_factor: only meaningful with scale_factor, not with an explicit size (PyTorch's rule)"
            )
        out_hw = as_pair(size, "size")
        _guard_plane(out_hw, "size")
        return out_hw, (None, None), bool(align_corners)
    scales = _scale_pair(scale_factor)
    out = []
    for ax, n, s in zip(("height", "width"), in_hw, scales):
        m = math.floor(float(n) * s)
        if m < 1:
            raise GeometryError(f"scale_factor: output {ax} floor({n}·{_short(s)}) = {m} must be positive")
        if m > MAX_GEOMETRY_INT:
            raise GeometryError(f"scale_factor: output {ax} floor({n}·{_short(s)}) = {m} must be at most 2**31 - 1")
        out.append(m)
    _guard_plane(out, "scale_factor")
    if recompute_scale_factor:
        scales = (None, None)
    return tuple(out), scales, bool(align_corners)


def _axis_table(n, m, scale, mode, align):
    """(index (m, k), weight (m, k), count (m,)) of one axis, k = 1 (nearest) or 2 (bilinear).

    Indices ascending within a row; unused slots repeat the first index with weight 0.
    """
    dst = np.arange(m, dtype=np.int64)
    if mode in ("nearest", "nearest-exact"):
        if mode == "nearest" and m == n:
            src = dst
        elif mode == "nearest" and m == 2 * n:
            src = dst >> 1
        else:
            r = np.float32(1.0 / scale) if scale is not None else np.float32(n) / np.float32(m)
            if mode == "nearest":
                prod = dst.astype(np.float32) * r  # float32 product, as floorf(dst * scale)
            else:
                prod = ((dst + 0.5) * np.float64(r)).astype(np.float32)  # double product, then floorf's float
            src = np.minimum(np.floor(prod).astype(np.int64), n - 1)
        return src[:, None], np.ones((m, 1)), np.ones(m, dtype=np.int64)
    if mode == "bicubic":
        return _cubic_table(n, m, scale, align)
    if m == n:  # PyTorch's separable kernel leaves an axis of unchanged size alone
        return np.stack([dst, dst], 1), np.stack([np.ones(m), np.zeros(m)], 1), np.ones(m, dtype=np.int64)
    if align:
        r = (n - 1) / (m - 1) if m > 1 else 0.0
        src = r * dst
    else:
        r = 1.0 / scale if scale is not None else n / m
        src = np.maximum(r * (dst + 0.5) - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n - 1)
    l1 = np.clip(src - i0, 0.0, 1.0)
    l0 = 1.0 - l1
    two = (i0 < n - 1) & (l1 != 0.0)  # a second, distinct tap with a nonzero weight
    index = np.stack([i0, np.where(two, i0 + 1, i0)], 1)
    weight = np.stack([np.where(two, l0, l0 + l1 * (i0 >= n - 1)), np.where(two, l1, 0.0)], 1)
    return index, weight, np.where(two, 2, 1).astype(np.int64)


def _cubic_table(n, m, scale, align):
    """Bicubic: taps i−1 … i+2 (reads clamped to [0, n−1]) with Keys' weights; equal indices merged, zeros dropped.

    No special case for m = n (PyTorch's bicubic kernel has none) and no clamp of ``src`` at 0.
    """
    dst = np.arange(m, dtype=np.float64)
    if align:
        src = dst * ((n - 1) / (m - 1) if m > 1 else 0.0)
    else:
        src = (1.0 / scale if scale is not None else n / m) * (dst + 0.5) - 0.5
    i = np.floor(src)
    t = src - i
    a = CUBIC_A

    def near(u):  # |u| ≤ 1
        return ((a + 2) * u - (a + 3)) * u * u + 1

    def far(u):  # 1 < |u| < 2
        return ((a * u - 5 * a) * u + 8 * a) * u - 4 * a

    weight = np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], 1)
    index = np.clip(i.astype(np.int64)[:, None] + np.arange(-1, 3)[None, :], 0, n - 1)
    # merge clamped duplicates (adjacent: indices are non-decreasing), then drop exact zeros
    slot = np.concatenate([np.zeros((m, 1), np.int64), np.cumsum(np.diff(index, axis=1) != 0, axis=1)], 1)
    merged_w = np.zeros((m, 4))
    merged_i = np.zeros((m, 4), dtype=np.int64)
    rows = np.repeat(np.arange(m), 4)
    np.add.at(merged_w, (rows, slot.ravel()), weight.ravel())
    merged_i[rows, slot.ravel()] = index.ravel()
    used = np.arange(4)[None, :] <= slot[:, -1:]
    keep = used & (merged_w != 0.0)
    count = keep.sum(axis=1)
    order = np.argsort(~keep, axis=1, kind="stable")  # kept slots first, in index order
    merged_i = np.take_along_axis(merged_i, order, 1)
    merged_w = np.take_along_axis(np.where(keep, merged_w, 0.0), order, 1)
    merged_i = np.where(np.arange(4)[None, :] < count[:, None], merged_i, merged_i[:, :1])
    return merged_i, merged_w, count.astype(np.int64)


def _tables(in_hw, size, scale_factor, mode, align_corners, recompute_scale_factor=None, antialias=False):
    out_hw, scales, align = _resolve(in_hw, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias)
    h = _axis_table(in_hw[0], out_hw[0], scales[0], mode, align)
    w = _axis_table(in_hw[1], out_hw[1], scales[1], mode, align)
    return out_hw, h, w


def _image(x, name="x"):
    arr = as_float_array(x, name)
    if arr.ndim not in (3, 4):
        raise GeometryError(f"{name}: must have shape (C, H, W) or (N, C, H, W) (got {arr.ndim}-D shape {arr.shape})")
    return arr


def _input_shape(input_shape):
    try:
        shape = tuple(int(v) for v in input_shape)
    except (TypeError, ValueError):
        raise GeometryError(f"input_shape: must be (C, H, W) or (N, C, H, W) (got {_short(input_shape)})") from None
    if len(shape) not in (3, 4) or min(shape) < 1:
        raise GeometryError(f"input_shape: must be (C, H, W) or (N, C, H, W) of positive sizes (got {_short(input_shape)})")
    return shape


# ---------------------------------------------------------------------------
# forward, reference
# ---------------------------------------------------------------------------
def interpolate(
    x, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None, antialias=False
):
    """Resize the last two axes like ``torch.nn.functional.interpolate`` (2-D modes).

    Parameters
    ----------
    x : (C, H, W) or (N, C, H, W)
    size : int or (OH, OW), or None
    scale_factor : float or (sh, sw), or None — exactly one of size and scale_factor
    mode : "nearest", "nearest-exact", "bilinear" or "bicubic"
    align_corners : None, or bool for "bilinear" / "bicubic" (None means False)
    recompute_scale_factor : None/False, or True: keep m = ⌊n·scale_factor⌋ but take the
        source indices from r = n/m, as if ``size`` had been given (PyTorch's meaning)
    antialias : only False (PyTorch's antialiased resize is not implemented; True is refused)

    Returns
    -------
    y : (C, OH, OW) or (N, C, OH, OW), float32 for float32 input.

    Notes
    -----
    ``y[c,p,q] = Σ_{e,f} u_p[e] · v_q[f] · x[c, i_p[e], j_q[f]]`` with the
    per-axis indices and weights of PyTorch's rules (module docstring).

    Examples
    --------
    >>> interpolate(np.array([[[1., 2.], [3., 4.]]]), scale_factor=2)[0]
    array([[1., 1., 2., 2.],
           [1., 1., 2., 2.],
           [3., 3., 4., 4.],
           [3., 3., 4., 4.]])
    >>> interpolate(np.array([[[0., 1.]]]), size=(1, 3), mode="bilinear", align_corners=True)[0]
    array([[0. , 0.5, 1. ]])
    """
    x = _image(x)
    _, (hi, hv, _), (wi, wv, _) = _tables(
        x.shape[-2:], size, scale_factor, mode, align_corners, recompute_scale_factor, antialias
    )
    y = 0.0
    for e in range(hi.shape[1]):
        for f in range(wi.shape[1]):
            y = y + (hv[:, e][:, None] * wv[:, f][None, :]) * x[..., hi[:, e][:, None], wi[:, f][None, :]]
    return np.asarray(y, dtype=x.dtype)


def interpolate_reference(
    x, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None, antialias=False
):
    """Loops over output entries, each source index computed by the scalar rule (the check's reference)."""
    x = np.asarray(x, dtype=np.float64)
    (oh, ow), scales, align = _resolve(
        x.shape[-2:], size, scale_factor, mode, align_corners, recompute_scale_factor, antialias
    )

    def taps(dst, n, m, scale):
        if mode in ("nearest", "nearest-exact"):
            if mode == "nearest" and m == n:
                return [(dst, 1.0)]
            if mode == "nearest" and m == 2 * n:
                return [(dst // 2, 1.0)]
            r = np.float32(1.0 / scale) if scale is not None else np.float32(n) / np.float32(m)
            prod = np.float32(dst) * r if mode == "nearest" else np.float32((dst + 0.5) * float(r))
            return [(min(int(math.floor(prod)), n - 1), 1.0)]
        if mode == "bicubic":
            src = dst * ((n - 1) / (m - 1) if m > 1 else 0.0) if align else (
                (1.0 / scale if scale is not None else n / m) * (dst + 0.5) - 0.5
            )
            i0 = math.floor(src)
            t, a = src - i0, CUBIC_A
            w = [
                ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
                ((a + 2) * t - (a + 3)) * t * t + 1,
                ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
                ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a,
            ]
            return [(min(max(i0 - 1 + k, 0), n - 1), w[k]) for k in range(4)]
        if m == n:
            return [(dst, 1.0)]
        if align:
            src = dst * ((n - 1) / (m - 1) if m > 1 else 0.0)
        else:
            src = max((1.0 / scale if scale is not None else n / m) * (dst + 0.5) - 0.5, 0.0)
        i0 = int(math.floor(src))
        lam = src - i0
        return [(i0, 1.0 - lam), (min(i0 + 1, n - 1), lam)]

    n_h, n_w = x.shape[-2:]
    y = np.zeros(x.shape[:-2] + (oh, ow))
    for p in range(oh):
        for q in range(ow):
            for i, u in taps(p, n_h, oh, scales[0]):
                for j, v in taps(q, n_w, ow, scales[1]):
                    y[..., p, q] += u * v * x[..., i, j]
    return y


# ---------------------------------------------------------------------------
# explicit Jacobian
# ---------------------------------------------------------------------------
def interpolate_axis_matrix(n, m, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None):
    """The (m, n) matrix of one axis (A_h or A_w) as CSR: ``size=m`` or ``scale_factor`` as in :func:`interpolate`.

    ``interpolate_jacobian`` is ``I ⊗ A_h ⊗ A_w``; this is the factor, for inspection and the separable VJP.
    With ``scale_factor`` given, ``m`` is ignored (m = ⌊n·scale_factor⌋).
    """
    if scale_factor is not None:
        (_, m), scales, _ = _resolve((1, n), None, (1.0, float(scale_factor)), mode, align_corners, recompute_scale_factor)
    else:
        (_, m), scales, _ = _resolve((1, n), (1, m), None, mode, align_corners, recompute_scale_factor)
    return axis_matrix(_axis_table(int(n), int(m), scales[1], mode, bool(align_corners)), n)


def interpolate_jacobian(
    input_shape,
    size=None,
    scale_factor=None,
    mode="nearest",
    align_corners=None,
    recompute_scale_factor=None,
    antialias=False,
    *,
    dtype=None,
    max_bytes=None,
):
    """∂vec(y)/∂vec(x) of :func:`interpolate` — a fixed sparse matrix, independent of x.

    Parameters
    ----------
    input_shape : (C, H, W) or (N, C, H, W) (batched: block-diagonal over the N·C planes)
    size, scale_factor, mode, align_corners : as :func:`interpolate`
    dtype : float64 (default) or float32
    max_bytes : refuse (OperatorTooLargeError) when the CSR would exceed it

    Returns
    -------
    csr_array of shape (C·OH·OW, C·H·W) (times N for a batch).

    Notes
    -----
    ``∂y[c,p,q]/∂x[c',i,j] = [c = c'] · u_p(i) · v_q(j)``. Nearest: exactly
    one 1 per row. Bilinear: up to four entries per row, which sum to 1
    (up to rounding of λ0 = 1 − λ1); taps of weight 0 (``src`` on an input
    index, e.g. align_corners at matching corners) are not stored.

    Examples
    --------
    The 16×4 Jacobian of 2×2 → 4×4 nearest upsampling, rows 0–3 (output row 0):

    >>> interpolate_jacobian((1, 2, 2), scale_factor=2).toarray()[:4]
    array([[1., 0., 0., 0.],
           [1., 0., 0., 0.],
           [0., 1., 0., 0.],
           [0., 1., 0., 0.]])
    """
    shape = _input_shape(input_shape)
    dt = resolve_dtype(dtype)
    _, h, w = _tables(shape[-2:], size, scale_factor, mode, align_corners, recompute_scale_factor, antialias)
    return product_csr(
        h, w, exact_size(shape[:-2]), shape[-2:], dtype=dt, what="interpolate_jacobian", max_bytes=max_bytes
    )


# ---------------------------------------------------------------------------
# VJPs
# ---------------------------------------------------------------------------
def interpolate_vjp_scatter(
    g, x, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None, antialias=False
):
    """∂L/∂x: every output's gradient scatter-added onto its ≤ 4 sources, weighted (``np.bincount``)."""
    x = _image(x)
    (oh, ow), (hi, hv, _), (wi, wv, _) = _tables(
        x.shape[-2:], size, scale_factor, mode, align_corners, recompute_scale_factor, antialias
    )
    g = check_grad(g, x.shape, (oh, ow))
    n_h, n_w = x.shape[-2:]
    planes = exact_size(x.shape[:-2])
    g2 = g.reshape(planes, oh * ow)
    base = (np.arange(planes) * (n_h * n_w))[:, None]
    out = np.zeros(planes * n_h * n_w)
    for e in range(hi.shape[1]):
        for f in range(wi.shape[1]):
            src = (hi[:, e][:, None] * n_w + wi[:, f][None, :]).ravel()
            weight = (hv[:, e][:, None] * wv[:, f][None, :]).ravel()
            out += np.bincount((base + src[None, :]).ravel(), weights=(g2 * weight).ravel(), minlength=out.size)
    return out.reshape(x.shape)


def interpolate_vjp_separable(
    g, x, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None, antialias=False
):
    """∂L/∂x = A_hᵀ · g · A_w per plane, with the two one-axis matrices (never the full Jacobian)."""
    x = _image(x)
    (oh, ow), h, w = _tables(
        x.shape[-2:], size, scale_factor, mode, align_corners, recompute_scale_factor, antialias
    )
    return separable_adjoint(check_grad(g, x.shape, (oh, ow)), x.shape, h, w)


# ---------------------------------------------------------------------------
# registration
# ---------------------------------------------------------------------------
_PARAMS = ("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor")


def _jac_x(x, **p):
    return interpolate_jacobian(np.shape(x), **p)


def _torch_interpolate(
    x, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None, antialias=False
):
    import torch.nn.functional as F

    xb = x[None] if x.dim() == 3 else x
    y = F.interpolate(
        xb,
        size=size,
        scale_factor=scale_factor,
        mode=mode,
        align_corners=align_corners,
        recompute_scale_factor=recompute_scale_factor,
        antialias=antialias,
    )
    return y[0] if x.dim() == 3 else y


#: (input shape, size, scale_factor, mode, align_corners): the generic check's table
INTERPOLATE_CASES = [
    ((1, 2, 2), None, 2, "nearest", None),  # the 16×4 example
    ((2, 3, 4), (5, 7), None, "nearest", None),
    ((1, 3, 3), None, 1.3, "nearest", None),  # m = n: PyTorch copies
    ((2, 4, 3), None, (0.6, 2.5), "nearest", None),  # down and up
    ((1, 3, 5), (7, 2), None, "nearest-exact", None),
    ((2, 3, 3), None, (1.3, 2.1), "nearest-exact", None),
    ((1, 2, 2), None, 2, "bilinear", False),
    ((2, 3, 4), (5, 7), None, "bilinear", True),
    ((1, 4, 7), None, 1.0239041660002521, "bilinear", False),  # pytorch#65200's scale: both axes copied
    ((2, 5, 4), None, (0.5, 1.75), "bilinear", None),
    ((1, 3, 4), (1, 6), None, "bilinear", True),  # one output row with align_corners
    ((1, 1, 3), (4, 2), None, "bilinear", False),
    ((2, 2, 3, 2), (3, 5), None, "bilinear", False),  # batched
]
INTERPOLATE_CASES += [
    ((1, 3, 4), (5, 7), None, "bicubic", False),
    ((2, 4, 3), None, (1.3, 0.7), "bicubic", True),
    # (m = n with scale_factor ≠ 1: torch's bicubic backward copies while its forward interpolates —
    # not a registered case, since the generic check compares with jacrev; see tests/test_upsample.py)
    ((1, 2, 1), (5, 3), None, "bicubic", False),  # clamped reads merge
]
#: recompute_scale_factor=True: sources from n/m although scale_factor was given
RECOMPUTE_CASES = [((1, 3, 4), None, (1.7, 2.3), "bilinear", False), ((1, 3, 4), None, (2.6, 1.3), "nearest", None)]


def interpolate_cases():
    rng = np.random.default_rng(20261202)
    out = []
    for shape, size, sf, mode, ac in INTERPOLATE_CASES:
        params = dict(size=size, scale_factor=sf, mode=mode, align_corners=ac)
        cid = f"x{'x'.join(map(str, shape))}-{mode}-size{size}-sf{sf}-ac{ac}"
        for a, b in ((" ", ""), ("(", ""), (")", ""), (",", "_")):
            cid = cid.replace(a, b)
        out.append(Case({"x": rng.standard_normal(shape)}, params, cid))
    for shape, size, sf, mode, ac in RECOMPUTE_CASES:
        params = dict(size=size, scale_factor=sf, mode=mode, align_corners=ac, recompute_scale_factor=True)
        cid = f"x{'x'.join(map(str, shape))}-{mode}-sf{sf}-recompute"
        for a, b in ((" ", ""), ("(", ""), (")", ""), (",", "_")):
            cid = cid.replace(a, b)
        out.append(Case({"x": rng.standard_normal(shape)}, params, cid))
    return out


register(
    "interpolate",
    summary="upsampling / resizing (nearest, nearest-exact, bilinear, bicubic): a fixed sparse I ⊗ A_h ⊗ A_w",
    forward=interpolate,
    jacobian={"x": _jac_x},
    vjp={"x": {"scatter": interpolate_vjp_scatter, "separable": interpolate_vjp_separable}},
    cases=interpolate_cases,
    affine_in=("x",),
    torch_forward=_torch_interpolate,
    reference=interpolate_reference,
    param_names=_PARAMS,
    show=interpolate_show(INTERPOLATE_MODES),
)
