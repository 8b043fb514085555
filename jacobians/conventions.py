"""Vectorization conventions, and the permutations between them.

Every builder in this package works in one *canonical* convention: PyTorch's
memory order (``(C, H, W)`` images, ``(C_out, C_in, kh, kw)`` weights),
``vec`` = C-order flatten, numerator layout (rows = outputs, columns =
inputs), 0-based indices. A note's convention is a :class:`Convention`, and a
Jacobian in that convention is ``P_out @ J @ P_in.T`` with the sparse 0/1
permutation matrices returned by :meth:`Convention.permutation` — no second
builder is ever written for another ordering.

How a convention orders the axes of a tensor (slowest axis first):

* the last two axes form a *plane* (rows, columns); ``vec="row"`` walks a
  plane row by row (C order), ``vec="col"`` column by column (Fortran order,
  MATLAB's ``A(:)``);
* the axis before the plane is the *channel* axis; ``channels="first"``
  stacks whole planes one after another (note 004's X₁, X₂, X₃),
  ``channels="last"`` interleaves channels fastest (``H × W × C`` pixels);
* any further leading axes (batch, output channel of a weight) stay slowest,
  in order.

A 1-D tensor is its own vec in every convention.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import scipy.sparse as sp

__all__ = [
    "Convention",
    "CANONICAL",
    "PRESETS",
    "get_convention",
    "axis_order",
    "vec",
    "unvec",
    "commutation_matrix",
]


@dataclass(frozen=True)
class Convention:
    """How tensors are vectorized and Jacobians laid out.

    Parameters
    ----------
    vec : {"row", "col"}
        Order within a plane: row-major (C order) or column-major (Fortran).
    channels : {"first", "last"}
        Planes stacked one after another, or channels interleaved fastest.
    layout : {"numerator", "denominator"}
        Numerator layout: ``J[i, j] = ∂y_i/∂x_j`` (shape ``(y.size, x.size)``);
        denominator layout is its transpose.
    index_base : {0, 1}
        Only for printing symbol subscripts (X₁₁ vs X₀₀).
    name : str
        A label (the preset's name).
    """

    vec: str = "row"
    channels: str = "first"
    layout: str = "numerator"
    index_base: int = 0
    name: str = "custom"

    def __post_init__(self):
        if self.vec not in ("row", "col"):
            raise ValueError(f"vec: must be 'row' or 'col' (got {self.vec!r})")
        if self.channels not in ("first", "last"):
            raise ValueError(f"channels: must be 'first' or 'last' (got {self.channels!r})")
        if self.layout not in ("numerator", "denominator"):
            raise ValueError(f"layout: must be 'numerator' or 'denominator' (got {self.layout!r})")
        if self.index_base not in (0, 1):
            raise ValueError(f"index_base: must be 0 or 1 (got {self.index_base!r})")

    def with_(self, **changes) -> "Convention":
        return replace(self, **changes)

    def axis_order(self, ndim: int) -> tuple[int, ...]:
        """Axes of a canonical ``ndim``-tensor from slowest to fastest in this vec."""
        return axis_order(ndim, self.vec, self.channels)

    def permutation(self, shape) -> sp.csr_array:
        """Sparse 0/1 ``P`` with ``P @ vec_canonical(T) == vec_this(T)`` for ``T.shape == shape``."""
        from .geometry import as_items, as_positive_int

        items = as_items(shape, "shape", "a tuple of non-negative integers")
        dims = tuple(as_positive_int(d, f"shape[{i}]", allow_zero=True) for i, d in enumerate(items))
        return _permutation(dims, self.vec, self.channels)

    def vectorize(self, tensor) -> np.ndarray:
        """vec of a canonical-shaped tensor in this convention."""
        return vec(tensor, self)

    def unvectorize(self, vector, shape) -> np.ndarray:
        """Inverse of :meth:`vectorize`: a canonical-shaped tensor."""
        return unvec(vector, shape, self)

    def jacobian(self, jac, out_shape, in_shape):
        """Re-express a canonical numerator-layout Jacobian in this convention."""
        p_out = self.permutation(out_shape)
        p_in = self.permutation(in_shape)
        converted = p_out @ jac @ p_in.T
        return converted.T if self.layout == "denominator" else converted


def axis_order(ndim: int, vec_order: str = "row", channels: str = "first") -> tuple[int, ...]:
    """Canonical axes listed from slowest to fastest (see the module docstring)."""
    if ndim <= 1:
        return tuple(range(ndim))
    plane = (ndim - 2, ndim - 1) if vec_order == "row" else (ndim - 1, ndim - 2)
    if ndim == 2:
        return plane
    lead = tuple(range(ndim - 3))
    chan = ndim - 3
    if channels == "first":
        return lead + (chan,) + plane
    return lead + plane + (chan,)


@lru_cache(maxsize=256)
def _permutation(shape: tuple[int, ...], vec_order: str, channels: str) -> sp.csr_array:
    from .geometry import as_positive_int
    from .ops._sparse import check_budget, csr_from_arrays, exact_size

    shape = tuple(as_positive_int(d, f"shape[{i}]", allow_zero=True) for i, d in enumerate(shape))
    n = exact_size(shape)
    check_budget("convention permutation", n, (n, n))
    order = axis_order(len(shape), vec_order, channels)
    # Position k of the convention's vec holds canonical entry source[k].
    source = np.arange(n).reshape(shape).transpose(order).ravel()
    index_dtype = np.int32 if n < 2**31 else np.int64
    return csr_from_arrays(np.ones(n, dtype=np.float64), source.astype(index_dtype),
                           np.arange(n + 1, dtype=index_dtype), (n, n), what="convention permutation")


def vec(tensor, convention: Convention | None = None) -> np.ndarray:
    """vec(T) in ``convention`` (canonical C order when None)."""
    from .ops._sparse import as_array

    arr = as_array(tensor, "tensor")
    if convention is None:
        return arr.ravel()
    return arr.transpose(get_convention(convention).axis_order(arr.ndim)).ravel()


def unvec(vector, shape, convention: Convention | None = None) -> np.ndarray:
    """The canonical-shaped tensor whose vec (in ``convention``) is ``vector``."""
    from .geometry import as_items, as_positive_int
    from .ops._sparse import as_array, exact_size

    vector = as_array(vector, "vector").ravel()
    items = as_items(shape, "shape", "a tuple of non-negative integers")
    shape = tuple(as_positive_int(d, f"shape[{i}]", allow_zero=True) for i, d in enumerate(items))
    if vector.size != exact_size(shape):
        raise ValueError(f"vector: has {vector.size} entries but shape {shape} needs {exact_size(shape)}")
    if convention is None:
        return vector.reshape(shape)
    order = get_convention(convention).axis_order(len(shape))
    permuted = vector.reshape(tuple(shape[a] for a in order))
    return permuted.transpose(np.argsort(order))


def commutation_matrix(m: int, n: int) -> sp.csr_array:
    """The commutation matrix ``K`` (mn × mn, 0/1) with vec(Aᵀ) = K vec(A).

    ``A`` is m × n and vec is column-major (the convention of the Kronecker
    identity vec(AXB) = (Bᵀ ⊗ A) vec(X)): vec(A)[j·m + i] = A[i, j] and
    vec(Aᵀ)[i·n + j] = A[i, j], so row i·n + j of K has its 1 in column j·m + i.
    """
    from .geometry import as_positive_int

    from .ops._sparse import check_budget, csr_from_arrays, index_dtype_for

    m = as_positive_int(m, "m")
    n = as_positive_int(n, "n")
    check_budget("commutation matrix", m * n, (m * n, m * n))
    # row i·n + j (rows in order, one 1 each) has its 1 in column j·m + i
    idx = index_dtype_for(m * n)
    cols = (np.arange(n, dtype=idx)[None, :] * idx.type(m) + np.arange(m, dtype=idx)[:, None]).ravel()
    return csr_from_arrays(np.ones(m * n), cols, np.arange(m * n + 1, dtype=idx), (m * n, m * n),
                           what="commutation_matrix")


CANONICAL = Convention(name="canonical")

#: Named presets: one per source note (see shared/notes/README.md), plus
#: canonical/pytorch. Keys are the note identifiers used across the project.
PRESETS: dict[str, Convention] = {
    "canonical": CANONICAL,
    "pytorch": Convention(name="pytorch"),
    # Shusen Wang (2019): column-major patches and entries within a patch, 1-based.
    "wang2019": Convention(vec="col", channels="first", index_base=1, name="wang2019"),
    # Harsha Vardhan (2022): column-major vec, channels stacked, numerator layout, 1-based.
    "vardhan2022": Convention(vec="col", channels="first", index_base=1, name="vardhan2022"),
    # "Back Propagation Summary" (Mint notes): N,C,H,W, 0-based.
    "mint": Convention(vec="row", channels="first", index_base=0, name="mint"),
    # Jiashu Xu (2020): column-major vec in the Kronecker identity, 1-based sums.
    "xu2020": Convention(vec="col", channels="first", index_base=1, name="xu2020"),
    # DD2424 lecture 6 (KTH 2017): row-major vec within a plane, planes stacked, 1-based.
    "dd2424": Convention(vec="row", channels="first", index_base=1, name="dd2424"),
    # Channel-last (H, W, C) row-major, as TensorFlow stores images.
    "channels-last": Convention(vec="row", channels="last", name="channels-last"),
    # MATLAB's A(:) of an H×W×C array.
    "matlab": Convention(vec="col", channels="first", index_base=1, name="matlab"),
}


def get_convention(name_or_convention) -> Convention:
    """A preset by name, or a Convention passed through; unknown names list the presets."""
    if isinstance(name_or_convention, Convention):
        return name_or_convention
    if name_or_convention is None:
        return CANONICAL
    if not isinstance(name_or_convention, str):
        raise ValueError(
            f"convention: must be a preset name or a Convention (got {type(name_or_convention).__name__}); "
            f"presets: {', '.join(PRESETS)}"
        )
    try:
        return PRESETS[name_or_convention]
    except KeyError:
        raise ValueError(
            f"convention: unknown preset {name_or_convention!r}; choose one of {', '.join(PRESETS)}"
        ) from None
