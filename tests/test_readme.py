"""The README's Python example runs as printed (its own asserts are the check)."""
import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, "the README has no python example"
    for code in blocks:
        namespace: dict = {}
        exec(compile(code, "README.md", "exec"), namespace)  # our own README, not user input
        # each example ends in something checked: the conv Jacobians' asserts, or compare's verdict
        assert "J_col" in namespace or ("result" in namespace and namespace["result"].holds)


def test_readme_setup_commands_match_ci():
    text = README.read_text(encoding="utf-8")
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install . && jacobians verify" in text
    assert 'pip install ".[test,torch]" && python -m pytest -q' in text
    assert 'python -m pip install --quiet ".[test,torch]"' in ci and "python -m pytest -q" in ci and "jacobians verify" in ci


def test_docs_build_runs_in_ci_with_warnings_as_errors():
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert 'pip install --quiet ".[docs]"' in ci and "python -m sphinx -W" in ci


def test_readme_links_point_at_existing_pages():
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(((?:docs|notebooks)/[^)#]+)(?:#([^)]+))?\)", text)
    assert {"docs/guide.md", "docs/cli.md", "docs/ledger.md", "docs/notes.md", "docs/api.md"} <= {t for t, _ in targets}
    for path, anchor in targets:
        page = README.parent / path
        assert page.is_file(), path
        if anchor:
            assert f'id="{anchor}"' in page.read_text(encoding="utf-8"), f"{path}#{anchor}"


def test_readme_has_a_limitations_section_and_points_at_the_errata():
    text = README.read_text(encoding="utf-8")
    assert "## Limitations" in text and "(docs/ledger.md)" in text
    assert "<!-- ledger:begin -->" not in text  # the generated tables live in docs/ledger.md
    assert len(text.splitlines()) < 200


def test_guide_python_example_runs():
    guide = README.parent / "docs" / "guide.md"
    blocks = re.findall(r"```python\n(.*?)```", guide.read_text(encoding="utf-8"), flags=re.S)
    assert blocks
    for code in blocks:
        exec(compile(code, "docs/guide.md", "exec"), {})  # our own docs, not user input


def test_docs_site_builds_without_warnings(tmp_path):
    """The Sphinx build of docs/ with -W (skipped when the docs extra is not installed; CI builds it in .ci/run)."""
    import subprocess
    import sys

    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    pytest.importorskip("numpydoc")
    res = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                          str(README.parent / "docs"), str(tmp_path / "html")], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (tmp_path / "html" / "cli.html").is_file() and (tmp_path / "html" / "ledger.html").is_file()


@pytest.mark.parametrize("page", ["README.md", "docs/guide.md"])
def test_show_transcripts_are_what_show_prints(capsys, page):
    """Every line of a page's `jacobians show` transcript (but the elision '…') is printed, in order."""
    import shlex

    from jacobians.cli import main

    text = (README.parent / page).read_text(encoding="utf-8")
    block = re.search(r"```\n\$ (jacobians show [^\n]*)\n(.*?)```", text, flags=re.S)
    assert block, f"{page} has no `jacobians show` transcript"
    assert main(shlex.split(block.group(1))[1:]) == 0
    printed = capsys.readouterr().out.splitlines()
    position = 0
    for line in block.group(2).splitlines():
        if line == "…":
            continue
        assert line in printed[position:], line
        position = printed.index(line, position) + 1
