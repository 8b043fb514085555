"""``jacobians show`` metadata for the N-d convolution and pooling front doors.

The ``show=ShowSpec(...)`` contract (``jacobians.registry.ShowSpec``: options
by kind, ``setup(input_shape, options) -> ShowSetup``, ``out_shape``,
``nnz``, ``example``; see docs/developer.md). Everything here works on shapes
and Python ints.
"""
from __future__ import annotations

import math

from ..geometry import AXIS_NAMES, ConvNdGeometry, PoolNdGeometry

from ..registry import ShowSetup, ShowSpec

__all__ = ["show_kw", "conv_show", "pool_show"]

_WINDOW = {"kernel": "ints", "stride": "ints", "padding": "padding", "dilation": "ints"}


def show_kw(make) -> dict:
    """``{"show": make()}``: the keyword that attaches the metadata in a ``register(...)`` call."""
    return {"show": make()}


def _help(nd: int) -> str:
    return "Cx" + "x".join(a[0].upper() for a in AXIS_NAMES[nd])


def _need(op, shape, n, help_text, option="--input"):
    if len(shape) != n:
        got = "x".join(map(str, shape)) if len(shape) else "scalar"
        raise ValueError(f"{option}: {op} needs {help_text} ({n} dimensions), got {got}")


def conv_show(op: str, nd: int):
    """ShowSpec of conv{nd}d: ``--input Cx…`` with ``--weight OxCxK…`` or ``--kernel K…`` (one filter per group)."""

    def setup(shape, options):
        _need(op, shape, nd + 1, _help(nd))
        groups = options.get("groups", 1)
        if "weight" in options and "kernel" in options:
            raise ValueError(f"--kernel: {op} takes --weight or --kernel, not both")
        if "weight" in options:
            weight = tuple(options["weight"])
            _need(op, weight, nd + 2, "Ox" + "Cx" + "x".join("K" for _ in range(nd)), "--weight")
        elif "kernel" in options:
            k = options["kernel"]
            kernel = (k,) * nd if isinstance(k, int) else tuple(k)
            fits = groups > 0 and shape[0] % groups == 0
            weight = (groups, shape[0] // groups, *kernel) if fits else (max(groups, 1), 1, *kernel)
        else:
            raise ValueError(f"--weight: {op} needs --weight or --kernel")
        params = {k: options[k] for k in ("stride", "padding", "dilation") if k in options}
        params["groups"] = groups
        ConvNdGeometry.from_shapes(shape, weight, **params)  # one line naming the parameter at fault
        return ShowSetup({"x": tuple(shape), "weight": weight, "bias": (weight[0],)}, params)

    def geometry(shapes, params):
        return ConvNdGeometry.from_shapes(shapes["x"], shapes["weight"], **params)

    def nnz(shapes, params, wrt, out):
        geom = geometry(shapes, params)
        if wrt == "bias":
            return math.prod(out)
        count = geom.out_channels * geom.in_per_group
        for ax in range(nd):
            count *= int(geom.tap_offsets(ax)[1].sum())
        return count

    example = ("--input", "1x" + "x".join(["4"] * nd), "--weight", "1x1x" + "x".join(["2"] * nd))
    return ShowSpec(
        setup=setup, options={"weight": "shape", **_WINDOW, "groups": "int"},
        out_shape=lambda shapes, params: geometry(shapes, params).output_shape, nnz=nnz, input_help=_help(nd),
        symbols={"x": "X", "weight": "F", "bias": "b"}, example=example,
    )


def pool_show(op: str, nd: int, kind: str, tie_rules=()):
    """ShowSpec of {max,avg}_pool{nd}d: ``--input Cx…`` and ``--kernel``, window options and the pooling flags."""
    names = ("stride", "padding", "dilation") if kind == "max" else ("stride", "padding")
    extra = {"ceil_mode": "bool"}
    if kind == "max":
        extra |= {"pad_value": "float", "ties": tuple(tie_rules)}
    else:
        extra |= {"count_include_pad": "bool"}
        if nd > 1:
            extra |= {"divisor_override": "int"}

    def setup(shape, options):
        _need(op, shape, nd + 1, _help(nd))
        if "kernel" not in options:
            raise ValueError(f"--kernel: {op} needs --kernel K or {'x'.join('K' for _ in range(nd))}")
        params = {"kernel_size": options["kernel"]}
        params.update({k: options[k] for k in (*names, *extra) if k in options})
        geometry({"x": shape}, params)  # validates the window in one line
        return ShowSetup({"x": tuple(shape)}, params)

    def geometry(shapes, params):
        p = {k: params[k] for k in ("stride", "padding", "dilation", "ceil_mode") if k in params}
        return PoolNdGeometry.from_shapes(shapes["x"], params["kernel_size"], ndim=nd, **p)

    def nnz(shapes, params, wrt, out):
        if kind == "max":
            return math.prod(out)
        return math.prod(out) * math.prod(geometry(shapes, params).kernel)

    return ShowSpec(
        setup=setup, options={k: v for k, v in _WINDOW.items() if k in ("kernel", *names)} | extra,
        out_shape=lambda shapes, params: geometry(shapes, params).output_shape, nnz=nnz, input_help=_help(nd),
        symbols={"x": "X"}, example=("--input", "1x" + "x".join(["4"] * nd), "--kernel", "2"),
    )
