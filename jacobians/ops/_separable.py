"""Row structure of Jacobians whose rows factor over the two spatial axes.

Used by transposed convolution (2-D and, through :class:`NdFrame`, 3-D),
interpolation, adaptive pooling and (through :func:`product_csr_nd`, any
number of axes) average pooling. In all of them, output entry ``(o, p, q)`` depends on the input entries
``(c, i, j)`` with ``c`` in a channel set of size ``cg`` (the same for every
position), ``i`` in a list ``I(p)`` that depends only on the output row ``p``
and ``j`` in a list ``J(q)`` that depends only on the output column ``q``.
So row ``(o, p, q)`` holds ``cg · n_h(p) · n_w(q)`` entries, ordered
``(c, e, f)`` (channel, entry of ``I(p)``, entry of ``J(q)``), and the exact
nnz is known before anything is allocated.

Output positions along one axis are grouped into *runs*: positions
``p0, p0 + Δp, p0 + 2Δp, …`` that share a *key* (the entry count, or the
tap set of a transposed convolution) and whose entry offsets also advance
by a constant. For each pair of runs (one per axis) the stored entries of
one channel block are then one strided view of shape
``(|run_h|, |run_w|, cg, n_h, n_w)`` of the CSR ``data`` / ``indices``
arrays, written by a single broadcasting ufunc call — no index arrays of
the result's size, no COO detour, peak extra memory a few per-axis tables.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ._sparse import c_strides, exact_size, index_dtype_for

__all__ = ["AxisRuns", "axis_runs", "NdFrame", "SeparableFrame", "product_csr", "product_csr_nd", "AffineAxis", "AffineRun", "axis_matrix", "check_grad", "separable_adjoint"]


@dataclass(frozen=True)
class AxisRuns:
    """Entry counts of one axis and its runs (each an int64 array of positions in arithmetic progression)."""

    counts: np.ndarray  # (n_out,) entries per output position
    before: np.ndarray  # (n_out,) exclusive cumulative sum of counts
    runs: tuple  # of int64 arrays of positions

    @property
    def total(self) -> int:
        return int(self.counts.sum())


def axis_runs(keys, counts) -> AxisRuns:
    """Group positions with equal ``keys`` into runs with constant position and offset steps.

    ``keys`` is an int array (n_out,) — positions with the same key must have
    the same count. Positions with count 0 (empty rows) belong to no run.
    The loop is over output positions of one axis, never over entries.
    """
    counts = np.asarray(counts, dtype=np.int64)
    before = np.zeros(counts.size, dtype=np.int64)
    np.cumsum(counts[:-1], out=before[1:])
    keys = np.asarray(keys)
    if keys.dtype.kind in "iu" and keys.size and 0 <= keys.min() and keys.max() < 4096:
        inverse = keys.ravel()  # small non-negative ints (entry counts) are their own labels: no sort
    else:
        _, inverse = np.unique(keys, return_inverse=True)
        inverse = inverse.ravel()
    runs = []
    for key in np.flatnonzero(np.bincount(inverse)).tolist() if inverse.size else []:
        pos = np.flatnonzero(inverse == key)
        if pos.size == 0 or counts[pos[0]] == 0:
            continue
        steps = np.diff(pos)
        offs = np.diff(before[pos])
        # greedy, as the loop "extend while (step, offset step) equals the run's first" would
        # do it, but one iteration per run: diffs [a, b) of one constant segment join
        # positions a … b into a run, and the next run starts at b + 1
        change = np.flatnonzero((steps[1:] != steps[:-1]) | (offs[1:] != offs[:-1])) + 1
        seg_end = np.concatenate((change, [pos.size - 1])) if pos.size > 1 else np.zeros(0, dtype=np.int64)
        start, n = 0, pos.size
        while start < n:
            end = int(seg_end[np.searchsorted(seg_end, start, side="right")]) + 1 if start < n - 1 else n
            runs.append(pos[start:end])
            start = end
    return AxisRuns(counts, before, tuple(runs))


class NdFrame:
    """:class:`SeparableFrame` for any number of spatial axes (rows (block, p₁, …, p_k), entries (c, e₁, …, e_k)).

    Row (p₁, …, p_k) starts ``cg · Σ_a before_a[p_a] · Π_{b<a} n_b(p_b) · Π_{b>a} S_b`` into its block
    (``S_b`` the entries of axis b in total); within a run tuple every n_b is constant, so the offset is
    affine in the run positions and one strided view covers the tuple's entries.
    """

    def __init__(self, axes, cg: int, n_blocks: int, n_cols: int):
        self.axes, self.cg, self.n_blocks = tuple(axes), int(cg), int(n_blocks)
        self.totals = [a.total for a in self.axes]
        self.per_block = self.cg * exact_size(self.totals)
        self.nnz = self.n_blocks * self.per_block
        self.shape = (self.n_blocks * exact_size([a.counts.size for a in self.axes]), int(n_cols))
        self.index_dtype = index_dtype_for(self.nnz, *self.shape)

    def indptr(self) -> np.ndarray:
        """Row pointers, written in place: no array of the rows' size besides the result.

        Row (p₁, …, p_k) ends at ``cg · F₁(p₁, …, p_k)`` into its block, with
        ``F_k(p) = before_k[p] + n_k(p)`` and ``F_a(p, rest) = before_a[p] · S_{a+1}⋯S_k
        + n_a(p) · F_{a+1}(rest)``: the first axis is one outer product into the
        result, the trailing axes' table (1/(blocks·n_out₁) of the rows) is small.
        (A per-row count array and its cumsum were 12–20 bytes per row of
        temporaries: 1.4–2.9× the CSR for one-channel pooling.)
        """
        idx = self.index_dtype
        n_rows = exact_size([a.counts.size for a in self.axes])
        out = np.empty(self.n_blocks * n_rows + 1, dtype=idx)
        out[0] = 0
        self.row_ends(out[1 : n_rows + 1])
        if self.n_blocks > 1:
            starts = np.arange(1, self.n_blocks, dtype=np.int64) * self.per_block
            np.add(out[None, 1 : n_rows + 1], starts[:, None], out=out[n_rows + 1 :].reshape(self.n_blocks - 1, n_rows),
                   casting="same_kind")
        return out

    def row_ends(self, out: np.ndarray, offset: int = 0) -> None:
        """Write ``offset`` + the end offset of every row of the first block into ``out`` (n_rows,), in place."""
        first, last = self.axes[0], self.axes[-1]
        if len(self.axes) > 1:  # F₂ over the trailing axes (int64), and S₂⋯S_k
            rest, tail = last.before + last.counts, last.total
            for a in reversed(self.axes[1:-1]):
                rest = (a.before[:, None] * tail + a.counts[:, None] * rest[None, :]).ravel()
                tail *= a.total
            # operands in the result's dtype (the per-axis tables are small): a casting ufunc
            # allocates ~150 kB of buffers, 10 % of a 1.6 MB CSR
            block0 = out.reshape(first.counts.size, rest.size)
            np.multiply(first.counts.astype(out.dtype)[:, None], rest.astype(out.dtype)[None, :], out=block0)
            np.add(block0, (first.before * tail).astype(out.dtype)[:, None], out=block0)
        else:
            block0 = out
            np.add(first.before.astype(out.dtype), first.counts.astype(out.dtype), out=block0)
        if self.cg != 1:
            np.multiply(block0, block0.dtype.type(self.cg), out=block0)
        if offset:
            np.add(block0, block0.dtype.type(offset), out=block0)

    def tuples(self):
        """Every tuple of runs, one per axis."""
        import itertools

        return itertools.product(*[a.runs for a in self.axes])

    def rows(self, block: np.ndarray, runs) -> np.ndarray:
        """Writable view (|run₁|, …, |run_k|, cg·Π n_b) of one block's entries of a run tuple."""
        counts = [int(a.counts[r[0]]) for a, r in zip(self.axes, runs)]
        start, strides = 0, []
        for k, (a, r) in enumerate(zip(self.axes, runs)):
            scale = self.cg * exact_size(counts[:k]) * exact_size(self.totals[k + 1 :])
            start += int(a.before[r[0]]) * scale
            strides.append((int(a.before[r[1]] - a.before[r[0]]) if r.size > 1 else 0) * scale)
        length = self.cg * exact_size(counts)
        shape = tuple(r.size for r in runs) + (length,)
        last = start + sum((n - 1) * s for n, s in zip(shape[:-1], strides)) + length - 1
        assert last < block.size, f"nd frame: view reaches entry {last} of a block of {block.size}"
        return as_strided(block[start:], shape=shape, strides=tuple(s * block.itemsize for s in strides) + (block.itemsize,))


class SeparableFrame(NdFrame):
    """The two-axis :class:`NdFrame`: rows (block, p, q), each ``cg·n_h(p)·n_w(q)`` entries ordered (c, e, f).

    Rows are (block, p, q) in C order; every block holds ``per_block``
    entries, so block ``o``'s entries are ``arr[o·per_block:(o+1)·per_block]``.
    """

    def __init__(self, h: AxisRuns, w: AxisRuns, cg: int, n_blocks: int, n_cols: int):
        super().__init__((h, w), cg, n_blocks, n_cols)
        self.h, self.w = h, w

    def view(self, block: np.ndarray, ph: np.ndarray, pw: np.ndarray) -> np.ndarray:
        """Writable view (|ph|, |pw|, cg, n_h, n_w) of one block's entries of a run pair."""
        rows = NdFrame.rows(self, block, (ph, pw))
        inner = (self.cg, int(self.h.counts[ph[0]]), int(self.w.counts[pw[0]]))
        item = block.itemsize
        inner_strides = (inner[1] * inner[2] * item, inner[2] * item, item)
        return as_strided(rows, shape=rows.shape[:2] + inner, strides=rows.strides[:2] + inner_strides)


def product_csr(h_table, w_table, channels: int, in_hw, *, dtype, what: str, max_bytes=None):
    """CSR of a per-channel operator whose weights factor: ``∂y[c,p,q]/∂x[c,i,j] = u_p(i) · v_q(j)``.

    ``h_table`` / ``w_table`` are ``(index, weight, count)`` per axis: int
    arrays (n_out, m) of input indices (ascending within a row, the first
    ``count`` valid), float arrays (n_out, m) of the weights, and counts
    (n_out,). Row (c, p, q) holds ``count_h[p] · count_w[q]`` entries at
    columns ``c·H·W + i·W + j``. ``channels`` counts channel planes (N·C for a
    batch: the batched Jacobian is the same block-diagonal structure). The
    2-D front door of :func:`product_csr_nd`.
    """
    return product_csr_nd((h_table, w_table), channels, in_hw, dtype=dtype, what=what, max_bytes=max_bytes)


#: rows written per piece of the first axis by :func:`product_csr_nd` (bounds its temporaries)
_PIECE_ROWS = 1 << 16
#: rows with at most this many entries are written one tap at a time (see :func:`product_csr_nd`)
_PER_TAP_MAX = 32


@dataclass(frozen=True)
class AffineRun:
    """Positions ``p0 … p0 + m − 1`` of a first axis whose rows are translates: row ``p0 + t`` holds the
    ``n`` input indices ``index0 + t·step`` with the same ``weight`` (both (n,) arrays)."""

    p0: int
    m: int
    index0: np.ndarray
    step: int
    weight: np.ndarray


@dataclass(frozen=True)
class AffineAxis:
    """A first-axis factor given by its runs of translated rows (positions in no run have no entries)."""

    n_out: int
    runs: tuple  # of AffineRun, in position order

    @property
    def total(self) -> int:
        return sum(r.m * r.index0.size for r in self.runs)


#: entries per chunk when a run's first slab is replicated down the run (2 MB of float64: cache-sized)
_REPLICATE_ENTRIES = 1 << 18


def product_csr_nd(tables, channels: int, in_spatial, *, dtype, what: str, max_bytes=None):
    """CSR of ``I_channels ⊗ A₁ ⊗ … ⊗ A_k``: per-axis factors given as ``(index, weight, count)`` tables.

    Row (c, p₁, …, p_k) holds ``Π count_a[p_a]`` entries ordered (e₁, …, e_k),
    at columns ``c·Π S + Σ_a index_a[p_a, e_a] · stride_a`` with values
    ``Π_a weight_a[p_a, e_a]`` (products taken in axis order, in the weights'
    dtype). ``tables[0]`` may instead be an :class:`AffineAxis` (pooling's
    windows: runs of positions whose rows are translates with equal weights):
    then the slab of a run's first position is written and replicated down the
    run — a copy for the values, a shifted add for the columns, in cache-sized
    chunks (conv2d's tuned scheme) — and no array of the first axis's length
    exists at any time.

    Otherwise the first plane is written piece by piece along the first axis
    (≤ 2¹⁶ rows per piece, so run detection, fancy-indexed table rows and the
    piece's ``indptr`` stay small) through the run-tuple views of
    :class:`NdFrame`. The other planes are copies (values) and shifted copies
    (columns) of the first — long contiguous writes, so a plane of short rows
    (2×2 pooling windows) pays its short-loop price once, not once per channel.
    The exact nnz is checked against the memory guard before any allocation:
    the peak is the CSR plus per-axis tables of the trailing axes.
    """
    from ._sparse import check_budget, csr_from_arrays

    first, rest = tables[0], [tuple(t) for t in tables[1:]]
    in_spatial = tuple(int(v) for v in in_spatial)
    channels = int(channels)
    k = len(rest) + 1
    affine = isinstance(first, AffineAxis)
    if affine:
        n0, total0 = first.n_out, first.total
    else:
        first = tuple(first)
        n0, total0 = int(np.shape(first[2])[0]), int(np.sum(first[2]))
    rest_counts = [np.asarray(t[2], dtype=np.int64) for t in rest]
    rest_axes = [axis_runs(c, c) for c in rest_counts]
    rest_total = exact_size([a.total for a in rest_axes])
    rest_rows = exact_size([c.size for c in rest_counts])
    per = total0 * rest_total
    nnz, plane = channels * per, exact_size(in_spatial)
    shape = (channels * n0 * rest_rows, channels * plane)
    check_budget(what, nnz, shape, dtype, max_bytes)
    idx = index_dtype_for(nnz, *shape)
    data = np.empty(nnz, dtype=dtype)
    indices = np.empty(nnz, dtype=idx)
    indptr = np.empty(shape[0] + 1, dtype=idx)
    indptr[0] = 0
    in_strides = c_strides(in_spatial)

    def write(t0, a0: int, b0: int, offset: int) -> int:
        """Rows of first-axis positions [a0, b0) (table ``t0``) from entry ``offset`` on; returns their entries."""
        c0 = np.asarray(t0[2], dtype=np.int64)
        frame = NdFrame([axis_runs(c0, c0)] + rest_axes, 1, 1, shape[1])
        size = frame.per_block
        first_d, first_i = data[offset : offset + size], indices[offset : offset + size]
        for runs in frame.tuples():
            ns = [int(t[2][r[0]]) for t, r in zip([(None, None, c0)] + rest, runs)]
            ws, cs = [], []
            for a, ((index, weight, _), r) in enumerate(zip([t0] + rest, runs)):
                shp = [1] * (2 * k)
                shp[a], shp[k + a] = r.size, ns[a]
                # a run is an arithmetic progression of positions: a slice, so the table rows are views
                step = int(r[1] - r[0]) if r.size > 1 else 1
                sl = slice(int(r[0]), int(r[-1]) + 1, step)
                ws.append(weight[sl, : ns[a]].reshape(shp))
                cols = index[sl, : ns[a]]
                cols = cols * in_strides[a] if in_strides[a] != 1 else cols
                cs.append(cols.astype(idx, copy=False).reshape(shp))  # no casting buffers in the writes
            # A ufunc's inner loop runs along the smallest stride: the entries of one row (n_k
            # long). When rows are short and the run long (2×2 windows), one strided write per
            # tap makes the inner loop run along the positions instead — ~5× faster, and the
            # piece stays in cache between the passes.
            per_tap = exact_size(ns) <= _PER_TAP_MAX and runs[-1].size > ns[-1]
            for arr, parts, ufunc in ((first_d, ws, np.multiply), (first_i, cs, np.add)):
                rows = frame.rows(arr, runs)
                inner = [arr.itemsize] * k
                for a in range(k - 2, -1, -1):
                    inner[a] = inner[a + 1] * ns[a + 1]
                view = as_strided(rows, shape=rows.shape[:-1] + tuple(ns), strides=rows.strides[:-1] + tuple(inner))
                taps = np.ndindex(*ns) if per_tap else [(slice(None),) * k]
                for tap in taps:
                    # part a varies along its own tap axis only (size 1 on the others)
                    own = [(Ellipsis, *(t if (b == a or not per_tap) else 0 for b, t in enumerate(tap))) for a in range(k)]
                    if k == 1:
                        np.copyto(view[(Ellipsis, *tap)], parts[0][own[0]], casting="same_kind")
                        continue
                    acc = parts[0][own[0]]
                    for a in range(1, k - 1):  # small: the last axis is left out of every temporary
                        acc = ufunc(acc, parts[a][own[a]])
                    ufunc(acc, parts[-1][own[-1]], out=view[(Ellipsis, *tap)], casting="same_kind")
        frame.row_ends(indptr[1 + a0 * rest_rows : 1 + b0 * rest_rows], offset)
        return size

    if affine:
        offset = pos = 0
        for run in first.runs:
            indptr[1 + pos * rest_rows : 1 + run.p0 * rest_rows] = offset  # positions in no run: empty rows
            n = run.index0.size
            size = write((run.index0[None, :], run.weight[None, :], np.array([n])), run.p0, run.p0 + 1, offset)
            _replicate_run(data, indices, indptr, offset, size, run, rest_rows, run.step * in_strides[0])
            offset += run.m * size
            pos = run.p0 + run.m
        indptr[1 + pos * rest_rows : 1 + n0 * rest_rows] = offset
    else:
        # Pieces of the first axis bound the temporaries: ~128 bytes per first-axis position (its
        # table rows and runs) and ~16 per row of the piece (its indptr) — kept to ~1/32 of the
        # CSR (≥ 256 kB, so small operators are one piece), and ≤ 2¹⁶ rows per piece.
        csr = nnz * (np.dtype(dtype).itemsize + idx.itemsize) + shape[0] * idx.itemsize
        budget = max(1 << 18, csr // 32)
        piece = max(1, min(budget // (128 + 16 * rest_rows), _PIECE_ROWS // max(rest_rows, 1)))
        offset = 0  # entries of the first plane written so far
        for a0 in range(0, n0, piece):
            b0 = min(n0, a0 + piece)
            offset += write((first[0][a0:b0], first[1][a0:b0], first[2][a0:b0]), a0, b0, offset)
    rows0 = n0 * rest_rows
    if channels > 1:
        np.copyto(data.reshape(channels, per)[1:], data[:per])
        shift = (np.arange(1, channels, dtype=np.int64) * plane).astype(idx)
        np.add(indices[None, :per], shift[:, None], out=indices.reshape(channels, per)[1:])
        starts = (np.arange(1, channels, dtype=np.int64) * per).astype(idx)
        np.add(indptr[None, 1 : rows0 + 1], starts[:, None], out=indptr[rows0 + 1 :].reshape(channels - 1, rows0))
    return csr_from_arrays(data, indices, indptr, shape, what=what)


def _replicate_run(data, indices, indptr, offset: int, size: int, run: AffineRun, rest_rows: int, shift: int):
    """Copy the slab of a run's first position (``size`` entries from ``offset``) to its other positions.

    Position t holds the same values and the columns + t·shift; its rows end t·size later. Chunks of
    positions keep the source slab in cache and the ``arange`` temporaries small; a short slab (1-D
    windows) is written one entry column at a time so that the inner loop runs along the positions.
    """
    m = run.m
    if m == 1:
        return
    idx = indices.dtype
    d = data[offset : offset + m * size].reshape(m, size)
    ix = indices[offset : offset + m * size].reshape(m, size)
    ends = indptr[1 + run.p0 * rest_rows : 1 + (run.p0 + m) * rest_rows].reshape(m, rest_rows)
    # ≤ 2¹⁵ positions per chunk: three index temporaries of the chunk's length stay ~0.4 MB
    chunk = max(1, min(1 << 15, _REPLICATE_ENTRIES // max(size, rest_rows)))
    narrow = size <= _PER_TAP_MAX
    for t0 in range(1, m, chunk):
        t1 = min(m, t0 + chunk)
        t = np.arange(t0, t1, dtype=idx)
        if narrow:
            moved = t * idx.type(shift)
            for e in range(size):
                d[t0:t1, e] = d[0, e]
                np.add(moved, ix[0, e], out=ix[t0:t1, e])
        else:
            np.copyto(d[t0:t1], d[0])
            np.add(ix[0], (t * idx.type(shift))[:, None], out=ix[t0:t1])
        np.add(ends[0], (t * idx.type(size))[:, None], out=ends[t0:t1])


# ---------------------------------------------------------------------------
# the one-axis factors, for inspection and the separable VJPs
# ---------------------------------------------------------------------------
def axis_matrix(table, n: int):
    """The (m, n) CSR matrix of one axis from its ``(index, weight, count)`` table (first ``count`` slots)."""
    import scipy.sparse as sp

    idx, wt, cnt = table
    keep = np.arange(idx.shape[1])[None, :] < cnt[:, None]
    indptr = np.concatenate(([0], np.cumsum(cnt)))
    return sp.csr_array((wt[keep], idx[keep], indptr), shape=(cnt.size, int(n)))


def check_grad(g, x_shape, out_hw) -> np.ndarray:
    """``g`` as float64, or a one-line GeometryError unless it has the output's shape (…, OH, OW)."""
    from ..geometry import GeometryError

    g = np.asarray(g, dtype=np.float64)
    want = tuple(x_shape)[:-2] + tuple(out_hw)
    if g.shape != want:
        raise GeometryError(f"g: must have the output's shape {want} (got {g.shape})")
    return g


def separable_adjoint(g, x_shape, h_table, w_table) -> np.ndarray:
    """``A_hᵀ · g · A_w`` on every plane of ``g`` (…, OH, OW) -> (…, H, W): the VJP of ``I ⊗ A_h ⊗ A_w``.

    Two sparse products with the one-axis factors; the 2-D Jacobian is never formed.
    """
    n_h, n_w = (int(v) for v in tuple(x_shape)[-2:])
    a_h, a_w = axis_matrix(h_table, n_h), axis_matrix(w_table, n_w)
    oh, ow = a_h.shape[0], a_w.shape[0]
    planes = exact_size(tuple(x_shape)[:-2])
    t = np.asarray(g, dtype=np.float64).reshape(planes * oh, ow) @ a_w  # (P·OH, W)
    t = t.reshape(planes, oh, n_w).transpose(1, 0, 2).reshape(oh, planes * n_w)
    out = np.asarray(a_h.T @ t).reshape(n_h, planes, n_w).transpose(1, 0, 2)
    return out.reshape(tuple(x_shape))
