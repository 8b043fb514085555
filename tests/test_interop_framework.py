"""framework_jacobian (compression by column coloring) and `jacobians diff` against independent routes."""
import dataclasses
import json

import numpy as np
import pytest
import scipy.sparse as sp

from jacobians.interop.coloring import color_columns, greedy_coloring, grid_coloring, is_valid_coloring, networkx_coloring
from jacobians.ops.conv2d import conv2d_input_jacobian
from jacobians.ops.pooling import max_pool2d_jacobian
from jacobians.registry import OPERATORS, load_all

load_all()


# ---------------------------------------------------------------- coloring (no torch needed)
@pytest.mark.parametrize("c_in,groups,k,dilation,stride", [(3, 1, 3, 1, 1), (4, 2, 3, 1, 2), (2, 1, 3, 2, 1), (2, 1, 5, 1, 1)])
def test_grid_coloring_of_conv_input_jacobian_needs_c_in_per_group_times_span_squared(c_in, groups, k, dilation, stride):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, c_in // groups, k, k))
    one = conv2d_input_jacobian(w, (c_in, 13, 13), stride=stride, padding=1, dilation=dilation, groups=groups)
    J, shape = sp.block_diag([one, one], format="csr"), (2, c_in, 13, 13)  # a batch of two samples
    colors = grid_coloring(J, shape)
    span = dilation * (k - 1) + 1
    assert colors.max() + 1 == (c_in // groups) * span * span  # independent of N, H, W
    assert is_valid_coloring(J, colors)


def test_colorings_agree_on_validity_and_greedy_is_not_worse_than_grid_here():
    w = np.ones((2, 2, 3, 3))
    J = conv2d_input_jacobian(w, (2, 7, 7), padding=1)
    grid = grid_coloring(J, (2, 7, 7))
    greedy = greedy_coloring(J)
    pytest.importorskip("networkx")
    nx_colors = networkx_coloring(J)
    for colors in (grid, greedy, nx_colors):
        assert is_valid_coloring(J, colors)
    assert greedy.max() + 1 <= grid.max() + 1 == 18
    # one color per column is always valid; all columns in one color is not (rows read several)
    assert is_valid_coloring(J, np.arange(J.shape[1]))
    assert not is_valid_coloring(J, np.zeros(J.shape[1], dtype=int))


def test_user_colors_are_verified_with_one_line():
    J = conv2d_input_jacobian(np.ones((1, 1, 3, 3)), (1, 5, 5))
    with pytest.raises(ValueError, match="coloring: two columns of one color share a row"):
        color_columns(J, (1, 5, 5), np.zeros(25, dtype=int))
    with pytest.raises(ValueError, match="coloring: unknown method 'best'"):
        color_columns(J, (1, 5, 5), "best")


def test_max_pool_pattern_needs_one_probe():
    x = np.random.default_rng(1).standard_normal((3, 8, 8))
    J = max_pool2d_jacobian(x, kernel_size=2)
    assert grid_coloring(J, x.shape).max() == 0  # one entry per row: every column in one probe


# ---------------------------------------------------------------- framework_jacobian (torch)
@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("coloring", ["grid", "greedy", "networkx"])
def test_framework_jacobian_equals_dense_jacrev(torch, coloring):
    from jacobians.interop.framework import framework_jacobian

    if coloring == "networkx":
        pytest.importorskip("networkx")
    F = torch.nn.functional
    g = torch.Generator().manual_seed(0)
    w = torch.randn(3, 2, 3, 3, dtype=torch.float64, generator=g)
    x = torch.randn(2, 2, 7, 7, dtype=torch.float64, generator=g)

    def fn(t):  # nonlinear: the JVP is taken at x
        return torch.tanh(F.conv2d(t, w, padding=1))

    one = conv2d_input_jacobian(w.numpy(), tuple(x.shape[1:]), padding=1)
    pattern = sp.block_diag([one, one], format="csr")  # the batch of two samples
    info = framework_jacobian(fn, x, pattern, coloring=coloring, return_info=True)
    dense = torch.func.jacrev(fn)(x).reshape(pattern.shape[0], -1).numpy()
    assert info.n_colors <= 18 and info.outside == 0.0
    assert float(np.abs(info.matrix.toarray() - dense).max()) < 1e-14


def test_framework_entries_outside_the_pattern_are_reported(torch):
    from jacobians.interop.framework import framework_jacobian

    F = torch.nn.functional
    x = torch.randn(1, 1, 6, 6, dtype=torch.float64)
    # rows without any stored entry (a ReLU pattern that forgot some active units): the probe lands outside
    half = sp.diags_array((np.arange(36) % 2).astype(float)).tocsr()
    half.eliminate_zeros()
    info = framework_jacobian(lambda t: 2.0 * t, x, half, return_info=True)
    assert info.outside == 2.0
    # a 1×1 pattern for a 3×3 convolution: one color, so every row's sum is folded into its stored entry;
    # the independent VJP route sees it
    w3 = torch.randn(1, 1, 3, 3, dtype=torch.float64)
    diag = conv2d_input_jacobian(np.ones((1, 1, 1, 1)), (1, 6, 6))
    info = framework_jacobian(lambda t: F.conv2d(t, w3, padding=1), x, diag, return_info=True)
    assert info.vjp_error > 0.1
    ok = framework_jacobian(lambda t: F.conv2d(t, w3, padding=1), x,
                            conv2d_input_jacobian(w3.numpy()[0:1], (1, 6, 6), padding=1), return_info=True)
    assert ok.vjp_error < 1e-13 and ok.outside == 0.0


def test_framework_jacobian_bad_input_is_one_line(torch):
    from jacobians.interop.framework import framework_jacobian

    with pytest.raises(ValueError, match="pattern: has 4 columns but x has 9 entries"):
        framework_jacobian(lambda t: t, torch.ones(9), sp.eye(4, format="csr"))
    with pytest.raises(TypeError, match="x: must be a floating tensor"):
        framework_jacobian(lambda t: t, torch.ones(4, dtype=torch.int64), sp.eye(4, format="csr"))
    with pytest.raises(TypeError, match="pattern: must be a scipy.sparse matrix"):
        framework_jacobian(lambda t: t, torch.ones(4), np.eye(4))


# ---------------------------------------------------------------- diff over every registered operator
def _torch_ops():
    return sorted(n for n, s in OPERATORS.items() if s.torch_forward is not None)


@pytest.mark.parametrize("name", _torch_ops())
def test_diff_agrees_for_every_registered_operator_with_a_torch_counterpart(torch, name):
    from jacobians.interop.diff import diff_operator

    spec = OPERATORS[name]
    checked = 0
    for case in spec.cases():
        for wrt in spec.jacobian:
            if wrt in case.constant or case.inputs.get(wrt) is None:
                continue
            report = diff_operator(spec, dict(case.inputs), dict(case.params), wrt)
            assert report.ok, (case.id, wrt, report.max_error, report.outside, report.vjp_error)
            assert report.n_colors <= report.shape[1]
            checked += 1
    assert checked


def _flipped_conv(spec):
    original = spec.torch_forward

    def flipped(x, weight, bias=None, **p):  # the classic bug: convolution instead of cross-correlation
        return original(x, weight.flip(-1).flip(-2), bias, **p)

    return dataclasses.replace(spec, torch_forward=flipped)


def test_diff_catches_a_planted_flipped_kernel(torch, monkeypatch):
    from jacobians.interop.diff import diff_operator

    monkeypatch.setitem(OPERATORS, "conv2d", _flipped_conv(OPERATORS["conv2d"]))
    rng = np.random.default_rng(0)
    inputs = {"x": rng.standard_normal((2, 9, 9)), "weight": rng.standard_normal((3, 2, 3, 3)), "bias": None}
    report = diff_operator(OPERATORS["conv2d"], inputs, {"padding": 1}, "x")
    assert not report.ok and report.n_differing > 0 and report.max_error > 0.1
    (o, i, ours, theirs) = report.positions[0]
    assert len(o) == 3 and len(i) == 3 and abs(ours - theirs) == pytest.approx(report.max_error)


def _cli(argv, capsys):
    from jacobians.cli import main

    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_diff_agrees_and_prints_table_and_json(torch, capsys):
    code, out, err = _cli(["diff", "conv2d", "--input", "3x12x12", "--weight", "4x3x3x3", "--padding", "1"], capsys)
    assert code == 0 and "verdict     agree" in out and "27 JVP probes" in out
    code, out, _ = _cli(["diff", "max_pool2d", "--input", "2x8x8", "--kernel", "2", "--format", "json", "--dtype", "float64"], capsys)
    data = json.loads(out)
    assert code == 0 and data["ok"] and data["n_colors"] == 1 and data["max_error"] == 0.0


def test_cli_diff_exits_1_on_planted_disagreement_with_positions_and_spy(torch, capsys, monkeypatch):
    monkeypatch.setitem(OPERATORS, "conv2d", _flipped_conv(OPERATORS["conv2d"]))
    code, out, _ = _cli(["diff", "conv2d", "--input", "2x10x10", "--weight", "2x2x3x3"], capsys)
    assert code == 1 and "DISAGREE" in out and "y[" in out and "<- x[" in out
    assert any(ch in out for ch in "⠁⠂⠄⡀⠈⠐⠠⢀⣿")  # the braille spy of where they differ


@pytest.mark.parametrize("argv,needle", [
    (["diff", "nosuchop", "--input", "3x4x4"], "unknown 'nosuchop'"),
    (["diff", "im2col", "--input", "1x6x6", "--kernel", "3"], "has no torch counterpart"),
    (["diff", "conv2d", "--input", "3xAx4", "--kernel", "3"], "--input"),
    (["diff", "conv2d", "--input", "3x8x8", "--kernel", "3", "--tol", "-1"], "must be a positive finite number"),
    (["diff", "conv2d", "--input", "3x4x4", "--kernel", "5"], "jacobians"),
])
def test_cli_diff_bad_input_is_one_line_exit_2(torch, capsys, argv, needle):
    code, out, err = _cli(argv, capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and needle in err


def test_interop_docstring_examples(torch):
    import doctest

    from jacobians.interop import coloring, diff, framework
    from jacobians.interop import torch as interop_torch

    for module in (coloring, framework, diff, interop_torch):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_importing_jacobians_and_the_interop_names_imports_no_framework():
    import subprocess
    import sys

    code = ("import sys, jacobians; jacobians.framework_jacobian; jacobians.diff_operator; jacobians.grid_coloring; "
            "import jacobians.cli; jacobians.cli.build_parser(); "
            "print(sorted(m for m in ('torch', 'jax', 'networkx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
