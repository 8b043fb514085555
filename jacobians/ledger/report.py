"""Rendering ledger results: a terminal table, JSON, and the README's markdown.

``python -m jacobians.ledger.report --update-readme docs/ledger.md`` runs every
claim and rewrites only the region between ``<!-- ledger:begin -->`` and
``<!-- ledger:end -->`` of the given file with :func:`render_markdown`.

The markdown is meant to stay stable from machine to machine: it lists each
claim's declared routes and the largest error of the deciding form in coarse
bins (:data:`ERROR_BINS`), not the raw rounding noise.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter

from ._core import NOTES, VERDICTS, ClaimResult, load_claims, run_claims

BEGIN = "<!-- ledger:begin -->"
END = "<!-- ledger:end -->"


def _fmt(err) -> str:
    if not math.isfinite(err):
        return "inf"
    return f"{err:.1e}" if err else "0"


#: Bins of the markdown's error column: coarse enough that rounding noise from another BLAS or CPU
#: cannot move a claim to another bin (analytic routes sit near 1e-16, finite differences near
#: 1e-10, failures of an as-written form at 1e-1 and above).
ERROR_BINS = ((1e-12, "< 1e-12"), (1e-6, "< 1e-6"), (1e-2, "< 1e-2"))


def error_bin(err: float) -> str:
    """The error as a coarse bin ('0' for exact agreement, 'shape≠' for incomparable shapes)."""
    if err == 0:
        return "0"
    if not math.isfinite(err):
        return "shape≠"
    for bound, label in ERROR_BINS:
        if err < bound:
            return label
    return "≥ 1e-2"


def _worst(errors: dict, skip_torch: bool = False) -> float:
    values = [v for k, v in errors.items() if not (skip_torch and k.split(":")[0] == "torch")]
    return max(values) if values else 0.0


def summary_counts(results) -> dict:
    counts = Counter(r.verdict for r in results)
    return {v: counts.get(v, 0) for v in (*VERDICTS, "error") if counts.get(v, 0) or v in VERDICTS}


# ---------------------------------------------------------------------------
# table (terminal)
# ---------------------------------------------------------------------------
#: What each route name means (the table's legend); a user's own route names are listed by their kinds.
ROUTE_LEGEND = {
    "explicit": "the package's explicit sparse Jacobian (builders in jacobians.ops)",
    "vjp": "the package's efficient backprop (VJP), never building the matrix",
    "im2col": "backprop through im2col / col2im",
    "rot180": "backprop as a full convolution with the kernel rotated by 180°",
    "kron": "the package's Kronecker forms",
    "convention": "the package's convention presets (permutations)",
    "fd": "central finite differences of a forward",
    "descent": "a finite gradient-descent step",
    "torch": "torch autograd (skipped when torch is not installed)",
    "jax": "jax autodiff (skipped when jax is not installed)",
    "symbolic": "sympy, compared exactly",
    "shape": "shapes, compared exactly",
    "index": "index arithmetic, compared exactly",
    "structure": "0/1 patterns, compared exactly",
    "formula": "loops or numpy written from the note's own formula",
    "numpy": "plain numpy written from the note's formula",
    "trace": "the note's own worked trace",
}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def legend(results) -> list:
    """Lines explaining every route name used in ``results``."""
    used = {}
    for r in results:
        for cmp in getattr(r, "comparisons", []):
            used.setdefault(cmp.route.split(":")[0], set()).add(tuple(cmp.kinds))
        for route in list(r.written_errors) + list(r.corrected_errors):
            used.setdefault(route.split(":")[0], set())
    lines = []
    for name in sorted(used):
        text = ROUTE_LEGEND.get(name)
        if text is None:
            kinds = ", ".join(sorted(f"{a} vs {b}" for a, b in used[name])) or "kinds not recorded"
            text = f"a route of the claim's own ({kinds})"
        lines.append(f"  {name:<11} {text}")
    return lines


def render_table(results: list[ClaimResult], seconds: float | None = None) -> str:
    lines = []
    width = max([len(r.claim.id) for r in results] + [len("claim")])
    lines.append(f"{'claim':<{width}}  {'verdict':<15}  check")
    lines.append(f"{'-' * width}  {'-' * 15}  {'-' * 26}")
    for r in results:
        mark = "ok" if r.ok else f"MISMATCH (expected {r.claim.expected})"
        errs = ", ".join(f"{k} {_fmt(v)}" for k, v in r.max_error.items())
        pad = f"{'':<{width}}  "
        kind = f" [{r.claim.kind}]" if r.claim.kind else ""
        lines.append(f"{r.claim.id:<{width}}  {r.verdict:<15}  {mark}{kind}")
        lines.append(f"{pad}at: {r.claim.location}")
        lines.append(f"{pad}max error: {errs or '-'}")
        if r.verdict in ("holds-corrected", "fails") and r.written_errors:
            as_written = ", ".join(f"{k} {_fmt(v)}" for k, v in r.written_errors.items())
            lines.append(f"{pad}as written: {as_written}")
        if r.claim.correction and r.verdict in ("holds-corrected", "completes", "fails"):
            label = "completion" if r.claim.expected == "completes" else "correction"
            lines.append(f"{pad}{label}: {r.claim.correction}")
        if r.claim.reading:
            lines.append(f"{pad}literal reading: {r.claim.reading}")
        for d in getattr(r, "diagnosis", []) or []:
            lines.append(f"{pad}diagnosis ({d.get('route', '-')}): {d['name']} — {d['description']}")
        skipped = getattr(r, "skipped", {}) or {}
        if skipped:
            lines.append(f"{pad}skipped: " + ", ".join(f"{k} ({v})" for k, v in skipped.items()))
        if r.error:
            lines.append(f"{pad}check crashed: {r.error}")
    lines.append("")
    lines.append("routes:")
    lines.extend(legend(results))
    lines.append("")
    lines.append(summary_line(results, seconds))
    missing = sorted({reason for r in results for reason in (getattr(r, "skipped", {}) or {}).values()})
    for reason in missing:
        n = sum(1 for r in results for v in (getattr(r, "skipped", {}) or {}).values() if v == reason)
        hint = " (pip install 'jacobians[torch]' to run them)" if reason.startswith("torch") else ""
        lines.append(f"{reason}: {_plural(n, 'route')} skipped{hint}")
    return "\n".join(lines)


def summary_line(results, seconds=None) -> str:
    counts = summary_counts(results)
    mism = sum(1 for r in results if not r.ok)
    parts = ", ".join(f"{n} {v}" for v, n in counts.items())
    took = f" in {seconds:.1f} s" if seconds is not None else ""
    status = "all verdicts as expected" if not mism else f"{mism} verdict(s) differ from the expected ones"
    return f"{_plural(len(results), 'claim')}{took}: {parts} — {status}"


# ---------------------------------------------------------------------------
# json
# ---------------------------------------------------------------------------
def render_json(results: list[ClaimResult]) -> str:
    return json.dumps([r.as_dict() for r in results], indent=2, ensure_ascii=False)


# ---------------------------------------------------------------------------
# markdown (README)
# ---------------------------------------------------------------------------
def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(results: list[ClaimResult]) -> str:
    out = []
    counts = summary_counts(results)
    out.append(
        "Error = largest scaled disagreement between routes over several geometries, in coarse bins "
        "(0 = exact; < 1e-12 rounding; < 1e-6 finite differences; shape≠ = incomparable shapes), "
        "over the routes other than torch so that the table does not depend on whether torch is installed "
        "(`jacobians verify` prints every route's error, torch's included). "
        "'As written' is the same for the statement as the note writes it. "
        "Not judged: what the slides mark by colour or drawn boxes (which entries of X a row or column of "
        "M_X^im / M_F^filter reads). The plain-text copies lose the figures and keep only fragments of "
        "those boxes, so no verdict on them would be about the notes; the matrices themselves are judged."
    )
    out.append("")
    out.append("| note | " + " | ".join(VERDICTS) + " | total |")
    out.append("|---|" + "---|" * (len(VERDICTS) + 1))
    keys = list(NOTES) + [k for k in dict.fromkeys(r.claim.note for r in results) if k not in NOTES]
    for key in keys:
        rs = [r for r in results if r.claim.note == key]
        if not rs:
            continue
        c = Counter(r.verdict for r in rs)
        out.append(f"| `{key}` | " + " | ".join(str(c.get(v, 0)) for v in VERDICTS) + f" | {len(rs)} |")
    out.append("| **all** | " + " | ".join(str(counts.get(v, 0)) for v in VERDICTS) + f" | {len(results)} |")
    for key in keys:
        rs = [r for r in results if r.claim.note == key]
        if not rs:
            continue
        out.append("")
        if key in NOTES:
            num, cite = NOTES[key]
            out.append(f"### {num} — {cite} (`{key}`)")
        else:
            source = rs[0].claim.source
            out.append(f"### `{key}`" + (f" ({_md(source)})" if source else ""))
        out.append("")
        out.append("| claim | where | verdict | routes | error | as written |")
        out.append("|---|---|---|---|---|---|")
        for r in rs:
            verdict = r.verdict if r.ok else f"{r.verdict} (expected {r.claim.expected})"
            as_written = error_bin(_worst(r.written_errors, skip_torch=True)) if r.verdict == "holds-corrected" else ""
            out.append(
                f"| `{r.claim.id}` | {_md(r.claim.location)} | {verdict} | {', '.join(r.claim.routes)} | "
                f"{error_bin(_worst(r.max_error, skip_torch=True))} | {as_written} |"
            )
    errata = [r for r in results if r.claim.expected == "holds-corrected"]
    gaps = [r for r in results if r.claim.expected == "completes"]
    out.append("")
    out.append("### Errata found")
    out.append("")
    out.append("Each is false as written (the as-written form fails the check) and holds after the stated correction.")
    out.append("")
    for r in errata:
        out.append(f"- `{r.claim.id}` ({_md(r.claim.location)}): {_md(r.claim.statement)} **Correction:** {_md(r.claim.correction)}")
    out.append("")
    out.append("### Gaps completed")
    out.append("")
    for r in gaps:
        out.append(f"- `{r.claim.id}` ({_md(r.claim.location)}): {_md(r.claim.statement)} **Completion:** {_md(r.claim.correction)}")
    return "\n".join(out)


#: Opens the generated region of a file written by :func:`update_readme` (not the markdown output itself).
MAINTAINER_NOTE = (
    "Generated by `python -m jacobians.ledger.report --update-readme docs/ledger.md` from "
    "`jacobians verify --format markdown`; do not edit by hand."
)


def readme_markdown(results) -> str:
    """What :func:`update_readme` writes between the markers: the maintainer's note, then :func:`render_markdown`."""
    return MAINTAINER_NOTE + " " + render_markdown(results)


def replace_region(text: str, body: str, begin: str = BEGIN, end: str = END) -> str:
    """``text`` with everything between the two markers replaced by ``body``."""
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < 0 or j < i:
        raise ValueError(f"README: markers {begin} … {end} not found in that order")
    return text[: i + len(begin)] + "\n" + body.rstrip("\n") + "\n" + text[j:]


def readme_region(text: str, begin: str = BEGIN, end: str = END) -> str:
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < 0 or j < i:
        raise ValueError(f"README: markers {begin} … {end} not found in that order")
    return text[i + len(begin) : j].strip("\n")


def update_readme(path: str, results=None) -> bool:
    """Rewrite the ledger region of ``path``; returns True when the file changed."""
    if results is None:
        results = run_claims(list(load_claims().values()))
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    new = replace_region(text, readme_markdown(results))
    if new != text:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(new)
        return True
    return False


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jacobians.ledger.report", description=__doc__.splitlines()[0])
    parser.add_argument("--update-readme", metavar="PATH", help="rewrite the ledger region of this README")
    parser.add_argument("--format", choices=("markdown", "json", "table"), default="markdown")
    args = parser.parse_args(argv)
    results = run_claims(list(load_claims().values()))
    if args.update_readme:
        changed = update_readme(args.update_readme, results)
        print(f"{args.update_readme}: {'updated' if changed else 'already current'}")
        return 0 if all(r.ok for r in results) else 1
    render = {"markdown": render_markdown, "json": render_json, "table": render_table}[args.format]
    print(render(results))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
