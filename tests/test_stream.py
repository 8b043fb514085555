"""Row-block builders and the streamed .mtx export.

Routes: the blocks against the monolithic builder (a different path: the
full fast CSR fill), the streamed file read back by scipy.io.mmread against
the monolithic matrix; resident memory bounded by a block (tracemalloc).
"""
import tracemalloc

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

from jacobians import conv2d_input_jacobian
from jacobians.stream import conv2d_input_block, conv2d_input_jacobian_blocks, conv2d_input_nnz, write_mtx

GEOMS = [
    ((4, 3, 3, 3), (3, 7, 6), 1, 1, 1, 1),
    ((6, 2, 2, 3), (4, 7, 8), 2, (1, 0), 1, 2),
    ((3, 1, 3, 3), (3, 9, 9), (2, 3), 2, 2, 3),
]


@pytest.mark.parametrize("wshape,ishape,stride,padding,dilation,groups", GEOMS)
@pytest.mark.parametrize("block_nnz", [1, 50, 10**9])
def test_blocks_cover_the_monolithic_matrix(wshape, ishape, stride, padding, dilation, groups, block_nnz):
    w = np.random.default_rng(0).standard_normal(wshape)
    full = conv2d_input_jacobian(w, ishape, stride, padding, dilation, groups)
    assert conv2d_input_nnz(wshape, ishape, stride, padding, dilation, groups) == full.nnz
    blocks = list(conv2d_input_jacobian_blocks(w, ishape, stride, padding, dilation, groups, max_block_nnz=block_nnz))
    rows = [r for r, _ in blocks]
    assert rows == sorted(rows) and rows[0] == 0
    stacked = sp.vstack([b for _, b in blocks]).toarray()
    np.testing.assert_array_equal(stacked, full.toarray())


@pytest.mark.parametrize("wshape,ishape,stride,padding,dilation,groups", GEOMS)
def test_streamed_mtx_reads_back_exactly(tmp_path, wshape, ishape, stride, padding, dilation, groups):
    w = np.random.default_rng(1).standard_normal(wshape)
    full = conv2d_input_jacobian(w, ishape, stride, padding, dilation, groups)
    path = tmp_path / "J.mtx"
    blocks = conv2d_input_jacobian_blocks(w, ishape, stride, padding, dilation, groups, max_block_nnz=40)
    n = write_mtx(blocks, full.shape, full.nnz, path, comment="test", progress=False)
    assert n == full.nnz
    back = scipy.io.mmread(path)
    np.testing.assert_array_equal(back.toarray(), full.toarray())  # shortest round-trip repr: exact
    assert not list(tmp_path.glob(".*.part"))


def test_wrong_nnz_or_gap_leaves_no_file(tmp_path):
    w = np.ones((2, 1, 2, 2))
    full = conv2d_input_jacobian(w, (1, 3, 3))
    path = tmp_path / "J.mtx"
    with pytest.raises(ValueError, match="expected"):
        write_mtx(conv2d_input_jacobian_blocks(w, (1, 3, 3), max_block_nnz=1), full.shape, full.nnz + 1, path, progress=False)
    blocks = list(conv2d_input_jacobian_blocks(w, (1, 3, 3), max_block_nnz=1))
    with pytest.raises(ValueError, match="does not continue"):
        write_mtx(blocks[1:], full.shape, full.nnz, path, progress=False)
    assert not list(tmp_path.iterdir())


def test_block_memory_is_bounded(tmp_path):
    """Peak traced memory of a streamed export stays near one block, far below the whole matrix."""
    w = np.random.default_rng(2).standard_normal((32, 8, 3, 3))
    shape_in = (8, 32, 32)
    nnz = conv2d_input_nnz(w.shape, shape_in, padding=1)
    whole = nnz * 12
    tracemalloc.start()
    write_mtx(conv2d_input_jacobian_blocks(w, shape_in, padding=1, max_block_nnz=nnz // 32), (32 * 1024, 8 * 1024),
              nnz, tmp_path / "J.mtx", progress=False)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # one block is 1/32 of the matrix; formatting it holds ~80 bytes per entry (< 7x its CSR)
    assert peak < 7 * whole / 32, f"peak {peak} bytes vs whole CSR {whole} bytes"


def test_block_arguments_refused_in_one_line():
    w = np.ones((4, 1, 2, 2))
    with pytest.raises(ValueError, match=r"^channels: a block must lie within one group"):
        conv2d_input_block(w, (2, 3, 3), slice(1, 3), groups=2)
    with pytest.raises(ValueError, match=r"^channels: must be a non-empty"):
        conv2d_input_block(w, (2, 3, 3), slice(3, 3), groups=2)
