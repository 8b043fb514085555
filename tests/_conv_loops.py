"""Loops written from the convolution formula, for tests that need a reference independent of the package.

y[o, i, j] = Σ_{c,p,q} w[o, c, p, q] · x[c, i·s + p − pad, j·s + q − pad]
"""
import numpy as np


def conv_loops(x, w, s=1, pad=0, *, tap=None, weight_of=None):
    """(J_x, J_w, out_shape), canonical C-order vec; ``tap(i, p, s)`` and ``weight_of(w, o, c, p, q)``
    let a test seed a mistake into the formula itself."""
    tap = tap or (lambda i, p, s: i * s + p)
    weight_of = weight_of or (lambda w, o, c, p, q: w[o, c, p, q])
    C, H, W = x.shape
    O, _, kh, kw = w.shape
    OH, OW = (H + 2 * pad - kh) // s + 1, (W + 2 * pad - kw) // s + 1
    Jx = np.zeros((O * OH * OW, C * H * W))
    Jw = np.zeros((O * OH * OW, w.size))
    for o in range(O):
        for i in range(OH):
            for j in range(OW):
                row = (o * OH + i) * OW + j
                for c in range(C):
                    for p in range(kh):
                        for q in range(kw):
                            r, t = tap(i, p, s) - pad, tap(j, q, s) - pad
                            if 0 <= r < H and 0 <= t < W:
                                Jx[row, (c * H + r) * W + t] += weight_of(w, o, c, p, q)
                                Jw[row, ((o * C + c) * kh + p) * kw + q] += x[c, r, t]
    return Jx, Jw, (O, OH, OW)
