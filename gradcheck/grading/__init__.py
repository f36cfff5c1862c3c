"""Grade many submissions of the course's layers: each test of each submission in isolation (see
:mod:`gradcheck.grading.sandbox`), scored, written as Gradescope's ``results.json`` per submission and one
``grades.csv`` for all, and a page per submission (``index.html``: each test's report and pictures).

    from gradcheck.grading import grade
    results = grade(["submissions/alice", "submissions/bob.zip"], out="graded")

A run started again with the same ``out`` skips the submissions that already have their results.json.
"""
from __future__ import annotations

import csv
import json
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gradcheck.grading.sandbox import TestResult, run_test
from gradcheck.grading.spec import Spec, load_spec

__all__ = ["grade", "SubmissionResult", "load_spec"]


@dataclass
class SubmissionResult:
    name: str
    tests: list[TestResult] = field(default_factory=list)
    skipped: bool = False           # graded by an earlier run (its results.json was read back)

    @property
    def score(self) -> float:
        return sum(t.score for t in self.tests)

    def results_json(self) -> dict:
        """Gradescope's format: the total and, per test, score, max_score, output and visibility."""
        return {"score": self.score,
                "tests": [{"name": t.name, "score": t.score, "max_score": t.max_score, "output": t.output,
                           "visibility": t.visibility, "status": t.status} for t in self.tests]}


def _unzipped(path: Path, into: Path) -> Path:
    """A zip's members in ``into``, none outside it (a member named ``../x`` or ``/x`` is refused)."""
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            target = (into / member).resolve()
            if not target.is_relative_to(into.resolve()):
                raise ValueError(f"{path.name}: member {member!r} would be written outside the submission")
        archive.extractall(into)
    entries = [p for p in into.iterdir() if p.name != "__MACOSX"]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else into      # one top folder: its contents


def _read_back(folder: Path, name: str) -> SubmissionResult | None:
    path = folder / "results.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    tests = [TestResult(t["name"], t["score"], t["max_score"], t["output"], t["visibility"], t.get("status", ""))
             for t in data["tests"]]
    return SubmissionResult(name, tests, skipped=True)


def grade_one(path: Path, spec: Spec) -> SubmissionResult:
    """Every test of the spec on one submission (a folder or a zip)."""
    name = path.stem if path.suffix == ".zip" else path.name
    if path.suffix == ".zip":
        with tempfile.TemporaryDirectory(prefix="gradcheck-unzip-") as folder:
            try:
                root = _unzipped(path, Path(folder))
            except (ValueError, zipfile.BadZipFile) as exc:
                return SubmissionResult(name, [TestResult(t.name, 0.0, t.points, f"the zip cannot be read: {exc}",
                                                          t.visibility, "error") for t in spec.tests])
            return SubmissionResult(name, [run_test(root, t, spec) for t in spec.tests])
    return SubmissionResult(name, [run_test(path, t, spec) for t in spec.tests])


def write_page(result: SubmissionResult, spec: Spec, path: Path) -> None:
    """The submission's page: each test's report with its pictures (the student sees where a gradient is
    wrong), failures first; a test without a report (an error, an optimizer's steps) as its text."""
    from gradcheck.pictures import write_html

    total = sum(t.points for t in spec.tests)
    items = [(f"{t.name} ({t.score:g} / {t.max_score:g})", t.report if t.report is not None else t)
             for t in result.tests]
    write_html(str(path), items, title=f"{result.name}: {result.score:g} / {total:g}")


def write_csv(results: Sequence[SubmissionResult], spec: Spec, path: Path) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["submission", "score", "max_score", *(t.name for t in spec.tests)])
        total = sum(t.points for t in spec.tests)
        for r in results:
            by_name = {t.name: t.score for t in r.tests}
            writer.writerow([r.name, f"{r.score:g}", f"{total:g}",
                             *(f"{by_name.get(t.name, 0.0):g}" for t in spec.tests)])


def grade(submissions: Sequence[str | Path], spec: Spec | str | Path | None = None, out: str | Path | None = None
          ) -> list[SubmissionResult]:
    """Grade each submission (a folder or a zip) with ``spec`` (a Spec, a TOML path, or None: the course's
    default); with ``out``, write ``out/<name>/results.json`` as each ends and ``out/grades.csv`` at the end,
    and skip submissions whose results.json is already there."""
    spec = spec if isinstance(spec, Spec) else load_spec(spec)
    out = Path(out) if out is not None else None
    results = []
    for submission in map(Path, submissions):
        name = submission.stem if submission.suffix == ".zip" else submission.name
        folder = out / name if out is not None else None
        done = _read_back(folder, name) if folder is not None else None
        if done is not None:
            results.append(done)
            continue
        result = grade_one(submission, spec)
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            write_page(result, spec, folder / "index.html")
            (folder / "results.json.tmp").write_text(json.dumps(result.results_json(), indent=1))
            shutil.move(folder / "results.json.tmp", folder / "results.json")     # whole, or not there
        results.append(result)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_csv(results, spec, out / "grades.csv")
    return results
