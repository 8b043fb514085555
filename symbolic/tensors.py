"""Symbolic tensors whose entries are named the way the source notes name them.

Every entry is a ``sympy.Symbol`` whose name is assembled from a validated
base name and the entry's integer indices — user text is never parsed by
sympy (no ``sympify``). The naming rules:

* ``name`` followed by ``_`` and the indices, e.g. ``X_11`` (pretty-printed
  ``X₁₁``, LaTeX ``X_{11}``), ``beta_21`` (``β₂₁``), ``t_2,3,1``;
* indices start at ``base`` (1 for the notes, which count from 1; 0 for the
  neutral, code-like naming);
* ``sep`` joins the indices. By default (``sep=None``) indices are written
  side by side (``X_11``) when the tensor has at most two axes and every
  index is a single digit, and are comma-separated otherwise (``X_1,2,3``,
  ``X_10,11``) so that a name can always be read back unambiguously;
* ``index_order`` says which canonical axis each written index comes from.

Multi-channel tensors. The canonical layout is ``(C, H, W)``; note 004
(DD2424) itself writes an entry of a multi-plane image channel first,
``X_{k,i,j}`` (plane k, row i, column j), so the default naming of a 3-D
tensor is ``X_k,i,j`` (pretty ``X₁,₂,₃``: plane 1, row 2, column 3). Note 000
(Wang 2019) writes ``t_{i,j,k}`` with the channel last; pass
``index_order=(1, 2, 0)`` (see :data:`NOTE_INDEX_ORDER`) to name the same
canonical ``(C, H, W)`` array that way.
"""
from __future__ import annotations

import numpy as np

__all__ = ["symbol_tensor", "symbol_vector", "NOTE_INDEX_ORDER", "validate_name"]

#: How each note writes the indices of a canonical (C, H, W) tensor's entries.
NOTE_INDEX_ORDER = {
    "dd2424": (0, 1, 2),  # X_{k,i,j}: plane, row, column (S_lm formula of the slides)
    "vardhan2022": (0, 1, 2),  # single-plane examples only: a_{ij}
    "wang2019": (1, 2, 0),  # t_{i,j,k}: row, column, channel
    "canonical": (0, 1, 2),
}


def validate_name(name) -> str:
    """A base name: letters and digits, starting with a letter (``X``, ``beta``, ``β``).

    Underscores, carets, spaces and operators are refused because they would
    change how sympy splits or prints the name.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name: must be a non-empty string (got {name!r})")
    if not (name[0].isalpha() and all(ch.isalnum() for ch in name)):
        raise ValueError(f"name: must be letters and digits starting with a letter (got {name!r})")
    return name


def _shape(shape) -> tuple[int, ...]:
    try:
        items = tuple(shape)
    except TypeError:
        items = (shape,)
    if not items:
        raise ValueError("shape: must have at least one axis (got ())")
    out = []
    for i, s in enumerate(items):
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or int(s) < 1:
            raise ValueError(f"shape[{i}]: must be a positive integer (got {s!r})")
        out.append(int(s))
    return tuple(out)


def symbol_tensor(name, shape, *, base: int = 1, sep: str | None = None, index_order=None) -> np.ndarray:
    """An object array of ``sympy.Symbol`` named ``name_<indices>``.

    Parameters
    ----------
    name : str
        Base name, letters and digits (``"X"``, ``"F"``, ``"beta"``, ``"t"``).
    shape : tuple of int
        Shape of the returned array (canonical layout, e.g. ``(C, H, W)``).
    base : {0, 1}
        First index: 1 as the notes count, 0 for neutral code-like names.
    sep : str or None
        Separator between indices; ``None`` chooses ``""`` for at most two axes
        of single-digit indices and ``","`` otherwise. ``""`` is refused when
        it would make names ambiguous (an index above 9 with several axes).
    index_order : tuple of int or None
        Canonical axis written at each subscript position (a permutation of
        ``range(len(shape))``); ``None`` keeps the axes in order.

    Returns
    -------
    numpy.ndarray of dtype object and shape ``shape``; entry ``[i0, i1, …]`` is
    ``Symbol(f"{name}_{i_{o0}+base}{sep}{i_{o1}+base}…")``.

    Examples
    --------
    >>> X = symbol_tensor("X", (6, 6))
    >>> X[0, 1], X[5, 5]
    (X_12, X_66)
    >>> symbol_tensor("t", (1, 4, 3), index_order=(1, 2, 0))[0, 1, 2]
    t_2,3,1
    """
    import sympy

    name = validate_name(name)
    shape = _shape(shape)
    if base not in (0, 1) or isinstance(base, bool):
        raise ValueError(f"base: must be 0 or 1 (got {base!r})")
    ndim = len(shape)
    order = tuple(range(ndim)) if index_order is None else tuple(int(a) for a in index_order)
    if sorted(order) != list(range(ndim)):
        raise ValueError(f"index_order: must be a permutation of the {ndim} axes (got {index_order!r})")
    largest = max(shape) - 1 + base
    if sep is None:
        sep = "" if ndim <= 2 and largest <= 9 else ","
    elif not isinstance(sep, str) or any(ch.isalnum() or ch in "_^ " for ch in sep):
        raise ValueError(f"sep: must be a string of punctuation such as ',' (got {sep!r})")
    if sep == "" and ndim > 1 and largest > 9:
        raise ValueError(f"sep: '' makes names ambiguous when an index exceeds 9 (largest index {largest}); use ','")
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        label = sep.join(str(idx[a] + base) for a in order)
        out[idx] = sympy.Symbol(f"{name}_{label}")
    return out


def symbol_vector(name, n: int, *, base: int = 1) -> np.ndarray:
    """``name_1 … name_n`` as a 1-D object array (note 004's g₁ … g₁₆, v₁ … v₃₆)."""
    return symbol_tensor(name, (n,), base=base)
