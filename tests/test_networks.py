"""The notes' networks end to end: chained explicit Jacobians vs backprop vs finite differences vs torch."""
from functools import lru_cache

import numpy as np
import pytest

from jacobians.chain import Chain
from jacobians.ledger.vardhan2022_formulas import vardhan2022_channel_rows
from jacobians.conventions import get_convention
from jacobians.geometry import GeometryError
from jacobians.networks import (
    NETWORKS,
    DD2424OneConvNet,
    Vardhan2022Net,
    Wang2019FCNet,
    compare_gradients,
)
from jacobians.ops import conv2d as c2d
from jacobians.ops import linear as lin
from jacobians.ops import reshape as rs

from conftest import requires_torch

NAMES = sorted(NETWORKS)


@lru_cache(maxsize=None)
def _net(name):
    cls, kw = NETWORKS[name]
    return cls.sample(seed=7, **kw)


@lru_cache(maxsize=None)
def _explicit(name):
    return _net(name).explicit_gradients()


@pytest.mark.parametrize("name", NAMES)
def test_sampled_away_from_kinks_and_ties(name):
    assert _net(name).kink_distance() >= 1e-3


@pytest.mark.parametrize("name", NAMES)
def test_explicit_chain_equals_backprop(name):
    net = _net(name)
    explicit, backprop = _explicit(name), net.backprop_gradients()
    assert set(explicit) == set(net.differentiable) == set(backprop)
    errors = compare_gradients(explicit, backprop)
    assert max(errors.values()) <= 1e-10, errors


@pytest.mark.parametrize("name", NAMES)
def test_explicit_chain_equals_central_differences(name):
    errors = compare_gradients(_explicit(name), _net(name).finite_difference_gradients())
    assert max(errors.values()) <= 1e-6, errors


@requires_torch
@pytest.mark.parametrize("name", NAMES)
def test_explicit_chain_equals_torch_autograd(name):
    errors = compare_gradients(_explicit(name), _net(name).torch_gradients())
    assert max(errors.values()) <= 1e-10, errors


def test_gradient_route_disagreement_is_detected():
    # the comparison can fail: a gradient scaled by 1.001 is caught
    net = _net("wang2019-fc")
    wrong = {k: 1.001 * v for k, v in net.backprop_gradients().items()}
    assert max(compare_gradients(_explicit("wang2019-fc"), wrong).values()) > 1e-6


# --- note 000: one SGD step (eq. 4.1) --------------------------------------------
def test_wang_sgd_step_follows_eq_4_1_and_decreases_the_loss():
    net = _net("wang2019-fc")
    grads = _explicit("wang2019-fc")
    lr = 1e-3
    stepped = net.sgd_step(lr)
    for l in range(1, net.n_layers + 1):
        assert np.allclose(stepped.values[f"W{l}"], net.values[f"W{l}"] - lr * grads[f"W{l}"], rtol=0, atol=1e-14)
    assert np.array_equal(stepped.values["X"], net.values["X"])
    # first-order prediction of the decrease: α Σ_l ‖∂Q/∂W⁽ˡ⁾‖²
    predicted = lr * sum(float(np.sum(grads[f"W{l}"] ** 2)) for l in range(1, net.n_layers + 1))
    decrease = net.loss() - stepped.loss()
    assert decrease > 0 and abs(decrease - predicted) <= 0.05 * predicted


def test_wang_explicit_chains_are_column_major():
    # the chain's gradient is in Wang's column-major vec: unvec with C order would scramble it
    net = _net("wang2019-fc")
    row = net.explicit_chains()["W1"].gradient()
    w1 = net.values["W1"]
    assert np.allclose(row, _explicit("wang2019-fc")["W1"].ravel(order="F"), rtol=0, atol=1e-14)
    assert not np.allclose(row, _explicit("wang2019-fc")["W1"].ravel(), atol=1e-6) or w1.shape[0] == 1


# --- note 004 ---------------------------------------------------------------------
def test_dd2424_filter_gradient_is_per_plane_not_summed_over_planes():
    # Note 004 writes ∂l/∂vec(F_1) = Σ_i ∂l/∂vec(S_1) M_{X_i}^im and ∂l/∂F_i = Σ_j X_j * ∂l/∂S_i.
    # The product (g_1 g_2 g_3)(M_X1 M_X2 M_X3; 0 0 0; 0 0 0) is the CONCATENATION
    # (g_1 M_X1, g_1 M_X2, g_1 M_X3) (1 × 3f²); summing the blocks (1 × f²) is not the gradient.
    net = _net("dd2424-one-conv")
    f = net.forward()
    x = net.values["X"]
    row_s = net.explicit_chains()["F1"].links[2].jacobian().toarray().ravel()  # ∂l/∂vec(S)
    t = f["S1"].size
    g1 = row_s[:t]
    blocks = [g1 @ c2d.conv2d_weight_jacobian(x[j : j + 1], (1, 1, 3, 3)).toarray() for j in range(3)]
    grad_f1 = _explicit("dd2424-one-conv")["F1"]
    for j in range(3):  # plane j of the gradient: g_1 M_{X_j}^im = X_j * ∂l/∂S_1
        assert np.allclose(blocks[j], grad_f1[j].ravel(), rtol=0, atol=1e-12)
        corr = c2d.conv2d(x[j][None, None], g1.reshape(1, 1, *f["S1"].shape))[0, 0]
        assert np.allclose(corr.ravel(), grad_f1[j].ravel(), rtol=0, atol=1e-12)
    summed = sum(blocks)
    assert summed.shape == (9,) and grad_f1.size == 27
    assert all(np.max(np.abs(summed - grad_f1[j].ravel())) > 1e-3 for j in range(3))


def test_dd2424_softmax_ce_row_is_p_minus_y():
    net = _net("dd2424-one-conv")
    f = net.forward()
    head = Chain(net.explicit_chains()["b"].links[1:])  # dp/ds then dl/dp
    assert np.allclose(head.jacobian().toarray().ravel(), f["p"] - net.values["y"], rtol=0, atol=1e-15)


def test_dd2424_two_conv_fan_out_link_sums_filter_matrices():
    net = _net("dd2424-two-conv")
    fan = net.explicit_chains()["X"].links[1].links[1]  # tail1 = relu1, fan, tail2
    f = net.forward()
    assert (fan.jacobian() != c2d.conv2d_input_jacobian(net.values["F2"], f["X1"].shape)).nnz == 0


# --- note 001 ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["vardhan2022-avg", "vardhan2022-max"])
def test_vardhan_numerator_layout_results(name):
    net = _net(name)
    f, v = net.forward(), net.values
    chains = net.explicit_chains()
    # §3.1.1: dJ/dW⁽³⁾ = (dJ/dZ⁽³⁾)ᵀ B⁽²⁾ᵀ is n_Z × n_B; the gradient is its transpose
    dj_dz3 = Chain(chains["b3"].links[1:]).jacobian().toarray()
    dj_dw, _, _ = lin.linear_wtb_b_row_jacobians(dj_dz3, f["B2"], v["W3"])
    assert dj_dw.shape == v["W3"].shape[::-1]
    assert np.allclose(dj_dw.T, _explicit(name)["W3"], rtol=0, atol=1e-14)
    # §3.1.5: dJ/db⁽²⁾ = (dJ/d_vZ⁽²⁾ 1)ᵀ with dJ/d_vZ⁽²⁾ reshaped to c × (h·w), one row per channel
    dj_dvz2 = chains["b2"].links[1].jacobian().toarray()
    rows = vardhan2022_channel_rows(dj_dvz2, f["Z2"].shape[0])
    assert np.allclose(rows @ np.ones(rows.shape[1]), _explicit(name)["b2"], rtol=0, atol=1e-14)
    # §3.1.5: dJ/d_vK_{:,i} = (dJ/d_vZ) · d_vZ_j/d_vK_{j,i}, the same matrix for every j:
    # row j is the column-major vec of the gradient of K_{j,i}
    col = get_convention("vardhan2022")
    k2 = v["K2"]
    for i in range(k2.shape[1]):
        m = c2d.conv2d_weight_jacobian(f["A1"][i : i + 1], (1, 1, *k2.shape[2:]))
        m_col = col.jacobian(m, (1, *f["Z2"].shape[1:]), (1, 1, *k2.shape[2:])).toarray()
        per_kernel = rows @ m_col
        for j in range(k2.shape[0]):
            assert np.allclose(per_kernel[j], _explicit(name)["K2"][j, i].ravel(order="F"), rtol=0, atol=1e-13)


def test_vardhan_bias_gradient_is_not_the_transposed_bias_jacobian():
    # §3.2 writes ∇_b J = (d_vZ⁽²⁾/d_v b)ᵀ: that is the 0/1 matrix (c × c·h·w), independent of J.
    # The gradient is (dJ/db)ᵀ = (dJ/d_vZ · d_vZ/db)ᵀ, a vector of c entries.
    net = _net("vardhan2022-avg")
    link = net.explicit_chains()["b2"].links[0].jacobian()
    as_written = link.T.toarray()
    grad = _explicit("vardhan2022-avg")["b2"]
    assert as_written.shape == (grad.size, link.shape[0]) != grad.shape
    assert set(np.unique(as_written)) == {0.0, 1.0}


# --- bad input --------------------------------------------------------------------
def test_non_one_hot_label_is_refused_in_one_line():
    net = _net("dd2424-one-conv")
    values = dict(net.values, y=np.full(net.values["y"].size, 1 / net.values["y"].size))
    with pytest.raises(ValueError, match="y: non-one-hot label where one-hot is required") as info:
        DD2424OneConvNet(values)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="y: non-one-hot label"):
        Vardhan2022Net(dict(_net("vardhan2022-avg").values, y=np.array([0.0, 2.0, 0.0, 0.0])))


def test_shape_mismatches_are_refused_in_one_line():
    net = _net("wang2019-fc")
    with pytest.raises(GeometryError, match=r"W2: must have shape \(d_2, 5\) to follow layer 1") as info:
        Wang2019FCNet(dict(net.values, W2=np.zeros((3, 4))))
    assert "\n" not in str(info.value)
    chains = _net("dd2424-one-conv").explicit_chains()
    with pytest.raises(ValueError, match=r"chain 'bad': link 'M_X\^im \(S1\)' takes 27 inputs but link 'ds/dvecW' gives 4") as info:
        Chain([chains["W"].links[0], chains["F1"].links[0]], name="bad")
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="pooling: must be 'avg' or 'max'"):
        Vardhan2022Net(_net("vardhan2022-avg").values, pooling="min")


def test_route_errors_summary():
    errors = _net("mint-conv-linear").route_errors(use_torch=False)
    assert set(errors) == {"backprop", "fd"}
    assert errors["backprop"] <= 1e-10 and errors["fd"] <= 1e-6


@pytest.mark.parametrize("name", ["dd2424-two-conv", "vardhan2022-max"])
def test_chain_vjp_in_reverse_equals_chain_product(name):
    # the same links, applied as VJPs from the loss backwards (nested chains, fan-out +=)
    for pname, chain in _net(name).explicit_chains().items():
        product = chain.gradient()
        reverse = chain.vjp(np.ones(1))
        assert np.max(np.abs(reverse - product)) <= 1e-12 * max(1.0, np.max(np.abs(product))), pname
