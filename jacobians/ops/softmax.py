"""Softmax, cross-entropy and the Frobenius (mean-squared) loss, with their Jacobians.

Shapes: a score vector ``s`` (C,), probabilities ``p = softmax(s)`` (C,),
a label ``y`` (C,) that is a probability vector (non-negative, summing to
1) or one-hot. Losses are scalars (0-d arrays); their Jacobians are 1×n
rows (numerator layout), their gradients the transposed rows.

Formulas and conventions chosen
-------------------------------
softmax
    ``p_k = exp(s_k − max s) / Σ_j exp(s_j − max s)`` (shifted: no
    overflow). Jacobian ``∂p/∂s = diag(p) − p pᵀ`` (dense C×C, symmetric).
cross-entropy (note 004, DD2424)
    ``l = −log(yᵀp)``. For a one-hot y = e_k this is −log p_k. For a soft y
    it is the negative log of the probability of the event "class drawn
    from y", which is **not** the usual soft-target cross-entropy.
note 004's chained gradient
    ``∂l/∂s = −yᵀ/(yᵀp) · (diag(p) − p pᵀ)``, which simplifies, for any y,
    to ``pᵀ − (y ∘ p)ᵀ/(yᵀp)``. It equals ``(p − y)ᵀ`` **iff**
    ``p_k = yᵀp`` on every k with ``y_k > 0``, i.e. iff p is constant on
    the support of y: always for one-hot y, for any other y only at special
    scores. In general it differs from ``p − y`` by ``y − (y ∘ p)/(yᵀp)``.
    (The slide prints the matrix as ``diag(p − p pᵀ)``, which does not
    type-check — a vector minus a C×C matrix; the intended matrix, used
    here, is ``diag(p) − p pᵀ``.)
soft-target cross-entropy
    ``h = −Σ_k y_k log p_k`` (PyTorch's ``cross_entropy`` with probability
    targets) has gradient ``(Σy)·p − y``, i.e. ``(p − y)ᵀ`` for **any** y
    summing to 1. So "(p − y)ᵀ for any probability vector y" is true of h,
    not of note 004's l; the two losses coincide for one-hot y.
Frobenius loss (note 000, Wang 2019)
    ``Q = ½‖X − Y‖²_F``; ``∂Q/∂vec(X) = vec(X − Y)ᵀ`` (a 1×n row),
    ``∂Q/∂vec(Y) = −vec(X − Y)ᵀ``.

Labels are validated: a probability vector within ``LABEL_ATOL`` of
summing to 1 with no negative entry; functions that need one-hot labels
raise ``ValueError("y: non-one-hot label where one-hot is required …")``.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..registry import Case, register
from ._sparse import as_float_array

__all__ = [
    "LABEL_ATOL",
    "softmax",
    "softmax_jacobian",
    "softmax_vjp",
    "cross_entropy",
    "cross_entropy_jacobian",
    "softmax_cross_entropy",
    "softmax_cross_entropy_grad",
    "softmax_cross_entropy_grad_onehot",
    "softmax_cross_entropy_vjp",
    "soft_cross_entropy",
    "softmax_soft_cross_entropy",
    "softmax_soft_cross_entropy_grad",
    "frobenius_loss",
    "frobenius_loss_jacobian",
]

#: How far Σy may be from 1 for y to count as a probability vector.
LABEL_ATOL = 1e-10


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------
def _vector(v, name) -> np.ndarray:
    arr = as_float_array(v, name)
    if arr.dtype == object:
        raise TypeError(f"{name}: needs numeric values (got an object array)")
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name}: must be a non-empty vector of shape (C,) (got shape {arr.shape})")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: must be finite (got {arr[~np.isfinite(arr)][:3]} among its entries)")
    return arr


def _label(y, like: np.ndarray, name="y") -> np.ndarray:
    y = _vector(y, name)
    if y.shape != like.shape:
        raise ValueError(f"{name}: must have the shape of the scores/probabilities {like.shape} (got {y.shape})")
    if (y < 0).any() or abs(y.sum() - 1.0) > LABEL_ATOL:
        raise ValueError(
            f"{name}: must be a probability vector (entries ≥ 0 summing to 1) or one-hot "
            f"(got min {y.min():.3g}, sum {y.sum():.17g})"
        )
    return y


def _one_hot(y, like: np.ndarray, name="y") -> np.ndarray:
    y = _vector(y, name)
    if y.shape != like.shape or not (np.isin(y, (0.0, 1.0)).all() and np.count_nonzero(y) == 1):
        raise ValueError(
            f"{name}: non-one-hot label where one-hot is required (entries 0 or 1 with exactly one 1, "
            f"shape {like.shape}; got {np.array2string(y, precision=3, threshold=8)})"
        )
    return y


def _probabilities(p, name="p") -> np.ndarray:
    p = _vector(p, name)
    if (p < 0).any():
        raise ValueError(f"{name}: probabilities must be ≥ 0 (got min {p.min():.3g})")
    return p


# ---------------------------------------------------------------------------
# softmax
# ---------------------------------------------------------------------------
def softmax(s):
    """``p = exp(s) / Σ exp(s)`` for a score vector s (C,), computed with the max shifted out.

    Examples
    --------
    >>> softmax(np.array([0., np.log(3.)]))
    array([0.25, 0.75])
    """
    s = _vector(s, "s")
    e = np.exp(s - s.max())
    return e / e.sum()


def softmax_jacobian(s, *, sparse=False):
    """∂p/∂s = diag(p) − p pᵀ, shape (C, C); dense ndarray unless ``sparse=True``.

    Entry ``∂p_i/∂s_j = p_i([i = j] − p_j)``.

    Examples
    --------
    >>> softmax_jacobian(np.zeros(2))
    array([[ 0.25, -0.25],
           [-0.25,  0.25]])
    """
    p = softmax(s)
    jac = np.diag(p) - np.outer(p, p)
    return sp.csr_array(jac) if sparse else jac


def softmax_vjp(g, s):
    """gᵀ(diag(p) − p pᵀ) without the matrix: ``p ∘ (g − gᵀp)``."""
    p = softmax(s)
    g = np.asarray(g, dtype=np.float64)
    if g.shape != p.shape:
        raise ValueError(f"g: must have the shape of s {p.shape} (got {g.shape})")
    return p * (g - g @ p)


# ---------------------------------------------------------------------------
# cross-entropy −log(yᵀp) (note 004)
# ---------------------------------------------------------------------------
def cross_entropy(p, y):
    """Note 004's loss ``l = −log(yᵀp)`` for probabilities p and a label y (probability vector or one-hot).

    Returns a 0-d float array; ``inf`` when ``yᵀp = 0`` (the label has no
    mass where p has any).

    Examples
    --------
    >>> float(cross_entropy(np.array([0.25, 0.75]), np.array([0., 1.])))  # −log 0.75
    0.2876820724517809
    """
    p = _probabilities(p)
    y = _label(y, p)
    with np.errstate(divide="ignore"):
        return np.asarray(-np.log(y @ p))


def cross_entropy_jacobian(p, y):
    """∂l/∂p = −yᵀ/(yᵀp), a 1×C csr_array row."""
    p = _probabilities(p)
    y = _label(y, p)
    yp = y @ p
    if yp <= 0:
        raise ValueError("y: yᵀp = 0, so −log(yᵀp) is infinite and has no derivative")
    return sp.csr_array((-y / yp)[None, :])


def softmax_cross_entropy(s, y):
    """``l = −log(yᵀ softmax(s))``, computed stably as ``logsumexp(s) − logsumexp(s, b=y)``.

    Parameters
    ----------
    s : scores (C,)
    y : probability vector or one-hot (C,) — a constant of the operator

    Returns
    -------
    0-d float array.
    """
    from scipy.special import logsumexp

    s = _vector(s, "s")
    y = _label(y, s)
    return np.asarray(logsumexp(s) - logsumexp(s, b=y))


def softmax_cross_entropy_grad(s, y):
    """∂l/∂s in closed form for any label: ``p − (y ∘ p)/(yᵀp)`` (C,)."""
    s = _vector(s, "s")
    y = _label(y, s)
    p = softmax(s)
    return p - y * p / (y @ p)


def softmax_cross_entropy_grad_onehot(s, y):
    """The textbook ``(p − y)ᵀ``; valid only for one-hot y, anything else raises ValueError."""
    s = _vector(s, "s")
    y = _one_hot(y, s)
    return softmax(s) - y


def softmax_cross_entropy_vjp(g, s, y):
    """g · ∂l/∂s by the chain without matrices: the softmax VJP applied to ``−g y/(yᵀp)``."""
    s = _vector(s, "s")
    y = _label(y, s)
    p = softmax(s)
    return softmax_vjp(-float(g) * y / (y @ p), s)


def _closed_form_vjp(g, s, y):
    return float(g) * softmax_cross_entropy_grad(s, y)


def _sce_jacobian(s, y):
    """The 1 × C Jacobian as the chain −yᵀ/(yᵀp) · ∂p/∂s, with the C × C softmax Jacobian formed."""
    s = _vector(s, "s")
    y = _label(y, s)
    return sp.csr_array(((-y / (y @ softmax(s))) @ softmax_jacobian(s))[None, :])


# ---------------------------------------------------------------------------
# soft-target cross-entropy −Σ y log p (PyTorch's cross_entropy with probability targets)
# ---------------------------------------------------------------------------
def soft_cross_entropy(p, y):
    """``h = −Σ_k y_k log p_k`` (0-d); terms with y_k = 0 count as 0 even where p_k = 0."""
    p = _probabilities(p)
    y = _label(y, p)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(y > 0, y * np.log(p), 0.0)
    return np.asarray(-terms.sum())


def softmax_soft_cross_entropy(s, y):
    """``h = −Σ_k y_k log softmax(s)_k = (Σy)·logsumexp(s) − yᵀs`` (0-d)."""
    from scipy.special import logsumexp

    s = _vector(s, "s")
    y = _label(y, s)
    return np.asarray(y.sum() * logsumexp(s) - y @ s)


def softmax_soft_cross_entropy_grad(s, y):
    """∂h/∂s = ``(Σy)·p − y``, which is ``p − y`` for a label summing to 1 (C,)."""
    s = _vector(s, "s")
    y = _label(y, s)
    return y.sum() * softmax(s) - y


# ---------------------------------------------------------------------------
# Frobenius loss ½‖X − Y‖²_F (note 000)
# ---------------------------------------------------------------------------
def _pair(x, y):
    x = as_float_array(x, "x")
    y = as_float_array(y, "y")
    if x.shape != y.shape:
        raise ValueError(f"y: must have the shape of x {x.shape} (got {y.shape})")
    return x, y


def frobenius_loss(x, y):
    """``Q = ½‖X − Y‖²_F`` (0-d), note 000's loss for arrays X (prediction) and Y (labels) of one shape.

    Examples
    --------
    >>> float(frobenius_loss(np.array([[1., 2.]]), np.array([[0., 0.]])))
    2.5
    """
    x, y = _pair(x, y)
    r = x - y
    return np.asarray(0.5 * np.vdot(r, r))


def frobenius_loss_jacobian(x, y, wrt="x"):
    """``∂Q/∂vec(X) = vec(X − Y)ᵀ`` (or ``−vec(X − Y)ᵀ`` for ``wrt="y"``), a 1×n csr_array row."""
    x, y = _pair(x, y)
    if wrt not in ("x", "y"):
        raise ValueError(f"wrt: must be 'x' or 'y' (got {wrt!r})")
    r = (x - y).ravel()
    return sp.csr_array((r if wrt == "x" else -r)[None, :])


def _frob_vjp_x(g, x, y):
    x, y = _pair(x, y)
    return float(g) * (x - y)


def _frob_vjp_y(g, x, y):
    x, y = _pair(x, y)
    return float(g) * (y - x)


# ---------------------------------------------------------------------------
# torch forwards
# ---------------------------------------------------------------------------
def _torch_softmax(s):
    import torch

    return torch.softmax(s, dim=-1)


def _torch_softmax_cross_entropy(s, y):
    import torch

    return -torch.log(y @ torch.softmax(s, dim=-1))


def _torch_soft_cross_entropy(s, y):
    import torch.nn.functional as F

    return F.cross_entropy(s[None], y[None])


def _torch_frobenius(x, y):
    return 0.5 * ((x - y) ** 2).sum()


# ---------------------------------------------------------------------------
# registration
# ---------------------------------------------------------------------------
def softmax_cases():
    rng = np.random.default_rng(41)
    out = [Case({"s": rng.standard_normal(c) * 2}, {}, f"s{c}") for c in (1, 2, 5, 10)]
    out.append(Case({"s": rng.standard_normal(6) + 30.0}, {}, "s6-shifted-by-30"))
    return out


def _labels(rng):
    """(C, y, id): one-hot, soft (Dirichlet) and partly-zero labels."""
    eye = np.eye(10)
    return [
        (1, np.ones(1), "onehot1"),
        (3, eye[1, :3], "onehot3"),
        (10, eye[7], "onehot10"),
        (5, rng.dirichlet(np.ones(5)), "soft5"),
        (4, np.array([0.5, 0.5, 0.0, 0.0]), "uniform-on-2-of-4"),
    ]


def _loss_cases(seed):
    def cases():
        rng = np.random.default_rng(seed)
        return [
            Case({"s": rng.standard_normal(c) * 2, "y": y}, {}, f"s{c}-{cid}", constant=("y",))
            for c, y, cid in _labels(rng)
        ]

    return cases


def frobenius_cases():
    rng = np.random.default_rng(43)
    shapes = [(4,), (3, 5), (2, 3, 4), (1, 1)]
    return [
        Case({"x": rng.standard_normal(sh), "y": rng.standard_normal(sh)}, {}, "x" + "x".join(map(str, sh)))
        for sh in shapes
    ]


register(
    "softmax",
    summary="softmax p = exp(s)/Σexp(s): ∂p/∂s = diag(p) − p pᵀ",
    forward=softmax,
    jacobian={"s": lambda s: softmax_jacobian(s, sparse=True)},
    vjp={"s": {"elementwise": softmax_vjp}},
    cases=softmax_cases,
    torch_forward=_torch_softmax,
)

register(
    "softmax_cross_entropy",
    summary="l = −log(yᵀ softmax(s)) (note 004), y constant: ∂l/∂s = −yᵀ/(yᵀp)(diag(p) − p pᵀ)",
    forward=softmax_cross_entropy,
    jacobian={"s": _sce_jacobian},
    vjp={"s": {"closed_form": _closed_form_vjp, "softmax_vjp": softmax_cross_entropy_vjp}},
    cases=_loss_cases(42),
    torch_forward=_torch_softmax_cross_entropy,
)


def _soft_ce_jacobian(s, y):
    return sp.csr_array(softmax_soft_cross_entropy_grad(s, y)[None, :])


def _soft_ce_vjp(g, s, y):
    # chain through the softmax VJP: ∂h/∂p = −y/p, then the softmax adjoint (independent of (Σy)p − y)
    p = softmax(s)
    y = _label(y, p)
    ratio = np.divide(y, p, out=np.zeros_like(p), where=y > 0)  # 0·log p terms contribute nothing
    return softmax_vjp(-float(g) * ratio, s)


register(
    "softmax_soft_cross_entropy",
    summary="h = −Σ y log softmax(s) (PyTorch's soft-target cross-entropy), y constant: ∂h/∂s = p − y",
    forward=softmax_soft_cross_entropy,
    jacobian={"s": _soft_ce_jacobian},
    vjp={"s": {"softmax_vjp": _soft_ce_vjp}},
    cases=_loss_cases(44),
    torch_forward=_torch_soft_cross_entropy,
)

register(
    "frobenius_loss",
    summary="Q = ½‖X − Y‖²_F (note 000): ∂Q/∂vec(X) = vec(X − Y)ᵀ",
    forward=frobenius_loss,
    jacobian={"x": lambda x, y: frobenius_loss_jacobian(x, y, "x"), "y": lambda x, y: frobenius_loss_jacobian(x, y, "y")},
    vjp={"x": {"residual": _frob_vjp_x}, "y": {"residual": _frob_vjp_y}},
    cases=frobenius_cases,
    torch_forward=_torch_frobenius,
)
