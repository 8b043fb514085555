"""Max and average pooling: switches, tie rules, pad values, note 001's mask arithmetic, avg = conv.

Independent routes used here: a brute-force per-window reference written
with plain Python loops (tiny shapes only), torch's max_pool2d indices and
avg_pool2d, the depthwise conv2d Jacobian, and note 001's own worked
example (Vardhan 2022, Appendix B).
"""
import doctest

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import check_registered_cases_with_torch, requires_torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from jacobians.conventions import PRESETS
from jacobians.ledger.vardhan2022_formulas import vardhan2022_mask_column, vardhan2022_mask_column_corrected
from jacobians.geometry import GeometryError
from jacobians.ops import pooling
from jacobians.ops.conv2d import conv2d, conv2d_input_jacobian
from jacobians.ops.pooling import (
    avg_pool2d,
    avg_pool2d_jacobian,
    max_pool2d,
    max_pool2d_jacobian,
    max_pool2d_switches,
    max_pool2d_vjp_col2im,
    max_pool2d_vjp_switches,
)
from jacobians.registry import get_operator

NEG_INF = float("-inf")


# ---------------------------------------------------------------------------
# brute-force reference (test only): loops over every window and tap
# ---------------------------------------------------------------------------
def reference_max_pool(x, kernel, stride, padding, pad_value, ties, dilation=(1, 1)):
    """Per-window loops: returns (y, column) with column −1 where the winner is padding."""
    c_n, h, w = x.shape
    kh, kw = kernel
    sh, sw = stride
    pt, pb, pl, pr = padding
    dh, dw = dilation
    oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (w + pl + pr - dw * (kw - 1) - 1) // sw + 1
    if ties == "first":
        order = [(a, b) for a in range(kh) for b in range(kw)]
    else:
        order = [(a, b) for b in range(kw) for a in range(kh)]
    y = np.empty((c_n, oh, ow))
    col = np.empty((c_n, oh, ow), dtype=int)
    for c in range(c_n):
        for i in range(oh):
            for j in range(ow):
                best, best_col = None, None
                for a, b in order:
                    r = i * sh - pt + a * dh
                    q = j * sw - pl + b * dw
                    inside = 0 <= r < h and 0 <= q < w
                    v = x[c, r, q] if inside else pad_value
                    if best is None or v > best:  # strict: the first maximum in scan order stays
                        best, best_col = v, (c * h * w + r * w + q) if inside else -1
                y[c, i, j] = best
                col[c, i, j] = best_col
    return y, col


geometries = st.fixed_dictionaries(
    {
        "c": st.integers(1, 2),
        "h": st.integers(1, 6),
        "w": st.integers(1, 6),
        "kernel": st.tuples(st.integers(1, 4), st.integers(1, 4)),
        "stride": st.tuples(st.integers(1, 3), st.integers(1, 3)),
        "padding": st.tuples(*[st.integers(0, 2)] * 4),
        "dilation": st.tuples(st.integers(1, 2), st.integers(1, 2)),
        "pad_value": st.sampled_from([NEG_INF, 0.0, 0.5]),
        "ties": st.sampled_from(["first", "first-colmajor"]),
        "seed": st.integers(0, 2**32 - 1),
    }
)


def _fits(g):
    (kh, kw), (dh, dw), (pt, pb, pl, pr) = g["kernel"], g["dilation"], g["padding"]
    return dh * (kh - 1) + 1 <= g["h"] + pt + pb and dw * (kw - 1) + 1 <= g["w"] + pl + pr


def _pool_kwargs(g):
    return dict(
        kernel_size=g["kernel"], stride=g["stride"], padding=g["padding"],
        pad_value=g["pad_value"], ties=g["ties"], dilation=g["dilation"],
    )


def _tie_heavy_input(g):
    """Small integers in [−2, 2] (halves with pad 0.5): many ties, many entries equal to a pad value."""
    rng = np.random.default_rng(g["seed"])
    return rng.integers(-2, 3, size=(g["c"], g["h"], g["w"])).astype(float)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(geometries)
def test_mask_equals_brute_force_reference_over_random_geometries(g):
    assume(_fits(g))
    x = _tie_heavy_input(g)
    kw = _pool_kwargs(g)
    try:
        s = max_pool2d_switches(x, **kw)
    except GeometryError as err:
        # only refusal allowed: a window entirely in -inf padding
        assert g["pad_value"] == NEG_INF and "entirely in the padding" in str(err)
        return
    y_ref, col_ref = reference_max_pool(x, g["kernel"], g["stride"], g["padding"], g["pad_value"], g["ties"], g["dilation"])
    assert np.array_equal(s.values, y_ref)
    assert np.array_equal(s.column, col_ref)
    J = max_pool2d_jacobian(x, **kw)
    # exact 0/1 mask: one 1 per row whose winner is an input entry, empty rows where padding wins
    assert np.array_equal(J.data, np.ones(J.nnz))
    assert np.array_equal(np.diff(J.indptr), (col_ref.ravel() >= 0).astype(int))
    rows = np.flatnonzero(col_ref.ravel() >= 0)
    assert np.array_equal(J.indices, col_ref.ravel()[rows])
    # the mask selects the pooled values of the rows that depend on the input
    assert np.array_equal((J @ x.ravel())[rows], y_ref.ravel()[rows])
    # both VJP routes route the upstream gradient through the mask
    gr = np.random.default_rng(g["seed"] + 1).standard_normal(y_ref.shape)
    expect = (J.T @ gr.ravel()).reshape(x.shape)
    np.testing.assert_allclose(max_pool2d_vjp_switches(gr, x, **kw), expect, rtol=0, atol=1e-12)
    np.testing.assert_allclose(max_pool2d_vjp_col2im(gr, x, **kw), expect, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------
# ties
# ---------------------------------------------------------------------------
def test_deliberate_tie_first_rowmajor_vs_first_colmajor():
    # window [[1, 3], [3, 0]]: the two 3s sit at (0, 1) and (1, 0)
    x = np.array([[[1.0, 3.0], [3.0, 0.0]]])
    row_first = max_pool2d_jacobian(x, 2, ties="first").toarray()
    col_first = max_pool2d_jacobian(x, 2, ties="first-colmajor").toarray()
    assert np.array_equal(row_first, [[0, 1, 0, 0]])  # (0, 1) comes first scanning rows
    assert np.array_equal(col_first, [[0, 0, 1, 0]])  # (1, 0) comes first scanning columns
    assert max_pool2d(x, 2, ties="first")[0, 0, 0] == max_pool2d(x, 2, ties="first-colmajor")[0, 0, 0] == 3.0


def test_all_equal_window_picks_the_top_left_entry_under_both_rules():
    x = np.full((1, 3, 3), 7.0)
    for ties in ("first", "first-colmajor"):
        s = max_pool2d_switches(x, 3, ties=ties)
        assert s.column.item() == 0 and s.tap.item() == 0 and s.note001_index.item() == 1


def test_tie_between_padding_zero_and_input_zero_goes_to_the_earlier_position():
    # 1×1×2 input [0, -1], window 1×2, left padding 1, pad_value 0: first window is (pad 0, x 0)
    x = np.array([[[0.0, -1.0]]])
    s = max_pool2d_switches(x, (1, 2), stride=1, padding=(0, 0, 1, 0), pad_value=0.0)
    assert s.column.tolist() == [[[-1, 0]]]  # pad wins window 0 (comes first); x[0] wins window 1 over -1
    J = max_pool2d_jacobian(x, (1, 2), stride=1, padding=(0, 0, 1, 0), pad_value=0.0).toarray()
    assert np.array_equal(J, [[0, 0], [1, 0]])


def test_unknown_tie_rule_and_bad_pad_value_are_refused():
    x = np.zeros((1, 2, 2))
    with pytest.raises(ValueError, match="^ties: must be one of"):
        max_pool2d(x, 2, ties="last")
    with pytest.raises(ValueError, match="^pad_value:"):
        max_pool2d(x, 2, pad_value=float("nan"))
    with pytest.raises(ValueError, match="^pad_value:"):
        max_pool2d(x, 2, pad_value=float("inf"))


# ---------------------------------------------------------------------------
# pad values, empty rows, errors
# ---------------------------------------------------------------------------
NOTE001_B = dict(kernel_size=(3, 2), stride=(1, 2), padding=1)  # Appendix B: 3×4 input → 3×3


def test_zero_padding_gives_empty_rows_where_the_padding_wins():
    x = -np.arange(1.0, 13.0).reshape(1, 3, 4)  # all negative: every window touching the padding outputs 0
    s = max_pool2d_switches(x, **NOTE001_B, pad_value=0.0, ties="first-colmajor")
    J = max_pool2d_jacobian(x, **NOTE001_B, pad_value=0.0, ties="first-colmajor")
    assert J.shape == (9, 12)
    row_counts = np.diff(J.indptr).reshape(3, 3)
    # only A₂₂ = max{I12, I22, I32, I13, I23, I33} has no padded entry in its window (note 001, rep.2)
    assert np.array_equal(row_counts, [[0, 0, 0], [0, 1, 0], [0, 0, 0]])
    assert np.array_equal(s.values[0] == 0.0, row_counts == 0)
    assert s.values[0, 1, 1] == -2.0 and J.indices.tolist() == [1]  # I12 (largest of the six) at column 1
    # the output really does not depend on the inputs of the empty rows: perturb every input a little
    bumped = max_pool2d(x + 0.1 * np.random.default_rng(0).random(x.shape), **NOTE001_B, pad_value=0.0)
    assert np.array_equal(bumped[0][row_counts == 0], np.zeros(8))


def test_minus_inf_padding_never_wins_and_every_row_has_one_entry():
    x = -np.arange(1.0, 13.0).reshape(1, 3, 4)
    J = max_pool2d_jacobian(x, **NOTE001_B, pad_value=NEG_INF)
    assert np.array_equal(np.diff(J.indptr), np.ones(9))


def test_window_entirely_in_minus_inf_padding_is_refused_but_zero_padding_is_not():
    x = np.ones((1, 2, 2))
    with pytest.raises(GeometryError, match="^padding: a pooling window lies entirely in the padding"):
        max_pool2d(x, 1, stride=1, padding=1)
    y = max_pool2d(x, 1, stride=1, padding=1, pad_value=0.0)
    J = max_pool2d_jacobian(x, 1, stride=1, padding=1, pad_value=0.0)
    assert y[0, 0, 0] == 0.0 and np.diff(J.indptr)[0] == 0


def test_nan_input_is_a_clear_value_error_on_every_face():
    x = np.zeros((1, 4, 4))
    x[0, 1, 2] = np.nan
    for fn in (max_pool2d, max_pool2d_jacobian, max_pool2d_switches):
        with pytest.raises(ValueError, match="^x: contains NaN"):
            fn(x, 2)
    with pytest.raises(ValueError, match="^x: contains NaN"):
        max_pool2d_vjp_switches(np.zeros((1, 2, 2)), x, 2)


@pytest.mark.parametrize("fn,kernel,padding", [(max_pool2d, 4, 0), (max_pool2d_jacobian, 4, 0), (avg_pool2d, (2, 6), 1)])
def test_window_larger_than_padded_input_is_a_one_line_geometry_error(fn, kernel, padding):
    with pytest.raises(GeometryError) as err:
        fn(np.zeros((1, 3, 3)), kernel, padding=padding)
    msg = str(err.value)
    assert msg.startswith("kernel_size:") and "\n" not in msg and "exceeds the padded input" in msg


def test_bad_input_rank_and_gradient_shape_are_refused():
    with pytest.raises(GeometryError, match=r"^x: must have shape \(C, H, W\)"):
        max_pool2d(np.zeros((4, 4)), 2)
    with pytest.raises(GeometryError, match="^g: must have the output's shape"):
        max_pool2d_vjp_switches(np.zeros((1, 3, 3)), np.zeros((1, 4, 4)), 2)


def test_batched_forward_equals_per_sample_forward():
    rng = np.random.default_rng(3)
    xb = rng.standard_normal((3, 2, 5, 6))
    kw = dict(kernel_size=3, stride=2, padding=1)
    yb = max_pool2d(xb, **kw)
    ab = avg_pool2d(xb, **kw, count_include_pad=False)
    for n in range(3):
        assert np.array_equal(yb[n], max_pool2d(xb[n], **kw))
        np.testing.assert_allclose(ab[n], avg_pool2d(xb[n], **kw, count_include_pad=False), rtol=1e-15)


# ---------------------------------------------------------------------------
# note 001 (Vardhan 2022), Appendix B
# ---------------------------------------------------------------------------
# rep.2 of the note: the entries each of the nine windows reads ("0" = a padded entry)
NOTE001_REP2 = {
    (1, 1): {"0", "I11", "I21"},
    (1, 2): {"0", "I12", "I22", "I13", "I23"},
    (1, 3): {"0", "I14", "I24"},
    (2, 1): {"0", "I11", "I21", "I31"},
    (2, 2): {"I12", "I22", "I32", "I13", "I23", "I33"},
    (2, 3): {"0", "I14", "I24", "I34"},
    (3, 1): {"0", "I21", "I31"},
    (3, 2): {"0", "I22", "I23", "I32", "I33"},
    (3, 3): {"0", "I24", "I34"},
}


def test_note001_appendix_b_windows_match_rep2():
    # which inputs each window reads, from the (input-independent) average-pooling Jacobian's pattern
    J = avg_pool2d_jacobian((1, 3, 4), **NOTE001_B)
    assert J.shape == (9, 12)  # (h_a, w_a) = (3, 3) as the note states
    for r in range(9):
        p, q = divmod(r, 3)
        cols = J.indices[J.indptr[r] : J.indptr[r + 1]]
        read = {f"I{c // 4 + 1}{c % 4 + 1}" for c in cols}
        if cols.size < 6:  # fewer than h_l·w_l = 6 inputs: the rest of the window is padding
            read.add("0")
        assert read == NOTE001_REP2[(p + 1, q + 1)], (p + 1, q + 1)


def test_note001_switch_example_i21_is_5():
    # the note: A21 = max{0, a11, a21, a31} = a21 gives i_21 = 5 in vΩ = [0, 0, 0, a11, a21, a31]
    x = np.array([[[-1.0, -5, -5, -5], [2.0, -5, -5, -5], [1.0, -5, -5, -5]]])  # I21 = 2 is the max
    s = max_pool2d_switches(x, **NOTE001_B, pad_value=0.0, ties="first-colmajor")
    assert s.note001_index[0, 1, 0] == 5
    j = vardhan2022_mask_column(5, 2, 1, 3, (3, 2), (1, 2), (1, 1))
    assert j == 2  # 1-based column-major position of I21 in vI


def _note_index_inputs(s):
    oh, ow = s.geometry.out_hw
    p, q = np.meshgrid(np.arange(1, oh + 1), np.arange(1, ow + 1), indexing="ij")
    return s.note001_index[0], p, q


note_geometries = st.fixed_dictionaries(
    {
        "h": st.integers(1, 6),
        "w": st.integers(1, 6),
        "kernel": st.tuples(st.integers(1, 4), st.integers(1, 4)),
        "stride": st.tuples(st.integers(1, 3), st.integers(1, 3)),
        "pad": st.tuples(st.integers(0, 2), st.integers(0, 2)),
        "pad_value": st.sampled_from([0.0, NEG_INF]),
        "seed": st.integers(0, 2**32 - 1),
    }
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(note_geometries)
def test_note001_index_formula_against_the_mask(g):
    (kh, kw), (ph, pw) = g["kernel"], g["pad"]
    assume(kh <= g["h"] + 2 * ph and kw <= g["w"] + 2 * pw)
    assume(g["pad_value"] == 0.0 or (ph < kh and pw < kw))
    x = np.random.default_rng(g["seed"]).standard_normal((1, g["h"], g["w"]))
    kwargs = dict(kernel_size=g["kernel"], stride=g["stride"], padding=g["pad"], pad_value=g["pad_value"])
    s = max_pool2d_switches(x, **kwargs, ties="first-colmajor")
    J = max_pool2d_jacobian(x, **kwargs, ties="first-colmajor")
    # the mask in note 001's own convention: rows vec(A), columns vec(I), both column-major
    M = PRESETS["vardhan2022"].jacobian(J, s.values.shape, x.shape).toarray()
    i_pq, p, q = _note_index_inputs(s)
    written = vardhan2022_mask_column(i_pq, p, q, g["h"], g["kernel"], g["stride"], g["pad"])
    fixed = vardhan2022_mask_column_corrected(i_pq, p, q, (g["h"], g["w"]), g["kernel"], g["stride"], g["pad"])
    on_input = ~s.on_padding[0]
    for pp, qq in zip(*np.nonzero(np.ones_like(on_input))):
        row = M[qq * s.values.shape[1] + pp]  # column-major row index of A[pp, qq]
        if on_input[pp, qq]:
            assert np.flatnonzero(row).tolist() == [fixed[pp, qq] - 1] == [written[pp, qq] - 1]
        else:  # switch on the padding: the row is empty; the corrected formula says so
            assert not row.any() and fixed[pp, qq] == 0
    if g["pad_value"] == NEG_INF:
        assert on_input.all()  # with −inf padding the note's formula is always right


def test_note001_formula_as_written_points_outside_the_window_when_padding_wins():
    # Erratum: note 001's own example geometry with max{0, …} windows and all-negative inputs.
    x = -np.arange(1.0, 13.0).reshape(1, 3, 4)
    s = max_pool2d_switches(x, **NOTE001_B, pad_value=0.0, ties="first-colmajor")
    i_pq, p, q = _note_index_inputs(s)
    written = vardhan2022_mask_column(i_pq, p, q, 3, (3, 2), (1, 2), (1, 1))
    # A12 = max{0, I12, I22, I13, I23} = 0, won by the padded entry i_12 = 1; eqs. b-2.1–b-2.3 give
    # (r_i, c_i) = (0, 2) and j = 3 — the column of I31, which is not even in A12's window.
    assert s.note001_index[0, 0, 1] == 1 and written[0, 1] == 3
    assert "I31" not in NOTE001_REP2[(1, 2)]
    # A11's j = −3 is no column at all; the corrected formula returns 0 ("empty row") for all eight
    assert written[0, 0] == -3
    fixed = vardhan2022_mask_column_corrected(i_pq, p, q, (3, 4), (3, 2), (1, 2), (1, 1))
    assert (fixed == 0).sum() == 8 and fixed[1, 1] == written[1, 1] == 4  # A22's winner I12 → column 4


# ---------------------------------------------------------------------------
# average pooling
# ---------------------------------------------------------------------------
AVG_GEOMETRIES = [
    ((2, 6, 6), 3, 2, 1),
    ((3, 5, 7), (2, 3), (1, 2), (1, 1)),
    ((1, 3, 4), (3, 2), (1, 2), 1),
    ((2, 5, 6), 2, 1, (0, 1, 1, 0)),
    ((1, 4, 5), (3, 3), 1, (2, 0, 1, 2)),
    ((1, 1, 1), 1, None, 0),
]


@pytest.mark.parametrize("shape,k,s,p", AVG_GEOMETRIES)
def test_avg_pool_jacobian_equals_depthwise_conv_with_constant_kernel(shape, k, s, p):
    c = shape[0]
    kh, kw = (k, k) if isinstance(k, int) else k
    weight = np.full((c, 1, kh, kw), 1.0 / (kh * kw))
    stride = (kh, kw) if s is None else s
    J_avg = avg_pool2d_jacobian(shape, k, s, p, count_include_pad=True)
    J_conv = conv2d_input_jacobian(weight, shape, stride=stride, padding=p, groups=c)
    # both store 1/(kh·kw) in the same positions: exact equality
    assert J_avg.shape == J_conv.shape
    assert (J_avg != J_conv).nnz == 0
    x = np.random.default_rng(5).standard_normal(shape)
    np.testing.assert_allclose(avg_pool2d(x, k, s, p), conv2d(x, weight, stride=stride, padding=p, groups=c), rtol=0, atol=1e-14)


def test_avg_pool_jacobian_does_not_depend_on_the_input_values():
    spec = get_operator("avg_pool2d")
    p = dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)
    rng = np.random.default_rng(0)
    J1 = spec.jacobian["x"](x=rng.standard_normal((2, 5, 5)), **p)
    J2 = spec.jacobian["x"](x=np.zeros((2, 5, 5)), **p)
    assert (J1 != J2).nnz == 0


def test_count_include_pad_false_divides_by_the_entries_on_the_input():
    x = np.ones((1, 3, 3))
    incl = avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=True)[0]
    excl = avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)[0]
    np.testing.assert_allclose(incl, np.array([[4, 6, 4], [6, 9, 6], [4, 6, 4]]) / 9, rtol=0, atol=1e-15)
    np.testing.assert_allclose(excl, np.ones((3, 3)), rtol=0, atol=1e-15)
    J = avg_pool2d_jacobian((1, 3, 3), 3, stride=1, padding=1, count_include_pad=False)
    np.testing.assert_allclose(J.sum(axis=1), np.ones(9), rtol=0, atol=1e-15)  # each row averages its window
    assert J[0, 0] == 0.25 and J[1, 0] == 1 / 6 and J[4, 0] == 1 / 9


def reference_avg_pool(x, kernel, stride, padding, count_include_pad):
    """Per-window loops (test only): the mean over the window, padding counted or not."""
    c_n, h, w = x.shape
    (kh, kw), (sh, sw), (pt, pb, pl, pr) = kernel, stride, padding
    oh, ow = (h + pt + pb - kh) // sh + 1, (w + pl + pr - kw) // sw + 1
    y = np.zeros((c_n, oh, ow))
    for c in range(c_n):
        for i in range(oh):
            for j in range(ow):
                total, count = 0.0, 0
                for a in range(kh):
                    for b in range(kw):
                        r, q = i * sh - pt + a, j * sw - pl + b
                        if 0 <= r < h and 0 <= q < w:
                            total += x[c, r, q]
                            count += 1
                y[c, i, j] = total / (kh * kw if count_include_pad else count)
    return y


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(geometries, st.booleans())
def test_avg_pool_and_its_jacobian_equal_brute_force_reference(g, count_include_pad):
    g = dict(g, dilation=(1, 1))
    assume(_fits(g))
    (kh, kw), (pt, pb, pl, pr) = g["kernel"], g["padding"]
    # count_include_pad=False needs every window to reach the input
    assume(count_include_pad or (max(pt, pb) < kh and max(pl, pr) < kw))
    x = np.random.default_rng(g["seed"]).standard_normal((g["c"], g["h"], g["w"]))
    kw_ = dict(kernel_size=g["kernel"], stride=g["stride"], padding=g["padding"], count_include_pad=count_include_pad)
    try:
        y = avg_pool2d(x, **kw_)
    except GeometryError as err:
        assert not count_include_pad and "entirely in the padding" in str(err)
        return
    y_ref = reference_avg_pool(x, g["kernel"], g["stride"], g["padding"], count_include_pad)
    np.testing.assert_allclose(y, y_ref, rtol=0, atol=1e-14)
    J = avg_pool2d_jacobian(x.shape, **kw_)
    np.testing.assert_allclose(J @ x.ravel(), y_ref.ravel(), rtol=0, atol=1e-14)  # linear, no offset


def test_avg_window_entirely_in_padding_with_count_exclude_is_refused():
    with pytest.raises(GeometryError, match="^padding: a pooling window lies entirely in the padding"):
        avg_pool2d(np.ones((1, 2, 2)), 1, stride=1, padding=1, count_include_pad=False)


# ---------------------------------------------------------------------------
# torch
# ---------------------------------------------------------------------------
@requires_torch
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(geometries)
def test_switches_match_torch_return_indices_with_ties(g):
    import torch
    import torch.nn.functional as F

    (kh, kw), (dh, dw) = g["kernel"], g["dilation"]
    ph, pw = g["padding"][0], g["padding"][2]
    # torch: symmetric padding at most half the kernel size, padding behaves as −inf
    assume(2 * ph <= kh and 2 * pw <= kw)
    g = dict(g, padding=(ph, ph, pw, pw), pad_value=NEG_INF)
    assume(_fits(g))
    x = _tie_heavy_input(g)
    try:
        s = max_pool2d_switches(x, **_pool_kwargs(g))
    except GeometryError:
        assume(False)
    xt = torch.from_numpy(x)[None]
    if g["ties"] == "first":
        y, idx = F.max_pool2d(xt, (kh, kw), g["stride"], (ph, pw), (dh, dw), return_indices=True)
        idx = idx[0].numpy()
    else:  # torch scans rows first: transpose H and W to scan columns first
        sw = lambda t: (t[1], t[0])  # noqa: E731
        y, idx_t = F.max_pool2d(
            xt.transpose(-1, -2), sw((kh, kw)), sw(g["stride"]), (pw, ph), sw((dh, dw)), return_indices=True
        )
        y = y.transpose(-1, -2)
        r, c = np.divmod(idx_t[0].numpy(), g["h"])  # flat index into the transposed (W, H) plane
        idx = (c * g["w"] + r).transpose(0, 2, 1)
    assert np.array_equal(y[0].numpy(), s.values)
    per_channel = s.column - np.arange(g["c"])[:, None, None] * g["h"] * g["w"]
    assert np.array_equal(per_channel, idx)


@requires_torch
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("shape,k,s,p", [g for g in AVG_GEOMETRIES if not isinstance(g[3], tuple) or len(g[3]) == 2])
def test_avg_pool_against_torch_native(shape, k, s, p, count_include_pad):
    import torch
    import torch.nn.functional as F

    kh, kw = (k, k) if isinstance(k, int) else k
    ph, pw = (p, p) if isinstance(p, int) else p
    if 2 * ph > kh or 2 * pw > kw:
        pytest.skip("torch needs padding ≤ kernel/2")
    x = np.random.default_rng(9).standard_normal(shape)
    stride = (kh, kw) if s is None else s
    fn = lambda t: F.avg_pool2d(t[None], (kh, kw), stride, (ph, pw), count_include_pad=count_include_pad)[0]  # noqa: E731
    yt = fn(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(avg_pool2d(x, k, s, p, count_include_pad=count_include_pad), yt, rtol=0, atol=1e-14)
    Jt = torch.func.jacrev(fn)(torch.from_numpy(x)).numpy().reshape(yt.size, x.size)
    J = avg_pool2d_jacobian(shape, k, s, p, count_include_pad=count_include_pad).toarray()
    np.testing.assert_allclose(J, Jt, rtol=0, atol=1e-15)


@requires_torch
@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d"])
def test_registered_cases_against_torch_jacrev(name):
    check_registered_cases_with_torch(name)


def test_module_docstring_examples():
    result = doctest.testmod(pooling, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 5 and result.failed == 0


def test_registered_cases_have_no_ties_and_cover_empty_rows():
    # the generic check's finite differences need tie-free cases; the table must still exercise empty rows
    empty_rows = 0
    for case in get_operator("max_pool2d").cases():
        x = case.inputs["x"]
        assert np.unique(x).size == x.size and np.abs(x).min() >= 0.1
        empty_rows += int(max_pool2d_switches(x, **case.params).on_padding.sum())
    assert empty_rows > 0
