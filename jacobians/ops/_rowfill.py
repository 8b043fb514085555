"""Run replication in memory order: the one writer behind the N-d conv and transposed-conv Jacobians.

The rows of these Jacobians are (block, p₁, …, p_N) in C order and row p holds
``cg · Π n_ax(p_ax)`` entries. Along each axis the output positions fall into
*runs*: positions ``p0, p0 + Δp, …`` (m of them) with the same count n and,
within one block, either the same entries (values of an input Jacobian,
columns of a weight Jacobian) or entries that shift by a constant per step
(columns of an input Jacobian: the input window moves by s·stride_in). So
one block is written like conv2d's tuned builders write it
(:mod:`jacobians.ops.conv2d`): per run of the outermost axis, the slab of
its first position is written (recursively, the same way over the next
axis), then replicated down the run with one broadcasting copy — or add of
``t · shift`` — and at the innermost axis the first row is broadcast down
the run. Runs are visited in position order, so memory is written in order:
each page is filled while it is still in cache after the kernel zeroed it
(writing block by block — one strided view per product of runs — over a
channel of ~15 MB cost up to 1.4× on the conv1d/conv3d benchmarks, and the
int64 → int32 casting add of the index arrays another ~1.6× on them).

:func:`replicate_channels` then copies one channel block to the others
(values of a weight Jacobian: equal within a group; columns: equal up to a
per-channel offset) in cache-sized chunks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

__all__ = ["Run", "fill_block", "replicate_channels"]

#: bytes per chunk when replicating a channel block: the source chunk stays in cache
#: while it is copied to every other channel (8 MB: the size tuned for conv2d's weight values)
CHUNK_BYTES = 8 << 20


@dataclass(frozen=True, slots=True)
class Run:
    """One run of one axis: ``m`` positions from the one whose entries start ``before`` entries (of this
    axis) into the axis, ``step`` entries apart, ``n`` entries each; ``shift`` is what a column advances
    per position (0: the rows are equal)."""

    before: int
    m: int
    step: int
    n: int
    shift: int = 0


def _rows(flat: np.ndarray, offset: int, m: int, size: int, step: int) -> np.ndarray:
    """Writable (m, size) view of ``flat`` starting at ``offset``, rows ``step`` entries apart."""
    if m == 1 or step == size:
        return flat[offset : offset + m * size].reshape(m, size)
    return as_strided(flat[offset:], shape=(m, size), strides=(step * flat.itemsize, flat.itemsize))


def fill_block(flat: np.ndarray, axes, cg: int, first_row, *, shifted: bool = False) -> None:
    """Write one block ``flat`` (``cg · Π_ax Σ entries`` long) run by run, in memory order.

    ``axes``: per axis, its runs (:class:`Run`) in position order, runs without entries left out.
    ``first_row(key)``: the entries of the first row of a product of runs, ``key`` the tuple of the
    runs' numbers in ``axes`` — a 1-D array of ``cg · Π n`` entries of ``flat``'s dtype. With
    ``shifted`` the entries of a run's position t are those of its first position plus
    ``t · run.shift`` (columns of an input Jacobian), else equal.
    """
    nd = len(axes)
    totals = [sum(r.m * r.n for r in runs) for runs in axes]
    tail = [int(np.prod(totals[ax + 1 :], dtype=object)) for ax in range(nd)]
    dt = flat.dtype
    shifts = [[r.shift if shifted else 0 for r in runs] for runs in axes]

    def write(level: int, start: int, prefix: int, key: tuple) -> None:
        # one entry of this axis's ``before`` is ``inner`` entries of the slab
        inner = cg * prefix * tail[level]
        for number, run in enumerate(axes[level]):
            size = inner * run.n
            view = _rows(flat, start + run.before * inner, run.m, size, run.step * inner)
            here = key + (number,)
            if level == nd - 1:
                row = first_row(here)
                shift = shifts[level][number]
                if shift and run.m > 1:
                    np.add(row, (np.arange(run.m) * shift).astype(dt)[:, None], out=view)
                else:
                    np.copyto(view, row)  # broadcast down the run
            else:
                write(level + 1, start + run.before * inner, prefix * run.n, here)
                shift = shifts[level][number]
                if run.m > 1:  # view[:1] ends before view[1:] starts: no overlap, no temporary
                    if shift:
                        np.add(view[:1], (np.arange(1, run.m) * shift).astype(dt)[:, None], out=view[1:])
                    else:
                        np.copyto(view[1:], view[:1])

    if nd and all(axes):
        write(0, 0, 1, ())


def replicate_channels(arr: np.ndarray, per: int, groups: int = 1, offsets=None) -> None:
    """Copy each group's first channel block (``per`` entries) to the group's other channels.

    With ``offsets`` (one per channel, ``offsets[0] == 0``, groups = 1): channel o becomes channel 0
    plus ``offsets[o]`` — the columns of channel o when channel 0 holds its own. Chunks of
    :data:`CHUNK_BYTES`: the source chunk stays in cache while it is written to every channel, and
    each destination page is filled right after it is faulted in.
    """
    channels = arr.size // per if per else 0
    if per == 0 or channels <= groups:
        return
    blocks = arr.reshape(groups, channels // groups, per)
    chunk = max(1, CHUNK_BYTES // arr.itemsize)
    if offsets is not None:
        assert groups == 1
        off = np.asarray(offsets).astype(arr.dtype)[1:]
    for s in range(0, per, chunk):
        e = min(s + chunk, per)
        if offsets is not None:
            # one channel at a time: with the offsets as an (channels, 1) operand numpy may
            # put the channel axis innermost (a stride of a whole block): ~10× slower
            src = blocks[0, 0, s:e]
            for o in range(1, channels):
                if off[o - 1]:
                    np.add(src, off[o - 1], out=blocks[0, o, s:e])
                else:  # the same columns (an input Jacobian's group 0): a copy is ~10 % faster
                    np.copyto(blocks[0, o, s:e], src)
        else:
            # one group at a time: with a group axis in both views numpy cannot prove them
            # disjoint and would copy the source chunks first
            for grp in range(groups):
                np.copyto(blocks[grp, 1:, s:e], blocks[grp, :1, s:e])
