"""jacobians — explicit sparse Jacobians of CNN layers, and a verifier for hand-derived backprop.

Importing the package is cheap: public names are resolved lazily on first
use (PEP 562), and sympy / matplotlib are imported only by the parts that
need them.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    # conventions and geometry
    "Convention": "conventions",
    "CANONICAL": "conventions",
    "PRESETS": "conventions",
    "get_convention": "conventions",
    "commutation_matrix": "conventions",
    "vec": "conventions",
    "unvec": "conventions",
    "Conv2dGeometry": "geometry",
    "Pool2dGeometry": "geometry",
    "GeometryError": "geometry",
    "output_size": "geometry",
    # registry
    "OPERATORS": "registry",
    "SYMBOLIC": "registry",
    "OpSpec": "registry",
    "Case": "registry",
    "register": "registry",
    "get_operator": "registry",
    "load_all": "registry",
    # convolution
    "conv2d": "ops.conv2d",
    "im2col": "ops.conv2d",
    "col2im": "ops.conv2d",
    "im2col_jacobian": "ops.conv2d",
    "conv2d_input_jacobian": "ops.conv2d",
    "conv2d_weight_jacobian": "ops.conv2d",
    "conv2d_bias_jacobian": "ops.conv2d",
    "OperatorTooLargeError": "ops._sparse",
    # pooling
    "max_pool2d": "ops.pooling",
    "max_pool2d_jacobian": "ops.pooling",
    "avg_pool2d": "ops.pooling",
    "avg_pool2d_jacobian": "ops.pooling",
    # activations
    "relu": "ops.activation",
    "relu_jacobian": "ops.activation",
    "sigmoid": "ops.activation",
    "sigmoid_jacobian": "ops.activation",
    "tanh": "ops.activation",
    "tanh_jacobian": "ops.activation",
    # softmax / losses
    "softmax": "ops.softmax",
    "softmax_jacobian": "ops.softmax",
    "cross_entropy": "ops.softmax",
    # checking
    "check_operator": "check",
    "CheckReport": "check",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'jacobians' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
