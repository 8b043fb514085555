"""The README's Python example runs as printed (its own asserts are the check)."""
import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, "the README has no python example"
    for code in blocks:
        namespace: dict = {}
        exec(compile(code, "README.md", "exec"), namespace)  # our own README, not user input
        assert "J_col" in namespace or "y" in namespace


def test_readme_setup_commands_match_ci():
    text = README.read_text(encoding="utf-8")
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install . && jacobians verify" in text
    assert 'pip install ".[test,torch]" && python -m pytest -q' in text
    assert 'python -m pip install --quiet ".[test,torch]"' in ci and "python -m pytest -q" in ci and "jacobians verify" in ci
