"""Issue #12, Python API: the dtype rule, the batch rule, no silent wrong answer, memory safety, PyTorch-like names.

Routes: torch (``torch.func.jacrev`` of the batched torch call, ``F.conv2d``
with ``padding="same"``, ``F.linear``), loops written here from the formulas,
and scipy's own constructions — never the package compared with itself.
"""
import math

import numpy as np
import pytest
import scipy.sparse as sp

import jacobians as jb
from jacobians.ops.linear import linear_wtb_b_row_jacobians as _row_jacobians  # note 001's row form (not exported)
from jacobians.geometry import GeometryError
from jacobians.ops._sparse import OperatorTooLargeError

RNG = np.random.default_rng(12)
W = RNG.standard_normal((3, 2, 3, 2))
X = RNG.standard_normal((2, 5, 6))
X4 = RNG.standard_normal((3, 2, 5, 6))


def _one_line_error(exc_info, prefix):
    msg = str(exc_info.value)
    assert "\n" not in msg and msg.startswith(prefix), msg


# --- 1. the dtype rule ----------------------------------------------------------------
DTYPE_BUILDERS = {
    "conv2d_input_jacobian": lambda dt: jb.conv2d_input_jacobian(W, (2, 5, 6), dtype=dt),
    "conv2d_weight_jacobian": lambda dt: jb.conv2d_weight_jacobian(X, W.shape, dtype=dt),
    "conv2d_bias_jacobian": lambda dt: jb.conv2d_bias_jacobian((3, 3, 5), dtype=dt),
    "im2col_jacobian": lambda dt: jb.im2col_jacobian((2, 5, 6), 2, dtype=dt),
    "avg_pool2d_jacobian": lambda dt: jb.avg_pool2d_jacobian((2, 5, 6), 2, dtype=dt),
    "max_pool2d_jacobian": lambda dt: jb.max_pool2d_jacobian(X, 2, dtype=dt),
    "relu_jacobian": lambda dt: jb.relu_jacobian(X, dtype=dt),
    "sigmoid_jacobian": lambda dt: jb.sigmoid_jacobian(X, dtype=dt),
    "tanh_jacobian": lambda dt: jb.tanh_jacobian(X, dtype=dt),
    "selection_matrix": lambda dt: jb.selection_matrix([1, 0], 2, dtype=dt),
    "linear_input_jacobian": lambda dt: jb.linear_input_jacobian(W[0, 0], (4, 2), dtype=dt),
    "linear_weight_jacobian": lambda dt: jb.linear_weight_jacobian(X[0], (3, 6), dtype=dt),
    "linear_bias_jacobian": lambda dt: jb.linear_bias_jacobian((4, 2), dtype=dt),
}


@pytest.mark.parametrize("name", sorted(DTYPE_BUILDERS))
@pytest.mark.parametrize("bad", [np.int64, np.int8, bool, np.complex128])
def test_integer_bool_complex_dtype_refused_with_one_line(name, bad):
    with pytest.raises(TypeError) as info:
        DTYPE_BUILDERS[name](bad)
    _one_line_error(info, "dtype: must be a floating dtype")


@pytest.mark.parametrize("name", sorted(DTYPE_BUILDERS))
def test_float32_requested_is_float32_and_equals_the_float64_matrix(name):
    j32, j64 = DTYPE_BUILDERS[name](np.float32), DTYPE_BUILDERS[name](np.float64)
    assert j32.dtype == np.float32 and j64.dtype == np.float64
    np.testing.assert_allclose(j32.toarray(), j64.toarray(), rtol=1e-6, atol=1e-7)
    assert (j64 != 0).sum() > 0


F32 = {
    "conv2d": lambda: jb.conv2d(X.astype(np.float32), W.astype(np.float32), np.ones(3, np.float32)),
    "conv2d_input_jacobian": lambda: jb.conv2d_input_jacobian(W.astype(np.float32), (2, 5, 6)),
    "conv2d_weight_jacobian": lambda: jb.conv2d_weight_jacobian(X.astype(np.float32), W.shape),
    "max_pool2d": lambda: jb.max_pool2d(X.astype(np.float32), 2),
    "max_pool2d_jacobian": lambda: jb.max_pool2d_jacobian(X.astype(np.float32), 2),
    "avg_pool2d": lambda: jb.avg_pool2d(X.astype(np.float32), 2),
    "relu": lambda: jb.relu(X.astype(np.float32)),
    "relu_jacobian": lambda: jb.relu_jacobian(X.astype(np.float32)),
    "sigmoid": lambda: jb.sigmoid(X.astype(np.float32)),
    "sigmoid_jacobian": lambda: jb.sigmoid_jacobian(X.astype(np.float32)),
    "tanh": lambda: jb.tanh(X.astype(np.float32)),
    "tanh_jacobian": lambda: jb.tanh_jacobian(X.astype(np.float32)),
    "softmax": lambda: jb.softmax(X[0, 0].astype(np.float32)),
    "linear": lambda: jb.linear(X[0].astype(np.float32), W[0, 0].T.astype(np.float32).reshape(2, 3)[:, :1].repeat(6, 1)),
    "linear_weight_jacobian": lambda: jb.linear_weight_jacobian(X[0].astype(np.float32), (2, 6)),
    "linear_xwt_input_jacobian": lambda: jb.linear_xwt_input_jacobian(X[0].astype(np.float32), np.ones((2, 6), np.float32)),
    "kron_filter_form": lambda: jb.kron_filter_form(X[0].astype(np.float32), 2),
    "im2col": lambda: jb.im2col(X.astype(np.float32), 2),
    "col2im": lambda: jb.col2im(np.ones((12, 8), np.float32), (2, 4, 5), 2),
    "linear_xwt": lambda: jb.linear_xwt(X[0].astype(np.float32), np.ones((2, 6), np.float32)),
    "softmax_jacobian": lambda: jb.softmax_jacobian(X[0, 0].astype(np.float32), sparse=True),
    "frobenius_loss_jacobian": lambda: jb.frobenius_loss_jacobian(X.astype(np.float32), X.astype(np.float32)),
}


@pytest.mark.parametrize("name", sorted(F32))
def test_float32_in_gives_float32_out(name):
    assert F32[name]().dtype == np.float32


def test_float32_conv2d_matches_float64_within_float32_rounding():
    y32 = jb.conv2d(X.astype(np.float32), W.astype(np.float32))
    y64 = jb.conv2d(X, W)
    # 12 products per output, |terms| ≲ 10: float32 rounding ≲ 12 · 10 · 6e-8
    np.testing.assert_allclose(y32, y64, rtol=0, atol=1e-5)


# --- 2. one batch rule: the Jacobian of the batched call, as torch.func.jacrev sees it ------
def _jacrev(fn, arg):
    import torch

    t = torch.from_numpy(np.asarray(arg, dtype=np.float64))
    jac = torch.func.jacrev(fn)(t)
    return jac.reshape(-1, t.numel()).numpy()


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("padding", [0, 1, "same", "valid"])
def test_batched_conv2d_jacobians_equal_torch_jacrev(padding):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    stride = 1 if padding == "same" else 2
    w_t = torch.from_numpy(W)
    jx = jb.conv2d_input_jacobian(W, X4.shape, stride=stride, padding=padding)
    want = _jacrev(lambda t: F.conv2d(t, w_t, stride=stride, padding=padding), X4)
    assert jx.shape == want.shape
    np.testing.assert_allclose(jx.toarray(), want, rtol=0, atol=1e-14)
    x_t = torch.from_numpy(X4)
    jw = jb.conv2d_weight_jacobian(X4, W.shape, stride=stride, padding=padding)
    want = _jacrev(lambda t: F.conv2d(x_t, t, stride=stride, padding=padding), W)
    assert jw.shape == want.shape
    np.testing.assert_allclose(jw.toarray(), want, rtol=0, atol=1e-14)
    y = jb.conv2d(X4, W, stride=stride, padding=padding)
    jbias = jb.conv2d_bias_jacobian(y.shape)
    want = _jacrev(lambda t: F.conv2d(x_t, w_t, t, stride=stride, padding=padding), np.zeros(3))
    np.testing.assert_array_equal(jbias.toarray(), want)
    np.testing.assert_allclose(y, F.conv2d(x_t, w_t, stride=stride, padding=padding).numpy(), rtol=0, atol=1e-12)


@pytest.mark.torch
def test_batched_pooling_and_im2col_jacobians_equal_torch_jacrev():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = RNG.permutation(3 * 2 * 5 * 6).reshape(3, 2, 5, 6) * 0.1  # distinct values: no ties
    ja = jb.avg_pool2d_jacobian(x.shape, 3, stride=2, padding=1, count_include_pad=False)
    want = _jacrev(lambda t: F.avg_pool2d(t, 3, 2, 1, count_include_pad=False), x)
    np.testing.assert_allclose(ja.toarray(), want, rtol=0, atol=1e-15)
    jm = jb.max_pool2d_jacobian(x, 2, stride=1, padding=1)
    want = _jacrev(lambda t: F.max_pool2d(t, 2, 1, 1), x)
    np.testing.assert_array_equal(jm.toarray(), want)
    ji = jb.im2col_jacobian(x.shape, (2, 3), stride=(1, 2), padding=1)
    # im2col's (N, OH·OW, C·kh·kw) is torch's unfold (N, C·kh·kw, OH·OW) transposed
    want = _jacrev(lambda t: F.unfold(t, (2, 3), padding=1, stride=(1, 2)).transpose(1, 2), x)
    np.testing.assert_array_equal(ji.toarray(), want)
    np.testing.assert_array_equal(
        jb.im2col(x, (2, 3), stride=(1, 2), padding=1),
        F.unfold(torch.from_numpy(x), (2, 3), padding=1, stride=(1, 2)).transpose(1, 2).numpy(),
    )


@pytest.mark.torch
def test_linear_and_its_jacobians_equal_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, w, b = RNG.standard_normal((4, 3)), RNG.standard_normal((5, 3)), RNG.standard_normal(5)
    xt, wt, bt = (torch.from_numpy(v) for v in (x, w, b))
    np.testing.assert_allclose(jb.linear(x, w, b), F.linear(xt, wt, bt).numpy(), rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(jb.linear(input=x, weight=w, bias=b), F.linear(xt, wt, bt).numpy(), rtol=1e-14)
    np.testing.assert_array_equal(jb.linear_input_jacobian(w, x.shape).toarray(), _jacrev(lambda t: F.linear(t, wt, bt), x))
    np.testing.assert_array_equal(jb.linear_weight_jacobian(x, w.shape).toarray(), _jacrev(lambda t: F.linear(xt, t, bt), w))
    np.testing.assert_array_equal(jb.linear_bias_jacobian((4, 5)).toarray(), _jacrev(lambda t: F.linear(xt, wt, t), b))
    np.testing.assert_array_equal(jb.linear_input_jacobian(w, (3,)).toarray(), w)


def test_batched_input_jacobian_is_block_diagonal_by_scipy():
    block = jb.conv2d_input_jacobian(W, (2, 5, 6), stride=2, padding=1)
    batched = jb.conv2d_input_jacobian(W, (3, 2, 5, 6), stride=2, padding=1)
    np.testing.assert_array_equal(batched.toarray(), sp.block_diag([block] * 3).toarray())
    stacked = jb.conv2d_weight_jacobian(X4, W.shape)
    np.testing.assert_array_equal(
        stacked.toarray(), sp.vstack([jb.conv2d_weight_jacobian(s, W.shape) for s in X4]).toarray()
    )


@pytest.mark.parametrize(
    "call,prefix",
    [
        (lambda: jb.conv2d_input_jacobian(W, (9, 9, 2, 5, 6)), "input_shape: must have 3 or 4 entries"),
        (lambda: jb.conv2d_input_jacobian(W, (5, 6)), "input_shape: must have 3 or 4 entries"),
        (lambda: jb.conv2d_weight_jacobian(X4[None], W.shape), "x: must have shape (C_in, H, W) or (N, C_in, H, W)"),
        (lambda: jb.im2col_jacobian((1, 1, 2, 5, 6), 2), "input_shape: must have 3 or 4 entries"),
        (lambda: jb.avg_pool2d_jacobian((5, 6), 2), "input_shape: must have 3 or 4 entries"),
        (lambda: jb.max_pool2d_jacobian(X4[None], 2), "x: must have shape (C, H, W) or (N, C, H, W)"),
        (lambda: jb.conv2d_bias_jacobian((1, 3, 3, 5, 5)), "out_shape: must have 3 or 4 entries"),
    ],
)
def test_other_ranks_refused_with_one_line(call, prefix):
    with pytest.raises(ValueError) as info:
        call()
    _one_line_error(info, prefix)


# --- 3. the silent wrong answers of issue #12 ------------------------------------------------
@pytest.mark.parametrize(
    "call,prefix,kind",
    [
        (lambda: jb.avg_pool2d(X, 2, count_include_pad="False"), "count_include_pad: must be True or False", TypeError),
        (lambda: jb.avg_pool2d_jacobian((2, 5, 6), 2, count_include_pad="False"), "count_include_pad:", TypeError),
        (lambda: jb.cross_entropy(5 * jb.softmax(np.arange(3.0)), np.eye(3)[1]), "p: probabilities must sum to 1", ValueError),
        (lambda: jb.cross_entropy_jacobian(np.array([0.5, 0.6]), np.eye(2)[1]), "p: probabilities must sum to 1", ValueError),
        (lambda: jb.Link("a", [[1 + 2j, 3]]), "matrix: link 'a' must be a real matrix", TypeError),
        (lambda: jb.Link("a", sp.csr_array(np.array([[1j]]))), "matrix: link 'a' must be a real matrix", TypeError),
        (lambda: jb.Link("b", build=lambda: np.ones((2, 2)), in_size=2.7, out_size=2), "in_size: must be an integer", ValueError),
        (lambda: jb.reshape_jacobian((2, 3), (3.9, 2)), "shape[0]: must be an integer (got 3.9)", ValueError),
        (lambda: jb.reshape_jacobian((2.5, 3), (6,)), "x_shape[0]: must be an integer", ValueError),
        (lambda: jb.kron_filter_form(np.ones((2, 2)), 2.7), "n_filters: must be an integer (got 2.7)", ValueError),
        (lambda: jb.flatten_jacobian((-2, -3)), "x_shape[0]: must be a non-negative integer", ValueError),
        (lambda: _row_jacobians(np.ones(3), np.ones(4), np.ones((5, 3))), "weight: must have n_B = 4 rows", ValueError),
        (lambda: _row_jacobians(np.ones(2), np.ones(4), np.ones((4, 3))), "dj_dz: must be a row of n_Z = 3", ValueError),
        (lambda: jb.transpose_jacobian((2, 3), (0, 1.5)), "axes: must be an integer", ValueError),
        (lambda: jb.conv2d(X, W, padding="full"), "padding: a string must be 'valid'", ValueError),
        (lambda: jb.conv2d(X, W, padding="same", stride=2), "padding: 'same' is only supported with stride 1", ValueError),
        (lambda: jb.max_pool2d(X, 2, padding="same"), "padding: 'same' and 'valid' are convolution paddings", ValueError),
    ],
)
def test_silent_wrong_answers_are_now_one_line_errors(call, prefix, kind):
    with pytest.raises(kind) as info:
        call()
    _one_line_error(info, prefix)


def test_integral_floats_still_accepted_and_equal_to_ints():
    np.testing.assert_array_equal(
        jb.reshape_jacobian((2, 3), (3.0, 2)).toarray(), jb.reshape_jacobian((2, 3), (3, 2)).toarray()
    )
    np.testing.assert_array_equal(jb.conv2d(X, W, stride=2.0), jb.conv2d(X, W, stride=2))


def test_cross_entropy_accepts_probabilities_within_the_stated_tolerance():
    p = np.array([0.25, 0.75]) * (1 + 1e-8)  # float32-softmax-sized rounding
    assert math.isclose(float(jb.cross_entropy(p, np.eye(2)[1])), -math.log(0.75 * (1 + 1e-8)), rel_tol=1e-12)


# --- 4. memory safety ----------------------------------------------------------------------
@pytest.mark.parametrize("source", [[0, 10**8], [0, 5], [-1, 0], [0, 3]])
def test_selection_matrix_refuses_out_of_range_indices(source):
    with pytest.raises(ValueError) as info:
        jb.selection_matrix(source, 3)
    _one_line_error(info, "source: indices must lie in [0, n_in) = [0, 3)")


def test_selection_matrix_picks_entries_as_loops_say():
    source = [2, 0, 2, 1]
    x = np.array([10.0, 20.0, 30.0])
    np.testing.assert_array_equal(jb.selection_matrix(source, 3) @ x, [x[k] for k in source])
    with pytest.raises(TypeError, match=r"^source: must be integer indices"):
        jb.selection_matrix([0.5], 3)


HUGE = [
    ("conv2d_input_jacobian", lambda: jb.conv2d_input_jacobian(np.ones((1, 1, 3, 3)), (1, 3, 3), padding=2**31 - 1)),
    ("conv2d_input_jacobian batch", lambda: jb.conv2d_input_jacobian(np.ones((1, 1, 1, 1)), (2**31 - 1, 1, 2**20, 2**20))),
    ("conv2d_weight_jacobian", lambda: jb.conv2d_weight_jacobian(np.ones((1, 3, 3)), (1, 1, 3, 3), padding=2**30)),
    ("im2col_jacobian", lambda: jb.im2col_jacobian((2**30, 2**20, 2**20), 3)),
    ("avg_pool2d_jacobian", lambda: jb.avg_pool2d_jacobian((1, 2**31 - 1, 2**31 - 1), 1)),
    ("avg_pool2d_jacobian divisor", lambda: jb.avg_pool2d_jacobian((1, 3, 3), 3, stride=1, padding=2**30, count_include_pad=False)),
    ("reshape_jacobian", lambda: jb.reshape_jacobian((2**31 - 1,) * 3, (-1,))),
    ("transpose_jacobian", lambda: jb.transpose_jacobian((2**31 - 1,) * 3)),
    ("flatten_jacobian", lambda: jb.flatten_jacobian((2**31 - 1,) * 2)),
    ("vec_jacobian", lambda: jb.vec_jacobian((2**31 - 1,) * 2, "vardhan2022")),
    ("convert_vec_jacobian", lambda: jb.convert_vec_jacobian((2**31 - 1,) * 2, "canonical", "matlab")),
    ("stack_jacobian", lambda: jb.stack_jacobian(0, 2**31 - 1, 2**31 - 1)),
    ("select_jacobian", lambda: jb.select_jacobian((2, 2**31 - 1, 2**31 - 1), 1)),
    ("commutation_matrix", lambda: jb.commutation_matrix(2**31 - 1, 2**31 - 1)),
    ("kron_filter_form", lambda: jb.kron_filter_form(np.ones((3, 3)), 2**31 - 1)),
    ("kron_patch_form", lambda: jb.kron_patch_form(np.ones((3, 3)), 2**31 - 1)),
    ("softmax_jacobian sparse", lambda: jb.softmax_jacobian(np.zeros(200_000), sparse=True, max_bytes=2**30)),
    ("linear_weight_jacobian", lambda: jb.linear_weight_jacobian(np.ones((1, 3)), (2**31 - 1, 3), max_bytes=2**30)),
]


HUGE += [
    ("conv2d forward", lambda: jb.conv2d(np.ones((1, 3, 3)), np.ones((1, 1, 3, 3)), padding=2**20)),
    ("im2col forward", lambda: jb.im2col(np.ones((1, 3, 3)), 3, padding=2**20)),
    ("avg_pool2d forward", lambda: jb.avg_pool2d(np.ones((1, 3, 3)), 3, stride=1, padding=2**20)),
    ("max_pool2d forward", lambda: jb.max_pool2d(np.ones((1, 3, 3)), 3, stride=1, padding=2**20, pad_value=0.0)),
    ("col2im forward", lambda: jb.col2im(np.ones((4, 9)), (1, 2**20, 2**20), 3, stride=2**19)),
]


@pytest.mark.parametrize("name,call", HUGE, ids=[h[0] for h in HUGE])
def test_memory_guard_runs_first_on_exact_ints(name, call):
    import resource
    import time

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with pytest.raises(OperatorTooLargeError) as info:
        call()
    _one_line_error(info, "max_bytes: ")
    # refused before allocating: fast and without growing the peak memory by more than a few MB
    assert time.perf_counter() - start < 2.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # kB


@pytest.mark.parametrize(
    "call",
    [
        lambda: jb.conv2d(X, W, stride=10**20),
        lambda: jb.conv2d_input_jacobian(W, (2, 5, 6), stride=10**20),
        lambda: jb.conv2d_weight_jacobian(X, W.shape, dilation=10**20),
        lambda: jb.im2col_jacobian((2, 5, 6), 2, padding=10**20),
        lambda: jb.avg_pool2d_jacobian((2, 5, 6), 2, stride=10**20),
        lambda: jb.max_pool2d_jacobian(X, 2, stride=10**20),
        lambda: jb.avg_pool2d(X, 10**20),
        lambda: jb.conv2d_input_jacobian(W, (2, 10**20, 6)),
    ],
)
def test_huge_geometry_numbers_get_one_line(call):
    with pytest.raises(GeometryError) as info:
        call()
    assert "must be at most 2**31 - 1" in str(info.value) and "\n" not in str(info.value)


# --- 5. PyTorch-like API ------------------------------------------------------------------
@pytest.mark.torch
@pytest.mark.parametrize("kernel,dilation", [((3, 2), 1), ((4, 3), (1, 2)), ((2, 2), 2), ((1, 5), 1)])
def test_padding_same_equals_torch(kernel, dilation):
    torch = pytest.importorskip("torch")
    w = RNG.standard_normal((3, 2, *kernel))
    y = jb.conv2d(X4, w, padding="same", dilation=dilation)
    want = torch.nn.functional.conv2d(torch.from_numpy(X4), torch.from_numpy(w), padding="same", dilation=dilation)
    assert y.shape == tuple(want.shape) and y.shape[2:] == X4.shape[2:]
    np.testing.assert_allclose(y, want.numpy(), rtol=0, atol=1e-12)


def test_padding_same_puts_the_odd_extra_at_the_bottom_right_by_loops():
    x = RNG.standard_normal((1, 3, 3))
    w = RNG.standard_normal((1, 1, 2, 2))  # total padding 1 per axis: 0 before, 1 after
    y = jb.conv2d(x, w, padding="same")
    xp = np.zeros((5, 5))
    xp[:3, :3] = x[0]
    loops = np.array([[sum(w[0, 0, a, b] * xp[i + a, j + b] for a in range(2) for b in range(2)) for j in range(3)]
                      for i in range(3)])
    np.testing.assert_allclose(y[0], loops, rtol=0, atol=1e-14)
    np.testing.assert_array_equal(jb.conv2d(x, w, padding="valid"), jb.conv2d(x, w, padding=0))


def test_input_keyword_as_in_torch():
    np.testing.assert_array_equal(jb.conv2d(input=X, weight=W), jb.conv2d(X, W))
    np.testing.assert_array_equal(jb.max_pool2d(input=X, kernel_size=2), jb.max_pool2d(X, 2))
    np.testing.assert_array_equal(jb.avg_pool2d(input=X, kernel_size=2), jb.avg_pool2d(X, 2))
    for f in (jb.relu, jb.sigmoid, jb.tanh):
        np.testing.assert_array_equal(f(input=X), f(X))
    np.testing.assert_array_equal(jb.softmax(input=X[0, 0]), jb.softmax(X[0, 0]))
    with pytest.raises(TypeError, match=r"^x: given twice"):
        jb.conv2d(X, W, input=X)
    with pytest.raises(TypeError, match=r"^x: missing"):
        jb.conv2d(weight=W)


def test_linear_builders_exported_at_top_level():
    import jacobians

    for name in ("linear", "linear_input_jacobian", "linear_weight_jacobian", "linear_bias_jacobian",
                 "linear_xwt_input_jacobian", "linear_xw_b_weight_jacobian", "linear_wvec_b_input_jacobian",
                 "linear_wtb_b_weight_jacobian"):
        assert name in jacobians.__all__ and callable(getattr(jacobians, name))


def test_linear_by_loops():
    x, w, b = RNG.standard_normal((2, 3)), RNG.standard_normal((4, 3)), RNG.standard_normal(4)
    loops = np.array([[b[o] + sum(x[n, k] * w[o, k] for k in range(3)) for o in range(4)] for n in range(2)])
    np.testing.assert_allclose(jb.linear(x, w, b), loops, rtol=1e-14, atol=1e-14)
    with pytest.raises(ValueError, match=r"^weight: must have in_features = x.shape\[-1\] = 3"):
        jb.linear(x, w[:, :2])


@pytest.mark.parametrize("module", ["geometry", "ops._sparse", "ops.conv2d", "ops.linear", "ops.reshape", "ops.kron"])
def test_docstring_examples_of_the_touched_modules(module):
    import doctest
    import importlib

    mod = importlib.import_module(f"jacobians.{module}")
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("stride", [2**31 - 1, (1, 2**31 - 1), (2**30, 1)])
def test_huge_stride_within_the_cap_builds_the_right_matrix(stride):
    # the fast path's per-row offsets j·sw leave int32 while every column stays valid (found by the API sweep)
    w = RNG.standard_normal((2, 2, 2, 3))
    got = jb.conv2d_input_jacobian(w, (2, 4, 5), stride=stride, padding=1).toarray()
    sh, sw = stride if isinstance(stride, tuple) else (stride, stride)
    oh, ow = (4 + 2 - 2) // sh + 1, (5 + 2 - 3) // sw + 1
    want = np.zeros((2 * oh * ow, 2 * 4 * 5))
    for o in range(2):
        for i in range(oh):
            for j in range(ow):
                for c in range(2):
                    for a in range(2):
                        for b in range(3):
                            p, q = i * sh - 1 + a, j * sw - 1 + b
                            if 0 <= p < 4 and 0 <= q < 5:
                                want[(o * oh + i) * ow + j, (c * 4 + p) * 5 + q] = w[o, c, a, b]
    np.testing.assert_array_equal(got, want)


def test_pooling_options_after_padding_are_keyword_only():
    # PyTorch's 5th positional argument is dilation (max) / ceil_mode (avg), this package's was pad_value /
    # count_include_pad: keyword-only, so neither habit binds a value to the wrong parameter silently
    with pytest.raises(TypeError, match="positional"):
        jb.max_pool2d(X, 2, 2, 0, 1)
    with pytest.raises(TypeError, match="positional"):
        jb.avg_pool2d(X, 2, 2, 0, False)
    with pytest.raises(ValueError, match=r"^ceil_mode: must be True or False"):  # ceil_mode=True is supported now
        jb.avg_pool2d(X, 2, ceil_mode="False")
    np.testing.assert_array_equal(jb.max_pool2d(X, 2, 1, 1, dilation=2), jb.max_pool2d(X, 2, stride=1, padding=1, dilation=2))


def test_linear_jacobians_of_symbols_equal_sympy():
    sympy = pytest.importorskip("sympy")
    x = np.array(sympy.symbols("x0:6"), dtype=object).reshape(2, 3)
    w = np.array(sympy.symbols("w0:12"), dtype=object).reshape(4, 3)
    y = sympy.Matrix(jb.linear(x, w).reshape(-1).tolist())
    jx = jb.linear_input_jacobian(w, x.shape)
    jw = jb.linear_weight_jacobian(x, w.shape)
    assert sympy.Matrix(jx) == y.jacobian(list(x.ravel()))
    assert sympy.Matrix(jw) == y.jacobian(list(w.ravel()))
