"""Symbol naming of :func:`symbolic.tensors.symbol_tensor`."""
from __future__ import annotations

import numpy as np
import pytest
import sympy

from symbolic.printing import render
from symbolic.tensors import NOTE_INDEX_ORDER, symbol_tensor, symbol_vector


def test_dd2424_single_plane_names():
    x = symbol_tensor("X", (6, 6))
    assert x.shape == (6, 6) and x.dtype == object
    assert x[0, 0] == sympy.Symbol("X_11") and x[5, 5] == sympy.Symbol("X_66") and x[1, 2] == sympy.Symbol("X_23")
    assert sympy.pretty(x[0, 1], use_unicode=True) == "X₁₂"
    assert sympy.latex(x[0, 1]) == "X_{12}"


def test_greek_and_vardhan_names():
    b = symbol_tensor("beta", (2, 2))
    assert b[1, 0].name == "beta_21"
    assert sympy.pretty(b[1, 0], use_unicode=True) == "β₂₁"
    assert sympy.latex(b[1, 0]) == r"\beta_{21}"
    assert symbol_tensor("a", (3, 4))[2, 1].name == "a_32"
    assert symbol_tensor("I", (3, 4))[0, 0].name == "I_11"


def test_multi_channel_names_are_comma_separated_channel_first():
    x = symbol_tensor("X", (4, 6, 6))
    assert x[0, 1, 2].name == "X_1,2,3"  # plane 1, row 2, column 3 (DD2424's X_{k,i,j})
    assert render(x[0, 1, 2]) == "X₁,₂,₃"


def test_wang_index_order_names_channel_last():
    t = symbol_tensor("t", (1, 4, 3), index_order=NOTE_INDEX_ORDER["wang2019"])
    assert t[0, 1, 2].name == "t_2,3,1"
    assert render(t[0, 1, 2]) == "t₂,₃,₁"
    assert sympy.latex(t[0, 1, 2]) == "t_{2,3,1}"


def test_neutral_zero_based_names():
    x = symbol_tensor("x", (2, 3), base=0)
    assert x[0, 0].name == "x_00" and x[1, 2].name == "x_12"
    assert symbol_tensor("w", (2, 1, 2, 2), base=0)[1, 0, 1, 1].name == "w_1,0,1,1"


def test_two_digit_indices_get_a_separator():
    x = symbol_tensor("X", (10, 3))
    assert x[9, 2].name == "X_10,3"
    assert x[0, 0].name == "X_1,1"
    assert symbol_vector("g", 16)[15].name == "g_16"
    with pytest.raises(ValueError, match="sep: '' makes names ambiguous"):
        symbol_tensor("X", (11, 11), sep="")


def test_explicit_separator():
    assert symbol_tensor("X", (2, 2), sep=",")[1, 0].name == "X_2,1"


@pytest.mark.parametrize("name", ["", "X_1", "x+y", "2x", "a b", "X^2", None, 3, "exp(1)"])
def test_bad_names_are_refused(name):
    with pytest.raises(ValueError, match="name:"):
        symbol_tensor(name, (2, 2))


def test_names_are_never_parsed():
    """A name that sympify would turn into a function or constant stays a plain Symbol."""
    e = symbol_tensor("E", (1,))[0]
    assert isinstance(e, sympy.Symbol) and e.name == "E_1"
    pi = symbol_tensor("pi", (1,))[0]
    assert isinstance(pi, sympy.Symbol) and pi != sympy.pi


@pytest.mark.parametrize("shape, message", [((), "at least one axis"), ((0, 2), r"shape\[0\]"), ((2, -1), r"shape\[1\]"),
                                            ((2.5,), r"shape\[0\]"), ((True,), r"shape\[0\]")])
def test_bad_shapes_are_refused(shape, message):
    with pytest.raises(ValueError, match=message):
        symbol_tensor("X", shape)


def test_bad_base_sep_and_order():
    with pytest.raises(ValueError, match="base:"):
        symbol_tensor("X", (2, 2), base=2)
    with pytest.raises(ValueError, match="sep:"):
        symbol_tensor("X", (2, 2), sep="_")
    with pytest.raises(ValueError, match="index_order:"):
        symbol_tensor("X", (2, 2, 2), index_order=(0, 0, 1))


def test_all_names_distinct():
    x = symbol_tensor("X", (3, 4, 5))
    assert len({s.name for s in x.ravel()}) == x.size
    assert np.array_equal(np.vectorize(lambda s: s.name)(x), np.vectorize(lambda s: s.name)(x.copy()))
