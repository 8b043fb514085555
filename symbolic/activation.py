"""Sympy forwards of leaky_relu, elu, gelu, softplus and dropout (symbolic faces), entry by entry.

The kinks are sympy ``Piecewise`` with PyTorch's branch choice (``z > 0``,
``βz > threshold``); the builders' derivative *at* a kink is a convention,
tested against torch in tests/test_activation_modern.py.
"""
from __future__ import annotations

import sympy

from symbolic._faces import register_forwards
from symbolic.ops import _number, _obj, column

__all__ = ["leaky_relu", "elu", "gelu", "softplus", "dropout", "ACTIVATION_FORWARDS"]


def leaky_relu(z, negative_slope=0.01):
    a = _number(negative_slope)
    return column(sympy.Piecewise((v, v > 0), (a * v, True)) for v in _obj(z, "z").ravel())


def elu(z, alpha=1.0):
    a = _number(alpha)
    return column(sympy.Piecewise((v, v > 0), (a * (sympy.exp(v) - 1), True)) for v in _obj(z, "z").ravel())


def gelu(z, approximate="none"):
    def one(v):
        if approximate == "tanh":
            inner = sympy.sqrt(2 / sympy.pi) * (v + sympy.Rational(44715, 1000000) * v ** 3)
            return v / 2 * (1 + sympy.tanh(inner))
        return v / 2 * (1 + sympy.erf(v / sympy.sqrt(2)))

    return column(one(v) for v in _obj(z, "z").ravel())


def softplus(z, beta=1.0, threshold=20.0):
    b, t = _number(beta), _number(threshold)
    return column(sympy.Piecewise((v, b * v > t), (sympy.log(1 + sympy.exp(b * v)) / b, True)) for v in _obj(z, "z").ravel())


def dropout(z, mask, p):
    scale = 0 if p == 1 else 1 / (1 - _number(p))
    return column(v * (scale if bool(k) else 0) for v, k in zip(_obj(z, "z").ravel(), [bool(k) for k in __import__("numpy").ravel(mask)]))


ACTIVATION_FORWARDS = {"leaky_relu": leaky_relu, "elu": elu, "gelu": gelu, "softplus": softplus, "dropout": dropout}
register_forwards(ACTIVATION_FORWARDS)
