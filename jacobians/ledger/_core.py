"""The ledger's machinery: a claim, the evidence its check collects, and the verdict rule.

A :class:`Claim` restates one statement of a source note (in our words), says
where it is, in which convention it is stated, which routes check it, and
which verdict we expect. Its ``check(ev)`` function computes the statement
through at least two independent routes and hands every comparison to an
:class:`Evidence` object, either as the statement *as written*
(``ev.written``) or as our stated correction / completion
(``ev.corrected``). The verdict is derived from the two resulting booleans by
one rule (:func:`verdict_from`):

=================  ==================  ==================
as written holds   corrected holds     verdict
=================  ==================  ==================
True               (any)               ``holds``
False              True                ``holds-corrected``
None (a gap)       True                ``completes``
anything else                          ``fails``
=================  ==================  ==================

Errors are scaled to the values compared: ``max|got − want| / max(1, max|want|)``.
Routes that compare exact quantities (shapes, indices, 0/1 patterns, sympy
expressions) must agree exactly; floating routes within :data:`ROUTE_TOL`.
"""
from __future__ import annotations

import importlib
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = [
    "VERDICTS",
    "NOTES",
    "ROUTE_TOL",
    "Claim",
    "ClaimResult",
    "Evidence",
    "verdict_from",
    "claim",
    "CLAIMS",
    "load_claims",
    "select",
    "run_claims",
]

VERDICTS = ("holds", "holds-corrected", "completes", "fails")

#: note key -> (file number, citation)
NOTES = {
    "wang2019": ("000", 'Shusen Wang, "BackPropagation for Fully-Connected and Convolutional Neural Networks" (2019)'),
    "vardhan2022": ("001", 'Harsha Vardhan, "Convolutional Neural Network: back-propagation for 2D-convolution" (2022)'),
    "mint": ("002", '"Back Propagation Summary" (notes for the Mint framework)'),
    "xu2020": ("003", 'Jiashu Xu, "BP for convolutional layer" (2020)'),
    "dd2424": ("004", 'DD2424 Lecture 6, "The Convolutional Layer in Convolutional Networks" (KTH, 2017)'),
}

#: Tolerance (on the scaled error) per route; routes not listed use ``DEFAULT_TOL``.
#: Exact routes compare integers, 0/1 patterns or sympy expressions.
ROUTE_TOL = {
    "fd": 1e-6,  # central differences, h = 1e-6: truncation + rounding ≈ 1e-9 … 1e-7
    "shape": 0.0,
    "index": 0.0,
    "symbolic": 0.0,
    "structure": 0.0,
}
DEFAULT_TOL = 1e-9

#: Routes that take torch; skipped when torch is not importable.
TORCH_ROUTES = ("torch",)


_TORCH_OK: list = []


def _torch_ok() -> bool:
    """True when torch can be imported (checked once; torch routes are skipped otherwise)."""
    if not _TORCH_OK:
        try:
            import torch  # noqa: F401

            _TORCH_OK.append(True)
        except (ImportError, OSError):  # absent, or present but unloadable: skip the torch routes
            _TORCH_OK.append(False)
    return _TORCH_OK[0]


def tol_for(route: str) -> float:
    return ROUTE_TOL.get(route.split(":")[0], DEFAULT_TOL)


# ---------------------------------------------------------------------------
# comparing things
# ---------------------------------------------------------------------------
def _is_sympy(obj) -> bool:
    mod = type(obj).__module__
    return mod.startswith("sympy")


def _error(got, want) -> float:
    """Scaled disagreement between two values (0 = identical; inf = incomparable shapes)."""
    if _is_sympy(got) or _is_sympy(want):
        import sympy

        a = sympy.Matrix(got) if hasattr(got, "shape") else got
        b = sympy.Matrix(want) if hasattr(want, "shape") else want
        if hasattr(a, "shape") and hasattr(b, "shape"):
            if a.shape != b.shape:
                return math.inf
            diff = (a - b).applyfunc(sympy.expand)
            return float(sum(1 for e in diff if e != 0))
        return 0.0 if sympy.expand(a - b) == 0 else 1.0
    if isinstance(got, (bool, np.bool_)) or isinstance(want, (bool, np.bool_)):
        return 0.0 if bool(got) == bool(want) else 1.0
    if hasattr(got, "toarray"):
        got = got.toarray()
    if hasattr(want, "toarray"):
        want = want.toarray()
    a = np.asarray(got)
    b = np.asarray(want)
    if a.shape != b.shape:
        return math.inf
    if a.dtype.kind in "OUS" or b.dtype.kind in "OUS":
        return float(np.sum(a != b))
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    if a.size == 0:
        return 0.0
    scale = max(1.0, float(np.max(np.abs(b))))
    return float(np.max(np.abs(a - b))) / scale


def _perturbed(got):
    """A deliberately wrong copy of ``got`` (used to show a check rejects a wrong correction)."""
    if _is_sympy(got):
        import sympy

        if hasattr(got, "shape"):
            m = sympy.Matrix(got)
            m[0] = m[0] + sympy.Symbol("perturbation")
            return m
        return got + sympy.Symbol("perturbation")
    if isinstance(got, (bool, np.bool_)):
        return not bool(got)
    if hasattr(got, "toarray"):
        got = got.toarray()
    if isinstance(got, tuple):
        return tuple(v + 1 for v in got) if got else (1,)
    a = np.array(got, copy=True, order="C")
    if a.dtype.kind in "US":
        a = a.astype(object)
    if a.dtype == object:
        a = a.ravel()
        a[0] = ("perturbed", a[0])
        return a.reshape(np.shape(got))
    if a.dtype == bool:
        return ~a
    if a.ndim == 0:
        return a + max(1.0, abs(float(a))) * 1e-3 + (1 if a.dtype.kind in "iu" else 0)
    a = a.astype(np.float64)
    flat = a.reshape(-1)
    flat[int(np.argmax(np.abs(flat)))] += max(1.0, float(np.max(np.abs(flat)))) * 1e-3
    return a


class Evidence:
    """Collects the per-route comparisons of one claim's check.

    ``written(route, got, want)`` records the statement as the note writes it;
    ``corrected(route, got, want)`` records our correction (or, for a gap,
    our completion). Several calls with the same route (several geometries)
    keep the largest error. With ``perturb=True`` every corrected ``got`` is
    deliberately altered first, so a test can show the check would reject a
    wrong correction.
    """

    def __init__(self, perturb: bool = False):
        self.perturb = perturb
        self.errors = {"written": {}, "corrected": {}}
        self.failed = {"written": set(), "corrected": set()}
        self.geometries = 0

    def _record(self, form, route, got, want, tol):
        if route.split(":")[0] in TORCH_ROUTES and not _torch_ok():
            return None
        if callable(got):
            got = got()
        if callable(want):
            want = want()
        if form == "corrected" and self.perturb:
            got = _perturbed(got)
        err = _error(got, want)
        tol = tol_for(route) if tol is None else tol
        store = self.errors[form]
        store[route] = max(store.get(route, 0.0), err)
        if not err <= tol:
            self.failed[form].add(route)
        return err

    def written(self, route: str, got, want, tol: float | None = None):
        """Compare the note's statement, as written, with an independent computation."""
        return self._record("written", route, got, want, tol)

    def corrected(self, route: str, got, want, tol: float | None = None):
        """Compare our correction (or completion) with an independent computation."""
        return self._record("corrected", route, got, want, tol)

    def both(self, route: str, written_got, corrected_got, want, tol: float | None = None):
        """Record the as-written and the corrected form against the same reference."""
        self.written(route, written_got, want, tol)
        self.corrected(route, corrected_got, want, tol)

    def holds(self, form: str):
        if not self.errors[form]:
            return None
        return not self.failed[form]


def verdict_from(as_written_holds, corrected_holds) -> str:
    """The one rule that turns the two booleans into a verdict (see the module docstring)."""
    if as_written_holds is True:
        return "holds"
    if as_written_holds is False and corrected_holds is True:
        return "holds-corrected"
    if as_written_holds is None and corrected_holds is True:
        return "completes"
    return "fails"


# ---------------------------------------------------------------------------
# claims
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Claim:
    """One checkable statement of a note.

    Attributes
    ----------
    id : ``"<note>.<slug>"``, stable.
    note : note key (``wang2019``, ``vardhan2022``, ``mint``, ``xu2020``, ``dd2424``).
    location : section / equation / slide title (and line numbers of the text extraction).
    statement : the claim in our own words.
    convention : the convention it is stated in.
    routes : the routes its check compares (torch routes are skipped without torch).
    expected : the verdict we expect (one of :data:`VERDICTS`).
    check : ``check(ev: Evidence) -> None``.
    correction : for ``holds-corrected``: the corrected statement; for ``completes``: the completion.
    """

    id: str
    note: str
    location: str
    statement: str
    convention: str
    routes: tuple
    expected: str
    check: Callable = field(repr=False, compare=False)
    correction: str | None = None

    def __post_init__(self):
        if self.expected not in VERDICTS:
            raise ValueError(f"expected: must be one of {', '.join(VERDICTS)} (got {self.expected!r})")
        if not self.id.startswith(self.note + "."):
            raise ValueError(f"id: must start with the note key {self.note!r}. (got {self.id!r})")
        if self.expected in ("holds-corrected", "completes") and not self.correction:
            raise ValueError(f"correction: claim {self.id} expects {self.expected} but states no correction")

    def run(self, perturb: bool = False) -> "ClaimResult":
        ev = Evidence(perturb=perturb)
        start = time.perf_counter()
        error = None
        try:
            self.check(ev)
        except Exception as exc:  # a crashing check is a result too: verdict "error"
            error = f"{type(exc).__name__}: {exc}"
        elapsed = time.perf_counter() - start
        w, c = ev.holds("written"), ev.holds("corrected")
        verdict = "error" if error else verdict_from(w, c)
        return ClaimResult(self, verdict, w, c, dict(ev.errors["written"]), dict(ev.errors["corrected"]), elapsed, error)


@dataclass
class ClaimResult:
    claim: Claim
    verdict: str
    as_written_holds: bool | None
    corrected_holds: bool | None
    written_errors: dict
    corrected_errors: dict
    seconds: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.verdict == self.claim.expected

    @property
    def max_error(self) -> dict:
        """Largest error per route of the form that decides the verdict."""
        if self.verdict in ("holds-corrected", "completes") or (
            self.verdict == "fails" and self.corrected_errors and self.as_written_holds is not True
        ):
            return dict(self.corrected_errors)
        return dict(self.written_errors)

    def as_dict(self) -> dict:
        c = self.claim

        def clean(d):
            return {k: (v if math.isfinite(v) else "inf") for k, v in d.items()}

        out = {
            "id": c.id,
            "note": c.note,
            "location": c.location,
            "statement": c.statement,
            "convention": c.convention,
            "routes": list(c.routes),
            "expected": c.expected,
            "verdict": self.verdict,
            "ok": self.ok,
            "max_error": clean(self.max_error),
            "as_written_error": clean(self.written_errors),
            "correction": c.correction,
            "seconds": round(self.seconds, 4),
        }
        if self.error:
            out["error"] = self.error
        return out


#: id -> Claim, in catalog order (notes 000 … 004, each module's order).
CLAIMS: dict[str, Claim] = {}


def claim(id, *, note=None, location, statement, convention, routes, expected, correction=None):
    """Decorator registering ``check`` as the check of a new :class:`Claim`."""

    def deco(check):
        key = note or id.split(".")[0]
        if id in CLAIMS:
            raise ValueError(f"claim id {id!r} is defined twice")
        CLAIMS[id] = Claim(
            id=id,
            note=key,
            location=location,
            statement=" ".join(statement.split()),
            convention=convention,
            routes=tuple(routes),
            expected=expected,
            check=check,
            correction=" ".join(correction.split()) if correction else None,
        )
        return check

    return deco


def load_claims() -> dict[str, Claim]:
    """Import every note module (registering its claims) and return the catalog."""
    for key in NOTES:
        importlib.import_module(f".{key}", __package__)
    return CLAIMS


def select(note: str | None = None, claim_id: str | None = None) -> list[Claim]:
    """Claims of one note and/or one id; unknown names raise ValueError listing the choices."""
    claims = load_claims()
    if note is not None and note not in NOTES:
        raise ValueError(f"--note: unknown note {note!r}; choose one of {', '.join(NOTES)}")
    if claim_id is not None:
        if claim_id not in claims:
            hint = ""
            prefix = claim_id.split(".")[0]
            if prefix in NOTES:
                hint = f" (see `jacobians verify --note {prefix} --format json` for the ids)"
            raise ValueError(f"--claim: unknown claim id {claim_id!r}{hint}")
        chosen = [claims[claim_id]]
        if note is not None and chosen[0].note != note:
            raise ValueError(f"--claim: {claim_id!r} belongs to note {chosen[0].note!r}, not {note!r}")
        return chosen
    return [c for c in claims.values() if note is None or c.note == note]


def run_claims(claims) -> list[ClaimResult]:
    return [c.run() for c in claims]
