"""The documentation site builds, warnings as errors (mkdocs.yml's ``strict``): every page in the nav, every
link and anchor found, every API entry importable and its numpydoc docstring parsed."""
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("mkdocs", reason="the docs build needs the 'docs' extra (pip install -e '.[docs]')")
pytest.importorskip("mkdocstrings", reason="the docs build needs the 'docs' extra (pip install -e '.[docs]')")


def test_the_docs_build_with_warnings_as_errors(tmp_path, processes):
    site = tmp_path / "site"
    result = processes.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                           timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (site / "failures" / "index.html").exists() and (site / "api" / "index.html").exists()
    api = (site / "api" / "index.html").read_text()
    assert 'id="gradcheck.check.check_layer"' in api and "Parameters" in api    # the docstrings, rendered


def test_every_picture_the_docs_show_is_in_the_repository():
    missing = []
    for page in (ROOT / "docs").glob("*.md"):
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text()):
            if not (page.parent / target).exists():
                missing.append(f"{page.name}: {target}")
    assert not missing, missing
