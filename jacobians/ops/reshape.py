"""Data movement: vec, reshape, transpose, flatten, stack, select — exact 0/1 Jacobians.

None of these operators computes anything: each output entry is a copy of
one input entry (or, for the conversion between conventions, a reordering).
So every Jacobian has exactly one 1 per row (a row selection; a permutation
when sizes agree), built here by index arithmetic — the ravel formula
Σ index·stride over a strided walk (:func:`_strided_walk`), or digit
arithmetic for an F-order reshape — written straight into the CSR's index
dtype, independently of the ``numpy.reshape`` / ``numpy.transpose`` calls the
forwards use, and registered as *structural* so that the generic check
compares them exactly.

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

import math

import numpy as np
import scipy.sparse as sp

from ..conventions import get_convention
from ..conventions import unvec as _unvec
from ..conventions import vec as _vec
from ..geometry import GeometryError, _short, as_items, as_positive_int
from ..registry import Case, register
from ._show import ShowSetup, ShowSpec, dims
from . import _references
from ._sparse import as_array, c_strides, check_budget, csr_from_arrays, exact_size, index_dtype_for, resolve_dtype

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


def _as_int(value, name: str) -> int:
    """An integer (negative allowed: axes), integral floats accepted, anything else one line."""
    if isinstance(value, (float, np.floating)) and np.isfinite(value) and float(value).is_integer():
        value = int(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise GeometryError(f"{name}: must be an integer (got {_short(value)})")
    return int(value)


def _dims(value, name: str) -> tuple[int, ...]:
    """A tensor shape: a tuple of non-negative integers (each ≤ 2**31 − 1)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        value = (value,)
    items = as_items(value, name, "a tuple of non-negative integers")
    return tuple(as_positive_int(v, f"{name}[{i}]", allow_zero=True) for i, v in enumerate(items))


def _guard(what: str, n_rows: int, n_cols: int, max_bytes=None, dtype=np.float64) -> None:
    """The memory guard of a one-1-per-row selection (nnz ≤ rows), on exact ints, before any allocation."""
    check_budget(what, n_rows, (n_rows, n_cols), dtype, max_bytes)


def selection_matrix(source, n_in: int, *, dtype=None, max_bytes=None) -> sp.csr_array:
    """0/1 CSR with one 1 per row: row k picks input entry ``source[k]``.

    Parameters
    ----------
    source : integer indices, each in [0, n_in) (negative or too large ones are refused)
    n_in : number of input entries (columns)
    dtype : float32 or float64 (default); ints refused

    Returns
    -------
    csr_array of shape ``(len(source), n_in)``; a permutation matrix when
    ``source`` is a permutation of ``range(n_in)``.

    Examples
    --------
    >>> selection_matrix([2, 0], 3).toarray()
    array([[0., 0., 1.],
           [1., 0., 0.]])
    """
    dt = resolve_dtype(dtype)
    n_in = as_positive_int(n_in, "n_in", allow_zero=True)
    source = as_array(source, "source")
    if source.dtype.kind == "f" and source.size and np.all(np.isfinite(source)) and np.all(source == np.round(source)):
        source = source.astype(np.int64)
    if source.dtype.kind not in "iu" and not (source.size == 0 and source.dtype.kind == "f"):
        raise TypeError(f"source: must be integer indices (got dtype {source.dtype})")
    source = source.ravel()
    n_out = source.size
    _guard("selection matrix", n_out, n_in, max_bytes, dt)
    if n_out and (int(source.min()) < 0 or int(source.max()) >= n_in):
        raise GeometryError(
            f"source: indices must lie in [0, n_in) = [0, {n_in}) (got min {int(source.min())}, max {int(source.max())})"
        )
    idx = index_dtype_for(n_out, n_in)
    # a copy even when source already has the index dtype: the result must not alias the caller's array
    return _one_per_row_csr(source.astype(idx), n_in, dt, "selection_matrix")


def _one_per_row_csr(indices: np.ndarray, n_in: int, dtype=np.float64, what: str = "Jacobian") -> sp.csr_array:
    """Wrap ``indices`` (owned, already in the index dtype) as the CSR with one 1 per row: row k has a 1 in column indices[k].

    The only other allocations are the data (ones) and indptr (an arange
    straight in the index dtype), so the peak is the CSR itself.
    """
    n_out = int(indices.size)
    return csr_from_arrays(np.ones(n_out, dtype=dtype), indices, np.arange(n_out + 1, dtype=indices.dtype),
                           (n_out, int(n_in)), what=what)


def _prime_factors(d: int) -> list[int]:
    """Prime factors of d, ascending (trial division: dims are at most 2³¹ − 1, so at most ~46 000 steps)."""
    out, f = [], 2
    while f * f <= d:
        while d % f == 0:
            out.append(f)
            d //= f
        f += 1
    if d > 1:
        out.append(d)
    return out


def _small_walk(axes, idx) -> np.ndarray:
    """The walk of :func:`_strided_walk` for few entries, by repeated broadcast sums (its size is the product)."""
    grid = np.zeros(1, dtype=idx)
    for d, s in axes:
        grid = (grid[:, None] + np.arange(d, dtype=idx)[None, :] * idx.type(s)).ravel()
    return grid


def _strided_walk(shape, strides, idx) -> np.ndarray:
    """Entry m of a C-order walk over ``shape`` holds Σ_p m_p·strides[p], in dtype ``idx``.

    This is ``ravel_multi_index`` of every multi-index of a strided view (a
    transpose: the input's C-order strides listed in the output's axis order),
    computed without unravelling: after dropping unit axes and merging axes
    that are contiguous with their successor, the axes are cut into prime
    factors, split into a leading and a trailing group of about √n entries
    each, and the result is their outer sum written once — the only full-size
    allocation is the result (the int64 unravel/ravel route held four
    full-size int64 arrays, then cast).
    """
    n = exact_size(shape)
    if n == 0:
        return np.empty(0, dtype=idx)
    merged: list[tuple[int, int]] = []
    for d, s in zip(shape, strides):
        d, s = int(d), int(s)
        if d == 1:
            continue
        if merged and merged[-1][1] == s * d:  # the previous axis steps over exactly this one: one longer axis
            merged[-1] = (merged[-1][0] * d, s)
        else:
            merged.append((d, s))
    if not merged:
        return np.zeros(1, dtype=idx)
    if len(merged) == 1:
        d, s = merged[0]
        out = np.arange(d, dtype=idx)
        if s != 1:
            out *= idx.type(s)
        return out
    lead, tail = _walk_halves(merged, idx)
    out = np.empty(n, dtype=idx)
    np.add(lead[:, None], tail[None, :], out=out.reshape(lead.size, tail.size))
    return out


def _walk_halves(merged, idx):
    """(lead, tail), each of about √n entries, with walk = outer sum lead[:, None] + tail[None, :] (C order)."""
    n = exact_size(d for d, _ in merged)
    # virtual axes: d = f1·f2·…·fk with stride s becomes (f1, s·f2·…·fk), …, (fk, s) — the same walk
    factors: list[tuple[int, int]] = []
    for d, s in merged:
        fs = _prime_factors(d)[::-1]
        inner = d
        for f in fs:
            inner //= f
            factors.append((f, s * inner))
    lead, best = 1, None
    for k in range(1, len(factors)):
        lead *= factors[k - 1][0]
        cost = max(lead, n // lead)
        if best is None or cost < best[0]:
            best = (cost, k, lead)
    if best is None:  # a single prime axis
        return np.zeros(1, dtype=idx), _small_walk(factors, idx)
    return _small_walk(factors[:best[1]], idx), _small_walk(factors[best[1]:], idx)


def _shape_of(x):
    return tuple(int(s) for s in np.shape(x))


# ---------------------------------------------------------------------------
# vec in a convention, and conversion between conventions
# ---------------------------------------------------------------------------
def vec_op(x, convention="canonical") -> np.ndarray:
    """vec(x) in ``convention`` (a preset name or a Convention): 1-D, same entries reordered."""
    return _vec(np.asarray(x), get_convention(convention))


def vec_jacobian(x_shape, convention="canonical") -> sp.csr_array:
    """∂vec_c(x)/∂vec(x): the permutation P with P vec_canonical = vec_convention."""
    shape = _dims(x_shape, "x_shape")
    n = exact_size(shape)
    get_convention(convention)
    _guard("vec Jacobian", n, n)
    # position p of the convention's vec walks the axes in the convention's order: its canonical (C) index
    # is the ravel_multi_index of a strided view, written straight in the index dtype
    order = get_convention(convention).axis_order(len(shape)) if shape else ()
    strides = c_strides(shape)
    idx = index_dtype_for(n)
    indices = _strided_walk([shape[a] for a in order], [strides[a] for a in order], idx)
    return _one_per_row_csr(indices, n, what="vec_jacobian")


def _convention(value, name: str):
    """get_convention, with the refusal naming the caller's parameter."""
    try:
        return get_convention(value)
    except ValueError as exc:
        raise ValueError(f"{name}: {str(exc).split(': ', 1)[-1]}") from None


def _check_vector(v, shape, name="v"):
    v = as_array(v, "v")
    shape = _dims(shape, "shape")
    n = exact_size(shape)
    if v.ndim != 1 or v.size != n:
        raise GeometryError(f"{name}: must be a vector of {n} entries for shape {shape} (got shape {v.shape})")
    return v, shape


def convert_vec(v, shape, source="canonical", target="canonical") -> np.ndarray:
    """Re-order a vec of a ``shape`` tensor from convention ``source`` to ``target``."""
    v, shape = _check_vector(v, shape)
    tensor = _unvec(v, shape, _convention(source, "source"))
    return _vec(tensor, _convention(target, "target"))


def convert_vec_jacobian(shape, source="canonical", target="canonical") -> sp.csr_array:
    """P_target · P_sourceᵀ, built as one selection (no matrix product)."""
    shape = _dims(shape, "shape")
    n = exact_size(shape)
    _convention(source, "source"), _convention(target, "target")
    _guard("convert_vec Jacobian", n, n)
    if not shape:
        return _one_per_row_csr(np.zeros(1, dtype=index_dtype_for(1)), 1, what="convert_vec_jacobian")
    order_s = _convention(source, "source").axis_order(len(shape))
    order_t = _convention(target, "target").axis_order(len(shape))
    # axis a's stride in the source vec (the C strides of the source-permuted shape, put back on the axes);
    # row k of the target vec walks the axes in the target's order, and its column is its source position
    permuted = c_strides([shape[a] for a in order_s])
    source_stride = [0] * len(shape)
    for q, a in enumerate(order_s):
        source_stride[a] = permuted[q]
    idx = index_dtype_for(n)
    indices = _strided_walk([shape[a] for a in order_t], [source_stride[a] for a in order_t], idx)
    return _one_per_row_csr(indices, n, what="convert_vec_jacobian")


# ---------------------------------------------------------------------------
# reshape, transpose, flatten
# ---------------------------------------------------------------------------
def _items(value, name: str, what: str) -> tuple:
    """A scalar or a flat sequence as a tuple; strings, mappings, None and non-iterables refused."""
    if isinstance(value, (int, float, np.integer, np.floating)):
        return (value,)
    return as_items(value, name, what)


def _target_shape(n, shape, name="shape"):
    items = _items(shape, name, "an integer or a tuple of integers")
    shape = tuple(_as_int(s, f"{name}[{i}]") for i, s in enumerate(items))
    if shape.count(-1) > 1:
        raise GeometryError(f"{name}: at most one entry may be -1 (got {shape})")
    if any(s < -1 for s in shape):
        raise GeometryError(f"{name}: entries must be non-negative or a single -1 (got {shape})")
    known = exact_size([s for s in shape if s != -1])
    if -1 in shape:
        if known == 0 or n % known:
            raise GeometryError(f"{name}: cannot infer -1: {n} entries are not a multiple of {known}")
        shape = tuple(n // known if s == -1 else s for s in shape)
    if any(s < 0 for s in shape) or exact_size(shape) != n:
        raise GeometryError(f"{name}: {shape} does not hold the input's {n} entries")
    return shape


def reshape(x, shape, order="C") -> np.ndarray:
    """``numpy.reshape(x, shape, order)``; ``order="F"`` is MATLAB's reshape."""
    if not isinstance(order, str) or order not in ("C", "F"):
        raise ValueError(f"order: must be 'C' or 'F' (got {_short(order)})")
    x = np.asarray(x)
    return np.reshape(x, _target_shape(x.size, shape), order=order)


def reshape_jacobian(x_shape, shape, order="C") -> sp.csr_array:
    """Output entry at C-order position k comes from the input entry with the same ``order``-linear index."""
    if not isinstance(order, str) or order not in ("C", "F"):
        raise ValueError(f"order: must be 'C' or 'F' (got {_short(order)})")
    x_shape = _dims(x_shape, "x_shape")
    n = exact_size(x_shape)
    out_shape = _target_shape(n, shape)
    _guard("reshape Jacobian", n, n)
    idx = index_dtype_for(n)
    if order == "C" or n == 0:
        # the C-linear index of output position k is k, and it is the input's C index: the identity
        return _one_per_row_csr(np.arange(n, dtype=idx), n, what="reshape_jacobian")
    refined = _common_radices(x_shape, out_shape)
    if refined is not None:
        # F-linear index L in mixed radix with digits r_0 (fastest) … r_m that refine both shapes' F-order
        # digits: each output and input index is a run of consecutive digits, so output position k is a
        # strided walk over the digits (output axes in C order = its digit runs from the slowest)
        return _one_per_row_csr(_reshape_f_walk(x_shape, out_shape, refined, idx), n, what="reshape_jacobian")
    # no common refinement (e.g. 64·112·112 -> 112·7168): the F-linear index L of output position k is a
    # strided walk over the output (its F strides in C order), split as lead[:, None] + tail[None, :]; the
    # input's F digits of L come from floor division by each axis length (a scalar divisor: numpy's fast
    # path; the remainder as L − q·d, np.remainder being several times slower), all in the index dtype,
    # in blocks of about _RESHAPE_CHUNK rows so the temporaries stay in cache
    o_strides = _f_strides(out_shape)
    merged = [(d, s) for d, s in zip(out_shape, o_strides) if d != 1]
    lead, tail = _walk_halves(merged, idx)
    x_strides = c_strides(x_shape)
    axes = [(idx.type(d), idx.type(st)) for d, st in zip(x_shape, x_strides) if d != 1]
    indices = np.empty(n, dtype=idx)
    block = indices.reshape(lead.size, tail.size)
    step = max(1, _RESHAPE_CHUNK // tail.size)
    # three scratch blocks reused by every block of rows (no allocation per block)
    scratch = np.empty((3, min(lead.size, step), tail.size), dtype=idx)
    for r0 in range(0, lead.size, step):
        out = block[r0 : r0 + step]
        rest, q, digit = (buf[: out.shape[0]] for buf in scratch)
        np.add(lead[r0 : r0 + step, None], tail[None, :], out=rest)  # L of these rows
        first = True
        for d, st in axes[:-1]:
            np.floor_divide(rest, d, out=q)
            np.multiply(q, d, out=digit)
            np.subtract(rest, digit, out=digit)  # L mod d
            if first:
                np.multiply(digit, st, out=out)
                first = False
            else:
                digit *= st
                out += digit
            rest, q = q, rest
        if first:  # a single non-unit input axis
            np.multiply(rest, axes[-1][1], out=out)
        else:
            rest *= axes[-1][1]  # the slowest F axis takes what is left
            out += rest
    return _one_per_row_csr(indices, n, what="reshape_jacobian")


#: entries per block of reshape_jacobian's digit arithmetic (three int32 scratch blocks of 128 kB)
_RESHAPE_CHUNK = 1 << 15


def _f_strides(shape) -> list[int]:
    """F-order strides, in entries, of an array of ``shape`` (exact Python ints)."""
    strides, step = [], 1
    for d in shape:
        strides.append(step)
        step *= int(d)
    return strides


def _common_radices(a, b):
    """Digits refining both mixed radices ``a`` and ``b`` (least significant first), or None if none exists.

    Unit entries are ignored. A refinement exists iff the sorted union of
    both prefix products is a divisibility chain; the digits are its ratios.
    """
    cuts = set()
    for radices in (a, b):
        p = 1
        for r in radices:
            p *= int(r)
            cuts.add(p)
    chain = sorted(cuts)
    digits, prev = [], 1
    for c in chain:
        if c % prev:
            return None
        if c != prev:
            digits.append(c // prev)
        prev = c
    return digits


def _reshape_f_walk(x_shape, out_shape, digits, idx) -> np.ndarray:
    """Column of each output row of an F-order reshape, as a strided walk over the common digits."""
    # place value of digit j in L, and which digits each axis (F order: axis 0 fastest) spans
    def spans(shape):
        out, p, j = [], 1, 0
        for d in shape:
            first = j
            p_end = p * int(d)
            q = p
            while q < p_end:
                q *= digits[j]
                j += 1
            out.append((first, j))
            p = p_end
        return out

    x_spans, o_spans = spans(x_shape), spans(out_shape)
    # stride of digit j in the input's C index: C stride of its axis times the digit's place within the axis
    x_strides = c_strides(x_shape)
    digit_stride = [0] * len(digits)
    for axis, (first, last) in enumerate(x_spans):
        place = 1
        for j in range(first, last):
            digit_stride[j] = x_strides[axis] * place
            place *= digits[j]
    # output C order: axes slowest first; within an axis the digits slowest (most significant) first
    walk_shape, walk_strides = [], []
    for first, last in o_spans:
        for j in range(last - 1, first - 1, -1):
            walk_shape.append(digits[j])
            walk_strides.append(digit_stride[j])
    return _strided_walk(walk_shape, walk_strides, idx)


def _axes(ndim, axes):
    if axes is None:
        return tuple(range(ndim))[::-1]
    axes = tuple(_as_int(a, "axes") for a in _items(axes, "axes", f"a permutation of range({ndim})"))
    if any(not -ndim <= a < ndim for a in axes) or sorted(a % ndim if ndim else a for a in axes) != list(range(ndim)):
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
    x_shape = _dims(x_shape, "x_shape")
    axes = _axes(len(x_shape), axes)
    out_shape = tuple(x_shape[a] for a in axes)
    n = exact_size(x_shape)
    _guard("transpose Jacobian", n, n)
    # output index m reads input index with in[axes[i]] = m[i]: a walk over the output shape with the input's
    # C strides taken in the output's axis order
    strides = c_strides(x_shape)
    indices = _strided_walk(out_shape, [strides[a] for a in axes], index_dtype_for(n))
    return _one_per_row_csr(indices, n, what="transpose_jacobian")


def _flat_dims(ndim, start_dim, end_dim):
    start_dim, end_dim = _as_int(start_dim, "start_dim"), _as_int(end_dim, "end_dim")
    if ndim == 0:
        if start_dim not in (0, -1) or end_dim not in (0, -1):
            raise GeometryError(f"start_dim, end_dim: must be 0 or -1 for a 0-d input (got {start_dim}, {end_dim})")
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
    x_shape = _dims(x_shape, "x_shape")
    _flat_dims(len(x_shape), start_dim, end_dim)
    n = exact_size(x_shape)
    _guard("flatten Jacobian", n, n)
    return _one_per_row_csr(np.arange(n, dtype=index_dtype_for(n)), n, what="flatten_jacobian")


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
    _guard("stack Jacobian", count * t, t)
    idx = index_dtype_for(count * t)
    indptr = np.zeros(count * t + 1, dtype=idx)
    indptr[index * t + 1 : (index + 1) * t + 1] = np.arange(1, t + 1)
    indptr[(index + 1) * t + 1 :] = t
    return csr_from_arrays(np.ones(t), np.arange(t, dtype=idx), indptr, (count * t, t), what="stack_jacobian")


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
    x_shape = _dims(x_shape, "x_shape")
    index = as_positive_int(index, "index", allow_zero=True)
    if not x_shape or index >= x_shape[0]:
        raise GeometryError(f"index: must be below x.shape[0] (shape {x_shape}, got {index})")
    t = exact_size(x_shape[1:])
    n_in = exact_size(x_shape)
    _guard("select Jacobian", t, n_in)
    idx = index_dtype_for(t, n_in)
    indices = np.arange(t, dtype=idx)
    if index:
        indices += idx.type(index * t)  # in place, in the index dtype (index·t + t − 1 < n_in fits it)
    return _one_per_row_csr(indices, n_in, what="select_jacobian")


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


def _preset_names():
    from ..conventions import PRESETS

    return ("canonical", *sorted(n for n in PRESETS if n != "canonical"))


def _show_convert_setup(shape, options):
    if "shape" not in options:
        raise ValueError("--shape: convert_vec needs --shape SHAPE, the shape of the tensor whose vec --input is")
    size = math.prod(options["shape"])
    if shape != (size,):
        raise ValueError(f"--input: convert_vec needs the vector length {size} (= the size of --shape {dims(options['shape'])}), got {dims(shape)}")
    params = {"shape": options["shape"], "source": options.get("source", "canonical"), "target": options.get("target", "canonical")}
    return ShowSetup({"v": shape}, params)


def _show_reshape_setup(shape, options):
    if "shape" not in options:
        raise ValueError(f"--shape: reshape needs the target --shape (with {math.prod(shape)} entries, the size of --input {dims(shape)})")
    if math.prod(options["shape"]) != math.prod(shape):
        raise ValueError(f"--shape: {dims(options['shape'])} has {math.prod(options['shape'])} entries but --input {dims(shape)} has {math.prod(shape)}")
    return ShowSetup({"x": shape}, {"shape": options["shape"], "order": options.get("order", "C")})


def _show_transpose_setup(shape, options):
    axes = options.get("axes", tuple(range(len(shape)))[::-1])
    if sorted(axes) != list(range(len(shape))):
        raise ValueError(f"--axes: must be a permutation of 0 … {len(shape) - 1} for --input {dims(shape)} (got {','.join(map(str, axes))})")
    return ShowSetup({"x": shape}, {"axes": tuple(axes)})


def _show_flatten_setup(shape, options):
    params = {"start_dim": options.get("start_dim", 0), "end_dim": options.get("end_dim", -1)}
    try:
        _flat_dims(len(shape), params["start_dim"], params["end_dim"])
    except ValueError as exc:
        raise ValueError(f"--param: {exc}") from None
    return ShowSetup({"x": shape}, params)


def _show_select_setup(shape, options):
    if "index" not in options:
        raise ValueError(f"--index: select needs --index I, 0 ≤ I < {shape[0]} (the leading axis of --input {dims(shape)})")
    if options["index"] >= shape[0]:
        raise ValueError(f"--index: must be below {shape[0]} (the leading axis of --input {dims(shape)}), got {options['index']}")
    return ShowSetup({"x": shape}, {"index": options["index"]})


def _one_per_row(shapes, params, wrt, out):
    return math.prod(out)


register(
    "vec",
    reference=_references.vec_reference,
    summary="vec in a named convention (row/col-major, channels first/last): a permutation",
    forward=vec_op,
    jacobian={"x": lambda x, convention="canonical": vec_jacobian(np.shape(x), convention)},
    vjp={"x": {"unvec": lambda g, x, convention="canonical": _unvec(g, np.shape(x), get_convention(convention))}},
    cases=_vec_cases,
    affine_in=("x",),
    structural=("x",),
    torch_forward=_torch_vec,
    show=ShowSpec(
        setup=lambda shape, options: ShowSetup({"x": shape}, {"convention": options.get("convention", "canonical")}),
        options={"convention": _preset_names()}, out_shape=lambda shapes, params: (math.prod(shapes["x"]),),
        nnz=_one_per_row, symbols={"x": "X"}, example=("--input", "2x3", "--param", "convention=matlab"),
    ),
)

register(
    "convert_vec",
    reference=_references.convert_vec_reference,
    summary="re-order a vec from one convention to another: P_target P_sourceᵀ",
    forward=convert_vec,
    jacobian={"v": lambda v, shape, source="canonical", target="canonical": convert_vec_jacobian(shape, source, target)},
    vjp={"v": {"convert_back": lambda g, v, shape, source="canonical", target="canonical": convert_vec(g, shape, target, source)}},
    cases=_convert_cases,
    affine_in=("v",),
    structural=("v",),
    show=ShowSpec(setup=_show_convert_setup, options={"shape": "shape", "source": _preset_names(), "target": _preset_names()},
                  out_shape=lambda shapes, params: shapes["v"], nnz=_one_per_row, input_help="N (the vec's length)",
                  example=("--input", "6", "--shape", "2x3", "--target", "matlab")),
)

register(
    "reshape",
    reference=_references.reshape_reference,
    summary="numpy reshape in C or F (MATLAB) order: a permutation",
    forward=reshape,
    jacobian={"x": lambda x, shape, order="C": reshape_jacobian(np.shape(x), shape, order)},
    vjp={"x": {"reshape_back": lambda g, x, shape, order="C": np.reshape(np.asarray(g), np.shape(x), order=order)}},
    cases=_reshape_cases,
    affine_in=("x",),
    structural=("x",),
    show=ShowSpec(setup=_show_reshape_setup, options={"shape": "shape", "order": ("C", "F")},
                  out_shape=lambda shapes, params: params["shape"], nnz=_one_per_row,
                  example=("--input", "2x3", "--shape", "3x2", "--order", "F")),
)

register(
    "transpose",
    reference=_references.transpose_reference,
    summary="axis permutation; for a matrix the Jacobian is a commutation matrix",
    forward=transpose,
    jacobian={"x": lambda x, axes=None: transpose_jacobian(np.shape(x), axes)},
    vjp={"x": {"inverse_permutation": lambda g, x, axes=None: np.transpose(
        np.asarray(g), np.argsort(_axes(np.ndim(x), axes)))}},
    cases=_transpose_cases,
    affine_in=("x",),
    structural=("x",),
    torch_forward=_torch_transpose,
    show=ShowSpec(setup=_show_transpose_setup, options={"axes": "axes"}, nnz=_one_per_row,
                  out_shape=lambda shapes, params: tuple(shapes["x"][a] for a in params["axes"]),
                  example=("--input", "2x3", "--axes", "1,0")),
)

register(
    "flatten",
    reference=_references.flatten_reference,
    summary="torch.flatten(x, start_dim, end_dim): the identity Jacobian",
    forward=flatten,
    jacobian={"x": lambda x, start_dim=0, end_dim=-1: flatten_jacobian(np.shape(x), start_dim, end_dim)},
    vjp={"x": {"reshape": lambda g, x, start_dim=0, end_dim=-1: np.reshape(np.asarray(g), np.shape(x))}},
    cases=_flatten_cases,
    affine_in=("x",),
    structural=("x",),
    torch_forward=_torch_flatten,
    show=ShowSpec(setup=_show_flatten_setup, options={"start_dim": "signed_int", "end_dim": "signed_int"}, nnz=_one_per_row,
                  example=("--input", "2x2x2", "--param", "start_dim=1")),
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
    reference=_references.stack_reference,
    summary="S = {S_1, S_2, S_3} (note 004): ∂vec S/∂vec S_i = (0; I_t; 0)",
    forward=lambda s1, s2, s3: stack(s1, s2, s3),
    jacobian={n: _stack_block_jac(n) for n in ("s1", "s2", "s3")},
    vjp={n: {"select": _stack_block_vjp(n)} for n in ("s1", "s2", "s3")},
    cases=_stack_cases,
    affine_in=("s1", "s2", "s3"),
    structural=("s1", "s2", "s3"),
    torch_forward=_torch_stack,
    show=ShowSpec(  # S_1, S_2, S_3 all have the shape of --input
        setup=lambda shape, options: ShowSetup({"s1": shape, "s2": shape, "s3": shape}),
        out_shape=lambda shapes, params: (3, *shapes["s1"]), nnz=lambda shapes, params, wrt, out: math.prod(shapes[wrt]),
        input_help="SHAPE of each S_i", symbols={"s1": "S1", "s2": "S2", "s3": "S3"}, example=("--input", "2x2"),
    ),
)


def _select_vjp(g, x, index):
    out = np.zeros(np.shape(x))
    out[index] = g
    return out


register(
    "select",
    reference=_references.select_reference,
    summary="S_i = S[i] along the leading axis: the row block (0 I_t 0)",
    forward=select,
    jacobian={"x": lambda x, index: select_jacobian(np.shape(x), index)},
    vjp={"x": {"scatter": _select_vjp}},
    cases=_select_cases,
    affine_in=("x",),
    structural=("x",),
    torch_forward=_torch_select,
    show=ShowSpec(setup=_show_select_setup, options={"index": "int"}, nnz=_one_per_row,
                  out_shape=lambda shapes, params: shapes["x"][1:], example=("--input", "3x2x2", "--index", "1")),
)
