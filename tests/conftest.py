import importlib.util

import pytest

HAS_TORCH = importlib.util.find_spec("torch") is not None
requires_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch not installed (pip install torch==2.13.0)")


def check_registered_cases_with_torch(name):
    """Run the generic check with its torch route over every registered case of operator ``name``.

    Each case must pass every route, and the torch route must actually have run (not been skipped).
    Use under ``@requires_torch``.
    """
    import numpy as np

    from jacobians.check import check_operator
    from jacobians.registry import get_operator

    spec = get_operator(name)
    for case in spec.cases():
        report = check_operator(spec, case, rng=np.random.default_rng(2), use_torch=True)
        report.assert_ok()
        assert any(r.route == "torch" for r in report.results)
