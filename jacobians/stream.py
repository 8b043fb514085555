"""Jacobians larger than memory: row-block builders and a streamed Matrix Market export.

An explicit Jacobian is a stack of row blocks, and every block can be built on
its own: for a convolution the rows of a range of output channels are the
input Jacobian of the weight's channel slice (shifted to its group's input
columns). :func:`conv2d_input_jacobian_blocks` yields such blocks, each at
most ``max_block_nnz`` entries; :func:`write_mtx` writes any block stream to
one ``.mtx`` file — header first (the exact nnz is known from the geometry
before anything is built), then each block's lines through scipy's fast
Matrix Market writer — so resident memory is bounded by one block, not by the
matrix. The file appears atomically (a hidden ``.part`` file renamed at the
end; removed on any error or interruption).

The same blocks are what a distributed engine would map over: each block is
a pure function of (weight slice, geometry, row range), so under Dask one
would wrap :func:`conv2d_input_block` in ``dask.delayed`` per channel range
and have each task write its lines to its own part file (concatenated after a
header, or kept as a directory of parts), with no data exchanged between
tasks; the header's nnz comes from the geometry alone. Nothing here needs a
scheduler for one machine's disk, so none is built.
"""
from __future__ import annotations

import io
import os
import sys
from typing import Iterable, Iterator

import numpy as np
import scipy.sparse as sp

from .geometry import Conv2dGeometry
from .ops._sparse import csr_from_arrays, index_dtype_for

__all__ = ["conv2d_input_block", "conv2d_input_jacobian_blocks", "conv2d_input_nnz", "conv2d_input_rows", "write_mtx"]

#: default entries per block: 48 MiB as CSR; formatting one block's text holds about
#: 80 bytes per entry (CSR, COO and the text), so ~0.35 GB resident at the most
DEFAULT_BLOCK_NNZ = 1 << 22


def _geometry(weight_shape, input_shape, stride, padding, dilation, groups) -> Conv2dGeometry:
    return Conv2dGeometry.from_shapes(tuple(input_shape), tuple(weight_shape), stride, padding, dilation, groups)


def conv2d_input_nnz(weight_shape, input_shape, stride=1, padding=0, dilation=1, groups=1) -> int:
    """Exact nnz of ``conv2d_input_jacobian`` from the geometry alone (Python ints, nothing allocated)."""
    from .ops.conv2d import _expected_nnz

    return _expected_nnz(_geometry(weight_shape, input_shape, stride, padding, dilation, groups))


def conv2d_input_block(weight, input_shape, channels: slice, stride=1, padding=0, dilation=1, groups=1, *, dtype=None):
    """Rows of output channels ``channels`` (a slice within one group) of ``conv2d_input_jacobian``.

    Returns a csr_array of shape (n_channels·OH·OW, C_in·H·W): exactly the
    rows ``channels.start·OH·OW : channels.stop·OH·OW`` of the full matrix.

    Examples
    --------
    >>> from jacobians import conv2d_input_jacobian
    >>> w = np.arange(16.).reshape(4, 1, 2, 2)
    >>> full = conv2d_input_jacobian(w, (2, 3, 3), groups=2)
    >>> block = conv2d_input_block(w, (2, 3, 3), slice(2, 4), groups=2)
    >>> bool((block != full[8:16]).nnz == 0)
    True
    """
    from .ops.conv2d import conv2d_input_jacobian

    weight = np.asarray(weight)
    geom = _geometry(weight.shape, input_shape, stride, padding, dilation, groups)
    o0, o1, step = channels.indices(geom.out_channels)
    if step != 1 or o1 <= o0:
        raise ValueError(f"channels: must be a non-empty contiguous slice of 0..{geom.out_channels} (got {channels})")
    og, cg = geom.out_per_group, geom.in_per_group
    group = o0 // og
    if (o1 - 1) // og != group:
        raise ValueError(f"channels: a block must lie within one group of {og} output channels (got {o0}..{o1 - 1})")
    part = conv2d_input_jacobian(weight[o0:o1], (cg, geom.height, geom.width), stride, padding, dilation, 1, dtype=dtype)
    n_cols = geom.in_channels * geom.height * geom.width
    if groups == 1:
        return part
    idx = index_dtype_for(part.nnz, part.shape[0], n_cols)
    indices = part.indices.astype(idx, copy=False)
    indices += idx.type(group * cg * geom.height * geom.width)
    return csr_from_arrays(part.data, indices, part.indptr.astype(idx, copy=False), (part.shape[0], n_cols),
                           what="conv2d input Jacobian block")


#: output entries written per pass in :func:`conv2d_input_rows` (temporaries stay in cache)
_ROWS_CHUNK = 1 << 16


def conv2d_input_rows(weight, input_shape, rows, stride=1, padding=0, dilation=1, groups=1, *, dtype=None,
                      max_bytes=None) -> sp.csr_array:
    """Selected rows of ``conv2d_input_jacobian``, built without building the others.

    ``rows`` is an integer array (any order, repeats allowed) of output
    indices ``o·OH·OW + i·OW + j``; row k of the result is row ``rows[k]`` of
    the full matrix. This is what a chain uses when row selections (ReLU's
    mask, max pooling's switches) follow a convolution: only the rows they
    keep are written (:class:`jacobians.chain.Link`'s ``rows=``).

    Each row's taps along each axis are a range [lo, hi) in closed form, so its
    count is known before anything is allocated; rows sharing the same ranges
    (a handful: the interior and the borders) share one column-offset and one
    weight-index pattern, written for a chunk of rows at a time.

    Examples
    --------
    >>> from jacobians import conv2d_input_jacobian
    >>> w = np.arange(18.).reshape(2, 1, 3, 3)
    >>> full = conv2d_input_jacobian(w, (1, 4, 4), padding=1)
    >>> part = conv2d_input_rows(w, (1, 4, 4), np.array([17, 0, 17]), padding=1)
    >>> bool(abs(part - full[[17, 0, 17]]).max() == 0)
    True
    """
    from .ops._sparse import check_budget, exact_size

    weight = np.asarray(weight)
    if weight.dtype == object or not np.issubdtype(weight.dtype, np.number):
        raise ValueError(f"weight: conv2d_input_rows needs a real float array (got dtype {weight.dtype})")
    geom = _geometry(weight.shape, input_shape, stride, padding, dilation, groups)
    rows = np.asarray(rows)
    if rows.ndim != 1 or (rows.size and not np.issubdtype(rows.dtype, np.integer)):
        raise ValueError(f"rows: must be a 1-D integer array of output indices (got shape {rows.shape}, dtype {rows.dtype})")
    oh, ow = geom.out_hw
    n_out = exact_size((geom.out_channels, oh, ow))
    n_cols = exact_size(geom.input_shape)
    if rows.size and (int(rows.min()) < 0 or int(rows.max()) >= n_out):
        raise ValueError(f"rows: every index must lie in 0..{n_out - 1} (got {int(rows.min())}..{int(rows.max())})")
    rows = rows.astype(np.int64, copy=False)
    (kh, kw), (sh, sw), (dh, dw) = geom.kernel, geom.stride, geom.dilation
    pt, _, pl, _ = geom.padding
    H, W, cg = geom.height, geom.width, geom.in_per_group
    value_dtype = np.dtype(np.float64 if dtype is None else dtype)

    o, rem = np.divmod(rows, oh * ow)
    i, j = np.divmod(rem, ow)
    top, left = i * sh - pt, j * sw - pl  # input position of tap (0, 0)

    def tap_range(start, size, k, d):
        lo = np.clip(-(start // d), 0, k)  # first a with start + a·d >= 0: ceil(-start / d)
        hi = np.clip((size - 1 - start) // d + 1, 0, k)
        return lo, np.maximum(hi, lo)

    lo_h, hi_h = tap_range(top, H, kh, dh)
    lo_w, hi_w = tap_range(left, W, kw, dw)
    counts = cg * (hi_h - lo_h) * (hi_w - lo_w)
    nnz = int(counts.sum())
    shape = (int(rows.size), n_cols)
    check_budget("conv2d input Jacobian rows", nnz, shape, value_dtype, max_bytes)
    idx = index_dtype_for(nnz, *shape)
    indptr = np.zeros(rows.size + 1, dtype=idx)
    np.cumsum(counts, out=indptr[1:])
    indices = np.empty(nnz, dtype=idx)
    data = np.empty(nnz, dtype=value_dtype)
    base = (o // geom.out_per_group) * (cg * H * W) + top * W + left  # column of (c=0, tap (0, 0))
    w2 = weight.reshape(geom.out_channels, -1).astype(value_dtype, copy=False)
    key = ((lo_h * (kh + 1) + hi_h) * (kw + 1) + lo_w) * (kw + 1) + hi_w
    c_ = np.arange(cg)[:, None, None]
    for k in np.unique(key):
        members = np.flatnonzero(key == k)
        m0 = members[0]
        a = np.arange(lo_h[m0], hi_h[m0])[None, :, None]
        b = np.arange(lo_w[m0], hi_w[m0])[None, None, :]
        offs = (c_ * (H * W) + a * (dh * W) + b * dw).ravel()
        w_cls = w2[:, (c_ * (kh * kw) + a * kw + b).ravel()]  # (C_out, k): each row's values, by channel
        width = offs.size
        if width == 0:
            continue
        step = max(1, _ROWS_CHUNK // width)
        span = np.arange(width)
        for s0 in range(0, members.size, step):
            mem = members[s0 : s0 + step]
            pos = indptr[mem].astype(np.int64)[:, None] + span
            data[pos] = w_cls[o[mem]]
            indices[pos] = (base[mem][:, None] + offs).astype(idx, copy=False)
    return csr_from_arrays(data, indices, indptr, shape, what="conv2d input Jacobian rows")


def conv2d_input_jacobian_blocks(weight, input_shape, stride=1, padding=0, dilation=1, groups=1, *, dtype=None,
                                 max_block_nnz: int = DEFAULT_BLOCK_NNZ) -> Iterator[tuple[int, sp.csr_array]]:
    """Yield ``(first_row, block)`` covering ``conv2d_input_jacobian`` top to bottom, ≤ max_block_nnz entries each.

    A block is a run of whole output channels within one group (one channel
    even when it alone exceeds ``max_block_nnz``).
    """
    weight = np.asarray(weight)
    geom = _geometry(weight.shape, input_shape, stride, padding, dilation, groups)
    per_channel = conv2d_input_nnz(weight.shape, input_shape, stride, padding, dilation, groups) // geom.out_channels
    rows_per_channel = geom.out_hw[0] * geom.out_hw[1]
    step = max(1, int(max_block_nnz) // max(1, per_channel))
    og = geom.out_per_group
    for group_start in range(0, geom.out_channels, og):
        for o0 in range(group_start, group_start + og, step):
            o1 = min(o0 + step, group_start + og)
            yield o0 * rows_per_channel, conv2d_input_block(
                weight, input_shape, slice(o0, o1), stride, padding, dilation, groups, dtype=dtype
            )


def _next_line(buf, pos: int) -> int:
    """Offset just past the newline at or after ``pos`` (headers are short: scan a small window)."""
    window = bytes(buf[pos : pos + 4096])
    return pos + window.index(b"\n") + 1


def _mtx_lines(block: sp.csr_array, first_row: int) -> bytes:
    """The coordinate lines of one block (1-based, rows shifted by ``first_row``) via scipy's writer."""
    import scipy.io

    coo = block.tocoo()
    n_rows = first_row + block.shape[0]
    rows = coo.row.astype(index_dtype_for(n_rows), copy=False)
    rows += first_row
    shifted = sp.coo_array((coo.data, (rows, coo.col)), shape=(n_rows, block.shape[1]))
    del coo
    buf = io.BytesIO()
    scipy.io.mmwrite(buf, shifted, comment="", field="real", symmetry="general")
    del shifted, rows
    text = buf.getbuffer()  # no copy of the text
    # skip scipy's own header: the banner, comment lines, and the size line
    pos = 0
    while text[pos : pos + 1] == b"%":
        pos = _next_line(text, pos)
    return text[_next_line(text, pos) :]


def write_mtx(blocks: Iterable[tuple[int, sp.csr_array]], shape, nnz: int, path, *, comment: str = "",
              progress: bool | None = None) -> int:
    """Write row blocks as one Matrix Market file, atomically, holding one block at a time.

    Parameters
    ----------
    blocks : iterable of (first_row, csr block), in row order, covering ``shape[0]`` rows
    shape, nnz : of the whole matrix (nnz exact: it goes into the header first)
    progress : print a progress bar on stderr (default: when stderr is a terminal)

    Returns the number of entries written; a mismatch with ``nnz`` or a gap
    between blocks raises ValueError and leaves no file.
    """
    from ._atomic import atomic_open

    n_rows, n_cols = (int(v) for v in shape)
    nnz = int(nnz)
    show = sys.stderr.isatty() if progress is None else progress
    written = 0
    next_row = 0
    with atomic_open(os.fspath(path), "wb") as handle:
        handle.write(b"%%MatrixMarket matrix coordinate real general\n")
        for line in comment.splitlines():
            handle.write(b"% " + line.encode() + b"\n")
        handle.write(f"{n_rows} {n_cols} {nnz}\n".encode())
        for first_row, block in blocks:
            if first_row != next_row or block.shape[1] != n_cols:
                raise ValueError(f"blocks: block at row {first_row} ({block.shape}) does not continue at row {next_row}")
            handle.write(_mtx_lines(block, first_row))
            written += block.nnz
            next_row += block.shape[0]
            if show:
                done = next_row / max(1, n_rows)
                sys.stderr.write(f"\r[{'#' * int(40 * done):<40}] {100 * done:5.1f}%  {written:,} entries")
                sys.stderr.flush()
        if show:
            sys.stderr.write("\n")
        if next_row != n_rows or written != nnz:
            raise ValueError(f"blocks: wrote {next_row} rows and {written} entries, expected {n_rows} and {nnz}")
    return written
