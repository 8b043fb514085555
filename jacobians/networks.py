"""The notes' example networks, end to end, each in its own note's convention.

Every network exposes four independent ways to get the gradient of the loss
with respect to every parameter and input:

``explicit_gradients()``
    from :meth:`explicit_chains` — for each parameter a :class:`~jacobians.chain.Chain`
    of explicit sparse Jacobians, expressed in the note's convention (its vec
    order, via permutation matrices), multiplied in numerator layout; the
    gradient is the transposed row Jacobian, mapped back to the canonical
    array shape.
``backprop_gradients()``
    efficient backprop with the registered VJP routes (the notes' matrix
    formulas: eqs. 2.1–2.3 of note 000, §2–3 of note 002, the rot180 /
    im2col routes, switches for max pooling) — no explicit matrix.
``finite_difference_gradients()``
    central differences of :meth:`loss`, entry by entry.
``torch_gradients()``
    PyTorch autograd of an independent torch forward (when torch is installed).

Networks (the ``note`` attribute names the source):

* :class:`Wang2019FCNet` — L fully-connected ReLU layers Z = X Wᵀ, loss
  ½‖X⁽ᴸ⁺¹⁾ − Y‖²_F, and one SGD step (eq. 4.1). Convention: column-major vec.
* :class:`MintNet` — a strided convolution and linear layers z = x W + b on a
  batch (N, C, H, W), ReLU, loss ½‖z − Y‖². Canonical convention.
* :class:`DD2424OneConvNet` — S_i = X * F_i + b_i (3 filters), S = {S_i},
  H = max(0, S), s = W vec(H) + b, softmax, l = −log(yᵀp).
  :class:`DD2424TwoConvNet` — two such conv layers; the gradient to X⁽¹⁾ is
  the fan-out sum Σ_i ∂l/∂vec(S_i⁽²⁾) M_{F_2i}^filter. Row-major planes
  stacked (= canonical).
* :class:`Vardhan2022Net` — conv → sigmoid → pool → conv → sigmoid → pool →
  FC Z = Wᵀ B + b → softmax → cross-entropy, average or max pooling (note
  001's rules: padding zeros take part in the max, ties broken in the
  column-major window order). Column-major vec, channels stacked.

Use ``Network.sample(seed)`` for random values away from ReLU kinks and
pooling ties (finite differences need one-sided smoothness).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .chain import Chain, Link, fan_out
from .conventions import CANONICAL, get_convention, unvec
from .geometry import GeometryError
from .ops import activation as act
from .ops import conv2d as c2d
from .ops import linear as lin
from .ops import pooling as pool
from .ops import reshape as rs
from .ops import softmax as smx

__all__ = [
    "Network",
    "Wang2019FCNet",
    "MintNet",
    "DD2424OneConvNet",
    "DD2424TwoConvNet",
    "Vardhan2022Net",
    "NETWORKS",
    "compare_gradients",
]


def _one_hot(y, n, name="y"):
    y = np.asarray(y, dtype=np.float64)
    if y.shape != (n,) or not (np.isin(y, (0.0, 1.0)).all() and np.count_nonzero(y) == 1):
        raise ValueError(
            f"{name}: non-one-hot label where one-hot is required (shape ({n},), entries 0/1 with exactly one 1; "
            f"got shape {y.shape})"
        )
    return y


def _require_shape(arr, shape, name, rule):
    if tuple(np.shape(arr)) != tuple(shape):
        raise GeometryError(f"{name}: must have shape {tuple(shape)} = {rule} (got {tuple(np.shape(arr))})")


def compare_gradients(a: dict, b: dict) -> dict:
    """Largest |a − b| / max(1, max|b|) per name (the relative error used by the tests)."""
    out = {}
    for name, ref in b.items():
        ref = np.asarray(ref, dtype=np.float64)
        got = np.asarray(a[name], dtype=np.float64)
        if got.shape != ref.shape:
            out[name] = np.inf
            continue
        out[name] = float(np.max(np.abs(got - ref)) / max(1.0, float(np.max(np.abs(ref)))))
    return out


class Network:
    """Base class: values by name, a loss, and four gradient routes."""

    note = ""
    convention = CANONICAL
    #: names of the values that gradients are taken for (parameters and inputs)
    differentiable: tuple[str, ...] = ()

    def __init__(self, values: dict):
        self.values = {k: np.asarray(v, dtype=np.float64) for k, v in values.items()}
        self._validate()

    # -- to override -----------------------------------------------------------
    def _validate(self):  # pragma: no cover - overridden
        pass

    def forward(self, values=None) -> dict:
        """Every intermediate by the note's name, and ``"loss"``."""
        raise NotImplementedError

    def explicit_chains(self) -> dict:
        """``{name: Chain}`` from ``vec(name)`` (in the note's convention) to the scalar loss."""
        raise NotImplementedError

    def backprop_gradients(self) -> dict:
        raise NotImplementedError

    def _torch_loss(self, t: dict):
        raise NotImplementedError

    def kink_distance(self) -> float:
        """Distance of the pre-activations (and pooling windows) from a kink or tie; inf if smooth."""
        return np.inf

    # -- shared ------------------------------------------------------------------
    def _vals(self, values):
        return self.values if values is None else {**self.values, **values}

    def loss(self, values=None) -> float:
        return float(self.forward(values)["loss"])

    def _cj(self, jac, out_shape, in_shape):
        """A canonical Jacobian re-expressed in the note's convention (P_out J P_inᵀ)."""
        if self.convention.vec == "row" and self.convention.channels == "first":
            return sp.csr_array(jac)
        return sp.csr_array(self.convention.jacobian(jac, out_shape, in_shape))

    def _row(self, row, in_shape):
        """A loss row dl/dvec(x) (canonical) in the note's convention."""
        return self._cj(row, (1,), in_shape)

    def explicit_gradients(self) -> dict:
        out = {}
        for name, chain in self.explicit_chains().items():
            shape = self.values[name].shape
            out[name] = unvec(chain.gradient(), shape, self.convention)
        return out

    def finite_difference_gradients(self, names=None, step: float = 1e-6) -> dict:
        """Central differences ``(l(θ + h e_k) − l(θ − h e_k)) / 2h`` with ``h = step·max(1, |θ|)``."""
        out = {}
        for name in names or self.differentiable:
            theta = self.values[name]
            h = step * max(1.0, float(np.max(np.abs(theta))))
            grad = np.empty(theta.size)
            flat = theta.ravel()
            for k in range(theta.size):  # one pair of forwards per entry: small networks only
                plus, minus = flat.copy(), flat.copy()
                plus[k] += h
                minus[k] -= h
                grad[k] = (self.loss({name: plus.reshape(theta.shape)}) - self.loss({name: minus.reshape(theta.shape)})) / (2 * h)
            out[name] = grad.reshape(theta.shape)
        return out

    def torch_gradients(self) -> dict:
        import torch

        t = {k: torch.tensor(v, dtype=torch.float64, requires_grad=k in self.differentiable) for k, v in self.values.items()}
        loss = self._torch_loss(t)
        loss.backward()
        return {k: t[k].grad.numpy().copy() for k in self.differentiable}

    def route_errors(self, use_torch: bool | None = None, fd: bool = True) -> dict:
        """Largest relative error of each route against the chained explicit Jacobians.

        ``{"backprop": e, "fd": e, "torch": e}`` (torch only when installed or
        requested), each the max over names of |a − b| / max(1, max|b|).
        """
        explicit = self.explicit_gradients()
        out = {"backprop": max(compare_gradients(self.backprop_gradients(), explicit).values())}
        if fd:
            out["fd"] = max(compare_gradients(self.finite_difference_gradients(), explicit).values())
        if use_torch is None:
            import importlib.util

            use_torch = importlib.util.find_spec("torch") is not None
        if use_torch:
            out["torch"] = max(compare_gradients(self.torch_gradients(), explicit).values())
        return out

    @classmethod
    def random(cls, rng, **sizes) -> "Network":  # pragma: no cover - overridden
        raise NotImplementedError

    @classmethod
    def sample(cls, seed: int = 0, margin: float = 1e-3, tries: int = 200, **sizes) -> "Network":
        """A random instance whose kinks and ties are at least ``margin`` away."""
        for k in range(tries):
            net = cls.random(np.random.default_rng([seed, k]), **sizes)
            if net.kink_distance() >= margin:
                return net
        raise ValueError(f"margin: no sample of {cls.__name__} in {tries} tries stays {margin} away from kinks/ties")


# ---------------------------------------------------------------------------
# (a) note 000: Wang 2019
# ---------------------------------------------------------------------------
class Wang2019FCNet(Network):
    """L fully-connected ReLU layers: Z⁽ˡ⁾ = X⁽ˡ⁾ W⁽ˡ⁾ᵀ, X⁽ˡ⁺¹⁾ = ReLU(Z⁽ˡ⁾), Q = ½‖X⁽ᴸ⁺¹⁾ − Y‖²_F.

    Values: ``X`` (b, d_0), ``W1`` … ``WL`` (d_l, d_{l−1}), ``Y`` (b, d_L).
    The explicit chains use note 000's column-major vec.
    """

    note = "wang2019"
    convention = get_convention("wang2019")

    def __init__(self, values: dict):
        self.n_layers = sum(1 for k in values if k.startswith("W"))
        self.differentiable = ("X",) + tuple(f"W{l}" for l in range(1, self.n_layers + 1))
        super().__init__(values)

    def _validate(self):
        if self.n_layers < 1 or any(f"W{l}" not in self.values for l in range(1, self.n_layers + 1)):
            raise ValueError("values: need weights W1 … WL (L ≥ 1) numbered without gaps")
        x = self.values["X"]
        if x.ndim != 2:
            raise GeometryError(f"X: must be a matrix (batch, d_in) (got shape {x.shape})")
        width = x.shape[1]
        for l in range(1, self.n_layers + 1):
            w = self.values[f"W{l}"]
            if w.ndim != 2 or w.shape[1] != width:
                raise GeometryError(f"W{l}: must have shape (d_{l}, {width}) to follow layer {l - 1} (got {w.shape})")
            width = w.shape[0]
        _require_shape(self.values["Y"], (x.shape[0], width), "Y", "(batch, d_L)")

    @classmethod
    def random(cls, rng, widths=(4, 5, 3), batch=3):
        values = {"X": rng.standard_normal((batch, widths[0]))}
        for l in range(1, len(widths)):
            values[f"W{l}"] = rng.standard_normal((widths[l], widths[l - 1]))
        values["Y"] = rng.standard_normal((batch, widths[-1]))
        return cls(values)

    def forward(self, values=None):
        v = self._vals(values)
        out = {"X1": v["X"]}
        for l in range(1, self.n_layers + 1):
            out[f"Z{l}"] = lin.linear_xwt(out[f"X{l}"], v[f"W{l}"])
            out[f"X{l + 1}"] = act.relu(out[f"Z{l}"])
        out["loss"] = smx.frobenius_loss(out[f"X{self.n_layers + 1}"], v["Y"])
        return out

    def kink_distance(self):
        f = self.forward()
        return min(float(np.min(np.abs(f[f"Z{l}"]))) for l in range(1, self.n_layers + 1))

    def explicit_chains(self):
        f, v, L = self.forward(), self.values, self.n_layers
        top = f[f"X{L + 1}"]
        # tail[l]: from vec(Z⁽ˡ⁾) to Q, shared by W⁽ˡ⁾ and X⁽ˡ⁾
        tail = Chain([Link(f"relu{L}", self._cj(act.relu_jacobian(f[f"Z{L}"]), top.shape, top.shape)),
                      Link("dQ/dX(L+1)", self._row(smx.frobenius_loss_jacobian(top, v["Y"]), top.shape))], name=f"tail{L}")
        chains = {}
        for l in range(L, 0, -1):
            x_l, w_l, z_l = f[f"X{l}"], v[f"W{l}"], f[f"Z{l}"]
            chains[f"W{l}"] = Chain([Link(f"dZ{l}/dW{l}", self._cj(lin.linear_xwt_weight_jacobian(x_l, w_l), z_l.shape, w_l.shape)), tail],
                                    name=f"W{l}")
            dz_dx = Link(f"dZ{l}/dX{l}", self._cj(lin.linear_xwt_input_jacobian(x_l, w_l), z_l.shape, x_l.shape))
            if l == 1:
                chains["X"] = Chain([dz_dx, tail], name="X")
            else:
                relu = Link(f"relu{l - 1}", self._cj(act.relu_jacobian(f[f"Z{l - 1}"]), x_l.shape, x_l.shape))
                tail = Chain([relu, dz_dx, tail], name=f"tail{l - 1}")
        return chains

    def backprop_gradients(self):
        f, v, L = self.forward(), self.values, self.n_layers
        grads = {}
        g = f[f"X{L + 1}"] - v["Y"]  # ∂Q/∂X⁽ᴸ⁺¹⁾
        for l in range(L, 0, -1):
            g = act.relu_vjp_hadamard(g, f[f"Z{l}"])  # eq. 2.1: A ∘ ∂Q/∂X'
            grads[f"W{l}"] = lin.linear_xwt_vjp_weight(g, f[f"X{l}"], v[f"W{l}"])  # eq. 2.3
            g = lin.linear_xwt_vjp_input(g, f[f"X{l}"], v[f"W{l}"])  # eq. 2.2
        grads["X"] = g
        return grads

    def sgd_step(self, lr: float, gradients: dict | None = None) -> "Wang2019FCNet":
        """Eq. 4.1: W⁽ˡ⁾ ← W⁽ˡ⁾ − α ∂Q/∂W⁽ˡ⁾ for every layer (inputs and labels unchanged)."""
        if not lr > 0:
            raise ValueError(f"lr: the step size α must be > 0 (got {lr})")
        grads = self.backprop_gradients() if gradients is None else gradients
        new = dict(self.values)
        for l in range(1, self.n_layers + 1):
            new[f"W{l}"] = self.values[f"W{l}"] - lr * grads[f"W{l}"]
        return type(self)(new)

    def _torch_loss(self, t):
        import torch

        x = t["X"]
        for l in range(1, self.n_layers + 1):
            x = torch.relu(x @ t[f"W{l}"].T)
        return 0.5 * ((x - t["Y"]) ** 2).sum()


# ---------------------------------------------------------------------------
# (b) note 002: Mint notes
# ---------------------------------------------------------------------------
class MintNet(Network):
    """Batched conv + linear net of the Mint notes.

    Z⁰ = X * K + b_K (stride S, no padding), X¹ = ReLU(Z⁰), flattened to
    (N, M⁰); z¹ = X¹ W¹ + b¹, X² = ReLU(z¹); z² = X² W² + b²;
    loss ½‖z² − Y‖²_F.
    Values: ``X`` (N, C, H, W), ``K`` (C¹, C, F, F), ``bK`` (C¹,), ``W1`` (M⁰, M¹),
    ``b1`` (M¹,), ``W2`` (M¹, M²), ``b2`` (M²,), ``Y`` (N, M²). Canonical convention.
    """

    note = "mint"
    convention = get_convention("mint")
    differentiable = ("X", "K", "bK", "W1", "b1", "W2", "b2")

    def __init__(self, values: dict, stride=2):
        self.stride = stride
        super().__init__(values)

    def _validate(self):
        x, k = self.values["X"], self.values["K"]
        if x.ndim != 4:
            raise GeometryError(f"X: must have shape (N, C, H, W) (got {x.shape})")
        y0 = c2d.conv2d(x, k, self.values["bK"], stride=self.stride)
        m0 = int(np.prod(y0.shape[1:]))
        _require_shape(self.values["W1"], (m0, self.values["W1"].shape[-1]), "W1", "(C¹·OH·OW, M¹)")
        for layer, width in (("1", m0), ("2", self.values["W1"].shape[1])):
            try:
                lin.linear_xw_b(np.zeros((1, width)), self.values["W" + layer], self.values["b" + layer])
            except GeometryError as err:
                raise GeometryError(f"W{layer}/b{layer}: {err}") from None
        _require_shape(self.values["Y"], (x.shape[0], self.values["W2"].shape[1]), "Y", "(N, M²)")

    @classmethod
    def random(cls, rng, n=2, c=2, hw=(7, 6), c1=3, f=3, m1=5, m2=3, stride=2):
        oh = (hw[0] - f) // stride + 1
        ow = (hw[1] - f) // stride + 1
        m0 = c1 * oh * ow
        return cls({
            "X": rng.standard_normal((n, c, *hw)), "K": rng.standard_normal((c1, c, f, f)), "bK": rng.standard_normal(c1),
            "W1": rng.standard_normal((m0, m1)) / np.sqrt(m0), "b1": rng.standard_normal(m1),
            "W2": rng.standard_normal((m1, m2)), "b2": rng.standard_normal(m2), "Y": rng.standard_normal((n, m2)),
        }, stride=stride)

    def forward(self, values=None):
        v = self._vals(values)
        out = {"Z0": c2d.conv2d(v["X"], v["K"], v["bK"], stride=self.stride)}
        out["X1"] = act.relu(out["Z0"])
        out["F1"] = rs.flatten(out["X1"], 1)
        out["z1"] = lin.linear_xw_b(out["F1"], v["W1"], v["b1"])
        out["X2"] = act.relu(out["z1"])
        out["z2"] = lin.linear_xw_b(out["X2"], v["W2"], v["b2"])
        out["loss"] = smx.frobenius_loss(out["z2"], v["Y"])
        return out

    def kink_distance(self):
        f = self.forward()
        return min(float(np.min(np.abs(f["Z0"]))), float(np.min(np.abs(f["z1"]))))

    def explicit_chains(self):
        f, v, s = self.forward(), self.values, self.stride
        x, k = v["X"], v["K"]
        n = x.shape[0]
        sample_out = f["Z0"].shape[1:]
        # batched conv: block diagonal in the input, stacked per sample in the weight and bias
        d_in = sp.block_diag([c2d.conv2d_input_jacobian(k, x.shape[1:], stride=s)] * n, format="csr")
        d_k = sp.vstack([c2d.conv2d_weight_jacobian(x[i], k.shape, stride=s) for i in range(n)], format="csr")
        d_bk = sp.vstack([c2d.conv2d_bias_jacobian(sample_out)] * n, format="csr")
        tail2 = Chain([Link("dz2/dX2", lin.linear_xw_b_input_jacobian(f["X2"], v["W2"], v["b2"])),
                       Link("dQ/dz2", smx.frobenius_loss_jacobian(f["z2"], v["Y"]))], name="tail2")
        tail1 = Chain([Link("relu1", act.relu_jacobian(f["z1"])), tail2], name="tail1")
        tail0 = Chain([Link("relu0", act.relu_jacobian(f["Z0"])),
                       Link("flatten", rs.flatten_jacobian(f["Z0"].shape, 1)),
                       Link("dz1/dF1", lin.linear_xw_b_input_jacobian(f["F1"], v["W1"], v["b1"])), tail1], name="tail0")
        return {
            "W2": Chain([Link("dz2/dW2", lin.linear_xw_b_weight_jacobian(f["X2"], v["W2"])),
                         Link("dQ/dz2", smx.frobenius_loss_jacobian(f["z2"], v["Y"]))], name="W2"),
            "b2": Chain([Link("dz2/db2", lin.linear_xw_b_bias_jacobian(f["X2"], v["W2"])),
                         Link("dQ/dz2", smx.frobenius_loss_jacobian(f["z2"], v["Y"]))], name="b2"),
            "W1": Chain([Link("dz1/dW1", lin.linear_xw_b_weight_jacobian(f["F1"], v["W1"])), tail1], name="W1"),
            "b1": Chain([Link("dz1/db1", lin.linear_xw_b_bias_jacobian(f["F1"], v["W1"])), tail1], name="b1"),
            "K": Chain([Link("dZ0/dK", d_k), tail0], name="K"),
            "bK": Chain([Link("dZ0/dbK", d_bk), tail0], name="bK"),
            "X": Chain([Link("dZ0/dX", d_in), tail0], name="X"),
        }

    def backprop_gradients(self):
        f, v, s = self.forward(), self.values, self.stride
        g = f["z2"] - v["Y"]
        grads = {"W2": lin.linear_xw_b_vjp_weight(g, f["X2"], v["W2"]), "b2": lin.linear_xw_b_vjp_bias(g, f["X2"], v["W2"])}
        g = act.relu_vjp_hadamard(lin.linear_xw_b_vjp_input(g, f["X2"], v["W2"]), f["z1"])
        grads["W1"] = lin.linear_xw_b_vjp_weight(g, f["F1"], v["W1"])  # ∂L/∂W = xᵀ ∂L/∂z
        grads["b1"] = lin.linear_xw_b_vjp_bias(g, f["F1"], v["W1"])
        g = lin.linear_xw_b_vjp_input(g, f["F1"], v["W1"]).reshape(f["Z0"].shape)
        g = act.relu_vjp_hadamard(g, f["Z0"])
        # §3.2.1: kernel gradient with S − 1 zeros inserted; the input gradient by the rot180 route
        grads["K"] = c2d.conv2d_vjp_weight_rot180(g, v["X"], v["K"], stride=s)
        grads["bK"] = c2d.conv2d_vjp_bias(g, v["X"], v["K"])
        grads["X"] = c2d.conv2d_vjp_input_rot180(g, v["X"], v["K"], stride=s)
        return grads

    def _torch_loss(self, t):
        import torch

        z0 = torch.nn.functional.conv2d(t["X"], t["K"], t["bK"], stride=self.stride)
        x1 = torch.relu(z0).flatten(1)
        x2 = torch.relu(x1 @ t["W1"] + t["b1"])
        z2 = x2 @ t["W2"] + t["b2"]
        return 0.5 * ((z2 - t["Y"]) ** 2).sum()


# ---------------------------------------------------------------------------
# (c) note 004: DD2424 lecture 6
# ---------------------------------------------------------------------------
def _softmax_ce_links(s, y):
    """dp/ds and dl/dp as links: note 004's ∂l/∂s = −yᵀ/(yᵀp) (diag(p) − p pᵀ)."""
    p = smx.softmax(s)
    return [Link("dp/ds", smx.softmax_jacobian(s, sparse=True)), Link("dl/dp", smx.cross_entropy_jacobian(p, y))]


class DD2424OneConvNet(Network):
    """S_i = X * F_i + b_i, S = {S_1, …, S_n}, H = max(0, S), s = W vec(H) + b, p = softmax(s), l = −log(yᵀp).

    Values: ``X`` (3, h, w) as planes X₁, X₂, X₃; ``F1`` … ``Fn`` (3, f, f);
    ``b1`` … ``bn`` (1,); ``W`` (C, n·t); ``b`` (C,); ``y`` one-hot (C,).
    """

    note = "dd2424"
    convention = get_convention("dd2424")

    def __init__(self, values: dict):
        self.n_filters = sum(1 for k in values if k.startswith("F"))
        self.differentiable = ("X", *(f"F{i}" for i in range(1, self.n_filters + 1)),
                               *(f"b{i}" for i in range(1, self.n_filters + 1)), "W", "b")
        super().__init__(values)

    def _validate(self):
        if self.n_filters < 1 or any(f"F{i}" not in self.values for i in range(1, self.n_filters + 1)):
            raise ValueError("values: need filters F1 … Fn (n ≥ 1) numbered without gaps, with biases b1 … bn")
        x = self.values["X"]
        if x.ndim != 3:
            raise GeometryError(f"X: must have shape (planes, h, w) (got {x.shape})")
        for i in range(1, self.n_filters + 1):
            f = self.values[f"F{i}"]
            if f.ndim != 3 or f.shape[0] != x.shape[0]:
                raise GeometryError(f"F{i}: must have shape ({x.shape[0]}, f, f): filter and image have the same depth (got {f.shape})")
            _require_shape(self.values[f"b{i}"], (1,), f"b{i}", "(1,)")
        t = int(np.prod(self._map_shape()))
        n_cls = self.values["b"].shape[0]
        _require_shape(self.values["W"], (n_cls, self.n_filters * t), "W", "(C, n_F·t)")
        _one_hot(self.values["y"], n_cls)

    def _map_shape(self):
        x, f = self.values["X"], self.values["F1"]
        return (x.shape[1] - f.shape[1] + 1, x.shape[2] - f.shape[2] + 1)

    @classmethod
    def random(cls, rng, planes=3, hw=(6, 6), f=3, n_filters=3, classes=4):
        t = (hw[0] - f + 1) * (hw[1] - f + 1)
        values = {"X": rng.standard_normal((planes, *hw))}
        for i in range(1, n_filters + 1):
            values[f"F{i}"] = rng.standard_normal((planes, f, f))
            values[f"b{i}"] = rng.standard_normal(1)
        values["W"] = rng.standard_normal((classes, n_filters * t)) / np.sqrt(t)
        values["b"] = rng.standard_normal(classes)
        values["y"] = np.eye(classes)[rng.integers(classes)]
        return cls(values)

    def forward(self, values=None):
        v = self._vals(values)
        out = {}
        for i in range(1, self.n_filters + 1):
            out[f"S{i}"] = c2d.conv2d(v["X"], v[f"F{i}"][None], v[f"b{i}"])[0]
        out["S"] = rs.stack(*(out[f"S{i}"] for i in range(1, self.n_filters + 1)))
        out["H"] = act.relu(out["S"])
        out["s"] = lin.linear_wvec_b(out["H"], v["W"], v["b"])
        out["p"] = smx.softmax(out["s"])
        out["loss"] = smx.softmax_cross_entropy(out["s"], v["y"])
        return out

    def kink_distance(self):
        return float(np.min(np.abs(self.forward()["S"])))

    def _stack_link(self, i, t):
        return Link(f"dvecS/dvecS{i}", rs.stack_jacobian(i - 1, self.n_filters, t))

    def explicit_chains(self):
        f, v = self.forward(), self.values
        x, n = v["X"], self.n_filters
        t = f["S1"].size
        head = _softmax_ce_links(f["s"], v["y"])
        tail_s = Chain([Link("diag(Ind(vec(S) > 0))", act.relu_jacobian(f["S"])),
                        Link("ds/dvecH = W", lin.linear_wvec_b_input_jacobian(f["H"], v["W"])), *head], name="dl/dvecS")
        chains = {
            "W": Chain([Link("ds/dvecW", lin.linear_wvec_b_weight_jacobian(f["H"], v["W"])), *head], name="W"),
            "b": Chain([Link("ds/db", lin.identity_jacobian(v["b"].size)), *head], name="b"),
        }
        for i in range(1, n + 1):
            m_x = c2d.conv2d_weight_jacobian(x, (1, *v[f"F{i}"].shape))  # M_X^im = (M_X1 M_X2 M_X3)
            chains[f"F{i}"] = Chain([Link(f"M_X^im (S{i})", m_x), self._stack_link(i, t), tail_s], name=f"F{i}")
            chains[f"b{i}"] = Chain([Link(f"dvecS{i}/db{i}", c2d.conv2d_bias_jacobian((1, *f["S1"].shape))),
                                     self._stack_link(i, t), tail_s], name=f"b{i}")
        # X feeds every S_i: the fan-out sum Σ_i (0; I_t; 0) M_{F_i}^filter
        branches = [Chain([Link(f"M_F{i}^filter", c2d.conv2d_input_jacobian(v[f"F{i}"][None], x.shape)),
                           self._stack_link(i, t)], name=f"X->S{i}") for i in range(1, n + 1)]
        chains["X"] = Chain([fan_out("X->S", branches), tail_s], name="X")
        return chains

    def _weights(self, prefix="F", bias="b"):
        n = self.n_filters
        return (np.stack([self.values[f"{prefix}{i}"] for i in range(1, n + 1)]),
                np.concatenate([self.values[f"{bias}{i}"] for i in range(1, n + 1)]))

    def backprop_gradients(self):
        f, v = self.forward(), self.values
        g_s = smx.softmax_cross_entropy_grad_onehot(f["s"], v["y"])  # (p − y)ᵀ
        grads = {"W": lin.linear_wvec_b_vjp_weight(g_s, f["H"], v["W"]), "b": g_s.copy()}
        g = act.relu_vjp_hadamard(lin.linear_wvec_b_vjp_input(g_s, f["H"], v["W"]), f["S"])
        weight, _ = self._weights()
        d_w = c2d.conv2d_vjp_weight_im2col(g, v["X"], weight)
        d_b = c2d.conv2d_vjp_bias(g, v["X"], weight)
        for i in range(1, self.n_filters + 1):
            grads[f"F{i}"] = d_w[i - 1]
            grads[f"b{i}"] = d_b[i - 1 : i]
        grads["X"] = c2d.conv2d_vjp_input_rot180(g, v["X"], weight)
        return grads

    def _torch_loss(self, t):
        import torch

        n = self.n_filters
        weight = torch.stack([t[f"F{i}"] for i in range(1, n + 1)])
        bias = torch.cat([t[f"b{i}"] for i in range(1, n + 1)])
        h = torch.relu(torch.nn.functional.conv2d(t["X"][None], weight, bias)[0])
        s = t["W"] @ h.reshape(-1) + t["b"]
        return -(t["y"] * torch.log_softmax(s, 0)).sum()


class DD2424TwoConvNet(Network):
    """Two conv layers of note 004: X → S⁽¹⁾ = {X * F_1i + b_1i} → X⁽¹⁾ = max(0, S⁽¹⁾) →
    S⁽²⁾ = {X⁽¹⁾ * F_2i + b_2i} → H = max(0, S⁽²⁾) → s = W vec(H) + b → softmax → −log(yᵀp).

    Values: ``X`` (3, h, w); ``F1`` (n₁, 3, f, f), ``b1`` (n₁,); ``F2`` (n₂, n₁, f, f),
    ``b2`` (n₂,); ``W`` (C, n₂·t₂); ``b`` (C,); ``y`` one-hot (C,).
    """

    note = "dd2424"
    convention = get_convention("dd2424")
    differentiable = ("X", "F1", "b1", "F2", "b2", "W", "b")

    def _validate(self):
        v = self.values
        s1 = c2d.conv2d(v["X"], v["F1"], v["b1"])
        s2 = c2d.conv2d(s1, v["F2"], v["b2"])
        _require_shape(v["W"], (v["b"].size, s2.size), "W", "(C, n₂·t₂)")
        _one_hot(v["y"], v["b"].size)

    @classmethod
    def random(cls, rng, planes=3, hw=(7, 7), f=3, n1=3, n2=3, classes=4):
        t2 = (hw[0] - 2 * f + 2) * (hw[1] - 2 * f + 2)
        return cls({
            "X": rng.standard_normal((planes, *hw)),
            "F1": rng.standard_normal((n1, planes, f, f)) / f, "b1": rng.standard_normal(n1),
            "F2": rng.standard_normal((n2, n1, f, f)) / f, "b2": rng.standard_normal(n2),
            "W": rng.standard_normal((classes, n2 * t2)) / np.sqrt(t2), "b": rng.standard_normal(classes),
            "y": np.eye(classes)[rng.integers(classes)],
        })

    def forward(self, values=None):
        v = self._vals(values)
        out = {"S1": c2d.conv2d(v["X"], v["F1"], v["b1"])}
        out["X1"] = act.relu(out["S1"])
        out["S2"] = c2d.conv2d(out["X1"], v["F2"], v["b2"])
        out["H"] = act.relu(out["S2"])
        out["s"] = lin.linear_wvec_b(out["H"], v["W"], v["b"])
        out["loss"] = smx.softmax_cross_entropy(out["s"], v["y"])
        return out

    def kink_distance(self):
        f = self.forward()
        return min(float(np.min(np.abs(f["S1"]))), float(np.min(np.abs(f["S2"]))))

    def explicit_chains(self):
        f, v = self.forward(), self.values
        n2 = v["F2"].shape[0]
        t2 = f["S2"][0].size
        head = _softmax_ce_links(f["s"], v["y"])
        tail2 = Chain([Link("relu2", act.relu_jacobian(f["S2"])), Link("ds/dvecH = W", sp.csr_array(v["W"])), *head],
                      name="dl/dvecS2")
        # X⁽¹⁾ feeds S_1⁽²⁾ … S_n⁽²⁾: ∂l/∂vec(X⁽¹⁾) = Σ_i ∂l/∂vec(S_i⁽²⁾) M_{F_2i}^filter
        fan = fan_out("X1->S2", [
            Chain([Link(f"M_F2{i + 1}^filter", c2d.conv2d_input_jacobian(v["F2"][i : i + 1], f["X1"].shape)),
                   Link(f"dvecS2/dvecS2_{i + 1}", rs.stack_jacobian(i, n2, t2))], name=f"X1->S2_{i + 1}")
            for i in range(n2)
        ])
        tail1 = Chain([Link("relu1", act.relu_jacobian(f["S1"])), fan, tail2], name="dl/dvecS1")
        return {
            "W": Chain([Link("ds/dvecW", lin.linear_wvec_b_weight_jacobian(f["H"], v["W"])), *head], name="W"),
            "b": Chain([Link("ds/db", lin.identity_jacobian(v["b"].size)), *head], name="b"),
            "F2": Chain([Link("dvecS2/dvecF2", c2d.conv2d_weight_jacobian(f["X1"], v["F2"].shape)), tail2], name="F2"),
            "b2": Chain([Link("dvecS2/db2", c2d.conv2d_bias_jacobian(f["S2"].shape)), tail2], name="b2"),
            "F1": Chain([Link("dvecS1/dvecF1", c2d.conv2d_weight_jacobian(v["X"], v["F1"].shape)), tail1], name="F1"),
            "b1": Chain([Link("dvecS1/db1", c2d.conv2d_bias_jacobian(f["S1"].shape)), tail1], name="b1"),
            "X": Chain([Link("dvecS1/dvecX", c2d.conv2d_input_jacobian(v["F1"], v["X"].shape)), tail1], name="X"),
        }

    def backprop_gradients(self):
        f, v = self.forward(), self.values
        g_s = smx.softmax_cross_entropy_grad_onehot(f["s"], v["y"])
        grads = {"W": lin.linear_wvec_b_vjp_weight(g_s, f["H"], v["W"]), "b": g_s.copy()}
        g = act.relu_vjp_hadamard(lin.linear_wvec_b_vjp_input(g_s, f["H"], v["W"]), f["S2"])
        grads["F2"] = c2d.conv2d_vjp_weight_rot180(g, f["X1"], v["F2"])
        grads["b2"] = c2d.conv2d_vjp_bias(g, f["X1"], v["F2"])
        g = act.relu_vjp_hadamard(c2d.conv2d_vjp_input_rot180(g, f["X1"], v["F2"]), f["S1"])
        grads["F1"] = c2d.conv2d_vjp_weight_rot180(g, v["X"], v["F1"])
        grads["b1"] = c2d.conv2d_vjp_bias(g, v["X"], v["F1"])
        grads["X"] = c2d.conv2d_vjp_input_im2col(g, v["X"], v["F1"])
        return grads

    def _torch_loss(self, t):
        import torch

        conv = torch.nn.functional.conv2d
        x1 = torch.relu(conv(t["X"][None], t["F1"], t["b1"]))
        h = torch.relu(conv(x1, t["F2"], t["b2"]))[0]
        s = t["W"] @ h.reshape(-1) + t["b"]
        return -(t["y"] * torch.log_softmax(s, 0)).sum()


# ---------------------------------------------------------------------------
# (d) note 001: Vardhan 2022
# ---------------------------------------------------------------------------
class Vardhan2022Net(Network):
    """Note 001's 3-layer CNN with biases.

    Z⁽¹⁾ = A⁽⁰⁾ * K⁽¹⁾ + b⁽¹⁾ (padding 1, stride (1, 2)); I⁽¹⁾ = σ(Z⁽¹⁾); A⁽¹⁾ = pool(I⁽¹⁾) (2×2, stride 2);
    Z⁽²⁾ = A⁽¹⁾ * K⁽²⁾ + b⁽²⁾; I⁽²⁾ = σ(Z⁽²⁾); A⁽²⁾ = pool(I⁽²⁾) (window (3, 2), padding (1, 1),
    stride (1, 2) — Appendix B's example); B⁽²⁾ = vec(A⁽²⁾) (column-major per channel, channels
    stacked); Z⁽³⁾ = W⁽³⁾ᵀ B⁽²⁾ + b⁽³⁾; A⁽³⁾ = softmax(Z⁽³⁾); J = −log(yᵀA⁽³⁾).

    ``pooling`` is ``"avg"`` (P = 1/(h·w), padding counted) or ``"max"`` (padding
    zeros take part, ties to the first entry in column-major window order).
    σ is the logistic sigmoid (the note leaves f_activation open; a smooth one
    keeps finite differences meaningful).
    """

    note = "vardhan2022"
    convention = get_convention("vardhan2022")
    differentiable = ("A0", "K1", "b1", "K2", "b2", "W3", "b3")
    CONV1 = dict(stride=(1, 2), padding=1)
    CONV2 = dict(stride=1, padding=0)
    POOL1 = dict(kernel_size=2, stride=2, padding=0)
    POOL2 = dict(kernel_size=(3, 2), stride=(1, 2), padding=1)

    def __init__(self, values: dict, pooling: str = "avg"):
        if pooling not in ("avg", "max"):
            raise ValueError(f"pooling: must be 'avg' or 'max' (got {pooling!r})")
        self.pooling = pooling
        super().__init__(values)

    def _validate(self):
        _one_hot(self.values["y"], self.values["b3"].size)
        n_b = self._features(self.values)["B2"].size
        _require_shape(self.values["W3"], (n_b, self.values["b3"].size), "W3", "(n_B, n_Z)")

    @classmethod
    def random(cls, rng, pooling="avg", c0=2, hw=(7, 18), c1=3, c2=2, k1=2, k2=2, classes=4):
        values = {"A0": rng.standard_normal((c0, *hw)), "K1": rng.standard_normal((c1, c0, k1, k1)),
                  "b1": rng.standard_normal(c1), "K2": rng.standard_normal((c2, c1, k2, k2)), "b2": rng.standard_normal(c2)}
        probe = cls.__new__(cls)
        probe.pooling, probe.values = pooling, {k: np.asarray(v, float) for k, v in values.items()}
        n_b = probe._features(probe.values)["B2"].size
        values.update(W3=rng.standard_normal((n_b, classes)), b3=rng.standard_normal(classes),
                      y=np.eye(classes)[rng.integers(classes)])
        return cls(values, pooling)

    def _pool(self, x, geometry):
        if self.pooling == "avg":
            return pool.avg_pool2d(x, **geometry, count_include_pad=True)
        return pool.max_pool2d(x, **geometry, pad_value=0.0, ties="first-colmajor")

    def _pool_jacobian(self, x, geometry):
        if self.pooling == "avg":
            return pool.avg_pool2d_jacobian(x.shape, **geometry, count_include_pad=True)
        return pool.max_pool2d_jacobian(x, **geometry, pad_value=0.0, ties="first-colmajor")

    def _pool_vjp(self, g, x, geometry):
        if self.pooling == "avg":
            return pool.avg_pool2d_vjp_col2im(g, x, **geometry, count_include_pad=True)
        return pool.max_pool2d_vjp_switches(g, x, **geometry, pad_value=0.0, ties="first-colmajor")

    def _features(self, v):
        out = {"Z1": c2d.conv2d(v["A0"], v["K1"], v["b1"], **self.CONV1)}
        out["I1"] = act.sigmoid(out["Z1"])
        out["A1"] = self._pool(out["I1"], self.POOL1)
        out["Z2"] = c2d.conv2d(out["A1"], v["K2"], v["b2"], **self.CONV2)
        out["I2"] = act.sigmoid(out["Z2"])
        out["A2"] = self._pool(out["I2"], self.POOL2)
        out["B2"] = rs.vec_op(out["A2"], self.convention)
        return out

    def forward(self, values=None):
        v = self._vals(values)
        out = self._features(v)
        out["Z3"] = lin.linear_wtb_b(out["B2"], v["W3"], v["b3"])
        out["A3"] = smx.softmax(out["Z3"])
        out["loss"] = smx.softmax_cross_entropy(out["Z3"], v["y"])
        return out

    def kink_distance(self):
        if self.pooling == "avg":
            return np.inf
        f = self.forward()
        gaps = []
        for name, geometry in (("I1", self.POOL1), ("I2", self.POOL2)):
            gaps.append(_smallest_window_gap(f[name], geometry))
        return float(min(gaps))

    def explicit_chains(self):
        f, v = self.forward(), self.values
        cj = self._cj
        a0, i1, a1, i2, a2 = v["A0"], f["I1"], f["A1"], f["I2"], f["A2"]
        z3 = f["Z3"]
        head = [Link("dA3/dZ3", smx.softmax_jacobian(z3, sparse=True)),
                Link("dJ/dA3", smx.cross_entropy_jacobian(f["A3"], v["y"]))]
        # B⁽²⁾ = vec(A⁽²⁾) in the note's own vec: in this convention flattening is the identity
        tail3 = Chain([Link("dB2/dvA2", rs.flatten_jacobian(a2.shape)),
                       Link("dZ3/dB2", lin.linear_wtb_b_input_jacobian(f["B2"], v["W3"])), *head], name="dJ/dvA2")
        tail2 = Chain([Link("dvI2/dvZ2", cj(act.sigmoid_jacobian(f["Z2"]), i2.shape, i2.shape)),
                       Link("dvA2/dvI2", cj(self._pool_jacobian(i2, self.POOL2), a2.shape, i2.shape)), tail3], name="dJ/dvZ2")
        tail1 = Chain([Link("dvI1/dvZ1", cj(act.sigmoid_jacobian(f["Z1"]), i1.shape, i1.shape)),
                       Link("dvA1/dvI1", cj(self._pool_jacobian(i1, self.POOL1), a1.shape, i1.shape)),
                       Link("dvZ2/dvA1", cj(c2d.conv2d_input_jacobian(v["K2"], a1.shape, **self.CONV2), i2.shape, a1.shape)),
                       tail2], name="dJ/dvZ1")
        return {
            "W3": Chain([Link("dZ3/dvW3", cj(lin.linear_wtb_b_weight_jacobian(f["B2"], v["W3"]), z3.shape, v["W3"].shape)),
                         *head], name="W3"),
            "b3": Chain([Link("dZ3/db3", lin.identity_jacobian(z3.size)), *head], name="b3"),
            "K2": Chain([Link("dvZ2/dvK2", cj(c2d.conv2d_weight_jacobian(a1, v["K2"].shape, **self.CONV2), i2.shape, v["K2"].shape)),
                         tail2], name="K2"),
            "b2": Chain([Link("dvZ2/db2", cj(c2d.conv2d_bias_jacobian(i2.shape), i2.shape, (i2.shape[0],))), tail2], name="b2"),
            "K1": Chain([Link("dvZ1/dvK1", cj(c2d.conv2d_weight_jacobian(a0, v["K1"].shape, **self.CONV1), i1.shape, v["K1"].shape)),
                         tail1], name="K1"),
            "b1": Chain([Link("dvZ1/db1", cj(c2d.conv2d_bias_jacobian(i1.shape), i1.shape, (i1.shape[0],))), tail1], name="b1"),
            "A0": Chain([Link("dvZ1/dvA0", cj(c2d.conv2d_input_jacobian(v["K1"], a0.shape, **self.CONV1), i1.shape, a0.shape)),
                         tail1], name="A0"),
        }

    def backprop_gradients(self):
        f, v = self.forward(), self.values
        g = smx.softmax_cross_entropy_grad_onehot(f["Z3"], v["y"])  # ∇_{Z3} J
        grads = {"W3": lin.linear_wtb_b_vjp_weight(g, f["B2"], v["W3"]), "b3": g.copy()}
        g_b = lin.linear_wtb_b_vjp_input(g, f["B2"], v["W3"])
        g = rs.convert_vec(g_b, f["A2"].shape, self.convention, "canonical").reshape(f["A2"].shape)
        g = act.sigmoid_vjp(self._pool_vjp(g, f["I2"], self.POOL2), f["Z2"])
        grads["K2"] = c2d.conv2d_vjp_weight_rot180(g, f["A1"], v["K2"], **self.CONV2)
        grads["b2"] = c2d.conv2d_vjp_bias(g, f["A1"], v["K2"])
        g = c2d.conv2d_vjp_input_rot180(g, f["A1"], v["K2"], **self.CONV2)
        g = act.sigmoid_vjp(self._pool_vjp(g, f["I1"], self.POOL1), f["Z1"])
        grads["K1"] = c2d.conv2d_vjp_weight_im2col(g, v["A0"], v["K1"], **self.CONV1)
        grads["b1"] = c2d.conv2d_vjp_bias(g, v["A0"], v["K1"])
        grads["A0"] = c2d.conv2d_vjp_input_im2col(g, v["A0"], v["K1"], **self.CONV1)
        return grads

    def _torch_loss(self, t):
        import torch
        import torch.nn.functional as F

        def pool_(x, geometry):
            k, s, p = geometry["kernel_size"], geometry["stride"], geometry["padding"]
            if self.pooling == "avg":
                return F.avg_pool2d(x, k, s, p, count_include_pad=True)
            # note 001 pads with zeros that take part in the max; σ > 0, so pad with 0 explicitly
            ph, pw = (p, p) if isinstance(p, int) else p
            return F.max_pool2d(F.pad(x, (pw, pw, ph, ph), value=0.0), k, s)

        a0 = t["A0"][None]
        i1 = torch.sigmoid(F.conv2d(a0, t["K1"], t["b1"], **self.CONV1))
        a1 = pool_(i1, self.POOL1)
        i2 = torch.sigmoid(F.conv2d(a1, t["K2"], t["b2"], **self.CONV2))
        a2 = pool_(i2, self.POOL2)[0]
        b2 = a2.transpose(1, 2).reshape(-1)  # column-major per channel, channels stacked
        z3 = t["W3"].T @ b2 + t["b3"]
        return -(t["y"] * torch.log_softmax(z3, 0)).sum()


def _smallest_window_gap(x, geometry):
    """Smallest gap between the largest and second-largest entry of any pooling window (zeros padded)."""
    from numpy.lib.stride_tricks import sliding_window_view

    from .geometry import as_pair

    kh, kw = as_pair(geometry["kernel_size"], "kernel_size")
    sh, sw = as_pair(geometry["stride"], "stride")
    ph, pw = as_pair(geometry["padding"], "padding", allow_zero=True)
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw)))
    win = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::sh, ::sw].reshape(-1, kh * kw)
    top2 = np.sort(win, axis=1)[:, -2:]
    return float(np.min(top2[:, 1] - top2[:, 0]))


#: name -> (class, constructor keyword arguments) for the notes' example networks
NETWORKS = {
    "wang2019-fc": (Wang2019FCNet, {}),
    "mint-conv-linear": (MintNet, {}),
    "dd2424-one-conv": (DD2424OneConvNet, {}),
    "dd2424-two-conv": (DD2424TwoConvNet, {}),
    "vardhan2022-avg": (Vardhan2022Net, {"pooling": "avg"}),
    "vardhan2022-max": (Vardhan2022Net, {"pooling": "max"}),
}
