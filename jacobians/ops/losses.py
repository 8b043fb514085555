"""Losses as PyTorch defines them: cross_entropy_loss, nll_loss, mse_loss — and their Jacobians.

Names: ``cross_entropy_loss`` / ``nll_loss`` / ``mse_loss`` follow
``torch.nn.functional.cross_entropy`` / ``nll_loss`` / ``mse_loss`` argument
for argument (``input``, ``target``, ``ignore_index``, ``reduction``,
``label_smoothing``). They carry a ``_loss`` suffix because
:func:`jacobians.ops.softmax.cross_entropy` is note 004's ``−log(yᵀp)`` on
probabilities, which the ledger uses and which stays as it is.

Shapes (PyTorch's): ``input`` (N, C) or (N, C, d₁, …) logits (cross-entropy)
or log-probabilities (nll); ``target`` either class indices (N, d₁, …) of an
integer dtype, or — cross-entropy only — probabilities shaped like
``input`` (a floating dtype), each (n, ·, d) slice summing to 1. Class
weights (``weight=``) are not supported.

Formulas, per position i = (n, d), with ``p = softmax(input, dim=1)``, ε the
label smoothing and C the number of classes::

    t'_i = (1 − ε) t_i + ε/C                     (t_i: one-hot of the index, or the probability row)
    ℓ_i  = −Σ_c t'_ic log p_ic
    ∂ℓ_i/∂input_ic = (Σ_c t'_ic) p_ic − t'_ic = p_ic − t'_ic

``reduction="none"`` returns ℓ (N, d₁, …) and the Jacobian has one row per
position with C entries (the block-diagonal of 1×C rows); ``"sum"`` adds
the ℓ_i, ``"mean"`` divides by the number of positions whose target is not
``ignore_index`` (class indices) or by the number of positions
(probabilities) — PyTorch's rule. Positions with ``target == ignore_index``
contribute nothing (empty rows). A mean over no positions (every target
ignored) is refused; PyTorch returns nan.

nll_loss: ``ℓ_i = −input[n, t_i, d]``; its Jacobian holds ``−1`` (times
the reduction's factor) at (i, (n, t_i, d)). mse_loss: ``(input − target)²``
reduced; Jacobian ``2(input − target)`` (times 1/size for the mean) w.r.t.
input, the negative w.r.t. target.

VJPs are independent of the Jacobian builders: cross-entropy chains ∂ℓ/∂log p
= −t' through :func:`jacobians.ops.softmax.log_softmax_vjp`; nll scatters.
"""
from __future__ import annotations

import math

import numpy as np

from ..geometry import GeometryError, _short
from ..registry import Case, register
from ._show import REDUCTIONS as _SHOW_REDUCTIONS, ShowSetup, ShowSpec, dims, real_option
from ._sparse import as_array  # ragged input: one line
from ._sparse import as_float_array, check_budget, csr_from_arrays, exact_size, index_dtype_for, resolve_dtype
from .softmax import LABEL_ATOL, log_softmax, log_softmax_vjp

__all__ = [
    "cross_entropy_loss",
    "cross_entropy_loss_jacobian",
    "cross_entropy_loss_vjp",
    "nll_loss",
    "nll_loss_jacobian",
    "nll_loss_vjp",
    "mse_loss",
    "mse_loss_jacobian",
    "mse_loss_vjp",
]

REDUCTIONS = ("mean", "sum", "none")


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------
def _logits(x, name="input") -> np.ndarray:
    arr = as_float_array(x, name)
    if arr.dtype == object:
        raise TypeError(f"{name}: needs numeric values (got an object array)")
    if arr.ndim < 2 or arr.size == 0:
        raise GeometryError(f"{name}: must have shape (N, C) or (N, C, d1, …) (got shape {arr.shape})")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: must be finite (got inf or nan among its entries)")
    return arr


def _reduction(reduction) -> str:
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(f"reduction: must be 'mean', 'sum' or 'none' (got {_short(reduction)})")
    return reduction


def _ignore_index(ignore_index) -> int:
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(f"ignore_index: must be an integer (got {_short(ignore_index)})")
    return int(ignore_index)


def _class_indices(target, x, ignore_index):
    """Integer targets (N, d…) validated; returns (target as int64, valid mask)."""
    t = as_array(target, "target")
    if t.dtype.kind not in "iu":
        raise TypeError(f"target: class indices must have an integer dtype (got {t.dtype})")
    want = (x.shape[0],) + x.shape[2:]
    if t.shape != want:
        raise GeometryError(f"target: class indices must have shape {want} for input {x.shape} (got {t.shape})")
    t = t.astype(np.int64)
    c = x.shape[1]
    valid = t != ignore_index
    bad = valid & ((t < 0) | (t >= c))
    if bad.any():
        raise ValueError(
            f"target: class indices must lie in [0, {c}) or equal ignore_index = {ignore_index} (got {int(t[bad][0])})"
        )
    return t, valid


def _probability_target(target, x):
    t = as_float_array(target, "target")
    if t.shape != x.shape:
        raise GeometryError(f"target: probabilities must have the shape of input {x.shape} (got {t.shape})")
    if not np.isfinite(t).all() or (t < 0).any():
        raise ValueError("target: probabilities must be finite and ≥ 0")
    sums = t.sum(axis=1)
    worst = float(np.abs(sums - 1.0).max())
    if worst > LABEL_ATOL * x.shape[1]:
        raise ValueError(f"target: probabilities must sum to 1 over the class axis (dim 1); off by up to {worst:.3g}")
    return t


def _smoothing(label_smoothing) -> float:
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float, np.integer, np.floating)):
        raise TypeError(f"label_smoothing: must be a number in [0, 1] (got {_short(label_smoothing)})")
    eps = float(label_smoothing)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"label_smoothing: must be in [0, 1] (got {_short(label_smoothing)})")
    return eps


def _ce_setup(input, target, ignore_index, reduction, label_smoothing):
    """(x, smoothed targets t' shaped like x, per-position weight shaped (N, d…), reduction)."""
    x = _logits(input)
    reduction = _reduction(reduction)
    eps = _smoothing(label_smoothing)
    c = x.shape[1]
    if as_array(target, "target").dtype.kind == "f":
        if _ignore_index(ignore_index) != -100:
            raise ValueError(f"ignore_index: not supported for probability targets, as in PyTorch (got {ignore_index})")
        t = _probability_target(target, x).astype(np.float64)
        weight = np.ones((x.shape[0],) + x.shape[2:])
    else:
        idx, valid = _class_indices(target, x, _ignore_index(ignore_index))
        t = np.zeros(x.shape)
        np.put_along_axis(t, np.where(valid, idx, 0)[:, None], 1.0, axis=1)
        weight = valid.astype(np.float64)
    t = (1.0 - eps) * t + eps / c
    return x, t, _reduce_weights(weight, reduction), reduction


def _reduce_weights(weight, reduction):
    """Per-position factor: 1 (sum, none) or 1/(number counted) (mean); 0 where ignored."""
    if reduction != "mean":
        return weight
    count = weight.sum()
    if count == 0:
        raise ValueError("target: every position equals ignore_index, so the mean is over no entries "
                         "(PyTorch returns nan); use reduction='sum' or 'none'")
    return weight / count


def _reduce(per_position, reduction, dtype):
    if reduction == "none":
        return per_position.astype(dtype)
    return np.asarray(per_position.sum(), dtype=dtype)


# ---------------------------------------------------------------------------
# cross-entropy
# ---------------------------------------------------------------------------
def cross_entropy_loss(input, target, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """``F.cross_entropy(input, target, ignore_index=…, reduction=…, label_smoothing=…)`` (no class weights).

    Examples
    --------
    >>> round(float(cross_entropy_loss(np.array([[0.0, np.log(3.0)]]), np.array([1]))), 12)   # −log 0.75
    0.287682072452
    """
    x, t, w, reduction = _ce_setup(input, target, ignore_index, reduction, label_smoothing)
    per_position = -(t * log_softmax(x.astype(np.float64), dim=1)).sum(axis=1) * w
    return _reduce(per_position, reduction, resolve_dtype(None, x))


def _rows_of_positions(values, x_shape, keep, dtype, what, max_bytes):
    """CSR with one row per position (n, d) holding ``values[n, :, d]`` at columns (n, c, d); rows with keep = False empty."""
    n, c = x_shape[0], x_shape[1]
    d = exact_size(x_shape[2:])
    positions, size = n * d, n * c * d
    kept = keep.reshape(n, d)
    nnz = int(kept.sum()) * c
    check_budget(what, nnz, (positions, size), dtype, max_bytes)
    idx = index_dtype_for(nnz, positions, size)
    indptr = np.zeros(positions + 1, dtype=idx)
    np.cumsum(np.where(kept.ravel(), c, 0), out=indptr[1:])
    # column of (n, c, d) is n·C·D + c·D + d: for a row (n, d), c ascending
    cols = (np.arange(n, dtype=idx)[:, None, None] * idx.type(c * d) + np.arange(d, dtype=idx)[None, :, None]
            + np.arange(c, dtype=idx)[None, None, :] * idx.type(d))
    vals = np.asarray(values, dtype=dtype).reshape(n, c, d).transpose(0, 2, 1)
    return csr_from_arrays(np.ascontiguousarray(vals[kept]).ravel(), np.ascontiguousarray(cols[kept]).ravel(), indptr,
                           (positions, size), what=what)


def _scalar_row(values, dtype, what, max_bytes):
    values = np.asarray(values, dtype=dtype).ravel()
    n = int(values.size)
    check_budget(what, n, (1, n), dtype, max_bytes)
    idx = index_dtype_for(n)
    return csr_from_arrays(values.copy(), np.arange(n, dtype=idx), np.array([0, n], dtype=idx), (1, n), what=what)


def cross_entropy_loss_jacobian(input, target, ignore_index=-100, reduction="mean", label_smoothing=0.0, *,
                                dtype=None, max_bytes=None):
    """∂loss/∂vec(input): entries ``w_i (p_ic − t'_ic)``; shape (1, input.size), or (positions, input.size) for 'none'.

    Examples
    --------
    >>> cross_entropy_loss_jacobian(np.array([[0.0, np.log(3.0)]]), np.array([1])).toarray()   # p − e₁
    array([[ 0.25, -0.25]])
    """
    x, t, w, reduction = _ce_setup(input, target, ignore_index, reduction, label_smoothing)
    from .softmax import softmax_along

    grad = (softmax_along(x.astype(np.float64), dim=1) * t.sum(axis=1, keepdims=True) - t) * w[:, None]
    dtype = resolve_dtype(dtype, x)
    if reduction == "none":
        return _rows_of_positions(grad, x.shape, w != 0, dtype, "cross_entropy_loss_jacobian", max_bytes)
    return _scalar_row(grad, dtype, "cross_entropy_loss_jacobian", max_bytes)


def cross_entropy_loss_vjp(g, input, target, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """g · ∂loss/∂input by the chain: ∂ℓ/∂log p = −t' (times the reduction's weights), then log_softmax's VJP."""
    x, t, w, reduction = _ce_setup(input, target, ignore_index, reduction, label_smoothing)
    g = np.asarray(g, dtype=np.float64)
    want = w.shape if reduction == "none" else ()
    if g.shape != want:
        raise ValueError(f"g: must have the shape of the loss {want} (got {g.shape})")
    return log_softmax_vjp(-t * (w * g)[:, None], x.astype(np.float64), dim=1)


# ---------------------------------------------------------------------------
# nll
# ---------------------------------------------------------------------------
def _nll_setup(input, target, ignore_index, reduction):
    x = _logits(input)
    reduction = _reduction(reduction)
    idx, valid = _class_indices(target, x, _ignore_index(ignore_index))
    return x, np.where(valid, idx, 0), _reduce_weights(valid.astype(np.float64), reduction), reduction


def nll_loss(input, target, ignore_index=-100, reduction="mean"):
    """``F.nll_loss``: ``ℓ_i = −input[n, target_i, d]`` over positions not equal to ignore_index, reduced.

    Examples
    --------
    >>> float(nll_loss(np.array([[-1.0, -2.0], [-3.0, -4.0]]), np.array([1, 0])))   # (2 + 3)/2
    2.5
    """
    x, idx, w, reduction = _nll_setup(input, target, ignore_index, reduction)
    picked = np.take_along_axis(x.astype(np.float64), idx[:, None], axis=1)[:, 0]
    return _reduce(-picked * w, reduction, resolve_dtype(None, x))


def nll_loss_jacobian(input, target, ignore_index=-100, reduction="mean", *, dtype=None, max_bytes=None):
    """∂loss/∂vec(input): ``−w_i`` at column (n, target_i, d); (1, input.size) or (positions, input.size) for 'none'.

    Examples
    --------
    >>> nll_loss_jacobian(np.zeros((2, 2)), np.array([1, 0])).toarray()
    array([[ 0. , -0.5, -0.5,  0. ]])
    """
    x, idx, w, reduction = _nll_setup(input, target, ignore_index, reduction)
    dtype = resolve_dtype(dtype, x)
    n, c = x.shape[0], x.shape[1]
    d = exact_size(x.shape[2:])
    keep = (w != 0).ravel()
    cols = (np.arange(n)[:, None] * (c * d) + idx.reshape(n, d) * d + np.arange(d)[None, :]).ravel()
    positions, size = n * d, x.size
    nnz = int(keep.sum())
    rows = 1 if reduction != "none" else positions
    check_budget("nll_loss_jacobian", nnz, (rows, size), dtype, max_bytes)
    it = index_dtype_for(nnz, rows, size)
    data = (-w.ravel()[keep]).astype(dtype)
    if reduction == "none":
        indptr = np.zeros(positions + 1, dtype=it)
        np.cumsum(keep, out=indptr[1:])
        return csr_from_arrays(data, cols[keep].astype(it), indptr, (positions, size), what="nll_loss_jacobian")
    order = np.argsort(cols[keep], kind="stable")  # one row: sorted column indices
    return csr_from_arrays(data[order], cols[keep][order].astype(it), np.array([0, nnz], dtype=it), (1, size),
                           what="nll_loss_jacobian")


def nll_loss_vjp(g, input, target, ignore_index=-100, reduction="mean"):
    """Scatter ``−g·w_i`` into (n, target_i, d)."""
    x, idx, w, reduction = _nll_setup(input, target, ignore_index, reduction)
    g = np.asarray(g, dtype=np.float64)
    want = w.shape if reduction == "none" else ()
    if g.shape != want:
        raise ValueError(f"g: must have the shape of the loss {want} (got {g.shape})")
    out = np.zeros(x.shape)
    np.put_along_axis(out, idx[:, None], (-g * w)[:, None], axis=1)
    return out


# ---------------------------------------------------------------------------
# mse
# ---------------------------------------------------------------------------
def _mse_setup(input, target, reduction):
    x = as_float_array(input, "input")
    y = as_float_array(target, "target")
    if x.dtype == object or y.dtype == object:
        raise TypeError("input: needs numeric values (got an object array)")
    if x.shape != y.shape:
        raise GeometryError(f"target: must have the shape of input {x.shape} (got {y.shape})")
    if x.size == 0:
        raise GeometryError("input: must not be empty")
    return x, y, _reduction(reduction)


def mse_loss(input, target, reduction="mean"):
    """``F.mse_loss``: ``(input − target)²`` element-wise, averaged ('mean'), summed or kept ('none').

    Examples
    --------
    >>> float(mse_loss(np.array([1.0, 2.0]), np.array([0.0, 0.0])))
    2.5
    """
    x, y, reduction = _mse_setup(input, target, reduction)
    sq = (x.astype(np.float64) - y) ** 2
    dtype = resolve_dtype(None, x, y)
    if reduction == "none":
        return sq.astype(dtype)
    return np.asarray(sq.mean() if reduction == "mean" else sq.sum(), dtype=dtype)


def mse_loss_jacobian(input, target, reduction="mean", wrt="input", *, dtype=None, max_bytes=None):
    """∂loss/∂vec(input) = ``2(input − target)`` (÷ size for 'mean'): a 1×n row, or the diagonal for 'none'.

    ``wrt="target"`` gives the negative.

    Examples
    --------
    >>> mse_loss_jacobian(np.array([1.0, 2.0]), np.array([0.0, 0.0])).toarray()
    array([[1., 2.]])
    """
    x, y, reduction = _mse_setup(input, target, reduction)
    if not isinstance(wrt, str) or wrt not in ("input", "target"):
        raise ValueError(f"wrt: must be 'input' or 'target' (got {_short(wrt)})")
    dtype = resolve_dtype(dtype, x, y)
    n = int(x.size)
    shape = (n, n) if reduction == "none" else (1, n)
    check_budget("mse_loss_jacobian", n, shape, dtype, max_bytes)
    idx = index_dtype_for(n, *shape)
    # 2(x − y)·(±1) (÷ n for 'mean'), in float64, computed chunk by chunk straight into the data (through a
    # float64 scratch of _MSE_CHUNK entries for float32): the old route held three full-size float64
    # temporaries. 2·d·(−1) = (−2)·d bit for bit (doubling and negation are exact; a NaN passes unchanged).
    factor = 2.0 if wrt == "input" else -2.0
    xf, yf = x.reshape(-1), y.reshape(-1)
    data = np.empty(n, dtype=dtype)
    scratch = None if dtype == np.float64 else np.empty(min(n, _MSE_CHUNK))
    for k0 in range(0, n, _MSE_CHUNK):
        k1 = min(n, k0 + _MSE_CHUNK)
        buf = data[k0:k1] if scratch is None else scratch[: k1 - k0]
        np.subtract(xf[k0:k1], yf[k0:k1], out=buf, dtype=np.float64)
        np.multiply(buf, factor, out=buf)
        if reduction == "mean":
            np.divide(buf, n, out=buf)
        if scratch is not None:
            data[k0:k1] = buf
    indices = np.arange(n, dtype=idx)
    indptr = np.arange(n + 1, dtype=idx) if reduction == "none" else np.array([0, n], dtype=idx)
    return csr_from_arrays(data, indices, indptr, shape, what="mse_loss_jacobian")


#: entries per pass of mse_loss_jacobian (its float64 scratch stays in cache)
_MSE_CHUNK = 1 << 16


def mse_loss_vjp(g, input, target, reduction="mean", wrt="input"):
    """g ∘ 2(input − target) (scaled for 'mean', negated for the target)."""
    x, y, reduction = _mse_setup(input, target, reduction)
    g = np.asarray(g, dtype=np.float64)
    want = x.shape if reduction == "none" else ()
    if g.shape != want:
        raise ValueError(f"g: must have the shape of the loss {want} (got {g.shape})")
    diff = x.astype(np.float64) - y
    scale = 2.0 / x.size if reduction == "mean" else 2.0
    return scale * g * (diff if wrt == "input" else -diff)


# ---------------------------------------------------------------------------
# registration
# ---------------------------------------------------------------------------
def _ref_cross_entropy(input, target, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Loops from PyTorch's documented formula, one position at a time, logsumexp by math.fsum."""
    x = np.asarray(input, dtype=np.float64)
    n, c = x.shape[:2]
    probs = np.asarray(target).dtype.kind == "f"
    losses, count = {}, 0
    for pos in np.ndindex(n, *x.shape[2:]):
        row = [float(x[(pos[0], k) + pos[1:]]) for k in range(c)]
        top = max(row)
        lse = top + math.log(math.fsum(math.exp(v - top) for v in row))
        logp = [v - lse for v in row]
        if probs:
            t = [float(np.asarray(target)[(pos[0], k) + pos[1:]]) for k in range(c)]
        else:
            k_t = int(np.asarray(target)[pos])
            if k_t == ignore_index:
                continue
            t = [1.0 if k == k_t else 0.0 for k in range(c)]
        t = [(1 - label_smoothing) * v + label_smoothing / c for v in t]
        losses[pos] = -math.fsum(a * b for a, b in zip(t, logp))
        count += 1
    if reduction == "none":
        out = np.zeros((n,) + x.shape[2:])
        for pos, v in losses.items():
            out[pos] = v
        return out
    total = math.fsum(losses.values())
    return np.asarray(total / count if reduction == "mean" else total)


def _ref_nll(input, target, ignore_index=-100, reduction="mean"):
    x = np.asarray(input, dtype=np.float64)
    out = np.zeros((x.shape[0],) + x.shape[2:])
    count = 0
    for pos in np.ndindex(*out.shape):
        k = int(np.asarray(target)[pos])
        if k != ignore_index:
            out[pos] = -x[(pos[0], k) + pos[1:]]
            count += 1
    if reduction == "none":
        return out
    return np.asarray(out.sum() / count if reduction == "mean" else out.sum())


def _ref_mse(input, target, reduction="mean"):
    x, y = np.asarray(input, dtype=np.float64), np.asarray(target, dtype=np.float64)
    terms = [(a - b) ** 2 for a, b in zip(x.ravel(), y.ravel())]
    if reduction == "none":
        return np.array(terms).reshape(x.shape)
    return np.asarray(math.fsum(terms) / (len(terms) if reduction == "mean" else 1))


def _torch_ce(input, target, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    import torch.nn.functional as F

    return F.cross_entropy(input, target, ignore_index=ignore_index, reduction=reduction, label_smoothing=label_smoothing)


def _torch_nll(input, target, ignore_index=-100, reduction="mean"):
    import torch.nn.functional as F

    return F.nll_loss(input, target, ignore_index=ignore_index, reduction=reduction)


def _torch_mse(input, target, reduction="mean"):
    import torch.nn.functional as F

    return F.mse_loss(input, target, reduction=reduction)


def _index_target(rng, shape, c, ignore_some):
    t = rng.integers(0, c, size=shape)
    if ignore_some and t.size > 1:
        t.ravel()[:: 3] = -100
    return t


def _ce_cases():
    rng = np.random.default_rng(71)
    out = []
    for shape, kind, reduction, smoothing in [
        ((4, 5), "index", "mean", 0.0),
        ((4, 5), "index-ignore", "mean", 0.1),
        ((2, 3, 2, 2), "index-ignore", "sum", 0.0),
        ((2, 3, 4), "index", "none", 0.2),
        ((3, 4), "prob", "mean", 0.0),
        ((2, 3, 2), "prob", "none", 0.3),
        ((3, 4), "prob", "sum", 0.05),
        ((3, 1), "index", "mean", 0.0),
    ]:
        x = rng.standard_normal(shape) * 2
        if kind == "prob":
            t = np.moveaxis(rng.dirichlet(np.ones(shape[1]), size=(shape[0],) + shape[2:]), -1, 1)
        else:
            t = _index_target(rng, (shape[0],) + shape[2:], shape[1], kind.endswith("ignore"))
        p = {"reduction": reduction, "label_smoothing": smoothing}
        out.append(Case({"input": x, "target": t}, p, "x" + "x".join(map(str, shape)) + f"-{kind}-{reduction}-ls{smoothing}",
                        constant=("target",)))
    return out


def _nll_cases():
    rng = np.random.default_rng(72)
    out = []
    for shape, ignore, reduction in [((4, 5), False, "mean"), ((4, 5), True, "sum"), ((2, 3, 2, 2), True, "mean"),
                                     ((2, 3, 4), False, "none"), ((3, 2), True, "none")]:
        t = _index_target(rng, (shape[0],) + shape[2:], shape[1], ignore)
        out.append(Case({"input": rng.standard_normal(shape), "target": t}, {"reduction": reduction},
                        "x" + "x".join(map(str, shape)) + ("-ignore" if ignore else "") + f"-{reduction}",
                        constant=("target",)))
    return out


def _mse_cases():
    rng = np.random.default_rng(73)
    return [Case({"input": rng.standard_normal(sh), "target": rng.standard_normal(sh)}, {"reduction": r},
                 "x" + "x".join(map(str, sh)) + f"-{r}")
            for sh, r in [((4,), "mean"), ((2, 3), "sum"), ((2, 3, 2), "none"), ((1,), "mean")]]


# `jacobians show` metadata: --input NxC[xd…], class indices from --target, PyTorch's options by --param
def _class_target_setup(op, shape, options, *, smoothing: bool):
    """Shapes, parameters and the class-index target (a constant) of cross_entropy_loss / nll_loss.

    ``--target K`` gives every position class K, ``--target K0,K1,…`` one class per position (N·d₁·… of
    them, C order); without it position k gets class k mod C. A class may equal ``--param ignore_index``.
    """
    if len(shape) < 2:
        raise ValueError(f"--input: {op} needs NxC or NxCxd1… (at least 2 dimensions), got {dims(shape)}")
    c = shape[1]
    positions = (shape[0],) + tuple(shape[2:])
    count = math.prod(positions)
    reduction = options.get("reduction", "mean")
    ignore_index = options.get("ignore_index", -100)
    params = {"ignore_index": ignore_index, "reduction": reduction}
    if smoothing:
        params["label_smoothing"] = real_option(options, "label_smoothing", 0.0, "in [0, 1]", lambda v: 0.0 <= v <= 1.0)
    given = options.get("target")
    if given is None:
        classes = None
    else:
        if len(given) not in (1, count):
            raise ValueError(f"--target: {op} of --input {dims(shape)} needs one class index or {count} (one per "
                             f"position of {dims(positions)}), got {len(given)}")
        bad = [k for k in given if k >= c and k != ignore_index]
        if bad:
            raise ValueError(f"--target: class indices must be below C = {c} (or equal --param ignore_index = "
                             f"{ignore_index}); got {bad[0]}")
        if reduction == "mean" and all(k == ignore_index for k in given):
            raise ValueError(f"--target: every position equals --param ignore_index = {ignore_index}, so "
                             f"reduction=mean averages over nothing; use reduction=sum or none")
        classes = tuple(given)

    def target():
        if classes is None:
            return (np.arange(count, dtype=np.int64) % c).reshape(positions)
        return np.broadcast_to(np.array(classes, dtype=np.int64), (count,)).reshape(positions).copy()

    return ShowSetup({"input": shape}, params, constants={"target": target})


def _per_position_out(shapes, params):
    x = shapes["input"]
    return ((x[0],) + tuple(x[2:])) if params["reduction"] == "none" else ()


def _class_target_show(op, *, smoothing: bool, nnz_per_position):
    options = {"target": "axes", "reduction": _SHOW_REDUCTIONS, "ignore_index": "signed_int"}
    if smoothing:
        options["label_smoothing"] = "float"
    return ShowSpec(
        setup=lambda shape, o: _class_target_setup(op, shape, o, smoothing=smoothing), options=options,
        out_shape=_per_position_out,
        nnz=lambda shapes, params, wrt, out: math.prod(shapes["input"]) // shapes["input"][1] * nnz_per_position(
            shapes["input"]),
        input_help="NxC or NxCxd1…", symbols={"input": "x"}, example=("--input", "2x3", "--target", "2,0"),
    )


def _mse_show_setup(shape, options):
    return ShowSetup({"input": shape, "target": shape}, {"reduction": options.get("reduction", "mean")})


register(
    "cross_entropy_loss",
    summary="F.cross_entropy (indices or probabilities, ignore_index, label_smoothing, reduction): rows p − t'",
    forward=cross_entropy_loss,
    jacobian={"input": cross_entropy_loss_jacobian},
    vjp={"input": {"log_softmax": cross_entropy_loss_vjp}},
    cases=_ce_cases,
    torch_forward=_torch_ce,
    reference=_ref_cross_entropy,
    param_names=("ignore_index", "reduction", "label_smoothing"),
    show=_class_target_show("cross_entropy_loss", smoothing=True, nnz_per_position=lambda x: x[1]),
)

register(
    "nll_loss",
    summary="F.nll_loss (ignore_index, reduction): −1 (÷ count for the mean) at the target class",
    forward=nll_loss,
    jacobian={"input": nll_loss_jacobian},
    vjp={"input": {"scatter": nll_loss_vjp}},
    cases=_nll_cases,
    affine_in=("input",),
    torch_forward=_torch_nll,
    reference=_ref_nll,
    param_names=("ignore_index", "reduction"),
    show=_class_target_show("nll_loss", smoothing=False, nnz_per_position=lambda x: 1),
)

register(
    "mse_loss",
    summary="F.mse_loss (reduction): 2(input − target) (÷ size for the mean)",
    forward=mse_loss,
    jacobian={"input": lambda input, target, reduction="mean": mse_loss_jacobian(input, target, reduction, "input"),
              "target": lambda input, target, reduction="mean": mse_loss_jacobian(input, target, reduction, "target")},
    vjp={"input": {"residual": lambda g, input, target, reduction="mean": mse_loss_vjp(g, input, target, reduction)},
         "target": {"residual": lambda g, input, target, reduction="mean": mse_loss_vjp(g, input, target, reduction,
                                                                                       "target")}},
    cases=_mse_cases,
    torch_forward=_torch_mse,
    reference=_ref_mse,
    param_names=("reduction",),
    show=ShowSpec(
        setup=_mse_show_setup, options={"reduction": _SHOW_REDUCTIONS},
        out_shape=lambda shapes, params: shapes["input"] if params["reduction"] == "none" else (),
        nnz=lambda shapes, params, wrt, out: math.prod(shapes["input"]), symbols={"input": "x", "target": "y"},
        example=("--input", "2x3", "--param", "reduction=sum"),
    ),
)
