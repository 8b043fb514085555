"""The mutation catalogue: realistic bugs planted one at a time in a copy of the package (issue #11 item 2).

Each mutant is a source-level change — one exact substring of one file replaced — of the kind the issue lists
(padding sides swapped, col2im cropping the wrong side, stride axes swapped in the rot180 route, ties taking the last
maximum, max-pool padding with 0, transpose by the inverse permutation, fan-out ``=`` instead of ``+=``, a
convention's axis order, a preset's vec order, a label check without ``abs()``, …). A mutant is *killed* when

* at least one claim of ``jacobians verify`` gets a verdict other than its expected one (``claims``), and
* at least one test fails (``tests``, pytest node ids).

:func:`run_mutant` copies the repository to a temporary directory, applies the change, and runs the named claims and
tests there in subprocesses (the mutant never touches the working tree). ``python tests/mutants.py [NAME …]`` prints
the kill matrix; ``--discover`` runs every claim and every test file of the mutant's family instead of the named ones.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field, replace

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir))


@dataclass(frozen=True)
class Mutant:
    name: str
    family: str  # operator family or convention preset it belongs to
    path: str  # file, relative to the repository root
    old: str  # exact substring, present exactly once
    new: str
    claims: tuple = ()  # claim ids whose verdict the mutant must change
    tests: tuple = ()  # pytest node ids of which at least one must fail
    note: str = field(default="", compare=False)


C, N, P, A, S, L, R, CH, CV, G, K = (
    "jacobians/ops/conv2d.py",
    "jacobians/ops/convnd.py",
    "jacobians/ops/pooling.py",
    "jacobians/ops/activation.py",
    "jacobians/ops/softmax.py",
    "jacobians/ops/linear.py",
    "jacobians/ops/reshape.py",
    "jacobians/chain.py",
    "jacobians/conventions.py",
    "jacobians/geometry.py",
    "jacobians/ops/kron.py",
)

#: family -> test files that exercise it (searched by ``--discover``)
FAMILY_TESTS = {
    "conv2d": ("tests/test_conv2d.py", "tests/test_convnd.py", "tests/test_builders_fast_path.py", "tests/test_generic_check.py"),
    "pooling": ("tests/test_pooling.py", "tests/test_pooling_nd.py", "tests/test_generic_check.py"),
    "activation": ("tests/test_activation.py", "tests/test_generic_check.py"),
    "softmax": ("tests/test_softmax.py", "tests/test_generic_check.py"),
    "linear": ("tests/test_linear.py", "tests/test_generic_check.py"),
    "reshape": ("tests/test_reshape.py", "tests/test_generic_check.py"),
    "kron": ("tests/test_kron.py", "tests/test_generic_check.py"),
    "chain": ("tests/test_chain.py", "tests/test_networks.py"),
    "geometry": ("tests/test_geometry.py", "tests/test_conv2d.py"),
    "convention": ("tests/test_presets_from_notes.py", "tests/test_conventions.py"),
}

_CATALOGUE = [
    # -- convolution -------------------------------------------------------------------------------------------
    Mutant("conv-padding-sides-swapped", "conv2d", N,
           'len(pads)) + tuple(pads)',
           'len(pads)) + tuple(p[::-1] for p in pads)'),
    Mutant("col2im-crops-the-wrong-side", "conv2d", N,
           'slice(p[0], p[0] + size) for p, size in zip(geom.padding, geom.spatial))\n    out = out[',
           'slice(p[1], p[1] + size) for p, size in zip(geom.padding, geom.spatial))\n    out = out['),
    Mutant("rot180-stride-axes-swapped", "conv2d", C,
           "gd = _dilate(g4, geom.stride)", "gd = _dilate(g4, geom.stride[::-1])"),
    Mutant("rot180-kernel-not-rotated", "conv2d", C,
           "w_rot = weight[:, :, ::-1, ::-1]", "w_rot = weight[:, :, :, :]"),
    Mutant("rot180-crops-the-wrong-side", "conv2d", C,
           "    pt, _, pl, _ = geom.padding\n    out = full[", "    _, pt, _, pl = geom.padding\n    out = full["),
    Mutant("im2col-taps-transposed", "conv2d", N,
           '1, *range(2 + nd, 2 + 2 * nd))\n',
           '1, *reversed(range(2 + nd, 2 + 2 * nd)))\n'),
    Mutant("input-jacobian-stride-axes-swapped", "conv2d", C,
           "p0, q0 = i0 * sh - pt + a_lo * dh, j0 * sw - pl + b_lo * dw",
           "p0, q0 = i0 * sw - pt + a_lo * dh, j0 * sh - pl + b_lo * dw"),
    Mutant("bias-jacobian-tile-for-repeat", "conv2d", C,
           'indices.reshape(batch, c_out, oh * ow)[...] = np.arange(c_out, dtype=idx)[None, :, None]',
           'indices.reshape(batch, oh * ow, c_out)[...] = np.arange(c_out, dtype=idx)[None, None, :]'),
    # -- pooling -----------------------------------------------------------------------------------------------
    Mutant("max-ties-take-the-last-maximum", "pooling", P,
           'wins = values > target',
           'wins = values >= target'),
    Mutant("max-colmajor-ties-take-the-last-maximum", "pooling", P,
           'for k in reversed(kernel)))]',
           'for k in reversed(kernel)))][::-1]'),
    Mutant("max-pool-pads-with-zero", "pooling", P,
           'finite_pad = pad_value != -math.inf\n',
           'pad_value, finite_pad = 0.0, True\n'),
    Mutant("avg-pool-divisor-kh-squared", "pooling", P,
           'k, size = geom.kernel[ax], geom.spatial[ax]',
           'k, size = geom.kernel[0], geom.spatial[ax]'),
    # -- activations -------------------------------------------------------------------------------------------
    Mutant("relu-jacobian-mask-of-the-negatives", "activation", A,
           'positive = (z > 0).ravel()',
           'positive = (z < 0).ravel()'),
    Mutant("sigmoid-derivative-of-z-not-sigma", "activation", A,
           'return s * (1.0 - s)',
           'return s * (1.0 - z)'),
    Mutant("tanh-derivative-unsquared", "activation", A,
           'return 1.0 - t * t',
           'return 1.0 - t'),
    Mutant("sigmoid-vjp-drops-a-factor", "activation", A,
           "return _grad_like(g, z) * s * (1.0 - s)", "return _grad_like(g, z) * (1.0 - s)"),
    # -- softmax / losses --------------------------------------------------------------------------------------
    Mutant("softmax-jacobian-diag-of-p-minus-p-squared", "softmax", S,
           'data = np.multiply.outer(-p, p).reshape(-1)\n    data[:: c + 1] += p\n',
           'data = np.zeros(c * c, dtype=p.dtype)\n    data[:: c + 1] += p - p * p\n'),
    Mutant("softmax-vjp-forgets-the-mean", "softmax", S,
           "return p * (g - g @ p)", "return p * g"),
    Mutant("label-check-without-abs", "softmax", S,
           "abs(y.sum() - 1.0) > LABEL_ATOL", "y.sum() - 1.0 > LABEL_ATOL"),
    # -- linear layers -----------------------------------------------------------------------------------------
    Mutant("linear-xw-weight-kron-order", "linear", L,
           'return _kron(x, _eye(weight.shape[1], x.dtype))',
           'return _kron(_eye(weight.shape[1], x.dtype), x)'),
    Mutant("linear-xwt-commutation-inverse", "linear", L,
           "commutation_matrix(d_in, d_out)", "commutation_matrix(d_out, d_in)"),
    Mutant("linear-wvec-weight-kron-order", "linear", L,
           '_kron(_eye(weight.shape[0], h.dtype), h.ravel()[None, :])',
           '_kron(h.ravel()[None, :], _eye(weight.shape[0], h.dtype))'),
    # -- data movement / Kronecker ---------------------------------------------------------------------------------
    Mutant("transpose-by-the-inverse-permutation", "reshape", R,
           "[strides[a] for a in axes]", "[strides[a] for a in np.argsort(axes)]"),
    Mutant("kron-patch-form-factors-swapped", "kron", K,
           'sp.kron(sp.csr_array(f_f.T), sp.identity(n_positions, dtype=f_f.dtype, format="csr"), format',
           'sp.kron(sp.identity(n_positions, dtype=f_f.dtype, format="csr"), sp.csr_array(f_f.T), format'),
    # -- chain ---------------------------------------------------------------------------------------------------
    Mutant("fan-out-assigns-instead-of-adding", "chain", CH,
           "total += branch.vjp(g)", "total = branch.vjp(g)"),
    # -- geometry ------------------------------------------------------------------------------------------------
    Mutant("output-size-off-by-one", "geometry", G,
           "return (size + pad_before + pad_after - dilation * (kernel - 1) - 1) // stride + 1",
           "return (size + pad_before + pad_after - dilation * kernel) // stride + 1"),
    # -- conventions and presets ---------------------------------------------------------------------------------
    Mutant("axis-order-plane-swapped", "convention", CV,
           'plane = (ndim - 2, ndim - 1) if vec_order == "row" else (ndim - 1, ndim - 2)',
           'plane = (ndim - 1, ndim - 2) if vec_order == "row" else (ndim - 2, ndim - 1)'),
    Mutant("axis-order-channels-last-for-first", "convention", CV,
           'if channels == "first":\n        return lead + (chan,) + plane',
           'if channels != "first":\n        return lead + (chan,) + plane'),
    Mutant("preset-xu2020-row-major", "convention", CV,
           '"xu2020": Convention(vec="col"', '"xu2020": Convention(vec="row"'),
    Mutant("preset-vardhan2022-channels-last", "convention", CV,
           '"vardhan2022": Convention(vec="col", channels="first"', '"vardhan2022": Convention(vec="col", channels="last"'),
    Mutant("preset-dd2424-column-major", "convention", CV,
           '"dd2424": Convention(vec="row"', '"dd2424": Convention(vec="col"'),
    Mutant("preset-wang2019-row-major", "convention", CV,
           '"wang2019": Convention(vec="col"', '"wang2019": Convention(vec="row"'),
    Mutant("preset-mint-channels-last", "convention", CV,
           '"mint": Convention(vec="row", channels="first"', '"mint": Convention(vec="row", channels="last"'),
]


#: mutant -> (claims whose verdict it changes, a test file that fails), as found by ``--discover`` (the comment gives
#: how many claims' verdicts the mutant changes in all, without torch); docs/ledger_method.md has the kill matrix.
KILLS = {
    'conv-padding-sides-swapped': (('mint.padding-gradients',), ('tests/test_conv2d.py',)),  # 1 verdicts changed
    'col2im-crops-the-wrong-side': (('mint.padding-gradients',), ('tests/test_conv2d.py',)),  # 1 verdicts changed
    'rot180-stride-axes-swapped': (('vardhan2022.input-grad-sum-over-kernels', 'vardhan2022.layer1-pool-activation-chain'), ('tests/test_conv2d.py',)),  # 3 verdicts changed
    'rot180-kernel-not-rotated': (('mint.padding-gradients', 'mint.stride-input-grad'), ('tests/test_conv2d.py',)),  # 6 verdicts changed
    'rot180-crops-the-wrong-side': (('mint.padding-gradients',), ('tests/test_conv2d.py',)),  # 1 verdicts changed
    'im2col-taps-transposed': (('mint.padding-gradients', 'vardhan2022.appA-padded-input'), ('tests/test_conv2d.py',)),  # 14 verdicts changed
    'input-jacobian-stride-axes-swapped': (('vardhan2022.appA-column-formula-beta', 'vardhan2022.appA-eq-a1-1'), ('tests/test_conv2d.py',)),  # 8 verdicts changed
    'bias-jacobian-tile-for-repeat': (('dd2424.bias-and-W-grads-gap', 'mint.conv-bias-grad'), ('tests/test_conv2d.py',)),  # 5 verdicts changed
    'max-ties-take-the-last-maximum': (('vardhan2022.maxpool-ties',), ('tests/test_pooling.py',)),  # 1 verdicts changed
    'max-colmajor-ties-take-the-last-maximum': (('vardhan2022.appB-eq-b2-3', 'vardhan2022.maxpool-ties'), ('tests/test_pooling.py',)),  # 2 verdicts changed
    'max-pool-pads-with-zero': (('vardhan2022.maxpool-zero-padding-semantics',), ('tests/test_pooling.py',)),  # 1 verdicts changed
    'avg-pool-divisor-kh-squared': (('vardhan2022.activation-chain-stack', 'vardhan2022.activation-jacobian'), ('tests/test_pooling.py',)),  # 14 verdicts changed
    'relu-jacobian-mask-of-the-negatives': (('dd2424.bias-and-W-grads-gap', 'dd2424.loss-and-regulariser'), ('tests/test_activation.py',)),  # 11 verdicts changed
    'sigmoid-derivative-of-z-not-sigma': (('mint.activation-step', 'vardhan2022.activation-chain-stack'), ('tests/test_activation.py',)),  # 12 verdicts changed
    'tanh-derivative-unsquared': (('mint.activation-step', 'wang2019.general-activation-backward'), ('tests/test_activation.py',)),  # 2 verdicts changed
    'sigmoid-vjp-drops-a-factor': (('vardhan2022.layer1-pool-activation-chain',), ('tests/test_activation.py',)),  # 1 verdicts changed
    'softmax-jacobian-diag-of-p-minus-p-squared': (('dd2424.bias-and-W-grads-gap', 'dd2424.fc-backward'), ('tests/test_softmax.py',)),  # 21 verdicts changed
    'softmax-vjp-forgets-the-mean': (('dd2424.softmax-ce-gradient',), ('tests/test_softmax.py',)),  # 1 verdicts changed
    'label-check-without-abs': (('dd2424.label-one-hot',), ('tests/test_softmax.py',)),  # 1 verdicts changed
    'linear-xw-weight-kron-order': (('mint.linear-weight-grad', 'mint.linear-weight-grad-entry'), ('tests/test_linear.py',)),  # 2 verdicts changed
    'linear-xwt-commutation-inverse': (('wang2019.backprop-recursion', 'wang2019.col-chain-rule-sum'), ('tests/test_linear.py',)),  # 3 verdicts changed
    'linear-wvec-weight-kron-order': (('dd2424.bias-and-W-grads-gap',), ('tests/test_linear.py',)),  # 1 verdicts changed
    'transpose-by-the-inverse-permutation': (('wang2019.preset-order',), ('tests/test_generic_check.py',)),  # 1 verdicts changed
    'kron-patch-form-factors-swapped': (('xu2020.input-grad-fold',), ('tests/test_kron.py',)),  # 1 verdicts changed
    'fan-out-assigns-instead-of-adding': (('dd2424.two-layer-network-gradients',), ('tests/test_chain.py',)),  # 1 verdicts changed
    'output-size-off-by-one': (('mint.padding-gradients',), ('tests/test_conv2d.py',)),  # 1 verdicts changed
    'axis-order-plane-swapped': (('dd2424.entry-formula', 'dd2424.filter-matrix-multiplane'), ('tests/test_presets_from_notes.py',)),  # 59 verdicts changed
    'axis-order-channels-last-for-first': (('dd2424.entry-formula', 'dd2424.filter-matrix-multiplane'), ('tests/test_presets_from_notes.py',)),  # 40 verdicts changed
    'preset-xu2020-row-major': (('xu2020.preset-order',), ('tests/test_presets_from_notes.py',)),  # 1 verdicts changed
    'preset-vardhan2022-channels-last': (('vardhan2022.activation-chain-stack', 'vardhan2022.activation-jacobian'), ('tests/test_presets_from_notes.py',)),  # 17 verdicts changed
    'preset-dd2424-column-major': (('dd2424.preset-order', 'dd2424.two-layer-network-gradients'), ('tests/test_presets_from_notes.py',)),  # 2 verdicts changed
    'preset-wang2019-row-major': (('wang2019.preset-order',), ('tests/test_presets_from_notes.py',)),  # 1 verdicts changed
    'preset-mint-channels-last': (('mint.preset-order',), ('tests/test_presets_from_notes.py',)),  # 1 verdicts changed
}

MUTANTS = [replace(m, claims=KILLS[m.name][0], tests=KILLS[m.name][1]) for m in _CATALOGUE]


def _copy_repository(dest):
    for item in ("jacobians", "symbolic", "tests", "pyproject.toml", "README.md", "docs", "notebooks"):
        src = os.path.join(ROOT, item)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(dest, item), ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif os.path.exists(src):
            shutil.copy2(src, os.path.join(dest, item))


def apply(mutant: Mutant, root: str) -> None:
    """Apply ``mutant`` to the copy at ``root``; the substring must occur exactly once."""
    path = os.path.join(root, mutant.path)
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    count = text.count(mutant.old)
    if count != 1:
        raise ValueError(f"{mutant.name}: the substring occurs {count} times in {mutant.path} (need exactly 1)")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text.replace(mutant.old, mutant.new))


_VERIFY = r"""
import json, sys
from jacobians import claims as C
from jacobians.ledger import CLAIMS, load_claims
C._OPTIONAL_OK["torch"] = False  # the verdicts must change without torch too
load_claims()
ids = json.loads(sys.argv[1]) or list(CLAIMS)
changed = {}
for cid in ids:
    r = CLAIMS[cid].run()
    if r.verdict != CLAIMS[cid].expected:
        changed[cid] = r.verdict
print(json.dumps(changed))
"""


def run_mutant(mutant: Mutant, claims=None, tests=None, timeout=900) -> dict:
    """Kill record of one mutant: the claims whose verdict changed and whether the tests failed."""
    claims = mutant.claims if claims is None else claims
    tests = mutant.tests if tests is None else tests
    with tempfile.TemporaryDirectory(prefix="mutant-") as tmp:
        _copy_repository(tmp)
        apply(mutant, tmp)
        env = {**os.environ, "PYTHONPATH": tmp, "PYTHONDONTWRITEBYTECODE": "1"}
        out = subprocess.run([sys.executable, "-c", _VERIFY, json.dumps(list(claims))], cwd=tmp, env=env,
                             capture_output=True, text=True, timeout=timeout)
        try:
            changed = json.loads(out.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            changed = {"<import>": (out.stderr.strip().splitlines() or ["?"])[-1]}
        failed = []
        for test in tests:
            res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", test], cwd=tmp,
                                 env=env, capture_output=True, text=True, timeout=timeout)
            if res.returncode not in (0, 5):
                failed.append(test)
                break
    return {"name": mutant.name, "verdicts_changed": changed, "tests_failed": failed}


def main(argv):
    discover = "--discover" in argv
    names = [a for a in argv if not a.startswith("--")]
    for m in MUTANTS:
        if names and m.name not in names:
            continue
        if discover:
            rec = run_mutant(m, claims=(), tests=FAMILY_TESTS[m.family])
        else:
            rec = run_mutant(m)
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
