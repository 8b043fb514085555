"""Geometry validation: every bad value raises one line naming the parameter and the rule."""
import re

import numpy as np
import pytest

import jacobians as jac
from jacobians.geometry import Conv2dGeometry, GeometryError, as_padding, output_size


@pytest.mark.parametrize(
    "kwargs,param,rule",
    [
        (dict(stride=0), "stride", "positive integer"),
        (dict(stride=-1), "stride", "positive integer"),
        (dict(stride=(1, 0)), "stride[1] (width)", "positive integer"),
        (dict(stride=1.5), "stride", "integer"),
        (dict(dilation=0), "dilation", "positive integer"),
        (dict(padding=-1), "padding", "non-negative integer"),
        (dict(padding=(1, 2, 3)), "padding", "four values"),
        (dict(padding=(0, 0, -1, 0)), "padding[2] (left)", "non-negative"),
        (dict(groups=2), "groups", "divide C_in"),
        (dict(groups=0), "groups", "positive integer"),
    ],
)
def test_bad_parameters_name_the_parameter(kwargs, param, rule):
    with pytest.raises(GeometryError) as err:
        Conv2dGeometry.from_shapes((3, 5, 5), (2, 3, 3, 3), **kwargs)
    msg = str(err.value)
    assert msg.startswith(param) and rule in msg and "\n" not in msg


@pytest.mark.parametrize(
    "input_shape,weight_shape,param",
    [
        ((1, 2, 2), (1, 1, 3, 3), "kernel_size"),          # kernel larger than the input
        ((1, 3, 3), (1, 1, 3, 3), None),                   # equal: fine
        ((1, 3, 3), (1, 2, 3, 3), "weight_shape"),         # channel mismatch
        ((1, 3, 2.5), (1, 1, 1, 1), "input_shape[2]"),     # non-integer size
        ((1, 3), (1, 1, 1, 1), "input_shape"),             # wrong rank
        ((1, 0, 3), (1, 1, 1, 1), "input_shape[1]"),       # empty
        ((1, 5, 5), (1, 1, 3, 3, 1), "weight_shape"),
    ],
)
def test_shape_errors(input_shape, weight_shape, param):
    if param is None:
        Conv2dGeometry.from_shapes(input_shape, weight_shape)
        return
    with pytest.raises(GeometryError, match="^" + re.escape(param)):
        Conv2dGeometry.from_shapes(input_shape, weight_shape)


def test_kernel_fits_only_after_padding():
    with pytest.raises(GeometryError, match="padded input height 2\\+0\\+0 = 2"):
        Conv2dGeometry.from_shapes((1, 2, 4), (1, 1, 3, 3))
    g = Conv2dGeometry.from_shapes((1, 2, 4), (1, 1, 3, 3), padding=(1, 0))
    assert g.out_hw == (2, 2)
    # dilation enlarges the window: 2·(3−1)+1 = 5 > 4
    with pytest.raises(GeometryError, match="dilated height extent"):
        Conv2dGeometry.from_shapes((1, 4, 9), (1, 1, 3, 3), dilation=2)


def test_padding_forms():
    assert as_padding(1) == (1, 1, 1, 1)
    assert as_padding((1, 2)) == (1, 1, 2, 2)
    assert as_padding((1, 0, 2, 0)) == (1, 0, 2, 0)


@pytest.mark.parametrize("h,k,s,p0,p1,d", [(6, 3, 1, 0, 0, 1), (3, 2, 1, 1, 1, 1), (4, 2, 2, 1, 1, 1),
                                          (7, 3, 2, 1, 0, 2), (5, 5, 3, 0, 0, 1), (56, 3, 2, 1, 1, 1)])
def test_output_size_counts_window_positions(h, k, s, p0, p1, d):
    # independent route: count the start positions whose dilated window fits in the padded input
    starts = [t for t in range(0, h + p0 + p1, s) if t + d * (k - 1) <= h + p0 + p1 - 1]
    assert output_size(h, k, s, p0, p1, d) == len(starts)


def test_note004_and_note001_sizes():
    # note 004: 6×6 image, 3×3 filter -> 4×4 (16 rows); note 001 App. A: 3×4, 2×2, pad 1, stride (1,2) -> 4×3
    assert Conv2dGeometry.from_shapes((1, 6, 6), (1, 1, 3, 3)).output_shape == (1, 4, 4)
    assert Conv2dGeometry.from_shapes((1, 3, 4), (1, 1, 2, 2), stride=(1, 2), padding=1).output_shape == (1, 4, 3)


def test_public_functions_raise_geometry_errors_not_numpy_tracebacks():
    w = np.ones((1, 1, 3, 3))
    for call in (
        lambda: jac.conv2d(np.ones((1, 2, 2)), w),
        lambda: jac.conv2d_input_jacobian(w, (1, 5, 5), stride=0),
        lambda: jac.conv2d_weight_jacobian(np.ones((2, 5, 5)), (1, 1, 3, 3)),
        lambda: jac.conv2d(np.ones((5, 5)), w),
        lambda: jac.conv2d(np.ones((1, 5, 5)), w, bias=np.ones(2)),
        lambda: jac.im2col(np.ones((1, 5, 5)), (6, 1)),
        lambda: jac.col2im(np.ones((3, 3)), (1, 5, 5), 3),
    ):
        with pytest.raises(GeometryError) as err:
            call()
        assert "\n" not in str(err.value)


def test_operator_too_large_is_refused_with_both_figures():
    with pytest.raises(jac.OperatorTooLargeError, match=r"GiB as CSR, above the limit of"):
        jac.conv2d_input_jacobian(np.ones((8, 8, 3, 3)), (8, 32, 32), max_bytes=10**5)
