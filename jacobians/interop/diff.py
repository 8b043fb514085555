"""Diff a framework's own Jacobian of an operator against our explicit one, entry by entry.

The framework's Jacobian is taken from the operator's registered
``torch_forward`` (or, with ``framework="jax"``, JAX's own implementation in
:data:`jacobians.interop.jax.JAX_FORWARDS`) by column compression over *our* pattern
(:func:`jacobians.interop.framework.framework_jacobian`), so it costs one JVP
per color, not one per input. Three things are compared:

* every stored entry (same positions, so a plain subtraction of the data);
* everything the probes produced *outside* our pattern (an entry the framework
  has and we do not cannot hide there);
* a VJP with a random upstream gradient, through the framework's reverse mode, against ``Jᵀg``
  from our matrix — an independent route that sees every entry at once.

Differences are reported in the operator's terms: output index → input index.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

__all__ = ["DiffReport", "diff_operator", "torch_operators", "jax_operators"]

#: default relative tolerance (times max |J|) per value dtype
TOLERANCE = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-11}


@dataclass
class DiffReport:
    """Entry-by-entry comparison of the framework's Jacobian with ours."""

    operator: str
    wrt: str
    out_shape: tuple
    in_shape: tuple
    shape: tuple
    nnz: int
    n_colors: int
    max_error: float
    scale: float
    tolerance: float
    n_differing: int
    outside: float
    vjp_error: float
    vjp_tolerance: float
    positions: list = field(default_factory=list)  # [(out_index, in_index, ours, theirs)]
    seconds: dict = field(default_factory=dict)
    differing: sp.csr_array | None = None
    framework: str = "torch"
    vjp_note: str = ""  # why the framework's reverse mode could not run (then vjp_error is nan)

    @property
    def ok(self) -> bool:
        vjp_ok = self.vjp_error <= self.vjp_tolerance or (np.isnan(self.vjp_error) and bool(self.vjp_note))
        return bool(self.n_differing == 0 and self.outside <= self.tolerance and vjp_ok)

    def as_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("operator", "framework", "wrt", "out_shape", "in_shape", "shape", "nnz", "n_colors",
                                            "max_error", "scale", "tolerance", "n_differing", "outside", "vjp_error", "vjp_tolerance", "vjp_note")}
        d["ok"] = self.ok
        d["positions"] = [{"out": list(o), "in": list(i), "ours": a, "framework": b} for o, i, a, b in self.positions]
        d["seconds"] = self.seconds
        return d


def torch_operators() -> list[str]:
    """Registered operators with a torch counterpart (``torch_forward``)."""
    from ..registry import load_all

    return sorted(name for name, spec in load_all().items() if spec.torch_forward is not None)


def jax_operators() -> list[str]:
    """Registered operators with a JAX implementation for ``--framework jax``."""
    from ..registry import load_all
    from .jax import JAX_FORWARDS

    return sorted(n for n in JAX_FORWARDS if n in load_all())


def _jax_forward(name):
    from .jax import JAX_FORWARDS

    forward = JAX_FORWARDS.get(name)
    if forward is None:
        raise ValueError(f"operator: {name} has no JAX implementation here; --framework jax supports {', '.join(jax_operators())}")
    return forward


def _to_torch(v):
    import torch

    if v is None or isinstance(v, torch.Tensor):
        return v
    arr = np.asarray(v)
    if arr.dtype.kind in "fiub":
        return torch.from_numpy(np.ascontiguousarray(arr))
    return v


def diff_operator(spec, inputs: dict, params: dict, wrt: str, *, tol: float | None = None, coloring="grid",
                  max_positions: int = 10, seed: int = 0, ours=None, framework: str = "torch") -> DiffReport:
    """Compare ``spec.torch_forward``'s Jacobian w.r.t. ``wrt`` with ``spec.jacobian[wrt]`` at ``inputs``.

    Parameters
    ----------
    spec : a registered :class:`jacobians.registry.OpSpec` with ``torch_forward``.
    inputs, params : the operator's arrays by name and its hyper-parameters.
    wrt : the input differentiated.
    tol : absolute tolerance; default ``TOLERANCE[dtype] · max(1, max |J|)``.
    ours : our Jacobian if already built (else built here).
    framework : "torch" (the registered ``torch_forward``) or "jax" (JAX's own
        implementation from :data:`jacobians.interop.jax.JAX_FORWARDS`).

    Examples
    --------
    >>> import numpy as np, pytest
    >>> _ = pytest.importorskip("torch")
    >>> from jacobians.registry import get_operator
    >>> rng = np.random.default_rng(0)
    >>> inputs = {"x": rng.standard_normal((2, 8, 8)), "weight": rng.standard_normal((3, 2, 3, 3)), "bias": None}
    >>> r = diff_operator(get_operator("conv2d"), inputs, {"stride": 1, "padding": 1}, "x")
    >>> r.ok, r.n_colors, r.n_differing
    (True, 18, 0)
    """
    from .framework import framework_jacobian

    if framework not in ("torch", "jax"):
        raise ValueError(f"framework: must be 'torch' or 'jax' (got {framework!r})")
    forward = spec.torch_forward if framework == "torch" else _jax_forward(spec.name)
    if forward is None:
        raise ValueError(f"operator: {spec.name} has no torch counterpart; operators with one: {', '.join(torch_operators())}")
    if wrt not in spec.jacobian:
        raise ValueError(f"wrt: {spec.name} has Jacobians w.r.t. {', '.join(spec.jacobian)}; got {wrt!r}")
    t0 = time.perf_counter()
    J = sp.csr_array(spec.jacobian[wrt](**inputs, **params) if ours is None else ours)
    J.sort_indices()
    t1 = time.perf_counter()
    dtype = J.dtype if J.dtype in TOLERANCE else np.dtype(np.float64)
    if framework == "torch":
        from . import torch as backend

        tin = {k: _to_torch(v) for k, v in inputs.items()}
        tin = {k: (v.to(getattr(__import__("torch"), dtype.name)) if hasattr(v, "is_floating_point") and v.is_floating_point()
                   else v) for k, v in tin.items()}
    else:
        from . import jax as backend

        tin = {k: (backend.as_jax(np.asarray(v, dtype=dtype)) if v is not None and np.asarray(v).dtype.kind == "f" else v)
               for k, v in inputs.items()}
    x = tin[wrt]

    def fn(t):
        return forward(**dict(tin, **{wrt: t}), **params)

    # the VJP route below compares the framework's reverse mode with *our* matrix: no need for its own check
    info = framework_jacobian(fn, x, J, coloring=coloring, return_info=True, framework=framework, check_vjp=False)
    t2 = time.perf_counter()
    theirs = info.matrix
    diff = np.abs(theirs.data - J.data.astype(theirs.dtype, copy=False))  # one temporary in the values' dtype
    scale = max(1.0, float(np.abs(J.data).max()) if J.nnz else 0.0)
    tolerance = TOLERANCE.get(dtype, 1e-11) * scale if tol is None else float(tol)
    bad = np.flatnonzero(diff > tolerance)
    max_error = float(diff.max()) if diff.size else 0.0
    # the VJP route: the framework's reverse mode with a random g against Jᵀg from our matrix
    out_shape = tuple(int(s) for s in fn(x).shape)
    g = np.random.default_rng(seed).standard_normal(J.shape[0]).astype(dtype)
    vjp_note = ""
    try:
        gx = backend.vjp(fn, x, g)
        vjp_error = float(np.abs(gx.astype(np.float64) - (J.T @ g).astype(np.float64)).max()) if J.shape[1] else 0.0
    except NotImplementedError as exc:  # e.g. JAX has no VJP of a dilated max pool: that route is skipped, said so
        vjp_error, vjp_note = float("nan"), " ".join(str(exc).split())
    # Jᵀg sums up to (max column count) products of size ≤ scale · |g|: allow rounding of that many terms
    col_max = int(np.bincount(J.indices, minlength=J.shape[1]).max()) if J.nnz else 1
    vjp_tolerance = tolerance * np.sqrt(col_max) * max(1.0, float(np.abs(g).max()) if g.size else 1.0)
    t3 = time.perf_counter()
    in_shape = tuple(int(s) for s in x.shape)
    rows_of = np.searchsorted(J.indptr, bad, side="right") - 1  # rows of the differing entries only
    order = np.argsort(-diff[bad], kind="stable")[:max_positions]
    positions = [
        (tuple(int(v) for v in np.unravel_index(int(rows_of[j]), out_shape)),
         tuple(int(v) for v in np.unravel_index(int(J.indices[k]), in_shape)),
         float(J.data[k]), float(theirs.data[k]))
        for j, k in zip(order.tolist(), bad[order].tolist())
    ]
    differing = sp.csr_array((np.ones(bad.size), (rows_of, J.indices[bad])), shape=J.shape) if bad.size else None
    return DiffReport(spec.name, wrt, out_shape, in_shape, tuple(J.shape), int(J.nnz), info.n_colors, max_error, scale,
                      tolerance, int(bad.size), info.outside, vjp_error, vjp_tolerance, positions,
                      {"ours": t1 - t0, "framework": t2 - t1, **{f"framework.{k}": v for k, v in info.seconds.items()},
                       "vjp": t3 - t2}, differing, framework, vjp_note)
