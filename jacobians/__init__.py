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
    "MaxPoolSwitches": "ops.pooling",
    "max_pool2d_switches": "ops.pooling",
    "max_pool2d_jacobian_from_switches": "ops.pooling",
    "vardhan2022_mask_column": "ops.pooling",
    "vardhan2022_mask_column_corrected": "ops.pooling",
    # activations
    "relu": "ops.activation",
    "relu_jacobian": "ops.activation",
    "sigmoid": "ops.activation",
    "sigmoid_jacobian": "ops.activation",
    "tanh": "ops.activation",
    "tanh_jacobian": "ops.activation",
    "relu_mask": "ops.activation",
    "relu_jacobian_from_mask": "ops.activation",
    # softmax / losses
    "softmax": "ops.softmax",
    "softmax_jacobian": "ops.softmax",
    "cross_entropy": "ops.softmax",
    "cross_entropy_jacobian": "ops.softmax",
    "softmax_cross_entropy": "ops.softmax",
    "softmax_cross_entropy_grad": "ops.softmax",
    "softmax_cross_entropy_grad_note004": "ops.softmax",
    "softmax_cross_entropy_grad_onehot": "ops.softmax",
    "soft_cross_entropy": "ops.softmax",
    "softmax_soft_cross_entropy": "ops.softmax",
    "frobenius_loss": "ops.softmax",
    "frobenius_loss_jacobian": "ops.softmax",
    # Kronecker forms (note 003)
    "xu2020_filter_matrix": "ops.kron",
    "xu2020_output_matrix": "ops.kron",
    "kron_filter_form": "ops.kron",
    "kron_patch_form": "ops.kron",
    # linear layers
    "linear_xwt": "ops.linear",
    "linear_xw_b": "ops.linear",
    "linear_wvec_b": "ops.linear",
    "linear_wtb_b": "ops.linear",
    "linear_wtb_b_row_jacobians": "ops.linear",
    # data movement
    "selection_matrix": "ops.reshape",
    "vec_jacobian": "ops.reshape",
    "convert_vec": "ops.reshape",
    "convert_vec_jacobian": "ops.reshape",
    "reshape_jacobian": "ops.reshape",
    "transpose_jacobian": "ops.reshape",
    "flatten_jacobian": "ops.reshape",
    "stack_jacobian": "ops.reshape",
    "select_jacobian": "ops.reshape",
    "vardhan2022_channel_rows": "ops.reshape",
    # composition and the notes' networks
    "Chain": "chain",
    "Link": "chain",
    "fan_out": "chain",
    "fan_out_gradient": "chain",
    "NETWORKS": "networks",
    "Wang2019FCNet": "networks",
    "MintNet": "networks",
    "DD2424OneConvNet": "networks",
    "DD2424TwoConvNet": "networks",
    "Vardhan2022Net": "networks",
    # checking
    "check_operator": "check",
    "CheckReport": "check",
    # interop
    "from_torch": "interop.torch",
    "TorchJacobians": "interop.torch",
    "UnsupportedModelError": "interop.torch",
    "framework_jacobian": "interop.framework",
    "CompressedJacobian": "interop.framework",
    "diff_operator": "interop.diff",
    "DiffReport": "interop.diff",
    "grid_coloring": "interop.coloring",
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
