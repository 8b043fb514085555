"""Each note's convention preset against the note's OWN description of its order (issue #11 item 3).

The expected orders are the lists the notes print, or loops written from the notes' index formulas, as the
outside audits record them in docs/audit/*.md ("Conventions as the note states them") — never the preset itself.
Arrays are canonical (C, H, W); entry [c, i, j] carries the code 100·(c+1) + 10·(i+1) + (j+1).
"""
from __future__ import annotations

import numpy as np
import pytest

from jacobians import get_convention, vec


def coded(channels, rows, cols):
    return np.array([[[100 * (c + 1) + 10 * (i + 1) + (j + 1) for j in range(cols)] for i in range(rows)] for c in range(channels)])


def order(preset, x):
    return [int(v) for v in vec(x, get_convention(preset))]


def test_vardhan2022_preset_lists_a11_a21_a31_a12_and_stacks_channels():
    # note 001 App. A prints vec A = (a11, a21, a31, a12, a22, a32, a13, a23, a33, a14, a24, a34); §3.1.2 stacks channels
    printed = [11, 21, 31, 12, 22, 32, 13, 23, 33, 14, 24, 34]
    assert order("vardhan2022", coded(2, 3, 4)) == [100 + v for v in printed] + [200 + v for v in printed]


def test_dd2424_preset_lists_F11_F12_F13_F21_and_stacks_planes():
    # note 004 prints vec(F) = (F11, F12, F13, F21, F22, F23, F31, F32, F33)ᵀ; planes are stacked, plane 1 first
    printed = [11, 12, 13, 21, 22, 23, 31, 32, 33]
    assert order("dd2424", coded(2, 3, 3)) == [100 + v for v in printed] + [200 + v for v in printed]


def test_wang2019_preset_is_the_order_of_the_worked_example():
    # note 000 (6.2): entry (a, b, c) of a d1 × d2 × d3 patch goes to place a + (b − 1) k1 + (c − 1) k1 k2 (1-based)
    d1, d2, d3 = 2, 3, 2
    by_place = [0] * (d1 * d2 * d3)
    for a in range(1, d1 + 1):
        for b in range(1, d2 + 1):
            for c in range(1, d3 + 1):
                by_place[a + (b - 1) * d1 + (c - 1) * d1 * d2 - 1] = 100 * c + 10 * a + b
    assert order("wang2019", coded(d3, d1, d2)) == by_place


def test_xu2020_preset_is_the_vec_of_the_kronecker_identity():
    # note 003: vec(AXB) = (Bᵀ ⊗ A) vec(X); the vec it needs is found from the identity, not from the preset
    r = np.random.default_rng(3)
    A, B = r.standard_normal((2, 2)), r.standard_normal((3, 4))
    X = r.standard_normal((2, 3))
    conv = get_convention("xu2020")
    lhs = vec((A @ X @ B)[None], conv)
    rhs = np.kron(B.T, A) @ vec(X[None], conv)
    np.testing.assert_allclose(lhs, rhs, rtol=0, atol=1e-12)
    assert order("xu2020", coded(1, 2, 3)) == [111, 121, 112, 122, 113, 123]  # x11, x21, x12, x22, x13, x23


def test_mint_preset_is_the_notes_index_nesting():
    # note 002 indexes maps x[n, c, h, w], 0-based, with w the innermost sum — C order with channels first
    x = coded(2, 2, 3)
    nested = [int(x[c, h, w]) for c in range(2) for h in range(2) for w in range(3)]
    assert order("mint", x) == nested


@pytest.mark.parametrize("preset", ["wang2019", "vardhan2022", "mint", "xu2020", "dd2424"])
def test_each_note_preset_is_index_base_and_layout_as_the_note_says(preset):
    # 1-based indices everywhere except note 002 (Σ_{x=0}^{X−1}); every preset keeps the numerator layout
    conv = get_convention(preset)
    assert conv.index_base == (0 if preset == "mint" else 1)
