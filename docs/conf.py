"""Sphinx configuration: Markdown pages (myst-parser), the API from docstrings (autodoc, autosummary, numpydoc).

Build: ``pip install ".[docs]" && python -m sphinx -W -b html docs docs/_build/html``
(``.ci/run`` builds it with ``-W``: any warning fails CI). Every ``docs/*.md``
page is picked up by the glob in ``index.md``; a new page needs no edit here.
"""
import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "jacobians"
author = "the jacobians authors"
copyright = "2026, the jacobians authors"

from jacobians import __version__ as release  # noqa: E402

version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]  # the generated ledger tables start at ### under an #
autosummary_generate = False
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_validation_checks: set = set()
html_theme = "alabaster"
html_title = f"jacobians {release}"
