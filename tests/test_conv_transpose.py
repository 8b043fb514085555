"""Transposed convolution: the structural identity with conv2d, output_padding, PyTorch's rules, and torch sweeps.

Routes compared: the direct CSR builders of jacobians.ops.conv_transpose
against (a) the transpose of conv2d's independent builder (exact, 0 ulp — the
same weight values moved, no arithmetic), (b) torch.func.jacrev of
torch.nn.functional.conv_transpose2d on hypothesis-drawn geometries, (c)
torch autograd for the VJPs, (d) loops from the formula (the reference).
"""
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import requires_torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jacobians.geometry import GeometryError
from jacobians.ops import conv_transpose as ct
from jacobians.ops.conv2d import conv2d_input_jacobian
from _helpers import peak_over_csr  # tracemalloc peak / CSR bytes, shared

GEOMS = ct.CONV_TRANSPOSE_GEOMETRIES


def _params(spec):
    c_in, h, w, c_out, kh, kw, s, p, op, g, d = spec
    return (c_in, h, w), (c_in, c_out // g, kh, kw), dict(stride=s, padding=p, output_padding=op, groups=g, dilation=d)


def _matching_conv_transposed(weight, geom):
    """(S · conv2d_input_jacobian)ᵀ: conv2d's own builder, rows i < H, j < W kept, transposed."""
    jc = conv2d_input_jacobian(weight, geom.output_shape, geom.stride, geom.padding, geom.dilation, geom.groups)
    hc, wc = geom.as_conv().out_hw
    keep = np.zeros((geom.in_channels, hc, wc), dtype=bool)
    keep[:, : geom.height, : geom.width] = True
    return sp.csr_array(jc[np.flatnonzero(keep.ravel())].T)


@pytest.mark.parametrize("spec", GEOMS, ids=[str(i) for i in range(len(GEOMS))])
def test_input_jacobian_is_exactly_the_transposed_conv2d_jacobian(spec):
    in_shape, w_shape, p = _params(spec)
    weight = np.random.default_rng(3).standard_normal(w_shape)
    geom = ct.ConvTranspose2dGeometry.from_shapes(in_shape, w_shape, **p)
    got = ct.conv_transpose2d_input_jacobian(weight, in_shape, **p)
    want = _matching_conv_transposed(weight, geom)
    assert got.shape == want.shape
    assert (got != want).nnz == 0  # exact: the same weight values, only moved
    assert got.nnz == want.nnz  # and no stored zeros on either side
    assert got.has_sorted_indices


def test_output_padding_beyond_stride_drops_conv2d_rows():
    """oph ≥ sh (allowed as oph < dh): the matching conv2d has H' = H + ⌊oph/sh⌋ rows; S drops the extra one."""
    geom = ct.ConvTranspose2dGeometry.from_shapes((1, 3, 2), (1, 2, 2, 2), stride=1, output_padding=1, dilation=2)
    assert geom.as_conv().out_hw == (4, 3)  # one more row and column than the input's (3, 2)
    weight = np.random.default_rng(4).standard_normal((1, 2, 2, 2))
    got = ct.conv_transpose2d_input_jacobian(weight, (1, 3, 2), stride=1, output_padding=1, dilation=2)
    assert (got != _matching_conv_transposed(weight, geom)).nnz == 0


@pytest.mark.parametrize("op", [(1, 0), (0, 1), (1, 1), (2, 1)])
def test_output_padding_only_appends_rows(op):
    """Rows of output_padding = 0 are kept verbatim; the new rows/columns sit at the bottom/right of each plane."""
    weight = np.random.default_rng(5).standard_normal((2, 2, 3, 3))
    p = dict(stride=3, padding=1, groups=1)
    j0 = ct.conv_transpose2d_input_jacobian(weight, (2, 3, 4), **p).toarray()
    j1 = ct.conv_transpose2d_input_jacobian(weight, (2, 3, 4), output_padding=op, **p).toarray()
    oh0, ow0 = ct.ConvTranspose2dGeometry.from_shapes((2, 3, 4), weight.shape, **p).out_hw
    oh1, ow1 = oh0 + op[0], ow0 + op[1]
    plane = j1.reshape(2, oh1, ow1, -1)
    np.testing.assert_array_equal(plane[:, :oh0, :ow0].reshape(j0.shape), j0)
    # with padding 1 the first extra row/column is a row the crop used to remove: not zero;
    # beyond the padding (op > p) the rows are unreachable and exactly zero
    if op[0] > p["padding"]:
        assert not plane[:, oh0 + p["padding"] :].any()
    if op[0] >= 1:
        assert plane[:, oh0].any()


def test_d2l_example_numbers():
    """d2l §14.10: X = [[0, 1], [2, 3]], K = [[0, 1], [2, 3]] gives [[0, 0, 1], [0, 4, 6], [4, 12, 9]]."""
    x = np.array([[[0.0, 1.0], [2.0, 3.0]]])
    k = np.array([[[[0.0, 1.0], [2.0, 3.0]]]])
    want = np.array([[0.0, 0.0, 1.0], [0.0, 4.0, 6.0], [4.0, 12.0, 9.0]])
    np.testing.assert_array_equal(ct.conv_transpose2d(x, k)[0], want)
    np.testing.assert_array_equal(ct.conv_transpose2d_reference(x, k)[0], want)
    # the same through the explicit matrix: y = J x
    np.testing.assert_array_equal(ct.conv_transpose2d_input_jacobian(k, (1, 2, 2)) @ x.ravel(), want.ravel())


# --- PyTorch's argument rules ---------------------------------------------------
@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(stride=2, output_padding=2), r"^output_padding: must be smaller than stride or dilation"),
        (dict(stride=1, output_padding=1), r"^output_padding: must be smaller than stride or dilation"),
        (dict(stride=(2, 1), output_padding=(0, 1), dilation=(1, 1)), r"^output_padding: .*output_padding\[1\] \(width\)"),
        (dict(padding=3), r"^padding: output height .* must be positive"),
        (dict(padding=(0, 1, 1, 1)), r"^padding: conv_transpose2d crops symmetrically"),
        (dict(groups=2), r"^groups: must divide C_in"),
        (dict(stride=0), r"^stride: must be a positive integer"),
    ],
)
def test_bad_arguments_give_one_line(kwargs, message):
    with pytest.raises(GeometryError, match=message) as info:
        ct.conv_transpose2d_input_jacobian(np.ones((3, 1, 3, 3)), (3, 2, 2), **kwargs)
    assert "\n" not in str(info.value)


def test_weight_shape_mismatch():
    with pytest.raises(GeometryError, match=r"^weight_shape: weight_shape\[0\] must equal C_in = 2"):
        ct.conv_transpose2d(np.ones((2, 3, 3)), np.ones((3, 1, 2, 2)))
    with pytest.raises(GeometryError, match=r"^bias: must have shape \(4,\)"):
        ct.conv_transpose2d(np.ones((2, 3, 3)), np.ones((2, 2, 2, 2)), bias=np.ones(2), groups=2)


@requires_torch
@pytest.mark.parametrize("kwargs", [dict(stride=2, output_padding=2), dict(stride=1, output_padding=1), dict(padding=3)])
def test_torch_refuses_what_we_refuse(kwargs):
    import torch

    with pytest.raises(RuntimeError):
        torch.nn.functional.conv_transpose2d(torch.ones(1, 3, 2, 2), torch.ones(3, 1, 3, 3), **kwargs)


def test_output_padding_allowed_by_dilation_matches_torch_rule():
    """oph = 1 with stride 1 is fine when dilation is 2 (PyTorch: smaller than stride *or* dilation)."""
    ct.ConvTranspose2dGeometry.from_shapes((1, 2, 2), (1, 1, 2, 2), stride=1, output_padding=1, dilation=2)


# --- dtype and batch rules -------------------------------------------------------
def test_float32_preserved():
    w32 = np.ones((1, 1, 2, 2), np.float32)
    assert ct.conv_transpose2d_input_jacobian(w32, (1, 2, 2)).dtype == np.float32
    assert ct.conv_transpose2d_weight_jacobian(np.ones((1, 2, 2), np.float32), (1, 1, 2, 2)).dtype == np.float32
    assert ct.conv_transpose2d(np.ones((1, 2, 2), np.float32), w32).dtype == np.float32
    assert ct.conv_transpose2d_input_jacobian(w32, (1, 2, 2), dtype=np.float64).dtype == np.float64
    with pytest.raises(TypeError, match=r"^dtype: must be a floating dtype"):
        ct.conv_transpose2d_input_jacobian(w32, (1, 2, 2), dtype=np.int32)


def test_batched_jacobians_follow_the_batch_rule():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 2, 3, 2))
    w = rng.standard_normal((2, 2, 2, 3))
    p = dict(stride=2, padding=1, output_padding=1)
    one = ct.conv_transpose2d_input_jacobian(w, (2, 3, 2), **p)
    np.testing.assert_array_equal(
        ct.conv_transpose2d_input_jacobian(w, (3, 2, 3, 2), **p).toarray(), sp.block_diag([one] * 3).toarray()
    )
    per_sample = [ct.conv_transpose2d_weight_jacobian(x[k], w.shape, **p) for k in range(3)]
    np.testing.assert_array_equal(
        ct.conv_transpose2d_weight_jacobian(x, w.shape, **p).toarray(), sp.vstack(per_sample).toarray()
    )


def test_memory_guard_before_allocation():
    from jacobians.ops._sparse import OperatorTooLargeError

    with pytest.raises(OperatorTooLargeError, match=r"^max_bytes: "):
        ct.conv_transpose2d_input_jacobian(np.ones((64, 64, 3, 3)), (64, 10**5, 10**5), stride=2)


# --- hypothesis sweeps against torch ------------------------------------------------
@st.composite
def transposed_geometries(draw):
    groups = draw(st.integers(1, 3))
    c_in = groups * draw(st.integers(1, 2))
    c_out = groups * draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    oph = draw(st.integers(0, max(sh, dh) - 1))
    opw = draw(st.integers(0, max(sw, dw) - 1))
    full_h = (h - 1) * sh + dh * (kh - 1) + oph + 1
    full_w = (w - 1) * sw + dw * (kw - 1) + opw + 1
    ph = draw(st.integers(0, (full_h - 1) // 2))
    pw = draw(st.integers(0, (full_w - 1) // 2))
    batch = draw(st.sampled_from([None, None, 2]))
    return (c_in, h, w, c_out, kh, kw, (sh, sw), (ph, pw), (oph, opw), groups, (dh, dw)), batch


N_SWEEP = 60


@requires_torch
@settings(max_examples=N_SWEEP, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=transposed_geometries())
def test_hypothesis_jacobians_and_vjps_equal_torch(drawn):
    import torch
    import torch.nn.functional as F

    spec, batch = drawn
    case = ct._case(spec, np.random.default_rng(0), batch=batch)
    x, w, b = (case.inputs[k] for k in ("x", "weight", "bias"))
    p = case.params
    xt, wt, bt = (torch.tensor(a) for a in (x, w, b))

    def f(xx, ww, bb):
        return F.conv_transpose2d(xx if xx.dim() == 4 else xx[None], ww, bb, **p)

    jx, jw, jb = torch.func.jacrev(f, argnums=(0, 1, 2))(xt, wt, bt)
    y = f(xt, wt, bt).detach().numpy()
    y = y if batch else y[0]
    np.testing.assert_allclose(ct.conv_transpose2d(x, w, b, **p), y, rtol=0, atol=1e-12)
    scale = max(1.0, float(np.abs(w).max()) * float(np.abs(x).max()))
    for mine, theirs, ref in (
        (ct.conv_transpose2d_input_jacobian(w, x.shape, **p), jx, x),
        (ct.conv_transpose2d_weight_jacobian(x, w.shape, **p), jw, w),
        (ct._jac_b(x, w, b, **p), jb, b),
    ):
        dense = theirs.numpy().reshape(y.size, ref.size)
        assert mine.shape == dense.shape
        # entries are copies of w or x values, so any nonzero error is a wrong position
        np.testing.assert_array_equal(mine.toarray(), dense)
    # VJP routes against torch autograd
    g = np.random.default_rng(1).standard_normal(y.shape)
    xg, wg, bg = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    out = f(xg, wg, bg)
    out.backward(torch.tensor(g if batch else g[None]))
    tol = 1e-12 * scale * max(1, y.size)
    for route in ("conv2d", "im2col"):
        np.testing.assert_allclose(getattr(ct, f"conv_transpose2d_vjp_input_{route}")(g, x, w, **p), xg.grad.numpy(), rtol=0, atol=tol)
    for route in ("im2col", "rot180"):
        np.testing.assert_allclose(getattr(ct, f"conv_transpose2d_vjp_weight_{route}")(g, x, w, **p), wg.grad.numpy(), rtol=0, atol=tol)
    np.testing.assert_allclose(ct.conv_transpose2d_vjp_bias(g, x, w), bg.grad.numpy(), rtol=0, atol=tol)
    # and the structural identity on the drawn geometry
    if batch is None:
        geom = ct.ConvTranspose2dGeometry.from_shapes(x.shape, w.shape, **p)
        assert (ct.conv_transpose2d_input_jacobian(w, x.shape, **p) != _matching_conv_transposed(w, geom)).nnz == 0


def test_docstring_examples():
    import doctest

    from jacobians.ops import _separable

    for module in (ct, _separable):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0
    assert doctest.testmod(ct).attempted >= 3



@pytest.mark.parametrize("groups", [1, 4])
@pytest.mark.parametrize("wrt", ["x", "weight"])
def test_peak_memory_is_close_to_the_final_csr(wrt, groups):
    """tracemalloc sees numpy's allocations: no temporaries of the result's size (seen 1.6× before a fix)."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((16, 20, 20))
    w = rng.standard_normal((16, 16 // groups, 3, 3))
    p = dict(stride=2, padding=1, output_padding=1, groups=groups)
    build = (
        (lambda: ct.conv_transpose2d_input_jacobian(w, x.shape, **p))
        if wrt == "x"
        else (lambda: ct.conv_transpose2d_weight_jacobian(x, w.shape, **p))
    )
    assert peak_over_csr(build) <= 1.1


# --- 1-D front door -------------------------------------------------------------------
@requires_torch
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    groups=st.integers(1, 2), cin=st.integers(1, 2), cout=st.integers(1, 2), k=st.integers(1, 4),
    s=st.integers(1, 3), d=st.integers(1, 3), length=st.integers(1, 5), data=st.data(),
)
def test_conv_transpose1d_equals_torch(groups, cin, cout, k, s, d, length, data):
    import torch
    import torch.nn.functional as F

    c_in, c_out = groups * cin, groups * cout
    op = data.draw(st.integers(0, max(s, d) - 1))
    full = (length - 1) * s + d * (k - 1) + op + 1
    p = dict(stride=s, padding=data.draw(st.integers(0, (full - 1) // 2)), output_padding=op, groups=groups, dilation=d)
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((c_in, length)), rng.standard_normal((c_in, cout, k))
    jx, jw = torch.func.jacrev(lambda a, b: F.conv_transpose1d(a[None], b, **p)[0], argnums=(0, 1))(torch.tensor(x), torch.tensor(w))
    n_out = int(np.prod(jx.shape[: jx.dim() - 2]))
    np.testing.assert_array_equal(ct.conv_transpose1d_input_jacobian(w, x.shape, **p).toarray(), jx.numpy().reshape(n_out, -1))
    np.testing.assert_array_equal(ct.conv_transpose1d_weight_jacobian(x, w.shape, **p).toarray(), jw.numpy().reshape(n_out, -1))


def test_conv_transpose1d_errors_name_1d_parameters():
    with pytest.raises(GeometryError, match=r"^stride: must be an int or a 1-tuple for conv_transpose1d"):
        ct.conv_transpose1d(np.ones((1, 3)), np.ones((1, 1, 2)), stride=(1, 2))
    with pytest.raises(GeometryError, match=r"^output_padding: must be smaller than stride or dilation"):
        ct.conv_transpose1d(np.ones((1, 3)), np.ones((1, 1, 2)), stride=2, output_padding=2)
    with pytest.raises(GeometryError, match=r"^x: must have shape \(C_in, L\)"):
        ct.conv_transpose1d(np.ones((1, 1, 1, 3)), np.ones((1, 1, 2)))


def test_symmetric_per_side_padding_is_the_pair():
    w = np.random.default_rng(8).standard_normal((1, 2, 3, 3))
    a = ct.conv_transpose2d_input_jacobian(w, (1, 3, 3), stride=2, padding=(1, 1, 0, 0))
    b = ct.conv_transpose2d_input_jacobian(w, (1, 3, 3), stride=2, padding=(1, 0))
    assert (a != b).nnz == 0


# --- 3-D ------------------------------------------------------------------------------
@st.composite
def transposed3d_geometries(draw):
    groups = draw(st.integers(1, 2))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    k = tuple(draw(st.integers(1, 3)) for _ in range(3))
    s = tuple(draw(st.integers(1, 3)) for _ in range(3))
    d = tuple(draw(st.integers(1, 2)) for _ in range(3))
    size = tuple(draw(st.integers(1, 3)) for _ in range(3))
    op = tuple(draw(st.integers(0, max(si, di) - 1)) for si, di in zip(s, d))
    full = [(n - 1) * si + di * (ki - 1) + o + 1 for n, si, di, ki, o in zip(size, s, d, k, op)]
    p = tuple(draw(st.integers(0, (f - 1) // 2)) for f in full)
    return c_in, c_out, groups, size, k, dict(stride=s, padding=p, output_padding=op, groups=groups, dilation=d)


@requires_torch
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=transposed3d_geometries())
def test_conv_transpose3d_equals_torch(drawn):
    import torch
    import torch.nn.functional as F

    c_in, c_out, groups, size, k, p = drawn
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((c_in, *size)), rng.standard_normal((c_in, c_out // groups, *k))
    jx, jw = torch.func.jacrev(lambda a, b: F.conv_transpose3d(a[None], b, **p)[0], argnums=(0, 1))(
        torch.tensor(x), torch.tensor(w)
    )
    n_out = int(np.prod(jx.shape[:4]))
    np.testing.assert_array_equal(ct.conv_transpose3d_input_jacobian(w, x.shape, **p).toarray(), jx.numpy().reshape(n_out, -1))
    np.testing.assert_array_equal(ct.conv_transpose3d_weight_jacobian(x, w.shape, **p).toarray(), jw.numpy().reshape(n_out, -1))
    g = rng.standard_normal(jx.shape[:4])
    xg, wg = torch.tensor(x[None], requires_grad=True), torch.tensor(w, requires_grad=True)
    F.conv_transpose3d(xg, wg, **p).backward(torch.tensor(g[None]))
    np.testing.assert_allclose(ct.conv_transpose3d_vjp_input_gather(g, x, w, **p), xg.grad.numpy()[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(ct.conv_transpose3d_vjp_weight_gather(g, x, w, **p), wg.grad.numpy(), rtol=0, atol=1e-12)


def test_conv_transpose3d_with_depth_one_is_the_2d_operator():
    """A depth-1 input with a depth-1 kernel: the 3-D builders (N-d frame) equal the 2-D ones (2-D frame) exactly."""
    rng = np.random.default_rng(9)
    x, w = rng.standard_normal((4, 3, 5)), rng.standard_normal((4, 3, 3, 2))
    p2 = dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2), groups=2, dilation=(1, 2))
    p3 = {k: ((1,) + v if isinstance(v, tuple) else v) for k, v in p2.items()}
    p3["padding"], p3["output_padding"] = (0,) + p2["padding"], (0,) + p2["output_padding"]
    a = ct.conv_transpose3d_input_jacobian(w[:, :, None], (4, 1, 3, 5), **p3)
    b = ct.conv_transpose2d_input_jacobian(w, (4, 3, 5), **p2)
    assert (a != b).nnz == 0 and a.nnz == b.nnz
    a = ct.conv_transpose3d_weight_jacobian(x[:, None], (4, 3, 1, 3, 2), **p3)
    b = ct.conv_transpose2d_weight_jacobian(x, (4, 3, 3, 2), **p2)
    assert (a != b).nnz == 0 and a.nnz == b.nnz


def test_conv_transpose3d_rules_and_memory():
    with pytest.raises(GeometryError, match=r"^output_padding: .*output_padding\[0\] \(depth\) = 2"):
        ct.conv_transpose3d(np.ones((1, 2, 2, 2)), np.ones((1, 1, 2, 2, 2)), stride=(2, 2, 2), output_padding=(2, 0, 0))
    with pytest.raises(GeometryError, match=r"^stride: must be an int or a triple"):
        ct.conv_transpose3d(np.ones((1, 2, 2, 2)), np.ones((1, 1, 2, 2, 2)), stride=(2, 2))
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((8, 6, 8, 8)), rng.standard_normal((8, 4, 3, 3, 3))
    p = dict(stride=2, padding=1, output_padding=1, groups=2)
    assert peak_over_csr(lambda: ct.conv_transpose3d_input_jacobian(w, x.shape, **p)) <= 1.1
    assert peak_over_csr(lambda: ct.conv_transpose3d_weight_jacobian(x, w.shape, **p)) <= 1.1
