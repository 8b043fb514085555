"""`jacobians show` for the transposed convolutions, adaptive / global pooling and interpolate.

Shapes from the show metadata are compared with the forwards' outputs over a
grid of geometries, nnz bounds with the built Jacobians, exports with forward
probes (these maps are linear in the input); bad options end in one stderr
line naming the option, exit status 2.
"""
import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from jacobians.registry import get_operator
from _helpers import assert_usage_error, run_show as run  # shared by the CLI tests


BAD = [
    (["conv_transpose2d", "--input", "2x3x3", "--kernel", "2", "--stride", "2", "--param", "output_padding=2"],
     "--param output_padding: must be smaller than the stride or the dilation"),
    (["conv_transpose2d", "--input", "2x3x3", "--weight", "3x1x2x2"], "--weight: conv_transpose2d of --input 2x3x3 needs C_in x"),
    (["conv_transpose2d", "--input", "3x3x3", "--kernel", "2", "--groups", "2"], "--groups: conv_transpose2d needs a positive divisor"),
    (["conv_transpose2d", "--input", "1x1x1", "--kernel", "1", "--padding", "1"], "--padding: conv_transpose2d's output size"),
    (["conv_transpose2d", "--input", "1x3x3", "--kernel", "2", "--stride", "1x2x3"], "--stride: conv_transpose2d needs one value or 2"),
    (["conv_transpose2d", "--input", "1x3x3"], "--weight: conv_transpose2d needs --weight"),
    (["conv_transpose1d", "--input", "1x3x3x3", "--kernel", "2"], "--input: conv_transpose1d needs CxL or NxCxL"),
    (["conv_transpose1d", "--input", "1x3", "--kernel", "2", "--stride", "0"], "--stride: conv_transpose1d needs values ≥ 1"),
    (["adaptive_avg_pool2d", "--input", "1x4x4"], "--param output_size: adaptive_avg_pool2d needs --param output_size"),
    (["adaptive_max_pool2d", "--input", "1x4x4", "--param", "output_size=0"], "--param output_size: adaptive_max_pool2d needs a positive"),
    (["adaptive_max_pool2d", "--input", "4x4", "--param", "output_size=2"], "--input: adaptive_max_pool2d needs CxHxW or NxCxHxW"),
    (["global_avg_pool2d", "--input", "4"], "--input: global_avg_pool2d needs CxHxW"),
    (["interpolate", "--input", "1x2x2"], "--param size: interpolate needs exactly one of"),
    (["interpolate", "--input", "1x2x2", "--param", "size=3", "--param", "scale_factor=2"], "--param size: interpolate needs exactly one of"),
    (["interpolate", "--input", "1x2x2", "--param", "scale_factor=0.1"], "--param scale_factor: 0.1 turns --input 1x2x2's 2x2 into 0x0"),
    (["interpolate", "--input", "1x2x2", "--param", "scale_factor=inf"], "--param scale_factor: must be a finite number > 0"),
    (["interpolate", "--input", "1x2x2", "--param", "size=2", "--param", "mode=area"], "--param mode: must be one of"),
    (["interpolate", "--input", "1x2x2", "--param", "size=1x2x3"], "--param size: interpolate needs a positive OH or OHxOW"),
    (["interpolate", "--input", "1x2x2", "--param", "scale_factor=1e6"], "--max-memory"),
]


@pytest.mark.parametrize("argv,needle", BAD, ids=[" ".join(a[:1] + a[3:]) for a, _ in BAD])
def test_bad_options_are_one_line_naming_the_option(capsys, argv, needle):
    rc, _, err = run(capsys, *argv)
    assert_usage_error(rc, err, needle)


def _shape(text):
    return tuple(int(d) for d in text.split("x"))


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_conv_transpose_output_shape_and_nnz_follow_the_forward(nd):
    op = f"conv_transpose{nd}d"
    spec = get_operator(op)
    show = spec.extra["show"]
    count = 0
    for s, p, d, o, k, g in itertools.product([1, 2, 3], [0, 1], [1, 2], [0, 1], [1, 2, 3], [1, 2]):
        shape = (2,) + (3,) * nd
        try:
            setup = show.setup(shape, {"stride": s, "padding": p, "dilation": d, "output_padding": o, "kernel": k, "groups": g})
        except ValueError:
            continue
        x, w = np.ones(setup.shapes["x"]), np.ones(setup.shapes["weight"])
        y = spec.forward(x, w, **setup.params)
        assert y.shape == show.out_shape(setup.shapes, setup.params), (s, p, d, o, k, g)
        for wrt in ("x", "weight", "bias"):
            J = spec.jacobian[wrt](x, w, np.ones(setup.shapes["bias"]), **setup.params)
            assert J.nnz <= show.nnz(setup.shapes, setup.params, wrt, y.shape)
        count += 1
    assert count > 50


def forward_probe(f, in_shape):
    n = int(np.prod(in_shape))
    y0 = np.asarray(f(np.zeros(in_shape))).ravel()
    cols = []
    for k in range(n):
        e = np.zeros(n)
        e[k] = 1.0
        cols.append(np.asarray(f(e.reshape(in_shape))).ravel() - y0)
    return np.stack(cols, axis=1)


@pytest.mark.parametrize(
    "argv,params",
    [
        (["conv_transpose2d", "--input", "2x2x3", "--weight", "2x1x2x2", "--stride", "2x1", "--param", "output_padding=1x0",
          "--groups", "2"], dict(stride=(2, 1), padding=(0, 0), output_padding=(1, 0), groups=2, dilation=(1, 1))),
        (["conv_transpose1d", "--input", "1x3", "--weight", "1x2x3", "--stride", "2", "--padding", "1", "--dilation", "2"],
         dict(stride=(2,), padding=(1,), output_padding=(0,), groups=1, dilation=(2,))),
    ],
)
def test_conv_transpose_export_matches_forward_probes(capsys, tmp_path, argv, params):
    spec = get_operator(argv[0])
    w_shape = _shape(argv[argv.index("--weight") + 1])
    weight = np.random.default_rng(4).standard_normal(w_shape)
    np.save(tmp_path / "w.npy", weight)
    rc, out, err = run(capsys, *argv, "--values", str(tmp_path / "w.npy"), "--format", "npz", "--out", str(tmp_path / "J.npz"))
    assert rc == 0, err
    J = sp.load_npz(tmp_path / "J.npz").toarray()
    expected = forward_probe(lambda x: spec.forward(x, weight, **params), _shape(argv[2]))
    np.testing.assert_allclose(J, expected, atol=1e-12)


@pytest.mark.parametrize(
    "argv,params",
    [
        (["adaptive_avg_pool2d", "--input", "1x5x7", "--param", "output_size=3x4"], {"output_size": (3, 4)}),
        (["global_avg_pool2d", "--input", "2x2x3"], {}),
        (["interpolate", "--input", "1x3x2", "--param", "scale_factor=1.5", "--param", "mode=bilinear"],
         {"scale_factor": 1.5, "mode": "bilinear"}),
        (["interpolate", "--input", "1x2x3", "--param", "size=3x5", "--param", "mode=bicubic", "--param", "align_corners=true"],
         {"size": (3, 5), "mode": "bicubic", "align_corners": True}),
    ],
)
def test_linear_resampling_exports_match_forward_probes(capsys, tmp_path, argv, params):
    spec = get_operator(argv[0])
    rc, out, err = run(capsys, *argv, "--format", "npz", "--out", str(tmp_path / "J.npz"))
    assert rc == 0, err
    J = sp.load_npz(tmp_path / "J.npz").toarray()
    np.testing.assert_allclose(J, forward_probe(lambda x: spec.forward(x, **params), _shape(argv[2])), atol=1e-12)


def test_pooling_and_interpolate_shapes_and_nnz_bounds_follow_the_builders():
    """show's output shape equals the forward's and its nnz bound holds, over a grid (the bound drives --max-memory)."""
    from jacobians.ops.upsample import INTERPOLATE_MODES

    rng = np.random.default_rng(11)
    for op in ("adaptive_avg_pool2d", "adaptive_max_pool2d"):
        spec = get_operator(op)
        show = spec.extra["show"]
        for n, m in itertools.product(range(1, 8), range(1, 9)):
            setup = show.setup((2, n, n + 2), {"output_size": (m, m + 1)})
            x = rng.standard_normal(setup.shapes["x"])
            y = spec.forward(x, **setup.params)
            assert y.shape == show.out_shape(setup.shapes, setup.params)
            assert spec.jacobian["x"](x, **setup.params).nnz <= show.nnz(setup.shapes, setup.params, "x", y.shape), (op, n, m)
    spec = get_operator("interpolate")
    show = spec.extra["show"]
    for mode, factor, n in itertools.product(INTERPOLATE_MODES, [0.5, 1.3, 2, 3.7], [1, 2, 5]):
        try:
            setup = show.setup((1, n, n + 1), {"scale_factor": factor, "mode": mode})
        except ValueError:
            continue
        x = rng.standard_normal(setup.shapes["x"])
        y = spec.forward(x, **setup.params)
        assert y.shape == show.out_shape(setup.shapes, setup.params)
        assert spec.jacobian["x"](x, **setup.params).nnz <= show.nnz(setup.shapes, setup.params, "x", y.shape)


@pytest.mark.parametrize("wrt", ["x", "weight", "bias"])
def test_conv_transpose3d_symbolic_entries_equal_the_numeric_jacobian(capsys, wrt):
    """A builder that runs on symbols returns an object-dtype CSR: show turns it into sympy entries, each the
    numeric Jacobian's entry once the symbols take the values (the bias, a constant 0/1, prints as numbers)."""
    import argparse

    import sympy

    from jacobians.commands import show

    parser = argparse.ArgumentParser()
    show.configure(parser)
    args = parser.parse_args(["conv_transpose3d", "--input", "2x2x1x2", "--weight", "2x1x2x1x2", "--stride", "2x1x1",
                              "--groups", "2", "--wrt", wrt])
    spec = get_operator("conv_transpose3d")
    problem = show.build_problem(spec, args)
    matrix = show._symbolic_matrix(problem, 1)
    rc, out, err = run(capsys, *[a for a in ["conv_transpose3d", "--input", "2x2x1x2", "--weight", "2x1x2x1x2", "--stride",
                                             "2x1x1", "--groups", "2", "--wrt", wrt, "--symbolic"]])
    assert rc == 0 and "symbols 1-based" in out.splitlines()[0], err
    rng = np.random.default_rng(12)
    values = {name: rng.standard_normal(shape) for name, shape in problem.shapes.items()}
    symbols = show._fill_values(problem, "symbolic", 0, 1)[0]
    subs = {}
    for name in problem.value_inputs:
        for s, v in zip(np.ravel(symbols[name]), np.ravel(values[name])):
            subs[s] = v
    expected = spec.jacobian[wrt](**values, **problem.params).toarray()
    got = np.array(sympy.Matrix(matrix).subs(subs).evalf(), dtype=np.float64) if not sp.issparse(matrix) else matrix.toarray()
    np.testing.assert_allclose(got, expected, atol=1e-12)
