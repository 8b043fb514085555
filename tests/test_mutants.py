"""Mutation test (issue #11 item 2): every planted bug changes a verdict of `jacobians verify` and fails a test.

The catalogue and the runner are in tests/mutants.py. Each mutant runs on a temporary copy of the repository in
subprocesses (several seconds each); a fast subset runs in the default suite, the whole catalogue with
``JACOBIANS_MUTANTS=all`` (those tests are also marked ``slow``), e.g. in CI:
``JACOBIANS_MUTANTS=all python -m pytest -q tests/test_mutants.py``.
"""
from __future__ import annotations

import os
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from mutants import MUTANTS, apply, _copy_repository, run_mutant  # noqa: E402

FAST = {"col2im-crops-the-wrong-side", "softmax-jacobian-diag-of-p-minus-p-squared", "preset-xu2020-row-major",
        "fan-out-assigns-instead-of-adding"}
FAMILIES = {"conv2d", "pooling", "activation", "softmax", "linear", "reshape", "kron", "chain", "geometry", "convention"}
PRESETS = {"wang2019", "vardhan2022", "mint", "xu2020", "dd2424"}


def test_catalogue_is_large_and_covers_every_family_and_note_preset():
    assert len(MUTANTS) >= 30
    assert len({m.name for m in MUTANTS}) == len(MUTANTS)
    assert {m.family for m in MUTANTS} == FAMILIES
    assert PRESETS <= {m.name.split("-")[1] for m in MUTANTS if m.name.startswith("preset-")}
    assert all(m.claims and m.tests for m in MUTANTS), [m.name for m in MUTANTS if not (m.claims and m.tests)]


def test_every_mutant_applies_to_exactly_one_place():
    with tempfile.TemporaryDirectory() as tmp:
        _copy_repository(tmp)
        for m in MUTANTS:
            apply(m, tmp)  # raises unless the substring occurs exactly once


@pytest.mark.parametrize(
    "mutant",
    [
        pytest.param(
            m,
            id=m.name,
            marks=()
            if m.name in FAST
            else (pytest.mark.slow, pytest.mark.skipif(os.environ.get("JACOBIANS_MUTANTS") != "all", reason="set JACOBIANS_MUTANTS=all")),
        )
        for m in MUTANTS
    ],
)
def test_mutant_is_killed_by_a_verdict_and_by_a_test(mutant):
    record = run_mutant(mutant)
    assert record["verdicts_changed"], f"{mutant.name}: no verdict of {mutant.claims} changed"
    assert record["tests_failed"], f"{mutant.name}: every test of {mutant.tests} still passes"
