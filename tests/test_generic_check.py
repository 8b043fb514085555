"""One parametrized test: every registered operator, every case, every face."""
import numpy as np
import pytest

from jacobians.check import check_operator
from jacobians.registry import load_all

OPS = load_all()
CASES = [(name, case) for name in sorted(OPS) for case in OPS[name].cases()]


def test_every_operator_has_cases():
    empty = [name for name in OPS if not list(OPS[name].cases())]
    assert not empty, f"operators without cases: {empty}"


@pytest.mark.parametrize("name,case", CASES, ids=[f"{n}[{c.id}]" for n, c in CASES])
def test_all_faces_agree(name, case):
    report = check_operator(OPS[name], case, rng=np.random.default_rng(1), use_torch=False)
    report.assert_ok()
    # every Jacobian input was checked by at least one VJP route and by finite differences
    routes = {(r.wrt, r.route.split(":")[0]) for r in report.results}
    for wrt in OPS[name].jacobian:
        if wrt in case.constant or case.inputs.get(wrt) is None:
            continue
        assert (wrt, "vjp") in routes and (wrt, "fd") in routes, f"{name}: {wrt} not fully checked"


def test_the_check_module_command_line(capsys):
    """`python -m jacobians.check`: an unknown operator is one stderr line and exit 2; --summary lists route families."""
    from jacobians.check import main

    assert main(["no_such_operator"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("OPERATOR: 'no_such_operator' is not registered")
    assert main(["relu", "--summary"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1 operators, ") and "  reference " in out and out.rstrip().endswith("0 failing case(s)")
