"""Small numeric helpers shared by the ledger's note modules.

Everything here is plain numpy (torch and sympy are imported inside the
functions that need them), so that each route of a claim's check is built
from code that does not share a path with the route it is compared with:
finite differences call only a forward; the torch helpers call only torch.
"""
from __future__ import annotations

import numpy as np

FD_STEP = 1e-6


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# the generic finite-difference and torch routes live in the public claims API
from ..claims import fd_gradient, fd_jacobian, torch_jacobian  # noqa: E402,F401
from ..claims import torch_gradient as torch_grad  # noqa: E402,F401


def fd_gradient_wrt(f, wrt: str, h: float = FD_STEP, **args) -> np.ndarray:
    """Central-difference gradient of the scalar ``f(**args)`` with respect to the argument named ``wrt``.

    The other arguments are passed unchanged; the result is shaped like ``args[wrt]``. This is the
    closure ``fd_gradient(lambda v: f(..., wrt=v, ...), args[wrt])`` written once.
    """
    return fd_gradient(lambda value: f(**{**args, wrt: value}), args[wrt], h)


def symbol_matrix(name: str, rows: int, cols: int):
    """sympy matrix of the symbols ``{name}{i}{j}`` with 1-based i, j (e.g. ``a11 … a34``)."""
    import sympy

    return sympy.Matrix(rows, cols, lambda i, j: sympy.Symbol(f"{name}{i + 1}{j + 1}"))


def pad_sides(padding):
    """(top, bottom, left, right) from an int, a (ph, pw) pair or a 4-tuple."""
    if np.isscalar(padding):
        p = int(padding)
        return (p, p, p, p)
    padding = tuple(int(v) for v in padding)
    if len(padding) == 2:
        return (padding[0], padding[0], padding[1], padding[1])
    return padding


def corr_loops(x, w, stride=1, padding=0):
    """Reference correlation by explicit index sums (for the notes' elementwise formulas).

    x (N, C_in, H, W), w (C_out, C_in, kh, kw) → (N, C_out, OH, OW):
    ``y[n,o,i,j] = Σ_{c,a,b} w[o,c,a,b] xp[n,c,i·sh+a,j·sw+b]``, accumulated one kernel
    tap (a, b) at a time over strided slices of the zero-padded input — deliberately
    not the package's sliding-window forward.
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    pt, pb, pl, pr = pad_sides(padding)
    sh, sw = (stride, stride) if np.isscalar(stride) else stride
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    kh, kw = w.shape[2:]
    oh = (xp.shape[2] - kh) // sh + 1
    ow = (xp.shape[3] - kw) // sw + 1
    out = np.zeros((x.shape[0], w.shape[0], max(oh, 0), max(ow, 0)))
    if oh <= 0 or ow <= 0:
        return out
    for a in range(kh):
        for b in range(kw):
            tap = xp[:, :, a : a + (oh - 1) * sh + 1 : sh, b : b + (ow - 1) * sw + 1 : sw]
            out += np.einsum("nchw,oc->nohw", tap, w[:, :, a, b])
    return out


# ---------------------------------------------------------------------------
# torch routes (lazy import; callers record them under route "torch")
# ---------------------------------------------------------------------------
def torch_conv2d(x, w, b=None, stride=1, padding=0):
    import torch
    import torch.nn.functional as F

    pt, pb, pl, pr = pad_sides(padding)
    xt = torch.as_tensor(np.asarray(x, dtype=np.float64))
    xt = F.pad(xt, (pl, pr, pt, pb))
    bt = None if b is None else torch.as_tensor(np.asarray(b, dtype=np.float64))
    return F.conv2d(xt, torch.as_tensor(np.asarray(w, dtype=np.float64)), bt, stride=stride).numpy()


def torch_conv2d_grads(x, w, g, stride=1, padding=0):
    """(∂L/∂x, ∂L/∂w, ∂L/∂b) of L = ⟨g, conv2d(x, w) + b⟩ by torch autograd; x batched (N, C, H, W)."""
    import torch
    import torch.nn.functional as F

    pt, pb, pl, pr = pad_sides(padding)
    xt = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    wt = torch.tensor(np.asarray(w, dtype=np.float64), requires_grad=True)
    bt = torch.zeros(w.shape[0], dtype=torch.float64, requires_grad=True)
    y = F.conv2d(F.pad(xt, (pl, pr, pt, pb)), wt, bt, stride=stride)
    (y * torch.as_tensor(np.asarray(g, dtype=np.float64))).sum().backward()
    return xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


# ---------------------------------------------------------------------------
# geometries
# ---------------------------------------------------------------------------
#: (N, C_in, H, W, C_out, kh, kw, stride, padding) — non-square, multi-channel;
#: the strided and padded ones are used only where a claim allows them. Among the strided ones the remainder
#: (H + pads − (kh − 1) − 1) mod s is non-zero in H only, in W only (twice) and in both — the case where the
#: rot180 route must add the rows/columns the forward never reached.
CONV_GEOMETRIES = (
    dict(n=1, c_in=1, h=6, w=6, c_out=1, kh=3, kw=3, stride=1, padding=0),
    dict(n=2, c_in=3, h=5, w=7, c_out=2, kh=2, kw=3, stride=1, padding=0),
    dict(n=1, c_in=2, h=6, w=5, c_out=3, kh=3, kw=2, stride=1, padding=0),
    dict(n=2, c_in=2, h=8, w=8, c_out=3, kh=3, kw=2, stride=2, padding=0),  # remainder (H − kh) mod s = 1, W: 0
    dict(n=1, c_in=3, h=8, w=7, c_out=2, kh=2, kw=3, stride=3, padding=0),  # remainder H: 0, W: 1
    dict(n=1, c_in=2, h=9, w=8, c_out=2, kh=2, kw=3, stride=3, padding=0),  # remainder H: 1, W: 2
    dict(n=1, c_in=2, h=6, w=7, c_out=2, kh=3, kw=3, stride=2, padding=(1, 0, 2, 1)),
    dict(n=2, c_in=1, h=5, w=6, c_out=2, kh=2, kw=2, stride=1, padding=1),
)


def geometries(stride=None, padding=None):
    """The geometries with the given constraints: ``stride=1`` / ``padding=0`` / None for any."""
    out = []
    for g in CONV_GEOMETRIES:
        if stride == 1 and g["stride"] != 1:
            continue
        if stride == ">1" and g["stride"] == 1:
            continue
        if padding == 0 and pad_sides(g["padding"]) != (0, 0, 0, 0):
            continue
        if padding == ">0" and pad_sides(g["padding"]) == (0, 0, 0, 0):
            continue
        out.append(g)
    return out


def conv_data(g, seed=0):
    """x (N, C_in, H, W), w (C_out, C_in, kh, kw), b (C_out,), upstream δ shaped like the output."""
    r = rng(seed)
    x = r.standard_normal((g["n"], g["c_in"], g["h"], g["w"]))
    w = r.standard_normal((g["c_out"], g["c_in"], g["kh"], g["kw"]))
    b = r.standard_normal(g["c_out"])
    pt, pb, pl, pr = pad_sides(g["padding"])
    oh = (g["h"] + pt + pb - g["kh"]) // g["stride"] + 1
    ow = (g["w"] + pl + pr - g["kw"]) // g["stride"] + 1
    delta = r.standard_normal((g["n"], g["c_out"], oh, ow))
    return x, w, b, delta


def conv_cases(gs):
    """(g, x, w, b, δ) for each geometry g of ``gs``, the data drawn by :func:`conv_data` seeded by g's position."""
    for seed, g in enumerate(gs):
        yield (g, *conv_data(g, seed))


def dilate(d, s):
    """Insert s − 1 zeros between rows and between columns of the last two axes."""
    if s == 1:
        return np.array(d, dtype=np.float64)
    n, c, h, w = d.shape
    out = np.zeros((n, c, (h - 1) * s + 1, (w - 1) * s + 1))
    out[:, :, ::s, ::s] = d
    return out


# ---------------------------------------------------------------------------
# explicit route: the package's sparse Jacobians (transposed times δ)
# ---------------------------------------------------------------------------
def explicit_conv_grads(x, w, delta, stride=1, padding=0):
    """(∂L/∂x, ∂L/∂w, ∂L/∂b) as Jᵀδ with the explicit sparse Jacobians, summed over the batch."""
    from .. import conv2d_bias_jacobian, conv2d_input_jacobian, conv2d_weight_jacobian

    dx = np.empty_like(np.asarray(x, dtype=np.float64))
    dw = np.zeros(w.shape)
    db = np.zeros(w.shape[0])
    m_f = conv2d_input_jacobian(w, x.shape[1:], stride=stride, padding=padding)
    for n in range(x.shape[0]):
        d = delta[n].ravel()
        dx[n] = (m_f.T @ d).reshape(x.shape[1:])
        dw += (conv2d_weight_jacobian(x[n], w.shape, stride=stride, padding=padding).T @ d).reshape(w.shape)
        db += conv2d_bias_jacobian(delta[n].shape).T @ d
    return dx, dw, db


def fd_conv_forward(x, w, b=None, stride=1, padding=0):
    """conv(x, w) + b rebuilt from finite differences: the layer is linear in w, so J_fd(w) · vec(w) is its bias-free output.

    ``J_fd`` is the central-difference Jacobian of the package's registered forward w.r.t. the weight (route ``fd`` of
    :func:`jacobians.claims.reference_jacobian`), one sample at a time; ``x`` is (N, C, H, W) or (C, H, W). A route of
    kind ``fd``: it uses the forward only, never a builder or a VJP.
    """
    from ..claims import reference_jacobian

    x = np.asarray(x, dtype=np.float64)
    batched = x.ndim == 4
    xs = x if batched else x[None]
    out = []
    for xn in xs:
        J = reference_jacobian("conv2d", "weight", route="fd", x=xn, weight=w, stride=stride, padding=padding)
        y = J @ np.asarray(w, dtype=np.float64).ravel()
        out.append(y.reshape(w.shape[0], -1))
    pt, pb, pl, pr = pad_sides(padding)
    sh, sw = (stride, stride) if np.isscalar(stride) else stride
    oh = (xs.shape[2] + pt + pb - w.shape[2]) // sh + 1
    ow = (xs.shape[3] + pl + pr - w.shape[3]) // sw + 1
    y = np.stack(out).reshape(xs.shape[0], w.shape[0], oh, ow)
    if b is not None:
        y = y + np.asarray(b)[None, :, None, None]
    return y if batched else y[0]


def coded_tensor(channels, rows, cols):
    """(C, H, W) array whose entry [c, i, j] is the integer code 100·(c+1) + 10·(i+1) + (j+1) (1-based c, i, j)."""
    c, i, j = np.meshgrid(np.arange(1, channels + 1), np.arange(1, rows + 1), np.arange(1, cols + 1), indexing="ij")
    return (100 * c + 10 * i + j).astype(np.float64)


def preset_order(preset: str, tensor) -> list:
    """The integer codes of ``tensor`` listed in the order of the package's convention ``preset`` (its vec)."""
    from .. import get_convention, vec

    return [int(v) for v in vec(tensor, get_convention(preset))]


def numeric_array(value, name: str, dtype=None) -> np.ndarray:
    """``value`` as a real numeric ndarray, or one line naming ``name`` (the notes' formulas follow the API's rule)."""
    try:
        arr = np.asarray(value) if dtype is None else np.asarray(value, dtype=dtype)
    except (ValueError, TypeError):
        raise ValueError(f"{name}: must be a rectangular array of real numbers (got {type(value).__name__})") from None
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name}: must be an array of real numbers (got dtype {arr.dtype})")
    return arr
