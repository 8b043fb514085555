"""Helpers shared by the tests: the CLI rule and a memory measurement (``from _helpers import ...``, like tests/_conv_loops.py)."""
from jacobians.cli import main


def run_show(capsys, *argv):
    """``jacobians show ARGV`` in-process: (exit status, stdout, stderr)."""
    rc = main(["show", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_usage_error(rc, err, needle=None):
    """The CLI's rule for bad input: exit 2 and exactly one stderr line (containing ``needle``), no traceback."""
    assert rc == 2, err
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0], f"expected one stderr line, got {err!r}"
    assert "Traceback" not in err
    if needle:
        assert needle in err, err


def peak_over_csr(build):
    """Peak bytes traced while ``build()`` runs, over the bytes of the CSR it returns."""
    import tracemalloc

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        J = build()
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    return peak / (J.data.nbytes + J.indices.nbytes + J.indptr.nbytes)
