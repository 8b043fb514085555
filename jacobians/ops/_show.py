"""Helpers for the operators' ``show=`` metadata (see :class:`jacobians.registry.ShowSpec`).

Everything here works on shapes and Python ints: ``jacobians show`` calls a
``ShowSpec``'s functions before it allocates anything, so none of them may
build arrays whose size follows the user's numbers.
"""
from __future__ import annotations

import math

from ..registry import ShowSetup, ShowSpec

__all__ = [
    "ShowSetup",
    "ShowSpec",
    "WINDOW_OPTIONS",
    "dims",
    "need_ndim",
    "pair",
    "window_params",
    "one_hot",
    "same_shape_spec",
    "real_option",
    "dim_option",
    "REDUCTIONS",
]

#: PyTorch's loss reductions (the ``--param reduction=`` words).
REDUCTIONS = ("mean", "sum", "none")

#: The options of a 2-D window operator (kernel, stride, padding, dilation).
WINDOW_OPTIONS = {"kernel": "ints", "stride": "ints", "padding": "padding", "dilation": "ints"}


def dims(shape) -> str:
    return "x".join(map(str, shape)) if len(shape) else "scalar"


def need_ndim(op: str, shape, ndim, help_text: str, option: str = "--input") -> None:
    """One line naming the option when ``shape`` does not have ``ndim`` dimensions (an int or a tuple of ints)."""
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if len(shape) not in allowed:
        raise ValueError(f"{option}: {op} needs {help_text} ({' or '.join(map(str, allowed))} dimensions), got {dims(shape)}")


def pair(value, option: str, op: str) -> tuple[int, int]:
    """``2`` -> ``(2, 2)``; ``(2, 1)`` stays; anything else is refused naming the option."""
    if isinstance(value, int):
        return (value, value)
    if len(value) != 2:
        raise ValueError(f"{option}: {op} needs N or HxW (got {dims(value)})")
    return tuple(value)


def window_params(op: str, options, *, names=("stride", "padding", "dilation"), kernel_required: bool = True) -> dict:
    """``kernel_size`` and the window parameters given on the command line (absent ones keep the defaults)."""
    params = {}
    if "kernel" in options:
        params["kernel_size"] = pair(options["kernel"], "--kernel", op)
    elif kernel_required:
        raise ValueError(f"--kernel: {op} needs --kernel K or KHxKW")
    for name in names:
        if name in options:
            value = options[name]
            params[name] = value if name == "padding" and not isinstance(value, int) and len(value) == 4 else (
                pair(value, f"--{name}", op))
    return params


def one_hot(op: str, size: int, target) -> "object":
    """A one-hot label of length ``size`` at class ``target`` (0-based), as a float array."""
    import numpy as np

    target = 0 if target is None else target
    if target >= size:
        raise ValueError(f"--target: {op} has {size} classes (--input {size}), so the class index must be below {size} (got {target})")
    y = np.zeros(size)
    y[target] = 1.0
    return y


def real_option(options, name: str, default: float, rule: str = "finite", test=None) -> float:
    """A ``--param NAME=X`` number (``default`` when absent), refused in one line unless finite and ``test(value)``.

    ``rule`` says what ``test`` asks (``"> 0"``, ``"in [0, 1]"``); the message names the option and the rule.
    """
    value = options.get(name, default)
    if not math.isfinite(value) or (test is not None and not test(value)):
        wanted = "a finite number" if rule == "finite" else f"a finite number {rule}"
        raise ValueError(f"--param {name}: must be {wanted} (got {value!r})")
    return float(value)


def dim_option(op: str, shape, options, default: int, option: str = "dim") -> int:
    """``--dim D`` (negative counts from the end, as in PyTorch), refused in one line outside ``[-ndim, ndim)``."""
    dim = options.get(option, default)
    n = len(shape)
    if not -n <= dim < n:
        flag = f"--{option}" if option == "dim" else f"--param {option}"
        raise ValueError(f"{flag}: {op} of a {n}-D --input ({dims(shape)}) needs a dim in [{-n}, {n - 1}] (got {dim})")
    return dim


def same_shape_spec(name: str, *, nnz_per_row: int = 1, symbol: str | None = None, params=None, **kwargs) -> ShowSpec:
    """A ShowSpec for an operator of one input whose output has the input's shape (elementwise).

    ``params(options) -> dict`` (optional) turns the declared ``options`` into the faces' parameters,
    raising ``ValueError`` naming the option for a bad value.
    """
    kwargs.setdefault("example", ("--input", "2x3"))
    return ShowSpec(
        setup=lambda shape, options: ShowSetup({name: shape}, params(options) if params is not None else {}),
        out_shape=lambda shapes, params: shapes[name],
        nnz=lambda shapes, params, wrt, out: nnz_per_row * math.prod(out),
        symbols={name: symbol} if symbol else {},
        **kwargs,
    )
