"""The notes' worked examples against the entries the notes print.

The printed entries are typed in below as data (index tuples, never parsed
text) and compared exactly (``expand(a − b) == 0``) with the matrices of
:mod:`symbolic.examples`, which are built by the explicit builders with
symbolic values. A second, independent route (sympy differentiation of the
forward, or a direct loop over the note's own formula) backs each structural
claim. Where a note prints something that is not right, the test keeps the
printed data and asserts exactly which entries differ (an erratum).
"""
from __future__ import annotations

import numpy as np
import pytest
import sympy
from sympy import Max, Symbol

from jacobians.ledger.vardhan2022_formulas import vardhan2022_mask_column
from symbolic import ops as sym_ops
from symbolic.examples import APPENDIX_B_POINT, EXAMPLES, get_example, unfold_positions
from symbolic.ops import differing_entries, vec_column


def X(i, j):
    return Symbol(f"X_{i}{j}")


def F(i, j):
    return Symbol(f"F_{i}{j}")


def g(k):
    return Symbol(f"g_{k}")


def same(a, b) -> bool:
    return sympy.expand(sympy.sympify(a) - sympy.sympify(b)) == 0


def _one_plane_forward():
    """The lecture's 6×6 image of X_ij and 3×3 filter of F_ij (object arrays) and their symbolic forward
    S = X * F (1, 4, 4) — the independent route the printed M_X^im / M_F^filter are differentiated from."""
    x = np.array([[X(i, j) for j in range(1, 7)] for i in range(1, 7)], dtype=object)
    f = np.array([[F(i, j) for j in range(1, 4)] for i in range(1, 4)], dtype=object)
    return x, f, sym_ops.conv2d(x[None], f[None, None])


def _four_plane_forward():
    """The multi-plane slides' 6×6×4 image (X_k,i,j) and one 3×3×4 filter (F_k,i,j) and their symbolic forward."""
    x = np.array([[[Symbol(f"X_{k},{i},{j}") for j in range(1, 7)] for i in range(1, 7)] for k in range(1, 5)],
                 dtype=object)
    f = np.array([[[Symbol(f"F_{k},{i},{j}") for j in range(1, 4)] for i in range(1, 4)] for k in range(1, 5)],
                 dtype=object)
    return x, f, sym_ops.conv2d(x, f[None])


@pytest.fixture(scope="module")
def ex():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = EXAMPLES[name]()
        return cache[name]

    return get


def test_registry_names():
    expected = {
        "dd2424.m_x_im", "dd2424.m_x_im_multiplane", "dd2424.m_f_filter", "dd2424.m_f_filter_multiplane",
        "dd2424.v_rot180", "dd2424.v_rot180_multiplane", "dd2424.v_m_x_im", "dd2424.grad_filter_multiplane",
        "vardhan2022.appendix_a", "vardhan2022.appendix_b", "wang2019.unfold", "wang2019.fold",
    }
    assert expected <= set(EXAMPLES)
    with pytest.raises(ValueError, match="unknown name 'nope'.*dd2424.m_x_im"):
        get_example("nope")


def test_every_example_returns_sympy_objects(ex):
    for name in EXAMPLES:
        items = ex(name)
        assert items, name
        for label, value in items.items():
            assert isinstance(value, (sympy.MatrixBase, sympy.Basic)), (name, label, type(value))


# ---------------------------------------------------------------------------
# DD2424 lecture 6
# ---------------------------------------------------------------------------
#: M_X^im rows as printed on the slides: rows 1–5 and the last row (16), 1-based (row, col) of X.
M_X_IM_PRINTED = {
    1: [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3), (3, 1), (3, 2), (3, 3)],
    2: [(1, 2), (1, 3), (1, 4), (2, 2), (2, 3), (2, 4), (3, 2), (3, 3), (3, 4)],
    3: [(1, 3), (1, 4), (1, 5), (2, 3), (2, 4), (2, 5), (3, 3), (3, 4), (3, 5)],
    4: [(1, 4), (1, 5), (1, 6), (2, 4), (2, 5), (2, 6), (3, 4), (3, 5), (3, 6)],
    5: [(2, 1), (2, 2), (2, 3), (3, 1), (3, 2), (3, 3), (4, 1), (4, 2), (4, 3)],
    16: [(4, 4), (4, 5), (4, 6), (5, 4), (5, 5), (5, 6), (6, 4), (6, 5), (6, 6)],
}
#: the slides' highlighted columns of M_X^im and the top-left corner of the 4×4 block of X they hold
M_X_IM_COLUMN_BLOCKS = {2: (1, 2), 3: (1, 3), 4: (2, 1), 9: (3, 3)}


def test_dd2424_m_x_im_printed_rows(ex):
    m = ex("dd2424.m_x_im")["M_X^im"]
    assert m.shape == (16, 9)
    for row, entries in M_X_IM_PRINTED.items():
        assert [m[row - 1, c] for c in range(9)] == [X(i, j) for i, j in entries], f"row {row}"


def test_dd2424_m_x_im_columns_are_blocks_of_x(ex):
    m = ex("dd2424.m_x_im")["M_X^im"]
    for col, (top, left) in M_X_IM_COLUMN_BLOCKS.items():
        block = [X(top + r, left + c) for r in range(4) for c in range(4)]
        assert list(m[:, col - 1]) == block, f"column {col}"


def test_dd2424_m_x_im_times_vec_f_is_the_slides_formula(ex):
    """vec(S) = M_X^im vec(F) against S_lm = Σ_ij X_{i+l−1, j+m−1} F_ij typed from the slides."""
    s = ex("dd2424.m_x_im")["vec(S) = M_X^im vec(F)"]
    formula = [sum(X(i + l - 1, j + m - 1) * F(i, j) for i in range(1, 4) for j in range(1, 4))
               for l in range(1, 5) for m in range(1, 5)]
    assert all(same(a, b) for a, b in zip(s, formula))
    assert s.shape == (16, 1)


def test_dd2424_m_x_im_equals_the_derivative_of_the_forward(ex):
    m = ex("dd2424.m_x_im")["M_X^im"]
    x, f, y = _one_plane_forward()
    assert differing_entries(m, y.jacobian(vec_column(f, "dd2424"))) == []


def test_dd2424_m_x_im_multiplane_blocks(ex):
    items = ex("dd2424.m_x_im_multiplane")
    m = items["M_X^im"]
    assert m.shape == (16, 36)
    x, f, y = _four_plane_forward()
    for k in range(4):
        block = items[f"M_X{k + 1}^im"]
        assert block.shape == (16, 9)
        # independent route: differentiate w.r.t. plane k of F₁ only
        assert differing_entries(block, y.jacobian(vec_column(f[k], "dd2424"))) == []
        assert block[0, 0] == Symbol(f"X_{k + 1},1,1") and block[15, 8] == Symbol(f"X_{k + 1},6,6")


#: M_F^filter rows 1–5 as printed (the S₂₁ slide and the v₁ … v₁₅ slides; the rest of each row is
#: elided with … on the slides). (i, j) is F_ij, 0 a printed zero.
M_F_FILTER_PRINTED = {
    1: [(1, 1), (1, 2), (1, 3), 0, 0, 0, (2, 1), (2, 2), (2, 3), 0, 0, 0, (3, 1), (3, 2), (3, 3), 0, 0, 0],
    2: [0, (1, 1), (1, 2), (1, 3), 0, 0, 0, (2, 1), (2, 2), (2, 3), 0, 0, 0, (3, 1), (3, 2), (3, 3), 0, 0, 0],
    3: [0, 0, (1, 1), (1, 2), (1, 3), 0, 0, 0, (2, 1), (2, 2), (2, 3), 0, 0, 0, (3, 1), (3, 2), (3, 3), 0, 0, 0],
    4: [0, 0, 0, (1, 1), (1, 2), (1, 3), 0, 0, 0, (2, 1), (2, 2), (2, 3), 0, 0, 0, (3, 1), (3, 2), (3, 3), 0, 0, 0],
    5: [0, 0, 0, 0, 0, 0, (1, 1), (1, 2), (1, 3), 0, 0, 0, (2, 1), (2, 2), (2, 3), 0, 0, 0, (3, 1), (3, 2), (3, 3)],
}


def _f_entry(e):
    return sympy.Integer(0) if e == 0 else F(*e)


def test_dd2424_m_f_filter_printed_rows(ex):
    m = ex("dd2424.m_f_filter")["M_F^filter"]
    assert m.shape == (16, 36)
    for row, printed in M_F_FILTER_PRINTED.items():
        got = [m[row - 1, c] for c in range(36)]
        assert got[: len(printed)] == [_f_entry(e) for e in printed], f"row {row}"
        # not printed (elided on the slides) and derived here: the rest of the row is zero
        assert all(v == 0 for v in got[len(printed):]), f"row {row} beyond the printed part"


def test_dd2424_m_f_filter_equals_the_derivative_of_the_forward(ex):
    m = ex("dd2424.m_f_filter")["M_F^filter"]
    x, f, y = _one_plane_forward()
    assert differing_entries(m, y.jacobian(vec_column(x, "dd2424"))) == []


def test_dd2424_m_f_filter_multiplane_size_and_blocks(ex):
    items = ex("dd2424.m_f_filter_multiplane")
    m = items["M_F^filter"]
    assert m.shape == (16, 144)  # the lecture's 16×144
    x, f, y = _four_plane_forward()
    for k in range(4):
        block = items[f"M_F1{k + 1}^filter"]
        assert block.shape == (16, 36)
        assert differing_entries(block, y.jacobian(vec_column(x[k], "dd2424"))) == []
        # each block has the single-plane pattern with plane k's filter
        assert block[0, 0] == Symbol(f"F_{k + 1},1,1") and block[4, 6] == Symbol(f"F_{k + 1},1,1")


#: v₁ … v₁₅ as listed on the slides: each a list of (g index, F row, F column).
V_PRINTED = {
    1: [(1, 1, 1)],
    2: [(1, 1, 2), (2, 1, 1)],
    3: [(1, 1, 3), (2, 1, 2), (3, 1, 1)],
    4: [(2, 1, 3), (3, 1, 2), (4, 1, 1)],
    5: [(3, 1, 3), (4, 1, 2)],
    6: [(4, 1, 3)],
    7: [(1, 2, 1), (5, 1, 1)],
    8: [(1, 2, 2), (2, 2, 1), (5, 1, 2), (6, 1, 1)],
    9: [(1, 2, 3), (2, 2, 2), (3, 2, 1), (5, 1, 3), (6, 1, 2), (7, 1, 1)],
    10: [(2, 2, 3), (3, 2, 2), (4, 2, 1), (6, 1, 3), (7, 1, 2), (8, 1, 1)],
    11: [(3, 2, 3), (4, 2, 2), (7, 1, 3), (8, 1, 2)],
    12: [(4, 2, 3), (8, 1, 3)],
    13: [(1, 3, 1), (5, 2, 1), (9, 1, 1)],
    14: [(1, 3, 2), (2, 3, 1), (5, 2, 2), (6, 2, 1), (9, 1, 2), (10, 1, 1)],
    15: [(1, 3, 3), (2, 3, 2), (3, 3, 1), (5, 2, 3), (6, 2, 2), (7, 2, 1), (9, 1, 3), (10, 1, 2), (11, 1, 1)],
}


def test_dd2424_v_entries_as_printed(ex):
    v = ex("dd2424.v_rot180")["g^T M_F^filter"]
    assert v.shape == (1, 36)
    for k, terms in V_PRINTED.items():
        assert same(v[0, k - 1], sum(g(a) * F(i, j) for a, i, j in terms)), f"v_{k}"


def test_dd2424_v_is_zero_padded_g_correlated_with_rotated_f(ex):
    items = ex("dd2424.v_rot180")
    v = items["g^T M_F^filter"]
    big_v = items["V = G_zero-pad * F^rot180"]
    assert big_v.shape == (6, 6)
    assert all(same(v[0, 6 * r + c], big_v[r, c]) for r in range(6) for c in range(6))  # V read row by row
    # the padded G and the rotated F exactly as the slides print them
    g_pad = items["G_zero-pad"]
    assert g_pad.shape == (8, 8)
    for r in range(8):
        for c in range(8):
            inside = 2 <= r < 6 and 2 <= c < 6
            assert g_pad[r, c] == (g(4 * (r - 2) + (c - 2) + 1) if inside else 0)
    assert items["F^rot180"] == sympy.Matrix([[F(3, 3), F(3, 2), F(3, 1)], [F(2, 3), F(2, 2), F(2, 1)],
                                               [F(1, 3), F(1, 2), F(1, 1)]])


def test_dd2424_v_rot180_multiplane(ex):
    items = ex("dd2424.v_rot180_multiplane")
    v = items["g^T M_F^filter"]
    assert v.shape == (1, 144)
    for k in range(4):
        plane = items[f"V_{k + 1} = G_zero-pad * F_{k + 1}^rot180"]
        assert all(same(v[0, 36 * k + 6 * r + c], plane[r, c]) for r in range(6) for c in range(6)), f"plane {k + 1}"


def test_dd2424_v_m_x_im_is_x_correlated_with_g(ex):
    items = ex("dd2424.v_m_x_im")
    v = items["g^T M_X^im"]
    big_v = items["V = X * G"]
    assert v.shape == (1, 9) and big_v.shape == (3, 3)
    assert all(same(v[0, 3 * r + c], big_v[r, c]) for r in range(3) for c in range(3))
    # v₂ = Σ g_k × (column 2 of M_X^im): column 2 holds X₁₂ … X₄₅ (the slides' red column)
    assert same(v[0, 1], sum(g(4 * r + c + 1) * X(1 + r, 2 + c) for r in range(4) for c in range(4)))


def test_dd2424_erratum_gradient_of_a_multiplane_filter_is_stacked_not_summed(ex):
    """The lecture writes ∂l/∂vec(F₁) = ∂l/∂vec(S₁)(M_X1 M_X2 M_X3) as Σ_i ∂l/∂vec(S₁) M_Xi^im and hence
    ∂l/∂F_i = Σ_j X_j ∗ ∂l/∂S_i. The block product is the three 1×9 pieces side by side (1×27, one per
    plane of F₁), i.e. the stack {X_1 ∗ G, X_2 ∗ G, X_3 ∗ G}; the printed sum is a 1×9 row that
    adds the planes' gradients together."""
    items = ex("dd2424.grad_filter_multiplane")
    grad = items["g^T M_X^im (the gradient, 1x27)"]
    printed_sum = items["sum_j g^T M_Xj^im (as printed, 1x9)"]
    assert grad.shape == (1, 27) and printed_sum.shape == (1, 9)
    planes = [items[f"X_{j} * G"] for j in (1, 2, 3)]
    stacked = [planes[j][r, c] for j in range(3) for r in range(3) for c in range(3)]
    assert all(same(a, b) for a, b in zip(grad, stacked))  # the stack: right
    # the sum differs from every plane's gradient in all 9 entries (it mixes X_1, X_2, X_3)
    for j in range(3):
        assert all(not same(printed_sum[0, k], grad[0, 9 * j + k]) for k in range(9))
    assert all(same(printed_sum[0, k], sum(grad[0, 9 * j + k] for j in range(3))) for k in range(9))


# ---------------------------------------------------------------------------
# Vardhan 2022, Appendix A
# ---------------------------------------------------------------------------
def a(i, j):
    return Symbol(f"a_{i}{j}")


def beta(i, j):
    return Symbol(f"beta_{i}{j}")


#: rep.2: each z_pq as a list of ((a row, a col), (β row, β col)) products, as printed.
Z_PRINTED = [
    [[((1, 1), (2, 2))], [((1, 2), (2, 1)), ((1, 3), (2, 2))], [((1, 4), (2, 1))]],
    [[((1, 1), (1, 2)), ((2, 1), (2, 2))],
     [((1, 2), (1, 1)), ((1, 3), (1, 2)), ((2, 2), (2, 1)), ((2, 3), (2, 2))],
     [((1, 4), (1, 1)), ((2, 4), (2, 1))]],
    [[((2, 1), (1, 2)), ((3, 1), (2, 2))],
     [((2, 2), (1, 1)), ((2, 3), (1, 2)), ((3, 2), (2, 1)), ((3, 3), (2, 2))],
     [((2, 4), (1, 1)), ((3, 4), (2, 1))]],
    [[((3, 1), (1, 2))], [((3, 2), (1, 1)), ((3, 3), (1, 2))], [((3, 4), (1, 1))]],
]
VEC_A_PRINTED = [(1, 1), (2, 1), (3, 1), (1, 2), (2, 2), (3, 2), (1, 3), (2, 3), (3, 3), (1, 4), (2, 4), (3, 4)]
VEC_BETA_PRINTED = [(1, 1), (2, 1), (1, 2), (2, 2)]
VEC_Z_PRINTED = [(1, 1), (2, 1), (3, 1), (4, 1), (1, 2), (2, 2), (3, 2), (4, 2), (1, 3), (2, 3), (3, 3), (4, 3)]


def _z_note(p, q):
    return sum(a(*ai) * beta(*bi) for ai, bi in Z_PRINTED[p - 1][q - 1])


def test_vardhan_appendix_a_z_table(ex):
    z = ex("vardhan2022.appendix_a")["Z = A * beta"]
    assert z.shape == (4, 3)
    for p in range(1, 5):
        for q in range(1, 4):
            assert same(z[p - 1, q - 1], _z_note(p, q)), f"z_{p}{q}"


def test_vardhan_appendix_a_z_is_the_padded_strided_correlation():
    """Independent route: the note's rep.1, windows of the zero-padded A read with stride (1, 2)."""
    padded = np.zeros((5, 6), dtype=object)
    for i in range(1, 4):
        for j in range(1, 5):
            padded[i, j] = a(i, j)
    for p in range(1, 5):
        for q in range(1, 4):
            window = padded[p - 1 : p + 1, 2 * (q - 1) : 2 * (q - 1) + 2]
            value = sum(window[r, c] * beta(r + 1, c + 1) for r in range(2) for c in range(2))
            assert same(value, _z_note(p, q))


def test_vardhan_appendix_a_vec_orderings(ex):
    items = ex("vardhan2022.appendix_a")
    assert list(items["vec(A)"]) == [a(*ij) for ij in VEC_A_PRINTED]
    assert list(items["vec(beta)"]) == [beta(*ij) for ij in VEC_BETA_PRINTED]
    assert all(same(v, _z_note(*pq)) for v, pq in zip(items["vec(Z)"], VEC_Z_PRINTED))


def test_vardhan_appendix_a_sample_derivatives(ex):
    items = ex("vardhan2022.appendix_a")
    assert items["dz_32/dbeta_21"] == a(3, 2)  # eq. a1-2
    assert items["dz_32/da_23"] == beta(1, 2)  # eq. a2-2
    # and the same entries by differentiating the printed z₃₂
    assert sympy.diff(_z_note(3, 2), beta(2, 1)) == a(3, 2)
    assert sympy.diff(_z_note(3, 2), a(2, 3)) == beta(1, 2)


def test_vardhan_appendix_a_erratum_in_eq_a2_2_first_line():
    """Eq. a2-2's first line prints z₃₂ as a₂₂β₁₁ + a₂₃A₁₂ + a₃₂β₂₁ + a₃₃β₂₂: the second factor of
    the a₂₃ term is a typo for β₁₂ (the note's own rep.2 and its result β₁₂ say so)."""
    printed = a(2, 2) * beta(1, 1) + a(2, 3) * Symbol("A_12") + a(3, 2) * beta(2, 1) + a(3, 3) * beta(2, 2)
    difference = sympy.expand(printed - _z_note(3, 2))
    assert difference == sympy.expand(a(2, 3) * (Symbol("A_12") - beta(1, 2)))
    assert sympy.diff(printed, a(2, 3)) == Symbol("A_12") != beta(1, 2)


def test_vardhan_appendix_a_jacobian_columns_are_correlations(ex):
    """Eqs. a1-3 and a2-3: column β₂₁ of dvZ/dvβ is vec(A ∗ E₂₁); column A₂₃ of dvZ/dvA is vec(E₂₃ ∗ β)."""
    items = ex("vardhan2022.appendix_a")
    d_beta, d_a = items["dvec(Z)/dvec(beta)"], items["dvec(Z)/dvec(A)"]
    assert d_beta.shape == (12, 4) and d_a.shape == (12, 12)
    col_b21 = VEC_BETA_PRINTED.index((2, 1))
    col_a23 = VEC_A_PRINTED.index((2, 3))
    assert differing_entries(d_beta[:, col_b21], vec_column(np.array(items["dZ/dbeta_21 = A * E_21"].tolist()), "vardhan2022")) == []
    assert differing_entries(d_a[:, col_a23], vec_column(np.array(items["dZ/da_23 = E_23 * beta"].tolist()), "vardhan2022")) == []
    # and every entry by differentiating the printed table in the note's column-major order
    z_vec = sympy.Matrix([_z_note(*pq) for pq in VEC_Z_PRINTED])
    assert differing_entries(d_beta, z_vec.jacobian([beta(*ij) for ij in VEC_BETA_PRINTED])) == []
    assert differing_entries(d_a, z_vec.jacobian([a(*ij) for ij in VEC_A_PRINTED])) == []


# ---------------------------------------------------------------------------
# Vardhan 2022, Appendix B
# ---------------------------------------------------------------------------
def I(i, j):  # noqa: E743 - the note's name
    return Symbol(f"I_{i}{j}")


#: rep.2: the entries of each max, as printed (0 = a padded zero).
A_PRINTED = [
    [[0, (1, 1), (2, 1)], [0, (1, 2), (2, 2), (1, 3), (2, 3)], [0, (1, 4), (2, 4)]],
    [[0, (1, 1), (2, 1), (3, 1)], [(1, 2), (2, 2), (3, 2), (1, 3), (2, 3), (3, 3)], [0, (1, 4), (2, 4), (3, 4)]],
    [[0, (2, 1), (3, 1)], [0, (2, 2), (2, 3), (3, 2), (3, 3)], [0, (2, 4), (3, 4)]],
]
#: rep.1: the 3×2 windows, as printed.
WINDOWS_PRINTED = {
    (1, 1): [[0, 0], [0, (1, 1)], [0, (2, 1)]],
    (1, 2): [[0, 0], [(1, 2), (1, 3)], [(2, 2), (2, 3)]],
    (1, 3): [[0, 0], [(1, 4), 0], [(2, 4), 0]],
    (2, 1): [[0, (1, 1)], [0, (2, 1)], [0, (3, 1)]],
    (2, 2): [[(1, 2), (1, 3)], [(2, 2), (2, 3)], [(3, 2), (3, 3)]],
    (2, 3): [[(1, 4), 0], [(2, 4), 0], [(3, 4), 0]],
    (3, 1): [[0, (2, 1)], [0, (3, 1)], [0, 0]],
    (3, 2): [[(2, 2), (2, 3)], [(3, 2), (3, 3)], [0, 0]],
    (3, 3): [[(2, 4), 0], [(3, 4), 0], [0, 0]],
}


def _i_entry(e):
    return sympy.Integer(0) if e == 0 else I(*e)


def test_vardhan_appendix_b_max_table(ex):
    table = ex("vardhan2022.appendix_b")["A = maxpool(I)"]
    assert table.shape == (3, 3)
    for p in range(3):
        for q in range(3):
            assert table[p, q] == Max(*[_i_entry(e) for e in A_PRINTED[p][q]]), f"A_{p + 1}{q + 1}"
    # only the centre window has no padded zero
    assert [table[p, q].has(sympy.Integer(0)) or 0 in table[p, q].args for p in range(3) for q in range(3)] == [
        True, True, True, True, False, True, True, True, True]


def test_vardhan_appendix_b_windows(ex):
    items = ex("vardhan2022.appendix_b")
    for (p, q), rows in WINDOWS_PRINTED.items():
        assert items[f"window of A_{p}{q}"] == sympy.Matrix([[_i_entry(e) for e in r] for r in rows]), (p, q)


def test_vardhan_appendix_b_index_example(ex):
    """A₂₁ = I₂₁ gives i₂₁ = 5 in the column-stacked window, and eqs. b-2.1–b-2.3 put the 1 at j = 2."""
    items = ex("vardhan2022.appendix_b")
    window = items["window of A_21"]
    stacked = list(window.T.reshape(1, 6))  # column by column
    assert stacked == [0, 0, 0, I(1, 1), I(2, 1), I(3, 1)]
    i21 = stacked.index(I(2, 1)) + 1
    assert i21 == 5
    j = int(vardhan2022_mask_column(i21, 2, 1, 3, (3, 2), (1, 2), (1, 1)))
    assert j == 2 and list(items["vec(I)"])[j - 1] == I(2, 1)
    # at the sample point A₂₁ = I₂₁ indeed, and the mask's row A₂₁ (row 2 of vec(A)) has its 1 in column 2
    assert APPENDIX_B_POINT[1, 0] == max(0, APPENDIX_B_POINT[0, 0], APPENDIX_B_POINT[1, 0], APPENDIX_B_POINT[2, 0])
    mask = items["dvec(A)/dvec(I) at the sample point"]
    assert [c for c in range(12) if mask[1, c] != 0] == [j - 1]


def test_vardhan_appendix_b_erratum_rows_without_a_one(ex):
    """The note says every row of dvA/dvI has exactly one 1. With its own zero padding taking part in
    the max, a row whose window maximum is a padded 0 has no 1 at all: at the sample point the rows of
    A₁₃, A₂₃ and A₃₃ are empty. Checked against sympy's derivative of the Max expressions."""
    items = ex("vardhan2022.appendix_b")
    mask = items["dvec(A)/dvec(I) at the sample point"]
    a_vec = items["vec(A)"]
    i_vec = list(items["vec(I)"])
    point = {I(i + 1, j + 1): sympy.Integer(int(APPENDIX_B_POINT[i, j])) for i in range(3) for j in range(4)}
    ones_per_row = []
    for r in range(9):
        expr = a_vec[r]
        derivative = [sympy.diff(expr, s).xreplace(point) if s in expr.free_symbols else 0 for s in i_vec]
        assert derivative == list(mask[r, :]), f"row {r}"
        ones_per_row.append(sum(1 for d in derivative if d != 0))
    # vec(A) is column-major: rows 6, 7, 8 are A₁₃, A₂₃, A₃₃
    assert ones_per_row == [1, 1, 1, 1, 1, 1, 0, 0, 0]


# ---------------------------------------------------------------------------
# Wang 2019, §5–6
# ---------------------------------------------------------------------------
def t(i, j, k=1):
    return Symbol(f"t_{i},{j},{k}")


def test_wang_unfold_ordering_that_makes_the_example_true():
    """Eq. 6.2: t₂,₃,₁ is copied to exactly x₄,₄ and x₅,₃ — only with column-major patches and entries."""
    printed = {(4, 4), (5, 3)}
    results = {(p, e): unfold_positions(p, e) for p in ("row", "col") for e in ("row", "col")}
    assert results[("col", "col")] == printed
    assert [k for k, v in results.items() if v == printed] == [("col", "col")]
    assert results[("row", "row")] == {(2, 4), (4, 2)}


def test_wang_unfold_matrix_and_product(ex):
    items = ex("wang2019.unfold")
    x = items["X = unfold(T)"]
    assert x.shape == (6, 4)  # (d1−k1+1)(d2−k2+1) × k1k2d3 = 6 × 4
    assert x[3, 3] == t(2, 3) and x[4, 2] == t(2, 3)
    # patch P_ij (column-major over (i, j)) holds its entries column-major: row 1 is t11 t21 t12 t22
    assert list(x[0, :]) == [t(1, 1), t(2, 1), t(1, 2), t(2, 2)]
    # eq. 5.1 / 5.2: z = X vec(K) = vec(C) with c_ij = <K, P_ij>, computed here by the note's formula
    k = [[Symbol(f"K_{r},{c},1") for c in (1, 2)] for r in (1, 2)]
    c_note = [[sum(k[r][s] * t(i + r, j + s) for r in range(2) for s in range(2)) for j in (1, 2)] for i in (1, 2, 3)]
    vec_c = [c_note[i][j] for j in range(2) for i in range(3)]  # column-major
    assert all(same(zv, cv) for zv, cv in zip(items["z = X w"], vec_c))
    assert all(same(zv, cv) for zv, cv in zip(items["vec(C)"], vec_c))


def test_wang_fold_sums_the_copies(ex):
    items = ex("wang2019.fold")
    d = items["dX/dt_2,3,1"]
    assert {(r + 1, c + 1) for r in range(6) for c in range(4) if d[r, c] != 0} == {(4, 4), (5, 3)}
    assert all(d[r, c] in (0, 1) for r in range(6) for c in range(4))
    assert items["[dQ/dT]_2,3,1"] == Symbol("dX_44") + Symbol("dX_53")  # eq. 6.3
    # fold = transpose of the unfold Jacobian (independent route: sympy differentiation of X)
    x = items["X = unfold(T)"]
    d_x = items["dQ/dX"]
    t_vec = [t(i, j) for i in range(1, 5) for j in range(1, 4)]
    jac = sympy.Matrix(list(x)).jacobian(t_vec)  # rows: X entries row by row
    folded = jac.T * sympy.Matrix(list(d_x))
    d_t = items["dQ/dT = fold(dQ/dX)"]
    assert all(same(folded[3 * (i - 1) + (j - 1)], d_t[i - 1, j - 1]) for i in range(1, 5) for j in range(1, 4))
