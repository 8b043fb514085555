"""`jacobians show` for the operators registered with PyTorch's options (activations, losses, norms, add/concat).

Exported Jacobians are compared with central finite differences of the
registered *forward* (never with the builder that produced them); the
symbolic entry form of the norms is evaluated at x̂, σ, γ computed here from
the definitions; bad option values must end in one stderr line naming the
option, exit status 2.
"""
import numpy as np
import pytest
import scipy.sparse as sp

from jacobians.registry import get_operator
from _helpers import assert_usage_error, run_show as run  # shared by the CLI tests


# ---------------------------------------------------------------------------
# bad values of the new options: one line naming the option and the rule, exit 2
# ---------------------------------------------------------------------------
BAD = [
    (["leaky_relu", "--input", "2x3", "--param", "negative_slope=inf"], "--param negative_slope: must be a finite number"),
    (["leaky_relu", "--input", "2x3", "--param", "negative_slope=abc"], "--param negative_slope:"),
    (["elu", "--input", "2x3", "--param", "alpha=-inf"], "--param alpha: must be a finite number"),
    (["gelu", "--input", "2x3", "--param", "approximate=erf"], "--param approximate: must be one of none, tanh"),
    (["softplus", "--input", "2x3", "--param", "beta=0"], "--param beta: must be a finite number other than 0"),
    (["softplus", "--input", "2x3", "--param", "threshold=inf"], "--param threshold: must be a finite number"),
    (["dropout", "--input", "2x3", "--param", "p=1.5"], "--param p: must be a finite number in [0, 1]"),
    (["dropout", "--input", "2x3", "--param", "p=-0.1"], "--param p: must be a finite number in [0, 1]"),
    (["dropout", "--input", "2x3", "--param", "mask_seed=-1"], "--param mask_seed:"),
    (["add", "--input", "2x3", "--param", "alpha=nan"], "--param alpha:"),
    (["concat", "--input", "2x3", "--dim", "2"], "--dim: concat of a 2-D --input (2x3) needs a dim in [-2, 1]"),
    (["concat", "--input", "2x3", "--param", "b_shape=3x3"], "--param b_shape: concat along dim 1 needs b equal to a"),
    (["concat", "--input", "2x3", "--param", "b_shape=2x3x1"], "--param b_shape:"),
    (["concat", "--input", "4", "--param", "b_shape=2"], "--dim: concat of a 1-D --input (4) needs a dim in [-1, 0]"),
    (["softmax_dim", "--input", "2x3", "--dim", "-3"], "--dim: softmax_dim of a 2-D --input (2x3) needs a dim in [-2, 1]"),
    (["log_softmax", "--input", "2x3", "--dim", "x"], "--dim:"),
    (["cross_entropy_loss", "--input", "4"], "--input: cross_entropy_loss needs NxC or NxCxd1… (at least 2 dimensions)"),
    (["cross_entropy_loss", "--input", "2x4", "--target", "4"], "--target: class indices must be below C = 4"),
    (["cross_entropy_loss", "--input", "2x4", "--target", "1,2,3"], "--target: cross_entropy_loss of --input 2x4 needs one"),
    (["cross_entropy_loss", "--input", "2x4", "--param", "reduction=avg"], "--param reduction: must be one of mean, sum, none"),
    (["cross_entropy_loss", "--input", "2x4", "--param", "label_smoothing=1.1"], "--param label_smoothing: must be a finite number in [0, 1]"),
    (["cross_entropy_loss", "--input", "2x4", "--param", "ignore_index=1.5"], "--param ignore_index:"),
    (["cross_entropy_loss", "--input", "2x4", "--target", "1", "--param", "ignore_index=1"],
     "--target: every position equals --param ignore_index = 1"),
    (["nll_loss", "--input", "2x3", "--param", "label_smoothing=0.1"], "--param label_smoothing: nll_loss takes"),
    (["nll_loss", "--input", "2x3x2", "--target", "0,1,2,3"], "--target: class indices must be below C = 3"),
    (["mse_loss", "--input", "2x3", "--param", "reduction=max"], "--param reduction: must be one of mean, sum, none"),
    (["batch_norm", "--input", "3"], "--input: batch_norm needs NxCx… (at least 2 dimensions)"),
    (["batch_norm", "--input", "1x3"], "--input: batch_norm in training mode needs more than 1 value per channel"),
    (["batch_norm", "--input", "2x3", "--param", "eps=0"], "--param eps: must be a finite number > 0"),
    (["batch_norm", "--input", "2x3", "--param", "training=maybe"], "--param training: must be true or false"),
    (["batch_norm", "--input", "2x3", "--param", "running_var=1"], "--param running_var: batch_norm uses running statistics only"),
    (["batch_norm", "--input", "2x3", "--param", "training=false", "--param", "running_var=-1"],
     "--param running_var: must be a finite number ≥ 0"),
    (["layer_norm", "--input", "2x3", "--param", "normalized_shape=2"], "--param normalized_shape: layer_norm needs the trailing"),
    (["layer_norm", "--input", "2x3", "--param", "normalized_shape=1x2x3"], "--param normalized_shape:"),
    (["layer_norm", "--input", "2x3", "--param", "eps=-1e-5"], "--param eps: must be a finite number > 0"),
    (["group_norm", "--input", "2x4x2", "--param", "num_groups=3"], "--param num_groups: group_norm needs a positive divisor of C = 4"),
    (["group_norm", "--input", "2x4x2", "--param", "num_groups=0"], "--param num_groups: group_norm needs a positive divisor"),
    (["group_norm", "--input", "1x2", "--param", "num_groups=2"], "--input: group_norm needs more than 1 value per group"),
    (["instance_norm", "--input", "2x3"], "--input: instance_norm needs NxCxS… with at least one spatial axis"),
    (["instance_norm", "--input", "2x3x1"], "--input: instance_norm needs more than 1 spatial element"),
    (["layer_norm", "--input", "2x3", "--symbolic", "--values", "ones"], "--symbolic: the same as --values symbolic"),
    (["linear", "--input", "2x3", "--weight", "4x2"], "--weight: linear needs d_out x 3"),
    (["linear", "--input", "2x3x1", "--weight", "4x1"], "--input: linear needs x of shape d_in or N x d_in"),
    (["linear", "--input", "3"], "--weight: linear needs"),
]


@pytest.mark.parametrize("argv,needle", BAD, ids=[" ".join(a[:1] + a[3:]) for a, _ in BAD])
def test_bad_option_values_are_one_line_naming_the_option(capsys, argv, needle):
    rc, _, err = run(capsys, *argv)
    assert_usage_error(rc, err, needle)


# ---------------------------------------------------------------------------
# exported Jacobians against central differences of the forward
# ---------------------------------------------------------------------------
def central_differences(f, x, h=1e-6):
    x = np.asarray(x, dtype=np.float64)
    y0 = np.asarray(f(x))
    J = np.empty((y0.size, x.size))
    for k in range(x.size):
        e = np.zeros(x.size)
        e[k] = h
        J[:, k] = (np.asarray(f(x + e.reshape(x.shape))) - np.asarray(f(x - e.reshape(x.shape)))).ravel() / (2 * h)
    return J


def export(capsys, tmp_path, argv, x, values=None):
    np.save(tmp_path / "x.npy", x)
    values = str(tmp_path / "x.npy") if values is None else values
    rc, out, err = run(capsys, *argv, "--values", values, "--format", "npz", "--out", str(tmp_path / "J.npz"))
    assert rc == 0, err
    return sp.load_npz(tmp_path / "J.npz").toarray(), out


@pytest.mark.parametrize(
    "argv,forward_params",
    [
        (["leaky_relu", "--input", "2x3", "--param", "negative_slope=0.2"], {"negative_slope": 0.2}),
        (["elu", "--input", "2x3", "--param", "alpha=0.5"], {"alpha": 0.5}),
        (["gelu", "--input", "2x3", "--param", "approximate=tanh"], {"approximate": "tanh"}),
        (["softplus", "--input", "2x3", "--param", "beta=2", "--param", "threshold=1"], {"beta": 2.0, "threshold": 1.0}),
        (["softmax_dim", "--input", "2x3x2", "--dim", "1"], {"dim": 1}),
        (["log_softmax", "--input", "2x3", "--dim", "-2"], {"dim": -2}),
    ],
)
def test_one_input_operators_match_central_differences(capsys, tmp_path, argv, forward_params):
    shape = tuple(int(d) for d in argv[2].split("x"))
    x = np.random.default_rng(5).standard_normal(shape) * 1.5
    x[np.abs(x) < 0.05] = 0.3  # away from kinks
    J, _ = export(capsys, tmp_path, argv, x)
    forward = get_operator(argv[0]).forward
    np.testing.assert_allclose(J, central_differences(lambda v: forward(v, **forward_params), x), atol=1e-7)


@pytest.mark.parametrize(
    "argv,target,params",
    [
        (["cross_entropy_loss", "--input", "2x4", "--param", "reduction=sum"], [0, 1], {"reduction": "sum"}),
        (["cross_entropy_loss", "--input", "3x4", "--target", "2,0,3", "--param", "label_smoothing=0.2"], [2, 0, 3],
         {"label_smoothing": 0.2}),
        (["cross_entropy_loss", "--input", "2x3x2", "--target", "1,1,2,0", "--param", "reduction=none", "--param",
          "ignore_index=2"], [[1, 1], [2, 0]], {"reduction": "none", "ignore_index": 2}),
        (["nll_loss", "--input", "2x3x2", "--param", "reduction=none"], [[0, 1], [2, 0]], {"reduction": "none"}),
        (["nll_loss", "--input", "3x2", "--target", "1"], [1, 1, 1], {}),
    ],
)
def test_class_index_losses_use_the_printed_target(capsys, tmp_path, argv, target, params):
    """The target is the one printed (default: position k has class k mod C), and the Jacobian is the loss's gradient."""
    from jacobians.ops.losses import cross_entropy_loss, nll_loss

    shape = tuple(int(d) for d in argv[2].split("x"))
    x = np.random.default_rng(6).standard_normal(shape)
    # nll's Jacobian does not depend on the input's values (show refuses a file for it)
    J, out = export(capsys, tmp_path, argv, x, values="ones" if argv[0] == "nll_loss" else None)
    target = np.array(target)
    rc, printed, err = run(capsys, *argv, "--values", "ones")
    assert rc == 0, err
    expected_line = "constants: target = " + np.array2string(target, separator=", ").replace("\n", "")
    assert expected_line in printed, printed
    loss = cross_entropy_loss if argv[0] == "cross_entropy_loss" else nll_loss
    np.testing.assert_allclose(J, central_differences(lambda v: loss(v, target, **params), x), atol=1e-7)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_both_inputs(capsys, tmp_path, reduction):
    from jacobians.ops.losses import mse_loss

    rc, out, err = run(capsys, "mse_loss", "--input", "2x2", "--param", f"reduction={reduction}", "--wrt", "target",
                       "--values", "random", "--seed", "3", "--format", "npz", "--out", str(tmp_path / "J.npz"))
    assert rc == 0, err
    rng = np.random.default_rng(3)  # show draws input, then target, in this order (printed)
    x, y = rng.standard_normal((2, 2)), rng.standard_normal((2, 2))
    J = sp.load_npz(tmp_path / "J.npz").toarray()
    np.testing.assert_allclose(J, central_differences(lambda v: mse_loss(x, v, reduction), y), atol=1e-7)


def test_dropout_mask_follows_mask_seed_and_is_printed(capsys, tmp_path):
    shape, p, seed = (3, 4), 0.25, 7
    mask = np.random.default_rng(seed).random(shape) >= p  # the documented rule
    rc, out, err = run(capsys, "dropout", "--input", "3x4", "--param", f"p={p}", "--param", f"mask_seed={seed}",
                       "--format", "npz", "--out", str(tmp_path / "J.npz"))
    assert rc == 0, err
    J = sp.load_npz(tmp_path / "J.npz").toarray()
    np.testing.assert_array_equal(J, np.diag(mask.ravel() / (1 - p)))
    rc, out, err = run(capsys, "dropout", "--input", "3x4", "--param", f"p={p}", "--param", f"mask_seed={seed}")
    assert rc == 0, err
    assert "constants: mask = " + np.array2string(mask.astype(np.int8), separator=", ").replace("\n", "") in out
    # the mask does not follow --seed (which draws the values), and a different mask_seed changes it
    rc, out2, _ = run(capsys, "dropout", "--input", "3x4", "--param", f"p={p}", "--param", f"mask_seed={seed}", "--seed", "9")
    assert [l for l in out2.splitlines() if l.startswith("constants")] == [l for l in out.splitlines() if l.startswith("constants")]


def test_dropout_mask_is_built_after_the_memory_check(capsys):
    rc, _, err = run(capsys, "dropout", "--input", "100000x100000")
    assert_usage_error(rc, err, "--max-memory")


def test_add_and_concat(capsys, tmp_path):
    rc, out, err = run(capsys, "add", "--input", "2x2", "--param", "alpha=-1.5", "--wrt", "other", "--format", "npz",
                       "--out", str(tmp_path / "A.npz"))
    assert rc == 0, err
    np.testing.assert_array_equal(sp.load_npz(tmp_path / "A.npz").toarray(), -1.5 * np.eye(4))
    rc, out, err = run(capsys, "concat", "--input", "2x2", "--param", "b_shape=1x2", "--dim", "0", "--wrt", "b",
                       "--format", "npz", "--out", str(tmp_path / "C.npz"))
    assert rc == 0, err
    # cat([a (2x2), b (1x2)], dim 0): b's two entries land in output rows 4 and 5
    expected = np.zeros((6, 2))
    expected[4, 0] = expected[5, 1] = 1
    np.testing.assert_array_equal(sp.load_npz(tmp_path / "C.npz").toarray(), expected)


# ---------------------------------------------------------------------------
# normalization: the entry form x̂, σ, γ, evaluated from the definitions
# ---------------------------------------------------------------------------
def _groups_of(kind, shape, params):
    """Group id of every entry (C order), from the layers' definitions (not the library's layouts)."""
    idx = list(np.ndindex(*shape))
    if kind == "batch_norm":
        keys = [t[1] for t in idx]
    elif kind == "instance_norm":
        keys = [t[:2] for t in idx]
    elif kind == "group_norm":
        per = shape[1] // params["num_groups"]
        keys = [(t[0], t[1] // per) for t in idx]
    else:
        k = len(params["normalized_shape"])
        keys = [t[: len(t) - k] for t in idx]
    order = {}
    for key in keys:
        order.setdefault(key, len(order))
    return np.array([order[key] for key in keys])


@pytest.mark.parametrize(
    "kind,argv,params",
    [
        ("layer_norm", ["--input", "2x3"], {"normalized_shape": (3,)}),
        ("layer_norm", ["--input", "2x2x2", "--param", "normalized_shape=2x2"], {"normalized_shape": (2, 2)}),
        ("batch_norm", ["--input", "2x2x2"], {}),
        ("group_norm", ["--input", "2x4x2", "--param", "num_groups=2"], {"num_groups": 2}),
        ("instance_norm", ["--input", "2x2x3"], {}),
    ],
)
@pytest.mark.parametrize("wrt", ["x", "weight"])
def test_norm_entry_form_equals_the_derivative(capsys, kind, argv, params, wrt):
    """show's symbolic form, with x̂, σ, γ from the definitions, equals central differences of the forward."""
    from symbolic.normalization import show_form

    rc, out, err = run(capsys, kind, *argv, "--symbolic", "--wrt", wrt)
    assert rc == 0, err
    assert "symbols 1-based" in out.splitlines()[0] and "x̂ = (x − μ_g)/σ_g" in out
    spec = get_operator(kind)
    shape = tuple(int(d) for d in argv[1].split("x"))
    wshape = params.get("normalized_shape", (shape[1],))
    rng = np.random.default_rng(8)
    x, gamma, beta = rng.standard_normal(shape) * 2 + 0.5, rng.standard_normal(wshape), rng.standard_normal(wshape)
    eps = 1e-5
    groups = _groups_of(kind, shape, params)
    flat = x.ravel()
    mu = np.array([flat[groups == g].mean() for g in range(groups.max() + 1)])
    sigma = np.sqrt(np.array([((flat[groups == g] - mu[g]) ** 2).mean() for g in range(groups.max() + 1)]) + eps)
    xhat = (flat - mu[groups]) / sigma[groups]
    matrix, legend = show_form(kind, {"x": shape, "weight": wshape}, {**params, "eps": eps}, wrt, base=1)
    values = {}
    for s in matrix.free_symbols:
        name, _, sub = s.name.partition("_")
        subs = tuple(int(v) - 1 for v in sub.split(","))
        if name == "xhat":
            values[s] = xhat[np.ravel_multi_index(subs, shape)]
        elif name == "sigma":
            values[s] = sigma[subs[0]]
        else:
            values[s] = gamma[subs]
    J = np.array(matrix.subs(values).evalf(), dtype=np.float64)
    forward = spec.forward
    if wrt == "x":
        expected = central_differences(lambda v: forward(v, weight=gamma, bias=beta, eps=eps, **params), x)
    else:
        expected = central_differences(lambda w: forward(x, weight=w, bias=beta, eps=eps, **params), gamma)
    np.testing.assert_allclose(J, expected, atol=1e-6)


def test_batch_norm_eval_mode_uses_the_running_statistics(capsys, tmp_path):
    from jacobians.ops.normalization import batch_norm

    x = np.random.default_rng(9).standard_normal((1, 2, 2))
    argv = ["batch_norm", "--input", "1x2x2", "--param", "training=false", "--param", "running_mean=0.5",
            "--param", "running_var=3"]
    rc, out, err = run(capsys, *argv, "--values", "ones")
    assert rc == 0, err
    assert "constants: running_mean = [0.5, 0.5], running_var = [3., 3.]" in out
    # with ones for x, γ and β the diagonal is γ/sqrt(running_var + eps) = 1/sqrt(3 + 1e-5)
    np.testing.assert_allclose([float(v) for row in out.splitlines() if row.startswith(("⎡", "⎢", "⎣"))
                                for v in row.strip("⎡⎤⎢⎥⎣⎦ ").split() if v != "·"],
                               [1 / np.sqrt(3 + 1e-5)] * 4, rtol=1e-3)
    J, _ = export(capsys, tmp_path, argv, x)
    rm, rv = np.full(2, 0.5), np.full(2, 3.0)
    # show fills weight and bias with ones alongside the file's x (--values FILE fills the one input, the rest random)
    rc, out, err = run(capsys, *argv, "--values", str(tmp_path / "x.npy"))
    weight = np.array([float(v) for v in out.split("weight (2) = [")[1].split("]")[0].split(",")])
    np.testing.assert_allclose(np.diag(J), np.repeat(weight, 2) / np.sqrt(rv.repeat(2) + 1e-5), rtol=1e-5)
    expected = central_differences(lambda v: batch_norm(v, rm, rv, weight, None, training=False), x)
    np.testing.assert_allclose(J, expected, atol=1e-5)


def test_help_operator_lists_the_pytorch_options(capsys):
    for name, words in [("softplus", ["--param beta=", "--param threshold="]), ("dropout", ["--param p=", "--param mask_seed="]),
                        ("cross_entropy_loss", ["--target A,B,…", "--param reduction=mean|sum|none", "--param ignore_index=",
                                                "--param label_smoothing="]),
                        ("batch_norm", ["--param training=true|false", "--param eps=", "--param running_var="]),
                        ("layer_norm", ["--param normalized_shape="]), ("group_norm", ["--param num_groups="]),
                        ("concat", ["--dim ", "--param b_shape="]), ("softmax_dim", ["--dim "])]:
        rc, out, err = run(capsys, name, "--help-operator")
        assert rc == 0, err
        for word in words:
            assert word in out, (name, word, out)


@pytest.mark.parametrize("wrt", ["x", "weight"])
def test_batch_norm_eval_entry_form_equals_the_derivative(capsys, wrt):
    """Evaluation mode: γ_c/σ_c on the diagonal w.r.t. x, x̂ = (x − running_mean)/σ_c w.r.t. γ; σ_c = sqrt(running_var + eps)."""
    from jacobians.ops.normalization import batch_norm
    from symbolic.normalization import show_form

    argv = ["batch_norm", "--input", "2x2x2", "--param", "training=false", "--param", "running_mean=0.5",
            "--param", "running_var=3", "--symbolic", "--wrt", wrt]
    rc, out, err = run(capsys, *argv)
    assert rc == 0, err
    assert "x̂ = (x − running_mean_c)/σ_c" in out
    shape, eps = (2, 2, 2), 1e-5
    rng = np.random.default_rng(10)
    x, gamma = rng.standard_normal(shape), rng.standard_normal(2)
    sigma = np.sqrt(3.0 + eps)
    xhat = (x - 0.5) / sigma
    matrix, _ = show_form("batch_norm", {"x": shape, "weight": (2,)}, {"training": False, "eps": eps}, wrt, base=1)
    values = {}
    for s in matrix.free_symbols:
        name, _, sub = s.name.partition("_")
        subs = tuple(int(v) - 1 for v in sub.split(","))
        values[s] = {"xhat": lambda: xhat[subs], "sigma": lambda: sigma, "gamma": lambda: gamma[subs]}[name]()
    J = np.array(matrix.subs(values).evalf(), dtype=np.float64)
    rm, rv = np.full(2, 0.5), np.full(2, 3.0)
    if wrt == "x":
        expected = central_differences(lambda v: batch_norm(v, rm, rv, gamma, None, training=False, eps=eps), x)
    else:
        expected = central_differences(lambda w: batch_norm(x, rm, rv, w, None, training=False, eps=eps), gamma)
    np.testing.assert_allclose(J, expected, atol=1e-6)
