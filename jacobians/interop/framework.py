"""A framework's own Jacobian of a function (PyTorch, or JAX when installed), as scipy CSR, by column compression.

Given the sparsity pattern ``P`` (rows = outputs, columns = inputs) of the
Jacobian of ``fn`` at ``x`` — our explicit operators supply exact ones — the
columns are colored so that columns of one color never meet in a row
(:mod:`jacobians.interop.coloring`); one JVP per color with the sum of that
color's unit vectors as tangent gives, in output row r, exactly the entry
(r, c) of the one column c of that color row r reads. Decompression is a
gather; everything the probes put *outside* the pattern is reported as
``outside`` (a framework entry our pattern does not have cannot hide).

The probes run batched: ``torch.func.vmap`` over ``torch.func.jvp`` (or
``jax.vmap`` over ``jax.jvp``, jitted), in chunks whose tangents and outputs
fit in ``probe_bytes``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..ops._sparse import check_budget, exact_size
from .coloring import _csr, _row_chunks, color_columns

__all__ = ["framework_jacobian", "CompressedJacobian", "decompress"]

#: default memory for one chunk of batched probes (tangents + outputs)
PROBE_BYTES = 512 * 2**20


@dataclass
class CompressedJacobian:
    """The result of :func:`framework_jacobian` with ``return_info=True``.

    Attributes
    ----------
    matrix : the framework's Jacobian on the pattern, ``scipy.sparse.csr_array``.
    n_colors : number of probes (JVPs) used.
    outside : largest |value| the probes produced outside the pattern (0 when the
        framework's Jacobian lives inside it). An entry outside the pattern lands
        either here (its row holds no column of its color) or is folded into the
        stored entry of its row with that color; ``vjp_error`` sees both.
    vjp_error : max |autograd VJP(g) − matrixᵀ g| for a random g (an independent
        route through the framework's reverse mode; nan where the framework has none).
    seconds : {"coloring", "probes", "decompress"} wall-clock times.
    """

    matrix: sp.csr_array
    n_colors: int
    outside: float
    vjp_error: float = float("nan")
    seconds: dict = field(default_factory=dict)


def decompress(pattern, colors, compressed) -> tuple[sp.csr_array, float]:
    """The CSR on ``pattern`` read from ``compressed`` (n_rows, n_colors), and the largest |value| outside it.

    ``compressed[r, k]`` is output r of the probe of color k; rows are
    contiguous, so each row's entries are gathered from one run of
    ``n_colors`` values (a row-local gather, not one spread over the whole
    array). ``compressed`` is consumed: the pattern's positions in it are
    zeroed to measure what lies outside.
    """
    P = _csr(pattern)
    n_colors = compressed.shape[1]
    if compressed.shape[0] != P.shape[0]:
        raise ValueError(f"compressed: has {compressed.shape[0]} rows, the pattern {P.shape[0]}")
    B = compressed.reshape(-1)
    data = np.empty(P.nnz, dtype=compressed.dtype)
    idx = np.int32 if B.size <= 2**31 - 1 else np.int64  # int32 positions halve the memory traffic
    colors = colors.astype(idx, copy=False)
    for r0, r1 in _row_chunks(P.indptr):
        a, b = int(P.indptr[r0]), int(P.indptr[r1])
        flat = np.repeat(np.arange(r0, r1, dtype=idx) * idx(n_colors), np.diff(P.indptr[r0 : r1 + 1]))
        flat += colors[P.indices[a:b]]
        # mode="clip": positions are in range by construction, and "raise" buffers the output (10x slower)
        np.take(B, flat, out=data[a:b], mode="clip")
        B[flat] = 0
    outside = max(float(B.max()), -float(B.min())) if B.size else 0.0  # no |B| temporary
    # the pattern's index arrays are shared, not copied (at (64, 56², 64) they are ~0.5 GB)
    matrix = sp.csr_array((data, P.indices, P.indptr), shape=P.shape)
    return matrix, outside


def framework_jacobian(fn, x, pattern, *, coloring="grid", framework=None, probe_bytes=PROBE_BYTES,
                       return_info=False, max_bytes=None, check_vjp=True):
    """The Jacobian of a framework function ``fn`` at ``x`` as scipy CSR, by column compression over ``pattern``.

    Parameters
    ----------
    fn : callable taking one tensor shaped like ``x`` and returning one tensor
        (a PyTorch function, or a JAX function when ``x`` is a JAX array or
        ``framework="jax"``).
    x : ``torch.Tensor`` or JAX array (a numpy array is converted for ``framework``).
    pattern : scipy.sparse matrix of shape (fn(x).numel(), x.numel()) — the
        positions where the Jacobian may be nonzero (e.g. our explicit Jacobian).
    coloring : "grid" (analytic, default), "greedy", "networkx", or an integer
        array of column colors (verified).
    framework : "torch" or "jax"; default: "jax" for a JAX array, else "torch".
    probe_bytes : memory for one chunk of batched probes.
    return_info : also return a :class:`CompressedJacobian` with the number of
        probes, the mass outside the pattern and timings.
    max_bytes : memory guard for the compressed probes and the result.
    check_vjp : with ``return_info``, also compare one reverse-mode VJP with the
        decompressed matrix (``vjp_error``; nan when skipped).

    Returns
    -------
    scipy.sparse.csr_array, or :class:`CompressedJacobian` with ``return_info``.

    Examples
    --------
    >>> import numpy as np, pytest
    >>> torch = pytest.importorskip("torch")
    >>> from jacobians.ops.conv2d import conv2d_input_jacobian
    >>> w = torch.randn(2, 1, 3, 3, dtype=torch.float64)
    >>> x = torch.randn(1, 1, 8, 8, dtype=torch.float64)
    >>> ours = conv2d_input_jacobian(w.numpy(), (1, 1, 8, 8))
    >>> info = framework_jacobian(lambda t: torch.nn.functional.conv2d(t, w), x, ours, return_info=True)
    >>> info.n_colors, float(abs(info.matrix - ours).max()) < 1e-12, info.outside
    (9, True, 0.0)
    """
    if framework is None:
        from .jax import is_jax_array

        framework = "jax" if is_jax_array(x) else "torch"
    if framework not in ("torch", "jax"):
        raise ValueError(f"framework: must be 'torch' or 'jax' (got {framework!r})")
    if framework == "jax":
        from . import jax as backend

        x = backend.as_jax(x)
        if np.dtype(x.dtype).kind != "f":
            raise TypeError(f"x: must be a floating array (got dtype {x.dtype})")
        n_in, in_shape, itemsize = int(x.size), tuple(x.shape), np.dtype(x.dtype).itemsize
    else:
        import torch

        from . import torch as backend

        if not isinstance(x, torch.Tensor):
            arr = np.asarray(x)
            if arr.dtype.kind != "f":
                raise TypeError(f"x: must be a floating tensor or array (got dtype {arr.dtype})")
            x = torch.from_numpy(np.ascontiguousarray(arr))
        if not x.is_floating_point():
            raise TypeError(f"x: must be a floating tensor (got {x.dtype})")
        n_in, in_shape, itemsize = x.numel(), tuple(x.shape), x.element_size()
    P = _csr(pattern)
    if P.shape[1] != n_in:
        raise ValueError(f"pattern: has {P.shape[1]} columns but x has {n_in} entries")
    t0 = time.perf_counter()
    colors = color_columns(P, in_shape, coloring)
    n_colors = int(colors.max()) + 1 if colors.size else 0
    t1 = time.perf_counter()
    n_rows = P.shape[0]
    # the compressed matrix (n_colors × rows) and the result (nnz values) must fit
    check_budget("compressed Jacobian", exact_size((n_rows, n_colors)), (n_rows, n_colors), np.dtype(f"f{itemsize}"), max_bytes)
    check_budget("framework Jacobian", P.nnz, P.shape, np.dtype(f"f{itemsize}"), max_bytes)
    compressed = backend.jvp_probes(fn, x, colors, n_colors, n_rows, probe_bytes=probe_bytes)
    t2 = time.perf_counter()
    matrix, outside = decompress(P, colors, compressed)
    t3 = time.perf_counter()
    if not return_info:
        return matrix
    vjp_error = float("nan")
    if check_vjp:
        g = np.random.default_rng(0).standard_normal(n_rows).astype(compressed.dtype)
        try:
            gx = backend.vjp(fn, x, g)
            vjp_error = float(np.abs(gx - matrix.T @ g).max()) if n_in else 0.0
        except NotImplementedError:  # no reverse mode for this function (JAX: dilated max pool)
            pass
    t4 = time.perf_counter()
    return CompressedJacobian(matrix, n_colors, outside, vjp_error,
                              {"coloring": t1 - t0, "probes": t2 - t1, "decompress": t3 - t2, "vjp": t4 - t3})
