"""Layers for the tests of what a check does with processes: correct layers that say which processes ran
them, start a process of their own, or allocate far more memory than their input suggests."""
from __future__ import annotations

import os
import subprocess

import numpy as np

from core import FullyConnected
from tests.broken_layers import BiasGradientMean


class _Records:
    """Appends the pid of every process that runs forward to the file ``GRADCHECK_PID_LOG`` names, once per
    process (a forked worker inherits the set of pids already written, so it writes only its own)."""

    _written: set[int] = set()

    def forward(self, input_tensor):
        if os.getpid() not in _Records._written and os.environ.get("GRADCHECK_PID_LOG"):
            _Records._written.add(os.getpid())
            with open(os.environ["GRADCHECK_PID_LOG"], "a") as log:
                log.write(f"{os.getpid()}\n")
        return super().forward(input_tensor)


class RecordedFullyConnected(_Records, FullyConnected):
    """core's FullyConnected, recording the processes that ran it."""


class RecordedBiasGradientMean(_Records, BiasGradientMean):
    """FullyConnected with the bias gradient averaged over the batch instead of summed, recorded."""


class StartsAProcess:
    """2x, correct; the first forward of each copy starts ``sleep 600`` and writes that process's pid to
    ``GRADCHECK_PID_LOG``. A check of it must still end when its work ends, and take the process with it."""

    def __init__(self) -> None:
        self.started = False

    def forward(self, input_tensor):
        if not self.started:
            self.started = True
            child = subprocess.Popen(["sleep", "600"])
            with open(os.environ["GRADCHECK_PID_LOG"], "a") as log:
                log.write(f"{child.pid}\n")
        return 2 * input_tensor

    def backward(self, error_tensor):
        return 2 * error_tensor


class AllocatesGiB:
    """2x, correct, but its forward builds a temporary of ``gib`` GiB (4 bytes a zero) on the way."""

    def __init__(self, gib: float = 3.2) -> None:
        self.gib = gib

    def forward(self, input_tensor):
        scratch = np.zeros(int(self.gib * 2 ** 30 / 4), dtype=np.float32)
        return 2 * input_tensor + scratch[:1]

    def backward(self, error_tensor):
        return 2 * error_tensor
