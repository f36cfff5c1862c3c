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


class TanhDense(FullyConnected):
    """tanh(x W + b): the affine layer with curvature, so the +-h look has a gap to judge."""

    def forward(self, input_tensor):
        self._y = np.tanh(super().forward(input_tensor))
        return self._y

    def backward(self, error_tensor):
        return super().backward(error_tensor * (1.0 - self._y ** 2))


# name -> (layer class, n_in, n_out, batch): affine, and the same sizes with curvature
CASES = {"fc-64x32-b16": (FullyConnected, 64, 32, 16), "fc-128x64-b64": (FullyConnected, 128, 64, 64),
         "tanh-fc-64x32-b16": (TanhDense, 64, 32, 16), "tanh-fc-128x64-b64": (TanhDense, 128, 64, 64)}


@functools.lru_cache(maxsize=None)
def _counted(cls, n_in, n_out, batch, mode):
    calls = []

    class Counting(cls):
        def forward(self, input_tensor):
            calls.append(1)
            return super().forward(input_tensor)

    report = check_layer(Counting(n_in, n_out, 0), (batch, n_in), mode=mode)
    return report, len(calls)


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("contender", ["check", "forwards-only", "forwards-all-threads"])
def test_checker(benchmark, case, mode, contender):
    cls, n_in, n_out, batch = CASES[case]
    benchmark.group = f"checker {case} {mode}"
    report, forwards = _counted(cls, n_in, n_out, batch, mode)
    assert report.ok, str(report)
    groups = n_in + (n_in + 1) * n_out            # input columns + weight elements
    if mode == "full":
        # issue 13's goal for affine layers, issue 17's for curved ones: +-h alone settles a curved group when
        # the gap it implies is far below the tolerance; plus the fixed set-up calls
        assert forwards <= 2.5 * groups + 40, (forwards, groups)
    layer = cls(n_in, n_out, 0)
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


@pytest.mark.parametrize("mode", ["fast", "full"])
def test_fast_beside_full_on_a_512_square_layer(benchmark, mode):
    """Fast mode on FullyConnected(512, 512), batch 64, beside full mode in one group (issue 17: fast took 6
    minutes there, 132k forwards). Full mode makes ~526k forwards, minutes on two cores: it runs only when
    benchmarks are timed (``--benchmark-only``); as a test, fast mode's forwards are counted instead."""
    benchmark.group = "checker fc-512x512-b64 fast vs full"
    layer, x = FullyConnected(512, 512, 0), np.random.default_rng(0).standard_normal((64, 512))
    if mode == "full" and benchmark.disabled:
        pytest.skip("full mode on FullyConnected(512, 512) takes minutes; it is timed with --benchmark-only")
    report = benchmark.pedantic(check_layer, args=(layer, x), kwargs={"mode": mode}, rounds=1, iterations=1)
    assert report.ok, str(report)
    if mode == "fast":
        assert sum(t.evaluations for t in report.tensors) < 1000       # 2-4 per direction: 64 + 129 directions
