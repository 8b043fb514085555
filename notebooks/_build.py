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
        S.spy(M_X, ax=axes[0], blocks=(16, 18), title=rf"$M_X^{{\\mathrm{{im}}}}$  {M_X.shape[0]}×{M_X.shape[1]}, nnz {M_X.nnz}")
        S.spy(M_F, ax=axes[1], blocks=(16, 36), title=rf"$M_F^{{\\mathrm{{filter}}}}$  {M_F.shape[0]}×{M_F.shape[1]}, nnz {M_F.nnz}")
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
        def winners(x, ties):   # (row, column) of the entry each 2×2 window routes its gradient to
            J = jac.max_pool2d_jacobian(x, kernel_size=2, ties=ties)
            return [divmod(int(c), x.shape[-1]) for c in J.indices]

        flat = np.ones((1, 2, 2))   # a constant window: every entry ties
        print("constant window   row-major rule:", winners(flat, "first"), "  column-major rule:", winners(flat, "first-colmajor"))
        assert winners(flat, "first") == winners(flat, "first-colmajor") == [(0, 0)]   # top-left comes first in both orders

        x_tie = np.array([[[0., 5.], [5., 1.]]])   # the tied maxima at top-right and bottom-left
        print("window", x_tie[0].tolist())
        print("                  row-major rule:", winners(x_tie, "first"), "  column-major rule:", winners(x_tie, "first-colmajor"))
        assert winners(x_tie, "first") == [(0, 1)]           # top-right: first in row-major order
        assert winners(x_tie, "first-colmajor") == [(1, 0)]  # bottom-left: first in column-major order
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
        plt.figure(figsize=(3, 3)); S.spy(P, ax=plt.gca(), title="row → column-major, 3×4");
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
        S.spy(kron_filter, ax=axes[0], blocks=(m, n_cols), title=r"$I \\otimes \\varphi(I) = M_X^{\\mathrm{im}}$")
        S.spy(kron_input, ax=axes[1], blocks=(m, m), title=r"$F_f^{\\top} \\otimes I$  (on vec $\\varphi$)")
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

OWN = [
    md(
        """
        # 5. Check your own derivation

        **What to look at:** the *diagnosis* lines. `jacobians.compare` checks a matrix or a
        gradient you derived by hand against every independent route (the explicit sparse
        Jacobian, each efficient backprop, finite differences, torch when installed) and,
        when it is wrong, names the usual mistake it makes — but only a mistake it has
        *verified*: undoing it reproduces the truth. Then we write three claims of our own
        into a file and let `jacobians verify` judge them, exactly as it judges the five notes.
        """
    ),
    code(
        """
        import pathlib
        import numpy as np
        import jacobians as jac
        from jacobians.claims import reference_jacobian
        """
    ),
    md(
        """
        ## M_X^im for a 3×3 image and a 2×2 filter, typed as text

        Row (i, j) of M_X^im holds the patch of X under the filter at output position (i, j).
        A first attempt stacks everything **column by column** (MATLAB's `A(:)`): the output
        positions and the filter entries both in column-major order. The entries are the notes'
        symbols, read by a strict parser (nothing is evaluated), and compared exactly.
        """
    ),
    code(
        """
        x = np.zeros((1, 3, 3)); w = np.zeros((1, 1, 2, 2))    # only the shapes matter for symbols
        first_try = \"\"\"
        X11 X21 X12 X22
        X21 X31 X22 X32
        X12 X22 X13 X23
        X22 X32 X23 X33
        \"\"\"
        M = jac.candidate_from_text(first_try, "conv2d", wrt="weight", x=x, weight=w)
        r = jac.compare(M, "conv2d", wrt="weight", x=x, weight=w)
        print("holds:", r.holds, "| differing entries:", r.differing_entries)
        for d in r.diagnosis:
            print("diagnosis:", d["name"], "-", d["description"])
        assert not r.holds and [d["name"] for d in r.diagnosis] == ["vec-order-cols + vec-order-rows"]
        """
    ),
    md("Row-major on both sides, as DD2424 writes it — and the same matrix is right in the `matlab` preset:"),
    code(
        """
        right = \"\"\"
        X11 X12 X21 X22
        X12 X13 X22 X23
        X21 X22 X31 X32
        X22 X23 X32 X33
        \"\"\"
        M = jac.candidate_from_text(right, "conv2d", wrt="weight", x=x, weight=w)
        r = jac.compare(M, "conv2d", wrt="weight", x=x, weight=w)
        print("holds:", r.holds, "| routes:", r.routes)
        assert r.holds and r.diagnosis == []
        M_col = jac.candidate_from_text(first_try, "conv2d", wrt="weight", x=x, weight=w)
        assert jac.compare(M_col, "conv2d", wrt="weight", convention="matlab", x=x, weight=w).holds
        """
    ),
    md(
        """
        ## An input gradient without the 180° rotation

        Backprop to the input is a *full* convolution of the upstream gradient g with the
        kernel rotated by 180°. Forgetting the rotation is the classic slip; here it is computed
        by hand, with loops, for a 5×5 image and a 3×3 kernel.
        """
    ),
    code(
        """
        rng = np.random.default_rng(0)
        x = rng.standard_normal((1, 5, 5)); w = rng.standard_normal((1, 1, 3, 3)); g = rng.standard_normal((1, 3, 3))
        k = 3
        dx = np.zeros((5, 5))
        for i in range(3):
            for j in range(3):
                dx[i:i + k, j:j + k] += g[0, i, j] * w[0, 0, ::-1, ::-1]   # the rotation put in by mistake twice
        r = jac.compare(dx[None], "conv2d", wrt="x", g=g, x=x, weight=w)
        print("holds:", r.holds, "| diagnosis:", [d["name"] for d in r.diagnosis])
        assert [d["name"] for d in r.diagnosis] == ["rot180"]
        fixed = np.zeros((5, 5))
        for i in range(3):
            for j in range(3):
                fixed[i:i + k, j:j + k] += g[0, i, j] * w[0, 0]
        assert jac.compare(fixed[None], "conv2d", wrt="x", g=g, x=x, weight=w).holds
        """
    ),
    md(
        """
        Scattering g[i, j]·w into the window at (i, j) *is* the full convolution with the
        rotated kernel — so the version that rotated w explicitly rotated it twice. The picture
        shows where the wrong gradient differs:
        """
    ),
    code(
        """
        r = jac.compare(dx[None], "conv2d", wrt="x", g=g, x=x, weight=w)
        print(r.differing_entries, "of", dx.size, "entries differ, e.g.", r.differing[0][4])
        """
    ),
    md(
        """
        ## A stride-2 gradient without inserted zeros

        With stride 2 the upstream gradient must be *dilated* (a zero between its entries)
        before the full convolution. Without the zeros, the windows of neighbouring outputs
        land one pixel apart instead of two:
        """
    ),
    code(
        """
        x = rng.standard_normal((1, 7, 7)); w = rng.standard_normal((1, 1, 3, 3))
        g = rng.standard_normal((1, 3, 3))                          # output 3×3 at stride 2
        undilated = np.zeros((7, 7))
        for i in range(3):
            for j in range(3):
                undilated[i:i + 3, j:j + 3] += g[0, i, j] * w[0, 0]  # should be at (2i, 2j)
        r = jac.compare(undilated[None], "conv2d", wrt="x", g=g, x=x, weight=w, stride=2)
        print("diagnosis:", [d["name"] for d in r.diagnosis])
        assert [d["name"] for d in r.diagnosis] == ["stride-dilation"]
        dilated = np.zeros((7, 7))
        for i in range(3):
            for j in range(3):
                dilated[2 * i:2 * i + 3, 2 * j:2 * j + 3] += g[0, i, j] * w[0, 0]
        assert jac.compare(dilated[None], "conv2d", wrt="x", g=g, x=x, weight=w, stride=2).holds
        """
    ),
    md(
        """
        ## Three claims of your own, verified like the notes

        A claims file is plain Python: each `@claim` states where the claim is, what it says,
        and which verdict you expect; its check compares the statement with reference routes.
        `jacobians verify FILE.py` *runs* the file (as pytest runs test files) and prints the
        same table as for the notes, with the diagnosis of any as-written failure.
        """
    ),
    code(
        """
        claims_file = pathlib.Path("my_claims.py")
        claims_file.write_text(\'\'\'
        import numpy as np
        from jacobians.claims import claim, reference_jacobian, reference_vjp

        X = np.arange(1.0, 17.0).reshape(1, 4, 4)
        W = np.array([[[[1.0, 2.0], [0.5, -1.0]]]])

        @claim("hw.m-x-im", location="my notes, eq. 1", statement="M_X^im row (i, j) is the patch X[i:i+2, j:j+2]",
               convention="canonical", routes=("explicit", "fd"), expected="holds")
        def _(ev):
            mine = np.array([X[0, i:i + 2, j:j + 2].ravel() for i in range(3) for j in range(3)])
            ev.written("explicit", mine, reference_jacobian("conv2d", "weight", x=X, weight=W))
            ev.written("fd", mine, reference_jacobian("conv2d", "weight", route="fd", x=X, weight=W))

        @claim("hw.weight-grad", location="my notes, eq. 2", statement="dL/dW = M_X^im^T g",
               convention="canonical", routes=("explicit", "fd"), expected="holds")
        def _(ev):
            g = np.ones((1, 3, 3))
            mine = np.array([X[0, p:p + 3, q:q + 3].sum() for p in range(2) for q in range(2)]).reshape(W.shape)
            ev.written("explicit", mine, reference_vjp("conv2d", g, "weight", x=X, weight=W))
            ev.written("fd", mine, reference_vjp("conv2d", g, "weight", route="fd", x=X, weight=W))

        @claim("hw.input-jacobian", location="my notes, eq. 3", statement="M_F^filter = (M_X^im)^T",
               convention="canonical", routes=("explicit", "fd"), expected="fails")
        def _(ev):
            wrong = reference_jacobian("conv2d", "weight", x=X, weight=W).toarray().T
            ev.written("explicit", wrong, reference_jacobian("conv2d", "x", x=X, weight=W))
            ev.written("fd", wrong, reference_jacobian("conv2d", "x", route="fd", x=X, weight=W))
        \'\'\')
        from jacobians.cli import main
        status = main(["verify", str(claims_file)])
        assert status == 0   # every verdict as expected (the third claim is expected to fail)
        """
    ),
    md(
        """
        The third claim confuses two different matrices (the Jacobian w.r.t. the weights has
        4 columns, the one w.r.t. the input has 16), so its shapes differ and no mistake of the
        catalogue explains it: the table says *fails*, and nothing is guessed.
        """
    ),
]

# ---------------------------------------------------------------------------
NORMALIZATION = [
    md(
        """
        # 6. Batch norm's Jacobian: training versus evaluation, and a wrong backward caught

        **What to look at:** in training mode batch norm couples every entry of a channel across the
        whole batch — its Jacobian is dense within each channel and zero across channels; sorting the
        entries by channel makes it block diagonal. In evaluation mode (running statistics, constants)
        it is a diagonal. Each training-mode block is (γ/σ)(I − 11ᵀ/m − x̂x̂ᵀ/m): it annihilates the
        constant vector and (up to eps) the normalized input. Finally, a textbook backward that treats σ as
        a constant passes the usual "sum of the output" gradient check but not the explicit Jacobian.
        """
    ),
    SETUP,
    code(
        """
        rng = np.random.default_rng(0)
        N, C, H, W = 3, 2, 2, 2
        x = rng.standard_normal((N, C, H, W)) * 2 + 1
        gamma = rng.uniform(0.5, 1.5, C)
        J_train = jac.batch_norm_input_jacobian(x, gamma)
        J_eval = jac.batch_norm_input_jacobian(x, gamma, training=False, running_var=rng.uniform(0.5, 2, C))
        m = N * H * W                     # entries per channel
        assert J_train.nnz == x.size * m and J_eval.nnz == x.size

        channel = np.broadcast_to(np.arange(C)[None, :, None, None], x.shape).ravel()
        perm = np.argsort(channel, kind="stable")
        P = sp.csr_array((np.ones(x.size), (np.arange(x.size), perm)), shape=(x.size, x.size))
        J_sorted = P @ J_train @ P.T      # rows and columns grouped by channel

        fig, axes = plt.subplots(1, 3, figsize=(13, 4.5))
        S.spy(J_train, ax=axes[0], title=f"training, C order  nnz {J_train.nnz}")
        S.spy(J_sorted, ax=axes[1], blocks=(m, m), title="training, sorted by channel")
        S.spy(J_eval, ax=axes[2], title=f"evaluation  nnz {J_eval.nnz}")
        plt.tight_layout()
        """
    ),
    md(
        """
        In C order (n, c, h, w) a channel's entries are interleaved with the other channel's, so the
        pattern is a checkerboard of blocks; after the permutation it is two dense m×m blocks.
        """
    ),
    code(
        """
        dense = J_sorted.toarray()
        assert np.count_nonzero(dense[:m, m:]) == 0 and np.count_nonzero(dense[m:, :m]) == 0
        assert np.count_nonzero(dense[:m, :m]) == m * m
        """
    ),
    md(
        """
        ## The annihilated directions

        For one channel c, take the vector that is 1 on the channel's entries (0 elsewhere), and the one
        holding x̂ there. J·1_c = 0: adding a constant to a channel changes nothing (the mean absorbs it).
        J·x̂_c = (γ/σ)·eps/(var + eps)·x̂_c: scaling a channel changes nothing either, except through eps.
        """
    ),
    code(
        """
        eps = 1e-5
        for c in range(C):
            on = channel == c
            vals = x.ravel()[on]
            var = vals.var()
            xhat = np.zeros(x.size)
            xhat[on] = (vals - vals.mean()) / np.sqrt(var + eps)
            ones = on.astype(float)
            leak = gamma[c] / np.sqrt(var + eps) * eps / (var + eps)
            print(f"channel {c}: |J·1_c| = {np.abs(J_train @ ones).max():.1e}, "
                  f"|J·x̂_c − leak·x̂_c| = {np.abs(J_train @ xhat - leak * xhat).max():.1e}  (leak {leak:.1e})")
            assert np.abs(J_train @ ones).max() < 1e-12
            assert np.abs(J_train @ xhat - leak * xhat).max() < 1e-12
        """
    ),
    md(
        """
        ## A wrong backward that the trivial gradient check cannot see

        The compact backward is dx = (1/σ)(ĝ − mean(ĝ) − x̂·mean(ĝ∘x̂)) per channel. Forget that σ depends
        on x and the last term disappears. The common check "loss = sum of the output, compare with finite
        differences" uses the all-ones upstream gradient — and sum(BN(x)) is identically β·size, so the
        true gradient is 0, and the wrong backward also returns 0 for g = 1. The generic check compares every
        VJP with Jᵀg for a random g and fails it.
        """
    ),
    code(
        """
        from jacobians.check import check_operator
        from jacobians.ops import normalization as nm
        from jacobians.registry import Case, get_operator, register

        def forgets_variance(g, x, weight=None, bias=None, running_mean=None, running_var=None, training=True, eps=1e-5):
            layout = nm.NormLayout(x.shape, x.shape[0], x.shape[1], int(np.prod(x.shape[2:])), (x.shape[1],),
                                   (x.shape[1],) + (1,) * (x.ndim - 2))
            gg = layout.to_groups(g * layout.per_entry(weight))
            inv = 1 / np.sqrt(layout.to_groups(x).var(axis=1) + eps)
            return layout.from_groups(inv[:, None] * (gg - gg.mean(axis=1, keepdims=True)))

        right = get_operator("batch_norm")
        local = {}
        wrong = register("batch_norm_forgets_variance", summary="wrong", forward=right.forward, jacobian=right.jacobian,
                         vjp={**right.vjp, "x": {"forgets_variance": forgets_variance}}, cases=right.cases,
                         registry=local)

        # the trivial check: g = 1, i.e. loss = sum(BN(x))
        ones = np.ones_like(x)
        true_grad = nm.batch_norm_vjp_input(ones, x, gamma)
        print("all-ones: right", np.abs(true_grad).max(), " wrong", np.abs(forgets_variance(ones, x, gamma)).max())
        assert np.abs(forgets_variance(ones, x, gamma) - true_grad).max() < 1e-12   # the bug passes

        case = Case({"x": x, "weight": gamma, "bias": None}, {"training": True, "eps": 1e-5}, "demo")
        report = check_operator(wrong, case, use_torch=False)
        print(*report.failures, sep="\\n")
        assert [r.route for r in report.failures] == ["vjp:forgets_variance"]
        assert check_operator(right, case, use_torch=False).ok
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


#: notebook -> modules it needs; tests/test_notebooks.py skips it when one is missing
REQUIRES = {"07_lenet_from_torch.ipynb": ["torch"]}

NOTEBOOKS = {
    "01_convolution_jacobians.ipynb": CONV,
    "02_pooling_masks.ipynb": POOL,
    "03_chained_jacobian.ipynb": CHAIN,
    "04_conventions_and_kronecker.ipynb": CONVENTIONS,
    "05_check_your_own_derivation.ipynb": OWN,
    "06_normalization.ipynb": NORMALIZATION,
    "07_lenet_from_torch.ipynb": LENET,
}


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
