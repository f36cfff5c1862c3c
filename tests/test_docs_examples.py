"""Every code block of README.md and docs/*.md runs, so the examples cannot drift from the code.

A page's blocks run in order, in a fresh folder of their own that is first on ``sys.path`` and on the
command's ``PYTHONPATH``, with one namespace for the page's Python:

- ```` ```python ````: executed; ```` ```bash ````: run by ``bash -eo pipefail`` in its own process group, killed
  at its time limit; ```` ```toml ````: a grading spec, loaded with ``gradcheck.grading.load_spec``;
- a block right after ``<!-- file: NAME -->`` is written to ``NAME`` in the page's folder instead (a module the
  next blocks import, or the command checks);
- a ```` ```text ```` block right after ``<!-- output -->`` is what the Python block before it prints, ``...``
  matching anything (doctest's ELLIPSIS);
- a block right after ``<!-- not run: REASON -->`` is not run, and the test says why; any other block (output,
  a layout drawn in text) is not code;
- ``<!-- needs: torch, jax -->`` on a page: without those extras its test is skipped, saying which is missing.
"""
from __future__ import annotations

import contextlib
import doctest
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUN = {"python", "bash", "toml"}
_NEEDS = re.compile(r"<!--\s*needs:\s*(.*?)\s*-->")
_DIRECTIVE = re.compile(r"<!--\s*(file|output|not run)\s*:?\s*(.*?)\s*-->")


@dataclass
class Block:
    lang: str
    code: str
    line: int                  # of the opening fence, 1-based
    directive: str | None      # "file", "output", "not run"
    argument: str


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of a page, each with the directive on the line before it (blank lines between allowed)."""
    out, lines, i, directive = [], page.read_text().splitlines(), 0, (None, "")
    while i < len(lines):
        line = lines[i]
        found = _DIRECTIVE.fullmatch(line.strip())
        if found:
            directive = (found.group(1), found.group(2))
        elif line.startswith("```"):
            lang, start = line[3:].strip(), i
            i += 1
            body = []
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            out.append(Block(lang, "\n".join(body) + "\n", start + 1, *directive))
            directive = (None, "")
        elif line.strip():
            directive = (None, "")
        i += 1
    return out


def test_the_collector_reads_directives_fences_and_languages(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("text\n<!-- file: m.py -->\n```python\nX = 1\n```\n\n<!-- not run: too slow -->\n\n```bash\n"
                    "sleep 100\n```\nprose\n```python\nprint(1)\n```\n<!-- output -->\n```text\n1\n```\n")
    got = [(b.lang, b.directive, b.argument, b.line) for b in blocks(page)]
    assert got == [("python", "file", "m.py", 3), ("bash", "not run", "too slow", 9), ("python", None, "", 13),
                   ("text", "output", "", 17)]


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_code_block_of_the_page_runs(page, tmp_path, monkeypatch, processes):
    for found in _NEEDS.finditer(page.read_text()):
        for module in found.group(1).split(","):
            pytest.importorskip(module.strip(), reason=f"{page.name} needs the '{module.strip()}' extra")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    namespace: dict = {"__name__": "__docs__"}
    printed, not_run, ran = None, [], 0
    for b in blocks(page):
        where = f"{page.name}, line {b.line}"
        if b.directive == "not run":
            assert b.argument, f"{where}: a block not run needs its reason"
            not_run.append(f"line {b.line}: {b.argument}")
            continue
        if b.directive == "file":
            (tmp_path / b.argument).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / b.argument).write_text(b.code)
            continue
        if b.directive == "output":
            assert printed is not None, f"{where}: an output block needs a Python block before it"
            checker = doctest.OutputChecker()
            assert checker.check_output(b.code, printed, doctest.ELLIPSIS), \
                f"{where}: the page shows\n{b.code}\nthe block printed\n{printed}"
            continue
        if b.lang not in RUN:
            continue
        ran += 1
        if b.lang == "python":
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                try:
                    exec(compile(b.code, where, "exec"), namespace)
                except BaseException as error:     # noqa: BLE001 - reported with the block's place
                    raise AssertionError(f"{where} raised {type(error).__name__}: {error}\n{b.code}") from error
            printed = buffer.getvalue()
        elif b.lang == "bash":
            result = processes.run(["bash", "-eo", "pipefail", "-c", b.code], timeout=600, env=env, cwd=tmp_path)
            assert result.returncode == 0, f"{where} exited {result.returncode}:\n{b.code}\n{result.stdout}\n" \
                                           f"{result.stderr}"
        elif b.lang == "toml":
            from gradcheck.grading import load_spec

            spec = tmp_path / "spec.toml"
            spec.write_text(b.code)
            load_spec(spec)
    if not ran and not_run:
        pytest.skip(f"every block of {page.name} is marked not run: {'; '.join(not_run)}")
