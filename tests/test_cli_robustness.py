"""The command line never shows a traceback, never hangs, never writes a partial file.

Issue #12's CLI items, one test each, then a generated sweep of malformed and
unusual command lines run in-process through :func:`jacobians.cli.main` (a
few through the real console script): every call ends with status 0, or with
status 2 and exactly one line on stderr — no traceback, no internal error, no
hang (each call is timed).
"""
import itertools
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from numpy.lib import format as npy

from jacobians.cli import main, one_line
from jacobians.registry import load_all

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def call(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def one_error_line(rc, err, needle=None):
    assert rc == 2, (rc, err)
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0], f"expected one stderr line, got {err!r}"
    assert "Traceback" not in err and "internal error" not in err
    if needle is not None:
        assert needle in err, err


# ---------------------------------------------------------------------------
# files that are not what --values expects
# ---------------------------------------------------------------------------
def write_header(path, shape, descr="<f8", data=b""):
    with open(path, "wb") as fh:
        npy.write_array_header_1_0(fh, {"descr": descr, "fortran_order": False, "shape": shape})
        fh.write(data)


@pytest.fixture
def odd_files(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "empty.npy").write_bytes(b"")
    (tmp_path / "text.npy").write_text("1 2 3\n")
    np.savez(tmp_path / "a.npz", w=np.ones((1, 1, 3, 3)))
    write_header(tmp_path / "huge.npy", (10**6, 10**6), data=b"\0" * 64)  # claims 8 TB
    write_header(tmp_path / "trunc.npy", (1, 1, 3, 3), data=b"\0" * 16)  # 72 bytes promised
    np.save(tmp_path / "obj.npy", np.array([None, 1], dtype=object), allow_pickle=True)
    np.save(tmp_path / "cplx.npy", np.zeros((1, 1, 3, 3), complex))
    np.save(tmp_path / "str.npy", np.array(["a"]))
    (tmp_path / "badheader.npy").write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f8',   \n")
    (tmp_path / "dir.npy").mkdir()
    return tmp_path


VALUES_CASES = [
    ("fifo", "not a regular file"),
    ("/dev/null", "not a regular file"),
    ("/dev/zero", "not a regular file"),
    ("empty.npy", "is empty"),
    ("text.npy", "is not a .npy file"),
    ("/etc/passwd", "is not a .npy file"),
    ("a.npz", "zip archive"),
    ("huge.npy", "has shape 1000000x1000000"),
    ("trunc.npy", "is truncated"),
    ("obj.npy", "Python objects"),
    ("cplx.npy", "complex"),
    ("str.npy", "real numbers"),
    ("badheader.npy", "malformed .npy header"),
    ("dir.npy", "is a directory"),
    ("missing.npy", "cannot read it"),
]


@pytest.mark.parametrize("name,needle", VALUES_CASES, ids=[n for n, _ in VALUES_CASES])
def test_values_file_is_refused_in_one_line(capsys, odd_files, name, needle):
    path = name if name.startswith("/") else str(odd_files / name)
    if name == "/etc/passwd" and not os.path.isfile(name):
        pytest.skip("no /etc/passwd here")
    start = time.monotonic()
    rc, out, err = call(capsys, "show", "conv2d", "--input", "1x6x6", "--kernel", "3x3", "--values", path)
    assert time.monotonic() - start < 10  # a FIFO with no writer must not block
    one_error_line(rc, err, needle)
    assert "pickled" not in err or name == "obj.npy"


def test_npy_header_size_is_checked_before_reading(capsys, tmp_path):
    """A header whose shape matches but whose size is above --max-memory is refused from the header alone."""
    write_header(tmp_path / "big.npy", (1, 1, 3, 3), data=b"\0" * 72)
    from jacobians.commands.show import load_values

    with pytest.raises(ValueError, match="--max-memory"):
        load_values(str(tmp_path / "big.npy"), 8 * 8, (1, 1, 3, 3))
    np.testing.assert_array_equal(load_values(str(tmp_path / "big.npy"), 8 * 9, (1, 1, 3, 3)), np.zeros((1, 1, 3, 3)))


# ---------------------------------------------------------------------------
# --out, --plot
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "out,needle",
    [("", "must name a file"), ("{dir}", "is a directory"), ("{dir}/", "is a directory"),
     ("/dev/null", "not a regular file"), ("{dir}/no/such/dir/j.txt", "does not exist")],
)
def test_out_must_be_a_file_name(capsys, tmp_path, out, needle):
    out = out.format(dir=tmp_path)
    rc, stdout, err = call(capsys, "show", "conv2d", "--input", "1x4x4", "--kernel", "2", "--format", "pattern", "--out", out)
    one_error_line(rc, err, needle)
    assert "--out" in err and stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_plot_without_matplotlib_names_the_extra(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    rc, out, err = call(capsys, "show", "conv2d", "--input", "1x4x4", "--kernel", "2", "--plot", str(tmp_path / "s.png"))
    one_error_line(rc, err, "pip install 'jacobians[plot]'")
    assert list(tmp_path.iterdir()) == []


def test_plot_extra_is_declared():
    import tomllib

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as fh:
        extras = tomllib.load(fh)["project"]["optional-dependencies"]
    assert any(dep.startswith("matplotlib") for dep in extras["plot"])


# ---------------------------------------------------------------------------
# signals: no hidden .part file survives SIGTERM or SIGINT
# ---------------------------------------------------------------------------
SLOW_EXPORT = """
import sys, time, scipy.sparse
def slow_save(file, matrix, compressed=True):
    file.write(b"PK" + b"\\0" * 4096)
    file.flush()
    print("writing", flush=True)
    time.sleep(60)
scipy.sparse.save_npz = slow_save
from jacobians.cli import main
sys.exit(main(["show", "conv2d", "--input", "1x6x6", "--kernel", "3x3", "--format", "npz", "--out", sys.argv[1]]))
"""


@pytest.mark.parametrize("signum,status,word", [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")])
def test_signal_during_export_removes_the_partial_file(tmp_path, signum, status, word):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", SLOW_EXPORT, str(tmp_path / "J.npz")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "writing"
        parts = [p.name for p in tmp_path.iterdir()]
        assert len(parts) == 1 and parts[0].startswith(".J.npz.") and parts[0].endswith(".part")
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == status, err
    assert err.strip() == f"jacobians: {word}"
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------
# long values are cut
# ---------------------------------------------------------------------------
def test_long_values_are_cut_in_error_lines(capsys):
    for argv in (
        ["show", "conv2d", "--input", "1x" * 50_000 + "1", "--kernel", "3"],
        ["show", "y" * 100_000],
        ["show", "conv2d", "--input", "1x6x6", "--kernel", "3", "--format", "z" * 100_000],
        ["show", "conv2d", "--input", "1x6x6", "--kernel", "3", "--values", "/nonexistent/" + "d" * 100_000],
        ["show", "reshape", "--input", "2x6", "--param", "q" * 100_000],
    ):
        rc, out, err = call(capsys, *argv)
        one_error_line(rc, err)
        assert len(err) <= 500, err[:200]


def test_one_line_cuts_quoted_values():
    text = one_line("x: bad 'A" + "b" * 200 + "' and\nmore")
    assert "\n" not in text and "(201 characters)" in text and len(text) < 120


# ---------------------------------------------------------------------------
# the generated sweep
# ---------------------------------------------------------------------------
BAD_NUMBERS = ["", "0", "-1", "a", "1.5", "1e3", "3 3", "+2", "0x1", "３", "1_0", "nan", "∞", "(2", "2,", "x",
               "99999999999999999999", "2147483648", "1" * 400, "2x", "x2", "2x2x2x2x2x2x2x2x2", "-0", "٣", "2\x00"]
GOOD_SHAPES = {"conv2d": ["--input", "1x5x5", "--kernel", "3"], "max_pool2d": ["--input", "1x4x4", "--kernel", "2"],
               "reshape": ["--input", "2x3", "--shape", "3x2"], "softmax_cross_entropy": ["--input", "4"],
               "linear_xwt": ["--input", "2x3", "--weight", "4x3"], "transpose": ["--input", "2x3"]}


def example(op):
    """The operator's declared example (an operator without show metadata: a guess; test_show_cli requires one)."""
    show = load_all()[op].extra.get("show")
    return (list(show.example), 0) if show is not None and show.example else (["--input", "2x3"], None)


def sweep_cases():
    """(argv, expect) pairs: 0 = must succeed, 2 = a usage error, None = either (both one-line clean)."""
    ops = sorted(load_all())
    cases = []
    # unusual but valid: every operator's example in every text format with every kind of values
    for op, fmt, values in itertools.product(ops, ("pretty", "ascii", "latex", "pattern", "stats"), ("symbolic", "random", "ones")):
        argv, expect = example(op)
        cases.append((["show", op, *argv, "--format", fmt, "--values", values], expect))
    from jacobians.conventions import PRESETS

    for op, preset in itertools.product(ops, sorted(PRESETS)):  # and in every note's convention
        argv, expect = example(op)
        cases.append((["show", op, *argv, "--convention", preset, "--values", "ones"], expect))
    # every option of every operator with every malformed number
    options = ["--input", "--weight", "--kernel", "--stride", "--padding", "--dilation", "--groups", "--shape",
               "--axes", "--index", "--target", "--seed", "--max-memory"]
    for (op, base), option, bad in itertools.product(GOOD_SHAPES.items(), options, BAD_NUMBERS[::2]):
        argv = list(base)
        if option in argv:
            argv[argv.index(option) + 1] = bad
        else:
            argv += [option, bad]
        cases.append((["show", op, *argv], None))
    # every --param option an operator declares (its ShowSpec, read from the registry) with malformed values
    from jacobians.commands.show import DEDICATED

    for op in ops:
        argv, expect = example(op)
        show = load_all()[op].extra.get("show")
        for name in (n for n in (show.options if show is not None else {}) if n not in DEDICATED):
            for bad in ("", "a", "inf", "-1", "2147483648"):
                base = [a for k, a in enumerate(argv) if not (a.startswith(f"{name}=") or (a == "--param" and k + 1 < len(argv)
                                                                                          and argv[k + 1].startswith(f"{name}=")))]
                cases.append((["show", op, *base, "--param", f"{name}={bad}"], None))
    # options an operator does not take, unknown names, missing values
    for op in ops:
        cases.append((["show", op], 2))  # no --input
        cases.append((["show", op, "--input", "2x3", "--wrt", "nothing"], 2))
        cases.append((["show", op, "--input", "2x3", "--param", "no_such_param=1"], 2))
        cases.append((["show", op, "--input", "2x3", "--param", "=1"], 2))
        cases.append((["show", op, "--input", "2x3", "--values", "/dev/null"], None))
        cases.append((["show", op, "--input", "2x3", "--convention", "nosuch"], None))
        cases.append((["show", op, "--input", "3x5x5x5x5x5x5x5", "--kernel", "2"], None))
        cases.append((["show", op, "--input", "2x3", "--max-memory", "1"], None))
    for cmd in (["verify", "--note", "nosuch"], ["verify", "--claim", "x" * 300], ["example", "nosuch"],
                ["example", "dd2424.m_x_im", "--max-rows", "1"], ["list", "--format", "xml"], ["frobnicate"],
                ["show"], ["--no-such-flag"], ["show", "conv2d", "--input"], ["show", "conv2d", "--format", "pdf"]):
        cases.append((cmd, 2))
    return cases


CASES = sweep_cases()


def test_sweep_is_large_enough():
    assert len(CASES) >= 300, len(CASES)


def test_cli_sweep_in_process(capsys):
    """Every generated call: status 0, or status 2 with exactly one stderr line; no call takes more than 10 s."""
    failures, counts = [], {0: 0, 2: 0}
    start = time.monotonic()
    for argv, expect in CASES:
        t0 = time.monotonic()
        try:
            rc = main(argv)
        except SystemExit as exc:  # argparse's --help/--version paths only
            rc = exc.code
        out, err = capsys.readouterr()
        took = time.monotonic() - t0
        lines = err.strip("\n").split("\n") if err.strip() else []
        ok = (rc == 0 and expect != 2) or (rc == 2 and expect != 0 and len(lines) == 1 and lines[0])
        ok = ok and "Traceback" not in err and "internal error" not in err and took < 10
        if not ok:
            failures.append((argv[:6], rc, err[:300], round(took, 1)))
        counts[rc] = counts.get(rc, 0) + 1
    assert not failures, failures[:10]
    assert counts[2] >= 250 and counts[0] >= 300, counts
    assert time.monotonic() - start < 60


@pytest.mark.parametrize(
    "argv",
    [
        ["show", "conv2d", "--input", "1x6x6", "--kernel", "3x3", "--stride", "99999999999999999999"],
        ["show", "max_pool2d", "--input", "1x6x6", "--kernel", "3", "--padding", "99999999999999999999"],
        ["show", "relu", "--input", "99999999999x99999999999"],
        ["show", "conv2d", "--input", "1x6x6", "--kernel", "3", "--values", "/dev/null"],
        ["show", "im2col", "--input", "1x6x6", "--kernel", "3", "--padding", "2147483647"],
    ],
)
def test_sweep_through_the_console_script(argv):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), PYTHONIOENCODING="utf-8")
    res = subprocess.run([sys.executable, "-m", "jacobians", *argv], capture_output=True, text=True, timeout=60, env=env)
    assert res.returncode == 2 and res.stdout == ""
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


def test_every_option_kind_has_a_parser():
    from jacobians.commands.show import _KIND_HELP, _KIND_PARSERS
    from jacobians.registry import SHOW_OPTION_KINDS

    assert set(_KIND_PARSERS) == set(_KIND_HELP) == set(SHOW_OPTION_KINDS)


# random command lines from a vocabulary of options and values (hypothesis): the same rule
_OPTIONS = ["--input", "--weight", "--kernel", "--stride", "--padding", "--dilation", "--groups", "--shape", "--axes",
            "--dim", "--index", "--target", "--order", "--param", "--wrt", "--values", "--format", "--convention",
            "--index-base", "--max-memory", "--seed", "--out"]
_VALUES = ["1", "2", "0", "-1", "2x2", "1x4x4", "2x3", "1x1x2x2", "1,0", "0,1,1,0", "C", "F", "symbolic", "random",
           "ones", "x", "weight", "bias", "input", "s2", "pretty", "stats", "latex", "npz", "pattern", "canonical",
           "mint", "1K", "start_dim=1", "ties=first", "pad_value=0", "count_include_pad=false", "convention=matlab",
           "/dev/null", "", "99999999999", "99999999999999999999", "2147483647", "1e3", "４", "2x2x2x2x2x2x2x2x2"]


def test_random_command_lines(capsys, tmp_path, monkeypatch):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    monkeypatch.chdir(tmp_path)  # --out FILE lands here
    ops = sorted(load_all())

    @settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(op=st.sampled_from(ops), pairs=st.lists(st.tuples(st.sampled_from(_OPTIONS), st.sampled_from(_VALUES)), max_size=6))
    def check(op, pairs):
        argv = ["show", op] + [token for pair in pairs for token in pair]
        rc = main(argv)
        out, err = capsys.readouterr()
        assert "Traceback" not in err and "internal error" not in err, (argv, err)
        assert rc == 0 or (rc == 2 and len(err.strip().splitlines()) == 1), (argv, rc, err)

    check()


def test_a_bug_is_one_line_with_status_70_and_debug_shows_the_traceback(capsys, monkeypatch):
    import jacobians.commands.list_ops as list_ops

    def broken(args):
        raise RuntimeError("planted bug\nsecond line")

    monkeypatch.setattr(list_ops, "run", broken)
    monkeypatch.delenv("JACOBIANS_DEBUG", raising=False)
    rc, out, err = call(capsys, "list")
    assert rc == 70 and err.count("\n") == 1
    assert err.startswith("jacobians: internal error: RuntimeError: planted bug second line")
    monkeypatch.setenv("JACOBIANS_DEBUG", "1")
    with pytest.raises(RuntimeError, match="planted bug"):
        main(["list"])
