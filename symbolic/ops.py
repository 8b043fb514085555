"""Sympy forwards of the operators — the symbolic face of the registry.

Each function here takes the operator's inputs as numpy object arrays of
sympy expressions (see :func:`symbolic.tensors.symbol_tensor`) plus the
operator's parameters, and returns the forward output as a flat sympy
column ``Matrix`` in the canonical vec (C order of the output array), so that
``forward(...).jacobian(vec_of_inputs)`` is the Jacobian in numerator layout
(rows = outputs, columns = inputs).

The forwards are written as plain loops over output entries, straight from
each layer's textbook formula (zero padding made explicit). They share no
index arithmetic with the explicit builders in :mod:`jacobians.ops`, which is
what makes "differentiate the sympy forward" an independent route to the
explicit Jacobian. Differentiation is for small cases; large structured
matrices are built by the explicit builders with symbolic values (see
:mod:`symbolic.examples`).

At import, every function is attached with
:func:`jacobians.registry.register_symbolic` to the operator of the same name
— only for operators that exist (other operator modules may be absent).

Helpers convert between conventions (:func:`vec_column`,
:func:`to_convention`) and compare matrices exactly (:func:`differing_entries`).
"""
from __future__ import annotations

import math

import numpy as np
import sympy

from jacobians.conventions import Convention, get_convention
from jacobians.conventions import vec as _vec_in
from jacobians.geometry import Conv2dGeometry, GeometryError, Pool2dGeometry, as_pair
from jacobians.registry import OPERATORS, SYMBOLIC, load_all, register_symbolic

__all__ = [
    "conv2d",
    "im2col",
    "max_pool2d",
    "avg_pool2d",
    "relu",
    "sigmoid",
    "tanh",
    "softmax",
    "softmax_cross_entropy",
    "softmax_soft_cross_entropy",
    "frobenius_loss",
    "linear_xwt",
    "linear_xw_b",
    "linear_wvec_b",
    "linear_wtb_b",
    "vec",
    "convert_vec",
    "reshape",
    "transpose",
    "flatten",
    "stack",
    "select",
    "xu2020_kron",
    "pad_plane",
    "column",
    "vec_column",
    "to_convention",
    "as_sympy_matrix",
    "differing_entries",
    "jacobian",
    "symbolic_jacobian",
    "explicit_jacobian",
    "SYMBOLIC_FORWARDS",
]


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------
def _number(v):
    """A Python/numpy number as an exact sympy number (a float keeps its exact binary value)."""
    if isinstance(v, sympy.Basic):
        return v
    if isinstance(v, (bool, np.bool_)):
        return sympy.Integer(int(v))
    if isinstance(v, (int, np.integer)):
        return sympy.Integer(int(v))
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if not math.isfinite(v):
            raise ValueError(f"value: must be finite (got {v})")
        return sympy.Integer(int(v)) if v.is_integer() else sympy.Rational(v)
    return v


def _obj(a, name: str) -> np.ndarray:
    """Any array-like as an object array of sympy expressions (numbers become exact sympy numbers)."""
    arr = np.asarray(a, dtype=object)
    flat = [_number(v) for v in arr.ravel()]
    for v in flat:
        if not isinstance(v, sympy.Basic):
            raise TypeError(f"{name}: entries must be sympy expressions or numbers (got {type(v).__name__})")
    out = np.empty(arr.shape, dtype=object)
    out.ravel()[:] = flat  # ravel of a fresh array is a view
    return out


def column(values) -> sympy.Matrix:
    """A flat sympy column Matrix from an iterable of expressions."""
    values = list(values)
    return sympy.Matrix(len(values), 1, values)


def vec_column(array, convention=None) -> sympy.Matrix:
    """vec of an object array in ``convention`` (a preset name or Convention; canonical C order when None)."""
    conv = None if convention is None else get_convention(convention)
    arr = np.asarray(array, dtype=object)
    # module-level vec(): the Convention *field* ``vec`` shadows the method of the same name
    flat = arr.ravel() if conv is None else _vec_in(arr, conv)
    return column(flat)


def pad_plane(x, padding, fill=0) -> np.ndarray:
    """Pad the last two axes of an object array per side (top, bottom, left, right) with ``fill``."""
    from jacobians.geometry import as_padding

    pt, pb, pl, pr = as_padding(padding)
    x = np.asarray(x, dtype=object)
    h, w = x.shape[-2:]
    out = np.empty(x.shape[:-2] + (h + pt + pb, w + pl + pr), dtype=object)
    out[...] = _number(fill)
    out[..., pt : pt + h, pl : pl + w] = x
    return out


def _real_mask(shape, padding) -> np.ndarray:
    """Boolean mask of the padded planes: True where an entry of the input (not padding) sits."""
    from jacobians.geometry import as_padding

    pt, pb, pl, pr = as_padding(padding)
    return np.pad(np.ones(shape, dtype=bool), [(0, 0)] * (len(shape) - 2) + [(pt, pb), (pl, pr)])


def _check_3d(x, name="x"):
    if x.ndim != 3:
        raise GeometryError(f"{name}: the symbolic forward takes one image of shape (C, H, W) (got shape {x.shape})")


# ---------------------------------------------------------------------------
# forwards
# ---------------------------------------------------------------------------
def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> sympy.Matrix:
    """Cross-correlation, entry by entry: vec(y) as a column (canonical C order of (C_out, OH, OW)).

    ``y[o,i,j] = b[o] + Σ_{c,a,b'} w[o,c,a,b'] · xp[g(o)·C_in/G + c, i·sh + a·dh, j·sw + b'·dw]``
    with ``xp`` the zero-padded input and ``g(o)`` the group of output channel o.
    """
    x = _obj(x, "x")
    weight = _obj(weight, "weight")
    _check_3d(x)
    geom = Conv2dGeometry.from_shapes(x.shape, weight.shape, stride, padding, dilation, groups)
    xp = pad_plane(x, geom.padding)
    (kh, kw), (sh, sw), (dh, dw) = geom.kernel, geom.stride, geom.dilation
    oh, ow = geom.out_hw
    cg, og = geom.in_per_group, geom.out_per_group
    if bias is not None:
        bias = _obj(bias, "bias")
        if bias.shape != (geom.out_channels,):
            raise GeometryError(f"bias: must have shape ({geom.out_channels},) = (C_out,) (got {bias.shape})")
    out = []
    for o in range(geom.out_channels):
        first = (o // og) * cg
        for i in range(oh):
            for j in range(ow):
                terms = [
                    weight[o, c, a, b] * xp[first + c, i * sh + a * dh, j * sw + b * dw]
                    for c in range(cg)
                    for a in range(kh)
                    for b in range(kw)
                ]
                if bias is not None:
                    terms.append(bias[o])
                out.append(sympy.Add(*terms))
    return column(out)


def _patch_entries(xp, c_count, i, j, kernel, stride, dilation):
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    return [xp[c, i * sh + a * dh, j * sw + b * dw] for c in range(c_count) for a in range(kh) for b in range(kw)]


def im2col(x, kernel_size, stride=1, padding=0, dilation=1) -> sympy.Matrix:
    """φ(I) flattened: patch (i, j) row-major, entries (c, a, b) in C order, padding read as 0."""
    x = _obj(x, "x")
    _check_3d(x)
    kh, kw = as_pair(kernel_size, "kernel_size")
    geom = Conv2dGeometry.from_shapes(x.shape, (1, x.shape[0], kh, kw), stride, padding, dilation, 1)
    xp = pad_plane(x, geom.padding)
    oh, ow = geom.out_hw
    out = []
    for i in range(oh):
        for j in range(ow):
            out.extend(_patch_entries(xp, x.shape[0], i, j, geom.kernel, geom.stride, geom.dilation))
    return column(out)


def _pad_fill(pad_value):
    """Padding entry of a max window: a finite number takes part (note 001: zeros), -inf never wins."""
    if pad_value is None:
        return None
    value = float(pad_value)
    if math.isnan(value):
        raise ValueError("pad_value: must be a number or -inf (got nan)")
    if value == -math.inf:
        return None
    return _number(pad_value)


def _pool_windows(x, kernel_size, stride, padding, dilation):
    """Validate a pooling call on x (C, H, W) and list its windows.

    Returns ``(xp, real, windows)``: x zero-padded, the mask of its real (non-padding) entries, and for
    every output in C order ``(c, i, j, cells)`` with ``cells`` the kh·kw positions (row, column) of
    window (i, j) in the padded plane, taps in row-major order.
    """
    x = _obj(x, "x")
    _check_3d(x)
    geom = Pool2dGeometry.from_shapes(x.shape, kernel_size, stride, padding, dilation)
    xp = pad_plane(x, geom.padding, fill=0)
    real = _real_mask(x.shape, geom.padding)
    oh, ow = geom.out_hw
    (kh, kw), (sh, sw), (dh, dw) = geom.kernel, geom.stride, geom.dilation
    windows = [
        (c, i, j, [(i * sh + a * dh, j * sw + b * dw) for a in range(kh) for b in range(kw)])
        for c in range(geom.channels)
        for i in range(oh)
        for j in range(ow)
    ]
    return xp, real, windows


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, pad_value=-math.inf, ties="first"):
    """Max pooling as sympy ``Max`` over each window.

    Padding entries take part with the value ``pad_value`` (note 001 pads with
    zeros, so ``max{0, I11, I21}``); with ``pad_value = -inf`` they are left
    out. ``ties`` only concerns the derivative at ties (sympy's Heaviside is
    undefined there) and does not change the forward.
    """
    xp, real, windows = _pool_windows(x, kernel_size, stride, padding, dilation)
    fill = _pad_fill(pad_value)
    out = []
    for c, i, j, cells in windows:
        args = []
        for r, q in cells:
            if real[c, r, q]:
                args.append(xp[c, r, q])
            elif fill is not None:
                args.append(fill)
        if not args:
            raise GeometryError(f"padding: window ({i}, {j}) reads only padding, so its max is -inf")
        out.append(sympy.Max(*args))
    return column(out)


def avg_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, count_include_pad=True):
    """Average pooling: the window sum over kh·kw (zero padding counted, note 001's P = 1/(h·w)).

    With ``count_include_pad=False`` each window divides by its number of real entries.
    """
    xp, real, windows = _pool_windows(x, kernel_size, stride, padding, dilation)
    out = []
    for c, i, j, cells in windows:
        count = len(cells) if count_include_pad else sum(bool(real[c, r, q]) for r, q in cells)
        out.append(sympy.Add(*[xp[c, r, q] for r, q in cells]) / count)
    return column(out)


def relu(z):
    """max(0, z) entry by entry (sympy ``Max``; its derivative is Heaviside(z))."""
    return column(sympy.Max(0, v) for v in _obj(z, "z").ravel())


def sigmoid(z):
    """1 / (1 + exp(−z)) entry by entry."""
    return column(1 / (1 + sympy.exp(-v)) for v in _obj(z, "z").ravel())


def tanh(z):
    """tanh(z) entry by entry."""
    return column(sympy.tanh(v) for v in _obj(z, "z").ravel())


def _matmul(a, b):
    """Plain matrix product of two 2-D object arrays, sum by sum."""
    if a.shape[1] != b.shape[0]:
        raise GeometryError(f"weight: inner sizes differ ({a.shape} times {b.shape})")
    return np.array(
        [[sympy.Add(*[a[i, k] * b[k, j] for k in range(a.shape[1])]) for j in range(b.shape[1])] for i in range(a.shape[0])],
        dtype=object,
    ).reshape(a.shape[0], b.shape[1])


def linear_xwt(x, weight):
    """Z = X Wᵀ (note 000): ``z[i, o] = Σ_k x[i, k] w[o, k]``, C-order vec of (batch, d_out)."""
    x, weight = _obj(x, "x"), _obj(weight, "weight")
    return column(_matmul(x, weight.T).ravel())


def linear_xw_b(x, weight, bias=None):
    """z = x W + b (note 002): ``z[n, m] = Σ_k x[n, k] w[k, m] + b[m]``."""
    x, weight = _obj(x, "x"), _obj(weight, "weight")
    z = _matmul(x, weight)
    if bias is not None:
        z = z + _obj(bias, "bias")[None, :]
    return column(z.ravel())


def linear_wvec_b(h, weight, bias=None):
    """s = W vec(H) + b (note 004), vec = C order of H."""
    h, weight = _obj(h, "h"), _obj(weight, "weight")
    s = _matmul(weight, h.reshape(-1, 1)).ravel()
    if bias is not None:
        s = s + _obj(bias, "bias")
    return column(s)


def linear_wtb_b(b_vec, weight, bias=None):
    """Z = Wᵀ B + b (note 001 §3.1.1): ``z[j] = Σ_i w[i, j] B[i] + b[j]``."""
    b_vec, weight = _obj(b_vec, "b_vec"), _obj(weight, "weight")
    z = _matmul(weight.T, b_vec.reshape(-1, 1)).ravel()
    if bias is not None:
        z = z + _obj(bias, "bias")
    return column(z)


def _vector1(v, name):
    v = _obj(v, name)
    if v.ndim != 1:
        raise GeometryError(f"{name}: must be a vector (C,) (got shape {v.shape})")
    return v


def softmax(s):
    """p_i = exp(s_i) / Σ_j exp(s_j) for a score vector s (C,)."""
    s = _vector1(s, "s")
    exps = [sympy.exp(v) for v in s]
    total = sympy.Add(*exps)
    return column(e / total for e in exps)


def softmax_cross_entropy(s, y):
    """l = −log(yᵀ softmax(s)) (note 004), a 1×1 column; ``y`` is a constant (numbers)."""
    s, y = _vector1(s, "s"), _vector1(y, "y")
    p = list(softmax(s))
    return column([-sympy.log(sympy.Add(*[yi * pi for yi, pi in zip(y, p)]))])


def softmax_soft_cross_entropy(s, y):
    """h = −Σ_i y_i log softmax(s)_i, a 1×1 column; ``y`` is a constant."""
    s, y = _vector1(s, "s"), _vector1(y, "y")
    total = sympy.Add(*[sympy.exp(v) for v in s])
    return column([-sympy.Add(*[yi * (si - sympy.log(total)) for yi, si in zip(y, s)])])


def frobenius_loss(x, y):
    """Q = ½ Σ (x − y)² over all entries (note 000's ½‖X − Y‖²_F), a 1×1 column."""
    x, y = _obj(x, "x"), _obj(y, "y")
    if x.shape != y.shape:
        raise GeometryError(f"y: must have the shape of x {x.shape} (got {y.shape})")
    return column([sympy.Rational(1, 2) * sympy.Add(*[(a - b) ** 2 for a, b in zip(x.ravel(), y.ravel())])])


# ---------------------------------------------------------------------------
# structural operators (reshape family) and note 003's Kronecker form
# ---------------------------------------------------------------------------
def _slow_to_fast_axes(ndim: int, convention) -> tuple[int, ...]:
    """Axes from slowest to fastest in a convention's vec, restated from its definition.

    Planes (last two axes) walked row by row (``vec="row"``) or column by
    column (``"col"``); the axis before the plane is the channel, stacked
    plane after plane (``channels="first"``) or interleaved fastest
    (``"last"``); any earlier axes stay slowest.
    """
    conv = get_convention(convention)
    if ndim <= 1:
        return tuple(range(ndim))
    plane = (ndim - 2, ndim - 1) if conv.vec == "row" else (ndim - 1, ndim - 2)
    if ndim == 2:
        return plane
    lead = tuple(range(ndim - 3))
    return lead + ((ndim - 3,) + plane if conv.channels == "first" else plane + (ndim - 3,))


def _entries_in_order(arr, axes):
    """Entries of ``arr`` visited with ``axes[0]`` slowest … ``axes[-1]`` fastest."""
    import itertools

    out = []
    for combo in itertools.product(*[range(arr.shape[a]) for a in axes]):
        idx = [0] * arr.ndim
        for a, i in zip(axes, combo):
            idx[a] = i
        out.append(arr[tuple(idx)])
    return out


def vec(x, convention="canonical"):
    """vec(x) in a named convention, by visiting the entries in that convention's order."""
    x = _obj(x, "x")
    return column(_entries_in_order(x, _slow_to_fast_axes(x.ndim, convention)))


def convert_vec(v, shape, source="canonical", target="canonical"):
    """Re-read a vec written in ``source`` order as a tensor of ``shape``, and write it in ``target`` order."""
    import itertools

    v = _obj(v, "v").ravel()
    shape = tuple(int(s) for s in shape)
    if v.size != int(np.prod(shape)):
        raise GeometryError(f"v: has {v.size} entries but shape {shape} needs {int(np.prod(shape))}")
    tensor = np.empty(shape, dtype=object)
    axes = _slow_to_fast_axes(len(shape), source)
    for value, combo in zip(v, itertools.product(*[range(shape[a]) for a in axes])):
        idx = [0] * len(shape)
        for a, i in zip(axes, combo):
            idx[a] = i
        tensor[tuple(idx)] = value
    return vec(tensor, target)


def reshape(x, shape, order="C"):
    """numpy's reshape of the object array (C or Fortran order), then its C-order vec."""
    return column(np.reshape(_obj(x, "x"), shape, order=order).ravel())


def transpose(x, axes=None):
    """numpy's transpose of the object array, then its C-order vec."""
    return column(np.transpose(_obj(x, "x"), axes).ravel())


def flatten(x, start_dim=0, end_dim=-1):
    """Flattening keeps the C-order sequence of entries: vec(flatten(x)) = vec(x)."""
    return column(_obj(x, "x").ravel())


def stack(s1, s2, s3):
    """vec({S₁, S₂, S₃}) = (vec S₁; vec S₂; vec S₃) (note 004's stacked response maps)."""
    return column([*_obj(s1, "s1").ravel(), *_obj(s2, "s2").ravel(), *_obj(s3, "s3").ravel()])


def select(x, index):
    """The sub-array ``x[index]`` (one plane), C-order vec."""
    return column(np.asarray(_obj(x, "x")[index], dtype=object).ravel())


def xu2020_kron(x, f_f, kernel_size, stride=1, padding=0, dilation=1):
    """O_f = φ(I) F_f (note 003), shape (OH·OW, FN), C-order vec; φ from the sympy :func:`im2col`."""
    x, f_f = _obj(x, "x"), _obj(f_f, "f_f")
    phi_flat = np.array(list(im2col(x, kernel_size, stride, padding, dilation)), dtype=object)
    k = f_f.shape[0]
    phi = phi_flat.reshape(-1, k)
    return column(_matmul(phi, f_f).ravel())


#: registry name -> symbolic forward (registered only when the operator exists)
SYMBOLIC_FORWARDS = {
    "conv2d": conv2d,
    "im2col": im2col,
    "max_pool2d": max_pool2d,
    "avg_pool2d": avg_pool2d,
    "relu": relu,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "softmax": softmax,
    "softmax_cross_entropy": softmax_cross_entropy,
    "softmax_soft_cross_entropy": softmax_soft_cross_entropy,
    "frobenius_loss": frobenius_loss,
    "linear_xwt": linear_xwt,
    "linear_xw_b": linear_xw_b,
    "linear_wvec_b": linear_wvec_b,
    "linear_wtb_b": linear_wtb_b,
    "vec": vec,
    "convert_vec": convert_vec,
    "reshape": reshape,
    "transpose": transpose,
    "flatten": flatten,
    "stack": stack,
    "select": select,
    "xu2020_kron": xu2020_kron,
}


# ---------------------------------------------------------------------------
# conventions and comparison
# ---------------------------------------------------------------------------
def _permutation_source(convention: Convention, shape) -> list[int]:
    """Canonical position held by each position of ``convention``'s vec (from P's 0/1 pattern)."""
    p = convention.permutation(shape).tocsr()
    # P has exactly one 1 per row: row k's column is the canonical entry at position k.
    assert np.array_equal(np.diff(p.indptr), np.ones(p.shape[0])), "permutation: not one entry per row"
    return p.indices.tolist()


def to_convention(jac, convention, out_shape, in_shape) -> sympy.Matrix:
    """A canonical numerator-layout sympy Jacobian re-expressed in ``convention``.

    Rows and columns are permuted with the 0/1 pattern of
    :meth:`Convention.permutation` (P_out J P_inᵀ); denominator layout transposes.
    """
    conv = get_convention(convention)
    jac = as_sympy_matrix(jac)
    rows = _permutation_source(conv, out_shape)
    cols = _permutation_source(conv, in_shape)
    if jac.shape != (len(rows), len(cols)):
        raise ValueError(f"jac: has shape {jac.shape} but out_shape/in_shape give ({len(rows)}, {len(cols)})")
    converted = jac.extract(rows, cols)
    return converted.T if conv.layout == "denominator" else converted


def _exact_number(v):
    v = float(v)
    return sympy.Integer(int(v)) if v.is_integer() else sympy.Rational(v)


def as_sympy_matrix(jac):
    """sympy Matrix from a sympy matrix, a scipy.sparse array or a dense numeric array.

    Floats are converted exactly (their binary value as a sympy Rational), so
    a later comparison adds no rounding of its own.
    """
    if isinstance(jac, sympy.MatrixBase):
        return jac
    import scipy.sparse as sp

    if sp.issparse(jac):
        coo = sp.coo_array(jac)
        entries = {}
        for r, c, v in zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist()):
            if v != 0:
                entries[(r, c)] = entries.get((r, c), 0) + _exact_number(v)
        return sympy.SparseMatrix(coo.shape[0], coo.shape[1], entries)
    arr = np.asarray(jac)
    if arr.ndim != 2:
        raise ValueError(f"jac: must be 2-D (got shape {arr.shape})")
    if arr.dtype == object:
        entries = [_number(v) for v in arr.ravel()]
        for v in entries:
            if not isinstance(v, sympy.Basic):
                raise TypeError(f"jac: entries must be sympy expressions or numbers (got {type(v).__name__})")
        return sympy.Matrix(arr.shape[0], arr.shape[1], entries)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"jac: must be numeric or an object array of sympy expressions (got dtype {arr.dtype})")
    return sympy.Matrix(arr.shape[0], arr.shape[1], [_exact_number(v) for v in arr.ravel()])


def differing_entries(a, b) -> list[tuple[int, int]]:
    """Positions (row, column) where ``expand(a − b) ≠ 0``; a shape mismatch raises.

    Only positions where either matrix has a nonzero entry are examined;
    structurally identical entries are accepted without expanding.
    """
    a = as_sympy_matrix(a)
    b = as_sympy_matrix(b)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    a_dok, b_dok = a.todok(), b.todok()
    zero = sympy.Integer(0)
    bad = []
    for pos in sorted(set(a_dok) | set(b_dok)):
        u, v = a_dok.get(pos, zero), b_dok.get(pos, zero)
        if u == v:
            continue
        if sympy.expand(u - v) != 0:
            bad.append(pos)
    return bad


def jacobian(y, variables) -> sympy.SparseMatrix:
    """∂y/∂variables in numerator layout, by sympy ``diff`` of each entry w.r.t. its own free symbols.

    The same numbers as ``Matrix.jacobian``, without differentiating every
    entry with respect to every variable it does not contain.
    """
    variables = list(variables)
    position = {v: k for k, v in enumerate(variables)}
    if len(position) != len(variables):
        raise ValueError("variables: must be distinct symbols")
    entries = {}
    for r, expr in enumerate(y):
        for sym in expr.free_symbols:
            k = position.get(sym)
            if k is not None:
                d = sympy.diff(expr, sym)
                if d != 0:
                    entries[(r, k)] = d
    return sympy.SparseMatrix(len(y), len(variables), entries)


def symbolic_jacobian(name, inputs, params, wrt, convention=None) -> sympy.Matrix:
    """Differentiate the registered symbolic forward of ``name`` w.r.t. ``inputs[wrt]``.

    With a ``convention`` the output and the input are vectorized in that
    convention *before* differentiating (via :func:`vec_column`, i.e. by
    transposing the arrays — not through permutation matrices).
    """
    load_all()
    fn = SYMBOLIC[name]
    y = fn(**inputs, **params)
    var = inputs[wrt]
    if convention is not None:
        out_shape = _output_shape(name, inputs, params)
        y = vec_column(np.asarray(list(y), dtype=object).reshape(out_shape), convention)
        jac = jacobian(y, vec_column(var, convention))
        return jac.T if get_convention(convention).layout == "denominator" else jac
    return jacobian(y, vec_column(var))


def explicit_jacobian(name, inputs, params, wrt, convention=None) -> sympy.Matrix:
    """The registered explicit builder's Jacobian as a sympy Matrix (converted to ``convention``)."""
    spec = load_all()[name]
    jac = as_sympy_matrix(spec.jacobian[wrt](**inputs, **params))
    if convention is None:
        return jac
    return to_convention(jac, convention, _output_shape(name, inputs, params), np.shape(inputs[wrt]))


def _output_shape(name, inputs, params):
    """Shape of the forward output, from the numeric forward (small cases only).

    Object arrays of numbers (constants) are passed as floats; arrays holding
    symbols are replaced by distinct placeholder values (no ties, no zeros).
    """
    spec = load_all()[name]
    numeric = {}
    for key, value in inputs.items():
        if value is None:  # an absent optional input (e.g. a norm's weight) stays absent
            numeric[key] = None
            continue
        arr = np.asarray(value)
        if arr.dtype == object:
            try:
                arr = arr.astype(np.float64)
            except TypeError:
                arr = 0.5 + 0.01 * np.arange(arr.size, dtype=np.float64).reshape(arr.shape)
        numeric[key] = arr
    return np.shape(spec.forward(**numeric, **params))


# ---------------------------------------------------------------------------
# registration (only operators that exist)
# ---------------------------------------------------------------------------
from .convnd import SYMBOLIC_FORWARDS_ND  # noqa: E402  N-d conv and pooling (issue #13); replaces the 2-D pool faces

SYMBOLIC_FORWARDS.update(SYMBOLIC_FORWARDS_ND)


def _register_all():
    load_all()
    for op_name, fn in SYMBOLIC_FORWARDS.items():
        if op_name in OPERATORS and op_name not in SYMBOLIC:
            register_symbolic(op_name, fn)


_register_all()

from symbolic import normalization as _normalization  # noqa: E402,F401  (issue #14's symbolic faces register on import)
from symbolic import activation as _activation, combine as _combine, losses as _losses  # noqa: E402,F401
from symbolic import resampling  # noqa: E402,F401  (transposed conv, upsampling, adaptive pooling)
