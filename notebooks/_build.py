"""Write the tutorial notebooks (without outputs) with nbformat.

    python notebooks/_build.py

The notebooks are kept in git without outputs; tests/test_notebooks.py
executes a temporary copy of each one, so every ``assert`` in them is a test.
Edit the cells here, not in the .ipynb files.
"""
from __future__ import annotations

import pathlib
import textwrap

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = pathlib.Path(__file__).resolve().parent


def md(text):
    return new_markdown_cell(textwrap.dedent(text).strip())


def code(text):
    return new_code_cell(textwrap.dedent(text).strip())


SETUP = code(
    """
    import numpy as np
    import scipy.sparse as sp
    import matplotlib.pyplot as plt
    import jacobians as jac
    from jacobians import sparsity as S

    plt.rcParams["figure.dpi"] = 60   # small inline images keep the notebooks light
    """
)

# ---------------------------------------------------------------------------
CONV = [
    md(
        """
        # 1. Convolution Jacobians: M_X^im and M_F^filter

        **What to look at:** the two spy plots side by side. Differentiating the
        same convolution with respect to the *weights* gives M_X^im, block diagonal
        over output channels (each block is the im2col matrix φ(I)); with respect to
        the *input* it gives M_F^filter, a band of shifted copies of the kernel that is
        doubly block-Toeplitz at stride 1 (DD2424 lecture 6). Then watch what stride,
        padding, dilation and groups do to the pattern, and check the nnz formula
        against the counts.
        """
    ),
    SETUP,
    md(
        """
        One geometry: 2 input channels of 6×6, 2 output channels, 3×3 kernels, stride 1,
        no padding. Rows are outputs (C_out·OH·OW = 32), columns are inputs, numerator layout.
        """
    ),
    code(
        """
        rng = np.random.default_rng(0)
        x = rng.standard_normal((2, 6, 6))
        w = rng.standard_normal((2, 2, 3, 3))
        M_X = jac.conv2d_weight_jacobian(x, w.shape)   # ∂vec(y)/∂vec(w)
        M_F = jac.conv2d_input_jacobian(w, x.shape)    # ∂vec(y)/∂vec(x)
        y = jac.conv2d(x, w)
        # both are exact linear maps of the convolution
        assert np.allclose(M_X @ w.ravel(), y.ravel()) and np.allclose(M_F @ x.ravel(), y.ravel())

        fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
        S.spy(M_X, ax=axes[0], blocks=(16, 18), title=f"M_X^im  {M_X.shape[0]}×{M_X.shape[1]}, nnz {M_X.nnz}")
        S.spy(M_F, ax=axes[1], blocks=(16, 36), title=f"M_F^filter  {M_F.shape[0]}×{M_F.shape[1]}, nnz {M_F.nnz}")
        plt.tight_layout()
        """
    ),
    md(
        """
        The red lines separate channel blocks. M_X^im is block diagonal: output channel
        o only depends on its own filter. Every block of M_F^filter (output channel o,
        input channel c) is block-Toeplitz with Toeplitz blocks of size OW × W.
        """
    ),
    code(
        """
        s_w = S.stats(M_X, blocks=(16, 18))
        s_x = S.stats(M_F, toeplitz_block=(4, 6), channel_grid=(16, 36))
        print(S.format_stats(s_w)); print(); print(S.format_stats(s_x))
        assert s_w["block_diagonal"]["holds"] and s_x["bttb"]["holds"]
        # both Jacobians have the same nonzeros: one per (output, in-bounds tap) pair
        assert M_X.nnz == M_F.nnz == 2 * 2 * 16 * 9
        """
    ),
    md(
        """
        **Column counts are the fold multiplicities.** Column c of M_F^filter counts how
        many outputs read input pixel c: during backprop the pixel's gradient is the sum
        over those windows (Wang 2019, the fold step). For a 3×3 kernel on 6 columns the
        per-axis counts are 1, 2, 3, 3, 2, 1; each pixel is also read by both output channels.
        """
    ),
    code(
        """
        counts = S.column_counts(M_F).reshape(2, 6, 6)
        per_axis = np.array([1, 2, 3, 3, 2, 1])
        assert (counts == 2 * np.outer(per_axis, per_axis)).all()
        counts[0]
        """
    ),
    md(
        """
        ## How the pattern changes

        Four variations of the same layer. Stride skips rows of the band, padding
        clips taps at the border (fewer nonzeros per row there), dilation spreads the
        taps apart, groups cut the channel blocks apart.
        """
    ),
    code(
        """
        variants = {
            "stride 2": dict(stride=2),
            "padding 1": dict(padding=1),
            "dilation 2": dict(dilation=2),
            "groups 2": dict(groups=2),
        }
        fig, axes = plt.subplots(1, 4, figsize=(16, 4))
        built = {}
        for ax, (label, p) in zip(axes, variants.items()):
            weight = rng.standard_normal((2, 2 // p.get("groups", 1), 3, 3))
            J = jac.conv2d_input_jacobian(weight, (2, 6, 6), **p)
            built[label] = (J, p)
            S.spy(J, ax=ax, title=f"{label}: {J.shape[0]}×{J.shape[1]}, nnz {J.nnz}")
        plt.tight_layout()
        """
    ),
    md(
        """
        **The nnz formula.** Each axis is independent: output row i reads the kernel rows a
        with 0 ≤ i·s − p_top + a·d < H. So nnz = C_out · (C_in/G) · Σ_i n_h(i) · Σ_j n_w(j),
        where n_h(i) counts those taps. Below the counts come from plain loops over output
        positions and taps, and are compared with the nonzeros actually stored.
        """
    ),
    code(
        """
        def taps_inside(n_out, size, k, s, d, before):
            return sum(1 for i in range(n_out) for a in range(k) if 0 <= i * s - before + a * d < size)

        for label, (J, p) in built.items():
            g = jac.Conv2dGeometry.from_shapes((2, 6, 6), (2, 2 // p.get("groups", 1), 3, 3), **p)
            oh, ow = g.out_hw
            formula = (g.out_channels * g.in_per_group
                       * taps_inside(oh, 6, 3, g.stride[0], g.dilation[0], g.padding[0])
                       * taps_inside(ow, 6, 3, g.stride[1], g.dilation[1], g.padding[2]))
            print(f"{label:11s} nnz = {J.nnz:4d}  formula = {formula:4d}  density = {S.density(J):.3f}")
            assert J.nnz == formula == S.conv2d_nnz(g)
        """
    ),
    md(
        """
        Toeplitz structure survives padding and dilation but not stride: at stride 2
        consecutive outputs jump two columns, so the blocks are no longer shifted copies
        along a diagonal. Groups make M_F^filter block diagonal over groups.
        """
    ),
    code(
        """
        for label, (J, p) in built.items():
            g = jac.Conv2dGeometry.from_shapes((2, 6, 6), (2, 2 // p.get("groups", 1), 3, 3), **p)
            oh, ow = g.out_hw
            s = S.stats(J, toeplitz_block=(ow, 6), channel_grid=(oh * ow, 36))
            print(f"{label:11s} BTTB per channel block: {s['bttb']['holds']}")
            assert s["bttb"]["holds"] == (g.stride == (1, 1))
        J_groups = built["groups 2"][0]
        assert S.is_block_diagonal(J_groups, 16, 36) and not S.is_block_diagonal(M_F, 16, 36)
        """
    ),
]

# ---------------------------------------------------------------------------
POOL = [
    md(
        """
        # 2. Pooling masks: max versus average

        **What to look at:** the max-pooling Jacobian is a 0/1 *selection* — one 1 per
        output row, in the column of the window's winner — while average pooling spreads
        1/(h·w) over the whole window, exactly like a depthwise convolution. The max mask
        depends on the values (and on the rules for padding and ties); the average does not.
        """
    ),
    SETUP,
    code(
        """
        rng = np.random.default_rng(1)
        x = rng.permutation(36).reshape(1, 6, 6).astype(float) - 18   # distinct values: no ties
        J_max = jac.max_pool2d_jacobian(x, kernel_size=2)
        J_avg = jac.avg_pool2d_jacobian(x.shape, kernel_size=2)
        fig, axes = plt.subplots(1, 2, figsize=(10, 3))
        S.spy(J_max, ax=axes[0], title=f"max 2×2: nnz {J_max.nnz}")
        S.spy(J_avg, ax=axes[1], title=f"average 2×2: nnz {J_avg.nnz}")
        plt.tight_layout()
        # a selection: one 1 per row, and applying it to x gives the pooled values
        assert (S.row_counts(J_max) == 1).all() and set(J_max.data) == {1.0}
        assert np.allclose(J_max @ x.ravel(), jac.max_pool2d(x, 2).ravel())
        # non-overlapping windows: every pixel feeds exactly one average, and at most one max
        assert (S.column_counts(J_avg) == 1).all() and S.column_counts(J_max).max() == 1
        """
    ),
    md(
        """
        ## Average pooling is a depthwise convolution

        Vardhan (2022) writes average pooling as a convolution with the constant kernel
        P = 1/(h·w). Build it that way — `conv2d_input_jacobian` with a 1/4 kernel and
        one group per channel — and compare with the pooling builder.
        """
    ),
    code(
        """
        x3 = rng.standard_normal((3, 6, 8))
        k, s, p = 3, 2, 1
        J_pool = jac.avg_pool2d_jacobian(x3.shape, kernel_size=k, stride=s, padding=p)
        J_conv = jac.conv2d_input_jacobian(np.full((3, 1, k, k), 1 / k**2), x3.shape, stride=s, padding=p, groups=3)
        assert abs(J_pool - J_conv).max() < 1e-15
        # with count_include_pad=False the border windows divide by fewer entries instead
        J_excl = jac.avg_pool2d_jacobian(x3.shape, kernel_size=k, stride=s, padding=p, count_include_pad=False)
        row_sums = np.asarray(J_excl.sum(axis=1)).ravel()
        assert np.allclose(row_sums, 1.0)          # a true average of the entries on the input
        print("row sums with padding counted:", np.unique(np.round(np.asarray(J_pool.sum(axis=1)).ravel(), 4)))
        """
    ),
    md(
        """
        ## Padding: does the padded value take part in the max?

        PyTorch pads with −∞, so the padding never wins. Vardhan (2022) pads with zeros
        that *do* take part (max{0, …}): where a window holds only negative numbers the
        winner is a padded zero, and that output row of the Jacobian is empty — the
        output does not depend on x there.
        """
    ),
    code(
        """
        xn = -np.abs(rng.standard_normal((1, 4, 4))) - 0.1     # all negative
        J_inf = jac.max_pool2d_jacobian(xn, kernel_size=2, stride=2, padding=1)
        J_zero = jac.max_pool2d_jacobian(xn, kernel_size=2, stride=2, padding=1, pad_value=0.0)
        y_zero = jac.max_pool2d(xn, 2, 2, 1, pad_value=0.0)
        fig, axes = plt.subplots(1, 2, figsize=(10, 3))
        S.spy(J_inf, ax=axes[0], title="pad −∞ (PyTorch)")
        S.spy(J_zero, ax=axes[1], title="pad 0 (Vardhan 2022)")
        plt.tight_layout()
        empty = S.row_counts(J_zero) == 0
        # exactly the windows that touch the padding (all but the centre one) are won by a padded zero
        assert (empty == (y_zero.ravel() == 0)).all() and empty.sum() == 8
        assert (S.row_counts(J_inf) == 1).all()
        assert np.allclose(J_zero @ xn.ravel(), y_zero.ravel())   # still exact: empty rows give the zeros
        """
    ),
    md(
        """
        ## Ties

        When several entries of a window share the maximum, a rule picks the one that
        receives the gradient. PyTorch takes the first in row-major window order; note
        001's window index i_pq runs column by column. On a constant image both rules pick
        the top-left entry (it comes first in both orders); they part ways when the tied
        maxima sit at the top-right and bottom-left of a window.
        """
    ),
    code(
        """
        flat = np.ones((1, 4, 4))
        J_row = jac.max_pool2d_jacobian(flat, kernel_size=2, ties="first")
        J_col = jac.max_pool2d_jacobian(flat, kernel_size=2, ties="first-colmajor")
        winners_row = J_row.indices.reshape(2, 2)
        winners_col = J_col.indices.reshape(2, 2)
        print("row-major rule picks", winners_row.tolist(), " column-major rule picks", winners_col.tolist())
        assert winners_row.tolist() == [[0, 2], [8, 10]]   # top-left of each window
        assert winners_col.tolist() == [[0, 2], [8, 10]]   # also top-left: first in column order too
        # the rules differ when the tie excludes the top-left entry
        x_tie = np.array([[[0., 5.], [5., 1.]]])
        assert jac.max_pool2d_jacobian(x_tie, 2, ties="first").indices.tolist() == [1]          # (0, 1) first row-major
        assert jac.max_pool2d_jacobian(x_tie, 2, ties="first-colmajor").indices.tolist() == [2] # (1, 0) first column-major
        """
    ),
    md(
        """
        ## Overlapping windows

        With kernel 3 and stride 2 the windows overlap: a pixel can feed several averages,
        and can win several maxima. Column counts show the overlap.
        """
    ),
    code(
        """
        x5 = rng.permutation(49).reshape(1, 7, 7).astype(float)
        J_max3 = jac.max_pool2d_jacobian(x5, kernel_size=3, stride=2)
        J_avg3 = jac.avg_pool2d_jacobian(x5.shape, kernel_size=3, stride=2)
        per_axis = np.array([1, 1, 2, 1, 2, 1, 1])     # windows start at 0, 2, 4 and span 3
        assert (S.column_counts(J_avg3).reshape(7, 7) == np.outer(per_axis, per_axis)).all()
        assert S.column_counts(J_max3).sum() == 9      # nine windows, one winner each
        fig, axes = plt.subplots(1, 2, figsize=(10, 3))
        S.spy(J_max3, ax=axes[0], title="max 3×3 stride 2")
        S.spy(J_avg3, ax=axes[1], title="average 3×3 stride 2")
        plt.tight_layout()
        """
    ),
]

# ---------------------------------------------------------------------------
CHAIN = [
    md(
        """
        # 3. A chained Jacobian and where its sparsity comes from

        **What to look at:** the factors of the chain conv → ReLU → conv from the two-layer
        network of DD2424 lecture 6, their product, and how the product's pattern is the
        composed receptive field minus what the ReLU switched off.
        """
    ),
    SETUP,
    code(
        """
        from jacobians.chain import Chain, Link
        from jacobians.networks import DD2424TwoConvNet

        net = DD2424TwoConvNet.sample(seed=0)
        v, f = net.values, net.forward()
        print({k: a.shape for k, a in v.items()})
        """
    ),
    md(
        """
        The three factors, in data-flow order: M_F^filter of the first layer, the ReLU's
        diagonal 0/1 matrix diag(Ind(vec(S⁽¹⁾) > 0)), and M_F^filter of the second layer.
        In numerator layout the chain rule multiplies them right to left.
        """
    ),
    code(
        """
        J1 = jac.conv2d_input_jacobian(v["F1"], v["X"].shape)
        D1 = jac.relu_jacobian(f["S1"])
        J2 = jac.conv2d_input_jacobian(v["F2"], f["X1"].shape)
        chain = Chain([Link("M_F1^filter", J1), Link("relu", D1), Link("M_F2^filter", J2)], name="X -> S2")
        J = chain.jacobian()
        fig, axes = plt.subplots(1, 4, figsize=(17, 4))
        for ax, (name, M) in zip(axes, [("M_F1^filter", J1), ("relu", D1), ("M_F2^filter", J2), ("product", J)]):
            S.spy(M, ax=ax, title=f"{name}: {M.shape[0]}×{M.shape[1]}, nnz {M.nnz}")
        plt.tight_layout()
        # the chain is the derivative of the composed forward: compare with a finite difference
        u = np.random.default_rng(1).standard_normal(v["X"].size)
        h = 1e-6
        def s2(X): return jac.conv2d(jac.relu(jac.conv2d(X, v["F1"], v["b1"])), v["F2"], v["b2"]).ravel()
        fd = (s2(v["X"] + h * u.reshape(v["X"].shape)) - s2(v["X"] - h * u.reshape(v["X"].shape))) / (2 * h)
        assert np.allclose(J @ u, fd, atol=1e-6)
        """
    ),
    md(
        """
        **Where the pattern comes from.** Without the ReLU, output (i, j) of the second
        layer reads a (2f − 1) × (2f − 1) patch of every input channel: two 3×3 windows
        compose into a 5×5 one. That structural product (0/1 patterns multiplied) is the
        largest pattern the chain can have. The ReLU removes the paths through switched-off
        units; with random values no other cancellation happens, so the pattern of the
        product equals the structural product *with* the ReLU's diagonal in between.
        """
    ),
    code(
        """
        def pattern(M):
            P = sp.csr_array(M, copy=True); P.data[:] = 1.0; return P

        full = pattern(J2) @ pattern(J1)                  # no ReLU: the composed receptive field
        f_ = 3
        assert (S.row_counts(full) == v["X"].shape[0] * (2 * f_ - 1) ** 2).all()   # 3 planes × 5 × 5
        with_relu = pattern(J2) @ pattern(D1) @ pattern(J1)
        J_nz = abs(J) > 1e-12
        assert ((J_nz != (with_relu > 0)).nnz == 0)       # same pattern, entry by entry
        print(f"receptive field only: nnz {full.nnz};  with the ReLU mask: nnz {with_relu.nnz};  "
              f"switched-off units: {int((f['S1'] <= 0).sum())} of {f['S1'].size}")
        assert with_relu.nnz <= full.nnz
        """
    ),
    md(
        """
        Many units are switched off, yet few entries vanish: an (output, input) pair
        is connected through every intermediate unit whose window contains the input
        and that lies in the output's window, and the entry is zero only when *all* of
        those paths pass through switched-off units. The counts below are the number of
        live paths per entry (the structural product counts paths).
        """
    ),
    code(
        """
        paths_all = full.data                      # paths per (output, input) pair without the ReLU
        paths_live = with_relu.data                # paths that survive the ReLU
        print("paths per entry without ReLU: max", int(paths_all.max()), "| surviving, median",
              float(np.median(paths_live)), "| entries lost:", full.nnz - with_relu.nnz)
        # an entry vanishes exactly when it has no live path
        lost = pattern(full) - pattern(with_relu)
        assert lost.min() >= 0 and int(lost.sum()) == full.nnz - with_relu.nnz
        """
    ),
    md(
        """
        ## The whole network

        The network's own explicit chains run all the way to the scalar loss. The gradient
        is the transposed row Jacobian; it must agree with efficient backprop (VJPs that
        never build a matrix).
        """
    ),
    code(
        """
        chains = net.explicit_chains()
        for link in chains["X"].links:
            print(f"{link.name:16s} {link.out_size:4d} × {link.in_size:4d}")
        explicit = net.explicit_gradients()
        backprop = net.backprop_gradients()
        for name in net.differentiable:
            scale = max(1.0, np.abs(backprop[name]).max())
            assert np.abs(explicit[name] - backprop[name]).max() <= 1e-10 * scale, name
        print("explicit chain == backprop for", ", ".join(net.differentiable))
        """
    ),
]

# ---------------------------------------------------------------------------
CONVENTIONS = [
    md(
        """
        # 4. Conventions: vec orders as permutations, and Xu (2020)'s Kronecker forms

        **What to look at:** changing from row-major to column-major vec is multiplication
        by a permutation matrix, so a Jacobian in another note's convention is P_out J P_inᵀ —
        same entries, rows and columns reordered. Then note 003's identities
        vec(O_f) = (I ⊗ φ(I)) vec(F_f) = (F_fᵀ ⊗ I) vec(φ(I)), built with `scipy.sparse.kron`,
        turn out to *be* the project's M_X^im and (after the im2col selection) M_F^filter.
        """
    ),
    SETUP,
    code(
        """
        A = np.arange(12.).reshape(3, 4)
        col = jac.get_convention("vardhan2022")           # column-major vec, channels stacked
        P = col.permutation(A.shape)
        assert np.array_equal(P @ A.ravel(), A.ravel(order="F"))   # row-major -> column-major
        assert (P @ P.T != sp.eye_array(12)).nnz == 0                # a permutation: Pᵀ = P⁻¹
        # the commutation matrix K: vec(Aᵀ) = K vec(A) with column-major vec
        K = jac.commutation_matrix(3, 4)
        assert np.array_equal(K @ A.ravel(order="F"), A.T.ravel(order="F"))
        plt.figure(figsize=(3, 3)); S.spy(P, ax=plt.gca(), title="row → column-major, 3×4")
        """
    ),
    md(
        """
        For a (C, H, W) image each plane is vectorised column by column and the planes are
        stacked. A Jacobian converts as P_out J P_inᵀ; check it against a Jacobian probed
        directly in column-major order through the forward.
        """
    ),
    code(
        """
        rng = np.random.default_rng(3)
        w = rng.standard_normal((2, 2, 2, 2)); x_shape = (2, 3, 4)
        J = jac.conv2d_input_jacobian(w, x_shape)
        y_shape = jac.conv2d(np.zeros(x_shape), w).shape
        J_col = col.jacobian(J, y_shape, x_shape)

        def vec_col(t):   # column-major within each plane, planes stacked
            return np.concatenate([plane.ravel(order="F") for plane in t.reshape(-1, *t.shape[-2:])])

        n = int(np.prod(x_shape)); J_probe = np.empty((J.shape[0], n))
        for k in range(n):  # column k: the output for the k-th column-major unit input
            e = np.zeros(n); e[k] = 1.0
            x_k = jac.unvec(e, x_shape, col)
            J_probe[:, k] = vec_col(jac.conv2d(x_k, w))
        assert np.allclose(J_col.toarray(), J_probe)
        fig, axes = plt.subplots(1, 2, figsize=(10, 3))
        S.spy(J, ax=axes[0], title="canonical (row-major)"); S.spy(J_col, ax=axes[1], title="vardhan2022 (column-major)")
        plt.tight_layout()
        """
    ),
    md(
        """
        ## Xu (2020): the Kronecker forms

        φ(I) is the im2col matrix (OH·OW rows, one per window; C·FH·FW columns) and
        F_f = F.reshape(FN, −1)ᵀ holds one filter per column, so O_f = φ(I) F_f. The identity
        vec(AXB) = (Bᵀ ⊗ A) vec(X) holds for *column-major* vec. With A = φ(I), X = F_f,
        B = I it gives (I ⊗ φ(I)); with A = I, X = φ(I), B = F_f it gives (F_fᵀ ⊗ I).
        """
    ),
    code(
        """
        C, H, W, FN, k = 2, 5, 5, 3, 3
        x = rng.standard_normal((C, H, W)); F = rng.standard_normal((FN, C, k, k))
        phi = jac.im2col(x, k)                       # (OH·OW, C·k·k)
        F_f = F.reshape(FN, -1).T                    # (C·k·k, FN)
        O_f = phi @ F_f
        m = phi.shape[0]
        kron_filter = sp.kron(sp.eye_array(FN), sp.csr_array(phi))       # I_FN ⊗ φ(I)
        kron_input = sp.kron(sp.csr_array(F_f.T), sp.eye_array(m))       # F_fᵀ ⊗ I
        vec = lambda M: M.ravel(order="F")
        assert np.allclose(kron_filter @ vec(F_f), vec(O_f))
        assert np.allclose(kron_input @ vec(phi), vec(O_f))
        # column-major vec(O_f) stacks the output channels, each row-major over positions:
        # that is exactly the canonical vec of y = conv2d(x, F)
        assert np.allclose(vec(O_f), jac.conv2d(x, F).ravel())
        """
    ),
    md(
        """
        **The same matrices as the project's builders.** Column-major vec(F_f) is the
        canonical (C-order) vec of the weight, so I ⊗ φ(I) *is* M_X^im, entry for entry.
        For the input, vec(φ(I)) must first be expressed through vec(I): the im2col Jacobian
        gives row-major vec(φ), and the commutation matrix turns it column-major. The
        product (F_fᵀ ⊗ I) Kᵀ ∂vec_row(φ)/∂vec(I) is M_F^filter.
        """
    ),
    code(
        """
        M_X = jac.conv2d_weight_jacobian(x, F.shape)
        assert abs(kron_filter - M_X).max() < 1e-14

        n_cols = phi.shape[1]
        K = jac.commutation_matrix(m, n_cols)        # vec_col(φᵀ) = K vec_col(φ), and vec_row(φ) = vec_col(φᵀ)
        dphi_row = jac.im2col_jacobian(x.shape, k)   # ∂ vec_row(φ) / ∂ vec(I), exact 0/1 selection
        M_F_kron = kron_input @ K.T @ dphi_row
        M_F = jac.conv2d_input_jacobian(F, x.shape)
        assert abs(M_F_kron - M_F).max() < 1e-12
        print("I ⊗ φ(I):", kron_filter.shape, "nnz", kron_filter.nnz, "| (F_fᵀ ⊗ I)·Kᵀ·∂φ/∂I:", M_F_kron.shape, "nnz", M_F_kron.nnz)
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        S.spy(kron_filter, ax=axes[0], blocks=(m, n_cols), title="I ⊗ φ(I) = M_X^im")
        S.spy(kron_input, ax=axes[1], blocks=(m, m), title="F_fᵀ ⊗ I  (on vec φ)")
        plt.tight_layout()
        """
    ),
    md(
        """
        The Kronecker form w.r.t. φ(I) is dense in blocks (every filter weight times an
        identity), with nnz = FN · C·k·k · OH·OW; the im2col selection then folds the copies
        of each pixel back together, and the product has the sparsity of M_F^filter.
        """
    ),
    code(
        """
        assert kron_input.nnz == FN * n_cols * m
        assert M_F_kron.nnz == M_F.nnz == FN * C * 9 * 9   # (3·3 taps in) × (3·3 positions) per channel pair
        """
    ),
]
# ---------------------------------------------------------------------------
LENET = [
    md(
        """
        # 7. LeNet-5 from PyTorch, layer by layer

        **What to look at:** a real `torch.nn.Module` traced with `torch.fx` into a chain of
        explicit sparse Jacobians, one per layer, each named by its module path. The
        convolutions are banded (M_F^filter), tanh is diagonal, average pooling is a
        sparse 1/4 stencil, the linear layers are dense blocks. The first conv–pool stage
        chained is again sparse: each of its outputs reads a 6×6 patch of the image
        (5×5 kernel, then 2×2 pooling). Everything is checked against `torch.func.jacrev`
        and autograd. This notebook needs PyTorch (`pip install torch==2.13.0`); the test
        skips it without.
        """
    ),
    SETUP,
    code(
        """
        import torch
        import torch.nn as nn

        class LeNet5(nn.Module):
            def __init__(self):
                super().__init__()
                self.features = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2),
                                              nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2))
                self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(400, 120), nn.Tanh(),
                                                nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, 10))

            def forward(self, x):
                return self.classifier(self.features(x))

        torch.manual_seed(0)
        net = LeNet5().double().eval()
        x = torch.randn(1, 1, 28, 28, dtype=torch.float64)
        tj = jac.from_torch(net, x)
        print(tj)
        print(tj.format_stats())
        """
    ),
    md(
        """
        ## Every layer's Jacobian

        Rows are the layer's outputs, columns its inputs (numerator layout, PyTorch's
        C-order vec). Titles give the shape and the number of stored entries.
        """
    ),
    code(
        """
        fig, axes = plt.subplots(3, 4, figsize=(16, 11))
        for ax, link in zip(axes.ravel(), tj.links):
            J = link.jacobian()
            S.spy(J, ax=ax, title=f"{link.name}: {J.shape[0]}×{J.shape[1]}, nnz {J.nnz}")
        plt.tight_layout()
        nnz = {link.name: link.jacobian().nnz for link in tj.links}
        assert nnz["features.1"] == 6 * 28 * 28                   # tanh: diagonal
        assert nnz["features.2"] == 6 * 14 * 14 * 4               # 2×2 average: four 1/4 per output
        assert nnz["classifier.1"] == 120 * 400                   # linear: dense
        """
    ),
    md(
        """
        ## The first conv–pool stage, chained

        `Chain(links[:3])` multiplies conv → tanh → pool in numerator layout. Each row of
        the product is one pooled output; it reads the union of four 5×5 windows, a 6×6
        patch of the (padded) image — fewer at the border.
        """
    ),
    code(
        """
        stage = jac.Chain(tj.links[:3], name="conv1-tanh-pool")
        J1 = stage.jacobian()
        ref = torch.func.jacrev(net.features[:3])(x).detach().reshape(J1.shape[0], -1).numpy()
        err = np.abs(J1.toarray() - ref).max()
        rows = S.row_counts(J1)
        print(f"stage Jacobian {J1.shape[0]}×{J1.shape[1]}, nnz {J1.nnz} (density {S.density(J1):.4f}); "
              f"entries per row: max {rows.max()}, min {rows.min()}; max |ours − jacrev| = {err:.1e}")
        assert err < 1e-13 and rows.max() == 36
        fig, axes = plt.subplots(1, 2, figsize=(12, 5))
        S.spy(J1, ax=axes[0], title=f"∂ pool1 / ∂ image: nnz {J1.nnz}")
        axes[1].imshow(np.abs(J1[[7 * 14 + 7]].toarray()).reshape(28, 28), cmap="gray_r")
        axes[1].set_title("|row| of one pooled output (channel 0, position (7, 7)): a 6×6 patch")
        plt.tight_layout()
        """
    ),
    md(
        """
        ## The whole network, and backprop without the product

        The full chained Jacobian (10 × 784) against `jacrev`, and the reverse-order VJP
        — each layer's own VJP, no matrix multiplied — against autograd.
        """
    ),
    code(
        """
        J = tj.jacobian()
        ref = torch.func.jacrev(net)(x).detach().reshape(10, -1).numpy()
        g = np.random.default_rng(1).standard_normal(tj.out_shape)
        xx = x.clone().requires_grad_(True)
        net(xx).backward(torch.from_numpy(g))
        print(f"chained: max |ours − jacrev| = {np.abs(J.toarray() - ref).max():.1e}; "
              f"VJP: max |ours − autograd| = {np.abs(tj.vjp(g) - xx.grad.numpy()).max():.1e}")
        assert np.allclose(J.toarray(), ref, atol=1e-13) and np.allclose(tj.vjp(g), xx.grad.numpy(), atol=1e-13)
        """
    ),
    md(
        """
        ## W.r.t. a layer's weights

        The Jacobian of the logits w.r.t. the second convolution's 16×6×5×5 weights: the
        downstream chain (∂logits/∂conv2-output) times that layer's M_X^im.
        """
    ),
    code(
        """
        Jw = tj.parameter_jacobian("features.3", "weight")
        w0 = net.features[3].weight
        ref = torch.func.jacrev(lambda w: torch.func.functional_call(net, {"features.3.weight": w}, (x,)))(w0)
        ref = ref.detach().reshape(Jw.shape[0], -1).numpy()
        print(f"∂logits/∂W2: {Jw.shape[0]}×{Jw.shape[1]}, max |ours − jacrev| = {np.abs(Jw.toarray() - ref).max():.1e}")
        assert np.allclose(Jw.toarray(), ref, atol=1e-13)
        """
    ),
]


NOTEBOOKS = {
    "01_convolution_jacobians.ipynb": CONV,
    "02_pooling_masks.ipynb": POOL,
    "03_chained_jacobian.ipynb": CHAIN,
    "04_conventions_and_kronecker.ipynb": CONVENTIONS,
    "07_lenet_from_torch.ipynb": LENET,
}

#: notebook -> modules it needs; tests/test_notebooks.py skips it when one is missing
REQUIRES = {"07_lenet_from_torch.ipynb": ["torch"]}


def build(directory=HERE):
    for name, cells in NOTEBOOKS.items():
        nb = new_notebook(cells=[nbformat.from_dict(dict(c)) for c in cells])
        for i, cell in enumerate(nb.cells):  # stable ids: rebuilding gives identical files
            cell["id"] = f"{pathlib.Path(name).stem[:2]}-{i:02d}"
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.metadata["language_info"] = {"name": "python"}
        if name in REQUIRES:
            nb.metadata["jacobians"] = {"requires": REQUIRES[name]}
        nbformat.validate(nb)
        nbformat.write(nb, str(pathlib.Path(directory) / name))


if __name__ == "__main__":
    build()
