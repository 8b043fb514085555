"""jacobians.sparsity: every statistic checked against an independent count.

Independent routes used here:
* nnz: a brute-force count of in-bounds kernel taps (Python loops over
  output positions and taps), never the builders' index grids;
* row counts: the forward conv2d applied to all-ones input and weight;
* column counts: the rot180 VJP (Jᵀ·1 of the 0/1 pattern, never the matrix);
* bandwidth / block structure: dense ``np.nonzero`` and explicit
  constructions with ``scipy.linalg.toeplitz``.
"""
import subprocess
import sys

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp

from jacobians import sparsity as S
from jacobians.geometry import Conv2dGeometry
from jacobians.ops.conv2d import (
    CONV_GEOMETRIES,
    conv2d,
    conv2d_input_jacobian,
    conv2d_vjp_input_rot180,
    conv2d_vjp_weight_rot180,
    conv2d_weight_jacobian,
)

GEOMS = [
    Conv2dGeometry.from_shapes((c, h, w), (o, c // g, kh, kw), s, p, d, g)
    for c, h, w, o, kh, kw, s, p, d, g in CONV_GEOMETRIES
]
IDS = [f"{g.input_shape}-{g.weight_shape}-s{g.stride}-p{g.padding}-d{g.dilation}-g{g.groups}" for g in GEOMS]


def brute_force_nnz(geom):
    """C_out·(C_in/G)·Σ_i n_h(i)·Σ_j n_w(j) with the tap counts found by plain loops."""
    def taps(out, size, k, s, d, before):
        return sum(1 for i in range(out) for a in range(k) if 0 <= i * s - before + a * d < size)

    oh, ow = geom.out_hw
    n_h = taps(oh, geom.height, geom.kernel[0], geom.stride[0], geom.dilation[0], geom.padding[0])
    n_w = taps(ow, geom.width, geom.kernel[1], geom.stride[1], geom.dilation[1], geom.padding[2])
    return geom.out_channels * geom.in_per_group * n_h * n_w


def params(geom):
    return dict(stride=geom.stride, padding=geom.padding, dilation=geom.dilation, groups=geom.groups)


def random_weight(geom, rng):
    # bounded away from 0 so that no stored value is an accidental zero
    return rng.uniform(0.5, 1.5, geom.weight_shape) * rng.choice([-1, 1], geom.weight_shape)


@pytest.mark.parametrize("geom", GEOMS, ids=IDS)
def test_nnz_formula_and_counts_match_independent_routes(geom):
    rng = np.random.default_rng(0)
    w = random_weight(geom, rng)
    x = rng.uniform(0.5, 1.5, geom.input_shape)
    J_x = conv2d_input_jacobian(w, geom.input_shape, **params(geom))
    J_w = conv2d_weight_jacobian(x, geom.weight_shape, **params(geom))
    expected = brute_force_nnz(geom)
    assert S.conv2d_nnz(geom) == expected
    assert S.nnz(J_x) == expected == S.nnz(J_w)
    assert S.nnz(J_x, structural=False) == expected  # no stored zeros
    assert S.density(J_x) == expected / (J_x.shape[0] * J_x.shape[1])

    ones_x, ones_w = np.ones(geom.input_shape), np.ones(geom.weight_shape)
    # row counts: the forward on all-ones input and weight counts in-bounds taps per output
    fwd = conv2d(ones_x, ones_w, **params(geom))
    np.testing.assert_array_equal(S.row_counts(J_x), fwd.ravel())
    # column counts (fold multiplicity): Jᵀ·1 of the 0/1 pattern through the rot180 VJP
    g = np.ones(geom.output_shape)
    np.testing.assert_array_equal(S.column_counts(J_x), conv2d_vjp_input_rot180(g, ones_x, ones_w, **params(geom)).ravel())
    np.testing.assert_array_equal(S.column_counts(J_w), conv2d_vjp_weight_rot180(g, ones_x, ones_w, **params(geom)).ravel())


def test_column_counts_of_note000_fold_example():
    """A 3×3 kernel at stride 1 on a 6×6 image: the centre pixels are read by 9 windows, corners by 1."""
    J = conv2d_input_jacobian(np.ones((1, 1, 3, 3)), (1, 6, 6))
    counts = S.column_counts(J).reshape(6, 6)
    expected = np.outer([1, 2, 3, 3, 2, 1], [1, 2, 3, 3, 2, 1])
    np.testing.assert_array_equal(counts, expected)


def test_storage_bytes_matches_built_arrays():
    J = conv2d_input_jacobian(np.ones((2, 3, 3, 3)), (3, 7, 5), padding=1)
    b = S.storage_bytes(J)
    assert b["csr"] == J.data.nbytes + J.indices.nbytes + J.indptr.nbytes
    assert b["dense"] == J.toarray().nbytes
    # the estimate from the shape and nnz alone agrees
    assert S.storage_bytes(J.shape, J.nnz) == b


@pytest.mark.parametrize("seed", range(5))
def test_bandwidth_against_dense(seed):
    rng = np.random.default_rng(seed)
    A = rng.random((7, 11)) * (rng.random((7, 11)) < 0.25)
    r, c = np.nonzero(A)
    lower = max(0, int((r - c).max())) if r.size else 0
    upper = max(0, int((c - r).max())) if r.size else 0
    assert S.bandwidth(sp.csr_array(A)) == (lower, upper)
    assert S.bandwidth(A) == (lower, upper)


def test_bandwidth_of_empty_and_diagonal():
    assert S.bandwidth(sp.csr_array((4, 4))) == (0, 0)
    assert S.bandwidth(sp.eye_array(5)) == (0, 0)
    assert S.bandwidth(sp.eye_array(5, k=2)) == (0, 2)


def test_block_diagonal_weight_jacobian_and_depthwise_input_jacobian():
    rng = np.random.default_rng(1)
    geom = Conv2dGeometry.from_shapes((3, 6, 5), (4, 3, 3, 2))
    oh, ow = geom.out_hw
    J_w = conv2d_weight_jacobian(rng.standard_normal((3, 6, 5)), geom.weight_shape)
    assert S.is_block_diagonal(J_w, oh * ow, 3 * 3 * 2)  # M_X^im blocks, one per output channel
    assert not S.is_block_diagonal(J_w, oh * ow, 3)
    J_x = conv2d_input_jacobian(rng.standard_normal(geom.weight_shape), (3, 6, 5))
    assert not S.is_block_diagonal(J_x, oh * ow, 6 * 5)  # every output channel reads every input channel
    # depthwise (groups = C): M_F^filter becomes block diagonal
    J_dw = conv2d_input_jacobian(rng.standard_normal((3, 1, 3, 3)), (3, 6, 6), groups=3)
    assert S.is_block_diagonal(J_dw, 16, 36)
    # one entry outside the blocks breaks it
    broken = J_w.tolil()
    broken[0, J_w.shape[1] - 1] = 1.0
    assert not S.is_block_diagonal(broken.tocsr(), oh * ow, 18)


def explicit_bttb(first_cols, first_rows, n_block_rows, n_block_cols):
    """A BTTB matrix assembled from scipy.linalg.toeplitz blocks: block (I, J) = T[J − I]."""
    blocks = {d: scipy.linalg.toeplitz(c, r) for d, (c, r) in enumerate(zip(first_cols, first_rows), start=-(n_block_rows - 1))}
    return np.block([[blocks[J - I] for J in range(n_block_cols)] for I in range(n_block_rows)])


def test_bttb_true_for_explicit_construction_and_false_after_perturbation():
    rng = np.random.default_rng(2)
    n_br, n_bc, bh, bw = 3, 4, 2, 5
    n_diag = n_br + n_bc - 1
    cols = [rng.integers(1, 9, bh).astype(float) for _ in range(n_diag)]
    rows = [np.r_[c[0], rng.integers(1, 9, bw - 1)].astype(float) for c in cols]
    A = explicit_bttb(cols, rows, n_br, n_bc)
    assert S.is_block_toeplitz_with_toeplitz_blocks(sp.csr_array(A), (bh, bw))
    B = A.copy()
    B[0, 0] += 1  # breaks the diagonal it sits on
    assert not S.is_block_toeplitz_with_toeplitz_blocks(B, (bh, bw))
    C = A.copy()
    C[bh, bw] = 0  # a hole on a diagonal (Toeplitz needs the whole diagonal)
    assert not S.is_block_toeplitz_with_toeplitz_blocks(C, (bh, bw))
    assert not S.is_block_toeplitz_with_toeplitz_blocks(A, (bh + 1, bw))  # shape not a whole number of blocks


@pytest.mark.parametrize(
    "stride,padding,dilation,holds",
    [(1, 0, 1, True), (1, 1, 1, True), (1, (0, 2, 1, 0), 1, True), (1, 1, 2, True), (2, 0, 1, False), ((1, 2), 0, 1, False)],
)
def test_bttb_of_conv_input_jacobian_per_channel_block(stride, padding, dilation, holds):
    """M_F^filter (per output/input channel pair) is BTTB exactly at stride 1 (note 004)."""
    rng = np.random.default_rng(3)
    c_in, h, w = 2, 7, 6
    weight = random_weight(Conv2dGeometry.from_shapes((c_in, h, w), (2, c_in, 3, 3)), rng)
    geom = Conv2dGeometry.from_shapes((c_in, h, w), weight.shape, stride, padding, dilation)
    oh, ow = geom.out_hw
    J = conv2d_input_jacobian(weight, (c_in, h, w), stride, padding, dilation)
    results = [
        S.is_block_toeplitz_with_toeplitz_blocks(J[o * oh * ow : (o + 1) * oh * ow, c * h * w : (c + 1) * h * w], (ow, w))
        for o in range(2)
        for c in range(c_in)
    ]
    assert all(results) if holds else not any(results)
    s = S.stats(J, toeplitz_block=(ow, w), channel_grid=(oh * ow, h * w))
    assert s["bttb"]["holds"] is holds


def test_stats_of_a_small_known_matrix():
    A = np.array([[1.0, 0, 2, 0], [0, 0, 0, 0], [0, 3, 0, 4]])
    s = S.stats(A, blocks=(1, 1))
    assert s["shape"] == (3, 4) and s["nnz"] == 4 and s["density"] == 4 / 12
    assert s["row_counts"] == {"min": 0, "max": 2, "mean": 4 / 3}
    assert s["column_counts"] == {"min": 1, "max": 1, "mean": 1.0}
    assert s["column_count_histogram"] == {1: 4}
    assert s["empty_rows"] == 1 and s["empty_columns"] == 0
    assert s["bandwidth"] == (1, 2)
    assert s["block_diagonal"]["holds"] is False
    text = S.format_stats(s)
    assert "nnz             4" in text and "bandwidth       lower 1  upper 2" in text


def test_sympy_matrix_pattern():
    sympy = pytest.importorskip("sympy")
    a, b = sympy.symbols("a b")
    M = sympy.ImmutableSparseMatrix(2, 3, {(0, 0): a, (1, 2): b})
    assert S.nnz(M) == 2 and S.bandwidth(M) == (0, 1)


def decode_braille(text):
    """Dots of each braille character back to a boolean grid (4 rows × 2 columns per character)."""
    bits = [[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]]
    lines = text.split("\n")
    grid = np.zeros((4 * len(lines), 2 * len(lines[0])), dtype=bool)
    for i, line in enumerate(lines):
        for j, ch in enumerate(line):
            code = ord(ch) - 0x2800
            assert 0 <= code < 256, f"not a braille character: {ch!r}"
            for a in range(4):
                for b in range(2):
                    grid[4 * i + a, 2 * j + b] = bool(code & bits[a][b])
    return grid


def test_pattern_text_small_matrix_is_exact():
    rng = np.random.default_rng(4)
    A = (rng.random((13, 9)) < 0.3).astype(float)
    grid = decode_braille(S.pattern_text(A))
    np.testing.assert_array_equal(grid[:13, :9], A != 0)
    assert not grid[13:].any() and not grid[:, 9:].any()
    ascii_lines = S.pattern_text(A, style="ascii").split("\n")
    assert ascii_lines == ["".join("#" if v else "." for v in row) for row in A != 0]


def test_pattern_text_large_matrix_is_bounded_and_downsampled():
    J = conv2d_input_jacobian(np.ones((8, 3, 3, 3)), (3, 64, 64), padding=1)
    text = S.pattern_text(J)
    lines = text.split("\n")
    assert len(lines) <= 40 and max(len(line) for line in lines) <= 80
    # first rows read the first columns: the top-left cell is drawn, and every block row has dots
    assert decode_braille(text)[0, 0]
    assert all(any(ch != "\u2800" for ch in line) for line in lines)
    with pytest.raises(ValueError, match="style"):
        S.pattern_text(J, style="pixels")


def test_save_spy_png_and_svg(tmp_path):
    pytest.importorskip("matplotlib")
    J = conv2d_weight_jacobian(np.ones((2, 6, 6)), (3, 2, 3, 3))
    S.save_spy(J, tmp_path / "a.png", blocks=(16, 18), title="M_X^im")
    S.save_spy(J, tmp_path / "a.svg", blocks=(16, 18))
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (tmp_path / "a.svg").read_bytes()[:2000]


def test_spy_marks_channel_blocks():
    pytest.importorskip("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure()
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    J = conv2d_weight_jacobian(np.ones((2, 6, 6)), (3, 2, 3, 3))  # 48 × 54, 3 × 3 blocks
    S.spy(J, ax=ax, blocks=(16, 18), title="t")
    # 2 horizontal + 2 vertical separators
    separators = [ln for ln in ax.get_lines() if ln.get_color() == "tab:red"]
    assert len(separators) == 4
    assert ax.get_title() == "t"


def test_import_does_not_load_matplotlib():
    code = "import sys, jacobians, jacobians.sparsity; jacobians.sparsity.stats([[1.0]]); print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
