"""Combining tensors: ``add`` (a residual connection's sum) and ``concat`` (``torch.cat``), with their Jacobians.

Shapes: ``add(input, other, alpha=1)`` takes two arrays of one shape (no
broadcasting) and returns ``input + alpha·other``; ``concat([t_0, t_1, …], dim=1)``
joins arrays equal in every axis but ``dim`` (default 1: channels of (N, C, …)).

Jacobians (numerator layout, C-order vec)::

    ∂(input + α·other)/∂input = I,   ∂/∂other = α I
    ∂cat/∂t_k                 = the 0/1 selection placing t_k's entries at their output rows

— structural operators, stored as exact 0/1 (α for ``other``), built by index
arithmetic straight into CSR. A residual block ``y = f(x) + x`` then chains as
the fan-out sum ``J_add,input · J_f + J_add,other · I`` (:func:`jacobians.chain.fan_out`),
and a concatenation of branches as the sum of each branch's Jacobian
placed by its selection.
"""
from __future__ import annotations

import math

import numpy as np

from ..geometry import GeometryError, _short, as_items, as_positive_int
from ..registry import Case, register
from ._show import ShowSetup, ShowSpec, dim_option, dims, real_option
from ._sparse import as_float_array, check_budget, csr_from_arrays, diagonal_csr, exact_size, index_dtype_for, resolve_dtype

__all__ = ["add", "add_jacobian", "concat", "concat_jacobian"]


def _alpha(alpha) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)) or not np.isfinite(float(alpha)):
        raise TypeError(f"alpha: must be a finite real number (got {_short(alpha)})")
    return float(alpha)


def _pair(input, other):
    a = as_float_array(input, "input")
    b = as_float_array(other, "other")
    if a.shape != b.shape:
        raise GeometryError(f"other: must have the shape of input {a.shape} (got {b.shape}; no broadcasting here)")
    return a, b


def add(input, other, alpha=1):
    """``input + alpha · other`` (``torch.add``), shapes equal.

    Examples
    --------
    >>> add(np.array([1.0, 2.0]), np.array([10.0, 20.0]), alpha=0.5)
    array([ 6., 12.])
    """
    a, b = _pair(input, other)
    return a + _alpha(alpha) * b


def add_jacobian(shape, wrt="input", alpha=1, *, dtype=None):
    """∂(input + α·other)/∂input = I, ∂/∂other = αI, of size prod(shape) (diagonal CSR).

    Examples
    --------
    >>> add_jacobian((2,), "other", alpha=3).toarray()
    array([[3., 0.],
           [0., 3.]])
    """
    if not isinstance(wrt, str) or wrt not in ("input", "other"):
        raise ValueError(f"wrt: must be 'input' or 'other' (got {_short(wrt)})")
    items = as_items(shape, "shape", "a shape tuple")
    n = exact_size(as_positive_int(d, f"shape[{i}]", allow_zero=True) for i, d in enumerate(items))
    check_budget("add Jacobian", n, (n, n), resolve_dtype(dtype))  # before the diagonal of n entries
    value = 1.0 if wrt == "input" else _alpha(alpha)
    # a broadcast view of the one value (np.full would be a float64 temporary of n entries next to the CSR)
    return diagonal_csr(np.broadcast_to(np.float64(value), (n,)), dtype=resolve_dtype(dtype), what="add_jacobian")


def _concat_shapes(shapes, dim):
    shapes = [tuple(as_positive_int(d, f"shapes[{k}]", allow_zero=True) for d in as_items(s, f"shapes[{k}]", "a shape tuple"))
              for k, s in enumerate(as_items(shapes, "shapes", "a list of shape tuples"))]
    if not shapes:
        raise GeometryError("tensors: needs at least one array")
    ndim = len(shapes[0])
    if ndim == 0:
        raise GeometryError("tensors: zero-dimensional arrays cannot be concatenated")
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not -ndim <= dim < ndim:
        raise GeometryError(f"dim: must be an integer in [{-ndim}, {ndim}) (got {_short(dim)})")
    axis = int(dim) % ndim
    for k, s in enumerate(shapes):
        if len(s) != ndim or s[:axis] + s[axis + 1:] != shapes[0][:axis] + shapes[0][axis + 1:]:
            raise GeometryError(f"tensors: array {k} has shape {s}, which differs from {shapes[0]} outside dim {axis}")
    return shapes, axis


def concat(tensors, dim=1):
    """``torch.cat(tensors, dim)`` (default dim = 1, the channels of (N, C, …)).

    Examples
    --------
    >>> concat([np.zeros((1, 1, 2)), np.ones((1, 2, 2))]).shape
    (1, 3, 2)
    """
    arrays = [as_float_array(t, f"tensors[{k}]") for k, t in enumerate(as_items(tensors, "tensors", "a list of arrays"))]
    _, axis = _concat_shapes([a.shape for a in arrays], dim)
    return np.concatenate(arrays, axis=axis).astype(resolve_dtype(None, *arrays), copy=False)


def concat_jacobian(shapes, dim=1, index=0, *, dtype=None, max_bytes=None):
    """∂vec(cat(tensors, dim))/∂vec(tensors[index]): an exact 0/1 selection of shape (out.size, tensors[index].size).

    With the arrays viewed as (outer, C_k, inner) around ``dim``, output row
    (o, off_k + c, i) holds a 1 in column (o, c, i) of tensor k; rows of the
    other tensors are empty.

    Examples
    --------
    >>> concat_jacobian([(1, 1), (1, 2)], dim=1, index=1).toarray()
    array([[0., 0.],
           [1., 0.],
           [0., 1.]])
    """
    shapes, axis = _concat_shapes(shapes, dim)
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < len(shapes):
        raise GeometryError(f"index: must be an integer in [0, {len(shapes)}) (got {_short(index)})")
    outer = exact_size(shapes[0][:axis])
    inner = exact_size(shapes[0][axis + 1:])
    sizes = [s[axis] for s in shapes]
    total, ck, offset = sum(sizes), sizes[index], sum(sizes[:index])
    rows, cols = outer * total * inner, outer * ck * inner
    dtype = resolve_dtype(dtype)
    check_budget("concat_jacobian", cols, (rows, cols), dtype, max_bytes)
    idx = index_dtype_for(cols, rows, cols)
    # indptr = cumulative count of rows from tensor k (one stored 1 each), written directly: within outer
    # block o it is o·C_k·inner + (0 before tensor k's rows, 1 … C_k·inner along them, C_k·inner after)
    # — no per-row count array and no cumsum over it
    indptr = np.empty(rows + 1, dtype=idx)
    indptr[0] = 0
    if rows:
        body = indptr[1:].reshape(outer, total * inner)
        first = body[0]
        first[: offset * inner] = 0
        _arange_into(first[offset * inner : (offset + ck) * inner], 1)
        first[(offset + ck) * inner :] = ck * inner
        if outer > 1:
            np.add(first[None, :], (np.arange(1, outer, dtype=idx) * idx.type(ck * inner))[:, None], out=body[1:])
    # rows of tensor k in ascending output order are (o, c, i) lexicographic = its own C order
    indices = np.arange(cols, dtype=idx)
    return csr_from_arrays(np.ones(cols, dtype=dtype), indices, indptr, (rows, cols), what="concat_jacobian")


def _arange_into(out: np.ndarray, start: int) -> None:
    """``out[:] = start, start + 1, …`` in place, by doubling (np.arange would be a temporary of out's size)."""
    m = out.size
    if not m:
        return
    out[0] = start
    k = 1
    while k < m:
        step = min(k, m - k)
        np.add(out[:step], out.dtype.type(k), out=out[k : k + step])
        k += step


# ---------------------------------------------------------------------------
# registration (two-input forms: the registry names its arrays)
# ---------------------------------------------------------------------------
def _add_cases():
    rng = np.random.default_rng(81)
    return [Case({"input": rng.standard_normal(s), "other": rng.standard_normal(s)}, {"alpha": a},
                 "x" + "x".join(map(str, s)) + f"-alpha{a}") for s, a in [((2, 3, 2, 2), 1), ((5,), 0.5), ((1, 1), -2.0)]]


def _concat_cases():
    rng = np.random.default_rng(82)
    out = []
    for sa, sb, dim in [((2, 1, 2, 2), (2, 3, 2, 2), 1), ((3, 2), (3, 4), -1), ((2, 3), (1, 3), 0), ((4,), (2,), 0)]:
        out.append(Case({"a": rng.standard_normal(sa), "b": rng.standard_normal(sb)}, {"dim": dim},
                        f"a{'x'.join(map(str, sa))}-b{'x'.join(map(str, sb))}-dim{dim}"))
    return out


def _concat2(a, b, dim=1):
    return concat([a, b], dim)


def _concat2_vjp(which):
    def vjp(g, a, b, dim=1):
        _, axis = _concat_shapes([np.shape(a), np.shape(b)], dim)
        ca = np.shape(a)[axis]
        g = np.asarray(g, dtype=np.float64)
        return np.take(g, np.arange(ca) if which == 0 else np.arange(ca, g.shape[axis]), axis=axis)

    return vjp


def _ref_concat(a, b, dim=1):
    """Loops from the definition: out[..., j, ...] = a[..., j, ...] for j < C_a, else b[..., j − C_a, ...]."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    axis = dim % a.ndim
    shape = list(a.shape)
    shape[axis] += b.shape[axis]
    out = np.empty(shape)
    for index in np.ndindex(*shape):
        j = index[axis]
        src, k = (a, j) if j < a.shape[axis] else (b, j - a.shape[axis])
        out[index] = src[index[:axis] + (k,) + index[axis + 1:]]
    return out


def _torch_add(input, other, alpha=1):
    import torch

    return torch.add(input, other, alpha=alpha)


def _torch_cat(a, b, dim=1):
    import torch

    return torch.cat([a, b], dim)


def _add_show_setup(shape, options):
    """``--input SHAPE`` for both arrays (no broadcasting) and ``--param alpha=X``."""
    return ShowSetup({"input": shape, "other": shape}, {"alpha": real_option(options, "alpha", 1.0)})


def _concat_show_setup(shape, options):
    """``--input`` shapes a; ``--param b_shape=SHAPE`` shapes b (default: a's shape); ``--dim D`` (default 1)."""
    dim = dim_option("concat", shape, options, 1)
    b_shape = tuple(options.get("b_shape", shape))
    axis = dim % len(shape)
    if len(b_shape) != len(shape) or b_shape[:axis] + b_shape[axis + 1:] != shape[:axis] + shape[axis + 1:]:
        raise ValueError(f"--param b_shape: concat along dim {dim} needs b equal to a ({dims(shape)}) in every other "
                         f"axis (got {dims(b_shape)})")
    return ShowSetup({"a": shape, "b": b_shape}, {"dim": dim})


def _concat_out_shape(shapes, params):
    a, b = shapes["a"], shapes["b"]
    axis = params["dim"] % len(a)
    return a[:axis] + (a[axis] + b[axis],) + a[axis + 1:]


register(
    "add",
    summary="input + alpha·other (a residual connection): I and alpha·I",
    forward=add,
    jacobian={"input": lambda input, other, alpha=1: add_jacobian(np.shape(input), "input", alpha),
              "other": lambda input, other, alpha=1: add_jacobian(np.shape(input), "other", alpha)},
    vjp={"input": {"copy": lambda g, input, other, alpha=1: np.asarray(g, dtype=np.float64).copy()},
         "other": {"scale": lambda g, input, other, alpha=1: _alpha(alpha) * np.asarray(g, dtype=np.float64)}},
    cases=_add_cases,
    affine_in=("input", "other"),
    structural=("input",),
    torch_forward=_torch_add,
    reference=lambda input, other, alpha=1: np.array(
        [u + alpha * v for u, v in zip(np.ravel(input), np.ravel(other))]).reshape(np.shape(input)),
    param_names=("alpha",),
    show=ShowSpec(
        setup=_add_show_setup, options={"alpha": "float"}, out_shape=lambda shapes, params: shapes["input"],
        nnz=lambda shapes, params, wrt, out: math.prod(out), symbols={"input": "x", "other": "y"},
        example=("--input", "2x3", "--param", "alpha=0.5"),
    ),
)

register(
    "concat",
    summary="torch.cat([a, b], dim) (channels by default): 0/1 selections placing each input",
    forward=_concat2,
    jacobian={"a": lambda a, b, dim=1: concat_jacobian([np.shape(a), np.shape(b)], dim, 0),
              "b": lambda a, b, dim=1: concat_jacobian([np.shape(a), np.shape(b)], dim, 1)},
    vjp={"a": {"slice": _concat2_vjp(0)}, "b": {"slice": _concat2_vjp(1)}},
    cases=_concat_cases,
    affine_in=("a", "b"),
    structural=("a", "b"),
    torch_forward=_torch_cat,
    reference=_ref_concat,
    param_names=("dim",),
    show=ShowSpec(
        setup=_concat_show_setup, options={"dim": "signed_int", "b_shape": "shape"}, out_shape=_concat_out_shape,
        nnz=lambda shapes, params, wrt, out: math.prod(shapes[wrt]), input_help="SHAPE (of a)",
        symbols={"a": "A", "b": "B"}, example=("--input", "2x2", "--param", "b_shape=2x1"),
    ),
)
