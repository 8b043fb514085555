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


#: a strided, padded case with a square 3×3 kernel: transposing its taps really changes the matrix
SQUARE_CASE = c2d.conv2d_cases()[11]


def _transposed_taps_jac(x, weight, bias=None, **p):
    return c2d._jac_x(x, np.asarray(weight).transpose(0, 1, 3, 2).copy(), **p)


def test_transposed_jacobian_block_is_caught():
    weight = SQUARE_CASE.inputs["weight"]
    assert weight.shape[2] == weight.shape[3] == 3
    right = c2d._jac_x(**SQUARE_CASE.inputs, **SQUARE_CASE.params).toarray()
    wrong = _transposed_taps_jac(**SQUARE_CASE.inputs, **SQUARE_CASE.params).toarray()
    assert np.abs(right - wrong).max() > 0.1  # the planted bug does change the matrix
    spec = _spec(jacobian={"x": _transposed_taps_jac, "weight": c2d._jac_w})
    failed = {(r.wrt, r.route) for r in check_operator(spec, SQUARE_CASE, use_torch=False).failures}
    assert ("x", "probe") in failed and ("x", "fd") in failed and ("x", "vjp:rot180") in failed


def test_torch_route_catches_the_transposed_block():
    pytest.importorskip("torch")
    spec = _spec(jacobian={"x": _transposed_taps_jac, "weight": c2d._jac_w}, torch_forward=c2d._torch_conv2d)
    report = check_operator(spec, SQUARE_CASE, use_torch=True)
    torch_rows = [r for r in report.results if r.route == "torch"]
    assert {r.wrt: r.ok for r in torch_rows} == {"x": False, "weight": True}


def test_torch_route_catches_a_wrong_forward_shared_by_jacobian_and_vjps():
    pytest.importorskip("torch")

    def torch_rot(x, weight, bias=None, **p):  # the truth; the package faces below all use the flipped kernel
        return c2d._torch_conv2d(x, weight, bias, **p)

    flip = lambda w: np.asarray(w)[:, :, ::-1, ::-1].copy()  # noqa: E731
    spec = _spec(
        forward=lambda x, weight, bias=None, **p: c2d.conv2d(x, flip(weight), bias, **p),
        jacobian={"x": lambda x, weight, bias=None, **p: c2d._jac_x(x, flip(weight), **p)},
        vjp={"x": {"rot180": lambda g, x, weight, bias=None, **p: c2d.conv2d_vjp_input_rot180(g, x, flip(weight), **p)}},
        affine_in=("x",),
        torch_forward=torch_rot,
    )
    failed = {(r.wrt, r.route) for r in check_operator(spec, SQUARE_CASE, use_torch=True).failures}
    assert failed == {("x", "torch")}  # every non-torch route agrees with the shared bug


def test_shape_route_catches_a_missing_row():
    def short_jac(x, weight, bias=None, **p):
        return c2d._jac_x(x, weight, **p)[:-1]

    failed = _failed_routes(_spec(jacobian={"x": short_jac, "weight": c2d._jac_w}))
    assert ("x", "shape") in failed


def test_binary_route_catches_a_non_unit_value_in_a_structural_operator():
    from jacobians.registry import get_operator

    im2col = get_operator("im2col")
    case = im2col.cases()[0]

    def doubled(**kw):
        return 2.0 * im2col.jacobian["x"](**kw)

    spec = register("planted_im2col", registry={}, summary="", forward=im2col.forward, jacobian={"x": doubled},
                    vjp={"x": {"col2im": lambda g, **kw: 2.0 * im2col.vjp["x"]["col2im"](g, **kw)}},
                    cases=im2col.cases, structural=("x",))
    failed = {(r.wrt, r.route) for r in check_operator(spec, case, use_torch=False).failures}
    assert ("x", "binary") in failed
    # the correct operator passes the same route
    assert check_operator(im2col, case, use_torch=False).ok


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
