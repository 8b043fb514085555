"""The Kronecker forms of a convolution (Jiashu Xu, "BP for convolutional layer", 2020).

With φ(I) the im2col matrix of an image (one row per output position, one
column per (channel, tap): shape ``(P, K) = (OH·OW, C·kh·kw)``), ``F_f`` the
filters as a ``(K, FN)`` matrix (one column per filter) and ``O_f = φ(I) F_f``
the output as a ``(P, FN)`` matrix (one column per output channel), the
column-major identity vec(A X B) = (Bᵀ ⊗ A) vec(X) gives two explicit
Jacobians::

    vec(O_f) = (I_FN ⊗ φ(I)) vec(F_f)          (note 003, eq. 1: w.r.t. the filters)
             = (F_fᵀ ⊗ I_P) vec(φ(I))          (note 003, eq. 2: w.r.t. the patches)

and the note's backward formulas ∂L/∂F_f = φ(I)ᵀ ∂L/∂O_f and
∂L/∂φ(I) = ∂L/∂O_f F_fᵀ (the same as a linear layer's).

Conventions. ``vec`` in these identities is column-major. Column-major
vec(O_f) lists output channels slowest, i.e. it *is* the canonical C-order
vec of the ``(FN, OH, OW)`` output; column-major vec(F_f) with the correct
F_f is the canonical vec of the ``(FN, C, kh, kw)`` weight. So
``I_FN ⊗ φ(I)`` equals :func:`~jacobians.ops.conv2d.conv2d_weight_jacobian`
entry for entry, and ``(F_fᵀ ⊗ I_P) · P_col · ∂vec(φ)/∂vec(I)`` equals
:func:`~jacobians.ops.conv2d.conv2d_input_jacobian` (``P_col`` reorders the
row-major vec of φ to its column-major vec).

The reshape. Note 003 builds F_f as ``F.reshape(-1, FN)`` of the
``(FN, C, FH, FW)`` filter array. In NumPy's C order that reshape cuts the
flat array into rows of FN consecutive entries, which mixes filters whenever
FN > 1; the matrix whose columns are the filters is ``F.reshape(FN, -1).T``.
Both are note 003's formulas and live beside its claims
(:mod:`jacobians.ledger.xu2020_formulas`); tests/test_kron.py records which one satisfies φ(I) F_f = O_f.

The registered operator ``xu2020_kron`` is O_f = φ(I) F_f as a function of
the image ``x`` and of ``f_f``; its explicit Jacobians are built from the two
Kronecker products (converted to the canonical row-major vec with permutation
matrices) and its VJPs are the note's two matrix formulas.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from ..conventions import Convention
from ..geometry import GeometryError, as_pair, as_positive_int
from ..registry import Case, register
from . import _references
from ._show import ShowSetup, ShowSpec, dims, need_ndim, window_params
from ._sparse import as_float_array, check_budget, exact_size
from .conv2d import col2im, im2col, im2col_jacobian

__all__ = [
    "COLUMN_MAJOR",
    "kron_filter_form",
    "kron_patch_form",
    "xu2020_kron",
    "xu2020_kron_filter_jacobian",
    "xu2020_kron_input_jacobian",
    "xu2020_vjp_filter",
    "xu2020_vjp_input",
]

#: Column-major vec of matrices, the convention of the Kronecker identity.
COLUMN_MAJOR = Convention(vec="col", name="column-major")



def kron_filter_form(phi, n_filters: int, *, max_bytes=None) -> sp.csr_array:
    """I_FN ⊗ φ(I): ∂vec(O_f)/∂vec(F_f) with column-major vec (note 003, eq. 1).

    Parameters
    ----------
    phi : (P, K) matrix φ(I), dense or sparse
    n_filters : FN, a positive integer (2.7 is refused, 3.0 accepted)

    Returns
    -------
    csr_array of shape ``(P·FN, K·FN)``, dtype of φ (float32 kept). Equal,
    entry for entry, to the canonical ``conv2d_weight_jacobian`` (block
    diagonal, each block M_X^im).

    Examples
    --------
    >>> kron_filter_form(np.array([[1., 2.]]), 2).toarray()
    array([[1., 2., 0., 0.],
           [0., 0., 1., 2.]])
    """
    n_filters = as_positive_int(n_filters, "n_filters")
    phi = sp.csr_array(phi) if sp.issparse(phi) else as_float_array(phi, "phi")
    if phi.ndim != 2 or phi.dtype == object:
        raise GeometryError(f"phi: must be a numeric matrix (OH*OW, C*kh*kw) (got shape {phi.shape})")
    phi = sp.csr_array(phi)
    shape = (n_filters * phi.shape[0], n_filters * phi.shape[1])
    check_budget("I ⊗ φ(I)", n_filters * phi.nnz, shape, phi.dtype, max_bytes)
    return sp.csr_array(sp.kron(sp.identity(n_filters, dtype=phi.dtype, format="csr"), phi, format="csr"))


def kron_patch_form(f_f, n_positions: int, *, max_bytes=None) -> sp.csr_array:
    """F_fᵀ ⊗ I_P: ∂vec(O_f)/∂vec(φ(I)) with column-major vec (note 003, eq. 2).

    Parameters
    ----------
    f_f : (K, FN) filter matrix
    n_positions : P, a positive integer

    Returns
    -------
    csr_array of shape ``(P·FN, P·K)``, dtype of ``f_f`` (float32 kept).

    Examples
    --------
    >>> kron_patch_form(np.array([[1.], [2.]]), 2).toarray()
    array([[1., 0., 2., 0.],
           [0., 1., 0., 2.]])
    """
    n_positions = as_positive_int(n_positions, "n_positions")
    f_f = as_float_array(f_f, "f_f")
    if f_f.ndim != 2 or f_f.dtype == object:
        raise GeometryError(f"f_f: must be a numeric matrix (C*kh*kw, FN) (got shape {f_f.shape})")
    shape = (n_positions * f_f.shape[1], n_positions * f_f.shape[0])
    check_budget("Fᵀ ⊗ I", n_positions * exact_size(f_f.shape), shape, f_f.dtype, max_bytes)
    return sp.csr_array(
        sp.kron(sp.csr_array(f_f.T), sp.identity(n_positions, dtype=f_f.dtype, format="csr"), format="csr")
    )


# ---------------------------------------------------------------------------
# the registered operator O_f = φ(I) F_f
# ---------------------------------------------------------------------------
def _checked(x, f_f, kernel_size):
    x = np.asarray(x)
    f_f = np.asarray(f_f)
    if x.ndim != 3:
        raise GeometryError(f"x: must have shape (C, H, W) (got {x.ndim}-D shape {x.shape})")
    kh, kw = as_pair(kernel_size, "kernel_size")
    k = x.shape[0] * kh * kw
    if f_f.ndim != 2 or f_f.shape[0] != k:
        raise GeometryError(f"f_f: must have shape (C*kh*kw, FN) = ({k}, FN) for this input (got {f_f.shape})")
    return x, f_f, (kh, kw)


def xu2020_kron(x, f_f, kernel_size, stride=1, padding=0, dilation=1) -> np.ndarray:
    """O_f = φ(I) F_f, shape ``(OH·OW, FN)``.

    Parameters
    ----------
    x : (C, H, W)
    f_f : (C·kh·kw, FN), e.g. ``weight.reshape(FN, -1).T`` of a weight
    kernel_size, stride, padding, dilation : as :func:`~jacobians.ops.conv2d.im2col`
    """
    x, f_f, k = _checked(x, f_f, kernel_size)
    return im2col(x, k, stride, padding, dilation) @ f_f


def _col_perm(shape):
    return COLUMN_MAJOR.permutation(shape)


def xu2020_kron_filter_jacobian(x, f_f, kernel_size, stride=1, padding=0, dilation=1) -> sp.csr_array:
    """∂vec(O_f)/∂vec(F_f) in the canonical (row-major) vec: P_Oᵀ (I_FN ⊗ φ(I)) P_F."""
    x, f_f, k = _checked(x, f_f, kernel_size)
    phi = im2col(x, k, stride, padding, dilation)
    n_pos, fn = phi.shape[0], f_f.shape[1]
    jac_col = kron_filter_form(phi, fn)
    return sp.csr_array(_col_perm((n_pos, fn)).T @ jac_col @ _col_perm(f_f.shape))


def xu2020_kron_input_jacobian(x, f_f, kernel_size, stride=1, padding=0, dilation=1) -> sp.csr_array:
    """∂vec(O_f)/∂vec(I) in the canonical vec: P_Oᵀ (F_fᵀ ⊗ I_P) P_φ ∂vec(φ)/∂vec(I)."""
    x, f_f, k = _checked(x, f_f, kernel_size)
    d_phi = im2col_jacobian(x.shape, k, stride, padding, dilation)
    n_pos = d_phi.shape[0] // f_f.shape[0]
    jac_col = kron_patch_form(f_f, n_pos)
    p_phi = _col_perm((n_pos, f_f.shape[0]))
    return sp.csr_array(_col_perm((n_pos, f_f.shape[1])).T @ jac_col @ p_phi @ d_phi)


def xu2020_vjp_filter(g, x, f_f, kernel_size, stride=1, padding=0, dilation=1) -> np.ndarray:
    """∂L/∂F_f = φ(I)ᵀ ∂L/∂O_f (note 003)."""
    x, f_f, k = _checked(x, f_f, kernel_size)
    return im2col(x, k, stride, padding, dilation).T @ np.asarray(g, dtype=np.float64)


def xu2020_vjp_input(g, x, f_f, kernel_size, stride=1, padding=0, dilation=1) -> np.ndarray:
    """∂L/∂I = col2im(∂L/∂O_f F_fᵀ): note 003's ∂L/∂φ(I), then folded (note 000)."""
    x, f_f, k = _checked(x, f_f, kernel_size)
    d_phi = np.asarray(g, dtype=np.float64) @ f_f.T
    return col2im(d_phi, x.shape, k, stride, padding, dilation)


def _torch_xu2020_kron(x, f_f, kernel_size, stride=1, padding=0, dilation=1):
    import torch.nn.functional as F

    from ..geometry import as_padding

    pt, pb, pl, pr = as_padding(padding)
    xp = F.pad(x[None], (pl, pr, pt, pb))
    cols = F.unfold(xp, as_pair(kernel_size, "kernel_size"), dilation=dilation, stride=stride)[0]  # (K, P)
    return cols.T @ f_f


#: (C, H, W, FN, kh, kw, stride, padding, dilation)
KRON_GEOMETRIES = [
    (1, 6, 6, 1, 3, 3, 1, 0, 1),  # note 004's 16×9 M_X^im
    (3, 5, 4, 3, 2, 2, 1, 0, 1),
    (2, 5, 6, 4, 3, 2, 2, 1, 1),
    (1, 3, 4, 2, 2, 2, (1, 2), 1, 1),  # note 001 Appendix A geometry
    (2, 7, 6, 2, 2, 3, 1, (1, 0, 2, 1), 2),
]


def kron_cases():
    rng = np.random.default_rng(2020)
    out = []
    for c, h, w, fn, kh, kw, s, p, d in KRON_GEOMETRIES:
        x = rng.standard_normal((c, h, w))
        f_f = rng.standard_normal((c * kh * kw, fn))
        cid = f"x{c}x{h}x{w}-k{kh}x{kw}-FN{fn}-s{s}-p{p}-d{d}"
        for ch in " (),":
            cid = cid.replace(ch, "_" if ch == "," else "")
        out.append(Case({"x": x, "f_f": f_f}, dict(kernel_size=(kh, kw), stride=s, padding=p, dilation=d), cid))
    return out


def _show_kron_setup(shape, options):
    """``--input CxHxW`` is the image I, ``--weight FNxCxKHxKW`` the filters; F_f is (C·KH·KW, FN)."""
    need_ndim("xu2020_kron", shape, 3, "CxHxW")
    if "weight" not in options:
        raise ValueError("--weight: xu2020_kron needs the filters --weight FNxCxKHxKW")
    weight = options["weight"]
    need_ndim("xu2020_kron", weight, 4, "FNxCxKHxKW", "--weight")
    fn, c, kh, kw = weight
    if c != shape[0]:
        raise ValueError(f"--weight: filter channels ({c}) must equal the image channels ({shape[0]}) of --input {dims(shape)}")
    params = {"kernel_size": (kh, kw), **window_params("xu2020_kron", options, kernel_required=False)}
    _show_kron_out({"x": shape, "f_f": (c * kh * kw, fn)}, params)  # validates the window
    return ShowSetup({"x": shape, "f_f": (c * kh * kw, fn)}, params)


def _show_kron_out(shapes, params):
    from ..geometry import Conv2dGeometry

    c = shapes["x"][0]
    kh, kw = params["kernel_size"]
    p = {k: v for k, v in params.items() if k != "kernel_size"}
    geom = Conv2dGeometry.from_shapes(shapes["x"], (1, c, kh, kw), **p)
    return (geom.out_hw[0] * geom.out_hw[1], shapes["f_f"][1])


register(
    "xu2020_kron",
    reference=_references.xu2020_kron_reference,
    summary="O_f = φ(I)·F_f with Jacobians (I_FN ⊗ φ(I)) and (F_fᵀ ⊗ I)·∂vec φ/∂vec I (note 003)",
    forward=xu2020_kron,
    jacobian={
        "f_f": lambda x, f_f, **p: xu2020_kron_filter_jacobian(x, f_f, **p),
        "x": lambda x, f_f, **p: xu2020_kron_input_jacobian(x, f_f, **p),
    },
    vjp={"f_f": {"note003": xu2020_vjp_filter}, "x": {"note003+col2im": xu2020_vjp_input}},
    cases=kron_cases,
    affine_in=("x", "f_f"),
    torch_forward=_torch_xu2020_kron,
    param_names=("kernel_size", "stride", "padding", "dilation"),
    show=ShowSpec(
        setup=_show_kron_setup, options={"weight": "shape", "stride": "ints", "padding": "padding", "dilation": "ints"},
        out_shape=_show_kron_out, input_help="CxHxW", aliases={"weight": "f_f"}, symbols={"x": "I", "f_f": "F"},
        input_name="x", example=("--input", "1x3x3", "--weight", "2x1x2x2"),
        nnz=lambda shapes, params, wrt, out: math.prod(out) * shapes["f_f"][0],
    ),
)
