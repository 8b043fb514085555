"""``jacobians show`` metadata for transposed convolutions, adaptive / global pooling and interpolate.

The ``show=ShowSpec(...)`` contract (:class:`jacobians.registry.ShowSpec`, docs/developer.md):
options by kind, ``setup(input_shape, options) -> ShowSetup``, ``out_shape`` and an
``nnz`` bound, all on shapes and Python ints (nothing is allocated here). PyTorch's
names: ``output_padding``, ``output_size``, ``size``, ``scale_factor``, ``mode``,
``align_corners``, ``recompute_scale_factor``.
"""
from __future__ import annotations

import math

from ..registry import ShowSetup, ShowSpec
from ._show import dims

__all__ = ["conv_transpose_show", "adaptive_pool_show", "global_pool_show", "interpolate_show"]

_AXES = {1: "L", 2: "HxW", 3: "DxHxW"}


def _per_axis(value, nd: int, flag: str, op: str, *, minimum: int) -> tuple:
    """An int (every axis) or one value per axis, each at least ``minimum``, refused in one line naming ``flag``."""
    values = (value,) * nd if isinstance(value, int) else tuple(value)
    if len(values) != nd:
        raise ValueError(f"{flag}: {op} needs one value or {nd} ({'x'.join('N' * nd)}), got {dims(values)}")
    if any(v < minimum for v in values):
        raise ValueError(f"{flag}: {op} needs values ≥ {minimum} (got {dims(values)})")
    return values


def _need_image(op, shape, nd, batched_ok=True):
    allowed = (nd + 1, nd + 2) if batched_ok else (nd + 1,)
    if len(shape) not in allowed:
        form = f"Cx{_AXES[nd]}" + (f" or NxCx{_AXES[nd]}" if batched_ok else "")
        raise ValueError(f"--input: {op} needs {form}, got {dims(shape)}")


def conv_transpose_show(op: str, nd: int) -> ShowSpec:
    """``--input C_inx…`` (or batched), ``--weight C_inxC_out/gxK…`` or ``--kernel K…`` (one output channel per group),
    ``--stride --padding --dilation --groups`` and ``--param output_padding=…``.

    Output size per axis: ``(n − 1)·s − 2p + d·(k − 1) + output_padding + 1`` (PyTorch's rule), which must be
    positive; ``output_padding`` must be smaller than the stride or the dilation.
    """

    def setup(shape, options):
        _need_image(op, shape, nd)
        c_in = shape[-nd - 1]
        groups = options.get("groups", 1)
        if groups < 1 or c_in % groups:
            raise ValueError(f"--groups: {op} needs a positive divisor of C_in = {c_in} (got {groups})")
        if "weight" in options and "kernel" in options:
            raise ValueError(f"--kernel: {op} takes --weight or --kernel, not both")
        if "weight" in options:
            weight = tuple(options["weight"])
            if len(weight) != nd + 2 or weight[0] != c_in:
                raise ValueError(f"--weight: {op} of --input {dims(shape)} needs C_in x C_out/groups x "
                                 f"{_AXES[nd].replace('H', 'KH').replace('W', 'KW').replace('D', 'KD').replace('L', 'K')} "
                                 f"with C_in = {c_in} (got {dims(weight)})")
        elif "kernel" in options:
            weight = (c_in, 1, *_per_axis(options["kernel"], nd, "--kernel", op, minimum=1))
        else:
            raise ValueError(f"--weight: {op} needs --weight C_inxC_out/groupsxK… or --kernel K")
        stride = _per_axis(options.get("stride", 1), nd, "--stride", op, minimum=1)
        padding = _per_axis(options.get("padding", 0), nd, "--padding", op, minimum=0)
        dilation = _per_axis(options.get("dilation", 1), nd, "--dilation", op, minimum=1)
        output_padding = _per_axis(options.get("output_padding", 0), nd, "--param output_padding", op, minimum=0)
        for ax in range(nd):
            if not (output_padding[ax] < stride[ax] or output_padding[ax] < dilation[ax]):
                raise ValueError(f"--param output_padding: must be smaller than the stride or the dilation (PyTorch's rule); "
                                 f"got {output_padding[ax]} with stride {stride[ax]}, dilation {dilation[ax]} on axis {ax}")
        params = {"stride": stride, "padding": padding, "output_padding": output_padding, "groups": groups,
                  "dilation": dilation}
        out = _out_shape({"x": shape, "weight": weight}, params)
        if min(out) < 1:
            raise ValueError(f"--padding: {op}'s output size (n − 1)·s − 2p + d·(k − 1) + output_padding + 1 is "
                             f"{dims(out[-nd:])} for --input {dims(shape)}; it must be positive")
        return ShowSetup({"x": tuple(shape), "weight": weight, "bias": (weight[1] * groups,)}, params)

    def _out_shape(shapes, params):
        x, w = shapes["x"], shapes["weight"]
        spatial = tuple(
            (n - 1) * s - 2 * p + d * (k - 1) + o + 1
            for n, s, p, d, k, o in zip(x[-nd:], params["stride"], params["padding"], params["dilation"], w[2:],
                                        params["output_padding"])
        )
        return tuple(x[:-nd - 1]) + (w[1] * params["groups"],) + spatial

    def nnz(shapes, params, wrt, out):
        if wrt == "bias":
            return math.prod(out)
        w = shapes["weight"]
        return math.prod(shapes["x"]) * w[1] * math.prod(w[2:])  # every (input entry, tap) pair lands once

    image = "1x" + "x".join(["2"] * nd)
    return ShowSpec(
        setup=setup, options={"weight": "shape", "kernel": "ints", "stride": "ints", "padding": "ints",
                              "dilation": "ints", "groups": "int", "output_padding": "ints"},
        out_shape=_out_shape, nnz=nnz, input_help=f"C_inx{_AXES[nd]} or NxC_inx{_AXES[nd]}",
        symbols={"x": "X", "weight": "F", "bias": "b"},
        example=("--input", image, "--weight", "1x1x" + "x".join(["2"] * nd), "--stride", "2"),
    )


def _pair_of(value, flag, op, shape):
    values = (value, value) if isinstance(value, int) else tuple(value)
    if len(values) != 2 or min(values) < 1:
        raise ValueError(f"{flag}: {op} needs a positive OH or OHxOW (got {dims(values)})")
    return values


def adaptive_pool_show(op: str, kind: str) -> ShowSpec:
    """``--input CxHxW`` (or batched) and ``--param output_size=OH|OHxOW`` (required, as in PyTorch)."""

    def setup(shape, options):
        _need_image(op, shape, 2)
        if "output_size" not in options:
            raise ValueError(f"--param output_size: {op} needs --param output_size=OH or OHxOW")
        return ShowSetup({"x": tuple(shape)}, {"output_size": _pair_of(options["output_size"], "--param output_size", op, shape)})

    def nnz(shapes, params, wrt, out):
        if kind == "max":
            return math.prod(out)
        # a window spans at most ⌈n/m⌉ + 1 entries per axis (and never more than n)
        h, w = shapes["x"][-2:]
        oh, ow = params["output_size"]
        return math.prod(out) * min(h, -(-h // oh) + 1) * min(w, -(-w // ow) + 1)

    return ShowSpec(
        setup=setup, options={"output_size": "ints"},
        out_shape=lambda shapes, params: tuple(shapes["x"][:-2]) + tuple(params["output_size"]), nnz=nnz,
        input_help="CxHxW or NxCxHxW", symbols={"x": "X"}, example=("--input", "1x5x5", "--param", "output_size=3"),
    )


def global_pool_show(op: str) -> ShowSpec:
    """``--input CxHxW`` (or batched): the mean of every plane."""

    def setup(shape, options):
        _need_image(op, shape, 2)
        return ShowSetup({"x": tuple(shape)})

    return ShowSpec(
        setup=setup, out_shape=lambda shapes, params: tuple(shapes["x"][:-2]) + (1, 1),
        nnz=lambda shapes, params, wrt, out: math.prod(shapes["x"]), input_help="CxHxW or NxCxHxW",
        symbols={"x": "X"}, example=("--input", "2x2x3"),
    )


#: Taps per output entry of each interpolate mode (per axis, squared for two axes).
_TAPS = {"nearest": 1, "nearest-exact": 1, "bilinear": 2, "bicubic": 4}


def interpolate_show(modes) -> ShowSpec:
    """``--input CxHxW`` (or batched), exactly one of ``--param size=OH|OHxOW`` and ``--param scale_factor=X``,
    ``--param mode=…``, ``--param align_corners=true|false``, ``--param recompute_scale_factor=true|false``.

    With ``scale_factor`` the output size is ``⌊n · scale_factor⌋`` per axis (PyTorch's rule).
    """
    op = "interpolate"

    def setup(shape, options):
        _need_image(op, shape, 2)
        if ("size" in options) == ("scale_factor" in options):
            raise ValueError("--param size: interpolate needs exactly one of --param size=OH|OHxOW and "
                             "--param scale_factor=X")
        params = {"mode": options.get("mode", "nearest")}
        if "size" in options:
            params["size"] = _pair_of(options["size"], "--param size", op, shape)
        else:
            factor = options["scale_factor"]
            if not (math.isfinite(factor) and factor > 0):
                raise ValueError(f"--param scale_factor: must be a finite number > 0 (got {factor!r})")
            out = tuple(math.floor(n * factor) for n in shape[-2:])
            if min(out) < 1:
                raise ValueError(f"--param scale_factor: {factor!r} turns --input {dims(shape)}'s {dims(shape[-2:])} "
                                 f"into {dims(out)}; every output size must be at least 1")
            params["scale_factor"] = factor
        for name in ("align_corners", "recompute_scale_factor"):
            if name in options:
                params[name] = options[name]
        return ShowSetup({"x": tuple(shape)}, params)

    def out_shape(shapes, params):
        x = shapes["x"]
        if "size" in params:
            return tuple(x[:-2]) + tuple(params["size"])
        return tuple(x[:-2]) + tuple(math.floor(n * params["scale_factor"]) for n in x[-2:])

    return ShowSpec(
        setup=setup, options={"size": "ints", "scale_factor": "float", "mode": tuple(modes), "align_corners": "bool",
                              "recompute_scale_factor": "bool"},
        out_shape=out_shape, nnz=lambda shapes, params, wrt, out: math.prod(out) * _TAPS.get(params["mode"], 4) ** 2,
        input_help="CxHxW or NxCxHxW", symbols={"x": "X"},
        example=("--input", "1x2x2", "--param", "scale_factor=2", "--param", "mode=bilinear"),
    )
