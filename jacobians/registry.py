"""The operator registry: one name -> all faces of one operator.

Each operator module in :mod:`jacobians.ops` ends with a ``register(...)``
call. Everything downstream — the generic check, the CLI's choices, the
notebooks' loops, the hypothesis sweeps — reads :data:`OPERATORS`.

Metadata for ``jacobians show`` (the ``show=`` keyword of :func:`register`)
---------------------------------------------------------------------------
``jacobians show OPERATOR --input SHAPE [options]`` builds one Jacobian of any
registered operator. It never takes inputs or parameters from the registered
test cases: everything it uses comes from the command line, derived by the
operator's :class:`ShowSpec`, declared in the operator's own ``register(...)``
call (``register(..., show=ShowSpec(...))``; it is stored in
``OpSpec.extra["show"]``). A :class:`ShowSpec` says

* ``options`` — the options the operator takes besides ``--input``, by name
  and kind (``{"kernel": "ints", "stride": "ints", "shape": "shape"}``). The
  command line has dedicated flags for the usual names (``--weight --kernel
  --stride --padding --dilation --groups --shape --axes --dim --index
  --target --order``); any other declared name is given as ``--param
  NAME=VALUE``. Options an operator does not declare are refused in one line
  that lists the ones it takes. Kinds: ``shape`` (``2x3``, positive),
  ``ints`` (``2`` or ``2x1``: an int, or a tuple for several values),
  ``padding`` (``ints`` or ``T,B,L,R``), ``int``, ``signed_int``, ``axes``
  (``1,0``), ``float``, ``bool`` (``true``/``false``), or a tuple of allowed
  words (``("C", "F")``). Values are parsed from ASCII digits only, never
  evaluated, and each integer is at most ``2**31 − 1``.
* ``setup(input_shape, options) -> ShowSetup`` — the shape of every array
  input (``{name: shape}``; ``show`` fills them with symbols, random numbers,
  ones or a ``.npy`` file), constant arrays (``{name: ndarray}``, e.g. a
  one-hot label; a zero-argument callable returning the array when it is as
  large as an input, so that it is built only after the ``--max-memory``
  check) and the parameters passed to the faces. It works on shapes
  and Python ints only (no allocation) and raises ``ValueError`` whose message
  starts with the option at fault (``"--shape: ..."``).
* ``out_shape(shapes, params)`` (optional) — the output shape from the
  shapes alone; without it ``show`` runs the forward on zeros (after checking
  the inputs' size against ``--max-memory``).
* ``nnz(shapes, params, wrt, out_shape)`` (optional) — an upper bound on the
  Jacobian's nonzeros, computed with Python ints; without it the dense size
  rows × columns is used, so a large Jacobian of an operator without the bound
  is refused by ``--max-memory`` rather than risked.
* ``input_name`` (the input that ``--input`` shapes; default the first
  Jacobian input), ``input_help`` (``"CxHxW"``), ``symbols`` (symbol names
  of the inputs: ``{"x": "X", "weight": "F"}``), ``aliases`` (extra names
  accepted by ``--wrt``: ``{"weight": "f_f"}``), and ``display(shapes,
  params, wrt)`` (optional: ``{"blocks": (r, c), "stats": {...}}`` for the
  spy plot's block lines and ``jacobians.sparsity.stats``), and ``example``
  (a small command line, e.g. ``("--input", "1x4x4", "--kernel", "2")``,
  printed by ``--help-operator`` and run by the test suite for every input
  of every operator).
* ``symbolic_form(shapes, params, wrt, base)`` (optional) — a readable
  symbolic Jacobian for ``--values symbolic``, written with intermediate
  symbols (a normalization layer's x̂, σ and γ) instead of differentiating the
  symbolic face: ``(sympy matrix, [legend lines])``, or None to differentiate
  as usual. Symbols are numbered from ``base``.

An operator without ``show=`` metadata is shown only when it has a single
input (its shape from ``--input``, parameters at their defaults); otherwise
``show`` says in one line that the operator declares no ``show`` metadata.

The faces
---------
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

__all__ = ["Case", "OpSpec", "ShowSpec", "ShowSetup", "OPERATORS", "SYMBOLIC", "register", "register_symbolic", "get_operator"]


@dataclass(frozen=True)
class Case:
    """One concrete evaluation point of an operator: arrays, parameters and a readable id."""

    inputs: Mapping[str, Any]
    params: Mapping[str, Any]
    id: str
    #: Inputs w.r.t. which finite differences are meaningless here (e.g. integer labels).
    constant: tuple[str, ...] = ()


#: Option kinds a :class:`ShowSpec` may declare (or a tuple of allowed words).
SHOW_OPTION_KINDS = ("shape", "ints", "padding", "int", "signed_int", "axes", "float", "bool")


@dataclass(frozen=True)
class ShowSetup:
    """What :attr:`ShowSpec.setup` returns: input shapes, constant arrays and parameters."""

    shapes: Mapping[str, tuple]
    params: Mapping[str, Any] = field(default_factory=dict)
    constants: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ShowSpec:
    """How ``jacobians show`` builds an operator's inputs from the command line.

    See the module docstring for the contract.
    """

    setup: Callable[[tuple, Mapping[str, Any]], ShowSetup]
    options: Mapping[str, Any] = field(default_factory=dict)
    out_shape: Callable[..., tuple] | None = None
    nnz: Callable[..., int] | None = None
    input_name: str | None = None
    input_help: str = "SHAPE"
    symbols: Mapping[str, str] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)
    display: Callable[..., Mapping[str, Any]] | None = None
    example: tuple = ()
    symbolic_form: Callable[..., Any] | None = None

    def __post_init__(self):
        for name, kind in self.options.items():
            if not (kind in SHOW_OPTION_KINDS or (isinstance(kind, tuple) and kind and all(isinstance(k, str) for k in kind))):
                raise ValueError(f"ShowSpec: option {name!r} has unknown kind {kind!r}; use one of {SHOW_OPTION_KINDS} or a tuple of words")


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
    torch_forward : optional callable (torch tensors by name, ``**params``) -> torch tensor,
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
    """Add an operator; a duplicate name or a missing face raises, naming it.

    Extra keywords are kept in ``OpSpec.extra``; ``show=`` must be a
    :class:`ShowSpec` (see the module docstring).
    """
    target = OPERATORS if registry is None else registry
    if name in target:
        raise ValueError(f"register: operator {name!r} is already registered (by {target[name].module})")
    if not jacobian:
        raise ValueError(f"register: operator {name!r} has no explicit Jacobian face")
    missing = [w for w in jacobian if not vjp.get(w)]
    if missing:
        raise NotImplementedError(f"register: VJP of {name!r} w.r.t. {', '.join(missing)} is not defined")
    if "show" in extra and not isinstance(extra["show"], ShowSpec):
        raise TypeError(f"register: operator {name!r}: show= must be a ShowSpec (got {type(extra['show']).__name__})")
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
        raise KeyError(f"operator: must be a name (str) (got {type(name).__name__}); `jacobians list` shows the {len(OPERATORS)} registered")
    try:
        return OPERATORS[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, sorted(OPERATORS), n=3, cutoff=0.5)
        hint = f"closest: {', '.join(close)}; " if close else ""
        raise KeyError(f"operator: unknown {name[:40]!r}; {hint}`jacobians list` shows all {len(OPERATORS)}") from None
