"""The ``load`` fixture: each benchmark runs idle and beside a CPU-bound process, in one run.

A layer that waits for BLAS threads for its bookkeeping looks fine on an idle machine and collapses beside a
busy core (20-40x measured). Groups come in pairs, ``<operation>`` and ``<operation>, beside a busy core``,
each with the layer and its bare numpy baseline, so both ratios are read from one run.
"""
import subprocess
import sys
import time

import pytest

BUSY_SUFFIX = ", beside a busy core"


@pytest.fixture(params=["idle", "busy"])
def load(request):
    """'idle', or 'busy': a CPU-bound Python process spins on another core for the whole test."""
    if request.param == "idle":
        yield ""
        return
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.3)                 # let it reach the scheduler's run queue
    try:
        yield BUSY_SUFFIX
    finally:
        spinner.kill()
        spinner.wait()
