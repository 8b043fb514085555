"""framework_jacobian and `jacobians diff --framework jax` (optional: skipped without jax)."""
import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

from jacobians.interop.diff import diff_operator, jax_operators  # noqa: E402
from jacobians.interop.framework import framework_jacobian  # noqa: E402
from jacobians.interop.jax import JAX_FORWARDS  # noqa: E402
from jacobians.ops.conv2d import conv2d_input_jacobian  # noqa: E402
from jacobians.registry import OPERATORS, load_all  # noqa: E402

load_all()


@pytest.fixture
def x64():
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", before)


def test_jax_function_compressed_equals_dense_jacrev():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    x = rng.standard_normal((2, 9, 9)).astype(np.float32)
    pattern = conv2d_input_jacobian(w, x.shape, stride=2, padding=1)

    def fn(t):  # lax.conv_general_dilated, an implementation independent of ours and of torch's
        return jnp.tanh(JAX_FORWARDS["conv2d"](t, jnp.asarray(w), None, stride=2, padding=1))

    info = framework_jacobian(fn, jnp.asarray(x), pattern, return_info=True)
    dense = np.asarray(jax.jacrev(fn)(jnp.asarray(x))).reshape(pattern.shape[0], -1)
    assert info.n_colors == 18 and info.outside == 0.0 and info.vjp_error < 1e-5
    assert float(np.abs(info.matrix.toarray() - dense).max()) < 1e-5


def test_float64_without_x64_is_refused_with_one_line():
    with pytest.raises(TypeError, match="x: float64 needs jax.config.update"):
        framework_jacobian(lambda t: t, np.ones(4), conv2d_input_jacobian(np.ones((1, 1, 1, 1)), (1, 2, 2)), framework="jax")


@pytest.mark.parametrize("name", [n for n in sorted(JAX_FORWARDS) if n in OPERATORS])
def test_diff_jax_agrees_on_registered_cases(name, x64):
    """Every 6th registered case, w.r.t. input and weight (JAX compiles each primitive per new shape: ~2 s a diff here)."""
    spec = OPERATORS[name]
    checked = 0
    for case in list(spec.cases())[::6]:
        for wrt in spec.jacobian:
            if wrt in case.constant or case.inputs.get(wrt) is None or wrt == "bias":
                continue
            try:
                report = diff_operator(spec, dict(case.inputs), dict(case.params), wrt, framework="jax")
            except NotImplementedError:  # an option the JAX implementation here lacks (e.g. ceil_mode)
                continue
            assert report.ok, (case.id, wrt, report.max_error, report.outside, report.vjp_error)
            checked += 1
    assert checked and name in jax_operators()


def test_diff_jax_catches_a_planted_transposed_kernel(x64, monkeypatch):
    good = JAX_FORWARDS["conv2d"]
    monkeypatch.setitem(JAX_FORWARDS, "conv2d", lambda x, weight, *a, **p: good(x, jnp.swapaxes(weight, -1, -2), *a, **p))
    rng = np.random.default_rng(1)
    inputs = {"x": rng.standard_normal((2, 8, 8)), "weight": rng.standard_normal((2, 2, 3, 3)), "bias": None}
    report = diff_operator(OPERATORS["conv2d"], inputs, {"padding": 1}, "x", framework="jax")
    assert not report.ok and report.n_differing > 0


def test_cli_diff_framework_jax(capsys):
    from jacobians.cli import main

    assert main(["diff", "conv2d", "--input", "2x10x10", "--weight", "3x2x3x3", "--framework", "jax"]) == 0
    assert "framework   jax, 18 JVP probes" in capsys.readouterr().out
    assert main(["diff", "avg_pool2d", "--input", "2x8x8", "--kernel", "2", "--framework", "jax"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no JAX implementation" in err
