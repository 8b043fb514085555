"""Is my matrix right? Compare a hand-written Jacobian (or gradient) with the truth, and diagnose it.

FILE (--matrix) may be .npy (never pickles), .npz (scipy.sparse save_npz),
.mtx (Matrix Market), .csv, or any plain-text matrix: one row per line,
entries separated by spaces or commas, each entry a number (2, -0.5, 1/4,
1e-3) or the notes' symbols with an optional number factor (X11, X_1_1,
-X12, 2*X11; 1-based, as `jacobians show` prints them), read by a small
strict parser — nothing is evaluated. A symbolic matrix is compared exactly
with the symbolic Jacobian; a numeric one against every route (explicit
builder, each efficient VJP, finite differences, torch when installed), with
the values of the arrays it depends on given as .npy files (--input X.npy,
--weight W.npy). With --upstream G.npy the file is a claimed gradient Jᵀg.

When the candidate is wrong, the diagnosis names each verified mistake of a
fixed catalogue (transpose, vec-order-rows, vec-order-cols, rot180,
channel-swap, sum-vs-stack, scale, sign, shift, stride-dilation,
softmax-diag; combinations of two) — only when undoing it reproduces the
truth — and the differing entries are listed in the operator's terms.

Exit status: 0 the candidate holds, 1 it does not, 2 a usage error (one line on stderr).
"""
from __future__ import annotations

import argparse
import os

HELP = "is my Jacobian (or gradient) right? compare with the truth and diagnose the mistake"

FORMATS = ("table", "json")
#: Largest matrix file read (bytes): a hand-written matrix is small.
MAX_FILE_BYTES = 64 * 2**20

_EPILOG = """\
examples:
  jacobians compare conv2d --input 1x3x3 --weight 1x1x2x2 --wrt weight --matrix mine.txt
  jacobians compare conv2d --input x.npy --weight 1x1x2x2 --wrt weight --matrix M.csv --convention dd2424
  jacobians compare conv2d --input 1x5x5 --weight w.npy --stride 2 --wrt input --matrix dx.npy --upstream g.npy
  jacobians compare softmax --input s.npy --matrix J.npy --format json"""


def _shape_or_file(text: str):
    """A shape ``CxHxW`` or the path of a ``.npy`` file with the values."""
    from .show import parse_shape

    t = text.strip()
    if t.lower().endswith(".npy"):
        return ("file", t)
    return ("shape", parse_shape(t))


def _typed(parse, what: str):
    """An argparse ``type=`` from one of show's parsers ``parse(text, what)`` (its one-line message kept)."""
    import argparse

    def convert(text):
        try:
            return parse(text, what)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def configure(parser):
    from .show import _int, parse_ints, parse_padding

    def parse_pair(what):
        return _typed(parse_ints, what)

    parse_groups = _typed(lambda text, what: _int(text, what, positive=True), "--groups")

    parser.epilog = _EPILOG
    parser.add_argument("operator", metavar="OPERATOR", help="a registered operator (see `jacobians list`)")
    parser.add_argument("--input", type=_shape_or_file, metavar="CxHxW|X.npy", help="the input's shape, or its values (.npy)")
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument("--weight", type=_shape_or_file, metavar="OxCxKHxKW|W.npy", help="weight shape or values (.npy)")
    shape.add_argument("--kernel", type=parse_pair("--kernel"), metavar="KHxKW", help="kernel size (window operators)")
    parser.add_argument("--wrt", default="input", metavar="NAME", help="input (default), weight, bias, or any input name")
    parser.add_argument("--stride", type=parse_pair("--stride"), metavar="S|SHxSW")
    parser.add_argument("--padding", type=_typed(parse_padding, "--padding"), metavar="P|PHxPW|T,B,L,R")
    parser.add_argument("--dilation", type=parse_pair("--dilation"), metavar="D|DHxDW")
    parser.add_argument("--groups", type=parse_groups, metavar="G")
    parser.add_argument("--convention", default="canonical", metavar="PRESET", help="the preset the matrix is written in (default canonical)")
    parser.add_argument("--matrix", required=True, metavar="FILE", help="the candidate: .npy, .npz, .mtx, .csv or a text matrix")
    parser.add_argument("--upstream", metavar="G.npy", help="upstream gradient g: the matrix file is then a claimed gradient Jᵀg")
    parser.add_argument("--tol", type=float, default=None, metavar="T", help="scaled tolerance (default 1e-8; use e.g. 1e-4 for rounded decimals)")
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")


# ---------------------------------------------------------------------------
# reading files (regular files only, sizes checked before anything is allocated)
# ---------------------------------------------------------------------------
def _regular(path: str, option: str) -> int:
    from ..claims import regular_file

    st = regular_file(path, option)
    if st.st_size > MAX_FILE_BYTES:
        raise ValueError(f"{option}: {path} has {st.st_size} bytes, more than {MAX_FILE_BYTES}")
    if st.st_size == 0:
        raise ValueError(f"{option}: {path} is empty")
    return st.st_size


def load_npy(path: str, option: str):
    """A real numeric array from ``.npy``: header checked first, never a pickle."""
    import numpy as np

    _regular(path, option)
    with open(path, "rb") as fh:
        try:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):  # the header only: no data is read
                shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
        except (ValueError, OSError, SyntaxError) as exc:
            raise ValueError(f"{option}: {path} is not a .npy file ({' '.join(str(exc).split())[:120]})") from None
    if dtype.hasobject:
        raise ValueError(f"{option}: {path} holds Python objects (pickled data is never loaded)")
    if not (np.issubdtype(dtype, np.number) or dtype == bool) or np.issubdtype(dtype, np.complexfloating):
        raise ValueError(f"{option}: {path} must hold real numbers (dtype {dtype})")
    n = 1
    for s in shape:
        n *= int(s)
    if n * dtype.itemsize > MAX_FILE_BYTES:
        raise ValueError(f"{option}: {path} declares {n} entries, more than this command reads")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{option}: cannot read {path}: {' '.join(str(exc).split())[:120]}") from None
    return arr.astype(np.float64)


def load_matrix(path: str, option: str = "--matrix"):
    """The candidate from FILE: numeric array / sparse, or parsed text rows (symbols)."""
    import numpy as np

    from ..compare import parse_matrix_text

    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        return load_npy(path, option)
    _regular(path, option)
    if ext == ".npz":
        import scipy.sparse as sp

        try:
            with np.load(path, allow_pickle=False) as z:
                keys = set(z.files)
        except Exception as exc:  # not a zip archive, or damaged
            raise ValueError(f"{option}: {path} is not a .npz archive ({' '.join(str(exc).split())[:120]})") from None
        if not {"format", "shape"} <= keys:
            raise ValueError(f"{option}: {path} is a .npz archive but not a scipy.sparse matrix (save it with scipy.sparse.save_npz)")
        try:
            return sp.csr_array(sp.load_npz(path))
        except Exception as exc:
            raise ValueError(f"{option}: cannot read {path} as a scipy.sparse matrix: {' '.join(str(exc).split())[:120]}") from None
    if ext == ".mtx":
        import scipy.io

        try:
            rows, cols, entries, *_ = scipy.io.mminfo(path)
        except Exception as exc:
            raise ValueError(f"{option}: {path} is not a Matrix Market file ({' '.join(str(exc).split())[:120]})") from None
        if rows * cols > 64 * 2**20 // 8 and entries > 8 * 2**20:
            raise ValueError(f"{option}: {path} declares {rows}×{cols} with {entries} entries, more than this command reads")
        try:
            m = scipy.io.mmread(path)
        except Exception as exc:
            raise ValueError(f"{option}: cannot read {path}: {' '.join(str(exc).split())[:120]}") from None
        if np.iscomplexobj(m if not hasattr(m, "data") else m.data):
            raise ValueError(f"{option}: {path} holds complex numbers; only real values are supported")
        return m
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except UnicodeDecodeError:
        raise ValueError(f"{option}: {path} is not a text file (use .npy, .npz or .mtx for binary matrices)") from None
    return parse_matrix_text(text, what=option)


# ---------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------
def _raw(value) -> str | None:
    """A parsed option value back in show's command-line form (``2``, ``2x1``, ``T,B,L,R``)."""
    if value is None:
        return None
    if isinstance(value, tuple):
        return (",".join if len(value) == 4 else "x".join)(map(str, value))
    return str(value)


def _problem(spec, args):
    """Shapes and parameters through `show`'s problem builder; values from the .npy files given."""
    import numpy as np

    from .show import DEDICATED, build_problem

    files = {}
    ns = argparse.Namespace(**{name: None for name in DEDICATED})
    ns.param, ns.wrt, ns.max_memory = [], args.wrt, 4 * 2**30
    for option in ("input", "weight"):
        value = getattr(args, option)
        if value is None:
            continue
        kind, payload = value
        if kind == "file":
            arr = load_npy(payload, f"--{option}")
            files[option] = arr
            payload = tuple(arr.shape) if arr.ndim else (1,)
        setattr(ns, option, "x".join(map(str, payload)))
    for option in ("kernel", "stride", "padding", "dilation", "groups"):
        setattr(ns, option, _raw(getattr(args, option, None)))
    problem = build_problem(spec, ns)
    inputs = {name: np.zeros(shape) for name, shape in problem.shapes.items()}
    inputs.update(problem.constants)
    names = {"input": problem.show.input_name or next(iter(spec.jacobian)), "weight": "weight"}
    for option, arr in files.items():
        name = names[option]
        if name in inputs and tuple(inputs[name].shape) != tuple(arr.shape):
            raise ValueError(f"--{option}: {arr.shape} does not fit {spec.name}'s {name} {tuple(inputs[name].shape)}")
        inputs[name] = arr
    given = {names[o] for o in files}
    rng = np.random.default_rng(0)
    for name in problem.value_inputs:  # placeholders of non-given value inputs (symbolic candidates)
        if name not in given:
            inputs[name] = rng.standard_normal(inputs[name].shape)
    return problem, inputs, given


def run(args) -> int:
    import json

    from ..compare import compare, symbolic_candidate
    from ..conventions import get_convention
    from ..registry import get_operator

    spec = get_operator(args.operator)
    conv = get_convention(args.convention)
    if args.tol is not None and not (args.tol > 0 and args.tol < 1):
        raise ValueError(f"--tol: must be between 0 and 1 (got {args.tol})")
    for option in ("stride", "padding", "dilation"):
        # a Jacobian compared densely has at most COMPARE_LIMIT entries, so no feasible geometry needs more
        value = getattr(args, option)
        top = None if value is None else max(value) if isinstance(value, tuple) else value
        if top is not None and top > 2**20:
            raise ValueError(f"--{option}: {top} is larger than any geometry compare handles (at most {2**20})")
    try:
        problem, inputs, given = _problem(spec, args)
    except OverflowError:  # a size beyond any index type
        raise ValueError("--input/--weight: a size is too large for any array index") from None
    wrt = problem.wrt
    from ..compare import COMPARE_LIMIT

    rows, cols = int(problem.estimate[0]), int(problem.estimate[1])
    if rows * cols > COMPARE_LIMIT:  # exact integers, before any Jacobian is built
        raise ValueError(
            f"{spec.name}: the Jacobian would be {rows}×{cols}, more than the {COMPARE_LIMIT} entries compared densely"
        )
    candidate = load_matrix(args.matrix)
    symbolic = isinstance(candidate, list)
    missing = [n for n in problem.value_inputs if n not in given]
    if missing and not symbolic:
        option = "--input" if missing[0] == next(iter(spec.jacobian)) else ("--weight" if missing[0] == "weight" else missing[0])
        raise ValueError(
            f"{option}: the Jacobian of {spec.name} w.r.t. {wrt} depends on the values of {missing[0]}; "
            f"give {option} FILE.npy with the values your matrix was computed from"
            + (" (or type it with symbols such as X11)" if wrt in spec.affine_in else "")
        )
    g = None
    if args.upstream is not None:
        if symbolic:
            raise ValueError("--upstream: a symbolic matrix must be a Jacobian; give numbers for a gradient")
        g = load_npy(args.upstream, "--upstream")
    kw = {**inputs, **problem.params}
    tol = {} if args.tol is None else {"tol": args.tol}
    if symbolic:
        candidate = symbolic_candidate(candidate, spec.name, wrt=wrt, index_base=1, **kw)
    result = compare(candidate, spec.name, wrt=wrt, convention=conv, g=g, **tol, **kw)
    if args.format == "json":
        print(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
    else:
        print(render(result, spec.name, wrt, conv.name))
    return 0 if result.holds else 1


def _fmt(v) -> str:
    if isinstance(v, str):
        return v
    if v == float("inf"):
        return "inf"
    return f"{v:.1e}" if v else "0"


def render(result, operator: str, wrt: str, convention: str) -> str:
    """The table output: verdict, error per route, diagnosis, differing entries and their picture."""
    what = "gradient" if result.mode == "gradient" else "Jacobian"
    shape = "×".join(map(str, result.shape)) if result.shape else ""
    verdict = "holds" if result.holds else "does NOT hold"
    lines = [f"{operator} w.r.t. {wrt}, convention {convention}: the candidate {what} ({shape}) {verdict}"]
    lines.append("route          error")
    for route, err in result.routes.items():
        unit = " differing entries (exact)" if route == "symbolic" else ""
        lines.append(f"  {route:<12} {_fmt(err) if route != 'symbolic' else int(err)}{unit}")
    if result.holds:
        return "\n".join(lines)
    if result.diagnosis:
        lines.append("diagnosis (each verified: undoing it reproduces the truth):")
        for d in result.diagnosis:
            lines.append(f"  {d['name']}: {d['description']}")
    else:
        lines.append("diagnosis: none of the usual mistakes explains the difference" + (f" ({result.note})" if result.note else ""))
    lines.append(f"differing entries: {result.differing_entries}")
    for row, col, got, want, label in result.differing:
        where = f"[{row}]" if col is None else f"[{row}, {col}]"
        lines.append(f"  {where:<10} candidate {_fmt(got) if not isinstance(got, float) else f'{got:.6g}'}, "
                     f"truth {_fmt(want) if not isinstance(want, float) else f'{want:.6g}'}   {label}")
    if result.differing_entries > len(result.differing):
        lines.append(f"  … and {result.differing_entries - len(result.differing)} more")
    if result.picture:
        lines.append("where (X differs, . nonzero in the truth):")
        lines.extend("  |" + line + "|" for line in result.picture.splitlines())
    return "\n".join(lines)
