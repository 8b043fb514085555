"""Batch, layer, group and instance norm: structure of the Jacobians, a wrong backward caught, bad input, torch sweeps.

Routes compared here are of different kinds: the package's broadcast-filled
CSR against dense matrices written entry by entry from the formula
(loops), against torch.func.jacrev of torch.nn.functional, and against
exact algebraic facts (annihilated directions, block structure after a
permutation built independently with np.argsort).
"""
import math

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import check_registered_cases_with_torch, requires_torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jacobians.geometry import GeometryError
from jacobians.ops import normalization as nm
from jacobians.registry import get_operator


# ---------------------------------------------------------------------------
# the entry formula, written as loops (an independent route to the CSR builder)
# ---------------------------------------------------------------------------
def _dense_from_formula(x, key, gamma_of, eps):
    """J[i, j] = γ_i/σ (δ_ij − 1/m − x̂_i x̂_j/m) for i, j with key(i) == key(j), by loops over index pairs."""
    x = np.asarray(x, dtype=np.float64)
    idx = list(np.ndindex(*x.shape))
    groups = {}
    for t in idx:
        groups.setdefault(key(t), []).append(float(x[t]))
    stats = {}
    for k, v in groups.items():
        mu = math.fsum(v) / len(v)
        stats[k] = (mu, math.sqrt(math.fsum((a - mu) ** 2 for a in v) / len(v) + eps), len(v))
    n = len(idx)
    J = np.zeros((n, n))
    for r, ti in enumerate(idx):
        mu, sd, m = stats[key(ti)]
        xi = (x[ti] - mu) / sd
        for c, tj in enumerate(idx):
            if key(tj) != key(ti):
                continue
            xj = (x[tj] - mu) / sd
            J[r, c] = gamma_of(ti) / sd * ((r == c) - 1.0 / m - xi * xj / m)
    return J


@pytest.mark.parametrize(
    "name,build,key,shape",
    [
        ("bn", lambda x, w: nm.batch_norm_input_jacobian(x, w), lambda t: t[1], (3, 2, 2, 2)),
        ("ln", lambda x, w: nm.layer_norm_input_jacobian(x, (2, 2), w.reshape(2, 2)), lambda t: t[0], (3, 2, 2)),
        ("gn", lambda x, w: nm.group_norm_input_jacobian(x, 2, w), lambda t: (t[0], t[1] // 2), (2, 4, 3)),
        ("in", lambda x, w: nm.instance_norm_input_jacobian(x, w), lambda t: t[:2], (2, 3, 4)),
    ],
)
def test_input_jacobian_equals_the_entry_formula(name, build, key, shape):
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape) * 3 + 1
    w = rng.standard_normal(shape[1] if name != "ln" else 4)
    gamma = (lambda t: w.reshape(2, 2)[t[1], t[2]]) if name == "ln" else (lambda t: w[t[1]])
    J = build(x, w)
    want = _dense_from_formula(x, key, gamma, 1e-5)
    np.testing.assert_allclose(J.toarray(), want, rtol=0, atol=1e-12 * np.abs(want).max())
    assert J.has_sorted_indices and J.nnz == x.size * (x.size // len({key(t) for t in np.ndindex(*shape)}))


def test_batch_norm_training_is_block_diagonal_over_channels_after_sorting_by_channel():
    rng = np.random.default_rng(0)
    n, c, h, w = 3, 4, 2, 3
    x = rng.standard_normal((n, c, h, w))
    J = nm.batch_norm_input_jacobian(x, rng.standard_normal(c)).toarray()
    channel = np.broadcast_to(np.arange(c)[None, :, None, None], x.shape).ravel()
    perm = np.argsort(channel, kind="stable")  # entries grouped by channel
    P = J[np.ix_(perm, perm)]
    m = n * h * w
    off = P.copy()
    for k in range(c):
        block = P[k * m:(k + 1) * m, k * m:(k + 1) * m]
        assert np.count_nonzero(block) == m * m  # dense within the channel
        off[k * m:(k + 1) * m, k * m:(k + 1) * m] = 0
    assert not off.any()  # exactly zero across channels


@pytest.mark.parametrize(
    "build,layout_of",
    [
        (lambda x, w, e: nm.batch_norm_input_jacobian(x, w, e), lambda s: nm._bn_layout(s)),
        (lambda x, w, e: nm.instance_norm_input_jacobian(x, w, e), lambda s: nm._in_layout(s)),
        (lambda x, w, e: nm.group_norm_input_jacobian(x, 2, w, e), lambda s: nm._gn_layout(s, 2)),
    ],
)
def test_each_block_annihilates_the_constant_vector_and_the_normalized_input(build, layout_of):
    """J·1_g = 0 exactly in exact arithmetic; J·x̂_g = (γ/σ)·eps/(var + eps)·x̂_g — the eps leak, which vanishes as
    eps → 0: then x̂_g is annihilated too and each block has rank m − 2."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 5)) * 2 + 3
    w = rng.standard_normal(4)
    layout = layout_of(x.shape)
    members = layout.to_groups(np.arange(x.size).reshape(x.shape))
    channel_of = np.broadcast_to(np.arange(4)[None, :, None], x.shape).ravel()
    for eps in (1e-5, 1e-300):
        J = build(x, w, eps)
        scale = np.abs(J.toarray()).sum(axis=1).max()
        for g in range(members.shape[0]):
            vals = x.ravel()[members[g]]  # x̂ from plain numpy on the group, not the package's statistics
            var = vals.var()
            xhat = (vals - vals.mean()) / np.sqrt(var + eps)
            gamma = w[channel_of[members[g]]]
            for direction, leak in ((np.ones_like(vals), 0.0), (xhat, eps / (var + eps))):
                v = np.zeros(x.size)
                v[members[g]] = direction
                want = np.zeros(x.size)
                want[members[g]] = gamma / np.sqrt(var + eps) * leak * direction
                assert np.abs(J @ v - want).max() <= 1e-13 * scale * np.abs(direction).max()
    block = J.toarray()[np.ix_(members[0], members[0])]  # eps = 1e-300
    assert np.linalg.matrix_rank(block) == members.shape[1] - 2


def test_batch_norm_eval_is_diagonal_with_running_statistics():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 2, 2))
    w, rv = rng.standard_normal(2), rng.uniform(0.5, 2, 2)
    J = nm.batch_norm_input_jacobian(x, w, eps=1e-3, training=False, running_var=rv)
    want = np.broadcast_to((w / np.sqrt(rv + 1e-3))[None, :, None], x.shape).ravel()
    assert J.nnz == x.size
    np.testing.assert_allclose(J.toarray(), np.diag(want), rtol=1e-15, atol=0)


def test_bias_jacobians_are_exact_0_1_and_weight_jacobian_holds_xhat():
    B = nm.batch_norm_bias_jacobian((2, 3, 2)).toarray()
    want = np.zeros((12, 3))
    for i, t in enumerate(np.ndindex(2, 3, 2)):
        want[i, t[1]] = 1
    assert np.array_equal(B, want)
    L = nm.layer_norm_bias_jacobian((2, 3), 3).toarray()
    assert np.array_equal(L, np.vstack([np.eye(3), np.eye(3)]))
    x = np.array([[[1.0, 2.0]], [[3.0, 6.0]]])  # channel 0: values 1, 2, 3, 6
    W = nm.batch_norm_weight_jacobian(x, eps=1e-5).toarray()
    v = np.array([1.0, 2, 3, 6])
    np.testing.assert_allclose(W[:, 0], (v - 3) / np.sqrt(v.var() + 1e-5), rtol=1e-14)


# ---------------------------------------------------------------------------
# the trivial gradient check that passes a wrong backward
# ---------------------------------------------------------------------------
def _wrong_backward_forgets_variance(g, x, eps=1e-5):
    """dx = (g − mean(g))/σ per channel: treats σ as a constant (forgets var's dependence on x)."""
    layout = nm._bn_layout(x.shape)
    gg = layout.to_groups(g)
    _, inv, _ = nm._statistics(layout, x, eps)
    return layout.from_groups(inv[:, None] * (gg - gg.mean(axis=1, keepdims=True)))


def _wrong_backward_forgets_mean(g, x, eps=1e-5):
    """dx = (g − x̂·mean(g∘x̂))/σ: treats μ as a constant (forgets the mean's dependence on x)."""
    layout = nm._bn_layout(x.shape)
    gg = layout.to_groups(g)
    _, inv, xhat = nm._statistics(layout, x, eps)
    return layout.from_groups(inv[:, None] * (gg - xhat * np.mean(gg * xhat, axis=1, keepdims=True)))


def _all_ones_gradient_check(backward, x):
    """The check people write: L = sum(BN(x)), compare backward(1) with finite differences of L."""
    loss = lambda z: float(nm.batch_norm(z).sum())  # noqa: E731
    h = 1e-6
    fd = np.zeros(x.size)
    for k in range(x.size):
        e = np.zeros(x.size)
        e[k] = h
        fd[k] = (loss(x + e.reshape(x.shape)) - loss(x - e.reshape(x.shape))) / (2 * h)
    return np.abs(backward(np.ones_like(x), x).ravel() - fd).max() <= 1e-6


def _explicit_comparison(backward, x, rng):
    J = nm.batch_norm_input_jacobian(x).toarray()
    g = rng.standard_normal(x.shape)
    return np.abs(backward(g, x).ravel() - J.T @ g.ravel()).max() <= 1e-10 * np.abs(J).sum(axis=0).max()


def test_all_ones_gradient_check_passes_a_wrong_bn_backward_the_explicit_jacobian_catches_it():
    """sum(BN(x)) is identically 0, so the all-ones check sees only J.T·1 = 0 — which the variance-forgetting
    backward also returns. The explicit Jacobian, with a random upstream gradient, tells them apart."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 2, 3))
    right = lambda g, z: nm.batch_norm_vjp_input(g, z)  # noqa: E731
    assert _all_ones_gradient_check(right, x) and _explicit_comparison(right, x, rng)
    wrong = _wrong_backward_forgets_variance
    assert _all_ones_gradient_check(wrong, x)  # the trivial check passes the bug
    assert not _explicit_comparison(wrong, x, rng)  # the explicit Jacobian catches it


def test_mean_forgetting_backward_is_caught_by_the_explicit_jacobian():
    """The backward that forgets μ's dependence on x: the explicit comparison fails it. (The all-ones check
    happens to catch this one too — J.T·1 = 0 but it returns 1/σ — so the issue's example is the other bug.)"""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 2, 3))
    assert not _explicit_comparison(_wrong_backward_forgets_mean, x, rng)
    assert not _all_ones_gradient_check(_wrong_backward_forgets_mean, x)


# ---------------------------------------------------------------------------
# bad input: one line naming the parameter
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call,exc,message",
    [
        (lambda: nm.batch_norm_input_jacobian(np.ones((2, 3)), eps=0.0), ValueError, r"^eps: must be a finite number > 0"),
        (lambda: nm.layer_norm(np.ones((2, 3)), 3, eps=-1e-5), ValueError, r"^eps: "),
        (lambda: nm.group_norm(np.ones((2, 3)), 3, eps=float("nan")), ValueError, r"^eps: "),
        (lambda: nm.batch_norm(np.ones((2, 3)), eps="small"), TypeError, r"^eps: "),
        (lambda: nm.group_norm_input_jacobian(np.ones((2, 6, 2)), 4), GeometryError,
         r"^num_groups: must divide the number of channels C = 6 \(got 4\)"),
        (lambda: nm.group_norm(np.ones((2, 6, 2)), 0), GeometryError, r"^num_groups: must be a positive integer"),
        (lambda: nm.batch_norm_input_jacobian(np.ones((1, 3))), ValueError,
         r"^x: expected more than 1 value per channel when training"),
        (lambda: nm.batch_norm(np.ones((1, 3, 1, 1))), ValueError, r"^x: expected more than 1 value per channel"),
        (lambda: nm.group_norm(np.ones((1, 3)), 3), ValueError, r"^x: expected more than 1 value per channel"),
        (lambda: nm.instance_norm(np.ones((4, 3, 1))), ValueError, r"^x: expected more than 1 spatial element"),
        (lambda: nm.instance_norm(np.ones((4, 3))), GeometryError, r"^x: must have shape \(N, C, \*S\)"),
        (lambda: nm.batch_norm_input_jacobian(np.ones((2, 3)), training=False), ValueError,
         r"^running_var: required in evaluation mode"),
        (lambda: nm.batch_norm(np.ones((2, 3)), running_var=np.ones(3), training=False), ValueError,
         r"^running_mean: required in evaluation mode"),
        (lambda: nm.batch_norm(np.ones((2, 3)), np.zeros(3), -np.ones(3), training=False), ValueError,
         r"^running_var: must be ≥ 0"),
        (lambda: nm.batch_norm(np.ones((2, 3)), weight=np.ones(2)), GeometryError, r"^weight: must have shape \(3,\)"),
        (lambda: nm.layer_norm(np.ones((2, 3)), (2,)), GeometryError, r"^normalized_shape: must equal the trailing"),
        (lambda: nm.layer_norm(np.ones((2, 3)), 3, weight=np.ones((1, 3))), GeometryError, r"^weight: must have shape"),
        (lambda: nm.batch_norm(np.ones(3)), GeometryError, r"^x: must have shape \(N, C, …\)"),
        (lambda: nm.batch_norm(np.array([[1.0, np.inf], [0.0, 1.0]])), ValueError, r"^x: must be finite"),
        (lambda: nm.batch_norm(np.ones((2, 2)) + 1j), TypeError, r"^x: complex"),
        (lambda: nm.batch_norm(np.ones((2, 2)), training="yes"), TypeError, r"^training: must be True or False"),
    ],
)
def test_bad_input_is_one_line_naming_the_parameter(call, exc, message):
    with pytest.raises(exc, match=message) as info:
        call()
    assert "\n" not in str(info.value)


def test_memory_guard_refuses_training_bn_at_real_size_before_allocating():
    from jacobians.ops._sparse import OperatorTooLargeError

    x = np.zeros((32, 64, 28, 28), dtype=np.float32)
    with pytest.raises(OperatorTooLargeError, match=r"^max_bytes: batch_norm_input_jacobian of shape 1605632x1605632 "
                                                   r"has 40282095616 nonzeros"):
        nm.batch_norm_input_jacobian(x, max_bytes=2**30)


# ---------------------------------------------------------------------------
# dtype rule
# ---------------------------------------------------------------------------
def test_float32_is_preserved_and_close_to_float64():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 2, 4))
    w = rng.standard_normal(2)
    for build in (lambda a, b: nm.batch_norm_input_jacobian(a, b), lambda a, b: nm.group_norm_input_jacobian(a, 1, b),
                  lambda a, b: nm.batch_norm_weight_jacobian(a)):
        j32 = build(x.astype(np.float32), w.astype(np.float32))
        j64 = build(x, w)
        assert j32.dtype == np.float32 and j64.dtype == np.float64
        np.testing.assert_allclose(j32.toarray(), j64.toarray(), rtol=0, atol=1e-5 * np.abs(j64.toarray()).max())
    assert nm.batch_norm(x.astype(np.float32)).dtype == np.float32
    assert nm.batch_norm(x.astype(np.float32), weight=w).dtype == np.float64  # a float64 weight promotes


# ---------------------------------------------------------------------------
# torch: every registered case, and hypothesis sweeps over every argument combination
# ---------------------------------------------------------------------------
@requires_torch
@pytest.mark.torch
@pytest.mark.parametrize("name", ["batch_norm", "layer_norm", "group_norm", "instance_norm"])
def test_registered_cases_agree_with_torch(name):
    check_registered_cases_with_torch(name)


def _sweep(name, inputs, params, m):
    """The generic check with torch on one drawn case whose groups have m entries.

    Groups of m ≤ 2 are left to test_two_entry_groups_cancel_to_the_eps_leak: there every Jacobian entry is
    a cancellation of O(γ/σ) terms down to O(eps) (x̂ = ±1), so the check's tolerance relative to |J| is not
    a meaningful scale for the VJPs' rounding.
    """
    from hypothesis import assume

    from jacobians.check import check_operator
    from jacobians.registry import Case

    assume(m > 2)

    report = check_operator(get_operator(name), Case(inputs, params, "sweep", constant=("running_mean", "running_var")),
                            rng=np.random.default_rng(0), use_torch=True)
    assert any(r.route == "torch" for r in report.results)
    report.assert_ok()


_EPS = st.sampled_from([1e-5, 1e-3, 0.5])
_SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@requires_torch
@pytest.mark.torch
@_SETTINGS
@given(n=st.integers(1, 3), c=st.integers(1, 3), spatial=st.lists(st.integers(1, 3), max_size=2),
       affine=st.tuples(st.booleans(), st.booleans()), training=st.booleans(), eps=_EPS, seed=st.integers(0, 2**16))
def test_hypothesis_batch_norm_against_torch(n, c, spatial, affine, training, eps, seed):
    shape = (n, c, *spatial)
    if training and n * math.prod(spatial) == 1:
        n, shape = 2, (2, c, *spatial)
    rng = np.random.default_rng(seed)
    inputs = {"x": rng.standard_normal(shape) * 2, "weight": rng.standard_normal(c) if affine[0] else None,
              "bias": rng.standard_normal(c) if affine[1] else None}
    if not training:
        inputs.update(running_mean=rng.standard_normal(c), running_var=rng.uniform(0.1, 2, c))
    _sweep("batch_norm", inputs, {"training": training, "eps": eps}, 3 if not training else n * math.prod(spatial))


@requires_torch
@pytest.mark.torch
@_SETTINGS
@given(lead=st.lists(st.integers(1, 3), max_size=2), ns=st.lists(st.integers(1, 3), min_size=1, max_size=2),
       affine=st.tuples(st.booleans(), st.booleans()), as_int=st.booleans(), eps=_EPS, seed=st.integers(0, 2**16))
def test_hypothesis_layer_norm_against_torch(lead, ns, affine, as_int, eps, seed):
    rng = np.random.default_rng(seed)
    shape = (*lead, *ns)
    normalized = ns[0] if as_int and len(ns) == 1 else tuple(ns)
    inputs = {"x": rng.standard_normal(shape) * 2, "weight": rng.standard_normal(ns) if affine[0] else None,
              "bias": rng.standard_normal(ns) if affine[1] else None}
    _sweep("layer_norm", inputs, {"normalized_shape": normalized, "eps": eps}, math.prod(ns))


@requires_torch
@pytest.mark.torch
@_SETTINGS
@given(n=st.integers(1, 2), groups=st.integers(1, 3), per=st.integers(1, 2), spatial=st.lists(st.integers(1, 3), max_size=2),
       affine=st.tuples(st.booleans(), st.booleans()), eps=_EPS, seed=st.integers(0, 2**16))
def test_hypothesis_group_norm_against_torch(n, groups, per, spatial, affine, eps, seed):
    rng = np.random.default_rng(seed)
    c = groups * per
    if n * per * math.prod(spatial) == 1:
        n = 2  # PyTorch refuses a single value per group over the batch (tested below)
    inputs = {"x": rng.standard_normal((n, c, *spatial)) * 2, "weight": rng.standard_normal(c) if affine[0] else None,
              "bias": rng.standard_normal(c) if affine[1] else None}
    _sweep("group_norm", inputs, {"num_groups": groups, "eps": eps}, per * math.prod(spatial))


@requires_torch
@pytest.mark.torch
@_SETTINGS
@given(n=st.integers(1, 2), c=st.integers(1, 3), spatial=st.lists(st.integers(1, 3), min_size=1, max_size=2),
       affine=st.tuples(st.booleans(), st.booleans()), eps=_EPS, seed=st.integers(0, 2**16))
def test_hypothesis_instance_norm_against_torch(n, c, spatial, affine, eps, seed):
    if math.prod(spatial) == 1:
        spatial = [2]
    rng = np.random.default_rng(seed)
    inputs = {"x": rng.standard_normal((n, c, *spatial)) * 2, "weight": rng.standard_normal(c) if affine[0] else None,
              "bias": rng.standard_normal(c) if affine[1] else None}
    _sweep("instance_norm", inputs, {"eps": eps}, math.prod(spatial))


@pytest.mark.parametrize("eps", [1e-5, 0.5])
def test_two_entry_groups_cancel_to_the_eps_leak(eps):
    """m = 2: x̂ = ±sqrt(var/(var + eps)), every entry is (γ/σ)(δ − ½ − x̂_i x̂_j/2) = ±(γ/σ)·eps/(2(var + eps)).

    Checked against that closed form, and the VJPs against Jᵀg with the rounding scale of the terms that
    cancel (γ/σ·|g|), not |J|."""
    x = np.array([[0.3, 1.9], [-1.0, 2.5]])  # layer norm over 2 entries per row
    w = np.array([1.5, -0.7])
    J = nm.layer_norm_input_jacobian(x, 2, w, eps=eps).toarray()
    for r in range(2):
        var = x[r].var()
        leak = eps / (2 * (var + eps)) / np.sqrt(var + eps)
        want = np.array([[1, -1], [-1, 1]]) * leak * w[:, None]
        np.testing.assert_allclose(J[2 * r:2 * r + 2, 2 * r:2 * r + 2], want, rtol=1e-8, atol=0)
    g = np.array([[0.4, -1.2], [2.0, 0.7]])
    layout = nm._ln_layout(x.shape, (2,))
    _, inv, xhat = nm._statistics(layout, x, eps)
    scale = np.abs(w).max() * inv.max() * np.abs(g).sum()
    for vjp in (nm.normalize_vjp_textbook(g, xhat, inv, layout, w), nm.normalize_vjp_staged(g, x, eps, layout, w)):
        assert np.abs(vjp.ravel() - J.T @ g.ravel()).max() <= 1e-15 * scale


@requires_torch
@pytest.mark.torch
def test_pytorch_refuses_what_we_refuse():
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        torch.nn.functional.batch_norm(torch.ones(1, 3), None, None, training=True)
    with pytest.raises(ValueError, match="Expected more than 1 spatial element when training"):
        torch.nn.functional.instance_norm(torch.ones(2, 3, 1))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        torch.nn.functional.group_norm(torch.ones(1, 3), 3)
    torch.nn.functional.group_norm(torch.ones(2, 3), 3)  # one value per group, two samples: accepted
    nm.group_norm(np.ones((2, 3)), 3)


def test_docstring_examples():
    import doctest

    result = doctest.testmod(nm, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 10 and result.failed == 0


@pytest.mark.parametrize(
    "build",
    [
        lambda x: nm.batch_norm_input_jacobian(x),
        lambda x: nm.batch_norm_input_jacobian(x, np.ones(x.shape[1]), training=False, running_var=np.ones(x.shape[1])),
        lambda x: nm.batch_norm_weight_jacobian(x),
        lambda x: nm.group_norm_input_jacobian(x, 2),
    ],
    ids=["bn-train", "bn-eval", "bn-weight", "gn"],
)
def test_peak_memory_of_a_build_is_at_most_one_and_a_half_csr(build):
    """tracemalloc (numpy reports to it): everything a build allocates, the CSR included, ≤ 1.5 × the CSR's bytes."""
    import tracemalloc

    x = np.random.default_rng(0).standard_normal((8, 16, 12, 12)).astype(np.float32)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    J = build(x)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    csr = J.data.nbytes + J.indices.nbytes + J.indptr.nbytes
    assert peak <= 1.5 * csr, f"peak {peak} bytes for a CSR of {csr}"


def test_layer_norm_peak_memory_is_at_most_1_1_csr_over_a_short_axis():
    """Layer norm over (28,) of (4, 32, 28, 28) with γ, a 34 MB CSR of 28 entries per row: x-sized
    float64 temporaries (row coefficients, their dtype copies, int64 diagonal positions) were 1.12×
    the CSR; the chunked fill forms them per chunk (≈ 1.03)."""
    from _helpers import peak_over_csr

    rng = np.random.default_rng(0)
    x, weight = rng.standard_normal((4, 32, 28, 28)), rng.standard_normal(28)
    assert peak_over_csr(lambda: nm.layer_norm_input_jacobian(x, (28,), weight)) <= 1.1
