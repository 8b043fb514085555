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
    "as_positive_int",
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


@dataclass(frozen=True)
class Conv2dGeometry:
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

    @property
    def in_per_group(self) -> int:
        return self.in_channels // self.groups

    @property
    def out_per_group(self) -> int:
        return self.out_channels // self.groups

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
