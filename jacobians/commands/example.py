"""Print one of the notes' worked examples, reproduced exactly with sympy.

Examples::

    jacobians example --list
    jacobians example dd2424.m_x_im
    jacobians example vardhan2022.appendix_a --format latex
    jacobians example dd2424.m_f_filter_multiplane --full

Wide or tall matrices are elided the way the notes elide them (… ⋮) unless
``--full`` is given. sympy is imported only when the command runs.
"""
from __future__ import annotations

HELP = "print a worked example of the notes (symbolic, exact)"


def configure(parser):
    parser.add_argument("name", nargs="?", metavar="NAME", help="example name (see --list)")
    parser.add_argument("--list", action="store_true", help="list the example names and exit")
    parser.add_argument(
        "--format", choices=("pretty", "ascii", "latex"), default="pretty", help="output format (default: pretty)"
    )
    parser.add_argument("--full", action="store_true", help="print every entry (no … ⋮ elision)")
    parser.add_argument("--max-rows", type=int, default=20, help="rows shown before eliding (default 20)")
    parser.add_argument("--max-cols", type=int, default=12, help="columns shown before eliding (default 12)")


_ASCII = str.maketrans(
    {"×": "x", "∗": "*", "ᵀ": "^T", "∂": "d", "—": "-", "–": "-", "…": "...", "→": "->", "Σ": "sum ",
     "β": "beta", "≤": "<=", "§": "sec. ", "∘": "o", "ⁱ": "^i", "°": " deg", "’": "'", "‘": "'", **{chr(0x2080 + d): str(d) for d in range(10)}}
)


def _text(text: str, fmt: str) -> str:
    """Headers in plain ASCII for --format ascii (subscript digits, ×, ∂ … transliterated)."""
    if fmt != "ascii":
        return text
    return text.translate(_ASCII).encode("ascii", "replace").decode("ascii")


def _shape_text(value, fmt) -> str:
    shape = getattr(value, "shape", None)
    if not shape:
        return ""
    times = "×" if fmt == "pretty" else "x"
    return f" ({shape[0]}{times}{shape[1]})"


def run(args) -> int:
    from symbolic.examples import EXAMPLES, example_names, get_example
    from symbolic.printing import render

    if args.list:
        width = max(len(n) for n in EXAMPLES)
        for name in example_names():
            fn = EXAMPLES[name]
            summary = (fn.__doc__ or "").strip().splitlines()[0]
            print(f"{name:<{width}}  {summary}")
        return 0
    for flag, value in (("--max-rows", args.max_rows), ("--max-cols", args.max_cols)):
        if value < 3:
            raise ValueError(f"{flag}: must be an integer ≥ 3 (got {value})")
    if not args.name:
        raise ValueError(f"NAME: give an example name or --list; choose one of {', '.join(example_names())}")
    fn = get_example(args.name)
    items = fn()
    summary = (fn.__doc__ or "").strip().splitlines()[0]
    print(_text(f"{args.name} — {summary}", args.format))
    print(_text(f"source: {fn.note}, {fn.where}", args.format))
    for label, value in items.items():
        print()
        print(_text(f"{label}{_shape_text(value, args.format)}:", args.format))
        print(render(value, args.format, max_rows=args.max_rows, max_cols=args.max_cols, full=args.full))
    return 0
