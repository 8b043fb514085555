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
    # show metadata (`jacobians show` for any operator)
    "ShowSpec": "registry",
    "ShowSetup": "registry",
    # convolution
    "conv2d": "ops.conv2d",
    "im2col": "ops.conv2d",
    "col2im": "ops.conv2d",
    "im2col_jacobian": "ops.conv2d",
    "conv2d_input_jacobian": "ops.conv2d",
    "conv2d_weight_jacobian": "ops.conv2d",
    "conv2d_bias_jacobian": "ops.conv2d",
    "OperatorTooLargeError": "ops._sparse",
    # N-d convolution and pooling (issue #13): the N-d core and its 1-D / 3-D front doors
    "ConvNdGeometry": "geometry",
    "PoolNdGeometry": "geometry",
    "conv1d": "ops.convnd",
    "conv1d_input_jacobian": "ops.convnd",
    "conv1d_weight_jacobian": "ops.convnd",
    "conv1d_bias_jacobian": "ops.convnd",
    "conv3d": "ops.convnd",
    "conv3d_input_jacobian": "ops.convnd",
    "conv3d_weight_jacobian": "ops.convnd",
    "conv3d_bias_jacobian": "ops.convnd",
    "convnd_input_jacobian": "ops.convnd",
    "convnd_weight_jacobian": "ops.convnd",
    "max_pool1d": "ops.pooling",
    "max_pool3d": "ops.pooling",
    "max_pool1d_jacobian": "ops.pooling",
    "max_pool3d_jacobian": "ops.pooling",
    "avg_pool1d": "ops.pooling",
    "avg_pool3d": "ops.pooling",
    "avg_pool1d_jacobian": "ops.pooling",
    "avg_pool3d_jacobian": "ops.pooling",
    # pooling
    "max_pool2d": "ops.pooling",
    "max_pool2d_jacobian": "ops.pooling",
    "avg_pool2d": "ops.pooling",
    "avg_pool2d_jacobian": "ops.pooling",
    "MaxPoolSwitches": "ops.pooling",
    "max_pool2d_switches": "ops.pooling",
    "max_pool2d_jacobian_from_switches": "ops.pooling",
    # transposed convolution, adaptive / global pooling, upsampling (issue #13)
    "ConvTranspose2dGeometry": "ops.conv_transpose",
    "conv_transpose2d": "ops.conv_transpose",
    "conv_transpose2d_input_jacobian": "ops.conv_transpose",
    "conv_transpose2d_weight_jacobian": "ops.conv_transpose",
    "conv_transpose2d_bias_jacobian": "ops.conv_transpose",
    "conv_transpose1d": "ops.conv_transpose",
    "conv_transpose1d_input_jacobian": "ops.conv_transpose",
    "conv_transpose1d_weight_jacobian": "ops.conv_transpose",
    "conv_transpose3d": "ops.conv_transpose",
    "conv_transpose3d_input_jacobian": "ops.conv_transpose",
    "conv_transpose3d_weight_jacobian": "ops.conv_transpose",
    "adaptive_avg_pool2d": "ops.adaptive_pool",
    "adaptive_avg_pool2d_jacobian": "ops.adaptive_pool",
    "adaptive_max_pool2d": "ops.adaptive_pool",
    "adaptive_max_pool2d_jacobian": "ops.adaptive_pool",
    "global_avg_pool2d": "ops.adaptive_pool",
    "global_avg_pool2d_jacobian": "ops.adaptive_pool",
    "interpolate": "ops.upsample",
    "interpolate_jacobian": "ops.upsample",
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
    "softmax_cross_entropy_grad_onehot": "ops.softmax",
    "soft_cross_entropy": "ops.softmax",
    "softmax_soft_cross_entropy": "ops.softmax",
    "frobenius_loss": "ops.softmax",
    "frobenius_loss_jacobian": "ops.softmax",
    # Kronecker forms (note 003)
    "kron_filter_form": "ops.kron",
    "kron_patch_form": "ops.kron",
    # linear layers
    "linear_xwt": "ops.linear",
    "linear_xw_b": "ops.linear",
    "linear_wvec_b": "ops.linear",
    "linear_wtb_b": "ops.linear",
    # robustness: the torch-style linear layer and every linear-layer Jacobian builder at top level
    "linear": "ops.linear",
    "linear_input_jacobian": "ops.linear",
    "linear_weight_jacobian": "ops.linear",
    "linear_bias_jacobian": "ops.linear",
    "linear_xwt_input_jacobian": "ops.linear",
    "linear_xwt_weight_jacobian": "ops.linear",
    "linear_xw_b_input_jacobian": "ops.linear",
    "linear_xw_b_weight_jacobian": "ops.linear",
    "linear_xw_b_bias_jacobian": "ops.linear",
    "linear_wvec_b_input_jacobian": "ops.linear",
    "linear_wvec_b_weight_jacobian": "ops.linear",
    "linear_wtb_b_input_jacobian": "ops.linear",
    "linear_wtb_b_weight_jacobian": "ops.linear",
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
    # normalization, modern activations, softmax along a dim, PyTorch-style losses, add/concat (issue #14)
    "batch_norm": "ops.normalization",
    "batch_norm_input_jacobian": "ops.normalization",
    "batch_norm_weight_jacobian": "ops.normalization",
    "batch_norm_bias_jacobian": "ops.normalization",
    "layer_norm": "ops.normalization",
    "layer_norm_input_jacobian": "ops.normalization",
    "layer_norm_weight_jacobian": "ops.normalization",
    "layer_norm_bias_jacobian": "ops.normalization",
    "group_norm": "ops.normalization",
    "group_norm_input_jacobian": "ops.normalization",
    "group_norm_weight_jacobian": "ops.normalization",
    "group_norm_bias_jacobian": "ops.normalization",
    "instance_norm": "ops.normalization",
    "instance_norm_input_jacobian": "ops.normalization",
    "instance_norm_weight_jacobian": "ops.normalization",
    "instance_norm_bias_jacobian": "ops.normalization",
    "leaky_relu": "ops.activation",
    "leaky_relu_jacobian": "ops.activation",
    "elu": "ops.activation",
    "elu_jacobian": "ops.activation",
    "gelu": "ops.activation",
    "gelu_jacobian": "ops.activation",
    "softplus": "ops.activation",
    "softplus_jacobian": "ops.activation",
    "dropout": "ops.activation",
    "dropout_jacobian": "ops.activation",
    "softmax_along": "ops.softmax",
    "softmax_along_jacobian": "ops.softmax",
    "log_softmax": "ops.softmax",
    "log_softmax_jacobian": "ops.softmax",
    "cross_entropy_loss": "ops.losses",
    "cross_entropy_loss_jacobian": "ops.losses",
    "nll_loss": "ops.losses",
    "nll_loss_jacobian": "ops.losses",
    "mse_loss": "ops.losses",
    "mse_loss_jacobian": "ops.losses",
    "add": "ops.combine",
    "add_jacobian": "ops.combine",
    "concat": "ops.combine",
    "concat_jacobian": "ops.combine",
    # checking
    "check_operator": "check",
    "CheckReport": "check",
    # claims API
    "claim": "claims",
    "Claim": "claims",
    "ClaimResult": "claims",
    "ClaimRegistry": "claims",
    "Evidence": "claims",
    "verdict_from": "claims",
    "collect_claims": "claims",
    "load_claim_files": "claims",
    "route_kind_violations": "claims",
    "reference_routes": "claims",
    "reference_jacobian": "claims",
    "reference_vjp": "claims",
    "fd_gradient": "claims",
    "fd_jacobian": "claims",
    "torch_jacobian": "claims",
    "torch_gradient": "claims",
    # (claims API) compare a hand-written Jacobian or gradient, diagnose its mistake
    "compare": "compare",
    "diagnose": "compare",
    "CompareResult": "compare",
    "MISTAKES": "compare",
    "candidate_from_text": "compare",
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
