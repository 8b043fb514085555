"""The ledger: every checkable claim of the five source notes, with its verdict.

One module per note (``wang2019``, ``vardhan2022``, ``mint``, ``xu2020``,
``dd2424``) registers its claims with the public claims API (:func:`jacobians.claims.claim`);
:func:`load_claims` imports them all. Each claim's check compares the note's
statement (as written, and where needed as corrected) through independent
routes and derives its verdict by one rule (:func:`verdict_from`).
``jacobians verify`` runs them; :mod:`jacobians.ledger.report` renders the
results as a table, JSON or markdown (and updates the README's results).
"""
from ._core import (
    CLAIMS,
    NOTES,
    VERDICTS,
    Claim,
    ClaimResult,
    Evidence,
    load_claims,
    run_claims,
    select,
    verdict_from,
)

__all__ = [
    "CLAIMS",
    "NOTES",
    "VERDICTS",
    "Claim",
    "ClaimResult",
    "Evidence",
    "load_claims",
    "run_claims",
    "select",
    "verdict_from",
]
