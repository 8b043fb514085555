"""The generic agreement check: every face of a registered operator against the others.

For one operator and one :class:`~jacobians.registry.Case`, and for every
input ``wrt`` that has an explicit Jacobian ``J``:

``shape``
    ``J.shape == (y.size, x.size)``.
``probe`` (inputs the forward is affine in)
    ``J`` column by column against the forward itself:
    ``J e_k == f(e_k) − f(0)``. Exact (``==``) for structural 0/1 operators
    that are linear in the input (f(0) = 0).
``binary`` (structural inputs)
    every stored value of ``J`` is exactly 1.
``fd``
    ``J u`` against the central finite difference ``(f(x + h u) − f(x − h u)) / 2h``
    for a random direction ``u``.
``vjp:<route>``
    each efficient VJP route against ``Jᵀ g`` for a random upstream ``g``.
``dot:<route>`` (affine inputs)
    the dot test ⟨f(u) − f(0), g⟩ = ⟨u, vjp(g)⟩, which ties each VJP route
    to the forward without the explicit matrix (PyLops' ``dottest``).
``reference`` (operators registered with an independent ``reference`` forward)
    ``forward`` against the reference (loops written from the formula) on the
    case's inputs; this is what ties the other routes, all of which start from
    the package's own index arithmetic, to an independent truth.
``torch`` (when PyTorch is installed and the operator has a torch forward)
    ``J`` against ``torch.func.jacrev`` of the torch forward.

Tolerances are relative to the size of what is summed:
``|a − b| ≤ RTOL · scale`` with ``scale = max(|J|ᵀ|g|)`` (or the analogous
sum of absolute terms) and ``RTOL = 1e-10`` for routes that differ only by
rounding, ``FD_RTOL = 1e-6`` (of ``max(1, |J u|)``) for finite differences
with ``h = 1e-6 · max(1, |x|)``.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .registry import Case, OpSpec, load_all

__all__ = ["RTOL", "FD_RTOL", "RouteResult", "CheckReport", "check_operator", "check_all", "torch_available"]

RTOL = 1e-10
FD_RTOL = 1e-6
FD_STEP = 1e-6


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


@dataclass
class RouteResult:
    wrt: str
    route: str
    error: float
    tol: float
    exact: bool = False

    @property
    def ok(self) -> bool:
        return self.error == 0.0 if self.exact else bool(self.error <= self.tol)

    def __str__(self):
        kind = "exact" if self.exact else f"tol {self.tol:.1e}"
        return f"{self.wrt}/{self.route}: error {self.error:.3e} ({kind}) {'ok' if self.ok else 'FAIL'}"


@dataclass
class CheckReport:
    operator: str
    case: str
    results: list[RouteResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failures(self) -> list[RouteResult]:
        return [r for r in self.results if not r.ok]

    def max_errors(self) -> dict[str, float]:
        """Largest error per route name (``vjp:rot180``, ``fd`` …) over all inputs."""
        out: dict[str, float] = {}
        for r in self.results:
            out[r.route] = max(out.get(r.route, 0.0), r.error)
        return out

    def assert_ok(self):
        if not self.ok:
            lines = "\n  ".join(str(r) for r in self.failures)
            raise AssertionError(f"{self.operator}[{self.case}] disagrees:\n  {lines}")

    def __str__(self):
        return f"{self.operator}[{self.case}]: " + "; ".join(str(r) for r in self.results)


def _dense(mat) -> np.ndarray:
    return mat.toarray() if sp.issparse(mat) else np.asarray(mat, dtype=np.float64)


def _max_abs(a) -> float:
    a = np.asarray(a, dtype=np.float64)
    return float(np.max(np.abs(a))) if a.size else 0.0


def _with(inputs, name, value):
    new = dict(inputs)
    new[name] = value
    return new


def check_operator(spec: OpSpec, case: Case, *, rng=None, use_torch: bool | None = None, probe_limit: int = 4096) -> CheckReport:
    """Run every route of ``spec`` on ``case``; see the module docstring for the routes."""
    rng = np.random.default_rng(0) if rng is None else rng
    if use_torch is None:
        use_torch = torch_available()
    params = dict(case.params)
    inputs = {k: (np.asarray(v) if v is not None else None) for k, v in case.inputs.items()}
    y = np.asarray(spec.forward(**inputs, **params), dtype=np.float64)
    g = rng.standard_normal(y.shape)
    report = CheckReport(spec.name, case.id)
    if spec.reference is not None:
        ref = np.asarray(spec.reference(**inputs, **params), dtype=np.float64)
        if ref.shape != y.shape:
            report.results.append(RouteResult("-", "reference:shape", 1.0, 0.0, exact=True))
        else:
            report.results.append(
                RouteResult("-", "reference", _max_abs(y - ref), 1e3 * RTOL * max(1.0, _max_abs(ref)))
            )
    for wrt, build in spec.jacobian.items():
        if wrt in case.constant or inputs.get(wrt) is None:
            continue
        x = np.asarray(inputs[wrt], dtype=np.float64)
        J = build(**inputs, **params)
        structural = wrt in spec.structural
        shape_ok = J.shape == (y.size, x.size)
        report.results.append(RouteResult(wrt, "shape", 0.0 if shape_ok else 1.0, 0.0, exact=True))
        if not shape_ok:
            continue
        Jd = _dense(J)
        u = rng.standard_normal(x.shape)
        Ju = Jd @ u.ravel()
        absJ = np.abs(Jd)

        if wrt in spec.affine_in:
            f0 = np.asarray(spec.forward(**_with(inputs, wrt, np.zeros_like(x)), **params), dtype=np.float64).ravel()
            if x.size <= probe_limit:
                # f(e_k) − f(0) for every basis vector, as one batch of forward calls
                probed = np.empty((y.size, x.size))
                basis = np.zeros(x.size)
                for k in range(x.size):  # one forward per column: small cases only
                    basis[k] = 1.0
                    probed[:, k] = np.asarray(
                        spec.forward(**_with(inputs, wrt, basis.reshape(x.shape)), **params), dtype=np.float64
                    ).ravel() - f0
                    basis[k] = 0.0
                err = _max_abs(probed - Jd)
                scale = max(1.0, _max_abs(Jd)) * max(1.0, _max_abs(f0))
                # Exact only where the forward is linear in ``wrt`` (f(0) = 0): then
                # f(e_k) copies values and no rounding enters; an affine offset
                # (e.g. w ⋆ x when probing the bias) rounds on subtraction.
                report.results.append(
                    RouteResult(wrt, "probe", err, RTOL * scale, exact=structural and not np.any(f0))
                )
        if structural:
            # a structural operator stores only exact ones (0/1 selections, permutations, masks)
            data = J.data if sp.issparse(J) else Jd[Jd != 0]
            report.results.append(RouteResult(wrt, "binary", float(np.any(data != 1.0)), 0.0, exact=True))

        # central finite differences along u
        h = FD_STEP * max(1.0, _max_abs(x))
        fp = np.asarray(spec.forward(**_with(inputs, wrt, x + h * u), **params), dtype=np.float64).ravel()
        fm = np.asarray(spec.forward(**_with(inputs, wrt, x - h * u), **params), dtype=np.float64).ravel()
        fd = (fp - fm) / (2 * h)
        report.results.append(RouteResult(wrt, "fd", _max_abs(fd - Ju), FD_RTOL * max(1.0, _max_abs(Ju))))

        JTg = Jd.T @ g.ravel()
        scale_t = max(1e-300, _max_abs(absJ.T @ np.abs(g.ravel())))
        if wrt in spec.affine_in:
            # the dot test's left side, ⟨f(u) − f(0), g⟩, is the same for every VJP route
            fu = np.asarray(spec.forward(**_with(inputs, wrt, u), **params), dtype=np.float64).ravel() - f0
            lhs = float(fu @ g.ravel())
            dscale = float(np.abs(u.ravel()) @ (absJ.T @ np.abs(g.ravel()))) or 1.0
        for route, vjp in spec.vjp[wrt].items():
            v = np.asarray(vjp(g, **inputs, **params), dtype=np.float64)
            if v.shape != x.shape:
                report.results.append(RouteResult(wrt, f"vjp:{route}:shape", 1.0, 0.0, exact=True))
                continue
            report.results.append(RouteResult(wrt, f"vjp:{route}", _max_abs(v.ravel() - JTg), RTOL * scale_t))
            if wrt in spec.affine_in:
                rhs = float(u.ravel() @ v.ravel())
                report.results.append(RouteResult(wrt, f"dot:{route}", abs(lhs - rhs), RTOL * dscale))

        if use_torch and spec.torch_forward is not None:
            tj = _torch_jacobian(spec, inputs, params, wrt)
            report.results.append(RouteResult(wrt, "torch", _max_abs(tj - Jd), RTOL * max(1.0, _max_abs(Jd)) * 10))
    return report


def _torch_jacobian(spec: OpSpec, inputs, params, wrt) -> np.ndarray:
    import torch

    def to_t(v):
        if v is None:
            return None
        arr = np.asarray(v)
        return torch.from_numpy(arr.astype(np.float64) if arr.dtype.kind == "f" else arr.copy())

    tin = {k: to_t(v) for k, v in inputs.items()}

    def fn(t):
        return spec.torch_forward(**_with(tin, wrt, t), **params)

    jac = torch.func.jacrev(fn)(tin[wrt])
    x_size = int(np.asarray(inputs[wrt]).size)
    return jac.detach().numpy().reshape(-1, x_size)


def check_all(names=None, *, use_torch: bool | None = None):
    """Yield a CheckReport for every case of every (or the named) registered operator."""
    ops = load_all()
    for name in names or sorted(ops):
        spec = ops[name]
        for case in spec.cases():
            yield check_operator(spec, case, use_torch=use_torch)


def error_table(names=None, *, use_torch: bool | None = None) -> tuple[list[str], dict[str, dict[str, float]], int]:
    """Largest error per operator and route over all registered cases, and the failure count."""
    table: dict[str, dict[str, float]] = {}
    failures = 0
    for report in check_all(names, use_torch=use_torch):
        row = table.setdefault(report.operator, {})
        for route, err in report.max_errors().items():
            row[route] = max(row.get(route, 0.0), err)
        failures += not report.ok
    routes = sorted({r for row in table.values() for r in row})
    return routes, table, failures


def main(argv=None) -> int:
    """``python -m jacobians.check [OPERATOR ...] [--summary]``: print the largest error per route."""
    import argparse
    import sys

    ops = load_all()
    parser = argparse.ArgumentParser(
        prog="python -m jacobians.check",
        description="Run every route of the generic check on every registered case; print the largest error per route.",
    )
    parser.add_argument("operators", nargs="*", metavar="OPERATOR", help="registered names (default: all)")
    parser.add_argument("--summary", action="store_true",
                        help="one line per route family (the part before ':'), over all operators, with the case count")
    args = parser.parse_args(argv)
    unknown = [n for n in args.operators if n not in ops]
    if unknown:
        print(f"OPERATOR: {unknown[0]!r} is not registered (see `jacobians list`)", file=sys.stderr)
        return 2
    names = args.operators or None
    if args.summary:
        families: dict[str, float] = {}
        cases = failures = 0
        for report in check_all(names):
            cases += 1
            failures += not report.ok
            for route, err in report.max_errors().items():
                fam = route.split(":")[0]
                families[fam] = max(families.get(fam, 0.0), err)
        n_ops = len(names or ops)
        print(f"{n_ops} operators, {cases} cases; largest error per route family:")
        for fam in sorted(families):
            print(f"  {fam:<12} {families[fam]:.1e}")
        print(f"{failures} failing case(s)")
        return int(failures > 0)
    routes, table, failures = error_table(names)
    width = max(len(n) for n in table)
    print(f"{'operator':<{width}}  " + "  ".join(f"{r:>12}" for r in routes))
    for name, row in table.items():
        cells = (f"{row[r]:12.1e}" if r in row else f"{'-':>12}" for r in routes)
        print(f"{name:<{width}}  " + "  ".join(cells))
    print(f"{failures} failing case(s)")
    return int(failures > 0)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
