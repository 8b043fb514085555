#!/usr/bin/env python
"""Build speed and memory of the transposed-convolution, upsampling and adaptive-pooling Jacobians.

Usage::

    python benchmarks/bench_layers.py [--quick | --big] [--repeats N]

For each builder on a few real-sized layers (a decoder's 2× transposed
convolution, bilinear / nearest 2× upsampling, adaptive average pooling to
7×7 and global pooling) it prints nnz, the median build time, the time of
filling the same number of fresh bytes (``np.empty`` + ``fill``, interleaved
with the builds: the machine's memory-bandwidth limit for writing the result
once), their ratio ("of BW"), and the peak extra memory during one build over
the CSR size (tracemalloc). Measurement helpers are those of
``bench_jacobians.py`` (warm-up of idle memory, interleaved fills).
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for p in (str(ROOT), str(ROOT / "benchmarks")):
    if p not in sys.path:
        sys.path.insert(0, p)

from bench_jacobians import csr_size, fmt_bytes, fmt_time, timed_builds, traced_build  # noqa: E402


def cases(quick: bool, big: bool = False):
    from jacobians.ops import adaptive_pool as ap
    from jacobians.ops import conv_transpose as ct
    from jacobians.ops import upsample as up

    rng = np.random.default_rng(0)
    c, hw = (16, 28) if quick else ((64, 56) if big else (32, 56))
    x = rng.standard_normal((c, hw, hw))
    w = rng.standard_normal((c, c, 3, 3))
    w4 = rng.standard_normal((c, c // 4, 3, 3))
    t = dict(stride=2, padding=1, output_padding=1)
    x3 = rng.standard_normal((c // 2, hw // 4, hw // 4, hw // 4))
    w3 = rng.standard_normal((c // 2, c // 2, 3, 3, 3))
    return [
        (f"convT input  ({c},{hw}²)→({c},{2 * hw}²) k3 s2 p1 op1", lambda: ct.conv_transpose2d_input_jacobian(w, x.shape, **t)),
        (f"convT weight ({c},{hw}²)→({c},{2 * hw}²) k3 s2 p1 op1", lambda: ct.conv_transpose2d_weight_jacobian(x, w.shape, **t)),
        ("convT input  k3 s1 p1 groups 4", lambda: ct.conv_transpose2d_input_jacobian(w4, x.shape, stride=1, padding=1, groups=4)),
        ("convT weight k3 s1 p1 groups 4", lambda: ct.conv_transpose2d_weight_jacobian(x, w4.shape, stride=1, padding=1, groups=4)),
        (f"convT3d input ({c // 2},{hw // 4}³) k3 s2 p1 op1", lambda: ct.conv_transpose3d_input_jacobian(w3, x3.shape, **t)),
        (f"convT3d weight ({c // 2},{hw // 4}³) k3 s2 p1 op1", lambda: ct.conv_transpose3d_weight_jacobian(x3, w3.shape, **t)),
        (f"interpolate bilinear ×2 ({c},{hw}²)", lambda: up.interpolate_jacobian(x.shape, scale_factor=2, mode="bilinear")),
        (f"interpolate nearest ×2 ({c},{hw}²)", lambda: up.interpolate_jacobian(x.shape, scale_factor=2)),
        (f"interpolate bilinear align ({c},{hw}²)→{2 * hw + 1}²", lambda: up.interpolate_jacobian(x.shape, size=2 * hw + 1, mode="bilinear", align_corners=True)),
        (f"adaptive_avg ({c},{hw}²)→7²", lambda: ap.adaptive_avg_pool2d_jacobian(x.shape, 7)),
        (f"adaptive_avg ({c},{hw}²)→5² (overlapping)", lambda: ap.adaptive_avg_pool2d_jacobian(x.shape, 5)),
        (f"adaptive_max ({c},{hw}²)→7²", lambda: ap.adaptive_max_pool2d_jacobian(x, 7)),
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="(16, 28×28) layers instead of (32, 56×56)")
    parser.add_argument("--big", action="store_true", help="(64, 56×56) layers (transposed conv CSR ≈ 1.4 GB)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"# numpy {np.__version__}; median of {args.repeats} builds; fill = same bytes of fresh pages")
    header = f"{'builder':<52} {'nnz':>11} {'CSR':>10} {'time':>9} {'fill':>9} {'of BW':>6} {'peak/CSR':>8}"
    print(header)
    print("-" * len(header))
    for name, build in cases(args.quick, args.big):
        J, peak = traced_build(build)
        size = csr_size(J)
        runs = timed_builds(build, size, args.repeats)
        t, f = statistics.median(runs["times"]), statistics.median(runs["fill_times"])
        print(f"{name:<52} {J.nnz:>11,} {fmt_bytes(size):>10} {fmt_time(t):>9} {fmt_time(f):>9} {f / t:>6.2f} {peak / size:>8.3f}")
        del J
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
