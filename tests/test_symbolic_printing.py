"""symbolic.printing.render on note 004's 16×9 M_X^im, and the `jacobians example` command."""
from __future__ import annotations

import subprocess
import sys

import pytest
import sympy

from jacobians import cli
from symbolic.examples import EXAMPLES
from symbolic.printing import render
from symbolic.tensors import symbol_tensor


@pytest.fixture(scope="module")
def m_x_im():
    return EXAMPLES["dd2424.m_x_im"]()["M_X^im"]


def _rows(text):
    """The text lines holding matrix entries (pretty/ascii put a spacer line between rows)."""
    return [line for line in text.splitlines() if any(ch.isalnum() or ch in "…⋮." for ch in line)]


def _cells(line):
    """Entries of one printed row, without the bracket characters."""
    return line.strip().strip("⎡⎢⎣⎤⎥⎦[]").split()


def test_pretty_full_16x9(m_x_im):
    text = render(m_x_im, "pretty")
    rows = _rows(text)
    assert len(rows) == 16
    assert _cells(rows[0]) == ["X₁₁", "X₁₂", "X₁₃", "X₂₁", "X₂₂", "X₂₃", "X₃₁", "X₃₂", "X₃₃"]
    assert _cells(rows[-1]) == ["X₄₄", "X₄₅", "X₄₆", "X₅₄", "X₅₅", "X₅₆", "X₆₄", "X₆₅", "X₆₆"]
    assert "…" not in text and "⋮" not in text


def test_ascii_full_16x9(m_x_im):
    text = render(m_x_im, "ascii")
    assert text.isascii()
    rows = _rows(text)
    assert len(rows) == 16
    assert _cells(rows[4]) == ["X_21", "X_22", "X_23", "X_31", "X_32", "X_33", "X_41", "X_42", "X_43"]


def test_latex_full_16x9(m_x_im):
    text = render(m_x_im, "latex")
    assert text == sympy.latex(m_x_im)
    assert text.count(r"\\") == 15
    assert r"X_{11} & X_{12} & X_{13} & X_{21}" in text


def test_pretty_elided_like_the_slides(m_x_im):
    text = render(m_x_im, "pretty", max_rows=7, max_cols=6)
    rows = _rows(text)
    assert len(rows) == 7  # 5 rows, ⋮, the last row — as the slides print M_X^im
    assert _cells(rows[0]) == ["X₁₁", "X₁₂", "X₁₃", "X₂₁", "…", "X₃₃"]
    assert _cells(rows[5]) == ["⋮", "⋮", "⋮", "⋮", "⋱", "⋮"]
    assert _cells(rows[6]) == ["X₄₄", "X₄₅", "X₄₆", "X₅₄", "…", "X₆₆"]


def test_ascii_and_latex_elided(m_x_im):
    text = render(m_x_im, "ascii", max_rows=7, max_cols=6)
    assert text.isascii() and "..." in text
    assert len(_rows(text)) == 7
    latex = render(m_x_im, "latex", max_rows=7, max_cols=6)
    assert r"\vdots" in latex and r"\cdots" in latex and r"\ddots" in latex
    assert latex.count(r"\\") == 6
    assert latex.startswith(r"\left[\begin{array}{cccccc}")


def test_full_overrides_the_limits(m_x_im):
    assert render(m_x_im, "pretty", max_rows=5, max_cols=4, full=True) == render(m_x_im, "pretty")


def test_default_limits_elide_the_multiplane_m_f_filter_quickly():
    m = EXAMPLES["dd2424.m_f_filter_multiplane"]()["M_F^filter"]
    text = render(m)
    rows = _rows(text)
    assert len(rows) == 16 and all(r.count("…") == 1 for r in rows)  # 16 ≤ 20 rows, 144 > 12 columns
    assert _cells(rows[0])[:4] == ["F₁,₁,₁", "F₁,₁,₂", "F₁,₁,₃", "0"]


def test_scalars_vectors_and_arrays():
    assert render(sympy.Symbol("beta_21")) == "β₂₁"
    assert render(sympy.Symbol("beta_21"), "ascii") == "beta_21"
    assert render(sympy.Symbol("t_2,3,1"), "latex") == "t_{2,3,1}"
    col = render(symbol_tensor("g", (3,)), "ascii")
    assert len(_rows(col)) == 3
    with pytest.raises(ValueError, match="must be 2-D"):
        render(symbol_tensor("X", (2, 2, 2)))


@pytest.mark.parametrize("text", ["x + 1", ["__import__('os')"], [["a", "b"]]])
def test_text_is_never_parsed(text):
    with pytest.raises(TypeError, match="matrix:"):
        render(text)


@pytest.mark.parametrize("kwargs, message", [({"fmt": "html"}, "fmt:"), ({"max_rows": 2}, "max_rows:"),
                                             ({"max_cols": "7"}, "max_cols:")])
def test_bad_arguments(m_x_im, kwargs, message):
    with pytest.raises(ValueError, match=message):
        render(m_x_im, **kwargs)


# ---------------------------------------------------------------------------
# the CLI subcommand
# ---------------------------------------------------------------------------
def test_cli_list(capsys):
    assert cli.main(["example", "--list"]) == 0
    out = capsys.readouterr().out
    names = [line.split()[0] for line in out.splitlines()]
    assert names == sorted(EXAMPLES)


def test_cli_prints_an_example(capsys):
    assert cli.main(["example", "vardhan2022.appendix_a", "--format", "ascii"]) == 0
    out = capsys.readouterr().out
    assert "Z = A * beta (4x3):" in out
    assert "a_11*beta_22" in out
    assert "dz_32/dbeta_21:\na_32" in out
    assert out.isascii()


def test_cli_latex_and_full(capsys):
    assert cli.main(["example", "dd2424.m_x_im", "--format", "latex", "--max-rows", "5"]) == 0
    out = capsys.readouterr().out
    assert r"\vdots" in out
    assert cli.main(["example", "dd2424.m_x_im", "--format", "latex", "--max-rows", "5", "--full"]) == 0
    assert r"\vdots" not in capsys.readouterr().out


def test_cli_unknown_name_is_one_line_exit_2(capsys):
    assert cli.main(["example", "dd2424.nope"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "unknown name 'dd2424.nope'" in err and "dd2424.m_x_im" in err


def test_cli_bad_limit_fails_before_printing(capsys):
    assert cli.main(["example", "dd2424.m_x_im", "--max-rows", "2"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "--max-rows: must be an integer ≥ 3" in captured.err


def test_cli_missing_name_is_one_line_exit_2(capsys):
    assert cli.main(["example"]) == 2
    assert "NAME" in capsys.readouterr().err


def test_importing_jacobians_and_the_cli_stays_free_of_sympy():
    code = "import sys, jacobians, jacobians.cli; jacobians.cli.build_parser(); print('sympy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
