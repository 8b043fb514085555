"""compare / diagnose: each catalogue mistake, seeded by loops written here from the convolution
formula (not by the package), is diagnosed with its name and no other on several geometries; a
correct candidate holds by every route and gets an empty diagnosis; the strict text parser."""
from __future__ import annotations

import numpy as np
import pytest

from _conv_loops import conv_loops  # loops from the formula, shared with test_claims_api
from jacobians.compare import MISTAKES, compare, diagnose, entry_label, parse_matrix_text, symbolic_candidate


# ---------------------------------------------------------------------------
# loops from the formula y[o, i, j] = Σ_{c,p,q} w[o, c, p, q] · x[c, i·s + p − pad, j·s + q − pad]
# ---------------------------------------------------------------------------
def colmajor_positions(shape):
    """Column-major (MATLAB) order of a (C, H, W) tensor: position k holds canonical index order[k]."""
    C, H, W = shape
    return np.array([(c * H + h) * W + w_ for c in range(C) for w_ in range(W) for h in range(H)])


def names(diag):
    return [d["name"] for d in diag]


GEOMS = [  # (x shape, w shape, stride, padding): rectangular, multi-channel, none symmetric
    ((1, 4, 5), (1, 1, 2, 3), 1, 0),
    ((2, 5, 4), (2, 2, 3, 2), 1, 0),
    ((2, 6, 5), (2, 2, 2, 2), 1, 1),
]


def data(x_shape, w_shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(x_shape), rng.standard_normal(w_shape)


# ---------------------------------------------------------------------------
# correct candidates
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("geom", GEOMS)
@pytest.mark.parametrize("wrt", ["x", "weight"])
def test_correct_candidate_holds_by_every_route_and_has_no_diagnosis(geom, wrt):
    x_shape, w_shape, s, pad = geom
    x, w = data(x_shape, w_shape)
    Jx, Jw, out = conv_loops(x, w, s, pad)
    J = Jx if wrt == "x" else Jw
    r = compare(J, "conv2d", wrt=wrt, x=x, weight=w, stride=s, padding=pad)
    assert r.holds and r.diagnosis == [] and r.differing_entries == 0
    assert {"explicit", "fd"} <= set(r.routes) and any(k.startswith("vjp:") for k in r.routes)
    assert r.max_error < 1e-6
    g = np.random.default_rng(1).standard_normal(out)
    grad = (J.T @ g.ravel()).reshape(x.shape if wrt == "x" else w.shape)
    r = compare(grad, "conv2d", wrt=wrt, g=g, x=x, weight=w, stride=s, padding=pad)
    assert r.holds and r.diagnosis == []


# ---------------------------------------------------------------------------
# one seeded mistake per catalogue entry, several geometries each
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("geom", GEOMS)
def test_transpose(geom):
    x_shape, w_shape, s, pad = geom
    x, w = data(x_shape, w_shape)
    _, Jw, _ = conv_loops(x, w, s, pad)
    r = compare(Jw.T, "conv2d", wrt="weight", x=x, weight=w, stride=s, padding=pad)
    assert not r.holds and names(r.diagnosis) == ["transpose"]


@pytest.mark.parametrize("geom", GEOMS)
@pytest.mark.parametrize("side", ["rows", "cols", "both"])
def test_vec_order(geom, side):
    x_shape, w_shape, s, pad = geom
    x, w = data(x_shape, w_shape)
    Jx, _, out = conv_loops(x, w, s, pad)
    rows = colmajor_positions(out) if side in ("rows", "both") else np.arange(Jx.shape[0])
    cols = colmajor_positions(x_shape) if side in ("cols", "both") else np.arange(Jx.shape[1])
    wrong = Jx[np.ix_(rows, cols)]
    want = {"rows": ["vec-order-rows"], "cols": ["vec-order-cols"], "both": ["vec-order-cols + vec-order-rows"]}[side]
    assert names(diagnose(wrong, operator="conv2d", wrt="x", x=x, weight=w, stride=s, padding=pad)) == want


@pytest.mark.parametrize("geom", GEOMS)
def test_vec_order_against_a_column_major_preset(geom):
    """Typed in row-major order while the note (MATLAB preset) is column-major."""
    x_shape, w_shape, s, pad = geom
    x, w = data(x_shape, w_shape)
    Jx, _, _ = conv_loops(x, w, s, pad)
    got = names(diagnose(Jx, operator="conv2d", wrt="x", convention="matlab", x=x, weight=w, stride=s, padding=pad))
    assert got == ["vec-order-cols + vec-order-rows"]


@pytest.mark.parametrize("geom", GEOMS)
@pytest.mark.parametrize("wrt", ["x", "weight"])
def test_rot180(geom, wrt):
    x_shape, w_shape, s, pad = geom
    x, w = data(x_shape, w_shape)
    kh, kw = w.shape[2:]
    Jx, Jw, out = conv_loops(x, w, s, pad, weight_of=lambda w, o, c, p, q: w[o, c, kh - 1 - p, kw - 1 - q])
    if wrt == "weight":  # the weight gradient laid out with the kernel flipped
        _, Jw, out = conv_loops(x, w, s, pad)
        flip = np.arange(w.size).reshape(w.shape)[:, :, ::-1, ::-1].ravel()
        wrong = Jw[:, flip]
    else:
        wrong = Jx
    g = np.random.default_rng(2).standard_normal(out)
    assert names(diagnose(wrong, operator="conv2d", wrt=wrt, x=x, weight=w, stride=s, padding=pad)) == ["rot180"]
    grad = wrong.T @ g.ravel()  # the gradient computed without the rotation
    r = compare(grad.reshape(x.shape if wrt == "x" else w.shape), "conv2d", wrt=wrt, g=g, x=x, weight=w, stride=s, padding=pad)
    assert not r.holds and names(r.diagnosis) == ["rot180"]


@pytest.mark.parametrize("geom", GEOMS[1:])  # two channels each way
def test_channel_swap(geom):
    x_shape, w_shape, s, pad = geom
    x, w = data(x_shape, w_shape)
    Jx, _, out = conv_loops(x, w, s, pad, weight_of=lambda w, o, c, p, q: w[c, o, p, q])
    assert names(diagnose(Jx, operator="conv2d", wrt="x", x=x, weight=w, stride=s, padding=pad)) == ["channel-swap"]


def test_rot180_and_channel_swap_together():
    x, w = data((2, 5, 4), (2, 2, 3, 2))
    Jx, _, _ = conv_loops(x, w, weight_of=lambda w, o, c, p, q: w[c, o, 2 - p, 1 - q])
    assert names(diagnose(Jx, operator="conv2d", wrt="x", x=x, weight=w)) == ["channel-swap + rot180"]


@pytest.mark.parametrize("geom", GEOMS[1:])
def test_sum_vs_stack_weight_gradient_summed_over_planes(geom):
    """dd2424's filter gradient: the per-plane terms summed where they must be stacked."""
    x_shape, w_shape, s, pad = geom
    x, w = data(x_shape, w_shape)
    _, Jw, out = conv_loops(x, w, s, pad)
    g = np.random.default_rng(3).standard_normal(out)
    grad = (Jw.T @ g.ravel()).reshape(w.shape)
    summed = sum(grad[:, c] for c in range(w.shape[1]))  # (O, kh, kw): planes summed
    r = compare(summed, "conv2d", wrt="weight", g=g, x=x, weight=w, stride=s, padding=pad)
    assert not r.holds and names(r.diagnosis) == ["sum-vs-stack"]


@pytest.mark.parametrize("geom", GEOMS[1:])
def test_sum_vs_stack_input_gradient_stacked_per_output_channel(geom):
    """The reverse: the input gradient's per-output-channel terms stacked where they must be summed."""
    x_shape, w_shape, s, pad = geom
    x, w = data(x_shape, w_shape)
    Jx, _, out = conv_loops(x, w, s, pad)
    g = np.random.default_rng(4).standard_normal(out)
    per_o = out[1] * out[2]
    stacked = np.concatenate([Jx[o * per_o : (o + 1) * per_o].T @ g[o].ravel() for o in range(out[0])])
    r = compare(stacked, "conv2d", wrt="x", g=g, x=x, weight=w, stride=s, padding=pad)
    assert not r.holds and names(r.diagnosis) == ["sum-vs-stack"]


@pytest.mark.parametrize("geom", GEOMS)
@pytest.mark.parametrize("factor, name", [(2.0, "scale"), (0.25, "scale"), (-1.0, "sign")])
def test_scale_and_sign(geom, factor, name):
    x_shape, w_shape, s, pad = geom
    x, w = data(x_shape, w_shape)
    Jx, _, _ = conv_loops(x, w, s, pad)
    diag = diagnose(factor * Jx, operator="conv2d", wrt="x", x=x, weight=w, stride=s, padding=pad)
    assert names(diag) == [name]
    if name == "scale":
        assert f"candidate = {'1/4' if factor == 0.25 else '2'} × truth" in diag[0]["description"]


@pytest.mark.parametrize("geom", GEOMS)
def test_shift_one_sided_padding(geom):
    """Every tap one column to the right (one-sided padding on the left forgotten)."""
    x_shape, w_shape, s, pad = geom
    x, w = data(x_shape, w_shape)
    Jx, _, _ = conv_loops(x, w, s, pad)
    C, H, W = x_shape
    shifted = np.zeros_like(Jx)
    for c in range(C):
        for h in range(H):
            for col in range(W - 1):
                shifted[:, (c * H + h) * W + col + 1] = Jx[:, (c * H + h) * W + col]
    assert names(diagnose(shifted, operator="conv2d", wrt="x", x=x, weight=w, stride=s, padding=pad)) == ["shift"]


def test_shift_one_based_rows():
    x, w = data((1, 4, 5), (1, 1, 2, 3))
    Jx, _, _ = conv_loops(x, w)
    off = np.zeros_like(Jx)
    off[1:] = Jx[:-1]  # row k holds what belongs to row k − 1
    assert names(diagnose(off, operator="conv2d", wrt="x", x=x, weight=w)) == ["shift"]


STRIDED = [((1, 7, 6), (1, 1, 3, 2), 2, 0), ((2, 8, 7), (2, 2, 2, 3), 2, 1), ((1, 9, 9), (1, 1, 3, 3), 3, 0)]


@pytest.mark.parametrize("geom", STRIDED)
@pytest.mark.parametrize("wrt", ["x", "weight"])
def test_stride_dilation(geom, wrt):
    x_shape, w_shape, s, pad = geom
    x, w = data(x_shape, w_shape)
    _, _, out = conv_loops(x, w, s, pad)
    Jx, Jw, _ = conv_loops(x, w, s, pad, tap=lambda i, p, s: i + p)  # upstream gradient not dilated
    g = np.random.default_rng(5).standard_normal(out)
    wrong = (Jx if wrt == "x" else Jw).T @ g.ravel()
    r = compare(wrong.reshape(x.shape if wrt == "x" else w.shape), "conv2d", wrt=wrt, g=g, x=x, weight=w, stride=s, padding=pad)
    assert not r.holds and names(r.diagnosis) == ["stride-dilation"]


@pytest.mark.parametrize("C", [3, 4, 6])
def test_softmax_diag(C):
    rng = np.random.default_rng(C)
    s = rng.standard_normal(C)
    p = np.exp(s) / np.exp(s).sum()
    assert names(diagnose(np.diag(p - p**2), operator="softmax", wrt="s", s=s)) == ["softmax-diag"]
    # the one-hot-only form p − y for a soft label (dd2424's −log(yᵀp))
    y = rng.uniform(0.1, 1.0, C)
    y /= y.sum()
    r = compare(p - y, "softmax_cross_entropy", wrt="s", g=np.array(1.0), s=s, y=y)
    assert not r.holds and names(r.diagnosis) == ["softmax-diag"]
    right = p - y * p / (y @ p)  # the closed form for any label, from the formula
    assert compare(right, "softmax_cross_entropy", wrt="s", g=np.array(1.0), s=s, y=y).holds


def test_two_mistakes_transpose_and_vec_order():
    x, w = data((1, 4, 5), (1, 1, 2, 3))
    _, Jw, out = conv_loops(x, w)
    rows = colmajor_positions(out)
    assert names(diagnose(Jw[rows].T, operator="conv2d", wrt="weight", x=x, weight=w)) == ["transpose + vec-order-rows"]


def test_unexplained_difference_says_nothing_and_lists_entries():
    x, w = data((1, 4, 5), (1, 1, 2, 3))
    Jx, _, _ = conv_loops(x, w)
    wrong = Jx.copy()
    wrong[3, 7] += 0.5
    r = compare(wrong, "conv2d", wrt="x", x=x, weight=w)
    assert not r.holds and r.diagnosis == [] and r.differing_entries == 1
    row, col, got, want, label = r.differing[0]
    assert (row, col) == (3, 7) and got - want == pytest.approx(0.5)
    # row 3 of a 3×3 output is (0, 1, 0); column 7 of a 4×5 input is (0, 1, 2)
    assert label == "output (c=0, i=1, j=0) ← input (c=0, p=1, q=2)"
    assert r.picture.count("X") == 1


def test_every_catalogue_name_is_documented():
    assert set(MISTAKES) == {
        "transpose", "vec-order-rows", "vec-order-cols", "rot180", "channel-swap", "sum-vs-stack",
        "scale", "sign", "shift", "stride-dilation", "softmax-diag",
    }


def test_diagnose_without_an_operator_searches_layout_mistakes():
    T = np.arange(12.0).reshape(3, 4) + 1
    assert names(diagnose(T.T, T)) == ["transpose"]
    assert names(diagnose(-T, T)) == ["sign"]
    assert diagnose(T, T) == []
    assert diagnose(T + np.eye(3, 4) * 0.3, T) == []


def test_entry_label_follows_the_convention():
    from jacobians.conventions import get_convention

    assert entry_label(1, (2, 3, 4), get_convention("canonical"), True) == "(c=0, p=0, q=1)"
    assert entry_label(1, (2, 3, 4), get_convention("matlab"), True) == "(c=0, p=1, q=0)"


# ---------------------------------------------------------------------------
# symbolic candidates and the strict parser
# ---------------------------------------------------------------------------
M_X_IM_ROWMAJOR = """
X11 X12 X21 X22
X12 X13 X22 X23
X21 X22 X31 X32
X22 X23 X32 X33
"""


def m_x_im_text(H, W, kh, kw, filter_order="row"):
    """M_X^im typed as text from its formula: row (i, j) reads X[i + p, j + q] (1-based symbols)."""
    taps = [(p, q) for p in range(kh) for q in range(kw)] if filter_order == "row" else [(p, q) for q in range(kw) for p in range(kh)]
    rows = []
    for i in range(H - kh + 1):
        for j in range(W - kw + 1):
            rows.append(" ".join(f"X{i + p + 1}{j + q + 1}" for p, q in taps))
    return "\n".join(rows)


def test_symbolic_M_X_im_typed_as_text_is_exact():
    x, w = np.zeros((1, 3, 3)), np.zeros((1, 1, 2, 2))
    assert m_x_im_text(3, 3, 2, 2).splitlines()[1] == "X12 X13 X22 X23"
    cand = symbolic_candidate(parse_matrix_text(M_X_IM_ROWMAJOR), "conv2d", wrt="weight", x=x, weight=w)
    r = compare(cand, "conv2d", wrt="weight", x=x, weight=w)
    assert r.holds and r.routes["symbolic"] == 0 and r.diagnosis == []


@pytest.mark.parametrize("H, W, kh, kw", [(3, 4, 2, 2), (4, 3, 2, 3), (4, 5, 3, 2)])
def test_symbolic_M_X_im_with_the_filter_in_column_major_order(H, W, kh, kw):
    x, w = np.zeros((1, H, W)), np.zeros((1, 1, kh, kw))
    cand = symbolic_candidate(parse_matrix_text(m_x_im_text(H, W, kh, kw, "col")), "conv2d", wrt="weight", x=x, weight=w)
    r = compare(cand, "conv2d", wrt="weight", x=x, weight=w)
    assert not r.holds and r.routes["symbolic"] > 0 and names(r.diagnosis) == ["vec-order-cols"]


def test_symbolic_3x3_column_major_is_ambiguous_and_says_both():
    """For a 3×3 image and a 2×2 filter M_X^im is symmetric: the filter's order and the transpose
    of the output's order cannot be told apart, and both explanations are verified."""
    x, w = np.zeros((1, 3, 3)), np.zeros((1, 1, 2, 2))
    cand = symbolic_candidate(parse_matrix_text(m_x_im_text(3, 3, 2, 2, "col")), "conv2d", wrt="weight", x=x, weight=w)
    got = names(compare(cand, "conv2d", wrt="weight", x=x, weight=w).diagnosis)
    assert got == ["vec-order-cols", "transpose + vec-order-rows"]


def test_symbol_spellings_are_equivalent_and_unknown_symbols_refused():
    x, w = np.zeros((1, 3, 3)), np.zeros((1, 1, 2, 2))
    a = symbolic_candidate(parse_matrix_text("X11 2*X_1_2 -X_21 X22-X11"), "conv2d", wrt="weight", x=x, weight=w)
    b = symbolic_candidate(parse_matrix_text("X_11, X12*2, -X2_1, -X11+X22"), "conv2d", wrt="weight", x=x, weight=w)
    assert a == b and str(a[1]) == "2*X_12"
    with pytest.raises(ValueError, match=r"unknown symbol name 'Y'.*named X"):
        symbolic_candidate(parse_matrix_text("Y11"), "conv2d", wrt="weight", x=x, weight=w)
    with pytest.raises(ValueError, match=r"outside the input"):
        symbolic_candidate(parse_matrix_text("X44"), "conv2d", wrt="weight", x=x, weight=w)


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os')", "X11**2", "exp(X11)", "X11/2", "1 2\n3", "X11 + X12", "1,,2;x", "sin(1)",
        "X[1,1]", "2X11", "1e", "lambda: 0", "X11*X12", "", "# only a comment", "0x10", "1/0", "nan", "inf",
    ],
)
def test_strict_parser_refuses_anything_but_numbers_and_symbols(text):
    with pytest.raises(ValueError, match=r"^matrix: ") as info:
        parse_matrix_text(text)
    assert "\n" not in str(info.value)


def test_strict_parser_reads_numbers_exactly():
    got = parse_matrix_text("# M\n[1, -2.5, 1/4]\n3e-1 .5 -0\n")
    np.testing.assert_array_equal(got, np.array([[1, -2.5, 0.25], [0.3, 0.5, 0]]))


@pytest.mark.parametrize(
    "candidate, message",
    [
        (np.full((4, 4), np.nan), "NaN or infinite"),
        ([["a", "b"]], "must hold real numbers|must be a numeric array"),
        (np.ones((4, 4)) * 1j, "complex numbers"),
    ],
)
def test_bad_candidates_are_one_line(candidate, message):
    x, w = np.ones((1, 3, 3)), np.ones((1, 1, 2, 2))
    with pytest.raises(ValueError, match=rf"^candidate: (holds )?({message})"):
        compare(candidate, "conv2d", wrt="weight", x=x, weight=w)


def test_gradient_picture_is_drawn_as_the_input_plane():
    x, w = data((1, 4, 5), (1, 1, 2, 3))
    Jx, _, out = conv_loops(x, w)
    g = np.random.default_rng(6).standard_normal(out)
    grad = (Jx.T @ g.ravel()).reshape(x.shape)
    grad[0, 2, 3] += 1.0  # one wrong pixel: row 2, column 3
    r = compare(grad, "conv2d", wrt="x", g=g, x=x, weight=w)
    rows = r.picture.splitlines()
    assert len(rows) == 4 and all(len(row) == 5 for row in rows)
    assert rows[2][3] == "X" and r.picture.count("X") == 1
