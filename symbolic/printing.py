"""Pretty text and LaTeX of symbolic matrices, elided the way the notes elide them.

:func:`render` prints any sympy matrix (dense or sparse), object array,
scalar expression or scipy.sparse matrix:

* ``fmt="pretty"`` — sympy's 2-D pretty printer with unicode (X₁₁, β₂₁,
  t₂,₃,₁; elisions ``…``, ``⋮``, ``⋱``);
* ``fmt="ascii"`` — the same layout in plain ASCII (X_11, beta_21; every
  elision is ``...``);
* ``fmt="latex"`` — ``sympy.latex`` of each entry; elisions ``\\cdots``,
  ``\\vdots``, ``\\ddots``.

A matrix taller than ``max_rows`` or wider than ``max_cols`` is elided unless
``full=True``: it keeps its first ``max_rows − 2`` rows, a row of ``⋮`` and
its last row (likewise for columns), as the DD2424 slides print M_X^im
(first rows, ⋮, last row).

Subscripts with commas. sympy's pretty printer only turns a subscript into
unicode subscript digits when every character has a subscript form, and a
comma has none; names such as ``t_2,3,1`` are therefore printed here as
``t₂,₃,₁`` by a small printer subclass (LaTeX already gives ``t_{2,3,1}``).
"""
from __future__ import annotations

import re

import numpy as np
import sympy
from sympy.printing.pretty.pretty import PrettyPrinter
from sympy.printing.pretty.pretty_symbology import pretty_symbol, pretty_use_unicode
from sympy.printing.pretty.stringpict import prettyForm

__all__ = ["render", "FORMATS", "as_matrix"]

FORMATS = ("pretty", "ascii", "latex")

_COMMA_SUBSCRIPT = re.compile(r"^([^\W\d_]\w*?)_(\d+(?:,\d+)+)$")
_SUBSCRIPT_DIGITS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")

#: placeholder names of the elision cells, per format
_ELLIPSES = {
    "pretty": {"h": "…", "v": "⋮", "d": "⋱"},
    "ascii": {"h": "...", "v": "...", "d": "..."},
    "latex": {"h": r"\cdots", "v": r"\vdots", "d": r"\ddots"},
}


class _NotePrettyPrinter(PrettyPrinter):
    """sympy's pretty printer, plus unicode subscripts for comma-separated indices (t₂,₃,₁)."""

    def _print_Symbol(self, e, bold_name=False):
        match = _COMMA_SUBSCRIPT.match(e.name)
        if match and self._use_unicode:
            head = pretty_symbol(match.group(1), bold_name)
            return prettyForm(head + match.group(2).translate(_SUBSCRIPT_DIGITS))
        return super()._print_Symbol(e, bold_name)


class _Ellipsis(sympy.Symbol):
    """An elision cell (… ⋮ ⋱ or ...), printed verbatim."""

    def _pretty(self, printer):
        return prettyForm(self.name)

    def _latex(self, printer):
        return self.name

    def _sympystr(self, printer):
        return self.name


def _pretty(expr, use_unicode: bool) -> str:
    printer = _NotePrettyPrinter({"use_unicode": use_unicode, "wrap_line": False})
    flag = pretty_use_unicode(use_unicode)
    try:
        return printer.doprint(expr)
    finally:
        pretty_use_unicode(flag)


def _entry(v):
    """One matrix entry as a sympy object; text is refused (it is never parsed)."""
    if isinstance(v, sympy.Basic):
        return v
    if isinstance(v, (bool, np.bool_, int, np.integer)):
        return sympy.Integer(int(v))
    if isinstance(v, (float, np.floating)):
        return sympy.Float(float(v))
    raise TypeError(f"matrix: entries must be sympy expressions or numbers (got {type(v).__name__}: {v!r})")


def as_matrix(obj):
    """A sympy matrix from a sympy matrix, a numpy array (1-D becomes a column) or a scipy.sparse matrix.

    Scalars (sympy expressions and numbers) are returned as sympy expressions.
    Strings are refused with a TypeError: user text is never parsed.
    """
    if isinstance(obj, sympy.MatrixBase):
        return obj
    if isinstance(obj, sympy.Basic):
        return obj
    import scipy.sparse as sp

    if sp.issparse(obj):
        from .ops import as_sympy_matrix

        return as_sympy_matrix(obj)
    if isinstance(obj, (str, bytes)):
        raise TypeError(f"matrix: must be a sympy object or an array, not text ({obj!r})")
    arr = np.asarray(obj, dtype=object)
    if arr.ndim == 0:
        return _entry(arr.item())
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"matrix: must be 2-D (got an array of shape {arr.shape}); reshape or vec it first")
    return sympy.Matrix(arr.shape[0], arr.shape[1], [_entry(v) for v in arr.ravel()])


def _kept(n: int, limit: int, full: bool) -> list[int | None]:
    """Indices shown along one axis; ``None`` marks the elision (first limit−2, …, last)."""
    if full or n <= limit:
        return list(range(n))
    head = max(limit - 2, 1)
    return list(range(head)) + [None, n - 1]


def _check_limit(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 3:
        raise ValueError(f"{name}: must be an integer ≥ 3 (got {value!r})")
    return int(value)


def render(matrix, fmt: str = "pretty", *, max_rows: int = 20, max_cols: int = 12, full: bool = False) -> str:
    """Text or LaTeX of ``matrix`` with the notes' symbols, elided unless ``full``.

    Parameters
    ----------
    matrix : sympy Matrix / SparseMatrix / ImmutableMatrix, numpy object or
        numeric array (1-D shown as a column), scipy.sparse matrix, or a
        scalar sympy expression
    fmt : {"pretty", "ascii", "latex"}
    max_rows, max_cols : int ≥ 3
        Largest size shown without elision; a larger axis keeps its first
        ``max − 2`` entries, an elision and its last entry.
    full : bool
        Show every entry.

    Returns
    -------
    str (no trailing newline).

    Examples
    --------
    >>> from symbolic.tensors import symbol_tensor
    >>> print(render(symbol_tensor("X", (2, 2)), "ascii"))
    [X_11  X_12]
    [          ]
    [X_21  X_22]
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt: must be one of {', '.join(FORMATS)} (got {fmt!r})")
    max_rows = _check_limit(max_rows, "max_rows")
    max_cols = _check_limit(max_cols, "max_cols")
    mat = as_matrix(matrix)
    if not isinstance(mat, sympy.MatrixBase):
        return sympy.latex(mat) if fmt == "latex" else _pretty(mat, fmt == "pretty")
    if mat.rows == 0 or mat.cols == 0:
        return f"(empty {mat.rows}×{mat.cols} matrix)" if fmt == "pretty" else f"(empty {mat.rows}x{mat.cols} matrix)"
    rows = _kept(mat.rows, max_rows, full)
    cols = _kept(mat.cols, max_cols, full)
    elided = None in rows or None in cols
    if fmt == "latex":
        if not elided:
            return sympy.latex(mat)
        return _latex_elided(mat, rows, cols)
    if not elided:
        return _pretty(mat, fmt == "pretty")
    dots = _ELLIPSES[fmt]
    cells = []
    for r in rows:
        line = []
        for c in cols:
            if r is None and c is None:
                line.append(_Ellipsis(dots["d"]))
            elif r is None:
                line.append(_Ellipsis(dots["v"]))
            elif c is None:
                line.append(_Ellipsis(dots["h"]))
            else:
                line.append(mat[r, c])
        cells.append(line)
    return _pretty(sympy.Matrix(cells), fmt == "pretty")


def _latex_elided(mat, rows, cols) -> str:
    dots = _ELLIPSES["latex"]
    lines = []
    for r in rows:
        entries = []
        for c in cols:
            if r is None:
                entries.append(dots["d"] if c is None else dots["v"])
            elif c is None:
                entries.append(dots["h"])
            else:
                entries.append(sympy.latex(mat[r, c]))
        lines.append(" & ".join(entries))
    spec = "c" * len(cols)
    body = " \\\\\n".join(lines)
    return f"\\left[\\begin{{array}}{{{spec}}}\n{body}\n\\end{{array}}\\right]"
