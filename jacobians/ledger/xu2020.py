"""Claims of Jiashu Xu, "BP for convolutional layer" (2020) — note 003, key ``xu2020``.

Convention of the note: image I of shape (C, H, W), filters F of shape
(FN, C, FH, FW), output O (FN, OH, OW), stride 1, no padding, 1-based sums.
φ(I) is im2col (one row per output position), F_f and O_f are matrices
made with NumPy reshapes, and ``vec`` in the Kronecker identity
vec(AXB) = (Bᵀ ⊗ A) vec(X) is column-major (the identity is false for
NumPy's row-major flatten). Gradients ∂L/∂M have the shape of M.

Routes: the note's matrices built with plain numpy (``np.kron``), the
package's im2col / explicit Jacobians, finite differences, sympy for the
identities, torch autograd when installed.
"""
from __future__ import annotations

import numpy as np

from .. import col2im, conv2d, conv2d_input_jacobian, conv2d_weight_jacobian, im2col, transpose_jacobian
from ..claims import claim, reference_jacobian, reference_vjp
from ._tools import corr_loops, fd_conv_forward, fd_gradient, fd_jacobian, geometries, rng, symbol_matrix, torch_conv2d

CONV = "I (C,H,W), F (FN,C,FH,FW), stride 1, no padding; vec column-major in the Kronecker identity; NumPy reshapes"


def vec_f(a):
    """Column-major vec of a matrix."""
    return np.asarray(a).reshape(-1, order="F")


def _cases():
    """(I, F, G = ∂L/∂O) on non-square, multi-filter geometries (the note's stride 1, no padding)."""
    out = []
    for s, g in enumerate(geometries(stride=1, padding=0)):
        r = rng(100 + s)
        fn = max(2, g["c_out"])
        I = r.standard_normal((g["c_in"], g["h"], g["w"]))
        F = r.standard_normal((fn, g["c_in"], g["kh"], g["kw"]))
        oh, ow = g["h"] - g["kh"] + 1, g["w"] - g["kw"] + 1
        G = r.standard_normal((fn, oh, ow))
        out.append((I, F, G))
    return out


def _phi_loops(I, fh, fw):
    """φ(I) by loops: row x·OW + y is the patch I[:, x:x+FH, y:y+FW] flattened in (c, i, j) order."""
    C, H, W = I.shape
    oh, ow = H - fh + 1, W - fw + 1
    return np.stack([I[:, x : x + fh, y : y + fw].ravel() for x in range(oh) for y in range(ow)])


def _O_f(O):
    """O_f: (OH·OW, FN), column c = output map c flattened row by row."""
    return O.reshape(O.shape[0], -1).T


def _F_f(F):
    """The filter matrix whose column f is filter f flattened in φ's (c, i, j) order."""
    return F.reshape(F.shape[0], -1).T


def _torch_O(I, F):
    return torch_conv2d(I[None], F)[0]


@claim(
    "xu2020.forward",
    location="§1, definition of O_cxy",
    statement="""O[c,x,y] = Σ_{k≤C} Σ_{i≤FH} Σ_{j≤FW} F[c,k,i,j] I[k,x−1+i,y−1+j] (1-based), for c = 1 … FN:
    a valid, stride-1 correlation with one output map per filter.""",
    convention=CONV,
    routes=("formula", "explicit", "fd", "torch"),
    expected="holds",
)
def _(ev):
    for I, F, G in _cases():
        FN, C, FH, FW = F.shape
        OH, OW = G.shape[1:]
        O = np.zeros((FN, OH, OW))
        for c in range(1, FN + 1):
            for x in range(1, OH + 1):
                for y in range(1, OW + 1):
                    O[c - 1, x - 1, y - 1] = sum(
                        F[c - 1, k - 1, i - 1, j - 1] * I[k - 1, x - 1 + i - 1, y - 1 + j - 1]
                        for k in range(1, C + 1)
                        for i in range(1, FH + 1)
                        for j in range(1, FW + 1)
                    )
        ev.written("explicit", O, conv2d(I, F), kinds=("formula", "package"))
        ev.written("formula", O, corr_loops(I[None], F)[0], kinds=("formula", "formula"))
        ev.written("fd", O, fd_conv_forward(I, F), kinds=("formula", "fd"))
        ev.written("torch", O, lambda: _torch_O(I, F), kinds=("formula", "torch"))


@claim(
    "xu2020.im2col-shape",
    location="§1, φ(I) = im2col(I) of shape (OH·OW, FH·FW·C)",
    statement="""φ(I) has one row per output position and one column per (channel, tap): shape (OH·OW, FH·FW·C);
    row (x, y) lists the patch of I under the filter at output position (x, y).""",
    convention=CONV,
    routes=("shape", "count", "index"),
    expected="holds",
)
def _(ev):
    for I, F, G in _cases():
        FN, C, FH, FW = F.shape
        OH, OW = G.shape[1:]
        stated = (OH * OW, FH * FW * C)
        phi = im2col(I, (FH, FW))
        ev.written("shape", stated, phi.shape, kinds=("formula", "package"))
        # counted: the filter positions that fit, and the entries under one filter
        fits = sum(1 for x in range(I.shape[1]) for y in range(I.shape[2]) if x + FH <= I.shape[1] and y + FW <= I.shape[2])
        ev.written("count", stated, (fits, I[:, :FH, :FW].size), kinds=("formula", "exact"))
        ev.written("index", phi, _phi_loops(I, FH, FW), kinds=("package", "formula"))


@claim(
    "xu2020.filter-matrix-shape",
    location="§1, F_f = F.reshape(-1, FN) of shape (C·FH·FW, FN)",
    statement="""Reshaping the (FN, C, FH, FW) filter array with F.reshape(-1, FN) gives a (C·FH·FW, FN) matrix.""",
    convention=CONV,
    routes=("numpy", "explicit"),
    expected="holds",
)
def _(ev):
    for I, F, G in _cases():
        FN, C, FH, FW = F.shape
        stated = (C * FH * FW, FN)
        ev.written("numpy", stated, F.reshape(-1, FN).shape, kinds=("formula", "exact"))
        # F_f's rows must pair with φ(I)'s columns: the package's im2col has C·FH·FW of them
        ev.written("explicit", stated[0], im2col(I, (FH, FW)).shape[1], kinds=("formula", "package"))


@claim(
    "xu2020.output-matrix-shape",
    location="§1, O_f of shape (OH·OW, FN)",
    statement="""The output as a matrix O_f has shape (OH·OW, FN): one row per output position, one column per filter.""",
    convention=CONV,
    routes=("explicit", "count"),
    expected="holds",
)
def _(ev):
    for I, F, G in _cases():
        FN = F.shape[0]
        OH, OW = G.shape[1:]
        stated = (OH * OW, FN)
        O = conv2d(I, F)
        ev.written("explicit", stated, (O.shape[1] * O.shape[2], O.shape[0]), kinds=("formula", "package"))
        fits = sum(1 for x in range(I.shape[1]) for y in range(I.shape[2]) if x + F.shape[2] <= I.shape[1] and y + F.shape[3] <= I.shape[2])
        ev.written("count", stated, (fits, len(F)), kinds=("formula", "exact"))


@claim(
    "xu2020.im2col-product",
    location="§1, φ(I)·F_f = O_f with F_f = F.reshape(-1, FN)",
    statement="""The convolution is the matrix product φ(I)·F_f = O_f, with F_f built as F.reshape(-1, FN).
    In NumPy's (row-major) reshape this cuts the flat filter array into rows of FN consecutive entries,
    so the columns of F_f mix different filters as soon as FN > 1.""",
    convention=CONV,
    routes=("explicit", "fd", "formula", "torch"),
    expected="holds-corrected",
    kind="erratum",
    correction="""F_f = F.reshape(FN, -1).T (equivalently F.reshape(FN, -1) transposed): column f is filter f
    flattened in the (c, i, j) order of φ(I)'s columns; then φ(I)·F_f = O_f.""",
)
def _(ev):
    for I, F, G in _cases():
        FN, C, FH, FW = F.shape
        phi = im2col(I, (FH, FW))
        as_written = phi @ F.reshape(-1, FN)
        corrected = phi @ F.reshape(FN, -1).T
        ev.both("explicit", as_written, corrected, _O_f(conv2d(I, F)), kinds=("formula", "package"))
        ev.both("fd", as_written, corrected, _O_f(fd_conv_forward(I, F)), kinds=("formula", "fd"))
        ev.corrected("formula", _phi_loops(I, FH, FW) @ F.reshape(FN, -1).T, _O_f(corr_loops(I[None], F)[0]), kinds=("formula", "formula"))
        ev.corrected("torch", corrected, lambda: _O_f(_torch_O(I, F)), kinds=("formula", "torch"))


@claim(
    "xu2020.output-matrix-similarly-defined",
    location="§1, 'similarly, defined O_f of shape (OH·OW, FN)' (after F_f = F.reshape(-1, FN))",
    statement="""O_f is built from the (FN, OH, OW) output the way F_f is built from F, i.e. O.reshape(-1, FN), and then
    φ(I)·F_f = O_f. Read literally, this reshape cuts the flat output into rows of FN consecutive entries, so each column
    mixes output maps (and positions) as soon as FN > 1 — the same fault as F_f's reshape.""",
    convention=CONV,
    routes=("explicit", "fd", "torch"),
    expected="holds-corrected",
    kind="erratum",
    correction="""O_f = O.reshape(FN, -1).T: column f is output map f flattened row by row, row r is output position r
    (and likewise ∂L/∂O_f = G.reshape(FN, -1).T for the upstream gradient G).""",
)
def _(ev):
    for I, F, G in _cases():
        FN = F.shape[0]
        O = corr_loops(I[None], F)[0]  # the note's forward O[c, x, y]
        literal, fixed = O.reshape(-1, FN), O.reshape(FN, -1).T
        Ff = F.reshape(FN, -1).T  # the corrected filter matrix, so that only O_f is on trial
        ev.both("explicit", literal, fixed, im2col(I, F.shape[2:]) @ Ff, kinds=("formula", "package"))
        # φ(I)·F_f column f is filter f's response: from differences of the forward (linear in F)
        ev.both("fd", literal, fixed, fd_conv_forward(I, F).reshape(FN, -1).T, kinds=("formula", "fd"))
        ev.corrected("torch", fixed, lambda I=I, F=F: _torch_unfold_product(I, F), kinds=("formula", "torch"))


def _torch_unfold_product(I, F):
    """φ(I)·F_f with torch's unfold as φ (rows: output positions, columns: (c, i, j))."""
    import torch

    U = torch.nn.functional.unfold(torch.as_tensor(I)[None], F.shape[2:])[0].T.numpy()
    return U @ F.reshape(F.shape[0], -1).T


@claim(
    "xu2020.kron-identity",
    location="§1, vec(AXB) = (Bᵀ ⊗ A) vec(X)",
    statement="""For conformable A, X, B: vec(AXB) = (Bᵀ ⊗ A) vec(X), with vec stacking columns (column-major).""",
    convention="column-major vec",
    routes=("numpy", "fd", "symbolic"),
    expected="holds",
)
def _(ev):
    import sympy

    r = rng(7)
    for m, n, p, q in ((2, 3, 4, 2), (3, 2, 2, 5), (1, 4, 3, 3)):
        A, X, B = r.standard_normal((m, n)), r.standard_normal((n, p)), r.standard_normal((p, q))
        ev.written("numpy", np.kron(B.T, A) @ vec_f(X), vec_f(A @ X @ B), kinds=("formula", "formula"))
        # X ↦ vec(AXB) is linear: its finite-difference Jacobian (column-major vecs) is the matrix Bᵀ ⊗ A
        ev.written("fd", np.kron(B.T, A), fd_jacobian(lambda xv, A=A, B=B, n=n, p=p: vec_f(A @ xv.reshape(n, p, order="F") @ B), np.zeros(n * p)), kinds=("formula", "fd"))
    A = symbol_matrix("a_", 2, 3)
    X = symbol_matrix("x_", 3, 2)
    B = symbol_matrix("b_", 2, 2)

    def svec(M):
        return sympy.Matrix([M[i, j] for j in range(M.cols) for i in range(M.rows)])

    ev.written("symbolic", sympy.kronecker_product(B.T, A) * svec(X), svec(A * X * B), kinds=("formula", "sympy"))


@claim(
    "xu2020.vec-order",
    location="§1, the vec in eqs. (1)–(2) (F_f and O_f are NumPy reshapes)",
    statement="""The vec of the identity vec(AXB) = (Bᵀ ⊗ A) vec(X) and of eqs. (1)–(2) is the standard vec, which stacks
    columns (vec(M) = M.reshape(-1, order='F')); the note does not restate it, and its matrices are NumPy reshapes, but
    the identity as printed is the column-stacking one. (With NumPy's row-major flatten it would read
    vec_C(AXB) = (A ⊗ Bᵀ) vec_C(X).)""",
    convention="column-major (standard) vec; NumPy row-major for comparison",
    routes=("numpy", "fd", "symbolic"),
    expected="holds",
)
def _(ev):
    import sympy

    r = rng(8)
    for m, n, p, q in ((2, 3, 4, 2), (3, 2, 2, 5)):
        A, X, B = r.standard_normal((m, n)), r.standard_normal((n, p)), r.standard_normal((p, q))
        ev.written("numpy", np.kron(B.T, A) @ vec_f(X), vec_f(A @ X @ B), kinds=("formula", "formula"))
        # the matrix that maps the column-stacked X to the column-stacked AXB, by differences, is Bᵀ ⊗ A …
        J_col = fd_jacobian(lambda xv, A=A, B=B, n=n, p=p: vec_f(A @ xv.reshape(n, p, order="F") @ B), np.zeros(n * p))
        ev.written("fd", np.kron(B.T, A), J_col, kinds=("formula", "fd"))
        # … while for row-major flattening it is A ⊗ Bᵀ (the remark in the statement)
        J_row = fd_jacobian(lambda xv, A=A, B=B, n=n, p=p: (A @ xv.reshape(n, p) @ B).ravel(), np.zeros(n * p))
        ev.written("fd", np.kron(A, B.T), J_row, kinds=("formula", "fd"))
    A = symbol_matrix("a_", 2, 2)
    X = symbol_matrix("x_", 2, 3)
    B = symbol_matrix("b_", 3, 2)

    def cvec(M):
        return sympy.Matrix([M[i, j] for j in range(M.cols) for i in range(M.rows)])

    ev.written("symbolic", sympy.kronecker_product(B.T, A) * cvec(X), cvec(A * X * B), kinds=("formula", "sympy"))


def _phi_of(I, FH, FW):
    """φ(I) by the package's im2col (rows: output positions row-major; columns: (c, i, j))."""
    return im2col(I, (FH, FW))


@claim(
    "xu2020.eq1-filter-form",
    location="§1, eq. (1): vec(O_f) = (I_FN ⊗ φ(I)) vec(F_f)",
    statement="""vec(O_f) = vec(φ(I) F_f I_FN) = (I_FN ⊗ φ(I)) vec(F_f): as a function of the filters the
    convolution is the block-diagonal matrix I_FN ⊗ φ(I) (one φ(I) block per filter).""",
    convention=CONV + " (F_f with one filter per column)",
    routes=("kron", "explicit", "fd", "torch"),
    expected="holds",
)
def _(ev):
    for I, F, G in _cases():
        FN, C, FH, FW = F.shape
        phi = _phi_of(I, FH, FW)
        K = np.kron(np.eye(FN), phi)
        Ff = _F_f(F)
        ev.written("kron", K @ vec_f(Ff), vec_f(_O_f(conv2d(I, F))), kinds=("formula", "package"))
        # column-major vec(O_f) is the C-order vec of O; column-major vec(F_f) the C-order vec of F
        ev.written("explicit", K, conv2d_weight_jacobian(I, F.shape), kinds=("formula", "package"))
        ev.written("fd", K, reference_jacobian("conv2d", "weight", route="fd", x=I, weight=F), kinds=("formula", "fd"))
        ev.written("torch", K @ vec_f(Ff), lambda: vec_f(_O_f(_torch_O(I, F))), kinds=("formula", "torch"))


@claim(
    "xu2020.eq2-patch-form",
    location="§1, eq. (2): vec(O_f) = (F_fᵀ ⊗ I_{OH·OW}) vec(φ(I))",
    statement="""vec(O_f) = vec(I_{OH·OW} φ(I) F_f) = (F_fᵀ ⊗ I_{OH·OW}) vec(φ(I)): as a function of the patch
    matrix the convolution is F_fᵀ ⊗ I; composed with im2col it is the input Jacobian M_F.""",
    convention=CONV + " (F_f with one filter per column)",
    routes=("kron", "fd", "explicit", "torch"),
    expected="holds",
)
def _(ev):
    for I, F, G in _cases():
        FN, C, FH, FW = F.shape
        phi = _phi_of(I, FH, FW)
        P = phi.shape[0]
        K = np.kron(_F_f(F).T, np.eye(P))
        ev.written("kron", K @ vec_f(phi), vec_f(_O_f(conv2d(I, F))), kinds=("formula", "package"))
        ev.written("fd", K @ vec_f(phi), vec_f(_O_f(fd_conv_forward(I, F))), kinds=("formula", "fd"))
        # compose with im2col column by column (φ is linear in I): K vec(φ(e_k)) is column k of ∂vec(O_f)/∂vec(I)
        cols = []
        for k in range(I.size):
            e = np.zeros(I.size)
            e[k] = 1.0
            cols.append(K @ vec_f(_phi_of(e.reshape(I.shape), FH, FW)))
        ev.written("explicit", np.stack(cols, axis=1), conv2d_input_jacobian(F, I.shape), kinds=("formula", "package"))
        ev.written("torch", K @ vec_f(phi), lambda: vec_f(_O_f(_torch_O(I, F))), kinds=("formula", "torch"))


@claim(
    "xu2020.kron-transpose-step",
    location="§1, the justification of (I_FN ⊗ φ(I))ᵀ = I_FN ⊗ φ(I)ᵀ in the derivation of ∂L/∂vec(F_f)",
    statement="""(I_FN ⊗ φ(I))ᵀ = I_FN ⊗ φ(I)ᵀ, by the rule (A ⊗ B)ᵀ = Aᵀ ⊗ Bᵀ.""",
    convention="Kronecker products",
    routes=("numpy", "explicit", "symbolic"),
    expected="holds",
    kind="extraction",
    reading="""Literally '(I ⊗ B)^T = A^T ⊗ B^T)': a closing parenthesis with no opening one and an A on the right that
    the left does not have — the parenthetical '(by (A ⊗ B)ᵀ = Aᵀ ⊗ Bᵀ)' with its first characters garbled. Read
    literally, (I ⊗ B)ᵀ = Aᵀ ⊗ Bᵀ is false for A ≠ I; the step it justifies is right.""",
)
def _(ev):
    import sympy

    r = rng(9)
    for m, n, p, q in ((2, 3, 4, 2), (3, 3, 2, 5)):
        A, B = r.standard_normal((m, n)), r.standard_normal((p, q))
        ev.written("numpy", np.kron(A, B).T, np.kron(A.T, B.T), kinds=("formula", "formula"))
        # the package's transpose (a commutation matrix) applied to vec(A ⊗ B)
        K = np.kron(A, B)
        ev.written("explicit", np.kron(A.T, B.T), (transpose_jacobian(K.shape) @ K.ravel()).reshape(K.shape[::-1]), kinds=("formula", "package"))
    for FN, (P, Q) in ((2, (6, 4)), (3, (5, 3))):
        phi = r.standard_normal((P, Q))
        K = np.kron(np.eye(FN), phi)
        ev.written("explicit", np.kron(np.eye(FN), phi.T), (transpose_jacobian(K.shape) @ K.ravel()).reshape(K.shape[::-1]), kinds=("formula", "package"))
    A = symbol_matrix("a_", 2, 2)
    B = symbol_matrix("b_", 2, 3)
    ev.written("symbolic", sympy.kronecker_product(A, B).T, sympy.kronecker_product(A.T, B.T), kinds=("formula", "sympy"))

def _loss_of_filters(I, G, FH, FW):
    phi = _phi_of(I, FH, FW)
    Gf = _O_f(G)
    return lambda Ff: float(np.sum(Gf * (phi @ Ff)))


def _torch_conv_grad(wrt, I, F, G):
    """∂L/∂I or ∂L/∂F (``wrt`` = "I" or "F") of L = ⟨G, I * F⟩ by torch autograd."""
    import torch

    t = {"I": torch.as_tensor(I), "F": torch.as_tensor(F)}
    t[wrt] = torch.tensor({"I": I, "F": F}[wrt], requires_grad=True)
    out = torch.nn.functional.conv2d(t["I"][None], t["F"])[0]
    (out * torch.as_tensor(G)).sum().backward()
    return t[wrt].grad.numpy()


@claim(
    "xu2020.filter-grad-vec",
    location="§1, derivation of ∂L/∂vec(F_f) (by eq. (1))",
    statement="""∂L/∂vec(F_f) = (I_FN ⊗ φ(I))ᵀ ∂L/∂vec(O_f) = (I_FN ⊗ φ(I)ᵀ) vec(∂L/∂O_f) = vec(φ(I)ᵀ ∂L/∂O_f I_FN).""",
    convention=CONV,
    routes=("kron", "fd", "explicit", "torch"),
    expected="holds",
)
def _(ev):
    for I, F, G in _cases():
        FN, C, FH, FW = F.shape
        phi = _phi_of(I, FH, FW)
        Gf = _O_f(G)
        step1 = np.kron(np.eye(FN), phi).T @ vec_f(Gf)
        step2 = np.kron(np.eye(FN), phi.T) @ vec_f(Gf)
        step3 = vec_f(phi.T @ Gf @ np.eye(FN))
        ev.written("kron", step1, step2, kinds=("formula", "formula"))
        ev.written("kron", step3, step2, kinds=("formula", "formula"))
        ev.written("fd", step3, vec_f(fd_gradient(_loss_of_filters(I, G, FH, FW), _F_f(F))), kinds=("formula", "fd"))
        ev.written("explicit", step3, vec_f(_F_f(reference_vjp("conv2d", G, "weight", x=I, weight=F))), kinds=("formula", "package"))
        ev.written("torch", step3, lambda: vec_f(_F_f(_torch_conv_grad("F", I, F, G))), kinds=("formula", "torch"))


@claim(
    "xu2020.filter-grad",
    location="§1, ∂L/∂F_f = φ(I)ᵀ ∂L/∂O_f ('same as BP for linear layer')",
    statement="""∂L/∂F_f = φ(I)ᵀ ∂L/∂O_f, the linear layer's weight gradient with φ(I) as its input.""",
    convention=CONV,
    routes=("explicit", "fd", "torch"),
    expected="holds",
)
def _(ev):
    for I, F, G in _cases():
        FN, C, FH, FW = F.shape
        dFf = _phi_of(I, FH, FW).T @ _O_f(G)
        dF = (conv2d_weight_jacobian(I, F.shape).T @ G.ravel()).reshape(F.shape)
        ev.written("explicit", dFf, _F_f(dF), kinds=("formula", "package"))
        ev.written("fd", dFf, fd_gradient(_loss_of_filters(I, G, FH, FW), _F_f(F)), kinds=("formula", "fd"))
        ev.written("torch", dFf, lambda: _F_f(_torch_conv_grad("F", I, F, G)), kinds=("formula", "torch"))


def _loss_of_patches(F, G):
    Ff, Gf = _F_f(F), _O_f(G)
    return lambda phi: float(np.sum(Gf * (phi @ Ff)))


def _torch_patch_grad(I, F, G):
    import torch

    FN, C, FH, FW = F.shape
    phi = torch.tensor(_phi_of(I, FH, FW), requires_grad=True)
    (torch.as_tensor(_O_f(G)) * (phi @ torch.as_tensor(_F_f(F)))).sum().backward()
    return phi.grad.numpy()


@claim(
    "xu2020.patch-grad-vec",
    location="§1, derivation of ∂L/∂vec(φ(I))ᵀ (by eq. (2))",
    statement="""∂L/∂vec(φ(I))ᵀ = ∂L/∂vec(O_f)ᵀ (F_fᵀ ⊗ I) = [(F_f ⊗ I) vec(∂L/∂O_f)]ᵀ = vec(I ∂L/∂O_f F_fᵀ)ᵀ.""",
    convention=CONV,
    routes=("kron", "fd", "explicit"),
    expected="holds",
)
def _(ev):
    for I, F, G in _cases():
        FN, C, FH, FW = F.shape
        phi = _phi_of(I, FH, FW)
        P = phi.shape[0]
        Ff, Gf = _F_f(F), _O_f(G)
        row = vec_f(Gf) @ np.kron(Ff.T, np.eye(P))
        ev.written("kron", row, np.kron(Ff, np.eye(P)) @ vec_f(Gf), kinds=("formula", "formula"))
        ev.written("kron", vec_f(np.eye(P) @ Gf @ Ff.T), row, kinds=("formula", "formula"))
        ev.written("fd", row, vec_f(fd_gradient(_loss_of_patches(F, G), phi)), kinds=("formula", "fd"))
        # O_f = φ(I) F_f is the package's linear layer x W with x = φ(I), W = F_f: its input VJP
        ev.written("explicit", row, vec_f(reference_vjp("linear_xw_b", Gf, "x", x=phi, weight=Ff)), kinds=("formula", "package"))


@claim(
    "xu2020.patch-grad",
    location="§1, ∂L/∂φ(I) = ∂L/∂O_f F_fᵀ",
    statement="""∂L/∂φ(I) = ∂L/∂O_f F_fᵀ, the linear layer's input gradient with F_f as its weight.""",
    convention=CONV,
    routes=("fd", "explicit", "torch"),
    expected="holds",
)
def _(ev):
    for I, F, G in _cases():
        FN, C, FH, FW = F.shape
        d_phi = _O_f(G) @ _F_f(F).T
        ev.written("fd", d_phi, fd_gradient(_loss_of_patches(F, G), _phi_of(I, FH, FW)), kinds=("formula", "fd"))
        ev.written("explicit", d_phi, reference_vjp("linear_xw_b", _O_f(G), "x", x=_phi_of(I, FH, FW), weight=_F_f(F)), kinds=("formula", "package"))
        ev.written("torch", d_phi, lambda: _torch_patch_grad(I, F, G), kinds=("formula", "torch"))


@claim(
    "xu2020.input-grad-fold",
    location="§1, after ∂L/∂φ(I) (the note stops there)",
    statement="""The note ends with ∂L/∂φ(I) and does not say how to reach ∂L/∂I, the gradient the previous
    layer needs.""",
    convention=CONV,
    routes=("explicit", "rot180", "operator", "fd", "torch"),
    expected="completes",
    kind="gap",
    correction="""∂L/∂I = col2im(∂L/∂O_f F_fᵀ): fold the patch gradients back onto the image, each pixel
    receiving the sum over every patch entry that copied it (the adjoint of im2col).""",
)
def _(ev):
    for I, F, G in _cases():
        FN, C, FH, FW = F.shape
        dI = col2im(_O_f(G) @ _F_f(F).T, I.shape, (FH, FW))
        ev.corrected("explicit", dI, (conv2d_input_jacobian(F, I.shape).T @ G.ravel()).reshape(I.shape), kinds=("formula", "package"))
        ev.corrected("rot180", dI, reference_vjp("conv2d", G, "x", route="vjp:rot180", x=I, weight=F), kinds=("formula", "package"))
        ev.corrected("fd", dI, fd_gradient(lambda I_: float(np.sum(G * conv2d(I_, F))), I), kinds=("formula", "fd"))
        # the package's operator O_f = φ(I) F_f (its Jacobian built from (F_fᵀ ⊗ I)), applied backwards to ∂L/∂O_f
        ev.corrected("operator", dI, reference_vjp("xu2020_kron", _O_f(G), "x", x=I, f_f=_F_f(F), kernel_size=(FH, FW)), kinds=("formula", "package"))
        ev.corrected("torch", dI, lambda: _torch_conv_grad("I", I, F, G), kinds=("formula", "torch"))


@claim(
    "xu2020.preset-order",
    location="§1, vec in vec(AXB) = (Bᵀ ⊗ A) vec(X)",
    statement="""The vec of the note's identity stacks columns: for a 2 × 3 matrix X it lists x11, x21, x12, x22, x13, x23 —
    the only order for which vec(AXB) = (Bᵀ ⊗ A) vec(X) holds for all A, B. The package's preset ``xu2020`` orders
    matrices (and each channel of a (C, H, W) array) this way.""",
    convention="column-major vec",
    routes=("index", "fd"),
    expected="holds",
)
def _(ev):
    from ._tools import coded_tensor, preset_order

    X = coded_tensor(1, 2, 3)
    ev.written("index", [111, 121, 112, 122, 113, 123], preset_order("xu2020", X), kinds=("exact", "package"))
    # the order the identity itself demands: with vec = the preset's, the map X ↦ vec(AXB) must be Bᵀ ⊗ A
    from .. import get_convention, unvec, vec

    conv = get_convention("xu2020")
    r = rng(12)
    A, B = r.standard_normal((2, 2)), r.standard_normal((3, 2))
    J = fd_jacobian(lambda v: vec((A @ unvec(v, (1, 2, 3), conv)[0] @ B)[None], conv), np.zeros(6))
    ev.written("fd", np.kron(B.T, A), J, kinds=("formula", "fd"))


@claim(
    "xu2020.output-size",
    location="§1 (O of shape (FN, OH, OW); OH and OW are used but never defined)",
    statement="""The note uses OH and OW without defining them.""",
    convention=CONV,
    routes=("explicit", "index", "torch"),
    expected="completes",
    kind="gap",
    correction="OH = H − FH + 1 and OW = W − FW + 1 (stride 1, no padding, as in the note's forward formula).",
)
def _(ev):
    ev.gap("OH and OW are not defined")
    for I, F, G in _cases():
        C, H, W = I.shape
        FH, FW = F.shape[2:]
        formula = (H - FH + 1, W - FW + 1)
        ev.corrected("explicit", formula, conv2d(I, F).shape[1:], kinds=("formula", "package"))
        # the positions x, y at which the note's sum I[k, x−1+i, y−1+j] stays inside the image, counted
        counted = (sum(1 for x in range(1, H + 1) if x - 1 + FH <= H), sum(1 for y in range(1, W + 1) if y - 1 + FW <= W))
        ev.corrected("index", formula, counted, kinds=("formula", "exact"))
        ev.corrected("torch", formula, lambda I=I, F=F: tuple(_torch_O(I, F).shape[1:]), kinds=("formula", "torch"))


@claim(
    "xu2020.no-bias",
    location="whole note (the convolution O = I * F has no bias)",
    statement="""The note's layer has no bias, so no bias gradient is given.""",
    convention=CONV,
    routes=("explicit", "fd", "torch"),
    expected="completes",
    kind="gap",
    correction="""With O_f = φ(I) F_f + 1 bᵀ (one bias per filter), ∂L/∂b = 1ᵀ ∂L/∂O_f: each output map's gradient summed
    over its positions (and over the batch, for several images).""",
)
def _(ev):
    ev.gap("the layer has no bias")
    for I, F, G in _cases():
        b = np.zeros(F.shape[0])
        db = np.ones(_O_f(G).shape[0]) @ _O_f(G)
        ev.corrected("explicit", db, reference_vjp("conv2d", G, "bias", x=I, weight=F, bias=b), kinds=("formula", "package"))
        ev.corrected("fd", db, fd_gradient(lambda b_: float(np.sum(G * conv2d(I, F, b_))), b), kinds=("formula", "fd"))
        ev.corrected("torch", db, lambda I=I, F=F, G=G: _torch_bias_grad(I, F, G), kinds=("formula", "torch"))


def _torch_bias_grad(I, F, G):
    import torch

    bt = torch.zeros(F.shape[0], dtype=torch.float64, requires_grad=True)
    out = torch.nn.functional.conv2d(torch.as_tensor(I)[None], torch.as_tensor(F), bt)[0]
    (out * torch.as_tensor(G)).sum().backward()
    return bt.grad.numpy()


@claim(
    "xu2020.single-image-vs-batch",
    location="§1, opening line ('Let I images of shape (C,H,W)')",
    statement="""The note says "images" but gives I the shape (C, H, W) of one image, and every later matrix is for one
    image: φ(I) has OH·OW rows and O_f is (OH·OW, FN). Read literally as N > 1 images, φ would need N·OH·OW rows.""",
    convention=CONV,
    routes=("count", "explicit", "fd", "torch"),
    expected="holds-corrected",
    kind="slip",
    correction="""I is one image (C, H, W). For a batch, stack the per-image φ(I_n) and O_f(n) vertically; then
    φ·F_f = O_f and ∂L/∂F_f = φᵀ·∂L/∂O_f still hold, the latter summing over the batch.""",
)
def _(ev):
    r = rng(300)
    for N, C, H, W, FN, FH, FW in ((2, 2, 5, 6, 3, 2, 3), (3, 1, 6, 5, 2, 3, 2)):
        X = r.standard_normal((N, C, H, W))
        F = r.standard_normal((FN, C, FH, FW))
        OH, OW = H - FH + 1, W - FW + 1
        G = r.standard_normal((N, FN, OH, OW))
        phis = [_phi_loops(X[n], FH, FW) for n in range(N)]
        # as written: a batch ("images") fed to φ gives N·OH·OW rows, not the note's OH·OW
        ev.written("count", OH * OW, sum(p.shape[0] for p in phis), kinds=("formula", "exact"))
        ev.corrected("count", N * OH * OW, im2col(X, (FH, FW)).reshape(-1, C * FH * FW).shape[0], kinds=("formula", "package"))
        phi = np.vstack(phis)
        F_f = F.reshape(FN, -1).T
        Gf = np.vstack([_O_f(G[n]) for n in range(N)])
        O_stack = phi @ F_f
        ev.corrected("explicit", O_stack, np.vstack([_O_f(conv2d(X[n], F)) for n in range(N)]), kinds=("formula", "package"))
        ev.corrected("fd", O_stack, np.vstack([_O_f(o) for o in fd_conv_forward(X, F)]), kinds=("formula", "fd"))
        dF = (phi.T @ Gf).T.reshape(F.shape)  # column f of ∂L/∂F_f is filter f's gradient
        ev.corrected("fd", dF, fd_gradient(lambda F_: float(np.sum(G * corr_loops(X, F_))), F), kinds=("formula", "fd"))
        ev.corrected("explicit", dF, sum(reference_vjp("conv2d", G[n], "weight", x=X[n], weight=F) for n in range(N)), kinds=("formula", "package"))

        def t_dF(X=X, F=F, G=G):
            import torch

            Ft = torch.tensor(F, requires_grad=True)
            (torch.nn.functional.conv2d(torch.as_tensor(X), Ft) * torch.as_tensor(G)).sum().backward()
            return Ft.grad.numpy()

        ev.corrected("torch", dF, t_dF, kinds=("formula", "torch"))


def _phi_channel_fastest(I, fh, fw):
    """φ(I) with each patch read in (i, j, c) order, c fastest — the order 'FH·FW·C' would suggest."""
    C, H, W = I.shape
    return np.stack([I[:, x : x + fh, y : y + fw].transpose(1, 2, 0).ravel() for x in range(H - fh + 1) for y in range(W - fw + 1)])


@claim(
    "xu2020.im2col-column-order",
    location="§1, φ(I) = im2col(I) of shape (OH·OW, FH·FW·C)",
    statement="""The note never says in which order the rows (output positions) and columns (patch entries) of φ(I)
    are laid out; its column count is written FH·FW·C, which read as an order would put the channel fastest.""",
    convention=CONV,
    routes=("explicit", "fd", "torch", "other-order"),
    expected="completes",
    kind="gap",
    correction="""Row x·OW + y is output position (x, y) (y fastest); its columns are the patch I[:, x:x+FH, y:y+FW]
    in (c, i, j) order, j fastest — the order of F.reshape(FN, −1). Then φ(I)·F.reshape(FN, −1)ᵀ = O_f; with the
    patches read channel-fastest ((i, j, c)) the product is wrong unless C = 1.""",
)
def _(ev):
    ev.gap("the order of φ(I)'s rows and columns is not stated")
    for I, F, G in _cases():
        FN, C, FH, FW = F.shape
        phi = _phi_loops(I, FH, FW)
        F_f = F.reshape(FN, -1).T
        ev.corrected("explicit", phi, im2col(I, (FH, FW)), kinds=("formula", "package"))
        ev.corrected("explicit", phi @ F_f, _O_f(conv2d(I, F)), kinds=("formula", "package"))
        ev.corrected("fd", phi @ F_f, _O_f(fd_conv_forward(I, F)), kinds=("formula", "fd"))
        ev.corrected("torch", phi @ F_f, lambda I=I, F=F: _O_f(_torch_O(I, F)), kinds=("formula", "torch"))
        if C > 1:  # a different column order breaks φ(I)·F_f = O_f
            other = _phi_channel_fastest(I, FH, FW) @ F_f
            ev.corrected("other-order", bool(np.max(np.abs(other - _O_f(conv2d(I, F)))) > 1e-3), True, kinds=("formula", "package"), value=False)
