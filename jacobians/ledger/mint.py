"""Claims of "Back Propagation Summary" (notes for the Mint framework) — note 002, key ``mint``.

Convention of the note: batches first, maps (N, C, H, W), kernels
(C_out, C_in, F, F), linear layers z = x·W + b with W of shape
(M_in, M_out), 0-based indices, "convolution" = correlation. Gradients
∂L/∂T have the shape of T. The note treats unit stride (§3.1) and stride S
(§3.2); its §3.2.3 (input gradient with stride) is a TODO, and padding P —
announced in §3.0 — is never treated: the ledger completes both.

Every check draws random data on several geometries (non-square maps,
several channels, a batch of 2) and compares the note's formula, implemented
literally with index arithmetic, with independent routes: the explicit
sparse Jacobians of :mod:`jacobians.ops.conv2d` (transposed times δ), central
finite differences of the forward, and torch autograd when installed.
"""
from __future__ import annotations

import numpy as np

from .. import conv2d, linear_xw_b
from ..claims import claim, reference_vjp
from ._tools import (
    conv_cases,
    fd_conv_forward,
    corr_loops,
    dilate,
    explicit_conv_grads,
    fd_gradient,
    fd_gradient_wrt,
    fd_jacobian,
    geometries,
    pad_sides,
    rng,
    torch_conv2d,
    torch_conv2d_grads,
)

CONV = "N,C,H,W maps; kernel (C_out, C_in, F, F); 0-based; correlation; ∂L/∂T shaped like T"
LIN = "z = x·W + b, x (N, M_in), W (M_in, M_out); 0-based; ∂L/∂T shaped like T"


# ---------------------------------------------------------------------------
# §2 linear layer
# ---------------------------------------------------------------------------
def _linear_data(seed=0, n=3, m_in=4, m_out=5):
    r = rng(seed)
    return r.standard_normal((n, m_in)), r.standard_normal((m_in, m_out)), r.standard_normal(m_out), r.standard_normal((n, m_out))


_LIN_SHAPES = ((3, 4, 5), (2, 6, 3), (1, 3, 3))


def _linear_cases():
    """(n, m_in, m_out, x, W, b, g) for each shape, the data seeded by the shape's position."""
    for s, (n, mi, mo) in enumerate(_LIN_SHAPES):
        yield (n, mi, mo, *_linear_data(s, n, mi, mo))


def _linear_loss(g):
    return lambda x, W, b: float(np.sum(g * (x @ W + b)))


def _fd_linear_grad(wrt, x, W, b, g):
    """∂L/∂x, ∂L/∂W or ∂L/∂b (``wrt``) by central differences of L = ⟨g, x·W + b⟩."""
    return fd_gradient_wrt(_linear_loss(g), wrt, x=x, W=W, b=b)


def _torch_linear(x, W, b):
    import torch

    return torch.nn.functional.linear(torch.as_tensor(x), torch.as_tensor(W.T), torch.as_tensor(b)).numpy()


def _torch_linear_grads(x, W, b, g):
    import torch

    xt, Wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
    (torch.as_tensor(g) * torch.nn.functional.linear(xt, Wt.T, bt)).sum().backward()
    return xt.grad.numpy(), Wt.grad.numpy(), bt.grad.numpy()


@claim(
    "mint.linear-forward",
    location="§2 Linear, forward and the elementwise form of z",
    statement="""A linear layer maps x (N × M_in) with W (M_in × M_out) and b (M_out) to z = x·W + b
    (N × M_out), entrywise z[n,m] = Σ_k x[n,k] w[k,m] + b[m].""",
    convention=LIN,
    routes=("formula", "shape", "package", "torch"),
    expected="holds",
)
def _(ev):
    for n, mi, mo, x, W, b, _g in _linear_cases():
        z = x @ W + b
        loops = np.array([[sum(x[i, k] * W[k, m] for k in range(mi)) + b[m] for m in range(mo)] for i in range(n)])
        ev.written("formula", loops, z, kinds=("formula", "formula"))
        ev.written("shape", z.shape, (n, mo), kinds=("formula", "exact"))
        ev.written("package", loops, linear_xw_b(x, W, b), kinds=("formula", "package"))
        ev.written("torch", loops, lambda: _torch_linear(x, W, b), kinds=("formula", "torch"))


@claim(
    "mint.linear-weight-grad-entry",
    location="§2.1, first display (sum over n and m, collapsed to one column)",
    statement="""∂L/∂w[i,j] = Σ_n Σ_m ∂L/∂z[n,m] ∂z[n,m]/∂w[i,j]; only m = j survives, so
    ∂L/∂w[i,j] = ⟨column j of ∂L/∂z, column i of x⟩.""",
    convention=LIN,
    routes=("formula", "fd", "explicit", "torch"),
    expected="holds",
)
def _(ev):
    for n, mi, mo, x, W, b, g in _linear_cases():
        entry = np.array([[g[:, j] @ x[:, i] for j in range(mo)] for i in range(mi)])
        ev.written("fd", entry, _fd_linear_grad("W", x, W, b, g), kinds=("formula", "fd"))
        ev.written("explicit", entry, reference_vjp("linear_xw_b", g, "weight", x=x, weight=W, bias=b), kinds=("formula", "package"))
        # the double sum before collapsing, with ∂z[n,m]/∂w[i,j] = x[n,i]·[m = j]
        full = np.einsum("nm,ni,mj->ij", g, x, np.eye(mo))
        ev.written("formula", entry, full, kinds=("formula", "formula"))
        ev.written("torch", entry, lambda: _torch_linear_grads(x, W, b, g)[1], kinds=("formula", "torch"))


@claim(
    "mint.linear-weight-grad",
    location="§2.1, ∂L/∂W = xᵀ·∂L/∂z",
    statement="""The weight gradient is the matrix product ∂L/∂W = xᵀ ∂L/∂z, of shape (M_in, M_out).""",
    convention=LIN,
    routes=("explicit", "fd", "torch"),
    expected="holds",
)
def _(ev):
    for n, mi, mo, x, W, b, g in _linear_cases():
        dW = x.T @ g
        # explicit Jacobian of vec_C(z) w.r.t. vec_C(W): z = x W → x ⊗ I (row-major vec)
        ev.written("explicit", dW, reference_vjp("linear_xw_b", g, "weight", x=x, weight=W, bias=b), kinds=("formula", "package"))
        ev.written("fd", dW, _fd_linear_grad("W", x, W, b, g), kinds=("formula", "fd"))
        ev.written("torch", dW, lambda: _torch_linear_grads(x, W, b, g)[1], kinds=("formula", "torch"))


@claim(
    "mint.linear-bias-grad",
    location="§2.2, ∂L/∂b_i",
    statement="""∂L/∂b[i] = Σ_n ∂L/∂z[n,i]: the bias gradient sums the upstream gradient over the batch.""",
    convention=LIN,
    routes=("explicit", "fd", "torch"),
    expected="holds",
)
def _(ev):
    for n, mi, mo, x, W, b, g in _linear_cases():
        db = g.sum(axis=0)
        ev.written("explicit", db, reference_vjp("linear_xw_b", g, "bias", x=x, weight=W, bias=b), kinds=("formula", "package"))
        ev.written("fd", db, _fd_linear_grad("b", x, W, b, g), kinds=("formula", "fd"))
        ev.written("torch", db, lambda: _torch_linear_grads(x, W, b, g)[2], kinds=("formula", "torch"))


@claim(
    "mint.linear-input-grad-entry",
    location="§2.3*, elementwise ∂L/∂x[n,j]",
    statement="""∂L/∂x[n,j] = Σ_m ∂L/∂z[n,m] w[j,m] = ⟨row n of ∂L/∂z, row j of W⟩.""",
    convention=LIN,
    routes=("formula", "fd", "explicit", "torch"),
    expected="holds",
)
def _(ev):
    for n, mi, mo, x, W, b, g in _linear_cases():
        entry = np.array([[sum(g[i, m] * W[j, m] for m in range(mo)) for j in range(mi)] for i in range(n)])
        ev.written("formula", entry, np.einsum("nm,jm->nj", g, W), kinds=("formula", "formula"))
        ev.written("fd", entry, _fd_linear_grad("x", x, W, b, g), kinds=("formula", "fd"))
        ev.written("explicit", entry, reference_vjp("linear_xw_b", g, "x", x=x, weight=W, bias=b), kinds=("formula", "package"))
        ev.written("torch", entry, lambda: _torch_linear_grads(x, W, b, g)[0], kinds=("formula", "torch"))


@claim(
    "mint.linear-input-grad",
    location="§2.3*, ∂L/∂x = ∂L/∂z·Wᵀ",
    statement="""The gradient propagated to the previous layer is ∂L/∂x = ∂L/∂z Wᵀ, of size (N, M_in).""",
    convention=LIN,
    routes=("explicit", "shape", "fd", "torch"),
    expected="holds",
)
def _(ev):
    for n, mi, mo, x, W, b, g in _linear_cases():
        dx = g @ W.T
        ev.written("explicit", dx, reference_vjp("linear_xw_b", g, "x", x=x, weight=W, bias=b), kinds=("formula", "package"))
        ev.written("shape", dx.shape, (n, mi), kinds=("formula", "exact"))
        ev.written("fd", dx, _fd_linear_grad("x", x, W, b, g), kinds=("formula", "fd"))
        ev.written("torch", dx, lambda: _torch_linear_grads(x, W, b, g)[0], kinds=("formula", "torch"))


# ---------------------------------------------------------------------------
# §3 convolution
# ---------------------------------------------------------------------------
def _conv_loss(delta, stride=1, padding=0):
    return lambda x, w: float(np.sum(delta * corr_loops(x, w, stride, padding)))


def _fd_conv_grad(wrt, x, w, delta, stride=1, padding=0):
    """∂L/∂x or ∂L/∂w (``wrt``) by central differences of L = ⟨δ, corr(x, w)⟩ (the loop forward)."""
    return fd_gradient_wrt(_conv_loss(delta, stride, padding), wrt, x=x, w=w)


@claim(
    "mint.conv-shapes",
    location="§3.0, Z = X * K + b and the tensor sizes",
    statement="""With X of shape (N, C_in, H, W) and K of shape (C_out, C_in, F, F), the output Z has shape
    (N, C_out, H', W'): one output channel per kernel, the batch kept.""",
    convention=CONV,
    routes=("explicit", "fd", "torch"),
    expected="holds",
)
def _(ev):
    for g, x, w, b, delta in conv_cases(geometries()):
        stated = (x.shape[0], w.shape[0])  # (N, C_out): the batch kept, one output channel per kernel
        z = conv2d(x, w, b, stride=g["stride"], padding=g["padding"])
        ev.written("explicit", stated, z.shape[:2], kinds=("formula", "package"))
        # by perturbation of the loop forward: perturbing sample n moves only output sample n, kernel c only channel c;
        # the shape's leading axes are then the numbers of distinct output planes that respond
        base = corr_loops(x, w, g["stride"], g["padding"])
        samples, channels = set(), set()
        for n in range(x.shape[0]):
            x2 = x.copy()
            x2[n] += 1.0
            hit = np.flatnonzero(np.abs(corr_loops(x2, w, g["stride"], g["padding"]) - base).sum(axis=(1, 2, 3)) > 1e-9)
            samples |= {(n, int(h)) for h in hit}
        for c in range(w.shape[0]):
            w2 = w.copy()
            w2[c] += 1.0
            hit = np.flatnonzero(np.abs(corr_loops(x, w2, g["stride"], g["padding"]) - base).sum(axis=(0, 2, 3)) > 1e-9)
            channels |= {(c, int(h)) for h in hit}
        one_to_one = all(a == b_ for a, b_ in samples | channels)
        ev.written("fd", stated, (len(samples), len(channels)) if one_to_one else (-1, -1), kinds=("formula", "fd"))
        ev.written("torch", stated, lambda: torch_conv2d(x, w, b, g["stride"], g["padding"]).shape[:2], kinds=("formula", "torch"))


@claim(
    "mint.conv-forward-unit-stride",
    location="§3.1, elementwise forward z[n,c,h,w] (with §3.0's Z = X * K + b)",
    statement="""With unit stride and no padding, z[n,c,h,w] = Σ_{c'} Σ_{i<F} Σ_{j<F} x[n,c',h+i,w+j] k[c,c',i,j]. §3.0 defines
    Z = X * K + b and §3.1.2 differentiates w.r.t. b, but this elementwise formula has no bias term.""",
    convention=CONV,
    routes=("formula", "explicit", "fd", "torch"),
    expected="holds-corrected",
    kind="gap",
    correction="z[n,c,h,w] = Σ_{c',i,j} x[n,c',h+i,w+j] k[c,c',i,j] + b[c].",
)
def _(ev):
    for g, x, w, b, _d in conv_cases(geometries(stride=1, padding=0)):
        printed = corr_loops(x, w)
        fixed = printed + b[None, :, None, None]
        ev.both("explicit", printed, fixed, conv2d(x, w, b), kinds=("formula", "package"))
        ev.both("fd", printed, fixed, fd_conv_forward(x, w, b), kinds=("formula", "fd"))
        ev.corrected("torch", fixed, lambda: torch_conv2d(x, w, b), kinds=("formula", "torch"))
        # the sum written out term by term for one output entry
        n, c, h, ww = 0, w.shape[0] - 1, fixed.shape[2] - 1, fixed.shape[3] - 1
        term = sum(
            x[n, cp, h + i, ww + j] * w[c, cp, i, j]
            for cp in range(w.shape[1])
            for i in range(w.shape[2])
            for j in range(w.shape[3])
        )
        ev.corrected("formula", term + b[c], fixed[n, c, h, ww], kinds=("formula", "formula"))


@claim(
    "mint.input-grad-naive-size",
    location="§3.1.3*, 'convolving the gradient by the current kernel … the size is not consistent with the input map'",
    statement="""A valid correlation of ∂L/∂z (H' × W') with the F × F kernel has size (H'−F+1) × (W'−F+1), not the input's
    (H'+F−1) × (W'+F−1) — hence the padding.""",
    convention=CONV,
    routes=("shape", "explicit"),
    expected="holds",
)
def _(ev):
    for g, x, w, b, delta in conv_cases(_square(geometries(stride=1, padding=0))):
        F = w.shape[2]
        H, W = delta.shape[2:]
        if min(H, W) < F:
            continue
        stated = (H - F + 1, W - F + 1)  # a valid correlation of δ with k̂
        ev.written("explicit", stated, conv2d(delta[0], _rot_swap(w)).shape[1:], kinds=("formula", "package"))
        ev.written("shape", stated, (sum(1 for i in range(H) if i + F <= H), sum(1 for j in range(W) if j + F <= W)), kinds=("formula", "exact"))
        ev.written("shape", (H + F - 1, W + F - 1), x.shape[2:], kinds=("formula", "exact"))  # what ∂L/∂x needs


@claim(
    "mint.conv-kernel-grad-entry",
    location="§3.1.1, first display",
    statement="""∂L/∂k[c,c',i,j] = Σ_n Σ_h Σ_w δ[n,c,h,w] x[n,c',h+i,w+j], with δ = ∂L/∂z (unit stride).""",
    convention=CONV,
    routes=("explicit", "fd", "torch"),
    expected="holds",
)
def _(ev):
    for g, x, w, b, delta in conv_cases(geometries(stride=1, padding=0)):
        H, W = delta.shape[2:]
        dk = np.einsum("nchw,ndhwij->cdij", delta, _windows(x, w.shape[2], w.shape[3], H, W))
        ev.written("explicit", dk, explicit_conv_grads(x, w, delta)[1], kinds=("formula", "package"))
        ev.written("fd", dk, _fd_conv_grad("w", x, w, delta), kinds=("formula", "fd"))
        ev.written("torch", dk, lambda: torch_conv2d_grads(x, w, delta)[1], kinds=("formula", "torch"))


def _windows(x, kh, kw, H, W, step=1):
    """win[n, c', h, w, i, j] = x[n, c', h·step + i, w·step + j] for h < H, w < W."""
    out = np.empty(x.shape[:2] + (H, W, kh, kw))
    for i in range(kh):
        for j in range(kw):
            out[..., i, j] = x[:, :, i : i + (H - 1) * step + 1 : step, j : j + (W - 1) * step + 1 : step]
    return out


def _corr_swapped(xt, dt):
    """Σ_{n,h,w} x̃[c', n, h+i, w+j] δ̃[c, n, h, w]: a correlation of the batch-swapped map with the
    batch-swapped δ as kernel → result[c', c, i, j]."""
    return corr_loops(xt, dt)


@claim(
    "mint.conv-kernel-grad-as-conv",
    location="§3.1.1, second display (batch and channel exchanged)",
    statement="""Exchanging batch and channel axes turns the kernel gradient into a convolution:
    ∂L/∂k[c,c',i,j] = Σ_{n,h,w} x̃[c',n,i+h,j+w] δ̃[c,n,h,w], i.e. the map x̃ (batch C_in, channels N)
    correlated with the kernel δ̃ (out C_out, in N, size H'×W'). The display's left-hand side is printed
    with indices (i, i) although the right-hand side depends on (i, j).""",
    convention=CONV,
    routes=("explicit", "fd", "torch"),
    expected="holds-corrected",
    kind="slip",
    correction="""Left-hand side ∂L/∂k[c,c',i,j] (second tap index j, not i); the correlation of x̃ with δ̃
    gives result[c',c,i,j], transposed to (c, c', i, j).""",
)
def _(ev):
    for g, x, w, b, delta in conv_cases(geometries(stride=1, padding=0)):
        swapped = _corr_swapped(x.transpose(1, 0, 2, 3), delta.transpose(1, 0, 2, 3))  # (C_in, C_out, F, F)
        rhs = swapped.transpose(1, 0, 2, 3)  # rhs[c, c', i, j]
        true = explicit_conv_grads(x, w, delta)[1]
        # as printed: ∂L/∂k[c,c',i,i] equals the right-hand side for every (i, j)
        kh, kw = w.shape[2:]
        lhs_printed = np.stack([np.stack([true[:, :, i, min(i, kw - 1)] for j in range(kw)], -1) for i in range(kh)], -2)
        ev.written("explicit", lhs_printed, rhs, kinds=("package", "formula"))
        ev.corrected("explicit", rhs, true, kinds=("formula", "package"))
        ev.corrected("fd", rhs, _fd_conv_grad("w", x, w, delta), kinds=("formula", "fd"))
        ev.corrected("torch", rhs, lambda: torch_conv2d_grads(x, w, delta)[1], kinds=("formula", "torch"))


@claim(
    "mint.conv-bias-grad",
    location="§3.1.2 (and §3.2.2 'the same as before')",
    statement="""∂L/∂b[c] = Σ_n Σ_h Σ_w ∂L/∂z[n,c,h,w], for unit and for non-unit stride.""",
    convention=CONV,
    routes=("explicit", "fd", "torch"),
    expected="holds",
)
def _(ev):
    from .. import conv2d

    for g, x, w, b, delta in conv_cases(geometries(padding=0)):
        db = delta.sum(axis=(0, 2, 3))
        ev.written("explicit", db, explicit_conv_grads(x, w, delta, g["stride"])[2], kinds=("formula", "package"))
        ev.written("fd", db, fd_gradient(lambda b_: float(np.sum(delta * conv2d(x, w, b_, stride=g["stride"]))), b), kinds=("formula", "fd"))
        ev.written("torch", db, lambda: torch_conv2d_grads(x, w, delta, g["stride"])[2], kinds=("formula", "torch"))


def _indicator(h, hp, w, wp, F):
    return (max(0, h - F + 1) <= hp <= h) and (max(0, w - F + 1) <= wp <= w)


@claim(
    "mint.conv-input-grad-indicator",
    location="§3.1.3*, first display and the indicator I_F(h,h',w,w')",
    statement="""∂z[n,c',h',w']/∂x[n,c,h,w] vanishes unless (h',w') ∈ [max(0,h−F+1), h] × [max(0,w−F+1), w], so the
    sum over all output positions may be restricted by the indicator I_F without changing ∂L/∂x.""",
    convention=CONV,
    routes=("structure", "explicit", "fd"),
    expected="holds",
)
def _(ev):
    from .. import conv2d_input_jacobian

    for g, x, w, b, delta in conv_cases(geometries(stride=1, padding=0)):
        if g["kh"] != g["kw"]:
            continue  # the note's kernels are square F × F
        F = g["kh"]
        C_out, H, W = delta.shape[1:]
        C_in, Hi, Wi = x.shape[1:]
        J = conv2d_input_jacobian(w, x.shape[1:]).toarray().reshape(C_out, H, W, C_in, Hi, Wi)
        ind = np.array(
            [[[[_indicator(h, hp, ww, wp, F) for ww in range(Wi)] for h in range(Hi)] for wp in range(W)] for hp in range(H)]
        )  # (H, W, Hi, Wi)
        support = (J != 0).any(axis=(0, 3))
        ev.written("structure", ind, support, kinds=("formula", "package"))
        # the note's derivative ∂z[n,c',h',w']/∂x[n,c,h,w] = k[c',c,h−h',w−w'] (0 outside the kernel), by loops
        J_note = np.zeros((C_out, H, W, C_in, Hi, Wi))
        for hp in range(H):
            for wp in range(W):
                for h in range(Hi):
                    for ww in range(Wi):
                        if 0 <= h - hp < F and 0 <= ww - wp < F:
                            J_note[:, hp, wp, :, h, ww] = w[:, :, h - hp, ww - wp]
        restricted = np.einsum("nopq,opqchw,pqhw->nchw", delta, J_note, ind)
        ev.written("explicit", restricted, explicit_conv_grads(x, w, delta)[0], kinds=("formula", "package"))
        ev.written("fd", restricted, _fd_conv_grad("x", x, w, delta), kinds=("formula", "fd"))


def _input_grad_window(delta, w, in_hw):
    """The note's second display: Σ_{c',i,j} δ[n,c',h−F+1+i,w−F+1+j] k[c',c,F−1−i,F−1−j],
    with δ outside its range read as 0 (the "border problem" the note sets aside)."""
    N, C_out, H, W = delta.shape
    _, C_in, F, _ = w.shape
    Hi, Wi = in_hw
    out = np.zeros((N, C_in, Hi, Wi))
    for h in range(Hi):
        for ww in range(Wi):
            for i in range(F):
                for j in range(F):
                    hp, wp = h - F + 1 + i, ww - F + 1 + j
                    if 0 <= hp < H and 0 <= wp < W:
                        out[:, :, h, ww] += delta[:, :, hp, wp] @ w[:, :, F - 1 - i, F - 1 - j]
    return out


def _square(gs):
    return [g for g in gs if g["kh"] == g["kw"]] + [
        dict(n=2, c_in=2, h=5, w=7, c_out=3, kh=3, kw=3, stride=1, padding=0),
        dict(n=1, c_in=3, h=6, w=4, c_out=2, kh=2, kw=2, stride=1, padding=0),
    ]


@claim(
    "mint.conv-input-grad-window",
    location="§3.1.3*, second display (window sum with k[c',c,F−1−i,F−1−j])",
    statement="""∂L/∂x[n,c,h,w] = Σ_{c'} Σ_{i,j<F} δ[n,c',h−F+1+i,w−F+1+j] k[c',c,F−1−i,F−1−j], reading δ as 0
    outside its range (the border the note sets aside).""",
    convention=CONV,
    routes=("explicit", "fd", "torch"),
    expected="holds",
)
def _(ev):
    for g, x, w, b, delta in conv_cases(_square(geometries(stride=1, padding=0))):
        dx = _input_grad_window(delta, w, x.shape[2:])
        ev.written("explicit", dx, explicit_conv_grads(x, w, delta)[0], kinds=("formula", "package"))
        ev.written("fd", dx, _fd_conv_grad("x", x, w, delta), kinds=("formula", "fd"))
        ev.written("torch", dx, lambda: torch_conv2d_grads(x, w, delta)[0], kinds=("formula", "torch"))


def _rot_swap(w):
    """k̂[c,c',i,j] = k[c',c,F−1−i,F−1−j]: rotated by 180° and in/out channels exchanged."""
    return np.rot90(w, 2, axes=(2, 3)).transpose(1, 0, 2, 3)


@claim(
    "mint.conv-rot180-kernel",
    location="§3.1.3*, definition of k̂ after the last display",
    statement="""k[c',c,F−1−i,F−1−j] = k̂[c,c',i,j], where k̂ is the kernel rotated by 180° with its output and
    input channels exchanged.""",
    convention=CONV,
    routes=("index", "numpy", "explicit", "fd"),
    expected="holds",
)
def _(ev):
    for g, _x, w, _b, _d in conv_cases(_square(geometries())):
        C_out, C_in, F, _ = w.shape
        by_index = np.empty((C_in, C_out, F, F))
        for c in range(C_in):
            for cp in range(C_out):
                for i in range(F):
                    for j in range(F):
                        by_index[c, cp, i, j] = w[cp, c, F - 1 - i, F - 1 - j]
        ev.written("index", by_index, _rot_swap(w), kinds=("formula", "formula"))
        ev.written("numpy", by_index, w[:, :, ::-1, ::-1].swapaxes(0, 1), kinds=("formula", "formula"))
        # correlating an impulse at the centre of a (2F−1)² image of channel c with the kernel returns
        # y[c', a, b] = k[c', c, F−1−a, F−1−b] = k̂[c, c', a, b]: the package's forward rotates the kernel for us
        impulse_responses = []
        for c in range(C_in):
            img = np.zeros((C_in, 2 * F - 1, 2 * F - 1))
            img[c, F - 1, F - 1] = 1.0
            impulse_responses.append(conv2d(img, w))
        ev.written("explicit", by_index, np.stack(impulse_responses), kinds=("formula", "package"))
        # the same impulse responses from finite differences of the loop correlation (linear in the image)
        fd_responses = []
        for c in range(C_in):
            J = fd_jacobian(lambda img: corr_loops(img[None], w)[0], np.zeros((C_in, 2 * F - 1, 2 * F - 1)))
            e = np.zeros((C_in, 2 * F - 1, 2 * F - 1))
            e[c, F - 1, F - 1] = 1.0
            fd_responses.append((J @ e.ravel()).reshape(C_out, F, F))
        ev.written("fd", by_index, np.stack(fd_responses), kinds=("formula", "fd"))


@claim(
    "mint.conv-input-grad-rot180",
    location="§3.1.3*, last display (δ padded on the left and top with F−1 zeros, correlated with k̂)",
    statement="""Padding ∂L/∂z with F−1 zeros on the left and top side and correlating it with k̂ gives ∂L/∂x.
    As written (padding only left and top) the correlation returns an H'×W' map, not the input's
    (H'+F−1)×(W'+F−1): indices h+i beyond the bottom/right edge of δ are also needed.""",
    convention=CONV,
    routes=("explicit", "fd", "torch"),
    expected="holds-corrected",
    kind="erratum",
    correction="""Pad ∂L/∂z with F−1 zeros on all four sides (a "full" correlation); then
    ∂L/∂x[n,c,h,w] = Σ_{c',i,j} δ̈[n,c',h+i,w+j] k̂[c,c',i,j].""",
)
def _(ev):
    for g, x, w, b, delta in conv_cases(_square(geometries(stride=1, padding=0))):
        F = w.shape[2]
        true = explicit_conv_grads(x, w, delta)[0]
        top_left = np.pad(delta, ((0, 0), (0, 0), (F - 1, 0), (F - 1, 0)))
        all_sides = np.pad(delta, ((0, 0), (0, 0), (F - 1, F - 1), (F - 1, F - 1)))
        as_written = corr_loops(top_left, _rot_swap(w))
        corrected = corr_loops(all_sides, _rot_swap(w))
        ev.both("explicit", as_written, corrected, true, kinds=("formula", "package"))
        ev.corrected("fd", corrected, _fd_conv_grad("x", x, w, delta), kinds=("formula", "fd"))
        ev.corrected("torch", corrected, lambda: torch_conv2d_grads(x, w, delta)[0], kinds=("formula", "torch"))


@claim(
    "mint.stride-forward",
    location="§3.2.1, forward with stride S",
    statement="""With stride S and no padding, the correlation part of the layer is
    z[n,c,h,w] = Σ_{c',i,j} x[n,c',hS+i,wS+j] k[c,c',i,j] (the bias b[c] is left out here as in §3.1; that omission is
    counted once, at mint.conv-forward-unit-stride).""",
    convention=CONV,
    routes=("formula", "explicit", "fd", "torch"),
    expected="holds",
)
def _(ev):
    for g, x, w, b, _d in conv_cases(geometries(padding=0)):
        S = g["stride"]
        H = (x.shape[2] - w.shape[2]) // S + 1
        W = (x.shape[3] - w.shape[3]) // S + 1
        printed = np.einsum("ndhwij,cdij->nchw", _windows(x, w.shape[2], w.shape[3], H, W, S), w)
        ev.written("explicit", printed, conv2d(x, w, stride=S), kinds=("formula", "package"))
        ev.written("fd", printed, fd_conv_forward(x, w, stride=S), kinds=("formula", "fd"))
        ev.written("torch", printed, lambda: torch_conv2d(x, w, None, S), kinds=("formula", "torch"))
        ev.written("formula", printed, corr_loops(x, w, S), kinds=("formula", "formula"))


@claim(
    "mint.stride-kernel-grad-entry",
    location="§3.2.1, second display (x indexed at hS+i, hS+j)",
    statement="""∂L/∂k[c,c',i,j] = Σ_{n,h,w} δ[n,c,h,w] x[n,c',hS+i,hS+j] — the second spatial index of x is
    printed with h (hS+j) instead of w.""",
    convention=CONV,
    routes=("explicit", "fd", "torch"),
    expected="holds-corrected",
    kind="slip",
    correction="∂L/∂k[c,c',i,j] = Σ_{n,h,w} δ[n,c,h,w] x[n,c',hS+i,wS+j].",
)
def _(ev):
    for g, x, w, b, delta in conv_cases(geometries(stride=">1", padding=0)):
        S, (H, W), (kh, kw) = g["stride"], delta.shape[2:], w.shape[2:]
        printed = np.zeros(w.shape)
        fixed = np.zeros(w.shape)
        for h in range(H):
            for ww in range(W):
                for i in range(kh):
                    for j in range(kw):
                        fixed[:, :, i, j] += delta[:, :, h, ww].T @ x[:, :, h * S + i, ww * S + j]
                        jj = h * S + j
                        if jj < x.shape[3]:
                            printed[:, :, i, j] += delta[:, :, h, ww].T @ x[:, :, h * S + i, jj]
        ev.both("explicit", printed, fixed, explicit_conv_grads(x, w, delta, S)[1], kinds=("formula", "package"))
        ev.corrected("fd", fixed, _fd_conv_grad("w", x, w, delta, S), kinds=("formula", "fd"))
        ev.corrected("torch", fixed, lambda: torch_conv2d_grads(x, w, delta, S)[1], kinds=("formula", "torch"))


@claim(
    "mint.stride-kernel-grad-dilated",
    location="§3.2.1, last display (S−1 zeros inserted into ∂L/∂z)",
    statement="""Inserting S−1 zeros between the rows and columns of δ = ∂L/∂z gives δ̌ with
    ∂L/∂k[c,c',i,j] = Σ_n Σ_{h<H'} Σ_{w<W'} δ̌[n,c,h,w] x[n,c',h+i,w+j] (and the batch/channel-swapped
    correlation form). The sums keep the undilated bounds H', W', which drop most of δ̌ when S > 1.""",
    convention=CONV,
    routes=("explicit", "fd", "torch"),
    expected="holds-corrected",
    kind="slip",
    correction="""Sum h, w over the dilated map: h ≤ (H'−1)S, w ≤ (W'−1)S; equivalently ∂L/∂k is the correlation of
    the batch-swapped x̃ with the batch-swapped δ̌ as kernel, cut to F × F.""",
)
def _(ev):
    for g, x, w, b, delta in conv_cases(geometries(stride=">1", padding=0)):
        S, (H, W), (kh, kw) = g["stride"], delta.shape[2:], w.shape[2:]
        dd = dilate(delta, S)
        Hd, Wd = dd.shape[2:]
        printed = np.einsum("nchw,ndhwij->cdij", dd[:, :, :H, :W], _windows(x, kh, kw, H, W))
        fixed = corr_loops(x.transpose(1, 0, 2, 3), dd.transpose(1, 0, 2, 3))[:, :, :kh, :kw].transpose(1, 0, 2, 3)
        ev.both("explicit", printed, fixed, explicit_conv_grads(x, w, delta, S)[1], kinds=("formula", "package"))
        ev.corrected("fd", fixed, _fd_conv_grad("w", x, w, delta, S), kinds=("formula", "fd"))
        ev.corrected("torch", fixed, lambda: torch_conv2d_grads(x, w, delta, S)[1], kinds=("formula", "torch"))
        ev.corrected("explicit", np.einsum("nchw,ndhwij->cdij", dd, _windows(x, kh, kw, Hd, Wd)), fixed, kinds=("formula", "formula"))


def _input_grad_strided(delta, w, in_hw, S, padding=0):
    """Our completion of §3.2.3: dilate δ by S, pad F−1 zeros on every side plus the rows/columns the
    forward never reached at the bottom/right, correlate with k̂, crop the forward padding."""
    pt, pb, pl, pr = pad_sides(padding)
    F_h, F_w = w.shape[2:]
    Hp, Wp = in_hw[0] + pt + pb, in_hw[1] + pl + pr
    dd = dilate(delta, S)
    rest_h = Hp - ((delta.shape[2] - 1) * S + F_h)
    rest_w = Wp - ((delta.shape[3] - 1) * S + F_w)
    ddp = np.pad(dd, ((0, 0), (0, 0), (F_h - 1, F_h - 1 + rest_h), (F_w - 1, F_w - 1 + rest_w)))
    full = corr_loops(ddp, _rot_swap(w))
    return full[:, :, pt : pt + in_hw[0], pl : pl + in_hw[1]]


@claim(
    "mint.stride-input-grad",
    location="§3.2.3 'Gradient to Propagate' (left as //TODO)",
    statement="""The note leaves the input gradient for stride S > 1 open.""",
    convention=CONV,
    routes=("explicit", "rot180", "fd", "torch"),
    expected="completes",
    kind="gap",
    correction="""Insert S−1 zeros between the rows and columns of δ, pad F−1 zeros on every side plus
    (H−F) mod S extra rows at the bottom and (W−F) mod S extra columns at the right (input positions the
    forward never reached), and correlate with k̂ (rotated 180°, channels exchanged):
    ∂L/∂x = corr(pad(dilate_S(δ)), k̂). Implemented as jacobians.ops.conv2d.conv2d_vjp_input_rot180.""",
)
def _(ev):
    for g, x, w, b, delta in conv_cases(geometries(stride=">1", padding=0)):
        S = g["stride"]
        dx = _input_grad_strided(delta, w, x.shape[2:], S)
        ev.corrected("explicit", dx, explicit_conv_grads(x, w, delta, S)[0], kinds=("formula", "package"))
        ev.corrected("rot180", dx, reference_vjp("conv2d", delta, "x", route="vjp:rot180", x=x, weight=w, stride=S), kinds=("formula", "package"))
        ev.corrected("fd", dx, _fd_conv_grad("x", x, w, delta, S), kinds=("formula", "fd"))
        ev.corrected("torch", dx, lambda: torch_conv2d_grads(x, w, delta, S)[0], kinds=("formula", "torch"))


@claim(
    "mint.padding-gradients",
    location="§3.0 announces (F, S, P); padding P is never treated",
    statement="""The note's gradients assume no padding although §3.0 lists padding among the hyper-parameters.""",
    convention=CONV,
    routes=("explicit", "fd", "vjp:im2col", "vjp:rot180", "fd:forward", "torch"),
    expected="completes",
    kind="gap",
    correction="""With zero padding P (any per-side amounts): the kernel and bias gradients are the unpadded
    formulas applied to the padded input; the input gradient is the full correlation of the (dilated) δ
    with k̂ computed over the padded input and then cropped by the padding.""",
)
def _(ev):
    for g, x, w, b, delta in conv_cases(geometries(padding=">0")):
        S, P = g["stride"], g["padding"]
        pt, pb, pl, pr = pad_sides(P)
        xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
        dx = _input_grad_strided(delta, w, x.shape[2:], S, P)
        kh, kw = w.shape[2:]
        dk = np.einsum("nchw,ndhwij->cdij", delta, _windows(xp, kh, kw, *delta.shape[2:], S))
        ex = explicit_conv_grads(x, w, delta, S, P)
        ev.corrected("explicit", dx, ex[0], kinds=("formula", "package"))
        ev.corrected("explicit", dk, ex[1], kinds=("formula", "package"))
        ev.corrected("fd", dx, _fd_conv_grad("x", x, w, delta, S, P), kinds=("formula", "fd"))
        ev.corrected("fd", dk, _fd_conv_grad("w", x, w, delta, S, P), kinds=("formula", "fd"))
        # the package's two VJP routes (col2im fold; full correlation with the rotated kernel, then cropped) and
        # differences of the package's forward, all with the per-side padding
        for route in ("vjp:im2col", "vjp:rot180"):
            ev.corrected(route, dx, reference_vjp("conv2d", delta, "x", route=route, x=x, weight=w, stride=S, padding=P), kinds=("formula", "package"))
            ev.corrected(route, dk, reference_vjp("conv2d", delta, "weight", route=route, x=x, weight=w, stride=S, padding=P), kinds=("formula", "package"))
        ev.corrected("fd:forward", dx, reference_vjp("conv2d", delta, "x", route="fd", x=x, weight=w, stride=S, padding=P), kinds=("formula", "fd"))
        ev.corrected("fd:forward", dk, reference_vjp("conv2d", delta, "weight", route="fd", x=x, weight=w, stride=S, padding=P), kinds=("formula", "fd"))
        ev.corrected("torch", dx, lambda: torch_conv2d_grads(x, w, delta, S, P)[0], kinds=("formula", "torch"))
        ev.corrected("torch", dk, lambda: torch_conv2d_grads(x, w, delta, S, P)[1], kinds=("formula", "torch"))


@claim(
    "mint.preset-order",
    location="§1 and §3.0 (maps N, C, H, W; elementwise sums over c', i, j with 0-based indices)",
    statement="""The note stores maps as N × C × H × W arrays indexed x[n, c, h, w] (0-based), last index fastest, which is the
    package's preset ``mint`` (row-major, channels first): for one 2 × 2 × 3 map the order is x[0,0,0], x[0,0,1],
    x[0,0,2], x[0,1,0], …, x[1,1,2].""",
    convention=CONV,
    routes=("index", "loops"),
    expected="holds",
)
def _(ev):
    from ._tools import coded_tensor, preset_order

    x = coded_tensor(2, 2, 3)  # [c, h, w] ↦ 100(c+1) + 10(h+1) + (w+1)
    listed = [111, 112, 113, 121, 122, 123, 211, 212, 213, 221, 222, 223]
    ev.written("index", listed, preset_order("mint", x), kinds=("exact", "package"))
    loops = [int(x[c, h, w]) for c in range(2) for h in range(2) for w in range(3)]  # the note's index nesting
    ev.written("loops", loops, preset_order("mint", x), kinds=("formula", "package"))


@claim(
    "mint.activation-step",
    location="§1 (x^{l+1} = σ(z^l)) and §2 (the linear layer's gradients start from ∂L/∂z)",
    statement="""The note's layers apply an activation x^{l+1} = σ(z^l), but it never writes the step from ∂L/∂x^{l+1} to
    ∂L/∂z^l that the linear layer's formulas need.""",
    convention=LIN,
    routes=("fd", "explicit", "torch"),
    expected="completes",
    kind="gap",
    correction="∂L/∂z = ∂L/∂x^{l+1} ⊙ σ′(z) (elementwise), e.g. σ′ = σ(1 − σ) for the sigmoid, 1 − tanh² for tanh.",
)
def _(ev):
    ev.gap("the activation step is not written")
    for n, mi, mo, x, W, b, g in _linear_cases():
        z = x @ W + b
        for name, f, df in (("sigmoid", lambda v: 1 / (1 + np.exp(-v)), lambda v: np.exp(-v) / (1 + np.exp(-v)) ** 2), ("tanh", np.tanh, lambda v: 1 - np.tanh(v) ** 2)):
            step = g * df(z)
            ev.corrected("fd", step, fd_gradient(lambda z_, f=f: float(np.sum(g * f(z_))), z), kinds=("formula", "fd"))
            ev.corrected("explicit", step, reference_vjp(name, g, "z", z=z), kinds=("formula", "package"))

            def t_fn(z=z, g=g, name=name):
                import torch

                zt = torch.tensor(z, requires_grad=True)
                (torch.as_tensor(g) * getattr(torch, name)(zt)).sum().backward()
                return zt.grad.numpy()

            ev.corrected("torch", step, t_fn, kinds=("formula", "torch"))


@claim(
    "mint.conv-output-size",
    location="§3.0 (Z = X * K + b with hyper-parameters F, S, P; the output size H′ × W′ is used but not given)",
    statement="""The note uses the output size H′ × W′ throughout without giving it in terms of H, W, F, S and P.""",
    convention=CONV,
    routes=("explicit", "index", "torch"),
    expected="completes",
    kind="gap",
    correction="H′ = ⌊(H + 2P − F)/S⌋ + 1 and W′ = ⌊(W + 2P − F)/S⌋ + 1 (per-side padding: H + P_top + P_bottom − F).",
)
def _(ev):
    ev.gap("the output size is not given")
    for H, W, F, S, P in ((7, 6, 3, 1, 0), (8, 7, 3, 2, 1), (9, 8, 2, 3, 0), (6, 9, 3, 2, 2)):
        formula = ((H + 2 * P - F) // S + 1, (W + 2 * P - F) // S + 1)
        ev.corrected("explicit", formula, conv2d(np.zeros((1, H, W)), np.zeros((1, 1, F, F)), stride=S, padding=P).shape[1:], kinds=("formula", "package"))
        counted = (len(range(0, H + 2 * P - F + 1, S)), len(range(0, W + 2 * P - F + 1, S)))  # window starts that fit
        ev.corrected("index", formula, counted, kinds=("formula", "exact"))
        ev.corrected("torch", formula, lambda H=H, W=W, F=F, S=S, P=P: tuple(torch_conv2d(np.zeros((1, 1, H, W)), np.zeros((1, 1, F, F)), None, S, P).shape[2:]), kinds=("formula", "torch"))


@claim(
    "mint.stride-kernel-grad-crop",
    location="§3.2.1, kernel gradient with stride S as a correlation of x with the dilated δ̌",
    statement="""With stride S the note correlates x (H × W) with the dilated δ̌ ((H′−1)S+1 rows) and calls the
    result ∂L/∂k, but never says what happens when r = (H − F) mod S ≠ 0: the correlation is then F + r_H rows by
    F + r_W columns, not F × F (the audit's mint.conv-dK-stride-crop-when-remainder).""",
    convention=CONV,
    routes=("shape", "explicit", "fd", "torch"),
    expected="completes",
    kind="gap",
    correction="""The stride-1 correlation of x with δ̌ is (F + r_H) × (F + r_W); keep its first F rows and F columns
    (the last r rows/columns of x are never reached by the forward): ∂L/∂k[c,c',i,j] = Σ_{n,h,w} δ̌[n,c,h,w]
    x[n,c',h+i,w+j] for i, j < F.""",
)
def _(ev):
    ev.gap("the note does not give the size of the correlation when (H − F) mod S ≠ 0")
    # (N, C_in, C_out, H, W, F, S): remainder in H only, W only, both
    for seed, (N, ci, co, H, W, F, S) in enumerate(((2, 2, 3, 8, 7, 3, 2), (1, 3, 2, 7, 8, 3, 2), (2, 2, 2, 8, 8, 3, 2), (1, 2, 3, 10, 9, 3, 3))):
        r = rng(100 + seed)
        x, w = r.standard_normal((N, ci, H, W)), r.standard_normal((co, ci, F, F))
        Ho, Wo = (H - F) // S + 1, (W - F) // S + 1
        delta = r.standard_normal((N, co, Ho, Wo))
        dd = dilate(delta, S)
        Hd, Wd = dd.shape[2:]
        # the correlation written out with index sums: every offset (i, j) at which δ̌ fits inside x
        full = np.zeros((co, ci, H - Hd + 1, W - Wd + 1))
        for i in range(full.shape[2]):
            for j in range(full.shape[3]):
                full[:, :, i, j] = np.einsum("nchw,ndhw->cd", dd, x[:, :, i : i + Hd, j : j + Wd])
        ev.corrected("shape", full.shape[2:], (F + (H - F) % S, F + (W - F) % S), kinds=("formula", "exact"))
        cropped = full[:, :, :F, :F]
        ev.corrected("explicit", cropped, explicit_conv_grads(x, w, delta, S)[1], kinds=("formula", "package"))
        ev.corrected("fd", cropped, _fd_conv_grad("w", x, w, delta, S), kinds=("formula", "fd"))
        ev.corrected("torch", cropped, lambda x=x, w=w, delta=delta, S=S: torch_conv2d_grads(x, w, delta, S)[1], kinds=("formula", "torch"))
