"""N-d convolution (cross-correlation): the one core behind conv1d, conv2d's N-d checks and conv3d.

Shapes (canonical convention, PyTorch memory order, C-order vec), N = 1, 2 or 3
spatial axes::

    x       (C_in, *S)             or batched (B, C_in, *S) for forwards / VJPs
    weight  (C_out, C_in/groups, *k)
    bias    (C_out,)
    y       (C_out, *O)            O[ax] = floor((S[ax] + p_before + p_after - d(k-1) - 1)/s) + 1

Forward, with ``g(o) = o // (C_out/groups)`` and ``xp`` the zero-padded input::

    y[o, i] = b[o] + Σ_{c, a} w[o, c, a] · xp[g(o)·C_in/groups + c, i·s + a·d]     (i, a multi-indices)

The core (used by the 1-D and 3-D front doors here and by N-d pooling):

* :func:`sliding_windows_nd` — the window view over the last N axes
  (``numpy.lib.stride_tricks.sliding_window_view``);
* :func:`convnd`, :func:`im2col_nd`, :func:`col2im_nd`;
* explicit Jacobians ``convnd_input_jacobian`` / ``convnd_weight_jacobian``
  built by the *block* method below straight into CSR;
* VJPs by the im2col/col2im route and by the rot180 full-correlation route.

conv2d keeps its own tuned 2-D builders (:mod:`jacobians.ops.conv2d`); the
N-d builders give the same matrices for N = 2 (tests/test_convnd.py checks
this, the two being written independently).

The block method
----------------
Along each axis the valid taps of output position i form a range
[lo(i), hi(i)) (taps outside read padding) and positions with equal ranges
form runs (:func:`_tap_runs`, shared with conv2d's tuned 2-D builders). Rows (o, i) hold
cg·Πn_ax(i_ax) entries, ordered (c, a) — column-sorted for both Jacobians.
Within one *block* (a product of one run per axis) every row holds the same
number L of entries and its offset in the CSR arrays is affine in the local
position: ``base + Σ t_ax · stride_ax``. So each block is one ``as_strided``
view of shape (C_out, *run lengths, L) over ``data`` / ``indices``, written
by one broadcasting copy / add (the weight slab, or the x window, is the
same kind of strided view of the input). The loop is over blocks — at most
3 runs per axis for usual paddings, so ≤ 3^N blocks — never over entries;
arrays are allocated once with the exact nnz, so the peak is the CSR itself.

Writing order. Block by block, each view spans every output channel and
jumps across memory; the builders instead write in memory order with the
run-replication writer of :mod:`._rowfill` (conv2d's scheme in N-d): the
input Jacobian's values channel by channel, the columns of channel 0 only,
then copied to the other channels plus their group offset (o·K for the
weight Jacobian) in cache-sized chunks, all in the index dtype. The weight
Jacobian's values stay strided x windows per block for the first channel of
each group, copied in chunks to the rest. (Average pooling, whose rows
within a run differ by their divisor, is built as a Kronecker product of
one-axis factors instead: :func:`jacobians.ops._separable.product_csr_nd`.)
"""
from __future__ import annotations

import itertools

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from ..geometry import AXIS_NAMES, ConvNdGeometry, GeometryError, as_items, as_padding_nd, as_shape, as_tuple_n, _short
from ..registry import Case, register
from ._rowfill import Run, fill_block, replicate_channels
from ._show_nd import conv_show, show_kw
from ._sparse import as_array  # ragged input: one line
from ._sparse import (
    c_strides,
    Pattern,
    as_float_array,
    assemble,
    block_diag_repeat,
    check_budget,
    csr_from_arrays,
    check_dense,
    exact_size,
    index_dtype_for,
    is_symbolic,
    resolve_dtype,
    vstack_csr,
)

__all__ = [
    "sliding_windows_nd",
    "convnd",
    "im2col_nd",
    "col2im_nd",
    "convnd_input_jacobian",
    "convnd_weight_jacobian",
    "convnd_bias_jacobian",
    "convnd_vjp_input_im2col",
    "convnd_vjp_weight_im2col",
    "convnd_vjp_input_rot180",
    "convnd_vjp_weight_rot180",
    "convnd_vjp_bias",
    "conv1d",
    "conv1d_input_jacobian",
    "conv1d_weight_jacobian",
    "conv1d_bias_jacobian",
    "conv3d",
    "conv3d_input_jacobian",
    "conv3d_weight_jacobian",
    "conv3d_bias_jacobian",
]


# ---------------------------------------------------------------------------
# geometry helpers and windows
# ---------------------------------------------------------------------------
def _shape_text(nd: int) -> str:
    return ", ".join(a[0].upper() for a in AXIS_NAMES[nd])


def _batched(x, nd: int, name: str = "x"):
    """(C, *S) -> (1, C, *S) and a flag to undo it; (B, C, *S) passes."""
    arr = as_array(x, "x")
    if arr.ndim == nd + 1:
        return arr[None], True
    if arr.ndim == nd + 2:
        return arr, False
    dims = _shape_text(nd)
    raise GeometryError(f"{name}: must have shape (C, {dims}) or (N, C, {dims}) (got {arr.ndim}-D shape {arr.shape})")


def _geometry(x_shape, weight_shape, stride=1, padding=0, dilation=1, groups=1) -> ConvNdGeometry:
    nd = len(weight_shape) - 2
    return ConvNdGeometry.from_shapes(tuple(x_shape)[-(nd + 1):], weight_shape, stride, padding, dilation, groups)


def _check_weight_nd(weight, nd: int):
    if as_array(weight, "weight").ndim != nd + 2:
        raise GeometryError(
            f"weight: must have shape (C_out, C_in/groups, {', '.join('k' + a[0] for a in AXIS_NAMES[nd])}) "
            f"(got shape {np.shape(weight)})"
        )


def _check_weight_shape(weight_shape, nd: int):
    try:
        n = len(tuple(weight_shape))
    except TypeError:
        raise GeometryError(f"weight_shape: must be a tuple of {nd + 2} positive integers (got {_short(weight_shape)})") from None
    if n != nd + 2:
        raise GeometryError(f"weight_shape: must have {nd + 2} entries (C_out, C_in/groups, {nd} kernel sizes) (got {n})")


def pad_nd(x, pads, pad_value=0.0):
    """Pad the last ``len(pads)`` axes of ``x`` by ``((before, after), …)`` with ``pad_value``."""
    if not any(b or a for b, a in pads):
        return x
    widths = ((0, 0),) * (np.ndim(x) - len(pads)) + tuple(pads)
    check_dense("padded input", exact_size(n + b + a for n, (b, a) in zip(np.shape(x), widths)), np.float64)  # memory guard
    return np.pad(x, widths, constant_values=pad_value)


def sliding_windows_nd(x, geom: ConvNdGeometry, pad_value=0.0):
    """View (..., *O, *k) of the padded input over its last N axes: the window of each output position.

    Examples
    --------
    >>> g = ConvNdGeometry.from_shapes((1, 5), (1, 1, 2), stride=2)
    >>> sliding_windows_nd(np.arange(5.).reshape(1, 5), g)
    array([[[0., 1.],
            [2., 3.]]])
    """
    nd = geom.ndim
    xp = pad_nd(x, geom.padding, pad_value)
    span = tuple(d * (k - 1) + 1 for k, d in zip(geom.kernel, geom.dilation))
    view = sliding_window_view(xp, span, axis=tuple(range(-nd, 0)))
    out_sl = tuple(slice(None, (o - 1) * s + 1, s) for o, s in zip(geom.out_spatial, geom.stride))
    tap_sl = tuple(slice(None, None, d) for d in geom.dilation)
    return view[(Ellipsis, *out_sl, *tap_sl)]


# ---------------------------------------------------------------------------
# forward, im2col, col2im
# ---------------------------------------------------------------------------
def convnd(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """N-d cross-correlation; N = ``weight.ndim − 2``. See the module docstring for shapes.

    Examples
    --------
    >>> convnd(np.arange(4.).reshape(1, 4), np.ones((1, 1, 2)))
    array([[1., 3., 5.]])
    """
    weight = np.asarray(weight)
    nd = weight.ndim - 2
    if nd < 1:
        raise GeometryError(f"weight: must have shape (C_out, C_in/groups, *kernel) (got shape {weight.shape})")
    xb, squeeze = _batched(x, nd)
    geom = _geometry(xb.shape, weight.shape, stride, padding, dilation, groups)
    dtype = np.result_type(xb, weight, np.float64) if xb.dtype != object and weight.dtype != object else object
    if dtype != object and xb.dtype == np.float32 and weight.dtype == np.float32:
        dtype = np.float32
    win = sliding_windows_nd(xb.astype(dtype, copy=False), geom)
    n = xb.shape[0]
    G, cg, og = geom.groups, geom.in_per_group, geom.out_per_group
    win = win.reshape(n, G, cg, *geom.out_spatial, *geom.kernel)
    w = weight.reshape(G, og, cg, *geom.kernel)
    letters = "hijkpqrsuv"  # none of n, g, o, c
    pos, taps = letters[:nd], letters[nd : 2 * nd]
    y = np.einsum(f"ngc{pos}{taps},goc{taps}->ngo{pos}", win, w, optimize=dtype is not object)
    y = y.reshape(n, G * og, *geom.out_spatial)
    if bias is not None:
        bias = as_array(bias, "bias")
        if bias.shape != (geom.out_channels,):
            raise GeometryError(f"bias: must have shape ({geom.out_channels},) = (C_out,) (got {bias.shape})")
        y = y + bias.reshape((1, -1) + (1,) * nd)
    return y[0] if squeeze else y


def im2col_nd(x, kernel, stride=1, padding=0, dilation=1):
    """φ(I) over N axes: rows = output positions (C order), columns = (channel, taps) in C order.

    ``x`` is (C, *S) or (B, C, *S) with N = len(kernel); returns (ΠO, C·Πk) or (B, ΠO, C·Πk).
    """
    kernel = tuple(kernel)
    nd = len(kernel)
    xb, squeeze = _batched(x, nd)
    geom = _geometry(xb.shape, (1, xb.shape[1], *kernel), stride, padding, dilation, 1)
    win = sliding_windows_nd(xb, geom)  # (B, C, *O, *k)
    n, c = xb.shape[:2]
    order = (0, *range(2, 2 + nd), 1, *range(2 + nd, 2 + 2 * nd))
    cols = win.transpose(order).reshape(n, exact_size(geom.out_spatial), c * exact_size(kernel))
    return cols[0] if squeeze else cols


def col2im_nd(cols, input_shape, kernel, stride=1, padding=0, dilation=1):
    """The adjoint of :func:`im2col_nd`: scatter-add the columns back; taps on padding are dropped."""
    kernel = tuple(kernel)
    nd = len(kernel)
    shape = as_shape(input_shape, "input_shape", nd + 1)
    c = shape[0]
    geom = _geometry(shape, (1, c, *kernel), stride, padding, dilation, 1)
    out_sp = geom.out_spatial
    rows, width = exact_size(out_sp), c * exact_size(kernel)
    cols = np.asarray(cols)
    squeeze = cols.ndim == 2
    c3 = cols[None] if squeeze else cols
    if c3.ndim != 3 or c3.shape[1:] != (rows, width):
        raise GeometryError(f"cols: must have shape (ΠO, C·Πk) = ({rows}, {width}) for this geometry (got {cols.shape})")
    n = c3.shape[0]
    # (B, *O, C, *k) -> (B, C, *k, *O)
    blocks = c3.reshape(n, *out_sp, c, *kernel).transpose(0, 1 + nd, *range(2 + nd, 2 + 2 * nd), *range(1, 1 + nd))
    out = np.zeros((n, c, *geom.padded_spatial), dtype=resolve_dtype(None, c3))  # float32 stays float32
    # one strided scatter-add per tap: taps never overlap within one tap, so += is exact
    for tap in itertools.product(*(range(k) for k in kernel)):
        sl = tuple(slice(a * d, a * d + (o - 1) * s + 1, s) for a, d, o, s in zip(tap, geom.dilation, out_sp, geom.stride))
        out[(slice(None), slice(None), *sl)] += blocks[(slice(None), slice(None), *tap)]
    crop = tuple(slice(p[0], p[0] + size) for p, size in zip(geom.padding, geom.spatial))
    out = out[(slice(None), slice(None), *crop)]
    return out[0] if squeeze else out


# ---------------------------------------------------------------------------
# explicit Jacobians: the block method (see the module docstring)
# ---------------------------------------------------------------------------
#: entries copied per chunk when replicating the first output channel's values
#: to the rest of its group (8 MB of float64: stays in L3 while copied og − 1 times)
_COPY_CHUNK = 1 << 20


def _tap_runs(n_out: int, k: int, size: int, stride: int, pad_before: int, dilation: int):
    """Valid tap range of each output position along one axis, grouped into runs.

    Tap ``a`` of output position ``i`` reads input index ``i·s − p + a·d``; it
    is valid iff that lies in [0, size). Hence ``lo = max(0, ⌈(p − i·s)/d⌉)``
    and ``hi = min(k, ⌊(size − 1 − i·s + p)/d⌋ + 1)``.

    Returns
    -------
    counts : int64 (n_out,), hi − lo (0 for positions reading only padding)
    runs : list of (start, stop, lo, hi), maximal runs of positions with equal (lo, hi)
    """
    first = np.arange(n_out, dtype=np.int64) * stride - pad_before  # input index of tap 0
    lo = np.maximum(0, -(first // dilation))  # -(q // d) = ceil(-q / d)
    hi = np.minimum(k, (size - 1 - first) // dilation + 1)
    hi = np.maximum(hi, lo)
    change = np.flatnonzero((lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])) + 1
    starts = np.concatenate(([0], change)).tolist()
    stops = np.concatenate((change, [n_out])).tolist()
    runs = [(a, b, int(lo[a]), int(hi[a])) for a, b in zip(starts, stops)]
    return hi - lo, runs


class _NdFrame:
    """Row structure shared by both N-d conv Jacobians (rows (o, *i) in C order, entries (c, *a))."""

    def __init__(self, geom: ConvNdGeometry, n_cols: int):
        self.geom = geom
        self.cg = geom.in_per_group
        counts, self.runs = [], []
        for ax in range(geom.ndim):
            n, runs = _tap_runs(geom.out_spatial[ax], geom.kernel[ax], geom.spatial[ax], geom.stride[ax],
                                geom.padding[ax][0], geom.dilation[ax])
            counts.append(n)
            self.runs.append(runs)
        self.counts = counts
        self.sums = [int(n.sum()) for n in counts]
        self.before = [np.concatenate(([0], np.cumsum(n)[:-1])).astype(np.int64) for n in counts]
        self.per_channel = self.cg * exact_size(self.sums)
        self.nnz = geom.out_channels * self.per_channel
        self.shape = (geom.out_channels * exact_size(geom.out_spatial), int(n_cols))
        self.index_dtype = index_dtype_for(self.nnz, *self.shape)

    def indptr(self) -> np.ndarray:
        per_row = np.array(self.cg, dtype=np.int64)
        for n in self.counts:
            per_row = np.multiply.outer(per_row, n)
        per_row = per_row.ravel()
        c_out, idx = self.geom.out_channels, self.index_dtype
        indptr = np.empty(c_out * per_row.size + 1, dtype=idx)
        indptr[0] = 0
        within = np.cumsum(per_row).astype(idx)
        start = np.arange(c_out, dtype=idx) * idx.type(self.per_channel)
        np.add(start[:, None], within[None, :], out=indptr[1:].reshape(c_out, per_row.size))
        return indptr

    def blocks(self):
        """Per block with entries: (starts, lengths, lo, hi, base, strides) — offsets in entries."""
        for combo in itertools.product(*self.runs):
            nb = [hi - lo for _, _, lo, hi in combo]
            if 0 in nb:
                continue
            base, strides = 0, []
            for ax, (start, _, _, _) in enumerate(combo):
                factor = self.cg * exact_size(nb[:ax]) * exact_size(self.sums[ax + 1:])
                base += int(self.before[ax][start]) * factor
                strides.append(nb[ax] * factor)
            yield ([r[0] for r in combo], [r[1] - r[0] for r in combo], [r[2] for r in combo],
                   [r[3] for r in combo], base, strides)

    def view(self, arr, base, lengths, strides, inner, channels=None, channel0=0):
        """Writable (channels, *lengths, *inner) view of the flat ``arr`` at one block."""
        channels = self.geom.out_channels if channels is None else channels
        item = arr.itemsize
        inner_strides, acc = [], 1
        for size in reversed(inner):
            inner_strides.append(acc)
            acc *= size
        inner_strides.reverse()
        return as_strided(
            arr[channel0 * self.per_channel + base:],
            shape=(channels, *lengths, *inner),
            strides=tuple(v * item for v in (self.per_channel, *strides, *inner_strides)),
        )


def _axis_runs(frame: "_NdFrame", ax: int, shift: int = 0):
    """The runs of one axis with entries, in position order, for :func:`._rowfill.fill_block` (plus their (lo, hi))."""
    runs, ranges = [], []
    for start, stop, lo, hi in frame.runs[ax]:
        if hi > lo:
            runs.append(Run(int(frame.before[ax][start]), stop - start, hi - lo, hi - lo, shift))
            ranges.append((start, lo, hi))
    return runs, ranges


def _input_csr_nd(weight: np.ndarray, geom: ConvNdGeometry, dtype):
    """∂vec(y)/∂vec(x) of N-d convolution as CSR arrays (data, indices, frame).

    Every row of a product of runs holds the same values
    (the weight slab of the valid taps) and columns shifted by Σ t_ax·s_ax·stride_in,
    so the run-replication writer (:mod:`._rowfill`) fills it in memory order: the
    values channel by channel, the columns of channel 0, copied with the group
    offset to the other channels.
    """
    nd = geom.ndim
    frame = _NdFrame(geom, exact_size(geom.input_shape))
    idx = frame.index_dtype
    data = np.empty(frame.nnz, dtype=dtype)
    indices = np.empty(frame.nnz, dtype=idx)
    weight = np.ascontiguousarray(weight, dtype=dtype)
    in_strides = c_strides(geom.spatial)
    plane = exact_size(geom.spatial)
    c_out, cg = geom.out_channels, frame.cg
    axes, ranges = zip(*(_axis_runs(frame, ax, geom.stride[ax] * in_strides[ax]) for ax in range(nd)))
    # the first rows are made when the writer asks for them (once per product of runs and
    # channel): tables of all of them could be as large as the CSR (runs of length 1)
    def taps(key):
        return tuple(slice(ranges[ax][r][1], ranges[ax][r][2]) for ax, r in enumerate(key))

    def columns(key):
        # columns of the run product's first row in channel 0 (group 0), computed in int64:
        # Σ (i0·s − p_before)·stride_in  +  c·plane + Σ a·d·stride_in — a part alone may leave
        # the int32 range (a huge stride), their sum is a column
        cols = np.arange(cg, dtype=np.int64).reshape((-1,) + (1,) * nd) * plane
        for ax, r in enumerate(key):
            start, lo, hi = ranges[ax][r]
            shp = [1] * (nd + 1)
            shp[1 + ax] = hi - lo
            cols = cols + (np.arange(lo, hi, dtype=np.int64) * geom.dilation[ax]
                           + start * geom.stride[ax] - geom.padding[ax][0]).reshape(shp) * in_strides[ax]
        return cols.reshape(-1).astype(idx)

    per = frame.per_channel
    for o in range(c_out):  # values: the weight slab of the valid taps
        fill_block(data[o * per:(o + 1) * per], axes, cg, lambda key: weight[(o, slice(None), *taps(key))].reshape(-1))
    fill_block(indices[:per], axes, cg, columns, shifted=True)
    group_start = (np.arange(c_out, dtype=np.int64) // geom.out_per_group) * (cg * plane)
    replicate_channels(indices, per, offsets=group_start)
    return data, indices, frame


def _weight_csr_nd(x: np.ndarray, geom: ConvNdGeometry, dtype):
    """∂vec(y)/∂vec(weight): values are strided windows of x, columns o·K + tap.

    Values: per product of runs one strided window of x, written for the first
    output channel of each group (the group's other channels hold the same rows),
    then copied in cache-sized chunks. Columns: the tap pattern is the same for
    every row of a product of runs, so channel 0's are written by the
    run-replication writer (:mod:`._rowfill`) and copied, plus o·K, to the others.
    """
    nd = geom.ndim
    frame = _NdFrame(geom, exact_size(geom.weight_shape))
    idx = frame.index_dtype
    cg, og = frame.cg, geom.out_per_group
    data = np.empty(frame.nnz, dtype=dtype)
    indices = np.empty(frame.nnz, dtype=idx)
    x = np.ascontiguousarray(x, dtype=dtype)
    flat_x, item = x.reshape(-1), x.itemsize
    in_strides = c_strides(geom.spatial)
    k_strides = c_strides(geom.kernel)
    plane = exact_size(geom.spatial)
    K = cg * exact_size(geom.kernel)
    for starts, lengths, lo, hi, base, strides in frame.blocks():
        nb = [h - l for l, h in zip(lo, hi)]
        first = sum((st * geom.stride[ax] - geom.padding[ax][0] + lo[ax] * geom.dilation[ax]) * in_strides[ax]
                    for ax, st in enumerate(starts))
        for grp in range(geom.groups):
            window = as_strided(
                flat_x[grp * cg * plane + first:],
                shape=(1, *lengths, cg, *nb),
                strides=tuple(v * item for v in (0, *(geom.stride[a] * in_strides[a] for a in range(nd)), plane,
                                                 *(geom.dilation[a] * in_strides[a] for a in range(nd)))),
                writeable=False,
            )
            # the group's first output channel only; the others are copied in chunks below
            target = frame.view(data, base, lengths, strides, (cg, *nb), channels=1, channel0=grp * og)
            np.copyto(target, window)
    replicate_channels(data, frame.per_channel, groups=geom.groups)
    axes, ranges = zip(*(_axis_runs(frame, ax) for ax in range(nd)))

    def columns(key):  # the tap pattern of the run product's rows: c·Πk + Σ a·kstride
        cols = np.arange(cg, dtype=np.int64).reshape((-1,) + (1,) * nd) * exact_size(geom.kernel)
        for ax, r in enumerate(key):
            _, lo, hi = ranges[ax][r]
            shp = [1] * (nd + 1)
            shp[1 + ax] = hi - lo
            cols = cols + (np.arange(lo, hi, dtype=np.int64) * k_strides[ax]).reshape(shp)
        return cols.reshape(-1).astype(idx)

    fill_block(indices[:frame.per_channel], axes, cg, columns)
    replicate_channels(indices, frame.per_channel, offsets=np.arange(geom.out_channels, dtype=np.int64) * K)
    return data, indices, frame


def valid_taps(geom: ConvNdGeometry, ax: int) -> int:
    """Number of (output position, tap) pairs along ``ax`` that read the input — in O(k) Python ints.

    Tap a is on the input for outputs i with 0 ≤ i·s − p + a·d < size, a range of i;
    summing the ranges' lengths needs no array of the output's size, so the memory
    guard can run before anything that scales with the operator is allocated.
    """
    out, s, d, p, size = geom.out_spatial[ax], geom.stride[ax], geom.dilation[ax], geom.padding[ax][0], geom.spatial[ax]
    total = 0
    for a in range(geom.kernel[ax]):
        lo = max(0, -(-(p - a * d) // s))
        hi = min(out, (size - 1 + p - a * d) // s + 1)
        total += max(0, hi - lo)
    return total


def _expected_nnz(geom: ConvNdGeometry) -> int:
    n = geom.out_channels * geom.in_per_group
    for ax in range(geom.ndim):
        n *= valid_taps(geom, ax)
    return n


def convnd_input_jacobian(weight, input_shape, stride=1, padding=0, dilation=1, groups=1, *, dtype=None,
                          max_bytes=None):
    """∂vec(y)/∂vec(x) of N-d convolution (N = weight.ndim − 2), by the block method.

    Parameters
    ----------
    weight : (C_out, C_in/groups, *k) floats, or an object array of sympy symbols
    input_shape : (C_in, *S)

    Returns
    -------
    csr_array of shape (C_out·ΠO, C_in·ΠS) (sympy.ImmutableSparseMatrix for symbolic weights).

    Notes
    -----
    ``∂y[o,i]/∂x[c,q] = w[o, c − g(o)·C_in/G, a]`` when ``q = i·s − p_before + a·d``
    on every axis, else 0.

    Examples
    --------
    >>> convnd_input_jacobian(np.array([[[1., 2.]]]), (1, 3)).toarray()
    array([[1., 2., 0.],
           [0., 1., 2.]])
    """
    weight = as_float_array(weight, "weight", dtype)
    if weight.ndim < 3:
        raise GeometryError(f"weight: must have shape (C_out, C_in/groups, *kernel) (got shape {weight.shape})")
    symbolic = is_symbolic(weight)
    dt = np.dtype(np.float64) if symbolic else weight.dtype
    shape_in = tuple(input_shape) if as_array(input_shape, "input_shape").ndim == 1 else input_shape
    if not symbolic and isinstance(shape_in, tuple) and len(shape_in) == weight.ndim:
        # the batch rule: (N, C_in, *S) -> the same block for every sample, block-diagonal
        block = convnd_input_jacobian(weight, shape_in[1:], stride, padding, dilation, groups, max_bytes=max_bytes)
        return block_diag_repeat(block, as_shape(shape_in, "input_shape", weight.ndim)[0],
                                 what=f"batched conv{weight.ndim - 2}d input Jacobian", max_bytes=max_bytes)
    geom = ConvNdGeometry.from_shapes(input_shape, weight.shape, stride, padding, dilation, groups)
    shape = (exact_size(geom.output_shape), exact_size(geom.input_shape))
    check_budget(f"conv{geom.ndim}d input Jacobian", _expected_nnz(geom), shape, dt, max_bytes)
    what = f"conv{geom.ndim}d_input_jacobian"
    if symbolic:  # the same index arithmetic, with the values' positions as values
        src, indices, frame = _input_csr_nd(np.arange(weight.size).reshape(weight.shape), geom, np.int64)
        return assemble(Pattern(frame.indptr(), indices, src, frame.shape), weight, dtype=dt, what=what)
    data, indices, frame = _input_csr_nd(weight, geom, dt)
    return csr_from_arrays(data, indices, frame.indptr(), frame.shape, what=what)


def convnd_weight_jacobian(x, weight_shape, stride=1, padding=0, dilation=1, groups=1, *, dtype=None,
                           max_bytes=None):
    """∂vec(y)/∂vec(weight) of N-d convolution, by the block method (block diagonal over output channels).

    Notes
    -----
    ``∂y[o,i]/∂w[o',c,a] = [o = o'] · xp[g(o)·C_in/G + c, i·s + a·d]``.

    Examples
    --------
    >>> convnd_weight_jacobian(np.array([[1., 2., 3.]]), (1, 1, 2)).toarray()
    array([[1., 2.],
           [2., 3.]])
    """
    x = as_float_array(x, "x", dtype)
    nd = len(as_items(weight_shape, "weight_shape", "a shape tuple")) - 2
    if nd >= 1 and x.ndim == nd + 2 and not is_symbolic(x):
        # the batch rule: per-sample Jacobians w.r.t. the shared weight, stacked
        blocks = [convnd_weight_jacobian(xi, weight_shape, stride, padding, dilation, groups, max_bytes=max_bytes)
                  for xi in x]
        return vstack_csr(blocks, what=f"batched conv{nd}d weight Jacobian", max_bytes=max_bytes)
    if nd < 1 or x.ndim != nd + 1:
        raise GeometryError(f"x: must have shape (C_in, *spatial) or (N, C_in, *spatial) with {max(nd, 1)} spatial axes "
                            f"(got {x.shape})")
    symbolic = is_symbolic(x)
    dt = np.dtype(np.float64) if symbolic else x.dtype
    geom = ConvNdGeometry.from_shapes(x.shape, weight_shape, stride, padding, dilation, groups)
    shape = (exact_size(geom.output_shape), exact_size(geom.weight_shape))
    check_budget(f"conv{nd}d weight Jacobian", _expected_nnz(geom), shape, dt, max_bytes)
    what = f"conv{nd}d_weight_jacobian"
    if symbolic:
        src, indices, frame = _weight_csr_nd(np.arange(x.size).reshape(x.shape), geom, np.int64)
        return assemble(Pattern(frame.indptr(), indices, src, frame.shape), x, dtype=dt, what=what)
    data, indices, frame = _weight_csr_nd(x, geom, dt)
    return csr_from_arrays(data, indices, frame.indptr(), frame.shape, what=what)


def convnd_bias_jacobian(out_shape, *, dtype=None, batched=False):
    """∂vec(y)/∂b for y of shape (C_out, *O): row (o, i) has a 1 in column o (exact 0/1).

    ``out_shape`` may be given per sample or batched, (N, C_out, *O) with ``batched=True``:
    the per-sample blocks stacked.
    """
    dtype = resolve_dtype(dtype)  # the dtype rule: a float dtype or refused with one line
    if batched:
        out_shape = as_shape(out_shape, "out_shape", (3, 4, 5))
        block = convnd_bias_jacobian(out_shape[1:], dtype=dtype)
        return vstack_csr([block] * out_shape[0], what="batched conv bias Jacobian")
    out_shape = as_shape(out_shape, "out_shape", (2, 3, 4))
    c_out, per = out_shape[0], exact_size(out_shape[1:])
    n = c_out * per
    check_budget("conv bias Jacobian", n, (n, c_out), dtype)  # memory guard before the n-sized arrays
    idx = index_dtype_for(n)
    pattern = Pattern(np.arange(n + 1, dtype=idx), np.repeat(np.arange(c_out, dtype=idx), per), None, (n, c_out))
    return assemble(pattern, dtype=dtype, what="conv_bias_jacobian")


# ---------------------------------------------------------------------------
# VJP route 1: im2col / col2im
# ---------------------------------------------------------------------------
def _grad(g, geom: ConvNdGeometry, n: int):
    g = np.asarray(g)
    gb = g[None] if g.ndim == geom.ndim + 1 else g
    want = (n, *geom.output_shape)
    if gb.shape != want:
        raise GeometryError(f"g: must have the output's shape {want[1:] if g.ndim == geom.ndim + 1 else want} (got {g.shape})")
    return gb


def _setup(x, weight, stride, padding, dilation, groups):
    weight = np.asarray(weight)
    nd = weight.ndim - 2
    xb, squeeze = _batched(x, nd)
    return xb, squeeze, weight, _geometry(xb.shape, weight.shape, stride, padding, dilation, groups)


def convnd_vjp_weight_im2col(g, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """∂L/∂w = φ(I)ᵀ ∂L/∂O per group (note 003's rule in N-d), summed over the batch."""
    xb, _, weight, geom = _setup(x, weight, stride, padding, dilation, groups)
    gb = _grad(g, geom, xb.shape[0])
    n, cg, og, P = xb.shape[0], geom.in_per_group, geom.out_per_group, exact_size(geom.out_spatial)
    out = np.empty(weight.shape, dtype=np.float64)
    for grp in range(geom.groups):  # a handful of groups, not entries
        phi = im2col_nd(xb[:, grp * cg:(grp + 1) * cg], geom.kernel, geom.stride, geom.padding, geom.dilation)
        o_f = gb[:, grp * og:(grp + 1) * og].reshape(n, og, P)
        out[grp * og:(grp + 1) * og] = np.einsum("nrk,nor->ok", phi, o_f).reshape(og, cg, *geom.kernel)
    return out


def convnd_vjp_input_im2col(g, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """∂L/∂x = col2im(∂L/∂O · F_fᵀ) per group."""
    xb, squeeze, weight, geom = _setup(x, weight, stride, padding, dilation, groups)
    gb = _grad(g, geom, xb.shape[0])
    n, cg, og, P = xb.shape[0], geom.in_per_group, geom.out_per_group, exact_size(geom.out_spatial)
    out = np.empty(xb.shape, dtype=np.float64)
    for grp in range(geom.groups):
        o_f = gb[:, grp * og:(grp + 1) * og].reshape(n, og, P).transpose(0, 2, 1)  # (B, ΠO, og)
        f_f = weight[grp * og:(grp + 1) * og].reshape(og, -1)  # (og, cg·Πk)
        out[:, grp * cg:(grp + 1) * cg] = col2im_nd(o_f @ f_f, (cg, *geom.spatial), geom.kernel, geom.stride,
                                                    geom.padding, geom.dilation)
    return out[0] if squeeze else out


# ---------------------------------------------------------------------------
# VJP route 2: rot180 full correlation
# ---------------------------------------------------------------------------
def convnd_vjp_input_rot180(g, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """∂L/∂x as a full correlation of the stride-dilated upstream gradient with the flipped kernel.

    Insert s − 1 zeros between entries of ``g`` on every axis, pad by d(k − 1)
    on both sides plus, after, the positions of the padded input the forward
    never reached; correlate with the kernel flipped on every spatial axis and
    channel-swapped per group (taps keep dilation d); crop the forward padding.
    """
    xb, squeeze, weight, geom = _setup(x, weight, stride, padding, dilation, groups)
    weight = weight.astype(np.float64)
    nd = geom.ndim
    gb = _grad(g, geom, xb.shape[0]).astype(np.float64)
    n = gb.shape[0]
    dil = np.zeros((n, geom.out_channels, *((o - 1) * s + 1 for o, s in zip(geom.out_spatial, geom.stride))))
    dil[(slice(None), slice(None), *(slice(None, None, s) for s in geom.stride))] = gb
    pads = []
    for ax in range(nd):
        reach = geom.dilation[ax] * (geom.kernel[ax] - 1)
        rest = geom.padded_spatial[ax] - 1 - ((geom.out_spatial[ax] - 1) * geom.stride[ax] + reach)
        pads.append((reach, reach + rest))
    G, cg, og = geom.groups, geom.in_per_group, geom.out_per_group
    flip = (slice(None), slice(None), *(slice(None, None, -1),) * nd)
    w_rot = weight[flip].reshape(G, og, cg, *geom.kernel).swapaxes(1, 2).reshape(G * cg, og, *geom.kernel)
    full = convnd(pad_nd(dil, pads), w_rot, stride=1, padding=0, dilation=geom.dilation, groups=G)
    assert full.shape[2:] == geom.padded_spatial, f"rot180 route: full correlation has {full.shape[2:]}"
    crop = tuple(slice(p[0], p[0] + size) for p, size in zip(geom.padding, geom.spatial))
    out = full[(slice(None), slice(None), *crop)]
    return out[0] if squeeze else out


def convnd_vjp_weight_rot180(g, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """∂L/∂w as a correlation of the padded input (batch ↔ channels swapped) with g, stride d, dilation s."""
    xb, _, weight, geom = _setup(x, weight, stride, padding, dilation, groups)
    gb = _grad(g, geom, xb.shape[0]).astype(np.float64)
    xp = pad_nd(xb.astype(np.float64), geom.padding)
    cg, og = geom.in_per_group, geom.out_per_group
    out = np.empty(weight.shape, dtype=np.float64)
    crop = (slice(None), slice(None), *(slice(0, k) for k in geom.kernel))
    for grp in range(geom.groups):
        xs = xp[:, grp * cg:(grp + 1) * cg].swapaxes(0, 1)  # (cg, B, *Sp)
        gs = gb[:, grp * og:(grp + 1) * og].swapaxes(0, 1)  # (og, B, *O)
        corr = convnd(xs, gs, stride=geom.dilation, padding=0, dilation=geom.stride)  # (cg, og, ≥k…)
        out[grp * og:(grp + 1) * og] = corr[crop].swapaxes(0, 1)
    return out


def convnd_vjp_bias(g, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """∂L/∂b[o] = Σ over batch and positions of g[·, o, …]."""
    g = np.asarray(g, dtype=np.float64)
    nd = np.ndim(weight) - 2
    axes = tuple(range(-nd, 0)) if g.ndim == nd + 1 else (0, *range(2, g.ndim))
    return g.sum(axis=axes)


# ---------------------------------------------------------------------------
# front doors: conv1d and conv3d (PyTorch's names and arguments)
# ---------------------------------------------------------------------------
def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D cross-correlation (PyTorch's ``conv1d``): x (C_in, L) or (N, C_in, L), weight (C_out, C_in/groups, k).

    ``padding``: int, (p,), (before, after), ((before, after),), "same" or "valid".
    ``y[o,i] = b[o] + Σ_{c,a} w[o,c,a] · xp[g(o)·C_in/G + c, i·s + a·d]``.

    Examples
    --------
    >>> conv1d(np.array([[1., 2., 3., 4.]]), np.array([[[1., -1.]]]), padding="same")
    array([[-1., -1., -1.,  4.]])
    """
    _check_weight_nd(weight, 1)
    return convnd(x, weight, bias, stride, padding, dilation, groups)


def conv3d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-D cross-correlation (PyTorch's ``conv3d``): x (C_in, D, H, W) or batched, weight (C_out, C_in/groups, kd, kh, kw).

    ``padding``: int, (pd, ph, pw), three (before, after) pairs, six ints, "same" or "valid".

    Examples
    --------
    >>> conv3d(np.ones((1, 2, 2, 2)), np.ones((1, 1, 2, 2, 2)))[0, 0, 0]
    array([8.])
    """
    _check_weight_nd(weight, 3)
    return convnd(x, weight, bias, stride, padding, dilation, groups)


def conv1d_input_jacobian(weight, input_shape, stride=1, padding=0, dilation=1, groups=1, *, dtype=None, max_bytes=None):
    """∂vec(y)/∂vec(x) of :func:`conv1d`: shape (C_out·OL, C_in·L); a banded Toeplitz block per channel pair.

    Examples
    --------
    >>> conv1d_input_jacobian(np.array([[[1., 2.]]]), (1, 3), padding=(1, 0)).toarray()
    array([[2., 0., 0.],
           [1., 2., 0.],
           [0., 1., 2.]])
    """
    _check_weight_nd(weight, 1)
    return convnd_input_jacobian(weight, input_shape, stride, padding, dilation, groups, dtype=dtype, max_bytes=max_bytes)


def conv1d_weight_jacobian(x, weight_shape, stride=1, padding=0, dilation=1, groups=1, *, dtype=None, max_bytes=None):
    """∂vec(y)/∂vec(weight) of :func:`conv1d`: shape (C_out·OL, C_out·(C_in/groups)·k)."""
    _check_weight_shape(weight_shape, 1)
    return convnd_weight_jacobian(x, weight_shape, stride, padding, dilation, groups, dtype=dtype, max_bytes=max_bytes)


def conv1d_bias_jacobian(out_shape, *, dtype=None):
    """∂vec(y)/∂b of :func:`conv1d`, y of shape (C_out, OL)."""
    as_shape(out_shape, "out_shape", 2)
    return convnd_bias_jacobian(out_shape, dtype=dtype)


def conv3d_input_jacobian(weight, input_shape, stride=1, padding=0, dilation=1, groups=1, *, dtype=None, max_bytes=None):
    """∂vec(y)/∂vec(x) of :func:`conv3d`: shape (C_out·OD·OH·OW, C_in·D·H·W)."""
    _check_weight_nd(weight, 3)
    return convnd_input_jacobian(weight, input_shape, stride, padding, dilation, groups, dtype=dtype, max_bytes=max_bytes)


def conv3d_weight_jacobian(x, weight_shape, stride=1, padding=0, dilation=1, groups=1, *, dtype=None, max_bytes=None):
    """∂vec(y)/∂vec(weight) of :func:`conv3d`: shape (C_out·OD·OH·OW, C_out·(C_in/groups)·kd·kh·kw)."""
    _check_weight_shape(weight_shape, 3)
    return convnd_weight_jacobian(x, weight_shape, stride, padding, dilation, groups, dtype=dtype, max_bytes=max_bytes)


def conv3d_bias_jacobian(out_shape, *, dtype=None):
    """∂vec(y)/∂b of :func:`conv3d`, y of shape (C_out, OD, OH, OW)."""
    as_shape(out_shape, "out_shape", 4)
    return convnd_bias_jacobian(out_shape, dtype=dtype)


# ---------------------------------------------------------------------------
# reference forward (loops from the formula) and torch forwards
# ---------------------------------------------------------------------------
def reference_convnd(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Plain loops over output entries and taps, bounds-checked (no padded array, no windows)."""
    x, weight = np.asarray(x, dtype=np.float64), np.asarray(weight, dtype=np.float64)
    nd = weight.ndim - 2
    c_in, *size = x.shape
    c_out, cg, *kernel = weight.shape
    st, dl = as_tuple_n(stride, "stride", nd), as_tuple_n(dilation, "dilation", nd)
    if isinstance(padding, str):
        pads = [(0, 0)] * nd if padding == "valid" else [(d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2)
                                                         for k, d in zip(kernel, dl)]
    else:
        pads = as_padding_nd(padding, nd)
    outs = [(n + p[0] + p[1] - d * (k - 1) - 1) // s + 1 for n, p, d, k, s in zip(size, pads, dl, kernel, st)]
    og = c_out // groups
    y = np.zeros((c_out, *outs))
    for o in range(c_out):
        for i in itertools.product(*map(range, outs)):
            total = 0.0 if bias is None else float(bias[o])
            for c in range(cg):
                for a in itertools.product(*map(range, kernel)):
                    q = [i[ax] * st[ax] - pads[ax][0] + a[ax] * dl[ax] for ax in range(nd)]
                    if all(0 <= q[ax] < size[ax] for ax in range(nd)):
                        total += weight[(o, c, *a)] * x[((o // og) * cg + c, *q)]
            y[(o, *i)] = total
    return y


def _torch_convnd(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    import torch.nn.functional as F

    nd = weight.ndim - 2
    fn = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[nd]
    if isinstance(padding, str):  # torch's own 'same' / 'valid'
        import warnings

        with warnings.catch_warnings():  # torch warns that even kernels make it pad a copy: expected here
            warnings.simplefilter("ignore", UserWarning)
            return fn(x[None], weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups)[0]
    pads = as_padding_nd(padding, nd)
    flat = [v for pair in reversed(pads) for v in pair]  # F.pad lists the last axis first
    return fn(F.pad(x[None], flat), weight, bias, stride=stride, padding=0, dilation=dilation, groups=groups)[0]


# ---------------------------------------------------------------------------
# registration
# ---------------------------------------------------------------------------
_CONV_PARAMS = ("stride", "padding", "dilation", "groups")


def _params(p):
    return {k: p[k] for k in _CONV_PARAMS if k in p}


def _jac_x(x, weight, bias=None, **p):
    return convnd_input_jacobian(weight, np.shape(x), **_params(p))


def _jac_w(x, weight, bias=None, **p):
    return convnd_weight_jacobian(x, np.shape(weight), **_params(p))


def _jac_b(x, weight, bias=None, **p):
    return convnd_bias_jacobian(_geometry(np.shape(x), np.shape(weight), **_params(p)).output_shape)


#: (C_in, spatial, C_out, kernel, stride, padding, dilation, groups) per dimension: the generic check's tables.
CONV1D_GEOMETRIES = [
    (1, (6,), 1, (3,), 1, 0, 1, 1),
    (2, (9,), 3, (3,), 2, 1, 1, 1),  # stride with remainder
    (2, (8,), 2, (2,), 3, (2, 0), 2, 2),  # per-side padding, dilation, groups
    (3, (7,), 3, (3,), 1, "same", 2, 3),  # 'same' with dilation, depthwise
    (2, (5,), 4, (4,), 1, "same", 1, 1),  # even kernel: the odd pad goes after
    (1, (1,), 1, (1,), 1, 0, 1, 1),
    (2, (4,), 2, (6,), 1, 1, 1, 1),  # kernel equal to the padded length
]
CONV3D_GEOMETRIES = [
    (1, (3, 4, 4), 1, (2, 2, 2), 1, 0, 1, 1),
    (2, (4, 5, 3), 2, (2, 3, 2), (2, 1, 2), 1, 1, 1),
    (2, (5, 4, 6), 4, (3, 2, 2), (1, 2, 3), ((1, 0), (0, 1), (2, 1)), (2, 1, 1), 2),
    (3, (3, 3, 4), 3, (3, 1, 2), 1, "same", (1, 1, 2), 3),
    (1, (1, 2, 3), 2, (1, 2, 3), 1, 0, 1, 1),
]


def _cases(table, seed):
    def make():
        rng = np.random.default_rng(seed)
        out = []
        for c_in, spatial, c_out, kernel, stride, padding, dilation, groups in table:
            x = rng.standard_normal((c_in, *spatial))
            weight = rng.standard_normal((c_out, c_in // groups, *kernel))
            bias = rng.standard_normal(c_out)
            params = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
            cid = (f"x{c_in}x{'x'.join(map(str, spatial))}-w{c_out}x{c_in // groups}x{'x'.join(map(str, kernel))}"
                   f"-s{stride}-p{padding}-d{dilation}-g{groups}")
            for a, b in ((" ", ""), ("(", ""), (")", ""), (",", "_"), ("'", "")):
                cid = cid.replace(a, b)
            out.append(Case({"x": x, "weight": weight, "bias": bias}, params, cid))
        return out

    return make


for _name, _fwd, _table, _seed, _what in (
    ("conv1d", conv1d, CONV1D_GEOMETRIES, 20261201, "1-D"),
    ("conv3d", conv3d, CONV3D_GEOMETRIES, 20261202, "3-D"),
):
    register(
        _name,
        summary=f"{_what} cross-correlation through the N-d core (Toeplitz blocks w.r.t. x, patches w.r.t. weight)",
        forward=_fwd,
        jacobian={"x": _jac_x, "weight": _jac_w, "bias": _jac_b},
        vjp={
            "x": {"im2col": convnd_vjp_input_im2col, "rot180": convnd_vjp_input_rot180},
            "weight": {"im2col": convnd_vjp_weight_im2col, "rot180": convnd_vjp_weight_rot180},
            "bias": {"sum": convnd_vjp_bias},
        },
        cases=_cases(_table, _seed),
        affine_in=("x", "weight", "bias"),
        structural=("bias",),
        torch_forward=_torch_convnd,
        reference=reference_convnd,
        param_names=_CONV_PARAMS,
        **show_kw(lambda: conv_show(_name, int(_name[4]))),
    )
