"""gradcheck grade: generated submissions, each test of each in isolation, scored and written as Gradescope's
results.json and one grades.csv; what one submission does never reaches another or the grader's files."""
from __future__ import annotations

import csv
import json
import os
import zipfile
from pathlib import Path

import pytest

from gradcheck.grading import grade
from gradcheck.grading.spec import DEFAULT_SPEC, load_spec

SPEC = """
timeout = 10
memory_gib = 2
output_bytes = 2000

[[test]]
name = "ReLU: gradients"
module = "Layers/ReLU.py"
class = "ReLU"
input = [4, 3]
check = "gradient"
points = 5

[[test]]
name = "FullyConnected: against core"
module = "Layers/FullyConnected.py"
class = "FullyConnected"
args = [4, 3]
input = [5, 4]
check = "reference"
points = 5
visibility = "hidden"
"""

RIGHT_RELU = "import numpy as np\n\nclass ReLU:\n    def forward(self, x):\n        self.x = x\n" \
             "        return np.maximum(x, 0)\n\n    def backward(self, e):\n        return e * (self.x > 0)\n"
# each ReLU with what it does wrong, and the reason its test must name; FullyConnected is core's, right
RELUS = {
    "right": (RIGHT_RELU, None),
    "unmasked": (RIGHT_RELU.replace("e * (self.x > 0)", "e"), "gradcheck ReLU: FAIL"),
    "hangs": ("class ReLU:\n    def forward(self, x):\n        while True:\n            pass\n\n"
              "    def backward(self, e):\n        return e\n",
              "timed out after 10 s in forward (ReLU.py, line "),      # line 4 or 5: where the loop was
    "crashes": ("import os\n\nclass ReLU:\n    def forward(self, x):\n        os.kill(os.getpid(), 9)\n\n"
                "    def backward(self, e):\n        return e\n",
                "the test's process died, killed by signal 9"),
    "allocates 50 GB": (RIGHT_RELU.replace("self.x = x", "self.x = x + 0 * np.ones(int(50e9 / 8))[0]"),
                        "needed more than the memory cap of 2 GiB"),
    "prints megabytes": (RIGHT_RELU.replace("self.x = x", "print('x' * 1000000)\n        self.x = x"),
                         "printed more than the output cap of 2000 bytes"),
    "calls sys.exit": ("import sys\nsys.exit(3)\n", "called sys.exit(3)"),
    "has a syntax error": ("class ReLU(:\n    pass\n", "SyntaxError in Layers/ReLU.py, line 2"),    # line 1: OUTSIDE
    "imports a missing package": ("import nonexistent_package_xyz\n",
                                  "imports 'nonexistent_package_xyz', which is not available"),
    "writes outside its folder": (RIGHT_RELU.replace("self.x = x", "open(OUTSIDE, 'w').write('x')\n        self.x = x"),
                                  "PermissionError"),
}


def _submission(root: Path, name: str, relu: str, outside: Path) -> Path:
    folder = root / name.replace(" ", "_")
    (folder / "Layers").mkdir(parents=True)
    (folder / "Layers" / "ReLU.py").write_text(f"OUTSIDE = {str(outside)!r}\n" + relu)
    (folder / "Layers" / "FullyConnected.py").write_text("from core import FullyConnected  # noqa: F401\n")
    return folder


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping a test's rights to nobody needs the grader to run as root")
def test_each_submission_gets_the_score_it_deserves_and_no_other_is_touched(tmp_path):
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(SPEC)
    out = tmp_path / "graded"
    out.mkdir()
    out.chmod(0o755)
    outside = out / "INJECTED"
    folders = [_submission(tmp_path / "subs", name, relu, outside) for name, (relu, _) in RELUS.items()]
    results = {r.name: r for r in grade(folders, spec_path, out)}
    assert not outside.exists()                                  # the grader's folder is not the submission's
    for name, (_, reason) in RELUS.items():
        r = results[name.replace(" ", "_")]
        relu, fc = r.tests
        assert fc.score == 5 and fc.status == "passed", (name, fc.output)    # the other test is unaffected
        if reason is None:
            assert relu.score == 5 and relu.status == "passed", relu.output
        else:
            assert relu.score == 0 and reason in relu.output.splitlines()[0], (name, relu.output[:300])
        data = json.loads((out / r.name / "results.json").read_text())
        assert data["score"] == r.score and [t["visibility"] for t in data["tests"]] == ["visible", "hidden"]
        assert {"name", "score", "max_score", "output", "visibility"} <= set(data["tests"][0])
    with open(out / "grades.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["submission"]: float(row["score"]) for row in rows}["right"] == 10
    assert all(row["max_score"] == "10" for row in rows)
    printed = results["prints_megabytes"].tests[0].output
    assert "--- printed ---" in printed and len(printed) < 3000        # cut at the cap
    page = (out / "unmasked" / "index.html").read_text()
    assert "unmasked: 5 / 10" in page and "gradcheck ReLU: <span class=\"fail\"" in page, page[:500]
    assert "timed out after 10 s" in (out / "hangs" / "index.html").read_text()
    summary = (out / "index.html").read_text()
    assert "10 submission(s)" in summary and "ReLU: gradients</td><td>9 of 10" in summary, summary
    assert "FullyConnected: against core</td><td>0 of 10" in summary and "href='right/index.html'" in summary


def test_a_missing_module_is_not_submitted_and_a_run_started_again_skips_what_is_graded(tmp_path):
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(SPEC)
    folder = tmp_path / "partial"
    (folder / "Layers").mkdir(parents=True)
    (folder / "Layers" / "FullyConnected.py").write_text("from core import FullyConnected  # noqa: F401\n")
    (first,) = grade([folder], spec_path, tmp_path / "out")
    assert [t.status for t in first.tests] == ["not submitted", "passed"] and first.score == 5
    assert first.tests[0].output == "not submitted: Layers/ReLU.py is missing"
    (again,) = grade([folder], spec_path, tmp_path / "out")
    assert again.skipped and again.score == 5


def test_a_zip_is_graded_and_one_that_writes_outside_itself_is_refused(tmp_path):
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(SPEC)
    good = tmp_path / "alice.zip"
    with zipfile.ZipFile(good, "w") as archive:
        archive.writestr("alice/Layers/ReLU.py", RIGHT_RELU)
        archive.writestr("alice/Layers/FullyConnected.py", "from core import FullyConnected  # noqa: F401\n")
    evil = tmp_path / "mallory.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../escaped.py", "x = 1\n")
    alice, mallory = grade([good, evil], spec_path)
    assert alice.name == "alice" and alice.score == 10, [t.output for t in alice.tests]
    assert mallory.score == 0 and "would be written outside the submission" in mallory.tests[0].output
    assert not (tmp_path / "escaped.py").exists()


def test_the_default_spec_covers_exercises_1_to_3_and_core_scores_full_marks(tmp_path):
    spec = load_spec()
    modules = {t.module for t in spec.tests}
    assert {"Layers/FullyConnected.py", "Layers/Conv.py", "Layers/RNN.py", "Optimization/Loss.py",
            "Optimization/Optimizers.py"} <= modules
    folder = tmp_path / "core_as_a_student"
    for module in modules:
        path = folder / module
        path.parent.mkdir(parents=True, exist_ok=True)
        classes = sorted({t.cls for t in spec.tests if t.module == module})
        path.write_text(f"from core import {', '.join(classes)}  # noqa: F401\n")
    (result,) = grade([folder], DEFAULT_SPEC)
    lost = [(t.name, t.output[:200]) for t in result.tests if t.score < t.max_score]
    assert not lost and result.score == sum(t.points for t in spec.tests), lost


@pytest.mark.parametrize("text, message", [
    ("[[test]]\nname = 'x'\n", "missing 'module'"),
    ("[[test]]\nname='x'\nmodule='L.py'\nclass='X'\ninput=[1]\ncheck='nope'\npoints=1\n", "check must be one of"),
    ("[[test]]\nname='x'\nmodule='../L.py'\nclass='X'\ninput=[1]\ncheck='gradient'\npoints=1\n",
     "inside the submission"),
    ("timeout = 3\n", "no [[test]] entries"),
])
def test_a_bad_spec_is_a_clear_error(tmp_path, text, message):
    path = tmp_path / "spec.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_spec(path)


def test_the_command_grades_and_exits_2_on_usage_errors(tmp_path, capsys):
    from gradcheck.cli import main

    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(SPEC)
    folder = _submission(tmp_path / "subs", "bob", RIGHT_RELU, tmp_path / "nowhere")
    assert main(["grade", "--spec", str(spec_path), "--out", str(tmp_path / "out"), str(folder)]) == 0
    assert "bob" in capsys.readouterr().out and (tmp_path / "out" / "grades.csv").exists()
    assert main(["grade", str(tmp_path / "no_such_submission")]) == 2
    assert "no such submission" in capsys.readouterr().err


def _three(tmp_path: Path) -> list[Path]:
    return [_submission(tmp_path / "subs", name, RELUS[name][0], tmp_path / "nowhere")
            for name in ("right", "unmasked", "calls sys.exit")]


def _scores(results) -> list[tuple[str, list[float]]]:
    return [(r.name, [t.score for t in r.tests]) for r in results]


def test_submissions_graded_in_worker_processes_score_as_one_by_one_and_say_how_far_they_are(tmp_path, capsys):
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(SPEC)
    folders = _three(tmp_path)
    alone = grade(folders, spec_path)
    together = grade(folders, spec_path, tmp_path / "out", jobs=2, progress=True)
    assert _scores(together) == _scores(alone) == [("right", [5, 5]), ("unmasked", [0, 5]),
                                                   ("calls_sys.exit", [0, 5])]
    err = capsys.readouterr().err
    assert "graded 3/3" in err and "to go" in err, err


@pytest.mark.cluster
def test_submissions_graded_on_a_dask_cluster_score_as_one_by_one(tmp_path):
    distributed = pytest.importorskip("distributed", reason="the cluster test needs the 'cluster' extra")
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(SPEC)
    folders = _three(tmp_path)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster:
        remote = grade(folders, spec_path, scheduler=cluster.scheduler_address)
    from multiprocessing import resource_tracker

    resource_tracker._resource_tracker._stop()       # as tests/test_gradcheck_cluster.py: it goes with the cluster
    assert _scores(remote) == _scores(grade(folders, spec_path)), [t.output[:300] for t in remote[0].tests]


ZOO_SPEC = """
timeout = 30

[[test]]
name = "FullyConnected: gradients"
module = "Layers/FullyConnected.py"
class = "FullyConnected"
args = [4, 3]
input = [6, 4]
check = "gradient"
points = 10

[[test]]
name = "ReLU: gradients"
module = "Layers/ReLU.py"
class = "ReLU"
input = [6, 4]
check = "gradient"
points = 5
"""


def _zoo_fully_connected() -> dict[str, str]:
    """The zoo's bugs of a FullyConnected(4, 3) (bias as the last row of weights (5, 3)): name -> class name."""
    from tests import broken_layers

    found = {}
    for name, entry in broken_layers.BROKEN.items():
        cls = type(entry[0]())
        try:
            layer = cls(4, 3)
        except Exception:  # noqa: BLE001 - another constructor: not a FullyConnected
            continue
        if getattr(getattr(layer, "weights", None), "shape", None) == (5, 3) and cls.__name__ not in found.values():
            found[name] = cls.__name__
    return found


def test_a_submission_per_bug_class_of_the_zoo_loses_that_test_only(tmp_path):
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(ZOO_SPEC)
    zoo = _zoo_fully_connected()
    assert len(zoo) >= 8, zoo
    folders = []
    for cls in zoo.values():
        folder = tmp_path / cls
        (folder / "Layers").mkdir(parents=True)
        # the zoo is loaded by the grader, so the submission may import it (as it may numpy)
        (folder / "Layers" / "FullyConnected.py").write_text(
            f"from tests.broken_layers import {cls} as FullyConnected  # noqa: F401\n")
        (folder / "Layers" / "ReLU.py").write_text("from core import ReLU  # noqa: F401\n")
        folders.append(folder)
    import tests.broken_layers  # noqa: F401 - loaded before the tests drop their rights

    for (name, _), result in zip(zoo.items(), grade(folders, spec_path)):
        fc, relu = result.tests
        assert fc.score == 0 and fc.status in ("failed", "error"), (name, fc.output[:300])   # error: it raised
        assert relu.score == 5, (name, relu.output[:300])
