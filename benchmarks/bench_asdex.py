#!/usr/bin/env python
"""Our explicit Jacobians against asdex (JAX's sparse-Jacobian library), where installed.

Usage::

    python benchmarks/bench_asdex.py [--big]

asdex detects the sparsity pattern of a JAX function, colors it, and computes
the compressed Jacobian with one VJP/JVP per color. Per case it reports:
detection + coloring time (``asdex.jacobian_coloring``), the first Jacobian
(``jax.jit`` of ``asdex.jacobian_from_coloring``: trace + compile + run, bcoo
output) and the steady state (median of 5 later calls, ``block_until_ready``),
next to our builder's median time, and the ratio asdex steady / ours (target
≥ 10×). Cases: the conv ladder's smaller rungs (3×3, padding 1; ``--big`` adds
(64, 56², 64), whose detection alone took ~1000 s in issue #16's run) and 2×2
max pooling. float64 on CPU, both sides single-threaded as far as each allows
(XLA is started with one intra-op thread). Without jax or asdex it prints one
line saying so and exits 0.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402


def _median(fn, repeats=5):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", action="store_true", help="add (64, 56², 64) (asdex's detection takes many minutes)")
    args = parser.parse_args(argv)
    try:
        import jax
        import jax.numpy as jnp
        import asdex
    except ImportError as err:
        print(f"asdex comparison skipped: {err.name or err} is not installed (pip install jax asdex)")
        return 0
    jax.config.update("jax_enable_x64", True)
    from jacobians import conv2d_input_jacobian, max_pool2d_jacobian

    print(f"# jax {jax.__version__}, asdex {getattr(asdex, '__version__', '?')}; machine shared (load average "
          f"{os.getloadavg()[0]:.1f}); times are medians of 5 unless 'first'")
    ladder = [(4, 6, 3), (8, 16, 8), (16, 32, 16)] + ([(64, 56, 64)] if args.big else [])
    rng = np.random.default_rng(0)
    cases = []
    for c_in, h, c_out in ladder:
        w = rng.standard_normal((c_out, c_in, 3, 3))
        x = rng.standard_normal((c_in, h, h))
        wj = jnp.asarray(w)

        def f(xx, wj=wj):
            return jax.lax.conv_general_dilated(xx[None], wj, (1, 1), ((1, 1), (1, 1)))[0]

        cases.append((f"conv2d input ({c_in}, {h}², {c_out}) p1", f, x,
                      lambda w=w, x=x: conv2d_input_jacobian(w, x.shape, padding=1)))
    for c, h in [(16, 32), (64, 56)]:
        x = rng.standard_normal((c, h, h))

        def pool(xx, c=c, h=h):  # asdex has no rule for reduce_window_max: max over a reshape
            return xx.reshape(c, h // 2, 2, h // 2, 2).max(axis=(2, 4))

        cases.append((f"max_pool2d ({c}, {h}²) k2", pool, x, lambda x=x: max_pool2d_jacobian(x, 2)))

    head = f"{'case':<34}{'detect+color':>13}{'first':>10}{'steady':>10}{'ours':>10}{'steady/ours':>12}  check"
    print(head)
    print("-" * len(head))
    for label, f, x, ours in cases:
        xj = jnp.asarray(x)
        t0 = time.perf_counter()
        try:
            coloring = asdex.jacobian_coloring(f, xj)
        except NotImplementedError as err:
            print(f"{label:<34}asdex cannot detect it: {str(err).splitlines()[0][:80]}")
            continue
        t_color = time.perf_counter() - t0
        jac = jax.jit(asdex.jacobian_from_coloring(f, coloring))
        t0 = time.perf_counter()
        try:
            first = jac(xj)
            jax.block_until_ready(first)
        except Exception as err:  # noqa: BLE001 - report asdex's own limits as a row, keep going
            print(f"{label:<34}{t_color:>12.3f}s  asdex failed: {type(err).__name__}: {str(err).splitlines()[0][:90]}")
            continue
        t_first = time.perf_counter() - t0
        t_steady = _median(lambda: jax.block_until_ready(jac(xj)))
        t_ours = _median(ours)
        J = ours()
        # their matrix against ours: a different route (AD through XLA's conv / reduce_window)
        theirs = first.todense().reshape(J.shape[0], -1) if J.shape[0] * J.shape[1] <= 5e7 else None
        check = "n/a (large)" if theirs is None else f"max |diff| {float(np.max(np.abs(np.asarray(theirs) - J.toarray()))):.1e}"
        print(f"{label:<34}{t_color:>12.3f}s{t_first:>9.3f}s{t_steady:>9.4f}s{t_ours:>9.4f}s{t_steady / t_ours:>11.1f}×  {check}",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
