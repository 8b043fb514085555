"""Every registered operator with a torch forward: the explicit Jacobian equals torch.func.jacrev."""
import numpy as np
import pytest
from conftest import requires_torch
from hypothesis import HealthCheck, given, settings

from jacobians.check import check_operator
from jacobians.registry import load_all

OPS = load_all()
CASES = [(n, c) for n in sorted(OPS) if OPS[n].torch_forward is not None for c in OPS[n].cases()]


@requires_torch
@pytest.mark.parametrize("name,case", CASES, ids=[f"{n}[{c.id}]" for n, c in CASES])
def test_explicit_jacobian_equals_torch_jacrev(name, case):
    report = check_operator(OPS[name], case, rng=np.random.default_rng(2), use_torch=True)
    torch_routes = [r for r in report.results if r.route == "torch"]
    assert torch_routes, "no torch route ran"
    report.assert_ok()


@requires_torch
def test_conv2d_vjps_equal_torch_autograd_batched():
    import torch

    from jacobians.ops import conv2d as c2d

    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 4, 9, 8))
    w = rng.standard_normal((6, 2, 3, 2))
    b = rng.standard_normal(6)
    p = dict(stride=(2, 3), padding=(1, 2), dilation=(2, 1), groups=2)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = torch.nn.functional.conv2d(xt, wt, bt, **p)
    g = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(c2d.conv2d(x, w, b, **p), yt.detach().numpy(), rtol=0, atol=1e-12)
    for route in ("im2col", "rot180"):
        np.testing.assert_allclose(getattr(c2d, f"conv2d_vjp_input_{route}")(g, x, w, **p), xt.grad.numpy(), rtol=0, atol=1e-11)
        np.testing.assert_allclose(getattr(c2d, f"conv2d_vjp_weight_{route}")(g, x, w, **p), wt.grad.numpy(), rtol=0, atol=1e-11)
    np.testing.assert_allclose(c2d.conv2d_vjp_bias(g, x, w), bt.grad.numpy(), rtol=0, atol=1e-11)


@requires_torch
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=__import__("test_conv2d").conv_geometries())
def test_hypothesis_conv_geometries_against_torch(spec):
    from jacobians.ops import conv2d as c2d

    case = c2d._conv_case(spec, np.random.default_rng(0))
    report = check_operator(OPS["conv2d"], case, use_torch=True)
    assert any(r.route == "torch" for r in report.results)
    report.assert_ok()
