"""2-D convolution (cross-correlation, as PyTorch and all five notes use it).

Shapes (canonical convention, PyTorch memory order, C-order vec)::

    x       (C_in, H, W)            or batched (N, C_in, H, W) for forward / VJPs
    weight  (C_out, C_in/groups, kh, kw)
    bias    (C_out,)
    y       (C_out, OH, OW)         OH = floor((H + pt + pb - dh(kh-1) - 1)/sh) + 1

Forward, with ``g(o) = o // (C_out/groups)`` the group of output channel o and
``xp`` the zero-padded input::

    y[o, i, j] = b[o] + Σ_{c, a, b'} w[o, c, a, b'] · xp[g(o)·C_in/groups + c, i·sh + a·dh, j·sw + b'·dw]

Faces kept side by side below:

* forward — sliding windows (``numpy.lib.stride_tricks.sliding_window_view``)
  contracted with ``einsum``;
* ``im2col`` / ``col2im`` — φ(I) of notes 000 and 003 and its adjoint (fold);
* explicit Jacobians — ``conv2d_input_jacobian`` (M_F^filter of note 004
  stacked over output channels), ``conv2d_weight_jacobian`` (block diagonal
  over output channels, each block M_X^im of note 004),
  ``conv2d_bias_jacobian``;
* VJPs by two routes that never touch the explicit matrices: the im2col
  route (note 003's φ(I)ᵀ ∂L/∂O_f and ∂L/∂O_f F_fᵀ, then col2im) and the
  rot180 route (note 002 / 004: the full correlation of the stride-dilated,
  padded upstream gradient with the 180°-rotated, channel-swapped kernel —
  which also fills note 002's §3.2.3 TODO for stride > 1).
"""
from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..geometry import Conv2dGeometry, ConvNdGeometry, GeometryError, Pool2dGeometry, as_pair, as_padding, as_shape
from ..registry import Case, register
from . import _references
from ._sparse import (
    Pattern,
    as_float_array,
    assemble,
    block_diag_repeat,
    check_budget,
    csr_from_arrays,
    exact_size,
    index_dtype_for,
    is_symbolic,
    check_dense,
    resolve_dtype,
    split_batch_shape,
    torch_input,
    vstack_csr,
)
from .convnd import _COPY_CHUNK, _tap_runs, col2im_nd, im2col_nd, pad_nd, sliding_windows_nd

__all__ = [
    "conv2d",
    "im2col",
    "col2im",
    "conv2d_input_jacobian",
    "conv2d_weight_jacobian",
    "conv2d_bias_jacobian",
    "conv2d_input_pattern",
    "conv2d_weight_pattern",
    "im2col_pattern",
    "conv2d_vjp_input_im2col",
    "conv2d_vjp_weight_im2col",
    "conv2d_vjp_input_rot180",
    "conv2d_vjp_weight_rot180",
    "conv2d_vjp_bias",
]


# ---------------------------------------------------------------------------
# geometry helpers
# ---------------------------------------------------------------------------
def _batched(x, name="x"):
    """(C, H, W) -> (1, C, H, W) and a flag to undo it; (N, C, H, W) passes."""
    arr = np.asarray(x)
    if arr.ndim == 3:
        return arr[None], True
    if arr.ndim == 4:
        return arr, False
    raise GeometryError(f"{name}: must have shape (C, H, W) or (N, C, H, W) (got {arr.ndim}-D shape {arr.shape})")


def _geometry(x_shape, weight_shape, stride, padding, dilation, groups) -> Conv2dGeometry:
    return Conv2dGeometry.from_shapes(tuple(x_shape)[-3:], weight_shape, stride, padding, dilation, groups)


def _nd(geom) -> ConvNdGeometry:
    """The N-d core's geometry of a Conv2dGeometry or Pool2dGeometry."""
    return ConvNdGeometry.from_2d(geom.as_conv() if isinstance(geom, Pool2dGeometry) else geom)


def _check_window_memory(what, n, geom: Conv2dGeometry, dtype):
    """Guard (exact ints) the dense temporaries of a window forward: padded input, window copies, output."""
    hp, wp = geom.padded_hw
    taps = geom.kernel[0] * geom.kernel[1] * geom.in_per_group
    per_sample = geom.in_channels * hp * wp + geom.out_channels * exact_size(geom.out_hw) * (1 + taps)
    check_dense(f"{what} temporaries", n * per_sample, dtype)


def _pad(x, geom, pad_value=0.0):
    """Pad the last two axes of ``x`` by the geometry's (top, bottom, left, right) with ``pad_value``."""
    return pad_nd(x, _nd(geom).padding, pad_value)


def sliding_windows(x, geom, pad_value=0.0):
    """View (..., OH, OW, kh, kw) of the padded input: the window of each output position.

    ``x`` has the spatial axes last ((C, H, W) or (N, C, H, W)); ``geom`` is a
    Conv2dGeometry or Pool2dGeometry. The 2-D front door of the N-d core's
    :func:`~jacobians.ops.convnd.sliding_windows_nd`.
    """
    return sliding_windows_nd(x, _nd(geom), pad_value)



# ---------------------------------------------------------------------------
# forward
# ---------------------------------------------------------------------------
def conv2d(x=None, weight=None, bias=None, stride=1, padding=0, dilation=1, groups=1, *, input=None):
    """Cross-correlation of ``x`` with ``weight`` (PyTorch's ``conv2d``).

    Parameters
    ----------
    x : array (C_in, H, W) or (N, C_in, H, W) (keyword ``input=`` as in PyTorch)
    weight : array (C_out, C_in/groups, kh, kw)
    bias : array (C_out,) or None
    stride, dilation : int or (h, w)
    padding : int, (ph, pw), (top, bottom, left, right), ``"valid"`` (0) or
        ``"same"`` (stride 1; odd extra padding at the bottom/right, as PyTorch); zeros.
    groups : int

    float32 inputs give a float32 output; anything else float64.

    Returns
    -------
    y : (C_out, OH, OW), or (N, C_out, OH, OW) for a batched ``x``.

    Notes
    -----
    ``y[o,i,j] = b[o] + Σ_{c,a,b'} w[o,c,a,b'] xp[g·C_in/G + c, i·sh + a·dh, j·sw + b'·dw]``.

    Examples
    --------
    >>> conv2d(np.arange(9.).reshape(1, 3, 3), np.ones((1, 1, 2, 2)))[0]
    array([[ 8., 12.],
           [20., 24.]])
    """
    x = torch_input(x, input)
    if weight is None:
        raise TypeError("weight: missing (the (C_out, C_in/groups, kh, kw) kernel)")
    x4, squeeze = _batched(as_float_array(x, "x"))
    weight = as_float_array(weight, "weight")
    if weight.ndim != 4:
        raise GeometryError(f"weight: must have shape (C_out, C_in/groups, kh, kw) (got {weight.ndim}-D shape {weight.shape})")
    geom = _geometry(x4.shape, weight.shape, stride, padding, dilation, groups)
    if bias is not None:
        bias = as_float_array(bias, "bias")
    dtype = resolve_dtype(None, x4, weight, bias)
    _check_window_memory("conv2d", x4.shape[0], geom, dtype)
    weight = weight.astype(dtype, copy=False)
    win = sliding_windows(x4.astype(dtype, copy=False), geom)
    n = x4.shape[0]
    oh, ow = geom.out_hw
    G, cg, og = geom.groups, geom.in_per_group, geom.out_per_group
    kh, kw = geom.kernel
    win = win.reshape(n, G, cg, oh, ow, kh, kw)
    w = weight.reshape(G, og, cg, kh, kw)
    y = np.einsum("ngcijab,gocab->ngoij", win, w, optimize=dtype is not object).reshape(n, G * og, oh, ow)
    if bias is not None:
        if bias.shape != (geom.out_channels,):
            raise GeometryError(f"bias: must have shape ({geom.out_channels},) = (C_out,) (got {bias.shape})")
        y = y + bias.astype(dtype, copy=False)[None, :, None, None]
    return y[0] if squeeze else y


def im2col(x, kernel_hw, stride=1, padding=0, dilation=1):
    """φ(I): one row per output position, one column per (channel, tap).

    Parameters
    ----------
    x : (C, H, W) or (N, C, H, W)
    kernel_hw : int or (kh, kw)

    Returns
    -------
    (OH·OW, C·kh·kw), or (N, OH·OW, C·kh·kw). Row ``i·OW + j`` (row-major over
    output positions), column ``c·kh·kw + a·kw + b`` (C order of (c, a, b)),
    entry ``xp[c, i·sh + a·dh, j·sw + b·dw]`` (0 where the tap reads padding).
    This is note 003's φ(I) in canonical order; note 000 orders patches
    column-major (see :mod:`jacobians.conventions`).
    """
    x4, squeeze = _batched(as_float_array(x, "x"))
    kh, kw = as_pair(kernel_hw, "kernel_hw")
    geom = _geometry(x4.shape, (1, x4.shape[1], kh, kw), stride, padding, dilation, 1)
    _check_window_memory("im2col", x4.shape[0], geom, x4.dtype)
    cols = im2col_nd(x4, (kh, kw), geom.stride, geom.padding, geom.dilation)
    return cols[0] if squeeze else cols


def col2im(cols, input_shape, kernel_hw, stride=1, padding=0, dilation=1):
    """The adjoint of :func:`im2col` ("fold"): scatter-add columns back onto the image.

    Parameters
    ----------
    cols : (OH·OW, C·kh·kw) or (N, OH·OW, C·kh·kw)
    input_shape : (C, H, W)

    Returns
    -------
    (C, H, W) or (N, C, H, W). Each image entry receives the sum of every
    column entry that copied it (note 000 eq. 6.3: a pixel read by several
    patches gets the sum of their gradients); taps on padding are dropped.
    """
    shape = as_shape(input_shape, "input_shape", 3)
    kh, kw = as_pair(kernel_hw, "kernel_hw")
    geom = _geometry(shape, (1, shape[0], kh, kw), stride, padding, dilation, 1)
    cols = as_float_array(cols, "cols")
    n = cols.shape[0] if cols.ndim == 3 else 1
    hp, wp = geom.padded_hw
    check_dense("col2im padded image", n * shape[0] * hp * wp, cols.dtype if cols.dtype != object else np.float64)
    return col2im_nd(cols, shape, (kh, kw), geom.stride, geom.padding, geom.dilation)


# ---------------------------------------------------------------------------
# explicit Jacobians (index arithmetic -> CSR)
# ---------------------------------------------------------------------------
def _window_grid(geom: Conv2dGeometry):
    """Flat input offsets (within one channel group) and validity of every (i, j, c, a, b).

    Shapes (OH, OW, C_in/groups, kh, kw). Offsets of taps on padding are
    meaningless and masked out by ``valid``.
    """
    h_idx, h_ok = geom.tap_offsets(0)  # (OH, kh)
    w_idx, w_ok = geom.tap_offsets(1)  # (OW, kw)
    hw = geom.height * geom.width
    ch = np.arange(geom.in_per_group)
    offset = (
        ch[None, None, :, None, None] * hw
        + h_idx[:, None, None, :, None] * geom.width
        + w_idx[None, :, None, None, :]
    )
    valid = h_ok[:, None, None, :, None] & w_ok[None, :, None, None, :]
    return offset, np.broadcast_to(valid, offset.shape)


def _rows_from_mask(valid_rows: np.ndarray, idx_dtype) -> np.ndarray:
    counts = valid_rows.reshape(valid_rows.shape[0], -1).sum(axis=1)
    indptr = np.zeros(counts.size + 1, dtype=idx_dtype)
    np.cumsum(counts, out=indptr[1:])
    return indptr


def _expected_nnz(geom: Conv2dGeometry) -> int:
    """Exact nnz of either conv Jacobian, in closed form per axis (O(OH + OW) memory, exact Python int).

    Call it after the row count passed the memory guard (that bounds OH and OW).
    """
    (kh, kw), (sh, sw), (dh, dw) = geom.kernel, geom.stride, geom.dilation
    pt, _, pl, _ = geom.padding
    oh, ow = geom.out_hw
    n_h = _tap_runs(oh, kh, geom.height, sh, pt, dh)[0]
    n_w = _tap_runs(ow, kw, geom.width, sw, pl, dw)[0]
    return int(geom.out_channels) * int(geom.in_per_group) * int(n_h.sum()) * int(n_w.sum())


def _guard(what, geom: Conv2dGeometry, n_cols: int, dtype, max_bytes, batch: int = 1, nnz=None) -> None:
    """The memory guard, first on the rows alone (bounds every O(OH), O(OW) array), then on the exact nnz."""
    shape = (batch * exact_size(geom.output_shape), batch * int(n_cols))
    check_budget(what, 0, shape, dtype, max_bytes)
    check_budget(what, batch * (_expected_nnz(geom) if nnz is None else nnz(geom)), shape, dtype, max_bytes)


def conv2d_input_pattern(geom: Conv2dGeometry) -> Pattern:
    """CSR pattern of ∂vec(y)/∂vec(x); ``source`` indexes vec(weight)."""
    oh, ow = geom.out_hw
    n_rows, n_cols = geom.out_channels * oh * ow, geom.in_channels * geom.height * geom.width
    k = geom.in_per_group * geom.kernel[0] * geom.kernel[1]
    idx = index_dtype_for(_expected_nnz(geom), n_rows, n_cols, geom.out_channels * k)
    offset, valid = _window_grid(geom)
    o = np.arange(geom.out_channels)
    group_base = (o // geom.out_per_group) * geom.in_per_group * geom.height * geom.width
    # (C_out, OH, OW, cg, kh, kw): column of every candidate entry
    cols = group_base[:, None, None, None, None, None] + offset[None]
    taps = np.arange(k).reshape(geom.in_per_group, *geom.kernel)
    src = o[:, None, None, None, None, None] * k + taps[None, None, None]
    full_valid = np.broadcast_to(valid[None], cols.shape)
    indptr = _rows_from_mask(full_valid.reshape(n_rows, -1), idx)
    indices = cols[full_valid].astype(idx, copy=False)
    source = np.broadcast_to(src, cols.shape)[full_valid].astype(idx, copy=False)
    return Pattern(indptr, indices, source, (n_rows, n_cols))


def conv2d_weight_pattern(geom: Conv2dGeometry) -> Pattern:
    """CSR pattern of ∂vec(y)/∂vec(weight); ``source`` indexes vec(x)."""
    oh, ow = geom.out_hw
    k = geom.in_per_group * geom.kernel[0] * geom.kernel[1]
    n_rows, n_cols = geom.out_channels * oh * ow, geom.out_channels * k
    idx = index_dtype_for(_expected_nnz(geom), n_rows, n_cols, geom.in_channels * geom.height * geom.width)
    offset, valid = _window_grid(geom)
    o = np.arange(geom.out_channels)
    group_base = (o // geom.out_per_group) * geom.in_per_group * geom.height * geom.width
    src = group_base[:, None, None, None, None, None] + offset[None]
    taps = np.arange(k).reshape(geom.in_per_group, *geom.kernel)
    cols = o[:, None, None, None, None, None] * k + taps[None, None, None]
    full_valid = np.broadcast_to(valid[None], src.shape)
    indptr = _rows_from_mask(full_valid.reshape(n_rows, -1), idx)
    indices = np.broadcast_to(cols, src.shape)[full_valid].astype(idx, copy=False)
    source = src[full_valid].astype(idx, copy=False)
    return Pattern(indptr, indices, source, (n_rows, n_cols))


def im2col_pattern(geom: Conv2dGeometry) -> Pattern:
    """0/1 pattern of ∂vec(φ(I))/∂vec(I) (rows in C order of φ's (OH·OW, C·kh·kw)).

    ``geom`` must have groups = 1. Rows of taps that read padding are empty.
    """
    oh, ow = geom.out_hw
    k = geom.in_channels * geom.kernel[0] * geom.kernel[1]
    n_rows, n_cols = oh * ow * k, geom.in_channels * geom.height * geom.width
    idx = index_dtype_for(n_rows, n_cols)
    offset, valid = _window_grid(geom)
    indptr = np.zeros(n_rows + 1, dtype=idx)
    np.cumsum(valid.ravel(), out=indptr[1:])
    return Pattern(indptr, offset[valid].astype(idx, copy=False), None, (n_rows, n_cols))


# ---------------------------------------------------------------------------
# explicit Jacobians, float fast path: CSR arrays written directly
# ---------------------------------------------------------------------------
# The Pattern path above enumerates every candidate (output, tap) pair, masks
# out the taps on padding and gathers values through ``source`` — general (it
# serves sympy object arrays) but it materialises several arrays of the full
# candidate size. The fast path below never does: the valid taps of an output
# position form a contiguous range [lo, hi) per spatial axis, so each row's
# nonzero count is separable, cg·n_h(i)·n_w(j), the exact nnz is known before
# anything is allocated, and data / indices / indptr are allocated once and
# filled by broadcasting writes into views. Output positions sharing the same
# tap ranges form contiguous runs (interior rows, and a few border runs), and
# within one run every row holds the same values (input Jacobian) or the same
# column pattern (weight Jacobian), so a row is written once and replicated.
# The loops below go over these runs — a handful per axis — and over output
# channels and groups, never over entries; they write memory in order, so each
# page is filled while it is still in cache after the kernel zeroed it (writing
# the border runs in separate passes cost ~1.5× time on padded layers). The
# range bounds are computed in closed form, independently of
# ``Conv2dGeometry.tap_offsets`` which the Pattern path uses, so the two paths
# can check each other.

# _COPY_CHUNK and _tap_runs (the per-axis tap ranges) live in the N-d core, jacobians.ops.convnd.


class _CsrFrame:
    """Row structure shared by both conv Jacobians (rows (o, i, j) in C order).

    Row (o, i, j) holds cg·n_h(i)·n_w(j) entries ordered (c, a, b) — already
    column-sorted for both Jacobians. Counts do not depend on o, so every
    output channel's rows occupy one contiguous block of ``per_channel`` entries.
    """

    def __init__(self, geom: Conv2dGeometry, n_cols: int):
        oh, ow = geom.out_hw
        (kh, kw), (sh, sw), (dh, dw) = geom.kernel, geom.stride, geom.dilation
        pt, _, pl, _ = geom.padding
        self.geom = geom
        self.cg = geom.in_per_group
        self.n_h, self.runs_h = _tap_runs(oh, kh, geom.height, sh, pt, dh)
        self.n_w, self.runs_w = _tap_runs(ow, kw, geom.width, sw, pl, dw)
        self.sum_w = int(self.n_w.sum())
        self.per_channel = self.cg * int(self.n_h.sum()) * self.sum_w
        self.nnz = geom.out_channels * self.per_channel
        self.shape = (geom.out_channels * oh * ow, n_cols)
        self.index_dtype = index_dtype_for(self.nnz, *self.shape)
        # entries before row i (within one channel block), and before column j within a row i
        self.before_h = np.concatenate(([0], np.cumsum(self.n_h)[:-1])) * self.cg * self.sum_w
        self.before_w = np.concatenate(([0], np.cumsum(self.n_w)[:-1])) * self.cg

    def indptr(self) -> np.ndarray:
        per_row = (self.cg * self.n_h[:, None] * self.n_w[None, :]).ravel()
        c_out = self.geom.out_channels
        indptr = np.empty(c_out * per_row.size + 1, dtype=self.index_dtype)
        indptr[0] = 0
        within = np.cumsum(per_row).astype(self.index_dtype)
        channel_start = np.arange(c_out, dtype=self.index_dtype) * self.index_dtype.type(self.per_channel)
        np.add(channel_start[:, None], within[None, :], out=indptr[1:].reshape(c_out, per_row.size))
        return indptr

    def blocks(self):
        """(i0, i1, a_lo, a_hi, j0, j1, b_lo, b_hi, region) per pair of runs with entries.

        ``region(arr)`` is the writable view of ``arr`` (nnz,) holding that block's
        entries, shaped (C_out, i1 − i0, j1 − j0, cg·(a_hi − a_lo)·(b_hi − b_lo)).
        """
        c_out, cg = self.geom.out_channels, self.cg
        for i0, i1, a_lo, a_hi in self.runs_h:
            nh = a_hi - a_lo
            row_len = cg * nh * self.sum_w  # entries of all rows (i, ·) for one i of this run
            start = int(self.before_h[i0])
            for j0, j1, b_lo, b_hi in self.runs_w:
                length = cg * nh * (b_hi - b_lo)
                if length == 0:
                    continue
                skip = int(self.before_w[j0]) * nh

                def region(arr, i0=i0, i1=i1, j0=j0, j1=j1, start=start, row_len=row_len, skip=skip, length=length):
                    per_channel = arr.reshape(c_out, self.per_channel, copy=False)
                    rows = per_channel[:, start : start + (i1 - i0) * row_len].reshape(c_out, i1 - i0, row_len, copy=False)
                    return rows[:, :, skip : skip + (j1 - j0) * length].reshape(
                        c_out, i1 - i0, j1 - j0, length, copy=False
                    )

                yield i0, i1, a_lo, a_hi, j0, j1, b_lo, b_hi, region


def _conv2d_input_csr(weight: np.ndarray, geom: Conv2dGeometry, dtype):
    """Fast float path of :func:`conv2d_input_jacobian` (same matrix as the Pattern path).

    Within one run of output rows i (equal vertical tap range) every row (o, i, ·)
    holds the same values, and its columns are those of row i0 shifted by
    (i − i0)·sh·W. So per run and output channel the first row is written
    segment by segment (one segment per horizontal run) and then replicated
    down the run with one broadcasting copy / add — all writes go through
    memory in order, each page filled right after the kernel faults it in.
    """
    height, width = geom.height, geom.width
    frame = _CsrFrame(geom, geom.in_channels * height * width)
    (sh, sw), (dh, dw) = geom.stride, geom.dilation
    pt, _, pl, _ = geom.padding
    idx = frame.index_dtype
    cg, c_out = geom.in_per_group, geom.out_channels
    data = np.empty(frame.nnz, dtype=dtype)
    indices = np.empty(frame.nnz, dtype=idx)
    weight = np.ascontiguousarray(weight, dtype=dtype)
    data_ch = data.reshape(c_out, frame.per_channel, copy=False)
    idx_ch = indices.reshape(c_out, frame.per_channel, copy=False)
    # column = group start + [(i·sh − pt)·W + j·sw − pl]  (per row)  +  [c·H·W + a·dh·W + b·dw]  (per tap)
    group_start = (np.arange(c_out, dtype=idx) // geom.out_per_group) * idx.type(cg * height * width)
    # the per-row and per-tap parts are computed in int64 (a part alone may leave the int32
    # range, e.g. with a huge stride); their sums are valid columns, stored in the index dtype
    col_part = np.arange(geom.out_hw[1], dtype=np.int64) * sw - pl
    chan_part = np.arange(cg, dtype=np.int64) * (height * width)
    for i0, i1, a_lo, a_hi in frame.runs_h:
        nh, n_i = a_hi - a_lo, i1 - i0
        row_len = cg * nh * frame.sum_w  # entries of the rows (o, i, ·) for one i of this run
        if row_len == 0:
            continue
        start = int(frame.before_h[i0])
        segments = []  # (offset in the row, j0, j1, entries per row, b_lo, b_hi)
        first_cols = np.empty(row_len, dtype=idx)  # columns of row i0 for group 0
        for j0, j1, b_lo, b_hi in frame.runs_w:
            length = cg * nh * (b_hi - b_lo)
            if length == 0:
                continue
            offset = int(frame.before_w[j0]) * nh
            taps = (
                chan_part[:, None, None]
                + (np.arange(a_lo, a_hi, dtype=np.int64) * (dh * width))[None, :, None]
                + (np.arange(b_lo, b_hi, dtype=np.int64) * dw)[None, None, :]
            ).ravel()
            row_start = col_part[j0:j1, None] + (i0 * sh - pt) * width
            np.add(row_start, taps, out=first_cols[offset : offset + (j1 - j0) * length].reshape(j1 - j0, length),
                   casting="unsafe")
            segments.append((offset, j0, j1, length, b_lo, b_hi))
        shift = (np.arange(n_i, dtype=np.int64) * (sh * width)).astype(idx)[:, None]
        for o in range(c_out):
            rows_data = data_ch[o, start : start + n_i * row_len].reshape(n_i, row_len, copy=False)
            rows_idx = idx_ch[o, start : start + n_i * row_len].reshape(n_i, row_len, copy=False)
            for offset, j0, j1, length, b_lo, b_hi in segments:
                # every row of the segment holds w[o, :, a_lo:a_hi, b_lo:b_hi]
                np.copyto(
                    rows_data[0, offset : offset + (j1 - j0) * length].reshape(j1 - j0, length, copy=False),
                    weight[o, :, a_lo:a_hi, b_lo:b_hi].reshape(1, length),
                )
            if n_i > 1:
                np.copyto(rows_data[1:], rows_data[:1])  # disjoint rows: no temporary
            np.add(first_cols + group_start[o], shift, out=rows_idx)
    return csr_from_arrays(data, indices, frame.indptr(), frame.shape, what="conv2d_input_jacobian")


def _conv2d_weight_csr(x: np.ndarray, geom: Conv2dGeometry, dtype):
    """Fast float path of :func:`conv2d_weight_jacobian` (same matrix as the Pattern path).

    Values: a strided window of x per pair of runs, written for the first
    output channel of each group, then copied in large chunks to the group's
    other channels (their rows are identical). Columns: o·K + the tap pattern,
    the same for every row of a run of output rows i, written channel by
    channel in memory order.
    """
    height, width = geom.height, geom.width
    kh, kw = geom.kernel
    cg, c_out, og, n_groups = geom.in_per_group, geom.out_channels, geom.out_per_group, geom.groups
    k = cg * kh * kw
    frame = _CsrFrame(geom, c_out * k)
    (sh, sw), (dh, dw) = geom.stride, geom.dilation
    pt, _, pl, _ = geom.padding
    idx = frame.index_dtype
    data = np.empty(frame.nnz, dtype=dtype)
    indices = np.empty(frame.nnz, dtype=idx)
    x = np.ascontiguousarray(x, dtype=dtype)
    item = x.itemsize
    flat_x = x.reshape(-1)
    idx_ch = indices.reshape(c_out, frame.per_channel, copy=False)
    # values x[g·cg + c, i·sh − pt + a·dh, j·sw − pl + b·dw] of the first channel of each group:
    # every index is valid by construction of the runs, so a strided view of x reads them
    for i0, i1, a_lo, a_hi, j0, j1, b_lo, b_hi, region in frame.blocks():
        nh, nw = a_hi - a_lo, b_hi - b_lo
        target = region(data)
        p0, q0 = i0 * sh - pt + a_lo * dh, j0 * sw - pl + b_lo * dw
        for grp in range(n_groups):
            start = (grp * cg * height + p0) * width + q0
            window = as_strided(
                flat_x[start:],
                shape=(i1 - i0, j1 - j0, cg, nh, nw),
                strides=(sh * width * item, sw * item, height * width * item, dh * width * item, dw * item),
                writeable=False,
            )
            np.copyto(target[grp * og].reshape(i1 - i0, j1 - j0, cg, nh, nw, copy=False), window)
    # column pattern of one row per run of output rows (the same for every row of the run)
    runs = []
    for i0, i1, a_lo, a_hi in frame.runs_h:
        nh = a_hi - a_lo
        row_len = cg * nh * frame.sum_w
        if row_len == 0:
            continue
        first_cols = np.empty(row_len, dtype=idx)
        for j0, j1, b_lo, b_hi in frame.runs_w:
            length = cg * nh * (b_hi - b_lo)
            if length == 0:
                continue
            taps = (
                (np.arange(cg, dtype=idx) * idx.type(kh * kw))[:, None, None]
                + (np.arange(a_lo, a_hi, dtype=idx) * kw)[None, :, None]
                + np.arange(b_lo, b_hi, dtype=idx)[None, None, :]
            ).ravel()
            offset = int(frame.before_w[j0]) * nh
            first_cols[offset : offset + (j1 - j0) * length].reshape(j1 - j0, length, copy=False)[...] = taps
        runs.append((int(frame.before_h[i0]), i1 - i0, row_len, first_cols))
    for o in range(c_out):
        for start, n_i, row_len, first_cols in runs:
            rows_idx = idx_ch[o, start : start + n_i * row_len].reshape(n_i, row_len, copy=False)
            np.add(first_cols, idx.type(o * k), out=rows_idx)
    if og > 1:
        # large chunks: the source chunk stays in cache while it is copied og − 1 times,
        # and each destination page is filled soon after it is faulted in
        blocks = data.reshape(n_groups, og, frame.per_channel, copy=False)
        for s in range(0, frame.per_channel, _COPY_CHUNK):
            e = min(s + _COPY_CHUNK, frame.per_channel)
            np.copyto(blocks[:, 1:, s:e], blocks[:, :1, s:e])
    return csr_from_arrays(data, indices, frame.indptr(), frame.shape, what="conv2d_weight_jacobian")


def conv2d_input_jacobian(weight, input_shape, stride=1, padding=0, dilation=1, groups=1, *, dtype=None, max_bytes=None):
    """∂vec(y)/∂vec(x): M_F^filter of every output channel, stacked.

    Parameters
    ----------
    weight : (C_out, C_in/groups, kh, kw) floats, or an object array of sympy symbols
    input_shape : (C_in, H, W), or (N, C_in, H, W) for a batch
    padding : as :func:`conv2d` (``"same"`` / ``"valid"`` included)
    dtype : value dtype (float32 for float32 weights, else float64; ints refused)
    max_bytes : refuse (OperatorTooLargeError) when the CSR would exceed it
        (default: 3/4 of physical memory)

    Returns
    -------
    scipy.sparse.csr_array of shape (C_out·OH·OW, C_in·H·W) — or a
    sympy.ImmutableSparseMatrix for symbolic weights. For a batch, the
    block-diagonal (N·C_out·OH·OW, N·C_in·H·W) Jacobian of the batched call
    (one block per sample), i.e. ``torch.func.jacrev`` of the batched
    conv2d reshaped to 2-D.

    Notes
    -----
    Row ``(o, i, j)``, column ``(c, p, q)`` (C order):
    ``∂y[o,i,j]/∂x[c,p,q] = w[o, c − g(o)·C_in/G, a, b]`` when
    ``p = i·sh − pt + a·dh`` and ``q = j·sw − pl + b·dw`` for taps (a, b), else 0.
    At stride 1 without padding each output channel's block is note 004's
    doubly block-Toeplitz M_F^filter (16×144 for 6×6×4 input, 3×3×4 filter).

    Float weights take the direct path (CSR arrays allocated once with the exact
    nnz and filled by broadcasting writes; peak memory ≈ the result); sympy
    object arrays take the Pattern path (:func:`conv2d_input_pattern` +
    ``assemble``). Indices are int32 unless nnz, rows or columns exceed 2³¹ − 1.

    Examples
    --------
    >>> conv2d_input_jacobian(np.arange(1., 5.).reshape(1, 1, 2, 2), (1, 2, 3)).toarray()
    array([[1., 2., 0., 3., 4., 0.],
           [0., 1., 2., 0., 3., 4.]])
    """
    weight = as_float_array(weight, "weight", dtype)
    if weight.ndim != 4:
        raise GeometryError(f"weight: must have shape (C_out, C_in/groups, kh, kw) (got {weight.ndim}-D shape {weight.shape})")
    dt = weight.dtype if not is_symbolic(weight) else np.dtype(np.float64)
    n, sample_shape = split_batch_shape(input_shape, "input_shape", "(C_in, H, W) or (N, C_in, H, W)")
    geom = _geometry(sample_shape, weight.shape, stride, padding, dilation, groups)
    _guard("conv2d input Jacobian", geom, exact_size(geom.input_shape), dt, max_bytes, n or 1)
    if is_symbolic(weight):
        if n is not None:
            raise TypeError("weight: a batched input_shape needs numeric weights (symbolic Jacobians are per sample)")
        return assemble(conv2d_input_pattern(geom), weight, dtype=dt, what="conv2d_input_jacobian")
    block = _conv2d_input_csr(weight, geom, dt)
    return block if n is None else block_diag_repeat(block, n, what="conv2d input Jacobian", max_bytes=max_bytes)


def conv2d_weight_jacobian(x, weight_shape, stride=1, padding=0, dilation=1, groups=1, *, dtype=None, max_bytes=None):
    """∂vec(y)/∂vec(weight): block diagonal over output channels, each block M_X^im.

    Parameters
    ----------
    x : (C_in, H, W) floats or sympy object array; or a batch (N, C_in, H, W)
    weight_shape : (C_out, C_in/groups, kh, kw)
    dtype : value dtype (float32 for float32 x, else float64; ints refused)

    Returns
    -------
    csr_array of shape (C_out·OH·OW, C_out·(C_in/groups)·kh·kw); for a batch
    the per-sample blocks stacked vertically, (N·C_out·OH·OW, C_out·(C_in/groups)·kh·kw)
    (the weight is shared by the samples).

    Notes
    -----
    ``∂y[o,i,j]/∂w[o',c,a,b] = [o = o'] · xp[g(o)·C_in/G + c, i·sh + a·dh, j·sw + b·dw]``.
    Each diagonal block is φ(I) of the group's input channels — note 004's
    M_X^im (16×9 for a 6×6 image and a 3×3 filter; 16×36 for 6×6×4 and
    3×3×4, whose column blocks M_X1 … M_X4 are the four planes).

    Float inputs take the direct path (see :func:`conv2d_input_jacobian`);
    sympy object arrays the Pattern path (:func:`conv2d_weight_pattern`).

    Examples
    --------
    >>> conv2d_weight_jacobian(np.arange(6.).reshape(1, 2, 3), (1, 1, 2, 2)).toarray()
    array([[0., 1., 3., 4.],
           [1., 2., 4., 5.]])
    """
    x = as_float_array(x, "x", dtype)
    if x.ndim not in (3, 4):
        raise GeometryError(f"x: must have shape (C_in, H, W) or (N, C_in, H, W) (got {x.ndim}-D shape {x.shape})")
    dt = x.dtype if not is_symbolic(x) else np.dtype(np.float64)
    geom = _geometry(x.shape[-3:], weight_shape, stride, padding, dilation, groups)
    n = x.shape[0] if x.ndim == 4 else 1
    shape = (n * exact_size(geom.output_shape), exact_size(geom.weight_shape))
    check_budget("conv2d weight Jacobian", 0, shape, dt, max_bytes)
    check_budget("conv2d weight Jacobian", n * _expected_nnz(geom), shape, dt, max_bytes)
    if is_symbolic(x):
        if x.ndim == 4:
            raise TypeError("x: a batch needs numeric values (symbolic Jacobians are per sample)")
        return assemble(conv2d_weight_pattern(geom), x, dtype=dt, what="conv2d_weight_jacobian")
    if x.ndim == 3:
        return _conv2d_weight_csr(x, geom, dt)
    blocks = [_conv2d_weight_csr(x[i], geom, dt) for i in range(n)]  # one block per sample, not per entry
    return vstack_csr(blocks, what="conv2d weight Jacobian", max_bytes=max_bytes)


def conv2d_bias_jacobian(out_shape, *, dtype=None, max_bytes=None):
    """∂vec(y)/∂b for ``y`` of shape (C_out, OH, OW): row (o, i, j) has a 1 in column o.

    Parameters
    ----------
    out_shape : (C_out, OH, OW), or (N, C_out, OH, OW) for a batch
    dtype : float32 or float64 (default); ints refused

    Returns
    -------
    0/1 csr_array of shape (C_out·OH·OW, C_out); for a batch the N per-sample
    blocks stacked vertically, (N·C_out·OH·OW, C_out).

    Examples
    --------
    >>> conv2d_bias_jacobian((2, 1, 2)).toarray()
    array([[1., 0.],
           [1., 0.],
           [0., 1.],
           [0., 1.]])
    """
    dt = resolve_dtype(dtype)
    batch, (c_out, oh, ow) = split_batch_shape(out_shape, "out_shape", "(C_out, OH, OW) or (N, C_out, OH, OW)")
    batch = batch or 1
    n = batch * c_out * oh * ow
    check_budget("conv2d bias Jacobian", n, (n, c_out), dt, max_bytes)
    idx = index_dtype_for(n, c_out)
    indices = np.empty(n, dtype=idx)
    indices.reshape(batch, c_out, oh * ow)[...] = np.arange(c_out, dtype=idx)[None, :, None]
    return csr_from_arrays(np.ones(n, dtype=dt), indices, np.arange(n + 1, dtype=idx), (n, c_out),
                           what="conv2d_bias_jacobian")


def im2col_jacobian(input_shape, kernel_hw, stride=1, padding=0, dilation=1, *, dtype=None, max_bytes=None):
    """∂vec(φ(I))/∂vec(I): exact 0/1 selection, shape (OH·OW·C·kh·kw, C·H·W).

    Parameters
    ----------
    input_shape : (C, H, W), or (N, C, H, W) for a batch (block-diagonal result,
        the Jacobian of the batched :func:`im2col`'s (N, OH·OW, C·kh·kw) output)
    kernel_hw : int or (kh, kw)
    dtype : float32 or float64 (default); ints refused

    Notes
    -----
    Row ``(i·OW + j)·C·kh·kw + (c·kh + a)·kw + b`` has a single 1 in column
    ``(c·H + i·sh − pt + a·dh)·W + j·sw − pl + b·dw`` when that tap lies on the
    input, and is empty when it reads padding.

    Examples
    --------
    >>> im2col_jacobian((1, 1, 3), (1, 2)).toarray()
    array([[1., 0., 0.],
           [0., 1., 0.],
           [0., 1., 0.],
           [0., 0., 1.]])
    """
    dt = resolve_dtype(dtype)
    n, (c, h, w) = split_batch_shape(input_shape, "input_shape", "(C, H, W) or (N, C, H, W)")
    kh, kw = as_pair(kernel_hw, "kernel_hw")
    geom = _geometry((c, h, w), (1, c, kh, kw), stride, padding, dilation, 1)
    rows = exact_size(geom.out_hw) * c * kh * kw
    check_budget("im2col Jacobian", 0, ((n or 1) * rows, (n or 1) * c * h * w), dt, max_bytes)
    check_budget("im2col Jacobian", (n or 1) * _expected_nnz(geom), ((n or 1) * rows, (n or 1) * c * h * w), dt, max_bytes)
    block = _im2col_csr(geom, dt)
    return block if n is None else block_diag_repeat(block, n, what="im2col Jacobian", max_bytes=max_bytes)


#: candidate taps per chunk of output rows in :func:`_im2col_csr` (int64 columns, mask, gather: ~1.2 MB)
_IM2COL_CHUNK = 1 << 16


def _im2col_csr(geom: Conv2dGeometry, dtype):
    """∂vec(φ(I))/∂vec(I) written straight into CSR, a chunk of output rows at a time.

    The exact nnz is ``_expected_nnz`` (closed form); per chunk of output rows i the
    candidate columns (i, j, c, a, b) and their validity are computed from
    ``q = i·sh − pt + a·dh`` and ``r = j·sw − pl + b·dw`` directly (not from
    ``Conv2dGeometry.tap_offsets``, which :func:`im2col_pattern` — the other route —
    uses), and the valid ones are written into ``indices``; ``indptr`` is the running
    count. The candidate grid of the whole layer (8 bytes a row plus a mask: 1.5× the
    CSR) never exists.
    """
    oh, ow = geom.out_hw
    (kh, kw), (sh, sw), (dh, dw) = geom.kernel, geom.stride, geom.dilation
    pt, _, pl, _ = geom.padding
    c, h, w = geom.in_channels, geom.height, geom.width
    per_row = c * kh * kw * ow  # candidate rows of φ per output row i
    n_rows, nnz = oh * per_row, _expected_nnz(geom)
    idx = index_dtype_for(nnz, n_rows, c * h * w)
    indptr = np.empty(n_rows + 1, dtype=idx)
    indptr[0] = 0
    indices = np.empty(nnz, dtype=idx)
    r = np.arange(ow, dtype=np.int64)[:, None] * sw - pl + np.arange(kw, dtype=np.int64)[None, :] * dw  # (OW, kw)
    r_ok = (r >= 0) & (r < w)
    chan = (np.arange(c, dtype=np.int64) * (h * w))[None, :, None, None]
    step = max(1, _IM2COL_CHUNK // max(per_row, 1))
    pos = 0
    for i0 in range(0, oh, step):
        i1 = min(oh, i0 + step)
        q = np.arange(i0, i1, dtype=np.int64)[:, None] * sh - pt + np.arange(kh, dtype=np.int64)[None, :] * dh  # (m, kh)
        q_ok = (q >= 0) & (q < h)
        # (m, OW, C, kh, kw) in φ's row order
        cols = (chan[None] + (q * w)[:, None, None, :, None] + r[None, :, None, None, :])
        ok = np.broadcast_to(q_ok[:, None, None, :, None] & r_ok[None, :, None, None, :], cols.shape)
        ends = indptr[1 + i0 * per_row : 1 + i1 * per_row]
        np.cumsum(ok.reshape(-1), dtype=idx, out=ends)
        ends += idx.type(pos)
        taken = cols[ok]
        indices[pos : pos + taken.size] = taken
        pos += taken.size
    assert pos == nnz, f"im2col Jacobian: wrote {pos} entries, the closed form says {nnz}"
    return csr_from_arrays(np.ones(nnz, dtype=dtype), indices, indptr, (n_rows, c * h * w), what="im2col_jacobian")


# ---------------------------------------------------------------------------
# VJP route 1: im2col / col2im (notes 000, 003)
# ---------------------------------------------------------------------------
def _grad4(g, geom: Conv2dGeometry, n: int):
    g = np.asarray(g)
    g4 = g[None] if g.ndim == 3 else g
    want = (n, *geom.output_shape)
    if g4.shape != want:
        raise GeometryError(f"g: must have the output's shape {want[1:] if g.ndim == 3 else want} (got {g.shape})")
    return g4


def conv2d_vjp_weight_im2col(g, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """∂L/∂w by note 003's ∂L/∂F_f = φ(I)ᵀ ∂L/∂O_f, per group, summed over the batch."""
    x4, _ = _batched(x)
    weight = np.asarray(weight)
    geom = _geometry(x4.shape, weight.shape, stride, padding, dilation, groups)
    g4 = _grad4(g, geom, x4.shape[0])
    oh, ow = geom.out_hw
    cg, og = geom.in_per_group, geom.out_per_group
    out = np.empty(weight.shape, dtype=np.float64)
    for grp in range(geom.groups):  # loop over groups (a handful), not entries
        phi = im2col(x4[:, grp * cg : (grp + 1) * cg], geom.kernel, geom.stride, geom.padding, geom.dilation)
        o_f = g4[:, grp * og : (grp + 1) * og].reshape(x4.shape[0], og, oh * ow).transpose(0, 2, 1)  # (N, OH·OW, og)
        grad_f = np.einsum("nrk,nro->ko", phi, o_f)  # φ(I)ᵀ ∂L/∂O_f, summed over n
        out[grp * og : (grp + 1) * og] = grad_f.T.reshape(og, cg, *geom.kernel)
    return out


def conv2d_vjp_input_im2col(g, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """∂L/∂x = col2im(∂L/∂O_f F_fᵀ) per group (note 003, then note 000's fold)."""
    x4, squeeze = _batched(x)
    weight = np.asarray(weight)
    geom = _geometry(x4.shape, weight.shape, stride, padding, dilation, groups)
    g4 = _grad4(g, geom, x4.shape[0])
    n = x4.shape[0]
    oh, ow = geom.out_hw
    cg, og = geom.in_per_group, geom.out_per_group
    out = np.empty(x4.shape, dtype=np.float64)
    for grp in range(geom.groups):
        o_f = g4[:, grp * og : (grp + 1) * og].reshape(n, og, oh * ow).transpose(0, 2, 1)  # (N, OH·OW, og)
        f_f = weight[grp * og : (grp + 1) * og].reshape(og, -1).T  # (cg·kh·kw, og)
        d_phi = o_f @ f_f.T  # ∂L/∂φ(I) = ∂L/∂O_f F_fᵀ
        out[:, grp * cg : (grp + 1) * cg] = col2im(
            d_phi, (cg, geom.height, geom.width), geom.kernel, geom.stride, geom.padding, geom.dilation
        )
    return out[0] if squeeze else out


# ---------------------------------------------------------------------------
# VJP route 2: rot180 "full" correlation (notes 002, 004)
# ---------------------------------------------------------------------------
def _dilate(g4, stride):
    """Insert stride − 1 zeros between rows and between columns (note 002 §3.2.1)."""
    sh, sw = stride
    n, c, h, w = g4.shape
    out = np.zeros((n, c, (h - 1) * sh + 1, (w - 1) * sw + 1), dtype=g4.dtype)
    out[:, :, ::sh, ::sw] = g4
    return out


def conv2d_vjp_input_rot180(g, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """∂L/∂x as a full correlation with the rotated kernel.

    Steps: dilate ``g`` by the stride (s − 1 zeros between entries); pad it by
    d·(k − 1) on every side plus, at the bottom/right, the rows/columns of the
    padded input the forward never reached (when H + pads − d(k − 1) − 1 is
    not a multiple of s); correlate with ``rot180(w)`` whose in/out channels
    are swapped (per group) and whose taps keep dilation d; crop the forward
    padding. With s = 1, d = 1 and no padding this is note 002 §3.1.3 / note
    004's "zero-padded G convolved with F rotated by 180°"; for s > 1 it is
    the step note 002 §3.2.3 leaves as TODO.
    """
    x4, squeeze = _batched(x)
    weight = np.asarray(weight, dtype=np.float64)
    geom = _geometry(x4.shape, weight.shape, stride, padding, dilation, groups)
    g4 = _grad4(g, geom, x4.shape[0]).astype(np.float64)
    (kh, kw), (dh, dw) = geom.kernel, geom.dilation
    oh, ow = geom.out_hw
    hp, wp = geom.padded_hw
    # unreached rows/columns at the bottom/right of the padded input
    rest_h = hp - 1 - ((oh - 1) * geom.stride[0] + dh * (kh - 1))
    rest_w = wp - 1 - ((ow - 1) * geom.stride[1] + dw * (kw - 1))
    gd = _dilate(g4, geom.stride)
    gdp = np.pad(gd, ((0, 0), (0, 0), (dh * (kh - 1), dh * (kh - 1) + rest_h), (dw * (kw - 1), dw * (kw - 1) + rest_w)))
    G, cg, og = geom.groups, geom.in_per_group, geom.out_per_group
    # ŵ[g·cg + c, o', a, b] = w[g·og + o', c, kh−1−a, kw−1−b]
    w_rot = weight[:, :, ::-1, ::-1].reshape(G, og, cg, kh, kw).transpose(0, 2, 1, 3, 4).reshape(G * cg, og, kh, kw)
    full = conv2d(gdp, w_rot, stride=1, padding=0, dilation=geom.dilation, groups=G)  # (N, C_in, Hp, Wp)
    assert full.shape[2:] == (hp, wp), f"rot180 route: full correlation has {full.shape[2:]}, expected {(hp, wp)}"
    pt, _, pl, _ = geom.padding
    out = full[:, :, pt : pt + geom.height, pl : pl + geom.width]
    return out[0] if squeeze else out


def conv2d_vjp_weight_rot180(g, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """∂L/∂w as a correlation of the input with the stride-dilated upstream gradient.

    Batch and channel axes are swapped (note 002 §3.1.1 / §3.2.1): the padded
    input becomes a batch of C_in maps with N channels, the upstream gradient
    a kernel with C_out outputs and N inputs whose taps are s apart (the
    inserted zeros), correlated with stride d (the forward dilation).
    """
    x4, _ = _batched(x)
    weight = np.asarray(weight)
    geom = _geometry(x4.shape, weight.shape, stride, padding, dilation, groups)
    g4 = _grad4(g, geom, x4.shape[0]).astype(np.float64)
    xp = _pad(x4.astype(np.float64), geom)
    kh, kw = geom.kernel
    cg, og = geom.in_per_group, geom.out_per_group
    out = np.empty(weight.shape, dtype=np.float64)
    for grp in range(geom.groups):
        xs = xp[:, grp * cg : (grp + 1) * cg].transpose(1, 0, 2, 3)  # (cg, N, Hp, Wp)
        gs = g4[:, grp * og : (grp + 1) * og].transpose(1, 0, 2, 3)  # (og, N, OH, OW)
        corr = conv2d(xs, gs, stride=geom.dilation, padding=0, dilation=geom.stride)  # (cg, og, ≥kh, ≥kw)
        out[grp * og : (grp + 1) * og] = corr[:, :, :kh, :kw].transpose(1, 0, 2, 3)
    return out


def conv2d_vjp_bias(g, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """∂L/∂b[o] = Σ over batch and positions of g[·, o, ·, ·] (note 002 §3.1.2)."""
    g = np.asarray(g, dtype=np.float64)
    return g.sum(axis=(-2, -1)) if g.ndim == 3 else g.sum(axis=(0, 2, 3))


# ---------------------------------------------------------------------------
# registration
# ---------------------------------------------------------------------------
_CONV_PARAMS = ("stride", "padding", "dilation", "groups")


def _conv_params(p):
    return {k: p[k] for k in _CONV_PARAMS if k in p}


def _jac_x(x, weight, bias=None, **p):
    return conv2d_input_jacobian(weight, np.shape(x), **_conv_params(p))


def _jac_w(x, weight, bias=None, **p):
    return conv2d_weight_jacobian(x, np.shape(weight), **_conv_params(p))


def _jac_b(x, weight, bias=None, **p):
    # the forward's defaults, as conv2d has them (the reference routes call this with only the parameters given)
    params = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, **_conv_params(p)}
    geom = _geometry(np.shape(x), np.shape(weight), **params)
    return conv2d_bias_jacobian(geom.output_shape)


def _torch_conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    import torch.nn.functional as F

    pt, pb, pl, pr = as_padding(padding)
    xp = F.pad(x[None], (pl, pr, pt, pb))
    return F.conv2d(xp, weight, bias, stride=stride, padding=0, dilation=dilation, groups=groups)[0]


#: (C_in, H, W, C_out, kh, kw, stride, padding, dilation, groups): the generic check's table.
CONV_GEOMETRIES = [
    # note 004's exact geometries
    (1, 6, 6, 1, 3, 3, 1, 0, 1, 1),
    (4, 6, 6, 1, 3, 3, 1, 0, 1, 1),
    (4, 6, 6, 3, 3, 3, 1, 0, 1, 1),
    (3, 4, 4, 3, 3, 3, 1, 0, 1, 1),
    # note 001 Appendix A: 3×4 input, 2×2 kernel, padding 1, stride (1, 2)
    (1, 3, 4, 1, 2, 2, (1, 2), 1, 1, 1),
    # degenerate and edge sizes
    (1, 1, 1, 1, 1, 1, 1, 0, 1, 1),
    (1, 1, 5, 2, 1, 3, 1, 0, 1, 1),
    (2, 3, 1, 1, 3, 1, 2, 0, 1, 1),
    (1, 2, 3, 1, 4, 5, 1, 1, 1, 1),  # kernel equal to the padded size
    (2, 7, 5, 3, 3, 2, 1, 0, 1, 1),
    (3, 5, 7, 2, 2, 3, 2, 1, 1, 1),
    (2, 6, 4, 2, 3, 3, 3, 2, 1, 1),
    (1, 7, 6, 1, 2, 2, (3, 2), (2, 0), 1, 1),
    (2, 5, 6, 3, 3, 3, 1, (0, 1, 2, 0), 1, 1),  # one-sided per-side padding
    (2, 5, 5, 2, 3, 3, 2, (1, 0, 1, 0), 1, 1),  # note 002's "left and up" padding
    (3, 7, 7, 3, 3, 3, 1, 1, 2, 1),
    (2, 7, 6, 2, 2, 3, (2, 1), 1, (2, 1), 1),
    (1, 6, 7, 1, 3, 2, 2, 2, 2, 1),
    (2, 4, 5, 2, 3, 3, 1, 1, 1, 2),
    (2, 6, 5, 2, 2, 2, 2, 0, 1, 2),
    (2, 7, 7, 2, 3, 3, 3, (2, 1, 0, 2), 2, 2),
    (2, 5, 3, 2, 2, 2, 1, 0, 1, 2),
    (3, 6, 4, 3, 2, 2, 1, 1, 1, 3),  # depthwise
]


def _conv_case(spec, rng):
    c_in, h, w, c_out, kh, kw, stride, padding, dilation, groups = spec
    x = rng.standard_normal((c_in, h, w))
    weight = rng.standard_normal((c_out, c_in // groups, kh, kw))
    bias = rng.standard_normal(c_out)
    params = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    cid = f"x{c_in}x{h}x{w}-w{c_out}x{c_in // groups}x{kh}x{kw}-s{stride}-p{padding}-d{dilation}-g{groups}"
    cid = cid.replace(" ", "").replace("(", "").replace(")", "").replace(",", "_")
    return Case({"x": x, "weight": weight, "bias": bias}, params, cid)


def conv2d_cases():
    rng = np.random.default_rng(20261122)
    return [_conv_case(spec, rng) for spec in CONV_GEOMETRIES]


# ---------------------------------------------------------------------------
# `jacobians show` metadata (see jacobians.registry.ShowSpec)
# ---------------------------------------------------------------------------
from ._show import WINDOW_OPTIONS, ShowSetup, ShowSpec, need_ndim, pair, window_params  # noqa: E402


def _show_conv_setup(shape, options):
    """``--input CxHxW`` with ``--weight OxCxKHxKW``, or ``--kernel KHxKW`` (one filter per group)."""
    need_ndim("conv2d", shape, 3, "CxHxW")
    groups = options.get("groups", 1)
    if "weight" in options and "kernel" in options:
        raise ValueError("--kernel: conv2d takes --weight OxCxKHxKW or --kernel KHxKW, not both")
    if "weight" in options:
        weight = options["weight"]
        need_ndim("conv2d", weight, 4, "OxCxKHxKW", "--weight")
    elif "kernel" in options:
        kernel = pair(options["kernel"], "--kernel", "conv2d")
        fits = groups > 0 and shape[0] % groups == 0
        weight = (groups, shape[0] // groups, *kernel) if fits else (max(groups, 1), 1, *kernel)  # the geometry refuses bad groups
    else:
        raise ValueError("--weight: conv2d needs --weight OxCxKHxKW or --kernel KHxKW")
    params = {"stride": options.get("stride", 1), "padding": options.get("padding", 0),
              "dilation": options.get("dilation", 1), "groups": groups}
    Conv2dGeometry.from_shapes(shape, weight, **params)  # one line naming the parameter at fault
    return ShowSetup({"x": shape, "weight": weight, "bias": (weight[0],)}, params)


def _show_conv_geometry(shapes, params):
    return Conv2dGeometry.from_shapes(shapes["x"], shapes["weight"], **params)


def _show_conv_nnz(shapes, params, wrt, out):
    from ..sparsity import conv2d_nnz

    return math.prod(out) if wrt == "bias" else conv2d_nnz(_show_conv_geometry(shapes, params))


def _show_conv_display(shapes, params, wrt):
    geom = _show_conv_geometry(shapes, params)
    oh, ow = geom.out_hw
    if wrt == "x":
        blocks = (oh * ow, geom.height * geom.width)
        grid = {"toeplitz_block": (ow, geom.width), "channel_grid": blocks} if geom.stride == (1, 1) else {}
        return {"blocks": blocks, "stats": grid}
    blocks = (oh * ow, geom.in_per_group * geom.kernel[0] * geom.kernel[1]) if wrt == "weight" else (oh * ow, 1)
    return {"blocks": blocks, "stats": {"blocks": blocks}}


def _conv2d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Registered forward, inputs required (see :mod:`jacobians.registry`)."""
    return conv2d(x, weight, bias, stride, padding, dilation, groups)


register(
    "conv2d",
    reference=_references.conv2d_reference,
    summary="2-D cross-correlation y = w ⋆ x + b (M_F^filter w.r.t. x, M_X^im w.r.t. weight)",
    forward=_conv2d_forward,
    jacobian={"x": _jac_x, "weight": _jac_w, "bias": _jac_b},
    vjp={
        "x": {"im2col": conv2d_vjp_input_im2col, "rot180": conv2d_vjp_input_rot180},
        "weight": {"im2col": conv2d_vjp_weight_im2col, "rot180": conv2d_vjp_weight_rot180},
        "bias": {"sum": conv2d_vjp_bias},
    },
    cases=conv2d_cases,
    affine_in=("x", "weight", "bias"),
    structural=("bias",),
    torch_forward=_torch_conv2d,
    param_names=_CONV_PARAMS,
    show=ShowSpec(
        setup=_show_conv_setup, options={"weight": "shape", **WINDOW_OPTIONS, "groups": "int"},
        out_shape=lambda shapes, params: _show_conv_geometry(shapes, params).output_shape,
        nnz=_show_conv_nnz, display=_show_conv_display, input_help="CxHxW",
        symbols={"x": "X", "weight": "F", "bias": "b"}, example=("--input", "1x4x4", "--weight", "1x1x2x2"),
    ),
)


def _im2col_forward(x, kernel_size, stride=1, padding=0, dilation=1):
    return im2col(x, kernel_size, stride, padding, dilation)


def _im2col_jac(x, kernel_size, stride=1, padding=0, dilation=1):
    return im2col_jacobian(np.shape(x), kernel_size, stride, padding, dilation)


def _im2col_vjp(g, x, kernel_size, stride=1, padding=0, dilation=1):
    return col2im(g, np.shape(x), kernel_size, stride, padding, dilation)


def _im2col_cases():
    rng = np.random.default_rng(7)
    out = []
    for c_in, h, w, _, kh, kw, stride, padding, dilation, groups in CONV_GEOMETRIES:
        if groups != 1:
            continue
        p = dict(kernel_size=(kh, kw), stride=stride, padding=padding, dilation=dilation)
        cid = f"x{c_in}x{h}x{w}-k{kh}x{kw}-s{stride}-p{padding}-d{dilation}".replace(" ", "").replace(",", "_")
        out.append(Case({"x": rng.standard_normal((c_in, h, w))}, p, cid.replace("(", "").replace(")", "")))
    return out


def _show_im2col_setup(shape, options):
    need_ndim("im2col", shape, 3, "CxHxW")
    params = window_params("im2col", options)
    _show_im2col_out({"x": shape}, params)  # validates the window
    return ShowSetup({"x": shape}, params)


def _show_im2col_out(shapes, params):
    c = shapes["x"][0]
    kh, kw = params["kernel_size"]
    p = {k: v for k, v in params.items() if k != "kernel_size"}
    geom = Conv2dGeometry.from_shapes(shapes["x"], (1, c, kh, kw), **p)
    return (geom.out_hw[0] * geom.out_hw[1], c * kh * kw)


register(
    "im2col",
    reference=_references.im2col_reference,
    summary="φ(I): patches as rows (OH·OW, C·kh·kw); its adjoint is col2im (fold)",
    forward=_im2col_forward,
    jacobian={"x": _im2col_jac},
    vjp={"x": {"col2im": _im2col_vjp}},
    cases=_im2col_cases,
    affine_in=("x",),
    structural=("x",),
    param_names=("kernel_size", "stride", "padding", "dilation"),
    show=ShowSpec(setup=_show_im2col_setup, options=WINDOW_OPTIONS, out_shape=_show_im2col_out, input_help="CxHxW",
                  nnz=lambda shapes, params, wrt, out: math.prod(out), symbols={"x": "X"},
                  example=("--input", "1x3x3", "--kernel", "2")),
)
