"""Numerator-layout composition of explicit Jacobians.

A :class:`Chain` is a list of named links in the order the data flows
(input first). Each link is a Jacobian ``∂out/∂in`` of shape
``(out_size, in_size)`` — a sparse matrix, or a builder that makes one on
demand — optionally with its own VJP (a function ``g -> Jᵀ g`` that never
builds the matrix). Then, in numerator layout,

* ``chain.jacobian()`` is the product ``J_n ⋯ J_2 J_1`` (the chain rule as the
  notes write it, e.g. ∂l/∂vec(F) = ∂l/∂vec(S) · ∂vec(S)/∂vec(F));
* ``chain.vjp(g)`` applies the links' VJPs in reverse order, ``J_1ᵀ(⋯(J_nᵀ g))``,
  without forming the product (PyLops' ``_ProductLinearOperator.rmatvec``);
* for a scalar output, ``chain.gradient()`` is the transpose of the 1 × n row
  Jacobian (note 001 §3.2: gradients are transposed Jacobians).

Where one value feeds several consumers, :func:`fan_out` sums the branches'
Jacobians (and accumulates their VJPs with ``+=``) — note 004's
∂l/∂vec(X⁽¹⁾) = Σ_i ∂l/∂vec(S_i⁽²⁾) M_{F_2i}^filter, which
:func:`fan_out_gradient` also evaluates literally, row by row.

Mismatched sizes raise a one-line ValueError naming the links involved.
A Chain has the interface of a link, so chains nest.

Cost of ``chain.jacobian()``: links whose every row holds at most one entry —
*row selections* with a scale: diagonal activation Jacobians and masks, max-pool
switches, dropout, reshapes and permutations, stacking/selection — are never
multiplied as general sparse matrices. Consecutive selections are composed
first (an O(rows) index composition, :class:`RowSelection`), and a run of them
is applied to the product accumulated so far by gathering and scaling its rows
in one pass that writes the result's CSR arrays directly (O(nnz of the
result)); rows whose scale is 0 (a ReLU that is off, a padded max) are dropped
instead of stored as explicit zeros. When such a run follows a link that can
build single rows (``Link(..., build=..., rows=...)``, e.g. a convolution with
:func:`jacobians.stream.conv2d_input_rows`) and has not been built yet, only
the rows the run keeps are built: conv → ReLU → max-pool never writes the
three quarters of the conv rows the pooling discards. General links stay
scipy's SpGEMM.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import scipy.sparse as sp

__all__ = ["Link", "Chain", "fan_out", "fan_out_gradient", "as_link", "RowSelection"]

#: rows gathered per pass in :meth:`RowSelection.apply` (bounds the temporary index array)
_GATHER_CHUNK = 1 << 22


class RowSelection:
    """A matrix each of whose rows holds at most one entry: row r = scale[r] · e_{source[r]}ᵀ.

    ``source[r] = -1`` marks an empty row. ``S @ A`` is a row gather of ``A``
    with scaling; ``S2 @ S1`` is again a RowSelection.

    Examples
    --------
    >>> s = RowSelection.from_matrix(sp.csr_array(np.array([[0., 2.], [0., 0.], [1., 0.]])))
    >>> s.source.tolist(), s.scale.tolist()
    ([1, -1, 0], [2.0, 0.0, 1.0])
    >>> s.apply(sp.csr_array(np.array([[1., 2.], [3., 4.]]))).toarray()
    array([[6., 8.],
           [0., 0.],
           [1., 2.]])
    """

    def __init__(self, source: np.ndarray, scale: np.ndarray, n_cols: int):
        self.source = source
        self.scale = scale
        self.shape = (int(source.size), int(n_cols))

    @classmethod
    def from_matrix(cls, matrix) -> "RowSelection | None":
        """The selection a CSR matrix is, or None when some row holds two or more entries."""
        m = matrix if isinstance(matrix, sp.csr_array) else sp.csr_array(matrix)
        counts = np.diff(m.indptr)
        if counts.size and int(counts.max()) > 1:
            return None
        has = counts.astype(bool)
        source = np.full(m.shape[0], -1, dtype=np.int64)
        scale = np.zeros(m.shape[0], dtype=np.result_type(m.dtype, np.float32))
        source[has] = m.indices
        scale[has] = m.data
        source[scale == 0] = -1  # an explicit zero selects nothing
        return cls(source, scale, m.shape[1])

    def after(self, first: "RowSelection") -> "RowSelection":
        """``self @ first`` (``first`` applied first)."""
        if first.shape[0] != self.shape[1]:
            raise ValueError(f"RowSelection: cannot compose {self.shape} after {first.shape}")
        ok = self.source >= 0
        src = np.full(self.source.size, -1, dtype=np.int64)
        scale = np.zeros(self.source.size, dtype=np.result_type(self.scale, first.scale))
        picked = self.source[ok]
        src[ok] = first.source[picked]
        scale[ok] = self.scale[ok] * first.scale[picked]
        src[scale == 0] = -1
        return RowSelection(src, scale, first.shape[1])

    def to_csr(self) -> sp.csr_array:
        from .ops._sparse import csr_from_arrays, index_dtype_for

        keep = self.source >= 0
        idx = index_dtype_for(int(keep.sum()), *self.shape)
        indptr = np.zeros(self.shape[0] + 1, dtype=idx)
        np.cumsum(keep, out=indptr[1:])
        indices = self.source[keep].astype(idx)
        return csr_from_arrays(self.scale[keep].copy(), indices, indptr, self.shape, what="row selection")

    def apply(self, matrix) -> sp.csr_array:
        """``S @ A`` by gathering and scaling rows of ``A`` (CSR arrays written directly)."""
        from .ops._sparse import check_budget, csr_from_arrays, index_dtype_for

        A = matrix if isinstance(matrix, sp.csr_array) else sp.csr_array(matrix)
        if A.shape[0] != self.shape[1]:
            raise ValueError(f"RowSelection: selects from {self.shape[1]} rows but the matrix has {A.shape[0]}")
        keep = self.source >= 0
        src = self.source
        row_len = np.zeros(src.size, dtype=np.int64)
        row_len[keep] = np.diff(A.indptr)[src[keep]]
        nnz = int(row_len.sum())
        shape = (self.shape[0], A.shape[1])
        dtype = np.result_type(A.dtype, self.scale.dtype)
        check_budget("chained Jacobian", nnz, shape, dtype)
        idx = index_dtype_for(nnz, *shape)
        indptr = np.zeros(shape[0] + 1, dtype=idx)
        np.cumsum(row_len, out=indptr[1:])
        indices = np.empty(nnz, dtype=idx)
        data = np.empty(nnz, dtype=dtype)
        # Gather the rows' entry ranges in chunks of rows so that the temporary
        # position array stays small (about _GATHER_CHUNK entries, at least one row).
        rows = np.flatnonzero(row_len)
        row_end = indptr[rows + 1]
        start = 0
        while start < rows.size:
            first_out = int(indptr[rows[start]])
            stop = max(int(np.searchsorted(row_end, first_out + _GATHER_CHUNK, side="right")), start + 1)
            chunk = rows[start:stop]
            lens = row_len[chunk]
            out0, out1 = first_out, int(indptr[chunk[-1] + 1])
            # position in A of every gathered entry: A.indptr[src] + (offset within the row)
            pos = np.repeat(A.indptr[src[chunk]].astype(np.int64) - (indptr[chunk].astype(np.int64) - out0), lens)
            pos += np.arange(out1 - out0, dtype=np.int64)
            # mode="clip": positions are in range by construction, and "raise" would buffer `out`;
            # take writes into `out` only when the dtypes agree (float32 data under a float64 scale do not)
            for src_arr, dst in ((A.indices, indices[out0:out1]), (A.data, data[out0:out1])):
                if src_arr.dtype == dst.dtype:
                    np.take(src_arr, pos, out=dst, mode="clip")
                else:
                    dst[...] = np.take(src_arr, pos, mode="clip")
            data[out0:out1] *= np.repeat(self.scale[chunk], lens)
            start = stop
        return csr_from_arrays(data, indices, indptr, shape, what="chained Jacobian (row gather)")


def _as_sparse(matrix, name, param="matrix"):
    if sp.issparse(matrix):
        if np.iscomplexobj(matrix.data) or matrix.dtype.kind not in "biuf":
            raise TypeError(f"{param}: link {name!r} must be a real matrix (got dtype {matrix.dtype})")
        return sp.csr_array(matrix)
    try:
        arr = np.asarray(matrix)
    except ValueError:  # ragged nested lists
        raise ValueError(f"{param}: link {name!r} must be a 2-D matrix (got ragged rows)") from None
    if arr.dtype == object or arr.ndim != 2:
        raise ValueError(f"{param}: link {name!r} must be a 2-D matrix (got shape {arr.shape})")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{param}: link {name!r} must be a real matrix (got dtype {arr.dtype})")
    return sp.csr_array(arr if arr.dtype.kind == "f" else arr.astype(np.float64))


def _sequence(items, name: str) -> list:
    if isinstance(items, (str, bytes, dict, np.ndarray)) or not hasattr(items, "__iter__"):
        raise TypeError(f"{name}: must be a list of Links, Chains or matrices (got {type(items).__name__})")
    return list(items)


def _gradient(g) -> np.ndarray:
    from .ops._sparse import as_float_array

    g = as_float_array(g, "g")
    if g.dtype == object:
        raise TypeError("g: must be a numeric array")
    return g.astype(np.float64, copy=False).ravel()


class Link:
    """One factor ``∂out/∂in`` of a chain.

    Parameters
    ----------
    name : label used in error messages (e.g. ``"dS/dF"``, ``"relu"``).
    matrix : sparse or dense (out_size, in_size) Jacobian, or None when ``build`` is given.
    build : zero-argument callable returning the Jacobian (built only when asked).
    vjp : callable ``g (out_size,) -> (in_size,)``; default ``Jᵀ g`` from the matrix.
    in_size, out_size : required with ``build``; taken from ``matrix`` otherwise.
    rows : optional callable ``rows(r) -> csr`` (r an int64 array of row indices, any order,
        repeats allowed) returning exactly the rows ``J[r]`` without building the others
        (e.g. :func:`jacobians.stream.conv2d_input_rows`). A chain uses it when row
        selections follow this link and the matrix has not been built: only the rows
        they keep are ever written.
    """

    def __init__(self, name: str, matrix=None, *, build: Callable | None = None, vjp: Callable | None = None,
                 in_size: int | None = None, out_size: int | None = None, rows: Callable | None = None):
        self.name = str(name)
        if (matrix is None) == (build is None):
            raise ValueError(f"link {self.name!r}: give exactly one of matrix or build")
        for what, fn in (("build", build), ("vjp", vjp), ("rows", rows)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{what}: must be a callable (got {type(fn).__name__})")
        self._rows = rows
        self._matrix = None if matrix is None else _as_sparse(matrix, self.name)
        self._build = build
        self._vjp = vjp
        if self._matrix is not None:
            out_size = self._matrix.shape[0] if out_size is None else out_size
            in_size = self._matrix.shape[1] if in_size is None else in_size
        if in_size is None or out_size is None:
            raise ValueError(f"build: link {self.name!r} needs in_size and out_size")
        from .geometry import as_positive_int

        self.in_size = as_positive_int(in_size, "in_size", allow_zero=True)
        self.out_size = as_positive_int(out_size, "out_size", allow_zero=True)
        if self._matrix is not None and self._matrix.shape != (self.out_size, self.in_size):
            raise ValueError(
                f"link {self.name!r}: matrix has shape {self._matrix.shape}, declared (out, in) = "
                f"({self.out_size}, {self.in_size})"
            )

    def jacobian(self) -> sp.csr_array:
        if self._matrix is None:
            built = _as_sparse(self._build(), self.name)
            if built.shape != (self.out_size, self.in_size):
                raise ValueError(
                    f"link {self.name!r}: built Jacobian has shape {built.shape}, declared (out, in) = "
                    f"({self.out_size}, {self.in_size})"
                )
            self._matrix = built
        return self._matrix

    @property
    def can_build_rows(self) -> bool:
        """True while only some rows can still be built (a ``rows`` builder, matrix not built yet)."""
        return self._rows is not None and self._matrix is None

    def selected(self, selection: "RowSelection") -> sp.csr_array:
        """``S @ J`` for a row selection S, building only the rows S keeps (needs ``rows``)."""
        if selection.shape[1] != self.out_size:
            raise ValueError(f"link {self.name!r}: a selection from {selection.shape[1]} rows cannot follow {self.out_size} outputs")
        keep = selection.source >= 0
        part = sp.csr_array(self._rows(selection.source[keep]))
        if part.shape != (int(keep.sum()), self.in_size):
            raise ValueError(
                f"link {self.name!r}: rows() returned shape {part.shape}, expected ({int(keep.sum())}, {self.in_size})"
            )
        from .ops._sparse import csr_from_arrays

        data = part.data.astype(np.result_type(part.dtype, selection.scale.dtype), copy=False)
        scale = selection.scale[keep]
        if not np.all(scale == 1):  # masks and switches select with scale 1: nothing to write
            data *= np.repeat(scale, np.diff(part.indptr))
        if keep.all():
            indptr = part.indptr
        else:  # dropped rows (scale 0) become empty rows: one indptr pass, data and indices reused
            counts = np.zeros(selection.shape[0], dtype=np.int64)
            counts[keep] = np.diff(part.indptr)
            indptr = np.zeros(selection.shape[0] + 1, dtype=part.indptr.dtype)
            np.cumsum(counts, out=indptr[1:])
        return csr_from_arrays(data, part.indices, indptr, (selection.shape[0], self.in_size),
                               what=f"rows of {self.name} selected")

    def vjp(self, g) -> np.ndarray:
        g = _gradient(g)
        if g.size != self.out_size:
            raise ValueError(f"link {self.name!r}: upstream gradient has {g.size} entries, expected {self.out_size}")
        out = self.jacobian().T @ g if self._vjp is None else np.asarray(self._vjp(g), dtype=np.float64).ravel()
        if out.size != self.in_size:
            raise ValueError(f"link {self.name!r}: VJP returned {out.size} entries, expected {self.in_size}")
        return out

    @property
    def has_own_vjp(self) -> bool:
        return self._vjp is not None

    def __repr__(self):
        return f"Link({self.name!r}, {self.out_size}x{self.in_size})"


def as_link(item, name: str | None = None):
    """A Link or Chain passes through; a matrix becomes a Link named ``name``."""
    if isinstance(item, (Link, Chain)):
        return item
    return Link(name or "matrix", item)


class Chain:
    """Links in data-flow order (input first); see the module docstring.

    Examples
    --------
    >>> c = Chain([Link("A", np.array([[1., 2.]])), Link("B", np.array([[3.], [4.]]))])
    >>> c.jacobian().toarray()
    array([[3., 6.],
           [4., 8.]])
    """

    def __init__(self, links: Sequence, name: str = "chain"):
        self.name = str(name)
        self.links = [as_link(item, f"{self.name}[{k}]") for k, item in enumerate(_sequence(links, "links"))]
        if not self.links:
            raise ValueError(f"chain {self.name!r}: needs at least one link")
        for prev, nxt in zip(self.links, self.links[1:]):
            if nxt.in_size != prev.out_size:
                raise ValueError(
                    f"chain {self.name!r}: link {nxt.name!r} takes {nxt.in_size} inputs but link "
                    f"{prev.name!r} gives {prev.out_size} outputs"
                )
        self.in_size = self.links[0].in_size
        self.out_size = self.links[-1].out_size

    @classmethod
    def numerator(cls, *links, name: str = "chain") -> "Chain":
        """Links in the order a note writes the product, loss side first (∂l/∂y · ∂y/∂x …)."""
        return cls(list(links)[::-1], name=name)

    def jacobian(self) -> sp.csr_array:
        """J_n ⋯ J_1, multiplied from the input side (row selections by gathering; see the module docstring)."""
        product = None  # accumulated J_k ⋯ J_1 (None: nothing general yet)
        pending = None  # composed run of row selections applied after ``product``
        looked = {}  # index -> matrix built while looking ahead (a nested Chain is not rebuilt)
        k = 0
        while k < len(self.links):
            link = self.links[k]
            k += 1
            if isinstance(link, Link) and link.can_build_rows:
                # a builder followed by row selections: build only the rows they keep
                run, end = None, k
                while end < len(self.links):
                    looked[end] = self.links[end].jacobian()
                    following = RowSelection.from_matrix(looked[end])
                    if following is None:
                        break
                    run = following if run is None else following.after(run)
                    end += 1
                if run is not None:
                    if pending is not None:
                        product = pending.to_csr() if product is None else pending.apply(product)
                        pending = None
                    rows = link.selected(run)
                    product = rows if product is None else sp.csr_array(rows @ product)
                    k = end
                    continue
            matrix = looked.pop(k - 1) if (k - 1) in looked else link.jacobian()
            selection = RowSelection.from_matrix(matrix)
            if selection is not None:
                pending = selection if pending is None else selection.after(pending)
                continue
            if pending is not None:
                product = pending.to_csr() if product is None else pending.apply(product)
                pending = None
            product = matrix if product is None else sp.csr_array(matrix @ product)
        if pending is not None:
            product = pending.to_csr() if product is None else pending.apply(product)
        return product

    def vjp(self, g) -> np.ndarray:
        """J_1ᵀ(⋯(J_nᵀ g)): each link's own VJP, in reverse order, no product formed."""
        g = _gradient(g)
        if g.size != self.out_size:
            raise ValueError(f"chain {self.name!r}: upstream gradient has {g.size} entries, expected {self.out_size}")
        for link in reversed(self.links):
            g = link.vjp(g)
        return g

    def gradient(self) -> np.ndarray:
        """∇ of a scalar output: the transposed 1 × in_size row Jacobian, as a vector."""
        if self.out_size != 1:
            raise ValueError(f"chain {self.name!r}: gradient needs a scalar output (the chain ends with {self.out_size})")
        return self.jacobian().toarray().ravel()

    def __repr__(self):
        return f"Chain({self.name!r}: " + " -> ".join(repr(link) for link in self.links) + ")"


class _FanOut(Link):
    def __init__(self, name, branches):
        self.branches = branches
        first = branches[0]
        super().__init__(
            name,
            build=lambda: sum((b.jacobian() for b in self.branches[1:]), start=self.branches[0].jacobian()),
            vjp=self._accumulate,
            in_size=first.in_size,
            out_size=first.out_size,
        )

    def _accumulate(self, g):
        total = np.zeros(self.in_size)
        for branch in self.branches:
            total += branch.vjp(g)  # micrograd's +=: every consumer adds its share
        return total


def fan_out(name: str, branches: Sequence) -> Link:
    """One input feeding several consumers whose outputs land in one space: J = Σ_b J_b.

    Each branch (a Link or Chain) maps the shared input to the same output
    space (e.g. branch i: X⁽¹⁾ → S_i⁽²⁾ → its block of vec(S⁽²⁾)). The VJP
    accumulates the branches' VJPs.
    """
    items = [as_link(b, f"{name}[{k}]") for k, b in enumerate(_sequence(branches, "branches"))]
    if not items:
        raise ValueError(f"fan_out {name!r}: needs at least one branch")
    for b in items[1:]:
        if (b.in_size, b.out_size) != (items[0].in_size, items[0].out_size):
            raise ValueError(
                f"fan_out {name!r}: branch {b.name!r} maps {b.in_size} -> {b.out_size} but branch "
                f"{items[0].name!r} maps {items[0].in_size} -> {items[0].out_size}"
            )
    return _FanOut(name, items)


def fan_out_gradient(rows: Sequence, jacobians: Sequence) -> np.ndarray:
    """Σ_i rows[i] · jacobians[i]: the literal fan-out sum of row gradients times Jacobians."""
    for name, seq in (("rows", rows), ("jacobians", jacobians)):
        if isinstance(seq, (str, bytes, dict, np.ndarray)) or not hasattr(seq, "__len__"):
            raise TypeError(f"{name}: must be a list (got {type(seq).__name__})")
    if len(rows) != len(jacobians) or not rows:
        raise ValueError(f"rows: need as many rows as Jacobians, at least one (got {len(rows)} and {len(jacobians)})")
    total = None
    for k, (row, jac) in enumerate(zip(rows, jacobians)):
        from .ops._sparse import as_float_array

        row = as_float_array(row, f"rows[{k}]")
        if row.dtype == object:
            raise TypeError(f"rows[{k}]: must be numeric")
        row = row.astype(np.float64).ravel()
        jac = _as_sparse(jac, f"term {k}", param=f"jacobians[{k}]")
        if jac.shape[0] != row.size:
            raise ValueError(f"rows[{k}]: has {row.size} entries but jacobians[{k}] has {jac.shape[0]} rows")
        term = np.asarray(jac.T @ row).ravel()
        if total is not None and term.size != total.size:
            raise ValueError(f"jacobians[{k}]: has {term.size} columns, jacobians[0] has {total.size}")
        total = term if total is None else total + term
    return total
