"""Claims of Harsha Vardhan, "Convolutional Neural Network: back-propagation for 2D-convolution" (2022) — key ``vardhan2022``.

Convention of the note: _vA = vec(A) stacks the columns of a matrix
(column-major); for a tensor with c channels it is the (mn × c) matrix of
the channels' vecs, and a derivative dJ/d_vA is the c × mn matrix whose row
j is dJ/d_vA_j. Derivatives are numerator-layout Jacobians (rows = outputs);
gradients are their transposes. 1-based indices, symmetric padding (h_p, w_p),
stride (h_s, w_s), "convolution" = correlation. Average pooling is a
correlation with P = 1/(h_l·w_l) (padding zeros counted); max pooling lets
padding zeros take part in the max (max{0, …}).

Routes: the note's constructions implemented literally (one-hot columns
vec(E_pq * K), vec(A * E_pq); switches and index formulas b-2.1 … b-2.3),
the package's explicit Jacobians converted with the ``vardhan2022``
permutation, finite differences, sympy for Appendix A, torch autograd.
"""
from __future__ import annotations

import numpy as np

from .. import avg_pool2d, conv2d, im2col, max_pool2d
from ..claims import claim, reference_jacobian, reference_vjp
from ._tools import corr_loops, fd_gradient, fd_jacobian, rng, symbol_matrix, torch_grad, torch_jacobian

CONV = "column-major vec per channel, channels stacked as rows; numerator layout; 1-based; symmetric padding"


def vecF(a):
    return np.asarray(a).reshape(-1, order="F")


def unvecF(v, shape):
    return np.asarray(v).reshape(shape, order="F")


def corr2(A, K, pad=(0, 0), stride=(1, 1)):
    """Single-channel correlation with symmetric padding (h_p, w_p) and stride (h_s, w_s)."""
    ph, pw = pad
    return corr_loops(np.asarray(A, float)[None, None], np.asarray(K, float)[None, None], stride, (ph, ph, pw, pw))[0, 0]


def onehot(shape, p, q):
    E = np.zeros(shape)
    E[p, q] = 1.0
    return E


def kernel_jacobian(A, kshape, pad, stride):
    """The note's d_vZ/d_vK: column (p, q) (column-major order) = vec(A * E_pq)."""
    cols = [vecF(corr2(A, onehot(kshape, p, q), pad, stride)) for q in range(kshape[1]) for p in range(kshape[0])]
    return np.stack(cols, axis=1)


def input_jacobian(ashape, K, pad, stride):
    """The note's d_vZ/d_vA: column (p, q) (column-major order) = vec(E_pq * K)."""
    cols = [vecF(corr2(onehot(ashape, p, q), K, pad, stride)) for q in range(ashape[1]) for p in range(ashape[0])]
    return np.stack(cols, axis=1)


def out_size(n, k, p, s):
    return int(np.floor((n + 2 * p - k) / s + 1))


# ---------------------------------------------------------------------------
# the note's three-layer network: conv → sigmoid → avg-pool, twice, then FC → softmax → cross-entropy
# ---------------------------------------------------------------------------
def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


NET = dict(
    c0=2, h0=7, w0=8,
    c1=3, k1=(2, 3), pad1=(1, 0), stride1=(1, 1), pool1=(2, 2), ppad1=(0, 0), pstride1=(2, 2),
    c2=2, k2=(2, 2), pad2=(1, 1), stride2=(1, 2), pool2=(2, 1), ppad2=(0, 0), pstride2=(1, 1),
    n3=4,
)  # fmt: skip


def conv_layer(A, K, b, pad, stride):
    """Z_j = Σ_i A_i * K_{j,i} + b_j 1 (the note's §2 forward), channel by channel."""
    return np.stack([sum(corr2(A[i], K[j, i], pad, stride) for i in range(A.shape[0])) + b[j] for j in range(K.shape[0])])


def pool_kernel(window):
    """The note's P: the h_l × w_l matrix of entries 1/(h_l·w_l)."""
    return np.full(window, 1.0 / (window[0] * window[1]))


def avg_pool(I, window, pad, stride):
    return np.stack([corr2(Ij, pool_kernel(window), pad, stride) for Ij in I])


def avg_pool_jacobian(ishape, window, pad, stride):
    """The note's d_vA_j/d_vI_j (§3.1.3): column (p, q) (column-major order) = vec(E_pq * P), the same for every channel."""
    return input_jacobian(ishape, pool_kernel(window), pad, stride)


def net_params(seed=0, **over):
    cfg = dict(NET, **over)
    r = rng(seed)
    K1 = r.standard_normal((cfg["c1"], cfg["c0"], *cfg["k1"]))
    b1 = r.standard_normal(cfg["c1"]) * 0.1
    K2 = r.standard_normal((cfg["c2"], cfg["c1"], *cfg["k2"]))
    b2 = r.standard_normal(cfg["c2"]) * 0.1
    A0 = r.standard_normal((cfg["c0"], cfg["h0"], cfg["w0"]))
    fwd = forward(dict(A0=A0, K1=K1, b1=b1, K2=K2, b2=b2, W3=None, b3=None, y=None), cfg)
    n2 = fwd["B2"].size
    W3 = r.standard_normal((n2, cfg["n3"])) * 0.5
    b3 = r.standard_normal(cfg["n3"]) * 0.1
    y = np.zeros(cfg["n3"])
    y[seed % cfg["n3"]] = 1.0
    return dict(A0=A0, K1=K1, b1=b1, K2=K2, b2=b2, W3=W3, b3=b3, y=y), cfg


def forward(p, cfg):
    v = {}
    v["Z1"] = conv_layer(p["A0"], p["K1"], p["b1"], cfg["pad1"], cfg["stride1"])
    v["I1"] = sigmoid(v["Z1"])
    v["A1"] = avg_pool(v["I1"], cfg["pool1"], cfg["ppad1"], cfg["pstride1"])
    v["Z2"] = conv_layer(v["A1"], p["K2"], p["b2"], cfg["pad2"], cfg["stride2"])
    v["I2"] = sigmoid(v["Z2"])
    v["A2"] = avg_pool(v["I2"], cfg["pool2"], cfg["ppad2"], cfg["pstride2"])
    v["B2"] = np.concatenate([vecF(a) for a in v["A2"]])  # channels stacked, each column-major
    if p.get("W3") is not None:
        v["Z3"] = p["W3"].T @ v["B2"] + p["b3"]
        v["A3"] = softmax(v["Z3"])
        v["J"] = -float(p["y"] @ np.log(v["A3"]))
    return v


#: the input and the intermediates up to the FC layer, in the order the forward computes them
_STAGES = ("A0", "Z1", "I1", "A1", "Z2", "I2", "A2", "B2")


def loss_from(p, cfg, name, value):
    """J recomputed with numpy from the value ``name`` (one of :data:`_STAGES`) set to ``value``:
    the function whose finite differences check the gradients w.r.t. intermediates."""
    steps = {
        "A0": lambda A0: conv_layer(A0, p["K1"], p["b1"], cfg["pad1"], cfg["stride1"]),
        "Z1": sigmoid,
        "I1": lambda I1: avg_pool(I1, cfg["pool1"], cfg["ppad1"], cfg["pstride1"]),
        "A1": lambda A1: conv_layer(A1, p["K2"], p["b2"], cfg["pad2"], cfg["stride2"]),
        "Z2": sigmoid,
        "I2": lambda I2: avg_pool(I2, cfg["pool2"], cfg["ppad2"], cfg["pstride2"]),
        "A2": lambda A2: np.concatenate([vecF(a) for a in A2]),  # B2: channels stacked, each column-major
    }
    x = value
    for stage in _STAGES[_STAGES.index(name) : -1]:
        x = steps[stage](x)
    return -float(p["y"] @ np.log(softmax(p["W3"].T @ x + p["b3"])))


def loss_with(p, cfg, **changes):
    q = dict(p)
    q.update(changes)
    return forward(q, cfg)["J"]


def fd_param_grad(p, cfg, name):
    """∂J/∂(parameter ``name``) by central differences of the numpy forward (:func:`loss_with`)."""
    return fd_gradient(lambda value: loss_with(p, cfg, **{name: value}), p[name])


def _torch_loss_from(t, cfg, name, x):
    """J by torch (the torch twin of :func:`loss_from`): the network run from the value ``name`` (one of
    :data:`_STAGES`) set to the tensor ``x``; ``t`` maps the parameter names (K1, b1, K2, b2, W3, b3, y) to tensors."""
    import torch
    import torch.nn.functional as F

    def conv(A, k):
        return F.conv2d(A[None], t[f"K{k}"], t[f"b{k}"], stride=cfg[f"stride{k}"], padding=cfg[f"pad{k}"])[0]

    def pool(I, k):
        return F.avg_pool2d(I[None], cfg[f"pool{k}"], cfg[f"pstride{k}"], cfg[f"ppad{k}"], count_include_pad=True)[0]

    steps = {
        "A0": lambda A0: conv(A0, 1),
        "Z1": torch.sigmoid,
        "I1": lambda I1: pool(I1, 1),
        "A1": lambda A1: conv(A1, 2),
        "Z2": torch.sigmoid,
        "I2": lambda I2: pool(I2, 2),
        "A2": lambda A2: torch.cat([a.T.reshape(-1) for a in A2]),  # B2: channels stacked, each column-major
    }
    for stage in _STAGES[_STAGES.index(name) : -1]:
        x = steps[stage](x)
    return -(t["y"] @ torch.log_softmax(t["W3"].T @ x + t["b3"], 0))


def torch_net_grad(p, cfg, wrt):
    """∂J/∂(parameter ``wrt``) by torch autograd of the same network."""
    import torch

    t = {k: torch.tensor(v, requires_grad=(k == wrt)) for k, v in p.items() if v is not None}
    _torch_loss_from(t, cfg, "A0", t["A0"]).backward()
    return t[wrt].grad.numpy()


def _torch_grad_wrt(p, cfg, name, value):
    """dJ/d_v(intermediate ``name``) as rows (one per channel) by torch autograd, the network re-run from
    ``name`` (Z1, I1, A1, Z2, I2 or A2) set to ``value``."""
    import torch

    t = {k: torch.as_tensor(v) for k, v in p.items() if v is not None}
    return rows_of(torch_grad(lambda x: _torch_loss_from(t, cfg, name, x), value))


_BACKWARD_CACHE: dict = {}


def backward_note(p, cfg):
    """Cached :func:`_backward_note` (the networks are fixed; several claims read the same pass)."""
    key = id(p)
    if key not in _BACKWARD_CACHE:
        _BACKWARD_CACHE[key] = (p, _backward_note(p, cfg))
    return _BACKWARD_CACHE[key][1]


def _backward_note(p, cfg):
    """The note's §3.1 backward pass, implemented with its own Jacobians (numerator layout, column-major vec)."""
    v = forward(p, cfg)
    d = {}
    a3 = v["A3"]
    dJ_dA3 = -(p["y"] / a3)  # row
    dA3_dZ3 = np.diag(a3) - np.outer(a3, a3)
    d["Z3"] = dJ_dA3 @ dA3_dZ3
    d["W3"] = np.outer(d["Z3"], v["B2"])  # (dJ/dZ3)ᵀ (B2)ᵀ
    d["b3"] = d["Z3"]
    d["B2"] = d["Z3"] @ p["W3"].T
    c2 = cfg["c2"]
    d["A2"] = d["B2"].reshape(c2, -1)  # rows = channels
    pool_jac2 = avg_pool_jacobian(v["I2"].shape[1:], cfg["pool2"], cfg["ppad2"], cfg["pstride2"])
    d["pool_jac2"] = pool_jac2
    d["I2"] = d["A2"] @ pool_jac2
    d["Z2"] = _through_sigmoid(d["I2"], v["I2"])
    A1 = v["A1"]
    d["K2"] = _kernel_rows(d["Z2"], A1, cfg["k2"], cfg["pad2"], cfg["stride2"])
    d["b2"] = d["Z2"] @ np.ones(d["Z2"].shape[1])
    d["A1"] = np.stack(
        [sum(d["Z2"][j] @ input_jacobian(A1.shape[1:], p["K2"][j, i], cfg["pad2"], cfg["stride2"]) for j in range(c2)) for i in range(cfg["c1"])]
    )
    d["I1"] = d["A1"] @ avg_pool_jacobian(v["I1"].shape[1:], cfg["pool1"], cfg["ppad1"], cfg["pstride1"])
    d["Z1"] = _through_sigmoid(d["I1"], v["I1"])
    d["K1"] = _kernel_rows(d["Z1"], p["A0"], cfg["k1"], cfg["pad1"], cfg["stride1"])
    d["b1"] = d["Z1"] @ np.ones(d["Z1"].shape[1])
    return v, d


def _through_sigmoid(dI, I):
    """dJ/d_vZ from dJ/d_vI (rows = channels) through I = σ(Z), channel by channel:
    row j times d_vI_j/d_vZ_j = diag(vec(I_j ∘ (1 − I_j)))."""
    return np.stack([dI[j] @ np.diag(vecF(I[j] * (1 - I[j]))) for j in range(I.shape[0])])


def _kernel_rows(dZ, A, kshape, pad, stride):
    """(c_out, c_in, hk·wk): rows dJ/d_vK_{j,i} = dJ/d_vZ_j · d_vZ_j/d_vK_{j,i}, the latter the note's kernel Jacobian of A_i."""
    return np.stack([np.stack([dZ[j] @ kernel_jacobian(A[i], kshape, pad, stride) for i in range(A.shape[0])]) for j in range(dZ.shape[0])])


def torch_and_explicit(record, p, cfg, name, got):
    """Compare ``got`` (∂J/∂p[name], shaped like the parameter) with torch autograd and — for the third
    network, :class:`jacobians.networks.Vardhan2022Net` — its chained explicit Jacobians.

    ``record`` is ``ev.written`` or ``ev.corrected``; the two routes stay independent of each other.
    """
    record("torch", got, lambda: torch_net_grad(p, cfg, name), kinds=("formula", "torch"))
    if explicit_grads(p) is not None:
        record("explicit", got, explicit_grads(p)[name], kinds=("formula", "package"))


def _pkg_grad_wrt(p, cfg, name):
    """dJ/d(intermediate ``name``) as rows (one per channel) by the package's VJPs, chained from the loss down.

    Softmax–cross-entropy, the FC layer Wᵀ B + b, the channel-stacked column-major flatten, average pooling, the sigmoid
    and the convolutions are each the package's registered operator (``reference_vjp``: the explicit route, the col2im
    route for pooling and the rot180 route for the convolutions, whose strides here differ between the axes); nothing
    of the note's backward pass (:func:`_backward_note`) is reused — only the forward values.
    """
    v = forward(p, cfg)
    g = reference_vjp("softmax_cross_entropy", np.array(1.0), "s", s=v["Z3"], y=p["y"])
    if name == "Z3":
        return g
    g = reference_vjp("linear_wtb_b", g, "b_vec", b_vec=v["B2"], weight=p["W3"], bias=p["b3"])
    if name == "B2":
        return g
    g = reference_vjp("vec", g, "x", x=v["A2"], convention="vardhan2022")
    down = (
        ("A2", lambda g: reference_vjp("avg_pool2d", g, "x", route="vjp:col2im", x=v["I2"], kernel_size=cfg["pool2"], stride=cfg["pstride2"], padding=cfg["ppad2"])),
        ("I2", lambda g: reference_vjp("sigmoid", g, "z", z=v["Z2"])),
        ("Z2", lambda g: reference_vjp("conv2d", g, "x", route="vjp:rot180", x=v["A1"], weight=p["K2"], bias=p["b2"], stride=cfg["stride2"], padding=cfg["pad2"])),
        ("A1", lambda g: reference_vjp("avg_pool2d", g, "x", route="vjp:col2im", x=v["I1"], kernel_size=cfg["pool1"], stride=cfg["pstride1"], padding=cfg["ppad1"])),
        ("I1", lambda g: reference_vjp("sigmoid", g, "z", route="vjp:elementwise", z=v["Z1"])),
        ("Z1", lambda g: reference_vjp("conv2d", g, "x", route="vjp:rot180", x=p["A0"], weight=p["K1"], bias=p["b1"], stride=cfg["stride1"], padding=cfg["pad1"])),
    )
    for stage, step in down:
        if stage == name:
            return rows_of(g)
        g = step(g)
    return rows_of(g)  # A0


def rows_to_tensor(rows, shape):
    """The note's c × hw rows (row j = vecF(channel j)) → the (c, h, w) tensor."""
    return np.stack([unvecF(r_, shape[1:]) for r_ in rows])


def rows_to_kernel(rows, kshape):
    """(c_out, c_in, hk·wk) rows dJ/d_vK_{j,i} → gradient tensor (c_out, c_in, hk, wk) (column-major unvec)."""
    return np.stack([np.stack([unvecF(r_, kshape) for r_ in row]) for row in rows])


def rows_of(grad):
    """Gradient tensor (c, h, w) → the note's c × hw matrix (row j = vecF(channel j))."""
    return np.stack([vecF(g) for g in grad])


_SEEDS = (0, 1)
_OVERRIDES = ({}, dict(c0=1, h0=6, w0=9, c1=2, k1=(3, 2), c2=3, k2=(2, 3), pad2=(0, 1), stride2=(2, 1), pool2=(1, 2), n3=3))


_NETS: list = []
#: id(values) -> jacobians.networks.Vardhan2022Net built on the same values (the third network)
_NETWORK: dict = {}

#: the geometry of jacobians.networks.Vardhan2022Net (conv stride (1, 2) padding 1; 2×2 pooling;
#: conv stride 1; Appendix B's (3, 2) pooling window with padding (1, 1) and stride (1, 2))
_NETWORK_CFG = dict(
    NET, c0=2, h0=7, w0=18, c1=3, k1=(2, 2), pad1=(1, 1), stride1=(1, 2), pool1=(2, 2), ppad1=(0, 0), pstride1=(2, 2),
    c2=2, k2=(2, 2), pad2=(0, 0), stride2=(1, 1), pool2=(3, 2), ppad2=(1, 1), pstride2=(1, 2), n3=4,
)  # fmt: skip


def _nets():
    """The three fixed networks (built once; their arrays are never modified). The third is
    :class:`jacobians.networks.Vardhan2022Net`, whose chained explicit sparse Jacobians give the
    ``explicit`` route of the gradient claims."""
    if not _NETS:
        from .. import Vardhan2022Net

        _NETS.extend(net_params(s, **o) for s, o in zip(_SEEDS, _OVERRIDES))
        net = Vardhan2022Net.sample(3)
        values = {k: np.asarray(v) for k, v in net.values.items()}
        _NETWORK[id(values)] = net
        _NETS.append((values, _NETWORK_CFG))
    return _NETS


_EXPLICIT_GRADS: dict = {}


def explicit_grads(p):
    """Gradients of the third network by its chained explicit Jacobians; None for the other two."""
    net = _NETWORK.get(id(p))
    if net is None:
        return None
    if id(p) not in _EXPLICIT_GRADS:
        _EXPLICIT_GRADS[id(p)] = net.explicit_gradients()
    return _EXPLICIT_GRADS[id(p)]


def _conv_entry_loops(A, K, b, pad, stride):
    """Z[j, r, c] = b_j + Σ_{i, u, w} K[j, i, u, w] · Ã_i[r·h_s + u, c·w_s + w] over the zero-padded Ã, entry by entry."""
    Ap = np.pad(A, ((0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    hk, wk = K.shape[2:]
    hz, wz = out_size(A.shape[1], hk, pad[0], stride[0]), out_size(A.shape[2], wk, pad[1], stride[1])
    Z = np.zeros((K.shape[0], hz, wz))
    for j in range(K.shape[0]):
        for r_ in range(hz):
            for c in range(wz):
                Z[j, r_, c] = b[j] + sum(
                    K[j, i, u, w] * Ap[i, r_ * stride[0] + u, c * stride[1] + w] for i in range(A.shape[0]) for u in range(hk) for w in range(wk)
                )
    return Z


def _fd_linear_conv(A, K, b, pad, stride):
    """Z as J_fd · vec(K) + b: the layer is affine in K, so its finite-difference Jacobian w.r.t. K reproduces it."""
    from ..claims import reference_jacobian

    J = reference_jacobian("conv2d", "weight", route="fd", x=A, weight=K, stride=stride, padding=pad)
    Z0 = conv2d(A, np.zeros_like(K), b, stride=stride, padding=pad)
    return (J @ K.ravel()).reshape(Z0.shape) + Z0


# ---------------------------------------------------------------------------
# §2 forward and sizes
# ---------------------------------------------------------------------------
@claim(
    "vardhan2022.forward-conv-layer",
    location="§2 Forward Propagation, Z_j = Σ_i A_i * K_{j,i} + b_j 1",
    statement="""Output channel j of a convolutional layer is the sum over input channels i of A_i * K_{j,i} (with the
    layer's padding and stride) plus b_j times the all-ones matrix.""",
    convention=CONV,
    routes=("explicit", "loops", "fd", "torch"),
    expected="holds",
)
def _(ev):
    for p, cfg in _nets():
        for A, K, b, pad, st in ((p["A0"], p["K1"], p["b1"], cfg["pad1"], cfg["stride1"]), (forward(p, cfg)["A1"], p["K2"], p["b2"], cfg["pad2"], cfg["stride2"])):
            Z = conv_layer(A, K, b, pad, st)
            ev.written("explicit", Z, conv2d(A, K, b, stride=st, padding=pad), kinds=("formula", "package"))
            # the same sum written as one loop over every output entry, input channel and kernel tap
            ev.written("loops", Z, _conv_entry_loops(A, K, b, pad, st), kinds=("formula", "formula"))
            ev.written("fd", Z, lambda A=A, K=K, b=b, pad=pad, st=st: _fd_linear_conv(A, K, b, pad, st), kinds=("formula", "fd"))

            def t_fn(A=A, K=K, b=b, pad=pad, st=st):
                import torch

                return torch.nn.functional.conv2d(torch.as_tensor(A)[None], torch.as_tensor(K), torch.as_tensor(b), stride=st, padding=pad)[0].numpy()

            ev.written("torch", Z, t_fn, kinds=("formula", "torch"))


@claim(
    "vardhan2022.output-size-formula",
    location="§2 Note (and App. B's pooled size)",
    statement="""An h_a × w_a input, an h_k × w_k kernel, stride (h_s, w_s) and padding (h_p, w_p) give
    h_z = ⌊(h_a + 2h_p − h_k)/h_s + 1⌋ and w_z = ⌊(w_a + 2w_p − w_k)/w_s + 1⌋.""",
    convention=CONV,
    routes=("package", "index", "torch"),
    expected="holds",
)
def _(ev):
    from .. import output_size

    cases = [(n, k, p_, s) for n in range(3, 9) for k in range(1, 4) for p_ in range(0, 2) for s in range(1, 4) if n + 2 * p_ >= k]
    few = cases[::7]  # torch is slow per call: a spread-out subset
    note = np.array([out_size(n, k, p_, s) for n, k, p_, s in cases])
    ev.written("package", note, np.array([output_size(n, k, s, p_, p_, 1) for n, k, p_, s in cases]), kinds=("formula", "package"))
    # window positions counted one by one: start 0, s, 2s, … while the window still fits in the padded length
    counted = np.array([sum(1 for start in range(0, n + 2 * p_, s) if start + k <= n + 2 * p_) for n, k, p_, s in cases])
    ev.written("index", note, counted, kinds=("formula", "exact"))

    def t_sizes():
        import torch

        return np.array([torch.nn.functional.conv2d(torch.zeros(1, 1, n, 1), torch.zeros(1, 1, k, 1), stride=(s, 1), padding=(p_, 0)).shape[2] for n, k, p_, s in few])

    ev.written("torch", np.array([out_size(n, k, p_, s) for n, k, p_, s in few]), t_sizes, kinds=("formula", "torch"))


@claim(
    "vardhan2022.gd-update",
    location="§3 Optimization: gradient-descent",
    statement="""K_{j,i} := K_{j,i} − α ∇_{K_{j,i}} J and b := b − α ∇_b J: the gradients have the parameters' shapes and a
    small step decreases J.""",
    convention=CONV,
    routes=("shape", "descent"),
    expected="holds",
)
def _(ev):
    for p, cfg in _nets():
        v, d = backward_note(p, cfg)
        grads = dict(K1=rows_to_kernel(d["K1"], cfg["k1"]), b1=d["b1"], K2=rows_to_kernel(d["K2"], cfg["k2"]), b2=d["b2"])
        before = loss_with(p, cfg)
        for name, g in grads.items():
            ev.written("shape", g.shape, p[name].shape, kinds=("formula", "exact"))
            after = loss_with(p, cfg, **{name: p[name] - 1e-3 * g})
            # first order: J(θ − αg) ≈ J(θ) − α|g|²; the step must decrease J by about that much
            ev.written("descent", (before - after) / (1e-3 * float(np.sum(g * g))), 1.0, tol=1e-2, kinds=("formula", "fd"))


@claim(
    "vardhan2022.trace-trick",
    location="§3.1, dJ = tr(dJ); dy = tr(A dX) ⇒ dy/dX = A",
    statement="""If the differential of a scalar is massaged into dy = tr(A dX), the numerator-layout derivative is dy/dX = A
    (so the gradient, shaped like X, is Aᵀ).""",
    convention=CONV,
    routes=("fd", "symbolic"),
    expected="holds",
)
def _(ev):
    import sympy

    r = rng(21)
    for m, n in ((2, 3), (4, 2)):
        A = r.standard_normal((n, m))  # dy = tr(A dX) with X m × n
        X = r.standard_normal((m, n))
        grad = fd_gradient(lambda X_: np.trace(A @ X_), X)
        ev.written("fd", A, grad.T, kinds=("formula", "fd"))
    Xs = symbol_matrix("x", 2, 3)
    As = symbol_matrix("a", 3, 2)
    y = (As * Xs).trace()
    dydX = sympy.Matrix(3, 2, lambda i, j: sympy.diff(y, Xs[j, i]))  # numerator layout: n × m
    ev.written("symbolic", As, dydX, kinds=("formula", "sympy"))


@claim(
    "vardhan2022.vec-definitions",
    location="§3.1, definition of _vA (matrix: stack columns; tensor: mn × c matrix of channel vecs)",
    statement="""_vA stacks the columns of an m × n matrix into an mn × 1 vector; for an m × n × c tensor it is the mn × c
    matrix whose column j is _vA_j.""",
    convention=CONV,
    routes=("numpy", "convention", "index"),
    expected="holds",
)
def _(ev):
    from .. import get_convention, vec

    conv = get_convention("vardhan2022")
    r = rng(22)
    for c, m, n in ((1, 3, 4), (3, 2, 5)):
        T = r.standard_normal((c, m, n))
        by_columns = np.stack([np.concatenate([T[j][:, k] for k in range(n)]) for j in range(c)], axis=1)
        ev.written("numpy", by_columns, np.stack([vecF(T[j]) for j in range(c)], axis=1), kinds=("formula", "formula"))
        ev.written("convention", by_columns, vec(T, conv).reshape(c, m * n).T, kinds=("formula", "package"))
        # the note's literal list for a 3 × 4 matrix: a11, a21, a31, a12, …, a34 (integers ij stand for a_ij)
        codes = np.array([[10 * i + j for j in range(1, 5)] for i in range(1, 4)])
        ev.written("index", np.concatenate([codes[:, k] for k in range(4)]), [11, 21, 31, 12, 22, 32, 13, 23, 33, 14, 24, 34], kinds=("formula", "exact"))


# ---------------------------------------------------------------------------
# §3.1.1 fully-connected layer
# ---------------------------------------------------------------------------
@claim(
    "vardhan2022.fc-chain-dJdZ3",
    location="§3.1.1, dJ/dZ^[3] = dJ/dA^[3] · dA^[3]/dZ^[3] (with the two displayed Jacobians)",
    statement="""dJ/dZ^[3] is the row dJ/dA^[3] (entries ∂J/∂a_k) times the n×n Jacobian dA^[3]/dZ^[3] whose (r, c) entry
    is ∂a_r/∂z_c (numerator layout).""",
    convention=CONV,
    routes=("fd", "explicit", "torch"),
    expected="holds",
)
def _(ev):
    for p, cfg in _nets():
        v, d = backward_note(p, cfg)
        J_act = fd_jacobian(softmax, v["Z3"])
        dJ_dA3 = fd_gradient(lambda a: -float(p["y"] @ np.log(a)), v["A3"])
        ev.written("fd", d["Z3"], dJ_dA3 @ J_act, tol=1e-6, kinds=("formula", "fd"))
        ev.written("fd", d["Z3"], fd_gradient(lambda z: -float(p["y"] @ np.log(softmax(z))), v["Z3"]), kinds=("formula", "fd"))
        ev.written("torch", d["Z3"], lambda: torch_grad(lambda z: -(__import__("torch").as_tensor(p["y"]) @ __import__("torch").log_softmax(z, 0)), v["Z3"]), kinds=("formula", "torch"))
        ev.written("explicit", d["Z3"], lambda p=p, cfg=cfg: _pkg_grad_wrt(p, cfg, "Z3"), kinds=("formula", "package"))


@claim(
    "vardhan2022.fc-dJdW3",
    location="§3.1.1, dJ/dW^[3] = (dJ/dZ^[3])ᵀ (B^[2])ᵀ (via the trace rewrites)",
    statement="""With Z^[3] = (W^[3])ᵀ B^[2] + b^[3]: dJ = tr(dJ/dZ^[3] (dW^[3])ᵀ B^[2]) = tr((dJ/dZ^[3])ᵀ (B^[2])ᵀ dW^[3]), hence the
    numerator-layout derivative dJ/dW^[3] = (dJ/dZ^[3])ᵀ (B^[2])ᵀ, whose transpose is the gradient.""",
    convention=CONV,
    routes=("trace", "fd", "torch", "explicit"),
    expected="holds",
)
def _(ev):
    r = rng(23)
    for p, cfg in _nets():
        v, d = backward_note(p, cfg)
        g, B = d["Z3"], v["B2"]
        dW = r.standard_normal(p["W3"].shape)
        line1 = np.trace(g[None] @ dW.T @ B[:, None])  # tr(dJ/dZ · dWᵀ B)
        line2 = np.trace(B[None] @ dW @ g[:, None])  # tr(Bᵀ dW (dJ/dZ)ᵀ)
        line3 = np.trace(g[:, None] @ B[None] @ dW)  # tr((dJ/dZ)ᵀ Bᵀ dW)
        ev.written("trace", np.array([line1, line2]), np.array([line3, line3]), kinds=("formula", "formula"))
        h = 1e-6  # the differential itself: directional derivative of J along dW
        dJ = (loss_with(p, cfg, W3=p["W3"] + h * dW) - loss_with(p, cfg, W3=p["W3"] - h * dW)) / (2 * h)
        ev.written("fd", line3, dJ, kinds=("formula", "fd"))
        dJdW = np.outer(g, B)
        ev.written("fd", dJdW.T, fd_param_grad(p, cfg, "W3"), kinds=("formula", "fd"))
        torch_and_explicit(ev.written, p, cfg, "W3", dJdW.T)


@claim(
    "vardhan2022.fc-dJdb3",
    location="§3.1.1, dJ/db^[3] = dJ/dZ^[3]",
    statement="""dJ/db^[3] = dJ/dZ^[3].""",
    convention=CONV,
    routes=("fd", "torch", "explicit"),
    expected="holds",
)
def _(ev):
    for p, cfg in _nets():
        v, d = backward_note(p, cfg)
        ev.written("fd", d["b3"], fd_param_grad(p, cfg, "b3"), kinds=("formula", "fd"))
        torch_and_explicit(ev.written, p, cfg, "b3", d["b3"])


@claim(
    "vardhan2022.fc-dJdB2",
    location="§3.1.1, dJ/dB^[2] = dJ/dZ^[3] (W^[3])ᵀ",
    statement="""dJ/dB^[2] = dJ/dZ^[3] (W^[3])ᵀ, a row of length n^[2].""",
    convention=CONV,
    routes=("fd", "explicit"),
    expected="holds",
)
def _(ev):
    for p, cfg in _nets():
        v, d = backward_note(p, cfg)
        ev.written("fd", d["B2"], fd_gradient(lambda B: loss_from(p, cfg, "B2", B), v["B2"]), kinds=("formula", "fd"))
        ev.written("explicit", d["B2"], _pkg_grad_wrt(p, cfg, "B2"), kinds=("formula", "package"))


# ---------------------------------------------------------------------------
# §3.1.2 – 3.1.4 flatten, pooling, activation
# ---------------------------------------------------------------------------
@claim(
    "vardhan2022.flatten-B2",
    location="§3.1.2, B^[2] = (vec(A_1^[2]); …; vec(A_c^[2])) with entries a_{j,11}, a_{j,21}, …",
    statement="""B^[2] stacks the column-major vecs of the channels of A^[2]: a_{1,11}, a_{1,21}, …, a_{1,h w}, a_{2,11}, ….""",
    convention=CONV,
    routes=("index", "convention"),
    expected="holds",
)
def _(ev):
    from .. import get_convention, vec

    for p, cfg in _nets():
        v = forward(p, cfg)
        A2 = v["A2"]
        c, h, w = A2.shape
        listed = np.array([A2[j, r_, s] for j in range(c) for s in range(w) for r_ in range(h)])
        ev.written("index", v["B2"], listed, kinds=("formula", "exact"))
        ev.written("convention", v["B2"], vec(A2, get_convention("vardhan2022")), kinds=("formula", "package"))


@claim(
    "vardhan2022.reshape-dJdB2",
    location="§3.1.2, dJ/d_vA^[2]: dJ/dB^[2] reshaped to c^[2] × h_a w_a, one row per channel",
    statement="""Reshaping the row dJ/dB^[2] into a c^[2] × h_a^[2] w_a^[2] matrix (row by row) gives the matrix whose row j is
    dJ/d_vA_j^[2].""",
    convention=CONV,
    routes=("fd", "explicit", "torch"),
    expected="holds",
)
def _(ev):
    for p, cfg in _nets():
        v, d = backward_note(p, cfg)
        ev.written("fd", d["A2"], rows_of(fd_gradient(lambda A2: loss_from(p, cfg, "A2", A2), v["A2"])), kinds=("formula", "fd"))
        ev.written("torch", d["A2"], lambda: _torch_grad_wrt(p, cfg, "A2", v["A2"]), kinds=("formula", "torch"))
        ev.written("explicit", d["A2"], lambda p=p, cfg=cfg: _pkg_grad_wrt(p, cfg, "A2"), kinds=("formula", "package"))


def _pool_case(seed, c=2, h=5, w=7, window=(2, 3), pad=(1, 0), stride=(2, 2)):
    r = rng(seed)
    return r.standard_normal((c, h, w)), window, pad, stride


_POOLS = ((0, dict()), (1, dict(c=3, h=6, w=4, window=(3, 2), pad=(1, 1), stride=(1, 2))), (2, dict(c=1, h=4, w=6, window=(2, 2), pad=(0, 0), stride=(2, 2))))


def _torch_avg(I, window, pad, stride):
    import torch

    return torch.nn.functional.avg_pool2d(torch.as_tensor(I)[None], window, stride, pad, count_include_pad=True)[0].numpy()


@claim(
    "vardhan2022.avgpool-as-conv",
    location="§3.1.3 Average Pooling, A_j = I_j * P",
    statement="""Average pooling with a h_l × w_l window, padding and stride is the correlation of I_j with P, the h_l × w_l
    matrix of entries 1/(h_l w_l), with the same padding and stride (padding zeros count in the mean).""",
    convention=CONV,
    routes=("formula", "package", "fd", "torch"),
    expected="holds",
)
def _(ev):
    for seed, kw in _POOLS:
        I, window, pad, stride = _pool_case(seed, **kw)
        A = avg_pool(I, window, pad, stride)
        Ip = np.pad(I, ((0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
        means = np.stack(
            [
                [[Ip[j, a * stride[0] : a * stride[0] + window[0], b * stride[1] : b * stride[1] + window[1]].mean() for b in range(A.shape[2])] for a in range(A.shape[1])]
                for j in range(I.shape[0])
            ]
        )
        ev.written("formula", A, means, kinds=("formula", "formula"))
        ev.written("package", A, avg_pool2d(I, window, stride=stride, padding=pad), kinds=("formula", "package"))
        # pooling is linear in I: the finite-difference Jacobian of the package's forward applied to I reproduces it
        J_fd = reference_jacobian("avg_pool2d", "x", route="fd", x=I, kernel_size=window, stride=stride, padding=pad)
        ev.written("fd", A, (J_fd @ I.ravel()).reshape(A.shape), kinds=("formula", "fd"))
        ev.written("torch", A, lambda: _torch_avg(I, window, pad, stride), kinds=("formula", "torch"))


@claim(
    "vardhan2022.avgpool-jacobian",
    location="§3.1.3, d_vA_j/d_vI_j = [vec(E_11 * P) vec(E_21 * P) …], equal for all channels",
    statement="""Column (p, q) of d_vA_j/d_vI_j is vec(E_pq * P) (same padding and stride); the matrix is h_a w_a × h_z w_z and
    does not depend on the data, so it is the same for every channel j.""",
    convention=CONV,
    routes=("fd", "torch", "shape", "explicit"),
    expected="holds",
)
def _(ev):
    for seed, kw in _POOLS:
        I, window, pad, stride = _pool_case(seed, **kw)
        h, w = I.shape[1:]
        M = avg_pool_jacobian((h, w), window, pad, stride)  # columns vec(E_pq * P)
        A = avg_pool(I, window, pad, stride)
        ev.written("shape", M.shape, (A.shape[1] * A.shape[2], h * w), kinds=("formula", "exact"))
        from .. import avg_pool2d_jacobian

        Jc = avg_pool2d_jacobian((1, h, w), window, stride=stride, padding=pad, count_include_pad=True)
        ev.written("explicit", M, _perm_jac(Jc, (1, *A.shape[1:]), (1, h, w)), kinds=("formula", "package"))
        for j in range(I.shape[0]):
            J_fd = fd_jacobian(lambda x, j=j: vecF(avg_pool(unvecF(x, (h, w))[None], window, pad, stride)[0]), vecF(I[j]))
            ev.written("fd", M, J_fd, kinds=("formula", "fd"))

        def t_fn(I=I, window=window, pad=pad, stride=stride, h=h, w=w):
            import torch

            def f(x):
                img = x.reshape(w, h).T[None, None]
                out = torch.nn.functional.avg_pool2d(img, window, stride, pad, count_include_pad=True)[0, 0]
                return out.T.reshape(-1)

            return torch_jacobian(f, vecF(I[-1]))

        ev.written("torch", M, t_fn, kinds=("formula", "torch"))


@claim(
    "vardhan2022.pool-chain",
    location="§3.1.3, dJ/d_vI^[2] = dJ/d_vA^[2] · d_vA^[2]/d_vI^[2] (average pooling)",
    statement="""For average pooling, dJ/d_vI^[2] (c × h_z w_z, rows = channels) is the product of dJ/d_vA^[2] (c × h_a w_a) with
    the single shared Jacobian d_vA^[2]/d_vI^[2].""",
    convention=CONV,
    routes=("fd", "explicit", "torch"),
    expected="holds",
)
def _(ev):
    for p, cfg in _nets():
        v, d = backward_note(p, cfg)
        ev.written("fd", d["I2"], rows_of(fd_gradient(lambda I2: loss_from(p, cfg, "I2", I2), v["I2"])), kinds=("formula", "fd"))
        ev.written("torch", d["I2"], lambda: _torch_grad_wrt(p, cfg, "I2", v["I2"]), kinds=("formula", "torch"))
        ev.written("explicit", d["I2"], lambda p=p, cfg=cfg: _pkg_grad_wrt(p, cfg, "I2"), kinds=("formula", "package"))


@claim(
    "vardhan2022.activation-jacobian",
    location="§3.1.4, d_vI_j^[2]/d_vZ_j^[2] 'computed channel-wise' (never written out)",
    statement="""The note says the activation Jacobian depends on the data and must be computed per channel, but never
    gives it.""",
    convention=CONV,
    routes=("fd", "explicit", "torch"),
    expected="completes",
    kind="gap",
    correction="""For an elementwise activation f, d_vI_j/d_vZ_j = diag(f′(_vZ_j)) (for the sigmoid, diag(I_j ∘ (1 − I_j))
    column-major), so row j of dJ/d_vZ is (row j of dJ/d_vI) ∘ f′(_vZ_j)ᵀ; the rows are stacked over channels.""",
)
def _(ev):
    for p, cfg in _nets():
        v, d = backward_note(p, cfg)
        for j in range(cfg["c2"]):
            diag = np.diag(vecF(v["I2"][j] * (1 - v["I2"][j])))
            ev.corrected("fd", diag, fd_jacobian(lambda z: sigmoid(z), vecF(v["Z2"][j])), kinds=("formula", "fd"))
        ev.corrected("fd", d["Z2"], rows_of(fd_gradient(lambda Z2: loss_from(p, cfg, "Z2", Z2), v["Z2"])), kinds=("formula", "fd"))
        ev.corrected("torch", d["Z2"], lambda: _torch_grad_wrt(p, cfg, "Z2", v["Z2"]), kinds=("formula", "torch"))
        ev.corrected("explicit", d["Z2"], lambda p=p, cfg=cfg: _pkg_grad_wrt(p, cfg, "Z2"), kinds=("formula", "package"))


@claim(
    "vardhan2022.activation-chain-stack",
    location="§3.1.4, dJ/d_vZ^[2] = dJ/d_vI^[2] · d_vI^[2]/d_vZ^[2], computed per channel and stacked",
    statement="""Because the activation Jacobian depends on each channel's data, dJ/d_vZ_j^[2] = dJ/d_vI_j^[2] · d_vI_j^[2]/d_vZ_j^[2]
    is computed channel by channel, and the rows are stacked into dJ/d_vZ^[2].""",
    convention=CONV,
    routes=("fd", "explicit", "torch"),
    expected="holds",
)
def _(ev):
    for p, cfg in _nets():
        v, d = backward_note(p, cfg)
        per_channel = np.stack(
            [d["I2"][j] @ fd_jacobian(sigmoid, vecF(v["Z2"][j])) for j in range(cfg["c2"])]
        )  # each channel's own Jacobian
        ev.written("fd", per_channel, d["Z2"], tol=1e-6, kinds=("formula", "fd"))
        ev.written("torch", per_channel, lambda p=p, cfg=cfg, v=v: _torch_grad_wrt(p, cfg, "Z2", v["Z2"]), tol=1e-6, kinds=("formula", "torch"))
        ev.written("explicit", d["Z2"], lambda p=p, cfg=cfg: _pkg_grad_wrt(p, cfg, "Z2"), kinds=("formula", "package"))


@claim(
    "vardhan2022.layer1-pool-activation-chain",
    location="§3.1.6, dJ/d_vI^[1] = dJ/d_vA^[1] · d_vA^[1]/d_vI^[1] and dJ/d_vZ^[1] = dJ/d_vI^[1] · d_vI^[1]/d_vZ^[1]",
    statement="""Layer 1 repeats §3.1.3–3.1.4: dJ/d_vI^[1] = dJ/d_vA^[1] · d_vA^[1]/d_vI^[1] (pooling) and
    dJ/d_vZ^[1] = dJ/d_vI^[1] · d_vI^[1]/d_vZ^[1] (activation, per channel).""",
    convention=CONV,
    routes=("torch", "fd", "explicit"),
    expected="holds",
)
def _(ev):
    for p, cfg in _nets():
        v, d = backward_note(p, cfg)
        ev.written("torch", d["I1"], lambda p=p, cfg=cfg, v=v: _torch_grad_wrt(p, cfg, "I1", v["I1"]), kinds=("formula", "torch"))
        ev.written("explicit", d["I1"], lambda p=p, cfg=cfg: _pkg_grad_wrt(p, cfg, "I1"), kinds=("formula", "package"))
        ev.written("torch", d["Z1"], lambda p=p, cfg=cfg, v=v: _torch_grad_wrt(p, cfg, "Z1", v["Z1"]), kinds=("formula", "torch"))
        ev.written("fd", d["Z1"], rows_of(fd_gradient(lambda Z1: loss_from(p, cfg, "Z1", Z1), v["Z1"])), kinds=("formula", "fd"))
        ev.written("explicit", d["Z1"], lambda p=p, cfg=cfg: _pkg_grad_wrt(p, cfg, "Z1"), kinds=("formula", "package"))


# ---------------------------------------------------------------------------
# §3.1.5 – 3.2 convolution gradients
# ---------------------------------------------------------------------------
def _perm_jac(J, out_shape, in_shape):
    from .. import get_convention

    return get_convention("vardhan2022").jacobian(J, out_shape, in_shape).toarray()


@claim(
    "vardhan2022.kernel-jacobian",
    location="§3.1.5, d_vZ_j/d_vK_{j,i} = [vec(A_i * dK/dK_11) vec(A_i * dK/dK_21) …] (h_z w_z × h_k w_k)",
    statement="""Column (p, q) of d_vZ_j/d_vK_{j,i} is vec(A_i * E_pq) with the layer's padding and stride; the matrix is
    h_z w_z × h_k w_k.""",
    convention=CONV,
    routes=("explicit", "fd", "shape"),
    expected="holds",
)
def _(ev):
    from .. import conv2d_weight_jacobian

    r = rng(24)
    for (h, w), k, pad, st in (((3, 4), (2, 2), (1, 1), (1, 2)), ((5, 6), (2, 3), (0, 1), (2, 1)), ((6, 5), (3, 3), (1, 0), (1, 1))):
        A = r.standard_normal((h, w))
        M = kernel_jacobian(A, k, pad, st)
        Z = corr2(A, np.zeros(k), pad, st)
        ev.written("shape", M.shape, (Z.size, k[0] * k[1]), kinds=("formula", "exact"))
        J = conv2d_weight_jacobian(A[None], (1, 1, *k), stride=st, padding=pad)
        ev.written("explicit", M, _perm_jac(J, (1, *Z.shape), (1, 1, *k)), kinds=("formula", "package"))
        ev.written("fd", M, fd_jacobian(lambda x: vecF(corr2(A, unvecF(x, k), pad, st)), np.zeros(k[0] * k[1])), kinds=("formula", "fd"))


@claim(
    "vardhan2022.kernel-grad-all-j",
    location="§3.1.5, dJ/d_vK_{:,i}^[2] = dJ/d_vZ^[2] · d_vZ_j^[2]/d_vK_{j,i}^[2] 'for any j', repeated for 1 ≤ i ≤ c^[1]",
    statement="""The kernel Jacobian d_vZ_j/d_vK_{j,i} is the same for every kernel j, so for each input channel i,
    dJ/d_vK_{:,i}^[2] = dJ/d_vZ^[2] · d_vZ_j^[2]/d_vK_{j,i}^[2] (one row per kernel j) with the Jacobian of any j.""",
    convention=CONV,
    routes=("explicit", "fd", "torch"),
    expected="holds",
)
def _(ev):
    for p, cfg in _nets():
        v, d = backward_note(p, cfg)
        memo = []

        def torch_rows(p=p, cfg=cfg):
            if not memo:
                memo.append(np.stack([rows_of(g) for g in torch_net_grad(p, cfg, "K2")]))
            return memo[0]

        fd_rows = np.stack([rows_of(g) for g in fd_param_grad(p, cfg, "K2")])  # (c2, c1, hk·wk)
        hz, wz = v["Z2"].shape[1:]
        kh, kw = cfg["k2"]
        c1, c2 = cfg["c1"], cfg["c2"]
        # the package's Jacobian of the whole layer w.r.t. all of K2, in the note's vec order per channel block
        J_all = reference_jacobian("conv2d", "weight", x=v["A1"], weight=p["K2"], stride=cfg["stride2"], padding=cfg["pad2"]).toarray()
        J_all = J_all.reshape(c2, hz, wz, c2, c1, kh, kw)
        for i in range(c1):
            note_jac = kernel_jacobian(v["A1"][i], cfg["k2"], cfg["pad2"], cfg["stride2"])  # the note's columns vec(A_i * E_pq)
            rows = d["Z2"] @ note_jac  # row j: dJ/d_vK_{j,i}
            for j in range(c2):  # "any j": the package's block for kernel j, re-ordered column-major on both sides
                block = J_all[j, :, :, j, i].transpose(1, 0, 2, 3).reshape(hz * wz, kh, kw).transpose(0, 2, 1).reshape(hz * wz, -1)
                ev.written("explicit", rows, d["Z2"] @ block, kinds=("formula", "package"))
            ev.written("fd", rows, fd_rows[:, i], kinds=("formula", "fd"))
            ev.written("torch", rows, lambda i=i: torch_rows()[:, i], kinds=("formula", "torch"))


@claim(
    "vardhan2022.kernel-jacobian-input-channel",
    location="§3.1.5, 'depends only on the entries of i-th channel of A^[2]'",
    statement="""The kernel Jacobian d_vZ_j^[2]/d_vK_{j,i}^[2] depends only on channel i of A^[2] (read literally: its columns
    are vec(A_i^[2] * E_pq), built from the pooled output of layer 2).""",
    convention=CONV,
    routes=("explicit", "fd"),
    expected="holds-corrected",
    kind="slip",
    correction="""It depends only on channel i of the layer's input A^[1]: d_vZ_j^[2]/d_vK_{j,i}^[2] = [vec(A_i^[1] * E_pq)]_{p,q}.""",
)
def _(ev):
    for p, cfg in _nets():
        v, d = backward_note(p, cfg)
        hz, wz = v["Z2"].shape[1:]
        for i in range(min(cfg["c1"], cfg["c2"])):  # channels i that exist in both A^[1] and A^[2]
            A1_i = v["A1"][i]
            explicit = _perm_jac(
                reference_jacobian("conv2d", "weight", x=A1_i[None], weight=np.zeros((1, 1, *cfg["k2"])), stride=cfg["stride2"], padding=cfg["pad2"]),
                (1, hz, wz),
                (1, 1, *cfg["k2"]),
            )
            as_written = kernel_jacobian(v["A2"][i], cfg["k2"], cfg["pad2"], cfg["stride2"])  # from A_i^[2], literally
            corrected = kernel_jacobian(A1_i, cfg["k2"], cfg["pad2"], cfg["stride2"])  # from A_i^[1]
            ev.both("explicit", as_written, corrected, explicit, kinds=("formula", "package"))
            fd = fd_jacobian(lambda kv, A1_i=A1_i: vecF(corr2(A1_i, unvecF(kv, cfg["k2"]), cfg["pad2"], cfg["stride2"])), np.zeros(int(np.prod(cfg["k2"]))))
            ev.both("fd", as_written, corrected, fd, kinds=("formula", "fd"))


@claim(
    "vardhan2022.bias-grad",
    location="§3.1.5 Derivative w.r.t. b^[2] (row [dJ/d_vZ_1 1 … dJ/d_vZ_{c^[1]} 1])",
    statement="""d_vZ_j/db_j = 1, so dJ/db_j^[2] = dJ/d_vZ_j^[2] 1 and dJ/db^[2] = (dJ/d_vZ^[2] 1)ᵀ; the expanded row is printed
    with entries j = 1 … c^[1]. Read literally on a layer with c^[1] < c^[2] (where every printed entry exists), the row is
    the first c^[1] entries of the true gradient and omits the biases c^[1] + 1 … c^[2]; with c^[1] > c^[2] its last entries
    name output channels that do not exist.""",
    convention=CONV,
    routes=("fd", "package", "torch", "explicit"),
    expected="holds-corrected",
    kind="slip",
    correction="The row runs over the layer's output channels j = 1 … c^[2] (last entry dJ/d_vZ_{c^[2]}^[2] 1).",
)
def _(ev):
    for p, cfg in _nets():
        v, d = backward_note(p, cfg)
        truth = fd_param_grad(p, cfg, "b2")
        if cfg["c1"] <= cfg["c2"]:  # the printed row can be evaluated entry by entry
            written = np.array([d["Z2"][j] @ np.ones(d["Z2"].shape[1]) for j in range(cfg["c1"])])
            ev.written("fd", written, truth, kinds=("formula", "fd"))
        fixed = np.array([d["Z2"][j] @ np.ones(d["Z2"].shape[1]) for j in range(cfg["c2"])])
        ev.corrected("fd", fixed, truth, kinds=("formula", "fd"))
        ev.corrected("package", fixed, lambda p=p, cfg=cfg: reference_vjp("conv2d", rows_to_tensor(_pkg_grad_wrt(p, cfg, "Z2"), forward(p, cfg)["Z2"].shape), "bias", x=forward(p, cfg)["A1"], weight=p["K2"], bias=p["b2"], stride=cfg["stride2"], padding=cfg["pad2"]), kinds=("formula", "package"))
        torch_and_explicit(ev.corrected, p, cfg, "b2", fixed)


@claim(
    "vardhan2022.input-grad-sum-over-kernels",
    location="§3.1.5 Derivative w.r.t. A^[1], dJ/d_vA_i^[1] = Σ_j dJ/d_vZ_j^[2] d_vZ_j^[2]/d_vA_i^[1]",
    statement="""Each channel A_i^[1] feeds every kernel, so dJ/d_vA_i^[1] is the sum over j of dJ/d_vZ_j^[2] d_vZ_j^[2]/d_vA_i^[1].""",
    convention=CONV,
    routes=("fd", "explicit", "torch"),
    expected="holds",
)
def _(ev):
    for p, cfg in _nets():
        v, d = backward_note(p, cfg)
        ev.written("fd", d["A1"], rows_of(fd_gradient(lambda A1: loss_from(p, cfg, "A1", A1), v["A1"])), kinds=("formula", "fd"))
        ev.written("torch", d["A1"], lambda: _torch_grad_wrt(p, cfg, "A1", v["A1"]), kinds=("formula", "torch"))
        ev.written("explicit", d["A1"], lambda p=p, cfg=cfg: _pkg_grad_wrt(p, cfg, "A1"), kinds=("formula", "package"))


@claim(
    "vardhan2022.input-jacobian",
    location="§3.1.5, d_vZ_j^[2]/d_vA_i^[2] = [vec(E_11 * K_{j,i}) …] of size h_z^[2] w_z^[2] × h_a^[2] w_a^[2]",
    statement="""Column (p, q) of the Jacobian is vec(E_pq * K_{j,i}) (same padding and stride). The display names it
    d_vZ_j^[2]/d_vA_i^[2] and gives its size as h_z^[2] w_z^[2] × h_a^[2] w_a^[2].""",
    convention=CONV,
    routes=("explicit", "shape"),
    expected="holds-corrected",
    kind="slip",
    correction="d_vZ_j^[2]/d_vA_i^[1], of size h_z^[2] w_z^[2] × h_a^[1] w_a^[1] (the layer's input is A^[1]).",
)
def _(ev):
    from .. import conv2d_input_jacobian

    for p, cfg in _nets():
        v = forward(p, cfg)
        A1 = v["A1"]
        for j in range(cfg["c2"]):
            for i in range(cfg["c1"]):
                M = input_jacobian(A1.shape[1:], p["K2"][j, i], cfg["pad2"], cfg["stride2"])
                Jc = conv2d_input_jacobian(p["K2"][j : j + 1, i : i + 1], (1, *A1.shape[1:]), stride=cfg["stride2"], padding=cfg["pad2"])
                ev.corrected("explicit", M, _perm_jac(Jc, (1, *v["Z2"].shape[1:]), (1, *A1.shape[1:])), kinds=("formula", "package"))
        hz, wz = v["Z2"].shape[1:]
        ev.written("shape", M.shape, (hz * wz, v["A2"].shape[1] * v["A2"].shape[2]), kinds=("formula", "exact"))
        ev.corrected("shape", M.shape, (hz * wz, A1.shape[1] * A1.shape[2]), kinds=("formula", "exact"))


@claim(
    "vardhan2022.stack-dJdA1",
    location="§3.1.5, dJ/d_vA^[1] = (dJ/d_vA_1^[1]; …; dJ/d_vA_c^[1]) (c^[1] × h_a^[1] w_a^[1])",
    statement="""dJ/d_vA^[1] is the c^[1] × h_a^[1] w_a^[1] matrix whose row i is dJ/d_vA_i^[1].""",
    convention=CONV,
    routes=("shape", "explicit", "torch"),
    expected="holds",
)
def _(ev):
    for p, cfg in _nets():
        v, d = backward_note(p, cfg)
        ev.written("shape", d["A1"].shape, (cfg["c1"], v["A1"].shape[1] * v["A1"].shape[2]), kinds=("formula", "exact"))
        ev.written("torch", d["A1"], lambda: _torch_grad_wrt(p, cfg, "A1", v["A1"]), kinds=("formula", "torch"))
        ev.written("explicit", d["A1"], lambda p=p, cfg=cfg: _pkg_grad_wrt(p, cfg, "A1"), kinds=("formula", "package"))


@claim(
    "vardhan2022.layer1-kernel-grad",
    location="§3.1.6, dJ/d_vK_{:,i}^[2] = dJ/d_vZ^[2] d_vZ^[2]/d_vK_{j,i}^[2] 'for each 1 ≤ i ≤ c^[1]' (layer 1)",
    statement="""For layer 1 the note repeats the layer-2 formula unchanged: superscripts [2] and i running to c^[1].""",
    convention=CONV,
    routes=("fd", "torch", "explicit"),
    expected="holds-corrected",
    kind="slip",
    correction="""dJ/d_vK_{:,i}^[1] = dJ/d_vZ^[1] d_vZ_j^[1]/d_vK_{j,i}^[1] for 1 ≤ i ≤ c^[0], with columns vec(A_i^[0] * E_pq).""",
)
def _(ev):
    for p, cfg in _nets():
        v, d = backward_note(p, cfg)
        written = rows_to_kernel(d["K2"], cfg["k2"])  # the printed (layer-2) formula
        fixed = rows_to_kernel(d["K1"], cfg["k1"])
        ev.both("fd", written, fixed, fd_param_grad(p, cfg, "K1"), kinds=("formula", "fd"))
        torch_and_explicit(ev.corrected, p, cfg, "K1", fixed)


@claim(
    "vardhan2022.layer1-bias-grad",
    location="§3.1.6, dJ/d_vb^[1] = (dJ/d_vZ^[1] 1)ᵀ",
    statement="""dJ/d_vb^[1] = (dJ/d_vZ^[1] 1_{(h_z^[1] w_z^[1], 1)})ᵀ.""",
    convention=CONV,
    routes=("fd", "torch", "explicit"),
    expected="holds",
)
def _(ev):
    for p, cfg in _nets():
        v, d = backward_note(p, cfg)
        ev.written("fd", d["b1"], fd_param_grad(p, cfg, "b1"), kinds=("formula", "fd"))
        torch_and_explicit(ev.written, p, cfg, "b1", d["b1"])


@claim(
    "vardhan2022.grad-is-transpose",
    location="§3.2 Jacobian or Gradient? (∇_K J = (dJ/dK)ᵀ, ∇_b J = (d_vZ^[2]/d_vb^[l])ᵀ)",
    statement="""Gradients are transposes of the numerator-layout derivatives: ∇_{K_{j,i}} J = (dJ/dK_{j,i})ᵀ and
    ∇_{b^[l]} J = (d_vZ^[2]/d_vb^[l])ᵀ.""",
    convention=CONV,
    routes=("fd", "torch", "explicit"),
    expected="holds-corrected",
    kind="slip",
    correction="""∇_{b^[l]} J = (dJ/db^[l])ᵀ = dJ/d_vZ^[l] 1 (the bias line differentiates Z^[2] instead of J); the kernel
    line holds, the row dJ/d_vK_{j,i} reshaped column-major to h_k × w_k.""",
)
def _(ev):
    for p, cfg in _nets():
        v, d = backward_note(p, cfg)
        # kernel line: the transpose/reshape of the numerator-layout row is the gradient
        fd_K2 = fd_param_grad(p, cfg, "K2")
        ev.corrected("fd", rows_to_kernel(d["K2"], cfg["k2"]), fd_K2, kinds=("formula", "fd"))
        ev.written("fd", rows_to_kernel(d["K2"], cfg["k2"]), fd_K2, kinds=("formula", "fd"))
        # bias line as printed: (d_vZ^[2]/d_vb^[2])ᵀ — a c × (c·h_z w_z) 0/1 matrix, not the gradient
        hzwz = d["Z2"].shape[1]
        dZ_db = np.kron(np.eye(cfg["c2"]), np.ones((hzwz, 1)))
        truth = fd_param_grad(p, cfg, "b2")
        ev.written("fd", dZ_db.T, truth, kinds=("formula", "fd"))
        ev.corrected("fd", d["b2"], truth, kinds=("formula", "fd"))
        ev.corrected("torch", d["b2"], lambda: torch_net_grad(p, cfg, "b2"), kinds=("formula", "torch"))
        if explicit_grads(p) is not None:
            ev.corrected("explicit", rows_to_kernel(d["K2"], cfg["k2"]), explicit_grads(p)["K2"], kinds=("formula", "package"))


# ---------------------------------------------------------------------------
# Appendix A: the 3×4 example with a 2×2 kernel, padding (1, 1), stride (1, 2)
# ---------------------------------------------------------------------------
def _appA_symbols():
    A = symbol_matrix("a", 3, 4)
    B = symbol_matrix("beta", 2, 2)
    return A, B


def _padded(A):
    import sympy

    P = sympy.zeros(A.rows + 2, A.cols + 2)
    P[1 : 1 + A.rows, 1 : 1 + A.cols] = A
    return P


def _sym_corr(Ap, B, stride=(1, 2)):
    import sympy

    oh = (Ap.rows - B.rows) // stride[0] + 1
    ow = (Ap.cols - B.cols) // stride[1] + 1
    return sympy.Matrix(
        oh, ow, lambda p, q: sum(Ap[p * stride[0] + i, q * stride[1] + j] * B[i, j] for i in range(B.rows) for j in range(B.cols))
    )


def _names(text):
    """'a11 b; 0 a21' → sympy matrix (names only, 'b' = beta)."""
    import sympy

    def sym(t):
        if t.isdigit():
            return sympy.Integer(int(t))
        return sympy.Symbol(t.replace("b", "beta"))

    return sympy.Matrix([[sym(t) for t in row.split()] for row in text.split(";")])


def _sum_of(text):
    import sympy

    total = sympy.Integer(0)
    for term in text.split("+"):
        a, b = term.split()
        total += sympy.Symbol(a) * sympy.Symbol(b.replace("b", "beta").replace("A", "A_"))
    return total


_APPA_NUMERIC = dict(A=rng(31).standard_normal((3, 4)), B=rng(32).standard_normal((2, 2)))


@claim(
    "vardhan2022.appA-output-size",
    location="App. A, A (3×4) * β (2×2), padding (1, 1), stride (1, 2) → Z (4×3)",
    statement="""A 3×4 input, a 2×2 kernel, padding (1, 1) and stride (1, 2) give a 4×3 output.""",
    convention=CONV,
    routes=("formula", "explicit", "index", "torch"),
    expected="holds",
)
def _(ev):
    printed = (4, 3)
    ev.written("formula", printed, (out_size(3, 2, 1, 1), out_size(4, 2, 1, 2)), kinds=("formula", "formula"))
    ev.written("explicit", printed, conv2d(np.zeros((1, 3, 4)), np.zeros((1, 1, 2, 2)), stride=(1, 2), padding=1).shape[1:], kinds=("formula", "package"))
    # the windows of rep.1, counted: row starts 0, 1, 2, 3 in the 5-row padded input; column starts 0, 2, 4 in 6 columns
    ev.written("index", printed, (sum(1 for r_ in range(5) if r_ + 2 <= 5), sum(1 for c in range(0, 6, 2) if c + 2 <= 6)), kinds=("formula", "exact"))

    def t_fn():
        import torch

        return tuple(torch.nn.functional.conv2d(torch.zeros(1, 1, 3, 4), torch.zeros(1, 1, 2, 2), stride=(1, 2), padding=(1, 1)).shape[2:])

    ev.written("torch", printed, t_fn, kinds=("formula", "torch"))


@claim(
    "vardhan2022.appA-padded-input",
    location="App. A, the padded 5×6 input",
    statement="""Padding (1, 1) frames the 3×4 A with one row of zeros above and below and one column left and right (5×6).""",
    convention=CONV,
    routes=("symbolic", "package"),
    expected="holds",
)
def _(ev):
    A, _B = _appA_symbols()
    printed = _names("0 0 0 0 0 0; 0 a11 a12 a13 a14 0; 0 a21 a22 a23 a24 0; 0 a31 a32 a33 a34 0; 0 0 0 0 0 0")
    ev.written("symbolic", printed, _padded(A), kinds=("formula", "sympy"))
    # numerically, with a_ij coded as 10 i + j: the package's im2col with padding 1 and one 5 × 6 window is the padded input
    codes = np.array([[10.0 * i + j for j in range(1, 5)] for i in range(1, 4)])
    printed_codes = np.array([[float(str(e)[1:]) if str(e) != "0" else 0.0 for e in printed.row(r_)] for r_ in range(5)])
    ev.written("package", printed_codes, im2col(codes[None], (5, 6), padding=1).reshape(5, 6), kinds=("formula", "package"))


_REP1 = [
    ["0 0; 0 a11", "0 0; a12 a13", "0 0; a14 0"],
    ["0 a11; 0 a21", "a12 a13; a22 a23", "a14 0; a24 0"],
    ["0 a21; 0 a31", "a22 a23; a32 a33", "a24 0; a34 0"],
    ["0 0; 0 a31", "a32 a33; 0 0", "a34 0; 0 0"],
]


@claim(
    "vardhan2022.appA-rep1-windows",
    location="App. A, rep.1 (the twelve 2×2 windows of the padded input)",
    statement="""rep.1 lists the window of the padded input under the kernel for each of the 4×3 outputs; window (4, 1) is
    printed as ((0, 0); (0, a31)).""",
    convention=CONV,
    routes=("symbolic", "index"),
    expected="holds-corrected",
    kind="slip",
    correction="Window (4, 1) is rows 4–5, columns 1–2 of the padded input: ((0, a31); (0, 0)).",
)
def _(ev):
    A, _B = _appA_symbols()
    Ap = _padded(A)
    windows = [[Ap[p : p + 2, 2 * q : 2 * q + 2] for q in range(3)] for p in range(4)]
    for p in range(4):
        for q in range(3):
            printed = _names(_REP1[p][q])
            fixed = _names("0 a31; 0 0") if (p, q) == (3, 0) else printed
            ev.both("symbolic", printed, fixed, windows[p][q], kinds=("formula", "sympy"))
    # numerically with integer codes a_ij = 10i + j: window (4, 1) contains a31 = 31 in its top-right corner
    codes = np.pad(np.array([[10 * i + j for j in range(1, 5)] for i in range(1, 4)], float), 1)
    ev.written("index", codes[3:5, 0:2], np.array([[0, 0], [0, 31.0]]), kinds=("formula", "exact"))
    ev.corrected("index", np.array([[0, 31.0], [0, 0]]), codes[3:5, 0:2], kinds=("formula", "exact"))


_REP2 = [
    ["a11 b22", "a12 b21 + a13 b22", "a14 b21"],
    ["a11 b12 + a21 b22", "a12 b11 + a13 b12 + a22 b21 + a23 b22", "a14 b11 + a24 b21"],
    ["a21 b12 + a31 b22", "a22 b11 + a23 b12 + a32 b21 + a33 b22", "a24 b11 + a34 b21"],
    ["a31 b12", "a32 b11 + a33 b12", "a34 b11"],
]


def _rep2_matrix():
    import sympy

    def expr(t):
        total = sympy.Integer(0)
        for term in t.split("+"):
            a, b = term.split()
            total += sympy.Symbol(a) * sympy.Symbol(b.replace("b", "beta"))
        return total

    return sympy.Matrix([[expr(t) for t in row] for row in _REP2])


@claim(
    "vardhan2022.appA-rep2-entries",
    location="App. A, rep.2 (the twelve z_pq as sums of products)",
    statement="""The entries of Z, e.g. z_22 = a12β11 + a13β12 + a22β21 + a23β22 and z_41 = a31β12.""",
    convention=CONV,
    routes=("symbolic", "explicit"),
    expected="holds",
)
def _(ev):
    A, B = _appA_symbols()
    Z = _sym_corr(_padded(A), B)
    ev.written("symbolic", _rep2_matrix(), Z, kinds=("formula", "sympy"))
    An, Bn = _APPA_NUMERIC["A"], _APPA_NUMERIC["B"]
    subs = {A[i, j]: An[i, j] for i in range(3) for j in range(4)}
    subs.update({B[i, j]: Bn[i, j] for i in range(2) for j in range(2)})
    ev.written("explicit", np.array(_rep2_matrix().xreplace(subs).tolist(), float), conv2d(An[None], Bn[None, None], stride=(1, 2), padding=1)[0], kinds=("formula", "package"))


@claim(
    "vardhan2022.appA-vec-forms",
    location="App. A, _vA, _vβ, _vZ",
    statement="""_vA = (a11, a21, a31, a12, …, a34)ᵀ, _vβ = (β11, β21, β12, β22)ᵀ and _vZ = (z11, z21, z31, z41, z12, …, z43)ᵀ.""",
    convention=CONV,
    routes=("symbolic", "convention"),
    expected="holds",
)
def _(ev):
    import sympy

    from .. import get_convention, vec

    A, B = _appA_symbols()
    listed_A = [sympy.Symbol(f"a{i}{j}") for j in range(1, 5) for i in range(1, 4)]
    ev.written("symbolic", sympy.Matrix(list(A.T)), sympy.Matrix(listed_A), kinds=("formula", "sympy"))
    ev.written("symbolic", sympy.Matrix(list(B.T)), sympy.Matrix([sympy.Symbol(n) for n in ("beta11", "beta21", "beta12", "beta22")]), kinds=("formula", "sympy"))
    conv = get_convention("vardhan2022")
    codes = np.array([[10 * i + j for j in range(1, 4)] for i in range(1, 5)], float)  # z_pq ↦ 10p + q
    ev.written("convention", vec(codes, conv), np.array([11, 21, 31, 41, 12, 22, 32, 42, 13, 23, 33, 43], float), kinds=("package", "formula"))


def _sym_jac(Z, var_matrix):
    """Numerator layout, column-major vec of both."""
    import sympy

    zv = sympy.Matrix(list(Z.T))
    xv = list(var_matrix.T)
    return zv.jacobian(xv)


@claim(
    "vardhan2022.appA-eq-a1-1",
    location="App. A, eq. a1-1 (d_vZ/d_vβ, 12×4, entry (r, c) = ∂(_vZ)_r/∂(_vβ)_c)",
    statement="""d_vZ/d_vβ is the 12×4 matrix of ∂z/∂β with rows z11, z21, …, z43 and columns β11, β21, β12, β22.""",
    convention=CONV,
    routes=("symbolic", "explicit"),
    expected="holds",
)
def _(ev):
    from .. import conv2d_weight_jacobian

    A, B = _appA_symbols()
    J = _sym_jac(_sym_corr(_padded(A), B), B)
    ev.written("symbolic", J.shape, (12, 4), kinds=("formula", "sympy"))
    An = _APPA_NUMERIC["A"]
    Jn = _perm_jac(conv2d_weight_jacobian(An[None], (1, 1, 2, 2), stride=(1, 2), padding=1), (1, 4, 3), (1, 1, 2, 2))
    subs = {A[i, j]: An[i, j] for i in range(3) for j in range(4)}
    ev.written("explicit", np.array(J.xreplace(subs).tolist(), float), Jn, kinds=("formula", "package"))


@claim(
    "vardhan2022.appA-eq-a1-2",
    location="App. A, eq. a1-2 (∂z32/∂β21 = a32 = window * (0 0; 1 0))",
    statement="""∂z32/∂β21 = a32, which is the window ((a22, a23); (a32, a33)) correlated with the one-hot ((0, 0); (1, 0)).""",
    convention=CONV,
    routes=("symbolic", "explicit"),
    expected="holds",
)
def _(ev):
    import sympy

    A, B = _appA_symbols()
    Z = _sym_corr(_padded(A), B)
    ev.written("symbolic", sympy.diff(Z[2, 1], B[1, 0]), A[2, 1], kinds=("formula", "sympy"))
    window = _names("a22 a23; a32 a33")
    ev.written("symbolic", _sym_corr(window, _names("0 0; 1 0"), (1, 1))[0, 0], A[2, 1], kinds=("formula", "sympy"))
    An = _APPA_NUMERIC["A"]
    Jn = _perm_jac(reference_jacobian("conv2d", "weight", x=An[None], weight=np.zeros((1, 1, 2, 2)), stride=(1, 2), padding=1), (1, 4, 3), (1, 1, 2, 2))
    ev.written("explicit", An[2, 1], Jn[1 * 4 + 2, 1], kinds=("formula", "package"))  # row z32 (column-major: q=2 → 4 + p=3 → index 6), column β21


@claim(
    "vardhan2022.appA-column-formula-beta",
    location="App. A, eq. a1-3 and d_vZ/d_vβ = [vec(A * dβ/dβ11) … vec(A * dβ/dβ22)]",
    statement="""dZ/dβ_rs = A * E_rs (same padding and stride), so d_vZ/d_vβ has columns vec(A * E_11), vec(A * E_21),
    vec(A * E_12), vec(A * E_22).""",
    convention=CONV,
    routes=("explicit", "fd", "torch"),
    expected="holds",
)
def _(ev):
    from .. import conv2d_weight_jacobian

    for An in (_APPA_NUMERIC["A"], rng(33).standard_normal((5, 6))):
        M = kernel_jacobian(An, (2, 2), (1, 1), (1, 2))
        Z = corr2(An, np.zeros((2, 2)), (1, 1), (1, 2))
        ev.written("explicit", M, _perm_jac(conv2d_weight_jacobian(An[None], (1, 1, 2, 2), stride=(1, 2), padding=1), (1, *Z.shape), (1, 1, 2, 2)), kinds=("formula", "package"))
        # differences of the forward Z = A * β in the note's column-major vecs
        ev.written("fd", M, fd_jacobian(lambda bv, An=An: vecF(corr2(An, unvecF(bv, (2, 2)), (1, 1), (1, 2))), np.zeros(4)), kinds=("formula", "fd"))

        def t_fn(An=An):
            import torch

            def f(bv):
                K = bv.reshape(2, 2).T[None, None]
                return torch.nn.functional.conv2d(torch.as_tensor(An)[None, None], K, stride=(1, 2), padding=1)[0, 0].T.reshape(-1)

            return torch_jacobian(f, np.zeros(4))

        ev.written("torch", M, t_fn, kinds=("formula", "torch"))


@claim(
    "vardhan2022.appA-eq-a2-1",
    location="App. A, eq. a2-1 (d_vZ/d_vA, 12×12)",
    statement="""d_vZ/d_vA is the 12×12 matrix of ∂z/∂A with rows z11 … z43 and columns A11, A21, …, A34.""",
    convention=CONV,
    routes=("symbolic", "explicit"),
    expected="holds",
)
def _(ev):
    from .. import conv2d_input_jacobian

    A, B = _appA_symbols()
    J = _sym_jac(_sym_corr(_padded(A), B), A)
    ev.written("symbolic", J.shape, (12, 12), kinds=("formula", "sympy"))
    Bn = _APPA_NUMERIC["B"]
    Jn = _perm_jac(conv2d_input_jacobian(Bn[None, None], (1, 3, 4), stride=(1, 2), padding=1), (1, 4, 3), (1, 3, 4))
    subs = {B[i, j]: Bn[i, j] for i in range(2) for j in range(2)}
    ev.written("explicit", np.array(J.xreplace(subs).tolist(), float), Jn, kinds=("formula", "package"))


@claim(
    "vardhan2022.appA-eq-a2-2",
    location="App. A, eq. a2-2 (∂z32/∂A23 = β12, first line 'a22β11 + a23A12 + a32β21 + a33β22')",
    statement="""∂z32/∂A23 = β12, the one-hot window ((0, 1); (0, 0)) correlated with β; the expanded z32 in the first line
    reads a23A12 where rep.2 has a23β12.""",
    convention=CONV,
    routes=("symbolic", "explicit"),
    expected="holds-corrected",
    kind="slip",
    correction="∂(a22β11 + a23β12 + a32β21 + a33β22)/∂a23 = β12.",
)
def _(ev):
    import sympy

    A, B = _appA_symbols()
    Z = _sym_corr(_padded(A), B)
    printed = _sum_of("a22 b11 + a23 A12 + a32 b21 + a33 b22")
    fixed = _sum_of("a22 b11 + a23 b12 + a32 b21 + a33 b22")
    ev.both("symbolic", printed, fixed, Z[2, 1], kinds=("formula", "sympy"))
    ev.corrected("symbolic", sympy.diff(fixed, A[1, 2]), B[0, 1], kinds=("formula", "sympy"))
    ev.corrected("symbolic", _sym_corr(_names("0 1; 0 0"), B, (1, 1))[0, 0], B[0, 1], kinds=("formula", "sympy"))
    Bn = _APPA_NUMERIC["B"]
    Jn = _perm_jac(reference_jacobian("conv2d", "x", x=np.zeros((1, 3, 4)), weight=Bn[None, None], stride=(1, 2), padding=1), (1, 4, 3), (1, 3, 4))
    ev.corrected("explicit", Bn[0, 1], Jn[6, 2 * 3 + 1], kinds=("formula", "package"))  # row z32, column A23 (column-major: (3−1)·3 + 2)


@claim(
    "vardhan2022.appA-column-formula-A",
    location="App. A, eq. a2-3 (dZ/dA23 = E23 * β with the printed 3×4 one-hot) and d_vZ/d_vA = [vec(E11 * β) …]",
    statement="""dZ/dA_rs = E_rs * β (E_rs the 3×4 one-hot, printed for A23 with its 1 at row 2, column 3); the columns of
    d_vZ/d_vA are vec(E_11 * β), vec(E_21 * β), …, vec(E_34 * β).""",
    convention=CONV,
    routes=("explicit", "fd", "symbolic"),
    expected="holds",
)
def _(ev):
    from .. import conv2d_input_jacobian

    printed = _names("0 0 0 0; 0 0 1 0; 0 0 0 0")
    import sympy

    ev.written("symbolic", printed, sympy.Matrix(onehot((3, 4), 1, 2).astype(int).tolist()), kinds=("formula", "sympy"))
    for Bn, shape in ((_APPA_NUMERIC["B"], (3, 4)), (rng(34).standard_normal((2, 2)), (5, 4))):
        M = input_jacobian(shape, Bn, (1, 1), (1, 2))
        Z = corr2(np.zeros(shape), Bn, (1, 1), (1, 2))
        ev.written("explicit", M, _perm_jac(conv2d_input_jacobian(Bn[None, None], (1, *shape), stride=(1, 2), padding=1), (1, *Z.shape), (1, *shape)), kinds=("formula", "package"))
        ev.written("fd", M, fd_jacobian(lambda x: vecF(corr2(unvecF(x, shape), Bn, (1, 1), (1, 2))), np.zeros(shape[0] * shape[1])), kinds=("formula", "fd"))


# ---------------------------------------------------------------------------
# Appendix B: max pooling with zero padding, switches and the mask
# ---------------------------------------------------------------------------
def maxpool_note(I, window, pad, stride):
    """Zero-padded max pooling as the note defines it; returns A and the 1-based switches i_pq
    (position of the max in the column-major vec of the window; the first one on ties)."""
    hl, wl = window
    Ip = np.pad(I, ((pad[0], pad[0]), (pad[1], pad[1])))
    ha, wa = out_size(I.shape[0], hl, pad[0], stride[0]), out_size(I.shape[1], wl, pad[1], stride[1])
    A = np.empty((ha, wa))
    sw = np.empty((ha, wa), dtype=int)
    for p in range(ha):
        for q in range(wa):
            win = vecF(Ip[p * stride[0] : p * stride[0] + hl, q * stride[1] : q * stride[1] + wl])
            k = int(np.argmax(win))
            A[p, q], sw[p, q] = win[k], k + 1
    return A, sw


def mask_from_switches(I_shape, window, pad, stride, sw):
    """The note's steps: eq. b-2.1 (block position), b-2.2 (top-left in I), b-2.3 (position in I),
    then the column j = (c_i − 1) h_i + r_i of the row for A_pq (a zero row when the max is padding)."""
    h_i, w_i = I_shape
    hl, wl = window
    ha, wa = sw.shape
    M = np.zeros((ha * wa, h_i * w_i))
    for q in range(1, wa + 1):
        for p in range(1, ha + 1):
            i_pq = sw[p - 1, q - 1]
            c_b = int(np.ceil(i_pq / hl))  # b-2.1
            r_b = i_pq - (c_b - 1) * hl
            r_top = 1 + stride[0] * (p - 1) - pad[0]  # b-2.2
            c_top = 1 + stride[1] * (q - 1) - pad[1]
            r_i, c_i = r_b + r_top - 1, c_b + c_top - 1  # b-2.3
            if 1 <= r_i <= h_i and 1 <= c_i <= w_i:
                j = (c_i - 1) * h_i + r_i
                M[(q - 1) * ha + (p - 1), j - 1] = 1.0
    return M


def switch_positions(I_shape, window, pad, stride, sw):
    """eqs. b-2.1 – b-2.3 applied to every switch: the 1-based (r_i, c_i) of each winner in I's coordinates, (p, q) order.

    No bounds check: a winner in the padding gets a row or column ≤ 0 or > h_i, w_i, as the formulas give it.
    """
    hl, wl = window
    ha, wa = sw.shape
    out = {}
    for q in range(1, wa + 1):
        for p in range(1, ha + 1):
            i_pq = int(sw[p - 1, q - 1])
            c_b = int(np.ceil(i_pq / hl))  # b-2.1
            r_b = i_pq - (c_b - 1) * hl
            r_top = 1 + stride[0] * (p - 1) - pad[0]  # b-2.2
            c_top = 1 + stride[1] * (q - 1) - pad[1]
            out[(p, q)] = (r_b + r_top - 1, c_b + c_top - 1)  # b-2.3
    return out


def mask_literal(I_shape, window, pad, stride, sw):
    """The note's mask exactly as App. B writes it: row (p, q) gets its 1 at column j = (c_i − 1) h_i + r_i.

    No guard for a winner in the padding (the note has none): when j is a valid column (1 ≤ j ≤ h_i w_i) the 1 goes
    there even if (r_i, c_i) lies outside I — a real but wrong entry; a j outside 1 … h_i w_i names no column and the
    row stays empty.
    """
    h_i, w_i = I_shape
    ha, wa = sw.shape
    M = np.zeros((ha * wa, h_i * w_i))
    for (p, q), (r_i, c_i) in switch_positions(I_shape, window, pad, stride, sw).items():
        j = (c_i - 1) * h_i + r_i
        if 1 <= j <= h_i * w_i:
            M[(q - 1) * ha + (p - 1), j - 1] = 1.0
    return M


_MAXPOOL_CASES = (
    ((3, 4), (3, 2), (1, 1), (1, 2)),  # the note's example
    ((5, 6), (2, 3), (1, 0), (2, 2)),
    ((4, 5), (3, 3), (1, 1), (1, 1)),
    ((6, 4), (2, 2), (0, 0), (2, 2)),
)


def _explicit_maxpool_jac(I, window, pad, stride):
    """The package's max-pooling mask (zero padding in the max, column-major tie rule) in the note's column-major vec."""
    from .. import max_pool2d_jacobian

    J = max_pool2d_jacobian(I[None], window, stride=stride, padding=pad, pad_value=0.0, ties="first-colmajor")
    A, _ = maxpool_note(I, window, pad, stride)
    return _perm_jac(J, (1, *A.shape), (1, *I.shape))


def _maxpool_fd_jac(I, window, pad, stride):
    return fd_jacobian(lambda x: vecF(maxpool_note(unvecF(x, I.shape), window, pad, stride)[0]), vecF(I))


def _torch_maxpool_jac(I, window, pad, stride):
    """torch's max_pool2d after explicit zero padding (torch itself pads with −∞)."""
    import torch

    def f(x):
        img = x.reshape(I.shape[1], I.shape[0]).T
        img = torch.nn.functional.pad(img, (pad[1], pad[1], pad[0], pad[0]))
        out = torch.nn.functional.max_pool2d(img[None, None], window, stride)[0, 0]
        return out.T.reshape(-1)

    return torch_jacobian(f, vecF(I))


@claim(
    "vardhan2022.appB-pool-example-size",
    location="App. B, (h_i, w_i) = (3, 4), (h_l, w_l) = (3, 2), padding (1, 1), stride (1, 2) → (3, 3); size formula",
    statement="""Pooling a 3×4 input with a 3×2 window, padding (1, 1) and stride (1, 2) gives 3×3;
    h_a = ⌊(h_i + 2 h_p − h_l)/h_s + 1⌋, w_a likewise.""",
    convention=CONV,
    routes=("index", "explicit"),
    expected="holds",
)
def _(ev):
    def counted(n, k, p_, s_):  # window starts 0, s, 2s, … that still fit in the padded length
        return sum(1 for start in range(0, n + 2 * p_, s_) if start + k <= n + 2 * p_)

    ev.written("index", (3, 3), (counted(3, 3, 1, 1), counted(4, 2, 1, 2)), kinds=("formula", "exact"))
    for shape, window, pad, stride in ((shape, window, pad, stride) for shape, window, pad, stride in _MAXPOOL_CASES):
        by_formula = (out_size(shape[0], window[0], pad[0], stride[0]), out_size(shape[1], window[1], pad[1], stride[1]))
        ev.written("index", by_formula, (counted(shape[0], window[0], pad[0], stride[0]), counted(shape[1], window[1], pad[1], stride[1])), kinds=("formula", "exact"))
        pkg = max_pool2d(np.zeros((1, *shape)), window, stride=stride, padding=pad, pad_value=0.0).shape[1:]
        ev.written("explicit", by_formula, pkg, kinds=("formula", "package"))


@claim(
    "vardhan2022.appB-omega-shape",
    location="App. B, definition of Ω (an h_l × w_l window) and its display with entries Ω_11 … Ω_{h_a w_a}",
    statement="""Ω is the h_l × w_l pooling window, but the displayed matrix runs its indices to h_a and w_a (the output size).""",
    convention=CONV,
    routes=("shape", "index", "explicit"),
    expected="holds-corrected",
    kind="slip",
    correction="Ω = (Ω_rs) with 1 ≤ r ≤ h_l, 1 ≤ s ≤ w_l (as in _vΩ, whose entries run to h_l, w_l).",
)
def _(ev):
    shape, window, pad, stride = _MAXPOOL_CASES[0]
    A, _ = maxpool_note(np.zeros(shape), window, pad, stride)
    I = symbol_matrix("I", 3, 4)
    windows = [_padded(I)[p : p + 3, 2 * q : 2 * q + 2].shape for p in range(3) for q in range(3)]  # rep.1
    ev.both("shape", [A.shape] * 9, [window] * 9, windows, kinds=("formula", "sympy"))  # displayed (h_a, w_a) vs (h_l, w_l)
    ev.corrected("index", window[0] * window[1], len(list(_padded(I)[1:4, 0:2].T)), kinds=("formula", "sympy"))  # _vΩ of window (2, 1): 6 entries
    # the package's patches of the same pooling geometry: one column per window entry
    phi = im2col(np.zeros((1, *shape)), window, stride=stride, padding=pad)
    ev.both("explicit", A.size, window[0] * window[1], phi.shape[1], kinds=("formula", "package"))


_REP2B = [
    ["0 I11 I21", "0 I12 I22 I13 I23", "0 I14 I24"],
    ["0 I11 I21 I31", "I12 I22 I32 I13 I23 I33", "0 I14 I24 I34"],
    ["0 I21 I31", "0 I22 I23 I32 I33", "0 I24 I34"],
]


@claim(
    "vardhan2022.appB-rep1-rep2",
    location="App. B, rep.1 and rep.2 (the nine 3×2 windows and their maxima)",
    statement="""The nine windows of the zero-padded 3×4 input and the sets whose maxima they give, e.g.
    A11 = max{0, I11, I21}, A22 = max{I12, I22, I32, I13, I23, I33}, A32 = max{0, I22, I23, I32, I33}.""",
    convention=CONV,
    routes=("symbolic", "explicit", "numpy"),
    expected="holds",
)
def _(ev):
    I = symbol_matrix("I", 3, 4)
    Ip = _padded(I)
    for p in range(3):
        for q in range(3):
            win = Ip[p : p + 3, 2 * q : 2 * q + 2]
            got = sorted({str(e) for e in win})
            printed = sorted(set(_REP2B[p][q].split()))
            ev.written("symbolic", got == printed, True, kinds=("formula", "sympy"))
    r = rng(35)
    In = r.standard_normal((3, 4))
    A, _ = maxpool_note(In, (3, 2), (1, 1), (1, 2))
    sets = [[max(0.0 if t == "0" else In[int(t[1]) - 1, int(t[2]) - 1] for t in _REP2B[p][q].split()) for q in range(3)] for p in range(3)]
    ev.written("explicit", np.array(sets), max_pool2d(In[None], (3, 2), stride=(1, 2), padding=(1, 1), pad_value=0.0)[0], kinds=("formula", "package"))
    ev.written("numpy", np.array(sets), A, kinds=("formula", "formula"))


@claim(
    "vardhan2022.maxpool-zero-padding-semantics",
    location="App. B, rep.2 (max{0, …}: padding zeros take part in the max)",
    statement="""With zero padding inside the max, an output can be 0 although every real input in its window is negative —
    unlike frameworks that pad with −∞.""",
    convention=CONV,
    routes=("index", "explicit", "torch"),
    expected="holds",
)
def _(ev):
    I = -np.abs(rng(36).standard_normal((3, 4))) - 0.1
    A, _ = maxpool_note(I, (3, 2), (1, 1), (1, 2))
    # every window that reaches into the padding (counted from rep.1's window positions) outputs the padding's 0
    reaching = sum(1 for p_ in range(3) for q in range(3) if p_ * 1 < 1 or p_ * 1 + 3 > 4 or q * 2 < 1 or q * 2 + 2 > 5)
    ev.written("index", int(np.sum(A == 0)), reaching, kinds=("formula", "exact"))
    ev.written("explicit", A, max_pool2d(I[None], (3, 2), stride=(1, 2), padding=(1, 1), pad_value=0.0)[0], kinds=("formula", "package"))
    # frameworks pad with −∞ (the package's default): the max is then over the real entries of each window only
    real_max = np.array([[I[max(p_ - 1, 0) : p_ + 2, max(2 * q - 1, 0) : 2 * q + 1].max() for q in range(3)] for p_ in range(3)])
    ev.written("explicit", real_max, max_pool2d(I[None], (3, 2), stride=(1, 2), padding=(1, 1))[0], kinds=("formula", "package"))

    def t_fn():
        import torch

        Ip = torch.nn.functional.pad(torch.as_tensor(I)[None, None], (1, 1, 1, 1))
        return torch.nn.functional.max_pool2d(Ip, (3, 2), (1, 2))[0, 0].numpy()

    ev.written("torch", A, t_fn, kinds=("formula", "torch"))


@claim(
    "vardhan2022.appB-vec-forms",
    location="App. B, _vI, _vA, _vΩ",
    statement="""_vI, _vA and _vΩ stack columns: I11, I21, …, I_{h_i 1}, I12, … (lengths h_i w_i, h_a w_a, h_l w_l).""",
    convention=CONV,
    routes=("index", "convention"),
    expected="holds",
)
def _(ev):
    from .. import get_convention, vec

    conv = get_convention("vardhan2022")
    for h, w in ((3, 4), (3, 3), (3, 2)):
        codes = np.array([[10 * i + j for j in range(1, w + 1)] for i in range(1, h + 1)], float)
        listed = np.array([10 * i + j for j in range(1, w + 1) for i in range(1, h + 1)], float)
        ev.written("index", vecF(codes), listed, kinds=("formula", "exact"))
        ev.written("convention", vec(codes, conv), listed, kinds=("package", "formula"))


@claim(
    "vardhan2022.appB-switch-index-example",
    location="App. B, the switch i_pq (example: A21 = I21 ⇒ i21 = 5 in _vΩ = [0, 0, 0, a11, a21, a31])",
    statement="""Each A_pq stores the 1-based position i_pq, in the column-major vec of its window, of the entry that won the
    max; window (2, 1) vectorizes to (0, 0, 0, I11, I21, I31), so A21 = I21 gives i21 = 5.""",
    convention=CONV,
    routes=("symbolic", "explicit"),
    expected="holds",
)
def _(ev):
    import sympy

    I = symbol_matrix("I", 3, 4)
    win = _padded(I)[1:4, 0:2]
    ev.written("symbolic", sympy.Matrix(list(win.T)), sympy.Matrix([0, 0, 0, I[0, 0], I[1, 0], I[2, 0]]), kinds=("formula", "sympy"))
    In = np.array([[-1.0, 0.2, 0.3, 0.1], [2.0, -0.5, 0.4, 0.2], [0.5, 0.1, -0.3, 0.6]])  # I21 the largest in window (2, 1)
    _, sw = maxpool_note(In, (3, 2), (1, 1), (1, 2))
    ev.written("explicit", int(sw[1, 0]), 5, kinds=("formula", "exact"))


@claim(
    "vardhan2022.appB-eq-b1-shape",
    location="App. B, eq. b-1 (d_vA/d_vI, 9×12, entry (r, c) = ∂(_vA)_r/∂(_vI)_c)",
    statement="""d_vA/d_vI is the (h_a w_a) × (h_i w_i) = 9×12 numerator-layout Jacobian, rows A11, A21, …, columns I11, I21, ….""",
    convention=CONV,
    routes=("shape", "fd", "torch"),
    expected="holds",
)
def _(ev):
    shape, window, pad, stride = _MAXPOOL_CASES[0]
    I = rng(37).standard_normal(shape)
    J = _maxpool_fd_jac(I, window, pad, stride)
    ev.written("shape", J.shape, (9, 12), kinds=("formula", "exact"))
    ev.written("torch", J, lambda: _torch_maxpool_jac(I, window, pad, stride), kinds=("formula", "torch"))
    ev.written("fd", J.sum(axis=1), np.ones(9) - vecF(maxpool_note(I, window, pad, stride)[0] == 0), kinds=("formula", "fd"))


@claim(
    "vardhan2022.appB-one-hot-rows",
    location="App. B, after eq. b-1 ('A_pq = I_kl for some k ≤ h_i, l ≤ w_l', so each row has exactly one 1)",
    statement="""Every A_pq equals some real input I_kl, so every row of eq. b-1 has exactly one entry 1. Under the note's own
    zero padding a padding zero can win the max; that row is then entirely zero (the index bound is also printed w_l for w_i).""",
    convention=CONV,
    routes=("fd", "torch", "explicit"),
    expected="holds-corrected",
    kind="erratum",
    correction="""Row pq has a single 1, at I_kl (1 ≤ k ≤ h_i, 1 ≤ l ≤ w_i), when the stored max is a real entry, and is all
    zero when the max is a padding zero.""",
)
def _(ev):
    r = rng(38)
    for shape, window, pad, stride in _MAXPOOL_CASES:
        for sign in (1.0, -1.0):  # all-negative inputs let the padding win
            I = sign * np.abs(r.standard_normal(shape)) + sign * 0.05
            J = _maxpool_fd_jac(I, window, pad, stride)
            ones = np.rint(J).sum(axis=1)
            ev.written("fd", ones, np.ones(J.shape[0]), kinds=("formula", "fd"))
            A, sw = maxpool_note(I, window, pad, stride)
            padding_won = vecF(A == 0.0).astype(float)
            ev.corrected("fd", ones, 1.0 - padding_won, kinds=("formula", "fd"))
            ev.corrected("torch", lambda I=I, window=window, pad=pad, stride=stride: np.rint(_torch_maxpool_jac(I, window, pad, stride)).sum(axis=1), 1.0 - padding_won, kinds=("formula", "torch"))
            ev.corrected("explicit", _explicit_maxpool_jac(I, window, pad, stride).sum(axis=1), 1.0 - padding_won, kinds=("package", "formula"))


@claim(
    "vardhan2022.appB-eq-b2-1",
    location="App. B, eq. b-2.1 (c_b = ⌈i_pq/h_l⌉, r_b = i_pq − (c_b − 1) h_l)",
    statement="""From the 1-based index i_pq in the column-major vec of an h_l × w_l window: column c_b = ⌈i_pq/h_l⌉ and
    row r_b = i_pq − (c_b − 1) h_l within the block.""",
    convention=CONV,
    routes=("index", "convention", "numpy"),
    expected="holds",
)
def _(ev):
    from .. import get_convention, vec

    for hl, wl in ((3, 2), (2, 3), (4, 4), (1, 5)):
        got, want = [], []
        for i in range(1, hl * wl + 1):
            c_b = int(np.ceil(i / hl))
            got.append((i - (c_b - 1) * hl, c_b))
            r0, c0 = np.unravel_index(i - 1, (hl, wl), order="F")
            want.append((r0 + 1, c0 + 1))
        ev.written("index", np.array(got), np.array(want), kinds=("formula", "formula"))
        # the package's column-major vec (note 001's preset) of a window of codes 10 r + c, read back entry by entry
        window_codes = np.array([[[10 * (r_ + 1) + c + 1 for c in range(wl)] for r_ in range(hl)]])
        listed = vec(window_codes, get_convention("vardhan2022"))
        ev.written("convention", np.array(got), np.array([(int(code) // 10, int(code) % 10) for code in listed]), kinds=("formula", "package"))
    ev.written("numpy", (5 - (int(np.ceil(5 / 3)) - 1) * 3, int(np.ceil(5 / 3))), (2, 2), kinds=("formula", "exact"))  # the example i21 = 5 → (2, 2)


def _mask_inputs():
    """(shape, window, pad, stride, I): each pooling case with mixed-sign and with all-negative input (padding wins)."""
    r = rng(39)
    for shape, window, pad, stride in _MAXPOOL_CASES:
        for sign in (1.0, -1.0):
            yield shape, window, pad, stride, sign * (np.abs(r.standard_normal(shape)) + 0.05) if sign < 0 else r.standard_normal(shape)


def _mask_check(ev, route_form="written", build=None):
    """Compare the mask built by ``build`` (default: with the inside-I guard) with fd, torch and the package."""
    build = build or mask_from_switches
    record = getattr(ev, route_form)
    for shape, window, pad, stride, I in _mask_inputs():
        A, sw = maxpool_note(I, window, pad, stride)
        M = build(shape, window, pad, stride, sw)
        record("fd", M, _maxpool_fd_jac(I, window, pad, stride), kinds=("formula", "fd"))
        record("torch", M, lambda I=I, window=window, pad=pad, stride=stride: _torch_maxpool_jac(I, window, pad, stride), kinds=("formula", "torch"))
        record("explicit", M, _explicit_maxpool_jac(I, window, pad, stride), kinds=("formula", "package"))


@claim(
    "vardhan2022.appB-eq-b2-2",
    location="App. B, eq. b-2.2 (top-left of the window in I: r = 1 + h_s(p − 1) − h_p, c = 1 + w_s(q − 1) − w_p)",
    statement="""The block of A_pq starts at row 1 + h_s(p − 1) − h_p and column 1 + w_s(q − 1) − w_p of I (≤ 0 inside the padding).""",
    convention=CONV,
    routes=("index", "fd", "torch", "explicit"),
    expected="holds",
)
def _(ev):
    for shape, window, pad, stride in _MAXPOOL_CASES:
        codes = np.arange(1, shape[0] * shape[1] + 1, dtype=float).reshape(shape)
        Ip = np.pad(codes, ((pad[0], pad[0]), (pad[1], pad[1])))
        ha, wa = out_size(shape[0], window[0], pad[0], stride[0]), out_size(shape[1], window[1], pad[1], stride[1])
        for p in range(1, ha + 1):
            for q in range(1, wa + 1):
                r_top, c_top = 1 + stride[0] * (p - 1) - pad[0], 1 + stride[1] * (q - 1) - pad[1]
                # the padded-array position of the block's top-left equals the note's (r, c) shifted by the padding
                ev.written("index", Ip[r_top - 1 + pad[0], c_top - 1 + pad[1]], Ip[(p - 1) * stride[0], (q - 1) * stride[1]], kinds=("formula", "exact"))
    _mask_check(ev)


@claim(
    "vardhan2022.appB-eq-b2-3",
    location="App. B, eq. b-2.3 (r_i = r_b + r_top − 1, c_i = c_b + c_top − 1; 'assigned to Z_pq')",
    statement="""The winner of window (p, q) sits at row r_i = r_b + r_top − 1 and column c_i = c_b + c_top − 1 in I's 1-based
    coordinates — inside I, or in the padding frame (row or column 0 or h_i + 1 …) when a padding zero wins. (The text names
    the target Z_pq where App. B's output is A_pq; no value depends on that label.)""",
    convention=CONV,
    routes=("explicit", "fd"),
    expected="holds",
)
def _(ev):
    from .. import max_pool2d_switches

    for shape, window, pad, stride, I in _mask_inputs():
        A, sw = maxpool_note(I, window, pad, stride)
        note = switch_positions(shape, window, pad, stride, sw)
        keys = sorted(note)
        # the package's switches (zero padding in the max, first maximum in the column-major window vec)
        S = max_pool2d_switches(I[None], window, stride=stride, padding=pad, pad_value=0.0, ties="first-colmajor")
        kh, kw = window
        pkg = [(int(S.tap[0, p - 1, q - 1]) // kw + 1 + stride[0] * (p - 1) - pad[0], int(S.tap[0, p - 1, q - 1]) % kw + 1 + stride[1] * (q - 1) - pad[1]) for p, q in keys]
        ev.written("explicit", [note[k] for k in keys], pkg, kinds=("formula", "package"))
        # differences: a winner inside I is the one input entry its output moves with; a padding winner moves with none
        J = _maxpool_fd_jac(I, window, pad, stride)
        ha = A.shape[0]
        by_fd = []
        for p, q in keys:
            row = J[(q - 1) * ha + (p - 1)]
            k = int(np.argmax(np.abs(row)))
            by_fd.append((k % shape[0] + 1, k // shape[0] + 1) if abs(row[k]) > 0.5 else (0, 0))  # (0, 0): padding
        inside = [note[k] if 1 <= note[k][0] <= shape[0] and 1 <= note[k][1] <= shape[1] else (0, 0) for k in keys]
        ev.written("fd", inside, by_fd, kinds=("formula", "fd"))


@claim(
    "vardhan2022.appB-linear-index",
    location="App. B, the 1 of row A_pq at column j = (c_i − 1) h_i + r_i",
    statement="""Row A_pq of eq. b-1 has its 1 at column j = (c_i − 1) h_i + r_i. The note applies this to every switch, with no
    exception for a winner in the padding, which its own zero padding allows. Read literally (all-negative input), j then
    names a real but wrong entry of I (e.g. in the note's 3 × 4 example A12 → (0, 2) → j = 3, the place of I31; A32 → (4, 2)
    → j = 7, I13; A13 → (0, 4) → j = 9, I33) or no column at all (A11 → j = −3, A23 → j = 13).""",
    convention=CONV,
    routes=("fd", "torch", "explicit", "index"),
    expected="holds-corrected",
    kind="erratum",
    correction="""Compute j = (c_i − 1) h_i + r_i only when 1 ≤ r_i ≤ h_i and 1 ≤ c_i ≤ w_i (the column-major place of I_{r_i c_i});
    when the winner is a padding zero the row is all zero.""",
)
def _(ev):
    _mask_check(ev, "written", build=mask_literal)
    _mask_check(ev, "corrected")
    # the column-major place of I_{r c}, by listing vec(I) entry by entry, for the in-range case
    for h_i, w_i in ((3, 4), (5, 2)):
        codes = np.arange(h_i * w_i).reshape(h_i, w_i)
        position = {int(code): k + 1 for k, code in enumerate(vecF(codes))}  # 1-based place of each entry in _vI
        j = np.array([(c - 1) * h_i + r_ for r_ in range(1, h_i + 1) for c in range(1, w_i + 1)])
        ev.corrected("index", j, np.array([position[int(codes[r_ - 1, c - 1])] for r_ in range(1, h_i + 1) for c in range(1, w_i + 1)]), kinds=("formula", "formula"))
    # the audit's worked case: the note's 3 × 4 example, all-negative input, first-maximum switches
    I = -np.abs(rng(36).standard_normal((3, 4))) - 0.1
    _, sw = maxpool_note(I, (3, 2), (1, 1), (1, 2))
    pos = switch_positions((3, 4), (3, 2), (1, 1), (1, 2), sw)
    literal_j = {k: (c - 1) * 3 + r_ for k, (r_, c) in pos.items()}
    printed = {(1, 1): -3, (2, 1): -2, (3, 1): -1, (1, 2): 3, (3, 2): 7, (1, 3): 9, (2, 3): 13, (3, 3): 13}
    ev.written("index", [literal_j[k] for k in sorted(printed)], [printed[k] for k in sorted(printed)], kinds=("formula", "exact"))


@claim(
    "vardhan2022.maxpool-mask-per-channel",
    location="§3.1.3 Max-pooling ('a mask, which is essentially the matrix d_vA^[l]/d_vI^[l]') with dJ/d_vI = dJ/d_vA · d_vA/d_vI",
    statement="""For max pooling the note says only that the switches give 'a mask', the matrix d_vA^[l]/d_vI^[l], and does not
    say that, unlike average pooling's shared Jacobian, each channel needs its own.""",
    convention=CONV,
    routes=("fd", "explicit", "torch"),
    expected="completes",
    kind="gap",
    correction="""Max pooling has one mask per channel, built from that channel's switches: row j of dJ/d_vI is
    (row j of dJ/d_vA) · M_j with M_j = d_vA_j/d_vI_j.""",
)
def _(ev):
    ev.gap("the note does not say whose switches build the mask when the layer has several channels")
    r = rng(40)
    for shape, window, pad, stride in _MAXPOOL_CASES:
        I = r.standard_normal((2, *shape))
        masks = [mask_from_switches(shape, window, pad, stride, maxpool_note(I[c], window, pad, stride)[1]) for c in range(2)]
        G = r.standard_normal((2, masks[0].shape[0]))  # dJ/d_vA, rows = channels
        per_channel = np.stack([G[c] @ masks[c] for c in range(2)])
        ev.corrected("fd", per_channel, np.stack([G[c] @ _maxpool_fd_jac(I[c], window, pad, stride) for c in range(2)]), kinds=("formula", "fd"))
        ev.corrected("torch", per_channel, lambda I=I, G=G, window=window, pad=pad, stride=stride: np.stack([G[c] @ _torch_maxpool_jac(I[c], window, pad, stride) for c in range(2)]), kinds=("formula", "torch"))
        ev.corrected("explicit", per_channel, np.stack([G[c] @ _explicit_maxpool_jac(I[c], window, pad, stride) for c in range(2)]), kinds=("formula", "package"))
        # one channel's mask used for both is wrong whenever the channels' switches differ
        assert np.abs(G @ masks[0] - per_channel).max() > 0 or np.array_equal(masks[0], masks[1])

@claim(
    "vardhan2022.preset-order",
    location="§3.1 (_vA stacks columns; an m × n × c tensor is the mn × c matrix of channel vecs) and App. A's lists",
    statement="""The note's vec of a 3 × 4 matrix lists a11, a21, a31, a12, a22, a32, a13, a23, a33, a14, a24, a34, and a
    c-channel tensor is flattened channel block after channel block (B = [vec A_1; vec A_2; …]). The package's preset
    ``vardhan2022`` orders (C, H, W) arrays this way.""",
    convention=CONV,
    routes=("index", "loops"),
    expected="holds",
)
def _(ev):
    from ._tools import coded_tensor, preset_order

    A = coded_tensor(2, 3, 4)
    listed = [11, 21, 31, 12, 22, 32, 13, 23, 33, 14, 24, 34]
    ev.written("index", [100 + v for v in listed] + [200 + v for v in listed], preset_order("vardhan2022", A), kinds=("exact", "package"))
    # the note's flatten, by loops: channel blocks, each stacking its columns
    loops = [int(A[c, i, j]) for c in range(2) for j in range(4) for i in range(3)]
    ev.written("loops", loops, preset_order("vardhan2022", A), kinds=("formula", "package"))


@claim(
    "vardhan2022.maxpool-ties",
    location="§3.1.3 and App. B (the switch i_pq is 'the' position of the maximum)",
    statement="""The note does not say which entry is the switch when several entries of a window tie for the maximum.""",
    convention=CONV,
    routes=("index", "loops", "explicit", "torch"),
    expected="completes",
    kind="gap",
    correction="""Take the first maximum in the note's own scan, the window stacked column by column (i_pq is the smallest
    index of a maximum in vec_col of the window). PyTorch takes the first maximum in row-major order instead; the two differ
    on ties between real entries (window [[0, 2], [2, 0]]: column-major picks (2, 1), PyTorch (1, 2)).""",
)
def _(ev):
    from .. import max_pool2d_switches

    ev.gap("no tie rule is stated")
    windows = [np.array([[0.0, 2.0], [2.0, 0.0]]), np.array([[1.0, 1.0], [1.0, 1.0]]), np.array([[3.0, -1.0], [0.5, 3.0]])]
    # the stated example: in [[0, 2], [2, 0]] the column-major scan meets (2, 1) first, the row-major one (1, 2)
    first_col = np.unravel_index(int(np.argmax(vecF(windows[0]))), (2, 2), order="F")
    first_row = np.unravel_index(int(np.argmax(windows[0].ravel())), (2, 2))
    ev.corrected("index", [tuple(int(v) + 1 for v in first_col), tuple(int(v) + 1 for v in first_row)], [(2, 1), (1, 2)], kinds=("formula", "exact"))
    for W in windows:
        colmajor = int(np.argmax(vecF(W))) + 1  # the note's scan: 1-based place in the column-stacked window
        r0, c0 = np.unravel_index(colmajor - 1, W.shape, order="F")
        S = max_pool2d_switches(W[None], 2, ties="first-colmajor")
        tap = int(S.tap[0, 0, 0])
        ev.corrected("explicit", (int(r0), int(c0)), (tap // 2, tap % 2), kinds=("formula", "package"))
        rowmajor = [(i, j) for i in range(2) for j in range(2) if W[i, j] == W.max()][0]  # PyTorch's scan, by loops
        S_row = max_pool2d_switches(W[None], 2, ties="first")
        ev.corrected("loops", rowmajor, (int(S_row.tap[0, 0, 0]) // 2, int(S_row.tap[0, 0, 0]) % 2), kinds=("formula", "package"))

        def t_fn(W=W):
            import torch

            _, idx = torch.nn.functional.max_pool2d(torch.as_tensor(W)[None, None], 2, return_indices=True)
            return divmod(int(idx.ravel()[0]), 2)

        ev.corrected("torch", rowmajor, t_fn, kinds=("formula", "torch"))


def _forward_max(p, cfg):
    """The note's forward with max pooling (App. B: zero padding inside the max) in place of average pooling."""
    v = {"Z1": conv_layer(p["A0"], p["K1"], p["b1"], cfg["pad1"], cfg["stride1"])}
    v["I1"] = sigmoid(v["Z1"])
    pool1 = [maxpool_note(I, cfg["pool1"], cfg["ppad1"], cfg["pstride1"]) for I in v["I1"]]
    v["A1"], v["sw1"] = np.stack([a for a, _ in pool1]), [s_ for _, s_ in pool1]
    v["Z2"] = conv_layer(v["A1"], p["K2"], p["b2"], cfg["pad2"], cfg["stride2"])
    v["I2"] = sigmoid(v["Z2"])
    pool2 = [maxpool_note(I, cfg["pool2"], cfg["ppad2"], cfg["pstride2"]) for I in v["I2"]]
    v["A2"], v["sw2"] = np.stack([a for a, _ in pool2]), [s_ for _, s_ in pool2]
    v["B2"] = np.concatenate([vecF(a) for a in v["A2"]])
    v["Z3"] = p["W3"].T @ v["B2"] + p["b3"]
    v["A3"] = softmax(v["Z3"])
    return v


def _backward_max(p, cfg):
    """§3.1's chain with each channel's App. B mask M_j = d_vA_j/d_vI_j for the pooling steps (rows = channels)."""
    v = _forward_max(p, cfg)
    a3 = v["A3"]
    dZ3 = -(p["y"] / a3) @ (np.diag(a3) - np.outer(a3, a3))
    dA2 = (dZ3 @ p["W3"].T).reshape(cfg["c2"], -1)
    masks2 = [mask_from_switches(v["I2"].shape[1:], cfg["pool2"], cfg["ppad2"], cfg["pstride2"], s_) for s_ in v["sw2"]]
    dZ2 = _through_sigmoid(np.stack([dA2[j] @ masks2[j] for j in range(cfg["c2"])]), v["I2"])
    dK2 = _kernel_rows(dZ2, v["A1"], cfg["k2"], cfg["pad2"], cfg["stride2"])
    dA1 = np.stack(
        [sum(dZ2[j] @ input_jacobian(v["A1"].shape[1:], p["K2"][j, i], cfg["pad2"], cfg["stride2"]) for j in range(cfg["c2"])) for i in range(cfg["c1"])]
    )
    masks1 = [mask_from_switches(v["I1"].shape[1:], cfg["pool1"], cfg["ppad1"], cfg["pstride1"], s_) for s_ in v["sw1"]]
    dZ1 = _through_sigmoid(np.stack([dA1[j] @ masks1[j] for j in range(cfg["c1"])]), v["I1"])
    dK1 = _kernel_rows(dZ1, p["A0"], cfg["k1"], cfg["pad1"], cfg["stride1"])
    return rows_to_kernel(dK1, cfg["k1"]), rows_to_kernel(dK2, cfg["k2"])


@claim(
    "vardhan2022.maxpool-network-chain",
    location="§3.1.3 ('max-pooling … a mask') with the §3.1 chain and App. B's mask, through the whole network",
    statement="""With max pooling in both pooling layers, the §3.1 chain — each pooling step multiplied by the channel's
    App. B mask built from its switches (zero padding inside the max, first maximum in the column-stacked window) —
    gives the kernel gradients of both convolutional layers.""",
    convention=CONV,
    routes=("explicit", "fd"),
    expected="holds",
)
def _(ev):
    from .. import Vardhan2022Net

    for seed in (1, 4):
        net = Vardhan2022Net.sample(seed, pooling="max")
        p = {k: np.asarray(v_) for k, v_ in net.values.items()}
        dK1, dK2 = _backward_max(p, _NETWORK_CFG)
        ex = net.explicit_gradients()
        ev.written("explicit", np.concatenate([dK1.ravel(), dK2.ravel()]), np.concatenate([ex["K1"].ravel(), ex["K2"].ravel()]), kinds=("formula", "package"))
        fd = net.finite_difference_gradients(["K1", "K2"])
        ev.written("fd", np.concatenate([dK1.ravel(), dK2.ravel()]), np.concatenate([fd["K1"].ravel(), fd["K2"].ravel()]), kinds=("formula", "fd"), tol=1e-6)


@claim(
    "vardhan2022.fc-loss-unspecified",
    location="§3.1.1 (dJ/dA^[3] and dA^[3]/dZ^[3]), whole note",
    statement="""The loss J and the output activation A^[3] = g(Z^[3]) are never specified, so dJ/dA^[3] and
    dA^[3]/dZ^[3] stay symbolic.""",
    convention=CONV,
    routes=("explicit", "fd", "package", "chain", "torch"),
    expected="completes",
    kind="gap",
    correction="""With the choice the ledger's network claims use — A^[3] = softmax(Z^[3]) and the cross-entropy
    J = −yᵀ log A^[3] for a one-hot y: dJ/dA^[3] = −(y ⊘ A^[3])ᵀ, dA^[3]/dZ^[3] = diag(a) − a aᵀ (not diagonal), so
    dJ/dZ^[3] = (a − y)ᵀ.""",
)
def _(ev):
    ev.gap("the loss and the output activation are not given")
    for p, cfg in _nets():
        z, y = forward(p, cfg)["Z3"], p["y"]
        a = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        J_act = np.diag(a) - np.outer(a, a)
        dJ_dA = -(y / a)
        dJ_dZ = a - y
        ev.corrected("explicit", J_act, reference_jacobian("softmax", "s", s=z).toarray(), kinds=("formula", "package"))
        ev.corrected("fd", J_act, fd_jacobian(softmax, z), kinds=("formula", "fd"))
        ev.corrected("fd", dJ_dA, fd_gradient(lambda a_: -float(y @ np.log(a_)), a), kinds=("formula", "fd"))
        ev.corrected("fd", dJ_dZ, fd_gradient(lambda z_: -float(y @ np.log(softmax(z_))), z), kinds=("formula", "fd"))
        ev.corrected("package", dJ_dZ, reference_vjp("softmax_cross_entropy", np.array(1.0), "s", s=z, y=y), kinds=("formula", "package"))
        ev.corrected("chain", dJ_dA @ J_act, dJ_dZ, kinds=("formula", "formula"))

        def t_fn(z=z, y=y):
            import torch

            return torch_grad(lambda zt: -(torch.as_tensor(y) @ torch.log_softmax(zt, 0)), z)

        ev.corrected("torch", dJ_dZ, t_fn, kinds=("formula", "torch"))


@claim(
    "vardhan2022.intermediate-shape",
    location="§2 Forward Propagation, I^[l] = g(Z^[l]) declared in R^{h_z × w_z}",
    statement="""The intermediate result I^[l] = g(Z^[l]) is declared to be in R^{h_z × w_z}, although Z^[l] has c^[l]
    channels (and §3.1.3 uses its channels I_j^[l]).""",
    convention=CONV,
    routes=("shape", "explicit", "torch"),
    expected="holds-corrected",
    kind="slip",
    correction="I^[l] ∈ R^{c^[l] × h_z × w_z}; each channel I_j^[l] is h_z × w_z.",
)
def _(ev):
    from .. import sigmoid as sigmoid_op

    for p, cfg in _nets():
        for A, K, b, pad, st in ((p["A0"], p["K1"], p["b1"], cfg["pad1"], cfg["stride1"]), (forward(p, cfg)["A1"], p["K2"], p["b2"], cfg["pad2"], cfg["stride2"])):
            hz, wz = out_size(A.shape[1], K.shape[2], pad[0], st[0]), out_size(A.shape[2], K.shape[3], pad[1], st[1])
            written, fixed = (hz, wz), (K.shape[0], hz, wz)
            I = sigmoid_op(conv2d(A, K, b, stride=st, padding=pad))
            ev.both("explicit", written, fixed, I.shape, kinds=("formula", "package"))
            counted = (K.shape[0], len(range(0, A.shape[1] + 2 * pad[0] - K.shape[2] + 1, st[0])), len(range(0, A.shape[2] + 2 * pad[1] - K.shape[3] + 1, st[1])))
            ev.both("shape", written, fixed, counted, kinds=("formula", "exact"))

            def t_shape(A=A, K=K, b=b, pad=pad, st=st):
                import torch

                return tuple(torch.sigmoid(torch.nn.functional.conv2d(torch.as_tensor(A)[None], torch.as_tensor(K), torch.as_tensor(b), stride=st, padding=pad))[0].shape)

            ev.corrected("torch", fixed, t_shape, kinds=("formula", "torch"))
