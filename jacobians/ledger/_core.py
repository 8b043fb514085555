"""The ledger's view of the public claims API (:mod:`jacobians.claims`), plus the five notes.

The machinery (claim, Evidence, verdict rule, route kinds) lives in
:mod:`jacobians.claims`; this module re-exports it for the note modules and
adds what is specific to the bundled ledger: :data:`NOTES` (key -> file
number and citation), :func:`load_claims` (imports every note module) and
:func:`select` (by note key or number, and claim id).
"""
from __future__ import annotations

import importlib

from ..claims import (  # noqa: F401  (re-exported for the note modules)
    CLAIMS,
    DEFAULT_TOL,
    KINDS,
    ROUTE_KINDS,
    ROUTE_TOL,
    VERDICTS,
    Claim,
    ClaimResult,
    Evidence,
    claim,
    run_claims,
    verdict_from,
)
from ..claims import select as _select

__all__ = [
    "VERDICTS",
    "NOTES",
    "ROUTE_TOL",
    "Claim",
    "ClaimResult",
    "Evidence",
    "verdict_from",
    "claim",
    "CLAIMS",
    "load_claims",
    "select",
    "run_claims",
]

#: note key -> (file number, citation)
NOTES = {
    "wang2019": ("000", 'Shusen Wang, "BackPropagation for Fully-Connected and Convolutional Neural Networks" (2019)'),
    "vardhan2022": ("001", 'Harsha Vardhan, "Convolutional Neural Network: back-propagation for 2D-convolution" (2022)'),
    "mint": ("002", '"Back Propagation Summary" (notes for the Mint framework)'),
    "xu2020": ("003", 'Jiashu Xu, "BP for convolutional layer" (2020)'),
    "dd2424": ("004", 'DD2424 Lecture 6, "The Convolutional Layer in Convolutional Networks" (KTH, 2017)'),
}

#: note number as written in the notes' file names ("004", "4") -> key
NOTE_NUMBERS = {**{num: key for key, (num, _) in NOTES.items()}, **{str(int(num)): key for key, (num, _) in NOTES.items()}}


def load_claims() -> dict[str, Claim]:
    """Import every note module (registering its claims) and return the catalog."""
    for key in NOTES:
        importlib.import_module(f".{key}", __package__)
    return CLAIMS


def select(note: str | None = None, claim_id: str | None = None) -> list[Claim]:
    """Claims of one note (key or number) and/or one id; unknown names raise ValueError listing the choices."""
    claims = {cid: c for cid, c in load_claims().items() if c.note in NOTES}
    if note is not None and note not in NOTES and note not in NOTE_NUMBERS:
        raise ValueError(
            f"--note: unknown note {note!r}; choose one of {', '.join(NOTES)} "
            f"(or its number {', '.join(num for num, _ in NOTES.values())})"
        )
    return _select(claims, note=note, claim_id=claim_id, aliases=NOTE_NUMBERS)
