"""`jacobians show`: in-process through jacobians.cli.main, and a few real subprocess runs.

Numeric exports are compared with Jacobians probed column by column through
the *forward* (J e_l = f(e_l) − f(0) for affine operators), never with the
builder that produced them. Symbolic output is compared with the matrix note
004 (DD2424 lecture 6) prints.
"""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jacobians.cli import main
from jacobians.conventions import PRESETS
from jacobians.ops.conv2d import conv2d
from _helpers import assert_usage_error, run_show as run  # shared by the CLI tests

SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def forward_probe(f, in_shape, out_size):
    """Dense Jacobian of an affine map, one forward call per input entry."""
    n = int(np.prod(in_shape))
    y0 = np.asarray(f(np.zeros(in_shape))).ravel()
    J = np.empty((out_size, n))
    for k in range(n):
        e = np.zeros(n)
        e[k] = 1.0
        J[:, k] = np.asarray(f(e.reshape(in_shape))).ravel() - y0
    return J


def col_major_perm(shape):
    """Canonical C-order position of each entry of a column-major-per-plane vec (planes stacked)."""
    idx = np.arange(int(np.prod(shape))).reshape(shape)
    return np.stack([plane.ravel(order="F") for plane in idx.reshape(-1, *shape[-2:])]).ravel()


# ---------------------------------------------------------------------------
# symbolic display: note 004's 16 × 9 M_X^im
# ---------------------------------------------------------------------------
def matrix_rows(out):
    """Entries of the printed matrix, row by row (bracket characters stripped)."""
    rows = []
    for line in out.splitlines()[1:]:
        if not line.startswith(("⎡", "⎢", "⎣", "[")):
            continue  # the params line, the values notes
        body = line.strip().strip("⎡⎤⎢⎥⎣⎦[]").split()
        if body:
            rows.append(body)
    return rows


def test_note004_m_x_im_symbolic(capsys):
    rc, out, err = run(capsys, "conv2d", "--input", "1x6x6", "--weight", "1x1x3x3", "--wrt", "weight")
    assert rc == 0, err
    rows = matrix_rows(out)
    assert len(rows) == 16 and all(len(r) == 9 for r in rows)
    # first, fifth and last rows exactly as the lecture prints them (1-based X_ij)
    note = {
        0: "X11 X12 X13 X21 X22 X23 X31 X32 X33",
        4: "X21 X22 X23 X31 X32 X33 X41 X42 X43",
        15: "X44 X45 X46 X54 X55 X56 X64 X65 X66",
    }
    for r, text in note.items():
        assert rows[r] == [t.translate(SUBSCRIPT).replace("X", "X") for t in text.split()], rows[r]
    # every row: output (i, j) reads X_{i+a, j+b}, an independent restatement of the lecture's rule
    for r, row in enumerate(rows):
        i, j = divmod(r, 4)
        assert row == [f"X{i + a + 1}{j + b + 1}".translate(SUBSCRIPT) for a in range(3) for b in range(3)]
    assert "16×9" in out.splitlines()[0]


def test_ascii_and_latex_formats(capsys):
    rc, out, _ = run(capsys, "conv2d", "--input", "1x4x4", "--weight", "1x1x2x2", "--wrt", "weight", "--format", "ascii")
    assert rc == 0 and "X_11" in out and all(ord(ch) < 128 for ch in out)
    rc, out, _ = run(capsys, "conv2d", "--input", "1x4x4", "--weight", "1x1x2x2", "--format", "latex")
    assert rc == 0 and "\\begin{" in out and "F_{11}" in out and "F_{22}" in out
    assert out.startswith("% conv2d")  # the header is a LaTeX comment


def test_convention_permutes_symbolic_rows_and_columns(capsys):
    """vardhan2022 (column-major vec): row k of the permuted matrix is output (i, j) with k = j·OH + i."""
    rc, out, err = run(capsys, "conv2d", "--input", "1x4x4", "--weight", "1x1x2x2", "--wrt", "weight", "--convention", "vardhan2022")
    assert rc == 0, err
    rows = matrix_rows(out)
    assert len(rows) == 9
    for k, row in enumerate(rows):
        j, i = divmod(k, 3)  # column-major over the 3 × 3 output
        # columns: weight taps column-major too, (a, b) with position b·2 + a
        expected = [f"X{i + a + 1}{j + b + 1}".translate(SUBSCRIPT) for b in range(2) for a in range(2)]
        assert row == expected


# ---------------------------------------------------------------------------
# numeric exports against forward probes
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "geom",
    [
        dict(x=(2, 5, 6), w=(3, 2, 3, 2), stride="1", padding="1", dilation="1", groups="1"),
        dict(x=(2, 7, 7), w=(2, 1, 3, 3), stride="2x1", padding="0,1,2,0", dilation="2", groups="2"),
    ],
)
def test_npz_and_mtx_exports_match_forward_probes(capsys, tmp_path, geom):
    rng = np.random.default_rng(0)
    weight = rng.standard_normal(geom["w"])
    np.save(tmp_path / "w.npy", weight)
    stride = tuple(int(v) for v in geom["stride"].split("x")) if "x" in geom["stride"] else int(geom["stride"])
    padding = tuple(int(v) for v in geom["padding"].split(",")) if "," in geom["padding"] else int(geom["padding"])
    p = dict(stride=stride, padding=padding, dilation=int(geom["dilation"]), groups=int(geom["groups"]))
    y = conv2d(np.zeros(geom["x"]), weight, **p)
    J_ref = forward_probe(lambda x: conv2d(x, weight, **p), geom["x"], y.size)
    common = [
        "conv2d", "--input", "x".join(map(str, geom["x"])), "--weight", "x".join(map(str, geom["w"])),
        "--stride", geom["stride"], "--padding", geom["padding"], "--dilation", geom["dilation"],
        "--groups", geom["groups"], "--values", str(tmp_path / "w.npy"),
    ]
    rc, out, err = run(capsys, *common, "--format", "npz", "--out", str(tmp_path / "J.npz"))
    assert rc == 0, err
    J = sp.load_npz(tmp_path / "J.npz")
    np.testing.assert_allclose(J.toarray(), J_ref, rtol=0, atol=1e-12)
    rc, out, err = run(capsys, *common, "--format", "mtx", "--out", str(tmp_path / "J.mtx"))
    assert rc == 0, err
    M = scipy.io.mmread(tmp_path / "J.mtx")
    np.testing.assert_allclose(sp.csr_array(M).toarray(), J_ref, rtol=0, atol=1e-12)
    assert (tmp_path / "J.mtx").read_text().startswith("%%MatrixMarket matrix coordinate real general")


def test_npz_with_column_major_convention(capsys, tmp_path):
    rng = np.random.default_rng(1)
    weight = rng.standard_normal((2, 2, 2, 2))
    x_shape = (2, 3, 4)
    np.save(tmp_path / "w.npy", weight)
    y_shape = conv2d(np.zeros(x_shape), weight).shape
    J_ref = forward_probe(lambda x: conv2d(x, weight), x_shape, int(np.prod(y_shape)))
    J_col = J_ref[np.ix_(col_major_perm(y_shape), col_major_perm(x_shape))]
    rc, _, err = run(
        capsys, "conv2d", "--input", "2x3x4", "--weight", "2x2x2x2", "--values", str(tmp_path / "w.npy"),
        "--convention", "vardhan2022", "--format", "npz", "--out", str(tmp_path / "J.npz"),
    )
    assert rc == 0, err
    np.testing.assert_allclose(sp.load_npz(tmp_path / "J.npz").toarray(), J_col, rtol=0, atol=1e-12)


def test_weight_jacobian_with_input_values_file(capsys, tmp_path):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 5, 5))
    np.save(tmp_path / "x.npy", x)
    J_ref = forward_probe(lambda w: conv2d(x, w, padding=1), (2, 1, 3, 3), 2 * 25)
    rc, _, err = run(
        capsys, "conv2d", "--input", "1x5x5", "--weight", "2x1x3x3", "--padding", "1", "--wrt", "weight",
        "--values", str(tmp_path / "x.npy"), "--format", "npz", "--out", str(tmp_path / "J.npz"),
    )
    assert rc == 0, err
    np.testing.assert_allclose(sp.load_npz(tmp_path / "J.npz").toarray(), J_ref, rtol=0, atol=1e-12)


def test_pooling_and_im2col_exports(capsys, tmp_path):
    from jacobians.ops.pooling import avg_pool2d

    J_ref = forward_probe(lambda x: avg_pool2d(x, 2, 2), (2, 4, 6), 2 * 2 * 3)
    rc, _, err = run(capsys, "avg_pool2d", "--input", "2x4x6", "--kernel", "2", "--stride", "2",
                     "--format", "npz", "--out", str(tmp_path / "a.npz"))
    assert rc == 0, err
    np.testing.assert_allclose(sp.load_npz(tmp_path / "a.npz").toarray(), J_ref, rtol=0, atol=1e-15)
    from jacobians.ops.conv2d import im2col

    J_ref = forward_probe(lambda x: im2col(x, (2, 3), 1, 1), (2, 3, 4), 4 * 4 * 12)
    rc, _, err = run(capsys, "im2col", "--input", "2x3x4", "--kernel", "2x3", "--padding", "1",
                     "--format", "npz", "--out", str(tmp_path / "i.npz"))
    assert rc == 0, err
    np.testing.assert_array_equal(sp.load_npz(tmp_path / "i.npz").toarray(), J_ref)


def test_max_pool_mask_from_values_file(capsys, tmp_path):
    x = np.array([[[1.0, 5, 2, 0], [3, 4, 8, 1], [0, 0, 1, 2], [9, 0, 3, 7]]])
    np.save(tmp_path / "x.npy", x)
    rc, _, err = run(capsys, "max_pool2d", "--input", "1x4x4", "--kernel", "2x2", "--values", str(tmp_path / "x.npy"),
                     "--format", "npz", "--out", str(tmp_path / "m.npz"))
    assert rc == 0, err
    M = sp.load_npz(tmp_path / "m.npz").toarray()
    # argmax positions of each 2 × 2 window, found by hand: 5 at (0,1), 8 at (1,2), 9 at (3,0), 7 at (3,3)
    expected = np.zeros((4, 16))
    for r, (i, j) in enumerate([(0, 1), (1, 2), (3, 0), (3, 3)]):
        expected[r, i * 4 + j] = 1
    np.testing.assert_array_equal(M, expected)


# ---------------------------------------------------------------------------
# summaries, stats, pattern, plots
# ---------------------------------------------------------------------------
def test_large_operator_prints_a_bounded_summary(capsys):
    rc, out, err = run(capsys, "conv2d", "--input", "3x64x64", "--weight", "8x3x3x3", "--padding", "1")
    assert rc == 0, err
    lines = out.splitlines()
    # header, params line, 5 summary lines, ≤ 40 pattern lines, 2 lines on the (too large to print) random weight
    assert len(lines) <= 49 and max(len(line) for line in lines) <= 120
    nnz = 8 * 3 * (3 * 64 - 2) ** 2  # C_out·C_in·Σn_h·Σn_w, with Σ over 64 rows of taps inside = 3·64 − 2
    assert f"nnz      {nnz}" in out
    assert "density" in out and "bytes    CSR" in out


def test_stats_format(capsys):
    rc, out, err = run(capsys, "conv2d", "--input", "2x6x6", "--weight", "3x2x3x3", "--format", "stats")
    assert rc == 0, err
    assert "nnz             864" in out  # 3·2·(4·3)·(4·3)
    assert "BTTB            yes" in out
    rc, out, _ = run(capsys, "conv2d", "--input", "2x6x6", "--weight", "3x2x3x3", "--wrt", "weight", "--format", "stats")
    assert "block diagonal  yes (blocks 16 x 18)" in out
    rc, out, _ = run(capsys, "conv2d", "--input", "2x7x7", "--weight", "3x2x3x3", "--stride", "2", "--format", "stats")
    assert rc == 0 and "BTTB" not in out  # no Toeplitz claim at stride 2
    # stride 2, 3×3 kernel on 7 rows: rows are read by 1,1,2,1,2,1,1 windows; × 3 output channels
    assert "column counts   min 3  max 12" in out
    assert "{count: inputs} 3:50, 6:40, 12:8" in out  # (5·5, 2·5·2, 2·2) pixels × 2 input channels


def test_pattern_format_and_stdout_out_file(capsys, tmp_path):
    rc, out, err = run(capsys, "conv2d", "--input", "1x40x40", "--kernel", "5x5", "--format", "pattern",
                       "--out", str(tmp_path / "p.txt"))
    assert rc == 0 and out == "", err
    lines = (tmp_path / "p.txt").read_text(encoding="utf-8").splitlines()
    assert lines[1].startswith("params: ")
    end = next(i for i, line in enumerate(lines) if line.startswith("values: weight standard normal"))
    pattern = lines[2:end]
    assert len(pattern) <= 40 and max(len(line) for line in pattern) <= 80


def test_plot_png_and_svg(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    rc, _, err = run(capsys, "conv2d", "--input", "2x6x6", "--weight", "2x2x3x3", "--format", "stats", "--plot", str(tmp_path / "s.png"))
    assert rc == 0, err
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    rc, _, err = run(capsys, "conv2d", "--input", "1x6x6", "--weight", "1x1x3x3", "--wrt", "weight", "--plot", str(tmp_path / "s.svg"))
    assert rc == 0, err
    assert b"<svg" in (tmp_path / "s.svg").read_bytes()[:2000]


def test_every_registered_operator_prints_stats(capsys):
    """Every operator's declared example, as --format stats: always status 0 with the operator's header."""
    from jacobians.registry import load_all

    for name, spec in sorted(load_all().items()):
        rc, out, err = run(capsys, name, *spec.extra["show"].example, "--format", "stats")
        assert rc == 0, f"{name}: {err}"
        assert out.startswith(f"{name}: dvec(y)/dvec(")
        assert "nnz " in out


def test_operator_without_show_metadata(capsys, monkeypatch):
    """One input: shown from --input alone; several inputs: one line naming the missing metadata."""
    import jacobians.registry as registry
    from jacobians.ops.activation import relu, relu_jacobian, relu_vjp_hadamard

    scratch = {}
    registry.register("one_input_op", summary="relu again", forward=relu, jacobian={"z": lambda z: relu_jacobian(z)},
                      vjp={"z": {"h": relu_vjp_hadamard}}, cases=lambda: [], registry=scratch)
    registry.register("two_input_op", summary="x·w", forward=lambda x, w: x * w,
                      jacobian={"x": lambda x, w: sp.diags(np.ravel(w))}, vjp={"x": {"h": lambda g, x, w: g * w}},
                      cases=lambda: [], registry=scratch)
    for name, spec in scratch.items():
        monkeypatch.setitem(registry.OPERATORS, name, spec)
    rc, out, err = run(capsys, "one_input_op", "--input", "2x2", "--values", "ones")
    assert rc == 0, err
    assert out.startswith("one_input_op: ∂vec(y)/∂vec(z), 4×4")
    rc, out, err = run(capsys, "two_input_op", "--input", "2x2")
    assert_usage_error(rc, err, "declares no `show` metadata")


# ---------------------------------------------------------------------------
# limits and atomic writes
# ---------------------------------------------------------------------------
def test_memory_limit_refuses_before_building(capsys):
    # 64·512·(3·224 − 2)² ≈ 14.7 G nonzeros: refused by the default 4 GiB limit without building
    rc, _, err = run(capsys, "conv2d", "--input", "512x224x224", "--weight", "64x512x3x3", "--padding", "1")
    assert_usage_error(rc, err, "--max-memory")
    nnz = 64 * 512 * (3 * 224 - 2) ** 2
    assert str(nnz) in err and str(4 * 2**30) in err
    rc, _, err = run(capsys, "conv2d", "--input", "1x6x6", "--weight", "1x1x3x3", "--max-memory", "1K")
    assert_usage_error(rc, err, "above the limit of 1024 bytes")
    rc, out, _ = run(capsys, "conv2d", "--input", "1x6x6", "--weight", "1x1x3x3", "--max-memory", "2.5KiB", "--format", "stats")
    assert rc == 0  # 144 nonzeros: 144·12 + 17·4 = 1796 bytes


def test_failing_write_leaves_no_file(capsys, tmp_path, monkeypatch):
    import scipy.sparse

    target = tmp_path / "J.npz"

    def broken_save(file, matrix, compressed=True):
        file.write(b"PK\x03\x04 partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(scipy.sparse, "save_npz", broken_save)
    rc, _, err = run(capsys, "conv2d", "--input", "1x6x6", "--kernel", "3x3", "--format", "npz", "--out", str(target))
    assert_usage_error(rc, err, "No space left")
    assert list(tmp_path.iterdir()) == []

    # an existing file survives a failed overwrite, and an interrupt leaves no temporary behind
    target.write_bytes(b"old")

    def interrupted_save(file, matrix, compressed=True):
        file.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(scipy.sparse, "save_npz", interrupted_save)
    assert main(["show", "conv2d", "--input", "1x6x6", "--kernel", "3x3", "--format", "npz", "--out", str(target)]) == 130
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["J.npz"]


def test_atomic_open_replaces_only_on_success(tmp_path):
    from jacobians._atomic import atomic_open, atomic_write_text

    atomic_write_text(tmp_path / "a.txt", "one\n")
    with pytest.raises(RuntimeError):
        with atomic_open(tmp_path / "a.txt", "w") as fh:
            fh.write("two")
            raise RuntimeError("boom")
    assert (tmp_path / "a.txt").read_text() == "one\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


# ---------------------------------------------------------------------------
# bad arguments: one line, exit 2
# ---------------------------------------------------------------------------
def write_bad_files(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    (tmp_path / "text.npy").write_text("not an array")
    np.save(tmp_path / "wrong.npy", np.zeros((2, 6, 6)))
    np.save(tmp_path / "str.npy", np.array(["a", "b"]))
    return tmp_path


BAD = [
    (["conv2d", "--input", "1x6xa", "--kernel", "3x3"], "--input"),
    (["conv2d", "--input", "1x6", "--kernel", "3x3"], "CxHxW"),
    (["conv2d", "--input", "1x0x6", "--kernel", "3x3"], "--input"),
    (["conv2d", "--input", "1x-6x6", "--kernel", "3x3"], "--input"),
    (["conv2d", "--input", "1x6x6", "--weight", "1x2x3x3"], "weight_shape"),
    (["conv2d", "--input", "1x2x2", "--kernel", "3x3"], "kernel_size"),
    (["conv2d", "--input", "1x6x6", "--kernel", "3x3", "--stride", "0"], "stride"),
    (["conv2d", "--input", "1x6x6", "--kernel", "3x3", "--padding", "1,2,3"], "padding"),
    (["conv2d", "--input", "4x6x6", "--kernel", "3x3", "--groups", "3"], "groups"),
    (["conv2d", "--input", "1x6x6"], "--weight"),
    (["conv2d", "--input", "1x6x6", "--kernel", "3x3", "--wrt", "nothing"], "--wrt"),
    (["nosuchop", "--input", "1x6x6"], "unknown"),
    (["conv2d", "--input", "1x6x6", "--kernel", "3x3", "--convention", "nosuch"], "convention"),
    (["conv2d", "--input", "1x6x6", "--kernel", "3x3", "--format", "npz"], "--out"),
    (["conv2d", "--input", "1x6x6", "--kernel", "3x3", "--plot", "x.pdf"], "--plot"),
    (["conv2d", "--input", "1x6x6", "--kernel", "3x3", "--max-memory", "lots"], "--max-memory"),
    (["conv2d", "--input", "1x6x6", "--kernel", "3x3", "--values", "{obj}"], "pickled"),
    (["conv2d", "--input", "1x6x6", "--kernel", "3x3", "--values", "{text}"], "--values"),
    (["conv2d", "--input", "1x6x6", "--kernel", "3x3", "--wrt", "weight", "--values", "{wrong}"], "--input"),
    (["conv2d", "--input", "1x6x6", "--kernel", "3x3", "--wrt", "weight", "--values", "{str}"], "--values"),
    (["conv2d", "--input", "1x6x6", "--kernel", "3x3", "--values", "missing.npy"], "--values"),
    (["conv2d", "--input", "1x6x6", "--kernel", "3x3", "--values", "symbolic", "--format", "mtx", "--out", "{dir}/a.mtx"], "symbolic"),
    (["conv2d", "--input", "1x6x6", "--kernel", "3x3", "--out", "/nonexistent/dir/a.txt"], "--out"),
    (["im2col", "--input", "1x6x6", "--kernel", "3x3", "--groups", "2"], "--groups"),
    (["conv2d", "--input", "1x6x6", "--kernel", "3x3", "--seed", "-1"], "--seed"),
    (["conv2d", "--input", "3x64x64", "--kernel", "3x3", "--full"], "--full"),
]


def materialize(argv, tmp_path):
    names = {"obj": tmp_path / "obj.npy", "text": tmp_path / "text.npy", "wrong": tmp_path / "wrong.npy",
             "str": tmp_path / "str.npy", "dir": tmp_path}
    return [a.format(**{k: str(v) for k, v in names.items()}) if "{" in a else a for a in argv]


@pytest.mark.parametrize("argv,needle", BAD, ids=[" ".join(a[:1] + a[-2:]) for a, _ in BAD])
def test_bad_arguments_in_process(capsys, tmp_path, argv, needle):
    write_bad_files(tmp_path)
    rc, out, err = run(capsys, *materialize(argv, tmp_path))
    assert_usage_error(rc, err, needle)
    assert list(p.name for p in tmp_path.iterdir() if p.suffix not in (".npy",)) == []  # nothing written


MALFORMED_DIMS = ["", "0", "-1", "a", "1.5", "1e3", "3 3", "+2", "0x1", "３", "1_0", "nan", "∞", "0b1", "(2"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    dims=st.lists(st.sampled_from(["1", "2", "6"]), min_size=1, max_size=4),
    bad=st.sampled_from(MALFORMED_DIMS),
    position=st.integers(0, 4),
    option=st.sampled_from(["--input", "--weight", "--kernel", "--stride", "--dilation", "--padding"]),
)
def test_malformed_shapes_sweep_in_process(capsys, dims, bad, position, option):
    if option == "--padding" and bad in ("0", "0x1"):
        bad = "-1"  # zero padding is valid, and 2N values (e.g. 0x1x1x1) are per-side padding, as the geometry reads them
    dims = list(dims)
    dims.insert(min(position, len(dims)), bad)
    text = "x".join(dims)
    argv = {"--input": ["conv2d", "--input", text, "--kernel", "3x3"],
            "--weight": ["conv2d", "--input", "1x6x6", "--weight", text]}.get(
        option, ["conv2d", "--input", "1x6x6", "--kernel", "3x3", option, text])
    rc, out, err = run(capsys, *argv)
    assert_usage_error(rc, err)
    assert out == ""


# ---------------------------------------------------------------------------
# the real console script (each call ~0.3–1 s: kept to a handful + the sweep)
# ---------------------------------------------------------------------------
def cli(*argv, exe=None):
    cmd = [exe] if exe else [sys.executable, "-m", "jacobians"]
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    return subprocess.run(cmd + ["show", *argv], capture_output=True, text=True, encoding="utf-8", timeout=120, env=env)


def test_console_script_module_prints_note_example():
    res = cli("conv2d", "--input", "1x6x6", "--weight", "1x1x3x3", "--wrt", "weight")
    assert res.returncode == 0, res.stderr
    rows = matrix_rows(res.stdout)
    assert len(rows) == 16 and rows[0][0] == "X₁₁" and rows[-1][-1] == "X₆₆"


def test_installed_entry_point():
    exe = shutil.which("jacobians")
    if exe is None:
        pytest.skip("the `jacobians` console script is not installed (pip install .)")
    res = cli("conv2d", "--input", "2x5x5", "--kernel", "3x3", "--format", "stats", exe=exe)
    assert res.returncode == 0, res.stderr
    assert "nnz             162" in res.stdout  # C_out 1 · C_in 2 · Σn_h 9 · Σn_w 9
    res = cli("conv2d", "--input", "2x5x5", "--kernel", "9x9", exe=exe)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


SUBPROCESS_BAD = [a for a, _ in BAD if not any("{" in t for t in a)][:11] + [
    ["conv2d", "--input", "1x6x6", "--kernel", "3x3", "--values", "{obj}"],
    ["conv2d", "--input", "1x6x6", "--kernel", "3x3", "--wrt", "weight", "--values", "{wrong}"],
    ["conv2d", "--input", "3x6x6", "--kernel", "3x3", "--stride", "1x0"],
    ["conv2d", "--input", "1x6x6x", "--kernel", "3x3"],
    ["show-me"],
]


@pytest.mark.parametrize("argv", SUBPROCESS_BAD, ids=[" ".join(a[-2:]) for a in SUBPROCESS_BAD])
def test_bad_arguments_real_console_script(tmp_path, argv):
    write_bad_files(tmp_path)
    res = cli(*materialize(argv, tmp_path))
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert len(res.stderr.strip("\n").split("\n")) == 1, res.stderr
    assert "Traceback" not in res.stderr and res.stdout == ""


def test_presets_are_read_from_conventions(capsys):
    for name in PRESETS:
        rc, out, err = run(capsys, "conv2d", "--input", "1x3x3", "--kernel", "2x2", "--convention", name, "--values", "ones")
        assert rc == 0, err
        assert f"convention {name}" in out


def test_generic_operators_limits_and_options(capsys):
    # the dense input alone is checked against the limit before anything is allocated
    rc, _, err = run(capsys, "relu", "--input", "1x100000x100000")
    assert_usage_error(rc, err, "--max-memory")
    rc, _, err = run(capsys, "relu", "--input", "1x4x4", "--stride", "2")
    assert_usage_error(rc, err, "--stride: relu takes --input")
    # symbolic is only the default for small affine maps; linear layers print I ⊗ W with symbols
    rc, out, err = run(capsys, "linear_xwt", "--input", "2x3", "--weight", "4x3")
    assert rc == 0, err
    assert out.startswith("linear_xwt: ") and "8×6" in out.splitlines()[0] and "symbols 1-based" in out


def test_every_registered_operator_and_input_can_be_shown(capsys):
    """Each operator's declared example (its ShowSpec), for every input it has a Jacobian for."""
    from jacobians.commands.show import operator_help
    from jacobians.registry import load_all

    for name, spec in sorted(load_all().items()):
        show = spec.extra.get("show")
        assert show is not None and show.example, f"{name}: no show metadata with an example"
        assert f"jacobians show {name} " in operator_help(spec)
        for wrt in spec.jacobian:
            rc, out, err = run(capsys, name, *show.example, "--wrt", wrt, "--values", "random")
            assert rc == 0, f"{name} --wrt {wrt}: {err}"
            assert out.startswith(f"{name}: ∂vec(y)/∂vec({wrt})"), out[:80]


@pytest.mark.parametrize(
    "argv,inputs,wrt",
    [
        (["linear_xw_b", "--input", "2x3", "--weight", "3x4", "--wrt", "bias"],
         lambda r: {"x": r.standard_normal((2, 3)), "weight": r.standard_normal((3, 4))}, "bias"),
        (["linear_wvec_b", "--input", "2x3x3", "--weight", "4x18", "--wrt", "bias"],
         lambda r: {"h": r.standard_normal((2, 3, 3)), "weight": r.standard_normal((4, 18))}, "bias"),
    ],
)
def test_bias_follows_the_requested_weight(capsys, tmp_path, argv, inputs, wrt):
    """The bias Jacobian exported for a resized weight equals probing the forward (an independent route)."""
    import scipy.sparse as sp

    from jacobians.registry import get_operator

    out_file = tmp_path / "j.npz"
    rc, _, err = run(capsys, *argv, "--format", "npz", "--out", str(out_file))
    assert rc == 0, err
    J = sp.load_npz(out_file).toarray()
    spec = get_operator(argv[0])
    arrays = inputs(np.random.default_rng(0))
    n_bias = J.shape[1]
    base = np.asarray(spec.forward(**arrays, bias=np.zeros(n_bias))).ravel()
    probed = np.stack([np.asarray(spec.forward(**arrays, bias=np.eye(n_bias)[k])).ravel() - base for k in range(n_bias)], 1)
    np.testing.assert_allclose(J, probed, rtol=0, atol=1e-12)


def test_xu2020_kron_adapter_maps_image_and_filters(capsys, tmp_path):
    """--input is the image and --weight the filters; the exported Jacobian w.r.t. the image is the
    conv2d input Jacobian up to the im2col/O_f orderings, so compare it by probing the forward."""
    import scipy.sparse as sp

    from jacobians.registry import get_operator

    out_file = tmp_path / "k.npz"
    values = tmp_path / "f.npy"
    f_f = np.random.default_rng(1).standard_normal((1 * 2 * 2, 3))
    np.save(values, f_f)
    rc, _, err = run(capsys, "xu2020_kron", "--input", "1x4x5", "--weight", "3x1x2x2", "--values", str(values),
                     "--format", "npz", "--out", str(out_file))
    assert rc == 0, err
    J = sp.load_npz(out_file).toarray()
    spec = get_operator("xu2020_kron")
    p = dict(kernel_size=(2, 2), stride=1, padding=0, dilation=1)
    probed = np.stack([np.asarray(spec.forward(x=np.eye(20)[k].reshape(1, 4, 5), f_f=f_f, **p)).ravel()
                       for k in range(20)], 1)
    np.testing.assert_allclose(J, probed, rtol=0, atol=1e-12)
    rc, _, err = run(capsys, "xu2020_kron", "--input", "2x4x5", "--weight", "3x1x2x2")
    assert_usage_error(rc, err, "--weight")


# ---------------------------------------------------------------------------
# the newcomer's path (issue #12): no hidden inputs, symbols stated, values printed
# ---------------------------------------------------------------------------
def test_linear_layer_symbolic_is_identity_kron_w(capsys):
    """Z = X Wᵀ with X 2×3, W 4×3: ∂vec Z/∂vec X = I₂ ⊗ W, row (i, o) holds W_o1 … W_o3 in block i."""
    rc, out, err = run(capsys, "linear_xwt", "--input", "2x3", "--weight", "4x3", "--values", "symbolic")
    assert rc == 0, err
    rows = matrix_rows(out)
    assert len(rows) == 8
    for r, row in enumerate(rows):
        i, o = divmod(r, 4)
        expected = ["0"] * 6
        expected[3 * i: 3 * i + 3] = [f"W{o + 1}{k + 1}".translate(SUBSCRIPT) for k in range(3)]
        assert row == expected, (r, row)


def test_index_base_rule_is_stated(capsys):
    rc, out, _ = run(capsys, "conv2d", "--input", "1x3x3", "--weight", "1x1x2x2", "--format", "ascii")
    assert rc == 0 and "convention canonical, symbols 1-based" in out.splitlines()[0] and "F_11" in out
    rc, out, _ = run(capsys, "conv2d", "--input", "1x3x3", "--weight", "1x1x2x2", "--format", "ascii", "--convention", "canonical")
    assert rc == 0 and "convention canonical, symbols 0-based" in out.splitlines()[0] and "F_00" in out and "F_11" in out
    rc, out, _ = run(capsys, "conv2d", "--input", "1x3x3", "--weight", "1x1x2x2", "--format", "ascii",
                     "--convention", "canonical", "--index-base", "1")
    assert rc == 0 and "symbols 1-based" in out.splitlines()[0] and "F_00" not in out
    rc, out, _ = run(capsys, "conv2d", "--input", "1x3x3", "--weight", "1x1x2x2", "--values", "ones")
    assert rc == 0 and "based" not in out.splitlines()[0]  # no symbols, no base


def parse_printed_values(out, name):
    """The values `show` printed for input ``name``: '  name (shape) = [a, b, …]', possibly wrapped."""
    lines = out.splitlines()
    k = next(i for i, line in enumerate(lines) if line.startswith(f"  {name} (") and " = [" in line)
    text = lines[k].split(" = ", 1)[1]
    for line in lines[k + 1:]:
        if text.rstrip().endswith("]"):
            break
        text += line.strip()
    return np.array([float(v) for v in text.strip().strip("[]").split(",")])


def test_random_values_are_printed_and_are_the_ones_used(capsys, tmp_path):
    rc, out, err = run(capsys, "conv2d", "--input", "1x4x4", "--weight", "1x1x2x2", "--values", "random", "--seed", "5",
                       "--format", "npz", "--out", str(tmp_path / "J.npz"))
    assert rc == 0, err
    assert "values: weight standard normal, drawn in this order from numpy.random.default_rng(5) (--seed 5)" in out
    assert "bias" not in out  # the bias does not change ∂y/∂x
    w = parse_printed_values(out, "weight").reshape(1, 1, 2, 2)
    J_ref = forward_probe(lambda x: conv2d(x, w), (1, 4, 4), 9)
    np.testing.assert_allclose(sp.load_npz(tmp_path / "J.npz").toarray(), J_ref, rtol=1e-5, atol=0)


def test_frobenius_loss_from_input_alone(capsys, tmp_path):
    """Q = ½‖X − Y‖²: Y has the shape of --input (no stored 3×5 case); ∂Q/∂vec X = vec(X − Y)ᵀ of the printed X, Y."""
    rc, out, err = run(capsys, "frobenius_loss", "--input", "2x2", "--format", "npz", "--out", str(tmp_path / "J.npz"))
    assert rc == 0, err
    x, y = parse_printed_values(out, "x"), parse_printed_values(out, "y")
    np.testing.assert_allclose(sp.load_npz(tmp_path / "J.npz").toarray(), [x - y], rtol=1e-5, atol=1e-6)


def test_reshape_needs_the_target_shape(capsys, tmp_path):
    rc, _, err = run(capsys, "reshape", "--input", "2x6")
    assert_usage_error(rc, err, "--shape: reshape needs the target --shape (with 12 entries")
    rc, _, err = run(capsys, "reshape", "--input", "2x6", "--shape", "5x2")
    assert_usage_error(rc, err, "--shape: 5x2 has 10 entries")
    rc, out, err = run(capsys, "reshape", "--input", "2x6", "--shape", "3x4", "--order", "F",
                       "--format", "npz", "--out", str(tmp_path / "J.npz"))
    assert rc == 0, err
    J_ref = forward_probe(lambda x: np.reshape(x, (3, 4), order="F"), (2, 6), 12)
    np.testing.assert_array_equal(sp.load_npz(tmp_path / "J.npz").toarray(), J_ref)


def test_stack_and_select_take_their_options(capsys, tmp_path):
    rc, _, err = run(capsys, "stack", "--input", "2x2", "--wrt", "s2", "--format", "npz", "--out", str(tmp_path / "S.npz"))
    assert rc == 0, err
    expected = np.zeros((12, 4))
    expected[4:8] = np.eye(4)  # (0; I; 0)
    np.testing.assert_array_equal(sp.load_npz(tmp_path / "S.npz").toarray(), expected)
    rc, _, err = run(capsys, "select", "--input", "3x2")
    assert_usage_error(rc, err, "--index: select needs --index")
    rc, _, err = run(capsys, "select", "--input", "3x2", "--index", "3")
    assert_usage_error(rc, err, "--index: must be below 3")


def test_every_advertised_symbolic_face_shows(capsys):
    """`list` marks +symbolic; each of those operators shows --values symbolic (list advertises nothing show refuses)."""
    from jacobians.registry import SYMBOLIC, load_all

    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    ops = load_all()
    advertised = [n for n in ops if n in SYMBOLIC]
    assert {"softmax", "sigmoid", "tanh", "linear_xwt"} <= set(advertised)
    for name in advertised:
        assert name in listing
        rc, out, err = run(capsys, name, *ops[name].extra["show"].example, "--values", "symbolic")
        assert rc == 0, f"{name}: {err}"
        assert "symbols 1-based" in out.splitlines()[0]


def test_sigmoid_symbolic_entries(capsys):
    import sympy

    rc, out, err = run(capsys, "sigmoid", "--input", "2", "--values", "symbolic", "--format", "latex")
    assert rc == 0, err
    z = sympy.Symbol("z_1")
    expected = sympy.latex(sympy.diff(1 / (1 + sympy.exp(-z)), z))
    assert expected in out, (expected, out)


def test_softmax_cross_entropy_target_is_a_printed_constant(capsys):
    rc, out, err = run(capsys, "softmax_cross_entropy", "--input", "3", "--target", "2", "--values", "ones")
    assert rc == 0, err
    assert "constants: y = [0., 0., 1.]" in out
    # s = ones: p = 1/3 each; ∂l/∂s = p − y = (1/3, 1/3, −2/3)
    assert matrix_rows(out) == [["0.3333", "0.3333", "-0.6667"]]
    rc, _, err = run(capsys, "softmax_cross_entropy", "--input", "3", "--target", "3")
    assert_usage_error(rc, err, "--target: softmax_cross_entropy has 3 classes")


def test_cli_docs_quote_help_operator_as_printed(capsys):
    import pathlib

    doc = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text(encoding="utf-8")
    assert main(["show", "conv2d", "--help-operator"]) == 0
    printed = capsys.readouterr().out
    assert "$ jacobians show conv2d --help-operator\n" + printed in doc


def test_an_operator_added_later_gets_show_from_its_showspec(capsys, tmp_path, monkeypatch):
    """The contract of docs/developer.md: declared options (here through --param), derived inputs, nnz bound."""
    import math

    import jacobians.registry as registry
    from jacobians.registry import ShowSetup, ShowSpec

    def forward(x, w, scale=1.0):
        return scale * np.asarray(x) * np.asarray(w)

    def setup(shape, options):
        return ShowSetup({"x": shape, "w": shape}, {"scale": options.get("scale", 1.0)})

    scratch = {}
    registry.register(
        "scaled_product", summary="scale·x∘w", forward=forward,
        jacobian={"x": lambda x, w, scale=1.0: sp.diags(scale * np.ravel(w)).tocsr()},
        vjp={"x": {"direct": lambda g, x, w, scale=1.0: scale * g * w}}, cases=lambda: [], affine_in=("x",), registry=scratch,
        show=ShowSpec(setup=setup, options={"scale": "float"}, nnz=lambda shapes, params, wrt, out: math.prod(out),
                      out_shape=lambda shapes, params: shapes["x"], example=("--input", "2x2", "--param", "scale=2")),
    )
    monkeypatch.setitem(registry.OPERATORS, "scaled_product", scratch["scaled_product"])
    rc, out, err = run(capsys, "scaled_product", "--input", "2x2", "--param", "scale=-0.5", "--values", "random",
                       "--format", "npz", "--out", str(tmp_path / "J.npz"))
    assert rc == 0, err
    w = parse_printed_values(out, "w")
    np.testing.assert_allclose(sp.load_npz(tmp_path / "J.npz").toarray(), np.diag(-0.5 * w), rtol=1e-5, atol=0)
    rc, _, err = run(capsys, "scaled_product", "--input", "2x2", "--kernel", "2")
    assert_usage_error(rc, err, "--kernel: scaled_product takes --input SHAPE and --param scale")
    rc, _, err = run(capsys, "scaled_product", "--input", "2x2", "--param", "scale=lots")
    assert_usage_error(rc, err, "--param scale: 'lots' is not a number")
    rc, out, err = run(capsys, "scaled_product", "--input", "2x2", "--values", "symbolic")
    assert_usage_error(rc, err, "has no symbolic face")  # numeric-only builder, no symbolic face: said so


def test_float32_values_export_as_float32(tmp_path, capsys):
    """The dtype rule through the CLI: a float32 .npy gives a float32 Jacobian file, a float64 one float64 (#12)."""
    for dtype in (np.float32, np.float64):
        w = np.arange(1.0, 5.0, dtype=dtype).reshape(1, 1, 2, 2)
        np.save(tmp_path / "w.npy", w)
        out = tmp_path / "J.npz"
        rc, _, err = run(capsys, "conv2d", "--input", "1x3x3", "--weight", "1x1x2x2", "--values", str(tmp_path / "w.npy"),
                         "--format", "npz", "--out", str(out))
        assert rc == 0, err
        J = sp.load_npz(out)
        assert J.dtype == dtype
        # values against the convolution's definition: row (i, j) holds w at the taps of window (i, j)
        want = np.zeros((4, 9))
        for i in range(2):
            for j in range(2):
                for a in range(2):
                    for b in range(2):
                        want[i * 2 + j, (i + a) * 3 + j + b] = w[0, 0, a, b]
        np.testing.assert_array_equal(J.toarray(), want)
