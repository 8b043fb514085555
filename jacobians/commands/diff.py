"""Diff a framework's own Jacobian of an operator with ours, entry by entry, at real sizes.

The framework (PyTorch) differentiates its own implementation of the operator
(the registered ``torch_forward``) by column compression over our explicit
Jacobian's pattern: one JVP per color of a coloring of the columns (for a
convolution w.r.t. its input C_in·kh·kw probes, whatever the image size).
Reported: the largest difference, how many stored entries differ beyond the
tolerance and where (output index ← input index), what the framework puts
outside our pattern, a VJP cross-check through autograd, a text spy of the
differing entries, timings. Exit status 0: agree; 1: disagree; 2: bad input.

Examples::

    jacobians diff conv2d --input 64x56x56 --weight 64x64x3x3 --padding 1
    jacobians diff max_pool2d --input 16x32x32 --kernel 2 --stride 2
    jacobians diff conv2d --input 3x8x8 --weight 4x3x3x3 --wrt weight --format json
"""
from __future__ import annotations

import argparse
import json

from . import show
from .show import _fail, parse_bytes, parse_seed

HELP = "diff a framework's Jacobian of an operator with ours, entry by entry"

DEFAULT_MAX_MEMORY = 8 * 2**30


def _tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number such as 1e-5") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: must be a positive finite number")
    return value


def configure(parser):
    parser.add_argument("operator", metavar="OPERATOR", help="a registered operator with a torch counterpart")
    # the operator's shapes and options are parsed by `show`'s problem builder (strings here)
    parser.add_argument("--input", metavar="SHAPE", help="shape of the operator's input, e.g. CxHxW")
    parser.add_argument("--weight", metavar="SHAPE", help="weight shape (convolution, linear)")
    parser.add_argument("--kernel", metavar="K|KHxKW", help="kernel size (window operators)")
    parser.add_argument("--wrt", default="input", metavar="NAME", help="input (default), weight, bias, or an input name")
    parser.add_argument("--stride", metavar="S|SHxSW")
    parser.add_argument("--padding", metavar="P|PHxPW|T,B,L,R")
    parser.add_argument("--dilation", metavar="D|DHxDW")
    parser.add_argument("--groups", metavar="G")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="any other option the operator declares (see `jacobians show OPERATOR --help-operator`)")
    parser.add_argument("--framework", choices=("torch", "jax"), default="torch",
                        help="the framework to diff: torch (default) or jax (optional; conv2d, max_pool2d, activations)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="precision of both sides (default float32)")
    parser.add_argument("--tol", type=_tolerance, default=None, metavar="ABS",
                        help="absolute tolerance per entry (default 1e-5 (float32) or 1e-11 (float64) times max(1, max |J|))")
    parser.add_argument("--coloring", choices=("grid", "greedy", "networkx"), default="grid", help="column coloring (default grid)")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--show", type=int, default=10, metavar="K", help="list the K largest differences (default 10)")
    parser.add_argument("--seed", type=parse_seed, default=0, metavar="N", help="seed of the random values (default 0)")
    parser.add_argument("--max-memory", type=parse_bytes, default=DEFAULT_MAX_MEMORY, metavar="BYTES",
                        help="refuse Jacobians larger than this (default 8G)")


def _problem(spec, args):
    """(problem, inputs with random values, names of constant inputs) through `show`'s problem builder.

    Works with both forms of `show`: the one with per-operator ShowSpec metadata
    (``build_problem``, options as strings, ``_fill_values`` -> (inputs, notes))
    and the earlier one (adapters over parsed tuples, ``_fill_values`` -> inputs).
    """
    if hasattr(show, "build_problem"):
        problem = show.build_problem(spec, args)
    else:
        if args.param:
            _fail("--param: this version of `show` takes only --input, --weight, --kernel, --stride, --padding, --dilation, --groups")
        parsed = argparse.Namespace(**vars(args))
        parsers = {"input": show.parse_shape, "weight": show.parse_shape, "kernel": show.parse_pair, "stride": show.parse_pair,
                   "padding": show.parse_padding, "dilation": show.parse_pair, "groups": show.parse_groups}
        for name, parse in parsers.items():
            raw = getattr(args, name)
            if raw is not None:
                try:
                    setattr(parsed, name, parse(raw))
                except argparse.ArgumentTypeError as exc:
                    _fail(f"--{name}: {exc}")
        if parsed.weight is not None and parsed.kernel is not None:
            _fail("--kernel: give --weight or --kernel, not both")
        problem = show.ADAPTERS.get(spec.name, show._generic_problem)(spec, parsed)
    show._check_memory(problem, args.max_memory)
    filled = show._fill_values(problem, "random", args.seed, 1)
    inputs = filled[0] if isinstance(filled, tuple) else filled
    constants = set(getattr(problem, "constants", None) or getattr(problem, "constant", ()) or ())
    return problem, inputs, constants


def _fmt_index(idx) -> str:
    return "[" + ",".join(str(i) for i in idx) + "]"


def _table(r, spy: str | None) -> str:
    shape = lambda s: "x".join(map(str, s))  # noqa: E731
    verdict = "agree" if r.ok else "DISAGREE"
    lines = [
        f"{r.operator} w.r.t. {r.wrt}: y {shape(r.out_shape)} <- {r.wrt} {shape(r.in_shape)}; "
        f"Jacobian {r.shape[0]}x{r.shape[1]}, nnz {r.nnz}",
        f"framework   {r.framework}, {r.n_colors} JVP probes (column coloring) in {r.seconds['framework']:.2f} s; "
        f"ours built in {r.seconds['ours']:.2f} s",
        f"max error   {r.max_error:.3e}   (tolerance {r.tolerance:.1e} = rtol x max(1, max|J| = {r.scale:.3g}))",
        f"differing   {r.n_differing} of {r.nnz} stored entries",
        f"outside     {r.outside:.3e}   (largest framework value outside our pattern)",
        (f"vjp         not run: {r.vjp_note}" if r.vjp_note else
         f"vjp         {r.vjp_error:.3e}   (the framework's reverse mode with a random g vs J^T g; tolerance {r.vjp_tolerance:.1e})"),
        f"verdict     {verdict}",
    ]
    if r.positions:
        lines.append("largest differences (output <- input: ours vs framework):")
        for o, i, a, b in r.positions:
            lines.append(f"  y{_fmt_index(o)} <- {r.wrt}{_fmt_index(i)}: {a:+.6e} vs {b:+.6e}")
    if spy:
        lines.append("where they differ (rows = outputs, columns = inputs):")
        lines.append(spy)
    return "\n".join(lines)


def run(args) -> int:
    import numpy as np

    from ..interop.diff import diff_operator, torch_operators
    from ..registry import get_operator

    spec = get_operator(args.operator)
    if args.show < 0:
        _fail(f"--show: must be non-negative (got {args.show})")
    if args.framework == "torch":
        if spec.torch_forward is None:
            _fail(f"OPERATOR: {spec.name} has no torch counterpart; diff one of: {', '.join(torch_operators())}")
        module, extra = "torch", "pip install 'jacobians[torch]'"
    else:
        module, extra = "jax", "pip install jax"
    import importlib.util

    if importlib.util.find_spec(module) is None:
        _fail(f"--framework: {module} is not installed ({extra})")
    if args.framework == "jax":
        from ..interop.diff import jax_operators

        if spec.name not in jax_operators():
            _fail(f"OPERATOR: {spec.name} has no JAX implementation here; --framework jax supports {', '.join(jax_operators())}")
        if args.dtype == "float64":
            import jax

            jax.config.update("jax_enable_x64", True)
    problem, inputs, constants = _problem(spec, args)
    dtype = np.dtype(args.dtype)
    inputs = {k: (np.asarray(v).astype(dtype) if np.asarray(v).dtype.kind == "f" and k not in constants else v)
              for k, v in inputs.items()}
    ours = spec.jacobian[problem.wrt](**inputs, **problem.params)
    if ours.dtype != dtype:
        ours = ours.astype(dtype)
    report = diff_operator(spec, inputs, problem.params, problem.wrt, tol=args.tol, coloring=args.coloring,
                           max_positions=args.show, seed=args.seed, ours=ours, framework=args.framework)
    if args.format == "json":
        print(json.dumps(report.as_dict(), indent=2))
    else:
        spy = None
        if report.differing is not None:
            from ..sparsity import pattern_text

            spy = pattern_text(report.differing, max_cols=64, max_rows=16)
        print(_table(report, spy))
    return 0 if report.ok else 1
