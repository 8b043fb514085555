"""Chain: numerator-layout products, reverse-order VJPs, fan-out sums, one-line errors."""
import numpy as np
import pytest
import scipy.sparse as sp

from jacobians.chain import Chain, Link, fan_out, fan_out_gradient
from jacobians.ops import conv2d as c2d
from jacobians.ops import linear as lin
from jacobians.ops import reshape as rs

RNG = np.random.default_rng(4)


def _never_built():
    raise AssertionError("the VJP route must not build this matrix")


def test_jacobian_is_product_in_numerator_order():
    a, b, c = RNG.standard_normal((4, 3)), RNG.standard_normal((2, 4)), RNG.standard_normal((1, 2))
    chain = Chain([Link("A", a), Link("B", b), Link("C", c)])
    assert np.allclose(chain.jacobian().toarray(), c @ b @ a, rtol=1e-13, atol=1e-13)
    # the same chain written loss side first, as the notes write products
    assert np.array_equal(Chain.numerator(Link("C", c), Link("B", b), Link("A", a)).jacobian().toarray(),
                          chain.jacobian().toarray())


def test_size_mismatch_names_both_links_in_one_line():
    with pytest.raises(ValueError, match=r"link 'dl/ds' takes 5 inputs but link 'ds/dvecH' gives 4 outputs") as info:
        Chain([Link("ds/dvecH", np.ones((4, 3))), Link("dl/ds", np.ones((1, 5)))], name="fc")
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match=r"link 'M': built Jacobian has shape \(2, 2\), declared \(out, in\) = \(3, 2\)"):
        Link("M", build=lambda: np.eye(2), in_size=2, out_size=3).jacobian()
    with pytest.raises(ValueError, match="gradient needs a scalar output"):
        Chain([Link("A", np.ones((2, 2)))]).gradient()


def _conv_relu_fc_chain(use_own_vjps):
    """x -> conv2d (stride 2, padding 1) -> ReLU -> s = W vec(H) + b, as explicit links."""
    x = RNG.standard_normal((2, 6, 5))
    weight = RNG.standard_normal((3, 2, 3, 3))
    p = dict(stride=2, padding=1)
    y = c2d.conv2d(x, weight, **p)
    mask = (y > 0).astype(float).ravel()
    w_fc = RNG.standard_normal((4, y.size))

    def conv_vjp(g):
        return c2d.conv2d_vjp_input_rot180(g.reshape(y.shape), x, weight, **p).ravel()

    links = [
        Link("dS/dX", build=(_never_built if use_own_vjps else lambda: c2d.conv2d_input_jacobian(weight, x.shape, **p)),
             vjp=conv_vjp if use_own_vjps else None, in_size=x.size, out_size=y.size),
        Link("relu", build=(_never_built if use_own_vjps else lambda: sp.diags_array(mask)),
             vjp=(lambda g: mask * g) if use_own_vjps else None, in_size=y.size, out_size=y.size),
        Link("ds/dvecH", build=(_never_built if use_own_vjps else lambda: lin.linear_wvec_b_input_jacobian(y, w_fc)),
             vjp=(lambda g: lin.linear_wvec_b_vjp_input(g, y, w_fc).ravel()) if use_own_vjps else None,
             in_size=y.size, out_size=4),
    ]
    return Chain(links, name="conv-relu-fc")


def test_chain_vjp_uses_factor_vjps_and_equals_transposed_product():
    g = RNG.standard_normal(4)
    rng_state = RNG.bit_generator.state
    built = _conv_relu_fc_chain(use_own_vjps=False)
    RNG.bit_generator.state = rng_state
    matrix_free = _conv_relu_fc_chain(use_own_vjps=True)
    J = built.jacobian()
    expected = J.T @ g
    got = matrix_free.vjp(g)  # _never_built would raise if any matrix were formed
    scale = (abs(J).T @ np.abs(g)).max()
    assert np.max(np.abs(got - expected)) <= 1e-10 * scale


def test_gradient_is_transposed_row_jacobian():
    # scalar loss l = ½‖Z − Y‖² after Z = X Wᵀ: gradient w.r.t. W through the chain
    x, w, y = RNG.standard_normal((3, 4)), RNG.standard_normal((2, 4)), RNG.standard_normal((3, 2))
    z = lin.linear_xwt(x, w)
    chain = Chain([Link("dZ/dW", lin.linear_xwt_weight_jacobian(x, w)), Link("dl/dZ", (z - y).reshape(1, -1))])
    grad = chain.gradient()
    assert grad.shape == (w.size,)
    row = chain.jacobian()
    assert row.shape == (1, w.size) and np.array_equal(grad, row.toarray().ravel())
    # the note 000 eq. 2.3 route: (∂Q/∂Z)ᵀ X
    assert np.allclose(grad.reshape(w.shape), (z - y).T @ x, rtol=1e-12, atol=1e-12)


def test_fan_out_sum_equals_stacked_filter_matrices():
    # note 004: X⁽¹⁾ feeds S_1⁽²⁾, S_2⁽²⁾, S_3⁽²⁾. Branch i = (0; I_t; 0) M_{F_2i}^filter.
    # Summing the branches must give the stacked M_F^filter (conv2d_input_jacobian), and
    # Σ_i ∂l/∂vec(S_i) M_{F_2i} must equal ∂l/∂vec(S) times it.
    x1 = RNG.standard_normal((3, 6, 6))
    f2 = RNG.standard_normal((3, 3, 3, 3))
    t = 16
    branches = [
        Chain([Link(f"M_F2{i + 1}", c2d.conv2d_input_jacobian(f2[i : i + 1], x1.shape)),
               Link(f"stack{i + 1}", rs.stack_jacobian(i, 3, t))], name=f"branch{i + 1}")
        for i in range(3)
    ]
    fan = fan_out("X1->S2", branches)
    stacked = c2d.conv2d_input_jacobian(f2, x1.shape)
    assert (fan.jacobian() != stacked).nnz == 0  # disjoint row blocks: exact
    g = RNG.standard_normal(3 * t)
    literal = fan_out_gradient([g[i * t : (i + 1) * t] for i in range(3)],
                               [c2d.conv2d_input_jacobian(f2[i : i + 1], x1.shape) for i in range(3)])
    assert np.allclose(literal, stacked.T @ g, rtol=1e-12, atol=1e-12 * np.abs(g).sum())
    assert np.allclose(fan.vjp(g), stacked.T @ g, rtol=1e-12, atol=1e-12 * np.abs(g).sum())


def test_fan_out_rejects_mismatched_branches():
    with pytest.raises(ValueError, match=r"fan_out 'f': branch 'b' maps 3 -> 2 but branch 'a' maps 3 -> 4"):
        fan_out("f", [Link("a", np.ones((4, 3))), Link("b", np.ones((2, 3)))])
    with pytest.raises(ValueError, match=r"^rows\[1\]: has 3 entries but jacobians\[1\] has 2 rows"):
        fan_out_gradient([np.ones(2), np.ones(3)], [sp.eye(2), sp.eye(2)])
