"""The command against ``check_layer`` on a layer large enough that its check goes to worker processes.

The command adds its start-up (Python, numpy, the checker) and a child process per check; what it must not
add is waiting for processes after the work is done (it waited 300 s a check before). ``check-layer`` is the
baseline: the ratio command / check-layer is the figure. Read it from one run:
``pytest benchmarks --benchmark-only -k command``.
"""
import os
import sys

import pytest

from gradcheck import check_layer
from tests.process_layers import RecordedBiasGradientMean, RecordedFullyConnected

LAYERS = {"correct": RecordedFullyConnected, "wrong bias gradient": RecordedBiasGradientMean}


@pytest.mark.parametrize("layer", list(LAYERS))
@pytest.mark.parametrize("contender", ["check-layer", "command"])
def test_command_against_check_layer(benchmark, processes, load, layer, contender):
    benchmark.group = f"command vs check_layer, FullyConnected(160, 160) batch 32, {layer}{load}"
    cls = LAYERS[layer]
    argv = [sys.executable, "-m", "gradcheck", f"tests.process_layers:{cls.__name__}", "--args", "160", "160",
            "--batch", "32"]
    env = {k: v for k, v in os.environ.items() if k != "GRADCHECK_PID_LOG"}

    def command() -> int:
        return processes.run(argv, timeout=600, env=env).returncode

    def in_python() -> int:
        return 0 if check_layer(cls(160, 160), (32, 160)).ok else 1

    code = benchmark.pedantic(command if contender == "command" else in_python, rounds=3, iterations=1)
    assert code == (0 if layer == "correct" else 1)
