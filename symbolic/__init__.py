"""Symbolic (sympy) faces of the operators and the notes' worked examples.

* :mod:`symbolic.tensors` — symbols named as the notes name them (X₁₁, β₂₁, t₂,₃,₁);
* :mod:`symbolic.ops` — sympy forwards, registered as each operator's symbolic face
  (importing it attaches them to :data:`jacobians.registry.SYMBOLIC`);
* :mod:`symbolic.examples` — the notes' worked examples reproduced exactly (``EXAMPLES``);
* :mod:`symbolic.printing` — pretty text / LaTeX with the notes' elision (… ⋮).

Importing this package imports sympy; ``import jacobians`` never does. The
names below other than the tensor constructors are loaded on first use.
"""
from __future__ import annotations

import importlib

from .tensors import symbol_tensor, symbol_vector

_LAZY = {"render": "printing", "EXAMPLES": "examples", "get_example": "examples", "SYMBOLIC_FORWARDS": "ops"}

__all__ = ["symbol_tensor", "symbol_vector", *_LAZY]


def __getattr__(name):
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'symbolic' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
