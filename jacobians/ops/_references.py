"""Independent reference forwards: plain loops written from each operator's defining formula.

The generic check (:mod:`jacobians.check`, route ``reference``) compares every
registered ``forward`` with its reference here. Nothing in this module calls
the package's forwards, its window views, im2col, the convention helpers'
transposes or numpy's reshape/transpose of the data: every output entry is
computed by an explicit loop over the indices the formula names, with Python
floats and the ``math`` module. They are slow on purpose — they run on the
registered (small) cases only.

Each function takes the operator's inputs and parameters by the registry's
names and returns an ndarray of the forward's shape (float64).
"""
from __future__ import annotations

import itertools
import math

import numpy as np

__all__ = [
    "conv2d_reference",
    "im2col_reference",
    "max_pool2d_reference",
    "avg_pool2d_reference",
    "relu_reference",
    "sigmoid_reference",
    "tanh_reference",
    "softmax_reference",
    "softmax_cross_entropy_reference",
    "softmax_soft_cross_entropy_reference",
    "frobenius_loss_reference",
    "linear_xwt_reference",
    "linear_xw_b_reference",
    "linear_wvec_b_reference",
    "linear_wtb_b_reference",
    "vec_reference",
    "convert_vec_reference",
    "reshape_reference",
    "transpose_reference",
    "flatten_reference",
    "stack_reference",
    "select_reference",
    "xu2020_kron_reference",
]


# ---------------------------------------------------------------------------
# small parsers of the geometry parameters (written again here on purpose)
# ---------------------------------------------------------------------------
def _two(v):
    if isinstance(v, (tuple, list)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def _sides(p):
    """(top, bottom, left, right) from an int, a pair or four values."""
    if isinstance(p, (tuple, list)):
        if len(p) == 2:
            return int(p[0]), int(p[0]), int(p[1]), int(p[1])
        return tuple(int(v) for v in p)
    return (int(p),) * 4


def _out_len(size, k, s, before, after, d):
    # count the window starts that fit, one by one (not the closed formula)
    n = 0
    while n * s + d * (k - 1) <= size + before + after - 1:
        n += 1
    return n


def _padded_reader(x, pads, pad_value):
    """x[c, r, q] at padded coordinates (r, q), ``pad_value`` off the input."""
    pt, _, pl, _ = pads
    _, h, w = x.shape

    def read(c, r, q):
        r0, q0 = r - pt, q - pl
        if 0 <= r0 < h and 0 <= q0 < w:
            return float(x[c, r0, q0])
        return pad_value

    return read


# ---------------------------------------------------------------------------
# convolution, im2col, pooling
# ---------------------------------------------------------------------------
def _conv_one(x, weight, bias, stride, padding, dilation, groups):
    c_in, h, w = x.shape
    c_out, cg, kh, kw = weight.shape
    (sh, sw), (dh, dw) = _two(stride), _two(dilation)
    pads = _sides(padding)
    oh = _out_len(h, kh, sh, pads[0], pads[1], dh)
    ow = _out_len(w, kw, sw, pads[2], pads[3], dw)
    read = _padded_reader(x, pads, 0.0)
    og = c_out // groups
    y = np.zeros((c_out, oh, ow))
    for o in range(c_out):
        first_channel = (o // og) * cg
        for i in range(oh):
            for j in range(ow):
                acc = 0.0 if bias is None else float(bias[o])
                for c in range(cg):
                    for a in range(kh):
                        for b in range(kw):
                            acc += float(weight[o, c, a, b]) * read(first_channel + c, i * sh + a * dh, j * sw + b * dw)
                y[o, i, j] = acc
    return y


def conv2d_reference(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """y[o,i,j] = b[o] + Σ_{c,a,b'} w[o,c,a,b'] · xp[g(o)·C_in/G + c, i·sh + a·dh, j·sw + b'·dw]."""
    x = np.asarray(x, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    if x.ndim == 4:
        return np.stack([_conv_one(s, weight, bias, stride, padding, dilation, groups) for s in x])
    return _conv_one(x, weight, bias, stride, padding, dilation, groups)


def im2col_reference(x, kernel_size, stride=1, padding=0, dilation=1):
    """φ[i·OW + j, (c·kh + a)·kw + b] = xp[c, i·sh + a·dh, j·sw + b·dw]."""
    x = np.asarray(x, dtype=np.float64)
    c_in, h, w = x.shape
    (kh, kw), (sh, sw), (dh, dw) = _two(kernel_size), _two(stride), _two(dilation)
    pads = _sides(padding)
    oh = _out_len(h, kh, sh, pads[0], pads[1], dh)
    ow = _out_len(w, kw, sw, pads[2], pads[3], dw)
    read = _padded_reader(x, pads, 0.0)
    phi = np.zeros((oh * ow, c_in * kh * kw))
    for i in range(oh):
        for j in range(ow):
            for c in range(c_in):
                for a in range(kh):
                    for b in range(kw):
                        phi[i * ow + j, (c * kh + a) * kw + b] = read(c, i * sh + a * dh, j * sw + b * dw)
    return phi


def _pool_geometry(x, kernel_size, stride, padding, dilation):
    (kh, kw) = _two(kernel_size)
    (sh, sw) = (kh, kw) if stride is None else _two(stride)
    (dh, dw) = _two(dilation)
    pads = _sides(padding)
    _, h, w = x.shape
    oh = _out_len(h, kh, sh, pads[0], pads[1], dh)
    ow = _out_len(w, kw, sw, pads[2], pads[3], dw)
    return (kh, kw), (sh, sw), (dh, dw), pads, oh, ow


def _channels(x):
    x = np.asarray(x, dtype=np.float64)
    return (x, x.shape) if x.ndim == 3 else (x.reshape(-1, *x.shape[-2:]), x.shape)


def max_pool2d_reference(x, kernel_size, stride=None, padding=0, pad_value=float("-inf"), ties="first", dilation=1):
    """y[c,i,j] = max over taps of xp[c, i·sh + a·dh, j·sw + b·dw] (padding takes ``pad_value``)."""
    x3, shape = _channels(x)
    (kh, kw), (sh, sw), (dh, dw), pads, oh, ow = _pool_geometry(x3, kernel_size, stride, padding, dilation)
    read = _padded_reader(x3, pads, float(pad_value))
    y = np.zeros((x3.shape[0], oh, ow))
    for c in range(x3.shape[0]):
        for i in range(oh):
            for j in range(ow):
                best = -math.inf
                for a in range(kh):
                    for b in range(kw):
                        best = max(best, read(c, i * sh + a * dh, j * sw + b * dw))
                y[c, i, j] = best
    return y.reshape(*shape[:-2], oh, ow)


def avg_pool2d_reference(x, kernel_size, stride=None, padding=0, count_include_pad=True):
    """y[c,i,j] = (Σ taps of xp) / d, d = kh·kw or the number of taps on the input."""
    x3, shape = _channels(x)
    (kh, kw), (sh, sw), _, pads, oh, ow = _pool_geometry(x3, kernel_size, stride, padding, 1)
    pt, _, pl, _ = pads
    _, h, w = x3.shape
    y = np.zeros((x3.shape[0], oh, ow))
    for c in range(x3.shape[0]):
        for i in range(oh):
            for j in range(ow):
                total, on_input = 0.0, 0
                for a in range(kh):
                    for b in range(kw):
                        r, q = i * sh + a - pt, j * sw + b - pl
                        if 0 <= r < h and 0 <= q < w:
                            total += float(x3[c, r, q])
                            on_input += 1
                y[c, i, j] = total / (kh * kw if count_include_pad else on_input)
    return y.reshape(*shape[:-2], oh, ow)


# ---------------------------------------------------------------------------
# element-wise activations
# ---------------------------------------------------------------------------
def _elementwise(z, fn):
    z = np.asarray(z, dtype=np.float64)
    out = np.empty(z.shape)
    for idx in itertools.product(*(range(n) for n in z.shape)):
        out[idx] = fn(float(z[idx]))
    return out


def relu_reference(z):
    """y = z if z > 0 else 0."""
    return _elementwise(z, lambda v: v if (v > 0 or v != v) else 0.0)  # NaN stays NaN, as in PyTorch


def _logistic(v):
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


def sigmoid_reference(z):
    """y = 1 / (1 + e^{−z})."""
    return _elementwise(z, _logistic)


def tanh_reference(z):
    """y = (e^{z} − e^{−z}) / (e^{z} + e^{−z}), evaluated as 1 − 2/(e^{2z} + 1)."""

    def t(v):
        if abs(v) > 20:  # 1 − 2/(e^{40} + 1) rounds to 1 in float64
            return math.copysign(1.0, v)
        return (math.exp(v) - math.exp(-v)) / (math.exp(v) + math.exp(-v))

    return _elementwise(z, t)


# ---------------------------------------------------------------------------
# softmax and losses
# ---------------------------------------------------------------------------
def _softmax_list(s):
    s = [float(v) for v in np.asarray(s, dtype=np.float64).ravel()]
    top = max(s)
    e = [math.exp(v - top) for v in s]
    total = math.fsum(e)
    return [v / total for v in e]


def softmax_reference(s):
    """p_k = e^{s_k} / Σ_j e^{s_j}."""
    return np.array(_softmax_list(s))


def softmax_cross_entropy_reference(s, y):
    """l = −log(Σ_k y_k p_k)."""
    p = _softmax_list(s)
    return np.asarray(-math.log(math.fsum(float(yk) * pk for yk, pk in zip(np.ravel(y), p))))


def softmax_soft_cross_entropy_reference(s, y):
    """h = −Σ_k y_k log p_k (terms with y_k = 0 are 0)."""
    p = _softmax_list(s)
    return np.asarray(-math.fsum(float(yk) * math.log(pk) for yk, pk in zip(np.ravel(y), p) if yk > 0))


def frobenius_loss_reference(x, y):
    """Q = ½ Σ (x − y)²."""
    a = np.asarray(x, dtype=np.float64).ravel()
    b = np.asarray(y, dtype=np.float64).ravel()
    return np.asarray(0.5 * math.fsum((float(u) - float(v)) ** 2 for u, v in zip(a, b)))


# ---------------------------------------------------------------------------
# linear layers
# ---------------------------------------------------------------------------
def _matmul(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    out = np.zeros((a.shape[0], b.shape[1]))
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            out[i, j] = math.fsum(float(a[i, k]) * float(b[k, j]) for k in range(a.shape[1]))
    return out


def _transposed(a):
    a = np.asarray(a, dtype=np.float64)
    out = np.zeros((a.shape[1], a.shape[0]))
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            out[j, i] = a[i, j]
    return out


def linear_xwt_reference(x, weight):
    """z[i, o] = Σ_k x[i, k] w[o, k]."""
    return _matmul(x, _transposed(weight))


def _plus_bias(z, bias):
    if bias is None:
        return z
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            z[i, j] += float(np.ravel(bias)[j])
    return z


def linear_xw_b_reference(x, weight, bias=None):
    """z[n, m] = Σ_k x[n, k] w[k, m] + b[m]."""
    return _plus_bias(_matmul(x, weight), bias)


def _c_order_list(h):
    h = np.asarray(h, dtype=np.float64)
    return [float(h[idx]) for idx in itertools.product(*(range(n) for n in h.shape))]


def linear_wvec_b_reference(h, weight, bias=None):
    """s[o] = Σ_k W[o, k] vec(H)[k] + b[o], vec in C order."""
    v = np.array(_c_order_list(h))[:, None]
    return _plus_bias(_matmul(weight, v).T, bias)[0]


def linear_wtb_b_reference(b_vec, weight, bias=None):
    """Z[m] = Σ_k W[k, m] B[k] + b[m]."""
    return _plus_bias(_matmul(np.asarray(b_vec, dtype=np.float64)[None, :], weight), bias)[0]


# ---------------------------------------------------------------------------
# data movement
# ---------------------------------------------------------------------------
def _walk_order(ndim, convention):
    """Axes from slowest to fastest, from the convention's description (channels first/last, row/col plane)."""
    from ..conventions import get_convention

    conv = get_convention(convention)
    if ndim <= 1:
        return list(range(ndim))
    height, width = ndim - 2, ndim - 1
    plane = [height, width] if conv.vec == "row" else [width, height]
    if ndim == 2:
        return plane
    chan = ndim - 3
    batch = list(range(ndim - 3))
    return batch + ([chan] + plane if conv.channels == "first" else plane + [chan])


def _walk(shape, order):
    """Canonical multi-indices in the order that loops over ``order`` (slowest first) visit them."""
    for combo in itertools.product(*(range(shape[a]) for a in order)):
        idx = [0] * len(shape)
        for axis, value in zip(order, combo):
            idx[axis] = value
        yield tuple(idx)


def vec_reference(x, convention="canonical"):
    """vec_c(x): the entries of x visited by loops nested in the convention's axis order."""
    x = np.asarray(x, dtype=np.float64)
    return np.array([float(x[idx]) for idx in _walk(x.shape, _walk_order(x.ndim, convention))])


def convert_vec_reference(v, shape, source="canonical", target="canonical"):
    """Place v's entries by the source convention's walk, read them back by the target's."""
    shape = tuple(int(s) for s in shape)
    tensor = {}
    for value, idx in zip(np.ravel(v), _walk(shape, _walk_order(len(shape), source))):
        tensor[idx] = float(value)
    return np.array([tensor[idx] for idx in _walk(shape, _walk_order(len(shape), target))])


def _linear_index(idx, shape, order):
    """The C (last axis fastest) or F (first axis fastest) linear index of a multi-index."""
    axes = range(len(shape)) if order == "C" else reversed(range(len(shape)))
    k = 0
    for a in axes:
        k = k * shape[a] + idx[a]
    return k


def _multi_index(k, shape, order):
    axes = reversed(range(len(shape))) if order == "C" else range(len(shape))
    idx = [0] * len(shape)
    for a in axes:
        k, idx[a] = divmod(k, shape[a])
    return tuple(idx)


def reshape_reference(x, shape, order="C"):
    """out at multi-index m reads the x entry with the same ``order``-linear index."""
    x = np.asarray(x, dtype=np.float64)
    shape = tuple(int(s) for s in (shape if isinstance(shape, (tuple, list)) else (shape,)))
    if -1 in shape:
        known = 1
        for s in shape:
            known *= s if s != -1 else 1
        shape = tuple(x.size // known if s == -1 else s for s in shape)
    out = np.zeros(shape)
    for m in itertools.product(*(range(n) for n in shape)):
        out[m] = x[_multi_index(_linear_index(m, shape, order), x.shape, order)]
    return out


def transpose_reference(x, axes=None):
    """out[m] = x[n] with n[axes[i]] = m[i]."""
    x = np.asarray(x, dtype=np.float64)
    axes = list(range(x.ndim))[::-1] if axes is None else [a % x.ndim for a in axes]
    out_shape = tuple(x.shape[a] for a in axes)
    out = np.zeros(out_shape)
    for m in itertools.product(*(range(n) for n in out_shape)):
        n = [0] * x.ndim
        for i, a in enumerate(axes):
            n[a] = m[i]
        out[m] = x[tuple(n)]
    return out


def flatten_reference(x, start_dim=0, end_dim=-1):
    """torch.flatten: axes start … end merged; the entries keep their C order."""
    x = np.asarray(x, dtype=np.float64)
    start, end = start_dim % x.ndim, end_dim % x.ndim
    merged = 1
    for a in range(start, end + 1):
        merged *= x.shape[a]
    out_shape = x.shape[:start] + (merged,) + x.shape[end + 1 :]
    flat = [float(x[idx]) for idx in itertools.product(*(range(n) for n in x.shape))]
    out = np.zeros(out_shape)
    for k, m in enumerate(itertools.product(*(range(n) for n in out_shape))):
        out[m] = flat[k]
    return out


def stack_reference(s1, s2, s3):
    """S[i] = S_{i+1}."""
    maps = [np.asarray(m, dtype=np.float64) for m in (s1, s2, s3)]
    out = np.zeros((3, *maps[0].shape))
    for i, m in enumerate(maps):
        for idx in itertools.product(*(range(n) for n in m.shape)):
            out[(i, *idx)] = m[idx]
    return out


def select_reference(x, index):
    """S_i[m] = S[i, m]."""
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros(x.shape[1:])
    for idx in itertools.product(*(range(n) for n in x.shape[1:])):
        out[idx] = x[(int(index), *idx)]
    return out


def xu2020_kron_reference(x, f_f, kernel_size, stride=1, padding=0, dilation=1):
    """O_f[p, f] = Σ_k φ(I)[p, k] F_f[k, f] with φ(I) from its own loops."""
    return _matmul(im2col_reference(x, kernel_size, stride, padding, dilation), f_f)
