"""JAX side of :func:`jacobians.interop.framework.framework_jacobian` (optional: ``pip install jax``).

* :func:`jvp_probes` — ``jax.vmap`` over ``jax.jvp`` (jitted when large), in chunks: the
  compressed Jacobian (n_rows, n_colors) of a JAX function.
* :data:`JAX_FORWARDS` — JAX's own implementations (``jax.lax``) of registered
  operators, for ``jacobians diff --framework jax``: the framework's
  Jacobian of *its* implementation is diffed against ours.

JAX computes in float32 unless ``jax_enable_x64`` is set; float64 inputs are
then refused with one line rather than silently truncated.
"""
from __future__ import annotations

import numpy as np

__all__ = ["jvp_probes", "vjp", "JAX_FORWARDS", "is_jax_array"]

#: probe chunks with at least this many tangent + output entries are jit-compiled (one compilation per call)
JIT_ENTRIES = 1 << 22


def is_jax_array(x) -> bool:
    return type(x).__module__.split(".")[0] in ("jax", "jaxlib")


def as_jax(x):
    import jax
    import jax.numpy as jnp

    arr = x if is_jax_array(x) else np.asarray(x)
    if np.dtype(arr.dtype) == np.float64 and not jax.config.jax_enable_x64:
        raise TypeError("x: float64 needs jax.config.update('jax_enable_x64', True) (JAX would silently use float32)")
    return jnp.asarray(arr)


def jvp_probes(fn, x, colors: np.ndarray, n_colors: int, n_rows: int, *, probe_bytes: int) -> np.ndarray:
    """(n_rows, n_colors) array: column k is the JVP of ``fn`` at ``x`` with tangent Σ_{color(c)=k} e_c."""
    import jax
    import jax.numpy as jnp

    itemsize = np.dtype(x.dtype).itemsize
    per_probe = (x.size + n_rows) * itemsize * 2
    chunk = int(max(1, min(n_colors, probe_bytes // max(per_probe, 1))))
    colors_x = jnp.asarray(colors.reshape(x.shape))
    out = np.empty((n_rows, n_colors), dtype=np.dtype(x.dtype))

    def probes(ks):
        tangents = (colors_x[None] == ks.reshape((-1,) + (1,) * x.ndim)).astype(x.dtype)
        return jax.vmap(lambda t: jax.jvp(fn, (x,), (t,))[1])(tangents)

    if chunk * (x.size + n_rows) >= JIT_ENTRIES:  # compiling pays off only for large probes
        probes = jax.jit(probes)

    for k0 in range(0, n_colors, chunk):
        k1 = min(k0 + chunk, n_colors)
        ks = np.arange(k0, k0 + chunk)  # fixed chunk shape: one compilation (the tail is cut below)
        y = np.asarray(probes(jnp.asarray(ks)))
        if y[0].size != n_rows:
            raise ValueError(f"pattern: has {n_rows} rows but fn returns {y[0].size} entries")
        out[:, k0:k1] = y.reshape(chunk, n_rows)[: k1 - k0].T
    return out


def vjp(fn, x, g: np.ndarray) -> np.ndarray:
    """``Jᵀg`` through ``jax.vjp`` (the reverse-mode route)."""
    import jax
    import jax.numpy as jnp

    y, pull = jax.vjp(fn, x)
    (gx,) = pull(jnp.asarray(g.reshape(y.shape), dtype=y.dtype))
    return np.asarray(gx).ravel()


# ---------------------------------------------------------------------------
# JAX's own implementations of registered operators (signature of the torch forwards)
# ---------------------------------------------------------------------------
def _conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    import jax.numpy as jnp
    from jax import lax

    from ..geometry import Conv2dGeometry

    batched = x.ndim == 4
    geom = Conv2dGeometry.from_shapes(tuple(x.shape[-3:]), tuple(weight.shape), stride, padding, dilation, groups)
    pt, pb, pl, pr = geom.padding
    y = lax.conv_general_dilated(x if batched else x[None], weight, window_strides=geom.stride,
                                 padding=[(pt, pb), (pl, pr)], rhs_dilation=geom.dilation, feature_group_count=geom.groups,
                                 dimension_numbers=("NCHW", "OIHW", "NCHW"))
    if bias is not None:
        y = y + jnp.asarray(bias).reshape(1, -1, 1, 1)
    return y if batched else y[0]


def _max_pool2d(x, kernel_size, stride=None, padding=0, pad_value=float("-inf"), ties="first", dilation=1,
                ceil_mode=False, return_indices=False):
    from jax import lax

    if ceil_mode or return_indices:
        raise NotImplementedError("framework: the JAX max_pool2d here has no ceil_mode / return_indices")

    from ..geometry import as_padding

    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
    kh, kw = pair(kernel_size)
    sh, sw = pair(stride if stride is not None else kernel_size)
    dh, dw = pair(dilation)
    pt, pb, pl, pr = as_padding(padding)
    import jax.numpy as jnp

    lead = x.ndim - 2
    # pad explicitly with pad_value (reduce_window's own padding would put its init value into every window)
    xp = jnp.pad(x, [(0, 0)] * lead + [(pt, pb), (pl, pr)], constant_values=pad_value)
    return lax.reduce_window(xp, np.array(-np.inf, dtype=x.dtype), lax.max, (1,) * lead + (kh, kw), (1,) * lead + (sh, sw),
                             "VALID", window_dilation=(1,) * lead + (dh, dw))


def _elementwise(name):
    def forward(z):
        import jax
        import jax.numpy as jnp

        return {"relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh}[name](z)

    return forward


#: registered operator -> JAX forward (same keyword signature as its torch_forward)
JAX_FORWARDS = {
    "conv2d": _conv2d,
    "max_pool2d": _max_pool2d,
    "relu": _elementwise("relu"),
    "sigmoid": _elementwise("sigmoid"),
    "tanh": _elementwise("tanh"),
}
