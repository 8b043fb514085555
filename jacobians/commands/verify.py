"""Check claims and print their verdicts: the five source notes', or your own.

Without FILE, every claim of the five notes' ledger (jacobians/ledger/) is
checked. With FILE.py [FILE2.py …], the claims those files define with
jacobians.claims.claim are checked instead: the files are RUN AS PYTHON
(imported as pytest imports test files), so only verify files you trust.

Each claim computes its statement through at least two independent routes
(explicit sparse Jacobian, im2col / rot180 backprop, sympy, finite
differences, torch when installed) and gets a verdict: holds,
holds-corrected (false as written, true after the stated correction),
completes (fills a gap of the source) or fails. When the as-written form
fails, the diagnosis names the usual mistake it makes, when one is verified
(see `jacobians compare --help`).

Exit status: 0 when every computed verdict equals the expected one, 1
otherwise, 2 for a usage error (unknown --note or --claim; a FILE that is
missing, not a .py file, has a syntax error, fails to import, or defines no
claim), with one line on stderr.
"""
from __future__ import annotations

HELP = "verdict on every claim of the notes, or of your own claims files"

FORMATS = ("table", "json", "markdown")


def configure(parser):
    parser.add_argument(
        "files", nargs="*", metavar="FILE.py",
        help="your claims files (run as Python, like pytest test files); default: the five notes",
    )
    parser.add_argument(
        "--note", metavar="NOTE",
        help="only this note: a key (wang2019, vardhan2022, mint, xu2020, dd2424) or its number (000 … 004); "
        "with FILE.py, a claim id prefix",
    )
    parser.add_argument("--claim", metavar="ID", help="only this claim id, e.g. dd2424.softmax-ce-gradient")
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")


def run(args) -> int:
    import time

    from ..claims import load_claim_files
    from ..claims import run_claims as run_all
    from ..claims import select as select_from
    from ..compare import diagnose_claim_result
    from ..ledger import report, select

    if args.files:
        registry = load_claim_files(args.files)  # ValueError (one line) for a bad file -> exit 2
        claims = select_from(registry, note=args.note, claim_id=args.claim)
    else:
        claims = select(note=args.note, claim_id=args.claim)  # ValueError for unknown names -> exit 2
    start = time.perf_counter()
    results = run_all(claims)
    for r in results:
        r.diagnosis = diagnose_claim_result(r)
    seconds = time.perf_counter() - start
    if args.format == "json":
        print(report.render_json(results))
    elif args.format == "markdown":
        print(report.render_markdown(results))
    else:
        print(report.render_table(results, seconds))
    return 0 if all(r.ok for r in results) else 1
