#!/usr/bin/env python
"""Build time and peak memory of the normalization / softmax Jacobians at real sizes.

Usage::

    python benchmarks/bench_normalization.py [--quick]

For each builder it prints nnz, the median wall time of 3 builds, the CSR
size (data + indices + indptr) and ``peak/CSR``: the peak bytes allocated
during one build (tracemalloc; numpy reports its allocations to it), the CSR
itself included, over the CSR bytes. The builders fill data and indices in
place by broadcasting, so everything beyond the CSR is O(x.size).

Training-mode batch norm at (32, 64, 28, 28) has m = 32·28·28 = 25088 entries
per channel block and 1 605 632 · 25088 ≈ 4.0·10¹⁰ nonzeros (≈ 450 GiB as
CSR): it is refused by the memory guard before anything is allocated (shown
in the last line); evaluation mode at that size is a diagonal. The dense
blocks are measured at the largest sizes that fit comfortably.
"""
from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from jacobians.ops import normalization as nm  # noqa: E402
from jacobians.ops import softmax as smx  # noqa: E402
from jacobians.ops._sparse import OperatorTooLargeError  # noqa: E402


def csr_nbytes(mat) -> int:
    return mat.data.nbytes + mat.indices.nbytes + mat.indptr.nbytes


def measure(build, repeats=3):
    """(result, median seconds, CSR bytes, peak bytes during one build)."""
    times = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        mat = build()
        times.append(time.perf_counter() - t0)
        del mat
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    mat = build()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return mat, statistics.median(times), csr_nbytes(mat), peak


def cases(quick: bool):
    rng = np.random.default_rng(0)
    big = (32, 64, 28, 28)
    x_big = rng.standard_normal(big).astype(np.float32)
    w64 = rng.standard_normal(64).astype(np.float32)
    rv64 = rng.uniform(0.5, 2, 64).astype(np.float32)
    small = (4, 16, 14, 14) if quick else (8, 16, 14, 14)
    x_small = rng.standard_normal(small)
    yield f"batch_norm eval {big} f32", lambda: nm.batch_norm_input_jacobian(x_big, w64, training=False, running_var=rv64)
    yield f"batch_norm weight {big} f32", lambda: nm.batch_norm_weight_jacobian(x_big)
    yield f"batch_norm train {small}", lambda: nm.batch_norm_input_jacobian(x_small, np.ones(16))
    yield f"instance_norm {small}", lambda: nm.instance_norm_input_jacobian(x_small)
    yield f"group_norm G=4 {small}", lambda: nm.group_norm_input_jacobian(x_small, 4)
    yield f"layer_norm (28,) {big} f32", lambda: nm.layer_norm_input_jacobian(x_big, 28)
    yield f"softmax dim=1 {big} f32", lambda: smx.softmax_along_jacobian(x_big, 1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller dense-block sizes")
    args = parser.parse_args(argv)
    print(f"{'builder':<42} {'nnz':>13} {'time':>9} {'CSR':>10} {'peak/CSR':>9}")
    for name, build in cases(args.quick):
        mat, seconds, nbytes, peak = measure(build)
        print(f"{name:<42} {mat.nnz:>13,d} {seconds:>8.3f}s {nbytes / 2**20:>8.1f}Mi {peak / nbytes:>9.3f}")
        del mat
    x = np.zeros((32, 64, 28, 28), dtype=np.float32)
    try:
        nm.batch_norm_input_jacobian(x, max_bytes=64 * 2**30)
    except OperatorTooLargeError as err:
        print(f"batch_norm train (32, 64, 28, 28): refused — {err}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
