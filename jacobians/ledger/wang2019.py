"""Claims of Shusen Wang, "BackPropagation for Fully-Connected and Convolutional Neural Networks" (2019) — key ``wang2019``.

Convention of the note: batch-major X (b × d_in), W (d_out × d_in), Z = XWᵀ;
a gradient ∂Q/∂M has the shape of M; derivatives of a column vector by a
column vector are laid out d_x × d_z (denominator layout). The convolution
part uses a d1 × d2 × d3 tensor T (row, column, channel), a k1 × k2 × d3
kernel K, valid correlation with stride 1, 1-based indices. The order of
vec / reshape / unfold is never stated; the worked example (6.2) fixes it to
column-major for both the patches and the entries within a patch, which is
the convention used here (arrays are kept in the note's (d1, d2, d3) order).

Routes: the note's formulas implemented literally, finite differences,
the package's im2col / col2im / conv2d, and torch when installed.
"""
from __future__ import annotations

import numpy as np

from .. import col2im, conv2d, im2col, linear_xwt, relu
from ..claims import claim, reference_jacobian, reference_vjp
from ._tools import fd_gradient, fd_gradient_wrt, fd_jacobian, rng, torch_grad

FC = "X (b × d_in), W (d_out × d_in), Z = XWᵀ; ∂Q/∂M shaped like M; vector derivatives d_x × d_z"
CONV = "T (d1 × d2 × d3), K (k1 × k2 × d3); valid correlation, stride 1; 1-based; column-major patch and entry order"


def vecF(a):
    return np.asarray(a).reshape(-1, order="F")


# ---------------------------------------------------------------------------
# §1–2 one FC layer
# ---------------------------------------------------------------------------
_FC_SHAPES = ((4, 5, 3), (3, 2, 6), (1, 4, 4))  # (b, d_in, d_out), d_in ≠ d_out in the first two


def _fc(seed, b, d_in, d_out):
    r = rng(50 + seed)
    X, W, G = r.standard_normal((b, d_in)), r.standard_normal((d_out, d_in)), r.standard_normal((b, d_out))
    return X, W, G  # G = ∂Q/∂X' for Q = ⟨G, ReLU(XWᵀ)⟩


def _fc_cases(shapes=_FC_SHAPES):
    """(b, d_in, d_out, X, W, G) for each shape, the data seeded by the shape's position (see :func:`_fc`)."""
    for s, (b, d_in, d_out) in enumerate(shapes):
        yield (b, d_in, d_out, *_fc(s, b, d_in, d_out))


def _Q(G):
    return lambda X, W: float(np.sum(G * np.maximum(X @ W.T, 0.0)))


def _fd_grad_Q(wrt, X, W, G):
    """∂Q/∂X or ∂Q/∂W (``wrt`` = "X" or "W") by central differences of Q = ⟨G, ReLU(XWᵀ)⟩."""
    return fd_gradient_wrt(_Q(G), wrt, X=X, W=W)


def _torch_fc_grads(X, W, G):
    import torch

    Xt, Wt = torch.tensor(X, requires_grad=True), torch.tensor(W, requires_grad=True)
    (torch.as_tensor(G) * torch.relu(torch.nn.functional.linear(Xt, Wt))).sum().backward()
    return Xt.grad.numpy(), Wt.grad.numpy()


def _explicit_fc(X, W, G):
    """(∂Q/∂Z, ∂Q/∂X, ∂Q/∂W) as rows of chained explicit sparse Jacobians (jacobians.ops.linear / activation)."""
    from .. import relu_jacobian
    from ..claims import reference_jacobian

    row = G.ravel() @ relu_jacobian(X @ W.T)  # ∂Q/∂vec(Z), C-order vec
    return (
        row.reshape(G.shape),
        (row @ reference_jacobian("linear_xwt", "x", x=X, weight=W)).reshape(X.shape),
        (row @ reference_jacobian("linear_xwt", "weight", x=X, weight=W)).reshape(W.shape),
    )


def _dQdZ(X, W, G):
    """(2.1): A ∘ ∂Q/∂X' with a_ij = [z_ij > 0]."""
    return ((X @ W.T) > 0).astype(float) * G


@claim(
    "wang2019.fc-forward",
    location="§1, Z = XWᵀ ∈ R^{b×d_out}, X' = σ(Z)",
    statement="""An FC layer maps a batch X (b × d_in) with W (d_out × d_in) to Z = XWᵀ (b × d_out) and X' = σ(Z) of the same
    shape — PyTorch's linear layer without bias.""",
    convention=FC,
    routes=("shape", "formula", "package", "torch"),
    expected="holds",
)
def _(ev):
    for b, d_in, d_out, X, W, G in _fc_cases():
        Z = X @ W.T
        ev.written("shape", Z.shape, (b, d_out), kinds=("formula", "exact"))
        ev.written("formula", Z, np.einsum("bi,oi->bo", X, W), kinds=("formula", "formula"))
        ev.written("package", Z, linear_xwt(X, W), kinds=("formula", "package"))

        def t_fn(X=X, W=W):
            import torch

            return torch.nn.functional.linear(torch.as_tensor(X), torch.as_tensor(W)).numpy()

        ev.written("torch", Z, t_fn, kinds=("formula", "torch"))


@claim(
    "wang2019.relu-def",
    location="§1 display and footnote 1",
    statement="""ReLU keeps z_ij when z_ij > 0 and gives 0 otherwise, i.e. [ReLU(Z)]_ij = max{z_ij, 0}.""",
    convention=FC,
    routes=("formula", "package", "exact", "torch"),
    expected="holds",
)
def _(ev):
    z = np.array([-2.5, -0.0, 0.0, 1e-300, 3.0])
    ev.written("exact", np.where(z > 0, z, 0.0), [0.0, 0.0, 0.0, 1e-300, 3.0], kinds=("formula", "exact"))
    Z = rng(51).standard_normal((5, 7))
    cases = np.where(Z > 0, Z, 0.0)
    ev.written("formula", cases, np.maximum(Z, 0.0), kinds=("formula", "formula"))
    ev.written("package", cases, relu(Z), kinds=("formula", "package"))

    def t_fn():
        import torch

        return torch.relu(torch.as_tensor(Z)).numpy()

    ev.written("torch", cases, t_fn, kinds=("formula", "torch"))


@claim(
    "wang2019.roadmap-typo",
    location="§2, the sentence announcing the order of computation ('∂Q/∂X and then ∂Q/∂X and ∂Q/∂W')",
    statement="""The text announces that ∂Q/∂X is computed first (then ∂Q/∂X and ∂Q/∂W); the first quantity actually computed,
    by (2.1), has the shape b × d_out of Z and is the gradient w.r.t. Z.""",
    convention=FC,
    routes=("shape", "fd"),
    expected="holds-corrected",
    kind="slip",
    correction="Compute ∂Q/∂Z first (by (2.1)), then ∂Q/∂X (2.2) and ∂Q/∂W (2.3).",
)
def _(ev):
    for b, d_in, d_out, X, W, G in _fc_cases(_FC_SHAPES[:2]):
        first = _dQdZ(X, W, G)
        ev.both("shape", X.shape, (X @ W.T).shape, first.shape, kinds=("formula", "exact"))
        ev.corrected("fd", first, fd_gradient(lambda Z: float(np.sum(G * np.maximum(Z, 0.0))), X @ W.T), kinds=("formula", "fd"))


@claim(
    "wang2019.eq2-1-relu-backward",
    location="§2 'From X′ to Z', eq. (2.1)",
    statement="""∂Q/∂Z = A ∘ ∂Q/∂X′ (Hadamard product) with a_ij = 1 if z_ij > 0 and 0 otherwise; shape b × d_out.""",
    convention=FC,
    routes=("fd", "torch", "explicit"),
    expected="holds",
)
def _(ev):
    for b, d_in, d_out, X, W, G in _fc_cases():
        Z = X @ W.T
        ev.written("fd", _dQdZ(X, W, G), fd_gradient(lambda Z_: float(np.sum(G * np.maximum(Z_, 0.0))), Z), kinds=("formula", "fd"))

        def t_fn(Z=Z, G=G):
            import torch

            return torch_grad(lambda Zt: (torch.as_tensor(G) * torch.relu(Zt)).sum(), Z)

        ev.written("torch", _dQdZ(X, W, G), t_fn, kinds=("formula", "torch"))
        ev.written("explicit", _dQdZ(X, W, G), _explicit_fc(X, W, G)[0], kinds=("formula", "package"))


@claim(
    "wang2019.row-chain-rule-sum",
    location="§2 'From Z to X', the chain rule for row x_i (sum printed as Σ_{i=1}^{b} over a summand indexed by j)",
    statement="""∂Q/∂x_iᵀ = Σ (∂z_jᵀ/∂x_iᵀ)(∂Q/∂z_jᵀ), only the j = i term surviving because row j of Z depends on row j of X
    only. The sum is printed over i — the row being differentiated — so, read literally, it sums out i and leaves j free,
    and its value no longer depends on the row i on the left.""",
    convention=FC,
    routes=("structure", "fd", "fd:free-index"),
    expected="holds-corrected",
    kind="slip",
    correction="""∂Q/∂x_iᵀ = Σ_{j=1}^{b} (∂z_jᵀ/∂x_iᵀ)(∂Q/∂z_jᵀ) = (∂z_iᵀ/∂x_iᵀ)(∂Q/∂z_iᵀ), the terms j ≠ i vanishing.""",
)
def _(ev):
    for b, d_in, d_out, X, W, G in _fc_cases(_FC_SHAPES[:2]):
        J = fd_jacobian(lambda X_: X_ @ W.T, X).reshape(b, d_out, b, d_in)  # ∂z_{j,:}/∂x_{i,:}
        off = np.array([[np.abs(J[j, :, i, :]).max() if i != j else 0.0 for i in range(b)] for j in range(b)])
        ev.corrected("structure", np.rint(off * 1e6) / 1e6, np.zeros((b, b)), kinds=("formula", "exact"))
        dQdZ = _dQdZ(X, W, G)
        truth = _fd_grad_Q("X", X, W, G)
        # literal: the sum runs over i (shadowing the row on the left) and leaves j free. For each left row r and
        # every value of the free j, the printed sum is Σ_i (∂z_jᵀ/∂x_iᵀ)(∂Q/∂z_jᵀ) — by value the gradient of row j,
        # which is the left side ∂Q/∂x_rᵀ only when the free j happens to be r
        printed = np.stack([[sum(J[j, :, i, :].T @ dQdZ[j] for i in range(b)) for j in range(b)] for r in range(b)])
        ev.written("fd:free-index", printed, np.stack([truth for r in range(b)]), kinds=("formula", "fd"))
        ev.written("fd", printed, np.stack([[truth[r]] * b for r in range(b)]), kinds=("formula", "fd"))
        fixed = np.stack([sum(J[j, :, r, :].T @ dQdZ[j] for j in range(b)) for r in range(b)])
        ev.corrected("fd", fixed, truth, kinds=("formula", "fd"))


@claim(
    "wang2019.row-jacobian-WT",
    location="§2, z_iᵀ = W x_iᵀ ⇒ ∂z_iᵀ/∂x_iᵀ = Wᵀ and ∂Q/∂x_iᵀ = Wᵀ ∂Q/∂z_iᵀ",
    statement="""Since z_iᵀ = W x_iᵀ, the (d_in × d_out, denominator-layout) derivative ∂z_iᵀ/∂x_iᵀ is Wᵀ, and
    ∂Q/∂x_iᵀ = Wᵀ ∂Q/∂z_iᵀ.""",
    convention=FC,
    routes=("fd", "torch", "explicit"),
    expected="holds",
)
def _(ev):
    for b, d_in, d_out, X, W, G in _fc_cases():
        ev.written("fd", W.T, fd_jacobian(lambda x: W @ x, X[0]).T, kinds=("formula", "fd"))
        dQdZ = _dQdZ(X, W, G)
        rows = np.stack([W.T @ dQdZ[i] for i in range(b)])
        ev.written("fd", rows, _fd_grad_Q("X", X, W, G), kinds=("formula", "fd"))
        ev.written("torch", rows, lambda X=X, W=W, G=G: _torch_fc_grads(X, W, G)[0], kinds=("formula", "torch"))
        ev.written("explicit", rows, _explicit_fc(X, W, G)[1], kinds=("formula", "package"))


@claim(
    "wang2019.dQdXT-columns",
    location="§2, ∂Q/∂Xᵀ = [∂Q/∂x_1ᵀ, …, ∂Q/∂x_bᵀ] = Wᵀ (∂Q/∂Z)ᵀ ∈ R^{d_in×b}",
    statement="""Stacking the per-row results as columns, ∂Q/∂Xᵀ = Wᵀ (∂Q/∂Z)ᵀ, a d_in × b matrix.""",
    convention=FC,
    routes=("fd", "shape"),
    expected="holds",
    kind="extraction",
    reading="""The last underbraced factor is printed ∂Q/∂z_inᵀ with size d_out × b: z_in is no object of the derivation,
    and the only d_out × b matrix there is ∂Q/∂Zᵀ = [∂Q/∂z_1:ᵀ, …, ∂Q/∂z_b:ᵀ], written out in the same line — a garbled
    subscript, judged as ∂Q/∂Zᵀ.""",
)
def _(ev):
    for b, d_in, d_out, X, W, G in _fc_cases():
        M = W.T @ _dQdZ(X, W, G).T
        ev.written("shape", M.shape, (d_in, b), kinds=("formula", "exact"))
        ev.written("fd", M, fd_gradient(lambda XT: _Q(G)(XT.T, W), X.T), kinds=("formula", "fd"))


@claim(
    "wang2019.eq2-2-dQdX",
    location="§2, eq. (2.2)",
    statement="""∂Q/∂X = (∂Q/∂Xᵀ)ᵀ = (∂Q/∂Z) W ∈ R^{b×d_in}.""",
    convention=FC,
    routes=("fd", "torch", "explicit"),
    expected="holds",
)
def _(ev):
    for b, d_in, d_out, X, W, G in _fc_cases():
        dX = _dQdZ(X, W, G) @ W
        ev.written("fd", dX, _fd_grad_Q("X", X, W, G), kinds=("formula", "fd"))
        ev.written("torch", dX, lambda X=X, W=W, G=G: _torch_fc_grads(X, W, G)[0], kinds=("formula", "torch"))
        ev.written("explicit", dX, _explicit_fc(X, W, G)[1], kinds=("formula", "package"))


@claim(
    "wang2019.col-chain-rule-sum",
    location="§2 'From Z to W', the chain rule for row w_j (last factor printed ∂Q/∂z_{:i})",
    statement="""∂Q/∂w_jᵀ = Σ_i (∂z_{:i}/∂w_jᵀ)(∂Q/∂z_{:i}) = (∂z_{:j}/∂w_jᵀ)(∂Q/∂z_{:i}) after the sum collapses — the
    surviving term is printed with ∂Q/∂z_{:i} although the sum index i is gone.""",
    convention=FC,
    routes=("fd", "fd:free-index", "torch", "explicit"),
    expected="holds-corrected",
    kind="slip",
    correction="(∂z_{:j}/∂w_jᵀ)(∂Q/∂z_{:j}) = Xᵀ ∂Q/∂z_{:j}.",
)
def _(ev):
    for b, d_in, d_out, X, W, G in _fc_cases(_FC_SHAPES[:2]):
        dQdZ = _dQdZ(X, W, G)
        truth = _fd_grad_Q("W", X, W, G)
        # literal: after the sum collapses the surviving factor keeps the summation index i, now free; for row j and
        # every i the printed term is (∂z_{:j}/∂w_jᵀ)(∂Q/∂z_{:i}) = Xᵀ ∂Q/∂z_{:i} — by value the gradient of row i of W,
        # the left side ∂Q/∂w_jᵀ only when the free i happens to be j
        printed = np.stack([[X.T @ dQdZ[:, i] for i in range(d_out)] for j in range(d_out)])
        ev.written("fd:free-index", printed, np.stack([truth for j in range(d_out)]), kinds=("formula", "fd"))
        ev.written("fd", printed, np.stack([[truth[j]] * d_out for j in range(d_out)]), kinds=("formula", "fd"))
        fixed = np.stack([X.T @ dQdZ[:, j] for j in range(d_out)])
        ev.corrected("fd", fixed, truth, kinds=("formula", "fd"))
        ev.corrected("torch", fixed, lambda X=X, W=W, G=G: _torch_fc_grads(X, W, G)[1], kinds=("formula", "torch"))
        ev.corrected("explicit", fixed, _explicit_fc(X, W, G)[2], kinds=("formula", "package"))


@claim(
    "wang2019.col-jacobian-XT",
    location="§2, z_{:j} = X w_jᵀ ⇒ ∂z_{:j}/∂w_jᵀ = Xᵀ ∈ R^{d_in×b}",
    statement="""Since z_{:j} = X w_jᵀ, the derivative ∂z_{:j}/∂w_jᵀ (d_in × b) is Xᵀ, and ∂Q/∂w_jᵀ = Xᵀ ∂Q/∂z_{:j}.""",
    convention=FC,
    routes=("fd", "shape"),
    expected="holds",
)
def _(ev):
    for b, d_in, d_out, X, W, G in _fc_cases():
        D = fd_jacobian(lambda w: X @ w, W[0]).T
        ev.written("fd", X.T, D, kinds=("formula", "fd"))
        ev.written("shape", D.shape, (d_in, b), kinds=("formula", "exact"))


@claim(
    "wang2019.dQdWT-columns",
    location="§2, ∂Q/∂Wᵀ = Xᵀ ∂Q/∂Z ∈ R^{d_in×d_out}",
    statement="""Stacking the columns, ∂Q/∂Wᵀ = Xᵀ ∂Q/∂Z, a d_in × d_out matrix.""",
    convention=FC,
    routes=("fd", "shape"),
    expected="holds",
    kind="extraction",
    reading="""The underbrace gives ∂Q/∂Z the size 'b × d': the subscript 'out' is lost (the line's result is
    d_in × d_out and Z is b × d_out) — judged as b × d_out.""",
)
def _(ev):
    for b, d_in, d_out, X, W, G in _fc_cases():
        M = X.T @ _dQdZ(X, W, G)
        ev.written("shape", M.shape, (d_in, d_out), kinds=("formula", "exact"))
        ev.written("fd", M, fd_gradient(lambda WT: _Q(G)(X, WT.T), W.T), kinds=("formula", "fd"))


@claim(
    "wang2019.eq2-3-dQdW",
    location="§2, eq. (2.3)",
    statement="""∂Q/∂W = (∂Q/∂Wᵀ)ᵀ = (∂Q/∂Z)ᵀ X ∈ R^{d_out×d_in}.""",
    convention=FC,
    routes=("fd", "torch", "explicit"),
    expected="holds",
)
def _(ev):
    for b, d_in, d_out, X, W, G in _fc_cases():
        dW = _dQdZ(X, W, G).T @ X
        ev.written("fd", dW, _fd_grad_Q("W", X, W, G), kinds=("formula", "fd"))
        ev.written("torch", dW, lambda X=X, W=W, G=G: _torch_fc_grads(X, W, G)[1], kinds=("formula", "torch"))
        ev.written("explicit", dW, _explicit_fc(X, W, G)[2], kinds=("formula", "package"))


# ---------------------------------------------------------------------------
# §3–4 the FC network and backpropagation
# ---------------------------------------------------------------------------
_NET_DIMS = (5, 4, 3, 2)  # d_in of layer 1 … output m


def _fcnet(seed=0, b=4, dims=_NET_DIMS):
    r = rng(60 + seed)
    Ws = [r.standard_normal((dims[l + 1], dims[l])) * 0.8 for l in range(len(dims) - 1)]
    X1 = r.standard_normal((b, dims[0]))
    Y = r.standard_normal((b, dims[-1]))
    return X1, Ws, Y


def _fcnet_forward(X1, Ws):
    xs = [X1]
    for W in Ws:
        xs.append(np.maximum(xs[-1] @ W.T, 0.0))
    return xs


def _fcnet_loss(X1, Ws, Y):
    return 0.5 * float(np.sum((_fcnet_forward(X1, Ws)[-1] - Y) ** 2))


def _fcnet_backprop(X1, Ws, Y):
    """§4: start from ∂Q/∂X^(L+1) and apply (2.1)–(2.3) layer by layer from the top."""
    xs = _fcnet_forward(X1, Ws)
    g = xs[-1] - Y
    grads = [None] * len(Ws)
    for l in range(len(Ws) - 1, -1, -1):
        dZ = ((xs[l] @ Ws[l].T) > 0) * g  # (2.1)
        grads[l] = dZ.T @ xs[l]  # (2.3)
        g = dZ @ Ws[l]  # (2.2)
    return grads


@claim(
    "wang2019.fcnet-shapes",
    location="§3 and footnotes 3–4 (all X^(l) have b rows; MNIST 784 = 28×28 inputs, 10 outputs)",
    statement="""In an L-layer FC network every X^(l) has b rows while the column counts may differ; for MNIST the input has
    784 = 28 × 28 columns and the output 10.""",
    convention=FC,
    routes=("shape", "formula", "package"),
    expected="holds",
)
def _(ev):
    X1, Ws, Y = _fcnet(0, 4, (784, 16, 10))
    xs = _fcnet_forward(X1, Ws)
    ev.written("shape", [x.shape[0] for x in xs], [4] * len(xs), kinds=("formula", "exact"))
    ev.written("shape", (xs[0].shape[1], xs[-1].shape[1]), (784, 10), kinds=("formula", "exact"))
    ev.written("formula", 28 * 28, 784, kinds=("formula", "exact"))
    # the same network through the package's layers: every activation keeps the b rows
    pkg = [X1]
    for W in Ws:
        pkg.append(relu(linear_xwt(pkg[-1], W)))
    ev.written("package", [4] * len(xs), [x.shape[0] for x in pkg], kinds=("exact", "package"))


@claim(
    "wang2019.loss-gradient",
    location="§3 loss Q = ½‖X^(L+1) − Y‖²_F and §4 'it is easy to compute ∂Q/∂X^(L+1)'",
    statement="""The note calls ∂Q/∂X^(L+1) easy but does not write it.""",
    convention=FC,
    routes=("fd", "explicit", "torch"),
    expected="completes",
    kind="gap",
    correction="∂Q/∂X^(L+1) = X^(L+1) − Y (b × m).",
)
def _(ev):
    r = rng(61)
    for b, m in ((4, 3), (2, 1)):
        Xo, Y = r.standard_normal((b, m)), r.standard_normal((b, m))
        ev.corrected("fd", Xo - Y, fd_gradient(lambda M: 0.5 * float(np.sum((M - Y) ** 2)), Xo), kinds=("formula", "fd"))
        ev.corrected("explicit", Xo - Y, reference_vjp("frobenius_loss", np.array(1.0), "x", x=Xo, y=Y), kinds=("formula", "package"))
        ev.corrected("torch", Xo - Y, lambda Xo=Xo, Y=Y: torch_grad(lambda Mt: 0.5 * ((Mt - __import__("torch").as_tensor(Y)) ** 2).sum(), Xo), kinds=("formula", "torch"))


@claim(
    "wang2019.eq4-1-sgd",
    location="§4, eq. (4.1) W^(l) ← W^(l) − α ∂Q/∂W^(l)",
    statement="""The update W^(l) ← W^(l) − α ∂Q/∂W^(l) is well typed (the gradient is d_out × d_in) and a small step lowers Q.""",
    convention=FC,
    routes=("shape", "descent"),
    expected="holds",
)
def _(ev):
    X1, Ws, Y = _fcnet(1)
    grads = _fcnet_backprop(X1, Ws, Y)
    before = _fcnet_loss(X1, Ws, Y)
    for l, g in enumerate(grads):
        ev.written("shape", g.shape, Ws[l].shape, kinds=("formula", "exact"))
        stepped = [W - (1e-4 * g if k == l else 0.0) for k, W in enumerate(Ws)]
        ev.written("descent", (before - _fcnet_loss(X1, stepped, Y)) / (1e-4 * float(np.sum(g * g))), 1.0, tol=1e-2, kinds=("formula", "fd"))


@claim(
    "wang2019.backprop-recursion",
    location="§4 bullets (start from ∂Q/∂X^(L+1), apply §2 layer by layer, pass ∂Q/∂X^(l) down)",
    statement="""Applying (2.1)–(2.3) from the output layer down, passing ∂Q/∂X^(l) to layer l − 1, yields every ∂Q/∂W^(l).""",
    convention=FC,
    routes=("fd", "torch", "explicit"),
    expected="holds",
)
def _(ev):
    for seed in (0, 2):
        X1, Ws, Y = _fcnet(seed)
        grads = _fcnet_backprop(X1, Ws, Y)
        for l in range(len(Ws)):
            ev.written("fd", grads[l], fd_gradient(lambda W_, l=l: _fcnet_loss(X1, [W_ if k == l else W for k, W in enumerate(Ws)], Y), Ws[l]), kinds=("formula", "fd"))

        def t_fn(X1=X1, Ws=Ws, Y=Y):
            import torch

            Wt = [torch.tensor(W, requires_grad=True) for W in Ws]
            x = torch.as_tensor(X1)
            for W in Wt:
                x = torch.relu(x @ W.T)
            (0.5 * ((x - torch.as_tensor(Y)) ** 2).sum()).backward()
            return np.concatenate([W.grad.numpy().ravel() for W in Wt])

        ev.written("torch", np.concatenate([g.ravel() for g in grads]), t_fn, kinds=("formula", "torch"))
        from .. import Wang2019FCNet

        net = Wang2019FCNet({"X": X1, "Y": Y, **{f"W{l + 1}": W for l, W in enumerate(Ws)}})
        ex = net.explicit_gradients()
        ev.written("explicit", np.concatenate([g.ravel() for g in grads]), np.concatenate([ex[f"W{l + 1}"].ravel() for l in range(len(Ws))]), kinds=("formula", "package"))


# ---------------------------------------------------------------------------
# §5 convolution as matrix multiplication (T is d1 × d2 × d3, K is k1 × k2 × d3)
# ---------------------------------------------------------------------------
_CONV_SHAPES = ((4, 3, 1, 2, 2), (5, 6, 2, 2, 3), (6, 4, 3, 3, 2))  # (d1, d2, d3, k1, k2)


def _tk(seed, d1, d2, d3, k1, k2):
    r = rng(70 + seed)
    return r.standard_normal((d1, d2, d3)), r.standard_normal((k1, k2, d3))


def _conv_loops(T, K):
    d1, d2, _ = T.shape
    k1, k2, _ = K.shape
    return np.array([[np.sum(T[i : i + k1, j : j + k2, :] * K) for j in range(d2 - k2 + 1)] for i in range(d1 - k1 + 1)])


def _fd_conv_grad(wrt, T, K, G):
    """∂Q/∂T or ∂Q/∂K (``wrt`` = "T" or "K") by central differences of Q = ⟨G, T * K⟩ (the loop forward)."""
    return fd_gradient_wrt(lambda T, K: float(np.sum(G * _conv_loops(T, K))), wrt, T=T, K=K)


def _unfold5(T, k1, k2):
    """X̄[i, j, a, b, c] = T[i + a, j + b, c] (the order-5 unfolding)."""
    d1, d2, d3 = T.shape
    out = np.empty((d1 - k1 + 1, d2 - k2 + 1, k1, k2, d3))
    for a in range(k1):
        for b in range(k2):
            out[:, :, a, b, :] = T[a : a + d1 - k1 + 1, b : b + d2 - k2 + 1, :]
    return out


def _unfold_matrix(T, k1, k2):
    """X: row = column-major patch index (i fastest), column = column-major entry index (a fastest, then b, then c)."""
    Xb = _unfold5(T, k1, k2)
    P1, P2 = Xb.shape[:2]
    return Xb.transpose(1, 0, 4, 3, 2).reshape(P1 * P2, -1)  # (j, i) rows and (c, b, a) columns: Fortran order


def _fold(dXb, shape):
    """Adjoint of _unfold5: add every patch entry back onto the tensor position it was copied from."""
    d1, d2, d3 = shape
    P1, P2, k1, k2, _ = dXb.shape
    out = np.zeros(shape)
    for a in range(k1):
        for b in range(k2):
            out[a : a + P1, b : b + P2, :] += dXb[:, :, a, b, :]
    return out


def _phi_colmajor(T, k1, k2):
    """The note's X through the package: im2col (row-major patches, (c, a, b) entries) re-ordered to column-major.

    Rows go from i·P2 + j to i + j·P1, columns from c·k1k2 + a·k2 + b to a + b·k1 + c·k1k2 — a fixed permutation, so
    the values come from the package's unfolding, not from :func:`_unfold_matrix`.
    """
    d1, d2, d3 = T.shape
    P1, P2 = d1 - k1 + 1, d2 - k2 + 1
    phi = im2col(np.asarray(T).transpose(2, 0, 1), (k1, k2))  # (P1·P2, d3·k1·k2)
    return phi.reshape(P1, P2, d3, k1, k2).transpose(1, 0, 2, 4, 3).reshape(P1 * P2, -1)


def _pkg_conv_grads(T, K, G):
    """(∂Q/∂T, ∂Q/∂K) of Q = ⟨G, T * K⟩ by the package's VJPs, in the note's (d1, d2, d3) layout."""
    x, w = T.transpose(2, 0, 1), K.transpose(2, 0, 1)[None]
    dT = reference_vjp("conv2d", G[None], "x", x=x, weight=w).transpose(1, 2, 0)
    dK = reference_vjp("conv2d", G[None], "weight", x=x, weight=w)[0].transpose(1, 2, 0)
    return dT, dK


def _fd_conv_map(T, K):
    """T * K as J_fd vec(K): conv is linear in K, so its finite-difference Jacobian applied to K gives the output."""
    from ..claims import reference_jacobian

    x, w = T.transpose(2, 0, 1), K.transpose(2, 0, 1)[None]
    J = reference_jacobian("conv2d", "weight", route="fd", x=x, weight=w)
    return (J @ w.ravel()).reshape(T.shape[0] - K.shape[0] + 1, T.shape[1] - K.shape[1] + 1)


def _torch_conv(T, K):
    import torch

    x = torch.as_tensor(T).permute(2, 0, 1)[None]
    w = torch.as_tensor(K).permute(2, 0, 1)[None]
    return torch.nn.functional.conv2d(x, w)[0, 0].numpy()


@claim(
    "wang2019.conv-output-shape",
    location="§5 'Tensor convolution' (T * K is (d1 − k1 + 1) × (d2 − k2 + 1))",
    statement="""Correlating a d1 × d2 × d3 tensor with a k1 × k2 × d3 kernel gives a (d1 − k1 + 1) × (d2 − k2 + 1) matrix C.""",
    convention=CONV,
    routes=("index", "package", "torch"),
    expected="holds",
)
def _(ev):
    for s, (d1, d2, d3, k1, k2) in enumerate(_CONV_SHAPES):
        T, K = _tk(s, d1, d2, d3, k1, k2)
        printed = (d1 - k1 + 1, d2 - k2 + 1)  # the note's formula
        # positions where a k1 × k2 window fits, counted one by one (not from the formula)
        fits = (sum(1 for i in range(d1) if i + k1 <= d1), sum(1 for j in range(d2) if j + k2 <= d2))
        ev.written("index", printed, fits, kinds=("formula", "exact"))
        ev.written("package", printed, conv2d(T.transpose(2, 0, 1), K.transpose(2, 0, 1)[None]).shape[1:], kinds=("formula", "package"))
        ev.written("torch", printed, lambda T=T, K=K: _torch_conv(T, K).shape, kinds=("formula", "torch"))


@claim(
    "wang2019.patch-count",
    location="§5 first bullet (number of patches printed '(d1 k1 + 1) × (d2 k2 + 1)'; Fig. 3: 3 × 2 = 6)",
    statement="""The output shape is the number of k1 × k2 × d3 patches, (d1 − k1 + 1) × (d2 − k2 + 1); for d1 = 4, d2 = 3,
    k1 = k2 = 2 the note counts 3 × 2 = 6 patches.""",
    convention=CONV,
    routes=("index", "explicit", "formula"),
    expected="holds",
    kind="extraction",
    reading="""Literally '(d1 k1 + 1) × (d2 k2 + 1)': read as products this gives (4·2 + 1)(3·2 + 1) = 63 patches for
    Fig. 3, not the 6 the same bullet counts; the sentences around it (§5 'Tensor convolution', 'Unfolding' and the
    caption of Fig. 3) print the same count with its minus signs, so the extraction lost them here.""",
)
def _(ev):
    for d1, d2, d3, k1, k2 in _CONV_SHAPES:
        counted = sum(1 for i in range(d1) for j in range(d2) if i + k1 <= d1 and j + k2 <= d2)
        ev.written("index", (d1 - k1 + 1) * (d2 - k2 + 1), counted, kinds=("formula", "exact"))
        out = conv2d(np.zeros((d3, d1, d2)), np.zeros((1, d3, k1, k2)))
        ev.written("explicit", (d1 - k1 + 1) * (d2 - k2 + 1), out[0].size, kinds=("formula", "package"))
    ev.written("formula", (4 - 2 + 1) * (3 - 2 + 1), 6, kinds=("formula", "exact"))


@claim(
    "wang2019.eq5-1-inner-product",
    location="§5, eq. (5.1) c_ij = ⟨K, P_ij⟩ = ⟨vec(K), vec(P_ij)⟩",
    statement="""Entry c_ij of C is the inner product of K with the patch P_ij, equally of their vecs (any common vec order).""",
    convention=CONV,
    routes=("formula", "explicit", "fd", "torch"),
    expected="holds",
)
def _(ev):
    for s, dims in enumerate(_CONV_SHAPES):
        T, K = _tk(s, *dims)
        k1, k2 = dims[3], dims[4]
        C = np.array([[vecF(K) @ vecF(T[i : i + k1, j : j + k2, :]) for j in range(dims[1] - k2 + 1)] for i in range(dims[0] - k1 + 1)])
        ev.written("formula", C, _conv_loops(T, K), kinds=("formula", "formula"))
        ev.written("explicit", C, conv2d(T.transpose(2, 0, 1), K.transpose(2, 0, 1)[None])[0], kinds=("formula", "package"))
        ev.written("fd", C, _fd_conv_map(T, K), kinds=("formula", "fd"))
        ev.written("torch", C, lambda T=T, K=K: _torch_conv(T, K), kinds=("formula", "torch"))


@claim(
    "wang2019.unfold-shape",
    location="§5 'Unfolding' (X̄ of shape (d1−k1+1) × (d2−k2+1) × k1 × k2 × d3 with X̄[i, j, :, :] = P_ij)",
    statement="""Unfolding gives an order-5 tensor X̄ of shape (d1−k1+1) × (d2−k2+1) × k1 × k2 × d3 whose slice X̄[i, j, :, :] is
    the patch P_ij (the slice is written with two colons; in array indexing the omitted last axis is taken whole).""",
    convention=CONV,
    routes=("shape", "explicit", "index"),
    expected="holds",
)
def _(ev):
    for s, (d1, d2, d3, k1, k2) in enumerate(_CONV_SHAPES):
        T, K = _tk(s, d1, d2, d3, k1, k2)
        printed = (d1 - k1 + 1, d2 - k2 + 1, k1, k2, d3)  # the note's shape
        fits = (sum(1 for i in range(d1) if i + k1 <= d1), sum(1 for j in range(d2) if j + k2 <= d2))
        ev.written("shape", printed, (*fits, k1, k2, d3), kinds=("formula", "exact"))
        # the package's unfolding holds the same patches: its rows, reshaped to the order-5 layout, are X̄[i, j]
        phi = im2col(T.transpose(2, 0, 1), (k1, k2))
        Xb_pkg = phi.reshape(fits[0], fits[1], d3, k1, k2).transpose(0, 1, 3, 4, 2)
        ev.written("explicit", _unfold5(T, k1, k2), Xb_pkg, kinds=("formula", "package"))
        for i in range(d1 - k1 + 1):
            for j in range(d2 - k2 + 1):
                ev.written("index", _unfold5(T, k1, k2)[i, j, :, :], T[i : i + k1, j : j + k2, :], kinds=("formula", "formula"))


@claim(
    "wang2019.unfold-matrix-shape",
    location="§5, reshape of X̄ into the (d1−k1+1)(d2−k2+1) × k1k2d3 matrix X",
    statement="""Reshaping X̄ gives the matrix X with one row per patch: (d1−k1+1)(d2−k2+1) × k1 k2 d3.""",
    convention=CONV,
    routes=("shape", "explicit"),
    expected="holds",
)
def _(ev):
    for s, (d1, d2, d3, k1, k2) in enumerate(_CONV_SHAPES):
        T, K = _tk(s, d1, d2, d3, k1, k2)
        printed = ((d1 - k1 + 1) * (d2 - k2 + 1), k1 * k2 * d3)
        patches = sum(1 for i in range(d1) for j in range(d2) if i + k1 <= d1 and j + k2 <= d2)
        ev.written("shape", printed, (patches, T[:k1, :k2, :].size), kinds=("formula", "exact"))
        ev.written("explicit", printed, im2col(T.transpose(2, 0, 1), (k1, k2)).shape, kinds=("formula", "package"))


@claim(
    "wang2019.eq5-2-conv-as-matvec",
    location="§5, eq. (5.2) z = X vec(K), z = vec(C), C = reshape(z, (d1−k1+1, d2−k2+1))",
    statement="""With w = vec(K), z = X w is vec(C) and C = reshape(z) — with the column-major orders of the worked example for
    both the rows of X (patches) and its columns (entries of a patch), vec and reshape are column-major too.""",
    convention=CONV,
    routes=("formula", "explicit", "fd", "torch"),
    expected="holds",
)
def _(ev):
    for s, (d1, d2, d3, k1, k2) in enumerate(_CONV_SHAPES):
        T, K = _tk(s, d1, d2, d3, k1, k2)
        z = _unfold_matrix(T, k1, k2) @ vecF(K)
        C = _conv_loops(T, K)
        ev.written("formula", z, vecF(C), kinds=("formula", "formula"))
        ev.written("formula", z.reshape(C.shape, order="F"), C, kinds=("formula", "formula"))
        ev.written("explicit", z.reshape(C.shape, order="F"), conv2d(T.transpose(2, 0, 1), K.transpose(2, 0, 1)[None])[0], kinds=("formula", "package"))
        ev.written("fd", z.reshape(C.shape, order="F"), _fd_conv_map(T, K), kinds=("formula", "fd"))
        ev.written("torch", z.reshape(C.shape, order="F"), lambda T=T, K=K: _torch_conv(T, K), kinds=("formula", "torch"))


def _t231_positions(patch_order, entry_order):
    """1-based (row, column) positions of t_{2,3,1} in X for d = (4, 3, 1), k = (2, 2) under the given orders."""
    d1, d2, k1, k2 = 4, 3, 2, 2
    P1, P2 = d1 - k1 + 1, d2 - k2 + 1
    out = set()
    for i in range(P1):
        for j in range(P2):
            for a in range(k1):
                for b in range(k2):
                    if (i + a, j + b) == (1, 2):
                        row = (i + j * P1) if patch_order == "col" else (i * P2 + j)
                        col = (a + b * k1) if entry_order == "col" else (a * k2 + b)
                        out.add((row + 1, col + 1))
    return sorted(out)


@claim(
    "wang2019.eq6-2-worked-example",
    location="§6 'From X to T', eq. (6.2) t_{2,3,1} = x_{4,4} = x_{5,3} (Fig. 3: d = (4, 3, 1), k = (2, 2))",
    statement="""In the Fig. 3 setting the entry t_{2,3,1} is copied to x_{4,4} and x_{5,3} — which pins the unfolding to column-major
    patch order and column-major order within a patch.""",
    convention=CONV,
    routes=("index", "explicit", "fd"),
    expected="holds",
)
def _(ev):
    printed = [(4, 4), (5, 3)]  # the note's positions of t_{2,3,1}
    # three different computations of where t_{2,3,1} lands under column-major patch and entry order:
    # index loops over the patch definition; the package's im2col re-ordered; differences of the note's unfolding
    ev.written("index", printed, _t231_positions("col", "col"), kinds=("formula", "exact"))
    T = np.zeros((4, 3, 1))
    T[1, 2, 0] = 1.0
    X_pkg = _phi_colmajor(T, 2, 2)
    ev.written("explicit", printed, sorted((int(r_) + 1, int(c) + 1) for r_, c in zip(*np.nonzero(X_pkg))), kinds=("formula", "package"))
    J = fd_jacobian(lambda T_: vecF(_unfold_matrix(T_, 2, 2)), np.zeros((4, 3, 1)))
    col = J[:, 1 * 3 + 2]  # t_{2,3,1} in C order of the (4, 3, 1) array
    hits = sorted((int(k % 6) + 1, int(k // 6) + 1) for k in np.nonzero(np.abs(col) > 0.5)[0])
    ev.written("fd", printed, hits, kinds=("formula", "fd"))


@claim(
    "wang2019.unfold-order-vs-pytorch",
    location="§5 'unfold is supported by PyTorch' with the example of §6",
    statement="""Unfolding is an operation PyTorch provides. The note does not claim PyTorch's order: PyTorch's unfold
    (transposed to patches × entries) orders patches and entries row-major and puts t_{2,3,1} at x_{2,4} and x_{4,2},
    while the worked example (6.2), at x_{4,4} and x_{5,3}, uses column-major patch and entry order (as MATLAB's im2col).""",
    convention=CONV,
    routes=("explicit", "index", "torch"),
    expected="holds",
)
def _(ev):
    T = np.zeros((4, 3, 1))
    T[1, 2, 0] = 1.0
    phi = im2col(T.transpose(2, 0, 1), (2, 2))  # the package's im2col: PyTorch's unfold order
    pos = sorted((int(r_) + 1, int(c) + 1) for r_, c in zip(*np.nonzero(phi)))
    ev.written("explicit", _t231_positions("row", "row"), pos, kinds=("formula", "package"))
    ev.written("index", [(2, 4), (4, 2)], _t231_positions("row", "row"), kinds=("formula", "exact"))
    ev.written("index", [(4, 4), (5, 3)], _t231_positions("col", "col"), kinds=("formula", "exact"))

    def t_fn():
        import torch

        U = torch.nn.functional.unfold(torch.as_tensor(T.transpose(2, 0, 1))[None], (2, 2))[0].T.numpy()
        return sorted((int(r_) + 1, int(c) + 1) for r_, c in zip(*np.nonzero(U)))

    ev.written("torch", _t231_positions("row", "row"), t_fn, kinds=("formula", "torch"))


# ---------------------------------------------------------------------------
# §6 differentiation for convolution
# ---------------------------------------------------------------------------
def _conv_grads_note(T, K, G):
    """(6.1) backward: vectorize → multiply → reshape / reshape → fold."""
    k1, k2, d3 = K.shape
    X = _unfold_matrix(T, k1, k2)
    dz = vecF(G)
    dw = X.T @ dz
    dK = dw.reshape(K.shape, order="F")
    dX = np.outer(dz, vecF(K))
    P1, P2 = G.shape
    dXb = dX.reshape(P2, P1, d3, k2, k1).transpose(1, 0, 4, 3, 2)  # inverse of _unfold_matrix's reshape
    dT = _fold(dXb, T.shape)
    return dz, dX, dw, dK, dT


def _torch_conv_grads(T, K, G):
    import torch

    Tt, Kt = torch.tensor(T, requires_grad=True), torch.tensor(K, requires_grad=True)
    out = torch.nn.functional.conv2d(Tt.permute(2, 0, 1)[None], Kt.permute(2, 0, 1)[None])[0, 0]
    (out * torch.as_tensor(G)).sum().backward()
    return Tt.grad.numpy(), Kt.grad.numpy()


def _conv_cases():
    out = []
    for s, dims in enumerate(_CONV_SHAPES):
        T, K = _tk(s, *dims)
        G = rng(80 + s).standard_normal((dims[0] - dims[3] + 1, dims[1] - dims[4] + 1))
        out.append((T, K, G))
    return out


@claim(
    "wang2019.eq6-1-backward-pipeline",
    location="§6, eq. (6.1) (∂Q/∂C → vectorize → multiply → reshape to ∂Q/∂K; reshape → fold to ∂Q/∂T)",
    statement="""Backpropagation through the convolution: vectorize ∂Q/∂C into ∂Q/∂z, multiply to get ∂Q/∂X and ∂Q/∂w, reshape
    ∂Q/∂w into ∂Q/∂K, and reshape then fold ∂Q/∂X into ∂Q/∂T.""",
    convention=CONV,
    routes=("fd", "explicit", "torch"),
    expected="holds",
    kind="extraction",
    reading="""The top row reads ∂Q/∂T ← fold ← ∂Q/∂X ← reshape ← ∂Q/∂X: reshaping a matrix into itself. The overline of
    the order-5 tensor X̄ was lost (§6 later writes ∂Q/∂X̄ = reshape(∂Q/∂X), ∂Q/∂T = fold(∂Q/∂X̄)) — judged with X̄.""",
)
def _(ev):
    for T, K, G in _conv_cases():
        _, _, _, dK, dT = _conv_grads_note(T, K, G)
        ev.written("fd", dK, _fd_conv_grad("K", T, K, G), kinds=("formula", "fd"))
        ev.written("fd", dT, _fd_conv_grad("T", T, K, G), kinds=("formula", "fd"))
        ev.written("explicit", np.concatenate([dT.ravel(), dK.ravel()]), np.concatenate([a.ravel() for a in _pkg_conv_grads(T, K, G)]), kinds=("formula", "package"))
        ev.written("torch", np.concatenate([dT.ravel(), dK.ravel()]), lambda T=T, K=K, G=G: np.concatenate([a.ravel() for a in _torch_conv_grads(T, K, G)]), kinds=("formula", "torch"))


@claim(
    "wang2019.dQdz-vectorize",
    location="§6 'From C to z' (∂Q/∂z = vec(∂Q/∂C))",
    statement="""Since z = vec(C), ∂Q/∂z = vec(∂Q/∂C), of length (d1−k1+1)(d2−k2+1).""",
    convention=CONV,
    routes=("fd", "shape"),
    expected="holds",
)
def _(ev):
    for T, K, G in _conv_cases():
        dz = _conv_grads_note(T, K, G)[0]
        ev.written("fd", dz, fd_gradient(lambda z: float(np.sum(G * z.reshape(G.shape, order="F"))), vecF(_conv_loops(T, K))), kinds=("formula", "fd"))
        ev.written("shape", dz.shape, (G.size,), kinds=("formula", "exact"))


@claim(
    "wang2019.dQdX-outer-product",
    location="§6 'From z to X and w', ∂Q/∂X = ∂Q/∂z · wᵀ with ∂Q/∂z labelled (d1−k1+1)(d2−k2+1) × (k1k2d3)",
    statement="""∂Q/∂X = (∂Q/∂z) wᵀ; the underbrace gives ∂Q/∂z the size (d1−k1+1)(d2−k2+1) × (k1 k2 d3).""",
    convention=CONV,
    routes=("shape", "fd"),
    expected="holds-corrected",
    kind="slip",
    correction="""∂Q/∂z is a (d1−k1+1)(d2−k2+1) × 1 column; the outer product (∂Q/∂z) wᵀ is (d1−k1+1)(d2−k2+1) × k1k2d3.""",
)
def _(ev):
    for T, K, G in _conv_cases():
        dz, dX, _, _, _ = _conv_grads_note(T, K, G)
        P, n = dX.shape
        ev.both("shape", (P, n), (P, 1), dz[:, None].shape, kinds=("formula", "exact"))
        ev.corrected("shape", np.outer(dz, vecF(K)).shape, (P, n), kinds=("formula", "exact"))
        w = vecF(K)
        ev.corrected("fd", dX, fd_gradient(lambda X_: float(dz @ (X_ @ w)), _unfold_matrix(T, *K.shape[:2])), kinds=("formula", "fd"))


@claim(
    "wang2019.dQdw",
    location="§6, ∂Q/∂w = Xᵀ ∂Q/∂z (sizes (k1k2d3) × (d1−k1+1)(d2−k2+1) and … × 1)",
    statement="""∂Q/∂w = Xᵀ ∂Q/∂z, following from (2.2)–(2.3) with the patches as the batch.""",
    convention=CONV,
    routes=("fd", "shape"),
    expected="holds",
)
def _(ev):
    for T, K, G in _conv_cases():
        dz, _, dw, _, _ = _conv_grads_note(T, K, G)
        X = _unfold_matrix(T, *K.shape[:2])
        ev.written("fd", dw, fd_gradient(lambda w: float(dz @ (X @ w)), vecF(K)), kinds=("formula", "fd"))
        ev.written("shape", X.T.shape, (K.size, G.size), kinds=("formula", "exact"))


@claim(
    "wang2019.dQdK-reshape",
    location="§6 'From w to K' (∂Q/∂K = reshape(∂Q/∂w, (k1, k2, d3)))",
    statement="""∂Q/∂K is ∂Q/∂w reshaped to k1 × k2 × d3 (with the same column-major order that made w = vec(K)).""",
    convention=CONV,
    routes=("fd", "explicit", "torch"),
    expected="holds",
)
def _(ev):
    for T, K, G in _conv_cases():
        dK = _conv_grads_note(T, K, G)[3]
        ev.written("fd", dK, _fd_conv_grad("K", T, K, G), kinds=("formula", "fd"))
        ev.written("explicit", dK, _pkg_conv_grads(T, K, G)[1], kinds=("formula", "package"))
        ev.written("torch", dK, lambda T=T, K=K, G=G: _torch_conv_grads(T, K, G)[1], kinds=("formula", "torch"))


@claim(
    "wang2019.copy-multiplicity",
    location="§6 'From X to T' (each entry of T is copied to at most k1 k2 entries of X)",
    statement="""Unfolding copies each entry of T into at most k1 k2 entries of X.""",
    convention=CONV,
    routes=("index", "explicit"),
    expected="holds",
)
def _(ev):
    for d1, d2, d3, k1, k2 in _CONV_SHAPES + ((7, 7, 1, 2, 2),):
        codes = np.arange(1, d1 * d2 * d3 + 1, dtype=float).reshape(d1, d2, d3)
        X = _unfold_matrix(codes, k1, k2)
        counts = np.bincount(X.ravel().astype(int), minlength=codes.size + 1)[1:]
        ev.written("index", int(counts.max()), k1 * k2, kinds=("formula", "exact"))
        phi = im2col(codes.transpose(2, 0, 1), (k1, k2))
        ev.written("explicit", int(np.bincount(phi.ravel().astype(int))[1:].max()), k1 * k2, kinds=("package", "formula"))


@claim(
    "wang2019.jacobian-t231",
    location="§6, ∂x_ij/∂t_{2,3,1} = 1 if (i, j) ∈ {(4, 4), (5, 3)}, 0 otherwise",
    statement="""The derivative of X w.r.t. t_{2,3,1} has exactly two nonzero entries, both 1, at (4, 4) and (5, 3).""",
    convention=CONV,
    routes=("fd", "explicit"),
    expected="holds",
)
def _(ev):
    T0 = rng(81).standard_normal((4, 3, 1))

    def X_of_t(t):
        T = T0.copy()
        T[1, 2, 0] = t[0]
        return _unfold_matrix(T, 2, 2)

    D = fd_jacobian(X_of_t, np.array([T0[1, 2, 0]])).reshape(6, 4)
    printed = np.zeros((6, 4))  # the note's derivative: 1 at (4, 4) and (5, 3), 0 elsewhere
    printed[3, 3] = printed[4, 2] = 1.0
    ev.written("fd", printed, D, kinds=("formula", "fd"))
    # the package's unfolding (re-ordered to the note's order) is linear in T: its derivative is a difference
    T1 = np.zeros((4, 3, 1))
    T1[1, 2, 0] = 1.0
    ev.written("explicit", printed, _phi_colmajor(T1, 2, 2), kinds=("formula", "package"))


@claim(
    "wang2019.eq6-3-gradient-sum",
    location="§6, eq. (6.3) [∂Q/∂T]_{2,3,1} = [∂Q/∂X]_{4,4} + [∂Q/∂X]_{5,3}",
    statement="""t_{2,3,1} reaches Q only through its two copies, so its gradient is the sum of the gradients of x_{4,4} and x_{5,3}.""",
    convention=CONV,
    routes=("fd", "explicit", "torch"),
    expected="holds",
)
def _(ev):
    r = rng(82)
    for s in range(2):
        T, K = r.standard_normal((4, 3, 1)), r.standard_normal((2, 2, 1))
        G = r.standard_normal((3, 2))
        dz, dX, _, _, _ = _conv_grads_note(T, K, G)
        summed = dX[3, 3] + dX[4, 2]
        ev.written("fd", summed, _fd_conv_grad("T", T, K, G)[1, 2, 0], kinds=("formula", "fd"))
        ev.written("explicit", summed, _pkg_conv_grads(T, K, G)[0][1, 2, 0], kinds=("formula", "package"))
        ev.written("torch", summed, lambda T=T, K=K, G=G: _torch_conv_grads(T, K, G)[0][1, 2, 0], kinds=("formula", "torch"))


@claim(
    "wang2019.fold-adjoint",
    location="§6, ∂Q/∂X̄ = reshape(∂Q/∂X), ∂Q/∂T = fold(∂Q/∂X̄)",
    statement="""Reshaping ∂Q/∂X to the order-5 shape and folding (adding each entry back to the tensor position it was copied
    from) gives ∂Q/∂T; fold is the adjoint of unfold.""",
    convention=CONV,
    routes=("fd", "explicit", "torch"),
    expected="holds",
)
def _(ev):
    r = rng(83)
    for d1, d2, d3, k1, k2 in _CONV_SHAPES:
        T = r.standard_normal((d1, d2, d3))
        dXb = r.standard_normal((d1 - k1 + 1, d2 - k2 + 1, k1, k2, d3))
        folded = _fold(dXb, T.shape)
        ev.written("fd", folded, fd_gradient(lambda T_: float(np.sum(dXb * _unfold5(T_, k1, k2))), T), kinds=("formula", "fd"))
        # the package's col2im takes φ-ordered columns: rows (i, j) row-major, columns (c, a, b)
        cols = dXb.transpose(0, 1, 4, 2, 3).reshape((d1 - k1 + 1) * (d2 - k2 + 1), -1)
        ev.written("explicit", folded, col2im(cols, (d3, d1, d2), (k1, k2)).transpose(1, 2, 0), kinds=("formula", "package"))
        ev.written("explicit", float(np.sum(cols * im2col(T.transpose(2, 0, 1), (k1, k2)))), float(np.sum(folded * T)), kinds=("package", "formula"))

        def t_fn(cols=cols, d1=d1, d2=d2, d3=d3, k1=k1, k2=k2):
            import torch

            out = torch.nn.functional.fold(torch.as_tensor(cols.T)[None], (d1, d2), (k1, k2))[0]
            return out.numpy().transpose(1, 2, 0)

        ev.written("torch", folded, t_fn, kinds=("formula", "torch"))


# ---------------------------------------------------------------------------
# the note's order, as the note fixes it, against the package's preset
# ---------------------------------------------------------------------------
@claim(
    "wang2019.preset-order",
    location="§5–6: the order of vec / reshape / unfold, fixed only by the worked example (6.2)",
    statement="""The note's vectorisation of a d1 × d2 × d3 tensor is column-major: the entry (a, b, c) (1-based) goes to
    place a + (b − 1) d1 + (c − 1) d1 d2 — the order that puts t_{2,3,1} at x_{4,4} and x_{5,3}; for 2 × 3 × 2 it lists
    t111, t211, t121, t221, t131, t231, t112, …, t232. The package's preset ``wang2019`` orders (C, H, W) arrays this way.""",
    convention=CONV,
    routes=("index", "loops", "transpose"),
    expected="holds",
)
def _(ev):
    from ._tools import coded_tensor, preset_order

    T = coded_tensor(2, 2, 3)  # [c, a, b] ↦ 100c + 10a + b (the note's t_{a,b,c})
    listed = [100 * c + 10 * a + b for c in (1, 2) for b in (1, 2, 3) for a in (1, 2)]  # t111, t211, t121, …
    ev.written("index", listed, preset_order("wang2019", T), kinds=("exact", "package"))
    d1, d2, d3 = 2, 3, 2
    by_place = [0] * (d1 * d2 * d3)
    for a in range(1, d1 + 1):
        for b in range(1, d2 + 1):
            for c in range(1, d3 + 1):
                by_place[a + (b - 1) * d1 + (c - 1) * d1 * d2 - 1] = 100 * c + 10 * a + b
    ev.written("loops", by_place, preset_order("wang2019", T), kinds=("formula", "package"))
    # the note's d1 × d2 × d3 tensor is the package's (C, H, W) array with its axes moved (2, 0, 1): the package's
    # transpose operator does it
    Tn = T.transpose(1, 2, 0)  # back to the note's (d1, d2, d3)
    moved = (reference_jacobian("transpose", "x", x=Tn, axes=(2, 0, 1)) @ Tn.ravel()).reshape(T.shape)
    ev.written("transpose", T, moved, kinds=("formula", "package"))


@claim(
    "wang2019.general-activation-backward",
    location="§1 introduces an elementwise σ; §2 (2.1) and §3 (X^(l+1) = σ(Z^(l))) give the backward step only for ReLU",
    statement="""The note's network uses a general elementwise activation σ, but the step from ∂Q/∂X′ to ∂Q/∂Z is derived
    only for ReLU (the 0/1 mask A).""",
    convention=FC,
    routes=("fd", "explicit", "torch"),
    expected="completes",
    kind="gap",
    correction="""∂Q/∂Z = σ′(Z) ∘ ∂Q/∂X′ for any elementwise differentiable σ (entries σ′(z_ij)); (2.1) is the case
    σ′ = 1[z > 0].""",
)
def _(ev):
    ev.gap("the X′ → Z step is given only for ReLU")
    derivatives = {"tanh": lambda Z: 1.0 - np.tanh(Z) ** 2, "sigmoid": lambda Z: np.exp(-Z) / (1.0 + np.exp(-Z)) ** 2}
    forwards = {"tanh": np.tanh, "sigmoid": lambda Z: 1.0 / (1.0 + np.exp(-Z))}
    for b, d_in, d_out, X, W, G in _fc_cases():
        Z = X @ W.T
        for name in ("tanh", "sigmoid"):
            step = derivatives[name](Z) * G
            ev.corrected("fd", step, fd_gradient(lambda Z_, name=name: float(np.sum(G * forwards[name](Z_))), Z), kinds=("formula", "fd"))
            ev.corrected("explicit", step, reference_vjp(name, G, "z", z=Z), kinds=("formula", "package"))

            def t_fn(Z=Z, G=G, name=name):
                import torch

                return torch_grad(lambda Zt: (torch.as_tensor(G) * getattr(torch, name)(Zt)).sum(), Z)

            ev.corrected("torch", step, t_fn, kinds=("formula", "torch"))


@claim(
    "wang2019.fc-no-bias",
    location="§1–§4 (Z = X Wᵀ throughout; no bias vector)",
    statement="""The note's FC layers have no bias, so no bias gradient is derived.""",
    convention=FC,
    routes=("explicit", "fd", "torch"),
    expected="completes",
    kind="gap",
    correction="""With Z = X Wᵀ + 1 bᵀ (b ∈ R^{d_out} added to every row), ∂Q/∂b = (∂Q/∂Z)ᵀ 1 — the columns of ∂Q/∂Z summed
    over the batch; (2.2) and (2.3) are unchanged.""",
)
def _(ev):
    ev.gap("the layers have no bias")
    for b_, d_in, d_out, X, W, G in _fc_cases():
        bias = rng(90 + d_in).standard_normal(d_out)
        Z = X @ W.T + bias
        dZ = (Z > 0) * G  # (2.1) at the biased Z
        db = dZ.T @ np.ones(b_)
        # the package's linear layer z = x W + b (note 002's form) with W = Wᵀ, then ReLU, applied backwards
        ev.corrected("explicit", db, reference_vjp("linear_xw_b", reference_vjp("relu", G, "z", z=Z), "bias", x=X, weight=W.T, bias=bias), kinds=("formula", "package"))
        ev.corrected("fd", db, fd_gradient(lambda v: float(np.sum(G * np.maximum(X @ W.T + v, 0.0))), bias), kinds=("formula", "fd"))

        def t_fn(X=X, W=W, G=G, bias=bias):
            import torch

            bt = torch.tensor(bias, requires_grad=True)
            (torch.as_tensor(G) * torch.relu(torch.nn.functional.linear(torch.as_tensor(X), torch.as_tensor(W), bt))).sum().backward()
            return bt.grad.numpy()

        ev.corrected("torch", db, t_fn, kinds=("formula", "torch"))
