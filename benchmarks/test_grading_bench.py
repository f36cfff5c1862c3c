"""Grading throughput: submissions per minute, one after the other, in two worker processes, and on a Dask
LocalCluster of two worker processes, in one group (read the ratios from one run:
``pytest benchmarks/test_grading_bench.py --benchmark-only``).

Each round grades 4 submissions (core's layers written as a student's) with the default spec (the course's
exercises 1-3: 22 tests, each in a process of its own).
"""
import pytest

from gradcheck.grading import grade
from gradcheck.grading.sandbox import _preload
from gradcheck.grading.spec import load_spec

SUBMISSIONS = 4


def _submissions(root):
    _preload()          # the modules a test may import, loaded once before any contender is timed
    spec = load_spec()
    folders = []
    for i in range(SUBMISSIONS):
        folder = root / f"student{i}"
        for module in {t.module for t in spec.tests}:
            path = folder / module
            path.parent.mkdir(parents=True, exist_ok=True)
            classes = sorted({t.cls for t in spec.tests if t.module == module})
            path.write_text(f"from core import {', '.join(classes)}  # noqa: F401\n")
        folders.append(folder)
    return spec, folders


@pytest.mark.parametrize("contender", ["one-by-one", "jobs-2", "cluster-2"])
def test_grading_throughput(benchmark, tmp_path, contender):
    benchmark.group = f"grading {SUBMISSIONS} submissions, the default spec"
    spec, folders = _submissions(tmp_path)
    if contender == "cluster-2":
        distributed = pytest.importorskip("distributed", reason="the cluster contender needs the 'cluster' extra")
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                      silence_logs=40) as cluster:
            results = benchmark.pedantic(grade, args=(folders, spec), kwargs={"scheduler": cluster.scheduler_address},
                                         rounds=1, iterations=1)
        from multiprocessing import resource_tracker

        resource_tracker._resource_tracker._stop()
    else:
        jobs = 2 if contender == "jobs-2" else 1
        results = benchmark.pedantic(grade, args=(folders, spec), kwargs={"jobs": jobs}, rounds=1, iterations=1)
    assert all(r.score == sum(t.points for t in spec.tests) for r in results), [
        [t.output[:200] for t in r.tests if t.score < t.max_score] for r in results]
