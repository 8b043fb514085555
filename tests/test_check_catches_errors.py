"""Test the tester: a deliberately wrong face must be caught by the generic check."""
import numpy as np
import pytest

from jacobians.check import check_operator
from jacobians.ops import conv2d as c2d
from jacobians.registry import register

CASE = c2d.conv2d_cases()[10]  # strided, padded, multi-channel


def _spec(**overrides):
    faces = dict(
        summary="conv2d with a planted error",
        forward=c2d.conv2d,
        jacobian={"x": c2d._jac_x, "weight": c2d._jac_w},
        vjp={"x": {"rot180": c2d.conv2d_vjp_input_rot180}, "weight": {"im2col": c2d.conv2d_vjp_weight_im2col}},
        cases=c2d.conv2d_cases,
        affine_in=("x", "weight"),
    )
    faces.update(overrides)
    return register("planted", registry={}, **faces)


def _failed_routes(spec):
    report = check_operator(spec, CASE, use_torch=False)
    return {(r.wrt, r.route) for r in report.failures}


def test_correct_spec_passes():
    assert _failed_routes(_spec()) == set()


def test_vjp_scaled_by_2_001_is_caught():
    wrong = lambda g, **kw: 2.001 * c2d.conv2d_vjp_input_rot180(g, **kw)  # noqa: E731
    failed = _failed_routes(_spec(vjp={"x": {"rot180": wrong}, "weight": {"im2col": c2d.conv2d_vjp_weight_im2col}}))
    assert ("x", "vjp:rot180") in failed and ("x", "dot:rot180") in failed


def test_vjp_missing_rot180_flip_is_caught():
    def unflipped(g, x, weight, bias=None, **p):
        # the classic mistake: forget to rotate the kernel by 180°
        return c2d.conv2d_vjp_input_rot180(g, x, np.asarray(weight)[:, :, ::-1, ::-1], **p)

    failed = _failed_routes(_spec(vjp={"x": {"rot180": unflipped}, "weight": {"im2col": c2d.conv2d_vjp_weight_im2col}}))
    assert ("x", "vjp:rot180") in failed


def test_transposed_jacobian_block_is_caught():
    def wrong_jac(x, weight, bias=None, **p):
        return c2d._jac_x(x, np.asarray(weight).transpose(0, 1, 3, 2).copy(), **p) if weight.shape[2] == weight.shape[3] else c2d._jac_x(x, 1.001 * weight, **p)

    failed = _failed_routes(_spec(jacobian={"x": wrong_jac, "weight": c2d._jac_w}))
    assert ("x", "probe") in failed and ("x", "fd") in failed


def test_registry_rejects_duplicates_and_missing_faces():
    reg = {}
    register("op", registry=reg, summary="", forward=c2d.conv2d, jacobian={"x": c2d._jac_x},
             vjp={"x": {"r": c2d.conv2d_vjp_input_rot180}}, cases=list)
    with pytest.raises(ValueError, match="already registered"):
        register("op", registry=reg, summary="", forward=c2d.conv2d, jacobian={"x": c2d._jac_x},
                 vjp={"x": {"r": c2d.conv2d_vjp_input_rot180}}, cases=list)
    with pytest.raises(NotImplementedError, match="VJP of 'op2' w.r.t. weight"):
        register("op2", registry=reg, summary="", forward=c2d.conv2d,
                 jacobian={"x": c2d._jac_x, "weight": c2d._jac_w},
                 vjp={"x": {"r": c2d.conv2d_vjp_input_rot180}}, cases=list)
