#!/usr/bin/env python
"""Build speed and memory of the pooling Jacobians (average and max, 1-D/2-D/3-D), issue #13's bar.

Usage::

    python benchmarks/bench_pooling.py [--repeats N] [--no-torch]

Per builder on real layer sizes (64 channels, as after a first conv layer)
and on one-channel inputs of the same CSR size (where the per-axis tables are
not divided by a channel count), it prints nnz, CSR bytes, the median build
time, a same-size fresh fill interleaved with the builds, "of BW" (CSR bytes /
time over the fresh-page write bandwidth measured at the start), "fill"
(fill time / build time) and the peak bytes a build allocates over the CSR
(tracemalloc). Max pooling must find every window's argmax first, so its
bound is the pass over the input, not the write of its (small) CSR: the
"torch" column is ``torch.nn.functional.max_poolNd(..., return_indices=True)``
on the same input, one thread, and "× torch" our build time over it.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for p in (str(ROOT), str(ROOT / "benchmarks")):
    if p not in sys.path:
        sys.path.insert(0, p)

from bench_jacobians import csr_size, fmt_bytes, fmt_time, fresh_write_bandwidth, timed_builds, traced_build  # noqa: E402


def cases():
    import jacobians as jac

    rng = np.random.default_rng(0)
    x1, x2, x3 = rng.standard_normal((64, 12544)), rng.standard_normal((64, 112, 112)), rng.standard_normal((64, 16, 56, 56))
    s = dict(kernel_size=3, stride=2, padding=1)
    return [
        ("avg_pool1d (64, 12544) k2", lambda: jac.avg_pool1d_jacobian(x1.shape, 2), None),
        ("avg_pool1d (1, 802816) k2", lambda: jac.avg_pool1d_jacobian((1, 802816), 2), None),
        ("avg_pool1d (64, 12544) k3 s1 p1", lambda: jac.avg_pool1d_jacobian(x1.shape, 3, 1, 1), None),
        ("avg_pool2d (64, 112²) k2", lambda: jac.avg_pool2d_jacobian(x2.shape, 2), None),
        ("avg_pool2d (1, 896²) k2", lambda: jac.avg_pool2d_jacobian((1, 896, 896), 2), None),
        ("avg_pool2d (64, 56²) k3 s1 p1", lambda: jac.avg_pool2d_jacobian((64, 56, 56), 3, 1, 1), None),
        ("avg_pool2d (3, 224²) k3 s1 p1", lambda: jac.avg_pool2d_jacobian((3, 224, 224), 3, 1, 1), None),
        ("avg_pool2d (64, 112²) k3 s2 p1 ceil", lambda: jac.avg_pool2d_jacobian(x2.shape, **s, ceil_mode=True,
                                                                               count_include_pad=False), None),
        ("avg_pool3d (64, 16×56²) k2", lambda: jac.avg_pool3d_jacobian(x3.shape, 2), None),
        ("avg_pool3d (1, 64×112²) k2", lambda: jac.avg_pool3d_jacobian((1, 64, 112, 112), 2), None),
        ("max_pool1d (64, 12544) k3 s2 p1", lambda: jac.max_pool1d_jacobian(x1, **s), (1, x1, s)),
        ("max_pool2d (64, 112²) k2", lambda: jac.max_pool2d_jacobian(x2, 2), (2, x2, dict(kernel_size=2))),
        ("max_pool2d (64, 112²) k3 s2 p1", lambda: jac.max_pool2d_jacobian(x2, **s), (2, x2, s)),
        ("max_pool3d (64, 16×56²) k3 s2 p1", lambda: jac.max_pool3d_jacobian(x3, **s), (3, x3, s)),
    ]


def torch_time(spec, repeats: int):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    nd, x, kw = spec
    fn = getattr(torch.nn.functional, f"max_pool{nd}d")
    xt = torch.from_numpy(x)[None]
    fn(xt, **kw, return_indices=True)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(xt, **kw, return_indices=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-torch", action="store_true")
    args = parser.parse_args(argv)
    bw = fresh_write_bandwidth(1 << 30, repeats=7)["median"]
    print(f"# {platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}; load average "
          + ", ".join(f"{v:.1f}" for v in os.getloadavg()))
    print(f"# fresh-page write bandwidth (np.empty + fill, 1 GiB, median of 7): {bw / 1e9:.2f} GB/s; "
          f"median of {args.repeats} builds")
    header = (f"{'builder':<38} {'nnz':>10} {'CSR':>9} {'time':>9} {'fill':>9} {'of BW':>6} {'fill/t':>6} "
              f"{'peak/CSR':>8} {'torch':>9} {'× torch':>7}")
    print(header)
    print("-" * len(header))
    for name, build, spec in cases():
        build()  # first call: lazy imports and numpy's caches are not the build's memory
        J, peak = traced_build(build)
        size = csr_size(J)
        runs = timed_builds(build, size, args.repeats)
        t, f = statistics.median(runs["times"]), statistics.median(runs["fill_times"])
        tt = torch_time(spec, args.repeats) if spec is not None and not args.no_torch else None
        torch_cols = f"{fmt_time(tt):>9} {t / tt:>7.2f}" if tt else f"{'':>9} {'':>7}"
        print(f"{name:<38} {J.nnz:>10,} {fmt_bytes(size):>9} {fmt_time(t):>9} {fmt_time(f):>9} "
              f"{size / t / bw:>6.0%} {f / t:>6.0%} {peak / size:>8.3f} {torch_cols}")
        del J
    print(f"# load average at the end: " + ", ".join(f"{v:.1f}" for v in os.getloadavg()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
