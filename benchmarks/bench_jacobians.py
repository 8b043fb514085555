#!/usr/bin/env python
"""Build speed and memory of the explicit Jacobians, against the memory-bandwidth limit and torch.

Usage::

    python benchmarks/bench_jacobians.py [--quick] [--json out.json] [--no-torch] [--repeats N]

For a ladder of convolution geometries (C, H×W, C_out, 3×3) from note 004's
6×6 example up to ResNet-sized (64, 56×56, 64) and (128, 56×56, 128), each at
stride 1 / padding 0, stride 1 / padding 1 and stride 2 / padding 1, it builds

* ``conv2d_input_jacobian`` (∂vec(y)/∂vec(x)) and ``conv2d_weight_jacobian`` (∂vec(y)/∂vec(w)),
* ``max_pool2d_jacobian`` and ``avg_pool2d_jacobian`` with the same window geometry
  (if ``jacobians.ops.pooling`` provides them),
* ``convnd_input_jacobian`` / ``convnd_weight_jacobian`` — the N-d core's block
  builders (behind conv1d / conv3d) on the same 2-D geometry, next to conv2d's tuned ones,

and reports nnz, the median build time, nonzeros per second, the CSR size
(data + indices + indptr), the peak extra memory during the build divided by
that size (tracemalloc: numpy reports its allocations to it), and the build's
rate CSR bytes / time as a fraction of the machine's measured fresh-page write
bandwidth (``numpy.empty`` + ``fill`` of 1 GiB, median of several runs).

Memory that stays idle for ~10 s on these VMs is handed back to the host and
the next first touch is ~40× slower, so a buffer of the build's size is
touched (and freed) right before every timed build and every bandwidth run.

Where torch is installed it adds, on the small geometries, ``torch.func.jacrev``
and ``torch.func.jacfwd`` of ``F.conv2d`` w.r.t. the input (dense Jacobians),
each in a fresh subprocess whose peak memory is read from /proc/self/status
(VmHWM, reset through /proc/self/clear_refs; torch's allocations are invisible
to tracemalloc), next to our builder measured the same way; and, on every
geometry, the time of the explicit product Jᵀg (scipy) against torch's own
conv2d backward for the same g. torch runs with one thread, as our builders do.
A dense Jacobian is skipped (with a note) when it would exceed 8 GB or when
its measured peak factor times its size would not fit in half the available memory.

Timing is wall-clock on a shared machine: the medians are what to read.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

GIB = 2**30

#: (C_in, H, W, C_out, kh, kw): note 004's 6×6×4 input with three 3×3×4 filters, then upwards
LADDER = [
    (4, 6, 6, 3, 3, 3),
    (8, 16, 16, 8, 3, 3),
    (16, 32, 32, 16, 3, 3),
    (32, 56, 56, 32, 3, 3),
    (64, 56, 56, 64, 3, 3),
    (128, 56, 56, 128, 3, 3),
]
QUICK_LADDER = LADDER[:3]
#: (label, stride, padding)
VARIANTS = [("s1p0", 1, 0), ("s1p1", 1, 1), ("s2p1", 2, 1)]

#: dense torch Jacobians above this many bytes are not attempted
DENSE_LIMIT = 8 * 10**9
#: measured peak memory of torch.func.jacrev / jacfwd over the dense Jacobian's size
#: (jacrev: the one-hot basis plus the result plus the vmapped backward; jacfwd: more)
TORCH_PEAK_FACTOR = {"jacrev": 5.0, "jacfwd": 15.0}


# ---------------------------------------------------------------------------
# measurement helpers
# ---------------------------------------------------------------------------
def warm(nbytes: int) -> None:
    """Touch (then free) a buffer of ``nbytes`` so the next allocation gets pages the host has not reclaimed."""
    buf = np.empty(max(int(nbytes), 1), dtype=np.uint8)
    buf.fill(1)
    del buf


def fresh_write_bandwidth(nbytes: int = GIB, repeats: int = 11) -> dict:
    """Bytes/s of ``np.empty(n).fill(1.0)`` on fresh pages (page faults included), median of runs."""
    rates = []
    for _ in range(repeats):
        warm(nbytes)
        t0 = time.perf_counter()
        a = np.empty(nbytes // 8)
        a.fill(1.0)
        dt = time.perf_counter() - t0
        del a
        rates.append(nbytes / dt)
    return {"bytes": nbytes, "repeats": repeats, "median": statistics.median(rates), "min": min(rates), "max": max(rates)}


def csr_size(J) -> int:
    return int(J.data.nbytes + J.indices.nbytes + J.indptr.nbytes)


def traced_build(build):
    """(result, peak bytes allocated during the build beyond what existed before) via tracemalloc."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        J = build()
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    return J, peak


def fresh_fill(nbytes: int) -> tuple[float, float]:
    """(wall, cpu) seconds of ``np.empty`` + ``fill`` of ``nbytes`` of fresh pages."""
    t0, c0 = time.perf_counter(), time.process_time()
    a = np.empty(max(nbytes // 8, 1))
    a.fill(1.0)
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    del a
    return dt, dc


def timed_builds(build, nbytes: int, repeats: int) -> dict:
    """Wall and CPU times of ``repeats`` builds, each right after warming ``nbytes`` of memory.

    Each build is paired with a fill of ``nbytes`` fresh pages (also after a warm-up),
    interleaved, as a same-size reference that drifts with the machine's load.
    """
    wall, cpu, fill_wall, fill_cpu = [], [], [], []
    for _ in range(repeats):
        gc.collect()
        warm(nbytes)
        fw, fc = fresh_fill(nbytes)
        fill_wall.append(fw)
        fill_cpu.append(fc)
        warm(nbytes)
        t0, c0 = time.perf_counter(), time.process_time()
        J = build()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        del J
    return {"times": wall, "cpu_times": cpu, "fill_times": fill_wall, "fill_cpu_times": fill_cpu}


def median_time(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def import_times(repeats: int = 7) -> dict:
    """Wall time of fresh interpreters running ``import jacobians`` and ``jacobians --help``."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    probes = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import jacobians": [sys.executable, "-c", "import jacobians"],
        "jacobians --help": [sys.executable, "-m", "jacobians", "--help"],
    }
    out = {}
    for name, cmd in probes.items():
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times.append(time.perf_counter() - t0)
        out[name] = statistics.median(times)
    check = (
        "import sys, jacobians; from jacobians import cli; cli.build_parser(); "
        "print(','.join(m for m in ('sympy', 'matplotlib', 'torch', 'scipy') if m in sys.modules))"
    )
    res = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True)
    out["heavy modules after import + parser"] = (
        (res.stdout.strip() or "(none)") if res.returncode == 0 else f"error: {res.stderr[-200:]}"
    )
    return out


# ---------------------------------------------------------------------------
# builders under test
# ---------------------------------------------------------------------------
def builders(c_in, h, w, c_out, kh, kw, stride, padding, rng):
    """(name, zero-argument build function) for one geometry; pooling only if present."""
    import jacobians as jac

    x = rng.standard_normal((c_in, h, w))
    weight = rng.standard_normal((c_out, c_in, kh, kw))
    out = [
        ("conv_input", lambda: jac.conv2d_input_jacobian(weight, x.shape, stride=stride, padding=padding)),
        ("conv_weight", lambda: jac.conv2d_weight_jacobian(x, weight.shape, stride=stride, padding=padding)),
    ]
    if hasattr(jac, "convnd_input_jacobian"):  # the N-d core's block builders on the same 2-D geometry
        out.append(("convnd_input", lambda: jac.convnd_input_jacobian(weight, x.shape, stride=stride, padding=padding)))
        out.append(("convnd_weight", lambda: jac.convnd_weight_jacobian(x, weight.shape, stride=stride, padding=padding)))
    notes = []
    try:
        from jacobians.ops import pooling
    except ImportError as exc:
        notes.append(f"pooling skipped: jacobians.ops.pooling not importable ({exc})")
        return out, notes, x, weight
    if hasattr(pooling, "max_pool2d_jacobian"):
        out.append(("max_pool", lambda: pooling.max_pool2d_jacobian(x, (kh, kw), stride=stride, padding=padding)))
    else:
        notes.append("max_pool skipped: pooling.max_pool2d_jacobian not defined yet")
    if hasattr(pooling, "avg_pool2d_jacobian"):
        out.append(("avg_pool", lambda: pooling.avg_pool2d_jacobian(x.shape, (kh, kw), stride=stride, padding=padding)))
    else:
        notes.append("avg_pool skipped: pooling.avg_pool2d_jacobian not defined yet")
    return out, notes, x, weight


# ---------------------------------------------------------------------------
# torch: dense Jacobians in a subprocess each, and conv2d backward
# ---------------------------------------------------------------------------
def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def torch_child(spec: dict) -> dict:
    """One build in this (fresh) process: time and peak extra RSS (VmHWM after clear_refs)."""
    c_in, h, w, c_out, kh, kw = spec["geometry"]
    stride, padding, method = spec["stride"], spec["padding"], spec["method"]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((c_in, h, w))
    weight = rng.standard_normal((c_out, c_in, kh, kw))
    if method == "ours":
        import jacobians as jac

        jac.conv2d_input_jacobian(weight, x.shape, stride=stride, padding=padding)  # warm-up, imports
        build = lambda: jac.conv2d_input_jacobian(weight, x.shape, stride=stride, padding=padding)  # noqa: E731
    else:
        import torch
        import torch.nn.functional as F

        torch.set_num_threads(1)
        xt, wt = torch.from_numpy(x), torch.from_numpy(weight)

        def f(inp):
            return F.conv2d(inp[None], wt, stride=stride, padding=padding)[0]

        transform = getattr(torch.func, method)
        transform(f)(torch.zeros(c_in, kh, kw, dtype=torch.float64))  # warm-up: first-call set-up of torch.func
        build = lambda: transform(f)(xt)  # noqa: E731
    gc.collect()
    with open("/proc/self/clear_refs", "w") as fh:  # reset VmHWM to the current RSS
        fh.write("5")
    rss0 = _status_kib("VmRSS")
    t0 = time.perf_counter()
    J = build()
    dt = time.perf_counter() - t0
    peak = (_status_kib("VmHWM") - rss0) * 1024
    shape = tuple(J.shape)
    return {"time": dt, "peak_extra_bytes": peak, "result_shape": list(shape)}


def run_torch_child(spec: dict, timeout: float = 900) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--torch-child", json.dumps(spec)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        return {"error": res.stderr.strip().splitlines()[-1] if res.stderr.strip() else f"exit {res.returncode}"}
    return json.loads(res.stdout.strip().splitlines()[-1])


def mem_available() -> int:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def torch_dense_rows(ladder, variants, repeats_small: int = 3) -> tuple[list[dict], list[str]]:
    rows, notes = [], []
    for geometry in ladder:
        c_in, h, w, c_out, kh, kw = geometry
        for label, stride, padding in variants:
            oh = (h + 2 * padding - kh) // stride + 1
            ow = (w + 2 * padding - kw) // stride + 1
            dense = c_out * oh * ow * c_in * h * w * 8
            spec = {"geometry": geometry, "stride": stride, "padding": padding}
            row = {"geometry": list(geometry), "variant": label, "dense_bytes": dense}
            ours = [run_torch_child(dict(spec, method="ours")) for _ in range(repeats_small)]
            ours = [r for r in ours if "error" not in r]
            if ours:
                row["ours_time"] = statistics.median(r["time"] for r in ours)
                row["ours_peak"] = statistics.median(r["peak_extra_bytes"] for r in ours)
            for method in ("jacrev", "jacfwd"):
                need = TORCH_PEAK_FACTOR[method] * dense
                if dense > DENSE_LIMIT or need > 0.5 * mem_available():
                    why = f"dense {dense / 1e9:.1f} GB" + (
                        f" > {DENSE_LIMIT / 1e9:.0f} GB" if dense > DENSE_LIMIT
                        else f", est. peak {need / 1e9:.0f} GB > half of available memory"
                    )
                    row[method] = {"skipped": why}
                    continue
                small = dense < 10**8
                results = [run_torch_child(dict(spec, method=method)) for _ in range(repeats_small if small else 1)]
                good = [r for r in results if "error" not in r]
                if not good:
                    row[method] = {"skipped": f"failed: {results[0]['error']}"}
                    continue
                row[method] = {
                    "time": statistics.median(r["time"] for r in good),
                    "peak_extra_bytes": statistics.median(r["peak_extra_bytes"] for r in good),
                    "runs": len(good),
                }
            rows.append(row)
    return rows, notes


def jt_g_row(J, x, weight, stride, padding, repeats: int = 5) -> dict:
    """Time of J.T @ g (scipy, explicit) and of torch's conv2d backward for the same g; and their agreement."""
    rng = np.random.default_rng(1)
    g = rng.standard_normal(J.shape[0])
    JT = J.T
    out = {"jtg_time": median_time(lambda: JT @ g, repeats)}
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        out["torch_backward"] = "torch not installed"
        return out
    torch.set_num_threads(1)
    xt = torch.from_numpy(x).requires_grad_(True)
    wt = torch.from_numpy(weight)
    y = F.conv2d(xt[None], wt, stride=stride, padding=padding)[0]
    gt = torch.from_numpy(g.reshape(tuple(y.shape)))
    grad = lambda: torch.autograd.grad(y, xt, gt, retain_graph=True)[0]  # noqa: E731
    out["torch_backward_time"] = median_time(grad, repeats)
    ref = grad().numpy().ravel()
    out["max_abs_diff_vs_torch"] = float(np.max(np.abs(JT @ g - ref)))
    return out


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------
def fmt_bytes(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B"


def fmt_time(t: float) -> str:
    if t >= 1:
        return f"{t:.2f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.3g} ms"
    return f"{t * 1e6:.3g} µs"


def geometry_label(geometry) -> str:
    c_in, h, w, c_out, kh, kw = geometry
    return f"({c_in}, {h}×{w}, {c_out}, {kh}×{kw})"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small geometries only (seconds, not minutes)")
    parser.add_argument("--json", metavar="OUT", help="also write every number to this JSON file")
    parser.add_argument("--no-torch", action="store_true", help="skip the torch comparisons")
    parser.add_argument("--no-big", action="store_true", help="skip the (128, 56×56, 128) rung (~5.5 GB CSR)")
    parser.add_argument("--repeats", type=int, default=None, help="timed builds per row (default 7, quick 3)")
    parser.add_argument("--torch-child", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.torch_child:
        print(json.dumps(torch_child(json.loads(args.torch_child))))
        return 0

    ladder = QUICK_LADDER if args.quick else LADDER
    if args.no_big:
        ladder = [g for g in ladder if g[0] < 128]
    repeats = args.repeats or (3 if args.quick else 7)
    try:
        import torch  # noqa: F401

        has_torch = not args.no_torch
        torch_version = torch.__version__
    except ImportError:
        has_torch, torch_version = False, None
    import scipy

    report = {
        "command": "python benchmarks/bench_jacobians.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "torch": torch_version,
            "mem_total_bytes": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
        },
        "method": {
            "time": f"median of {repeats} builds (fewer for the largest), each right after touching a buffer of the "
            "build's CSR size (idle memory on these VMs is reclaimed by the host)",
            "peak_memory": "tracemalloc: peak bytes allocated during one build beyond those live before it, "
            "over the final CSR bytes (data + indices + indptr)",
            "bandwidth": "numpy empty + fill of 1 GiB of fresh pages, median of 11, at the start and at the end; "
            "fraction = CSR bytes / median build time / the higher of the two medians",
            "threads": "builders are single-threaded numpy; torch set to 1 thread",
            "torch_dense_memory": "VmHWM - VmRSS in a fresh subprocess per build (after clear_refs), for ours and torch",
        },
        "notes": [],
    }
    print(f"# {report['command']}")
    print(f"# numpy {np.__version__}, scipy {scipy.__version__}, torch {torch_version}, {os.cpu_count()} cores")

    report["import_time_s"] = import_times()
    for k, v in report["import_time_s"].items():
        print(f"# {k}: {v if isinstance(v, str) else fmt_time(v)}")

    report["load_average_start"] = os.getloadavg()
    print(f"# load average (1, 5, 15 min) at the start: {', '.join(f'{v:.2f}' for v in report['load_average_start'])}")
    bw = fresh_write_bandwidth()
    report["bandwidth_start"] = bw
    print(f"# fresh-page write bandwidth (np.empty + fill, 1 GiB, median of {bw['repeats']}): "
          f"{bw['median'] / 1e9:.2f} GB/s (min {bw['min'] / 1e9:.2f}, max {bw['max'] / 1e9:.2f})")

    # one untraced build of every builder first, so lazy imports and first-call set-up
    # are not counted in the first row's time and memory
    for _name, build in builders(*LADDER[0], 1, 1, np.random.default_rng(0))[0]:
        build()

    rows = []
    header = (f"{'geometry':<22} {'var':<5} {'builder':<12} {'nnz':>11} {'time':>9} {'nnz/s':>9} "
              f"{'CSR':>9} {'peak/CSR':>8} {'of BW':>6} {'fill':>5} {'best':>5} {'Jᵀg':>9} {'torch bwd':>9}")
    rng = np.random.default_rng(0)
    for geometry in ladder:
        for label, stride, padding in VARIANTS:
            c_in, h, w, c_out, kh, kw = geometry
            todo, notes, x, weight = builders(c_in, h, w, c_out, kh, kw, stride, padding, rng)
            for note in notes:
                if note not in report["notes"]:
                    report["notes"].append(note)
            for name, build in todo:
                J, peak = traced_build(build)
                nbytes = csr_size(J)
                row = {"geometry": list(geometry), "variant": label, "stride": stride, "padding": padding,
                       "builder": name, "nnz": int(J.nnz), "shape": list(J.shape), "csr_bytes": nbytes,
                       "index_dtype": str(J.indices.dtype), "peak_extra_bytes": int(peak),
                       "peak_over_csr": peak / nbytes if nbytes else float("nan")}
                if name == "conv_input":
                    row.update(jt_g_row(J, x, weight, stride, padding) if has_torch else
                               {"jtg_time": median_time(lambda: J.T @ np.ones(J.shape[0]), 5)})
                del J
                reps = repeats if nbytes < 2 * GIB else min(repeats, 5)
                timing = timed_builds(build, nbytes, reps)
                t = statistics.median(timing["times"])
                t_cpu = statistics.median(timing["cpu_times"])
                row.update(timing, time=t, cpu_time=t_cpu, best_time=min(timing["times"]),
                           fraction_best=min(timing["fill_times"]) / min(timing["times"]), load_average_1min=os.getloadavg()[0], nnz_per_s=row["nnz"] / t, bytes_per_s=nbytes / t,
                           fraction_of_start_bandwidth=nbytes / t / bw["median"],
                           fraction_of_same_size_fill=statistics.median(timing["fill_times"]) / t,
                           fraction_of_same_size_fill_cpu=statistics.median(timing["fill_cpu_times"]) / t_cpu)
                rows.append(row)
                print(f"# done {geometry_label(geometry)} {label} {name}: {fmt_time(t)}", file=sys.stderr, flush=True)
    report["rows"] = rows

    bw_end = fresh_write_bandwidth()
    report["bandwidth_end"] = bw_end
    report["load_average_end"] = os.getloadavg()
    print(f"# fresh-page write bandwidth again at the end: {bw_end['median'] / 1e9:.2f} GB/s "
          f"(min {bw_end['min'] / 1e9:.2f}, max {bw_end['max'] / 1e9:.2f}); load average "
          f"{', '.join(f'{v:.2f}' for v in report['load_average_end'])}")
    # the limit: the higher of the two medians (other work on the machine only ever slows a fill down)
    limit = max(bw["median"], bw_end["median"])
    report["bandwidth_limit"] = limit
    print(f"# bandwidth limit used below: {limit / 1e9:.2f} GB/s (the higher of the two medians)")
    print("# each timed build is preceded by touching a buffer of its CSR size (warm memory)")
    print("# columns: time = median wall time of a build; nnz/s = nnz / time; CSR = data + indices + indptr bytes;")
    print("#   peak/CSR = tracemalloc peak during a build / CSR bytes; of BW = (CSR bytes / time) / bandwidth limit;")
    print("#   fill = median time of a same-size fresh-page fill, interleaved with the builds / median build time;")
    print("#   best = the same with the fastest fill and the fastest build (fills below ~32 MB reuse malloc's")
    print("#   heap, not fresh pages, so fill/best mean little for small rows); Jᵀg = scipy J.T @ g;")
    print("#   torch bwd = torch.autograd.grad of F.conv2d w.r.t. x for the same g (1 thread)")
    print(header)
    print("-" * len(header))
    for row in rows:
        row["fraction_of_bandwidth"] = row["bytes_per_s"] / limit
        jtg = fmt_time(row["jtg_time"]) if "jtg_time" in row else ""
        tb = fmt_time(row["torch_backward_time"]) if "torch_backward_time" in row else ""
        print(f"{geometry_label(row['geometry']):<22} {row['variant']:<5} {row['builder']:<12} {row['nnz']:>11,} "
              f"{fmt_time(row['time']):>9} {row['nnz_per_s']:>9.3g} {fmt_bytes(row['csr_bytes']):>9} "
              f"{row['peak_over_csr']:>8.3f} {row['fraction_of_bandwidth']:>6.0%} "
              f"{row['fraction_of_same_size_fill']:>5.0%} {row['fraction_best']:>5.0%} {jtg:>9} {tb:>9}")

    if has_torch:
        torch_ladder = [g for g in ladder if g[0] * g[1] * g[2] <= (8 * 16 * 16 if args.quick else 16 * 32 * 32)]
        print("\n# dense Jacobians w.r.t. the input, torch.func (1 thread) vs conv2d_input_jacobian; "
              "time of one build, peak = VmHWM − VmRSS in a fresh subprocess")
        hdr = (f"{'geometry':<22} {'var':<5} {'dense':>8} {'ours':>9} {'ours peak':>9} "
               f"{'jacrev':>9} {'peak':>8} {'jacfwd':>9} {'peak':>8} {'rev/ours':>9} {'rev peak/ours':>13}")
        print(hdr)
        print("-" * len(hdr))
        trows, tnotes = torch_dense_rows(torch_ladder, [v for v in VARIANTS if v[0] != "s1p0"],
                                         repeats_small=1 if args.quick else 3)
        report["torch_dense"] = trows
        report["notes"] += tnotes
        for r in trows:
            cells = []
            for m in ("jacrev", "jacfwd"):
                d = r[m]
                cells += [fmt_time(d["time"]), fmt_bytes(d["peak_extra_bytes"])] if "time" in d else ["skipped", ""]
            rev = r["jacrev"]
            speed = f"{rev['time'] / r['ours_time']:.3g}×" if "time" in rev and "ours_time" in r else ""
            # below ~1 MB the RSS high-water mark cannot resolve our build (malloc reuses freed heap)
            mem = (f"{rev['peak_extra_bytes'] / r['ours_peak']:.3g}×"
                   if "time" in rev and r.get("ours_peak", 0) >= 10**6 else "n/a")
            print(f"{geometry_label(r['geometry']):<22} {r['variant']:<5} {fmt_bytes(r['dense_bytes']):>8} "
                  f"{fmt_time(r.get('ours_time', float('nan'))):>9} {fmt_bytes(r.get('ours_peak', 0)):>9} "
                  f"{cells[0]:>9} {cells[1]:>8} {cells[2]:>9} {cells[3]:>8} {speed:>9} {mem:>13}")
            for m in ("jacrev", "jacfwd"):
                if "skipped" in r[m]:
                    print(f"#   {m} skipped for {geometry_label(r['geometry'])} {r['variant']}: {r[m]['skipped']}")
    else:
        report["notes"].append("torch comparisons skipped (torch not installed or --no-torch)")
    for note in report["notes"]:
        print(f"# note: {note}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
        print(f"# wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
