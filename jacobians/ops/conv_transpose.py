"""2-D transposed convolution (PyTorch's ``conv_transpose2d``, "deconvolution").

Shapes (canonical convention, PyTorch memory order, C-order vec)::

    x       (C_in, H, W)          or batched (N, C_in, H, W)
    weight  (C_in, C_out/groups, kh, kw)          (note: C_in first, unlike conv2d)
    bias    (C_out,)
    y       (C_out, OH, OW)       OH = (H − 1)·sh − 2·ph + dh·(kh − 1) + oph + 1

Forward, with ``G`` groups, ``cg = C_in/G``, ``og = C_out/G`` and output
channel ``o = g·og + o'``: every input entry scatters a kernel-sized stamp::

    y[o, p, q] = b[o] + Σ_{c, i, j, a, b'} x[g·cg + c, i, j] · w[g·cg + c, o', a, b']
                 over  p = i·sh − ph + a·dh,  q = j·sw − pw + b'·dw.

So ``∂y[o,p,q]/∂x[c,i,j] = w[c, o', a, b']`` for the (unique) tap with
``a·dh = p + ph − i·sh`` and ``b'·dw = q + pw − j·sw``, and
``∂y[o,p,q]/∂w[c,o',a,b'] = x[c, (p + ph − a·dh)/sh, (q + pw − b'·dw)/sw]``
when both quotients are integers inside the input.

The structural identity
-----------------------
The *matching* convolution is ``conv2d`` on an input of shape
``(C_out, OH, OW)`` with the same weight read as a conv2d weight
``(C_in, C_out/G, kh, kw)`` (C_in outputs), the same stride, padding,
dilation and groups. Its output has ``H' = H + ⌊oph/sh⌋`` rows (``H`` unless
``oph ≥ sh``, which PyTorch allows when ``oph < dh``), and, exactly,

    conv_transpose2d_input_jacobian = (S · conv2d_input_jacobian)ᵀ

with ``S`` selecting the conv2d output rows ``i < H``, ``j < W`` (the
identity when ``oph < sh`` and ``opw < sw``). The transposed convolution is
the adjoint of the convolution — its input gradient is a plain strided
``conv2d`` of ``g`` (:func:`conv_transpose2d_vjp_input_conv2d`). Seen from the
convolution, ``output_padding`` adds the rows/columns at the bottom/right of
the conv2d input that its windows never reach when ``H + 2p − d(k − 1) − 1``
is not a multiple of ``s``: their gradient is zero, and these are exactly the
rows ``rest_h`` that :func:`jacobians.ops.conv2d.conv2d_vjp_input_rot180` pads
(note 002 §3.2.3's completion seen from the other side). Adding
``output_padding`` only appends rows to the transposed convolution's Jacobian
(rows ``p ≥ OH(oph=0)`` of each plane): the rows of ``oph = 0`` are kept.

PyTorch's rules kept: ``padding`` is symmetric per axis (an int or a pair)
and crops the full output; ``output_padding`` must be smaller than the
stride or the dilation (each axis); the output must be non-empty.

Faces side by side below: forward (per group one GEMM, then
:func:`~jacobians.ops.conv2d.col2im` — the classic "deconvolution = col2im of
xᵀW"), explicit Jacobians written straight into CSR (rows and runs from
:mod:`._separable`, written in memory order by :mod:`._rowfill`; the 1-D, 2-D
and 3-D builders share :func:`_input_csr_nd` and :func:`_weight_columns_nd`),
VJPs by conv2d / im2col (input) and im2col / conv2d's rot180 weight gradient
(weight), an independent reference forward (loops over output entries).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..geometry import Conv2dGeometry, GeometryError, as_padding, as_pair, as_positive_int, as_shape, _short
from ..registry import Case, register
from ._show_resample import conv_transpose_show
from ._rowfill import Run, fill_block, replicate_channels
from ._separable import AxisRuns, NdFrame, SeparableFrame, axis_runs
from ._sparse import as_array, check_dense  # ragged input: one line; memory guard of the forwards
from ._sparse import (
    c_strides,
    Pattern,
    as_float_array,
    assemble,
    block_diag_repeat,
    check_budget,
    csr_from_arrays,
    exact_size,
    is_symbolic,
    resolve_dtype,
    vstack_csr,
)
from .conv2d import col2im, conv2d, conv2d_bias_jacobian, conv2d_vjp_weight_rot180, im2col

__all__ = [
    "ConvTranspose2dGeometry",
    "conv_transpose2d",
    "conv_transpose2d_reference",
    "conv_transpose2d_input_jacobian",
    "conv_transpose2d_weight_jacobian",
    "conv_transpose2d_bias_jacobian",
    "conv_transpose2d_vjp_input_conv2d",
    "conv_transpose2d_vjp_input_im2col",
    "conv_transpose2d_vjp_weight_im2col",
    "conv_transpose2d_vjp_weight_rot180",
    "conv_transpose2d_vjp_bias",
    "conv_transpose1d",
    "conv_transpose1d_reference",
    "conv_transpose1d_input_jacobian",
    "conv_transpose1d_weight_jacobian",
    "ConvTranspose3dGeometry",
    "conv_transpose3d",
    "conv_transpose3d_reference",
    "conv_transpose3d_input_jacobian",
    "conv_transpose3d_weight_jacobian",
    "conv_transpose3d_vjp_input_gather",
    "conv_transpose3d_vjp_weight_gather",
]


# ---------------------------------------------------------------------------
# geometry
# ---------------------------------------------------------------------------
def _symmetric_padding(value, name="padding") -> tuple[int, int]:
    """PyTorch's int or (ph, pw); the project's per-side (top, bottom, left, right) only when symmetric per axis."""
    if isinstance(value, (tuple, list)) and len(value) == 4:
        top, bottom, left, right = as_padding(value, name)
        if top != bottom or left != right:
            raise GeometryError(
                f"{name}: conv_transpose2d crops symmetrically, as PyTorch: an int, a pair (ph, pw) or "
                f"(top, bottom, left, right) with top = bottom and left = right (got {tuple(value)!r})"
            )
        return (top, left)
    return as_pair(value, name, allow_zero=True)


@dataclass(frozen=True)
class ConvTranspose2dGeometry:
    """Validated geometry of one 2-D transposed convolution (PyTorch's argument names and rules)."""

    in_channels: int
    height: int
    width: int
    out_channels: int
    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    output_padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1

    @classmethod
    def from_shapes(
        cls, input_shape, weight_shape, stride=1, padding=0, output_padding=0, groups=1, dilation=1
    ) -> "ConvTranspose2dGeometry":
        """Validate ``input_shape`` (C_in, H, W) and ``weight_shape`` (C_in, C_out/groups, kh, kw)."""
        c_in, h, w = as_shape(input_shape, "input_shape", 3)
        wc_in, og, kh, kw = as_shape(weight_shape, "weight_shape", 4)
        groups = as_positive_int(groups, "groups")
        if c_in % groups:
            raise GeometryError(f"groups: must divide C_in (C_in={c_in}, groups={groups})")
        if wc_in != c_in:
            raise GeometryError(
                f"weight_shape: weight_shape[0] must equal C_in = {c_in} (conv_transpose2d weight is "
                f"(C_in, C_out/groups, kh, kw)) (got {wc_in})"
            )
        stride = as_pair(stride, "stride")
        dilation = as_pair(dilation, "dilation")
        padding = _symmetric_padding(padding)
        output_padding = as_pair(output_padding, "output_padding", allow_zero=True)
        for ax, name in enumerate(("height", "width")):
            if not (output_padding[ax] < stride[ax] or output_padding[ax] < dilation[ax]):
                raise GeometryError(
                    f"output_padding: must be smaller than stride or dilation (PyTorch's rule) "
                    f"(got output_padding[{ax}] ({name}) = {output_padding[ax]} with stride {stride[ax]}, "
                    f"dilation {dilation[ax]})"
                )
        geom = cls(c_in, h, w, og * groups, (kh, kw), stride, padding, output_padding, dilation, groups)
        for ax, (name, size) in enumerate((("height", h), ("width", w))):
            out = geom.out_hw[ax]
            if out < 1:
                raise GeometryError(
                    f"padding: output {name} (size−1)·s − 2p + d(k−1) + output_padding + 1 = "
                    f"({size}−1)·{stride[ax]} − 2·{padding[ax]} + {dilation[ax]}·({(kh, kw)[ax]}−1) + "
                    f"{output_padding[ax]} + 1 = {out} must be positive"
                )
        return geom

    @property
    def input_shape(self):
        return (self.in_channels, self.height, self.width)

    @property
    def weight_shape(self):
        return (self.in_channels, self.out_channels // self.groups, *self.kernel)

    @property
    def in_per_group(self) -> int:
        return self.in_channels // self.groups

    @property
    def out_per_group(self) -> int:
        return self.out_channels // self.groups

    @property
    def out_hw(self) -> tuple[int, int]:
        return tuple(  # type: ignore[return-value]
            (n - 1) * s - 2 * p + d * (k - 1) + op + 1
            for n, s, p, d, k, op in zip(
                (self.height, self.width), self.stride, self.padding, self.dilation, self.kernel, self.output_padding
            )
        )

    @property
    def output_shape(self):
        return (self.out_channels, *self.out_hw)

    def as_conv(self) -> Conv2dGeometry:
        """The matching conv2d: input (C_out, OH, OW), weight (C_in, C_out/G, kh, kw), output (C_in, H', W')."""
        return Conv2dGeometry.from_shapes(
            self.output_shape, self.weight_shape, self.stride, self.padding, self.dilation, self.groups
        )


def _batched(x, name="x"):
    arr = as_array(x, "x")
    if arr.ndim == 3:
        return arr[None], True
    if arr.ndim == 4:
        return arr, False
    raise GeometryError(f"{name}: must have shape (C_in, H, W) or (N, C_in, H, W) (got {arr.ndim}-D shape {arr.shape})")


def _geometry(x_shape, weight_shape, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return ConvTranspose2dGeometry.from_shapes(
        tuple(x_shape)[-3:], weight_shape, stride, padding, output_padding, groups, dilation
    )


def _check_bias(bias, geom):
    bias = as_array(bias, "bias")
    if bias.shape != (geom.out_channels,):
        raise GeometryError(f"bias: must have shape ({geom.out_channels},) = (C_out,) (got {bias.shape})")
    return bias


# ---------------------------------------------------------------------------
# forward
# ---------------------------------------------------------------------------
def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed convolution of ``x`` with ``weight`` (PyTorch's ``conv_transpose2d``).

    Parameters
    ----------
    x : array (C_in, H, W) or (N, C_in, H, W)
    weight : array (C_in, C_out/groups, kh, kw)
    bias : array (C_out,) or None
    stride, dilation : int or (h, w)
    padding : int or (ph, pw) — crops ph rows top and bottom, pw columns left and right
    output_padding : int or (h, w) — extra rows/columns at the bottom/right; < stride or < dilation
    groups : int

    Returns
    -------
    y : (C_out, OH, OW) or (N, C_out, OH, OW), OH = (H − 1)·sh − 2·ph + dh·(kh − 1) + oph + 1.

    Notes
    -----
    ``y[o,p,q] = b[o] + Σ x[g·cg + c, i, j] · w[g·cg + c, o', a, b']`` over
    ``p = i·sh − ph + a·dh``, ``q = j·sw − pw + b'·dw`` (see the module
    docstring). Computed per group as one GEMM ``x_colsᵀ · W`` giving every
    input entry's stamp, folded onto the output by ``col2im`` with the
    geometry of the matching convolution.

    Examples
    --------
    The d2l example (2×2 input, 2×2 kernel, stride 1):

    >>> conv_transpose2d(np.array([[[0., 1.], [2., 3.]]]), np.array([[[[0., 1.], [2., 3.]]]]))[0]
    array([[ 0.,  0.,  1.],
           [ 0.,  4.,  6.],
           [ 4., 12.,  9.]])
    """
    x4, squeeze = _batched(x)
    weight = as_array(weight, "weight")
    geom = _geometry(x4.shape, weight.shape, stride, padding, output_padding, groups, dilation)
    dt = resolve_dtype(None, x4, weight)
    conv = geom.as_conv()
    hc, wc = conv.out_hw  # H' ≥ H, W' ≥ W: positions the matching convolution's windows start at
    n = x4.shape[0]
    cg, og, (kh, kw) = geom.in_per_group, geom.out_per_group, geom.kernel
    oh, ow = geom.out_hw
    y = np.empty((n, geom.out_channels, oh, ow), dtype=dt)
    for grp in range(geom.groups):  # a handful of groups, each one GEMM + one col2im
        xg = np.zeros((n, cg, hc, wc), dtype=np.float64)
        xg[:, :, : geom.height, : geom.width] = x4[:, grp * cg : (grp + 1) * cg]
        cols = xg.reshape(n, cg, hc * wc).transpose(0, 2, 1) @ weight[grp * cg : (grp + 1) * cg].reshape(cg, og * kh * kw)
        y[:, grp * og : (grp + 1) * og] = col2im(cols, (og, oh, ow), geom.kernel, geom.stride, geom.padding, geom.dilation)
    if bias is not None:
        y += _check_bias(bias, geom)[None, :, None, None]
    return y[0] if squeeze else y


def conv_transpose2d_reference(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Loops over output entries straight from the defining sum (small cases only; the check's reference)."""
    x4, squeeze = _batched(x)
    weight = np.asarray(weight, dtype=np.float64)
    geom = _geometry(x4.shape, weight.shape, stride, padding, output_padding, groups, dilation)
    (sh, sw), (ph, pw), (dh, dw), (kh, kw) = geom.stride, geom.padding, geom.dilation, geom.kernel
    cg, og = geom.in_per_group, geom.out_per_group
    oh, ow = geom.out_hw
    y = np.zeros((x4.shape[0], geom.out_channels, oh, ow))
    for n in range(x4.shape[0]):
        for o in range(geom.out_channels):
            g, o_ = divmod(o, og)
            for p in range(oh):
                for q in range(ow):
                    total = 0.0 if bias is None else float(bias[o])
                    for c in range(g * cg, (g + 1) * cg):
                        for a in range(kh):
                            num_i = p + ph - a * dh
                            if num_i % sh or not 0 <= num_i // sh < geom.height:
                                continue
                            for b in range(kw):
                                num_j = q + pw - b * dw
                                if num_j % sw or not 0 <= num_j // sw < geom.width:
                                    continue
                                total += float(x4[n, c, num_i // sh, num_j // sw]) * weight[c, o_, a, b]
                    y[n, o, p, q] = total
    return y[0] if squeeze else y


# ---------------------------------------------------------------------------
# explicit Jacobians: straight into CSR
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class _Axis:
    """One axis of a transposed convolution: runs, and per run its taps and input indices."""

    runs: AxisRuns
    taps: tuple  # per run: int64 array of taps a (ascending, or descending for the input Jacobian)
    first: tuple  # per run: input index i of each tap at the run's first position
    step: tuple  # per run: input-index step between consecutive positions of the run


def _axis(n_in, n_out, k, s, pad, d, descending) -> _Axis:
    """Taps of each output position: a with (p + pad − a·d) divisible by s and the quotient in [0, n_in)."""
    num = np.arange(n_out, dtype=np.int64)[:, None] + pad - np.arange(k, dtype=np.int64)[None, :] * d
    valid = (num % s == 0) & (num >= 0) & (num < n_in * s)
    # key: the tap set of a position (positions of one residue class share it, away from the borders)
    keys = valid.astype(np.int64) @ (np.int64(1) << np.arange(k, dtype=np.int64)) if k < 62 else np.unique(
        valid, axis=0, return_inverse=True
    )[1].ravel()
    runs = axis_runs(keys, valid.sum(axis=1))
    taps, first, step = [], [], []
    for pos in runs.runs:
        t = np.flatnonzero(valid[pos[0]])
        t = t[::-1] if descending else t
        taps.append(t)
        first.append((pos[0] + pad - t * d) // s)
        step.append(int(pos[1] - pos[0]) // s if pos.size > 1 else 0)
    return _Axis(runs, tuple(taps), tuple(first), tuple(step))


def _axes(geom: ConvTranspose2dGeometry, descending: bool):
    oh, ow = geom.out_hw
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = geom.kernel, geom.stride, geom.padding, geom.dilation
    return (
        _axis(geom.height, oh, kh, sh, ph, dh, descending),
        _axis(geom.width, ow, kw, sw, pw, dw, descending),
    )


def _tap_count(n_in, n_out, k, s, pad, d) -> int:
    """Number of (output position, tap) pairs of one axis that land on the input (exact, a Python int)."""
    # closed form per tap a: the t = o + pad − a·d (o in [0, n_out)) that are multiples of s in [0, n_in·s);
    # Python ints only, nothing of the output's size is allocated (the memory guard runs on this count)
    total = 0
    for a in range(int(k)):
        lo, hi = max(0, pad - a * d), min(n_in * s - 1, n_out - 1 + pad - a * d)
        if hi >= lo:
            total += hi // s - (-(-lo // s)) + 1
    return total


def _expected_nnz(geom: ConvTranspose2dGeometry) -> int:
    """Exact nnz by counting taps per axis (Python ints, before any CSR allocation)."""
    totals = [
        _tap_count(*a)
        for a in zip((geom.height, geom.width), geom.out_hw, geom.kernel, geom.stride, geom.padding, geom.dilation)
    ]
    return exact_size((geom.out_channels, geom.in_per_group, *totals))


def _run_pairs(hax: _Axis, wax: _Axis):
    for rh, ph in enumerate(hax.runs.runs):
        for rw, pw in enumerate(wax.runs.runs):
            yield ph, pw, (hax.taps[rh], hax.first[rh], hax.step[rh]), (wax.taps[rw], wax.first[rw], wax.step[rw])


def _writer_axes(axes, shift_per_index):
    """Per axis, the runs in position order for :func:`._rowfill.fill_block`, and their numbers in ``axes``.

    A run's ``shift`` is its input-index step times ``shift_per_index`` of the axis (the input's
    stride along it: what the columns of the input Jacobian advance per position)."""
    runs, numbers = [], []
    for ax, st in zip(axes, shift_per_index):
        order = sorted(range(len(ax.runs.runs)), key=lambda r: int(ax.runs.runs[r][0]))
        here = []
        for r in order:
            pos = ax.runs.runs[r]
            n = int(ax.runs.counts[pos[0]])
            step = int(ax.runs.before[pos[1]] - ax.runs.before[pos[0]]) if pos.size > 1 else n
            here.append(Run(int(ax.runs.before[pos[0]]), int(pos.size), step, n, int(ax.step[r]) * st))
        runs.append(here)
        numbers.append(order)
    return runs, numbers


def _input_csr_nd(weight, axes, spatial, cg: int, og: int, frame: NdFrame, dtype):
    """(data, indices) of the input Jacobian, 2-D and 3-D: rows (o, *p), entries (c, *i ascending).

    Values w[g·cg + c, o', *taps] (taps descending) are the same for every row of a product
    of runs; columns c·vol + Σ i·stride_in shift by Σ t·step·stride_in down the runs. So the
    run-replication writer (:mod:`._rowfill`) fills the values channel by channel in memory
    order, and the columns of channel 0, copied to the others plus their group's offset.
    """
    nd = len(axes)
    instride = c_strides(spatial)
    vol = exact_size(spatial)
    c_out, per, idx = frame.n_blocks, frame.per_block, frame.index_dtype
    data = np.empty(frame.nnz, dtype=dtype)
    indices = np.empty(frame.nnz, dtype=idx)
    weight = np.asarray(weight, dtype=dtype)
    kernel = weight.shape[2:]
    # (C_in, og, *k) -> (C_out, cg, *k): output channel o = g·og + o' reads w[g·cg + c, o']
    w = weight.reshape(c_out // og, cg, og, *kernel).swapaxes(1, 2).reshape(c_out, cg, *kernel)
    runs, numbers = _writer_axes(axes, instride)
    # first rows are made when the writer asks for them (once per product of runs and channel):
    # tables of all of them could be as large as the CSR (runs of length 1)
    def taps(key):
        return np.ix_(*(a.taps[numbers[ax][n]] for ax, (a, n) in enumerate(zip(axes, key))))

    def columns(key):  # columns of the first row in channel 0: c·vol + Σ i·stride_in (valid input indices)
        cols = np.arange(cg, dtype=np.int64).reshape((-1,) + (1,) * nd) * vol
        for k, (a, r) in enumerate(zip(axes, (numbers[ax][n] for ax, n in enumerate(key)))):
            cols = cols + (a.first[r] * instride[k]).reshape([1] + [-1 if j == k else 1 for j in range(nd)])
        return cols.ravel().astype(idx)

    for o in range(c_out):
        fill_block(data[o * per : (o + 1) * per], runs, cg, lambda key: w[o][(slice(None),) + taps(key)].reshape(-1))
    fill_block(indices[:per], runs, cg, columns, shifted=True)
    replicate_channels(indices, per, offsets=(np.arange(c_out, dtype=np.int64) // og) * (cg * vol))
    return data, indices


def _weight_columns_nd(indices, axes, kernel, cg: int, og: int, frame: NdFrame):
    """Columns of the weight Jacobian, 2-D and 3-D: row (o, *p) entry (c, *a) is w[g·cg + c, o', *a].

    The column ((g·cg + c)·og + o')·Πk + Σ a·kstride is channel 0's (c·og·Πk + Σ a·kstride, the same
    for every row of a product of runs) plus (g·cg·og + o')·Πk: channel 0 is written by the
    run-replication writer, the others are copies of it plus that offset.
    """
    nd = len(axes)
    ksize = exact_size(kernel)
    kstride = c_strides(kernel)
    c_out, per, idx = frame.n_blocks, frame.per_block, frame.index_dtype
    runs, numbers = _writer_axes(axes, [0] * nd)

    def columns(key):
        cols = np.arange(cg, dtype=np.int64).reshape((-1,) + (1,) * nd) * (og * ksize)
        for k, (a, r) in enumerate(zip(axes, (numbers[ax][n] for ax, n in enumerate(key)))):
            cols = cols + (a.taps[r] * kstride[k]).reshape([1] + [-1 if j == k else 1 for j in range(nd)])
        return cols.ravel().astype(idx)

    fill_block(indices[:per], runs, cg, columns)
    o = np.arange(c_out, dtype=np.int64)
    replicate_channels(indices, per, offsets=((o // og) * (cg * og) + o % og) * ksize)


def _input_csr(weight, geom: ConvTranspose2dGeometry, dtype):
    """Rows (o, p, q), entries (c, i ascending, j ascending): values w[c, o', a, b'], columns c·H·W + i·W + j."""
    axes = _axes(geom, descending=True)  # a descending ⇔ i ascending: sorted columns
    frame = SeparableFrame(axes[0].runs, axes[1].runs, geom.in_per_group, geom.out_channels,
                           geom.in_channels * geom.height * geom.width)
    data, indices = _input_csr_nd(weight, axes, (geom.height, geom.width), geom.in_per_group, geom.out_per_group,
                                  frame, dtype)
    return csr_from_arrays(data, indices, frame.indptr(), frame.shape, what="conv_transpose2d_input_jacobian")


def _weight_csr(x, geom: ConvTranspose2dGeometry, dtype):
    """Rows (o, p, q), entries (c, a ascending, b' ascending): values x[c, i, j], columns of w[c, o', a, b']."""
    hax, wax = _axes(geom, descending=False)
    height, width = geom.height, geom.width
    cg, og, (kh, kw) = geom.in_per_group, geom.out_per_group, geom.kernel
    k = kh * kw
    frame = SeparableFrame(hax.runs, wax.runs, cg, geom.out_channels, geom.in_channels * og * k)
    idx = frame.index_dtype
    data = np.empty(frame.nnz, dtype=dtype)
    indices = np.empty(frame.nnz, dtype=idx)
    x = np.ascontiguousarray(x, dtype=dtype)
    flat, item = x.reshape(-1), x.itemsize
    pairs = list(_run_pairs(hax, wax))
    for grp in range(geom.groups):
        block = data[grp * og * frame.per_block : (grp * og + 1) * frame.per_block]
        for ph, pw, (ta, i0, di), (tb, j0, dj) in pairs:
            # x[g·cg + c, i0[e] + t·di, j0[f] + u·dj]: every index valid, taps in arithmetic progression
            de = int(i0[1] - i0[0]) if i0.size > 1 else 0
            df = int(j0[1] - j0[0]) if j0.size > 1 else 0
            start = (grp * cg * height + int(i0[0])) * width + int(j0[0])
            window = as_strided(
                flat[start:],
                shape=(ph.size, pw.size, cg, i0.size, j0.size),
                strides=tuple(v * item for v in (di * width, dj, height * width, de * width, df)),
                writeable=False,
            )
            np.copyto(frame.view(block, ph, pw), window)
    # the og channels of a group hold the same values: copied in cache-sized chunks
    replicate_channels(data, frame.per_block, groups=geom.groups)
    _weight_columns_nd(indices, (hax, wax), geom.kernel, cg, og, frame)
    return csr_from_arrays(data, indices, frame.indptr(), frame.shape, what="conv_transpose2d_weight_jacobian")


def _symbolic(builder, values, geom, n, what):
    """sympy matrix from the float builder run on value *positions* (1, 2, …): the same index arithmetic.

    Positions up to 2⁵³ are exact in float64; the stored value k becomes ``values.ravel()[k − 1]``.
    """
    positions = np.arange(1, values.size + 1, dtype=np.float64).reshape(values.shape)
    numeric = builder(positions, geom, np.dtype(np.float64))
    source = numeric.data.astype(np.int64) - 1
    block = assemble(Pattern(numeric.indptr, numeric.indices, source, numeric.shape), values, what=what)
    if n == 1:
        return block
    import sympy

    return sympy.ImmutableSparseMatrix(sympy.diag(*([block] * n)))


def conv_transpose2d_input_jacobian(
    weight, input_shape, stride=1, padding=0, output_padding=0, groups=1, dilation=1, *, dtype=None, max_bytes=None
):
    """∂vec(y)/∂vec(x) of the transposed convolution — the transpose of the matching conv2d's M_F^filter.

    Parameters
    ----------
    weight : (C_in, C_out/groups, kh, kw)
    input_shape : (C_in, H, W), or (N, C_in, H, W) for the batched map (block-diagonal over samples)
    stride, padding, output_padding, groups, dilation : as :func:`conv_transpose2d`
    dtype : value dtype (default by the dtype rule: float32 weight stays float32)
    max_bytes : refuse (OperatorTooLargeError) when the CSR would exceed it

    Returns
    -------
    csr_array of shape (C_out·OH·OW, C_in·H·W) (times N on both sides for a batch).

    Notes
    -----
    ``∂y[o,p,q]/∂x[c,i,j] = w[c, o', a, b']`` when ``p = i·sh − ph + a·dh`` and
    ``q = j·sw − pw + b'·dw`` (``c`` in the group of ``o``), else 0. Equal
    (exactly) to ``(S · conv2d_input_jacobian(weight, (C_out, OH, OW), …))ᵀ``
    (module docstring). Built directly in CSR from per-axis tap runs (rows
    with the same tap set share their values), never by transposing.

    Examples
    --------
    >>> conv_transpose2d_input_jacobian(np.array([[[[1., 2.]]]]), (1, 1, 2), stride=2).toarray()
    array([[1., 0.],
           [2., 0.],
           [0., 1.],
           [0., 2.]])
    """
    weight = as_float_array(weight, "weight", dtype)
    dt = resolve_dtype(dtype, weight) if not is_symbolic(weight) else np.dtype(np.float64)
    shape_in = as_shape(input_shape, "input_shape", (3, 4))
    geom = _geometry(shape_in, weight.shape, stride, padding, output_padding, groups, dilation)
    n = shape_in[0] if len(shape_in) == 4 else 1
    shape = (exact_size(geom.output_shape), exact_size(geom.input_shape))
    check_budget("conv_transpose2d input Jacobian", n * _expected_nnz(geom), (n * shape[0], n * shape[1]), dt, max_bytes)
    if is_symbolic(weight):
        return _symbolic(_input_csr, weight, geom, n, "conv_transpose2d_input_jacobian")
    block = _input_csr(weight, geom, dt)
    return block if len(shape_in) == 3 else block_diag_repeat(block, n, max_bytes=max_bytes)


def conv_transpose2d_weight_jacobian(
    x, weight_shape, stride=1, padding=0, output_padding=0, groups=1, dilation=1, *, dtype=None, max_bytes=None
):
    """∂vec(y)/∂vec(weight) of the transposed convolution.

    Parameters
    ----------
    x : (C_in, H, W), or (N, C_in, H, W) (the per-sample blocks stacked vertically)
    weight_shape : (C_in, C_out/groups, kh, kw)

    Returns
    -------
    csr_array of shape (C_out·OH·OW, C_in·(C_out/groups)·kh·kw) (N times the rows for a batch).

    Notes
    -----
    ``∂y[o,p,q]/∂w[c,o',a,b'] = x[c, (p + ph − a·dh)/sh, (q + pw − b'·dw)/sw]`` when
    ``o = g(c)·og + o'`` and both quotients are integers inside the input, else 0.
    Every row of output channel o holds values of its group's inputs only.

    Examples
    --------
    >>> conv_transpose2d_weight_jacobian(np.array([[[1., 2.]]]), (1, 1, 1, 2)).toarray()
    array([[1., 0.],
           [2., 1.],
           [0., 2.]])
    """
    x = as_float_array(x, "x", dtype)
    dt = resolve_dtype(dtype, x) if not is_symbolic(x) else np.dtype(np.float64)
    x4, squeeze = _batched(x)
    geom = _geometry(x4.shape, weight_shape, stride, padding, output_padding, groups, dilation)
    n = x4.shape[0]
    shape = (n * exact_size(geom.output_shape), exact_size(geom.weight_shape))
    check_budget("conv_transpose2d weight Jacobian", n * _expected_nnz(geom), shape, dt, max_bytes)
    if is_symbolic(x):
        if not squeeze:
            raise GeometryError(f"x: symbolic values take one image (C_in, H, W) (got shape {x.shape})")
        return _symbolic(_weight_csr, x, geom, 1, "conv_transpose2d_weight_jacobian")
    blocks = [_weight_csr(x4[k], geom, dt) for k in range(n)]
    return blocks[0] if squeeze else vstack_csr(blocks, max_bytes=max_bytes)


def conv_transpose2d_bias_jacobian(out_shape, *, dtype=None):
    """∂vec(y)/∂b for y of shape (C_out, OH, OW) or (N, C_out, OH, OW): a 1 in column o of row (·, o, p, q)."""
    out_shape = as_shape(out_shape, "out_shape", (3, 4))
    block = conv2d_bias_jacobian(out_shape[-3:], dtype=dtype)
    return block if len(out_shape) == 3 else vstack_csr([block] * out_shape[0])


# ---------------------------------------------------------------------------
# VJPs (never touching the explicit matrices)
# ---------------------------------------------------------------------------
def _grad4(g, geom, n):
    g = np.asarray(g, dtype=np.float64)
    g4 = g[None] if g.ndim == 3 else g
    if g4.shape != (n, *geom.output_shape):
        raise GeometryError(f"g: must have the output's shape {(n, *geom.output_shape)} (got {g.shape})")
    return g4


def conv_transpose2d_vjp_input_conv2d(
    g, x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """∂L/∂x = conv2d(g, weight) — a plain strided convolution with the same weight, stride, padding, dilation.

    The transposed convolution is the adjoint of the matching convolution, so
    its input gradient *is* that convolution applied to ``g`` (read ``weight``
    (C_in, C_out/G, kh, kw) as a conv2d weight with C_in outputs). The conv2d
    output has H + ⌊oph/sh⌋ rows; rows from H on belong to no input entry and
    are dropped.
    """
    x4, squeeze = _batched(x)
    weight = np.asarray(weight, dtype=np.float64)
    geom = _geometry(x4.shape, weight.shape, stride, padding, output_padding, groups, dilation)
    g4 = _grad4(g, geom, x4.shape[0])
    out = conv2d(g4, weight, stride=geom.stride, padding=geom.padding, dilation=geom.dilation, groups=geom.groups)
    out = out[:, :, : geom.height, : geom.width]
    return out[0] if squeeze else out


def conv_transpose2d_vjp_input_im2col(
    g, x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """∂L/∂x[c,i,j] = Σ φ(g)[(i,j), (o',a,b')] · w[c, o', a, b'] per group: patches of g times the weight matrix."""
    x4, squeeze = _batched(x)
    weight = np.asarray(weight, dtype=np.float64)
    geom = _geometry(x4.shape, weight.shape, stride, padding, output_padding, groups, dilation)
    g4 = _grad4(g, geom, x4.shape[0])
    conv = geom.as_conv()
    hc, wc = conv.out_hw
    n, cg, og = x4.shape[0], geom.in_per_group, geom.out_per_group
    out = np.empty((n, geom.in_channels, geom.height, geom.width))
    for grp in range(geom.groups):
        phi = im2col(g4[:, grp * og : (grp + 1) * og], geom.kernel, geom.stride, geom.padding, geom.dilation)
        mat = weight[grp * cg : (grp + 1) * cg].reshape(cg, -1)  # (cg, og·kh·kw)
        full = (phi @ mat.T).transpose(0, 2, 1).reshape(n, cg, hc, wc)
        out[:, grp * cg : (grp + 1) * cg] = full[:, :, : geom.height, : geom.width]
    return out[0] if squeeze else out


def conv_transpose2d_vjp_weight_im2col(
    g, x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """∂L/∂w[c,o',a,b'] = Σ_{n,i,j} x[n,c,i,j] · φ(g)[n,(i,j),(o',a,b')] — inputs against patches of g."""
    x4, _ = _batched(x)
    weight = np.asarray(weight)
    geom = _geometry(x4.shape, weight.shape, stride, padding, output_padding, groups, dilation)
    g4 = _grad4(g, geom, x4.shape[0])
    hc, wc = geom.as_conv().out_hw
    n, cg, og = x4.shape[0], geom.in_per_group, geom.out_per_group
    out = np.empty(weight.shape)
    for grp in range(geom.groups):
        phi = im2col(g4[:, grp * og : (grp + 1) * og], geom.kernel, geom.stride, geom.padding, geom.dilation)
        phi = phi.reshape(n, hc, wc, -1)[:, : geom.height, : geom.width]  # (N, H, W, og·kh·kw)
        out[grp * cg : (grp + 1) * cg] = np.einsum(
            "ncij,nijk->ck", x4[:, grp * cg : (grp + 1) * cg].astype(np.float64), phi
        ).reshape(cg, og, *geom.kernel)
    return out


def conv_transpose2d_vjp_weight_rot180(
    g, x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """∂L/∂w as conv2d's weight gradient with the roles swapped: input g, upstream x.

    ⟨g, convT(x; w)⟩ = ⟨conv2d(g; w), x⟩, so ∂L/∂w is the weight gradient of
    ``conv2d(g, w)`` for the upstream gradient ``x`` (zero-extended to the
    conv2d's H' × W' output), by :func:`~jacobians.ops.conv2d.conv2d_vjp_weight_rot180`.
    """
    x4, _ = _batched(x)
    weight = np.asarray(weight)
    geom = _geometry(x4.shape, weight.shape, stride, padding, output_padding, groups, dilation)
    g4 = _grad4(g, geom, x4.shape[0])
    hc, wc = geom.as_conv().out_hw
    up = np.zeros((x4.shape[0], geom.in_channels, hc, wc))
    up[:, :, : geom.height, : geom.width] = x4
    return conv2d_vjp_weight_rot180(
        up, g4, weight, stride=geom.stride, padding=geom.padding, dilation=geom.dilation, groups=geom.groups
    )


def conv_transpose2d_vjp_bias(g, x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """∂L/∂b[o] = Σ over batch and positions of g[·, o, ·, ·]."""
    g = np.asarray(g, dtype=np.float64)
    return g.sum(axis=(-2, -1)) if g.ndim == 3 else g.sum(axis=(0, 2, 3))


# ---------------------------------------------------------------------------
# 1-D front door: a 1-D transposed convolution is the 2-D one on a height-1 image
# ---------------------------------------------------------------------------
def _one(value, name, allow_zero=False):
    """An int or a 1-tuple (PyTorch's 1-D argument forms) as an int, validated under its own name."""
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise GeometryError(f"{name}: must be an int or a 1-tuple for conv_transpose1d (got {_short(value)})")
        value = value[0]
    return as_positive_int(value, name, allow_zero=allow_zero)


def _lift(stride, padding, output_padding, dilation):
    """1-D arguments as 2-D ones acting on the width only (height 1, kernel height 1, all trivial)."""
    return dict(
        stride=(1, _one(stride, "stride")),
        padding=(0, _one(padding, "padding", allow_zero=True)),
        output_padding=(0, _one(output_padding, "output_padding", allow_zero=True)),
        dilation=(1, _one(dilation, "dilation")),
    )


def _lift_x(x, name="x"):
    arr = as_array(x, "x")
    if arr.ndim not in (2, 3):
        raise GeometryError(f"{name}: must have shape (C_in, L) or (N, C_in, L) (got {arr.ndim}-D shape {arr.shape})")
    return arr[..., None, :]


def _lift_w(weight_shape):
    shape = as_shape(weight_shape, "weight_shape", 3)
    return shape[:2] + (1, shape[2])


def conv_transpose1d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """1-D transposed convolution (PyTorch's ``conv_transpose1d``), through the 2-D one with height 1.

    Parameters
    ----------
    x : (C_in, L) or (N, C_in, L); weight : (C_in, C_out/groups, k); bias : (C_out,) or None

    Returns
    -------
    y : (C_out, OL) or (N, C_out, OL), OL = (L − 1)·s − 2p + d(k − 1) + op + 1

    Notes
    -----
    ``y[o, p] = b[o] + Σ x[g·cg + c, i] · w[g·cg + c, o', a]`` over ``p = i·s − pad + a·d``.
    The C-order vec of (C, 1, L) is that of (C, L), so every face (and Jacobian) is the 2-D one's.

    Examples
    --------
    >>> conv_transpose1d(np.array([[1., 2.]]), np.array([[[1., 1., 1.]]]), stride=2)
    array([[1., 1., 3., 2., 2.]])
    """
    lifted = _lift(stride, padding, output_padding, dilation)
    w = as_array(weight, "weight")
    y = conv_transpose2d(_lift_x(x), w.reshape(_lift_w(w.shape)), bias, groups=groups, **lifted)
    return y[..., 0, :]


def conv_transpose1d_input_jacobian(
    weight, input_shape, stride=1, padding=0, output_padding=0, groups=1, dilation=1, *, dtype=None, max_bytes=None
):
    """∂vec(y)/∂vec(x) of :func:`conv_transpose1d`: input_shape (C_in, L) or (N, C_in, L); shape (C_out·OL, C_in·L)."""
    shape = as_shape(input_shape, "input_shape", (2, 3))
    w = as_array(weight, "weight")
    return conv_transpose2d_input_jacobian(
        w.reshape(_lift_w(w.shape)), shape[:-1] + (1, shape[-1]), groups=groups, dtype=dtype, max_bytes=max_bytes,
        **_lift(stride, padding, output_padding, dilation),
    )


def conv_transpose1d_weight_jacobian(
    x, weight_shape, stride=1, padding=0, output_padding=0, groups=1, dilation=1, *, dtype=None, max_bytes=None
):
    """∂vec(y)/∂vec(weight) of :func:`conv_transpose1d`: weight_shape (C_in, C_out/groups, k)."""
    return conv_transpose2d_weight_jacobian(
        _lift_x(x), _lift_w(weight_shape), groups=groups, dtype=dtype, max_bytes=max_bytes,
        **_lift(stride, padding, output_padding, dilation),
    )


def _vjp1d(route):
    def vjp(g, x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
        w = np.asarray(weight)
        out = route(
            np.asarray(g)[..., None, :], _lift_x(x), w.reshape(_lift_w(w.shape)), groups=groups,
            **_lift(stride, padding, output_padding, dilation),
        )
        return out[..., 0, :] if route is not conv_transpose2d_vjp_bias else out

    vjp.__name__ = vjp.__qualname__ = route.__name__.replace("2d", "1d")
    vjp.__doc__ = f"{route.__name__} on the height-1 lift (see :func:`conv_transpose1d`)."
    return vjp


def conv_transpose1d_reference(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Loops over output entries from the 1-D formula (the check's reference)."""
    x = np.asarray(x, dtype=np.float64)
    x3 = x[None] if x.ndim == 2 else x
    weight = np.asarray(weight, dtype=np.float64)
    s, pad, op, d = (
        _one(v, name, zero)
        for v, name, zero in (
            (stride, "stride", False),
            (padding, "padding", True),
            (output_padding, "output_padding", True),
            (dilation, "dilation", False),
        )
    )
    c_in, og, k = weight.shape
    cg, length = c_in // groups, x3.shape[-1]
    out_len = (length - 1) * s - 2 * pad + d * (k - 1) + op + 1
    y = np.zeros((x3.shape[0], og * groups, out_len))
    for n in range(x3.shape[0]):
        for o in range(og * groups):
            g, o_ = divmod(o, og)
            for p in range(out_len):
                total = 0.0 if bias is None else float(bias[o])
                for c in range(g * cg, (g + 1) * cg):
                    for a in range(k):
                        num = p + pad - a * d
                        if num % s == 0 and 0 <= num // s < length:
                            total += x3[n, c, num // s] * weight[c, o_, a]
                y[n, o, p] = total
    return y[0] if x.ndim == 2 else y


# ---------------------------------------------------------------------------
# registration
# ---------------------------------------------------------------------------
_PARAMS = ("stride", "padding", "output_padding", "groups", "dilation")


def _params(p):
    return {k: p[k] for k in _PARAMS if k in p}


def _jac_x(x, weight, bias=None, **p):
    return conv_transpose2d_input_jacobian(weight, np.shape(x), **_params(p))


def _jac_w(x, weight, bias=None, **p):
    return conv_transpose2d_weight_jacobian(x, np.shape(weight), **_params(p))


def _jac_b(x, weight, bias=None, **p):
    geom = _geometry(np.shape(x), np.shape(weight), **_params(p))
    n = np.shape(x)[:-3]
    return conv_transpose2d_bias_jacobian((*n, *geom.output_shape))


def _torch_conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    import torch.nn.functional as F

    xb = x[None] if x.dim() == 3 else x
    y = F.conv_transpose2d(xb, weight, bias, stride, padding, output_padding, groups, dilation)
    return y[0] if x.dim() == 3 else y


#: (C_in, H, W, C_out, kh, kw, stride, padding, output_padding, groups, dilation): the generic check's table
CONV_TRANSPOSE_GEOMETRIES = [
    (1, 2, 2, 1, 2, 2, 1, 0, 0, 1, 1),  # d2l's example
    (1, 2, 2, 1, 3, 3, 2, 0, 0, 1, 1),  # d2l-style, stride 2
    (2, 3, 4, 3, 3, 3, 2, 1, 1, 1, 1),  # the usual 2× upsampling layer
    (2, 3, 3, 2, 3, 2, (2, 3), (1, 0), (1, 2), 1, 1),
    (2, 4, 3, 4, 2, 3, 1, (1, 1), 0, 2, (2, 1)),  # groups, dilation
    (3, 3, 3, 3, 3, 3, 3, 1, 2, 3, 1),  # depthwise, output_padding = stride − 1
    (1, 3, 2, 2, 2, 2, 1, 0, (1, 1), 1, (2, 3)),  # output_padding ≥ stride, allowed by dilation
    (2, 2, 3, 2, 3, 3, (1, 2), 2, (0, 1), 2, 2),
    (1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1),
    (1, 1, 4, 1, 1, 3, 2, 0, 1, 1, 1),
    (2, 5, 4, 1, 4, 3, 3, 2, 1, 1, 1),  # kernel larger than the stride, big crop
]


def _make_case(rng, x_shape, weight_shape, params):
    """A registered case: random x, weight, bias (C_out = weight_shape[1]·groups), an id from shapes and params."""
    c_out = weight_shape[1] * params.get("groups", 1)
    inputs = {
        "x": rng.standard_normal(x_shape),
        "weight": rng.standard_normal(weight_shape),
        "bias": rng.standard_normal(c_out),
    }
    cid = f"x{'x'.join(map(str, x_shape))}-w{'x'.join(map(str, weight_shape))}-" + "-".join(
        f"{key[:2]}{value}" for key, value in params.items()
    )
    for a, b in ((" ", ""), ("(", ""), (")", ""), (",", "_")):
        cid = cid.replace(a, b)
    return Case(inputs, params, cid)


def _case(spec, rng, batch=None):
    c_in, h, w, c_out, kh, kw, s, p, op, g, d = spec
    shape = (c_in, h, w) if batch is None else (batch, c_in, h, w)
    params = dict(stride=s, padding=p, output_padding=op, groups=g, dilation=d)
    return _make_case(rng, shape, (c_in, c_out // g, kh, kw), params)


def conv_transpose2d_cases():
    rng = np.random.default_rng(20261201)
    cases = [_case(spec, rng) for spec in CONV_TRANSPOSE_GEOMETRIES]
    cases.append(_case(CONV_TRANSPOSE_GEOMETRIES[2], rng, batch=2))  # the batch rule
    return cases


register(
    "conv_transpose2d",
    summary="2-D transposed convolution (the adjoint of conv2d; output_padding the extra rows/columns)",
    forward=conv_transpose2d,
    jacobian={"x": _jac_x, "weight": _jac_w, "bias": _jac_b},
    vjp={
        "x": {"conv2d": conv_transpose2d_vjp_input_conv2d, "im2col": conv_transpose2d_vjp_input_im2col},
        "weight": {"im2col": conv_transpose2d_vjp_weight_im2col, "rot180": conv_transpose2d_vjp_weight_rot180},
        "bias": {"sum": conv_transpose2d_vjp_bias},
    },
    cases=conv_transpose2d_cases,
    affine_in=("x", "weight", "bias"),
    structural=("bias",),
    torch_forward=_torch_conv_transpose2d,
    reference=conv_transpose2d_reference,
    param_names=_PARAMS,
    show=conv_transpose_show("conv_transpose2d", 2),
)


def _torch_conv_transpose1d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    import torch.nn.functional as F

    xb = x[None] if x.dim() == 2 else x
    y = F.conv_transpose1d(xb, weight, bias, stride, padding, output_padding, groups, dilation)
    return y[0] if x.dim() == 2 else y


#: (C_in, L, C_out, k, stride, padding, output_padding, groups, dilation, batch)
CONV_TRANSPOSE1D_GEOMETRIES = [
    (1, 2, 1, 3, 2, 0, 0, 1, 1, None),
    (2, 4, 4, 3, 2, 1, 1, 2, 1, None),
    (3, 3, 3, 2, 1, 0, 1, 3, 2, None),  # output_padding ≥ stride, allowed by dilation
    (2, 5, 2, 4, 3, 2, 2, 1, 1, None),
    (2, 3, 4, 3, (2,), (1,), (1,), 1, (1,), 2),  # 1-tuples, batched
]


def conv_transpose1d_cases():
    rng = np.random.default_rng(20261205)
    out = []
    for c_in, length, c_out, k, s, p, op, g, d, batch in CONV_TRANSPOSE1D_GEOMETRIES:
        shape = (c_in, length) if batch is None else (batch, c_in, length)
        params = dict(stride=s, padding=p, output_padding=op, groups=g, dilation=d)
        out.append(_make_case(rng, shape, (c_in, c_out // g, k), params))
    return out


def _jac1_b(x, weight, bias=None, **p):
    # the output shape from the lifted 2-D geometry (no forward pass over zeros just to learn a shape)
    q = {"stride": 1, "padding": 0, "output_padding": 0, "dilation": 1, "groups": 1, **_params(p)}
    lifted = _lift(q["stride"], q["padding"], q["output_padding"], q["dilation"])
    x_shape = np.shape(x)
    geom = _geometry(x_shape[:-1] + (1, x_shape[-1]), _lift_w(np.shape(weight)), groups=q["groups"], **lifted)
    return conv_transpose2d_bias_jacobian((*x_shape[:-2], *geom.output_shape))


register(
    "conv_transpose1d",
    summary="1-D transposed convolution (the 2-D one on a height-1 image)",
    forward=conv_transpose1d,
    jacobian={
        "x": lambda x, weight, bias=None, **p: conv_transpose1d_input_jacobian(weight, np.shape(x), **_params(p)),
        "weight": lambda x, weight, bias=None, **p: conv_transpose1d_weight_jacobian(x, np.shape(weight), **_params(p)),
        "bias": _jac1_b,
    },
    vjp={
        "x": {"conv2d": _vjp1d(conv_transpose2d_vjp_input_conv2d), "im2col": _vjp1d(conv_transpose2d_vjp_input_im2col)},
        "weight": {"im2col": _vjp1d(conv_transpose2d_vjp_weight_im2col), "rot180": _vjp1d(conv_transpose2d_vjp_weight_rot180)},
        "bias": {"sum": _vjp1d(conv_transpose2d_vjp_bias)},
    },
    cases=conv_transpose1d_cases,
    affine_in=("x", "weight", "bias"),
    structural=("bias",),
    torch_forward=_torch_conv_transpose1d,
    reference=conv_transpose1d_reference,
    param_names=("output_padding", "groups"),
    # `show` takes --stride/--padding/--dilation as one value per axis (one axis here), see _show_resample
    show=conv_transpose_show("conv_transpose1d", 1),
)


# ---------------------------------------------------------------------------
# 3-D: the same index arithmetic on three axes (an N-d frame of tap runs)
# ---------------------------------------------------------------------------
_AXES3 = ("depth", "height", "width")


def _triple(value, name, allow_zero=False):
    if isinstance(value, (tuple, list)):
        if len(value) != 3:
            raise GeometryError(f"{name}: must be an int or a triple (depth, height, width) (got {_short(value)})")
        return tuple(
            as_positive_int(v, f"{name}[{k}] ({ax})", allow_zero=allow_zero) for k, (v, ax) in enumerate(zip(value, _AXES3))
        )
    v = as_positive_int(value, name, allow_zero=allow_zero)
    return (v, v, v)


@dataclass(frozen=True)
class ConvTranspose3dGeometry:
    """Validated geometry of a 3-D transposed convolution: input (C_in, D, H, W), weight (C_in, C_out/G, kd, kh, kw)."""

    in_channels: int
    spatial: tuple
    out_channels: int
    kernel: tuple
    stride: tuple
    padding: tuple
    output_padding: tuple
    dilation: tuple
    groups: int

    @classmethod
    def from_shapes(cls, input_shape, weight_shape, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
        c_in, *spatial = as_shape(input_shape, "input_shape", 4)
        wc_in, og, *kernel = as_shape(weight_shape, "weight_shape", 5)
        groups = as_positive_int(groups, "groups")
        if c_in % groups:
            raise GeometryError(f"groups: must divide C_in (C_in={c_in}, groups={groups})")
        if wc_in != c_in:
            raise GeometryError(f"weight_shape: weight_shape[0] must equal C_in = {c_in} (got {wc_in})")
        s, d = _triple(stride, "stride"), _triple(dilation, "dilation")
        p, op = _triple(padding, "padding", True), _triple(output_padding, "output_padding", True)
        for ax in range(3):
            if not (op[ax] < s[ax] or op[ax] < d[ax]):
                raise GeometryError(
                    f"output_padding: must be smaller than stride or dilation (PyTorch's rule) (got output_padding[{ax}] "
                    f"({_AXES3[ax]}) = {op[ax]} with stride {s[ax]}, dilation {d[ax]})"
                )
        geom = cls(c_in, tuple(spatial), og * groups, tuple(kernel), s, p, op, d, groups)
        for ax, out in enumerate(geom.out_spatial):
            if out < 1:
                raise GeometryError(f"padding: output {_AXES3[ax]} {out} must be positive")
        return geom

    @property
    def out_spatial(self):
        return tuple(
            (n - 1) * s - 2 * p + d * (k - 1) + op + 1
            for n, s, p, d, k, op in zip(self.spatial, self.stride, self.padding, self.dilation, self.kernel, self.output_padding)
        )

    @property
    def in_per_group(self):
        return self.in_channels // self.groups

    @property
    def out_per_group(self):
        return self.out_channels // self.groups

    @property
    def output_shape(self):
        return (self.out_channels, *self.out_spatial)

    @property
    def input_shape(self):
        return (self.in_channels, *self.spatial)

    @property
    def weight_shape(self):
        return (self.in_channels, self.out_per_group, *self.kernel)

    def full(self):
        """Per axis: length of the uncropped stamp grid, at least padding + output (output_padding may reach past it)."""
        return tuple(
            max((n - 1) * s + d * (k - 1) + 1, p + o)
            for n, s, d, k, p, o in zip(self.spatial, self.stride, self.dilation, self.kernel, self.padding, self.out_spatial)
        )


def _geometry3(x_shape, weight_shape, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return ConvTranspose3dGeometry.from_shapes(
        tuple(x_shape)[-4:], weight_shape, stride, padding, output_padding, groups, dilation
    )


def _batched5(x, name="x"):
    arr = as_array(x, "x")
    if arr.ndim == 4:
        return arr[None], True
    if arr.ndim == 5:
        return arr, False
    raise GeometryError(f"{name}: must have shape (C_in, D, H, W) or (N, C_in, D, H, W) (got {arr.ndim}-D shape {arr.shape})")


def _tap_slices(geom, taps):
    """Slices of the full stamp grid that tap ``taps`` (one per axis) writes from the input grid."""
    return tuple(
        slice(a * d, a * d + (n - 1) * s + 1, s) for a, d, n, s in zip(taps, geom.dilation, geom.spatial, geom.stride)
    )


def conv_transpose3d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """3-D transposed convolution (PyTorch's ``conv_transpose3d``).

    Parameters
    ----------
    x : (C_in, D, H, W) or (N, C_in, D, H, W); weight : (C_in, C_out/groups, kd, kh, kw); bias : (C_out,) or None
    stride, padding, output_padding, dilation : int or (depth, height, width)

    Notes
    -----
    ``y[o,p] = b[o] + Σ x[g·cg + c, i] · w[g·cg + c, o', a]`` over ``p = i·s − pad + a·d`` on every axis.
    Computed tap by tap: each kernel tap adds ``xᵀ w[:, :, a]`` onto a strided slice of the uncropped grid.

    Examples
    --------
    >>> conv_transpose3d(np.ones((1, 1, 1, 2)), np.ones((1, 1, 1, 1, 2)))[0, 0]
    array([[1., 2., 1.]])
    """
    x5, squeeze = _batched5(x)
    weight = as_array(weight, "weight")
    geom = _geometry3(x5.shape, weight.shape, stride, padding, output_padding, groups, dilation)
    n, cg, og = x5.shape[0], geom.in_per_group, geom.out_per_group
    check_dense("conv_transpose3d full output", exact_size((n, geom.out_channels, *geom.full())), np.float64)  # memory guard
    full = np.zeros((n, geom.out_channels, *geom.full()))
    for taps in np.ndindex(*geom.kernel):  # kd·kh·kw taps, each one batched contraction
        sl = _tap_slices(geom, taps)
        for grp in range(geom.groups):
            w_tap = weight[(slice(grp * cg, (grp + 1) * cg), slice(None)) + taps]  # (cg, og)
            full[(slice(None), slice(grp * og, (grp + 1) * og)) + sl] += np.einsum(
                "ncdhw,co->nodhw", x5[:, grp * cg : (grp + 1) * cg], w_tap
            )
    crop = tuple(slice(p, p + o) for p, o in zip(geom.padding, geom.out_spatial))
    y = full[(slice(None), slice(None)) + crop]
    if bias is not None:
        y = y + _check_bias(bias, geom)[None, :, None, None, None]
    y = y.astype(resolve_dtype(None, x5, weight), copy=False)
    return y[0] if squeeze else y


def conv_transpose3d_reference(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Loops over output entries straight from the defining sum (small cases only)."""
    x5, squeeze = _batched5(x)
    weight = np.asarray(weight, dtype=np.float64)
    geom = _geometry3(x5.shape, weight.shape, stride, padding, output_padding, groups, dilation)
    cg, og = geom.in_per_group, geom.out_per_group
    y = np.zeros((x5.shape[0], *geom.output_shape))
    for n in range(x5.shape[0]):
        for o in range(geom.out_channels):
            g, o_ = divmod(o, og)
            for p in np.ndindex(*geom.out_spatial):
                total = 0.0 if bias is None else float(bias[o])
                for c in range(g * cg, (g + 1) * cg):
                    for a in np.ndindex(*geom.kernel):
                        num = [pp + pad - aa * d for pp, pad, aa, d in zip(p, geom.padding, a, geom.dilation)]
                        if all(v % s == 0 and 0 <= v // s < size for v, s, size in zip(num, geom.stride, geom.spatial)):
                            i = tuple(v // s for v, s in zip(num, geom.stride))
                            total += float(x5[(n, c) + i]) * weight[(c, o_) + a]
                y[(n, o) + p] = total
    return y[0] if squeeze else y


def _axes3(geom, descending):
    return [
        _axis(n, o, k, s, p, d, descending)
        for n, o, k, s, p, d in zip(geom.spatial, geom.out_spatial, geom.kernel, geom.stride, geom.padding, geom.dilation)
    ]


def _nd_plan(axes):
    """Per run tuple: (runs, taps per axis, first input index per axis and tap, input-index step per axis)."""
    import itertools

    for combo in itertools.product(*[range(len(a.runs.runs)) for a in axes]):
        yield (
            tuple(a.runs.runs[r] for a, r in zip(axes, combo)),
            [a.taps[r] for a, r in zip(axes, combo)],
            [a.first[r] for a, r in zip(axes, combo)],
            [a.step[r] for a, r in zip(axes, combo)],
        )


def _expected_nnz3(geom) -> int:
    totals = [
        _tap_count(*a)
        for a in zip(geom.spatial, geom.out_spatial, geom.kernel, geom.stride, geom.padding, geom.dilation)
    ]
    return exact_size((geom.out_channels, geom.in_per_group, *totals))


def _input_csr3(weight, geom, dtype):
    axes = _axes3(geom, descending=True)
    frame = NdFrame([a.runs for a in axes], geom.in_per_group, geom.out_channels,
                    geom.in_channels * exact_size(geom.spatial))
    data, indices = _input_csr_nd(weight, axes, geom.spatial, geom.in_per_group, geom.out_per_group, frame, dtype)
    return csr_from_arrays(data, indices, frame.indptr(), frame.shape, what="conv_transpose3d_input_jacobian")


def _weight_csr3(x, geom, dtype):
    axes = _axes3(geom, descending=False)
    instride = c_strides(geom.spatial)
    vol, ksize = exact_size(geom.spatial), exact_size(geom.kernel)
    cg, og = geom.in_per_group, geom.out_per_group
    frame = NdFrame([a.runs for a in axes], cg, geom.out_channels, geom.in_channels * og * ksize)
    idx = frame.index_dtype
    data = np.empty(frame.nnz, dtype=dtype)
    indices = np.empty(frame.nnz, dtype=idx)
    x = np.ascontiguousarray(x, dtype=dtype)
    flat, item = x.reshape(-1), x.itemsize
    plan = list(_nd_plan(axes))
    for grp in range(geom.groups):
        block = data[grp * og * frame.per_block : (grp * og + 1) * frame.per_block]
        for runs, taps, first, step in plan:
            rows = frame.rows(block, runs)
            inner = (cg,) + tuple(f.size for f in first)
            target = as_strided(rows, shape=rows.shape[:-1] + inner,
                                strides=rows.strides[:-1] + tuple(item * s for s in c_strides(inner)))
            start = grp * cg * vol + sum(int(f[0]) * st for f, st in zip(first, instride))
            tap_steps = [int(f[1] - f[0]) if f.size > 1 else 0 for f in first]
            window = as_strided(
                flat[start:],
                shape=rows.shape[:-1] + inner,
                strides=tuple(
                    item * v
                    for v in [s * st for s, st in zip(step, instride)] + [vol] + [t * st for t, st in zip(tap_steps, instride)]
                ),
                writeable=False,
            )
            np.copyto(target, window)
    replicate_channels(data, frame.per_block, groups=geom.groups)
    _weight_columns_nd(indices, axes, geom.kernel, cg, og, frame)
    return csr_from_arrays(data, indices, frame.indptr(), frame.shape, what="conv_transpose3d_weight_jacobian")


def conv_transpose3d_input_jacobian(
    weight, input_shape, stride=1, padding=0, output_padding=0, groups=1, dilation=1, *, dtype=None, max_bytes=None
):
    """∂vec(y)/∂vec(x) of :func:`conv_transpose3d`; input_shape (C_in, D, H, W) or batched (block-diagonal).

    ``∂y[o,p]/∂x[c,i] = w[c, o', a]`` when ``p = i·s − pad + a·d`` on all three axes. Written straight into CSR
    from per-axis tap runs (:class:`jacobians.ops._separable.NdFrame`).
    """
    weight = as_float_array(weight, "weight", dtype)
    dt = resolve_dtype(dtype, weight)
    shape_in = as_shape(input_shape, "input_shape", (4, 5))
    geom = _geometry3(shape_in, weight.shape, stride, padding, output_padding, groups, dilation)
    n = shape_in[0] if len(shape_in) == 5 else 1
    shape = (n * exact_size(geom.output_shape), n * exact_size(geom.input_shape))
    check_budget("conv_transpose3d input Jacobian", n * _expected_nnz3(geom), shape, dt, max_bytes)
    block = _input_csr3(weight, geom, dt)
    return block if n == 1 and len(shape_in) == 4 else block_diag_repeat(block, n, max_bytes=max_bytes)


def conv_transpose3d_weight_jacobian(
    x, weight_shape, stride=1, padding=0, output_padding=0, groups=1, dilation=1, *, dtype=None, max_bytes=None
):
    """∂vec(y)/∂vec(weight) of :func:`conv_transpose3d`; x (C_in, D, H, W) or batched (blocks stacked)."""
    x = as_float_array(x, "x", dtype)
    dt = resolve_dtype(dtype, x)
    x5, squeeze = _batched5(x)
    geom = _geometry3(x5.shape, weight_shape, stride, padding, output_padding, groups, dilation)
    n = x5.shape[0]
    shape = (n * exact_size(geom.output_shape), exact_size(geom.weight_shape))
    check_budget("conv_transpose3d weight Jacobian", n * _expected_nnz3(geom), shape, dt, max_bytes)
    blocks = [_weight_csr3(x5[k], geom, dt) for k in range(n)]
    return blocks[0] if squeeze else vstack_csr(blocks, max_bytes=max_bytes)


def _g_full(g, geom, n):
    g = np.asarray(g, dtype=np.float64)
    g5 = g[None] if g.ndim == 4 else g
    if g5.shape != (n, *geom.output_shape):
        raise GeometryError(f"g: must have the output's shape {(n, *geom.output_shape)} (got {g.shape})")
    check_dense("conv_transpose3d full output", exact_size((n, geom.out_channels, *geom.full())), np.float64)  # memory guard
    full = np.zeros((n, geom.out_channels, *geom.full()))
    full[(slice(None), slice(None)) + tuple(slice(p, p + o) for p, o in zip(geom.padding, geom.out_spatial))] = g5
    return full


def conv_transpose3d_vjp_input_gather(g, x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """∂L/∂x[c,i] = Σ_{a,o'} g[o, i·s − pad + a·d] · w[c, o', a]: a strided gather per tap (the matching conv3d)."""
    x5, squeeze = _batched5(x)
    weight = np.asarray(weight, dtype=np.float64)
    geom = _geometry3(x5.shape, weight.shape, stride, padding, output_padding, groups, dilation)
    full = _g_full(g, geom, x5.shape[0])
    cg, og = geom.in_per_group, geom.out_per_group
    out = np.zeros(x5.shape)
    for taps in np.ndindex(*geom.kernel):
        sl = _tap_slices(geom, taps)
        for grp in range(geom.groups):
            out[:, grp * cg : (grp + 1) * cg] += np.einsum(
                "nodhw,co->ncdhw", full[(slice(None), slice(grp * og, (grp + 1) * og)) + sl],
                weight[(slice(grp * cg, (grp + 1) * cg), slice(None)) + taps],
            )
    return out[0] if squeeze else out


def conv_transpose3d_vjp_weight_gather(g, x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """∂L/∂w[c,o',a] = Σ_{n,i} x[n,c,i] · g[n, o, i·s − pad + a·d]: one contraction per tap."""
    x5, _ = _batched5(x)
    weight = np.asarray(weight)
    geom = _geometry3(x5.shape, weight.shape, stride, padding, output_padding, groups, dilation)
    full = _g_full(g, geom, x5.shape[0])
    cg, og = geom.in_per_group, geom.out_per_group
    out = np.zeros(weight.shape)
    for taps in np.ndindex(*geom.kernel):
        sl = _tap_slices(geom, taps)
        for grp in range(geom.groups):
            out[(slice(grp * cg, (grp + 1) * cg), slice(None)) + taps] = np.einsum(
                "ncdhw,nodhw->co", x5[:, grp * cg : (grp + 1) * cg].astype(np.float64),
                full[(slice(None), slice(grp * og, (grp + 1) * og)) + sl],
            )
    return out


def _torch_conv_transpose3d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    import torch.nn.functional as F

    xb = x[None] if x.dim() == 4 else x
    y = F.conv_transpose3d(xb, weight, bias, stride, padding, output_padding, groups, dilation)
    return y[0] if x.dim() == 4 else y


#: (C_in, (D, H, W), C_out, kernel, stride, padding, output_padding, groups, dilation, batch)
CONV_TRANSPOSE3D_GEOMETRIES = [
    (1, (2, 2, 2), 1, (2, 2, 2), 1, 0, 0, 1, 1, None),
    (2, (2, 3, 2), 2, (2, 3, 2), (2, 1, 2), (1, 0, 0), (1, 0, 1), 1, 1, None),
    (2, (2, 2, 3), 4, (2, 2, 2), 1, 0, (1, 0, 0), 2, (2, 1, 1), None),  # output_padding ≥ stride via dilation
    (1, (1, 2, 2), 2, (1, 2, 3), (1, 2, 2), (0, 1, 1), 0, 1, 1, 2),  # batched
]


def conv_transpose3d_cases():
    rng = np.random.default_rng(20261206)
    out = []
    for c_in, sp_, c_out, k, s, p, op, g, d, batch in CONV_TRANSPOSE3D_GEOMETRIES:
        shape = (c_in, *sp_) if batch is None else (batch, c_in, *sp_)
        params = dict(stride=s, padding=p, output_padding=op, groups=g, dilation=d)
        out.append(_make_case(rng, shape, (c_in, c_out // g, *k), params))
    return out


def _jac3_b(x, weight, bias=None, **p):
    geom = _geometry3(np.shape(x), np.shape(weight), **_params(p))
    n = np.shape(x)[:-4]
    block = conv2d_bias_jacobian((geom.out_channels, 1, exact_size(geom.out_spatial)))
    return block if not n else vstack_csr([block] * n[0])


def _vjp3_bias(g, x, weight, bias=None, **p):
    g = np.asarray(g, dtype=np.float64)
    return g.sum(axis=(-3, -2, -1)) if g.ndim == 4 else g.sum(axis=(0, 2, 3, 4))


register(
    "conv_transpose3d",
    summary="3-D transposed convolution (tap runs on three axes)",
    forward=conv_transpose3d,
    jacobian={
        "x": lambda x, weight, bias=None, **p: conv_transpose3d_input_jacobian(weight, np.shape(x), **_params(p)),
        "weight": lambda x, weight, bias=None, **p: conv_transpose3d_weight_jacobian(x, np.shape(weight), **_params(p)),
        "bias": _jac3_b,
    },
    vjp={
        "x": {"gather": conv_transpose3d_vjp_input_gather},
        "weight": {"gather": conv_transpose3d_vjp_weight_gather},
        "bias": {"sum": _vjp3_bias},
    },
    cases=conv_transpose3d_cases,
    affine_in=("x", "weight", "bias"),
    structural=("bias",),
    torch_forward=_torch_conv_transpose3d,
    reference=conv_transpose3d_reference,
    # the show CLI's window flags are 2-D pairs: 3-D arguments are not offered to it yet
    param_names=("output_padding", "groups"),
    show=conv_transpose_show("conv_transpose3d", 3),
)
