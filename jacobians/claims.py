"""The public claims API: state a claim about a Jacobian, check it by independent routes, get a verdict.

A :class:`Claim` restates one statement (of a note, a paper, your homework):
where it is, in which convention it is stated, which routes check it, and
which verdict you expect. Its check function receives an :class:`Evidence`
object and hands it every comparison, either of the statement *as written*
(:meth:`Evidence.written`) or of a stated correction / completion
(:meth:`Evidence.corrected`); :meth:`Evidence.gap` declares that the source
states nothing to compare as written. The verdict follows from the two
resulting booleans by one rule (:func:`verdict_from`):

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

Route kinds
-----------
Every comparison says what kind of computation each of its two sides is
(:data:`ROUTE_KINDS`): ``package`` (this package's builders and VJPs),
``formula`` (loops or numpy written in the claim from the source's own
formula), ``sympy``, ``fd`` (finite differences), ``torch``, ``jax`` and
``exact`` (integer or shape facts computed independently). When a call does
not say, the kinds are ``("formula", <kind of the route name>)``: the value
under test is the claim's own computation and the route name names the
reference (see :func:`route_kind`). :func:`route_kind_violations` finds the
claims that are not checked by two different kinds of evidence.

Registering and running
-----------------------
:func:`claim` registers into :data:`CLAIMS` — or, inside
:func:`collect_claims`, into a fresh :class:`ClaimRegistry`;
:func:`load_claim_files` runs a user's Python files that way (it *executes*
them, as pytest does with test files). Claim ids are free-form: any prefix
before the first ``.`` names the claim's source (``note``).

Reference routes
----------------
:func:`reference_jacobian` and :func:`reference_vjp` give the true Jacobian
(in any convention preset) or gradient of any registered operator by each
independent route, so that a user's check is a few lines.

Examples
--------
>>> import numpy as np
>>> from jacobians.claims import claim, collect_claims, reference_jacobian
>>> with collect_claims() as mine:
...     @claim("hw1.relu-diag", location="hw 1, eq. 3", statement="∂relu(x)/∂x = diag(x > 0)",
...            convention="canonical", routes=("explicit", "fd"), expected="holds")
...     def _(ev):
...         x = np.array([-1.0, 2.0, 3.0])
...         mine_J = np.diag((x > 0).astype(float))
...         ev.written("explicit", mine_J, reference_jacobian("relu", "z", z=x))
...         ev.written("fd", mine_J, reference_jacobian("relu", "z", route="fd", z=x))
>>> r = mine["hw1.relu-diag"].run()
>>> r.verdict, sorted(r.written_errors)
('holds', ['explicit', 'fd'])
"""
from __future__ import annotations

import contextlib
import inspect
import math
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
from .ops._sparse import as_array

__all__ = [
    "VERDICTS",
    "KINDS",
    "ROUTE_KINDS",
    "ROUTE_TOL",
    "DEFAULT_TOL",
    "Claim",
    "ClaimResult",
    "ClaimRegistry",
    "Comparison",
    "Evidence",
    "CLAIMS",
    "claim",
    "collect_claims",
    "load_claim_files",
    "run_claims",
    "select",
    "verdict_from",
    "route_kind",
    "route_kind_violations",
    "reference_routes",
    "reference_jacobian",
    "reference_vjp",
    "fd_gradient",
    "fd_jacobian",
    "torch_jacobian",
    "torch_gradient",
]

VERDICTS = ("holds", "holds-corrected", "completes", "fails")

#: The taxonomy of a claim that does not simply hold (issue #11 item 4).
#: ``erratum``: the mathematics is wrong; ``slip``: a symbol or index typo whose intent is
#: unambiguous in context; ``gap``: left out; ``extraction``: the text is probably damaged by
#: the text extraction, judged on its most plausible reading (the literal one goes in ``reading``).
KINDS = ("erratum", "slip", "gap", "extraction")

#: What a side of a comparison can be.
ROUTE_KINDS = ("package", "formula", "sympy", "fd", "torch", "jax", "exact")

#: Route name (before any ``:``) -> kind of its reference side, when a call gives no ``kinds``.
#: Unknown names count as ``formula``.
_NAME_KINDS = {
    "explicit": "package",
    "vjp": "package",
    "im2col": "package",
    "rot180": "package",
    "kron": "package",
    "convention": "package",
    "package": "package",
    "fd": "fd",
    "descent": "fd",
    "torch": "torch",
    "jax": "jax",
    "symbolic": "sympy",
    "sympy": "sympy",
    "shape": "exact",
    "index": "exact",
    "structure": "exact",
    "exact": "exact",
    "formula": "formula",
    "numpy": "formula",
    "trace": "formula",
    "loops": "formula",
}

#: Tolerance (on the scaled error) per route; routes not listed use :data:`DEFAULT_TOL`.
#: Exact routes compare integers, 0/1 patterns or sympy expressions.
ROUTE_TOL = {
    "fd": 1e-6,  # central differences, h = 1e-6: truncation + rounding ≈ 1e-9 … 1e-7
    "shape": 0.0,
    "index": 0.0,
    "symbolic": 0.0,
    "structure": 0.0,
}
DEFAULT_TOL = 1e-9

#: Routes that take torch; skipped when torch is not importable (also any route with a torch side).
TORCH_ROUTES = ("torch",)

_OPTIONAL_OK: dict = {}


def _module_ok(name: str) -> bool:
    """True when the optional module ``name`` imports (checked once; its routes are skipped otherwise)."""
    if name not in _OPTIONAL_OK:
        try:
            __import__(name)
            _OPTIONAL_OK[name] = True
        except (ImportError, OSError):  # absent, or present but unloadable: skip its routes
            _OPTIONAL_OK[name] = False
    return _OPTIONAL_OK[name]


def _torch_ok() -> bool:
    return _module_ok("torch")


def tol_for(route: str) -> float:
    """Default tolerance of a route, by its name before any ``:``."""
    return ROUTE_TOL.get(route.split(":")[0], DEFAULT_TOL)


def route_kind(route: str) -> str:
    """The kind of a route's reference side, from its name (before any ``:``).

    Examples
    --------
    >>> route_kind("fd"), route_kind("explicit"), route_kind("vjp:rot180"), route_kind("symbolic")
    ('fd', 'package', 'package', 'sympy')
    """
    return _NAME_KINDS.get(route.split(":")[0], "formula")


# ---------------------------------------------------------------------------
# comparing things
# ---------------------------------------------------------------------------
def _is_sympy(obj) -> bool:
    return type(obj).__module__.startswith("sympy")


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


@dataclass
class Comparison:
    """One route of one form of a claim's check (several calls of the same route and kinds merge).

    Attributes
    ----------
    form : ``"written"`` or ``"corrected"``.
    route : the route's name.
    kinds : ``(kind of got, kind of want)``, each one of :data:`ROUTE_KINDS`.
    error : largest scaled error over the calls (``nan`` when skipped).
    tol : the tolerance applied.
    value : False for a comparison that checks no value (declared by the claim).
    skipped : why the route did not run (e.g. ``"torch is not installed"``), else None.
    """

    form: str
    route: str
    kinds: tuple
    error: float
    tol: float
    value: bool = True
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return self.skipped is None and self.error <= self.tol

    def as_dict(self) -> dict:
        err = self.error
        return {
            "form": self.form,
            "route": self.route,
            "kinds": list(self.kinds),
            "error": None if self.skipped else (err if math.isfinite(err) else "inf"),
            "value": self.value,
            "skipped": self.skipped,
        }


class Evidence:
    """Collects the per-route comparisons of one claim's check.

    ``written(route, got, want)`` records the statement as the source writes
    it; ``corrected(route, got, want)`` records the correction (or, for a
    gap, the completion); ``gap(reason)`` declares that nothing is stated to
    compare as written. Several calls with the same route (several
    geometries) keep the largest error. ``got`` / ``want`` may be callables,
    called only when the route runs (so a torch route costs nothing without
    torch).

    Parameters
    ----------
    perturb : bool
        Alter every corrected ``got`` first, so that a test can show the
        check would reject a wrong correction.

    Examples
    --------
    >>> ev = Evidence()
    >>> ev.written("fd", [1.0, 2.0], [1.0, 2.5])   # kinds default to ("formula", "fd")
    0.2
    >>> ev.written("explicit", [1.0, 2.0], [1.0, 2.0])   # ("formula", "package")
    0.0
    >>> ev.holds("written"), ev.comparisons[0].kinds, ev.comparisons[1].kinds
    (False, ('formula', 'fd'), ('formula', 'package'))
    """

    def __init__(self, perturb: bool = False):
        self.perturb = perturb
        self.errors = {"written": {}, "corrected": {}}
        self.failed = {"written": set(), "corrected": set()}
        self.comparisons: list[Comparison] = []
        #: (form, route) -> (got, want, error, diagnose_with) of the worst failing call, for the diagnosis
        self.failing_values: dict = {}
        self.gap_reason: str | None = None
        self.geometries = 0

    # -- recording -------------------------------------------------------
    def _kinds(self, route, kinds):
        if kinds is None:
            return ("formula", route_kind(route))
        if isinstance(kinds, str) or len(tuple(kinds)) != 2:
            raise ValueError(f"kinds: must be a pair (kind of got, kind of want) (got {kinds!r})")
        kinds = tuple(kinds)
        bad = [k for k in kinds if k not in ROUTE_KINDS]
        if bad:
            raise ValueError(f"kinds: {bad[0]!r} is not a route kind; choose from {', '.join(ROUTE_KINDS)}")
        return kinds

    def _merge(self, form, route, kinds, err, tol, value, skipped=None):
        for c in self.comparisons:
            if (c.form, c.route, c.kinds) == (form, route, kinds):
                if skipped is None:
                    c.error = err if c.skipped else max(c.error, err)
                    c.skipped = None
                    c.tol = min(c.tol, tol)
                    c.value = c.value and value
                return
        self.comparisons.append(Comparison(form, route, kinds, err, tol, value, skipped))

    def _record(self, form, route, got, want, tol, kinds=None, value=True, diagnose_with=None):
        if not isinstance(route, str) or not route:
            raise ValueError(f"route: must be a non-empty string (got {route!r})")
        kinds = self._kinds(route, kinds)
        tol = tol_for(route) if tol is None else float(tol)
        for optional in ("torch", "jax"):
            if (optional in kinds or (optional == "torch" and route.split(":")[0] in TORCH_ROUTES)) and not _module_ok(optional):
                self._merge(form, route, kinds, math.nan, tol, value, skipped=f"{optional} is not installed")
                return None
        if callable(got):
            got = got()
        if callable(want):
            want = want()
        if form == "corrected" and self.perturb:
            got = _perturbed(got)
        err = _error(got, want)
        store = self.errors[form]
        store[route] = max(store.get(route, 0.0), err)
        ok = err <= tol
        if not ok:
            self.failed[form].add(route)
            key = (form, route)
            if key not in self.failing_values or err > self.failing_values[key][2]:
                self.failing_values[key] = (got, want, err, diagnose_with)
        self._merge(form, route, kinds, err, tol, value)
        return err

    def written(self, route: str, got, want, tol: float | None = None, *, kinds=None, value: bool = True,
                diagnose_with: dict | None = None):
        """Compare the statement, as written, with an independent computation.

        Parameters
        ----------
        route : str
            The route's name (``"fd"``, ``"explicit"``, ``"torch"``, ``"symbolic"``, …).
        got, want : array-like, scipy.sparse, sympy object, bool, tuple, or a callable returning one
            The statement's value and the reference value.
        tol : float, optional
            Largest accepted scaled error (default: :func:`tol_for` ``(route)``).
        kinds : (str, str), optional
            Kinds of ``got`` and ``want`` (:data:`ROUTE_KINDS`); default ``("formula", route_kind(route))``.
        value : bool
            False when the comparison checks no value (e.g. only a shape); it then does not count
            for :func:`route_kind_violations`.
        diagnose_with : dict, optional
            When ``want`` is the true Jacobian (or gradient) of a registered operator: the keyword
            arguments of :func:`jacobians.compare.diagnose` (``operator``, ``wrt``, ``convention``,
            ``g``, the inputs and parameters), so that a failure is diagnosed with the operator's
            whole catalogue of mistakes instead of the layout-level ones only.

        Returns
        -------
        float or None
            The scaled error, or None when the route was skipped.
        """
        return self._record("written", route, got, want, tol, kinds, value, diagnose_with)

    def corrected(self, route: str, got, want, tol: float | None = None, *, kinds=None, value: bool = True):
        """Compare the correction (or completion) with an independent computation (see :meth:`written`)."""
        return self._record("corrected", route, got, want, tol, kinds, value)

    def both(self, route: str, written_got, corrected_got, want, tol: float | None = None, *, kinds=None, value=True,
             diagnose_with: dict | None = None):
        """Record the as-written and the corrected form against the same reference (see :meth:`written`)."""
        self.written(route, written_got, want, tol, kinds=kinds, value=value, diagnose_with=diagnose_with)
        self.corrected(route, corrected_got, want, tol, kinds=kinds, value=value)

    def gap(self, reason: str) -> None:
        """Declare that the source states nothing to compare as written (the verdict can be ``completes``)."""
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError("gap: give the reason as a non-empty string (what the source leaves out)")
        self.gap_reason = " ".join(reason.split())

    # -- reading ---------------------------------------------------------
    def holds(self, form: str):
        """True / False when ``form`` was compared (all its routes agree or not), None when it never ran."""
        if form == "written" and self.gap_reason is not None and self.errors["written"]:
            raise ValueError("gap: a claim declared as a gap must not also compare an as-written form")
        if not self.errors[form]:
            return None
        return not self.failed[form]

    def skipped(self) -> dict:
        """route -> why it did not run."""
        return {c.route: c.skipped for c in self.comparisons if c.skipped}


def verdict_from(as_written_holds, corrected_holds) -> str:
    """The one rule that turns the two booleans into a verdict (see the module docstring).

    Examples
    --------
    >>> verdict_from(True, None), verdict_from(False, True), verdict_from(None, True), verdict_from(False, False)
    ('holds', 'holds-corrected', 'completes', 'fails')
    """
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
    """One checkable statement.

    Attributes
    ----------
    id : str
        Stable id, ``"<source>.<slug>"`` by custom (``dd2424.softmax-ce-gradient``, ``hw1.eq3``).
    note : str
        The source's key (default: the id up to its first ``.``).
    location : str
        Section / equation / slide (and line numbers of the text).
    statement : str
        The claim in our own words.
    convention : str
        The convention it is stated in (a preset name or a description).
    routes : tuple of str
        The routes its check compares (torch routes are skipped without torch).
    expected : str
        The verdict expected (one of :data:`VERDICTS`).
    check : callable
        ``check(ev: Evidence) -> None``.
    correction : str, optional
        For ``holds-corrected``: the corrected statement; for ``completes``: the completion.
    kind : str, optional
        For a claim that does not simply hold: one of :data:`KINDS`.
    reading : str, optional
        For ``kind="extraction"``: the literal reading and why it is judged damaged.
    source : str, optional
        The file that defined the claim (user claims).
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
    kind: str | None = None
    reading: str | None = None
    source: str | None = None

    def __post_init__(self):
        if not isinstance(self.id, str) or not self.id or any(ch.isspace() for ch in self.id):
            raise ValueError(f"id: must be a non-empty string without spaces (got {self.id!r})")
        for name in ("location", "statement", "convention"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name}: must be a string (claim {self.id})")
        if not self.routes or not all(isinstance(r, str) and r for r in self.routes):
            raise ValueError(f"routes: must be a non-empty sequence of route names (claim {self.id})")
        if self.expected not in VERDICTS:
            raise ValueError(f"expected: must be one of {', '.join(VERDICTS)} (got {self.expected!r})")
        if not self.id.startswith(self.note + ".") and self.id != self.note:
            raise ValueError(f"id: must start with the note key {self.note!r}. (got {self.id!r})")
        if self.expected in ("holds-corrected", "completes") and not self.correction:
            raise ValueError(f"correction: claim {self.id} expects {self.expected} but states no correction")
        if self.kind is not None and self.kind not in KINDS:
            raise ValueError(f"kind: must be one of {', '.join(KINDS)} or None (got {self.kind!r})")
        if self.kind in ("erratum", "slip", "gap") and self.expected == "holds":
            raise ValueError(f"kind: claim {self.id} expects holds, so it is not an {self.kind}")
        if (self.kind == "extraction") != bool(self.reading):
            raise ValueError(
                f"reading: claim {self.id} must state the literal reading and its reason exactly when kind='extraction'"
            )
        if not callable(self.check):
            raise ValueError(f"check: must be callable (claim {self.id})")

    def run(self, perturb: bool = False) -> "ClaimResult":
        """Run the check and derive the verdict; a crashing check gives the verdict ``"error"``."""
        ev = Evidence(perturb=perturb)
        start = time.perf_counter()
        error = None
        w = c = None
        try:
            self.check(ev)
            w, c = ev.holds("written"), ev.holds("corrected")
        except Exception as exc:  # a crashing check is a result too: verdict "error"
            error = " ".join(f"{type(exc).__name__}: {exc}".split())
        elapsed = time.perf_counter() - start
        verdict = "error" if error else verdict_from(w, c)
        return ClaimResult(
            self,
            verdict,
            w,
            c,
            dict(ev.errors["written"]),
            dict(ev.errors["corrected"]),
            elapsed,
            error,
            comparisons=list(ev.comparisons),
            gap_reason=ev.gap_reason,
            failing_values=dict(ev.failing_values),
        )


@dataclass
class ClaimResult:
    """The outcome of :meth:`Claim.run`: the verdict, both forms' booleans and errors per route."""

    claim: Claim
    verdict: str
    as_written_holds: bool | None
    corrected_holds: bool | None
    written_errors: dict
    corrected_errors: dict
    seconds: float
    error: str | None = None
    comparisons: list = field(default_factory=list)
    gap_reason: str | None = None
    #: (form, route) -> (got, want, error, diagnose_with) of the worst failing call
    failing_values: dict = field(default_factory=dict, repr=False)
    #: filled by the diagnosis (jacobians.compare), when it runs
    diagnosis: list = field(default_factory=list)

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

    @property
    def skipped(self) -> dict:
        """route -> reason, for the routes that did not run (e.g. torch not installed)."""
        return {c.route: c.skipped for c in self.comparisons if c.skipped}

    def route_kinds(self) -> dict:
        """form -> route -> list of [kind of got, kind of want] pairs."""
        out: dict = {}
        for cmp in self.comparisons:
            pairs = out.setdefault(cmp.form, {}).setdefault(cmp.route, [])
            if list(cmp.kinds) not in pairs:
                pairs.append(list(cmp.kinds))
        return out

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
            "kind": c.kind,
            "reading": c.reading,
            "max_error": clean(self.max_error),
            "as_written_error": clean(self.written_errors),
            "correction": c.correction,
            "route_kinds": self.route_kinds(),
            "skipped": self.skipped,
            "diagnosis": list(self.diagnosis),
            "seconds": round(self.seconds, 4),
        }
        if self.gap_reason:
            out["gap"] = self.gap_reason
        if c.source:
            out["source"] = c.source
        if self.error:
            out["error"] = self.error
        return out


class ClaimRegistry(dict):
    """id -> :class:`Claim`, in registration order; a duplicate id raises, naming it."""

    def add(self, new: Claim) -> Claim:
        if new.id in self:
            where = f" (first in {self[new.id].source})" if self[new.id].source else ""
            raise ValueError(f"claim id {new.id!r} is defined twice{where}")
        self[new.id] = new
        return new


#: The bundled claims (the ledger's) and any claim registered outside :func:`collect_claims`.
CLAIMS: ClaimRegistry = ClaimRegistry()

# registrations go to the innermost collecting registry
_TARGETS: list = []
_SOURCE: list = []


@contextlib.contextmanager
def collect_claims(registry: ClaimRegistry | None = None):
    """Direct every :func:`claim` registration inside the block into a fresh (or the given) registry.

    Examples
    --------
    >>> with collect_claims() as mine:
    ...     @claim("demo.two", location="-", statement="1 + 1 = 2", convention="-",
    ...            routes=("exact", "formula"), expected="holds")
    ...     def _(ev):
    ...         ev.written("exact", 1 + 1, 2)
    ...         ev.written("formula", sum([1, 1]), 2)
    >>> list(mine), "demo.two" in CLAIMS
    (['demo.two'], False)
    """
    target = ClaimRegistry() if registry is None else registry
    _TARGETS.append(target)
    try:
        yield target
    finally:
        _TARGETS.remove(target)


def claim(id, *, note=None, location, statement, convention, routes, expected, correction=None, kind=None, reading=None):
    """Decorator registering ``check(ev)`` as the check of a new :class:`Claim`.

    Parameters
    ----------
    id : str
        ``"<source>.<slug>"``; the part before the first ``.`` is the source key unless ``note`` is given.
    location, statement, convention : str
        Where the claim is, what it says (our words), the convention it is stated in.
    routes : sequence of str
        The routes the check compares.
    expected : {"holds", "holds-corrected", "completes", "fails"}
        The verdict expected.
    correction : str, optional
        The correction (``holds-corrected``) or completion (``completes``).
    kind : {"erratum", "slip", "gap", "extraction"}, optional
        Taxonomy of a claim that does not simply hold.
    reading : str, optional
        With ``kind="extraction"``: the literal reading and the reason it is judged damaged.

    Returns
    -------
    callable
        The decorator; it returns ``check`` unchanged.
    """

    def deco(check):
        key = note if note is not None else (id.split(".")[0] if isinstance(id, str) else id)
        new = Claim(
            id=id,
            note=key,
            location=location,
            statement=" ".join(statement.split()) if isinstance(statement, str) else statement,
            convention=convention,
            routes=tuple(routes) if not isinstance(routes, str) else (routes,),
            expected=expected,
            check=check,
            correction=" ".join(correction.split()) if correction else None,
            kind=kind,
            reading=" ".join(reading.split()) if reading else None,
            source=_SOURCE[-1] if _SOURCE else None,
        )
        (_TARGETS[-1] if _TARGETS else CLAIMS).add(new)
        return check

    return deco


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def regular_file(path: str, what: str) -> os.stat_result:
    """``os.stat(path)`` of a regular file; a missing file, a directory or a FIFO is one ``ValueError`` line.

    Checked before any ``open``: opening a FIFO with no writer would block forever.
    """
    import stat

    try:
        st = os.stat(path)
    except OSError as exc:
        raise ValueError(f"{what}: cannot read {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{what}: {path} is not a regular file")
    return st


def load_claim_files(paths: Iterable[str]) -> ClaimRegistry:
    """Run the user's Python files and return the claims they define.

    The files are *executed* as Python (as pytest runs test files): only run
    files you trust. Each runs as its own module ``__main__``-less namespace
    with its directory first on ``sys.path`` (so it can import its
    neighbours); its claims go to a fresh registry, not to :data:`CLAIMS`.

    Raises
    ------
    ValueError
        One line naming the file, for a missing or non-regular file, a syntax
        error, a failing import or any exception raised while the file runs,
        a duplicate id, or a file that defines no claim.
    """
    import runpy
    import sys

    registry = ClaimRegistry()
    for path in paths:
        path = os.fspath(path)
        regular_file(path, "claims file")
        if not path.endswith(".py"):
            raise ValueError(f"{path}: a claims file must be a Python file ending in .py")
        before = len(registry)
        directory = os.path.dirname(os.path.abspath(path))
        sys.path.insert(0, directory)
        _SOURCE.append(path)
        try:
            with collect_claims(registry):
                runpy.run_path(path, run_name="__jacobians_claims__")
        except SyntaxError as exc:
            raise ValueError(f"{path}: syntax error at line {exc.lineno}: {_one_line(exc.msg)}") from None
        except ImportError as exc:
            raise ValueError(f"{path}: import failed: {type(exc).__name__}: {_one_line(exc)}") from None
        except ValueError as exc:
            raise ValueError(f"{path}: {_one_line(exc)}") from None
        except Exception as exc:  # the user's file raised: one line naming it and the line
            import traceback

            frames = [f for f in traceback.extract_tb(exc.__traceback__) if os.path.abspath(f.filename) == os.path.abspath(path)]
            at = f" at line {frames[-1].lineno}" if frames else ""
            raise ValueError(f"{path}: raised {type(exc).__name__}{at}: {_one_line(exc)}") from None
        finally:
            _SOURCE.pop()
            if sys.path and sys.path[0] == directory:
                del sys.path[0]
        if len(registry) == before:
            raise ValueError(f"{path}: defines no claim (decorate a check function with jacobians.claims.claim)")
    return registry


def select(claims: dict, note: str | None = None, claim_id: str | None = None, aliases: dict | None = None) -> list:
    """Claims of one source and/or one id; unknown names raise one line listing the choices.

    Parameters
    ----------
    claims : dict
        id -> Claim.
    note : str, optional
        A source key, or an alias of one (``aliases``: e.g. ``{"004": "dd2424"}``).
    claim_id : str, optional
        A full id; a unique id containing it, or ending with ``.`` + it, is suggested in the error.
    """
    notes = list(dict.fromkeys(c.note for c in claims.values()))
    if note is not None:
        note = (aliases or {}).get(note, note)
        if note not in notes:
            choices = ", ".join(notes + [a for a in (aliases or {})])
            raise ValueError(f"--note: unknown note {note!r}; choose one of {choices}")
    if claim_id is not None:
        if claim_id not in claims:
            near = [cid for cid in claims if cid.endswith("." + claim_id) or claim_id in cid]
            hint = ""
            if near:
                hint = f"; did you mean {' or '.join(repr(n) for n in near[:3])}{' …' if len(near) > 3 else ''}?"
            elif claim_id.split(".")[0] in notes:
                hint = f" (see `jacobians verify --note {claim_id.split('.')[0]} --format json` for the ids)"
            raise ValueError(f"--claim: unknown claim id {claim_id!r}{hint}")
        chosen = [claims[claim_id]]
        if note is not None and chosen[0].note != note:
            raise ValueError(f"--claim: {claim_id!r} belongs to note {chosen[0].note!r}, not {note!r}")
        return chosen
    return [c for c in claims.values() if note is None or c.note == note]


def run_claims(claims) -> list:
    """Run each claim; a list of :class:`ClaimResult` in the same order."""
    return [c.run() for c in claims]


# ---------------------------------------------------------------------------
# the route-kind rule (issue #11 item 1)
# ---------------------------------------------------------------------------
_OPTIONAL_KINDS = ("torch", "jax")


def route_kind_violations(results) -> list:
    """Claims not checked by two different kinds of evidence, with and without torch / jax.

    The rule: in the form that decides the expected verdict (the as-written
    form for ``holds``, the corrected form for ``holds-corrected`` and
    ``completes``, both for ``fails``), at least two *value-comparing*
    comparisons whose two sides are of different kinds, with different kind
    pairs; and still two when the torch and jax comparisons are left out
    (two sides of different kinds means at least one side is not ``package``).
    A comparison declared but skipped (torch missing) still counts for the
    "with torch" half, by its declared kinds.

    Parameters
    ----------
    results : iterable of ClaimResult or Claim
        Claims are run first.

    Returns
    -------
    list of (str, str)
        ``(claim id, reason)`` for each violator, in order.

    Examples
    --------
    >>> with collect_claims() as demo:
    ...     @claim("demo.weak", location="-", statement="-", convention="-", routes=("explicit",), expected="holds")
    ...     def _(ev):
    ...         ev.written("explicit", 1.0, 1.0, kinds=("package", "package"))
    >>> route_kind_violations(demo.values())
    [('demo.weak', 'only 0 comparison(s) of two different kinds (need 2): explicit (package/package)')]
    """
    out = []
    for r in results:
        if isinstance(r, Claim):
            r = r.run()
        forms = {"holds": ("written",), "holds-corrected": ("corrected",), "completes": ("corrected",)}.get(
            r.claim.expected, ("written", "corrected")
        )
        reasons = []
        for form in forms:
            cmps = [c for c in r.comparisons if c.form == form]
            if form == "corrected" and r.claim.expected == "fails" and not cmps:
                continue
            for label, drop in (("", ()), (" without torch/jax", _OPTIONAL_KINDS)):
                pairs = {
                    frozenset(c.kinds)
                    for c in cmps
                    if c.value and c.kinds[0] != c.kinds[1] and not any(k in drop for k in c.kinds)
                }
                if len(pairs) < 2:
                    listed = ", ".join(f"{c.route} ({c.kinds[0]}/{c.kinds[1]})" for c in cmps) or "none"
                    reasons.append(
                        f"{'' if form == forms[0] and len(forms) == 1 else form + ': '}only {len(pairs)} comparison(s) "
                        f"of two different kinds{label} (need 2): {listed}"
                    )
                    break
        if reasons:
            out.append((r.claim.id, "; ".join(reasons)))
    return out


# ---------------------------------------------------------------------------
# reference routes for any function: finite differences and torch
# ---------------------------------------------------------------------------
def fd_gradient(f, x, h: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of a scalar function ``f(x)``, shaped like ``x`` (route kind ``fd``).

    ``(f(x + h e_k) - f(x - h e_k)) / 2h`` for every entry k; truncation error ~ h^2 |f(3)| / 6 plus
    rounding ~ eps |f| / h (about 1e-9 relative for smooth f at h = 1e-6).

    Examples
    --------
    >>> fd_gradient(lambda v: float(v @ v), np.array([1.0, -2.0])).round(6)
    array([ 2., -4.])
    """
    x = np.array(x, dtype=np.float64, order="C")
    flat = x.reshape(-1)
    out = np.empty(flat.size)
    for k in range(flat.size):  # one coordinate at a time: claims use small sizes
        old = flat[k]
        flat[k] = old + h
        up = float(f(x))
        flat[k] = old - h
        down = float(f(x))
        flat[k] = old
        out[k] = (up - down) / (2 * h)
    return out.reshape(x.shape)


def fd_jacobian(f, x, h: float = 1e-6) -> np.ndarray:
    """Central-difference Jacobian of ``f(x)``: numerator layout, C-order vec of output and input (kind ``fd``).

    Examples
    --------
    >>> fd_jacobian(lambda v: np.array([v[0] * v[1], 3 * v[1]]), np.array([2.0, 5.0])).round(6)
    array([[5., 2.],
           [0., 3.]])
    """
    x = np.array(x, dtype=np.float64, order="C")
    flat = x.reshape(-1)
    cols = []
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + h
        up = np.asarray(f(x), dtype=np.float64).ravel()
        flat[k] = old - h
        down = np.asarray(f(x), dtype=np.float64).ravel()
        flat[k] = old
        cols.append((up - down) / (2 * h))
    if not cols:
        return np.zeros((np.asarray(f(x)).size, 0))
    return np.stack(cols, axis=1)


def torch_jacobian(fn, x) -> np.ndarray:
    """Numerator-layout Jacobian (C-order vecs) of a torch function of one float64 array (kind ``torch``).

    ``fn`` takes and returns torch tensors; torch is imported here only.
    """
    import torch

    xt = torch.as_tensor(np.asarray(x, dtype=np.float64))
    jac = torch.autograd.functional.jacobian(fn, xt)
    y_size = int(np.prod(jac.shape[: jac.ndim - xt.ndim])) if jac.ndim > xt.ndim else 1
    return jac.reshape(y_size, xt.numel()).numpy()


def torch_gradient(fn, x) -> np.ndarray:
    """Gradient of a scalar torch function of one float64 array, shaped like ``x`` (kind ``torch``)."""
    import torch

    xt = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    fn(xt).backward()
    return xt.grad.numpy()


# ---------------------------------------------------------------------------
# reference routes: the true Jacobian / VJP of a registered operator
# ---------------------------------------------------------------------------
#: Largest ``out.size * in.size`` a probing route (vjp on basis vectors, fd) builds densely.
PROBE_LIMIT = 4_000_000
FD_STEP = 1e-6


def _operator_call(operator: str, wrt: str, kwargs: dict, caller: str):
    """(spec, inputs-and-params, input names) after validating the names against the operator."""
    from .registry import get_operator

    if not isinstance(operator, str):
        raise ValueError(f"operator: must be a registered operator's name (got {type(operator).__name__}; in {caller})")
    spec = get_operator(operator)
    if not isinstance(wrt, str) or wrt not in spec.jacobian:  # an array as wrt: one line, not "unhashable type"
        raise ValueError(f"wrt: {operator} has Jacobians w.r.t. {', '.join(spec.jacobian)} (got {type(wrt).__name__ if not isinstance(wrt, str) else repr(wrt[:40])})")
    try:
        inspect.signature(spec.forward).bind(**kwargs)
    except TypeError as exc:
        raise ValueError(f"{caller}: {operator}({', '.join(inspect.signature(spec.forward).parameters)}): {exc}") from None
    if kwargs.get(wrt) is None:
        raise ValueError(f"{caller}: give the input {wrt!r} (the Jacobian is taken with respect to it)")
    input_names = set(spec.jacobian)
    for case in spec.cases():  # the registered cases name the operator's array inputs
        input_names |= set(case.inputs)
        break
    return spec, input_names


def reference_routes(operator: str, wrt: str) -> tuple:
    """The independent routes :func:`reference_jacobian` offers for ``operator`` w.r.t. ``wrt``.

    ``explicit`` (the sparse builder), ``vjp:<name>`` for each efficient VJP
    (applied to basis vectors), ``fd`` (central differences of the forward)
    and ``torch`` (``torch.func.jacrev`` of the torch forward) when torch is
    installed and the operator has a torch forward.

    Examples
    --------
    >>> reference_routes("conv2d", "x")[:3]
    ('explicit', 'vjp:im2col', 'vjp:rot180')
    """
    from .registry import get_operator

    spec = get_operator(operator)
    if not isinstance(wrt, str) or wrt not in spec.jacobian:
        raise ValueError(f"wrt: {operator} has Jacobians w.r.t. {', '.join(spec.jacobian)} (got {type(wrt).__name__ if not isinstance(wrt, str) else repr(wrt[:40])})")
    routes = ["explicit"] + [f"vjp:{name}" for name in spec.vjp[wrt]] + ["fd"]
    if spec.torch_forward is not None and _torch_ok():
        routes.append("torch")
    return tuple(routes)


def _check_route(operator: str, wrt: str, route: str) -> None:
    routes = reference_routes(operator, wrt)
    if route not in routes:
        extra = " (torch is not installed)" if route == "torch" and not _torch_ok() else ""
        raise ValueError(f"route: {operator} w.r.t. {wrt} offers {', '.join(routes)} (got {route!r}){extra}")


def _probe_size_check(out_size: int, in_size: int, route: str):
    if int(out_size) * int(in_size) > PROBE_LIMIT:
        raise ValueError(
            f"route: {route!r} builds a dense {out_size}×{in_size} matrix, more than {PROBE_LIMIT} entries; "
            "use route='explicit' for large sizes"
        )


def reference_jacobian(operator: str, wrt: str, route: str = "explicit", convention="canonical", **inputs_and_params):
    """The true Jacobian of a registered operator by one independent route, in a convention preset.

    Parameters
    ----------
    operator : str
        A name of :data:`jacobians.registry.OPERATORS` (``conv2d``, ``max_pool2d``, ``softmax``, …).
    wrt : str
        The input to differentiate with respect to (``"x"``, ``"weight"``, ``"bias"``, …).
    route : str
        One of :func:`reference_routes` ``(operator, wrt)``.
    convention : str or Convention
        The preset (:data:`jacobians.conventions.PRESETS`) the result is laid out in:
        ``P_out J P_inᵀ`` (transposed for a denominator-layout convention).
    **inputs_and_params
        The operator's arrays and hyper-parameters, by the forward's names (canonical shapes:
        images ``(C, H, W)``, weights ``(C_out, C_in, kh, kw)``).

    Returns
    -------
    scipy.sparse.csr_array (route ``explicit``) or numpy.ndarray (the other routes)
        Shape ``(y.size, inputs[wrt].size)`` in numerator layout, float64.

    Notes
    -----
    ``vjp:<name>`` rows are ``vjp(e_i)`` for every output basis vector ``e_i``; ``fd`` columns
    are ``(f(x + h e_k) − f(x − h e_k)) / 2h`` with ``h = 1e-6 · max(1, max|x|)`` (error ≈ 1e-9
    relative); both are limited to :data:`PROBE_LIMIT` dense entries.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(9.0).reshape(1, 3, 3); w = np.ones((1, 1, 2, 2))
    >>> J = reference_jacobian("conv2d", "weight", x=x, weight=w)          # M_X^im, 4 × 4
    >>> J.toarray()[0]
    array([0., 1., 3., 4.])
    >>> Jcol = reference_jacobian("conv2d", "weight", route="fd", convention="matlab", x=x, weight=w)
    >>> np.round(Jcol[0], 6)      # column-major vec: w11, w21, w12, w22
    array([0., 3., 1., 4.])
    """
    from .conventions import get_convention

    spec, input_names = _operator_call(operator, wrt, inputs_and_params, "reference_jacobian")
    conv = get_convention(convention)
    _check_route(operator, wrt, route)
    kw = dict(inputs_and_params)
    x = as_array(kw[wrt], wrt)
    if route == "explicit":
        J = spec.jacobian[wrt](**kw)
        y_shape = _out_shape(spec, kw)
    else:
        y = np.asarray(spec.forward(**kw))
        y_shape = y.shape
        _probe_size_check(y.size, x.size, route)
        if route.startswith("vjp:"):
            vjp = spec.vjp[wrt][route[4:]]
            J = np.empty((y.size, x.size))
            basis = np.zeros(y.size)
            for i in range(y.size):  # one VJP per output entry: row i of J is J^T e_i
                basis[i] = 1.0
                J[i] = np.asarray(vjp(basis.reshape(y_shape), **kw), dtype=np.float64).ravel()
                basis[i] = 0.0
        elif route == "fd":
            h = FD_STEP * max(1.0, float(np.max(np.abs(x))) if x.size else 1.0)
            J = fd_jacobian(lambda v: spec.forward(**{**kw, wrt: v}), x, h)
        else:  # torch
            from .check import _torch_jacobian

            inputs = {k: v for k, v in kw.items() if k in input_names}
            params = {k: v for k, v in kw.items() if k not in input_names}
            J = _torch_jacobian(spec, inputs, params, wrt)
    return conv.jacobian(J, y_shape, x.shape)


def _out_shape(spec, kw) -> tuple:
    return tuple(np.shape(spec.forward(**kw)))


def reference_vjp(operator: str, g, wrt: str, route: str = "explicit", **inputs_and_params) -> np.ndarray:
    """The true gradient ``Jᵀ g`` of a registered operator w.r.t. ``wrt`` by one independent route.

    Parameters
    ----------
    operator, wrt, **inputs_and_params
        As for :func:`reference_jacobian`.
    g : array_like
        The upstream gradient, shaped like the operator's output (canonical shapes).
    route : str
        ``explicit`` (``J.T @ g`` with the sparse builder), ``vjp:<name>`` (the efficient VJP,
        never building J), ``fd`` or ``torch`` (that route's Jacobian of :func:`reference_jacobian`,
        transposed and applied to ``g``; small sizes only).

    Returns
    -------
    numpy.ndarray
        Shaped like ``inputs[wrt]``, float64.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([-1.0, 2.0]); g = np.array([5.0, 7.0])
    >>> reference_vjp("relu", g, "z", z=x), reference_vjp("relu", g, "z", route="fd", z=x).round(6)
    (array([0., 7.]), array([0., 7.]))
    """
    spec, _ = _operator_call(operator, wrt, inputs_and_params, "reference_vjp")
    _check_route(operator, wrt, route)
    kw = dict(inputs_and_params)
    x = np.asarray(kw[wrt])
    y = np.asarray(spec.forward(**kw))
    g = np.asarray(g, dtype=np.float64)
    if g.size != y.size:
        raise ValueError(f"g: must have the output's {y.size} entries (shape {y.shape}); got shape {g.shape}")
    g = g.reshape(y.shape)
    if route == "explicit":
        return np.asarray(spec.jacobian[wrt](**kw).T @ g.ravel(), dtype=np.float64).reshape(x.shape)
    if route.startswith("vjp:"):
        return np.asarray(spec.vjp[wrt][route[4:]](g, **kw), dtype=np.float64).reshape(x.shape)
    # fd and torch: the route's whole Jacobian (small sizes only) applied to g
    J = reference_jacobian(operator, wrt, route=route, **kw)
    return (J.T @ g.ravel()).reshape(x.shape)
