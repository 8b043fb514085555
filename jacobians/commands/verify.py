"""Check every claim of the five source notes and print its verdict.

Each claim of the ledger (jacobians/ledger/) restates one statement of a
note, computes it through at least two independent routes (explicit sparse
Jacobian, im2col / rot180 backprop, sympy, finite differences, torch when
installed) and derives a verdict: holds, holds-corrected (false as written,
true after the stated correction), completes (fills a gap of the note) or
fails. The exit status is 0 when every computed verdict equals the expected
one recorded in the ledger, 1 otherwise; an unknown --note or --claim is a
usage error (status 2).
"""
from __future__ import annotations

HELP = "verdict on every claim of the notes"

FORMATS = ("table", "json", "markdown")


def configure(parser):
    parser.add_argument("--note", metavar="NOTE", help="only this note (wang2019, vardhan2022, mint, xu2020, dd2424)")
    parser.add_argument("--claim", metavar="ID", help="only this claim id, e.g. dd2424.softmax-ce-gradient")
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")


def run(args) -> int:
    import time

    from ..ledger import report, run_claims, select

    claims = select(note=args.note, claim_id=args.claim)  # ValueError for unknown names -> exit 2
    start = time.perf_counter()
    results = run_claims(claims)
    seconds = time.perf_counter() - start
    if args.format == "json":
        print(report.render_json(results))
    elif args.format == "markdown":
        print(report.render_markdown(results))
    else:
        print(report.render_table(results, seconds))
    return 0 if all(r.ok for r in results) else 1
