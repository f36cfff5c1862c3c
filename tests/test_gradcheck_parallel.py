"""Worker processes give the same verdicts as one process, and a layer that cannot be copied to them is checked
here, with a warning."""
import os
import threading

import numpy as np
import psutil
import pytest

import gradcheck.parallel
from core import FullyConnected
from gradcheck import check_layer
from tests.broken_layers import SingleWrongElement


@pytest.fixture
def always_parallel(monkeypatch):
    monkeypatch.setattr(gradcheck.parallel, "PARALLEL_MIN_SECONDS", 0.0)


def test_workers_agree_with_one_process(always_parallel):
    here = check_layer(FullyConnected(12, 6, 0), (8, 12), jobs=1)
    spread = check_layer(FullyConnected(12, 6, 0), (8, 12), jobs=2)
    assert here.ok and spread.ok and not spread.warnings
    for a, b in zip(here.tensors, spread.tensors):
        assert (a.name, a.checked, a.failed) == (b.name, b.checked, b.failed)
        # the same perturbations; each of the 4 * jobs chunks also reads the base point once
        assert a.evaluations <= b.evaluations <= a.evaluations + 4 * 2 - 1
        assert a.max_abs_error == pytest.approx(b.max_abs_error, rel=1e-6, abs=1e-15)
    wrong = check_layer(SingleWrongElement(12, 6, 0), (8, 12), jobs=2)
    assert [t.name for t in wrong.tensors if not t.ok] == ["weights"]
    assert wrong.tensors[1].worst[0].index == (1, 0)


class HoldsALock(FullyConnected):
    """A layer with an attribute that cannot be pickled, recording the processes its forward ran in."""

    def __init__(self, *args):
        super().__init__(*args)
        self.lock = threading.Lock()

    def forward(self, input_tensor):
        with open(self.log, "a") as log:
            log.write(f"{os.getpid()}\n")
        return super().forward(input_tensor)


def test_a_layer_that_does_not_pickle_is_checked_in_the_workers(always_parallel, tmp_path):
    """Workers are forked copies of the check: nothing of the layer is pickled; they end with their pass."""
    layer = HoldsALock(6, 3, 0)
    layer.log = tmp_path / "pids"
    report = check_layer(layer, (4, 6), jobs=2)
    assert report.ok and not report.warnings, report.warnings
    workers = {int(pid) for pid in layer.log.read_text().split()} - {os.getpid()}
    assert len(workers) >= 2                    # a pool of 2 for each pass that went to workers
    assert not [pid for pid in workers if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    np.testing.assert_array_equal(layer.weights, HoldsALock(6, 3, 0).weights)


class DiesInAWorker(FullyConnected):
    """A correct FullyConnected whose forward ends any process but the one that built it (exit code 3)."""

    def __init__(self, *args):
        super().__init__(*args)
        self.home = os.getpid()

    def forward(self, input_tensor):
        if os.getpid() != self.home:
            os._exit(3)
        return super().forward(input_tensor)


def test_a_worker_that_dies_sends_the_pass_back_here_with_a_warning(always_parallel):
    report = check_layer(DiesInAWorker(6, 3, 0), (4, 6), jobs=2)
    assert report.ok and all(t.checked == np.prod(t.shape) for t in report.tensors), report
    assert any("checked in this process only" in w and "a worker process died (exit code 3)" in w
               for w in report.warnings), report.warnings
