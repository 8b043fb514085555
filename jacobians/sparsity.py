"""Sparsity statistics, structure checks and spy plots of explicit Jacobians.

Everything here reads the *stored pattern* of a matrix (scipy.sparse, a dense
ndarray, or a sympy matrix), in numerator layout: rows are outputs, columns
are inputs. So

* ``row_counts(J)[r]`` is how many inputs output ``r`` reads (its fan-in),
* ``column_counts(J)[c]`` is how many outputs input ``c`` feeds — for a
  convolution, the number of windows that read pixel ``c``, which is the
  fold multiplicity of note 000 (Wang 2019, eq. 6.3: the gradient of a pixel
  read by several patches is the sum over those patches),
* ``bandwidth(J)`` is the (lower, upper) reach of the nonzeros from the main
  diagonal.

Structure checks:

* :func:`is_block_diagonal` — M_X^im (∂y/∂weight of a convolution) is block
  diagonal over output channels, one block per channel of shape
  ``(OH·OW, C_in/groups·kh·kw)``;
* :func:`is_block_toeplitz_with_toeplitz_blocks` — at stride 1 each
  (output channel, input channel) block of M_F^filter (∂y/∂x) is doubly
  block-Toeplitz (note 004, DD2424 lecture 6), with blocks of shape ``(OW, W)``.

matplotlib is imported only inside :func:`spy` / :func:`save_spy`, so
``import jacobians.sparsity`` stays light.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = [
    "as_sparse",
    "nnz",
    "density",
    "storage_bytes",
    "row_counts",
    "column_counts",
    "bandwidth",
    "is_block_diagonal",
    "is_block_toeplitz_with_toeplitz_blocks",
    "conv2d_nnz",
    "stats",
    "format_stats",
    "pattern_text",
    "spy",
    "save_spy",
]


# ---------------------------------------------------------------------------
# normalisation
# ---------------------------------------------------------------------------
def as_sparse(matrix) -> sp.csr_array:
    """The matrix as a canonical CSR array (duplicates summed, sorted indices).

    Accepts any scipy.sparse matrix/array, a dense 2-D array, or a sympy
    matrix (whose nonzero entries become 1.0: only the pattern is kept, since
    symbolic entries have no float value).
    """
    if sp.issparse(matrix):
        csr = sp.csr_array(matrix)
    elif hasattr(matrix, "todok") and hasattr(matrix, "shape") and not isinstance(matrix, np.ndarray):
        entries = matrix.todok()  # sympy: {(i, j): expr}
        rows, cols = matrix.shape
        keys = [k for k, v in entries.items() if v != 0]
        if keys:
            r, c = np.array(keys, dtype=np.int64).T
        else:
            r = c = np.zeros(0, dtype=np.int64)
        csr = sp.csr_array((np.ones(r.size), (r, c)), shape=(int(rows), int(cols)))
    else:
        arr = np.asarray(matrix)
        if arr.ndim != 2:
            raise ValueError(f"matrix: must be 2-D (got shape {arr.shape})")
        if arr.dtype == object:
            raise TypeError("matrix: object arrays are not supported; pass a sympy matrix or floats")
        csr = sp.csr_array(arr)
    csr.sum_duplicates()
    return csr


def _coo(matrix, *, structural: bool = True):
    """(rows, cols, values) of the pattern; ``structural=False`` drops stored zeros."""
    csr = as_sparse(matrix)
    rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
    cols = csr.indices.astype(np.int64, copy=False)
    vals = csr.data
    if not structural:
        keep = vals != 0
        rows, cols, vals = rows[keep], cols[keep], vals[keep]
    return rows, cols, vals, csr.shape


# ---------------------------------------------------------------------------
# counts
# ---------------------------------------------------------------------------
def nnz(matrix, *, structural: bool = True) -> int:
    """Number of stored entries (``structural=True``) or of entries whose value is not 0."""
    csr = as_sparse(matrix)
    return int(csr.nnz if structural else np.count_nonzero(csr.data))


def density(matrix, *, structural: bool = True) -> float:
    """nnz / (rows · columns); 0.0 for an empty shape."""
    rows, cols = as_sparse(matrix).shape
    total = rows * cols
    return nnz(matrix, structural=structural) / total if total else 0.0


def storage_bytes(matrix_or_shape, n_nonzero: int | None = None, value_dtype=np.float64) -> dict:
    """Bytes as CSR (data + indices + indptr) and as a dense array.

    Call with a matrix, or with a shape ``(rows, cols)`` and ``n_nonzero`` to
    estimate before building anything.
    """
    from .ops._sparse import csr_bytes

    if n_nonzero is None:
        csr = as_sparse(matrix_or_shape)
        shape, n_nonzero = csr.shape, csr.nnz
    else:
        shape = tuple(int(s) for s in matrix_or_shape)
    itemsize = np.dtype(value_dtype).itemsize
    return {
        "csr": csr_bytes(int(n_nonzero), shape[0], shape[1], value_dtype),
        "dense": int(shape[0]) * int(shape[1]) * itemsize,
    }


def row_counts(matrix, *, structural: bool = True) -> np.ndarray:
    """Nonzeros per row: how many inputs each output depends on."""
    rows, _, _, shape = _coo(matrix, structural=structural)
    return np.bincount(rows, minlength=shape[0])


def column_counts(matrix, *, structural: bool = True) -> np.ndarray:
    """Nonzeros per column: how many outputs each input feeds (note 000's fold multiplicity)."""
    _, cols, _, shape = _coo(matrix, structural=structural)
    return np.bincount(cols, minlength=shape[1])


def bandwidth(matrix, *, structural: bool = True) -> tuple[int, int]:
    """(lower, upper): max of ``row − col`` below and ``col − row`` above the diagonal (0 if none)."""
    rows, cols, _, _ = _coo(matrix, structural=structural)
    if rows.size == 0:
        return (0, 0)
    diff = cols - rows
    return (int(max(0, -diff.min())), int(max(0, diff.max())))


# ---------------------------------------------------------------------------
# structure
# ---------------------------------------------------------------------------
def is_block_diagonal(matrix, row_block: int, col_block: int, *, structural: bool = True) -> bool:
    """True when every nonzero lies in a diagonal block ``(k·row_block…, k·col_block…)``.

    The shape must be a whole number of blocks both ways with as many block
    rows as block columns; otherwise the answer is False.
    """
    rows, cols, _, shape = _coo(matrix, structural=structural)
    row_block, col_block = int(row_block), int(col_block)
    if row_block <= 0 or col_block <= 0:
        raise ValueError(f"blocks: must be positive (got {row_block}, {col_block})")
    if shape[0] % row_block or shape[1] % col_block or shape[0] // row_block != shape[1] // col_block:
        return False
    return bool(np.all(rows // row_block == cols // col_block))


def _count_pairs(n_a: int, n_b: int, offsets: np.ndarray) -> np.ndarray:
    """How many (a, b) with 0 ≤ a < n_a, 0 ≤ b < n_b and b − a == offset, per offset."""
    lo = np.maximum(0, -offsets)
    hi = np.minimum(n_a, n_b - offsets)
    return np.maximum(0, hi - lo)


def is_block_toeplitz_with_toeplitz_blocks(matrix, block_shape) -> bool:
    """True when ``matrix`` is a grid of ``block_shape`` blocks that is Toeplitz in both levels.

    Block ``(I, J)`` depends only on ``J − I`` and, inside it, entry ``(i, j)``
    only on ``j − i``. So every entry is fixed by the key ``(J − I, j − i)``:
    the check groups the stored nonzeros by key, and requires one value per
    key and that the key's diagonal be complete — every position carrying
    that key holds it (an implicit zero there would break Toeplitz).
    Stored zeros are dropped first. A matrix whose shape is not a whole
    number of blocks is not BTTB.
    """
    bh, bw = (int(v) for v in block_shape)
    rows, cols, vals, shape = _coo(matrix, structural=False)
    if bh <= 0 or bw <= 0:
        raise ValueError(f"block_shape: must be positive (got {block_shape})")
    if shape[0] % bh or shape[1] % bw:
        return False
    n_block_rows, n_block_cols = shape[0] // bh, shape[1] // bw
    if rows.size == 0:
        return True
    outer = cols // bw - rows // bh
    inner = cols % bw - rows % bh
    # one integer key per (outer, inner) pair
    key = (outer + n_block_rows) * (bw + bh) + (inner + bh)
    order = np.lexsort((vals, key))
    key, vals, outer, inner = key[order], vals[order], outer[order], inner[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    counts = np.diff(np.r_[starts, key.size])
    # one value per key: after sorting by (key, value), first == last in each group
    ends = starts + counts - 1
    if not np.array_equal(vals[starts], vals[ends]):
        return False
    expected = _count_pairs(n_block_rows, n_block_cols, outer[starts]) * _count_pairs(bh, bw, inner[starts])
    return bool(np.array_equal(counts, expected))


def conv2d_nnz(geom) -> int:
    """nnz of ∂y/∂x (and of ∂y/∂weight) of a convolution, from its geometry alone.

    ``C_out · (C_in/groups) · Σ_i n_h(i) · Σ_j n_w(j)`` where ``n_h(i)`` is the
    number of kernel rows of output row ``i`` that land inside the unpadded
    input (likewise columns). Counted here by closed-form interval arithmetic
    per output row, independent of the builders' index grids.
    """
    def taps_inside(out: int, size: int, k: int, s: int, d: int, before: int) -> int:
        i = np.arange(out)
        start = i * s - before  # input index of tap 0
        # taps a in [0, k) with 0 <= start + a·d <= size − 1
        lo = np.maximum(0, -(start // d))  # ceil(−start / d), in integers
        hi = np.minimum(k - 1, (size - 1 - start) // d)
        return int(np.maximum(0, hi - lo + 1).sum())

    oh, ow = geom.out_hw
    n_h = taps_inside(oh, geom.height, geom.kernel[0], geom.stride[0], geom.dilation[0], geom.padding[0])
    n_w = taps_inside(ow, geom.width, geom.kernel[1], geom.stride[1], geom.dilation[1], geom.padding[2])
    return int(geom.out_channels * geom.in_per_group * n_h * n_w)


# ---------------------------------------------------------------------------
# summaries
# ---------------------------------------------------------------------------
def _summary(counts: np.ndarray) -> dict:
    if counts.size == 0:
        return {"min": 0, "max": 0, "mean": 0.0}
    return {"min": int(counts.min()), "max": int(counts.max()), "mean": float(counts.mean())}


def stats(matrix, *, blocks=None, toeplitz_block=None, channel_grid=None) -> dict:
    """Summary statistics of a Jacobian's pattern.

    Parameters
    ----------
    blocks : (row_block, col_block), optional
        Also report :func:`is_block_diagonal` for these block sizes.
    toeplitz_block : (bh, bw), optional
        Also report whether every sub-matrix of ``channel_grid`` is BTTB with
        blocks of this shape.
    channel_grid : (row_size, col_size), optional
        Size of the sub-matrices checked for BTTB (default: the whole matrix).
    """
    csr = as_sparse(matrix)
    rc = row_counts(csr)
    cc = column_counts(csr)
    n_rows, n_cols = csr.shape
    out = {
        "shape": (int(n_rows), int(n_cols)),
        "nnz": int(csr.nnz),
        "density": density(csr),
        "bytes": storage_bytes(csr),
        "row_counts": _summary(rc),
        "column_counts": _summary(cc),
        "column_count_histogram": {int(k): int(v) for k, v in zip(*np.unique(cc, return_counts=True))},
        "empty_rows": int((rc == 0).sum()),
        "empty_columns": int((cc == 0).sum()),
        "bandwidth": bandwidth(csr),
    }
    if blocks is not None:
        out["block_diagonal"] = {"blocks": tuple(int(b) for b in blocks), "holds": is_block_diagonal(csr, *blocks)}
    if toeplitz_block is not None:
        gr, gc = channel_grid if channel_grid is not None else (n_rows, n_cols)
        holds = True
        for r0 in range(0, n_rows, gr):  # loop over channel blocks, not entries
            for c0 in range(0, n_cols, gc):
                if not is_block_toeplitz_with_toeplitz_blocks(csr[r0 : r0 + gr, c0 : c0 + gc], toeplitz_block):
                    holds = False
                    break
            if not holds:
                break
        out["bttb"] = {"block": tuple(int(b) for b in toeplitz_block), "sub_matrix": (int(gr), int(gc)), "holds": holds}
    return out


def _human(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} B"


def format_stats(s: dict) -> str:
    """Text lines for :func:`stats` output (used by ``jacobians show --format stats``)."""
    rows, cols = s["shape"]
    rc, cc = s["row_counts"], s["column_counts"]
    hist = ", ".join(f"{k}:{v}" for k, v in s["column_count_histogram"].items())
    if len(hist) > 200:
        hist = hist[:197] + "..."
    lines = [
        f"shape           {rows} x {cols}",
        f"nnz             {s['nnz']}",
        f"density         {s['density']:.6g}",
        f"bytes           CSR {s['bytes']['csr']} ({_human(s['bytes']['csr'])}), dense {s['bytes']['dense']} ({_human(s['bytes']['dense'])})",
        f"row counts      min {rc['min']}  max {rc['max']}  mean {rc['mean']:.4g}  (inputs read per output; {s['empty_rows']} empty rows)",
        f"column counts   min {cc['min']}  max {cc['max']}  mean {cc['mean']:.4g}  (outputs fed per input; {s['empty_columns']} unused inputs)",
        f"column count histogram  {{count: inputs}} {hist}",
        f"bandwidth       lower {s['bandwidth'][0]}  upper {s['bandwidth'][1]}",
    ]
    if "block_diagonal" in s:
        b = s["block_diagonal"]
        lines.append(f"block diagonal  {'yes' if b['holds'] else 'no'} (blocks {b['blocks'][0]} x {b['blocks'][1]})")
    if "bttb" in s:
        b = s["bttb"]
        lines.append(
            f"BTTB            {'yes' if b['holds'] else 'no'} (each {b['sub_matrix'][0]} x {b['sub_matrix'][1]} "
            f"channel block, Toeplitz blocks {b['block'][0]} x {b['block'][1]})"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# text spy
# ---------------------------------------------------------------------------
_BRAILLE_BITS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]])


def _occupancy(csr: sp.csr_array, grid_rows: int, grid_cols: int) -> np.ndarray:
    """Boolean (grid_rows, grid_cols): does any nonzero fall in each cell."""
    n_rows, n_cols = csr.shape
    rows = np.repeat(np.arange(n_rows), np.diff(csr.indptr))
    cols = csr.indices.astype(np.int64)
    grid = np.zeros((grid_rows, grid_cols), dtype=bool)
    if rows.size:
        grid[rows * grid_rows // max(n_rows, 1), cols * grid_cols // max(n_cols, 1)] = True
    return grid


def pattern_text(matrix, *, max_cols: int = 80, max_rows: int = 40, style: str = "braille") -> str:
    """A spy plot in text, at most ``max_cols`` characters wide and ``max_rows`` lines tall.

    ``style="braille"`` packs 2 × 4 cells per character (U+2800 block);
    ``style="ascii"`` uses one cell per character, ``#`` occupied, ``.`` empty.
    When the matrix is larger than the grid, each cell covers a range of rows
    and columns and is drawn if any nonzero falls in it.
    """
    csr = as_sparse(matrix)
    n_rows, n_cols = csr.shape
    if style == "braille":
        per_r, per_c = 4, 2
    elif style == "ascii":
        per_r, per_c = 1, 1
    else:
        raise ValueError(f"style: must be 'braille' or 'ascii' (got {style!r})")
    # one scale for both axes, so the picture keeps the matrix's aspect ratio
    scale = max(1.0, n_rows / (max_rows * per_r), n_cols / (max_cols * per_c))
    grid_rows = max(1, min(max_rows * per_r, int(np.ceil(n_rows / scale))))
    grid_cols = max(1, min(max_cols * per_c, int(np.ceil(n_cols / scale))))
    occ = _occupancy(csr, grid_rows, grid_cols)
    if style == "ascii":
        return "\n".join("".join("#" if v else "." for v in row) for row in occ)
    # pad to whole characters, then OR the dot bits of each 4 × 2 cell
    pr, pc = -grid_rows % 4, -grid_cols % 2
    occ = np.pad(occ, ((0, pr), (0, pc)))
    cells = occ.reshape(occ.shape[0] // 4, 4, occ.shape[1] // 2, 2).transpose(0, 2, 1, 3)
    codes = (cells * _BRAILLE_BITS).sum(axis=(2, 3)) + 0x2800
    return "\n".join("".join(chr(c) for c in row) for row in codes)


# ---------------------------------------------------------------------------
# matplotlib spy
# ---------------------------------------------------------------------------
_MARKER_LIMIT = 200_000  # above this many nonzeros, draw a binned image instead of markers


def _draw(ax, csr: sp.csr_array, blocks, title, markersize):
    n_rows, n_cols = csr.shape
    if csr.nnz <= _MARKER_LIMIT:
        if markersize is None:
            markersize = max(0.5, min(6.0, 300.0 / max(n_rows, n_cols, 1)))
        ax.spy(csr, markersize=markersize, color="k", aspect="auto")  # fill the axes: side-by-side plots line up
    else:
        grid = _occupancy(csr, min(n_rows, 1000), min(n_cols, 1000))
        ax.imshow(grid, cmap="Greys", interpolation="nearest", extent=(-0.5, n_cols - 0.5, n_rows - 0.5, -0.5), aspect="auto")
    if blocks is not None:
        rb, cb = (int(b) for b in blocks)
        for r in range(rb, n_rows, rb) if 0 < rb < n_rows and n_rows // rb <= 256 else ():
            ax.axhline(r - 0.5, color="tab:red", lw=0.6)
        for c in range(cb, n_cols, cb) if 0 < cb < n_cols and n_cols // cb <= 256 else ():
            ax.axvline(c - 0.5, color="tab:red", lw=0.6)
    ax.set_xlabel(f"inputs ({n_cols})")
    ax.set_ylabel(f"outputs ({n_rows})")
    ax.set_title(title if title is not None else f"{n_rows}×{n_cols}, nnz {csr.nnz}", fontsize=10)
    return ax


def spy(matrix, ax=None, blocks=None, title=None, markersize=None):
    """Spy plot of a Jacobian on ``ax`` (a new pyplot figure when None).

    ``blocks=(row_block, col_block)`` draws red lines between channel blocks
    (e.g. ``(OH·OW, C_in·kh·kw)`` for M_X^im, ``(OH·OW, H·W)`` for M_F^filter).
    Returns the Axes.
    """
    csr = as_sparse(matrix)
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5, 5))
    return _draw(ax, csr, blocks, title, markersize)


def save_spy(matrix, path, *, fmt=None, blocks=None, title=None, markersize=None, figsize=None, dpi=120) -> None:
    """Save a spy plot to ``path`` (or a binary file object) as PNG or SVG with the Agg canvas.

    Uses an object-oriented ``Figure`` (not pyplot), so no global backend
    state changes and no display is needed.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    csr = as_sparse(matrix)
    if figsize is None:  # follow the matrix's aspect ratio, within reason
        n_rows, n_cols = csr.shape
        ratio = n_rows / max(n_cols, 1)
        figsize = (7.0, min(8.0, max(2.5, 6.0 * ratio + 1.3))) if ratio <= 1 else (min(8.0, max(2.5, 6.0 / ratio + 1.3)), 7.0)
    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    _draw(ax, csr, blocks, title, markersize)
    fig.tight_layout()
    fig.savefig(path, format=fmt)
