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
    summary = re.search(r"(\d+) of (\d+) killed \(\d+ %\); listed: (\d+) equivalent, (\d+) boundary, (\d+) margin, "
                        r"(\d+) stricter, (\d+) open; (\d+) survived", output)
    assert summary, output
    killed, total, *listed, survived = map(int, summary.groups())
    assert total == 2 and killed + sum(listed) + survived == total, output
    workers = [w.split(":", 1) for w in output.split("workers: ", 1)[1].splitlines()[0].split()]
    assert len(workers) == 2, output
    for pid, folder in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid), 0)
        assert not Path(folder).exists(), folder


def test_the_battery_names_a_survivor_that_calls_a_right_layer_wrong(tmp_path, capsys):
    """The noise band's stability test loosened (``/ 2`` -> ``/ 3``) makes an exp whose output is rounded to a grid
    of 1e-9, with exact zeros among its inputs, fail where it passes (a new test now kills that mutant: the battery
    is how it was found)."""
    from benchmarks.mutant_battery import main as battery

    (m,) = [m for m in mutants_of("gradcheck/numeric.py") if m.mutation == "2 -> 3" and
            m.code.startswith("stable = (moved_by <= (np.abs(gap) + np.abs(before)) / 2)")]
    survivors = tmp_path / "m.json"
    survivors.write_text(json.dumps([{"file": m.file, "line": m.line, "code": m.code, "mutation": m.mutation,
                                      "at": m.at, "nth": m.nth, "result": "survived"}]))
    assert battery(["--survivors", str(survivors), "--cases", "258-262"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith(f"gradcheck/numeric.py:{m.line}") and "right called wrong more often: [260]" in line, line


def test_every_listed_survivor_is_a_mutant_of_the_current_source_with_a_kind_and_a_reason():
    """A list entry whose line changed no longer matches any mutant: it would hide nothing and mean nothing."""
    from benchmarks.mutants import EQUIVALENT, KINDS

    listed = json.loads(EQUIVALENT.read_text())
    keys = {m.key for f in {e["file"] for e in listed} for m in mutants_of(f)}
    stale = [e for e in listed if (e["file"], e["code"], e["mutation"], e["at"], e["nth"]) not in keys]
    assert not stale, stale
    assert all(e["kind"] in KINDS and len(e["reason"]) > 40 for e in listed)
    assert len({(e["file"], e["code"], e["mutation"], e["at"], e["nth"]) for e in listed}) == len(listed)
