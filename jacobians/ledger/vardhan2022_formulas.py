"""Note 001's own index formulas (Vardhan 2022), kept beside its claims: not operators of the field.

* :func:`vardhan2022_mask_column` — Appendix B's column of the 1 in max-pooling mask row A_pq (eqs. b-2.1 to b-2.3
  and j = (c_i − 1) h_i + r_i), exactly as written, with no bounds check;
  :func:`vardhan2022_mask_column_corrected` adds the case the note misses (a switch on the padding).
* :func:`vardhan2022_channel_rows` — §3.1.2's reshaping of the row dJ/dB⁽²⁾ into one row per channel.
"""
from __future__ import annotations

import numpy as np

from ._tools import numeric_array

from .. import GeometryError

__all__ = ["vardhan2022_mask_column", "vardhan2022_mask_column_corrected", "vardhan2022_channel_rows"]


def vardhan2022_mask_column(i_pq, p, q, h_i, kernel_hw, stride_hw, padding_hw):
    """Note 001's column of the 1 in mask row A_pq, exactly as written (eqs. b-2.1 to b-2.3).

    All indices 1-based, column-major as in the note; symmetric padding
    (h_p, w_p) as in the note; no dilation.

    Parameters
    ----------
    i_pq : int array — the switch: 1-based index of the maximum in the
        window stacked column by column (``MaxPoolSwitches.note001_index``)
    p, q : int arrays — 1-based output row and column
    h_i : input height
    kernel_hw, stride_hw, padding_hw : (h_l, w_l), (h_s, w_s), (h_p, w_p)

    Returns
    -------
    j : int array — ``(c_i − 1)·h_i + r_i`` with
        ``c_b = ceil(i_pq / h_l)``, ``r_b = i_pq − (c_b − 1)·h_l``        (b-2.1)
        ``r_t = 1 + h_s(p − 1) − h_p``, ``c_t = 1 + w_s(q − 1) − w_p``  (b-2.2)
        ``r_i = r_b + r_t − 1``, ``c_i = c_b + c_t − 1``                 (b-2.3)

    Notes
    -----
    As written this never checks that (r_i, c_i) lies on the input. With the
    note's own max{0, …} windows the maximum can be a padded zero; then j is
    out of range or, worse, a valid column of an entry that is not even in
    the window (see :func:`vardhan2022_mask_column_corrected`).
    """
    i_pq, p, q = (np.asarray(v, dtype=np.int64) for v in (i_pq, p, q))
    h_l, _ = kernel_hw
    h_s, w_s = stride_hw
    h_p, w_p = padding_hw
    c_b = -(-i_pq // h_l)  # ceil(i_pq / h_l) in integers
    r_b = i_pq - (c_b - 1) * h_l
    r_t = 1 + h_s * (p - 1) - h_p
    c_t = 1 + w_s * (q - 1) - w_p
    r_i = r_b + r_t - 1
    c_i = c_b + c_t - 1
    return (c_i - 1) * h_i + r_i


def vardhan2022_mask_column_corrected(i_pq, p, q, input_hw, kernel_hw, stride_hw, padding_hw):
    """Note 001's mask column with the missing case: 0 ("no column") for a switch on the padding.

    Same arithmetic as :func:`vardhan2022_mask_column`, then the row is
    empty (returned as 0, which is no valid 1-based column) unless
    ``1 ≤ r_i ≤ h_i`` and ``1 ≤ c_i ≤ w_i``. Needs the input width too.
    """
    i_pq, p, q = (np.asarray(v, dtype=np.int64) for v in (i_pq, p, q))
    h_i, w_i = input_hw
    h_l, _ = kernel_hw
    h_s, w_s = stride_hw
    h_p, w_p = padding_hw
    c_b = -(-i_pq // h_l)
    r_b = i_pq - (c_b - 1) * h_l
    r_i = r_b + (1 + h_s * (p - 1) - h_p) - 1
    c_i = c_b + (1 + w_s * (q - 1) - w_p) - 1
    on_input = (r_i >= 1) & (r_i <= h_i) & (c_i >= 1) & (c_i <= w_i)
    return np.where(on_input, (c_i - 1) * h_i + r_i, 0)


def vardhan2022_channel_rows(dj_db, channels: int) -> np.ndarray:
    """Note 001 §3.1.2: the row dJ/dB⁽²⁾ (1 × c·h·w) as a c × (h·w) matrix, row j = dJ/d vec(A_j).

    B⁽²⁾ stacks vec(A_1), …, vec(A_c) (each column-major), so the reshape is a
    plain C-order reshape of the row; its Jacobian is the identity.
    """
    row = numeric_array(dj_db, "dj_db")
    if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) or channels < 1:
        raise GeometryError(f"channels: must be a positive integer (got {type(channels).__name__} {str(channels)[:40]!r})")
    channels = int(channels)
    if row.ndim > 2 or (row.ndim == 2 and row.shape[0] != 1) or row.size % channels:
        raise GeometryError(
            f"dj_db: must be a row of c*h*w entries divisible by channels = {channels} (got shape {row.shape})"
        )
    return row.reshape(channels, -1)
