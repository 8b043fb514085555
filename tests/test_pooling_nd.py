"""Pooling through the N-d path: 1-D/2-D/3-D max and average pooling against torch and against loops.

Routes: torch.nn.functional.max_pool{1,2,3}d / avg_pool{1,2,3}d and their
torch.func.jacrev (hypothesis sweeps over every argument combination torch
accepts, sampled away from ties), a brute-force per-window reference with
loops written here (ties, pad values, ceil-mode overflow), and the memory
bound of the max-pool Jacobian.
"""
import itertools
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import jacobians as jac
from jacobians.geometry import GeometryError
from jacobians.ops import pooling

MAX = {1: jac.max_pool1d, 2: jac.max_pool2d, 3: jac.max_pool3d}
MAX_J = {1: jac.max_pool1d_jacobian, 2: jac.max_pool2d_jacobian, 3: jac.max_pool3d_jacobian}
AVG = {1: jac.avg_pool1d, 2: jac.avg_pool2d, 3: jac.avg_pool3d}
AVG_J = {1: jac.avg_pool1d_jacobian, 2: jac.avg_pool2d_jacobian, 3: jac.avg_pool3d_jacobian}


@st.composite
def torch_pool_args(draw, nd, with_dilation):
    """Arguments torch accepts: symmetric padding ≤ kernel/2, any stride, dilation, ceil_mode."""
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd)) if with_dilation else (1,) * nd
    size = tuple(draw(st.integers(1, 7 if nd < 3 else 5)) for _ in range(nd))
    ceil_mode = draw(st.booleans())
    channels = draw(st.integers(1, 2))
    return channels, size, kernel, stride, padding, dilation, ceil_mode


def _distinct(shape, seed):
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    return ((rng.permutation(n) + 1) * 0.1 * rng.choice([-1.0, 1.0], size=n)).reshape(shape)


def _torch_or_refusal(fn):
    try:
        return fn(), None
    except RuntimeError as err:
        return None, str(err)


def _refused_alike(ours, torch_message):
    """torch refused: we refuse too (one line), or it is torch's 3-D-only rule that the
    *unpadded* input be at least the kernel (pool3d_shape_check), which we do not copy."""
    try:
        ours()
    except GeometryError as err:
        assert "\n" not in str(err)
        return
    assert "smaller than kernel size" in torch_message, torch_message


@pytest.mark.torch
@pytest.mark.parametrize("nd", [1, 2, 3])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_max_pool_matches_torch(nd, data):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    c, size, k, s, p, d, ceil = data.draw(torch_pool_args(nd, True))
    x = _distinct((c, *size), data.draw(st.integers(0, 2**16)))
    fn = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[nd]
    tx = torch.tensor(x)
    f = lambda t: fn(t[None], k, s, p, d, ceil_mode=ceil, return_indices=True)  # noqa: E731
    res, refusal = _torch_or_refusal(lambda: f(tx))
    if res is None:
        _refused_alike(lambda: MAX[nd](x, k, s, p, dilation=d, ceil_mode=ceil), refusal)
        return
    y_t, idx_t = res[0][0].numpy(), res[1][0].numpy()
    try:
        y, idx = MAX[nd](x, k, s, p, dilation=d, ceil_mode=ceil, return_indices=True)
    except GeometryError as err:
        # our documented refusal: a window entirely in −inf padding (torch outputs −inf there)
        assert "entirely in the padding" in str(err) and np.isneginf(y_t).any()
        return
    np.testing.assert_array_equal(y, y_t)
    np.testing.assert_array_equal(idx, idx_t)
    J_t = torch.func.jacrev(lambda t: f(t)[0][0])(tx).numpy().reshape(y.size, x.size)
    J = MAX_J[nd](x, k, s, p, dilation=d, ceil_mode=ceil)
    np.testing.assert_array_equal(J.toarray(), J_t)  # exact 0/1
    g = np.random.default_rng(1).standard_normal(y.shape)
    for vjp in (pooling.max_pool_vjp_switches, pooling.max_pool_vjp_col2im):
        np.testing.assert_allclose(vjp(g, x, k, s, p, dilation=d, ceil_mode=ceil, nd=nd).ravel(), J_t.T @ g.ravel(), rtol=0, atol=1e-13)


@pytest.mark.torch
@pytest.mark.parametrize("nd", [1, 2, 3])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_avg_pool_matches_torch(nd, data):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    c, size, k, s, p, _, ceil = data.draw(torch_pool_args(nd, False))
    cip = data.draw(st.booleans())
    dv = data.draw(st.sampled_from([None, None, 1, 3, 5])) if nd > 1 else None
    x = np.random.default_rng(data.draw(st.integers(0, 2**16))).standard_normal((c, *size))
    fn = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[nd]
    extra = {} if nd == 1 else {"divisor_override": dv}
    f = lambda t: fn(t[None], k, s, p, ceil_mode=ceil, count_include_pad=cip, **extra)[0]  # noqa: E731
    tx = torch.tensor(x)
    y_t, refusal = _torch_or_refusal(lambda: f(tx))
    if y_t is None:
        _refused_alike(lambda: AVG[nd](x, k, s, p, ceil_mode=ceil, count_include_pad=cip, **extra), refusal)
        return
    y = AVG[nd](x, k, s, p, ceil_mode=ceil, count_include_pad=cip, **extra)
    np.testing.assert_allclose(y, y_t.numpy(), rtol=0, atol=1e-14 * max(1, np.abs(x).max()))
    J_t = torch.func.jacrev(f)(tx).numpy().reshape(y.size, x.size)
    J = AVG_J[nd](x.shape, k, s, p, ceil_mode=ceil, count_include_pad=cip, **extra)
    np.testing.assert_allclose(J.toarray(), J_t, rtol=0, atol=1e-15)
    g = np.random.default_rng(2).standard_normal(y.shape)
    for vjp in (pooling.avg_pool_vjp_col2im, pooling.avg_pool_vjp_rot180):
        got = vjp(g, x, k, s, p, ceil_mode=ceil, count_include_pad=cip, divisor_override=extra.get("divisor_override"), nd=nd)
        np.testing.assert_allclose(got.ravel(), J_t.T @ g.ravel(), rtol=0, atol=1e-13)


# ---------------------------------------------------------------------------
# ties, pad values and the ceil-mode overflow: per-window loops written here
# ---------------------------------------------------------------------------
def brute_force_switches(x, k, s, p, d, ceil, pad_value, ties):
    """(y, column) by scanning every window in the tie rule's order; −1 where padding wins."""
    nd = len(k)
    size = x.shape[1:]
    outs = []
    for ax in range(nd):
        num = size[ax] + p[ax][0] + p[ax][1] - d[ax] * (k[ax] - 1) - 1
        o = -(-num // s[ax]) + 1 if ceil else num // s[ax] + 1
        if ceil and (o - 1) * s[ax] >= size[ax] + p[ax][0]:
            o -= 1
        outs.append(o)
    taps = list(itertools.product(*map(range, k)))
    if ties == "first-colmajor":
        taps = sorted(taps, key=lambda t: t[::-1])
    y = np.empty((x.shape[0], *outs))
    col = np.empty((x.shape[0], *outs), dtype=int)
    for c in range(x.shape[0]):
        for i in itertools.product(*map(range, outs)):
            best, where = None, None
            for a in taps:
                q = [i[ax] * s[ax] - p[ax][0] + a[ax] * d[ax] for ax in range(nd)]
                if all(0 <= q[ax] < size[ax] for ax in range(nd)):
                    v, w = x[(c, *q)], int(np.ravel_multi_index((c, *q), x.shape))
                elif all(q[ax] < size[ax] + p[ax][1] for ax in range(nd)):
                    v, w = pad_value, -1
                else:
                    continue  # ceil-mode overflow: not part of the window
                if best is None or v > best:
                    best, where = v, w
            y[(c, *i)], col[(c, *i)] = best, where
    return y, col


@pytest.mark.parametrize("nd", [1, 2, 3])
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(data=st.data())
def test_switches_with_ties_pad_values_and_overflow_equal_brute_force(nd, data):
    k = tuple(data.draw(st.integers(1, 3)) for _ in range(nd))
    s = tuple(data.draw(st.integers(1, 3)) for _ in range(nd))
    p = tuple((data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))) for _ in range(nd))
    d = tuple(data.draw(st.integers(1, 2)) for _ in range(nd))
    size = tuple(data.draw(st.integers(1, 5 if nd < 3 else 4)) for _ in range(nd))
    ceil = data.draw(st.booleans())
    pad_value = data.draw(st.sampled_from([float("-inf"), 0.0, 0.5]))
    ties = data.draw(st.sampled_from(["first", "first-colmajor"]))
    x = np.random.default_rng(data.draw(st.integers(0, 2**16))).integers(-2, 3, size=(2, *size)).astype(float)
    try:
        sw = pooling.max_pool_switches(x, nd, k, s, p, dilation=d, ceil_mode=ceil, pad_value=pad_value, ties=ties)
    except GeometryError as err:
        assert "kernel_size" in str(err) or "entirely in the padding" in str(err)
        return
    y_ref, col_ref = brute_force_switches(x, k, s, p, d, ceil, pad_value, ties)
    np.testing.assert_array_equal(sw.values, y_ref)
    np.testing.assert_array_equal(sw.column, col_ref)
    J = pooling.max_pool_jacobian(x, nd, k, s, p, dilation=d, ceil_mode=ceil, pad_value=pad_value, ties=ties)
    np.testing.assert_array_equal(np.diff(J.indptr), (col_ref.ravel() >= 0).astype(int))
    np.testing.assert_array_equal(J.indices, col_ref.ravel()[col_ref.ravel() >= 0])
    assert (J.data == 1).all()


@pytest.mark.torch
@pytest.mark.parametrize("nd", [1, 3])
def test_ties_go_to_the_first_maximum_like_torch(nd):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.zeros((1,) + (4,) * nd)  # every window is one big tie
    fn = {1: F.max_pool1d, 3: F.max_pool3d}[nd]
    _, idx_t = fn(torch.tensor(x)[None], 2, 1, 1, return_indices=True)
    _, idx = MAX[nd](x, 2, 1, 1, return_indices=True)
    np.testing.assert_array_equal(idx, idx_t[0].numpy())


# ---------------------------------------------------------------------------
# the rules spelled out, memory, errors
# ---------------------------------------------------------------------------
def test_ceil_mode_drops_a_last_window_starting_in_the_padding():
    # L = 5, k = 2, s = 2, p = 1: ceil gives 4 windows, but the 4th starts at 5 - 1 + 2 = index 5 ≥ L: dropped
    y = jac.avg_pool1d(np.arange(1.0, 6.0)[None], 2, 2, 1, ceil_mode=True)
    assert y.shape == (1, 3)
    np.testing.assert_allclose(y, [[0.5, 2.5, 4.5]])  # last window (4, 5): 9/2, pad counted only up to L + p


def test_divisor_override_and_count_include_pad_rules():
    x = np.arange(9.0).reshape(1, 3, 3)
    np.testing.assert_allclose(jac.avg_pool2d(x, 2, ceil_mode=True, divisor_override=1)[0], [[8, 7], [13, 8]])
    # ceil overflow is never counted, padding is counted only with count_include_pad
    np.testing.assert_allclose(jac.avg_pool2d(x, 2, 2, 1, count_include_pad=True)[0], [[0, 0.75], [2.25, 6]])
    np.testing.assert_allclose(jac.avg_pool2d(x, 2, 2, 1, count_include_pad=False)[0], [[0, 1.5], [4.5, 6]])


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: jac.avg_pool2d(np.ones((1, 3, 3)), 2, divisor_override=0), "divisor_override"),
        (lambda: jac.avg_pool2d(np.ones((1, 3, 3)), 2, divisor_override=1.5), "divisor_override"),
        (lambda: jac.max_pool2d(np.ones((1, 3, 3)), 2, ceil_mode="yes"), "ceil_mode"),
        (lambda: jac.max_pool3d(np.ones((1, 3, 3)), 2), "x:"),
        (lambda: jac.max_pool1d(np.ones((1, 3)), (2, 2)), "kernel_size"),
        (lambda: jac.avg_pool3d_jacobian((1, 3, 3), 2), "input_shape"),
        (lambda: jac.max_pool1d(np.ones((1, 3)), 5), "kernel_size"),
    ],
)
def test_bad_pool_arguments_one_line(call, message):
    with pytest.raises(GeometryError) as err:
        call()
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_max_pool_jacobian_peak_memory_is_about_its_csr():
    # a real layer's size (ResNet's first pooling has 64×112×112 inputs); below ~1e5 outputs the
    # scan's fixed 8192-row chunk (≤ 200 kB of temporaries) may exceed the 1.2× bound, harmlessly
    x = np.random.default_rng(0).standard_normal((64, 112, 112))
    jac.max_pool2d_jacobian(x, 2)  # warm up
    tracemalloc.start()
    J = jac.max_pool2d_jacobian(x, 2)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    csr = J.data.nbytes + J.indices.nbytes + J.indptr.nbytes
    assert peak <= 1.2 * csr, f"peak {peak / csr:.2f}x the CSR"
    # and it is the right matrix: the pooled values are what J selects
    np.testing.assert_array_equal(J @ x.ravel(), jac.max_pool2d(x, 2).ravel())


def test_float32_kept():
    x = np.random.default_rng(0).standard_normal((2, 5, 5)).astype(np.float32)
    assert jac.max_pool2d_jacobian(x, 2, ceil_mode=True).dtype == np.float32
    assert jac.max_pool2d(x, 2).dtype == np.float32
    assert jac.avg_pool3d_jacobian((1, 4, 4, 4), 2, dtype=np.float32).dtype == np.float32


def test_options_after_padding_are_keyword_only():
    """PyTorch's 5th positional is dilation (max) / ceil_mode (avg); ours used to be pad_value / count_include_pad:
    a positional call must fail loudly rather than bind silently to the other meaning."""
    x = np.ones((1, 4, 4))
    with pytest.raises(TypeError):
        jac.avg_pool2d(x, 2, 2, 0, False)
    with pytest.raises(TypeError):
        jac.max_pool2d(x, 2, 2, 0, 1)
    with pytest.raises(TypeError):
        jac.avg_pool2d_jacobian(x.shape, 2, 2, 0, False)


def test_memory_guard_runs_before_anything_of_the_operators_size():
    """A 1-D input of 2⁴⁰ entries: refused by the guard on exact ints, without allocating per-output arrays."""
    from jacobians.ops._sparse import OperatorTooLargeError

    with pytest.raises(OperatorTooLargeError):
        jac.avg_pool1d_jacobian((2**20, 2**30), 1)  # each entry within the 2**31 - 1 cap, 2**50 in all
    with pytest.raises(ValueError, match=r"^input_shape\[1\]: must be at most 2\*\*31 - 1"):
        jac.avg_pool1d_jacobian((1, 2**40), 1)  # a shape entry above the geometry cap (docs/robustness.md)
    with pytest.raises(OperatorTooLargeError):
        jac.conv1d_input_jacobian(np.ones((1, 1, 3)), (2**20, 1, 2**30))


@pytest.mark.parametrize(
    "nd, shape, kw",
    [
        (1, (64, 12544), dict(kernel_size=2)),  # the bench_all row: was 1.19x with the conv block builder
        (1, (1, 802816), dict(kernel_size=2)),  # one channel: every per-position table is the rows' size (was 2.9x)
        (2, (3, 224, 224), dict(kernel_size=3, stride=1, padding=1)),
        (2, (1, 896, 896), dict(kernel_size=3, stride=2, padding=1)),
        (3, (1, 64, 112, 112), dict(kernel_size=2)),
    ],
    ids=["1d-64ch", "1d-1ch", "2d-3ch-pad", "2d-1ch-s2p1", "3d-1ch"],
)
def test_avg_pool_jacobian_peak_memory_is_about_its_csr(nd, shape, kw):
    """Real sizes (CSRs of 10–22 MB): the first axis is built in pieces and the planes copied, so ≤ 1.1× the CSR."""
    from _helpers import peak_over_csr

    build = {1: jac.avg_pool1d_jacobian, 2: jac.avg_pool2d_jacobian, 3: jac.avg_pool3d_jacobian}[nd]
    assert peak_over_csr(lambda: build(shape, **kw)) <= 1.1


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_a_maximum_of_tied_zeros_keeps_the_first_winners_sign(nd):
    """+0 and −0 tie; the pooled value is the first winner's own entry (PyTorch's strict ``>``), sign included.

    The scan updates maxima with np.maximum, which may return either zero on a tie; the
    loops of reference_max_pool (Python's ``max`` keeps the first) are the other route.
    """
    from jacobians.ops.pooling import reference_max_pool

    rng = np.random.default_rng(nd)
    shape = (3,) + (7,) * nd
    for pad_value in (float("-inf"), 0.0, -0.0):
        x = rng.choice([0.0, -0.0, -1.0], size=shape)
        kw = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)
        got = {1: jac.max_pool1d, 2: jac.max_pool2d, 3: jac.max_pool3d}[nd](x, pad_value=pad_value, **kw)
        want = reference_max_pool(x, pad_value=pad_value, nd=nd, **kw)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


def _loop_jacobian(fn, in_shape):
    """The matrix of a linear map by probing unit vectors through the loop reference (an independent route)."""
    n = int(np.prod(in_shape))
    cols = [np.asarray(fn(np.eye(1, n, j).reshape(in_shape))).ravel() for j in range(n)]
    return np.stack(cols, axis=1)


@pytest.mark.parametrize("chunk_entries", [1, 5, 64])
@pytest.mark.parametrize(
    "nd, shape, kw",
    [
        (1, (2, 11), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
        (2, (2, 7, 6), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), ceil_mode=True)),
        (2, (2, 2, 5, 5), dict(kernel_size=2, divisor_override=3)),  # batched
        (3, (1, 5, 4, 6), dict(kernel_size=(2, 3, 2), stride=(1, 2, 2), padding=(1, 1, 0), ceil_mode=True)),
    ],
)
def test_replicated_runs_in_small_chunks_give_the_loop_references_matrix(monkeypatch, chunk_entries, nd, shape, kw):
    """Average pooling's first axis is runs of translated windows: the first position's slab is
    replicated down the run in chunks (2¹⁸ entries, ≤ 2¹⁵ positions at real sizes); chunks of 1–64
    entries make every chunk boundary (values, shifted columns, indptr) land inside small geometries."""
    from jacobians.ops import _separable
    from jacobians.ops.pooling import reference_avg_pool

    monkeypatch.setattr(_separable, "_REPLICATE_ENTRIES", chunk_entries)
    build = {1: jac.avg_pool1d_jacobian, 2: jac.avg_pool2d_jacobian, 3: jac.avg_pool3d_jacobian}[nd]
    J = build(shape, **kw)
    ref = _loop_jacobian(lambda x: reference_avg_pool(x, nd=nd, **kw), shape)
    np.testing.assert_allclose(J.toarray(), ref, rtol=0, atol=1e-15)
    assert J.has_sorted_indices


@pytest.mark.parametrize("piece_rows", [1, 5])
def test_pieces_in_interpolate_and_adaptive_pooling(monkeypatch, piece_rows):
    from jacobians.ops import _separable
    from jacobians.ops.adaptive_pool import adaptive_avg_pool2d_jacobian, adaptive_avg_pool2d_reference
    from jacobians.ops.upsample import interpolate_jacobian, interpolate_reference

    monkeypatch.setattr(_separable, "_PIECE_ROWS", piece_rows)
    shape = (2, 5, 4)
    J = interpolate_jacobian(shape, size=(7, 9), mode="bilinear", align_corners=False)
    ref = _loop_jacobian(lambda x: interpolate_reference(x, size=(7, 9), mode="bilinear", align_corners=False), shape)
    np.testing.assert_allclose(J.toarray(), ref, rtol=0, atol=1e-14)
    J = adaptive_avg_pool2d_jacobian(shape, (3, 3))
    np.testing.assert_allclose(J.toarray(), _loop_jacobian(lambda x: adaptive_avg_pool2d_reference(x, (3, 3)), shape),
                               rtol=0, atol=1e-15)
