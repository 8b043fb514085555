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


# ---------------------------------------------------------------------------
# the newcomer's path (issue #12) and user claims files (issue #10)
# ---------------------------------------------------------------------------
import pytest  # noqa: E402


def test_table_has_a_header_a_legend_and_the_correction_under_each_erratum(capsys):
    assert main(["verify", "--claim", "dd2424.filter-grad-sum"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["claim", "verdict", "check"] and set(lines[1]) <= {"-", " "}
    assert CLAIMS["dd2424.filter-grad-sum"].correction and f"correction: {CLAIMS['dd2424.filter-grad-sum'].correction}" in out
    assert "routes:" in out and "fd          central finite differences" in out
    assert "1 claim in" in out and "1 claims" not in out


def test_note_numbers_are_accepted(capsys):
    assert main(["verify", "--note", "003", "--format", "json"]) == 0
    ids = {item["note"] for item in json.loads(capsys.readouterr().out)}
    assert ids == {"xu2020"}


def test_partial_claim_id_suggests_the_full_one(capsys):
    assert main(["verify", "--claim", "softmax-ce-gradient"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean 'dd2424.softmax-ce-gradient'" in err


def test_markdown_does_not_open_with_the_maintainers_line(capsys):
    assert main(["verify", "--note", "xu2020", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert not out.startswith("Generated") and "do not edit by hand" not in out


def test_json_reports_route_kinds_and_skipped_routes(capsys, monkeypatch):
    from jacobians import claims

    monkeypatch.setitem(claims._OPTIONAL_OK, "torch", False)
    assert main(["verify", "--claim", "dd2424.softmax-ce-gradient", "--format", "json"]) == 0
    item = json.loads(capsys.readouterr().out)[0]
    assert item["route_kinds"]["written"]["fd"] == [["formula", "fd"]]
    assert item["skipped"] == {"torch": "torch is not installed"} and "torch" not in item["max_error"]
    assert main(["verify", "--claim", "dd2424.softmax-ce-gradient"]) == 0
    out = capsys.readouterr().out
    assert "torch is not installed: 1 route skipped" in out and "skipped: torch (torch is not installed)" in out


USER_FILE = '''
import numpy as np
from jacobians.claims import claim, reference_jacobian, reference_vjp

S = np.array([0.3, -1.2, 0.8])
Y = np.array([0.2, 0.5, 0.3])
P = np.exp(S) / np.exp(S).sum()

@claim("hw2.softmax-jacobian", location="hw 2, eq. 1", statement="dp/ds = diag(p) - p p^T",
       convention="canonical", routes=("explicit", "fd"), expected="holds")
def _(ev):
    mine = np.diag(P) - np.outer(P, P)
    ev.written("explicit", mine, reference_jacobian("softmax", "s", s=S))
    ev.written("fd", mine, reference_jacobian("softmax", "s", route="fd", s=S))

@claim("hw2.ce-gradient", location="hw 2, eq. 2", statement="dl/ds = p - y for l = -log(y^T p)",
       convention="canonical", routes=("explicit", "fd"), expected="holds-corrected",
       correction="dl/ds = p - (y * p) / (y^T p); p - y only for a one-hot y", kind="erratum")
def _(ev):
    ctx = {"operator": "softmax_cross_entropy", "wrt": "s", "g": np.array(1.0), "s": S, "y": Y}
    truth = reference_vjp("softmax_cross_entropy", 1.0, "s", s=S, y=Y)
    ev.written("explicit", P - Y, truth, diagnose_with=ctx)
    fixed = P - Y * P / (Y @ P)
    ev.corrected("explicit", fixed, truth)
    ev.corrected("fd", fixed, reference_vjp("softmax_cross_entropy", 1.0, "s", route="fd", s=S, y=Y))

@claim("hw2.transposed", location="hw 2, eq. 3", statement="the conv weight Jacobian, typed transposed",
       convention="canonical", routes=("explicit", "fd"), expected="fails")
def _(ev):
    x = np.arange(16.0).reshape(1, 4, 4); w = np.ones((1, 1, 2, 2))
    J = reference_jacobian("conv2d", "weight", route="fd", x=x, weight=w)
    ev.written("explicit", J.T.copy(), reference_jacobian("conv2d", "weight", x=x, weight=w))
'''


def test_verify_user_file_table_and_json_with_diagnoses(tmp_path, capsys):
    f = tmp_path / "hw2.py"
    f.write_text(USER_FILE)
    assert main(["verify", str(f), "--format", "json"]) == 0
    items = {d["id"]: d for d in json.loads(capsys.readouterr().out)}
    assert [items[k]["verdict"] for k in items] == ["holds", "holds-corrected", "fails"]
    assert items["hw2.softmax-jacobian"]["diagnosis"] == []
    assert [d["name"] for d in items["hw2.ce-gradient"]["diagnosis"]] == ["softmax-diag"]
    assert items["hw2.ce-gradient"]["kind"] == "erratum" and items["hw2.ce-gradient"]["source"] == str(f)
    assert [d["name"] for d in items["hw2.transposed"]["diagnosis"]] == ["transpose"]
    assert main(["verify", str(f), "--claim", "hw2.transposed"]) == 0
    out = capsys.readouterr().out
    assert "diagnosis (explicit): transpose" in out and "1 claim in" in out
    assert main(["verify", str(f), "--format", "markdown"]) == 0
    assert "### `hw2`" in capsys.readouterr().out


@pytest.mark.parametrize(
    "text, message",
    [
        ("def f(:\n    pass\n", "syntax error at line 1"),
        ("import no_such_package_abc\n", "import failed: ModuleNotFoundError"),
        ("from jacobians.claims import claim\n", "defines no claim"),
    ],
)
def test_verify_bad_user_file_one_line_exit_2(tmp_path, capsys, text, message):
    f = tmp_path / "bad.py"
    f.write_text(text)
    assert main(["verify", str(f)]) == 2
    out, err = capsys.readouterr()
    assert not out and err.count("\n") == 1 and message in err and str(f) in err


def test_verify_user_file_mismatch_exits_1(tmp_path, capsys):
    f = tmp_path / "hw.py"
    f.write_text(USER_FILE.replace('expected="fails"', 'expected="holds"'))
    assert main(["verify", str(f), "--claim", "hw2.transposed"]) == 1
    assert "MISMATCH (expected holds)" in capsys.readouterr().out


def test_verify_help_says_files_are_run_as_python(capsys):
    with pytest.raises(SystemExit):
        main(["verify", "--help"])
    out = capsys.readouterr().out
    assert "RUN AS PYTHON" in out and "FILE.py" in out


def test_bundled_erratum_is_diagnosed_by_the_same_machinery(capsys):
    """The ledger's errata explained by the catalogue: note 004's plane sum (sum-vs-stack), note 001's window slip (shift).

    (Note 004's diag(p − ppᵀ) is judged on its plausible reading — a moved parenthesis of the
    extraction — so it holds and has nothing to diagnose; its literal reading is in ``reading``.)
    """
    assert main(["verify", "--claim", "dd2424.filter-grad-sum", "--format", "json"]) == 0
    item = json.loads(capsys.readouterr().out)[0]
    assert [d["name"] for d in item["diagnosis"]] == ["sum-vs-stack"]
    assert main(["verify", "--claim", "vardhan2022.appA-rep1-windows", "--format", "json"]) == 0
    item = json.loads(capsys.readouterr().out)[0]
    assert [d["name"] for d in item["diagnosis"]] == ["shift"]
    assert main(["verify", "--claim", "dd2424.softmax-ce-gradient", "--format", "json"]) == 0
    item = json.loads(capsys.readouterr().out)[0]
    assert item["kind"] == "extraction" and "ppᵀ" in item["reading"] and item["diagnosis"] == []
