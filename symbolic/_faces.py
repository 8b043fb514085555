"""Attach sympy forwards defined outside :mod:`symbolic.ops` to the registered operators."""
from __future__ import annotations

from jacobians.registry import OPERATORS, SYMBOLIC, load_all, register_symbolic


def register_forwards(forwards) -> None:
    """Attach each sympy forward to the registered operator of the same name (those that exist)."""
    load_all()
    for name, fn in forwards.items():
        if name in OPERATORS and name not in SYMBOLIC:
            register_symbolic(name, fn)
