"""2-D max and average pooling: forwards, explicit Jacobians, VJPs.

Shapes (canonical convention, PyTorch memory order, C-order vec)::

    x   (C, H, W)    or batched (N, C, H, W) for forwards and VJPs
    y   (C, OH, OW)  OH = floor((H + pt + pb - dh(kh-1) - 1)/sh) + 1

Pooling acts on each channel separately, so a batch (N, C, H, W) is pooled
as N·C channels. Stride defaults to the kernel size (PyTorch's rule).
Padding is an int, (ph, pw) or (top, bottom, left, right); a window larger
than the padded input is refused by :class:`~jacobians.geometry.Pool2dGeometry`
with a one-line GeometryError.

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
    ``count_include_pad=True``: every window is divided by kh·kw (note 001's
    P = 1/(h·w), i.e. a depthwise convolution with a constant kernel);
    ``count_include_pad=False``: by the number of window entries that lie on
    the input (PyTorch's rule). Padding is zeros in both cases.

Faces
-----
* max: :func:`max_pool2d_switches` keeps the switches (argmax of each
  window) during the forward; :func:`max_pool2d_jacobian` is the exact 0/1
  mask built from them; two VJPs — scatter-add through the switches
  (``np.bincount``) and a one-hot patch matrix folded back by
  :func:`~jacobians.ops.conv2d.col2im` (which drops taps on padding by its
  own index arithmetic).
* note 001, Appendix B's index arithmetic (eqs. b-2.1 to b-2.3) is the note's
  own formula and lives in :mod:`jacobians.ledger.vardhan2022_formulas`.
* average: its own index arithmetic for the Jacobian (input-independent);
  VJPs by col2im and by the rot180 route of the depthwise convolution.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..geometry import GeometryError, Pool2dGeometry, as_padding
from ..registry import Case, register
from ._sparse import Pattern, as_float_array, assemble, check_budget, index_dtype_for
from .conv2d import sliding_windows

__all__ = [
    "TIE_RULES",
    "MaxPoolSwitches",
    "max_pool2d",
    "max_pool2d_switches",
    "max_pool2d_jacobian",
    "max_pool2d_jacobian_from_switches",
    "max_pool2d_vjp_switches",
    "max_pool2d_vjp_col2im",
    "avg_pool2d",
    "avg_pool2d_divisor",
    "avg_pool2d_jacobian",
    "avg_pool2d_vjp_col2im",
    "avg_pool2d_vjp_rot180",
]

#: Tie rules of max pooling: name -> window order in which the first maximum wins.
TIE_RULES = {
    "first": "row-major window order (PyTorch)",
    "first-colmajor": "column-major window order (note 001's index i_pq)",
}


# ---------------------------------------------------------------------------
# shared helpers
# ---------------------------------------------------------------------------
def _as_channels(x, name="x"):
    """(C, H, W) or (N, C, H, W) float array -> (channels, H, W) view and the original shape."""
    arr = as_float_array(x, name)
    if arr.dtype == object:
        raise TypeError(f"{name}: pooling needs numeric values (got an object array)")
    if arr.ndim == 3:
        return arr, arr.shape
    if arr.ndim == 4:
        return arr.reshape(-1, *arr.shape[2:]), arr.shape
    raise GeometryError(f"{name}: must have shape (C, H, W) or (N, C, H, W) (got {arr.ndim}-D shape {arr.shape})")


def _out_shape(in_shape, geom: Pool2dGeometry):
    return (*in_shape[:-2], *geom.out_hw)


def _taps_on_input(geom: Pool2dGeometry):
    """Per axis: (input index of every (output, tap), whether it lies on the input)."""
    return geom.tap_offsets(0), geom.tap_offsets(1)


def _check_ties(ties) -> str:
    if ties not in TIE_RULES:
        raise ValueError(f"ties: must be one of {', '.join(repr(t) for t in TIE_RULES)} (got {ties!r})")
    return ties


def _check_pad_value(pad_value) -> float:
    try:
        value = float(pad_value)
    except (TypeError, ValueError):
        raise ValueError(f"pad_value: must be a number or -inf (got {pad_value!r})") from None
    if math.isnan(value) or value == math.inf:
        raise ValueError(f"pad_value: must be a finite number or -inf (got {pad_value!r})")
    return value


# ---------------------------------------------------------------------------
# max pooling
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class MaxPoolSwitches:
    """What the max-pooling forward keeps: the winner of every window.

    Attributes
    ----------
    geometry : the validated Pool2dGeometry (channels = N·C for a batch)
    values : the pooled output y, shaped (C, OH, OW) or (N, C, OH, OW)
    tap : int array shaped like ``values``: the winner's position in its
        window, row-major and 0-based (``a·kw + b`` for window row a, column b)
    column : int array shaped like ``values``: the winner's index in the
        canonical vec(x) (C order over the whole input), or −1 when the
        winner is a padded entry
    """

    geometry: Pool2dGeometry
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
    def note001_index(self) -> np.ndarray:
        """Note 001's i_pq: the winner's 1-based position in the window stacked column by column."""
        kh, kw = self.geometry.kernel
        a, b = np.divmod(self.tap, kw)
        return b * kh + a + 1


def max_pool2d_switches(
    x, kernel_size, stride=None, padding=0, pad_value=float("-inf"), ties="first", dilation=1
) -> MaxPoolSwitches:
    """Max-pool ``x`` and keep the switches (the argmax of every window).

    Parameters
    ----------
    x : (C, H, W) or (N, C, H, W) floats without NaN
    kernel_size, stride, dilation : int or (h, w); stride defaults to kernel_size
    padding : int, (ph, pw) or (top, bottom, left, right)
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
    ties = _check_ties(ties)
    pad_value = _check_pad_value(pad_value)
    x3, in_shape = _as_channels(x)
    if np.isnan(x3).any():
        raise ValueError("x: contains NaN; max pooling has no switch (argmax) for NaN inputs")
    geom = Pool2dGeometry.from_shapes(x3.shape, kernel_size, stride, padding, dilation)
    (h_idx, h_ok), (w_idx, w_ok) = _taps_on_input(geom)
    if pad_value == -math.inf and not (h_ok.any(axis=1).all() and w_ok.any(axis=1).all()):
        raise GeometryError(
            f"padding: a pooling window lies entirely in the padding {geom.padding}, which has no maximum "
            "with pad_value=-inf (use padding < kernel extent, or a finite pad_value)"
        )
    kh, kw = geom.kernel
    c, (oh, ow) = geom.channels, geom.out_hw
    win = sliding_windows(x3, geom, pad_value)  # (C, OH, OW, kh, kw)
    if ties == "first":
        tap = win.reshape(c, oh, ow, kh * kw).argmax(axis=-1)
    else:  # scan the window column by column: transpose the taps, then map back to row-major
        cm = win.swapaxes(-1, -2).reshape(c, oh, ow, kw * kh).argmax(axis=-1)
        b, a = np.divmod(cm, kh)
        tap = a * kw + b
    a, b = np.divmod(tap, kw)
    rows = h_idx[np.arange(oh)[None, :, None], a]  # input row of the winner (may be padding)
    cols = w_idx[np.arange(ow)[None, None, :], b]
    on_input = h_ok[np.arange(oh)[None, :, None], a] & w_ok[np.arange(ow)[None, None, :], b]
    chan = np.arange(c)[:, None, None]
    column = np.where(on_input, (chan * geom.height + rows) * geom.width + cols, -1).astype(np.int64)
    values = np.take_along_axis(win.reshape(c, oh, ow, kh * kw), tap[..., None], axis=-1)[..., 0]
    out_shape = _out_shape(in_shape, geom)
    return MaxPoolSwitches(
        geometry=geom,
        values=values.reshape(out_shape),
        tap=tap.reshape(out_shape),
        column=column.reshape(out_shape),
        input_shape=tuple(in_shape),
        ties=ties,
        pad_value=pad_value,
    )


def max_pool2d(x, kernel_size, stride=None, padding=0, pad_value=float("-inf"), ties="first", dilation=1):
    """Max pooling: ``y[c,i,j] = max over taps (a, b) of xp[c, i·sh + a·dh, j·sw + b·dw]``.

    ``xp`` is ``x`` padded with ``pad_value``. Shapes and parameters as in
    :func:`max_pool2d_switches`; the value does not depend on ``ties``.

    Examples
    --------
    >>> max_pool2d(np.arange(16.).reshape(1, 4, 4), 2)[0]
    array([[ 5.,  7.],
           [13., 15.]])
    """
    return max_pool2d_switches(x, kernel_size, stride, padding, pad_value, ties, dilation).values


def max_pool2d_jacobian_from_switches(switches: MaxPoolSwitches, *, dtype=None):
    """The 0/1 mask ∂vec(y)/∂vec(x) from stored switches.

    Row r (an output entry, C order) holds a single 1 in column
    ``switches.column[r]``, or nothing when that switch is on the padding.
    """
    column = switches.column.ravel()
    n_rows, n_cols = column.size, int(np.prod(switches.input_shape))
    idx = index_dtype_for(n_rows, n_cols)
    on_input = column >= 0
    indptr = np.zeros(n_rows + 1, dtype=idx)
    np.cumsum(on_input, out=indptr[1:])
    pattern = Pattern(indptr, column[on_input].astype(idx), None, (n_rows, n_cols))
    return assemble(pattern, dtype=dtype or np.float64, what="max_pool2d_jacobian")


def max_pool2d_jacobian(
    x, kernel_size, stride=None, padding=0, pad_value=float("-inf"), ties="first", dilation=1, *, dtype=None
):
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
    switches = max_pool2d_switches(x, kernel_size, stride, padding, pad_value, ties, dilation)
    return max_pool2d_jacobian_from_switches(switches, dtype=dtype)


def _grad_for(g, out_shape, name="g"):
    g = np.asarray(g, dtype=np.float64)
    if g.shape != tuple(out_shape):
        raise GeometryError(f"{name}: must have the output's shape {tuple(out_shape)} (got {g.shape})")
    return g


def max_pool2d_vjp_switches(
    g, x, kernel_size, stride=None, padding=0, pad_value=float("-inf"), ties="first", dilation=1
):
    """∂L/∂x: route each upstream gradient to its switch (note 001's "gradient routing").

    ``np.bincount`` sums the gradients of windows sharing a winner (overlapping
    windows); gradients of windows won by padding are dropped.
    """
    s = max_pool2d_switches(x, kernel_size, stride, padding, pad_value, ties, dilation)
    g = _grad_for(g, s.values.shape)
    column = s.column.ravel()
    keep = column >= 0
    out = np.bincount(column[keep], weights=g.ravel()[keep], minlength=int(np.prod(s.input_shape)))
    return out.reshape(s.input_shape)


def max_pool2d_vjp_col2im(
    g, x, kernel_size, stride=None, padding=0, pad_value=float("-inf"), ties="first", dilation=1
):
    """∂L/∂x as col2im of a one-hot patch matrix.

    Each output position's patch row gets ``g`` at its winner's tap and 0
    elsewhere; :func:`~jacobians.ops.conv2d.col2im` folds the patches back
    onto the image and drops taps on the padding by its own index
    arithmetic, without using the switches' input columns.
    """
    from .conv2d import col2im

    s = max_pool2d_switches(x, kernel_size, stride, padding, pad_value, ties, dilation)
    g = _grad_for(g, s.values.shape)
    geom = s.geometry
    c, (oh, ow), (kh, kw) = geom.channels, geom.out_hw, geom.kernel
    k = kh * kw
    patches = np.zeros((oh, ow, c, k))
    tap = s.tap.reshape(c, oh, ow).transpose(1, 2, 0)  # (OH, OW, C)
    np.put_along_axis(patches, tap[..., None], g.reshape(c, oh, ow).transpose(1, 2, 0)[..., None], axis=-1)
    out = col2im(patches.reshape(oh * ow, c * k), geom.input_shape, geom.kernel, geom.stride, geom.padding, geom.dilation)
    return out.reshape(s.input_shape)


# ---------------------------------------------------------------------------
# average pooling
# ---------------------------------------------------------------------------
def avg_pool2d_divisor(geom: Pool2dGeometry, count_include_pad=True) -> np.ndarray:
    """Divisor of every output position, shape (OH, OW).

    kh·kw with ``count_include_pad=True``; otherwise the number of window
    entries on the input (separable: rows on the input × columns on the input).
    """
    oh, ow = geom.out_hw
    if count_include_pad:
        return np.full((oh, ow), float(geom.kernel[0] * geom.kernel[1]))
    (_, h_ok), (_, w_ok) = _taps_on_input(geom)
    divisor = h_ok.sum(axis=1)[:, None] * w_ok.sum(axis=1)[None, :]
    if not divisor.all():
        raise GeometryError(
            f"padding: a pooling window lies entirely in the padding {geom.padding}; with "
            "count_include_pad=False its divisor would be 0 (use padding < kernel extent)"
        )
    return divisor.astype(np.float64)


def _avg_geometry(in_shape, kernel_size, stride, padding):
    c = int(np.prod(in_shape[:-2]))
    return Pool2dGeometry.from_shapes((c, *in_shape[-2:]), kernel_size, stride, padding)


def avg_pool2d(x, kernel_size, stride=None, padding=0, count_include_pad=True):
    """Average pooling (PyTorch's ``avg_pool2d`` with ``ceil_mode=False``).

    Parameters
    ----------
    x : (C, H, W) or (N, C, H, W)
    kernel_size, stride : int or (h, w); stride defaults to kernel_size
    padding : int, (ph, pw) or (top, bottom, left, right); zeros
    count_include_pad : bool — divisor kh·kw (True) or the number of
        window entries on the input (False)

    Returns
    -------
    y : (C, OH, OW) or (N, C, OH, OW)

    Notes
    -----
    ``y[c,i,j] = (1/d[i,j]) Σ_{a,b} xp[c, i·sh + a, j·sw + b]``; with
    ``count_include_pad=True``, d = kh·kw and this is note 001's convolution
    with P = 1/(h·w) on every channel.

    Examples
    --------
    >>> avg_pool2d(np.arange(4.).reshape(1, 2, 2), 2)
    array([[[1.5]]])
    """
    x3, in_shape = _as_channels(x)
    geom = _avg_geometry(in_shape, kernel_size, stride, padding)
    divisor = avg_pool2d_divisor(geom, count_include_pad)
    win = sliding_windows(x3, geom, 0.0)
    return (win.sum(axis=(-2, -1)) / divisor).reshape(_out_shape(in_shape, geom))


def avg_pool2d_jacobian(
    input_shape, kernel_size, stride=None, padding=0, count_include_pad=True, *, dtype=None, max_bytes=None
):
    """∂vec(y)/∂vec(x) of average pooling; it does not depend on the values of x.

    Parameters
    ----------
    input_shape : (C, H, W)
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
    derivative of I * P, the same on every channel. Built by its own index
    arithmetic (not through the convolution builders), so that the equality
    with a depthwise ``conv2d_input_jacobian`` with constant kernel
    1/(kh·kw) is a check between two routes.

    Examples
    --------
    >>> avg_pool2d_jacobian((1, 1, 4), (1, 2)).toarray()
    array([[0.5, 0.5, 0. , 0. ],
           [0. , 0. , 0.5, 0.5]])
    """
    in_shape = tuple(input_shape)
    if len(in_shape) != 3:
        raise GeometryError(f"input_shape: must be (C, H, W) (got {in_shape!r})")
    geom = _avg_geometry(in_shape, kernel_size, stride, padding)
    divisor = avg_pool2d_divisor(geom, count_include_pad)
    (h_idx, h_ok), (w_idx, w_ok) = _taps_on_input(geom)
    c, h, w = geom.input_shape
    (oh, ow), (kh, kw) = geom.out_hw, geom.kernel
    nnz = c * int(h_ok.sum()) * int(w_ok.sum())
    check_budget("avg_pool2d Jacobian", nnz, (c * oh * ow, c * h * w), dtype or np.float64, max_bytes)
    # (C, OH, OW, kh, kw): input column of every tap, and whether it lies on the input
    cols = (
        np.arange(c)[:, None, None, None, None] * (h * w)
        + h_idx[None, :, None, :, None] * w
        + w_idx[None, None, :, None, :]
    )
    valid = np.broadcast_to(h_ok[None, :, None, :, None] & w_ok[None, None, :, None, :], cols.shape)
    values = np.broadcast_to((1.0 / divisor)[None, :, :, None, None], cols.shape)
    n_rows, n_cols = c * oh * ow, c * h * w
    idx = index_dtype_for(int(valid.sum()), n_rows, n_cols)
    indptr = np.zeros(n_rows + 1, dtype=idx)
    np.cumsum(valid.reshape(n_rows, -1).sum(axis=1), out=indptr[1:])
    data = values[valid].astype(dtype or np.float64)
    mat = sp.csr_array((data, cols[valid].astype(idx), indptr), shape=(n_rows, n_cols))
    assert mat.shape == (n_rows, n_cols), f"avg_pool2d_jacobian: built {mat.shape}, expected {(n_rows, n_cols)}"
    return mat


def avg_pool2d_vjp_col2im(g, x, kernel_size, stride=None, padding=0, count_include_pad=True):
    """∂L/∂x: spread ``g/d`` over every tap of its window, then fold with col2im."""
    from .conv2d import col2im

    x3, in_shape = _as_channels(x)
    geom = _avg_geometry(in_shape, kernel_size, stride, padding)
    g = _grad_for(g, _out_shape(in_shape, geom))
    c, (oh, ow), (kh, kw) = geom.channels, geom.out_hw, geom.kernel
    share = (g.reshape(c, oh, ow) / avg_pool2d_divisor(geom, count_include_pad)).transpose(1, 2, 0)  # (OH, OW, C)
    patches = np.broadcast_to(share[..., None], (oh, ow, c, kh * kw)).reshape(oh * ow, c * kh * kw)
    return col2im(patches, geom.input_shape, geom.kernel, geom.stride, geom.padding).reshape(in_shape)


def avg_pool2d_vjp_rot180(g, x, kernel_size, stride=None, padding=0, count_include_pad=True):
    """∂L/∂x through the depthwise convolution: the rot180 route of conv2d with a kernel of ones on g/d."""
    from .conv2d import conv2d_vjp_input_rot180

    x3, in_shape = _as_channels(x)
    geom = _avg_geometry(in_shape, kernel_size, stride, padding)
    g = _grad_for(g, _out_shape(in_shape, geom))
    c, (oh, ow) = geom.channels, geom.out_hw
    scaled = g.reshape(c, oh, ow) / avg_pool2d_divisor(geom, count_include_pad)
    ones = np.ones((c, 1, *geom.kernel))
    out = conv2d_vjp_input_rot180(scaled, x3, ones, stride=geom.stride, padding=geom.padding, groups=c)
    return out.reshape(in_shape)


# ---------------------------------------------------------------------------
# torch forwards (for the generic check's torch.func.jacrev route)
# ---------------------------------------------------------------------------
def _torch_native_padding(padding, kernel):
    """(ph, pw) when torch's own padding argument can express ``padding``, else None."""
    pt, pb, pl, pr = as_padding(padding)
    kh, kw = kernel if isinstance(kernel, tuple) else (kernel, kernel)
    if pt == pb and pl == pr and 2 * pt <= kh and 2 * pl <= kw:
        return (pt, pl)
    return None


def _torch_max_pool2d(x, kernel_size, stride=None, padding=0, pad_value=float("-inf"), ties="first", dilation=1):
    """torch max_pool2d; other pad values by explicit F.pad, column-major ties by transposing H and W."""
    import torch.nn.functional as F

    pair = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v)  # noqa: E731
    kernel = pair(kernel_size)
    stride = kernel if stride is None else pair(stride)
    dilation = pair(dilation)
    pt, pb, pl, pr = as_padding(padding)
    native = _torch_native_padding(padding, kernel) if pad_value == float("-inf") and dilation == (1, 1) else None
    xb = x[None]
    if native is None:
        xb = F.pad(xb, (pl, pr, pt, pb), value=float(pad_value))
        native = (0, 0)
    if ties == "first":
        return F.max_pool2d(xb, kernel, stride, native, dilation)[0]
    # a row-major scan of the transposed window is a column-major scan of the window
    swap = lambda t: (t[1], t[0])  # noqa: E731
    y = F.max_pool2d(xb.transpose(-1, -2), swap(kernel), swap(stride), swap(native), swap(dilation))
    return y.transpose(-1, -2)[0]


def _torch_avg_pool2d(x, kernel_size, stride=None, padding=0, count_include_pad=True):
    """torch avg_pool2d; padding torch cannot express is emulated as (sum pool) / (count pool)."""
    import torch
    import torch.nn.functional as F

    pair = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v)  # noqa: E731
    kernel = pair(kernel_size)
    stride = kernel if stride is None else pair(stride)
    native = _torch_native_padding(padding, kernel)
    if native is not None:
        return F.avg_pool2d(x[None], kernel, stride, native, count_include_pad=count_include_pad)[0]
    pt, pb, pl, pr = as_padding(padding)
    xb = F.pad(x[None], (pl, pr, pt, pb))
    mean = F.avg_pool2d(xb, kernel, stride, 0)
    if count_include_pad:
        return mean[0]
    ones = F.pad(torch.ones_like(x[None]), (pl, pr, pt, pb))
    return (mean / F.avg_pool2d(ones, kernel, stride, 0))[0]


# ---------------------------------------------------------------------------
# registration
# ---------------------------------------------------------------------------
_MAX_PARAMS = ("kernel_size", "stride", "padding", "pad_value", "ties", "dilation")
_AVG_PARAMS = ("kernel_size", "stride", "padding", "count_include_pad")

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


def max_pool2d_cases():
    rng = np.random.default_rng(20261123)
    out = []
    for c, h, w, k, s, p, pv, ties, d in MAX_POOL_GEOMETRIES:
        x = _distinct_values(rng, (c, h, w))
        params = dict(kernel_size=k, stride=s, padding=p, pad_value=pv, ties=ties, dilation=d)
        out.append(Case({"x": x}, params, _case_id(f"x{c}x{h}x{w}-", f"k{k}", f"s{s}", f"p{p}", f"pv{pv}", ties, f"d{d}")))
    # all inputs negative with zero padding: every window touching the padding is won by it (empty rows)
    x = -np.abs(_distinct_values(rng, (2, 4, 4)))
    params = dict(kernel_size=3, stride=1, padding=1, pad_value=0.0, ties="first", dilation=1)
    out.append(Case({"x": x}, params, "x2x4x4-k3-s1-p1-pv0-negative-inputs"))
    return out


def _max_jac(x, **p):
    return max_pool2d_jacobian(x, **p)


register(
    "max_pool2d",
    summary="max pooling: the 0/1 mask of its switches (pad value and tie rule chosen)",
    forward=max_pool2d,
    jacobian={"x": _max_jac},
    vjp={"x": {"switches": max_pool2d_vjp_switches, "col2im": max_pool2d_vjp_col2im}},
    cases=max_pool2d_cases,
    structural=("x",),
    torch_forward=_torch_max_pool2d,
    param_names=_MAX_PARAMS,
)

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


def avg_pool2d_cases():
    rng = np.random.default_rng(20261124)
    out = []
    for c, h, w, k, s, p, cip in AVG_POOL_GEOMETRIES:
        params = dict(kernel_size=k, stride=s, padding=p, count_include_pad=cip)
        cid = _case_id(f"x{c}x{h}x{w}-", f"k{k}", f"s{s}", f"p{p}", "incl" if cip else "excl")
        out.append(Case({"x": rng.standard_normal((c, h, w))}, params, cid))
    return out


def _avg_jac(x, **p):
    return avg_pool2d_jacobian(np.shape(x), **p)


register(
    "avg_pool2d",
    summary="average pooling: a depthwise convolution with P = 1/(h·w) (or 1/count without padding)",
    forward=avg_pool2d,
    jacobian={"x": _avg_jac},
    vjp={"x": {"col2im": avg_pool2d_vjp_col2im, "rot180": avg_pool2d_vjp_rot180}},
    cases=avg_pool2d_cases,
    affine_in=("x",),
    torch_forward=_torch_avg_pool2d,
    param_names=_AVG_PARAMS,
)
