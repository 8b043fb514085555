"""The N-d convolution core: conv1d / conv3d against torch, the N-d builders against conv2d's 2-D builders."""
import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jacobians as jac
from jacobians.geometry import ConvNdGeometry, GeometryError, PoolNdGeometry, as_padding_nd, pool_output_size
from jacobians.ops import conv2d as c2d
from jacobians.ops import convnd as cnd


# ---------------------------------------------------------------------------
# N-d builders vs the tuned 2-D builders (two independent implementations)
# ---------------------------------------------------------------------------
def _assert_nd_builders_equal_conv2d(spec, rng):
    c_in, h, w, c_out, kh, kw, stride, padding, dilation, groups = spec
    x = rng.standard_normal((c_in, h, w))
    weight = rng.standard_normal((c_out, c_in // groups, kh, kw))
    p = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    for nd_mat, ref in (
        (cnd.convnd_input_jacobian(weight, x.shape, **p), c2d.conv2d_input_jacobian(weight, x.shape, **p)),
        (cnd.convnd_weight_jacobian(x, weight.shape, **p), c2d.conv2d_weight_jacobian(x, weight.shape, **p)),
    ):
        # same structure, same order, bit-identical values (both copy entries of weight / x)
        np.testing.assert_array_equal(nd_mat.indptr, ref.indptr)
        np.testing.assert_array_equal(nd_mat.indices, ref.indices)
        np.testing.assert_array_equal(nd_mat.data, ref.data)


@pytest.mark.parametrize("spec", c2d.CONV_GEOMETRIES, ids=str)
def test_nd_builders_equal_conv2d_fast_path(spec):
    _assert_nd_builders_equal_conv2d(spec, np.random.default_rng(3))


def test_nd_builder_entries_from_the_formula_3d():
    """Every entry of the 3-D input Jacobian from ∂y[o,i]/∂x[c,q] = w[o,c,a] with q = i·s − p + a·d (loops)."""
    rng = np.random.default_rng(4)
    weight = rng.standard_normal((4, 1, 2, 3, 2))
    shape = (2, 4, 5, 3)
    stride, pads, dil, groups = (2, 1, 2), ((1, 0), (0, 2), (1, 1)), (1, 2, 1), 2
    J = jac.conv3d_input_jacobian(weight, shape, stride, pads, dil, groups).toarray()
    outs = [(n + p[0] + p[1] - d * (k - 1) - 1) // s + 1 for n, p, d, k, s in zip(shape[1:], pads, dil, weight.shape[2:], stride)]
    E = np.zeros((4, *outs, *shape))
    for o in range(4):
        for i in np.ndindex(*outs):
            for a in np.ndindex(*weight.shape[2:]):
                q = [i[ax] * stride[ax] - pads[ax][0] + a[ax] * dil[ax] for ax in range(3)]
                if all(0 <= q[ax] < shape[1 + ax] for ax in range(3)):
                    E[(o, *i, (o // 2), *q)] += weight[(o, 0, *a)]
    np.testing.assert_array_equal(J, E.reshape(J.shape))



@pytest.mark.parametrize("wrt", ["x", "weight"])
@pytest.mark.parametrize(
    "x_shape, w_shape, p",
    [
        ((16, 8, 10, 10), (16, 4, 3, 3, 3), dict(stride=1, padding=1, groups=4)),
        # every output position its own run (the kernel as long as the input, padded on both sides):
        # tables of all runs' first rows would be as large as the CSR
        ((16, 60), (16, 16, 60), dict(stride=1, padding=59)),
        ((8, 9, 9), (16, 8, 9, 9), dict(stride=1, padding=8)),
    ],
    ids=["conv3d-groups", "conv1d-runs-of-one", "conv2d-runs-of-one"],
)
def test_nd_builders_peak_is_the_csr(wrt, x_shape, w_shape, p):
    """tracemalloc sees numpy's allocations: the N-d builders hold nothing of the result's size but the CSR."""
    from _helpers import peak_over_csr

    rng = np.random.default_rng(8)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    if wrt == "x":
        build = lambda: cnd.convnd_input_jacobian(w, x.shape, **p)  # noqa: E731
    else:
        build = lambda: cnd.convnd_weight_jacobian(x, w.shape, **p)  # noqa: E731
    ratio = peak_over_csr(build)
    assert ratio <= 1.1, f"peak {ratio:.3f}x the CSR"

def test_float32_kept_and_symbolic_values():
    w32 = np.arange(1, 7, dtype=np.float32).reshape(1, 2, 3)
    assert jac.conv1d_input_jacobian(w32, (2, 5)).dtype == np.float32
    assert jac.conv1d_weight_jacobian(np.ones((2, 5), np.float32), (1, 2, 3)).dtype == np.float32
    # symbolic weights take the same index arithmetic; substituting numbers gives the float matrix
    syms = np.array(sympy.symbols("w0:6"), dtype=object).reshape(1, 2, 3)
    S = jac.conv1d_input_jacobian(syms, (2, 5), padding=(1, 0), stride=2)
    F = jac.conv1d_input_jacobian(np.arange(1.0, 7.0).reshape(1, 2, 3), (2, 5), padding=(1, 0), stride=2)
    subs = {s: v for s, v in zip(syms.ravel(), range(1, 7))}
    np.testing.assert_array_equal(np.array(S.subs(subs), dtype=float), F.toarray())


def test_batched_forward_is_per_sample():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 2, 4, 5, 3))
    w = rng.standard_normal((2, 2, 2, 3, 2))
    y = jac.conv3d(x, w, padding=1, stride=(1, 2, 1))
    for n in range(3):
        np.testing.assert_allclose(y[n], cnd.reference_convnd(x[n], w, padding=1, stride=(1, 2, 1)), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------
# geometry rules
# ---------------------------------------------------------------------------
def test_padding_forms():
    assert as_padding_nd(1, 3) == ((1, 1),) * 3
    assert as_padding_nd((1, 2, 3), 3) == ((1, 1), (2, 2), (3, 3))
    assert as_padding_nd((1, 2), 1) == ((1, 2),)
    assert as_padding_nd(((1, 0), (2, 3)), 2) == ((1, 0), (2, 3))
    assert as_padding_nd((1, 0, 2, 3), 2) == ((1, 0), (2, 3))  # (top, bottom, left, right)
    assert ConvNdGeometry.from_shapes((1, 5), (1, 1, 4), padding="same").padding == ((1, 2),)  # odd extra after
    assert ConvNdGeometry.from_shapes((1, 5), (1, 1, 3), padding="valid").out_spatial == (3,)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: jac.conv1d(np.ones((1, 5)), np.ones((1, 1, 2)), padding=(1, 2, 3)), "padding"),
        (lambda: jac.conv1d(np.ones((1, 5)), np.ones((1, 1, 2)), stride=2, padding="same"), "padding: 'same'"),
        (lambda: jac.conv1d(np.ones((1, 5)), np.ones((1, 1, 2)), padding="full"), "padding:"),
        (lambda: jac.conv3d(np.ones((1, 5, 5)), np.ones((1, 1, 2, 2, 2))), "x:"),
        (lambda: jac.conv1d(np.ones((1, 5)), np.ones((1, 1, 2, 2))), "weight:"),
        (lambda: jac.conv3d(np.ones((1, 3, 3, 3)), np.ones((1, 1, 2, 2, 2)), dilation=(1, 0, 1)), "dilation[1] (height)"),
        (lambda: jac.conv1d_input_jacobian(np.ones((1, 1, 9)), (1, 5)), "kernel_size"),
        (lambda: jac.conv3d_weight_jacobian(np.ones((2, 3, 3, 3)), (1, 2, 2, 2)), "weight_shape"),
        (lambda: jac.conv1d(np.ones((3, 5)), np.ones((2, 1, 2)), groups=2), "groups"),
    ],
)
def test_bad_arguments_one_line(call, message):
    with pytest.raises(GeometryError) as err:
        call()
    assert str(err.value).startswith(message.split(" ")[0]) and message in str(err.value)
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------------------
# hypothesis sweeps against torch.func.jacrev
# ---------------------------------------------------------------------------
@st.composite
def conv_geometries(draw, nd):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c_in = groups * draw(st.integers(1, 2))
    c_out = groups * draw(st.integers(1, 2))
    kernel, stride, dilation, pads, size = [], [], [], [], []
    for _ in range(nd):
        k = draw(st.integers(1, 3))
        d = draw(st.integers(1, 2))
        p = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
        s = draw(st.integers(1, 3))
        span = d * (k - 1) + 1
        n = draw(st.integers(max(1, span - p[0] - p[1]), span + 4))  # asymmetric sizes, any remainder
        kernel.append(k), stride.append(s), dilation.append(d), pads.append(p), size.append(n)
    same = draw(st.booleans()) and all(s == 1 for s in stride)
    padding = "same" if same else tuple(pads)
    return c_in, tuple(size), c_out, tuple(kernel), tuple(stride), padding, tuple(dilation), groups


def _torch_jacobians(x, weight, bias, **p):
    torch = pytest.importorskip("torch")
    tx, tw, tb = (torch.tensor(a, dtype=torch.float64) for a in (x, weight, bias))
    f = lambda a, b, c: cnd._torch_convnd(a, b, c, **p)  # noqa: E731
    jx, jw, jb = torch.func.jacrev(f, argnums=(0, 1, 2))(tx, tw, tb)
    y = f(tx, tw, tb)
    return [j.reshape(y.numel(), -1).numpy() for j in (jx, jw, jb)], y.detach().numpy()


@pytest.mark.torch
@pytest.mark.parametrize("nd", [1, 3])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_convnd_matches_torch_jacrev(nd, data):
    c_in, size, c_out, kernel, stride, padding, dilation, groups = data.draw(conv_geometries(nd))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((c_in, *size))
    weight = rng.standard_normal((c_out, c_in // groups, *kernel))
    bias = rng.standard_normal(c_out)
    p = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    (jx, jw, jb), y_t = _torch_jacobians(x, weight, bias, **p)
    fwd = {1: jac.conv1d, 3: jac.conv3d}[nd]
    front = {1: (jac.conv1d_input_jacobian, jac.conv1d_weight_jacobian, jac.conv1d_bias_jacobian),
             3: (jac.conv3d_input_jacobian, jac.conv3d_weight_jacobian, jac.conv3d_bias_jacobian)}[nd]
    y = fwd(x, weight, bias, **p)
    tol = 1e-12 * max(1.0, np.abs(y_t).max())
    np.testing.assert_allclose(y, y_t, rtol=0, atol=tol * 10)
    np.testing.assert_allclose(front[0](weight, x.shape, **p).toarray(), jx, rtol=0, atol=1e-15)
    np.testing.assert_allclose(front[1](x, weight.shape, **p).toarray(), jw, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(front[2](y.shape).toarray(), jb)
    # both VJP routes against Jᵀ g of torch's Jacobian
    g = rng.standard_normal(y.shape)
    for route in ("im2col", "rot180"):
        gx = getattr(cnd, f"convnd_vjp_input_{route}")(g, x, weight, bias, **p)
        gw = getattr(cnd, f"convnd_vjp_weight_{route}")(g, x, weight, bias, **p)
        scale = max(1.0, np.abs(g).sum())
        np.testing.assert_allclose(gx.ravel(), jx.T @ g.ravel(), rtol=0, atol=1e-12 * scale)
        np.testing.assert_allclose(gw.ravel(), jw.T @ g.ravel(), rtol=0, atol=1e-12 * scale)


# ---------------------------------------------------------------------------
# pooling output size: PyTorch's ceil_mode rule
# ---------------------------------------------------------------------------
@pytest.mark.torch
@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 12), k=st.integers(1, 4), s=st.integers(1, 4), p=st.integers(0, 2), d=st.integers(1, 2),
       ceil=st.booleans())
def test_pool_output_size_matches_torch(n, k, s, p, d, ceil):
    torch = pytest.importorskip("torch")
    if 2 * p > k or d * (k - 1) + 1 > n + 2 * p:
        return  # torch refuses these
    y = torch.nn.functional.max_pool1d(torch.zeros(1, 1, n), k, s, p, d, ceil_mode=ceil)
    assert pool_output_size(n, k, s, p, p, d, ceil) == y.shape[-1]
    assert PoolNdGeometry.from_shapes((1, n), k, s, p, d, ceil).out_spatial == (y.shape[-1],)


@pytest.mark.torch
def test_batch_rule_equals_jacrev_of_the_batched_call():
    """Batched shapes: block-diagonal w.r.t. x, stacked w.r.t. weight and bias — torch.func.jacrev of the batched call."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 2, 7))
    w = rng.standard_normal((4, 1, 3))
    b = rng.standard_normal(4)
    p = dict(stride=2, padding=1, dilation=1, groups=2)
    f = lambda a, ww, bb: F.conv1d(a, ww, bb, **p)  # noqa: E731
    jx, jw, jb = torch.func.jacrev(f, argnums=(0, 1, 2))(*(torch.tensor(a) for a in (x, w, b)))
    y = jac.conv1d(x, w, b, **p)
    np.testing.assert_allclose(jac.conv1d_input_jacobian(w, x.shape, **p).toarray(), jx.reshape(y.size, -1).numpy(), atol=1e-15)
    np.testing.assert_allclose(jac.conv1d_weight_jacobian(x, w.shape, **p).toarray(), jw.reshape(y.size, -1).numpy(), atol=1e-15)
    np.testing.assert_array_equal(cnd.convnd_bias_jacobian(y.shape, batched=True).toarray(), jb.reshape(y.size, -1).numpy())
    xa = rng.standard_normal((2, 2, 3, 4, 5))
    fa = lambda a: F.avg_pool3d(a, 2, 1, 1, ceil_mode=True, count_include_pad=False)  # noqa: E731
    ja = torch.func.jacrev(fa)(torch.tensor(xa)).numpy()
    Ja = jac.avg_pool3d_jacobian(xa.shape, 2, 1, 1, ceil_mode=True, count_include_pad=False)
    np.testing.assert_allclose(Ja.toarray(), ja.reshape(Ja.shape), rtol=0, atol=1e-15)


def test_jacobians_list_shows_every_new_operator(capsys):
    from jacobians.cli import main

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("conv1d", "conv3d", "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d"):
        assert any(line.startswith(name + " ") for line in out.splitlines()), name


@pytest.mark.parametrize("chunk_bytes", [8, 24])
def test_channel_replication_in_tiny_chunks_against_independent_builders(monkeypatch, chunk_bytes):
    """_rowfill.replicate_channels copies channel blocks in CHUNK_BYTES pieces (8 MB at real sizes):
    with chunks of 1–6 entries every chunk boundary lands inside these small geometries. Routes of
    another kind: conv2d's tuned 2-D builders, and conv2d's input Jacobian transposed (transposed conv)."""
    from jacobians.ops import _rowfill
    from jacobians.ops import conv_transpose as ct

    monkeypatch.setattr(_rowfill, "CHUNK_BYTES", chunk_bytes)
    rng = np.random.default_rng(7)
    for spec in c2d.CONV_GEOMETRIES[:8]:
        _assert_nd_builders_equal_conv2d(spec, rng)
    # transposed convolution: its input Jacobian is conv2d's, transposed (stride 1, no output padding)
    w_t = rng.standard_normal((4, 3, 3, 2))  # (C_in, C_out, kh, kw)
    got = ct.conv_transpose2d_input_jacobian(w_t, (4, 5, 6), padding=1)
    # its output (3, 5, 5) = (H − 1) − 2p + k per axis; conv2d of that with the same weight gives back (4, 5, 6)
    want = c2d.conv2d_input_jacobian(w_t, (3, 5, 5), padding=1).T
    assert got.shape == want.shape and (got != want).nnz == 0
