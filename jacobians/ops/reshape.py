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
from ._sparse import as_array, check_budget, csr_from_arrays, exact_size, index_dtype_for, resolve_dtype

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
    return csr_from_arrays(np.ones(n_out, dtype=dt), source.astype(idx), np.arange(n_out + 1, dtype=idx),
                           (n_out, n_in), what="selection_matrix")


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
    if not shape:
        return np.zeros(1, dtype=np.int64)
    order = get_convention(convention).axis_order(len(shape))
    permuted_shape = tuple(shape[a] for a in order)
    n = exact_size(shape)
    walked = np.unravel_index(np.arange(n), permuted_shape)  # position -> index along each permuted axis
    canonical = [None] * len(shape)
    for position, axis in enumerate(order):
        canonical[axis] = walked[position]
    return np.ravel_multi_index(tuple(canonical), shape) if shape else np.zeros(1, dtype=np.int64)


def vec_jacobian(x_shape, convention="canonical") -> sp.csr_array:
    """∂vec_c(x)/∂vec(x): the permutation P with P vec_canonical = vec_convention."""
    shape = _dims(x_shape, "x_shape")
    n = exact_size(shape)
    get_convention(convention)
    _guard("vec Jacobian", n, n)
    return selection_matrix(_order_source(shape, convention), n)


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
    src_pos = np.empty(n, dtype=np.int64)
    src_pos[_order_source(shape, source)] = np.arange(n)  # canonical index -> position in the source vec
    return selection_matrix(src_pos[_order_source(shape, target)], n)


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
    out_index = np.unravel_index(np.arange(n), out_shape)  # C order over the output
    linear = np.ravel_multi_index(out_index, out_shape, order=order)
    source = np.ravel_multi_index(np.unravel_index(linear, x_shape, order=order), x_shape)
    return selection_matrix(source, n)


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
    out_index = np.unravel_index(np.arange(n), out_shape)
    in_index = [None] * len(x_shape)
    for i, a in enumerate(axes):
        in_index[a] = out_index[i]
    return selection_matrix(np.ravel_multi_index(tuple(in_index), x_shape), n)


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
    _guard("select Jacobian", t, exact_size(x_shape))
    return selection_matrix(index * t + np.arange(t), exact_size(x_shape))


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
