"""The checker against the forwards it cannot avoid: the same number of bare forward calls is the baseline.

``forwards-only`` calls the layer's forward as many times as the check did (counted), on the same input, with
nothing else, and as the check runs them: with BLAS on one thread. The ratio check / forwards-only is the
checker's own overhead. ``forwards-all-threads`` runs the same forwards with BLAS's default threads: on an idle
machine they can be faster (two threads help a 64x128 @ 128x64 product a little), under load much slower, and
from run to run they varied between 0.3 and 0.5 s here, which is why the check keeps to one thread. Read it
from one run: ``pytest benchmarks --benchmark-only -k checker``.
"""
import functools

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from core import FullyConnected
from gradcheck import check_layer

CASES = {"fc-64x32-b16": (64, 32, 16), "fc-128x64-b64": (128, 64, 64)}


@functools.lru_cache(maxsize=None)
def _counted(n_in, n_out, batch, mode):
    calls = []

    class Counting(FullyConnected):
        def forward(self, input_tensor):
            calls.append(1)
            return super().forward(input_tensor)

    report = check_layer(Counting(n_in, n_out, 0), (batch, n_in), mode=mode)
    return report, len(calls)


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("contender", ["check", "forwards-only", "forwards-all-threads"])
def test_checker(benchmark, case, mode, contender):
    n_in, n_out, batch = CASES[case]
    benchmark.group = f"checker {case} {mode}"
    report, forwards = _counted(n_in, n_out, batch, mode)
    assert report.ok, str(report)
    groups = n_in + (n_in + 1) * n_out            # input columns + weight elements
    if mode == "full":
        assert forwards <= 2.5 * groups + 40       # the goal of issue 13, with the fixed set-up calls
    layer = FullyConnected(n_in, n_out, 0)
    x = np.random.default_rng(0).standard_normal((batch, n_in))
    if contender == "check":
        result = benchmark.pedantic(check_layer, args=(layer, x), kwargs={"mode": mode}, rounds=3, iterations=1)
        assert result.ok
    else:
        def forwards_only():
            for _ in range(forwards):
                layer.forward(x)
        if contender == "forwards-only":
            with threadpool_limits(1):
                benchmark.pedantic(forwards_only, rounds=3, iterations=1)
        else:
            benchmark.pedantic(forwards_only, rounds=3, iterations=1)
