"""Claims of DD2424 Lecture 6, "The Convolutional Layer in Convolutional Networks" (KTH, 2017) — key ``dd2424``.

Convention of the slides: an image X of size w × h × 3 is a stack of planes
X₁, X₂, X₃; vec walks a plane row by row (F₁₁, F₁₂, F₁₃, F₂₁, …) and stacks
the planes — which is exactly the package's canonical C-order vec of a
(C, H, W) array, so no permutation is needed. 1-based indices; "convolution"
is correlation; derivatives are Jacobians in numerator layout, so ∂l/∂vec(·)
is a row vector.

Routes: the package's explicit sparse Jacobians (M_X^im = conv2d weight
Jacobian, M_F^filter = conv2d input Jacobian), the slides' entries as
transcribed (compared exactly, with integer codes X_ij ↦ 10i + j and with
sympy symbols), finite differences, and torch autograd when installed.
"""
from __future__ import annotations

import numpy as np

from .. import conv2d, conv2d_input_jacobian, conv2d_weight_jacobian
from ..claims import claim, reference_jacobian, reference_vjp
from ._tools import fd_conv_forward, fd_gradient, fd_gradient_wrt, fd_jacobian, rng, symbol_matrix, torch_conv2d, torch_grad, torch_jacobian

CONV = "planes stacked, row-major vec within a plane (canonical C order); 1-based; numerator layout"


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def _conv(X, F):
    """S = X * F for one filter F (C, f, f) over X (C, H, W): a single response map."""
    return conv2d(X, F[None])[0]


def _M_im(X, f):
    """M_X^im of one filter: ∂vec(S)/∂vec(F) for S = X * F, F of shape (C, f, f)."""
    return conv2d_weight_jacobian(X, (1, X.shape[0], f, f)).toarray()


def _M_filter(F, in_shape):
    """M_F^filter: ∂vec(S)/∂vec(X) for S = X * F, one filter F of shape (C, f, f)."""
    return conv2d_input_jacobian(F[None], in_shape).toarray()


def _M_im_note(X, f):
    """M_X^im as the slides build it: row (l, m) is the f×f chunk of X under S_lm, plane by plane, each row by row."""
    C, h, w = X.shape
    return np.array([X[:, l : l + f, m : m + f].ravel() for l in range(h - f + 1) for m in range(w - f + 1)])


def _M_filter_note(F, in_shape):
    """M_F^filter as the slides build it: row (l, m) holds F_kij at the column of X_{k, l+i, m+j}, zeros elsewhere."""
    C, h, w = in_shape
    f = F.shape[-1]
    rows = []
    for l in range(h - f + 1):
        for m in range(w - f + 1):
            row = np.zeros((C, h, w))
            row[:, l : l + f, m : m + f] = F
            rows.append(row.ravel())
    return np.array(rows)


def _codes(h, w, base=10):
    """X_ij ↦ base·i + j (1-based): every entry of a transcribed matrix can be compared exactly."""
    i, j = np.meshgrid(np.arange(1, h + 1), np.arange(1, w + 1), indexing="ij")
    return (base * i + j).astype(np.float64)


def _code_of(name: str) -> float:
    """'X34' ↦ 34, 'F21' ↦ 21, '0' ↦ 0."""
    return 0.0 if name == "0" else float(name[1:])


def _rows(text: str):
    return [[_code_of(t) for t in row.split()] for row in text.strip().splitlines()]


def _sym_rows(text: str):
    import sympy

    return sympy.Matrix([[sympy.Integer(0) if t == "0" else sympy.Symbol(t) for t in row.split()] for row in text.strip().splitlines()])


def _sym_S(X, F):
    """S_lm = Σ_i Σ_j X_{i+l−1, j+m−1} F_ij (single plane, the slides' formula) as a sympy matrix."""
    import sympy

    f = F.rows
    return sympy.Matrix(X.rows - f + 1, X.cols - f + 1, lambda l, m: sum(X[l + i, m + j] * F[i, j] for i in range(f) for j in range(f)))


def _sym_M_im():
    """X (6×6), F (3×3) as symbols X11 …, F11 … and M_X^im = ∂vec(S)/∂vec(F) (16×9) of S = X * F, by sympy."""
    X, F = symbol_matrix("X", 6, 6), symbol_matrix("F", 3, 3)
    return X, F, _sym_S(X, F).reshape(16, 1).jacobian([F[i, j] for i in range(3) for j in range(3)])


def _sym_M_filter():
    """X (6×6), F (3×3) as symbols X11 …, F11 … and M_F^filter = ∂vec(S)/∂vec(X) (16×36) of S = X * F, by sympy."""
    X, F = symbol_matrix("X", 6, 6), symbol_matrix("F", 3, 3)
    return X, F, _sym_S(X, F).reshape(16, 1).jacobian([X[i, j] for i in range(6) for j in range(6)])


def _sum_products(text: str):
    """'g1 F12 + g2 F11' ↦ sympy expression (parsed by hand: names only, never sympified)."""
    import sympy

    total = sympy.Integer(0)
    for term in text.split("+"):
        a, b = term.split()
        total += sympy.Symbol(a) * sympy.Symbol(b)
    return total


# ---------------------------------------------------------------------------
# the network of the slides: conv (n_F filters) → ReLU → FC → softmax → cross-entropy
# ---------------------------------------------------------------------------
def _net_params(seed, C=3, h=6, w=5, f=3, n_f=3, classes=4):
    r = rng(seed)
    X = r.standard_normal((C, h, w))
    F = r.standard_normal((n_f, C, f, f))
    b = r.standard_normal(n_f) * 0.1
    t = n_f * (h - f + 1) * (w - f + 1)
    W = r.standard_normal((classes, t)) * 0.3
    b2 = r.standard_normal(classes) * 0.1
    y = np.zeros(classes)
    y[seed % classes] = 1.0
    return X, F, b, W, b2, y


NET_SIZES = (dict(C=3, h=6, w=5, f=3, n_f=3, classes=4), dict(C=2, h=5, w=7, f=2, n_f=3, classes=3))


def _softmax(s):
    e = np.exp(s - s.max())
    return e / e.sum()


def _net(X, F, b, W, b2, y):
    """All intermediate values of the slides' network."""
    S = conv2d(X, F, b)
    H = np.maximum(0.0, S)
    s = W @ H.ravel() + b2
    p = _softmax(s)
    return dict(S=S, H=H, s=s, p=p, loss=-np.log(y @ p))


def _torch_net_loss(X, F, b, W, b2, y):
    import torch

    def loss_of(**kw):
        v = dict(X=X, F=F, b=b, W=W, b2=b2)
        v.update(kw)
        t = {k: torch.as_tensor(a) for k, a in v.items()}
        S = torch.nn.functional.conv2d(t["X"][None], t["F"], t["b"])[0]
        s = t["W"] @ torch.relu(S).reshape(-1) + t["b2"]
        return -torch.log(torch.as_tensor(y) @ torch.softmax(s, 0))

    return loss_of


def _head_loss(name, value, W, b2, y):
    """l recomputed with numpy from vec(S) (``name`` "S": ReLU, FC, softmax, cross-entropy) or from vec(H) ("H")."""
    H = np.maximum(0.0, value) if name == "S" else value
    return -np.log(y @ _softmax(W @ H + b2))


def _torch_head_loss(name, value, W, b2, y):
    """The torch twin of :func:`_head_loss` (``value`` a tensor)."""
    import torch

    H = torch.relu(value) if name == "S" else value
    return -torch.log(torch.as_tensor(y) @ torch.softmax(torch.as_tensor(W) @ H + torch.as_tensor(b2), 0))


def _net_cases():
    """(X, F, b, W, b2, y) for each of :data:`NET_SIZES`, seeded by its position."""
    for k, sz in enumerate(NET_SIZES):
        yield _net_params(k, **sz)


def _fd_net_grad(wrt, X, F, b, W, b2, y):
    """∂l/∂(``wrt`` = "b", "W" or "b2") by central differences of the numpy forward :func:`_net`."""
    return fd_gradient_wrt(lambda **a: _net(**a)["loss"], wrt, X=X, F=F, b=b, W=W, b2=b2, y=y)


def _fd_filter_grad(i, X, F, b, W, b2, y):
    """∂l/∂F_i (filter i alone, shaped like F[i]) by central differences of the numpy forward."""

    def loss_of_Fi(Fi):
        FF = F.copy()
        FF[i] = Fi
        return _net(X, FF, b, W, b2, y)["loss"]

    return fd_gradient(loss_of_Fi, F[i])


def _torch_net_grad(wrt, X, F, b, W, b2, y):
    """∂l/∂(``wrt`` = "F", "b" or "W") by torch autograd of the same network."""
    return torch_grad(lambda t: _torch_net_loss(X, F, b, W, b2, y)(**{wrt: t}), dict(F=F, b=b, W=W)[wrt])


# ---------------------------------------------------------------------------
# sizes
# ---------------------------------------------------------------------------
@claim(
    "dd2424.response-map-size",
    location="slides 'Convolution Layer' (32×32×3 image, 5×5×3 filters; four filters stacked)",
    statement="""A 32×32×3 image correlated with one 5×5×3 filter gives a 28×28×1 response map; with four filters
    the stacked response S is 28×28×4. Filter and image always have the same depth.""",
    convention=CONV,
    routes=("shape", "explicit", "torch"),
    expected="holds",
)
def _(ev):
    X = np.zeros((3, 32, 32))
    for n_f, want in ((1, (1, 28, 28)), (4, (4, 28, 28))):
        F = np.zeros((n_f, 3, 5, 5))
        ev.written("shape", (n_f, 32 - 5 + 1, 32 - 5 + 1), want, kinds=("formula", "exact"))
        ev.written("explicit", conv2d(X, F).shape, want, kinds=("package", "formula"))
        ev.written("torch", lambda: torch_conv2d(X[None], F)[0].shape, want, kinds=("formula", "torch"))


@claim(
    "dd2424.network-dims",
    location="slide 'How do we produce final probs…' (dimensions of inputs, outputs and parameters)",
    statement="""For X of size w×h×3, filters F_i of size f×f×3 and n_F filters: each S_i is (w−f+1)×(h−f+1), S and H
    are (w−f+1)×(h−f+1)×n_F, W is C×(w−f+1)(h−f+1)n_F, and b, s, p are C×1.""",
    convention=CONV,
    routes=("shape", "explicit"),
    expected="holds",
)
def _(ev):
    for k, sz in enumerate(NET_SIZES):
        X, F, b, W, b2, y = _net_params(k, **sz)
        v = _net(X, F, b, W, b2, y)
        C, h, w, f, n_f, classes = (sz[key] for key in ("C", "h", "w", "f", "n_f", "classes"))
        stated_S = (n_f, h - f + 1, w - f + 1)
        ev.written("explicit", stated_S, v["S"].shape, kinds=("formula", "package"))  # S from the package's conv2d
        ev.written("explicit", stated_S, v["H"].shape, kinds=("formula", "package"))
        # counted: filter positions that fit, per filter
        fits = (sum(1 for l in range(h) if l + f <= h), sum(1 for m in range(w) if m + f <= w))
        ev.written("shape", stated_S, (n_f, *fits), kinds=("formula", "exact"))
        # W must take vec(H) (package-made) to the C scores: its stated column count is vec(H)'s length
        ev.written("explicit", (h - f + 1) * (w - f + 1) * n_f, v["H"].size, kinds=("formula", "package"))
        ev.written("shape", (h - f + 1) * (w - f + 1) * n_f, fits[0] * fits[1] * n_f, kinds=("formula", "exact"))


# ---------------------------------------------------------------------------
# the gradients of the one-layer network
# ---------------------------------------------------------------------------
@claim(
    "dd2424.softmax-ce-gradient",
    location="slide 'Computational Graph for our simple network' (∂l/∂s 'from previous lectures')",
    statement="""For l = −log(yᵀp), p = softmax(s): ∂l/∂s = −yᵀ/(yᵀp) · (diag(p) − ppᵀ), which is (p − y)ᵀ for a
    one-hot y.""",
    convention=CONV + "; ∂l/∂s is a 1×C row",
    routes=("explicit", "vjp", "fd", "formula", "torch"),
    expected="holds",
    kind="extraction",
    reading="""Printed 'diag(p − ppᵀ)': literally the diagonal matrix of a C×1 vector minus a C×C matrix, which is not
    defined; its nearest defined reading, diag of the diagonal p∘(1 − p), keeps only the softmax Jacobian's diagonal and
    gives a wrong gradient (checked below: error > 0.1). A closing parenthesis moved one symbol to the right
    (diag(p) − ppᵀ) is the softmax Jacobian of the same lecture series, so the text is judged damaged.""",
)
def _(ev):
    r = rng(11)
    for C in (3, 5):
        s = r.standard_normal(C)
        for k in range(2):
            y = np.zeros(C)
            y[(k * 2 + 1) % C] = 1.0
            p = _softmax(s)
            plausible = -(y / (y @ p)) @ (np.diag(p) - np.outer(p, p))
            grad_fd = fd_gradient(lambda s_: -np.log(y @ _softmax(s_)), s)
            ev.written("fd", plausible, grad_fd, kinds=("formula", "fd"))
            ev.written("explicit", plausible, reference_vjp("softmax_cross_entropy", np.array(1.0), "s", s=s, y=y), kinds=("formula", "package"))
            ev.written("formula", plausible, p - y, kinds=("formula", "formula"))
            ev.written("vjp", plausible, reference_vjp("softmax_cross_entropy", np.array(1.0), "s", route="vjp:softmax_vjp", s=s, y=y), kinds=("formula", "package"))
            literal_diagonal = -(y / (y @ p)) @ np.diag(p - p * p)  # the literal text's only defined reading
            assert np.abs(literal_diagonal - grad_fd).max() > 0.1, "the literal reading would not be wrong here"

            def t_loss(st, y=y):
                import torch

                return -torch.log(torch.as_tensor(y) @ torch.softmax(st, 0))

            ev.written("torch", plausible, lambda: torch_grad(t_loss, s), kinds=("formula", "torch"))


@claim(
    "dd2424.fc-backward",
    location="slide 'Computational Graph for our simple network', ∂l/∂vec(H)",
    statement="""∂l/∂vec(H) = ∂l/∂s · W for s = W vec(H) + b.""",
    convention=CONV,
    routes=("fd", "explicit", "torch"),
    expected="holds",
)
def _(ev):
    for X, F, b, W, b2, y in _net_cases():
        v = _net(X, F, b, W, b2, y)
        dl_ds = v["p"] - y
        dl_dH = dl_ds @ W
        ev.written("fd", dl_dH, fd_gradient(lambda Hv: _head_loss("H", Hv, W, b2, y), v["H"].ravel()), kinds=("formula", "fd"))
        # the package's VJPs: softmax–cross-entropy, then s = W vec(H) + b (note 004's linear layer)
        dl_ds_pkg = reference_vjp("softmax_cross_entropy", np.array(1.0), "s", s=v["s"], y=y)
        ev.written("explicit", dl_dH, reference_vjp("linear_wvec_b", dl_ds_pkg, "h", h=v["H"].ravel(), weight=W, bias=b2), kinds=("formula", "package"))
        ev.written("torch", dl_dH, lambda: torch_grad(lambda Ht: _torch_head_loss("H", Ht, W, b2, y), v["H"].ravel()), kinds=("formula", "torch"))


@claim(
    "dd2424.relu-backward",
    location="slide 'Computational Graph for our simple network', ∂l/∂vec(S)",
    statement="""∂l/∂vec(S) = ∂l/∂vec(H) · diag(Ind(vec(S) > 0)) for H = max(0, S).""",
    convention=CONV,
    routes=("fd", "explicit", "torch"),
    expected="holds",
)
def _(ev):
    for X, F, b, W, b2, y in _net_cases():
        v = _net(X, F, b, W, b2, y)
        dl_dH = (v["p"] - y) @ W
        dl_dS = dl_dH @ np.diag((v["S"].ravel() > 0).astype(float))
        ev.written("fd", dl_dS, fd_gradient(lambda Sv: _head_loss("S", Sv, W, b2, y), v["S"].ravel()), kinds=("formula", "fd"))
        ev.written("explicit", dl_dS, reference_vjp("relu", dl_dH, "z", z=v["S"].ravel()), kinds=("formula", "package"))
        ev.written("torch", dl_dS, lambda: torch_grad(lambda St: _torch_head_loss("S", St, W, b2, y), v["S"].ravel()), kinds=("formula", "torch"))


def _dl_dS(X, F, b, W, b2, y):
    v = _net(X, F, b, W, b2, y)
    return ((v["p"] - y) @ W) * (v["S"].ravel() > 0)


def _stack_jacobian(i, n_f, t):
    """(0; …; I_t; …; 0): rows of vec(S), columns of vec(S_i)."""
    J = np.zeros((n_f * t, t))
    J[i * t : (i + 1) * t] = np.eye(t)
    return J


@claim(
    "dd2424.stack-jacobian",
    location="slide 'Jacobian of vec(S) w.r.t. vec(S_i)'",
    statement="""vec(S) stacks vec(S_1), vec(S_2), vec(S_3), so ∂vec(S)/∂vec(S_i) is the 3t×t block column with I_t in
    block i and t×t zero blocks elsewhere, t = (w−f+1)(h−f+1).""",
    convention=CONV,
    routes=("structure", "explicit"),
    expected="holds",
)
def _(ev):
    r = rng(3)
    for n_f, oh, ow in ((3, 4, 3), (3, 2, 5)):
        t = oh * ow
        S = r.standard_normal((n_f, oh, ow))
        for i in range(n_f):

            def stack_with(Si, i=i):
                T = S.copy()
                T[i] = Si.reshape(oh, ow)
                return T.ravel()

            J_fd = np.rint(fd_jacobian(stack_with, S[i].ravel()))
            ev.written("structure", _stack_jacobian(i, n_f, t), J_fd, kinds=("formula", "fd"))
            pkg = reference_jacobian("stack", f"s{i + 1}", s1=S[0], s2=S[1], s3=S[2]).toarray()
            ev.written("explicit", _stack_jacobian(i, n_f, t), pkg, kinds=("formula", "package"))


@claim(
    "dd2424.filter-chain",
    location="slides 'Computational Graph…: From reading the computational graph' (∂l/∂vec(F_i))",
    statement="""∂l/∂vec(F_i) = ∂l/∂vec(S_i) ∂vec(S_i)/∂vec(F_i) = ∂l/∂vec(S) ∂vec(S)/∂vec(S_i) ∂vec(S_i)/∂vec(F_i), i = 1, 2, 3.""",
    convention=CONV,
    routes=("formula", "explicit", "fd", "torch"),
    expected="holds",
)
def _(ev):
    for X, F, b, W, b2, y in _net_cases():
        g = _dl_dS(X, F, b, W, b2, y)
        n_f, t = F.shape[0], g.size // F.shape[0]
        M = _M_im_note(X, F.shape[2])
        for i in range(n_f):
            via_S = g @ _stack_jacobian(i, n_f, t) @ M
            via_Si = g[i * t : (i + 1) * t] @ M
            ev.written("formula", via_S, via_Si, kinds=("formula", "formula"))
            # the package's weight VJP of filter i's response map
            S_shape = (1, X.shape[1] - F.shape[2] + 1, X.shape[2] - F.shape[3] + 1)
            ev.written("explicit", via_S, reference_vjp("conv2d", g[i * t : (i + 1) * t].reshape(S_shape), "weight", x=X, weight=F[i : i + 1]).ravel(), kinds=("formula", "package"))
            ev.written("fd", via_S, _fd_filter_grad(i, X, F, b, W, b2, y).ravel(), kinds=("formula", "fd"))
            ev.written("torch", via_S, lambda: _torch_net_grad("F", X, F, b, W, b2, y)[i].ravel(), kinds=("formula", "torch"))


# ---------------------------------------------------------------------------
# M_X^im
# ---------------------------------------------------------------------------
@claim(
    "dd2424.im-matrix-size",
    location="slides 'Jacobian of vec(S_i) w.r.t. vec(F_i)' (M_X^im size)",
    statement="""vec(S_i) = M_X^im vec(F_i) with M_X^im of size (w−f+1)(h−f+1) × 3f² for a w×h×3 image.""",
    convention=CONV,
    routes=("shape", "explicit"),
    expected="holds",
)
def _(ev):
    for C, h, w, f in ((3, 6, 5, 3), (3, 7, 9, 2), (3, 32, 32, 5)):
        M = _M_im_note(np.ones((C, h, w)), f)
        ev.written("shape", M.shape, ((w - f + 1) * (h - f + 1), 3 * f * f), kinds=("formula", "exact"))
        ev.written("explicit", M.shape[0], _conv(np.ones((C, h, w)), np.ones((C, f, f))).size, kinds=("formula", "package"))


_IM_ROWS = """
X11 X12 X13 X21 X22 X23 X31 X32 X33
X12 X13 X14 X22 X23 X24 X32 X33 X34
X13 X14 X15 X23 X24 X25 X33 X34 X35
X14 X15 X16 X24 X25 X26 X34 X35 X36
X21 X22 X23 X31 X32 X33 X41 X42 X43
X44 X45 X46 X54 X55 X56 X64 X65 X66
"""
_IM_ROW_INDEX = [0, 1, 2, 3, 4, 15]  # rows S11, S12, S13, S14, S21 and S44


@claim(
    "dd2424.im-matrix-example",
    location="slides 'Writing a convolution as a matrix multiplication — Simple Example' (6×6 image, 3×3 filter)",
    statement="""For a 6×6 image and a 3×3 filter, S = X * F is 4×4 and S_lm = Σ_{i,j≤3} X_{i+l−1,j+m−1} F_ij; the
    16×9 M_X^im has rows (X11 X12 X13 X21 X22 X23 X31 X32 X33) for S11, (X12 … X34) for S12, …, (X21 … X43) for
    S21 and (X44 X45 X46 X54 X55 X56 X64 X65 X66) for S44.""",
    convention=CONV,
    routes=("explicit", "symbolic"),
    expected="holds",
)
def _(ev):
    M = _M_im(_codes(6, 6)[None], 3)
    ev.written("explicit", M.shape, (16, 9), kinds=("package", "exact"))
    ev.written("explicit", M[_IM_ROW_INDEX], np.array(_rows(_IM_ROWS)), kinds=("package", "formula"))
    X, F, M_sym = _sym_M_im()
    ev.written("symbolic", M_sym.extract(_IM_ROW_INDEX, list(range(9))), _sym_rows(_IM_ROWS), kinds=("formula", "sympy"))


@claim(
    "dd2424.entry-formula",
    location="slides 'Simple Example' (S_lm = Σ_k Σ_i Σ_j X_{k,i+l−1,j+m−1} F_kij)",
    statement="""Each entry of the response map is S_lm = Σ_k Σ_i Σ_j X_{k,i+l−1,j+m−1} F_{kij} (sum over planes k and
    taps i, j; 1-based).""",
    convention=CONV,
    routes=("formula", "explicit", "fd", "torch"),
    expected="holds",
)
def _(ev):
    r = rng(5)
    for C, h, w, f in ((1, 6, 6, 3), (3, 6, 5, 3), (4, 5, 7, 2)):
        X, F = r.standard_normal((C, h, w)), r.standard_normal((C, f, f))
        S = np.array(
            [
                [
                    sum(X[k - 1, i + l - 2, j + m - 2] * F[k - 1, i - 1, j - 1] for k in range(1, C + 1) for i in range(1, f + 1) for j in range(1, f + 1))
                    for m in range(1, w - f + 2)
                ]
                for l in range(1, h - f + 2)
            ]
        )
        ev.written("explicit", S, _conv(X, F), kinds=("formula", "package"))
        ev.written("formula", S, (_M_im_note(X, f) @ F.ravel()).reshape(S.shape), kinds=("formula", "formula"))
        ev.written("fd", S, fd_conv_forward(X, F[None])[0], kinds=("formula", "fd"))
        ev.written("torch", S, lambda: torch_conv2d(X[None], F[None])[0, 0], kinds=("formula", "torch"))


@claim(
    "dd2424.im-matrix-product",
    location="slide 'Simple Example' (vec(S) = M_X^im vec(F))",
    statement="""With row-major vec, vec(S) = M_X^im vec(F): the convolution is a matrix–vector product with the filter.""",
    convention=CONV,
    routes=("explicit", "fd", "torch"),
    expected="holds",
)
def _(ev):
    r = rng(6)
    for C, h, w, f in ((1, 6, 6, 3), (3, 6, 5, 3), (4, 6, 6, 3)):
        X, F = r.standard_normal((C, h, w)), r.standard_normal((C, f, f))
        prod = _M_im_note(X, f) @ F.ravel()  # the slides' M_X^im, built from its rows
        ev.written("explicit", prod, _conv(X, F).ravel(), kinds=("formula", "package"))
        ev.written("fd", prod, fd_conv_forward(X, F[None]).ravel(), kinds=("formula", "fd"))
        ev.written("torch", prod, lambda: torch_conv2d(X[None], F[None]).ravel(), kinds=("formula", "torch"))


@claim(
    "dd2424.im-matrix-multiplane",
    location="slide 'Multiple planes: Convolution → Matrix multiplication' (6×6×4 image, 3×3×4 filter)",
    statement="""For X = {X1, …, X4} (6×6×4) and F1 (3×3×4), vec(S1) = M_X^im vec(F1) with
    M_X^im = (M_X1^im M_X2^im M_X3^im M_X4^im), one 16×9 block per plane: 16×36 in all.""",
    convention=CONV,
    routes=("explicit", "fd", "shape"),
    expected="holds",
)
def _(ev):
    r = rng(7)
    for C, h, w, f in ((4, 6, 6, 3), (3, 5, 7, 2)):
        X = r.standard_normal((C, h, w))
        # the slides' blocks, one per plane, each built from that plane's chunks
        blocks = np.hstack([_M_im_note(X[j : j + 1], f) for j in range(C)])
        ev.written("explicit", blocks, _M_im(X, f), kinds=("formula", "package"))
        ev.written("fd", blocks, reference_jacobian("conv2d", "weight", route="fd", x=X, weight=np.zeros((1, C, f, f))), kinds=("formula", "fd"))
    ev.written("shape", (16, 36), _M_im(np.ones((4, 6, 6)), 3).shape, kinds=("formula", "package"))


@claim(
    "dd2424.im-jacobian",
    location="slide 'Back to: Jacobian of vec(S_i) w.r.t. vec(F_i)'",
    statement="""Since vec(S_i) = M_X^im vec(F_i), the Jacobian ∂vec(S_i)/∂vec(F_i) is M_X^im.""",
    convention=CONV,
    routes=("explicit", "fd", "torch"),
    expected="holds",
)
def _(ev):
    r = rng(8)
    for C, h, w, f in ((3, 6, 5, 3), (3, 4, 7, 2)):
        X, F = r.standard_normal((C, h, w)), r.standard_normal((C, f, f))
        M = _M_im_note(X, f)
        ev.written("fd", M, fd_jacobian(lambda F_: _conv(X, F_), F), kinds=("formula", "fd"))

        def t_fn(Ft):
            import torch

            return torch.nn.functional.conv2d(torch.as_tensor(X)[None], Ft[None])[0, 0]

        ev.written("torch", M, lambda: torch_jacobian(t_fn, F), kinds=("formula", "torch"))
        ev.written("explicit", M @ F.ravel(), _conv(X, F).ravel(), kinds=("formula", "package"))


def _one_layer_dl_dS1(seed, C=3, h=6, w=5, f=3):
    r = rng(seed)
    X = r.standard_normal((C, h, w))
    t = (h - f + 1) * (w - f + 1)
    g = r.standard_normal(3 * t)  # ∂l/∂vec(S) for three response maps
    return X, g, t


def _fd_one_filter_grad(X, G1, f):
    """∂l/∂F_1 (C × f × f) for l = ⟨G1, X * F_1⟩ by central differences (at F_1 = 0: l is linear in F_1)."""
    return fd_gradient(lambda F_: float(np.sum(G1 * _conv(X, F_))), np.zeros((X.shape[0], f, f)))


@claim(
    "dd2424.filter-grad-chain",
    location="slide 'Gradient of the loss w.r.t. vec(F_i)', first two lines",
    statement="""∂l/∂vec(F_1) = ∂l/∂vec(S) (I_t; 0; 0) M_X^im = (∂l/∂vec(S_1) ∂l/∂vec(S_2) ∂l/∂vec(S_3)) ·
    [[M_X1^im M_X2^im M_X3^im]; [0 0 0]; [0 0 0]], i.e. ∂l/∂vec(S_1) M_X^im.""",
    convention=CONV,
    routes=("formula", "explicit", "fd"),
    expected="holds",
)
def _(ev):
    for seed, (C, h, w, f) in enumerate(((3, 6, 5, 3), (3, 5, 7, 2))):
        X, g, t = _one_layer_dl_dS1(seed, C, h, w, f)
        M = _M_im_note(X, f)
        line1 = g @ _stack_jacobian(0, 3, t) @ M
        blocks = np.block([[_M_im_note(X[j : j + 1], f) for j in range(C)], [np.zeros((2 * t, C * f * f))]])
        line2 = g @ blocks
        ev.written("formula", line1, line2, kinds=("formula", "formula"))
        ev.written("explicit", line1, reference_vjp("conv2d", g[:t].reshape(1, h - f + 1, w - f + 1), "weight", x=X, weight=np.zeros((1, C, f, f))).ravel(), kinds=("formula", "package"))
        ev.written("fd", line1, _fd_one_filter_grad(X, g[:t].reshape(h - f + 1, w - f + 1), f).ravel(), kinds=("formula", "fd"))


@claim(
    "dd2424.filter-grad-sum",
    location="""slide 'Gradient of the loss w.r.t. vec(F_i)', last line (Σ_{i=1}^{3} ∂l/∂vec(S_1) M_Xi^im), restated on
    'Back to Gradient of the loss w.r.t. F_i' (counted once, here)""",
    statement="""The last line writes ∂l/∂vec(F_1) as the sum Σ_i ∂l/∂vec(S_1) M_Xi^im over the three planes. That sum
    is a 1×f² row whose value is the true gradient with its three plane blocks added together, whereas ∂l/∂vec(F_1) is
    1×3f² (the blocks side by side).""",
    convention=CONV,
    routes=("explicit", "fd", "plane-sum"),
    expected="holds-corrected",
    kind="erratum",
    correction="""∂l/∂vec(F_1) = (∂l/∂vec(S_1) M_X1^im, ∂l/∂vec(S_1) M_X2^im, ∂l/∂vec(S_1) M_X3^im): the plane
    contributions are concatenated, not summed.""",
)
def _(ev):
    for seed, (C, h, w, f) in enumerate(((3, 6, 5, 3), (3, 5, 7, 2))):
        X, g, t = _one_layer_dl_dS1(seed, C, h, w, f)
        g1 = g[:t]
        parts = [g1 @ _M_im_note(X[j : j + 1], f) for j in range(C)]
        true = g1 @ _M_im_note(X, f)
        ev.both("explicit", sum(parts), np.concatenate(parts), true, kinds=("formula", "package"))
        fd_true = _fd_one_filter_grad(X, g1.reshape(h - f + 1, w - f + 1), f).ravel()
        ev.both("fd", sum(parts), np.concatenate(parts), fd_true, kinds=("formula", "fd"))
        # by value, the printed sum is the true gradient with its C plane blocks added together
        ev.written("plane-sum", sum(parts), fd_true.reshape(C, -1).sum(axis=0), kinds=("formula", "fd"), tol=1e-6)


@claim(
    "dd2424.filter-grad-reshape",
    location="slide 'Gradient of the loss w.r.t. F_i', Option 1",
    statement="""∂l/∂F_i (f×f×3) is obtained by reshaping the 1×3f² row ∂l/∂vec(F_i) — undoing the slides' vec (planes
    stacked, each plane row by row).""",
    convention=CONV,
    routes=("explicit", "fd", "torch"),
    expected="holds",
)
def _(ev):
    for X, F, b, W, b2, y in _net_cases():
        g = _dl_dS(X, F, b, W, b2, y)
        n_f, t = F.shape[0], g.size // F.shape[0]
        M = _M_im_note(X, F.shape[2])  # the slides' M_X^im, from its rows
        rows = [g[i * t : (i + 1) * t] @ M for i in range(n_f)]
        # Option 1: undo the slides' vec — planes stacked, each plane row by row — one entry at a time
        C, f = F.shape[1], F.shape[2]
        reshaped = np.stack([[[[r_[k * f * f + a * f + c] for c in range(f)] for a in range(f)] for k in range(C)] for r_ in rows])
        # the package's weight VJP of the convolution (∂l/∂S from the slides' chain, then Jᵀ g)
        ev.written("explicit", reshaped, reference_vjp("conv2d", g.reshape(n_f, -1).reshape(n_f, *_net(X, F, b, W, b2, y)["S"].shape[1:]), "weight", x=X, weight=F), kinds=("formula", "package"))
        ev.written("fd", reshaped, np.stack([_fd_filter_grad(i, X, F, b, W, b2, y) for i in range(n_f)]), kinds=("formula", "fd"))
        ev.written("torch", reshaped, lambda: _torch_net_grad("F", X, F, b, W, b2, y), kinds=("formula", "torch"))


@claim(
    "dd2424.im-column-blocks",
    location="slides 'Writing a certain matrix multiplication as a convolution' (red column ↔ red block of X)",
    statement="""Column (a, b) of M_X^im (the tap F_ab), read down its 16 rows, is the 4×4 block of X with top-left
    X_ab read row by row; e.g. the column of F33 holds the block X33 … X66.""",
    convention=CONV,
    routes=("index", "symbolic"),
    expected="holds",
)
def _(ev):
    Xc = _codes(6, 6)
    M = _M_im_note(Xc[None], 3)
    for a in range(3):
        for b in range(3):
            ev.written("index", M[:, a * 3 + b], Xc[a : a + 4, b : b + 4].ravel(), kinds=("formula", "exact"))
    X, F, M_sym = _sym_M_im()
    ev.written("symbolic", M_sym[:, 8].T, X[2:6, 2:6].reshape(1, 16), kinds=("formula", "sympy"))


@claim(
    "dd2424.v-as-correlation",
    location="slide 'Writing a certain matrix multiplication as a convolution', 'Thus' (V = X * G)",
    statement="""For (v_1 … v_9) = (g_1 … g_16) M_X^im, the 3×3 matrix V of the v's (row by row) is X * G, the 6×6 image
    correlated with the 4×4 matrix G of the g's (row by row).""",
    convention=CONV,
    routes=("symbolic", "explicit"),
    expected="holds",
)
def _(ev):
    import sympy

    X, F, M_sym = _sym_M_im()
    G = sympy.Matrix(4, 4, lambda i, j: sympy.Symbol(f"g{4 * i + j + 1}"))
    v = G.reshape(1, 16) * M_sym
    ev.written("symbolic", v.reshape(3, 3), _sym_S(X, G), kinds=("formula", "sympy"))
    r = rng(9)
    for h, w, f in ((6, 6, 3), (5, 7, 2)):
        Xn = r.standard_normal((1, h, w))
        Gn = r.standard_normal((h - f + 1, w - f + 1))
        ev.written("explicit", (Gn.ravel() @ _M_im_note(Xn, f)).reshape(f, f), _conv(Xn, Gn[None]), kinds=("formula", "package"))


@claim(
    "dd2424.filter-grad-conv",
    location="slide 'Back to Gradient of the loss w.r.t. F_i' (∂l/∂F_i = Σ_j X_j * ∂l/∂S_i)",
    statement="""∂l/∂F_i = Σ_{j=1}^{3} X_j * ∂l/∂S_i: the planes X_j correlated with ∂l/∂S_i and summed — an f×f
    matrix, whereas F_i is f×f×3.""",
    convention=CONV,
    routes=("explicit", "fd", "torch"),
    expected="holds-corrected",
    kind="erratum",
    correction="""∂l/∂F_i = {X_1 * ∂l/∂S_i, X_2 * ∂l/∂S_i, X_3 * ∂l/∂S_i}: plane j of the gradient is X_j * ∂l/∂S_i
    (stacked, not summed).""",
)
def _(ev):
    for X, F, b, W, b2, y in _net_cases():
        g = _dl_dS(X, F, b, W, b2, y).reshape(F.shape[0], -1)
        for i in range(F.shape[0]):
            Gi = g[i].reshape(X.shape[1] - F.shape[2] + 1, X.shape[2] - F.shape[3] + 1)
            planes = [_conv(X[j : j + 1], Gi[None]) for j in range(X.shape[0])]
            true = (g[i] @ _M_im_note(X, F.shape[2])).reshape(F.shape[1:])
            ev.both("explicit", sum(planes), np.stack(planes), true, kinds=("package", "formula"))
            ev.corrected("fd", np.stack(planes), _fd_filter_grad(i, X, F, b, W, b2, y), kinds=("package", "fd"))
            ev.corrected("torch", np.stack(planes), lambda: _torch_net_grad("F", X, F, b, W, b2, y)[i], kinds=("package", "torch"))


# ---------------------------------------------------------------------------
# two convolutional layers: M_F^filter and the rot180 form
# ---------------------------------------------------------------------------
def _two_layer(seed, C=3, h=7, w=6, f=3):
    """X^(1) (C, h, w), second-layer filters F_2i (3, C, f, f), upstream ∂l/∂vec(S_i^(2)) as G (3, h', w')."""
    r = rng(seed)
    X1 = r.standard_normal((C, h, w))
    F2 = r.standard_normal((3, C, f, f))
    G = r.standard_normal((3, h - f + 1, w - f + 1))
    return X1, F2, G


TWO_LAYER_SIZES = ((3, 7, 6, 3), (3, 5, 8, 2))


def _two_layer_cases():
    """(X1, F2, G) for each of :data:`TWO_LAYER_SIZES`, seeded by its position."""
    for seed, (C, h, w, f) in enumerate(TWO_LAYER_SIZES):
        yield _two_layer(seed, C, h, w, f)


def _fd_two_layer_grad(X1, F2, G):
    """∂l/∂X^(1) for l = ⟨G, X^(1) * F_2⟩ by central differences of the package's conv2d forward."""
    return fd_gradient(lambda X_: float(np.sum(G * conv2d(X_, F2))), X1)


def _torch_two_layer_grad(X1, F2, G):
    def loss(Xt):
        import torch

        return (torch.nn.functional.conv2d(Xt[None], torch.as_tensor(F2))[0] * torch.as_tensor(G)).sum()

    return torch_grad(loss, X1)


@claim(
    "dd2424.two-layer-fanout",
    location="slides 'How do we back-propagate the gradient to node X^(1)?'",
    statement="""X^(1) feeds S_1^(2), S_2^(2), S_3^(2), so ∂l/∂vec(X^(1)) = Σ_i ∂l/∂vec(S_i^(2)) ∂vec(S_i^(2))/∂vec(X^(1)).""",
    convention=CONV,
    routes=("explicit", "fd", "torch"),
    expected="holds",
)
def _(ev):
    for X1, F2, G in _two_layer_cases():
        jacs = [_M_filter_note(F2[i], X1.shape) for i in range(3)]  # ∂vec(S_i)/∂vec(X): the slides' M_F^filter
        fanout = sum(G[i].ravel() @ jacs[i] for i in range(3))
        ev.written("fd", fanout, _fd_two_layer_grad(X1, F2, G).ravel(), kinds=("formula", "fd"))
        ev.written("explicit", fanout, conv2d_input_jacobian(F2, X1.shape).T @ G.ravel(), kinds=("formula", "package"))
        ev.written("torch", fanout, lambda: _torch_two_layer_grad(X1, F2, G).ravel(), kinds=("formula", "torch"))


@claim(
    "dd2424.filter-matrix-size",
    location="slides 'Jacobian of vec(S_i^(2)) w.r.t. vec(X^(1))' (two sizes of M_F2i^filter)",
    statement="""For X^(1) of size w×h×3 and F_2i of size f×f×3, M_F2i^filter is (w−f+1)(h−f+1) × 3wh; with
    X^(1) the first layer's output, w' = w−f+1, h' = h−f+1, it is (w'−f+1)(h'−f+1) × 3w'h'.""",
    convention=CONV,
    routes=("shape", "explicit"),
    expected="holds",
)
def _(ev):
    for C, h, w, f in ((3, 7, 6, 3), (3, 5, 8, 2), (3, 6, 6, 3)):
        M = _M_filter_note(np.ones((C, f, f)), (C, h, w))
        ev.written("shape", M.shape, ((w - f + 1) * (h - f + 1), 3 * w * h), kinds=("formula", "exact"))
        hp, wp = h - f + 1, w - f + 1
        M2 = _M_filter_note(np.ones((C, f, f)), (C, hp, wp))
        ev.written("shape", M2.shape, ((wp - f + 1) * (hp - f + 1), 3 * wp * hp), kinds=("formula", "exact"))
        ev.written("explicit", (M.shape[0], M2.shape[0]), (_conv(np.ones((C, h, w)), np.ones((C, f, f))).size, _conv(np.ones((C, hp, wp)), np.ones((C, f, f))).size), kinds=("formula", "package"))


_FILTER_ROWS = """
F11 F12 F13 0 0 0 F21 F22 F23 0 0 0 F31 F32 F33 0 0 0
0 F11 F12 F13 0 0 0 F21 F22 F23 0 0 0 F31 F32 F33 0 0 0
0 0 F11 F12 F13 0 0 0 F21 F22 F23 0 0 0 F31 F32 F33 0 0 0
0 0 0 F11 F12 F13 0 0 0 F21 F22 F23 0 0 0 F31 F32 F33 0 0 0
0 0 0 0 0 0 F11 F12 F13 0 0 0 F21 F22 F23 0 0 0 F31 F32 F33
"""


@claim(
    "dd2424.filter-matrix-example",
    location="slides 'Writing convolution as a matrix multiplication' (rows of M_F^filter for S11 … S14, S21)",
    statement="""For the 6×6 image and 3×3 filter, the rows of M_F^filter (16×36) for S11, S12, S13, S14, S21 begin
    (F11 F12 F13 0 0 0 F21 F22 F23 0 0 0 F31 F32 F33 0 0 0 …), shifted one place per step along a row of S and three
    places from S14 to S21 (F11 moves from the column of X14 to that of X21: to the start of the next row of X, six
    places after S11); the rest of each row is zero.""",
    convention=CONV,
    routes=("explicit", "symbolic", "index"),
    expected="holds",
)
def _(ev):
    import sympy

    M = _M_filter(_codes(3, 3)[None], (1, 6, 6))
    ev.written("explicit", M.shape, (16, 36), kinds=("package", "exact"))
    rows = _rows(_FILTER_ROWS)
    for r_, printed in enumerate(rows):
        full = np.zeros(36)
        full[: len(printed)] = printed
        ev.written("explicit", M[r_], full, kinds=("package", "formula"))
    # where F11 sits in the rows S11, S12, S13, S14, S21 (1-based columns) and the steps between them
    f11_columns = [int(np.flatnonzero(M[r_] == 11)[0]) + 1 for r_ in (0, 1, 2, 3, 4)]
    ev.written("index", np.diff(f11_columns), [1, 1, 1, 3], kinds=("package", "formula"))
    X, F, M_sym = _sym_M_filter()
    for r_, row in enumerate(_FILTER_ROWS.strip().splitlines()):
        n = len(row.split())
        ev.written("symbolic", M_sym[r_, :n], _sym_rows(row), kinds=("formula", "sympy"))
        ev.written("symbolic", M_sym[r_, n:], sympy.zeros(1, 36 - n), kinds=("formula", "sympy"))


@claim(
    "dd2424.filter-matrix-product",
    location="slide 'Simple Example' (vec(S) = M_F^filter vec(X))",
    statement="""With row-major vec, vec(S) = M_F^filter vec(X): the convolution is a matrix–vector product with the image.""",
    convention=CONV,
    routes=("explicit", "fd", "torch"),
    expected="holds",
)
def _(ev):
    r = rng(12)
    for C, h, w, f in ((1, 6, 6, 3), (3, 7, 6, 3), (4, 6, 6, 3)):
        X, F = r.standard_normal((C, h, w)), r.standard_normal((C, f, f))
        prod = _M_filter_note(F, X.shape) @ X.ravel()  # the slides' M_F^filter, from its rows
        ev.written("explicit", prod, _conv(X, F).ravel(), kinds=("formula", "package"))
        ev.written("fd", prod, fd_conv_forward(X, F[None]).ravel(), kinds=("formula", "fd"))
        ev.written("torch", prod, lambda: torch_conv2d(X[None], F[None]).ravel(), kinds=("formula", "torch"))


@claim(
    "dd2424.filter-matrix-multiplane",
    location="slide 'Multiple planes: Convolution → Matrix multiplication' (M_F1^filter, 16×144)",
    statement="""For X (6×6×4) and F_1 = {F_11, …, F_14} (3×3×4), vec(S_1) = M_F1^filter vec(X) with
    M_F1^filter = (M_F11^filter M_F12^filter M_F13^filter M_F14^filter), one 16×36 block per plane: 16×144.""",
    convention=CONV,
    routes=("explicit", "fd", "shape"),
    expected="holds",
)
def _(ev):
    r = rng(13)
    for C, h, w, f in ((4, 6, 6, 3), (3, 5, 7, 2)):
        F = r.standard_normal((C, f, f))
        blocks = np.hstack([_M_filter_note(F[j : j + 1], (1, h, w)) for j in range(C)])
        ev.written("explicit", blocks, _M_filter(F, (C, h, w)), kinds=("formula", "package"))
        ev.written("fd", blocks, reference_jacobian("conv2d", "x", route="fd", x=np.zeros((C, h, w)), weight=F[None]), kinds=("formula", "fd"))
    ev.written("shape", (16, 144), _M_filter(np.ones((4, 3, 3)), (4, 6, 6)).shape, kinds=("formula", "package"))


@claim(
    "dd2424.filter-jacobian",
    location="slide 'Back to: Jacobian of vec(S_i^(2)) w.r.t. vec(X^(1))'",
    statement="""Since vec(S_i^(2)) = M_F2i^filter vec(X^(1)), ∂vec(S_i^(2))/∂vec(X^(1)) = M_F2i^filter.""",
    convention=CONV,
    routes=("explicit", "fd", "torch"),
    expected="holds",
)
def _(ev):
    for X1, F2, G in _two_layer_cases():
        for i in range(3):
            M = _M_filter_note(F2[i], X1.shape)
            ev.written("fd", M, fd_jacobian(lambda X_, i=i: _conv(X_, F2[i]), X1), kinds=("formula", "fd"))

            def t_fn(Xt, i=i):
                import torch

                return torch.nn.functional.conv2d(Xt[None], torch.as_tensor(F2[i : i + 1]))[0, 0]

            ev.written("torch", M, lambda: torch_jacobian(t_fn, X1), kinds=("formula", "torch"))
            ev.written("explicit", M @ X1.ravel(), _conv(X1, F2[i]).ravel(), kinds=("formula", "package"))


@claim(
    "dd2424.input-grad-sum",
    location="slide 'Gradient of the loss w.r.t. node vec(X^(1))'",
    statement="""∂l/∂vec(X^(1)) = Σ_{i=1}^{3} ∂l/∂vec(S_i^(2)) M_F2i^filter.""",
    convention=CONV,
    routes=("explicit", "fd", "torch"),
    expected="holds",
)
def _(ev):
    for X1, F2, G in _two_layer_cases():
        total = sum(G[i].ravel() @ _M_filter_note(F2[i], X1.shape) for i in range(3))
        ev.written("explicit", total, reference_vjp("conv2d", G, "x", route="vjp:im2col", x=X1, weight=F2).ravel(), kinds=("formula", "package"))
        ev.written("fd", total, _fd_two_layer_grad(X1, F2, G).ravel(), kinds=("formula", "fd"))
        ev.written("torch", total, lambda: _torch_two_layer_grad(X1, F2, G).ravel(), kinds=("formula", "torch"))


@claim(
    "dd2424.input-grad-reshape",
    location="slide 'Gradient of the loss w.r.t. X^(1)', Option 1",
    statement="""∂l/∂X^(1) (w'×h'×3) is obtained by reshaping the 1×3w'h' row ∂l/∂vec(X^(1)), undoing the slides' vec.""",
    convention=CONV,
    routes=("explicit", "fd", "torch"),
    expected="holds",
)
def _(ev):
    for X1, F2, G in _two_layer_cases():
        row = sum(G[i].ravel() @ _M_filter_note(F2[i], X1.shape) for i in range(3))  # the slides' rows
        C, h, w = X1.shape
        # Option 1: undo the slides' vec (planes stacked, each row by row), entry by entry
        reshaped = np.array([[[row[k * h * w + a * w + c] for c in range(w)] for a in range(h)] for k in range(C)])
        ev.written("explicit", reshaped, reference_vjp("conv2d", G, "x", x=X1, weight=F2), kinds=("formula", "package"))
        ev.written("fd", reshaped, _fd_two_layer_grad(X1, F2, G), kinds=("formula", "fd"))
        ev.written("torch", reshaped, lambda: _torch_two_layer_grad(X1, F2, G), kinds=("formula", "torch"))


_V_FORMULAS = """
g1 F11
g1 F12 + g2 F11
g1 F13 + g2 F12 + g3 F11
g2 F13 + g3 F12 + g4 F11
g3 F13 + g4 F12
g4 F13
g1 F21 + g5 F11
g1 F22 + g2 F21 + g5 F12 + g6 F11
g1 F23 + g2 F22 + g3 F21 + g5 F13 + g6 F12 + g7 F11
g2 F23 + g3 F22 + g4 F21 + g6 F13 + g7 F12 + g8 F11
g3 F23 + g4 F22 + g7 F13 + g8 F12
g4 F23 + g8 F13
g1 F31 + g5 F21 + g9 F11
g1 F32 + g2 F31 + g5 F22 + g6 F21 + g9 F12 + g10 F11
g1 F33 + g2 F32 + g3 F31 + g5 F23 + g6 F22 + g7 F21 + g9 F13 + g10 F12 + g11 F11
"""


@claim(
    "dd2424.v-formulas",
    location="slides 'Turn matrix multiplication to convolution' (v_1 … v_15)",
    statement="""For (v_1 … v_36) = (g_1 … g_16) M_F^filter (6×6 image, 3×3 filter): v_1 = g_1F_11,
    v_2 = g_1F_12 + g_2F_11, …, v_15 = g_1F_33 + g_2F_32 + g_3F_31 + g_5F_23 + g_6F_22 + g_7F_21 + g_9F_13 + g_10F_12 + g_11F_11.""",
    convention=CONV,
    routes=("symbolic", "explicit"),
    expected="holds",
)
def _(ev):
    import sympy

    X, F, M_sym = _sym_M_filter()
    g = sympy.Matrix(1, 16, lambda i, j: sympy.Symbol(f"g{j + 1}"))
    v = g * M_sym
    printed = [_sum_products(line) for line in _V_FORMULAS.strip().splitlines()]
    ev.written("symbolic", sympy.Matrix([v[k] for k in range(15)]), sympy.Matrix(printed), kinds=("formula", "sympy"))
    # numerically: each g_k ↦ a random value, each F_ij ↦ a random value; evaluate both sides
    r = rng(14)
    gv, Fv = r.standard_normal(16), r.standard_normal((3, 3))
    vv = gv @ _M_filter(Fv[None], (1, 6, 6))  # the package's M_F^filter
    subs = {sympy.Symbol(f"g{k + 1}"): gv[k] for k in range(16)}
    subs.update({F[i, j]: Fv[i, j] for i in range(3) for j in range(3)})
    ev.written("explicit", np.array([float(e.xreplace(subs)) for e in printed]), vv[:15], kinds=("formula", "package"))


def _zero_pad(G, p):
    return np.pad(G, ((0, 0), (p, p), (p, p))) if G.ndim == 3 else np.pad(G, p)


@claim(
    "dd2424.rot180-single",
    location="slide 'Matrix multiplication → convolution' (V = G_zero-pad * F^rot180)",
    statement="""With G (4×4) and V (6×6) the row-by-row reshapes of g and v = gᵀ M_F^filter, G_zero-pad the 8×8 matrix
    with G framed by two rows/columns of zeros, and F^rot180 = ((F33 F32 F31); (F23 F22 F21); (F13 F12 F11)):
    V = G_zero-pad * F^rot180.""",
    convention=CONV,
    routes=("explicit", "symbolic", "torch"),
    expected="holds",
)
def _(ev):
    import sympy

    r = rng(15)
    for h, w, f in ((6, 6, 3), (7, 5, 3), (5, 6, 2)):
        F = r.standard_normal((f, f))
        G = r.standard_normal((h - f + 1, w - f + 1))
        V = (G.ravel() @ _M_filter_note(F[None], (1, h, w))).reshape(h, w)
        Gz = _zero_pad(G, f - 1)
        rot = np.rot90(F, 2)
        ev.written("explicit", _conv(Gz[None], rot[None]), V, kinds=("package", "formula"))

        def t_fn(Xt, F=F):
            import torch

            return torch.nn.functional.conv2d(Xt[None, None], torch.as_tensor(F)[None, None])[0, 0]

        ev.written("torch", _conv(Gz[None], rot[None]), lambda: torch_jacobian(t_fn, np.zeros((h, w))).T.dot(G.ravel()).reshape(h, w), kinds=("package", "torch"))
    X, Fs, M_sym = _sym_M_filter()
    printed_rot = _sym_rows("F33 F32 F31\nF23 F22 F21\nF13 F12 F11")
    ev.written("symbolic", sympy.Matrix(np.rot90(np.array(Fs.tolist(), dtype=object), 2).tolist()), printed_rot, kinds=("formula", "sympy"))
    G = sympy.Matrix(4, 4, lambda i, j: sympy.Symbol(f"g{4 * i + j + 1}"))
    Gz = sympy.zeros(8, 8)
    Gz[2:6, 2:6] = G
    ev.written("symbolic", _sym_S(Gz, printed_rot), (G.reshape(1, 16) * M_sym).reshape(6, 6), kinds=("formula", "sympy"))


@claim(
    "dd2424.rot180-multiplane",
    location="slide 'Multiple planes: Matrix multiplication → Convolution'",
    statement="""For X (6×6×4), F = {F_1, …, F_4} (3×3×4), S = X * F (4×4) and vᵀ = gᵀ M_F^filter (16×144):
    V = {G_zero-pad * F_1^rot180, …, G_zero-pad * F_4^rot180}, one plane per plane of F.""",
    convention=CONV,
    routes=("explicit", "fd", "torch"),
    expected="holds",
)
def _(ev):
    r = rng(16)
    for C, h, w, f in ((4, 6, 6, 3), (3, 5, 7, 2)):
        F = r.standard_normal((C, f, f))
        G = r.standard_normal((h - f + 1, w - f + 1))
        V = (G.ravel() @ _M_filter_note(F, (C, h, w))).reshape(C, h, w)
        Gz = _zero_pad(G, f - 1)
        planes = np.stack([_conv(Gz[None], np.rot90(F[j], 2)[None]) for j in range(C)])
        ev.written("explicit", planes, V, kinds=("formula", "package"))
        ev.written("fd", planes, _fd_two_layer_grad(np.zeros((C, h, w)), F[None], G[None]), kinds=("formula", "fd"))
        ev.written("torch", planes, lambda: _torch_two_layer_grad(np.zeros((C, h, w)), F[None], G[None]), kinds=("formula", "torch"))


@claim(
    "dd2424.input-grad-rot180",
    location="slide 'Back to Gradient of the loss w.r.t. node X^(1)' (last slide)",
    statement="""∂l/∂X^(1) = Σ_{i=1}^{3} {G_i^zero-pad * F_2i,1^rot180, G_i^zero-pad * F_2i,2^rot180, G_i^zero-pad * F_2i,3^rot180},
    G_i the matrix of ∂l/∂vec(S_i^(2)) and F_2i,j plane j of filter F_2i.""",
    convention=CONV,
    routes=("explicit", "fd", "torch"),
    expected="holds",
)
def _(ev):
    for X1, F2, G in _two_layer_cases():
        C, f = X1.shape[0], F2.shape[2]
        total = sum(
            np.stack([_conv(_zero_pad(G[i], f - 1)[None], np.rot90(F2[i, j], 2)[None]) for j in range(C)]) for i in range(3)
        )
        ev.written("explicit", total, (sum(G[i].ravel() @ _M_filter_note(F2[i], X1.shape) for i in range(3))).reshape(X1.shape), kinds=("package", "formula"))
        ev.written("fd", total, _fd_two_layer_grad(X1, F2, G), kinds=("package", "fd"))
        ev.written("torch", total, lambda: _torch_two_layer_grad(X1, F2, G), kinds=("package", "torch"))


@claim(
    "dd2424.bias-and-W-grads-gap",
    location="slides 'Gradient Computations for one Convolutional layer' (only ∂l/∂F_i is derived)",
    statement="""The slides derive the gradient w.r.t. the filters F_i but not w.r.t. the filter biases b_i or the
    fully-connected W and b (the biases are 'omitted for clarity').""",
    convention=CONV,
    routes=("fd", "explicit", "torch"),
    expected="completes",
    kind="gap",
    correction="""∂l/∂b_i = Σ over the entries of ∂l/∂S_i (= ∂l/∂vec(S_i) 1); ∂l/∂W = (∂l/∂s)ᵀ vec(H)ᵀ (C × t·n_F) and
    ∂l/∂b = (∂l/∂s)ᵀ = p − y.""",
)
def _(ev):
    for X, F, b, W, b2, y in _net_cases():
        v = _net(X, F, b, W, b2, y)
        g = _dl_dS(X, F, b, W, b2, y).reshape(F.shape[0], -1)
        db = g.sum(axis=1)
        dW = np.outer(v["p"] - y, v["H"].ravel())
        ev.corrected("fd", db, _fd_net_grad("b", X, F, b, W, b2, y), kinds=("formula", "fd"))
        ev.corrected("fd", dW, _fd_net_grad("W", X, F, b, W, b2, y), kinds=("formula", "fd"))
        ev.corrected("fd", v["p"] - y, _fd_net_grad("b2", X, F, b, W, b2, y), kinds=("formula", "fd"))
        # the package's VJPs from the loss down: softmax–cross-entropy, the FC layer, ReLU, the conv bias
        ds = reference_vjp("softmax_cross_entropy", np.array(1.0), "s", s=v["s"], y=y)
        ev.corrected("explicit", dW, reference_vjp("linear_wvec_b", ds, "weight", h=v["H"].ravel(), weight=W, bias=b2), kinds=("formula", "package"))
        ev.corrected("explicit", v["p"] - y, reference_vjp("linear_wvec_b", ds, "bias", h=v["H"].ravel(), weight=W, bias=b2), kinds=("formula", "package"))
        dS = reference_vjp("relu", reference_vjp("linear_wvec_b", ds, "h", h=v["H"].ravel(), weight=W, bias=b2), "z", z=v["S"].ravel())
        ev.corrected("explicit", db, reference_vjp("conv2d", dS.reshape(v["S"].shape), "bias", x=X, weight=F, bias=b), kinds=("formula", "package"))
        ev.corrected("torch", db, lambda: _torch_net_grad("b", X, F, b, W, b2, y), kinds=("formula", "torch"))
        ev.corrected("torch", dW, lambda: _torch_net_grad("W", X, F, b, W, b2, y), kinds=("formula", "torch"))


@claim(
    "dd2424.filter-depth",
    location="slide 'Convolution Layer' ('Filter & input image always have the same depth')",
    statement="""The filter's depth must equal the image's: each output is the dot product of F with an f×f×3 chunk of X,
    so a 5×5×3 filter cannot be applied to a 32×32×4 image.""",
    convention=CONV,
    routes=("explicit", "formula", "torch"),
    expected="holds",
)
def _(ev):
    def rejects(fn):
        try:
            fn()
        except (ValueError, RuntimeError):
            return True
        return False

    X = np.zeros((4, 8, 8))
    F = np.zeros((1, 3, 5, 5))
    ev.written("explicit", rejects(lambda: conv2d(X, F)), True, kinds=("package", "exact"))
    ev.written("explicit", _conv(np.zeros((3, 8, 8)), np.zeros((3, 5, 5))).shape, (4, 4), kinds=("package", "exact"))
    # the slides' dot product of F with an f×f×d chunk of X is undefined when the depths differ
    ev.written("formula", rejects(lambda: np.dot(F[0].ravel(), X[:, :5, :5].ravel())), True, kinds=("formula", "exact"))

    def t_fn():
        import torch

        return rejects(lambda: torch.nn.functional.conv2d(torch.zeros(1, 4, 8, 8), torch.zeros(1, 3, 5, 5)))

    ev.written("torch", t_fn, True, kinds=("torch", "exact"))


@claim(
    "dd2424.preset-order",
    location="slides 'Simple Example' (vec(F) = (F11, F12, F13, F21, …)ᵀ) and 'Multiple planes' (planes stacked)",
    statement="""The slides' vec walks a plane row by row — F11, F12, F13, F21, F22, F23, F31, F32, F33 — and stacks the
    planes (plane 1 first). The package's preset ``dd2424`` orders (C, H, W) arrays this way.""",
    convention=CONV,
    routes=("index", "loops"),
    expected="holds",
)
def _(ev):
    from ._tools import coded_tensor, preset_order

    F = coded_tensor(2, 3, 3)
    listed = [11, 12, 13, 21, 22, 23, 31, 32, 33]
    ev.written("index", [100 + v for v in listed] + [200 + v for v in listed], preset_order("dd2424", F), kinds=("exact", "package"))
    loops = [int(F[k, i, j]) for k in range(2) for i in range(3) for j in range(3)]
    ev.written("loops", loops, preset_order("dd2424", F), kinds=("formula", "package"))


@claim(
    "dd2424.two-layer-network-gradients",
    location="slides 'Two convolutional layers' (X → S⁽¹⁾ → X⁽¹⁾ → S⁽²⁾ → H → s → p → l), back-propagated to F⁽¹⁾ and X",
    statement="""Back-propagating through the two-layer network with the slides' own pieces — (p − y)ᵀ, W, the ReLU masks
    diag(Ind(vec(S) > 0)), the fan-out sum Σ_i ∂l/∂vec(S_i⁽²⁾) M_{F_2i}^filter into X⁽¹⁾, then M_X^im for F⁽¹⁾ and
    M_F^filter for X — gives the gradients of l w.r.t. the first layer's filters and the image.""",
    convention=CONV,
    routes=("explicit", "vjp", "fd"),
    expected="holds",
)
def _(ev):
    from .. import DD2424TwoConvNet

    for seed in (0, 1):
        net = DD2424TwoConvNet.sample(seed, hw=(7, 6), f=2, n1=2, n2=3, classes=3)
        v, f = net.values, net.forward()
        p = _softmax(f["s"])
        dS2 = ((p - v["y"]) @ v["W"]) * (f["S2"].ravel() > 0)  # ∂l/∂vec(S⁽²⁾), the slides' row
        t2 = f["S2"][0].size
        dX1 = sum(dS2[i * t2 : (i + 1) * t2] @ _M_filter_note(v["F2"][i], f["X1"].shape) for i in range(v["F2"].shape[0]))
        dS1 = dX1 * (f["S1"].ravel() > 0)
        t1 = f["S1"][0].size
        k = v["F1"].shape[-1]
        dF1 = np.stack([(dS1[i * t1 : (i + 1) * t1] @ _M_im_note(v["X"], k)).reshape(v["F1"].shape[1:]) for i in range(v["F1"].shape[0])])
        dX = sum(dS1[i * t1 : (i + 1) * t1] @ _M_filter_note(v["F1"][i], v["X"].shape) for i in range(v["F1"].shape[0])).reshape(v["X"].shape)
        ex = net.explicit_gradients()  # the package's chained sparse Jacobians (with its fan-out link)
        ev.written("explicit", np.concatenate([dF1.ravel(), dX.ravel()]), np.concatenate([ex["F1"].ravel(), ex["X"].ravel()]), kinds=("formula", "package"))
        # the same chains applied backwards (their fan-out link accumulates the branches' VJPs)
        chains = net.explicit_chains()
        by_vjp = np.concatenate([chains["F1"].vjp(np.ones(1)), chains["X"].vjp(np.ones(1))])
        ev.written("vjp", np.concatenate([dF1.ravel(), dX.ravel()]), by_vjp, kinds=("formula", "package"))
        fd = net.finite_difference_gradients(["F1", "X"])
        ev.written("fd", np.concatenate([dF1.ravel(), dX.ravel()]), np.concatenate([fd["F1"].ravel(), fd["X"].ravel()]), kinds=("formula", "fd"), tol=1e-6)


@claim(
    "dd2424.label-one-hot",
    location="slides 'How do we produce final probs…' (y is the one-hot ground-truth label, l = −log(yᵀp))",
    statement="""The loss l = −log(yᵀp) is the cross-entropy of a label y that is a one-hot (more generally a probability)
    vector: yᵀ1 = 1 and y ≥ 0. A y whose entries do not sum to 1 (0.5 e_k, 1.5 e_k) is not such a label.""",
    convention=CONV,
    routes=("explicit", "formula"),
    expected="holds",
)
def _(ev):
    def refused(y):
        try:
            reference_vjp("softmax_cross_entropy", np.array(1.0), "s", s=np.zeros(3), y=y)
        except ValueError:
            return True
        return False

    candidates = [np.eye(3)[1], 0.5 * np.eye(3)[1], 1.5 * np.eye(3)[1], np.array([0.2, 0.3, 0.5]), np.array([-0.5, 1.0, 0.5])]
    is_label = [bool((y >= 0).all() and abs(y.sum() - 1.0) < 1e-12) for y in candidates]  # the slides' definition
    ev.written("formula", is_label, [True, False, False, True, False], kinds=("formula", "exact"))
    ev.written("explicit", [not x for x in is_label], [refused(y) for y in candidates], kinds=("formula", "package"))


@claim(
    "dd2424.loss-and-regulariser",
    location="slide on training (cross-entropy over a mini-batch plus an L2 penalty, minimised by mini-batch gradient descent)",
    statement="""Training minimises the mini-batch cross-entropy plus an L2 penalty on the parameters, but the slides give
    the gradient of one example's loss only — not of the mini-batch mean, nor of the penalty.""",
    convention=CONV,
    routes=("explicit", "fd"),
    expected="completes",
    kind="gap",
    correction="""For J = (1/|B|) Σ_{x∈B} l(x) + λ Σ_i ‖F_i‖², ∂J/∂F_i = (1/|B|) Σ_x ∂l(x)/∂F_i + 2λ F_i (biases usually
    not penalised).""",
)
def _(ev):
    ev.gap("no gradient of the mini-batch mean or of the penalty")
    lam = 0.03
    _, F, b, W, b2, _ = _net_params(5)
    r = rng(6)
    batch = [(r.standard_normal(F.shape[1:2] + (6, 5)), np.eye(4)[k]) for k in (0, 2, 3)]

    def J(F_):
        return np.mean([_net(X, F_, b, W, b2, y)["loss"] for X, y in batch]) + lam * float(np.sum(F_ * F_))

    # the slides' per-example chain: ∂l/∂vec(S_i) M_X^im for each filter, averaged, plus the penalty's 2λF
    per_example = []
    for X, y in batch:
        g = _dl_dS(X, F, b, W, b2, y)
        t = g.size // F.shape[0]
        per_example.append(np.stack([(g[i * t : (i + 1) * t] @ _M_im_note(X, F.shape[2])).reshape(F.shape[1:]) for i in range(F.shape[0])]))
    dJ = np.mean(per_example, axis=0) + 2 * lam * F
    # the package's VJPs per example (softmax–CE, the FC layer, ReLU, the convolution's weight), averaged
    pkg = []
    for X, y in batch:
        v = _net(X, F, b, W, b2, y)
        ds = reference_vjp("softmax_cross_entropy", np.array(1.0), "s", s=v["s"], y=y)
        dH = reference_vjp("linear_wvec_b", ds, "h", h=v["H"].ravel(), weight=W, bias=b2)
        dS = reference_vjp("relu", dH, "z", z=v["S"].ravel()).reshape(v["S"].shape)
        pkg.append(reference_vjp("conv2d", dS, "weight", x=X, weight=F, bias=b))
    ev.corrected("explicit", dJ, np.mean(pkg, axis=0) + 2 * lam * F, kinds=("formula", "package"))
    ev.corrected("fd", dJ, fd_gradient(J, F), kinds=("formula", "fd"))


def _corr2(A, K):
    """Valid stride-1 correlation of one plane A with one plane K, by index sums (the slides' S_lm)."""
    kh, kw = K.shape
    out = np.zeros((A.shape[0] - kh + 1, A.shape[1] - kw + 1))
    for i in range(kh):
        for j in range(kw):
            out += K[i, j] * A[i : i + out.shape[0], j : j + out.shape[1]]
    return out


@claim(
    "dd2424.scope-stride1-nopad",
    location="all convolution slides (S_lm = Σ_k Σ_ij X_{k,i+l−1,j+m−1} F_kij, size (w−f+1)×(h−f+1))",
    statement="""Only stride 1 without zero padding is derived: the response-map size, M_X^im, M_F^filter and both
    backward convolutions are stated for that case only.""",
    convention=CONV,
    routes=("shape", "im-rows", "explicit", "fd", "torch"),
    expected="completes",
    kind="gap",
    correction="""With stride s and padding P, run everything on the zero-padded X_P: the map is ⌊(h + 2P − f)/s⌋ + 1 by
    ⌊(w + 2P − f)/s⌋ + 1; M_X^im keeps the rows of the positions (l·s, m·s); ∂l/∂X_j = Σ_i (G_i dilated by s,
    zero-padded f−1 on the near sides and f−1+r on the far sides, r = (h + 2P − f) mod s per axis) * F_ij^rot180,
    cropped by P on every side; ∂l/∂F_ij = X_P,j * (G_i dilated by s), cut to f × f.""",
)
def _(ev):
    ev.gap("the slides treat stride 1 without padding only")
    # (C, rows, cols, f, s, P, filters): remainder (rows + 2P − f) mod s in rows only, in columns only, with and without P
    for seed, (C, h, w, f, s, P, nF) in enumerate(((3, 8, 7, 3, 2, 0, 2), (3, 7, 8, 3, 2, 0, 2), (2, 8, 7, 3, 2, 1, 2), (2, 7, 8, 3, 2, 1, 1), (2, 10, 9, 3, 3, 0, 2))):
        r = rng(200 + seed)
        X, F = r.standard_normal((C, h, w)), r.standard_normal((nF, C, f, f))
        oh, ow = (h + 2 * P - f) // s + 1, (w + 2 * P - f) // s + 1
        G = r.standard_normal((nF, oh, ow))
        XP = np.pad(X, ((0, 0), (P, P), (P, P)))
        ev.corrected("shape", (oh, ow), conv2d(X, F, stride=s, padding=P).shape[1:], kinds=("formula", "package"))
        ev.corrected("shape", (oh, ow), (len(range(0, h + 2 * P - f + 1, s)), len(range(0, w + 2 * P - f + 1, s))), kinds=("formula", "exact"))
        # M_X^im for one filter: the slides' rows kept at the strided positions
        M = np.array([XP[:, l * s : l * s + f, m * s : m * s + f].ravel() for l in range(oh) for m in range(ow)])
        ev.corrected("im-rows", M, conv2d_weight_jacobian(X, (1, C, f, f), stride=s, padding=P).toarray(), kinds=("formula", "package"))
        # the two backward convolutions, generalised
        rh, rw = (h + 2 * P - f) % s, (w + 2 * P - f) % s
        dX = np.zeros((C, h + 2 * P, w + 2 * P))
        dF = np.zeros(F.shape)
        for i in range(nF):
            Gd = np.zeros(((oh - 1) * s + 1, (ow - 1) * s + 1))
            Gd[::s, ::s] = G[i]
            Gp = np.pad(Gd, ((f - 1, f - 1 + rh), (f - 1, f - 1 + rw)))
            for j in range(C):
                dX[j] += _corr2(Gp, np.rot90(F[i, j], 2))
                dF[i, j] = _corr2(XP[j], Gd)[:f, :f]
        dX = dX[:, P : P + h, P : P + w]
        loss_X = lambda X_: float(np.sum(G * conv2d(X_, F, stride=s, padding=P)))
        loss_F = lambda F_: float(np.sum(G * conv2d(X, F_, stride=s, padding=P)))
        ev.corrected("fd", dX, fd_gradient(loss_X, X), kinds=("formula", "fd"))
        ev.corrected("fd", dF, fd_gradient(loss_F, F), kinds=("formula", "fd"))
        ev.corrected("explicit", dX, reference_vjp("conv2d", G, "x", x=X, weight=F, stride=s, padding=P), kinds=("formula", "package"))

        def t_loss(Xt, Ft, G=G, s=s, P=P):
            import torch

            return (torch.nn.functional.conv2d(Xt[None], Ft, stride=s, padding=P)[0] * torch.as_tensor(G)).sum()

        ev.corrected("torch", dX, lambda X=X, F=F, t_loss=t_loss: torch_grad(lambda Xt: t_loss(Xt, __import__("torch").as_tensor(F)), X), kinds=("formula", "torch"))
        ev.corrected("torch", dF, lambda X=X, F=F, t_loss=t_loss: torch_grad(lambda Ft: t_loss(__import__("torch").as_tensor(X), Ft), F), kinds=("formula", "torch"))
