"""The mutation run of the checker (``benchmarks/mutants.py``): what it mutates, and that a run ends with every
process and copy it made gone."""
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.mutants import ROOT, _statement_spans, mutants_of

SOURCE = '''"""A module docstring: 1 + 2 is not code."""
from __future__ import annotations

__all__ = ["f", "LIMIT"]

LIMIT = 8


def f(x: int = 3, y: float | None = None) -> int:
    """Also not code: a < b."""
    if x > 1 and y is not None:
        return x + (y *
                    2)
    return -x
'''


def test_every_mutant_changes_one_token_of_code_and_compiles(tmp_path):
    path = tmp_path / "toy.py"
    path.write_text(SOURCE)
    found = mutants_of(str(path))
    original = SOURCE.splitlines()
    assert found
    for m in found:
        compile(m.source, "toy.py", "exec")
        changed = [i + 1 for i, (a, b) in enumerate(zip(original, m.source.splitlines())) if a != b]
        assert changed == [m.line] and m.code == original[m.line - 1].strip(), m
        assert m.line not in (1, 4, 10), m         # docstrings and __all__ are not code
        if m.line == 9:                             # nor are annotations: only the default value changes
            assert m.source.splitlines()[8].startswith("def f(x: int = ") and "-> int:" in m.source, m
    what = {(m.line, m.mutation) for m in found}
    assert {(6, "8 -> 9"), (11, "'>' -> '>='"), (11, "'and' -> 'or'"), (12, "'+' -> '-'"), (13, "2 -> 3"),
            (14, "'-' -> '+'"), (6, "statement deleted"), (9, "3 -> 4")} <= what, sorted(what)
    # a mutant on the second line of a statement is run by whatever test runs any line of that statement
    spans = _statement_spans(__import__("ast").parse(SOURCE))
    assert spans[13] == spans[12] == (12, 13) and spans[11] == (11, 11)


def test_a_small_run_reports_each_mutant_and_leaves_no_process_or_copy_behind(tmp_path):
    out = tmp_path / "m.json"
    proc = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "mutants.py"), "gradcheck/report.py",
                             "--sample", "2", "--jobs", "2", "--killers", "tests/test_gradcheck_report.py",
                             "--out", str(out)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=540)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    assert proc.returncode == 0, output
    results = json.loads(out.read_text())
    assert len(results) == 2 and all(r["result"] and r["file"] == "gradcheck/report.py" for r in results), output
    summary = re.search(r"(\d+) of (\d+) killed \(\d+ %\), (\d+) listed as equivalent, (\d+) survived", output)
    assert summary, output
    killed, counted, equivalent, survived = map(int, summary.groups())
    assert counted + equivalent == 2 and killed + survived == counted, output
    workers = [w.split(":", 1) for w in output.split("workers: ", 1)[1].splitlines()[0].split()]
    assert len(workers) == 2, output
    for pid, folder in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid), 0)
        assert not Path(folder).exists(), folder
