"""Shared pieces for building explicit Jacobians as CSR arrays.

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
]


class OperatorTooLargeError(ValueError):
    """The explicit operator would not fit in the allowed memory."""


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
    """Raise OperatorTooLargeError, giving both figures, if the CSR would exceed ``max_bytes``."""
    limit = default_max_bytes() if max_bytes is None else int(max_bytes)
    need = csr_bytes(nnz, shape[0], shape[1], value_dtype)
    if need > limit:
        raise OperatorTooLargeError(
            f"max_bytes: {what} of shape {shape[0]}x{shape[1]} has {nnz} nonzeros = {need / 2**30:.2f} GiB as CSR, "
            f"above the limit of {limit / 2**30:.2f} GiB"
        )


def is_symbolic(values) -> bool:
    """True for object arrays (sympy expressions) — they take the sympy assembly path."""
    return isinstance(values, np.ndarray) and values.dtype == object


def as_float_array(values, name: str, dtype=None) -> np.ndarray:
    """Numeric input as an ndarray (float64 unless ``dtype``), object arrays passed through."""
    arr = np.asarray(values)
    if arr.dtype == object:
        return arr
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name}: must be a numeric array (got dtype {arr.dtype})")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name}: complex values are not supported")
    return arr.astype(np.float64 if dtype is None else dtype, copy=False)


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
        # the sources are valid by construction.
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
    mat = sp.csr_array((data, indices, indptr), shape=tuple(shape))
    assert mat.shape == tuple(shape), f"{what}: built {mat.shape}, expected {tuple(shape)}"
    # (empty arrays share no memory with anything, and copying them costs nothing)
    assert indices.size == 0 or np.may_share_memory(mat.indices, indices), (
        f"{what}: scipy copied the indices (dtype {indices.dtype} -> {mat.indices.dtype})"
    )
    assert data.size == 0 or np.may_share_memory(mat.data, data), f"{what}: scipy copied the data"
    return mat
