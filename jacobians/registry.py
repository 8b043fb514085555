"""The operator registry: one name -> all faces of one operator.

Each operator module in :mod:`jacobians.ops` ends with a ``register(...)``
call. Everything downstream — the generic check, the CLI's choices, the
notebooks' loops, the hypothesis sweeps — reads :data:`OPERATORS`.

Fixed signatures (``inputs`` are the operator's arrays by name, e.g.
``x=..., weight=..., bias=...``; ``params`` its hyper-parameters)::

    forward(**inputs, **params)                 -> y
    jacobian[wrt](**inputs, **params)           -> scipy.sparse, shape (y.size, inputs[wrt].size)
    vjp[wrt][route](g, **inputs, **params)      -> array shaped like inputs[wrt]

    reference(**inputs, **params)               -> y   (independent forward)

``g`` is always the upstream gradient, shaped like ``y``. Every input is a
required parameter of the registered ``forward`` (callers inspect its
signature); where the public function also takes PyTorch's ``input=`` (so its
first parameter has a default), a thin wrapper with the inputs required is
registered instead. All faces work in
the canonical convention (see :mod:`jacobians.conventions`).

``reference`` is a second forward written independently of ``forward`` —
plain loops over output entries straight from the defining formula, or a
different algorithm — on the registered cases only (it may be slow). The
generic check compares ``forward`` with it (route ``reference``), so a bug
shared by the forward, the explicit Jacobian and the VJPs (all built from the
same index arithmetic) cannot pass unnoticed: the Jacobian is tied to the
forward by probing / finite differences, the forward to the reference.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

__all__ = ["Case", "OpSpec", "OPERATORS", "SYMBOLIC", "register", "register_symbolic", "get_operator"]


@dataclass(frozen=True)
class Case:
    """One concrete evaluation point of an operator: arrays, parameters and a readable id."""

    inputs: Mapping[str, Any]
    params: Mapping[str, Any]
    id: str
    #: Inputs w.r.t. which finite differences are meaningless here (e.g. integer labels).
    constant: tuple[str, ...] = ()


@dataclass(frozen=True)
class OpSpec:
    """All faces of one registered operator.

    Attributes
    ----------
    name : registry key.
    summary : one line for ``jacobians list``.
    forward : efficient forward.
    jacobian : ``{wrt: builder}`` of explicit sparse Jacobians.
    vjp : ``{wrt: {route: fn}}`` efficient VJPs that never build the explicit matrix.
    affine_in : inputs in which the forward is affine (checked as ``J u == f(u) - f(0)``).
    cases : callable returning an iterable of :class:`Case` for the generic check.
    torch_forward : optional callable (torch tensors by name, **params) -> torch tensor,
        for the torch.func.jacrev cross-check.
    structural : inputs whose Jacobian is an exact 0/1 (or otherwise exactly
        representable) structural operator, compared exactly.
    reference : optional independent forward (loops from the formula), compared
        with ``forward`` by the generic check.
    """

    name: str
    summary: str
    forward: Callable[..., Any]
    jacobian: Mapping[str, Callable[..., Any]]
    vjp: Mapping[str, Mapping[str, Callable[..., Any]]]
    cases: Callable[[], Iterable[Case]]
    affine_in: frozenset = frozenset()
    torch_forward: Callable[..., Any] | None = None
    structural: frozenset = frozenset()
    reference: Callable[..., Any] | None = None
    module: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def wrt(self) -> tuple[str, ...]:
        return tuple(self.jacobian)


OPERATORS: dict[str, OpSpec] = {}
#: Symbolic (sympy) faces, registered by :mod:`symbolic.ops` under the same names.
SYMBOLIC: dict[str, Callable[..., Any]] = {}


def register(
    name: str,
    *,
    summary: str,
    forward: Callable,
    jacobian: Mapping[str, Callable],
    vjp: Mapping[str, Mapping[str, Callable]],
    cases: Callable[[], Iterable[Case]],
    affine_in: Iterable[str] = (),
    torch_forward: Callable | None = None,
    structural: Iterable[str] = (),
    reference: Callable | None = None,
    registry: dict[str, OpSpec] | None = None,
    **extra,
) -> OpSpec:
    """Add an operator; a duplicate name or a missing face raises, naming it."""
    target = OPERATORS if registry is None else registry
    if name in target:
        raise ValueError(f"register: operator {name!r} is already registered (by {target[name].module})")
    if not jacobian:
        raise ValueError(f"register: operator {name!r} has no explicit Jacobian face")
    missing = [w for w in jacobian if not vjp.get(w)]
    if missing:
        raise NotImplementedError(f"register: VJP of {name!r} w.r.t. {', '.join(missing)} is not defined")
    unknown = [w for w in vjp if w not in jacobian]
    if unknown:
        raise ValueError(f"register: operator {name!r} has VJPs w.r.t. {unknown} but no Jacobian for them")
    spec = OpSpec(
        name=name,
        summary=summary,
        forward=forward,
        jacobian=dict(jacobian),
        vjp={w: dict(r) for w, r in vjp.items()},
        cases=cases,
        affine_in=frozenset(affine_in),
        torch_forward=torch_forward,
        structural=frozenset(structural),
        reference=reference,
        module=getattr(forward, "__module__", ""),
        extra=extra,
    )
    target[name] = spec
    return spec


def register_symbolic(name: str, fn: Callable, *, replace: bool = False) -> None:
    """Attach the symbolic face of an already registered operator."""
    load_all()
    if name not in OPERATORS:
        raise KeyError(f"register_symbolic: no operator named {name!r}; registered: {', '.join(sorted(OPERATORS))}")
    if name in SYMBOLIC and not replace:
        raise ValueError(f"register_symbolic: {name!r} already has a symbolic face")
    SYMBOLIC[name] = fn


_LOADED = False


def load_all() -> dict[str, OpSpec]:
    """Import every module of :mod:`jacobians.ops` so that all operators are registered."""
    global _LOADED
    if not _LOADED:
        import importlib
        import pkgutil

        from . import ops

        for info in pkgutil.iter_modules(ops.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{ops.__name__}.{info.name}")
        _LOADED = True
    return OPERATORS


def get_operator(name: str) -> OpSpec:
    """The registered operator ``name``; an unknown name lists the known ones."""
    load_all()
    if not isinstance(name, str):
        raise KeyError(f"operator: must be a name (str) (got {type(name).__name__}); registered: {', '.join(sorted(OPERATORS))}")
    try:
        return OPERATORS[name]
    except KeyError:
        raise KeyError(f"operator: unknown {name!r}; registered: {', '.join(sorted(OPERATORS))}") from None
