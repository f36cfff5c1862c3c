"""Grade many submissions of the course's layers: each test of each submission in isolation (see
:mod:`gradcheck.grading.sandbox`), scored, written as Gradescope's ``results.json`` per submission and one
``grades.csv`` for all, and a page per submission (``index.html``: each test's report and pictures).

    from gradcheck.grading import grade
    results = grade(["submissions/alice", "submissions/bob.zip"], out="graded")

A run started again with the same ``out`` skips the submissions that already have their results.json.
"""
from __future__ import annotations

import concurrent.futures
import csv
import json
import multiprocessing
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
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


def write_summary(results: Sequence[SubmissionResult], spec: Spec, path: Path) -> None:
    """The course's page: the score distribution (a row per tenth of the points), the tests by how many
    submissions lost them, and every submission with its score, linked to its page."""
    import html

    total = sum(t.points for t in spec.tests) or 1.0
    bins = [0] * 10
    for r in results:
        bins[min(9, int(10 * r.score / total))] += 1
    most = max(bins) or 1
    rows = "".join(f"<tr><td>{10 * i}-{10 * i + 10} %</td><td>{n}</td>"
                   f"<td><div style='background:#4a7;height:0.9em;width:{200 * n / most:.0f}px'></div></td></tr>"
                   for i, n in enumerate(bins))
    lost = {t.name: sum(1 for r in results for u in r.tests if u.name == t.name and u.score < u.max_score)
            for t in spec.tests}
    tests = "".join(f"<tr><td>{html.escape(name)}</td><td>{n} of {len(results)}</td></tr>"
                    for name, n in sorted(lost.items(), key=lambda kv: -kv[1]))
    people = "".join(f"<tr><td><a href='{html.escape(r.name)}/index.html'>{html.escape(r.name)}</a></td>"
                     f"<td>{r.score:g} / {total:g}</td></tr>" for r in sorted(results, key=lambda r: r.name))
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>grades</title></head><body>"
            f"<h1>{len(results)} submission(s), mean {sum(r.score for r in results) / max(len(results), 1):.3g} "
            f"/ {total:g}</h1><h2>Scores</h2><table>{rows}</table><h2>Tests lost most</h2><table>{tests}</table>"
            f"<h2>Submissions</h2><table>{people}</table></body></html>")
    path.write_text(page, encoding="utf-8")


def write_csv(results: Sequence[SubmissionResult], spec: Spec, path: Path) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["submission", "score", "max_score", *(t.name for t in spec.tests)])
        total = sum(t.points for t in spec.tests)
        for r in results:
            by_name = {t.name: t.score for t in r.tests}
            writer.writerow([r.name, f"{r.score:g}", f"{total:g}",
                             *(f"{by_name.get(t.name, 0.0):g}" for t in spec.tests)])


def _grade_on_a_worker(path: Path, spec: Spec) -> SubmissionResult:
    """grade_one on a Dask worker, whose process is daemonic: multiprocessing lets no daemonic process start
    children, and each test needs one (it is ended, with its group, before the test returns)."""
    process = multiprocessing.current_process()
    daemon = process._config.get("daemon")
    process._config["daemon"] = False
    try:
        return grade_one(path, spec)
    finally:
        process._config["daemon"] = daemon


def _results(todo: list[Path], spec: Spec, jobs: int, scheduler: object | None) -> Iterator[SubmissionResult]:
    """Each submission's result as it ends: here one after the other, in ``jobs`` forked worker processes, or on
    the workers of a Dask scheduler (each test still in a process of its own, on whichever machine)."""
    if scheduler is not None:
        from distributed import Client, as_completed

        client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
        try:
            futures = client.map(_grade_on_a_worker, todo, spec=spec, pure=False)
            for future in as_completed(futures):
                yield future.result()
        finally:
            if client is not scheduler:
                client.close()
        return
    if jobs <= 1 or len(todo) <= 1:
        for path in todo:
            yield grade_one(path, spec)
        return
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        futures = [pool.submit(grade_one, path, spec) for path in todo]
        try:
            for future in concurrent.futures.as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def _progress(done: int, total: int, start: float, name: str) -> None:
    elapsed = time.monotonic() - start
    left = elapsed / done * (total - done) if done else 0.0
    print(f"graded {done}/{total} ({name}); {elapsed:.0f} s so far, about {left:.0f} s to go", file=sys.stderr)


def grade(submissions: Sequence[str | Path], spec: Spec | str | Path | None = None, out: str | Path | None = None,
          *, jobs: int = 1, scheduler: object | None = None, progress: bool = False) -> list[SubmissionResult]:
    """Grade each submission (a folder or a zip) with ``spec`` (a Spec, a TOML path, or None: the course's
    default); with ``out``, write ``out/<name>/results.json`` and the student's page as each ends and
    ``out/grades.csv`` and the course's page at the end, and skip submissions whose results.json is already
    there. ``jobs``: submissions graded at once in forked worker processes; ``scheduler``: a Dask scheduler's
    address (or a Client) whose workers grade them (the ``cluster`` extra); ``progress``: a line on stderr as
    each ends, with an estimated finish. Results are in the order of ``submissions``."""
    spec = spec if isinstance(spec, Spec) else load_spec(spec)
    out = Path(out) if out is not None else None
    paths = list(map(Path, submissions))
    names = [p.stem if p.suffix == ".zip" else p.name for p in paths]
    by_name: dict[str, SubmissionResult] = {}
    for name in names:
        done = _read_back(out / name, name) if out is not None else None
        if done is not None:
            by_name[name] = done
    todo = [p for p, n in zip(paths, names) if n not in by_name]
    start = time.monotonic()
    for count, result in enumerate(_results(todo, spec, jobs, scheduler), 1):
        if out is not None:
            folder = out / result.name
            folder.mkdir(parents=True, exist_ok=True)
            write_page(result, spec, folder / "index.html")
            (folder / "results.json.tmp").write_text(json.dumps(result.results_json(), indent=1))
            shutil.move(folder / "results.json.tmp", folder / "results.json")     # whole, or not there
        by_name[result.name] = result
        if progress:
            _progress(count, len(todo), start, result.name)
    results = [by_name[n] for n in names]
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_csv(results, spec, out / "grades.csv")
        write_summary(results, spec, out / "index.html")
    return results
