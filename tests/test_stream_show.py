"""`jacobians show conv2d --format mtx` streams through jacobians.stream when the CSR exceeds --max-memory.

Route: the streamed file (row blocks of the per-channel block builder, text
per block) against the monolithic export of the same seed (the full builder,
one scipy.io.mmwrite), both read back by scipy.io.mmread.
"""
import os

import numpy as np
import pytest
import scipy.io

import jacobians.stream as stream_mod
from _helpers import run_show as run  # shared by the CLI tests


@pytest.mark.parametrize("extra", [["--padding", "1"], ["--stride", "2", "--groups", "2"]])
def test_streamed_mtx_equals_the_monolithic_export(capsys, tmp_path, extra):
    common = ["conv2d", "--input", "4x9x7", "--weight", "6x2x3x3", *extra, "--format", "mtx", "--seed", "3"]
    if "--groups" not in extra:
        common[4] = "6x4x3x3"
    rc, out, err = run(capsys, *common, "--out", str(tmp_path / "whole.mtx"))
    assert rc == 0, err
    assert "row blocks" not in out
    rc, out, err = run(capsys, *common, "--out", str(tmp_path / "streamed.mtx"), "--max-memory", "12K")
    assert rc == 0, err
    assert "streamed in row blocks" in out, out
    whole = scipy.io.mmread(tmp_path / "whole.mtx").tocsr()
    streamed = scipy.io.mmread(tmp_path / "streamed.mtx").tocsr()
    assert streamed.shape == whole.shape and streamed.nnz == whole.nnz
    np.testing.assert_array_equal(streamed.toarray(), whole.toarray())
    assert sorted(os.listdir(tmp_path)) == ["streamed.mtx", "whole.mtx"]  # no part files left


def test_streaming_failure_leaves_no_file(capsys, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        yield 0, None  # not a block: write_mtx fails part-way

    monkeypatch.setattr(stream_mod, "conv2d_input_jacobian_blocks", broken)
    rc, _, err = run(capsys, "conv2d", "--input", "2x6x6", "--weight", "3x2x3x3", "--format", "mtx",
                     "--out", str(tmp_path / "J.mtx"), "--max-memory", "8K")
    assert rc != 0 and err
    assert os.listdir(tmp_path) == []


def test_other_formats_and_operators_are_still_refused(capsys, tmp_path):
    rc, _, err = run(capsys, "conv2d", "--input", "2x6x6", "--weight", "3x2x3x3", "--format", "npz",
                     "--out", str(tmp_path / "J.npz"), "--max-memory", "8K")
    assert rc == 2 and "--max-memory" in err
    rc, _, err = run(capsys, "conv2d", "--input", "2x6x6", "--weight", "3x2x3x3", "--wrt", "weight", "--format", "mtx",
                     "--out", str(tmp_path / "W.mtx"), "--max-memory", "8K")
    assert rc == 2 and "--max-memory" in err
    assert os.listdir(tmp_path) == []
