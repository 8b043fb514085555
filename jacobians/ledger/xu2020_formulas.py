"""Note 003's filter and output matrices (Xu 2020), kept beside its claims: the note's NumPy reshapes, not operators.

* :func:`xu2020_filter_matrix` — F_f as the note writes it (``F.reshape(-1, FN)``) or as corrected
  (``F.reshape(FN, -1).T``);
* :func:`xu2020_output_matrix` — O_f, one column per output map.
"""
from __future__ import annotations

import numpy as np

from .. import GeometryError
from ._tools import numeric_array

__all__ = ["xu2020_filter_matrix", "xu2020_output_matrix"]

_RESHAPES = ("corrected", "as_written")


def xu2020_filter_matrix(weight, reshape: str = "corrected") -> np.ndarray:
    """F_f, the filters as a ``(C·kh·kw, FN)`` matrix.

    Parameters
    ----------
    weight : array (FN, C, kh, kw)
    reshape : {"corrected", "as_written"}
        ``"corrected"``: ``weight.reshape(FN, -1).T`` — column f is filter f
        flattened in the order of φ(I)'s columns (c, a, b).
        ``"as_written"``: note 003's ``weight.reshape(-1, FN)`` (NumPy C order),
        which equals the corrected matrix only when FN = 1.

    Examples
    --------
    >>> w = np.arange(8.).reshape(2, 1, 2, 2)
    >>> xu2020_filter_matrix(w)
    array([[0., 4.],
           [1., 5.],
           [2., 6.],
           [3., 7.]])
    >>> xu2020_filter_matrix(w, "as_written")
    array([[0., 1.],
           [2., 3.],
           [4., 5.],
           [6., 7.]])
    """
    weight = numeric_array(weight, "weight")
    if weight.ndim != 4:
        raise GeometryError(f"weight: must have shape (FN, C, kh, kw) (got {weight.ndim}-D shape {weight.shape})")
    if not isinstance(reshape, str) or reshape not in _RESHAPES:
        raise ValueError(f"reshape: must be one of {_RESHAPES} (got {type(reshape).__name__} {str(reshape)[:40]!r})")
    fn = weight.shape[0]
    return weight.reshape(fn, -1).T if reshape == "corrected" else weight.reshape(-1, fn)


def xu2020_output_matrix(y) -> np.ndarray:
    """O_f, the ``(FN, OH, OW)`` output as a ``(OH·OW, FN)`` matrix (one column per channel)."""
    y = numeric_array(y, "y")
    if y.ndim != 3:
        raise GeometryError(f"y: must have shape (FN, OH, OW) (got {y.ndim}-D shape {y.shape})")
    return y.reshape(y.shape[0], -1).T
