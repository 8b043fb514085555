"""The shared rules every builder follows (jacobians.ops._sparse): dtype, batch, memory guard, CSR validation.

Routes: scipy.sparse's own block_diag / vstack / kron (a different code path)
against our direct CSR fills; hand-corrupted CSR arrays against the validator.
"""
import numpy as np
import pytest
import scipy.sparse as sp

from jacobians.check import check_operator
from jacobians.ops._sparse import (
    CSRBuildError,
    OperatorTooLargeError,
    block_diag_csr,
    block_diag_repeat,
    check_budget,
    csr_from_arrays,
    exact_size,
    resolve_dtype,
    validate_csr,
    vstack_csr,
)
from jacobians.registry import Case, load_all, register


def _random_csr(rng, shape, density=0.4):
    return sp.random_array(shape, density=density, format="csr", rng=rng)


# --- dtype rule ---------------------------------------------------------------
@pytest.mark.parametrize(
    "arrays,want",
    [
        ((np.ones(2, np.float32),), np.float32),
        ((np.ones(2, np.float32), np.ones(2, np.float32)), np.float32),
        ((np.ones(2, np.float32), np.ones(2)), np.float64),
        ((np.ones(2, np.int64),), np.float64),
        ((np.ones(2, bool),), np.float64),
        ((np.ones(2, np.float32), np.ones(2, np.int8)), np.float64),
        ((), np.float64),
    ],
)
def test_dtype_rule_default(arrays, want):
    assert resolve_dtype(None, *arrays) == np.dtype(want)


@pytest.mark.parametrize("bad", [np.int64, np.int8, bool, np.complex128, "U3", "not-a-dtype"])
def test_dtype_rule_refuses_non_float(bad):
    with pytest.raises(TypeError, match=r"^dtype: must be a floating dtype"):
        resolve_dtype(bad)


def test_dtype_rule_explicit_float_wins():
    assert resolve_dtype(np.float32, np.ones(2)) == np.float32
    assert resolve_dtype("float64", np.ones(2, np.float32)) == np.float64


# --- memory guard on exact integers ---------------------------------------------
def test_exact_size_does_not_overflow():
    shape = (2**40, 2**40, 3)
    assert exact_size(shape) == 3 * 2**80
    assert int(np.prod(np.array(shape, dtype=np.int64))) != exact_size(shape)  # numpy wraps around


def test_budget_refuses_huge_counts_given_as_numpy_ints():
    with pytest.raises(OperatorTooLargeError, match=r"^max_bytes: "):
        check_budget("x", np.int64(2**62), (np.int64(2**62), 10))
    with pytest.raises(OperatorTooLargeError):
        check_budget("x", 2**70, (2**70, 2**70))
    check_budget("x", 10, (10, 10), max_bytes=10**6)


# --- CSR validation: every corruption caught ------------------------------------
def _good():
    indptr = np.array([0, 2, 2, 3], dtype=np.int32)
    indices = np.array([0, 3, 1], dtype=np.int32)
    return indptr, indices, np.array([1.0, 2.0, 3.0])


def test_validate_accepts_good_csr():
    indptr, indices, data = _good()
    validate_csr(indptr, indices, data.size, (3, 4))
    assert csr_from_arrays(data, indices, indptr, (3, 4)).toarray()[0, 3] == 2.0


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda p, i, d: (p, np.array([0, 4, 1], np.int32), d), "column index 4 outside"),
        (lambda p, i, d: (p, np.array([0, -1, 1], np.int32), d), "column index -1 outside"),
        (lambda p, i, d: (np.array([0, 2, 1, 3], np.int32), i, d), "indptr decreases"),
        (lambda p, i, d: (np.array([1, 2, 2, 3], np.int32), i, d), "indptr runs from 1"),
        (lambda p, i, d: (np.array([0, 2, 2, 4], np.int32), i, d), "indptr runs from 0 to 4"),
        (lambda p, i, d: (np.array([0, 2, 3], np.int32), i, d), "indptr has 3 entries"),
        (lambda p, i, d: (p, i, d[:2]), "2 values for 3"),
    ],
)
def test_validate_catches_corruption(mutate, message):
    indptr, indices, data = mutate(*_good())
    with pytest.raises(CSRBuildError, match=message):
        csr_from_arrays(data, indices, indptr, (3, 4))


def test_validate_int64_indices_beyond_int32():
    indptr = np.array([0, 1], dtype=np.int64)
    with pytest.raises(CSRBuildError, match="outside"):
        validate_csr(indptr, np.array([2**40], dtype=np.int64), 1, (1, 2**33))
    validate_csr(indptr, np.array([2**32], dtype=np.int64), 1, (1, 2**33))


# --- batch rule: our direct fills vs scipy's own constructions --------------------
@pytest.mark.parametrize("n", [1, 2, 5])
@pytest.mark.parametrize("shape", [(3, 4), (1, 1), (4, 2)])
def test_block_diag_repeat_equals_scipy_kron(n, shape):
    block = _random_csr(np.random.default_rng(n), shape)
    got = block_diag_repeat(block, n)
    want = sp.kron(sp.eye_array(n), block).toarray()
    np.testing.assert_array_equal(got.toarray(), want)


def test_block_diag_and_vstack_equal_scipy():
    rng = np.random.default_rng(3)
    blocks = [_random_csr(rng, (3, 4)) for _ in range(3)] + [sp.csr_array((2, 4))]
    np.testing.assert_array_equal(block_diag_csr(blocks).toarray(), sp.block_diag(blocks).toarray())
    np.testing.assert_array_equal(vstack_csr(blocks).toarray(), sp.vstack(blocks).toarray())
    with pytest.raises(CSRBuildError, match="different column counts"):
        vstack_csr([sp.csr_array((1, 2)), sp.csr_array((1, 3))])


def test_block_diag_repeat_preserves_float32():
    block = sp.csr_array(np.array([[1.0, 0.0], [2.0, 3.0]], dtype=np.float32))
    assert block_diag_repeat(block, 3).dtype == np.float32


# --- the generic check's independent reference catches a shared row flip ---------
def _flip_forward(x):  # "reverse": y[i] = x[n-1-i] ... with a planted bug: identity
    return np.asarray(x, dtype=np.float64).copy()


def _flip_jacobian(x):
    return sp.eye_array(np.size(x), format="csr")


def _flip_vjp(g, x):
    return np.asarray(g, dtype=np.float64).copy()


def _flip_reference(x):  # loops from the definition y[i] = x[n − 1 − i]
    x = np.asarray(x, dtype=np.float64)
    return np.array([x[x.size - 1 - i] for i in range(x.size)])


def test_reference_route_catches_a_bug_shared_by_all_other_faces():
    local = {}
    cases = lambda: [Case({"x": np.arange(5.0)}, {}, "n5")]  # noqa: E731
    kw = dict(summary="reverse", forward=_flip_forward, jacobian={"x": _flip_jacobian},
              vjp={"x": {"copy": _flip_vjp}}, cases=cases, affine_in=("x",), registry=local)
    without = register("flip", **kw)
    assert check_operator(without, cases()[0], use_torch=False).ok  # every other face agrees with the bug
    local.clear()
    with_ref = register("flip", reference=_flip_reference, **kw)
    report = check_operator(with_ref, cases()[0], use_torch=False)
    assert [r.route for r in report.failures] == ["reference"]


def test_every_registered_operator_has_an_independent_reference():
    missing = sorted(name for name, spec in load_all().items() if spec.reference is None)
    assert not missing, f"operators without an independent reference forward: {missing}"


def test_references_do_not_call_the_package_forwards():
    import ast
    import inspect

    from jacobians.ops import _references

    tree = ast.parse(inspect.getsource(_references))
    imported = {a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for a in node.names}
    assert imported <= {"annotations", "get_convention"}, imported  # only the preset lookup (its fields, not its vec code)


def _perturbed(forward):
    """The forward with a bug every other face would share: output entries reversed (or scaled when alone)."""

    def wrong(**kw):
        y = np.array(forward(**kw), dtype=np.float64)
        flat = y.reshape(-1)
        if flat.size > 1 and not np.all(flat == flat[0]):
            return flat[::-1].reshape(y.shape)
        return y * 1.001 + 1e-3

    return wrong


@pytest.mark.parametrize("name", sorted(load_all()))
def test_reference_route_fails_when_the_forward_is_wrong(name):
    import dataclasses

    spec = load_all()[name]
    case = next(iter(c for c in spec.cases() if np.asarray(spec.forward(**c.inputs, **c.params)).size > 1), None)
    case = case or next(iter(spec.cases()))
    broken = dataclasses.replace(spec, forward=_perturbed(spec.forward), jacobian={}, vjp={})
    report = check_operator(broken, case, use_torch=False)
    assert [r.route for r in report.failures] == ["reference"], report
    # and the unbroken operator passes the same route
    assert check_operator(dataclasses.replace(spec, jacobian={}, vjp={}), case, use_torch=False).ok


def test_reference_catches_padding_sides_swapped_in_the_shared_geometry(monkeypatch):
    """Issue #11's planted bug: a geometry bug shared by the forward, the Jacobian and the VJPs.

    Swapping the top/bottom and left/right padding inside Conv2dGeometry moves every
    face the same way; only the independent reference (and torch) can see it.
    """
    import jacobians.geometry as geometry
    from jacobians.registry import get_operator

    spec = get_operator("conv2d")
    case = next(c for c in spec.cases() if c.params["padding"] == (0, 1, 2, 0))
    assert check_operator(spec, case, use_torch=False).ok
    original = geometry.as_padding

    def swapped(value, name="padding"):
        top, bottom, left, right = original(value, name)
        return (bottom, top, right, left)

    monkeypatch.setattr(geometry, "as_padding", swapped)
    report = check_operator(spec, case, use_torch=False)
    failed = {r.route for r in report.failures}
    assert "reference" in failed, report
    # probe, finite differences and the rot180 VJP agree with the bug: they share the geometry
    assert not failed & {"probe", "fd", "vjp:rot180", "dot:rot180"}, failed


def test_registered_forwards_require_their_inputs():
    """The registry contract forward(**inputs, **params): every input is a required parameter.

    The public conv2d, relu, … take PyTorch's ``input=`` too (so their first parameter has a
    default); callers that inspect the registered forward's signature must still see the inputs
    as required.
    """
    import inspect

    for name, spec in load_all().items():
        params = inspect.signature(spec.forward).parameters
        required = [p for p, v in params.items() if v.default is inspect.Parameter.empty]
        for wrt in spec.jacobian:
            if wrt != "bias":
                assert wrt in required, f"{name}: input {wrt!r} is not a required parameter of the registered forward"
