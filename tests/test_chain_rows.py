"""Selected rows built directly: conv2d_input_rows and chains that build only the rows a selection keeps.

Routes: the row builder against the full builder's matrix indexed by scipy
(``J[rows]``); the chain conv → ReLU → max-pool built through ``rows=``
against scipy's general sparse products of the full matrices.
"""
import numpy as np
import pytest
import scipy.sparse as sp

from jacobians import conv2d, conv2d_input_jacobian, max_pool2d_jacobian, relu, relu_jacobian
from jacobians.chain import Chain, Link
from jacobians.stream import conv2d_input_rows

GEOMETRIES = [
    # (C_in, H, W, C_out, kh, kw, stride, padding, dilation, groups)
    (2, 5, 6, 4, 3, 3, 1, 1, 1, 1),
    (4, 7, 5, 6, 3, 2, 2, (1, 2), 2, 2),
    (3, 8, 8, 3, 2, 2, 3, 0, 1, 3),
    (1, 4, 4, 2, 5, 5, 1, 3, 1, 1),  # taps beyond both borders
    (2, 6, 9, 2, 3, 3, (2, 1), (0, 1, 2, 0), (1, 3), 1),  # padding per side
]


@pytest.mark.parametrize("geom", GEOMETRIES)
def test_rows_equal_scipy_row_indexing_of_the_full_matrix(geom):
    c_in, h, w_, c_out, kh, kw, stride, padding, dilation, groups = geom
    rng = np.random.default_rng(len(str(geom)))
    weight = rng.standard_normal((c_out, c_in // groups, kh, kw))
    full = conv2d_input_jacobian(weight, (c_in, h, w_), stride, padding, dilation, groups)
    for rows in (rng.integers(0, full.shape[0], 40), np.arange(full.shape[0])[::-1], np.array([], dtype=np.int64)):
        got = conv2d_input_rows(weight, (c_in, h, w_), rows, stride, padding, dilation, groups)
        ref = full[rows] if rows.size else sp.csr_array((0, full.shape[1]))
        assert got.shape == ref.shape
        np.testing.assert_array_equal(got.indptr, ref.indptr)
        np.testing.assert_array_equal(got.indices, ref.indices)
        np.testing.assert_array_equal(got.data, ref.data)


def test_rows_float32_and_bad_rows():
    weight = np.ones((2, 1, 3, 3))
    got = conv2d_input_rows(weight, (1, 4, 4), np.array([0, 5]), padding=1, dtype=np.float32)
    assert got.dtype == np.float32
    with pytest.raises(ValueError, match=r"^rows: every index must lie in 0\.\.31"):
        conv2d_input_rows(weight, (1, 4, 4), np.array([32]), padding=1)
    with pytest.raises(ValueError, match=r"^rows: must be a 1-D integer array"):
        conv2d_input_rows(weight, (1, 4, 4), np.array([[0]]), padding=1)


@pytest.mark.parametrize("padding", [0, 1])
def test_chain_builds_only_selected_conv_rows(padding):
    rng = np.random.default_rng(3 + padding)
    x = rng.standard_normal((3, 8, 8))
    w = rng.standard_normal((4, 3, 3, 3))
    s = conv2d(x, w, padding=padding)
    mask, pool = relu_jacobian(s), max_pool2d_jacobian(relu(s), 2)
    full = conv2d_input_jacobian(w, x.shape, padding=padding)
    asked = []

    def rows(r):
        asked.append(r.copy())
        return conv2d_input_rows(w, x.shape, r, padding=padding)

    def never():
        raise AssertionError("the full conv Jacobian was built")

    conv = Link("conv", build=never, rows=rows, in_size=full.shape[1], out_size=full.shape[0])
    got = Chain([conv, Link("relu", mask), Link("pool", pool)]).jacobian()
    expected = (pool @ (mask @ full)).toarray()
    np.testing.assert_allclose(got.toarray(), expected, rtol=1e-14, atol=1e-14)
    assert len(asked) == 1 and asked[0].size <= pool.shape[0]  # only pooled, ReLU-on rows
    assert not np.any(got.data == 0) or np.any(w == 0)


def test_rows_link_after_a_general_product_and_without_selection():
    rng = np.random.default_rng(9)
    w = rng.standard_normal((2, 1, 3, 3))
    full = conv2d_input_jacobian(w, (1, 5, 5), padding=1)
    first = sp.random_array((25, 7), density=0.4, format="csr", rng=rng)
    sel = sp.csr_array((rng.standard_normal(10), rng.integers(0, 50, 10), np.arange(11)), shape=(10, 50))

    def link():
        return Link("conv", build=lambda: full, rows=lambda r: conv2d_input_rows(w, (1, 5, 5), r, padding=1),
                    in_size=25, out_size=50)

    got = Chain([Link("first", first), link(), Link("sel", sel)]).jacobian()
    np.testing.assert_allclose(got.toarray(), (sel @ (full @ first)).toarray(), rtol=1e-13, atol=1e-13)
    alone = Chain([Link("first", first), link()]).jacobian()  # no selection follows: the full build
    np.testing.assert_allclose(alone.toarray(), (full @ first).toarray(), rtol=1e-13, atol=1e-13)


def test_link_rows_must_be_callable():
    with pytest.raises(TypeError, match="^rows: must be a callable"):
        Link("conv", build=lambda: None, rows=3, in_size=1, out_size=1)


def test_a_nested_chain_after_a_rows_link_is_built_once():
    rng = np.random.default_rng(4)
    w = rng.standard_normal((2, 1, 3, 3))
    full = conv2d_input_jacobian(w, (1, 5, 5), padding=1)
    general = sp.random_array((6, 50), density=0.3, format="csr", rng=rng)
    calls = []

    def build():
        calls.append(1)
        return general

    nested = Chain([Link("g", build=build, in_size=50, out_size=6)])
    product = nested.jacobian

    def counted():  # a Chain recomputes its product on every call: count the calls
        calls.append(2)
        return product()

    nested.jacobian = counted
    conv = Link("conv", build=lambda: full, rows=lambda r: conv2d_input_rows(w, (1, 5, 5), r, padding=1),
                in_size=25, out_size=50)
    got = Chain([conv, nested]).jacobian()
    np.testing.assert_allclose(got.toarray(), (general @ full).toarray(), rtol=1e-13, atol=1e-13)
    assert calls.count(2) == 1 and calls.count(1) == 1
