"""Print one explicit Jacobian of a registered operator for a given geometry.

Small Jacobians print as matrices, by default with symbolic entries named as
the notes name them (``X₁₁`` … for ∂vec(y)/∂vec(weight) of a convolution);
large ones print a summary (shape, nnz, density, bytes) and a text spy plot
that fits in 80 × 40 characters. ``--format stats`` adds per-row/per-column
counts, bandwidth and structure checks; ``--format npz|mtx --out FILE``
exports the matrix (scipy ``.npz`` or Matrix Market, which MATLAB, Octave
and Julia read); ``--plot FILE.png|svg`` saves a spy plot.

Before anything is built the number of nonzeros and the CSR bytes are
estimated from the geometry, and operators above ``--max-memory`` (default
4G) are refused with both figures.

Examples::

    jacobians show conv2d --input 1x6x6 --weight 1x1x3x3 --wrt weight
    jacobians show conv2d --input 4x6x6 --weight 1x4x3x3 --wrt input --convention vardhan2022
    jacobians show conv2d --input 3x32x32 --weight 8x3x3x3 --padding 1 --format stats
    jacobians show max_pool2d --input 1x4x4 --kernel 2x2 --values ones
    jacobians show conv2d --input 3x64x64 --kernel 3x3 --format mtx --out conv.mtx
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any

HELP = "print one Jacobian for a given shape"

FORMATS = ("pretty", "ascii", "latex", "pattern", "stats", "npz", "mtx")
TEXT_MATRIX_FORMATS = ("pretty", "ascii", "latex")
DEFAULT_MAX_MEMORY = 4 * 2**30
#: Default display: matrices up to this size print as matrices, larger ones as a summary.
SMALL_ROWS, SMALL_COLS, SMALL_NNZ = 64, 256, 4096
#: Symbolic (sympy) assembly walks entries in Python: refuse beyond this.
SYMBOLIC_NNZ_LIMIT = 20_000
#: --full prints every entry: refuse matrices with more entries than this.
FULL_PRINT_LIMIT = 250_000

#: Parameters that the command line can set, by option name.
CLI_PARAMS = ("kernel_size", "stride", "padding", "dilation", "groups")


# ---------------------------------------------------------------------------
# argument parsing (never eval: split and int() of ASCII digits only)
# ---------------------------------------------------------------------------
_DIGITS = re.compile(r"[0-9]+\Z")


def _int(text: str, what: str, *, positive: bool) -> int:
    if not isinstance(text, str) or not _DIGITS.match(text):
        raise argparse.ArgumentTypeError(f"{what}: {text!r} is not a non-negative integer")
    value = int(text)
    if positive and value == 0:
        raise argparse.ArgumentTypeError(f"{what}: must be positive (got 0)")
    return value


def parse_shape(text: str) -> tuple[int, ...]:
    """``'1x6x6'`` -> ``(1, 6, 6)``; every dimension a positive integer."""
    parts = text.strip().lower().replace("×", "x").split("x")
    if len(parts) > 8:
        raise argparse.ArgumentTypeError(f"shape {text!r}: at most 8 dimensions")
    return tuple(_int(p, f"shape {text!r}", positive=True) for p in parts)


def parse_pair(text: str) -> tuple[int, int]:
    """``'2'`` -> ``(2, 2)``, ``'2x1'`` -> ``(2, 1)`` (zero is passed on for the geometry to refuse)."""
    parts = text.strip().lower().replace("×", "x").split("x")
    if len(parts) == 1:
        v = _int(parts[0], f"value {text!r}", positive=False)
        return (v, v)
    if len(parts) == 2:
        return tuple(_int(p, f"value {text!r}", positive=False) for p in parts)  # type: ignore[return-value]
    raise argparse.ArgumentTypeError(f"value {text!r}: must be N or HxW")


def parse_padding(text: str) -> tuple[int, int, int, int]:
    """``'1'``, ``'1x2'`` (per axis) or ``'T,B,L,R'`` (per side) -> (top, bottom, left, right)."""
    t = text.strip().lower().replace("×", "x")
    if "," in t:
        parts = t.split(",")
        if len(parts) != 4:
            raise argparse.ArgumentTypeError(f"padding {text!r}: per-side padding needs four values T,B,L,R")
        return tuple(_int(p.strip(), f"padding {text!r}", positive=False) for p in parts)  # type: ignore[return-value]
    ph, pw = parse_pair(t)
    return (ph, ph, pw, pw)


_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
_BYTES = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(?:i?b)?\Z")


def parse_bytes(text: str) -> int:
    """``'4G'``, ``'512M'``, ``'1.5GiB'``, ``'1000000'`` -> bytes (binary units)."""
    m = _BYTES.match(text.strip().lower())
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 4G, 512M or 1000000")
    value = int(float(m.group(1)) * _UNITS[m.group(2)])
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be positive")
    return value


def parse_seed(text: str) -> int:
    return _int(text, "seed", positive=False)


def parse_groups(text: str) -> int:
    return _int(text, "groups", positive=False)


_DESCRIPTION = """\
Print one explicit Jacobian of a registered operator for a given geometry.

Small Jacobians print as matrices with symbols named as the notes name them;
large ones as a summary (shape, nnz, density, bytes) and a text spy plot.
nnz and CSR bytes are estimated before building; operators above --max-memory
are refused."""

_EPILOG = """\
examples:
  jacobians show conv2d --input 1x6x6 --weight 1x1x3x3 --wrt weight
  jacobians show conv2d --input 4x6x6 --weight 1x4x3x3 --convention vardhan2022
  jacobians show conv2d --input 3x32x32 --weight 8x3x3x3 --padding 1 --format stats --plot spy.png
  jacobians show max_pool2d --input 1x4x4 --kernel 2x2 --values x.npy
  jacobians show conv2d --input 3x64x64 --kernel 3x3 --format mtx --out conv.mtx"""


def configure(parser):
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = _DESCRIPTION
    parser.epilog = _EPILOG
    parser.add_argument("operator", metavar="OPERATOR", help="a registered operator (see `jacobians list`)")
    parser.add_argument("--input", type=parse_shape, metavar="CxHxW", help="shape of the operator's input")
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument("--weight", type=parse_shape, metavar="OxCxKHxKW", help="weight shape (convolution, linear)")
    shape.add_argument("--kernel", type=parse_pair, metavar="KHxKW", help="kernel size (window operators)")
    parser.add_argument(
        "--wrt", default="input", metavar="NAME",
        help="differentiate w.r.t. input (default), weight, bias, or any input name of the operator",
    )
    parser.add_argument("--stride", type=parse_pair, metavar="S|SHxSW")
    parser.add_argument("--padding", type=parse_padding, metavar="P|PHxPW|T,B,L,R")
    parser.add_argument("--dilation", type=parse_pair, metavar="D|DHxDW")
    parser.add_argument("--groups", type=parse_groups, metavar="G")
    parser.add_argument(
        "--convention", default=None, metavar="PRESET",
        help="row/column order of a note's convention (a preset of jacobians.conventions.PRESETS)",
    )
    parser.add_argument(
        "--values", default=None, metavar="symbolic|random|ones|FILE.npy",
        help="entries of the array the Jacobian depends on (default: symbolic when small, else random)",
    )
    parser.add_argument("--format", choices=FORMATS, default=None, help="output format (default: pretty when small, else a summary)")
    parser.add_argument("--out", metavar="FILE", help="write the output to FILE (atomically); required for npz and mtx")
    parser.add_argument("--plot", metavar="FILE.png|svg", help="also save a spy plot")
    parser.add_argument("--max-memory", type=parse_bytes, default=DEFAULT_MAX_MEMORY, metavar="BYTES", help="refuse operators larger than this (default 4G)")
    parser.add_argument("--full", action="store_true", help="print every row and column (no … elision)")
    parser.add_argument("--seed", type=parse_seed, default=0, metavar="N", help="seed of --values random (default 0)")


# ---------------------------------------------------------------------------
# the problem: which operator, inputs, parameters, wrt, and what to expect
# ---------------------------------------------------------------------------
@dataclass
class Problem:
    spec: Any
    inputs: dict  # name -> float array (placeholder values)
    params: dict
    wrt: str
    #: names of the inputs whose values fill the Jacobian (empty: structural)
    value_inputs: tuple = ()
    #: the input a FILE.npy supplies
    file_input: str | None = None
    out_shape: tuple = ()
    #: (rows, cols, nnz_estimate or None, exact)
    estimate: tuple | None = None
    blocks: tuple | None = None
    stats_kwargs: dict = field(default_factory=dict)
    symbol_names: dict = field(default_factory=dict)
    constant: tuple = ()


def _fail(message: str):
    raise ValueError(message)


def _primary(spec) -> str:
    return next(iter(spec.jacobian))


def _resolve_wrt(spec, wrt: str) -> str:
    names = list(spec.jacobian)
    if wrt == "input":
        return names[0]
    if wrt in names:
        return wrt
    _fail(f"--wrt: {spec.name} has Jacobians w.r.t. input ({names[0]}), {', '.join(names[1:]) or 'nothing else'}; got {wrt!r}")


def _params_given(args) -> dict:
    given = {
        "kernel_size": args.kernel,
        "stride": args.stride,
        "padding": args.padding,
        "dilation": args.dilation,
        "groups": args.groups,
    }
    return {k: v for k, v in given.items() if v is not None}


def _conv_problem(spec, args) -> Problem:
    import numpy as np

    from ..geometry import Conv2dGeometry
    from ..sparsity import conv2d_nnz

    if args.input is None:
        _fail("--input: conv2d needs the input shape CxHxW")
    if len(args.input) != 3:
        _fail(f"--input: conv2d needs CxHxW (3 dimensions), got {'x'.join(map(str, args.input))}")
    groups = 1 if args.groups is None else args.groups
    if args.weight is not None:
        if len(args.weight) != 4:
            _fail(f"--weight: conv2d needs OxCxKHxKW (4 dimensions), got {'x'.join(map(str, args.weight))}")
        weight_shape = args.weight
    elif args.kernel is not None:
        if groups == 0 or args.input[0] % groups:
            weight_shape = (max(groups, 1), 1, *args.kernel)  # the geometry refuses the groups below
        else:
            weight_shape = (groups, args.input[0] // groups, *args.kernel)
    else:
        _fail("--weight: conv2d needs --weight OxCxKHxKW or --kernel KHxKW")
    params = {
        "stride": args.stride or 1,
        "padding": args.padding or 0,
        "dilation": args.dilation or 1,
        "groups": groups,
    }
    geom = Conv2dGeometry.from_shapes(args.input, weight_shape, **params)
    wrt = _resolve_wrt(spec, args.wrt)
    oh, ow = geom.out_hw
    rows = geom.out_channels * oh * ow
    inputs = {"x": np.zeros(geom.input_shape), "weight": np.zeros(geom.weight_shape), "bias": np.zeros(geom.out_channels)}
    cols = inputs[wrt].size
    nnz = rows if wrt == "bias" else conv2d_nnz(geom)
    problem = Problem(
        spec=spec, inputs=inputs, params=params, wrt=wrt, out_shape=geom.output_shape,
        estimate=(rows, cols, nnz, True), symbol_names={"x": "X", "weight": "F", "bias": "b"},
    )
    cg_k = geom.in_per_group * geom.kernel[0] * geom.kernel[1]
    if wrt == "x":
        problem.value_inputs, problem.file_input = ("weight",), "weight"
        problem.blocks = (oh * ow, geom.height * geom.width)
        if geom.stride == (1, 1):
            problem.stats_kwargs = {"toeplitz_block": (ow, geom.width), "channel_grid": problem.blocks}
    elif wrt == "weight":
        problem.value_inputs, problem.file_input = ("x",), "x"
        problem.blocks = (oh * ow, cg_k)
        problem.stats_kwargs = {"blocks": problem.blocks}
    else:
        problem.blocks = (oh * ow, 1)
        problem.stats_kwargs = {"blocks": problem.blocks}
    return problem


_SYMBOL_NAMES = {"x": "X", "weight": "W", "bias": "b", "h": "H", "f_f": "F", "b_vec": "B", "z": "z", "s": "s"}


def _symbol_name(name: str) -> str:
    if name in _SYMBOL_NAMES:
        return _SYMBOL_NAMES[name]
    cleaned = "".join(ch for ch in name if ch.isalnum())
    return cleaned if cleaned[:1].isalpha() else "v" + cleaned


def _pick_case(spec, args):
    """The registered case closest to the requested shapes (the template for other inputs)."""
    import numpy as np

    cases = list(spec.cases())
    if not cases:
        _fail(f"{spec.name}: has no registered cases to take its other inputs from")
    primary = _primary(spec)

    def score(case):
        x = case.inputs.get(primary)
        s = 0
        if x is not None and args.input is not None:
            s += 2 * (tuple(np.shape(x)) == tuple(args.input)) + (np.ndim(x) == len(args.input))
        w = case.inputs.get("weight")
        if w is not None and args.weight is not None:
            s += 2 * (tuple(np.shape(w)) == tuple(args.weight))
        return s

    return max(cases, key=score)


def _generic_problem(spec, args) -> Problem:
    """Any registered operator: shapes from the command line, the rest from its closest case."""
    import numpy as np

    case = _pick_case(spec, args)
    primary = _primary(spec)
    wrt = _resolve_wrt(spec, args.wrt)
    param_names = tuple(spec.extra.get("param_names", ()))
    given = _params_given(args)
    if args.weight is not None and "weight" not in case.inputs:
        _fail(f"--weight: {spec.name} has no weight input (inputs: {', '.join(case.inputs)})")
    unknown = [k for k in given if k not in param_names]
    if unknown:
        opt = {"kernel_size": "--kernel"}.get(unknown[0], "--" + unknown[0])
        takes = ", ".join(param_names) if param_names else "no window parameters"
        _fail(f"{opt}: {spec.name} takes {takes}")
    params = dict(case.params)
    if param_names:
        # the command line decides the window; parameters it cannot set keep the function defaults
        params = {k: v for k, v in params.items() if k not in CLI_PARAMS}
        params.update(given)
        if "kernel_size" in param_names and "kernel_size" not in params:
            _fail(f"--kernel: {spec.name} needs --kernel KHxKW")
    if args.input is not None and 8 * int(np.prod(args.input)) > args.max_memory:
        _fail(
            f"--max-memory: the input {'x'.join(map(str, args.input))} alone takes {8 * int(np.prod(args.input))} bytes "
            f"as float64, above the limit of {args.max_memory} bytes"
        )
    inputs = {}
    for name, value in case.inputs.items():
        if value is None:
            continue
        arr = np.asarray(value)
        if name == primary and args.input is not None:
            arr = np.zeros(args.input)
        elif name == "weight" and args.weight is not None:
            arr = np.zeros(args.weight)
        inputs[name] = arr
    if primary not in inputs:
        _fail(f"{spec.name}: its registered case has no {primary!r} input")
    _fit_bias(spec, inputs, params)
    constant = tuple(case.constant)
    affine = wrt in spec.affine_in
    structural = wrt in spec.structural
    others = tuple(n for n in inputs if n != wrt and n not in constant)
    if structural:
        value_inputs: tuple = ()
        file_input = None if affine else primary
        if not affine:  # e.g. max pooling: the mask depends on the values of x
            value_inputs = tuple(n for n in inputs if n not in constant)
    elif affine:
        value_inputs = others
        file_input = others[0] if others else None
    else:
        value_inputs = tuple(n for n in inputs if n not in constant)
        file_input = primary
    problem = Problem(
        spec=spec, inputs=inputs, params=params, wrt=wrt, value_inputs=value_inputs, file_input=file_input,
        symbol_names={n: _symbol_name(n) for n in inputs}, constant=constant,
    )
    if wrt not in inputs:
        _fail(f"--wrt: {spec.name}'s case has no input {wrt!r}")
    problem.out_shape = _output_shape(problem)
    rows, cols = int(np.prod(problem.out_shape)), int(inputs[wrt].size)
    problem.estimate = (rows, cols, _window_nnz_bound(spec.name, rows, params), False)
    return problem


def _window_nnz_bound(name: str, rows: int, params: dict):
    """An upper bound on nnz for operators whose rows read at most one window (None if unknown)."""
    kernel = params.get("kernel_size")
    if name in ("im2col", "max_pool2d"):
        return rows  # one copied (or selected) entry per row at most
    if name == "avg_pool2d" and kernel is not None:
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        return rows * kh * kw
    if name in ("relu", "sigmoid", "tanh", "leaky_relu"):
        return rows
    return None


def _output_shape(problem: Problem) -> tuple:
    import numpy as np

    y = problem.spec.forward(**problem.inputs, **problem.params)
    return tuple(np.shape(y))


def _fit_bias(spec, inputs: dict, params: dict) -> None:
    """Give a ``bias`` input the size the (resized) weight implies.

    The registered case fixes the bias for its own weight; with another
    ``--weight`` the bias must follow. Which weight axis it matches differs
    between the notes' linear layers (xW + b: columns; W vec(H) + b: rows), so
    try each axis size and keep the one the forward accepts.
    """
    import numpy as np

    if "bias" not in inputs or "weight" not in inputs:
        return
    for size in dict.fromkeys(np.shape(inputs["weight"])):
        trial = dict(inputs, bias=np.zeros(size))
        try:
            spec.forward(**trial, **params)
        except (ValueError, TypeError):
            continue
        inputs["bias"] = trial["bias"]
        return


def _xu2020_problem(spec, args) -> Problem:
    """note 003's O_f = φ(I)·F_f: ``--input CxHxW`` is the image, ``--weight FNxCxKHxKW`` the filters.

    ``--wrt input`` is the image x, ``--wrt weight`` the filter matrix F_f of
    shape (C·KH·KW, FN) (columns = filters, the corrected reshape).
    """
    import numpy as np

    if args.input is None or len(args.input) != 3:
        _fail("--input: xu2020_kron needs the image shape CxHxW")
    if args.weight is None or len(args.weight) != 4:
        _fail("--weight: xu2020_kron needs the filters FNxCxKHxKW")
    fn, c, kh, kw = args.weight
    if c != args.input[0]:
        _fail(f"--weight: filter channels ({c}) must equal the image channels ({args.input[0]})")
    wrt = {"input": "x", "weight": "f_f"}.get(args.wrt, args.wrt)
    if wrt not in spec.jacobian:
        _fail(f"--wrt: xu2020_kron has Jacobians w.r.t. input (x) and weight (f_f); got {args.wrt!r}")
    params = {"kernel_size": (kh, kw), "stride": args.stride or 1, "padding": args.padding or 0,
              "dilation": args.dilation or 1}
    inputs = {"x": np.zeros(args.input), "f_f": np.zeros((c * kh * kw, fn))}
    problem = Problem(spec=spec, inputs=inputs, params=params, wrt=wrt,
                      value_inputs=("f_f",) if wrt == "x" else ("x",), file_input="f_f" if wrt == "x" else "x",
                      symbol_names={"x": "I", "f_f": "F"})
    problem.out_shape = _output_shape(problem)
    problem.estimate = (int(np.prod(problem.out_shape)), int(inputs[wrt].size), None, False)
    return problem


ADAPTERS = {"conv2d": _conv_problem, "xu2020_kron": _xu2020_problem}


# ---------------------------------------------------------------------------
# values
# ---------------------------------------------------------------------------
def _load_npy(path: str):
    import numpy as np

    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as exc:
        reason = "it holds Python objects (pickled data is never loaded)" if "allow_pickle" in str(exc) else str(exc)
        _fail(f"--values: cannot read {path}: {reason}")
    except OSError as exc:
        _fail(f"--values: cannot read {path}: {exc.strerror or exc}")
    if not isinstance(arr, np.ndarray):
        _fail(f"--values: {path} is not a single .npy array")
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        _fail(f"--values: {path} must hold real numbers (dtype {arr.dtype})")
    if np.iscomplexobj(arr):
        _fail(f"--values: {path} holds complex numbers; only real values are supported")
    return arr.astype(np.float64)


def _symbolic_tensor(name: str, shape: tuple, base: int):
    """Symbols named as the notes do: leading singleton axes are left out of the subscript."""
    import numpy as np

    from symbolic.tensors import symbol_tensor

    named = tuple(s for s in shape[:-2] if s != 1) + tuple(shape[-2:])
    return symbol_tensor(name, named, base=base).reshape(shape)


def _fill_values(problem: Problem, mode: str, seed: int, base: int) -> dict:
    import numpy as np

    inputs = dict(problem.inputs)
    if mode == "symbolic":
        for name in problem.value_inputs:
            inputs[name] = _symbolic_tensor(problem.symbol_names.get(name, _symbol_name(name)), inputs[name].shape, base)
        return inputs
    rng = np.random.default_rng(seed)
    for name in problem.value_inputs:
        shape = inputs[name].shape
        inputs[name] = np.ones(shape) if mode == "ones" else rng.standard_normal(shape)
    if mode not in ("ones", "random"):
        arr = _load_npy(mode)
        target = problem.file_input
        if target is None:
            _fail(f"--values: the Jacobian of {problem.spec.name} w.r.t. {problem.wrt} does not depend on any values")
        want = tuple(problem.inputs[target].shape)
        if tuple(arr.shape) != want:
            option = "--input" if target == _primary(problem.spec) else ("--weight" if target == "weight" else target)
            _fail(
                f"--values: {mode} has shape {'x'.join(map(str, arr.shape)) or '()'} but {option} gives "
                f"{'x'.join(map(str, want))} for {target}"
            )
        inputs[target] = arr
    return inputs


# ---------------------------------------------------------------------------
# display
# ---------------------------------------------------------------------------
def _elide(n: int, head: int, tail: int, full: bool):
    """Indices to show along one axis, with None where '…' goes."""
    if full or n <= head + tail + 1:
        return list(range(n))
    return list(range(head)) + [None] + list(range(n - tail, n))


def _grid_text(cells, fmt: str) -> str:
    """Column-aligned rows; cells already strings."""
    if fmt == "latex":
        body = " \\\\\n".join(" & ".join(row) for row in cells)
        return "\\begin{pmatrix}\n" + body + "\n\\end{pmatrix}"
    widths = [max(len(row[j]) for row in cells) for j in range(len(cells[0]))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    if fmt == "pretty":
        if len(lines) == 1:
            return "[ " + lines[0] + " ]"
        width = max(len(s) for s in lines)
        out = []
        for i, s in enumerate(lines):
            left, right = ("⎡", "⎤") if i == 0 else (("⎣", "⎦") if i == len(lines) - 1 else ("⎢", "⎥"))
            out.append(f"{left} {s.ljust(width)} {right}")
        return "\n".join(out)
    return "\n".join("[ " + s.ljust(max(len(t) for t in lines)) + " ]" for s in lines)


def _matrix_text(matrix, fmt: str, full: bool) -> str:
    """Entries of a small numeric or sympy matrix, wide/tall ones elided with … and ⋮."""
    import numpy as np
    import scipy.sparse as sp

    n_rows, n_cols = matrix.shape
    row_idx = _elide(n_rows, 16, 4, full)
    col_idx = _elide(n_cols, 12, 3, full)
    dots_h = {"pretty": "…", "ascii": "...", "latex": "\\cdots"}[fmt]
    dots_v = {"pretty": "⋮", "ascii": ":", "latex": "\\vdots"}[fmt]
    dots_d = {"pretty": "⋱", "ascii": ".", "latex": "\\ddots"}[fmt]
    if sp.issparse(matrix):
        shown = [i for i in row_idx if i is not None]
        cols = [j for j in col_idx if j is not None]
        sub = sp.csr_array(matrix)[shown][:, cols].toarray()
        lookup = {i: k for k, i in enumerate(shown)}
        col_lookup = {j: k for k, j in enumerate(cols)}
        integer = bool(np.all(np.asarray(matrix.data) == np.round(matrix.data)))

        def entry(i, j):
            v = sub[lookup[i], col_lookup[j]]
            if v == 0:
                return "·" if fmt == "pretty" else "0"
            return str(int(v)) if integer else f"{v:.4g}"
    else:
        import sympy

        def entry(i, j):
            v = matrix[i, j]
            if v == 0:
                return "·" if fmt == "pretty" else "0"
            if fmt == "latex":
                return sympy.latex(v)
            return sympy.pretty(v, use_unicode=fmt == "pretty") if fmt == "pretty" else sympy.sstr(v)

    cells = []
    for i in row_idx:
        row = []
        for j in col_idx:
            if i is None:
                row.append(dots_d if j is None else dots_v)
            elif j is None:
                row.append(dots_h)
            else:
                row.append(entry(i, j))
        cells.append(row)
    return _grid_text(cells, fmt)


def _render(matrix, fmt: str, full: bool) -> str:
    """symbolic.printing.render for sympy matrices when available; the local grid otherwise."""
    import scipy.sparse as sp

    if not sp.issparse(matrix):
        try:
            from symbolic.printing import render
        except ImportError:
            render = None
        if render is not None:
            return str(render(matrix, fmt, full=full))
    return _matrix_text(matrix, fmt, full)


def _shape_text(shape, x: str) -> str:
    return x.join(map(str, shape)) if len(shape) else "scalar"


def _header(problem: Problem, matrix, convention, fmt: str) -> str:
    from ..sparsity import nnz

    rows, cols = matrix.shape
    d = "∂" if fmt == "pretty" else "d"
    x = "×" if fmt == "pretty" else "x"
    conv = convention.name if convention is not None else "canonical"
    text = (
        f"{problem.spec.name}: {d}vec(y)/{d}vec({problem.wrt}), {rows}{x}{cols}, nnz {nnz(matrix)}, "
        f"convention {conv}, y {_shape_text(problem.out_shape, x)}, "
        f"{problem.wrt} {_shape_text(problem.inputs[problem.wrt].shape, x)}"
    )
    return "% " + text if fmt == "latex" else text


def _summary_text(matrix) -> str:
    from ..sparsity import density, nnz, pattern_text, storage_bytes

    rows, cols = matrix.shape
    b = storage_bytes(matrix)
    return "\n".join(
        [
            f"shape    {rows} x {cols}",
            f"nnz      {nnz(matrix)}",
            f"density  {density(matrix):.6g}",
            f"bytes    CSR {b['csr']}, dense {b['dense']}",
            "pattern  (each character covers a range of rows and columns; a dot marks any nonzero)",
            pattern_text(matrix),
        ]
    )


# ---------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------
def _check_memory(problem: Problem, limit: int) -> None:
    from ..ops._sparse import OperatorTooLargeError, csr_bytes

    rows, cols, nnz_est, exact = problem.estimate
    if nnz_est is None:
        return
    need = csr_bytes(nnz_est, rows, cols)
    if need > limit:
        kind = "has" if exact else "has up to"
        raise OperatorTooLargeError(
            f"--max-memory: {problem.spec.name} Jacobian w.r.t. {problem.wrt} ({rows}x{cols}) {kind} {nnz_est} nonzeros "
            f"= {need} bytes ({need / 2**30:.2f} GiB) as CSR, above the limit of {limit} bytes ({limit / 2**30:.2f} GiB)"
        )


def _apply_convention(matrix, convention, out_shape, in_shape):
    import scipy.sparse as sp

    if convention is None:
        return matrix
    if sp.issparse(matrix):
        return sp.csr_array(convention.jacobian(matrix, out_shape, in_shape))
    rows = convention.permutation(out_shape).indices.tolist()
    cols = convention.permutation(in_shape).indices.tolist()
    converted = matrix.extract(rows, cols)
    return converted.T if convention.layout == "denominator" else converted


def _emit(text: str, out) -> None:
    if out:
        from .._atomic import atomic_write_text

        atomic_write_text(out, text if text.endswith("\n") else text + "\n")
    else:
        try:
            print(text, flush=True)
        except BrokenPipeError:  # `jacobians show … | head`: the reader left; stop quietly
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())


def run(args) -> int:
    from ..conventions import get_convention
    from ..registry import get_operator

    spec = get_operator(args.operator)
    convention = get_convention(args.convention) if args.convention is not None else None
    fmt = args.format
    if fmt in ("npz", "mtx") and not args.out:
        _fail(f"--out: --format {fmt} writes a file; give --out FILE.{fmt}")
    if args.plot is not None and os.path.splitext(args.plot)[1].lower() not in (".png", ".svg"):
        _fail(f"--plot: the file name must end in .png or .svg (got {args.plot!r})")
    for path, option in ((args.out, "--out"), (args.plot, "--plot")):
        if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            _fail(f"{option}: directory {os.path.dirname(os.path.abspath(path))!r} does not exist")
    values = args.values
    if values is not None and values not in ("symbolic", "random", "ones") and not os.path.exists(values):
        _fail(f"--values: expected symbolic, random, ones or an existing .npy file (got {values!r})")

    problem = ADAPTERS.get(spec.name, _generic_problem)(spec, args)
    _check_memory(problem, args.max_memory)

    rows, cols, nnz_est, _ = problem.estimate
    if args.full and fmt in (None, *TEXT_MATRIX_FORMATS) and rows * cols > FULL_PRINT_LIMIT:
        _fail(
            f"--full: a {rows}x{cols} matrix has {rows * cols} entries, too many to print "
            f"(limit {FULL_PRINT_LIMIT}); use --format pattern, stats, npz or mtx"
        )
    small = rows <= SMALL_ROWS and cols <= SMALL_COLS and (nnz_est is None or nnz_est <= SMALL_NNZ)
    if fmt is None:
        fmt = "pretty" if small else "summary"
    wants_symbols = fmt in TEXT_MATRIX_FORMATS and small
    if values is None:
        values = "symbolic" if wants_symbols and problem.value_inputs and problem.wrt in problem.spec.affine_in else "random"
    if values == "symbolic":
        if fmt in ("npz", "mtx"):
            _fail(f"--values: symbolic entries cannot be exported as {fmt}; use random, ones or FILE.npy")
        if nnz_est is not None and nnz_est > SYMBOLIC_NNZ_LIMIT:
            _fail(f"--values: symbolic matrices are limited to {SYMBOLIC_NNZ_LIMIT} nonzeros (this one has {nnz_est}); use random")
    base = convention.index_base if convention is not None else 1
    inputs = _fill_values(problem, values, args.seed, base)

    builder = spec.jacobian[problem.wrt]
    try:
        matrix = builder(**inputs, **problem.params)
    except (TypeError, ValueError, AttributeError) as exc:
        if values != "symbolic":
            raise
        if args.values == "symbolic":  # asked for explicitly: say so
            _fail(f"--values: symbolic entries are not supported for {spec.name} w.r.t. {problem.wrt}; use random ({exc})")
        # symbolic was only the default: this builder is numeric-only, show random values instead
        values = "random"
        inputs = _fill_values(problem, values, args.seed, base)
        matrix = builder(**inputs, **problem.params)
    in_shape = problem.inputs[problem.wrt].shape
    matrix = _apply_convention(matrix, convention, problem.out_shape, in_shape)
    if problem.estimate[2] is None:  # no estimate before building: hold the result to the same limit
        from ..sparsity import nnz

        problem.estimate = (rows, cols, nnz(matrix), True)
        _check_memory(problem, args.max_memory)

    if args.plot:
        _save_plot(matrix, args.plot, problem, convention)
    if fmt == "npz":
        _export_npz(matrix, args.out)
        print(f"wrote {args.out} (scipy.sparse npz, {rows}x{cols})")
    elif fmt == "mtx":
        _export_mtx(matrix, args.out)
        print(f"wrote {args.out} (Matrix Market, {rows}x{cols})")
    elif fmt == "stats":
        from ..sparsity import format_stats, stats

        kwargs = problem.stats_kwargs if convention is None else {}
        _emit(_header(problem, matrix, convention, "ascii") + "\n" + format_stats(stats(matrix, **kwargs)), args.out)
    elif fmt == "pattern":
        from ..sparsity import pattern_text

        _emit(_header(problem, matrix, convention, "pretty") + "\n" + pattern_text(matrix), args.out)
    elif fmt == "summary":
        _emit(_header(problem, matrix, convention, "pretty") + "\n" + _summary_text(matrix), args.out)
    else:
        _emit(_header(problem, matrix, convention, fmt) + "\n" + _render(matrix, fmt, args.full), args.out)
    return 0


def _numeric(matrix):
    import scipy.sparse as sp

    if not sp.issparse(matrix):
        _fail("--values: symbolic entries cannot be exported; use random, ones or FILE.npy")
    return sp.csr_array(matrix)


def _export_npz(matrix, path: str) -> None:
    import scipy.sparse as sp

    from .._atomic import atomic_open

    with atomic_open(path, "wb") as handle:  # a file object: save_npz would append .npz to a name
        sp.save_npz(handle, _numeric(matrix), compressed=True)


def _export_mtx(matrix, path: str) -> None:
    import scipy.io

    from .._atomic import atomic_open

    with atomic_open(path, "wb") as handle:
        scipy.io.mmwrite(handle, _numeric(matrix).tocoo(), comment="jacobians show: numerator layout, rows = outputs", field="real", symmetry="general")


def _save_plot(matrix, path: str, problem: Problem, convention) -> None:
    from .._atomic import atomic_open
    from ..sparsity import save_spy

    fmt = os.path.splitext(path)[1].lower().lstrip(".")
    blocks = problem.blocks if convention is None else None
    title = f"{problem.spec.name}: ∂vec(y)/∂vec({problem.wrt}), {matrix.shape[0]}×{matrix.shape[1]}"
    with atomic_open(path, "wb") as handle:
        save_spy(matrix, handle, fmt=fmt, blocks=blocks, title=title)
