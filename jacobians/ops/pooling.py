"""Max and average pooling over 1, 2 or 3 spatial axes: forwards, explicit Jacobians, VJPs.

Shapes (canonical convention, PyTorch memory order, C-order vec)::

    x   (C, *S)      or batched (N, C, *S) for forwards and VJPs; S = (L,), (H, W) or (D, H, W)
    y   (C, *O)      O = floor((S + p_before + p_after - d(k-1) - 1)/s) + 1   (ceil with ceil_mode)

Pooling acts on each channel separately, so a batch ``(N, C, *S)`` is pooled
as N·C channels. Stride defaults to the kernel size (PyTorch's rule).
Padding is an int, one int per axis, (before, after) pairs per axis or
(for 2-D) (top, bottom, left, right); a window larger than the padded input
is refused by :class:`~jacobians.geometry.PoolNdGeometry` with a one-line
GeometryError. Every rank goes through the same N-d code
(:class:`~jacobians.geometry.PoolNdGeometry`, :mod:`jacobians.ops.convnd`);
``max_pool1d/2d/3d`` and ``avg_pool1d/2d/3d`` are thin front doors with
PyTorch's argument names; the options after ``padding`` are keyword-only
(PyTorch's 5th positional is dilation / ceil_mode, this package's used to be
pad_value / count_include_pad: neither may bind silently).

ceil_mode (PyTorch's rule)
    The output size uses ceil instead of floor, but a last window that would
    *start* in the right padding (or past it) is dropped:
    if (O − 1)·s ≥ S + p_before then O −= 1. The part of a last window past
    the padded input (the *overflow*) is not padding: max pooling ignores it
    (it never wins, whatever ``pad_value``), average pooling neither sums nor
    counts it.

Conventions chosen (all stated here once)
-----------------------------------------
Max pooling, ``pad_value``
    The value the padding takes part in the maximum with. ``-inf`` (the
    default) is PyTorch's rule: padding never wins unless the inputs of the
    window are all ``-inf``. ``0`` is note 001's rule (Vardhan 2022 writes
    the padded windows as max{0, I₁₁, I₂₁, …}): then a window whose maximum
    is a padded zero has an output that does not depend on any input there,
    and its Jacobian row is **empty** (no 1 at all). So "exactly one 1 per
    row" holds only for rows whose switch lies on an input entry. A window
    lying entirely in the padding is refused for ``pad_value=-inf`` (its
    maximum would be −∞); with a finite pad value it simply outputs the pad
    value and has an empty row.
Max pooling, ``ties``
    When several entries of a window share the maximum, the switch is the
    first of them — in row-major window order for ``ties="first"`` (what
    PyTorch's CPU kernel does: it replaces the running maximum only on a
    strictly larger value while scanning rows, then columns), or in
    column-major window order for ``ties="first-colmajor"`` (note 001's
    index i_pq counts the entries of the window column by column). Padding
    positions take part in the order like any other window entry, so with
    ``pad_value=0`` an input equal to 0 loses to a padded 0 that comes first.
    The Jacobian at a tie is the one-sided derivative selected by that rule;
    the true derivative does not exist there.
Max pooling, NaN
    Inputs containing NaN are refused with a ValueError (a maximum with NaN
    has no switch; PyTorch propagates the NaN instead).
Average pooling, divisor
    ``count_include_pad=True``: every window is divided by the number of its
    entries inside the padded input — kh·kw except for a ceil-mode last
    window (note 001's P = 1/(h·w), i.e. a depthwise convolution with a
    constant kernel); ``count_include_pad=False``: by the number of window
    entries that lie on the input; ``divisor_override=n``: by n everywhere
    (PyTorch's rules, all three). Padding is zeros in every case.

Faces
-----
* max: one scan over the window taps (strided views of x, strict ``>`` in
  the tie rule's order) finds the switches; :func:`max_pool2d_switches`
  keeps them (``return_indices`` gives PyTorch's indices);
  :func:`max_pool2d_jacobian` writes them straight into CSR (one entry per
  row: ``indices`` is the switch column, ``indptr`` 0, 1, 2, …); two VJPs —
  scatter-add through the switches (``np.bincount``) and a one-hot patch
  matrix folded back by :func:`~jacobians.ops.convnd.col2im_nd` (which drops
  taps on padding by its own index arithmetic).
* note 001, Appendix B's index arithmetic (eqs. b-2.1 to b-2.3) is the note's
  own formula and lives in :mod:`jacobians.ledger.vardhan2022_formulas`.
* average: the divisor factors per axis, so the Jacobian is the Kronecker
  product ``I_C ⊗ A₁ ⊗ … ⊗ A_N`` of one-axis window matrices (values 1/f),
  written straight into CSR by :func:`jacobians.ops._separable.product_csr_nd`
  (input-independent); VJPs by col2im and by the rot180
  route of the depthwise convolution.
"""
from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np

from ..geometry import AXIS_NAMES, GeometryError, PoolNdGeometry, _short, as_padding_nd, as_positive_int, as_shape, as_tuple_n
from ..registry import Case, register
from ._show_nd import pool_show, show_kw
from ._sparse import (
    c_strides,
    Pattern,
    as_float_array,
    assemble,
    check_budget,
    check_dense,
    csr_from_arrays,
    exact_size,
    index_dtype_for,
    resolve_dtype,
    torch_input,
)
from ._separable import AffineAxis, AffineRun, product_csr_nd
from .convnd import col2im_nd, convnd_vjp_input_rot180, sliding_windows_nd, valid_taps

__all__ = [
    "TIE_RULES",
    "MaxPoolSwitches",
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "max_pool_switches",
    "max_pool2d_switches",
    "max_pool_jacobian",
    "max_pool1d_jacobian",
    "max_pool2d_jacobian",
    "max_pool3d_jacobian",
    "max_pool2d_jacobian_from_switches",
    "max_pool_vjp_switches",
    "max_pool_vjp_col2im",
    "max_pool2d_vjp_switches",
    "max_pool2d_vjp_col2im",
    "avg_pool",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "avg_pool_divisor_factors",
    "avg_pool2d_divisor",
    "avg_pool_jacobian",
    "avg_pool1d_jacobian",
    "avg_pool2d_jacobian",
    "avg_pool3d_jacobian",
    "avg_pool_vjp_col2im",
    "avg_pool_vjp_rot180",
    "avg_pool2d_vjp_col2im",
    "avg_pool2d_vjp_rot180",
    "reference_max_pool",
    "reference_avg_pool",
]

#: Tie rules of max pooling: name -> window order in which the first maximum wins.
TIE_RULES = {
    "first": "row-major window order (PyTorch)",
    "first-colmajor": "column-major window order (note 001's index i_pq)",
}


# ---------------------------------------------------------------------------
# shared helpers (N spatial axes)
# ---------------------------------------------------------------------------
def _as_channels(x, nd=2, name="x"):
    """(C, *S) or (N, C, *S) float array -> (channels, *S) view and the original shape."""
    arr = as_float_array(x, name)
    if arr.dtype == object:
        raise TypeError(f"{name}: pooling needs numeric values (got an object array)")
    dims = ", ".join(a[0].upper() for a in AXIS_NAMES[nd])
    if arr.ndim == nd + 1:
        return arr, arr.shape
    if arr.ndim == nd + 2:
        return arr.reshape(-1, *arr.shape[2:]), arr.shape
    raise GeometryError(f"{name}: must have shape (C, {dims}) or (N, C, {dims}) (got {arr.ndim}-D shape {arr.shape})")


def _pool_geometry(shape3, nd, kernel_size, stride, padding, dilation=1, ceil_mode=False) -> PoolNdGeometry:
    return PoolNdGeometry.from_shapes(shape3, kernel_size, stride, padding, dilation, ceil_mode, ndim=nd)


def _out_shape(in_shape, geom: PoolNdGeometry):
    return (*in_shape[: len(in_shape) - geom.ndim], *geom.out_spatial)


def _taps_on_input(geom: PoolNdGeometry):
    """Per axis: (input index of every (output, tap), whether it lies on the input)."""
    return tuple(geom.tap_offsets(ax) for ax in range(geom.ndim))


def _check_ties(ties) -> str:
    if not isinstance(ties, str) or ties not in TIE_RULES:
        raise ValueError(f"ties: must be one of {', '.join(repr(t) for t in TIE_RULES)} (got {_short(ties)})")
    return ties


def _check_bool(value, name: str) -> bool:
    """True/False (numpy bools too); anything else — "False", 0, an array — refused with one line."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name}: must be True or False (got {_short(value)})")


def _check_forward_memory(what, geom: PoolNdGeometry, arrays: int = 1):
    """Memory guard of a pooling forward (exact ints, before allocating): the padded input and ``arrays`` outputs."""
    padded = exact_size(n + p[0] + p[1] + e for n, p, e in zip(geom.spatial, geom.padding, geom.overflow))
    check_dense(f"{what} temporaries", geom.channels * (padded + arrays * exact_size(geom.out_spatial)), np.float64)


def _check_pad_value(pad_value) -> float:
    if isinstance(pad_value, (bool, np.bool_, str, bytes)) or np.ndim(pad_value) != 0:
        raise ValueError(f"pad_value: must be a number or -inf (got {_short(pad_value)})")
    try:
        value = float(pad_value)
    except (TypeError, ValueError):
        raise ValueError(f"pad_value: must be a number or -inf (got {_short(pad_value)})") from None
    if math.isnan(value) or value == math.inf:
        raise ValueError(f"pad_value: must be a finite number or -inf (got {_short(pad_value)})")
    return value


# ---------------------------------------------------------------------------
# max pooling: one scan over the taps, never a copy of the windows
# ---------------------------------------------------------------------------
#: output entries handled per chunk of channels by the max-pool scan (bounds its temporaries)
_SCAN_ROWS = 1 << 18


def _tap_order(kernel, ties):
    """Window taps (multi-indices) in the scan order of the tie rule."""
    taps = list(itertools.product(*(range(k) for k in kernel)))
    if ties == "first-colmajor":  # the first axis varies fastest (column-major for 2-D windows)
        taps = [t[::-1] for t in itertools.product(*(range(k) for k in reversed(kernel)))]
    return taps


def _tap_ranges(geom: PoolNdGeometry, ax: int, a: int):
    """Outputs i along ``ax`` whose tap ``a`` reads the input: [lo, hi); and reads input or padding: [0, hp)."""
    s, d, (pb, pa) = geom.stride[ax], geom.dilation[ax], geom.padding[ax]
    size, out = geom.spatial[ax], geom.out_spatial[ax]
    lo = min(out, max(0, -(-(pb - a * d) // s)))
    hi = max(lo, min(out, (size - 1 + pb - a * d) // s + 1))
    hp = max(0, min(out, (size + pa - 1 + pb - a * d) // s + 1))
    return lo, hi, hp


def _interior(geom: PoolNdGeometry, ax: int):
    """Output positions [first, end) along ``ax`` whose windows lie wholly on the input (every tap reads it).

    The intersection of the taps' ranges (:func:`_tap_ranges`), in O(k) Python ints; the positions
    outside it are the borders (windows reaching the padding or the ceil-mode overflow).
    """
    ranges = [_tap_ranges(geom, ax, a)[:2] for a in range(geom.kernel[ax])]
    first = max(lo for lo, _ in ranges)
    return first, max(first, min(hi for _, hi in ranges))


def _max_scan(x3, geom: PoolNdGeometry, pad_value: float, ties: str):
    """Yield ``(c0, c1, best, tap)`` per chunk of channels: the window maxima and the winners' flat taps.

    ``tap`` is the winner's row-major position in its window. Taps are
    visited in the tie rule's order and a later tap wins only when strictly
    larger, so the first maximum in that order is kept (what argmax does).
    A tap reads the input, the padding (``pad_value``) or — only with
    ``ceil_mode`` — the overflow past the padded input, which never wins.
    Only strided views of x are read; the temporaries are a chunk's size.
    """
    nd, out = geom.ndim, geom.out_spatial
    per_channel = exact_size(out)
    order = _tap_order(geom.kernel, ties)
    finite_pad = pad_value != -math.inf
    # at most _SCAN_ROWS rows and (beyond 8192 rows) 1/32 of the output per chunk, so that the chunk's
    # temporaries (~20 bytes a row) stay a small fraction of the CSR the caller fills (16 bytes a row)
    rows = min(_SCAN_ROWS, max(1 << 13, geom.channels * per_channel // 32))
    chunk = max(1, rows // max(per_channel, 1))
    tap_dtype = np.int32 if exact_size(geom.kernel) > 2**15 - 1 else np.int16
    ranges = {(ax, a): _tap_ranges(geom, ax, a) for ax in range(nd) for a in range(geom.kernel[ax])}
    plan = []  # per tap, once for all chunks: (flat tap, its box, output slices, input slices)
    for a in order:
        box = [ranges[(ax, a[ax])] for ax in range(nd)]
        x_sl = tuple(
            slice(lo * geom.stride[ax] - geom.padding[ax][0] + a[ax] * geom.dilation[ax],
                  (hi - 1) * geom.stride[ax] - geom.padding[ax][0] + a[ax] * geom.dilation[ax] + 1,
                  geom.stride[ax])
            for ax, (lo, hi, _) in enumerate(box)
        )
        plan.append((int(np.ravel_multi_index(a, geom.kernel)), box, (slice(None), *(slice(lo, hi) for lo, hi, _ in box)),
                     (slice(None), *x_sl), all(hi > lo for lo, hi, _ in box)))
    for c0 in range(0, geom.channels, chunk):
        c1 = min(geom.channels, c0 + chunk)
        xc = x3[c0:c1]
        if np.isnan(xc).any():
            raise ValueError("x: contains NaN; max pooling has no switch (argmax) for NaN inputs")
        best = np.full((c1 - c0, *out), -np.inf, dtype=x3.dtype)
        tap = np.empty((c1 - c0, *out), dtype=tap_dtype)
        for n_tap, (flat_tap, box, in_sl, x_sl, touches) in enumerate(plan):
            if n_tap == 0:
                tap[...] = flat_tap
                if finite_pad:
                    best[(slice(None), *(slice(0, hp) for _, _, hp in box))] = pad_value
                if touches:
                    best[in_sl] = xc[x_sl]
                continue
            if finite_pad:  # positions where this tap reads padding
                pad_box = (slice(None), *(slice(0, hp) for _, _, hp in box))
                region = np.ones([hp for _, _, hp in box], dtype=bool)
                region[tuple(slice(lo, hi) for lo, hi, _ in box)] = False
                wins = (best[pad_box] < pad_value) & region
                np.copyto(best[pad_box], pad_value, where=wins)
                np.copyto(tap[pad_box], flat_tap, where=wins)
            if touches:
                target = best[in_sl]
                values = xc[x_sl]
                wins = values > target
                # Branch-free updates: a masked copy (np.copyto where=) mispredicts on random
                # data and cost ~2.5× the whole scan. tap += wins·(k − tap) is three SIMD passes.
                np.maximum(target, values, out=target)
                tap_view = tap[in_sl]
                step = np.subtract(tap_dtype(flat_tap), tap_view)
                step *= wins
                tap_view += step
        _restore_signed_zeros(best, tap, xc, geom, pad_value)
        yield c0, c1, best, tap


def _restore_signed_zeros(best, tap, xc, geom: PoolNdGeometry, pad_value: float) -> None:
    """Make a maximum of ±0 carry the sign of the winner's own entry, as PyTorch returns it.

    ``np.maximum`` may return either zero when +0 and −0 tie, while the tie rule
    (strict ``>``, kept in ``tap``) names the first; only zeros can differ, so
    only they are re-read from the winner (the input, or ``pad_value``).
    """
    zero = np.flatnonzero(best.reshape(-1) == 0)
    if zero.size == 0:
        return
    nd = geom.ndim
    pos = np.unravel_index(zero, best.shape)
    taps = np.unravel_index(tap.reshape(-1)[zero], geom.kernel)
    coords, on = [pos[0]], np.ones(zero.size, dtype=bool)
    for ax in range(nd):
        q = pos[1 + ax] * geom.stride[ax] - geom.padding[ax][0] + taps[ax] * geom.dilation[ax]
        on &= (q >= 0) & (q < geom.spatial[ax])
        coords.append(np.clip(q, 0, geom.spatial[ax] - 1))
    best.reshape(-1)[zero] = np.where(on, xc[tuple(coords)], pad_value)


class _SwitchColumns:
    """Flat input index (over all channels) of each winner, −1 where it is not on the input.

    column = c·plane + Σ_ax (i_ax·s − p_before)·S_ax (per position) + Σ_ax a_ax·d·S_ax (per tap: a
    K-entry table gathered by the tap), so no per-entry unravel of the tap. Only border positions
    — whose windows reach the padding or the ceil-mode overflow — need the on-input test, and only
    those slabs get it. The tables are made once per geometry, then applied chunk by chunk.
    """

    def __init__(self, geom: PoolNdGeometry):
        nd = geom.ndim
        self.geom = geom
        self.plane = exact_size(geom.spatial)
        in_strides = c_strides(geom.spatial)
        taps = np.unravel_index(np.arange(exact_size(geom.kernel)), geom.kernel)  # K entries
        self.offset = sum(taps[ax] * (geom.dilation[ax] * in_strides[ax]) for ax in range(nd)).astype(np.int64)
        self.tap_axis = [t.astype(np.int64) for t in taps]
        self.base, self.borders = [], []
        for ax in range(nd):
            start = np.arange(geom.out_spatial[ax], dtype=np.int64) * geom.stride[ax] - geom.padding[ax][0]
            shp = [1] * (nd + 1)
            shp[1 + ax] = geom.out_spatial[ax]
            self.base.append((start * in_strides[ax]).reshape(shp))
            # positions whose windows leave the input: those some tap of this axis does not cover
            first, end = _interior(geom, ax)
            edges = [(0, first), (end, geom.out_spatial[ax])]
            self.borders.append([(a, b, start[a:b]) for a, b in edges if b > a])

    def __call__(self, tap, c0: int, out_dtype=np.int64):
        geom, nd = self.geom, self.geom.ndim
        column = np.take(self.offset, tap)
        column += (np.arange(c0, c0 + tap.shape[0], dtype=np.int64) * self.plane).reshape((-1,) + (1,) * nd)
        for base in self.base:
            column += base
        for ax in range(nd):
            for a, b, start in self.borders[ax]:
                sl = (slice(None),) * (1 + ax) + (slice(a, b),)
                shp = [1] * (nd + 1)
                shp[1 + ax] = b - a
                q = np.take(self.tap_axis[ax], tap[sl]) * geom.dilation[ax] + start.reshape(shp)
                column[sl][(q < 0) | (q >= geom.spatial[ax])] = -1
        return column.astype(out_dtype, copy=False)


def _refuse_windows_in_minus_inf_padding(geom: PoolNdGeometry, pad_value: float):
    if pad_value == -math.inf and not all(ok.any(axis=1).all() for _, ok in _taps_on_input(geom)):
        pads = geom.padding if geom.ndim != 2 else (*geom.padding[0], *geom.padding[1])
        raise GeometryError(
            f"padding: a pooling window lies entirely in the padding {pads}, which has no maximum "
            "with pad_value=-inf (use padding < kernel extent, or a finite pad_value)"
        )


@dataclass(frozen=True)
class MaxPoolSwitches:
    """What the max-pooling forward keeps: the winner of every window.

    Attributes
    ----------
    geometry : the validated PoolNdGeometry (channels = N·C for a batch)
    values : the pooled output y, shaped ``(C, *O)`` or ``(N, C, *O)``
    tap : int array shaped like ``values``: the winner's position in its
        window, row-major and 0-based (``a·kw + b`` for window row a, column b)
    column : int array shaped like ``values``: the winner's index in the
        canonical vec(x) (C order over the whole input), or −1 when the
        winner is a padded entry
    """

    geometry: PoolNdGeometry
    values: np.ndarray
    tap: np.ndarray
    column: np.ndarray
    input_shape: tuple
    ties: str
    pad_value: float

    @property
    def on_padding(self) -> np.ndarray:
        """True where the maximum is a padded entry (an empty Jacobian row)."""
        return self.column < 0

    @property
    def indices(self) -> np.ndarray:
        """PyTorch's ``return_indices``: the winner's flat index within its own (sample, channel) plane."""
        plane = exact_size(self.geometry.spatial)
        return np.where(self.column >= 0, self.column % plane, -1)

    @property
    def note001_index(self) -> np.ndarray:
        """Note 001's i_pq: the winner's 1-based position in the window stacked column by column (2-D)."""
        kh, kw = self.geometry.kernel
        a, b = np.divmod(self.tap, kw)
        return b * kh + a + 1


def max_pool_switches(x, nd, kernel_size, stride=None, padding=0, *, dilation=1, ceil_mode=False,
                      pad_value=float("-inf"), ties="first") -> MaxPoolSwitches:
    """N-d max pooling that keeps the switches; see :func:`max_pool2d_switches`."""
    ties = _check_ties(ties)
    pad_value = _check_pad_value(pad_value)
    x3, in_shape = _as_channels(x, nd)
    geom = _pool_geometry(x3.shape, nd, kernel_size, stride, padding, dilation, ceil_mode)
    _check_forward_memory(f"max_pool{nd}d", geom, arrays=4)  # values, tap, column, a chunk's temporaries
    _refuse_windows_in_minus_inf_padding(geom, pad_value)
    values = np.empty((geom.channels, *geom.out_spatial), dtype=x3.dtype)
    tap = np.empty(values.shape, dtype=np.int64)
    column = np.empty(values.shape, dtype=np.int64)
    switch_columns = _SwitchColumns(geom)
    for c0, c1, best, t in _max_scan(x3, geom, pad_value, ties):
        values[c0:c1], tap[c0:c1] = best, t
        column[c0:c1] = switch_columns(t, c0)
    out_shape = _out_shape(in_shape, geom)
    return MaxPoolSwitches(geom, values.reshape(out_shape), tap.reshape(out_shape), column.reshape(out_shape),
                           tuple(in_shape), ties, pad_value)


def max_pool2d_switches(x, kernel_size, stride=None, padding=0, *, dilation=1, ceil_mode=False,
                        pad_value=float("-inf"), ties="first") -> MaxPoolSwitches:
    """Max-pool ``x`` and keep the switches (the argmax of every window).

    Parameters
    ----------
    x : (C, H, W) or (N, C, H, W) floats without NaN
    kernel_size, stride, dilation : int or (h, w); stride defaults to kernel_size
    padding : int, (ph, pw), (top, bottom, left, right) or ((top, bottom), (left, right))
    ceil_mode : PyTorch's rule (see :func:`~jacobians.geometry.pool_output_size`)
    pad_value : float
        The value padded entries take part in the maximum with: ``-inf``
        (PyTorch) or ``0`` (note 001), or any finite number.
    ties : {"first", "first-colmajor"}
        First maximum in row-major (PyTorch) or column-major (note 001)
        window order; see the module docstring.

    Returns
    -------
    MaxPoolSwitches

    Examples
    --------
    >>> s = max_pool2d_switches(np.array([[[1., 3.], [3., 0.]]]), 2)
    >>> s.values, s.tap, s.column          # first 3 in row-major order: (0, 1)
    (array([[[3.]]]), array([[[1]]]), array([[[1]]]))
    >>> max_pool2d_switches(np.array([[[1., 3.], [3., 0.]]]), 2, ties="first-colmajor").column
    array([[[2]]])
    """
    return max_pool_switches(x, 2, kernel_size, stride, padding, dilation=dilation, ceil_mode=ceil_mode, pad_value=pad_value, ties=ties)


def _max_pool(nd, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, pad_value, ties):
    return_indices = _check_bool(return_indices, "return_indices")
    s = max_pool_switches(x, nd, kernel_size, stride, padding, dilation=dilation, ceil_mode=ceil_mode, pad_value=pad_value, ties=ties)
    return (s.values, s.indices) if return_indices else s.values


def max_pool2d(x=None, kernel_size=None, stride=None, padding=0, *, dilation=1, ceil_mode=False, return_indices=False,
               pad_value=float("-inf"), ties="first", input=None):
    """Max pooling: ``y[c,i,j] = max over taps (a, b) of xp[c, i·sh + a·dh, j·sw + b·dw]``.

    PyTorch's argument names (options after ``padding`` keyword-only); ``xp`` is ``x`` padded with ``pad_value``.
    ``return_indices=True`` also returns torch's indices (the switch's flat
    index within its plane, −1 where padding wins). The value does not depend on ``ties``.

    Examples
    --------
    >>> max_pool2d(np.arange(16.).reshape(1, 4, 4), 2)[0]
    array([[ 5.,  7.],
           [13., 15.]])
    >>> max_pool2d(np.arange(9.).reshape(1, 3, 3), 2, ceil_mode=True, return_indices=True)[1]
    array([[[4, 5],
            [7, 8]]])
    """
    x = torch_input(x, input)  # PyTorch's name input= works too
    return _max_pool(2, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, pad_value, ties)


def max_pool1d(x=None, kernel_size=None, stride=None, padding=0, *, dilation=1, ceil_mode=False, return_indices=False,
               pad_value=float("-inf"), ties="first", input=None):
    """1-D max pooling over x (C, L) or (N, C, L); arguments as :func:`max_pool2d`.

    Examples
    --------
    >>> max_pool1d(np.array([[1., 5., 2., 4., 3.]]), 2, ceil_mode=True)
    array([[5., 4., 3.]])
    """
    x = torch_input(x, input)  # PyTorch's name input= works too
    return _max_pool(1, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, pad_value, ties)


def max_pool3d(x=None, kernel_size=None, stride=None, padding=0, *, dilation=1, ceil_mode=False, return_indices=False,
               pad_value=float("-inf"), ties="first", input=None):
    """3-D max pooling over x (C, D, H, W) or (N, C, D, H, W); arguments as :func:`max_pool2d`.

    Examples
    --------
    >>> max_pool3d(np.arange(8.).reshape(1, 2, 2, 2), 2)
    array([[[[7.]]]])
    """
    x = torch_input(x, input)  # PyTorch's name input= works too
    return _max_pool(3, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, pad_value, ties)


def max_pool2d_jacobian_from_switches(switches: MaxPoolSwitches, *, dtype=None):
    """The 0/1 mask ∂vec(y)/∂vec(x) from stored switches.

    Row r (an output entry, C order) holds a single 1 in column
    ``switches.column[r]``, or nothing when that switch is on the padding.
    """
    column = switches.column.ravel()
    n_rows, n_cols = column.size, exact_size(switches.input_shape)
    idx = index_dtype_for(n_rows, n_cols)
    on_input = column >= 0
    indptr = np.zeros(n_rows + 1, dtype=idx)
    np.cumsum(on_input, out=indptr[1:])
    pattern = Pattern(indptr, column[on_input].astype(idx), None, (n_rows, n_cols))
    return assemble(pattern, dtype=dtype or np.float64, what="max_pool2d_jacobian")


def max_pool_jacobian(x, nd, kernel_size, stride=None, padding=0, *, dilation=1, ceil_mode=False,
                      pad_value=float("-inf"), ties="first", dtype=None, max_bytes=None):
    """N-d max-pool Jacobian filled straight into CSR (see :func:`max_pool2d_jacobian`).

    One entry per row, so ``indices`` *is* the switch column and ``indptr``
    is 0, 1, 2, …: the scan writes each chunk's switch columns into
    ``indices`` directly; only when a padded value wins somewhere (a finite
    pad value) are the empty rows squeezed out at the end. Temporaries are
    bounded by one chunk of channels, so the peak is about the CSR itself.
    """
    ties = _check_ties(ties)
    pad_value = _check_pad_value(pad_value)
    x3, in_shape = _as_channels(x, nd)
    dt = resolve_dtype(dtype, x3)
    geom = _pool_geometry(x3.shape, nd, kernel_size, stride, padding, dilation=dilation, ceil_mode=ceil_mode)
    n_rows, n_cols = exact_size((geom.channels, *geom.out_spatial)), exact_size(in_shape)
    check_budget(f"max_pool{nd}d Jacobian", n_rows, (n_rows, n_cols), dt, max_bytes)
    _refuse_windows_in_minus_inf_padding(geom, pad_value)
    idx = index_dtype_for(n_rows, n_cols)
    indices = np.empty(n_rows, dtype=idx)
    per_channel = exact_size(geom.out_spatial)
    empty = False
    switch_columns = _SwitchColumns(geom)
    for c0, c1, _, tap in _max_scan(x3, geom, pad_value, ties):
        cols = switch_columns(tap, c0)
        empty |= bool((cols < 0).any())
        indices[c0 * per_channel:c1 * per_channel] = cols.ravel()
    if not empty:
        indptr = np.arange(n_rows + 1, dtype=idx)
    else:
        keep = indices >= 0
        indptr = np.zeros(n_rows + 1, dtype=idx)
        np.cumsum(keep, out=indptr[1:])
        indices = indices[keep]
    data = np.ones(indices.size, dtype=dt)
    return csr_from_arrays(data, indices, indptr, (n_rows, n_cols), what=f"max_pool{nd}d_jacobian")


def max_pool2d_jacobian(x, kernel_size, stride=None, padding=0, *, dilation=1, ceil_mode=False,
                        pad_value=float("-inf"), ties="first", dtype=None, max_bytes=None):
    """∂vec(y)/∂vec(x) of max pooling: the exact 0/1 mask of note 001, Appendix B.

    Parameters
    ----------
    x : (C, H, W) (a batch (N, C, H, W) gives the Jacobian of its C-order vec)
    others : as :func:`max_pool2d_switches`

    Returns
    -------
    csr_array of shape (C·OH·OW, C·H·W), every stored value 1.

    Notes
    -----
    ``∂y[c,i,j]/∂x[c',p,q] = 1`` iff (c', p, q) is the switch of window
    (c, i, j), else 0. A row is empty when the switch is a padded entry
    (possible only with a pad value that can win, e.g. note 001's 0).

    Examples
    --------
    >>> max_pool2d_jacobian(np.array([[[1., 4., 2., 0.]]]), (1, 2)).toarray()
    array([[0., 1., 0., 0.],
           [0., 0., 1., 0.]])
    """
    return max_pool_jacobian(x, 2, kernel_size, stride, padding, dilation=dilation, ceil_mode=ceil_mode, pad_value=pad_value,
                             ties=ties, dtype=dtype, max_bytes=max_bytes)


def max_pool1d_jacobian(x, kernel_size, stride=None, padding=0, *, dilation=1, ceil_mode=False,
                        pad_value=float("-inf"), ties="first", dtype=None, max_bytes=None):
    """∂vec(y)/∂vec(x) of :func:`max_pool1d`: one 1 per row, at the switch.

    Examples
    --------
    >>> max_pool1d_jacobian(np.array([[1., 5., 2.]]), 2, ceil_mode=True).toarray()
    array([[0., 1., 0.],
           [0., 0., 1.]])
    """
    return max_pool_jacobian(x, 1, kernel_size, stride, padding, dilation=dilation, ceil_mode=ceil_mode, pad_value=pad_value,
                             ties=ties, dtype=dtype, max_bytes=max_bytes)


def max_pool3d_jacobian(x, kernel_size, stride=None, padding=0, *, dilation=1, ceil_mode=False,
                        pad_value=float("-inf"), ties="first", dtype=None, max_bytes=None):
    """∂vec(y)/∂vec(x) of :func:`max_pool3d`: one 1 per row, at the switch."""
    return max_pool_jacobian(x, 3, kernel_size, stride, padding, dilation=dilation, ceil_mode=ceil_mode, pad_value=pad_value,
                             ties=ties, dtype=dtype, max_bytes=max_bytes)


def _grad_for(g, out_shape, name="g"):
    g = np.asarray(g, dtype=np.float64)
    if g.shape != tuple(out_shape):
        raise GeometryError(f"{name}: must have the output's shape {tuple(out_shape)} (got {g.shape})")
    return g


def max_pool_vjp_switches(g, x, kernel_size, stride=None, padding=0, *, dilation=1, ceil_mode=False,
                          pad_value=float("-inf"), ties="first", nd=2):
    """∂L/∂x: route each upstream gradient to its switch (note 001's "gradient routing").

    ``np.bincount`` sums the gradients of windows sharing a winner (overlapping
    windows); gradients of windows won by padding are dropped.
    """
    s = max_pool_switches(x, nd, kernel_size, stride, padding, dilation=dilation, ceil_mode=ceil_mode, pad_value=pad_value, ties=ties)
    g = _grad_for(g, s.values.shape)
    column = s.column.ravel()
    keep = column >= 0
    out = np.bincount(column[keep], weights=g.ravel()[keep], minlength=exact_size(s.input_shape))
    return out.reshape(s.input_shape)


def max_pool_vjp_col2im(g, x, kernel_size, stride=None, padding=0, *, dilation=1, ceil_mode=False,
                        pad_value=float("-inf"), ties="first", nd=2):
    """∂L/∂x as col2im of a one-hot patch matrix.

    Each output position's patch row gets ``g`` at its winner's tap and 0
    elsewhere; :func:`~jacobians.ops.convnd.col2im_nd` folds the patches back
    onto the input and drops taps on the padding (and on the ceil-mode
    overflow) by its own index arithmetic, without the switches' columns.
    """
    s = max_pool_switches(x, nd, kernel_size, stride, padding, dilation=dilation, ceil_mode=ceil_mode, pad_value=pad_value, ties=ties)
    g = _grad_for(g, s.values.shape)
    geom, conv = s.geometry, s.geometry.as_conv()
    c, P, K = geom.channels, exact_size(geom.out_spatial), exact_size(geom.kernel)
    patches = np.zeros((P, c, K))
    tap = s.tap.reshape(c, P).T  # (ΠO, C)
    np.put_along_axis(patches, tap[..., None], g.reshape(c, P).T[..., None], axis=-1)
    out = col2im_nd(patches.reshape(P, c * K), geom.input_shape, geom.kernel, conv.stride, conv.padding, conv.dilation)
    return out.reshape(s.input_shape)


def max_pool2d_vjp_switches(g, x, kernel_size, stride=None, padding=0, *, dilation=1, ceil_mode=False,
                            pad_value=float("-inf"), ties="first"):
    """2-D :func:`max_pool_vjp_switches`."""
    return max_pool_vjp_switches(g, x, kernel_size, stride, padding, dilation=dilation, ceil_mode=ceil_mode, pad_value=pad_value,
                                 ties=ties, nd=2)


def max_pool2d_vjp_col2im(g, x, kernel_size, stride=None, padding=0, *, dilation=1, ceil_mode=False,
                          pad_value=float("-inf"), ties="first"):
    """2-D :func:`max_pool_vjp_col2im`."""
    return max_pool_vjp_col2im(g, x, kernel_size, stride, padding, dilation=dilation, ceil_mode=ceil_mode, pad_value=pad_value,
                               ties=ties, nd=2)


# ---------------------------------------------------------------------------
# average pooling
# ---------------------------------------------------------------------------
def _check_divisor_override(divisor_override):
    if divisor_override is None:
        return None
    if isinstance(divisor_override, bool) or not isinstance(divisor_override, (int, np.integer)) or divisor_override <= 0:
        raise GeometryError(f"divisor_override: must be None or a positive integer, as in PyTorch (got {_short(divisor_override)})")
    return as_positive_int(divisor_override, "divisor_override")  # at most 2**31 - 1, as every geometry number


def avg_pool_divisor_factors(geom: PoolNdGeometry, count_include_pad=True, divisor_override=None, axes=None):
    """Per axis, the factor of each output position's divisor: divisor(i) = Π_ax f_ax(i_ax).

    PyTorch's rule, per axis with start = i·s − p_before:
    ``count_include_pad=True`` → f = min(start + k, size + p_after) − start
    (the window clipped to the padded input: the ceil-mode overflow is not
    counted); ``False`` → the number of taps on the input. With
    ``divisor_override`` the divisor is that constant (first factor; others 1).
    ``axes`` limits the result to those axes (all by default); the check
    below runs on every axis regardless.
    """
    divisor_override = _check_divisor_override(divisor_override)
    count_include_pad = _check_bool(count_include_pad, "count_include_pad")
    _check_windows_touch_input(geom, count_include_pad, divisor_override)
    axes = range(geom.ndim) if axes is None else axes
    return [_axis_divisor(geom, ax, np.arange(geom.out_spatial[ax]) * geom.stride[ax] - geom.padding[ax][0],
                          count_include_pad, divisor_override) for ax in axes]


def _axis_divisor(geom: PoolNdGeometry, ax: int, start, count_include_pad, divisor_override):
    """f_ax at the windows starting at ``start`` (input coordinates), float64 (see :func:`avg_pool_divisor_factors`)."""
    if divisor_override is not None:
        return np.full(start.shape, float(divisor_override) if ax == 0 else 1.0)
    k, size = geom.kernel[ax], geom.spatial[ax]
    if count_include_pad:
        f = np.minimum(start + k, size + geom.padding[ax][1]) - start
    else:
        f = np.minimum(start + k, size) - np.maximum(start, 0)
    return f.astype(np.float64)


def _check_windows_touch_input(geom: PoolNdGeometry, count_include_pad: bool, divisor_override) -> None:
    """With count_include_pad=False, a window lying entirely in the padding would divide by 0: refuse it.

    Windows move monotonically along an axis, so only the first and the last
    window of each axis can miss the input: O(N) work before anything is allocated.
    """
    if count_include_pad or divisor_override is not None:
        return
    for ax in range(geom.ndim):
        first = -geom.padding[ax][0]
        last = (geom.out_spatial[ax] - 1) * geom.stride[ax] - geom.padding[ax][0]
        if first + geom.kernel[ax] <= 0 or last >= geom.spatial[ax]:
            pads = geom.padding if geom.ndim != 2 else (*geom.padding[0], *geom.padding[1])
            raise GeometryError(
                f"padding: a pooling window lies entirely in the padding {pads}; with "
                "count_include_pad=False its divisor would be 0 (use padding < kernel extent)"
            )


def avg_pool2d_divisor(geom, count_include_pad=True, divisor_override=None) -> np.ndarray:
    """Divisor of every output position, shape (OH, OW) (see :func:`avg_pool_divisor_factors`)."""
    if not isinstance(geom, PoolNdGeometry):  # a Pool2dGeometry
        pt, pb, pl, pr = geom.padding
        geom = PoolNdGeometry(geom.channels, (geom.height, geom.width), tuple(geom.kernel), tuple(geom.stride),
                              ((pt, pb), (pl, pr)), tuple(geom.dilation))
    fh, fw = avg_pool_divisor_factors(geom, count_include_pad, divisor_override)
    return fh[:, None] * fw[None, :]


def _divisor(geom, count_include_pad, divisor_override):
    out = np.ones(geom.out_spatial)
    for ax, f in enumerate(avg_pool_divisor_factors(geom, count_include_pad, divisor_override)):
        shp = [1] * geom.ndim
        shp[ax] = f.size
        out = out * f.reshape(shp)
    return out


def _avg_setup(x, nd, kernel_size, stride, padding, ceil_mode):
    x3, in_shape = _as_channels(x, nd)
    return x3, in_shape, _pool_geometry(x3.shape, nd, kernel_size, stride, padding, 1, ceil_mode)


def avg_pool(x, nd, kernel_size, stride=None, padding=0, *, ceil_mode=False, count_include_pad=True,
             divisor_override=None):
    """N-d average pooling (see :func:`avg_pool2d`)."""
    count_include_pad = _check_bool(count_include_pad, "count_include_pad")
    x3, in_shape, geom = _avg_setup(x, nd, kernel_size, stride, padding, ceil_mode)
    _check_forward_memory(f"avg_pool{nd}d", geom)
    divisor = _divisor(geom, count_include_pad, divisor_override)
    win = sliding_windows_nd(x3, geom.as_conv(), 0.0)  # the ceil-mode overflow reads zeros: it adds nothing
    total = win.sum(axis=tuple(range(-nd, 0)))
    return (total / divisor.astype(total.dtype)).reshape(_out_shape(in_shape, geom))


def avg_pool2d(x=None, kernel_size=None, stride=None, padding=0, *, ceil_mode=False, count_include_pad=True, divisor_override=None, input=None):
    """Average pooling (PyTorch's ``avg_pool2d``, same argument names; options after ``padding`` keyword-only).

    Parameters
    ----------
    x : (C, H, W) or (N, C, H, W)
    kernel_size, stride : int or (h, w); stride defaults to kernel_size
    padding : int, (ph, pw), (top, bottom, left, right) or per-axis pairs; zeros
    ceil_mode : PyTorch's output-size rule (a last window starting in the right padding is dropped)
    count_include_pad : bool — divisor counts the padding (clipped to the padded
        input, so the ceil-mode overflow is never counted) or only entries on the input
    divisor_override : None or a positive int replacing every divisor

    Returns
    -------
    y : (C, OH, OW) or (N, C, OH, OW)

    Notes
    -----
    ``y[c,i,j] = (1/d[i,j]) Σ_{a,b} xp[c, i·sh + a, j·sw + b]``; with
    ``count_include_pad=True`` and no ceil overflow, d = kh·kw and this is
    note 001's convolution with P = 1/(h·w) on every channel.

    Examples
    --------
    >>> avg_pool2d(np.arange(4.).reshape(1, 2, 2), 2)
    array([[[1.5]]])
    >>> avg_pool2d(np.arange(9.).reshape(1, 3, 3), 2, ceil_mode=True)[0]   # last windows: 2 and 1 entries
    array([[2. , 3.5],
           [6.5, 8. ]])
    """
    x = torch_input(x, input)  # PyTorch's name input= works too
    return avg_pool(x, 2, kernel_size, stride, padding, ceil_mode=ceil_mode, count_include_pad=count_include_pad,
                    divisor_override=divisor_override)


def avg_pool1d(x=None, kernel_size=None, stride=None, padding=0, *, ceil_mode=False, count_include_pad=True, input=None):
    """1-D average pooling over x (C, L) or (N, C, L) (PyTorch's ``avg_pool1d`` has no divisor_override).

    Examples
    --------
    >>> avg_pool1d(np.array([[1., 2., 3., 4., 5.]]), 2, ceil_mode=True)
    array([[1.5, 3.5, 5. ]])
    """
    x = torch_input(x, input)  # PyTorch's name input= works too
    return avg_pool(x, 1, kernel_size, stride, padding, ceil_mode=ceil_mode, count_include_pad=count_include_pad)


def avg_pool3d(x=None, kernel_size=None, stride=None, padding=0, *, ceil_mode=False, count_include_pad=True, divisor_override=None, input=None):
    """3-D average pooling over x (C, D, H, W) or (N, C, D, H, W); arguments as :func:`avg_pool2d`.

    Examples
    --------
    >>> avg_pool3d(np.arange(8.).reshape(1, 2, 2, 2), 2, divisor_override=2)
    array([[[[14.]]]])
    """
    x = torch_input(x, input)  # PyTorch's name input= works too
    return avg_pool(x, 3, kernel_size, stride, padding, ceil_mode=ceil_mode, count_include_pad=count_include_pad,
                    divisor_override=divisor_override)


def avg_pool_jacobian(input_shape, nd, kernel_size, stride=None, padding=0, *, ceil_mode=False, count_include_pad=True,
                      divisor_override=None, dtype=None, max_bytes=None):
    """N-d average-pool Jacobian (see :func:`avg_pool2d_jacobian`)."""
    count_include_pad = _check_bool(count_include_pad, "count_include_pad")
    in_shape = as_shape(input_shape, "input_shape", (nd + 1, nd + 2))
    if len(in_shape) == nd + 2:  # the batch rule: N·C independent channels, block-diagonal
        in_shape = (exact_size(as_shape(in_shape, "input_shape", nd + 2)[:2]), *in_shape[2:])
    dt = resolve_dtype(dtype)
    geom = _pool_geometry(in_shape, nd, kernel_size, stride, padding, 1, ceil_mode)
    conv = geom.as_conv()
    nnz = geom.channels
    for ax in range(nd):
        nnz *= valid_taps(conv, ax)
    shape = (exact_size(geom.output_shape), exact_size(in_shape))
    what = f"avg_pool{nd}d Jacobian"
    check_budget(what, nnz, shape, dt, max_bytes)  # before any array of the output's size
    factors = avg_pool_divisor_factors(geom, count_include_pad, divisor_override, axes=range(1, nd))
    tables = [_avg_first_axis(geom, count_include_pad, divisor_override, dt)]
    tables += [_avg_axis_table(geom, ax, f, dt) for ax, f in zip(range(1, nd), factors)]
    return product_csr_nd(tables, geom.channels, geom.spatial, dtype=dt, what=what, max_bytes=max_bytes)


def _window_taps(geom: PoolNdGeometry, ax: int, start):
    """First tap on the input and the count of taps on it, for windows starting at ``start`` (ints or arrays)."""
    k, d = geom.kernel[ax], geom.dilation[ax]
    lo = np.maximum(0, -(start // d))  # -(q // d) = ceil(-q / d)
    hi = np.maximum(np.minimum(k, (geom.spatial[ax] - 1 - start) // d + 1), lo)
    return lo, hi - lo


def _avg_axis_table(geom: PoolNdGeometry, ax: int, factor, dtype):
    """``(index, weight, count)`` of the one-axis factor A_ax: row i holds its window's taps on the input, each 1/f(i).

    The divisor factors per axis (:func:`avg_pool_divisor_factors`), so the
    Jacobian is ``I_C ⊗ A₁ ⊗ … ⊗ A_N`` (:func:`jacobians.ops._separable.product_csr_nd`).
    """
    k, d = geom.kernel[ax], geom.dilation[ax]
    start = np.arange(geom.out_spatial[ax], dtype=np.int64) * geom.stride[ax] - geom.padding[ax][0]
    lo, count = _window_taps(geom, ax, start)
    index = (start + lo * d)[:, None] + np.arange(0, k * d, d, dtype=np.int64)[None, :]
    weight = np.broadcast_to((1.0 / factor).astype(dtype)[:, None], index.shape)
    return index, weight, count


def _avg_first_axis(geom: PoolNdGeometry, count_include_pad, divisor_override, dtype) -> AffineAxis:
    """The first axis's factor as runs of translated windows, in O(k) Python ints (no array of its length).

    Windows lying wholly on the input (taps [0, k), divisor k or the override)
    form one run; each border position (a window reaching into the padding or
    the ceil-mode overflow) is a run of its own. The divisor of the interior run
    is checked at both ends (it is monotone in the window's start).
    """
    d, s, pb, n_out = geom.dilation[0], geom.stride[0], geom.padding[0][0], geom.out_spatial[0]
    first_inside, end_inside = _interior(geom, 0)

    def run(p0: int, m: int) -> AffineRun | None:
        start = p0 * s - pb
        lo, count = (int(v) for v in _window_taps(geom, 0, start))
        if count == 0:
            return None
        f = _axis_divisor(geom, 0, np.array([start, (p0 + m - 1) * s - pb]), count_include_pad, divisor_override)
        if f[0] != f[1]:  # cannot happen inside (f = k); kept honest rather than assumed
            raise AssertionError(f"avg_pool: divisor varies along the run at {p0}..{p0 + m - 1}")
        index0 = start + (lo + np.arange(count, dtype=np.int64)) * d
        return AffineRun(p0, m, index0, s, np.full(count, 1.0 / f[0], dtype=dtype))

    runs = [run(p, 1) for p in range(first_inside)]
    if end_inside > first_inside:
        runs.append(run(first_inside, end_inside - first_inside))
    runs += [run(p, 1) for p in range(end_inside, n_out)]
    return AffineAxis(n_out, tuple(r for r in runs if r is not None))


def avg_pool2d_jacobian(input_shape, kernel_size, stride=None, padding=0, *, ceil_mode=False, count_include_pad=True,
                        divisor_override=None, dtype=None, max_bytes=None):
    """∂vec(y)/∂vec(x) of average pooling; it does not depend on the values of x.

    Parameters
    ----------
    input_shape : (C, H, W)
    others : as :func:`avg_pool2d`
    dtype : value dtype (float64 default)
    max_bytes : refuse (OperatorTooLargeError) when the CSR would exceed it
        (default: 3/4 of physical memory)

    Returns
    -------
    csr_array of shape (C·OH·OW, C·H·W).

    Notes
    -----
    ``∂y[c,i,j]/∂x[c',p,q] = [c = c'] / d[i,j]`` when ``p = i·sh − pt + a``
    and ``q = j·sw − pl + b`` for a tap (a, b), else 0 — note 001's
    derivative of I * P, the same on every channel. The divisor factors per
    axis (d[i, j] = f_h(i)·f_w(j)), so J = I_C ⊗ A_h ⊗ A_w with one-axis window
    matrices of values 1/f, written straight into CSR by
    :func:`jacobians.ops._separable.product_csr_nd` — not by a convolution
    builder, so that the equality with a depthwise ``conv2d_input_jacobian``
    with constant kernel 1/(kh·kw) is a check between two routes.

    Examples
    --------
    >>> avg_pool2d_jacobian((1, 1, 4), (1, 2)).toarray()
    array([[0.5, 0.5, 0. , 0. ],
           [0. , 0. , 0.5, 0.5]])
    >>> avg_pool2d_jacobian((1, 1, 3), (1, 2), ceil_mode=True).toarray()   # the last window holds one entry
    array([[0.5, 0.5, 0. ],
           [0. , 0. , 1. ]])
    """
    return avg_pool_jacobian(input_shape, 2, kernel_size, stride, padding, ceil_mode=ceil_mode,
                             count_include_pad=count_include_pad, divisor_override=divisor_override, dtype=dtype, max_bytes=max_bytes)


def avg_pool1d_jacobian(input_shape, kernel_size, stride=None, padding=0, *, ceil_mode=False, count_include_pad=True,
                        dtype=None, max_bytes=None):
    """∂vec(y)/∂vec(x) of :func:`avg_pool1d`, shape (C·OL, C·L)."""
    return avg_pool_jacobian(input_shape, 1, kernel_size, stride, padding, ceil_mode=ceil_mode,
                             count_include_pad=count_include_pad, divisor_override=None,
                             dtype=dtype, max_bytes=max_bytes)


def avg_pool3d_jacobian(input_shape, kernel_size, stride=None, padding=0, *, ceil_mode=False, count_include_pad=True,
                        divisor_override=None, dtype=None, max_bytes=None):
    """∂vec(y)/∂vec(x) of :func:`avg_pool3d`, shape (C·OD·OH·OW, C·D·H·W)."""
    return avg_pool_jacobian(input_shape, 3, kernel_size, stride, padding, ceil_mode=ceil_mode,
                             count_include_pad=count_include_pad, divisor_override=divisor_override, dtype=dtype, max_bytes=max_bytes)


def avg_pool_vjp_col2im(g, x, kernel_size, stride=None, padding=0, *, ceil_mode=False, count_include_pad=True,
                        divisor_override=None, nd=2):
    """∂L/∂x: spread ``g/d`` over every tap of its window, then fold with col2im."""
    x3, in_shape, geom = _avg_setup(x, nd, kernel_size, stride, padding, ceil_mode)
    g = _grad_for(g, _out_shape(in_shape, geom))
    conv = geom.as_conv()
    c, P, K = geom.channels, exact_size(geom.out_spatial), exact_size(geom.kernel)
    share = (g.reshape(c, *geom.out_spatial) / _divisor(geom, count_include_pad, divisor_override)).reshape(c, P).T
    patches = np.broadcast_to(share[..., None], (P, c, K)).reshape(P, c * K)
    return col2im_nd(patches, geom.input_shape, geom.kernel, conv.stride, conv.padding, conv.dilation).reshape(in_shape)


def avg_pool_vjp_rot180(g, x, kernel_size, stride=None, padding=0, *, ceil_mode=False, count_include_pad=True,
                        divisor_override=None, nd=2):
    """∂L/∂x through the depthwise convolution: the rot180 route with a kernel of ones on g/d."""
    x3, in_shape, geom = _avg_setup(x, nd, kernel_size, stride, padding, ceil_mode)
    g = _grad_for(g, _out_shape(in_shape, geom))
    conv = geom.as_conv()
    scaled = g.reshape(geom.channels, *geom.out_spatial) / _divisor(geom, count_include_pad, divisor_override)
    ones = np.ones((geom.channels, 1, *geom.kernel))
    out = convnd_vjp_input_rot180(scaled, x3, ones, stride=conv.stride, padding=conv.padding, groups=geom.channels)
    return out.reshape(in_shape)


def avg_pool2d_vjp_col2im(g, x, kernel_size, stride=None, padding=0, *, ceil_mode=False, count_include_pad=True,
                          divisor_override=None):
    """2-D :func:`avg_pool_vjp_col2im`."""
    return avg_pool_vjp_col2im(g, x, kernel_size, stride, padding, ceil_mode=ceil_mode,
                               count_include_pad=count_include_pad, divisor_override=divisor_override, nd=2)


def avg_pool2d_vjp_rot180(g, x, kernel_size, stride=None, padding=0, *, ceil_mode=False, count_include_pad=True,
                          divisor_override=None):
    """2-D :func:`avg_pool_vjp_rot180`."""
    return avg_pool_vjp_rot180(g, x, kernel_size, stride, padding, ceil_mode=ceil_mode,
                               count_include_pad=count_include_pad, divisor_override=divisor_override, nd=2)


# ---------------------------------------------------------------------------
# reference forwards (loops from the defining formulas, for the generic check)
# ---------------------------------------------------------------------------
def _ref_out_size(n, k, s, pb, pa, d, ceil_mode):
    """PyTorch's pooling size, written out again: floor/ceil, then drop a last window starting past the input."""
    num = n + pb + pa - d * (k - 1) - 1
    out = (num + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + pb:
        out -= 1
    return out


def reference_max_pool(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, pad_value=float("-inf"),
                       ties="first", *, nd=2):
    """Loops over windows: max of the taps on the input and, for padded taps, ``pad_value``."""
    x = np.asarray(x, dtype=np.float64)
    shape = x.shape
    x = x.reshape(-1, *shape[-nd:])
    k = as_tuple_n(kernel_size, "kernel_size", nd)
    s = k if stride is None else as_tuple_n(stride, "stride", nd)
    d = as_tuple_n(dilation, "dilation", nd)
    p = as_padding_nd(padding, nd)
    size = x.shape[1:]
    outs = [_ref_out_size(size[a], k[a], s[a], p[a][0], p[a][1], d[a], ceil_mode) for a in range(nd)]
    y = np.empty((x.shape[0], *outs))
    for c in range(x.shape[0]):
        for i in itertools.product(*map(range, outs)):
            vals = []
            for a in itertools.product(*map(range, k)):
                q = [i[ax] * s[ax] - p[ax][0] + a[ax] * d[ax] for ax in range(nd)]
                if all(0 <= q[ax] < size[ax] for ax in range(nd)):
                    vals.append(x[(c, *q)])
                elif all(q[ax] < size[ax] + p[ax][1] for ax in range(nd)):
                    vals.append(float(pad_value))
            y[(c, *i)] = max(vals)
    return y.reshape(*shape[:-nd], *outs)


def reference_avg_pool(x, kernel_size, stride=None, padding=0, *, ceil_mode=False, count_include_pad=True,
                       divisor_override=None, nd=2):
    """Loops over windows: the sum of taps on the input over the count PyTorch's rule gives."""
    x = np.asarray(x, dtype=np.float64)
    shape = x.shape
    x = x.reshape(-1, *shape[-nd:])
    k = as_tuple_n(kernel_size, "kernel_size", nd)
    s = k if stride is None else as_tuple_n(stride, "stride", nd)
    p = as_padding_nd(padding, nd)
    size = x.shape[1:]
    outs = [_ref_out_size(size[a], k[a], s[a], p[a][0], p[a][1], 1, ceil_mode) for a in range(nd)]
    y = np.empty((x.shape[0], *outs))
    for c in range(x.shape[0]):
        for i in itertools.product(*map(range, outs)):
            total, on_input, in_padded = 0.0, 0, 0
            for a in itertools.product(*map(range, k)):
                q = [i[ax] * s[ax] - p[ax][0] + a[ax] for ax in range(nd)]
                if all(0 <= q[ax] < size[ax] for ax in range(nd)):
                    total += x[(c, *q)]
                    on_input += 1
                if all(q[ax] < size[ax] + p[ax][1] for ax in range(nd)):
                    in_padded += 1
            div = divisor_override or (in_padded if count_include_pad else on_input)
            y[(c, *i)] = total / div
    return y.reshape(*shape[:-nd], *outs)


# ---------------------------------------------------------------------------
# torch forwards (for the generic check's torch.func.jacrev route)
# ---------------------------------------------------------------------------
def _torch_native_padding(pads, kernel):
    """Per-axis ints when torch's own padding argument can express ``pads`` (symmetric, ≤ k/2), else None."""
    if all(b == a and 2 * b <= k for (b, a), k in zip(pads, kernel)):
        return tuple(b for b, _ in pads)
    return None


def _torch_pool_args(x, nd, kernel_size, stride, padding):
    k = as_tuple_n(kernel_size, "kernel_size", nd)
    s = k if stride is None else as_tuple_n(stride, "stride", nd)
    return k, s, as_padding_nd(padding, nd)


def _torch_max_pool(nd):
    def fwd(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, pad_value=float("-inf"),
            ties="first"):
        """torch max_poolNd; other pad values (or per-side padding) by explicit F.pad plus a -inf overflow pad and a crop."""
        import torch.nn.functional as F

        fn = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[nd]
        k, s, pads = _torch_pool_args(x, nd, kernel_size, stride, padding)
        d = as_tuple_n(dilation, "dilation", nd)
        xb = x[None]
        if ties == "first-colmajor":  # a row-major scan of the axis-reversed window is a column-major scan
            perm = (0, 1, *range(nd + 1, 1, -1))
            xb, k, s, d, pads = xb.permute(perm), k[::-1], s[::-1], d[::-1], pads[::-1]
        native = _torch_native_padding(pads, k) if pad_value == float("-inf") else None
        if native is not None:
            y = fn(xb, k, s, native, d, ceil_mode=ceil_mode)
        else:
            # torch pads with -inf inside; emulate: pad with pad_value, then with -inf for the ceil overflow
            outs = [_ref_out_size(n, kk, ss, pb, pa, dd, ceil_mode)
                    for n, kk, ss, (pb, pa), dd in zip(xb.shape[2:], k, s, pads, d)]
            extra = [max(0, (o - 1) * ss + dd * (kk - 1) + 1 - (n + pb + pa))
                     for o, n, kk, ss, (pb, pa), dd in zip(outs, xb.shape[2:], k, s, pads, d)]
            xb = F.pad(xb, [v for pb_pa in reversed(pads) for v in pb_pa], value=float(pad_value))
            xb = F.pad(xb, [v for e in reversed(extra) for v in (0, e)], value=float("-inf"))
            y = fn(xb, k, s, 0, d)[(slice(None), slice(None), *(slice(0, o) for o in outs))]
        if ties == "first-colmajor":
            y = y.permute(perm)
        return y[0]

    return fwd


def _torch_avg_pool(nd):
    def fwd(x, kernel_size, stride=None, padding=0, *, ceil_mode=False, count_include_pad=True, divisor_override=None):
        """torch avg_poolNd; padding torch cannot express is emulated as (sum pool) / (count pool)."""
        import torch
        import torch.nn.functional as F

        fn = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[nd]
        k, s, pads = _torch_pool_args(x, nd, kernel_size, stride, padding)
        native = _torch_native_padding(pads, k)
        extra_args = {} if nd == 1 else {"divisor_override": divisor_override}
        if native is not None:
            return fn(x[None], k, s, native, ceil_mode=ceil_mode, count_include_pad=count_include_pad, **extra_args)[0]
        outs = [_ref_out_size(n, kk, ss, pb, pa, 1, ceil_mode) for n, kk, ss, (pb, pa) in zip(x.shape[1:], k, s, pads)]
        extra = [max(0, (o - 1) * ss + kk - (n + pb + pa)) for o, n, kk, ss, (pb, pa) in zip(outs, x.shape[1:], k, s, pads)]
        flat = [v for pb_pa in reversed(pads) for v in pb_pa]
        over = [v for e in reversed(extra) for v in (0, e)]
        crop = (slice(None), slice(None), *(slice(0, o) for o in outs))
        K = float(np.prod(k))
        total = fn(F.pad(F.pad(x[None], flat), over), k, s, 0)[crop] * K
        if divisor_override is not None:
            return (total / divisor_override)[0]
        ones = torch.ones_like(x[None])
        counted = F.pad(F.pad(ones, flat, value=1.0), over) if count_include_pad else F.pad(F.pad(ones, flat), over)
        return (total / (fn(counted, k, s, 0)[crop] * K))[0]

    return fwd


# ---------------------------------------------------------------------------
# registration
# ---------------------------------------------------------------------------
_MAX_PARAMS = ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "pad_value", "ties")
_AVG_PARAMS = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")

#: (C, H, W, kernel, stride, padding, pad_value, ties, dilation): the generic check's max-pool table.
MAX_POOL_GEOMETRIES = [
    (1, 4, 4, 2, None, 0, float("-inf"), "first", 1),
    (3, 6, 6, 2, None, 0, float("-inf"), "first", 1),
    (2, 5, 7, 3, 2, 1, float("-inf"), "first", 1),  # overlapping windows
    (2, 6, 5, (2, 3), (1, 2), (1, 1), float("-inf"), "first-colmajor", 1),
    (1, 7, 7, 3, 1, 1, float("-inf"), "first", 2),  # dilation
    (2, 5, 6, 2, 1, (0, 1, 1, 0), float("-inf"), "first", 1),  # one-sided padding
    # note 001, Appendix B: 3×4 input, 3×2 window, padding (1, 1), stride (1, 2), zero padding
    (1, 3, 4, (3, 2), (1, 2), 1, 0.0, "first-colmajor", 1),
    (2, 5, 5, 3, 2, 2, 0.0, "first", 1),  # pad 2 of a 3-window: padding wins often
    (1, 1, 1, 1, None, 0, float("-inf"), "first", 1),
    (1, 2, 3, (4, 5), 1, 1, float("-inf"), "first", 1),  # window equal to the padded input
    (1, 1, 6, (1, 3), (1, 2), (0, 0, 1, 1), 0.0, "first", 1),
]
#: (C, spatial, kernel, stride, padding, dilation, ceil_mode, pad_value, ties) per rank: ceil_mode, dilation, 1-D, 3-D.
MAX_POOL_ND_GEOMETRIES = {
    1: [
        (2, (7,), 2, None, 0, 1, True, float("-inf"), "first"),  # ceil keeps a last half window
        (1, (8,), 3, 2, 1, 2, True, float("-inf"), "first"),  # dilation + ceil
        (2, (6,), 3, 2, (2, 0), 1, False, 0.0, "first"),  # per-side padding, note 001's zero pad
        (1, (5,), 2, 2, 1, 1, True, float("-inf"), "first"),  # ceil: the window that would start in the pad is dropped
    ],
    2: [
        (2, (5, 7), 2, None, 0, 1, True, float("-inf"), "first"),
        (1, (6, 7), 3, 2, 1, (2, 1), True, float("-inf"), "first"),
        (2, (7, 5), (2, 3), (3, 2), (1, 1), (2, 1), True, float("-inf"), "first-colmajor"),
        (1, (5, 5), 2, 2, 1, 1, True, 0.0, "first"),  # zero pad and ceil overflow together
    ],
    3: [
        (1, (3, 4, 4), 2, None, 0, 1, False, float("-inf"), "first"),
        (2, (3, 5, 4), (2, 3, 2), (1, 2, 2), (1, 1, 0), (1, 1, 1), True, float("-inf"), "first"),
        (1, (5, 4, 5), 2, 2, 1, (2, 1, 1), True, float("-inf"), "first-colmajor"),
        (1, (3, 3, 4), (2, 2, 3), 1, ((1, 0), (0, 1), (1, 1)), 1, False, 0.0, "first"),
    ],
}


def _distinct_values(rng, shape):
    """Distinct values with distinct magnitudes ≥ 0.1, spaced 0.1 apart: no ties, nothing near 0.

    Away from ties (and from a padded 0), max pooling is differentiable and
    the central finite difference with step ~1e-6 sees the same switches.
    """
    n = int(np.prod(shape))
    magnitudes = (rng.permutation(n) + 1) * 0.1
    return (magnitudes * rng.choice([-1.0, 1.0], size=n)).reshape(shape)


def _case_id(prefix, *parts):
    cid = prefix + "-".join(str(p) for p in parts)
    for a, b in ((" ", ""), ("(", ""), (")", ""), (",", "_")):
        cid = cid.replace(a, b)
    return cid


def _max_cases(nd):
    def make():
        rng = np.random.default_rng(20261123 + nd)
        out = []
        table = []
        if nd == 2:
            table = [((c, (h, w), k, s, p, d, False, pv, ties)) for c, h, w, k, s, p, pv, ties, d in MAX_POOL_GEOMETRIES]
        for c, spatial, k, s, p, d, ceil, pv, ties in table + MAX_POOL_ND_GEOMETRIES[nd]:
            x = _distinct_values(rng, (c, *spatial))
            params = dict(kernel_size=k, stride=s, padding=p, pad_value=pv, ties=ties, dilation=d)
            if ceil:
                params["ceil_mode"] = True
            cid = _case_id(f"x{c}x{'x'.join(map(str, spatial))}-", f"k{k}", f"s{s}", f"p{p}", f"pv{pv}", ties, f"d{d}",
                           "ceil" if ceil else "floor")
            out.append(Case({"x": x}, params, cid))
        if nd == 2:
            # all inputs negative with zero padding: every window touching the padding is won by it (empty rows)
            x = -np.abs(_distinct_values(rng, (2, 4, 4)))
            params = dict(kernel_size=3, stride=1, padding=1, pad_value=0.0, ties="first", dilation=1)
            out.append(Case({"x": x}, params, "x2x4x4-k3-s1-p1-pv0-negative-inputs"))
        return out

    return make


#: (C, H, W, kernel, stride, padding, count_include_pad): the generic check's avg-pool table.
AVG_POOL_GEOMETRIES = [
    (1, 4, 4, 2, None, 0, True),
    (3, 6, 6, 3, 2, 1, True),
    (3, 6, 6, 3, 2, 1, False),
    (2, 5, 7, (2, 3), (1, 2), (1, 1), False),
    (1, 3, 4, (3, 2), (1, 2), 1, True),  # note 001's Appendix B geometry
    (2, 5, 6, 2, 1, (0, 1, 1, 0), True),  # one-sided padding (torch cannot express it natively)
    (2, 5, 6, 3, 2, (2, 0, 1, 2), False),
    (1, 1, 1, 1, None, 0, True),
    (1, 2, 3, (4, 5), 1, 1, False),
]
#: (C, spatial, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override) per rank.
AVG_POOL_ND_GEOMETRIES = {
    1: [
        (2, (7,), 2, None, 0, True, True, None),
        (1, (8,), 3, 2, 1, True, True, None),  # last window: clipped to the padded input in the count
        (1, (8,), 3, 2, 1, True, False, None),
        (2, (6,), 3, 2, (2, 1), False, False, None),
    ],
    2: [
        (2, (5, 7), 2, None, 0, True, True, None),
        (1, (6, 7), 3, 2, 1, True, True, None),
        (1, (6, 7), 3, 2, 1, True, False, None),
        (2, (5, 6), (2, 3), (2, 2), (1, 1), False, True, 5),  # divisor_override
        (1, (7, 5), 3, (2, 3), (1, 0, 0, 2), True, True, 4),  # per-side padding, ceil, override
    ],
    3: [
        (1, (3, 4, 4), 2, None, 0, False, True, None),
        (2, (3, 5, 4), (2, 3, 2), (1, 2, 2), (1, 1, 0), True, True, None),
        (1, (5, 4, 5), 2, 2, 1, True, False, None),
        (1, (3, 3, 4), (2, 2, 3), 1, ((1, 0), (0, 1), (1, 1)), False, True, 7),
    ],
}


def _avg_cases(nd):
    def make():
        rng = np.random.default_rng(20261124 + nd)
        out = []
        table = []
        if nd == 2:
            table = [(c, (h, w), k, s, p, False, cip, None) for c, h, w, k, s, p, cip in AVG_POOL_GEOMETRIES]
        for c, spatial, k, s, p, ceil, cip, dv in table + AVG_POOL_ND_GEOMETRIES[nd]:
            params = dict(kernel_size=k, stride=s, padding=p, count_include_pad=cip)
            if ceil:
                params["ceil_mode"] = True
            if dv is not None:
                params["divisor_override"] = dv
            cid = _case_id(f"x{c}x{'x'.join(map(str, spatial))}-", f"k{k}", f"s{s}", f"p{p}", "incl" if cip else "excl",
                           "ceil" if ceil else "floor", f"div{dv}")
            out.append(Case({"x": rng.standard_normal((c, *spatial))}, params, cid))
        return out

    return make


def _jac_max(nd):
    return lambda x, **p: max_pool_jacobian(x, nd, **p)


def _jac_avg(nd):
    return lambda x, **p: avg_pool_jacobian(np.shape(x), nd, **p)


def _registered(public):
    """Registered forward, inputs required (see :mod:`jacobians.registry`); the public one also takes input=."""

    def forward(x, kernel_size, **params):
        return public(x, kernel_size, **params)

    forward.__name__ = forward.__qualname__ = f"_{public.__name__}_forward"
    forward.__doc__ = f"{public.__name__} with x and kernel_size required (the registry contract)."
    return forward


_MAX_FORWARDS = {nd: _registered(f) for nd, f in {1: max_pool1d, 2: max_pool2d, 3: max_pool3d}.items()}
_AVG_FORWARDS = {nd: _registered(f) for nd, f in {1: avg_pool1d, 2: avg_pool2d, 3: avg_pool3d}.items()}

for _nd in (1, 2, 3):
    register(
        f"max_pool{_nd}d",
        summary=f"{_nd}-D max pooling: the 0/1 mask of its switches (pad value, tie rule, dilation, ceil_mode)",
        forward=_MAX_FORWARDS[_nd],
        jacobian={"x": _jac_max(_nd)},
        vjp={"x": {"switches": functools.partial(max_pool_vjp_switches, nd=_nd),
                   "col2im": functools.partial(max_pool_vjp_col2im, nd=_nd)}},
        cases=_max_cases(_nd),
        structural=("x",),
        torch_forward=_torch_max_pool(_nd),
        reference=functools.partial(reference_max_pool, nd=_nd),
        param_names=_MAX_PARAMS,
        **show_kw(lambda: pool_show(f"max_pool{_nd}d", _nd, "max", TIE_RULES)),
    )
    register(
        f"avg_pool{_nd}d",
        summary=f"{_nd}-D average pooling: a depthwise convolution with P = 1/divisor (ceil_mode, divisor_override)",
        forward=_AVG_FORWARDS[_nd],
        jacobian={"x": _jac_avg(_nd)},
        vjp={"x": {"col2im": functools.partial(avg_pool_vjp_col2im, nd=_nd),
                   "rot180": functools.partial(avg_pool_vjp_rot180, nd=_nd)}},
        cases=_avg_cases(_nd),
        affine_in=("x",),
        torch_forward=_torch_avg_pool(_nd),
        reference=functools.partial(reference_avg_pool, nd=_nd),
        param_names=_AVG_PARAMS if _nd != 1 else _AVG_PARAMS[:-1],
        **show_kw(lambda: pool_show(f"avg_pool{_nd}d", _nd, "avg")),
    )
