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
    scipy's ``expit`` (no overflow for large |z|). Every diagonal entry is
    stored, even where it underflows to 0.

Two forms of the ReLU derivative are kept side by side and must agree:
note 004's matrix diag(Ind(vec(z) > 0)) (:func:`relu_jacobian`) and note
000's Hadamard mask A with ∂Q/∂Z = A ∘ ∂Q/∂X' (:func:`relu_mask`,
:func:`relu_jacobian_from_mask`, :func:`relu_vjp_hadamard`).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..registry import Case, register
from . import _references
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
    dt = resolve_dtype(dtype, z)
    s = sigmoid(z)
    return _diagonal((s * (1 - s)).astype(dt), "sigmoid_jacobian")


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
    dt = resolve_dtype(dtype, z)
    t = tanh(z)
    return _diagonal((1 - t * t).astype(dt), "tanh_jacobian")


def tanh_vjp(g, z):
    """gᵀ diag(tanh') without the matrix: ``g · (1 − tanh(z)²)``."""
    z = _numeric(z)
    t = tanh(z)
    return _grad_like(g, z) * (1.0 - t * t)


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
)
