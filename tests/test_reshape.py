"""Structural operators: exact 0/1 Jacobians against independent constructions."""
import numpy as np
import pytest

from jacobians.conventions import PRESETS, commutation_matrix, get_convention
from jacobians.ledger.vardhan2022_formulas import vardhan2022_channel_rows
from jacobians.geometry import GeometryError
from jacobians.ops import reshape as rs


@pytest.mark.parametrize("m,n", [(1, 1), (2, 3), (4, 1), (3, 5)])
def test_matrix_transpose_jacobian_is_the_commutation_matrix(m, n):
    # canonical (row-major) vec: vec_r(Aᵀ) = vec_c(A) = K(n, m) vec_c(Aᵀ) = K(n, m) vec_r(A)
    J = rs.transpose_jacobian((m, n))
    assert (J != commutation_matrix(n, m)).nnz == 0


@pytest.mark.parametrize("name", sorted(PRESETS))
@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4), (2, 2, 3, 2)])
def test_vec_jacobian_equals_convention_permutation(name, shape):
    # two independent builds: ravel_multi_index here, a transposed index array in conventions.py
    assert (rs.vec_jacobian(shape, name) != get_convention(name).permutation(shape)).nnz == 0


@pytest.mark.parametrize("src,dst", [("canonical", "vardhan2022"), ("vardhan2022", "channels-last"), ("matlab", "dd2424")])
def test_convert_jacobian_is_p_target_times_p_source_transposed(src, dst):
    shape = (2, 3, 4)
    expected = get_convention(dst).permutation(shape) @ get_convention(src).permutation(shape).T
    assert (rs.convert_vec_jacobian(shape, src, dst) != expected).nnz == 0


def test_vec_jacobian_moves_entries_as_note001_lists_them():
    # note 001 Appendix A: vA = (a11, a21, a31, a12, …) for a 3 × 4 matrix (column-major)
    a = np.arange(1, 13).reshape(3, 4)  # a[i, j] = 4i + j + 1
    assert (rs.vec_jacobian((3, 4), "vardhan2022") @ a.ravel()).tolist() == [1, 5, 9, 2, 6, 10, 3, 7, 11, 4, 8, 12]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_stack_jacobian_is_zero_identity_zero_block(index):
    t = 16  # note 004: t = (w − f + 1)(h − f + 1) = 4·4
    blocks = [np.zeros((t, t))] * 3
    blocks = [np.eye(t) if k == index else blocks[k] for k in range(3)]
    J = rs.stack_jacobian(index, 3, t)
    assert J.shape == (3 * t, t)  # "each ∂vec(S)/∂vec(S_i) has size 3t × t"
    assert np.array_equal(J.toarray(), np.vstack(blocks))
    assert (rs.select_jacobian((3, 4, 4), index) != J.T).nnz == 0  # select is stacking's adjoint


def test_stacked_row_times_block_picks_the_map_gradient():
    # ∂l/∂vec(S) (0; I_t; 0) = ∂l/∂vec(S_i): the row block of the i-th map
    g = np.random.default_rng(0).standard_normal((3, 2, 5))
    for i in range(3):
        assert np.array_equal(g.ravel() @ rs.stack_jacobian(i, 3, 10), g[i].ravel())


def test_reshape_F_order_is_matlab_reshape():
    x = np.arange(6.0).reshape(2, 3)
    J = rs.reshape_jacobian((2, 3), (3, 2), "F")
    # MATLAB reshape keeps the column-major sequence: vec_c(out) = vec_c(x)
    out = (J @ x.ravel()).reshape(3, 2)
    assert np.array_equal(out.ravel(order="F"), x.ravel(order="F"))


def test_vardhan_channel_rows_are_column_major_channel_gradients():
    # B = [vec(A_1); …; vec(A_c)] (column-major per channel). For J = cᵀB the row dJ/dB is cᵀ;
    # reshaped to c × (h·w), row j must be dJ/dvec(A_j): the canonical gradient of channel j,
    # vectorized column-major. The canonical gradient comes from P_vardhanᵀ c.
    ch, h, w = 3, 2, 4
    coeff = np.random.default_rng(1).standard_normal(ch * h * w)
    rows = vardhan2022_channel_rows(coeff[None, :], ch)
    grad = (rs.vec_jacobian((ch, h, w), "vardhan2022").T @ coeff).reshape(ch, h, w)
    assert rows.shape == (ch, h * w)
    for j in range(ch):
        assert np.array_equal(rows[j], grad[j].ravel(order="F"))


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: rs.stack(np.zeros((2, 2)), np.zeros((2, 3))), "maps: all stacked maps must have one shape"),
        (lambda: rs.stack_jacobian(3, 3, 4), "index: must be below count = 3"),
        (lambda: rs.select(np.zeros((2, 3)), 2), r"index: must be below x.shape\[0\] = 2"),
        (lambda: rs.reshape(np.zeros((2, 3)), (4, 2)), r"shape: \(4, 2\) does not hold the input's 6 entries"),
        (lambda: rs.transpose(np.zeros((2, 3)), (0, 0)), r"axes: must be a permutation of range\(2\)"),
        (lambda: rs.convert_vec(np.zeros(5), (2, 3)), "v: must be a vector of 6 entries"),
        (lambda: vardhan2022_channel_rows(np.zeros(7), 3), "dj_db: must be a row of c\\*h\\*w entries"),
    ],
)
def test_bad_input_gives_one_line_errors(call, match):
    with pytest.raises(GeometryError, match=match) as info:
        call()
    assert "\n" not in str(info.value)


def test_reshape_rejects_unknown_order():
    with pytest.raises(ValueError, match="order: must be 'C' or 'F'"):
        rs.reshape(np.zeros(4), (2, 2), order="A")


def test_dd2424_vec_is_the_canonical_vec():
    # row-major within a plane, planes stacked: the lecture's vec needs no permutation
    shape = (3, 4, 4)
    assert (rs.vec_jacobian(shape, "dd2424") != rs.vec_jacobian(shape, "canonical")).nnz == 0
    assert (rs.vec_jacobian(shape, "canonical") != rs.flatten_jacobian(shape)).nnz == 0
