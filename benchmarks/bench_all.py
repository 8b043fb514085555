#!/usr/bin/env python
"""Every registered Jacobian builder at a real size for its kind, against the memory-bandwidth limit.

Usage::

    python benchmarks/bench_all.py [--repeats N] [--only NAME[,NAME…]] [--json out.json]

Driven by the registry (``jacobians.registry.load_all()``): every operator and
every input it has a Jacobian for is one row. The sizes per kind are in
:data:`SETUPS` (an operator registered without a setup is listed as such, so
a new operator shows up here as "no setup" until one is written):

* activations, dropout, pooling, reshapes on (64, 112, 112) — a ResNet stem's
  feature map (pooling: the stem's 3×3 / stride 2 / padding 1 max pool, and a
  2×2 average pool);
* 2-D convolution (64, 56², 64) 3×3 padding 1, with conv1d / conv3d at the same
  channel count and about the same nnz (1-D: length 3136, kernel 9; 3-D: (32, 8, 28², 32) 3×3×3);
* normalization on (32, 64, 28, 28) where the Jacobian is a diagonal (batch
  norm in evaluation mode is not a registered face; the registered batch / group /
  instance norm Jacobians have a dense block per channel or group): the dense-block
  ones at (8, 16, 14, 14), the largest that fits comfortably next to other work
  — at (32, 64, 28, 28) training-mode batch norm alone would be 4·10¹⁰ nonzeros
  (450 GiB), which the memory guard refuses (shown in the notes);
* linear layers at 2048 → 1000 on a batch of 8 (the notes' literal Kronecker forms through
  scipy.sparse.kron: a batch of 64 is a 1.5 GB kron plus a commutation SpGEMM), softmax /
  losses on (256, 1000).

Columns: nnz, median wall time of ``--repeats`` builds (each after warming a
buffer of the CSR's size), CSR bytes, "of BW" = (CSR bytes / time) / the
fresh-page write bandwidth (np.empty + fill of 1 GiB, the higher median of the
runs at start and end), "fill" = the median time of a same-size fresh fill
interleaved with the builds / the median build time, "io BW" = (bytes of the
inputs read + CSR bytes) / time / bandwidth — the relevant bound where the
input is larger than the Jacobian (pooling, losses) (fill is robust to the machine's
load drifting during the run; below ~32 MB a fill reuses malloc's heap, so small
rows read high on it), "peak/CSR" = tracemalloc's peak during one build over
the CSR bytes (1.00 = nothing but the result). Targets (issue #16): of BW (or
fill) ≥ 50 %, peak/CSR ≤ 1.2 (≤ 1.5 for dense-block normalization). The
verdict column says which is missed; a CSR below 8 MB is marked "small" — a
fixed cost of a few numpy calls dominates there and its bandwidth means little.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_jacobians import GIB, csr_size, fmt_bytes, fmt_time, fresh_write_bandwidth, timed_builds, traced_build  # noqa: E402

SMALL = 8 * 2**20
DENSE_BLOCK = {"batch_norm", "group_norm", "instance_norm", "layer_norm", "softmax", "softmax_dim", "log_softmax",
               "softmax_cross_entropy", "softmax_soft_cross_entropy", "cross_entropy_loss", "linear_wvec_b"}


def _n(rng, *shape):
    return rng.standard_normal(shape)


def _setups():
    """name -> (label, make(rng) -> (inputs, params)). Sizes: see the module docstring."""
    fmap = (64, 112, 112)
    conv = dict(stride=1, padding=1, dilation=1, groups=1)
    pool_max = dict(kernel_size=3, stride=2, padding=1)
    s = {}
    for act in ("relu", "sigmoid", "tanh", "gelu", "softplus", "elu", "leaky_relu"):
        s[act] = ("z " + "x".join(map(str, fmap)), lambda r: ({"z": _n(r, *fmap)}, {}))
    s["dropout"] = ("z 64x112x112 p=0.5",
                    lambda r: ({"z": _n(r, *fmap), "mask": r.random(fmap) >= 0.5}, {"p": 0.5}))
    s["max_pool2d"] = ("x 64x112x112 k3 s2 p1", lambda r: ({"x": _n(r, *fmap)}, pool_max))
    s["avg_pool2d"] = ("x 64x112x112 k2", lambda r: ({"x": _n(r, *fmap)}, {"kernel_size": 2}))
    s["max_pool1d"] = ("x 64x12544 k3 s2 p1", lambda r: ({"x": _n(r, 64, 12544)}, pool_max))
    s["avg_pool1d"] = ("x 64x12544 k2", lambda r: ({"x": _n(r, 64, 12544)}, {"kernel_size": 2}))
    s["max_pool3d"] = ("x 64x16x56x56 k3 s2 p1", lambda r: ({"x": _n(r, 64, 16, 56, 56)}, pool_max))
    s["avg_pool3d"] = ("x 64x16x56x56 k2", lambda r: ({"x": _n(r, 64, 16, 56, 56)}, {"kernel_size": 2}))
    s["conv2d"] = ("x 64x56x56 w 64x64x3x3 p1",
                   lambda r: ({"x": _n(r, 64, 56, 56), "weight": _n(r, 64, 64, 3, 3), "bias": _n(r, 64)}, conv))
    s["conv1d"] = ("x 64x3136 w 64x64x9 p4",
                   lambda r: ({"x": _n(r, 64, 3136), "weight": _n(r, 64, 64, 9), "bias": _n(r, 64)}, {**conv, "padding": 4}))
    s["conv3d"] = ("x 32x8x28x28 w 32x32x3x3x3 p1",
                   lambda r: ({"x": _n(r, 32, 8, 28, 28), "weight": _n(r, 32, 32, 3, 3, 3), "bias": _n(r, 32)}, conv))
    s["im2col"] = ("x 64x56x56 k3 p1", lambda r: ({"x": _n(r, 64, 56, 56)}, {"kernel_size": (3, 3), "stride": 1, "padding": 1, "dilation": 1}))
    s["xu2020_kron"] = ("x 16x28x28 f_f 144x16 k3",
                        lambda r: ({"x": _n(r, 16, 28, 28), "f_f": _n(r, 144, 16)},
                                   {"kernel_size": (3, 3), "stride": 1, "padding": 0, "dilation": 1}))
    big, small = (32, 64, 28, 28), (8, 16, 14, 14)
    s["batch_norm"] = ("x 8x16x14x14 training",
                       lambda r: ({"x": _n(r, *small), "weight": _n(r, 16), "bias": _n(r, 16)}, {"training": True, "eps": 1e-5}))
    s["instance_norm"] = ("x 8x16x14x14",
                          lambda r: ({"x": _n(r, *small), "weight": _n(r, 16), "bias": _n(r, 16)}, {"eps": 1e-5}))
    s["group_norm"] = ("x 8x16x14x14 G=4",
                       lambda r: ({"x": _n(r, *small), "weight": _n(r, 16), "bias": _n(r, 16)}, {"num_groups": 4, "eps": 1e-5}))
    s["layer_norm"] = ("x 32x64x28x28 over (28,)",
                       lambda r: ({"x": _n(r, *big), "weight": _n(r, 28), "bias": _n(r, 28)}, {"normalized_shape": (28,), "eps": 1e-5}))
    s["softmax_dim"] = ("s 32x64x28x28 dim=1", lambda r: ({"s": _n(r, *big)}, {"dim": 1}))
    s["log_softmax"] = ("s 32x64x28x28 dim=1", lambda r: ({"s": _n(r, *big)}, {"dim": 1}))
    s["softmax"] = ("s 1000", lambda r: ({"s": _n(r, 1000)}, {}))
    onehot = lambda r: np.eye(1000)[r.integers(0, 1000)]  # noqa: E731
    s["softmax_cross_entropy"] = ("s 1000", lambda r: ({"s": _n(r, 1000), "y": onehot(r)}, {}))
    s["softmax_soft_cross_entropy"] = ("s 1000", lambda r: ({"s": _n(r, 1000), "y": r.dirichlet(np.ones(1000))}, {}))
    s["cross_entropy_loss"] = ("input 256x1000", lambda r: ({"input": _n(r, 256, 1000), "target": r.integers(0, 1000, 256)},
                                                            {"reduction": "mean", "label_smoothing": 0.0}))
    s["nll_loss"] = ("input 256x1000", lambda r: ({"input": _n(r, 256, 1000), "target": r.integers(0, 1000, 256)}, {"reduction": "mean"}))
    s["mse_loss"] = ("input 32x64x28x28", lambda r: ({"input": _n(r, *big), "target": _n(r, *big)}, {"reduction": "mean"}))
    s["frobenius_loss"] = ("x 32x64x28x28", lambda r: ({"x": _n(r, *big), "y": _n(r, *big)}, {}))
    s["add"] = ("32x64x28x28", lambda r: ({"input": _n(r, *big), "other": _n(r, *big)}, {"alpha": 1}))
    s["concat"] = ("2 x 32x64x28x28 dim=1", lambda r: ({"a": _n(r, *big), "b": _n(r, *big)}, {"dim": 1}))
    s["stack"] = ("3 x 802816", lambda r: ({f"s{k}": _n(r, 802816) for k in (1, 2, 3)}, {}))
    s["flatten"] = ("x 64x112x112", lambda r: ({"x": _n(r, *fmap)}, {"start_dim": 0, "end_dim": -1}))
    s["reshape"] = ("x 64x112x112 -> 112x7168 order F", lambda r: ({"x": _n(r, *fmap)}, {"shape": (112, 7168), "order": "F"}))
    s["transpose"] = ("x 64x112x112 axes 2,0,1", lambda r: ({"x": _n(r, *fmap)}, {"axes": (2, 0, 1)}))
    s["select"] = ("x 64x112x112 index 1", lambda r: ({"x": _n(r, *fmap)}, {"index": 1}))
    s["vec"] = ("x 7168x112 matlab", lambda r: ({"x": _n(r, 7168, 112)}, {"convention": "vardhan2022"}))
    s["convert_vec"] = ("v 802816 (7168x112)", lambda r: ({"v": _n(r, 802816)},
                                                           {"shape": (7168, 112), "source": "canonical", "target": "vardhan2022"}))
    lin = lambda r: ({"x": _n(r, 8, 2048), "weight": _n(r, 1000, 2048)}, {})  # noqa: E731
    s["linear_xwt"] = ("x 8x2048 W 1000x2048", lin)
    s["linear_xw_b"] = ("x 8x2048 W 2048x1000", lambda r: ({"x": _n(r, 8, 2048), "weight": _n(r, 2048, 1000), "bias": _n(r, 1000)}, {}))
    s["linear_wvec_b"] = ("h 64x7x7 W 1000x3136", lambda r: ({"h": _n(r, 64, 7, 7), "weight": _n(r, 1000, 3136), "bias": _n(r, 1000)}, {}))
    s["linear_wtb_b"] = ("b 2048 W 2048x1000", lambda r: ({"b_vec": _n(r, 2048), "weight": _n(r, 2048, 1000), "bias": _n(r, 1000)}, {}))
    # operators merged from the convt / robust branches (transposed conv: weight (C_in, C_out/G, k…))
    tconv = dict(stride=1, padding=1, output_padding=0, groups=1, dilation=1)
    s["conv_transpose2d"] = ("x 64x56x56 w 64x64x3x3 p1",
                             lambda r: ({"x": _n(r, 64, 56, 56), "weight": _n(r, 64, 64, 3, 3), "bias": _n(r, 64)}, tconv))
    s["conv_transpose1d"] = ("x 64x3136 w 64x64x9 p4",
                             lambda r: ({"x": _n(r, 64, 3136), "weight": _n(r, 64, 64, 9), "bias": _n(r, 64)}, {**tconv, "padding": 4}))
    s["conv_transpose3d"] = ("x 32x8x28x28 w 32x32x3x3x3 p1",
                             lambda r: ({"x": _n(r, 32, 8, 28, 28), "weight": _n(r, 32, 32, 3, 3, 3), "bias": _n(r, 32)}, tconv))
    s["adaptive_avg_pool2d"] = ("x 64x112x112 -> 7x7", lambda r: ({"x": _n(r, *fmap)}, {"output_size": 7}))
    s["adaptive_max_pool2d"] = ("x 64x112x112 -> 7x7", lambda r: ({"x": _n(r, *fmap)}, {"output_size": 7}))
    s["global_avg_pool2d"] = ("x 64x112x112", lambda r: ({"x": _n(r, *fmap)}, {}))
    s["interpolate"] = ("x 64x56x56 nearest x2", lambda r: ({"x": _n(r, 64, 56, 56)},
                                                            {"size": None, "scale_factor": 2, "mode": "nearest", "align_corners": None}))
    s["linear"] = ("x 2048 W 1000x2048", lambda r: ({"x": _n(r, 2048), "weight": _n(r, 1000, 2048), "bias": _n(r, 1000)}, {}))
    return s


SETUPS = _setups()


def verdict(name, bw_frac, fill_frac, peak_ratio, nbytes):
    if nbytes < SMALL:
        return "small"
    peak_target = 1.5 if name in DENSE_BLOCK else 1.2
    missed = []
    if max(bw_frac, fill_frac) < 0.5:
        missed.append("BW")
    if peak_ratio > peak_target:
        missed.append(f"peak>{peak_target}")
    return "met" if not missed else "MISS " + ",".join(missed)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated operator names")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    parser.add_argument("--render", default=None, metavar="JSON", help="print the table of an earlier run's JSON and exit")
    args = parser.parse_args(argv)
    if args.render:
        print(render(json.loads(Path(args.render).read_text())))
        return 0

    from jacobians.ops._sparse import OperatorTooLargeError
    from jacobians.registry import load_all

    ops = load_all()
    only = {n for n in args.only.split(",") if n}
    load = os.getloadavg()
    print(f"# python benchmarks/bench_all.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"numpy {np.__version__}; load average {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f} (machine shared)")
    bw0 = fresh_write_bandwidth(GIB, repeats=7)
    print(f"# fresh-page write bandwidth (np.empty + fill, 1 GiB, median of 7): {bw0['median'] / 1e9:.2f} GB/s "
          f"(min {bw0['min'] / 1e9:.2f}, max {bw0['max'] / 1e9:.2f})")
    header = (f"{'operator':<27}{'wrt':<7}{'size':<34}{'nnz':>13}{'time':>10}{'CSR':>11}"
              f"{'of BW':>7}{'io BW':>7}{'fill':>6}{'peak/CSR':>9}  verdict")
    rows, notes = [], []
    lines = [header, "-" * len(header)]
    print(header, flush=True)
    for name in sorted(ops):
        if only and name not in only:
            continue
        spec = ops[name]
        if name not in SETUPS:
            for wrt in spec.jacobian:
                line = f"{name:<27}{wrt:<7}{'(no setup in bench_all.SETUPS)':<34}"
                print(line, flush=True)
                lines.append(line)
                rows.append({"operator": name, "wrt": wrt, "status": "no setup"})
            continue
        label, make = SETUPS[name]
        inputs, params = make(np.random.default_rng(0))
        for wrt, builder in spec.jacobian.items():
            build = lambda: builder(**inputs, **params)  # noqa: E731
            try:
                J, peak = traced_build(build)
            except OperatorTooLargeError as err:
                line = f"{name:<27}{wrt:<7}{label:<34}  refused: {err}"
                print(line, flush=True)
                lines.append(line)
                rows.append({"operator": name, "wrt": wrt, "size": label, "status": "refused"})
                continue
            nbytes, nnz = csr_size(J), int(J.nnz)
            del J
            timing = timed_builds(build, nbytes, args.repeats)
            t = statistics.median(timing["times"])
            fill = statistics.median(timing["fill_times"]) / t
            frac = nbytes / t / bw0["median"]
            in_bytes = sum(int(np.asarray(v).nbytes) for v in inputs.values())
            io = (in_bytes + nbytes) / t / bw0["median"]
            v = verdict(name, max(frac, io), fill, peak / nbytes, nbytes)
            line = (f"{name:<27}{wrt:<7}{label:<34}{nnz:>13,}{fmt_time(t):>10}{fmt_bytes(nbytes):>11}"
                    f"{100 * frac:>6.0f}%{100 * io:>6.0f}%{100 * fill:>5.0f}%{peak / nbytes:>9.2f}  {v}")
            print(line, flush=True)
            lines.append(line)
            rows.append({"operator": name, "wrt": wrt, "size": label, "nnz": nnz, "time": t, "times": timing["times"],
                         "csr_bytes": nbytes, "of_bw": frac, "io_bw": io, "fill": fill, "peak_over_csr": peak / nbytes, "verdict": v})
            gc.collect()
    bw1 = fresh_write_bandwidth(GIB, repeats=7)
    load = os.getloadavg()
    tail = (f"# fresh-page write bandwidth again at the end: {bw1['median'] / 1e9:.2f} GB/s; "
            f"load average {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f} (the rows above: 'of BW' against the start's median; "
            f"the final table below: against the higher of the two)")
    print(tail)
    result = {"bandwidth": [bw0, bw1], "rows": rows, "header": [f"# load average at the end {load[0]:.1f}"]}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    print()
    print(render(result))
    return 0


def render(result) -> str:
    """The table again, "of BW" and "io BW" against the higher of the start and end bandwidth medians."""
    bw = max(b["median"] for b in result["bandwidth"])
    out = [f"# bandwidth limit used: {bw / 1e9:.2f} GB/s (higher of the medians at start and end: "
           + ", ".join(f"{b['median'] / 1e9:.2f}" for b in result["bandwidth"]) + " GB/s)",
           f"{'operator':<27}{'wrt':<7}{'size':<34}{'nnz':>13}{'time':>10}{'CSR':>11}"
           f"{'of BW':>7}{'io BW':>7}{'fill':>6}{'peak/CSR':>9}  verdict"]
    for r in result["rows"]:
        if "time" not in r:
            out.append(f"{r['operator']:<27}{r['wrt']:<7}{r.get('size', ''):<34}  {r['status']}")
            continue
        frac = r["csr_bytes"] / r["time"] / bw
        io = frac * (r["io_bw"] / r["of_bw"]) if r["of_bw"] else 0.0
        v = verdict(r["operator"], max(frac, io), r["fill"], r["peak_over_csr"], r["csr_bytes"])
        out.append(f"{r['operator']:<27}{r['wrt']:<7}{r['size']:<34}{r['nnz']:>13,}{fmt_time(r['time']):>10}"
                   f"{fmt_bytes(r['csr_bytes']):>11}{100 * frac:>6.0f}%{100 * io:>6.0f}%{100 * r['fill']:>5.0f}%"
                   f"{r['peak_over_csr']:>9.2f}  {v}")
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
