"""The ledger's routes: kinds declared, the route-kind rule on every claim (with and without torch), public API only."""
from __future__ import annotations

import ast
import os

import numpy as np
import pytest

from jacobians import claims as claims_api
from jacobians.claims import reference_jacobian, reference_vjp, route_kind_violations
from jacobians.ledger import CLAIMS, load_claims

load_claims()
LEDGER_DIR = os.path.join(os.path.dirname(__file__), os.pardir, "jacobians", "ledger")


def test_fd_reference_routes_accept_non_contiguous_inputs():
    """A transposed (non C-contiguous) input must be perturbed in place, not in a throw-away copy.

    Found by the ledger's wang2019 fd route, which passes the note's (d1, d2, d3) tensors transposed to (C, H, W).
    The comparison is with the explicit builder (package) on the same, non-contiguous, data.
    """
    r = np.random.default_rng(0)
    x = r.standard_normal((5, 6, 2)).transpose(2, 0, 1)
    w = r.standard_normal((2, 3, 2)).transpose(2, 0, 1)[None]
    explicit = reference_jacobian("conv2d", "weight", x=x, weight=w).toarray()
    assert np.abs(reference_jacobian("conv2d", "weight", route="fd", x=x, weight=w) - explicit).max() < 1e-6
    g = r.standard_normal((1, 4, 4))
    assert np.abs(reference_vjp("conv2d", g, "x", route="fd", x=x, weight=w) - reference_vjp("conv2d", g, "x", x=x, weight=w)).max() < 1e-6


def _results(monkeypatch=None, hide_torch=False):
    if hide_torch:
        monkeypatch.setitem(claims_api._OPTIONAL_OK, "torch", False)
    return [c.run() for c in CLAIMS.values()]


def test_route_kind_rule_holds_on_the_bundled_ledger():
    """Every claim: ≥ 2 value comparisons of two different kinds (different pairs), also without torch."""
    assert route_kind_violations(_results()) == []


def test_route_kind_rule_and_verdicts_with_torch_hidden(monkeypatch):
    """With torch reported missing, every verdict is still the expected one and the rule still holds."""
    results = _results(monkeypatch, hide_torch=True)
    wrong = [(r.claim.id, r.verdict, r.error) for r in results if not r.ok]
    assert wrong == []
    assert route_kind_violations(results) == []


def _ledger_modules():
    for name in sorted(os.listdir(LEDGER_DIR)):
        if name.endswith(".py"):
            with open(os.path.join(LEDGER_DIR, name), encoding="utf-8") as fh:
                yield name, ast.parse(fh.read())


def test_every_comparison_declares_its_kinds():
    """Each ev.written / ev.corrected / ev.both call in the ledger names the kinds of both sides."""
    missing = []
    for name, tree in _ledger_modules():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("written", "corrected", "both")
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "ev"
                and not any(k.arg == "kinds" for k in node.keywords)
            ):
                missing.append(f"{name}:{node.lineno}")
    assert missing == [], f"comparisons without kinds=: {missing}"


def test_every_claim_that_does_not_simply_hold_has_a_kind_by_the_rule():
    """docs/ledger_method.md's taxonomy: completes ⇒ gap; holds-corrected ⇒ erratum, slip or gap; extraction ⇒ a reading."""
    for cid, c in CLAIMS.items():
        if c.expected == "holds":
            assert c.kind in (None, "extraction"), cid
        elif c.expected == "completes":
            assert c.kind == "gap", cid
        else:
            assert c.kind in ("erratum", "slip", "gap"), (cid, c.kind)
        assert (c.kind == "extraction") == bool(c.reading), cid


def test_conv2d_bias_jacobian_through_the_reference_routes():
    """conv2d's bias Jacobian with only the parameters given (the forward's defaults apply), against its VJP."""
    r = np.random.default_rng(1)
    x, w, b = r.standard_normal((2, 5, 4)), r.standard_normal((3, 2, 2, 2)), r.standard_normal(3)
    g = r.standard_normal((3, 4, 3))
    assert np.allclose(reference_vjp("conv2d", g, "bias", x=x, weight=w, bias=b), g.sum(axis=(1, 2)), atol=1e-12)
    assert np.allclose(reference_vjp("conv2d", g, "bias", route="fd", x=x, weight=w, bias=b), g.sum(axis=(1, 2)), atol=1e-6)


def test_the_ledger_imports_only_the_public_api():
    """ledger/*.py import from jacobians only names of ``jacobians.__all__`` and ``jacobians.claims.__all__`` (issue #10 §1)."""
    import jacobians
    import jacobians.claims

    public = {None: set(jacobians.__all__), "claims": set(jacobians.claims.__all__)}
    bad = []
    for name, tree in _ledger_modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                if node.level == 1:
                    continue  # the ledger's own modules
                if node.level == 2 or (node.level == 0 and (node.module or "").startswith("jacobians")):
                    module = node.module if node.level == 2 else (node.module[len("jacobians") + 1 :] or None)
                    allowed = public.get(module)
                    for alias in node.names:
                        if allowed is None or alias.name not in allowed:
                            bad.append(f"{name}:{node.lineno} from {'.' * node.level}{node.module or ''} import {alias.name}")
            elif isinstance(node, ast.Import):
                bad += [f"{name}:{node.lineno} import {a.name}" for a in node.names if a.name.startswith("jacobians")]
    assert bad == [], bad


def test_strided_ledger_geometries_leave_a_remainder_in_each_axis_separately():
    from jacobians.ledger._tools import geometries, pad_sides

    remainders = set()
    for g in geometries(stride=">1"):
        pt, pb, pl, pr = pad_sides(g["padding"])
        rh = (g["h"] + pt + pb - (g["kh"] - 1) - 1) % g["stride"]
        rw = (g["w"] + pl + pr - (g["kw"] - 1) - 1) % g["stride"]
        remainders.add((rh != 0, rw != 0))
    assert {(True, False), (False, True), (True, True)} <= remainders
