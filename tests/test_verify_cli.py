"""`jacobians verify`: output formats, exit statuses, user errors."""
from __future__ import annotations

import dataclasses
import json

from jacobians.cli import main
from jacobians.ledger import CLAIMS, load_claims

load_claims()


def test_verify_one_note_table(capsys):
    assert main(["verify", "--note", "xu2020"]) == 0
    out = capsys.readouterr().out
    assert "xu2020.im2col-product" in out and "holds-corrected" in out
    assert "all verdicts as expected" in out
    assert "dd2424." not in out


def test_verify_json_objects(capsys):
    assert main(["verify", "--claim", "mint.stride-input-grad", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data, list) and len(data) == 1
    item = data[0]
    for key in ("id", "note", "location", "statement", "expected", "verdict", "max_error"):
        assert key in item
    assert item["verdict"] == item["expected"] == "completes"
    assert {"explicit", "rot180", "fd"} <= set(item["max_error"])
    assert all(isinstance(v, float) for v in item["max_error"].values())


def test_verify_json_shows_as_written_failure(capsys):
    assert main(["verify", "--claim", "xu2020.im2col-product", "--format", "json"]) == 0
    item = json.loads(capsys.readouterr().out)[0]
    assert item["verdict"] == "holds-corrected"
    assert item["as_written_error"]["explicit"] > 1e-3 > item["max_error"]["explicit"]


def test_verify_markdown(capsys):
    assert main(["verify", "--note", "xu2020", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "| claim | where | verdict |" in out and "### Errata found" in out


def test_unknown_names_exit_2_with_one_line(capsys):
    assert main(["verify", "--claim", "dd2424.nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "dd2424.nope" in err
    assert main(["verify", "--note", "nonote"]) == 2
    assert "nonote" in capsys.readouterr().err


def test_exit_1_when_a_verdict_differs(capsys, monkeypatch):
    cid = "xu2020.kron-identity"
    wrong = dataclasses.replace(CLAIMS[cid], expected="fails")
    monkeypatch.setitem(CLAIMS, cid, wrong)
    assert main(["verify", "--claim", cid]) == 1
    assert "MISMATCH" in capsys.readouterr().out
