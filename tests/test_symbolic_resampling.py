"""Worked symbolic examples of issue #13: printed, and compared exactly with matrices written out by hand.

Routes: differentiating the sympy forwards of symbolic/resampling.py (loops
from the formulas) against (a) matrices written here from the textbook
picture (a transposed convolution stamps the kernel at stride·(i, j);
nearest ×2 copies pixel (p//2, q//2)), (b) the numeric CSR builders at
integer values (exact, 0 ulp).
"""
import numpy as np
import sympy

from jacobians.ops.conv_transpose import conv_transpose2d_input_jacobian
from jacobians.ops.upsample import interpolate_jacobian
from symbolic import resampling as rs
from symbolic.ops import differing_entries
from symbolic.printing import render
from symbolic.tensors import symbol_tensor


def _stamp_matrix(k, kernel, stride):
    """By hand: column (i, j) of the 2×2 input carries K[a, b] at output (stride·i + a, stride·j + b)."""
    size = stride + kernel
    m = sympy.zeros(size * size, 4)
    for i in range(2):
        for j in range(2):
            for a in range(kernel):
                for b in range(kernel):
                    m[(stride * i + a) * size + stride * j + b, 2 * i + j] += k[0, 0, a, b]
    return m


def test_d2l_transposed_conv_25x4_stride2_kernel3(capsys):
    jac = rs.d2l_transposed_conv_matrix(kernel=3, stride=2)
    k = symbol_tensor("K", (3, 3)).reshape(1, 1, 3, 3)
    assert jac.shape == (25, 4)
    assert differing_entries(jac, _stamp_matrix(k, 3, 2)) == []
    # the overlap: output (2, 2) is hit by all four inputs, through K₃₃, K₃₁, K₁₃, K₁₁
    assert list(jac.row(12)) == [k[0, 0, 2, 2], k[0, 0, 2, 0], k[0, 0, 0, 2], k[0, 0, 0, 0]]
    text = render(jac, "pretty", full=True)
    print(text)
    assert len([ln for ln in text.splitlines() if ln.strip(" ⎡⎢⎣⎤⎥⎦")]) == 25 and "K₃₃" in text
    # and the numeric builder at integer values, exactly
    kv = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    subs = {s: sympy.Integer(int(v)) for s, v in zip(k.ravel(), kv.ravel())}
    np.testing.assert_array_equal(
        np.array(jac.xreplace(subs).tolist(), dtype=np.float64),
        conv_transpose2d_input_jacobian(kv, (1, 2, 2), stride=2).toarray(),
    )
    assert "K₁₁" in capsys.readouterr().out


def test_d2l_original_2x2_kernel_stride1():
    k = symbol_tensor("K", (2, 2)).reshape(1, 1, 2, 2)
    jac = rs.d2l_transposed_conv_matrix(kernel=2, stride=1)
    assert differing_entries(jac, _stamp_matrix(k, 2, 1)) == []


def test_nearest_2x2_to_4x4_16x4(capsys):
    jac = rs.nearest_upsampling_matrix()
    want = sympy.zeros(16, 4)
    for p in range(4):
        for q in range(4):
            want[4 * p + q, 2 * (p // 2) + q // 2] = 1
    assert differing_entries(jac, want) == []
    text = render(jac, "ascii", full=True)
    print(text)
    rows = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip("[] ")]
    assert rows[:4] == ["[1  0  0  0]", "[1  0  0  0]", "[0  1  0  0]", "[0  1  0  0]"] and len(rows) == 16
    np.testing.assert_array_equal(np.array(jac.tolist(), dtype=np.float64), interpolate_jacobian((1, 2, 2), scale_factor=2).toarray())


def test_bilinear_weights_are_exact_rationals():
    """2 → 3 bilinear, align_corners=False: src = (2/3)(dst + ½) − ½ = −1/6 (clamped to 0), 1/2, 7/6."""
    x = symbol_tensor("x", (1, 1, 2))
    jac = rs.interpolate(x, size=(1, 3), mode="bilinear").jacobian(list(x.ravel()))
    assert jac.tolist() == [[1, 0], [sympy.Rational(1, 2), sympy.Rational(1, 2)], [0, 1]]
    jac = rs.interpolate(x, size=(1, 5), mode="bilinear", align_corners=True).jacobian(list(x.ravel()))
    assert jac.tolist() == [[1, 0], [sympy.Rational(3, 4), sympy.Rational(1, 4)], [sympy.Rational(1, 2), sympy.Rational(1, 2)], [sympy.Rational(1, 4), sympy.Rational(3, 4)], [0, 1]]


def test_adaptive_average_5_to_3_overlapping_windows():
    x = symbol_tensor("x", (1, 1, 5))
    jac = rs.adaptive_avg_pool2d(x, (1, 3)).jacobian(list(x.ravel()))
    h, t = sympy.Rational(1, 2), sympy.Rational(1, 3)
    assert jac.tolist() == [[h, h, 0, 0, 0], [0, t, t, t, 0], [0, 0, 0, h, h]]


def test_builders_on_symbols_equal_the_differentiated_forward():
    """The CSR builders run on sympy symbols (value positions mapped back) equal sympy's derivative, exactly."""
    from jacobians.ops.conv_transpose import conv_transpose2d_weight_jacobian
    from symbolic.ops import jacobian as sym_jacobian
    from symbolic.ops import vec_column

    x = symbol_tensor("X", (2, 2, 3)).reshape(2, 2, 3)
    w = symbol_tensor("W", (2, 2, 2, 2))
    p = dict(stride=(2, 1), padding=(1, 0), output_padding=(1, 0), groups=2, dilation=(1, 2))
    y = rs.conv_transpose2d(x, w, **p)
    assert differing_entries(conv_transpose2d_input_jacobian(w, x.shape, **p), sym_jacobian(y, vec_column(x))) == []
    assert differing_entries(conv_transpose2d_weight_jacobian(x, w.shape, **p), sym_jacobian(y, vec_column(w))) == []


def test_bicubic_weights_are_keys_cubic_at_a_quarter():
    """2 → 4 bicubic (align_corners=False): dst 1 sits at src = ¼ between inputs 0 and 1; Keys' weights with
    A = −¾ at t = ¼ are (−27/256, 225/256, 67/256, −9/256) on reads −1, 0, 1, 2, clamped to 0, 0, 1, 1
    (worked by hand: e.g. |u| = 5/4: ((A·u − 5A)·u + 8A)·u − 4A = −27/256)."""
    x = symbol_tensor("x", (1, 1, 2))
    jac = rs.interpolate(x, size=(1, 4), mode="bicubic").jacobian(list(x.ravel()))
    r = sympy.Rational
    assert list(jac.row(1)) == [r(-27 + 225, 256), r(67 - 9, 256)]
    assert all(sum(jac.row(k)) == 1 for k in range(4))
