"""Is my matrix (or my gradient) right? — and if not, which of the usual mistakes is it?

:func:`compare` checks a candidate Jacobian (numpy, scipy.sparse, or a sympy
Matrix with the notes' symbol names) or a candidate gradient ``Jᵀg`` of any
registered operator against every independent route (explicit builder,
efficient VJPs, finite differences, torch when installed), in any convention
preset, and lists the entries that differ in the operator's own terms.

:func:`diagnose` searches a fixed catalogue of the mistakes hand derivations
make (:data:`MISTAKES`) and reports only *verified* explanations: the truth
with that mistake made (equivalently: the candidate with that mistake undone)
reproduces the candidate within tolerance. Combinations of two count; a
combination is reported only when neither of its parts explains the
difference alone, and a mistake that changes nothing in the given geometry
(a symmetric kernel rotated, say) is never named.

Examples
--------
>>> import numpy as np
>>> from jacobians.compare import compare
>>> from jacobians.claims import reference_jacobian
>>> x = np.arange(1.0, 17.0).reshape(1, 4, 4); w = np.ones((1, 1, 2, 2))
>>> truth = reference_jacobian("conv2d", "weight", x=x, weight=w).toarray()     # M_X^im, 9 × 4
>>> r = compare(truth.T, "conv2d", wrt="weight", x=x, weight=w)     # denominator layout by mistake
>>> r.holds, [d["name"] for d in r.diagnosis]
(False, ['transpose'])
"""
from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "MISTAKES",
    "CompareResult",
    "compare",
    "diagnose",
    "diagnose_claim_result",
    "parse_matrix_text",
    "symbolic_candidate",
    "candidate_from_text",
    "entry_label",
    "picture",
]

#: The fixed vocabulary of mistakes (used in JSON and in the docs).
MISTAKES = {
    "transpose": "transposed: denominator layout (∂x/∂y ordering) where numerator layout is meant, or the reverse",
    "vec-order-rows": "the rows (output side) are in another vec order: row- vs column-major, or another preset's order",
    "vec-order-cols": "the columns (input side) are in another vec order: row- vs column-major, or another preset's order",
    "rot180": "the kernel is not rotated by 180° (or rotated twice)",
    "channel-swap": "the input and output channels of the weight are exchanged",
    "sum-vs-stack": "per-plane terms summed where they must be stacked (or concatenated), or the reverse",
    "scale": "off by a constant factor (mean vs sum, a missing 2 or 1/N)",
    "sign": "the sign is flipped",
    "shift": "off by one row or column (one-sided padding, 0- vs 1-based indices)",
    "stride-dilation": "zeros not inserted between upstream-gradient entries for stride > 1 (stride treated as 1)",
    "softmax-diag": "diag(p − p²), diag(p) or a one-hot-only form (p − y) where diag(p) − ppᵀ is meant",
}

#: Largest dense matrix (entries) the diagnosis searches; larger inputs are compared but not diagnosed.
DIAGNOSE_LIMIT = 250_000
#: Largest dense Jacobian (entries) compared at all.
COMPARE_LIMIT = 4_000_000
DEFAULT_TOL = 1e-8
FD_TOL = 1e-6


# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------
@dataclass
class CompareResult:
    """The outcome of :func:`compare`.

    Attributes
    ----------
    holds : bool
        Every route agrees with the candidate within its tolerance.
    max_error : float
        Largest scaled error ``max|cand − truth| / max(1, max|truth|)`` over the routes.
    routes : dict
        route -> scaled error (``symbolic``: number of differing entries, compared exactly).
    mode : {"jacobian", "gradient"}
    differing : list of (row, col, got, want, label)
        The differing entries (col is None for a gradient), at most :data:`MAX_LISTED` of them.
    differing_entries : int
        How many entries differ.
    diagnosis : list of dict
        ``{"name", "names", "description"}`` for each verified explanation.
    picture : str
        A small text picture of where the differing entries are.
    """

    holds: bool
    max_error: float
    routes: dict
    mode: str
    differing: list = field(default_factory=list)
    differing_entries: int = 0
    diagnosis: list = field(default_factory=list)
    picture: str = ""
    shape: tuple = ()
    note: str = ""

    def as_dict(self) -> dict:
        """The JSON object of ``jacobians compare --format json``."""

        def num(v):
            return v if math.isfinite(v) else "inf"

        return {
            "holds": bool(self.holds),
            "max_error": num(self.max_error),
            "routes": {k: num(v) for k, v in self.routes.items()},
            "diagnosis": [{"name": d["name"], "description": d["description"]} for d in self.diagnosis],
            "differing_entries": int(self.differing_entries),
        }


MAX_LISTED = 20


# ---------------------------------------------------------------------------
# the operator context: truth in canonical form, shapes, conventions
# ---------------------------------------------------------------------------
def _dense(m) -> np.ndarray:
    return m.toarray() if hasattr(m, "toarray") else np.asarray(m, dtype=np.float64)


def _perm(conv, shape) -> np.ndarray:
    """source[k] = canonical flat index at position k of ``conv``'s vec of a ``shape`` tensor."""
    from .conventions import axis_order

    shape = tuple(int(s) for s in shape)
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if len(shape) <= 1:
        return np.arange(n)
    return np.arange(n).reshape(shape).transpose(axis_order(len(shape), conv.vec, conv.channels)).ravel()


def _order_alternatives(target, shape) -> list:
    """Other vec orders (row/col × channels first/last) that order a ``shape`` tensor differently."""
    from .conventions import Convention

    base = _perm(target, shape)
    seen = [base]
    out = []
    for vec_order in ("row", "col"):
        for channels in ("first", "last"):
            alt = Convention(vec=vec_order, channels=channels, name=f"{vec_order}-major, channels {channels}")
            p = _perm(alt, shape)
            if not any(np.array_equal(p, s) for s in seen):
                seen.append(p)
                out.append((alt.name, p))
    return out


@dataclass
class _Context:
    spec: object
    operator: str
    wrt: str
    kw: dict
    conv: object
    out_shape: tuple
    in_shape: tuple
    J: np.ndarray  # canonical numerator, dense


def _context(operator, wrt, convention, kw) -> _Context:
    from .claims import _operator_call
    from .conventions import get_convention

    spec, _ = _operator_call(operator, wrt, kw, "compare")
    conv = get_convention(convention)
    x = np.asarray(kw[wrt])
    y_shape = tuple(np.shape(spec.forward(**kw)))
    rows, cols = int(np.prod(y_shape, dtype=np.int64)), int(x.size)
    if rows * cols > COMPARE_LIMIT:  # exact integers, before anything dense is built
        raise ValueError(f"compare: a {rows}×{cols} Jacobian is too large to compare densely (limit {COMPARE_LIMIT} entries)")
    J = _dense(spec.jacobian[wrt](**kw))
    return _Context(spec, operator, wrt, dict(kw), conv, y_shape, tuple(x.shape), J)


def _to_target(ctx, J, out_shape, in_shape, row_perm=None, col_perm=None) -> np.ndarray:
    """Canonical numerator J -> numerator layout in the target convention's vec orders (or the given ones)."""
    rp = _perm(ctx.conv, out_shape) if row_perm is None else row_perm
    cp = _perm(ctx.conv, in_shape) if col_perm is None else col_perm
    return J[np.ix_(rp, cp)]


def _truth_matrix(operator, wrt, convention="canonical", **kw) -> np.ndarray:
    """The true Jacobian in ``convention`` (layout included), dense — a helper for examples and tests."""
    ctx = _context(operator, wrt, convention, kw)
    M = _to_target(ctx, ctx.J, ctx.out_shape, ctx.in_shape)
    return M.T if ctx.conv.layout == "denominator" else M


# ---------------------------------------------------------------------------
# operator-level mistakes: another canonical Jacobian
# ---------------------------------------------------------------------------
def _conv_params(kw):
    from .geometry import Conv2dGeometry

    x, w = np.asarray(kw["x"]), np.asarray(kw["weight"])
    geom = Conv2dGeometry.from_shapes(
        x.shape, w.shape, stride=kw.get("stride", 1), padding=kw.get("padding", 0),
        dilation=kw.get("dilation", 1), groups=kw.get("groups", 1),
    )
    return geom


def _conv_undilated(kw, wrt, weight) -> np.ndarray:
    """Canonical Jacobian of the strided convolution with the stride dropped from the tap positions.

    Entry ``y[o, i, j] ← x[c, i + p·d − pad_top, j + q·d − pad_left]`` (instead of ``i·s + p·d − pad``):
    what the input / weight gradient becomes when the upstream gradient is not dilated with zeros.
    """
    geom = _conv_params(kw)
    x = np.asarray(kw["x"], dtype=np.float64)
    C, H, W = x.shape
    O, Cg, kh, kw_ = weight.shape
    OH, OW = geom.out_hw
    top, _, left, _ = geom.padding
    dh, dw = geom.dilation
    o, i, j, c, p, q = np.meshgrid(np.arange(O), np.arange(OH), np.arange(OW), np.arange(Cg), np.arange(kh), np.arange(kw_), indexing="ij")
    groups = geom.groups
    cin = (o // (O // groups)) * Cg + c
    r, s = i + p * dh - top, j + q * dw - left
    inside = (r >= 0) & (r < H) & (s >= 0) & (s < W)
    row = ((o * OH + i) * OW + j)[inside]
    if wrt == "x":
        col = ((cin * H + r) * W + s)[inside]
        val = weight[o, c, p, q][inside]
        J = np.zeros((O * OH * OW, C * H * W))
    else:
        col = (((o * Cg + c) * kh + p) * kw_ + q)[inside]
        val = x[cin[inside], r[inside], s[inside]]
        J = np.zeros((O * OH * OW, weight.size))
    np.add.at(J, (row, col), val)
    return J


def _operator_variants(ctx) -> list:
    """[(names, J_canonical, out_shape, in_shape)] for the operator-level mistakes that apply."""
    out = []
    kw, spec = ctx.kw, ctx.spec
    if ctx.operator == "conv2d" and ctx.wrt in ("x", "weight"):
        geom = _conv_params(kw)
        w = np.asarray(kw["weight"], dtype=np.float64)
        O, Cg, kh, kw_ = w.shape
        strided = geom.stride != (1, 1)
        transforms = {"rot180": lambda a: a[:, :, ::-1, ::-1]}
        if O == Cg and geom.groups == 1:
            transforms["channel-swap"] = lambda a: a.swapaxes(0, 1)
        singles = [(n,) for n in transforms] + ([("stride-dilation",)] if strided else [])
        pairs = [tuple(sorted(p)) for p in itertools.combinations([s[0] for s in singles], 2)]
        for names in singles + pairs:
            tw = [transforms[n] for n in names if n in transforms]
            undilated = "stride-dilation" in names
            if ctx.wrt == "x":
                w2 = w
                for t in tw:
                    w2 = np.ascontiguousarray(t(w2))
                J = _conv_undilated(kw, "x", w2) if undilated else _dense(spec.jacobian["x"](**{**kw, "weight": w2}))
            else:
                J = _conv_undilated(kw, "weight", w) if undilated else ctx.J
                cols = np.arange(w.size).reshape(w.shape)
                for t in tw:  # the weight gradient laid out with the kernel (or channels) permuted
                    cols = np.ascontiguousarray(t(cols))
                J = J[:, cols.ravel()]
            out.append((names, J, ctx.out_shape, ctx.in_shape))
    if ctx.operator in ("softmax", "softmax_cross_entropy", "softmax_soft_cross_entropy") and ctx.wrt == "s":
        from .ops.softmax import softmax

        s = np.asarray(kw["s"], dtype=np.float64)
        p = softmax(s)
        if ctx.operator == "softmax":
            forms = [np.diag(p - p * p), np.diag(p)]
        else:
            y = np.asarray(kw["y"], dtype=np.float64)
            if y.shape != p.shape:  # an integer label
                y = np.eye(p.size)[int(np.asarray(kw["y"]).ravel()[0])]
            dl_dp = -y / (y @ p) if ctx.operator == "softmax_cross_entropy" else -y / p
            forms = [((p - p * p) * dl_dp)[None, :], (p * dl_dp)[None, :], (p - y)[None, :]]
        for J in forms:
            out.append((("softmax-diag",), J, ctx.out_shape, ctx.in_shape))
    return out


def _axis_sums(J, out_shape, in_shape) -> list:
    """sum-vs-stack: J with the rows (outputs) or the columns (inputs) summed over one axis."""
    out = []
    for a, n in enumerate(out_shape):
        if n > 1 and len(out_shape) > 1:
            Jr = J.reshape(*out_shape, -1).sum(axis=a)
            new = tuple(s for k, s in enumerate(out_shape) if k != a)
            out.append((("sum-vs-stack",), Jr.reshape(-1, J.shape[1]), new, in_shape))
    for a, n in enumerate(in_shape):
        if n > 1 and len(in_shape) > 1:
            Jc = J.reshape(J.shape[0], *in_shape).sum(axis=1 + a)
            new = tuple(s for k, s in enumerate(in_shape) if k != a)
            out.append((("sum-vs-stack",), Jc.reshape(J.shape[0], -1), out_shape, new))
    return out


# ---------------------------------------------------------------------------
# matrix-level mistakes on the target-ordered numerator matrix
# ---------------------------------------------------------------------------
def _shifts(M, ctx, out_shape, in_shape, rp, cp) -> list:
    """Off-by-one variants: flat ±1 on rows / columns, and ±1 along each spatial axis of either side."""
    out = []

    def shifted(A, k, axis):
        B = np.zeros_like(A)
        if axis == 0:
            if k > 0:
                B[k:] = A[:-k]
            else:
                B[:k] = A[-k:]
        else:
            if k > 0:
                B[:, k:] = A[:, :-k]
            else:
                B[:, :k] = A[:, -k:]
        return B

    for axis in (0, 1):
        if M.shape[axis] > 1:
            for k in (1, -1):
                out.append(shifted(M, k, axis))
    # spatial shifts in canonical index space, then re-ordered like M
    for side, shape in ((0, out_shape), (1, in_shape)):
        if len(shape) < 2:
            continue
        for ax in (len(shape) - 2, len(shape) - 1):
            if shape[ax] < 2:
                continue
            for k in (1, -1):
                idx = np.arange(int(np.prod(shape))).reshape(shape)
                src = np.roll(idx, k, axis=ax)
                valid = np.ones(shape, dtype=bool)
                sl = [slice(None)] * len(shape)
                sl[ax] = slice(0, k) if k > 0 else slice(k, None)
                valid[tuple(sl)] = False
                perm = rp if side == 0 else cp
                inv = np.empty_like(perm)
                inv[perm] = np.arange(perm.size)
                # position t (target order) reads canonical src of canonical perm[t]
                src_pos = inv[src.ravel()[perm]]
                ok = valid.ravel()[perm]
                B = np.zeros_like(M)
                if side == 0:
                    B[ok] = M[src_pos[ok]]
                else:
                    B[:, ok] = M[:, src_pos[ok]]
                out.append(B)
    return out


def _close(cand, T, tol) -> bool:
    if cand.shape != T.shape:
        return False
    scale = max(1.0, float(np.max(np.abs(T))) if T.size else 1.0)
    return float(np.max(np.abs(cand - T))) / scale <= tol if T.size else True


def _fit(cand, T, tol):
    """('', None) when cand ≈ T; ('sign', -1) / ('scale', c) when cand ≈ c·T; None otherwise."""
    if cand.shape != T.shape:
        return None
    if _close(cand, T, tol):
        return ("", None)
    tt = float(np.vdot(T, T))
    if tt == 0:
        return None
    c = float(np.vdot(T, cand)) / tt
    if not math.isfinite(c) or abs(c) < 1e-12:
        return None
    if abs(c + 1) <= 1e-6 and _close(cand, -T, tol):
        return ("sign", -1.0)
    if abs(c - 1) > 1e-6 and _close(cand, c * T, tol):
        return ("scale", c)
    return None


def _factor_text(c) -> str:
    from fractions import Fraction

    fr = Fraction(c).limit_denominator(64)
    if abs(float(fr) - c) <= 1e-9 * max(1.0, abs(c)):
        return str(fr)
    return f"{c:.6g}"


def diagnose(candidate, truth=None, *, operator=None, wrt=None, convention="canonical", g=None, tol=1e-6,
             **inputs_and_params) -> list:
    """Which usual mistakes, verified, turn the truth into the candidate.

    Parameters
    ----------
    candidate : array_like or scipy.sparse
        The claimed Jacobian (in ``convention``, its layout included) or, with ``g``, the claimed
        gradient ``Jᵀg`` (shaped like the input, or a vector in ``convention``'s vec order).
    truth : array_like, optional
        The true matrix in the same form. Without ``operator`` only the layout-level mistakes
        (transpose, scale, sign, flat shift, reverse sum-vs-stack) can be searched.
    operator, wrt, **inputs_and_params
        A registered operator and its inputs (as for :func:`compare`): then every catalogue entry
        that applies is searched, and ``truth`` may be omitted.
    convention : str or Convention
        The preset the candidate is written in.
    g : array_like, optional
        The upstream gradient (shaped like the output, or a vector in ``convention``'s vec order).
    tol : float
        Largest scaled error ``max|cand − T'| / max(1, max|T'|)`` accepted for a verified explanation.

    Returns
    -------
    list of dict
        ``{"name": "transpose + vec-order-cols", "names": [...], "description": ...}``, one per
        verified explanation; empty when the candidate is right or when nothing in the catalogue
        explains the difference.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(16.0).reshape(1, 4, 4); w = np.array([[[[1.0, 2.0], [3.0, 5.0]]]])
    >>> from jacobians.claims import reference_jacobian
    >>> wrong = reference_jacobian("conv2d", "x", x=x, weight=w[:, :, ::-1, ::-1])   # kernel not rotated
    >>> [d["name"] for d in diagnose(wrong, operator="conv2d", wrt="x", x=x, weight=w)]
    ['rot180']
    >>> [d["name"] for d in diagnose(2 * np.eye(3), np.eye(3))]
    ['scale']
    """
    cand = _real_array(candidate, "candidate")
    if cand.size > DIAGNOSE_LIMIT:
        return []
    found = []
    if operator is None:
        if truth is None:
            raise ValueError("diagnose: give the truth, or the operator and its inputs")
        T = _real_array(truth, "truth")
        if _close(cand, T, tol):
            return []
        if T.ndim > 2 or cand.ndim > 2:  # tensors: compare their vecs
            T, cand = T.reshape(-1), cand.reshape(-1)
        variants = [((), T)]
        if T.ndim == 2:
            variants.append((("transpose",), T.T))
        for axis in range(T.ndim):
            for k in (1, -1):
                if T.shape[axis] > 1:
                    S = np.roll(T, k, axis=axis)
                    sl = [slice(None)] * T.ndim
                    sl[axis] = slice(0, k) if k > 0 else slice(k, None)
                    S[tuple(sl)] = 0
                    variants.append((("shift",), S))
            # summed where it must be stacked: the truth's k blocks (contiguous or interleaved) summed
            n, m = T.shape[axis], cand.shape[axis] if cand.ndim == T.ndim else 0
            if m and n > m and n % m == 0 and all(cand.shape[a] == T.shape[a] for a in range(T.ndim) if a != axis):
                A = np.moveaxis(T, axis, 0)
                k = n // m
                for summed in (A.reshape(k, m, *A.shape[1:]).sum(0), A.reshape(m, k, *A.shape[1:]).sum(1)):
                    variants.append((("sum-vs-stack",), np.moveaxis(summed, 0, axis)))
        found = _match(cand, variants, tol)
        found += _reverse_sum(cand, T, tol, found)
        return _report(found)
    ctx = _context(operator, wrt if wrt is not None else next(iter(_spec(operator).jacobian)), convention, inputs_and_params)
    g_t = None
    if g is not None:
        g_t = _vector_in(np.asarray(g, dtype=np.float64), ctx.out_shape, ctx.conv, "g")
        cand = _vector_in(cand, ctx.in_shape, ctx.conv, "candidate", allow_other_size=True)
    T0 = _final(ctx, _to_target(ctx, ctx.J, ctx.out_shape, ctx.in_shape), g_t, transpose=False)
    if _close(cand, T0, tol):
        return []
    variants = _all_variants(ctx, g_t, cand.shape)
    found = _match(cand, variants, tol)
    found += _reverse_sum(cand, T0, tol, found)
    return _report(found)


def diagnose_claim_result(result, tol: float = 1e-6) -> list:
    """Diagnoses of a :class:`~jacobians.claims.ClaimResult` whose as-written form fails.

    For each failing as-written route, the value the statement gave is diagnosed against the value
    it was compared with (layout-level mistakes: transpose, sign, scale, shift, sum-vs-stack); a
    comparison recorded with ``diagnose_with=`` (operator, wrt, inputs …) is diagnosed with the
    operator's whole catalogue. Non-numeric values (sympy, strings, shapes) are skipped.

    Returns
    -------
    list of dict
        ``{"route", "name", "names", "description"}``, one per route and explanation (deduplicated).
    """
    out = []
    if result.as_written_holds is not False:
        return out
    seen = set()
    for (form, route), value in result.failing_values.items():
        if form != "written":
            continue
        got, want, _err = value[:3]
        context = value[3] if len(value) > 3 else None
        try:
            if any(type(v).__module__.startswith("sympy") for v in (got, want)):
                continue
            g_arr = _dense(got).astype(np.float64)
            w_arr = _dense(want).astype(np.float64)
        except (TypeError, ValueError):
            continue
        if g_arr.ndim == 0 or g_arr.size > DIAGNOSE_LIMIT or w_arr.size > DIAGNOSE_LIMIT:
            continue
        try:
            found = diagnose(g_arr, **context) if context else diagnose(g_arr, w_arr, tol=tol)
        except (ValueError, TypeError):  # a context that does not fit: no diagnosis rather than a crash
            continue
        for d in found:
            if d["name"] not in seen:
                seen.add(d["name"])
                out.append({"route": route, **d})
    return out


def _spec(operator):
    from .registry import get_operator

    return get_operator(operator)


def _final(ctx, M, g_t, transpose) -> np.ndarray:
    """Numerator target-ordered M -> what the candidate is: the Jacobian (layout applied) or Mᵀg."""
    if g_t is None:
        A = M.T if ctx.conv.layout == "denominator" else M
        return A.T if transpose else A
    if transpose:  # J g instead of Jᵀ g: only meaningful for a square J
        return M @ g_t if M.shape[0] == M.shape[1] == g_t.size else None
    return M.T @ g_t if M.shape[0] == g_t.size else None


def _all_variants(ctx, g_t, cand_shape) -> list:
    """[(names, T')] for every mistake and pair of mistakes (the factor fit adds scale / sign later)."""
    ops = [((), ctx.J, ctx.out_shape, ctx.in_shape)] + _operator_variants(ctx)
    ops += _axis_sums(ctx.J, ctx.out_shape, ctx.in_shape)
    base_T = _to_target(ctx, ctx.J, ctx.out_shape, ctx.in_shape)
    out = []
    for names, J, out_shape, in_shape in ops:
        if names and J.shape == ctx.J.shape and np.array_equal(J, ctx.J):
            continue  # changes nothing in this geometry (e.g. a symmetric kernel rotated)
        rp, cp = _perm(ctx.conv, out_shape), _perm(ctx.conv, in_shape)
        M = J[np.ix_(rp, cp)]
        budget = 2 - len(names)
        steps = [((), M)]
        if budget >= 1:
            for label, p in _order_alternatives(ctx.conv, out_shape):
                steps.append((("vec-order-rows",), J[np.ix_(p, cp)]))
            for label, p in _order_alternatives(ctx.conv, in_shape):
                steps.append((("vec-order-cols",), J[np.ix_(rp, p)]))
            for S in _shifts(M, ctx, out_shape, in_shape, rp, cp):
                steps.append((("shift",), S))
        if budget >= 2:
            for (l1, p1), (l2, p2) in itertools.product(_order_alternatives(ctx.conv, out_shape), _order_alternatives(ctx.conv, in_shape)):
                steps.append((("vec-order-rows", "vec-order-cols"), J[np.ix_(p1, p2)]))
        for step_names, A in steps:
            total = names + step_names
            for transpose in (False, True):
                full = total + (("transpose",) if transpose else ())
                if len(full) > 2:
                    continue
                T = _final(ctx, A, g_t, transpose)
                if T is None or T.shape != tuple(cand_shape):
                    continue
                out.append((full, T))
    # drop variants that equal the truth (a no-op mistake) so they never explain anything
    T0 = _final(ctx, base_T, g_t, False)
    return [(n, T) for n, T in out if not (n and T0 is not None and T.shape == T0.shape and np.array_equal(T, T0))] + [((), T0)]


def _match(cand, variants, tol) -> list:
    """[(names, factor)] for the variants (with an optional fitted factor) that reproduce the candidate."""
    found = []
    seen_results = []
    for names, T in variants:
        fit = _fit(cand, T, tol)
        if fit is None:
            continue
        kind, c = fit
        full = names + ((kind,) if kind else ())
        if not full or len(full) > 2:
            continue
        found.append((tuple(full), c))
        seen_results.append(T)
    return found


def _reverse_sum(cand, T, tol, found) -> list:
    """Stacked where it must be summed: the candidate's k blocks (contiguous or interleaved) sum to the truth."""
    if T is None or cand.ndim != T.ndim:
        return []
    for axis in range(cand.ndim):
        n, m = cand.shape[axis], T.shape[axis]
        other_same = all(cand.shape[a] == T.shape[a] for a in range(cand.ndim) if a != axis)
        if not other_same or m == 0 or n <= m or n % m:
            continue
        k = n // m
        A = np.moveaxis(cand, axis, 0)
        for blocks in (A.reshape(k, m, *A.shape[1:]).sum(0), A.reshape(m, k, *A.shape[1:]).sum(1)):
            fit = _fit(np.moveaxis(blocks, 0, axis), T, tol)
            if fit is not None:
                return [(("sum-vs-stack",) + ((fit[0],) if fit[0] else ()), fit[1])]
    return []


def _report(found) -> list:
    """Minimal explanations only: drop any whose names contain another verified explanation's names."""
    uniq = {}
    for names, c in found:
        key = tuple(sorted(set(names)))
        if len(key) != len(names):
            continue  # the same mistake twice
        uniq.setdefault(key, c)
    keys = sorted(uniq, key=lambda k: (len(k), k))
    minimal = [k for k in keys if not any(set(o) < set(k) for o in keys)]
    out = []
    for key in minimal:
        c = uniq[key]
        parts = []
        for n in key:
            text = MISTAKES[n]
            if n == "scale" and c is not None:
                text += f" (candidate = {_factor_text(c)} × truth)"
            parts.append(text)
        out.append({"name": " + ".join(key), "names": list(key), "description": "; and ".join(parts)})
    return out


# ---------------------------------------------------------------------------
# compare
# ---------------------------------------------------------------------------
def _vector_in(a, shape, conv, what, allow_other_size=False) -> np.ndarray:
    """A tensor shaped like ``shape`` (canonical) -> its vec in ``conv``; a flat vector is taken as already in ``conv``."""
    a = np.asarray(a, dtype=np.float64)
    n = int(np.prod(shape, dtype=np.int64))
    if tuple(a.shape) == tuple(shape) and len(shape) > 1:
        return a.ravel()[_perm(conv, shape)]
    if a.ndim == 0 or (a.ndim == 2 and 1 in a.shape):
        a = a.ravel()
    if a.ndim == 1 and (a.size == n or allow_other_size):
        return a
    if a.ndim > 1 and allow_other_size and a.size != n:
        return a.ravel()
    raise ValueError(
        f"{what}: must be shaped like {tuple(shape)} or be a vector of {n} entries (got shape {tuple(a.shape)})"
    )


def _real_array(value, what: str) -> np.ndarray:
    """A float64 copy of a real, finite numeric array (or sparse matrix); anything else is one line."""
    try:
        arr = value.toarray() if hasattr(value, "toarray") else np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what}: must be a numeric array ({' '.join(str(exc).split())[:80]})") from None
    if np.iscomplexobj(arr):
        raise ValueError(f"{what}: holds complex numbers; only real values are supported")
    if arr.dtype.kind not in "fiub":
        raise ValueError(f"{what}: must hold real numbers (dtype {arr.dtype})")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what}: holds NaN or infinite entries")
    return arr


def _is_symbolic(candidate) -> bool:
    if type(candidate).__module__.startswith("sympy"):
        return True
    return isinstance(candidate, np.ndarray) and candidate.dtype == object


def compare(candidate, operator, wrt=None, convention="canonical", g=None, *, tol=DEFAULT_TOL, index_base=1,
            **inputs_and_params) -> CompareResult:
    """Compare a claimed Jacobian (or gradient) of a registered operator with the truth by every route.

    Parameters
    ----------
    candidate : numpy array, scipy.sparse, or sympy Matrix
        The claimed Jacobian in ``convention`` (shape ``(y.size, x.size)`` in numerator layout).
        A sympy Matrix uses the notes' symbol names (``X_11`` …, as ``jacobians show`` prints
        them, ``index_base``-based) and is compared exactly with the symbolic Jacobian. With ``g``:
        the claimed gradient ``Jᵀg``, shaped like the input or a vector in ``convention``'s vec order.
    operator : str
        A registered operator (``jacobians list``).
    wrt : str, optional
        The input differentiated (default: the operator's first).
    convention : str or Convention
        The preset the candidate is written in.
    g : array_like, optional
        The upstream gradient: shaped like the output (canonical) or a vector in ``convention``'s order.
    tol : float
        Scaled tolerance for the analytic routes; finite differences get ``max(tol, 1e-6)``.
    index_base : {0, 1}
        First index of the symbol names of a symbolic candidate.
    **inputs_and_params
        The operator's arrays and hyper-parameters (placeholders of the right shape suffice for the
        arrays a symbolic candidate names).

    Returns
    -------
    CompareResult

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(1.0, 10.0).reshape(1, 3, 3); w = np.ones((1, 1, 2, 2))
    >>> g = np.ones((1, 2, 2))
    >>> compare(np.ones((1, 1, 2, 2)), "conv2d", wrt="weight", g=g, x=x, weight=w).holds
    False
    >>> r = compare(np.array([[[[12.0, 16.0], [24.0, 28.0]]]]), "conv2d", wrt="weight", g=g, x=x, weight=w)
    >>> r.holds, {"explicit", "fd"} <= set(r.routes)   # dL/dF[p, q] = Σ_ij g[i, j] x[i + p, j + q]
    (True, True)
    """
    if wrt is None:
        wrt = next(iter(_spec(operator).jacobian))
    if _is_symbolic(candidate):
        if g is not None:
            raise ValueError("candidate: a symbolic candidate must be a Jacobian (give g=None)")
        return _compare_symbolic(candidate, operator, wrt, convention, tol, index_base, inputs_and_params)
    from .claims import reference_routes

    ctx = _context(operator, wrt, convention, inputs_and_params)
    cand = _real_array(candidate, "candidate")
    routes = reference_routes(operator, wrt)
    g_t = None
    if g is not None:
        g_t = _vector_in(np.asarray(g, dtype=np.float64), ctx.out_shape, ctx.conv, "g")
        cand_v = _vector_in(cand, ctx.in_shape, ctx.conv, "candidate", allow_other_size=True)
    errors = {}
    truths = {}
    for route in routes:
        T = _route_truth(ctx, route, g_t)
        truths[route] = T
        got = cand_v if g is not None else cand
        errors[route] = _scaled_error(got, T)
    tols = {r: (max(tol, FD_TOL) if r == "fd" else tol) for r in routes}
    holds = all(errors[r] <= tols[r] for r in routes)
    truth = truths["explicit"]
    got = cand_v if g is not None else cand
    result = CompareResult(holds, max(errors.values()), errors, "gradient" if g is not None else "jacobian", shape=got.shape)
    if not holds:
        _fill_differences(result, got, truth, ctx, tol)
        result.diagnosis = diagnose(got, operator=operator, wrt=wrt, convention=ctx.conv, g=g_t, tol=max(tol, 1e-6), **ctx.kw) if got.size <= DIAGNOSE_LIMIT else []
        if got.size > DIAGNOSE_LIMIT:
            result.note = f"not diagnosed: more than {DIAGNOSE_LIMIT} entries"
    return result


def _route_truth(ctx, route, g_t):
    from .claims import reference_jacobian

    if route == "explicit":
        M = _to_target(ctx, ctx.J, ctx.out_shape, ctx.in_shape)
    else:
        M = np.asarray(reference_jacobian(ctx.operator, ctx.wrt, route=route, convention="canonical", **ctx.kw))
        M = _to_target(ctx, M, ctx.out_shape, ctx.in_shape)
    return _final(ctx, M, g_t, False)


def _scaled_error(got, want) -> float:
    if got.shape != want.shape:
        return math.inf
    if want.size == 0:
        return 0.0
    return float(np.max(np.abs(got - want))) / max(1.0, float(np.max(np.abs(want))))


_AXIS_NAMES = {1: ("k",), 2: ("i", "j"), 3: ("c", "i", "j"), 4: ("o", "c", "p", "q")}
_IN_AXIS_NAMES = {1: ("k",), 2: ("p", "q"), 3: ("c", "p", "q"), 4: ("o", "c", "p", "q")}


def entry_label(index: int, shape, conv, input_side: bool) -> str:
    """What position ``index`` of ``conv``'s vec of a ``shape`` tensor is, as ``(c=0, i=1, j=2)`` (0-based).

    Examples
    --------
    >>> from jacobians.conventions import get_convention
    >>> entry_label(1, (1, 2, 2), get_convention("matlab"), input_side=True)   # column-major: (0, 1, 0)
    '(c=0, p=1, q=0)'
    """
    shape = tuple(shape)
    canonical = int(_perm(conv, shape)[index])
    idx = np.unravel_index(canonical, shape) if shape else ()
    names = (_IN_AXIS_NAMES if input_side else _AXIS_NAMES).get(len(shape), tuple(f"a{k}" for k in range(len(shape))))
    return "(" + ", ".join(f"{n}={int(v)}" for n, v in zip(names, idx)) + ")"


def _fill_differences(result, got, truth, ctx, tol):
    if got.shape != truth.shape:
        result.differing_entries = int(max(got.size, truth.size))
        result.picture = f"(shapes differ: candidate {got.shape}, truth {truth.shape})"
        return
    scale = max(1.0, float(np.max(np.abs(truth))) if truth.size else 1.0)
    bad = np.abs(got - truth) > max(tol, 1e-12) * scale
    result.differing_entries = int(bad.sum())
    positions = np.argwhere(bad)[:MAX_LISTED]
    den = ctx.conv.layout == "denominator"
    for pos in positions:
        if got.ndim == 1:
            k = int(pos[0])
            label = "input " + entry_label(k, ctx.in_shape, ctx.conv, True)
            result.differing.append((k, None, float(got[k]), float(truth[k]), label))
        else:
            r, c = int(pos[0]), int(pos[1])
            orow, icol = (c, r) if den else (r, c)
            label = f"output {entry_label(orow, ctx.out_shape, ctx.conv, False)} ← input {entry_label(icol, ctx.in_shape, ctx.conv, True)}"
            result.differing.append((r, c, float(got[r, c]), float(truth[r, c]), label))
    if got.ndim == 1 and len(ctx.in_shape) >= 2:
        # a gradient: draw it as the input's planes (canonical order), one row of the picture per row of a plane
        perm = _perm(ctx.conv, ctx.in_shape)
        bad_c, nz_c = np.zeros(got.size, bool), np.zeros(got.size, bool)
        bad_c[perm], nz_c[perm] = bad, truth != 0
        width = ctx.in_shape[-1]
        result.picture = picture(bad_c.reshape(-1, width), nz_c.reshape(-1, width))
    else:
        result.picture = picture(bad, truth != 0)


def picture(bad, nonzero, max_rows: int = 24, max_cols: int = 72) -> str:
    """A text picture: ``X`` where entries differ, ``.`` where the truth is nonzero, space elsewhere.

    Larger matrices are shown in blocks (a block is ``X`` if any entry in it differs).

    Examples
    --------
    >>> bad = np.zeros((3, 3), bool); bad[0, 1] = True
    >>> print(picture(bad, np.eye(3, dtype=bool)).replace(" ", "_"))
    .X_
    _._
    __.
    """
    bad = np.atleast_2d(bad)
    nonzero = np.atleast_2d(nonzero)
    R, C = bad.shape
    br, bc = max(1, -(-R // max_rows)), max(1, -(-C // max_cols))
    lines = []
    for r0 in range(0, R, br):
        row = []
        for c0 in range(0, C, bc):
            if bad[r0 : r0 + br, c0 : c0 + bc].any():
                row.append("X")
            elif nonzero[r0 : r0 + br, c0 : c0 + bc].any():
                row.append(".")
            else:
                row.append(" ")
        lines.append("".join(row))
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# symbolic candidates
# ---------------------------------------------------------------------------
_SHOW_NAMES = {"x": "X", "weight": "F", "bias": "b"}


def _symbol_inputs(ctx_spec, wrt, kw, index_base):
    """The inputs other than ``wrt`` as symbol tensors named as ``jacobians show`` names them."""
    from .commands.show import _symbol_name, _symbolic_tensor

    inputs = {}
    names = {}
    for name in ctx_spec.jacobian:
        if name == wrt or kw.get(name) is None:
            continue
        base_name = _SHOW_NAMES.get(name, _symbol_name(name)) if ctx_spec.name == "conv2d" else _symbol_name(name)
        inputs[name] = _symbolic_tensor(base_name, np.asarray(kw[name]).shape, index_base)
        names[name] = base_name
    return inputs, names


def _compare_symbolic(candidate, operator, wrt, convention, tol, index_base, kw) -> CompareResult:
    import sympy

    from symbolic.ops import as_sympy_matrix, differing_entries, to_convention

    from .conventions import get_convention

    spec = _spec(operator)
    conv = get_convention(convention)
    if wrt not in spec.affine_in:
        raise ValueError(
            f"candidate: symbolic entries are supported for operators affine in {wrt!r} only; "
            f"{operator} is not — give a numeric matrix"
        )
    sym_inputs, _ = _symbol_inputs(spec, wrt, kw, index_base)
    full = {**kw, **sym_inputs}
    truth = as_sympy_matrix(spec.jacobian[wrt](**full))
    out_shape = tuple(np.shape(spec.forward(**kw)))
    truth = to_convention(truth, conv, out_shape, np.shape(kw[wrt]))
    cand = candidate if isinstance(candidate, sympy.MatrixBase) else sympy.Matrix(candidate)
    known = set()
    for arr in sym_inputs.values():
        known |= {s for s in arr.ravel()}
    unknown = sorted({str(s) for s in cand.free_symbols} - {str(s) for s in known})
    if unknown:
        listed = ", ".join(sorted(str(s) for s in known))[:200]
        raise ValueError(f"candidate: unknown symbol {unknown[0]!r}; this Jacobian's entries use {listed or 'no symbols'}")
    if cand.shape != truth.shape:
        raise ValueError(f"candidate: has shape {tuple(cand.shape)} but the Jacobian is {truth.rows}×{truth.cols} (rows × columns)")
    bad_positions = differing_entries(cand, truth)
    n_bad = len(bad_positions)
    # a numeric point (seeded, generic values) for the routes' errors and the diagnosis
    rng = np.random.default_rng(20261201)
    values = {name: rng.uniform(0.5, 2.0, np.shape(arr)) * rng.choice([-1, 1], np.shape(arr)) for name, arr in sym_inputs.items()}
    subs = {}
    for name, arr in sym_inputs.items():
        for s, v in zip(arr.ravel(), values[name].ravel()):
            subs[s] = sympy.Float(float(v), 17)
    cand_num = np.array(cand.xreplace(subs).evalf(), dtype=np.float64) if cand.free_symbols else np.array(cand.evalf(), dtype=np.float64)
    numeric = compare(cand_num, operator, wrt=wrt, convention=conv, tol=max(tol, 1e-9), **{**kw, **values})
    routes = {"symbolic": float(n_bad), **numeric.routes}
    result = CompareResult(n_bad == 0, numeric.max_error, routes, "jacobian", shape=tuple(cand.shape))
    if n_bad:
        result.differing_entries = n_bad
        result.diagnosis, result.picture = numeric.diagnosis, numeric.picture
        den = conv.layout == "denominator"
        for r, c in bad_positions[:MAX_LISTED]:
            orow, icol = (c, r) if den else (r, c)
            label = f"output {entry_label(orow, out_shape, conv, False)} ← input {entry_label(icol, np.shape(kw[wrt]), conv, True)}"
            result.differing.append((r, c, str(cand[r, c]), str(truth[r, c]), label))
    return result


# ---------------------------------------------------------------------------
# the strict text-matrix parser (never sympify / eval)
# ---------------------------------------------------------------------------
_NUMBER = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?(?:/[0-9]+)?"
_SYMBOL = r"[A-Za-z]+(?:_?[0-9]+(?:_[0-9]+)*|(?:_[0-9]+)+)"
_TERM = re.compile(rf"(?P<num>{_NUMBER})(?:\*(?P<sym1>{_SYMBOL}))?|(?P<sym2>{_SYMBOL})(?:\*(?P<num2>{_NUMBER}))?")
_SYMBOL_RE = re.compile(r"(?P<name>[A-Za-z]+)(?P<idx>.*)\Z")
MAX_TEXT_BYTES = 8 * 2**20
RULE = "entries must be numbers (2, -0.5, 1/4, 1e-3) or symbols with an optional number factor (X11, X_1_1, -X12, 2*X11), summed with + or -, no spaces inside an entry"


def _parse_number(text: str):
    from fractions import Fraction

    if "/" in text:
        num, den = text.split("/")
        if int(den) == 0:
            raise ValueError("division by zero")
        return Fraction(Fraction(num), int(den))
    return Fraction(text)


def _parse_entry(entry: str):
    """[(coefficient: Fraction, symbol: (name, indices) or None)], by a regular grammar only."""
    terms = []
    pos = 0
    n = len(entry)
    first = True
    while pos < n:
        sign = 1
        if entry[pos] in "+-":
            sign = -1 if entry[pos] == "-" else 1
            pos += 1
        elif not first:
            raise ValueError("expected + or - between terms")
        m = _TERM.match(entry, pos)
        if not m or m.end() == pos:
            raise ValueError("not a number or a symbol")
        pos = m.end()
        num = m.group("num") or m.group("num2")
        sym = m.group("sym1") or m.group("sym2")
        coef = _parse_number(num) if num else 1
        terms.append((sign * coef, _split_symbol(sym) if sym else None))
        first = False
    if not terms:
        raise ValueError("empty entry")
    return terms


def _split_symbol(sym: str):
    m = _SYMBOL_RE.match(sym)
    name, idx = m.group("name"), m.group("idx")
    if idx.startswith("_") and idx.count("_") >= 2 or (idx.count("_") >= 1 and not idx.startswith("_")):
        parts = tuple(int(p) for p in idx.strip("_").split("_"))
    else:
        digits = idx.lstrip("_")
        parts = ("packed", digits)
    return (name, parts)


def parse_matrix_text(text: str, what: str = "matrix"):
    """A matrix typed as text: numbers, or the notes' symbols — read by a strict regular grammar.

    One row per line; entries separated by spaces and/or commas; blank lines and lines starting
    with ``#`` are skipped; an optional ``[`` … ``]`` around a row is allowed. Each entry is a sum
    of terms ``[±][number*]symbol`` or ``[±]number`` (numbers: ``2``, ``-0.5``, ``1e-3``, ``1/4``;
    symbols: letters then indices, ``X11`` (one digit per index), ``X_1_1``, ``X_11``, ``F_2_10``).
    Nothing is passed to ``sympify`` or ``eval``.

    Returns
    -------
    numpy.ndarray (float64) when every entry is a number; otherwise a list of rows of parsed
    entries (``[(Fraction, (name, indices) or None), ...]``) for :func:`symbolic_candidate`.

    Raises
    ------
    ValueError
        One line naming the line and entry, and the rule.

    Examples
    --------
    >>> parse_matrix_text("1 2\\n3 4/2")
    array([[1., 2.],
           [3., 2.]])
    >>> parse_matrix_text("X11 -2*X_1_2")[0][1]
    [(Fraction(-2, 1), ('X', (1, 2)))]
    """
    if len(text) > MAX_TEXT_BYTES:
        raise ValueError(f"{what}: more than {MAX_TEXT_BYTES} characters")
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith("[") and s.endswith("]"):
            s = s[1:-1]
        s = s.rstrip(",;").strip()
        entries = [e for e in re.split(r"[\s,;]+", s) if e]
        row = []
        for k, e in enumerate(entries, 1):
            try:
                row.append(_parse_entry(e))
            except (ValueError, ZeroDivisionError) as exc:
                shown = e if len(e) <= 40 else e[:39] + "…"
                raise ValueError(f"{what}: line {lineno}, entry {k} {shown!r}: {exc}; {RULE}") from None
        rows.append(row)
    if not rows:
        raise ValueError(f"{what}: no rows (the file is empty)")
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise ValueError(f"{what}: rows have different numbers of entries ({', '.join(map(str, sorted(widths)))})")
    if all(sym is None for row in rows for entry in row for _, sym in entry):
        return np.array([[float(sum(c for c, _ in entry)) for entry in row] for row in rows], dtype=np.float64)
    return rows


def candidate_from_text(text: str, operator: str, wrt=None, index_base: int = 1, **inputs_and_params):
    """A candidate typed as text (see :func:`parse_matrix_text`): a float array, or a sympy Matrix of the operator's symbols.

    Examples
    --------
    >>> import numpy as np
    >>> M = candidate_from_text("X11 X12 X21 X22", "conv2d", wrt="weight", x=np.zeros((1, 2, 2)), weight=np.zeros((1, 1, 2, 2)))
    >>> M
    Matrix([[X_11, X_12, X_21, X_22]])
    >>> compare(M, "conv2d", wrt="weight", x=np.zeros((1, 2, 2)), weight=np.zeros((1, 1, 2, 2))).holds
    True
    """
    parsed = parse_matrix_text(text)
    if isinstance(parsed, np.ndarray):
        return parsed
    return symbolic_candidate(parsed, operator, wrt=wrt, index_base=index_base, **inputs_and_params)


def symbolic_candidate(rows, operator, wrt=None, index_base=1, **inputs_and_params):
    """Parsed text rows -> a sympy Matrix whose symbols are the operator's (named as ``jacobians show`` names them).

    A symbol ``X11`` / ``X_1_1`` names the entry of the input whose symbol letter is ``X`` at those
    ``index_base``-based indices (leading singleton axes may be left out). Unknown letters or
    indices raise one line.
    """
    import sympy

    spec = _spec(operator)
    if wrt is None:
        wrt = next(iter(spec.jacobian))
    if wrt not in spec.affine_in:
        raise ValueError(
            f"matrix: symbolic entries are supported for operators affine in the input differentiated; "
            f"{operator} is not affine in {wrt} — give numbers and the input values"
        )
    sym_inputs, names = _symbol_inputs(spec, wrt, inputs_and_params, index_base)
    table = {}
    for input_name, arr in sym_inputs.items():
        letter = names[input_name]
        shape = arr.shape
        short = tuple(s for s in shape[:-2] if s != 1) + tuple(shape[-2:]) if len(shape) >= 2 else shape
        for idx in np.ndindex(*shape):
            full = tuple(int(i) + index_base for i in idx)
            table[(letter, full)] = arr[idx]
            if len(short) != len(shape):  # leading singleton axes may be left out, as the notes do
                kept = tuple(full[a] for a in range(len(shape)) if a >= len(shape) - 2 or shape[a] != 1)
                table[(letter, kept)] = arr[idx]
    letters = sorted({k[0] for k in table})

    def lookup(name, parts):
        if parts and parts[0] == "packed":
            digits = parts[1]
            key = (name, tuple(int(d) for d in digits))
        else:
            key = (name, parts)
        if key in table:
            return table[key]
        if name not in letters:
            raise ValueError(
                f"matrix: unknown symbol name {name!r}; {operator} w.r.t. {wrt} has entries named "
                f"{', '.join(letters) or '(no symbols: numbers only)'}"
            )
        raise ValueError(
            f"matrix: symbol {name}{'_'.join(map(str, key[1]))} is outside the input ({index_base}-based indices; "
            "write X_10_2 for indices above 9)"
        )

    entries = []
    for row in rows:
        for entry in row:
            value = sympy.Integer(0)
            for coef, sym in entry:
                c = sympy.Rational(coef.numerator, coef.denominator) if hasattr(coef, "numerator") else sympy.Integer(coef)
                value += c * (lookup(*sym) if sym is not None else 1)
            entries.append(value)
    return sympy.Matrix(len(rows), len(rows[0]), entries)


# ``import jacobians.compare`` binds the package attribute ``jacobians.compare`` to this module,
# shadowing the function of the same name that ``jacobians.compare(...)`` documents; so the module
# itself is made callable as :func:`compare`.
class _CallableModule(__import__("types").ModuleType):
    def __call__(self, *args, **kwargs):
        return compare(*args, **kwargs)


__import__("sys").modules[__name__].__class__ = _CallableModule
