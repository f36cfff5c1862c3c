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
from tests.broken_layers import MeanInsteadOfSum, SlowFullyConnected  # noqa: E402

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as local:
        yield local


def _verdicts(report):
    return [(t.name, t.checked, t.failed, t.kinks, [w.index for w in t.worst], round(t.max_rel_error, 9))
            for t in report.tensors], report.ok, report.problems


@pytest.mark.parametrize("factory", [lambda: FullyConnected(24, 12, 0), lambda: MeanInsteadOfSum(24, 12, 0)])
def test_a_cluster_run_gives_the_local_report(cluster, factory):
    local = check_layer(factory(), (8, 24), jobs=1)
    remote = check_layer(factory(), (8, 24), scheduler=cluster.scheduler_address)
    assert _verdicts(remote) == _verdicts(local)
    assert not any("checked in this process only" in w for w in remote.warnings), remote.warnings


def test_a_worker_killed_midway_is_survived(cluster):
    local = check_layer(SlowFullyConnected(), (6, 12), jobs=1)
    client = distributed.Client(cluster.scheduler_address, set_as_default=False)
    victim = sorted(client.scheduler_info()["workers"])[0]
    pid = client.run(os.getpid, workers=[victim])[victim]
    done = {}

    def check():
        done["report"] = check_layer(SlowFullyConnected(), (6, 12), scheduler=client)
        done["at"] = time.perf_counter()
    worker = threading.Thread(target=check)
    start = time.perf_counter()
    worker.start()
    time.sleep(1.0)
    os.kill(pid, signal.SIGKILL)                # its nanny starts a new one; its chunks are run again
    worker.join(timeout=120)
    client.close()
    assert "report" in done, "the check did not finish"
    assert done["at"] - start > 1.0, "the check ended before the worker was killed: nothing was tested"
    assert _verdicts(done["report"]) == _verdicts(local)
