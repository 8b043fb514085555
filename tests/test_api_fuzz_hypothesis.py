"""The API sweep's second part: hypothesis-generated geometries, valid and invalid, for the window builders.

Each call is judged by :func:`test_api_fuzz.judge` (a value equal to the loops,
or one refusal line naming a parameter, raised by the package itself).
"""
from collections import Counter

import numpy as np
import pytest

pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from test_api_fuzz import judge  # noqa: E402

RNG = np.random.default_rng(2027)

# ---------------------------------------------------------------------------
# hypothesis: random geometries, valid and invalid, for the window builders
# ---------------------------------------------------------------------------

# mostly valid numbers (so that values are produced and checked), with the bad ones mixed in
small = st.sampled_from([1, 2, 3, 1, 2, 3, 1, 2, 3, 2.0, 0, -1])
pads = st.sampled_from([0, 1, 2, 0, 1, 0, -1, 2.5])
geometry = st.fixed_dictionaries(
    {
        "n": st.sampled_from([None, 1, 2]),
        "c": st.integers(1, 2),
        "h": st.integers(1, 5),
        "w": st.integers(1, 5),
        "o": st.integers(1, 2),
        "kh": small,
        "kw": small,
        "stride": st.one_of(small, st.tuples(small, small)),
        "padding": st.one_of(pads, st.tuples(pads, pads), st.tuples(pads, pads, pads, pads),
                             st.sampled_from(["same", "valid", "full"])),
        "dilation": st.one_of(small, st.just(10**20)),
    }
)

SWEEP = Counter()


@settings(max_examples=300, deadline=None, database=None)
@given(g=geometry)
def test_hypothesis_conv_geometries_value_or_one_line(g):
    shape = (g["c"], g["h"], g["w"]) if g["n"] is None else (g["n"], g["c"], g["h"], g["w"])
    kw = dict(stride=g["stride"], padding=g["padding"], dilation=g["dilation"])
    k_h, k_w = int(g["kh"]), int(g["kw"])
    weight = RNG.standard_normal((g["o"], g["c"], k_h, k_w)) if k_h > 0 and k_w > 0 else np.ones((g["o"], g["c"], 1, 0))
    x = RNG.standard_normal(shape)
    calls = [
        ("conv2d_input_jacobian", (weight, shape), kw),
        ("conv2d", (x, weight), kw),
        ("im2col_jacobian", (shape, (g["kh"], g["kw"])), kw),
        ("avg_pool2d_jacobian", (shape, (g["kh"], g["kw"])), {"stride": g["stride"], "padding": g["padding"]}),
    ]
    if g["n"] is not None:
        calls.append(("conv2d_weight_jacobian", (x, weight.shape), kw))
    for name, args, kwargs in calls:
        SWEEP["calls"] += 1
        why = judge(name, args, kwargs, SWEEP)
        assert why is None, f"{name}{args[1:] if name != 'conv2d' else ''} {kwargs}: {why}"


@settings(max_examples=100, deadline=None, database=None)
@given(kh=st.integers(1, 4), kw=st.integers(1, 4), dh=st.integers(1, 2), dw=st.integers(1, 2),
       h=st.integers(1, 5), w=st.integers(1, 5))
def test_hypothesis_padding_same_against_loops(kh, kw, dh, dw, h, w):
    x = RNG.standard_normal((1, 2, h, w))
    weight = RNG.standard_normal((2, 2, kh, kw))
    SWEEP["calls"] += 2
    for name, args in (("conv2d", (x, weight)), ("conv2d_input_jacobian", (weight, x.shape))):
        why = judge(name, args, dict(padding="same", dilation=(dh, dw)), SWEEP)
        assert why is None, f"{name} k=({kh},{kw}) d=({dh},{dw}) {h}x{w}: {why}"


def test_hypothesis_sweep_ran():
    # runs after the hypothesis test in file order; reports its counts
    if SWEEP:
        print(f"\nhypothesis geometry sweep: {dict(SWEEP)}")
        assert SWEEP["calls"] >= 1000 and SWEEP["value checked"] >= 50
