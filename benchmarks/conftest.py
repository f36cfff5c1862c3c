"""The ``load`` fixture: each benchmark runs idle and beside a CPU-bound process, in one run.

A layer that waits for BLAS threads for its bookkeeping looks fine on an idle machine and collapses beside a
busy core (20-40x measured). Groups come in pairs, ``<operation>`` and ``<operation>, beside a busy core``,
each with the layer and its bare numpy baseline, so both ratios are read from one run.
"""
import sys
import time

import pytest

BUSY_SUFFIX = ", beside a busy core"


@pytest.fixture(params=["idle", "busy"])
def load(request, processes):
    """'idle', or 'busy': a CPU-bound Python process spins on another core for the whole test (started by the
    root conftest's ``processes``, which kills it when the test ends)."""
    if request.param == "idle":
        return ""
    processes.start([sys.executable, "-c", "while True: pass"], stdout=None, stderr=None)
    time.sleep(0.3)                 # let it reach the scheduler's run queue
    return BUSY_SUFFIX
