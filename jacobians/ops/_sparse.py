"""Shared pieces for building explicit Jacobians as CSR arrays — and the rules every builder follows.

The rules (every builder, old and new, obeys them; tests/test_robustness_rules.py checks them)

* **dtype** — :func:`resolve_dtype`. ``dtype=None``: float32 when every
  floating input is float32, float64 otherwise (integers and bools are
  promoted to float64). An explicit ``dtype`` must be a real floating dtype
  (float32 or float64); ints, bools and complex are refused with one line.
  Object arrays (sympy expressions) take the symbolic path.
* **batch** — input shapes are unbatched ``(C, …)`` or batched ``(N, C, …)``.
  The Jacobian of a batched call is the Jacobian of the whole batched map with
  C-order vec over ``(N, …)`` — exactly ``torch.func.jacrev`` of the batched
  call reshaped to 2-D. For per-sample layers it is block-diagonal over samples
  w.r.t. the input (:func:`block_diag_repeat` when every block is the same,
  :func:`block_diag_csr` otherwise) and the per-sample blocks stacked
  vertically w.r.t. shared parameters (:func:`vstack_csr`). Layers that couple
  samples (batch norm in training mode) build the coupled matrix directly.
* **memory guard** — :func:`check_budget` runs *before* any allocation that
  scales with the operator, on exact Python integers (:func:`exact_size`),
  so no int64 overflow can bypass it.
* **CSR validation** — every CSR built from computed indices passes
  :func:`validate_csr` (called by :func:`csr_from_arrays` and
  :func:`assemble`) before it leaves a builder: an index bug raises
  :class:`CSRBuildError` instead of segfaulting later in scipy.

Builders compute, by index arithmetic, a *pattern*: CSR ``indptr`` and
``indices`` plus ``source``, the position in some flat value array that each
stored entry takes its value from. :func:`assemble` turns a pattern and the
value array into a ``scipy.sparse.csr_array`` (floats) or a
``sympy.ImmutableSparseMatrix`` (object arrays of sympy expressions), so the
symbolic package reuses exactly the same index arithmetic.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = [
    "OperatorTooLargeError",
    "Pattern",
    "assemble",
    "index_dtype_for",
    "csr_bytes",
    "check_budget",
    "default_max_bytes",
    "is_symbolic",
    "as_float_array",
    "csr_from_arrays",
    "CSRBuildError",
    "validate_csr",
    "resolve_dtype",
    "exact_size",
    "block_diag_repeat",
    "block_diag_csr",
    "vstack_csr",
    "FLOAT_DTYPES",
    "diagonal_csr",
    "split_batch_shape",
    "torch_input",
    "as_array",
    "check_dense",
]

#: value dtypes a numeric builder may return
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class OperatorTooLargeError(ValueError):
    """The explicit operator would not fit in the allowed memory."""


class CSRBuildError(RuntimeError):
    """A builder produced an inconsistent CSR (an internal bug, never a user error)."""


def exact_size(shape) -> int:
    """Product of a shape as an exact Python int (no int64 overflow)."""
    n = 1
    for d in shape:
        n *= int(d)
    return n


def c_strides(shape) -> list[int]:
    """C-order strides, in entries, of an array of ``shape`` (exact Python ints): the ravel weights.

    >>> c_strides((2, 3, 4))
    [12, 4, 1]
    """
    strides, step = [], 1
    for d in reversed(tuple(shape)):
        strides.append(step)
        step *= int(d)
    return strides[::-1]


def _short(value) -> str:
    from ..geometry import _short as short

    return short(value)


def resolve_dtype(dtype=None, *arrays, name: str = "dtype"):
    """The value dtype of a builder's result (see the module docstring's rule).

    Examples
    --------
    >>> resolve_dtype(None, np.ones(2, np.float32))
    dtype('float32')
    >>> resolve_dtype(None, np.ones(2, np.float32), np.ones(2))
    dtype('float64')
    >>> resolve_dtype(np.int64)
    Traceback (most recent call last):
    ...
    TypeError: dtype: must be a floating dtype, float32 or float64 (got int64)
    """
    if dtype is not None:
        try:
            dt = np.dtype(dtype)
        except TypeError:
            raise TypeError(f"{name}: must be a floating dtype, float32 or float64 (got {_short(dtype)})") from None
        if dt == object:
            return dt
        if dt not in FLOAT_DTYPES:
            raise TypeError(f"{name}: must be a floating dtype, float32 or float64 (got {dt})")
        return dt
    kinds = []
    for a in arrays:
        if a is None:
            continue
        dt = a.dtype if isinstance(a, np.ndarray) else np.asarray(a).dtype
        if dt == object:
            return np.dtype(object)
        kinds.append(dt)
    floats = [d for d in kinds if d.kind == "f"]
    if floats and all(d == np.float32 for d in floats) and len(floats) == len(kinds):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


#: rows per block of validate_csr's monotonicity check
_VALIDATE_ROWS = 1 << 14


def validate_csr(indptr: np.ndarray, indices: np.ndarray, n_data: int, shape, *, what: str = "Jacobian") -> None:
    """Raise CSRBuildError unless (indptr, indices) is a consistent CSR structure of ``shape``.

    Checks what scipy's ``check_format(full_check=True)`` checks for safety —
    indptr length, start, end and monotonicity, every column index in
    [0, n_cols) — in two passes over the index arrays (one for indices: a
    signed index viewed as unsigned is < n_cols iff it lies in [0, n_cols)).
    Row-wise sortedness is not required and not checked.
    """
    n_rows, n_cols = (int(v) for v in shape)
    nnz = int(indices.size)
    if indptr.ndim != 1 or indptr.size != n_rows + 1:
        raise CSRBuildError(f"{what}: indptr has {indptr.size} entries, expected n_rows + 1 = {n_rows + 1}")
    if n_data != nnz:
        raise CSRBuildError(f"{what}: {n_data} values for {nnz} column indices")
    if int(indptr[0]) != 0 or int(indptr[-1]) != nnz:
        raise CSRBuildError(f"{what}: indptr runs from {int(indptr[0])} to {int(indptr[-1])}, expected 0 to nnz = {nnz}")
    # in blocks of 2¹⁴ rows: one boolean array of the rows' size was 6 % of a one-entry-per-row CSR
    for r0 in range(0, n_rows, _VALIDATE_ROWS):
        r1 = min(n_rows, r0 + _VALIDATE_ROWS)
        if not bool(np.all(indptr[r0 + 1 : r1 + 1] >= indptr[r0:r1])):
            raise CSRBuildError(f"{what}: indptr decreases (row counts must be non-negative)")
    if nnz:
        unsigned = indices.view(np.dtype(f"u{indices.dtype.itemsize}")) if indices.dtype.kind == "i" else indices
        top = int(unsigned.max())
        if top >= n_cols:
            bad = int(indices.min()) if int(indices.min()) < 0 else top
            raise CSRBuildError(f"{what}: column index {bad} outside [0, {n_cols})")


def index_dtype_for(*sizes: int) -> np.dtype:
    """int32 while every size (nnz, rows, columns) fits, int64 beyond 2³¹ − 1.

    The boundary is scipy's own (``get_index_dtype``: int32 up to and
    including 2³¹ − 1), so scipy never silently recasts arrays we hand it.
    """
    return np.dtype(np.int32) if max(sizes, default=0) <= 2**31 - 1 else np.dtype(np.int64)


def csr_bytes(nnz: int, n_rows: int, n_cols: int, value_dtype=np.float64) -> int:
    """Bytes of a CSR array: data + indices + indptr."""
    idx = index_dtype_for(nnz, n_rows, n_cols).itemsize
    return int(nnz) * (np.dtype(value_dtype).itemsize + idx) + (int(n_rows) + 1) * idx


def default_max_bytes() -> int:
    """Three quarters of the machine's physical memory (the builders' default limit)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        total = 8 * 2**30
    return int(0.75 * total)


def check_budget(what: str, nnz: int, shape: tuple[int, int], value_dtype=np.float64, max_bytes=None) -> None:
    """Raise OperatorTooLargeError, giving both figures, if the CSR would exceed ``max_bytes``.

    ``nnz`` and ``shape`` must be exact Python ints (use :func:`exact_size`);
    numpy integers are converted, so the arithmetic here never overflows.
    """
    limit = default_max_bytes() if max_bytes is None else int(max_bytes)
    nnz = int(nnz)
    shape = (int(shape[0]), int(shape[1]))
    if value_dtype is None or np.dtype(value_dtype) == object:
        value_dtype = np.float64
    need = csr_bytes(nnz, shape[0], shape[1], value_dtype)
    if need > limit:
        raise OperatorTooLargeError(
            f"max_bytes: {what} of shape {shape[0]}x{shape[1]} has {nnz} nonzeros = {need / 2**30:.2f} GiB as CSR, "
            f"above the limit of {limit / 2**30:.2f} GiB"
        )


def split_batch_shape(shape, name: str, rule: str, sample_ndim: int = 3):
    """``(C, …)`` -> ``(None, shape)``; ``(N, C, …)`` -> ``(N, shape[1:])``; anything else one GeometryError line.

    Entries are validated as positive integers at most 2³¹ − 1 (integral
    floats accepted), so later size arithmetic runs on exact Python ints.
    """
    from ..geometry import as_shape

    dims = as_shape(shape, name, (sample_ndim, sample_ndim + 1))
    if len(dims) == sample_ndim:
        return None, dims
    return dims[0], dims[1:]


def torch_input(x, input, name: str = "x"):
    """Accept PyTorch's keyword ``input=`` as well as the positional ``x`` (exactly one of them)."""
    if input is not None:
        if x is not None:
            raise TypeError(f"{name}: given twice (positionally as {name} and as input=); give one")
        return input
    if x is None:
        raise TypeError(f"{name}: missing (the input array; PyTorch's keyword input= works too)")
    return x


def check_dense(what: str, n_entries: int, dtype=np.float64, max_bytes=None) -> None:
    """The memory guard of a forward: refuse, before allocating, dense temporaries of ``n_entries`` values.

    ``n_entries`` is an exact Python int (padded input, window copies, output).
    """
    limit = default_max_bytes() if max_bytes is None else int(max_bytes)
    item = 8 if dtype is None or np.dtype(dtype) == object else np.dtype(dtype).itemsize
    need = int(n_entries) * item
    if need > limit:
        raise OperatorTooLargeError(
            f"max_bytes: {what} needs {int(n_entries)} values = {need / 2**30:.2f} GiB, "
            f"above the limit of {limit / 2**30:.2f} GiB"
        )


def is_symbolic(values) -> bool:
    """True for object arrays (sympy expressions) — they take the sympy assembly path."""
    return isinstance(values, np.ndarray) and values.dtype == object


def as_array(values, name: str) -> np.ndarray:
    """``np.asarray(values)``, ragged nested sequences refused with one line naming ``name``."""
    try:
        return np.asarray(values)
    except (ValueError, TypeError):
        raise ValueError(f"{name}: must be a rectangular array (got ragged nested sequences)") from None


def as_float_array(values, name: str, dtype=None) -> np.ndarray:
    """Numeric input as a float ndarray by the dtype rule (:func:`resolve_dtype`); object arrays pass through.

    float32 stays float32 unless ``dtype`` says otherwise; ints and bools become
    float64; complex, strings and an integer ``dtype`` are refused with one line.
    """
    try:
        arr = np.asarray(values)
    except (ValueError, TypeError):  # ragged nested sequences
        raise ValueError(f"{name}: must be a rectangular array (got ragged nested sequences)") from None
    if arr.dtype == object:
        if arr.ndim == 0 or not all(hasattr(v, "free_symbols") or isinstance(v, (int, float)) for v in arr.flat):
            raise TypeError(f"{name}: must be a numeric array or an array of sympy expressions (got {type(values).__name__})")
        return arr
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name}: must be a numeric array (got dtype {arr.dtype})")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name}: complex values are not supported")
    return arr.astype(resolve_dtype(dtype, arr), copy=False)


@dataclass(frozen=True)
class Pattern:
    """CSR structure plus where each stored value comes from."""

    indptr: np.ndarray
    indices: np.ndarray
    source: np.ndarray | None  # None: every stored value is 1 (a 0/1 structural operator)
    shape: tuple[int, int]

    @property
    def nnz(self) -> int:
        return int(self.indices.size)


def assemble(pattern: Pattern, values=None, *, dtype=np.float64, what: str = "Jacobian"):
    """CSR array from a pattern; ``values.ravel()[source]`` gives the data.

    With an object array of sympy expressions the result is a
    ``sympy.ImmutableSparseMatrix`` built from the same triplets.
    """
    n_rows, n_cols = pattern.shape
    validate_csr(pattern.indptr, pattern.indices, pattern.nnz, pattern.shape, what=what)
    if pattern.source is not None and pattern.nnz:
        n_values = exact_size(np.shape(values))
        top = int(pattern.source.max())
        if top >= n_values or int(pattern.source.min()) < 0:
            raise CSRBuildError(f"{what}: value source index {top} outside [0, {n_values})")
    if values is not None and is_symbolic(values):
        import sympy

        flat = np.asarray(values, dtype=object).ravel()
        rows = np.repeat(np.arange(n_rows), np.diff(pattern.indptr))
        data = flat[pattern.source] if pattern.source is not None else [sympy.Integer(1)] * pattern.nnz
        entries = {}
        for r, c, v in zip(rows.tolist(), pattern.indices.tolist(), list(data)):
            if v != 0:
                entries[(r, c)] = v
        return sympy.ImmutableSparseMatrix(n_rows, n_cols, entries)
    if pattern.source is None:
        data = np.ones(pattern.nnz, dtype=dtype)
    else:
        flat = np.asarray(values).ravel()
        data = np.empty(pattern.nnz, dtype=dtype)
        # mode="clip" avoids the temporary that the default mode="raise" allocates;
        # the sources were bounds-checked above.
        np.take(flat.astype(dtype, copy=False), pattern.source, out=data, mode="clip")
    mat = sp.csr_array((data, pattern.indices, pattern.indptr), shape=pattern.shape)
    assert mat.shape == pattern.shape, f"{what}: built {mat.shape}, expected {pattern.shape}"
    return mat


# ---------------------------------------------------------------------------
# direct CSR construction (the float fast path of the builders)
# ---------------------------------------------------------------------------
def csr_from_arrays(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, shape, *, what: str = "Jacobian"):
    """Wrap arrays already in CSR order as a ``csr_array`` without copying them.

    scipy re-chooses the index dtype from the shape and, for int64 arrays, from
    their contents; a disagreement with the builder's choice would silently copy
    the (possibly multi-gigabyte) index arrays, so it is checked here.
    """
    validate_csr(indptr, indices, data.size, shape, what=what)
    mat = sp.csr_array((data, indices, indptr), shape=tuple(shape))
    assert mat.shape == tuple(shape), f"{what}: built {mat.shape}, expected {tuple(shape)}"
    # (empty arrays share no memory with anything, and copying them costs nothing)
    assert indices.size == 0 or np.may_share_memory(mat.indices, indices), (
        f"{what}: scipy copied the indices (dtype {indices.dtype} -> {mat.indices.dtype})"
    )
    assert data.size == 0 or np.may_share_memory(mat.data, data), f"{what}: scipy copied the data"
    return mat


# ---------------------------------------------------------------------------
# the batch rule: block-diagonal over samples, stacked over shared parameters
# ---------------------------------------------------------------------------
def _as_csr(block):
    return block if isinstance(block, sp.csr_array) else sp.csr_array(block)


def block_diag_repeat(block, n: int, *, what: str = "batched Jacobian", max_bytes=None):
    """``kron(I_n, block)`` as CSR, filled directly (the same block for every sample).

    Examples
    --------
    >>> block_diag_repeat(sp.csr_array(np.array([[1., 2.]])), 2).toarray()
    array([[1., 2., 0., 0.],
           [0., 0., 1., 2.]])
    """
    block = _as_csr(block)
    n = int(n)
    r, c = block.shape
    shape = (n * r, n * c)
    check_budget(what, n * block.nnz, shape, block.dtype, max_bytes)
    idx = index_dtype_for(n * block.nnz, *shape)
    nnz = block.nnz
    indptr = np.empty(n * r + 1, dtype=idx)
    indptr[0] = 0
    base = np.arange(n, dtype=idx)[:, None] * idx.type(nnz)
    np.add(base, block.indptr[1:].astype(idx), out=indptr[1:].reshape(n, r))
    indices = np.empty(n * nnz, dtype=idx)
    np.add((np.arange(n, dtype=idx) * idx.type(c))[:, None], block.indices.astype(idx), out=indices.reshape(n, nnz))
    data = np.empty(n * nnz, dtype=block.dtype)
    data.reshape(n, nnz)[...] = block.data
    return csr_from_arrays(data, indices, indptr, shape, what=what)


def block_diag_csr(blocks, *, what: str = "batched Jacobian", max_bytes=None):
    """Block-diagonal CSR of per-sample blocks (possibly different values, equal or unequal shapes)."""
    blocks = [_as_csr(b) for b in blocks]
    rows = [b.shape[0] for b in blocks]
    cols = [b.shape[1] for b in blocks]
    nnz = sum(b.nnz for b in blocks)
    shape = (sum(rows), sum(cols))
    dtype = np.result_type(*[b.dtype for b in blocks]) if blocks else np.dtype(np.float64)
    check_budget(what, nnz, shape, dtype, max_bytes)
    idx = index_dtype_for(nnz, *shape)
    indptr = np.zeros(shape[0] + 1, dtype=idx)
    indices = np.empty(nnz, dtype=idx)
    data = np.empty(nnz, dtype=dtype)
    r0 = c0 = k0 = 0
    for b in blocks:  # one pass per sample (N blocks), not per entry
        indptr[r0 + 1 : r0 + b.shape[0] + 1] = b.indptr[1:] + k0
        np.add(b.indices, c0, out=indices[k0 : k0 + b.nnz], casting="unsafe")
        data[k0 : k0 + b.nnz] = b.data
        r0, c0, k0 = r0 + b.shape[0], c0 + b.shape[1], k0 + b.nnz
    return csr_from_arrays(data, indices, indptr, shape, what=what)


def vstack_csr(blocks, *, what: str = "batched Jacobian", max_bytes=None):
    """Per-sample Jacobians w.r.t. a shared parameter, stacked vertically (equal column counts)."""
    blocks = [_as_csr(b) for b in blocks]
    n_cols = {b.shape[1] for b in blocks}
    if len(n_cols) != 1:
        raise CSRBuildError(f"{what}: blocks have different column counts {sorted(n_cols)}")
    nnz = sum(b.nnz for b in blocks)
    shape = (sum(b.shape[0] for b in blocks), n_cols.pop())
    dtype = np.result_type(*[b.dtype for b in blocks])
    check_budget(what, nnz, shape, dtype, max_bytes)
    idx = index_dtype_for(nnz, *shape)
    indptr = np.zeros(shape[0] + 1, dtype=idx)
    indices = np.empty(nnz, dtype=idx)
    data = np.empty(nnz, dtype=dtype)
    r0 = k0 = 0
    for b in blocks:
        indptr[r0 + 1 : r0 + b.shape[0] + 1] = b.indptr[1:] + k0
        indices[k0 : k0 + b.nnz] = b.indices
        data[k0 : k0 + b.nnz] = b.data
        r0, k0 = r0 + b.shape[0], k0 + b.nnz
    return csr_from_arrays(data, indices, indptr, shape, what=what)


def diagonal_csr(values, *, dtype=None, what: str = "Jacobian", max_bytes=None):
    """``diag(vec(values))`` as a csr_array filled directly (every diagonal entry stored, zeros included).

    Examples
    --------
    >>> diagonal_csr(np.array([2.0, 0.0])).toarray()
    array([[2., 0.],
           [0., 0.]])
    """
    values = np.asarray(values)
    dtype = resolve_dtype(dtype, values)
    n = int(values.size)
    check_budget(what, n, (n, n), dtype, max_bytes)
    idx = index_dtype_for(n)
    data = np.empty(n, dtype=dtype)
    data.reshape(values.shape)[...] = values  # one write (a broadcast view of values costs nothing extra)
    return csr_from_arrays(data, np.arange(n, dtype=idx), np.arange(n + 1, dtype=idx), (n, n), what=what)


# ---------------------------------------------------------------------------
# dense-block Jacobians filled a cache-sized chunk of rows at a time
# ---------------------------------------------------------------------------
#: entries per chunk of dense_block_chunks: 64 Ki entries are 512 kB of float64 values + 256 kB of int32
#: indices, so the several in-place passes a block's values take (product, shift, scale, diagonal) run in L2
#: and the CSR arrays are written to memory once, in order, instead of once per pass
DENSE_BLOCK_CHUNK = 1 << 16


def dense_block_chunks(p: int, q: int, r: int, m: int, target: int = DENSE_BLOCK_CHUNK):
    """Ranges ``(p0, p1, q0, q1, r0, r1)`` tiling the rows (p, q, r) of a CSR with m entries per row.

    Rows are numbered C-order over (p, q, r); every range is a contiguous run
    of rows (whole q-slabs within one p, or whole p-slabs, or part of one
    (p, q) line), of about ``target`` entries where the shape allows.
    """
    per_p, per_q = q * r * m, r * m
    if per_p <= target:
        step = max(1, target // max(1, per_p))
        for p0 in range(0, p, step):
            yield p0, min(p, p0 + step), 0, q, 0, r
    elif per_q <= target:
        step = max(1, target // max(1, per_q))
        for p0 in range(p):
            for q0 in range(0, q, step):
                yield p0, p0 + 1, q0, min(q, q0 + step), 0, r
    else:
        step = max(1, target // max(1, m))
        for p0 in range(p):
            for q0 in range(q):
                for r0 in range(0, r, step):
                    yield p0, p0 + 1, q0, q0 + 1, r0, min(r, r0 + step)
