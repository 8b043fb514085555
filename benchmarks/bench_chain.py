"""A conv → ReLU → max-pool chain, explicitly: time and memory against building the conv Jacobian alone.

Issue #16's target: the chained Jacobian (64, 56², 64), 3×3, padding 1, obtained in
≤ 1.5× the conv build time with peak ≤ 1.2× (result + conv CSR). Row-selection
links (ReLU's diagonal, max pooling's switches) are applied by gathering rows
(jacobians.chain.RowSelection). Two routes are timed: the conv Jacobian built in full,
then one gather over the pooled rows; and a conv link with ``rows=``
(jacobians.stream.conv2d_input_rows), which builds only the rows the selections
keep — the conv Jacobian itself is never built. Both results are compared entry by entry.

Usage: ``python benchmarks/bench_chain.py [C_IN H C_OUT]`` (default 64 56 64).
Prints the machine's fresh-page write bandwidth, then a table.
"""
from __future__ import annotations

import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from bench_jacobians import GIB, csr_size, fmt_bytes, fmt_time, fresh_write_bandwidth, warm  # noqa: E402

from jacobians import conv2d, conv2d_input_jacobian, max_pool2d_jacobian, relu, relu_jacobian  # noqa: E402
from jacobians.chain import Chain, Link  # noqa: E402
from jacobians.stream import conv2d_input_rows  # noqa: E402


def main(argv=None) -> int:
    args = [int(a) for a in (sys.argv[1:] if argv is None else argv)] or [64, 56, 64]
    c_in, h, c_out = args
    rng = np.random.default_rng(0)
    x = rng.standard_normal((c_in, h, h))
    w = rng.standard_normal((c_out, c_in, 3, 3))
    s = conv2d(x, w, padding=1)
    a = relu(s)
    bw = fresh_write_bandwidth(GIB // 4, repeats=5)
    print(f"fresh-page write bandwidth: {bw['median'] / 1e9:.1f} GB/s (median of 5, 256 MiB)")
    mask, pool = relu_jacobian(s), max_pool2d_jacobian(a, 2)

    warm(2 * GIB)
    t0 = time.perf_counter()
    J = conv2d_input_jacobian(w, x.shape, padding=1)
    t_conv = time.perf_counter() - t0
    conv_bytes = csr_size(J)

    warm(2 * GIB)
    tracemalloc.start()
    t0 = time.perf_counter()
    chained = Chain([Link("conv", J), Link("relu", mask), Link("pool", pool)]).jacobian()
    t_chain = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    res_bytes = csr_size(chained)

    # only the selected conv rows: Link(build=..., rows=...), the conv Jacobian itself never built
    n_out, n_in = J.shape
    warm(2 * GIB)
    tracemalloc.start()
    t0 = time.perf_counter()
    conv_link = Link("conv", build=lambda: conv2d_input_jacobian(w, x.shape, padding=1),
                     rows=lambda r: conv2d_input_rows(w, x.shape, r, padding=1), in_size=n_in, out_size=n_out)
    direct = Chain([conv_link, Link("relu", mask), Link("pool", pool)]).jacobian()
    t_rows = time.perf_counter() - t0
    _, peak_rows = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    same = (direct.nnz == chained.nnz and np.array_equal(direct.indptr, chained.indptr)
            and np.array_equal(direct.indices, chained.indices) and np.array_equal(direct.data, chained.data))
    del direct

    warm(2 * GIB)
    t0 = time.perf_counter()
    general = pool @ (mask @ J)
    t_spgemm = time.perf_counter() - t0
    assert general.shape == chained.shape
    del general

    print(f"geometry: C_in={c_in}, {h}x{h}, C_out={c_out}, 3x3, padding 1, then ReLU and 2x2 max pooling")
    print(f"{'step':<34}{'time':>10}{'x conv build':>14}{'peak extra':>14}{'CSR':>12}")
    print(f"{'conv input Jacobian (build)':<34}{fmt_time(t_conv):>10}{1.0:>14.2f}{'':>14}{fmt_bytes(conv_bytes):>12}")
    print(f"{'pool·relu·conv, row gathers':<34}{fmt_time(t_chain):>10}{t_chain / t_conv:>14.2f}"
          f"{peak / res_bytes:>13.2f}x{fmt_bytes(res_bytes):>12}")
    print(f"{'pool·relu·conv, selected rows only':<34}{fmt_time(t_rows):>10}{t_rows / t_conv:>14.2f}"
          f"{peak_rows / res_bytes:>13.2f}x{fmt_bytes(res_bytes):>12}")
    print(f"{'pool·relu·conv, scipy SpGEMM':<34}{fmt_time(t_spgemm):>10}{t_spgemm / t_conv:>14.2f}{'':>14}{'':>12}")
    print(f"chain total (conv build + gathers) / conv build = {(t_conv + t_chain) / t_conv:.2f}")
    print(f"chain total (selected rows only) / conv build = {t_rows / t_conv:.2f} (target <= 1.5); "
          f"peak {peak_rows / (res_bytes + conv_bytes):.2f}x (result + conv CSR) (target <= 1.2); "
          f"identical to the gather route: {same}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
