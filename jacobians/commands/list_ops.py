"""List the registered operators with their Jacobian inputs and VJP routes."""
from __future__ import annotations

HELP = "list registered operators"


def configure(parser):
    parser.add_argument("--format", choices=("table", "names"), default="table", help="output format")


def run(args) -> int:
    from ..registry import SYMBOLIC, load_all

    ops = load_all()
    if args.format == "table":
        try:  # registers the symbolic faces (imports sympy, so only for the table)
            import symbolic.ops  # noqa: F401
        except ImportError:  # pragma: no cover - symbolic ships with the package
            pass
    if args.format == "names":
        print("\n".join(sorted(ops)))
        return 0
    width = max(len(n) for n in ops)
    for name in sorted(ops):
        spec = ops[name]
        faces = ", ".join(f"{w} [{'/'.join(spec.vjp[w])}]" for w in spec.jacobian)
        sym = " +symbolic" if name in SYMBOLIC else ""
        print(f"{name:<{width}}  {spec.summary}")
        print(f"{'':<{width}}  wrt: {faces}{sym}")
    return 0
