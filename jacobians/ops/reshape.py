"""Data movement: vec, reshape, transpose, flatten, stack, select — exact 0/1 Jacobians.

None of these operators computes anything: each output entry is a copy of
one input entry (or, for the conversion between conventions, a reordering).
So every Jacobian has exactly one 1 per row (a row selection; a permutation
when sizes agree), built here by index arithmetic with
``numpy.ravel_multi_index`` / ``numpy.unravel_index`` — independently of the
``numpy.reshape`` / ``numpy.transpose`` calls the forwards use — and
registered as *structural* so that the generic check compares them exactly.

Pieces the notes use:

* ``vec`` in a named convention (``vec`` operator, Jacobian = the convention's
  permutation matrix) and ``convert_vec`` between two conventions — e.g.
  note 001's column-major vec against the canonical row-major one;
* ``transpose`` — for a matrix its Jacobian is a commutation matrix;
* ``stack`` — DD2424's S = {S_1, …, S_n} with ∂vec(S)/∂vec(S_i) = (0; I_t; 0);
  ``select`` is its adjoint (the row block (0 I_t 0)).

Note 001's reshaping of dJ/dB⁽²⁾ into channel rows is the note's own formula and lives in
:mod:`jacobians.ledger.vardhan2022_formulas`.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..conventions import get_convention
from ..conventions import unvec as _unvec
from ..conventions import vec as _vec
from ..geometry import GeometryError, as_positive_int
from ..registry import Case, register
from ._sparse import index_dtype_for

__all__ = [
    "selection_matrix",
    "vec_op",
    "vec_jacobian",
    "convert_vec",
    "convert_vec_jacobian",
    "reshape",
    "reshape_jacobian",
    "transpose",
    "transpose_jacobian",
    "flatten",
    "flatten_jacobian",
    "stack",
    "stack_jacobian",
    "select",
    "select_jacobian",
]


def selection_matrix(source, n_in: int) -> sp.csr_array:
    """0/1 CSR with one 1 per row: row k picks input entry ``source[k]``.

    Shape ``(len(source), n_in)``; a permutation matrix when ``source`` is a
    permutation of ``range(n_in)``.
    """
    source = np.asarray(source).ravel()
    n_out = source.size
    idx = index_dtype_for(n_out, n_in)
    return sp.csr_array(
        (np.ones(n_out), source.astype(idx), np.arange(n_out + 1, dtype=idx)), shape=(n_out, int(n_in))
    )


def _shape_of(x):
    return tuple(int(s) for s in np.shape(x))


# ---------------------------------------------------------------------------
# vec in a convention, and conversion between conventions
# ---------------------------------------------------------------------------
def vec_op(x, convention="canonical") -> np.ndarray:
    """vec(x) in ``convention`` (a preset name or a Convention): 1-D, same entries reordered."""
    return _vec(np.asarray(x), get_convention(convention))


def _order_source(shape, convention):
    """Canonical flat index of the entry at each position of the convention's vec.

    Computed from the convention's axis order with ravel_multi_index (not by
    transposing an array of indices, as the forward does).
    """
    order = get_convention(convention).axis_order(len(shape))
    permuted_shape = tuple(shape[a] for a in order)
    n = int(np.prod(shape, dtype=np.int64))
    walked = np.unravel_index(np.arange(n), permuted_shape)  # position -> index along each permuted axis
    canonical = [None] * len(shape)
    for position, axis in enumerate(order):
        canonical[axis] = walked[position]
    return np.ravel_multi_index(tuple(canonical), shape) if shape else np.zeros(1, dtype=np.int64)


def vec_jacobian(x_shape, convention="canonical") -> sp.csr_array:
    """∂vec_c(x)/∂vec(x): the permutation P with P vec_canonical = vec_convention."""
    shape = tuple(int(s) for s in x_shape)
    n = int(np.prod(shape, dtype=np.int64))
    return selection_matrix(_order_source(shape, convention), n)


def _check_vector(v, shape, name="v"):
    v = np.asarray(v)
    shape = tuple(as_positive_int(s, f"shape[{i}]") for i, s in enumerate(shape))
    n = int(np.prod(shape, dtype=np.int64))
    if v.ndim != 1 or v.size != n:
        raise GeometryError(f"{name}: must be a vector of {n} entries for shape {shape} (got shape {v.shape})")
    return v, shape


def convert_vec(v, shape, source="canonical", target="canonical") -> np.ndarray:
    """Re-order a vec of a ``shape`` tensor from convention ``source`` to ``target``."""
    v, shape = _check_vector(v, shape)
    tensor = _unvec(v, shape, get_convention(source))
    return _vec(tensor, get_convention(target))


def convert_vec_jacobian(shape, source="canonical", target="canonical") -> sp.csr_array:
    """P_target · P_sourceᵀ, built as one selection (no matrix product)."""
    shape = tuple(int(s) for s in shape)
    n = int(np.prod(shape, dtype=np.int64))
    src_pos = np.empty(n, dtype=np.int64)
    src_pos[_order_source(shape, source)] = np.arange(n)  # canonical index -> position in the source vec
    return selection_matrix(src_pos[_order_source(shape, target)], n)


# ---------------------------------------------------------------------------
# reshape, transpose, flatten
# ---------------------------------------------------------------------------
def _target_shape(n, shape, name="shape"):
    shape = tuple(int(s) for s in (shape if np.ndim(shape) else (shape,)))
    if shape.count(-1) > 1:
        raise GeometryError(f"{name}: at most one entry may be -1 (got {shape})")
    known = int(np.prod([s for s in shape if s != -1], dtype=np.int64))
    if -1 in shape:
        if known == 0 or n % known:
            raise GeometryError(f"{name}: cannot infer -1: {n} entries are not a multiple of {known}")
        shape = tuple(n // known if s == -1 else s for s in shape)
    if any(s < 0 for s in shape) or int(np.prod(shape, dtype=np.int64)) != n:
        raise GeometryError(f"{name}: {shape} does not hold the input's {n} entries")
    return shape


def reshape(x, shape, order="C") -> np.ndarray:
    """``numpy.reshape(x, shape, order)``; ``order="F"`` is MATLAB's reshape."""
    if order not in ("C", "F"):
        raise ValueError(f"order: must be 'C' or 'F' (got {order!r})")
    x = np.asarray(x)
    return np.reshape(x, _target_shape(x.size, shape), order=order)


def reshape_jacobian(x_shape, shape, order="C") -> sp.csr_array:
    """Output entry at C-order position k comes from the input entry with the same ``order``-linear index."""
    if order not in ("C", "F"):
        raise ValueError(f"order: must be 'C' or 'F' (got {order!r})")
    x_shape = tuple(int(s) for s in x_shape)
    n = int(np.prod(x_shape, dtype=np.int64))
    out_shape = _target_shape(n, shape)
    out_index = np.unravel_index(np.arange(n), out_shape)  # C order over the output
    linear = np.ravel_multi_index(out_index, out_shape, order=order)
    source = np.ravel_multi_index(np.unravel_index(linear, x_shape, order=order), x_shape)
    return selection_matrix(source, n)


def _axes(ndim, axes):
    if axes is None:
        return tuple(range(ndim))[::-1]
    axes = tuple(int(a) for a in axes)
    if sorted(a % ndim if ndim else a for a in axes) != list(range(ndim)):
        raise GeometryError(f"axes: must be a permutation of range({ndim}) (got {axes})")
    return tuple(a % ndim for a in axes)


def transpose(x, axes=None) -> np.ndarray:
    """``numpy.transpose(x, axes)`` (reverse the axes when None)."""
    x = np.asarray(x)
    return np.transpose(x, _axes(x.ndim, axes))


def transpose_jacobian(x_shape, axes=None) -> sp.csr_array:
    """Permutation: output index m (in the permuted shape) reads input index with in[axes[i]] = m[i].

    For a matrix (axes (1, 0)) this is the commutation matrix K with
    vec_r(Aᵀ) = K vec_r(A).
    """
    x_shape = tuple(int(s) for s in x_shape)
    axes = _axes(len(x_shape), axes)
    out_shape = tuple(x_shape[a] for a in axes)
    n = int(np.prod(x_shape, dtype=np.int64))
    out_index = np.unravel_index(np.arange(n), out_shape)
    in_index = [None] * len(x_shape)
    for i, a in enumerate(axes):
        in_index[a] = out_index[i]
    return selection_matrix(np.ravel_multi_index(tuple(in_index), x_shape), n)


def _flat_dims(ndim, start_dim, end_dim):
    if ndim == 0:
        return 0, 0
    start, end = start_dim % ndim, end_dim % ndim
    if not (-ndim <= start_dim < ndim and -ndim <= end_dim < ndim) or start > end:
        raise GeometryError(f"start_dim, end_dim: must satisfy start <= end within {ndim} dims (got {start_dim}, {end_dim})")
    return start, end


def flatten(x, start_dim=0, end_dim=-1) -> np.ndarray:
    """``torch.flatten``: merge axes start_dim … end_dim (C order)."""
    x = np.asarray(x)
    start, end = _flat_dims(x.ndim, start_dim, end_dim)
    if x.ndim == 0:
        return x.reshape(1)
    return x.reshape(x.shape[:start] + (-1,) + x.shape[end + 1 :])


def flatten_jacobian(x_shape, start_dim=0, end_dim=-1) -> sp.csr_array:
    """The identity: a C-order flatten does not move any entry."""
    x_shape = tuple(int(s) for s in x_shape)
    _flat_dims(len(x_shape), start_dim, end_dim)
    n = int(np.prod(x_shape, dtype=np.int64))
    return selection_matrix(np.arange(n), n)


# ---------------------------------------------------------------------------
# stack and select (note 004)
# ---------------------------------------------------------------------------
def stack(*maps) -> np.ndarray:
    """S = {S_1, …, S_n}: the maps stacked along a new leading (channel) axis."""
    if not maps:
        raise GeometryError("maps: need at least one map to stack")
    shapes = {np.shape(m) for m in maps}
    if len(shapes) != 1:
        raise GeometryError(f"maps: all stacked maps must have one shape (got {sorted(shapes)})")
    return np.stack([np.asarray(m) for m in maps], axis=0)


def stack_jacobian(index: int, count: int, block_size: int) -> sp.csr_array:
    """∂vec(S)/∂vec(S_i) = (0; I_t; 0): shape (count·t, t), I_t in row block ``index`` (0-based)."""
    count = as_positive_int(count, "count")
    t = as_positive_int(block_size, "block_size")
    index = as_positive_int(index, "index", allow_zero=True)
    if index >= count:
        raise GeometryError(f"index: must be below count = {count} (got {index})")
    idx = index_dtype_for(count * t)
    indptr = np.zeros(count * t + 1, dtype=idx)
    indptr[index * t + 1 : (index + 1) * t + 1] = np.arange(1, t + 1)
    indptr[(index + 1) * t + 1 :] = t
    return sp.csr_array((np.ones(t), np.arange(t, dtype=idx), indptr), shape=(count * t, t))


def select(x, index: int) -> np.ndarray:
    """S_i = S[i]: one block along the leading axis (the adjoint of stacking)."""
    x = np.asarray(x)
    if x.ndim < 1:
        raise GeometryError(f"x: must have a leading axis to select from (got shape {x.shape})")
    index = as_positive_int(index, "index", allow_zero=True)
    if index >= x.shape[0]:
        raise GeometryError(f"index: must be below x.shape[0] = {x.shape[0]} (got {index})")
    return x[index]


def select_jacobian(x_shape, index: int) -> sp.csr_array:
    """(0 I_t 0): row block selecting block ``index`` of the leading axis."""
    x_shape = tuple(int(s) for s in x_shape)
    index = as_positive_int(index, "index", allow_zero=True)
    if not x_shape or index >= x_shape[0]:
        raise GeometryError(f"index: must be below x.shape[0] (shape {x_shape}, got {index})")
    t = int(np.prod(x_shape[1:], dtype=np.int64))
    return selection_matrix(index * t + np.arange(t), int(np.prod(x_shape, dtype=np.int64)))


# ---------------------------------------------------------------------------
# registration
# ---------------------------------------------------------------------------
def _torch_vec(x, convention="canonical"):
    return x.permute(*get_convention(convention).axis_order(x.ndim)).reshape(-1)


def _torch_transpose(x, axes=None):
    return x.permute(*_axes(x.ndim, axes))


def _torch_flatten(x, start_dim=0, end_dim=-1):
    import torch

    return torch.flatten(x, start_dim, end_dim)


def _torch_stack(s1, s2, s3):
    import torch

    return torch.stack([s1, s2, s3])


def _torch_select(x, index):
    return x[index]


def _rand(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


def _shape_id(shape):
    """(2, 3, 4) ↦ '2x3x4', for case ids."""
    return "x".join(map(str, shape))


def _vec_cases():
    out = []
    for i, (shape, conv) in enumerate(
        [((3, 4), "vardhan2022"), ((2, 3, 4), "vardhan2022"), ((2, 3, 4), "channels-last"), ((2, 2, 3, 2), "xu2020"),
         ((3, 2, 2), "dd2424"), ((5,), "matlab")]
    ):
        out.append(Case({"x": _rand(shape, i)}, {"convention": conv}, _shape_id(shape) + "-" + conv))
    return out


def _convert_cases():
    out = []
    for i, (shape, src, dst) in enumerate(
        [((3, 4), "canonical", "vardhan2022"), ((2, 3, 4), "vardhan2022", "channels-last"), ((2, 2, 3), "matlab", "dd2424")]
    ):
        n = int(np.prod(shape))
        out.append(Case({"v": _rand(n, 10 + i)}, {"shape": shape, "source": src, "target": dst},
                        f"{_shape_id(shape)}-{src}-to-{dst}"))
    return out


def _reshape_cases():
    specs = [((3, 4), (4, 3), "C"), ((3, 4), (2, 6), "F"), ((2, 3, 4), (6, -1), "F"), ((2, 3, 4), (4, 3, 2), "F"), ((6,), (2, 3), "F")]
    return [
        Case({"x": _rand(xs, 20 + i)}, {"shape": s, "order": o}, f"{_shape_id(xs)}-to-{_shape_id(s)}-{o}")
        for i, (xs, s, o) in enumerate(specs)
    ]


def _transpose_cases():
    specs = [((3, 4), None), ((2, 3, 4), (1, 2, 0)), ((2, 3, 4, 2), (0, 2, 3, 1)), ((1, 5), (1, 0))]
    return [
        Case({"x": _rand(xs, 30 + i)}, {"axes": a}, f"{_shape_id(xs)}-{a}".replace(" ", "").replace(",", "_"))
        for i, (xs, a) in enumerate(specs)
    ]


def _flatten_cases():
    specs = [((2, 3, 4), 0, -1), ((2, 3, 4), 1, -1), ((2, 3, 4, 2), 1, 2)]
    return [Case({"x": _rand(xs, 40 + i)}, {"start_dim": s, "end_dim": e}, f"{_shape_id(xs)}-{s}-{e}")
            for i, (xs, s, e) in enumerate(specs)]


def _stack_cases():
    out = []
    for i, shape in enumerate([(4, 4), (2, 3), (1, 1)]):
        out.append(Case({f"s{k}": _rand(shape, 50 + 3 * i + k) for k in (1, 2, 3)}, {}, _shape_id(shape)))
    return out


def _select_cases():
    specs = [((3, 4, 4), 0), ((3, 4, 4), 2), ((2, 5), 1)]
    return [Case({"x": _rand(xs, 60 + i)}, {"index": k}, f"{_shape_id(xs)}-{k}") for i, (xs, k) in enumerate(specs)]


register(
    "vec",
    summary="vec in a named convention (row/col-major, channels first/last): a permutation",
    forward=vec_op,
    jacobian={"x": lambda x, convention="canonical": vec_jacobian(np.shape(x), convention)},
    vjp={"x": {"unvec": lambda g, x, convention="canonical": _unvec(g, np.shape(x), get_convention(convention))}},
    cases=_vec_cases,
    affine_in=("x",),
    structural=("x",),
    torch_forward=_torch_vec,
)

register(
    "convert_vec",
    summary="re-order a vec from one convention to another: P_target P_sourceᵀ",
    forward=convert_vec,
    jacobian={"v": lambda v, shape, source="canonical", target="canonical": convert_vec_jacobian(shape, source, target)},
    vjp={"v": {"convert_back": lambda g, v, shape, source="canonical", target="canonical": convert_vec(g, shape, target, source)}},
    cases=_convert_cases,
    affine_in=("v",),
    structural=("v",),
)

register(
    "reshape",
    summary="numpy reshape in C or F (MATLAB) order: a permutation",
    forward=reshape,
    jacobian={"x": lambda x, shape, order="C": reshape_jacobian(np.shape(x), shape, order)},
    vjp={"x": {"reshape_back": lambda g, x, shape, order="C": np.reshape(np.asarray(g), np.shape(x), order=order)}},
    cases=_reshape_cases,
    affine_in=("x",),
    structural=("x",),
)

register(
    "transpose",
    summary="axis permutation; for a matrix the Jacobian is a commutation matrix",
    forward=transpose,
    jacobian={"x": lambda x, axes=None: transpose_jacobian(np.shape(x), axes)},
    vjp={"x": {"inverse_permutation": lambda g, x, axes=None: np.transpose(
        np.asarray(g), np.argsort(_axes(np.ndim(x), axes)))}},
    cases=_transpose_cases,
    affine_in=("x",),
    structural=("x",),
    torch_forward=_torch_transpose,
)

register(
    "flatten",
    summary="torch.flatten(x, start_dim, end_dim): the identity Jacobian",
    forward=flatten,
    jacobian={"x": lambda x, start_dim=0, end_dim=-1: flatten_jacobian(np.shape(x), start_dim, end_dim)},
    vjp={"x": {"reshape": lambda g, x, start_dim=0, end_dim=-1: np.reshape(np.asarray(g), np.shape(x))}},
    cases=_flatten_cases,
    affine_in=("x",),
    structural=("x",),
    torch_forward=_torch_flatten,
)


def _stack_block_jac(name):
    k = int(name[1:]) - 1

    def jac(s1, s2, s3):
        return stack_jacobian(k, 3, np.size(s1))

    return jac


def _stack_block_vjp(name):
    k = int(name[1:]) - 1

    def vjp(g, s1, s2, s3):
        return np.asarray(g)[k]

    return vjp


register(
    "stack",
    summary="S = {S_1, S_2, S_3} (note 004): ∂vec S/∂vec S_i = (0; I_t; 0)",
    forward=lambda s1, s2, s3: stack(s1, s2, s3),
    jacobian={n: _stack_block_jac(n) for n in ("s1", "s2", "s3")},
    vjp={n: {"select": _stack_block_vjp(n)} for n in ("s1", "s2", "s3")},
    cases=_stack_cases,
    affine_in=("s1", "s2", "s3"),
    structural=("s1", "s2", "s3"),
    torch_forward=_torch_stack,
)


def _select_vjp(g, x, index):
    out = np.zeros(np.shape(x))
    out[index] = g
    return out


register(
    "select",
    summary="S_i = S[i] along the leading axis: the row block (0 I_t 0)",
    forward=select,
    jacobian={"x": lambda x, index: select_jacobian(np.shape(x), index)},
    vjp={"x": {"scatter": _select_vjp}},
    cases=_select_cases,
    affine_in=("x",),
    structural=("x",),
    torch_forward=_torch_select,
)
