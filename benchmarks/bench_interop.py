#!/usr/bin/env python
"""The framework's Jacobian by compression vs dense jacrev/jacfwd vs our explicit builder, and the full diff.

Usage::

    python benchmarks/bench_interop.py [--quick] [--json out.json] [--dense-limit BYTES]

For the ladder of 3×3 convolutions (C_in, H×W, C_out) at stride 1, padding 1,
float32, one sample — up to ResNet's (64, 56×56, 64) — it measures, for the
Jacobian of PyTorch's ``F.conv2d`` w.r.t. its input:

* **ours**: ``conv2d_input_jacobian`` (nnz, CSR bytes, build time);
* **colorings** of our pattern: the analytic grid coloring (always), the numpy
  greedy (up to 2·10⁶ nonzeros) and networkx ``greedy_color`` on the column
  intersection graph (up to 3·10⁵ nonzeros): number of colors and time;
* **compressed**: ``framework_jacobian`` — coloring + one JVP per color
  (``vmap`` of ``jvp``) + decompression — time and peak extra RSS;
* **diff**: the whole ``diff_operator`` (build ours, compressed framework
  Jacobian, entry-by-entry comparison, autograd VJP route) wall time and verdict;
* **dense** ``torch.func.jacrev`` / ``jacfwd`` where the dense Jacobian is at
  most ``--dense-limit`` bytes (default 256 MB): time and peak extra RSS.

A warm-up run on the smallest geometry comes first (torch's first calls cost
seconds). Peak memory is VmHWM − VmRSS after resetting VmHWM (/proc/self/clear_refs)
before each measurement (torch's allocations are invisible to tracemalloc).
The machine's fresh-page write bandwidth is printed, as in bench_jacobians.py.
Timings are single runs, wall clock: on a shared machine read them as upper bounds.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for p in (str(ROOT), str(ROOT / "benchmarks")):
    if p not in sys.path:
        sys.path.insert(0, p)

from bench_jacobians import fmt_bytes, fmt_time, fresh_write_bandwidth  # noqa: E402

LADDER = [(4, 6, 6, 3), (8, 16, 16, 8), (16, 32, 32, 16), (32, 56, 56, 32), (64, 56, 56, 64)]
QUICK = LADDER[:3]
GREEDY_NNZ, NETWORKX_NNZ = 2_000_000, 300_000


def _kib(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def measured(fn):
    """(result, seconds, peak extra RSS bytes) of fn()."""
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        rss0 = _kib("VmRSS")
    except OSError:
        rss0 = None
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    peak = (_kib("VmHWM") - rss0) * 1024 if rss0 is not None else float("nan")
    return out, dt, peak


def one_geometry(c_in, h, w, c_out, dense_limit):
    import torch
    import torch.nn.functional as F

    from jacobians.interop.coloring import greedy_coloring, grid_coloring, networkx_coloring
    from jacobians.interop.diff import diff_operator
    from jacobians.interop.framework import framework_jacobian
    from jacobians.ops.conv2d import conv2d_input_jacobian
    from jacobians.registry import get_operator

    rng = np.random.default_rng(0)
    x = rng.standard_normal((c_in, h, w)).astype(np.float32)
    weight = rng.standard_normal((c_out, c_in, 3, 3)).astype(np.float32)
    row = {"geometry": [c_in, h, w, c_out]}
    J, row["ours_s"], row["ours_peak"] = measured(lambda: conv2d_input_jacobian(weight, x.shape, padding=1))
    row["nnz"], row["csr_bytes"] = int(J.nnz), int(J.data.nbytes + J.indices.nbytes + J.indptr.nbytes)
    colors, row["grid_s"], _ = measured(lambda: grid_coloring(J, x.shape))
    row["grid_colors"] = int(colors.max()) + 1
    if J.nnz <= GREEDY_NNZ:
        colors, row["greedy_s"], _ = measured(lambda: greedy_coloring(J))
        row["greedy_colors"] = int(colors.max()) + 1
    if J.nnz <= NETWORKX_NNZ:
        colors, row["networkx_s"], _ = measured(lambda: networkx_coloring(J))
        row["networkx_colors"] = int(colors.max()) + 1
    wt, xt = torch.from_numpy(weight), torch.from_numpy(x)

    def fn(t):
        return F.conv2d(t.unsqueeze(0), wt, padding=1)

    info, row["compressed_s"], row["compressed_peak"] = measured(lambda: framework_jacobian(fn, xt, J, return_info=True))
    row["compressed_parts"] = info.seconds
    row["compressed_error"] = float(np.abs(info.matrix.data - J.data).max())
    del info
    spec = get_operator("conv2d")
    report, row["diff_s"], row["diff_peak"] = measured(
        lambda: diff_operator(spec, {"x": x, "weight": weight, "bias": None}, {"padding": 1}, "x"))
    row["diff_ok"], row["diff_max_error"] = report.ok, report.max_error
    report = J = None  # free the big matrices before the dense runs
    dense = x.size * c_out * h * w * 4
    row["dense_bytes"] = dense
    if dense <= dense_limit:
        for name, jac in (("jacrev", torch.func.jacrev), ("jacfwd", torch.func.jacfwd)):
            _, row[f"{name}_s"], row[f"{name}_peak"] = measured(lambda: jac(fn)(xt))
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="geometries up to (16, 32×32, 16)")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--dense-limit", type=int, default=256 * 10**6, metavar="BYTES")
    args = ap.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("bench_interop: torch is not installed (pip install torch==2.13.0)", file=sys.stderr)
        return 2
    bw = fresh_write_bandwidth(256 * 2**20, repeats=5)
    print(f"# {platform.node()}  {os.cpu_count()} cpus  torch {torch.__version__} ({torch.get_num_threads()} threads)  "
          f"load {os.getloadavg()[0]:.1f}  fresh-page write bandwidth {bw['median'] / 1e9:.2f} GB/s")
    one_geometry(*LADDER[0], args.dense_limit)  # warm-up: torch's first-call costs (kernel selection, vmap setup)
    rows = []
    head = (f"{'(C_in, H×W, C_out)':<20}{'nnz':>11}{'CSR':>9}{'ours':>9}{'grid':>12}{'greedy':>14}{'networkx':>14}"
            f"{'compressed':>12}{'peak':>9}{'diff':>9}{'jacrev':>9}{'jacfwd':>9}{'dense':>9}")
    print(head)
    for geometry in (QUICK if args.quick else LADDER):
        row = one_geometry(*geometry, args.dense_limit)
        rows.append(row)

        def col(key, colors=None):
            if f"{key}_s" not in row:
                return "-"
            return f"{row[colors]}/{fmt_time(row[key + '_s'])}" if colors else fmt_time(row[key + "_s"])

        c_in, h, w, c_out = geometry
        print(f"{f'({c_in}, {h}×{w}, {c_out})':<20}{row['nnz']:>11}{fmt_bytes(row['csr_bytes']):>9}{col('ours'):>9}"
              f"{col('grid', 'grid_colors'):>12}{col('greedy', 'greedy_colors'):>14}{col('networkx', 'networkx_colors'):>14}"
              f"{col('compressed'):>12}{fmt_bytes(row['compressed_peak']):>9}{col('diff'):>9}{col('jacrev'):>9}"
              f"{col('jacfwd'):>9}{fmt_bytes(row['dense_bytes']):>9}", flush=True)
        assert row["diff_ok"] and row["compressed_error"] == 0.0, row
    print("colors/time per coloring; compressed = coloring + JVP probes + decompression; diff = build ours + compressed "
          "framework Jacobian + entry-by-entry comparison + autograd VJP route; dense = bytes of the dense float32 Jacobian "
          "(jacrev/jacfwd only where it is at most --dense-limit)")
    for row in rows:
        parts = ", ".join(f"{k} {fmt_time(v)}" for k, v in row["compressed_parts"].items())
        print(f"  {tuple(row['geometry'])}: compressed = {parts}; diff max error {row['diff_max_error']:.1e}")
    if args.json:
        Path(args.json).write_text(json.dumps({"bandwidth": bw, "rows": rows}, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
