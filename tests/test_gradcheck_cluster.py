"""Full passes on a Dask cluster: a LocalCluster of worker processes on this machine gives the same report as
the local run, and survives a worker killed in the middle of a check."""
import os
import signal
import threading
import time

import pytest

distributed = pytest.importorskip("distributed", reason="the cluster tests need the 'cluster' extra (distributed)")

from core import FullyConnected  # noqa: E402
from gradcheck import check_layer  # noqa: E402
from gradcheck.parallel import ClusterFailed  # noqa: E402
from tests.broken_layers import MeanInsteadOfSum, SlowFullyConnected  # noqa: E402

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as local:
        yield local
    # the workers were spawned, which started multiprocessing's resource tracker for this process: it goes with
    # the cluster (it would only go at this process's exit, after the run's check for processes left running)
    from multiprocessing import resource_tracker

    resource_tracker._resource_tracker._stop()


def _verdicts(report):
    return [(t.name, t.checked, t.failed, t.kinks, [w.index for w in t.worst], round(t.max_rel_error, 9))
            for t in report.tensors], report.ok, report.problems


@pytest.mark.parametrize("factory", [lambda: FullyConnected(24, 12, 0), lambda: MeanInsteadOfSum(24, 12, 0)])
def test_a_cluster_run_gives_the_local_report(cluster, factory):
    local = check_layer(factory(), (8, 24), jobs=1)
    remote = check_layer(factory(), (8, 24), scheduler=cluster.scheduler_address)
    assert _verdicts(remote) == _verdicts(local)
    assert not any("checked in this process only" in w for w in remote.warnings), remote.warnings


def test_a_worker_killed_midway_is_survived_and_reported(cluster):
    """The victim is killed while the scheduler has chunks of the check on it: they are run again elsewhere,
    the verdict is the local one, and the report says that work was redone."""
    local = check_layer(SlowFullyConnected(), (6, 12), jobs=1)
    client = distributed.Client(cluster.scheduler_address, set_as_default=False)
    victim = sorted(client.scheduler_info()["workers"])[0]
    pid = client.run(os.getpid, workers=[victim])[victim]
    done = {}

    def check():
        done["report"] = check_layer(SlowFullyConnected(), (6, 12), scheduler=client)
    worker = threading.Thread(target=check)
    worker.start()
    deadline = time.monotonic() + 60
    while not client.processing(workers=[victim]).get(victim) and time.monotonic() < deadline and worker.is_alive():
        time.sleep(0.005)
    busy = bool(client.processing(workers=[victim]).get(victim))
    os.kill(pid, signal.SIGKILL)                # its nanny starts a new one; its chunks are run again
    worker.join(timeout=120)
    client.close()
    assert busy, "the victim never had work of the check: nothing was tested"
    assert "report" in done, "the check did not finish"
    assert _verdicts(done["report"]) == _verdicts(local)
    assert any("the cluster lost a worker during the check" in w for w in done["report"].warnings), \
        done["report"].warnings


def test_workers_that_cannot_import_the_layer_say_so_at_once(cluster, tmp_path, monkeypatch):
    """A module only this process can import (its folder added after the workers started): the check ends at
    once with one line saying what the workers need, not at its time limit."""
    (tmp_path / "only_here.py").write_text(
        "from tests.broken_layers import SlowFullyConnected\n\n\nclass Local(SlowFullyConnected):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from only_here import Local

    for limit in ({}, {"timeout": 60}):                 # here, and in a child process of its own
        start = time.perf_counter()
        with pytest.raises(ClusterFailed, match="No module named 'only_here'; they need the layer's module"):
            check_layer(Local(), (6, 12), scheduler=cluster.scheduler_address, **limit)
        assert time.perf_counter() - start < 20
