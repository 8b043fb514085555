"""Element-wise activations — ReLU, sigmoid, tanh — and their diagonal Jacobians.

Shapes: any array ``z``; ``y = σ(z)`` has the same shape; the Jacobian is
the ``z.size × z.size`` diagonal matrix ``diag(σ'(vec(z)))`` in the canonical
C-order vec (an element-wise map has the same diagonal in every vec order,
so this Jacobian is the same in every note's convention).

Conventions chosen
------------------
ReLU at 0
    ``relu(z) = max(z, 0)`` and its derivative is taken as **0 at z = 0**
    (``Ind(z > 0)``, strict), which is what PyTorch's autograd returns, what
    note 004 (DD2424) writes as diag(Ind(vec(S) > 0)) and what note 000
    (Wang 2019) writes as a_ij = 1 if z_ij > 0, else 0.
ReLU Jacobian storage
    Only the ones are stored (rows of non-positive entries are empty), so
    the matrix is an exact 0/1 structural operator.
Sigmoid, tanh
    ``σ'(z) = σ(z)(1 − σ(z))`` and ``tanh'(z) = 1 − tanh(z)²``; sigmoid uses
    scipy's ``expit`` (no overflow for large ``|z|``). Every diagonal entry is
    stored, even where it underflows to 0.

Two forms of the ReLU derivative are kept side by side and must agree:
note 004's matrix diag(Ind(vec(z) > 0)) (:func:`relu_jacobian`) and note
000's Hadamard mask A with ∂Q/∂Z = A ∘ ∂Q/∂X' (:func:`relu_mask`,
:func:`relu_jacobian_from_mask`, :func:`relu_vjp_hadamard`).
"""
from __future__ import annotations

import math

import numpy as np

from ..geometry import _short

from ..registry import Case, register
from . import _references
from ._show import ShowSetup, ShowSpec, real_option, same_shape_spec
from ._sparse import as_array  # ragged input: one line
from ._sparse import (
    Pattern,
    as_float_array,
    assemble,
    check_budget,
    csr_from_arrays,
    index_dtype_for,
    resolve_dtype,
    torch_input,
)

__all__ = [
    "relu",
    "relu_mask",
    "relu_jacobian",
    "relu_jacobian_from_mask",
    "relu_vjp_hadamard",
    "sigmoid",
    "sigmoid_jacobian",
    "sigmoid_vjp",
    "tanh",
    "tanh_jacobian",
    "tanh_vjp",
    "leaky_relu",
    "leaky_relu_jacobian",
    "leaky_relu_vjp",
    "elu",
    "elu_jacobian",
    "elu_vjp",
    "gelu",
    "gelu_jacobian",
    "gelu_vjp",
    "softplus",
    "softplus_jacobian",
    "softplus_vjp",
    "dropout",
    "dropout_jacobian",
    "dropout_vjp",
]


def _numeric(z, name="z") -> np.ndarray:
    arr = as_float_array(z, name)
    if arr.dtype == object:
        raise TypeError(f"{name}: activations need numeric values (got an object array)")
    return arr


def _grad_like(g, z, name="g") -> np.ndarray:
    g = np.asarray(g, dtype=np.float64)
    if g.shape != z.shape:
        raise ValueError(f"{name}: must have the shape of z {z.shape} (got {g.shape})")
    return g


def _diagonal(values: np.ndarray, what: str):
    """csr_array diag(values), every diagonal entry stored (filled directly, validated)."""
    n = values.size
    check_budget(what, n, (n, n), values.dtype)
    idx = index_dtype_for(n)
    return csr_from_arrays(np.ascontiguousarray(values.ravel()), np.arange(n, dtype=idx),
                           np.arange(n + 1, dtype=idx), (n, n), what=what)


#: entries per pass of :func:`_diagonal_from` (its temporaries stay in cache)
_DIAG_CHUNK = 1 << 16


def _diagonal_from(z, derivative, dtype, what: str):
    """diag(derivative(vec(z))) with CSR arrays written directly: indptr = indices = arange,
    data computed chunk by chunk into place (peak ≈ the result; no dia detour, no full-size temporary)."""
    from ._sparse import check_budget, csr_from_arrays

    flat = _numeric(z).ravel()
    n = int(flat.size)
    dtype = np.dtype(dtype or np.float64)
    check_budget(what, n, (n, n), dtype)
    idx = index_dtype_for(n)
    data = np.empty(n, dtype=dtype)
    derivative(flat[:0])  # parameters are validated even when z is empty
    for start in range(0, n, _DIAG_CHUNK):
        data[start : start + _DIAG_CHUNK] = derivative(flat[start : start + _DIAG_CHUNK])
    return csr_from_arrays(data, np.arange(n, dtype=idx), np.arange(n + 1, dtype=idx), (n, n), what=what)


def _sigmoid_derivative(z):
    from scipy.special import expit

    s = expit(z)
    return s * (1.0 - s)


def _tanh_derivative(z):
    t = np.tanh(z)
    return 1.0 - t * t


# ---------------------------------------------------------------------------
# ReLU
# ---------------------------------------------------------------------------
def relu(z=None, *, input=None):
    """ReLU: ``y = max(z, 0)`` element-wise (note 000's x'_ij, note 004's H = max(0, S)).

    ``input=`` is accepted for ``z`` (PyTorch's name); float32 stays float32.

    Examples
    --------
    >>> relu(np.array([-1., 0., 2.]))
    array([0., 0., 2.])
    """
    # np.maximum propagates NaN instead of hiding it as 0
    z = _numeric(torch_input(z, input, "z"))
    return np.maximum(z, z.dtype.type(0))


def relu_mask(z) -> np.ndarray:
    """Note 000's matrix A: ``a = 1`` where ``z > 0``, else 0 (so 0 at z = 0); shaped like z."""
    return (_numeric(z) > 0).astype(np.float64)


def relu_jacobian(z, *, dtype=None):
    """∂vec(relu(z))/∂vec(z) = diag(Ind(vec(z) > 0)) (note 004), derivative 0 at z = 0.

    Returns
    -------
    csr_array of shape (z.size, z.size) storing only the ones: row k holds
    a 1 in column k when ``z_k > 0`` and is empty otherwise. Values are
    float32 for a float32 z (or ``dtype``), else float64; int dtypes are refused.
    A batch is just a larger z: the Jacobian of the batched call.

    Examples
    --------
    >>> relu_jacobian(np.array([2., 0., -1.])).toarray()
    array([[1., 0., 0.],
           [0., 0., 0.],
           [0., 0., 0.]])
    """
    z = _numeric(z)
    dt = resolve_dtype(dtype, z)
    positive = (z > 0).ravel()
    n = positive.size
    check_budget("relu Jacobian", n, (n, n), dt)
    idx = index_dtype_for(n)
    indptr = np.zeros(n + 1, dtype=idx)
    np.cumsum(positive, out=indptr[1:])
    pattern = Pattern(indptr, np.flatnonzero(positive).astype(idx), None, (n, n))
    return assemble(pattern, dtype=dt, what="relu_jacobian")


def relu_jacobian_from_mask(z):
    """Note 000's form: diag(vec(A)) of the Hadamard mask A, built through scipy's dia format.

    Explicit zeros of the diagonal are dropped so that the result is the
    same sparse matrix as :func:`relu_jacobian`, not only the same values.
    """
    mat = _diagonal(relu_mask(z), "relu_jacobian_from_mask")
    mat.eliminate_zeros()
    return mat


def relu_vjp_hadamard(g, z):
    """∂Q/∂Z = A ∘ ∂Q/∂X' (note 000, eq. 2.1): the upstream gradient masked element-wise."""
    z = _numeric(z)
    return relu_mask(z) * _grad_like(g, z)


# ---------------------------------------------------------------------------
# sigmoid and tanh
# ---------------------------------------------------------------------------
def sigmoid(z=None, *, input=None):
    """Logistic sigmoid ``1 / (1 + exp(−z))`` element-wise (scipy's overflow-free ``expit``).

    ``input=`` is accepted for ``z`` (PyTorch's name); float32 stays float32.
    """
    from scipy.special import expit

    return expit(_numeric(torch_input(z, input, "z")))


def sigmoid_jacobian(z, *, dtype=None):
    """diag(σ(z)(1 − σ(z))) as a csr_array of shape (z.size, z.size).

    Examples
    --------
    >>> sigmoid_jacobian(np.zeros(2)).toarray()
    array([[0.25, 0.  ],
           [0.  , 0.25]])
    """
    z = _numeric(z)
    return _diagonal_from(z, _sigmoid_derivative, resolve_dtype(dtype, z), "sigmoid_jacobian")


def sigmoid_vjp(g, z):
    """gᵀ diag(σ') without the matrix: ``g · σ(z)(1 − σ(z))``."""
    z = _numeric(z)
    s = sigmoid(z)
    return _grad_like(g, z) * s * (1.0 - s)


def tanh(z=None, *, input=None):
    """Hyperbolic tangent element-wise; ``input=`` accepted for ``z``; float32 stays float32."""
    return np.tanh(_numeric(torch_input(z, input, "z")))


def tanh_jacobian(z, *, dtype=None):
    """diag(1 − tanh(z)²) as a csr_array of shape (z.size, z.size).

    Examples
    --------
    >>> tanh_jacobian(np.zeros(2)).toarray()
    array([[1., 0.],
           [0., 1.]])
    """
    z = _numeric(z)
    return _diagonal_from(z, _tanh_derivative, resolve_dtype(dtype, z), "tanh_jacobian")


def tanh_vjp(g, z):
    """gᵀ diag(tanh') without the matrix: ``g · (1 − tanh(z)²)``."""
    z = _numeric(z)
    t = tanh(z)
    return _grad_like(g, z) * (1.0 - t * t)


# ---------------------------------------------------------------------------
# modern activations (PyTorch's names, parameters and kink conventions)
# ---------------------------------------------------------------------------
def _real(value, name, *, positive=False, nonzero=False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: must be a real number (got {_short(value)})")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name}: must be finite (got {_short(value)})")
    if positive and v <= 0:
        raise ValueError(f"{name}: must be > 0 (got {_short(value)})")
    if nonzero and v == 0:
        raise ValueError(f"{name}: must be nonzero (got {_short(value)})")
    return v


def _diag_of(derivative, z, dtype, what):
    """diag(derivative(z)) written chunk by chunk (:func:`_diagonal_from`: peak ≈ the result)."""
    return _diagonal_from(z, derivative, resolve_dtype(dtype, z), what)


def leaky_relu(z, negative_slope=0.01):
    """``y = z`` for z > 0, ``negative_slope · z`` otherwise (``F.leaky_relu``).

    Examples
    --------
    >>> leaky_relu(np.array([-2.0, 0.0, 3.0]), 0.1)
    array([-0.2,  0. ,  3. ])
    """
    z = _numeric(z)
    return np.where(z > 0, z, z * z.dtype.type(_real(negative_slope, "negative_slope")))


def _leaky_relu_derivative(z, negative_slope):
    # z > 0 strictly: at z = 0 the slope is negative_slope, what PyTorch's autograd returns
    return np.where(z > 0, 1.0, _real(negative_slope, "negative_slope"))


def leaky_relu_jacobian(z, negative_slope=0.01, *, dtype=None):
    """diag(1 if z > 0 else negative_slope); **negative_slope at z = 0** (PyTorch's autograd).

    Examples
    --------
    >>> leaky_relu_jacobian(np.array([2.0, 0.0, -1.0]), 0.1).toarray()
    array([[1. , 0. , 0. ],
           [0. , 0.1, 0. ],
           [0. , 0. , 0.1]])
    """
    z = _numeric(z)
    return _diag_of(lambda c: _leaky_relu_derivative(c, negative_slope), z, dtype, "leaky_relu_jacobian")


def leaky_relu_vjp(g, z, negative_slope=0.01):
    """g ∘ leaky_relu'(z) without the matrix."""
    z = _numeric(z)
    return _grad_like(g, z) * _leaky_relu_derivative(z, negative_slope)


def elu(z, alpha=1.0):
    """``y = z`` for z > 0, ``alpha (exp(z) − 1)`` otherwise (``F.elu``).

    Examples
    --------
    >>> elu(np.array([1.0, 0.0]), 2.0)
    array([1., 0.])
    """
    z = _numeric(z)
    a = _real(alpha, "alpha")
    return np.where(z > 0, z, a * np.expm1(np.minimum(z, 0))).astype(z.dtype)


def _elu_derivative(z, alpha):
    # z ≤ 0 takes the exponential branch: alpha at z = 0, PyTorch's elu_backward
    a = _real(alpha, "alpha")
    return np.where(z > 0, 1.0, a * np.exp(np.minimum(z, 0)))


def elu_jacobian(z, alpha=1.0, *, dtype=None):
    """diag(1 if z > 0 else alpha·exp(z)); **alpha at z = 0** (PyTorch's autograd).

    Examples
    --------
    >>> elu_jacobian(np.array([1.0, 0.0]), 2.0).toarray()
    array([[1., 0.],
           [0., 2.]])
    """
    z = _numeric(z)
    return _diag_of(lambda c: _elu_derivative(c, alpha), z, dtype, "elu_jacobian")


def elu_vjp(g, z, alpha=1.0):
    """g ∘ elu'(z) without the matrix."""
    z = _numeric(z)
    return _grad_like(g, z) * _elu_derivative(z, alpha)


_GELU_C = np.sqrt(2.0 / np.pi)


def _approximate(approximate):
    if not isinstance(approximate, str) or approximate not in ("none", "tanh"):
        raise ValueError(f"approximate: must be 'none' or 'tanh' (got {_short(approximate)})")
    return approximate


def gelu(z, approximate="none"):
    """GELU (``F.gelu``): ``z Φ(z)`` exactly, or ``½z(1 + tanh(√(2/π)(z + 0.044715 z³)))`` with ``approximate="tanh"``.

    Examples
    --------
    >>> gelu(np.array([0.0, 1.0]))
    array([0.        , 0.84134475])
    """
    from scipy.special import ndtr

    z = _numeric(z)
    if _approximate(approximate) == "tanh":
        return (0.5 * z * (1 + np.tanh(_GELU_C * (z + 0.044715 * z ** 3)))).astype(z.dtype)
    return (z * ndtr(z)).astype(z.dtype)


def _gelu_derivative(z, approximate):
    from scipy.special import ndtr

    z = np.asarray(z, dtype=np.float64)
    if _approximate(approximate) == "tanh":
        t = np.tanh(_GELU_C * (z + 0.044715 * z ** 3))
        return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * _GELU_C * (1 + 3 * 0.044715 * z * z)
    return ndtr(z) + z * np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)  # Φ(z) + z φ(z)


def gelu_jacobian(z, approximate="none", *, dtype=None):
    """diag(Φ(z) + z φ(z)) (or the tanh form's derivative); smooth, no kink.

    Examples
    --------
    >>> gelu_jacobian(np.array([0.0])).toarray()
    array([[0.5]])
    """
    z = _numeric(z)
    return _diag_of(lambda c: _gelu_derivative(c, approximate), z, dtype, "gelu_jacobian")


def gelu_vjp(g, z, approximate="none"):
    """g ∘ gelu'(z) without the matrix."""
    z = _numeric(z)
    return _grad_like(g, z) * _gelu_derivative(z, approximate)


def softplus(z, beta=1.0, threshold=20.0):
    """``log(1 + exp(βz))/β``, and ``z`` where ``βz > threshold`` (``F.softplus``, numerically stable).

    Examples
    --------
    >>> softplus(np.array([0.0, 30.0]))
    array([ 0.69314718, 30.        ])
    """
    z = _numeric(z)
    b = _real(beta, "beta", nonzero=True)
    t = _real(threshold, "threshold")
    bz = b * z.astype(np.float64)
    smooth = np.logaddexp(0.0, bz) / b
    return np.where(bz > t, z, smooth).astype(z.dtype)


def _softplus_derivative(z, beta, threshold):
    from scipy.special import expit

    b = _real(beta, "beta", nonzero=True)
    t = _real(threshold, "threshold")
    bz = b * np.asarray(z, dtype=np.float64)
    # βz > threshold strictly is the linear branch (derivative 1); at βz = threshold PyTorch uses σ(βz)
    return np.where(bz > t, 1.0, expit(bz))


def softplus_jacobian(z, beta=1.0, threshold=20.0, *, dtype=None):
    """diag(σ(βz)), and 1 where ``βz > threshold``; at ``βz = threshold`` σ(threshold), as PyTorch.

    Examples
    --------
    >>> softplus_jacobian(np.array([0.0, 30.0])).toarray()
    array([[0.5, 0. ],
           [0. , 1. ]])
    """
    z = _numeric(z)
    return _diag_of(lambda c: _softplus_derivative(c, beta, threshold), z, dtype, "softplus_jacobian")


def softplus_vjp(g, z, beta=1.0, threshold=20.0):
    """g ∘ softplus'(z) without the matrix."""
    z = _numeric(z)
    return _grad_like(g, z) * _softplus_derivative(z, beta, threshold)


def _dropout_args(mask, p):
    m = as_array(mask, "mask")
    if m.dtype == object or not (m.dtype == bool or np.issubdtype(m.dtype, np.number)) or np.iscomplexobj(m):
        raise TypeError(f"mask: must be a boolean or 0/1 numeric array (got dtype {m.dtype})")
    if m.dtype != bool and not np.isin(m, (0, 1)).all():  # (a bool mask is 0/1 by its dtype)
        raise ValueError("mask: entries must be 0 or 1 (kept or dropped)")
    q = _real(p, "p")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"p: must be a probability in [0, 1] (got {_short(p)})")
    # p = 1 drops everything: PyTorch returns zeros (scale 0, not 1/0)
    scale = 0.0 if q == 1.0 else 1.0 / (1.0 - q)
    return m.astype(bool, copy=False), scale


def dropout(z, mask, p):
    """Dropout with a fixed mask: ``y = z ∘ mask / (1 − p)`` (``F.dropout`` in training mode, its mask given).

    Examples
    --------
    >>> dropout(np.array([1.0, 2.0]), np.array([True, False]), 0.5)
    array([2., 0.])
    """
    z = _numeric(z)
    m, scale = _dropout_args(mask, p)
    if m.shape != z.shape:
        raise ValueError(f"mask: must have the shape of z {z.shape} (got {m.shape})")
    return z * (m * z.dtype.type(scale))


def dropout_jacobian(mask, p, *, dtype=None):
    """diag(mask / (1 − p)) — depends only on the mask; every diagonal entry stored (0 where dropped).

    Examples
    --------
    >>> dropout_jacobian(np.array([1, 0, 1]), 0.5).toarray()
    array([[2., 0., 0.],
           [0., 0., 0.],
           [0., 0., 2.]])
    """
    m, scale = _dropout_args(mask, p)
    dtype = resolve_dtype(dtype)
    n = int(m.size)
    check_budget("dropout_jacobian", n, (n, n), dtype)
    # mask·scale computed in float64 (as m * scale would) and cast into the data in numpy's buffered
    # chunks: no float64 temporary of n entries next to the CSR
    data = np.empty(n, dtype=dtype)
    np.multiply(m, np.float64(scale), out=data.reshape(m.shape), dtype=np.float64, casting="same_kind")
    return _diagonal(data, "dropout_jacobian")


def dropout_vjp(g, mask, p):
    """g ∘ mask / (1 − p) (PyTorch's native_dropout_backward)."""
    m, scale = _dropout_args(mask, p)
    g = np.asarray(g, dtype=np.float64)
    if g.shape != m.shape:
        raise ValueError(f"g: must have the shape of the mask {m.shape} (got {g.shape})")
    return np.where(m, g * scale, 0.0)


# ---------------------------------------------------------------------------
# registration
# ---------------------------------------------------------------------------
#: Shapes of the generic check's cases: an image, a feature vector, a batch matrix, a scalar-sized array.
ACTIVATION_SHAPES = [(3, 4, 5), (7,), (2, 6), (1, 1, 1)]


def _away_from_kink(rng, shape, spread=2.0):
    """Normal samples with |z| ≥ 1e-3 (moved off the ReLU kink, so finite differences see one side)."""
    z = rng.standard_normal(shape) * spread
    small = np.abs(z) < 1e-3
    z[small] = np.where(z[small] < 0, -0.1, 0.1)
    return z


def _activation_cases(seed, spread=2.0):
    def cases():
        rng = np.random.default_rng(seed)
        return [
            Case({"z": _away_from_kink(rng, shape, spread)}, {}, "z" + "x".join(map(str, shape)))
            for shape in ACTIVATION_SHAPES
        ]

    return cases


def _torch_relu(z):
    import torch

    return torch.relu(z)


def _torch_sigmoid(z):
    import torch

    return torch.sigmoid(z)


def _torch_tanh(z):
    import torch

    return torch.tanh(z)


def _relu_forward(z):
    """Registered forward, inputs required (see :mod:`jacobians.registry`)."""
    return relu(z)


def _sigmoid_forward(z):
    """Registered forward, inputs required (see :mod:`jacobians.registry`)."""
    return sigmoid(z)


def _tanh_forward(z):
    """Registered forward, inputs required (see :mod:`jacobians.registry`)."""
    return tanh(z)


register(
    "relu",
    reference=_references.relu_reference,
    summary="ReLU max(z, 0): diag(Ind(vec(z) > 0)), derivative 0 at z = 0",
    forward=_relu_forward,
    jacobian={"z": lambda z: relu_jacobian(z)},
    vjp={"z": {"hadamard": relu_vjp_hadamard}},
    cases=_activation_cases(31),
    structural=("z",),
    torch_forward=_torch_relu,
    show=same_shape_spec("z", symbol="z"),
)

register(
    "sigmoid",
    reference=_references.sigmoid_reference,
    summary="logistic sigmoid: diag(σ(z)(1 − σ(z)))",
    forward=_sigmoid_forward,
    jacobian={"z": lambda z: sigmoid_jacobian(z)},
    vjp={"z": {"elementwise": sigmoid_vjp}},
    cases=_activation_cases(32, spread=3.0),
    torch_forward=_torch_sigmoid,
    show=same_shape_spec("z", symbol="z"),
)

register(
    "tanh",
    reference=_references.tanh_reference,
    summary="hyperbolic tangent: diag(1 − tanh(z)²)",
    forward=_tanh_forward,
    jacobian={"z": lambda z: tanh_jacobian(z)},
    vjp={"z": {"elementwise": tanh_vjp}},
    cases=_activation_cases(33),
    torch_forward=_torch_tanh,
    show=same_shape_spec("z", symbol="z"),
)


# modern activations ------------------------------------------------------------------
def _ref_elementwise(fn):
    """A reference forward: ``fn`` (math on Python floats, from the definition) entry by entry."""

    def reference(z, **params):
        z = np.asarray(z, dtype=np.float64)
        return np.array([fn(float(v), **params) for v in z.ravel()]).reshape(z.shape)

    return reference


def _ref_leaky(v, negative_slope=0.01):
    return v if v > 0 else negative_slope * v


def _ref_elu(v, alpha=1.0):
    return v if v > 0 else alpha * (math.exp(v) - 1)


def _ref_gelu(v, approximate="none"):
    if approximate == "tanh":
        return 0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))
    return 0.5 * v * (1 + math.erf(v / math.sqrt(2)))


def _ref_softplus(v, beta=1.0, threshold=20.0):
    return v if beta * v > threshold else math.log1p(math.exp(beta * v)) / beta


def _param_cases(seed, grid, spread=2.0):
    def cases():
        rng = np.random.default_rng(seed)
        out = []
        for params in grid:
            for shape in ACTIVATION_SHAPES[:3]:
                tag = "-".join(f"{k}{v}" for k, v in params.items())
                out.append(Case({"z": _away_from_kink(rng, shape, spread)}, params, "z" + "x".join(map(str, shape)) + "-" + tag))
        return out

    return cases


def _torch_fn(name):
    def forward(z, **params):
        import torch.nn.functional as F

        return getattr(F, name)(z, **params)

    forward.__name__ = f"_torch_{name}"
    return forward


#: `jacobians show` options of the modern activations, by PyTorch's names (``--param NAME=VALUE``).
_ACTIVATION_SHOW = {
    "leaky_relu": same_shape_spec(
        "z", symbol="z", options={"negative_slope": "float"},
        params=lambda o: {"negative_slope": real_option(o, "negative_slope", 0.01)},
        example=("--input", "2x3", "--param", "negative_slope=0.1"),
    ),
    "elu": same_shape_spec(
        "z", symbol="z", options={"alpha": "float"}, params=lambda o: {"alpha": real_option(o, "alpha", 1.0)},
        example=("--input", "2x3", "--param", "alpha=0.5"),
    ),
    "gelu": same_shape_spec(
        "z", symbol="z", options={"approximate": ("none", "tanh")},
        params=lambda o: {"approximate": o.get("approximate", "none")},
        example=("--input", "2x3", "--param", "approximate=tanh"),
    ),
    "softplus": same_shape_spec(
        "z", symbol="z", options={"beta": "float", "threshold": "float"},
        params=lambda o: {"beta": real_option(o, "beta", 1.0, "other than 0", lambda v: v != 0),
                          "threshold": real_option(o, "threshold", 20.0)},
        example=("--input", "2x3", "--param", "beta=2"),
    ),
}


for _seed, (_name, _fwd, _jac, _vjp, _ref, _grid, _summary) in enumerate([
    ("leaky_relu", leaky_relu, leaky_relu_jacobian, leaky_relu_vjp, _ref_leaky,
     [{"negative_slope": 0.01}, {"negative_slope": 0.2}, {"negative_slope": -0.5}],
     "leaky ReLU: diag(1 if z > 0 else negative_slope), negative_slope at z = 0 (PyTorch)"),
    ("elu", elu, elu_jacobian, elu_vjp, _ref_elu, [{"alpha": 1.0}, {"alpha": 0.3}],
     "ELU: diag(1 if z > 0 else alpha·exp(z)), alpha at z = 0 (PyTorch)"),
    ("gelu", gelu, gelu_jacobian, gelu_vjp, _ref_gelu, [{"approximate": "none"}, {"approximate": "tanh"}],
     "GELU z·Φ(z) or its tanh approximation: diag(Φ(z) + z·φ(z))"),
    ("softplus", softplus, softplus_jacobian, softplus_vjp, _ref_softplus,
     [{"beta": 1.0, "threshold": 20.0}, {"beta": 2.0, "threshold": 3.0}, {"beta": 0.5, "threshold": 1.0}],
     "softplus log(1 + exp(βz))/β (z beyond the threshold): diag(σ(βz)), 1 where βz > threshold"),
], start=36):
    register(
        _name,
        summary=_summary,
        forward=_fwd,
        jacobian={"z": _jac},
        vjp={"z": {"elementwise": _vjp}},
        cases=_param_cases(_seed, _grid, spread=3.0),
        torch_forward=_torch_fn(_name),
        reference=_ref_elementwise(_ref),
        param_names=tuple(_grid[0]),
        show=_ACTIVATION_SHOW[_name],
    )


def _dropout_cases():
    rng = np.random.default_rng(35)
    out = []
    for shape, p in [((3, 4, 5), 0.5), ((7,), 0.1), ((2, 6), 0.0), ((2, 3), 1.0)]:
        mask = rng.random(shape) >= p if p < 1 else np.zeros(shape, dtype=bool)
        out.append(Case({"z": rng.standard_normal(shape), "mask": mask}, {"p": p}, "z" + "x".join(map(str, shape)) + f"-p{p}",
                        constant=("mask",)))
    return out


def _dropout_show_setup(shape, options):
    """``--param p=P`` (default 0.5) and a keep-mask drawn from ``--param mask_seed=N`` (default 0), printed as a constant.

    The mask keeps entry i when ``numpy.random.default_rng(mask_seed).random(shape)[i] >= p`` (probability
    1 − p, as dropout does); it is built only after show's --max-memory check.
    """
    p = real_option(options, "p", 0.5, "in [0, 1]", lambda v: 0.0 <= v <= 1.0)
    mask_seed = options.get("mask_seed", 0)

    def mask():
        return (np.random.default_rng(mask_seed).random(shape) >= p).astype(np.int8)

    return ShowSetup({"z": shape}, {"p": p}, constants={"mask": mask})


def _torch_dropout(z, mask, p):
    # F.dropout draws its own mask; with the mask fixed, PyTorch's training-mode forward is z·mask·scale
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    return z * mask * scale


register(
    "dropout",
    summary="dropout with a fixed mask: diag(mask/(1 − p)) (zeros for p = 1, as PyTorch)",
    forward=dropout,
    jacobian={"z": lambda z, mask, p: dropout_jacobian(mask, p, dtype=resolve_dtype(None, _numeric(z)))},
    vjp={"z": {"mask": lambda g, z, mask, p: dropout_vjp(g, mask, p)}},
    cases=_dropout_cases,
    affine_in=("z",),
    torch_forward=_torch_dropout,
    reference=lambda z, mask, p: np.array([v * (1.0 / (1.0 - p) if k and p < 1 else 0.0)
                                           for v, k in zip(np.ravel(z), np.ravel(mask))]).reshape(np.shape(z)),
    param_names=("p",),
    show=ShowSpec(
        setup=_dropout_show_setup, options={"p": "float", "mask_seed": "int"},
        out_shape=lambda shapes, params: shapes["z"], nnz=lambda shapes, params, wrt, out: math.prod(out),
        symbols={"z": "z"}, example=("--input", "2x3", "--param", "p=0.5", "--param", "mask_seed=1"),
    ),
)
