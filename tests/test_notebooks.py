"""Execute every tutorial notebook (a temporary copy) with nbclient; their asserts are the test.

The notebooks are stored without outputs (checked here too). They run
concurrently, each in a fresh ``python3`` kernel with the repository on
``PYTHONPATH`` (kernel start-up dominates their cost); a failing cell is
reported under its notebook's name.
"""
import asyncio
import importlib.util
import json
import os
import pathlib
import re
import shutil

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_notebooks_exist():
    assert len(NOTEBOOKS) >= 4, [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_stored_without_outputs(path):
    nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed (pip install '.[test]')")
    nb = nbformat.read(str(path), as_version=4)
    assert nb.cells[0].cell_type == "markdown", "each notebook opens with what to look at"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: strip outputs before committing"


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """{notebook name: (None or the exception its execution raised, the executed notebook)}, all run at once."""
    nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed (pip install '.[test]')")
    nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed (pip install '.[test]')")
    pytest.importorskip("ipykernel", reason="ipykernel is not installed (pip install '.[test]')")
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install '.[test]')")
    workdir = tmp_path_factory.mktemp("notebooks")
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "MPLBACKEND")}
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), saved["PYTHONPATH"]]))
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"

    async def run_one(path):
        copy = workdir / path.name
        shutil.copy(path, copy)
        nb = nbformat.read(str(copy), as_version=4)
        client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(workdir)}})
        try:
            await client.async_execute()  # raises CellExecutionError, showing the cell, when an assert fails
        except Exception as exc:  # reported by the notebook's own test below
            return exc, nb
        return None, nb

    async def run_all():
        return await asyncio.gather(*(run_one(p) for p in NOTEBOOKS))

    try:
        results = asyncio.run(run_all())
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return dict(zip((p.name for p in NOTEBOOKS), results))


def missing_requirements(path):
    """Modules a notebook declares it needs (metadata jacobians.requires, e.g. torch) that are not installed."""
    needs = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("jacobians", {}).get("requires", [])
    return [m for m in needs if importlib.util.find_spec(m) is None]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, executed):
    missing = missing_requirements(path)
    if missing:
        pytest.skip(f"{path.name} needs {', '.join(missing)}, which is not installed")
    error, _ = executed[path.name]
    if error is not None:
        raise error


REPR_LEAK = re.compile(r"^<(matplotlib|Axes|Figure|Text|[A-Za-z.]*Axes)\b")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_object_repr_leaks_into_the_output(path, executed):
    """A cell ending in a plotting call must not print `<Axes: …>` (end it with `;` or an assignment)."""
    _, nb = executed[path.name]
    for k, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            text = output.get("data", {}).get("text/plain", "") if output.get("output_type") == "execute_result" else ""
            assert not REPR_LEAK.match(text), f"{path.name} cell {k}: {text[:80]!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_plot_titles_render_the_notes_symbols_as_math(path):
    """M_X^im and M_F^filter in a plot title are mathtext ($M_X^{\\mathrm{im}}$), not a literal caret."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        for title in re.findall(r"title=(f?\"[^\"]*\"|f?'[^']*')", "".join(cell["source"])):
            assert "M_X^im" not in title and "M_F^filter" not in title, title
