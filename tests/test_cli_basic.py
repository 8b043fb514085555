"""The console script's basics: --version, list, one-line errors, a light import."""
import subprocess
import sys

import jacobians
from jacobians.cli import main
from jacobians.registry import load_all


def run(*args):
    return subprocess.run([sys.executable, "-m", "jacobians", *args], capture_output=True, text=True, timeout=120)


def test_version_and_list():
    out = run("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"jacobians {jacobians.__version__}"
    out = run("list", "--format", "names")
    assert out.returncode == 0
    assert out.stdout.split() == sorted(load_all())


def test_unknown_command_is_one_line_exit_2():
    out = run("frobnicate")
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert "invalid choice" in out.stderr


def test_list_in_process(capsys):
    assert main(["list"]) == 0
    assert "conv2d" in capsys.readouterr().out


def test_import_is_light():
    code = "import sys, jacobians; jacobians.conv2d; print(' '.join(m for m in ('sympy','matplotlib','torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == ""
