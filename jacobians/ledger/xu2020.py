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

from ._core import claim
from ._tools import corr_loops, fd_gradient, geometries, rng, symbol_matrix, torch_conv2d

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
    routes=("formula", "explicit", "torch"),
    expected="holds",
)
def _(ev):
    from ..ops.conv2d import conv2d

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
        ev.written("explicit", O, conv2d(I, F))
        ev.written("formula", O, corr_loops(I[None], F)[0])
        ev.written("torch", O, lambda: _torch_O(I, F))


@claim(
    "xu2020.im2col-shape",
    location="§1, φ(I) = im2col(I) of shape (OH·OW, FH·FW·C)",
    statement="""φ(I) has one row per output position and one column per (channel, tap): shape (OH·OW, FH·FW·C);
    row (x, y) lists the patch of I under the filter at output position (x, y).""",
    convention=CONV,
    routes=("shape", "index"),
    expected="holds",
)
def _(ev):
    from ..ops.conv2d import im2col

    for I, F, G in _cases():
        FN, C, FH, FW = F.shape
        OH, OW = G.shape[1:]
        phi = im2col(I, (FH, FW))
        ev.written("shape", phi.shape, (OH * OW, FH * FW * C))
        ev.written("index", phi, _phi_loops(I, FH, FW))


@claim(
    "xu2020.filter-matrix-shape",
    location="§1, F_f = F.reshape(-1, FN) of shape (C·FH·FW, FN)",
    statement="""Reshaping the (FN, C, FH, FW) filter array with F.reshape(-1, FN) gives a (C·FH·FW, FN) matrix.""",
    convention=CONV,
    routes=("shape", "numpy"),
    expected="holds",
)
def _(ev):
    for I, F, G in _cases():
        FN, C, FH, FW = F.shape
        ev.written("shape", F.reshape(-1, FN).shape, (C * FH * FW, FN))
        ev.written("numpy", F.reshape(-1, FN).size, F.size)


@claim(
    "xu2020.output-matrix-shape",
    location="§1, O_f of shape (OH·OW, FN)",
    statement="""The output as a matrix O_f has shape (OH·OW, FN): one row per output position, one column per filter.""",
    convention=CONV,
    routes=("shape", "explicit"),
    expected="holds",
)
def _(ev):
    from ..ops.conv2d import conv2d

    for I, F, G in _cases():
        FN = F.shape[0]
        OH, OW = G.shape[1:]
        O = conv2d(I, F)
        ev.written("shape", _O_f(O).shape, (OH * OW, FN))
        ev.written("explicit", _O_f(O).shape, (O.shape[1] * O.shape[2], O.shape[0]))


@claim(
    "xu2020.im2col-product",
    location="§1, φ(I)·F_f = O_f with F_f = F.reshape(-1, FN)",
    statement="""The convolution is the matrix product φ(I)·F_f = O_f, with F_f built as F.reshape(-1, FN).
    In NumPy's (row-major) reshape this cuts the flat filter array into rows of FN consecutive entries,
    so the columns of F_f mix different filters as soon as FN > 1.""",
    convention=CONV,
    routes=("explicit", "formula", "torch"),
    expected="holds-corrected",
    correction="""F_f = F.reshape(FN, -1).T (equivalently F.reshape(FN, -1) transposed): column f is filter f
    flattened in the (c, i, j) order of φ(I)'s columns; then φ(I)·F_f = O_f.""",
)
def _(ev):
    from ..ops.conv2d import conv2d, im2col

    for I, F, G in _cases():
        FN, C, FH, FW = F.shape
        phi = im2col(I, (FH, FW))
        as_written = phi @ F.reshape(-1, FN)
        corrected = phi @ F.reshape(FN, -1).T
        ev.both("explicit", as_written, corrected, _O_f(conv2d(I, F)))
        ev.corrected("formula", _phi_loops(I, FH, FW) @ F.reshape(FN, -1).T, _O_f(corr_loops(I[None], F)[0]))
        ev.corrected("torch", corrected, lambda: _O_f(_torch_O(I, F)))


@claim(
    "xu2020.kron-identity",
    location="§1, vec(AXB) = (Bᵀ ⊗ A) vec(X)",
    statement="""For conformable A, X, B: vec(AXB) = (Bᵀ ⊗ A) vec(X), with vec stacking columns (column-major).""",
    convention="column-major vec",
    routes=("numpy", "symbolic"),
    expected="holds",
)
def _(ev):
    import sympy

    r = rng(7)
    for m, n, p, q in ((2, 3, 4, 2), (3, 2, 2, 5), (1, 4, 3, 3)):
        A, X, B = r.standard_normal((m, n)), r.standard_normal((n, p)), r.standard_normal((p, q))
        ev.written("numpy", np.kron(B.T, A) @ vec_f(X), vec_f(A @ X @ B))
    A = symbol_matrix("a_", 2, 3)
    X = symbol_matrix("x_", 3, 2)
    B = symbol_matrix("b_", 2, 2)

    def svec(M):
        return sympy.Matrix([M[i, j] for j in range(M.cols) for i in range(M.rows)])

    ev.written("symbolic", sympy.kronecker_product(B.T, A) * svec(X), svec(A * X * B))


@claim(
    "xu2020.vec-order",
    location="§1, the vec in eqs. (1)–(2) (order never stated; F_f and O_f are NumPy reshapes)",
    statement="""The note does not say which vec its identity uses, while it builds its matrices with NumPy
    (row-major) reshapes.""",
    convention="column-major vs NumPy row-major vec",
    routes=("numpy", "symbolic"),
    expected="completes",
    correction="""The identity vec(AXB) = (Bᵀ ⊗ A) vec(X) needs column-major vec (vec(M) = M.reshape(-1, order='F'));
    with NumPy's row-major flatten the identity reads vec_C(AXB) = (A ⊗ Bᵀ) vec_C(X).""",
)
def _(ev):
    import sympy

    r = rng(8)
    for m, n, p, q in ((2, 3, 4, 2), (3, 2, 2, 5)):
        A, X, B = r.standard_normal((m, n)), r.standard_normal((n, p)), r.standard_normal((p, q))
        ev.corrected("numpy", np.kron(A, B.T) @ X.ravel(), (A @ X @ B).ravel())
        ev.corrected("numpy", np.kron(B.T, A) @ vec_f(X), vec_f(A @ X @ B))
    A = symbol_matrix("a_", 2, 2)
    X = symbol_matrix("x_", 2, 3)
    B = symbol_matrix("b_", 3, 2)

    def cvec(M):
        return sympy.Matrix([M[i, j] for i in range(M.rows) for j in range(M.cols)])

    ev.corrected("symbolic", sympy.kronecker_product(A, B.T) * cvec(X), cvec(A * X * B))


def _phi_of(I, FH, FW):
    from ..ops.conv2d import im2col

    return im2col(I, (FH, FW))


@claim(
    "xu2020.eq1-filter-form",
    location="§1, eq. (1): vec(O_f) = (I_FN ⊗ φ(I)) vec(F_f)",
    statement="""vec(O_f) = vec(φ(I) F_f I_FN) = (I_FN ⊗ φ(I)) vec(F_f): as a function of the filters the
    convolution is the block-diagonal matrix I_FN ⊗ φ(I) (one φ(I) block per filter).""",
    convention=CONV + " (F_f with one filter per column)",
    routes=("kron", "explicit", "torch"),
    expected="holds",
)
def _(ev):
    from ..ops.conv2d import conv2d, conv2d_weight_jacobian

    for I, F, G in _cases():
        FN, C, FH, FW = F.shape
        phi = _phi_of(I, FH, FW)
        K = np.kron(np.eye(FN), phi)
        Ff = _F_f(F)
        ev.written("kron", K @ vec_f(Ff), vec_f(_O_f(conv2d(I, F))))
        # column-major vec(O_f) is the C-order vec of O; column-major vec(F_f) the C-order vec of F
        ev.written("explicit", K, conv2d_weight_jacobian(I, F.shape))
        ev.written("torch", K @ vec_f(Ff), lambda: vec_f(_O_f(_torch_O(I, F))))


@claim(
    "xu2020.eq2-patch-form",
    location="§1, eq. (2): vec(O_f) = (F_fᵀ ⊗ I_{OH·OW}) vec(φ(I))",
    statement="""vec(O_f) = vec(I_{OH·OW} φ(I) F_f) = (F_fᵀ ⊗ I_{OH·OW}) vec(φ(I)): as a function of the patch
    matrix the convolution is F_fᵀ ⊗ I; composed with im2col it is the input Jacobian M_F.""",
    convention=CONV + " (F_f with one filter per column)",
    routes=("kron", "explicit", "torch"),
    expected="holds",
)
def _(ev):
    from ..ops.conv2d import conv2d, conv2d_input_jacobian

    for I, F, G in _cases():
        FN, C, FH, FW = F.shape
        phi = _phi_of(I, FH, FW)
        P = phi.shape[0]
        K = np.kron(_F_f(F).T, np.eye(P))
        ev.written("kron", K @ vec_f(phi), vec_f(_O_f(conv2d(I, F))))
        # compose with im2col column by column (φ is linear in I): K vec(φ(e_k)) is column k of ∂vec(O_f)/∂vec(I)
        cols = []
        for k in range(I.size):
            e = np.zeros(I.size)
            e[k] = 1.0
            cols.append(K @ vec_f(_phi_of(e.reshape(I.shape), FH, FW)))
        ev.written("explicit", np.stack(cols, axis=1), conv2d_input_jacobian(F, I.shape))
        ev.written("torch", K @ vec_f(phi), lambda: vec_f(_O_f(_torch_O(I, F))))


@claim(
    "xu2020.kron-transpose-step",
    location="§1, the step '(I ⊗ B)ᵀ = Aᵀ ⊗ Bᵀ' in the derivation of ∂L/∂vec(F_f)",
    statement="""The justification of (I_FN ⊗ φ(I))ᵀ = I_FN ⊗ φ(I)ᵀ is printed as '(I ⊗ B)ᵀ = Aᵀ ⊗ Bᵀ', mixing I on
    the left with A on the right.""",
    convention="Kronecker products",
    routes=("numpy", "symbolic"),
    expected="holds-corrected",
    correction="(A ⊗ B)ᵀ = Aᵀ ⊗ Bᵀ, hence (I ⊗ φ(I))ᵀ = I ⊗ φ(I)ᵀ.",
)
def _(ev):
    import sympy

    r = rng(9)
    for m, n, p, q in ((2, 3, 4, 2), (3, 3, 2, 5)):
        A, B = r.standard_normal((m, n)), r.standard_normal((p, q))
        Id = np.eye(m, n)
        ev.both("numpy", np.kron(Id, B).T, np.kron(A, B).T, np.kron(A.T, B.T))
    A = symbol_matrix("a_", 2, 2)
    B = symbol_matrix("b_", 2, 3)
    ev.both(
        "symbolic",
        sympy.kronecker_product(sympy.eye(2), B).T,
        sympy.kronecker_product(A, B).T,
        sympy.kronecker_product(A.T, B.T),
    )


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
    routes=("kron", "fd", "torch"),
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
        ev.written("kron", step1, step2)
        ev.written("kron", step3, step2)
        ev.written("fd", step3, vec_f(fd_gradient(_loss_of_filters(I, G, FH, FW), _F_f(F))))
        ev.written("torch", step3, lambda: vec_f(_F_f(_torch_conv_grad("F", I, F, G))))


@claim(
    "xu2020.filter-grad",
    location="§1, ∂L/∂F_f = φ(I)ᵀ ∂L/∂O_f ('same as BP for linear layer')",
    statement="""∂L/∂F_f = φ(I)ᵀ ∂L/∂O_f, the linear layer's weight gradient with φ(I) as its input.""",
    convention=CONV,
    routes=("explicit", "fd", "torch"),
    expected="holds",
)
def _(ev):
    from ..ops.conv2d import conv2d_weight_jacobian

    for I, F, G in _cases():
        FN, C, FH, FW = F.shape
        dFf = _phi_of(I, FH, FW).T @ _O_f(G)
        dF = (conv2d_weight_jacobian(I, F.shape).T @ G.ravel()).reshape(F.shape)
        ev.written("explicit", dFf, _F_f(dF))
        ev.written("fd", dFf, fd_gradient(_loss_of_filters(I, G, FH, FW), _F_f(F)))
        ev.written("torch", dFf, lambda: _F_f(_torch_conv_grad("F", I, F, G)))


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
    routes=("kron", "fd"),
    expected="holds",
)
def _(ev):
    for I, F, G in _cases():
        FN, C, FH, FW = F.shape
        phi = _phi_of(I, FH, FW)
        P = phi.shape[0]
        Ff, Gf = _F_f(F), _O_f(G)
        row = vec_f(Gf) @ np.kron(Ff.T, np.eye(P))
        ev.written("kron", row, np.kron(Ff, np.eye(P)) @ vec_f(Gf))
        ev.written("kron", vec_f(np.eye(P) @ Gf @ Ff.T), row)
        ev.written("fd", row, vec_f(fd_gradient(_loss_of_patches(F, G), phi)))


@claim(
    "xu2020.patch-grad",
    location="§1, ∂L/∂φ(I) = ∂L/∂O_f F_fᵀ",
    statement="""∂L/∂φ(I) = ∂L/∂O_f F_fᵀ, the linear layer's input gradient with F_f as its weight.""",
    convention=CONV,
    routes=("fd", "torch"),
    expected="holds",
)
def _(ev):
    for I, F, G in _cases():
        FN, C, FH, FW = F.shape
        d_phi = _O_f(G) @ _F_f(F).T
        ev.written("fd", d_phi, fd_gradient(_loss_of_patches(F, G), _phi_of(I, FH, FW)))
        ev.written("torch", d_phi, lambda: _torch_patch_grad(I, F, G))


@claim(
    "xu2020.input-grad-fold",
    location="§1, after ∂L/∂φ(I) (the note stops there)",
    statement="""The note ends with ∂L/∂φ(I) and does not say how to reach ∂L/∂I, the gradient the previous
    layer needs.""",
    convention=CONV,
    routes=("explicit", "rot180", "fd", "torch"),
    expected="completes",
    correction="""∂L/∂I = col2im(∂L/∂O_f F_fᵀ): fold the patch gradients back onto the image, each pixel
    receiving the sum over every patch entry that copied it (the adjoint of im2col).""",
)
def _(ev):
    from ..ops.conv2d import col2im, conv2d, conv2d_input_jacobian, conv2d_vjp_input_rot180

    for I, F, G in _cases():
        FN, C, FH, FW = F.shape
        dI = col2im(_O_f(G) @ _F_f(F).T, I.shape, (FH, FW))
        ev.corrected("explicit", dI, (conv2d_input_jacobian(F, I.shape).T @ G.ravel()).reshape(I.shape))
        ev.corrected("rot180", dI, conv2d_vjp_input_rot180(G, I, F))
        ev.corrected("fd", dI, fd_gradient(lambda I_: float(np.sum(G * conv2d(I_, F))), I))
        ev.corrected("torch", dI, lambda: _torch_conv_grad("I", I, F, G))
