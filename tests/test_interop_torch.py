"""from_torch against PyTorch itself: jacrev on small inputs, autograd VJPs at larger sizes.

Every model here is differentiated two independent ways — our explicit builders
chained by jacobians.chain, and torch's own autograd — and compared entry by entry.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch
nn = torch.nn
F = torch.nn.functional

from jacobians.interop.torch import UnsupportedModelError, from_torch  # noqa: E402
from jacobians.ops._sparse import OperatorTooLargeError  # noqa: E402
from jacobians.registry import OPERATORS, load_all  # noqa: E402

load_all()


def needs(*ops):
    missing = [op for op in ops if op not in OPERATORS]
    return pytest.mark.skipif(bool(missing), reason=f"operator(s) {missing} not registered on this branch yet (their helper's branch adds them)")


class LeNet5(nn.Module):
    """LeCun et al. 1998 as usually written for 28×28 inputs: tanh and average pooling."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2),
                                      nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(400, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(),
                                        nn.Linear(84, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def vgg_block(c_in=3, c=8):
    return nn.Sequential(nn.Conv2d(c_in, c, 3, padding=1), nn.ReLU(), nn.Conv2d(c, c, 3, padding=1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Dropout(0.5))


class BasicBlock(nn.Module):
    """ResNet basic block: conv-BN-ReLU-conv-BN + identity, ReLU (He et al. 2016)."""

    def __init__(self, c=4, norm=True):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=not norm)
        self.bn1 = nn.BatchNorm2d(c) if norm else nn.Identity()
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=not norm)
        self.bn2 = nn.BatchNorm2d(c) if norm else nn.Identity()

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + x)


class Conv1dNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv1d(2, 4, 5, padding=2), nn.ReLU(), nn.Conv1d(4, 4, 3, stride=2), nn.Tanh(),
                                  nn.Flatten(), nn.Linear(4 * 7, 5))

    def forward(self, x):
        return self.body(x)


class Functional(nn.Module):
    """Functions and tensor methods rather than modules, a concatenation, a difference and a scaled skip."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.conv_b = nn.Conv2d(2, 3, 1)

    def forward(self, x):
        a = F.relu(self.conv(x))
        b = torch.tanh(self.conv_b(x))
        y = torch.cat([a, b - a], dim=1) * 0.5
        y = F.max_pool2d(y, 2)
        return y.view(y.size(0), -1).sigmoid()


def _prepare(model, seed=0):
    torch.manual_seed(seed)
    model = model.double().eval()
    with torch.no_grad():  # nonzero BN statistics, so the eval-mode affine map is not the identity
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    return model


def _jacrev(model, x):
    J = torch.func.jacrev(model)(x)
    return J.detach().reshape(-1, x.numel()).numpy()


def _autograd_vjp(model, x, g):
    xx = x.clone().requires_grad_(True)
    model(xx).backward(torch.from_numpy(g))
    return xx.grad.numpy()


MODELS = {
    "lenet5": (LeNet5, (2, 1, 28, 28), (16, 1, 28, 28), None),
    "vgg_block": (vgg_block, (2, 3, 8, 8), (8, 3, 32, 32), None),
    "resnet_block_no_norm": (lambda: BasicBlock(norm=False), (2, 4, 6, 6), (8, 4, 32, 32), None),
    "functional": (Functional, (2, 2, 6, 6), (8, 2, 32, 32), None),
    "resnet_basic_block": (BasicBlock, (2, 4, 6, 6), (8, 4, 32, 32), "batch_norm"),
    "conv1d_net": (Conv1dNet, (3, 2, 16), (32, 2, 16), "conv1d"),
    "group_layer_norm": (lambda: nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.GroupNorm(2, 4), nn.ReLU(), nn.Flatten(),
                                               nn.LayerNorm(64), nn.Linear(64, 5)), (3, 2, 4, 4), (16, 2, 4, 4),
                         ("group_norm", "layer_norm")),
    "activations_softmax": (lambda: nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.LeakyReLU(0.1), nn.GELU(), nn.Flatten(),
                                                  nn.Linear(48, 5), nn.Softmax(dim=1)), (3, 2, 4, 4), (16, 2, 4, 4),
                            ("leaky_relu", "gelu", "softmax_dim")),
}


def _params(name):
    out = []
    for key, (_, _, _, op) in MODELS.items():
        marks = [needs(*((op,) if isinstance(op, str) else op))] if op else []
        out.append(pytest.param(key, marks=marks, id=key))
    return out


@pytest.mark.parametrize("name", _params("small"))
def test_chained_jacobian_matches_jacrev(name):
    make, small, _, _ = MODELS[name]
    model = _prepare(make())
    x = torch.randn(*small, dtype=torch.float64)
    tj = from_torch(model, x)
    J = tj.jacobian()
    ref = _jacrev(model, x)
    assert J.shape == ref.shape
    scale = max(1.0, float(np.abs(ref).max()))
    assert float(np.abs(J.toarray() - ref).max()) <= 1e-12 * scale
    assert J.nnz <= ref.size


@pytest.mark.parametrize("name", _params("large"))
def test_vjp_matches_autograd_at_larger_size(name):
    make, _, large, _ = MODELS[name]
    model = _prepare(make(), seed=1)
    x = torch.randn(*large, dtype=torch.float64)
    tj = from_torch(model, x)
    g = np.random.default_rng(3).standard_normal(tj.out_shape)
    ref = _autograd_vjp(model, x, g)
    mine = tj.vjp(g)  # the links' own VJPs, no matrix built
    assert float(np.abs(mine - ref).max()) <= 1e-11 * max(1.0, float(np.abs(ref).max()))
    assert not any(getattr(link, "_matrix", None) is not None for link in tj.links if link.has_own_vjp)


def test_float32_model_and_single_precision_tolerance():
    torch.manual_seed(2)
    model = vgg_block().eval()
    x = torch.randn(1, 3, 8, 8)
    J = from_torch(model, x).jacobian()
    assert J.dtype == np.float32
    assert float(np.abs(J.toarray() - _jacrev(model, x)).max()) < 1e-5


def test_links_are_named_by_module_path_and_residual_joins_by_fan_out():
    model = _prepare(BasicBlock(norm=False))
    tj = from_torch(model, torch.randn(1, 4, 5, 5, dtype=torch.float64))
    names = [link.name for link in tj.links]
    assert names[:5] == ["conv1", "bn1", "relu", "conv2", "bn2"]
    assert "add[0]" in names and "add[1]" in names
    assert any(hasattr(link, "branches") for link in tj.chain.links)  # the join is a fan-out sum
    rows = tj.stats()
    conv = next(r for r in rows if r["name"] == "conv1")
    per_axis = sum(1 for i in range(5) for a in range(3) if 0 <= i - 1 + a < 5)  # 3 taps, padding 1, on 5
    assert conv["nnz"] == 4 * 4 * per_axis**2
    assert "conv1" in tj.format_stats()


@pytest.mark.parametrize("module_path", ["features.3", "classifier.3"])
def test_parameter_jacobian_matches_jacrev(module_path):
    model = _prepare(LeNet5())
    x = torch.randn(2, 1, 28, 28, dtype=torch.float64)
    tj = from_torch(model, x)
    for pname in ("weight", "bias"):
        J = tj.parameter_jacobian(module_path, pname)
        key = f"{module_path}.{pname}"
        p0 = dict(model.named_parameters())[key]
        ref = torch.func.jacrev(lambda p: torch.func.functional_call(model, {key: p}, (x,)))(p0)
        ref = ref.detach().reshape(J.shape[0], -1).numpy()
        assert float(np.abs(J.toarray() - ref).max()) <= 1e-12 * max(1.0, float(np.abs(ref).max()))


def test_unsupported_module_names_path_type_and_supported_list():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Sequential(nn.PixelShuffle(2)))
    with pytest.raises(UnsupportedModelError) as info:
        from_torch(model, torch.randn(1, 1, 5, 5))
    msg = str(info.value)
    assert "\n" not in msg and "1.0 (PixelShuffle)" in msg and "nn.Conv2d" in msg and "supported:" in msg


def test_unsupported_configuration_and_training_dropout_are_one_line():
    with pytest.raises(UnsupportedModelError, match=r"0 \(MaxPool2d\) uses return_indices=True"):
        from_torch(nn.Sequential(nn.MaxPool2d(2, return_indices=True)), torch.randn(1, 1, 5, 5))
    import jacobians

    # (the registered forward is a thin **kw wrapper; the public function says which options exist)
    if "ceil_mode" not in __import__("inspect").signature(jacobians.max_pool2d).parameters:
        with pytest.raises(UnsupportedModelError, match=r"0 \(MaxPool2d\) uses ceil_mode=True, which max_pool2d does not"):
            from_torch(nn.Sequential(nn.MaxPool2d(2, ceil_mode=True)), torch.randn(1, 1, 5, 5))
    with pytest.raises(UnsupportedModelError, match=r"1 \(Dropout\) is in training mode"):
        from_torch(nn.Sequential(nn.ReLU(), nn.Dropout(0.5)).train(), torch.randn(1, 4))
    with pytest.raises(TypeError, match="example_input: must be a torch.Tensor"):
        from_torch(nn.ReLU(), np.ones(3))


def test_memory_guard_refuses_the_full_product():
    model = _prepare(vgg_block())
    tj = from_torch(model, torch.randn(1, 3, 16, 16, dtype=torch.float64))
    with pytest.raises(OperatorTooLargeError, match="max_bytes: chained Jacobian"):
        tj.jacobian(max_bytes=10_000)


@needs("batch_norm")
def test_training_mode_batch_norm_couples_samples_and_leaves_running_stats_alone():
    model = _prepare(BasicBlock()).train()
    x = torch.randn(3, 4, 5, 5, dtype=torch.float64)
    before = model.bn1.running_mean.clone()
    J = from_torch(model, x).jacobian().toarray()
    assert torch.equal(model.bn1.running_mean, before)
    torch.func.replace_all_batch_norm_modules_(model)  # jacrev cannot mutate the running statistics
    ref = _jacrev(model, x)
    assert float(np.abs(J - ref).max()) <= 1e-12 * max(1.0, float(np.abs(ref).max()))
    assert np.abs(ref[:100, 100:]).max() > 0  # samples are coupled: off-diagonal blocks are not zero


def test_an_operator_refusing_at_build_time_names_the_layer(monkeypatch):
    import dataclasses

    def refuse(z, **p):
        raise ValueError("z: refused for this test")

    spec = OPERATORS["relu"]
    monkeypatch.setitem(OPERATORS, "relu", dataclasses.replace(spec, jacobian={"z": refuse}))
    tj = from_torch(nn.Sequential(nn.Linear(3, 3), nn.ReLU()), torch.randn(2, 3))
    with pytest.raises(UnsupportedModelError, match=r"^from_torch: 1 \(relu\): z: refused for this test$"):
        tj.jacobian()


def test_one_input_one_output_rules():
    class Two(nn.Module):
        def forward(self, a, b):
            return a + b

    class Pair(nn.Module):
        def forward(self, a):
            return a.relu(), a.tanh()

    with pytest.raises(UnsupportedModelError, match="takes 2 inputs; exactly one is supported"):
        from_torch(Two(), torch.randn(3))
    with pytest.raises(UnsupportedModelError, match="exactly one tensor output"):
        from_torch(Pair(), torch.randn(3))
