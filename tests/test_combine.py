"""add and concat: exact 0/1 structure against loops, and a ResNet basic block / a concat block chained end to end."""
import doctest

import numpy as np
import pytest
from conftest import requires_torch
from hypothesis import given, settings
from hypothesis import strategies as st

from jacobians.chain import Chain, Link, fan_out
from jacobians.geometry import GeometryError
from jacobians.ops import combine
from jacobians.ops._sparse import block_diag_repeat
from jacobians.ops.activation import relu, relu_jacobian
from jacobians.ops.conv2d import conv2d, conv2d_input_jacobian
from jacobians.ops.normalization import batch_norm, batch_norm_input_jacobian, batch_norm_vjp_input


@pytest.mark.parametrize("shapes,dim", [([(2, 1, 3), (2, 2, 3), (2, 1, 3)], 1), ([(3, 2), (3, 1)], -1), ([(1, 2), (2, 2)], 0)])
def test_concat_jacobian_is_the_selection_written_by_loops(shapes, dim):
    out = combine.concat([np.zeros(s) for s in shapes], dim)
    axis = dim % len(shapes[0])
    for k, s in enumerate(shapes):
        J = combine.concat_jacobian(shapes, dim, k)
        want = np.zeros((out.size, int(np.prod(s))))
        offset = sum(t[axis] for t in shapes[:k])
        for col, index in enumerate(np.ndindex(*s)):
            target = list(index)
            target[axis] += offset
            want[np.ravel_multi_index(target, out.shape), col] = 1
        assert np.array_equal(J.toarray(), want)
        assert np.all(J.data == 1)


def _resnet_block_numpy(x, w1, w2):
    h = relu(batch_norm(conv2d(x, w1, padding=1)))
    return relu(batch_norm(conv2d(h, w2, padding=1)) + x)


@requires_torch
@pytest.mark.torch
def test_resnet_basic_block_chains_and_equals_torch():
    """relu(bn2(conv2(relu(bn1(conv1 x)))) + x): Chain + fan_out over the registered Jacobians vs torch.func.jacrev."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(0)
    n, c, h, w = 2, 2, 4, 4
    x = rng.standard_normal((n, c, h, w))
    w1, w2 = rng.standard_normal((c, c, 3, 3)) * 0.5, rng.standard_normal((c, c, 3, 3)) * 0.5
    z1 = conv2d(x, w1, padding=1)
    a1 = relu(batch_norm(z1))
    z2 = conv2d(a1, w2, padding=1)
    s = batch_norm(z2) + x
    conv1 = block_diag_repeat(conv2d_input_jacobian(w1, (c, h, w), padding=1), n)  # the batch rule: one block per sample
    conv2 = block_diag_repeat(conv2d_input_jacobian(w2, (c, h, w), padding=1), n)
    branch = Chain([
        Link("conv1", conv1), Link("bn1", batch_norm_input_jacobian(z1), vjp=lambda g: batch_norm_vjp_input(g.reshape(z1.shape), z1)),
        Link("relu1", relu_jacobian(batch_norm(z1))), Link("conv2", conv2),
        Link("bn2", batch_norm_input_jacobian(z2), vjp=lambda g: batch_norm_vjp_input(g.reshape(z2.shape), z2)),
        Link("add/input", combine.add_jacobian(x.shape, "input")),
    ], name="branch")
    block = Chain([fan_out("residual", [branch, Link("add/other", combine.add_jacobian(x.shape, "other"))]),
                   Link("relu2", relu_jacobian(s))], name="basic block")

    def torch_block(t):
        wt1, wt2 = torch.tensor(w1), torch.tensor(w2)
        u = F.relu(F.batch_norm(F.conv2d(t, wt1, padding=1), None, None, training=True))
        return F.relu(F.batch_norm(F.conv2d(u, wt2, padding=1), None, None, training=True) + t)

    xt = torch.tensor(x)
    np.testing.assert_allclose(torch_block(xt).numpy(), _resnet_block_numpy(x, w1, w2), rtol=0, atol=1e-12)
    T = torch.func.jacrev(torch_block)(xt).reshape(x.size, x.size).numpy()
    J = block.jacobian().toarray()
    assert np.abs(J - T).max() <= 1e-12 * np.abs(T).max()
    g = rng.standard_normal(x.size)
    xt_req = xt.clone().requires_grad_(True)
    torch_block(xt_req).backward(torch.tensor(g.reshape(x.shape)))
    assert np.abs(block.vjp(g) - xt_req.grad.numpy().ravel()).max() <= 1e-12 * np.abs(T).sum(axis=0).max()


def test_concat_block_chains_as_a_sum_of_placed_branches():
    """y = cat(x, relu(conv(x))): J = S_0 + S_1 · J_relu · J_conv, against central finite differences of the forward."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 2, 3, 3))
    wt = rng.standard_normal((3, 2, 3, 3))
    z = conv2d(x, wt, padding=1)

    def forward(v):
        return combine.concat([v, relu(conv2d(v, wt, padding=1))], dim=1)

    shapes = [x.shape, z.shape]
    J = fan_out("dense", [Link("cat/x", combine.concat_jacobian(shapes, 1, 0)),
                          Chain([Link("conv", conv2d_input_jacobian(wt, (2, 3, 3), padding=1)), Link("relu", relu_jacobian(z)),
                                 Link("cat/conv", combine.concat_jacobian(shapes, 1, 1))])]).jacobian().toarray()
    h = 1e-6
    fd = np.column_stack([(forward(x + h * e.reshape(x.shape)) - forward(x - h * e.reshape(x.shape))).ravel() / (2 * h)
                          for e in np.eye(x.size)])
    assert np.abs(J - fd).max() <= 1e-7 * max(1.0, np.abs(J).max())


@pytest.mark.parametrize(
    "call,exc,message",
    [
        (lambda: combine.add(np.ones(2), np.ones(3)), GeometryError, r"^other: must have the shape of input"),
        (lambda: combine.add(np.ones(2), np.ones(2), alpha="2"), TypeError, r"^alpha: must be a finite real"),
        (lambda: combine.concat([np.ones((2, 3)), np.ones((3, 3))], dim=1), GeometryError, r"^tensors: array 1 has shape"),
        (lambda: combine.concat([np.ones((2, 3))], dim=2), GeometryError, r"^dim: must be an integer in \[-2, 2\)"),
        (lambda: combine.concat_jacobian([(2, 3)], 1, index=1), GeometryError, r"^index: must be an integer in \[0, 1\)"),
        (lambda: combine.concat([]), GeometryError, r"^tensors: needs at least one array"),
    ],
)
def test_bad_input_one_line(call, exc, message):
    with pytest.raises(exc, match=message) as info:
        call()
    assert "\n" not in str(info.value)


def test_docstring_examples():
    result = doctest.testmod(combine, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 4 and result.failed == 0


@requires_torch
@pytest.mark.torch
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_hypothesis_add_and_concat_against_torch(data):
    from jacobians.check import check_operator
    from jacobians.registry import Case, get_operator

    shape = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=4))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    alpha = data.draw(st.sampled_from([1, 0.5, -2.0, 0]))
    report = check_operator(get_operator("add"), Case({"input": rng.standard_normal(shape),
                                                       "other": rng.standard_normal(shape)}, {"alpha": alpha}, "sweep"),
                            use_torch=True)
    assert any(r.route == "torch" for r in report.results)
    report.assert_ok()
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    other = list(shape)
    other[dim] = data.draw(st.integers(1, 3))
    report = check_operator(get_operator("concat"), Case({"a": rng.standard_normal(shape),
                                                          "b": rng.standard_normal(other)}, {"dim": dim}, "sweep"),
                            use_torch=True)
    assert any(r.route == "torch" for r in report.results)
    report.assert_ok()
