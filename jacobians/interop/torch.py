"""PyTorch models as chains of explicit sparse Jacobians (``from_torch``), and JVP probes for compression.

:func:`from_torch` traces an ``nn.Module`` with ``torch.fx``, runs it once on
the example input to record every intermediate value, and maps each traced
operation through :data:`TORCH_OPS` — ONE table from a module class, a
function or a tensor-method name to a :class:`Rule`: the registered operator
(:data:`jacobians.registry.OPERATORS`) that computes it and how to read that
operator's keyword arguments from the module or the call. Extending the
mapping is one line in that table; entries whose operator is not registered
(yet) are skipped with a clear message naming the missing operator.

Links are named by their module path (``layer1.0.conv1``) or, for functions,
by the fx node name (``relu_1``). Where values meet again (a residual
``x + f(x)``, a ``torch.cat``), the branches between the nearest common
dominator and the join are summed with :func:`jacobians.chain.fan_out`, so a
ResNet block is ``Chain([stem, fan_out([Chain(branch), identity]), relu])``.

Conventions: PyTorch's memory order, vec = C-order flatten of the whole
(batched) tensor, numerator layout — the Jacobian is exactly
``torch.func.jacrev(model)(x)`` reshaped to (out.numel(), x.numel()).
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..chain import Chain, Link, fan_out
from ..ops._sparse import check_budget, exact_size
from ..registry import OPERATORS, load_all

__all__ = ["from_torch", "TorchJacobians", "Rule", "TORCH_OPS", "UnsupportedModelError", "jvp_probes", "vjp", "supported_names"]


class UnsupportedModelError(ValueError):
    """A traced operation has no rule (or its operator is not registered): one line naming it."""


# ---------------------------------------------------------------------------
# the mapping table
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """How one torch module / function / method maps to a registered operator.

    Attributes
    ----------
    operator : registry name; ``""`` for the structural rules handled here
        (identity, residual add / subtract, scalar multiply, cat).
    read : ``read(target, args, kwargs) -> dict`` of the operator's keyword
        arguments other than the data input (``target`` is the module for
        modules; ``args`` / ``kwargs`` are the call's arguments with traced
        values substituted, ``args[0]`` being the data). It raises
        :class:`UnsupportedModelError` for configurations the operator lacks.
    data : the operator's name for the input differentiated through (``x``, ``z``).
    params : torch parameter name -> (operator input name, transform), for
        Jacobians w.r.t. a layer's parameters; ``transform(J)`` maps the
        operator's parameter layout to torch's (None: the same).
    """

    operator: str
    read: Callable[..., dict] = lambda target, args, kwargs: {}
    data: str = "x"
    params: dict = field(default_factory=dict)


def _np(v):
    if isinstance(v, torch.Tensor):
        return v.detach().cpu().numpy()
    return v


def _refuse(cond: bool, what: str):
    if cond:
        raise UnsupportedModelError(what)


def _conv_read(m, args, kwargs):
    _refuse(getattr(m, "padding_mode", "zeros") != "zeros", f"padding_mode={m.padding_mode!r} (only 'zeros')")
    return dict(weight=_np(m.weight), bias=_np(m.bias), stride=tuple(m.stride), padding=m.padding if isinstance(m.padding, str) else tuple(m.padding),
                dilation=tuple(m.dilation), groups=m.groups)


def _conv_transpose_read(m, args, kwargs):
    p = _conv_read(m, args, kwargs)
    p["output_padding"] = tuple(m.output_padding)
    return p


def _maxpool_read(m, args, kwargs):
    _refuse(bool(getattr(m, "return_indices", False)), "return_indices=True")
    return dict(kernel_size=m.kernel_size, stride=m.stride, padding=m.padding, dilation=m.dilation, ceil_mode=bool(m.ceil_mode))


def _avgpool_read(m, args, kwargs):
    return dict(kernel_size=m.kernel_size, stride=m.stride, padding=m.padding, count_include_pad=bool(m.count_include_pad),
                ceil_mode=bool(m.ceil_mode), divisor_override=getattr(m, "divisor_override", None))


def _bn_read(m, args, kwargs):
    training = m.training or not m.track_running_stats
    return dict(running_mean=_np(m.running_mean), running_var=_np(m.running_var), weight=_np(m.weight),
                bias=_np(m.bias), training=training, eps=m.eps)


def _linear_weight_to_torch(J, weight_shape):
    """∂y/∂vec(Wᵀ) (the xW + b form's weight) -> ∂y/∂vec(W) (torch's (out, in) layout)."""
    out_f, in_f = weight_shape
    perm = np.arange(out_f * in_f).reshape(out_f, in_f).T.ravel()  # vec(Wᵀ)[k] = vec(W)[perm[k]]
    P = sp.csr_array((np.ones(perm.size), (np.arange(perm.size), perm)), shape=(perm.size, perm.size))
    return sp.csr_array(J @ P)


def _linear_read(m, args, kwargs):
    _refuse(np.ndim(args[0]) != 2, f"input of {np.ndim(args[0])} dimensions (Linear is mapped for (N, features))")
    return dict(weight=_np(m.weight).T, bias=_np(m.bias))


def _bind(names, defaults=None):
    """A reader for functions: positional args after the data take ``names``, keywords pass through."""

    def read(target, args, kwargs):
        out = dict(defaults or {})
        out.update(zip(names, args[1:]))
        out.update(kwargs)
        return {k: _np(v) for k, v in out.items()}

    return read


def _fn_pool_read(names):
    bind = _bind(names)

    def read(target, args, kwargs):
        p = bind(target, args, kwargs)
        _refuse(bool(p.pop("return_indices", False)), "return_indices=True")
        return p

    return read


def _softmax_read(m, args, kwargs):
    dim = m.dim if isinstance(m, nn.Module) else (args[1] if len(args) > 1 else kwargs.get("dim"))
    return dict(dim=dim)


_IDENTITY = Rule("")
_CONV_PARAMS = {"weight": ("weight", None), "bias": ("bias", None)}

#: module class / function / tensor-method name -> Rule.  One place to extend.
TORCH_OPS: dict[Any, Rule] = {
    # ---- modules
    nn.Conv1d: Rule("conv1d", _conv_read, params=_CONV_PARAMS),
    nn.Conv2d: Rule("conv2d", _conv_read, params=_CONV_PARAMS),
    nn.Conv3d: Rule("conv3d", _conv_read, params=_CONV_PARAMS),
    nn.ConvTranspose2d: Rule("conv_transpose2d", _conv_transpose_read, params=_CONV_PARAMS),
    nn.Linear: Rule("linear_xw_b", _linear_read, params={"weight": ("weight", _linear_weight_to_torch), "bias": ("bias", None)}),
    nn.ReLU: Rule("relu", data="z"),
    nn.Sigmoid: Rule("sigmoid", data="z"),
    nn.Tanh: Rule("tanh", data="z"),
    nn.LeakyReLU: Rule("leaky_relu", lambda m, a, k: dict(negative_slope=m.negative_slope), data="z"),
    nn.GELU: Rule("gelu", lambda m, a, k: dict(approximate=m.approximate), data="z"),
    nn.ELU: Rule("elu", lambda m, a, k: dict(alpha=m.alpha), data="z"),
    nn.Softplus: Rule("softplus", lambda m, a, k: dict(beta=m.beta, threshold=m.threshold), data="z"),
    nn.Softmax: Rule("softmax_dim", _softmax_read, data="s"),
    nn.LogSoftmax: Rule("log_softmax", _softmax_read, data="s"),
    nn.MaxPool1d: Rule("max_pool1d", _maxpool_read),
    nn.MaxPool2d: Rule("max_pool2d", _maxpool_read),
    nn.MaxPool3d: Rule("max_pool3d", _maxpool_read),
    nn.AvgPool1d: Rule("avg_pool1d", _avgpool_read),
    nn.AvgPool2d: Rule("avg_pool2d", _avgpool_read),
    nn.AvgPool3d: Rule("avg_pool3d", _avgpool_read),
    nn.AdaptiveAvgPool2d: Rule("adaptive_avg_pool2d", lambda m, a, k: dict(output_size=m.output_size)),
    nn.Upsample: Rule("interpolate", lambda m, a, k: dict(size=m.size, scale_factor=m.scale_factor, mode=m.mode,
                                                          align_corners=m.align_corners)),
    nn.BatchNorm1d: Rule("batch_norm", _bn_read, params=_CONV_PARAMS),
    nn.BatchNorm2d: Rule("batch_norm", _bn_read, params=_CONV_PARAMS),
    nn.BatchNorm3d: Rule("batch_norm", _bn_read, params=_CONV_PARAMS),
    nn.LayerNorm: Rule("layer_norm", lambda m, a, k: dict(normalized_shape=tuple(m.normalized_shape), weight=_np(m.weight),
                                                          bias=_np(m.bias), eps=m.eps), params=_CONV_PARAMS),
    nn.GroupNorm: Rule("group_norm", lambda m, a, k: dict(num_groups=m.num_groups, weight=_np(m.weight), bias=_np(m.bias),
                                                          eps=m.eps), params=_CONV_PARAMS),
    nn.Flatten: Rule("flatten", lambda m, a, k: dict(start_dim=m.start_dim, end_dim=m.end_dim)),
    nn.Dropout: _IDENTITY,  # eval mode only (checked in _rule_for)
    nn.Identity: _IDENTITY,
    # ---- functions
    F.conv2d: Rule("conv2d", _bind(("weight", "bias", "stride", "padding", "dilation", "groups"))),
    F.relu: Rule("relu", data="z"),
    torch.relu: Rule("relu", data="z"),
    torch.sigmoid: Rule("sigmoid", data="z"),
    F.sigmoid: Rule("sigmoid", data="z"),
    torch.tanh: Rule("tanh", data="z"),
    F.tanh: Rule("tanh", data="z"),
    F.max_pool2d: Rule("max_pool2d", _fn_pool_read(("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"))),
    F.avg_pool2d: Rule("avg_pool2d", _fn_pool_read(("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                                                    "divisor_override"))),
    torch.flatten: Rule("flatten", _bind(("start_dim", "end_dim"))),
    F.dropout: _IDENTITY,
    operator.add: _IDENTITY, torch.add: _IDENTITY, operator.iadd: _IDENTITY,
    operator.sub: _IDENTITY, torch.sub: _IDENTITY,
    operator.mul: _IDENTITY, torch.mul: _IDENTITY,
    torch.cat: _IDENTITY,
    # ---- tensor methods
    "relu": Rule("relu", data="z"),
    "sigmoid": Rule("sigmoid", data="z"),
    "tanh": Rule("tanh", data="z"),
    "flatten": Rule("flatten", _bind(("start_dim", "end_dim"))),
    "view": Rule("reshape"),  # shape read from the recorded output
    "reshape": Rule("reshape"),
    "contiguous": _IDENTITY,
    "add": _IDENTITY, "sub": _IDENTITY, "mul": _IDENTITY,
}

#: structural rules: how each argument that depends on the input enters (partial Jacobian kinds)
_ADD = {operator.add, torch.add, operator.iadd, "add"}
_SUB = {operator.sub, torch.sub, "sub"}
_MUL = {operator.mul, torch.mul, "mul"}
_CAT = {torch.cat}


def _key_name(key) -> str:
    if isinstance(key, str):
        return f"Tensor.{key}"
    if isinstance(key, type):
        return f"nn.{key.__name__}"
    mod = getattr(key, "__module__", "") or ""
    return f"{'F' if mod.endswith('functional') else mod.split('.')[0] or 'operator'}.{key.__name__}"


def supported_names(registered_only: bool = True) -> list[str]:
    """Readable names of the table's keys (by default only those whose operator is registered)."""
    load_all()
    return sorted({_key_name(k) for k, r in TORCH_OPS.items() if not registered_only or not r.operator or r.operator in OPERATORS})


# ---------------------------------------------------------------------------
# tracing
# ---------------------------------------------------------------------------
def _describe(node, modules) -> tuple[str, str, Any]:
    """(path, type name, table key) of an fx node."""
    if node.op == "call_module":
        mod = modules[node.target]
        return node.target, type(mod).__name__, type(mod)
    if node.op == "call_method":
        return node.name, f"Tensor.{node.target}", node.target
    fn = node.target
    return node.name, _key_name(fn), fn


def _unsupported(path, type_name, why):
    raise UnsupportedModelError(f"from_torch: {path} ({type_name}) {why}; supported: {', '.join(supported_names())}")


@dataclass
class _Op:
    """A traced node that depends on the input: its links into it, one per live argument."""

    name: str
    type_name: str
    inputs: list  # live argument nodes
    links: list  # Link per live argument (∂node/∂arg)
    rule: Rule | None = None
    module: Any = None
    kwargs: dict = field(default_factory=dict)
    data_value: Any = None


def _record(gm, example):
    """Run the graph module once, recording every node's value."""
    values = {}

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n):
            out = super().run_node(n)
            values[n] = out
            return out

    # a training-mode batch norm updates its running statistics: record without leaving a trace
    saved = {name: b.detach().clone() for name, b in gm.named_buffers()}
    try:
        with torch.no_grad():
            Recorder(gm).run(example)
    finally:
        with torch.no_grad():
            for name, b in gm.named_buffers():
                b.copy_(saved[name])
    return values


class TorchJacobians:
    """Explicit Jacobians of a traced PyTorch model at one input (see :func:`from_torch`).

    Attributes
    ----------
    links : list of :class:`jacobians.chain.Link`, one per traced operation and
        input-dependent argument, in data-flow order, named by module path.
    chain : the composed expression (a :class:`jacobians.chain.Chain` with
        fan-out sums where branches join) from the model input to its output.
    in_shape, out_shape : shapes of the example input and of the output.
    """

    def __init__(self, gm, values, ops, placeholder, output_node, modules):
        self._gm, self._values, self._ops = gm, values, ops
        self._placeholder, self._output = placeholder, output_node
        self._modules = modules
        self.in_shape = tuple(values[placeholder].shape)
        self.out_shape = tuple(values[output_node].shape)
        self.links = [link for op in ops.values() for link in op.links]
        self.chain = _expression(ops, placeholder, output_node)

    # -- the full Jacobian and the VJP
    def jacobian(self, max_bytes=None) -> sp.csr_array:
        """The chained Jacobian ∂vec(out)/∂vec(x) (sparse product), refused before any product that may exceed ``max_bytes``."""
        check_budget("chained Jacobian (upper bound)", _nnz_bound(self.chain), (self.chain.out_size, self.chain.in_size),
                     np.float64, max_bytes)
        J = self.chain.jacobian()
        return sp.csr_array(J)

    def vjp(self, g) -> np.ndarray:
        """vec(x)-shaped gradient Jᵀg through every link's own VJP in reverse order; no product is formed."""
        g = np.asarray(g, dtype=np.float64)
        if g.size != self.chain.out_size:
            raise ValueError(f"g: has {g.size} entries, the model output has {self.chain.out_size} (shape {self.out_shape})")
        return self.chain.vjp(g.ravel()).reshape(self.in_shape)

    # -- statistics
    def stats(self) -> list[dict]:
        """Per link: name, shape, nnz, density, CSR bytes, max entries per row / column."""
        from .. import sparsity as S

        rows = []
        for link in self.links:
            J = link.jacobian()
            rows.append({"name": link.name, "shape": J.shape, "nnz": int(J.nnz), "density": S.density(J),
                         "bytes": S.storage_bytes(J)["csr"], "max_row": int(S.row_counts(J).max(initial=0)),
                         "max_col": int(S.column_counts(J).max(initial=0))})
        return rows

    def format_stats(self) -> str:
        """:meth:`stats` as a text table."""
        rows = self.stats()
        width = max(len(r["name"]) for r in rows)
        lines = [f"{'link':<{width}}  {'shape':>15}  {'nnz':>10}  {'density':>8}  {'max/row':>7}  {'max/col':>7}"]
        for r in rows:
            shape = f"{r['shape'][0]}x{r['shape'][1]}"
            lines.append(f"{r['name']:<{width}}  {shape:>15}  {r['nnz']:>10}  {r['density']:>8.2e}  {r['max_row']:>7}  {r['max_col']:>7}")
        return "\n".join(lines)

    # -- parameters
    def parameter_jacobian(self, path: str, name: str = "weight") -> sp.csr_array:
        """∂vec(out)/∂vec(parameter ``name`` of module ``path``), in torch's parameter layout."""
        op = next((o for o in self._ops.values() if o.module is not None and o.name == path), None)
        if op is None:
            mods = [o.name for o in self._ops.values() if o.module is not None]
            raise KeyError(f"path: no traced module {path!r}; modules: {', '.join(mods)}")
        spec = OPERATORS.get(op.rule.operator) if op.rule else None
        if spec is None or name not in op.rule.params:
            raise KeyError(f"name: {path} ({op.type_name}) has Jacobians w.r.t. {', '.join(op.rule.params) if op.rule else 'nothing'}; got {name!r}")
        if getattr(op.module, name, None) is None:
            raise KeyError(f"name: {path} ({op.type_name}) has no parameter {name!r}")
        input_name, transform = op.rule.params[name]
        node = next(n for n, o in self._ops.items() if o is op)
        n_param = exact_size(getattr(op.module, name).shape)
        J_p = _call_face(spec.jacobian[input_name], op.rule.data, op.data_value, op.kwargs, per_sample="stack",
                         shape=(exact_size(self._values[node].shape), n_param))
        J_p = sp.csr_array(J_p)
        if transform is not None:
            J_p = transform(J_p, tuple(getattr(op.module, name).shape))
        if node is self._output:
            return J_p
        down = _expression(self._ops, node, self._output)
        return sp.csr_array(down.jacobian() @ J_p)

    def __repr__(self):
        return f"TorchJacobians({self.in_shape} -> {self.out_shape}, {len(self.links)} links)"


def _nnz_bound(expr) -> int:
    """An upper bound on the nnz of the chained product (row counts pushed through |J| patterns, capped by the width)."""

    def rows_bound(e, incoming):
        # incoming: per input row of e (its in_size), bound on nonzeros of the product so far in that row
        if isinstance(e, Chain):
            for link in e.links:
                incoming = rows_bound(link, incoming)
            return incoming
        if hasattr(e, "branches"):
            total = sum(rows_bound(b, incoming) for b in e.branches)
            return total
        J = e.jacobian()
        pattern = sp.csr_array((np.ones(J.nnz), J.indices, J.indptr), shape=J.shape)
        return pattern @ incoming

    ones = np.ones(expr.in_size)
    per_row = np.minimum(rows_bound(expr, ones), expr.in_size)
    return int(per_row.sum())


def _call_face(face, data_name, value, kwargs, *, per_sample: str | None, shape=None):
    """Call a registry face; when it refuses a batched input (or answers for one sample), build per-sample blocks.

    ``per_sample="diag"``: block-diagonal (w.r.t. the data), ``"stack"``: stacked rows (w.r.t. a shared parameter).
    """
    first = None
    try:
        J = face(**{data_name: value}, **kwargs)
        if shape is None or tuple(J.shape) == tuple(shape):
            return J
    except (ValueError, TypeError) as exc:
        first = exc
    if not per_sample or np.ndim(value) < 2:
        if first is not None:
            raise first
        raise ValueError(f"{data_name}: the operator's Jacobian has shape {J.shape}, expected {shape}")
    blocks = []
    for n in range(np.shape(value)[0]):
        try:
            blocks.append(face(**{data_name: value[n]}, **kwargs))
        except (ValueError, TypeError):
            if first is not None:
                raise first from None
            raise
    from ..ops._sparse import block_diag_csr, vstack_csr

    return (block_diag_csr if per_sample == "diag" else vstack_csr)(blocks, what="batched Jacobian")


def _call_vjp(face, g, data_name, value, kwargs, out_shape):
    g = np.asarray(g).reshape(out_shape)
    try:
        v = np.asarray(face(g, **{data_name: value}, **kwargs))
        if v.size == np.size(value):
            return v.ravel()
    except (ValueError, TypeError):
        if np.ndim(value) < 2:
            raise
    return np.concatenate([np.asarray(face(g[n], **{data_name: value[n]}, **kwargs)).ravel() for n in range(np.shape(value)[0])])


def _operator_link(name, spec, rule, value, kwargs, out_shape):
    size_in = exact_size(np.shape(value))
    size_out = exact_size(out_shape)
    face = spec.jacobian[rule.data]
    vjp_face = next(iter(spec.vjp[rule.data].values()))
    dtype = np.asarray(value).dtype

    def build():
        try:
            J = _call_face(face, rule.data, value, kwargs, per_sample="diag", shape=(size_out, size_in))
        except (ValueError, TypeError, NotImplementedError) as exc:  # name the layer, keep the operator's one line
            raise UnsupportedModelError(f"from_torch: {name} ({spec.name}): {' '.join(str(exc).split())}") from None
        # the dtype rule (float32 kept) for every link, so the chain never mixes precisions
        return J if J.dtype == dtype else sp.csr_array(J, dtype=dtype)

    return Link(name, build=build,
                vjp=lambda g: _call_vjp(vjp_face, g, rule.data, value, kwargs, out_shape),
                in_size=size_in, out_size=size_out)


def _scaled_identity(name, n, scale=1.0, dtype=np.float64):
    # the value's dtype: chain.RowSelection.apply cannot gather float32 rows with float64 scales
    return Link(name, sp.csr_array((np.full(n, scale, dtype=dtype), np.arange(n), np.arange(n + 1)), shape=(n, n)))


def _cat_link(name, out_shape, dim, pieces, k, dtype=np.float64):
    """∂cat/∂piece_k: the selection placing piece k's entries in the output."""
    pos = np.arange(exact_size(out_shape)).reshape(out_shape)
    start = sum(p[dim] for p in pieces[:k])
    idx = [slice(None)] * len(out_shape)
    idx[dim] = slice(start, start + pieces[k][dim])
    rows = pos[tuple(idx)].ravel()
    n_in = rows.size
    J = sp.csr_array((np.ones(n_in, dtype=dtype), (rows, np.arange(n_in))), shape=(pos.size, n_in))
    return Link(name, J)


def _live_nodes(graph, root):
    live = {root}
    for node in graph.nodes:
        if node is root:
            continue
        if any(a in live for a in node.all_input_nodes):
            live.add(node)
    return live


def _expression(ops, root, target):
    """The Jacobian expression ∂target/∂root over live ops: chains, with fan-out sums where branches join."""
    live = {root}
    order = []
    for node in ops:  # ops is in topological order
        if any(a in live for a in ops[node].inputs):
            live.add(node)
            order.append(node)
    if target not in live:
        raise ValueError(f"from_torch: {target.name} does not depend on {root.name}")
    # dominators (w.r.t. root) of each live node: itself plus the intersection over its live inputs
    dom = {root: (root,)}
    for node in order:
        ins = [a for a in ops[node].inputs if a in live]
        common = set(dom[ins[0]])
        for a in ins[1:]:
            common &= set(dom[a])
        chain_of = [d for d in dom[ins[0]] if d in common]  # ordered from root
        dom[node] = tuple(chain_of) + (node,)
    memo = {}

    def expr(node, base):
        """Links from base to node (None when node is base)."""
        if node is base:
            return None
        key = (node, base)
        if key in memo:
            return memo[key]
        op = ops[node]
        ins = [(a, link) for a, link in zip(op.inputs, op.links) if a in live]
        if len(ins) == 1:
            a, link = ins[0]
            before = expr(a, base)
            result = [link] if before is None else before + [link]
        else:
            idom = dom[node][-2]  # nearest common dominator of the join
            branches = []
            for a, link in ins:
                sub = expr(a, idom)
                branches.append(link if sub is None else Chain(sub + [link], name=f"{op.name}<-{a.name}"))
            joined = fan_out(op.name, branches)
            before = expr(idom, base)
            result = [joined] if before is None else before + [joined]
        memo[key] = result
        return result

    return Chain(expr(target, root), name="model")


def _rule_for(node, modules):
    path, type_name, key = _describe(node, modules)
    try:
        rule = TORCH_OPS.get(key)
    except TypeError:  # unhashable target
        rule = None
    if rule is None and isinstance(key, type):  # subclasses of a mapped module
        rule = next((r for k, r in TORCH_OPS.items() if isinstance(k, type) and issubclass(key, k)), None)
    if rule is None:
        _unsupported(path, type_name, "has no mapping to a registered operator")
    if rule.operator and rule.operator not in OPERATORS:
        _unsupported(path, type_name, f"maps to operator {rule.operator!r}, which is not registered in this installation")
    return path, type_name, key, rule


def from_torch(model, example_input) -> TorchJacobians:
    """Trace ``model`` with ``torch.fx`` into a chain of explicit sparse Jacobians evaluated at ``example_input``.

    Parameters
    ----------
    model : ``torch.nn.Module`` with one tensor input and one tensor output,
        whose operations are in :data:`TORCH_OPS` (``supported_names()``).
        Dropout must be in eval mode; batch norm follows the module's mode.
    example_input : the input tensor (batched, e.g. (N, C, H, W)).

    Returns
    -------
    TorchJacobians
        ``.links``, ``.chain``, ``.jacobian()``, ``.vjp(g)``, ``.stats()``,
        ``.parameter_jacobian(path, name)``.

    Examples
    --------
    >>> import numpy as np, pytest
    >>> torch = pytest.importorskip("torch")
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8, 3)).double()
    >>> x = torch.randn(1, 1, 4, 4, dtype=torch.float64)
    >>> tj = from_torch(net, x)
    >>> [link.name for link in tj.links]
    ['0', '1', '2', '3']
    >>> ref = torch.func.jacrev(net)(x).detach().reshape(3, 16).numpy()
    >>> bool(np.allclose(tj.jacobian().toarray(), ref))
    True
    """
    load_all()
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: must be a torch.nn.Module (got {type(model).__name__})")
    if not isinstance(example_input, torch.Tensor):
        raise TypeError(f"example_input: must be a torch.Tensor (got {type(example_input).__name__})")
    if not example_input.is_floating_point():
        raise TypeError(f"example_input: must be a floating tensor (got {example_input.dtype})")
    try:
        gm = torch.fx.symbolic_trace(model)
    except Exception as exc:  # torch.fx raises many kinds (TraceError, TypeError, ...)
        msg = " ".join(str(exc).split())[:300]
        raise UnsupportedModelError(f"from_torch: torch.fx cannot trace {type(model).__name__}: {msg}") from None
    modules = dict(gm.named_modules())
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise UnsupportedModelError(f"from_torch: the model takes {len(placeholders)} inputs; exactly one is supported")
    root = placeholders[0]
    output = next(n for n in gm.graph.nodes if n.op == "output")
    out_arg = output.args[0]
    if not isinstance(out_arg, torch.fx.Node):
        raise UnsupportedModelError("from_torch: the model returns a tuple or a structure; exactly one tensor output is supported")
    values = _record(gm, example_input)
    live = _live_nodes(gm.graph, root)
    ops: dict = {}
    for node in gm.graph.nodes:
        if node is root or node not in live or node.op == "output":
            continue
        value = values[node]
        if not isinstance(value, torch.Tensor) and not (isinstance(value, (tuple, list)) and
                                                        any(isinstance(v, torch.Tensor) for v in value)):
            continue  # x.size(0) and the like: not on the differentiable path
        ops[node] = _op_for(node, modules, values, live)
    if out_arg not in ops:
        raise UnsupportedModelError("from_torch: the model's output does not depend on its input through traced operations")
    return TorchJacobians(gm, values, ops, root, out_arg, modules)


def _op_for(node, modules, values, live) -> _Op:
    path, type_name, key, rule = _rule_for(node, modules)
    module = modules[node.target] if node.op == "call_module" else None
    if not isinstance(values[node], torch.Tensor):
        if rule.operator:  # let the rule name the option that makes a tuple (return_indices=True)
            try:
                rule.read(module, list(node.args), dict(node.kwargs))
            except UnsupportedModelError as exc:
                _unsupported(path, type_name, f"uses {exc}, which from_torch does not support")
        _refuse_with(path, type_name, True, "returns a tuple; one tensor per operation is supported")
    out_shape = tuple(values[node].shape)
    val = lambda a: torch.fx.node.map_arg(a, lambda n: values[n])  # noqa: E731
    args, kwargs = val(node.args), val(node.kwargs)
    flat_live = [a for a in node.all_input_nodes if a in live and isinstance(values.get(a), torch.Tensor)]
    if isinstance(module, nn.Dropout) or key is F.dropout:
        training = module.training if module is not None else kwargs.get("training", args[2] if len(args) > 2 else True)
        _refuse_with(path, type_name, bool(training) and (module.p if module is not None else 0.5) > 0, "is in training mode (call model.eval())")
    if not rule.operator:
        return _structural_op(node, path, type_name, key, args, kwargs, flat_live, values, out_shape, module)
    _refuse_with(path, type_name, len(flat_live) != 1 or not (node.args and node.args[0] is flat_live[0]),
                 "has an input-dependent argument other than its first")
    data = values[flat_live[0]]
    try:
        kw = rule.read(module, [_np(a) for a in args], {k: _np(v) for k, v in kwargs.items()})
    except UnsupportedModelError as exc:
        _unsupported(path, type_name, f"uses {exc}, which {rule.operator} does not support")
    if rule.operator == "reshape":
        kw = {"shape": out_shape}
    spec = OPERATORS[rule.operator]
    kw = _fit_signature(spec, kw, path, type_name)
    x = _np(data)
    link = _operator_link(path, spec, rule, x, kw, out_shape)
    return _Op(path, type_name, flat_live, [link], rule, module, kw, x)


#: option values that mean "off": an operator lacking the option computes the same thing
_NEUTRAL = (False, None, 0, (0,), (0, 0), (0, 0, 0))


def _fit_signature(spec, kw, path, type_name):
    """Drop options the operator's forward does not take when they are off; refuse them (one line) when they are on."""
    import inspect

    params = inspect.signature(spec.forward).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return kw
    out = {}
    for key, value in kw.items():
        if key in params:
            out[key] = value
        elif not any(value is n or (type(value) is type(n) and value == n) for n in _NEUTRAL):
            _unsupported(path, type_name, f"uses {key}={value!r}, which {spec.name} does not support")
    return out


def _refuse_with(path, type_name, cond, why):
    if cond:
        raise UnsupportedModelError(f"from_torch: {path} ({type_name}) {why}")


def _structural_op(node, path, type_name, key, args, kwargs, flat_live, values, out_shape, module) -> _Op:
    out_size = exact_size(out_shape)
    if key in _CAT:
        tensors = node.args[0]
        dim = kwargs.get("dim", args[1] if len(args) > 1 else 0)
        dim = dim % len(out_shape)
        pieces = [tuple(values[t].shape) if isinstance(t, torch.fx.Node) else tuple(t.shape) for t in tensors]
        links, inputs = [], []
        for k, t in enumerate(tensors):
            if isinstance(t, torch.fx.Node) and t in flat_live:
                inputs.append(t)
                links.append(_cat_link(f"{path}[{k}]", out_shape, dim, pieces, k, _np(values[t]).dtype))
        return _Op(path, type_name, inputs, links)
    links, inputs = [], []
    positional = [a for a in node.args]
    for a in flat_live:
        shape = tuple(values[a].shape)
        _refuse_with(path, type_name, shape != out_shape, f"broadcasts an input of shape {shape} to {out_shape}")
        scale = 1.0
        if key in _SUB and len(positional) > 1 and positional[1] is a:
            scale = -1.0
        if key in _ADD | _SUB:
            alpha = kwargs.get("alpha", 1)
            if len(positional) > 1 and positional[1] is a:
                scale *= float(alpha)
        if key in _MUL:
            other = [v for v in args if v is not values[a]]
            _refuse_with(path, type_name, len(flat_live) > 1 or len(other) != 1 or not isinstance(other[0], (int, float)),
                         "multiplies by something other than a Python number")
            scale = float(other[0])
        suffix = f"[{positional.index(a)}]" if len(flat_live) > 1 and a in positional else ""
        links.append(_scaled_identity(path + suffix, out_size, scale, _np(values[a]).dtype))
        inputs.append(a)
    return _Op(path, type_name, inputs, links)


# ---------------------------------------------------------------------------
# probes for framework_jacobian
# ---------------------------------------------------------------------------
def jvp_probes(fn, x, colors: np.ndarray, n_colors: int, n_rows: int, *, probe_bytes: int) -> np.ndarray:
    """(n_rows, n_colors) array: column k is the JVP of ``fn`` at ``x`` with tangent Σ_{color(c)=k} e_c.

    Runs ``torch.func.vmap`` over ``torch.func.jvp`` in chunks of probes whose
    tangents and outputs take about ``probe_bytes``.
    """
    itemsize = x.element_size()
    per_probe = (x.numel() + n_rows) * itemsize * 2
    chunk = int(max(1, min(n_colors, probe_bytes // max(per_probe, 1))))
    colors_t = torch.from_numpy(colors.reshape(x.shape))
    # probes are written as columns: decompression then gathers each row from one contiguous run
    out = np.empty((n_rows, n_colors), dtype=np.dtype(str(x.dtype).replace("torch.", "")))

    def one(t):
        return torch.func.jvp(fn, (x,), (t,))[1]

    batched = torch.func.vmap(one)
    with torch.no_grad():
        for k0 in range(0, n_colors, chunk):
            k1 = min(k0 + chunk, n_colors)
            ks = torch.arange(k0, k1).view(-1, *([1] * x.ndim))
            tangents = (colors_t.unsqueeze(0) == ks).to(x.dtype)
            y = batched(tangents)
            if y.numel() != (k1 - k0) * n_rows:
                raise ValueError(f"pattern: has {n_rows} rows but fn returns {y[0].numel()} entries")
            out[:, k0:k1] = y.reshape(k1 - k0, n_rows).numpy().T
    return out


def vjp(fn, x, g: np.ndarray) -> np.ndarray:
    """``Jᵀg`` through torch autograd (the reverse-mode route)."""
    xx = x.detach().clone().requires_grad_(True)
    y = fn(xx)
    y.backward(torch.from_numpy(np.ascontiguousarray(g)).reshape(y.shape))
    return xx.grad.numpy().ravel()
