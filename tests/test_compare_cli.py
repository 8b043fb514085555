"""`jacobians compare`: file formats, verdicts, JSON, and one-line errors with exit status 2."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

from jacobians.cli import main

GOOD = "X11 X12 X21 X22\nX12 X13 X22 X23\nX21 X22 X31 X32\nX22 X23 X32 X33\n"
COL = "X11 X21 X12 X22\nX12 X22 X13 X23\nX21 X31 X22 X32\nX22 X32 X23 X33\n"
BASE = ["compare", "conv2d", "--input", "1x3x3", "--weight", "1x1x2x2", "--wrt", "weight"]


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def m_x_im(x):
    """M_X^im of a (1, H, W) image and a 2×2 filter, by loops from its formula (row-major)."""
    _, H, W = x.shape
    return np.array([[x[0, i + p, j + q] for p in range(2) for q in range(2)] for i in range(H - 1) for j in range(W - 1)])


def test_symbolic_text_holds_and_column_major_is_diagnosed(tmp_path, capsys):
    (tmp_path / "good.txt").write_text(GOOD)
    (tmp_path / "col.txt").write_text(COL)
    code, out, err = run(BASE + ["--matrix", str(tmp_path / "good.txt")], capsys)
    assert code == 0 and "holds" in out and "symbolic     0 differing" in out and not err
    code, out, err = run(BASE + ["--matrix", str(tmp_path / "col.txt"), "--format", "json"], capsys)
    d = json.loads(out)
    assert code == 1 and set(d) == {"holds", "max_error", "routes", "diagnosis", "differing_entries"}
    assert d["holds"] is False and d["differing_entries"] == 8 and d["routes"]["symbolic"] == 8
    assert [x["name"] for x in d["diagnosis"]][0] == "vec-order-cols"


@pytest.mark.parametrize("fmt", ["npy", "npz", "mtx", "csv"])
def test_numeric_formats_with_values_from_npy(tmp_path, capsys, fmt):
    x = np.random.default_rng(0).standard_normal((1, 4, 4))
    np.save(tmp_path / "x.npy", x)
    M = m_x_im(x)
    path = tmp_path / f"m.{fmt}"
    if fmt == "npy":
        np.save(path, M)
    elif fmt == "npz":
        sp.save_npz(path, sp.csr_array(M))
    elif fmt == "mtx":
        scipy.io.mmwrite(str(path), sp.coo_array(M))
    else:
        path.write_text("\n".join(",".join(repr(float(v)) for v in row) for row in M))
    argv = ["compare", "conv2d", "--input", str(tmp_path / "x.npy"), "--weight", "1x1x2x2", "--wrt", "weight", "--matrix", str(path)]
    code, out, err = run(argv, capsys)
    assert code == 0 and "holds" in out, out + err
    # the same file transposed: denominator layout
    np.save(tmp_path / "t.npy", M.T)
    code, out, _ = run(argv[:-1] + [str(tmp_path / "t.npy")], capsys)
    assert code == 1 and "transpose:" in out and "does NOT hold" in out


def test_gradient_with_upstream(tmp_path, capsys):
    rng = np.random.default_rng(1)
    x, g = rng.standard_normal((1, 4, 4)), rng.standard_normal((1, 3, 3))
    grad = (m_x_im(x).T @ g.ravel()).reshape(1, 1, 2, 2)
    for name, arr in (("x", x), ("g", g), ("right", grad), ("wrong", -grad)):
        np.save(tmp_path / f"{name}.npy", arr)
    argv = ["compare", "conv2d", "--input", str(tmp_path / "x.npy"), "--weight", "1x1x2x2", "--wrt", "weight", "--upstream", str(tmp_path / "g.npy"), "--matrix"]
    assert run(argv + [str(tmp_path / "right.npy")], capsys)[0] == 0
    code, out, _ = run(argv + [str(tmp_path / "wrong.npy"), "--format", "json"], capsys)
    assert code == 1 and [d["name"] for d in json.loads(out)["diagnosis"]] == ["sign"]


def _pickled(path):
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)


def _crafted_header(path):
    """A .npy whose header claims 10¹² float64 entries (and holds none)."""
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)})


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_text("X11 foo(1)\n"), r"--matrix: line 1, entry 2 'foo\(1\)'"),
        (lambda p: p.write_text("__import__('os').system('true')\n"), r"entries must be numbers"),
        (lambda p: p.write_text("X11 X12\nX13\n"), r"rows have different numbers of entries"),
        (lambda p: p.write_text("Y11 Y12 Y21 Y22\n" * 4), r"unknown symbol name 'Y'"),
        (lambda p: p.write_text("1 2\n3 4\n"), r"depends on the values of x; give --input FILE.npy"),
        (lambda p: p.write_text(""), r"is empty"),
        (lambda p: p.write_text("X11 X12 X21\n"), r"candidate: has shape \(1, 3\) but the Jacobian is 4×4"),
    ],
)
def test_text_errors_are_one_line_exit_2(tmp_path, capsys, make, message):
    path = tmp_path / "m.txt"
    make(path)
    code, out, err = run(BASE + ["--matrix", str(path)], capsys)
    assert code == 2 and not out and err.count("\n") == 1, err
    assert __import__("re").search(message, err), err


@pytest.mark.parametrize(
    "name, make, message",
    [
        ("p.npy", _pickled, r"holds Python objects \(pickled data is never loaded\)"),
        ("h.npy", _crafted_header, r"declares 1000000000000 entries"),
        ("t.npy", lambda p: p.write_text("hello"), r"is not a \.npy file"),
        ("a.npz", lambda p: np.savez(p, a=np.ones(2)), r"not a scipy\.sparse matrix"),
        ("b.mtx", lambda p: p.write_text("not a matrix market file"), r"is not a Matrix Market file"),
        ("c.csv", lambda p: p.write_bytes(b"\xff\xfe\x00binary"), r"is not a text file"),
    ],
)
def test_binary_file_errors_are_one_line_exit_2(tmp_path, capsys, name, make, message):
    path = tmp_path / name
    make(path)
    code, out, err = run(BASE + ["--matrix", str(path)], capsys)
    assert code == 2 and err.count("\n") == 1 and __import__("re").search(message, err), err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_is_refused_without_blocking(tmp_path, capsys):
    fifo = tmp_path / "m.npy"
    os.mkfifo(fifo)
    code, _, err = run(BASE + ["--matrix", str(fifo)], capsys)
    assert code == 2 and "is not a regular file" in err
    code, _, err = run(BASE + ["--matrix", str(tmp_path / "missing.txt")], capsys)
    assert code == 2 and "cannot read" in err


def test_usage_errors(tmp_path, capsys):
    (tmp_path / "good.txt").write_text(GOOD)
    code, _, err = run(["compare", "conv2d", "--input", "1x3x3", "--weight", "1x1x2x2", "--wrt", "weight"], capsys)
    assert code == 2 and "--matrix" in err
    code, _, err = run(BASE + ["--matrix", str(tmp_path / "good.txt"), "--convention", "nope"], capsys)
    assert code == 2 and "convention: unknown preset 'nope'" in err
    code, _, err = run(BASE + ["--matrix", str(tmp_path / "good.txt"), "--tol", "5"], capsys)
    assert code == 2 and "--tol: must be between 0 and 1" in err
    code, _, err = run(["compare", "nosuchop", "--matrix", str(tmp_path / "good.txt")], capsys)
    assert code == 2 and "unknown 'nosuchop'" in err


def test_help_mentions_the_formats_and_the_strict_parser(capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    out = capsys.readouterr().out
    assert ".npy" in out and ".mtx" in out and "nothing is evaluated" in out and "rot180" in out


@pytest.mark.parametrize("option", ["--stride", "--padding", "--dilation"])
def test_huge_geometry_values_are_one_line(tmp_path, capsys, option):
    (tmp_path / "good.txt").write_text(GOOD)
    code, out, err = run(BASE + ["--matrix", str(tmp_path / "good.txt"), option, "99999999999999999999"], capsys)
    assert code == 2 and err.count("\n") == 1 and option in err, err


def test_large_jacobian_refused_before_building(tmp_path, capsys):
    (tmp_path / "good.txt").write_text(GOOD)
    code, _, err = run(BASE + ["--matrix", str(tmp_path / "good.txt"), "--padding", "3000"], capsys)
    assert code == 2 and "more than the 4000000 entries" in err


def test_symbols_for_a_non_affine_operator_are_refused(tmp_path, capsys):
    (tmp_path / "m.txt").write_text("X11 X12\n")
    code, _, err = run(["compare", "max_pool2d", "--input", "1x4x4", "--kernel", "2", "--matrix", str(tmp_path / "m.txt")], capsys)
    assert code == 2 and "not affine in x" in err
