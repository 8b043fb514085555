"""Print one explicit Jacobian of a registered operator for a given geometry.

Small Jacobians print as matrices, by default with symbolic entries named as
the notes name them (``X₁₁`` … for ∂vec(y)/∂vec(weight) of a convolution);
large ones print a summary (shape, nnz, density, bytes) and a text spy plot
that fits in 80 × 40 characters. ``--format stats`` adds per-row/per-column
counts, bandwidth and structure checks; ``--format npz|mtx --out FILE``
exports the matrix (scipy ``.npz`` or Matrix Market, which MATLAB, Octave
and Julia read); ``--plot FILE.png|svg`` saves a spy plot.

Every input and parameter comes from the command line: each operator declares
the options it takes (``jacobians show OPERATOR --help-operator``) and how its
other inputs follow from ``--input`` (see :class:`jacobians.registry.ShowSpec`).
Random values are printed with their seed.

Before anything is built the number of nonzeros and the CSR bytes are
estimated from the shapes with exact integers, and operators above
``--max-memory`` (default 4G) are refused with both figures — except a conv2d
input Jacobian exported with ``--format mtx``, which is streamed to the file in
row blocks of bounded size (jacobians.stream), with a progress bar on a terminal.

Examples::

    jacobians show conv2d --input 1x6x6 --weight 1x1x3x3 --wrt weight
    jacobians show conv2d --input 4x6x6 --weight 1x4x3x3 --wrt input --convention vardhan2022
    jacobians show conv2d --input 3x32x32 --weight 8x3x3x3 --padding 1 --format stats
    jacobians show max_pool2d --input 1x4x4 --kernel 2x2 --values ones
    jacobians show reshape --input 2x6 --shape 3x4
    jacobians show linear_xwt --input 2x3 --weight 4x3
"""
from __future__ import annotations

import argparse
import math
import os
import re
import stat
import sys
from dataclasses import dataclass, field
from typing import Any

HELP = "print one Jacobian for a given shape"

FORMATS = ("pretty", "ascii", "latex", "pattern", "stats", "npz", "mtx")
TEXT_MATRIX_FORMATS = ("pretty", "ascii", "latex")
DEFAULT_MAX_MEMORY = 4 * 2**30
#: Default display: matrices up to this size print as matrices, larger ones as a summary.
SMALL_ROWS, SMALL_COLS, SMALL_NNZ = 64, 256, 4096
#: Symbolic assembly by the explicit builder walks entries in Python: refuse beyond this.
SYMBOLIC_NNZ_LIMIT = 20_000
#: Symbolic Jacobians by sympy differentiation of the symbolic face: refuse beyond this.
SYMPY_NNZ_LIMIT = 4_096
#: --full prints every entry: refuse matrices with more entries than this.
FULL_PRINT_LIMIT = 250_000
#: Every integer given on the command line is at most this (checked on the digits, before any arithmetic).
INT_LIMIT = 2**31 - 1
#: Random values are printed in full up to this many entries per input.
PRINT_VALUES_LIMIT = 64
#: Values echoed in error messages are cut to about this many characters.
ECHO_LIMIT = 80

#: Options with a flag of their own; every other option an operator declares is ``--param NAME=VALUE``.
DEDICATED = ("weight", "kernel", "stride", "padding", "dilation", "groups", "shape", "axes", "dim", "index", "target", "order")


# ---------------------------------------------------------------------------
# argument parsing (never eval: split and int() of ASCII digits only)
# ---------------------------------------------------------------------------
def echo(text) -> str:
    """``repr(text)``, cut to about :data:`ECHO_LIMIT` characters for error messages."""
    text = str(text)
    if len(text) <= ECHO_LIMIT:
        return repr(text)
    return repr(text[:60] + "…" + text[-10:]) + f" ({len(text)} characters)"


_DIGITS = re.compile(r"[0-9]+\Z")


def _int(text: str, what: str, *, positive: bool = False, signed: bool = False, whole: str | None = None) -> int:
    """One integer from ASCII digits (a leading '-' only when ``signed``), at most :data:`INT_LIMIT`."""
    shown = echo(text if whole is None else whole)
    t = text.strip() if isinstance(text, str) else ""
    negative = signed and t.startswith("-")
    digits = t[1:] if negative else t
    if not _DIGITS.match(digits):
        kind = "an integer" if signed else ("a positive integer" if positive else "a non-negative integer")
        part = "" if whole is None else f" ({echo(text)} is not {kind})"
        raise ValueError(f"{what}: {shown} is not {kind}" if whole is None else f"{what}: malformed value {shown}{part}")
    if len(digits) > 10 or int(digits) > INT_LIMIT:
        raise ValueError(f"{what}: each integer must be at most {INT_LIMIT} (got {shown})")
    value = -int(digits) if negative else int(digits)
    if positive and value <= 0:
        raise ValueError(f"{what}: must be positive (got {value} in {shown})")
    return value


def _split(text: str, what: str, sep: str = "x") -> list[str]:
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{what}: empty value")
    t = text.strip().lower().replace("×", "x")
    parts = t.split(sep)
    if len(parts) > 8:
        raise ValueError(f"{what}: at most 8 values (got {len(parts)} in {echo(text)})")
    return parts


def parse_shape(text: str, what: str = "--input") -> tuple[int, ...]:
    """``'1x6x6'`` -> ``(1, 6, 6)``; every dimension a positive integer."""
    return tuple(_int(p, what, positive=True, whole=text) for p in _split(text, what))


def parse_ints(text: str, what: str):
    """``'2'`` -> ``2``, ``'2x1'`` -> ``(2, 1)`` (zero is passed on for the geometry to refuse)."""
    values = tuple(_int(p, what, whole=text) for p in _split(text, what))
    return values[0] if len(values) == 1 else values


def parse_padding(text: str, what: str = "--padding"):
    """``'1'``, ``'1x2'`` (per axis) or ``'T,B,L,R'`` (per side)."""
    if isinstance(text, str) and "," in text:
        parts = _split(text, what, ",")
        if len(parts) != 4:
            raise ValueError(f"{what}: per-side padding needs four values T,B,L,R (got {echo(text)})")
        return tuple(_int(p, what, whole=text) for p in parts)
    return parse_ints(text, what)


def parse_axes(text: str, what: str = "--axes") -> tuple[int, ...]:
    sep = "," if "," in text else "x"
    return tuple(_int(p, what, whole=text) for p in _split(text, what, sep))


_FLOAT = re.compile(r"-?[0-9]{1,20}(\.[0-9]{1,20})?(e-?[0-9]{1,3})?\Z")


def parse_float(text: str, what: str) -> float:
    t = text.strip().lower()
    if t in ("inf", "-inf"):
        return float(t)
    if not _FLOAT.match(t):
        raise ValueError(f"{what}: {echo(text)} is not a number such as 0.5, -1 or 1e-3")
    return float(t)


def parse_bool(text: str, what: str) -> bool:
    t = text.strip().lower()
    if t in ("true", "yes", "1"):
        return True
    if t in ("false", "no", "0"):
        return False
    raise ValueError(f"{what}: must be true or false (got {echo(text)})")


def parse_option(kind, text: str, what: str):
    """Parse one declared option value by its :class:`~jacobians.registry.ShowSpec` kind."""
    if isinstance(kind, tuple):
        if text not in kind:
            raise ValueError(f"{what}: must be one of {', '.join(kind)} (got {echo(text)})")
        return text
    parser = _KIND_PARSERS.get(kind)
    if parser is not None:
        return parser(text, what)
    raise ValueError(f"{what}: unknown option kind {kind!r}")  # pragma: no cover - ShowSpec validates kinds


#: ShowSpec option kind -> parser(text, option name); keep in step with registry.SHOW_OPTION_KINDS
_KIND_PARSERS = {
    "shape": parse_shape,
    "ints": parse_ints,
    "padding": parse_padding,
    "int": lambda text, what: _int(text, what),
    "signed_int": lambda text, what: _int(text, what, signed=True),
    "axes": parse_axes,
    "float": parse_float,
    "bool": parse_bool,
}


#: How each option kind is written on the command line (for --help-operator).
_KIND_HELP = {
    "shape": "SHAPE (e.g. 2x3)", "ints": "N|AxB", "padding": "P|PHxPW|T,B,L,R", "int": "N", "signed_int": "N (may be negative)",
    "axes": "A,B,…", "float": "X (a number)", "bool": "true|false",
}


_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
_BYTES = re.compile(r"([0-9]{1,15}(?:\.[0-9]{1,15})?)\s*([kmgt]?)(?:i?b)?\Z")


def parse_bytes(text: str) -> int:
    """``'4G'``, ``'512M'``, ``'1.5GiB'``, ``'1000000'`` -> bytes (binary units)."""
    m = _BYTES.match(text.strip().lower())
    if not m:
        raise argparse.ArgumentTypeError(f"{echo(text)} is not a size such as 4G, 512M or 1000000")
    value = int(float(m.group(1)) * _UNITS[m.group(2)])
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{echo(text)}: must be positive")
    return value


def parse_seed(text: str) -> int:
    try:
        return _int(text, "seed")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("seed: ")) from None


_DESCRIPTION = """\
Print one explicit Jacobian of a registered operator for a given geometry.

Small Jacobians print as matrices with symbols named as the notes name them;
large ones as a summary (shape, nnz, density, bytes) and a text spy plot.
Every input comes from the command line: `--help-operator` lists the options
an operator takes. nnz and CSR bytes are estimated before building; operators
above --max-memory are refused."""

_EPILOG = """\
symbols are numbered from --index-base: by default from 1 (as the notes count),
or from the index base of the --convention preset when one is given; the
header says which.

examples:
  jacobians show conv2d --input 1x6x6 --weight 1x1x3x3 --wrt weight
  jacobians show conv2d --input 4x6x6 --weight 1x4x3x3 --convention vardhan2022
  jacobians show conv2d --input 3x32x32 --weight 8x3x3x3 --padding 1 --format stats --plot spy.png
  jacobians show max_pool2d --input 1x4x4 --kernel 2x2 --values x.npy
  jacobians show reshape --input 2x6 --shape 3x4 --order F
  jacobians show softmax_cross_entropy --input 4 --target 2
  jacobians show conv2d --input 3x64x64 --kernel 3x3 --format mtx --out conv.mtx"""


def configure(parser):
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = _DESCRIPTION
    parser.epilog = _EPILOG
    parser.add_argument("operator", metavar="OPERATOR", help="a registered operator (see `jacobians list`)")
    parser.add_argument("--input", metavar="SHAPE", help="shape of the operator's input, e.g. CxHxW")
    parser.add_argument(
        "--help-operator", action="store_true", help="list the options OPERATOR takes and how its inputs are derived, then exit"
    )
    parser.add_argument("--weight", metavar="SHAPE", help="weight shape (convolution, linear layers)")
    parser.add_argument("--kernel", metavar="K|KHxKW", help="kernel size (window operators)")
    parser.add_argument(
        "--wrt", default="input", metavar="NAME",
        help="differentiate w.r.t. input (default), weight, bias, or any input name of the operator",
    )
    parser.add_argument("--stride", metavar="S|SHxSW")
    parser.add_argument("--padding", metavar="P|PHxPW|T,B,L,R")
    parser.add_argument("--dilation", metavar="D|DHxDW")
    parser.add_argument("--groups", metavar="G")
    parser.add_argument("--shape", metavar="SHAPE", help="target shape (reshape)")
    parser.add_argument("--axes", metavar="A,B,…", help="axis permutation (transpose)")
    parser.add_argument("--dim", metavar="D", help="axis (operators along one dimension)")
    parser.add_argument("--index", metavar="I", help="index along the leading axis (select)")
    parser.add_argument("--target", metavar="K", help="class index of a one-hot label, 0-based (cross-entropy)")
    parser.add_argument("--order", metavar="C|F", help="memory order (reshape)")
    parser.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE",
        help="any other option the operator declares (see --help-operator); repeatable",
    )
    parser.add_argument(
        "--convention", default=None, metavar="PRESET",
        help="row/column order of a note's convention (a preset of jacobians.conventions.PRESETS)",
    )
    parser.add_argument(
        "--index-base", choices=("0", "1"), default=None,
        help="first subscript of printed symbols (default 1, or the --convention preset's base)",
    )
    parser.add_argument(
        "--values", default=None, metavar="symbolic|random|ones|FILE.npy",
        help="entries of the arrays the Jacobian depends on (default: symbolic when small and affine, else random)",
    )
    parser.add_argument("--symbolic", action="store_true", help="the same as --values symbolic")
    parser.add_argument("--format", choices=FORMATS, default=None, help="output format (default: pretty when small, else a summary)")
    parser.add_argument("--out", metavar="FILE", help="write the output to FILE (atomically); required for npz and mtx")
    parser.add_argument("--plot", metavar="FILE.png|svg", help="also save a spy plot (needs matplotlib: pip install 'jacobians[plot]')")
    parser.add_argument("--max-memory", type=parse_bytes, default=DEFAULT_MAX_MEMORY, metavar="BYTES", help="refuse operators larger than this (default 4G)")
    parser.add_argument("--full", action="store_true", help="print every row and column (no … elision)")
    parser.add_argument("--seed", type=parse_seed, default=0, metavar="N", help="seed of --values random (default 0)")


# ---------------------------------------------------------------------------
# the problem: which operator, inputs, parameters, wrt, and what to expect
# ---------------------------------------------------------------------------
@dataclass
class Problem:
    spec: Any
    show: Any  # the operator's ShowSpec
    shapes: dict  # name -> shape of every array input
    constants: dict  # name -> constant array (labels)
    params: dict
    wrt: str
    out_shape: tuple = ()
    #: names of the inputs whose values fill the Jacobian (empty: structural)
    value_inputs: tuple = ()
    #: the input a FILE.npy supplies
    file_input: str | None = None
    #: (rows, cols, nnz upper bound, exact)
    estimate: tuple = (0, 0, 0, False)
    blocks: tuple | None = None
    stats_kwargs: dict = field(default_factory=dict)
    max_memory: int = DEFAULT_MAX_MEMORY
    #: legend lines of a readable symbolic form (ShowSpec.symbolic_form)
    symbolic_notes: list = field(default_factory=list)

    @property
    def affine(self) -> bool:
        return self.wrt in self.spec.affine_in

    def symbol(self, name: str) -> str:
        return self.show.symbols.get(name) or _symbol_name(name)


def _fail(message: str):
    raise ValueError(message)


def _symbol_name(name: str) -> str:
    cleaned = "".join(ch for ch in name if ch.isalnum())
    cleaned = cleaned[:1].upper() + cleaned[1:]
    return cleaned if cleaned[:1].isalpha() else "V" + cleaned


def _flag(name: str) -> str:
    return f"--{name}" if name in DEDICATED else f"--param {name}"


def _fallback_show(spec):
    """Operators without ``show=`` metadata: shown only when they have a single array input."""
    import inspect

    from ..registry import ShowSetup, ShowSpec

    names = list(spec.jacobian)
    try:
        parameters = inspect.signature(spec.forward).parameters.values()
        accepted = [p.name for p in parameters]
        required = [
            p.name for p in parameters
            if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        accepted, required = [], None
    # one array input, and nothing else the forward requires (forwards with input= aliases default every argument)
    if len(names) != 1 or names[0] not in accepted or required is None or not set(required) <= set(names):
        _fail(
            f"{spec.name}: declares no `show` metadata (register(..., show=ShowSpec(...)), see docs/developer.md), "
            "so show cannot derive its inputs from --input"
        )
    return ShowSpec(setup=lambda shape, options: ShowSetup({names[0]: shape}), example=("--input", "2x3"))


def _given_options(args) -> dict:
    given = {name: getattr(args, name) for name in DEDICATED if getattr(args, name, None) is not None}
    for item in args.param:
        name, eq, value = item.partition("=")
        name = name.strip()
        if not eq or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,40}", name):
            _fail(f"--param: give NAME=VALUE with NAME a parameter name (got {echo(item)})")
        if name in given:
            _fail(f"{_flag(name)}: given twice")
        given[name] = value
    return given


def _takes(spec, show) -> str:
    opts = ", ".join(_flag(n) for n in show.options)
    return f"--input {show.input_help}" + (f" and {opts}" if opts else " only")


def operator_help(spec) -> str:
    """The options ``show`` accepts for ``spec`` (``--help-operator``)."""
    show = spec.extra.get("show") or _fallback_show(spec)
    lines = [f"{spec.name}: {spec.summary}", f"  --input {show.input_help}"]
    for name, kind in show.options.items():
        kind_text = "|".join(kind) if isinstance(kind, tuple) else _KIND_HELP[kind]
        lines.append(f"  {_flag(name)}{'=' if name not in DEDICATED else ' '}{kind_text}")
    names = list(spec.jacobian)
    aliases = ", ".join(f"{a} = {n}" for a, n in show.aliases.items())
    lines.append(f"  --wrt input ({show.input_name or names[0]})" + "".join(f", {n}" for n in names if n != (show.input_name or names[0]))
                 + (f"  [{aliases}]" if aliases else ""))
    if show.example:
        lines.append(f"example: jacobians show {spec.name} {' '.join(show.example)}")
    return "\n".join(lines)


def _resolve_wrt(spec, show, wrt: str) -> str:
    names = list(spec.jacobian)
    primary = show.input_name or names[0]
    if wrt == "input":
        return primary
    if wrt in show.aliases:
        return show.aliases[wrt]
    if wrt in names:
        return wrt
    others = ", ".join(n for n in names if n != primary) or "nothing else"
    _fail(f"--wrt: {spec.name} has Jacobians w.r.t. input ({primary}), {others}; got {echo(wrt)}")


def _shape_text(shape, x: str = "x") -> str:
    return x.join(map(str, shape)) if len(shape) else "scalar"


def _check_bytes(what: str, need: int, limit: int, kind: str = "takes") -> None:
    if need > limit:
        from ..ops._sparse import OperatorTooLargeError

        raise OperatorTooLargeError(
            f"--max-memory: {what} {kind} {need} bytes ({need / 2**30:.2f} GiB), above the limit of {limit} bytes ({limit / 2**30:.2f} GiB)"
        )


def build_problem(spec, args) -> Problem:
    """Shapes, parameters and size estimate from the command line alone (nothing large is allocated)."""
    show = spec.extra.get("show") or _fallback_show(spec)
    given = _given_options(args)
    for name in given:
        if name not in show.options:
            _fail(f"{_flag(name)}: {spec.name} takes {_takes(spec, show)}")
    options = {name: parse_option(show.options[name], raw, _flag(name)) for name, raw in given.items()}
    if args.input is None:
        _fail(f"--input: {spec.name} needs --input {show.input_help}")
    input_shape = parse_shape(args.input, "--input")
    setup = show.setup(input_shape, options)
    shapes = {n: tuple(int(d) for d in s) for n, s in setup.shapes.items()}
    params = dict(setup.params)
    wrt = _resolve_wrt(spec, show, args.wrt)
    if wrt in setup.constants:
        _fail(f"--wrt: {wrt} is a constant of {spec.name} (set by its options), not a variable")
    if wrt not in shapes:
        _fail(f"--wrt: {spec.name}'s show metadata gives no shape for {wrt!r}")  # pragma: no cover - metadata bug
    limit = args.max_memory
    in_bytes = 8 * sum(math.prod(s) for s in shapes.values())
    _check_bytes(f"the inputs of {spec.name} ({', '.join(f'{n} {_shape_text(s)}' for n, s in shapes.items())})", in_bytes, limit)
    # a constant may be a zero-argument callable (a dropout mask the size of the input): built only now
    constants = {name: value() if callable(value) else value for name, value in setup.constants.items()}
    if show.out_shape is not None:
        out_shape = tuple(int(d) for d in show.out_shape(shapes, params))
    else:
        import numpy as np

        zeros = {n: np.zeros(s) for n, s in shapes.items()}
        out_shape = tuple(np.shape(spec.forward(**zeros, **constants, **params)))
    rows, cols = math.prod(out_shape), math.prod(shapes[wrt])
    # CSR needs at least its row pointers: refuse absurd outputs before counting nonzeros
    _check_bytes(f"{spec.name}'s output ({_shape_text(out_shape)}) as CSR row pointers", 4 * (rows + 1), limit, "needs at least")
    if show.nnz is not None:
        nnz, exact = int(show.nnz(shapes, params, wrt, out_shape)), False
    else:
        nnz, exact = rows * cols, False
    problem = Problem(spec=spec, show=show, shapes=shapes, constants=constants, params=params, wrt=wrt,
                      out_shape=out_shape, estimate=(rows, cols, nnz, exact), max_memory=limit)
    structural = wrt in spec.structural
    names = tuple(shapes)
    # an input whose own Jacobian is a constant 0/1 operator (affine and structural, like a bias) enters
    # the forward additively, f = S·b + g(others), so no other Jacobian depends on its values
    additive = {n for n in names if n in spec.affine_in and n in spec.structural}
    if problem.affine:
        problem.value_inputs = () if structural else tuple(n for n in names if n != wrt and n not in additive)
        problem.file_input = problem.value_inputs[0] if problem.value_inputs else None
    else:
        problem.value_inputs = names
        problem.file_input = show.input_name or next(iter(spec.jacobian))
    if show.display is not None:
        extra = show.display(shapes, params, wrt) or {}
        problem.blocks = extra.get("blocks")
        problem.stats_kwargs = dict(extra.get("stats", {}))
    return problem


def _check_memory(problem: Problem, limit: int) -> None:
    from ..ops._sparse import OperatorTooLargeError, csr_bytes

    rows, cols, nnz_est, exact = problem.estimate
    need = csr_bytes(nnz_est, rows, cols)
    if need > limit:
        kind = "has" if exact else "has up to"
        raise OperatorTooLargeError(
            f"--max-memory: {problem.spec.name} Jacobian w.r.t. {problem.wrt} ({rows}x{cols}) {kind} {nnz_est} nonzeros "
            f"= {need} bytes ({need / 2**30:.2f} GiB) as CSR, above the limit of {limit} bytes ({limit / 2**30:.2f} GiB)"
        )


# ---------------------------------------------------------------------------
# values
# ---------------------------------------------------------------------------
def load_values(path: str, max_bytes: int, want: tuple | None = None, want_text: str = ""):
    """Read one real array from a ``.npy`` file, refusing anything else in one line.

    Only regular files are opened (a FIFO or a device would block or never
    end); the header is read first and its claimed size checked against
    ``max_bytes`` before the data are; pickled data are never loaded.
    """
    import numpy as np
    from numpy.lib import format as npy

    what = f"--values: {echo(path)}"
    try:
        st = os.stat(path)
    except OSError as exc:
        _fail(f"{what}: cannot read it ({exc.strerror or exc})")
    if stat.S_ISDIR(st.st_mode):
        _fail(f"{what} is a directory; give a .npy file")
    if not stat.S_ISREG(st.st_mode):
        _fail(f"{what} is not a regular file (a pipe, socket or device); give a .npy file")
    if st.st_size == 0:
        _fail(f"{what} is empty; give a .npy file written by numpy.save")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        _fail(f"{what}: cannot read it ({exc.strerror or exc})")
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):  # replaced since the stat above
            _fail(f"{what} is not a regular file")
        head = fh.read(6)
        fh.seek(0)
        if head[:4] == b"PK\x03\x04":
            _fail(f"{what} is a zip archive (.npz?); give a single array saved with numpy.save (.npy)")
        if head != npy.MAGIC_PREFIX:
            _fail(f"{what} is not a .npy file (it does not start with numpy's .npy magic string); write it with numpy.save")
        try:
            version = npy.read_magic(fh)
            reader = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
            if version not in ((1, 0), (2, 0), (3, 0)):
                _fail(f"{what}: unsupported .npy format version {version}")
            shape, fortran, dtype = reader(fh)
        except ValueError as exc:
            if str(exc).startswith("--values"):
                raise
            _fail(f"{what}: malformed .npy header ({' '.join(str(exc).split())[:120]})")
        except Exception as exc:  # numpy parses the header with ast/tokenize: SyntaxError, TokenError, …
            _fail(f"{what}: malformed .npy header ({type(exc).__name__})")
        header_end = fh.tell()
        if dtype.hasobject:
            _fail(f"{what} holds Python objects (dtype object); only arrays of real numbers are read, pickled data never")
        if dtype.kind == "c":
            _fail(f"{what} holds complex numbers; only real values are supported")
        if dtype.kind not in "biuf":
            _fail(f"{what} must hold real numbers (dtype {dtype})")
        count = math.prod(shape)
        if want is not None and tuple(shape) != tuple(want):
            _fail(f"{what} has shape {_shape_text(shape)} but {want_text} gives {_shape_text(want)}")
        if 8 * count > max_bytes:
            _fail(f"--max-memory: {what} claims {count} entries ({8 * count} bytes as float64), above the limit of {max_bytes} bytes")
        if header_end + count * dtype.itemsize > st.st_size:
            _fail(f"{what} is truncated: its header claims {count * dtype.itemsize} bytes of data, the file holds {st.st_size - header_end}")
        try:
            fh.seek(0)
            arr = npy.read_array(fh, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            _fail(f"{what}: cannot read the array ({' '.join(str(exc).split())[:120]})")
    # float32 stays float32 (the dtype rule); integers and bools become float64
    return np.asarray(arr, dtype=np.float32 if arr.dtype == np.float32 else np.float64)


def _symbolic_tensor(name: str, shape: tuple, base: int):
    """Symbols named as the notes do: leading singleton axes are left out of the subscript."""
    from symbolic.tensors import symbol_tensor

    if not shape:
        return symbol_tensor(name, (1,), base=base).reshape(())
    named = tuple(s for s in shape[:-2] if s != 1) + tuple(shape[-2:])
    return symbol_tensor(name, named, base=base).reshape(shape)


def _fill_values(problem: Problem, mode: str, seed: int, base: int, names=None) -> tuple[dict, list[str]]:
    """The inputs with values, and lines saying where the values came from."""
    import numpy as np

    names = problem.value_inputs if names is None else names
    inputs = {n: np.zeros(s) for n, s in problem.shapes.items()}
    inputs.update(problem.constants)
    notes: list[str] = []
    if mode == "symbolic":
        for name in names:
            inputs[name] = _symbolic_tensor(problem.symbol(name), problem.shapes[name], base)
        return inputs, notes
    rng = np.random.default_rng(seed)
    randoms = []
    for name in names:
        if mode == "ones":
            inputs[name] = np.ones(problem.shapes[name])
        else:
            inputs[name] = rng.standard_normal(problem.shapes[name])
            randoms.append(name)
    if mode not in ("ones", "random"):
        target = problem.file_input
        if target is None:
            _fail(f"--values: the Jacobian of {problem.spec.name} w.r.t. {problem.wrt} does not depend on any values")
        option = "--input" if target == (problem.show.input_name or next(iter(problem.spec.jacobian))) else (
            "--weight" if target == "weight" else "the options")
        inputs[target] = load_values(mode, problem.max_memory, problem.shapes[target], f"{option} for {target}")
        randoms = [n for n in randoms if n != target]
        notes.append(f"values: {target} from {mode}")
    elif mode == "ones" and names:
        notes.append("values: " + ", ".join(names) + " all ones")
    if randoms:
        import textwrap

        notes.append(f"values: {', '.join(randoms)} standard normal, drawn in this order from "
                     f"numpy.random.default_rng({seed}) (--seed {seed}); C order:")
        for name in randoms:
            arr = inputs[name]
            if arr.size > PRINT_VALUES_LIMIT:
                notes.append(f"  {name} ({_shape_text(arr.shape)}): {arr.size} entries, not printed")
                continue
            body = ", ".join(f"{v:.6g}" for v in arr.ravel())
            notes.append(textwrap.fill(f"{name} ({_shape_text(arr.shape)}) = [{body}]", 80, initial_indent="  ",
                                       subsequent_indent="    "))
    return inputs, notes


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


def _header(problem: Problem, matrix, convention, fmt: str, base: int | None) -> str:
    from ..sparsity import nnz

    rows, cols = matrix.shape
    d = "∂" if fmt == "pretty" else "d"
    x = "×" if fmt == "pretty" else "x"
    conv = convention.name if convention is not None else "canonical"
    symbols = f", symbols {base}-based" if base is not None else ""
    text = (
        f"{problem.spec.name}: {d}vec(y)/{d}vec({problem.wrt}), {rows}{x}{cols}, nnz {nnz(matrix)}, "
        f"convention {conv}{symbols}, y {_shape_text(problem.out_shape, x)}, "
        f"{problem.wrt} {_shape_text(problem.shapes[problem.wrt], x)}"
    )
    lines = [text]
    if problem.params:
        lines.append("params: " + ", ".join(f"{k}={v!r}" for k, v in problem.params.items()))
    if problem.constants:
        import numpy as np

        lines.append("constants: " + ", ".join(
            f"{k} = {np.array2string(np.asarray(v), separator=', ', threshold=20)}".replace("\n", "") for k, v in problem.constants.items()))
    return "\n".join("% " + line if fmt == "latex" else line for line in lines)


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


def check_output_path(path, option: str) -> None:
    """``--out`` / ``--plot``: a file name in an existing directory, not a directory or a device."""
    if path is None:
        return
    if not path.strip():
        _fail(f"{option}: must name a file (got an empty string)")
    if path.endswith(os.sep) or os.path.isdir(path):
        _fail(f"{option}: {echo(path)} is a directory; give a file name")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        _fail(f"{option}: directory {echo(directory)} does not exist")
    if os.path.lexists(path) and not os.path.isfile(path):
        _fail(f"{option}: {echo(path)} exists and is not a regular file; give a new or regular file name")


def _require_matplotlib() -> None:
    import importlib

    try:
        importlib.import_module("matplotlib")
    except ImportError:
        _fail("--plot: needs matplotlib, which is not installed; install it with: pip install 'jacobians[plot]'")


def _sympy_if_object(matrix):
    """A scipy.sparse matrix of sympy entries (a builder run on symbols) as a sympy SparseMatrix; others unchanged."""
    import scipy.sparse as sp

    if not (sp.issparse(matrix) and matrix.dtype == object):
        return matrix
    import sympy

    import numpy as np

    if not hasattr(matrix, "indptr") or matrix.format != "csr":  # scipy converts no object-dtype matrix
        raise TypeError("symbolic entries in a non-CSR matrix")
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    entries: dict = {}
    for r, c, v in zip(rows.tolist(), matrix.indices.tolist(), matrix.data.tolist()):
        entries[(r, c)] = entries.get((r, c), 0) + v
    return sympy.SparseMatrix(matrix.shape[0], matrix.shape[1], {k: v for k, v in entries.items() if v != 0})


def _symbolic_matrix(problem: Problem, base: int):
    """A sympy Jacobian: the explicit builder on symbols when it takes them, else sympy's diff of the symbolic face."""
    rows, cols, nnz_est, _ = problem.estimate
    spec = problem.spec
    if problem.show.symbolic_form is not None:
        if nnz_est > SYMBOLIC_NNZ_LIMIT:
            _fail(f"--values: symbolic matrices are limited to {SYMBOLIC_NNZ_LIMIT} nonzeros (this one has up to {nnz_est}); use random")
        form = problem.show.symbolic_form(problem.shapes, problem.params, problem.wrt, base)
        if form is not None:
            matrix, problem.symbolic_notes = form
            return matrix
    builder = spec.jacobian[problem.wrt]
    if problem.affine and problem.value_inputs:
        if nnz_est > SYMBOLIC_NNZ_LIMIT:
            _fail(f"--values: symbolic matrices are limited to {SYMBOLIC_NNZ_LIMIT} nonzeros (this one has up to {nnz_est}); use random")
        inputs, _ = _fill_values(problem, "symbolic", 0, base)
        try:
            return _sympy_if_object(builder(**inputs, **problem.params))
        except (TypeError, ValueError, AttributeError):
            pass  # numeric-only builder: differentiate the symbolic face instead
    from ..registry import SYMBOLIC

    try:
        import symbolic.ops as symbolic_ops  # registers the symbolic faces
    except ImportError:  # pragma: no cover - symbolic ships with the package
        symbolic_ops = None
    if (symbolic_ops is None or spec.name not in SYMBOLIC) and problem.affine and not problem.value_inputs:
        inputs, _ = _fill_values(problem, "ones", 0, base)  # a constant operator (a bias): no value to name
        return builder(**inputs, **problem.params)
    if symbolic_ops is None or spec.name not in SYMBOLIC:
        _fail(f"--values: {spec.name} has no symbolic face to differentiate; use random, ones or FILE.npy")
    if nnz_est > SYMPY_NNZ_LIMIT:
        _fail(f"--values: symbolic differentiation is limited to {SYMPY_NNZ_LIMIT} nonzeros (this one has up to {nnz_est}); use random")
    inputs, _ = _fill_values(problem, "symbolic", 0, base, names=tuple(problem.shapes))
    return symbolic_ops.symbolic_jacobian(spec.name, inputs, problem.params, problem.wrt)


def run(args) -> int:
    from ..conventions import get_convention
    from ..registry import get_operator

    spec = get_operator(args.operator)
    if args.help_operator:
        print(operator_help(spec))
        return 0
    convention = get_convention(args.convention) if args.convention is not None else None
    fmt = args.format
    if fmt in ("npz", "mtx") and args.out is None:
        _fail(f"--out: --format {fmt} writes a file; give --out FILE.{fmt}")
    if args.plot is not None and os.path.splitext(args.plot)[1].lower() not in (".png", ".svg"):
        _fail(f"--plot: the file name must end in .png or .svg (got {echo(args.plot)})")
    check_output_path(args.out, "--out")
    check_output_path(args.plot, "--plot")
    if args.plot is not None:
        _require_matplotlib()
    values = args.values
    if values is not None and not values.strip():
        _fail("--values: expected symbolic, random, ones or a .npy file (got an empty string)")
    if getattr(args, "symbolic", False):
        if values not in (None, "symbolic"):
            _fail(f"--symbolic: the same as --values symbolic, so it cannot go with --values {echo(values)}")
        values = "symbolic"

    problem = build_problem(spec, args)
    if _streamable(problem, fmt, convention, args, values):
        return _stream_mtx(problem, args, values)
    _check_memory(problem, args.max_memory)

    rows, cols, nnz_est, _ = problem.estimate
    if args.full and fmt in (None, *TEXT_MATRIX_FORMATS) and rows * cols > FULL_PRINT_LIMIT:
        _fail(
            f"--full: a {rows}x{cols} matrix has {rows * cols} entries, too many to print "
            f"(limit {FULL_PRINT_LIMIT}); use --format pattern, stats, npz or mtx"
        )
    small = rows <= SMALL_ROWS and cols <= SMALL_COLS and nnz_est <= SMALL_NNZ
    if fmt is None:
        fmt = "pretty" if small else "summary"
    if args.index_base is not None:
        base = int(args.index_base)
    else:
        base = convention.index_base if convention is not None else 1
    explicit_symbolic = values == "symbolic"
    if values is None:
        values = "symbolic" if fmt in TEXT_MATRIX_FORMATS and small and problem.affine and problem.value_inputs else "random"
    if values == "symbolic" and fmt in ("npz", "mtx"):
        _fail(f"--values: symbolic entries cannot be exported as {fmt}; use random, ones or FILE.npy")

    notes: list[str] = []
    matrix = None
    if values == "symbolic":
        try:
            matrix = _symbolic_matrix(problem, base)
            notes = list(problem.symbolic_notes)
        except ValueError:
            if explicit_symbolic:
                raise
            values = "random"  # symbolic was only the default: show numbers instead
    if matrix is None:
        inputs, notes = _fill_values(problem, values, args.seed, base)
        matrix = spec.jacobian[problem.wrt](**inputs, **problem.params)
    in_shape = problem.shapes[problem.wrt]
    matrix = _apply_convention(matrix, convention, problem.out_shape, in_shape)
    shown_base = base if values == "symbolic" else None

    if args.plot:
        _save_plot(matrix, args.plot, problem, convention)
    note_text = "".join("\n" + ("% " if fmt == "latex" else "") + line for line in notes)
    if fmt == "npz":
        _export_npz(matrix, args.out)
        print(f"wrote {args.out} (scipy.sparse npz, {rows}x{cols})" + note_text)
    elif fmt == "mtx":
        _export_mtx(matrix, args.out)
        print(f"wrote {args.out} (Matrix Market, {rows}x{cols})" + note_text)
    elif fmt == "stats":
        from ..sparsity import format_stats, stats

        kwargs = problem.stats_kwargs if convention is None else {}
        _emit(_header(problem, matrix, convention, "ascii", shown_base) + "\n" + format_stats(stats(matrix, **kwargs)) + note_text, args.out)
    elif fmt == "pattern":
        from ..sparsity import pattern_text

        _emit(_header(problem, matrix, convention, "pretty", shown_base) + "\n" + pattern_text(matrix) + note_text, args.out)
    elif fmt == "summary":
        _emit(_header(problem, matrix, convention, "pretty", shown_base) + "\n" + _summary_text(matrix) + note_text, args.out)
    else:
        _emit(_header(problem, matrix, convention, fmt, shown_base) + "\n" + _render(matrix, fmt, args.full) + note_text, args.out)
    return 0


def _streamable(problem: Problem, fmt, convention, args, values) -> bool:
    """A conv2d input Jacobian exported as mtx whose CSR exceeds --max-memory: written in row blocks instead."""
    from ..ops._sparse import csr_bytes

    if fmt != "mtx" or convention is not None or args.plot is not None or values == "symbolic":
        return False
    if problem.spec.name != "conv2d" or problem.wrt != "x":
        return False
    rows, cols, nnz, _ = problem.estimate
    return csr_bytes(nnz, rows, cols) > args.max_memory


def _stream_mtx(problem: Problem, args, values) -> int:
    """Write the conv2d input Jacobian block by block (jacobians.stream), each block within --max-memory."""
    from ..ops._sparse import csr_bytes
    from ..stream import DEFAULT_BLOCK_NNZ, conv2d_input_jacobian_blocks, conv2d_input_nnz, write_mtx

    inputs, notes = _fill_values(problem, values or "random", args.seed, 1)
    weight, params = inputs["weight"], problem.params
    rows, cols, _, _ = problem.estimate
    nnz = conv2d_input_nnz(weight.shape, problem.shapes["x"], **params)
    # formatting one block's text holds ~80 bytes per entry (CSR, COO and the text)
    block_nnz = max(1, min(DEFAULT_BLOCK_NNZ, int(args.max_memory) // 80))
    blocks = conv2d_input_jacobian_blocks(weight, problem.shapes["x"], **params, max_block_nnz=block_nnz)
    write_mtx(blocks, (rows, cols), nnz, args.out, comment="jacobians show: numerator layout, rows = outputs")
    need = csr_bytes(nnz, rows, cols)
    note_text = "".join("\n" + line for line in notes)
    print(f"wrote {args.out} (Matrix Market, {rows}x{cols}, {nnz} entries, streamed in row blocks of at most "
          f"{block_nnz} entries: the CSR would need {need} bytes, above --max-memory {args.max_memory})" + note_text)
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
    import scipy.sparse as sp

    from .._atomic import atomic_open
    from ..sparsity import save_spy

    if not sp.issparse(matrix):  # symbolic entries: plot the pattern of the nonzero symbols
        import numpy as np

        pattern = np.array([[matrix[i, j] != 0 for j in range(matrix.shape[1])] for i in range(matrix.shape[0])], dtype=float)
        matrix = sp.csr_array(pattern.reshape(matrix.shape))
    fmt = os.path.splitext(path)[1].lower().lstrip(".")
    blocks = problem.blocks if convention is None else None
    title = f"{problem.spec.name}: ∂vec(y)/∂vec({problem.wrt}), {matrix.shape[0]}×{matrix.shape[1]}"
    with atomic_open(path, "wb") as handle:
        save_spy(matrix, handle, fmt=fmt, blocks=blocks, title=title)
