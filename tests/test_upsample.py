"""interpolate: PyTorch's index rules (nearest, nearest-exact, bilinear, align_corners, size vs scale_factor).

Routes: the direct CSR builder against torch.func.jacrev of F.interpolate
(torch's *backward* kernels) and against probing torch's *forward* with basis
images (so a framework whose forward and backward disagree — pytorch#65200,
#97135 — would show up as a failure of one of the two); scipy's own kron of
the one-axis factors; structural properties (one exact 1 per nearest row,
bilinear rows summing to 1).
"""
import math

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import requires_torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jacobians.geometry import GeometryError
from jacobians.ops import upsample as up


def test_nearest_2x2_to_4x4_is_the_16x4_selection():
    got = up.interpolate_jacobian((1, 2, 2), scale_factor=2).toarray()
    want = np.zeros((16, 4))
    for p in range(4):
        for q in range(4):
            want[p * 4 + q, (p // 2) * 2 + q // 2] = 1.0
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "mode,ac", [("nearest", None), ("nearest-exact", None), ("bilinear", False), ("bilinear", True), ("bicubic", False)]
)
@pytest.mark.parametrize("shape,size,sf", [((3, 4, 5), (7, 3), None), ((2, 5, 3), None, (1.7, 0.6)), ((1, 3, 3), None, 1.3)])
def test_jacobian_is_kron_of_axis_factors(mode, ac, shape, size, sf):
    """The direct 2-D build equals scipy's kron(I_C, kron(A_h, A_w)) of the one-axis matrices."""
    got = up.interpolate_jacobian(shape, size=size, scale_factor=sf, mode=mode, align_corners=ac)
    sfp = (None, None) if sf is None else ((sf, sf) if not isinstance(sf, tuple) else sf)
    oh, ow = size if size is not None else (math.floor(shape[1] * sfp[0]), math.floor(shape[2] * sfp[1]))
    a_h = up.interpolate_axis_matrix(shape[1], oh, sfp[0], mode, ac)
    a_w = up.interpolate_axis_matrix(shape[2], ow, sfp[1], mode, ac)
    want = sp.kron(sp.eye_array(shape[0]), sp.kron(a_h, a_w))
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.toarray(), want.toarray())
    if mode.startswith("nearest"):  # one exact 1 per row
        assert np.all(np.diff(got.indptr) == 1) and np.all(got.data == 1.0)
    else:  # up to 4 (bicubic 16) stored weights per row, summing to 1, none zero
        assert np.diff(got.indptr).max() <= (4 if mode == "bilinear" else 16) and np.all(got.data != 0)
        np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=0, atol=4e-15)


def test_batched_jacobian_is_block_diagonal_and_float32_kept():
    one = up.interpolate_jacobian((2, 3, 4), size=(5, 2), mode="bilinear")
    many = up.interpolate_jacobian((3, 2, 3, 4), size=(5, 2), mode="bilinear")
    np.testing.assert_array_equal(many.toarray(), sp.block_diag([one] * 3).toarray())
    assert up.interpolate_jacobian((1, 2, 2), scale_factor=2, dtype=np.float32).dtype == np.float32
    assert up.interpolate(np.ones((1, 2, 2), np.float32), scale_factor=2).dtype == np.float32


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(), r"^size: give exactly one of size and scale_factor"),
        (dict(size=3, scale_factor=2), r"^size: give exactly one"),
        (dict(size=3, align_corners=True), r"^align_corners: can only be set with the interpolating modes"),
        (dict(size=3, mode="trilinear"), r"^mode: must be one of"),
        (dict(scale_factor=0.2), r"^scale_factor: output height floor\(3·0.2\) = 0 must be positive"),
        (dict(scale_factor=-1.0), r"^scale_factor: the height factor must be a positive finite number"),
        (dict(scale_factor=(1, 2, 3)), r"^scale_factor: must be a number or a pair"),
        (dict(size=0), r"^size: must be a positive integer"),
        (dict(size=3, recompute_scale_factor=True), r"^recompute_scale_factor: only meaningful with scale_factor"),
        (dict(size=3, antialias=True), r"^antialias: not supported"),
    ],
)
def test_bad_arguments_give_one_line(kwargs, message):
    with pytest.raises(GeometryError, match=message) as info:
        up.interpolate_jacobian((1, 3, 4), **kwargs)
    assert "\n" not in str(info.value)
    with pytest.raises(GeometryError, match=message):
        up.interpolate(np.ones((1, 3, 4)), **kwargs)


# --- against torch -----------------------------------------------------------------
def _torch_jacobians(shape, params):
    """(jacrev of F.interpolate — the backward kernels, forward probed with basis images)."""
    import torch
    import torch.nn.functional as F

    def f(t):
        return F.interpolate(t[None], **params)[0]

    x = torch.zeros(shape, dtype=torch.float64)
    jac = torch.func.jacrev(f)(x)
    n = int(np.prod(shape))
    basis = torch.eye(n, dtype=torch.float64).reshape(n, *shape)
    probed = F.interpolate(basis, **params).reshape(n, -1).T  # column k = f(e_k)
    return jac.reshape(-1, n).numpy(), probed.numpy()


def _check_against_torch(shape, params):
    """Our Jacobian equals torch's jacrev (backward kernels) and torch's forward (probed) wherever torch agrees
    with itself; where it does not (see the two pinned tests below) it equals one of them: nearest the backward,
    bicubic the forward — whichever follows the documented rule."""
    got = up.interpolate_jacobian(shape, **params).toarray()
    jac, probed = _torch_jacobians(shape, params)
    assert got.shape == jac.shape, (got.shape, jac.shape)
    # nearest: exact selections (0 ulp). bilinear / bicubic: weights whose src = r·(dst + ½) − ½ torch's
    # kernels round in a different order (seen: 2 ulp of 0.27), so a few ulp of 1
    # bicubic: clamped reads merge up to 3 weights (|w| ≤ 1.1) summed in another order: a few ulp more
    tol = {"bilinear": 8, "bicubic": 32}.get(params["mode"], 0) * np.finfo(np.float64).eps
    consistent = np.all(np.abs(jac - probed) <= tol, axis=1)
    if params["mode"] == "bilinear":
        assert consistent.all(), "torch's bilinear forward and backward disagree"
    np.testing.assert_allclose(got[consistent], jac[consistent], rtol=0, atol=tol)
    np.testing.assert_allclose(got[consistent], probed[consistent], rtol=0, atol=tol)
    follows = jac if params["mode"].startswith("nearest") else probed
    np.testing.assert_allclose(got[~consistent], follows[~consistent], rtol=0, atol=tol)
    x = np.random.default_rng(0).standard_normal(shape)
    np.testing.assert_allclose(up.interpolate(x, **params).ravel(), got @ x.ravel(), rtol=0, atol=1e-13)


#: every (n, m) pair up to 9 on one axis, for every mode, given as size and as scale m/n and odd factors
GRID_SCALES = [0.3, 0.5, 0.77, 1.0239041660002521, 1.295275651786123, 1.3, 1.5, 2.0, 2.1, 2.5, 3.0, 3.7]


@requires_torch
@pytest.mark.parametrize(
    "mode,ac",
    [("nearest", None), ("nearest-exact", None), ("bilinear", False), ("bilinear", True), ("bicubic", False), ("bicubic", True)],
)
def test_grid_of_sizes_and_scales_against_torch(mode, ac):
    count = 0
    for n in range(1, 9):
        for m in range(1, 10):
            _check_against_torch((1, 2, n), dict(size=(3, m), mode=mode, align_corners=ac))
            count += 1
        for s in GRID_SCALES:
            if math.floor(n * s) >= 1:
                _check_against_torch((1, n, 2), dict(scale_factor=(s, 1.5), mode=mode, align_corners=ac))
                count += 1
    assert count > 150


@st.composite
def interp_args(draw):
    mode = draw(st.sampled_from(sorted(up.INTERPOLATE_MODES)))
    ac = draw(st.sampled_from([None, False, True])) if mode in ("bilinear", "bicubic") else None
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    if draw(st.booleans()):
        params = dict(size=(draw(st.integers(1, 11)), draw(st.integers(1, 11))))
    else:
        sh = draw(st.floats(0.2, 4.0, allow_nan=False).filter(lambda s: math.floor(h * s) >= 1))
        sw = draw(st.floats(0.2, 4.0, allow_nan=False).filter(lambda s: math.floor(w * s) >= 1))
        params = dict(scale_factor=(sh, sw), recompute_scale_factor=draw(st.sampled_from([None, False, True])))
    params.update(mode=mode, align_corners=ac)
    return (draw(st.integers(1, 2)), h, w), params


N_SWEEP = 150


@requires_torch
@settings(max_examples=N_SWEEP, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(drawn=interp_args())
def test_hypothesis_against_torch(drawn):
    shape, params = drawn
    _check_against_torch(shape, params)
    # and both VJP routes against torch autograd
    import torch
    import torch.nn.functional as F

    x = np.random.default_rng(1).standard_normal(shape)
    xt = torch.tensor(x[None], requires_grad=True)
    y = F.interpolate(xt, **params)
    g = np.random.default_rng(2).standard_normal(tuple(y.shape[1:]))
    y.backward(torch.tensor(g[None]))
    jac, probed = _torch_jacobians(shape, params)
    # torch's autograd where its backward agrees with its forward; else the forward's adjoint (bicubic, see below)
    self_consistent = np.abs(jac - probed).max() <= 1e-13
    want = xt.grad.numpy()[0]
    if not self_consistent and params["mode"] == "bicubic":
        want = (probed.T @ g.ravel()).reshape(shape)
    for route in (up.interpolate_vjp_scatter, up.interpolate_vjp_separable):
        np.testing.assert_allclose(route(g, x, **params), want, rtol=0, atol=1e-13)


def _float_sensitive_pairs(mode, limit=6):
    """(n, m) where ⌊·⌋ of the source index differs between float32 and float64 arithmetic."""
    out = []
    for n in range(2, 40):
        for m in range(1, 200):
            if mode == "nearest" and m in (n, 2 * n):
                continue
            d = np.arange(m)
            r32 = np.float32(n) / np.float32(m)
            f32 = np.floor(d.astype(np.float32) * r32) if mode == "nearest" else np.floor(((d + 0.5) * np.float64(r32)).astype(np.float32))
            f64 = np.floor(d * (n / m)) if mode == "nearest" else np.floor((d + 0.5) * (n / m))
            if (np.minimum(f32, n - 1) != np.minimum(f64, n - 1)).any():
                out.append((n, m))
                if len(out) == limit:
                    return out
    return out


@requires_torch
@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
def test_nearest_source_index_in_float32_like_torch(mode):
    """PyTorch computes the nearest source index in float32: at these sizes float64 would pick other pixels."""
    pairs = _float_sensitive_pairs(mode)
    assert pairs, "no size pair where float32 and float64 differ"
    for n, m in pairs:
        _check_against_torch((1, 1, n), dict(size=(1, m), mode=mode))


@requires_torch
def test_torch_nearest_forward_and_backward_disagree():
    """Found by this check (torch 2.13.0, CPU): resizing a length-2 axis to 164 with mode="nearest",
    torch's forward reads input 1 at output 82 while its backward (hence jacrev) routes output 82's
    gradient to input 0. PyTorch's documented rule, floor(82 · float32(2/164)) = floor(0.99999994) = 0,
    is the backward's; the exact 82 · 2/164 = 1 is the forward's. We follow the rule (and the backward).
    If this test fails after a torch upgrade, torch made the two agree: drop the exemption above."""
    _, _, (idx, _, _) = up._tables((1, 2), (1, 164), None, "nearest", None)
    assert idx[82, 0] == 0
    jac, probed = _torch_jacobians((1, 1, 2), dict(size=(1, 164), mode="nearest"))
    assert jac[82].tolist() == [1.0, 0.0]
    assert probed[82].tolist() == [0.0, 1.0]


def test_docstring_examples():
    import doctest

    result = doctest.testmod(up, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 3 and result.failed == 0


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_peak_memory_is_close_to_the_final_csr(mode):
    from _helpers import peak_over_csr as _peak_over_csr

    assert _peak_over_csr(lambda: up.interpolate_jacobian((16, 40, 40), scale_factor=2, mode=mode)) <= 1.1


@requires_torch
def test_recompute_scale_factor_changes_the_matrix_like_torch():
    """scale 1.7 on 3 → 5 outputs: r = 1/1.7 by default, r = 3/5 with recompute_scale_factor=True."""
    p = dict(scale_factor=(1.0, 1.7), mode="bilinear")
    plain = up.interpolate_jacobian((1, 1, 3), **p).toarray()
    again = up.interpolate_jacobian((1, 1, 3), recompute_scale_factor=True, **p).toarray()
    assert plain.shape == again.shape == (5, 3) and np.abs(plain - again).max() > 0.01
    _check_against_torch((1, 1, 3), dict(p, recompute_scale_factor=True))
    _check_against_torch((1, 1, 3), p)


@requires_torch
def test_torch_bicubic_forward_and_backward_disagree_when_the_size_is_kept():
    """Found by this check (torch 2.13.0, CPU): bicubic with scale_factor=1.3 on a 3×3 image keeps the size 3;
    the forward interpolates (r = 1/1.3, no special case for bicubic) while the backward copies. We follow the
    forward (the documented rule). If this fails after a torch upgrade, torch made the two agree."""
    params = dict(scale_factor=1.3, mode="bicubic")
    jac, probed = _torch_jacobians((1, 3, 3), params)
    np.testing.assert_array_equal(jac, np.eye(9))
    assert np.abs(probed - np.eye(9)).max() > 0.5
    np.testing.assert_allclose(up.interpolate_jacobian((1, 3, 3), **params).toarray(), probed, rtol=0, atol=1e-15)
