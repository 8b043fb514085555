"""The ledger: one test per claim of the five notes, comparing the computed verdict with the expected one.

A computed verdict comes from the claim's own computation (several routes,
several geometries); these tests fail when it differs from the verdict the
ledger records. Each holds-corrected / completes entry is also run with its
correction deliberately perturbed, and the check must then reject it.
"""
from __future__ import annotations

import os

import pytest

from jacobians.ledger import CLAIMS, NOTES, VERDICTS, Evidence, load_claims, select, verdict_from
from jacobians.ledger import report

load_claims()
IDS = list(CLAIMS)
CORRECTED = [cid for cid, c in CLAIMS.items() if c.expected in ("holds-corrected", "completes")]
README = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "ledger.md")  # the generated ledger tables

_RESULTS = {}


def result(cid):
    if cid not in _RESULTS:
        _RESULTS[cid] = CLAIMS[cid].run()
    return _RESULTS[cid]


@pytest.mark.parametrize("cid", IDS)
def test_ledger(cid):
    r = result(cid)
    assert r.error is None, f"{cid}: check crashed: {r.error}"
    assert r.verdict == r.claim.expected, (
        f"{cid}: computed {r.verdict}, expected {r.claim.expected}; "
        f"as written {r.written_errors}, corrected {r.corrected_errors}"
    )


@pytest.mark.parametrize("cid", CORRECTED)
def test_perturbed_correction_is_rejected(cid):
    """A wrong correction (the corrected value deliberately altered) must not pass the check."""
    r = CLAIMS[cid].run(perturb=True)
    assert r.error is None, r.error
    assert r.corrected_holds is False, f"{cid}: a perturbed correction passed ({r.corrected_errors})"
    assert r.verdict != CLAIMS[cid].expected


@pytest.mark.parametrize("cid", IDS)
def test_claim_records_its_declared_routes(cid):
    c, r = CLAIMS[cid], result(cid)
    used = set(r.written_errors) | set(r.corrected_errors)
    declared = set(c.routes)
    assert used <= declared, f"{cid}: routes used but not declared: {used - declared}"
    from jacobians.check import torch_available

    missing = declared - used - (set() if torch_available() else {"torch"})
    assert not missing, f"{cid}: declared routes never compared: {missing}"
    assert len(declared) >= 2, f"{cid}: needs at least two independent routes"


def test_catalog_covers_the_five_notes():
    assert len(CLAIMS) > 60
    notes = {c.note for c in CLAIMS.values()}
    assert notes == set(NOTES)
    for key in NOTES:
        assert len(select(note=key)) >= 10, key
    assert all(c.expected in VERDICTS for c in CLAIMS.values())
    # the two gaps named in the project brief are filled
    assert CLAIMS["mint.stride-input-grad"].expected == "completes"


def test_holds_corrected_entries_state_their_correction_and_fail_as_written():
    for cid, c in CLAIMS.items():
        if c.expected != "holds-corrected":
            continue
        r = result(cid)
        assert c.correction
        assert r.as_written_holds is False and r.corrected_holds is True, cid


def test_verdict_rule():
    assert verdict_from(True, None) == "holds"
    assert verdict_from(True, False) == "holds"
    assert verdict_from(False, True) == "holds-corrected"
    assert verdict_from(None, True) == "completes"
    assert verdict_from(False, False) == "fails"
    assert verdict_from(False, None) == "fails"
    assert verdict_from(None, None) == "fails"
    assert verdict_from(None, False) == "fails"


def test_evidence_tolerances_are_per_route():
    import numpy as np

    ev = Evidence()
    ev.written("shape", (2, 3), (2, 3))
    ev.written("index", np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-15]))  # exact route: any difference fails
    assert ev.holds("written") is False
    ev = Evidence()
    ev.written("fd", np.array([1.0]), np.array([1.0 + 1e-8]))
    ev.written("explicit", np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-13]))
    assert ev.holds("written") is True
    ev.written("explicit", np.zeros((2, 2)), np.zeros((2, 3)))  # incomparable shapes never pass
    assert ev.holds("written") is False and ev.holds("corrected") is None


def test_select_rejects_unknown_names():
    with pytest.raises(ValueError, match="--note"):
        select(note="nosuchnote")
    with pytest.raises(ValueError, match="--claim"):
        select(claim_id="dd2424.no-such-claim")
    with pytest.raises(ValueError, match="belongs to"):
        select(note="mint", claim_id="dd2424.softmax-ce-gradient")


def test_readme_ledger_region_is_current():
    results = [result(cid) for cid in IDS]
    with open(README, encoding="utf-8") as fh:
        region = report.readme_region(fh.read())
    assert region == report.readme_markdown(results).strip("\n"), (
        "docs/ledger.md is stale: run `python -m jacobians.ledger.report --update-readme docs/ledger.md`"
    )
