"""The notes' worked examples, reproduced exactly with sympy.

Each example is a function returning a dict ``label -> sympy object``
(matrices, or a scalar expression for a single derivative), registered in
:data:`EXAMPLES` under a stable name ``<note key>.<what>``. Structured
matrices are built by the explicit builders of :mod:`jacobians.ops` with
symbolic values (fast at any size); sympy differentiation is used only as a
cross-check on the small ones (see tests/test_symbolic_examples.py, where
the entries the notes print are typed in as data).

Sources (restated in our own words):

* ``dd2424.*`` — DD2424 lecture 6, "The Convolutional Layer in Convolutional
  Networks" (KTH, 2017): convolution as M_X^im vec(F) and as
  M_F^filter vec(X), the multi-plane block forms, and gᵀ M_F^filter as a
  correlation of the zero-padded G with the 180°-rotated filter (and the
  gradient w.r.t. a multi-plane filter, which the lecture writes as a sum
  over planes where the planes must be stacked). Row-major
  vec within a plane, planes stacked, 1-based names (X₁₁ … X₆₆);
  multi-plane entries are named channel first, X_{k,i,j}, as the lecture's
  formula S_lm = Σ_k Σ_i Σ_j X_{k,i+l−1,j+m−1} F_{kij} writes them.
* ``vardhan2022.*`` — Harsha Vardhan, "Convolutional Neural Network:
  back-propagation for 2D-convolution" (2022), Appendix A (a 3×4 input, 2×2
  kernel, padding (1, 1), stride (1, 2)) and Appendix B (max pooling with a
  3×2 window, zero padding taking part in the max). Column-major vec.
* ``wang2019.*`` — Shusen Wang, "BackPropagation for Fully-Connected and
  Convolutional Neural Networks" (2019), §5–6: unfolding a 4×3 input with a
  2×2 kernel and the fold that sums the gradients of copied entries. The
  note's example (t₂,₃,₁ lands in x₄,₄ and x₅,₃) holds when patches are
  listed column-major *and* entries within a patch are listed column-major
  (see :func:`unfold_positions`; the other three orderings fail).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import sympy

from jacobians.conventions import Convention
from jacobians.ops.conv2d import col2im, conv2d_input_jacobian, conv2d_weight_jacobian, im2col

from . import ops as sym_ops
from .ops import to_convention, vec_column
from .tensors import NOTE_INDEX_ORDER, symbol_tensor, symbol_vector

__all__ = ["EXAMPLES", "example", "get_example", "example_names", "unfold_positions"]

#: stable name -> function returning {label: sympy Matrix or expression}
EXAMPLES: dict[str, Callable[[], dict]] = {}


def example(name: str, *, note: str, where: str):
    """Register an example function under ``name``; ``note``/``where`` locate it in the source."""

    def deco(fn):
        if name in EXAMPLES:
            raise ValueError(f"example: {name!r} is already registered")
        fn.example_name = name
        fn.note = note
        fn.where = where
        EXAMPLES[name] = fn
        return fn

    return deco


def example_names() -> list[str]:
    return sorted(EXAMPLES)


def get_example(name: str) -> Callable[[], dict]:
    """The example function ``name``; an unknown name raises ValueError listing the known ones."""
    try:
        return EXAMPLES[name]
    except (KeyError, TypeError):
        raise ValueError(f"example: unknown name {name!r}; choose one of {', '.join(example_names())}") from None


def _matrix(arr) -> sympy.ImmutableMatrix:
    arr = np.asarray(arr, dtype=object)
    if arr.ndim == 1:
        arr = arr[:, None]
    return sympy.ImmutableMatrix(arr.tolist())


def _row(values) -> sympy.ImmutableMatrix:
    values = list(values)
    return sympy.ImmutableMatrix(1, len(values), values)


def _rot180(f) -> np.ndarray:
    return np.asarray(f, dtype=object)[..., ::-1, ::-1]


def _correlate(image, kernel, **params) -> np.ndarray:
    """2-D correlation of one plane with one kernel, via the sympy forward, as an (OH, OW) array."""
    image = np.asarray(image, dtype=object)
    kernel = np.asarray(kernel, dtype=object)
    y = sym_ops.conv2d(image[None], kernel[None, None], **params)
    from jacobians.geometry import Conv2dGeometry

    oh, ow = Conv2dGeometry.from_shapes((1, *image.shape), (1, 1, *kernel.shape), **params).out_hw
    return np.array(list(y), dtype=object).reshape(oh, ow)


DD = "dd2424"
ROWMAJOR_PLANES = "row-major vec within each plane, planes stacked"


# ---------------------------------------------------------------------------
# DD2424 lecture 6
# ---------------------------------------------------------------------------
@example("dd2424.m_x_im", note=DD, where="'Writing a convolution as a matrix multiplication', 6×6 image, 3×3 filter")
def dd2424_m_x_im():
    """vec(S) = M_X^im vec(F): the 16×9 matrix of patches of a 6×6 image X for a 3×3 filter F."""
    x = symbol_tensor("X", (6, 6))
    f = symbol_tensor("F", (3, 3))
    m = conv2d_weight_jacobian(x[None], (1, 1, 3, 3))
    m = to_convention(m, DD, (1, 4, 4), (1, 1, 3, 3))
    vec_f = vec_column(f, DD)
    return {"X": _matrix(x), "F": _matrix(f), "M_X^im": m, "vec(F)": vec_f, "vec(S) = M_X^im vec(F)": m * vec_f}


@example("dd2424.m_x_im_multiplane", note=DD, where="'Multiple planes: Convolution → Matrix multiplication' (M_X^im)")
def dd2424_m_x_im_multiplane():
    """M_X^im = (M_X1^im M_X2^im M_X3^im M_X4^im), 16×36, for X 6×6×4 and F₁ 3×3×4 (entries X_{k,i,j}, F_{k,i,j})."""
    x = symbol_tensor("X", (4, 6, 6), index_order=NOTE_INDEX_ORDER[DD])
    m = conv2d_weight_jacobian(x, (1, 4, 3, 3))
    m = to_convention(m, DD, (1, 4, 4), (1, 4, 3, 3))
    out = {"M_X^im": m}
    for k in range(4):
        out[f"M_X{k + 1}^im"] = m[:, 9 * k : 9 * (k + 1)]
    return out


@example("dd2424.m_f_filter", note=DD, where="'Writing convolution as a matrix multiplication' involving vec(X)")
def dd2424_m_f_filter():
    """vec(S) = M_F^filter vec(X): the 16×36 doubly block-Toeplitz matrix of a 3×3 filter on a 6×6 image."""
    x = symbol_tensor("X", (6, 6))
    f = symbol_tensor("F", (3, 3))
    m = conv2d_input_jacobian(f[None, None], (1, 6, 6))
    m = to_convention(m, DD, (1, 4, 4), (1, 6, 6))
    vec_x = vec_column(x, DD)
    return {"F": _matrix(f), "M_F^filter": m, "vec(X)": vec_x, "vec(S) = M_F^filter vec(X)": m * vec_x}


@example("dd2424.m_f_filter_multiplane", note=DD, where="'Multiple planes' (M_F^filter, 16×144)")
def dd2424_m_f_filter_multiplane():
    """M_F1^filter = (M_F11 M_F12 M_F13 M_F14), 16×144, for X 6×6×4 and F₁ 3×3×4 (plane k of F₁ has entries F_{k,i,j})."""
    f = symbol_tensor("F", (4, 3, 3), index_order=NOTE_INDEX_ORDER[DD])
    m = conv2d_input_jacobian(f[None], (4, 6, 6))
    m = to_convention(m, DD, (1, 4, 4), (4, 6, 6))
    out = {"M_F^filter": m}
    for k in range(4):
        out[f"M_F1{k + 1}^filter"] = m[:, 36 * k : 36 * (k + 1)]
    return out


@example("dd2424.v_rot180", note=DD, where="'Turn matrix multiplication to convolution' (v₁ … v₁₅, V = G_zero-pad ∗ F^rot180)")
def dd2424_v_rot180():
    """vᵀ = gᵀ M_F^filter (v₁ … v₃₆) equals V = G_zero-pad ∗ F^rot180 read row by row (∗ = correlation)."""
    f = symbol_tensor("F", (3, 3))
    g = symbol_vector("g", 16)
    m = conv2d_input_jacobian(f[None, None], (1, 6, 6))
    m = to_convention(m, DD, (1, 4, 4), (1, 6, 6))
    v = _row(g).multiply(m)
    g_mat = g.reshape(4, 4)  # row-major, as the lecture reshapes g into G
    g_pad = sym_ops.pad_plane(g_mat, 2)
    f_rot = _rot180(f)
    big_v = _correlate(g_pad, f_rot)
    return {
        "g^T M_F^filter": v,
        "G": _matrix(g_mat),
        "G_zero-pad": _matrix(g_pad),
        "F^rot180": _matrix(f_rot),
        "V = G_zero-pad * F^rot180": _matrix(big_v),
    }


@example("dd2424.v_rot180_multiplane", note=DD, where="'Multiple planes: Matrix multiplication → Convolution'")
def dd2424_v_rot180_multiplane():
    """vᵀ = gᵀ M_F^filter (1×144) for X 6×6×4, F 3×3×4, and the planes V_k = G_zero-pad ∗ F_k^rot180."""
    f = symbol_tensor("F", (4, 3, 3), index_order=NOTE_INDEX_ORDER[DD])
    g = symbol_vector("g", 16)
    m = conv2d_input_jacobian(f[None], (4, 6, 6))
    m = to_convention(m, DD, (1, 4, 4), (4, 6, 6))
    g_pad = sym_ops.pad_plane(g.reshape(4, 4), 2)
    out = {"g^T M_F^filter": _row(g).multiply(m)}
    for k in range(4):
        out[f"V_{k + 1} = G_zero-pad * F_{k + 1}^rot180"] = _matrix(_correlate(g_pad, _rot180(f[k])))
    return out


@example("dd2424.v_m_x_im", note=DD, where="'Writing a certain matrix multiplication as a convolution' (v₁ … v₉)")
def dd2424_v_m_x_im():
    """(v₁ … v₉) = gᵀ M_X^im equals V = X ∗ G (3×3) with G the 4×4 reshape of g (row by row)."""
    x = symbol_tensor("X", (6, 6))
    g = symbol_vector("g", 16)
    m = to_convention(conv2d_weight_jacobian(x[None], (1, 1, 3, 3)), DD, (1, 4, 4), (1, 1, 3, 3))
    g_mat = g.reshape(4, 4)
    return {"g^T M_X^im": _row(g).multiply(m), "G": _matrix(g_mat), "V = X * G": _matrix(_correlate(x, g_mat))}


@example("dd2424.grad_filter_multiplane", note=DD, where="'Gradient of the loss w.r.t. vec(F_i)' (3 planes) and 'Back to Gradient of the loss w.r.t. F_i'")
def dd2424_grad_filter_multiplane():
    """∂l/∂vec(F₁) = gᵀ(M_X1 M_X2 M_X3) (1×27) is the planes X_j ∗ G side by side, not their sum Σ_j gᵀM_Xj (1×9)."""
    x = symbol_tensor("X", (3, 6, 6), index_order=NOTE_INDEX_ORDER[DD])
    g = symbol_vector("g", 16)  # g = (∂l/∂vec(S₁))ᵀ
    m = to_convention(conv2d_weight_jacobian(x, (1, 3, 3, 3)), DD, (1, 4, 4), (1, 3, 3, 3))
    row = _row(g).multiply(m)
    g_mat = g.reshape(4, 4)
    out = {"M_X^im = (M_X1 M_X2 M_X3)": m, "g^T M_X^im (the gradient, 1x27)": row}
    pieces = []
    for j in range(3):
        piece = _row(g).multiply(m[:, 9 * j : 9 * (j + 1)])
        pieces.append(piece)
        out[f"X_{j + 1} * G"] = _matrix(_correlate(x[j], g_mat))
    out["sum_j g^T M_Xj^im (as printed, 1x9)"] = pieces[0] + pieces[1] + pieces[2]
    return out


# ---------------------------------------------------------------------------
# Vardhan 2022, Appendices A and B
# ---------------------------------------------------------------------------
VA = "vardhan2022"
_A_PARAMS = dict(stride=(1, 2), padding=1)


def _vec_index(row, col, n_rows):
    """0-based position of the 1-based entry (row, col) in the column-major vec of an n_rows-row matrix."""
    return (col - 1) * n_rows + (row - 1)


@example("vardhan2022.appendix_a", note=VA, where="Appendix A: Z = A ∗ β, 3×4 input, 2×2 kernel, padding (1,1), stride (1,2)")
def vardhan2022_appendix_a():
    """Z (4×3) = A ∗ β with its column-major vecs, dvZ/dvβ (12×4), dvZ/dvA (12×12) and the two sample derivatives."""
    a = symbol_tensor("a", (3, 4))
    beta = symbol_tensor("beta", (2, 2))
    z = np.array(list(sym_ops.conv2d(a[None], beta[None, None], **_A_PARAMS)), dtype=object).reshape(4, 3)
    d_beta = to_convention(conv2d_weight_jacobian(a[None], (1, 1, 2, 2), **_A_PARAMS), VA, (1, 4, 3), (1, 1, 2, 2))
    d_a = to_convention(conv2d_input_jacobian(beta[None, None], (1, 3, 4), **_A_PARAMS), VA, (1, 4, 3), (1, 3, 4))
    e21 = np.zeros((2, 2), dtype=object)
    e21[1, 0] = 1
    e23 = np.zeros((3, 4), dtype=object)
    e23[1, 2] = 1
    z32 = _vec_index(3, 2, 4)
    return {
        "A padded": _matrix(sym_ops.pad_plane(a, 1)),
        "beta": _matrix(beta),
        "Z = A * beta": _matrix(z),
        "vec(A)": vec_column(a, VA),
        "vec(beta)": vec_column(beta, VA),
        "vec(Z)": vec_column(z, VA),
        "dvec(Z)/dvec(beta)": d_beta,
        "dvec(Z)/dvec(A)": d_a,
        "dz_32/dbeta_21": d_beta[z32, _vec_index(2, 1, 2)],
        "dz_32/da_23": d_a[z32, _vec_index(2, 3, 3)],
        "dZ/dbeta_21 = A * E_21": _matrix(_correlate(a, e21, **_A_PARAMS)),
        "dZ/da_23 = E_23 * beta": _matrix(_correlate(e23, beta, **_A_PARAMS)),
    }


_B_POOL = dict(kernel_size=(3, 2), stride=(1, 2), padding=1)
#: A numeric input for Appendix B's mask: A₂₁ = max{0, I₁₁, I₂₁, I₃₁} = I₂₁ as in the note's
#: example (i₂₁ = 5), and three windows (A₁₃, A₂₃, A₃₃) whose maximum is a padded 0.
APPENDIX_B_POINT = np.array([[2, -3, 4, -1], [5, 1, -6, -2], [-7, 3, 6, -5]])


@example("vardhan2022.appendix_b", note=VA, where="Appendix B: max pooling, 3×4 input, 3×2 window, padding (1,1), stride (1,2)")
def vardhan2022_appendix_b():
    """The 3×3 table of max windows (zero padding takes part), the 3×2 windows, and the mask dvA/dvI at a sample point."""
    from jacobians.ops.pooling import max_pool2d_jacobian

    i_sym = symbol_tensor("I", (3, 4))
    pooled = sym_ops.max_pool2d(i_sym[None], pad_value=0, **_B_POOL)
    a = np.array(list(pooled), dtype=object).reshape(3, 3)
    padded = sym_ops.pad_plane(i_sym, 1)
    out = {"I padded": _matrix(padded), "A = maxpool(I)": _matrix(a)}
    for p in range(3):
        for q in range(3):
            out[f"window of A_{p + 1}{q + 1}"] = _matrix(padded[p : p + 3, 2 * q : 2 * q + 2])
    out["vec(I)"] = vec_column(i_sym, VA)
    out["vec(A)"] = vec_column(a, VA)
    point = APPENDIX_B_POINT.astype(np.float64)
    mask = max_pool2d_jacobian(point[None], pad_value=0.0, **_B_POOL)
    out["I at the sample point"] = _matrix(APPENDIX_B_POINT.astype(object))
    out["dvec(A)/dvec(I) at the sample point"] = to_convention(mask, VA, (1, 3, 3), (1, 3, 4))
    return out


# ---------------------------------------------------------------------------
# Wang 2019, §5–6
# ---------------------------------------------------------------------------
WA = "wang2019"
_ORDERS = ("row", "col")


def _unfold_matrix(t, kernel_hw, patch_order="col", entry_order="col") -> np.ndarray:
    """The unfolded matrix X (patches × entries) of a (C, H, W) tensor in the given orderings.

    Built from the canonical im2col (patches row-major, entries (c, a, b) in C
    order) by permuting rows and columns with the convention permutations of
    the (OH, OW) patch grid and the (C, kh, kw) patch.
    """
    phi = im2col(np.asarray(t, dtype=object), kernel_hw)
    c = t.shape[0]
    oh, ow = t.shape[1] - kernel_hw[0] + 1, t.shape[2] - kernel_hw[1] + 1
    rows = Convention(vec=patch_order).permutation((oh, ow)).indices
    cols = Convention(vec=entry_order).permutation((c, *kernel_hw)).indices
    return phi[np.ix_(rows, cols)]


def _wang_t():
    return symbol_tensor("t", (1, 4, 3), index_order=NOTE_INDEX_ORDER[WA])


def unfold_positions(patch_order: str, entry_order: str, entry=(2, 3, 1)) -> set[tuple[int, int]]:
    """1-based positions (i, j) of X where the entry t_{entry} of note 000's 4×3 example is copied.

    Note 000 says t₂,₃,₁ is copied to exactly x₄,₄ and x₅,₃; that is true for
    ``("col", "col")`` only.
    """
    if patch_order not in _ORDERS or entry_order not in _ORDERS:
        raise ValueError(f"patch_order/entry_order: must be 'row' or 'col' (got {patch_order!r}, {entry_order!r})")
    t = _wang_t()
    target = t[entry[2] - 1, entry[0] - 1, entry[1] - 1]
    x = _unfold_matrix(t, (2, 2), patch_order, entry_order)
    return {(int(i) + 1, int(j) + 1) for i, j in zip(*np.nonzero(x == target))}


@example("wang2019.unfold", note=WA, where="§5: unfolding a 4×3×1 tensor T with a 2×2 kernel (Figure 3)")
def wang2019_unfold():
    """X (6×4) = unfold(T) with patches and entries listed column-major; z = X vec(K) = vec(C), C = T ∗ K (3×2)."""
    t = _wang_t()
    k = symbol_tensor("K", (1, 2, 2), index_order=NOTE_INDEX_ORDER[WA])
    x = _unfold_matrix(t, (2, 2))
    w = vec_column(k, WA)
    z = _matrix(x) * w
    c = _correlate(t[0], k[0])
    return {"T": _matrix(t[0]), "K": _matrix(k[0]), "X = unfold(T)": _matrix(x), "w = vec(K)": w,
            "z = X w": z, "C = T * K": _matrix(c), "vec(C)": vec_column(c, WA)}


@example("wang2019.fold", note=WA, where="§6, eqs. 6.2–6.3: fold sums the gradients of the copies of t₂,₃,₁")
def wang2019_fold():
    """∂x_ij/∂t₂,₃,₁ (1 at x₄,₄ and x₅,₃ only) and ∂Q/∂T = fold(∂Q/∂X) with [∂Q/∂T]₂,₃,₁ = dX₄₄ + dX₅₃."""
    t = _wang_t()
    x = _unfold_matrix(t, (2, 2))
    d_x = symbol_tensor("dX", (6, 4))  # dX_ij stands for [∂Q/∂X]_ij
    # fold = col2im after putting the rows/columns back in canonical (row-major, C-order) positions
    rows = Convention(vec="col").permutation((3, 2)).indices
    cols = Convention(vec="col").permutation((1, 2, 2)).indices
    canonical = np.empty_like(d_x)
    canonical[np.ix_(rows, cols)] = d_x
    d_t = col2im(canonical, (1, 4, 3), (2, 2))
    return {
        "X = unfold(T)": _matrix(x),
        "dX/dt_2,3,1": _matrix(x).diff(t[0, 1, 2]),
        "dQ/dX": _matrix(d_x),
        "dQ/dT = fold(dQ/dX)": _matrix(d_t[0]),
        "[dQ/dT]_2,3,1": d_t[0, 1, 2],
    }
