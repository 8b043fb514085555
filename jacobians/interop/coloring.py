"""Column colorings of a sparsity pattern, for computing a Jacobian by compression.

Two columns of a Jacobian may share one probe (one JVP with the sum of their
unit vectors) when no output row reads both: a *coloring* of the columns in
which columns of one color never meet in a row (a distance-2 coloring of the
bipartite row/column graph, Curtis–Powell–Reid). With ``k`` colors, ``k``
JVPs give every stored entry: entry (r, c) is output r of the probe of
``color[c]``.

Three ways to color, measured in benchmarks/bench_interop.py:

* :func:`grid_coloring` — analytic, for patterns whose columns are the entries
  of an array of shape ``in_shape`` (an image, a batch of images): each output
  row reads a box of input coordinates; with ``span[a]`` the largest extent of
  those boxes along axis ``a``, ``color = Σ_a (coord_a mod span[a]) · stride_a``
  is valid (two columns of one row differ by less than ``span[a]`` along every
  axis, so equal residues everywhere mean the same column). For a convolution
  w.r.t. its input this gives ``C_in/groups · span_h · span_w`` colors
  (``span = dilation·(k−1)+1``), independent of N, H and W; for pooling
  ``span_h · span_w``; for an element-wise map 1. One O(nnz) pass.
* :func:`greedy_coloring` — the classic sequential greedy on the pattern,
  numpy with bit-packed per-row "used colors" words (no graph is built).
* :func:`networkx_coloring` — networkx's ``greedy_color`` on the column
  intersection graph (columns adjacent when they share a row), built as the
  pattern of ``PᵀP``; the graph has ~(columns × neighbours) edges, so it is for
  small patterns.

Examples
--------
>>> import numpy as np, scipy.sparse as sp
>>> P = sp.csr_array(np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]]))
>>> colors = grid_coloring(P, (4,))
>>> colors.tolist(), is_valid_coloring(P, colors)
([0, 1, 0, 1], True)
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["grid_coloring", "greedy_coloring", "networkx_coloring", "is_valid_coloring", "color_columns", "COLORINGS"]

#: entries handled per pass by the O(nnz) loops (bounds their temporaries)
_CHUNK = 1 << 22


def _csr(pattern) -> sp.csr_array:
    if not sp.issparse(pattern):
        raise TypeError(f"pattern: must be a scipy.sparse matrix (got {type(pattern).__name__})")
    m = pattern if isinstance(pattern, sp.csr_array) else sp.csr_array(pattern)
    if m.ndim != 2:
        raise ValueError(f"pattern: must be 2-D (got shape {m.shape})")
    return m


def _row_chunks(indptr: np.ndarray):
    """Consecutive row ranges [r0, r1) holding about _CHUNK entries each (at least one row)."""
    n_rows = indptr.size - 1
    r0 = 0
    while r0 < n_rows:
        target = int(indptr[r0]) + _CHUNK
        r1 = max(int(np.searchsorted(indptr, target, side="right")) - 1, r0 + 1)
        r1 = min(r1, n_rows)
        yield r0, r1
        r0 = r1


def grid_spans(pattern, in_shape) -> tuple[int, ...]:
    """Largest extent, along each axis of ``in_shape``, of the input coordinates one output row reads.

    One pass over the stored indices in chunks, in their own integer dtype
    (int32 division is several times faster than int64), into reused buffers;
    for the leading axis of a row-sorted pattern the extent comes from each
    row's first and last index alone.
    """
    P = _csr(pattern)
    in_shape = tuple(int(d) for d in in_shape)
    size = 1
    for d in in_shape:
        size *= d
    if size != P.shape[1]:
        raise ValueError(f"in_shape: {in_shape} has {size} entries but the pattern has {P.shape[1]} columns")
    if P.nnz == 0:
        return tuple(1 for _ in in_shape)
    idx_t = P.indices.dtype.type
    strides = [int(v) for v in np.cumprod((1,) + in_shape[::-1][:-1])[::-1]]
    spans = [1] * len(in_shape)
    counts = np.diff(P.indptr)
    sorted_rows = P.has_sorted_indices
    buf = np.empty(min(_CHUNK, P.nnz) + 1, dtype=P.indices.dtype)
    for r0, r1 in _row_chunks(P.indptr):
        a, b = int(P.indptr[r0]), int(P.indptr[r1])
        if a == b:
            continue
        cols = P.indices[a:b]
        nonempty = counts[r0:r1] > 0
        starts = (P.indptr[r0:r1][nonempty] - a).astype(np.intp)
        ends = (P.indptr[r0 + 1 : r1 + 1][nonempty] - a - 1).astype(np.intp)
        for ax, (dim, stride) in enumerate(zip(in_shape, strides)):
            if dim == 1:
                continue
            if ax == 0 and sorted_rows:  # leading axis: sorted indices give min and max directly
                extent = cols[ends] // idx_t(stride) - cols[starts] // idx_t(stride) + 1
            else:
                coord = buf[: b - a]
                np.floor_divide(cols, idx_t(stride), out=coord) if stride > 1 else np.copyto(coord, cols)
                if ax > 0:
                    np.remainder(coord, idx_t(dim), out=coord)
                extent = np.maximum.reduceat(coord, starts) - np.minimum.reduceat(coord, starts) + 1
            spans[ax] = max(spans[ax], int(extent.max()))
    return tuple(spans)


def grid_coloring(pattern, in_shape) -> np.ndarray:
    """Analytic coloring ``Σ_a (coord_a mod span_a) · stride_a`` of a pattern on an input grid (see the module docstring).

    Returns int64 colors numbered 0 … k−1 without gaps.
    """
    in_shape = tuple(int(d) for d in in_shape)
    spans = grid_spans(pattern, in_shape)
    cols = np.arange(_csr(pattern).shape[1], dtype=np.int64)
    color = np.zeros_like(cols)
    stride = 1
    for dim, span in zip(in_shape[::-1], spans[::-1]):
        coord = cols % dim
        cols //= dim
        color += (coord % span) * stride
        stride *= span
    return _compact(color)


def _compact(color: np.ndarray) -> np.ndarray:
    used, compact = np.unique(color, return_inverse=True)
    return compact.astype(np.int64).reshape(color.shape)


def greedy_coloring(pattern) -> np.ndarray:
    """Sequential greedy distance-2 coloring in column order, with bit-packed per-row used-color words.

    For column c: the colors already used in any row c appears in are OR-ed
    together, c takes the smallest free one and marks it in those rows.
    """
    P = _csr(pattern)
    C = sp.csc_array(P)
    C.sort_indices()
    n_rows, n_cols = P.shape
    words = 1
    used = np.zeros((n_rows, words), dtype=np.uint64)
    color = np.zeros(n_cols, dtype=np.int64)
    one = np.uint64(1)
    for c in range(n_cols):
        rows = C.indices[C.indptr[c] : C.indptr[c + 1]]
        if rows.size == 0:
            continue
        taken = np.bitwise_or.reduce(used[rows], axis=0)
        free = np.flatnonzero(taken != np.uint64(0xFFFFFFFFFFFFFFFF))
        if free.size == 0:
            used = np.concatenate([used, np.zeros((n_rows, words), dtype=np.uint64)], axis=1)
            word, words = words, 2 * words
            bit = 0
        else:
            word = int(free[0])
            inv = ~int(taken[word]) & 0xFFFFFFFFFFFFFFFF
            bit = (inv & -inv).bit_length() - 1
        color[c] = 64 * word + bit
        used[rows, word] |= one << np.uint64(bit)
    return _compact(color)


def networkx_coloring(pattern, strategy: str = "largest_first") -> np.ndarray:
    """networkx ``greedy_color`` of the column intersection graph (the pattern of ``PᵀP``)."""
    import networkx as nx

    P = _csr(pattern)
    B = sp.csr_array((np.ones(P.nnz, dtype=np.int8), P.indices, P.indptr), shape=P.shape)
    G = (B.T @ B).tocoo()
    keep = G.row != G.col
    graph = nx.Graph()
    graph.add_nodes_from(range(P.shape[1]))
    graph.add_edges_from(zip(G.row[keep].tolist(), G.col[keep].tolist()))
    colors = nx.greedy_color(graph, strategy=strategy)
    return _compact(np.fromiter((colors[c] for c in range(P.shape[1])), dtype=np.int64, count=P.shape[1]))


def is_valid_coloring(pattern, colors) -> bool:
    """True when no row of the pattern holds two columns of one color."""
    P = _csr(pattern)
    colors = np.asarray(colors, dtype=np.int64)
    if colors.shape != (P.shape[1],):
        raise ValueError(f"colors: need one color per column ({P.shape[1]}), got shape {colors.shape}")
    k = int(colors.max()) + 1 if colors.size else 1
    for r0, r1 in _row_chunks(P.indptr):
        a, b = int(P.indptr[r0]), int(P.indptr[r1])
        rows = np.repeat(np.arange(r0, r1, dtype=np.int64), np.diff(P.indptr[r0 : r1 + 1]))
        key = rows * k + colors[P.indices[a:b]]
        if np.unique(key).size != key.size:
            return False
    return True


#: name -> coloring function (pattern, in_shape) -> colors
COLORINGS = {
    "grid": grid_coloring,
    "greedy": lambda pattern, in_shape=None: greedy_coloring(pattern),
    "networkx": lambda pattern, in_shape=None: networkx_coloring(pattern),
}


def color_columns(pattern, in_shape, method="grid") -> np.ndarray:
    """Colors of the pattern's columns by ``method`` (a name of :data:`COLORINGS` or an array, which is verified)."""
    if isinstance(method, str):
        try:
            fn = COLORINGS[method]
        except KeyError:
            raise ValueError(f"coloring: unknown method {method!r}; choose one of {', '.join(COLORINGS)} or pass colors") from None
        return fn(pattern, in_shape)
    colors = np.asarray(method)
    if colors.dtype.kind not in "iu":
        raise TypeError(f"coloring: colors must be integers (got dtype {colors.dtype})")
    colors = colors.astype(np.int64).ravel()
    if colors.size and int(colors.min()) < 0:
        raise ValueError("coloring: colors must be non-negative")
    if not is_valid_coloring(pattern, colors):
        raise ValueError("coloring: two columns of one color share a row of the pattern")
    return _compact(colors)
