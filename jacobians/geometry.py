"""Shapes, stride, padding, dilation and groups of 2-D sliding-window layers.

Everything that decides *where* a window reads lives here, validated once, so
that every operator face (forward, explicit Jacobian, VJP, symbolic form)
works from the same numbers and a bad geometry fails before any array is
touched, with a message that names the parameter and the rule it breaks.

Output size (per spatial axis)::

    out = floor((size + pad_before + pad_after - dilation*(kernel - 1) - 1) / stride) + 1

which is note 001's formula (Vardhan 2022) when dilation = 1 and the padding
is symmetric.

Rules every geometry number obeys (checked on exact Python integers, before
any array is allocated; a violation is one GeometryError line naming the
parameter):

* shape entries, kernel sizes, stride, dilation and groups are positive
  integers, padding a non-negative integer; an integral float (``3.0``) is
  accepted, a non-integral one (``2.7``), a bool or a string is refused;
* every one of them is at most ``MAX_GEOMETRY_INT = 2**31 − 1`` (so index
  arithmetic such as ``i·stride − pad + a·dilation`` fits in int64 and
  ``stride=10**20`` is refused with one line instead of overflowing);
* ``padding="valid"`` is 0; ``padding="same"`` (convolution only, stride 1)
  pads ``d·(k − 1)`` in total per axis, ``⌊d·(k − 1)/2⌋`` before and the rest
  after — the extra row / column goes to the bottom / right, as PyTorch does.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

__all__ = [
    "GeometryError",
    "Conv2dGeometry",
    "Pool2dGeometry",
    "ConvNdGeometry",
    "PoolNdGeometry",
    "as_positive_int",
    "as_tuple_n",
    "as_padding_nd",
    "same_padding_nd",
    "pool_output_size",
    "as_items",
    "as_pair",
    "as_padding",
    "as_shape",
    "output_size",
    "MAX_GEOMETRY_INT",
    "same_padding",
]

#: Largest shape entry, kernel size, stride, padding, dilation or groups accepted.
MAX_GEOMETRY_INT = 2**31 - 1


class GeometryError(ValueError):
    """A shape, stride, padding, dilation or groups value breaks a rule.

    The message always starts with the parameter's name, then states the rule
    and the offending value, on one line.
    """


def _is_integer(value) -> bool:
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool)


def as_positive_int(value, name: str, *, allow_zero: bool = False) -> int:
    """Return ``value`` as a Python int, or raise GeometryError naming ``name``."""
    if isinstance(value, (float, np.floating)) and np.isfinite(value) and float(value).is_integer():
        value = int(value)
    if not _is_integer(value):
        raise GeometryError(f"{name}: must be an integer (got {_short(value)})")
    value = int(value)
    lowest = 0 if allow_zero else 1
    if value < lowest:
        rule = "a non-negative integer" if allow_zero else "a positive integer"
        raise GeometryError(f"{name}: must be {rule} (got {value})")
    if value > MAX_GEOMETRY_INT:
        raise GeometryError(f"{name}: must be at most 2**31 - 1 = {MAX_GEOMETRY_INT} (got {value})")
    return value


def _short(value, limit: int = 60) -> str:
    """repr of a value, cut to ``limit`` characters (error messages stay one short line)."""
    text = repr(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def as_items(value, name: str, what: str) -> tuple:
    """A sequence as a tuple; strings, mappings, None and non-iterables refused with one line naming ``name``."""
    if isinstance(value, (str, bytes, dict)) or value is None:
        raise GeometryError(f"{name}: must be {what} (got {_short(value)})")
    try:
        return tuple(value)
    except TypeError:
        raise GeometryError(f"{name}: must be {what} (got {_short(value)})") from None


def same_padding(kernel: tuple[int, int], dilation: tuple[int, int], stride: tuple[int, int]):
    """PyTorch's ``padding="same"``: (top, bottom, left, right) with the odd extra row/column at the end.

    Examples
    --------
    >>> same_padding((4, 3), (1, 2), (1, 1))
    (1, 2, 2, 2)
    """
    if tuple(stride) != (1, 1):
        raise GeometryError(f"padding: 'same' is only supported with stride 1, as in PyTorch (got stride {tuple(stride)})")
    out = []
    for k, d in zip(kernel, dilation):
        total = d * (k - 1)
        out += [total // 2, total - total // 2]
    return tuple(out)


def as_pair(value, name: str, *, allow_zero: bool = False) -> tuple[int, int]:
    """An int or a pair ``(for_height, for_width)`` -> a pair of validated ints."""
    if _is_integer(value) or isinstance(value, (float, np.floating)):
        v = as_positive_int(value, name, allow_zero=allow_zero)
        return (v, v)
    items = as_items(value, name, "an integer or a pair of integers")
    if len(items) != 2:
        raise GeometryError(
            f"{name}: must be an integer or a pair (height, width) (got {len(items)} values: {_short(value)})"
        )
    return (
        as_positive_int(items[0], f"{name}[0] (height)", allow_zero=allow_zero),
        as_positive_int(items[1], f"{name}[1] (width)", allow_zero=allow_zero),
    )


def as_padding(value, name: str = "padding") -> tuple[int, int, int, int]:
    """Padding as ``(top, bottom, left, right)``.

    Accepts an int (all sides), a pair ``(ph, pw)`` (symmetric per axis, as
    PyTorch) or four values ``(top, bottom, left, right)`` — note 002 (Mint
    notes) pads only the top and left side of the upstream gradient, which
    needs the per-side form.
    """
    if isinstance(value, str):
        if value == "valid":
            return (0, 0, 0, 0)
        raise GeometryError(
            f"{name}: a string must be 'valid' (or 'same' for a convolution with stride 1) (got {_short(value)})"
        )
    if _is_integer(value) or isinstance(value, (float, np.floating)):
        p = as_positive_int(value, name, allow_zero=True)
        return (p, p, p, p)
    items = as_items(value, name, "an int, a pair or (top, bottom, left, right)")
    if len(items) == 2:
        ph = as_positive_int(items[0], f"{name}[0] (height)", allow_zero=True)
        pw = as_positive_int(items[1], f"{name}[1] (width)", allow_zero=True)
        return (ph, ph, pw, pw)
    if len(items) == 4:
        sides = ("top", "bottom", "left", "right")
        return tuple(  # type: ignore[return-value]
            as_positive_int(v, f"{name}[{i}] ({s})", allow_zero=True) for i, (v, s) in enumerate(zip(items, sides))
        )
    raise GeometryError(
        f"{name}: must be an int, a pair (ph, pw) or four values (top, bottom, left, right) (got {len(items)} values)"
    )


def as_shape(value, name: str, ndim: int | tuple[int, ...]) -> tuple[int, ...]:
    """A shape tuple of positive ints with ``ndim`` entries (or one of several ndims)."""
    items = as_items(value, name, "a tuple of positive integers")
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if len(items) not in allowed:
        want = " or ".join(str(n) for n in allowed)
        raise GeometryError(f"{name}: must have {want} entries (got {len(items)}: {_short(value)})")
    return tuple(as_positive_int(v, f"{name}[{i}]", allow_zero=False) for i, v in enumerate(items))


def output_size(size: int, kernel: int, stride: int, pad_before: int, pad_after: int, dilation: int) -> int:
    """floor((size + pads - dilation*(kernel-1) - 1) / stride) + 1.

    Every argument is validated (positive integers; pads non-negative); a
    dilated window larger than the padded size is refused (it has no position).

    Examples
    --------
    >>> output_size(5, 3, 2, 1, 1, 1)
    3
    """
    size, kernel, stride, dilation = (
        as_positive_int(v, n) for v, n in ((size, "size"), (kernel, "kernel"), (stride, "stride"), (dilation, "dilation"))
    )
    pad_before = as_positive_int(pad_before, "pad_before", allow_zero=True)
    pad_after = as_positive_int(pad_after, "pad_after", allow_zero=True)
    _check_window_fits("axis", size, kernel, (pad_before, pad_after), dilation, "kernel")
    return _output_size(size, kernel, stride, pad_before, pad_after, dilation)


def _output_size(size: int, kernel: int, stride: int, pad_before: int, pad_after: int, dilation: int) -> int:
    return (size + pad_before + pad_after - dilation * (kernel - 1) - 1) // stride + 1


def _check_window_fits(axis: str, size: int, kernel: int, pads: tuple[int, int], dilation: int, what: str) -> None:
    span = dilation * (kernel - 1) + 1
    padded = size + pads[0] + pads[1]
    if span > padded:
        raise GeometryError(
            f"{what}: dilated {axis} extent dilation*(k-1)+1 = {span} exceeds the padded input {axis} "
            f"{size}+{pads[0]}+{pads[1]} = {padded}"
        )


def _check_groups(c_in: int, c_out: int, c_in_g: int, groups) -> int:
    """Validate ``groups`` against the channel counts (every convolution geometry)."""
    groups = as_positive_int(groups, "groups")
    if c_in % groups:
        raise GeometryError(f"groups: must divide C_in (C_in={c_in}, groups={groups})")
    if c_out % groups:
        raise GeometryError(f"groups: must divide C_out (C_out={c_out}, groups={groups})")
    if c_in_g * groups != c_in:
        raise GeometryError(
            f"weight_shape: weight_shape[1] must equal C_in/groups = {c_in}/{groups} = {c_in // groups} "
            f"(got {c_in_g})"
        )
    return groups


class _Grouped:
    """Channels per group, shared by the convolution geometries (fields in_channels, out_channels, groups)."""

    @property
    def in_per_group(self) -> int:
        return self.in_channels // self.groups

    @property
    def out_per_group(self) -> int:
        return self.out_channels // self.groups


@dataclass(frozen=True)
class Conv2dGeometry(_Grouped):
    """Validated geometry of one 2-D convolution (cross-correlation) layer.

    Shapes follow PyTorch: input ``(C_in, H, W)``, weight
    ``(C_out, C_in // groups, kh, kw)``, output ``(C_out, OH, OW)``.
    Padding is stored per side ``(top, bottom, left, right)``.
    """

    in_channels: int
    height: int
    width: int
    out_channels: int
    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1

    @classmethod
    def from_shapes(cls, input_shape, weight_shape, stride=1, padding=0, dilation=1, groups=1) -> "Conv2dGeometry":
        """Validate and build from ``input_shape`` (C_in, H, W) and ``weight_shape`` (C_out, C_in/groups, kh, kw)."""
        c_in, h, w = as_shape(input_shape, "input_shape", 3)
        c_out, c_in_g, kh, kw = as_shape(weight_shape, "weight_shape", 4)
        groups = _check_groups(c_in, c_out, c_in_g, groups)
        stride, dilation = as_pair(stride, "stride"), as_pair(dilation, "dilation")
        if isinstance(padding, str) and padding == "same":
            padding = same_padding((kh, kw), dilation, stride)
        geom = cls(
            in_channels=c_in,
            height=h,
            width=w,
            out_channels=c_out,
            kernel=(kh, kw),
            stride=stride,
            padding=as_padding(padding),
            dilation=dilation,
            groups=groups,
        )
        _check_window_fits("height", h, kh, geom.padding[:2], geom.dilation[0], "kernel_size")
        _check_window_fits("width", w, kw, geom.padding[2:], geom.dilation[1], "kernel_size")
        return geom

    # -- derived sizes ---------------------------------------------------
    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.in_channels, self.height, self.width)

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        return (self.out_channels, self.in_channels // self.groups, *self.kernel)

    @property
    def out_hw(self) -> tuple[int, int]:
        pt, pb, pl, pr = self.padding
        return (
            _output_size(self.height, self.kernel[0], self.stride[0], pt, pb, self.dilation[0]),
            _output_size(self.width, self.kernel[1], self.stride[1], pl, pr, self.dilation[1]),
        )

    @property
    def output_shape(self) -> tuple[int, int, int]:
        return (self.out_channels, *self.out_hw)

    @property
    def padded_hw(self) -> tuple[int, int]:
        pt, pb, pl, pr = self.padding
        return (self.height + pt + pb, self.width + pl + pr)

    def tap_offsets(self, axis: int) -> tuple[np.ndarray, np.ndarray]:
        """For ``axis`` 0 (rows) or 1 (columns): (output index, kernel tap) -> unpadded input index.

        Returns ``index`` of shape (out, k) and its validity mask (False where
        the tap reads padding).
        """
        out = self.out_hw[axis]
        k = self.kernel[axis]
        size = (self.height, self.width)[axis]
        before = self.padding[2 * axis]
        index = (
            np.arange(out)[:, None] * self.stride[axis]
            - before
            + np.arange(k)[None, :] * self.dilation[axis]
        )
        return index, (index >= 0) & (index < size)


@dataclass(frozen=True)
class Pool2dGeometry:
    """Validated geometry of a 2-D pooling window over an input ``(C, H, W)``.

    Stride defaults to the kernel size (PyTorch's rule). Padding per side
    ``(top, bottom, left, right)``.
    """

    channels: int
    height: int
    width: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilation: tuple[int, int] = (1, 1)

    @classmethod
    def from_shapes(cls, input_shape, kernel_size, stride=None, padding=0, dilation=1) -> "Pool2dGeometry":
        c, h, w = as_shape(input_shape, "input_shape", 3)
        kernel = as_pair(kernel_size, "kernel_size")
        geom = cls(
            channels=c,
            height=h,
            width=w,
            kernel=kernel,
            stride=kernel if stride is None else as_pair(stride, "stride"),
            padding=as_padding(padding),
            dilation=as_pair(dilation, "dilation"),
        )
        _check_window_fits("height", h, kernel[0], geom.padding[:2], geom.dilation[0], "kernel_size")
        _check_window_fits("width", w, kernel[1], geom.padding[2:], geom.dilation[1], "kernel_size")
        return geom

    def as_conv(self) -> Conv2dGeometry:
        """The same window arithmetic as a depthwise convolution geometry."""
        return Conv2dGeometry(
            in_channels=self.channels,
            height=self.height,
            width=self.width,
            out_channels=self.channels,
            kernel=self.kernel,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            groups=self.channels,
        )

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)

    @property
    def out_hw(self) -> tuple[int, int]:
        return self.as_conv().out_hw

    @property
    def output_shape(self) -> tuple[int, int, int]:
        return (self.channels, *self.out_hw)

    def tap_offsets(self, axis: int) -> tuple[np.ndarray, np.ndarray]:
        return self.as_conv().tap_offsets(axis)


# ---------------------------------------------------------------------------
# N spatial axes: the one geometry behind 1-D, 2-D and 3-D convolution and pooling
# ---------------------------------------------------------------------------
#: names of the spatial axes by number of axes (error messages say which axis broke a rule)
AXIS_NAMES = {1: ("width",), 2: ("height", "width"), 3: ("depth", "height", "width")}


def _axis_names(n: int) -> tuple[str, ...]:
    return AXIS_NAMES.get(n, tuple(f"axis{i}" for i in range(n)))


def as_tuple_n(value, name: str, n: int, *, allow_zero: bool = False) -> tuple[int, ...]:
    """An int (every axis) or ``n`` ints (one per spatial axis) -> a tuple of ``n`` validated ints."""
    if _is_integer(value) or isinstance(value, (float, np.floating)):
        return (as_positive_int(value, name, allow_zero=allow_zero),) * n
    items = as_items(value, name, f"an integer or {n} integers")
    if len(items) != n:
        axes = ", ".join(_axis_names(n))
        raise GeometryError(f"{name}: must be an integer or {n} values ({axes}) (got {len(items)} values: {_short(value)})")
    names = _axis_names(n)
    return tuple(as_positive_int(v, f"{name}[{i}] ({names[i]})", allow_zero=allow_zero) for i, v in enumerate(items))


def as_padding_nd(value, n: int, name: str = "padding") -> tuple[tuple[int, int], ...]:
    """Padding of ``n`` spatial axes as ``((before, after), …)`` per axis.

    Accepts an int (every side), ``n`` ints (symmetric per axis, as PyTorch),
    ``n`` pairs ``(before, after)``, or ``2n`` ints ``(before₀, after₀, before₁,
    after₁, …)`` — for 2-D that is :func:`as_padding`'s (top, bottom, left, right).
    """
    names = _axis_names(n)
    if _is_integer(value) or isinstance(value, (float, np.floating)):
        p = as_positive_int(value, name, allow_zero=True)
        return ((p, p),) * n
    if isinstance(value, str):
        raise GeometryError(f"{name}: 'same' and 'valid' are convolution paddings (got {_short(value)} here)")
    items = as_items(value, name, f"an int, {n} ints, {n} pairs or {2 * n} ints")
    if len(items) == n and all(not (_is_integer(v) or isinstance(v, (float, np.floating))) for v in items):
        out = []
        for i, pair in enumerate(items):
            try:
                b, a = tuple(pair)
            except (TypeError, ValueError):
                raise GeometryError(f"{name}[{i}] ({names[i]}): must be a pair (before, after) (got {_short(pair)})") from None
            out.append(
                (
                    as_positive_int(b, f"{name}[{i}][0] ({names[i]} before)", allow_zero=True),
                    as_positive_int(a, f"{name}[{i}][1] ({names[i]} after)", allow_zero=True),
                )
            )
        return tuple(out)
    if len(items) == n:
        return tuple((p, p) for p in as_tuple_n(items, name, n, allow_zero=True))
    if len(items) == 2 * n:
        sides = [f"{names[i // 2]} {'before' if i % 2 == 0 else 'after'}" for i in range(2 * n)]
        flat = [as_positive_int(v, f"{name}[{i}] ({s})", allow_zero=True) for i, (v, s) in enumerate(zip(items, sides))]
        return tuple((flat[2 * i], flat[2 * i + 1]) for i in range(n))
    raise GeometryError(
        f"{name}: must be an int, {n} ints, {n} pairs (before, after) or {2 * n} ints (got {len(items)} values)"
    )


def same_padding_nd(kernel, dilation, stride) -> tuple[tuple[int, int], ...]:
    """PyTorch's ``padding="same"``: total d·(k − 1) per axis, the odd extra one after; stride must be 1."""
    if any(s != 1 for s in stride):
        raise GeometryError(f"padding: 'same' needs stride 1 on every axis, as in PyTorch (got stride {stride})")
    out = []
    for k, d in zip(kernel, dilation):
        total = d * (k - 1)
        out.append((total // 2, total - total // 2))
    return tuple(out)


@dataclass(frozen=True)
class ConvNdGeometry(_Grouped):
    """Validated geometry of one N-d convolution (cross-correlation) layer, N = len(spatial).

    Shapes follow PyTorch: input ``(C_in, *spatial)``, weight
    ``(C_out, C_in // groups, *kernel)``, output ``(C_out, *out_spatial)``.
    Padding is stored per axis as ``(before, after)`` pairs. With N = 2 it is
    :class:`Conv2dGeometry` (see :meth:`from_2d`).
    """

    in_channels: int
    spatial: tuple[int, ...]
    out_channels: int
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]
    dilation: tuple[int, ...]
    groups: int = 1

    @classmethod
    def from_shapes(cls, input_shape, weight_shape, stride=1, padding=0, dilation=1, groups=1) -> "ConvNdGeometry":
        """Validate and build from ``input_shape`` ``(C_in, *spatial)`` and ``weight_shape`` ``(C_out, C_in/groups, *kernel)``.

        ``padding`` may also be ``"valid"`` (none) or ``"same"`` (PyTorch's rule, stride 1).
        """
        w = as_shape(weight_shape, "weight_shape", (3, 4, 5))
        n = len(w) - 2
        c_in, *spatial = as_shape(input_shape, "input_shape", n + 1)
        c_out, c_in_g, *kernel = w
        groups = _check_groups(c_in, c_out, c_in_g, groups)
        stride = as_tuple_n(stride, "stride", n)
        dilation = as_tuple_n(dilation, "dilation", n)
        if isinstance(padding, str):
            if padding == "valid":
                pads = ((0, 0),) * n
            elif padding == "same":
                pads = same_padding_nd(kernel, dilation, stride)
            else:
                raise GeometryError(f"padding: a string padding must be 'same' or 'valid' (got {padding!r})")
        else:
            pads = as_padding_nd(padding, n)
        geom = cls(c_in, tuple(spatial), c_out, tuple(kernel), stride, pads, dilation, groups)
        for name, size, k, p, d in zip(_axis_names(n), spatial, kernel, pads, dilation):
            _check_window_fits(name, size, k, p, d, "kernel_size")
        return geom

    @classmethod
    def from_2d(cls, geom: "Conv2dGeometry") -> "ConvNdGeometry":
        pt, pb, pl, pr = geom.padding
        return cls(
            geom.in_channels, (geom.height, geom.width), geom.out_channels, tuple(geom.kernel),
            tuple(geom.stride), ((pt, pb), (pl, pr)), tuple(geom.dilation), geom.groups,
        )

    @property
    def ndim(self) -> int:
        return len(self.spatial)

    @property
    def out_spatial(self) -> tuple[int, ...]:
        return tuple(
            output_size(n, k, s, p[0], p[1], d)
            for n, k, s, p, d in zip(self.spatial, self.kernel, self.stride, self.padding, self.dilation)
        )

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.in_channels, *self.spatial)

    @property
    def weight_shape(self) -> tuple[int, ...]:
        return (self.out_channels, self.in_channels // self.groups, *self.kernel)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.out_channels, *self.out_spatial)

    @property
    def padded_spatial(self) -> tuple[int, ...]:
        return tuple(n + p[0] + p[1] for n, p in zip(self.spatial, self.padding))

    def tap_offsets(self, axis: int) -> tuple[np.ndarray, np.ndarray]:
        """(output index, kernel tap) -> unpadded input index along ``axis``, and whether it lies on the input."""
        index = (
            np.arange(self.out_spatial[axis])[:, None] * self.stride[axis]
            - self.padding[axis][0]
            + np.arange(self.kernel[axis])[None, :] * self.dilation[axis]
        )
        return index, (index >= 0) & (index < self.spatial[axis])


def pool_output_size(size: int, kernel: int, stride: int, pad_before: int, pad_after: int, dilation: int,
                     ceil_mode: bool) -> int:
    """PyTorch's pooling output size along one axis.

    ``floor`` (or ``ceil`` with ``ceil_mode``) of (size + pads − d(k − 1) − 1)/s, plus 1;
    with ``ceil_mode`` a last window that would *start* in the right padding
    (or beyond) is dropped: if (out − 1)·s ≥ size + pad_before then out −= 1.
    """
    span = size + pad_before + pad_after - dilation * (kernel - 1) - 1
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + pad_before:
        out -= 1
    return out


@dataclass(frozen=True)
class PoolNdGeometry:
    """Validated geometry of N-d pooling over an input ``(C, *spatial)``.

    Stride defaults to the kernel size (PyTorch's rule); padding per axis as
    ``(before, after)``; ``ceil_mode`` as PyTorch (see :func:`pool_output_size`).
    ``overflow`` is how far the last window reaches past the padded input on
    the after side (non-zero only with ``ceil_mode``); those positions are not
    padding — max pooling ignores them, average pooling neither sums nor counts them.
    """

    channels: int
    spatial: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]
    dilation: tuple[int, ...]
    ceil_mode: bool = False

    @classmethod
    def from_shapes(cls, input_shape, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                    ndim: int | None = None) -> "PoolNdGeometry":
        shape = as_shape(input_shape, "input_shape", (ndim + 1,) if ndim else (2, 3, 4))
        c, *spatial = shape
        n = len(spatial)
        kernel = as_tuple_n(kernel_size, "kernel_size", n)
        if not isinstance(ceil_mode, (bool, np.bool_)):
            raise GeometryError(f"ceil_mode: must be True or False (got {_short(ceil_mode)})")
        geom = cls(
            c, tuple(spatial), kernel, kernel if stride is None else as_tuple_n(stride, "stride", n),
            as_padding_nd(padding, n), as_tuple_n(dilation, "dilation", n), bool(ceil_mode),
        )
        for name, size, k, p, d, o in zip(_axis_names(n), spatial, kernel, geom.padding, geom.dilation,
                                          geom.out_spatial):
            # ceil_mode: PyTorch accepts a window longer than the padded input as long as one window
            # results (its overflow reads nothing); floor mode needs the window to fit
            if not ceil_mode or o < 1:
                _check_window_fits(name, size, k, p, d, "kernel_size")
        return geom

    @property
    def ndim(self) -> int:
        return len(self.spatial)

    @property
    def out_spatial(self) -> tuple[int, ...]:
        return tuple(
            pool_output_size(n, k, s, p[0], p[1], d, self.ceil_mode)
            for n, k, s, p, d in zip(self.spatial, self.kernel, self.stride, self.padding, self.dilation)
        )

    @property
    def out_hw(self) -> tuple[int, ...]:
        """The output's spatial size (the 2-D name of :attr:`out_spatial`)."""
        return self.out_spatial

    @property
    def overflow(self) -> tuple[int, ...]:
        return tuple(
            max(0, (o - 1) * s + d * (k - 1) + 1 - (n + p[0] + p[1]))
            for o, n, k, s, p, d in zip(self.out_spatial, self.spatial, self.kernel, self.stride, self.padding,
                                        self.dilation)
        )

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.channels, *self.spatial)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.channels, *self.out_spatial)

    def as_conv(self) -> ConvNdGeometry:
        """The same windows as a depthwise convolution; the ceil-mode overflow becomes extra after-padding."""
        pads = tuple((p[0], p[1] + e) for p, e in zip(self.padding, self.overflow))
        return ConvNdGeometry(self.channels, self.spatial, self.channels, self.kernel, self.stride, pads,
                              self.dilation, self.channels)

    def tap_offsets(self, axis: int) -> tuple[np.ndarray, np.ndarray]:
        return self.as_conv().tap_offsets(axis)
