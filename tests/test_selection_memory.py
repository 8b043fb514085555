"""Data-movement and diagonal Jacobians at real sizes (CSRs of 10–26 MB) hold nothing but their CSR while built.

Issue #16's bar is a peak ≤ 1.2× the CSR; these builders write indices,
indptr and data once, straight in their final dtypes, so ≤ 1.1× is asserted
(the int64 unravel/ravel grids, ``np.full`` / ``m * scale`` temporaries,
per-row count arrays and dense-to-CSR conversions they replaced were
1.4–4.0×). Each case also checks the matrix against the forward it
differentiates (numpy's reshape / transpose / concatenate or the formula),
not against the index arithmetic that built it.
"""
from __future__ import annotations

import numpy as np
import pytest

from jacobians.ops import combine, losses, reshape, softmax
from jacobians.ops.activation import dropout, dropout_jacobian

FMAP = (64, 112, 112)  # a ResNet stem's feature map: 802 816 entries, a 12.8 MB one-per-row CSR
BIG = (16, 64, 28, 28)  # 802 816 entries


def _rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _cases():
    x, x2 = _rand(FMAP), _rand((7168, 112), 1)
    a, b = _rand(BIG, 2), _rand(BIG, 3)
    mask = np.random.default_rng(4).random(FMAP) >= 0.5
    return {
        "vec-vardhan2022": (lambda: reshape.vec_jacobian(x2.shape, "vardhan2022"), x2,
                            lambda: reshape.vec_op(x2, "vardhan2022")),
        "vec-channels-last": (lambda: reshape.vec_jacobian(x.shape, "channels-last"), x,
                              lambda: reshape.vec_op(x, "channels-last")),
        "convert_vec": (lambda: reshape.convert_vec_jacobian((7168, 112), "canonical", "vardhan2022"), x2,
                        lambda: reshape.convert_vec(x2.ravel(), (7168, 112), "canonical", "vardhan2022")),
        "transpose-2,0,1": (lambda: reshape.transpose_jacobian(FMAP, (2, 0, 1)), x, lambda: np.transpose(x, (2, 0, 1))),
        "transpose-1,2,0": (lambda: reshape.transpose_jacobian(FMAP, (1, 2, 0)), x, lambda: np.transpose(x, (1, 2, 0))),
        # no common refinement of the two F-order radices (64 ∤ 112): the digit-arithmetic path
        "reshape-F-112x7168": (lambda: reshape.reshape_jacobian(FMAP, (112, 7168), "F"), x,
                               lambda: np.reshape(x, (112, 7168), order="F")),
        # a common refinement (64·112 | …): the strided-walk path
        "reshape-F-7168x112": (lambda: reshape.reshape_jacobian(FMAP, (7168, 112), "F"), x,
                               lambda: np.reshape(x, (7168, 112), order="F")),
        "reshape-C": (lambda: reshape.reshape_jacobian(FMAP, (112, 7168), "C"), x, lambda: np.reshape(x, (112, 7168))),
        "flatten": (lambda: reshape.flatten_jacobian(FMAP, 1, -1), x, lambda: x.reshape(64, -1)),
        "add-other": (lambda: combine.add_jacobian(BIG, "other", alpha=0.5), a, lambda: 0.5 * a),
        "concat-b": (lambda: combine.concat_jacobian([BIG, BIG], 1, 1), b, lambda: np.concatenate([np.zeros(BIG), b], axis=1)),
        "dropout": (lambda: dropout_jacobian(mask, 0.5), x, lambda: dropout(x, mask, 0.5)),
        "mse-none-target": (lambda: losses.mse_loss_jacobian(a, b, "none", "target"), np.ones(BIG), lambda: -2.0 * (a - b)),
        "mse-mean": (lambda: losses.mse_loss_jacobian(a, b, "mean"), np.ones(BIG), lambda: 2.0 * (a - b).sum() / a.size),
        "frobenius-y": (lambda: softmax.frobenius_loss_jacobian(a, b, "y"), np.ones(BIG), lambda: (b - a).sum()),
    }


CASES = _cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_builder_peak_is_about_its_csr_and_its_matrix_is_the_forwards(name):
    from _helpers import peak_over_csr

    build, x, want = CASES[name]
    J = build()  # also warms up (imports, the allocator's first touch)
    np.testing.assert_allclose(J @ x.ravel(), np.ravel(want()), rtol=1e-12, atol=1e-9)
    del J
    assert peak_over_csr(build) <= 1.1
