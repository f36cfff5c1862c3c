"""Worker processes give the same verdicts as one process, and a layer that cannot be copied to them is checked
here, with a warning."""
import threading

import numpy as np
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
    """A layer with an attribute that cannot be pickled."""

    def __init__(self, *args):
        super().__init__(*args)
        self.lock = threading.Lock()


def test_a_layer_that_cannot_go_to_a_worker_is_checked_here(always_parallel):
    layer = HoldsALock(6, 3, 0)
    report = check_layer(layer, (4, 6), jobs=2)
    assert report.ok
    assert any("checked in this process only" in w for w in report.warnings), report.warnings
    np.testing.assert_array_equal(layer.weights, HoldsALock(6, 3, 0).weights)
