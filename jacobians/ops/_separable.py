"""Row structure of Jacobians whose rows factor over the two spatial axes.

Used by transposed convolution (2-D and, through :class:`NdFrame`, 3-D),
interpolation and adaptive pooling. In all of them, output entry ``(o, p, q)`` depends on the input entries
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

from ._sparse import exact_size, index_dtype_for

__all__ = ["AxisRuns", "axis_runs", "NdFrame", "SeparableFrame", "product_csr", "axis_matrix", "check_grad", "separable_adjoint"]


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
    _, inverse = np.unique(np.asarray(keys), return_inverse=True)
    inverse = inverse.ravel()
    runs = []
    for key in range(int(inverse.max(initial=-1)) + 1):
        pos = np.flatnonzero(inverse == key)
        if pos.size == 0 or counts[pos[0]] == 0:
            continue
        steps = np.diff(pos)
        offs = np.diff(before[pos])
        start, n = 0, pos.size
        while start < n:
            end = start + 1
            while end < n and (end == start + 1 or (steps[end - 1] == steps[start] and offs[end - 1] == offs[start])):
                end += 1
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
        per_row = np.array(self.cg, dtype=np.int64)
        for a in self.axes:
            per_row = np.multiply.outer(per_row, a.counts)
        per_row = per_row.ravel()
        idx = self.index_dtype
        out = np.empty(self.n_blocks * per_row.size + 1, dtype=idx)
        out[0] = 0
        starts = np.arange(self.n_blocks, dtype=idx) * idx.type(self.per_block)
        np.add(starts[:, None], np.cumsum(per_row).astype(idx)[None, :], out=out[1:].reshape(self.n_blocks, per_row.size))
        return out

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

    @staticmethod
    def expected_nnz(h_counts, w_counts, cg: int, n_blocks: int) -> int:
        """Exact nnz as a Python int (for the memory guard, before any allocation)."""
        return exact_size((n_blocks, cg, int(np.sum(h_counts)), int(np.sum(w_counts))))

    def pairs(self):
        """Every (run_h, run_w) pair: positions along each axis."""
        return self.tuples()

    def view(self, block: np.ndarray, ph: np.ndarray, pw: np.ndarray) -> np.ndarray:
        """Writable view (|ph|, |pw|, cg, n_h, n_w) of one block's entries of a run pair."""
        rows = NdFrame.rows(self, block, (ph, pw))
        inner = (self.cg, int(self.h.counts[ph[0]]), int(self.w.counts[pw[0]]))
        item = block.itemsize
        inner_strides = (inner[1] * inner[2] * item, inner[2] * item, item)
        return as_strided(rows, shape=rows.shape[:2] + inner, strides=rows.strides[:2] + inner_strides)

    def rows(self, block: np.ndarray, ph: np.ndarray, pw: np.ndarray) -> np.ndarray:
        """The same entries as :meth:`view`, shaped (|ph|, |pw|, cg·n_h·n_w): each row's entries contiguous."""
        return NdFrame.rows(self, block, (ph, pw))


def product_csr(h_table, w_table, channels: int, in_hw, *, dtype, what: str, max_bytes=None):
    """CSR of a per-channel operator whose weights factor: ``∂y[c,p,q]/∂x[c,i,j] = u_p(i) · v_q(j)``.

    ``h_table`` / ``w_table`` are ``(index, weight, count)`` per axis: int
    arrays (n_out, m) of input indices (ascending within a row, the first
    ``count`` valid), float arrays (n_out, m) of the weights, and counts
    (n_out,). Row (c, p, q) holds ``count_h[p] · count_w[q]`` entries at
    columns ``c·H·W + i·W + j``. ``channels`` counts channel planes (N·C for a
    batch: the batched Jacobian is the same block-diagonal structure). The
    first plane is written through the run-pair views, the others are copies
    (values) and shifted copies (columns) of it.
    """
    from ._sparse import check_budget, csr_from_arrays

    (hi, hv, hc), (wi, wv, wc) = h_table, w_table
    height, width = (int(v) for v in in_hw)
    channels = int(channels)
    nnz = SeparableFrame.expected_nnz(hc, wc, 1, channels)
    check_budget(what, nnz, (channels * hc.size * wc.size, channels * height * width), dtype, max_bytes)
    frame = SeparableFrame(axis_runs(hc, hc), axis_runs(wc, wc), 1, channels, channels * height * width)
    idx = frame.index_dtype
    data = np.empty(frame.nnz, dtype=dtype)
    indices = np.empty(frame.nnz, dtype=idx)
    per = frame.per_block
    first_d, first_i = data[:per], indices[:per]
    for ph, pw in frame.pairs():
        nh, nw = int(hc[ph[0]]), int(wc[pw[0]])
        np.multiply(
            hv[ph, :nh][:, None, None, :, None], wv[pw, :nw][None, :, None, None, :], out=frame.view(first_d, ph, pw)
        )
        np.add(
            (hi[ph, :nh] * width)[:, None, None, :, None],
            wi[pw, :nw][None, :, None, None, :],
            out=frame.view(first_i, ph, pw),
            casting="same_kind",
        )
    if channels > 1:
        np.copyto(data.reshape(channels, per)[1:], first_d)
        shift = (np.arange(1, channels, dtype=np.int64) * (height * width)).astype(idx)
        np.add(first_i[None, :], shift[:, None], out=indices.reshape(channels, per)[1:])
    return csr_from_arrays(data, indices, frame.indptr(), frame.shape, what=what)


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
