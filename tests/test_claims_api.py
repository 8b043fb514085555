"""The public claims API (jacobians.claims): evidence and its route kinds, the route-kind rule,
the taxonomy, user claim files, and the reference routes checked against loops written from
the convolution formula."""
from __future__ import annotations

import os

import numpy as np
import pytest

from _conv_loops import conv_loops  # loops from the formula (tests/_conv_loops.py)
from jacobians import claims as C
from jacobians.claims import Evidence, claim, collect_claims, load_claim_files, reference_jacobian, reference_vjp


# ---------------------------------------------------------------------------
# evidence, kinds, verdicts
# ---------------------------------------------------------------------------
def test_default_kinds_follow_the_route_name_and_explicit_kinds_are_kept():
    ev = Evidence()
    ev.written("explicit", 1.0, 1.0)
    ev.written("symbolic", 2, 2)
    ev.written("mine", 3.0, 3.0, kinds=("package", "exact"))
    assert [c.kinds for c in ev.comparisons] == [("formula", "package"), ("formula", "sympy"), ("package", "exact")]


@pytest.mark.parametrize("kinds", [("formula",), "fd", ("formula", "numpy"), ("a", "b", "c")])
def test_bad_kinds_are_refused_in_one_line(kinds):
    with pytest.raises(ValueError, match=r"^kinds: "):
        Evidence().written("fd", 1.0, 1.0, kinds=kinds)


def test_same_route_on_several_geometries_keeps_the_largest_error():
    ev = Evidence()
    ev.written("fd", [1.0], [1.0])
    ev.written("fd", [1.0], [1.5])
    ev.written("fd", [1.0], [1.0])
    assert ev.errors["written"]["fd"] == pytest.approx(1 / 3)
    assert len(ev.comparisons) == 1 and not ev.comparisons[0].ok
    got, want, err, context = ev.failing_values[("written", "fd")]
    assert want == [1.5] and err == pytest.approx(1 / 3)


def _claim_set(checks: dict, **extra):
    with collect_claims() as reg:
        for cid, (expected, check) in checks.items():
            claim(cid, location="-", statement="-", convention="-", routes=("x", "y"), expected=expected,
                  correction="fixed" if expected != "holds" else None, **extra.get(cid, {}))(check)
    return reg


def test_gap_declared_explicitly_gives_completes_and_a_gap_that_also_compares_is_an_error():
    def declared(ev):
        ev.gap("the note never states the bias gradient")
        ev.corrected("fd", 1.0, 1.0)

    def contradictory(ev):
        ev.gap("nothing stated")
        ev.written("fd", 1.0, 1.0)

    reg = _claim_set({"t.gap": ("completes", declared), "t.bad-gap": ("completes", contradictory)})
    r = reg["t.gap"].run()
    assert r.verdict == "completes" and r.as_dict()["gap"] == "the note never states the bias gradient"
    r = reg["t.bad-gap"].run()
    assert r.verdict == "error" and "gap" in r.error


def test_claims_outside_collect_do_not_leak_into_the_bundled_registry():
    reg = _claim_set({"anything.at-all": ("holds", lambda ev: ev.written("fd", 1.0, 1.0))})
    assert "anything.at-all" in reg and "anything.at-all" not in C.CLAIMS
    assert reg["anything.at-all"].note == "anything"
    with pytest.raises(ValueError, match="defined twice"):
        with collect_claims(reg):
            claim("anything.at-all", location="-", statement="-", convention="-", routes=("fd",), expected="holds")(
                lambda ev: None
            )


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"kind": "typo"}, r"^kind: must be one of erratum, slip, gap, extraction"),
        ({"kind": "extraction"}, r"^reading: "),
        ({"reading": "literal: p - pp^T"}, r"^reading: "),
    ],
)
def test_taxonomy_is_validated(extra, message):
    with pytest.raises(ValueError, match=message):
        _claim_set({"t.x": ("holds-corrected", lambda ev: None)}, **{"t.x": extra})


def test_erratum_kind_cannot_label_a_holds_claim_and_is_reported():
    with pytest.raises(ValueError, match=r"^kind: claim t.x expects holds"):
        _claim_set({"t.x": ("holds", lambda ev: None)}, **{"t.x": {"kind": "erratum"}})

    def check(ev):
        ev.written("fd", 1.0, 2.0)
        ev.corrected("fd", 2.0, 2.0)

    reg = _claim_set(
        {"t.e": ("holds-corrected", check)}, **{"t.e": {"kind": "extraction", "reading": "literal p − ppᵀ: a lost bracket"}}
    )
    d = reg["t.e"].run().as_dict()
    assert d["verdict"] == "holds-corrected" and d["kind"] == "extraction" and d["reading"].startswith("literal")


def test_torch_route_is_skipped_and_said_so_when_torch_is_missing(monkeypatch):
    monkeypatch.setitem(C._OPTIONAL_OK, "torch", False)
    called = []
    reg = _claim_set(
        {"t.t": ("holds", lambda ev: (ev.written("torch", lambda: called.append(1) or 1.0, 1.0), ev.written("fd", 1.0, 1.0)))}
    )
    r = reg["t.t"].run()
    assert r.verdict == "holds" and not called
    assert r.skipped == {"torch": "torch is not installed"} and "torch" not in r.written_errors


# ---------------------------------------------------------------------------
# the route-kind rule
# ---------------------------------------------------------------------------
def test_route_kind_rule_catches_the_violators_of_a_synthetic_set(monkeypatch):
    def strong(ev):  # formula vs fd and formula vs sympy: two kinds of evidence, no torch needed
        ev.written("fd", 1.0, 1.0)
        ev.written("symbolic", 1, 1)

    def package_only(ev):  # package vs package, twice: cannot fail on a shared bug
        ev.written("explicit", 1.0, 1.0, kinds=("package", "package"))
        ev.written("vjp", 1.0, 1.0, kinds=("package", "package"))

    def torch_dependent(ev):  # two kinds only with torch
        ev.written("fd", 1.0, 1.0)
        ev.written("torch", 1.0, 1.0)

    def same_pair_twice(ev):  # two routes, but the same kind of evidence
        ev.written("fd", 1.0, 1.0)
        ev.written("fd:other-geometry", 1.0, 1.0)

    def shape_only(ev):  # the second comparison checks no value
        ev.written("fd", 1.0, 1.0)
        ev.written("shape", (2, 3), (2, 3), value=False)

    def corrected_weak(ev):  # holds-corrected: the corrected form decides, and has one kind pair
        ev.written("fd", 1.0, 2.0)
        ev.written("symbolic", 1, 2)
        ev.corrected("fd", 2.0, 2.0)

    reg = _claim_set(
        {
            "s.strong": ("holds", strong),
            "s.package-only": ("holds", package_only),
            "s.torch-dependent": ("holds", torch_dependent),
            "s.same-pair-twice": ("holds", same_pair_twice),
            "s.shape-only": ("holds", shape_only),
            "s.corrected-weak": ("holds-corrected", corrected_weak),
        }
    )
    for torch_installed in (True, False):  # the rule reads declared kinds, so torch's absence changes nothing
        monkeypatch.setitem(C._OPTIONAL_OK, "torch", torch_installed)
        found = dict(C.route_kind_violations(reg.values()))
        assert set(found) == set(reg) - {"s.strong"}, found
        assert "without torch" in found["s.torch-dependent"]
        assert "package/package" in found["s.package-only"]


# ---------------------------------------------------------------------------
# user claim files
# ---------------------------------------------------------------------------
GOOD = '''
import numpy as np
from jacobians.claims import claim, reference_jacobian

@claim("hw.relu", location="eq 1", statement="relu Jacobian is diag(z > 0)", convention="canonical",
       routes=("explicit", "fd"), expected="holds")
def _(ev):
    z = np.array([-1.0, 0.5, 2.0])
    mine = np.diag((z > 0).astype(float))
    ev.written("explicit", mine, reference_jacobian("relu", "z", z=z))
    ev.written("fd", mine, reference_jacobian("relu", "z", route="fd", z=z))
'''


def test_load_claim_files_runs_a_users_file(tmp_path):
    f = tmp_path / "mine.py"
    f.write_text(GOOD)
    reg = load_claim_files([str(f)])
    assert list(reg) == ["hw.relu"] and reg["hw.relu"].source == str(f)
    assert reg["hw.relu"].run().verdict == "holds"
    assert "hw.relu" not in C.CLAIMS


@pytest.mark.parametrize(
    "text, message",
    [
        ("def broken(:\n", r"syntax error at line 1"),
        ("import no_such_module_xyz\n", r"import failed: ModuleNotFoundError: No module named 'no_such_module_xyz'"),
        ("x = 1\ny = 1 / 0\n", r"raised ZeroDivisionError at line 2: division by zero"),
        ("x = 1\n", r"defines no claim"),
        (GOOD + GOOD, r"claim id 'hw.relu' is defined twice"),
        (GOOD.replace('expected="holds"', 'expected="true"'), r"expected: must be one of"),
    ],
)
def test_bad_claim_files_give_one_line_naming_the_file(tmp_path, text, message):
    f = tmp_path / "bad.py"
    f.write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        load_claim_files([str(f)])
    assert str(info.value).startswith(str(f) + ": ") and "\n" not in str(info.value)


def test_claim_files_must_be_regular_python_files(tmp_path):
    with pytest.raises(ValueError, match="cannot read"):
        load_claim_files([str(tmp_path / "missing.py")])
    with pytest.raises(ValueError, match="not a regular file"):
        load_claim_files([str(tmp_path)])
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "pipe.py"
        os.mkfifo(fifo)
        with pytest.raises(ValueError, match="not a regular file"):  # and does not block on open
            load_claim_files([str(fifo)])
    txt = tmp_path / "claims.txt"
    txt.write_text(GOOD)
    with pytest.raises(ValueError, match=r"must be a Python file ending in \.py"):
        load_claim_files([str(txt)])


def test_select_accepts_note_numbers_and_suggests_full_ids():
    from jacobians.ledger import select

    by_number = select(note="004")
    assert by_number and {c.note for c in by_number} == {"dd2424"}
    assert [c.id for c in select(note="4")] == [c.id for c in by_number]
    with pytest.raises(ValueError, match=r"did you mean 'dd2424.softmax-ce-gradient'"):
        select(claim_id="softmax-ce-gradient")
    with pytest.raises(ValueError, match=r"^--note: unknown note '009'"):
        select(note="009")


# ---------------------------------------------------------------------------
# reference routes, against loops written from the formula
# y[o, i, j] = Σ_{c,p,q} w[o, c, p, q] · x[c, i·s + p, j·s + q]   (no padding)
# ---------------------------------------------------------------------------
def _conv_loops_jacobians(x, w, s):
    return conv_loops(x, w, s)


GEOMETRIES = [((1, 3, 3), (1, 1, 2, 2), 1), ((2, 5, 4), (3, 2, 2, 3), 1), ((2, 7, 6), (2, 2, 3, 2), 2)]


@pytest.mark.parametrize("x_shape, w_shape, s", GEOMETRIES)
@pytest.mark.parametrize("wrt", ["x", "weight"])
def test_reference_jacobian_every_route_matches_loops(x_shape, w_shape, s, wrt):
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    Jx, Jw, _ = _conv_loops_jacobians(x, w, s)
    want = Jx if wrt == "x" else Jw
    routes = C.reference_routes("conv2d", wrt)
    assert {"explicit", "fd"} <= set(routes) and any(r.startswith("vjp:") for r in routes)
    for route in routes:
        got = reference_jacobian("conv2d", wrt, route=route, x=x, weight=w, stride=s)
        got = got.toarray() if hasattr(got, "toarray") else got
        tol = 1e-7 if route == "fd" else 1e-12  # fd: h = 1e-6 on a bilinear map, rounding ≈ 1e-10 · max|J|
        np.testing.assert_allclose(got, want, atol=tol * max(1.0, np.abs(want).max()), rtol=0, err_msg=route)


def test_reference_jacobian_in_a_column_major_preset_matches_loops_with_fortran_indices():
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 4, 5)), rng.standard_normal((3, 2, 2, 2))
    Jx, _, (O, OH, OW) = _conv_loops_jacobians(x, w, 1)
    C_in, H, W = x.shape
    # "matlab": planes stacked, each plane column by column: entry (c, h, w) sits at c·H·W + w·H + h
    rows = [o * OH * OW + j * OH + i for o in range(O) for i in range(OH) for j in range(OW)]
    cols = [c * H * W + q * H + p for c in range(C_in) for p in range(H) for q in range(W)]
    want = np.zeros_like(Jx)
    want[np.ix_(rows, cols)] = Jx  # canonical row r (C order) moves to rows[r], likewise columns
    for route in ("explicit", "fd"):
        got = reference_jacobian("conv2d", "x", route=route, convention="matlab", x=x, weight=w)
        got = got.toarray() if hasattr(got, "toarray") else got
        np.testing.assert_allclose(got, want, atol=1e-8, rtol=0, err_msg=route)
    from jacobians.conventions import Convention

    den = reference_jacobian("conv2d", "x", route="fd", convention=Convention(layout="denominator"), x=x, weight=w)
    np.testing.assert_allclose(den, Jx.T, atol=1e-8, rtol=0)  # denominator layout: the transpose


@pytest.mark.parametrize("x_shape, w_shape, s", GEOMETRIES)
def test_reference_vjp_every_route_matches_loops(x_shape, w_shape, s):
    rng = np.random.default_rng(11)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    Jx, _, out_shape = _conv_loops_jacobians(x, w, s)
    g = rng.standard_normal(out_shape)
    want = (Jx.T @ g.ravel()).reshape(x.shape)
    for route in C.reference_routes("conv2d", "x"):
        got = reference_vjp("conv2d", g, "x", route=route, x=x, weight=w, stride=s)
        np.testing.assert_allclose(got, want, atol=1e-7 if route == "fd" else 1e-12, rtol=0, err_msg=route)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: reference_jacobian("conv2d", "input", x=np.ones((1, 3, 3)), weight=np.ones((1, 1, 2, 2))), r"^wrt: conv2d has Jacobians w.r.t. x, weight, bias"),
        (lambda: reference_jacobian("conv2d", "x", route="magic", x=np.ones((1, 3, 3)), weight=np.ones((1, 1, 2, 2))), r"^route: conv2d w.r.t. x offers explicit"),
        (lambda: reference_jacobian("conv2d", "x", x=np.ones((1, 3, 3)), weight=np.ones((1, 1, 2, 2)), strides=2), r"^reference_jacobian: conv2d\(.*unexpected keyword argument 'strides'"),
        (lambda: reference_jacobian("conv2d", "weight", weight=np.ones((1, 1, 2, 2))), r"^reference_jacobian: conv2d\(.*missing"),
        (lambda: reference_jacobian("conv2d", "x", route="fd", x=np.ones((1, 60, 60)), weight=np.ones((1, 1, 3, 3))), r"^route: 'fd' builds a dense 3364×3600 matrix"),
        (lambda: reference_vjp("relu", np.ones(3), "z", z=np.ones(2)), r"^g: must have the output's 2 entries"),
        (lambda: reference_jacobian("relu", "z", convention="colmajor", z=np.ones(2)), r"^convention: unknown preset 'colmajor'"),
    ],
)
def test_reference_routes_refuse_bad_calls_in_one_line(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("module_name", ["jacobians.claims", "jacobians.compare"])
def test_docstring_examples_run(module_name):
    import doctest
    import importlib

    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 5 and result.failed == 0


def test_fd_and_torch_helpers_match_a_hand_derivative():
    """f(v) = (v0·v1, sin v1): J = [[v1, v0], [0, cos v1]], written by hand."""
    v = np.array([0.7, -1.3])
    want = np.array([[v[1], v[0]], [0.0, np.cos(v[1])]])
    got = C.fd_jacobian(lambda a: np.array([a[0] * a[1], np.sin(a[1])]), v)
    np.testing.assert_allclose(got, want, atol=1e-9, rtol=0)
    np.testing.assert_allclose(C.fd_gradient(lambda a: a[0] * a[1], v), [v[1], v[0]], atol=1e-9, rtol=0)
    torch = pytest.importorskip("torch")
    np.testing.assert_allclose(C.torch_jacobian(lambda t: torch.stack([t[0] * t[1], torch.sin(t[1])]), v), want, atol=1e-15, rtol=0)
    np.testing.assert_allclose(C.torch_gradient(lambda t: t[0] * t[1], v), [v[1], v[0]], atol=1e-15, rtol=0)
